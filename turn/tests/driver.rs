//! The tokio driver over real loopback sockets: a TURN client from the stun crate allocates,
//! installs permissions and channels, and exchanges data with a UDP peer through the relay,
//! over UDP, TCP and TLS (1.3 and 1.2).

mod net;

use std::time::{SystemTime, UNIX_EPOCH};

use net::{Client, Conn, Peer, Relayed, TestServer, SECRET, USER};
use turn::Transport;

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// The whole relay path on one transport: Send indication and Data indication, then a
/// channel and ChannelData both ways (odd payload lengths, so stream padding shows).
async fn relay_both_ways(server: &TestServer, conn: Conn) {
    let mut client = Client::new(conn, USER.0, USER.1);
    let relayed = client.allocate().await.expect("allocation");
    assert_eq!(relayed.ip().to_string(), "127.0.0.1");
    let peer = Peer::bind().await;

    client.create_permission(peer.addr()).await.expect("permission");
    client.send_indication(peer.addr(), b"via a Send indication").await;
    let (data, from) = peer.recv().await;
    assert_eq!(data, b"via a Send indication");
    assert_eq!(from, relayed, "the peer sees the relayed address");

    peer.send(b"back as a Data indication", relayed).await;
    assert_eq!(
        client.recv_relayed().await,
        Relayed::Indication(peer.addr(), b"back as a Data indication".to_vec())
    );

    client.channel_bind(0x4000, peer.addr()).await.expect("channel");
    let payload: Vec<u8> = (0..1201u32).map(|i| (i % 251) as u8).collect();
    client.send_channel(0x4000, &payload).await;
    let (data, from) = peer.recv().await;
    assert_eq!((data.as_slice(), from), (payload.as_slice(), relayed));
    peer.send(&payload[..13], relayed).await;
    assert_eq!(client.recv_relayed().await, Relayed::Channel(0x4000, payload[..13].to_vec()));

    let stats = server.running.stats();
    assert!(stats.client_to_peer_packets >= 2 && stats.peer_to_client_packets >= 2);
}

#[tokio::test]
async fn relays_over_udp() {
    let server = TestServer::start(true);
    relay_both_ways(&server, Conn::connect(&server, Transport::Udp).await).await;
    server.running.shutdown();
}

#[tokio::test]
async fn relays_over_tcp() {
    let server = TestServer::start(true);
    relay_both_ways(&server, Conn::connect(&server, Transport::Tcp).await).await;
    server.running.shutdown();
}

#[tokio::test]
async fn relays_over_tls_1_3() {
    let server = TestServer::start(true);
    let conn = Conn::connect_with(&server, Transport::Tls, &[&rustls::version::TLS13]).await;
    relay_both_ways(&server, conn).await;
    server.running.shutdown();
}

#[tokio::test]
async fn relays_over_tls_1_2() {
    let server = TestServer::start(true);
    let conn = Conn::connect_with(&server, Transport::Tls, &[&rustls::version::TLS12]).await;
    relay_both_ways(&server, conn).await;
    server.running.shutdown();
}

#[tokio::test]
async fn rest_credentials_accepted_until_they_expire() {
    let server = TestServer::start(true);
    for transport in [Transport::Udp, Transport::Tcp, Transport::Tls] {
        let (username, password) = turn::rest_credential(SECRET, "bob", unix_now() + 3_600);
        let mut client = Client::new(Conn::connect(&server, transport).await, &username, &password);
        client.allocate().await.expect("a fresh REST credential allocates");

        let (username, password) = turn::rest_credential(SECRET, "bob", unix_now() - 10);
        let mut client = Client::new(Conn::connect(&server, transport).await, &username, &password);
        assert_eq!(client.allocate().await, Err(401), "expired credential over {transport:?}");

        let (username, _) = turn::rest_credential(SECRET, "bob", unix_now() + 3_600);
        let mut client =
            Client::new(Conn::connect(&server, transport).await, &username, "not-the-password");
        assert_eq!(client.allocate().await, Err(401), "wrong password over {transport:?}");
    }
    assert!(server.running.stats().expired_credentials >= 3);
    server.running.shutdown();
}

#[tokio::test]
async fn loopback_peers_refused_by_default() {
    let server = TestServer::start(false);
    let peer = Peer::bind().await;
    for transport in [Transport::Udp, Transport::Tcp, Transport::Tls] {
        let mut client = Client::new(Conn::connect(&server, transport).await, USER.0, USER.1);
        client.allocate().await.expect("allocation");
        assert_eq!(client.create_permission(peer.addr()).await, Err(403), "{transport:?}");
        assert_eq!(client.channel_bind(0x4001, peer.addr()).await, Err(403), "{transport:?}");
    }
    server.running.shutdown();
}

#[tokio::test]
async fn closing_a_stream_deletes_its_allocation() {
    let server = TestServer::start(true);
    for transport in [Transport::Tcp, Transport::Tls] {
        let mut client = Client::new(Conn::connect(&server, transport).await, USER.0, USER.1);
        client.allocate().await.expect("allocation");
        assert_eq!(server.running.allocation_count(), 1);
        drop(client);
        let deadline = tokio::time::Instant::now() + net::STEP;
        while server.running.allocation_count() != 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "allocation outlived its {transport:?} connection"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    server.running.shutdown();
}

#[tokio::test]
async fn garbage_on_a_stream_closes_it_and_udp_garbage_is_dropped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start(true);
    let mut tcp = tokio::net::TcpStream::connect(server.addr(Transport::Tcp)).await.unwrap();
    tcp.write_all(&[0x80; 64]).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(net::STEP, tcp.read(&mut buf)).await.unwrap().unwrap_or(0);
    assert_eq!(n, 0, "the server closes an out-of-sync stream");

    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    udp.send_to(&[0xFF; 100], server.addr(Transport::Udp)).await.unwrap();
    // The server still serves after garbage.
    let mut client = Client::new(Conn::connect(&server, Transport::Udp).await, USER.0, USER.1);
    client.allocate().await.expect("allocation after garbage");
    assert!(server.running.stats().malformed_dropped >= 1);
    server.running.shutdown();
}

#[tokio::test]
async fn dont_fragment_allocation_and_peer_datagram_sizes() {
    use stun::attributes::{
        DontFragment, RequestedTransport, TransportProtocol, XorRelayedAddress,
    };
    let server = TestServer::start(true);
    let mut client = Client::new(Conn::connect(&server, Transport::Udp).await, USER.0, USER.1);
    // DONT-FRAGMENT is honoured (the relay socket sets the DF bit), not refused with 420.
    let response = client
        .transact(stun::Method::ALLOCATE, &|w| {
            w.add(&RequestedTransport(TransportProtocol::UDP))?;
            w.add(&DontFragment)
        })
        .await;
    assert_eq!(net::error_code(&response), None);
    let msg = stun::Message::parse(&response).unwrap();
    let relayed = msg.get::<XorRelayedAddress>().unwrap().unwrap().0;
    let peer = Peer::bind().await;
    client.channel_bind(0x4002, peer.addr()).await.expect("channel");

    // Up to the relay socket's 4096-byte receive slot, peer datagrams are relayed; longer
    // ones are dropped and counted.
    let fits = vec![0x11u8; 4096];
    peer.send(&fits, relayed).await;
    assert_eq!(client.recv_relayed().await, Relayed::Channel(0x4002, fits));
    peer.send(&[0x22u8; 5000], relayed).await;
    peer.send(b"after", relayed).await;
    assert_eq!(client.recv_relayed().await, Relayed::Channel(0x4002, b"after".to_vec()));
    assert_eq!(server.running.truncated_dropped(), 1);

    // A burst larger than one receive batch arrives whole and in order.
    for i in 0..40u8 {
        peer.send(&[i; 100], relayed).await;
    }
    for i in 0..40u8 {
        assert_eq!(client.recv_relayed().await, Relayed::Channel(0x4002, vec![i; 100]));
    }
    for i in 0..40u8 {
        client.send_channel(0x4002, &[i; 99]).await;
    }
    for i in 0..40u8 {
        assert_eq!(peer.recv().await, (vec![i; 99], relayed));
    }
    server.running.shutdown();
}

#[tokio::test]
async fn idle_connections_without_allocation_are_closed() {
    use tokio::io::AsyncReadExt;
    let limits = turn::driver::DriverLimits {
        idle_timeout: std::time::Duration::from_millis(300),
        ..turn::driver::DriverLimits::default()
    };
    let server = TestServer::start_with_limits(true, limits);
    // Silent and without an allocation: closed after the idle time.
    let mut idle = tokio::net::TcpStream::connect(server.addr(Transport::Tcp)).await.unwrap();
    let mut buf = [0u8; 4];
    let n =
        tokio::time::timeout(net::STEP, idle.read(&mut buf)).await.expect("closed").unwrap_or(0);
    assert_eq!(n, 0);

    // With an allocation, a silent connection stays open past the idle time.
    let mut client = Client::new(Conn::connect(&server, Transport::Tcp).await, USER.0, USER.1);
    client.allocate().await.expect("allocation");
    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    assert_eq!(server.running.allocation_count(), 1);
    let peer = Peer::bind().await;
    client.create_permission(peer.addr()).await.expect("the connection still serves");
    server.running.shutdown();
}
