//! Typed attribute codecs.
//!
//! Each attribute is a small type implementing [`Attribute`]: `decode` reads a borrowed value
//! (the bytes between the TLV header and the padding) and never panics; `encode` appends the
//! value to the writer's buffer (the writer adds the TLV header and padding).
//! Reserved bits are ignored on decode and written as zero, so `decode(encode(x)) == x`.

mod address;
mod error_code;
mod ice;
mod integrity;
mod password_algorithm;
mod text;
mod turn;
pub(crate) mod unknown;

pub use address::{
    AlternateServer, MappedAddress, XorMappedAddress, XorPeerAddress, XorRelayedAddress,
};
pub use error_code::ErrorCode;
pub use ice::{IceControlled, IceControlling, Priority, UseCandidate};
pub use integrity::{Fingerprint, MessageIntegrity, MessageIntegritySha256, Userhash};
pub use password_algorithm::{
    PasswordAlgorithm, PasswordAlgorithmId, PasswordAlgorithms, PasswordAlgorithmsIter,
};
pub use text::{AlternateDomain, Nonce, Realm, SecurityFeatures, Software, Username};
pub use turn::{
    AdditionalAddressFamily, AddressErrorCode, AddressFamily, ChannelNumber, ConnectionId, Data,
    DontFragment, EvenPort, Icmp, Lifetime, RequestedAddressFamily, RequestedTransport,
    ReservationToken, TransportProtocol,
};
pub use unknown::{UnknownAttributes, UnknownAttributesIter};

use crate::{AttributeType, Error, TransactionId};

/// A typed STUN attribute.
///
/// `'a` is the lifetime of the message buffer a decoded value may borrow from.
pub trait Attribute<'a>: Sized {
    /// The attribute type this codec reads and writes.
    const TYPE: AttributeType;

    /// Decodes the value bytes (without TLV header and padding). The transaction ID is needed
    /// by the XOR-address attributes (RFC 8489 §14.2) and ignored by the others.
    fn decode(value: &'a [u8], transaction_id: &TransactionId) -> Result<Self, Error>;

    /// Appends the value bytes to `out` (nothing else: no header, no padding). Fails when the
    /// value breaks an encoding limit of the RFC (too long, out of range).
    fn encode(&self, transaction_id: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error>;
}

/// The error for a broken attribute value.
pub(crate) const fn invalid(attribute: AttributeType, reason: &'static str) -> Error {
    Error::InvalidAttribute { attribute, reason }
}

/// Checks that a fixed-size value has exactly `N` bytes and returns them.
pub(crate) fn fixed<const N: usize>(
    attribute: AttributeType,
    value: &[u8],
) -> Result<[u8; N], Error> {
    value.try_into().map_err(|_| invalid(attribute, "wrong value length"))
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::Attribute;
    use crate::TransactionId;

    pub(crate) const TID: TransactionId =
        TransactionId([0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae]);

    /// Encodes then decodes, asserting equality; returns the value bytes.
    pub(crate) fn round_trip<'a, A>(attr: &A, scratch: &'a mut Vec<u8>) -> Vec<u8>
    where
        A: Attribute<'a> + PartialEq + std::fmt::Debug,
    {
        scratch.clear();
        attr.encode(&TID, scratch).unwrap();
        let bytes = scratch.clone();
        let decoded = A::decode(scratch, &TID).unwrap();
        assert_eq!(&decoded, attr);
        bytes
    }
}
