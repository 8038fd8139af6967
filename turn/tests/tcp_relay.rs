//! TCP allocations (RFC 6062) through the tokio driver over loopback: a client on TCP or TLS
//! allocates a TCP relay, connects to a TCP peer (a test listener) or is told of a peer's
//! incoming connection, binds a second connection to it, and bytes flow raw both ways.

mod net;

use std::net::SocketAddr;

use net::{error_code, Client, Conn, TestServer, STEP, USER};
use stun::attributes::{
    ConnectionId, RequestedTransport, TransportProtocol, XorPeerAddress, XorRelayedAddress,
};
use stun::{Class, Message, MessageType, Method};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use turn::Transport;

/// Allocate a TCP relay; the relayed address or the error code.
async fn allocate_tcp(client: &mut Client) -> Result<SocketAddr, u16> {
    let response = client
        .transact(Method::ALLOCATE, &|w| w.add(&RequestedTransport(TransportProtocol::TCP)))
        .await;
    match error_code(&response) {
        Some(code) => Err(code),
        None => {
            Ok(Message::parse(&response).unwrap().get::<XorRelayedAddress>().unwrap().unwrap().0)
        }
    }
}

/// Connect to `peer`: the CONNECTION-ID or the error code.
async fn connect(client: &mut Client, peer: SocketAddr) -> Result<u32, u16> {
    let response = client.transact(Method::CONNECT, &|w| w.add(&XorPeerAddress(peer))).await;
    match error_code(&response) {
        Some(code) => Err(code),
        None => Ok(Message::parse(&response).unwrap().get::<ConnectionId>().unwrap().unwrap().0),
    }
}

/// A new connection of `transport` bound to connection `id`; Ok: the raw stream.
async fn connection_bind(server: &TestServer, transport: Transport, id: u32) -> Result<Conn, u16> {
    let mut data = Client::new(Conn::connect(server, transport).await, USER.0, USER.1);
    let response = data.transact(Method::CONNECTION_BIND, &|w| w.add(&ConnectionId(id))).await;
    match error_code(&response) {
        Some(code) => Err(code),
        None => {
            let msg = Message::parse(&response).unwrap();
            assert_eq!(
                msg.message_type(),
                MessageType::new(Method::CONNECTION_BIND, Class::SuccessResponse)
            );
            Ok(data.conn)
        }
    }
}

async fn write_raw(conn: &mut Conn, bytes: &[u8]) {
    conn.send(bytes).await;
}

async fn read_raw(conn: &mut Conn, len: usize) -> Vec<u8> {
    let Conn::Stream(stream, pending) = conn else { panic!("a stream") };
    let mut out = std::mem::take(pending);
    while out.len() < len {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(STEP, stream.read(&mut chunk))
            .await
            .expect("data in time")
            .unwrap();
        assert!(n > 0, "data connection closed");
        out.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(out.len(), len);
    out
}

async fn read_exact(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    tokio::time::timeout(STEP, stream.read_exact(&mut buf)).await.expect("data in time").unwrap();
    buf
}

/// Connect to a listening peer, bind, and exchange bytes both ways (no framing: the
/// payloads are not STUN and not multiples of four).
async fn connect_and_relay(transport: Transport) {
    let server = TestServer::start(true);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = listener.local_addr().unwrap();
    let mut control = Client::new(Conn::connect(&server, transport).await, USER.0, USER.1);
    let relayed = allocate_tcp(&mut control).await.expect("TCP allocation");
    assert_eq!(relayed.ip().to_string(), "127.0.0.1");

    assert_eq!(connect(&mut control, peer_addr).await, Err(403), "no permission yet");
    control.create_permission(peer_addr).await.expect("permission");
    let (id, accepted) = tokio::join!(connect(&mut control, peer_addr), async {
        tokio::time::timeout(STEP, listener.accept()).await.expect("peer accepts").unwrap()
    });
    let id = id.expect("Connect succeeds");
    let (mut peer, from) = accepted;
    assert_eq!(from, relayed, "the peer sees the relayed address");
    assert_eq!(connect(&mut control, peer_addr).await, Err(446), "already connected");

    assert_eq!(connection_bind(&server, transport, id ^ 0x5555).await.err(), Some(400));
    let mut data = connection_bind(&server, transport, id).await.expect("ConnectionBind");
    let raw = b"\x00\x01raw bytes from the client, 37 long!";
    assert_eq!(raw.len(), 37);
    write_raw(&mut data, raw).await;
    assert_eq!(read_exact(&mut peer, raw.len()).await, raw);
    let big: Vec<u8> = (0..100_003u32).map(|i| (i % 253) as u8).collect();
    peer.write_all(&big).await.unwrap();
    assert_eq!(read_raw(&mut data, big.len()).await, big);
    write_raw(&mut data, &big[..4097]).await;
    assert_eq!(read_exact(&mut peer, 4097).await, &big[..4097]);

    // The peer closing ends the data connection.
    drop(peer);
    let Conn::Stream(stream, _) = &mut data else { unreachable!() };
    let mut buf = [0u8; 8];
    let n = tokio::time::timeout(STEP, stream.read(&mut buf)).await.expect("closed in time");
    assert!(matches!(n, Ok(0) | Err(_)));
    let stats = server.running.stats();
    assert_eq!((stats.tcp_connections_opened, stats.tcp_connections_bound), (1, 1));
    server.running.shutdown();
}

#[tokio::test]
async fn connect_and_relay_over_tcp() {
    connect_and_relay(Transport::Tcp).await;
}

#[tokio::test]
async fn connect_and_relay_over_tls() {
    connect_and_relay(Transport::Tls).await;
}

/// A peer connects in: refused without a permission, announced with a ConnectionAttempt
/// with one.
async fn peer_connects_in(transport: Transport) {
    let server = TestServer::start(true);
    let mut control = Client::new(Conn::connect(&server, transport).await, USER.0, USER.1);
    let relayed = allocate_tcp(&mut control).await.expect("TCP allocation");

    let mut stranger = TcpStream::connect(relayed).await.expect("the relay listens");
    let mut buf = [0u8; 8];
    let n = tokio::time::timeout(STEP, stranger.read(&mut buf)).await.expect("closed in time");
    assert!(matches!(n, Ok(0) | Err(_)), "a peer without permission is closed");

    let peer_socket = tokio::net::TcpSocket::new_v4().unwrap();
    peer_socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let peer_addr = peer_socket.local_addr().unwrap();
    control.create_permission(peer_addr).await.expect("permission");
    let mut peer = peer_socket.connect(relayed).await.unwrap();

    let attempt = control.conn.recv().await;
    let msg = Message::parse(&attempt).unwrap();
    assert_eq!(msg.message_type(), MessageType::new(Method::CONNECTION_ATTEMPT, Class::Indication));
    assert_eq!(msg.get::<XorPeerAddress>().unwrap().unwrap().0, peer_addr);
    let id = msg.get::<ConnectionId>().unwrap().unwrap().0;

    // Bytes the peer sent before the bind wait for it.
    peer.write_all(b"early").await.unwrap();
    let mut data = connection_bind(&server, transport, id).await.expect("ConnectionBind");
    assert_eq!(read_raw(&mut data, 5).await, b"early");
    write_raw(&mut data, b"hello peer").await;
    assert_eq!(read_exact(&mut peer, 10).await, b"hello peer");
    assert_eq!(server.running.stats().tcp_connections_refused, 1);

    // Closing the control connection deletes the allocation and closes the pair.
    drop(control);
    let n = tokio::time::timeout(STEP, peer.read(&mut buf)).await.expect("closed in time");
    assert!(matches!(n, Ok(0) | Err(_)), "the peer connection goes with the allocation");
    server.running.shutdown();
}

#[tokio::test]
async fn peer_connects_in_over_tcp() {
    peer_connects_in(Transport::Tcp).await;
}

#[tokio::test]
async fn peer_connects_in_over_tls() {
    peer_connects_in(Transport::Tls).await;
}

#[tokio::test]
async fn refusals() {
    let server = TestServer::start(false);
    let mut over_udp = Client::new(Conn::connect(&server, Transport::Udp).await, USER.0, USER.1);
    assert_eq!(allocate_tcp(&mut over_udp).await, Err(442), "TCP relay over UDP");

    let mut control = Client::new(Conn::connect(&server, Transport::Tcp).await, USER.0, USER.1);
    allocate_tcp(&mut control).await.expect("TCP allocation");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    // Loopback peers are refused unless allowed, as for UDP.
    assert_eq!(connect(&mut control, listener.local_addr().unwrap()).await, Err(403));
    // A peer that refuses the connection: 447.
    server.running.shutdown();

    let server = TestServer::start(true);
    let mut control = Client::new(Conn::connect(&server, Transport::Tcp).await, USER.0, USER.1);
    allocate_tcp(&mut control).await.expect("TCP allocation");
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    control.create_permission(closed).await.expect("permission");
    assert_eq!(connect(&mut control, closed).await, Err(447), "nobody listens");
    assert_eq!(connection_bind(&server, Transport::Tcp, 12345).await.err(), Some(400));
    server.running.shutdown();
}

#[tokio::test]
async fn bandwidth_limit_paces_a_data_connection() {
    let limit = turn::BandwidthLimit { bytes_per_second: 200_000, burst_bytes: 65_535 };
    let server = TestServer::start_with(true, turn::driver::DriverLimits::default(), |config| {
        config.bandwidth = Some(limit);
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = listener.local_addr().unwrap();
    let mut control = Client::new(Conn::connect(&server, Transport::Tcp).await, USER.0, USER.1);
    allocate_tcp(&mut control).await.expect("TCP allocation");
    control.create_permission(peer_addr).await.expect("permission");
    let (id, accepted) = tokio::join!(connect(&mut control, peer_addr), async {
        tokio::time::timeout(STEP, listener.accept()).await.expect("peer accepts").unwrap()
    });
    let (mut peer, _) = accepted;
    let mut data = connection_bind(&server, Transport::Tcp, id.unwrap()).await.expect("bind");

    // Past the burst the bytes are held back, not dropped: everything arrives, in order.
    let payload: Vec<u8> = (0..150_001u32).map(|i| (i % 241) as u8).collect();
    let started = std::time::Instant::now();
    let writer = tokio::spawn(async move {
        peer.write_all(&payload).await.unwrap();
        (peer, payload)
    });
    let got = read_raw(&mut data, 150_001).await;
    let (_peer, payload) = writer.await.unwrap();
    assert_eq!(got, payload);
    eprintln!("150001 bytes through a 200000 B/s limit (burst 65535) in {:?}", started.elapsed());
    assert_eq!(server.running.stats().peer_to_client_bytes, 150_001);
    server.running.shutdown();
}
