//! Errors of the ICE crate.

/// What went wrong. Malformed or unauthenticated network input never surfaces as an `Error`
/// from the agents (it is answered or dropped and counted in the stats); errors come from the
/// static check helpers and from API misuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A ufrag or password that RFC 8839 §5.4 does not allow, or credentials that cannot be
    /// used as asked (an ICE restart without new credentials, remote credentials changed
    /// without a restart).
    #[error("invalid ICE credentials: {0}")]
    InvalidCredentials(&'static str),
    /// The datagram is STUN but not a connectivity check (not a Binding request, or no
    /// USERNAME).
    #[error("not an ICE connectivity check: {0}")]
    NotACheck(&'static str),
    /// The check is not authenticated: wrong USERNAME, missing or wrong MESSAGE-INTEGRITY.
    #[error("connectivity check not authenticated: {0}")]
    Unauthenticated(&'static str),
    /// The STUN layer refused the datagram (malformed, bad FINGERPRINT) or could not encode.
    #[error(transparent)]
    Stun(#[from] stun::Error),
}
