//! The zero-copy STUN message view (RFC 8489 §5, §6, §14).

use std::marker::PhantomData;

use crate::attributes::Attribute;
use crate::integrity::{constant_time_eq, fingerprint, hmac_sha1, hmac_sha256};
use crate::{wire, AttributeType, Class, Error, MessageType, Method, TransactionId};
use crate::{HEADER_LEN, MAGIC_COOKIE};

/// The 20-byte STUN header (RFC 8489 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// Method and class.
    pub message_type: MessageType,
    /// Length of the attributes in bytes (excludes the header), a multiple of 4.
    pub length: u16,
    /// The transaction ID.
    pub transaction_id: TransactionId,
}

impl Header {
    /// Reads and checks the header only: first two bits zero, magic cookie, length a
    /// multiple of four. Does not look at the attributes, so a server can still learn the
    /// transaction ID of a request whose body is malformed and answer it with a 400.
    pub fn parse(buf: &[u8]) -> Result<Self, Error> {
        let header: [u8; HEADER_LEN] =
            wire::array_at(buf, 0).ok_or(Error::Truncated("shorter than the 20-byte header"))?;
        let [t0, t1, l0, l1, c0, c1, c2, c3, id @ ..] = header;
        // RFC 8489 §5: "The most significant 2 bits of every STUN message MUST be zeroes."
        let message_type = MessageType::from_u16(u16::from_be_bytes([t0, t1]))
            .ok_or(Error::NotStun("first two bits are not zero"))?;
        if u32::from_be_bytes([c0, c1, c2, c3]) != MAGIC_COOKIE {
            return Err(Error::NotStun("wrong magic cookie"));
        }
        let length = u16::from_be_bytes([l0, l1]);
        // RFC 8489 §5: all attributes are padded, so the length is a multiple of 4.
        if length % 4 != 0 {
            return Err(Error::Malformed("length is not a multiple of 4"));
        }
        Ok(Self { message_type, length, transaction_id: TransactionId(id) })
    }
}

/// Which attributes are still processed, after MESSAGE-INTEGRITY and
/// MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.5, §14.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Every attribute counts.
    Open,
    /// After MESSAGE-INTEGRITY: only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT count.
    AfterIntegrity,
    /// After MESSAGE-INTEGRITY-SHA256: only FINGERPRINT counts.
    AfterIntegritySha256,
}

impl Stage {
    /// Whether an attribute of type `t` is processed at this stage, and the next stage.
    fn admit(self, t: AttributeType) -> (bool, Self) {
        match (self, t) {
            (_, AttributeType::FINGERPRINT) => (true, self),
            (Self::Open, AttributeType::MESSAGE_INTEGRITY) => (true, Self::AfterIntegrity),
            (Self::Open | Self::AfterIntegrity, AttributeType::MESSAGE_INTEGRITY_SHA256) => {
                (true, Self::AfterIntegritySha256)
            }
            (Self::Open, _) => (true, Self::Open),
            // RFC 8489 §14.5: "agents MUST ignore all other attributes that follow
            // MESSAGE-INTEGRITY, with the exception of the MESSAGE-INTEGRITY-SHA256 and
            // FINGERPRINT attributes"; §14.6: after MESSAGE-INTEGRITY-SHA256 only FINGERPRINT.
            (stage, _) => (false, stage),
        }
    }
}

/// One attribute as found in the message: its type and borrowed value (padding excluded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawAttribute<'a> {
    /// The type.
    pub attr_type: AttributeType,
    /// The value bytes, without padding.
    pub value: &'a [u8],
    /// Offset of the attribute's TLV header from the start of the message.
    pub offset: usize,
}

/// Walks the TLVs of a message from `pos`, without the stage filter. Only built over a buffer
/// whose length `Message::parse` has bounded to 20 + 65535 bytes, so offset sums cannot
/// overflow.
#[derive(Clone, Debug)]
struct TlvWalker<'a> {
    message: &'a [u8],
    pos: usize,
}

impl<'a> TlvWalker<'a> {
    fn next_tlv(&mut self) -> Option<Result<RawAttribute<'a>, Error>> {
        if self.pos >= self.message.len() {
            return None;
        }
        let offset = self.pos;
        let (Some(t), Some(len)) =
            (wire::u16_at(self.message, offset), wire::u16_at(self.message, offset + 2))
        else {
            self.pos = self.message.len();
            return Some(Err(Error::Malformed("attribute header past the end")));
        };
        let start = offset + 4;
        let end = start + usize::from(len);
        let padded_end = start + wire::padded_len(usize::from(len));
        // RFC 8489 §14: "Each STUN attribute MUST end on a 32-bit boundary", so the padded
        // value must fit in the message too.
        let Some(value) = self.message.get(start..end).filter(|_| padded_end <= self.message.len())
        else {
            self.pos = self.message.len();
            return Some(Err(Error::Malformed("attribute value or padding past the end")));
        };
        self.pos = padded_end;
        Some(Ok(RawAttribute { attr_type: AttributeType(t), value, offset }))
    }
}

/// Iterator over the attributes a receiver processes, in order: everything up to
/// MESSAGE-INTEGRITY, then only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT as RFC 8489 §14.5 and
/// §14.6 say. Attributes that must be ignored are skipped.
#[derive(Clone, Debug)]
pub struct Attributes<'a> {
    walker: TlvWalker<'a>,
    stage: Stage,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = RawAttribute<'a>;

    fn next(&mut self) -> Option<RawAttribute<'a>> {
        loop {
            // The layout was validated by `Message::parse`; an error cannot occur here and
            // would only end the iteration.
            let attr = self.walker.next_tlv()?.ok()?;
            let (admitted, next) = self.stage.admit(attr.attr_type);
            self.stage = next;
            if admitted {
                return Some(attr);
            }
        }
    }
}

/// Iterator of [`Message::get_all`]: every processed attribute of one type, decoded.
#[derive(Clone, Debug)]
pub struct AllOf<'a, A> {
    attributes: Attributes<'a>,
    transaction_id: TransactionId,
    _type: PhantomData<fn() -> A>,
}

impl<'a, A: Attribute<'a>> Iterator for AllOf<'a, A> {
    type Item = Result<A, Error>;

    fn next(&mut self) -> Option<Result<A, Error>> {
        let raw = self.attributes.find(|a| a.attr_type == A::TYPE)?;
        Some(A::decode(raw.value, &self.transaction_id))
    }
}

/// Iterator of [`Message::unknown_comprehension_required`].
#[derive(Clone)]
pub struct UnknownRequired<'a, F> {
    attributes: Attributes<'a>,
    known: F,
}

impl<F> std::fmt::Debug for UnknownRequired<'_, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnknownRequired")
            .field("attributes", &self.attributes)
            .finish_non_exhaustive()
    }
}

impl<F: Fn(AttributeType) -> bool> Iterator for UnknownRequired<'_, F> {
    type Item = AttributeType;

    fn next(&mut self) -> Option<AttributeType> {
        let known = &self.known;
        self.attributes
            .by_ref()
            .map(|a| a.attr_type)
            .find(|&t| t.is_comprehension_required() && !known(t))
    }
}

/// A parsed STUN message borrowing its datagram.
///
/// [`Message::parse`] checks the header and the whole TLV layout once; afterwards every
/// accessor is infallible except typed decoding, which validates one attribute value.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    buf: &'a [u8],
    header: Header,
    integrity: Option<usize>,
    integrity_sha256: Option<usize>,
    fingerprint: Option<usize>,
}

impl<'a> Message<'a> {
    /// Parses one STUN message that fills `buf` exactly (a UDP datagram, or a frame cut by
    /// [`crate::peek_frame`] on a stream).
    ///
    /// Checks: the header (first two bits, magic cookie, length a multiple of 4), that the
    /// length matches the buffer, that every attribute and its padding lies inside the
    /// message, that MESSAGE-INTEGRITY is 20 bytes, MESSAGE-INTEGRITY-SHA256 16 to 32 bytes
    /// (a multiple of 4) and FINGERPRINT 4 bytes, and that FINGERPRINT is the last attribute.
    /// Attribute values are not decoded here.
    pub fn parse(buf: &'a [u8]) -> Result<Self, Error> {
        let header = Header::parse(buf)?;
        let total = HEADER_LEN + usize::from(header.length);
        if buf.len() < total {
            return Err(Error::Truncated("shorter than the header's length field"));
        }
        if buf.len() > total {
            return Err(Error::Malformed("bytes after the message"));
        }
        let mut message =
            Self { buf, header, integrity: None, integrity_sha256: None, fingerprint: None };
        let mut walker = TlvWalker { message: buf, pos: HEADER_LEN };
        let mut stage = Stage::Open;
        while let Some(attr) = walker.next_tlv() {
            let attr = attr?;
            // RFC 8489 §14.7: FINGERPRINT "MUST be the last attribute in the message".
            if message.fingerprint.is_some() {
                return Err(Error::Malformed("attribute after FINGERPRINT"));
            }
            let (admitted, next) = stage.admit(attr.attr_type);
            stage = next;
            if !admitted {
                continue;
            }
            match attr.attr_type {
                AttributeType::MESSAGE_INTEGRITY => {
                    if attr.value.len() != 20 {
                        return Err(Error::InvalidAttribute {
                            attribute: attr.attr_type,
                            reason: "length must be 20",
                        });
                    }
                    message.integrity = Some(attr.offset);
                }
                AttributeType::MESSAGE_INTEGRITY_SHA256 => {
                    if !crate::attributes::MessageIntegritySha256::is_valid_len(attr.value.len()) {
                        return Err(Error::InvalidAttribute {
                            attribute: attr.attr_type,
                            reason: "length must be 16 to 32, a multiple of 4",
                        });
                    }
                    message.integrity_sha256 = Some(attr.offset);
                }
                AttributeType::FINGERPRINT => {
                    if attr.value.len() != 4 {
                        return Err(Error::InvalidAttribute {
                            attribute: attr.attr_type,
                            reason: "length must be 4",
                        });
                    }
                    message.fingerprint = Some(attr.offset);
                }
                _ => {}
            }
        }
        Ok(message)
    }

    /// The header.
    pub const fn header(&self) -> &Header {
        &self.header
    }

    /// Method and class.
    pub const fn message_type(&self) -> MessageType {
        self.header.message_type
    }

    /// The method.
    pub const fn method(&self) -> Method {
        self.header.message_type.method
    }

    /// The class.
    pub const fn class(&self) -> Class {
        self.header.message_type.class
    }

    /// The transaction ID.
    pub const fn transaction_id(&self) -> TransactionId {
        self.header.transaction_id
    }

    /// The whole message, header included.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The attributes a receiver processes (see [`Attributes`]).
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes { walker: TlvWalker { message: self.buf, pos: HEADER_LEN }, stage: Stage::Open }
    }

    /// The value of the first processed attribute of type `attr_type` (RFC 8489 §14: "only the
    /// first occurrence needs to be processed").
    pub fn get_raw(&self, attr_type: AttributeType) -> Option<&'a [u8]> {
        self.attributes().find(|a| a.attr_type == attr_type).map(|a| a.value)
    }

    /// Whether a processed attribute of that type is present.
    pub fn contains(&self, attr_type: AttributeType) -> bool {
        self.get_raw(attr_type).is_some()
    }

    /// Decodes the first processed attribute of type `A::TYPE`; `Ok(None)` if absent.
    pub fn get<A: Attribute<'a>>(&self) -> Result<Option<A>, Error> {
        match self.get_raw(A::TYPE) {
            None => Ok(None),
            Some(value) => A::decode(value, &self.header.transaction_id).map(Some),
        }
    }

    /// Decodes every processed attribute of type `A::TYPE`, in order, for attributes that may
    /// legitimately repeat (several XOR-PEER-ADDRESS in a CreatePermission, RFC 8656 §10.1).
    pub fn get_all<A: Attribute<'a>>(&self) -> AllOf<'a, A> {
        AllOf {
            attributes: self.attributes(),
            transaction_id: self.header.transaction_id,
            _type: PhantomData,
        }
    }

    /// The comprehension-required attributes (type below 0x8000) for which `known` returns
    /// false, in message order, for a 420 response with UNKNOWN-ATTRIBUTES (RFC 8489 §6.3.1).
    /// Ignored attributes (after MESSAGE-INTEGRITY) are not reported; unknown
    /// comprehension-optional attributes are skipped. Allocates nothing; a type repeated in
    /// the message is reported each time.
    pub fn unknown_comprehension_required<F>(&self, known: F) -> UnknownRequired<'a, F>
    where
        F: Fn(AttributeType) -> bool,
    {
        UnknownRequired { attributes: self.attributes(), known }
    }

    /// Whether MESSAGE-INTEGRITY is present (and processed).
    pub const fn has_message_integrity(&self) -> bool {
        self.integrity.is_some()
    }

    /// Whether MESSAGE-INTEGRITY-SHA256 is present (and processed).
    pub const fn has_message_integrity_sha256(&self) -> bool {
        self.integrity_sha256.is_some()
    }

    /// Whether FINGERPRINT is present.
    pub const fn has_fingerprint(&self) -> bool {
        self.fingerprint.is_some()
    }

    /// The header with its length field set to `end - HEADER_LEN`, the form the digests are
    /// computed over (RFC 8489 §14.5-§14.7).
    fn adjusted_header(&self, end: usize) -> Result<[u8; HEADER_LEN], Error> {
        let mut header: [u8; HEADER_LEN] =
            wire::array_at(self.buf, 0).ok_or(Error::Truncated("header"))?;
        let length = end
            .checked_sub(HEADER_LEN)
            .and_then(|l| u16::try_from(l).ok())
            .ok_or(Error::Malformed("adjusted length out of range"))?;
        header[2..4].copy_from_slice(&length.to_be_bytes());
        Ok(header)
    }

    /// The bytes between the header and the attribute at `offset`.
    fn body_before(&self, offset: usize) -> Result<&'a [u8], Error> {
        self.buf.get(HEADER_LEN..offset).ok_or(Error::Malformed("attribute offset"))
    }

    /// Checks MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 §14.5) with `key`: the password for
    /// short-term credentials, the MD5 long-term key otherwise (see [`crate::credentials`]).
    /// The HMAC covers the header with its length adjusted to end after MESSAGE-INTEGRITY
    /// and everything before the attribute; the comparison is constant-time.
    pub fn verify_message_integrity(&self, key: &[u8]) -> Result<(), Error> {
        let attribute = AttributeType::MESSAGE_INTEGRITY;
        let offset = self.integrity.ok_or(Error::MissingAttribute(attribute))?;
        let received = self.buf.get(offset + 4..offset + 24).ok_or(Error::Malformed("MI"))?;
        let header = self.adjusted_header(offset + 24)?;
        let expected = hmac_sha1(key, &[&header, self.body_before(offset)?])?;
        if constant_time_eq(&expected, received) {
            Ok(())
        } else {
            Err(Error::CheckFailed(attribute))
        }
    }

    /// Checks MESSAGE-INTEGRITY-SHA256 (HMAC-SHA256, RFC 8489 §14.6), accepting the
    /// truncated lengths the RFC allows (16 to 32 bytes, multiple of 4). A STUN usage that
    /// requires a minimum above 16 checks [`Message::get`] with `MessageIntegritySha256`.
    pub fn verify_message_integrity_sha256(&self, key: &[u8]) -> Result<(), Error> {
        let attribute = AttributeType::MESSAGE_INTEGRITY_SHA256;
        let offset = self.integrity_sha256.ok_or(Error::MissingAttribute(attribute))?;
        let len = wire::u16_at(self.buf, offset + 2).ok_or(Error::Malformed("MI-SHA256"))?;
        let end = offset + 4 + usize::from(len);
        let received = self.buf.get(offset + 4..end).ok_or(Error::Malformed("MI-SHA256"))?;
        let header = self.adjusted_header(end)?;
        let expected = hmac_sha256(key, &[&header, self.body_before(offset)?])?;
        let truncated = expected.get(..received.len()).ok_or(Error::Malformed("MI-SHA256"))?;
        if constant_time_eq(truncated, received) {
            Ok(())
        } else {
            Err(Error::CheckFailed(attribute))
        }
    }

    /// Checks FINGERPRINT (CRC-32 XOR 0x5354554E, RFC 8489 §14.7).
    pub fn verify_fingerprint(&self) -> Result<(), Error> {
        let attribute = AttributeType::FINGERPRINT;
        let offset = self.fingerprint.ok_or(Error::MissingAttribute(attribute))?;
        let received = wire::u32_at(self.buf, offset + 4).ok_or(Error::Malformed("FINGERPRINT"))?;
        let header = self.adjusted_header(offset + 8)?;
        if fingerprint(&[&header, self.body_before(offset)?]) == received {
            Ok(())
        } else {
            Err(Error::CheckFailed(attribute))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::{Software, Username, XorMappedAddress};
    use crate::MessageWriter;

    const TID: TransactionId = TransactionId([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);

    /// A header for `length` bytes of attributes followed by `body`.
    fn message(length: u16, body: &[u8]) -> Vec<u8> {
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&length.to_be_bytes());
        m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        m.extend_from_slice(&TID.0);
        m.extend_from_slice(body);
        m
    }

    fn tlv(t: u16, value: &[u8]) -> Vec<u8> {
        let mut v = t.to_be_bytes().to_vec();
        v.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
        v.extend_from_slice(value);
        v.resize(4 + wire::padded_len(value.len()), 0);
        v
    }

    fn with_body(body: &[u8]) -> Vec<u8> {
        message(u16::try_from(body.len()).unwrap(), body)
    }

    #[test]
    fn empty_message() {
        let buf = with_body(&[]);
        let msg = Message::parse(&buf).unwrap();
        assert_eq!(msg.message_type(), MessageType::BINDING_REQUEST);
        assert_eq!(msg.transaction_id(), TID);
        assert_eq!(msg.attributes().count(), 0);
        assert!(!msg.has_message_integrity());
        assert_eq!(
            msg.verify_message_integrity(b"k"),
            Err(Error::MissingAttribute(AttributeType::MESSAGE_INTEGRITY))
        );
        assert_eq!(
            msg.verify_fingerprint(),
            Err(Error::MissingAttribute(AttributeType::FINGERPRINT))
        );
    }

    #[test]
    fn truncated_at_every_length() {
        let mut buf = Vec::new();
        let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, TID);
        w.add(&Username("user:name")).unwrap();
        w.add(&Software("x")).unwrap();
        w.add_message_integrity(b"key").unwrap();
        w.add_fingerprint().unwrap();
        assert!(Message::parse(&buf).is_ok());
        for cut in 0..buf.len() {
            assert!(Message::parse(&buf[..cut]).is_err(), "cut at {cut}");
            assert!(Header::parse(&buf[..cut]).is_err() == (cut < HEADER_LEN));
        }
    }

    #[test]
    fn header_errors() {
        let good = with_body(&[]);
        let mut bad = good.clone();
        bad[0] |= 0x80;
        assert_eq!(
            Message::parse(&bad).unwrap_err(),
            Error::NotStun("first two bits are not zero")
        );
        let mut bad = good.clone();
        bad[0] |= 0x40;
        assert!(matches!(Message::parse(&bad), Err(Error::NotStun(_))));
        let mut bad = good.clone();
        bad[4] ^= 1;
        assert_eq!(Message::parse(&bad).unwrap_err(), Error::NotStun("wrong magic cookie"));
        let bad = message(2, &[0, 0]);
        assert_eq!(
            Message::parse(&bad).unwrap_err(),
            Error::Malformed("length is not a multiple of 4")
        );
        let bad = message(4, &[]);
        assert!(matches!(Message::parse(&bad), Err(Error::Truncated(_))));
        let bad = message(0, &[0, 0, 0, 0]);
        assert_eq!(Message::parse(&bad).unwrap_err(), Error::Malformed("bytes after the message"));
    }

    #[test]
    fn attribute_past_the_end() {
        // Value length 8 but only 4 bytes follow.
        let bad = with_body(&[0x80, 0x22, 0x00, 0x08, 1, 2, 3, 4]);
        assert!(matches!(Message::parse(&bad), Err(Error::Malformed(_))));
        // Maximal length field.
        let bad = with_body(&[0x80, 0x22, 0xff, 0xff, 1, 2, 3, 4]);
        assert!(matches!(Message::parse(&bad), Err(Error::Malformed(_))));
    }

    #[test]
    fn bad_padding() {
        // A 5-byte value padded to 8: fine, whatever the padding bytes are.
        let good = with_body(&[0x80, 0x22, 0x00, 0x05, 1, 2, 3, 4, 5, 0xAA, 0xBB, 0xCC]);
        assert_eq!(
            Message::parse(&good).unwrap().get_raw(AttributeType::SOFTWARE),
            Some(&[1, 2, 3, 4, 5][..])
        );
        // Padding left out: the length (9) is not a multiple of 4.
        let bad = message(9, &[0x80, 0x22, 0x00, 0x05, 1, 2, 3, 4, 5]);
        assert_eq!(
            Message::parse(&bad).unwrap_err(),
            Error::Malformed("length is not a multiple of 4")
        );
        // Padding left out and the length rounded down: the value runs past the end.
        let bad = with_body(&[0x80, 0x22, 0x00, 0x05, 1, 2, 3, 4]);
        assert_eq!(
            Message::parse(&bad).unwrap_err(),
            Error::Malformed("attribute value or padding past the end")
        );
        // An unpadded attribute followed by another: the next header is read from the
        // wrong offset (type 0x020A, length 0x0B00) and runs past the end.
        let bad = with_body(&[0x80, 0x22, 0x00, 0x01, 1, 0x80, 0x22, 0x00, 0x02, 0x0A, 0x0B, 0]);
        assert!(Message::parse(&bad).is_err());
    }

    #[test]
    fn integrity_lengths() {
        let bad = with_body(&tlv(0x0008, &[0; 16]));
        assert_eq!(
            Message::parse(&bad).unwrap_err(),
            Error::InvalidAttribute {
                attribute: AttributeType::MESSAGE_INTEGRITY,
                reason: "length must be 20"
            }
        );
        for len in [0, 12, 18, 36] {
            let bad = with_body(&tlv(0x001C, &vec![0; len]));
            assert!(matches!(
                Message::parse(&bad),
                Err(Error::InvalidAttribute {
                    attribute: AttributeType::MESSAGE_INTEGRITY_SHA256,
                    ..
                })
            ));
        }
        let bad = with_body(&tlv(0x8028, &[0; 8]));
        assert!(matches!(Message::parse(&bad), Err(Error::InvalidAttribute { .. })));
    }

    #[test]
    fn fingerprint_must_be_last() {
        let mut body = tlv(0x8028, &[0; 4]);
        body.extend(tlv(0x8022, b"late"));
        assert_eq!(
            Message::parse(&with_body(&body)).unwrap_err(),
            Error::Malformed("attribute after FINGERPRINT")
        );
        let mut body = tlv(0x8028, &[0; 4]);
        body.extend(tlv(0x8028, &[0; 4]));
        assert!(Message::parse(&with_body(&body)).is_err());
    }

    #[test]
    fn attributes_after_integrity_are_ignored() {
        let mut body = tlv(0x0006, b"first");
        body.extend(tlv(0x0008, &[0; 20])); // MESSAGE-INTEGRITY
        body.extend(tlv(0x0006, b"second")); // ignored
        body.extend(tlv(0x7777, b"unknown")); // ignored, so not reported as unknown
        body.extend(tlv(0x0008, &[0; 4])); // a second MI is ignored, even with a bad length
        body.extend(tlv(0x001C, &[0; 32])); // MESSAGE-INTEGRITY-SHA256
        body.extend(tlv(0x0006, b"third")); // ignored
        body.extend(tlv(0x0008, &[0; 20])); // ignored after MI-SHA256
        body.extend(tlv(0x8028, &[0; 4])); // FINGERPRINT
        let buf = with_body(&body);
        let msg = Message::parse(&buf).unwrap();
        let types: Vec<_> = msg.attributes().map(|a| a.attr_type.0).collect();
        assert_eq!(types, [0x0006, 0x0008, 0x001C, 0x8028]);
        assert_eq!(msg.get::<Username<'_>>().unwrap(), Some(Username("first")));
        assert_eq!(msg.unknown_comprehension_required(|t| t.is_known()).count(), 0);
        assert!(msg.has_message_integrity_sha256());
        assert_eq!(msg.attributes().nth(1).unwrap().offset, HEADER_LEN + 12);
    }

    #[test]
    fn unknown_comprehension_required() {
        let mut body = tlv(0x7777, b"a");
        body.extend(tlv(0x0006, b"user"));
        body.extend(tlv(0xC001, b"optional")); // comprehension-optional: skipped
        body.extend(tlv(0x0024, &[0, 0, 0, 1])); // PRIORITY
        body.extend(tlv(0x7777, b"b"));
        let buf = with_body(&body);
        let msg = Message::parse(&buf).unwrap();
        let unknown: Vec<_> = msg.unknown_comprehension_required(AttributeType::is_known).collect();
        assert_eq!(unknown, [AttributeType(0x7777), AttributeType(0x7777)]);
        // An agent that only knows USERNAME also reports PRIORITY. The predicate may borrow
        // state that lives shorter than the datagram.
        let agent_knows = [AttributeType::USERNAME];
        let unknown: Vec<_> =
            msg.unknown_comprehension_required(|t| agent_knows.contains(&t)).collect();
        assert_eq!(
            unknown,
            [AttributeType(0x7777), AttributeType::PRIORITY, AttributeType(0x7777)]
        );
    }

    #[test]
    fn get_all_returns_every_occurrence() {
        use crate::attributes::XorPeerAddress;
        let mut buf = Vec::new();
        let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, TID);
        w.add(&XorPeerAddress("192.0.2.1:1".parse().unwrap())).unwrap();
        w.add(&Username("u")).unwrap();
        w.add(&XorPeerAddress("192.0.2.2:2".parse().unwrap())).unwrap();
        w.add_message_integrity(b"k").unwrap();
        let msg = Message::parse(&buf).unwrap();
        let peers: Vec<_> = msg.get_all::<XorPeerAddress>().map(|p| p.unwrap().0.port()).collect();
        assert_eq!(peers, [1, 2]);
        assert_eq!(msg.get::<XorPeerAddress>().unwrap().unwrap().0.port(), 1);
        assert_eq!(msg.get_all::<Software<'_>>().count(), 0);
    }

    #[test]
    fn typed_decoding_errors_surface_from_get() {
        // XOR-MAPPED-ADDRESS with family 3.
        let buf = with_body(&tlv(0x0020, &[0, 3, 0, 0, 1, 2, 3, 4]));
        let msg = Message::parse(&buf).unwrap();
        assert!(matches!(
            msg.get::<XorMappedAddress>(),
            Err(Error::InvalidAttribute { attribute: AttributeType::XOR_MAPPED_ADDRESS, .. })
        ));
        assert_eq!(msg.get::<Username<'_>>(), Ok(None));
        assert!(msg.contains(AttributeType::XOR_MAPPED_ADDRESS));
    }

    #[test]
    fn integrity_and_fingerprint_detect_changes() {
        let mut buf = Vec::new();
        let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_SUCCESS, TID);
        w.add(&XorMappedAddress("198.51.100.7:4242".parse().unwrap())).unwrap();
        w.add_message_integrity(b"pass").unwrap();
        w.add_message_integrity_sha256(b"pass").unwrap();
        w.add_fingerprint().unwrap();
        let msg = Message::parse(&buf).unwrap();
        msg.verify_message_integrity(b"pass").unwrap();
        msg.verify_message_integrity_sha256(b"pass").unwrap();
        msg.verify_fingerprint().unwrap();
        assert_eq!(
            msg.verify_message_integrity(b"wrong"),
            Err(Error::CheckFailed(AttributeType::MESSAGE_INTEGRITY))
        );
        assert_eq!(
            msg.verify_message_integrity_sha256(b"wrong"),
            Err(Error::CheckFailed(AttributeType::MESSAGE_INTEGRITY_SHA256))
        );
        let mut changed = buf.clone();
        changed[HEADER_LEN + 5] ^= 1;
        let msg = Message::parse(&changed).unwrap();
        assert!(msg.verify_message_integrity(b"pass").is_err());
        assert!(msg.verify_message_integrity_sha256(b"pass").is_err());
        assert!(msg.verify_fingerprint().is_err());
    }
}
