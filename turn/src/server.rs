//! The TURN server machine (RFC 8656): requests, allocations, permissions, channels and the
//! relay paths, driven by a driver that owns the sockets.
//!
//! # Relay sockets
//!
//! The machine chooses every relay port itself, uniformly at random in the configured range
//! from its `StdRng` (a CSPRNG the driver seeds from the OS: RFC 8656 §7.2 recommends
//! randomised ports, RFC 6056), even when EVEN-PORT asks, with the next port kept free when
//! the R bit asks. It then emits [`Output::BindRelay`] for exactly that address; the driver
//! binds a UDP socket there (a TCP listener for a TCP allocation, [`RelayBind::tcp`]) and
//! answers with [`TurnServer::relay_bound`]. An Allocate
//! waits for its sockets; `AddressInUse` makes the machine try another port (up to eight
//! times), anything else gives up on that family (508, or ADDRESS-ERROR-CODE for the
//! additional family of a dual allocation). When an allocation or reservation ends, the
//! machine emits [`Output::CloseRelay`]. A fake driver in memory answers the same way, which
//! is how the tests run.
//!
//! # Hot paths
//!
//! [`TurnServer::relay_from_client`] returns the datagram to send to the peer borrowed from
//! the client's input, and [`TurnServer::relay_from_peer`] writes the client's frame into the
//! caller's buffer: neither allocates. [`TurnServer::handle_client`] and
//! [`TurnServer::handle_peer`] do the same but queue copies on [`TurnServer::poll_output`],
//! for drivers and tests that prefer one queue.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, RngCore};
use stun::attributes::{
    AdditionalAddressFamily, AddressErrorCode, AddressFamily, ChannelNumber,
    ConnectionId as ConnectionIdAttr, Data, ErrorCode, EvenPort, Lifetime, Nonce, Realm,
    RequestedAddressFamily, RequestedTransport, ReservationToken, TransportProtocol, Username,
    XorMappedAddress, XorPeerAddress, XorRelayedAddress,
};
use stun::TransactionId;
use stun::{AttributeType, ChannelData, Class, Message, MessageType, MessageWriter, Method};
use tracing::{debug, info, trace, warn};

use crate::allocation::{Allocation, Relayed};
use crate::auth::{Key, Lookup};
use crate::bandwidth::TokenBucket;
use crate::frame::{self, CLIENT_FRAME_OVERHEAD};
use crate::nonce::NonceMinter;
use crate::policy::Refusal;
use crate::timers::{TimerKey, Timers};
use crate::{
    ClientFrame, ClientTransmit, ConnectionId, Error, FiveTuple, Output, PeerConnect, PeerDatagram,
    PeerTransmit, RelayBind, RelayBindError, RelayIp, RelayRequestId, ServerConfig, Transport,
    TurnStats,
};

/// The most an unauthenticated response (Binding success, 401, 400 before authentication,
/// 420 to a Binding request) may exceed its request by, in bytes; larger ones are not sent
/// and are counted in [`TurnStats::amplification_suppressed`]. The largest such response
/// is a 401 with a 64-byte REALM, a 40-character NONCE and ERROR-CODE: 156 bytes for a
/// 20-byte request (164 with FINGERPRINT, for a request of at least 28), 136 bytes of
/// growth, so with a valid configuration nothing is ever suppressed.
pub const MAX_UNAUTHENTICATED_GROWTH: usize = 160;

/// Ports tried for one relay socket before the Allocate fails with 508.
const MAX_BIND_ATTEMPTS: u8 = 8;

/// Random draws before the port search falls back to a scan of the range.
const PORT_DRAWS: usize = 64;

/// RFC 6062 §5.2 and §5.3: a peer connection must be established within 30 seconds of a
/// Connect, and bound by a ConnectionBind within 30 seconds of being established, or it is
/// closed (447 for a Connect still waiting).
pub const TCP_CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a TCP peer connection (RFC 6062) stands.
#[derive(Clone, Copy, Debug)]
enum ConnState {
    /// A Connect waits for the driver's outgoing connection.
    Connecting { reply: ReplyTo, auth: ResponseAuth },
    /// Established; waits for a ConnectionBind.
    Pending,
    /// Bound to this client data connection.
    Bound(FiveTuple),
}

/// One TCP connection between a TCP allocation's relayed address and a peer.
#[derive(Clone, Copy, Debug)]
struct TcpConnection {
    /// The allocation's 5-tuple (its control connection).
    allocation: FiveTuple,
    peer: SocketAddr,
    state: ConnState,
    /// Until when it may stay Connecting or Pending.
    deadline: Instant,
}

/// Where a response goes and what it answers.
#[derive(Clone, Copy, Debug)]
struct ReplyTo {
    tuple: FiveTuple,
    method: Method,
    transaction_id: TransactionId,
    /// The request carried FINGERPRINT, so the response does too.
    fingerprint: bool,
    request_len: usize,
}

/// How a response to an authenticated request is protected: the request's key and the
/// integrity attributes it used.
#[derive(Clone, Copy)]
struct ResponseAuth {
    key: Key,
    sha1: bool,
    sha256: bool,
}

impl std::fmt::Debug for ResponseAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseAuth")
            .field("sha1", &self.sha1)
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

/// A request that passed the long-term credential checks.
#[derive(Debug)]
struct Authenticated {
    username: String,
    auth: ResponseAuth,
}

/// Unix time, derived from the monotonic `now` and an anchor the driver sets.
#[derive(Clone, Copy, Debug)]
struct WallClock {
    anchor: Instant,
    unix_at_anchor: u64,
}

impl WallClock {
    fn unix(&self, now: Instant) -> u64 {
        match now.checked_duration_since(self.anchor) {
            Some(ahead) => self.unix_at_anchor.saturating_add(ahead.as_secs()),
            None => self.unix_at_anchor.saturating_sub(self.anchor.duration_since(now).as_secs()),
        }
    }
}

/// The last response to an authenticated request on a 5-tuple.
#[derive(Debug)]
struct CachedResponse {
    method: Method,
    transaction_id: TransactionId,
    response: Vec<u8>,
    expires: Instant,
    /// Time of the live timer entry.
    timer: Instant,
}

/// A port held by EVEN-PORT's R bit until a RESERVATION-TOKEN claims it.
#[derive(Clone, Copy, Debug)]
struct Reservation {
    relayed: Relayed,
    expires: Instant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotState {
    /// Waiting for the relay socket.
    Binding(RelayRequestId),
    /// The relay socket is bound; waiting for the reserved next port.
    BindingReserve(RelayRequestId),
    Bound,
    Failed,
}

/// One relay socket an Allocate waits for.
#[derive(Clone, Copy, Debug)]
struct Slot {
    relay_ip: RelayIp,
    even: bool,
    /// Also bind port + 1 and hand out a RESERVATION-TOKEN for it.
    reserve: bool,
    port: u16,
    attempts: u8,
    state: SlotState,
}

impl Slot {
    fn local(&self) -> SocketAddr {
        SocketAddr::new(self.relay_ip.local, self.port)
    }

    fn relayed(&self) -> Relayed {
        Relayed { local: self.local(), public: SocketAddr::new(self.relay_ip.public, self.port) }
    }

    /// The reserved next port (`port + 1` exists: `pick_port` checks it).
    fn reserved(&self) -> Relayed {
        let port = self.port.saturating_add(1);
        Relayed {
            local: SocketAddr::new(self.relay_ip.local, port),
            public: SocketAddr::new(self.relay_ip.public, port),
        }
    }

    fn finished(&self) -> bool {
        matches!(self.state, SlotState::Bound | SlotState::Failed)
    }
}

/// An Allocate that passed every check and waits for its relay sockets.
#[derive(Debug)]
struct PendingAllocation {
    reply: ReplyTo,
    auth: ResponseAuth,
    username: String,
    lifetime: Duration,
    dont_fragment: bool,
    /// A TCP allocation (RFC 6062).
    tcp: bool,
    /// The requested family first, then the additional (IPv6) one.
    slots: Vec<Slot>,
    /// The additional family already known to fail (no IPv6 relay address, no free port).
    address_error: Option<(AddressFamily, u16)>,
}

#[derive(Clone, Copy, Debug)]
struct PendingBind {
    tuple: FiveTuple,
    addr: SocketAddr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Removal {
    Expired,
    Deleted,
}

/// Why a peer address is not acceptable in CreatePermission or ChannelBind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PeerError {
    /// 443: no relayed address of the peer's family.
    FamilyMismatch,
    /// 403: refused by the policy, or one of the server's own addresses.
    Forbidden(&'static str),
}

/// A read-only view of one allocation, for operators and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AllocationInfo {
    /// The username that created it.
    pub username: String,
    /// The relayed transport addresses as clients see them (XOR-RELAYED-ADDRESS).
    pub relayed: Vec<SocketAddr>,
    /// The local addresses of its relay sockets.
    pub relay_sockets: Vec<SocketAddr>,
    /// When it expires unless refreshed.
    pub expires: Instant,
    /// Permissions held (expired ones are forgotten at the next `handle_timeout`).
    pub permissions: usize,
    /// Channels bound (same).
    pub channels: usize,
}

/// The TURN server: every allocation of every client, as one sans-IO machine.
///
/// Inputs: [`handle_client`](Self::handle_client) / [`relay_from_client`](Self::relay_from_client)
/// for what clients send, [`handle_peer`](Self::handle_peer) /
/// [`relay_from_peer`](Self::relay_from_peer) for what arrives on relay sockets,
/// [`relay_bound`](Self::relay_bound) to answer [`Output::BindRelay`],
/// [`client_closed`](Self::client_closed) when a TCP/TLS connection ends, and
/// [`handle_timeout`](Self::handle_timeout) at [`poll_timeout`](Self::poll_timeout). After
/// each call, drain [`poll_output`](Self::poll_output).
#[derive(Debug)]
pub struct TurnServer {
    config: ServerConfig,
    rng: StdRng,
    wall: WallClock,
    nonces: NonceMinter,
    allocations: HashMap<FiveTuple, Allocation>,
    /// Local relay address → the allocation that owns it.
    relays: HashMap<SocketAddr, FiveTuple>,
    pending: HashMap<FiveTuple, PendingAllocation>,
    binds: HashMap<RelayRequestId, PendingBind>,
    reservations: HashMap<[u8; 8], Reservation>,
    /// Local relay addresses bound, being bound, or reserved.
    ports: HashSet<SocketAddr>,
    /// Allocations (pending ones included) per username.
    users: HashMap<String, usize>,
    cache: HashMap<FiveTuple, CachedResponse>,
    cache_capacity: usize,
    timers: Timers,
    outputs: VecDeque<Output>,
    stats: TurnStats,
    next_request: u64,
    /// The server's own IPs (relay and listening, IPv4-mapped ones as IPv4).
    own_ips: Vec<IpAddr>,
    /// TCP peer connections of TCP allocations (RFC 6062), by CONNECTION-ID.
    connections: HashMap<u32, TcpConnection>,
}

impl TurnServer {
    /// A server with `config` (validated here). `now` and `unix_time` (seconds since the
    /// Unix epoch at `now`) anchor the wall clock used for REST credential expiry and
    /// nonces; the driver may re-anchor with [`set_wall_clock`](Self::set_wall_clock). `rng`
    /// draws relay ports, reservation tokens, the nonce key and the transaction IDs of Data
    /// indications: seed it from the OS in production (`StdRng::from_entropy()`), from a
    /// constant in tests.
    pub fn new(
        config: ServerConfig,
        now: Instant,
        unix_time: u64,
        mut rng: StdRng,
    ) -> Result<Self, Error> {
        config.validate()?;
        let mut nonce_key = [0u8; 32];
        rng.fill_bytes(&mut nonce_key);
        let nonces = NonceMinter::new(nonce_key, config.nonce_lifetime.as_secs());
        let mut own_ips: Vec<IpAddr> = [config.relay_ipv4, config.relay_ipv6]
            .into_iter()
            .flatten()
            .flat_map(|r| [r.local, r.public])
            .chain(config.listening.iter().map(SocketAddr::ip))
            .filter(|ip| !ip.is_unspecified())
            .map(canonical)
            .collect();
        own_ips.sort_unstable();
        own_ips.dedup();
        let cache_capacity = config.max_allocations.saturating_mul(2).max(1_024);
        info!(realm = %config.realm, relay_ipv4 = ?config.relay_ipv4, relay_ipv6 = ?config.relay_ipv6, "TURN server ready");
        Ok(Self {
            config,
            rng,
            wall: WallClock { anchor: now, unix_at_anchor: unix_time },
            nonces,
            allocations: HashMap::new(),
            relays: HashMap::new(),
            pending: HashMap::new(),
            binds: HashMap::new(),
            reservations: HashMap::new(),
            ports: HashSet::new(),
            users: HashMap::new(),
            cache: HashMap::new(),
            cache_capacity,
            timers: Timers::default(),
            outputs: VecDeque::new(),
            stats: TurnStats::default(),
            next_request: 0,
            own_ips,
            connections: HashMap::new(),
        })
    }

    /// Re-anchors the wall clock: `unix_time` is the Unix time in seconds at `now`.
    pub fn set_wall_clock(&mut self, now: Instant, unix_time: u64) {
        self.wall = WallClock { anchor: now, unix_at_anchor: unix_time };
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Counters since start.
    pub fn stats(&self) -> &TurnStats {
        &self.stats
    }

    /// Allocations in place (not counting those waiting for relay sockets).
    pub fn allocation_count(&self) -> usize {
        self.allocations.len()
    }

    /// The allocation of a 5-tuple.
    pub fn allocation(&self, five_tuple: &FiveTuple) -> Option<AllocationInfo> {
        let a = self.allocations.get(five_tuple)?;
        Some(AllocationInfo {
            username: a.username.clone(),
            relayed: a.relays.iter().map(|r| r.public).collect(),
            relay_sockets: a.relays.iter().map(|r| r.local).collect(),
            expires: a.expires,
            permissions: a.permissions.len(),
            channels: a.channels.len(),
        })
    }

    /// The next thing for the driver to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next (it may be early).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Expires allocations, permissions, channels, reservations and cached responses.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, key)) = self.timers.pop_due(now) {
            match key {
                TimerKey::Allocation(tuple) => {
                    let Some(alloc) = self.allocations.get_mut(&tuple) else { continue };
                    if alloc.timer != at {
                        continue; // stale entry: a newer one exists
                    }
                    if alloc.expires <= now {
                        self.remove_allocation(tuple, Removal::Expired);
                        continue;
                    }
                    alloc.purge(now);
                    let next = alloc.next_deadline();
                    alloc.timer = next;
                    self.timers.push(next, key);
                }
                TimerKey::Response(tuple) => {
                    let Some(cached) = self.cache.get_mut(&tuple) else { continue };
                    if cached.timer != at {
                        continue;
                    }
                    if cached.expires <= now {
                        self.cache.remove(&tuple);
                    } else {
                        cached.timer = cached.expires;
                        self.timers.push(cached.expires, key);
                    }
                }
                TimerKey::Connection(id) => self.connection_timer(now, id),
                TimerKey::Reservation(token) => {
                    if self.reservations.get(&token).is_some_and(|r| r.expires <= now) {
                        if let Some(reservation) = self.reservations.remove(&token) {
                            debug!(relay = %reservation.relayed.local, "reservation expired");
                            self.release(reservation.relayed.local);
                        }
                    }
                }
            }
        }
    }

    /// A STUN message or ChannelData frame from a client: one UDP datagram, or one frame cut
    /// from a TCP/TLS stream with [`stun::peek_frame`]. Responses and relay-socket requests
    /// are queued; relayed data is queued as [`Output::ToPeer`] (a copy). Use
    /// [`relay_from_client`](Self::relay_from_client) to relay without copying.
    pub fn handle_client(
        &mut self,
        now: Instant,
        transport: Transport,
        client: SocketAddr,
        server: SocketAddr,
        data: &[u8],
    ) {
        if let Some(datagram) = self.relay_from_client(now, transport, client, server, data) {
            self.outputs.push_back(Output::ToPeer(PeerTransmit {
                relay: datagram.relay,
                peer: datagram.peer,
                data: datagram.data.to_vec(),
            }));
        }
    }

    /// Like [`handle_client`](Self::handle_client), but relayed data (ChannelData, or a Send
    /// indication that passes the checks) is returned, borrowed from `data`, for the driver
    /// to send right away: nothing is allocated or copied. Everything else is queued.
    pub fn relay_from_client<'a>(
        &mut self,
        now: Instant,
        transport: Transport,
        client: SocketAddr,
        server: SocketAddr,
        data: &'a [u8],
    ) -> Option<PeerDatagram<'a>> {
        let tuple = FiveTuple { transport, client, server };
        // RFC 7983 / RFC 8656 §12: the first two bits tell STUN (0b00) from ChannelData (0b01).
        match data.first().map(|b| b >> 6) {
            Some(0b00) => self.stun_from_client(now, tuple, data),
            Some(0b01) => self.channel_data_from_client(now, tuple, data),
            _ => {
                self.stats.malformed_dropped += 1;
                trace!(%tuple, "dropped: neither STUN nor ChannelData");
                None
            }
        }
    }

    /// A datagram that arrived on the relay socket bound at `relay` from `peer`. The frame
    /// for the client is queued as [`Output::ToClient`]. Use
    /// [`relay_from_peer`](Self::relay_from_peer) to write it into a reused buffer instead.
    pub fn handle_peer(&mut self, now: Instant, relay: SocketAddr, peer: SocketAddr, data: &[u8]) {
        let mut out = vec![0u8; data.len() + CLIENT_FRAME_OVERHEAD];
        if let Some(frame) = self.relay_from_peer(now, relay, peer, data, &mut out) {
            out.truncate(frame.len);
            self.outputs.push_back(Output::ToClient(ClientTransmit {
                transport: frame.transport,
                client: frame.client,
                server: frame.server,
                data: out,
            }));
        }
    }

    /// Relays a peer's datagram: if the allocation owning `relay` has a permission for the
    /// peer's IP, writes a ChannelData frame (a channel is bound to the peer) or a Data
    /// indication into `out` and says where to send `out[..len]`. Nothing is allocated; `out`
    /// needs `data.len() + CLIENT_FRAME_OVERHEAD` bytes. Dropped datagrams (no allocation or
    /// permission, over the bandwidth limit, too long) are counted in the stats.
    pub fn relay_from_peer(
        &mut self,
        now: Instant,
        relay: SocketAddr,
        peer: SocketAddr,
        data: &[u8],
        out: &mut [u8],
    ) -> Option<ClientFrame> {
        let Some(&tuple) = self.relays.get(&relay) else {
            self.stats.no_allocation_dropped += 1;
            trace!(%relay, %peer, "dropped peer data: no allocation on this relay address");
            return None;
        };
        let alloc = self.allocations.get_mut(&tuple)?;
        // RFC 8656 §11.3: without a permission for the peer's IP, the datagram is discarded.
        if !alloc.permits(peer.ip(), now) {
            self.stats.no_permission_dropped += 1;
            trace!(%relay, %peer, "dropped peer data: no permission");
            return None;
        }
        let framing = tuple.transport.framing();
        let channel = alloc.channel_of(peer, now);
        let len = match channel {
            Some(_) => frame::channel_data_len(data.len(), framing),
            None => frame::data_indication_len(&peer, data.len()),
        };
        if len.is_none_or(|len| len > out.len()) {
            self.stats.oversize_dropped += 1;
            return None;
        }
        if let Some(bucket) = &mut alloc.bucket {
            if !bucket.admit(now, data.len()) {
                self.stats.bandwidth_dropped_packets += 1;
                self.stats.bandwidth_dropped_bytes += data.len() as u64;
                return None;
            }
        }
        let written = match channel {
            // RFC 8656 §12.7: a channel bound to the peer carries the data as ChannelData;
            // otherwise §11.3 wraps it in a Data indication.
            Some(channel) => frame::write_channel_data(channel, data, framing, out),
            None => {
                let mut transaction_id = [0u8; 12];
                self.rng.fill_bytes(&mut transaction_id);
                frame::write_data_indication(transaction_id, peer, data, out)
            }
        };
        let Some(len) = written else {
            self.stats.oversize_dropped += 1;
            return None;
        };
        self.stats.peer_to_client_packets += 1;
        self.stats.peer_to_client_bytes += data.len() as u64;
        trace!(%tuple, %peer, bytes = data.len(), channel, "peer -> client");
        Some(ClientFrame {
            transport: tuple.transport,
            client: tuple.client,
            server: tuple.server,
            len,
        })
    }

    /// The driver's answer to [`Output::BindRelay`]. Fails only for an id that is not waiting
    /// (a driver bug).
    pub fn relay_bound(
        &mut self,
        now: Instant,
        request: RelayRequestId,
        result: Result<(), RelayBindError>,
    ) -> Result<(), Error> {
        let bind = self.binds.remove(&request).ok_or(Error::UnknownRelayRequest)?;
        let Some(mut pending) = self.pending.remove(&bind.tuple) else {
            // The Allocate was abandoned (its client went away): give the socket back.
            self.ports.remove(&bind.addr);
            if result.is_ok() {
                self.outputs.push_back(Output::CloseRelay(bind.addr));
            }
            return Ok(());
        };
        let dont_fragment = pending.dont_fragment;
        let tcp = pending.tcp;
        let tuple = bind.tuple;
        let slot_index = pending.slots.iter().position(|s| {
            s.state == SlotState::Binding(request) || s.state == SlotState::BindingReserve(request)
        });
        if let Some(slot) = slot_index.and_then(|i| pending.slots.get_mut(i)) {
            match (slot.state, result) {
                (SlotState::Binding(_), Ok(())) if slot.reserve => {
                    // RFC 8656 §7.2: with the R bit, the next-higher port is reserved too.
                    let id = self.request_bind(tuple, slot.reserved().local, dont_fragment, tcp);
                    slot.state = SlotState::BindingReserve(id);
                }
                (_, Ok(())) => slot.state = SlotState::Bound,
                (state, Err(error)) => {
                    self.ports.remove(&slot.local());
                    if slot.reserve {
                        self.ports.remove(&slot.reserved().local);
                    }
                    if matches!(state, SlotState::BindingReserve(_)) {
                        // The relay port itself was bound: close it and look for a new pair.
                        self.outputs.push_back(Output::CloseRelay(slot.local()));
                    }
                    debug!(%tuple, addr = %bind.addr, ?error, attempts = slot.attempts, "relay bind failed");
                    let retry = error == RelayBindError::AddressInUse
                        && slot.attempts + 1 < MAX_BIND_ATTEMPTS;
                    let port = if retry {
                        self.pick_port(slot.relay_ip.local, slot.even, slot.reserve)
                    } else {
                        None
                    };
                    match port {
                        Some(port) => {
                            slot.port = port;
                            slot.attempts += 1;
                            let id = self.request_bind(tuple, slot.local(), dont_fragment, tcp);
                            slot.state = SlotState::Binding(id);
                        }
                        None => slot.state = SlotState::Failed,
                    }
                }
            }
        }
        if pending.slots.iter().all(Slot::finished) {
            self.complete_allocation(now, tuple, pending);
        } else {
            self.pending.insert(tuple, pending);
        }
        Ok(())
    }

    /// The TCP or TLS connection of `five_tuple` closed: its allocation is deleted (the
    /// 5-tuple that names it is gone) and an Allocate waiting for relay sockets is abandoned.
    pub fn client_closed(&mut self, five_tuple: FiveTuple) {
        if let Some(pending) = self.pending.remove(&five_tuple) {
            self.abandon(pending);
        }
        if self.allocations.contains_key(&five_tuple) {
            self.remove_allocation(five_tuple, Removal::Deleted);
        }
        let bound: Vec<u32> = self
            .connections
            .iter()
            .filter(|(_, c)| matches!(c.state, ConnState::Bound(t) if t == five_tuple))
            .map(|(&id, _)| id)
            .collect();
        for id in bound {
            self.connections.remove(&id);
            self.outputs.push_back(Output::CloseConnection(ConnectionId(id)));
        }
        self.cache.remove(&five_tuple);
    }

    /// The driver's answer to [`Output::ConnectPeer`]: whether the TCP connection to the
    /// peer was established. Answers the Connect (CONNECTION-ID, or 447 Connection Timeout
    /// or Failure). Returns whether the driver should keep the connection: false when the
    /// Connect was already given up (its allocation is gone, or it timed out), in which
    /// case the driver closes it.
    pub fn peer_connect_result(&mut self, now: Instant, id: ConnectionId, ok: bool) -> bool {
        let Some(conn) = self.connections.get_mut(&id.0) else { return false };
        let ConnState::Connecting { reply, auth } = conn.state else { return false };
        if ok {
            conn.state = ConnState::Pending;
            conn.deadline = now + TCP_CONNECTION_TIMEOUT;
            let deadline = conn.deadline;
            self.timers.push(deadline, TimerKey::Connection(id.0));
            self.stats.tcp_connections_opened += 1;
            debug!(tuple = %reply.tuple, peer = %conn.peer, id = id.0, "peer connection established");
            self.reply_success(now, reply, Some(&auth), |w| w.add(&ConnectionIdAttr(id.0)));
        } else {
            self.connections.remove(&id.0);
            self.stats.tcp_connect_failures += 1;
            self.reply_error(now, reply, Some(&auth), 447, |_| Ok(()));
        }
        ok
    }

    /// A peer connected in to the TCP relay listening on `relay` (RFC 6062 §5.3). If the
    /// allocation there has a permission for the peer's IP, the connection gets an id, the
    /// client is told with a ConnectionAttempt indication, and the driver keeps the stream
    /// under that id until [`Output::BindConnection`] or [`Output::CloseConnection`].
    /// `None`: refused, close it.
    pub fn peer_connection_incoming(
        &mut self,
        now: Instant,
        relay: SocketAddr,
        peer: SocketAddr,
    ) -> Option<ConnectionId> {
        let refuse = |stats: &mut TurnStats, why: &str| {
            stats.tcp_connections_refused += 1;
            debug!(%relay, %peer, why, "incoming peer connection refused");
            None
        };
        let Some(&tuple) = self.relays.get(&relay) else {
            return refuse(&mut self.stats, "no allocation");
        };
        let Some(alloc) = self.allocations.get(&tuple) else {
            return refuse(&mut self.stats, "no allocation");
        };
        if !alloc.tcp {
            return refuse(&mut self.stats, "not a TCP allocation");
        }
        // "If there is no permission [...] the server MUST close the connection".
        if !alloc.permits(peer.ip(), now) {
            return refuse(&mut self.stats, "no permission");
        }
        if self.connections_of(tuple) >= self.config.max_permissions_per_allocation {
            return refuse(&mut self.stats, "connection limit");
        }
        let id = self.new_connection_id();
        let deadline = now + TCP_CONNECTION_TIMEOUT;
        self.connections.insert(
            id,
            TcpConnection { allocation: tuple, peer, state: ConnState::Pending, deadline },
        );
        self.timers.push(deadline, TimerKey::Connection(id));
        self.stats.tcp_connections_opened += 1;
        // RFC 6062 §5.3: "the server MUST send a ConnectionAttempt indication to the client
        // [...] It MUST include the XOR-PEER-ADDRESS attribute containing the peer's
        // transport address, as well as the CONNECTION-ID attribute".
        let mut buf = Vec::with_capacity(48);
        let mut transaction_id = [0u8; 12];
        self.rng.fill_bytes(&mut transaction_id);
        let mut w = MessageWriter::new(
            &mut buf,
            MessageType::new(Method::CONNECTION_ATTEMPT, Class::Indication),
            TransactionId(transaction_id),
        );
        if let Err(error) = w.add(&XorPeerAddress(peer)).and_then(|()| w.add(&ConnectionIdAttr(id)))
        {
            warn!(%error, "could not encode a ConnectionAttempt");
        }
        debug!(%tuple, %peer, id, "incoming peer connection");
        self.push_to_client(tuple, buf);
        Some(ConnectionId(id))
    }

    /// The peer connection `id` (or its data connection) ended: the machine forgets it.
    pub fn peer_connection_closed(&mut self, id: ConnectionId) {
        if self.connections.remove(&id.0).is_some() {
            trace!(id = id.0, "peer connection closed");
        }
    }

    /// Admits `bytes` read from one side of the bound TCP connection `id` (`to_peer`: read
    /// from the client's data connection) against the allocation's bandwidth limit, the
    /// same bucket its UDP relaying would use. `Err(wait)`: over the limit; the driver holds
    /// the bytes (and stops reading that side) for `wait`, then asks again. TCP data is
    /// delayed, never dropped. Counted in the relayed byte counters.
    pub fn admit_tcp_data(
        &mut self,
        now: Instant,
        id: ConnectionId,
        bytes: usize,
        to_peer: bool,
    ) -> Result<(), Duration> {
        let Some(conn) = self.connections.get(&id.0) else { return Ok(()) };
        if let Some(bucket) =
            self.allocations.get_mut(&conn.allocation).and_then(|a| a.bucket.as_mut())
        {
            if !bucket.admit(now, bytes) {
                return Err(bucket.wait(now, bytes).max(Duration::from_millis(1)));
            }
        }
        if to_peer {
            self.stats.client_to_peer_bytes += bytes as u64;
        } else {
            self.stats.peer_to_client_bytes += bytes as u64;
        }
        Ok(())
    }

    /// TCP peer connections in place (connecting, waiting for a bind, or bound).
    pub fn tcp_connection_count(&self) -> usize {
        self.connections.len()
    }

    // ---- client input ----

    fn stun_from_client<'a>(
        &mut self,
        now: Instant,
        tuple: FiveTuple,
        data: &'a [u8],
    ) -> Option<PeerDatagram<'a>> {
        let msg = match Message::parse(data) {
            Ok(msg) => msg,
            Err(error) => {
                self.stats.malformed_dropped += 1;
                trace!(%tuple, %error, "dropped: malformed STUN");
                return None;
            }
        };
        // RFC 8489 §6.3: a FINGERPRINT that does not verify means the message is discarded.
        if msg.has_fingerprint() && msg.verify_fingerprint().is_err() {
            self.stats.malformed_dropped += 1;
            trace!(%tuple, "dropped: FINGERPRINT does not verify");
            return None;
        }
        let message_type = msg.message_type();
        match message_type.class {
            Class::Request => {
                self.handle_request(now, tuple, &msg);
                None
            }
            Class::Indication if message_type.method == Method::SEND => {
                self.send_indication(now, tuple, &msg)
            }
            // Binding indications are keepalives; responses and other indications mean
            // nothing to a server (RFC 8489 §6.3.2, §6.3.3).
            _ => {
                self.stats.ignored_messages += 1;
                trace!(%tuple, ?message_type, "ignored");
                None
            }
        }
    }

    fn handle_request(&mut self, now: Instant, tuple: FiveTuple, msg: &Message<'_>) {
        let reply = ReplyTo {
            tuple,
            method: msg.method(),
            transaction_id: msg.transaction_id(),
            fingerprint: msg.has_fingerprint(),
            request_len: msg.as_bytes().len(),
        };
        match reply.method {
            Method::BINDING => return self.binding(now, msg, reply),
            Method::ALLOCATE => self.stats.allocate_requests += 1,
            Method::REFRESH => self.stats.refresh_requests += 1,
            Method::CREATE_PERMISSION => self.stats.create_permission_requests += 1,
            Method::CHANNEL_BIND => self.stats.channel_bind_requests += 1,
            Method::CONNECT => self.stats.connect_requests += 1,
            Method::CONNECTION_BIND => self.stats.connection_bind_requests += 1,
            method => {
                // Send and Data are indications only, ConnectionAttempt is the server's;
                // anything else is unknown: a request the server cannot process gets 400
                // (Bad Request).
                trace!(%tuple, ?method, "request with an unsupported method");
                return self.reply_error(now, reply, None, 400, |_| Ok(()));
            }
        }
        // A retransmission gets the very same response, so that a retransmitted Allocate is
        // not answered with 437 nor a retransmitted Refresh with LIFETIME 0 with 437; a
        // retransmitted Allocate still waiting for its sockets gets nothing now (the response
        // comes when they are bound).
        if let Some(cached) = self.cache.get(&tuple) {
            if cached.transaction_id == reply.transaction_id && cached.method == reply.method {
                self.stats.retransmissions += 1;
                let data = cached.response.clone();
                self.push_to_client(tuple, data);
                return;
            }
        }
        if reply.method == Method::ALLOCATE
            && self
                .pending
                .get(&tuple)
                .is_some_and(|p| p.reply.transaction_id == reply.transaction_id)
        {
            self.stats.retransmissions += 1;
            return;
        }
        let Some(user) = self.authenticate(now, msg, reply) else { return };
        // RFC 8489 §6.3.1: after authentication, unknown comprehension-required attributes
        // are answered with 420 and UNKNOWN-ATTRIBUTES. An unsupported DONT-FRAGMENT counts
        // as unknown (RFC 8656 §7.2 step 4).
        let dont_fragment = self.config.dont_fragment;
        let known = move |t| is_known(t, dont_fragment);
        if msg.unknown_comprehension_required(known).next().is_some() {
            let unknown = msg.unknown_comprehension_required(known);
            return self.reply_error(now, reply, Some(&user.auth), 420, |w| {
                w.add_unknown_attributes(unknown)
            });
        }
        match reply.method {
            Method::ALLOCATE => self.allocate(now, msg, reply, user),
            Method::REFRESH => self.refresh(now, msg, reply, user),
            Method::CREATE_PERMISSION => self.create_permission(now, msg, reply, user),
            Method::CONNECT => self.connect(now, msg, reply, user),
            Method::CONNECTION_BIND => self.connection_bind(now, msg, reply, user),
            _ => self.channel_bind(now, msg, reply, user),
        }
    }

    /// RFC 8489 §9.2.4, the server side of the long-term credential mechanism.
    fn authenticate(
        &mut self,
        now: Instant,
        msg: &Message<'_>,
        reply: ReplyTo,
    ) -> Option<Authenticated> {
        let unix = self.wall.unix(now);
        // "If the message does not contain a MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256
        // attribute, the server MUST generate an error response with an error code of 401
        // (Unauthenticated). This response MUST include a REALM value [...] MUST include a
        // NONCE".
        if !msg.has_message_integrity() && !msg.has_message_integrity_sha256() {
            self.stats.challenges += 1;
            self.challenge(now, reply, unix);
            return None;
        }
        // "If the message contains a MESSAGE-INTEGRITY or a MESSAGE-INTEGRITY-SHA256
        // attribute, but is missing either the USERNAME or USERHASH, REALM, or NONCE
        // attribute, the server MUST generate an error response with an error code of 400
        // (Bad Request). This response SHOULD NOT include a USERNAME, USERHASH, NONCE, or
        // REALM attribute." USERHASH is not supported, so it counts as missing.
        let (Ok(Some(Username(username))), Ok(Some(Realm(_))), Ok(Some(Nonce(nonce)))) =
            (msg.get::<Username<'_>>(), msg.get::<Realm<'_>>(), msg.get::<Nonce<'_>>())
        else {
            self.reply_error(now, reply, None, 400, |_| Ok(()));
            return None;
        };
        let keys = match self.config.auth.lookup(username, &self.config.realm, unix) {
            Lookup::Keys(keys) => keys,
            Lookup::Expired => {
                // An expired TURN REST credential is an invalid USERNAME: 401.
                self.stats.expired_credentials += 1;
                debug!(tuple = %reply.tuple, username, "expired REST credential");
                self.challenge(now, reply, unix);
                return None;
            }
            Lookup::Unknown => {
                self.stats.auth_failures += 1;
                debug!(tuple = %reply.tuple, username, "unknown username");
                self.challenge(now, reply, unix);
                return None;
            }
        };
        // The HMAC is compared in constant time by the stun crate.
        let Some(key) = keys.into_iter().find(|key| integrity_verifies(msg, key)) else {
            self.stats.auth_failures += 1;
            debug!(tuple = %reply.tuple, username, "MESSAGE-INTEGRITY does not verify");
            self.challenge(now, reply, unix);
            return None;
        };
        let auth = ResponseAuth {
            key,
            sha1: msg.has_message_integrity(),
            sha256: msg.has_message_integrity_sha256(),
        };
        // "If the NONCE is no longer valid, the server MUST generate an error response with
        // an error code of 438 (Stale Nonce). This response MUST include NONCE, REALM [...]
        // The response MAY include a MESSAGE-INTEGRITY [...] attribute, using the previous
        // key".
        if !self.nonces.is_valid(nonce, unix, reply.tuple.transport, reply.tuple.client) {
            self.stats.stale_nonces += 1;
            trace!(tuple = %reply.tuple, "stale nonce");
            let fresh = self.nonces.mint(unix, reply.tuple.transport, reply.tuple.client);
            let realm = self.config.realm.clone();
            self.reply_error(now, reply, Some(&auth), 438, |w| {
                w.add(&Realm(&realm))?;
                w.add(&Nonce(fresh.as_str()))
            });
            return None;
        }
        Some(Authenticated { username: username.to_owned(), auth })
    }

    /// 401 with REALM and a fresh NONCE.
    fn challenge(&mut self, now: Instant, reply: ReplyTo, unix: u64) {
        let nonce = self.nonces.mint(unix, reply.tuple.transport, reply.tuple.client);
        let realm = self.config.realm.clone();
        self.reply_error(now, reply, None, 401, |w| {
            w.add(&Realm(&realm))?;
            w.add(&Nonce(nonce.as_str()))
        });
    }

    /// RFC 8489 §3: a Binding request is answered with the client's reflexive address, no
    /// authentication.
    fn binding(&mut self, now: Instant, msg: &Message<'_>, reply: ReplyTo) {
        self.stats.binding_requests += 1;
        let dont_fragment = self.config.dont_fragment;
        let known = move |t| is_known(t, dont_fragment);
        if msg.unknown_comprehension_required(known).next().is_some() {
            let unknown = msg.unknown_comprehension_required(known);
            return self.reply_error(now, reply, None, 420, |w| w.add_unknown_attributes(unknown));
        }
        let client = reply.tuple.client;
        self.reply_success(now, reply, None, |w| w.add(&XorMappedAddress(client)));
    }

    /// RFC 8656 §7.2, Receiving an Allocate Request.
    fn allocate(&mut self, now: Instant, msg: &Message<'_>, reply: ReplyTo, user: Authenticated) {
        let tuple = reply.tuple;
        let auth = user.auth;
        // Step 2: "the server checks if the 5-tuple is currently in use by an existing
        // allocation. If yes, the server rejects the request with a 437 (Allocation
        // Mismatch) error." (Retransmissions were answered from the cache.)
        if self.allocations.contains_key(&tuple) || self.pending.contains_key(&tuple) {
            return self.reply_error(now, reply, Some(&auth), 437, |_| Ok(()));
        }
        // Step 3: REQUESTED-TRANSPORT missing or malformed → 400; not UDP → 442.
        let Ok(Some(RequestedTransport(protocol))) = msg.get::<RequestedTransport>() else {
            return self.reply_error(now, reply, Some(&auth), 400, |_| Ok(()));
        };
        // RFC 6062 §5.1: TCP relaying only for clients on TCP or TLS ("If the client
        // connection transport is not TCP or TLS, the server MUST reject the request with a
        // 400"; 442 says the same more precisely, and is what RFC 8656 clients expect).
        let tcp = match protocol {
            TransportProtocol::UDP => false,
            TransportProtocol::TCP if tuple.transport != Transport::Udp => true,
            _ => return self.reply_error(now, reply, Some(&auth), 442, |_| Ok(())),
        };
        // Step 4: DONT-FRAGMENT. When unsupported it was answered with 420 already; here it
        // asks the driver to set DF on the relay sockets.
        let dont_fragment = msg.contains(AttributeType::DONT_FRAGMENT);
        // RFC 6062 §5.1: "If the request contains the DONT-FRAGMENT, EVEN-PORT, or
        // RESERVATION-TOKEN attribute, the server MUST return a 400". A dual TCP allocation
        // is not offered either.
        if tcp
            && (dont_fragment
                || msg.contains(AttributeType::EVEN_PORT)
                || msg.contains(AttributeType::RESERVATION_TOKEN)
                || msg.contains(AttributeType::ADDITIONAL_ADDRESS_FAMILY))
        {
            return self.reply_error(now, reply, Some(&auth), 400, |_| Ok(()));
        }
        let (Ok(even_port), Ok(token), Ok(requested), Ok(additional), Ok(lifetime)) = (
            msg.get::<EvenPort>(),
            msg.get::<ReservationToken>(),
            msg.get::<RequestedAddressFamily>(),
            msg.get::<AdditionalAddressFamily>(),
            msg.get::<Lifetime>(),
        ) else {
            return self.reply_error(now, reply, Some(&auth), 400, |_| Ok(()));
        };
        // Step 5: RESERVATION-TOKEN with EVEN-PORT, REQUESTED-ADDRESS-FAMILY or
        // ADDITIONAL-ADDRESS-FAMILY → 400.
        if token.is_some() && (even_port.is_some() || requested.is_some() || additional.is_some()) {
            return self.reply_error(now, reply, Some(&auth), 400, |_| Ok(()));
        }
        // Step 6: REQUESTED-ADDRESS-FAMILY and ADDITIONAL-ADDRESS-FAMILY together → 400.
        if requested.is_some() && additional.is_some() {
            return self.reply_error(now, reply, Some(&auth), 400, |_| Ok(()));
        }
        if let Some(AdditionalAddressFamily(family)) = additional {
            // Step 9: ADDITIONAL-ADDRESS-FAMILY IPv4 → 400. Any family but IPv6 is unknown:
            // 440.
            if family == AddressFamily::IPV4 {
                return self.reply_error(now, reply, Some(&auth), 400, |_| Ok(()));
            }
            if family != AddressFamily::IPV6 {
                return self.reply_error(now, reply, Some(&auth), 440, |_| Ok(()));
            }
            // A RESERVATION-TOKEN names one port; a dual allocation has two. Refused rather
            // than guessing which of the two the reservation follows.
            if even_port.is_some_and(|e| e.reserve) {
                return self.reply_error(now, reply, Some(&auth), 400, |_| Ok(()));
            }
        }
        // Step 10: quotas. 486 is per username ("it SHOULD define it based on the username");
        // the server-wide limit is a capacity limit, 508.
        let user_allocations = self.users.get(&user.username).copied().unwrap_or(0);
        if user_allocations >= self.config.max_allocations_per_user {
            debug!(%tuple, username = user.username, "allocation quota reached");
            return self.reply_error(now, reply, Some(&auth), 486, |_| Ok(()));
        }
        if self.allocations.len() + self.pending.len() >= self.config.max_allocations {
            warn!(%tuple, "server-wide allocation limit reached");
            return self.reply_error(now, reply, Some(&auth), 508, |_| Ok(()));
        }
        let lifetime = self.allocation_lifetime(lifetime);

        if let Some(ReservationToken(token)) = token {
            // Step 5: "the server uses the previously reserved transport address
            // corresponding to the included token (if it is still available) [...] If the
            // token is not valid for some reason, the server rejects the request with a 508".
            let relayed = match self.reservations.remove(&token) {
                Some(r) if r.expires > now => r.relayed,
                Some(expired) => {
                    self.release(expired.relayed.local);
                    return self.reply_error(now, reply, Some(&auth), 508, |_| Ok(()));
                }
                None => return self.reply_error(now, reply, Some(&auth), 508, |_| Ok(())),
            };
            *self.users.entry(user.username.clone()).or_default() += 1;
            self.install_allocation(now, tuple, user.username, vec![relayed], lifetime, false);
            self.reply_allocate_success(now, reply, &auth, &[relayed], lifetime, None, None);
            return;
        }

        // Step 7: the family of the (first) relayed address, IPv4 unless asked otherwise.
        let family = requested.map_or(AddressFamily::IPV4, |RequestedAddressFamily(f)| f);
        let Some(relay_ip) = self.relay_ip(family) else {
            return self.reply_error(now, reply, Some(&auth), 440, |_| Ok(()));
        };
        // Step 8: EVEN-PORT, "If the server cannot satisfy the request, then the server
        // rejects the request with a 508".
        let even = even_port.is_some();
        let reserve = even_port.is_some_and(|e| e.reserve);
        let Some(port) = self.pick_port(relay_ip.local, even, reserve) else {
            return self.reply_error(now, reply, Some(&auth), 508, |_| Ok(()));
        };
        let slot = |relay_ip, reserve, port| Slot {
            relay_ip,
            even,
            reserve,
            port,
            attempts: 0,
            state: SlotState::Failed,
        };
        let mut slots = vec![slot(relay_ip, reserve, port)];
        let mut address_error = None;
        // Step 9: the additional IPv6 address. "If the server can partially meet the
        // request [...] it includes ADDRESS-ERROR-CODE attribute in the success response".
        if additional.is_some() {
            match self.relay_ip(AddressFamily::IPV6) {
                None => address_error = Some((AddressFamily::IPV6, 440)),
                Some(ip6) => match self.pick_port(ip6.local, even, false) {
                    Some(port) => slots.push(slot(ip6, false, port)),
                    None => address_error = Some((AddressFamily::IPV6, 508)),
                },
            }
        }
        for slot in &mut slots {
            slot.state =
                SlotState::Binding(self.request_bind(tuple, slot.local(), dont_fragment, tcp));
        }
        *self.users.entry(user.username.clone()).or_default() += 1;
        debug!(%tuple, username = user.username, ?family, dual = slots.len() > 1, "allocation waits for relay sockets");
        self.pending.insert(
            tuple,
            PendingAllocation {
                reply,
                auth,
                username: user.username,
                lifetime,
                dont_fragment,
                tcp,
                slots,
                address_error,
            },
        );
    }

    /// Every relay socket of a pending Allocate is bound or failed: answer it.
    fn complete_allocation(&mut self, now: Instant, tuple: FiveTuple, pending: PendingAllocation) {
        let Some(primary) = pending.slots.first().copied() else { return };
        if primary.state == SlotState::Failed {
            for slot in &pending.slots {
                if slot.state == SlotState::Bound {
                    self.release(slot.local());
                }
            }
            self.user_released(&pending.username);
            warn!(%tuple, "no relay socket could be bound");
            return self.reply_error(now, pending.reply, Some(&pending.auth), 508, |_| Ok(()));
        }
        let mut relays = Vec::with_capacity(pending.slots.len());
        let mut address_error = pending.address_error;
        for slot in &pending.slots {
            if slot.state == SlotState::Bound {
                relays.push(slot.relayed());
            } else {
                address_error = Some((AddressFamily::IPV6, 508));
            }
        }
        let mut token = None;
        if primary.reserve {
            let reserved = primary.reserved();
            let mut value: [u8; 8] = self.rng.gen();
            while self.reservations.contains_key(&value) {
                value = self.rng.gen();
            }
            let expires = now + self.config.reservation_lifetime;
            self.reservations.insert(value, Reservation { relayed: reserved, expires });
            self.timers.push(expires, TimerKey::Reservation(value));
            debug!(%tuple, reserved = %reserved.local, "port reserved");
            token = Some(value);
        }
        self.install_allocation(
            now,
            tuple,
            pending.username,
            relays.clone(),
            pending.lifetime,
            pending.tcp,
        );
        self.reply_allocate_success(
            now,
            pending.reply,
            &pending.auth,
            &relays,
            pending.lifetime,
            token,
            address_error,
        );
    }

    /// Gives back what an abandoned Allocate holds.
    fn abandon(&mut self, pending: PendingAllocation) {
        for slot in &pending.slots {
            match slot.state {
                // The port comes back when the driver answers.
                SlotState::Binding(_) => {
                    if slot.reserve {
                        self.ports.remove(&slot.reserved().local);
                    }
                }
                SlotState::BindingReserve(_) => self.release(slot.local()),
                SlotState::Bound => {
                    self.release(slot.local());
                    if slot.reserve {
                        self.release(slot.reserved().local);
                    }
                }
                SlotState::Failed => {}
            }
        }
        self.user_released(&pending.username);
    }

    #[allow(clippy::too_many_arguments)]
    fn reply_allocate_success(
        &mut self,
        now: Instant,
        reply: ReplyTo,
        auth: &ResponseAuth,
        relays: &[Relayed],
        lifetime: Duration,
        token: Option<[u8; 8]>,
        address_error: Option<(AddressFamily, u16)>,
    ) {
        if address_error.is_some() {
            self.stats.address_family_errors += 1;
        }
        let client = reply.tuple.client;
        let seconds = lifetime_seconds(lifetime);
        self.reply_success(now, reply, Some(auth), |w| {
            for relay in relays {
                w.add(&XorRelayedAddress(relay.public))?;
            }
            w.add(&Lifetime(seconds))?;
            if let Some(token) = token {
                w.add(&ReservationToken(token))?;
            }
            w.add(&XorMappedAddress(client))?;
            if let Some((family, code)) = address_error {
                let reason = ErrorCode::default_reason(code);
                w.add(&AddressErrorCode { family, code, reason })?;
            }
            Ok(())
        });
    }

    /// The allocation of `tuple` if `user` owns it; else the error to answer: 437 without an
    /// allocation, 441 when another username made it (RFC 8656 §5).
    fn owned_allocation(
        &self,
        tuple: &FiveTuple,
        user: &Authenticated,
    ) -> Result<&Allocation, u16> {
        match self.allocations.get(tuple) {
            None => Err(437),
            Some(alloc) if alloc.username != user.username => Err(441),
            Some(alloc) => Ok(alloc),
        }
    }

    /// RFC 8656 §8.2, Receiving a Refresh Request.
    fn refresh(&mut self, now: Instant, msg: &Message<'_>, reply: ReplyTo, user: Authenticated) {
        let tuple = reply.tuple;
        let auth = user.auth;
        let alloc = match self.owned_allocation(&tuple, &user) {
            Ok(alloc) => alloc,
            Err(code) => return self.reply_error(now, reply, Some(&auth), code, |_| Ok(())),
        };
        let (Ok(lifetime), Ok(requested)) =
            (msg.get::<Lifetime>(), msg.get::<RequestedAddressFamily>())
        else {
            return self.reply_error(now, reply, Some(&auth), 400, |_| Ok(()));
        };
        // "If the server receives a Refresh Request with a REQUESTED-ADDRESS-FAMILY attribute
        // and the attribute value does not match the address family of the allocation, the
        // server MUST reply with a 443 (Peer Address Family Mismatch) error response."
        let family_index = match requested {
            Some(RequestedAddressFamily(family)) => {
                match alloc.relays.iter().position(|r| family_of(r.local) == family) {
                    Some(index) => Some(index),
                    None => return self.reply_error(now, reply, Some(&auth), 443, |_| Ok(())),
                }
            }
            None => None,
        };
        if lifetime == Some(Lifetime(0)) {
            // A zero lifetime deletes the allocation; on a dual allocation with
            // REQUESTED-ADDRESS-FAMILY, only the relayed address of that family.
            match family_index {
                Some(index) if alloc.relays.len() > 1 => self.remove_relay(tuple, index),
                _ => self.remove_allocation(tuple, Removal::Deleted),
            }
            return self.reply_success(now, reply, Some(&auth), |w| w.add(&Lifetime(0)));
        }
        let desired = self.allocation_lifetime(lifetime);
        if let Some(alloc) = self.allocations.get_mut(&tuple) {
            alloc.expires = now + desired;
        }
        self.schedule(tuple);
        trace!(%tuple, seconds = desired.as_secs(), "allocation refreshed");
        let seconds = lifetime_seconds(desired);
        self.reply_success(now, reply, Some(&auth), |w| w.add(&Lifetime(seconds)));
    }

    /// RFC 8656 §10.2, Receiving a CreatePermission Request.
    fn create_permission(
        &mut self,
        now: Instant,
        msg: &Message<'_>,
        reply: ReplyTo,
        user: Authenticated,
    ) {
        let tuple = reply.tuple;
        let auth = user.auth;
        let alloc = match self.owned_allocation(&tuple, &user) {
            Ok(alloc) => alloc,
            Err(code) => return self.reply_error(now, reply, Some(&auth), code, |_| Ok(())),
        };
        // "The CreatePermission request MUST contain at least one XOR-PEER-ADDRESS attribute
        // and MAY contain multiple such attributes. If no such attribute exists, or if any of
        // these attributes are invalid, then a 400 (Bad Request) error is returned."
        let mut peers = Vec::new();
        for peer in msg.get_all::<XorPeerAddress>() {
            match peer {
                Ok(XorPeerAddress(peer)) => peers.push(peer),
                Err(_) => return self.reply_error(now, reply, Some(&auth), 400, |_| Ok(())),
            }
        }
        if peers.is_empty() {
            return self.reply_error(now, reply, Some(&auth), 400, |_| Ok(()));
        }
        // 443 for a family the allocation has no relayed address of, 403 for a refused peer;
        // the request is all or nothing.
        let refused =
            peers.iter().find_map(|&peer| self.check_peer(alloc, peer).err().map(|e| (peer, e)));
        let mut new_ips: Vec<IpAddr> =
            peers.iter().map(SocketAddr::ip).filter(|&ip| !alloc.permits(ip, now)).collect();
        new_ips.sort_unstable();
        new_ips.dedup();
        let over_limit = alloc.live_permissions(now) + new_ips.len()
            > self.config.max_permissions_per_allocation;
        match refused {
            Some((_, PeerError::FamilyMismatch)) => {
                return self.reply_error(now, reply, Some(&auth), 443, |_| Ok(()));
            }
            Some((peer, PeerError::Forbidden(reason))) => {
                debug!(%tuple, %peer, reason, "peer refused");
                return self.reply_error(now, reply, Some(&auth), 403, |_| Ok(()));
            }
            None => {}
        }
        if over_limit {
            return self.reply_error(now, reply, Some(&auth), 508, |_| Ok(()));
        }
        let expires = now + self.config.permission_lifetime;
        if let Some(alloc) = self.allocations.get_mut(&tuple) {
            for peer in &peers {
                if alloc.permit(peer.ip(), expires, now) {
                    self.stats.permissions_created += 1;
                    debug!(%tuple, peer = %peer.ip(), "permission installed");
                }
            }
        }
        self.schedule(tuple);
        self.reply_success(now, reply, Some(&auth), |_| Ok(()));
    }

    /// RFC 8656 §12.2, Receiving a ChannelBind Request.
    fn channel_bind(
        &mut self,
        now: Instant,
        msg: &Message<'_>,
        reply: ReplyTo,
        user: Authenticated,
    ) {
        let tuple = reply.tuple;
        let auth = user.auth;
        let alloc = match self.owned_allocation(&tuple, &user) {
            Ok(alloc) => alloc,
            Err(code) => return self.reply_error(now, reply, Some(&auth), code, |_| Ok(())),
        };
        // RFC 6062 §5: a TCP allocation has no channels.
        if alloc.tcp {
            return self.reply_error(now, reply, Some(&auth), 400, |_| Ok(()));
        }
        // "The request contains both a CHANNEL-NUMBER and an XOR-PEER-ADDRESS attribute; the
        // channel number is in the range 0x4000 through 0x4FFF (inclusive); the channel
        // number is not currently bound to a different transport address (same transport
        // address is OK); the transport address is not currently bound to a different
        // channel number. If any of these tests fail, the server replies with a 400".
        // The range taken is RFC 5766's 0x4000-0x7FFF: clients written to RFC 5766 (coturn's)
        // pick channels from all of it, and RFC 8656 §12 notes its narrower range would keep
        // them from binding any; the client chose the number, so it expects it back.
        let (Ok(Some(ChannelNumber(channel))), Ok(Some(XorPeerAddress(peer)))) =
            (msg.get::<ChannelNumber>(), msg.get::<XorPeerAddress>())
        else {
            return self.reply_error(now, reply, Some(&auth), 400, |_| Ok(()));
        };
        let bad_request = !ChannelNumber(channel).is_accepted()
            || peer.port() == 0
            || alloc.channel_peer(channel, now).is_some_and(|bound| bound != peer)
            || alloc.channel_of(peer, now).is_some_and(|bound| bound != channel);
        let check = self.check_peer(alloc, peer);
        let new_channel = alloc.channel_peer(channel, now).is_none();
        let new_permission = !alloc.permits(peer.ip(), now);
        let over_limit = (new_channel
            && alloc.live_channels(now) >= self.config.max_channels_per_allocation)
            || (new_permission
                && alloc.live_permissions(now) >= self.config.max_permissions_per_allocation);
        match check {
            Err(PeerError::FamilyMismatch) => {
                return self.reply_error(now, reply, Some(&auth), 443, |_| Ok(()));
            }
            Err(PeerError::Forbidden(reason)) => {
                debug!(%tuple, %peer, reason, "peer refused");
                return self.reply_error(now, reply, Some(&auth), 403, |_| Ok(()));
            }
            Ok(()) => {}
        }
        if bad_request {
            return self.reply_error(now, reply, Some(&auth), 400, |_| Ok(()));
        }
        if over_limit {
            return self.reply_error(now, reply, Some(&auth), 508, |_| Ok(()));
        }
        // "the server [...] binds the channel (or refreshes it) for 10 minutes and installs
        // or refreshes a permission for the IP address of the peer for 5 minutes".
        let channel_expires = now + self.config.channel_lifetime;
        let permission_expires = now + self.config.permission_lifetime;
        if let Some(alloc) = self.allocations.get_mut(&tuple) {
            if alloc.bind(channel, peer, channel_expires) {
                self.stats.channels_bound += 1;
                debug!(%tuple, %peer, channel, "channel bound");
            }
            if alloc.permit(peer.ip(), permission_expires, now) {
                self.stats.permissions_created += 1;
            }
        }
        self.schedule(tuple);
        self.reply_success(now, reply, Some(&auth), |_| Ok(()));
    }

    /// RFC 6062 §5.2, Receiving a Connect Request.
    fn connect(&mut self, now: Instant, msg: &Message<'_>, reply: ReplyTo, user: Authenticated) {
        let tuple = reply.tuple;
        let auth = user.auth;
        let alloc = match self.owned_allocation(&tuple, &user) {
            Ok(alloc) => alloc,
            Err(code) => return self.reply_error(now, reply, Some(&auth), code, |_| Ok(())),
        };
        // Connect only makes sense on a TCP allocation.
        if !alloc.tcp {
            return self.reply_error(now, reply, Some(&auth), 400, |_| Ok(()));
        }
        let Ok(Some(XorPeerAddress(peer))) = msg.get::<XorPeerAddress>() else {
            return self.reply_error(now, reply, Some(&auth), 400, |_| Ok(()));
        };
        if peer.port() == 0 {
            return self.reply_error(now, reply, Some(&auth), 400, |_| Ok(()));
        }
        // The relay policy and the server's own addresses, as for UDP peers.
        match self.check_peer(alloc, peer) {
            Err(PeerError::FamilyMismatch) => {
                return self.reply_error(now, reply, Some(&auth), 443, |_| Ok(()));
            }
            Err(PeerError::Forbidden(reason)) => {
                debug!(%tuple, %peer, reason, "peer refused");
                return self.reply_error(now, reply, Some(&auth), 403, |_| Ok(()));
            }
            Ok(()) => {}
        }
        // "If the Connect request is not permitted by the current permissions [...] the
        // server MUST reject the request with a 403 (Forbidden)".
        if !alloc.permits(peer.ip(), now) {
            debug!(%tuple, %peer, "Connect without a permission");
            return self.reply_error(now, reply, Some(&auth), 403, |_| Ok(()));
        }
        // "If the server is already processing a Connect request coming from the same
        // allocation for the same XOR-PEER-ADDRESS, it MUST return a 446 (Connection
        // Already Exists) error"; an established connection to the peer counts too.
        if self.connections.values().any(|c| c.allocation == tuple && c.peer == peer) {
            return self.reply_error(now, reply, Some(&auth), 446, |_| Ok(()));
        }
        let Some(relay) = alloc.relay_for(peer).map(|r| r.local) else {
            return self.reply_error(now, reply, Some(&auth), 443, |_| Ok(()));
        };
        if self.connections_of(tuple) >= self.config.max_permissions_per_allocation {
            return self.reply_error(now, reply, Some(&auth), 508, |_| Ok(()));
        }
        let id = self.new_connection_id();
        let deadline = now + TCP_CONNECTION_TIMEOUT;
        self.connections.insert(
            id,
            TcpConnection {
                allocation: tuple,
                peer,
                state: ConnState::Connecting { reply, auth },
                deadline,
            },
        );
        self.timers.push(deadline, TimerKey::Connection(id));
        debug!(%tuple, %peer, id, "connecting to a peer");
        self.outputs.push_back(Output::ConnectPeer(PeerConnect {
            id: ConnectionId(id),
            relay,
            peer,
        }));
    }

    /// RFC 6062 §5.4, Receiving a ConnectionBind Request, on a new client connection.
    fn connection_bind(
        &mut self,
        now: Instant,
        msg: &Message<'_>,
        reply: ReplyTo,
        user: Authenticated,
    ) {
        let tuple = reply.tuple;
        let auth = user.auth;
        // "If the client connection transport is not TCP or TLS, the server MUST return a
        // 400"; a connection with an allocation is a control connection, not a data one.
        let data_connection = tuple.transport != Transport::Udp
            && !self.allocations.contains_key(&tuple)
            && !self.pending.contains_key(&tuple)
            && !self
                .connections
                .values()
                .any(|c| matches!(c.state, ConnState::Bound(t) if t == tuple));
        let Ok(Some(ConnectionIdAttr(id))) = msg.get::<ConnectionIdAttr>() else {
            return self.reply_error(now, reply, Some(&auth), 400, |_| Ok(()));
        };
        // "If the value of CONNECTION-ID does not match a connection that is waiting for a
        // ConnectionBind, the server MUST return a 400".
        let Some(conn) = self.connections.get(&id).copied() else {
            return self.reply_error(now, reply, Some(&auth), 400, |_| Ok(()));
        };
        if !data_connection || !matches!(conn.state, ConnState::Pending) {
            return self.reply_error(now, reply, Some(&auth), 400, |_| Ok(()));
        }
        // The data connection belongs to the allocation's user.
        let owner = self.allocations.get(&conn.allocation).map(|a| a.username.as_str());
        if owner != Some(user.username.as_str()) {
            return self.reply_error(now, reply, Some(&auth), 441, |_| Ok(()));
        }
        if let Some(conn) = self.connections.get_mut(&id) {
            conn.state = ConnState::Bound(tuple);
        }
        self.stats.tcp_connections_bound += 1;
        debug!(%tuple, allocation = %conn.allocation, peer = %conn.peer, id, "data connection bound");
        self.reply_success(now, reply, Some(&auth), |_| Ok(()));
        self.outputs.push_back(Output::BindConnection { client: tuple, id: ConnectionId(id) });
    }

    /// A Connect that was not answered, or a connection not bound, within 30 s.
    fn connection_timer(&mut self, now: Instant, id: u32) {
        let Some(conn) = self.connections.get(&id).copied() else { return };
        if conn.deadline > now {
            return; // stale entry
        }
        match conn.state {
            ConnState::Bound(_) => {}
            ConnState::Connecting { reply, auth } => {
                self.connections.remove(&id);
                self.stats.tcp_connections_timed_out += 1;
                debug!(tuple = %reply.tuple, peer = %conn.peer, id, "Connect timed out");
                self.outputs.push_back(Output::CloseConnection(ConnectionId(id)));
                self.reply_error(now, reply, Some(&auth), 447, |_| Ok(()));
            }
            ConnState::Pending => {
                self.connections.remove(&id);
                self.stats.tcp_connections_timed_out += 1;
                debug!(allocation = %conn.allocation, peer = %conn.peer, id, "peer connection not bound in time");
                self.outputs.push_back(Output::CloseConnection(ConnectionId(id)));
            }
        }
    }

    /// A fresh, unused CONNECTION-ID.
    fn new_connection_id(&mut self) -> u32 {
        loop {
            let id: u32 = self.rng.gen();
            if !self.connections.contains_key(&id) {
                return id;
            }
        }
    }

    /// Peer connections of one allocation.
    fn connections_of(&self, tuple: FiveTuple) -> usize {
        self.connections.values().filter(|c| c.allocation == tuple).count()
    }

    /// RFC 8656 §11.2, Receiving a Send Indication: relayed if there is a permission,
    /// silently dropped otherwise.
    fn send_indication<'a>(
        &mut self,
        now: Instant,
        tuple: FiveTuple,
        msg: &Message<'a>,
    ) -> Option<PeerDatagram<'a>> {
        let dont_fragment = self.config.dont_fragment;
        let Some(alloc) = self.allocations.get_mut(&tuple) else {
            self.stats.no_allocation_dropped += 1;
            trace!(%tuple, "dropped Send: no allocation");
            return None;
        };
        // RFC 6062 §5: data for a TCP allocation's peers flows on data connections only.
        if alloc.tcp {
            self.stats.policy_dropped += 1;
            return None;
        }
        // RFC 8489 §6.3.2: an indication with unknown comprehension-required attributes is
        // discarded.
        if msg.unknown_comprehension_required(|t| is_known(t, dont_fragment)).next().is_some() {
            self.stats.malformed_dropped += 1;
            return None;
        }
        // "If the Send indication does not contain [...] XOR-PEER-ADDRESS or DATA, or if
        // they are malformed, the indication is discarded".
        let (Ok(Some(XorPeerAddress(peer))), Ok(Some(Data(data)))) =
            (msg.get::<XorPeerAddress>(), msg.get::<Data<'a>>())
        else {
            self.stats.malformed_dropped += 1;
            return None;
        };
        let Some(relay) = alloc.relay_for(peer).map(|r| r.local) else {
            self.stats.policy_dropped += 1;
            return None;
        };
        if peer.port() == 0 || is_own_address(&self.config.listening, &self.own_ips, alloc, peer) {
            self.stats.policy_dropped += 1;
            trace!(%tuple, %peer, "dropped Send to one of the server's own addresses");
            return None;
        }
        if !alloc.permits(peer.ip(), now) {
            self.stats.no_permission_dropped += 1;
            trace!(%tuple, %peer, "dropped Send: no permission");
            return None;
        }
        if let Some(bucket) = &mut alloc.bucket {
            if !bucket.admit(now, data.len()) {
                self.stats.bandwidth_dropped_packets += 1;
                self.stats.bandwidth_dropped_bytes += data.len() as u64;
                return None;
            }
        }
        self.stats.client_to_peer_packets += 1;
        self.stats.client_to_peer_bytes += data.len() as u64;
        trace!(%tuple, %peer, bytes = data.len(), "Send -> peer");
        Some(PeerDatagram { relay, peer, data })
    }

    /// RFC 8656 §12.6: ChannelData on a bound channel is relayed to the channel's peer.
    fn channel_data_from_client<'a>(
        &mut self,
        now: Instant,
        tuple: FiveTuple,
        data: &'a [u8],
    ) -> Option<PeerDatagram<'a>> {
        let Ok(frame) = ChannelData::parse(data, tuple.transport.framing()) else {
            self.stats.malformed_dropped += 1;
            trace!(%tuple, "dropped: malformed ChannelData");
            return None;
        };
        let Some(alloc) = self.allocations.get_mut(&tuple) else {
            self.stats.no_allocation_dropped += 1;
            return None;
        };
        let Some(peer) = alloc.channel_peer(frame.channel(), now) else {
            self.stats.unbound_channel_dropped += 1;
            trace!(%tuple, channel = frame.channel(), "dropped ChannelData: channel not bound");
            return None;
        };
        if !alloc.permits(peer.ip(), now) {
            self.stats.no_permission_dropped += 1;
            return None;
        }
        let Some(relay) = alloc.relay_for(peer).map(|r| r.local) else {
            self.stats.policy_dropped += 1;
            return None;
        };
        let payload = frame.data();
        if let Some(bucket) = &mut alloc.bucket {
            if !bucket.admit(now, payload.len()) {
                self.stats.bandwidth_dropped_packets += 1;
                self.stats.bandwidth_dropped_bytes += payload.len() as u64;
                return None;
            }
        }
        self.stats.client_to_peer_packets += 1;
        self.stats.client_to_peer_bytes += payload.len() as u64;
        Some(PeerDatagram { relay, peer, data: payload })
    }

    // ---- responses ----

    fn reply_success(
        &mut self,
        now: Instant,
        reply: ReplyTo,
        auth: Option<&ResponseAuth>,
        body: impl FnOnce(&mut MessageWriter<'_>) -> Result<(), stun::Error>,
    ) {
        self.send_reply(now, reply, Class::SuccessResponse, auth, body);
    }

    fn reply_error(
        &mut self,
        now: Instant,
        reply: ReplyTo,
        auth: Option<&ResponseAuth>,
        code: u16,
        extra: impl FnOnce(&mut MessageWriter<'_>) -> Result<(), stun::Error>,
    ) {
        let counter = match code {
            400 => Some(&mut self.stats.bad_requests),
            403 => Some(&mut self.stats.policy_refusals),
            420 => Some(&mut self.stats.unknown_attributes),
            437 => Some(&mut self.stats.allocation_mismatches),
            440 | 443 => Some(&mut self.stats.address_family_errors),
            441 => Some(&mut self.stats.wrong_credentials),
            442 => Some(&mut self.stats.unsupported_transport),
            486 => Some(&mut self.stats.quota_refusals),
            508 => Some(&mut self.stats.capacity_refusals),
            // 401 and 438 are counted by reason where they are decided.
            _ => None,
        };
        if let Some(counter) = counter {
            *counter += 1;
        }
        trace!(tuple = %reply.tuple, method = ?reply.method, code, "error response");
        self.send_reply(now, reply, Class::ErrorResponse, auth, |w| {
            w.add(&ErrorCode::new(code))?;
            extra(w)
        });
    }

    /// Writes a response, protects it (with the request's integrity attributes when it was
    /// authenticated, FINGERPRINT when the request had one), caches it (authenticated) or
    /// bounds its size (unauthenticated), and queues it.
    fn send_reply(
        &mut self,
        now: Instant,
        reply: ReplyTo,
        class: Class,
        auth: Option<&ResponseAuth>,
        body: impl FnOnce(&mut MessageWriter<'_>) -> Result<(), stun::Error>,
    ) {
        let mut buf = Vec::with_capacity(128);
        let mut w = MessageWriter::new(
            &mut buf,
            MessageType::new(reply.method, class),
            reply.transaction_id,
        );
        let written = body(&mut w).and_then(|()| {
            if let Some(auth) = auth {
                if auth.sha1 {
                    w.add_message_integrity(&auth.key)?;
                }
                if auth.sha256 {
                    w.add_message_integrity_sha256(&auth.key)?;
                }
            }
            if reply.fingerprint {
                w.add_fingerprint()?;
            }
            Ok(())
        });
        if let Err(error) = written {
            // Every response is built from bounded values; this would be a bug.
            warn!(tuple = %reply.tuple, %error, "could not encode a response");
            return;
        }
        match auth {
            Some(_) => self.cache_response(now, reply, &buf),
            None => {
                // No amplification: an unauthenticated request never gets a response much
                // larger than itself.
                if buf.len() > reply.request_len.saturating_add(MAX_UNAUTHENTICATED_GROWTH) {
                    self.stats.amplification_suppressed += 1;
                    warn!(tuple = %reply.tuple, len = buf.len(), "unauthenticated response suppressed: too large");
                    return;
                }
                self.stats.unauthenticated_responses += 1;
                self.stats.unauthenticated_response_bytes += buf.len() as u64;
            }
        }
        self.push_to_client(reply.tuple, buf);
    }

    fn push_to_client(&mut self, tuple: FiveTuple, data: Vec<u8>) {
        self.outputs.push_back(Output::ToClient(ClientTransmit {
            transport: tuple.transport,
            client: tuple.client,
            server: tuple.server,
            data,
        }));
    }

    fn cache_response(&mut self, now: Instant, reply: ReplyTo, response: &[u8]) {
        let expires = now + self.config.response_cache_time;
        let room = self.cache.len() < self.cache_capacity;
        match self.cache.get_mut(&reply.tuple) {
            Some(entry) => {
                entry.method = reply.method;
                entry.transaction_id = reply.transaction_id;
                entry.response.clear();
                entry.response.extend_from_slice(response);
                entry.expires = expires;
            }
            None if room => {
                self.cache.insert(
                    reply.tuple,
                    CachedResponse {
                        method: reply.method,
                        transaction_id: reply.transaction_id,
                        response: response.to_vec(),
                        expires,
                        timer: expires,
                    },
                );
                self.timers.push(expires, TimerKey::Response(reply.tuple));
            }
            None => {}
        }
    }

    // ---- bookkeeping ----

    fn relay_ip(&self, family: AddressFamily) -> Option<RelayIp> {
        match family {
            AddressFamily::IPV4 => self.config.relay_ipv4,
            AddressFamily::IPV6 => self.config.relay_ipv6,
            _ => None,
        }
    }

    /// RFC 8656 §7.2: "If the request contains a LIFETIME attribute, the server computes the
    /// minimum of the client's requested lifetime and the server's maximum allowed lifetime.
    /// If this computed value is greater than the default lifetime, then the server uses the
    /// computed lifetime [...] Otherwise, the server uses the default lifetime." §8.2 computes
    /// a Refresh's "desired lifetime" the same way.
    fn allocation_lifetime(&self, requested: Option<Lifetime>) -> Duration {
        match requested {
            None => self.config.default_lifetime,
            Some(lifetime) => lifetime
                .as_duration()
                .min(self.config.max_lifetime)
                .max(self.config.default_lifetime),
        }
    }

    /// A free port on `ip` in the configured range: even if asked, with the next one free
    /// too if `pair`. Random draws first, then a scan from a random point, so that a nearly
    /// full range still finds the last free port. The port (and its pair) is marked used.
    fn pick_port(&mut self, ip: IpAddr, even: bool, pair: bool) -> Option<u16> {
        let (min, max) = (self.config.min_port, self.config.max_port);
        let ports = &self.ports;
        let fits = |port: u16| {
            port >= min
                && (!even || port % 2 == 0)
                && !ports.contains(&SocketAddr::new(ip, port))
                && (!pair
                    || port.checked_add(1).is_some_and(|next| {
                        next <= max && !ports.contains(&SocketAddr::new(ip, next))
                    }))
        };
        let mut found = None;
        for _ in 0..PORT_DRAWS {
            let mut port = self.rng.gen_range(min..=max);
            if even {
                port &= !1;
            }
            if fits(port) {
                found = Some(port);
                break;
            }
        }
        if found.is_none() {
            let span = u32::from(max - min) + 1;
            let start = self.rng.gen_range(0..span);
            found = (0..span)
                .filter_map(|i| u16::try_from(u32::from(min) + (start + i) % span).ok())
                .find(|&port| fits(port));
        }
        let port = found?;
        self.ports.insert(SocketAddr::new(ip, port));
        if pair {
            self.ports.insert(SocketAddr::new(ip, port.saturating_add(1)));
        }
        Some(port)
    }

    fn request_bind(
        &mut self,
        tuple: FiveTuple,
        addr: SocketAddr,
        dont_fragment: bool,
        tcp: bool,
    ) -> RelayRequestId {
        let request = RelayRequestId(self.next_request);
        self.next_request += 1;
        self.binds.insert(request, PendingBind { tuple, addr });
        self.outputs.push_back(Output::BindRelay(RelayBind { request, addr, dont_fragment, tcp }));
        request
    }

    /// Frees a bound relay address and tells the driver to close it.
    fn release(&mut self, local: SocketAddr) {
        self.ports.remove(&local);
        self.outputs.push_back(Output::CloseRelay(local));
    }

    fn user_released(&mut self, username: &str) {
        if let Some(count) = self.users.get_mut(username) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.users.remove(username);
            }
        }
    }

    fn install_allocation(
        &mut self,
        now: Instant,
        tuple: FiveTuple,
        username: String,
        relays: Vec<Relayed>,
        lifetime: Duration,
        tcp: bool,
    ) {
        let expires = now + lifetime;
        for relay in &relays {
            self.relays.insert(relay.local, tuple);
        }
        info!(%tuple, username, relayed = ?relays.iter().map(|r| r.public).collect::<Vec<_>>(), seconds = lifetime.as_secs(), "allocation created");
        self.allocations.insert(
            tuple,
            Allocation {
                five_tuple: tuple,
                username,
                relays,
                expires,
                permissions: HashMap::new(),
                channels: HashMap::new(),
                channel_by_peer: HashMap::new(),
                bucket: self.config.bandwidth.map(TokenBucket::new),
                timer: expires,
                tcp,
            },
        );
        self.timers.push(expires, TimerKey::Allocation(tuple));
        self.stats.allocations_created += 1;
    }

    fn remove_allocation(&mut self, tuple: FiveTuple, why: Removal) {
        let Some(alloc) = self.allocations.remove(&tuple) else { return };
        for relay in &alloc.relays {
            self.relays.remove(&relay.local);
            self.release(relay.local);
        }
        self.user_released(&alloc.username);
        // RFC 6062 §5: the allocation's peer connections (and their data connections) go
        // with it.
        let mut closed: Vec<u32> = self
            .connections
            .iter()
            .filter(|(_, c)| c.allocation == tuple)
            .map(|(&id, _)| id)
            .collect();
        closed.sort_unstable();
        for id in closed {
            self.connections.remove(&id);
            self.outputs.push_back(Output::CloseConnection(ConnectionId(id)));
        }
        match why {
            Removal::Expired => self.stats.allocations_expired += 1,
            Removal::Deleted => self.stats.allocations_deleted += 1,
        }
        info!(%tuple, username = alloc.username, ?why, "allocation removed");
    }

    /// Deletes one relayed address of a dual allocation.
    fn remove_relay(&mut self, tuple: FiveTuple, index: usize) {
        let Some(alloc) = self.allocations.get_mut(&tuple) else { return };
        if index >= alloc.relays.len() {
            return;
        }
        let relay = alloc.relays.remove(index);
        self.relays.remove(&relay.local);
        self.release(relay.local);
        info!(%tuple, relayed = %relay.public, "relayed address removed from a dual allocation");
    }

    /// Makes sure the timer fires by the allocation's first deadline.
    fn schedule(&mut self, tuple: FiveTuple) {
        if let Some(alloc) = self.allocations.get_mut(&tuple) {
            let next = alloc.next_deadline();
            if next < alloc.timer {
                alloc.timer = next;
                self.timers.push(next, TimerKey::Allocation(tuple));
            }
        }
    }

    fn check_peer(&self, alloc: &Allocation, peer: SocketAddr) -> Result<(), PeerError> {
        if alloc.relay_for(peer).is_none() {
            return Err(PeerError::FamilyMismatch);
        }
        if is_own_address(&self.config.listening, &self.own_ips, alloc, peer) {
            return Err(PeerError::Forbidden("one of the server's own addresses"));
        }
        self.config
            .peer_policy
            .check(peer.ip())
            .map_err(|Refusal(reason)| PeerError::Forbidden(reason))
    }
}

/// Whether the server understands an attribute (RFC 8489 §6.3.1). The ICE attributes,
/// USERHASH and PASSWORD-ALGORITHM are not served; DONT-FRAGMENT
/// only when the driver can set DF.
fn is_known(t: AttributeType, dont_fragment: bool) -> bool {
    match t {
        AttributeType::DONT_FRAGMENT => dont_fragment,
        AttributeType::PRIORITY
        | AttributeType::USE_CANDIDATE
        | AttributeType::USERHASH
        | AttributeType::PASSWORD_ALGORITHM => false,
        _ => t.is_known(),
    }
}

/// MESSAGE-INTEGRITY-SHA256 when present (and MESSAGE-INTEGRITY too when both are), else
/// MESSAGE-INTEGRITY, with the long-term key.
fn integrity_verifies(msg: &Message<'_>, key: &Key) -> bool {
    let sha1 = !msg.has_message_integrity() || msg.verify_message_integrity(key).is_ok();
    let sha256 =
        !msg.has_message_integrity_sha256() || msg.verify_message_integrity_sha256(key).is_ok();
    sha1 && sha256
}

/// The server's own transport addresses are never peers: the allocation's relayed
/// addresses, the address the client talks to, and any listening port on any of the
/// server's IPs.
fn is_own_address(
    listening: &[SocketAddr],
    own_ips: &[IpAddr],
    alloc: &Allocation,
    peer: SocketAddr,
) -> bool {
    let peer = SocketAddr::new(canonical(peer.ip()), peer.port());
    let same = |a: SocketAddr| SocketAddr::new(canonical(a.ip()), a.port()) == peer;
    same(alloc.five_tuple.server)
        || alloc.relays.iter().any(|r| same(r.local) || same(r.public))
        || (listening.iter().any(|l| l.port() == peer.port()) && own_ips.contains(&peer.ip()))
}

/// An IPv4-mapped IPv6 address as the IPv4 address it stands for.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn family_of(addr: SocketAddr) -> AddressFamily {
    if addr.is_ipv4() {
        AddressFamily::IPV4
    } else {
        AddressFamily::IPV6
    }
}

/// LIFETIME's 32-bit seconds (the configuration bounds lifetimes to fit).
fn lifetime_seconds(lifetime: Duration) -> u32 {
    u32::try_from(lifetime.as_secs()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_clock_follows_the_monotonic_clock() {
        let t0 = Instant::now() + Duration::from_secs(100);
        let clock = WallClock { anchor: t0, unix_at_anchor: 1_000 };
        assert_eq!(clock.unix(t0), 1_000);
        assert_eq!(clock.unix(t0 + Duration::from_millis(2_500)), 1_002);
        assert_eq!(clock.unix(t0 - Duration::from_secs(10)), 990);
    }

    #[test]
    fn known_attributes() {
        assert!(is_known(AttributeType::REQUESTED_TRANSPORT, true));
        assert!(is_known(AttributeType::DONT_FRAGMENT, true));
        assert!(!is_known(AttributeType::DONT_FRAGMENT, false));
        assert!(!is_known(AttributeType::PRIORITY, true));
        assert!(!is_known(AttributeType(0x7777), true));
    }

    #[test]
    fn canonical_maps_ipv4_mapped() {
        assert_eq!(
            canonical("::ffff:1.2.3.4".parse().unwrap()),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            canonical("2001:db8::1".parse().unwrap()),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
    }
}
