//! The crate's error type.

/// Why a packet could not be parsed, rewritten or written.
///
/// Malformed network input yields one of the first group of variants and the packet is dropped
/// (and counted) by the caller; misuse of the writing API (an identifier out of range, a buffer
/// too small) yields the second group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ended before a field that must be present.
    #[error("truncated: {0}")]
    Truncated(&'static str),
    /// The RTP version field is not 2 (RFC 3550 §5.1).
    #[error("unsupported RTP version {0}, expected 2")]
    BadVersion(u8),
    /// A field holds a value the format forbids.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// The input uses a feature of the format that is valid but not handled here.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// The header extension block uses a profile other than the RFC 8285 one-byte (0xBEDE) or
    /// two-byte (0x100X) forms, so its elements cannot be read or edited.
    #[error("header extension profile {0:#06x} is not an RFC 8285 form")]
    UnsupportedExtensionProfile(u16),
    /// An extension identifier or length cannot be carried in the requested form (for example
    /// id 15 in the one-byte form, RFC 8285 §4.2).
    #[error("header extension id {id} with {len} data bytes does not fit the {form} form")]
    ExtensionDoesNotFit {
        /// The identifier.
        id: u8,
        /// The element's data length.
        len: usize,
        /// The form that cannot carry it ("one-byte" or "two-byte").
        form: &'static str,
    },
    /// An argument is outside the range the format allows.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// The output buffer is too small for what must be written.
    #[error("output buffer too small: {needed} bytes needed, {available} available")]
    BufferTooSmall {
        /// Bytes the write needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
}
