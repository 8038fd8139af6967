//! Association setup (RFC 9260 §5): INIT, INIT-ACK with a signed State Cookie, COOKIE-ECHO,
//! COOKIE-ACK, the T1 timers, and the unexpected cases of §5.2 (INIT collision, duplicate
//! cookies, peer restart).

use std::time::Instant;

use super::cookie::StateCookie;
use super::inbound::Inbound;
use super::outbound::Outbound;
use super::reconfig::StreamReset;
use super::{AbortReason, Association, Event, State};
use crate::chunk::{
    ChunkType, CookieAckChunk, CookieEchoChunk, ErrorChunk, InitChunk, RawChunk, ShutdownAckChunk,
};
use crate::error_cause::{ErrorCause, ErrorCauseCode};
use crate::packet::set_checksum;
use crate::param::{supported_extensions, write_param, ParamType, RawParam};
use crate::Error;

/// What an INIT or INIT-ACK announced, beyond its fixed fields.
#[derive(Debug, Default)]
struct PeerParams<'a> {
    forward_tsn: bool,
    reconfig: bool,
    cookie: Option<&'a [u8]>,
    /// Unrecognised parameters whose action bits ask for a report.
    unrecognized: Vec<RawParam<'a>>,
}

/// Reads the parameters of an INIT or INIT-ACK, honouring the action bits of unknown ones
/// (RFC 9260 §3.2.1).
fn read_params<'a>(init: &InitChunk<'a>) -> PeerParams<'a> {
    let mut p = PeerParams::default();
    for param in init.params() {
        let Ok(param) = param else {
            break;
        };
        match param.param_type {
            ParamType::FORWARD_TSN_SUPPORTED => p.forward_tsn = true,
            ParamType::SUPPORTED_EXTENSIONS => {
                for t in supported_extensions(param.value) {
                    match t {
                        ChunkType::FORWARD_TSN => p.forward_tsn = true,
                        ChunkType::RE_CONFIG => p.reconfig = true,
                        _ => {}
                    }
                }
            }
            ParamType::STATE_COOKIE => p.cookie = Some(param.value),
            t if t.is_known_in_init() => {}
            t => {
                let action = t.unrecognized_action();
                if action.reports() {
                    p.unrecognized.push(param);
                }
                if !action.skips() {
                    break;
                }
            }
        }
    }
    p
}

impl Association {
    /// Our optional INIT/INIT-ACK parameters: PR-SCTP and RE-CONFIG support.
    fn write_local_params(out: &mut Vec<u8>) {
        // Tiny fixed parameters: cannot exceed the length field.
        let _ = write_param(out, ParamType::FORWARD_TSN_SUPPORTED, &[]);
        let _ = write_param(
            out,
            ParamType::SUPPORTED_EXTENSIONS,
            &[ChunkType::RE_CONFIG.0, ChunkType::FORWARD_TSN.0],
        );
    }

    fn a_rwnd_to_announce(&self) -> u32 {
        // Validated to fit in 32 bits.
        self.config.receive_buffer_size as u32
    }

    /// Queues our INIT (RFC 9260 §5.1 A).
    pub(super) fn send_init(&mut self) {
        let mut params = Vec::with_capacity(16);
        Self::write_local_params(&mut params);
        let init = InitChunk {
            initiate_tag: self.my_tag,
            a_rwnd: self.a_rwnd_to_announce(),
            outbound_streams: self.config.outbound_streams,
            inbound_streams: self.config.inbound_streams,
            initial_tsn: self.my_initial_tsn,
            params: &params,
        };
        let mut packet = self.packet_header(0);
        if init.write_to(ChunkType::INIT, &mut packet).is_ok() {
            set_checksum(&mut packet);
            self.pending_packets.push_back(packet);
        }
    }

    /// Queues our COOKIE-ECHO, plus an ERROR reporting unrecognised INIT-ACK parameters.
    fn send_cookie_echo(&mut self, error_causes: &[u8]) {
        let mut packet = self.packet_header(self.peer_tag);
        let mut ok = CookieEchoChunk { cookie: &self.cookie_echo }.write_to(&mut packet).is_ok();
        if !error_causes.is_empty() {
            ok &= ErrorChunk { causes: error_causes }.write_to(&mut packet).is_ok();
        }
        if ok {
            set_checksum(&mut packet);
            self.pending_packets.push_back(packet);
        }
    }

    /// T1-init or T1-cookie expired (RFC 9260 §5.1 C, D).
    pub(super) fn on_t1_timeout(&mut self, now: Instant) {
        self.t1 = None;
        self.t1_retransmits += 1;
        if self.t1_retransmits > self.config.max_init_retransmissions {
            tracing::info!("handshake timed out");
            self.close(Event::Aborted(AbortReason::HandshakeTimeout));
            return;
        }
        self.t1_timeout = (self.t1_timeout * 2).min(self.config.rto_max);
        match self.state {
            State::CookieWait => self.send_init(),
            State::CookieEchoed => self.send_cookie_echo(&[]),
            _ => return,
        }
        self.t1 = Some(now + self.t1_timeout);
    }

    /// An INIT (alone in its packet, verification tag 0).
    pub(super) fn handle_init(&mut self, now: Instant, raw: &RawChunk<'_>) -> Result<(), Error> {
        let init = InitChunk::parse(raw)?;
        // RFC 9260 §3.3.2: a zero tag or zero stream counts make the INIT invalid.
        if init.initiate_tag == 0 || init.outbound_streams == 0 || init.inbound_streams == 0 {
            return Err(Error::Dropped("INIT with a zero tag or stream count"));
        }
        let (my_tag, my_initial_tsn, tie_tags) = match self.state {
            State::Listen | State::CookieWait | State::CookieEchoed => {
                // RFC 9260 §5.2.1: answer with the parameters of our own INIT.
                (self.my_tag, self.my_initial_tsn, (0, 0))
            }
            State::ShutdownAckSent => {
                // RFC 9260 §9.2: discard and retransmit the SHUTDOWN-ACK.
                self.queue_control(|out| ShutdownAckChunk.write_to(out));
                return Ok(());
            }
            State::Closed => return Err(Error::Dropped("INIT after close")),
            _ => {
                // RFC 9260 §5.2.2: a new tag, with tie-tags naming the current association.
                let mut tag = self.random_tag();
                while tag == self.my_tag || tag == self.peer_tag {
                    tag = self.random_tag();
                }
                let tsn = rand::Rng::gen(&mut self.rng);
                (tag, tsn, (self.my_tag, self.peer_tag))
            }
        };
        let peer = read_params(&init);
        let cookie = StateCookie {
            my_tag,
            peer_tag: init.initiate_tag,
            my_initial_tsn,
            peer_initial_tsn: init.initial_tsn,
            peer_a_rwnd: init.a_rwnd,
            peer_outbound_streams: init.outbound_streams,
            peer_inbound_streams: init.inbound_streams,
            peer_forward_tsn: peer.forward_tsn,
            peer_reconfig: peer.reconfig,
            my_tie_tag: tie_tags.0,
            peer_tie_tag: tie_tags.1,
            created_ms: self.millis_since_epoch(now),
        }
        .encode(&self.cookie_key);
        let mut params = Vec::with_capacity(128);
        // The cookie and our parameters are small: they fit the length fields.
        let _ = write_param(&mut params, ParamType::STATE_COOKIE, &cookie);
        Self::write_local_params(&mut params);
        for unknown in &peer.unrecognized {
            // RFC 9260 §3.3.3.1: reported in the INIT-ACK, parameter copied whole.
            if params.len() + unknown.bytes.len() + 8 > self.config.max_packet_size - 32 {
                break;
            }
            let _ = write_param(&mut params, ParamType::UNRECOGNIZED_PARAMETER, unknown.bytes);
        }
        let ack = InitChunk {
            initiate_tag: my_tag,
            a_rwnd: self.a_rwnd_to_announce(),
            outbound_streams: self.config.outbound_streams,
            inbound_streams: self.config.inbound_streams,
            initial_tsn: my_initial_tsn,
            params: &params,
        };
        let mut packet = self.packet_header(init.initiate_tag);
        ack.write_to(ChunkType::INIT_ACK, &mut packet)?;
        set_checksum(&mut packet);
        self.pending_packets.push_back(packet);
        tracing::debug!(state = ?self.state, "answered INIT with INIT-ACK");
        Ok(())
    }

    /// An INIT-ACK in COOKIE-WAIT (RFC 9260 §5.1 C); discarded in any other state
    /// (§5.2.3).
    pub(super) fn handle_init_ack(
        &mut self,
        now: Instant,
        raw: &RawChunk<'_>,
    ) -> Result<(), Error> {
        if self.state != State::CookieWait {
            return Err(Error::Dropped("INIT-ACK outside COOKIE-WAIT"));
        }
        let ack = InitChunk::parse(raw)?;
        if ack.initiate_tag == 0 || ack.outbound_streams == 0 || ack.inbound_streams == 0 {
            self.abort_with(
                ErrorCauseCode::INVALID_MANDATORY_PARAMETER,
                &[],
                AbortReason::ProtocolViolation("INIT-ACK with a zero tag or stream count"),
            );
            return Ok(());
        }
        let peer = read_params(&ack);
        let Some(cookie) = peer.cookie else {
            // RFC 9260 §3.3.10.2: Missing Mandatory Parameter, the State Cookie.
            self.peer_tag = ack.initiate_tag;
            self.abort_with(
                ErrorCauseCode::MISSING_MANDATORY_PARAMETER,
                &[0, 0, 0, 1, 0, 7],
                AbortReason::ProtocolViolation("INIT-ACK without a State Cookie"),
            );
            return Ok(());
        };
        self.peer_tag = ack.initiate_tag;
        self.apply_peer_init(
            ack.a_rwnd,
            ack.outbound_streams,
            ack.inbound_streams,
            ack.initial_tsn,
            peer.forward_tsn,
            peer.reconfig,
        );
        self.cookie_echo = cookie.to_vec();
        let mut causes = Vec::new();
        for unknown in &peer.unrecognized {
            if causes.len() + unknown.bytes.len() > self.config.max_packet_size / 2 {
                break;
            }
            let _ =
                ErrorCause { code: ErrorCauseCode::UNRECOGNIZED_PARAMETERS, info: unknown.bytes }
                    .write_to(&mut causes);
        }
        self.state = State::CookieEchoed;
        self.t1_retransmits = 0;
        self.t1_timeout = self.config.rto_initial;
        self.t1 = Some(now + self.t1_timeout);
        self.send_cookie_echo(&causes);
        tracing::debug!("INIT-ACK received, COOKIE-ECHO sent");
        Ok(())
    }

    /// A COOKIE-ECHO (RFC 9260 §5.1.5, §5.2.4). Returns whether the rest of the packet may be
    /// processed (the cookie established or confirmed the association).
    pub(super) fn handle_cookie_echo(
        &mut self,
        now: Instant,
        verification_tag: u32,
        raw: &RawChunk<'_>,
    ) -> Result<bool, Error> {
        let echo = CookieEchoChunk::parse(raw)?;
        let cookie = StateCookie::decode(echo.cookie, &self.cookie_key)?;
        if verification_tag != cookie.my_tag {
            return Err(Error::Dropped("COOKIE-ECHO tag differs from the State Cookie"));
        }
        // RFC 9260 §5.1.5 step 3: stale cookies are answered with a Stale Cookie error.
        let age = self.millis_since_epoch(now).saturating_sub(cookie.created_ms);
        let lifetime = self.config.cookie_lifetime.as_millis() as u64;
        if age > lifetime {
            let staleness_us = u32::try_from((age - lifetime) * 1000).unwrap_or(u32::MAX);
            let mut causes = Vec::with_capacity(8);
            let _ = ErrorCause {
                code: ErrorCauseCode::STALE_COOKIE,
                info: &staleness_us.to_be_bytes(),
            }
            .write_to(&mut causes);
            let mut packet = self.packet_header(cookie.peer_tag);
            if (ErrorChunk { causes: &causes }).write_to(&mut packet).is_ok() {
                set_checksum(&mut packet);
                self.pending_packets.push_back(packet);
            }
            return Err(Error::Dropped("stale State Cookie"));
        }

        match self.state {
            State::Closed => Err(Error::Dropped("COOKIE-ECHO after close")),
            State::Listen => {
                // Listening, INITs are answered with our fixed tag and initial TSN, which
                // the signature proves this cookie carries.
                self.establish_from_cookie(&cookie);
                self.become_established(now);
                self.queue_control(|out| CookieAckChunk.write_to(out));
                Ok(true)
            }
            _ => {
                // RFC 9260 §5.2.4, Table 2.
                let local = cookie.my_tag == self.my_tag;
                let peer = cookie.peer_tag == self.peer_tag;
                let ties = cookie.my_tie_tag == self.my_tag
                    && cookie.peer_tie_tag == self.peer_tag
                    && cookie.my_tie_tag != 0;
                if !local && !peer && ties {
                    // (A) The peer restarted.
                    if self.state == State::ShutdownAckSent {
                        let mut causes = Vec::with_capacity(4);
                        let _ = ErrorCause {
                            code: ErrorCauseCode::COOKIE_RECEIVED_WHILE_SHUTTING_DOWN,
                            info: &[],
                        }
                        .write_to(&mut causes);
                        self.queue_control(|out| ShutdownAckChunk.write_to(out));
                        self.queue_control(|out| ErrorChunk { causes: &causes }.write_to(out));
                        return Ok(false);
                    }
                    self.restart(now, &cookie);
                    self.queue_control(|out| CookieAckChunk.write_to(out));
                    Ok(true)
                } else if local && (!peer || self.peer_tag == 0) {
                    // (B) Both sides initiated at once.
                    if matches!(self.state, State::CookieWait | State::CookieEchoed) {
                        self.establish_from_cookie(&cookie);
                        self.become_established(now);
                    } else {
                        self.peer_tag = cookie.peer_tag;
                    }
                    self.queue_control(|out| CookieAckChunk.write_to(out));
                    Ok(true)
                } else if local && peer {
                    // (D) A cookie for this association.
                    if matches!(self.state, State::CookieWait | State::CookieEchoed) {
                        self.establish_from_cookie(&cookie);
                        self.become_established(now);
                    }
                    self.queue_control(|out| CookieAckChunk.write_to(out));
                    Ok(true)
                } else {
                    // (C) and anything else: silently discarded.
                    Err(Error::Dropped("COOKIE-ECHO for another association"))
                }
            }
        }
    }

    /// A COOKIE-ACK: established (RFC 9260 §5.1 E); ignored in other states.
    pub(super) fn handle_cookie_ack(&mut self, now: Instant) {
        if self.state == State::CookieEchoed {
            self.become_established(now);
        }
    }

    fn establish_from_cookie(&mut self, cookie: &StateCookie) {
        self.peer_tag = cookie.peer_tag;
        self.apply_peer_init(
            cookie.peer_a_rwnd,
            cookie.peer_outbound_streams,
            cookie.peer_inbound_streams,
            cookie.peer_initial_tsn,
            cookie.peer_forward_tsn,
            cookie.peer_reconfig,
        );
    }

    /// Applies the peer's INIT or INIT-ACK fields.
    fn apply_peer_init(
        &mut self,
        a_rwnd: u32,
        peer_outbound: u16,
        peer_inbound: u16,
        peer_initial_tsn: u32,
        forward_tsn: bool,
        reconfig: bool,
    ) {
        self.outbound_stream_count = self.config.outbound_streams.min(peer_inbound);
        self.inbound_stream_count = self.config.inbound_streams.min(peer_outbound);
        self.inb = Inbound::new(peer_initial_tsn, self.config.max_message_size);
        self.out.set_peer(a_rwnd, forward_tsn);
        self.peer_forward_tsn = forward_tsn;
        self.peer_reconfig = reconfig;
        self.reset = StreamReset::new(self.my_initial_tsn, peer_initial_tsn);
    }

    fn become_established(&mut self, now: Instant) {
        tracing::info!("association established");
        self.state = State::Established;
        self.t1 = None;
        self.cookie_echo = Vec::new();
        self.error_count = 0;
        self.events.push_back(Event::Connected);
        self.heartbeat_at = self.config.heartbeat_interval.map(|i| now + i);
    }

    /// RFC 9260 §5.2.4 case A: the peer restarted; start over with the cookie's parameters.
    fn restart(&mut self, now: Instant, cookie: &StateCookie) {
        tracing::info!("peer restarted the association");
        self.my_tag = cookie.my_tag;
        self.my_initial_tsn = cookie.my_initial_tsn;
        self.out = Outbound::new(
            self.config.max_packet_size,
            cookie.my_initial_tsn,
            self.config.send_buffer_size,
        );
        self.establish_from_cookie(cookie);
        self.t3 = None;
        self.t2 = None;
        self.delayed_ack = None;
        self.ack_pending = false;
        self.ack_immediately = false;
        self.heartbeat_outstanding = None;
        self.control.clear();
        self.state = State::Established;
        self.error_count = 0;
        self.events.push_back(Event::Restarted);
        self.heartbeat_at = self.config.heartbeat_interval.map(|i| now + i);
    }
}
