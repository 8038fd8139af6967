//! Relaying: CreatePermission, Send and Data indications, ChannelBind rules and ChannelData
//! both ways (unpadded over UDP, padded over TCP), the zero-copy paths, and the checks on
//! requests for an allocation (437, 441, 443).

mod common;

use std::net::SocketAddr;

use common::*;
use stun::attributes::{
    AdditionalAddressFamily, AddressFamily, ChannelNumber, Data, DontFragment, XorPeerAddress,
};
use stun::{AttributeType, ChannelData, Class, Framing, Message, MessageWriter, Method};
use turn::{Transport, CLIENT_FRAME_OVERHEAD};

fn permit(peers: &[SocketAddr]) -> impl Fn(&mut MessageWriter<'_>) -> Result<(), stun::Error> + '_ {
    move |w| {
        for peer in peers {
            w.add(&XorPeerAddress(*peer))?;
        }
        Ok(())
    }
}

fn bind(
    channel: u16,
    peer: SocketAddr,
) -> impl Fn(&mut MessageWriter<'_>) -> Result<(), stun::Error> {
    move |w| {
        w.add(&ChannelNumber(channel))?;
        w.add(&XorPeerAddress(peer))
    }
}

fn send_to(
    peer: SocketAddr,
    data: &[u8],
) -> impl Fn(&mut MessageWriter<'_>) -> Result<(), stun::Error> + '_ {
    move |w| {
        w.add(&XorPeerAddress(peer))?;
        w.add(&Data(data))
    }
}

fn channel_data(channel: u16, data: &[u8], framing: Framing) -> Vec<u8> {
    let mut out = Vec::new();
    ChannelData::new(channel, data).unwrap().write(&mut out, framing);
    out
}

/// An allocated client of Alice, over UDP.
fn allocated(h: &mut Harness, client: &str) -> TurnClient {
    let mut c = TurnClient::new(udp(client), ALICE.0, ALICE.1);
    c.allocate_ok(h);
    c
}

#[test]
fn create_permission_then_send_reaches_the_peer() {
    let mut h = Harness::new();
    let mut client = allocated(&mut h, "198.51.100.7:42000");
    let peer = addr("1.2.3.4:5000");
    let relay = h.relay_socket(&client.tuple, true);

    // Without a permission the Send indication is dropped silently.
    let indication = client.indication(Method::SEND, &send_to(peer, b"hello"));
    assert!(h.send(client.tuple, &indication).is_empty());
    assert!(h.take_peer().is_empty());
    assert_eq!(h.server.stats().no_permission_dropped, 1);

    let response = client.transact(&mut h, Method::CREATE_PERMISSION, &permit(&[peer]));
    assert_eq!(class(&response), Class::SuccessResponse);
    assert_eq!(h.server.stats().permissions_created, 1);
    assert!(h.send(client.tuple, &indication).is_empty(), "no response to an indication");
    let sent = h.take_peer();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].relay, sent[0].peer, sent[0].data.as_slice()),
        (relay, peer, &b"hello"[..])
    );

    // A permission covers every port of the IP.
    let other_port = addr("1.2.3.4:6000");
    let indication = client.indication(Method::SEND, &send_to(other_port, b"x"));
    h.send(client.tuple, &indication);
    assert_eq!(h.take_peer()[0].peer, other_port);
    // Another IP is not covered.
    let indication = client.indication(Method::SEND, &send_to(addr("1.2.3.5:5000"), b"x"));
    h.send(client.tuple, &indication);
    assert!(h.take_peer().is_empty());

    let stats = h.server.stats();
    assert_eq!((stats.client_to_peer_packets, stats.client_to_peer_bytes), (2, 6));
}

#[test]
fn zero_copy_client_path_borrows_the_input() {
    let mut h = Harness::new();
    let mut client = allocated(&mut h, "198.51.100.7:42001");
    let peer = addr("1.2.3.4:5000");
    client.transact(&mut h, Method::CREATE_PERMISSION, &permit(&[peer]));
    let indication = client.indication(Method::SEND, &send_to(peer, b"payload"));
    let t = client.tuple;
    let out = h
        .server
        .relay_from_client(h.now, t.transport, t.client, t.server, &indication)
        .expect("relayed");
    assert_eq!(out.data, b"payload");
    let range = indication.as_ptr_range();
    assert!(range.contains(&out.data.as_ptr()), "the data is borrowed from the input");
    assert!(h.server.poll_output().is_none(), "nothing queued");

    client.transact(&mut h, Method::CHANNEL_BIND, &bind(0x4001, peer));
    let frame = channel_data(0x4001, b"media!", Framing::Datagram);
    let out = h.server.relay_from_client(h.now, t.transport, t.client, t.server, &frame).unwrap();
    assert_eq!((out.peer, out.data), (peer, &b"media!"[..]));
    assert_eq!(out.data.as_ptr(), frame[4..].as_ptr());
}

#[test]
fn peer_data_becomes_a_data_indication() {
    let mut h = Harness::new();
    let mut client = allocated(&mut h, "198.51.100.7:42002");
    let relay = h.relay_socket(&client.tuple, true);
    let peer = addr("1.2.3.4:5000");

    h.peer_sends(relay, peer, b"early");
    assert!(h.take_client(client.tuple).is_empty(), "no permission yet");
    assert_eq!(h.server.stats().no_permission_dropped, 1);

    client.transact(&mut h, Method::CREATE_PERMISSION, &permit(&[peer]));
    h.peer_sends(relay, peer, b"hello client");
    let frames = h.take_client(client.tuple);
    assert_eq!(frames.len(), 1);
    let msg = Message::parse(&frames[0]).unwrap();
    assert_eq!(msg.message_type(), stun::MessageType::new(Method::DATA, Class::Indication));
    assert_eq!(msg.get::<XorPeerAddress>().unwrap().unwrap().0, peer);
    assert_eq!(msg.get::<Data<'_>>().unwrap().unwrap().0, b"hello client");
    // Data indications carry random transaction IDs.
    h.peer_sends(relay, peer, b"again");
    let again = h.take_client(client.tuple);
    assert_ne!(Message::parse(&again[0]).unwrap().transaction_id(), msg.transaction_id());
    // A datagram on an address that is no relay is dropped.
    h.peer_sends(addr("10.0.0.5:1"), peer, b"?");
    assert_eq!(h.server.stats().no_allocation_dropped, 1);
    assert_eq!(h.server.stats().peer_to_client_packets, 2);
}

#[test]
fn zero_copy_peer_path_writes_into_the_callers_buffer() {
    let mut h = Harness::new();
    let mut client = allocated(&mut h, "198.51.100.7:42003");
    let relay = h.relay_socket(&client.tuple, true);
    let peer = addr("1.2.3.4:5000");
    client.transact(&mut h, Method::CREATE_PERMISSION, &permit(&[peer]));
    let mut buffer = vec![0u8; 1500];
    let data = [7u8; 1200];
    let frame = h.server.relay_from_peer(h.now, relay, peer, &data, &mut buffer).unwrap();
    assert_eq!(frame.five_tuple(), client.tuple);
    let msg = Message::parse(&buffer[..frame.len]).unwrap();
    assert_eq!(msg.get::<Data<'_>>().unwrap().unwrap().0, &data[..]);
    assert!(h.server.poll_output().is_none());
    // Too small a buffer: dropped and counted, not truncated.
    let mut small = vec![0u8; 1200 + CLIENT_FRAME_OVERHEAD - 20];
    assert!(h.server.relay_from_peer(h.now, relay, peer, &[1; 1200 + 10], &mut small).is_none());
    assert_eq!(h.server.stats().oversize_dropped, 1);
}

#[test]
fn channel_data_both_ways_over_udp() {
    let mut h = Harness::new();
    let mut client = allocated(&mut h, "198.51.100.7:42004");
    let relay = h.relay_socket(&client.tuple, true);
    let peer = addr("1.2.3.4:5000");
    let response = client.transact(&mut h, Method::CHANNEL_BIND, &bind(0x4000, peer));
    assert_eq!(class(&response), Class::SuccessResponse);
    assert_eq!(h.server.stats().channels_bound, 1);

    // Client → peer.
    h.send(client.tuple, &channel_data(0x4000, b"abcde", Framing::Datagram));
    let sent = h.take_peer();
    assert_eq!(
        (sent[0].relay, sent[0].peer, sent[0].data.as_slice()),
        (relay, peer, &b"abcde"[..])
    );
    // Padding is optional over UDP.
    h.send(client.tuple, &channel_data(0x4000, b"abcde", Framing::Stream));
    assert_eq!(h.take_peer()[0].data, b"abcde");
    // An unbound channel is dropped.
    h.send(client.tuple, &channel_data(0x4001, b"abcde", Framing::Datagram));
    assert!(h.take_peer().is_empty());

    // Peer → client: ChannelData, unpadded over UDP.
    h.peer_sends(relay, peer, b"abcde");
    let frames = h.take_client(client.tuple);
    assert_eq!(frames, vec![vec![0x40, 0x00, 0x00, 0x05, b'a', b'b', b'c', b'd', b'e']]);
    // Another port of the same IP has the permission but no channel: Data indication.
    h.peer_sends(relay, addr("1.2.3.4:5001"), b"xyz");
    let frames = h.take_client(client.tuple);
    assert!(Message::parse(&frames[0]).is_ok());
}

#[test]
fn channel_data_is_padded_over_tcp() {
    let mut h = Harness::new();
    let mut client = TurnClient::new(tcp("198.51.100.7:42005"), ALICE.0, ALICE.1);
    client.allocate_ok(&mut h);
    let relay = h.relay_socket(&client.tuple, true);
    let peer = addr("1.2.3.4:5000");
    client.transact(&mut h, Method::CHANNEL_BIND, &bind(0x4FFF, peer));

    h.peer_sends(relay, peer, b"abcde");
    let frames = h.take_client(client.tuple);
    assert_eq!(frames, vec![vec![0x4F, 0xFF, 0x00, 0x05, b'a', b'b', b'c', b'd', b'e', 0, 0, 0]]);
    let frame = stun::peek_frame(&frames[0]).unwrap().unwrap();
    assert_eq!(frame.len, 12);

    h.send(client.tuple, &channel_data(0x4FFF, b"abcde", Framing::Stream));
    assert_eq!(h.take_peer()[0].data, b"abcde");
    // Without its padding the frame is malformed on a stream.
    h.send(client.tuple, &channel_data(0x4FFF, b"abcde", Framing::Datagram));
    assert!(h.take_peer().is_empty());
    assert_eq!(h.server.stats().malformed_dropped, 1);
    // A multiple of four needs no padding.
    h.peer_sends(relay, peer, b"abcd");
    assert_eq!(h.take_client(client.tuple)[0].len(), 8);
}

/// Clients written to RFC 5766 (coturn's `turnutils_uclient` among them) pick channel numbers
/// from 0x4000-0x7FFF, which RFC 8656 narrowed to 0x4000-0x4FFF: the server binds them and
/// relays their ChannelData both ways, over UDP and over TCP.
#[test]
fn rfc5766_channel_numbers_bind_and_relay() {
    for (n, (tuple, framing)) in [
        (udp("198.51.100.7:42007"), Framing::Datagram),
        (tcp("198.51.100.7:42008"), Framing::Stream),
    ]
    .into_iter()
    .enumerate()
    {
        let mut h = Harness::new();
        let mut client = TurnClient::new(tuple, ALICE.0, ALICE.1);
        client.allocate_ok(&mut h);
        let relay = h.relay_socket(&client.tuple, true);
        let (low, high) = (addr("1.2.3.4:5000"), addr("1.2.3.4:5001"));
        for (channel, peer) in [(0x5000, low), (0x7FFF, high)] {
            let response = client.transact(&mut h, Method::CHANNEL_BIND, &bind(channel, peer));
            assert_eq!(class(&response), Class::SuccessResponse, "case {n}, channel {channel:#x}");
        }
        assert_eq!(h.server.stats().channels_bound, 2, "case {n}");

        h.send(client.tuple, &channel_data(0x7FFF, b"to high", framing));
        h.send(client.tuple, &channel_data(0x5000, b"to low", framing));
        let sent: Vec<_> = h.take_peer().into_iter().map(|t| (t.peer, t.data)).collect();
        assert_eq!(sent, [(high, b"to high".to_vec()), (low, b"to low".to_vec())], "case {n}");

        h.peer_sends(relay, high, b"back");
        let frames = h.take_client(client.tuple);
        assert_eq!(frames, [channel_data(0x7FFF, b"back", framing)], "case {n}");
        // A number outside every range is still no channel: dropped and counted.
        let mut bad = channel_data(0x7FFF, b"abcd", framing);
        bad[0] = 0x80;
        h.send(client.tuple, &bad);
        assert!(h.take_peer().is_empty(), "case {n}");
    }
}

#[test]
fn channel_bind_rules() {
    let mut h = Harness::new();
    let mut client = allocated(&mut h, "198.51.100.7:42006");
    let p1 = addr("1.2.3.4:5000");
    let p2 = addr("5.6.7.8:5000");
    let code = |c: &mut TurnClient, h: &mut Harness, ch: u16, peer: SocketAddr| {
        error_code(&c.transact(h, Method::CHANNEL_BIND, &bind(ch, peer)))
    };
    // Channel numbers outside 0x4000..=0x7FFF (RFC 5766's range, see the test below).
    assert_eq!(code(&mut client, &mut h, 0x3FFF, p1), Some(400));
    assert_eq!(code(&mut client, &mut h, 0x8000, p1), Some(400));
    assert_eq!(code(&mut client, &mut h, 0xFFFF, p1), Some(400));
    assert_eq!(code(&mut client, &mut h, 0x0000, p1), Some(400));
    assert_eq!(code(&mut client, &mut h, 0x4000, p1), None);
    // Rebinding the same pair refreshes it.
    assert_eq!(code(&mut client, &mut h, 0x4000, p1), None);
    // The same channel to another peer, or the same peer to another channel: 400.
    assert_eq!(code(&mut client, &mut h, 0x4000, p2), Some(400));
    assert_eq!(code(&mut client, &mut h, 0x4001, p1), Some(400));
    // Another port of the same IP is another transport address.
    assert_eq!(code(&mut client, &mut h, 0x4001, addr("1.2.3.4:5001")), None);
    assert_eq!(code(&mut client, &mut h, 0x4002, p2), None);
    // Missing attributes.
    let only_channel = |w: &mut MessageWriter<'_>| w.add(&ChannelNumber(0x4003));
    assert_eq!(
        error_code(&client.transact(&mut h, Method::CHANNEL_BIND, &only_channel)),
        Some(400)
    );
    let only_peer = |w: &mut MessageWriter<'_>| w.add(&XorPeerAddress(p2));
    assert_eq!(error_code(&client.transact(&mut h, Method::CHANNEL_BIND, &only_peer)), Some(400));
    // Port 0 cannot be sent to.
    assert_eq!(code(&mut client, &mut h, 0x4003, addr("1.2.3.4:0")), Some(400));
    assert_eq!(h.server.allocation(&client.tuple).unwrap().channels, 3);
}

#[test]
fn create_permission_checks() {
    let mut h = Harness::new();
    let mut client = allocated(&mut h, "198.51.100.7:42007");
    // Several peers at once.
    let peers = [addr("1.2.3.4:1"), addr("5.6.7.8:2"), addr("9.9.9.9:3")];
    assert_eq!(
        class(&client.transact(&mut h, Method::CREATE_PERMISSION, &permit(&peers))),
        Class::SuccessResponse
    );
    assert_eq!(h.server.allocation(&client.tuple).unwrap().permissions, 3);
    // No XOR-PEER-ADDRESS: 400.
    assert_eq!(
        error_code(&client.transact(&mut h, Method::CREATE_PERMISSION, &no_attrs)),
        Some(400)
    );
    // A malformed one: 400.
    let broken = |w: &mut MessageWriter<'_>| w.add_raw(AttributeType::XOR_PEER_ADDRESS, &[0, 1, 2]);
    assert_eq!(error_code(&client.transact(&mut h, Method::CREATE_PERMISSION, &broken)), Some(400));
    // An IPv6 peer on an IPv4 allocation: 443, and nothing installed (all or nothing).
    let mixed = [addr("8.8.8.8:1"), addr("[2606:4700::1111]:53")];
    assert_eq!(
        error_code(&client.transact(&mut h, Method::CREATE_PERMISSION, &permit(&mixed))),
        Some(443)
    );
    assert_eq!(h.server.allocation(&client.tuple).unwrap().permissions, 3);
    assert_eq!(
        error_code(&client.transact(&mut h, Method::CHANNEL_BIND, &bind(0x4000, mixed[1]))),
        Some(443)
    );

    // A dual allocation takes both families, and relays each from its own socket.
    let mut dual = TurnClient::new(udp("198.51.100.7:42008"), ALICE.0, ALICE.1);
    let additional =
        |w: &mut MessageWriter<'_>| w.add(&AdditionalAddressFamily(AddressFamily::IPV6));
    dual.allocate(&mut h, &additional);
    assert_eq!(
        class(&dual.transact(&mut h, Method::CREATE_PERMISSION, &permit(&mixed))),
        Class::SuccessResponse
    );
    for peer in mixed {
        let indication = dual.indication(Method::SEND, &send_to(peer, b"x"));
        h.send(dual.tuple, &indication);
        let sent = h.take_peer();
        assert_eq!(sent[0].relay, h.relay_socket(&dual.tuple, peer.is_ipv4()));
    }
}

#[test]
fn requests_without_an_allocation_are_437() {
    let mut h = Harness::new();
    let mut client = TurnClient::new(udp("198.51.100.7:42009"), ALICE.0, ALICE.1);
    let peer = addr("1.2.3.4:5000");
    assert_eq!(error_code(&client.transact(&mut h, Method::REFRESH, &no_attrs)), Some(437));
    assert_eq!(
        error_code(&client.transact(&mut h, Method::CREATE_PERMISSION, &permit(&[peer]))),
        Some(437)
    );
    assert_eq!(
        error_code(&client.transact(&mut h, Method::CHANNEL_BIND, &bind(0x4000, peer))),
        Some(437)
    );
    // Relayed data without an allocation is dropped.
    let indication = client.indication(Method::SEND, &send_to(peer, b"x"));
    assert!(h.send(client.tuple, &indication).is_empty());
    h.send(client.tuple, &channel_data(0x4000, b"x", Framing::Datagram));
    assert!(h.take_peer().is_empty());
    assert_eq!(h.server.stats().no_allocation_dropped, 2);
}

#[test]
fn another_username_on_the_allocation_is_441() {
    let mut h = Harness::new();
    let alice = allocated(&mut h, "198.51.100.7:42010");
    let mut bob = TurnClient::new(alice.tuple, BOB.0, BOB.1);
    let peer = addr("1.2.3.4:5000");
    assert_eq!(error_code(&bob.transact(&mut h, Method::REFRESH, &no_attrs)), Some(441));
    assert_eq!(
        error_code(&bob.transact(&mut h, Method::CREATE_PERMISSION, &permit(&[peer]))),
        Some(441)
    );
    assert_eq!(
        error_code(&bob.transact(&mut h, Method::CHANNEL_BIND, &bind(0x4000, peer))),
        Some(441)
    );
    assert_eq!(h.server.stats().wrong_credentials, 3);
    assert_eq!(h.server.allocation(&alice.tuple).unwrap().permissions, 0);
}

#[test]
fn closing_a_tcp_connection_deletes_its_allocation() {
    let mut h = Harness::new();
    let mut client = TurnClient::new(tcp("198.51.100.7:42011"), ALICE.0, ALICE.1);
    client.allocate_ok(&mut h);
    let socket = h.relay_socket(&client.tuple, true);
    h.server.client_closed(client.tuple);
    h.pump();
    assert_eq!(h.server.allocation_count(), 0);
    assert_eq!(h.driver.closed, vec![socket]);
    assert_eq!(h.server.stats().allocations_deleted, 1);

    // Closing while the relay socket is being bound: the socket is closed once bound.
    h.driver.hold = true;
    let mut client = TurnClient::new(tcp("198.51.100.7:42012"), ALICE.0, ALICE.1);
    let id = client.transaction_id();
    client.learn(
        &h.send(client.tuple, &client.request(Method::ALLOCATE, id, &udp_transport)).remove(0),
    );
    let id = client.transaction_id();
    h.send(client.tuple, &client.request(Method::ALLOCATE, id, &udp_transport));
    h.server.client_closed(client.tuple);
    h.answer_held();
    assert!(h.take_client(client.tuple).is_empty());
    assert_eq!(h.server.allocation_count(), 0);
    assert!(h.driver.bound.is_empty(), "the late socket was closed again");
}

#[test]
fn send_with_dont_fragment_and_unknown_attributes() {
    let mut h = Harness::new();
    let mut client = allocated(&mut h, "198.51.100.7:42013");
    let peer = addr("1.2.3.4:5000");
    client.transact(&mut h, Method::CREATE_PERMISSION, &permit(&[peer]));
    let with_df = |w: &mut MessageWriter<'_>| {
        w.add(&XorPeerAddress(peer))?;
        w.add(&Data(b"df"))?;
        w.add(&DontFragment)
    };
    let indication = client.indication(Method::SEND, &with_df);
    h.send(client.tuple, &indication);
    assert_eq!(h.take_peer().len(), 1);
    // RFC 8489 §6.3.2: unknown comprehension-required attributes discard an indication.
    let unknown = |w: &mut MessageWriter<'_>| {
        w.add(&XorPeerAddress(peer))?;
        w.add(&Data(b"?"))?;
        w.add_raw(AttributeType(0x7001), &[])
    };
    let indication = client.indication(Method::SEND, &unknown);
    h.send(client.tuple, &indication);
    assert!(h.take_peer().is_empty());
    // No DATA: discarded.
    let no_data = |w: &mut MessageWriter<'_>| w.add(&XorPeerAddress(peer));
    let indication = client.indication(Method::SEND, &no_data);
    h.send(client.tuple, &indication);
    assert!(h.take_peer().is_empty());
}

#[test]
fn ipv6_client_over_tls() {
    let mut h = Harness::new();
    let tuple = turn::FiveTuple {
        transport: Transport::Tls,
        client: addr("[2001:db8:1::7]:50000"),
        server: listen6(),
    };
    let mut client = TurnClient::new(tuple, ALICE.0, ALICE.1);
    let relayed = client.allocate_ok(&mut h);
    assert!(relayed[0].is_ipv4(), "IPv4 relay by default, whatever the client's family");
    let peer = addr("1.2.3.4:5000");
    client.transact(&mut h, Method::CHANNEL_BIND, &bind(0x4000, peer));
    let relay = h.relay_socket(&tuple, true);
    h.peer_sends(relay, peer, b"x");
    let frames = h.take_client(tuple);
    assert_eq!(frames, vec![vec![0x40, 0, 0, 1, b'x', 0, 0, 0]]);
}
