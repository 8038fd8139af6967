//! RFC 5769 test vectors: parse, verify, decode, and re-encode byte for byte.
//!
//! RFC 5769 pads USERNAME and SOFTWARE with spaces (0x20) to show that receivers ignore
//! padding, so the re-encoding of §2.1-§2.3 sets the writer's padding byte to 0x20.

use std::net::SocketAddr;

use stun::attributes::{
    IceControlled, MessageIntegrity, Nonce, Priority, Realm, Software, Username, XorMappedAddress,
};
use stun::{
    credentials, AttributeType, Class, Error, Message, MessageType, MessageWriter, Method,
    TransactionId,
};

const PASSWORD: &str = "VOkJxbRl1RmTxUk/WvJxBt";

/// §2.1 Sample Request (short-term credentials).
const SAMPLE_REQUEST: &str = "\
    00010058 2112a442 b7e7a701 bc34d686 fa87dfae \
    80220010 5354554e 20746573 7420636c 69656e74 \
    00240004 6e0001ff \
    80290008 932ff9b1 51263b36 \
    00060009 6576746a 3a683676 59202020 \
    00080014 9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2 \
    80280004 e57a3bcf";

/// §2.2 Sample IPv4 Response.
const SAMPLE_IPV4_RESPONSE: &str = "\
    0101003c 2112a442 b7e7a701 bc34d686 fa87dfae \
    8022000b 74657374 20766563 746f7220 \
    00200008 0001a147 e112a643 \
    00080014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7 \
    80280004 c07d4c96";

/// §2.3 Sample IPv6 Response.
const SAMPLE_IPV6_RESPONSE: &str = "\
    01010048 2112a442 b7e7a701 bc34d686 fa87dfae \
    8022000b 74657374 20766563 746f7220 \
    00200014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9 \
    00080014 a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41 \
    80280004 c8fb0b4c";

/// §2.4 Sample Request with Long-Term Authentication.
const SAMPLE_LONG_TERM_REQUEST: &str = "\
    00010060 2112a442 78ad3433 c6ad72c0 29da412e \
    00060012 e3839ee3 8388e383 aae38383 e382afe3 82b90000 \
    0015001c 662f2f34 39396b39 35346436 4f4c3334 6f4c3946 53547679 36347341 \
    0014000b 6578616d 706c652e 6f726700 \
    00080014 f6702465 6dd64a3e 02b8e071 2e85c9a2 8ca89666";

/// "マトリックス" (The Matrix in katakana).
const LONG_TERM_USERNAME: &str = "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}";
/// The password "The<U+00AD>M<U+00AA>tr<U+2168>" after SASLprep, as given by RFC 5769.
const LONG_TERM_PASSWORD: &str = "TheMatrIX";
const LONG_TERM_REALM: &str = "example.org";
const LONG_TERM_NONCE: &str = "f//499k954d6OL34oL9FSTvy64sA";

const RESPONSE_TID: TransactionId =
    TransactionId([0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae]);

fn bytes(spaced_hex: &str) -> Vec<u8> {
    hex::decode(spaced_hex.split_whitespace().collect::<String>()).unwrap()
}

fn long_term_key() -> [u8; 16] {
    credentials::long_term_key_md5(LONG_TERM_USERNAME, LONG_TERM_REALM, LONG_TERM_PASSWORD).unwrap()
}

fn types(msg: &Message<'_>) -> Vec<AttributeType> {
    msg.attributes().map(|a| a.attr_type).collect()
}

#[test]
fn sample_request_2_1() {
    let vector = bytes(SAMPLE_REQUEST);
    assert_eq!(vector.len(), 108);
    assert!(stun::is_stun(&vector));
    let msg = Message::parse(&vector).unwrap();
    assert_eq!(msg.message_type(), MessageType::new(Method::BINDING, Class::Request));
    assert_eq!(msg.transaction_id(), RESPONSE_TID);
    assert_eq!(
        types(&msg),
        [
            AttributeType::SOFTWARE,
            AttributeType::PRIORITY,
            AttributeType::ICE_CONTROLLED,
            AttributeType::USERNAME,
            AttributeType::MESSAGE_INTEGRITY,
            AttributeType::FINGERPRINT,
        ]
    );
    msg.verify_message_integrity(credentials::short_term_key(PASSWORD)).unwrap();
    msg.verify_fingerprint().unwrap();
    assert_eq!(
        msg.verify_message_integrity(b"VOkJxbRl1RmTxUk/WvJxBT"),
        Err(Error::CheckFailed(AttributeType::MESSAGE_INTEGRITY))
    );
    assert_eq!(msg.get::<Software<'_>>().unwrap(), Some(Software("STUN test client")));
    assert_eq!(msg.get::<Priority>().unwrap(), Some(Priority(0x6e00_01ff)));
    assert_eq!(msg.get::<IceControlled>().unwrap(), Some(IceControlled(0x932f_f9b1_5126_3b36)));
    assert_eq!(msg.get::<Username<'_>>().unwrap(), Some(Username("evtj:h6vY")));
    assert_eq!(
        msg.get::<MessageIntegrity>().unwrap().map(|mi| hex::encode(mi.0)),
        Some("9aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2".to_owned())
    );
    assert_eq!(msg.unknown_comprehension_required(AttributeType::is_known).count(), 0);

    let mut out = Vec::new();
    let mut w = MessageWriter::new(&mut out, MessageType::BINDING_REQUEST, msg.transaction_id());
    w.set_padding_byte(0x20);
    w.add(&Software("STUN test client")).unwrap();
    w.add(&Priority(0x6e00_01ff)).unwrap();
    w.add(&IceControlled(0x932f_f9b1_5126_3b36)).unwrap();
    w.add(&Username("evtj:h6vY")).unwrap();
    w.add_message_integrity(PASSWORD.as_bytes()).unwrap();
    w.add_fingerprint().unwrap();
    assert_eq!(hex::encode(&out), hex::encode(&vector));
}

fn check_response(vector_hex: &str, len: usize, mapped: &str) {
    let vector = bytes(vector_hex);
    assert_eq!(vector.len(), len);
    let msg = Message::parse(&vector).unwrap();
    assert_eq!(msg.message_type(), MessageType::BINDING_SUCCESS);
    assert_eq!(msg.transaction_id(), RESPONSE_TID);
    assert_eq!(
        types(&msg),
        [
            AttributeType::SOFTWARE,
            AttributeType::XOR_MAPPED_ADDRESS,
            AttributeType::MESSAGE_INTEGRITY,
            AttributeType::FINGERPRINT,
        ]
    );
    msg.verify_message_integrity(PASSWORD.as_bytes()).unwrap();
    msg.verify_fingerprint().unwrap();
    assert_eq!(msg.get::<Software<'_>>().unwrap(), Some(Software("test vector")));
    let mapped: SocketAddr = mapped.parse().unwrap();
    assert_eq!(msg.get::<XorMappedAddress>().unwrap(), Some(XorMappedAddress(mapped)));

    let mut out = Vec::new();
    let mut w = MessageWriter::new(&mut out, MessageType::BINDING_SUCCESS, RESPONSE_TID);
    w.set_padding_byte(0x20);
    w.add(&Software("test vector")).unwrap();
    w.add(&XorMappedAddress(mapped)).unwrap();
    w.add_message_integrity(PASSWORD.as_bytes()).unwrap();
    w.add_fingerprint().unwrap();
    assert_eq!(hex::encode(&out), hex::encode(&vector));
}

#[test]
fn sample_ipv4_response_2_2() {
    check_response(SAMPLE_IPV4_RESPONSE, 80, "192.0.2.1:32853");
}

#[test]
fn sample_ipv6_response_2_3() {
    check_response(SAMPLE_IPV6_RESPONSE, 92, "[2001:db8:1234:5678:11:2233:4455:6677]:32853");
}

#[test]
fn sample_long_term_request_2_4() {
    let vector = bytes(SAMPLE_LONG_TERM_REQUEST);
    assert_eq!(vector.len(), 116);
    let msg = Message::parse(&vector).unwrap();
    assert_eq!(msg.message_type(), MessageType::BINDING_REQUEST);
    assert_eq!(
        msg.transaction_id(),
        TransactionId([0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e])
    );
    assert_eq!(
        types(&msg),
        [
            AttributeType::USERNAME,
            AttributeType::NONCE,
            AttributeType::REALM,
            AttributeType::MESSAGE_INTEGRITY,
        ]
    );
    assert!(!msg.has_fingerprint());
    let key = long_term_key();
    msg.verify_message_integrity(&key).unwrap();
    // The unprepared password gives another key: OpaqueString/SASLprep is the caller's job.
    let raw = credentials::long_term_key_md5(
        LONG_TERM_USERNAME,
        LONG_TERM_REALM,
        "The\u{00AD}M\u{00AA}tr\u{2168}",
    )
    .unwrap();
    assert!(msg.verify_message_integrity(&raw).is_err());
    assert_eq!(msg.get::<Username<'_>>().unwrap(), Some(Username(LONG_TERM_USERNAME)));
    assert_eq!(msg.get::<Nonce<'_>>().unwrap(), Some(Nonce(LONG_TERM_NONCE)));
    assert_eq!(msg.get::<Realm<'_>>().unwrap(), Some(Realm(LONG_TERM_REALM)));

    let mut out = Vec::new();
    let mut w = MessageWriter::new(&mut out, MessageType::BINDING_REQUEST, msg.transaction_id());
    w.add(&Username(LONG_TERM_USERNAME)).unwrap();
    w.add(&Nonce(LONG_TERM_NONCE)).unwrap();
    w.add(&Realm(LONG_TERM_REALM)).unwrap();
    w.add_message_integrity(&key).unwrap();
    assert_eq!(hex::encode(&out), hex::encode(&vector));
}

/// Whether the message still passes every check the original passed.
fn passes(buf: &[u8], key: &[u8], with_fingerprint: bool) -> bool {
    let Ok(msg) = Message::parse(buf) else { return false };
    msg.verify_message_integrity(key).is_ok()
        && (!with_fingerprint || msg.verify_fingerprint().is_ok())
}

fn every_bit_flip_fails(vector: &[u8], key: &[u8], with_fingerprint: bool) {
    assert!(passes(vector, key, with_fingerprint));
    let mut buf = vector.to_vec();
    for byte in 0..buf.len() {
        for bit in 0..8 {
            buf[byte] ^= 1 << bit;
            assert!(!passes(&buf, key, with_fingerprint), "flip of byte {byte} bit {bit} passed");
            buf[byte] ^= 1 << bit;
        }
    }
    assert_eq!(buf, vector);
}

#[test]
fn every_single_bit_flip_of_2_1_fails() {
    every_bit_flip_fails(&bytes(SAMPLE_REQUEST), PASSWORD.as_bytes(), true);
}

#[test]
fn every_single_bit_flip_of_the_other_vectors_fails() {
    every_bit_flip_fails(&bytes(SAMPLE_IPV4_RESPONSE), PASSWORD.as_bytes(), true);
    every_bit_flip_fails(&bytes(SAMPLE_IPV6_RESPONSE), PASSWORD.as_bytes(), true);
    every_bit_flip_fails(&bytes(SAMPLE_LONG_TERM_REQUEST), &long_term_key(), false);
}

#[test]
fn fingerprint_alone_catches_every_flip_that_still_parses() {
    // FINGERPRINT covers the whole message, so any flip that still parses fails it.
    let vector = bytes(SAMPLE_REQUEST);
    let mut buf = vector.clone();
    for byte in 0..buf.len() {
        for bit in 0..8 {
            buf[byte] ^= 1 << bit;
            if let Ok(msg) = Message::parse(&buf) {
                assert!(msg.verify_fingerprint().is_err(), "byte {byte} bit {bit}");
            }
            buf[byte] ^= 1 << bit;
        }
    }
}

#[test]
fn vectors_survive_truncation_without_panics() {
    for vector in
        [SAMPLE_REQUEST, SAMPLE_IPV4_RESPONSE, SAMPLE_IPV6_RESPONSE, SAMPLE_LONG_TERM_REQUEST]
    {
        let vector = bytes(vector);
        for cut in 0..vector.len() {
            assert!(Message::parse(&vector[..cut]).is_err());
            assert!(!stun::is_stun(&vector[..cut]));
        }
    }
}
