//! Allocate (RFC 8656 §7.2) and authentication (RFC 8489 §9.2): the 401 round trip with
//! static users and TURN REST credentials, stale nonces, retransmissions, address families,
//! EVEN-PORT and RESERVATION-TOKEN, quotas, and the error codes of each check.

mod common;

use std::time::Duration;

use common::*;
use stun::attributes::{
    AdditionalAddressFamily, AddressErrorCode, AddressFamily, DontFragment, EvenPort, Lifetime,
    Nonce, Realm, RequestedAddressFamily, RequestedTransport, ReservationToken, TransportProtocol,
    XorMappedAddress,
};
use stun::{AttributeType, Class, Message, MessageWriter, Method};
use turn::{rest_credential, ServerConfig, TurnServer};

#[test]
fn static_user_gets_401_then_an_allocation() {
    let mut h = Harness::new();
    let tuple = udp("198.51.100.7:40000");
    let mut client = TurnClient::new(tuple, ALICE.0, ALICE.1);

    // The first Allocate carries no credentials: 401 with REALM and NONCE, unprotected.
    let id = client.transaction_id();
    let request = client.request(Method::ALLOCATE, id, &udp_transport);
    let response = h.send(tuple, &request).remove(0);
    let msg = Message::parse(&response).unwrap();
    assert_eq!(msg.class(), Class::ErrorResponse);
    assert_eq!(error_code(&response), Some(401));
    assert_eq!(msg.get::<Realm<'_>>().unwrap(), Some(Realm(REALM)));
    assert!(msg.get::<Nonce<'_>>().unwrap().is_some());
    assert!(!msg.has_message_integrity());
    assert_eq!(h.server.stats().challenges, 1);
    assert_eq!(h.server.allocation_count(), 0);

    // The retry is authenticated; the relay socket is bound on the local relay IP, and the
    // response names the public one.
    client.learn(&response);
    let response = client.allocate(&mut h, &no_attrs);
    let msg = Message::parse(&response).unwrap();
    assert_eq!(msg.class(), Class::SuccessResponse);
    assert_eq!(h.driver.binds.len(), 1);
    let bind = h.driver.binds[0];
    assert_eq!(bind.addr.ip().to_string(), "10.0.0.5");
    assert!((49_152..=65_535).contains(&bind.addr.port()));
    assert!(!bind.dont_fragment);
    assert_eq!(relayed(&response), vec![addr(&format!("203.0.113.5:{}", bind.addr.port()))]);
    assert_eq!(msg.get::<XorMappedAddress>().unwrap().unwrap().0, tuple.client);
    assert_eq!(msg.get::<Lifetime>().unwrap(), Some(Lifetime(600)));
    assert_eq!(h.server.allocation_count(), 1);
    let info = h.server.allocation(&tuple).unwrap();
    assert_eq!(info.username, "alice");
    assert_eq!(info.relay_sockets, vec![bind.addr]);
    assert_eq!(info.expires, h.now + Duration::from_secs(600));
    assert_eq!(h.server.stats().allocations_created, 1);
}

#[test]
fn rest_credentials_allocate() {
    let mut h = Harness::new();
    let (username, password) = rest_credential(REST_SECRET, "carol", UNIX_T0 + 3_600);
    let mut client = TurnClient::new(udp("198.51.100.7:40001"), &username, &password);
    let relayed = client.allocate_ok(&mut h);
    assert_eq!(relayed.len(), 1);
    assert_eq!(h.server.allocation(&client.tuple).unwrap().username, username);
}

#[test]
fn expired_rest_credential_is_refused() {
    let mut h = Harness::new();
    // Already expired.
    let (username, password) = rest_credential(REST_SECRET, "carol", UNIX_T0 - 1);
    let mut client = TurnClient::new(udp("198.51.100.7:40002"), &username, &password);
    let response = client.allocate(&mut h, &no_attrs);
    assert_eq!(error_code(&response), Some(401));
    assert_eq!(h.server.stats().expired_credentials, 1);
    assert_eq!(h.server.allocation_count(), 0);

    // Valid for 100 s: works now, refused once the wall clock has passed the expiry.
    let (username, password) = rest_credential(REST_SECRET, "dave", UNIX_T0 + 100);
    let mut client = TurnClient::new(udp("198.51.100.7:40003"), &username, &password);
    client.allocate_ok(&mut h);
    h.advance(Duration::from_secs(101));
    let refresh = client.transact(&mut h, Method::REFRESH, &no_attrs);
    assert_eq!(error_code(&refresh), Some(401));
    assert_eq!(h.server.stats().expired_credentials, 2);
}

#[test]
fn wrong_password_or_secret_gets_401() {
    let mut h = Harness::new();
    let mut client = TurnClient::new(udp("198.51.100.7:40004"), ALICE.0, "not-her-password");
    let response = client.allocate(&mut h, &no_attrs);
    assert_eq!(error_code(&response), Some(401));
    let msg = Message::parse(&response).unwrap();
    assert!(msg.get::<Realm<'_>>().unwrap().is_some() && msg.get::<Nonce<'_>>().unwrap().is_some());
    assert!(!msg.has_message_integrity());

    let (username, password) = rest_credential("another-secret", "carol", UNIX_T0 + 3_600);
    let mut client = TurnClient::new(udp("198.51.100.7:40005"), &username, &password);
    assert_eq!(error_code(&client.allocate(&mut h, &no_attrs)), Some(401));

    let mut client = TurnClient::new(udp("198.51.100.7:40006"), "mallory", "x");
    assert_eq!(error_code(&client.allocate(&mut h, &no_attrs)), Some(401));
    assert_eq!(h.server.stats().auth_failures, 3);
    assert_eq!(h.server.allocation_count(), 0);
}

#[test]
fn stale_nonce_gets_438_then_the_retry_succeeds() {
    let mut h = Harness::new();
    let tuple = udp("198.51.100.7:40007");
    let mut client = TurnClient::new(tuple, ALICE.0, ALICE.1);
    // Learn a nonce, then let it expire (10 minutes).
    let id = client.transaction_id();
    let challenge = h.send(tuple, &client.request(Method::ALLOCATE, id, &udp_transport)).remove(0);
    client.learn(&challenge);
    let old_nonce = client.nonce.clone().unwrap();
    h.advance(Duration::from_secs(601));

    let id = client.transaction_id();
    let response = h.send(tuple, &client.request(Method::ALLOCATE, id, &udp_transport)).remove(0);
    assert_eq!(error_code(&response), Some(438));
    let msg = Message::parse(&response).unwrap();
    // 438 carries a fresh NONCE and the REALM, protected with the (verified) key.
    let fresh = msg.get::<Nonce<'_>>().unwrap().unwrap().0;
    assert_ne!(fresh, old_nonce);
    assert_eq!(msg.get::<Realm<'_>>().unwrap(), Some(Realm(REALM)));
    msg.verify_message_integrity(&client.key()).unwrap();
    assert_eq!(h.server.stats().stale_nonces, 1);

    client.learn(&response);
    let id = client.transaction_id();
    let response = h.send(tuple, &client.request(Method::ALLOCATE, id, &udp_transport)).remove(0);
    assert_eq!(class(&response), Class::SuccessResponse);

    // A nonce is bound to the client's address: from another port it is stale.
    let mut moved = client.clone();
    moved.tuple = udp("198.51.100.7:40008");
    let id = moved.transaction_id();
    let response =
        h.send(moved.tuple, &moved.request(Method::ALLOCATE, id, &udp_transport)).remove(0);
    assert_eq!(error_code(&response), Some(438));
}

#[test]
fn retransmitted_allocate_gets_the_identical_response() {
    let mut h = Harness::new();
    let tuple = udp("198.51.100.7:40010");
    let mut client = TurnClient::new(tuple, BOB.0, BOB.1);
    let id = client.transaction_id();
    client.learn(&h.send(tuple, &client.request(Method::ALLOCATE, id, &udp_transport)).remove(0));

    let id = client.transaction_id();
    let request = client.request(Method::ALLOCATE, id, &udp_transport);
    let first = h.send(tuple, &request);
    let binds = h.driver.binds.len();
    // Much later (within 40 s), the same request: the same bytes, no new relay socket.
    h.advance(Duration::from_secs(30));
    let second = h.send(tuple, &request);
    assert_eq!(first.len(), 1);
    assert_eq!(first, second);
    assert_eq!(h.driver.binds.len(), binds);
    assert_eq!(h.server.allocation_count(), 1);
    assert_eq!(h.server.stats().retransmissions, 1);

    // After the cache time, a retransmission is a new Allocate on a used 5-tuple: 437.
    h.advance(Duration::from_secs(11));
    let third = h.send(tuple, &request).remove(0);
    assert_eq!(error_code(&third), Some(437));
}

#[test]
fn retransmission_while_the_relay_socket_is_being_bound() {
    let mut h = Harness::new();
    h.driver.hold = true;
    let tuple = udp("198.51.100.7:40011");
    let mut client = TurnClient::new(tuple, ALICE.0, ALICE.1);
    let id = client.transaction_id();
    client.learn(&h.send(tuple, &client.request(Method::ALLOCATE, id, &udp_transport)).remove(0));
    let id = client.transaction_id();
    let request = client.request(Method::ALLOCATE, id, &udp_transport);
    assert!(h.send(tuple, &request).is_empty());
    assert!(h.send(tuple, &request).is_empty(), "retransmission waits too");
    assert_eq!(h.driver.held.len(), 1);
    // Another Allocate on the same 5-tuple meanwhile: 437.
    let other = client.transaction_id();
    let response = h.send(tuple, &client.request(Method::ALLOCATE, other, &udp_transport));
    assert_eq!(error_code(&response[0]), Some(437));
    h.answer_held();
    let responses = h.take_client(tuple);
    assert_eq!(responses.len(), 1);
    assert_eq!(class(&responses[0]), Class::SuccessResponse);
    assert_eq!(h.send(tuple, &request), responses);
}

#[test]
fn second_allocate_on_a_five_tuple_is_437() {
    let mut h = Harness::new();
    let mut client = TurnClient::new(udp("198.51.100.7:40012"), ALICE.0, ALICE.1);
    client.allocate_ok(&mut h);
    let response = client.allocate(&mut h, &no_attrs);
    assert_eq!(error_code(&response), Some(437));
    assert_eq!(h.server.stats().allocation_mismatches, 1);
    // The same client over TCP is another 5-tuple, so another allocation.
    let mut over_tcp = client.clone();
    over_tcp.tuple = tcp("198.51.100.7:40012");
    over_tcp.nonce = None;
    over_tcp.allocate_ok(&mut h);
    assert_eq!(h.server.allocation_count(), 2);
}

#[test]
fn requested_transport_must_be_udp() {
    let mut h = Harness::new();
    let mut client = TurnClient::new(udp("198.51.100.7:40013"), ALICE.0, ALICE.1);
    let tcp_transport =
        |w: &mut MessageWriter<'_>| w.add(&RequestedTransport(TransportProtocol::TCP));
    let response = client.transact(&mut h, Method::ALLOCATE, &tcp_transport);
    assert_eq!(error_code(&response), Some(442));
    let response = client.transact(&mut h, Method::ALLOCATE, &no_attrs);
    assert_eq!(error_code(&response), Some(400), "REQUESTED-TRANSPORT missing");
    let odd = |w: &mut MessageWriter<'_>| w.add_raw(AttributeType::REQUESTED_TRANSPORT, &[17]);
    let response = client.transact(&mut h, Method::ALLOCATE, &odd);
    assert_eq!(error_code(&response), Some(400), "REQUESTED-TRANSPORT malformed");
    assert_eq!(h.server.stats().unsupported_transport, 1);
    assert_eq!(h.server.allocation_count(), 0);
}

#[test]
fn unknown_comprehension_required_attribute_is_420() {
    let mut h = Harness::new();
    let mut client = TurnClient::new(udp("198.51.100.7:40014"), ALICE.0, ALICE.1);
    let unknown = |w: &mut MessageWriter<'_>| {
        w.add_raw(AttributeType(0x7777), b"??")?;
        // Comprehension-optional unknowns are ignored.
        w.add_raw(AttributeType(0xC0DE), b"fine")
    };
    let response = client.allocate(&mut h, &unknown);
    assert_eq!(error_code(&response), Some(420));
    assert_eq!(unknown_attributes(&response), vec![AttributeType(0x7777)]);
    assert_eq!(h.server.allocation_count(), 0);
    assert_eq!(h.server.stats().unknown_attributes, 1);
}

#[test]
fn dont_fragment_is_honoured_or_reported_unknown() {
    let mut h = Harness::new();
    let mut client = TurnClient::new(udp("198.51.100.7:40015"), ALICE.0, ALICE.1);
    let df = |w: &mut MessageWriter<'_>| w.add(&DontFragment);
    let response = client.allocate(&mut h, &df);
    assert_eq!(class(&response), Class::SuccessResponse);
    assert!(h.driver.binds[0].dont_fragment);

    let mut config = config();
    config.dont_fragment = false;
    let mut h = Harness::with_config(config);
    let mut client = TurnClient::new(udp("198.51.100.7:40015"), ALICE.0, ALICE.1);
    let response = client.allocate(&mut h, &df);
    assert_eq!(error_code(&response), Some(420));
    assert_eq!(unknown_attributes(&response), vec![AttributeType::DONT_FRAGMENT]);
}

#[test]
fn ipv6_allocation() {
    let mut h = Harness::new();
    let mut client = TurnClient::new(udp("198.51.100.7:40016"), ALICE.0, ALICE.1);
    let v6 = |w: &mut MessageWriter<'_>| w.add(&RequestedAddressFamily(AddressFamily::IPV6));
    let response = client.allocate(&mut h, &v6);
    assert_eq!(class(&response), Class::SuccessResponse);
    let relayed = relayed(&response);
    assert_eq!(relayed.len(), 1);
    assert!(relayed[0].is_ipv6());
    assert_eq!(relayed[0].ip().to_string(), "2001:db8::5");
    // An explicit IPv4 request is the default.
    let mut client = TurnClient::new(udp("198.51.100.7:40017"), ALICE.0, ALICE.1);
    let v4 = |w: &mut MessageWriter<'_>| w.add(&RequestedAddressFamily(AddressFamily::IPV4));
    assert!(relayed_of(client.allocate(&mut h, &v4))[0].is_ipv4());
}

fn relayed_of(response: Vec<u8>) -> Vec<std::net::SocketAddr> {
    relayed(&response)
}

#[test]
fn dual_stack_allocation() {
    let mut h = Harness::new();
    let mut client = TurnClient::new(udp("198.51.100.7:40018"), ALICE.0, ALICE.1);
    let dual = |w: &mut MessageWriter<'_>| w.add(&AdditionalAddressFamily(AddressFamily::IPV6));
    let response = client.allocate(&mut h, &dual);
    assert_eq!(class(&response), Class::SuccessResponse);
    let relayed = relayed(&response);
    assert_eq!(relayed.len(), 2);
    assert!(relayed[0].is_ipv4() && relayed[1].is_ipv6());
    assert!(Message::parse(&response).unwrap().get::<AddressErrorCode<'_>>().unwrap().is_none());
    assert_eq!(h.driver.bound.len(), 2);
    assert_eq!(h.server.allocation(&client.tuple).unwrap().relay_sockets.len(), 2);
}

#[test]
fn unavailable_family_is_440() {
    let mut config = config();
    config.relay_ipv6 = None;
    let mut h = Harness::with_config(config);
    let mut client = TurnClient::new(udp("198.51.100.7:40019"), ALICE.0, ALICE.1);
    let v6 = |w: &mut MessageWriter<'_>| w.add(&RequestedAddressFamily(AddressFamily::IPV6));
    assert_eq!(error_code(&client.allocate(&mut h, &v6)), Some(440));
    let unknown_family =
        |w: &mut MessageWriter<'_>| w.add(&RequestedAddressFamily(AddressFamily(9)));
    assert_eq!(error_code(&client.allocate(&mut h, &unknown_family)), Some(440));

    // Dual-stack asked, only IPv4 served: success with ADDRESS-ERROR-CODE 440 for IPv6.
    let dual = |w: &mut MessageWriter<'_>| w.add(&AdditionalAddressFamily(AddressFamily::IPV6));
    let response = client.allocate(&mut h, &dual);
    assert_eq!(class(&response), Class::SuccessResponse);
    assert_eq!(relayed(&response).len(), 1);
    let msg = Message::parse(&response).unwrap();
    let error = msg.get::<AddressErrorCode<'_>>().unwrap().unwrap();
    assert_eq!((error.family, error.code), (AddressFamily::IPV6, 440));

    // An IPv6-only server refuses the default (IPv4) request.
    let mut config = common::config();
    config.relay_ipv4 = None;
    let mut h = Harness::with_config(config);
    let mut client = TurnClient::new(udp("198.51.100.7:40020"), ALICE.0, ALICE.1);
    assert_eq!(error_code(&client.allocate(&mut h, &no_attrs)), Some(440));
    assert!(h.server.stats().address_family_errors >= 1);
}

#[test]
fn dual_stack_with_ipv6_bind_failure_is_a_partial_success() {
    let mut h = Harness::new();
    h.driver.ipv6_unavailable = true;
    let mut client = TurnClient::new(udp("198.51.100.7:40021"), ALICE.0, ALICE.1);
    let dual = |w: &mut MessageWriter<'_>| w.add(&AdditionalAddressFamily(AddressFamily::IPV6));
    let response = client.allocate(&mut h, &dual);
    assert_eq!(class(&response), Class::SuccessResponse);
    assert_eq!(relayed(&response).len(), 1);
    let msg = Message::parse(&response).unwrap();
    let error = msg.get::<AddressErrorCode<'_>>().unwrap().unwrap();
    assert_eq!((error.family, error.code), (AddressFamily::IPV6, 508));
    // An IPv6-only request fails entirely.
    let mut client = TurnClient::new(udp("198.51.100.7:40022"), ALICE.0, ALICE.1);
    let v6 = |w: &mut MessageWriter<'_>| w.add(&RequestedAddressFamily(AddressFamily::IPV6));
    assert_eq!(error_code(&client.allocate(&mut h, &v6)), Some(508));
    assert_eq!(h.server.allocation_count(), 1);
}

#[test]
fn address_family_attribute_combinations_are_400() {
    let mut h = Harness::new();
    let mut client = TurnClient::new(udp("198.51.100.7:40023"), ALICE.0, ALICE.1);
    let both = |w: &mut MessageWriter<'_>| {
        w.add(&RequestedAddressFamily(AddressFamily::IPV4))?;
        w.add(&AdditionalAddressFamily(AddressFamily::IPV6))
    };
    assert_eq!(error_code(&client.allocate(&mut h, &both)), Some(400));
    let additional_v4 =
        |w: &mut MessageWriter<'_>| w.add(&AdditionalAddressFamily(AddressFamily::IPV4));
    assert_eq!(error_code(&client.allocate(&mut h, &additional_v4)), Some(400));
    let token_and_even = |w: &mut MessageWriter<'_>| {
        w.add(&ReservationToken([1; 8]))?;
        w.add(&EvenPort { reserve: false })
    };
    assert_eq!(error_code(&client.allocate(&mut h, &token_and_even)), Some(400));
    let token_and_family = |w: &mut MessageWriter<'_>| {
        w.add(&ReservationToken([1; 8]))?;
        w.add(&RequestedAddressFamily(AddressFamily::IPV4))
    };
    assert_eq!(error_code(&client.allocate(&mut h, &token_and_family)), Some(400));
    let bad_lifetime = |w: &mut MessageWriter<'_>| w.add_raw(AttributeType::LIFETIME, &[0, 1]);
    assert_eq!(error_code(&client.allocate(&mut h, &bad_lifetime)), Some(400));
    assert_eq!(h.server.allocation_count(), 0);
    assert_eq!(h.server.stats().bad_requests, 5);
}

#[test]
fn even_port_with_reservation_token() {
    let mut h = Harness::new();
    let mut first = TurnClient::new(udp("198.51.100.7:40024"), ALICE.0, ALICE.1);
    let reserve = |w: &mut MessageWriter<'_>| w.add(&EvenPort { reserve: true });
    let response = first.allocate(&mut h, &reserve);
    assert_eq!(class(&response), Class::SuccessResponse);
    let port = relayed(&response)[0].port();
    assert_eq!(port % 2, 0, "EVEN-PORT gives an even port");
    let msg = Message::parse(&response).unwrap();
    let ReservationToken(token) = msg.get::<ReservationToken>().unwrap().expect("token");
    // The driver was asked to bind the relay port and the next one.
    let bound: Vec<u16> = h.driver.binds.iter().map(|b| b.addr.port()).collect();
    assert_eq!(bound, vec![port, port + 1]);

    // Another allocation claims the reserved port with the token.
    let mut second = TurnClient::new(udp("198.51.100.7:40025"), BOB.0, BOB.1);
    let with_token = |w: &mut MessageWriter<'_>| w.add(&ReservationToken(token));
    let response = second.allocate(&mut h, &with_token);
    assert_eq!(class(&response), Class::SuccessResponse);
    assert_eq!(relayed(&response)[0].port(), port + 1);
    assert_eq!(h.driver.binds.len(), 2, "the reserved socket is reused, not bound again");
    // A token works once.
    let mut third = TurnClient::new(udp("198.51.100.7:40026"), BOB.0, BOB.1);
    assert_eq!(error_code(&third.allocate(&mut h, &with_token)), Some(508));
    // An unknown token is 508 as well.
    let unknown = |w: &mut MessageWriter<'_>| w.add(&ReservationToken([9; 8]));
    assert_eq!(error_code(&third.allocate(&mut h, &unknown)), Some(508));
}

#[test]
fn reservation_expires_after_30_seconds() {
    let mut h = Harness::new();
    let mut first = TurnClient::new(udp("198.51.100.7:40027"), ALICE.0, ALICE.1);
    let reserve = |w: &mut MessageWriter<'_>| w.add(&EvenPort { reserve: true });
    let response = first.allocate(&mut h, &reserve);
    let port = relayed(&response)[0].port();
    let msg = Message::parse(&response).unwrap();
    let ReservationToken(token) = msg.get::<ReservationToken>().unwrap().unwrap();
    let reserved = addr(&format!("10.0.0.5:{}", port + 1));
    h.advance(Duration::from_secs(29));
    assert!(h.driver.bound.contains(&reserved));
    h.advance(Duration::from_secs(1));
    assert!(!h.driver.bound.contains(&reserved), "the reserved socket is closed");
    assert_eq!(h.driver.closed, vec![reserved]);
    let mut second = TurnClient::new(udp("198.51.100.7:40028"), BOB.0, BOB.1);
    let with_token = |w: &mut MessageWriter<'_>| w.add(&ReservationToken(token));
    assert_eq!(error_code(&second.allocate(&mut h, &with_token)), Some(508));
}

#[test]
fn even_port_without_reservation() {
    let mut h = Harness::new();
    for n in 0..10 {
        let mut client = TurnClient::new(client_n(100 + n), ALICE.0, ALICE.1);
        let even = |w: &mut MessageWriter<'_>| w.add(&EvenPort { reserve: false });
        let response = client.allocate(&mut h, &even);
        assert_eq!(relayed(&response)[0].port() % 2, 0);
        assert!(Message::parse(&response).unwrap().get::<ReservationToken>().unwrap().is_none());
    }
}

#[test]
fn relay_ports_are_random_within_the_range() {
    let mut config = config();
    config.min_port = 50_000;
    config.max_port = 50_099;
    let mut h = Harness::with_config(config);
    let mut ports = Vec::new();
    for n in 0..30 {
        let relayed = TurnClient::new(client_n(n), ALICE.0, ALICE.1).allocate_ok(&mut h);
        ports.push(relayed[0].port());
    }
    assert!(ports.iter().all(|p| (50_000..=50_099).contains(p)));
    let distinct: std::collections::HashSet<_> = ports.iter().collect();
    assert_eq!(distinct.len(), ports.len(), "a port is never handed out twice");
    let sequential = ports.windows(2).filter(|w| w[1] == w[0] + 1).count();
    assert!(sequential < 5, "ports look sequential: {ports:?}");
}

#[test]
fn exhausted_port_range_is_508() {
    let mut config = config();
    config.min_port = 50_000;
    config.max_port = 50_003;
    let mut h = Harness::with_config(config);
    for n in 0..4 {
        let (user, password) = if n % 2 == 0 { ALICE } else { BOB };
        TurnClient::new(client_n(n), user, password).allocate_ok(&mut h);
    }
    let mut client = TurnClient::new(client_n(9), ALICE.0, ALICE.1);
    assert_eq!(error_code(&client.allocate(&mut h, &no_attrs)), Some(508));
}

#[test]
fn bind_failures_retry_other_ports_then_give_up() {
    let mut h = Harness::new();
    h.driver.fail_in_use = 3;
    let mut client = TurnClient::new(udp("198.51.100.7:40029"), ALICE.0, ALICE.1);
    client.allocate_ok(&mut h);
    assert_eq!(h.driver.binds.len(), 4);
    let ports: std::collections::HashSet<_> = h.driver.binds.iter().map(|b| b.addr).collect();
    assert_eq!(ports.len(), 4, "each retry uses another port");

    h.driver.fail_in_use = 100;
    let mut client = TurnClient::new(udp("198.51.100.7:40030"), ALICE.0, ALICE.1);
    assert_eq!(error_code(&client.allocate(&mut h, &no_attrs)), Some(508));
    assert_eq!(h.driver.binds.len(), 4 + 8, "eight attempts");
    assert_eq!(h.server.allocation_count(), 1);
}

#[test]
fn reserve_pair_failure_rebinds_a_new_pair() {
    let mut h = Harness::new();
    // The relay port binds, then its neighbour is in use: the pair is given up and a new
    // pair found.
    let mut client = TurnClient::new(udp("198.51.100.7:40031"), ALICE.0, ALICE.1);
    let id = client.transaction_id();
    client.learn(
        &h.send(client.tuple, &client.request(Method::ALLOCATE, id, &udp_transport)).remove(0),
    );
    h.driver.hold = true;
    let reserve = |w: &mut MessageWriter<'_>| {
        udp_transport(w)?;
        w.add(&EvenPort { reserve: true })
    };
    let id = client.transaction_id();
    assert!(h.send(client.tuple, &client.request(Method::ALLOCATE, id, &reserve)).is_empty());
    let first = h.driver.held.pop_front().unwrap();
    h.server.relay_bound(h.now, first.request, Ok(())).unwrap();
    h.driver.bound.insert(first.addr);
    h.pump();
    let neighbour = h.driver.held.pop_front().unwrap();
    assert_eq!(neighbour.addr.port(), first.addr.port() + 1);
    h.server
        .relay_bound(h.now, neighbour.request, Err(turn::RelayBindError::AddressInUse))
        .unwrap();
    h.pump();
    assert_eq!(h.driver.closed, vec![first.addr], "the half-bound pair is closed");
    h.answer_held();
    let response = h.take_client(client.tuple).remove(0);
    assert_eq!(class(&response), Class::SuccessResponse);
    let port = relayed(&response)[0].port();
    assert_ne!(port, first.addr.port());
    assert_eq!(port % 2, 0);
    // A request id answered twice is a driver bug.
    assert_eq!(
        h.server.relay_bound(h.now, first.request, Ok(())),
        Err(turn::Error::UnknownRelayRequest)
    );
}

#[test]
fn per_user_quota_is_486_and_server_limit_is_508() {
    let mut config = config();
    config.max_allocations_per_user = 2;
    config.max_allocations = 3;
    let mut h = Harness::with_config(config);
    TurnClient::new(client_n(1), ALICE.0, ALICE.1).allocate_ok(&mut h);
    TurnClient::new(client_n(2), ALICE.0, ALICE.1).allocate_ok(&mut h);
    let response = TurnClient::new(client_n(3), ALICE.0, ALICE.1).allocate(&mut h, &no_attrs);
    assert_eq!(error_code(&response), Some(486));
    assert_eq!(h.server.stats().quota_refusals, 1);
    // Another user still may, up to the server's limit.
    TurnClient::new(client_n(4), BOB.0, BOB.1).allocate_ok(&mut h);
    let response = TurnClient::new(client_n(5), BOB.0, BOB.1).allocate(&mut h, &no_attrs);
    assert_eq!(error_code(&response), Some(508));
    // Freeing one of Alice's allocations gives her room again.
    let mut alice = TurnClient::new(client_n(1), ALICE.0, ALICE.1);
    let delete = |w: &mut MessageWriter<'_>| w.add(&Lifetime(0));
    assert_eq!(class(&alice.transact(&mut h, Method::REFRESH, &delete)), Class::SuccessResponse);
    TurnClient::new(client_n(6), ALICE.0, ALICE.1).allocate_ok(&mut h);
}

#[test]
fn binding_requests_are_answered_without_authentication() {
    let mut h = Harness::new();
    let tuple = udp("198.51.100.7:40032");
    let mut client = TurnClient::new(tuple, ALICE.0, ALICE.1);
    client.fingerprint = true;
    let id = client.transaction_id();
    let request = client.request(Method::BINDING, id, &no_attrs);
    let response = h.send(tuple, &request).remove(0);
    let msg = Message::parse(&response).unwrap();
    assert_eq!(msg.class(), Class::SuccessResponse);
    assert_eq!(msg.get::<XorMappedAddress>().unwrap().unwrap().0, tuple.client);
    msg.verify_fingerprint().unwrap();
    assert!(!msg.has_message_integrity());
    assert_eq!(h.server.stats().binding_requests, 1);
    // IPv6 client.
    let tuple6 =
        turn::FiveTuple { client: addr("[2001:db8:1::7]:5000"), server: listen6(), ..tuple };
    let response = h.send(tuple6, &request).remove(0);
    let msg = Message::parse(&response).unwrap();
    assert_eq!(msg.get::<XorMappedAddress>().unwrap().unwrap().0, tuple6.client);
    // Unknown comprehension-required attribute in a Binding request: 420.
    let unknown = |w: &mut MessageWriter<'_>| w.add_raw(AttributeType(0x0042), &[]);
    let id = client.transaction_id();
    let request = client.request(Method::BINDING, id, &unknown);
    assert_eq!(error_code(&h.send(tuple, &request)[0]), Some(420));
    assert_eq!(h.server.allocation_count(), 0);
}

#[test]
fn wrong_method_or_class() {
    let mut h = Harness::new();
    let tuple = udp("198.51.100.7:40033");
    let mut client = TurnClient::new(tuple, ALICE.0, ALICE.1);
    // Send as a request, and an unknown method: 400 (before authentication).
    for method in
        [Method::SEND, Method::DATA, Method::new(0x0FF).unwrap(), Method::CONNECTION_ATTEMPT]
    {
        let id = client.transaction_id();
        let response = h.send(tuple, &client.request(method, id, &no_attrs));
        assert_eq!(error_code(&response[0]), Some(400), "{method:?}");
    }
    // Indications other than Send, and responses, are ignored.
    let indication = client.indication(Method::ALLOCATE, &udp_transport);
    assert!(h.send(tuple, &indication).is_empty());
    let binding_indication = client.indication(Method::BINDING, &no_attrs);
    assert!(h.send(tuple, &binding_indication).is_empty());
    let mut response = Vec::new();
    MessageWriter::new(
        &mut response,
        stun::MessageType::new(Method::ALLOCATE, Class::SuccessResponse),
        client.transaction_id(),
    );
    assert!(h.send(tuple, &response).is_empty());
    assert_eq!(h.server.stats().ignored_messages, 3);
}

#[test]
fn missing_username_realm_or_nonce_with_integrity_is_400() {
    let mut h = Harness::new();
    let tuple = udp("198.51.100.7:40034");
    let mut client = TurnClient::new(tuple, ALICE.0, ALICE.1);
    let mut request = Vec::new();
    let mut w = MessageWriter::new(
        &mut request,
        stun::MessageType::new(Method::ALLOCATE, Class::Request),
        client.transaction_id(),
    );
    w.add(&RequestedTransport(TransportProtocol::UDP)).unwrap();
    w.add(&stun::attributes::Username(ALICE.0)).unwrap();
    w.add_message_integrity(&client.key()).unwrap();
    let response = h.send(tuple, &request).remove(0);
    assert_eq!(error_code(&response), Some(400));
    let msg = Message::parse(&response).unwrap();
    assert!(msg.get::<Realm<'_>>().unwrap().is_none() && msg.get::<Nonce<'_>>().unwrap().is_none());
}

#[test]
fn integrity_sha256_is_accepted_and_mirrored() {
    let mut h = Harness::new();
    let tuple = udp("198.51.100.7:40035");
    let mut client = TurnClient::new(tuple, ALICE.0, ALICE.1);
    let id = client.transaction_id();
    client.learn(&h.send(tuple, &client.request(Method::ALLOCATE, id, &udp_transport)).remove(0));
    let mut request = Vec::new();
    let mut w = MessageWriter::new(
        &mut request,
        stun::MessageType::new(Method::ALLOCATE, Class::Request),
        client.transaction_id(),
    );
    w.add(&RequestedTransport(TransportProtocol::UDP)).unwrap();
    w.add(&stun::attributes::Username(ALICE.0)).unwrap();
    w.add(&Realm(REALM)).unwrap();
    w.add(&Nonce(client.nonce.as_deref().unwrap())).unwrap();
    w.add_message_integrity_sha256(&client.key()).unwrap();
    let response = h.send(tuple, &request).remove(0);
    let msg = Message::parse(&response).unwrap();
    assert_eq!(msg.class(), Class::SuccessResponse);
    assert!(!msg.has_message_integrity());
    msg.verify_message_integrity_sha256(&client.key()).unwrap();
}

#[test]
fn server_rejects_a_bad_configuration() {
    let config = ServerConfig::new(REALM);
    let result = TurnServer::new(
        config,
        std::time::Instant::now(),
        UNIX_T0,
        rand::SeedableRng::seed_from_u64(1),
    );
    assert!(matches!(result, Err(turn::Error::InvalidConfig(_))));
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let mut h = Harness::new();
    let (username, password) = rest_credential(REST_SECRET, "carol", UNIX_T0 + 3_600);
    TurnClient::new(udp("198.51.100.7:40036"), &username, &password).allocate_ok(&mut h);
    let text = format!("{:?}", h.server);
    for secret in [ALICE.1, BOB.1, REST_SECRET, password.as_str()] {
        assert!(!text.contains(secret), "{secret} appears in the server's Debug output");
    }
    assert!(text.contains("carol"));
}
