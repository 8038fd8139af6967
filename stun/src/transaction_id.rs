//! The 96-bit transaction ID (RFC 8489 §5).

use std::fmt;

/// A 96-bit transaction ID. The client picks it uniformly at random (RFC 8489 §5); this crate
/// reads no RNG, so the caller supplies the bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TransactionId(pub [u8; 12]);

impl TransactionId {
    /// Wraps the 12 bytes.
    pub const fn new(bytes: [u8; 12]) -> Self {
        Self(bytes)
    }

    /// The 12 bytes as sent.
    pub const fn as_bytes(&self) -> &[u8; 12] {
        &self.0
    }
}

impl From<[u8; 12]> for TransactionId {
    fn from(bytes: [u8; 12]) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TransactionId(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_hex() {
        let id = TransactionId::new([
            0xb7, 0xe7, 0xa7, 1, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
        ]);
        assert_eq!(format!("{id:?}"), "TransactionId(b7e7a701bc34d686fa87dfae)");
        assert_eq!(id.as_bytes()[3], 1);
    }
}
