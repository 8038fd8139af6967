//! A TURN client over real sockets (UDP, TCP, TLS), built from the stun crate, and a server
//! started in-process on loopback with ephemeral ports.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use stun::attributes::{
    ChannelNumber, Data, ErrorCode, Nonce, Realm, RequestedTransport, TransportProtocol, Username,
    XorPeerAddress, XorRelayedAddress,
};
use stun::{
    ChannelData, Class, FrameKind, Framing, Message, MessageType, MessageWriter, Method,
    TransactionId,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use turn::driver::{self, tls, DriverLimits, Listeners, Running};
use turn::{AuthConfig, RelayIp, ServerConfig, Transport};

pub const REALM: &str = "turn.test";
pub const SECRET: &str = "rest-shared-secret-for-tests";
pub const USER: (&str, &str) = ("alice", "alice-password");

/// How long any single network step may take before the test fails.
pub const STEP: Duration = Duration::from_secs(5);

/// A server on 127.0.0.1 with one listener of each transport, its TLS certificate, and
/// whether loopback peers are allowed.
pub struct TestServer {
    pub running: Running,
    pub cert: CertificateDer<'static>,
}

impl TestServer {
    pub fn start(allow_loopback_peers: bool) -> Self {
        Self::start_with_limits(allow_loopback_peers, DriverLimits::default())
    }

    pub fn start_with_limits(allow_loopback_peers: bool, limits: DriverLimits) -> Self {
        Self::start_with(allow_loopback_peers, limits, |_| {})
    }

    /// A server whose configuration `adjust` changes last.
    pub fn start_with(
        allow_loopback_peers: bool,
        limits: DriverLimits,
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> Self {
        let mut config = ServerConfig::new(REALM);
        config.relay_ipv4 = Some(RelayIp::new("127.0.0.1".parse().unwrap()));
        config.auth = AuthConfig::default().with_user(USER.0, USER.1).with_rest_secret(SECRET);
        config.peer_policy.allow_loopback_peers = allow_loopback_peers;
        adjust(&mut config);
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let listeners = Listeners {
            udp: vec![driver::bind_udp(any).unwrap()],
            tcp: vec![driver::bind_tcp(any).unwrap()],
            tls: vec![driver::bind_tcp(any).unwrap()],
        };
        let key = tls::self_signed(&["localhost", "127.0.0.1"]).unwrap();
        let cert = key.chain[0].clone();
        let tls_config = tls::server_config(key).unwrap();
        let running = driver::start(config, listeners, Some(tls_config), limits).unwrap();
        Self { running, cert }
    }

    pub fn addr(&self, transport: Transport) -> SocketAddr {
        match transport {
            Transport::Udp => self.running.udp_addrs[0],
            Transport::Tcp => self.running.tcp_addrs[0],
            Transport::Tls => self.running.tls_addrs[0],
        }
    }
}

/// A rustls client configuration that trusts exactly `cert`, offering `versions`.
pub fn tls_client(
    cert: &CertificateDer<'static>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

type BoxedStream = Pin<Box<dyn Stream>>;
pub trait Stream: AsyncRead + AsyncWrite + Send {}
impl<T: AsyncRead + AsyncWrite + Send> Stream for T {}

/// The client's connection to the server.
pub enum Conn {
    /// A socket and the server address it sends to (every datagram received must come from
    /// there).
    Udp(UdpSocket, SocketAddr),
    Stream(BoxedStream, Vec<u8>),
}

impl Conn {
    pub async fn connect(server: &TestServer, transport: Transport) -> Self {
        Self::connect_with(server, transport, &[&rustls::version::TLS13, &rustls::version::TLS12])
            .await
    }

    pub async fn connect_with(
        server: &TestServer,
        transport: Transport,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Self {
        let addr = server.addr(transport);
        match transport {
            Transport::Udp => {
                let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                Self::Udp(socket, addr)
            }
            Transport::Tcp => {
                let tcp = TcpStream::connect(addr).await.unwrap();
                Self::Stream(Box::pin(tcp), Vec::new())
            }
            Transport::Tls => {
                let tcp = TcpStream::connect(addr).await.unwrap();
                let connector =
                    tokio_rustls::TlsConnector::from(tls_client(&server.cert, versions));
                let name = ServerName::try_from("localhost").unwrap();
                let tls = tokio::time::timeout(STEP, connector.connect(name, tcp))
                    .await
                    .expect("TLS handshake timed out")
                    .expect("TLS handshake");
                Self::Stream(Box::pin(tls), Vec::new())
            }
        }
    }

    pub fn framing(&self) -> Framing {
        match self {
            Self::Udp(..) => Framing::Datagram,
            Self::Stream(..) => Framing::Stream,
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        match self {
            Self::Udp(socket, to) => {
                socket.send_to(bytes, *to).await.unwrap();
            }
            Self::Stream(stream, _) => stream.write_all(bytes).await.unwrap(),
        }
    }

    /// One datagram, or one STUN message or ChannelData frame cut from the stream.
    pub async fn recv(&mut self) -> Vec<u8> {
        tokio::time::timeout(STEP, self.recv_inner()).await.expect("nothing received in time")
    }

    async fn recv_inner(&mut self) -> Vec<u8> {
        match self {
            Self::Udp(socket, to) => {
                let mut buf = vec![0u8; 65_536];
                let (len, from) = socket.recv_from(&mut buf).await.unwrap();
                // Everything for a UDP client comes from the address it sends to, also from
                // a listener bound to a wildcard address.
                assert_eq!(from, *to, "a datagram from another address than the server's");
                buf.truncate(len);
                buf
            }
            Self::Stream(stream, pending) => loop {
                if let Some(frame) = stun::peek_frame(pending).expect("server stream in sync") {
                    if pending.len() >= frame.len {
                        return pending.drain(..frame.len).collect();
                    }
                }
                let mut chunk = [0u8; 4096];
                let n = stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "server closed the connection");
                pending.extend_from_slice(&chunk[..n]);
            },
        }
    }
}

/// Attributes a request adds.
pub type Attrs<'a> = &'a dyn Fn(&mut MessageWriter<'_>) -> Result<(), stun::Error>;

pub fn error_code(response: &[u8]) -> Option<u16> {
    Message::parse(response).unwrap().get::<ErrorCode<'_>>().unwrap().map(|e| e.code)
}

/// What a client received from the relay.
#[derive(Debug, PartialEq, Eq)]
pub enum Relayed {
    /// A Data indication: peer and data.
    Indication(SocketAddr, Vec<u8>),
    /// ChannelData: channel and data.
    Channel(u16, Vec<u8>),
}

/// A TURN client with long-term credentials.
pub struct Client {
    pub conn: Conn,
    pub username: String,
    pub password: String,
    pub realm: Option<String>,
    pub nonce: Option<String>,
    next_id: u64,
}

impl Client {
    pub fn new(conn: Conn, username: &str, password: &str) -> Self {
        Self {
            conn,
            username: username.into(),
            password: password.into(),
            realm: None,
            nonce: None,
            next_id: 0,
        }
    }

    fn key(&self) -> [u8; 16] {
        let realm = self.realm.as_deref().unwrap_or(REALM);
        stun::credentials::long_term_key_md5(&self.username, realm, &self.password).unwrap()
    }

    fn transaction_id(&mut self) -> TransactionId {
        self.next_id += 1;
        let mut id = [7u8; 12];
        id[4..].copy_from_slice(&self.next_id.to_be_bytes());
        TransactionId(id)
    }

    /// One request with the 401/438 round trips; the final response (its integrity checked
    /// unless it is an error without one).
    pub async fn transact(&mut self, method: Method, attrs: Attrs<'_>) -> Vec<u8> {
        for _ in 0..3 {
            let id = self.transaction_id();
            let mut request = Vec::new();
            let mut w =
                MessageWriter::new(&mut request, MessageType::new(method, Class::Request), id);
            attrs(&mut w).unwrap();
            if let (Some(realm), Some(nonce)) = (&self.realm, &self.nonce) {
                w.add(&Username(&self.username)).unwrap();
                w.add(&Realm(realm)).unwrap();
                w.add(&Nonce(nonce)).unwrap();
                w.add_message_integrity(&self.key()).unwrap();
            }
            w.add_fingerprint().unwrap();
            self.conn.send(&request).await;
            let response = loop {
                let frame = self.conn.recv().await;
                if let Ok(msg) = Message::parse(&frame) {
                    if msg.transaction_id() == id {
                        break frame;
                    }
                }
            };
            let msg = Message::parse(&response).unwrap();
            let code = error_code(&response);
            let retry = match code {
                Some(401) => self.nonce.is_none(),
                Some(438) => true,
                _ => false,
            };
            if retry {
                if let Ok(Some(Realm(realm))) = msg.get::<Realm<'_>>() {
                    self.realm = Some(realm.to_owned());
                }
                if let Ok(Some(Nonce(nonce))) = msg.get::<Nonce<'_>>() {
                    self.nonce = Some(nonce.to_owned());
                }
                continue;
            }
            if msg.has_message_integrity() {
                msg.verify_message_integrity(&self.key()).expect("response integrity");
            }
            return response;
        }
        panic!("no final response after three attempts");
    }

    /// Allocate a UDP relay; the relayed address, or the error code.
    pub async fn allocate(&mut self) -> Result<SocketAddr, u16> {
        let response = self
            .transact(Method::ALLOCATE, &|w| w.add(&RequestedTransport(TransportProtocol::UDP)))
            .await;
        match error_code(&response) {
            Some(code) => Err(code),
            None => {
                let msg = Message::parse(&response).unwrap();
                assert_eq!(msg.class(), Class::SuccessResponse);
                Ok(msg.get::<XorRelayedAddress>().unwrap().unwrap().0)
            }
        }
    }

    /// CreatePermission for `peer`; `Err(code)` on an error response.
    pub async fn create_permission(&mut self, peer: SocketAddr) -> Result<(), u16> {
        let response =
            self.transact(Method::CREATE_PERMISSION, &|w| w.add(&XorPeerAddress(peer))).await;
        error_code(&response).map_or(Ok(()), Err)
    }

    /// ChannelBind `channel` to `peer`.
    pub async fn channel_bind(&mut self, channel: u16, peer: SocketAddr) -> Result<(), u16> {
        let response = self
            .transact(Method::CHANNEL_BIND, &|w| {
                w.add(&ChannelNumber(channel))?;
                w.add(&XorPeerAddress(peer))
            })
            .await;
        error_code(&response).map_or(Ok(()), Err)
    }

    /// A Send indication.
    pub async fn send_indication(&mut self, peer: SocketAddr, data: &[u8]) {
        let id = self.transaction_id();
        let mut out = Vec::new();
        let mut w =
            MessageWriter::new(&mut out, MessageType::new(Method::SEND, Class::Indication), id);
        w.add(&XorPeerAddress(peer)).unwrap();
        w.add(&Data(data)).unwrap();
        self.conn.send(&out).await;
    }

    /// ChannelData, framed for the connection.
    pub async fn send_channel(&mut self, channel: u16, data: &[u8]) {
        let mut out = Vec::new();
        ChannelData::new(channel, data).unwrap().write(&mut out, self.conn.framing());
        self.conn.send(&out).await;
    }

    /// The next relayed data (Data indication or ChannelData).
    pub async fn recv_relayed(&mut self) -> Relayed {
        let frame = self.conn.recv().await;
        let kind = stun::peek_frame(&frame).unwrap().unwrap().kind;
        match kind {
            FrameKind::ChannelData => {
                let framing = self.conn.framing();
                if framing == Framing::Stream {
                    assert_eq!(frame.len() % 4, 0, "ChannelData on a stream is padded");
                }
                let cd = ChannelData::parse(&frame, framing).unwrap();
                Relayed::Channel(cd.channel(), cd.data().to_vec())
            }
            FrameKind::Stun => {
                let msg = Message::parse(&frame).unwrap();
                assert_eq!(msg.message_type(), MessageType::new(Method::DATA, Class::Indication));
                let peer = msg.get::<XorPeerAddress>().unwrap().unwrap().0;
                let data = msg.get::<Data<'_>>().unwrap().unwrap().0.to_vec();
                Relayed::Indication(peer, data)
            }
        }
    }
}

/// A UDP peer on loopback.
pub struct Peer {
    pub socket: UdpSocket,
}

impl Peer {
    pub async fn bind() -> Self {
        Self { socket: UdpSocket::bind("127.0.0.1:0").await.unwrap() }
    }

    pub fn addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    pub async fn recv(&self) -> (Vec<u8>, SocketAddr) {
        let mut buf = vec![0u8; 65_536];
        let (len, from) = tokio::time::timeout(STEP, self.socket.recv_from(&mut buf))
            .await
            .expect("peer received nothing in time")
            .unwrap();
        buf.truncate(len);
        (buf, from)
    }

    pub async fn send(&self, data: &[u8], to: SocketAddr) {
        self.socket.send_to(data, to).await.unwrap();
    }
}
