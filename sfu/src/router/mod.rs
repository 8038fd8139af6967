//! Media routing inside one worker: from a publisher's decrypted RTP to every subscriber's
//! SRTP, and keyframe requests back.
//!
//! Each UDP worker owns one [`Router`] beside its sessions. It holds what the worker needs
//! for the sessions it owns, rebuilt from the directory's [`MediaRoutes`] whenever the
//! directory's generation moves ([`Router::refresh`]), keeping per-stream state (sequence
//! offsets, learned SSRCs, keyframe timing) across rebuilds:
//! - per publisher session: which SSRC, mid (RFC 8843 `sdes:mid` header extension) or
//!   payload type belongs to which published track;
//! - per track: its subscribers on this worker, and the other workers that have
//!   subscribers (only where the publisher is owned here);
//! - per subscriber stream: its SSRC, payload type and extension id maps, sequence and
//!   timestamp rewriting.
//!
//! # One packet
//!
//! [`Router::on_rtp`] gets the packet that [`Session::handle_receive`] decrypted in place in
//! the worker's receive buffer. The publisher's table names the track; one source (SSRC) per
//! track is forwarded (the first, until it is silent for 2 s). Each other worker with
//! subscribers gets one copy through its bounded command queue ([`Forward::Media`]; dropped
//! and counted when full, never waited for), which fans it out there
//! ([`Router::on_forwarded_media`]). For each subscriber here, the packet is copied into one
//! reused buffer, its SSRC, payload type, sequence number, timestamp and extension ids are
//! rewritten in place, it is protected with the subscriber's SRTP context and handed to the
//! [`MediaSink`] to send to the subscriber's selected pair. Nothing is allocated on this
//! path.
//!
//! # Keyframes
//!
//! When a subscriber's stream starts (its session connected and the pull negotiated,
//! [`Router::start_streams`]), and when a subscriber sends PLI or FIR ([`Router::on_rtcp`]),
//! the router asks the publisher for a keyframe: a PLI protected with the publisher's SRTCP
//! context, at most one per published track per `keyframe_interval` (500 ms by default;
//! requests inside the interval are sent when it ends). Requests for a publisher owned by
//! another worker travel as [`Forward::KeyframeRequest`]. Audio tracks get none.
//!
//! PLIs are queued on the publisher's session; the worker drains the sessions listed by
//! [`Router::pop_touched`] after each call.

pub mod keyframe;
pub mod rewrite;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use rtcp::{CompoundIter, Encode, Packet, PliBuilder};
use rtp::{ExtensionForm, RtpPacket};
use tracing::{debug, trace};

use crate::directory::{MediaRoutes, SessionId, TrackId};
use crate::negotiation::{SessionMedia, Transceiver};
use crate::sdp::{extension_uri, MediaKind};
use crate::session::{ConnectionState, Session};
use crate::worker::{DriverStats, MAX_DATAGRAM_LEN};
use keyframe::KeyframeRequests;
use rewrite::{ExtensionMap, PayloadTypeMap, SequenceRewriter};

/// At most one keyframe request per published track in this interval, by default.
pub const DEFAULT_KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);
/// SSRCs a publisher's table learns from packets (beyond those its SDP announced).
const MAX_LEARNED_SSRCS: usize = 64;
/// A track's forwarded source that sent nothing for this long gives way to another.
const SOURCE_TIMEOUT: Duration = Duration::from_secs(2);
/// The packet sender SSRC of the SFU's feedback to publishers (RFC 4585 §6.1). An ICE-lite
/// SFU sends no media of its own on a publisher's session, so any fixed value serves.
const FEEDBACK_SSRC: u32 = 1;
/// The forwarding buffer: the largest datagram a worker accepts, plus the largest SRTP tag.
const BUFFER_LEN: usize = MAX_DATAGRAM_LEN + 32;

/// The sessions a worker owns, as the router reaches them.
pub trait Sessions {
    /// The session with this id, if this worker owns it.
    fn session_mut(&mut self, id: SessionId) -> Option<&mut Session>;
}

impl Sessions for HashMap<SessionId, Session> {
    fn session_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        self.get_mut(&id)
    }
}

/// Where the router's output goes: datagrams to the network, messages to other workers.
pub trait MediaSink {
    /// Sends a protected datagram from our address `local` to `remote`.
    fn send(&mut self, local: SocketAddr, remote: SocketAddr, datagram: &[u8]);
    /// Queues a message for another worker without waiting; `false` when its queue is full
    /// or gone (the message is dropped).
    fn forward(&mut self, worker: usize, message: Forward) -> bool;
}

/// A message for the router of another worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forward {
    /// A decrypted RTP packet of `track`, for that worker's subscribers.
    Media {
        /// The track.
        track: TrackId,
        /// The packet as the publisher sent it, decrypted.
        packet: Vec<u8>,
    },
    /// Subscribers there want a keyframe of `track`, whose publisher the receiver owns.
    KeyframeRequest {
        /// The track.
        track: TrackId,
    },
}

/// Where an SSRC of a publisher goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Media(TrackId),
    /// Retransmissions (RFC 4588): not forwarded yet.
    Rtx,
}

/// What one publisher session sends, by SSRC.
#[derive(Debug)]
struct Publisher {
    /// The id of the `sdes:mid` header extension (the same for the whole BUNDLE group).
    mid_extension: Option<u8>,
    /// Receiving mids that carry a published track.
    mids: Vec<(String, TrackId)>,
    /// Payload types negotiated by exactly one of those mids.
    payload_types: Vec<(u8, TrackId)>,
    /// RTX payload types of those mids, as a bit set.
    rtx_payload_types: u128,
    ssrcs: HashMap<u32, Source>,
    learned: usize,
}

impl Publisher {
    fn build(media: &SessionMedia, old: Option<Publisher>) -> Option<Publisher> {
        let published: Vec<&Transceiver> = media
            .transceivers
            .iter()
            .filter(|t| t.direction.receives() && t.published.is_some())
            .collect();
        let mut publisher = Publisher {
            mid_extension: None,
            mids: Vec::new(),
            payload_types: Vec::new(),
            rtx_payload_types: 0,
            ssrcs: HashMap::new(),
            learned: 0,
        };
        let mut ambiguous: Vec<u8> = Vec::new();
        for t in &published {
            let Some(track) = t.published.as_ref().map(|p| p.id) else { continue };
            publisher.mids.push((t.mid.clone(), track));
            if publisher.mid_extension.is_none() {
                publisher.mid_extension =
                    t.extension_id(extension_uri::SDES_MID).and_then(|id| u8::try_from(id).ok());
            }
            for codec in &t.codecs {
                let pt = codec.payload_type;
                if codec.is_rtx() {
                    if pt < 128 {
                        publisher.rtx_payload_types |= 1u128 << pt;
                    }
                } else if ambiguous.contains(&pt) {
                } else if publisher
                    .payload_types
                    .iter()
                    .any(|(p, other)| *p == pt && *other != track)
                {
                    publisher.payload_types.retain(|(p, _)| *p != pt);
                    ambiguous.push(pt);
                } else {
                    publisher.payload_types.push((pt, track));
                }
            }
            for source in &t.receive_ssrcs {
                publisher.ssrcs.insert(source.ssrc, Source::Media(track));
                if let Some(rtx) = source.rtx {
                    publisher.ssrcs.insert(rtx, Source::Rtx);
                }
            }
        }
        if publisher.mids.is_empty() {
            return None;
        }
        // What was learned from packets stays, for tracks still published.
        if let Some(old) = old {
            for (ssrc, source) in old.ssrcs {
                let still = match source {
                    Source::Media(track) => publisher.mids.iter().any(|(_, t)| *t == track),
                    Source::Rtx => true,
                };
                if still && publisher.learned < MAX_LEARNED_SSRCS {
                    if let std::collections::hash_map::Entry::Vacant(v) =
                        publisher.ssrcs.entry(ssrc)
                    {
                        v.insert(source);
                        publisher.learned += 1;
                    }
                }
            }
        }
        Some(publisher)
    }

    /// The source of a packet: its SSRC if known, else learned from its payload type (RTX),
    /// its mid header extension, or a payload type only one published mid uses.
    fn classify<T: AsRef<[u8]>>(&mut self, packet: &RtpPacket<T>) -> Option<Source> {
        let ssrc = packet.ssrc();
        if let Some(source) = self.ssrcs.get(&ssrc) {
            return Some(*source);
        }
        let pt = packet.payload_type();
        let source = if pt < 128 && self.rtx_payload_types & (1u128 << pt) != 0 {
            Some(Source::Rtx)
        } else {
            let mid = self.mid_extension.and_then(|id| packet.extension(id));
            let track = match mid {
                // RFC 8843 §15: the mid says which section the SSRC belongs to.
                Some(mid) => self.mids.iter().find(|(m, _)| m.as_bytes() == mid).map(|(_, t)| *t),
                None => self.payload_types.iter().find(|(p, _)| *p == pt).map(|(_, t)| *t),
            };
            track.map(Source::Media)
        };
        if let Some(source) = source {
            if self.learned < MAX_LEARNED_SSRCS {
                self.ssrcs.insert(ssrc, source);
                self.learned += 1;
                trace!(ssrc, ?source, "SSRC learned");
            }
        }
        source
    }
}

/// One published track as this worker sees it.
#[derive(Debug)]
struct Fanout {
    publisher: SessionId,
    publisher_owner: Option<usize>,
    /// The publisher's session is owned by this worker.
    local_publisher: bool,
    video: bool,
    /// The media SSRC the publisher's SDP announced.
    announced_ssrc: Option<u32>,
    /// The forwarded source and when it last sent.
    source: Option<(u32, Instant)>,
    /// Subscriber streams on this worker: (session, index in its streams).
    subscribers: Vec<(SessionId, usize)>,
    /// Other workers with subscribers (only when the publisher is local).
    remote_workers: Vec<usize>,
    keyframes: KeyframeRequests,
    /// Media of the publisher arrived here since the last [`Router::drain_media_seen`].
    media_seen: bool,
}

impl Fanout {
    /// Whether a packet of `ssrc` is forwarded: it is the current source, or the current one
    /// went silent.
    fn accept_source(&mut self, ssrc: u32, now: Instant) -> bool {
        match self.source {
            Some((current, last))
                if current != ssrc && now.saturating_duration_since(last) < SOURCE_TIMEOUT =>
            {
                false
            }
            _ => {
                self.source = Some((ssrc, now));
                true
            }
        }
    }
}

/// One subscriber's copy of a track.
#[derive(Debug)]
struct OutStream {
    mid: String,
    track: TrackId,
    ssrc: u32,
    payload_types: PayloadTypeMap,
    extensions: ExtensionMap,
    clock_rate: u32,
    sequence: SequenceRewriter,
    /// A keyframe was requested for it when it started.
    started: bool,
}

impl OutStream {
    fn new(
        t: &Transceiver,
        ssrc: u32,
        track: TrackId,
        source: &Transceiver,
        previous: Option<OutStream>,
    ) -> OutStream {
        // The same stream carrying another track (`tracks/update`) keeps its sequence
        // numbers and timestamps running (the rewriter re-bases on the new source's first
        // packet) and starts again: a keyframe is requested from the new publisher.
        let (sequence, started) = match previous {
            Some(p) if p.track == track => (p.sequence, p.started),
            Some(mut p) => {
                p.sequence.restart_source();
                (p.sequence, false)
            }
            None => {
                let mut rng = rand::thread_rng();
                (SequenceRewriter::new((rng.gen(), rng.gen())), false)
            }
        };
        OutStream {
            mid: t.mid.clone(),
            track,
            ssrc,
            payload_types: PayloadTypeMap::new(&source.codecs, &t.codecs),
            extensions: ExtensionMap::new(&source.extensions, &t.extensions),
            clock_rate: t.codecs.iter().find(|c| !c.is_rtx()).map_or(90_000, |c| c.clock_rate),
            sequence,
            started,
        }
    }
}

/// The router of one worker. See the module documentation.
#[derive(Debug)]
pub struct Router {
    worker: usize,
    keyframe_interval: Duration,
    generation: Option<u64>,
    publishers: HashMap<SessionId, Publisher>,
    tracks: HashMap<TrackId, Fanout>,
    subscribers: HashMap<SessionId, Vec<OutStream>>,
    /// The forwarding buffer, reused for every copy.
    buf: Vec<u8>,
    /// Sessions with queued output (PLIs) for the worker to drain.
    touched: Vec<SessionId>,
    /// Tracks to request keyframes for (reused).
    scratch: Vec<TrackId>,
    next_keyframe_due: Option<Instant>,
    stats: Arc<DriverStats>,
}

impl Router {
    /// The router of worker `worker`, counting into `stats`.
    pub fn new(worker: usize, keyframe_interval: Duration, stats: Arc<DriverStats>) -> Router {
        Router {
            worker,
            keyframe_interval,
            generation: None,
            publishers: HashMap::new(),
            tracks: HashMap::new(),
            subscribers: HashMap::new(),
            buf: Vec::with_capacity(BUFFER_LEN),
            touched: Vec::new(),
            scratch: Vec::new(),
            next_keyframe_due: None,
            stats,
        }
    }

    /// The directory generation of the current routes (`None` before the first refresh).
    pub fn generation(&self) -> Option<u64> {
        self.generation
    }

    /// Replaces the routes with `routes`, keeping the state of streams that remain.
    pub fn refresh(&mut self, routes: MediaRoutes) {
        self.generation = Some(routes.generation);
        let mut old_publishers = std::mem::take(&mut self.publishers);
        let mut old_tracks = std::mem::take(&mut self.tracks);
        let mut old_subscribers = std::mem::take(&mut self.subscribers);
        let by_id: HashMap<TrackId, &crate::directory::TrackRoute> =
            routes.tracks.iter().map(|r| (r.id, r)).collect();
        for (session, media) in &routes.sessions {
            if let Some(p) = Publisher::build(media, old_publishers.remove(session)) {
                self.publishers.insert(*session, p);
            }
            let mut old = old_subscribers.remove(session).unwrap_or_default();
            let mut streams = Vec::new();
            for t in media.transceivers.iter().filter(|t| t.direction.sends()) {
                let (Some(send), Some(pulled)) = (&t.send, &t.pulled) else { continue };
                let Some(route) = by_id.get(&pulled.id) else { continue };
                let Some(source) = route.publisher_media.transceiver(&route.mid) else { continue };
                let previous = old
                    .iter()
                    .position(|o| o.mid == t.mid && o.ssrc == send.ssrc)
                    .map(|i| old.swap_remove(i));
                streams.push(OutStream::new(t, send.ssrc, pulled.id, source, previous));
            }
            if !streams.is_empty() {
                self.subscribers.insert(*session, streams);
            }
        }
        for route in &routes.tracks {
            let local_publisher = route.publisher_owner == Some(self.worker);
            let subscribers = route
                .subscribers
                .iter()
                .filter(|s| s.owner == Some(self.worker))
                .filter_map(|s| {
                    let streams = self.subscribers.get(&s.session)?;
                    let index =
                        streams.iter().position(|o| o.mid == s.mid && o.track == route.id)?;
                    Some((s.session, index))
                })
                .collect();
            let mut remote_workers = Vec::new();
            if local_publisher {
                for owner in route.subscribers.iter().filter_map(|s| s.owner) {
                    if owner != self.worker && !remote_workers.contains(&owner) {
                        remote_workers.push(owner);
                    }
                }
            }
            let source = route.publisher_media.transceiver(&route.mid);
            let old = old_tracks.remove(&route.id);
            self.tracks.insert(
                route.id,
                Fanout {
                    publisher: route.publisher,
                    publisher_owner: route.publisher_owner,
                    local_publisher,
                    video: source.is_some_and(|t| t.kind == MediaKind::Video),
                    announced_ssrc: source.and_then(|t| t.receive_ssrcs.first()).map(|s| s.ssrc),
                    source: old.as_ref().and_then(|o| o.source),
                    subscribers,
                    remote_workers,
                    media_seen: old.as_ref().is_some_and(|o| o.media_seen),
                    keyframes: old.map(|o| o.keyframes).unwrap_or_default(),
                },
            );
        }
        self.update_next_keyframe_due();
        DriverStats::bump(&self.stats.routes_refreshed);
        debug!(
            worker = self.worker,
            publishers = self.publishers.len(),
            tracks = self.tracks.len(),
            subscribers = self.subscribers.len(),
            "media routes refreshed"
        );
    }

    /// A decrypted RTP packet of `publisher`, owned by this worker.
    pub fn on_rtp(
        &mut self,
        now: Instant,
        publisher: SessionId,
        packet: &[u8],
        sessions: &mut impl Sessions,
        sink: &mut impl MediaSink,
    ) {
        let Ok(view) = RtpPacket::new_checked(packet) else { return };
        let source = self.publishers.get_mut(&publisher).and_then(|p| p.classify(&view));
        let track = match source {
            Some(Source::Media(track)) => track,
            Some(Source::Rtx) => {
                DriverStats::bump(&self.stats.rtp_dropped_rtx);
                return;
            }
            None => {
                DriverStats::bump(&self.stats.rtp_unrouted);
                return;
            }
        };
        let ssrc = view.ssrc();
        let Some(fanout) = self.tracks.get_mut(&track) else {
            DriverStats::bump(&self.stats.rtp_unrouted);
            return;
        };
        if !fanout.accept_source(ssrc, now) {
            DriverStats::bump(&self.stats.rtp_dropped_other_source);
            return;
        }
        fanout.media_seen = true;
        for &worker in &fanout.remote_workers {
            let message = Forward::Media { track, packet: packet.to_vec() };
            if sink.forward(worker, message) {
                DriverStats::bump(&self.stats.media_forwarded_out);
            } else {
                DriverStats::bump(&self.stats.media_dropped_queue_full);
            }
        }
        if fanout.local_publisher && fanout.keyframes.ready_on_media(now, self.keyframe_interval) {
            self.send_keyframe_request(now, track, sessions);
        }
        self.fan_out(now, track, packet, sessions, sink);
    }

    /// Appends the tracks whose publisher (owned here) sent media since the last call, for
    /// the directory's idle-track collection.
    pub fn drain_media_seen(&mut self, out: &mut Vec<TrackId>) {
        for (id, fanout) in &mut self.tracks {
            if std::mem::take(&mut fanout.media_seen) {
                out.push(*id);
            }
        }
    }

    /// A decrypted RTP packet of `track` that the publisher's worker passed here.
    pub fn on_forwarded_media(
        &mut self,
        now: Instant,
        track: TrackId,
        packet: &[u8],
        sessions: &mut impl Sessions,
        sink: &mut impl MediaSink,
    ) {
        DriverStats::bump(&self.stats.media_forwarded_in);
        self.fan_out(now, track, packet, sessions, sink);
    }

    /// A decrypted RTCP compound packet of a session owned here: PLI and FIR for a stream the
    /// SFU sends it become a keyframe request to that stream's publisher.
    pub fn on_rtcp(
        &mut self,
        now: Instant,
        session: SessionId,
        packet: &[u8],
        sessions: &mut impl Sessions,
        sink: &mut impl MediaSink,
    ) {
        let Some(streams) = self.subscribers.get(&session) else { return };
        let track_of = |ssrc: u32| streams.iter().find(|o| o.ssrc == ssrc).map(|o| o.track);
        self.scratch.clear();
        for item in CompoundIter::new(packet) {
            let Ok(item) = item else { break };
            let track = match item {
                Packet::Pli(pli) => track_of(pli.media_ssrc()),
                // RFC 5104 §4.3.1: the FCI entries name the media senders.
                Packet::Fir(fir) => fir.entries().find_map(|e| track_of(e.ssrc)),
                _ => None,
            };
            if let Some(track) = track {
                DriverStats::bump(&self.stats.keyframe_requests_received);
                if !self.scratch.contains(&track) {
                    self.scratch.push(track);
                }
            }
        }
        self.request_scratch(now, sessions, sink);
    }

    /// A keyframe request that another worker passed here (the publisher is owned here).
    pub fn on_keyframe_request(
        &mut self,
        now: Instant,
        track: TrackId,
        sessions: &mut impl Sessions,
        sink: &mut impl MediaSink,
    ) {
        self.request_keyframe(now, track, sessions, sink);
    }

    /// Requests a keyframe for every subscriber stream that has not had one, whose session is
    /// connected and whose publisher is owned by a worker: call after a refresh and when a
    /// session connects.
    pub fn start_streams(
        &mut self,
        now: Instant,
        sessions: &mut impl Sessions,
        sink: &mut impl MediaSink,
    ) {
        self.scratch.clear();
        for (session, streams) in &mut self.subscribers {
            let connected = sessions
                .session_mut(*session)
                .is_some_and(|s| s.state() == ConnectionState::Connected);
            if !connected {
                continue;
            }
            for stream in streams.iter_mut().filter(|s| !s.started) {
                // A publisher no worker claimed yet cannot be asked: the stream starts when a
                // refresh shows its owner.
                let reachable =
                    self.tracks.get(&stream.track).is_some_and(|f| f.publisher_owner.is_some());
                if !reachable {
                    continue;
                }
                stream.started = true;
                if !self.scratch.contains(&stream.track) {
                    self.scratch.push(stream.track);
                }
            }
        }
        self.request_scratch(now, sessions, sink);
    }

    /// When [`Router::handle_timeout`] must run next: a deferred keyframe request.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_keyframe_due
    }

    /// Sends the deferred keyframe requests that are due.
    pub fn handle_timeout(&mut self, now: Instant, sessions: &mut impl Sessions) {
        if self.next_keyframe_due.is_none_or(|due| due > now) {
            return;
        }
        self.scratch.clear();
        let interval = self.keyframe_interval;
        for (track, fanout) in &self.tracks {
            if fanout.local_publisher && fanout.keyframes.due(interval).is_some_and(|d| d <= now) {
                self.scratch.push(*track);
            }
        }
        for i in 0..self.scratch.len() {
            if let Some(track) = self.scratch.get(i).copied() {
                self.send_keyframe_request(now, track, sessions);
            }
        }
        self.update_next_keyframe_due();
    }

    /// The next session with queued output (PLIs) to drain.
    pub fn pop_touched(&mut self) -> Option<SessionId> {
        self.touched.pop()
    }

    fn request_scratch(
        &mut self,
        now: Instant,
        sessions: &mut impl Sessions,
        sink: &mut impl MediaSink,
    ) {
        for i in 0..self.scratch.len() {
            if let Some(track) = self.scratch.get(i).copied() {
                self.request_keyframe(now, track, sessions, sink);
            }
        }
    }

    fn request_keyframe(
        &mut self,
        now: Instant,
        track: TrackId,
        sessions: &mut impl Sessions,
        sink: &mut impl MediaSink,
    ) {
        let Some(fanout) = self.tracks.get_mut(&track) else { return };
        if !fanout.video {
            return;
        }
        if fanout.local_publisher {
            if fanout.keyframes.request(now, self.keyframe_interval) {
                self.send_keyframe_request(now, track, sessions);
            }
            self.update_next_keyframe_due();
        } else if let Some(owner) = fanout.publisher_owner {
            if !sink.forward(owner, Forward::KeyframeRequest { track }) {
                DriverStats::bump(&self.stats.media_dropped_queue_full);
            }
        }
    }

    /// Sends a PLI to the publisher of a local track now, or parks the request until its
    /// next packet when that cannot be done.
    fn send_keyframe_request(
        &mut self,
        now: Instant,
        track: TrackId,
        sessions: &mut impl Sessions,
    ) {
        let Some(fanout) = self.tracks.get_mut(&track) else { return };
        let media_ssrc = fanout.source.map(|(ssrc, _)| ssrc).or(fanout.announced_ssrc);
        let session = sessions.session_mut(fanout.publisher);
        let sent = match (media_ssrc, session) {
            (Some(media_ssrc), Some(session)) => {
                let mut pli = [0u8; 12];
                let builder = PliBuilder { sender_ssrc: FEEDBACK_SSRC, media_ssrc };
                match builder.write_to(&mut pli) {
                    // RFC 4585 §6.3.1: PLI, with the media source's SSRC.
                    Ok(len) => session.send_rtcp(now, pli.get(..len).unwrap_or_default()).is_ok(),
                    Err(_) => false,
                }
            }
            _ => false,
        };
        if sent {
            fanout.keyframes.sent(now);
            DriverStats::bump(&self.stats.keyframe_requests_sent);
            if !self.touched.contains(&fanout.publisher) {
                self.touched.push(fanout.publisher);
            }
            trace!(%track, "keyframe requested");
        } else {
            fanout.keyframes.park();
        }
        self.update_next_keyframe_due();
    }

    fn update_next_keyframe_due(&mut self) {
        let interval = self.keyframe_interval;
        self.next_keyframe_due = self
            .tracks
            .values()
            .filter(|f| f.local_publisher)
            .filter_map(|f| f.keyframes.due(interval))
            .min();
    }

    /// Sends `packet` of `track` to every subscriber stream on this worker.
    fn fan_out(
        &mut self,
        now: Instant,
        track: TrackId,
        packet: &[u8],
        sessions: &mut impl Sessions,
        sink: &mut impl MediaSink,
    ) {
        let Router { tracks, subscribers, buf, stats, .. } = self;
        let Some(fanout) = tracks.get(&track) else {
            DriverStats::bump(&stats.rtp_unrouted);
            return;
        };
        let Ok(view) = RtpPacket::new_checked(packet) else { return };
        let input = Input {
            ssrc: view.ssrc(),
            sequence_number: view.sequence_number(),
            timestamp: view.timestamp(),
            payload_type: view.payload_type(),
        };
        for &(session, index) in &fanout.subscribers {
            let Some(out) = subscribers.get_mut(&session).and_then(|s| s.get_mut(index)) else {
                continue;
            };
            let Some(session) = sessions.session_mut(session) else { continue };
            forward_one(now, out, session, packet, input, buf, sink, stats);
        }
    }
}

/// The fields of the incoming packet the rewrite starts from.
#[derive(Debug, Clone, Copy)]
struct Input {
    ssrc: u32,
    sequence_number: u16,
    timestamp: u32,
    payload_type: u8,
}

/// One subscriber's copy: rewrite in `buf`, protect, send.
#[allow(clippy::too_many_arguments)]
fn forward_one(
    now: Instant,
    out: &mut OutStream,
    session: &mut Session,
    packet: &[u8],
    input: Input,
    buf: &mut Vec<u8>,
    sink: &mut impl MediaSink,
    stats: &DriverStats,
) {
    let Some(payload_type) = out.payload_types.get(input.payload_type) else {
        DriverStats::bump(&stats.rtp_dropped_no_codec);
        return;
    };
    let Some(profile) = session.srtp_profile() else {
        DriverStats::bump(&stats.rtp_dropped_not_sendable);
        return;
    };
    let len = packet.len();
    buf.clear();
    buf.extend_from_slice(packet);
    buf.resize(len.saturating_add(profile.rtp_overhead()), 0);
    {
        let Some(head) = buf.get_mut(..len) else { return };
        let Ok(mut view) = RtpPacket::new_checked(head) else { return };
        let (sequence_number, timestamp) = out.sequence.rewrite(
            now,
            input.ssrc,
            input.sequence_number,
            input.timestamp,
            out.clock_rate,
        );
        view.set_ssrc(out.ssrc);
        view.set_payload_type(payload_type);
        view.set_sequence_number(sequence_number);
        view.set_timestamp(timestamp);
        let one_byte = view.extension_form() == Some(ExtensionForm::OneByte);
        let extensions = &out.extensions;
        // A block of another profile than RFC 8285's is left as it is (RFC 3550 §5.3.1
        // receivers ignore profiles they do not know).
        let _ = view.remap_extension_ids(|id| extensions.get(id, one_byte));
    }
    match session.protect_rtp_to_send(now, buf, len) {
        Ok(outgoing) => {
            if let Some(datagram) = buf.get(..outgoing.len) {
                sink.send(outgoing.local, outgoing.remote, datagram);
                DriverStats::bump(&stats.rtp_forwarded);
            }
        }
        Err(_) => DriverStats::bump(&stats.rtp_dropped_not_sendable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::negotiation::{PublishedTrack, ReceiveSsrc};
    use crate::sdp::{Codec, Direction};

    fn codec(pt: u8, name: &str, fmtp: &str) -> Codec {
        Codec {
            payload_type: pt,
            name: name.to_owned(),
            clock_rate: if name == "opus" { 48_000 } else { 90_000 },
            channels: (name == "opus").then_some(2),
            fmtp: fmtp.to_owned(),
            feedback: Vec::new(),
            rtx_payload_type: None,
        }
    }

    /// A publisher with audio on mid "0" (track 1) and video on mid "1" (track 2, with RTX);
    /// the SDP announced the audio source only.
    fn media() -> SessionMedia {
        let mid_ext = (3, extension_uri::SDES_MID.to_owned());
        let mut audio = Transceiver::new("0", MediaKind::Audio);
        audio.direction = Direction::RecvOnly;
        audio.codecs = vec![codec(111, "opus", "")];
        audio.extensions = vec![mid_ext.clone()];
        audio.receive_ssrcs = vec![ReceiveSsrc { ssrc: 10, rtx: None }];
        audio.published = Some(PublishedTrack { name: "mic".into(), id: TrackId(1) });
        let mut video = Transceiver::new("1", MediaKind::Video);
        video.direction = Direction::RecvOnly;
        video.codecs =
            vec![codec(96, "VP8", ""), codec(97, "rtx", "apt=96"), codec(111, "opus", "")];
        video.extensions = vec![mid_ext];
        video.published = Some(PublishedTrack { name: "cam".into(), id: TrackId(2) });
        // Received but not published: its packets go nowhere.
        let mut unnamed = Transceiver::new("2", MediaKind::Video);
        unnamed.direction = Direction::RecvOnly;
        unnamed.codecs = vec![codec(98, "VP9", "profile-id=0")];
        SessionMedia { transceivers: vec![audio, video, unnamed] }
    }

    fn packet(ssrc: u32, pt: u8, mid: Option<&[u8]>) -> Vec<u8> {
        let extensions: Vec<(u8, &[u8])> = mid.map(|m| (3u8, m)).into_iter().collect();
        let mut out = Vec::new();
        rtp::RtpHeaderWriter {
            payload_type: pt,
            sequence_number: 1,
            timestamp: 1,
            ssrc,
            extensions: &extensions,
            ..rtp::RtpHeaderWriter::default()
        }
        .append_packet(b"x", &mut out)
        .unwrap();
        out
    }

    fn classify(p: &mut Publisher, datagram: &[u8]) -> Option<Source> {
        p.classify(&RtpPacket::new_checked(datagram).unwrap())
    }

    #[test]
    fn sources_come_from_the_sdp_the_mid_extension_rtx_or_a_unique_payload_type() {
        let mut p = Publisher::build(&media(), None).expect("publishes");
        assert_eq!(p.mid_extension, Some(3));
        // Announced by a=ssrc.
        assert_eq!(classify(&mut p, &packet(10, 111, None)), Some(Source::Media(TrackId(1))));
        // Learned from the mid, whatever the payload type says.
        assert_eq!(classify(&mut p, &packet(20, 111, Some(b"1"))), Some(Source::Media(TrackId(2))));
        assert_eq!(classify(&mut p, &packet(20, 111, None)), Some(Source::Media(TrackId(2))));
        // RTX by payload type, before the mid.
        assert_eq!(classify(&mut p, &packet(21, 97, Some(b"1"))), Some(Source::Rtx));
        // No mid: a payload type only one published mid has (96), not one both have (111).
        assert_eq!(classify(&mut p, &packet(30, 96, None)), Some(Source::Media(TrackId(2))));
        assert_eq!(classify(&mut p, &packet(31, 111, None)), None);
        // A mid that carries no published track, or none at all.
        assert_eq!(classify(&mut p, &packet(40, 98, Some(b"2"))), None);
        assert_eq!(classify(&mut p, &packet(41, 96, Some(b"9"))), None);
        assert_eq!(p.learned, 3);

        // A rebuild keeps what was learned for tracks still published.
        let rebuilt = Publisher::build(&media(), Some(p)).unwrap();
        assert_eq!(rebuilt.ssrcs.get(&20), Some(&Source::Media(TrackId(2))));
        assert_eq!(rebuilt.ssrcs.get(&21), Some(&Source::Rtx));
        let mut unpublished = media();
        unpublished.transceivers.truncate(1);
        let rebuilt = Publisher::build(&unpublished, Some(rebuilt)).unwrap();
        assert_eq!(rebuilt.ssrcs.get(&20), None);
        assert_eq!(Publisher::build(&SessionMedia::default(), None).map(|_| ()), None);
    }

    #[test]
    fn learning_is_bounded() {
        let mut p = Publisher::build(&media(), None).unwrap();
        for ssrc in 1000..1000 + 2 * MAX_LEARNED_SSRCS as u32 {
            assert!(classify(&mut p, &packet(ssrc, 96, None)).is_some());
        }
        assert_eq!(p.learned, MAX_LEARNED_SSRCS);
        assert_eq!(p.ssrcs.len(), MAX_LEARNED_SSRCS + 1);
    }

    #[test]
    fn one_source_per_track_until_it_goes_silent() {
        let t0 = Instant::now();
        let mut f = Fanout {
            publisher: SessionId([1; 16]),
            publisher_owner: Some(0),
            local_publisher: true,
            video: true,
            announced_ssrc: None,
            source: None,
            subscribers: Vec::new(),
            remote_workers: Vec::new(),
            keyframes: KeyframeRequests::default(),
            media_seen: false,
        };
        assert!(f.accept_source(5, t0));
        assert!(!f.accept_source(6, t0 + Duration::from_millis(100)), "a second layer");
        assert!(f.accept_source(5, t0 + Duration::from_secs(1)));
        assert!(!f.accept_source(6, t0 + Duration::from_secs(2)));
        assert!(f.accept_source(6, t0 + Duration::from_secs(1) + SOURCE_TIMEOUT));
        assert_eq!(f.source.map(|(s, _)| s), Some(6));
    }
}
