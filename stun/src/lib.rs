//! STUN (RFC 8489) messages and attributes, the TURN attributes of RFC 8656 and RFC 6062,
//! and TURN ChannelData framing. Sans-IO: bytes in, bytes out, no sockets, clocks or RNG.
//!
//! - [`Message::parse`] validates a datagram once and gives a zero-copy view: header fields,
//!   an iterator over [`RawAttribute`]s (honouring RFC 8489's "ignore what follows
//!   MESSAGE-INTEGRITY"), typed decoding with [`Message::get`], the list of unknown
//!   comprehension-required attributes for a 420, and constant-time verification of
//!   MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT.
//! - [`MessageWriter`] builds a message into a reused `Vec<u8>` and appends the integrity
//!   attributes and FINGERPRINT with the header length fixed up at each step.
//! - [`credentials`] derives short-term and long-term keys and USERHASH.
//! - [`ChannelData`] parses and writes TURN channel frames; [`peek_frame`] cuts a TCP/TLS
//!   stream into STUN messages and ChannelData frames; [`is_stun`] is the cheap demultiplexer
//!   test.
//!
//! No input makes this crate panic: every read is bounds-checked and every failure is an
//! [`Error`].
//!
//! # Example: answering an ICE connectivity check
//!
//! ```
//! use std::net::SocketAddr;
//! use stun::attributes::{Username, XorMappedAddress};
//! use stun::{credentials, Message, MessageType, MessageWriter};
//! # use stun::attributes::Priority;
//! # fn main() -> Result<(), stun::Error> {
//! let local_password = "VOkJxbRl1RmTxUk/WvJxBt";
//! # let mut request = Vec::new();
//! # let id = stun::TransactionId::new([0xb7, 0xe7, 0xa7, 1, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae]);
//! # let mut w = MessageWriter::new(&mut request, MessageType::BINDING_REQUEST, id);
//! # w.add(&Username("evtj:h6vY"))?;
//! # w.add(&Priority(0x6e00_01ff))?;
//! # w.add_message_integrity(local_password.as_bytes())?;
//! # w.add_fingerprint()?;
//! // A datagram from the socket, and who sent it.
//! let datagram: &[u8] = &request;
//! let from: SocketAddr = "192.0.2.1:32853".parse().unwrap();
//! let mut response = Vec::new(); // reused for every packet
//!
//! if stun::is_stun(datagram) {
//!     let request = Message::parse(datagram)?;
//!     request.verify_fingerprint()?;
//!     assert_eq!(request.message_type(), MessageType::BINDING_REQUEST);
//!     // "local-ufrag:remote-ufrag" from the agent's point of view (RFC 8445 §7.2.2).
//!     let username = request.get::<Username>()?.expect("checks carry USERNAME");
//!     assert_eq!(username.0, "evtj:h6vY");
//!     request.verify_message_integrity(credentials::short_term_key(local_password))?;
//!     // An agent that does not know every attribute answers 420 first:
//!     assert_eq!(request.unknown_comprehension_required(|t| t.is_known()).count(), 0);
//!
//!     let mut w = MessageWriter::new(
//!         &mut response,
//!         MessageType::BINDING_SUCCESS,
//!         request.transaction_id(),
//!     );
//!     w.add(&XorMappedAddress(from))?;
//!     w.add_message_integrity(local_password.as_bytes())?;
//!     w.add_fingerprint()?;
//! }
//! # let parsed = Message::parse(&response)?;
//! # parsed.verify_message_integrity(local_password.as_bytes())?;
//! # assert_eq!(parsed.get::<XorMappedAddress>()?.map(|a| a.0), Some(from));
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod attribute_type;
pub mod attributes;
mod channel_data;
pub mod credentials;
mod error;
mod framing;
mod integrity;
mod message;
mod message_type;
mod transaction_id;
mod wire;
mod writer;

pub use attribute_type::AttributeType;
pub use attributes::Attribute;
pub use channel_data::{ChannelData, Framing, CHANNEL_DATA_HEADER_LEN};
pub use error::Error;
pub use framing::{peek_frame, Frame, FrameKind};
pub use message::{AllOf, Attributes, Header, Message, RawAttribute, UnknownRequired};
pub use message_type::{Class, MessageType, Method};
pub use transaction_id::TransactionId;
pub use writer::MessageWriter;

/// The magic cookie, bytes 4..8 of every RFC 5389/8489 message.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;

/// Length of the STUN header.
pub const HEADER_LEN: usize = 20;

/// Cheap test for demultiplexing a datagram (RFC 7983, RFC 8489 §7): the first two bits are
/// zero, the magic cookie is present, and the length field is a multiple of 4 that matches
/// the datagram. Does not look at the attributes; [`Message::parse`] does.
pub fn is_stun(buf: &[u8]) -> bool {
    match Header::parse(buf) {
        Ok(header) => HEADER_LEN + usize::from(header.length) == buf.len(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_stun_classifies() {
        let mut buf = Vec::new();
        MessageWriter::new(&mut buf, MessageType::BINDING_INDICATION, TransactionId([0; 12]));
        assert!(is_stun(&buf));
        assert!(!is_stun(&buf[..19]));
        let mut longer = buf.clone();
        longer.extend_from_slice(&[0; 4]);
        assert!(!is_stun(&longer));
        let mut rtp = buf.clone();
        rtp[0] = 0x80;
        assert!(!is_stun(&rtp));
        // A DTLS 1.2 handshake record header (RFC 7983: first byte 20..=63) of 8 bytes body.
        let dtls = [22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
        assert!(!is_stun(&dtls));
        let mut cookie = buf.clone();
        cookie[7] = 0;
        assert!(!is_stun(&cookie));
        assert!(!is_stun(&[]));
    }
}
