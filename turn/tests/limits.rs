//! Quotas on permissions and channels, the bandwidth limit, and the no-amplification
//! property of unauthenticated responses.

mod common;

use std::time::Duration;

use common::*;
use proptest::prelude::*;
use stun::attributes::{
    ChannelNumber, Lifetime, RequestedTransport, Software, TransportProtocol, XorPeerAddress,
};
use stun::{
    AttributeType, ChannelData, Class, Framing, MessageType, MessageWriter, Method, TransactionId,
};
use turn::{BandwidthLimit, Output, Transport, MAX_UNAUTHENTICATED_GROWTH};

#[test]
fn permission_and_channel_limits_are_508() {
    let mut config = config();
    config.max_permissions_per_allocation = 2;
    config.max_channels_per_allocation = 2;
    let mut h = Harness::with_config(config);
    let mut client = TurnClient::new(udp("198.51.100.7:43000"), ALICE.0, ALICE.1);
    client.allocate_ok(&mut h);
    let permit = |peers: Vec<&'static str>| {
        move |w: &mut MessageWriter<'_>| {
            for p in &peers {
                w.add(&XorPeerAddress(addr(p)))?;
            }
            Ok(())
        }
    };
    let ok = permit(vec!["1.1.1.1:1", "2.2.2.2:1"]);
    assert_eq!(
        class(&client.transact(&mut h, Method::CREATE_PERMISSION, &ok)),
        Class::SuccessResponse
    );
    // Refreshing the same two is fine; a third IP is over the limit.
    assert_eq!(
        class(&client.transact(&mut h, Method::CREATE_PERMISSION, &ok)),
        Class::SuccessResponse
    );
    let third = permit(vec!["3.3.3.3:1"]);
    assert_eq!(error_code(&client.transact(&mut h, Method::CREATE_PERMISSION, &third)), Some(508));
    // Channels to peers with permissions: two, then 508.
    let bind = |n: u16, p: &'static str| {
        move |w: &mut MessageWriter<'_>| {
            w.add(&ChannelNumber(n))?;
            w.add(&XorPeerAddress(addr(p)))
        }
    };
    assert_eq!(
        error_code(&client.transact(&mut h, Method::CHANNEL_BIND, &bind(0x4000, "1.1.1.1:1"))),
        None
    );
    assert_eq!(
        error_code(&client.transact(&mut h, Method::CHANNEL_BIND, &bind(0x4001, "1.1.1.1:2"))),
        None
    );
    assert_eq!(
        error_code(&client.transact(&mut h, Method::CHANNEL_BIND, &bind(0x4002, "2.2.2.2:1"))),
        Some(508)
    );
    // A channel to a peer without permission when permissions are full: 508 too.
    assert_eq!(
        error_code(&client.transact(&mut h, Method::CHANNEL_BIND, &bind(0x4000, "1.1.1.1:1"))),
        None
    );
    assert_eq!(h.server.stats().capacity_refusals, 2);
    // When the permissions expire, there is room again.
    h.advance(Duration::from_secs(300));
    assert_eq!(
        class(&client.transact(&mut h, Method::CREATE_PERMISSION, &third)),
        Class::SuccessResponse
    );
}

#[test]
fn bandwidth_limit_drops_and_counts() {
    let mut config = config();
    config.bandwidth = Some(BandwidthLimit { bytes_per_second: 100_000, burst_bytes: 65_535 });
    let mut h = Harness::with_config(config);
    let mut client = TurnClient::new(udp("198.51.100.7:43001"), ALICE.0, ALICE.1);
    client.allocate_ok(&mut h);
    let peer = addr("1.2.3.4:5000");
    let bind = move |w: &mut MessageWriter<'_>| {
        w.add(&ChannelNumber(0x4000))?;
        w.add(&XorPeerAddress(peer))
    };
    client.transact(&mut h, Method::CHANNEL_BIND, &bind);
    let mut frame = Vec::new();
    ChannelData::new(0x4000, &[0u8; 1000]).unwrap().write(&mut frame, Framing::Datagram);
    let t = client.tuple;
    let mut relayed = 0;
    for _ in 0..100 {
        if h.server.relay_from_client(h.now, t.transport, t.client, t.server, &frame).is_some() {
            relayed += 1;
        }
    }
    // The burst (65 535 bytes) lets 65 datagrams of 1000 bytes through.
    assert_eq!(relayed, 65);
    let stats = h.server.stats();
    assert_eq!((stats.bandwidth_dropped_packets, stats.bandwidth_dropped_bytes), (35, 35_000));
    assert_eq!(stats.client_to_peer_bytes, 65_000);

    // The other direction shares the bucket: still empty.
    let relay = h.relay_socket(&t, true);
    h.peer_sends(relay, peer, &[0u8; 1000]);
    assert!(h.take_client(t).is_empty());
    // 100 ms later, 10 000 bytes were earned.
    h.advance(Duration::from_millis(100));
    let mut relayed = 0;
    for _ in 0..20 {
        h.peer_sends(relay, peer, &[0u8; 1000]);
        relayed += h.take_client(t).len();
    }
    assert_eq!(relayed, 10);
    assert_eq!(h.server.stats().bandwidth_dropped_packets, 36 + 10);
}

#[test]
fn no_limit_relays_everything() {
    let mut config = config();
    config.bandwidth = None;
    let mut h = Harness::with_config(config);
    let mut client = TurnClient::new(udp("198.51.100.7:43002"), ALICE.0, ALICE.1);
    client.allocate_ok(&mut h);
    let peer = addr("1.2.3.4:5000");
    let bind = move |w: &mut MessageWriter<'_>| {
        w.add(&ChannelNumber(0x4000))?;
        w.add(&XorPeerAddress(peer))
    };
    client.transact(&mut h, Method::CHANNEL_BIND, &bind);
    let mut frame = Vec::new();
    ChannelData::new(0x4000, &[0u8; 1200]).unwrap().write(&mut frame, Framing::Datagram);
    let t = client.tuple;
    for _ in 0..10_000 {
        assert!(h
            .server
            .relay_from_client(h.now, t.transport, t.client, t.server, &frame)
            .is_some());
    }
    assert_eq!(h.server.stats().bandwidth_dropped_packets, 0);
}

/// Sends `request` unauthenticated and checks every response against the bound; returns
/// the number of responses and the largest growth.
fn bounded(h: &mut Harness, tuple: turn::FiveTuple, request: &[u8]) -> (usize, usize) {
    h.server.handle_client(h.now, tuple.transport, tuple.client, tuple.server, request);
    let mut responses = 0;
    let mut growth = 0;
    while let Some(output) = h.server.poll_output() {
        match output {
            Output::ToClient(t) => {
                assert!(
                    t.data.len() <= request.len() + MAX_UNAUTHENTICATED_GROWTH,
                    "{} byte response to a {} byte request",
                    t.data.len(),
                    request.len()
                );
                responses += 1;
                growth = growth.max(t.data.len().saturating_sub(request.len()));
            }
            other => panic!("unauthenticated input caused {other:?}"),
        }
    }
    (responses, growth)
}

fn assert_bounded(h: &mut Harness, tuple: turn::FiveTuple, request: &[u8]) -> usize {
    bounded(h, tuple, request).0
}

#[test]
fn smallest_requests_with_the_longest_realm_are_answered_within_the_bound() {
    let mut config = config();
    config.realm = "r".repeat(turn::MAX_REALM_LEN);
    let mut h = Harness::with_config(config);
    let tuple = udp("198.51.100.7:43003");
    let mut max_growth = 0;
    for method in [
        Method::ALLOCATE,
        Method::REFRESH,
        Method::CREATE_PERMISSION,
        Method::CHANNEL_BIND,
        Method::BINDING,
        Method::SEND,
    ] {
        for fingerprint in [false, true] {
            let mut request = Vec::new();
            let mut w = MessageWriter::new(
                &mut request,
                MessageType::new(method, Class::Request),
                TransactionId([3; 12]),
            );
            if fingerprint {
                w.add_fingerprint().unwrap();
            }
            let (responses, growth) = bounded(&mut h, tuple, &request);
            assert_eq!(responses, 1, "{method:?}");
            max_growth = max_growth.max(growth);
        }
    }
    // The 401 to a bare Allocate: 20 + ERROR-CODE 24 + REALM 68 + NONCE 44 = 156 bytes.
    assert_eq!(max_growth, 136);
    let stats = h.server.stats();
    assert_eq!(stats.amplification_suppressed, 0);
    assert_eq!(stats.unauthenticated_responses, 12);
    assert!(stats.unauthenticated_response_bytes > 0);
}

fn any_method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::BINDING),
        Just(Method::ALLOCATE),
        Just(Method::REFRESH),
        Just(Method::CREATE_PERMISSION),
        Just(Method::CHANNEL_BIND),
        (0u16..0x1000).prop_map(|m| Method::new(m).unwrap()),
    ]
}

/// An attribute a client might send unauthenticated: known ones, unknown required and
/// optional ones, of any length.
fn any_attribute() -> impl Strategy<Value = (u16, Vec<u8>)> {
    prop_oneof![
        Just((0x0019, vec![17, 0, 0, 0])),
        Just((0x000D, vec![0, 0, 2, 0x58])),
        (any::<u16>(), proptest::collection::vec(any::<u8>(), 0..40)),
        Just((0x0006, b"alice".to_vec())),
        Just((0x0014, b"example.org".to_vec())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// No amplification: whatever an unauthenticated client sends, no response is larger
    /// than the request plus MAX_UNAUTHENTICATED_GROWTH, and nothing but responses come out.
    #[test]
    fn unauthenticated_responses_never_amplify(
        method in any_method(),
        attributes in proptest::collection::vec(any_attribute(), 0..6),
        fingerprint in any::<bool>(),
        transport in prop_oneof![Just(Transport::Udp), Just(Transport::Tcp)],
    ) {
        let mut h = Harness::new();
        let tuple = turn::FiveTuple { transport, ..udp("198.51.100.7:43004") };
        let mut request = Vec::new();
        let mut w = MessageWriter::new(
            &mut request,
            MessageType::new(method, Class::Request),
            TransactionId([5; 12]),
        );
        for (t, value) in &attributes {
            // MESSAGE-INTEGRITY and FINGERPRINT are placed by the writer only.
            if matches!(*t, 0x0008 | 0x001C | 0x8028) {
                continue;
            }
            let _ = w.add_raw(AttributeType(*t), value);
        }
        if fingerprint {
            let _ = w.add_fingerprint();
        }
        assert_bounded(&mut h, tuple, &request);
        prop_assert_eq!(h.server.allocation_count(), 0);
    }
}

#[test]
fn allocate_requests_from_real_clients_get_small_challenges() {
    // What browsers send first: REQUESTED-TRANSPORT, maybe LIFETIME and SOFTWARE.
    let mut h = Harness::new();
    let tuple = udp("198.51.100.7:43005");
    let mut request = Vec::new();
    let mut w = MessageWriter::new(
        &mut request,
        MessageType::new(Method::ALLOCATE, Class::Request),
        TransactionId([6; 12]),
    );
    w.add(&RequestedTransport(TransportProtocol::UDP)).unwrap();
    w.add(&Lifetime(3600)).unwrap();
    w.add(&Software("Chrome")).unwrap();
    w.add_fingerprint().unwrap();
    assert_eq!(assert_bounded(&mut h, tuple, &request), 1);
}
