//! The demo page's endpoints over real TCP: `/demo/config` and who gets it, the room
//! directory (join, heartbeat, list, leave), and the status of every kind of bad request.

mod api_common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use api_common::{
    assert_json_with_vary, http, raw, start, start_with, HttpReply, DEADLINE, SECRET,
};
use serde_json::{json, Value};
use sfu::config::DemoAccess;

async fn post(addr: SocketAddr, path: &str, body: &Value) -> HttpReply {
    http(addr, "POST", path, &[("Content-Type", "application/json")], body.to_string().as_bytes())
        .await
}

async fn get(addr: SocketAddr, path: &str) -> HttpReply {
    http(addr, "GET", path, &[], b"").await
}

/// A request with this exact Host header (the helper always sends the server's address).
async fn get_with_host(addr: SocketAddr, path: &str, host: &str, extra: &str) -> HttpReply {
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n");
    raw(addr, request.as_bytes()).await
}

fn names(reply: &HttpReply) -> Vec<String> {
    reply.json()["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn config_hands_out_api_access_to_loopback_same_origin_requests_only() {
    let server = start(1).await;
    let addr = server.addr();
    let reply = get(addr, "/demo/config").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_json_with_vary(&reply);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let config = reply.json();
    assert_eq!(config["appId"], "default");
    assert_eq!(config["appSecret"], SECRET);
    assert_eq!(config["apiBase"], "/v1/apps/default");
    assert_eq!(config["heartbeatMs"], 1500);
    assert_eq!(config["participantTtlMs"], 30_000);
    // The secret works on the API.
    let auth = format!("Bearer {}", config["appSecret"].as_str().unwrap());
    let created =
        http(addr, "POST", "/v1/apps/default/sessions/new", &[("Authorization", &auth)], b"").await;
    assert_eq!(created.status, 201);

    // The page itself: same origin.
    let origin = format!("http://{addr}");
    let same = http(
        addr,
        "GET",
        "/demo/config",
        &[("Origin", &origin), ("Sec-Fetch-Site", "same-origin")],
        b"",
    )
    .await;
    assert_eq!(same.status, 200);
    // Another site open in the same browser.
    for headers in [
        &[("Origin", "http://evil.example")][..],
        &[("Origin", "null")],
        &[("Sec-Fetch-Site", "cross-site")],
        &[("Sec-Fetch-Site", "same-site")],
    ] {
        let reply = http(addr, "GET", "/demo/config", headers, b"").await;
        let why = reply.assert_error(403, "forbidden");
        assert!(why.contains("same origin"), "{why}");
        assert!(!reply.text().contains(SECRET));
    }
    // Through a proxy, or under another host name (DNS rebinding).
    let proxied =
        http(addr, "GET", "/demo/config", &[("X-Forwarded-For", "203.0.113.7")], b"").await;
    let why = proxied.assert_error(403, "forbidden");
    assert!(why.contains("--demo public"), "{why}");
    for extra in ["Forwarded: for=203.0.113.7\r\n", "X-Real-IP: 203.0.113.7\r\n"] {
        let reply = get_with_host(addr, "/demo/config", &addr.to_string(), extra).await;
        reply.assert_error(403, "forbidden");
    }
    let rebound = get_with_host(addr, "/demo/config", "evil.example:8080", "").await;
    rebound.assert_error(403, "forbidden");
    let port = addr.port();
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let reply = get_with_host(addr, "/demo/config", &host, "").await;
        assert_eq!(reply.status, 200, "{host}: {}", reply.text());
    }
    // The room directory follows the same rules.
    let reply = get_with_host(addr, "/demo/rooms/lobby", "evil.example", "").await;
    reply.assert_error(403, "forbidden");
}

#[tokio::test]
async fn demo_public_and_off() {
    let public = start_with(1, |c| c.demo = DemoAccess::Public).await;
    let reply = get_with_host(public.addr(), "/demo/config", "demo.example", "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // Still same-origin only.
    let reply =
        http(public.addr(), "GET", "/demo/config", &[("Origin", "https://evil.example")], b"")
            .await;
    reply.assert_error(403, "forbidden");

    let off = start_with(1, |c| c.demo = DemoAccess::Off).await;
    for path in ["/demo/config", "/demo/rooms/lobby"] {
        let why = get(off.addr(), path).await.assert_error(404, "not_found");
        assert!(why.contains("demo is off"), "{why}");
    }
    // The page and the API are still there.
    assert_eq!(get(off.addr(), "/").await.status, 200);
    assert_eq!(off.get("stats").await.status, 200);
}

#[tokio::test]
async fn join_heartbeat_list_leave() {
    let server = start(1).await;
    let addr = server.addr();
    let ada_session = server.new_empty_session().await;
    let bob_session = server.new_empty_session().await;

    let empty = get(addr, "/demo/rooms/lobby").await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.json(), json!({"room": "lobby", "participants": []}));

    let reply = post(
        addr,
        "/demo/rooms/lobby/join",
        &json!({"sessionId": ada_session, "name": " Ada ", "tracks": ["audio", "video"]}),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_json_with_vary(&reply);
    let joined = reply.json();
    let ada = joined["participantId"].as_str().unwrap().to_owned();
    assert_eq!(ada.len(), 32);
    assert_eq!(joined["heartbeatMs"], 1500);
    let me = &joined["participants"][0];
    assert_eq!(me["sessionId"], ada_session.as_str());
    assert_eq!(me["name"], "Ada");
    assert_eq!(me["tracks"], json!(["audio", "video"]));
    assert_eq!(me["audioMuted"], false);
    assert!(me.get("participantId").is_none(), "listings never show participant ids");

    // Bob joins without a name or tracks; upper-case session ids are the same session.
    let reply =
        post(addr, "/demo/rooms/lobby/join", &json!({"sessionId": bob_session.to_uppercase()}))
            .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let bob = reply.json()["participantId"].as_str().unwrap().to_owned();
    assert_eq!(names(&reply), ["Ada", ""]);
    assert_eq!(reply.json()["participants"][1]["sessionId"], bob_session.as_str());
    assert!(!reply.text().contains(&ada));

    // Ada's heartbeat carries her mute state; everyone sees it.
    let reply = post(
        addr,
        "/demo/rooms/lobby/heartbeat",
        &json!({"participantId": ada, "audioMuted": true, "videoMuted": false}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(names(&reply), ["Ada", ""]);
    let listing = get(addr, "/demo/rooms/lobby").await;
    assert_eq!(listing.json()["participants"][0]["audioMuted"], true);
    assert_eq!(listing.json()["participants"][0]["videoMuted"], false);
    assert!(listing.json()["participants"][0]["seenMsAgo"].as_u64().unwrap() < 30_000);
    // Another room is another list.
    assert_eq!(names(&get(addr, "/demo/rooms/other").await), Vec::<String>::new());

    // Ada leaves; leaving twice is not_found, and so is a heartbeat after leaving.
    let reply = post(addr, "/demo/rooms/lobby/leave", &json!({"participantId": ada})).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json(), json!({}));
    post(addr, "/demo/rooms/lobby/leave", &json!({"participantId": ada}))
        .await
        .assert_error(404, "not_found");
    let why = post(addr, "/demo/rooms/lobby/heartbeat", &json!({"participantId": ada}))
        .await
        .assert_error(404, "not_found");
    assert!(why.contains("join again"), "{why}");
    assert_eq!(names(&get(addr, "/demo/rooms/lobby").await), [""]);
    // A leave sent as a beacon: text/plain, no Content-Type at all is fine too.
    let reply = http(
        addr,
        "POST",
        "/demo/rooms/lobby/leave",
        &[("Content-Type", "text/plain;charset=UTF-8")],
        json!({"participantId": bob}).to_string().as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(names(&get(addr, "/demo/rooms/lobby").await), Vec::<String>::new());
}

#[tokio::test]
async fn a_participant_whose_session_ended_is_dropped() {
    let server = start_with(1, |c| {
        c.timers.unconnected_timeout = Duration::from_millis(300);
        c.timers.closed_grace = Duration::ZERO;
    })
    .await;
    let addr = server.addr();
    let session = server.new_empty_session().await;
    let reply =
        post(addr, "/demo/rooms/gone/join", &json!({"sessionId": session, "name": "Ada"})).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let participant = reply.json()["participantId"].as_str().unwrap().to_owned();
    // The session never connects, so the SFU removes it; the directory follows on the next
    // request about that room, long before the heartbeat timeout.
    let id: sfu::directory::SessionId = session.parse().unwrap();
    let end = Instant::now() + DEADLINE;
    while server.running.directory().contains(id) {
        assert!(Instant::now() < end, "the unconnected session was never removed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(names(&get(addr, "/demo/rooms/gone").await), Vec::<String>::new());
    post(addr, "/demo/rooms/gone/heartbeat", &json!({"participantId": participant}))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn bad_requests_get_the_right_status() {
    let server = start(1).await;
    let addr = server.addr();
    let session = server.new_empty_session().await;
    let join = "/demo/rooms/r/join";

    // Not JSON, or not an object.
    for body in [&b"{"[..], b"", b"[1]", b"\"x\""] {
        let reply = http(addr, "POST", join, &[], body).await;
        reply.assert_error(400, "decoding_error");
    }
    // Bad fields.
    for body in [
        json!({}),
        json!({"sessionId": 7}),
        json!({"sessionId": "0123"}),
        json!({"sessionId": session, "name": 5}),
        json!({"sessionId": session, "name": "x".repeat(41)}),
        json!({"sessionId": session, "name": "a\u{0}b"}),
        json!({"sessionId": session, "tracks": "video"}),
        json!({"sessionId": session, "tracks": [1]}),
        json!({"sessionId": session, "tracks": [""]}),
        json!({"sessionId": session, "tracks": vec!["t"; 9]}),
    ] {
        post(addr, join, &body).await.assert_error(400, "invalid_params");
    }
    for room in ["a%20b", "%C3%A9", &"x".repeat(65)] {
        let why = post(addr, &format!("/demo/rooms/{room}/join"), &json!({"sessionId": session}))
            .await
            .assert_error(400, "invalid_params");
        assert!(why.contains("room name"), "{why}");
        get(addr, &format!("/demo/rooms/{room}")).await.assert_error(400, "invalid_params");
    }
    // A session this server does not have.
    let why = post(addr, join, &json!({"sessionId": "0".repeat(32)}))
        .await
        .assert_error(404, "not_found");
    assert!(why.contains("sessions/new"), "{why}");
    // The same session twice in one room.
    assert_eq!(post(addr, join, &json!({"sessionId": session})).await.status, 201);
    post(addr, join, &json!({"sessionId": session})).await.assert_error(409, "already_joined");
    // Heartbeat and leave need a well-formed participant id, and boolean flags.
    for body in [json!({}), json!({"participantId": "xyz"}), json!({"participantId": 3})] {
        post(addr, "/demo/rooms/r/heartbeat", &body).await.assert_error(400, "invalid_params");
        post(addr, "/demo/rooms/r/leave", &body).await.assert_error(400, "invalid_params");
    }
    let unknown = "f".repeat(32);
    post(addr, "/demo/rooms/r/heartbeat", &json!({"participantId": unknown, "audioMuted": "yes"}))
        .await
        .assert_error(400, "invalid_params");
    post(addr, "/demo/rooms/r/heartbeat", &json!({"participantId": unknown}))
        .await
        .assert_error(404, "not_found");
    // Methods and paths.
    http(addr, "GET", join, &[], b"").await.assert_error(405, "method_not_allowed");
    http(addr, "PUT", "/demo/rooms/r/leave", &[], b"")
        .await
        .assert_error(405, "method_not_allowed");
    http(addr, "POST", "/demo/config", &[], b"").await.assert_error(405, "method_not_allowed");
    http(addr, "DELETE", "/demo/rooms/r", &[], b"").await.assert_error(405, "method_not_allowed");
    for path in ["/demo", "/demo/rooms", "/demo/rooms/r/kick", "/demo/nope"] {
        get(addr, path).await.assert_error(404, "not_found");
    }
    // Too large.
    let big = vec![b' '; sfu::api::MAX_BODY_LEN + 1];
    http(addr, "POST", join, &[], &big).await.assert_error(413, "payload_too_large");
}

#[tokio::test]
async fn a_room_holds_sixteen() {
    let server = start(1).await;
    let addr = server.addr();
    for n in 0..16 {
        let session = server.new_empty_session().await;
        let reply = post(addr, "/demo/rooms/full/join", &json!({"sessionId": session})).await;
        assert_eq!(reply.status, 201, "participant {n}: {}", reply.text());
    }
    let session = server.new_empty_session().await;
    let why = post(addr, "/demo/rooms/full/join", &json!({"sessionId": session}))
        .await
        .assert_error(409, "room_full");
    assert!(why.contains("16"), "{why}");
    // Another room still has space.
    let reply = post(addr, "/demo/rooms/next/join", &json!({"sessionId": session})).await;
    assert_eq!(reply.status, 201);
}

#[tokio::test]
async fn the_page_and_its_scripts_are_served() {
    let server = start(1).await;
    let addr = server.addr();
    let page = get(addr, "/").await;
    assert_eq!(page.status, 200);
    let html = page.text();
    for needle in [
        r#"<script src="/sfu.js"></script>"#,
        r#"<script src="/demo.js"></script>"#,
        r#"id="room""#,
        r#"id="muteAudio""#,
        r#"id="muteVideo""#,
        r#"id="leave""#,
        r#"id="grid""#,
    ] {
        assert!(html.contains(needle), "{needle}");
    }
    let script = get(addr, "/demo.js").await;
    assert_eq!(script.status, 200);
    assert!(script.header("content-type").unwrap().starts_with("text/javascript"));
    let js = script.text();
    for needle in ["/demo/config", "heartbeat", "tracks/new", "renegotiate", "sendBeacon"] {
        assert!(js.contains(needle), "{needle}");
    }
    // No secret in the page or its scripts, and nothing loaded from elsewhere.
    for text in [&html, &js] {
        assert!(!text.contains(SECRET));
        assert!(!text.contains("http://") && !text.contains("https://") && !text.contains("//cdn"));
    }
}
