//! The UDP driver: worker threads that own sockets and sessions.
//!
//! Each worker is one thread with a current-thread tokio runtime. It owns one socket per
//! listen address (all workers' sockets share the address through `SO_REUSEPORT`, see
//! [`crate::udp`]), the sessions it claimed, and a map from 5-tuple (our address, the peer's
//! address) to where datagrams of that 5-tuple go. Its loop waits on three things: a socket
//! becoming readable (then it reads up to [`RECV_BUDGET`] datagrams into one reused 64 KiB
//! buffer), its bounded command queue, and the earliest timer of its sessions.
//!
//! # A datagram's way
//!
//! 1. Larger than [`MAX_DATAGRAM_LEN`]: dropped. No WebRTC endpoint sends datagrams larger
//!    than an Ethernet frame (browsers size packets for about 1200 bytes so they cross any
//!    path), so anything larger is not for us.
//! 2. Classified by its first byte (RFC 7983 §7): 0–3 STUN, 20–63 DTLS, 128–191 RTP/RTCP;
//!    anything else (empty, ZRTP, TURN channels, garbage) is dropped.
//! 3. A known 5-tuple goes to its session here, or to the owning worker's queue. An ICE
//!    check on a forwarded 5-tuple, or one naming another ufrag than the session's, is
//!    routed again as in 4, so a 5-tuple reused by a new PeerConnection (the same NAT
//!    mapping) follows the directory. Checks are rare, so this stays off the media path.
//! 4. An unknown 5-tuple creates state only for an ICE check: a well-formed STUN Binding
//!    request whose USERNAME names the local ufrag of a session in the [`Directory`] and
//!    whose MESSAGE-INTEGRITY verifies with that session's password (RFC 8445 §7.3,
//!    [`ice::verify_check`]). The worker then claims the session if nobody did, or remembers
//!    "this 5-tuple belongs to worker k" and forwards (the kernel keeps hashing that 5-tuple
//!    here). A datagram that is not a check goes, before being dropped, to the third-party
//!    session whose check went to that 5-tuple, if the directory binds it to one (see
//!    below). Everything else from unknown 5-tuples is dropped and counted by reason in
//!    [`DriverStats`], with no state created.
//!
//! # Third-party sessions
//!
//! A session whose peer is itself ICE-lite ([`Session::new_third_party`]) sends the first
//! checks, so no incoming check would claim it: the worker the API names in
//! [`Command::SessionAdded`] claims it at once ([`Directory::claim_third_party`]) and sends
//! its checks from its socket of each family. The answers come back on the 5-tuples the
//! checks went to, and the kernel may hand them to any worker of the port: so the owner binds
//! each such 5-tuple in the directory when the session reports it
//! ([`Directory::bind_tuple`], at most [`ice::MAX_CONTROLLING_PAIRS`] per session), and a
//! worker that reads a datagram of an unknown 5-tuple looks it up there
//! ([`Directory::route_tuple`], which takes no lock while nothing is bound) and forwards it
//! like any other.
//!
//! A session's own 5-tuples enter the map when it reports
//! [`SessionEvent::PairDiscovered`] and leave it on [`SessionEvent::PairRemoved`] (the ICE
//! agent bounds how many pairs a session keeps). Forwarding entries are capped at
//! [`MAX_FORWARDED_TUPLES`] per worker and swept every [`HOUSEKEEPING_INTERVAL`] once their
//! session is gone.
//!
//! # Media
//!
//! Each worker owns a [`Router`] for the sessions it owns. When [`Session::handle_receive`]
//! leaves decrypted RTP or RTCP in the receive buffer, the router forwards it in place (see
//! [`crate::router`]): to subscribers on this worker directly, to other workers'
//! subscribers through their command queues ([`Command::Media`], one copy per worker,
//! dropped and counted when the queue is full). Keyframe requests for a publisher owned
//! elsewhere go the same way ([`Command::KeyframeRequest`]), and so do a publisher's sender
//! reports for the subscribers' sender reports there ([`Command::SenderReport`]). The
//! router's timer (deferred keyframe requests, NACKs to publishers, transport-wide feedback,
//! receiver and sender reports) is one of the worker's wake-ups. The router's tables are read
//! again from the directory whenever its generation moves; the API wakes every worker with
//! [`Command::RoutesChanged`] after a negotiation.
//!
//! # Session lifetime
//!
//! Timers from [`SessionTimers`]: a session that never reached `connected` is removed
//! `unconnected_timeout` (30 s) after creation, claimed or not (the worker named by the API's
//! [`Command::SessionAdded`] removes it from the directory if it is still unclaimed then); a
//! session that lost consent after being connected is removed when it stays `disconnected`
//! for `disconnected_timeout` (30 s); a `closed` or `failed` one after `closed_grace` (5 s),
//! so the API can still report the final state.

mod stats;

pub use stats::{DriverStats, DriverStatsSnapshot};

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, info_span, trace, warn, Span};

use crate::config::SessionTimers;
use crate::datachannel::{ChannelRouter, ForwardedMessage};
use crate::directory::{CheckRoute, Directory, SessionId, TrackId};
use crate::router::{Forward, MediaSink, Router, Sessions, StreamKey};
use crate::session::{ConnectionState, ReceivedMedia, Session, SessionEvent, Transmit};

/// Largest datagram accepted, in bytes (see the module documentation).
pub const MAX_DATAGRAM_LEN: usize = 1500;
/// Size of the receive buffer: any UDP datagram fits, so its real length is known.
const RECV_BUFFER_LEN: usize = 64 * 1024;
/// Datagrams read from one socket before the loop looks at its queue and timers again.
pub const RECV_BUDGET: usize = 64;
/// Capacity of each worker's command queue.
pub const COMMAND_QUEUE_LEN: usize = 1024;
/// Most 5-tuples one worker remembers as belonging to another worker.
pub const MAX_FORWARDED_TUPLES: usize = 4096;
/// How often forwarding entries of removed sessions are swept.
pub const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(10);
/// A session timer that is still due right after it fired is retried this much later, so a
/// machine that keeps asking for "now" cannot spin the loop.
const MIN_TIMER_STEP: Duration = Duration::from_millis(1);

/// A message to a worker.
#[derive(Debug)]
#[non_exhaustive]
pub enum Command {
    /// A session was registered at `created`: remove it at `created + unconnected_timeout`
    /// if no worker has claimed it by then.
    SessionAdded {
        /// The session.
        id: SessionId,
        /// When it was created (or got its PeerConnection).
        created: Instant,
    },
    /// A datagram that another worker read, for a session this worker owns.
    Datagram {
        /// The session.
        id: SessionId,
        /// Our address it arrived on.
        local: SocketAddr,
        /// The sender.
        remote: SocketAddr,
        /// The bytes.
        datagram: Vec<u8>,
    },
    /// A decrypted RTP packet of `stream` (a track or one simulcast layer of it) from the
    /// publisher's worker, for the subscribers of this one.
    Media {
        /// The stream.
        stream: StreamKey,
        /// The packet, decrypted.
        packet: Vec<u8>,
    },
    /// Subscribers on another worker want a keyframe of `stream`, whose publisher this
    /// worker owns.
    KeyframeRequest {
        /// The stream.
        stream: StreamKey,
    },
    /// The publisher of `stream`, owned by another worker, sent a sender report.
    SenderReport {
        /// The stream.
        stream: StreamKey,
        /// What it said.
        info: crate::router::reports::SenderInfo,
    },
    /// A data channel message of a publication whose publisher this worker does not own,
    /// for the subscribers of this one (see [`crate::datachannel`]).
    ChannelMessage(ForwardedMessage),
    /// Tracks, subscriptions or owners changed in the directory: read the routes again.
    RoutesChanged,
    /// ICE restart of a session this worker owns (see [`Session::restart_ice`]).
    IceRestart {
        /// The session.
        id: SessionId,
        /// Our new credentials.
        local: ice::Credentials,
        /// The client's new credentials.
        remote: ice::Credentials,
    },
    /// The API ended session `id` (already out of the directory): send its DTLS
    /// close_notify and drop it.
    CloseSession {
        /// The session.
        id: SessionId,
    },
    /// Stop the worker.
    Shutdown,
}

/// What every worker shares.
#[derive(Debug)]
pub struct Shared {
    /// The session directory.
    pub directory: Arc<Directory>,
    /// Driver-wide counters.
    pub stats: Arc<DriverStats>,
    /// Session lifetime rules.
    pub timers: SessionTimers,
    /// The bound UDP addresses; each worker's sockets are in this order.
    pub local_addrs: Vec<SocketAddr>,
    /// At most one keyframe request per published track in this interval.
    pub keyframe_interval: Duration,
}

/// The running workers.
#[derive(Debug)]
pub struct Workers {
    notifier: Notifier,
    threads: Vec<JoinHandle<()>>,
    shutdown: watch::Sender<bool>,
}

/// The workers' command queues, for the API. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Notifier {
    senders: Vec<mpsc::Sender<Command>>,
}

impl Notifier {
    /// Number of workers.
    pub fn len(&self) -> usize {
        self.senders.len()
    }

    /// Whether there is no worker.
    pub fn is_empty(&self) -> bool {
        self.senders.is_empty()
    }

    /// Tells one worker (chosen by the id) to expire the new session if it stays unclaimed.
    /// Call it for every session registered or given a PeerConnection.
    pub async fn session_added(&self, id: SessionId, created: Instant) {
        let Some(count) = std::num::NonZeroUsize::new(self.senders.len()) else { return };
        let index = usize::from(id.0[0]) % count;
        if let Some(sender) = self.senders.get(index) {
            // Fails only when the worker has stopped (shutdown).
            let _ = sender.send(Command::SessionAdded { id, created }).await;
        }
    }
}

impl Notifier {
    /// Tells the owner of session `id` to restart its ICE agent.
    pub async fn ice_restart(
        &self,
        worker: usize,
        id: SessionId,
        local: ice::Credentials,
        remote: ice::Credentials,
    ) {
        if let Some(sender) = self.senders.get(worker) {
            // Fails only when the worker has stopped (shutdown).
            let _ = sender.send(Command::IceRestart { id, local, remote }).await;
        }
    }

    /// Tells the owner of session `id`, which the API removed from the directory, to close
    /// and drop it.
    pub async fn close_session(&self, worker: usize, id: SessionId) {
        if let Some(sender) = self.senders.get(worker) {
            // Fails only when the worker has stopped (shutdown).
            let _ = sender.send(Command::CloseSession { id }).await;
        }
    }

    /// Wakes every worker to read its media routes again (after a negotiation changed
    /// tracks or subscriptions). Never waits: a worker with a full queue reads them at its
    /// next wake-up anyway, since the directory's generation moved.
    pub fn routes_changed(&self) {
        for sender in &self.senders {
            let _ = sender.try_send(Command::RoutesChanged);
        }
    }
}

impl Workers {
    /// Starts one worker thread per entry of `sockets` (`sockets[w][i]` bound to
    /// `shared.local_addrs[i]`). Dropping the returned value stops the workers.
    pub fn spawn(
        shared: Arc<Shared>,
        sockets: Vec<Vec<std::net::UdpSocket>>,
    ) -> io::Result<Workers> {
        let count = sockets.len();
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..count).map(|_| mpsc::channel(COMMAND_QUEUE_LEN)).unzip();
        let (shutdown, _) = watch::channel(false);
        let mut workers = Workers {
            notifier: Notifier { senders },
            threads: Vec::with_capacity(count),
            shutdown,
        };
        for (index, (sockets, commands)) in sockets.into_iter().zip(receivers).enumerate() {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let shared = Arc::clone(&shared);
            let peers = workers.notifier.senders.clone();
            let stop = workers.shutdown.subscribe();
            let thread =
                std::thread::Builder::new().name(format!("sfu-udp-{index}")).spawn(move || {
                    runtime.block_on(async move {
                        let sockets: io::Result<Vec<UdpSocket>> =
                            sockets.into_iter().map(UdpSocket::from_std).collect();
                        match sockets {
                            Ok(sockets) => {
                                Worker::new(index, shared, peers, sockets).run(commands, stop).await
                            }
                            Err(e) => error!(worker = index, error = %e, "cannot register sockets"),
                        }
                    });
                })?;
            workers.threads.push(thread);
        }
        Ok(workers)
    }

    /// The command queues, for the API.
    pub fn notifier(&self) -> Notifier {
        self.notifier.clone()
    }

    /// Asks every worker to stop, without waiting.
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
        for sender in &self.notifier.senders {
            let _ = sender.try_send(Command::Shutdown);
        }
    }

    /// Stops the workers and waits for their threads (blocking).
    pub fn join(mut self) {
        self.shutdown();
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                error!("a UDP worker panicked");
            }
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

/// Where datagrams of a 5-tuple go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// A session of this worker.
    Local(SessionId),
    /// A session owned by another worker.
    Remote { worker: usize, id: SessionId },
}

/// Our address and the peer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FiveTuple {
    local: SocketAddr,
    remote: SocketAddr,
}

/// RFC 7983 §7 demultiplexing by first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Stun,
    Dtls,
    Rtp,
    Other,
}

impl Kind {
    fn of(datagram: &[u8]) -> Kind {
        match datagram.first() {
            Some(0..=3) => Kind::Stun,
            Some(20..=63) => Kind::Dtls,
            Some(128..=191) => Kind::Rtp,
            _ => Kind::Other,
        }
    }
}

/// A session this worker owns.
#[derive(Debug)]
struct Slot {
    session: Box<Session>,
    /// The earliest instant this session has in the timer heap.
    scheduled: Option<Instant>,
    /// The driver's own deadline (see the module documentation).
    deadline: Option<Instant>,
    created: Instant,
    state: ConnectionState,
    ever_connected: bool,
    /// Our ICE ufrag: a check naming another one on this session's 5-tuple is routed anew.
    ufrag: String,
    span: Span,
}

struct Worker {
    index: usize,
    shared: Arc<Shared>,
    peers: Vec<mpsc::Sender<Command>>,
    sockets: Vec<UdpSocket>,
    /// Socket polled first, rotated so that one busy socket cannot starve the others.
    next_socket: usize,
    routes: HashMap<FiveTuple, Route>,
    forwarded_routes: usize,
    sessions: HashMap<SessionId, Slot>,
    /// Session timers, with lazy deletion: an entry is live only if it equals its slot's
    /// `scheduled`.
    timers: BinaryHeap<Reverse<(Instant, SessionId)>>,
    /// Unclaimed-session expiry: (deadline, id, creation instant).
    unclaimed: BinaryHeap<Reverse<(Instant, SessionId, Instant)>>,
    housekeeping_at: Instant,
    /// When the tracks that had media are next reported to the directory.
    media_report_at: Instant,
    /// The tracks to report (reused).
    media_seen: Vec<TrackId>,
    router: Router,
    /// Data channel fan-out.
    channels: ChannelRouter,
    /// Data channel events of sessions, waiting for the channel router.
    channel_events: VecDeque<(SessionId, sctp::ChannelEvent)>,
}

/// The sessions of a worker, as the router reaches them.
struct Slots<'a>(&'a mut HashMap<SessionId, Slot>);

impl Sessions for Slots<'_> {
    fn session_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        self.0.get_mut(&id).map(|slot| &mut *slot.session)
    }
}

/// The router's way out: this worker's sockets and the other workers' queues.
struct Outlet<'a> {
    sockets: &'a [UdpSocket],
    local_addrs: &'a [SocketAddr],
    peers: &'a [mpsc::Sender<Command>],
    stats: &'a DriverStats,
}

impl MediaSink for Outlet<'_> {
    fn send(&mut self, local: SocketAddr, remote: SocketAddr, datagram: &[u8]) {
        let Some(socket) = socket_for(self.sockets, self.local_addrs, local) else {
            DriverStats::bump(&self.stats.dropped_no_socket);
            return;
        };
        // UDP: a full socket buffer drops the datagram, as the network would.
        match socket.try_send_to(datagram, remote) {
            Ok(n) => {
                DriverStats::bump(&self.stats.datagrams_sent);
                DriverStats::add(&self.stats.bytes_sent, n as u64);
            }
            Err(e) => {
                DriverStats::bump(&self.stats.send_errors);
                trace!(%remote, error = %e, "UDP send error");
            }
        }
    }

    fn forward(&mut self, worker: usize, message: Forward) -> bool {
        let Some(sender) = self.peers.get(worker) else { return false };
        let command = match message {
            Forward::Media { stream, packet } => Command::Media { stream, packet },
            Forward::KeyframeRequest { stream } => Command::KeyframeRequest { stream },
            Forward::SenderReport { stream, info } => Command::SenderReport { stream, info },
        };
        sender.try_send(command).is_ok()
    }
}

/// How often a worker tells the directory which tracks had media: three times per idle
/// timeout, at most every [`HOUSEKEEPING_INTERVAL`].
fn media_report_interval(timers: &SessionTimers) -> Duration {
    (timers.track_idle_timeout / 3).clamp(Duration::from_millis(10), HOUSEKEEPING_INTERVAL)
}

/// The socket of `local` (or, for an address the socket is not bound to exactly, the one of
/// its family and port).
fn socket_for<'a>(
    sockets: &'a [UdpSocket],
    addrs: &[SocketAddr],
    local: SocketAddr,
) -> Option<&'a UdpSocket> {
    let index = addrs.iter().position(|a| *a == local).or_else(|| {
        addrs.iter().position(|a| a.is_ipv4() == local.is_ipv4() && a.port() == local.port())
    });
    index.and_then(|i| sockets.get(i))
}

impl Worker {
    fn new(
        index: usize,
        shared: Arc<Shared>,
        peers: Vec<mpsc::Sender<Command>>,
        sockets: Vec<UdpSocket>,
    ) -> Worker {
        Worker {
            index,
            peers,
            sockets,
            next_socket: 0,
            routes: HashMap::new(),
            forwarded_routes: 0,
            sessions: HashMap::new(),
            timers: BinaryHeap::new(),
            unclaimed: BinaryHeap::new(),
            housekeeping_at: Instant::now() + HOUSEKEEPING_INTERVAL,
            media_report_at: Instant::now() + media_report_interval(&shared.timers),
            media_seen: Vec::new(),
            router: Router::new(index, shared.keyframe_interval, Arc::clone(&shared.stats)),
            channels: ChannelRouter::new(index, Arc::clone(&shared.stats)),
            channel_events: VecDeque::new(),
            shared,
        }
    }

    async fn run(mut self, mut commands: mpsc::Receiver<Command>, mut stop: watch::Receiver<bool>) {
        debug!(worker = self.index, sockets = self.sockets.len(), "UDP worker started");
        let mut buf = vec![0u8; RECV_BUFFER_LEN];
        let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(self.next_wake()));
        tokio::pin!(sleep);
        loop {
            sleep.as_mut().reset(tokio::time::Instant::from_std(self.next_wake()));
            // Unbiased: under load, neither the queue nor the sockets starve the other.
            tokio::select! {
                _ = stop.changed() => break,
                command = commands.recv() => match command {
                    None | Some(Command::Shutdown) => break,
                    Some(command) => self.on_command(command).await,
                },
                ready = poll_fn(|cx| poll_any_readable(&self.sockets, self.next_socket, cx)) => {
                    self.next_socket = ready.wrapping_add(1);
                    self.drain_socket(ready, &mut buf).await;
                }
                () = &mut sleep => {}
            }
            self.fire_timers(Instant::now()).await;
            self.refresh_routes(Instant::now()).await;
        }
        self.close_all().await;
        debug!(worker = self.index, "UDP worker stopped");
    }

    /// On shutdown: every session sends its DTLS close_notify, so browsers see the end at
    /// once instead of after their consent timeout.
    async fn close_all(&mut self) {
        let ids: Vec<SessionId> = self.sessions.keys().copied().collect();
        for id in ids {
            if let Some(slot) = self.sessions.get_mut(&id) {
                slot.span.in_scope(|| slot.session.close());
            }
            while let Some(t) = self.sessions.get_mut(&id).and_then(|s| s.session.poll_transmit()) {
                self.send(t).await;
            }
            self.shared.directory.remove(id);
        }
        let stats = &self.shared.stats;
        let local = self.routes.len().saturating_sub(self.forwarded_routes);
        DriverStats::sub(&stats.five_tuples, local as u64);
        DriverStats::sub(&stats.forwarded_tuples, self.forwarded_routes as u64);
        DriverStats::add(&stats.sessions_removed, self.sessions.len() as u64);
        if !self.sessions.is_empty() {
            info!(
                worker = self.index,
                sessions = self.sessions.len(),
                "sessions closed at shutdown"
            );
        }
        self.sessions.clear();
        self.routes.clear();
        self.forwarded_routes = 0;
    }

    fn next_wake(&self) -> Instant {
        let session = self.timers.peek().map(|Reverse((at, _))| *at);
        let unclaimed = self.unclaimed.peek().map(|Reverse((at, _, _))| *at);
        [session, unclaimed, self.router.poll_timeout()]
            .into_iter()
            .flatten()
            .fold(self.housekeeping_at.min(self.media_report_at), Instant::min)
    }

    /// Reads the media routes again when the directory changed since the last read, then
    /// starts the subscriber streams that became ready.
    async fn refresh_routes(&mut self, now: Instant) {
        self.refresh_channels(now).await;
        let generation = self.shared.directory.generation();
        if self.router.generation() == Some(generation) {
            return;
        }
        let routes = self.shared.directory.media_routes(self.index);
        self.router.refresh(routes);
        self.start_streams(now).await;
    }

    /// Reads the data channel routes again when the directory or the channel registry
    /// changed since the last read.
    async fn refresh_channels(&mut self, now: Instant) {
        if self.sync_channel_routes(now) {
            self.process_channels(now).await;
        }
    }

    /// The routing part of [`Worker::refresh_channels`]; whether the routes changed.
    fn sync_channel_routes(&mut self, now: Instant) -> bool {
        let directory = &self.shared.directory;
        let generation = (directory.generation(), directory.channels().generation());
        if self.channels.generation() == Some(generation) {
            return false;
        }
        let routes = directory.channel_routes(self.index);
        self.channels.refresh(now, generation, routes, &mut Slots(&mut self.sessions));
        true
    }

    /// Hands the sessions' data channel events to the channel router, sends the copies for
    /// other workers, and drains the sessions it gave messages to (whose events may bring
    /// more work), until nothing is left.
    async fn process_channels(&mut self, now: Instant) {
        loop {
            // Routes as they are now: a subscriber claimed by another worker a moment ago
            // gets this message too.
            self.sync_channel_routes(now);
            while let Some((id, event)) = self.channel_events.pop_front() {
                let mut sessions = Slots(&mut self.sessions);
                match event {
                    sctp::ChannelEvent::ChannelMessage { id: stream, binary, data } => {
                        self.channels.on_message(now, id, stream, binary, data, &mut sessions);
                    }
                    sctp::ChannelEvent::Connected
                    | sctp::ChannelEvent::Writable
                    | sctp::ChannelEvent::BufferedAmountLow { .. } => {
                        self.channels.on_writable(now, id, &mut sessions);
                    }
                    sctp::ChannelEvent::ChannelClosed { id: stream } => {
                        self.channels.on_closed(id, stream);
                        // Closed by the client: the publication or subscription ends. (When
                        // the registry closed it, it is gone already.)
                        let _ = self.shared.directory.channels().close(id, stream);
                    }
                    _ => {}
                }
            }
            while let Some((worker, message)) = self.channels.pop_forward() {
                let stats = &self.shared.stats;
                let sent = self
                    .peers
                    .get(worker)
                    .is_some_and(|p| p.try_send(Command::ChannelMessage(message)).is_ok());
                if sent {
                    DriverStats::bump(&stats.channel_forwarded_out);
                } else {
                    DriverStats::bump(&stats.channel_dropped_queue_full);
                }
            }
            let Some(id) = self.channels.pop_touched() else { break };
            self.drain_session(now, id, now).await;
        }
    }

    /// Keyframe requests for subscriber streams whose session is connected and that had none.
    async fn start_streams(&mut self, now: Instant) {
        let mut outlet = Outlet {
            sockets: &self.sockets,
            local_addrs: &self.shared.local_addrs,
            peers: &self.peers,
            stats: &self.shared.stats,
        };
        self.router.start_streams(now, &mut Slots(&mut self.sessions), &mut outlet);
        self.flush_touched().await;
    }

    /// Sends what the router queued on sessions (PLIs to publishers).
    async fn flush_touched(&mut self) {
        while let Some(id) = self.router.pop_touched() {
            while let Some(t) = self.sessions.get_mut(&id).and_then(|s| s.session.poll_transmit()) {
                self.send(t).await;
            }
        }
    }

    /// Hands what a session decrypted to the router.
    async fn route(&mut self, now: Instant, id: SessionId, media: ReceivedMedia, datagram: &[u8]) {
        let mut outlet = Outlet {
            sockets: &self.sockets,
            local_addrs: &self.shared.local_addrs,
            peers: &self.peers,
            stats: &self.shared.stats,
        };
        let mut sessions = Slots(&mut self.sessions);
        match media {
            ReceivedMedia::Rtp { len } => {
                if let Some(packet) = datagram.get(..len) {
                    self.router.on_rtp(now, id, packet, &mut sessions, &mut outlet);
                }
            }
            ReceivedMedia::Rtcp { len } => {
                if let Some(packet) = datagram.get(..len) {
                    self.router.on_rtcp(now, id, packet, &mut sessions, &mut outlet);
                }
            }
        }
        self.flush_touched().await;
    }

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::SessionAdded { id, created } => {
                // A third-party session sends the first checks: this worker claims it now.
                if let Some((session, created)) =
                    self.shared.directory.claim_third_party(id, self.index)
                {
                    // Bound before the first check goes out, so that an answer the kernel
                    // hands to another worker at once finds the session.
                    for pair in session.third_party_pairs() {
                        self.shared.directory.bind_tuple(id, pair.local, pair.remote);
                    }
                    let ufrag = session.local_ufrag().to_owned();
                    self.adopt(id, session, created, ufrag);
                    let now = Instant::now();
                    self.after_input(now, id, now).await;
                    return;
                }
                let at = created + self.shared.timers.unconnected_timeout;
                self.unclaimed.push(Reverse((at, id, created)));
            }
            Command::Datagram { id, local, remote, mut datagram } => {
                DriverStats::bump(&self.shared.stats.forwarded_in);
                self.deliver(Instant::now(), id, local, remote, &mut datagram).await;
            }
            Command::Media { stream, packet } => {
                self.refresh_routes(Instant::now()).await;
                let mut outlet = Outlet {
                    sockets: &self.sockets,
                    local_addrs: &self.shared.local_addrs,
                    peers: &self.peers,
                    stats: &self.shared.stats,
                };
                let mut sessions = Slots(&mut self.sessions);
                self.router.on_forwarded_media(
                    Instant::now(),
                    stream,
                    &packet,
                    &mut sessions,
                    &mut outlet,
                );
            }
            Command::KeyframeRequest { stream } => {
                self.refresh_routes(Instant::now()).await;
                let mut outlet = Outlet {
                    sockets: &self.sockets,
                    local_addrs: &self.shared.local_addrs,
                    peers: &self.peers,
                    stats: &self.shared.stats,
                };
                let mut sessions = Slots(&mut self.sessions);
                self.router.on_keyframe_request(Instant::now(), stream, &mut sessions, &mut outlet);
                self.flush_touched().await;
            }
            Command::SenderReport { stream, info } => {
                self.refresh_routes(Instant::now()).await;
                self.router.on_sender_info(stream, info);
            }
            Command::ChannelMessage(message) => {
                DriverStats::bump(&self.shared.stats.channel_forwarded_in);
                let now = Instant::now();
                self.refresh_routes(now).await;
                self.channels.on_forwarded(now, message, &mut Slots(&mut self.sessions));
                self.process_channels(now).await;
            }
            Command::IceRestart { id, local, remote } => {
                let now = Instant::now();
                let Some(slot) = self.sessions.get_mut(&id) else { return };
                let restarted = slot.span.in_scope(|| slot.session.restart_ice(local, remote));
                if let Err(e) = restarted {
                    warn!(%id, error = %e, "ICE restart refused");
                }
                self.after_input(now, id, now).await;
            }
            Command::CloseSession { id } => {
                let now = Instant::now();
                let Some(slot) = self.sessions.get_mut(&id) else { return };
                slot.span.in_scope(|| slot.session.close());
                self.drain_session(now, id, now).await;
                self.remove_session(id);
                self.refresh_routes(now).await;
            }
            Command::RoutesChanged | Command::Shutdown => {}
        }
    }

    async fn drain_socket(&mut self, index: usize, buf: &mut [u8]) {
        for _ in 0..RECV_BUDGET {
            let Some(socket) = self.sockets.get(index) else { return };
            let (len, remote) = match socket.try_recv_from(buf) {
                Ok(received) => received,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    DriverStats::bump(&self.shared.stats.recv_errors);
                    debug!(worker = self.index, error = %e, "UDP receive error");
                    return;
                }
            };
            let Some(datagram) = buf.get_mut(..len) else { return };
            self.on_datagram(Instant::now(), index, remote, datagram).await;
        }
    }

    async fn on_datagram(
        &mut self,
        now: Instant,
        socket: usize,
        remote: SocketAddr,
        datagram: &mut [u8],
    ) {
        let stats = &self.shared.stats;
        DriverStats::bump(&stats.datagrams_received);
        DriverStats::add(&stats.bytes_received, datagram.len() as u64);
        if datagram.len() > MAX_DATAGRAM_LEN {
            DriverStats::bump(&stats.dropped_too_large);
            trace!(%remote, len = datagram.len(), "dropped: too large");
            return;
        }
        let kind = Kind::of(datagram);
        if kind == Kind::Other {
            DriverStats::bump(&stats.dropped_unknown_kind);
            trace!(%remote, "dropped: unknown first byte");
            return;
        }
        let Some(&local) = self.shared.local_addrs.get(socket) else { return };
        let tuple = FiveTuple { local, remote };
        match self.routes.get(&tuple).copied() {
            // A check naming another ufrag than the session's: the 5-tuple is reused by
            // another session (a new PeerConnection behind the same NAT mapping), so the
            // directory decides.
            Some(Route::Local(id))
                if kind == Kind::Stun
                    && ice::local_ufrag(datagram).is_some_and(|ufrag| {
                        self.sessions.get(&id).is_some_and(|slot| slot.ufrag != ufrag)
                    }) =>
            {
                self.on_unknown_tuple(now, kind, tuple, datagram).await
            }
            Some(Route::Local(id)) => self.deliver(now, id, local, remote, datagram).await,
            // A check on a forwarded 5-tuple is routed again, so that a 5-tuple reused by a
            // new session follows the directory; checks are rare (consent every few
            // seconds), so the directory lock stays off the media path. Other STUN (responses
            // to checks a session sends) is forwarded like media.
            Some(Route::Remote { .. })
                if kind == Kind::Stun && ice::local_ufrag(datagram).is_some() =>
            {
                self.on_unknown_tuple(now, kind, tuple, datagram).await
            }
            Some(Route::Remote { worker, id }) => self.forward(worker, id, tuple, datagram),
            None => self.on_unknown_tuple(now, kind, tuple, datagram).await,
        }
    }

    /// A datagram from a 5-tuple this worker has no route for. See the module documentation.
    async fn on_unknown_tuple(
        &mut self,
        now: Instant,
        kind: Kind,
        tuple: FiveTuple,
        datagram: &mut [u8],
    ) {
        let stats = Arc::clone(&self.shared.stats);
        // Not a check: it may answer a check a third-party session sent from here, or be its
        // DTLS or media, on a 5-tuple the directory binds to that session.
        let is_check = kind == Kind::Stun && ice::local_ufrag(datagram).is_some();
        if !is_check && self.route_bound_tuple(now, tuple, datagram).await {
            return;
        }
        if kind != Kind::Stun {
            DriverStats::bump(&stats.dropped_unknown_sender);
            trace!(remote = %tuple.remote, ?kind, "dropped: unknown sender");
            return;
        }
        if !stun::is_stun(datagram) {
            DriverStats::bump(&stats.dropped_stun_malformed);
            return;
        }
        let route = match ice::local_ufrag(datagram) {
            Some(ufrag) => {
                let route = self.shared.directory.route_check(ufrag, datagram, self.index);
                if let CheckRoute::Claimed { id, session, created } = route {
                    self.adopt(id, session, created, ufrag.to_owned());
                    self.deliver(now, id, tuple.local, tuple.remote, datagram).await;
                    return;
                }
                route
            }
            None => {
                if stun::Message::parse(datagram).is_err() {
                    DriverStats::bump(&stats.dropped_stun_malformed);
                } else {
                    DriverStats::bump(&stats.dropped_stun_not_check);
                }
                return;
            }
        };
        match route {
            CheckRoute::UnknownUfrag => {
                DriverStats::bump(&stats.dropped_unknown_ufrag);
                trace!(remote = %tuple.remote, "dropped: check for an unknown ufrag");
            }
            CheckRoute::Unauthenticated(e) => {
                DriverStats::bump(&stats.dropped_unauthenticated);
                trace!(remote = %tuple.remote, error = %e, "dropped: check does not authenticate");
            }
            // Handled above, while the ufrag was at hand.
            CheckRoute::Claimed { .. } => {}
            CheckRoute::Owned { id, worker } if worker == self.index => {
                self.deliver(now, id, tuple.local, tuple.remote, datagram).await;
            }
            CheckRoute::Owned { id, worker } => {
                let route = Route::Remote { worker, id };
                match self.routes.entry(tuple) {
                    Entry::Occupied(mut o) => {
                        if let Route::Local(_) = o.insert(route) {
                            // Reused by another session (see on_datagram).
                            self.forwarded_routes += 1;
                            DriverStats::sub(&stats.five_tuples, 1);
                            DriverStats::bump(&stats.forwarded_tuples);
                        }
                    }
                    Entry::Vacant(v) if self.forwarded_routes < MAX_FORWARDED_TUPLES => {
                        v.insert(route);
                        self.forwarded_routes += 1;
                        DriverStats::bump(&stats.forwarded_tuples);
                    }
                    // Over the cap: forwarded, not remembered; the next check routes again.
                    Entry::Vacant(_) => {}
                }
                self.forward(worker, id, tuple, datagram);
            }
        }
    }

    /// Delivers or forwards a datagram of a 5-tuple a third-party session bound in the
    /// directory (see [`Directory::bind_tuple`]); whether it was one.
    async fn route_bound_tuple(
        &mut self,
        now: Instant,
        tuple: FiveTuple,
        datagram: &mut [u8],
    ) -> bool {
        let Some((id, owner)) = self.shared.directory.route_tuple(tuple.local, tuple.remote) else {
            return false;
        };
        match owner {
            Some(worker) if worker == self.index => {
                self.deliver(now, id, tuple.local, tuple.remote, datagram).await;
            }
            Some(worker) => {
                let stats = &self.shared.stats;
                if let Entry::Vacant(v) = self.routes.entry(tuple) {
                    if self.forwarded_routes < MAX_FORWARDED_TUPLES {
                        v.insert(Route::Remote { worker, id });
                        self.forwarded_routes += 1;
                        DriverStats::bump(&stats.forwarded_tuples);
                    }
                }
                self.forward(worker, id, tuple, datagram);
            }
            // Bound by an owner only; an unowned session has no bound 5-tuple.
            None => return false,
        }
        true
    }

    fn adopt(&mut self, id: SessionId, session: Box<Session>, created: Instant, ufrag: String) {
        let span = info_span!("session", %id);
        span.in_scope(|| info!(worker = self.index, "claimed"));
        DriverStats::bump(&self.shared.stats.sessions_claimed);
        let deadline = Some(created + self.shared.timers.unconnected_timeout);
        let slot = Slot {
            state: session.state(),
            session,
            scheduled: None,
            deadline,
            created,
            ever_connected: false,
            ufrag,
            span,
        };
        self.sessions.insert(id, slot);
    }

    fn forward(&mut self, worker: usize, id: SessionId, tuple: FiveTuple, datagram: &[u8]) {
        let stats = &self.shared.stats;
        let Some(sender) = self.peers.get(worker) else {
            DriverStats::bump(&stats.dropped_no_session);
            return;
        };
        let command = Command::Datagram {
            id,
            local: tuple.local,
            remote: tuple.remote,
            datagram: datagram.to_vec(),
        };
        match sender.try_send(command) {
            Ok(()) => DriverStats::bump(&stats.forwarded_out),
            Err(mpsc::error::TrySendError::Full(_)) => DriverStats::bump(&stats.dropped_queue_full),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                DriverStats::bump(&stats.dropped_no_session)
            }
        }
    }

    async fn deliver(
        &mut self,
        now: Instant,
        id: SessionId,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &mut [u8],
    ) {
        let Some(slot) = self.sessions.get_mut(&id) else {
            DriverStats::bump(&self.shared.stats.dropped_no_session);
            return;
        };
        DriverStats::bump(&self.shared.stats.delivered);
        let media =
            slot.span.in_scope(|| slot.session.handle_receive(now, local, remote, datagram));
        if let Some(media) = media {
            self.route(now, id, media, datagram).await;
        }
        self.after_input(now, id, now).await;
    }

    /// Drains the session's transmits and events after any input, then reschedules its
    /// timer no earlier than `floor`; its data channel events go to the channel router.
    async fn after_input(&mut self, now: Instant, id: SessionId, floor: Instant) {
        self.drain_session(now, id, floor).await;
        if !self.channel_events.is_empty() {
            self.process_channels(now).await;
        }
    }

    /// [`Worker::after_input`] without the channel router: data channel events are queued.
    async fn drain_session(&mut self, now: Instant, id: SessionId, floor: Instant) {
        while let Some(transmit) =
            self.sessions.get_mut(&id).and_then(|s| s.session.poll_transmit())
        {
            self.send(transmit).await;
        }
        let stats = &self.shared.stats;
        let Some(slot) = self.sessions.get_mut(&id) else { return };
        while let Some(event) = slot.session.poll_event() {
            let _guard = slot.span.enter();
            match event {
                SessionEvent::PairDiscovered { local, remote } => {
                    let tuple = FiveTuple { local, remote };
                    // A third-party session's own checks go to this 5-tuple: other workers
                    // must find it too (the kernel may hand them the answers).
                    if slot.session.is_third_party()
                        && !self.shared.directory.bind_tuple(id, local, remote)
                    {
                        debug!(%local, %remote, "5-tuple not bound: session gone or at its bound");
                    }
                    match self.routes.insert(tuple, Route::Local(id)) {
                        None => DriverStats::bump(&stats.five_tuples),
                        Some(Route::Remote { .. }) => {
                            self.forwarded_routes = self.forwarded_routes.saturating_sub(1);
                            DriverStats::sub(&stats.forwarded_tuples, 1);
                            DriverStats::bump(&stats.five_tuples);
                        }
                        Some(Route::Local(previous)) if previous != id => {
                            debug!(%local, %remote, "5-tuple moved from another session");
                        }
                        Some(Route::Local(_)) => {}
                    }
                    debug!(%local, %remote, "pair discovered");
                }
                SessionEvent::PairRemoved { local, remote } => {
                    let tuple = FiveTuple { local, remote };
                    if slot.session.is_third_party() {
                        self.shared.directory.unbind_tuple(id, local, remote);
                    }
                    if self.routes.get(&tuple) == Some(&Route::Local(id)) {
                        self.routes.remove(&tuple);
                        DriverStats::sub(&stats.five_tuples, 1);
                    }
                    debug!(%local, %remote, "pair removed");
                }
                SessionEvent::SelectedPairChanged { local, remote } => {
                    debug!(%local, %remote, "selected pair")
                }
                SessionEvent::IceConnected => debug!("ICE connected"),
                SessionEvent::IceDisconnected => info!("ICE consent expired"),
                SessionEvent::Connected => info!("connected"),
                SessionEvent::Closed => info!("closed by the peer"),
                SessionEvent::Failed(reason) => info!(%reason, "failed"),
                SessionEvent::DataChannel(event) => self.channel_events.push_back((id, event)),
                // Events added later that the driver need not act on.
                #[allow(unreachable_patterns)]
                _ => {}
            }
        }
        let state = slot.session.state();
        let connected = state == ConnectionState::Connected && slot.state != state;
        if state != slot.state {
            slot.state = state;
            self.shared.directory.set_state(id, state);
            let timers = &self.shared.timers;
            slot.deadline = match state {
                ConnectionState::Connected => {
                    slot.ever_connected = true;
                    None
                }
                ConnectionState::Closed | ConnectionState::Failed => {
                    Some(now + timers.closed_grace)
                }
                ConnectionState::Disconnected => Some(now + timers.disconnected_timeout),
                ConnectionState::New | ConnectionState::Connecting if slot.ever_connected => {
                    Some(now + timers.disconnected_timeout)
                }
                ConnectionState::New | ConnectionState::Connecting => {
                    Some(slot.created + timers.unconnected_timeout)
                }
            };
        }
        self.reschedule(id, floor);
        if connected {
            self.start_streams(now).await;
        }
    }

    /// Pushes the session's next instant (its own timer or the driver's deadline) to the heap
    /// if it is earlier than what the heap already holds for it.
    fn reschedule(&mut self, id: SessionId, floor: Instant) {
        let Some(slot) = self.sessions.get_mut(&id) else { return };
        let next = [slot.session.poll_timeout(), slot.deadline].into_iter().flatten().min();
        if let Some(next) = next.map(|n| n.max(floor)) {
            if slot.scheduled.is_none_or(|s| next < s) {
                slot.scheduled = Some(next);
                self.timers.push(Reverse((next, id)));
            }
        }
    }

    async fn send(&self, transmit: Transmit) {
        let stats = &self.shared.stats;
        let Some(socket) = socket_for(&self.sockets, &self.shared.local_addrs, transmit.local)
        else {
            DriverStats::bump(&stats.dropped_no_socket);
            debug!(local = %transmit.local, "no socket for this local address");
            return;
        };
        match socket.send_to(&transmit.datagram, transmit.remote).await {
            Ok(n) => {
                DriverStats::bump(&stats.datagrams_sent);
                DriverStats::add(&stats.bytes_sent, n as u64);
            }
            Err(e) => {
                DriverStats::bump(&stats.send_errors);
                debug!(remote = %transmit.remote, error = %e, "UDP send error");
            }
        }
    }

    async fn fire_timers(&mut self, now: Instant) {
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(slot) = self.sessions.get_mut(&id) else { continue };
            if slot.scheduled != Some(at) {
                continue;
            }
            slot.scheduled = None;
            if slot.deadline.is_some_and(|d| d <= now) {
                self.remove_session(id);
                continue;
            }
            if slot.session.poll_timeout().is_some_and(|t| t <= now) {
                slot.span.in_scope(|| slot.session.handle_timeout(now));
                self.after_input(now, id, now + MIN_TIMER_STEP).await;
            } else {
                self.reschedule(id, now);
            }
        }
        if self.router.poll_timeout().is_some_and(|t| t <= now) {
            self.router.handle_timeout(now, &mut Slots(&mut self.sessions));
            self.flush_touched().await;
        }
        while let Some(&Reverse((at, id, created))) = self.unclaimed.peek() {
            if at > now {
                break;
            }
            self.unclaimed.pop();
            if self.shared.directory.expire_unclaimed(id, created) {
                DriverStats::bump(&self.shared.stats.sessions_expired_unclaimed);
                info!(%id, "session removed: never claimed");
            }
        }
        if now >= self.housekeeping_at {
            self.housekeeping_at = now + HOUSEKEEPING_INTERVAL;
            self.sweep_forwarded_routes();
        }
        if now >= self.media_report_at {
            self.media_report_at = now + media_report_interval(&self.shared.timers);
            self.media_seen.clear();
            self.router.drain_media_seen(&mut self.media_seen);
            self.shared.directory.note_media(&self.media_seen, now);
        }
    }

    fn remove_session(&mut self, id: SessionId) {
        let Some(slot) = self.sessions.remove(&id) else { return };
        let before = self.routes.len();
        self.routes.retain(|_, route| *route != Route::Local(id));
        let removed = before.saturating_sub(self.routes.len());
        let stats = &self.shared.stats;
        DriverStats::sub(&stats.five_tuples, removed as u64);
        self.shared.directory.remove(id);
        DriverStats::bump(&stats.sessions_removed);
        let reason = match slot.state {
            ConnectionState::New | ConnectionState::Connecting if !slot.ever_connected => {
                "never connected"
            }
            ConnectionState::Closed => "closed",
            ConnectionState::Failed => "failed",
            _ => "disconnected too long",
        };
        slot.span.in_scope(|| info!(reason, "session removed"));
    }

    /// Forgets forwarding entries whose session is gone or now owned elsewhere.
    fn sweep_forwarded_routes(&mut self) {
        let directory = &self.shared.directory;
        let before = self.forwarded_routes;
        let mut kept = 0;
        self.routes.retain(|_, route| match *route {
            Route::Remote { worker, id } => {
                let keep = directory.owner(id) == Some(Some(worker));
                kept += usize::from(keep);
                keep
            }
            Route::Local(_) => true,
        });
        self.forwarded_routes = kept;
        let removed = before.saturating_sub(kept);
        if removed > 0 {
            DriverStats::sub(&self.shared.stats.forwarded_tuples, removed as u64);
            debug!(worker = self.index, removed, "forwarding entries swept");
        }
        if self.sessions.len() > 10_000 {
            warn!(
                worker = self.index,
                sessions = self.sessions.len(),
                "many sessions on one worker"
            );
        }
    }
}

/// The first readable socket, starting at `start` (round robin).
fn poll_any_readable(sockets: &[UdpSocket], start: usize, cx: &mut Context<'_>) -> Poll<usize> {
    let count = sockets.len();
    for offset in 0..count {
        let index = start.wrapping_add(offset) % count;
        if let Some(socket) = sockets.get(index) {
            // An error is readiness too: the read reports and counts it.
            if socket.poll_recv_ready(cx).is_ready() {
                return Poll::Ready(index);
            }
        }
    }
    Poll::Pending
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_byte_demultiplexing_follows_rfc7983() {
        assert_eq!(Kind::of(&[]), Kind::Other);
        for b in 0..=3 {
            assert_eq!(Kind::of(&[b]), Kind::Stun);
        }
        for b in [4, 15, 16, 19, 64, 79, 80, 127, 192, 255] {
            assert_eq!(Kind::of(&[b]), Kind::Other, "{b}");
        }
        for b in [20, 22, 23, 63] {
            assert_eq!(Kind::of(&[b]), Kind::Dtls);
        }
        for b in [128, 144, 191] {
            assert_eq!(Kind::of(&[b]), Kind::Rtp);
        }
    }

    #[test]
    fn snapshot_fields_are_named() {
        let stats = DriverStats::default();
        DriverStats::add(&stats.dropped_too_large, 3);
        let fields = stats.snapshot().fields();
        assert!(fields.contains(&("dropped_too_large", 3)));
        assert!(fields.contains(&("datagrams_received", 0)));
    }
}
