//! DTLS 1.2 with DTLS-SRTP (RFC 6347, RFC 5764) as a sans-IO machine. Not implemented yet: see docs/STATUS.md.
#![forbid(unsafe_code)]
