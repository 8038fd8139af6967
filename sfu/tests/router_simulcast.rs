//! Simulcast through the router, in memory on a virtual clock: a publisher sends three VP8
//! layers (rids `q`, `h`, `f`) under one mid, the subscriber gets the one its
//! `simulcast` preference chooses, and a change of preference, or a layer the publisher
//! stops sending, switches it at a keyframe of the new layer (which the router asks the
//! publisher for), with the subscriber's sequence numbers and timestamps running on.

mod session_support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtcp::{CompoundIter, Packet};
use session_support::{Both, Options, Pair, Sink};
use sfu::directory::{MediaRoutes, SessionId, SubscriberRoute, TrackId, TrackRoute};
use sfu::negotiation::{PublishedTrack, PulledTrack, SessionMedia, Transceiver};
use sfu::router::layers::{RidOrdering, SimulcastPreference};
use sfu::router::Router;
use sfu::sdp::{extension_uri, Codec, Direction, MediaKind, Msid, RtcpFeedback, SendStream};
use sfu::session::ReceivedMedia;
use sfu::worker::DriverStats;

const PUB: SessionId = SessionId([1; 16]);
const SUB: SessionId = SessionId([2; 16]);
const TRACK: TrackId = TrackId(7);
const RIDS: [&str; 3] = ["q", "h", "f"];
/// The publisher's SSRC of each layer.
const LAYER_SSRCS: [u32; 3] = [0x100, 0x200, 0x300];
const PUB_VP8: u8 = 96;
const SUB_VP8: u8 = 100;
const SUB_SSRC: u32 = 0xaaaa_aaaa;
const MID_ID: u8 = 3;
const RID_ID: u8 = 4;
/// One frame per layer this often.
const FRAME: Duration = Duration::from_millis(33);

fn codec(pt: u8) -> Codec {
    Codec {
        payload_type: pt,
        name: "VP8".to_owned(),
        clock_rate: 90_000,
        channels: None,
        fmtp: String::new(),
        feedback: vec![RtcpFeedback::new("nack", Some("pli"))],
        rtx_payload_type: None,
    }
}

fn routes(generation: u64, preference: Option<SimulcastPreference>) -> MediaRoutes {
    let mut published = Transceiver::new("1", MediaKind::Video);
    published.direction = Direction::RecvOnly;
    published.codecs = vec![codec(PUB_VP8)];
    published.extensions = vec![
        (u16::from(MID_ID), extension_uri::SDES_MID.to_owned()),
        (u16::from(RID_ID), extension_uri::SDES_RTP_STREAM_ID.to_owned()),
    ];
    published.receive_rids = RIDS.iter().map(|r| (*r).to_owned()).collect();
    published.published = Some(PublishedTrack { name: "cam".into(), id: TRACK });
    let publisher = Arc::new(SessionMedia { transceivers: vec![published] });

    let mut pulled = Transceiver::new("0", MediaKind::Video);
    pulled.direction = Direction::SendOnly;
    pulled.codecs = vec![codec(SUB_VP8)];
    pulled.send = Some(SendStream {
        ssrc: SUB_SSRC,
        rtx_ssrc: None,
        cname: "subscriber-cname".into(),
        msid: Msid::new("s", "t"),
    });
    pulled.pulled =
        Some(PulledTrack { session: PUB, name: "cam".into(), id: TRACK, simulcast: preference });
    let subscriber = Arc::new(SessionMedia { transceivers: vec![pulled] });
    MediaRoutes {
        generation,
        sessions: vec![(PUB, publisher.clone()), (SUB, subscriber)],
        tracks: vec![TrackRoute {
            id: TRACK,
            publisher: PUB,
            publisher_owner: Some(0),
            mid: "1".into(),
            publisher_media: publisher,
            subscribers: vec![SubscriberRoute { session: SUB, mid: "0".into(), owner: Some(0) }],
        }],
    }
}

fn prefer(rid: &str, fallback: RidOrdering) -> Option<SimulcastPreference> {
    Some(SimulcastPreference {
        preferred_rid: Some(rid.to_owned()),
        priority_ordering: RidOrdering::None,
        rid_not_available: fallback,
    })
}

/// A frame as the subscriber decodes it: the layer and frame number the publisher wrote in
/// the payload, whether it is a keyframe, and the subscriber's sequence number and
/// timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Received {
    layer: u8,
    frame: u16,
    keyframe: bool,
    sequence_number: u16,
    timestamp: u32,
}

/// Publisher, subscriber and router, with datagrams delivered at once.
struct Net {
    publisher: Pair,
    subscriber: Pair,
    router: Router,
    stats: Arc<DriverStats>,
    now: Instant,
    /// Layers the publisher sends, its next frame number, each layer's next sequence number
    /// (a paused layer goes on where it stopped), and layers owing a keyframe.
    sending: [bool; 3],
    frame: u16,
    sequence: [u16; 3],
    keyframe_owed: BTreeSet<usize>,
    rtcp_seen: usize,
    /// PLIs the publisher got, by layer.
    plis: [u32; 3],
}

impl Net {
    fn new(preference: Option<SimulcastPreference>) -> Net {
        let mut publisher = Pair::new(Options { seed: 5, ..Options::default() });
        publisher.connect();
        let mut subscriber = Pair::new(Options { seed: 6, ..Options::default() });
        subscriber.connect();
        let now = publisher.now.max(subscriber.now);
        publisher.now = now;
        subscriber.now = now;
        let stats = Arc::new(DriverStats::default());
        let router = Router::new(0, Duration::from_millis(500), stats.clone());
        let mut net = Net {
            publisher,
            subscriber,
            router,
            stats,
            now,
            sending: [true; 3],
            frame: 0,
            sequence: [1000, 2000, 3000],
            keyframe_owed: (0..3).collect(),
            rtcp_seen: 0,
            plis: [0; 3],
        };
        net.refresh(routes(1, preference));
        net
    }

    /// New routes, then the streams started, as the worker does.
    fn refresh(&mut self, routes: MediaRoutes) {
        self.router.refresh(routes);
        let mut sink = Sink::default();
        let mut both = Both {
            ids: (PUB, SUB),
            publisher: &mut self.publisher.session,
            subscriber: &mut self.subscriber.session,
        };
        self.router.start_streams(self.now, &mut both, &mut sink);
        self.flush(sink);
    }

    /// Moves everything queued: the router's output to the subscriber, the SFU sessions'
    /// RTCP to the clients, and the publisher client's RTP through its session into the
    /// router.
    fn flush(&mut self, sink: Sink) {
        let (sfu, browser) = (self.publisher.sfu, self.publisher.browser);
        let now = self.now;
        for datagram in sink.0 {
            self.subscriber.client.handle_receive(now, browser, sfu, &datagram);
        }
        loop {
            let mut moved = false;
            while let Some(t) = self.publisher.session.poll_transmit() {
                self.publisher.client.handle_receive(now, browser, sfu, &t.datagram);
                moved = true;
            }
            while let Some(t) = self.subscriber.session.poll_transmit() {
                self.subscriber.client.handle_receive(now, browser, sfu, &t.datagram);
                moved = true;
            }
            while let Some(t) = self.subscriber.client.poll_transmit() {
                let mut datagram = t.datagram;
                let media =
                    self.subscriber.session.handle_receive(now, sfu, browser, &mut datagram);
                if let Some(ReceivedMedia::Rtcp { len }) = media {
                    let mut sink = Sink::default();
                    let mut both = Both {
                        ids: (PUB, SUB),
                        publisher: &mut self.publisher.session,
                        subscriber: &mut self.subscriber.session,
                    };
                    self.router.on_rtcp(now, SUB, &datagram[..len], &mut both, &mut sink);
                    for d in sink.0 {
                        self.subscriber.client.handle_receive(now, browser, sfu, &d);
                    }
                }
                moved = true;
            }
            while let Some(t) = self.publisher.client.poll_transmit() {
                let mut datagram = t.datagram;
                let media = self.publisher.session.handle_receive(now, sfu, browser, &mut datagram);
                let mut sink = Sink::default();
                let mut both = Both {
                    ids: (PUB, SUB),
                    publisher: &mut self.publisher.session,
                    subscriber: &mut self.subscriber.session,
                };
                match media {
                    Some(ReceivedMedia::Rtp { len }) => {
                        self.router.on_rtp(now, PUB, &datagram[..len], &mut both, &mut sink)
                    }
                    Some(ReceivedMedia::Rtcp { len }) => {
                        self.router.on_rtcp(now, PUB, &datagram[..len], &mut both, &mut sink)
                    }
                    None => {}
                }
                for d in sink.0 {
                    self.subscriber.client.handle_receive(now, browser, sfu, &d);
                }
                moved = true;
            }
            if !moved {
                break;
            }
        }
        self.read_plis();
    }

    /// Keyframe requests the publisher received: each owes a keyframe on its layer.
    fn read_plis(&mut self) {
        let received = self.publisher.client.received_rtcp().to_vec();
        for compound in &received[self.rtcp_seen..] {
            for packet in CompoundIter::new(compound) {
                let Ok(Packet::Pli(pli)) = packet else { continue };
                if let Some(layer) = LAYER_SSRCS.iter().position(|s| *s == pli.media_ssrc()) {
                    self.plis[layer] += 1;
                    self.keyframe_owed.insert(layer);
                }
            }
        }
        self.rtcp_seen = received.len();
    }

    /// One frame (one packet) on every layer the publisher sends, then the clock moves on
    /// by a frame with every timer fired.
    fn tick(&mut self) {
        let frame = self.frame;
        self.frame += 1;
        for layer in 0..3 {
            if !self.sending[layer] {
                continue;
            }
            let keyframe = self.keyframe_owed.remove(&layer);
            // VP8 payload descriptor (S=1, PID 0), then the frame tag's P bit (0: key).
            let mut payload = vec![0x10, if keyframe { 0x50 } else { 0x51 }, layer as u8];
            payload.extend_from_slice(&frame.to_be_bytes());
            let rid = RIDS[layer].as_bytes();
            let extensions: [(u8, &[u8]); 2] = [(MID_ID, b"1"), (RID_ID, rid)];
            self.publisher
                .client
                .send_rtp_with(
                    &rtp::RtpHeaderWriter {
                        payload_type: PUB_VP8,
                        // Each layer its own sequence and timestamp spaces.
                        sequence_number: self.sequence[layer],
                        timestamp: u32::from(frame) * 2970 + 77_777 * layer as u32,
                        ssrc: LAYER_SSRCS[layer],
                        marker: true,
                        extensions: &extensions,
                        ..rtp::RtpHeaderWriter::default()
                    },
                    &payload,
                )
                .unwrap();
            self.sequence[layer] = self.sequence[layer].wrapping_add(1);
        }
        self.flush(Sink::default());
        let until = self.now + FRAME;
        while let Some(at) = self.router.poll_timeout().filter(|t| *t <= until) {
            self.now = self.now.max(at);
            let mut both = Both {
                ids: (PUB, SUB),
                publisher: &mut self.publisher.session,
                subscriber: &mut self.subscriber.session,
            };
            self.router.handle_timeout(self.now, &mut both);
            self.flush(Sink::default());
        }
        self.now = until;
        self.publisher.now = until;
        self.subscriber.now = until;
        self.publisher.session.handle_timeout(until);
        self.publisher.client.handle_timeout(until);
        self.subscriber.session.handle_timeout(until);
        self.subscriber.client.handle_timeout(until);
        self.flush(Sink::default());
    }

    fn ticks(&mut self, n: usize) {
        for _ in 0..n {
            self.tick();
        }
    }

    /// Everything the subscriber got, in arrival order.
    fn received(&self) -> Vec<Received> {
        self.subscriber
            .client
            .received_rtp()
            .iter()
            .map(|p| {
                assert_eq!((p.ssrc, p.payload_type), (SUB_SSRC, SUB_VP8));
                assert_eq!(p.payload.len(), 5, "{p:?}");
                Received {
                    layer: p.payload[2],
                    frame: u16::from_be_bytes([p.payload[3], p.payload[4]]),
                    keyframe: p.payload[1] & 1 == 0,
                    sequence_number: p.sequence_number,
                    timestamp: p.timestamp,
                }
            })
            .collect()
    }
}

/// One output stream: sequence numbers without a gap, timestamps never going back.
fn assert_continuous(received: &[Received]) {
    for pair in received.windows(2) {
        assert_eq!(pair[1].sequence_number, pair[0].sequence_number.wrapping_add(1), "{pair:?}");
        let step = pair[1].timestamp.wrapping_sub(pair[0].timestamp);
        assert!(step > 0 && step < 900_000, "timestamp step {step}: {pair:?}");
    }
}

/// Every switch lands on a keyframe: the first packet of each run of one layer.
fn layer_runs(received: &[Received]) -> Vec<(u8, usize)> {
    let mut runs: Vec<(u8, usize)> = Vec::new();
    for (i, r) in received.iter().enumerate() {
        if runs.last().is_none_or(|(layer, _)| *layer != r.layer) {
            assert!(r.keyframe, "a run of layer {} starts without a keyframe: {r:?}", r.layer);
            runs.push((r.layer, i));
        }
    }
    runs
}

#[test]
fn the_preferred_layer_only_and_a_switch_at_its_keyframe() {
    let mut net = Net::new(prefer("h", RidOrdering::None));
    net.ticks(20);
    let received = net.received();
    assert_eq!(received.len(), 20, "one packet per frame of one layer");
    assert!(received.iter().all(|r| r.layer == 1), "{received:?}");
    assert_continuous(&received);

    // The subscriber now prefers "f": the router asks for a keyframe of layer 2 and
    // switches when it comes; meanwhile layer 1 goes on.
    let plis_before = net.plis[2];
    net.refresh(routes(2, prefer("f", RidOrdering::None)));
    assert_eq!(net.plis[2], plis_before + 1, "a keyframe request for the new layer");
    net.ticks(20);
    let received = net.received();
    // Frame 20 comes on both: layer 1's packet went first, then layer 2's keyframe.
    assert_eq!(received.len(), 41, "{received:?}");
    assert_continuous(&received);
    let runs = layer_runs(&received);
    assert_eq!(runs, vec![(1, 0), (2, 21)], "{received:?}");
    assert_eq!(received[21].frame, 20);
    assert_eq!(net.stats.snapshot().simulcast_switches, 1);

    // Without a preference: the first rid the publisher lists that it sends ("q").
    net.refresh(routes(3, None));
    net.ticks(10);
    let received = net.received();
    assert_continuous(&received);
    assert_eq!(layer_runs(&received).last().map(|r| r.0), Some(0), "{received:?}");
}

#[test]
fn a_layer_that_stops_gives_way_in_asciibetical_order() {
    let mut net = Net::new(prefer("h", RidOrdering::Asciibetical));
    net.ticks(10);
    net.sending[1] = false;
    // The stream is given up after 2 s without packets; the next choice after "h" in a-z
    // order is "q" (layer 0).
    net.ticks(90);
    let received = net.received();
    assert_continuous(&received);
    assert_eq!(layer_runs(&received).iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 0]);
    // It comes back: the preferred layer again.
    net.sending[1] = true;
    net.ticks(10);
    let received = net.received();
    assert_continuous(&received);
    assert_eq!(layer_runs(&received).iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 0, 1]);
}

#[test]
fn with_none_a_layer_that_stops_is_waited_for() {
    let mut net = Net::new(prefer("h", RidOrdering::None));
    net.ticks(10);
    net.sending[1] = false;
    net.ticks(90);
    assert_eq!(net.received().len(), 10, "nothing else while the preferred layer is away");
    net.sending[1] = true;
    net.keyframe_owed.insert(1);
    net.ticks(10);
    let received = net.received();
    assert_eq!(received.len(), 20);
    assert!(received.iter().all(|r| r.layer == 1));
    assert_continuous(&received);
}

/// The subscriber reports `fraction_lost` (of 256) on its stream, as its receiver report.
fn report_loss(net: &mut Net, fraction_lost: u8) {
    let block = rtcp::ReceptionReport {
        ssrc: SUB_SSRC,
        fraction_lost,
        cumulative_lost: 0,
        extended_highest_sequence: 0,
        jitter: 0,
        last_sr: 0,
        delay_since_last_sr: 0,
    };
    let rr = rtcp::ReceiverReportBuilder { ssrc: 0x5151, report_blocks: &[block] };
    let mut compound = Vec::new();
    rtcp::CompoundBuilder::new(&mut compound).push(&rr).unwrap();
    net.subscriber.client.send_rtcp(&compound).unwrap();
    net.flush(Sink::default());
}

#[test]
fn heavy_loss_steps_down_in_asciibetical_order_and_light_loss_back_up() {
    // rids q, h, f: in a-z order f, h, q. Preferring "f" (layer 2).
    let preference = SimulcastPreference {
        preferred_rid: Some("f".into()),
        priority_ordering: RidOrdering::Asciibetical,
        rid_not_available: RidOrdering::None,
    };
    let mut net = Net::new(Some(preference));
    net.ticks(10);
    // Two reports of 20% loss: one step down, to "h" (layer 1).
    report_loss(&mut net, 51);
    net.ticks(2);
    report_loss(&mut net, 51);
    net.ticks(10);
    // Light loss for more than 10 s: back up to "f".
    for _ in 0..12 {
        report_loss(&mut net, 0);
        net.ticks(30);
    }
    let received = net.received();
    assert_continuous(&received);
    let runs: Vec<u8> = layer_runs(&received).iter().map(|r| r.0).collect();
    assert_eq!(runs, vec![2, 1, 2], "{:?}", layer_runs(&received));

    // With "none" the same loss changes nothing.
    let mut net = Net::new(prefer("f", RidOrdering::None));
    net.ticks(10);
    for _ in 0..4 {
        report_loss(&mut net, 200);
        net.ticks(2);
    }
    net.ticks(10);
    assert!(net.received().iter().all(|r| r.layer == 2));
}
