//! The selective forwarding unit: SDP, sessions and tracks, the UDP driver and the HTTP API.
//!
//! - [`sdp`]: parser, writer, answers to clients' offers and the SFU's own offers.
//! - [`session`]: one PeerConnection's connection spine (ICE-lite, DTLS, SRTP), sans-IO.
//! - [`negotiation`]: one session's offer/answer state and negotiated transceivers.
//! - [`directory`]: sessions, their owners and negotiated media, and the track registry,
//!   shared by the API and the workers.
//! - [`router`]: per-worker forwarding of decrypted media to subscribers, keyframe requests.
//! - [`datachannel`]: data channels published by one session and subscribed by others.
//! - [`worker`] and [`udp`]: the UDP workers on one port (`SO_REUSEPORT`).
//! - [`api`]: the Calls-compatible HTTP API and [`api::serve`], which starts everything.
//! - [`rooms`]: the demo page's room directory (the API itself has no rooms).
//! - [`test_client`]: an in-memory browser for tests.
#![forbid(unsafe_code)]

pub mod api;
pub mod config;
pub mod datachannel;
pub mod directory;
pub mod negotiation;
pub mod rooms;
pub mod router;
pub mod sdp;
pub mod session;
pub mod test_client;
pub mod udp;
pub mod worker;
