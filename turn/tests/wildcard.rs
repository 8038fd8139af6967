//! UDP listeners bound to a wildcard address (`0.0.0.0`, `[::]`): clients on different
//! loopback addresses (127.0.0.0/8 is all local on Linux) send to the listener's port on
//! their own address, and everything they get back (Binding and Allocate responses,
//! ChannelData and Data indications relayed from a peer, singly and in batches) comes from
//! exactly the address they sent to, with the 5-tuple the machine keeps on that address.

mod net;

use std::net::{IpAddr, SocketAddr};

use net::{Client, Conn, Peer, Relayed, REALM, STEP, USER};
use stun::attributes::{
    AddressFamily, RequestedAddressFamily, RequestedTransport, TransportProtocol, XorMappedAddress,
    XorRelayedAddress,
};
use stun::{Class, Message, MessageType, MessageWriter, Method, TransactionId};
use tokio::net::UdpSocket;
use turn::driver::{self, DriverLimits, Listeners, Running};
use turn::{AuthConfig, RelayIp, ServerConfig};

/// A server with one UDP listener on `listen` (a wildcard address, ephemeral port) and
/// relays on `relay`, loopback peers allowed.
fn start(listen: &str, relay: &str) -> Running {
    let mut config = ServerConfig::new(REALM);
    let relay: IpAddr = relay.parse().unwrap();
    if relay.is_ipv4() {
        config.relay_ipv4 = Some(RelayIp::new(relay));
    } else {
        config.relay_ipv6 = Some(RelayIp::new(relay));
    }
    config.auth = AuthConfig::default().with_user(USER.0, USER.1);
    config.peer_policy.allow_loopback_peers = true;
    let listeners = Listeners {
        udp: vec![driver::bind_udp(listen.parse().unwrap()).unwrap()],
        ..Default::default()
    };
    let running = driver::start(config, listeners, None, DriverLimits::default()).unwrap();
    assert!(running.udp_addrs[0].ip().is_unspecified() && running.udp_addrs[0].port() != 0);
    running
}

/// One datagram on `socket` within [`STEP`]: its bytes and where it came from.
async fn recv_from(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = vec![0u8; 65_536];
    let (len, from) = tokio::time::timeout(STEP, socket.recv_from(&mut buf))
        .await
        .expect("nothing received in time")
        .unwrap();
    buf.truncate(len);
    (buf, from)
}

/// A Binding request from `socket` to `server`: the response comes from `server` and maps
/// the socket's address.
async fn binding(socket: &UdpSocket, server: SocketAddr, id: u8) {
    let id = TransactionId([id; 12]);
    let mut request = Vec::new();
    MessageWriter::new(&mut request, MessageType::BINDING_REQUEST, id).finish();
    socket.send_to(&request, server).await.unwrap();
    let (response, from) = recv_from(socket).await;
    assert_eq!(from, server, "the Binding response comes from the address it was sent to");
    let msg = Message::parse(&response).unwrap();
    assert_eq!(msg.message_type(), MessageType::BINDING_SUCCESS);
    assert_eq!(msg.transaction_id(), id);
    let mapped = msg.get::<XorMappedAddress>().unwrap().unwrap().0;
    assert_eq!(mapped, socket.local_addr().unwrap());
}

/// The whole flow for a client on `client_ip` talking to `server` (the listener's port on
/// the client's own address), with a peer on `relay_ip`.
async fn allocate_and_relay(client_ip: &str, server: SocketAddr, relay_ip: &str) {
    let socket = UdpSocket::bind(SocketAddr::new(client_ip.parse().unwrap(), 0)).await.unwrap();
    let client_addr = socket.local_addr().unwrap();
    binding(&socket, server, 1).await;

    // Every datagram `Conn` receives is checked to come from `server`.
    let mut client = Client::new(Conn::Udp(socket, server), USER.0, USER.1);
    let response = client
        .transact(Method::ALLOCATE, &|w| {
            w.add(&RequestedTransport(TransportProtocol::UDP))?;
            let family =
                if relay_ip.contains(':') { AddressFamily::IPV6 } else { AddressFamily::IPV4 };
            w.add(&RequestedAddressFamily(family))
        })
        .await;
    let msg = Message::parse(&response).unwrap();
    assert_eq!(net::error_code(&response), None, "Allocate from {client_addr}");
    assert_eq!(msg.class(), Class::SuccessResponse);
    assert_eq!(msg.get::<XorMappedAddress>().unwrap().unwrap().0, client_addr);
    let relayed = msg.get::<XorRelayedAddress>().unwrap().unwrap().0;
    assert_eq!(relayed.ip().to_string(), relay_ip);

    let peer = Peer {
        socket: UdpSocket::bind(SocketAddr::new(relay_ip.parse().unwrap(), 0)).await.unwrap(),
    };
    client.create_permission(peer.addr()).await.expect("permission");
    client.send_indication(peer.addr(), b"via a Send indication").await;
    assert_eq!(peer.recv().await, (b"via a Send indication".to_vec(), relayed));
    peer.send(b"back as a Data indication", relayed).await;
    assert_eq!(
        client.recv_relayed().await,
        Relayed::Indication(peer.addr(), b"back as a Data indication".to_vec())
    );

    client.channel_bind(0x4000, peer.addr()).await.expect("channel");
    client.send_channel(0x4000, b"to the peer").await;
    assert_eq!(peer.recv().await, (b"to the peer".to_vec(), relayed));
    peer.send(b"to the client", relayed).await;
    assert_eq!(client.recv_relayed().await, Relayed::Channel(0x4000, b"to the client".to_vec()));

    // A burst of equal datagrams from the peer: relayed back in batches (and segmented
    // sends where the kernel has them), each from the address the client sent to.
    let burst: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 500]).collect();
    for data in &burst {
        peer.send(data, relayed).await;
    }
    let Conn::Udp(socket, _) = &client.conn else { unreachable!() };
    for data in &burst {
        let (frame, from) = recv_from(socket).await;
        assert_eq!(from, server, "relayed data comes from the address the client sent to");
        assert_eq!(frame[..4], [0x40, 0x00, 0x01, 0xf4], "ChannelData header");
        assert_eq!(&frame[4..], &data[..]);
    }
}

#[tokio::test]
async fn ipv4_wildcard_listener_answers_from_the_address_each_client_sent_to() {
    let running = start("0.0.0.0:0", "127.0.0.1");
    let port = running.udp_addrs[0].port();

    // One socket talking to three of the host's addresses: three 5-tuples, each answered
    // from its own address.
    let socket = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    for (i, ip) in ["127.0.0.1", "127.0.0.2", "127.0.0.3"].into_iter().enumerate() {
        binding(&socket, SocketAddr::new(ip.parse().unwrap(), port), i as u8 + 10).await;
    }

    for ip in ["127.0.0.1", "127.0.0.2"] {
        allocate_and_relay(ip, SocketAddr::new(ip.parse().unwrap(), port), "127.0.0.1").await;
    }
    assert_eq!(running.allocation_count(), 2);
    let stats = running.stats();
    assert!(stats.peer_to_client_packets >= 2 * 42, "{stats:?}");
    running.shutdown();
}

#[tokio::test]
async fn ipv6_wildcard_listener_answers_from_the_address_the_client_sent_to() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no ::1 in this environment: the [::] listener is not checked");
        return;
    }
    let running = start("[::]:0", "::1");
    let server = SocketAddr::new("::1".parse().unwrap(), running.udp_addrs[0].port());
    allocate_and_relay("::1", server, "::1").await;
    assert_eq!(running.allocation_count(), 1);

    // The listener is IPv6-only: nothing answers on IPv4 at its port.
    let v4 = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut request = Vec::new();
    MessageWriter::new(&mut request, MessageType::BINDING_REQUEST, TransactionId([3; 12])).finish();
    let _ = v4.send_to(&request, ("127.0.0.1", server.port())).await;
    let mut buf = [0u8; 1500];
    let answered =
        tokio::time::timeout(std::time::Duration::from_millis(300), v4.recv_from(&mut buf)).await;
    assert!(!matches!(answered, Ok(Ok(_))), "an IPv4 client answered by the [::] listener");
    running.shutdown();
}
