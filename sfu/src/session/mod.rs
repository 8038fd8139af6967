//! One session = one browser PeerConnection, as a sans-IO machine.
//!
//! A [`Session`] composes the connection spine: the ICE-lite agent answers the browser's
//! checks (or, for a third-party session whose peer is itself ICE-lite, made with
//! [`Session::new_third_party`], the controlling agent [`ice::IceControllingAgent`] checks
//! the peer's host candidates and nominates the first pair that answers), the DTLS machine (passive by default) runs the handshake on the selected pair, and
//! the SRTP contexts made from the exported keys authenticate and decrypt inbound RTP and
//! RTCP in place. It never owns a socket or reads the clock: the UDP driver (a worker thread)
//! feeds it datagrams of its 5-tuples with `now`, and drains `poll_transmit`, `poll_event`
//! and `poll_timeout` after every call.
//!
//! Counters live in a shared [`SessionStats`] so the HTTP API can read them while the worker
//! owns the session.
//!
//! # What happens to a datagram
//!
//! [`Session::handle_receive`] classifies by first byte (RFC 7983 §7):
//! - STUN (0..=3) goes to the ICE agent, which answers checks, learns pairs and follows
//!   nominations (the controlling agent takes the answers to its own checks). Malformed STUN
//!   is also counted in `malformed_dropped`.
//! - DTLS (20..=63) is accepted only from a 5-tuple a valid check arrived on, or that the
//!   controlling agent checks (`unchecked_source_dropped` otherwise). A ClientHello on such a pair while ICE has not
//!   selected one selects it at once ([`ice::IceLiteAgent::dtls_client_hello_from`]), so the
//!   handshake need not wait for USE-CANDIDATE. DTLS we send goes to the selected pair, or
//!   before a selection to the pair the peer's DTLS came from.
//! - RTP/RTCP (128..=191; RTCP when the second byte, marker bit masked, is 64..=95,
//!   RFC 5761 §4) from a checked pair is unprotected in place with the inbound SRTP context
//!   and counted; failures are counted by kind (`srtp_auth_failed`, `srtp_replayed`,
//!   `srtp_before_keys`, `malformed_dropped`, `srtp_refused`). What decrypted is left at
//!   the start of the caller's buffer and announced by the [`ReceivedMedia`] that
//!   `handle_receive` returns: the worker's [`Router`](crate::router::Router) forwards it
//!   from there, without a copy.
//!
//! DTLS application data is SCTP (RFC 8261): the session's association and data channels
//! (`session/channels.rs`, our `sctp` crate) take it, report channel events as
//! [`SessionEvent::DataChannel`] and answer the echo channel ([`ECHO_CHANNEL_ID`]) on their
//! own; [`Session::send_channel_message`] queues a message for the peer. Their timers are
//! part of [`Session::poll_timeout`].
//!
//! Forwarded media goes out through [`Session::protect_rtp_to_send`]: the router protects
//! its own buffer in place and sends it to [`Session::media_path`], the selected pair.
//! - Anything else is `malformed_dropped`.
//!
//! # Lifecycle
//!
//! [`ConnectionState::New`] until ICE selects a pair, [`ConnectionState::Connecting`] while
//! DTLS runs, [`ConnectionState::Connected`] once the SRTP contexts exist and consent is
//! fresh, [`ConnectionState::Disconnected`] while consent is expired (RFC 7675),
//! [`ConnectionState::Closed`] after the peer's close_notify or [`Session::close`], and
//! [`ConnectionState::Failed`] after a DTLS failure (fingerprint mismatch, handshake error)
//! or when the session did not connect within the DTLS context's `handshake_timeout` of its
//! creation (ICE and DTLS together). A closed or failed session drops every datagram and has
//! no timer: the driver removes it.
//!
//! As DTLS server (the default, we answer `a=setup:passive`) the DTLS machine exists from
//! the start and waits for the ClientHello. As DTLS client (the browser's offer said
//! `a=setup:passive`) it is created, and sends its ClientHello, when ICE first selects a pair.
//!
//! # Example
//!
//! A session against the in-memory [`TestClient`](crate::test_client::TestClient), on a
//! virtual clock:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//!
//! use rand::{rngs::StdRng, SeedableRng};
//! use sfu::session::{ConnectionState, Session, SessionParams, SessionStats};
//! use sfu::test_client::{TestClient, TestClientParams};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut rng = StdRng::seed_from_u64(7);
//! let (sfu, browser) = ("192.0.2.1:443".parse()?, "198.51.100.2:5000".parse()?);
//! let ours = dtls::DtlsContext::new(dtls::DtlsConfig::new(dtls::Certificate::generate()?))?;
//! let theirs = dtls::DtlsContext::new(dtls::DtlsConfig::new(dtls::Certificate::generate()?))?;
//! let (sfu_ice, browser_ice) = (ice::Credentials::generate(&mut rng), ice::Credentials::generate(&mut rng));
//!
//! let mut now = Instant::now();
//! let params = SessionParams {
//!     local_credentials: sfu_ice.clone(),
//!     remote_credentials: browser_ice.clone(),
//!     ice: ice::IceConfig::default(),
//!     dtls_context: ours.clone(),
//!     dtls_role: dtls::Role::Server,
//!     remote_fingerprint: theirs.config().certificate.fingerprint().clone(),
//!     srtp: srtp::Config::default(),
//! };
//! let mut session = Session::new(now, params, Arc::new(SessionStats::default()))?;
//! let mut client = TestClient::new(
//!     now,
//!     TestClientParams::new(browser, sfu, browser_ice, sfu_ice, theirs,
//!         ours.config().certificate.fingerprint().clone()),
//!     &mut rng,
//! )?;
//!
//! for _ in 0..100 {
//!     while let Some(t) = client.poll_transmit() {
//!         let mut datagram = t.datagram;
//!         session.handle_receive(now, t.remote, t.local, &mut datagram);
//!     }
//!     while let Some(t) = session.poll_transmit() {
//!         client.handle_receive(now, t.remote, t.local, &t.datagram);
//!     }
//!     while let Some(event) = session.poll_event() {
//!         println!("{event:?}"); // PairDiscovered, SelectedPairChanged, IceConnected, Connected
//!     }
//!     if client.is_connected() && session.state() == ConnectionState::Connected {
//!         break;
//!     }
//!     // Jump the virtual clock to the next timer.
//!     let next = [session.poll_timeout(), client.poll_timeout()].into_iter().flatten().min();
//!     now = now.max(next.expect("a handshake in progress has a timer"));
//!     session.handle_timeout(now);
//!     client.handle_timeout(now);
//! }
//! assert_eq!(session.state(), ConnectionState::Connected);
//!
//! client.send_rtp(0x1234, 1, 3000, 96, b"media")?;
//! let t = client.poll_transmit().unwrap();
//! let mut datagram = t.datagram;
//! session.handle_receive(now, t.remote, t.local, &mut datagram);
//! assert_eq!(session.stats().snapshot().rtp_decrypted, 1);
//! # Ok(())
//! # }
//! ```

mod channels;
pub(crate) mod demux;
mod ice_agent;
pub(crate) mod keys;
mod stats;

pub use channels::{ChannelSendError, ECHO_CHANNEL_ID};
pub use stats::{SessionStats, SessionStatsSnapshot};

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use dtls::{Dtls, DtlsContext, Fingerprint, Role};
use ice::{CandidatePair, IceControllingAgent, IceEvent, IceLiteAgent};
use tracing::{debug, info, trace, warn};

use channels::ChannelTransport;
use demux::PacketClass;
use ice_agent::IceAgent;
use keys::SrtpContexts;

/// What a session needs to start: the parameters both sides put in the SDP.
#[derive(Debug, Clone)]
pub struct SessionParams {
    /// Our ICE credentials (in our answer).
    pub local_credentials: ice::Credentials,
    /// The browser's ICE credentials (from its offer).
    pub remote_credentials: ice::Credentials,
    /// ICE timers (consent freshness).
    pub ice: ice::IceConfig,
    /// The process-wide DTLS context (our certificate).
    pub dtls_context: dtls::DtlsContext,
    /// Our DTLS role: `Server` when we answered `a=setup:passive` (the default), `Client`
    /// when the browser's offer said `a=setup:passive`.
    pub dtls_role: dtls::Role,
    /// The browser's certificate fingerprint from its SDP; the handshake fails on mismatch.
    pub remote_fingerprint: dtls::Fingerprint,
    /// Replay window and SSRC bound for the SRTP contexts.
    pub srtp: srtp::Config,
}

/// What a third-party session (its peer is ICE-lite: another SFU, a media server) needs
/// beyond [`SessionParams`]: the pairs to check, from our socket of each family to the
/// peer's host candidates of that family, in priority order.
#[derive(Debug, Clone)]
pub struct ControllingParams {
    /// The candidate pairs (at most [`ice::MAX_CONTROLLING_PAIRS`] are used).
    pub pairs: Vec<CandidatePair>,
    /// Check pacing, retransmission and consent timers.
    pub config: ice::ControllingConfig,
}

/// A datagram the driver sends from `local` (our socket address) to `remote`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Our address to send from (selects the socket: IPv4 or IPv6).
    pub local: SocketAddr,
    /// The browser's address.
    pub remote: SocketAddr,
    /// The bytes.
    pub datagram: Vec<u8>,
}

/// What [`Session::handle_receive`] left in the datagram: a decrypted packet at its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceivedMedia {
    /// A well-formed RTP packet of `len` bytes.
    Rtp {
        /// Its length.
        len: usize,
    },
    /// An RTCP compound packet of `len` bytes.
    Rtcp {
        /// Its length.
        len: usize,
    },
}

/// An RTP packet [`Session::protect_rtp_to_send`] protected: send `len` bytes from `local` to
/// `remote`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutgoingRtp {
    /// Our address to send from.
    pub local: SocketAddr,
    /// The peer's address.
    pub remote: SocketAddr,
    /// The protected length.
    pub len: usize,
}

/// What the driver and the API must know about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// A valid ICE check arrived on a new 5-tuple: the driver maps it to this session.
    PairDiscovered {
        /// Our address.
        local: SocketAddr,
        /// The browser's address.
        remote: SocketAddr,
    },
    /// The 5-tuple was forgotten: the driver unmaps it.
    PairRemoved {
        /// Our address.
        local: SocketAddr,
        /// The browser's address.
        remote: SocketAddr,
    },
    /// Media and DTLS now go over this pair.
    SelectedPairChanged {
        /// Our address.
        local: SocketAddr,
        /// The browser's address.
        remote: SocketAddr,
    },
    /// ICE has a selected pair with fresh consent.
    IceConnected,
    /// Consent expired (RFC 7675); the session may come back.
    IceDisconnected,
    /// DTLS completed and the SRTP contexts are ready: the PeerConnection is connected.
    Connected,
    /// The DTLS peer closed the association (close_notify).
    Closed,
    /// The session cannot go on (DTLS failure, fingerprint mismatch, handshake timeout).
    Failed(String),
    /// Something happened on the data channels (SCTP over DTLS): the association came up
    /// or ended, a message arrived, a channel closed, the send buffer has room again.
    /// Messages of the echo channel ([`ECHO_CHANNEL_ID`]) are answered by the session and
    /// not reported.
    DataChannel(sctp::ChannelEvent),
}

/// The state of a session's connection, as the API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Waiting for the first valid ICE check.
    New,
    /// ICE selected a pair; the DTLS handshake runs.
    Connecting,
    /// DTLS is done; SRTP flows.
    Connected,
    /// Consent expired after being connected.
    Disconnected,
    /// DTLS closed by the peer (close_notify), or by [`Session::close`].
    Closed,
    /// Failed for good.
    Failed,
}

/// Why a session could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The ICE agent refused the parameters.
    #[error("ICE: {0}")]
    Ice(#[from] ice::Error),
    /// The DTLS machine could not be created.
    #[error("DTLS: {0}")]
    Dtls(#[from] dtls::Error),
    /// The SRTP configuration is out of range (replay window, SSRC bound).
    #[error("SRTP configuration: {0}")]
    Srtp(#[from] srtp::Error),
}

/// Why a packet could not be protected or sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionSendError {
    /// DTLS has not completed: there are no SRTP keys yet.
    #[error("the session is not connected yet: no SRTP keys")]
    NotConnected,
    /// The session is closed or failed.
    #[error("the session is closed or failed")]
    Closed,
    /// Keys exist but ICE has no selected pair to send on.
    #[error("no ICE pair is selected")]
    NoSelectedPair,
    /// Consent on the selected pair expired: RFC 7675 §5.1 forbids sending media.
    #[error("ICE consent expired: media must not be sent (RFC 7675)")]
    ConsentExpired,
    /// The buffer is not a packet of the expected kind.
    #[error("invalid packet: {0}")]
    InvalidPacket(&'static str),
    /// SRTP refused the packet (malformed header, buffer too small, too many SSRCs, key
    /// exhausted).
    #[error("SRTP: {0}")]
    Srtp(#[from] srtp::Error),
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Closed,
    Failed,
}

/// One PeerConnection's connection spine. See the module documentation.
#[derive(Debug)]
pub struct Session {
    stats: Arc<SessionStats>,
    span: tracing::Span,
    ice: IceAgent,
    /// The latest `now` the session was given (an ICE restart comes without one).
    last_now: Instant,
    dtls_context: DtlsContext,
    dtls_role: Role,
    remote_fingerprint: Fingerprint,
    /// As server from the start; as client from the first selected pair.
    dtls: Option<Dtls>,
    /// The pair the peer's DTLS last came from: where our DTLS goes before ICE selects one.
    dtls_peer: Option<CandidatePair>,
    srtp_config: srtp::Config,
    srtp: Option<SrtpContexts>,
    ended: Option<Ended>,
    /// Until the SRTP keys exist: ICE and DTLS must be done by then.
    connect_deadline: Instant,
    /// SCTP and the data channels, over DTLS application data.
    channels: ChannelTransport,
    transmits: VecDeque<Transmit>,
    events: VecDeque<SessionEvent>,
}

impl Session {
    /// A session that waits for the browser's first ICE check.
    ///
    /// Fails when the SRTP configuration is out of range or, as DTLS server, when the DTLS
    /// machine cannot be created.
    pub fn new(
        now: Instant,
        params: SessionParams,
        stats: Arc<SessionStats>,
    ) -> Result<Session, SessionError> {
        let ice = IceAgent::Lite(IceLiteAgent::new(
            params.ice,
            params.local_credentials.clone(),
            Some(params.remote_credentials.clone()),
        ));
        Session::build(now, params, ice, stats)
    }

    /// A third-party session: its peer is ICE-lite, so this session is the full controlling
    /// agent ([`ice::IceControllingAgent`]): it checks `controlling.pairs` and nominates the
    /// first that answers; its first checks are ready in [`Session::poll_transmit`] and every
    /// pair it checks is announced with [`SessionEvent::PairDiscovered`], so the driver maps
    /// the 5-tuples the answers come back on. DTLS as for any session (`params.dtls_role`).
    /// `rng` seeds the tie-breaker and transaction IDs.
    pub fn new_third_party<R: rand::RngCore + ?Sized>(
        now: Instant,
        params: SessionParams,
        controlling: ControllingParams,
        stats: Arc<SessionStats>,
        rng: &mut R,
    ) -> Result<Session, SessionError> {
        let agent = IceControllingAgent::new(
            now,
            controlling.config,
            params.local_credentials.clone(),
            params.remote_credentials.clone(),
            controlling.pairs,
            rng,
        )?;
        let ice = IceAgent::Controlling(Box::new(agent), ice::IceStats::default());
        let mut session = Session::build(now, params, ice, stats)?;
        session.span.in_scope(|| info!("third party: controlling ICE agent"));
        session.drain(now);
        Ok(session)
    }

    fn build(
        now: Instant,
        params: SessionParams,
        ice: IceAgent,
        stats: Arc<SessionStats>,
    ) -> Result<Session, SessionError> {
        keys::validate_config(params.srtp)?;
        let span = tracing::info_span!("session", ufrag = params.local_credentials.ufrag());
        let dtls = match params.dtls_role {
            Role::Server => Some(Dtls::new(
                now,
                &params.dtls_context,
                Role::Server,
                params.remote_fingerprint.clone(),
            )?),
            Role::Client => None,
        };
        let connect_deadline = now + params.dtls_context.config().handshake_timeout;
        span.in_scope(|| info!(role = ?params.dtls_role, "session created"));
        Ok(Session {
            stats,
            span,
            ice,
            last_now: now,
            dtls_context: params.dtls_context,
            dtls_role: params.dtls_role,
            remote_fingerprint: params.remote_fingerprint,
            dtls,
            dtls_peer: None,
            srtp_config: params.srtp,
            srtp: None,
            ended: None,
            connect_deadline,
            channels: ChannelTransport::new(params.dtls_role),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        })
    }

    /// A datagram from `remote` arrived on our socket `local`, on a 5-tuple the driver mapped
    /// to this session (or a STUN check the driver routed here by ufrag). Classified by first
    /// byte (RFC 7983): STUN to ICE, DTLS to the DTLS machine, RTP/RTCP unprotected in place.
    /// Anything else, and anything that fails, is dropped and counted.
    ///
    /// When the datagram was SRTP or SRTCP that authenticated, it now begins with the
    /// decrypted packet and the result says its kind and length: `datagram[..len]` is what
    /// the router forwards. No copy is made.
    pub fn handle_receive(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &mut [u8],
    ) -> Option<ReceivedMedia> {
        let span = self.span.clone();
        let _entered = span.enter();
        self.last_now = self.last_now.max(now);
        SessionStats::bump(&self.stats.datagrams_received);
        SessionStats::add(&self.stats.bytes_received, len_u64(datagram.len()));
        if self.ended.is_some() {
            SessionStats::bump(&self.stats.inactive_dropped);
            trace!(%remote, "dropped: session over");
            return None;
        }
        let pair = CandidatePair { local, remote };
        let media = match demux::classify(datagram) {
            PacketClass::Stun => {
                self.on_stun(now, pair, datagram);
                None
            }
            PacketClass::Dtls => {
                self.on_dtls(now, pair, datagram);
                None
            }
            PacketClass::Rtp => self.on_srtp(now, pair, datagram, false),
            PacketClass::Rtcp => self.on_srtp(now, pair, datagram, true),
            PacketClass::Unknown => {
                SessionStats::bump(&self.stats.malformed_dropped);
                trace!(%remote, first = ?datagram.first(), "dropped: unknown kind");
                None
            }
        };
        self.drain(now);
        media
    }

    /// Fire the timers due at `now` (DTLS retransmission, consent expiry).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.ended.is_some() {
            return;
        }
        let span = self.span.clone();
        let _entered = span.enter();
        self.last_now = self.last_now.max(now);
        // First, so that the reason names the stage that did not finish.
        if self.srtp.is_none() && now >= self.connect_deadline {
            let timeout = self.dtls_context.config().handshake_timeout;
            let reason = if self.ice.selected_pair().is_none() {
                format!("no ICE pair was selected within {timeout:?} of the session's creation")
            } else {
                format!("the DTLS handshake did not complete within {timeout:?}")
            };
            self.fail(reason);
            if let Some(dtls) = &mut self.dtls {
                dtls.close();
            }
            return;
        }
        self.ice.handle_timeout(now);
        if let Some(dtls) = &mut self.dtls {
            dtls.handle_timeout(now);
            if dtls.is_connected() {
                self.channels.handle_timeout(now, dtls, &self.stats, &mut self.events);
            }
        }
        self.drain(now);
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let transmit = self.transmits.pop_front()?;
        SessionStats::bump(&self.stats.datagrams_sent);
        SessionStats::add(&self.stats.bytes_sent, len_u64(transmit.datagram.len()));
        Some(transmit)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must be called next: the earliest of the consent deadline, the
    /// DTLS retransmission timer and, until connected, the connect deadline. `None` once the
    /// session is closed or failed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.ended.is_some() {
            return None;
        }
        let dtls = self.dtls.as_ref().and_then(Dtls::poll_timeout);
        let connect = self.srtp.is_none().then_some(self.connect_deadline);
        let sctp = self.channels.poll_timeout();
        [self.ice.poll_timeout(), dtls, connect, sctp].into_iter().flatten().min()
    }

    /// The current connection state.
    pub fn state(&self) -> ConnectionState {
        match self.ended {
            Some(Ended::Failed) => ConnectionState::Failed,
            Some(Ended::Closed) => ConnectionState::Closed,
            None if self.srtp.is_some() => match self.ice.state() {
                ice::ConnectionState::Connected => ConnectionState::Connected,
                ice::ConnectionState::Disconnected => ConnectionState::Disconnected,
                // DTLS finished on a checked pair that ICE has not selected (its consent was
                // stale when the ClientHello came): nothing can be sent yet.
                _ => ConnectionState::Connecting,
            },
            None if self.ice.selected_pair().is_some() => ConnectionState::Connecting,
            None => ConnectionState::New,
        }
    }

    /// The shared counters.
    pub fn stats(&self) -> &Arc<SessionStats> {
        &self.stats
    }

    /// The pair ICE selected, if any.
    pub fn selected_pair(&self) -> Option<CandidatePair> {
        self.ice.selected_pair()
    }

    /// The SRTP protection profile DTLS negotiated, once connected.
    pub fn srtp_profile(&self) -> Option<srtp::ProtectionProfile> {
        self.srtp.as_ref().map(SrtpContexts::profile)
    }

    /// Our DTLS role.
    pub fn dtls_role(&self) -> Role {
        self.dtls_role
    }

    /// The ICE-lite agent's counters (all zero for a third-party session, see
    /// [`Session::controlling_stats`]).
    pub fn ice_stats(&self) -> &ice::IceStats {
        self.ice.lite_stats()
    }

    /// The controlling agent's counters, for a third-party session.
    pub fn controlling_stats(&self) -> Option<&ice::ControllingAgentStats> {
        self.ice.controlling_stats()
    }

    /// Our current ICE ufrag.
    pub fn local_ufrag(&self) -> &str {
        self.ice.local_ufrag()
    }

    /// The 5-tuples a third-party session sends its checks to (empty for other sessions);
    /// each is also announced with [`SessionEvent::PairDiscovered`].
    pub fn third_party_pairs(&self) -> Vec<CandidatePair> {
        self.ice.controlling_pairs()
    }

    /// Whether this session runs the controlling ICE agent toward a lite peer
    /// ([`Session::new_third_party`]).
    pub fn is_third_party(&self) -> bool {
        self.ice.is_controlling()
    }

    /// The DTLS machine's counters (all zero before it exists).
    pub fn dtls_stats(&self) -> dtls::DtlsStats {
        self.dtls.as_ref().map(Dtls::stats).unwrap_or_default()
    }

    /// Protects the RTP packet in `buf[..len]` in place with our outbound SRTP context and
    /// returns the protected length; `buf` needs room for the tag after `len`
    /// ([`srtp::ProtectionProfile::rtp_overhead`]). For a driver that sends from its own
    /// buffers to [`Session::selected_pair`].
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SessionSendError> {
        self.protect(buf, len, false)
    }

    /// Protects the RTCP compound packet in `buf[..len]` in place (SRTCP), as
    /// [`Session::protect_rtp`]; the room needed is
    /// [`srtp::ProtectionProfile::rtcp_overhead`].
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SessionSendError> {
        self.protect(buf, len, true)
    }

    /// Protects a plain RTP packet and queues it for the selected pair (see
    /// [`Session::poll_transmit`]). Refused before the keys exist, without a selected pair, and
    /// while consent is expired at `now` (RFC 7675 §5.1).
    pub fn send_rtp(&mut self, now: Instant, packet: &[u8]) -> Result<(), SessionSendError> {
        self.send(now, packet, false)
    }

    /// Protects a plain RTCP compound packet (SRTCP) and queues it for the selected pair, as
    /// [`Session::send_rtp`].
    pub fn send_rtcp(&mut self, now: Instant, packet: &[u8]) -> Result<(), SessionSendError> {
        self.send(now, packet, true)
    }

    /// ICE restart (RFC 8445 §9) after a renegotiation changed the client's ICE credentials:
    /// `local` are our new ones, `remote` the client's. Media keeps flowing on the selected
    /// pair until the client nominates a pair under the new credentials; DTLS and SRTP go on
    /// unchanged.
    pub fn restart_ice(
        &mut self,
        local: ice::Credentials,
        remote: ice::Credentials,
    ) -> Result<(), ice::Error> {
        let now = self.last_now;
        let restarted = self.ice.restart(now, local, remote);
        self.drain(now);
        restarted
    }

    /// Ends the session from our side: an established DTLS association sends close_notify
    /// (drain [`Session::poll_transmit`]), a handshake in progress just stops. The state
    /// becomes [`ConnectionState::Closed`]; no event follows.
    pub fn close(&mut self) {
        if self.ended.is_some() {
            return;
        }
        let span = self.span.clone();
        let _entered = span.enter();
        self.ended = Some(Ended::Closed);
        info!("session closed locally");
        if let Some(dtls) = &mut self.dtls {
            dtls.close();
        }
        self.drain_dtls_transmits();
    }

    /// Queues a data channel message for the peer on channel `id` (binary or text) and the
    /// DTLS records that carry it (drain [`Session::poll_transmit`]).
    pub fn send_channel_message(
        &mut self,
        now: Instant,
        id: u16,
        data: &[u8],
        binary: bool,
    ) -> Result<(), ChannelSendError> {
        let Some(dtls) = self.dtls.as_mut().filter(|d| d.is_connected() && self.ended.is_none())
        else {
            return Err(ChannelSendError::NotReady);
        };
        let result = self.channels.send(now, id, data, binary, dtls, &self.stats);
        self.drain_dtls_transmits();
        result
    }

    /// Sets up a data channel negotiated out of band (the API handed its stream id to the
    /// client): opened at once when the association is up, else as soon as it is.
    pub fn open_negotiated_channel(&mut self, id: u16, options: sctp::ChannelOptions) {
        self.channels.open_negotiated(id, options);
    }

    /// Closes data channel `id` once what is queued on it is delivered (RFC 8831 §6.7).
    pub fn close_channel(&mut self, now: Instant, id: u16) {
        let dtls = self.dtls.as_mut().filter(|d| d.is_connected());
        self.channels.close(now, id, dtls);
        self.drain_dtls_transmits();
    }

    /// The peer's `a=max-message-size` for data channel messages (RFC 8841 §6; 64 KiB when
    /// its SDP has none).
    pub fn set_peer_max_message_size(&mut self, size: usize) {
        self.channels.set_peer_max_message_size(size);
    }

    /// Whether the data channel association is established.
    pub fn data_channels_established(&self) -> bool {
        self.channels.is_established()
    }

    fn on_stun(&mut self, now: Instant, pair: CandidatePair, datagram: &[u8]) {
        SessionStats::bump(&self.stats.stun_received);
        let before = self.ice.not_stun();
        self.ice.handle_receive(now, pair.local, pair.remote, datagram);
        let garbage = self.ice.not_stun().saturating_sub(before);
        SessionStats::add(&self.stats.malformed_dropped, garbage);
    }

    fn on_dtls(&mut self, now: Instant, pair: CandidatePair, datagram: &[u8]) {
        SessionStats::bump(&self.stats.dtls_received);
        if !self.is_checked(pair) {
            SessionStats::bump(&self.stats.unchecked_source_dropped);
            trace!(remote = %pair.remote, "dropped DTLS: no valid check on this 5-tuple");
            return;
        }
        if self.dtls_role == Role::Server
            && self.ice.selected_pair().is_none()
            && demux::is_client_hello(datagram)
        {
            // The browser is writable on this pair and starts DTLS before nominating: select
            // the pair now so that our flight goes back where the ClientHello came from.
            let selected = self.ice.dtls_client_hello_from(now, pair.local, pair.remote);
            debug!(remote = %pair.remote, selected, "DTLS ClientHello before nomination");
            self.drain_ice(now);
        }
        let Some(dtls) = &mut self.dtls else {
            SessionStats::bump(&self.stats.inactive_dropped);
            trace!(remote = %pair.remote, "dropped DTLS: our DTLS client has not started");
            return;
        };
        self.dtls_peer = Some(pair);
        match dtls.handle_receive(now, datagram) {
            Ok(()) => {}
            Err(dtls::Error::Malformed(reason)) => {
                SessionStats::bump(&self.stats.malformed_dropped);
                trace!(remote = %pair.remote, reason, "dropped DTLS datagram");
            }
            Err(error) => {
                SessionStats::bump(&self.stats.inactive_dropped);
                trace!(remote = %pair.remote, %error, "dropped DTLS datagram");
            }
        }
    }

    fn on_srtp(
        &mut self,
        now: Instant,
        pair: CandidatePair,
        datagram: &mut [u8],
        rtcp: bool,
    ) -> Option<ReceivedMedia> {
        if !self.is_checked(pair) {
            SessionStats::bump(&self.stats.unchecked_source_dropped);
            trace!(remote = %pair.remote, "dropped SRTP: no valid check on this 5-tuple");
            return None;
        }
        let Some(contexts) = &mut self.srtp else {
            SessionStats::bump(&self.stats.srtp_before_keys);
            trace!(remote = %pair.remote, rtcp, "dropped SRTP: no keys yet");
            return None;
        };
        let unprotected = if rtcp {
            contexts.inbound.unprotect_rtcp(datagram)
        } else {
            contexts.inbound.unprotect_rtp(datagram)
        };
        match unprotected {
            Ok(len) => {
                let packet = datagram.get(..len).unwrap_or_default();
                if rtcp {
                    self.on_rtcp(now, pair, packet);
                    Some(ReceivedMedia::Rtcp { len })
                } else {
                    self.on_rtp(now, pair, packet).then_some(ReceivedMedia::Rtp { len })
                }
            }
            Err(error) => {
                let counter = match error {
                    srtp::Error::AuthenticationFailed => &self.stats.srtp_auth_failed,
                    srtp::Error::Replayed | srtp::Error::TooOld => &self.stats.srtp_replayed,
                    srtp::Error::Malformed(_) | srtp::Error::BufferTooSmall { .. } => {
                        &self.stats.malformed_dropped
                    }
                    _ => &self.stats.srtp_refused,
                };
                SessionStats::bump(counter);
                trace!(remote = %pair.remote, rtcp, %error, "dropped SRTP");
                None
            }
        }
    }

    /// A decrypted, authenticated RTP packet, counted; `true` when it is well-formed and
    /// goes on to the router.
    fn on_rtp(&mut self, now: Instant, pair: CandidatePair, packet: &[u8]) -> bool {
        let _ = (now, pair);
        match rtp::RtpPacket::new_checked(packet) {
            Ok(view) => {
                SessionStats::bump(&self.stats.rtp_decrypted);
                SessionStats::add(&self.stats.rtp_bytes_decrypted, len_u64(view.payload().len()));
                trace!(
                    ssrc = view.ssrc(),
                    seq = view.sequence_number(),
                    pt = view.payload_type(),
                    "RTP in"
                );
                true
            }
            Err(error) => {
                // Authentic, so the sender built it this way (for example a padding count
                // beyond the payload): nothing can be forwarded from it.
                SessionStats::bump(&self.stats.malformed_dropped);
                trace!(%error, "dropped decrypted RTP: malformed");
                false
            }
        }
    }

    /// A decrypted, authenticated RTCP compound packet, counted; the router reads it.
    fn on_rtcp(&mut self, now: Instant, pair: CandidatePair, packet: &[u8]) {
        let _ = (now, pair);
        SessionStats::bump(&self.stats.rtcp_decrypted);
        trace!(len = packet.len(), "RTCP in");
    }

    /// Whether a valid check arrived on this 5-tuple (the selected pair is always one).
    fn is_checked(&self, pair: CandidatePair) -> bool {
        self.ice.selected_pair() == Some(pair) || self.ice.has_pair(pair.local, pair.remote)
    }

    /// Moves what ICE and DTLS produced into the session's queues, acting on their events.
    fn drain(&mut self, now: Instant) {
        self.drain_ice(now);
        self.drain_dtls_transmits();
        while let Some(event) = self.dtls.as_mut().and_then(Dtls::poll_event) {
            self.on_dtls_event(now, event);
        }
        // A failure above may have queued an alert or close_notify.
        self.drain_dtls_transmits();
    }

    fn drain_ice(&mut self, now: Instant) {
        while let Some(t) = self.ice.poll_transmit() {
            self.transmits.push_back(Transmit {
                local: t.local,
                remote: t.remote,
                datagram: t.datagram,
            });
        }
        while let Some(event) = self.ice.poll_event() {
            self.on_ice_event(now, event);
        }
    }

    fn drain_dtls_transmits(&mut self) {
        while let Some(datagram) = self.dtls.as_mut().and_then(Dtls::poll_transmit) {
            let Some(pair) = self.ice.selected_pair().or(self.dtls_peer) else {
                // A server speaks only after a ClientHello, a client only after selection.
                warn!("DTLS datagram with no pair to send it on: dropped");
                continue;
            };
            self.transmits.push_back(Transmit { local: pair.local, remote: pair.remote, datagram });
        }
    }

    fn on_ice_event(&mut self, now: Instant, event: IceEvent) {
        if self.ended.is_some() {
            return;
        }
        match event {
            IceEvent::PairDiscovered { local, remote } => {
                debug!(%local, %remote, "pair discovered");
                self.events.push_back(SessionEvent::PairDiscovered { local, remote });
            }
            IceEvent::PairRemoved { local, remote } => {
                debug!(%local, %remote, "pair removed");
                if self.dtls_peer == Some(CandidatePair { local, remote }) {
                    self.dtls_peer = None;
                }
                self.events.push_back(SessionEvent::PairRemoved { local, remote });
            }
            IceEvent::SelectedPairChanged { local, remote } => {
                info!(%local, %remote, "selected pair");
                self.events.push_back(SessionEvent::SelectedPairChanged { local, remote });
                if self.dtls.is_none() {
                    self.start_dtls_client(now);
                }
            }
            IceEvent::Connected => {
                debug!("ICE connected");
                self.events.push_back(SessionEvent::IceConnected);
            }
            IceEvent::Disconnected => {
                info!("ICE consent expired");
                self.events.push_back(SessionEvent::IceDisconnected);
            }
            IceEvent::Failed => self.fail("ICE failed".to_owned()),
            other => debug!(?other, "ICE event ignored"),
        }
    }

    /// As DTLS client, the handshake starts when ICE first selects a pair: the ClientHello
    /// needs a pair to go to, and the handshake deadline should not run before.
    fn start_dtls_client(&mut self, now: Instant) {
        match Dtls::new(now, &self.dtls_context, Role::Client, self.remote_fingerprint.clone()) {
            Ok(dtls) => {
                debug!("DTLS client started");
                self.dtls = Some(dtls);
            }
            Err(error) => self.fail(format!("DTLS: {error}")),
        }
    }

    fn on_dtls_event(&mut self, now: Instant, event: dtls::Event) {
        match event {
            dtls::Event::Connected { srtp, .. } => {
                if self.ended.is_some() {
                    return;
                }
                match SrtpContexts::new(&srtp, self.srtp_config) {
                    Ok(contexts) => {
                        info!(profile = ?contexts.profile(), "connected");
                        self.srtp = Some(contexts);
                        self.events.push_back(SessionEvent::Connected);
                    }
                    Err(error) => {
                        if let Some(dtls) = &mut self.dtls {
                            dtls.close();
                        }
                        self.fail(error.to_string());
                    }
                }
            }
            dtls::Event::ApplicationData(data) => {
                // RFC 8261: each record is one SCTP packet.
                if let (Some(dtls), None) = (&mut self.dtls, self.ended) {
                    self.channels.handle_packet(now, &data, dtls, &self.stats, &mut self.events);
                    // The next record reuses the buffer.
                    dtls.recycle(data);
                }
            }
            dtls::Event::Closed => {
                if self.ended.is_none() {
                    info!("closed by the peer");
                    self.ended = Some(Ended::Closed);
                    self.events.push_back(SessionEvent::Closed);
                }
            }
            dtls::Event::Failed(error) => self.fail(error.to_string()),
            other => debug!(?other, "DTLS event ignored"),
        }
    }

    fn fail(&mut self, reason: String) {
        if self.ended.is_some() {
            return;
        }
        info!(%reason, "session failed");
        self.ended = Some(Ended::Failed);
        self.events.push_back(SessionEvent::Failed(reason));
    }

    fn protect(
        &mut self,
        buf: &mut [u8],
        len: usize,
        rtcp: bool,
    ) -> Result<usize, SessionSendError> {
        if self.ended.is_some() {
            return Err(SessionSendError::Closed);
        }
        let contexts = self.srtp.as_mut().ok_or(SessionSendError::NotConnected)?;
        let packet = buf
            .get(..len)
            .ok_or(srtp::Error::BufferTooSmall { needed: len, available: buf.len() })?;
        let expected = if rtcp { PacketClass::Rtcp } else { PacketClass::Rtp };
        if demux::classify(packet) != expected {
            return Err(SessionSendError::InvalidPacket(if rtcp {
                "not an RTCP packet (version 2, packet type 192..=223)"
            } else {
                "not an RTP packet (version 2, payload type outside 64..=95)"
            }));
        }
        let protected = if rtcp {
            contexts.outbound.protect_rtcp(buf, len)?
        } else {
            contexts.outbound.protect_rtp(buf, len)?
        };
        Ok(protected)
    }

    /// Where media goes now: the selected pair, when the session is connected, has SRTP keys
    /// and fresh consent (RFC 7675 §5.1 forbids media otherwise).
    pub fn media_path(&self, now: Instant) -> Result<CandidatePair, SessionSendError> {
        if self.ended.is_some() {
            return Err(SessionSendError::Closed);
        }
        if self.srtp.is_none() {
            return Err(SessionSendError::NotConnected);
        }
        let pair = self.ice.selected_pair().ok_or(SessionSendError::NoSelectedPair)?;
        if self.ice.consent_expired(now) {
            return Err(SessionSendError::ConsentExpired);
        }
        Ok(pair)
    }

    /// Protects the RTP packet in `buf[..len]` in place for sending now, and counts it as
    /// sent: the driver sends `buf[..out.len]` from `out.local` to `out.remote` itself, from
    /// its own buffer (the router's path, with no allocation). `buf` needs room for the
    /// profile's [`srtp::ProtectionProfile::rtp_overhead`] after `len`. Refused as
    /// [`Session::send_rtp`] is.
    pub fn protect_rtp_to_send(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        len: usize,
    ) -> Result<OutgoingRtp, SessionSendError> {
        let pair = self.media_path(now)?;
        let protected = self.protect(buf, len, false)?;
        let stats = &self.stats;
        SessionStats::bump(&stats.datagrams_sent);
        SessionStats::add(&stats.bytes_sent, len_u64(protected));
        SessionStats::bump(&stats.rtp_sent);
        Ok(OutgoingRtp { local: pair.local, remote: pair.remote, len: protected })
    }

    fn send(&mut self, now: Instant, packet: &[u8], rtcp: bool) -> Result<(), SessionSendError> {
        let pair = self.media_path(now)?;
        let profile = self.srtp_profile().ok_or(SessionSendError::NotConnected)?;
        let overhead = if rtcp { profile.rtcp_overhead() } else { profile.rtp_overhead() };
        let mut datagram = Vec::with_capacity(packet.len().saturating_add(overhead));
        datagram.extend_from_slice(packet);
        datagram.resize(packet.len().saturating_add(overhead), 0);
        let len = self.protect(&mut datagram, packet.len(), rtcp)?;
        datagram.truncate(len);
        trace!(len, rtcp, "SRTP out");
        self.transmits.push_back(Transmit { local: pair.local, remote: pair.remote, datagram });
        Ok(())
    }
}

fn len_u64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn params(role: Role) -> SessionParams {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
        let context = |profiles: &[dtls::SrtpProfile]| {
            let mut config = dtls::DtlsConfig::new(dtls::Certificate::generate().unwrap());
            config.srtp_profiles = profiles.to_vec();
            config.handshake_timeout = Duration::from_secs(10);
            DtlsContext::new(config).unwrap()
        };
        let peer = context(&dtls::SrtpProfile::DEFAULT_PREFERENCE);
        SessionParams {
            local_credentials: ice::Credentials::generate(&mut rng),
            remote_credentials: ice::Credentials::generate(&mut rng),
            ice: ice::IceConfig::default(),
            dtls_context: context(&dtls::SrtpProfile::DEFAULT_PREFERENCE),
            dtls_role: role,
            remote_fingerprint: peer.config().certificate.fingerprint().clone(),
            srtp: srtp::Config::default(),
        }
    }

    fn addresses() -> (SocketAddr, SocketAddr) {
        ("192.0.2.1:443".parse().unwrap(), "198.51.100.1:5000".parse().unwrap())
    }

    #[test]
    fn a_new_session_waits_with_the_connect_deadline_as_its_only_timer() {
        for role in [Role::Server, Role::Client] {
            let now = Instant::now();
            let mut session = Session::new(now, params(role), Arc::default()).unwrap();
            assert_eq!(session.state(), ConnectionState::New);
            assert_eq!(session.poll_timeout(), Some(now + Duration::from_secs(10)));
            assert!(session.poll_transmit().is_none());
            assert!(session.poll_event().is_none());
            assert_eq!(session.dtls_role(), role);
            assert_eq!(session.selected_pair(), None);
            assert_eq!(session.srtp_profile(), None);

            session.handle_timeout(now + Duration::from_secs(10));
            assert_eq!(session.state(), ConnectionState::Failed);
            match session.poll_event() {
                Some(SessionEvent::Failed(reason)) => {
                    assert!(reason.contains("no ICE pair"), "{reason}")
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(session.poll_timeout(), None);
            assert!(session.poll_transmit().is_none(), "nothing to close: no peer");
        }
    }

    #[test]
    fn the_dtls_client_starts_only_after_selection() {
        let now = Instant::now();
        let mut session = Session::new(now, params(Role::Client), Arc::default()).unwrap();
        let (local, remote) = addresses();
        // DTLS from the browser before ICE: an unchecked 5-tuple.
        let mut hello = [22, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1];
        session.handle_receive(now, local, remote, &mut hello);
        let stats = session.stats().snapshot();
        assert_eq!((stats.dtls_received, stats.unchecked_source_dropped), (1, 1));
        assert_eq!(session.dtls_stats(), dtls::DtlsStats::default());
        assert!(session.poll_transmit().is_none());
    }

    #[test]
    fn datagrams_of_no_known_kind_are_counted() {
        let now = Instant::now();
        let mut session = Session::new(now, params(Role::Server), Arc::default()).unwrap();
        let (local, remote) = addresses();
        for datagram in [&mut [][..], &mut [4, 0][..], &mut [64, 0, 0, 4][..], &mut [0x80][..]] {
            session.handle_receive(now, local, remote, datagram);
        }
        let stats = session.stats().snapshot();
        assert_eq!((stats.datagrams_received, stats.malformed_dropped), (4, 4));
        assert_eq!(stats.bytes_received, 7);
        // Garbage STUN is counted as received and as malformed.
        session.handle_receive(now, local, remote, &mut [0, 1, 0, 0]);
        let stats = session.stats().snapshot();
        assert_eq!((stats.stun_received, stats.malformed_dropped), (1, 5));
        // RTP from a 5-tuple no check came from.
        session.handle_receive(now, local, remote, &mut [0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(session.stats().snapshot().unchecked_source_dropped, 1);
        assert_eq!(session.state(), ConnectionState::New);
    }

    #[test]
    fn an_invalid_srtp_config_is_refused_up_front() {
        let mut params = params(Role::Server);
        params.srtp.max_ssrcs = 0;
        assert!(matches!(
            Session::new(Instant::now(), params, Arc::default()),
            Err(SessionError::Srtp(srtp::Error::InvalidConfig(_)))
        ));
    }

    #[test]
    fn nothing_is_sent_before_the_keys() {
        let now = Instant::now();
        let mut session = Session::new(now, params(Role::Server), Arc::default()).unwrap();
        let rtp = [0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(session.send_rtp(now, &rtp), Err(SessionSendError::NotConnected));
        let mut buf = [0u8; 64];
        assert_eq!(session.protect_rtcp(&mut buf, 8), Err(SessionSendError::NotConnected));
        session.close();
        assert_eq!(session.state(), ConnectionState::Closed);
        assert_eq!(session.send_rtp(now, &rtp), Err(SessionSendError::Closed));
        assert!(session.poll_event().is_none(), "no event for our own close");
    }
}
