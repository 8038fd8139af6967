//! SCTP over DTLS for WebRTC data channels (RFC 8261, the RFC 9260 subset that RFC 8831
//! needs, RFC 3758 partial reliability, RFC 6525 stream reset) and DCEP (RFC 8832), sans-IO.
//!
//! - [`Association`] is one SCTP association as a state machine: packets in
//!   ([`handle_receive`](Association::handle_receive), one DTLS record each), packets out
//!   ([`poll_transmit`](Association::poll_transmit), each to be sent as one DTLS record),
//!   events out ([`poll_event`](Association::poll_event)), timers
//!   ([`poll_timeout`](Association::poll_timeout) and
//!   [`handle_timeout`](Association::handle_timeout)). It never reads a clock, owns a socket
//!   or draws unseeded randomness when given a [`Config::seed`].
//! - [`DataChannels`] layers WebRTC data channels on an association: DCEP open/ack,
//!   negotiated channels, text/binary/empty messages, close by stream reset.
//! - [`packet`], [`chunk`], [`param`], [`error_cause`] and [`dcep`] are the wire formats:
//!   borrowed views with `parse`, writers appending to a caller-owned `Vec<u8>`, open enums
//!   (`ChunkType(u8)`, `ParamType(u16)`) whose unknown values follow the action bits of
//!   RFC 9260 §3.2. No input makes them panic.
//!
//! Reliability and flow control follow RFC 9260 §6 and §7 (RTO estimation, T3-rtx, fast
//! retransmit, slow start and congestion avoidance, delayed SACK, the peer's receive window
//! with zero-window probing). Back-pressure is explicit: a full send buffer makes
//! [`Association::send`] return [`Error::WouldBlock`], and messages not yet taken with
//! `poll_event` count against the receive window we announce, so a reader that stops reading
//! stops the sender. Design notes: `docs/design.md` in this crate.
//!
//! # Example: two peers wired back to back
//!
//! ```
//! use std::time::Instant;
//! use sctp::{Association, Config, Event, Ppid, SendOptions};
//!
//! # fn main() -> Result<(), sctp::Error> {
//! let now = Instant::now();
//! // In WebRTC both sides usually connect; the INIT collision is resolved by the protocol.
//! let mut alice = Association::client(Config::default(), now)?;
//! let mut bob = Association::client(Config::default(), now)?;
//! // Queued until the association is up.
//! alice.send(now, 1, Ppid::STRING, b"hello", SendOptions::default())?;
//!
//! let mut packet = Vec::new(); // reused for every packet
//! let mut received = Vec::new();
//! for _ in 0..8 {
//!     // Each packet would be one DTLS application data record.
//!     while alice.poll_transmit_into(now, &mut packet) {
//!         bob.handle_receive(now, &packet)?;
//!     }
//!     while bob.poll_transmit_into(now, &mut packet) {
//!         alice.handle_receive(now, &packet)?;
//!     }
//!     while let Some(event) = bob.poll_event() {
//!         if let Event::Message { stream, ppid, data, .. } = event {
//!             received.push((stream, ppid, data));
//!         }
//!     }
//!     while alice.poll_event().is_some() {}
//!     // A real driver also sleeps until `poll_timeout()` and then calls `handle_timeout`.
//! }
//! assert!(alice.is_established() && bob.is_established());
//! assert_eq!(received, [(1, Ppid::STRING, b"hello".to_vec())]);
//!
//! // Graceful close: queued messages are delivered first.
//! alice.shutdown(now);
//! # let mut now = now;
//! # for _ in 0..10 {
//! #     while alice.poll_transmit_into(now, &mut packet) { bob.handle_receive(now, &packet)?; }
//! #     while bob.poll_transmit_into(now, &mut packet) { alice.handle_receive(now, &packet)?; }
//! #     if let Some(t) = alice.poll_timeout().into_iter().chain(bob.poll_timeout()).min() {
//! #         now = t;
//! #         alice.handle_timeout(now);
//! #         bob.handle_timeout(now);
//! #     }
//! # }
//! # assert!(alice.is_closed() && bob.is_closed());
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod association;
mod bytes;
pub mod chunk;
mod data_channels;
pub mod dcep;
mod error;
pub mod error_cause;
pub mod packet;
pub mod param;
mod ppid;
mod tsn;

pub use association::{
    AbortReason, Association, Config, Event, PartialReliability, SendOptions, State, Stats,
};
pub use chunk::ChunkType;
pub use data_channels::{
    ChannelEvent, ChannelInfo, ChannelOptions, ChannelState, DataChannels, DtlsRole,
};
pub use error::Error;
pub use ppid::Ppid;

#[cfg(test)]
mod tests {
    /// Sessions are created by the API and claimed by a worker thread: the machines must be
    /// `Send`.
    #[test]
    fn state_machines_are_send() {
        fn send<T: Send + 'static>() {}
        send::<crate::Association>();
        send::<crate::DataChannels>();
        send::<crate::Event>();
        send::<crate::ChannelEvent>();
    }
}
