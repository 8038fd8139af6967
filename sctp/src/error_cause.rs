//! Error causes (RFC 9260 §3.3.10) carried by ABORT and ERROR chunks.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Cause Code          |         Cause Length          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! /                    Cause-Specific Information                 /
//! \                                                               \
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::fmt;
use std::iter::FusedIterator;

use crate::bytes::{length_field, pad_to_4, padded, read_u16};
use crate::Error;

/// An error cause code: open, unknown codes are kept as numbers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCauseCode(pub u16);

impl ErrorCauseCode {
    /// Invalid Stream Identifier (RFC 9260 §3.3.10.1).
    pub const INVALID_STREAM_IDENTIFIER: Self = Self(1);
    /// Missing Mandatory Parameter (RFC 9260 §3.3.10.2).
    pub const MISSING_MANDATORY_PARAMETER: Self = Self(2);
    /// Stale Cookie (RFC 9260 §3.3.10.3).
    pub const STALE_COOKIE: Self = Self(3);
    /// Out of Resource (RFC 9260 §3.3.10.4).
    pub const OUT_OF_RESOURCE: Self = Self(4);
    /// Unresolvable Address (RFC 9260 §3.3.10.5).
    pub const UNRESOLVABLE_ADDRESS: Self = Self(5);
    /// Unrecognized Chunk Type (RFC 9260 §3.3.10.6).
    pub const UNRECOGNIZED_CHUNK_TYPE: Self = Self(6);
    /// Invalid Mandatory Parameter (RFC 9260 §3.3.10.7).
    pub const INVALID_MANDATORY_PARAMETER: Self = Self(7);
    /// Unrecognized Parameters (RFC 9260 §3.3.10.8).
    pub const UNRECOGNIZED_PARAMETERS: Self = Self(8);
    /// No User Data (RFC 9260 §3.3.10.9).
    pub const NO_USER_DATA: Self = Self(9);
    /// Cookie Received While Shutting Down (RFC 9260 §3.3.10.10).
    pub const COOKIE_RECEIVED_WHILE_SHUTTING_DOWN: Self = Self(10);
    /// Restart of an Association with New Addresses (RFC 9260 §3.3.10.11).
    pub const RESTART_WITH_NEW_ADDRESSES: Self = Self(11);
    /// User-Initiated Abort (RFC 9260 §3.3.10.12).
    pub const USER_INITIATED_ABORT: Self = Self(12);
    /// Protocol Violation (RFC 9260 §3.3.10.13).
    pub const PROTOCOL_VIOLATION: Self = Self(13);

    fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "Invalid-Stream-Identifier",
            2 => "Missing-Mandatory-Parameter",
            3 => "Stale-Cookie",
            4 => "Out-of-Resource",
            5 => "Unresolvable-Address",
            6 => "Unrecognized-Chunk-Type",
            7 => "Invalid-Mandatory-Parameter",
            8 => "Unrecognized-Parameters",
            9 => "No-User-Data",
            10 => "Cookie-Received-While-Shutting-Down",
            11 => "Restart-With-New-Addresses",
            12 => "User-Initiated-Abort",
            13 => "Protocol-Violation",
            _ => return None,
        })
    }
}

impl fmt::Debug for ErrorCauseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "ErrorCauseCode({})", self.0),
        }
    }
}

impl fmt::Display for ErrorCauseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One error cause: its code and cause-specific information.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCause<'a> {
    /// The cause code.
    pub code: ErrorCauseCode,
    /// The cause-specific information (padding excluded).
    pub info: &'a [u8],
}

impl ErrorCause<'_> {
    /// Length of the cause header.
    pub const HEADER_LEN: usize = 4;

    /// Appends the cause (header, information, padding) to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let len = length_field(Self::HEADER_LEN + self.info.len(), "error cause too long")?;
        out.extend_from_slice(&self.code.0.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(self.info);
        pad_to_4(out);
        Ok(())
    }
}

/// Iterator over the error causes of an ABORT or ERROR chunk.
#[derive(Debug, Clone)]
pub struct ErrorCauses<'a> {
    rest: &'a [u8],
}

impl<'a> ErrorCauses<'a> {
    /// Walks the causes in `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { rest: buf }
    }
}

impl<'a> Iterator for ErrorCauses<'a> {
    type Item = Result<ErrorCause<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let parsed = (|| {
            let code = ErrorCauseCode(read_u16(self.rest, 0, "error cause header")?);
            let length = usize::from(read_u16(self.rest, 2, "error cause header")?);
            if length < ErrorCause::HEADER_LEN {
                return Err(Error::Malformed("error cause length below 4"));
            }
            let bytes = self.rest.get(..length).ok_or(Error::Truncated("error cause"))?;
            let consumed = padded(length).min(self.rest.len());
            Ok((ErrorCause { code, info: &bytes[ErrorCause::HEADER_LEN..] }, consumed))
        })();
        match parsed {
            Ok((cause, consumed)) => {
                self.rest = &self.rest[consumed..];
                Some(Ok(cause))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

impl FusedIterator for ErrorCauses<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut buf = Vec::new();
        ErrorCause { code: ErrorCauseCode::STALE_COOKIE, info: &[0, 0, 1, 0] }
            .write_to(&mut buf)
            .unwrap();
        ErrorCause { code: ErrorCauseCode::USER_INITIATED_ABORT, info: b"bye" }
            .write_to(&mut buf)
            .unwrap();
        assert_eq!(buf.len(), 8 + 8);
        let causes: Vec<_> = ErrorCauses::new(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(causes[0].code, ErrorCauseCode::STALE_COOKIE);
        assert_eq!(causes[0].info, [0, 0, 1, 0]);
        assert_eq!(causes[1].info, b"bye");
        assert_eq!(format!("{}", causes[1].code), "User-Initiated-Abort");
        assert_eq!(format!("{:?}", ErrorCauseCode(77)), "ErrorCauseCode(77)");
    }

    #[test]
    fn malformed() {
        assert_eq!(
            ErrorCauses::new(&[0, 3]).next(),
            Some(Err(Error::Truncated("error cause header")))
        );
        assert_eq!(
            ErrorCauses::new(&[0, 3, 0, 1]).next(),
            Some(Err(Error::Malformed("error cause length below 4")))
        );
        assert_eq!(
            ErrorCauses::new(&[0, 3, 0, 9]).next(),
            Some(Err(Error::Truncated("error cause")))
        );
    }
}
