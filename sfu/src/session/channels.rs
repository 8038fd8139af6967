//! The data channel transport of a session: an SCTP association with [`DataChannels`] on top
//! (our `sctp` crate), carried as DTLS application data (RFC 8261: one SCTP packet per DTLS
//! record).
//!
//! The association is created when the first SCTP packet arrives, as the passive side:
//! browsers always start the association (both WebRTC peers may, RFC 8841 §5; a browser
//! does as soon as DTLS is up and an `m=application` section is negotiated), so a session
//! whose SDP has no such section never holds one. Until then, negotiated channels the API
//! set up are remembered and opened when the association exists, and messages to send are
//! refused ([`ChannelSendError::NotReady`]) so the caller keeps them queued.
//!
//! One channel is the session's own: the echo channel, negotiated on stream
//! [`ECHO_CHANNEL_ID`]. Every message the peer sends there comes straight back on it, with
//! its type (text or binary) unchanged. It needs no API call: a client creates it with
//! `createDataChannel(name, {negotiated: true, id: 1023})`.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use dtls::Dtls;
use sctp::{Association, ChannelEvent, ChannelOptions, Config, DataChannels, DtlsRole};
use tracing::{debug, trace};

use super::{SessionEvent, SessionStats};

/// The stream id of the echo channel (see the module documentation). Odd, the DTLS
/// server's parity for in-band channels (RFC 8832 §6), which the SFU never opens, and below
/// 1024, the highest id every browser accepts for a negotiated channel.
pub const ECHO_CHANNEL_ID: u16 = 1023;

/// SCTP packets written per call (see `ChannelTransport::flush`): RFC 9260 §7.2.4 bounds
/// what a sender may send in response to one SACK; a browser's UDP receive buffer holds a
/// few hundred kilobytes, and a whole congestion window sent at once over loopback
/// overflows it.
const MAX_BURST: usize = 8;

/// Why a data channel message was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelSendError {
    /// No association yet (the peer has not started SCTP) or the channel is not open yet:
    /// keep the message and retry after the next [`sctp::ChannelEvent::Connected`].
    #[error("the data channel transport is not up yet")]
    NotReady,
    /// The association's send buffer is full: retry after [`sctp::ChannelEvent::Writable`].
    #[error("the data channel send buffer is full")]
    WouldBlock,
    /// The message is larger than the peer's `max-message-size`.
    #[error("the message exceeds the peer's max-message-size")]
    TooLarge,
    /// The channel does not exist (closed, or never opened) or the association ended.
    #[error("no such data channel: {0}")]
    Closed(sctp::Error),
}

/// The session's SCTP association and data channels. See the module documentation.
#[derive(Debug)]
pub(super) struct ChannelTransport {
    channels: Option<DataChannels>,
    role: DtlsRole,
    peer_max_message_size: Option<usize>,
    /// Negotiated channels to have, by stream id (opened once the association exists).
    wanted: BTreeMap<u16, ChannelOptions>,
    /// The association ended (closed or aborted): a new one may start (peer restart).
    ended: bool,
    buf: Vec<u8>,
}

impl ChannelTransport {
    pub(super) fn new(role: dtls::Role) -> ChannelTransport {
        let role = match role {
            dtls::Role::Client => DtlsRole::Client,
            dtls::Role::Server => DtlsRole::Server,
        };
        let mut wanted = BTreeMap::new();
        wanted.insert(
            ECHO_CHANNEL_ID,
            ChannelOptions { label: "echo".to_owned(), ..ChannelOptions::default() },
        );
        ChannelTransport {
            channels: None,
            role,
            peer_max_message_size: None,
            wanted,
            ended: false,
            buf: Vec::with_capacity(2048),
        }
    }

    /// Whether the association exists and is established.
    pub(super) fn is_established(&self) -> bool {
        self.channels.as_ref().is_some_and(|c| c.association().is_established())
    }

    /// The peer's `a=max-message-size` (RFC 8841 §6).
    pub(super) fn set_peer_max_message_size(&mut self, size: usize) {
        self.peer_max_message_size = Some(size);
        if let Some(channels) = &mut self.channels {
            channels.association_mut().set_peer_max_message_size(size);
        }
    }

    /// Opens (or remembers to open) a negotiated channel on stream `id`.
    pub(super) fn open_negotiated(&mut self, id: u16, options: ChannelOptions) {
        if let Some(channels) = &mut self.channels {
            if channels.channel(id).is_none() {
                if let Err(error) = channels.open_negotiated_channel(id, options.clone()) {
                    debug!(id, %error, "negotiated channel not opened");
                }
            }
        }
        self.wanted.insert(id, options);
    }

    /// Closes channel `id` (a stream reset after what is queued on it, RFC 8831 §6.7).
    pub(super) fn close(&mut self, now: Instant, id: u16, dtls: Option<&mut Dtls>) {
        self.wanted.remove(&id);
        if let Some(channels) = &mut self.channels {
            if channels.channel(id).is_some() {
                let _ = channels.close_channel(now, id);
            }
        }
        if let Some(dtls) = dtls {
            self.flush(now, dtls);
        }
    }

    /// An SCTP packet from the peer (DTLS application data).
    pub(super) fn handle_packet(
        &mut self,
        now: Instant,
        packet: &[u8],
        dtls: &mut Dtls,
        stats: &SessionStats,
        events: &mut VecDeque<SessionEvent>,
    ) {
        SessionStats::bump(&stats.sctp_packets_received);
        if self.channels.is_none() || self.ended {
            self.start(now);
        }
        let Some(channels) = &mut self.channels else { return };
        if let Err(error) = channels.handle_receive(now, packet) {
            SessionStats::bump(&stats.sctp_dropped);
            trace!(%error, "SCTP packet dropped");
        }
        self.drain(now, dtls, stats, events);
    }

    /// Fires the association's timers.
    pub(super) fn handle_timeout(
        &mut self,
        now: Instant,
        dtls: &mut Dtls,
        stats: &SessionStats,
        events: &mut VecDeque<SessionEvent>,
    ) {
        if let Some(channels) = &mut self.channels {
            if channels.poll_timeout().is_some_and(|t| t <= now) {
                channels.handle_timeout(now);
            }
        }
        self.drain(now, dtls, stats, events);
    }

    /// The association's next timer.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.channels.as_ref().and_then(DataChannels::poll_timeout)
    }

    /// Queues a message on channel `id` and writes what the association sends to `dtls`.
    pub(super) fn send(
        &mut self,
        now: Instant,
        id: u16,
        data: &[u8],
        binary: bool,
        dtls: &mut Dtls,
        stats: &SessionStats,
    ) -> Result<(), ChannelSendError> {
        let Some(channels) = self.channels.as_mut().filter(|_| !self.ended) else {
            return Err(ChannelSendError::NotReady);
        };
        if !channels.association().is_established() {
            // The association queues before it is up, but a negotiated channel of a
            // subscription opened later must keep its order behind what waits: keep it all
            // with the caller until the association is established.
            return Err(ChannelSendError::NotReady);
        }
        if channels.channel(id).is_none() {
            return Err(if self.wanted.contains_key(&id) {
                ChannelSendError::NotReady
            } else {
                ChannelSendError::Closed(sctp::Error::InvalidStream("no such channel"))
            });
        }
        match channels.send(now, id, data, binary) {
            Ok(()) => {
                SessionStats::bump(&stats.channel_messages_sent);
                SessionStats::add(&stats.channel_bytes_sent, data.len() as u64);
                self.flush(now, dtls);
                Ok(())
            }
            Err(sctp::Error::WouldBlock) => Err(ChannelSendError::WouldBlock),
            Err(sctp::Error::MessageTooLarge { .. }) => Err(ChannelSendError::TooLarge),
            Err(error) => Err(ChannelSendError::Closed(error)),
        }
    }

    fn start(&mut self, now: Instant) {
        let config = Config {
            peer_max_message_size: self.peer_max_message_size.unwrap_or(65536),
            ..Config::default()
        };
        match Association::server(config, now) {
            Ok(association) => {
                debug!("SCTP association started");
                let mut channels = DataChannels::new(association, self.role, now);
                for (id, options) in &self.wanted {
                    if let Err(error) = channels.open_negotiated_channel(*id, options.clone()) {
                        debug!(id, %error, "negotiated channel not opened");
                    }
                }
                self.channels = Some(channels);
                self.ended = false;
            }
            Err(error) => debug!(%error, "cannot create the SCTP association"),
        }
    }

    /// Moves the association's events to the session's queue (answering the echo channel)
    /// and its packets to DTLS.
    fn drain(
        &mut self,
        now: Instant,
        dtls: &mut Dtls,
        stats: &SessionStats,
        events: &mut VecDeque<SessionEvent>,
    ) {
        loop {
            let Some(channels) = &mut self.channels else { return };
            let Some(event) = channels.poll_event() else { break };
            match event {
                ChannelEvent::ChannelMessage { id, binary, data } => {
                    SessionStats::bump(&stats.channel_messages_received);
                    SessionStats::add(&stats.channel_bytes_received, data.len() as u64);
                    if id == ECHO_CHANNEL_ID {
                        match channels.send(now, id, &data, binary) {
                            Ok(()) => {
                                SessionStats::bump(&stats.channel_messages_sent);
                                SessionStats::add(&stats.channel_bytes_sent, data.len() as u64);
                            }
                            Err(error) => {
                                SessionStats::bump(&stats.channel_messages_dropped);
                                debug!(%error, "echo dropped");
                            }
                        }
                        continue;
                    }
                    events.push_back(SessionEvent::DataChannel(ChannelEvent::ChannelMessage {
                        id,
                        binary,
                        data,
                    }));
                }
                ChannelEvent::Connected => {
                    debug!("SCTP association established");
                    // Channels set up while the association was coming up.
                    for (id, options) in &self.wanted {
                        if channels.channel(*id).is_none() {
                            let _ = channels.open_negotiated_channel(*id, options.clone());
                        }
                    }
                    events.push_back(SessionEvent::DataChannel(ChannelEvent::Connected));
                }
                ChannelEvent::ChannelClosed { id } => {
                    self.wanted.remove(&id);
                    events.push_back(SessionEvent::DataChannel(ChannelEvent::ChannelClosed { id }));
                }
                event @ (ChannelEvent::Closed | ChannelEvent::Aborted(_)) => {
                    debug!(?event, "SCTP association ended");
                    self.ended = true;
                    events.push_back(SessionEvent::DataChannel(event));
                }
                other => events.push_back(SessionEvent::DataChannel(other)),
            }
        }
        self.flush(now, dtls);
        if let Some(channels) = &self.channels {
            let sctp = channels.association().stats();
            SessionStats::set(&stats.sctp_retransmitted_chunks, sctp.retransmitted_chunks);
            SessionStats::set(&stats.sctp_t3_expirations, sctp.t3_expirations);
        }
    }

    /// Writes every packet the association has to DTLS, one record each.
    ///
    /// At most [`MAX_BURST`] packets per call: the rest go out on the next input (the
    /// peer's SACK) or timer, so the packets of a large window reach the peer's socket in
    /// ack-clocked bursts instead of all at once.
    fn flush(&mut self, now: Instant, dtls: &mut Dtls) {
        let Some(channels) = &mut self.channels else { return };
        let mut sent = 0;
        while sent < MAX_BURST && channels.poll_transmit_into(now, &mut self.buf) {
            sent += 1;
            if let Err(error) = dtls.send_application_data(&self.buf) {
                trace!(%error, "SCTP packet not sent");
            }
        }
    }
}
