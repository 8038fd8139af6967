//! SCTP over DTLS (RFC 8261, RFC 9260) and DCEP (RFC 8832), sans-IO. Not implemented yet: see docs/STATUS.md.
#![forbid(unsafe_code)]
