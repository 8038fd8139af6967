//! The forwarding path of one worker: a decrypted 1200-byte VP8 packet of one publisher
//! through [`Router::on_rtp`] to N subscribers (classify, loss tracking, packet cache, and
//! per subscriber: rewrite, SRTP protect, hand to the sink), against SRTP protect of the
//! same packet alone as the reference. Throughput is counted in subscriber copies, so the
//! figure reads as copies per second per core.
//!
//! `cargo bench -p sfu --bench forwarding`

#[path = "../tests/session_support/mod.rs"]
mod session_support;

use std::collections::HashMap;
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use session_support::{Options, Pair};
use sfu::directory::{MediaRoutes, SessionId, SubscriberRoute, TrackId, TrackRoute};
use sfu::negotiation::{PublishedTrack, PulledTrack, ReceiveSsrc, SessionMedia, Transceiver};
use sfu::router::{Forward, MediaSink, Router};
use sfu::sdp::{extension_uri, Codec, Direction, MediaKind, Msid, RtcpFeedback, SendStream};
use sfu::session::Session;
use sfu::worker::DriverStats;

const TRACK: TrackId = TrackId(1);
const PUB: SessionId = SessionId([0xff; 16]);
const PUB_SSRC: u32 = 0x1234_5678;

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

struct Sink {
    bytes: usize,
}

impl MediaSink for Sink {
    fn send(&mut self, _local: SocketAddr, _remote: SocketAddr, datagram: &[u8]) {
        self.bytes += datagram.len();
    }
    fn forward(&mut self, _worker: usize, _message: Forward) -> bool {
        false
    }
}

fn subscriber_id(i: usize) -> SessionId {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&(i as u64).to_be_bytes());
    SessionId(id)
}

/// A connected session (its test client is dropped: nothing is sent back).
fn connected(seed: u64) -> (Session, std::time::Instant) {
    let mut pair = Pair::new(Options { seed, ..Options::default() });
    pair.connect();
    (pair.session, pair.now)
}

fn setup(subscribers: usize) -> (Router, HashMap<SessionId, Session>, std::time::Instant) {
    let mut published = Transceiver::new("0", MediaKind::Video);
    published.direction = Direction::RecvOnly;
    published.codecs = vec![codec(96, "VP8", "", Some(97)), codec(97, "rtx", "apt=96", None)];
    published.extensions = vec![
        (3, extension_uri::SDES_MID.to_owned()),
        (5, extension_uri::TRANSPORT_CC.to_owned()),
        (4, extension_uri::ABS_SEND_TIME.to_owned()),
    ];
    published.receive_ssrcs = vec![ReceiveSsrc { ssrc: PUB_SSRC, rtx: Some(PUB_SSRC + 1) }];
    published.published = Some(PublishedTrack { name: "cam".into(), id: TRACK });
    let publisher = Arc::new(SessionMedia { transceivers: vec![published] });
    let mut sessions = HashMap::new();
    let (session, mut now) = connected(1);
    sessions.insert(PUB, session);
    let mut routes = MediaRoutes {
        generation: 1,
        sessions: vec![(PUB, publisher.clone())],
        tracks: vec![TrackRoute {
            id: TRACK,
            publisher: PUB,
            publisher_owner: Some(0),
            mid: "0".into(),
            publisher_media: publisher,
            subscribers: Vec::new(),
        }],
    };
    for i in 0..subscribers {
        let id = subscriber_id(i);
        let mut pulled = Transceiver::new("0", MediaKind::Video);
        pulled.direction = Direction::SendOnly;
        pulled.codecs = vec![codec(100, "VP8", "", Some(101)), codec(101, "rtx", "apt=100", None)];
        pulled.extensions = vec![(2, extension_uri::ABS_SEND_TIME.to_owned())];
        pulled.send = Some(SendStream {
            ssrc: 0x1000 + i as u32,
            rtx_ssrc: Some(0x2000 + i as u32),
            cname: "c".into(),
            msid: Msid::new("s", "t"),
        });
        pulled.pulled =
            Some(PulledTrack { session: PUB, name: "cam".into(), id: TRACK, simulcast: None });
        routes.sessions.push((id, Arc::new(SessionMedia { transceivers: vec![pulled] })));
        routes.tracks[0].subscribers.push(SubscriberRoute {
            session: id,
            mid: "0".into(),
            owner: Some(0),
        });
        let (session, at) = connected(100 + i as u64);
        now = now.max(at);
        sessions.insert(id, session);
    }
    let mut router = Router::new(0, Duration::from_millis(500), Arc::new(DriverStats::default()));
    router.refresh(routes);
    (router, sessions, now)
}

fn packet() -> Vec<u8> {
    let extensions: [(u8, &[u8]); 3] = [(3, b"0"), (5, &[0, 1]), (4, &[1, 2, 3])];
    let mut out = Vec::new();
    rtp::RtpHeaderWriter {
        payload_type: 96,
        sequence_number: 1,
        timestamp: 90_000,
        ssrc: PUB_SSRC,
        extensions: &extensions,
        ..rtp::RtpHeaderWriter::default()
    }
    .append_packet(&[0x5a; 1200], &mut out)
    .unwrap();
    out
}

fn forwarding(c: &mut Criterion) {
    let mut group = c.benchmark_group("forwarding");
    group.sample_size(20).measurement_time(Duration::from_secs(3));

    // Reference: SRTP protect of the packet alone, one copy.
    {
        let (mut session, _) = connected(7);
        let packet = packet();
        let mut buf = vec![0u8; packet.len() + 32];
        let mut seq = 0u16;
        group.throughput(Throughput::Elements(1));
        group.bench_function("srtp_protect_only", |b| {
            b.iter(|| {
                buf[..packet.len()].copy_from_slice(&packet);
                seq = seq.wrapping_add(1);
                buf[2..4].copy_from_slice(&seq.to_be_bytes());
                black_box(session.protect_rtp(&mut buf, packet.len()).unwrap());
            })
        });
    }

    for n in [1usize, 10, 50] {
        let (mut router, mut sessions, now) = setup(n);
        let mut sink = Sink { bytes: 0 };
        let mut packet = packet();
        let mut seq = 0u16;
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("router_on_rtp", n), &n, |b, _| {
            b.iter(|| {
                seq = seq.wrapping_add(1);
                packet[2..4].copy_from_slice(&seq.to_be_bytes());
                router.on_rtp(now, PUB, &packet, &mut sessions, &mut sink);
            })
        });
        assert!(sink.bytes > 0, "nothing was forwarded");
    }
    group.finish();
}

criterion_group!(benches, forwarding);
criterion_main!(benches);
