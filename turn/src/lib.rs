//! TURN server (RFC 8656). Not implemented yet: see docs/STATUS.md.
#![forbid(unsafe_code)]
