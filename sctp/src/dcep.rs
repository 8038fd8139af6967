//! The Data Channel Establishment Protocol (RFC 8832): DATA_CHANNEL_OPEN and
//! DATA_CHANNEL_ACK, carried with PPID 50 ([`Ppid::DCEP`](crate::Ppid::DCEP)) on the stream of
//! the channel they open.
//!
//! ```text
//! DATA_CHANNEL_OPEN (RFC 8832 §5.1):
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Message Type |  Channel Type |            Priority           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Reliability Parameter                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Label Length          |       Protocol Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! \                             Label                             /
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! \                            Protocol                           /
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! DATA_CHANNEL_ACK (RFC 8832 §5.2): | Message Type = 0x02 |
//! ```

use std::fmt;
use std::time::Duration;

use crate::bytes::{read_u16, read_u32};
use crate::{Error, PartialReliability, SendOptions};

/// A DCEP message type.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageType(pub u8);

impl MessageType {
    /// DATA_CHANNEL_ACK.
    pub const DATA_CHANNEL_ACK: Self = Self(0x02);
    /// DATA_CHANNEL_OPEN.
    pub const DATA_CHANNEL_OPEN: Self = Self(0x03);
}

impl fmt::Debug for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::DATA_CHANNEL_ACK => f.write_str("DATA_CHANNEL_ACK"),
            Self::DATA_CHANNEL_OPEN => f.write_str("DATA_CHANNEL_OPEN"),
            Self(n) => write!(f, "MessageType({n:#04x})"),
        }
    }
}

/// The channel type of a DATA_CHANNEL_OPEN (RFC 8832 §5.1): the high bit means unordered,
/// the low bits the partial reliability kind.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelType(pub u8);

impl ChannelType {
    /// Reliable, ordered.
    pub const RELIABLE: Self = Self(0x00);
    /// Reliable, unordered.
    pub const RELIABLE_UNORDERED: Self = Self(0x80);
    /// Ordered, limited number of retransmissions.
    pub const PARTIAL_RELIABLE_REXMIT: Self = Self(0x01);
    /// Unordered, limited number of retransmissions.
    pub const PARTIAL_RELIABLE_REXMIT_UNORDERED: Self = Self(0x81);
    /// Ordered, limited lifetime.
    pub const PARTIAL_RELIABLE_TIMED: Self = Self(0x02);
    /// Unordered, limited lifetime.
    pub const PARTIAL_RELIABLE_TIMED_UNORDERED: Self = Self(0x82);

    /// Messages are delivered unordered.
    pub fn is_unordered(self) -> bool {
        self.0 & 0x80 != 0
    }

    /// The type for a channel with these options.
    pub fn new(ordered: bool, reliability: PartialReliability) -> (Self, u32) {
        let (kind, parameter) = match reliability {
            PartialReliability::None => (0x00, 0),
            PartialReliability::MaxRetransmits(n) => (0x01, n),
            PartialReliability::MaxLifetime(d) => {
                (0x02, u32::try_from(d.as_millis()).unwrap_or(u32::MAX))
            }
        };
        (Self(kind | if ordered { 0 } else { 0x80 }), parameter)
    }

    /// The partial reliability this type and reliability parameter mean; unknown kinds are
    /// treated as reliable.
    pub fn reliability(self, parameter: u32) -> PartialReliability {
        match self.0 & 0x7f {
            0x01 => PartialReliability::MaxRetransmits(parameter),
            0x02 => PartialReliability::MaxLifetime(Duration::from_millis(u64::from(parameter))),
            _ => PartialReliability::None,
        }
    }

    /// The send options of user messages on such a channel.
    pub fn send_options(self, parameter: u32) -> SendOptions {
        SendOptions { unordered: self.is_unordered(), reliability: self.reliability(parameter) }
    }
}

impl fmt::Debug for ChannelType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            Self::RELIABLE => "RELIABLE",
            Self::RELIABLE_UNORDERED => "RELIABLE_UNORDERED",
            Self::PARTIAL_RELIABLE_REXMIT => "PARTIAL_RELIABLE_REXMIT",
            Self::PARTIAL_RELIABLE_REXMIT_UNORDERED => "PARTIAL_RELIABLE_REXMIT_UNORDERED",
            Self::PARTIAL_RELIABLE_TIMED => "PARTIAL_RELIABLE_TIMED",
            Self::PARTIAL_RELIABLE_TIMED_UNORDERED => "PARTIAL_RELIABLE_TIMED_UNORDERED",
            Self(n) => return write!(f, "ChannelType({n:#04x})"),
        };
        f.write_str(name)
    }
}

/// Channel priorities of RFC 8832 §5.1 (from RFC 8831 §6.4 / WebRTC priority levels).
pub mod priority {
    /// below-normal
    pub const BELOW_NORMAL: u16 = 128;
    /// normal
    pub const NORMAL: u16 = 256;
    /// high
    pub const HIGH: u16 = 512;
    /// extra-high
    pub const EXTRA_HIGH: u16 = 1024;
}

/// A DATA_CHANNEL_OPEN message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataChannelOpen<'a> {
    /// Ordering and partial reliability kind.
    pub channel_type: ChannelType,
    /// Priority (see [`priority`]).
    pub priority: u16,
    /// Retransmissions or lifetime in milliseconds, by channel type; 0 for reliable ones.
    pub reliability_parameter: u32,
    /// The channel label (UTF-8).
    pub label: &'a str,
    /// The sub-protocol (UTF-8, IANA WebSocket subprotocol registry).
    pub protocol: &'a str,
}

impl<'a> DataChannelOpen<'a> {
    /// Length of the fixed part.
    pub const FIXED_LEN: usize = 12;

    /// Parses a DATA_CHANNEL_OPEN; lengths must match exactly and strings be UTF-8.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        if bytes.first() != Some(&MessageType::DATA_CHANNEL_OPEN.0) {
            return Err(Error::Malformed("not a DATA_CHANNEL_OPEN"));
        }
        let channel_type = ChannelType(*bytes.get(1).ok_or(Error::Truncated("DCEP OPEN"))?);
        let priority = read_u16(bytes, 2, "DCEP OPEN")?;
        let reliability_parameter = read_u32(bytes, 4, "DCEP OPEN")?;
        let label_len = usize::from(read_u16(bytes, 8, "DCEP OPEN")?);
        let protocol_len = usize::from(read_u16(bytes, 10, "DCEP OPEN")?);
        let rest = &bytes[Self::FIXED_LEN..];
        if rest.len() < label_len + protocol_len {
            return Err(Error::Truncated("DCEP OPEN label and protocol"));
        }
        if rest.len() > label_len + protocol_len {
            return Err(Error::Malformed("DCEP OPEN longer than its label and protocol"));
        }
        let (label, protocol) = rest.split_at(label_len);
        let label = std::str::from_utf8(label).map_err(|_| Error::Malformed("label not UTF-8"))?;
        let protocol =
            std::str::from_utf8(protocol).map_err(|_| Error::Malformed("protocol not UTF-8"))?;
        Ok(Self { channel_type, priority, reliability_parameter, label, protocol })
    }

    /// Encoded length.
    pub fn encoded_len(&self) -> usize {
        Self::FIXED_LEN + self.label.len() + self.protocol.len()
    }

    /// Appends the message to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let label_len =
            u16::try_from(self.label.len()).map_err(|_| Error::InvalidInput("label too long"))?;
        let protocol_len = u16::try_from(self.protocol.len())
            .map_err(|_| Error::InvalidInput("protocol too long"))?;
        out.reserve(self.encoded_len());
        out.extend_from_slice(&[MessageType::DATA_CHANNEL_OPEN.0, self.channel_type.0]);
        out.extend_from_slice(&self.priority.to_be_bytes());
        out.extend_from_slice(&self.reliability_parameter.to_be_bytes());
        out.extend_from_slice(&label_len.to_be_bytes());
        out.extend_from_slice(&protocol_len.to_be_bytes());
        out.extend_from_slice(self.label.as_bytes());
        out.extend_from_slice(self.protocol.as_bytes());
        Ok(())
    }
}

/// A DATA_CHANNEL_ACK message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataChannelAck;

impl DataChannelAck {
    /// The encoded message.
    pub const BYTES: [u8; 1] = [MessageType::DATA_CHANNEL_ACK.0];

    /// Parses a DATA_CHANNEL_ACK (trailing bytes are tolerated, as by browsers).
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        match bytes.first() {
            Some(&t) if t == MessageType::DATA_CHANNEL_ACK.0 => Ok(Self),
            Some(_) => Err(Error::Malformed("not a DATA_CHANNEL_ACK")),
            None => Err(Error::Truncated("DCEP message")),
        }
    }
}

/// Any DCEP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DcepMessage<'a> {
    /// DATA_CHANNEL_OPEN.
    Open(DataChannelOpen<'a>),
    /// DATA_CHANNEL_ACK.
    Ack,
}

impl<'a> DcepMessage<'a> {
    /// Parses a message received with PPID 50.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        match bytes.first().map(|&t| MessageType(t)) {
            Some(MessageType::DATA_CHANNEL_OPEN) => DataChannelOpen::parse(bytes).map(Self::Open),
            Some(MessageType::DATA_CHANNEL_ACK) => DataChannelAck::parse(bytes).map(|_| Self::Ack),
            Some(_) => Err(Error::Malformed("unknown DCEP message type")),
            None => Err(Error::Truncated("DCEP message")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_bytes() {
        let open = DataChannelOpen {
            channel_type: ChannelType::PARTIAL_RELIABLE_REXMIT_UNORDERED,
            priority: priority::NORMAL,
            reliability_parameter: 3,
            label: "chat",
            protocol: "",
        };
        let mut out = Vec::new();
        open.write_to(&mut out).unwrap();
        assert_eq!(out, [0x03, 0x81, 0x01, 0x00, 0, 0, 0, 3, 0, 4, 0, 0, b'c', b'h', b'a', b't']);
        assert_eq!(DcepMessage::parse(&out), Ok(DcepMessage::Open(open)));
        assert_eq!(DcepMessage::parse(&DataChannelAck::BYTES), Ok(DcepMessage::Ack));
        assert_eq!(format!("{:?}", open.channel_type), "PARTIAL_RELIABLE_REXMIT_UNORDERED");
    }

    #[test]
    fn malformed() {
        let mut out = Vec::new();
        DataChannelOpen {
            channel_type: ChannelType::RELIABLE,
            priority: 0,
            reliability_parameter: 0,
            label: "ab",
            protocol: "c",
        }
        .write_to(&mut out)
        .unwrap();
        for cut in 0..out.len() {
            assert!(DcepMessage::parse(&out[..cut]).is_err());
        }
        let mut long = out.clone();
        long.push(0);
        assert!(DataChannelOpen::parse(&long).is_err());
        let mut bad_utf8 = out.clone();
        bad_utf8[12] = 0xff;
        assert_eq!(DataChannelOpen::parse(&bad_utf8), Err(Error::Malformed("label not UTF-8")));
        assert!(DcepMessage::parse(&[0x09]).is_err());
        assert!(DataChannelAck::parse(&[0x03]).is_err());
    }

    #[test]
    fn channel_types_map_to_send_options() {
        let (t, p) =
            ChannelType::new(false, PartialReliability::MaxLifetime(Duration::from_millis(1500)));
        assert_eq!((t, p), (ChannelType::PARTIAL_RELIABLE_TIMED_UNORDERED, 1500));
        assert_eq!(
            t.send_options(p),
            SendOptions {
                unordered: true,
                reliability: PartialReliability::MaxLifetime(Duration::from_millis(1500))
            }
        );
        let (t, p) = ChannelType::new(true, PartialReliability::MaxRetransmits(2));
        assert_eq!((t, p), (ChannelType::PARTIAL_RELIABLE_REXMIT, 2));
        assert_eq!(ChannelType::new(true, PartialReliability::None), (ChannelType::RELIABLE, 0));
        assert_eq!(ChannelType(0x05).reliability(9), PartialReliability::None);
    }

    proptest! {
        #[test]
        fn round_trip(t: u8, priority: u16, param: u32, label in ".{0,40}", protocol in ".{0,20}") {
            let open = DataChannelOpen { channel_type: ChannelType(t), priority,
                reliability_parameter: param, label: &label, protocol: &protocol };
            let mut out = Vec::new();
            open.write_to(&mut out).unwrap();
            prop_assert_eq!(out.len(), open.encoded_len());
            prop_assert_eq!(DcepMessage::parse(&out).unwrap(), DcepMessage::Open(open));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = DcepMessage::parse(&bytes);
        }
    }
}
