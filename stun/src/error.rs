//! The one error type of the crate.

use crate::AttributeType;

/// Everything that can go wrong while reading or writing STUN and ChannelData.
///
/// Malformed network input is reported with a `&'static str` that names the broken rule; the
/// caller drops (and counts) the packet. Verification failures and writer misuse have their
/// own variants so that a server can choose the right error response (400 vs 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The buffer ends before the structure it should hold.
    #[error("truncated input: {0}")]
    Truncated(&'static str),
    /// The bytes are not a STUN message at all (first bits, magic cookie).
    #[error("not a STUN message: {0}")]
    NotStun(&'static str),
    /// The STUN header or attribute layout breaks a rule of RFC 8489.
    #[error("malformed STUN message: {0}")]
    Malformed(&'static str),
    /// One attribute's value cannot be decoded.
    #[error("malformed {attribute} attribute: {reason}")]
    InvalidAttribute {
        /// The attribute whose value is broken.
        attribute: AttributeType,
        /// The broken rule.
        reason: &'static str,
    },
    /// A ChannelData frame (RFC 8656 §12.4) is malformed.
    #[error("malformed ChannelData: {0}")]
    InvalidChannelData(&'static str),
    /// A verification was asked for but the message does not carry the attribute.
    #[error("{0} attribute is missing")]
    MissingAttribute(AttributeType),
    /// MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 or FINGERPRINT does not match the message.
    #[error("{0} check failed")]
    CheckFailed(AttributeType),
    /// A value cannot be encoded (too long, out of range) or attributes were added in an
    /// order the receiver would ignore.
    #[error("cannot encode: {0}")]
    Encode(&'static str),
    /// The crypto library refused an operation (for example MD5 disabled by a FIPS policy).
    #[error("crypto failure: {0}")]
    Crypto(&'static str),
}
