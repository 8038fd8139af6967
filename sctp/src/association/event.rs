//! What the association reports to its owner.

use crate::error_cause::ErrorCauseCode;
use crate::Ppid;

/// Something the owner of an [`Association`](crate::Association) must know about; drained
/// with [`poll_event`](crate::Association::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The association is established: messages can flow.
    Connected,
    /// A complete message arrived.
    Message {
        /// The stream it arrived on.
        stream: u16,
        /// Its payload protocol identifier.
        ppid: Ppid,
        /// The message.
        data: Vec<u8>,
        /// It was sent unordered.
        unordered: bool,
    },
    /// The peer reset these outgoing streams of its own, i.e. our incoming streams
    /// (RFC 6525): every message it sent on them before the reset has been delivered, and
    /// their sequence numbers restart at 0.
    StreamReset {
        /// The streams reset (empty: all of them).
        streams: Vec<u16>,
    },
    /// Our request to reset these outgoing streams (see
    /// [`reset_streams`](crate::Association::reset_streams)) succeeded; they can be used
    /// again and restart at SSN 0.
    StreamResetComplete {
        /// The streams reset.
        streams: Vec<u16>,
    },
    /// The peer refused our request to reset these streams; they keep their state.
    StreamResetFailed {
        /// The streams not reset.
        streams: Vec<u16>,
    },
    /// The bytes buffered for this stream fell to or below its threshold (see
    /// [`set_buffered_amount_low_threshold`](crate::Association::set_buffered_amount_low_threshold)).
    BufferedAmountLow {
        /// The stream.
        stream: u16,
    },
    /// A `send` refused with [`Error::WouldBlock`](crate::Error::WouldBlock) would now fit in
    /// the send buffer.
    Writable,
    /// The peer restarted the association (RFC 9260 §5.2.4 case A): every stream starts from
    /// scratch and messages queued before the restart were discarded.
    Restarted,
    /// The association closed gracefully: everything sent by either side was delivered.
    Closed,
    /// The association ended abruptly.
    Aborted(AbortReason),
}

/// Why an association was aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AbortReason {
    /// The peer sent an ABORT (with the code of its first error cause, if any).
    PeerAbort {
        /// The first error cause of the ABORT.
        cause: Option<ErrorCauseCode>,
    },
    /// Too many consecutive retransmission or heartbeat timeouts: the peer is unreachable
    /// (RFC 9260 §8.1).
    PathFailure,
    /// INIT or COOKIE-ECHO went unanswered `max_init_retransmissions` times.
    HandshakeTimeout,
    /// [`Association::abort`](crate::Association::abort) was called.
    LocalAbort,
    /// The peer broke the protocol; an ABORT was sent.
    ProtocolViolation(&'static str),
}

/// Association states (RFC 9260 §4), plus the passive side's wait for an INIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Server side, waiting for an INIT.
    Listen,
    /// INIT sent, waiting for INIT-ACK.
    CookieWait,
    /// COOKIE-ECHO sent, waiting for COOKIE-ACK.
    CookieEchoed,
    /// Messages flow both ways.
    Established,
    /// `shutdown` called: sending queued data before SHUTDOWN.
    ShutdownPending,
    /// SHUTDOWN sent.
    ShutdownSent,
    /// SHUTDOWN received: sending our queued data before SHUTDOWN-ACK.
    ShutdownReceived,
    /// SHUTDOWN-ACK sent.
    ShutdownAckSent,
    /// Terminated (gracefully or not).
    Closed,
}
