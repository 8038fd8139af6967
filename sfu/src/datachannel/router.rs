//! Data channel fan-out inside one worker. See the [module documentation](super).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use tracing::{debug, trace};

use super::registry::{ChannelRoutes, ChannelSpec, PublicationId};
use crate::directory::SessionId;
use crate::router::Sessions;
use crate::session::{ChannelSendError, SessionStats};
use crate::worker::DriverStats;

/// Bytes of messages one subscriber channel may hold in the SFU, on top of its
/// association's send buffer, before the oldest are dropped.
pub const SUBSCRIBER_QUEUE_BYTES: usize = 1 << 20;
/// Messages one subscriber channel may hold in the SFU, whatever their size.
pub const SUBSCRIBER_QUEUE_MESSAGES: usize = 4096;

/// A message on its way: its type and its bytes, shared by every subscriber.
#[derive(Debug, Clone)]
pub struct ChannelMessage {
    /// Binary (true) or text.
    pub binary: bool,
    /// The payload.
    pub data: Arc<[u8]>,
}

/// A copy for another worker's subscribers.
#[derive(Debug, Clone)]
pub struct ForwardedMessage {
    /// The publication.
    pub publication: PublicationId,
    /// The message.
    pub message: ChannelMessage,
}

#[derive(Debug, Default)]
struct Publication {
    /// Subscriber channels on this worker.
    local: Vec<(SessionId, u16)>,
    /// Other workers with subscribers (only when the publisher is owned here).
    workers: Vec<usize>,
}

/// Messages waiting for one subscriber channel.
#[derive(Debug, Default)]
struct Queue {
    messages: VecDeque<ChannelMessage>,
    bytes: usize,
}

/// One worker's data channel routes and subscriber queues.
#[derive(Debug)]
pub struct ChannelRouter {
    worker: usize,
    stats: Arc<DriverStats>,
    generation: Option<(u64, u64)>,
    /// `(publisher session, stream id)` of publishers owned here.
    by_publisher: HashMap<(SessionId, u16), PublicationId>,
    publications: HashMap<PublicationId, Publication>,
    /// The negotiated channels applied to each owned session, and its peer maximum.
    applied: HashMap<SessionId, (BTreeMap<u16, ChannelSpec>, Option<usize>)>,
    queues: HashMap<(SessionId, u16), Queue>,
    /// Sessions that have something to send.
    touched: Vec<SessionId>,
    forwards: VecDeque<(usize, ForwardedMessage)>,
}

impl ChannelRouter {
    /// An empty router for worker `worker`.
    pub fn new(worker: usize, stats: Arc<DriverStats>) -> ChannelRouter {
        ChannelRouter {
            worker,
            stats,
            generation: None,
            by_publisher: HashMap::new(),
            publications: HashMap::new(),
            applied: HashMap::new(),
            queues: HashMap::new(),
            touched: Vec::new(),
            forwards: VecDeque::new(),
        }
    }

    /// The generations (directory, registry) of the routes in use.
    pub fn generation(&self) -> Option<(u64, u64)> {
        self.generation
    }

    /// Takes new routes: opens the negotiated channels sessions gained, closes those they
    /// lost, drops the queues of subscriptions that ended.
    pub fn refresh<S: Sessions>(
        &mut self,
        now: Instant,
        generation: (u64, u64),
        routes: ChannelRoutes,
        sessions: &mut S,
    ) {
        self.generation = Some(generation);
        self.by_publisher.clear();
        self.publications.clear();
        for p in routes.publications {
            let here = p.publisher_owner == Some(self.worker);
            let mut publication = Publication::default();
            for (session, stream, owner) in &p.subscribers {
                match owner {
                    Some(w) if *w == self.worker => publication.local.push((*session, *stream)),
                    Some(w) if here && !publication.workers.contains(w) => {
                        publication.workers.push(*w)
                    }
                    _ => {}
                }
            }
            if here {
                self.by_publisher.insert(p.publisher, p.id);
            }
            self.publications.insert(p.id, publication);
        }
        let mut seen = HashSet::new();
        for (id, channels, peer_max) in routes.sessions {
            seen.insert(id);
            let wanted: BTreeMap<u16, ChannelSpec> =
                channels.iter().map(|(stream, _, spec)| (*stream, *spec)).collect();
            let (before, before_max) = self.applied.remove(&id).unwrap_or_default();
            if sessions.session_mut(id).is_none() {
                continue;
            }
            // A channel that goes first gets what waits for it here, as far as its
            // association takes it; the stream reset follows those messages (RFC 8831
            // §6.7), so a close loses nothing the subscriber can still take.
            for stream in before.keys().filter(|s| !wanted.contains_key(s)) {
                self.flush(now, (id, *stream), sessions);
                if let Some(session) = sessions.session_mut(id) {
                    session.close_channel(now, *stream);
                }
                if !self.touched.contains(&id) {
                    self.touched.push(id);
                }
            }
            let Some(session) = sessions.session_mut(id) else { continue };
            for (stream, name, spec) in &channels {
                if before.get(stream) != Some(spec) {
                    session.open_negotiated_channel(*stream, spec.options(name));
                }
            }
            if let Some(size) = peer_max.filter(|s| before_max != Some(*s)) {
                session.set_peer_max_message_size(size);
            }
            self.applied.insert(id, (wanted, peer_max));
        }
        self.applied.retain(|id, _| seen.contains(id));
        let subscribed: HashSet<(SessionId, u16)> =
            self.publications.values().flat_map(|p| p.local.iter().copied()).collect();
        let stats = &self.stats;
        self.queues.retain(|key, queue| {
            let keep = subscribed.contains(key);
            if !keep {
                let dropped = queue.messages.len() as u64;
                DriverStats::add(&stats.channel_messages_dropped_undeliverable, dropped);
            }
            keep
        });
    }

    /// A message from session `from` on its channel `stream`: to every subscriber here, and
    /// one copy per other worker with subscribers ([`ChannelRouter::pop_forward`]).
    pub fn on_message<S: Sessions>(
        &mut self,
        now: Instant,
        from: SessionId,
        stream: u16,
        binary: bool,
        data: Vec<u8>,
        sessions: &mut S,
    ) {
        let Some(&publication) = self.by_publisher.get(&(from, stream)) else {
            DriverStats::bump(&self.stats.channel_messages_unrouted);
            trace!(%from, stream, "data channel message on no published channel");
            return;
        };
        DriverStats::bump(&self.stats.channel_messages_published);
        let message = ChannelMessage { binary, data: Arc::from(data) };
        if let Some(p) = self.publications.get(&publication) {
            for worker in &p.workers {
                self.forwards.push_back((
                    *worker,
                    ForwardedMessage { publication, message: message.clone() },
                ));
            }
        }
        self.deliver_local(now, publication, &message, sessions);
    }

    /// A message another worker forwarded.
    pub fn on_forwarded<S: Sessions>(
        &mut self,
        now: Instant,
        forwarded: ForwardedMessage,
        sessions: &mut S,
    ) {
        self.deliver_local(now, forwarded.publication, &forwarded.message, sessions);
    }

    /// Session `id` can take more (its association came up, or has room again): sends what
    /// waits for its channels.
    pub fn on_writable<S: Sessions>(&mut self, now: Instant, id: SessionId, sessions: &mut S) {
        let keys: Vec<(SessionId, u16)> =
            self.queues.keys().filter(|(s, _)| *s == id).copied().collect();
        for key in keys {
            self.flush(now, key, sessions);
        }
    }

    /// A channel of session `id` closed: what waited for it is dropped.
    pub fn on_closed(&mut self, id: SessionId, stream: u16) {
        if let Some(queue) = self.queues.remove(&(id, stream)) {
            let dropped = queue.messages.len() as u64;
            DriverStats::add(&self.stats.channel_messages_dropped_undeliverable, dropped);
        }
        if let Some((applied, _)) = self.applied.get_mut(&id) {
            applied.remove(&stream);
        }
    }

    /// The next session with something to send.
    pub fn pop_touched(&mut self) -> Option<SessionId> {
        self.touched.pop()
    }

    /// The next copy for another worker.
    pub fn pop_forward(&mut self) -> Option<(usize, ForwardedMessage)> {
        self.forwards.pop_front()
    }

    /// Messages waiting in this worker's subscriber queues.
    pub fn queued(&self) -> usize {
        self.queues.values().map(|q| q.messages.len()).sum()
    }

    fn deliver_local<S: Sessions>(
        &mut self,
        now: Instant,
        publication: PublicationId,
        message: &ChannelMessage,
        sessions: &mut S,
    ) {
        let Some(p) = self.publications.get(&publication) else { return };
        for index in 0..p.local.len() {
            let Some(&key) = self.publications.get(&publication).and_then(|p| p.local.get(index))
            else {
                break;
            };
            DriverStats::bump(&self.stats.channel_messages_forwarded);
            let waiting = self.queues.get(&key).is_some_and(|q| !q.messages.is_empty());
            if waiting {
                self.enqueue(key, message.clone(), sessions);
                self.flush(now, key, sessions);
                continue;
            }
            match self.try_send(now, key, message, sessions) {
                Ok(()) => {}
                Err(ChannelSendError::NotReady | ChannelSendError::WouldBlock) => {
                    self.enqueue(key, message.clone(), sessions);
                }
                Err(error) => self.undeliverable(key, error, sessions),
            }
        }
    }

    fn try_send<S: Sessions>(
        &mut self,
        now: Instant,
        (id, stream): (SessionId, u16),
        message: &ChannelMessage,
        sessions: &mut S,
    ) -> Result<(), ChannelSendError> {
        let Some(session) = sessions.session_mut(id) else {
            return Err(ChannelSendError::NotReady);
        };
        let result = session.send_channel_message(now, stream, &message.data, message.binary);
        if result.is_ok() && !self.touched.contains(&id) {
            self.touched.push(id);
        }
        result
    }

    /// Sends what waits for one subscriber channel, oldest first, until it would block.
    fn flush<S: Sessions>(&mut self, now: Instant, key: (SessionId, u16), sessions: &mut S) {
        while let Some(message) = self.queues.get(&key).and_then(|q| q.messages.front()).cloned() {
            match self.try_send(now, key, &message, sessions) {
                Ok(()) => {}
                Err(ChannelSendError::NotReady | ChannelSendError::WouldBlock) => return,
                Err(error) => self.undeliverable(key, error, sessions),
            }
            if let Some(queue) = self.queues.get_mut(&key) {
                if let Some(sent) = queue.messages.pop_front() {
                    queue.bytes = queue.bytes.saturating_sub(sent.data.len());
                }
            }
        }
        if self.queues.get(&key).is_some_and(|q| q.messages.is_empty()) {
            self.queues.remove(&key);
        }
    }

    /// Queues a message for a subscriber that cannot take it now; a full queue drops its
    /// oldest messages first (see the module documentation).
    fn enqueue<S: Sessions>(
        &mut self,
        key: (SessionId, u16),
        message: ChannelMessage,
        sessions: &mut S,
    ) {
        let queue = self.queues.entry(key).or_default();
        let mut dropped = 0u64;
        while !queue.messages.is_empty()
            && (queue.messages.len() >= SUBSCRIBER_QUEUE_MESSAGES
                || queue.bytes.saturating_add(message.data.len()) > SUBSCRIBER_QUEUE_BYTES)
        {
            if let Some(old) = queue.messages.pop_front() {
                queue.bytes = queue.bytes.saturating_sub(old.data.len());
                dropped += 1;
            }
        }
        queue.bytes = queue.bytes.saturating_add(message.data.len());
        queue.messages.push_back(message);
        if dropped > 0 {
            DriverStats::add(&self.stats.channel_messages_dropped_slow_subscriber, dropped);
            if let Some(session) = sessions.session_mut(key.0) {
                SessionStats::add(&session.stats().channel_messages_dropped, dropped);
            }
            debug!(session = %key.0, stream = key.1, dropped, "slow data channel subscriber: oldest messages dropped");
        }
    }

    fn undeliverable<S: Sessions>(
        &mut self,
        key: (SessionId, u16),
        error: ChannelSendError,
        sessions: &mut S,
    ) {
        DriverStats::bump(&self.stats.channel_messages_dropped_undeliverable);
        if let Some(session) = sessions.session_mut(key.0) {
            SessionStats::bump(&session.stats().channel_messages_dropped);
        }
        debug!(session = %key.0, stream = key.1, %error, "data channel message not deliverable");
    }
}
