//! Optional/variable-length parameters (RFC 9260 §3.2.1) carried by INIT, INIT-ACK,
//! HEARTBEAT and RE-CONFIG chunks.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Parameter Type       |       Parameter Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! \                                                               \
//! /                       Parameter Value                         /
//! \                                                               \
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::fmt;
use std::iter::FusedIterator;

use crate::bytes::{length_field, pad_to_4, padded, read_u16, read_u32};
use crate::chunk::{ChunkType, UnrecognizedAction};
use crate::Error;

/// Length of a parameter header (type, length).
pub const PARAM_HEADER_LEN: usize = 4;

/// A parameter type: open, so that unknown parameters are skipped or reported by their action
/// bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamType(pub u16);

impl ParamType {
    /// Heartbeat Info (RFC 9260 §3.3.5).
    pub const HEARTBEAT_INFO: Self = Self(1);
    /// IPv4 Address (RFC 9260 §3.3.2.1); ignored, addresses come from ICE.
    pub const IPV4_ADDRESS: Self = Self(5);
    /// IPv6 Address (RFC 9260 §3.3.2.1); ignored, addresses come from ICE.
    pub const IPV6_ADDRESS: Self = Self(6);
    /// State Cookie (RFC 9260 §3.3.3.1).
    pub const STATE_COOKIE: Self = Self(7);
    /// Unrecognized Parameter (RFC 9260 §3.3.3.1).
    pub const UNRECOGNIZED_PARAMETER: Self = Self(8);
    /// Cookie Preservative (RFC 9260 §3.3.2.1).
    pub const COOKIE_PRESERVATIVE: Self = Self(9);
    /// Supported Address Types (RFC 9260 §3.3.2.1); ignored.
    pub const SUPPORTED_ADDRESS_TYPES: Self = Self(12);
    /// Outgoing SSN Reset Request (RFC 6525 §4.1).
    pub const OUTGOING_SSN_RESET_REQUEST: Self = Self(13);
    /// Incoming SSN Reset Request (RFC 6525 §4.2).
    pub const INCOMING_SSN_RESET_REQUEST: Self = Self(14);
    /// SSN/TSN Reset Request (RFC 6525 §4.3).
    pub const SSN_TSN_RESET_REQUEST: Self = Self(15);
    /// Re-configuration Response (RFC 6525 §4.4).
    pub const RECONFIG_RESPONSE: Self = Self(16);
    /// Add Outgoing Streams Request (RFC 6525 §4.5).
    pub const ADD_OUTGOING_STREAMS_REQUEST: Self = Self(17);
    /// Add Incoming Streams Request (RFC 6525 §4.6).
    pub const ADD_INCOMING_STREAMS_REQUEST: Self = Self(18);
    /// ECN Capable (RFC 9260 Appendix A); not supported.
    pub const ECN_CAPABLE: Self = Self(0x8000);
    /// Zero Checksum Acceptable (RFC 9653); not supported.
    pub const ZERO_CHECKSUM_ACCEPTABLE: Self = Self(0x8001);
    /// Random (RFC 4895); not supported.
    pub const RANDOM: Self = Self(0x8002);
    /// Chunk List (RFC 4895); not supported.
    pub const CHUNK_LIST: Self = Self(0x8003);
    /// Requested HMAC Algorithm (RFC 4895); not supported.
    pub const REQUESTED_HMAC_ALGORITHM: Self = Self(0x8004);
    /// Padding (RFC 4820); not supported.
    pub const PADDING: Self = Self(0x8005);
    /// Supported Extensions (RFC 5061 §4.2.7).
    pub const SUPPORTED_EXTENSIONS: Self = Self(0x8008);
    /// Forward-TSN-Supported (RFC 3758 §3.1).
    pub const FORWARD_TSN_SUPPORTED: Self = Self(0xc000);
    /// Adaptation Layer Indication (RFC 5061); not supported.
    pub const ADAPTATION_LAYER_INDICATION: Self = Self(0xc006);

    /// What to do when this type is not recognised (RFC 9260 §3.2.1).
    pub fn unrecognized_action(self) -> UnrecognizedAction {
        match self.0 >> 14 {
            0b00 => UnrecognizedAction::Stop,
            0b01 => UnrecognizedAction::StopAndReport,
            0b10 => UnrecognizedAction::Skip,
            _ => UnrecognizedAction::SkipAndReport,
        }
    }

    /// Parameters that an INIT or INIT-ACK may carry and that this crate recognises (acted
    /// upon or deliberately ignored).
    pub fn is_known_in_init(self) -> bool {
        matches!(
            self,
            Self::IPV4_ADDRESS
                | Self::IPV6_ADDRESS
                | Self::STATE_COOKIE
                | Self::UNRECOGNIZED_PARAMETER
                | Self::COOKIE_PRESERVATIVE
                | Self::SUPPORTED_ADDRESS_TYPES
                | Self::SUPPORTED_EXTENSIONS
                | Self::FORWARD_TSN_SUPPORTED
        )
    }

    fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::HEARTBEAT_INFO => "Heartbeat-Info",
            Self::IPV4_ADDRESS => "IPv4-Address",
            Self::IPV6_ADDRESS => "IPv6-Address",
            Self::STATE_COOKIE => "State-Cookie",
            Self::UNRECOGNIZED_PARAMETER => "Unrecognized-Parameter",
            Self::COOKIE_PRESERVATIVE => "Cookie-Preservative",
            Self::SUPPORTED_ADDRESS_TYPES => "Supported-Address-Types",
            Self::OUTGOING_SSN_RESET_REQUEST => "Outgoing-SSN-Reset-Request",
            Self::INCOMING_SSN_RESET_REQUEST => "Incoming-SSN-Reset-Request",
            Self::SSN_TSN_RESET_REQUEST => "SSN/TSN-Reset-Request",
            Self::RECONFIG_RESPONSE => "Re-configuration-Response",
            Self::ADD_OUTGOING_STREAMS_REQUEST => "Add-Outgoing-Streams-Request",
            Self::ADD_INCOMING_STREAMS_REQUEST => "Add-Incoming-Streams-Request",
            Self::ECN_CAPABLE => "ECN-Capable",
            Self::ZERO_CHECKSUM_ACCEPTABLE => "Zero-Checksum-Acceptable",
            Self::RANDOM => "Random",
            Self::CHUNK_LIST => "Chunk-List",
            Self::REQUESTED_HMAC_ALGORITHM => "Requested-HMAC-Algorithm",
            Self::PADDING => "Padding",
            Self::SUPPORTED_EXTENSIONS => "Supported-Extensions",
            Self::FORWARD_TSN_SUPPORTED => "Forward-TSN-Supported",
            Self::ADAPTATION_LAYER_INDICATION => "Adaptation-Layer-Indication",
            _ => return None,
        })
    }
}

impl fmt::Debug for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "ParamType({:#06x})", self.0),
        }
    }
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One parameter, not yet interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawParam<'a> {
    /// The parameter type.
    pub param_type: ParamType,
    /// The value: the bytes after the 4-byte header up to the Parameter Length.
    pub value: &'a [u8],
    /// The whole parameter, header included and padding excluded (what an "Unrecognized
    /// Parameter" carries).
    pub bytes: &'a [u8],
}

impl<'a> RawParam<'a> {
    /// The value as one big-endian `u32` (for fixed-size parameters).
    pub fn value_u32(&self, what: &'static str) -> Result<u32, Error> {
        if self.value.len() != 4 {
            return Err(Error::Malformed(what));
        }
        read_u32(self.value, 0, what)
    }

    /// Appends this parameter (header, value, padding) to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        write_param(out, self.param_type, self.value)
    }
}

/// Iterator over a region of parameters; yields an error once and stops when the layout is
/// broken.
#[derive(Debug, Clone)]
pub struct Params<'a> {
    rest: &'a [u8],
}

impl<'a> Params<'a> {
    /// Walks the parameters in `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { rest: buf }
    }
}

impl<'a> Iterator for Params<'a> {
    type Item = Result<RawParam<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let parsed = (|| {
            let param_type = ParamType(read_u16(self.rest, 0, "parameter header")?);
            let length = usize::from(read_u16(self.rest, 2, "parameter header")?);
            if length < PARAM_HEADER_LEN {
                return Err(Error::Malformed("parameter length below 4"));
            }
            let bytes = self.rest.get(..length).ok_or(Error::Truncated("parameter value"))?;
            let consumed = padded(length).min(self.rest.len());
            Ok((RawParam { param_type, value: &bytes[PARAM_HEADER_LEN..], bytes }, consumed))
        })();
        match parsed {
            Ok((param, consumed)) => {
                self.rest = &self.rest[consumed..];
                Some(Ok(param))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

impl FusedIterator for Params<'_> {}

/// Appends a parameter with `value` and its padding.
pub fn write_param(out: &mut Vec<u8>, param_type: ParamType, value: &[u8]) -> Result<(), Error> {
    let len = length_field(PARAM_HEADER_LEN + value.len(), "parameter longer than 65535 bytes")?;
    out.extend_from_slice(&param_type.0.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
    pad_to_4(out);
    Ok(())
}

/// The chunk types listed by a Supported Extensions parameter (RFC 5061 §4.2.7).
pub fn supported_extensions(value: &[u8]) -> impl Iterator<Item = ChunkType> + '_ {
    value.iter().map(|&t| ChunkType(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_bits() {
        // RFC 9260 §3.2.1: the two most significant bits of the parameter type.
        assert_eq!(ParamType(0x3f00).unrecognized_action(), UnrecognizedAction::Stop);
        assert_eq!(ParamType(0x7f00).unrecognized_action(), UnrecognizedAction::StopAndReport);
        assert_eq!(ParamType(0xbf00).unrecognized_action(), UnrecognizedAction::Skip);
        assert_eq!(ParamType(0xff00).unrecognized_action(), UnrecognizedAction::SkipAndReport);
        assert_eq!(ParamType::ECN_CAPABLE.unrecognized_action(), UnrecognizedAction::Skip);
        assert_eq!(format!("{:?}", ParamType(0x1234)), "ParamType(0x1234)");
        assert_eq!(format!("{}", ParamType::STATE_COOKIE), "State-Cookie");
    }

    #[test]
    fn round_trip_and_padding() {
        let mut buf = Vec::new();
        write_param(&mut buf, ParamType::STATE_COOKIE, &[1, 2, 3, 4, 5]).unwrap();
        write_param(&mut buf, ParamType::FORWARD_TSN_SUPPORTED, &[]).unwrap();
        assert_eq!(buf, [0, 7, 0, 9, 1, 2, 3, 4, 5, 0, 0, 0, 0xc0, 0, 0, 4]);
        let params: Vec<_> = Params::new(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(params[0].param_type, ParamType::STATE_COOKIE);
        assert_eq!(params[0].value, [1, 2, 3, 4, 5]);
        assert_eq!(params[0].bytes.len(), 9);
        assert_eq!(params[1].param_type, ParamType::FORWARD_TSN_SUPPORTED);
        let mut again = Vec::new();
        for p in &params {
            p.write_to(&mut again).unwrap();
        }
        assert_eq!(again, buf);
    }

    #[test]
    fn malformed() {
        assert_eq!(Params::new(&[0, 1, 0]).next(), Some(Err(Error::Truncated("parameter header"))));
        assert_eq!(
            Params::new(&[0, 1, 0, 2]).next(),
            Some(Err(Error::Malformed("parameter length below 4")))
        );
        assert_eq!(
            Params::new(&[0, 1, 0, 8, 0]).next(),
            Some(Err(Error::Truncated("parameter value")))
        );
        let p = RawParam { param_type: ParamType(9), value: &[1, 2], bytes: &[] };
        assert!(p.value_u32("x").is_err());
    }
}
