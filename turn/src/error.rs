//! The one error type of the crate.

/// What went wrong. Malformed, unauthenticated or refused network input never surfaces as an
/// `Error`: it is answered with a STUN error response or dropped, and counted in
/// [`TurnStats`](crate::TurnStats). Errors come from configuration and from API misuse by
/// the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot work; the message names the setting to fix.
    #[error("invalid TURN configuration: {0}")]
    InvalidConfig(&'static str),
    /// A CIDR range like `10.0.0.0/8` or `fd00::/8` could not be parsed.
    #[error("invalid CIDR range: {0}")]
    InvalidCidr(&'static str),
    /// [`TurnServer::relay_bound`](crate::TurnServer::relay_bound) was called with a request
    /// id that is not waiting for an answer (never issued, or already answered).
    #[error("no relay bind request with this id is waiting for an answer")]
    UnknownRelayRequest,
}
