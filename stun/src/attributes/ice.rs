//! ICE attributes (RFC 8445 §7.1.1, §16.1): PRIORITY, USE-CANDIDATE, ICE-CONTROLLED,
//! ICE-CONTROLLING.

use super::{fixed, invalid, Attribute};
use crate::{AttributeType, Error, TransactionId};

/// PRIORITY: the priority a peer-reflexive candidate learned from this check would get.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Priority(pub u32);

impl Attribute<'_> for Priority {
    const TYPE: AttributeType = AttributeType::PRIORITY;

    fn decode(value: &[u8], _: &TransactionId) -> Result<Self, Error> {
        fixed(Self::TYPE, value).map(|b| Self(u32::from_be_bytes(b)))
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.0.to_be_bytes());
        Ok(())
    }
}

/// USE-CANDIDATE: the controlling agent nominates this pair. No value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct UseCandidate;

impl Attribute<'_> for UseCandidate {
    const TYPE: AttributeType = AttributeType::USE_CANDIDATE;

    fn decode(value: &[u8], _: &TransactionId) -> Result<Self, Error> {
        if value.is_empty() {
            Ok(Self)
        } else {
            Err(invalid(Self::TYPE, "must be empty"))
        }
    }

    fn encode(&self, _: &TransactionId, _: &mut Vec<u8>) -> Result<(), Error> {
        Ok(())
    }
}

/// ICE-CONTROLLED: the sender is controlled; the value is its tie-breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IceControlled(pub u64);

impl Attribute<'_> for IceControlled {
    const TYPE: AttributeType = AttributeType::ICE_CONTROLLED;

    fn decode(value: &[u8], _: &TransactionId) -> Result<Self, Error> {
        fixed(Self::TYPE, value).map(|b| Self(u64::from_be_bytes(b)))
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.0.to_be_bytes());
        Ok(())
    }
}

/// ICE-CONTROLLING: the sender is controlling; the value is its tie-breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IceControlling(pub u64);

impl Attribute<'_> for IceControlling {
    const TYPE: AttributeType = AttributeType::ICE_CONTROLLING;

    fn decode(value: &[u8], _: &TransactionId) -> Result<Self, Error> {
        fixed(Self::TYPE, value).map(|b| Self(u64::from_be_bytes(b)))
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.0.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{round_trip, TID};
    use super::*;

    #[test]
    fn rfc5769_values() {
        // RFC 5769 §2.1: PRIORITY 0x6e0001ff, ICE-CONTROLLED 0x932ff9b151263b36.
        assert_eq!(
            Priority::decode(&[0x6e, 0x00, 0x01, 0xff], &TID).unwrap(),
            Priority(0x6e00_01ff)
        );
        let tie = [0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36];
        assert_eq!(
            IceControlled::decode(&tie, &TID).unwrap(),
            IceControlled(0x932f_f9b1_5126_3b36)
        );
    }

    #[test]
    fn round_trips_and_lengths() {
        let mut s = Vec::new();
        assert_eq!(round_trip(&UseCandidate, &mut s), Vec::<u8>::new());
        round_trip(&Priority(1), &mut s);
        round_trip(&IceControlling(u64::MAX), &mut s);
        assert!(UseCandidate::decode(&[0], &TID).is_err());
        assert!(Priority::decode(&[0; 3], &TID).is_err());
        assert!(Priority::decode(&[0; 8], &TID).is_err());
        assert!(IceControlling::decode(&[0; 4], &TID).is_err());
        assert!(IceControlled::decode(&[0; 9], &TID).is_err());
    }
}
