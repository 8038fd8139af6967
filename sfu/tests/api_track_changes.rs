//! `tracks/close` (force, with a client offer, with an SFU offer) and `tracks/update` over
//! real HTTP against an in-process server; and, with in-memory clients over loopback UDP, a
//! `tracks/update` that switches a subscriber's mid to another publisher without breaking
//! its sequence numbers.

mod api_common;

use std::time::Instant;

use api_common::{browser_answer, start, Browser, TestServer, CHROME_AV, DEADLINE, FIREFOX_AV};
use serde_json::{json, Value};
use sfu::sdp::{Direction, MediaKind, SessionDescription};
use sfu::test_client::ReceivedRtp;

/// A session that publishes Chrome's audio (mid 0) as "mic" and video (mid 1) as "cam".
async fn publisher(server: &TestServer) -> String {
    let id = server.new_empty_session().await;
    server.push(&id, CHROME_AV, &[("0", "mic"), ("1", "cam")]).await;
    id
}

/// A session that pulls `tracks` of `publisher` with the SFU's offer, answered.
async fn subscriber(server: &TestServer, publisher: &str, tracks: &[&str]) -> String {
    let id = server.new_empty_session().await;
    let items: Vec<Value> = tracks
        .iter()
        .map(|name| json!({"location": "remote", "sessionId": publisher, "trackName": name}))
        .collect();
    let body = server.tracks_new(&id, &json!({ "tracks": items })).await;
    let offer = body["sessionDescription"]["sdp"].as_str().unwrap();
    answer_offer(server, &id, offer).await;
    id
}

/// Answers an SFU offer as a browser would, through `renegotiate`.
async fn answer_offer(server: &TestServer, id: &str, offer: &str) {
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(9);
    let browser = ice::Credentials::generate(&mut rng);
    let certificate = dtls::Certificate::generate().unwrap();
    let answer = browser_answer(offer, &browser, certificate.fingerprint());
    let reply = server
        .put_json(
            &format!("sessions/{id}/renegotiate"),
            &json!({"sessionDescription": {"type": "answer", "sdp": answer}}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

async fn session(server: &TestServer, id: &str) -> Value {
    let reply = server.get(&format!("sessions/{id}")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

async fn close(server: &TestServer, id: &str, body: &Value) -> Value {
    let reply = server.put_json(&format!("sessions/{id}/tracks/close"), body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

async fn update(server: &TestServer, id: &str, body: &Value) -> Value {
    let reply = server.put_json(&format!("sessions/{id}/tracks/update"), body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

fn names(session: &Value) -> Vec<(String, String)> {
    session["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (t["trackName"].as_str().unwrap().to_owned(), t["status"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// `CHROME_AV` offered again with its video section stopped (port 0), as a browser does
/// after `transceiver.stop()`.
fn chrome_without_video() -> String {
    CHROME_AV
        .replacen("o=- 4215775240449105457 2", "o=- 4215775240449105457 3", 1)
        .replacen("m=video 9 ", "m=video 0 ", 1)
        .replacen("a=group:BUNDLE 0 1", "a=group:BUNDLE 0", 1)
}

#[tokio::test]
async fn force_close_withdraws_a_published_track_without_renegotiation() {
    let server = start(1).await;
    let publisher = publisher(&server).await;
    let subscriber = subscriber(&server, &publisher, &["cam", "mic"]).await;
    assert_eq!(
        names(&session(&server, &subscriber).await),
        [("cam".into(), "initializing".into()), ("mic".into(), "initializing".into())]
    );

    let body = close(&server, &publisher, &json!({"tracks": [{"mid": "1"}], "force": true})).await;
    assert_eq!(body, json!({"requiresImmediateRenegotiation": false, "tracks": [{"mid": "1"}]}));
    // The publisher no longer lists it; the subscriber's mid shows it inactive.
    assert_eq!(names(&session(&server, &publisher).await), [("mic".into(), "initializing".into())]);
    let tracks = names(&session(&server, &subscriber).await);
    assert_eq!(tracks[0], ("cam".into(), "inactive".into()));
    // Nobody can pull it any more, and the name is free to publish again.
    let other = server.new_empty_session().await;
    let body = server
        .tracks_new(
            &other,
            &json!({"tracks": [{"location": "remote", "sessionId": publisher, "trackName": "cam"}]}),
        )
        .await;
    assert_eq!(body["tracks"][0]["errorCode"], "not_found_track_error");
    let body = server
        .tracks_new(
            &publisher,
            &json!({"tracks": [{"location": "local", "mid": "1", "trackName": "cam"}]}),
        )
        .await;
    assert!(body["tracks"][0].get("errorCode").is_none(), "{body}");

    // A subscriber closes its pull the same way.
    let body = close(&server, &subscriber, &json!({"tracks": [{"mid": "1"}], "force": true})).await;
    assert_eq!(body["tracks"], json!([{"mid": "1"}]));
    assert_eq!(names(&session(&server, &subscriber).await), [("cam".into(), "inactive".into())]);
}

#[tokio::test]
async fn close_without_an_offer_returns_an_sfu_offer_that_stops_the_section() {
    let server = start(1).await;
    let publisher = publisher(&server).await;
    let subscriber = subscriber(&server, &publisher, &["cam", "mic"]).await;

    let body = close(&server, &subscriber, &json!({"tracks": [{"mid": "1"}]})).await;
    assert_eq!(body["requiresImmediateRenegotiation"], true);
    assert_eq!(body["sessionDescription"]["type"], "offer");
    assert_eq!(body["tracks"], json!([{"mid": "1"}]));
    let offer =
        SessionDescription::parse(body["sessionDescription"]["sdp"].as_str().unwrap()).unwrap();
    assert_eq!(offer.media.len(), 2);
    assert!(offer.media[1].is_rejected(), "mid 1 is stopped");
    assert!(!offer.media[0].is_rejected(), "mid 0 stays");
    // The pulled track is gone at once; the other stays.
    assert_eq!(
        names(&session(&server, &subscriber).await),
        [("cam".into(), "initializing".into())]
    );

    // Until the client answers, other negotiations wait.
    let reply = server
        .put_json(
            &format!("sessions/{subscriber}/tracks/close"),
            &json!({"tracks": [{"mid": "0"}]}),
        )
        .await;
    reply.assert_error(406, "invalid_params");
    answer_offer(&server, &subscriber, body["sessionDescription"]["sdp"].as_str().unwrap()).await;
    assert_eq!(
        names(&session(&server, &subscriber).await),
        [("cam".into(), "initializing".into())]
    );

    // The section that carries the BUNDLE transport is made inactive, not stopped, so the
    // browser keeps its transport.
    let body = close(&server, &subscriber, &json!({"tracks": [{"mid": "0"}]})).await;
    let offer =
        SessionDescription::parse(body["sessionDescription"]["sdp"].as_str().unwrap()).unwrap();
    assert!(!offer.media[0].is_rejected());
    assert_eq!(offer.direction(&offer.media[0]), Direction::Inactive);
    assert!(offer.media[0].ssrcs().is_empty());
    assert!(offer.media[1].is_rejected());
    answer_offer(&server, &subscriber, body["sessionDescription"]["sdp"].as_str().unwrap()).await;
    assert!(names(&session(&server, &subscriber).await).is_empty());

    // Stopped and inactive mids are not reused: the next pull gets a new one.
    let body = server
        .tracks_new(
            &subscriber,
            &json!({"tracks": [{"location": "remote", "sessionId": publisher, "trackName": "cam"}]}),
        )
        .await;
    assert_eq!(body["tracks"][0]["mid"], "2");
}

#[tokio::test]
async fn close_with_the_clients_offer_is_answered() {
    let server = start(1).await;
    let publisher = publisher(&server).await;
    let subscriber = subscriber(&server, &publisher, &["cam"]).await;

    let offer = chrome_without_video();
    let body = close(
        &server,
        &publisher,
        &json!({"tracks": [{"mid": "1"}], "sessionDescription": {"type": "offer", "sdp": offer}, "force": false}),
    )
    .await;
    assert_eq!(body["requiresImmediateRenegotiation"], false);
    assert_eq!(body["sessionDescription"]["type"], "answer");
    assert_eq!(body["tracks"], json!([{"mid": "1"}]));
    let answer =
        SessionDescription::parse(body["sessionDescription"]["sdp"].as_str().unwrap()).unwrap();
    let video = answer.media.iter().find(|m| m.kind == MediaKind::Video).unwrap();
    assert!(video.is_rejected(), "the stopped section is answered stopped");
    let audio = answer.media.iter().find(|m| m.kind == MediaKind::Audio).unwrap();
    assert!(!audio.is_rejected());
    assert_eq!(names(&session(&server, &publisher).await), [("mic".into(), "initializing".into())]);
    assert_eq!(names(&session(&server, &subscriber).await), [("cam".into(), "inactive".into())]);
}

#[tokio::test]
async fn close_reports_per_item_and_top_level_errors() {
    let server = start(1).await;
    let publisher = publisher(&server).await;
    let path = format!("sessions/{publisher}/tracks/close");

    // Per item, with HTTP 200: unknown mid, a mid given twice, a missing mid.
    let body = close(
        &server,
        &publisher,
        &json!({"tracks": [{"mid": "7"}, {"mid": "0"}, {"mid": "0"}, {}], "force": true}),
    )
    .await;
    let tracks = body["tracks"].as_array().unwrap();
    assert_eq!(tracks[0]["errorCode"], "close_track_error");
    assert!(tracks[1].get("errorCode").is_none());
    assert_eq!(tracks[2]["errorCode"], "close_track_error");
    assert_eq!(tracks[3]["errorCode"], "close_track_error");
    // A mid that carries nothing any more.
    let body = close(&server, &publisher, &json!({"tracks": [{"mid": "0"}], "force": true})).await;
    assert_eq!(body["tracks"][0]["errorCode"], "close_track_error");

    server.put_json(&path, &json!({"tracks": {}})).await.assert_error(400, "decoding_error");
    server
        .put_json(&path, &json!({"force": "yes", "tracks": []}))
        .await
        .assert_error(400, "decoding_error");
    server.put_json(&path, &json!({})).await.assert_error(400, "decoding_error");
    server
        .put_json(
            &path,
            &json!({"tracks": [{"mid": "1"}], "force": true, "sessionDescription": {"type": "offer", "sdp": CHROME_AV}}),
        )
        .await
        .assert_error(406, "invalid_params");
    server
        .put_json("sessions/00000000000000000000000000000000/tracks/close", &json!({"tracks": []}))
        .await
        .assert_error(404, "not_found");
    let reply = server.post_json(&path, &json!({"tracks": []})).await;
    assert_eq!(reply.status, 405);
}

#[tokio::test]
async fn update_swaps_the_track_a_mid_pulls() {
    let server = start(1).await;
    let first = publisher(&server).await;
    let second = publisher(&server).await;
    let subscriber = subscriber(&server, &first, &["cam", "mic"]).await;

    let body = update(
        &server,
        &subscriber,
        &json!({"tracks": [
            {"location": "remote", "mid": "0", "sessionId": second, "trackName": "cam",
             "simulcast": {"preferredRid": "h"}},
            {"location": "remote", "mid": "1", "sessionId": second, "trackName": "cam"},
            {"location": "remote", "mid": "0", "sessionId": second, "trackName": "cam"},
            {"location": "remote", "mid": "5", "sessionId": second, "trackName": "cam"},
        ]}),
    )
    .await;
    assert_eq!(body["requiresImmediateRenegotiation"], false);
    let tracks = body["tracks"].as_array().unwrap();
    assert_eq!(
        tracks[0],
        json!({"location": "remote", "mid": "0", "sessionId": second, "trackName": "cam"})
    );
    assert_eq!(tracks[1]["errorCode"], "update_track_error", "video into an audio mid");
    assert_eq!(tracks[2]["errorCode"], "update_track_error", "mid 0 twice");
    assert_eq!(tracks[3]["errorCode"], "update_track_error", "no mid 5");
    let body = update(
        &server,
        &subscriber,
        &json!({"tracks": [{"mid": "1", "sessionId": second, "trackName": "nope"}]}),
    )
    .await;
    assert_eq!(body["tracks"][0]["errorCode"], "not_found_track_error");

    let info = session(&server, &subscriber).await;
    assert_eq!(info["tracks"][0]["sessionId"], second.as_str());
    assert_eq!(info["tracks"][0]["trackName"], "cam");
    assert_eq!(
        info["tracks"][0]["simulcast"],
        json!({"preferredRid": "h", "priorityOrdering": "none", "ridNotAvailable": "none"})
    );
    assert_eq!(info["tracks"][1]["sessionId"], first.as_str());
    assert!(info["tracks"][1].get("simulcast").is_none());

    // The same track without a simulcast object keeps its choice; a new one replaces it.
    update(
        &server,
        &subscriber,
        &json!({"tracks": [{"mid": "0", "sessionId": second, "trackName": "cam"}]}),
    )
    .await;
    let info = session(&server, &subscriber).await;
    assert_eq!(info["tracks"][0]["simulcast"]["preferredRid"], "h");
    update(
        &server,
        &subscriber,
        &json!({"tracks": [{"mid": "0", "sessionId": second, "trackName": "cam",
            "simulcast": {"preferredRid": "f", "fallbackStrategy": "simulcastLayerBelow"}}]}),
    )
    .await;
    let info = session(&server, &subscriber).await;
    assert_eq!(
        info["tracks"][0]["simulcast"],
        json!({"preferredRid": "f", "priorityOrdering": "none", "ridNotAvailable": "asciibetical"})
    );

    let path = format!("sessions/{subscriber}/tracks/update");
    server
        .put_json(&path, &json!({"tracks": [{"location": "local", "mid": "0"}]}))
        .await
        .assert_error(400, "decoding_error");
    for bad in [
        json!(3),
        json!({"preferredRid": "a b"}),
        json!({"ridNotAvailable": "nextPriority"}),
        json!({"priorityOrdering": 1}),
    ] {
        server
            .put_json(&path, &json!({"tracks": [{"mid": "0", "simulcast": bad}]}))
            .await
            .assert_error(400, "decoding_error");
        // A pull refuses the same.
        server
            .post_json(
                &format!("sessions/{subscriber}/tracks/new"),
                &json!({"tracks": [{"location": "remote", "sessionId": second,
                    "trackName": "cam", "simulcast": bad}]}),
            )
            .await
            .assert_error(400, "decoding_error");
    }
    // A publisher's receiving mid pulls nothing.
    let body = update(
        &server,
        &first,
        &json!({"tracks": [{"mid": "1", "sessionId": second, "trackName": "cam"}]}),
    )
    .await;
    assert_eq!(body["tracks"][0]["errorCode"], "update_track_error");
}

/// Steps until `subscriber` received `count` RTP packets of `ssrc` in all.
async fn receive(
    publishers: &mut [&mut Browser],
    subscriber: &mut Browser,
    ssrc: u32,
    count: usize,
) -> Vec<ReceivedRtp> {
    let end = Instant::now() + DEADLINE;
    loop {
        for p in publishers.iter_mut() {
            p.step().await;
        }
        subscriber.step().await;
        let got: Vec<ReceivedRtp> =
            subscriber.client.received_rtp().iter().filter(|p| p.ssrc == ssrc).cloned().collect();
        if got.len() >= count {
            return got;
        }
        assert!(Instant::now() < end, "subscriber got {} of {count} packets", got.len());
    }
}

async fn connect(server: &TestServer, browser: &mut Browser) {
    browser.until_state(server, "connected").await;
    let end = Instant::now() + DEADLINE;
    while !browser.client.is_connected() {
        browser.step().await;
        assert!(Instant::now() < end, "the client did not connect");
    }
}

/// The Firefox fixture's video source and VP8 payload type.
const VIDEO_SSRC: u32 = 1_893_459_208;
const VP8: u8 = 120;

fn send_video(publisher: &mut Browser, first: u16, count: u16, tag: u8) {
    for i in 0..count {
        publisher
            .client
            .send_rtp_with(
                &rtp::RtpHeaderWriter {
                    payload_type: VP8,
                    sequence_number: first.wrapping_add(i),
                    timestamp: 1_000u32.wrapping_add(3_000 * u32::from(i)),
                    ssrc: VIDEO_SSRC,
                    ..rtp::RtpHeaderWriter::default()
                },
                &[tag, i as u8, 0, 0],
            )
            .unwrap();
    }
}

#[tokio::test]
async fn update_switches_the_source_and_the_sequence_numbers_run_on() {
    let server = start(1).await;
    let target = server.running.udp_addrs[0];
    let mut a = Browser::publish(&server, target, 61, FIREFOX_AV, &[("1", "cam")]).await;
    let mut b = Browser::publish(&server, target, 62, FIREFOX_AV, &[("1", "cam")]).await;
    connect(&server, &mut a).await;
    connect(&server, &mut b).await;
    let (a_id, b_id) = (a.id.clone(), b.id.clone());
    let (mut sub, offer) = Browser::subscribe(&server, target, 63, &[(&a_id, "cam")]).await;
    connect(&server, &mut sub).await;
    let ssrc = offer.media[0].ssrcs()[0].ssrc;

    send_video(&mut a, 10_000, 10, 0xaa);
    let before = receive(&mut [&mut a, &mut b], &mut sub, ssrc, 10).await;
    assert!(before.iter().all(|p| p.payload[0] == 0xaa));

    let body = update(
        &server,
        &sub.id,
        &json!({"tracks": [{"location": "remote", "mid": "0", "sessionId": b_id, "trackName": "cam"}]}),
    )
    .await;
    assert!(body["tracks"][0].get("errorCode").is_none(), "{body}");
    // Wait until the router switched (a packet of b arrives), then check the sequence.
    let end = Instant::now() + DEADLINE;
    // a goes on with its own sequence (forwarded until the router switches), b starts far
    // away in sequence numbers.
    let mut next = 500u16;
    let mut a_next = 10_010u16;
    loop {
        send_video(&mut b, next, 1, 0xbb);
        send_video(&mut a, a_next, 1, 0xaa);
        next += 1;
        a_next += 1;
        let got = receive(&mut [&mut a, &mut b], &mut sub, ssrc, 10).await;
        if got.iter().any(|p| p.payload[0] == 0xbb) {
            break;
        }
        if Instant::now() > end {
            let got: Vec<(u16, u8)> = sub
                .client
                .received_rtp()
                .iter()
                .map(|p| (p.sequence_number, p.payload[0]))
                .collect();
            panic!(
                "the update never took effect: {got:?} {:?} {:#}",
                sub.client.stats(),
                server.stats().await
            );
        }
    }
    send_video(&mut b, next, 10, 0xbb);
    let all = receive(&mut [&mut a, &mut b], &mut sub, ssrc, 20).await;
    let switched = all.iter().position(|p| p.payload[0] == 0xbb).unwrap();
    // After the switch only b's packets, one continuous run from where a's stopped.
    assert!(all[switched..].iter().all(|p| p.payload[0] == 0xbb), "a's packets after the switch");
    for pair in all.windows(2) {
        assert_eq!(pair[1].sequence_number, pair[0].sequence_number.wrapping_add(1), "{pair:?}");
    }
    // And the new publisher was asked for a keyframe.
    let plis = b
        .client
        .received_rtcp()
        .iter()
        .flat_map(|c| rtcp::CompoundIter::new(c).collect::<Vec<_>>())
        .filter(|p| matches!(p, Ok(rtcp::Packet::Pli(pli)) if pli.media_ssrc() == VIDEO_SSRC))
        .count();
    assert!(plis > 0, "no keyframe request reached the new publisher");
}
