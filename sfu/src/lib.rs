//! The selective forwarding unit: SDP, sessions and tracks, the UDP driver and the HTTP API.
#![forbid(unsafe_code)]

pub mod api;
pub mod config;
pub mod directory;
pub mod sdp;
pub mod session;
pub mod test_client;
pub mod udp;
pub mod worker;
