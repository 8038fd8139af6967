//! Test support: a fake driver that binds relay sockets in memory, a virtual clock, and a
//! tiny TURN client built with the stun crate.
// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use stun::attributes::{
    ErrorCode, Nonce, Realm, RequestedTransport, TransportProtocol, UnknownAttributes, Username,
    XorRelayedAddress,
};
use stun::{AttributeType, Class, Message, MessageType, MessageWriter, Method, TransactionId};
use turn::{
    AuthConfig, ClientTransmit, ConnectionId, FiveTuple, Output, PeerConnect, PeerTransmit,
    RelayBind, RelayBindError, RelayIp, ServerConfig, Transport, TurnServer,
};

pub const REALM: &str = "example.org";
pub const REST_SECRET: &str = "rest-shared-secret";
pub const UNIX_T0: u64 = 1_700_000_000;
pub const ALICE: (&str, &str) = ("alice", "alice-password");
pub const BOB: (&str, &str) = ("bob", "bob-password");

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The server's client-facing address (IPv4).
pub fn listen4() -> SocketAddr {
    addr("203.0.113.5:3478")
}

/// The server's client-facing address (IPv6).
pub fn listen6() -> SocketAddr {
    addr("[2001:db8::5]:3478")
}

/// A client 5-tuple over UDP from `client`.
pub fn udp(client: &str) -> FiveTuple {
    FiveTuple { transport: Transport::Udp, client: addr(client), server: listen4() }
}

/// A client 5-tuple over TCP from `client`.
pub fn tcp(client: &str) -> FiveTuple {
    FiveTuple { transport: Transport::Tcp, client: addr(client), server: listen4() }
}

/// Dual-stack relays (IPv4 behind a 1:1 NAT: bound on 10.0.0.5, public 203.0.113.5), two
/// static users, a REST secret.
pub fn config() -> ServerConfig {
    let mut config = ServerConfig::new(REALM);
    config.relay_ipv4 = Some(RelayIp {
        local: "10.0.0.5".parse().unwrap(),
        public: "203.0.113.5".parse().unwrap(),
    });
    config.relay_ipv6 = Some(RelayIp::new("2001:db8::5".parse().unwrap()));
    config.listening = vec![listen4(), listen6()];
    config.auth = AuthConfig::default()
        .with_user(ALICE.0, ALICE.1)
        .with_user(BOB.0, BOB.1)
        .with_rest_secret(REST_SECRET);
    config
}

/// How the fake driver answers bind requests.
#[derive(Debug, Default)]
pub struct FakeDriver {
    /// Sockets currently bound.
    pub bound: BTreeSet<SocketAddr>,
    /// Every bind request seen.
    pub binds: Vec<RelayBind>,
    /// Every close seen.
    pub closed: Vec<SocketAddr>,
    /// Answer this many upcoming binds with `AddressInUse`.
    pub fail_in_use: usize,
    /// Answer binds on IPv6 addresses with `Unavailable`.
    pub ipv6_unavailable: bool,
    /// Hold bind requests instead of answering (answer them with `answer_held`).
    pub hold: bool,
    pub held: VecDeque<RelayBind>,
    /// TCP connections to peers asked for (RFC 6062 Connect), not answered.
    pub connects: Vec<PeerConnect>,
    /// Client data connections bound to peer connections.
    pub bound_connections: Vec<(FiveTuple, ConnectionId)>,
    /// Peer connections closed.
    pub closed_connections: Vec<ConnectionId>,
}

/// A server, its fake driver, a virtual clock and everything sent.
pub struct Harness {
    pub server: TurnServer,
    pub now: Instant,
    pub driver: FakeDriver,
    pub to_client: Vec<ClientTransmit>,
    pub to_peer: Vec<PeerTransmit>,
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(config())
    }

    pub fn with_config(config: ServerConfig) -> Self {
        let now = Instant::now();
        let server = TurnServer::new(config, now, UNIX_T0, StdRng::seed_from_u64(42)).unwrap();
        Self {
            server,
            now,
            driver: FakeDriver::default(),
            to_client: Vec::new(),
            to_peer: Vec::new(),
        }
    }

    /// Drains the machine's outputs, answering bind requests like a driver would.
    pub fn pump(&mut self) {
        while let Some(output) = self.server.poll_output() {
            match output {
                Output::ToClient(t) => self.to_client.push(t),
                Output::ToPeer(t) => self.to_peer.push(t),
                Output::BindRelay(bind) => {
                    self.driver.binds.push(bind);
                    if self.driver.hold {
                        self.driver.held.push_back(bind);
                    } else {
                        self.answer(bind);
                    }
                }
                Output::CloseRelay(addr) => {
                    assert!(self.driver.bound.remove(&addr), "closing {addr}, never bound");
                    self.driver.closed.push(addr);
                }
                Output::ConnectPeer(connect) => self.driver.connects.push(connect),
                Output::BindConnection { client, id } => {
                    self.driver.bound_connections.push((client, id));
                }
                Output::CloseConnection(id) => self.driver.closed_connections.push(id),
                other => panic!("unexpected output {other:?}"),
            }
        }
    }

    fn answer(&mut self, bind: RelayBind) {
        let result = if self.driver.fail_in_use > 0 {
            self.driver.fail_in_use -= 1;
            Err(RelayBindError::AddressInUse)
        } else if self.driver.ipv6_unavailable && bind.addr.is_ipv6() {
            Err(RelayBindError::Unavailable)
        } else {
            assert!(self.driver.bound.insert(bind.addr), "{} bound twice", bind.addr);
            Ok(())
        };
        self.server.relay_bound(self.now, bind.request, result).unwrap();
    }

    /// Answers the held bind requests.
    pub fn answer_held(&mut self) {
        self.driver.hold = false;
        while let Some(bind) = self.driver.held.pop_front() {
            self.answer(bind);
        }
        self.pump();
    }

    /// Sends `data` from the client of `tuple`; returns what the server sent to that client.
    pub fn send(&mut self, tuple: FiveTuple, data: &[u8]) -> Vec<Vec<u8>> {
        self.server.handle_client(self.now, tuple.transport, tuple.client, tuple.server, data);
        self.pump();
        self.take_client(tuple)
    }

    /// Takes what was sent to the client of `tuple`.
    pub fn take_client(&mut self, tuple: FiveTuple) -> Vec<Vec<u8>> {
        let (mine, others): (Vec<_>, Vec<_>) =
            self.to_client.drain(..).partition(|t| t.five_tuple() == tuple);
        self.to_client = others;
        mine.into_iter().map(|t| t.data).collect()
    }

    /// Takes what was relayed to peers.
    pub fn take_peer(&mut self) -> Vec<PeerTransmit> {
        std::mem::take(&mut self.to_peer)
    }

    /// A datagram from `peer` on the relay socket `relay` (local address).
    pub fn peer_sends(&mut self, relay: SocketAddr, peer: SocketAddr, data: &[u8]) {
        self.server.handle_peer(self.now, relay, peer, data);
        self.pump();
    }

    /// Moves the virtual clock and fires the timers.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.server.handle_timeout(self.now);
        self.pump();
    }

    /// Moves the clock to `at` and fires the timers.
    pub fn advance_to(&mut self, at: Instant) {
        assert!(at >= self.now);
        self.now = at;
        self.server.handle_timeout(self.now);
        self.pump();
    }

    /// The local relay socket of an allocation (the one whose family matches `ipv4`).
    pub fn relay_socket(&self, tuple: &FiveTuple, ipv4: bool) -> SocketAddr {
        let info = self.server.allocation(tuple).expect("allocation");
        *info.relay_sockets.iter().find(|a| a.is_ipv4() == ipv4).expect("relay of that family")
    }
}

/// Attributes a test adds to a request.
pub type Attrs<'a> = &'a dyn Fn(&mut MessageWriter<'_>) -> Result<(), stun::Error>;

pub fn no_attrs(_: &mut MessageWriter<'_>) -> Result<(), stun::Error> {
    Ok(())
}

pub fn udp_transport(w: &mut MessageWriter<'_>) -> Result<(), stun::Error> {
    w.add(&RequestedTransport(TransportProtocol::UDP))
}

/// A TURN client: its 5-tuple and long-term credentials, the REALM and NONCE it learned.
#[derive(Debug, Clone)]
pub struct TurnClient {
    pub tuple: FiveTuple,
    pub username: String,
    pub password: String,
    pub realm: Option<String>,
    pub nonce: Option<String>,
    pub fingerprint: bool,
    next_id: u32,
}

impl TurnClient {
    pub fn new(tuple: FiveTuple, username: &str, password: &str) -> Self {
        Self {
            tuple,
            username: username.into(),
            password: password.into(),
            realm: None,
            nonce: None,
            fingerprint: false,
            next_id: 0,
        }
    }

    pub fn key(&self) -> [u8; 16] {
        let realm = self.realm.as_deref().unwrap_or(REALM);
        stun::credentials::long_term_key_md5(&self.username, realm, &self.password).unwrap()
    }

    /// A fresh transaction ID, never seen before in this test process.
    pub fn transaction_id(&mut self) -> TransactionId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        self.next_id += 1;
        let mut id = [0u8; 12];
        id[..8].copy_from_slice(&NEXT.fetch_add(1, Ordering::Relaxed).to_be_bytes());
        id[8..12].copy_from_slice(&self.next_id.to_be_bytes());
        TransactionId(id)
    }

    /// A request; with credentials once a NONCE is known.
    pub fn request(&self, method: Method, id: TransactionId, attrs: Attrs<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = MessageWriter::new(&mut out, MessageType::new(method, Class::Request), id);
        attrs(&mut w).unwrap();
        if let (Some(realm), Some(nonce)) = (&self.realm, &self.nonce) {
            w.add(&Username(&self.username)).unwrap();
            w.add(&Realm(realm)).unwrap();
            w.add(&Nonce(nonce)).unwrap();
            w.add_message_integrity(&self.key()).unwrap();
        }
        if self.fingerprint {
            w.add_fingerprint().unwrap();
        }
        out
    }

    /// An indication (no credentials).
    pub fn indication(&mut self, method: Method, attrs: Attrs<'_>) -> Vec<u8> {
        let id = self.transaction_id();
        let mut out = Vec::new();
        let mut w = MessageWriter::new(&mut out, MessageType::new(method, Class::Indication), id);
        attrs(&mut w).unwrap();
        out
    }

    /// Learns REALM and NONCE from a 401 or 438.
    pub fn learn(&mut self, response: &[u8]) {
        let msg = Message::parse(response).unwrap();
        if let Ok(Some(Realm(realm))) = msg.get::<Realm<'_>>() {
            self.realm = Some(realm.to_owned());
        }
        if let Ok(Some(Nonce(nonce))) = msg.get::<Nonce<'_>>() {
            self.nonce = Some(nonce.to_owned());
        }
    }

    /// One request with the 401/438 dance; returns the final response, checked to carry a
    /// MESSAGE-INTEGRITY that verifies with the client's key (unless it is a 401).
    pub fn transact(&mut self, h: &mut Harness, method: Method, attrs: Attrs<'_>) -> Vec<u8> {
        for _ in 0..3 {
            let id = self.transaction_id();
            let request = self.request(method, id, attrs);
            let mut responses = h.send(self.tuple, &request);
            assert_eq!(responses.len(), 1, "one response expected to {method:?}");
            let response = responses.remove(0);
            let msg = Message::parse(&response).unwrap();
            assert_eq!(msg.transaction_id(), id);
            let code = error_code(&response);
            let retry = match code {
                Some(401) => self.nonce.is_none(),
                Some(438) => true,
                _ => false,
            };
            if retry {
                self.learn(&response);
                continue;
            }
            if code != Some(401) {
                msg.verify_message_integrity(&self.key()).expect("response integrity");
            }
            return response;
        }
        panic!("no final response after three attempts");
    }

    /// Allocate with REQUESTED-TRANSPORT UDP plus `attrs`.
    pub fn allocate(&mut self, h: &mut Harness, attrs: Attrs<'_>) -> Vec<u8> {
        let both = |w: &mut MessageWriter<'_>| {
            udp_transport(w)?;
            attrs(w)
        };
        self.transact(h, Method::ALLOCATE, &both)
    }

    /// A successful UDP Allocate; returns the relayed addresses.
    pub fn allocate_ok(&mut self, h: &mut Harness) -> Vec<SocketAddr> {
        let response = self.allocate(h, &no_attrs);
        assert_eq!(class(&response), Class::SuccessResponse, "{:?}", error_code(&response));
        relayed(&response)
    }
}

pub fn class(response: &[u8]) -> Class {
    Message::parse(response).unwrap().class()
}

pub fn error_code(response: &[u8]) -> Option<u16> {
    Message::parse(response).unwrap().get::<ErrorCode<'_>>().unwrap().map(|e| e.code)
}

pub fn relayed(response: &[u8]) -> Vec<SocketAddr> {
    Message::parse(response).unwrap().get_all::<XorRelayedAddress>().map(|a| a.unwrap().0).collect()
}

pub fn unknown_attributes(response: &[u8]) -> Vec<AttributeType> {
    let msg = Message::parse(response).unwrap();
    let list = msg.get::<UnknownAttributes<'_>>().unwrap().expect("UNKNOWN-ATTRIBUTES");
    list.iter().collect()
}

/// Distinct client addresses for the policy and quota tests.
pub fn client_n(n: u16) -> FiveTuple {
    FiveTuple {
        transport: Transport::Udp,
        client: SocketAddr::new("198.51.100.7".parse().unwrap(), 40_000 + n),
        server: listen4(),
    }
}

/// Set of addresses as a HashSet, for comparisons.
pub fn set(addrs: &[SocketAddr]) -> HashSet<SocketAddr> {
    addrs.iter().copied().collect()
}
