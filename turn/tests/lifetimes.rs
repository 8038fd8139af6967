//! Lifetimes on the virtual clock: allocations (600 s default, 3600 s at most, Refresh),
//! permissions (300 s) and channels (600 s), all expired by `handle_timeout`.

mod common;

use std::time::Duration;

use common::*;
use stun::attributes::{
    AdditionalAddressFamily, AddressFamily, ChannelNumber, Data, Lifetime, RequestedAddressFamily,
    XorPeerAddress,
};
use stun::{ChannelData, Class, Framing, Message, MessageWriter, Method};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn lifetime(response: &[u8]) -> u32 {
    Message::parse(response).unwrap().get::<Lifetime>().unwrap().unwrap().0
}

#[test]
fn nothing_to_wait_for_at_first() {
    let h = Harness::new();
    assert_eq!(h.server.poll_timeout(), None);
}

#[test]
fn allocation_expires_after_600_seconds_by_default() {
    let mut h = Harness::new();
    let mut client = TurnClient::new(udp("198.51.100.7:41000"), ALICE.0, ALICE.1);
    client.allocate_ok(&mut h);
    let created = h.now;
    let socket = h.relay_socket(&client.tuple, true);
    h.advance_to(created + secs(599));
    assert_eq!(h.server.allocation_count(), 1);
    assert!(h.server.poll_timeout().unwrap() <= created + secs(600));
    h.advance_to(created + secs(600));
    assert_eq!(h.server.allocation_count(), 0);
    assert_eq!(h.driver.closed, vec![socket]);
    assert!(h.driver.bound.is_empty());
    assert_eq!(h.server.stats().allocations_expired, 1);
    // The 5-tuple is free again.
    client.allocate_ok(&mut h);
}

#[test]
fn requested_lifetimes_are_clamped() {
    let mut h = Harness::new();
    let mut long = TurnClient::new(udp("198.51.100.7:41001"), ALICE.0, ALICE.1);
    let ask = |s: u32| move |w: &mut MessageWriter<'_>| w.add(&Lifetime(s));
    assert_eq!(lifetime(&long.allocate(&mut h, &ask(7_200))), 3_600);
    let mut short = TurnClient::new(udp("198.51.100.7:41002"), ALICE.0, ALICE.1);
    assert_eq!(lifetime(&short.allocate(&mut h, &ask(60))), 600);
    let mut between = TurnClient::new(udp("198.51.100.7:41003"), ALICE.0, ALICE.1);
    assert_eq!(lifetime(&between.allocate(&mut h, &ask(1_200))), 1_200);
    let created = h.now;
    h.advance_to(created + secs(1_199));
    assert!(h.server.allocation(&between.tuple).is_some());
    h.advance_to(created + secs(1_200));
    assert!(h.server.allocation(&between.tuple).is_none());
    assert!(h.server.allocation(&long.tuple).is_some());
    h.advance_to(created + secs(3_600));
    assert_eq!(h.server.allocation_count(), 0);
}

#[test]
fn refresh_extends_and_lifetime_zero_deletes() {
    let mut h = Harness::new();
    let mut client = TurnClient::new(udp("198.51.100.7:41004"), ALICE.0, ALICE.1);
    client.allocate_ok(&mut h);
    let created = h.now;
    h.advance_to(created + secs(500));
    let response = client.transact(&mut h, Method::REFRESH, &no_attrs);
    assert_eq!(lifetime(&response), 600);
    let ask = |s: u32| move |w: &mut MessageWriter<'_>| w.add(&Lifetime(s));
    assert_eq!(lifetime(&client.transact(&mut h, Method::REFRESH, &ask(100_000))), 3_600);
    // A shorter refresh brings the expiry forward again.
    assert_eq!(lifetime(&client.transact(&mut h, Method::REFRESH, &ask(700))), 700);
    h.advance_to(created + secs(1_199));
    assert_eq!(h.server.allocation_count(), 1);
    h.advance_to(created + secs(1_200));
    assert_eq!(h.server.allocation_count(), 0);

    // LIFETIME 0 deletes at once; its retransmission gets the same success, not 437.
    client.allocate_ok(&mut h);
    let id = client.transaction_id();
    let request = client.request(Method::REFRESH, id, &ask(0));
    let first = h.send(client.tuple, &request);
    assert_eq!(lifetime(&first[0]), 0);
    assert_eq!(h.server.allocation_count(), 0);
    assert_eq!(h.server.stats().allocations_deleted, 1);
    assert_eq!(h.send(client.tuple, &request), first);
    // A new Refresh has no allocation to refresh: 437.
    assert_eq!(error_code(&client.transact(&mut h, Method::REFRESH, &no_attrs)), Some(437));
}

#[test]
fn refresh_family_must_match() {
    let mut h = Harness::new();
    let mut client = TurnClient::new(udp("198.51.100.7:41005"), ALICE.0, ALICE.1);
    client.allocate_ok(&mut h);
    let v6 = |w: &mut MessageWriter<'_>| w.add(&RequestedAddressFamily(AddressFamily::IPV6));
    assert_eq!(error_code(&client.transact(&mut h, Method::REFRESH, &v6)), Some(443));
    let v4 = |w: &mut MessageWriter<'_>| w.add(&RequestedAddressFamily(AddressFamily::IPV4));
    assert_eq!(class(&client.transact(&mut h, Method::REFRESH, &v4)), Class::SuccessResponse);

    // On a dual allocation, LIFETIME 0 with REQUESTED-ADDRESS-FAMILY removes that family.
    let mut dual = TurnClient::new(udp("198.51.100.7:41006"), ALICE.0, ALICE.1);
    let additional =
        |w: &mut MessageWriter<'_>| w.add(&AdditionalAddressFamily(AddressFamily::IPV6));
    dual.allocate(&mut h, &additional);
    let v6_socket = h.relay_socket(&dual.tuple, false);
    let delete_v6 = |w: &mut MessageWriter<'_>| {
        w.add(&Lifetime(0))?;
        w.add(&RequestedAddressFamily(AddressFamily::IPV6))
    };
    assert_eq!(lifetime(&dual.transact(&mut h, Method::REFRESH, &delete_v6)), 0);
    let info = h.server.allocation(&dual.tuple).unwrap();
    assert_eq!(info.relay_sockets.len(), 1);
    assert!(info.relay_sockets[0].is_ipv4());
    assert!(h.driver.closed.contains(&v6_socket));
    assert_eq!(error_code(&dual.transact(&mut h, Method::REFRESH, &v6)), Some(443));
}

#[test]
fn permission_lasts_300_seconds() {
    let mut h = Harness::new();
    let mut client = TurnClient::new(udp("198.51.100.7:41007"), ALICE.0, ALICE.1);
    client.allocate(&mut h, &|w: &mut MessageWriter<'_>| w.add(&Lifetime(3_600)));
    let peer = addr("1.2.3.4:5000");
    let permit = move |w: &mut MessageWriter<'_>| w.add(&XorPeerAddress(peer));
    assert_eq!(
        class(&client.transact(&mut h, Method::CREATE_PERMISSION, &permit)),
        Class::SuccessResponse
    );
    let granted = h.now;
    let send = move |w: &mut MessageWriter<'_>| {
        w.add(&XorPeerAddress(peer))?;
        w.add(&Data(b"ping"))
    };
    h.advance_to(granted + secs(299));
    let indication = client.indication(Method::SEND, &send);
    h.send(client.tuple, &indication);
    assert_eq!(h.take_peer().len(), 1);
    h.advance_to(granted + secs(300));
    h.send(client.tuple, &indication);
    assert!(h.take_peer().is_empty());
    assert_eq!(h.server.allocation(&client.tuple).unwrap().permissions, 0, "forgotten");
    assert_eq!(h.server.stats().no_permission_dropped, 1);
    // Refreshing before expiry extends it by another 300 s.
    client.transact(&mut h, Method::CREATE_PERMISSION, &permit);
    let refreshed = h.now;
    h.advance_to(refreshed + secs(250));
    client.transact(&mut h, Method::CREATE_PERMISSION, &permit);
    h.advance_to(refreshed + secs(540));
    h.send(client.tuple, &indication);
    assert_eq!(h.take_peer().len(), 1);
}

#[test]
fn channel_lasts_600_seconds_and_refreshes_its_permission() {
    let mut h = Harness::new();
    let mut client = TurnClient::new(udp("198.51.100.7:41008"), ALICE.0, ALICE.1);
    let ask = |s: u32| move |w: &mut MessageWriter<'_>| w.add(&Lifetime(s));
    client.allocate(&mut h, &ask(3_600));
    let peer = addr("1.2.3.4:5000");
    let bind = move |w: &mut MessageWriter<'_>| {
        w.add(&ChannelNumber(0x4000))?;
        w.add(&XorPeerAddress(peer))
    };
    let permit = move |w: &mut MessageWriter<'_>| w.add(&XorPeerAddress(peer));
    assert_eq!(
        class(&client.transact(&mut h, Method::CHANNEL_BIND, &bind)),
        Class::SuccessResponse
    );
    let bound = h.now;
    let mut frame = Vec::new();
    ChannelData::new(0x4000, b"media").unwrap().write(&mut frame, Framing::Datagram);

    // The channel installed a permission: 300 s.
    h.advance_to(bound + secs(299));
    h.send(client.tuple, &frame);
    assert_eq!(h.take_peer().len(), 1);
    h.advance_to(bound + secs(301));
    h.send(client.tuple, &frame);
    assert!(h.take_peer().is_empty(), "the channel's permission expired");
    // Refresh the permission alone; the channel itself still holds until 600 s.
    client.transact(&mut h, Method::CREATE_PERMISSION, &permit);
    h.advance_to(bound + secs(599));
    h.send(client.tuple, &frame);
    assert_eq!(h.take_peer().len(), 1);
    h.advance_to(bound + secs(600));
    h.send(client.tuple, &frame);
    assert!(h.take_peer().is_empty(), "the channel expired");
    assert_eq!(h.server.stats().unbound_channel_dropped, 1);
    assert_eq!(h.server.allocation(&client.tuple).unwrap().channels, 0);

    // Rebinding refreshes both.
    client.transact(&mut h, Method::CHANNEL_BIND, &bind);
    let rebound = h.now;
    h.advance_to(rebound + secs(290));
    client.transact(&mut h, Method::CHANNEL_BIND, &bind);
    h.advance_to(rebound + secs(580));
    h.send(client.tuple, &frame);
    assert_eq!(h.take_peer().len(), 1);
}

#[test]
fn timers_follow_the_earliest_deadline() {
    let mut h = Harness::new();
    let mut client = TurnClient::new(udp("198.51.100.7:41009"), ALICE.0, ALICE.1);
    client.allocate_ok(&mut h);
    // The cached response (40 s) is first, then the allocation.
    h.advance(secs(40));
    let peer = addr("1.2.3.4:5000");
    let permit = move |w: &mut MessageWriter<'_>| w.add(&XorPeerAddress(peer));
    client.transact(&mut h, Method::CREATE_PERMISSION, &permit);
    let granted = h.now;
    // Jump from deadline to deadline: each is in the future and the state changes only at
    // permission and allocation expiry.
    let mut steps = 0;
    while let Some(next) = h.server.poll_timeout() {
        assert!(next > h.now, "deadline not in the future");
        h.advance_to(next.max(h.now));
        steps += 1;
        assert!(steps < 20, "timer livelock");
    }
    assert_eq!(h.server.allocation_count(), 0);
    assert!(h.now >= granted + secs(300));
}
