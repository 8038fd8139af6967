//! The DTLS machine of one PeerConnection.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use openssl::error::ErrorStack;
use openssl::nid::Nid;
use openssl::ssl::{ErrorCode, Ssl, SslVerifyMode};
use openssl::x509::{X509StoreContextRef, X509VerifyResult};
use tracing::{debug, info, trace};

use crate::channel::Channel;
use crate::ffi::TimedStream;
use crate::record;
use crate::srtp::{SrtpKeyMaterial, SrtpProfile, EXPORTER_LABEL};
use crate::{DtlsContext, Error, Fingerprint};

/// Which side of the DTLS handshake we play (RFC 5763 §5: `a=setup:passive` is the DTLS
/// server, `a=setup:active` the client).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Role {
    /// We wait for the ClientHello (`a=setup:passive`), what an SFU answers by default.
    #[default]
    Server,
    /// We send the ClientHello (`a=setup:active`), when the browser is passive.
    Client,
}

/// What the machine reports; drain with [`Dtls::poll_event`] after every call.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// The handshake finished, the peer's certificate matches the SDP fingerprint and an
    /// SRTP profile was negotiated. Reported once, before any application data.
    Connected {
        /// SRTP master keys and salts for both directions.
        srtp: SrtpKeyMaterial,
        /// The peer certificate's fingerprint (same hash as the expected one).
        peer_fingerprint: Fingerprint,
    },
    /// One application-data record from the peer (an SCTP packet, RFC 8261).
    ApplicationData(Vec<u8>),
    /// The peer sent close_notify; we answered with our own. Nothing more flows.
    Closed,
    /// The connection cannot continue. No keys were, or will be, reported.
    Failed(Error),
}

/// Counters of one connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DtlsStats {
    /// Datagrams handed to OpenSSL.
    pub datagrams_received: u64,
    /// Datagrams returned by [`Dtls::poll_transmit`].
    pub datagrams_sent: u64,
    /// Datagrams dropped before OpenSSL because they were malformed or impossible.
    pub malformed_dropped: u64,
    /// Datagrams dropped because the connection was closed or had failed.
    pub inactive_dropped: u64,
    /// Flights resent because our retransmission timer expired.
    pub retransmissions: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Handshaking,
    Connected,
    /// Closed by either side.
    Closed,
    Failed,
}

/// DTLS 1.2 with DTLS-SRTP for one peer, as a sans-IO machine.
///
/// Feed it every datagram whose first byte is 20–63 (RFC 7983) with
/// [`handle_receive`](Dtls::handle_receive), call [`handle_timeout`](Dtls::handle_timeout) when
/// [`poll_timeout`](Dtls::poll_timeout) has passed, and after each call drain
/// [`poll_transmit`](Dtls::poll_transmit) and [`poll_event`](Dtls::poll_event). Time is only
/// ever what the caller passes in.
#[derive(Debug)]
pub struct Dtls {
    role: Role,
    stream: TimedStream,
    expected_fingerprint: Fingerprint,
    state: State,
    events: VecDeque<Event>,
    handshake_timeout: Duration,
    handshake_deadline: Instant,
    /// When the current flight is resent next, while one awaits an answer.
    retransmit_at: Option<Instant>,
    /// The current retransmission timeout (RFC 6347 §4.2.4.1).
    rto: Duration,
    initial_rto: Duration,
    max_rto: Duration,
    /// OpenSSL's flight count when `rto` was last reset.
    flights_seen: u64,
    require_extended_master_secret: bool,
    srtp_profile: Option<SrtpProfile>,
    /// Reused for every `SSL_read`.
    read_buf: Vec<u8>,
    stats: DtlsStats,
}

/// The largest DTLS plaintext record (RFC 6347 §4.1, RFC 5246 §6.2.1).
const MAX_PLAINTEXT: usize = 1 << 14;

impl Dtls {
    /// A new connection that authenticates the peer by `remote_fingerprint` (from the remote
    /// SDP's `a=fingerprint`). A client sends its ClientHello at once (drain
    /// [`poll_transmit`](Dtls::poll_transmit)); a server waits for one. The handshake deadline
    /// counts from `now`.
    pub fn new(
        now: Instant,
        context: &DtlsContext,
        role: Role,
        remote_fingerprint: Fingerprint,
    ) -> Result<Dtls, Error> {
        let config = context.config();
        let mut ssl =
            Ssl::new(context.ssl_context()).map_err(Error::openssl("create a DTLS session"))?;
        let mtu = u32::try_from(config.mtu).unwrap_or(u32::MAX);
        ssl.set_mtu(mtu).map_err(Error::openssl("set the MTU"))?;
        let expected = remote_fingerprint.clone();
        let mode = match role {
            Role::Client => {
                ssl.set_connect_state();
                SslVerifyMode::PEER
            }
            // RFC 5763 §5: the server MUST request a certificate from the client.
            Role::Server => {
                ssl.set_accept_state();
                SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT
            }
        };
        ssl.set_verify_callback(mode, move |_, store| verify_peer(&expected, store));
        let stream = TimedStream::new(ssl, Channel::default())
            .map_err(Error::openssl("attach the datagram channel"))?;
        let mut dtls = Dtls {
            role,
            stream,
            expected_fingerprint: remote_fingerprint,
            state: State::Handshaking,
            events: VecDeque::new(),
            handshake_timeout: config.handshake_timeout,
            handshake_deadline: now + config.handshake_timeout,
            retransmit_at: None,
            rto: config.initial_retransmit_timeout,
            initial_rto: config.initial_retransmit_timeout,
            max_rto: config.max_retransmit_timeout,
            flights_seen: 0,
            require_extended_master_secret: config.require_extended_master_secret,
            srtp_profile: None,
            read_buf: vec![0; MAX_PLAINTEXT],
            stats: DtlsStats::default(),
        };
        debug!(?role, virtual_clock = dtls.stream.virtual_clock(), "DTLS connection created");
        if role == Role::Client {
            dtls.advance(now);
        }
        Ok(dtls)
    }

    /// Processes one received datagram.
    ///
    /// A datagram that is not a well-formed sequence of DTLS records, or holds a record no
    /// genuine peer sends, is dropped and counted and [`Error::Malformed`] says why; the
    /// connection is unaffected. After close or failure every datagram is dropped with
    /// [`Error::Closed`]. Everything else, including failures of the connection itself, is
    /// reported through [`poll_event`](Dtls::poll_event).
    pub fn handle_receive(&mut self, now: Instant, datagram: &[u8]) -> Result<(), Error> {
        if matches!(self.state, State::Closed | State::Failed) {
            self.stats.inactive_dropped += 1;
            return Err(Error::Closed);
        }
        if let Err(reason) = record::screen(datagram, self.protected_overhead()) {
            self.stats.malformed_dropped += 1;
            trace!(len = datagram.len(), reason, "dropped DTLS datagram");
            return Err(Error::Malformed(reason));
        }
        trace!(len = datagram.len(), "DTLS datagram in");
        self.stats.datagrams_received += 1;
        self.stream.stream_mut().get_mut().push_inbound(datagram);
        self.advance(now);
        self.stream.stream_mut().get_mut().clear_inbound();
        Ok(())
    }

    /// Acts on time: fails a handshake past its deadline, and resends the current flight
    /// when its retransmission timer has expired (RFC 6347 §4.2.4), doubling the timer up to
    /// its cap.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state != State::Handshaking {
            return;
        }
        if now >= self.handshake_deadline {
            info!(role = ?self.role, "DTLS handshake timed out");
            self.fail(Error::HandshakeTimeout(self.handshake_timeout));
            return;
        }
        let Some(at) = self.retransmit_at else { return };
        if now < at {
            return;
        }
        match self.stream.retransmit() {
            Ok(true) => {
                self.stats.retransmissions += 1;
                debug!(role = ?self.role, rto = ?self.rto, "DTLS flight retransmitted");
            }
            Ok(false) => {}
            Err(stack) => {
                self.fail(Error::Handshake(stack));
                return;
            }
        }
        if self.stream.virtual_clock() {
            // RFC 6347 §4.2.4.1: double the timer at each retransmission, up to the cap.
            self.rto = self.rto.saturating_mul(2).min(self.max_rto);
            self.retransmit_at = Some(now + self.rto);
        } else {
            // OpenSSL's real-clock timer decides; poll it again when it says so.
            self.retransmit_at =
                self.stream.openssl_timeout().map(|left| now + left.max(Duration::from_millis(10)));
        }
    }

    /// The next datagram to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        let datagram = self.stream.stream_mut().get_mut().pop_outbound()?;
        self.stats.datagrams_sent += 1;
        trace!(len = datagram.len(), "DTLS datagram out");
        Some(datagram)
    }

    /// Hands back a buffer this connection returned (a datagram from
    /// [`poll_transmit`](Dtls::poll_transmit) once sent, the data of an
    /// [`Event::ApplicationData`] once processed), so that later datagrams and records reuse
    /// its allocation instead of allocating. Optional; a bounded number is kept.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        self.stream.stream_mut().get_mut().recycle(buf);
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Dtls::handle_timeout) must be called next: the earlier of the
    /// retransmission timer and the handshake deadline; `None` once the handshake is over.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state != State::Handshaking {
            return None;
        }
        Some(
            self.retransmit_at
                .map_or(self.handshake_deadline, |at| at.min(self.handshake_deadline)),
        )
    }

    /// Sends one application-data record (one SCTP packet).
    ///
    /// Fails with [`Error::NotConnected`] before the handshake, [`Error::Closed`] after close
    /// or failure, and [`Error::ApplicationDataTooLarge`] above
    /// [`max_application_data_len`](Dtls::max_application_data_len), so that no datagram
    /// exceeds the MTU.
    pub fn send_application_data(&mut self, data: &[u8]) -> Result<(), Error> {
        match self.state {
            State::Connected => {}
            State::Handshaking => return Err(Error::NotConnected),
            State::Closed | State::Failed => return Err(Error::Closed),
        }
        let max = self.max_application_data_len();
        if data.len() > max {
            return Err(Error::ApplicationDataTooLarge { len: data.len(), max });
        }
        if data.is_empty() {
            return Ok(());
        }
        match self.stream.stream_mut().ssl_write(data) {
            Ok(_) => Ok(()),
            Err(e) => {
                self.fail(Error::Protocol(stack_of(&e)));
                Err(Error::Closed)
            }
        }
    }

    /// Closes the connection: an established one sends close_notify (RFC 5246 §7.2.1), one
    /// still handshaking just stops. No event follows; later input is dropped.
    pub fn close(&mut self) {
        match self.state {
            State::Connected => {
                // The result only says whether the peer's close_notify arrived already.
                let _ = self.stream.stream_mut().shutdown();
                info!(role = ?self.role, "DTLS connection closed locally");
            }
            State::Handshaking => debug!(role = ?self.role, "DTLS handshake abandoned"),
            State::Closed | State::Failed => return,
        }
        self.state = State::Closed;
        self.retransmit_at = None;
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether the handshake finished and the connection is neither closed nor failed.
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// Whether the connection is over (closed by either side, or failed).
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed | State::Failed)
    }

    /// The negotiated DTLS-SRTP profile, once connected.
    pub fn selected_srtp_profile(&self) -> Option<SrtpProfile> {
        self.srtp_profile
    }

    /// The most application data one record can carry without its datagram exceeding the
    /// MTU (depends on the negotiated cipher; 0 before the handshake).
    pub fn max_application_data_len(&self) -> usize {
        if self.state == State::Connected {
            self.stream.data_mtu().min(MAX_PLAINTEXT)
        } else {
            0
        }
    }

    /// Whether retransmissions follow the caller's clock (OpenSSL 1.1.1–3.1) rather than
    /// OpenSSL's real-clock timer; see the crate documentation.
    pub fn virtual_retransmission_clock(&self) -> bool {
        self.stream.virtual_clock()
    }

    /// Counters.
    pub fn stats(&self) -> DtlsStats {
        self.stats
    }

    /// The AEAD nonce and tag of every protected record: known from the negotiated cipher,
    /// else the larger of our two cipher families (no genuine protected record can arrive
    /// before the cipher is chosen).
    fn protected_overhead(&self) -> usize {
        let chacha = self
            .stream
            .stream()
            .ssl()
            .current_cipher()
            .and_then(|c| c.cipher_nid())
            .is_some_and(|nid| nid == Nid::CHACHA20_POLY1305);
        if chacha {
            record::CHACHA20_POLY1305_OVERHEAD
        } else {
            record::GCM_OVERHEAD
        }
    }

    /// Runs OpenSSL as far as the queued input allows, then re-arms the timer.
    fn advance(&mut self, now: Instant) {
        if self.state == State::Handshaking {
            match self.stream.stream_mut().do_handshake() {
                Ok(()) => self.complete_handshake(),
                Err(e) => match e.code() {
                    ErrorCode::WANT_READ | ErrorCode::WANT_WRITE => {}
                    ErrorCode::ZERO_RETURN => self.peer_closed(),
                    _ => {
                        let error = if self.stream.stream().ssl().verify_result()
                            == X509VerifyResult::APPLICATION_VERIFICATION
                        {
                            Error::FingerprintMismatch
                        } else {
                            Error::Handshake(stack_of(&e))
                        };
                        self.fail(error);
                    }
                },
            }
        }
        if self.state == State::Connected {
            self.read_application_data();
        }
        self.arm_retransmit_timer(now);
    }

    /// Checks the finished handshake (RFC 5763 §5, RFC 5764 §4.1.1) and exports the keys.
    fn complete_handshake(&mut self) {
        match self.srtp_keys() {
            Ok(srtp) => {
                let ssl = self.stream.stream().ssl();
                info!(
                    role = ?self.role,
                    profile = ?srtp.profile,
                    cipher = ssl.current_cipher().map(|c| c.name()),
                    "DTLS connected"
                );
                let peer_fingerprint = self.expected_fingerprint.clone();
                self.srtp_profile = Some(srtp.profile);
                self.state = State::Connected;
                self.events.push_back(Event::Connected { srtp, peer_fingerprint });
            }
            Err(error) => {
                // The peer believes the handshake succeeded; tell it we are leaving.
                let _ = self.stream.stream_mut().shutdown();
                self.fail(error);
            }
        }
    }

    fn srtp_keys(&self) -> Result<SrtpKeyMaterial, Error> {
        let ssl = self.stream.stream().ssl();
        // The verify callback already compared the fingerprint; checking the certificate the
        // session actually holds guards against any path that skipped the callback.
        let peer = ssl.peer_certificate().ok_or(Error::NoPeerCertificate)?;
        if !self.expected_fingerprint.matches_x509(&peer) {
            return Err(Error::FingerprintMismatch);
        }
        if self.require_extended_master_secret && ssl.extms_support() != Some(true) {
            return Err(Error::NoExtendedMasterSecret);
        }
        let id = ssl.selected_srtp_profile().ok_or(Error::NoSrtpProfile)?.id().as_raw();
        let profile = SrtpProfile(u16::try_from(id).map_err(|_| Error::NoSrtpProfile)?);
        let len = profile.exported_len().ok_or(Error::NoSrtpProfile)?;
        let mut block = vec![0u8; len];
        // RFC 5764 §4.2: the exporter of RFC 5705 with label "EXTRACTOR-dtls_srtp", no
        // context.
        ssl.export_keying_material(&mut block, EXPORTER_LABEL, None).map_err(Error::Handshake)?;
        let keys = SrtpKeyMaterial::from_exported(profile, self.role, &block);
        block.fill(0);
        keys.ok_or(Error::NoSrtpProfile)
    }

    fn read_application_data(&mut self) {
        loop {
            match self.stream.stream_mut().ssl_read(&mut self.read_buf) {
                Ok(0) => break,
                Ok(n) => {
                    let mut data = self.stream.stream_mut().get_mut().take_buffer();
                    data.extend_from_slice(self.read_buf.get(..n).unwrap_or_default());
                    self.events.push_back(Event::ApplicationData(data));
                }
                Err(e) => {
                    match e.code() {
                        ErrorCode::WANT_READ | ErrorCode::WANT_WRITE => {}
                        ErrorCode::ZERO_RETURN => self.peer_closed(),
                        _ => self.fail(Error::Protocol(stack_of(&e))),
                    }
                    break;
                }
            }
        }
    }

    /// close_notify received: answer with ours (RFC 5246 §7.2.1) and stop.
    fn peer_closed(&mut self) {
        let _ = self.stream.stream_mut().shutdown();
        info!(role = ?self.role, "DTLS connection closed by the peer");
        self.state = State::Closed;
        self.retransmit_at = None;
        self.events.push_back(Event::Closed);
    }

    fn fail(&mut self, error: Error) {
        info!(role = ?self.role, %error, "DTLS connection failed");
        self.state = State::Failed;
        self.retransmit_at = None;
        self.events.push_back(Event::Failed(error));
    }

    /// Follows OpenSSL's flights: a new flight starts a fresh timer at the initial value
    /// (RFC 6347 §4.2.4.1), a flight answered stops it, and nothing is scheduled once the
    /// handshake is over (the last flight is resent only when the peer resends its own,
    /// RFC 6347 §4.2.4).
    fn arm_retransmit_timer(&mut self, now: Instant) {
        if self.state != State::Handshaking {
            self.retransmit_at = None;
            return;
        }
        if !self.stream.virtual_clock() {
            self.retransmit_at = self.stream.openssl_timeout().map(|left| now + left);
            return;
        }
        if !self.stream.timer_running() {
            self.retransmit_at = None;
            return;
        }
        let flights = self.stream.flights_started();
        if flights != self.flights_seen || self.retransmit_at.is_none() {
            self.flights_seen = flights;
            self.rto = self.initial_rto;
            self.retransmit_at = Some(now + self.rto);
        }
    }
}

/// The verify callback: any certificate chain is acceptable (WebRTC certificates are
/// self-signed), but the end-entity certificate must hash to the fingerprint from the SDP
/// (RFC 5763 §5, RFC 8122 §5). A mismatch aborts the handshake with a bad_certificate alert.
fn verify_peer(expected: &Fingerprint, store: &mut X509StoreContextRef) -> bool {
    if store.error_depth() != 0 {
        return true;
    }
    let matches = store.current_cert().is_some_and(|cert| expected.matches_x509(cert));
    if !matches {
        store.set_error(X509VerifyResult::APPLICATION_VERIFICATION);
    }
    matches
}

fn stack_of(error: &openssl::ssl::Error) -> ErrorStack {
    error.ssl_error().cloned().unwrap_or_else(ErrorStack::get)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Certificate, DtlsConfig};

    #[test]
    fn a_connection_can_move_to_a_worker_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<Dtls>();
        assert_send::<Event>();
    }

    #[test]
    fn a_server_waits_with_only_its_deadline() {
        let ctx = DtlsContext::new(DtlsConfig::new(Certificate::generate().unwrap())).unwrap();
        let peer = Certificate::generate().unwrap().fingerprint().clone();
        let now = Instant::now();
        let mut server = Dtls::new(now, &ctx, Role::Server, peer).unwrap();
        assert_eq!(server.role(), Role::Server);
        assert_eq!(server.poll_timeout(), Some(now + Duration::from_secs(30)));
        assert!(server.poll_transmit().is_none());
        assert!(server.poll_event().is_none());
        assert!(!server.is_connected() && !server.is_closed());
        assert_eq!(server.selected_srtp_profile(), None);
        assert!(matches!(server.handle_receive(now, b"\x16junk"), Err(Error::Malformed(_))));
        assert_eq!(server.stats().malformed_dropped, 1);
        assert_eq!(server.stats().datagrams_received, 0);
    }
}
