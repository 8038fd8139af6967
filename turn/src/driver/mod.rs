//! The tokio driver: the sockets around the sans-IO [`TurnServer`].
//!
//! One machine serves every listener. It sits behind a `std::sync::Mutex` that is held only
//! for the synchronous calls into the machine (never across an `.await`), so each socket
//! has its own task:
//!
//! - one task per UDP listener ([`udp`]): a datagram goes to
//!   [`TurnServer::relay_from_client`]; relayed data comes back borrowed from the task's
//!   receive buffer and is sent from the allocation's relay socket;
//! - one task per TCP and per TLS listener accepting connections, and one task per
//!   connection ([`stream`]) cutting the byte stream into STUN messages and ChannelData
//!   frames with [`stun::peek_frame`];
//! - one task per relay socket ([`udp`]): a peer datagram goes to
//!   [`TurnServer::relay_from_peer`], which writes the client's frame into the task's reused
//!   buffer;
//! - for TCP allocations (RFC 6062, [`tcp_relay`]): one task per relay listener accepting
//!   peers' connections ([`TurnServer::peer_connection_incoming`]), one task per Connect
//!   opening a connection from the relayed address ([`TurnServer::peer_connect_result`]);
//!   a bound data connection's task carries raw bytes between the client and the peer;
//! - one timer task calling [`TurnServer::handle_timeout`] at
//!   [`TurnServer::poll_timeout`] (at least once a second) and re-anchoring the wall clock.
//!
//! After every call the task drains [`TurnServer::poll_output`] under the lock: relay
//! sockets are bound ([`Output::BindRelay`], answered right away with
//! [`TurnServer::relay_bound`]) or closed there, and messages for clients are collected and
//! sent once the lock is released. Nothing on the relay paths allocates: buffers belong to
//! the tasks and are reused for every datagram. UDP sockets move up to [`sys::BATCH`]
//! datagrams per system call (`recvmmsg`, and `sendmmsg` or one segmented `sendmsg` for a
//! run of equal datagrams to one destination), and a batch is relayed under one lock.
//!
//! A UDP listener bound to a wildcard address (`0.0.0.0:PORT`, `[::]:PORT`) reads the
//! destination address of each datagram from its packet info control message and hands
//! the machine that address (with the listener's port) as the server address, so 5-tuples
//! hold the address the client talks to. Responses, Data indications and ChannelData for
//! the client are sent from the listener bound to that address if there is one, else from
//! the wildcard listener of its family and port with the address as the source
//! (`Core::udp_listener`): a client on a host with several addresses always hears back
//! from the address it sent to. Listeners bound to concrete addresses pass no control
//! messages at all.

pub mod stream;
pub mod sys;
pub mod tcp_relay;
pub mod tls;
pub mod udp;

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::{
    ConnectionId, Error, FiveTuple, Output, RelayBind, RelayBindError, ServerConfig, Transport,
    TurnServer, TurnStats,
};

pub use stream::StreamWriter;

/// The longest sleep of the timer task: deadlines added while it sleeps are served at most
/// this late, and the wall clock is re-read this often.
const TIMER_TICK: Duration = Duration::from_secs(1);

/// The bound listening sockets handed to [`start`]. Bind them with [`bind_udp`] and
/// [`bind_tcp`] (so the caller decides which failures are fatal), then start.
#[derive(Debug, Default)]
pub struct Listeners {
    /// UDP listeners.
    pub udp: Vec<std::net::UdpSocket>,
    /// TCP listeners.
    pub tcp: Vec<std::net::TcpListener>,
    /// TLS listeners (TCP sockets; TLS runs on each accepted connection).
    pub tls: Vec<std::net::TcpListener>,
}

/// Binds a UDP listener (IPv6 sockets are IPv6-only, so `[::]` serves IPv6 clients only:
/// bind `0.0.0.0` beside it for IPv4), non-blocking. A listener bound to a wildcard address
/// answers each client from the address the client sent to (see [`start`]).
pub fn bind_udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let socket = sys::udp_socket(addr)?;
    socket.bind(&addr.into())?;
    sys::set_buffers(&socket);
    Ok(socket.into())
}

/// Binds a TCP listener (with `SO_REUSEADDR`, as servers do; IPv6 sockets are IPv6-only),
/// non-blocking.
pub fn bind_tcp(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Limits of the driver itself (the machine has its own in [`ServerConfig`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DriverLimits {
    /// Open TCP and TLS connections at once; more are closed right after accept.
    pub max_connections: usize,
    /// Time a TLS handshake may take.
    pub tls_handshake_timeout: Duration,
    /// A TCP or TLS connection that has no allocation and sends nothing for this long is
    /// closed, so idle connections cannot hold the `max_connections` slots.
    pub idle_timeout: Duration,
}

impl Default for DriverLimits {
    fn default() -> Self {
        Self {
            max_connections: 4_096,
            tls_handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// What the tasks share: the machine and the sockets its outputs refer to.
pub(crate) struct Core {
    pub(crate) server: TurnServer,
    /// UDP listeners by bound address: the `server` of their UDP 5-tuples, or for one bound
    /// to a wildcard address, that of its family on the same port ([`Core::udp_listener`]).
    pub(crate) listeners: HashMap<SocketAddr, Arc<UdpSocket>>,
    /// Relay sockets by local address, with their receive task.
    pub(crate) relays: HashMap<SocketAddr, (Arc<UdpSocket>, JoinHandle<()>)>,
    /// TCP and TLS connections by 5-tuple.
    pub(crate) streams: HashMap<FiveTuple, StreamWriter>,
    /// TCP relay listeners (RFC 6062 allocations) by local address, with their accept task.
    pub(crate) tcp_relays: HashMap<SocketAddr, JoinHandle<()>>,
    /// TCP peer connections by id: established and waiting for a ConnectionBind, or bound
    /// to a client data connection.
    pub(crate) peer_conns: HashMap<ConnectionId, tcp_relay::PeerConn>,
    /// Peer connections just bound, for the client data connection's task to take over.
    pub(crate) splices: HashMap<FiveTuple, (ConnectionId, tokio::net::TcpStream)>,
    /// Peer datagrams longer than a relay socket's receive slot, dropped.
    pub(crate) truncated_dropped: u64,
    /// Set when the driver stops: no relay socket is bound any more.
    stopped: bool,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("allocations", &self.server.allocation_count())
            .field("relays", &self.relays.len())
            .field("streams", &self.streams.len())
            .finish_non_exhaustive()
    }
}

/// The shared core.
#[derive(Clone, Debug)]
pub(crate) struct Shared(Arc<Mutex<Core>>);

impl Shared {
    /// Locks the core. A task that panicked while holding the lock left the machine in a
    /// state its own `&mut self` methods produced, so the poison is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A message for a client, collected under the lock and sent after it.
#[derive(Debug)]
pub(crate) enum ToClient {
    /// A datagram from a UDP listener to a client, from a local address when the listener
    /// is bound to a wildcard address (see [`Core::udp_listener`]).
    Udp { socket: Arc<UdpSocket>, to: SocketAddr, from: Option<SocketAddr>, data: Vec<u8> },
    /// Bytes for a TCP or TLS connection.
    Stream(StreamWriter, Vec<u8>),
}

impl ToClient {
    /// Sends it. Errors are the client's problem (gone, or its buffer full): logged.
    pub(crate) async fn send(self) {
        match self {
            Self::Udp { socket, to, from: None, data } => {
                if let Err(e) = socket.send_to(&data, to).await {
                    debug!(%to, error = %e, "send to client failed");
                }
            }
            Self::Udp { socket, to, from: Some(from), data } => {
                let message = [sys::Datagram { data: &data, to, from: Some(from) }];
                let sent = socket
                    .async_io(Interest::WRITABLE, || sys::send_batch(socket.as_fd(), &message))
                    .await;
                if let Err(e) = sent {
                    debug!(%to, %from, error = %e, "send to client failed");
                }
            }
            Self::Stream(writer, data) => {
                writer.write(&data).await;
            }
        }
    }
}

/// Sends everything collected.
pub(crate) async fn send_all(messages: Vec<ToClient>) {
    for message in messages {
        message.send().await;
    }
}

impl Core {
    /// The UDP listener serving the server address `server` of a 5-tuple, and the address
    /// to send from: the listener bound to `server` itself (sending with no source
    /// address, as any socket), else the one bound to the wildcard address of its family on
    /// its port, which sends from `server` (the address the client's datagrams arrived on).
    pub(crate) fn udp_listener(
        &self,
        server: SocketAddr,
    ) -> Option<(&Arc<UdpSocket>, Option<SocketAddr>)> {
        if let Some(socket) = self.listeners.get(&server) {
            return Some((socket, None));
        }
        let wildcard = match server {
            SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, server.port())),
            SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, server.port())),
        };
        self.listeners.get(&wildcard).map(|socket| (socket, Some(server)))
    }

    /// Drains the machine's outputs: binds and closes relay sockets here, returns what must
    /// be sent to clients (nothing allocated when there is nothing to send).
    pub(crate) fn drain(&mut self, shared: &Shared, now: Instant) -> Vec<ToClient> {
        let mut sends = Vec::new();
        while let Some(output) = self.server.poll_output() {
            match output {
                Output::ToClient(t) => match t.transport {
                    Transport::Udp => match self.udp_listener(t.server) {
                        Some((socket, from)) => sends.push(ToClient::Udp {
                            socket: socket.clone(),
                            to: t.client,
                            from,
                            data: t.data,
                        }),
                        None => warn!(server = %t.server, "no UDP listener for a response"),
                    },
                    Transport::Tcp | Transport::Tls => {
                        if let Some(writer) = self.streams.get(&t.five_tuple()) {
                            sends.push(ToClient::Stream(writer.clone(), t.data));
                        }
                    }
                },
                Output::ToPeer(t) => {
                    // Only `handle_client` queues these; the driver uses `relay_from_client`.
                    if let Some((socket, _)) = self.relays.get(&t.relay) {
                        let _ = socket.try_send_to(&t.data, t.peer);
                    }
                }
                Output::BindRelay(bind) => self.bind_relay(shared, now, bind),
                Output::CloseRelay(addr) => {
                    if let Some((_, task)) = self.relays.remove(&addr) {
                        task.abort();
                        debug!(relay = %addr, "relay socket closed");
                    }
                    if let Some(task) = self.tcp_relays.remove(&addr) {
                        task.abort();
                        debug!(relay = %addr, "TCP relay listener closed");
                    }
                }
                Output::ConnectPeer(connect) => {
                    if !self.stopped {
                        tokio::spawn(tcp_relay::connect_task(shared.clone(), connect));
                    }
                }
                Output::BindConnection { client, id } => {
                    match self.peer_conns.remove(&id) {
                        Some(tcp_relay::PeerConn::Waiting(stream)) => {
                            self.splices.insert(client, (id, stream));
                            if let Some(writer) = self.streams.get(&client) {
                                self.peer_conns
                                    .insert(id, tcp_relay::PeerConn::Bound(writer.clone()));
                            }
                        }
                        other => {
                            // The peer went away in between: close the data connection.
                            drop(other);
                            if let Some(writer) = self.streams.get(&client) {
                                writer.abort();
                            }
                        }
                    }
                }
                Output::CloseConnection(id) => {
                    if let Some(tcp_relay::PeerConn::Bound(writer)) = self.peer_conns.remove(&id) {
                        writer.abort();
                    }
                }
            }
        }
        sends
    }

    fn bind_relay(&mut self, shared: &Shared, now: Instant, bind: RelayBind) {
        let answer = if self.stopped {
            Err(RelayBindError::Unavailable)
        } else if bind.tcp {
            match tcp_relay::bind_listener(bind.addr) {
                Ok(listener) => {
                    let task =
                        tokio::spawn(tcp_relay::accept_task(shared.clone(), listener, bind.addr));
                    self.tcp_relays.insert(bind.addr, task);
                    Ok(())
                }
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => Err(RelayBindError::AddressInUse),
                Err(e) => {
                    warn!(addr = %bind.addr, error = %e, "cannot bind a TCP relay listener");
                    Err(RelayBindError::Unavailable)
                }
            }
        } else {
            match udp::bind_relay(bind) {
                Ok(socket) => {
                    let task =
                        tokio::spawn(udp::relay_task(shared.clone(), socket.clone(), bind.addr));
                    self.relays.insert(bind.addr, (socket, task));
                    Ok(())
                }
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => Err(RelayBindError::AddressInUse),
                Err(e) => {
                    warn!(addr = %bind.addr, error = %e, "cannot bind a relay socket");
                    Err(RelayBindError::Unavailable)
                }
            }
        };
        if self.server.relay_bound(now, bind.request, answer).is_err() {
            // Cannot happen: the request came from this machine's own output just now.
            warn!(request = ?bind.request, "relay bind answer refused");
        }
    }
}

/// The running server: its bound addresses, its counters, and how to stop it.
#[derive(Debug)]
pub struct Running {
    /// Bound UDP listener addresses.
    pub udp_addrs: Vec<SocketAddr>,
    /// Bound TCP listener addresses.
    pub tcp_addrs: Vec<SocketAddr>,
    /// Bound TLS listener addresses.
    pub tls_addrs: Vec<SocketAddr>,
    shared: Shared,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// The machine's counters.
    pub fn stats(&self) -> TurnStats {
        self.shared.lock().server.stats().clone()
    }

    /// Peer datagrams dropped for being longer than a relay socket's receive slot (4096
    /// bytes).
    pub fn truncated_dropped(&self) -> u64 {
        self.shared.lock().truncated_dropped
    }

    /// Allocations in place.
    pub fn allocation_count(&self) -> usize {
        self.shared.lock().server.allocation_count()
    }

    /// Stops every task and closes every socket.
    pub fn shutdown(self) {
        for task in &self.tasks {
            task.abort();
        }
        let mut core = self.shared.lock();
        core.stopped = true;
        for (_, (_, task)) in core.relays.drain() {
            task.abort();
        }
        for (_, task) in core.tcp_relays.drain() {
            task.abort();
        }
        core.peer_conns.clear();
        core.splices.clear();
        for (_, writer) in core.streams.drain() {
            writer.abort();
        }
        core.listeners.clear();
    }
}

/// Starts the server on `listeners`: adds their addresses to `config.listening` (peers on
/// them are refused), creates the machine with an RNG seeded from the OS and the system's
/// Unix time, and spawns the tasks on the current tokio runtime. `tls` is required when
/// there are TLS listeners. A UDP listener bound to a wildcard address (`0.0.0.0`, `::`)
/// is asked for the destination address of each datagram (`IP_PKTINFO`,
/// `IPV6_RECVPKTINFO`): the machine gets that address as the server address of the
/// client's 5-tuple, and everything for the client leaves from it. (An IPv6 socket that is
/// not IPv6-only, which [`bind_udp`] never makes, gets IPv4 datagrams with IPv4-mapped
/// client and destination addresses, and answers them from the mapped address as well.)
pub fn start(
    mut config: ServerConfig,
    listeners: Listeners,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: DriverLimits,
) -> Result<Running, StartError> {
    let mut udp = Vec::new();
    for socket in listeners.udp {
        socket.set_nonblocking(true).map_err(StartError::Io)?;
        let addr = socket.local_addr().map_err(StartError::Io)?;
        if addr.ip().is_unspecified() {
            // Each datagram then tells the address it was sent to, which answers leave from.
            sys::set_recv_pktinfo(socket.as_fd(), addr).map_err(StartError::Io)?;
        }
        let socket = UdpSocket::from_std(socket).map_err(StartError::Io)?;
        udp.push((addr, Arc::new(socket)));
    }
    let mut tcp = Vec::new();
    for listener in listeners.tcp {
        listener.set_nonblocking(true).map_err(StartError::Io)?;
        let listener = tokio::net::TcpListener::from_std(listener).map_err(StartError::Io)?;
        tcp.push((listener.local_addr().map_err(StartError::Io)?, listener));
    }
    let mut tls_listeners = Vec::new();
    for listener in listeners.tls {
        listener.set_nonblocking(true).map_err(StartError::Io)?;
        let listener = tokio::net::TcpListener::from_std(listener).map_err(StartError::Io)?;
        tls_listeners.push((listener.local_addr().map_err(StartError::Io)?, listener));
    }
    let acceptor = match (tls, tls_listeners.is_empty()) {
        (Some(config), _) => Some(tokio_rustls::TlsAcceptor::from(config)),
        (None, true) => None,
        (None, false) => return Err(StartError::NoTlsConfig),
    };

    config.listening.extend(udp.iter().map(|(a, _)| *a));
    config.listening.extend(tcp.iter().map(|(a, _)| *a));
    config.listening.extend(tls_listeners.iter().map(|(a, _)| *a));
    config.dont_fragment = sys::DONT_FRAGMENT_SUPPORTED;
    let now = Instant::now();
    let server = TurnServer::new(config, now, unix_now(), StdRng::from_entropy())
        .map_err(StartError::Config)?;

    let shared = Shared(Arc::new(Mutex::new(Core {
        server,
        listeners: udp.iter().map(|(a, s)| (*a, s.clone())).collect(),
        relays: HashMap::new(),
        streams: HashMap::new(),
        tcp_relays: HashMap::new(),
        peer_conns: HashMap::new(),
        splices: HashMap::new(),
        truncated_dropped: 0,
        stopped: false,
    })));
    let connections = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut tasks = Vec::new();
    let udp_addrs: Vec<SocketAddr> = udp.iter().map(|(a, _)| *a).collect();
    for (addr, socket) in udp {
        tasks.push(tokio::spawn(udp::listener_task(shared.clone(), socket, addr)));
    }
    let tcp_addrs: Vec<SocketAddr> = tcp.iter().map(|(a, _)| *a).collect();
    for (addr, listener) in tcp {
        tasks.push(tokio::spawn(stream::accept_task(
            shared.clone(),
            listener,
            addr,
            None,
            connections.clone(),
            limits,
        )));
    }
    let tls_addrs: Vec<SocketAddr> = tls_listeners.iter().map(|(a, _)| *a).collect();
    for (addr, listener) in tls_listeners {
        tasks.push(tokio::spawn(stream::accept_task(
            shared.clone(),
            listener,
            addr,
            acceptor.clone(),
            connections.clone(),
            limits,
        )));
    }
    tasks.push(tokio::spawn(timer_task(shared.clone())));
    Ok(Running { udp_addrs, tcp_addrs, tls_addrs, shared, tasks })
}

/// Why [`start`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The machine refused the configuration.
    #[error(transparent)]
    Config(Error),
    /// A socket could not be registered with tokio.
    #[error("cannot register a socket with the runtime: {0}")]
    Io(io::Error),
    /// TLS listeners without a certificate.
    #[error("TLS listeners need a certificate and key")]
    NoTlsConfig,
}

/// Seconds since the Unix epoch (0 if the clock is before it).
fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Runs the machine's timers and keeps its wall clock in step with the system's.
async fn timer_task(shared: Shared) {
    loop {
        let now = Instant::now();
        let wake = {
            let core = shared.lock();
            core.server.poll_timeout().map_or(now + TIMER_TICK, |t| t.min(now + TIMER_TICK))
        };
        tokio::time::sleep_until(tokio::time::Instant::from_std(wake)).await;
        let now = Instant::now();
        let sends = {
            let mut core = shared.lock();
            core.server.set_wall_clock(now, unix_now());
            core.server.handle_timeout(now);
            core.drain(&shared, now)
        };
        send_all(sends).await;
    }
}
