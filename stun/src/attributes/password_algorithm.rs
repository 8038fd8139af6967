//! PASSWORD-ALGORITHMS and PASSWORD-ALGORITHM (RFC 8489 §14.11, §14.12): which hash derives
//! the long-term key.
//!
//! ```text
//!  0                   1                   2                   3
//! |          Algorithm           |  Algorithm Parameters Length   |
//! |                    Algorithm Parameters (variable)  (padded to 4)
//! ```

use std::fmt;

use super::{invalid, Attribute};
use crate::{wire, AttributeType, Error, TransactionId};

/// A password algorithm number (RFC 8489 §18.5). Open: unknown numbers are representable.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PasswordAlgorithmId(pub u16);

impl PasswordAlgorithmId {
    /// MD5, the RFC 5389 key derivation.
    pub const MD5: Self = Self(0x0001);
    /// SHA-256 (RFC 8489 §18.5).
    pub const SHA256: Self = Self(0x0002);
}

impl fmt::Debug for PasswordAlgorithmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::MD5 => f.write_str("MD5"),
            Self::SHA256 => f.write_str("SHA-256"),
            Self(other) => write!(f, "PasswordAlgorithmId(0x{other:04X})"),
        }
    }
}

/// PASSWORD-ALGORITHM: the algorithm the client chose, with its parameters (none for MD5 and
/// SHA-256).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PasswordAlgorithm<'a> {
    /// The algorithm.
    pub algorithm: PasswordAlgorithmId,
    /// Algorithm-specific parameters, without padding.
    pub parameters: &'a [u8],
}

impl PasswordAlgorithm<'_> {
    /// MD5 without parameters.
    pub const MD5: PasswordAlgorithm<'static> =
        PasswordAlgorithm { algorithm: PasswordAlgorithmId::MD5, parameters: &[] };
    /// SHA-256 without parameters.
    pub const SHA256: PasswordAlgorithm<'static> =
        PasswordAlgorithm { algorithm: PasswordAlgorithmId::SHA256, parameters: &[] };
}

/// Reads one entry at `pos`; returns it and the offset after its padding. The padding of the
/// last entry may be missing (the attribute's own padding then covers it).
fn read_entry<'a>(
    attribute: AttributeType,
    value: &'a [u8],
    pos: usize,
) -> Result<(PasswordAlgorithm<'a>, usize), Error> {
    let algorithm = wire::u16_at(value, pos).ok_or(invalid(attribute, "truncated algorithm"))?;
    let len = wire::u16_at(value, pos + 2).ok_or(invalid(attribute, "truncated algorithm"))?;
    let start = pos + 4;
    let end = start + usize::from(len);
    let parameters = value.get(start..end).ok_or(invalid(attribute, "parameters past the end"))?;
    let next = (start + wire::padded_len(usize::from(len))).min(value.len());
    let entry = PasswordAlgorithm { algorithm: PasswordAlgorithmId(algorithm), parameters };
    Ok((entry, next))
}

fn write_entry(entry: &PasswordAlgorithm<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
    let len = u16::try_from(entry.parameters.len())
        .map_err(|_| Error::Encode("password algorithm parameters longer than 65535 bytes"))?;
    out.extend_from_slice(&entry.algorithm.0.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(entry.parameters);
    // RFC 8489 §14.12: "the padding bits MUST be set to zero on sending".
    out.extend(std::iter::repeat_n(0, wire::padding_len(entry.parameters.len())));
    Ok(())
}

impl<'a> Attribute<'a> for PasswordAlgorithm<'a> {
    const TYPE: AttributeType = AttributeType::PASSWORD_ALGORITHM;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        let (entry, next) = read_entry(Self::TYPE, value, 0)?;
        if next != value.len() {
            return Err(invalid(Self::TYPE, "bytes after the parameters"));
        }
        Ok(entry)
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        write_entry(self, out)
    }
}

/// PASSWORD-ALGORITHMS: the algorithms a server offers, in its order of preference.
#[derive(Clone, Copy, Debug)]
pub struct PasswordAlgorithms<'a> {
    repr: Repr<'a>,
}

#[derive(Clone, Copy, Debug)]
enum Repr<'a> {
    /// Validated at decode: the entries tile the value exactly.
    Wire(&'a [u8]),
    List(&'a [PasswordAlgorithm<'a>]),
}

impl<'a> PasswordAlgorithms<'a> {
    /// A list to send.
    pub const fn new(list: &'a [PasswordAlgorithm<'a>]) -> Self {
        Self { repr: Repr::List(list) }
    }

    /// The algorithms, in order.
    pub fn iter(&self) -> PasswordAlgorithmsIter<'a> {
        PasswordAlgorithmsIter { repr: self.repr, pos: 0 }
    }

    /// Whether `algorithm` is offered.
    pub fn contains(&self, algorithm: PasswordAlgorithmId) -> bool {
        self.iter().any(|a| a.algorithm == algorithm)
    }
}

impl PartialEq for PasswordAlgorithms<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for PasswordAlgorithms<'_> {}

impl<'a> IntoIterator for &PasswordAlgorithms<'a> {
    type Item = PasswordAlgorithm<'a>;
    type IntoIter = PasswordAlgorithmsIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over [`PasswordAlgorithms`].
#[derive(Clone, Debug)]
pub struct PasswordAlgorithmsIter<'a> {
    repr: Repr<'a>,
    pos: usize,
}

impl<'a> Iterator for PasswordAlgorithmsIter<'a> {
    type Item = PasswordAlgorithm<'a>;

    fn next(&mut self) -> Option<PasswordAlgorithm<'a>> {
        match self.repr {
            Repr::Wire(value) => {
                if self.pos >= value.len() {
                    return None;
                }
                // Validated at decode; an error here cannot happen and just ends iteration.
                let (entry, next) =
                    read_entry(AttributeType::PASSWORD_ALGORITHMS, value, self.pos).ok()?;
                self.pos = next;
                Some(entry)
            }
            Repr::List(list) => {
                let entry = *list.get(self.pos)?;
                self.pos += 1;
                Some(entry)
            }
        }
    }
}

impl<'a> Attribute<'a> for PasswordAlgorithms<'a> {
    const TYPE: AttributeType = AttributeType::PASSWORD_ALGORITHMS;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        let mut pos = 0;
        while pos < value.len() {
            let (_, next) = read_entry(Self::TYPE, value, pos)?;
            pos = next;
        }
        Ok(Self { repr: Repr::Wire(value) })
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        for entry in self.iter() {
            write_entry(&entry, out)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{round_trip, TID};
    use super::*;

    #[test]
    fn offer_of_sha256_and_md5() {
        let list = [PasswordAlgorithm::SHA256, PasswordAlgorithm::MD5];
        let offer = PasswordAlgorithms::new(&list);
        let mut s = Vec::new();
        let bytes = round_trip(&offer, &mut s);
        assert_eq!(bytes, [0, 2, 0, 0, 0, 1, 0, 0]);
        let decoded = PasswordAlgorithms::decode(&bytes, &TID).unwrap();
        assert!(decoded.contains(PasswordAlgorithmId::MD5));
        assert!(!decoded.contains(PasswordAlgorithmId(3)));
        assert_eq!(decoded.iter().count(), 2);
    }

    #[test]
    fn parameters_are_padded() {
        let params = [1u8, 2, 3, 4, 5];
        let alg = PasswordAlgorithm { algorithm: PasswordAlgorithmId(9), parameters: &params };
        let mut s = Vec::new();
        let bytes = round_trip(&alg, &mut s);
        assert_eq!(bytes, [0, 9, 0, 5, 1, 2, 3, 4, 5, 0, 0, 0]);
        let list = [alg, PasswordAlgorithm::MD5, alg];
        let mut s = Vec::new();
        round_trip(&PasswordAlgorithms::new(&list), &mut s);
        // The unpadded form of a final entry is accepted too.
        let decoded = PasswordAlgorithm::decode(&bytes[..9], &TID).unwrap();
        assert_eq!(decoded, alg);
    }

    #[test]
    fn malformed() {
        for value in [&[][..], &[0, 1, 0], &[0, 1, 0, 1], &[0, 1, 0, 0, 9, 9, 9, 9]] {
            assert!(PasswordAlgorithm::decode(value, &TID).is_err(), "{value:?}");
        }
        for value in [&[0, 1, 0][..], &[0, 1, 0, 0, 0, 2], &[0, 1, 0, 8, 0, 0, 0, 0]] {
            assert!(PasswordAlgorithms::decode(value, &TID).is_err(), "{value:?}");
        }
        assert!(PasswordAlgorithms::decode(&[], &TID).unwrap().iter().next().is_none());
    }
}
