//! Association configuration.

use std::time::Duration;

use crate::packet::DEFAULT_PORT;
use crate::Error;

/// Settings of one association. [`Config::default`] holds WebRTC-friendly values; the choices
/// are explained field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Our SCTP port (SDP `a=sctp-port`, RFC 8841). Default 5000.
    pub local_port: u16,
    /// The peer's SCTP port. Default 5000.
    pub remote_port: u16,
    /// Largest SCTP packet we send. Each packet rides in one DTLS record inside one UDP
    /// datagram: 1200 bytes (the usual WebRTC datagram budget) minus the DTLS record overhead
    /// (13-byte header plus up to 64 bytes of IV, MAC and padding) minus a TURN ChannelData or
    /// Send indication header, rounded down. Default 1100.
    pub max_packet_size: usize,
    /// Outbound streams we ask for (RFC 8831 §6.2: 65535 in WebRTC). Default 65535.
    pub outbound_streams: u16,
    /// Inbound streams we accept. Default 65535.
    pub inbound_streams: u16,
    /// Largest message we accept; announce it in SDP `a=max-message-size`. A larger message
    /// from the peer is acknowledged and discarded. Default 256 KiB.
    pub max_message_size: usize,
    /// The peer's `max-message-size` from its SDP; larger sends are refused with
    /// [`Error::MessageTooLarge`]. Default 65536, the RFC 8841 §6 value for an SDP without the
    /// attribute. Changeable later with [`crate::Association::set_peer_max_message_size`].
    pub peer_max_message_size: usize,
    /// Receive buffer: bytes held in reassembly plus delivered messages not yet taken with
    /// `poll_event`; announced as a_rwnd. New data is refused once it is full (it may be
    /// exceeded by one chunk taken into a window smaller than that chunk). Must be at least
    /// `max_message_size`. Default 1 MiB.
    pub receive_buffer_size: usize,
    /// Send buffer: bytes queued or in flight over all streams. A `send` that would exceed it
    /// returns [`Error::WouldBlock`] (unless the buffer is empty, so any message up to the
    /// peer's maximum can always be sent). Default 1 MiB.
    pub send_buffer_size: usize,
    /// RTO.Initial (RFC 9260 §16). Default 1 s.
    pub rto_initial: Duration,
    /// RTO.Min. RFC 9260 suggests 1 s; WebRTC stacks go lower for interactivity. 400 ms
    /// stays above the peer's 200 ms delayed SACK so that a lone packet acknowledged late does
    /// not trigger a spurious retransmission. Default 400 ms.
    pub rto_min: Duration,
    /// RTO.Max. Default 60 s.
    pub rto_max: Duration,
    /// Association.Max.Retrans: consecutive timeouts (T3-rtx, HEARTBEAT, RE-CONFIG, T2)
    /// after which the peer is declared unreachable and the association aborted
    /// (RFC 9260 §8.1). Default 10.
    pub max_retransmissions: u32,
    /// Max.Init.Retransmits: INIT and COOKIE-ECHO retransmissions before giving up.
    /// Default 8.
    pub max_init_retransmissions: u32,
    /// HB.interval: a HEARTBEAT probes a path idle for this long; `None` disables heartbeats.
    /// Default 30 s.
    pub heartbeat_interval: Option<Duration>,
    /// Delayed SACK timeout (RFC 9260 §6.2: at most 500 ms; every second packet is acknowledged
    /// at once). Default 200 ms.
    pub delayed_ack_timeout: Duration,
    /// Valid.Cookie.Life. Default 60 s.
    pub cookie_lifetime: Duration,
    /// Seed for tags, initial TSNs, the cookie key and heartbeat nonces. `None` draws from
    /// the operating system; tests set a seed to be reproducible.
    pub seed: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            local_port: DEFAULT_PORT,
            remote_port: DEFAULT_PORT,
            max_packet_size: 1100,
            outbound_streams: u16::MAX,
            inbound_streams: u16::MAX,
            max_message_size: 256 * 1024,
            peer_max_message_size: 65536,
            receive_buffer_size: 1024 * 1024,
            send_buffer_size: 1024 * 1024,
            rto_initial: Duration::from_secs(1),
            rto_min: Duration::from_millis(400),
            rto_max: Duration::from_secs(60),
            max_retransmissions: 10,
            max_init_retransmissions: 8,
            heartbeat_interval: Some(Duration::from_secs(30)),
            delayed_ack_timeout: Duration::from_millis(200),
            cookie_lifetime: Duration::from_secs(60),
            seed: None,
        }
    }
}

/// Smallest packet size that leaves room for a DATA chunk carrying payload.
pub(crate) const MIN_PACKET_SIZE: usize = 256;
/// Largest packet size: the chunk length field and a UDP datagram bound it.
pub(crate) const MAX_PACKET_SIZE: usize = 65_507;

impl Config {
    /// Checks the values that the association relies on.
    pub fn validate(&self) -> Result<(), Error> {
        if !(MIN_PACKET_SIZE..=MAX_PACKET_SIZE).contains(&self.max_packet_size) {
            return Err(Error::InvalidInput("max_packet_size must be within 256..=65507"));
        }
        if self.outbound_streams == 0 || self.inbound_streams == 0 {
            return Err(Error::InvalidInput("stream counts must not be zero"));
        }
        if self.max_message_size == 0 || self.receive_buffer_size < self.max_message_size {
            return Err(Error::InvalidInput(
                "receive_buffer_size must be at least max_message_size (and that above zero)",
            ));
        }
        if u32::try_from(self.receive_buffer_size).is_err() {
            return Err(Error::InvalidInput("receive_buffer_size must fit in 32 bits"));
        }
        if self.send_buffer_size == 0 {
            return Err(Error::InvalidInput("send_buffer_size must not be zero"));
        }
        if self.rto_min.is_zero() || self.rto_min > self.rto_max {
            return Err(Error::InvalidInput("rto_min must be above zero and at most rto_max"));
        }
        if self.rto_initial < self.rto_min || self.rto_initial > self.rto_max {
            return Err(Error::InvalidInput("rto_initial must lie within rto_min..=rto_max"));
        }
        if self.rto_max > std::time::Duration::from_secs(3600) {
            return Err(Error::InvalidInput("rto_max must be at most one hour"));
        }
        if self.heartbeat_interval.is_some_and(|i| i.is_zero() || i.as_secs() > 86_400) {
            return Err(Error::InvalidInput("heartbeat_interval must lie within (0, 1 day]"));
        }
        if self.delayed_ack_timeout.as_millis() > 500 {
            return Err(Error::InvalidInput("delayed_ack_timeout must be at most 500 ms"));
        }
        if self.cookie_lifetime.is_zero() || self.cookie_lifetime.as_secs() > 86_400 {
            return Err(Error::InvalidInput("cookie_lifetime must lie within (0, 1 day]"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_bad_values_are_refused() {
        Config::default().validate().unwrap();
        let bad = [
            Config { max_packet_size: 100, ..Config::default() },
            Config { inbound_streams: 0, ..Config::default() },
            Config { receive_buffer_size: 1000, ..Config::default() },
            Config { send_buffer_size: 0, ..Config::default() },
            Config { rto_min: Duration::ZERO, ..Config::default() },
            Config { rto_initial: Duration::from_secs(100), ..Config::default() },
            Config { heartbeat_interval: Some(Duration::ZERO), ..Config::default() },
            Config { delayed_ack_timeout: Duration::from_secs(1), ..Config::default() },
            Config { receive_buffer_size: 1 << 33, ..Config::default() },
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?}");
        }
    }
}
