//! Errors of SRTP/SRTCP processing.

/// Why a packet could not be protected or unprotected, or why a context could not be made.
///
/// Every error leaves the [`Context`](crate::Context) as it was: no rollover counter, replay
/// window or SRTCP index moves for a packet that fails.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The authentication tag did not verify: the packet was forged, corrupted, or protected
    /// with other keys. Drop it.
    #[error("SRTP authentication failed")]
    AuthenticationFailed,
    /// The packet index was already received (RFC 3711 §3.3.2). Drop it.
    #[error("SRTP packet replayed")]
    Replayed,
    /// The packet index is older than the replay window (RFC 3711 §3.3.2). Drop it.
    #[error("SRTP packet older than the replay window")]
    TooOld,
    /// The caller's buffer has no room for the authentication tag (and SRTCP index), or the
    /// given length exceeds the buffer.
    #[error("buffer too small: {needed} bytes needed, {available} available")]
    BufferTooSmall {
        /// Bytes the operation needs in the buffer.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// The packet is not well-formed RTP/RTCP (or SRTP/SRTCP): too short, a header length
    /// beyond the packet, or longer than any datagram.
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
    /// A packet for a new SSRC arrived while the context already tracks its configured
    /// maximum number of SSRCs ([`Config::max_ssrcs`](crate::Config::max_ssrcs)).
    #[error("too many SSRCs in one SRTP context")]
    TooManySsrcs,
    /// The SRTP (2^48) or SRTCP (2^31) packet index space of these keys is used up
    /// (RFC 3711 §9.2): the session must be re-keyed.
    #[error("SRTP key exhausted: re-key the session")]
    KeyExhausted,
    /// A master key or master salt of the wrong length for the protection profile, or
    /// keying material of the wrong length.
    #[error("invalid keying material: {0}")]
    InvalidKey(&'static str),
    /// A [`Config`](crate::Config) value out of range.
    #[error("invalid SRTP configuration: {0}")]
    InvalidConfig(&'static str),
    /// OpenSSL refused an operation that cannot fail with valid inputs.
    #[error("cryptographic library failure: {0}")]
    Crypto(&'static str),
}

/// Short for `Result<T, srtp::Error>`.
pub type Result<T, E = Error> = core::result::Result<T, E>;
