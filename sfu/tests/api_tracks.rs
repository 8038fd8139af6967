//! `tracks/new` and `renegotiate` over real HTTP against an in-process server: pushes with a
//! client offer (first offer of a session created without one, autoDiscover), pulls with an
//! SFU offer and with a client offer, the track list of `GET sessions/{id}`, per-item errors
//! with HTTP 200, and the top-level errors (404, 400, 405, 406).

mod api_common;

use api_common::{browser_answer, http, start, TestServer, CHROME_AV, FIREFOX_AV, SECRET};
use serde_json::{json, Value};
use sfu::directory::SessionId;
use sfu::sdp::{Direction, MediaKind, SessionDescription};

const CHROME_RECVONLY: &str = include_str!("fixtures/chrome_152_recvonly.sdp");

/// A session that publishes Chrome's audio (mid 0) as "mic" and video (mid 1) as "cam".
async fn publisher(server: &TestServer) -> String {
    let id = server.new_empty_session().await;
    server.push(&id, CHROME_AV, &[("0", "mic"), ("1", "cam")]).await;
    id
}

fn error_code(track: &Value) -> &str {
    track["errorCode"].as_str().unwrap_or("")
}

async fn session(server: &TestServer, id: &str) -> Value {
    let reply = server.get(&format!("sessions/{id}")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

#[tokio::test]
async fn push_with_the_first_offer_of_a_session_created_without_one() {
    let server = start(1).await;
    let id = server.new_empty_session().await;
    let parsed: SessionId = id.parse().unwrap();
    assert!(!server.running.directory().get(parsed).unwrap().has_peer_connection);

    let body = server
        .tracks_new(
            &id,
            &json!({
                "sessionDescription": {"type": "offer", "sdp": CHROME_AV},
                "tracks": [
                    {"location": "local", "mid": "0", "trackName": "mic"},
                    {"location": "local", "mid": "1", "trackName": "cam"},
                ],
            }),
        )
        .await;
    assert_eq!(body["requiresImmediateRenegotiation"], false);
    assert_eq!(body["sessionDescription"]["type"], "answer");
    assert_eq!(
        body["tracks"],
        json!([
            {"location": "local", "mid": "0", "trackName": "mic", "sessionId": id},
            {"location": "local", "mid": "1", "trackName": "cam", "sessionId": id},
        ])
    );
    let answer = SessionDescription::parse(body["sessionDescription"]["sdp"].as_str().unwrap())
        .expect("the answer parses");
    assert!(answer.is_ice_lite());
    for m in &answer.media {
        assert_eq!(answer.direction(m), Direction::RecvOnly);
    }
    // The first offer created the PeerConnection.
    assert!(server.running.directory().get(parsed).unwrap().has_peer_connection);
    assert_eq!(server.stats().await["sessions_unclaimed"], 1);

    // Registered by (session, name), not connected yet.
    let info = session(&server, &id).await;
    assert_eq!(
        info["tracks"],
        json!([
            {"location": "local", "sessionId": id, "trackName": "mic", "mid": "0", "kind": "audio", "status": "initializing"},
            {"location": "local", "sessionId": id, "trackName": "cam", "mid": "1", "kind": "video", "status": "initializing"},
        ])
    );
    let track = server.running.directory().track(parsed, "cam").expect("published");
    assert_eq!(track.kind, MediaKind::Video);
    assert!(track.codecs.iter().any(|c| c.name == "VP8"));
}

#[tokio::test]
async fn push_errors_are_per_item_with_http_200() {
    let server = start(1).await;
    let id = publisher(&server).await;
    // A re-offer: the same name again, an empty name, an unknown mid, a mid twice.
    let body = server
        .tracks_new(
            &id,
            &json!({
                "sessionDescription": {"type": "offer", "sdp": CHROME_AV.replace("o=- 4215775240449105457 2", "o=- 4215775240449105457 3")},
                "tracks": [
                    {"location": "local", "mid": "0", "trackName": "mic"},
                    {"location": "local", "mid": "1"},
                    {"location": "local", "mid": "7", "trackName": "x"},
                    {"location": "local", "trackName": "y"},
                ],
            }),
        )
        .await;
    let tracks = body["tracks"].as_array().unwrap();
    assert_eq!(tracks.len(), 4);
    assert_eq!(error_code(&tracks[0]), "repeated_local_track_error");
    assert_eq!(tracks[0]["trackName"], "mic");
    assert_eq!(tracks[0]["sessionId"], id.as_str());
    assert_eq!(error_code(&tracks[1]), "empty_track_error");
    assert_eq!(error_code(&tracks[2]), "invalid_params");
    assert_eq!(error_code(&tracks[3]), "invalid_params");
    for t in tracks {
        assert!(t["errorDescription"].as_str().is_some_and(|d| !d.is_empty()), "{t}");
    }
    // Still an answer: the negotiation went through.
    assert_eq!(body["sessionDescription"]["type"], "answer");

    // Twice the same name in one batch on a new session.
    let other = server.new_empty_session().await;
    let body = server
        .tracks_new(
            &other,
            &json!({
                "sessionDescription": {"type": "offer", "sdp": FIREFOX_AV},
                "tracks": [
                    {"location": "local", "mid": "0", "trackName": "same"},
                    {"location": "local", "mid": "1", "trackName": "same"},
                ],
            }),
        )
        .await;
    assert!(body["tracks"][0].get("errorCode").is_none(), "{body}");
    assert_eq!(error_code(&body["tracks"][1]), "repeated_local_track_error");
    // A section that does not send cannot be pushed.
    let third = server.new_empty_session().await;
    let body = server
        .tracks_new(
            &third,
            &json!({
                "sessionDescription": {"type": "offer", "sdp": CHROME_RECVONLY},
                "tracks": [{"location": "local", "mid": "0", "trackName": "a"}],
            }),
        )
        .await;
    assert_eq!(error_code(&body["tracks"][0]), "invalid_params");
}

#[tokio::test]
async fn mids_negotiated_by_sessions_new_are_named_without_an_offer() {
    let server = start(1).await;
    let (id, _) = server.new_session(CHROME_AV).await;
    let body = server
        .tracks_new(
            &id,
            &json!({"tracks": [
                {"location": "local", "mid": "1", "trackName": "cam"},
                {"location": "local", "mid": "1", "trackName": "again"},
                {"location": "local", "mid": "5", "trackName": "x"},
            ]}),
        )
        .await;
    assert_eq!(body["requiresImmediateRenegotiation"], false);
    assert!(body.get("sessionDescription").is_none(), "{body}");
    assert_eq!(
        body["tracks"][0],
        json!({"location": "local", "mid": "1", "trackName": "cam", "sessionId": id})
    );
    assert_eq!(error_code(&body["tracks"][1]), "repeated_local_track_error");
    assert_eq!(error_code(&body["tracks"][2]), "invalid_params");
    // autoDiscover names the rest by their msid track id.
    let body = server.tracks_new(&id, &json!({"autoDiscover": true})).await;
    assert_eq!(
        body["tracks"],
        json!([{"location": "local", "mid": "0", "trackName": "2c7d1e4f-5a6b-4c8d-9e0f-1a2b3c4d5e6f", "sessionId": id}])
    );
    let parsed: SessionId = id.parse().unwrap();
    assert!(server.running.directory().track(parsed, "cam").is_some());
    assert!(server
        .running
        .directory()
        .track(parsed, "2c7d1e4f-5a6b-4c8d-9e0f-1a2b3c4d5e6f")
        .is_some());
    // Pullable at once.
    let subscriber = server.new_empty_session().await;
    let body = server
        .tracks_new(
            &subscriber,
            &json!({"tracks": [{"location": "remote", "sessionId": id, "trackName": "cam"}]}),
        )
        .await;
    assert_eq!(body["requiresImmediateRenegotiation"], true);
}

#[tokio::test]
async fn auto_discover_names_every_new_track_of_the_offer() {
    let server = start(1).await;
    let id = server.new_empty_session().await;
    let body = server
        .tracks_new(
            &id,
            &json!({
                "sessionDescription": {"type": "offer", "sdp": FIREFOX_AV},
                "autoDiscover": true,
            }),
        )
        .await;
    assert_eq!(
        body["tracks"],
        json!([
            {"location": "local", "mid": "0", "trackName": "{5d6e7f80-9a1b-4c2d-8e3f-4a5b6c7d8e9f}", "sessionId": id},
            {"location": "local", "mid": "1", "trackName": "{0e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b}", "sessionId": id},
        ])
    );
    let parsed: SessionId = id.parse().unwrap();
    assert!(server
        .running
        .directory()
        .track(parsed, "{0e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b}")
        .is_some());
}

#[tokio::test]
async fn pull_with_an_sfu_offer_then_renegotiate() {
    let server = start(1).await;
    let publisher = publisher(&server).await;
    let subscriber = server.new_empty_session().await;
    let body = server
        .tracks_new(
            &subscriber,
            &json!({"tracks": [
                {"location": "remote", "sessionId": publisher, "trackName": "cam"},
                {"location": "remote", "sessionId": publisher, "trackName": "mic"},
                {"location": "remote", "sessionId": publisher, "trackName": "nope"},
                {"location": "remote", "sessionId": "not-a-session", "trackName": "cam"},
            ]}),
        )
        .await;
    assert_eq!(body["requiresImmediateRenegotiation"], true);
    assert_eq!(body["sessionDescription"]["type"], "offer");
    let tracks = body["tracks"].as_array().unwrap();
    assert_eq!(
        tracks[0],
        json!({"location": "remote", "mid": "0", "trackName": "cam", "sessionId": publisher})
    );
    assert_eq!(tracks[1]["mid"], "1");
    assert_eq!(error_code(&tracks[2]), "not_found_track_error");
    assert_eq!(tracks[2]["trackName"], "nope");
    assert_eq!(error_code(&tracks[3]), "not_found_track_error");

    let offer_sdp = body["sessionDescription"]["sdp"].as_str().unwrap();
    let offer = SessionDescription::parse(offer_sdp).unwrap();
    assert!(offer.is_ice_lite());
    assert_eq!(offer.media.len(), 2);
    let video = &offer.media[0];
    assert_eq!(video.kind, MediaKind::Video);
    assert_eq!(offer.direction(video), Direction::SendOnly);
    assert_eq!(video.mid(), Some("0"));
    // Limited to what the publisher negotiated, and a source to receive.
    let names: Vec<String> = video.codecs().iter().map(|c| c.name.clone()).collect();
    assert!(names.contains(&"VP8".to_owned()), "{names:?}");
    let sources = video.ssrcs();
    assert_eq!(sources.len(), 2, "media and RTX");
    assert_eq!(video.fid_groups().len(), 1);
    let msid = video.msid().unwrap();
    assert_eq!(
        (msid.stream_id.as_str(), msid.track_id.as_deref()),
        (publisher.as_str(), Some("cam"))
    );
    assert_eq!(offer.media[1].kind, MediaKind::Audio);
    assert_eq!(offer.media[1].codecs()[0].name, "opus");

    // While the offer waits, another negotiation is refused.
    let again = server
        .post_json(
            &format!("sessions/{subscriber}/tracks/new"),
            &json!({"tracks": [{"location": "remote", "sessionId": publisher, "trackName": "mic"}]}),
        )
        .await;
    again.assert_error(406, "invalid_params");
    let info = session(&server, &subscriber).await;
    assert_eq!(info["tracks"][0]["status"], "initializing");
    assert_eq!(info["tracks"][0]["location"], "remote");

    // The client's answer completes it and creates the PeerConnection.
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(5);
    let browser = ice::Credentials::generate(&mut rng);
    let certificate = dtls::Certificate::generate().unwrap();
    let answer = browser_answer(offer_sdp, &browser, certificate.fingerprint());
    // A wrong type, and an answer to another offer, are refused.
    let reply = server
        .put_json(
            &format!("sessions/{subscriber}/renegotiate"),
            &json!({"sessionDescription": {"type": "offer", "sdp": answer}}),
        )
        .await;
    reply.assert_error(400, "decoding_error");
    let reply = server
        .put_json(
            &format!("sessions/{subscriber}/renegotiate"),
            &json!({"sessionDescription": {"type": "answer", "sdp": CHROME_AV}}),
        )
        .await;
    reply.assert_error(400, "decoding_error");
    let reply = server
        .put_json(
            &format!("sessions/{subscriber}/renegotiate"),
            &json!({"sessionDescription": {"type": "answer", "sdp": answer}}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json(), json!({}));
    let parsed: SessionId = subscriber.parse().unwrap();
    assert!(server.running.directory().get(parsed).unwrap().has_peer_connection);
    let info = session(&server, &subscriber).await;
    assert_eq!(
        info["tracks"],
        json!([
            {"location": "remote", "sessionId": publisher, "trackName": "cam", "mid": "0", "kind": "video", "status": "initializing"},
            {"location": "remote", "sessionId": publisher, "trackName": "mic", "mid": "1", "kind": "audio", "status": "initializing"},
        ])
    );
    // Nothing is pending any more.
    let reply = server
        .put_json(
            &format!("sessions/{subscriber}/renegotiate"),
            &json!({"sessionDescription": {"type": "answer", "sdp": answer}}),
        )
        .await;
    reply.assert_error(406, "invalid_params");

    // A later pull offers the sections already negotiated again, then the new one.
    let body = server
        .tracks_new(
            &subscriber,
            &json!({"tracks": [{"location": "remote", "sessionId": publisher, "trackName": "mic"}]}),
        )
        .await;
    assert_eq!(body["tracks"][0]["mid"], "2");
    let offer =
        SessionDescription::parse(body["sessionDescription"]["sdp"].as_str().unwrap()).unwrap();
    assert_eq!(offer.media.len(), 3);
    assert_eq!(offer.origin.session_version, 2);
    // The ICE credentials stay those of the PeerConnection.
    let first = SessionDescription::parse(offer_sdp).unwrap();
    assert_eq!(
        offer.ice_credentials(&offer.media[0]).map(|c| c.ufrag.to_owned()),
        first.ice_credentials(&first.media[0]).map(|c| c.ufrag.to_owned())
    );
    // Only unknown tracks: no offer, nothing pending.
    let other = server.new_empty_session().await;
    let body = server
        .tracks_new(
            &other,
            &json!({"tracks": [{"location": "remote", "sessionId": publisher, "trackName": "none"}]}),
        )
        .await;
    assert_eq!(body["requiresImmediateRenegotiation"], false);
    assert!(body.get("sessionDescription").is_none());
    assert_eq!(error_code(&body["tracks"][0]), "not_found_track_error");
}

#[tokio::test]
async fn pull_with_a_client_offer_is_answered_directly() {
    let server = start(1).await;
    let publisher = publisher(&server).await;
    let subscriber = server.new_empty_session().await;
    let body = server
        .tracks_new(
            &subscriber,
            &json!({
                "sessionDescription": {"type": "offer", "sdp": CHROME_RECVONLY},
                "tracks": [
                    {"location": "remote", "sessionId": publisher, "trackName": "mic", "mid": "0"},
                    {"location": "remote", "sessionId": publisher, "trackName": "cam", "mid": "1"},
                ],
            }),
        )
        .await;
    assert_eq!(body["requiresImmediateRenegotiation"], false);
    assert_eq!(body["sessionDescription"]["type"], "answer");
    assert_eq!(
        body["tracks"],
        json!([
            {"location": "remote", "mid": "0", "trackName": "mic", "sessionId": publisher},
            {"location": "remote", "mid": "1", "trackName": "cam", "sessionId": publisher},
        ])
    );
    let answer =
        SessionDescription::parse(body["sessionDescription"]["sdp"].as_str().unwrap()).unwrap();
    for m in answer.media.iter().take(2) {
        assert_eq!(answer.direction(m), Direction::SendOnly);
        assert!(!m.ssrcs().is_empty(), "the SFU's source is announced");
    }
    let video = &answer.media[1];
    // Only codecs the publisher negotiated.
    assert!(video
        .codecs()
        .iter()
        .filter(|c| !c.is_rtx())
        .all(|c| c.name == "VP8" || c.name == "VP9" || c.name == "H264" || c.name == "AV1"));
    let info = session(&server, &subscriber).await;
    assert_eq!(info["tracks"].as_array().unwrap().len(), 2);
    assert_eq!(info["tracks"][1]["trackName"], "cam");
    assert_eq!(info["tracks"][1]["location"], "remote");

    // Kind mismatch and unknown tracks per item.
    let other = server.new_empty_session().await;
    let body = server
        .tracks_new(
            &other,
            &json!({
                "sessionDescription": {"type": "offer", "sdp": CHROME_RECVONLY},
                "tracks": [
                    {"location": "remote", "sessionId": publisher, "trackName": "cam", "mid": "0"},
                    {"location": "remote", "sessionId": publisher, "trackName": "gone", "mid": "1"},
                ],
            }),
        )
        .await;
    assert_eq!(error_code(&body["tracks"][0]), "invalid_params");
    assert_eq!(error_code(&body["tracks"][1]), "not_found_track_error");
}

#[tokio::test]
async fn top_level_errors() {
    let server = start(1).await;
    let id = server.new_empty_session().await;
    let path = format!("sessions/{id}/tracks/new");
    // Unknown or malformed session ids, on both base paths.
    for base in ["/v1/apps/default", "/apps/default"] {
        for bad in ["00000000000000000000000000000000", "xyz"] {
            let reply = http(
                server.addr(),
                "POST",
                &format!("{base}/sessions/{bad}/tracks/new"),
                &[("Authorization", &format!("Bearer {SECRET}"))],
                b"{}",
            )
            .await;
            reply.assert_error(404, "not_found");
            let reply = http(
                server.addr(),
                "PUT",
                &format!("{base}/sessions/{bad}/renegotiate"),
                &[("Authorization", &format!("Bearer {SECRET}"))],
                json!({"sessionDescription": {"type": "answer", "sdp": CHROME_AV}})
                    .to_string()
                    .as_bytes(),
            )
            .await;
            reply.assert_error(404, "not_found");
        }
    }
    // The other base path works too.
    let reply = http(
        server.addr(),
        "POST",
        &format!("/apps/default/{path}"),
        &[("Authorization", &format!("Bearer {SECRET}"))],
        json!({"sessionDescription": {"type": "offer", "sdp": FIREFOX_AV}, "autoDiscover": true})
            .to_string()
            .as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // Wrong method, no auth.
    server.get(&path).await.assert_error(405, "method_not_allowed");
    let reply = http(server.addr(), "POST", &format!("/v1/apps/default/{path}"), &[], b"{}").await;
    reply.assert_error(401, "unauthorized");

    let fresh = server.new_empty_session().await;
    let fresh_path = format!("sessions/{fresh}/tracks/new");
    // Bad JSON, bad SDP (the line is named), bad shapes.
    let reply = http(
        server.addr(),
        "POST",
        &format!("/v1/apps/default/{fresh_path}"),
        &[("Authorization", &format!("Bearer {SECRET}"))],
        b"{not json",
    )
    .await;
    reply.assert_error(400, "decoding_error");
    let broken = CHROME_AV.replacen("a=rtpmap:111 opus/48000/2", "a=rtpmap:abc opus/48000/2", 1);
    let description = server
        .post_json(&fresh_path, &json!({"sessionDescription": {"type": "offer", "sdp": broken}}))
        .await
        .assert_error(400, "decoding_error");
    assert!(description.contains("rtpmap"), "{description}");
    server
        .post_json(&fresh_path, &json!({"tracks": [{"location": "up"}]}))
        .await
        .assert_error(400, "decoding_error");
    // Mixed batches, too many tracks, pushes without an offer, nothing at all.
    server
        .post_json(
            &fresh_path,
            &json!({"tracks": [{"location": "local", "mid": "0", "trackName": "a"}, {"location": "remote", "sessionId": id, "trackName": "b"}]}),
        )
        .await
        .assert_error(406, "invalid_params");
    let many: Vec<Value> = (0..=sfu::api::MAX_TRACKS_PER_CALL)
        .map(|i| json!({"location": "remote", "sessionId": id, "trackName": format!("t{i}")}))
        .collect();
    server
        .post_json(&fresh_path, &json!({ "tracks": many }))
        .await
        .assert_error(406, "invalid_params");
    // Without an offer, a local track must name a negotiated mid: this session has none.
    let body = server
        .tracks_new(
            &fresh,
            &json!({"tracks": [{"location": "local", "mid": "0", "trackName": "a"}]}),
        )
        .await;
    assert_eq!(error_code(&body["tracks"][0]), "invalid_params");
    server
        .post_json(
            &fresh_path,
            &json!({"autoDiscover": true, "tracks": [{"location": "remote", "sessionId": id, "trackName": "b"}]}),
        )
        .await
        .assert_error(406, "invalid_params");
    server.post_json(&fresh_path, &json!({})).await.assert_error(406, "invalid_params");
    // Exactly 64 unknown tracks is a valid batch: 64 per-item errors.
    let sixty_four: Vec<Value> = (0..sfu::api::MAX_TRACKS_PER_CALL)
        .map(|i| json!({"location": "remote", "sessionId": id, "trackName": format!("t{i}")}))
        .collect();
    let body = server.tracks_new(&fresh, &json!({ "tracks": sixty_four })).await;
    assert_eq!(body["tracks"].as_array().unwrap().len(), 64);
    // renegotiate without anything pending, or without a description.
    let renegotiate = format!("sessions/{fresh}/renegotiate");
    server
        .put_json(
            &renegotiate,
            &json!({"sessionDescription": {"type": "answer", "sdp": CHROME_AV}}),
        )
        .await
        .assert_error(406, "invalid_params");
    server.put_json(&renegotiate, &json!({})).await.assert_error(400, "decoding_error");
    server.post_json(&renegotiate, &json!({})).await.assert_error(405, "method_not_allowed");
}

#[tokio::test]
async fn negotiations_on_one_session_are_serialized() {
    let server = start(1).await;
    let publisher = publisher(&server).await;
    let id = server.new_empty_session().await;
    let parsed: SessionId = id.parse().unwrap();
    let negotiation = server.running.directory().negotiation(parsed).unwrap();
    // Another negotiation holds the session: both calls are refused at once, not queued.
    let guard = negotiation.lock().await;
    let reply = server
        .post_json(
            &format!("sessions/{id}/tracks/new"),
            &json!({"tracks": [{"location": "remote", "sessionId": publisher, "trackName": "cam"}]}),
        )
        .await;
    let description = reply.assert_error(406, "invalid_params");
    assert!(description.contains("in progress"), "{description}");
    server
        .put_json(
            &format!("sessions/{id}/renegotiate"),
            &json!({"sessionDescription": {"type": "answer", "sdp": CHROME_AV}}),
        )
        .await
        .assert_error(406, "invalid_params");
    // Reading the session waits for it instead.
    drop(guard);
    let body = server
        .tracks_new(
            &id,
            &json!({"tracks": [{"location": "remote", "sessionId": publisher, "trackName": "cam"}]}),
        )
        .await;
    assert_eq!(body["requiresImmediateRenegotiation"], true);
}

#[tokio::test]
async fn a_client_re_offer_keeps_what_the_sfu_sends() {
    use sfu::sdp::{
        create_offer, Fingerprint, LocalParameters, Msid, OfferMedia, OfferOptions, SendStream,
    };
    let server = start(1).await;
    let publisher = publisher(&server).await;
    let subscriber = server.new_empty_session().await;
    let body = server
        .tracks_new(
            &subscriber,
            &json!({"tracks": [{"location": "remote", "sessionId": publisher, "trackName": "cam"}]}),
        )
        .await;
    let sfu_offer = body["sessionDescription"]["sdp"].as_str().unwrap().to_owned();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(8);
    let browser = ice::Credentials::generate(&mut rng);
    let certificate = dtls::Certificate::generate().unwrap();
    let answer = browser_answer(&sfu_offer, &browser, certificate.fingerprint());
    let reply = server
        .put_json(
            &format!("sessions/{subscriber}/renegotiate"),
            &json!({"sessionDescription": {"type": "answer", "sdp": answer}}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    // The client adds a microphone: its new offer repeats the received section and adds a
    // sending one.
    let fingerprint = certificate.fingerprint();
    let local = LocalParameters {
        session_version: 2,
        ..LocalParameters::new(
            42,
            browser.ufrag(),
            browser.pwd(),
            Fingerprint {
                algorithm: fingerprint.algorithm().name().to_owned(),
                value: fingerprint.value().to_vec(),
            },
            Vec::new(),
        )
    };
    let previous = SessionDescription::parse(&answer).unwrap();
    let mic =
        SendStream { ssrc: 4242, rtx_ssrc: None, cname: "me".into(), msid: Msid::new("s", "m") };
    let offer = create_offer(
        &local,
        &OfferOptions {
            previous: Some(&previous),
            media: vec![OfferMedia::send("1", MediaKind::Audio, mic)],
            stopped: Vec::new(),
        },
    )
    .unwrap()
    .to_string();
    let body = server
        .tracks_new(
            &subscriber,
            &json!({
                "sessionDescription": {"type": "offer", "sdp": offer},
                "tracks": [{"location": "local", "mid": "1", "trackName": "own-mic"}],
            }),
        )
        .await;
    assert!(body["tracks"][0].get("errorCode").is_none(), "{body}");
    let reanswer =
        SessionDescription::parse(body["sessionDescription"]["sdp"].as_str().unwrap()).unwrap();
    let first = SessionDescription::parse(&sfu_offer).unwrap();
    // The pulled section still sends, from the same source, with the version moved on.
    let pulled = &reanswer.media[0];
    assert_eq!(reanswer.direction(pulled), Direction::SendOnly);
    assert_eq!(pulled.ssrcs()[0].ssrc, first.media[0].ssrcs()[0].ssrc);
    assert_eq!(reanswer.direction(&reanswer.media[1]), Direction::RecvOnly);
    assert!(reanswer.origin.session_version > first.origin.session_version);
    let info = session(&server, &subscriber).await;
    let tracks: Vec<(String, String, String)> = info["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["location"].as_str().unwrap().into(),
                t["trackName"].as_str().unwrap().into(),
                t["mid"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        tracks,
        [
            ("remote".into(), "cam".into(), "0".into()),
            ("local".into(), "own-mic".into(), "1".into())
        ]
    );
}
