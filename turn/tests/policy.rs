//! The peer address policy on CreatePermission, ChannelBind and Send: every refused range
//! gives 403 (including the IPv6 forms that embed a refused IPv4 address), the server's own
//! addresses are never peers, and `allow_loopback_peers` / `allow_peers` open ranges.

mod common;

use std::net::SocketAddr;

use common::*;
use stun::attributes::{
    AdditionalAddressFamily, AddressFamily, ChannelNumber, Data, XorPeerAddress,
};
use stun::{Class, MessageWriter, Method};
use turn::ServerConfig;

const REFUSED: &[&str] = &[
    // IPv4
    "127.0.0.1",
    "127.1.2.3",
    "0.0.0.0",
    "0.1.2.3",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "100.64.0.1",
    "100.127.255.254",
    "169.254.169.254",
    "224.0.0.1",
    "239.1.2.3",
    "255.255.255.255",
    "240.0.0.1",
    "250.1.2.3",
    "192.0.2.1",
    "198.51.100.1",
    "203.0.113.1",
    "198.18.0.1",
    "198.19.1.1",
    // IPv6
    "::1",
    "::",
    "fc00::1",
    "fdab:cdef::1",
    "fe80::1",
    "ff02::1",
    "ff0e::1",
    "2001:db8::1",
    "fec0::1",
    "100::1",
    // IPv4-mapped and IPv4-compatible forms of refused IPv4 addresses.
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:192.168.0.1",
    "::ffff:169.254.169.254",
    "::127.0.0.1",
    "::10.0.0.1",
    // NAT64 well-known prefix embedding loopback, private and link-local.
    "64:ff9b::7f00:1",
    "64:ff9b::a00:1",
    "64:ff9b::c0a8:101",
    "64:ff9b::a9fe:a9fe",
    // 6to4 of loopback and private.
    "2002:7f00:1::1",
    "2002:a00:1::1",
    "2002:c0a8:101::1",
    // Teredo: client 127.0.0.1 (obfuscated 80ff:fffe), client 10.0.0.1 (f5ff:fffe), and a
    // private Teredo server.
    "2001:0:808:808::80ff:fffe",
    "2001:0:808:808::f5ff:fffe",
    "2001:0:a00:1::f7f7:f7f7",
];

const ALLOWED: &[&str] = &[
    "1.2.3.4",
    "8.8.8.8",
    "172.32.0.1",
    "100.128.0.1",
    "2606:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
    "2001:0:808:808::f7f7:f7f7",
];

/// A dual-stack allocation, so that peers of both families are acceptable family-wise.
fn dual(h: &mut Harness, n: u16) -> TurnClient {
    let mut client = TurnClient::new(client_n(n), ALICE.0, ALICE.1);
    let additional =
        |w: &mut MessageWriter<'_>| w.add(&AdditionalAddressFamily(AddressFamily::IPV6));
    let response = client.allocate(h, &additional);
    assert_eq!(relayed(&response).len(), 2);
    client
}

fn peer(ip: &str) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), 5000)
}

fn permission(client: &mut TurnClient, h: &mut Harness, peer: SocketAddr) -> Option<u16> {
    let attrs = move |w: &mut MessageWriter<'_>| w.add(&XorPeerAddress(peer));
    error_code(&client.transact(h, Method::CREATE_PERMISSION, &attrs))
}

fn channel(client: &mut TurnClient, h: &mut Harness, number: u16, peer: SocketAddr) -> Option<u16> {
    let attrs = move |w: &mut MessageWriter<'_>| {
        w.add(&ChannelNumber(number))?;
        w.add(&XorPeerAddress(peer))
    };
    error_code(&client.transact(h, Method::CHANNEL_BIND, &attrs))
}

#[test]
fn every_refused_range_gives_403() {
    let mut h = Harness::new();
    let mut client = dual(&mut h, 1);
    for (i, ip) in REFUSED.iter().enumerate() {
        assert_eq!(permission(&mut client, &mut h, peer(ip)), Some(403), "CreatePermission {ip}");
        let number = 0x4000 + u16::try_from(i).unwrap();
        assert_eq!(channel(&mut client, &mut h, number, peer(ip)), Some(403), "ChannelBind {ip}");
    }
    assert_eq!(h.server.stats().policy_refusals, 2 * REFUSED.len() as u64);
    let info = h.server.allocation(&client.tuple).unwrap();
    assert_eq!((info.permissions, info.channels), (0, 0));

    for (i, ip) in ALLOWED.iter().enumerate() {
        assert_eq!(permission(&mut client, &mut h, peer(ip)), None, "CreatePermission {ip}");
        let number = 0x4800 + u16::try_from(i).unwrap();
        assert_eq!(channel(&mut client, &mut h, number, peer(ip)), None, "ChannelBind {ip}");
    }
}

#[test]
fn one_refused_peer_refuses_the_whole_request() {
    let mut h = Harness::new();
    let mut client = dual(&mut h, 2);
    let both = |w: &mut MessageWriter<'_>| {
        w.add(&XorPeerAddress(peer("1.2.3.4")))?;
        w.add(&XorPeerAddress(peer("10.0.0.1")))
    };
    let response = client.transact(&mut h, Method::CREATE_PERMISSION, &both);
    assert_eq!(error_code(&response), Some(403));
    assert_eq!(h.server.allocation(&client.tuple).unwrap().permissions, 0);
}

#[test]
fn the_servers_own_addresses_are_never_peers() {
    let mut config = config();
    // Even an allow list that covers them does not open them.
    config.peer_policy.allow_peers =
        vec!["203.0.113.0/24".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
    let mut h = Harness::with_config(config);
    // Dual-stack, so that IPv6 forms are checked past the family test.
    let mut client = dual(&mut h, 3);
    let relayed = h.server.allocation(&client.tuple).unwrap().relayed;
    let socket = h.relay_socket(&client.tuple, true);
    for own in [
        relayed[0],                        // the relayed address itself (public)
        socket,                            // and its local form
        listen4(),                         // the listening address the client uses
        addr("10.0.0.5:3478"),             // a listening port on the local relay IP
        addr("[::ffff:203.0.113.5]:3478"), // its IPv4-mapped form
        relayed[1],                        // the IPv6 relayed address
        listen6(),                         // the IPv6 listening address
    ] {
        assert_eq!(channel(&mut client, &mut h, 0x4000, own), Some(403), "{own}");
    }
    // Another port of the server's IP (for example another allocation's relay) is a peer.
    assert_eq!(channel(&mut client, &mut h, 0x4000, addr("203.0.113.5:50001")), None);
    assert_eq!(permission(&mut client, &mut h, addr("203.0.113.5:1")), None);
    // Send to the server's listening port is dropped even with the permission in place.
    let to_listener = |w: &mut MessageWriter<'_>| {
        w.add(&XorPeerAddress(listen4()))?;
        w.add(&Data(b"loop"))
    };
    let indication = client.indication(Method::SEND, &to_listener);
    h.send(client.tuple, &indication);
    assert!(h.take_peer().is_empty());
    assert_eq!(h.server.stats().policy_dropped, 1);
}

#[test]
fn allow_loopback_peers_opens_loopback_only() {
    let mut config = config();
    config.peer_policy.allow_loopback_peers = true;
    let mut h = Harness::with_config(config);
    let mut client = dual(&mut h, 4);
    for ip in ["127.0.0.1", "::1", "::ffff:127.0.0.1", "64:ff9b::7f00:1"] {
        assert_eq!(permission(&mut client, &mut h, peer(ip)), None, "{ip}");
    }
    for ip in ["10.0.0.1", "fc00::1", "169.254.1.1"] {
        assert_eq!(permission(&mut client, &mut h, peer(ip)), Some(403), "{ip}");
    }
    // Relaying to a loopback peer works end to end.
    let loopback = addr("127.0.0.1:9000");
    assert_eq!(channel(&mut client, &mut h, 0x4000, loopback), None);
    let mut frame = Vec::new();
    stun::ChannelData::new(0x4000, b"hi").unwrap().write(&mut frame, stun::Framing::Datagram);
    h.send(client.tuple, &frame);
    assert_eq!(h.take_peer()[0].peer, loopback);
}

#[test]
fn allow_peers_opens_listed_ranges() {
    let mut config = config();
    config.peer_policy.allow_peers =
        vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()];
    let mut h = Harness::with_config(config);
    let mut client = dual(&mut h, 5);
    for ip in ["10.1.2.3", "::ffff:10.1.2.3", "64:ff9b::a01:203", "fd12::1"] {
        assert_eq!(permission(&mut client, &mut h, peer(ip)), None, "{ip}");
    }
    for ip in ["192.168.0.1", "fc00::1", "127.0.0.1"] {
        assert_eq!(permission(&mut client, &mut h, peer(ip)), Some(403), "{ip}");
    }
}

#[test]
fn refused_peers_never_receive_data() {
    let mut h = Harness::new();
    let mut client = dual(&mut h, 6);
    let private = addr("192.168.1.10:5000");
    assert_eq!(permission(&mut client, &mut h, private), Some(403));
    let send = |w: &mut MessageWriter<'_>| {
        w.add(&XorPeerAddress(private))?;
        w.add(&Data(b"x"))
    };
    let indication = client.indication(Method::SEND, &send);
    h.send(client.tuple, &indication);
    assert!(h.take_peer().is_empty());
    // And what a refused peer sends does not reach the client.
    let relay = h.relay_socket(&client.tuple, true);
    h.peer_sends(relay, private, b"x");
    assert!(h.take_client(client.tuple).is_empty());
    assert_eq!(class(&client.transact(&mut h, Method::REFRESH, &no_attrs)), Class::SuccessResponse);
}

#[test]
fn default_config_has_the_default_policy() {
    let config = ServerConfig::new(REALM);
    assert!(!config.peer_policy.allow_loopback_peers);
    assert!(config.peer_policy.allow_peers.is_empty());
}
