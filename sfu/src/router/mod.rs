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
//! the worker's receive buffer. The publisher's table names the track and, for simulcast,
//! the layer (from the rid header extension; see [`layers`]): each layer is a stream of its
//! own ([`StreamKey`]), and one source (SSRC) per stream is forwarded (the first, until it
//! is silent for 2 s). A subscriber stream carries one layer of its track. Each other worker with
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
//! # NACK shield
//!
//! Every track keeps its recent packets in a [`PacketCache`] on each worker with subscribers
//! of it (1024 packets for video, 256 for audio, 3 s at most; slot buffers are reused). A
//! subscriber's generic NACK is answered from there, close to the subscriber: wrapped in
//! RTX (RFC 4588) with the subscriber's RTX SSRC, payload type and sequence numbers when it
//! negotiated RTX for the codec, else as the original packet rewritten again. A packet the
//! cache lacks is counted as a miss and not asked for upstream: subscriber NACKs never
//! reach a publisher.
//!
//! Upstream, the publisher's worker watches the forwarded source of each track whose
//! publisher negotiated generic NACK (video and audio) with a [`NackGenerator`]: gaps
//! become NACKs to the publisher (after a 5 ms reordering delay,
//! repeated once per measured round trip, at most 10 times, given up after 1.5 s), and loss
//! too heavy to repair asks for a keyframe instead. The publisher's RTX packets are
//! unwrapped (original sequence number from the payload, original SSRC and payload type
//! from the SDP) and flow on like the original: into the cache, to other workers and to
//! every subscriber. A retransmission of a packet already here is dropped.
//!
//! # Reports and congestion control feedback
//!
//! Every [`REPORT_INTERVAL`] the router sends each publisher a receiver report per
//! forwarded source (loss, extended highest sequence number, jitter, LSR/DLSR; see
//! [`ReceptionStats`]) and each subscriber stream a sender report whose NTP/RTP mapping is
//! the publisher's last one carried through the stream's timestamp offset (see
//! [`reports`]), with SDES CNAME. Publishers that negotiated the transport-wide sequence
//! number extension get transport-wide congestion control feedback every
//! [`TWCC_INTERVAL`] ([`TwccRecorder`]), so their send-side bandwidth estimation can grow.
//!
//! RTCP the router writes is queued on the sessions; the worker drains the sessions listed
//! by [`Router::pop_touched`] after each call.

pub mod keyframe;
pub mod layers;
pub mod reports;
pub mod rewrite;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use rtcp::{
    Arrival, CompoundIter, Encode, NackConfig, NackGenerator, Packet, PacketCache, PliBuilder,
    ReceptionStats, TwccRecorder,
};
use rtp::{ExtensionForm, RtpPacket};
use tracing::{debug, trace};

use crate::directory::{MediaRoutes, SessionId, TrackId};
use crate::negotiation::{SessionMedia, Transceiver};
use crate::sdp::{extension_uri, MediaKind};
use crate::session::{ConnectionState, Session};
use crate::worker::{DriverStats, MAX_DATAGRAM_LEN};
use keyframe::KeyframeRequests;
use layers::{LossSteering, SimulcastPreference};
use reports::SenderInfo;
use rewrite::{ExtensionMap, PayloadTypeMap, SequenceRewriter};

/// One RTP stream of a published track: the track and its simulcast layer (the index of
/// the rid in the publisher's list; 0 without simulcast).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamKey {
    /// The track.
    pub track: TrackId,
    /// The layer.
    pub layer: u8,
}

impl StreamKey {
    /// Layer `layer` of `track`.
    pub fn new(track: TrackId, layer: u8) -> StreamKey {
        StreamKey { track, layer }
    }
}

impl std::fmt::Display for StreamKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.track, self.layer)
    }
}

/// At most one keyframe request per published track in this interval, by default.
pub const DEFAULT_KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);
/// SSRCs a publisher's table learns from packets (beyond those its SDP announced).
const MAX_LEARNED_SSRCS: usize = 64;
/// A track's forwarded source that sent nothing for this long gives way to another.
const SOURCE_TIMEOUT: Duration = Duration::from_secs(2);
/// The packet sender SSRC of the SFU's feedback to publishers (RFC 4585 §6.1). An ICE-lite
/// SFU sends no media of its own on a publisher's session, so any fixed value serves.
const FEEDBACK_SSRC: u32 = 1;
/// The forwarding buffer: the largest datagram a worker accepts, plus the largest SRTP tag
/// and the two octets RTX adds (RFC 4588 §4).
const BUFFER_LEN: usize = MAX_DATAGRAM_LEN + 32 + rtp::rtx::OSN_LEN;
/// Packets a video track's cache holds: at 2.5 Mbit/s of 1200-byte packets, about 4 s.
const VIDEO_CACHE_PACKETS: usize = 1024;
/// Packets an audio track's cache holds: 50 packets a second, about 5 s.
const AUDIO_CACHE_PACKETS: usize = 256;
/// A cached packet answers NACKs this long (beyond it, the subscriber's jitter buffer has
/// given up on it anyway).
const CACHE_MAX_AGE: Duration = Duration::from_secs(3);
/// Receiver reports to publishers and sender reports to subscribers, this often.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// Transport-wide congestion control feedback to publishers, this often.
pub const TWCC_INTERVAL: Duration = Duration::from_millis(50);

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
        /// The track's stream (simulcast layer).
        stream: StreamKey,
        /// The packet as the publisher sent it, decrypted.
        packet: Vec<u8>,
    },
    /// Subscribers there want a keyframe of `stream`, whose publisher the receiver owns.
    KeyframeRequest {
        /// The track's stream (simulcast layer).
        stream: StreamKey,
    },
    /// The publisher of `stream` sent a sender report: the receiver's subscribers' sender
    /// reports follow its clock mapping.
    SenderReport {
        /// The track's stream (simulcast layer).
        stream: StreamKey,
        /// The report's source, its NTP and RTP timestamps, and when it arrived.
        info: SenderInfo,
    },
}

/// Where an SSRC of a publisher goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Media(StreamKey),
    /// Retransmissions (RFC 4588) of a stream: of `media_ssrc` when the SDP paired them
    /// (`a=ssrc-group:FID`), else of the stream's forwarded source.
    Rtx {
        stream: StreamKey,
        media_ssrc: Option<u32>,
    },
}

impl Source {
    fn stream(self) -> StreamKey {
        match self {
            Source::Media(stream) | Source::Rtx { stream, .. } => stream,
        }
    }
}

/// A receiving mid that carries a published track.
#[derive(Debug)]
struct PublishedMid {
    mid: String,
    track: TrackId,
    /// The rids of its simulcast layers, in the publisher's order (empty without simulcast).
    rids: Vec<String>,
}

/// What one publisher session sends, by SSRC.
#[derive(Debug)]
struct Publisher {
    /// The id of the `sdes:mid` header extension (the same for the whole BUNDLE group).
    mid_extension: Option<u8>,
    /// The ids of the `sdes:rtp-stream-id` and `sdes:repaired-rtp-stream-id` extensions.
    rid_extension: Option<u8>,
    repaired_rid_extension: Option<u8>,
    /// Receiving mids that carry a published track.
    mids: Vec<PublishedMid>,
    /// Payload types negotiated by exactly one of those mids.
    payload_types: Vec<(u8, TrackId)>,
    /// RTX payload types of those mids, as a bit set.
    rtx_payload_types: u128,
    /// The payload type each RTX payload type repairs (`apt`), `UNMAPPED` when none.
    apt: [u8; 128],
    ssrcs: HashMap<u32, Source>,
    learned: usize,
    /// The id of the transport-wide sequence number header extension, when negotiated.
    twcc_extension: Option<u8>,
    /// Arrivals for transport-wide congestion control feedback.
    twcc: Option<TwccRecorder>,
}

/// No payload type in [`Publisher::apt`].
const UNMAPPED: u8 = 0xff;

impl Publisher {
    fn build(media: &SessionMedia, old: Option<Publisher>) -> Option<Publisher> {
        let published: Vec<&Transceiver> = media
            .transceivers
            .iter()
            .filter(|t| t.direction.receives() && t.published.is_some())
            .collect();
        let mut publisher = Publisher {
            mid_extension: None,
            rid_extension: None,
            repaired_rid_extension: None,
            mids: Vec::new(),
            payload_types: Vec::new(),
            rtx_payload_types: 0,
            apt: [UNMAPPED; 128],
            ssrcs: HashMap::new(),
            learned: 0,
            twcc_extension: None,
            twcc: None,
        };
        let mut ambiguous: Vec<u8> = Vec::new();
        for t in &published {
            let Some(track) = t.published.as_ref().map(|p| p.id) else { continue };
            let rids = if t.receive_rids.len() > 1 { t.receive_rids.clone() } else { Vec::new() };
            let simulcast = !rids.is_empty();
            publisher.mids.push(PublishedMid { mid: t.mid.clone(), track, rids });
            let id_of = |uri| t.extension_id(uri).and_then(|id| u8::try_from(id).ok());
            publisher.mid_extension = publisher.mid_extension.or(id_of(extension_uri::SDES_MID));
            publisher.rid_extension =
                publisher.rid_extension.or(id_of(extension_uri::SDES_RTP_STREAM_ID));
            publisher.repaired_rid_extension = publisher
                .repaired_rid_extension
                .or(id_of(extension_uri::SDES_REPAIRED_RTP_STREAM_ID));
            if publisher.twcc_extension.is_none() {
                publisher.twcc_extension = t
                    .extension_id(extension_uri::TRANSPORT_CC)
                    .and_then(|id| u8::try_from(id).ok());
            }
            for codec in &t.codecs {
                let pt = codec.payload_type;
                if codec.is_rtx() && pt < 128 {
                    publisher.rtx_payload_types |= 1u128 << pt;
                    // RFC 4588 §8.6: `apt` names the payload type repaired.
                    let repaired = codec.fmtp_param("apt").and_then(|v| v.trim().parse().ok());
                    if let (Some(slot), Some(apt)) =
                        (publisher.apt.get_mut(usize::from(pt)), repaired)
                    {
                        *slot = apt;
                    }
                }
                if ambiguous.contains(&pt) {
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
            // A simulcast section's SSRCs are learned with their rids from the packets.
            for source in t.receive_ssrcs.iter().filter(|_| !simulcast) {
                let stream = StreamKey::new(track, 0);
                publisher.ssrcs.insert(source.ssrc, Source::Media(stream));
                if let Some(rtx) = source.rtx {
                    publisher
                        .ssrcs
                        .insert(rtx, Source::Rtx { stream, media_ssrc: Some(source.ssrc) });
                }
            }
        }
        if publisher.mids.is_empty() {
            return None;
        }
        if publisher.twcc_extension.is_some() {
            publisher.twcc = Some(TwccRecorder::new(FEEDBACK_SSRC, 0));
        }
        // What was learned from packets stays, for tracks still published.
        if let Some(old) = old {
            if publisher.twcc.is_some() {
                publisher.twcc = old.twcc.or(publisher.twcc);
            }
            for (ssrc, source) in old.ssrcs {
                let stream = source.stream();
                let still = publisher.mids.iter().any(|m| {
                    m.track == stream.track && usize::from(stream.layer) < m.rids.len().max(1)
                });
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
    /// its mid header extension, or a payload type only one published mid uses; for a
    /// simulcast section, its layer from its rid (RFC 8852: `rtp-stream-id`, or
    /// `repaired-rtp-stream-id` on RTX).
    fn classify<T: AsRef<[u8]>>(&mut self, packet: &RtpPacket<T>) -> Option<Source> {
        let ssrc = packet.ssrc();
        if let Some(source) = self.ssrcs.get(&ssrc) {
            return Some(*source);
        }
        let pt = packet.payload_type();
        let rtx = pt < 128 && self.rtx_payload_types & (1u128 << pt) != 0;
        let mid = self.mid_extension.and_then(|id| packet.extension(id));
        let published = match mid {
            // RFC 8843 §15: the mid says which section the SSRC belongs to.
            Some(mid) => self.mids.iter().find(|m| m.mid.as_bytes() == mid),
            None => self
                .payload_types
                .iter()
                .find(|(p, _)| *p == pt)
                .and_then(|(_, t)| self.mids.iter().find(|m| m.track == *t)),
        };
        let stream = published.and_then(|m| {
            if m.rids.is_empty() {
                return Some(StreamKey::new(m.track, 0));
            }
            let id = if rtx { self.repaired_rid_extension } else { self.rid_extension };
            let rid = id.and_then(|id| packet.extension(id))?;
            let layer = m.rids.iter().position(|r| r.as_bytes() == rid)?;
            Some(StreamKey::new(m.track, u8::try_from(layer).ok()?))
        });
        let source = stream.map(|stream| {
            if rtx {
                Source::Rtx { stream, media_ssrc: None }
            } else {
                Source::Media(stream)
            }
        });
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

/// One stream of a published track (the track, or one simulcast layer of it) as this
/// worker sees it.
#[derive(Debug)]
struct Fanout {
    publisher: SessionId,
    publisher_owner: Option<usize>,
    /// The publisher's session is owned by this worker.
    local_publisher: bool,
    video: bool,
    /// The RTP clock of the publisher's codecs.
    clock_rate: u32,
    /// The payload types of the publisher's video codecs whose keyframes the router can
    /// recognise (where a simulcast subscriber may switch to this layer).
    keyframe_codecs: Vec<(u8, rtp::codec::Codec)>,
    /// The media SSRC the publisher's SDP announced.
    announced_ssrc: Option<u32>,
    /// The forwarded source and when it last sent.
    source: Option<(u32, Instant)>,
    /// Since when the publisher sends this stream without a pause of [`SOURCE_TIMEOUT`].
    active_since: Option<Instant>,
    /// Subscriber streams on this worker: (session, index in its streams).
    subscribers: Vec<(SessionId, usize)>,
    /// Other workers with subscribers (only when the publisher is local).
    remote_workers: Vec<usize>,
    keyframes: KeyframeRequests,
    /// Media of the publisher arrived here since the last [`Router::drain_media_seen`].
    media_seen: bool,
    /// Recent packets of the forwarded source, answering subscribers' NACKs (filled while
    /// this worker has subscribers of the track).
    cache: PacketCache,
    /// The publisher negotiated generic NACK for the track's codecs (RFC 4585 §4.2).
    nack_negotiated: bool,
    /// Loss detection on the forwarded source, by SSRC (publisher local, NACK negotiated).
    nack: Option<(u32, NackGenerator)>,
    /// `given_up` of `nack` already counted in the driver stats.
    nack_given_up: u64,
    /// Reception statistics of the forwarded source, by SSRC (publisher local).
    reception: Option<(u32, ReceptionStats)>,
    /// The publisher's last sender report on the forwarded source.
    sender_info: Option<SenderInfo>,
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

    fn source_ssrc(&self) -> Option<u32> {
        self.source.map(|(ssrc, _)| ssrc)
    }

    /// Whether the publisher is sending this stream now.
    fn is_active(&self, now: Instant) -> bool {
        self.source.is_some_and(|(_, last)| now.saturating_duration_since(last) < SOURCE_TIMEOUT)
    }

    /// Whether the publisher has sent this stream for [`SOURCE_TIMEOUT`] at least: long
    /// enough for the layers it sends to be known.
    fn is_settled(&self, now: Instant) -> bool {
        self.is_active(now)
            && self.active_since.is_some_and(|t| now.saturating_duration_since(t) >= SOURCE_TIMEOUT)
    }

    /// Notes a packet of the stream's source at `now` (before `source` moves).
    fn note_activity(&mut self, now: Instant) -> bool {
        let started = !self.is_active(now);
        if started {
            self.active_since = Some(now);
        }
        started
    }

    /// Whether `packet` begins a keyframe a decoder can start from.
    fn starts_keyframe<T: AsRef<[u8]>>(&self, packet: &RtpPacket<T>) -> bool {
        let pt = packet.payload_type();
        self.keyframe_codecs.iter().find(|(p, _)| *p == pt).is_some_and(|(_, codec)| {
            codec.inspect(packet.payload()).is_ok_and(|i| i.keyframe() && i.start_of_frame())
        })
    }
}

/// One subscriber's copy of a track.
#[derive(Debug)]
struct OutStream {
    mid: String,
    track: TrackId,
    /// The simulcast layer it carries (0 without simulcast).
    layer: u8,
    /// The layer it switches to at that layer's next keyframe.
    pending: Option<u8>,
    /// The publisher's rids (empty without simulcast) and the subscriber's choice.
    rids: Vec<String>,
    preference: Option<SimulcastPreference>,
    /// How far the subscriber's loss pushed it below its preferred rid.
    steering: LossSteering,
    ssrc: u32,
    payload_types: PayloadTypeMap,
    extensions: ExtensionMap,
    clock_rate: u32,
    sequence: SequenceRewriter,
    /// A keyframe was requested for it when it started.
    started: bool,
    /// The subscriber's RTX payload type of each of its payload types (RFC 4588).
    rtx_payload_types: PayloadTypeMap,
    /// Its RTX SSRC, announced in our SDP (`a=ssrc-group:FID`).
    rtx_ssrc: Option<u32>,
    /// The next RTX sequence number.
    rtx_sequence: u16,
    /// The CNAME our SDP gave the stream.
    cname: String,
    /// RTP packets and payload octets sent, for sender reports.
    packets_sent: u32,
    octets_sent: u32,
}

impl OutStream {
    fn new(
        t: &Transceiver,
        send: &crate::sdp::SendStream,
        pulled: &crate::negotiation::PulledTrack,
        source: &Transceiver,
        previous: Option<OutStream>,
    ) -> OutStream {
        let track = pulled.id;
        let rids =
            if source.receive_rids.len() > 1 { source.receive_rids.clone() } else { Vec::new() };
        let preference = pulled.simulcast.clone();
        // Until the router sees which layers the publisher sends: the preferred one.
        let initial = layers::choose_layer(preference.as_ref(), &rids, 0, |_| true);
        let same = previous.as_ref().is_some_and(|p| p.track == track && p.rids == rids);
        let mut rng = rand::thread_rng();
        let mut out = OutStream {
            mid: t.mid.clone(),
            track,
            layer: initial,
            pending: None,
            rids,
            preference,
            steering: LossSteering::default(),
            ssrc: send.ssrc,
            payload_types: PayloadTypeMap::new(&source.codecs, &t.codecs),
            extensions: ExtensionMap::new(&source.extensions, &t.extensions),
            clock_rate: t.codecs.iter().find(|c| !c.is_rtx()).map_or(90_000, |c| c.clock_rate),
            sequence: SequenceRewriter::new((rng.gen(), rng.gen())),
            started: false,
            rtx_payload_types: PayloadTypeMap::rtx_of(&t.codecs),
            rtx_ssrc: send.rtx_ssrc,
            rtx_sequence: rng.gen(),
            cname: send.cname.clone(),
            packets_sent: 0,
            octets_sent: 0,
        };
        if let Some(mut p) = previous {
            // The same stream carrying another track (`tracks/update`) keeps its sequence
            // numbers and timestamps running (the rewriter re-bases on the new source's
            // first packet) and starts again: a keyframe is requested from the new
            // publisher.
            if same {
                out.started = p.started;
                out.layer = p.layer;
                out.pending = p.pending;
                out.steering = p.steering;
            } else {
                p.sequence.restart_source();
            }
            out.sequence = p.sequence;
            out.rtx_sequence = p.rtx_sequence;
            out.packets_sent = p.packets_sent;
            out.octets_sent = p.octets_sent;
        }
        out
    }
}

/// The router of one worker. See the module documentation.
#[derive(Debug)]
pub struct Router {
    worker: usize,
    keyframe_interval: Duration,
    generation: Option<u64>,
    publishers: HashMap<SessionId, Publisher>,
    /// Every stream of every track (one per simulcast layer).
    tracks: HashMap<StreamKey, Fanout>,
    subscribers: HashMap<SessionId, Vec<OutStream>>,
    /// The forwarding buffer, reused for every copy.
    buf: Vec<u8>,
    /// A publisher's retransmission, unwrapped (reused).
    rtx_buf: Vec<u8>,
    /// RTCP the router writes (reused).
    rtcp_buf: Vec<u8>,
    /// Sequence numbers and NACK pairs to request (reused).
    nack_scratch: Vec<u16>,
    pairs_scratch: Vec<rtcp::NackPair>,
    /// Sessions with queued output (PLIs) for the worker to drain.
    touched: Vec<SessionId>,
    /// Streams to request keyframes for (reused).
    scratch: Vec<StreamKey>,
    /// A simulcast layer started or stopped: subscribers' layers are chosen again.
    layers_dirty: bool,
    next_keyframe_due: Option<Instant>,
    next_nack_due: Option<Instant>,
    next_report_at: Option<Instant>,
    next_twcc_at: Option<Instant>,
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
            rtx_buf: vec![0; BUFFER_LEN],
            rtcp_buf: Vec::with_capacity(BUFFER_LEN),
            nack_scratch: Vec::new(),
            pairs_scratch: Vec::new(),
            touched: Vec::new(),
            scratch: Vec::new(),
            layers_dirty: false,
            next_keyframe_due: None,
            next_nack_due: None,
            next_report_at: None,
            next_twcc_at: None,
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
                streams.push(OutStream::new(t, send, pulled, source, previous));
            }
            if !streams.is_empty() {
                self.subscribers.insert(*session, streams);
            }
        }
        for route in &routes.tracks {
            let local_publisher = route.publisher_owner == Some(self.worker);
            let subscribers: Vec<(SessionId, usize)> = route
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
            let video = source.is_some_and(|t| t.kind == MediaKind::Video);
            let clock_rate = source
                .and_then(|t| t.codecs.iter().find(|c| !c.is_rtx()))
                .map_or(if video { 90_000 } else { 48_000 }, |c| c.clock_rate);
            let nack_negotiated = source.is_some_and(|t| {
                t.codecs.iter().any(|c| {
                    !c.is_rtx()
                        && c.feedback
                            .iter()
                            .any(|f| f.kind.eq_ignore_ascii_case("nack") && f.parameter.is_none())
                })
            });
            let keyframe_codecs: Vec<(u8, rtp::codec::Codec)> = source
                .filter(|_| video)
                .map(|t| {
                    t.codecs
                        .iter()
                        .filter_map(|c| {
                            Some((c.payload_type, rtp::codec::Codec::from_encoding_name(&c.name)?))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let rids = source.map_or(0, |t| t.receive_rids.len());
            // One stream per rid (at most 255), one without simulcast, counted in `u8` like
            // the key's layer.
            let layers: u8 = u8::try_from(rids).unwrap_or(u8::MAX).max(1);
            for layer in 0..layers {
                let key = StreamKey::new(route.id, layer);
                let old = old_tracks.remove(&key);
                let media_seen = old.as_ref().is_some_and(|o| o.media_seen);
                let active_since = old.as_ref().and_then(|o| o.active_since);
                let (cache, nack, nack_given_up, reception, sender_info, keyframes, last_source) =
                    match old {
                        Some(o) => (
                            o.cache,
                            o.nack,
                            o.nack_given_up,
                            o.reception,
                            o.sender_info,
                            o.keyframes,
                            o.source,
                        ),
                        None => {
                            let packets =
                                if video { VIDEO_CACHE_PACKETS } else { AUDIO_CACHE_PACKETS };
                            let cache = PacketCache::new(packets, MAX_DATAGRAM_LEN, CACHE_MAX_AGE);
                            (cache, None, 0, None, None, KeyframeRequests::default(), None)
                        }
                    };
                // The SDP's SSRC names the stream of a track without simulcast.
                let announced_ssrc = source
                    .filter(|_| layers == 1)
                    .and_then(|t| t.receive_ssrcs.first())
                    .map(|s| s.ssrc);
                self.tracks.insert(
                    key,
                    Fanout {
                        publisher: route.publisher,
                        publisher_owner: route.publisher_owner,
                        local_publisher,
                        video,
                        clock_rate,
                        keyframe_codecs: keyframe_codecs.clone(),
                        announced_ssrc,
                        source: last_source,
                        active_since,
                        subscribers: subscribers.clone(),
                        remote_workers: remote_workers.clone(),
                        media_seen,
                        keyframes,
                        cache,
                        nack_negotiated,
                        nack: nack.filter(|_| local_publisher && nack_negotiated),
                        nack_given_up,
                        reception: reception.filter(|_| local_publisher),
                        sender_info,
                    },
                );
            }
        }
        self.layers_dirty = true;
        self.update_next_keyframe_due();
        self.update_next_nack_due();
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
        let Some(p) = self.publishers.get_mut(&publisher) else {
            DriverStats::bump(&self.stats.rtp_unrouted);
            return;
        };
        // Every packet on the transport counts for congestion control, routed or not.
        if let (Some(id), Some(twcc)) = (p.twcc_extension, p.twcc.as_mut()) {
            if let Some(&[a, b, ..]) = view.extension(id) {
                twcc.set_media_ssrc(view.ssrc());
                twcc.record(now, u16::from_be_bytes([a, b]));
                self.next_twcc_at.get_or_insert(now + TWCC_INTERVAL);
            }
        }
        self.next_report_at.get_or_insert(now + REPORT_INTERVAL);
        match p.classify(&view) {
            Some(Source::Media(stream)) => {
                self.on_media(now, stream, packet, false, sessions, sink);
            }
            Some(Source::Rtx { stream, media_ssrc }) => {
                DriverStats::bump(&self.stats.rtx_received);
                let apt = p.apt.get(usize::from(view.payload_type())).copied().unwrap_or(UNMAPPED);
                let original = self.tracks.get(&stream).and_then(|f| {
                    let current = f.source_ssrc()?;
                    media_ssrc.is_none_or(|m| m == current).then_some(current)
                });
                let (Some(original), true) = (original, apt != UNMAPPED) else {
                    DriverStats::bump(&self.stats.rtp_dropped_rtx);
                    return;
                };
                // RFC 4588 §4: the original sequence number, then the original payload. A
                // packet without one is padding (a bandwidth probe).
                let mut buf = std::mem::take(&mut self.rtx_buf);
                buf.resize(BUFFER_LEN, 0);
                match rtp::rtx::unwrap_into(packet, original, apt, &mut buf) {
                    Ok(len) if view.payload().len() > rtp::rtx::OSN_LEN => {
                        if let Some(unwrapped) = buf.get(..len) {
                            self.on_media(now, stream, unwrapped, true, sessions, sink);
                        }
                    }
                    _ => DriverStats::bump(&self.stats.rtp_dropped_rtx),
                }
                self.rtx_buf = buf;
            }
            None => DriverStats::bump(&self.stats.rtp_unrouted),
        }
    }

    /// A media packet of a stream whose publisher is owned here: an original, or a
    /// retransmission unwrapped (`recovered`).
    fn on_media(
        &mut self,
        now: Instant,
        stream: StreamKey,
        packet: &[u8],
        recovered: bool,
        sessions: &mut impl Sessions,
        sink: &mut impl MediaSink,
    ) {
        let Ok(view) = RtpPacket::new_checked(packet) else { return };
        let (ssrc, seq) = (view.ssrc(), view.sequence_number());
        let Some(fanout) = self.tracks.get_mut(&stream) else {
            DriverStats::bump(&self.stats.rtp_unrouted);
            return;
        };
        let started = !recovered && !fanout.is_active(now);
        if !recovered && !fanout.accept_source(ssrc, now) {
            DriverStats::bump(&self.stats.rtp_dropped_other_source);
            return;
        }
        if started {
            fanout.active_since = Some(now);
            self.layers_dirty = true;
        }
        fanout.media_seen = true;
        let mut keyframe = false;
        if fanout.local_publisher {
            if !recovered {
                let clock_rate = fanout.clock_rate;
                match &mut fanout.reception {
                    Some((s, stats)) if *s == ssrc => {
                        stats.on_packet(now, seq, view.timestamp());
                    }
                    reception => {
                        let mut stats = ReceptionStats::new(clock_rate);
                        stats.on_packet(now, seq, view.timestamp());
                        *reception = Some((ssrc, stats));
                    }
                }
            }
            if fanout.nack_negotiated {
                match &mut fanout.nack {
                    Some((s, nack)) if *s != ssrc => {
                        *s = ssrc;
                        nack.reset();
                    }
                    Some(_) => {}
                    none => *none = Some((ssrc, NackGenerator::new(NackConfig::default()))),
                }
                if let Some((_, nack)) = fanout.nack.as_mut() {
                    let before = nack.missing_count();
                    match (recovered, nack.on_packet(now, seq)) {
                        // Already here (or given up): subscribers have it or moved on.
                        (true, Arrival::Stale) => {
                            DriverStats::bump(&self.stats.rtx_duplicates);
                            return;
                        }
                        // A retransmission of a packet missing, or of one whose original
                        // is lost and not yet known missing (a sender's RTX padding can
                        // carry its newest packet): forwarded like the original.
                        (true, _) => DriverStats::bump(&self.stats.rtx_recovered),
                        (false, Arrival::Recovered) => DriverStats::bump(&self.stats.rtp_late),
                        (false, _) => {}
                    }
                    if nack.missing_count() > before {
                        if let Some(due) = nack.poll_timeout() {
                            self.next_nack_due =
                                Some(self.next_nack_due.map_or(due, |d| d.min(due)));
                        }
                    }
                    keyframe = nack.take_keyframe_request();
                }
            } else if recovered {
                DriverStats::bump(&self.stats.rtx_duplicates);
                return;
            }
        }
        for &worker in &fanout.remote_workers {
            let message = Forward::Media { stream, packet: packet.to_vec() };
            if sink.forward(worker, message) {
                DriverStats::bump(&self.stats.media_forwarded_out);
            } else {
                DriverStats::bump(&self.stats.media_dropped_queue_full);
            }
        }
        let ready = fanout.keyframes.ready_on_media(now, self.keyframe_interval);
        if fanout.local_publisher && ready {
            self.send_keyframe_request(now, stream, sessions);
        }
        if keyframe {
            debug!(%stream, "loss too heavy to repair: keyframe requested");
            self.request_keyframe(now, stream, sessions, sink);
        }
        if self.layers_dirty {
            self.select_layers(now, sessions, sink);
        }
        self.fan_out(now, stream, packet, sessions, sink);
    }

    /// Appends the tracks whose publisher (owned here) sent media since the last call, for
    /// the directory's idle-track collection.
    pub fn drain_media_seen(&mut self, out: &mut Vec<TrackId>) {
        for (key, fanout) in &mut self.tracks {
            if std::mem::take(&mut fanout.media_seen) && !out.contains(&key.track) {
                out.push(key.track);
            }
        }
    }

    /// A decrypted RTP packet of `stream` that the publisher's worker passed here.
    pub fn on_forwarded_media(
        &mut self,
        now: Instant,
        stream: StreamKey,
        packet: &[u8],
        sessions: &mut impl Sessions,
        sink: &mut impl MediaSink,
    ) {
        DriverStats::bump(&self.stats.media_forwarded_in);
        // Sender reports go to this worker's subscribers from here on.
        self.next_report_at.get_or_insert(now + REPORT_INTERVAL);
        if let Some(fanout) = self.tracks.get_mut(&stream) {
            if let Ok(view) = RtpPacket::new_checked(packet) {
                self.layers_dirty |= fanout.note_activity(now);
                fanout.source = Some((view.ssrc(), now));
            }
        }
        if self.layers_dirty {
            self.select_layers(now, sessions, sink);
        }
        self.fan_out(now, stream, packet, sessions, sink);
    }

    /// A sender report on `stream` that the publisher's worker passed here.
    pub fn on_sender_info(&mut self, stream: StreamKey, info: SenderInfo) {
        if let Some(fanout) = self.tracks.get_mut(&stream) {
            fanout.sender_info = Some(info);
        }
    }

    /// A decrypted RTCP compound packet of a session owned here. From a subscriber: PLI and
    /// FIR for a stream the SFU sends it become a keyframe request to that stream's
    /// publisher, and a NACK is answered from the track's packet cache. From a publisher:
    /// sender reports feed the receiver reports sent back and the sender reports toward
    /// subscribers.
    pub fn on_rtcp(
        &mut self,
        now: Instant,
        session: SessionId,
        packet: &[u8],
        sessions: &mut impl Sessions,
        sink: &mut impl MediaSink,
    ) {
        if self.publishers.contains_key(&session) {
            self.on_publisher_rtcp(now, session, packet, sink);
        }
        if !self.subscribers.contains_key(&session) {
            return;
        }
        self.scratch.clear();
        let mut budget = MAX_RETRANSMISSIONS_PER_COMPOUND;
        for item in CompoundIter::new(packet) {
            let Ok(item) = item else { break };
            let Some(streams) = self.subscribers.get(&session) else { return };
            let out_of = |ssrc: u32| streams.iter().find(|o| o.ssrc == ssrc);
            let out = match item {
                Packet::Pli(pli) => out_of(pli.media_ssrc()),
                // RFC 5104 §4.3.1: the FCI entries name the media senders.
                Packet::Fir(fir) => fir.entries().find_map(|e| out_of(e.ssrc)),
                Packet::Nack(nack) => {
                    DriverStats::bump(&self.stats.nacks_received);
                    self.answer_nack(now, session, &nack, &mut budget, sessions, sink);
                    None
                }
                Packet::ReceiverReport(rr) => {
                    self.on_subscriber_report(now, session, rr.report_blocks());
                    None
                }
                Packet::SenderReport(sr) => {
                    self.on_subscriber_report(now, session, sr.report_blocks());
                    None
                }
                _ => None,
            };
            if let Some(out) = out {
                DriverStats::bump(&self.stats.keyframe_requests_received);
                // The layer it carries, and the one it is switching to.
                let layers = [Some(out.layer), out.pending];
                for key in layers.into_iter().flatten().map(|l| StreamKey::new(out.track, l)) {
                    if !self.scratch.contains(&key) {
                        self.scratch.push(key);
                    }
                }
            }
        }
        self.request_scratch(now, sessions, sink);
    }

    /// A subscriber's reception report blocks: for its simulcast streams that steer by loss
    /// (`priorityOrdering: "asciibetical"`), heavy or light loss may move the layer.
    fn on_subscriber_report(
        &mut self,
        now: Instant,
        session: SessionId,
        blocks: rtcp::ReportBlocks<'_>,
    ) {
        let Some(streams) = self.subscribers.get_mut(&session) else { return };
        for block in blocks {
            let Some(out) = streams.iter_mut().find(|o| o.ssrc == block.ssrc()) else { continue };
            let steered = out
                .preference
                .as_ref()
                .is_some_and(|p| p.priority_ordering == layers::RidOrdering::Asciibetical);
            if steered
                && out.rids.len() > 1
                && out.steering.on_report(now, block.fraction_lost(), out.rids.len())
            {
                debug!(track = %out.track, mid = %out.mid, steps_down = out.steering.steps_down, "simulcast steered by loss");
                self.layers_dirty = true;
            }
        }
    }

    /// Sender reports of a publisher owned here.
    fn on_publisher_rtcp(
        &mut self,
        now: Instant,
        session: SessionId,
        packet: &[u8],
        sink: &mut impl MediaSink,
    ) {
        for item in CompoundIter::new(packet) {
            let Ok(Packet::SenderReport(sr)) = item else { continue };
            let ssrc = sr.ssrc();
            let source = self.publishers.get(&session).and_then(|p| p.ssrcs.get(&ssrc)).copied();
            let Some(Source::Media(stream)) = source else { continue };
            let Some(fanout) = self.tracks.get_mut(&stream) else { continue };
            if fanout.source_ssrc().is_some_and(|s| s != ssrc) {
                continue;
            }
            DriverStats::bump(&self.stats.sender_reports_received);
            let info = SenderInfo {
                ssrc,
                ntp: sr.ntp_timestamp(),
                rtp_timestamp: sr.rtp_timestamp(),
                received_at: now,
            };
            fanout.sender_info = Some(info);
            if let Some((s, stats)) = fanout.reception.as_mut() {
                if *s == ssrc {
                    stats.on_sender_report(now, info.ntp);
                }
            }
            for &worker in &fanout.remote_workers {
                if !sink.forward(worker, Forward::SenderReport { stream, info }) {
                    DriverStats::bump(&self.stats.media_dropped_queue_full);
                }
            }
        }
    }

    /// Answers a subscriber's NACK from the packet cache of the track: in RTX form where the
    /// subscriber negotiated RTX, else as the original packet. Never passed upstream: loss
    /// between the publisher and the SFU is repaired by the SFU's own NACKs.
    fn answer_nack(
        &mut self,
        now: Instant,
        session: SessionId,
        nack: &rtcp::Nack<'_>,
        budget: &mut usize,
        sessions: &mut impl Sessions,
        sink: &mut impl MediaSink,
    ) {
        let Router { tracks, subscribers, buf, stats, .. } = self;
        let Some(out) = subscribers
            .get_mut(&session)
            .and_then(|streams| streams.iter_mut().find(|o| o.ssrc == nack.media_ssrc()))
        else {
            return;
        };
        let Some(fanout) = tracks.get(&StreamKey::new(out.track, out.layer)) else { return };
        let Some(session) = sessions.session_mut(session) else { return };
        for seq in nack.lost_sequence_numbers() {
            let Some(left) = budget.checked_sub(1) else { return };
            *budget = left;
            // Only packets of the current source: one sent before a switch of source or
            // layer is another stream's, whose sequence numbers these offsets do not map.
            let cached = out.sequence.source().and_then(|source| {
                fanout.cache.get(now, source, out.sequence.input_sequence(seq)?)
            });
            match cached {
                Some(packet) => {
                    DriverStats::bump(&stats.nack_cache_hits);
                    retransmit_one(now, out, session, packet, seq, buf, sink, stats);
                }
                None => {
                    DriverStats::bump(&stats.nack_cache_misses);
                    trace!(track = %out.track, seq, "NACK not answered: not cached");
                }
            }
        }
    }

    /// A keyframe request that another worker passed here (the publisher is owned here).
    pub fn on_keyframe_request(
        &mut self,
        now: Instant,
        stream: StreamKey,
        sessions: &mut impl Sessions,
        sink: &mut impl MediaSink,
    ) {
        self.request_keyframe(now, stream, sessions, sink);
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
        if self.layers_dirty {
            self.select_layers(now, sessions, sink);
        }
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
                let key = StreamKey::new(stream.track, stream.layer);
                let reachable = self.tracks.get(&key).is_some_and(|f| f.publisher_owner.is_some());
                if !reachable {
                    continue;
                }
                stream.started = true;
                if !self.scratch.contains(&key) {
                    self.scratch.push(key);
                }
            }
        }
        self.request_scratch(now, sessions, sink);
    }

    /// When [`Router::handle_timeout`] must run next: a deferred keyframe request, NACKs to
    /// send, reports or transport-wide feedback due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.next_keyframe_due, self.next_nack_due, self.next_report_at, self.next_twcc_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Sends what is due: deferred keyframe requests, NACKs to publishers, transport-wide
    /// feedback to publishers, receiver reports to publishers and sender reports to
    /// subscribers.
    pub fn handle_timeout(&mut self, now: Instant, sessions: &mut impl Sessions) {
        if self.next_keyframe_due.is_some_and(|due| due <= now) {
            self.scratch.clear();
            let interval = self.keyframe_interval;
            for (key, fanout) in &self.tracks {
                if fanout.local_publisher
                    && fanout.keyframes.due(interval).is_some_and(|d| d <= now)
                {
                    self.scratch.push(*key);
                }
            }
            for i in 0..self.scratch.len() {
                if let Some(key) = self.scratch.get(i).copied() {
                    self.send_keyframe_request(now, key, sessions);
                }
            }
            self.update_next_keyframe_due();
        }
        if self.next_nack_due.is_some_and(|due| due <= now) {
            self.send_nacks(now, sessions);
        }
        if self.next_twcc_at.is_some_and(|due| due <= now) {
            self.send_transport_feedback(now, sessions);
        }
        if self.next_report_at.is_some_and(|due| due <= now) {
            self.send_reports(now, sessions);
        }
    }

    /// The next session with queued output (PLIs) to drain.
    pub fn pop_touched(&mut self) -> Option<SessionId> {
        self.touched.pop()
    }

    /// NACKs for what is missing on the publishers' streams, paced by each generator.
    fn send_nacks(&mut self, now: Instant, sessions: &mut impl Sessions) {
        self.scratch.clear();
        let Router {
            tracks, rtcp_buf, nack_scratch, pairs_scratch, touched, scratch, stats, ..
        } = self;
        for (key, fanout) in tracks.iter_mut() {
            if !fanout.local_publisher {
                continue;
            }
            let Some((ssrc, nack)) = fanout.nack.as_mut() else { continue };
            let requested = nack.poll_nacks(now, nack_scratch);
            let given_up = nack.stats().given_up;
            DriverStats::add(&stats.nack_given_up, given_up.saturating_sub(fanout.nack_given_up));
            fanout.nack_given_up = given_up;
            if nack.take_keyframe_request() {
                scratch.push(*key);
            }
            if requested == 0 {
                continue;
            }
            rtcp::pack_nack_pairs(nack_scratch, pairs_scratch);
            let builder = rtcp::NackBuilder {
                sender_ssrc: FEEDBACK_SSRC,
                media_ssrc: *ssrc,
                pairs: pairs_scratch,
            };
            let Some(session) = sessions.session_mut(fanout.publisher) else { continue };
            if reports::write_feedback(rtcp_buf, FEEDBACK_SSRC, &builder).is_ok()
                && session.send_rtcp(now, rtcp_buf).is_ok()
            {
                DriverStats::bump(&stats.nacks_sent);
                DriverStats::add(&stats.nack_sequences_sent, requested as u64);
                if !touched.contains(&fanout.publisher) {
                    touched.push(fanout.publisher);
                }
                trace!(stream = %key, requested, "NACK sent upstream");
            }
        }
        self.update_next_nack_due();
        for i in 0..self.scratch.len() {
            let Some(key) = self.scratch.get(i).copied() else { continue };
            let Some(fanout) = self.tracks.get_mut(&key) else { continue };
            if fanout.keyframes.request(now, self.keyframe_interval) {
                self.send_keyframe_request(now, key, sessions);
            }
        }
        self.update_next_keyframe_due();
    }

    /// Transport-wide congestion control feedback to every publisher that negotiated it
    /// and sent something since the last one.
    fn send_transport_feedback(&mut self, now: Instant, sessions: &mut impl Sessions) {
        self.next_twcc_at = None;
        let Router { publishers, rtcp_buf, touched, stats, .. } = self;
        for (id, publisher) in publishers.iter_mut() {
            let Some(twcc) = publisher.twcc.as_mut() else { continue };
            if !twcc.has_pending() {
                continue;
            }
            // An empty RR first keeps the compound valid (RFC 3550 §6.1) for receivers
            // that do not accept reduced-size RTCP.
            let rr = rtcp::ReceiverReportBuilder { ssrc: FEEDBACK_SSRC, report_blocks: &[] };
            if rtcp::CompoundBuilder::new(rtcp_buf).push(&rr).is_err() {
                continue;
            }
            let packets = twcc.poll_feedback(rtcp_buf);
            let Some(session) = sessions.session_mut(*id) else { continue };
            if packets > 0 && session.send_rtcp(now, rtcp_buf).is_ok() {
                DriverStats::add(&stats.twcc_feedback_sent, packets as u64);
                if !touched.contains(id) {
                    touched.push(*id);
                }
            }
        }
    }

    /// Receiver reports to publishers (one per forwarded source) and sender reports to
    /// subscribers (one per stream that sent something and whose publisher reported).
    fn send_reports(&mut self, now: Instant, sessions: &mut impl Sessions) {
        self.next_report_at =
            (!self.tracks.is_empty() || !self.publishers.is_empty()).then(|| now + REPORT_INTERVAL);
        // Layers that stopped are noticed here.
        self.layers_dirty |= self.subscribers.values().flatten().any(|o| o.rids.len() > 1);
        let Router { tracks, subscribers, rtcp_buf, touched, stats, .. } = self;
        for fanout in tracks.values_mut().filter(|f| f.local_publisher) {
            let Some((ssrc, reception)) = fanout.reception.as_mut() else { continue };
            let block = reception.report(now, *ssrc);
            let Some(session) = sessions.session_mut(fanout.publisher) else { continue };
            if reports::write_receiver_report(rtcp_buf, FEEDBACK_SSRC, &[block]).is_ok()
                && session.send_rtcp(now, rtcp_buf).is_ok()
            {
                DriverStats::bump(&stats.receiver_reports_sent);
                if !touched.contains(&fanout.publisher) {
                    touched.push(fanout.publisher);
                }
            }
        }
        for (id, streams) in subscribers.iter_mut() {
            let Some(session) = sessions.session_mut(*id) else { continue };
            let mut sent = false;
            for out in streams.iter().filter(|o| o.packets_sent > 0) {
                let key = StreamKey::new(out.track, out.layer);
                let Some(info) = tracks.get(&key).and_then(|f| f.sender_info) else {
                    continue;
                };
                if out.sequence.source() != Some(info.ssrc) {
                    continue;
                }
                let (ntp, rtp_timestamp) = info.at(now, out.clock_rate);
                let report = reports::OutgoingReport {
                    ssrc: out.ssrc,
                    ntp,
                    rtp_timestamp: out.sequence.output_timestamp(rtp_timestamp),
                    packet_count: out.packets_sent,
                    octet_count: out.octets_sent,
                };
                if reports::write_sender_report(rtcp_buf, &report, out.cname.as_bytes()).is_ok()
                    && session.send_rtcp(now, rtcp_buf).is_ok()
                {
                    DriverStats::bump(&stats.sender_reports_sent);
                    sent = true;
                }
            }
            if sent && !touched.contains(id) {
                touched.push(*id);
            }
        }
    }

    fn update_next_nack_due(&mut self) {
        self.next_nack_due = self
            .tracks
            .values()
            .filter(|f| f.local_publisher)
            .filter_map(|f| f.nack.as_ref().and_then(|(_, n)| n.poll_timeout()))
            .min();
    }

    fn request_scratch(
        &mut self,
        now: Instant,
        sessions: &mut impl Sessions,
        sink: &mut impl MediaSink,
    ) {
        for i in 0..self.scratch.len() {
            if let Some(key) = self.scratch.get(i).copied() {
                self.request_keyframe(now, key, sessions, sink);
            }
        }
    }

    fn request_keyframe(
        &mut self,
        now: Instant,
        stream: StreamKey,
        sessions: &mut impl Sessions,
        sink: &mut impl MediaSink,
    ) {
        let Some(fanout) = self.tracks.get_mut(&stream) else { return };
        if !fanout.video {
            return;
        }
        if fanout.local_publisher {
            if fanout.keyframes.request(now, self.keyframe_interval) {
                self.send_keyframe_request(now, stream, sessions);
            }
            self.update_next_keyframe_due();
        } else if let Some(owner) = fanout.publisher_owner {
            if !sink.forward(owner, Forward::KeyframeRequest { stream }) {
                DriverStats::bump(&self.stats.media_dropped_queue_full);
            }
        }
    }

    /// Sends a PLI to the publisher of a local track now, or parks the request until its
    /// next packet when that cannot be done.
    fn send_keyframe_request(
        &mut self,
        now: Instant,
        stream: StreamKey,
        sessions: &mut impl Sessions,
    ) {
        let Some(fanout) = self.tracks.get_mut(&stream) else { return };
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
            trace!(%stream, "keyframe requested");
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

    /// Chooses the layer of every simulcast subscriber stream on this worker
    /// ([`layers::choose_layer`]) from the layers the publisher sends now. A stream that
    /// has sent nothing takes its layer at once; one that has switches at the new layer's
    /// next keyframe, which is requested (again at each pass while the switch waits).
    fn select_layers(
        &mut self,
        now: Instant,
        sessions: &mut impl Sessions,
        sink: &mut impl MediaSink,
    ) {
        self.layers_dirty = false;
        self.scratch.clear();
        let Router { tracks, subscribers, scratch, .. } = self;
        for out in subscribers.values_mut().flatten().filter(|o| o.rids.len() > 1) {
            let track = out.track;
            let layer = |i: usize| tracks.get(&StreamKey::new(track, u8::try_from(i).ok()?));
            // Until one layer has run for a while, every layer counts as sent: layers
            // start one after another, and the first to come should not win for that.
            let settled = (0..out.rids.len()).any(|i| layer(i).is_some_and(|f| f.is_settled(now)));
            let active = |i: usize| !settled || layer(i).is_some_and(|f| f.is_active(now));
            let steps_down = out.steering.steps_down;
            let chosen =
                layers::choose_layer(out.preference.as_ref(), &out.rids, steps_down, active);
            if chosen == out.layer {
                out.pending = None;
                continue;
            }
            if out.sequence.source().is_none() {
                out.layer = chosen;
                out.pending = None;
            } else {
                if out.pending != Some(chosen) {
                    debug!(%track, mid = %out.mid, from = out.layer, to = chosen, "simulcast layer switch");
                }
                out.pending = Some(chosen);
            }
            let key = StreamKey::new(track, chosen);
            if !scratch.contains(&key) {
                scratch.push(key);
            }
        }
        self.request_scratch(now, sessions, sink);
    }

    /// Sends `packet` of `stream` to every subscriber stream on this worker that carries
    /// that layer (or switches to it on this packet, a keyframe), and keeps it in the
    /// stream's cache for their NACKs.
    fn fan_out(
        &mut self,
        now: Instant,
        stream: StreamKey,
        packet: &[u8],
        sessions: &mut impl Sessions,
        sink: &mut impl MediaSink,
    ) {
        let Router { tracks, subscribers, buf, stats, .. } = self;
        let Some(fanout) = tracks.get_mut(&stream) else {
            DriverStats::bump(&stats.rtp_unrouted);
            return;
        };
        let Ok(view) = RtpPacket::new_checked(packet) else { return };
        let input = Input {
            ssrc: view.ssrc(),
            sequence_number: view.sequence_number(),
            timestamp: view.timestamp(),
            payload_type: view.payload_type(),
            payload_len: view.payload().len(),
        };
        let mut keyframe = None;
        let mut sent = false;
        for &(session, index) in &fanout.subscribers {
            let Some(out) = subscribers.get_mut(&session).and_then(|s| s.get_mut(index)) else {
                continue;
            };
            if out.layer != stream.layer {
                if out.pending != Some(stream.layer)
                    || !*keyframe.get_or_insert_with(|| fanout.starts_keyframe(&view))
                {
                    continue;
                }
                out.layer = stream.layer;
                out.pending = None;
                out.sequence.restart_source();
                DriverStats::bump(&stats.simulcast_switches);
            }
            sent = true;
            let Some(session) = sessions.session_mut(session) else { continue };
            forward_one(now, out, session, packet, input, buf, sink, stats);
        }
        if sent {
            fanout.cache.insert(now, input.ssrc, input.sequence_number, packet);
        }
    }
}

/// Retransmissions one RTCP compound may trigger at most (its NACKs can name thousands of
/// packets).
const MAX_RETRANSMISSIONS_PER_COMPOUND: usize = 256;

/// The fields of the incoming packet the rewrite starts from.
#[derive(Debug, Clone, Copy)]
struct Input {
    ssrc: u32,
    sequence_number: u16,
    timestamp: u32,
    payload_type: u8,
    payload_len: usize,
}

/// Copies `packet` into `buf` and rewrites its identity for `out`: payload type
/// `payload_type`, sequence number and timestamp as given, extension ids. Returns whether
/// it is a well-formed RTP packet.
fn rewrite_into(
    out: &OutStream,
    packet: &[u8],
    payload_type: u8,
    sequence_number: u16,
    timestamp: u32,
    buf: &mut Vec<u8>,
) -> bool {
    buf.clear();
    buf.extend_from_slice(packet);
    let Ok(mut view) = RtpPacket::new_checked(&mut buf[..]) else { return false };
    view.set_ssrc(out.ssrc);
    view.set_payload_type(payload_type);
    view.set_sequence_number(sequence_number);
    view.set_timestamp(timestamp);
    let one_byte = view.extension_form() == Some(ExtensionForm::OneByte);
    let extensions = &out.extensions;
    // A block of another profile than RFC 8285's is left as it is (RFC 3550 §5.3.1
    // receivers ignore profiles they do not know).
    let _ = view.remap_extension_ids(|id| extensions.get(id, one_byte));
    true
}

/// Protects the packet in `buf` for `session` and sends it; whether it went out.
fn protect_and_send(
    now: Instant,
    session: &mut Session,
    buf: &mut Vec<u8>,
    sink: &mut impl MediaSink,
    stats: &DriverStats,
) -> bool {
    let Some(profile) = session.srtp_profile() else {
        DriverStats::bump(&stats.rtp_dropped_not_sendable);
        return false;
    };
    let len = buf.len();
    buf.resize(len.saturating_add(profile.rtp_overhead()), 0);
    match session.protect_rtp_to_send(now, buf, len) {
        Ok(outgoing) => match buf.get(..outgoing.len) {
            Some(datagram) => {
                sink.send(outgoing.local, outgoing.remote, datagram);
                true
            }
            None => false,
        },
        Err(_) => {
            DriverStats::bump(&stats.rtp_dropped_not_sendable);
            false
        }
    }
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
    if session.srtp_profile().is_none() {
        DriverStats::bump(&stats.rtp_dropped_not_sendable);
        return;
    }
    let (sequence_number, timestamp) = out.sequence.rewrite(
        now,
        input.ssrc,
        input.sequence_number,
        input.timestamp,
        out.clock_rate,
    );
    if !rewrite_into(out, packet, payload_type, sequence_number, timestamp, buf) {
        return;
    }
    if protect_and_send(now, session, buf, sink, stats) {
        DriverStats::bump(&stats.rtp_forwarded);
        out.packets_sent = out.packets_sent.wrapping_add(1);
        out.octets_sent = out.octets_sent.wrapping_add(input.payload_len as u32);
    }
}

/// A retransmission of the cached `packet` to a subscriber that lost its output sequence
/// number `sequence_number`: wrapped in RTX (RFC 4588 §4) with the subscriber's RTX SSRC,
/// payload type and sequence numbers when it negotiated RTX for the codec, else the
/// original packet rewritten again as it was first sent.
#[allow(clippy::too_many_arguments)]
fn retransmit_one(
    now: Instant,
    out: &mut OutStream,
    session: &mut Session,
    packet: &[u8],
    sequence_number: u16,
    buf: &mut Vec<u8>,
    sink: &mut impl MediaSink,
    stats: &DriverStats,
) {
    let Ok(view) = RtpPacket::new_checked(packet) else { return };
    let Some(payload_type) = out.payload_types.get(view.payload_type()) else {
        DriverStats::bump(&stats.rtp_dropped_no_codec);
        return;
    };
    let timestamp = out.sequence.output_timestamp(view.timestamp());
    if !rewrite_into(out, packet, payload_type, sequence_number, timestamp, buf) {
        return;
    }
    let rtx = match (out.rtx_ssrc, out.rtx_payload_types.get(payload_type)) {
        (Some(ssrc), Some(rtx_payload_type)) => {
            let wrapped = rtp::rtx::wrap_in_place(buf, ssrc, rtx_payload_type, out.rtx_sequence);
            if wrapped.is_err() {
                return;
            }
            out.rtx_sequence = out.rtx_sequence.wrapping_add(1);
            true
        }
        _ => false,
    };
    if protect_and_send(now, session, buf, sink, stats) {
        if rtx {
            DriverStats::bump(&stats.rtx_sent);
        } else {
            DriverStats::bump(&stats.retransmissions_sent);
        }
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
        assert_eq!(
            classify(&mut p, &packet(10, 111, None)),
            Some(Source::Media(StreamKey::new(TrackId(1), 0)))
        );
        // Learned from the mid, whatever the payload type says.
        assert_eq!(
            classify(&mut p, &packet(20, 111, Some(b"1"))),
            Some(Source::Media(StreamKey::new(TrackId(2), 0)))
        );
        assert_eq!(
            classify(&mut p, &packet(20, 111, None)),
            Some(Source::Media(StreamKey::new(TrackId(2), 0)))
        );
        // RTX by payload type, before the mid.
        let rtx = Source::Rtx { stream: StreamKey::new(TrackId(2), 0), media_ssrc: None };
        assert_eq!(classify(&mut p, &packet(21, 97, Some(b"1"))), Some(rtx));
        assert_eq!(p.apt[97], 96);
        // No mid: a payload type only one published mid has (96), not one both have (111).
        assert_eq!(
            classify(&mut p, &packet(30, 96, None)),
            Some(Source::Media(StreamKey::new(TrackId(2), 0)))
        );
        assert_eq!(classify(&mut p, &packet(31, 111, None)), None);
        // A mid that carries no published track, or none at all.
        assert_eq!(classify(&mut p, &packet(40, 98, Some(b"2"))), None);
        assert_eq!(classify(&mut p, &packet(41, 96, Some(b"9"))), None);
        assert_eq!(p.learned, 3);

        // A rebuild keeps what was learned for tracks still published.
        let rebuilt = Publisher::build(&media(), Some(p)).unwrap();
        assert_eq!(rebuilt.ssrcs.get(&20), Some(&Source::Media(StreamKey::new(TrackId(2), 0))));
        assert_eq!(rebuilt.ssrcs.get(&21), Some(&rtx));
        let mut unpublished = media();
        unpublished.transceivers.truncate(1);
        let rebuilt = Publisher::build(&unpublished, Some(rebuilt)).unwrap();
        assert_eq!(rebuilt.ssrcs.get(&20), None);
        assert_eq!(Publisher::build(&SessionMedia::default(), None).map(|_| ()), None);
    }

    #[test]
    fn simulcast_layers_come_from_the_rid_extensions() {
        let mut media = media();
        let video = &mut media.transceivers[1];
        video.extensions.push((4, extension_uri::SDES_RTP_STREAM_ID.to_owned()));
        video.extensions.push((5, extension_uri::SDES_REPAIRED_RTP_STREAM_ID.to_owned()));
        video.receive_rids = vec!["q".into(), "h".into(), "f".into()];
        // A simulcast section's a=ssrc lines (if any) say nothing of layers.
        video.receive_ssrcs = vec![ReceiveSsrc { ssrc: 77, rtx: None }];
        let mut p = Publisher::build(&media, None).unwrap();
        assert_eq!((p.rid_extension, p.repaired_rid_extension), (Some(4), Some(5)));
        let with = |ssrc: u32, pt: u8, ext: &[(u8, &[u8])]| {
            let mut out = Vec::new();
            rtp::RtpHeaderWriter {
                payload_type: pt,
                ssrc,
                extensions: ext,
                ..rtp::RtpHeaderWriter::default()
            }
            .append_packet(b"x", &mut out)
            .unwrap();
            out
        };
        let layer = |l: u8| Some(Source::Media(StreamKey::new(TrackId(2), l)));
        assert_eq!(classify(&mut p, &with(50, 96, &[(3, b"1"), (4, b"h")])), layer(1));
        assert_eq!(classify(&mut p, &with(51, 96, &[(3, b"1"), (4, b"f")])), layer(2));
        // Learned: later packets without extensions keep their layer.
        assert_eq!(classify(&mut p, &with(51, 96, &[])), layer(2));
        // RTX names the layer it repairs with repaired-rtp-stream-id.
        let rtx = Source::Rtx { stream: StreamKey::new(TrackId(2), 0), media_ssrc: None };
        assert_eq!(classify(&mut p, &with(52, 97, &[(3, b"1"), (5, b"q")])), Some(rtx));
        // No rid, or one the SDP did not name: not learned.
        assert_eq!(classify(&mut p, &with(53, 96, &[(3, b"1")])), None);
        assert_eq!(classify(&mut p, &with(54, 96, &[(3, b"1"), (4, b"x")])), None);
        assert_eq!(classify(&mut p, &with(77, 96, &[])), None);
        assert_eq!(p.learned, 3);
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
            active_since: None,
            subscribers: Vec::new(),
            remote_workers: Vec::new(),
            keyframes: KeyframeRequests::default(),
            media_seen: false,
            clock_rate: 90_000,
            keyframe_codecs: Vec::new(),
            nack_negotiated: true,
            cache: PacketCache::new(16, 1500, CACHE_MAX_AGE),
            nack: None,
            nack_given_up: 0,
            reception: None,
            sender_info: None,
        };
        assert!(f.accept_source(5, t0));
        assert!(!f.accept_source(6, t0 + Duration::from_millis(100)), "a second layer");
        assert!(f.accept_source(5, t0 + Duration::from_secs(1)));
        assert!(!f.accept_source(6, t0 + Duration::from_secs(2)));
        assert!(f.accept_source(6, t0 + Duration::from_secs(1) + SOURCE_TIMEOUT));
        assert_eq!(f.source.map(|(s, _)| s), Some(6));
    }
}
