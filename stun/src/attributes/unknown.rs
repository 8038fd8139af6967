//! UNKNOWN-ATTRIBUTES (RFC 8489 §14.13): the comprehension-required attribute types a server
//! did not understand, sent with error 420.

use super::{invalid, Attribute};
use crate::{wire, AttributeType, Error, TransactionId};

/// UNKNOWN-ATTRIBUTES: a list of 16-bit attribute types.
///
/// Decoding borrows the wire bytes; building one for sending borrows a slice of types. To
/// answer a request without collecting anything, pass the iterator of
/// [`Message::unknown_comprehension_required`](crate::Message::unknown_comprehension_required)
/// to [`MessageWriter::add_unknown_attributes`](crate::MessageWriter::add_unknown_attributes).
#[derive(Clone, Copy, Debug)]
pub struct UnknownAttributes<'a> {
    repr: Repr<'a>,
}

#[derive(Clone, Copy, Debug)]
enum Repr<'a> {
    /// Big-endian pairs, even length checked at decode.
    Wire(&'a [u8]),
    Types(&'a [AttributeType]),
}

impl<'a> UnknownAttributes<'a> {
    /// A list to send.
    pub const fn new(types: &'a [AttributeType]) -> Self {
        Self { repr: Repr::Types(types) }
    }

    /// Number of listed types.
    pub const fn len(&self) -> usize {
        match self.repr {
            Repr::Wire(bytes) => bytes.len() / 2,
            Repr::Types(types) => types.len(),
        }
    }

    /// Whether the list is empty.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The listed types, in order.
    pub fn iter(&self) -> UnknownAttributesIter<'a> {
        UnknownAttributesIter { repr: self.repr, pos: 0 }
    }
}

impl PartialEq for UnknownAttributes<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for UnknownAttributes<'_> {}

impl<'a> IntoIterator for &UnknownAttributes<'a> {
    type Item = AttributeType;
    type IntoIter = UnknownAttributesIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over [`UnknownAttributes`].
#[derive(Clone, Debug)]
pub struct UnknownAttributesIter<'a> {
    repr: Repr<'a>,
    pos: usize,
}

impl Iterator for UnknownAttributesIter<'_> {
    type Item = AttributeType;

    fn next(&mut self) -> Option<AttributeType> {
        let item = match self.repr {
            Repr::Wire(bytes) => AttributeType(wire::u16_at(bytes, self.pos.checked_mul(2)?)?),
            Repr::Types(types) => *types.get(self.pos)?,
        };
        self.pos += 1;
        Some(item)
    }
}

/// Appends each type as two bytes. Shared with the writer's iterator-based entry point.
pub(crate) fn encode_types(
    types: impl IntoIterator<Item = AttributeType>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    for t in types {
        out.extend_from_slice(&t.0.to_be_bytes());
    }
    Ok(())
}

impl<'a> Attribute<'a> for UnknownAttributes<'a> {
    const TYPE: AttributeType = AttributeType::UNKNOWN_ATTRIBUTES;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        if value.len() % 2 != 0 {
            return Err(invalid(Self::TYPE, "odd length"));
        }
        Ok(Self { repr: Repr::Wire(value) })
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        encode_types(self.iter(), out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{round_trip, TID};
    use super::*;

    #[test]
    fn round_trip_and_iterate() {
        let types = [AttributeType(0x0002), AttributeType(0x7777), AttributeType::USERNAME];
        let list = UnknownAttributes::new(&types);
        let mut s = Vec::new();
        let bytes = round_trip(&list, &mut s);
        assert_eq!(bytes, [0x00, 0x02, 0x77, 0x77, 0x00, 0x06]);
        let decoded = UnknownAttributes::decode(&bytes, &TID).unwrap();
        assert_eq!(decoded.len(), 3);
        assert_eq!(decoded.iter().collect::<Vec<_>>(), types);
        assert!(UnknownAttributes::decode(&[], &TID).unwrap().is_empty());
    }

    #[test]
    fn odd_length_is_rejected() {
        assert!(UnknownAttributes::decode(&[0, 1, 2], &TID).is_err());
    }
}
