//! Attributes that hold digests: MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256, FINGERPRINT
//! (RFC 8489 §14.5-§14.7) and USERHASH (RFC 8489 §14.4).
//!
//! These codecs only read and write the stored bytes. Computing and checking the digests is
//! done by [`MessageWriter`](crate::MessageWriter) and [`Message`](crate::Message), which
//! know the surrounding message.

use super::{fixed, invalid, Attribute};
use crate::{wire, AttributeType, Error, TransactionId};

/// MESSAGE-INTEGRITY: HMAC-SHA1 of the message, always the full 20 bytes (RFC 8489 §14.5 has
/// no truncated form).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MessageIntegrity(pub [u8; 20]);

impl Attribute<'_> for MessageIntegrity {
    const TYPE: AttributeType = AttributeType::MESSAGE_INTEGRITY;

    fn decode(value: &[u8], _: &TransactionId) -> Result<Self, Error> {
        fixed(Self::TYPE, value).map(Self)
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.0);
        Ok(())
    }
}

/// MESSAGE-INTEGRITY-SHA256: an initial part of HMAC-SHA256 of the message, "at most 32
/// bytes, ... at least 16 bytes and MUST be a multiple of 4 bytes" (RFC 8489 §14.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MessageIntegritySha256<'a>(pub &'a [u8]);

impl MessageIntegritySha256<'_> {
    /// Whether `len` is an allowed length of the truncated HMAC (RFC 8489 §14.6).
    pub const fn is_valid_len(len: usize) -> bool {
        len >= 16 && len <= 32 && len % 4 == 0
    }
}

impl<'a> Attribute<'a> for MessageIntegritySha256<'a> {
    const TYPE: AttributeType = AttributeType::MESSAGE_INTEGRITY_SHA256;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        if !Self::is_valid_len(value.len()) {
            return Err(invalid(Self::TYPE, "length must be 16 to 32, a multiple of 4"));
        }
        Ok(Self(value))
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        if !Self::is_valid_len(self.0.len()) {
            return Err(Error::Encode(
                "MESSAGE-INTEGRITY-SHA256 length must be 16 to 32, a multiple of 4",
            ));
        }
        out.extend_from_slice(self.0);
        Ok(())
    }
}

/// FINGERPRINT: CRC-32 of the message XOR 0x5354554E (RFC 8489 §14.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub u32);

impl Attribute<'_> for Fingerprint {
    const TYPE: AttributeType = AttributeType::FINGERPRINT;

    fn decode(value: &[u8], _: &TransactionId) -> Result<Self, Error> {
        if value.len() != 4 {
            return Err(invalid(Self::TYPE, "wrong value length"));
        }
        wire::u32_at(value, 0).map(Self).ok_or(invalid(Self::TYPE, "wrong value length"))
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.0.to_be_bytes());
        Ok(())
    }
}

/// USERHASH: SHA-256 of `username ":" realm`, sent instead of USERNAME for anonymity
/// (RFC 8489 §14.4). Compute it with [`crate::credentials::userhash`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Userhash(pub [u8; 32]);

impl Attribute<'_> for Userhash {
    const TYPE: AttributeType = AttributeType::USERHASH;

    fn decode(value: &[u8], _: &TransactionId) -> Result<Self, Error> {
        fixed(Self::TYPE, value).map(Self)
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{round_trip, TID};
    use super::*;

    #[test]
    fn round_trips() {
        let mut s = Vec::new();
        round_trip(&MessageIntegrity([7; 20]), &mut s);
        round_trip(&Fingerprint(0xe57a_3bcf), &mut s);
        round_trip(&Userhash([9; 32]), &mut s);
        for len in [16, 20, 24, 28, 32] {
            let bytes = [3u8; 32];
            let mut s = Vec::new();
            round_trip(&MessageIntegritySha256(&bytes[..len]), &mut s);
        }
    }

    #[test]
    fn lengths_are_enforced() {
        assert!(MessageIntegrity::decode(&[0; 19], &TID).is_err());
        assert!(MessageIntegrity::decode(&[0; 21], &TID).is_err());
        assert!(Fingerprint::decode(&[0; 3], &TID).is_err());
        assert!(Fingerprint::decode(&[0; 5], &TID).is_err());
        assert!(Userhash::decode(&[0; 31], &TID).is_err());
        for len in [0, 4, 12, 15, 17, 18, 22, 30, 36, 64] {
            assert!(MessageIntegritySha256::decode(&[0; 64][..len], &TID).is_err(), "{len}");
        }
        let mut out = Vec::new();
        assert!(MessageIntegritySha256(&[0; 12]).encode(&TID, &mut out).is_err());
        assert!(MessageIntegritySha256(&[0; 33]).encode(&TID, &mut out).is_err());
    }
}
