//! Two SFU servers in-process, cascaded over loopback UDP with a `thirdparty` session: media
//! a client publishes on server B arrives, decrypted and forwarded, at a client subscribed on
//! server A.
//!
//! Both flows the API offers without anything new:
//! - **B offers** (`b_offers_a_answers_as_third_party`): on B, a session pulls the
//!   publisher's tracks with the SFU-offer flow (`tracks/new` remote without an offer); A
//!   answers that offer with `sessions/new?thirdparty=true`; A's answer goes back to B through
//!   `renegotiate`; A names the received mids as its own local tracks with `tracks/new`
//!   (local tracks with mids, no offer).
//! - **A offers** (`a_offers_pushes_b_answers_a_pull`): on A, `sessions/new?thirdparty=true`
//!   then `tracks/new` local tracks with a `kind` (A offers receiving sections); on B, that
//!   offer is the client offer of a pull (`tracks/new` remote tracks with A's mids); B's
//!   answer goes back to A through `renegotiate`.
//!
//! In both, A's session is the full controlling ICE agent and B's an ordinary ICE-lite one;
//! a browser-like client on A then pulls the cascaded tracks and receives the publisher's
//! packets.

mod api_common;

use std::time::Instant;

use api_common::{start, Browser, TestServer, DEADLINE, FIREFOX_AV};
use serde_json::{json, Value};
use sfu::sdp::{MediaKind, SessionDescription};

/// The Firefox fixture's sources and payload types.
const VIDEO_SSRC: u32 = 1_893_459_208;
const AUDIO_SSRC: u32 = 3_426_548_893;
const VP8: u8 = 120;
const OPUS: u8 = 109;
/// The fixture's mid extension id.
const MID_ID: u8 = 3;

async fn session_json(server: &TestServer, id: &str) -> Value {
    let reply = server.get(&format!("sessions/{id}")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

/// Steps the browsers until `done` holds for the two servers' views, for at most
/// [`DEADLINE`].
async fn pump_until(
    browsers: &mut [&mut Browser],
    what: &str,
    mut done: impl FnMut(&[&mut Browser]) -> bool,
) {
    let end = Instant::now() + DEADLINE;
    loop {
        for b in browsers.iter_mut() {
            b.step().await;
        }
        if done(browsers) {
            return;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
    }
}

/// Steps the browsers until session `id` on `server` is `connected`.
async fn until_connected(browsers: &mut [&mut Browser], server: &TestServer, id: &str) -> Value {
    let end = Instant::now() + DEADLINE;
    loop {
        for b in browsers.iter_mut() {
            b.step().await;
        }
        let session = session_json(server, id).await;
        if session["connectionState"] == "connected" {
            return session;
        }
        assert!(Instant::now() < end, "session {id} not connected: {session:#}");
    }
}

/// Steps until the browser's client has its keys.
async fn connect(server: &TestServer, browser: &mut Browser) {
    browser.until_state(server, "connected").await;
    pump_until(&mut [browser], "the client's DTLS", |b| b[0].client.is_connected()).await;
}

/// The publisher sends `count` video packets and half as many audio packets.
fn send_media(publisher: &mut Browser, count: u16) {
    for i in 0..count {
        let extensions: [(u8, &[u8]); 1] = [(MID_ID, b"1")];
        publisher
            .client
            .send_rtp_with(
                &rtp::RtpHeaderWriter {
                    payload_type: VP8,
                    sequence_number: 100 + i,
                    timestamp: 3_000 * u32::from(i),
                    ssrc: VIDEO_SSRC,
                    marker: i % 5 == 4,
                    extensions: &extensions,
                    ..rtp::RtpHeaderWriter::default()
                },
                &[0x10, 0, 0, 0x9d, 1, 0x2a, i as u8],
            )
            .unwrap();
        if i % 2 == 0 {
            let extensions: [(u8, &[u8]); 1] = [(MID_ID, b"0")];
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
}

/// The SSRC of the `kind` section of an SFU offer.
fn offered_ssrc(offer: &SessionDescription, kind: MediaKind) -> u32 {
    let m = offer.media.iter().find(|m| m.kind == kind).expect("section");
    m.ssrcs().first().expect("a=ssrc").ssrc
}

/// The mid of the `kind` section of a description.
fn mid_of(description: &SessionDescription, kind: MediaKind) -> String {
    let m = description.media.iter().find(|m| m.kind == kind).expect("section");
    m.mid().expect("mid").to_owned()
}

/// A publisher on B (mic and cam), connected.
async fn publisher_on(b: &TestServer) -> Browser {
    let target = b.running.udp_addrs[0];
    let mut publisher =
        Browser::publish(b, target, 1, FIREFOX_AV, &[("0", "mic"), ("1", "cam")]).await;
    connect(b, &mut publisher).await;
    publisher
}

/// Once A's third-party session (`a_id`, which publishes `cam-b` and `mic-b`) and B's
/// session (`b_id`) are connected: a client on A pulls the cascaded tracks, the publisher
/// on B sends, and the client on A receives.
async fn media_crosses(
    a: &TestServer,
    b: &TestServer,
    publisher: &mut Browser,
    a_id: &str,
    b_id: &str,
) {
    let a_session = until_connected(&mut [&mut *publisher], a, a_id).await;
    assert_eq!(a_session["thirdParty"], true, "{a_session:#}");
    let b_session = until_connected(&mut [&mut *publisher], b, b_id).await;
    assert_eq!(b_session["thirdParty"], false, "{b_session:#}");

    let target = a.running.udp_addrs[0];
    let (mut subscriber, offer) =
        Browser::subscribe(a, target, 2, &[(a_id, "cam-b"), (a_id, "mic-b")]).await;
    connect(a, &mut subscriber).await;
    let video_ssrc = offered_ssrc(&offer, MediaKind::Video);
    let audio_ssrc = offered_ssrc(&offer, MediaKind::Audio);

    send_media(publisher, 40);
    let end = Instant::now() + DEADLINE;
    loop {
        publisher.flush().await;
        publisher.step().await;
        subscriber.step().await;
        let got = |ssrc| subscriber.client.received_rtp().iter().filter(|p| p.ssrc == ssrc).count();
        if got(video_ssrc) >= 40 && got(audio_ssrc) >= 20 {
            break;
        }
        assert!(
            Instant::now() < end,
            "the client on A got {} video and {} audio packets; A {:#}; B {:#}",
            got(video_ssrc),
            got(audio_ssrc),
            session_json(a, a_id).await,
            session_json(b, b_id).await,
        );
    }
    let audio: Vec<_> =
        subscriber.client.received_rtp().iter().filter(|p| p.ssrc == audio_ssrc).collect();
    assert!(audio.iter().all(|p| p.payload == b"opus"));
    let video: Vec<_> =
        subscriber.client.received_rtp().iter().filter(|p| p.ssrc == video_ssrc).collect();
    for (i, packet) in video.iter().take(40).enumerate() {
        assert_eq!(packet.payload, [0x10, 0, 0, 0x9d, 1, 0x2a, i as u8]);
    }
    // The counters on both hops: B sent what A decrypted.
    let a_stats = session_json(a, a_id).await["stats"].clone();
    let b_stats = session_json(b, b_id).await["stats"].clone();
    assert!(a_stats["rtp_decrypted"].as_u64().unwrap() >= 60, "{a_stats:#}");
    assert!(b_stats["rtp_sent"].as_u64().unwrap() >= 60, "{b_stats:#}");
    assert_eq!(a_stats["srtp_auth_failed"], 0, "{a_stats:#}");
}

#[tokio::test]
async fn b_offers_a_answers_as_third_party() {
    let b = start(1).await;
    // Two workers on A: the answers to A's checks may reach the worker that does not own the
    // session, which forwards them.
    let a = start(2).await;
    let mut publisher = publisher_on(&b).await;
    let publisher_id = publisher.id.clone();

    // B offers the publisher's tracks to a new session.
    let b_id = b.new_empty_session().await;
    let body = b
        .tracks_new(
            &b_id,
            &json!({"tracks": [
                {"location": "remote", "sessionId": publisher_id, "trackName": "cam"},
                {"location": "remote", "sessionId": publisher_id, "trackName": "mic"},
            ]}),
        )
        .await;
    assert_eq!(body["requiresImmediateRenegotiation"], true, "{body}");
    let b_offer = body["sessionDescription"]["sdp"].as_str().unwrap().to_owned();
    assert!(SessionDescription::parse(&b_offer).unwrap().is_ice_lite());

    // A answers as a third party: full ICE, DTLS client.
    let reply = a
        .post_json(
            "sessions/new?thirdparty=true",
            &json!({"sessionDescription": {"type": "offer", "sdp": b_offer}}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let a_id = reply.json()["sessionId"].as_str().unwrap().to_owned();
    let a_answer = reply.json()["sessionDescription"]["sdp"].as_str().unwrap().to_owned();
    let answer = SessionDescription::parse(&a_answer).unwrap();
    assert!(!answer.is_ice_lite(), "{a_answer}");
    assert!(a_answer.contains("a=setup:active"), "{a_answer}");

    let reply = b
        .put_json(
            &format!("sessions/{b_id}/renegotiate"),
            &json!({"sessionDescription": {"type": "answer", "sdp": a_answer}}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    // A publishes what it receives under its own names.
    let offer = SessionDescription::parse(&b_offer).unwrap();
    let body = a
        .tracks_new(
            &a_id,
            &json!({"tracks": [
                {"location": "local", "mid": mid_of(&offer, MediaKind::Video), "trackName": "cam-b"},
                {"location": "local", "mid": mid_of(&offer, MediaKind::Audio), "trackName": "mic-b"},
            ]}),
        )
        .await;
    for track in body["tracks"].as_array().unwrap() {
        assert!(track.get("errorCode").is_none(), "{body}");
    }

    media_crosses(&a, &b, &mut publisher, &a_id, &b_id).await;
    let driver = a.running.driver_stats();
    eprintln!(
        "A's driver: {} datagrams forwarded between its workers, {} 5-tuples",
        driver.forwarded_out, driver.five_tuples
    );
}

#[tokio::test]
async fn a_offers_pushes_b_answers_a_pull() {
    let b = start(1).await;
    let a = start(2).await;
    let mut publisher = publisher_on(&b).await;
    let publisher_id = publisher.id.clone();

    // A: a third-party session that offers two receiving sections.
    let reply = a.post_json("sessions/new?thirdparty=true", &json!({})).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let a_id = reply.json()["sessionId"].as_str().unwrap().to_owned();
    assert_eq!(session_json(&a, &a_id).await["thirdParty"], true);
    let body = a
        .tracks_new(
            &a_id,
            &json!({"tracks": [
                {"location": "local", "trackName": "cam-b", "kind": "video"},
                {"location": "local", "trackName": "mic-b", "kind": "audio"},
            ]}),
        )
        .await;
    assert_eq!(body["requiresImmediateRenegotiation"], true, "{body}");
    let a_offer = body["sessionDescription"]["sdp"].as_str().unwrap().to_owned();
    let offer = SessionDescription::parse(&a_offer).unwrap();
    assert!(!offer.is_ice_lite(), "{a_offer}");
    assert!(a_offer.contains("a=setup:actpass"), "{a_offer}");

    // B: that offer is the client offer of a pull of the publisher's tracks.
    let b_id = b.new_empty_session().await;
    let body = b
        .tracks_new(
            &b_id,
            &json!({
                "sessionDescription": {"type": "offer", "sdp": a_offer},
                "tracks": [
                    {"location": "remote", "sessionId": publisher_id, "trackName": "cam",
                     "mid": mid_of(&offer, MediaKind::Video)},
                    {"location": "remote", "sessionId": publisher_id, "trackName": "mic",
                     "mid": mid_of(&offer, MediaKind::Audio)},
                ],
            }),
        )
        .await;
    for track in body["tracks"].as_array().unwrap() {
        assert!(track.get("errorCode").is_none(), "{body}");
    }
    let b_answer = body["sessionDescription"]["sdp"].as_str().unwrap().to_owned();
    assert!(b_answer.contains("a=setup:passive"), "{b_answer}");

    // B's answer completes A's offer and gives A's session its PeerConnection.
    let reply = a
        .put_json(
            &format!("sessions/{a_id}/renegotiate"),
            &json!({"sessionDescription": {"type": "answer", "sdp": b_answer}}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    media_crosses(&a, &b, &mut publisher, &a_id, &b_id).await;
}
