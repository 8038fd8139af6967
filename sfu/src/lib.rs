//! The selective forwarding unit. Not implemented yet: see docs/STATUS.md.
#![forbid(unsafe_code)]
