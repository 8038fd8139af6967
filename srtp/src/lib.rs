//! Not implemented yet.
#![forbid(unsafe_code)]
