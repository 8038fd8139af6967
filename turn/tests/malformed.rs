//! Hostile input: random bytes, truncations and mutations of valid requests, on every input
//! of the machine. Nothing panics, nothing unauthenticated creates an allocation, binds a
//! socket or relays data.

mod common;

use std::net::SocketAddr;

use common::*;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use stun::attributes::{ChannelNumber, Data, XorPeerAddress};
use stun::{ChannelData, Framing, MessageWriter, Method};
use turn::{Output, Transport};

/// Feeds `data` from the client of `tuple` and returns the outputs.
fn feed(h: &mut Harness, tuple: turn::FiveTuple, data: &[u8]) -> Vec<Output> {
    h.server.handle_client(h.now, tuple.transport, tuple.client, tuple.server, data);
    std::iter::from_fn(|| h.server.poll_output()).collect()
}

/// Only responses to the sender may come out of hostile input.
fn assert_only_responses(outputs: &[Output], tuple: turn::FiveTuple) {
    for output in outputs {
        match output {
            Output::ToClient(t) => assert_eq!(t.five_tuple(), tuple),
            other => panic!("hostile input caused {other:?}"),
        }
    }
}

/// Where MESSAGE-INTEGRITY ends: the bytes before are what the HMAC protects. Attributes
/// after it other than FINGERPRINT (and MESSAGE-INTEGRITY-SHA256) are ignored by every
/// receiver (RFC 8489 §14.5), so a mutation there, such as turning FINGERPRINT's type into
/// an unknown comprehension-optional one, leaves an authentic request: only mutations
/// before this offset must be refused.
fn protected_len(request: &[u8]) -> usize {
    let msg = stun::Message::parse(request).unwrap();
    let mi = msg
        .attributes()
        .find(|a| a.attr_type == stun::AttributeType::MESSAGE_INTEGRITY)
        .expect("MESSAGE-INTEGRITY");
    mi.offset + 24
}

/// A valid authenticated Allocate (the nonce is fresh) for `tuple`.
fn valid_allocate(h: &mut Harness, tuple: turn::FiveTuple) -> (TurnClient, Vec<u8>) {
    let mut client = TurnClient::new(tuple, ALICE.0, ALICE.1);
    let id = client.transaction_id();
    client.learn(&h.send(tuple, &client.request(Method::ALLOCATE, id, &udp_transport)).remove(0));
    client.fingerprint = true;
    let id = client.transaction_id();
    let request = client.request(Method::ALLOCATE, id, &udp_transport);
    (client, request)
}

fn random_input(rng: &mut StdRng) -> Vec<u8> {
    let len = match rng.gen_range(0..4) {
        0 => rng.gen_range(0..8),
        1 => rng.gen_range(8..40),
        2 => rng.gen_range(40..200),
        _ => rng.gen_range(200..1500),
    };
    let mut data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
    // Steer a share of the inputs past the first checks: STUN-looking headers with a
    // consistent length, and ChannelData headers.
    match rng.gen_range(0..4) {
        0 if len >= 20 => {
            data[0] &= 0x3F;
            let body = u16::try_from((len - 20) & !3).unwrap_or(0);
            data[2..4].copy_from_slice(&body.to_be_bytes());
            data[4..8].copy_from_slice(&stun::MAGIC_COOKIE.to_be_bytes());
            data.truncate(20 + usize::from(body));
        }
        1 if len >= 4 => {
            data[0] = 0x40 | (data[0] & 0x0F);
            let body = u16::try_from(len - 4).unwrap();
            data[2..4].copy_from_slice(&body.to_be_bytes());
        }
        _ => {}
    }
    data
}

#[test]
fn random_bytes_never_panic_nor_allocate() {
    let mut h = Harness::new();
    // One real allocation with a channel and a permission, so that hostile input also
    // reaches the relay paths.
    let mut victim = TurnClient::new(udp("198.51.100.7:44000"), ALICE.0, ALICE.1);
    victim.allocate_ok(&mut h);
    let peer = addr("1.2.3.4:5000");
    let bind = move |w: &mut MessageWriter<'_>| {
        w.add(&ChannelNumber(0x4000))?;
        w.add(&XorPeerAddress(peer))
    };
    victim.transact(&mut h, Method::CHANNEL_BIND, &bind);
    let relay = h.relay_socket(&victim.tuple, true);

    let mut rng = StdRng::seed_from_u64(0x7e57);
    let strangers = [
        udp("198.51.100.9:1"),
        tcp("198.51.100.9:2"),
        turn::FiveTuple { transport: Transport::Tls, ..udp("[2001:db8::9]:3") },
    ];
    let mut buffer = vec![0u8; 2048];
    for i in 0..20_000 {
        let data = random_input(&mut rng);
        let tuple = strangers[i % strangers.len()];
        let outputs = feed(&mut h, tuple, &data);
        assert_only_responses(&outputs, tuple);
        // The victim's own 5-tuple: random input may only be dropped or answered, never
        // relayed unless it is a well-formed ChannelData on the bound channel.
        let outputs = feed(&mut h, victim.tuple, &data);
        for output in &outputs {
            if let Output::ToPeer(p) = output {
                assert_eq!(p.peer, peer);
                let frame =
                    ChannelData::parse(&data, Framing::Datagram).expect("only ChannelData relays");
                assert_eq!(frame.channel(), 0x4000);
            }
        }
        // Peer side: any bytes from any peer, into a buffer that may be too small.
        let from = SocketAddr::new(std::net::IpAddr::V4(rng.gen::<u32>().into()), rng.gen());
        let out_len = rng.gen_range(0..buffer.len());
        let _ = h.server.relay_from_peer(h.now, relay, from, &data, &mut buffer[..out_len]);
        let _ = h.server.relay_from_peer(h.now, addr("10.0.0.5:1"), from, &data, &mut buffer);
        while h.server.poll_output().is_some() {}
    }
    assert_eq!(h.server.allocation_count(), 1);
    assert!(h.server.stats().malformed_dropped > 1_000);
}

#[test]
fn truncated_requests_never_panic_nor_allocate() {
    let mut h = Harness::new();
    let tuple = udp("198.51.100.7:44001");
    let (mut client, request) = valid_allocate(&mut h, tuple);
    for cut in 0..request.len() {
        let outputs = feed(&mut h, tuple, &request[..cut]);
        assert_only_responses(&outputs, tuple);
    }
    let peer = addr("1.2.3.4:5000");
    let send = move |w: &mut MessageWriter<'_>| {
        w.add(&XorPeerAddress(peer))?;
        w.add(&Data(b"data"))
    };
    let indication = client.indication(Method::SEND, &send);
    let mut frame = Vec::new();
    ChannelData::new(0x4000, b"data").unwrap().write(&mut frame, Framing::Stream);
    for input in [&indication, &frame] {
        for cut in 0..input.len() {
            for t in [tuple, tcp("198.51.100.7:44001")] {
                let outputs = feed(&mut h, t, &input[..cut]);
                assert_only_responses(&outputs, t);
            }
        }
    }
    assert_eq!(h.server.allocation_count(), 0);
    // The untouched request still works.
    let response = h.send(tuple, &request);
    assert_eq!(class(&response[0]), stun::Class::SuccessResponse);
    assert_eq!(h.server.allocation_count(), 1);
}

#[test]
fn mutated_requests_never_allocate() {
    let mut h = Harness::new();
    let tuple = udp("198.51.100.7:44002");
    let (_, request) = valid_allocate(&mut h, tuple);
    let protected = protected_len(&request);
    let mut rng = StdRng::seed_from_u64(0xbad);
    for _ in 0..5_000 {
        let mut mutated = request.clone();
        let flips = rng.gen_range(1..4);
        for _ in 0..flips {
            let i = rng.gen_range(0..protected);
            mutated[i] ^= rng.gen_range(1..=255u8);
        }
        match rng.gen_range(0..4) {
            0 => mutated.truncate(rng.gen_range(0..mutated.len())),
            1 => mutated.extend((0..rng.gen_range(1..8)).map(|_| rng.gen::<u8>())),
            _ => {}
        }
        let outputs = feed(&mut h, tuple, &mutated);
        assert_only_responses(&outputs, tuple);
        assert_eq!(h.server.allocation_count(), 0);
    }
    // A FINGERPRINT value that does not match drops the request unanswered.
    let mut bad_fingerprint = request.clone();
    let last = bad_fingerprint.len() - 1;
    bad_fingerprint[last] ^= 1;
    assert!(feed(&mut h, tuple, &bad_fingerprint).is_empty());
}

#[test]
fn mutated_requests_on_an_allocation_change_nothing() {
    let mut h = Harness::new();
    let mut client = TurnClient::new(udp("198.51.100.7:44003"), ALICE.0, ALICE.1);
    client.allocate_ok(&mut h);
    client.fingerprint = true;
    let peer = addr("1.2.3.4:5000");
    let bind = move |w: &mut MessageWriter<'_>| {
        w.add(&ChannelNumber(0x4000))?;
        w.add(&XorPeerAddress(peer))
    };
    let delete = |w: &mut MessageWriter<'_>| w.add(&stun::attributes::Lifetime(0));
    let id = client.transaction_id();
    let channel_bind = client.request(Method::CHANNEL_BIND, id, &bind);
    let id = client.transaction_id();
    let refresh = client.request(Method::REFRESH, id, &delete);
    let mut rng = StdRng::seed_from_u64(0xf00d);
    for request in [&channel_bind, &refresh] {
        let protected = protected_len(request);
        for _ in 0..3_000 {
            let mut mutated = request.clone();
            let i = rng.gen_range(0..protected);
            mutated[i] ^= rng.gen_range(1..=255u8);
            let outputs = feed(&mut h, client.tuple, &mutated);
            assert_only_responses(&outputs, client.tuple);
        }
    }
    let info = h.server.allocation(&client.tuple).expect("still allocated");
    assert_eq!((info.channels, info.permissions), (0, 0));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_client_bytes(data in proptest::collection::vec(any::<u8>(), 0..600), stream in any::<bool>()) {
        let mut h = Harness::new();
        let tuple = if stream { tcp("198.51.100.7:44004") } else { udp("198.51.100.7:44004") };
        let outputs = feed(&mut h, tuple, &data);
        assert_only_responses(&outputs, tuple);
        prop_assert_eq!(h.server.allocation_count(), 0);
    }

    #[test]
    fn arbitrary_stun_bodies(
        message_type in 0u16..0x4000,
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut h = Harness::new();
        let tuple = udp("198.51.100.7:44005");
        let len = body.len() & !3;
        let mut data = message_type.to_be_bytes().to_vec();
        data.extend_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
        data.extend_from_slice(&stun::MAGIC_COOKIE.to_be_bytes());
        data.extend_from_slice(&[9; 12]);
        data.extend_from_slice(&body[..len]);
        let outputs = feed(&mut h, tuple, &data);
        assert_only_responses(&outputs, tuple);
        prop_assert_eq!(h.server.allocation_count(), 0);
    }

    #[test]
    fn arbitrary_peer_bytes(data in proptest::collection::vec(any::<u8>(), 0..2000), out_len in 0usize..2100, port in any::<u16>()) {
        let mut h = Harness::new();
        let mut client = TurnClient::new(udp("198.51.100.7:44006"), ALICE.0, ALICE.1);
        client.allocate_ok(&mut h);
        let peer = SocketAddr::new("1.2.3.4".parse().unwrap(), port);
        let permit = move |w: &mut MessageWriter<'_>| w.add(&XorPeerAddress(peer));
        client.transact(&mut h, Method::CREATE_PERMISSION, &permit);
        let relay = h.relay_socket(&client.tuple, true);
        let mut out = vec![0u8; out_len];
        if let Some(frame) = h.server.relay_from_peer(h.now, relay, peer, &data, &mut out) {
            prop_assert!(frame.len <= out_len);
            let msg = stun::Message::parse(&out[..frame.len]).unwrap();
            prop_assert_eq!(msg.get::<Data<'_>>().unwrap().unwrap().0, data.as_slice());
        } else {
            // A Data indication needs 20 + 12 + 4 bytes around the padded data.
            prop_assert!(out_len < 36 + data.len().next_multiple_of(4));
        }
    }
}

#[test]
fn attributes_after_message_integrity_are_ignored_not_fatal() {
    // Turning FINGERPRINT's type into an unknown comprehension-optional attribute leaves an
    // authentic request (RFC 8489 §14.5: what follows MESSAGE-INTEGRITY is ignored), so it
    // is processed like the original.
    let mut h = Harness::new();
    let tuple = udp("198.51.100.7:44007");
    let (_, mut request) = valid_allocate(&mut h, tuple);
    let fingerprint_at = request.len() - 8;
    request[fingerprint_at + 1] = 0x29; // 0x8028 -> 0x8029
    let response = h.send(tuple, &request);
    assert_eq!(class(&response[0]), stun::Class::SuccessResponse);
}
