//! WHIP (RFC 9725) and WHEP over HTTP against an in-process server: every status and header
//! of the POST, PATCH, DELETE and OPTIONS exchanges, the sessions they create as the Calls
//! API shows them, and media from a WHIP publisher to a WHEP player over loopback UDP until
//! the publisher's resource is deleted.

mod api_common;

use std::time::Instant;

use api_common::{
    assert_json_with_vary, description_credentials, http, personalize, start, start_with, Browser,
    HttpReply, TestServer, CHROME_AV, DEADLINE, SECRET,
};
use rand::SeedableRng;
use serde_json::Value;
use sfu::config::TurnKey;
use sfu::sdp::{MediaKind, SessionDescription};

const CHROME_RECVONLY: &str = include_str!("fixtures/chrome_152_recvonly.sdp");
/// The audio source of [`CHROME_AV`] and its opus payload type.
const AUDIO_SSRC: u32 = 2_550_536_406;
const OPUS: u8 = 111;

/// [`CHROME_AV`] as a WHIP client offers it: both sections `sendonly`.
fn whip_offer() -> String {
    CHROME_AV.replace("a=sendrecv", "a=sendonly")
}

/// A request to `/v1/apps/default/{path}` with the app secret and these extra headers.
async fn request(
    server: &TestServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpReply {
    let auth = format!("Bearer {SECRET}");
    let mut all = vec![("Authorization", auth.as_str())];
    all.extend_from_slice(headers);
    http(server.addr(), method, &format!("/v1/apps/default/{path}"), &all, body.as_bytes()).await
}

/// POST an `application/sdp` offer.
async fn post_sdp(server: &TestServer, path: &str, sdp: &str) -> HttpReply {
    request(server, "POST", path, &[("Content-Type", "application/sdp")], sdp).await
}

/// A request to a `Location` (an absolute path) with the app secret.
async fn at(
    server: &TestServer,
    method: &str,
    location: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpReply {
    let auth = format!("Bearer {SECRET}");
    let mut all = vec![("Authorization", auth.as_str())];
    all.extend_from_slice(headers);
    http(server.addr(), method, location, &all, body.as_bytes()).await
}

/// What a 201 must carry; returns (Location, ETag, the parsed answer).
fn assert_created(reply: &HttpReply, prefix: &str) -> (String, String, SessionDescription) {
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/sdp"), "{reply:?}");
    assert_eq!(reply.header("vary"), Some("Origin"), "{reply:?}");
    let location = reply.header("location").expect("Location").to_owned();
    assert!(location.starts_with(prefix), "{location} under {prefix}");
    let id = location.rsplit('/').next().unwrap();
    assert_eq!(id.len(), 32, "{location}");
    let etag = reply.header("etag").expect("ETag").to_owned();
    assert!(etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let answer = SessionDescription::parse(&reply.text()).expect("the answer parses");
    (location, etag, answer)
}

fn session_id(location: &str) -> &str {
    location.rsplit('/').next().unwrap()
}

/// Polls until `done` holds for the `GET sessions/{id}` JSON.
async fn wait_session(server: &TestServer, id: &str, what: &str, done: impl Fn(&Value) -> bool) {
    let end = Instant::now() + DEADLINE;
    loop {
        let reply = server.get(&format!("sessions/{id}")).await;
        if reply.status == 200 && done(&reply.json()) {
            return;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}: {}", reply.text());
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn whip_publishes_and_whep_plays_the_stream() {
    let server = start(1).await;
    let reply = post_sdp(&server, "whip/cam-1", &whip_offer()).await;
    let (location, _, answer) = assert_created(&reply, "/v1/apps/default/whip/cam-1/");
    assert!(reply.header("link").is_none(), "no TURN key, no ice-server links: {reply:?}");
    for m in &answer.media {
        assert_eq!(answer.direction(m).as_str(), "recvonly", "{}", reply.text());
    }
    // The resource's session is a session of the Calls API.
    let publisher = session_id(&location).to_owned();
    let session = server.get(&format!("sessions/{publisher}")).await.json();
    let names: Vec<(&str, &str)> = session["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["trackName"].as_str().unwrap(), t["location"].as_str().unwrap()))
        .collect();
    assert_eq!(names, [("audio", "local"), ("video", "local")], "{session}");

    let reply = post_sdp(&server, "whep/cam-1", CHROME_RECVONLY).await;
    let (player, etag, answer) = assert_created(&reply, "/v1/apps/default/whep/cam-1/");
    assert_ne!(session_id(&player), publisher);
    let kinds: Vec<(MediaKind, &str)> =
        answer.media.iter().map(|m| (m.kind.clone(), answer.direction(m).as_str())).collect();
    assert_eq!(kinds[0], (MediaKind::Audio, "sendonly"), "{}", reply.text());
    assert_eq!(kinds[1], (MediaKind::Video, "sendonly"), "{}", reply.text());
    let session = server.get(&format!("sessions/{}", session_id(&player))).await.json();
    for (track, name) in session["tracks"].as_array().unwrap().iter().zip(["audio", "video"]) {
        assert_eq!(track["location"], "remote", "{session}");
        assert_eq!(track["sessionId"], publisher.as_str(), "{session}");
        assert_eq!(track["trackName"], name, "{session}");
    }
    // Each resource has its own entity-tag.
    assert_ne!(
        etag,
        post_sdp(&server, "whep/cam-1", CHROME_RECVONLY).await.header("etag").unwrap()
    );
}

#[tokio::test]
async fn the_base_without_v1_gives_locations_without_it() {
    let server = start(1).await;
    let auth = format!("Bearer {SECRET}");
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/sdp")];
    let reply =
        http(server.addr(), "POST", "/apps/default/whip/s", &headers, whip_offer().as_bytes())
            .await;
    let (location, _, _) = assert_created(&reply, "/apps/default/whip/s/");
    let reply = at(&server, "DELETE", &location, &[], "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[tokio::test]
async fn conflicts_on_a_live_stream_and_before_one_exists() {
    let server = start(1).await;
    // WHEP before anyone publishes: 409 with Retry-After.
    let reply = post_sdp(&server, "whep/live", CHROME_RECVONLY).await;
    reply.assert_error(409, "stream_not_published");
    assert_eq!(reply.header("retry-after"), Some("2"), "{reply:?}");

    let reply = post_sdp(&server, "whip/live", &whip_offer()).await;
    let (location, _, _) = assert_created(&reply, "/v1/apps/default/whip/live/");
    // A second publisher on a live stream name: 409; another name is fine.
    post_sdp(&server, "whip/live", &whip_offer()).await.assert_error(409, "stream_in_use");
    assert_created(&post_sdp(&server, "whip/other", &whip_offer()).await, "/v1/apps/default/");

    // DELETE frees the name, and WHEP has nothing to play again.
    assert_eq!(at(&server, "DELETE", &location, &[], "").await.status, 200);
    post_sdp(&server, "whep/live", CHROME_RECVONLY).await.assert_error(409, "stream_not_published");
    assert_created(&post_sdp(&server, "whip/live", &whip_offer()).await, "/v1/apps/default/");
}

#[tokio::test]
async fn bad_requests_are_refused_with_the_right_status() {
    let server = start(1).await;
    // 400: not SDP, a bad stream name.
    post_sdp(&server, "whip/a", "v=0\r\nnonsense").await.assert_error(400, "decoding_error");
    post_sdp(&server, "whip/a%20b", &whip_offer()).await.assert_error(400, "decoding_error");
    // 415: JSON, or no content type.
    let json = [("Content-Type", "application/json")];
    let reply = request(&server, "POST", "whip/a", &json, &whip_offer()).await;
    reply.assert_error(415, "unsupported_media_type");
    let reply = request(&server, "POST", "whep/a", &[], CHROME_RECVONLY).await;
    reply.assert_error(415, "unsupported_media_type");
    // 422: a WHIP offer that sends nothing; a WHEP offer that receives nothing.
    post_sdp(&server, "whip/a", CHROME_RECVONLY).await.assert_error(422, "invalid_params");
    assert_created(&post_sdp(&server, "whip/a", &whip_offer()).await, "/v1/apps/default/");
    post_sdp(&server, "whep/a", &whip_offer()).await.assert_error(422, "invalid_params");
    // Nothing was left behind by the refused requests: the publisher and no other session.
    assert_eq!(server.running.directory().len(), 1);

    // 401: no token, or a wrong one.
    let headers = [("Content-Type", "application/sdp")];
    let path = "/v1/apps/default/whip/b";
    let reply = http(server.addr(), "POST", path, &headers, whip_offer().as_bytes()).await;
    reply.assert_error(401, "unauthorized");
    let wrong = [("Content-Type", "application/sdp"), ("Authorization", "Bearer nope")];
    let reply = http(server.addr(), "POST", path, &wrong, whip_offer().as_bytes()).await;
    reply.assert_error(401, "unauthorized");
    // 404: another app, an unknown resource, a WHIP resource under WHEP.
    let auth = format!("Bearer {SECRET}");
    let other = [("Content-Type", "application/sdp"), ("Authorization", auth.as_str())];
    let reply =
        http(server.addr(), "POST", "/v1/apps/nope/whip/b", &other, whip_offer().as_bytes()).await;
    reply.assert_error(404, "not_found");
    let unknown = "whip/a/00000000000000000000000000000000";
    request(&server, "DELETE", unknown, &[], "").await.assert_error(404, "not_found");
    request(&server, "DELETE", "whip/a/not-an-id", &[], "").await.assert_error(404, "not_found");
    // 405 with Allow.
    let reply = request(&server, "GET", "whip/a", &[], "").await;
    reply.assert_error(405, "method_not_allowed");
    assert_eq!(reply.header("allow"), Some("POST, OPTIONS"));
}

#[tokio::test]
async fn delete_ends_the_session_and_the_resource() {
    let server = start(1).await;
    let reply = post_sdp(&server, "whip/d", &whip_offer()).await;
    let (location, etag, _) = assert_created(&reply, "/v1/apps/default/whip/d/");
    let id = session_id(&location).to_owned();
    // The WHIP resource is not reachable under WHEP.
    let under_whep = location.replace("/whip/", "/whep/");
    at(&server, "DELETE", &under_whep, &[], "").await.assert_error(404, "not_found");
    let under_other = location.replace("/whip/d/", "/whip/e/");
    at(&server, "DELETE", &under_other, &[], "").await.assert_error(404, "not_found");

    let reply = at(&server, "DELETE", &location, &[], "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_json_with_vary(&reply);
    server.get(&format!("sessions/{id}")).await.assert_error(404, "not_found");
    at(&server, "DELETE", &location, &[], "").await.assert_error(404, "not_found");
    let headers = [("Content-Type", "application/trickle-ice-sdpfrag"), ("If-Match", &etag)];
    let reply = at(&server, "PATCH", &location, &headers, "a=end-of-candidates\r\n").await;
    reply.assert_error(404, "not_found");
}

#[tokio::test]
async fn patch_takes_candidates_checks_the_etag_and_restarts_ice() {
    let server = start(1).await;
    let reply = post_sdp(&server, "whip/p", &whip_offer()).await;
    let (location, etag, answer) = assert_created(&reply, "/v1/apps/default/whip/p/");
    let ours = description_credentials(&reply.text());
    let fragment = "a=ice-ufrag:Jpbd\r\na=ice-pwd:Fus4hRjMrpP46HRkXRz+RPdL\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=candidate:1387637174 1 udp 2122260223 127.0.0.1 61764 typ host generation 0\r\na=end-of-candidates\r\n";
    let sdpfrag = ("Content-Type", "application/trickle-ice-sdpfrag");

    // Candidates of the current generation: 204, no body, the same ETag stays valid.
    let reply = at(&server, "PATCH", &location, &[sdpfrag, ("If-Match", &etag)], fragment).await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    assert!(reply.body.is_empty());
    let reply = at(&server, "PATCH", &location, &[sdpfrag, ("If-Match", "*")], "").await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    // 412 on another ETag, 428 without If-Match, 415 on another type, 400 on a bad fragment.
    let wrong = [sdpfrag, ("If-Match", "\"0000\"")];
    at(&server, "PATCH", &location, &wrong, fragment)
        .await
        .assert_error(412, "precondition_failed");
    let reply = at(&server, "PATCH", &location, &[sdpfrag], fragment).await;
    reply.assert_error(428, "precondition_required");
    let reply = at(
        &server,
        "PATCH",
        &location,
        &[("Content-Type", "application/sdp"), ("If-Match", &etag)],
        fragment,
    )
    .await;
    reply.assert_error(415, "unsupported_media_type");
    let bad = "a=candidate:not a candidate\r\n";
    let reply = at(&server, "PATCH", &location, &[sdpfrag, ("If-Match", &etag)], bad).await;
    reply.assert_error(400, "decoding_error");
    let reply =
        at(&server, "PATCH", &location, &[sdpfrag, ("If-Match", &etag)], "a=ice-ufrag:abcd\r\n")
            .await;
    reply.assert_error(400, "decoding_error");

    // New credentials: an ICE restart. 200 with our new credentials and candidates, and a
    // new ETag; the old one no longer matches.
    let restart = "a=ice-ufrag:R3st\r\na=ice-pwd:rEstArtPassw0rdOfTwentyTwo\r\n";
    let reply = at(&server, "PATCH", &location, &[sdpfrag, ("If-Match", "*")], restart).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/trickle-ice-sdpfrag"));
    let new_etag = reply.header("etag").expect("a new ETag").to_owned();
    assert_ne!(new_etag, etag);
    let text = reply.text();
    let line = |prefix: &str| {
        text.lines().find_map(|l| l.strip_prefix(prefix)).map(str::to_owned).expect(prefix)
    };
    assert_eq!(text.lines().next(), Some("a=ice-lite"), "{text}");
    assert_ne!(line("a=ice-ufrag:"), ours.ufrag(), "{text}");
    assert_ne!(line("a=ice-pwd:"), ours.pwd(), "{text}");
    assert_eq!(line("a=mid:"), answer.media[0].mid().unwrap(), "{text}");
    for address in server.running.candidates() {
        let candidate = format!(" {} {} typ host", address.ip(), address.port());
        assert!(text.contains(&candidate), "{candidate} in {text}");
    }
    assert!(text.contains("a=end-of-candidates"), "{text}");
    let stale = [sdpfrag, ("If-Match", etag.as_str())];
    at(&server, "PATCH", &location, &stale, fragment)
        .await
        .assert_error(412, "precondition_failed");
    // The same credentials again are trickle, not another restart.
    let current = [sdpfrag, ("If-Match", new_etag.as_str())];
    let reply = at(&server, "PATCH", &location, &current, restart).await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    // The session's own descriptions moved to the new credentials: an offer with them on
    // tracks/new is no restart either, and the answer carries the new ufrag.
    let id = session_id(&location);
    let offer = whip_offer()
        .replace("a=ice-ufrag:Jpbd", "a=ice-ufrag:R3st")
        .replace("a=ice-pwd:Fus4hRjMrpP46HRkXRz+RPdL", "a=ice-pwd:rEstArtPassw0rdOfTwentyTwo");
    let body = server
        .tracks_new(id, &serde_json::json!({"sessionDescription": {"type": "offer", "sdp": offer}}))
        .await;
    let sdp = body["sessionDescription"]["sdp"].as_str().unwrap();
    assert!(sdp.contains(&format!("a=ice-ufrag:{}", line("a=ice-ufrag:"))), "{sdp}");
}

#[tokio::test]
async fn options_answers_cors_with_accept_post_and_accept_patch() {
    let server = start(1).await;
    let preflight = [
        ("Origin", "http://player.example"),
        ("Access-Control-Request-Method", "POST"),
        ("Access-Control-Request-Headers", "authorization, content-type"),
    ];
    for path in ["/v1/apps/default/whip/x", "/v1/apps/default/whep/x", "/apps/default/whip/x"] {
        let reply = http(server.addr(), "OPTIONS", path, &preflight, b"").await;
        assert!(matches!(reply.status, 200 | 204), "{reply:?}");
        assert_eq!(reply.header("accept-post"), Some("application/sdp"), "{reply:?}");
        assert_eq!(reply.header("access-control-allow-origin"), Some("http://player.example"));
        let methods = reply.header("access-control-allow-methods").unwrap();
        for method in ["POST", "PATCH", "DELETE"] {
            assert!(methods.contains(method), "{methods}");
        }
        let allowed = reply.header("access-control-allow-headers").unwrap().to_lowercase();
        for h in ["authorization", "content-type", "if-match"] {
            assert!(allowed.contains(h), "{allowed}");
        }
        let exposed = reply.header("access-control-expose-headers").unwrap();
        for h in ["Location", "ETag", "Link", "Retry-After"] {
            assert!(exposed.contains(h), "{exposed}");
        }
    }
    let reply =
        http(server.addr(), "OPTIONS", "/v1/apps/default/whip/x/abc", &preflight, b"").await;
    assert_eq!(reply.header("accept-patch"), Some("application/trickle-ice-sdpfrag"));
    assert!(reply.header("accept-post").is_none());
    // Other API paths carry neither.
    let reply =
        http(server.addr(), "OPTIONS", "/v1/apps/default/sessions/new", &preflight, b"").await;
    assert!(reply.header("accept-post").is_none() && reply.header("accept-patch").is_none());
}

#[tokio::test]
async fn turn_servers_come_as_link_headers() {
    let server = start_with(1, |config| {
        let mut key = TurnKey::new("turn-secret-77");
        key.host = "turn.example.test".to_owned();
        config.turn = Some(key);
    })
    .await;
    let reply = post_sdp(&server, "whip/t", &whip_offer()).await;
    assert_created(&reply, "/v1/apps/default/whip/t/");
    let links: Vec<&str> = reply
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("link"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(links.len(), 7, "{links:?}");
    assert_eq!(links[0], "<stun:turn.example.test:3478>; rel=\"ice-server\"");
    let first = links[1];
    assert!(
        first.starts_with(
            "<turn:turn.example.test:3478?transport=udp>; rel=\"ice-server\"; username=\""
        ),
        "{first}"
    );
    assert!(first.ends_with("; credential-type=\"password\""), "{first}");
    // The credential is the TURN REST one for that username, as the turn server checks it.
    let field = |name: &str| {
        let start = first.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        let end = first[start..].find('"').unwrap() + start;
        first[start..end].to_owned()
    };
    let username = field("username");
    let (expiry, user) = username.split_once(':').unwrap();
    let expected = turn::rest_credential("turn-secret-77", user, expiry.parse().unwrap());
    assert_eq!(expected, (username.clone(), field("credential")));
    assert!(links.iter().any(|l| l.starts_with("<turns:turn.example.test:5349?transport=tcp>")));
    // WHEP answers carry them too.
    let reply = post_sdp(&server, "whep/t", CHROME_RECVONLY).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("link")).count(), 7);
}

/// A client for a WHIP or WHEP resource: the offer personalized with its own ICE
/// credentials and certificate, POSTed; returns the client and the resource.
async fn client_for(
    server: &TestServer,
    path: &str,
    fixture: &str,
    seed: u64,
) -> (Browser, String, SessionDescription) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let ours =
        dtls::DtlsContext::new(dtls::DtlsConfig::new(dtls::Certificate::generate().unwrap()))
            .unwrap();
    let credentials = ice::Credentials::generate(&mut rng);
    let offer = personalize(fixture, &credentials, ours.config().certificate.fingerprint());
    let reply = post_sdp(server, path, &offer).await;
    let (location, _, answer) = assert_created(&reply, "/v1/apps/default/");
    let sfu = description_credentials(&reply.text());
    let target = server.running.udp_addrs[0];
    let id = session_id(&location).to_owned();
    let browser = Browser::with_session(server, target, id, sfu, credentials, ours, &mut rng).await;
    (browser, location, answer)
}

async fn connect(server: &TestServer, browser: &mut Browser) {
    browser.until_state(server, "connected").await;
    let end = Instant::now() + DEADLINE;
    while !browser.client.is_connected() {
        browser.step().await;
        assert!(Instant::now() < end, "the client did not connect");
    }
}

#[tokio::test]
async fn media_flows_from_whip_to_whep_until_the_publisher_is_deleted() {
    let server = start(2).await;
    let (mut publisher, whip, _) = client_for(&server, "whip/m", &whip_offer(), 1).await;
    connect(&server, &mut publisher).await;
    let (mut player, _, answer) = client_for(&server, "whep/m", CHROME_RECVONLY, 2).await;
    connect(&server, &mut player).await;
    let audio = answer.media.iter().find(|m| m.kind == MediaKind::Audio).unwrap();
    let ssrc = audio.ssrcs().first().expect("the SFU's audio SSRC").ssrc;

    let end = Instant::now() + DEADLINE;
    let mut sequence = 100u16;
    loop {
        publisher
            .client
            .send_rtp(AUDIO_SSRC, sequence, u32::from(sequence) * 960, OPUS, b"opus")
            .unwrap();
        sequence = sequence.wrapping_add(1);
        publisher.step().await;
        player.step().await;
        let got = player.client.received_rtp().iter().filter(|p| p.ssrc == ssrc).count();
        if got >= 20 {
            break;
        }
        assert!(Instant::now() < end, "player got {got} packets: {:?}", player.client.stats());
    }

    // DELETE: the publisher's session ends (DTLS close_notify reaches its client), its
    // tracks are withdrawn and the player shows them inactive.
    let reply = at(&server, "DELETE", &whip, &[], "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let end = Instant::now() + DEADLINE;
    while !publisher.client.is_closed() {
        publisher.step().await;
        assert!(Instant::now() < end, "the publisher's client saw no close");
    }
    wait_session(&server, &player.id, "the pulled tracks inactive", |s| {
        s["tracks"].as_array().is_some_and(|t| t.iter().all(|t| t["status"] == "inactive"))
    })
    .await;
    server.wait_for_stats("the publisher removed", |s| s["sessions_active"] == 1).await;
}
