//! `tracks/new` flows where the SFU writes the offer for a push (`kind`, no mid), and
//! bidirectional transceivers: `bidirectionalMediaStream` on pushes and pulls, and a pull
//! into an existing bidirectional transceiver with `mid: "#<trackName>"`.

mod api_common;

use api_common::{start, TestServer, CHROME_AV};
use serde_json::{json, Value};
use sfu::sdp::{
    create_answer, AnswerOptions, Direction, Fingerprint, LocalParameters, MediaAnswer, MediaKind,
    Msid, SendStream, SessionDescription, Setup,
};

async fn session(server: &TestServer, id: &str) -> Value {
    let reply = server.get(&format!("sessions/{id}")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

/// What a browser answers to an SFU offer after attaching a track to each of `sending`
/// (`(mid, ssrc)`): those sections send (and receive where the offer sends), the others
/// receive.
fn sending_answer(offer: &str, sending: &[(&str, u32)]) -> String {
    let offer = SessionDescription::parse(offer).unwrap();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(3);
    let credentials = ice::Credentials::generate(&mut rng);
    let mut local = LocalParameters::new(
        42,
        credentials.ufrag(),
        credentials.pwd(),
        Fingerprint { algorithm: "sha-256".into(), value: vec![0x5a; 32] },
        Vec::new(),
    );
    local.dtls_role = Some(Setup::Active);
    let mut options = AnswerOptions::default();
    for (mid, ssrc) in sending {
        let stream = SendStream {
            ssrc: *ssrc,
            rtx_ssrc: None,
            cname: "browser".into(),
            msid: Msid::new("stream", format!("track{mid}")),
        };
        let m = offer.media_by_mid(mid).unwrap();
        let answer = if offer.direction(m).sends() {
            MediaAnswer::send_receive(stream)
        } else {
            MediaAnswer::send(stream)
        };
        options = options.with(*mid, answer);
    }
    create_answer(&offer, &local, &options).unwrap().to_string()
}

async fn renegotiate(server: &TestServer, id: &str, answer: &str) {
    let reply = server
        .put_json(
            &format!("sessions/{id}/renegotiate"),
            &json!({"sessionDescription": {"type": "answer", "sdp": answer}}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

fn pull(publisher: &str, name: &str) -> Value {
    json!({"tracks": [{"location": "remote", "sessionId": publisher, "trackName": name}]})
}

#[tokio::test]
async fn a_push_without_an_offer_gets_the_sfus_offer() {
    let server = start(1).await;
    let id = server.new_empty_session().await;
    let body = server
        .tracks_new(
            &id,
            &json!({"tracks": [
                {"location": "local", "trackName": "mic", "kind": "audio"},
                {"location": "local", "trackName": "cam", "kind": "video", "bidirectionalMediaStream": true},
                {"location": "local", "trackName": "screen"},
                {"location": "local", "trackName": "mic", "kind": "audio"},
                {"location": "local", "kind": "audio"},
            ]}),
        )
        .await;
    assert_eq!(body["requiresImmediateRenegotiation"], true, "{body}");
    assert_eq!(body["sessionDescription"]["type"], "offer");
    let tracks = body["tracks"].as_array().unwrap();
    assert_eq!(
        tracks[0],
        json!({"location": "local", "mid": "0", "trackName": "mic", "sessionId": id})
    );
    assert_eq!(tracks[1]["mid"], "1");
    assert_eq!(tracks[2]["errorCode"], "invalid_params", "no kind");
    assert_eq!(tracks[3]["errorCode"], "repeated_local_track_error");
    assert_eq!(tracks[4]["errorCode"], "empty_track_error");

    let sdp = body["sessionDescription"]["sdp"].as_str().unwrap();
    let offer = SessionDescription::parse(sdp).unwrap();
    assert_eq!(offer.media.len(), 2);
    assert_eq!(offer.media[0].kind, MediaKind::Audio);
    assert_eq!(offer.direction(&offer.media[0]), Direction::RecvOnly);
    assert!(offer.media[0].ssrcs().is_empty(), "the SFU sends nothing there");
    assert_eq!(offer.media[1].kind, MediaKind::Video);
    assert_eq!(offer.direction(&offer.media[1]), Direction::SendRecv);
    assert!(!offer.media[1].ssrcs().is_empty(), "a bidirectional section has a source");

    // Not pullable before the client's answer sends on those mids.
    let other = server.new_empty_session().await;
    let body = server.tracks_new(&other, &pull(&id, "mic")).await;
    assert_eq!(body["tracks"][0]["errorCode"], "not_found_track_error");
    let info = session(&server, &id).await;
    assert_eq!(info["tracks"].as_array().unwrap().len(), 2);
    assert_eq!(info["tracks"][0]["status"], "initializing");

    renegotiate(&server, &id, &sending_answer(sdp, &[("0", 1111), ("1", 2222)])).await;
    let info = session(&server, &id).await;
    let names: Vec<&str> = info["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trackName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["mic", "cam"]);
    let body = server.tracks_new(&other, &pull(&id, "mic")).await;
    assert!(body["tracks"][0].get("errorCode").is_none(), "{body}");
    assert_eq!(body["requiresImmediateRenegotiation"], true);
}

#[tokio::test]
async fn a_pull_goes_into_a_bidirectional_transceiver_by_track_name() {
    let server = start(1).await;
    // The publisher of the track to pull.
    let publisher = server.new_empty_session().await;
    server.push(&publisher, CHROME_AV, &[("0", "mic"), ("1", "cam")]).await;

    // A session pushes its microphone on a bidirectional transceiver.
    let id = server.new_empty_session().await;
    let body = server
        .tracks_new(
            &id,
            &json!({
                "sessionDescription": {"type": "offer", "sdp": CHROME_AV},
                "tracks": [{"location": "local", "mid": "0", "trackName": "own-mic",
                            "bidirectionalMediaStream": true, "kind": "audio"}],
            }),
        )
        .await;
    assert!(body["tracks"][0].get("errorCode").is_none(), "{body}");
    let answer =
        SessionDescription::parse(body["sessionDescription"]["sdp"].as_str().unwrap()).unwrap();
    let audio = answer.media_by_mid("0").unwrap();
    assert_eq!(answer.direction(audio), Direction::SendRecv);
    assert_eq!(audio.ssrcs().len(), 1, "the SFU's own source on the audio mid");
    let video = answer.media_by_mid("1").unwrap();
    assert_eq!(answer.direction(video), Direction::RecvOnly, "not bidirectional");

    // Pull the publisher's mic into it: no renegotiation.
    let body = server
        .tracks_new(
            &id,
            &json!({"tracks": [
                {"location": "remote", "mid": "#own-mic", "sessionId": publisher, "trackName": "mic", "kind": "audio"},
                {"location": "remote", "mid": "#own-mic", "sessionId": publisher, "trackName": "mic"},
                {"location": "remote", "mid": "#nope", "sessionId": publisher, "trackName": "mic"},
            ]}),
        )
        .await;
    assert_eq!(body["requiresImmediateRenegotiation"], false, "{body}");
    assert!(body.get("sessionDescription").is_none());
    let tracks = body["tracks"].as_array().unwrap();
    assert_eq!(
        tracks[0],
        json!({"location": "remote", "mid": "0", "trackName": "mic", "sessionId": publisher})
    );
    assert_eq!(tracks[1]["errorCode"], "invalid_params", "the transceiver is taken");
    assert_eq!(tracks[2]["errorCode"], "invalid_params", "no such local track");

    let info = session(&server, &id).await;
    let on_zero: Vec<(&str, &str)> = info["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["mid"] == "0")
        .map(|t| (t["location"].as_str().unwrap(), t["trackName"].as_str().unwrap()))
        .collect();
    assert_eq!(on_zero, [("local", "own-mic"), ("remote", "mic")]);

    // A video track does not fit an audio transceiver; a one-way push is not bidirectional.
    let other = server.new_empty_session().await;
    server.push(&other, CHROME_AV, &[("0", "plain-mic")]).await;
    let body = server
        .tracks_new(
            &other,
            &json!({"tracks": [
                {"location": "remote", "mid": "#plain-mic", "sessionId": publisher, "trackName": "mic"},
            ]}),
        )
        .await;
    assert_eq!(body["tracks"][0]["errorCode"], "invalid_params");
    let body = server
        .tracks_new(
            &id,
            &json!({"tracks": [
                {"location": "remote", "mid": "#own-mic", "sessionId": publisher, "trackName": "cam"},
            ]}),
        )
        .await;
    assert_eq!(body["tracks"][0]["errorCode"], "invalid_params");

    // A later client offer keeps the bidirectional section sending and receiving.
    let again = CHROME_AV.replacen("o=- 4215775240449105457 2", "o=- 4215775240449105457 3", 1);
    let body = server
        .tracks_new(&id, &json!({"sessionDescription": {"type": "offer", "sdp": again}}))
        .await;
    let answer =
        SessionDescription::parse(body["sessionDescription"]["sdp"].as_str().unwrap()).unwrap();
    assert_eq!(answer.direction(answer.media_by_mid("0").unwrap()), Direction::SendRecv);
}

#[tokio::test]
async fn a_bidirectional_pull_is_offered_sendrecv() {
    let server = start(1).await;
    let publisher = server.new_empty_session().await;
    server.push(&publisher, CHROME_AV, &[("0", "mic")]).await;
    let id = server.new_empty_session().await;
    let body = server
        .tracks_new(
            &id,
            &json!({"tracks": [{"location": "remote", "sessionId": publisher, "trackName": "mic",
                                "bidirectionalMediaStream": true}]}),
        )
        .await;
    let offer =
        SessionDescription::parse(body["sessionDescription"]["sdp"].as_str().unwrap()).unwrap();
    assert_eq!(offer.direction(&offer.media[0]), Direction::SendRecv);
    let reply = server
        .post_json(
            &format!("sessions/{id}/tracks/new"),
            &json!({"tracks": [{"location": "remote", "bidirectionalMediaStream": "yes"}]}),
        )
        .await;
    reply.assert_error(400, "decoding_error");
}
