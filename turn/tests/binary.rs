//! The `turn` binary itself: flags, the `listening` line, REST credentials with the shared
//! secret, and a fatal error for an explicit listener that cannot bind.

mod net;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use net::{Client, Conn, Peer, Relayed};
use tokio::net::{TcpStream, UdpSocket};

const BIN: &str = env!("CARGO_BIN_EXE_turn");

/// The child is killed when the test ends, even on failure.
struct Server {
    child: Child,
    udp: Vec<SocketAddr>,
    tcp: Vec<SocketAddr>,
    tls: Vec<SocketAddr>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse_list(field: &str) -> Vec<SocketAddr> {
    field.split(',').filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect()
}

fn spawn(args: &[&str]) -> Server {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("turn binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let mut server = Server { child, udp: vec![], tcp: vec![], tls: vec![] };
    let rest = line.trim().strip_prefix("listening ").unwrap_or_else(|| panic!("{line:?}"));
    for field in rest.split(' ') {
        match field.split_once('=') {
            Some(("udp", v)) => server.udp = parse_list(v),
            Some(("tcp", v)) => server.tcp = parse_list(v),
            Some(("tls", v)) => server.tls = parse_list(v),
            _ => panic!("unexpected field {field:?} in {line:?}"),
        }
    }
    server
}

#[tokio::test]
async fn binary_relays_with_rest_credentials() {
    let secret = "binary-test-secret";
    let server = spawn(&[
        "--udp-listen",
        "127.0.0.1:0",
        "--tcp-listen",
        "127.0.0.1:0",
        "--tls-listen",
        "127.0.0.1:0",
        "--auth-secret",
        secret,
        "--realm",
        net::REALM,
        "--allow-loopback-peers",
        "--min-port",
        "40000",
        "--max-port",
        "40999",
    ]);
    assert_eq!((server.udp.len(), server.tcp.len(), server.tls.len()), (1, 1, 1));
    assert!(server.udp[0].port() != 0 && server.tcp[0].port() != 0 && server.tls[0].port() != 0);

    let expiry = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 600;
    let (username, password) = turn::rest_credential(secret, "carol", expiry);
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut client = Client::new(Conn::Udp(socket, server.udp[0]), &username, &password);
    let relayed = client.allocate().await.expect("allocation");
    assert!((40_000..=40_999).contains(&relayed.port()), "relay port {relayed} in range");

    let peer = Peer::bind().await;
    client.channel_bind(0x4abc, peer.addr()).await.expect("channel");
    client.send_channel(0x4abc, b"ping").await;
    assert_eq!(peer.recv().await, (b"ping".to_vec(), relayed));
    peer.send(b"pong", relayed).await;
    assert_eq!(client.recv_relayed().await, Relayed::Channel(0x4abc, b"pong".to_vec()));

    // The TCP and TLS listeners accept connections (the TLS one serves a self-signed cert).
    TcpStream::connect(server.tcp[0]).await.unwrap();
    TcpStream::connect(server.tls[0]).await.unwrap();
}

#[tokio::test]
async fn binary_wildcard_listener_answers_from_the_address_sent_to() {
    let server = spawn(&[
        "--udp-listen",
        "0.0.0.0:0",
        "--relay-ip",
        "127.0.0.1",
        "--user",
        "erin:erin-password",
        "--realm",
        net::REALM,
        "--allow-loopback-peers",
    ]);
    assert!(server.udp[0].ip().is_unspecified() && server.udp[0].port() != 0);
    // A client on 127.0.0.2 talks to 127.0.0.2 (loopback: one of the host's addresses);
    // `Conn` checks that every datagram comes back from there.
    let to = SocketAddr::from(([127, 0, 0, 2], server.udp[0].port()));
    let socket = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let mut client = Client::new(Conn::Udp(socket, to), "erin", "erin-password");
    let relayed = client.allocate().await.expect("allocation");
    assert_eq!(relayed.ip().to_string(), "127.0.0.1");
    let peer = Peer::bind().await;
    client.channel_bind(0x4001, peer.addr()).await.expect("channel");
    client.send_channel(0x4001, b"ping").await;
    assert_eq!(peer.recv().await, (b"ping".to_vec(), relayed));
    peer.send(b"pong", relayed).await;
    assert_eq!(client.recv_relayed().await, Relayed::Channel(0x4001, b"pong".to_vec()));
}

#[test]
fn explicit_listener_that_cannot_bind_is_fatal() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = Command::new(BIN)
        .args(["--udp-listen", &addr, "--auth-secret", "x"])
        .output()
        .expect("turn binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot listen on udp") && stderr.contains(&addr), "{stderr}");
}

#[test]
fn help_documents_every_flag() {
    let output = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--udp-listen",
        "--tcp-listen",
        "--tls-listen",
        "--cert",
        "--key",
        "--realm",
        "--user",
        "--auth-secret",
        "--relay-ip",
        "--min-port",
        "--max-port",
        "--allow-loopback-peers",
        "--allow-peer",
        "TURN_AUTH_SECRET",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn configured_secret_is_never_printed() {
    let secret = "do-not-print-this-secret";
    let mut child = Command::new(BIN)
        .args(["--udp-listen", "127.0.0.1:0", "--auth-secret", secret, "--log", "trace"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("listening udp=127.0.0.1:"), "{line}");
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains(secret) && !line.contains(secret));
    assert!(stderr.contains("TURN"), "the log was captured: {stderr}");
}

#[tokio::test]
async fn binary_relays_ipv6_from_an_ipv6_listener() {
    use stun::attributes::{
        AddressFamily, RequestedAddressFamily, RequestedTransport, TransportProtocol,
        XorRelayedAddress,
    };
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        return; // no IPv6 loopback on this host: nothing to relay over
    }
    let server = spawn(&[
        "--udp-listen",
        "127.0.0.1:0",
        "--udp-listen",
        "[::1]:0",
        "--user",
        "dave:dave-password",
        "--realm",
        net::REALM,
        "--allow-loopback-peers",
    ]);
    let listen6 = *server.udp.iter().find(|a| a.is_ipv6()).expect("an IPv6 listener");
    let socket = UdpSocket::bind("[::1]:0").await.unwrap();
    let mut client = Client::new(Conn::Udp(socket, listen6), "dave", "dave-password");
    let response = client
        .transact(stun::Method::ALLOCATE, &|w| {
            w.add(&RequestedTransport(TransportProtocol::UDP))?;
            w.add(&RequestedAddressFamily(AddressFamily::IPV6))
        })
        .await;
    assert_eq!(net::error_code(&response), None, "IPv6 allocation");
    let relayed =
        stun::Message::parse(&response).unwrap().get::<XorRelayedAddress>().unwrap().unwrap().0;
    assert_eq!(relayed.ip().to_string(), "::1", "the relay address of the IPv6 listener");

    let peer = tokio::net::UdpSocket::bind("[::1]:0").await.unwrap();
    let peer_addr = peer.local_addr().unwrap();
    client.create_permission(peer_addr).await.expect("permission");
    client.send_indication(peer_addr, b"over IPv6").await;
    let mut buf = [0u8; 64];
    let (n, from) =
        tokio::time::timeout(net::STEP, peer.recv_from(&mut buf)).await.unwrap().unwrap();
    assert_eq!((&buf[..n], from), (&b"over IPv6"[..], relayed));
    peer.send_to(b"back", relayed).await.unwrap();
    assert_eq!(client.recv_relayed().await, Relayed::Indication(peer_addr, b"back".to_vec()));
}
