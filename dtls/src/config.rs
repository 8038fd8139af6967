//! Configuration, and the OpenSSL context shared by every connection built from it.

use std::time::Duration;

use openssl::ssl::{
    AlpnError, SslContext, SslContextBuilder, SslMethod, SslOptions, SslSessionCacheMode,
    SslVerifyMode, SslVersion,
};

use crate::{Certificate, Error, SrtpProfile};

/// The largest datagram we send (RFC 8261 §5 and common WebRTC practice: 1200 bytes fit any
/// path, including TURN over TCP and IPv6 tunnels).
pub const DEFAULT_MTU: usize = 1200;
/// The smallest MTU accepted: below it a certificate flight needs too many fragments.
pub const MIN_MTU: usize = 256;

/// The longest handshake deadline or retransmission timeout accepted. OpenSSL's own timer is
/// parked an hour ahead (see the crate documentation), so every deadline of ours must come
/// well before that.
const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// Cipher suites in our order of preference: ECDHE with ECDSA (our certificate, and what
/// browsers generate) and AEAD ciphers only; ECDHE-RSA after them so that, as a client, we
/// still reach a peer with an RSA certificate.
const CIPHER_LIST: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:\
                           ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:\
                           ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384";
/// Key-exchange groups (RFC 8422 §5.1.1 supported_groups).
const GROUPS: &str = "X25519:P-256";

/// What every connection of a [`DtlsContext`] uses.
#[derive(Clone, Debug)]
pub struct DtlsConfig {
    /// Our identity; its fingerprint goes in our SDP.
    pub certificate: Certificate,
    /// DTLS-SRTP profiles to offer (as client) or accept (as server), in order of preference.
    /// A server picks the first of these that the client offers, whatever the client's order.
    pub srtp_profiles: Vec<SrtpProfile>,
    /// Largest datagram we send, at most [`DEFAULT_MTU`]; handshake messages are fragmented
    /// to fit (RFC 6347 §4.1.1).
    pub mtu: usize,
    /// A handshake not finished this long after [`Dtls::new`](crate::Dtls::new) fails with
    /// [`Error::HandshakeTimeout`].
    pub handshake_timeout: Duration,
    /// First retransmission timeout of a flight (RFC 6347 §4.2.4.1: 1 s).
    pub initial_retransmit_timeout: Duration,
    /// Cap of the doubling retransmission timeout (RFC 6347 §4.2.4.1: at least 60 s).
    pub max_retransmit_timeout: Duration,
    /// Fail a handshake that did not negotiate the extended master secret (RFC 7627). Every
    /// browser supports it; it binds the SRTP keys to this very handshake.
    pub require_extended_master_secret: bool,
    /// ALPN protocol ids (RFC 7301) in order of preference, for example `b"webrtc"`
    /// (RFC 8833). A client offers them; a server selects its first one the client offers
    /// and ignores ALPN when the list is empty (the default).
    pub alpn_protocols: Vec<Vec<u8>>,
}

impl DtlsConfig {
    /// The defaults: all three SRTP profiles with AES-GCM preferred, 1200-byte MTU, 30 s
    /// handshake deadline, 1 s initial retransmission timeout capped at 60 s, extended master
    /// secret required, no ALPN.
    pub fn new(certificate: Certificate) -> DtlsConfig {
        DtlsConfig {
            certificate,
            srtp_profiles: SrtpProfile::DEFAULT_PREFERENCE.to_vec(),
            mtu: DEFAULT_MTU,
            handshake_timeout: Duration::from_secs(30),
            initial_retransmit_timeout: Duration::from_secs(1),
            max_retransmit_timeout: Duration::from_secs(60),
            require_extended_master_secret: true,
            alpn_protocols: Vec::new(),
        }
    }

    fn validate(&self) -> Result<(), Error> {
        if self.srtp_profiles.is_empty() {
            return Err(Error::InvalidConfig("at least one SRTP profile is needed"));
        }
        for (i, profile) in self.srtp_profiles.iter().enumerate() {
            if profile.openssl_name().is_none() {
                return Err(Error::InvalidConfig("unsupported SRTP profile"));
            }
            if self.srtp_profiles[..i].contains(profile) {
                return Err(Error::InvalidConfig("SRTP profile listed twice"));
            }
        }
        if !(MIN_MTU..=DEFAULT_MTU).contains(&self.mtu) {
            return Err(Error::InvalidConfig("MTU must be within 256..=1200"));
        }
        if self.handshake_timeout.is_zero() || self.handshake_timeout > MAX_TIMEOUT {
            return Err(Error::InvalidConfig("handshake timeout must be within (0, 600 s]"));
        }
        if self.initial_retransmit_timeout.is_zero()
            || self.max_retransmit_timeout < self.initial_retransmit_timeout
            || self.max_retransmit_timeout > MAX_TIMEOUT
        {
            return Err(Error::InvalidConfig(
                "retransmit timeouts must be positive, the cap at least the initial value and \
                 at most 600 s",
            ));
        }
        if self.alpn_protocols.iter().any(|p| p.is_empty() || p.len() > 255) {
            return Err(Error::InvalidConfig("ALPN ids are 1 to 255 bytes (RFC 7301 §3.1)"));
        }
        Ok(())
    }
}

/// A validated [`DtlsConfig`] with its OpenSSL context, shared by many connections. Cheap to
/// clone.
#[derive(Clone)]
pub struct DtlsContext {
    ssl: SslContext,
    config: DtlsConfig,
}

impl DtlsContext {
    /// Checks the configuration and builds the OpenSSL context: DTLS 1.2 only, our
    /// certificate, the cipher suites and groups above, use_srtp with the configured
    /// profiles, no session resumption, no renegotiation, MTU fixed by us, peer certificate
    /// required in both roles.
    pub fn new(config: DtlsConfig) -> Result<DtlsContext, Error> {
        config.validate()?;
        let mut b = SslContextBuilder::new(SslMethod::dtls())
            .map_err(Error::openssl("create a context"))?;
        b.set_min_proto_version(Some(SslVersion::DTLS1_2))
            .and_then(|()| b.set_max_proto_version(Some(SslVersion::DTLS1_2)))
            .map_err(Error::openssl("restrict the context to DTLS 1.2"))?;
        b.set_certificate(config.certificate.x509())
            .and_then(|()| b.set_private_key(config.certificate.key()))
            .and_then(|()| b.check_private_key())
            .map_err(Error::openssl("install the certificate"))?;
        b.set_cipher_list(CIPHER_LIST).map_err(Error::openssl("set the cipher suites"))?;
        b.set_groups_list(GROUPS).map_err(Error::openssl("set the key-exchange groups"))?;
        let profiles: Vec<&str> =
            config.srtp_profiles.iter().filter_map(|p| p.openssl_name()).collect();
        b.set_tlsext_use_srtp(&profiles.join(":"))
            .map_err(Error::openssl("set the DTLS-SRTP profiles"))?;
        // NO_QUERY_MTU: the MTU is ours (SSL_set_mtu), never probed from a socket.
        // NO_RENEGOTIATION: RFC 8827 leaves no use for it; a ClientHello after the
        // handshake is refused.
        // CIPHER_SERVER_PREFERENCE: as a server, our order above wins.
        b.set_options(
            SslOptions::NO_QUERY_MTU
                | SslOptions::NO_RENEGOTIATION
                | SslOptions::CIPHER_SERVER_PREFERENCE
                | SslOptions::NO_TICKET
                | SslOptions::NO_COMPRESSION,
        );
        b.set_session_cache_mode(SslSessionCacheMode::OFF);
        // Replaced per connection by a callback that checks the SDP fingerprint.
        b.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
        if !config.alpn_protocols.is_empty() {
            let mut wire = Vec::new();
            for id in &config.alpn_protocols {
                wire.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
                wire.extend_from_slice(id);
            }
            b.set_alpn_protos(&wire).map_err(Error::openssl("set the ALPN protocols"))?;
            let ours = config.alpn_protocols.clone();
            b.set_alpn_select_callback(move |_, client| {
                select_alpn(&ours, client).ok_or(AlpnError::NOACK)
            });
        }
        Ok(DtlsContext { ssl: b.build(), config })
    }

    /// The configuration this context was built from.
    pub fn config(&self) -> &DtlsConfig {
        &self.config
    }

    pub(crate) fn ssl_context(&self) -> &SslContext {
        &self.ssl
    }
}

impl std::fmt::Debug for DtlsContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtlsContext").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Our first protocol that the client's ALPN list (RFC 7301 §3.1 wire form) contains, as a
/// slice of that list.
fn select_alpn<'a>(ours: &[Vec<u8>], client: &'a [u8]) -> Option<&'a [u8]> {
    let mut offered = Vec::new();
    let mut rest = client;
    while let Some((&len, tail)) = rest.split_first() {
        let (id, tail) = tail.split_at_checked(usize::from(len))?;
        offered.push(id);
        rest = tail;
    }
    ours.iter().find_map(|want| offered.iter().copied().find(|id| *id == want.as_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> DtlsConfig {
        DtlsConfig::new(Certificate::generate().unwrap())
    }

    #[test]
    fn defaults_build() {
        let ctx = DtlsContext::new(config()).unwrap();
        assert_eq!(ctx.config().mtu, 1200);
        assert_eq!(ctx.config().srtp_profiles[0], SrtpProfile::AEAD_AES_128_GCM);
    }

    #[test]
    fn rejects_bad_values() {
        let cases: [fn(&mut DtlsConfig); 9] = [
            |c| c.handshake_timeout = Duration::from_secs(601),
            |c| c.max_retransmit_timeout = Duration::MAX,
            |c| c.srtp_profiles.clear(),
            |c| c.srtp_profiles.push(SrtpProfile(0x0005)),
            |c| c.srtp_profiles.push(SrtpProfile::AEAD_AES_128_GCM),
            |c| c.mtu = 1500,
            |c| c.mtu = 100,
            |c| c.handshake_timeout = Duration::ZERO,
            |c| c.max_retransmit_timeout = Duration::from_millis(10),
        ];
        for (i, edit) in cases.iter().enumerate() {
            let mut c = config();
            edit(&mut c);
            assert!(
                matches!(DtlsContext::new(c), Err(Error::InvalidConfig(_))),
                "case {i} accepted"
            );
        }
    }

    #[test]
    fn alpn_selection_follows_our_order() {
        let ours = vec![b"webrtc".to_vec(), b"c-webrtc".to_vec()];
        let client = b"\x02h2\x08c-webrtc\x06webrtc";
        assert_eq!(select_alpn(&ours, client), Some(&b"webrtc"[..]));
        assert_eq!(select_alpn(&ours, b"\x02h2"), None);
        assert_eq!(select_alpn(&ours, b"\x09webrtc"), None, "truncated list");
    }
}
