//! Building STUN messages into a caller-owned, reused buffer.

use crate::attributes::{unknown::encode_types, Attribute};
use crate::integrity::{fingerprint, hmac_sha1, hmac_sha256};
use crate::{wire, AttributeType, Error, MessageType, TransactionId, HEADER_LEN, MAGIC_COOKIE};

/// Largest attribute section: the 16-bit length field, rounded down to a multiple of 4.
const MAX_BODY: usize = 0xFFFC;

/// What may still be added (RFC 8489 §14.5-§14.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Open,
    AfterIntegrity,
    AfterIntegritySha256,
    Finished,
}

impl Stage {
    /// The stage after adding `t`, or an error if a receiver would ignore or reject it.
    fn after(self, t: AttributeType) -> Result<Self, Error> {
        match (self, t) {
            (Self::Finished, _) => Err(Error::Encode("nothing may follow FINGERPRINT")),
            (_, AttributeType::FINGERPRINT) => Ok(Self::Finished),
            (Self::Open, AttributeType::MESSAGE_INTEGRITY) => Ok(Self::AfterIntegrity),
            (Self::Open | Self::AfterIntegrity, AttributeType::MESSAGE_INTEGRITY_SHA256) => {
                Ok(Self::AfterIntegritySha256)
            }
            (Self::Open, _) => Ok(Self::Open),
            (Self::AfterIntegrity, _) => Err(Error::Encode(
                "only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT may follow MESSAGE-INTEGRITY",
            )),
            (Self::AfterIntegritySha256, _) => {
                Err(Error::Encode("only FINGERPRINT may follow MESSAGE-INTEGRITY-SHA256"))
            }
        }
    }
}

/// Writes one STUN message into a `Vec<u8>` the caller keeps and reuses.
///
/// [`MessageWriter::new`] clears the buffer and writes the header; each `add*` call appends
/// one attribute with zero padding and keeps the header length correct, so the buffer holds
/// a complete message after every successful call. Nothing is allocated apart from the
/// buffer growing to its high-water mark. A failed call leaves the buffer as it was.
///
/// The order rules of RFC 8489 are enforced: after MESSAGE-INTEGRITY only
/// MESSAGE-INTEGRITY-SHA256 and FINGERPRINT may follow, after MESSAGE-INTEGRITY-SHA256 only
/// FINGERPRINT, and FINGERPRINT is last.
#[derive(Debug)]
pub struct MessageWriter<'b> {
    buf: &'b mut Vec<u8>,
    transaction_id: TransactionId,
    stage: Stage,
    padding_byte: u8,
}

impl<'b> MessageWriter<'b> {
    /// Clears `buf` and writes a header with an empty attribute section.
    pub fn new(
        buf: &'b mut Vec<u8>,
        message_type: MessageType,
        transaction_id: TransactionId,
    ) -> Self {
        buf.clear();
        buf.extend_from_slice(&message_type.to_u16().to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        buf.extend_from_slice(transaction_id.as_bytes());
        Self { buf, transaction_id, stage: Stage::Open, padding_byte: 0 }
    }

    /// Sets the byte used to pad attribute values from now on.
    ///
    /// RFC 8489 §14 says padding "MUST be set to zero on sending", and zero is the default.
    /// This exists to reproduce published vectors bit for bit: RFC 5769 pads with spaces
    /// (0x20) to show that receivers ignore padding.
    pub fn set_padding_byte(&mut self, byte: u8) {
        self.padding_byte = byte;
    }

    /// The transaction ID written in the header.
    pub const fn transaction_id(&self) -> TransactionId {
        self.transaction_id
    }

    /// The message written so far (always complete and consistent).
    pub fn as_bytes(&self) -> &[u8] {
        self.buf
    }

    /// Length of the message written so far, header included.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Always false: the header is written on creation. Present for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Appends a typed attribute.
    pub fn add<'v, A: Attribute<'v>>(&mut self, attr: &A) -> Result<(), Error> {
        let transaction_id = self.transaction_id;
        self.append(A::TYPE, |out| attr.encode(&transaction_id, out))
    }

    /// Appends an attribute with a raw value, for types this crate has no codec for.
    pub fn add_raw(&mut self, attr_type: AttributeType, value: &[u8]) -> Result<(), Error> {
        self.append(attr_type, |out| {
            out.extend_from_slice(value);
            Ok(())
        })
    }

    /// Appends UNKNOWN-ATTRIBUTES from any iterator, e.g. straight from
    /// [`Message::unknown_comprehension_required`](crate::Message::unknown_comprehension_required).
    pub fn add_unknown_attributes<I>(&mut self, types: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = AttributeType>,
    {
        self.append(AttributeType::UNKNOWN_ATTRIBUTES, |out| encode_types(types, out))
    }

    /// Appends MESSAGE-INTEGRITY: HMAC-SHA1 keyed with `key` over the message so far, with
    /// the header length already counting the new attribute (RFC 8489 §14.5).
    pub fn add_message_integrity(&mut self, key: &[u8]) -> Result<(), Error> {
        self.stage.after(AttributeType::MESSAGE_INTEGRITY)?;
        self.set_length(self.buf.len() - HEADER_LEN + 4 + 20)?;
        let mac = hmac_sha1(key, &[self.buf.as_slice()]).inspect_err(|_| self.restore_length())?;
        self.add_raw(AttributeType::MESSAGE_INTEGRITY, &mac)
    }

    /// Appends the full 32-byte MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6).
    pub fn add_message_integrity_sha256(&mut self, key: &[u8]) -> Result<(), Error> {
        self.add_message_integrity_sha256_truncated(key, 32)
    }

    /// Appends MESSAGE-INTEGRITY-SHA256 truncated to `len` bytes (16 to 32, a multiple of 4),
    /// only for STUN usages that allow truncation (RFC 8489 §14.6).
    pub fn add_message_integrity_sha256_truncated(
        &mut self,
        key: &[u8],
        len: usize,
    ) -> Result<(), Error> {
        self.stage.after(AttributeType::MESSAGE_INTEGRITY_SHA256)?;
        if !crate::attributes::MessageIntegritySha256::is_valid_len(len) {
            return Err(Error::Encode(
                "MESSAGE-INTEGRITY-SHA256 length must be 16 to 32, a multiple of 4",
            ));
        }
        self.set_length(self.buf.len() - HEADER_LEN + 4 + len)?;
        let mac =
            hmac_sha256(key, &[self.buf.as_slice()]).inspect_err(|_| self.restore_length())?;
        let truncated = mac.get(..len).ok_or(Error::Encode("MESSAGE-INTEGRITY-SHA256 length"))?;
        self.add_raw(AttributeType::MESSAGE_INTEGRITY_SHA256, truncated)
    }

    /// Appends FINGERPRINT: CRC-32 of the message so far XOR 0x5354554E, with the header
    /// length already counting the new attribute (RFC 8489 §14.7). Nothing may follow.
    pub fn add_fingerprint(&mut self) -> Result<(), Error> {
        self.stage.after(AttributeType::FINGERPRINT)?;
        self.set_length(self.buf.len() - HEADER_LEN + 8)?;
        let crc = fingerprint(&[self.buf.as_slice()]);
        self.add_raw(AttributeType::FINGERPRINT, &crc.to_be_bytes())
    }

    /// Ends writing and returns the message length (header included).
    pub fn finish(self) -> usize {
        self.buf.len()
    }

    /// Writes `body_len` into the header, refusing lengths the field cannot hold.
    fn set_length(&mut self, body_len: usize) -> Result<(), Error> {
        if body_len > MAX_BODY {
            return Err(Error::Encode("message longer than 65532 bytes of attributes"));
        }
        let len = u16::try_from(body_len).map_err(|_| Error::Encode("message too long"))?;
        if let Some(field) = self.buf.get_mut(2..4) {
            field.copy_from_slice(&len.to_be_bytes());
        }
        Ok(())
    }

    /// Puts back the length of what is actually in the buffer.
    fn restore_length(&mut self) {
        // The current content was accepted earlier, so its length fits.
        let _ = self.set_length(self.buf.len() - HEADER_LEN);
    }

    /// Appends the TLV header, lets `encode` write the value, pads, and fixes the lengths.
    /// On any error the buffer is truncated back and the header length restored.
    fn append(
        &mut self,
        attr_type: AttributeType,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let next_stage = self.stage.after(attr_type)?;
        let start = self.buf.len();
        self.buf.extend_from_slice(&attr_type.0.to_be_bytes());
        self.buf.extend_from_slice(&[0, 0]);
        let result = encode(self.buf).and_then(|()| {
            let value_len = self.buf.len() - start - 4;
            let value_len16 = u16::try_from(value_len)
                .map_err(|_| Error::Encode("attribute value longer than 65535 bytes"))?;
            self.buf.extend(std::iter::repeat_n(self.padding_byte, wire::padding_len(value_len)));
            if let Some(field) = self.buf.get_mut(start + 2..start + 4) {
                field.copy_from_slice(&value_len16.to_be_bytes());
            }
            self.set_length(self.buf.len() - HEADER_LEN)
        });
        match result {
            Ok(()) => {
                self.stage = next_stage;
                Ok(())
            }
            Err(e) => {
                self.buf.truncate(start);
                self.restore_length();
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::{Data, Software, Username};
    use crate::Message;

    const TID: TransactionId = TransactionId([7; 12]);

    #[test]
    fn header_and_padding() {
        let mut buf = vec![0xAA; 100];
        let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, TID);
        assert_eq!(w.len(), 20);
        w.add(&Username("abcde")).unwrap();
        assert_eq!(w.finish(), 32);
        assert_eq!(&buf[..4], &[0x00, 0x01, 0x00, 0x0C]);
        assert_eq!(&buf[4..8], &MAGIC_COOKIE.to_be_bytes());
        assert_eq!(&buf[8..20], &[7; 12]);
        assert_eq!(&buf[20..], &[0x00, 0x06, 0x00, 0x05, b'a', b'b', b'c', b'd', b'e', 0, 0, 0]);
    }

    #[test]
    fn order_rules() {
        let mut buf = Vec::new();
        let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, TID);
        w.add_message_integrity(b"k").unwrap();
        let before = w.as_bytes().to_vec();
        assert!(w.add(&Software("late")).is_err());
        assert!(w.add_message_integrity(b"k").is_err());
        assert_eq!(w.as_bytes(), before.as_slice());
        w.add_message_integrity_sha256(b"k").unwrap();
        assert!(w.add_message_integrity_sha256(b"k").is_err());
        assert!(w.add_message_integrity(b"k").is_err());
        w.add_fingerprint().unwrap();
        assert!(w.add_fingerprint().is_err());
        assert!(w.add_raw(AttributeType(0x8888), &[]).is_err());
        let msg = Message::parse(&buf).unwrap();
        msg.verify_message_integrity(b"k").unwrap();
        msg.verify_message_integrity_sha256(b"k").unwrap();
        msg.verify_fingerprint().unwrap();
    }

    #[test]
    fn failed_add_leaves_buffer_consistent() {
        let mut buf = Vec::new();
        let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, TID);
        w.add(&Software("ok")).unwrap();
        let before = w.as_bytes().to_vec();
        assert!(w.add(&Software(&"x".repeat(200))).is_err());
        assert_eq!(w.as_bytes(), before.as_slice());
        let big = vec![0u8; 70_000];
        assert!(w.add(&Data(&big)).is_err());
        assert_eq!(w.as_bytes(), before.as_slice());
        assert!(w.add_message_integrity_sha256_truncated(b"k", 12).is_err());
        assert_eq!(w.as_bytes(), before.as_slice());
        Message::parse(&buf).unwrap();
    }

    #[test]
    fn message_size_limit() {
        let mut buf = Vec::new();
        let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_INDICATION, TID);
        // 65532 - 4 = 65528 bytes of value fill the body exactly.
        let data = vec![1u8; 65_528];
        w.add(&Data(&data)).unwrap();
        assert_eq!(w.len(), 20 + 65_532);
        assert!(w.add_fingerprint().is_err());
        assert!(w.add_message_integrity(b"k").is_err());
        assert_eq!(w.len(), 20 + 65_532);
        let msg = Message::parse(&buf).unwrap();
        assert_eq!(msg.get::<Data<'_>>().unwrap().unwrap().0.len(), 65_528);
    }

    #[test]
    fn reuse_clears_the_buffer() {
        let mut buf = Vec::new();
        let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, TID);
        w.add(&Software("first message")).unwrap();
        let capacity = buf.capacity();
        let w = MessageWriter::new(&mut buf, MessageType::BINDING_SUCCESS, TID);
        assert_eq!(w.finish(), 20);
        assert_eq!(buf.capacity(), capacity);
        assert_eq!(Message::parse(&buf).unwrap().attributes().count(), 0);
    }

    #[test]
    fn padding_byte() {
        let mut buf = Vec::new();
        let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, TID);
        w.set_padding_byte(0x20);
        w.add(&Username("a")).unwrap();
        assert_eq!(&buf[20..], &[0, 6, 0, 1, b'a', 0x20, 0x20, 0x20]);
        assert_eq!(
            Message::parse(&buf).unwrap().get::<Username<'_>>().unwrap(),
            Some(Username("a"))
        );
    }
}
