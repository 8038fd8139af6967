//! Media forwarding end to end over loopback UDP against an in-process server: a publisher
//! client pushes audio and video, subscriber clients pull them with the SFU-offer flow
//! (`tracks/new` remote → offer → answer through `renegotiate`) and receive the packets with
//! their own SSRC, payload types and header extension ids, and continuous sequence numbers;
//! the publisher gets a keyframe request when a subscriber starts, and the subscribers'
//! PLIs collapse into at most one per interval. With two workers, a subscriber owned by
//! another worker than the publisher gets its copies through the workers' command queues.

mod api_common;

use std::time::{Duration, Instant};

use api_common::{start, Browser, TestServer, DEADLINE, FIREFOX_AV};
use rtcp::Encode;
use serde_json::Value;
use sfu::directory::SessionId;
use sfu::sdp::{extension_uri, MediaKind, SessionDescription};
use sfu::test_client::ReceivedRtp;

/// The Firefox fixture's sources and numbers: VP8 is 120 and opus 109 there, where the
/// SFU's offers use 96 and 111, so forwarding must rewrite them.
const VIDEO_SSRC: u32 = 1_893_459_208;
const AUDIO_SSRC: u32 = 3_426_548_893;
const VP8: u8 = 120;
const OPUS: u8 = 109;
/// The fixture's extension ids: mid 3 (both sections), abs-send-time 4 (video), audio
/// level 1 (audio).
const MID_ID: u8 = 3;
const ABS_SEND_TIME_ID: u8 = 4;
const AUDIO_LEVEL_ID: u8 = 1;

/// Steps until the session is connected on both sides (the SFU's side first: the client
/// completes DTLS when the SFU's last flight arrives).
async fn connect(server: &TestServer, browser: &mut Browser) {
    browser.until_state(server, "connected").await;
    let end = Instant::now() + DEADLINE;
    while !browser.client.is_connected() {
        browser.step().await;
        assert!(Instant::now() < end, "the client did not connect");
    }
}

/// Steps every browser once.
async fn step(browsers: &mut [&mut Browser]) {
    for b in browsers.iter_mut() {
        b.step().await;
    }
}

/// PLIs the publisher received for `ssrc`.
fn plis_for(browser: &Browser, ssrc: u32) -> usize {
    browser
        .client
        .received_rtcp()
        .iter()
        .flat_map(|compound| rtcp::CompoundIter::new(compound).collect::<Vec<_>>())
        .filter(|p| matches!(p, Ok(rtcp::Packet::Pli(pli)) if pli.media_ssrc() == ssrc))
        .count()
}

/// The SSRC and payload type of the SFU's `kind` section in its offer (the answer keeps
/// the offer's numbers).
fn offered(
    offer: &SessionDescription,
    kind: MediaKind,
    codec: &str,
) -> (u32, u8, Vec<(u16, String)>) {
    let m = offer.media.iter().find(|m| m.kind == kind).expect("section");
    let ssrc = m.ssrcs().first().expect("a=ssrc").ssrc;
    let pt =
        m.codecs().iter().find(|c| c.name.eq_ignore_ascii_case(codec)).expect("codec").payload_type;
    let extensions = offer.header_extensions(m).iter().map(|e| (e.id, e.uri.clone())).collect();
    (ssrc, pt, extensions)
}

fn extension_id(extensions: &[(u16, String)], uri: &str) -> Option<u8> {
    extensions.iter().find(|(_, u)| u == uri).and_then(|(id, _)| u8::try_from(*id).ok())
}

/// The publisher sends `count` VP8 packets from sequence number `first` (wrapping) and,
/// every other one, an opus packet. Returns the video payloads.
fn send_media(publisher: &mut Browser, first: u16, count: u16) -> Vec<Vec<u8>> {
    let mut payloads = Vec::new();
    for i in 0..count {
        let payload: Vec<u8> = (0..40u8).map(|b| b.wrapping_add(i as u8)).collect();
        let abs_send_time = [0x12, 0x34, i as u8];
        let extensions: [(u8, &[u8]); 2] = [(MID_ID, b"1"), (ABS_SEND_TIME_ID, &abs_send_time)];
        publisher
            .client
            .send_rtp_with(
                &rtp::RtpHeaderWriter {
                    payload_type: VP8,
                    sequence_number: first.wrapping_add(i),
                    timestamp: 90_000u32.wrapping_add(3_000 * u32::from(i)),
                    ssrc: VIDEO_SSRC,
                    marker: i % 5 == 4,
                    extensions: &extensions,
                    ..rtp::RtpHeaderWriter::default()
                },
                &payload,
            )
            .unwrap();
        payloads.push(payload);
        if i % 2 == 0 {
            let extensions: [(u8, &[u8]); 2] = [(MID_ID, b"0"), (AUDIO_LEVEL_ID, &[0x9e])];
            publisher
                .client
                .send_rtp_with(
                    &rtp::RtpHeaderWriter {
                        payload_type: OPUS,
                        sequence_number: 7_000 + i / 2,
                        timestamp: 960 * u32::from(i / 2),
                        ssrc: AUDIO_SSRC,
                        extensions: &extensions,
                        ..rtp::RtpHeaderWriter::default()
                    },
                    b"opus",
                )
                .unwrap();
        }
    }
    payloads
}

/// Steps until `subscriber` received `count` RTP packets of `ssrc`.
async fn receive(
    publisher: &mut Browser,
    subscriber: &mut Browser,
    ssrc: u32,
    count: usize,
) -> Vec<ReceivedRtp> {
    let end = Instant::now() + DEADLINE;
    loop {
        publisher.flush().await;
        step(&mut [&mut *subscriber, &mut *publisher]).await;
        let got: Vec<ReceivedRtp> =
            subscriber.client.received_rtp().iter().filter(|p| p.ssrc == ssrc).cloned().collect();
        if got.len() >= count {
            return got;
        }
        assert!(
            Instant::now() < end,
            "subscriber got {} of {count} packets of {ssrc}; stats {:?}",
            got.len(),
            subscriber.client.stats()
        );
    }
}

/// Consecutive sequence numbers, and timestamps that keep the sender's spacing.
fn assert_continuous(packets: &[ReceivedRtp], spacing: u32) {
    for pair in packets.windows(2) {
        assert_eq!(pair[1].sequence_number, pair[0].sequence_number.wrapping_add(1), "{pair:?}");
        assert_eq!(pair[1].timestamp, pair[0].timestamp.wrapping_add(spacing), "{pair:?}");
    }
}

async fn session_json(server: &TestServer, id: &str) -> Value {
    server.get(&format!("sessions/{id}")).await.json()
}

#[tokio::test]
async fn a_subscriber_receives_rewritten_media_and_keyframes_are_requested() {
    let server = start(1).await;
    let target = server.running.udp_addrs[0];
    let mut publisher =
        Browser::publish(&server, target, 1, FIREFOX_AV, &[("0", "mic"), ("1", "cam")]).await;
    connect(&server, &mut publisher).await;
    let id = publisher.id.clone();
    let (mut subscriber, offer) =
        Browser::subscribe(&server, target, 2, &[(&id, "cam"), (&id, "mic")]).await;
    connect(&server, &mut subscriber).await;
    let info = session_json(&server, &subscriber.id).await;
    assert_eq!(info["tracks"][0]["status"], "active", "{info:#}");
    assert_eq!(info["tracks"][1]["status"], "active", "{info:#}");

    // The subscriber's start asked the publisher for a keyframe of the video, by the SSRC
    // its SDP announced.
    let end = Instant::now() + DEADLINE;
    while plis_for(&publisher, VIDEO_SSRC) == 0 {
        step(&mut [&mut publisher, &mut subscriber]).await;
        assert!(Instant::now() < end, "no PLI reached the publisher");
    }
    assert_eq!(plis_for(&publisher, AUDIO_SSRC), 0, "no keyframe request for audio");

    let (video_ssrc, video_pt, extensions) = offered(&offer, MediaKind::Video, "VP8");
    let (audio_ssrc, audio_pt, audio_extensions) = offered(&offer, MediaKind::Audio, "opus");
    assert_ne!((video_pt, audio_pt), (VP8, OPUS), "the test must see a rewrite");
    let payloads = send_media(&mut publisher, 65_520, 40);
    let video = receive(&mut publisher, &mut subscriber, video_ssrc, 40).await;
    let audio = receive(&mut publisher, &mut subscriber, audio_ssrc, 20).await;

    // Video: the subscriber's SSRC and payload type, one continuous stream through the
    // publisher's wrap, the payload untouched.
    assert!(video.iter().all(|p| p.payload_type == video_pt));
    assert_continuous(&video, 3_000);
    for (packet, payload) in video.iter().zip(&payloads) {
        assert_eq!(&packet.payload, payload);
    }
    assert_eq!(video.iter().filter(|p| p.marker).count(), 8);
    // Header extensions: abs-send-time under the subscriber's id, the publisher's mid gone.
    let abs = extension_id(&extensions, extension_uri::ABS_SEND_TIME).expect("negotiated");
    for (i, packet) in video.iter().enumerate() {
        let ids: Vec<u8> = packet.extensions.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, [abs], "{packet:?}");
        assert_eq!(packet.extensions[0].1, [0x12, 0x34, i as u8]);
    }
    // Audio likewise, with the audio level kept.
    assert!(audio.iter().all(|p| p.payload_type == audio_pt && p.payload == b"opus"));
    assert_continuous(&audio, 960);
    let level = extension_id(&audio_extensions, extension_uri::AUDIO_LEVEL).expect("negotiated");
    assert!(audio.iter().all(|p| p.extensions == [(level, vec![0x9e])]), "{:?}", audio[0]);

    let stats = server.stats().await;
    assert_eq!(stats["rtp_forwarded"], 60, "{stats:#}");
    assert_eq!(stats["rtp_dropped_no_codec"], 0);
    let info = session_json(&server, &subscriber.id).await;
    assert_eq!(info["stats"]["rtp_sent"], 60);

    // Ten PLIs from the subscriber at once reach the publisher as at most two: one now (if
    // the interval since the start's request has passed) and one when it ends.
    let before = plis_for(&publisher, VIDEO_SSRC);
    for _ in 0..10 {
        let mut pli = vec![0u8; 12];
        rtcp::PliBuilder { sender_ssrc: 77, media_ssrc: video_ssrc }.write_to(&mut pli).unwrap();
        subscriber.client.send_rtcp(&pli).unwrap();
    }
    subscriber.flush().await;
    let stats =
        server.wait_for_stats("the PLIs read", |s| s["keyframe_requests_received"] == 10).await;
    assert_eq!(stats["keyframe_requests_received"], 10);
    let end = Instant::now() + DEADLINE;
    while plis_for(&publisher, VIDEO_SSRC) == before {
        step(&mut [&mut publisher, &mut subscriber]).await;
        assert!(Instant::now() < end, "the subscriber's PLIs did not reach the publisher");
    }
    // Longer than the interval, so a deferred request would have gone out.
    let settle = Instant::now() + Duration::from_millis(800);
    while Instant::now() < settle {
        step(&mut [&mut publisher, &mut subscriber]).await;
    }
    let after = plis_for(&publisher, VIDEO_SSRC) - before;
    assert!((1..=2).contains(&after), "{after} PLIs for 10 requests");
}

#[tokio::test]
async fn subscribers_on_another_worker_get_their_copies_through_the_queue() {
    let server = start(2).await;
    let target = server.running.udp_addrs[0];
    let mut publisher =
        Browser::publish(&server, target, 10, FIREFOX_AV, &[("0", "mic"), ("1", "cam")]).await;
    connect(&server, &mut publisher).await;
    let id = publisher.id.clone();
    let directory = server.running.directory().clone();
    let owner = |id: &str| directory.owner(id.parse::<SessionId>().unwrap()).flatten();
    let publisher_worker = owner(&id).expect("claimed");

    // The kernel spreads 5-tuples over the two workers by hash: add subscribers until one
    // lands on the other worker.
    let mut subscribers: Vec<(Browser, SessionDescription)> = Vec::new();
    for seed in 20..36 {
        let (mut subscriber, offer) =
            Browser::subscribe(&server, target, seed, &[(&id, "cam")]).await;
        connect(&server, &mut subscriber).await;
        let remote = owner(&subscriber.id) != Some(publisher_worker);
        subscribers.push((subscriber, offer));
        if remote {
            break;
        }
    }
    let (remote, offer) = subscribers.pop().unwrap();
    let mut remote = remote;
    assert_ne!(owner(&remote.id), Some(publisher_worker), "16 subscribers on one worker");

    // The remote subscriber's start reached the publisher as a PLI through the queue.
    let end = Instant::now() + DEADLINE;
    while plis_for(&publisher, VIDEO_SSRC) == 0 {
        step(&mut [&mut publisher, &mut remote]).await;
        assert!(Instant::now() < end, "no PLI reached the publisher");
    }

    let (video_ssrc, video_pt, _) = offered(&offer, MediaKind::Video, "VP8");
    let payloads = send_media(&mut publisher, 100, 30);
    let video = receive(&mut publisher, &mut remote, video_ssrc, 30).await;
    assert!(video.iter().all(|p| p.payload_type == video_pt));
    assert_continuous(&video, 3_000);
    assert_eq!(video.iter().map(|p| p.payload.clone()).collect::<Vec<_>>(), payloads);

    // The remote subscriber's NACK is answered by its own worker, from the copies the queue
    // brought there, in RTX form (the SFU's offer negotiated RTX): never by the publisher.
    let lost = video[7].sequence_number;
    let pairs = [rtcp::NackPair { pid: lost, blp: 0b1 }];
    let nack = rtcp::NackBuilder { sender_ssrc: 5, media_ssrc: video_ssrc, pairs: &pairs };
    let mut compound = vec![0u8; nack.encoded_len()];
    nack.write_to(&mut compound).unwrap();
    remote.client.send_rtcp(&compound).unwrap();
    remote.flush().await;
    let end = Instant::now() + DEADLINE;
    let resent = loop {
        step(&mut [&mut publisher, &mut remote]).await;
        let resent: Vec<ReceivedRtp> =
            remote.client.received_rtp().iter().filter(|p| p.ssrc != video_ssrc).cloned().collect();
        if resent.len() >= 2 {
            break resent;
        }
        assert!(Instant::now() < end, "no retransmission; stats {:?}", server.stats().await);
    };
    for (packet, original) in resent.iter().zip(&video[7..9]) {
        let osn = u16::from_be_bytes([packet.payload[0], packet.payload[1]]);
        assert_eq!(osn, original.sequence_number);
        assert_eq!(packet.payload[2..], original.payload[..]);
        assert_eq!(packet.timestamp, original.timestamp);
    }
    // Asked at once: the cache keeps packets for a few seconds only.
    let stats = server.stats().await;
    assert_eq!(stats["nack_cache_hits"], 2, "{stats:#}");
    assert_eq!(stats["rtx_sent"], 2);
    assert_eq!(stats["nacks_sent"], 0);

    // Those on the publisher's worker got theirs directly.
    for (subscriber, offer) in &mut subscribers {
        let (ssrc, _, _) = offered(offer, MediaKind::Video, "VP8");
        let got = receive(&mut publisher, subscriber, ssrc, 30).await;
        assert_continuous(&got, 3_000);
    }
    let stats = server
        .wait_for_stats("the copies counted", |s| s["media_forwarded_in"].as_u64() >= Some(30))
        .await;
    assert!(stats["media_forwarded_out"].as_u64() >= Some(30), "{stats:#}");
    assert_eq!(stats["media_dropped_queue_full"], 0);
    assert!(stats["routes_refreshed"].as_u64() > Some(0));

    // The publisher's sender report reaches the remote worker, whose subscriber then gets
    // sender reports of its own.
    publisher.client.send_sender_report(VIDEO_SSRC, 90_000, 30, 1200).unwrap();
    publisher.flush().await;
    let end = Instant::now() + DEADLINE;
    loop {
        step(&mut [&mut publisher, &mut remote]).await;
        let got = remote.client.received_rtcp().iter().any(|c| {
            rtcp::CompoundIter::new(c)
                .any(|p| matches!(p, Ok(rtcp::Packet::SenderReport(sr)) if sr.ssrc() == video_ssrc))
        });
        if got {
            break;
        }
        assert!(Instant::now() < end, "no sender report; stats {:?}", server.stats().await);
    }
}

#[tokio::test]
async fn a_pull_before_the_publisher_connects_starts_when_it_does() {
    // The subscriber connects first; the publisher's first packets still reach it, and the
    // keyframe request waits for the publisher instead of being lost.
    let server = start(1).await;
    let target = server.running.udp_addrs[0];
    let mut publisher = Browser::publish(&server, target, 40, FIREFOX_AV, &[("1", "cam")]).await;
    let id = publisher.id.clone();
    let (mut subscriber, offer) = Browser::subscribe(&server, target, 41, &[(&id, "cam")]).await;
    connect(&server, &mut subscriber).await;
    connect(&server, &mut publisher).await;
    let end = Instant::now() + DEADLINE;
    while plis_for(&publisher, VIDEO_SSRC) == 0 {
        // Media from the publisher lets a parked request go out.
        send_media(&mut publisher, 1, 1);
        step(&mut [&mut publisher, &mut subscriber]).await;
        assert!(Instant::now() < end, "no PLI reached the publisher");
    }
    let (ssrc, _, _) = offered(&offer, MediaKind::Video, "VP8");
    send_media(&mut publisher, 500, 10);
    let got = receive(&mut publisher, &mut subscriber, ssrc, 10).await;
    assert!(!got.is_empty());
}
