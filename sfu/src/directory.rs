//! The session directory shared by the HTTP API and the UDP workers.
//!
//! The API creates a session here (by id, and by its local ICE ufrag when it has a
//! PeerConnection); the first worker that receives an authenticated ICE check for that ufrag
//! claims it and takes the [`Session`] machine out; other workers learn the owner and
//! forward. The API reads the connection state and the shared counters; the owner writes the
//! state and removes the session when it ends.
//!
//! It is also the track registry: a published track is named by `(publisher session,
//! trackName)` and gets a [`TrackId`]; each session's negotiated media
//! ([`SessionMedia`], set by the API after every negotiation) says which mids receive which
//! track and which mids send a pulled one, and the registry keeps, per track, the list of
//! `(subscriber session, mid)` that pull it. The workers read all of it as [`MediaRoutes`]:
//! every change bumps [`Directory::generation`], and a worker whose copy is older reads the
//! routes of the sessions it owns again.
//!
//! Each session also holds its [`Negotiation`] behind an async mutex, handed to the API so
//! that negotiations on one session are serialized.
//!
//! Third-party sessions (their peer is ICE-lite) send the first checks: a worker claims them
//! when the API announces them ([`Directory::claim_third_party`]), and the 5-tuples their
//! checks go to are bound here ([`Directory::bind_tuple`]) so that any worker can route the
//! answers.
//!
//! One mutex guards the maps: it is touched when a session is created, on the first datagram
//! of a new 5-tuple, on state changes, on API calls and when a worker refreshes its routes,
//! never per media packet.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rand::RngCore;

use crate::datachannel::{ChannelRegistry, ChannelRoutes};
use crate::negotiation::{Negotiation, SessionMedia};
use crate::sdp::{Codec, MediaKind};
use crate::session::{ConnectionState, Session, SessionStats};

/// A session id: 16 random bytes, written as 32 lower-case hex characters in the API.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub [u8; 16]);

impl SessionId {
    /// A random id.
    pub fn random<R: RngCore + ?Sized>(rng: &mut R) -> SessionId {
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        SessionId(bytes)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

/// A published track, unique for the life of the process.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct TrackId(pub u64);

impl fmt::Display for TrackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "track-{}", self.0)
    }
}

/// A string that is not 32 hex characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a session id is 32 hex characters")]
pub struct InvalidSessionId;

impl FromStr for SessionId {
    type Err = InvalidSessionId;

    /// Parses 32 hex characters, in either case.
    fn from_str(s: &str) -> Result<SessionId, InvalidSessionId> {
        let s = s.as_bytes();
        if s.len() != 32 {
            return Err(InvalidSessionId);
        }
        let mut out = [0u8; 16];
        for (byte, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
            let digit = |c: u8| char::from(c).to_digit(16).ok_or(InvalidSessionId);
            let (hi, lo) = match pair {
                [hi, lo] => (digit(*hi)?, digit(*lo)?),
                _ => return Err(InvalidSessionId),
            };
            *byte = u8::try_from(hi * 16 + lo).map_err(|_| InvalidSessionId)?;
        }
        Ok(SessionId(out))
    }
}

/// A new PeerConnection to register: its ICE credentials and its machine, waiting for a
/// worker to claim it.
#[derive(Debug)]
pub struct PeerConnection {
    /// Our ICE credentials, as in the SDP answer; checks are authenticated with them.
    pub local_credentials: ice::Credentials,
    /// The machine, built by the API.
    pub session: Session,
}

/// What the API sees of a session.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// Connection state, as last reported by the owning worker.
    pub state: ConnectionState,
    /// Shared counters.
    pub stats: Arc<SessionStats>,
    /// The worker that owns the machine, once claimed.
    pub owner: Option<usize>,
    /// Whether the session has a PeerConnection (created with an offer).
    pub has_peer_connection: bool,
    /// When the session was created (or its PeerConnection attached).
    pub created: Instant,
}

/// Where a datagram that authenticated as a check of a known ufrag goes.
#[derive(Debug)]
pub enum CheckRoute {
    /// No session has this ufrag.
    UnknownUfrag,
    /// A session has the ufrag but the check does not authenticate with its password.
    Unauthenticated(ice::Error),
    /// The asking worker claimed the session just now and owns the machine from here on.
    Claimed {
        /// The session.
        id: SessionId,
        /// Its machine.
        session: Box<Session>,
        /// When it was created (for the driver's unconnected timeout).
        created: Instant,
    },
    /// The session is owned by `worker` (possibly the asking one).
    Owned {
        /// The session.
        id: SessionId,
        /// The owner.
        worker: usize,
    },
}

/// Why a PeerConnection could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// Another session already uses this local ufrag; generate new credentials.
    #[error("the local ICE ufrag is already in use")]
    UfragTaken,
    /// The session already publishes a track with this name.
    #[error("the session already publishes a track with this name")]
    TrackNameTaken,
    /// No such session.
    #[error("no such session")]
    NotFound,
    /// The session already has a PeerConnection.
    #[error("the session already has a PeerConnection")]
    HasPeerConnection,
}

/// A published track, as a subscriber's negotiation needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInfo {
    /// Its id.
    pub id: TrackId,
    /// The publisher's session.
    pub publisher: SessionId,
    /// Its name.
    pub name: String,
    /// The publisher's mid that carries it.
    pub mid: String,
    /// Audio or video.
    pub kind: MediaKind,
    /// The codecs negotiated with the publisher on that mid (RTX included).
    pub codecs: Vec<Codec>,
}

/// What a worker needs to route media: the sessions it owns with their negotiated media, and
/// every track one of them publishes or pulls.
#[derive(Debug, Clone, Default)]
pub struct MediaRoutes {
    /// The directory's generation these routes are of.
    pub generation: u64,
    /// Sessions the worker owns.
    pub sessions: Vec<(SessionId, Arc<SessionMedia>)>,
    /// Tracks published or pulled by those sessions.
    pub tracks: Vec<TrackRoute>,
}

/// One track in [`MediaRoutes`].
#[derive(Debug, Clone)]
pub struct TrackRoute {
    /// Its id.
    pub id: TrackId,
    /// The publisher's session.
    pub publisher: SessionId,
    /// The worker that owns the publisher's session, once claimed.
    pub publisher_owner: Option<usize>,
    /// The publisher's mid that carries it.
    pub mid: String,
    /// The publisher's negotiated media (codecs and extension ids of that mid).
    pub publisher_media: Arc<SessionMedia>,
    /// Who pulls it.
    pub subscribers: Vec<SubscriberRoute>,
}

/// A subscription in [`TrackRoute`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberRoute {
    /// The subscriber's session.
    pub session: SessionId,
    /// Its mid that carries the track.
    pub mid: String,
    /// The worker that owns the subscriber's session, once claimed.
    pub owner: Option<usize>,
}

/// The directory. See the module documentation.
#[derive(Debug, Default)]
pub struct Directory {
    inner: Mutex<Inner>,
    /// Bumped on every change a worker's routes depend on.
    generation: AtomicU64,
    /// Published and subscribed data channels (see [`crate::datachannel`]).
    channels: ChannelRegistry,
    /// Entries of `Inner::by_tuple`, readable without the lock: while it is zero, a datagram
    /// from an unknown 5-tuple costs no lock.
    bound_tuples: AtomicUsize,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<SessionId, Entry>,
    by_ufrag: HashMap<String, SessionId>,
    /// 5-tuples (our address, the peer's) that third-party sessions send their checks to:
    /// the answers, DTLS and media come back on them, and any worker may read them.
    by_tuple: HashMap<(SocketAddr, SocketAddr), SessionId>,
    tracks: HashMap<TrackId, Track>,
    track_names: HashMap<(SessionId, String), TrackId>,
    next_track: u64,
}

#[derive(Debug)]
struct Entry {
    stats: Arc<SessionStats>,
    state: ConnectionState,
    owner: Option<usize>,
    credentials: Option<ice::Credentials>,
    /// The machine until a worker claims it.
    pending: Option<Box<Session>>,
    created: Instant,
    negotiation: Arc<tokio::sync::Mutex<Negotiation>>,
    media: Arc<SessionMedia>,
}

#[derive(Debug)]
struct Track {
    publisher: SessionId,
    name: String,
    mid: String,
    kind: MediaKind,
    /// `(subscriber, its mid)`, kept from the subscribers' [`SessionMedia`].
    subscribers: Vec<(SessionId, String)>,
    /// When media of it was last reported by a worker (its publication until then).
    last_media: Instant,
}

// The machine moves from the API's thread to a worker thread.
const _: fn() = || {
    fn is_send<T: Send>() {}
    is_send::<Session>();
};

impl Directory {
    /// An empty directory.
    pub fn new() -> Directory {
        Directory::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves maps that are still consistent: every
        // mutation below is a single insert or remove.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a session with a new random id, with its PeerConnection or without one yet,
    /// and a negotiation that has not started.
    pub fn insert(
        &self,
        now: Instant,
        stats: Arc<SessionStats>,
        peer: Option<PeerConnection>,
    ) -> Result<SessionId, DirectoryError> {
        self.insert_with(now, stats, peer, Negotiation::default())
    }

    /// Registers a session as [`Directory::insert`] does, with its negotiation state.
    pub fn insert_with(
        &self,
        now: Instant,
        stats: Arc<SessionStats>,
        peer: Option<PeerConnection>,
        negotiation: Negotiation,
    ) -> Result<SessionId, DirectoryError> {
        let media = Arc::new(negotiation.media());
        let mut rng = rand::thread_rng();
        let mut inner = self.lock();
        if let Some(p) = &peer {
            if inner.by_ufrag.contains_key(p.local_credentials.ufrag()) {
                return Err(DirectoryError::UfragTaken);
            }
        }
        let id = loop {
            let id = SessionId::random(&mut rng);
            if !inner.sessions.contains_key(&id) {
                break id;
            }
        };
        let (credentials, pending) = match peer {
            Some(p) => {
                inner.by_ufrag.insert(p.local_credentials.ufrag().to_owned(), id);
                (Some(p.local_credentials), Some(Box::new(p.session)))
            }
            None => (None, None),
        };
        inner.sessions.insert(
            id,
            Entry {
                stats,
                state: ConnectionState::New,
                owner: None,
                credentials,
                pending,
                created: now,
                negotiation: Arc::new(tokio::sync::Mutex::new(negotiation)),
                media,
            },
        );
        Ok(id)
    }

    /// Gives a session created without one its PeerConnection; its unconnected timeout
    /// starts again at `now`.
    pub fn attach(
        &self,
        now: Instant,
        id: SessionId,
        peer: PeerConnection,
    ) -> Result<(), DirectoryError> {
        let mut inner = self.lock();
        if inner.by_ufrag.contains_key(peer.local_credentials.ufrag()) {
            return Err(DirectoryError::UfragTaken);
        }
        let entry = inner.sessions.get_mut(&id).ok_or(DirectoryError::NotFound)?;
        if entry.credentials.is_some() {
            return Err(DirectoryError::HasPeerConnection);
        }
        let ufrag = peer.local_credentials.ufrag().to_owned();
        entry.credentials = Some(peer.local_credentials);
        entry.pending = Some(Box::new(peer.session));
        entry.created = now;
        inner.by_ufrag.insert(ufrag, id);
        Ok(())
    }

    /// An ICE restart of session `id` (a renegotiation changed the client's credentials):
    /// checks are routed by the new local ufrag from now on. A machine no worker claimed yet
    /// restarts here; otherwise returns the owner, which must restart it
    /// ([`Session::restart_ice`]).
    pub fn restart_ice(
        &self,
        id: SessionId,
        local: ice::Credentials,
        remote: ice::Credentials,
    ) -> Result<Option<usize>, DirectoryError> {
        let mut inner = self.lock();
        if inner.by_ufrag.contains_key(local.ufrag()) {
            return Err(DirectoryError::UfragTaken);
        }
        let entry = inner.sessions.get_mut(&id).ok_or(DirectoryError::NotFound)?;
        let old = entry.credentials.replace(local.clone()).ok_or(DirectoryError::NotFound)?;
        let owner = entry.owner;
        if let Some(session) = entry.pending.as_mut() {
            // Both ufrag and password are new (checked above and by construction), so this
            // cannot fail; if it did, the machine keeps its old credentials and times out.
            let _ = session.restart_ice(local.clone(), remote);
        }
        // Checks with the old credentials arrive on the selected pair, a 5-tuple the owner
        // already knows: the old ufrag needs no route.
        inner.by_ufrag.remove(old.ufrag());
        inner.by_ufrag.insert(local.ufrag().to_owned(), id);
        Ok(owner)
    }

    /// What the API shows of a session.
    pub fn get(&self, id: SessionId) -> Option<SessionInfo> {
        let inner = self.lock();
        inner.sessions.get(&id).map(|e| SessionInfo {
            state: e.state,
            stats: Arc::clone(&e.stats),
            owner: e.owner,
            has_peer_connection: e.credentials.is_some(),
            created: e.created,
        })
    }

    /// The negotiation state of a session. Lock it with `try_lock` to negotiate (a second
    /// negotiation on the same session must not wait for the first) or `lock` to read.
    pub fn negotiation(&self, id: SessionId) -> Option<Arc<tokio::sync::Mutex<Negotiation>>> {
        self.lock().sessions.get(&id).map(|e| Arc::clone(&e.negotiation))
    }

    /// Changes with every change of sessions, owners, tracks or negotiated media: a worker
    /// whose [`MediaRoutes`] are of an older generation reads them again.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Publishes a track of `session` under `name`, carried by its `mid`.
    pub fn publish(
        &self,
        session: SessionId,
        name: &str,
        mid: &str,
        kind: MediaKind,
    ) -> Result<TrackId, DirectoryError> {
        let mut inner = self.lock();
        if !inner.sessions.contains_key(&session) {
            return Err(DirectoryError::NotFound);
        }
        let key = (session, name.to_owned());
        if inner.track_names.contains_key(&key) {
            return Err(DirectoryError::TrackNameTaken);
        }
        inner.next_track = inner.next_track.wrapping_add(1);
        let id = TrackId(inner.next_track);
        inner.track_names.insert(key, id);
        inner.tracks.insert(
            id,
            Track {
                publisher: session,
                name: name.to_owned(),
                mid: mid.to_owned(),
                kind,
                subscribers: Vec::new(),
                last_media: Instant::now(),
            },
        );
        drop(inner);
        self.bump();
        Ok(id)
    }

    /// Records that media of `tracks` arrived by `now` (the workers report what they
    /// forwarded, a few times per idle timeout).
    pub fn note_media(&self, tracks: &[TrackId], now: Instant) {
        if tracks.is_empty() {
            return;
        }
        let mut inner = self.lock();
        for id in tracks {
            if let Some(track) = inner.tracks.get_mut(id) {
                track.last_media = track.last_media.max(now);
            }
        }
    }

    /// Tracks without media for `idle` at `now`: `(publisher, track)`.
    pub fn silent_tracks(&self, now: Instant, idle: Duration) -> Vec<(SessionId, TrackId)> {
        self.lock()
            .tracks
            .iter()
            .filter(|(_, t)| now.saturating_duration_since(t.last_media) >= idle)
            .map(|(id, t)| (t.publisher, *id))
            .collect()
    }

    /// Withdraws a track `publisher` publishes (`tracks/close`): it can no longer be pulled,
    /// and what its subscribers pull on their mids stops. Returns whether it existed.
    pub fn unpublish(&self, publisher: SessionId, id: TrackId) -> bool {
        let mut inner = self.lock();
        let removed = match inner.tracks.get(&id) {
            Some(track) if track.publisher == publisher => {
                let key = (publisher, track.name.clone());
                inner.tracks.remove(&id);
                inner.track_names.remove(&key);
                true
            }
            _ => false,
        };
        drop(inner);
        if removed {
            self.bump();
        }
        removed
    }

    /// The track `publisher` publishes as `name`, once its negotiation receives it.
    pub fn track(&self, publisher: SessionId, name: &str) -> Option<TrackInfo> {
        let inner = self.lock();
        let id = *inner.track_names.get(&(publisher, name.to_owned()))?;
        let track = inner.tracks.get(&id)?;
        let media = &inner.sessions.get(&publisher)?.media;
        let transceiver = media.transceiver(&track.mid).filter(|t| {
            t.direction.receives() && t.published.as_ref().is_some_and(|p| p.id == id)
        })?;
        Some(TrackInfo {
            id,
            publisher,
            name: track.name.clone(),
            mid: track.mid.clone(),
            kind: track.kind.clone(),
            codecs: transceiver.codecs.clone(),
        })
    }

    /// Whether a track is still published.
    pub fn track_exists(&self, id: TrackId) -> bool {
        self.lock().tracks.contains_key(&id)
    }

    /// Sets a session's negotiated media after a negotiation; the subscriptions of the
    /// registry follow its sending transceivers.
    pub fn set_media(&self, session: SessionId, media: SessionMedia) -> Result<(), DirectoryError> {
        let mut inner = self.lock();
        let Inner { sessions, tracks, track_names, .. } = &mut *inner;
        let Some(entry) = sessions.get_mut(&session) else {
            // Removed while negotiating: what it published meanwhile goes too.
            tracks.retain(|_, t| t.publisher != session);
            track_names.retain(|(publisher, _), _| *publisher != session);
            return Err(DirectoryError::NotFound);
        };
        let media = Arc::new(media);
        for track in tracks.values_mut() {
            track.subscribers.retain(|(s, _)| *s != session);
        }
        for t in media.transceivers.iter().filter(|t| t.direction.sends()) {
            if let Some(track) = t.pulled.as_ref().and_then(|p| tracks.get_mut(&p.id)) {
                track.subscribers.push((session, t.mid.clone()));
            }
        }
        entry.media = media;
        drop(inner);
        self.bump();
        Ok(())
    }

    /// The routes of the sessions `worker` owns, and of every track they publish or pull.
    pub fn media_routes(&self, worker: usize) -> MediaRoutes {
        let inner = self.lock();
        let generation = self.generation();
        let owned =
            |id: &SessionId| inner.sessions.get(id).is_some_and(|e| e.owner == Some(worker));
        let sessions = inner
            .sessions
            .iter()
            .filter(|(_, e)| e.owner == Some(worker))
            .map(|(id, e)| (*id, Arc::clone(&e.media)))
            .collect();
        let tracks = inner
            .tracks
            .iter()
            .filter(|(_, t)| owned(&t.publisher) || t.subscribers.iter().any(|(s, _)| owned(s)))
            .filter_map(|(id, t)| {
                let publisher = inner.sessions.get(&t.publisher)?;
                Some(TrackRoute {
                    id: *id,
                    publisher: t.publisher,
                    publisher_owner: publisher.owner,
                    mid: t.mid.clone(),
                    publisher_media: Arc::clone(&publisher.media),
                    subscribers: t
                        .subscribers
                        .iter()
                        .map(|(session, mid)| SubscriberRoute {
                            session: *session,
                            mid: mid.clone(),
                            owner: inner.sessions.get(session).and_then(|e| e.owner),
                        })
                        .collect(),
                })
            })
            .collect();
        MediaRoutes { generation, sessions, tracks }
    }

    /// The data channel registry.
    pub fn channels(&self) -> &ChannelRegistry {
        &self.channels
    }

    /// The data channel routes of the sessions `worker` owns.
    pub fn channel_routes(&self, worker: usize) -> ChannelRoutes {
        let owners: HashMap<SessionId, Option<usize>> =
            self.lock().sessions.iter().map(|(id, e)| (*id, e.owner)).collect();
        self.channels.routes(worker, |id| owners.get(&id).copied().flatten())
    }

    /// Whether a session exists.
    pub fn contains(&self, id: SessionId) -> bool {
        self.lock().sessions.contains_key(&id)
    }

    /// The owner of a session: `None` if it does not exist, `Some(None)` if unclaimed.
    pub fn owner(&self, id: SessionId) -> Option<Option<usize>> {
        self.lock().sessions.get(&id).map(|e| e.owner)
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Whether there is no session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of sessions not claimed by a worker.
    pub fn unclaimed(&self) -> usize {
        self.lock().sessions.values().filter(|e| e.owner.is_none()).count()
    }

    /// Routes an ICE check with local ufrag `ufrag` that arrived at `worker` on a 5-tuple the
    /// worker does not know: authenticates it with the session's password
    /// ([`ice::verify_check`], RFC 8445 §7.3) and, if the session is unclaimed, lets `worker`
    /// claim it. Nothing changes unless the check authenticates.
    pub fn route_check(&self, ufrag: &str, datagram: &[u8], worker: usize) -> CheckRoute {
        let mut inner = self.lock();
        let Some(&id) = inner.by_ufrag.get(ufrag) else {
            return CheckRoute::UnknownUfrag;
        };
        let Some(entry) = inner.sessions.get_mut(&id) else {
            return CheckRoute::UnknownUfrag;
        };
        let Some(credentials) = &entry.credentials else {
            return CheckRoute::UnknownUfrag;
        };
        if let Err(e) = ice::verify_check(datagram, credentials) {
            return CheckRoute::Unauthenticated(e);
        }
        if let Some(owner) = entry.owner {
            return CheckRoute::Owned { id, worker: owner };
        }
        match entry.pending.take() {
            Some(session) => {
                entry.owner = Some(worker);
                let created = entry.created;
                drop(inner);
                self.bump();
                CheckRoute::Claimed { id, session, created }
            }
            // A registered PeerConnection always has its machine until claimed.
            None => CheckRoute::UnknownUfrag,
        }
    }

    /// Lets `worker` claim a third-party session whose machine nobody claimed yet: such a
    /// session sends the first checks itself, so no incoming check would ever claim it. The
    /// API's [`crate::worker::Command::SessionAdded`] names the worker. Returns the machine
    /// and its creation instant; `None` for any other session.
    pub fn claim_third_party(
        &self,
        id: SessionId,
        worker: usize,
    ) -> Option<(Box<Session>, Instant)> {
        let mut inner = self.lock();
        let entry = inner.sessions.get_mut(&id)?;
        if entry.owner.is_some() || !entry.pending.as_ref().is_some_and(|s| s.is_third_party()) {
            return None;
        }
        let session = entry.pending.take()?;
        entry.owner = Some(worker);
        let created = entry.created;
        drop(inner);
        self.bump();
        Some((session, created))
    }

    /// Binds a 5-tuple that third-party session `id` sends checks to, so that whichever
    /// worker the kernel hands its datagrams finds the session ([`Directory::route_tuple`]).
    /// At most [`ice::MAX_CONTROLLING_PAIRS`] per session; returns whether it is bound.
    pub fn bind_tuple(&self, id: SessionId, local: SocketAddr, remote: SocketAddr) -> bool {
        let mut inner = self.lock();
        if !inner.sessions.contains_key(&id) {
            return false;
        }
        if inner.by_tuple.get(&(local, remote)) == Some(&id) {
            return true;
        }
        let bound = inner.by_tuple.values().filter(|s| **s == id).count();
        if bound >= ice::MAX_CONTROLLING_PAIRS {
            return false;
        }
        if inner.by_tuple.insert((local, remote), id).is_none() {
            self.bound_tuples.fetch_add(1, Ordering::Release);
        }
        true
    }

    /// Unbinds a 5-tuple of session `id` (bound with [`Directory::bind_tuple`]).
    pub fn unbind_tuple(&self, id: SessionId, local: SocketAddr, remote: SocketAddr) {
        let mut inner = self.lock();
        if inner.by_tuple.get(&(local, remote)) == Some(&id) {
            inner.by_tuple.remove(&(local, remote));
            self.bound_tuples.fetch_sub(1, Ordering::Release);
        }
    }

    /// The third-party session a 5-tuple is bound to, and its owner. Takes no lock while no
    /// 5-tuple is bound at all.
    pub fn route_tuple(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Option<(SessionId, Option<usize>)> {
        if self.bound_tuples.load(Ordering::Acquire) == 0 {
            return None;
        }
        let inner = self.lock();
        let id = *inner.by_tuple.get(&(local, remote))?;
        inner.sessions.get(&id).map(|e| (id, e.owner))
    }

    /// The owning worker reports a new connection state.
    pub fn set_state(&self, id: SessionId, state: ConnectionState) {
        if let Some(e) = self.lock().sessions.get_mut(&id) {
            e.state = state;
        }
    }

    /// Removes a session (its owner ends it), with the tracks it publishes and its
    /// subscriptions. Returns whether it existed.
    pub fn remove(&self, id: SessionId) -> bool {
        let mut inner = self.lock();
        let removed = Self::remove_locked(&mut inner, &self.bound_tuples, id);
        drop(inner);
        if removed {
            self.channels.remove_session(id);
            self.bump();
        }
        removed
    }

    /// Removes a session the API ends (as [`Directory::remove`] does) and returns its
    /// owner, which must then drop its machine: `None` if it did not exist, `Some(None)` if
    /// no worker had claimed it. One lock, so no worker can claim it in between.
    pub fn end(&self, id: SessionId) -> Option<Option<usize>> {
        let mut inner = self.lock();
        let owner = inner.sessions.get(&id).map(|e| e.owner)?;
        Self::remove_locked(&mut inner, &self.bound_tuples, id);
        drop(inner);
        self.channels.remove_session(id);
        self.bump();
        Some(owner)
    }

    fn remove_locked(inner: &mut Inner, bound_tuples: &AtomicUsize, id: SessionId) -> bool {
        match inner.sessions.remove(&id) {
            Some(entry) => {
                if let Some(c) = entry.credentials {
                    inner.by_ufrag.remove(c.ufrag());
                }
                let before = inner.by_tuple.len();
                inner.by_tuple.retain(|_, s| *s != id);
                let unbound = before - inner.by_tuple.len();
                if unbound > 0 {
                    bound_tuples.fetch_sub(unbound, Ordering::Release);
                }
                inner.tracks.retain(|_, t| t.publisher != id);
                inner.track_names.retain(|(publisher, _), _| *publisher != id);
                for track in inner.tracks.values_mut() {
                    track.subscribers.retain(|(s, _)| *s != id);
                }
                true
            }
            None => false,
        }
    }

    /// Removes a session if no worker claimed it and it was created (or got its
    /// PeerConnection) at or before `created_before`. Returns whether it was removed.
    pub fn expire_unclaimed(&self, id: SessionId, created_before: Instant) -> bool {
        let mut inner = self.lock();
        let expired = inner
            .sessions
            .get(&id)
            .is_some_and(|e| e.owner.is_none() && e.created <= created_before);
        let removed = expired && Self::remove_locked(&mut inner, &self.bound_tuples, id);
        drop(inner);
        if removed {
            self.channels.remove_session(id);
            self.bump();
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SessionParams;
    use ice::{CandidatePair, ControllingConfig, Credentials, IceControllingClient};
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::time::Duration;

    fn peer(rng: &mut StdRng, dtls: &dtls::DtlsContext) -> (PeerConnection, Credentials) {
        let local = Credentials::generate(rng);
        let remote = Credentials::generate(rng);
        let params = SessionParams {
            local_credentials: local.clone(),
            remote_credentials: remote.clone(),
            ice: ice::IceConfig::default(),
            dtls_context: dtls.clone(),
            dtls_role: dtls::Role::Server,
            remote_fingerprint: dtls.config().certificate.fingerprint().clone(),
            srtp: srtp::Config::default(),
        };
        let session = Session::new(Instant::now(), params, Arc::default()).unwrap();
        (PeerConnection { local_credentials: local, session }, remote)
    }

    fn check(rng: &mut StdRng, sfu: &Credentials, browser: &Credentials) -> Vec<u8> {
        let pair = CandidatePair {
            local: "127.0.0.1:5000".parse().unwrap(),
            remote: "127.0.0.1:3480".parse().unwrap(),
        };
        let mut client = IceControllingClient::new(
            Instant::now(),
            ControllingConfig::default(),
            browser.clone(),
            sfu.clone(),
            pair,
            rng,
        )
        .unwrap();
        client.poll_transmit().unwrap().datagram
    }

    #[test]
    fn third_party_sessions_are_claimed_by_the_named_worker_and_bind_their_5_tuples() {
        let mut rng = StdRng::seed_from_u64(31);
        let dtls =
            dtls::DtlsContext::new(dtls::DtlsConfig::new(dtls::Certificate::generate().unwrap()))
                .unwrap();
        let directory = Directory::new();
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let remotes: Vec<SocketAddr> =
            (0..6).map(|i| SocketAddr::from(([127, 0, 0, 2], 6000 + i))).collect();
        let (ordinary, _) = peer(&mut rng, &dtls);
        let (mut third, _) = peer(&mut rng, &dtls);
        let params = SessionParams {
            local_credentials: third.local_credentials.clone(),
            remote_credentials: Credentials::generate(&mut rng),
            ice: ice::IceConfig::default(),
            dtls_context: dtls.clone(),
            dtls_role: dtls::Role::Client,
            remote_fingerprint: dtls.config().certificate.fingerprint().clone(),
            srtp: srtp::Config::default(),
        };
        let pairs = remotes.iter().map(|&remote| CandidatePair { local, remote }).collect();
        let controlling =
            crate::session::ControllingParams { pairs, config: ControllingConfig::default() };
        third.session =
            Session::new_third_party(Instant::now(), params, controlling, Arc::default(), &mut rng)
                .unwrap();
        let now = Instant::now();
        let plain = directory.insert(now, Arc::default(), Some(ordinary)).unwrap();
        let id = directory.insert(now, Arc::default(), Some(third)).unwrap();

        // Nothing bound: no lock, no route.
        assert_eq!(directory.route_tuple(local, remotes[0]), None);
        // An ordinary session waits for a check; a third-party one is claimed at once.
        assert!(directory.claim_third_party(plain, 0).is_none());
        assert_eq!(directory.owner(plain), Some(None));
        let (session, created) = directory.claim_third_party(id, 1).unwrap();
        assert!(session.is_third_party());
        assert_eq!(created, now);
        assert_eq!(directory.owner(id), Some(Some(1)));
        assert!(directory.claim_third_party(id, 0).is_none(), "claimed once");

        // At most MAX_CONTROLLING_PAIRS 5-tuples per session, and only for live sessions.
        for (i, remote) in remotes.iter().enumerate() {
            assert_eq!(directory.bind_tuple(id, local, *remote), i < ice::MAX_CONTROLLING_PAIRS);
        }
        assert!(directory.bind_tuple(id, local, remotes[0]), "binding again is fine");
        assert!(!directory.bind_tuple(SessionId([9; 16]), local, remotes[5]));
        assert_eq!(directory.route_tuple(local, remotes[0]), Some((id, Some(1))));
        assert_eq!(directory.route_tuple(local, remotes[5]), None);
        directory.unbind_tuple(id, local, remotes[0]);
        assert_eq!(directory.route_tuple(local, remotes[0]), None);
        // Another session's 5-tuple is not unbound by this one.
        directory.unbind_tuple(plain, local, remotes[1]);
        assert_eq!(directory.route_tuple(local, remotes[1]), Some((id, Some(1))));
        // Removal unbinds everything, and the lock-free count goes back to zero.
        assert!(directory.remove(id));
        assert_eq!(directory.route_tuple(local, remotes[1]), None);
        assert_eq!(directory.bound_tuples.load(Ordering::Acquire), 0);
    }

    #[test]
    fn session_id_hex_round_trip() {
        let id = SessionId::random(&mut StdRng::seed_from_u64(3));
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(text.parse::<SessionId>(), Ok(id));
        assert_eq!(text.to_uppercase().parse::<SessionId>(), Ok(id));
        for bad in ["", "00", &text[..31], &format!("{text}0"), &text.replacen(|_| true, "g", 1)] {
            assert_eq!(bad.parse::<SessionId>(), Err(InvalidSessionId), "{bad}");
        }
        // Non-ASCII of the right byte length.
        assert!("é".repeat(16).parse::<SessionId>().is_err());
    }

    #[test]
    fn an_ice_restart_routes_checks_by_the_new_ufrag() {
        let mut rng = StdRng::seed_from_u64(19);
        let dtls =
            dtls::DtlsContext::new(dtls::DtlsConfig::new(dtls::Certificate::generate().unwrap()))
                .unwrap();
        let directory = Directory::new();
        let (peer, browser) = peer(&mut rng, &dtls);
        let old = peer.local_credentials.clone();
        let id = directory.insert(Instant::now(), Arc::default(), Some(peer)).unwrap();
        let other = directory.insert(Instant::now(), Arc::default(), None).unwrap();

        // Unclaimed: the machine restarts in the directory, no owner to tell.
        let new = Credentials::generate(&mut rng);
        let new_browser = Credentials::generate(&mut rng);
        assert_eq!(directory.restart_ice(id, new.clone(), new_browser.clone()), Ok(None));
        let stale = check(&mut rng, &old, &browser);
        assert!(matches!(directory.route_check(old.ufrag(), &stale, 0), CheckRoute::UnknownUfrag));
        let fresh = check(&mut rng, &new, &new_browser);
        match directory.route_check(new.ufrag(), &fresh, 1) {
            CheckRoute::Claimed { id: claimed, mut session, .. } => {
                assert_eq!(claimed, id);
                // The machine itself answers a check under the new credentials.
                let mut datagram = fresh.clone();
                let sfu_side = "127.0.0.1:3480".parse().unwrap();
                let browser_side = "127.0.0.1:5000".parse().unwrap();
                let _ =
                    session.handle_receive(Instant::now(), sfu_side, browser_side, &mut datagram);
                let answer = session.poll_transmit().expect("a Binding response");
                let response = stun::Message::parse(&answer.datagram).unwrap();
                assert_eq!(response.class(), stun::Class::SuccessResponse);
            }
            other => panic!("{other:?}"),
        }
        // Claimed: the owner is named; a ufrag in use, or a session without a
        // PeerConnection, is refused.
        let newer = Credentials::generate(&mut rng);
        assert_eq!(directory.restart_ice(id, newer.clone(), browser.clone()), Ok(Some(1)));
        assert_eq!(
            directory.restart_ice(id, newer.clone(), browser.clone()),
            Err(DirectoryError::UfragTaken)
        );
        let unused = Credentials::generate(&mut rng);
        assert_eq!(
            directory.restart_ice(other, unused, browser.clone()),
            Err(DirectoryError::NotFound)
        );
        assert!(directory.remove(id));
        let check_newer = check(&mut rng, &newer, &browser);
        assert!(matches!(
            directory.route_check(newer.ufrag(), &check_newer, 0),
            CheckRoute::UnknownUfrag
        ));
    }

    #[test]
    fn checks_claim_once_and_only_when_authenticated() {
        let mut rng = StdRng::seed_from_u64(9);
        let dtls =
            dtls::DtlsContext::new(dtls::DtlsConfig::new(dtls::Certificate::generate().unwrap()))
                .unwrap();
        let directory = Directory::new();
        let (peer, browser) = peer(&mut rng, &dtls);
        let sfu = peer.local_credentials.clone();
        let now = Instant::now();
        let id = directory.insert(now, Arc::default(), Some(peer)).unwrap();
        assert_eq!(directory.unclaimed(), 1);
        assert_eq!(directory.get(id).unwrap().state, ConnectionState::New);

        // A check keyed with another password does not authenticate and claims nothing.
        let impostor = Credentials::new(sfu.ufrag(), "xxxxxxxxxxxxxxxxxxxxxxxx").unwrap();
        let forged = check(&mut rng, &impostor, &browser);
        assert!(matches!(
            directory.route_check(sfu.ufrag(), &forged, 0),
            CheckRoute::Unauthenticated(_)
        ));
        assert!(matches!(directory.route_check("nope", &forged, 0), CheckRoute::UnknownUfrag));
        assert_eq!(directory.owner(id), Some(None));

        let good = check(&mut rng, &sfu, &browser);
        match directory.route_check(sfu.ufrag(), &good, 1) {
            CheckRoute::Claimed { id: claimed, created, .. } => {
                assert_eq!((claimed, created), (id, now));
            }
            other => panic!("{other:?}"),
        }
        match directory.route_check(sfu.ufrag(), &good, 0) {
            CheckRoute::Owned { id: owned, worker } => assert_eq!((owned, worker), (id, 1)),
            other => panic!("{other:?}"),
        }
        assert_eq!(directory.unclaimed(), 0);
        // A claimed session does not expire as unclaimed.
        assert!(!directory.expire_unclaimed(id, now + Duration::from_secs(60)));
        directory.set_state(id, ConnectionState::Connected);
        assert_eq!(directory.get(id).unwrap().state, ConnectionState::Connected);
        assert!(directory.remove(id));
        assert!(!directory.remove(id));
        assert!(matches!(directory.route_check(sfu.ufrag(), &good, 0), CheckRoute::UnknownUfrag));
        assert!(directory.is_empty());
    }

    #[test]
    fn end_names_the_owner_and_withdraws_the_tracks() {
        let mut rng = StdRng::seed_from_u64(12);
        let dtls =
            dtls::DtlsContext::new(dtls::DtlsConfig::new(dtls::Certificate::generate().unwrap()))
                .unwrap();
        let directory = Directory::new();
        let empty = directory.insert(Instant::now(), Arc::default(), None).unwrap();
        let track = directory.publish(empty, "video", "0", MediaKind::Video).unwrap();
        assert!(directory.track_exists(track));
        let generation = directory.generation();
        assert_eq!(directory.end(empty), Some(None));
        assert!(directory.generation() > generation);
        assert!(!directory.track_exists(track));
        assert_eq!(directory.end(empty), None);

        let (peer, browser) = peer(&mut rng, &dtls);
        let sfu = peer.local_credentials.clone();
        let id = directory.insert(Instant::now(), Arc::default(), Some(peer)).unwrap();
        let good = check(&mut rng, &sfu, &browser);
        assert!(matches!(directory.route_check(sfu.ufrag(), &good, 1), CheckRoute::Claimed { .. }));
        assert_eq!(directory.end(id), Some(Some(1)));
        assert!(!directory.contains(id));
        assert!(matches!(directory.route_check(sfu.ufrag(), &good, 0), CheckRoute::UnknownUfrag));
        assert!(directory.is_empty());
    }

    /// A transceiver of `mid` that receives `track` (a push) or sends it (a pull).
    fn transceiver(
        mid: &str,
        push: Option<TrackId>,
        pull: Option<(SessionId, TrackId)>,
    ) -> crate::negotiation::Transceiver {
        use crate::negotiation::{PublishedTrack, PulledTrack, Transceiver};
        let mut t = Transceiver::new(mid, MediaKind::Video);
        t.codecs = vec![Codec {
            payload_type: 96,
            name: "VP8".into(),
            clock_rate: 90000,
            channels: None,
            fmtp: String::new(),
            feedback: Vec::new(),
            rtx_payload_type: None,
        }];
        if let Some(id) = push {
            t.direction = crate::sdp::Direction::RecvOnly;
            t.published = Some(PublishedTrack { name: "cam".into(), id });
        }
        if let Some((session, id)) = pull {
            t.direction = crate::sdp::Direction::SendOnly;
            t.pulled = Some(PulledTrack { session, name: "cam".into(), id, simulcast: None });
        }
        t
    }

    #[test]
    fn track_registry_subscriptions_and_routes() {
        let mut rng = StdRng::seed_from_u64(12);
        let dtls =
            dtls::DtlsContext::new(dtls::DtlsConfig::new(dtls::Certificate::generate().unwrap()))
                .unwrap();
        let directory = Directory::new();
        let now = Instant::now();
        let (peer, browser) = peer(&mut rng, &dtls);
        let ufrag = peer.local_credentials.clone();
        let publisher = directory.insert(now, Arc::default(), Some(peer)).unwrap();
        let subscriber = directory.insert(now, Arc::default(), None).unwrap();

        let g0 = directory.generation();
        let track = directory.publish(publisher, "cam", "1", MediaKind::Video).unwrap();
        assert!(directory.generation() > g0);
        assert_eq!(
            directory.publish(publisher, "cam", "2", MediaKind::Video),
            Err(DirectoryError::TrackNameTaken)
        );
        assert_eq!(
            directory.publish(SessionId([9; 16]), "cam", "1", MediaKind::Video),
            Err(DirectoryError::NotFound)
        );
        // Not pullable until the publisher's media receives it.
        assert_eq!(directory.track(publisher, "cam"), None);
        let media = SessionMedia { transceivers: vec![transceiver("1", Some(track), None)] };
        directory.set_media(publisher, media).unwrap();
        let info = directory.track(publisher, "cam").unwrap();
        assert_eq!((info.id, info.mid.as_str(), info.codecs.len()), (track, "1", 1));
        assert!(directory.track(publisher, "mic").is_none());

        // A subscription follows the subscriber's sending transceivers.
        let media =
            SessionMedia { transceivers: vec![transceiver("0", None, Some((publisher, track)))] };
        directory.set_media(subscriber, media).unwrap();
        // Nothing is owned yet: no worker has routes.
        assert!(directory.media_routes(0).tracks.is_empty());
        let check = check(&mut rng, &ufrag, &browser);
        assert!(matches!(
            directory.route_check(ufrag.ufrag(), &check, 0),
            CheckRoute::Claimed { .. }
        ));
        let routes = directory.media_routes(0);
        assert_eq!(routes.generation, directory.generation());
        assert_eq!(routes.sessions.len(), 1);
        let route = &routes.tracks[0];
        assert_eq!((route.id, route.publisher, route.publisher_owner), (track, publisher, Some(0)));
        assert_eq!(
            route.subscribers,
            [SubscriberRoute { session: subscriber, mid: "0".into(), owner: None }]
        );
        assert!(directory.media_routes(1).tracks.is_empty());
        // The subscriber stops pulling: the subscription goes.
        directory.set_media(subscriber, SessionMedia::default()).unwrap();
        assert!(directory.media_routes(0).tracks[0].subscribers.is_empty());

        // The publisher goes: its tracks go with it.
        assert!(directory.remove(publisher));
        assert!(!directory.track_exists(track));
        assert!(directory.track(publisher, "cam").is_none());
        assert_eq!(
            directory.set_media(publisher, SessionMedia::default()),
            Err(DirectoryError::NotFound)
        );
        assert!(directory.negotiation(subscriber).is_some());
        assert!(directory.negotiation(publisher).is_none());
    }

    #[test]
    fn unclaimed_expiry_ufrag_collision_and_attach() {
        let mut rng = StdRng::seed_from_u64(10);
        let dtls =
            dtls::DtlsContext::new(dtls::DtlsConfig::new(dtls::Certificate::generate().unwrap()))
                .unwrap();
        let directory = Directory::new();
        let now = Instant::now();
        let (first, _) = peer(&mut rng, &dtls);
        let ufrag = first.local_credentials.ufrag().to_owned();
        let a = directory.insert(now, Arc::default(), Some(first)).unwrap();
        // Same ufrag again: refused.
        let (mut second, _) = peer(&mut rng, &dtls);
        second.local_credentials =
            Credentials::new(&ufrag, second.local_credentials.pwd()).unwrap();
        let second_session = second;
        assert_eq!(
            directory.insert(now, Arc::default(), Some(second_session)).unwrap_err(),
            DirectoryError::UfragTaken
        );
        // Not yet old enough, then expired.
        assert!(!directory.expire_unclaimed(a, now - Duration::from_secs(1)));
        assert!(directory.expire_unclaimed(a, now));
        assert!(!directory.contains(a));

        // A session without a PeerConnection gets one later.
        let b = directory.insert(now, Arc::default(), None).unwrap();
        assert!(!directory.get(b).unwrap().has_peer_connection);
        let (late, _) = peer(&mut rng, &dtls);
        let later = now + Duration::from_secs(5);
        directory.attach(later, b, late).unwrap();
        let info = directory.get(b).unwrap();
        assert!(info.has_peer_connection);
        assert_eq!(info.created, later);
        let (again, _) = peer(&mut rng, &dtls);
        assert_eq!(
            directory.attach(later, b, again).unwrap_err(),
            DirectoryError::HasPeerConnection
        );
        let (orphan, _) = peer(&mut rng, &dtls);
        assert_eq!(
            directory.attach(later, SessionId([0; 16]), orphan).unwrap_err(),
            DirectoryError::NotFound
        );
    }
}
