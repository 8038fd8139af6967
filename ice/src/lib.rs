//! ICE-lite agent (RFC 8445 §2.5), sans-IO. Not implemented yet: see docs/STATUS.md.
#![forbid(unsafe_code)]
