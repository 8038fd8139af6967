//! The data channel registry, shared by the API and the workers: which session publishes
//! which channel on which stream id, and which sessions subscribe to it on which of theirs.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use sctp::PartialReliability;

use crate::directory::SessionId;
use crate::session::ECHO_CHANNEL_ID;

/// A published channel, unique for the life of the process.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct PublicationId(pub u64);

/// How a channel delivers: the publisher's settings, which its subscribers' channels share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChannelSpec {
    /// In-order delivery.
    pub ordered: bool,
    /// Partial reliability.
    pub reliability: PartialReliability,
}

impl ChannelSpec {
    /// Ordered and reliable.
    pub const RELIABLE: ChannelSpec =
        ChannelSpec { ordered: true, reliability: PartialReliability::None };

    /// The settings of the channel a session opens on its association.
    pub fn options(&self, label: &str) -> sctp::ChannelOptions {
        sctp::ChannelOptions {
            label: label.to_owned(),
            ordered: self.ordered,
            reliability: self.reliability,
            ..sctp::ChannelOptions::default()
        }
    }
}

/// What one of a session's channels is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelRole {
    /// The session publishes it.
    Publish(PublicationId),
    /// The session receives this publication on it.
    Subscribe(PublicationId),
}

/// One channel of a session, as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionChannel {
    /// Its stream id in the session.
    pub id: u16,
    /// The channel's name (the publisher's name for it).
    pub name: String,
    /// The publishing session (this one for a published channel).
    pub publisher: SessionId,
    /// Published or subscribed.
    pub local: bool,
    /// Delivery settings.
    pub spec: ChannelSpec,
}

/// Why a channel could not be published, subscribed or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// The session already publishes a channel with this name.
    #[error("the session already publishes a channel with this name")]
    NameTaken,
    /// No such publication, or no channel with this id.
    #[error("no such data channel")]
    NotFound,
    /// Every stream id the SFU hands out is in use in this session.
    #[error("no free stream id left in the session (at most {MAX_CHANNELS_PER_SESSION} channels)")]
    NoFreeId,
}

/// Most channels (published plus subscribed) per session: the stream ids of one parity below
/// [`ECHO_CHANNEL_ID`].
pub const MAX_CHANNELS_PER_SESSION: usize = (ECHO_CHANNEL_ID as usize) / 2;

/// What a worker needs of the sessions it owns.
#[derive(Debug, Clone, Default)]
pub struct ChannelRoutes {
    /// The registry's generation these routes are of.
    pub generation: u64,
    /// The negotiated channels each owned session must have, and the peer's
    /// max-message-size when known.
    pub sessions: Vec<SessionRoute>,
    /// Publications published or subscribed by owned sessions.
    pub publications: Vec<PublicationRoute>,
}

/// One owned session in [`ChannelRoutes`]: its id, its negotiated channels `(stream id,
/// name, spec)`, the peer's max-message-size when known.
pub type SessionRoute = (SessionId, Vec<(u16, String, ChannelSpec)>, Option<usize>);

/// One publication in [`ChannelRoutes`].
#[derive(Debug, Clone)]
pub struct PublicationRoute {
    /// Its id.
    pub id: PublicationId,
    /// The publishing session and its stream id.
    pub publisher: (SessionId, u16),
    /// The worker that owns the publisher, once claimed.
    pub publisher_owner: Option<usize>,
    /// `(subscriber session, its stream id, its owner)`.
    pub subscribers: Vec<(SessionId, u16, Option<usize>)>,
}

#[derive(Debug)]
struct Publication {
    publisher: SessionId,
    name: String,
    stream: u16,
    spec: ChannelSpec,
    subscribers: Vec<(SessionId, u16)>,
}

#[derive(Debug, Default)]
struct SessionEntry {
    channels: BTreeMap<u16, ChannelRole>,
    peer_max_message_size: Option<usize>,
}

#[derive(Debug, Default)]
struct Inner {
    publications: HashMap<PublicationId, Publication>,
    by_name: HashMap<(SessionId, String), PublicationId>,
    sessions: HashMap<SessionId, SessionEntry>,
    next: u64,
}

/// The registry. One mutex, touched by API calls and when a worker refreshes its routes,
/// never per message.
#[derive(Debug, Default)]
pub struct ChannelRegistry {
    inner: Mutex<Inner>,
    generation: AtomicU64,
}

impl Inner {
    /// The lowest free stream id of the SFU's DCEP parity (odd as DTLS server, even as
    /// client: the browser opens its in-band channels on the other parity, RFC 8832 §6), so
    /// a handed-out id never collides with a channel the browser opens itself.
    fn free_id(&self, session: SessionId, odd: bool) -> Option<u16> {
        let used = self.sessions.get(&session).map(|s| &s.channels);
        (u16::from(odd)..ECHO_CHANNEL_ID)
            .step_by(2)
            .find(|id| used.is_none_or(|channels| !channels.contains_key(id)))
    }

    fn remove_publication(&mut self, id: PublicationId) {
        if let Some(p) = self.publications.remove(&id) {
            self.by_name.remove(&(p.publisher, p.name));
            if let Some(entry) = self.sessions.get_mut(&p.publisher) {
                entry.channels.remove(&p.stream);
            }
            for (subscriber, stream) in p.subscribers {
                if let Some(entry) = self.sessions.get_mut(&subscriber) {
                    entry.channels.remove(&stream);
                }
            }
        }
    }
}

impl ChannelRegistry {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every mutation keeps the maps consistent before it can panic.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Changes with every change a worker's [`ChannelRoutes`] depend on.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// `session` publishes a channel named `name`; returns the stream id its client
    /// negotiates. `odd` is the SFU's parity (see [`ChannelRegistry`]).
    pub fn publish(
        &self,
        session: SessionId,
        name: &str,
        spec: ChannelSpec,
        odd: bool,
    ) -> Result<u16, ChannelError> {
        let mut inner = self.lock();
        let key = (session, name.to_owned());
        if inner.by_name.contains_key(&key) {
            return Err(ChannelError::NameTaken);
        }
        let stream = inner.free_id(session, odd).ok_or(ChannelError::NoFreeId)?;
        inner.next = inner.next.wrapping_add(1);
        let id = PublicationId(inner.next);
        inner.by_name.insert(key, id);
        inner.publications.insert(
            id,
            Publication {
                publisher: session,
                name: name.to_owned(),
                stream,
                spec,
                subscribers: Vec::new(),
            },
        );
        inner
            .sessions
            .entry(session)
            .or_default()
            .channels
            .insert(stream, ChannelRole::Publish(id));
        drop(inner);
        self.bump();
        Ok(stream)
    }

    /// `session` subscribes to the channel `publisher` publishes as `name`; returns the
    /// stream id its client negotiates and the channel's settings.
    pub fn subscribe(
        &self,
        session: SessionId,
        publisher: SessionId,
        name: &str,
        odd: bool,
    ) -> Result<(u16, ChannelSpec), ChannelError> {
        let mut inner = self.lock();
        let id = *inner.by_name.get(&(publisher, name.to_owned())).ok_or(ChannelError::NotFound)?;
        let stream = inner.free_id(session, odd).ok_or(ChannelError::NoFreeId)?;
        let publication = inner.publications.get_mut(&id).ok_or(ChannelError::NotFound)?;
        publication.subscribers.push((session, stream));
        let spec = publication.spec;
        inner
            .sessions
            .entry(session)
            .or_default()
            .channels
            .insert(stream, ChannelRole::Subscribe(id));
        drop(inner);
        self.bump();
        Ok((stream, spec))
    }

    /// Closes channel `stream` of `session`: a publication goes with every subscription to
    /// it; a subscription just ends.
    pub fn close(&self, session: SessionId, stream: u16) -> Result<(), ChannelError> {
        let mut inner = self.lock();
        let role = inner
            .sessions
            .get_mut(&session)
            .and_then(|s| s.channels.remove(&stream))
            .ok_or(ChannelError::NotFound)?;
        match role {
            ChannelRole::Publish(id) => inner.remove_publication(id),
            ChannelRole::Subscribe(id) => {
                if let Some(p) = inner.publications.get_mut(&id) {
                    p.subscribers.retain(|s| *s != (session, stream));
                }
            }
        }
        drop(inner);
        self.bump();
        Ok(())
    }

    /// The channels of a session, by stream id.
    pub fn list(&self, session: SessionId) -> Vec<SessionChannel> {
        let inner = self.lock();
        let Some(entry) = inner.sessions.get(&session) else { return Vec::new() };
        entry
            .channels
            .iter()
            .filter_map(|(stream, role)| {
                let (id, local) = match role {
                    ChannelRole::Publish(id) => (id, true),
                    ChannelRole::Subscribe(id) => (id, false),
                };
                let p = inner.publications.get(id)?;
                Some(SessionChannel {
                    id: *stream,
                    name: p.name.clone(),
                    publisher: p.publisher,
                    local,
                    spec: p.spec,
                })
            })
            .collect()
    }

    /// The peer's `a=max-message-size` for a session's data channels.
    pub fn set_peer_max_message_size(&self, session: SessionId, size: usize) {
        let mut inner = self.lock();
        let entry = inner.sessions.entry(session).or_default();
        if entry.peer_max_message_size != Some(size) {
            entry.peer_max_message_size = Some(size);
            drop(inner);
            self.bump();
        }
    }

    /// Forgets a session: its publications (with their subscriptions) and subscriptions.
    pub fn remove_session(&self, session: SessionId) {
        let mut inner = self.lock();
        let Some(entry) = inner.sessions.remove(&session) else { return };
        for role in entry.channels.into_values() {
            match role {
                ChannelRole::Publish(id) => inner.remove_publication(id),
                ChannelRole::Subscribe(id) => {
                    if let Some(p) = inner.publications.get_mut(&id) {
                        p.subscribers.retain(|(s, _)| *s != session);
                    }
                }
            }
        }
        drop(inner);
        self.bump();
    }

    /// The routes of the sessions `owner_of` says `worker` owns.
    pub fn routes(
        &self,
        worker: usize,
        owner_of: impl Fn(SessionId) -> Option<usize>,
    ) -> ChannelRoutes {
        let inner = self.lock();
        let generation = self.generation();
        let owned = |s: SessionId| owner_of(s) == Some(worker);
        let mut sessions = Vec::new();
        for (session, entry) in inner.sessions.iter().filter(|(s, _)| owned(**s)) {
            let channels = entry
                .channels
                .iter()
                .filter_map(|(stream, role)| {
                    let (ChannelRole::Publish(id) | ChannelRole::Subscribe(id)) = role;
                    let p = inner.publications.get(id)?;
                    Some((*stream, p.name.clone(), p.spec))
                })
                .collect();
            sessions.push((*session, channels, entry.peer_max_message_size));
        }
        let publications = inner
            .publications
            .iter()
            .filter(|(_, p)| owned(p.publisher) || p.subscribers.iter().any(|(s, _)| owned(*s)))
            .map(|(id, p)| PublicationRoute {
                id: *id,
                publisher: (p.publisher, p.stream),
                publisher_owner: owner_of(p.publisher),
                subscribers: p
                    .subscribers
                    .iter()
                    .map(|(s, stream)| (*s, *stream, owner_of(*s)))
                    .collect(),
            })
            .collect();
        ChannelRoutes { generation, sessions, publications }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(n: u8) -> SessionId {
        SessionId([n; 16])
    }

    #[test]
    fn ids_follow_the_parity_and_are_reused_after_close() {
        let registry = ChannelRegistry::default();
        let (a, b) = (session(1), session(2));
        assert_eq!(registry.publish(a, "chat", ChannelSpec::RELIABLE, true), Ok(1));
        assert_eq!(registry.publish(a, "game", ChannelSpec::RELIABLE, true), Ok(3));
        assert_eq!(
            registry.publish(a, "chat", ChannelSpec::RELIABLE, true),
            Err(ChannelError::NameTaken)
        );
        assert_eq!(registry.subscribe(b, a, "chat", false), Ok((0, ChannelSpec::RELIABLE)));
        assert_eq!(registry.subscribe(b, a, "game", false).unwrap().0, 2);
        assert_eq!(registry.subscribe(b, a, "nope", false), Err(ChannelError::NotFound));
        assert_eq!(registry.list(b).len(), 2);

        // Closing a subscription frees its id; closing a publication ends its subscriptions.
        registry.close(b, 0).unwrap();
        assert_eq!(registry.subscribe(b, a, "chat", false).unwrap().0, 0);
        let before = registry.generation();
        registry.close(a, 1).unwrap();
        assert!(registry.generation() > before);
        assert_eq!(registry.list(b).iter().map(|c| c.id).collect::<Vec<_>>(), [2]);
        assert_eq!(registry.close(a, 1), Err(ChannelError::NotFound));

        let routes = registry.routes(0, |_| Some(0));
        assert_eq!(routes.publications.len(), 1);
        assert_eq!(routes.publications[0].subscribers, [(b, 2, Some(0))]);
        registry.remove_session(a);
        assert!(registry.list(b).is_empty());
        assert!(registry.routes(0, |_| Some(0)).publications.is_empty());
    }

    #[test]
    fn a_session_runs_out_of_ids() {
        let registry = ChannelRegistry::default();
        for n in 0..MAX_CHANNELS_PER_SESSION {
            registry.publish(session(1), &n.to_string(), ChannelSpec::RELIABLE, true).unwrap();
        }
        assert_eq!(
            registry.publish(session(1), "one more", ChannelSpec::RELIABLE, true),
            Err(ChannelError::NoFreeId)
        );
    }
}
