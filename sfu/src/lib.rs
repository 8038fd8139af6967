//! The selective forwarding unit: SDP, sessions and tracks, the UDP driver and the HTTP API.
//! Not implemented yet: see docs/STATUS.md.
#![forbid(unsafe_code)]

pub mod sdp;
