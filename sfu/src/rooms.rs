//! The demo's room directory: which sessions are in which named room.
//!
//! The Calls-style API has no rooms: a session pulls any track by `sessionId` and
//! `trackName`. An application that wants rooms keeps its own list of who is where, beside
//! the API, and hands it to its clients. This is that list for the demo page, as small as it
//! can be: in memory, bounded, and forgetful.
//!
//! - A participant is one publishing session in one room, with a display name and the names
//!   of the tracks it pushed. It gets a private [`ParticipantId`] when it joins, and uses it
//!   to send heartbeats (with its mute state) and to leave. Listings show the session id,
//!   never the participant id, so one participant cannot make another leave.
//! - A participant not heard from for [`RoomLimits::participant_ttl`] (30 s) is dropped; a
//!   room with no participants is removed.
//! - Every size is bounded ([`RoomLimits`]): rooms, participants per room, name lengths,
//!   tracks per participant.
//!
//! Time and randomness are inputs, so the rules are tested without sleeping:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sfu::rooms::{Join, Rooms, RoomLimits};
//!
//! let mut rooms = Rooms::new(RoomLimits::default());
//! let mut rng = rand::thread_rng();
//! let t0 = Instant::now();
//! let join = Join {
//!     session_id: "0123456789abcdef0123456789abcdef".into(),
//!     name: "Ada".into(),
//!     tracks: vec!["audio".into(), "video".into()],
//! };
//! let ada = rooms.join(t0, &mut rng, "lobby", join).unwrap();
//! assert_eq!(rooms.list(t0, "lobby").len(), 1);
//! // Nobody heard from Ada for 31 s: she is gone, and so is the room.
//! assert!(rooms.list(t0 + Duration::from_secs(31), "lobby").is_empty());
//! assert_eq!(rooms.len(), 0);
//! # let _ = ada;
//! ```

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use rand::RngCore;

/// The bounds of a [`Rooms`] directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomLimits {
    /// Most rooms at once (1000).
    pub max_rooms: usize,
    /// Most participants in one room (16: each page pulls every other participant).
    pub max_participants: usize,
    /// Longest room name, in bytes (64). Room names are 1 or more of `A-Z a-z 0-9 - _ .`.
    pub max_room_name: usize,
    /// Longest display name, in characters (40).
    pub max_display_name: usize,
    /// Most track names per participant (8).
    pub max_tracks: usize,
    /// Longest track name, in bytes (64).
    pub max_track_name: usize,
    /// A participant not heard from this long is dropped (30 s).
    pub participant_ttl: Duration,
    /// How often every room, not just the one asked about, is swept for stale participants
    /// (5 s).
    pub sweep_interval: Duration,
}

impl Default for RoomLimits {
    fn default() -> Self {
        RoomLimits {
            max_rooms: 1000,
            max_participants: 16,
            max_room_name: 64,
            max_display_name: 40,
            max_tracks: 8,
            max_track_name: 64,
            participant_ttl: Duration::from_secs(30),
            sweep_interval: Duration::from_secs(5),
        }
    }
}

/// The private handle of one participant: 16 random bytes, 32 hex characters on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParticipantId([u8; 16]);

impl ParticipantId {
    fn random<R: RngCore + ?Sized>(rng: &mut R) -> ParticipantId {
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        ParticipantId(bytes)
    }

    /// Parses 32 hex characters; `None` for anything else.
    pub fn parse(s: &str) -> Option<ParticipantId> {
        let s = s.as_bytes();
        if s.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        for (byte, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
            let hi = char::from(pair[0]).to_digit(16)?;
            let lo = char::from(pair[1]).to_digit(16)?;
            *byte = u8::try_from(hi * 16 + lo).ok()?;
        }
        Some(ParticipantId(out))
    }
}

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ParticipantId {
    /// Only a prefix: the id is what lets its holder leave.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ParticipantId({:02x}{:02x}..)", self.0[0], self.0[1])
    }
}

/// What a joining participant says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    /// Its publishing session (32 hex characters; the caller checks that it exists).
    pub session_id: String,
    /// Display name, may be empty; trimmed, at most [`RoomLimits::max_display_name`]
    /// characters, no control characters.
    pub name: String,
    /// Names of the tracks it pushed, for the others to pull.
    pub tracks: Vec<String>,
}

/// The mute state a participant reports with each heartbeat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MuteState {
    /// Its microphone track is disabled.
    pub audio: bool,
    /// Its camera track is disabled.
    pub video: bool,
}

/// One participant as others see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantView {
    /// Its publishing session.
    pub session_id: String,
    /// Display name (may be empty).
    pub name: String,
    /// Names of its tracks.
    pub tracks: Vec<String>,
    /// Its last reported mute state.
    pub muted: MuteState,
    /// Time since it joined.
    pub joined_ago: Duration,
    /// Time since its last join or heartbeat.
    pub seen_ago: Duration,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoomError {
    /// The room name is empty, too long, or has characters outside `A-Z a-z 0-9 - _ .`.
    #[error("a room name is 1 to {0} characters of A-Z a-z 0-9 - _ .")]
    BadRoomName(usize),
    /// The session id is not 32 hex characters.
    #[error("sessionId must be the 32 hex characters of a session of this server")]
    BadSessionId,
    /// The display name is too long or has control characters.
    #[error("name must be at most {0} characters, without control characters")]
    BadDisplayName(usize),
    /// Too many tracks, or a track name that is empty, too long or has control characters.
    #[error("tracks must be at most {0} track names of 1 to {1} visible characters")]
    BadTracks(usize, usize),
    /// The session is already in this room.
    #[error("this session is already in the room; leave first or use another session")]
    AlreadyJoined,
    /// The room has its most participants.
    #[error("the room is full ({0} participants)")]
    RoomFull(usize),
    /// There are as many rooms as allowed.
    #[error("too many rooms ({0}); try again later")]
    TooManyRooms(usize),
    /// No such participant in this room (it left, or expired).
    #[error(
        "no such participant in this room (it left, or sent no heartbeat for {0} s): join again"
    )]
    UnknownParticipant(u64),
}

#[derive(Debug)]
struct Participant {
    id: ParticipantId,
    view: ParticipantView,
    joined: Instant,
    seen: Instant,
}

/// The directory: room name to participants, in order of joining.
#[derive(Debug)]
pub struct Rooms {
    limits: RoomLimits,
    rooms: HashMap<String, Vec<Participant>>,
    last_sweep: Option<Instant>,
}

impl Rooms {
    /// An empty directory with these bounds.
    pub fn new(limits: RoomLimits) -> Rooms {
        Rooms { limits, rooms: HashMap::new(), last_sweep: None }
    }

    /// The bounds.
    pub fn limits(&self) -> &RoomLimits {
        &self.limits
    }

    /// Number of rooms with at least one participant (as of the last sweep).
    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    /// No rooms.
    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }

    /// Checks a room name against the rules of [`RoomError::BadRoomName`].
    pub fn check_room_name(&self, room: &str) -> Result<(), RoomError> {
        let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
        if room.is_empty() || room.len() > self.limits.max_room_name || !room.bytes().all(ok) {
            return Err(RoomError::BadRoomName(self.limits.max_room_name));
        }
        Ok(())
    }

    /// Adds a participant to `room` (creating the room), and returns its private id and
    /// everyone in the room, itself included.
    pub fn join<R: RngCore + ?Sized>(
        &mut self,
        now: Instant,
        rng: &mut R,
        room: &str,
        join: Join,
    ) -> Result<(ParticipantId, Vec<ParticipantView>), RoomError> {
        self.check_room_name(room)?;
        let limits = self.limits;
        let session_ok = join.session_id.len() == 32
            && join.session_id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        if !session_ok {
            return Err(RoomError::BadSessionId);
        }
        let name = join.name.trim();
        if name.chars().count() > limits.max_display_name || name.chars().any(char::is_control) {
            return Err(RoomError::BadDisplayName(limits.max_display_name));
        }
        let track_ok = |t: &String| {
            !t.is_empty() && t.len() <= limits.max_track_name && !t.chars().any(char::is_control)
        };
        if join.tracks.len() > limits.max_tracks || !join.tracks.iter().all(track_ok) {
            return Err(RoomError::BadTracks(limits.max_tracks, limits.max_track_name));
        }
        self.maybe_sweep(now);
        self.prune(now, room);
        if !self.rooms.contains_key(room) && self.rooms.len() >= limits.max_rooms {
            // Before refusing, make sure the count is not made of stale rooms.
            self.sweep(now);
            if self.rooms.len() >= limits.max_rooms {
                return Err(RoomError::TooManyRooms(limits.max_rooms));
            }
        }
        let participants = self.rooms.entry(room.to_owned()).or_default();
        if participants.iter().any(|p| p.view.session_id == join.session_id) {
            return Err(RoomError::AlreadyJoined);
        }
        if participants.len() >= limits.max_participants {
            return Err(RoomError::RoomFull(limits.max_participants));
        }
        let id = ParticipantId::random(rng);
        participants.push(Participant {
            id,
            view: ParticipantView {
                session_id: join.session_id,
                name: name.to_owned(),
                tracks: join.tracks,
                muted: MuteState::default(),
                joined_ago: Duration::ZERO,
                seen_ago: Duration::ZERO,
            },
            joined: now,
            seen: now,
        });
        Ok((id, self.list(now, room)))
    }

    /// Marks the participant as alive with its mute state; returns everyone in the room.
    pub fn heartbeat(
        &mut self,
        now: Instant,
        room: &str,
        id: ParticipantId,
        muted: MuteState,
    ) -> Result<Vec<ParticipantView>, RoomError> {
        self.check_room_name(room)?;
        self.maybe_sweep(now);
        self.prune(now, room);
        let participant = self
            .rooms
            .get_mut(room)
            .and_then(|ps| ps.iter_mut().find(|p| p.id == id))
            .ok_or(RoomError::UnknownParticipant(self.limits.participant_ttl.as_secs()))?;
        participant.seen = now;
        participant.view.muted = muted;
        Ok(self.list(now, room))
    }

    /// Removes the participant; removes the room when it was the last one.
    pub fn leave(&mut self, now: Instant, room: &str, id: ParticipantId) -> Result<(), RoomError> {
        self.check_room_name(room)?;
        self.maybe_sweep(now);
        let unknown = RoomError::UnknownParticipant(self.limits.participant_ttl.as_secs());
        let participants = self.rooms.get_mut(room).ok_or(unknown.clone())?;
        let before = participants.len();
        participants.retain(|p| p.id != id);
        let removed = participants.len() < before;
        if participants.is_empty() {
            self.rooms.remove(room);
        }
        if removed {
            Ok(())
        } else {
            Err(unknown)
        }
    }

    /// Everyone in `room` still alive, in order of joining (empty for an unknown or invalid
    /// room name).
    pub fn list(&mut self, now: Instant, room: &str) -> Vec<ParticipantView> {
        self.maybe_sweep(now);
        self.prune(now, room);
        let Some(participants) = self.rooms.get(room) else { return Vec::new() };
        participants
            .iter()
            .map(|p| ParticipantView {
                joined_ago: now.saturating_duration_since(p.joined),
                seen_ago: now.saturating_duration_since(p.seen),
                ..p.view.clone()
            })
            .collect()
    }

    /// Drops every participant of `room` whose session `alive` says is gone (the SFU removed
    /// it), and the room if it is left empty; returns how many were dropped. One room at a
    /// time: the other rooms' participants stop sending heartbeats and expire anyway.
    pub fn retain_sessions(&mut self, room: &str, mut alive: impl FnMut(&str) -> bool) -> usize {
        let Some(participants) = self.rooms.get_mut(room) else { return 0 };
        let before = participants.len();
        participants.retain(|p| alive(&p.view.session_id));
        let dropped = before - participants.len();
        if participants.is_empty() {
            self.rooms.remove(room);
        }
        dropped
    }

    /// Drops the stale participants of one room, and the room if it is left empty.
    fn prune(&mut self, now: Instant, room: &str) {
        let ttl = self.limits.participant_ttl;
        if let Some(participants) = self.rooms.get_mut(room) {
            participants.retain(|p| now.saturating_duration_since(p.seen) < ttl);
            if participants.is_empty() {
                self.rooms.remove(room);
            }
        }
    }

    /// Drops the stale participants of every room, and the empty rooms.
    fn sweep(&mut self, now: Instant) {
        let ttl = self.limits.participant_ttl;
        self.rooms.retain(|_, participants| {
            participants.retain(|p| now.saturating_duration_since(p.seen) < ttl);
            !participants.is_empty()
        });
        self.last_sweep = Some(now);
    }

    fn maybe_sweep(&mut self, now: Instant) {
        let due = self
            .last_sweep
            .is_none_or(|last| now.saturating_duration_since(last) >= self.limits.sweep_interval);
        if due {
            self.sweep(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn session(n: u8) -> String {
        format!("{n:02x}").repeat(16)
    }

    fn join(n: u8, name: &str) -> Join {
        Join {
            session_id: session(n),
            name: name.to_owned(),
            tracks: vec!["audio".into(), "video".into()],
        }
    }

    fn setup() -> (Rooms, StdRng, Instant) {
        (Rooms::new(RoomLimits::default()), StdRng::seed_from_u64(1), Instant::now())
    }

    #[test]
    fn join_list_leave() {
        let (mut rooms, mut rng, t0) = setup();
        let (ada, list) = rooms.join(t0, &mut rng, "lobby", join(1, "  Ada ")).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].name, "Ada");
        assert_eq!(list[0].session_id, session(1));
        assert_eq!(list[0].tracks, ["audio", "video"]);
        let t1 = t0 + Duration::from_secs(2);
        let (bob, list) = rooms.join(t1, &mut rng, "lobby", join(2, "Bob")).unwrap();
        assert_ne!(ada, bob);
        let names: Vec<_> = list.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["Ada", "Bob"]);
        assert_eq!(list[0].joined_ago, Duration::from_secs(2));
        assert_eq!(list[1].joined_ago, Duration::ZERO);
        // Another room is another list.
        rooms.join(t1, &mut rng, "other", join(3, "")).unwrap();
        assert_eq!(rooms.len(), 2);
        assert_eq!(rooms.list(t1, "other").len(), 1);

        rooms.leave(t1, "lobby", ada).unwrap();
        assert_eq!(rooms.list(t1, "lobby")[0].name, "Bob");
        // Leaving twice, or from the wrong room, is an unknown participant.
        assert!(matches!(rooms.leave(t1, "lobby", ada), Err(RoomError::UnknownParticipant(30))));
        assert!(matches!(rooms.leave(t1, "other", bob), Err(RoomError::UnknownParticipant(_))));
        rooms.leave(t1, "lobby", bob).unwrap();
        // The empty room is gone.
        assert_eq!(rooms.len(), 1);
        assert!(rooms.list(t1, "lobby").is_empty());
    }

    #[test]
    fn heartbeats_keep_participants_and_carry_mute_state() {
        let (mut rooms, mut rng, t0) = setup();
        let (ada, _) = rooms.join(t0, &mut rng, "r", join(1, "Ada")).unwrap();
        let (_bob, _) = rooms.join(t0, &mut rng, "r", join(2, "Bob")).unwrap();
        // Ada sends heartbeats every 10 s for a minute, Bob none.
        let mut now = t0;
        for _ in 0..6 {
            now += Duration::from_secs(10);
            let muted = MuteState { audio: true, video: false };
            let list = rooms.heartbeat(now, "r", ada, muted).unwrap();
            assert_eq!(list[0].muted, muted);
            assert_eq!(list[0].seen_ago, Duration::ZERO);
        }
        let list = rooms.list(now, "r");
        assert_eq!(list.len(), 1, "Bob expired: {list:?}");
        assert_eq!(list[0].name, "Ada");
        assert_eq!(list[0].joined_ago, Duration::from_secs(60));
        // Silence for the time to live: Ada is gone, and so is the room.
        now += Duration::from_secs(30);
        assert!(matches!(
            rooms.heartbeat(now, "r", ada, MuteState::default()),
            Err(RoomError::UnknownParticipant(30))
        ));
        assert!(rooms.is_empty());
    }

    #[test]
    fn expiry_is_at_the_time_to_live() {
        let (mut rooms, mut rng, t0) = setup();
        rooms.join(t0, &mut rng, "r", join(1, "")).unwrap();
        let ttl = rooms.limits().participant_ttl;
        assert_eq!(rooms.list(t0 + ttl - Duration::from_millis(1), "r").len(), 1);
        assert_eq!(rooms.list(t0 + ttl, "r").len(), 0);
    }

    #[test]
    fn stale_rooms_are_swept_even_when_nobody_asks_about_them() {
        let (mut rooms, mut rng, t0) = setup();
        for n in 0..10u8 {
            rooms.join(t0, &mut rng, &format!("room{n}"), join(n, "")).unwrap();
        }
        assert_eq!(rooms.len(), 10);
        // A request about another room, after the time to live: everything stale goes.
        let later = t0 + Duration::from_secs(31);
        assert!(rooms.list(later, "elsewhere").is_empty());
        assert_eq!(rooms.len(), 0);
    }

    #[test]
    fn bounds() {
        let limits = RoomLimits { max_rooms: 2, max_participants: 3, ..RoomLimits::default() };
        let mut rooms = Rooms::new(limits);
        let mut rng = StdRng::seed_from_u64(2);
        let t0 = Instant::now();
        for n in 0..3 {
            rooms.join(t0, &mut rng, "a", join(n, "")).unwrap();
        }
        assert_eq!(rooms.join(t0, &mut rng, "a", join(9, "")), Err(RoomError::RoomFull(3)));
        rooms.join(t0, &mut rng, "b", join(4, "")).unwrap();
        assert_eq!(rooms.join(t0, &mut rng, "c", join(5, "")), Err(RoomError::TooManyRooms(2)));
        // Once the others are stale, a new room fits.
        let later = t0 + Duration::from_secs(31);
        rooms.join(later, &mut rng, "c", join(5, "")).unwrap();
        assert_eq!(rooms.len(), 1);
    }

    #[test]
    fn bad_input_is_refused() {
        let (mut rooms, mut rng, t0) = setup();
        for room in ["", "has space", "a/b", "é", &"x".repeat(65)] {
            assert_eq!(
                rooms.join(t0, &mut rng, room, join(1, "")),
                Err(RoomError::BadRoomName(64)),
                "{room:?}"
            );
        }
        rooms.join(t0, &mut rng, &"x".repeat(64), join(1, "")).unwrap();
        rooms.join(t0, &mut rng, "A-z_0.9", join(1, "")).unwrap();
        for id in ["", "0123", &"g".repeat(32), &"AB".repeat(16), &"a".repeat(33)] {
            let j = Join { session_id: id.to_owned(), ..join(1, "") };
            assert_eq!(rooms.join(t0, &mut rng, "r", j), Err(RoomError::BadSessionId), "{id:?}");
        }
        for name in ["a\nb", "\u{7}", &"é".repeat(41)] {
            assert_eq!(
                rooms.join(t0, &mut rng, "r", join(1, name)),
                Err(RoomError::BadDisplayName(40)),
                "{name:?}"
            );
        }
        // Forty characters (eighty bytes) fit.
        rooms.join(t0, &mut rng, "r", join(1, &"é".repeat(40))).unwrap();
        let bad_tracks: [Vec<String>; 3] =
            [vec![String::new()], vec!["x".repeat(65)], (0..9).map(|n| format!("t{n}")).collect()];
        for tracks in bad_tracks {
            let j = Join { tracks, ..join(2, "") };
            assert_eq!(rooms.join(t0, &mut rng, "r", j), Err(RoomError::BadTracks(8, 64)));
        }
        // No tracks at all is fine (a participant without camera or microphone).
        rooms.join(t0, &mut rng, "r", Join { tracks: Vec::new(), ..join(2, "") }).unwrap();
        // The same session twice in one room is refused; in another room it is fine.
        assert_eq!(rooms.join(t0, &mut rng, "r", join(2, "")), Err(RoomError::AlreadyJoined));
        let bad = ParticipantId::parse(&"0".repeat(32)).unwrap();
        assert!(rooms.heartbeat(t0, "r", bad, MuteState::default()).is_err());
        assert_eq!(rooms.leave(t0, "no room", bad), Err(RoomError::BadRoomName(64)));
    }

    #[test]
    fn participant_ids_round_trip_and_stay_private() {
        let mut rng = StdRng::seed_from_u64(3);
        let id = ParticipantId::random(&mut rng);
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(ParticipantId::parse(&text), Some(id));
        assert_eq!(ParticipantId::parse(&text.to_uppercase()), Some(id));
        assert!(!format!("{id:?}").contains(&text));
        for bad in ["", "zz", &"0".repeat(31), &"0".repeat(33), &"g".repeat(32)] {
            assert_eq!(ParticipantId::parse(bad), None);
        }
    }

    #[test]
    fn sessions_that_ended_are_dropped() {
        let (mut rooms, mut rng, t0) = setup();
        rooms.join(t0, &mut rng, "a", join(1, "")).unwrap();
        rooms.join(t0, &mut rng, "a", join(2, "")).unwrap();
        rooms.join(t0, &mut rng, "b", join(1, "")).unwrap();
        let gone = session(1);
        assert_eq!(rooms.retain_sessions("a", |s| s != gone), 1);
        assert_eq!(rooms.list(t0, "a")[0].session_id, session(2));
        // Only the room asked about.
        assert_eq!(rooms.list(t0, "b")[0].session_id, session(1));
        assert_eq!(rooms.retain_sessions("b", |s| s != gone), 1);
        assert_eq!(rooms.len(), 1);
        assert_eq!(rooms.retain_sessions("nowhere", |_| false), 0);
    }
}
