//! The one error type of the crate.

/// Why an RTCP packet could not be parsed or written.
///
/// Parse errors describe malformed network input: the packet (and the rest of its compound)
/// is dropped by the caller and counted, never trusted. Write errors describe a value that
/// cannot be put on the wire or a buffer that is too small.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ends before a field that must be present.
    #[error("RTCP packet truncated: {0}")]
    Truncated(&'static str),
    /// The version field is not 2 (RFC 3550 §6.4.1).
    #[error("RTCP version {0} is not 2")]
    BadVersion(u8),
    /// A length or count field disagrees with the bytes that are there.
    #[error("RTCP length inconsistent: {0}")]
    BadLength(&'static str),
    /// The padding bit is set but the padding count is impossible.
    #[error("RTCP padding invalid: {0}")]
    BadPadding(&'static str),
    /// A field holds a value the protocol forbids.
    #[error("RTCP packet malformed: {0}")]
    Malformed(&'static str),
    /// The output buffer cannot hold the encoded packet.
    #[error("buffer too small: {needed} bytes needed, {available} available")]
    BufferTooSmall {
        /// Bytes the packet needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// A value given to a writer cannot be encoded (too many entries, too long, out of range).
    #[error("cannot encode RTCP packet: {0}")]
    InvalidInput(&'static str),
}
