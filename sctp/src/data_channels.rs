//! WebRTC data channels (RFC 8831) on one association: in-band channels opened with DCEP
//! (RFC 8832), negotiated channels with a pre-agreed stream id, text and binary messages
//! (empty ones as one zero byte with an EMPTY PPID, RFC 8831 §6.6), and closing by stream
//! reset (RFC 8831 §6.7).
//!
//! Events of the association are translated lazily, in [`DataChannels::poll_event`], so that
//! a slow reader keeps back-pressure on the peer through the association's receive window.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use crate::dcep::{priority, ChannelType, DataChannelAck, DataChannelOpen, DcepMessage};
use crate::{AbortReason, Association, Error, Event, PartialReliability, Ppid, SendOptions};

/// Our DTLS role, which picks the parity of the stream ids we open channels on
/// (RFC 8832 §6: the DTLS client uses even ids, the server odd ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtlsRole {
    /// DTLS client: even stream ids.
    Client,
    /// DTLS server: odd stream ids.
    Server,
}

/// Settings of a channel we open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelOptions {
    /// The label.
    pub label: String,
    /// The sub-protocol.
    pub protocol: String,
    /// In-order delivery.
    pub ordered: bool,
    /// Partial reliability.
    pub reliability: PartialReliability,
    /// Priority (see [`crate::dcep::priority`]).
    pub priority: u16,
}

impl Default for ChannelOptions {
    fn default() -> Self {
        Self {
            label: String::new(),
            protocol: String::new(),
            ordered: true,
            reliability: PartialReliability::None,
            priority: priority::NORMAL,
        }
    }
}

/// Where a channel stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelState {
    /// We sent DATA_CHANNEL_OPEN and no DATA_CHANNEL_ACK (nor data) came back yet; messages
    /// can already be sent, ordered.
    Opening,
    /// Open both ways.
    Open,
    /// Its streams are being reset.
    Closing,
}

/// What is known of a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    /// The stream id.
    pub id: u16,
    /// The label.
    pub label: String,
    /// The sub-protocol.
    pub protocol: String,
    /// In-order delivery.
    pub ordered: bool,
    /// Partial reliability.
    pub reliability: PartialReliability,
    /// Priority.
    pub priority: u16,
    /// Created with a pre-agreed id, without DCEP.
    pub negotiated: bool,
    /// Current state.
    pub state: ChannelState,
}

/// What a [`DataChannels`] owner must know about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelEvent {
    /// The association is established.
    Connected,
    /// The peer opened a channel (its DATA_CHANNEL_OPEN was acknowledged).
    ChannelOpen {
        /// The stream id.
        id: u16,
        /// The label.
        label: String,
        /// The sub-protocol.
        protocol: String,
        /// In-order delivery.
        ordered: bool,
        /// Partial reliability.
        reliability: PartialReliability,
        /// Priority.
        priority: u16,
    },
    /// The peer acknowledged a channel we opened.
    ChannelAcked {
        /// The stream id.
        id: u16,
    },
    /// A message on a channel.
    ChannelMessage {
        /// The stream id.
        id: u16,
        /// Binary (true) or text (false, UTF-8 by contract with the peer).
        binary: bool,
        /// The message (empty for the EMPTY payload protocol identifiers).
        data: Vec<u8>,
    },
    /// A channel closed (both directions reset); its id may be reused.
    ChannelClosed {
        /// The stream id.
        id: u16,
    },
    /// The buffered amount of a channel fell to its threshold.
    BufferedAmountLow {
        /// The stream id.
        id: u16,
    },
    /// A send refused with [`Error::WouldBlock`] would now fit.
    Writable,
    /// The association closed gracefully (every channel closed before).
    Closed,
    /// The association was aborted (every channel closed before).
    Aborted(AbortReason),
}

#[derive(Debug)]
struct Channel {
    label: String,
    protocol: String,
    channel_type: ChannelType,
    reliability_parameter: u32,
    priority: u16,
    negotiated: bool,
    /// The peer knows the channel: negotiated, opened by the peer, or acknowledged.
    acked: bool,
    closing: bool,
    local_reset_done: bool,
    remote_reset_done: bool,
    /// Data of the deprecated partial PPIDs waiting for the final part: (binary, bytes).
    partial: Option<(bool, Vec<u8>)>,
}

impl Channel {
    fn info(&self, id: u16) -> ChannelInfo {
        ChannelInfo {
            id,
            label: self.label.clone(),
            protocol: self.protocol.clone(),
            ordered: !self.channel_type.is_unordered(),
            reliability: self.channel_type.reliability(self.reliability_parameter),
            priority: self.priority,
            negotiated: self.negotiated,
            state: if self.closing {
                ChannelState::Closing
            } else if self.acked {
                ChannelState::Open
            } else {
                ChannelState::Opening
            },
        }
    }
}

const DCEP_OPTIONS: SendOptions =
    SendOptions { unordered: false, reliability: PartialReliability::None };

/// Data channels over one [`Association`], with the same sans-IO verbs.
///
/// ```
/// use std::time::Instant;
/// use sctp::{Association, ChannelEvent, ChannelOptions, Config, DataChannels, DtlsRole};
///
/// # fn main() -> Result<(), sctp::Error> {
/// let now = Instant::now();
/// let mut ours = DataChannels::new(Association::client(Config::default(), now)?, DtlsRole::Server, now);
/// let mut theirs = DataChannels::new(Association::client(Config::default(), now)?, DtlsRole::Client, now);
/// let id = ours.open_channel(now, ChannelOptions { label: "chat".into(), ..Default::default() })?;
/// assert_eq!(id, 1); // the DTLS server opens channels on odd stream ids
/// ours.send_text(now, id, "hi")?;
///
/// let mut seen = Vec::new();
/// for _ in 0..8 {
///     // Drain events first: they may queue acknowledgements and resets.
///     while let Some(e) = theirs.poll_event() {
///         seen.push(e);
///     }
///     while ours.poll_event().is_some() {}
///     while let Some(p) = ours.poll_transmit(now) {
///         theirs.handle_receive(now, &p)?;
///     }
///     while let Some(p) = theirs.poll_transmit(now) {
///         ours.handle_receive(now, &p)?;
///     }
/// }
/// assert!(seen.iter().any(|e| matches!(e, ChannelEvent::ChannelOpen { id: 1, label, .. } if label == "chat")));
/// assert!(seen.contains(&ChannelEvent::ChannelMessage { id: 1, binary: false, data: b"hi".to_vec() }));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct DataChannels {
    assoc: Association,
    role: DtlsRole,
    channels: BTreeMap<u16, Channel>,
    events: VecDeque<ChannelEvent>,
    now: Instant,
    next_id: u16,
}

impl DataChannels {
    /// Wraps an association (fresh from [`Association::client`] or
    /// [`Association::server`]); `role` is our DTLS role.
    pub fn new(association: Association, role: DtlsRole, now: Instant) -> Self {
        Self {
            assoc: association,
            role,
            channels: BTreeMap::new(),
            events: VecDeque::new(),
            now,
            next_id: match role {
                DtlsRole::Client => 0,
                DtlsRole::Server => 1,
            },
        }
    }

    /// The association.
    pub fn association(&self) -> &Association {
        &self.assoc
    }

    /// The association, for settings such as the peer's maximum message size.
    pub fn association_mut(&mut self) -> &mut Association {
        &mut self.assoc
    }

    /// See [`Association::handle_receive`].
    pub fn handle_receive(&mut self, now: Instant, packet: &[u8]) -> Result<(), Error> {
        self.now = now;
        self.assoc.handle_receive(now, packet)
    }

    /// See [`Association::handle_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.assoc.handle_timeout(now);
    }

    /// See [`Association::poll_transmit`]. Drain [`poll_event`](Self::poll_event) first: it
    /// may queue acknowledgements and resets.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.now = now;
        self.assoc.poll_transmit(now)
    }

    /// See [`Association::poll_transmit_into`].
    pub fn poll_transmit_into(&mut self, now: Instant, buf: &mut Vec<u8>) -> bool {
        self.now = now;
        self.assoc.poll_transmit_into(now, buf)
    }

    /// See [`Association::poll_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.assoc.poll_timeout()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ChannelEvent> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Some(event);
            }
            let event = self.assoc.poll_event()?;
            self.on_association_event(event);
        }
    }

    /// Opens an in-band channel (RFC 8832 §6) on the next free stream id of our parity and
    /// returns that id. Messages may be sent at once (ordered until the peer acknowledges).
    pub fn open_channel(&mut self, now: Instant, options: ChannelOptions) -> Result<u16, Error> {
        self.now = now;
        let id = self.free_id().ok_or(Error::InvalidStream("no free stream id"))?;
        let (channel_type, reliability_parameter) =
            ChannelType::new(options.ordered, options.reliability);
        let open = DataChannelOpen {
            channel_type,
            priority: options.priority,
            reliability_parameter,
            label: &options.label,
            protocol: &options.protocol,
        };
        let mut message = Vec::with_capacity(open.encoded_len());
        open.write_to(&mut message)?;
        self.assoc.send(now, id, Ppid::DCEP, &message, DCEP_OPTIONS)?;
        self.insert(id, options, channel_type, reliability_parameter, false, false);
        let step = 2;
        self.next_id = id.checked_add(step).unwrap_or(self.next_id % 2);
        Ok(id)
    }

    /// Creates a channel agreed out of band on stream `id` (no DCEP); it is open at once.
    pub fn open_negotiated_channel(
        &mut self,
        id: u16,
        options: ChannelOptions,
    ) -> Result<(), Error> {
        if id == u16::MAX || id >= self.assoc.outbound_streams() {
            return Err(Error::InvalidStream("stream id beyond the negotiated stream count"));
        }
        if self.channels.contains_key(&id) {
            return Err(Error::InvalidStream("stream id already used by a channel"));
        }
        let (channel_type, reliability_parameter) =
            ChannelType::new(options.ordered, options.reliability);
        self.insert(id, options, channel_type, reliability_parameter, true, true);
        Ok(())
    }

    /// Sends a message; an empty one goes as one zero byte with an EMPTY PPID.
    pub fn send(&mut self, now: Instant, id: u16, data: &[u8], binary: bool) -> Result<(), Error> {
        self.now = now;
        let channel = self.channels.get(&id).ok_or(Error::InvalidStream("no such channel"))?;
        if channel.closing {
            return Err(Error::InvalidStream("channel is closing"));
        }
        let (ppid, payload): (Ppid, &[u8]) = match (binary, data.is_empty()) {
            (false, false) => (Ppid::STRING, data),
            (true, false) => (Ppid::BINARY, data),
            (false, true) => (Ppid::STRING_EMPTY, &[0]),
            (true, true) => (Ppid::BINARY_EMPTY, &[0]),
        };
        let mut options = channel.channel_type.send_options(channel.reliability_parameter);
        if !channel.acked {
            // RFC 8832 §6: ordered until the DATA_CHANNEL_ACK, so that the OPEN comes first.
            options.unordered = false;
        }
        self.assoc.send(now, id, ppid, payload, options)
    }

    /// Sends a text message.
    pub fn send_text(&mut self, now: Instant, id: u16, text: &str) -> Result<(), Error> {
        self.send(now, id, text.as_bytes(), false)
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, now: Instant, id: u16, data: &[u8]) -> Result<(), Error> {
        self.send(now, id, data, true)
    }

    /// Closes a channel (RFC 8831 §6.7): our outgoing stream is reset after the messages
    /// queued on it, the peer resets its own, and [`ChannelEvent::ChannelClosed`] follows.
    pub fn close_channel(&mut self, now: Instant, id: u16) -> Result<(), Error> {
        self.now = now;
        let channel = self.channels.get_mut(&id).ok_or(Error::InvalidStream("no such channel"))?;
        if channel.closing {
            return Ok(());
        }
        channel.closing = true;
        if self.assoc.reset_streams(now, &[id]).is_err() {
            // Nothing to reset (not established) or no RE-CONFIG: closed locally.
            self.channels.remove(&id);
            self.events.push_back(ChannelEvent::ChannelClosed { id });
        }
        Ok(())
    }

    /// What is known of channel `id`.
    pub fn channel(&self, id: u16) -> Option<ChannelInfo> {
        self.channels.get(&id).map(|c| c.info(id))
    }

    /// The ids of the channels.
    pub fn channel_ids(&self) -> impl Iterator<Item = u16> + '_ {
        self.channels.keys().copied()
    }

    /// Bytes of channel `id` queued or in flight.
    pub fn buffered_amount(&self, id: u16) -> usize {
        self.assoc.buffered_amount(id)
    }

    /// See [`Association::set_buffered_amount_low_threshold`].
    pub fn set_buffered_amount_low_threshold(&mut self, id: u16, threshold: usize) {
        self.assoc.set_buffered_amount_low_threshold(id, threshold);
    }

    /// Closes the association gracefully (see [`Association::shutdown`]).
    pub fn shutdown(&mut self, now: Instant) {
        self.now = now;
        self.assoc.shutdown(now);
    }

    /// Aborts the association (see [`Association::abort`]).
    pub fn abort(&mut self, now: Instant) {
        self.now = now;
        self.assoc.abort(now);
    }

    fn insert(
        &mut self,
        id: u16,
        options: ChannelOptions,
        channel_type: ChannelType,
        reliability_parameter: u32,
        negotiated: bool,
        acked: bool,
    ) {
        self.channels.insert(
            id,
            Channel {
                label: options.label,
                protocol: options.protocol,
                channel_type,
                reliability_parameter,
                priority: options.priority,
                negotiated,
                acked,
                closing: false,
                local_reset_done: false,
                remote_reset_done: false,
                partial: None,
            },
        );
    }

    /// The next free id of our parity, below the negotiated stream counts (65535 is reserved,
    /// RFC 8832 §6).
    fn free_id(&self) -> Option<u16> {
        let limit = self.assoc.outbound_streams().min(self.assoc.inbound_streams());
        let first = match self.role {
            DtlsRole::Client => 0,
            DtlsRole::Server => 1,
        };
        let free = |id: &u16| !self.channels.contains_key(id);
        (self.next_id..limit)
            .step_by(2)
            .find(free)
            .or_else(|| (first..self.next_id.min(limit)).step_by(2).find(free))
    }

    fn on_association_event(&mut self, event: Event) {
        match event {
            Event::Connected => self.events.push_back(ChannelEvent::Connected),
            Event::Message { stream, ppid, data, .. } => self.on_message(stream, ppid, data),
            Event::StreamReset { streams } => {
                let ids: Vec<u16> = if streams.is_empty() {
                    self.channels.keys().copied().collect()
                } else {
                    streams
                };
                for id in ids {
                    self.on_remote_reset(id);
                }
            }
            Event::StreamResetComplete { streams } => {
                for id in streams {
                    self.on_local_reset_done(id);
                }
            }
            Event::StreamResetFailed { streams } => {
                for id in streams {
                    tracing::warn!(id, "peer refused to reset the stream of a closing channel");
                    self.on_local_reset_done(id);
                    self.on_remote_reset(id);
                }
            }
            Event::BufferedAmountLow { stream } => {
                if self.channels.contains_key(&stream) {
                    self.events.push_back(ChannelEvent::BufferedAmountLow { id: stream });
                }
            }
            Event::Writable => self.events.push_back(ChannelEvent::Writable),
            Event::Restarted => self.close_all(),
            Event::Closed => {
                self.close_all();
                self.events.push_back(ChannelEvent::Closed);
            }
            Event::Aborted(reason) => {
                self.close_all();
                self.events.push_back(ChannelEvent::Aborted(reason));
            }
        }
    }

    fn close_all(&mut self) {
        for id in std::mem::take(&mut self.channels).into_keys() {
            self.events.push_back(ChannelEvent::ChannelClosed { id });
        }
    }

    fn on_message(&mut self, id: u16, ppid: Ppid, data: Vec<u8>) {
        if ppid == Ppid::DCEP {
            match DcepMessage::parse(&data) {
                Ok(DcepMessage::Open(open)) => self.on_open(id, &open),
                Ok(DcepMessage::Ack) => {
                    if let Some(channel) = self.channels.get_mut(&id) {
                        if !channel.acked {
                            channel.acked = true;
                            self.events.push_back(ChannelEvent::ChannelAcked { id });
                        }
                    }
                }
                Err(e) => tracing::warn!(id, error = %e, "malformed DCEP message"),
            }
            return;
        }
        let Some(channel) = self.channels.get_mut(&id) else {
            tracing::debug!(id, "message for no channel dropped");
            return;
        };
        let binary = match ppid {
            Ppid::STRING | Ppid::STRING_EMPTY | Ppid::STRING_PARTIAL => false,
            Ppid::BINARY | Ppid::BINARY_EMPTY | Ppid::BINARY_PARTIAL => true,
            other => {
                tracing::debug!(id, ppid = %other, "message with an unknown PPID dropped");
                return;
            }
        };
        if !channel.acked {
            // Data from the peer means it has our OPEN (RFC 8832 §6).
            channel.acked = true;
            self.events.push_back(ChannelEvent::ChannelAcked { id });
        }
        let data = match ppid {
            Ppid::STRING_EMPTY | Ppid::BINARY_EMPTY => Vec::new(),
            Ppid::STRING_PARTIAL | Ppid::BINARY_PARTIAL => {
                // Deprecated: parts of one message, completed by a STRING or BINARY.
                match &mut channel.partial {
                    Some((_, buf)) => buf.extend_from_slice(&data),
                    None => channel.partial = Some((binary, data)),
                }
                return;
            }
            _ => match channel.partial.take() {
                Some((_, mut head)) => {
                    head.extend_from_slice(&data);
                    head
                }
                None => data,
            },
        };
        self.events.push_back(ChannelEvent::ChannelMessage { id, binary, data });
    }

    fn on_open(&mut self, id: u16, open: &DataChannelOpen<'_>) {
        if self.channels.contains_key(&id) {
            tracing::warn!(id, "DATA_CHANNEL_OPEN on a stream already in use: ignored");
            return;
        }
        let ours = match self.role {
            DtlsRole::Client => id % 2 == 0,
            DtlsRole::Server => id % 2 == 1,
        };
        if ours {
            tracing::warn!(id, "peer opened a channel on a stream id of our parity");
        }
        if let Err(e) =
            self.assoc.send(self.now, id, Ppid::DCEP, &DataChannelAck::BYTES, DCEP_OPTIONS)
        {
            tracing::warn!(id, error = %e, "cannot queue DATA_CHANNEL_ACK");
        }
        let options = ChannelOptions {
            label: open.label.to_owned(),
            protocol: open.protocol.to_owned(),
            ordered: !open.channel_type.is_unordered(),
            reliability: open.channel_type.reliability(open.reliability_parameter),
            priority: open.priority,
        };
        self.insert(
            id,
            options.clone(),
            open.channel_type,
            open.reliability_parameter,
            false,
            true,
        );
        self.events.push_back(ChannelEvent::ChannelOpen {
            id,
            label: options.label,
            protocol: options.protocol,
            ordered: options.ordered,
            reliability: options.reliability,
            priority: options.priority,
        });
    }

    /// The peer reset its outgoing stream: reset ours too (RFC 8831 §6.7).
    fn on_remote_reset(&mut self, id: u16) {
        let Some(channel) = self.channels.get_mut(&id) else {
            return;
        };
        channel.remote_reset_done = true;
        if !channel.closing {
            channel.closing = true;
            if self.assoc.reset_streams(self.now, &[id]).is_err() {
                if let Some(c) = self.channels.get_mut(&id) {
                    c.local_reset_done = true;
                }
            }
        }
        self.finish_close(id);
    }

    fn on_local_reset_done(&mut self, id: u16) {
        if let Some(channel) = self.channels.get_mut(&id) {
            channel.local_reset_done = true;
        }
        self.finish_close(id);
    }

    fn finish_close(&mut self, id: u16) {
        if self.channels.get(&id).is_some_and(|c| c.local_reset_done && c.remote_reset_done) {
            self.channels.remove(&id);
            self.events.push_back(ChannelEvent::ChannelClosed { id });
        }
    }
}
