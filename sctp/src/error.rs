//! The one error type of the crate.

/// Everything that can go wrong in this crate.
///
/// Malformed network input is reported with a `&'static str` naming the broken rule; the
/// association drops (and counts) such a packet and keeps running. API misuse (sending on a
/// closed association, a message larger than the peer accepts, a full send buffer) has its own
/// variants so that the caller can react.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The buffer ends before the structure it should hold.
    #[error("truncated SCTP input: {0}")]
    Truncated(&'static str),
    /// A length, count or field value breaks a rule of the protocol.
    #[error("malformed SCTP input: {0}")]
    Malformed(&'static str),
    /// The CRC32c of the packet does not match its Checksum field (RFC 9260 §6.8).
    #[error("SCTP checksum mismatch: packet says {received:#010x}, computed {computed:#010x}")]
    BadChecksum {
        /// The value carried by the packet.
        received: u32,
        /// The value computed over the packet.
        computed: u32,
    },
    /// A well-formed packet that the association discards (wrong verification tag, wrong
    /// ports, a chunk that the current state does not accept, a forged or stale cookie).
    #[error("SCTP packet dropped: {0}")]
    Dropped(&'static str),
    /// The message is larger than the peer accepts (its SDP `max-message-size`).
    #[error("message of {size} bytes exceeds the peer's maximum of {max} bytes")]
    MessageTooLarge {
        /// Size of the refused message.
        size: usize,
        /// The peer's maximum message size.
        max: usize,
    },
    /// The send buffer is full: nothing was queued. Retry after [`crate::Event::Writable`]
    /// (or a [`crate::Event::BufferedAmountLow`]).
    #[error("send buffer full, retry when the buffered amount drops")]
    WouldBlock,
    /// SCTP cannot carry a message without payload (RFC 9260 §6.2): data channels send one zero
    /// byte with an EMPTY payload protocol identifier instead.
    #[error("SCTP messages need at least one byte of payload")]
    EmptyMessage,
    /// The stream cannot be used: out of the negotiated range, or being reset.
    #[error("invalid stream: {0}")]
    InvalidStream(&'static str),
    /// The association is not in a state that allows the operation.
    #[error("invalid association state: {0}")]
    InvalidState(&'static str),
    /// The peer did not announce the extension the operation needs.
    #[error("unsupported by the peer: {0}")]
    Unsupported(&'static str),
    /// A value given to a writer or to the configuration cannot be used.
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
}
