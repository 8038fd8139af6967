//! The SRTP/SRTCP cryptographic context of one direction of a session (RFC 3711 §3.2).

use core::fmt;
use std::collections::hash_map::Entry;

use tracing::debug;

use crate::aead::{self, AesGcm};
use crate::aes_cm::AesCm;
use crate::error::{Error, Result};
use crate::header::{self, RTCP_HEADER_LEN, RTP_FIXED_HEADER_LEN};
use crate::kdf::{Kdf, SessionKeys};
use crate::profile::{ProtectionProfile, SRTCP_INDEX_LEN};
use crate::stream::{SrtcpStream, SrtpStream, SsrcMap};

/// Longest packet accepted, protected or unprotected: the largest UDP payload. Longer input
/// cannot have come off a socket and is refused as malformed.
pub const MAX_PACKET_LEN: usize = 65_535;

/// Widest replay window [`Config::replay_window`] accepts.
pub const MAX_REPLAY_WINDOW: u32 = 32_768;

/// The E flag of the SRTCP index word (RFC 3711 §3.4).
const SRTCP_E_FLAG: u32 = 0x8000_0000;

/// Tunables of a [`Context`].
///
/// ```
/// let mut config = srtp::Config::default();
/// config.replay_window = 1024;
/// config.max_ssrcs = 64;
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Width of the replay window per SSRC, in packets (RFC 3711 §3.3.2): a packet whose index
    /// is this far or farther below the highest one received is refused as too old. Rounded
    /// up to a multiple of 64; at least 64 (the RFC's minimum), at most
    /// [`MAX_REPLAY_WINDOW`]. Default 128.
    pub replay_window: u32,
    /// Most SSRCs tracked for SRTP, and separately for SRTCP. A packet of a new SSRC beyond
    /// this is refused with [`Error::TooManySsrcs`]; [`Context::remove_ssrc`] frees a slot.
    /// Default 256.
    pub max_ssrcs: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config { replay_window: 128, max_ssrcs: 256 }
    }
}

impl Config {
    fn window_words(&self) -> Result<usize> {
        if self.replay_window < 64 {
            return Err(Error::InvalidConfig("replay window narrower than 64 packets"));
        }
        if self.replay_window > MAX_REPLAY_WINDOW {
            return Err(Error::InvalidConfig("replay window wider than MAX_REPLAY_WINDOW"));
        }
        if self.max_ssrcs == 0 {
            return Err(Error::InvalidConfig("max_ssrcs must be at least 1"));
        }
        Ok(self.replay_window.div_ceil(64) as usize)
    }
}

/// The DTLS-SRTP keying material of a session, split into its four parts (RFC 5764 §4.2):
/// `client_write_SRTP_master_key[key_len] || server_write_SRTP_master_key[key_len] ||
/// client_write_SRTP_master_salt[salt_len] || server_write_SRTP_master_salt[salt_len]`.
#[derive(Clone, Copy)]
pub struct DtlsSrtpKeys<'a> {
    /// The master key the DTLS client protects with.
    pub client_master_key: &'a [u8],
    /// The master key the DTLS server protects with.
    pub server_master_key: &'a [u8],
    /// The master salt the DTLS client protects with.
    pub client_master_salt: &'a [u8],
    /// The master salt the DTLS server protects with.
    pub server_master_salt: &'a [u8],
}

impl<'a> DtlsSrtpKeys<'a> {
    /// Splits exported keying material of exactly
    /// [`ProtectionProfile::keying_material_len`] bytes, exported with the label
    /// `EXTRACTOR-dtls_srtp` (RFC 5764 §4.2).
    pub fn split(profile: ProtectionProfile, material: &'a [u8]) -> Result<Self> {
        if material.len() != profile.keying_material_len() {
            return Err(Error::InvalidKey("keying material length does not match the profile"));
        }
        let (keys, salts) = material.split_at(2 * profile.master_key_len());
        let (client_master_key, server_master_key) = keys.split_at(profile.master_key_len());
        let (client_master_salt, server_master_salt) = salts.split_at(profile.master_salt_len());
        Ok(DtlsSrtpKeys {
            client_master_key,
            server_master_key,
            client_master_salt,
            server_master_salt,
        })
    }
}

impl fmt::Debug for DtlsSrtpKeys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DtlsSrtpKeys").finish_non_exhaustive()
    }
}

/// The cipher and authentication of one of SRTP or SRTCP, keyed with its session keys.
enum Transform {
    AesCm(AesCm),
    AesGcm(AesGcm),
}

impl Transform {
    fn new(profile: ProtectionProfile, keys: &SessionKeys, tag_len: usize) -> Result<Self> {
        if profile.is_aead() {
            Ok(Transform::AesGcm(AesGcm::new(&keys.encryption_key, &keys.salt)?))
        } else {
            Ok(Transform::AesCm(AesCm::new(
                &keys.encryption_key,
                &keys.salt,
                &keys.auth_key,
                tag_len,
            )?))
        }
    }
}

/// The SRTP and SRTCP state of one direction of a session: session keys derived from one
/// master key and salt, and per-SSRC rollover counters, replay windows and SRTCP indices.
///
/// Use one context to [protect](Context::protect_rtp) what we send and another, made from the
/// peer's master key, to [unprotect](Context::unprotect_rtp) what we receive. A context
/// creates the state of an SSRC the first time it protects a packet of it, or the first time a
/// packet of it authenticates, up to [`Config::max_ssrcs`].
///
/// All calls work in place in the caller's buffer and allocate nothing, except the first
/// packet of a new SSRC (its map entry and replay window).
///
/// Protecting a packet whose SSRC and sequence number (SRTP index) were already protected
/// reuses the keystream and IV of the earlier packet: that is harmless only when the packet is
/// byte-for-byte the same (a retransmission). Retransmissions with new content must use new
/// sequence numbers (for example an RTX stream, RFC 4588).
pub struct Context {
    profile: ProtectionProfile,
    config: Config,
    window_words: usize,
    rtp: Transform,
    rtcp: Transform,
    rtp_streams: SsrcMap<SrtpStream>,
    rtcp_streams: SsrcMap<SrtcpStream>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("profile", &self.profile)
            .field("config", &self.config)
            .field("rtp_ssrcs", &self.rtp_streams.len())
            .field("rtcp_ssrcs", &self.rtcp_streams.len())
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context with the default [`Config`], deriving its session keys from `master_key` and
    /// `master_salt` (RFC 3711 §4.3) whose lengths must be those of `profile`.
    pub fn new(profile: ProtectionProfile, master_key: &[u8], master_salt: &[u8]) -> Result<Self> {
        Self::with_config(profile, master_key, master_salt, Config::default())
    }

    /// A context with the given [`Config`].
    pub fn with_config(
        profile: ProtectionProfile,
        master_key: &[u8],
        master_salt: &[u8],
        config: Config,
    ) -> Result<Self> {
        if master_key.len() != profile.master_key_len() {
            return Err(Error::InvalidKey("master key length does not match the profile"));
        }
        if master_salt.len() != profile.master_salt_len() {
            return Err(Error::InvalidKey("master salt length does not match the profile"));
        }
        let mut kdf = Kdf::new(master_key, master_salt)?;
        let rtp = kdf.session_keys(profile, false)?;
        let rtcp = kdf.session_keys(profile, true)?;
        Self::from_session_keys(profile, &rtp, &rtcp, config)
    }

    /// A context keyed directly with session keys, skipping the key derivation (the RFC 7714
    /// test vectors give session keys).
    pub(crate) fn from_session_keys(
        profile: ProtectionProfile,
        rtp: &SessionKeys,
        rtcp: &SessionKeys,
        config: Config,
    ) -> Result<Self> {
        let window_words = config.window_words()?;
        Ok(Context {
            profile,
            config,
            window_words,
            rtp: Transform::new(profile, rtp, profile.rtp_auth_tag_len())?,
            rtcp: Transform::new(profile, rtcp, profile.rtcp_auth_tag_len())?,
            rtp_streams: SsrcMap::default(),
            rtcp_streams: SsrcMap::default(),
        })
    }

    /// The outbound and inbound contexts of a DTLS-SRTP session, in that order: the DTLS
    /// client protects with the client keys and the server with the server keys
    /// (RFC 5764 §4.2).
    pub fn from_dtls_keying_material(
        profile: ProtectionProfile,
        material: &[u8],
        local_is_client: bool,
        config: Config,
    ) -> Result<(Context, Context)> {
        let keys = DtlsSrtpKeys::split(profile, material)?;
        let client = (keys.client_master_key, keys.client_master_salt);
        let server = (keys.server_master_key, keys.server_master_salt);
        let (local, remote) = if local_is_client { (client, server) } else { (server, client) };
        let outbound = Context::with_config(profile, local.0, local.1, config)?;
        let inbound = Context::with_config(profile, remote.0, remote.1, config)?;
        Ok((outbound, inbound))
    }

    /// The protection profile.
    pub fn profile(&self) -> ProtectionProfile {
        self.profile
    }

    /// The configuration.
    pub fn config(&self) -> Config {
        self.config
    }

    /// The SRTP rollover counter of `ssrc` (RFC 3711 §3.3.1): of the highest packet protected,
    /// or received and authenticated. `None` for an SSRC not seen yet.
    pub fn rtp_roc(&self, ssrc: u32) -> Option<u32> {
        self.rtp_streams.get(&ssrc).map(SrtpStream::roc)
    }

    /// Number of SSRCs with SRTP state and with SRTCP state.
    pub fn ssrc_count(&self) -> (usize, usize) {
        (self.rtp_streams.len(), self.rtcp_streams.len())
    }

    /// Forgets the SRTP and SRTCP state of `ssrc` (for example after an RTCP BYE), freeing its
    /// slot under [`Config::max_ssrcs`]. A later packet of that SSRC starts afresh.
    pub fn remove_ssrc(&mut self, ssrc: u32) {
        if self.rtp_streams.remove(&ssrc).is_some() | self.rtcp_streams.remove(&ssrc).is_some() {
            debug!(ssrc, "SRTP state removed");
        }
    }

    /// Protects the RTP packet in `buf[..len]` in place (RFC 3711 §3.3, RFC 7714 §8): encrypts
    /// the payload and appends the authentication tag. `buf` must have room for
    /// [`ProtectionProfile::rtp_overhead`] bytes after the packet. Returns the length of the
    /// SRTP packet in `buf`.
    ///
    /// On error `buf` and the context are unchanged.
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize> {
        let tag_len = self.profile.rtp_auth_tag_len();
        let packet =
            buf.get(..len).ok_or(Error::BufferTooSmall { needed: len, available: buf.len() })?;
        check_max_len(len)?;
        let ids = header::rtp_ids(packet)?;
        let header_len = header::rtp_header_len(packet)?;
        let out_len = len + tag_len;
        if out_len > buf.len() {
            return Err(Error::BufferTooSmall { needed: out_len, available: buf.len() });
        }
        let full = self.rtp_streams.len() >= self.config.max_ssrcs;
        let stream = self.rtp_streams.get_mut(&ids.ssrc);
        let index = match &stream {
            Some(stream) => stream.estimate_index(ids.sequence_number)?,
            None if full => return Err(Error::TooManySsrcs),
            None => u64::from(ids.sequence_number),
        };
        let (body, rest) = buf.split_at_mut(len);
        // `out_len <= buf.len()` was checked above.
        let tag = rest.get_mut(..tag_len).ok_or(Error::Crypto("SRTP tag room"))?;
        let (head, payload) = body.split_at_mut(header_len);
        match &mut self.rtp {
            Transform::AesCm(cm) => {
                cm.apply_keystream(ids.ssrc, index, payload)?;
                // RFC 3711 §4.2: the tag covers the header, the encrypted payload and the ROC.
                cm.sign(body, &roc_of(index).to_be_bytes(), tag);
            }
            Transform::AesGcm(gcm) => {
                // RFC 7714 §8.2: the whole header (with CSRCs and extension) is associated data.
                let iv = gcm.rtp_iv(ids.ssrc, roc_of(index), ids.sequence_number);
                gcm.seal(&iv, [head, &[]], payload, tag)?;
            }
        }
        match stream {
            Some(stream) => stream.commit(index),
            None => self.insert_rtp_stream(ids.ssrc, index),
        }
        Ok(out_len)
    }

    /// Unprotects the SRTP packet that fills `buf` in place: checks its replay status and
    /// authentication tag, then decrypts the payload. Returns the length of the RTP packet
    /// now in `buf[..n]` (the tag is dropped).
    ///
    /// The rollover counter is estimated from the highest index received (RFC 3711
    /// Appendix A) and, with the replay window, only updated once the packet authenticated.
    /// On error the context is unchanged and `buf` holds the bytes it had.
    pub fn unprotect_rtp(&mut self, buf: &mut [u8]) -> Result<usize> {
        let len = buf.len();
        check_max_len(len)?;
        let tag_len = self.profile.rtp_auth_tag_len();
        let ids = header::rtp_ids(buf)?;
        let body_len = len
            .checked_sub(tag_len)
            .filter(|&n| n >= RTP_FIXED_HEADER_LEN)
            .ok_or(Error::Malformed("SRTP packet shorter than an RTP header and tag"))?;
        let full = self.rtp_streams.len() >= self.config.max_ssrcs;
        let stream = self.rtp_streams.get_mut(&ids.ssrc);
        let index = match &stream {
            Some(stream) => {
                let index = stream.estimate_index(ids.sequence_number)?;
                // RFC 3711 §3.3.2: replay check before authentication, as it is cheaper.
                stream.check_replay(index)?;
                index
            }
            None if full => return Err(Error::TooManySsrcs),
            None => u64::from(ids.sequence_number),
        };
        let roc = roc_of(index);
        let (body, tag) = buf.split_at_mut(body_len);
        match &mut self.rtp {
            Transform::AesCm(cm) => {
                // The HMAC covers the whole body, so it is checked before the header is even
                // parsed: a forged header length never reaches the parser.
                cm.verify(body, &roc.to_be_bytes(), tag)?;
                let header_len = header::rtp_header_len(body)?;
                let payload = body.get_mut(header_len..).ok_or(Error::Malformed("RTP header"))?;
                cm.apply_keystream(ids.ssrc, index, payload)?;
            }
            Transform::AesGcm(gcm) => {
                let header_len = header::rtp_header_len(body)?;
                let (head, payload) = body.split_at_mut(header_len);
                let iv = gcm.rtp_iv(ids.ssrc, roc, ids.sequence_number);
                gcm.open(&iv, [head, &[]], payload, tag)?;
            }
        }
        // Authenticated: only now may the rollover counter and replay window move.
        match stream {
            Some(stream) => stream.commit(index),
            None => self.insert_rtp_stream(ids.ssrc, index),
        }
        Ok(body_len)
    }

    /// Protects the RTCP (compound) packet in `buf[..len]` in place (RFC 3711 §3.4,
    /// RFC 7714 §9): encrypts everything after the first 8 bytes, appends the E flag (always
    /// set) with this SSRC's next SRTCP index, and the authentication tag. `buf` must have
    /// room for [`ProtectionProfile::rtcp_overhead`] bytes after the packet. Returns the
    /// length of the SRTCP packet in `buf`.
    ///
    /// The SRTCP index of an SSRC starts at 0 and increases by one per packet; the SSRC is the
    /// sender SSRC of the first RTCP packet. On error `buf` and the context are unchanged.
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize> {
        let tag_len = self.profile.rtcp_auth_tag_len();
        let packet =
            buf.get(..len).ok_or(Error::BufferTooSmall { needed: len, available: buf.len() })?;
        check_max_len(len)?;
        let ssrc = header::rtcp_ssrc(packet)?;
        let out_len = len + SRTCP_INDEX_LEN + tag_len;
        if out_len > buf.len() {
            return Err(Error::BufferTooSmall { needed: out_len, available: buf.len() });
        }
        let index = match self.rtcp_streams.get(&ssrc) {
            Some(stream) => stream.next_index()?,
            None if self.rtcp_streams.len() >= self.config.max_ssrcs => {
                return Err(Error::TooManySsrcs)
            }
            None => 0,
        };
        let word = (SRTCP_E_FLAG | index).to_be_bytes();
        let (body, rest) = buf.split_at_mut(len);
        let (head, payload) = body.split_at_mut(RTCP_HEADER_LEN);
        match &mut self.rtcp {
            Transform::AesCm(cm) => {
                // Layout: header | encrypted | E+index | tag. The tag covers all before it.
                let (trailer, rest) = rest.split_at_mut(SRTCP_INDEX_LEN);
                let tag = rest.get_mut(..tag_len).ok_or(Error::Crypto("SRTCP tag room"))?;
                cm.apply_keystream(ssrc, u64::from(index), payload)?;
                trailer.copy_from_slice(&word);
                cm.sign(body, trailer, tag);
            }
            Transform::AesGcm(gcm) => {
                // RFC 7714 §9.2: header | ciphertext | tag | E+index; the associated data is
                // the 8-byte header and the E+index word.
                let (tag, rest) = rest.split_at_mut(aead::TAG_LEN);
                let trailer =
                    rest.get_mut(..SRTCP_INDEX_LEN).ok_or(Error::Crypto("SRTCP index room"))?;
                let iv = gcm.rtcp_iv(ssrc, index);
                gcm.seal(&iv, [head, &word], payload, tag)?;
                trailer.copy_from_slice(&word);
            }
        }
        match self.rtcp_streams.entry(ssrc) {
            Entry::Occupied(mut e) => e.get_mut().commit_sent(index),
            Entry::Vacant(e) => {
                debug!(ssrc, "SRTCP sender stream created");
                e.insert(SrtcpStream::new()).commit_sent(index);
            }
        }
        Ok(out_len)
    }

    /// Unprotects the SRTCP packet that fills `buf` in place: checks the replay status of its
    /// SRTCP index and its tag, then decrypts it if its E flag is set (an E flag of 0 means the
    /// sender did not encrypt; the packet is still authenticated). Returns the length of the
    /// RTCP packet now in `buf[..n]`.
    ///
    /// On error the context is unchanged and `buf` holds the bytes it had.
    pub fn unprotect_rtcp(&mut self, buf: &mut [u8]) -> Result<usize> {
        let len = buf.len();
        check_max_len(len)?;
        let tag_len = self.profile.rtcp_auth_tag_len();
        let ssrc = header::rtcp_ssrc(buf)?;
        let plain_len = len
            .checked_sub(SRTCP_INDEX_LEN + tag_len)
            .filter(|&n| n >= RTCP_HEADER_LEN)
            .ok_or(Error::Malformed("SRTCP packet shorter than header, index and tag"))?;
        let word_at = if self.profile.is_aead() { len - SRTCP_INDEX_LEN } else { plain_len };
        let word = header::be_u32(buf, word_at).ok_or(Error::Malformed("SRTCP index"))?;
        let encrypted = word & SRTCP_E_FLAG != 0;
        let index = word & !SRTCP_E_FLAG;
        match self.rtcp_streams.get(&ssrc) {
            Some(stream) => stream.check_replay(index)?,
            None if self.rtcp_streams.len() >= self.config.max_ssrcs => {
                return Err(Error::TooManySsrcs)
            }
            None => {}
        }
        match &mut self.rtcp {
            Transform::AesCm(cm) => {
                // header | payload | E+index | tag: the tag covers everything before it.
                let (authenticated, tag) = buf.split_at_mut(plain_len + SRTCP_INDEX_LEN);
                cm.verify(authenticated, &[], tag)?;
                if encrypted {
                    let payload = authenticated
                        .get_mut(RTCP_HEADER_LEN..plain_len)
                        .ok_or(Error::Malformed("SRTCP payload"))?;
                    cm.apply_keystream(ssrc, u64::from(index), payload)?;
                }
            }
            Transform::AesGcm(gcm) => {
                // header | ciphertext | tag | E+index (RFC 7714 §9.2); unencrypted, the whole
                // RTCP packet is associated data and the plaintext is empty (§9.3).
                let (body, rest) = buf.split_at_mut(plain_len);
                let tag = rest.get(..aead::TAG_LEN).ok_or(Error::Malformed("SRTCP tag"))?;
                let iv = gcm.rtcp_iv(ssrc, index);
                let word = word.to_be_bytes();
                if encrypted {
                    let (head, payload) = body.split_at_mut(RTCP_HEADER_LEN);
                    gcm.open(&iv, [head, &word], payload, tag)?;
                } else {
                    gcm.open(&iv, [body, &word], &mut [], tag)?;
                }
            }
        }
        let window_words = self.window_words;
        match self.rtcp_streams.entry(ssrc) {
            Entry::Occupied(mut e) => e.get_mut().commit_received(window_words, index),
            Entry::Vacant(e) => {
                debug!(ssrc, "SRTCP receiver stream created");
                e.insert(SrtcpStream::new()).commit_received(window_words, index);
            }
        }
        Ok(plain_len)
    }

    /// [`Context::protect_rtp`] on a `Vec` holding the RTP packet: grows it by the tag, which
    /// reallocates only if its capacity is short.
    pub fn protect_rtp_vec(&mut self, packet: &mut Vec<u8>) -> Result<()> {
        let len = packet.len();
        packet.resize(len + self.profile.rtp_overhead(), 0);
        let result = self.protect_rtp(packet, len);
        packet.truncate(*result.as_ref().unwrap_or(&len));
        result.map(drop)
    }

    /// [`Context::unprotect_rtp`] on a `Vec` holding the SRTP packet, truncated to the RTP
    /// packet on success.
    pub fn unprotect_rtp_vec(&mut self, packet: &mut Vec<u8>) -> Result<()> {
        let len = self.unprotect_rtp(packet)?;
        packet.truncate(len);
        Ok(())
    }

    /// [`Context::protect_rtcp`] on a `Vec` holding the RTCP packet: grows it by the index and
    /// tag, which reallocates only if its capacity is short.
    pub fn protect_rtcp_vec(&mut self, packet: &mut Vec<u8>) -> Result<()> {
        let len = packet.len();
        packet.resize(len + self.profile.rtcp_overhead(), 0);
        let result = self.protect_rtcp(packet, len);
        packet.truncate(*result.as_ref().unwrap_or(&len));
        result.map(drop)
    }

    /// [`Context::unprotect_rtcp`] on a `Vec` holding the SRTCP packet, truncated to the RTCP
    /// packet on success.
    pub fn unprotect_rtcp_vec(&mut self, packet: &mut Vec<u8>) -> Result<()> {
        let len = self.unprotect_rtcp(packet)?;
        packet.truncate(len);
        Ok(())
    }

    /// Sets the SRTCP index the next protected packet of `ssrc` carries.
    #[cfg(test)]
    pub(crate) fn set_next_srtcp_index(&mut self, ssrc: u32, index: u32) {
        self.rtcp_streams.entry(ssrc).or_insert_with(SrtcpStream::new).set_next_index(index);
    }

    fn insert_rtp_stream(&mut self, ssrc: u32, index: u64) {
        debug!(ssrc, "SRTP stream created");
        self.rtp_streams.insert(ssrc, SrtpStream::new(self.window_words, index));
    }
}

fn check_max_len(len: usize) -> Result<()> {
    if len > MAX_PACKET_LEN {
        return Err(Error::Malformed("packet longer than a UDP datagram"));
    }
    Ok(())
}

/// The rollover counter part of a 48-bit packet index.
fn roc_of(index: u64) -> u32 {
    // Indices are below 2^48 (checked by `SrtpStream::estimate_index`; a first index is a bare
    // sequence number), so this keeps all bits.
    (index >> 16) as u32
}

#[cfg(test)]
mod tests;
