//! Property tests: every attribute codec and whole messages round-trip exactly, and
//! ChannelData frames survive write → frame → parse.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use proptest::collection::vec;
use proptest::prelude::*;
use stun::attributes::*;
use stun::{
    AttributeType, ChannelData, Class, FrameKind, Framing, Message, MessageType, MessageWriter,
    Method, RawAttribute, TransactionId,
};

/// An owned description of one attribute, so that strategies can generate it.
#[derive(Debug, Clone)]
enum Attr {
    Mapped(SocketAddr),
    XorMapped(SocketAddr),
    AlternateServer(SocketAddr),
    XorPeer(SocketAddr),
    XorRelayed(SocketAddr),
    Username(String),
    Userhash([u8; 32]),
    ErrorCode(u16, String),
    Unknown(Vec<u16>),
    Realm(String),
    Nonce(String),
    PasswordAlgorithms(Vec<(u16, Vec<u8>)>),
    PasswordAlgorithm(u16, Vec<u8>),
    Software(String),
    AlternateDomain(String),
    Priority(u32),
    UseCandidate,
    IceControlled(u64),
    IceControlling(u64),
    ChannelNumber(u16),
    Lifetime(u32),
    Data(Vec<u8>),
    RequestedAddressFamily(u8),
    EvenPort(bool),
    RequestedTransport(u8),
    DontFragment,
    ReservationToken([u8; 8]),
    AdditionalAddressFamily(u8),
    AddressErrorCode(u8, u16, String),
    Icmp(u8, u8, u32),
    ConnectionId(u32),
    /// An attribute type this crate does not know, with any value.
    Raw(u16, Vec<u8>),
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port)),
    ]
}

/// Up to 127 characters: within every text attribute's sending limit (USERNAME's 508
/// bytes included, as a character is at most 4 bytes).
fn text() -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..127).prop_map(String::from_iter)
}

fn unknown_type() -> impl Strategy<Value = u16> {
    prop_oneof![0x0040u16..0x7FFF, 0xC000u16..=0xFFFF]
}

fn attr() -> impl Strategy<Value = Attr> {
    let addresses = prop_oneof![
        socket_addr().prop_map(Attr::Mapped),
        socket_addr().prop_map(Attr::XorMapped),
        socket_addr().prop_map(Attr::AlternateServer),
        socket_addr().prop_map(Attr::XorPeer),
        socket_addr().prop_map(Attr::XorRelayed),
    ];
    let texts = prop_oneof![
        text().prop_map(Attr::Username),
        text().prop_map(Attr::Realm),
        text().prop_map(Attr::Nonce),
        text().prop_map(Attr::Software),
        "[a-z0-9.-]{0,255}".prop_map(Attr::AlternateDomain),
        (300u16..=699, text()).prop_map(|(c, r)| Attr::ErrorCode(c, r)),
        (any::<u8>(), 300u16..=699, text()).prop_map(|(f, c, r)| Attr::AddressErrorCode(f, c, r)),
    ];
    let lists = prop_oneof![
        any::<[u8; 32]>().prop_map(Attr::Userhash),
        vec(any::<u16>(), 0..10).prop_map(Attr::Unknown),
        vec((any::<u16>(), vec(any::<u8>(), 0..12)), 0..4).prop_map(Attr::PasswordAlgorithms),
        (any::<u16>(), vec(any::<u8>(), 0..12)).prop_map(|(a, p)| Attr::PasswordAlgorithm(a, p)),
        vec(any::<u8>(), 0..300).prop_map(Attr::Data),
        (unknown_type(), vec(any::<u8>(), 0..40)).prop_map(|(t, v)| Attr::Raw(t, v)),
    ];
    let numbers = prop_oneof![
        any::<u32>().prop_map(Attr::Priority),
        Just(Attr::UseCandidate),
        any::<u64>().prop_map(Attr::IceControlled),
        any::<u64>().prop_map(Attr::IceControlling),
        any::<u16>().prop_map(Attr::ChannelNumber),
        any::<u32>().prop_map(Attr::Lifetime),
        any::<u8>().prop_map(Attr::RequestedAddressFamily),
        any::<bool>().prop_map(Attr::EvenPort),
        any::<u8>().prop_map(Attr::RequestedTransport),
        Just(Attr::DontFragment),
        any::<[u8; 8]>().prop_map(Attr::ReservationToken),
        any::<u8>().prop_map(Attr::AdditionalAddressFamily),
        (any::<u8>(), any::<u8>(), any::<u32>()).prop_map(|(t, c, d)| Attr::Icmp(t, c, d)),
        any::<u32>().prop_map(Attr::ConnectionId),
    ];
    prop_oneof![addresses, texts, lists, numbers]
}

fn tid() -> impl Strategy<Value = TransactionId> {
    any::<[u8; 12]>().prop_map(TransactionId)
}

/// Runs `$body` with `$typed` bound to the typed attribute an `Attr` describes (borrowing
/// its owned data). Not for `Attr::Raw`, which has no codec.
macro_rules! with_typed {
    ($attr:expr, |$typed:ident| $body:expr) => {{
        match $attr {
            Attr::Mapped(a) => {
                let $typed = MappedAddress(*a);
                $body
            }
            Attr::XorMapped(a) => {
                let $typed = XorMappedAddress(*a);
                $body
            }
            Attr::AlternateServer(a) => {
                let $typed = AlternateServer(*a);
                $body
            }
            Attr::XorPeer(a) => {
                let $typed = XorPeerAddress(*a);
                $body
            }
            Attr::XorRelayed(a) => {
                let $typed = XorRelayedAddress(*a);
                $body
            }
            Attr::Username(s) => {
                let $typed = Username(s);
                $body
            }
            Attr::Userhash(h) => {
                let $typed = Userhash(*h);
                $body
            }
            Attr::ErrorCode(c, r) => {
                let $typed = ErrorCode::with_reason(*c, r);
                $body
            }
            Attr::Unknown(list) => {
                let types: Vec<AttributeType> = list.iter().map(|&t| AttributeType(t)).collect();
                let $typed = UnknownAttributes::new(&types);
                $body
            }
            Attr::Realm(s) => {
                let $typed = Realm(s);
                $body
            }
            Attr::Nonce(s) => {
                let $typed = Nonce(s);
                $body
            }
            Attr::PasswordAlgorithms(list) => {
                let entries: Vec<PasswordAlgorithm<'_>> = list
                    .iter()
                    .map(|(a, p)| PasswordAlgorithm {
                        algorithm: PasswordAlgorithmId(*a),
                        parameters: p,
                    })
                    .collect();
                let $typed = PasswordAlgorithms::new(&entries);
                $body
            }
            Attr::PasswordAlgorithm(a, p) => {
                let $typed =
                    PasswordAlgorithm { algorithm: PasswordAlgorithmId(*a), parameters: p };
                $body
            }
            Attr::Software(s) => {
                let $typed = Software(s);
                $body
            }
            Attr::AlternateDomain(s) => {
                let $typed = AlternateDomain(s);
                $body
            }
            Attr::Priority(p) => {
                let $typed = Priority(*p);
                $body
            }
            Attr::UseCandidate => {
                let $typed = UseCandidate;
                $body
            }
            Attr::IceControlled(t) => {
                let $typed = IceControlled(*t);
                $body
            }
            Attr::IceControlling(t) => {
                let $typed = IceControlling(*t);
                $body
            }
            Attr::ChannelNumber(c) => {
                let $typed = ChannelNumber(*c);
                $body
            }
            Attr::Lifetime(l) => {
                let $typed = Lifetime(*l);
                $body
            }
            Attr::Data(d) => {
                let $typed = Data(d);
                $body
            }
            Attr::RequestedAddressFamily(f) => {
                let $typed = RequestedAddressFamily(AddressFamily(*f));
                $body
            }
            Attr::EvenPort(r) => {
                let $typed = EvenPort { reserve: *r };
                $body
            }
            Attr::RequestedTransport(p) => {
                let $typed = RequestedTransport(TransportProtocol(*p));
                $body
            }
            Attr::DontFragment => {
                let $typed = DontFragment;
                $body
            }
            Attr::ReservationToken(t) => {
                let $typed = ReservationToken(*t);
                $body
            }
            Attr::AdditionalAddressFamily(f) => {
                let $typed = AdditionalAddressFamily(AddressFamily(*f));
                $body
            }
            Attr::AddressErrorCode(f, c, r) => {
                let $typed = AddressErrorCode { family: AddressFamily(*f), code: *c, reason: r };
                $body
            }
            Attr::Icmp(t, c, d) => {
                let $typed = Icmp { icmp_type: *t, code: *c, error_data: *d };
                $body
            }
            Attr::ConnectionId(c) => {
                let $typed = ConnectionId(*c);
                $body
            }
            Attr::Raw(..) => unreachable!("raw attributes have no codec"),
        }
    }};
}

/// Codec round trip of one typed value: encode, decode, compare.
fn codec_round_trip<'a, A>(typed: &A, tid: &TransactionId, scratch: &'a mut Vec<u8>)
where
    A: Attribute<'a> + PartialEq + std::fmt::Debug,
{
    scratch.clear();
    typed.encode(tid, scratch).unwrap();
    let view: &'a Vec<u8> = scratch;
    let decoded = A::decode(view, tid).unwrap();
    assert_eq!(&decoded, typed);
}

/// Decodes a parsed attribute as `A` and compares it to the expected value.
fn check_decoded<'a, A>(expected: &A, raw: &RawAttribute<'a>, tid: &TransactionId)
where
    A: Attribute<'a> + PartialEq + std::fmt::Debug,
{
    assert_eq!(raw.attr_type, A::TYPE);
    assert_eq!(&A::decode(raw.value, tid).unwrap(), expected);
}

fn add(w: &mut MessageWriter<'_>, attr: &Attr) {
    if let Attr::Raw(t, v) = attr {
        w.add_raw(AttributeType(*t), v).unwrap();
    } else {
        with_typed!(attr, |typed| w.add(&typed).unwrap());
    }
}

fn check(attr: &Attr, raw: &RawAttribute<'_>, tid: &TransactionId) {
    if let Attr::Raw(t, v) = attr {
        assert_eq!(raw.attr_type, AttributeType(*t));
        assert_eq!(raw.value, v.as_slice());
    } else {
        with_typed!(attr, |typed| check_decoded(&typed, raw, tid));
    }
}

fn class() -> impl Strategy<Value = Class> {
    prop_oneof![
        Just(Class::Request),
        Just(Class::Indication),
        Just(Class::SuccessResponse),
        Just(Class::ErrorResponse),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_attribute_codec_round_trips(attr in attr(), tid in tid()) {
        if !matches!(attr, Attr::Raw(..)) {
            let mut scratch = Vec::new();
            with_typed!(&attr, |typed| codec_round_trip(&typed, &tid, &mut scratch));
        }
    }

    #[test]
    fn whole_messages_round_trip(
        attrs in vec(attr(), 0..16),
        tid in tid(),
        method in 0u16..=0x0FFF,
        class in class(),
        key in vec(any::<u8>(), 0..40),
        integrity in any::<bool>(),
        sha256_len in prop_oneof![Just(0usize), Just(16), Just(20), Just(24), Just(28), Just(32)],
        fingerprint in any::<bool>(),
    ) {
        let message_type = MessageType::new(Method::new(method).unwrap(), class);
        let mut buf = Vec::new();
        let mut w = MessageWriter::new(&mut buf, message_type, tid);
        for attr in &attrs {
            add(&mut w, attr);
        }
        if integrity {
            w.add_message_integrity(&key).unwrap();
        }
        if sha256_len > 0 {
            w.add_message_integrity_sha256_truncated(&key, sha256_len).unwrap();
        }
        if fingerprint {
            w.add_fingerprint().unwrap();
        }
        let len = w.finish();
        prop_assert_eq!(len, buf.len());
        prop_assert!(stun::is_stun(&buf));

        let msg = Message::parse(&buf).unwrap();
        prop_assert_eq!(msg.message_type(), message_type);
        prop_assert_eq!(msg.transaction_id(), tid);
        let parsed: Vec<RawAttribute<'_>> = msg.attributes().collect();
        let extra = usize::from(integrity) + usize::from(sha256_len > 0) + usize::from(fingerprint);
        prop_assert_eq!(parsed.len(), attrs.len() + extra);
        for (attr, raw) in attrs.iter().zip(&parsed) {
            check(attr, raw, &tid);
        }
        prop_assert_eq!(msg.has_message_integrity(), integrity);
        prop_assert_eq!(msg.has_message_integrity_sha256(), sha256_len > 0);
        prop_assert_eq!(msg.has_fingerprint(), fingerprint);
        if integrity {
            prop_assert!(msg.verify_message_integrity(&key).is_ok());
        }
        if sha256_len > 0 {
            prop_assert!(msg.verify_message_integrity_sha256(&key).is_ok());
        }
        if fingerprint {
            prop_assert!(msg.verify_fingerprint().is_ok());
        }

        // Rebuilding from the parsed raw values gives the same bytes.
        let mut again = Vec::new();
        let mut w = MessageWriter::new(&mut again, msg.message_type(), msg.transaction_id());
        for raw in parsed.iter().take(attrs.len()) {
            w.add_raw(raw.attr_type, raw.value).unwrap();
        }
        if integrity {
            w.add_message_integrity(&key).unwrap();
        }
        if sha256_len > 0 {
            w.add_message_integrity_sha256_truncated(&key, sha256_len).unwrap();
        }
        if fingerprint {
            w.add_fingerprint().unwrap();
        }
        prop_assert_eq!(again, buf);
    }

    #[test]
    fn channel_data_round_trips(
        channel in 0x4000u16..=0x4FFF,
        data in vec(any::<u8>(), 0..2000),
    ) {
        let frame = ChannelData::new(channel, &data).unwrap();
        let mut out = Vec::new();
        for framing in [Framing::Datagram, Framing::Stream] {
            frame.write(&mut out, framing);
            prop_assert_eq!(out.len(), frame.encoded_len(framing));
            let parsed = ChannelData::parse(&out, framing).unwrap();
            prop_assert_eq!(parsed.channel(), channel);
            prop_assert_eq!(parsed.data(), data.as_slice());
            prop_assert!(!stun::is_stun(&out));
        }
        // On a stream, the framing helper finds the frame's end.
        let found = stun::peek_frame(&out).unwrap().unwrap();
        prop_assert_eq!(found.kind, FrameKind::ChannelData);
        prop_assert_eq!(found.len, out.len());
    }

    #[test]
    fn arbitrary_bytes_never_panic(buf in vec(any::<u8>(), 0..200)) {
        let _ = stun::is_stun(&buf);
        let _ = stun::peek_frame(&buf);
        let _ = ChannelData::parse(&buf, Framing::Datagram);
        let _ = ChannelData::parse(&buf, Framing::Stream);
        if let Ok(msg) = Message::parse(&buf) {
            for raw in msg.attributes() {
                let _ = raw.value.len();
            }
            let _ = msg.verify_message_integrity(b"k");
            let _ = msg.verify_fingerprint();
        }
    }
}
