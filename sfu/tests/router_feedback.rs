//! The router's RTCP machinery end to end in memory, on a virtual clock: a publisher and a
//! subscriber (each a session with its in-memory test client), one router, and a network
//! with a fixed one-way delay and seeded loss per direction.
//!
//! - NACK shield, upstream: seeded loss between the publisher and the SFU; the SFU NACKs,
//!   the publisher answers with RTX, the retransmissions are unwrapped and the subscriber
//!   gets a gap-free stream.
//! - NACK shield, downstream: seeded loss between the SFU and the subscriber; the
//!   subscriber's NACKs are answered from the cache, as RTX when it negotiated RTX and as
//!   the original packet otherwise, and never reach the publisher.
//! - Sender reports toward the subscriber map NTP to the subscriber's RTP timestamps through
//!   the stream's timestamp offset, with packet and octet counts.
//! - Receiver reports toward the publisher carry loss, jitter and LSR/DLSR of a known
//!   pattern.
//! - Transport-wide feedback reports the arrival times the SFU saw.
//! - RTX padding probes and retransmissions of packets already received are dropped; a
//!   gap too large to repair asks for a keyframe instead of NACKs.
//! - Malformed and hostile input never panics the router.

mod session_support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rtcp::{CompoundIter, Encode, Packet};
use session_support::{Both, Options, Pair, Sink};
use sfu::directory::{MediaRoutes, SessionId, SubscriberRoute, TrackId, TrackRoute};
use sfu::negotiation::{PublishedTrack, PulledTrack, ReceiveSsrc, SessionMedia, Transceiver};
use sfu::router::{Router, REPORT_INTERVAL};
use sfu::sdp::{extension_uri, Codec, Direction, MediaKind, Msid, RtcpFeedback, SendStream};
use sfu::session::ReceivedMedia;
use sfu::worker::{DriverStats, DriverStatsSnapshot};

const PUB: SessionId = SessionId([1; 16]);
const SUB: SessionId = SessionId([2; 16]);
const TRACK: TrackId = TrackId(7);
/// The publisher's numbers (Firefox-like) and the subscriber's (the SFU's offer).
const PUB_SSRC: u32 = 0x1111_1111;
const PUB_RTX_SSRC: u32 = 0x2222_2222;
const PUB_VP8: u8 = 120;
const PUB_RTX: u8 = 124;
const SUB_SSRC: u32 = 0xaaaa_aaaa;
const SUB_RTX_SSRC: u32 = 0xbbbb_bbbb;
const SUB_VP8: u8 = 96;
const SUB_RTX: u8 = 97;
const TWCC_ID: u8 = 5;
const AUDIO_TRACK: TrackId = TrackId(8);
const PUB_AUDIO_SSRC: u32 = 0x3333_3333;
const PUB_OPUS: u8 = 109;
const SUB_AUDIO_SSRC: u32 = 0xcccc_cccc;
const SUB_OPUS: u8 = 111;
const ONE_WAY: Duration = Duration::from_millis(10);
/// The packet sender SSRC of the SFU's feedback.
const SFU_FEEDBACK_SSRC: u32 = 1;

fn codec(pt: u8, name: &str, fmtp: &str, rtx: Option<u8>) -> Codec {
    Codec {
        payload_type: pt,
        name: name.to_owned(),
        clock_rate: 90_000,
        channels: None,
        fmtp: fmtp.to_owned(),
        feedback: vec![RtcpFeedback::new("nack", None), RtcpFeedback::new("nack", Some("pli"))],
        rtx_payload_type: rtx,
    }
}

fn routes(subscriber_rtx: bool, publisher_nack: bool) -> MediaRoutes {
    let mut published = Transceiver::new("1", MediaKind::Video);
    published.direction = Direction::RecvOnly;
    published.codecs = vec![
        codec(PUB_VP8, "VP8", "", Some(PUB_RTX)),
        codec(PUB_RTX, "rtx", &format!("apt={PUB_VP8}"), None),
    ];
    if !publisher_nack {
        published.codecs[0].feedback.clear();
    }
    published.extensions = vec![(u16::from(TWCC_ID), extension_uri::TRANSPORT_CC.to_owned())];
    published.receive_ssrcs = vec![ReceiveSsrc { ssrc: PUB_SSRC, rtx: Some(PUB_RTX_SSRC) }];
    published.published = Some(PublishedTrack { name: "cam".into(), id: TRACK });
    let mut opus = codec(PUB_OPUS, "opus", "", None);
    opus.clock_rate = 48_000;
    opus.channels = Some(2);
    let mut mic = Transceiver::new("2", MediaKind::Audio);
    mic.direction = Direction::RecvOnly;
    mic.codecs = vec![opus.clone()];
    mic.receive_ssrcs = vec![ReceiveSsrc { ssrc: PUB_AUDIO_SSRC, rtx: None }];
    mic.published = Some(PublishedTrack { name: "mic".into(), id: AUDIO_TRACK });
    let publisher = Arc::new(SessionMedia { transceivers: vec![published, mic] });

    let mut pulled = Transceiver::new("0", MediaKind::Video);
    pulled.direction = Direction::SendOnly;
    pulled.codecs = if subscriber_rtx {
        vec![
            codec(SUB_VP8, "VP8", "", Some(SUB_RTX)),
            codec(SUB_RTX, "rtx", &format!("apt={SUB_VP8}"), None),
        ]
    } else {
        vec![codec(SUB_VP8, "VP8", "", None)]
    };
    pulled.send = Some(SendStream {
        ssrc: SUB_SSRC,
        rtx_ssrc: subscriber_rtx.then_some(SUB_RTX_SSRC),
        cname: "subscriber-cname".into(),
        msid: Msid::new("s", "t"),
    });
    pulled.pulled =
        Some(PulledTrack { session: PUB, name: "cam".into(), id: TRACK, simulcast: None });
    let mut audio = Transceiver::new("1", MediaKind::Audio);
    audio.direction = Direction::SendOnly;
    opus.payload_type = SUB_OPUS;
    audio.codecs = vec![opus];
    audio.send = Some(SendStream {
        ssrc: SUB_AUDIO_SSRC,
        rtx_ssrc: None,
        cname: "subscriber-cname".into(),
        msid: Msid::new("s", "a"),
    });
    audio.pulled =
        Some(PulledTrack { session: PUB, name: "mic".into(), id: AUDIO_TRACK, simulcast: None });
    let subscriber = Arc::new(SessionMedia { transceivers: vec![pulled, audio] });
    MediaRoutes {
        generation: 1,
        sessions: vec![(PUB, publisher.clone()), (SUB, subscriber)],
        tracks: vec![
            TrackRoute {
                id: TRACK,
                publisher: PUB,
                publisher_owner: Some(0),
                mid: "1".into(),
                publisher_media: publisher.clone(),
                subscribers: vec![SubscriberRoute {
                    session: SUB,
                    mid: "0".into(),
                    owner: Some(0),
                }],
            },
            TrackRoute {
                id: AUDIO_TRACK,
                publisher: PUB,
                publisher_owner: Some(0),
                mid: "2".into(),
                publisher_media: publisher,
                subscribers: vec![SubscriberRoute {
                    session: SUB,
                    mid: "1".into(),
                    owner: Some(0),
                }],
            },
        ],
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Leg {
    PubToSfu,
    SfuToPub,
    SubToSfu,
    SfuToSub,
}

/// Publisher, subscriber, router and the network between them.
struct Net {
    publisher: Pair,
    subscriber: Pair,
    router: Router,
    stats: Arc<DriverStats>,
    now: Instant,
    rng: SmallRng,
    /// Loss on RTP (not STUN, not RTCP) from the publisher, and on RTP to the subscriber.
    loss_up: f64,
    loss_down: f64,
    /// Extra delay of the publisher's next datagram (for jitter).
    extra_delay: Duration,
    /// Drops the publisher's RTP with these sequence numbers (a known pattern).
    drop_up: BTreeSet<u16>,
    in_flight: BTreeMap<(Instant, u64), (Leg, Vec<u8>)>,
    next_id: u64,
    /// When the SFU received each transport-wide sequence number.
    twcc_arrivals: HashMap<u16, Instant>,
    lost_up: BTreeSet<u16>,
    lost_audio_up: BTreeSet<u16>,
    lost_down: u64,
}

fn is_srtp(d: &[u8]) -> bool {
    d.len() >= 12 && (128..192).contains(&d[0]) && !(64..96).contains(&(d[1] & 0x7f))
}

impl Net {
    fn new(seed: u64, subscriber_rtx: bool) -> Net {
        Net::with(seed, subscriber_rtx, true)
    }

    fn with(seed: u64, subscriber_rtx: bool, publisher_nack: bool) -> Net {
        let mut publisher = Pair::new(Options { seed, ..Options::default() });
        publisher.connect();
        let mut subscriber = Pair::new(Options { seed: seed + 1000, ..Options::default() });
        subscriber.connect();
        let now = publisher.now.max(subscriber.now);
        let stats = Arc::new(DriverStats::default());
        let mut router = Router::new(0, Duration::from_millis(500), stats.clone());
        router.refresh(routes(subscriber_rtx, publisher_nack));
        let mut net = Net {
            publisher,
            subscriber,
            router,
            stats,
            now,
            rng: SmallRng::seed_from_u64(seed),
            loss_up: 0.0,
            loss_down: 0.0,
            extra_delay: Duration::ZERO,
            drop_up: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            next_id: 0,
            twcc_arrivals: HashMap::new(),
            lost_up: BTreeSet::new(),
            lost_audio_up: BTreeSet::new(),
            lost_down: 0,
        };
        net.publisher.now = now;
        net.subscriber.now = now;
        let mut sink = Sink::default();
        let mut both = Both {
            ids: (PUB, SUB),
            publisher: &mut net.publisher.session,
            subscriber: &mut net.subscriber.session,
        };
        net.router.start_streams(now, &mut both, &mut sink);
        net.collect(sink);
        net
    }

    fn stats(&self) -> DriverStatsSnapshot {
        self.stats.snapshot()
    }

    fn push(&mut self, leg: Leg, delay: Duration, datagram: Vec<u8>) {
        self.next_id += 1;
        self.in_flight.insert((self.now + delay, self.next_id), (leg, datagram));
    }

    /// Moves what every side produced onto the network.
    fn collect(&mut self, sink: Sink) {
        while let Some(t) = self.publisher.client.poll_transmit() {
            if is_srtp(&t.datagram) {
                let seq = u16::from_be_bytes([t.datagram[2], t.datagram[3]]);
                let ssrc = u32::from_be_bytes(t.datagram[8..12].try_into().unwrap());
                let dropped = ssrc == PUB_SSRC && self.drop_up.remove(&seq);
                if dropped || self.rng.gen_bool(self.loss_up) {
                    if ssrc == PUB_SSRC {
                        self.lost_up.insert(seq);
                    }
                    if ssrc == PUB_AUDIO_SSRC {
                        self.lost_audio_up.insert(seq);
                    }
                    continue;
                }
            }
            let delay = ONE_WAY + std::mem::take(&mut self.extra_delay);
            self.push(Leg::PubToSfu, delay, t.datagram);
        }
        while let Some(t) = self.publisher.session.poll_transmit() {
            self.push(Leg::SfuToPub, ONE_WAY, t.datagram);
        }
        while let Some(t) = self.subscriber.client.poll_transmit() {
            self.push(Leg::SubToSfu, ONE_WAY, t.datagram);
        }
        while let Some(t) = self.subscriber.session.poll_transmit() {
            self.push(Leg::SfuToSub, ONE_WAY, t.datagram);
        }
        for datagram in sink.0 {
            if self.rng.gen_bool(self.loss_down) {
                self.lost_down += 1;
                continue;
            }
            self.push(Leg::SfuToSub, ONE_WAY, datagram);
        }
    }

    fn deliver(&mut self, leg: Leg, mut datagram: Vec<u8>) {
        let now = self.now;
        let mut sink = Sink::default();
        let (sfu, browser) = (self.publisher.sfu, self.publisher.browser);
        match leg {
            Leg::SfuToPub => self.publisher.client.handle_receive(now, browser, sfu, &datagram),
            Leg::SfuToSub => self.subscriber.client.handle_receive(now, browser, sfu, &datagram),
            Leg::PubToSfu | Leg::SubToSfu => {
                let (id, session) = if leg == Leg::PubToSfu {
                    (PUB, &mut self.publisher.session)
                } else {
                    (SUB, &mut self.subscriber.session)
                };
                let media = session.handle_receive(now, sfu, browser, &mut datagram);
                let mut both = Both {
                    ids: (PUB, SUB),
                    publisher: &mut self.publisher.session,
                    subscriber: &mut self.subscriber.session,
                };
                match media {
                    Some(ReceivedMedia::Rtp { len }) => {
                        let packet = &datagram[..len];
                        let view = rtp::RtpPacket::new_checked(packet).unwrap();
                        if let Some(&[a, b]) = view.extension(TWCC_ID) {
                            self.twcc_arrivals.insert(u16::from_be_bytes([a, b]), now);
                        }
                        self.router.on_rtp(now, id, packet, &mut both, &mut sink);
                    }
                    Some(ReceivedMedia::Rtcp { len }) => {
                        self.router.on_rtcp(now, id, &datagram[..len], &mut both, &mut sink);
                    }
                    None => {}
                }
            }
        }
        self.collect(sink);
    }

    /// Delivers everything and fires every timer up to `until`.
    fn run_until(&mut self, until: Instant) {
        loop {
            self.collect(Sink::default());
            let next_delivery = self.in_flight.keys().next().map(|(at, _)| *at);
            let next = [
                next_delivery,
                self.router.poll_timeout(),
                self.publisher.session.poll_timeout(),
                self.publisher.client.poll_timeout(),
                self.subscriber.session.poll_timeout(),
                self.subscriber.client.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next.filter(|n| *n <= until) else { break };
            self.now = self.now.max(next);
            if let Some(entry) = self.in_flight.first_entry() {
                if entry.key().0 <= self.now {
                    let (leg, datagram) = entry.remove();
                    self.deliver(leg, datagram);
                    continue;
                }
            }
            let now = self.now;
            self.publisher.session.handle_timeout(now);
            self.publisher.client.handle_timeout(now);
            self.subscriber.session.handle_timeout(now);
            self.subscriber.client.handle_timeout(now);
            if self.router.poll_timeout().is_some_and(|t| t <= now) {
                let mut both = Both {
                    ids: (PUB, SUB),
                    publisher: &mut self.publisher.session,
                    subscriber: &mut self.subscriber.session,
                };
                self.router.handle_timeout(now, &mut both);
            }
        }
        self.now = until;
    }

    fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        self.run_until(until);
    }
}

/// 60 octets unique to the publisher's sequence number.
fn payload_of(seq: u16) -> Vec<u8> {
    let mut payload = seq.to_be_bytes().to_vec();
    payload.extend((0..58u8).map(|b| b.wrapping_mul(3).wrapping_add(seq as u8)));
    payload
}

/// The publisher's side: sends VP8 packets and answers the SFU's NACKs with RTX.
struct Publisher {
    first: u16,
    sent: u16,
    transport_seq: u16,
    rtx_seq: u16,
    rtcp_seen: usize,
    nacked: Vec<u16>,
}

impl Publisher {
    fn new(first: u16) -> Publisher {
        Publisher {
            first,
            sent: 0,
            transport_seq: 0,
            rtx_seq: 500,
            rtcp_seen: 0,
            nacked: Vec::new(),
        }
    }

    fn timestamp(&self, seq: u16) -> u32 {
        90_000u32.wrapping_add(u32::from(seq.wrapping_sub(self.first)) * 450)
    }

    fn send(&mut self, net: &mut Net) {
        let seq = self.first.wrapping_add(self.sent);
        self.sent += 1;
        let twcc = self.transport_seq.to_be_bytes();
        self.transport_seq = self.transport_seq.wrapping_add(1);
        let extensions: [(u8, &[u8]); 1] = [(TWCC_ID, &twcc)];
        net.publisher
            .client
            .send_rtp_with(
                &rtp::RtpHeaderWriter {
                    payload_type: PUB_VP8,
                    sequence_number: seq,
                    timestamp: self.timestamp(seq),
                    ssrc: PUB_SSRC,
                    extensions: &extensions,
                    ..rtp::RtpHeaderWriter::default()
                },
                &payload_of(seq),
            )
            .unwrap();
    }

    /// Answers every NACK received since the last call with RTX packets.
    fn answer_nacks(&mut self, net: &mut Net) {
        let received = net.publisher.client.received_rtcp().to_vec();
        for compound in &received[self.rtcp_seen..] {
            for packet in CompoundIter::new(compound) {
                let Ok(Packet::Nack(nack)) = packet else { continue };
                assert_eq!(nack.sender_ssrc(), SFU_FEEDBACK_SSRC, "only the SFU's own NACKs");
                assert_eq!(nack.media_ssrc(), PUB_SSRC);
                for seq in nack.lost_sequence_numbers() {
                    self.nacked.push(seq);
                    let mut body = seq.to_be_bytes().to_vec();
                    body.extend(payload_of(seq));
                    let twcc = self.transport_seq.to_be_bytes();
                    self.transport_seq = self.transport_seq.wrapping_add(1);
                    let extensions: [(u8, &[u8]); 1] = [(TWCC_ID, &twcc)];
                    net.publisher
                        .client
                        .send_rtp_with(
                            &rtp::RtpHeaderWriter {
                                payload_type: PUB_RTX,
                                sequence_number: self.rtx_seq,
                                timestamp: self.timestamp(seq),
                                ssrc: PUB_RTX_SSRC,
                                extensions: &extensions,
                                ..rtp::RtpHeaderWriter::default()
                            },
                            &body,
                        )
                        .unwrap();
                    self.rtx_seq = self.rtx_seq.wrapping_add(1);
                }
            }
        }
        self.rtcp_seen = received.len();
    }
}

/// The subscriber's copy of the stream: output sequence number → (timestamp, payload), from
/// originals and from RTX (unwrapped by the OSN).
fn subscriber_stream(net: &Net) -> (BTreeMap<u16, (u32, Vec<u8>)>, usize) {
    let mut stream = BTreeMap::new();
    let mut rtx = 0;
    for p in net.subscriber.client.received_rtp() {
        if p.ssrc == SUB_AUDIO_SSRC {
            continue;
        }
        if p.ssrc == SUB_SSRC {
            assert_eq!(p.payload_type, SUB_VP8);
            stream.insert(p.sequence_number, (p.timestamp, p.payload.clone()));
        } else {
            assert_eq!((p.ssrc, p.payload_type), (SUB_RTX_SSRC, SUB_RTX), "{p:?}");
            let osn = u16::from_be_bytes([p.payload[0], p.payload[1]]);
            stream.insert(osn, (p.timestamp, p.payload[2..].to_vec()));
            rtx += 1;
        }
    }
    (stream, rtx)
}

/// The subscriber's stream is the publisher's `count` packets from `first`, in one
/// continuous run of output sequence numbers, with their payloads and timestamps.
fn assert_gap_free(stream: &BTreeMap<u16, (u32, Vec<u8>)>, first: u16, count: u16) {
    assert_eq!(stream.len(), usize::from(count), "missing packets");
    // Find the output number of the publisher's first packet by its payload.
    let (&start, &(start_ts, _)) =
        stream.iter().find(|(_, (_, payload))| *payload == payload_of(first)).expect("first");
    for i in 0..count {
        let (ts, payload) = stream.get(&start.wrapping_add(i)).expect("continuous");
        assert_eq!(*payload, payload_of(first.wrapping_add(i)), "packet {i}");
        assert_eq!(ts.wrapping_sub(start_ts), u32::from(i) * 450, "timestamp of {i}");
    }
}

#[test]
fn upstream_loss_is_repaired_by_the_sfus_own_nacks() {
    for seed in [3u64, 11, 29] {
        let mut net = Net::new(seed, true);
        net.loss_up = 0.1;
        let mut publisher = Publisher::new(65_300);
        for _ in 0..500 {
            publisher.send(&mut net);
            net.advance(Duration::from_millis(5));
            publisher.answer_nacks(&mut net);
        }
        // The tail arrives (a loss after the last packet is invisible to any receiver).
        net.loss_up = 0.0;
        for _ in 0..5 {
            publisher.send(&mut net);
            net.advance(Duration::from_millis(5));
            publisher.answer_nacks(&mut net);
        }
        for _ in 0..200 {
            net.advance(Duration::from_millis(5));
            publisher.answer_nacks(&mut net);
        }
        let (stream, _) = subscriber_stream(&net);
        let stats = net.stats();
        assert!(!net.lost_up.is_empty(), "seed {seed}: the test must lose something");
        assert_gap_free(&stream, 65_300, 505);
        // Every loss was asked for and repaired once; retransmissions lost again were asked
        // for again, one round trip later at the earliest.
        assert!(stats.nacks_sent > 0, "{stats:?}");
        assert!(stats.nack_sequences_sent as usize >= net.lost_up.len());
        assert_eq!(stats.rtx_recovered as usize, net.lost_up.len(), "seed {seed}: {stats:?}");
        assert_eq!(stats.rtx_received, publisher.nacked.len() as u64 - lost_rtx(&net));
        assert_eq!(stats.nack_given_up, 0);
        let asked: BTreeSet<u16> = publisher.nacked.iter().copied().collect();
        assert_eq!(asked, net.lost_up, "seed {seed}: exactly the lost ones were asked for");
        // The subscriber lost nothing, so it asked nothing: nothing came from the cache.
        assert_eq!(stats.nacks_received, 0);
        assert_eq!(stats.rtx_sent, 0);
        eprintln!(
            "seed {seed}: lost upstream {}, NACK packets {}, numbers asked {}, RTX received {}, \
             recovered {}, duplicates {}",
            net.lost_up.len(),
            stats.nacks_sent,
            stats.nack_sequences_sent,
            stats.rtx_received,
            stats.rtx_recovered,
            stats.rtx_duplicates
        );
    }
}

/// RTX packets the network lost on the way up (the loss draws hit them too).
fn lost_rtx(net: &Net) -> u64 {
    // Every RTX sent is received unless lost: what the SFU counted plus what was lost equals
    // what the publisher sent. The loss of RTX is not tracked separately by the network, so
    // derive it from the session's counters: decrypted RTX = received by the router.
    let sent = net.publisher.client.stats().rtp_sent;
    let decrypted = net.publisher.session.stats().snapshot().rtp_decrypted;
    let lost_total = sent - decrypted;
    lost_total - net.lost_up.len() as u64
}

/// The subscriber NACKs every gap in what it received, once per 50 ms.
fn subscriber_nacks(net: &mut Net, expected: u16) {
    let (stream, _) = subscriber_stream(net);
    // The output number of the publisher's first packet (it arrived: the loss starts later);
    // the stream's numbers start anywhere and may wrap.
    let Some((&first, _)) = stream.iter().find(|(_, (_, p))| *p == payload_of(1000)) else {
        return;
    };
    let mut lost: Vec<u16> =
        (0..expected).map(|i| first.wrapping_add(i)).filter(|s| !stream.contains_key(s)).collect();
    if lost.is_empty() {
        return;
    }
    let mut pairs = Vec::new();
    rtcp::pack_nack_pairs(&mut lost, &mut pairs);
    let nack = rtcp::NackBuilder { sender_ssrc: 99, media_ssrc: SUB_SSRC, pairs: &pairs };
    let mut compound = vec![0; nack.encoded_len()];
    nack.write_to(&mut compound).unwrap();
    net.subscriber.client.send_rtcp(&compound).unwrap();
}

fn downstream(rtx: bool) {
    for seed in [5u64, 17] {
        let mut net = Net::new(seed, rtx);
        let mut publisher = Publisher::new(1000);
        for i in 0..400 {
            // The first packets arrive, so the subscriber knows where the stream starts.
            if i == 5 {
                net.loss_down = 0.1;
            }
            publisher.send(&mut net);
            net.advance(Duration::from_millis(5));
            if i % 10 == 9 && i >= 29 {
                subscriber_nacks(&mut net, i + 1 - 20);
            }
        }
        for _ in 0..20 {
            net.advance(Duration::from_millis(50));
            subscriber_nacks(&mut net, 400);
        }
        let (stream, rtx_received) = subscriber_stream(&net);
        let stats = net.stats();
        assert!(net.lost_down > 0);
        assert_gap_free(&stream, 1000, 400);
        assert!(stats.nacks_received > 0);
        assert!(stats.nack_cache_hits > 0);
        assert_eq!(stats.nack_cache_misses, 0, "{stats:?}");
        if rtx {
            assert_eq!(stats.rtx_sent, stats.nack_cache_hits);
            assert_eq!(stats.retransmissions_sent, 0);
            assert!(rtx_received > 0);
        } else {
            assert_eq!(stats.retransmissions_sent, stats.nack_cache_hits);
            assert_eq!((stats.rtx_sent, rtx_received), (0, 0));
        }
        // The publisher saw none of it.
        assert_eq!(stats.nacks_sent, 0);
        let upstream_nacks = net
            .publisher
            .client
            .received_rtcp()
            .iter()
            .flat_map(|c| CompoundIter::new(c).collect::<Vec<_>>())
            .filter(|p| matches!(p, Ok(Packet::Nack(_))))
            .count();
        assert_eq!(upstream_nacks, 0);
        eprintln!(
            "seed {seed}, rtx {rtx}: lost downstream {}, NACKs {}, cache hits {}, rtx sent {}, \
             originals resent {}",
            net.lost_down,
            stats.nacks_received,
            stats.nack_cache_hits,
            stats.rtx_sent,
            stats.retransmissions_sent
        );
    }
}

#[test]
fn downstream_loss_is_answered_from_the_cache_with_rtx() {
    downstream(true);
}

#[test]
fn downstream_loss_is_answered_with_the_original_without_rtx() {
    downstream(false);
}

/// Sender reports from `ssrc` in what `compounds` hold: (NTP, RTP, packets, octets, CNAME).
fn sender_reports(compounds: &[Vec<u8>], ssrc: u32) -> Vec<(u64, u32, u32, u32, Vec<u8>)> {
    let mut out = Vec::new();
    for compound in compounds {
        let packets: Vec<Packet<'_>> = CompoundIter::new(compound).map(Result::unwrap).collect();
        let Some(Packet::SenderReport(sr)) = packets.first() else { continue };
        if sr.ssrc() != ssrc {
            continue;
        }
        let cname = packets
            .iter()
            .find_map(|p| match p {
                Packet::Sdes(sdes) => sdes.chunks().find(|c| c.ssrc() == ssrc)?.cname(),
                _ => None,
            })
            .expect("SDES CNAME in the compound")
            .to_vec();
        out.push((
            sr.ntp_timestamp(),
            sr.rtp_timestamp(),
            sr.packet_count(),
            sr.octet_count(),
            cname,
        ));
    }
    out
}

#[test]
fn sender_reports_map_the_publishers_clock_through_the_timestamp_offset() {
    let mut net = Net::new(41, true);
    let mut publisher = Publisher::new(300);
    for _ in 0..50 {
        publisher.send(&mut net);
        net.advance(Duration::from_millis(5));
    }
    // The publisher reports: NTP 3 900 000 000.25 s is RTP 1 234 567.
    let ntp = (3_900_000_000u64 << 32) | (1 << 30);
    let sr = rtcp::SenderReportBuilder {
        ssrc: PUB_SSRC,
        ntp_timestamp: ntp,
        rtp_timestamp: 1_234_567,
        packet_count: 50,
        octet_count: 3000,
        report_blocks: &[],
    };
    let mut compound = vec![0; sr.encoded_len()];
    sr.write_to(&mut compound).unwrap();
    net.publisher.client.send_rtcp(&compound).unwrap();
    for _ in 0..250 {
        publisher.send(&mut net);
        net.advance(Duration::from_millis(5));
    }
    net.advance(REPORT_INTERVAL);
    let stats = net.stats();
    assert_eq!(stats.sender_reports_received, 1);
    assert!(stats.sender_reports_sent >= 1, "{stats:?}");

    // The stream's offset: the subscriber's timestamp of a packet minus the publisher's.
    let received = net.subscriber.client.received_rtp();
    let packet = received.iter().find(|p| p.ssrc == SUB_SSRC).unwrap();
    let seq = (0..300u16)
        .map(|i| 300u16.wrapping_add(i))
        .find(|s| payload_of(*s) == packet.payload)
        .unwrap();
    let offset = packet.timestamp.wrapping_sub(publisher.timestamp(seq));
    assert_ne!(offset, 0);

    let reports = sender_reports(net.subscriber.client.received_rtcp(), SUB_SSRC);
    assert!(!reports.is_empty());
    for (report_ntp, report_rtp, packets, octets, cname) in &reports {
        assert_eq!(cname, b"subscriber-cname");
        // The same instant on both clocks: the NTP time elapsed since the publisher's report
        // equals the RTP time elapsed, through the offset (to a tick of rounding).
        let ntp_elapsed = report_ntp.wrapping_sub(ntp);
        let ntp_ticks = (u128::from(ntp_elapsed) * 90_000) >> 32;
        let rtp_elapsed = report_rtp.wrapping_sub(1_234_567u32.wrapping_add(offset));
        assert!(
            (i128::from(rtp_elapsed) - ntp_ticks as i128).abs() <= 1,
            "rtp {rtp_elapsed} vs ntp {ntp_ticks}"
        );
        assert!(ntp_elapsed > 0 && ntp_elapsed < 3 << 32);
        // What the SFU had sent this subscriber by then: every packet (no loss), 60 octets
        // of payload each.
        assert!(*packets > 0 && *packets <= 300);
        assert_eq!(*octets, packets * 60);
    }
    let last = reports.last().unwrap();
    assert_eq!(last.2, 300);
}

#[test]
fn receiver_reports_carry_the_loss_and_jitter_of_a_known_pattern() {
    let mut net = Net::new(53, false);
    let mut publisher = Publisher::new(65_500);
    // Every tenth packet lost (and never repaired: the publisher does not answer NACKs);
    // every other packet 2 ms late (180 ticks of the 90 kHz clock); one every 5 ms (450
    // ticks, matching the timestamps).
    for i in 0..100u16 {
        if i % 10 == 5 {
            net.drop_up.insert(65_500u16.wrapping_add(i));
        }
    }
    let sr = rtcp::SenderReportBuilder {
        ssrc: PUB_SSRC,
        ntp_timestamp: 0xaaaa_1234_5678_bbbb,
        rtp_timestamp: 1,
        ..rtcp::SenderReportBuilder::default()
    };
    let mut compound = vec![0; sr.encoded_len()];
    sr.write_to(&mut compound).unwrap();
    let mut expected_jitter = 0.0f64;
    for i in 0..100u16 {
        if i % 2 == 1 {
            net.extra_delay = Duration::from_millis(2);
        }
        publisher.send(&mut net);
        net.advance(Duration::from_millis(5));
    }
    // |D| between consecutive received packets: 180 ticks whenever one is late and the
    // other is not. Packets 5, 15, ... are lost, so pairs around them are both odd/even.
    let received: Vec<u16> = (0..100u16).filter(|i| i % 10 != 5).collect();
    for pair in received.windows(2) {
        let d = if pair[0] % 2 != pair[1] % 2 { 180.0 } else { 0.0 };
        expected_jitter += (d - expected_jitter) / 16.0;
    }
    net.publisher.client.send_rtcp(&compound).unwrap();
    let before_reports = net.publisher.client.received_rtcp().len();
    net.advance(Duration::from_millis(1500));
    let stats = net.stats();
    assert!(stats.receiver_reports_sent >= 1);
    let mut blocks = Vec::new();
    for compound in &net.publisher.client.received_rtcp()[before_reports..] {
        let packets: Vec<Packet<'_>> = CompoundIter::new(compound).map(Result::unwrap).collect();
        if let Some(Packet::ReceiverReport(rr)) = packets.first() {
            if let Some(block) = rr.report_blocks().next() {
                assert!(packets.iter().any(|p| matches!(p, Packet::Sdes(_))), "CNAME sent");
                blocks.push(block.to_reception_report());
            }
        }
    }
    let block = blocks.iter().find(|b| b.last_sr != 0).expect("a report after the SR");
    assert_eq!(block.ssrc, PUB_SSRC);
    assert_eq!(block.cumulative_lost, 10);
    assert_eq!(block.extended_highest_sequence, 65_500 + 99);
    assert_eq!(block.last_sr, 0x1234_5678);
    // The report follows the SR by at most a report interval.
    assert!(block.delay_since_last_sr > 0 && block.delay_since_last_sr <= 65_536);
    let jitter = f64::from(block.jitter);
    assert!((jitter - expected_jitter).abs() <= 2.0, "{jitter} vs {expected_jitter}");
    // The fraction of the interval that contained the losses: 10 of 100.
    let first = blocks.first().unwrap();
    assert_eq!(first.fraction_lost, 25, "{blocks:?}");
}

#[test]
fn transport_feedback_reports_the_arrival_times_the_sfu_saw() {
    let mut net = Net::new(61, false);
    let mut publisher = Publisher::new(10);
    for i in 0..200u16 {
        // Loss in the middle only: the first and last numbers must arrive.
        net.loss_up = if (5..190).contains(&i) { 0.05 } else { 0.0 };
        if i % 7 == 3 {
            net.extra_delay = Duration::from_micros(1_750);
        }
        publisher.send(&mut net);
        net.advance(Duration::from_millis(5));
    }
    net.advance(Duration::from_millis(200));
    let stats = net.stats();
    assert!(stats.twcc_feedback_sent >= 10, "{stats:?}");
    let mut reported: BTreeMap<u16, Option<i64>> = BTreeMap::new();
    for compound in net.publisher.client.received_rtcp() {
        for packet in CompoundIter::new(compound) {
            let Ok(Packet::TransportCc(fb)) = packet else { continue };
            assert_eq!(fb.sender_ssrc(), SFU_FEEDBACK_SSRC);
            for status in fb.statuses() {
                reported.insert(status.sequence, status.arrival_us);
            }
        }
    }
    // Every transport sequence number is reported, received or not.
    assert_eq!(reported.len(), 200);
    let start = net.twcc_arrivals[&0];
    let base = reported[&0].expect("0 arrived");
    for seq in 0..200u16 {
        match (reported[&seq], net.twcc_arrivals.get(&seq)) {
            (Some(us), Some(at)) => {
                let expected = at.duration_since(start).as_micros() as i64;
                // Deltas are in 250 µs ticks.
                assert!((us - base - expected).abs() < 250, "{seq}: {us} vs {expected}");
            }
            (None, None) => {}
            other => panic!("{seq}: {other:?}"),
        }
    }
    assert!(reported.values().any(Option::is_none), "the test must lose some");
}

#[test]
fn probes_and_duplicate_retransmissions_are_dropped_and_heavy_loss_asks_for_a_keyframe() {
    let mut net = Net::new(71, true);
    let mut publisher = Publisher::new(100);
    for _ in 0..20 {
        publisher.send(&mut net);
        net.advance(Duration::from_millis(5));
    }
    net.advance(Duration::from_millis(50));
    let forwarded = net.stats().rtp_forwarded;
    assert_eq!(forwarded, 20);
    // A padding-only RTX packet (a bandwidth probe) and a retransmission of a packet that
    // arrived: neither reaches the subscriber.
    let header = rtp::RtpHeaderWriter {
        payload_type: PUB_RTX,
        sequence_number: 9,
        timestamp: 1,
        ssrc: PUB_RTX_SSRC,
        padding_len: 200,
        ..rtp::RtpHeaderWriter::default()
    };
    net.publisher.client.send_rtp_with(&header, &[]).unwrap();
    let mut again = 105u16.to_be_bytes().to_vec();
    again.extend(payload_of(105));
    net.publisher.client.send_rtp(PUB_RTX_SSRC, 10, 0, PUB_RTX, &again).unwrap();
    net.advance(Duration::from_millis(50));
    let stats = net.stats();
    assert_eq!(stats.rtx_received, 2);
    assert_eq!(stats.rtp_dropped_rtx, 1, "{stats:?}");
    assert_eq!(stats.rtx_duplicates, 1);
    assert_eq!(stats.rtp_forwarded, forwarded);

    // A jump of 2000 numbers cannot be repaired packet by packet: a keyframe is asked for
    // instead, and nothing of the gap is NACKed.
    net.advance(Duration::from_secs(1));
    let plis_before = net.stats().keyframe_requests_sent;
    publisher.sent += 2000;
    for _ in 0..5 {
        publisher.send(&mut net);
        net.advance(Duration::from_millis(5));
    }
    net.advance(Duration::from_millis(100));
    let stats = net.stats();
    assert_eq!(stats.keyframe_requests_sent, plis_before + 1, "{stats:?}");
    assert_eq!(stats.nacks_sent, 0);
}

/// Malformed and hostile input, as a session would hand it over after decryption, never
/// panics the router: random bytes, truncated headers, RTX without an original sequence
/// number, NACKs naming every packet, sender reports of unknown sources.
#[test]
fn malformed_input_never_panics_the_router() {
    let mut net = Net::new(83, true);
    let mut publisher = Publisher::new(40_000);
    for _ in 0..50 {
        publisher.send(&mut net);
        net.advance(Duration::from_millis(5));
    }
    let mut rng = SmallRng::seed_from_u64(83);
    let mut sink = Sink::default();
    for i in 0..5000u32 {
        let mut bytes: Vec<u8> = (0..rng.gen_range(0..80)).map(|_| rng.gen()).collect();
        match i % 6 {
            // An RTP-looking header of the publisher's sources, random beyond.
            0 => {
                if bytes.len() >= 12 {
                    bytes[0] = 0x80 | (bytes[0] & 0x3f);
                    bytes[1] = [PUB_VP8, PUB_RTX, 0x80 | PUB_RTX][rng.gen_range(0..3)];
                    let ssrc = [PUB_SSRC, PUB_RTX_SSRC][rng.gen_range(0..2)];
                    bytes[8..12].copy_from_slice(&ssrc.to_be_bytes());
                }
            }
            // An RTX packet with 0 to 3 payload octets.
            1 => {
                bytes.clear();
                let payload: Vec<u8> = (0..rng.gen_range(0..4)).map(|_| rng.gen()).collect();
                rtp::RtpHeaderWriter {
                    payload_type: PUB_RTX,
                    sequence_number: rng.gen(),
                    ssrc: PUB_RTX_SSRC,
                    ..rtp::RtpHeaderWriter::default()
                }
                .append_packet(&payload, &mut bytes)
                .unwrap();
            }
            // A NACK naming up to 17 × 100 packets of the subscriber's stream or another.
            2 => {
                let pairs: Vec<rtcp::NackPair> = (0..rng.gen_range(1..100))
                    .map(|_| rtcp::NackPair { pid: rng.gen(), blp: rng.gen() })
                    .collect();
                let media_ssrc = [SUB_SSRC, rng.gen()][rng.gen_range(0..2)];
                let nack = rtcp::NackBuilder { sender_ssrc: 1, media_ssrc, pairs: &pairs };
                bytes = vec![0; nack.encoded_len()];
                nack.write_to(&mut bytes).unwrap();
            }
            // A sender report of a known or unknown source, maybe cut short.
            3 => {
                let sr = rtcp::SenderReportBuilder {
                    ssrc: [PUB_SSRC, rng.gen()][rng.gen_range(0..2)],
                    ntp_timestamp: rng.gen(),
                    rtp_timestamp: rng.gen(),
                    ..rtcp::SenderReportBuilder::default()
                };
                bytes = vec![0; sr.encoded_len()];
                sr.write_to(&mut bytes).unwrap();
                let cut = rng.gen_range(0..=bytes.len());
                bytes.truncate(cut);
            }
            // RTCP-looking garbage.
            _ => {
                if bytes.len() >= 2 {
                    bytes[0] = 0x80 | (bytes[0] & 0x1f);
                    bytes[1] = rng.gen_range(192..224);
                }
            }
        }
        let mut both = Both {
            ids: (PUB, SUB),
            publisher: &mut net.publisher.session,
            subscriber: &mut net.subscriber.session,
        };
        let now = net.now;
        let from = if (i / 6) % 2 == 0 { PUB } else { SUB };
        if i % 6 < 2 {
            net.router.on_rtp(now, from, &bytes, &mut both, &mut sink);
        } else {
            net.router.on_rtcp(now, from, &bytes, &mut both, &mut sink);
        }
        if i % 100 == 0 {
            net.now += Duration::from_millis(20);
            let now = net.now;
            net.router.handle_timeout(now, &mut both);
        }
    }
    let stats = net.stats();
    assert!(stats.rtp_dropped_rtx > 0, "{stats:?}");
    assert!(stats.nacks_received > 0);
    // The NACK budget per compound bounds what the hostile NACKs made the SFU send.
    assert!(sink.0.len() as u64 <= stats.nacks_received * 256);
}

#[test]
fn no_nacks_upstream_when_the_publisher_did_not_negotiate_them() {
    let mut net = Net::with(97, true, false);
    net.loss_up = 0.2;
    let mut publisher = Publisher::new(5);
    for _ in 0..100 {
        publisher.send(&mut net);
        net.advance(Duration::from_millis(5));
    }
    net.advance(Duration::from_secs(2));
    let stats = net.stats();
    assert!(!net.lost_up.is_empty());
    assert_eq!(stats.nacks_sent, 0, "{stats:?}");
    // Reports still flow.
    assert!(stats.receiver_reports_sent > 0);
}

#[test]
fn a_retransmission_ahead_of_its_lost_original_is_forwarded() {
    // Senders pad with RTX copies of their newest packet: when that packet's original was
    // lost, the copy is the first the SFU sees of it.
    let mut net = Net::new(101, true);
    let mut publisher = Publisher::new(700);
    for _ in 0..10 {
        publisher.send(&mut net);
        net.advance(Duration::from_millis(5));
    }
    net.drop_up.insert(710);
    publisher.send(&mut net);
    let mut body = 710u16.to_be_bytes().to_vec();
    body.extend(payload_of(710));
    net.publisher
        .client
        .send_rtp(PUB_RTX_SSRC, 3, publisher.timestamp(710), PUB_RTX, &body)
        .unwrap();
    net.advance(Duration::from_millis(5));
    for _ in 0..5 {
        publisher.send(&mut net);
        net.advance(Duration::from_millis(5));
    }
    net.advance(Duration::from_millis(100));
    let stats = net.stats();
    assert_eq!(net.lost_up.len(), 1);
    assert_eq!(
        (stats.rtx_recovered, stats.rtx_duplicates, stats.nacks_sent),
        (1, 0, 0),
        "{stats:?}"
    );
    let (stream, _) = subscriber_stream(&net);
    assert_gap_free(&stream, 700, 16);
}

#[test]
fn audio_loss_is_repaired_by_retransmission_in_original_form() {
    let mut net = Net::new(113, true);
    net.loss_up = 0.1;
    let mut rtcp_seen = 0;
    let send = |net: &mut Net, seq: u16| {
        net.publisher
            .client
            .send_rtp(PUB_AUDIO_SSRC, seq, u32::from(seq) * 960, PUB_OPUS, &payload_of(seq))
            .unwrap();
    };
    let mut resent = 0;
    for i in 0..300u16 {
        if i == 295 {
            net.loss_up = 0.0;
        }
        send(&mut net, 2000 + i);
        net.advance(Duration::from_millis(20));
        // Audio has no RTX here: the publisher sends the packet again as it was.
        let received = net.publisher.client.received_rtcp().to_vec();
        for compound in &received[rtcp_seen..] {
            for packet in CompoundIter::new(compound) {
                let Ok(Packet::Nack(nack)) = packet else { continue };
                assert_eq!(nack.media_ssrc(), PUB_AUDIO_SSRC);
                for seq in nack.lost_sequence_numbers() {
                    send(&mut net, seq);
                    resent += 1;
                }
            }
        }
        rtcp_seen = received.len();
    }
    net.advance(Duration::from_secs(1));
    let stats = net.stats();
    let audio: BTreeMap<u16, Vec<u8>> = net
        .subscriber
        .client
        .received_rtp()
        .iter()
        .filter(|p| p.ssrc == SUB_AUDIO_SSRC)
        .map(|p| {
            assert_eq!(p.payload_type, SUB_OPUS);
            (p.sequence_number, p.payload.clone())
        })
        .collect();
    assert!(!net.lost_audio_up.is_empty());
    assert_eq!(audio.len(), 300, "{stats:?}");
    let payloads: BTreeSet<Vec<u8>> = audio.values().cloned().collect();
    let expected: BTreeSet<Vec<u8>> = (0..300u16).map(|i| payload_of(2000 + i)).collect();
    assert_eq!(payloads, expected);
    assert_eq!(stats.rtp_late as usize, net.lost_audio_up.len(), "{stats:?}");
    assert!(resent >= net.lost_audio_up.len());
    assert_eq!(stats.rtx_received, 0);
}
