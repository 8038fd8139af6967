//! The association state machine (RFC 9260), sans-IO.

mod config;
mod cookie;
mod event;
mod handshake;
mod inbound;
mod outbound;
mod reconfig;
mod rto;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

pub use config::Config;
pub use event::{AbortReason, Event, State};

use inbound::{DataMeta, Inbound};
use outbound::Outbound;
use reconfig::{HeldChunk, StreamReset};
use rto::Rto;

use crate::chunk::{
    AbortChunk, ChunkType, Chunks, DataChunk, ErrorChunk, ForwardTsnChunk, GapAckBlock,
    HeartbeatChunk, RawChunk, ReconfigChunk, SackChunk, ShutdownAckChunk, ShutdownChunk,
    ShutdownCompleteChunk,
};
use crate::error_cause::{ErrorCause, ErrorCauseCode};
use crate::packet::{set_checksum, CommonHeader, Packet, COMMON_HEADER_LEN};
use crate::{Error, Ppid};

/// How long a message may keep trying (RFC 3758 partial reliability).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartialReliability {
    /// Fully reliable.
    #[default]
    None,
    /// Abandoned after this many retransmissions (0: sent once).
    MaxRetransmits(u32),
    /// Abandoned when not delivered within this time after `send`.
    MaxLifetime(Duration),
}

/// Per-message options of [`Association::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SendOptions {
    /// Deliver as soon as complete, not in stream order.
    pub unordered: bool,
    /// Partial reliability. Without the peer's FORWARD-TSN support messages are sent reliably
    /// (except that a lifetime still drops messages that have not left the queue).
    pub reliability: PartialReliability,
}

/// Counters and current values of an association.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Packets handed out by `poll_transmit`.
    pub packets_sent: u64,
    /// Packets given to `handle_receive`.
    pub packets_received: u64,
    /// Received packets dropped (malformed, bad checksum, wrong tag or state).
    pub packets_dropped: u64,
    /// DATA chunks sent for the first time.
    pub data_chunks_sent: u64,
    /// DATA chunks received (duplicates included).
    pub data_chunks_received: u64,
    /// DATA chunks received more than once.
    pub duplicate_data_chunks: u64,
    /// DATA chunks dropped because the receive buffer was full.
    pub data_chunks_dropped_window: u64,
    /// DATA chunk retransmissions (T3-rtx and fast retransmit).
    pub retransmitted_chunks: u64,
    /// Chunks marked by fast retransmit.
    pub fast_retransmits: u64,
    /// T3-rtx expirations.
    pub t3_expirations: u64,
    /// Messages abandoned (partial reliability).
    pub abandoned_messages: u64,
    /// Incoming messages discarded for exceeding `max_message_size`.
    pub oversized_messages: u64,
    /// Congestion window, bytes.
    pub cwnd: usize,
    /// Unacknowledged bytes in flight.
    pub flight_size: usize,
    /// The peer's receive window as last computed.
    pub peer_rwnd: usize,
    /// Smoothed round-trip time, once measured.
    pub srtt: Option<Duration>,
    /// Current retransmission timeout.
    pub rto: Duration,
}

#[derive(Debug, Default)]
struct Counters {
    packets_sent: u64,
    packets_received: u64,
    packets_dropped: u64,
    data_chunks_received: u64,
    duplicate_data_chunks: u64,
    data_chunks_dropped_window: u64,
    t3_expirations: u64,
}

/// One SCTP association, driven by the caller: feed it received packets and timeouts, drain
/// the packets it wants to send, the events it reports and the next time it wants to be
/// woken.
///
/// Every method taking `now` expects a monotonic time that never goes backwards. After any
/// call that mutates the association (including `poll_event`, which may open the receive
/// window), drain [`poll_event`](Self::poll_event) and
/// [`poll_transmit`](Self::poll_transmit), then wait until
/// [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub struct Association {
    config: Config,
    state: State,
    rng: StdRng,
    cookie_key: [u8; 32],
    epoch: Instant,
    my_tag: u32,
    peer_tag: u32,
    my_initial_tsn: u32,
    peer_max_message_size: usize,
    peer_forward_tsn: bool,
    peer_reconfig: bool,
    outbound_stream_count: u16,
    inbound_stream_count: u16,

    t1: Option<Instant>,
    t1_timeout: Duration,
    t1_retransmits: u32,
    cookie_echo: Vec<u8>,

    out: Outbound,
    inb: Inbound,
    reset: StreamReset,
    rto: Rto,

    t3: Option<Instant>,
    t3_started: Instant,
    t2: Option<Instant>,
    delayed_ack: Option<Instant>,
    heartbeat_at: Option<Instant>,
    heartbeat_outstanding: Option<(u64, Instant)>,
    error_count: u32,
    last_sack_at: Option<Instant>,

    ack_pending: bool,
    ack_immediately: bool,
    packets_since_ack: u32,
    last_advertised_rwnd: usize,
    scratch_blocks: Vec<GapAckBlock>,
    scratch_dups: Vec<u32>,

    pending_packets: VecDeque<Vec<u8>>,
    control: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    unread_bytes: usize,
    counters: Counters,
}

impl Association {
    /// The active side: sends an INIT at once. In WebRTC both peers usually connect at the
    /// same time; the INIT collision is resolved by RFC 9260 §5.2.
    pub fn client(config: Config, now: Instant) -> Result<Self, Error> {
        let mut assoc = Self::new(config, now, State::CookieWait)?;
        assoc.send_init();
        assoc.t1 = Some(now + assoc.t1_timeout);
        Ok(assoc)
    }

    /// The passive side: waits for the peer's INIT.
    pub fn server(config: Config, now: Instant) -> Result<Self, Error> {
        Self::new(config, now, State::Listen)
    }

    fn new(config: Config, now: Instant, state: State) -> Result<Self, Error> {
        config.validate()?;
        let mut rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        let mut cookie_key = [0u8; 32];
        rng.fill_bytes(&mut cookie_key);
        let mut my_tag = 0;
        while my_tag == 0 {
            my_tag = rng.gen();
        }
        let my_initial_tsn: u32 = rng.gen();
        let rto = Rto::new(config.rto_initial, config.rto_min, config.rto_max);
        Ok(Self {
            out: Outbound::new(config.max_packet_size, my_initial_tsn, config.send_buffer_size),
            inb: Inbound::new(0, config.max_message_size),
            reset: StreamReset::new(my_initial_tsn, 0),
            rto,
            state,
            rng,
            cookie_key,
            epoch: now,
            my_tag,
            peer_tag: 0,
            my_initial_tsn,
            peer_max_message_size: config.peer_max_message_size,
            peer_forward_tsn: false,
            peer_reconfig: false,
            outbound_stream_count: config.outbound_streams,
            inbound_stream_count: config.inbound_streams,
            t1: None,
            t1_timeout: config.rto_initial,
            t1_retransmits: 0,
            cookie_echo: Vec::new(),
            t3: None,
            t3_started: now,
            t2: None,
            delayed_ack: None,
            heartbeat_at: None,
            heartbeat_outstanding: None,
            error_count: 0,
            last_sack_at: None,
            ack_pending: false,
            ack_immediately: false,
            packets_since_ack: 0,
            last_advertised_rwnd: config.receive_buffer_size,
            scratch_blocks: Vec::new(),
            scratch_dups: Vec::new(),
            pending_packets: VecDeque::new(),
            control: VecDeque::new(),
            events: VecDeque::new(),
            unread_bytes: 0,
            counters: Counters::default(),
            config,
        })
    }

    // ----- queries -----

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Messages can be sent and received.
    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    /// The association has terminated (after [`Event::Closed`] or [`Event::Aborted`]).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Outbound streams usable (negotiated once established).
    pub fn outbound_streams(&self) -> u16 {
        self.outbound_stream_count
    }

    /// Inbound streams accepted (negotiated once established).
    pub fn inbound_streams(&self) -> u16 {
        self.inbound_stream_count
    }

    /// The peer announced FORWARD-TSN (partial reliability) support.
    pub fn peer_supports_partial_reliability(&self) -> bool {
        self.peer_forward_tsn
    }

    /// The peer announced RE-CONFIG (stream reset) support.
    pub fn peer_supports_stream_reset(&self) -> bool {
        self.peer_reconfig
    }

    /// The peer's maximum message size used to refuse large sends.
    pub fn peer_max_message_size(&self) -> usize {
        self.peer_max_message_size
    }

    /// Sets the peer's maximum message size (its SDP `a=max-message-size`; 0 there means
    /// unlimited, pass `usize::MAX`).
    pub fn set_peer_max_message_size(&mut self, size: usize) {
        self.peer_max_message_size = size;
    }

    /// Bytes of `stream` queued or in flight, not yet acknowledged.
    pub fn buffered_amount(&self, stream: u16) -> usize {
        self.out.buffered_amount(stream)
    }

    /// Bytes queued or in flight over all streams.
    pub fn total_buffered_amount(&self) -> usize {
        self.out.buffered_total()
    }

    /// [`Event::BufferedAmountLow`] is reported when the buffered amount of `stream` falls
    /// from above `threshold` to `threshold` or below (default 0).
    pub fn set_buffered_amount_low_threshold(&mut self, stream: u16, threshold: usize) {
        self.out.set_low_threshold(stream, threshold);
    }

    /// Counters and current values.
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        let o = &self.out.counters;
        Stats {
            packets_sent: c.packets_sent,
            packets_received: c.packets_received,
            packets_dropped: c.packets_dropped,
            data_chunks_sent: o.data_chunks_sent,
            data_chunks_received: c.data_chunks_received,
            duplicate_data_chunks: c.duplicate_data_chunks,
            data_chunks_dropped_window: c.data_chunks_dropped_window,
            retransmitted_chunks: o.retransmitted_chunks,
            fast_retransmits: o.fast_retransmits,
            t3_expirations: c.t3_expirations,
            abandoned_messages: o.abandoned_messages,
            oversized_messages: self.inb.oversized_messages,
            cwnd: self.out.cwnd(),
            flight_size: self.out.flight_size(),
            peer_rwnd: self.out.peer_rwnd(),
            srtt: self.rto.srtt(),
            rto: self.rto.rto(),
        }
    }

    // ----- user operations -----

    /// Queues a message on `stream`.
    ///
    /// Fails without queueing anything when the message is empty, larger than the peer's
    /// maximum message size, on a stream outside the negotiated range or being reset, when
    /// the association is shutting down or closed, or when the send buffer is full
    /// ([`Error::WouldBlock`]: retry after [`Event::Writable`]). Messages sent before the
    /// association is established wait for it.
    pub fn send(
        &mut self,
        now: Instant,
        stream: u16,
        ppid: Ppid,
        data: &[u8],
        options: SendOptions,
    ) -> Result<(), Error> {
        match self.state {
            State::Listen | State::CookieWait | State::CookieEchoed | State::Established => {}
            State::Closed => return Err(Error::InvalidState("association closed")),
            _ => return Err(Error::InvalidState("association shutting down")),
        }
        if data.is_empty() {
            return Err(Error::EmptyMessage);
        }
        if data.len() > self.peer_max_message_size {
            return Err(Error::MessageTooLarge {
                size: data.len(),
                max: self.peer_max_message_size,
            });
        }
        if stream >= self.outbound_stream_count {
            return Err(Error::InvalidStream("stream id beyond the negotiated stream count"));
        }
        self.out.enqueue(now, stream, ppid, data, options.unordered, options.reliability)
    }

    /// Resets our outgoing `streams` (RFC 6525): each is reset after every message already
    /// queued on it has been sent, so nothing queued is lost. New messages on them are
    /// refused until [`Event::StreamResetComplete`] (or [`Event::StreamResetFailed`]).
    pub fn reset_streams(&mut self, now: Instant, streams: &[u16]) -> Result<(), Error> {
        let _ = now;
        if self.state != State::Established {
            return Err(Error::InvalidState("streams can be reset only when established"));
        }
        if !self.peer_reconfig {
            return Err(Error::Unsupported("the peer did not announce RE-CONFIG (RFC 6525)"));
        }
        if streams.is_empty() {
            return Err(Error::InvalidInput("no stream to reset"));
        }
        if streams.iter().any(|&s| s >= self.outbound_stream_count) {
            return Err(Error::InvalidStream("stream id beyond the negotiated stream count"));
        }
        for &s in streams {
            if !self.out.is_resetting(s) {
                self.out.set_resetting(&[s], true);
                self.reset.pending.push(s);
            }
        }
        Ok(())
    }

    /// Closes gracefully (RFC 9260 §9.2): everything queued is delivered first, then
    /// SHUTDOWN, SHUTDOWN-ACK, SHUTDOWN-COMPLETE and [`Event::Closed`]. Before the handshake
    /// completes this simply ends the association.
    pub fn shutdown(&mut self, now: Instant) {
        match self.state {
            State::Listen | State::CookieWait => self.close(Event::Closed),
            State::CookieEchoed => {
                self.abort_with(ErrorCauseCode::USER_INITIATED_ABORT, &[], AbortReason::LocalAbort);
            }
            State::Established => {
                tracing::debug!("shutdown requested");
                self.state = State::ShutdownPending;
                self.progress_shutdown(now);
            }
            _ => {}
        }
    }

    /// Ends the association at once with an ABORT (RFC 9260 §9.1); queued data is
    /// discarded and [`Event::Aborted`] reports [`AbortReason::LocalAbort`].
    pub fn abort(&mut self, now: Instant) {
        let _ = now;
        if self.state != State::Closed {
            self.abort_with(ErrorCauseCode::USER_INITIATED_ABORT, &[], AbortReason::LocalAbort);
        }
    }

    // ----- I/O verbs -----

    /// Processes one received SCTP packet (one DTLS record). A packet that is malformed or
    /// not for this association is dropped, counted, and reported as an error; the
    /// association carries on.
    pub fn handle_receive(&mut self, now: Instant, packet: &[u8]) -> Result<(), Error> {
        self.counters.packets_received += 1;
        let result = self.receive(now, packet);
        if let Err(e) = &result {
            self.counters.packets_dropped += 1;
            tracing::trace!(error = %e, "packet dropped");
        }
        result
    }

    /// Handles the timers that expired at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if self.state == State::Closed {
            return;
        }
        if due(self.t1) {
            self.on_t1_timeout(now);
        }
        if due(self.t3) {
            self.on_t3_timeout(now);
        }
        if due(self.t2) {
            self.on_t2_timeout(now);
        }
        if due(self.delayed_ack) {
            self.delayed_ack = None;
            if self.ack_pending {
                self.ack_immediately = true;
            }
        }
        if due(self.reset.timer) && self.state != State::Closed {
            self.on_reconfig_timeout(now);
        }
        if due(self.heartbeat_at) && self.state != State::Closed {
            self.on_heartbeat_timer(now);
        }
    }

    /// The next packet to send, if any.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        let mut buf = Vec::with_capacity(self.config.max_packet_size);
        self.poll_transmit_into(now, &mut buf).then_some(buf)
    }

    /// Writes the next packet to send into `buf` (cleared first; reuse it to avoid
    /// allocating). Returns `false` when there is nothing to send.
    pub fn poll_transmit_into(&mut self, now: Instant, buf: &mut Vec<u8>) -> bool {
        buf.clear();
        if let Some(packet) = self.pending_packets.pop_front() {
            buf.extend_from_slice(&packet);
            self.counters.packets_sent += 1;
            return true;
        }
        if !matches!(
            self.state,
            State::Established
                | State::ShutdownPending
                | State::ShutdownSent
                | State::ShutdownReceived
                | State::ShutdownAckSent
        ) {
            return false;
        }
        let limit = self.config.max_packet_size;
        CommonHeader {
            source_port: self.config.local_port,
            destination_port: self.config.remote_port,
            verification_tag: self.peer_tag,
        }
        .write_to(buf);
        let data_allowed = matches!(
            self.state,
            State::Established | State::ShutdownPending | State::ShutdownReceived
        );
        if self.state == State::Established {
            self.prepare_reset_request();
        }
        let others = !self.control.is_empty()
            || (self.peer_forward_tsn && self.out.needs_forward_tsn())
            || self.reset.send_request
            || (data_allowed && self.out.can_send());
        if self.ack_immediately || (self.ack_pending && others) {
            self.write_sack(buf, limit);
        }
        while let Some(chunk) = self.control.front() {
            if buf.len() + chunk.len() > limit && buf.len() > COMMON_HEADER_LEN {
                break;
            }
            buf.extend_from_slice(chunk);
            self.control.pop_front();
        }
        if self.peer_forward_tsn {
            self.out.write_forward_tsn(buf, limit);
        }
        if self.reset.send_request && buf.len() + 64 <= limit {
            self.write_reset_request(now, buf);
        }
        if data_allowed {
            let written = self.out.write_data(now, buf, limit, &mut self.events);
            if written > 0 {
                if self.t3.is_none() {
                    // RFC 9260 §6.3.2 R1.
                    self.t3 = Some(now + self.rto.rto());
                    self.t3_started = now;
                }
                if self.heartbeat_outstanding.is_none() {
                    self.heartbeat_at = self.config.heartbeat_interval.map(|i| now + i);
                }
            }
        }
        if buf.len() == COMMON_HEADER_LEN {
            buf.clear();
            return false;
        }
        set_checksum(buf);
        self.counters.packets_sent += 1;
        true
    }

    /// The next event, if any. Taking a message out frees receive buffer space, which may
    /// queue a window update: call `poll_transmit` afterwards.
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front()?;
        if let Event::Message { data, .. } = &event {
            self.unread_bytes -= data.len();
            if self.ack_allowed() {
                let window = self.receive_window();
                if window >= self.last_advertised_rwnd + self.config.receive_buffer_size / 4 {
                    // RFC 9260 §6.2: tell a sender blocked by our window that it opened.
                    self.ack_immediately = true;
                }
            }
        }
        Some(event)
    }

    /// When `handle_timeout` should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        let delayed_ack = if self.ack_pending { self.delayed_ack } else { None };
        [self.t1, self.t3, self.t2, delayed_ack, self.reset.timer, self.heartbeat_at]
            .into_iter()
            .flatten()
            .min()
    }

    // ----- receive path -----

    fn receive(&mut self, now: Instant, bytes: &[u8]) -> Result<(), Error> {
        let packet = Packet::parse(bytes)?;
        packet.verify_checksum()?;
        if packet.destination_port() != self.config.local_port
            || packet.source_port() != self.config.remote_port
        {
            return Err(Error::Dropped("unexpected SCTP ports"));
        }
        let vtag = packet.verification_tag();
        let chunks = packet.chunks();
        let first = match chunks.clone().next() {
            None => return Ok(()),
            Some(first) => first?,
        };
        if self.state == State::Closed {
            // RFC 9260 §8.4 rule 5: our SHUTDOWN-COMPLETE was lost and the peer repeats its
            // SHUTDOWN-ACK; answer with the reflected tag so that it closes too.
            if first.chunk_type == ChunkType::SHUTDOWN_ACK && vtag == self.my_tag {
                self.send_reflected(vtag, |out| {
                    ShutdownCompleteChunk { reflected_tag: true }.write_to(out)
                });
            }
            return Err(Error::Dropped("association closed"));
        }
        if first.chunk_type == ChunkType::INIT {
            // RFC 9260 §8.5.1 A and §6.10.
            if vtag != 0 {
                return Err(Error::Dropped("INIT with a non-zero verification tag"));
            }
            if chunks.count() != 1 {
                return Err(Error::Dropped("INIT bundled with other chunks"));
            }
            return self.handle_init(now, &first);
        }
        self.check_verification_tag(vtag, &first)?;

        let mut had_data = false;
        let mut immediate = false;
        let result = self.process_chunks(now, vtag, chunks, &mut had_data, &mut immediate);
        if had_data && self.state != State::Closed {
            self.after_data(now, immediate);
        }
        if self.state != State::Closed {
            self.check_deferred_reset();
            self.progress_shutdown(now);
        }
        result
    }

    fn process_chunks(
        &mut self,
        now: Instant,
        vtag: u32,
        chunks: Chunks<'_>,
        had_data: &mut bool,
        immediate: &mut bool,
    ) -> Result<(), Error> {
        for (index, chunk) in chunks.enumerate() {
            let chunk = chunk?;
            if self.state == State::Closed {
                break;
            }
            match chunk.chunk_type {
                ChunkType::DATA => {
                    *had_data = true;
                    *immediate |= self.handle_data(now, &chunk)?;
                }
                ChunkType::SACK => self.handle_sack(now, &chunk)?,
                ChunkType::HEARTBEAT => self.handle_heartbeat(&chunk)?,
                ChunkType::HEARTBEAT_ACK => self.handle_heartbeat_ack(now, &chunk)?,
                ChunkType::ABORT => {
                    self.handle_abort(&chunk)?;
                    break;
                }
                ChunkType::SHUTDOWN => self.handle_shutdown(now, &chunk)?,
                ChunkType::SHUTDOWN_ACK => self.handle_shutdown_ack(&chunk)?,
                ChunkType::SHUTDOWN_COMPLETE => {
                    ShutdownCompleteChunk::parse(&chunk)?;
                    if self.state == State::ShutdownAckSent {
                        self.close(Event::Closed);
                    }
                    break;
                }
                ChunkType::ERROR => self.handle_error(now, &chunk)?,
                ChunkType::COOKIE_ECHO => {
                    // RFC 9260 §6.10: COOKIE-ECHO is the first chunk of its packet.
                    if index == 0 && !self.handle_cookie_echo(now, vtag, &chunk)? {
                        break;
                    }
                }
                ChunkType::COOKIE_ACK => self.handle_cookie_ack(now),
                ChunkType::INIT_ACK => return self.handle_init_ack(now, &chunk),
                ChunkType::INIT => return Err(Error::Dropped("INIT bundled with other chunks")),
                ChunkType::FORWARD_TSN => {
                    *had_data = true;
                    *immediate = true;
                    self.handle_forward_tsn(&chunk)?;
                }
                ChunkType::RE_CONFIG => {
                    if self.ack_allowed() {
                        let reconfig = ReconfigChunk::parse(&chunk)?;
                        self.handle_reconfig(now, &reconfig);
                    }
                }
                other => {
                    // RFC 9260 §3.2.
                    let action = other.unrecognized_action();
                    if action.reports() {
                        self.report_unrecognized_chunk(&chunk);
                    }
                    if !action.skips() {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// RFC 9260 §8.5 and §8.5.1, and out-of-the-blue packets (§8.4) while listening.
    fn check_verification_tag(&mut self, vtag: u32, first: &RawChunk<'_>) -> Result<(), Error> {
        let t_bit = first.flags & 0x01 != 0;
        if self.state == State::Listen {
            return match first.chunk_type {
                ChunkType::COOKIE_ECHO => Ok(()),
                ChunkType::ABORT | ChunkType::SHUTDOWN_COMPLETE => {
                    Err(Error::Dropped("out-of-the-blue ABORT or SHUTDOWN-COMPLETE"))
                }
                ChunkType::SHUTDOWN_ACK => {
                    self.send_reflected(vtag, |out| {
                        ShutdownCompleteChunk { reflected_tag: true }.write_to(out)
                    });
                    Err(Error::Dropped("out-of-the-blue SHUTDOWN-ACK"))
                }
                _ => {
                    self.send_reflected(vtag, |out| {
                        AbortChunk { reflected_tag: true, causes: &[] }.write_to(out)
                    });
                    Err(Error::Dropped("out-of-the-blue packet"))
                }
            };
        }
        let ok = match first.chunk_type {
            ChunkType::ABORT | ChunkType::SHUTDOWN_COMPLETE if t_bit => {
                self.peer_tag != 0 && vtag == self.peer_tag
            }
            ChunkType::COOKIE_ECHO => true,
            ChunkType::SHUTDOWN_ACK
                if matches!(self.state, State::CookieWait | State::CookieEchoed) =>
            {
                // RFC 9260 §8.5.1 E: treated as out of the blue.
                self.send_reflected(vtag, |out| {
                    ShutdownCompleteChunk { reflected_tag: true }.write_to(out)
                });
                return Err(Error::Dropped("SHUTDOWN-ACK during the handshake"));
            }
            _ => vtag == self.my_tag,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::Dropped("verification tag mismatch"))
        }
    }

    /// The states in which the peer's data is accepted and acknowledged.
    fn ack_allowed(&self) -> bool {
        matches!(
            self.state,
            State::Established
                | State::ShutdownPending
                | State::ShutdownSent
                | State::ShutdownReceived
        )
    }

    /// Free receive buffer: what a_rwnd announces.
    fn receive_window(&self) -> usize {
        let used = self.inb.buffered() + self.unread_bytes + self.reset.held_bytes;
        self.config.receive_buffer_size.saturating_sub(used)
    }

    /// A DATA chunk; returns whether it calls for an immediate SACK.
    fn handle_data(&mut self, now: Instant, raw: &RawChunk<'_>) -> Result<bool, Error> {
        let _ = now;
        if !self.ack_allowed() {
            return Ok(false);
        }
        let d = DataChunk::parse(raw)?;
        self.counters.data_chunks_received += 1;
        if d.payload.is_empty() {
            // RFC 9260 §6.2.
            self.abort_with(
                ErrorCauseCode::NO_USER_DATA,
                &d.tsn.to_be_bytes(),
                AbortReason::ProtocolViolation("DATA chunk without user data"),
            );
            return Ok(true);
        }
        let tsn = self.inb.unwrap(d.tsn);
        if self.inb.is_duplicate(tsn) {
            self.inb.note_duplicate(d.tsn);
            self.counters.duplicate_data_chunks += 1;
            return Ok(true);
        }
        // RFC 9260 §6.2: with the window closed, only TSNs filling holes are accepted. A
        // chunk larger than what is left of an open window is taken (the sender may send
        // while the window is not zero), so the buffer overshoots by at most one chunk.
        if self.receive_window() == 0 && tsn > self.inb.highest() {
            self.counters.data_chunks_dropped_window += 1;
            return Ok(true);
        }
        let immediate = d.immediate || tsn != self.inb.cum() + 1;
        if d.stream >= self.inbound_stream_count {
            // RFC 9260 §6.5: acknowledge, report, discard.
            self.inb.record(tsn);
            let s = d.stream.to_be_bytes();
            let info = [s[0], s[1], 0, 0];
            let mut causes = Vec::with_capacity(8);
            let _ = ErrorCause { code: ErrorCauseCode::INVALID_STREAM_IDENTIFIER, info: &info }
                .write_to(&mut causes);
            self.queue_control(|out| ErrorChunk { causes: &causes }.write_to(out));
            return Ok(true);
        }
        let meta = DataMeta {
            tsn,
            stream: d.stream,
            ssn: d.ssn,
            ppid: d.ppid,
            unordered: d.unordered,
            beginning: d.beginning,
            ending: d.ending,
        };
        self.inb.record(tsn);
        if self.reset.must_hold(d.stream, tsn) {
            self.reset.held_bytes += d.payload.len();
            self.reset.held.push(HeldChunk { meta, payload: d.payload.to_vec() });
            return Ok(immediate);
        }
        let delivered = self.inb.reassemble(meta, d.payload, &mut self.events);
        self.unread_bytes += delivered;
        Ok(immediate)
    }

    /// Schedules the SACK for a packet that carried DATA (RFC 9260 §6.2: at least every
    /// second packet, at once on gaps and duplicates, otherwise within the delayed-ack time).
    fn after_data(&mut self, now: Instant, immediate: bool) {
        if !self.ack_allowed() {
            return;
        }
        self.ack_pending = true;
        self.packets_since_ack += 1;
        if immediate || self.packets_since_ack >= 2 || self.inb.has_gaps() {
            self.ack_immediately = true;
            self.delayed_ack = None;
        } else if self.delayed_ack.is_none() {
            self.delayed_ack = Some(now + self.config.delayed_ack_timeout);
        }
        if self.state == State::ShutdownSent {
            // RFC 9260 §9.2: answer data with SACK and SHUTDOWN, restart T2.
            self.ack_immediately = true;
            self.queue_shutdown();
            self.t2 = Some(now + self.rto.rto());
        }
    }

    fn write_sack(&mut self, buf: &mut Vec<u8>, limit: usize) {
        let room = limit.saturating_sub(buf.len() + SackChunk::FIXED_LEN);
        self.inb.take_duplicates(&mut self.scratch_dups);
        self.scratch_dups.truncate(room / 8);
        let max_blocks = (room - 4 * self.scratch_dups.len()) / 4;
        self.inb.gap_blocks(max_blocks, &mut self.scratch_blocks);
        let window = self.receive_window();
        let written = SackChunk::write(
            buf,
            self.inb.cum() as u32,
            window as u32,
            &self.scratch_blocks,
            &self.scratch_dups,
        );
        if written.is_ok() {
            self.last_advertised_rwnd = window;
            self.ack_pending = false;
            self.ack_immediately = false;
            self.packets_since_ack = 0;
            self.delayed_ack = None;
        }
    }

    fn handle_sack(&mut self, now: Instant, raw: &RawChunk<'_>) -> Result<(), Error> {
        let sack = SackChunk::parse(raw)?;
        if !self.ack_allowed() {
            return Ok(());
        }
        self.last_sack_at = Some(now);
        let outcome = self.out.handle_sack(
            now,
            sack.cum_tsn_ack,
            Some(sack.a_rwnd),
            sack.gap_blocks(),
            &mut self.events,
        )?;
        if (sack.a_rwnd as usize) < self.config.max_packet_size {
            // RFC 9260 §6.1 A: a peer that answers zero-window probes is alive, even though
            // it acknowledges nothing new while its window stays closed.
            self.error_count = 0;
        }
        self.after_ack(now, outcome);
        Ok(())
    }

    fn after_ack(&mut self, now: Instant, outcome: outbound::SackOutcome) {
        if let Some(rtt) = outcome.rtt {
            self.rto.on_measurement(rtt);
        }
        if outcome.acked_new_data {
            self.error_count = 0;
        }
        if !self.out.has_outstanding() {
            // RFC 9260 §6.3.2 R2.
            self.t3 = None;
        } else if outcome.cum_advanced || self.t3.is_none() {
            // R3 (and R4).
            self.t3 = Some(now + self.rto.rto());
            self.t3_started = now;
        }
    }

    fn handle_forward_tsn(&mut self, raw: &RawChunk<'_>) -> Result<(), Error> {
        let f = ForwardTsnChunk::parse(raw)?;
        if !self.ack_allowed() {
            return Ok(());
        }
        let new_cum = self.inb.unwrap(f.new_cum_tsn);
        let delivered = self.inb.forward_tsn(new_cum, f.streams(), &mut self.events);
        self.unread_bytes += delivered;
        Ok(())
    }

    fn handle_heartbeat(&mut self, raw: &RawChunk<'_>) -> Result<(), Error> {
        let hb = HeartbeatChunk::parse(raw)?;
        if !self.ack_allowed() && self.state != State::ShutdownAckSent {
            return Ok(());
        }
        // RFC 9260 §8.3: reflect the information unchanged.
        self.queue_control(|out| hb.write_to(ChunkType::HEARTBEAT_ACK, out));
        Ok(())
    }

    fn handle_heartbeat_ack(&mut self, now: Instant, raw: &RawChunk<'_>) -> Result<(), Error> {
        let hb = HeartbeatChunk::parse(raw)?;
        let Some((nonce, sent_at)) = self.heartbeat_outstanding else {
            return Ok(());
        };
        if hb.info != nonce.to_be_bytes() {
            return Err(Error::Dropped("HEARTBEAT-ACK for an unknown HEARTBEAT"));
        }
        self.heartbeat_outstanding = None;
        self.error_count = 0;
        self.rto.on_measurement(now.saturating_duration_since(sent_at));
        self.heartbeat_at = self.config.heartbeat_interval.map(|i| now + i);
        Ok(())
    }

    fn handle_abort(&mut self, raw: &RawChunk<'_>) -> Result<(), Error> {
        let abort = AbortChunk::parse(raw)?;
        let cause = abort.causes().next().and_then(Result::ok).map(|c| c.code);
        tracing::info!(?cause, "peer aborted the association");
        self.close(Event::Aborted(AbortReason::PeerAbort { cause }));
        Ok(())
    }

    fn handle_shutdown(&mut self, now: Instant, raw: &RawChunk<'_>) -> Result<(), Error> {
        let shutdown = ShutdownChunk::parse(raw)?;
        match self.state {
            State::Established | State::ShutdownPending | State::ShutdownReceived => {
                let outcome = self.out.handle_sack(
                    now,
                    shutdown.cum_tsn_ack,
                    None,
                    std::iter::empty(),
                    &mut self.events,
                )?;
                self.after_ack(now, outcome);
                if self.state != State::ShutdownReceived {
                    tracing::debug!("peer shuts down");
                    self.state = State::ShutdownReceived;
                }
            }
            State::ShutdownSent => {
                // RFC 9260 §9.2: both sides shut down at once.
                self.queue_control(|out| ShutdownAckChunk.write_to(out));
                self.state = State::ShutdownAckSent;
                self.t2 = Some(now + self.rto.rto());
            }
            _ => {}
        }
        Ok(())
    }

    fn handle_shutdown_ack(&mut self, raw: &RawChunk<'_>) -> Result<(), Error> {
        ShutdownAckChunk::parse(raw)?;
        if matches!(self.state, State::ShutdownSent | State::ShutdownAckSent) {
            let mut packet = self.packet_header(self.peer_tag);
            if (ShutdownCompleteChunk { reflected_tag: false }).write_to(&mut packet).is_ok() {
                set_checksum(&mut packet);
                self.pending_packets.push_back(packet);
            }
            tracing::info!("association closed");
            self.close(Event::Closed);
        }
        Ok(())
    }

    fn handle_error(&mut self, now: Instant, raw: &RawChunk<'_>) -> Result<(), Error> {
        let error = ErrorChunk::parse(raw)?;
        for cause in error.causes() {
            let Ok(cause) = cause else {
                break;
            };
            match cause.code {
                ErrorCauseCode::STALE_COOKIE if self.state == State::CookieEchoed => {
                    // RFC 9260 §5.2.6: start over with a new INIT. The peer may have become
                    // established with our old tag (all its COOKIE-ACKs lost): a new tag makes
                    // it see a restart (§5.2.4 case A) instead of a cookie it must discard.
                    tracing::debug!("stale cookie, restarting the handshake");
                    self.state = State::CookieWait;
                    self.peer_tag = 0;
                    let old = self.my_tag;
                    while self.my_tag == old {
                        self.my_tag = self.random_tag();
                    }
                    self.t1_retransmits += 1;
                    if self.t1_retransmits > self.config.max_init_retransmissions {
                        self.close(Event::Aborted(AbortReason::HandshakeTimeout));
                        return Ok(());
                    }
                    self.send_init();
                    self.t1 = Some(now + self.t1_timeout);
                }
                ErrorCauseCode::UNRECOGNIZED_CHUNK_TYPE => match cause.info.first() {
                    Some(&t) if ChunkType(t) == ChunkType::RE_CONFIG => {
                        self.peer_reconfig = false;
                    }
                    Some(&t) if ChunkType(t) == ChunkType::FORWARD_TSN => {
                        self.peer_forward_tsn = false;
                        self.out.set_pr_supported(false);
                    }
                    _ => {}
                },
                code => tracing::debug!(?code, "peer reported an error"),
            }
        }
        Ok(())
    }

    fn report_unrecognized_chunk(&mut self, raw: &RawChunk<'_>) {
        if self.peer_tag == 0 {
            return;
        }
        let max = self.config.max_packet_size - COMMON_HEADER_LEN - 8;
        let info = &raw.bytes[..raw.bytes.len().min(max)];
        let mut causes = Vec::with_capacity(info.len() + 8);
        let _ = ErrorCause { code: ErrorCauseCode::UNRECOGNIZED_CHUNK_TYPE, info }
            .write_to(&mut causes);
        self.queue_control(|out| ErrorChunk { causes: &causes }.write_to(out));
    }

    // ----- shutdown, abort, timers -----

    fn queue_shutdown(&mut self) {
        let cum_tsn_ack = self.inb.cum() as u32;
        self.queue_control(|out| ShutdownChunk { cum_tsn_ack }.write_to(out));
    }

    /// Sends SHUTDOWN or SHUTDOWN-ACK once our data is all acknowledged (RFC 9260 §9.2).
    fn progress_shutdown(&mut self, now: Instant) {
        match self.state {
            State::ShutdownPending if self.out.is_idle() => {
                self.queue_shutdown();
                self.state = State::ShutdownSent;
                self.t3 = None;
                self.t2 = Some(now + self.rto.rto());
            }
            State::ShutdownReceived if self.out.is_idle() => {
                self.queue_control(|out| ShutdownAckChunk.write_to(out));
                self.state = State::ShutdownAckSent;
                self.t3 = None;
                self.t2 = Some(now + self.rto.rto());
            }
            _ => {}
        }
    }

    fn on_t2_timeout(&mut self, now: Instant) {
        self.t2 = None;
        self.error_count += 1;
        if self.check_path_failure(now) {
            return;
        }
        self.rto.back_off();
        match self.state {
            State::ShutdownSent => self.queue_shutdown(),
            State::ShutdownAckSent => self.queue_control(|out| ShutdownAckChunk.write_to(out)),
            _ => return,
        }
        self.t2 = Some(now + self.rto.rto());
    }

    fn on_t3_timeout(&mut self, now: Instant) {
        self.t3 = None;
        self.counters.t3_expirations += 1;
        // RFC 9260 §6.1 A: unanswered zero-window probes do not count as errors while the
        // peer keeps acknowledging (a window too small for a full chunk counts as closed).
        let probing = self.out.last_advertised_window() < self.config.max_packet_size
            && self.last_sack_at.is_some_and(|t| t >= self.t3_started);
        if !probing {
            self.error_count += 1;
            if self.check_path_failure(now) {
                return;
            }
        }
        self.rto.back_off();
        self.out.on_t3_expiry(now, &mut self.events);
        if self.out.has_outstanding() {
            self.t3 = Some(now + self.rto.rto());
            self.t3_started = now;
        }
        tracing::debug!(rto = ?self.rto.rto(), errors = self.error_count, "T3-rtx expired");
    }

    fn on_heartbeat_timer(&mut self, now: Instant) {
        self.heartbeat_at = None;
        let Some(interval) = self.config.heartbeat_interval else {
            return;
        };
        if !matches!(self.state, State::Established | State::ShutdownPending) {
            return;
        }
        if self.heartbeat_outstanding.is_some() {
            // RFC 9260 §8.3: an unanswered HEARTBEAT counts as an error.
            self.error_count += 1;
            if self.check_path_failure(now) {
                return;
            }
            self.rto.back_off();
        } else if self.out.has_outstanding() {
            // Not idle: T3-rtx watches the path.
            self.heartbeat_at = Some(now + interval);
            return;
        } else {
            // RFC 9260 §7.2.1: the window decays on an idle path.
            self.out.on_idle();
        }
        let nonce: u64 = self.rng.gen();
        self.queue_control(|out| {
            HeartbeatChunk { info: &nonce.to_be_bytes() }.write_to(ChunkType::HEARTBEAT, out)
        });
        self.heartbeat_outstanding = Some((nonce, now));
        self.heartbeat_at = Some(now + self.rto.rto());
    }

    /// RFC 9260 §8.1: too many consecutive timeouts mean the peer is unreachable.
    fn check_path_failure(&mut self, _now: Instant) -> bool {
        if self.error_count <= self.config.max_retransmissions {
            return false;
        }
        tracing::info!(errors = self.error_count, "peer unreachable, aborting");
        self.abort_with(ErrorCauseCode::USER_INITIATED_ABORT, &[], AbortReason::PathFailure);
        true
    }

    /// Sends an ABORT (when the peer's tag is known) and closes.
    fn abort_with(&mut self, code: ErrorCauseCode, info: &[u8], reason: AbortReason) {
        if self.peer_tag != 0 {
            let mut causes = Vec::with_capacity(info.len() + 8);
            let _ = ErrorCause { code, info }.write_to(&mut causes);
            let mut packet = self.packet_header(self.peer_tag);
            if (AbortChunk { reflected_tag: false, causes: &causes }).write_to(&mut packet).is_ok()
            {
                set_checksum(&mut packet);
                self.pending_packets.push_back(packet);
            }
        }
        self.close(Event::Aborted(reason));
    }

    /// Enters CLOSED, drops all state that could send again, and reports `event`.
    fn close(&mut self, event: Event) {
        self.state = State::Closed;
        self.t1 = None;
        self.t2 = None;
        self.t3 = None;
        self.delayed_ack = None;
        self.heartbeat_at = None;
        self.reset.timer = None;
        self.ack_pending = false;
        self.ack_immediately = false;
        self.control.clear();
        self.out.clear();
        self.events.push_back(event);
    }

    // ----- helpers -----

    fn packet_header(&self, verification_tag: u32) -> Vec<u8> {
        let mut packet = Vec::with_capacity(self.config.max_packet_size);
        CommonHeader {
            source_port: self.config.local_port,
            destination_port: self.config.remote_port,
            verification_tag,
        }
        .write_to(&mut packet);
        packet
    }

    /// Queues a packet with the packet's own tag and the T bit set (RFC 9260 §8.4).
    fn send_reflected(
        &mut self,
        verification_tag: u32,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), Error>,
    ) {
        let mut packet = self.packet_header(verification_tag);
        if write(&mut packet).is_ok() {
            set_checksum(&mut packet);
            self.pending_packets.push_back(packet);
        }
    }

    /// Queues a control chunk for the next packet.
    fn queue_control(&mut self, write: impl FnOnce(&mut Vec<u8>) -> Result<(), Error>) {
        let mut chunk = Vec::new();
        if write(&mut chunk).is_ok() {
            self.control.push_back(chunk);
        }
    }

    fn millis_since_epoch(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    fn random_tag(&mut self) -> u32 {
        loop {
            let tag = self.rng.gen();
            if tag != 0 {
                return tag;
            }
        }
    }
}
