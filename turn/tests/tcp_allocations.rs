//! TCP allocations (RFC 6062) on the machine with the fake driver and the virtual clock:
//! Allocate with REQUESTED-TRANSPORT TCP, Connect, ConnectionAttempt, ConnectionBind, the
//! refusals and the 30-second timers.

mod common;

use std::time::Duration;

use common::*;
use stun::attributes::{
    ChannelNumber, ConnectionId as ConnectionIdAttr, EvenPort, RequestedTransport,
    TransportProtocol, XorPeerAddress,
};
use stun::{Class, Message, MessageType, MessageWriter, Method};
use turn::{FiveTuple, Transport, TCP_CONNECTION_TIMEOUT};

fn tcp_transport(w: &mut MessageWriter<'_>) -> Result<(), stun::Error> {
    w.add(&RequestedTransport(TransportProtocol::TCP))
}

fn peer_attr(
    peer: std::net::SocketAddr,
) -> impl Fn(&mut MessageWriter<'_>) -> Result<(), stun::Error> {
    move |w| w.add(&XorPeerAddress(peer))
}

fn id_attr(id: u32) -> impl Fn(&mut MessageWriter<'_>) -> Result<(), stun::Error> {
    move |w| w.add(&ConnectionIdAttr(id))
}

fn connection_id(response: &[u8]) -> u32 {
    Message::parse(response).unwrap().get::<ConnectionIdAttr>().unwrap().expect("CONNECTION-ID").0
}

/// A TCP allocation over TCP from `client`, with a permission for `peer`'s IP.
fn tcp_allocation(h: &mut Harness, client: &str, peer: std::net::SocketAddr) -> TurnClient {
    let mut c = TurnClient::new(tcp(client), ALICE.0, ALICE.1);
    let response = c.transact(h, Method::ALLOCATE, &tcp_transport);
    assert_eq!(class(&response), Class::SuccessResponse, "{:?}", error_code(&response));
    let bind = *h.driver.binds.last().unwrap();
    assert!(bind.tcp, "a TCP allocation asks for a TCP listener");
    assert_eq!(relayed(&response), vec![addr(&format!("203.0.113.5:{}", bind.addr.port()))]);
    let response = c.transact(h, Method::CREATE_PERMISSION, &peer_attr(peer));
    assert_eq!(error_code(&response), None);
    c
}

/// Sends a request on `tuple` and returns the responses (the client learns the nonce).
fn request(
    h: &mut Harness,
    c: &mut TurnClient,
    method: Method,
    attrs: common::Attrs<'_>,
) -> Vec<Vec<u8>> {
    let id = c.transaction_id();
    let request = c.request(method, id, attrs);
    h.send(c.tuple, &request)
}

#[test]
fn tcp_allocations_need_a_stream_client() {
    let mut h = Harness::new();
    let mut over_udp = TurnClient::new(udp("198.51.100.7:41000"), ALICE.0, ALICE.1);
    let response = over_udp.transact(&mut h, Method::ALLOCATE, &tcp_transport);
    assert_eq!(error_code(&response), Some(442), "RFC 6062 §5.1: not over UDP");

    for tuple in [
        tcp("198.51.100.7:41001"),
        FiveTuple { transport: Transport::Tls, ..tcp("198.51.100.7:41002") },
    ] {
        let mut c = TurnClient::new(tuple, ALICE.0, ALICE.1);
        let response = c.transact(&mut h, Method::ALLOCATE, &tcp_transport);
        assert_eq!(class(&response), Class::SuccessResponse, "{:?}", tuple.transport);
    }
    assert!(h.driver.binds.iter().all(|b| b.tcp));
    assert_eq!(h.server.allocation_count(), 2);

    // EVEN-PORT does not go with TCP.
    let mut c = TurnClient::new(tcp("198.51.100.7:41003"), ALICE.0, ALICE.1);
    let even = |w: &mut MessageWriter<'_>| {
        tcp_transport(w)?;
        w.add(&EvenPort { reserve: false })
    };
    let response = c.transact(&mut h, Method::ALLOCATE, &even);
    assert_eq!(error_code(&response), Some(400));
}

#[test]
fn connect_then_connection_bind() {
    let mut h = Harness::new();
    let peer = addr("1.2.3.4:5000");
    let mut c = tcp_allocation(&mut h, "198.51.100.7:42000", peer);
    let relay = h.relay_socket(&c.tuple, true);

    // Without a permission for the peer: 403.
    let other = addr("1.2.3.5:5000");
    let response = c.transact(&mut h, Method::CONNECT, &peer_attr(other));
    assert_eq!(error_code(&response), Some(403));
    // Without XOR-PEER-ADDRESS: 400.
    let response = c.transact(&mut h, Method::CONNECT, &no_attrs);
    assert_eq!(error_code(&response), Some(400));

    // The Connect is answered when the driver has connected.
    let responses = request(&mut h, &mut c, Method::CONNECT, &peer_attr(peer));
    assert!(responses.is_empty(), "no answer before the connection is up");
    assert_eq!(h.driver.connects.len(), 1);
    let connect = h.driver.connects[0];
    assert_eq!((connect.relay, connect.peer), (relay, peer));
    // A second Connect to the same peer while the first is in progress: 446.
    let response = c.transact(&mut h, Method::CONNECT, &peer_attr(peer));
    assert_eq!(error_code(&response), Some(446));

    assert!(h.server.peer_connect_result(h.now, connect.id, true));
    h.pump();
    let responses = h.take_client(c.tuple);
    assert_eq!(responses.len(), 1);
    let msg = Message::parse(&responses[0]).unwrap();
    assert_eq!(msg.message_type(), MessageType::new(Method::CONNECT, Class::SuccessResponse));
    msg.verify_message_integrity(&c.key()).unwrap();
    assert_eq!(connection_id(&responses[0]), connect.id.0);

    // Still 446 once connected.
    let response = c.transact(&mut h, Method::CONNECT, &peer_attr(peer));
    assert_eq!(error_code(&response), Some(446));

    // ConnectionBind on a new connection: a wrong id is 400, the right one binds.
    let mut data = TurnClient::new(tcp("198.51.100.7:42001"), ALICE.0, ALICE.1);
    let response = data.transact(&mut h, Method::CONNECTION_BIND, &id_attr(connect.id.0 ^ 1));
    assert_eq!(error_code(&response), Some(400));
    let response = data.transact(&mut h, Method::CONNECTION_BIND, &no_attrs);
    assert_eq!(error_code(&response), Some(400), "CONNECTION-ID missing");
    let response = data.transact(&mut h, Method::CONNECTION_BIND, &id_attr(connect.id.0));
    assert_eq!(class(&response), Class::SuccessResponse, "{:?}", error_code(&response));
    assert_eq!(h.driver.bound_connections, vec![(data.tuple, connect.id)]);
    assert_eq!(h.server.stats().tcp_connections_bound, 1);

    // Bound once only; and not on the control connection.
    let mut again = TurnClient::new(tcp("198.51.100.7:42002"), ALICE.0, ALICE.1);
    let response = again.transact(&mut h, Method::CONNECTION_BIND, &id_attr(connect.id.0));
    assert_eq!(error_code(&response), Some(400));

    // A bound connection outlives 30 s.
    h.advance(TCP_CONNECTION_TIMEOUT + Duration::from_secs(1));
    assert!(h.driver.closed_connections.is_empty());
    assert_eq!(h.server.tcp_connection_count(), 1);

    // Closing the control connection deletes the allocation and closes its connections.
    h.server.client_closed(c.tuple);
    h.pump();
    assert_eq!(h.driver.closed_connections, vec![connect.id]);
    assert_eq!(h.server.tcp_connection_count(), 0);
}

#[test]
fn connection_bind_needs_a_stream_and_the_same_user() {
    let mut h = Harness::new();
    let peer = addr("1.2.3.4:5000");
    let mut c = tcp_allocation(&mut h, "198.51.100.7:43000", peer);
    request(&mut h, &mut c, Method::CONNECT, &peer_attr(peer));
    let id = h.driver.connects[0].id;
    h.server.peer_connect_result(h.now, id, true);
    h.pump();
    h.take_client(c.tuple);

    let mut over_udp = TurnClient::new(udp("198.51.100.7:43001"), ALICE.0, ALICE.1);
    let response = over_udp.transact(&mut h, Method::CONNECTION_BIND, &id_attr(id.0));
    assert_eq!(error_code(&response), Some(400), "ConnectionBind over UDP");
    let response = c.transact(&mut h, Method::CONNECTION_BIND, &id_attr(id.0));
    assert_eq!(error_code(&response), Some(400), "ConnectionBind on the control connection");
    let mut bob = TurnClient::new(tcp("198.51.100.7:43002"), BOB.0, BOB.1);
    let response = bob.transact(&mut h, Method::CONNECTION_BIND, &id_attr(id.0));
    assert_eq!(error_code(&response), Some(441), "another user's connection");
    assert!(h.driver.bound_connections.is_empty());
}

#[test]
fn connect_failure_is_447_and_timeout_is_447_after_30_seconds() {
    let mut h = Harness::new();
    let peer = addr("1.2.3.4:5000");
    let mut c = tcp_allocation(&mut h, "198.51.100.7:44000", peer);
    request(&mut h, &mut c, Method::CONNECT, &peer_attr(peer));
    let failed = h.driver.connects[0].id;
    assert!(!h.server.peer_connect_result(h.now, failed, false));
    h.pump();
    let responses = h.take_client(c.tuple);
    assert_eq!(responses.len(), 1);
    assert_eq!(error_code(&responses[0]), Some(447));
    assert_eq!(h.server.stats().tcp_connect_failures, 1);

    // The driver never answers: 447 at 30 s, not before.
    request(&mut h, &mut c, Method::CONNECT, &peer_attr(peer));
    let slow = h.driver.connects[1].id;
    h.advance(TCP_CONNECTION_TIMEOUT - Duration::from_millis(1));
    assert!(h.take_client(c.tuple).is_empty());
    h.advance(Duration::from_millis(1));
    let responses = h.take_client(c.tuple);
    assert_eq!(responses.len(), 1);
    assert_eq!(error_code(&responses[0]), Some(447));
    assert_eq!(h.driver.closed_connections, vec![slow]);
    // A late success is refused: the driver closes that connection.
    assert!(!h.server.peer_connect_result(h.now, slow, true));
    assert_eq!(h.server.tcp_connection_count(), 0);
}

#[test]
fn unbound_connection_closed_after_30_seconds() {
    let mut h = Harness::new();
    let peer = addr("1.2.3.4:5000");
    let mut c = tcp_allocation(&mut h, "198.51.100.7:45000", peer);
    request(&mut h, &mut c, Method::CONNECT, &peer_attr(peer));
    let id = h.driver.connects[0].id;
    h.advance(Duration::from_secs(10));
    h.server.peer_connect_result(h.now, id, true);
    h.pump();
    h.take_client(c.tuple);
    // 30 s from when it was established.
    h.advance(TCP_CONNECTION_TIMEOUT - Duration::from_secs(1));
    assert!(h.driver.closed_connections.is_empty());
    h.advance(Duration::from_secs(1));
    assert_eq!(h.driver.closed_connections, vec![id]);
    assert_eq!(h.server.stats().tcp_connections_timed_out, 1);
    let mut data = TurnClient::new(tcp("198.51.100.7:45001"), ALICE.0, ALICE.1);
    let response = data.transact(&mut h, Method::CONNECTION_BIND, &id_attr(id.0));
    assert_eq!(error_code(&response), Some(400), "too late");
}

#[test]
fn incoming_peer_connection_and_connection_attempt() {
    let mut h = Harness::new();
    let peer = addr("1.2.3.4:6000");
    let c = tcp_allocation(&mut h, "198.51.100.7:46000", peer);
    let relay = h.relay_socket(&c.tuple, true);

    // Not permitted: refused (the driver closes it), nothing to the client.
    assert_eq!(h.server.peer_connection_incoming(h.now, relay, addr("1.2.3.9:6000")), None);
    h.pump();
    assert!(h.take_client(c.tuple).is_empty());
    assert_eq!(h.server.stats().tcp_connections_refused, 1);
    // Not a relay address at all.
    assert_eq!(h.server.peer_connection_incoming(h.now, addr("10.0.0.5:1"), peer), None);

    let id = h.server.peer_connection_incoming(h.now, relay, peer).expect("permitted");
    h.pump();
    let sent = h.take_client(c.tuple);
    assert_eq!(sent.len(), 1);
    let msg = Message::parse(&sent[0]).unwrap();
    assert_eq!(msg.message_type(), MessageType::new(Method::CONNECTION_ATTEMPT, Class::Indication));
    assert_eq!(msg.get::<XorPeerAddress>().unwrap().unwrap().0, peer);
    assert_eq!(connection_id(&sent[0]), id.0);

    let mut data = TurnClient::new(tcp("198.51.100.7:46001"), ALICE.0, ALICE.1);
    let response = data.transact(&mut h, Method::CONNECTION_BIND, &id_attr(id.0));
    assert_eq!(class(&response), Class::SuccessResponse);
    assert_eq!(h.driver.bound_connections, vec![(data.tuple, id)]);

    // A second one from the same peer, never bound: closed after 30 s.
    let second = h.server.peer_connection_incoming(h.now, relay, addr("1.2.3.4:6001")).unwrap();
    h.advance(TCP_CONNECTION_TIMEOUT);
    assert_eq!(h.driver.closed_connections, vec![second]);
    // The data connection closing forgets the bound one.
    h.server.client_closed(data.tuple);
    h.pump();
    assert_eq!(h.driver.closed_connections, vec![second, id]);
    assert_eq!(h.server.tcp_connection_count(), 0);
}

#[test]
fn relay_policy_applies_to_connect() {
    let mut h = Harness::new();
    let mut c = tcp_allocation(&mut h, "198.51.100.7:47000", addr("1.2.3.4:1"));
    for refused in ["10.1.2.3:80", "127.0.0.1:80", "203.0.113.5:3478"] {
        let response = c.transact(&mut h, Method::CONNECT, &peer_attr(addr(refused)));
        assert_eq!(error_code(&response), Some(403), "{refused}");
    }
    assert!(h.driver.connects.is_empty());
}

#[test]
fn udp_only_and_tcp_only_requests() {
    let mut h = Harness::new();
    let peer = addr("1.2.3.4:5000");
    let mut c = tcp_allocation(&mut h, "198.51.100.7:48000", peer);
    let bind = |w: &mut MessageWriter<'_>| {
        w.add(&ChannelNumber(0x4000))?;
        w.add(&XorPeerAddress(peer))
    };
    let response = c.transact(&mut h, Method::CHANNEL_BIND, &bind);
    assert_eq!(error_code(&response), Some(400), "no channels on a TCP allocation");

    let mut u = TurnClient::new(udp("198.51.100.7:48001"), ALICE.0, ALICE.1);
    u.allocate_ok(&mut h);
    let response = u.transact(&mut h, Method::CREATE_PERMISSION, &peer_attr(peer));
    assert_eq!(error_code(&response), None);
    let response = u.transact(&mut h, Method::CONNECT, &peer_attr(peer));
    assert_eq!(error_code(&response), Some(400), "Connect on a UDP allocation");
    let mut none = TurnClient::new(tcp("198.51.100.7:48002"), ALICE.0, ALICE.1);
    let response = none.transact(&mut h, Method::CONNECT, &peer_attr(peer));
    assert_eq!(error_code(&response), Some(437), "Connect without an allocation");
}

#[test]
fn bandwidth_limit_delays_tcp_data() {
    let mut config = config();
    config.bandwidth =
        Some(turn::BandwidthLimit { bytes_per_second: 100_000, burst_bytes: 65_535 });
    let mut h = Harness::with_config(config);
    let peer = addr("1.2.3.4:5000");
    let mut c = tcp_allocation(&mut h, "198.51.100.7:49000", peer);
    request(&mut h, &mut c, Method::CONNECT, &peer_attr(peer));
    let id = h.driver.connects[0].id;
    h.server.peer_connect_result(h.now, id, true);
    h.pump();
    let mut data = TurnClient::new(tcp("198.51.100.7:49001"), ALICE.0, ALICE.1);
    let response = data.transact(&mut h, Method::CONNECTION_BIND, &id_attr(id.0));
    assert_eq!(class(&response), Class::SuccessResponse);

    // The burst passes at once, both directions from one bucket; then 1000 bytes wait 10 ms.
    assert_eq!(h.server.admit_tcp_data(h.now, id, 40_000, true), Ok(()));
    assert_eq!(h.server.admit_tcp_data(h.now, id, 25_535, false), Ok(()));
    assert_eq!(h.server.admit_tcp_data(h.now, id, 1_000, true), Err(Duration::from_millis(10)));
    h.advance(Duration::from_millis(10));
    assert_eq!(h.server.admit_tcp_data(h.now, id, 1_000, true), Ok(()));
    let stats = h.server.stats();
    assert_eq!((stats.client_to_peer_bytes, stats.peer_to_client_bytes), (41_000, 25_535));
}
