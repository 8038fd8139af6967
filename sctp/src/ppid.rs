//! Payload Protocol Identifiers (RFC 9260 §3.3.1; WebRTC values from RFC 8831 §8 and
//! RFC 8832 §8.1).

use std::fmt;

/// A Payload Protocol Identifier: open, any 32-bit value is carried through.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Ppid(pub u32);

impl Ppid {
    /// WebRTC DCEP (RFC 8832).
    pub const DCEP: Self = Self(50);
    /// WebRTC String.
    pub const STRING: Self = Self(51);
    /// WebRTC Binary Partial (deprecated).
    pub const BINARY_PARTIAL: Self = Self(52);
    /// WebRTC Binary.
    pub const BINARY: Self = Self(53);
    /// WebRTC String Partial (deprecated).
    pub const STRING_PARTIAL: Self = Self(54);
    /// WebRTC String Empty: an empty string, sent as one zero byte.
    pub const STRING_EMPTY: Self = Self(56);
    /// WebRTC Binary Empty: an empty binary message, sent as one zero byte.
    pub const BINARY_EMPTY: Self = Self(57);
}

impl fmt::Debug for Ppid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            Self::DCEP => "DCEP",
            Self::STRING => "String",
            Self::BINARY_PARTIAL => "Binary-Partial",
            Self::BINARY => "Binary",
            Self::STRING_PARTIAL => "String-Partial",
            Self::STRING_EMPTY => "String-Empty",
            Self::BINARY_EMPTY => "Binary-Empty",
            Self(n) => return write!(f, "Ppid({n})"),
        };
        f.write_str(name)
    }
}

impl fmt::Display for Ppid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(format!("{:?}", Ppid::BINARY_EMPTY), "Binary-Empty");
        assert_eq!(format!("{}", Ppid(7)), "Ppid(7)");
        assert_eq!(Ppid::STRING_PARTIAL.0, 54);
        assert_eq!(Ppid::BINARY_PARTIAL.0, 52);
    }
}
