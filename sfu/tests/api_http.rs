//! The HTTP API over real TCP against an in-process server: authentication, CORS, JSON on
//! every response, body handling, `sessions/new` with browser offers, `GET sessions/{id}`,
//! `GET stats` and the demo page.

mod api_common;

use api_common::{assert_json_with_vary, http, raw, start, HttpReply, CHROME_AV, SECRET};
use serde_json::json;
use sfu::api::MAX_BODY_LEN;
use sfu::sdp::{CandidateType, SessionDescription, Setup};

const BEARER: &str = "Bearer test-secret-4f1c9a";

fn offer_body(sdp: &str) -> String {
    json!({"sessionDescription": {"type": "offer", "sdp": sdp}}).to_string()
}

#[tokio::test]
async fn bearer_token_is_required_and_checked() {
    let server = start(1).await;
    let addr = server.addr();
    for base in ["/v1/apps/default", "/apps/default"] {
        let path = format!("{base}/sessions/new");
        let missing = http(addr, "POST", &path, &[], b"").await;
        missing.assert_error(401, "unauthorized");
        for wrong in [
            "Bearer nope",
            "Bearer test-secret-4f1c9",
            "Basic test-secret-4f1c9a",
            "test-secret-4f1c9a",
        ] {
            let reply = http(addr, "POST", &path, &[("Authorization", wrong)], b"").await;
            reply.assert_error(401, "unauthorized");
        }
        let stats = http(addr, "GET", &format!("{base}/stats"), &[], b"").await;
        stats.assert_error(401, "unauthorized");
        // The right token, scheme in any case.
        let ok =
            http(addr, "POST", &path, &[("authorization", &format!("bearer {SECRET}"))], b"").await;
        assert_eq!(ok.status, 201, "{}", ok.text());
    }
    assert_eq!(server.running.directory().len(), 2);
}

#[tokio::test]
async fn unknown_app_session_and_route_are_404() {
    let server = start(1).await;
    let addr = server.addr();
    // An unknown app is not_found, with or without a valid token.
    for auth in [&[("Authorization", BEARER)][..], &[]] {
        let reply = http(addr, "POST", "/v1/apps/other/sessions/new", auth, b"").await;
        reply.assert_error(404, "not_found");
        let reply = http(addr, "GET", "/apps/other/stats", auth, b"").await;
        reply.assert_error(404, "not_found");
    }
    for id in ["00000000000000000000000000000000", "not-hex", "0123"] {
        for base in ["/v1/apps/default", "/apps/default"] {
            let reply = http(
                addr,
                "GET",
                &format!("{base}/sessions/{id}"),
                &[("Authorization", BEARER)],
                b"",
            )
            .await;
            reply.assert_error(404, "not_found");
        }
    }
    for path in
        ["/nope", "/v1", "/v1/apps", "/v1/apps/default/sessions", "/v1/apps/default/whatever/x"]
    {
        let reply = http(addr, "GET", path, &[("Authorization", BEARER)], b"").await;
        reply.assert_error(404, "not_found");
    }
    // A known path with the wrong method.
    let reply =
        http(addr, "GET", "/v1/apps/default/sessions/new", &[("Authorization", BEARER)], b"").await;
    reply.assert_error(405, "method_not_allowed");
}

#[tokio::test]
async fn cors_preflight_is_answered() {
    let server = start(1).await;
    let reply = http(
        server.addr(),
        "OPTIONS",
        "/v1/apps/default/sessions/new",
        &[
            ("Origin", "http://example.test:3000"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "authorization,content-type,x-correlation"),
        ],
        b"",
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_json_with_vary(&reply);
    assert_eq!(reply.header("access-control-allow-origin"), Some("http://example.test:3000"));
    let methods = reply.header("access-control-allow-methods").unwrap();
    for m in ["GET", "POST", "PUT", "DELETE", "OPTIONS"] {
        assert!(methods.contains(m), "{methods}");
    }
    let headers = reply.header("access-control-allow-headers").unwrap().to_ascii_lowercase();
    for h in ["authorization", "content-type", "x-correlation"] {
        assert!(headers.contains(h), "{headers}");
    }
    let max_age: u32 = reply.header("access-control-max-age").unwrap().parse().unwrap();
    assert!(max_age >= 600);

    // Without an Origin: any origin is allowed.
    let plain = http(server.addr(), "OPTIONS", "/anything", &[], b"").await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("access-control-allow-origin"), Some("*"));
    assert_json_with_vary(&plain);
}

/// Method, path, headers, body.
type Request<'a> = (&'a str, String, &'a [(&'a str, &'a str)], Vec<u8>);

/// Every kind of answer, success or error, is JSON with `Vary: Origin` and an allowed origin.
#[tokio::test]
async fn every_response_is_json_with_vary_origin() {
    let server = start(1).await;
    let addr = server.addr();
    let (id, _) = server.new_session(CHROME_AV).await;
    let auth = [("Authorization", BEARER), ("Origin", "http://page.test")];
    let big = vec![b'x'; MAX_BODY_LEN + 1];
    let requests: Vec<Request<'_>> = vec![
        ("POST", "/v1/apps/default/sessions/new".into(), &auth, offer_body(CHROME_AV).into_bytes()),
        ("POST", "/v1/apps/default/sessions/new".into(), &auth, Vec::new()),
        ("GET", format!("/v1/apps/default/sessions/{id}"), &auth, Vec::new()),
        ("GET", "/apps/default/stats".into(), &auth, Vec::new()),
        ("GET", "/v1/apps/default/sessions/ffff".into(), &auth, Vec::new()),
        ("POST", "/v1/apps/default/sessions/new".into(), &auth, b"{oops".to_vec()),
        ("POST", "/v1/apps/default/sessions/new".into(), &auth, big),
        (
            "POST",
            "/v1/apps/default/sessions/new".into(),
            &[("Origin", "http://page.test")],
            Vec::new(),
        ),
        ("GET", "/v1/apps/nope/stats".into(), &auth, Vec::new()),
        ("PUT", "/v1/apps/default/stats".into(), &auth, Vec::new()),
        ("GET", "/favicon.ico".into(), &auth, Vec::new()),
    ];
    for (method, path, headers, body) in requests {
        let reply = http(addr, method, &path, headers, &body).await;
        assert_json_with_vary(&reply);
        assert_eq!(reply.header("access-control-allow-origin"), Some("http://page.test"), "{path}");
        if reply.status >= 400 {
            let body = reply.json();
            assert!(
                body["errorCode"].is_string() && body["errorDescription"].is_string(),
                "{body}"
            );
        }
    }
}

#[tokio::test]
async fn any_content_type_and_unknown_query_parameters_are_accepted() {
    let server = start(1).await;
    let addr = server.addr();
    let body = offer_body(CHROME_AV);
    for content_type in [Some("text/plain;charset=UTF-8"), None, Some("application/octet-stream")] {
        let mut headers = vec![("Authorization", BEARER)];
        if let Some(ct) = content_type {
            headers.push(("Content-Type", ct));
        }
        let reply = http(
            addr,
            "POST",
            "/v1/apps/default/sessions/new?correlationId=abc&foo=bar&thirdparty=false",
            &headers,
            body.as_bytes(),
        )
        .await;
        assert_eq!(reply.status, 201, "{content_type:?}: {}", reply.text());
        assert_eq!(reply.json()["sessionDescription"]["type"], "answer");
    }
    let reply =
        http(addr, "GET", "/v1/apps/default/stats?x=1&&y", &[("Authorization", BEARER)], b"").await;
    assert_eq!(reply.status, 200);
    // thirdparty=true runs full ICE toward the offer's host candidates: this server listens
    // on loopback, and the fixture's candidates are LAN addresses it cannot reach, so the
    // offer is refused with a clear reason (and nothing is sent anywhere).
    let reply = http(
        addr,
        "POST",
        "/v1/apps/default/sessions/new?thirdparty=true",
        &[("Authorization", BEARER)],
        body.as_bytes(),
    )
    .await;
    reply.assert_error(400, "decoding_error");
    assert!(reply.text().contains("host candidates"), "{}", reply.text());
    let driver = server.running.driver_stats();
    assert_eq!((driver.datagrams_sent, driver.send_errors), (0, 0));
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let server = start(1).await;
    let addr = server.addr();
    // Declared and sent.
    let big = vec![b' '; MAX_BODY_LEN + 1];
    let reply =
        http(addr, "POST", "/v1/apps/default/sessions/new", &[("Authorization", BEARER)], &big)
            .await;
    reply.assert_error(413, "payload_too_large");
    // Exactly at the limit is read (and is no valid JSON: whitespace then garbage).
    let mut at_limit = vec![b' '; MAX_BODY_LEN - 1];
    at_limit.push(b'x');
    let reply = http(
        addr,
        "POST",
        "/v1/apps/default/sessions/new",
        &[("Authorization", BEARER)],
        &at_limit,
    )
    .await;
    reply.assert_error(400, "decoding_error");
    // Chunked, with no length announced.
    let chunk = vec![b' '; 700 * 1024];
    let mut request = format!(
        "POST /v1/apps/default/sessions/new HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Authorization: {BEARER}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for _ in 0..2 {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(&chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    raw(addr, &request).await.assert_error(413, "payload_too_large");
    // A huge announced length is refused before any of it is read.
    let request = format!(
        "POST /v1/apps/default/sessions/new HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Authorization: {BEARER}\r\nContent-Length: 1000000000\r\n\r\n"
    );
    raw(addr, request.as_bytes()).await.assert_error(413, "payload_too_large");
    assert!(server.running.directory().is_empty());
}

#[tokio::test]
async fn bad_json_and_bad_sdp_are_decoding_errors() {
    let server = start(1).await;
    let post = |body: String| {
        let addr = server.addr();
        async move {
            http(
                addr,
                "POST",
                "/v1/apps/default/sessions/new",
                &[("Authorization", BEARER)],
                body.as_bytes(),
            )
            .await
        }
    };
    for body in ["{", "[1,2]", "\"offer\"", r#"{"sessionDescription": "v=0"}"#] {
        post(body.to_owned()).await.assert_error(400, "decoding_error");
    }
    let wrong_type =
        json!({"sessionDescription": {"type": "answer", "sdp": CHROME_AV}}).to_string();
    post(wrong_type).await.assert_error(400, "decoding_error");

    // A malformed line: the description names it.
    let line = CHROME_AV.lines().position(|l| l == "a=rtpmap:111 opus/48000/2").unwrap() + 1;
    let broken = CHROME_AV.replacen("a=rtpmap:111 opus/48000/2", "a=rtpmap:abc opus/48000/2", 1);
    let description = post(offer_body(&broken)).await.assert_error(400, "decoding_error");
    assert!(description.contains(&format!("line {line}")), "{description}");
    assert!(description.contains("rtpmap"), "{description}");

    // Well-formed SDP without what a WebRTC transport needs.
    let no_ice: String = CHROME_AV
        .split_inclusive('\n')
        .filter(|l| !l.starts_with("a=ice-ufrag") && !l.starts_with("a=ice-pwd"))
        .collect();
    let description = post(offer_body(&no_ice)).await.assert_error(400, "decoding_error");
    assert!(description.contains("ice-ufrag"), "{description}");
    let no_fingerprint: String =
        CHROME_AV.split_inclusive('\n').filter(|l| !l.starts_with("a=fingerprint")).collect();
    let description = post(offer_body(&no_fingerprint)).await.assert_error(400, "decoding_error");
    assert!(description.contains("fingerprint"), "{description}");
    let bad_pwd = CHROME_AV.replace("a=ice-pwd:Fus4hRjMrpP46HRkXRz+RPdL", "a=ice-pwd:short");
    post(offer_body(&bad_pwd)).await.assert_error(400, "decoding_error");
    assert!(server.running.directory().is_empty());
}

/// Checks the answer to a browser offer: ICE-lite, passive, our fingerprint, host candidates
/// for every bound UDP address.
fn check_answer(server: &api_common::TestServer, answer: &str) {
    let answer = SessionDescription::parse(answer).expect("the answer parses");
    assert!(answer.is_ice_lite());
    let fingerprint = server.running.fingerprint().to_string();
    let mut accepted = 0;
    for (index, m) in answer.media.iter().filter(|m| m.port != 0).enumerate() {
        accepted += 1;
        assert_eq!(answer.setup(m), Some(Setup::Passive));
        let fps = answer.fingerprints(m);
        assert_eq!(fps.len(), 1);
        assert_eq!(format!("{} {}", fps[0].algorithm, fps[0].hex()), fingerprint);
        let credentials = answer.ice_credentials(m).expect("ICE credentials");
        assert_eq!(credentials.ufrag.len(), ice::GENERATED_UFRAG_LEN);
        let candidates: Vec<std::net::SocketAddr> = m
            .candidates()
            .map(|c| {
                assert_eq!(c.kind, CandidateType::Host);
                assert!(c.transport.eq_ignore_ascii_case("udp"));
                std::net::SocketAddr::new(c.address.parse().unwrap(), c.port)
            })
            .collect();
        // BUNDLE: the candidates are on the first section at least.
        if index > 0 && candidates.is_empty() {
            continue;
        }
        assert_eq!(candidates.len(), server.running.udp_addrs.len());
        for bound in &server.running.udp_addrs {
            assert!(candidates.contains(bound), "{bound} not in {candidates:?}");
        }
    }
    assert!(accepted > 0);
}

#[tokio::test]
async fn new_session_with_browser_offers_on_both_base_paths() {
    let server = start(2).await;
    assert_eq!(server.running.udp_addrs.iter().any(|a| a.is_ipv6()), api_common::ipv6_available());
    assert!(server.running.udp_addrs.iter().any(|a| a.is_ipv4()));
    let addr = server.addr();
    let mut ids = Vec::new();
    for (base, sdp) in [
        ("/v1/apps/default", CHROME_AV),
        ("/apps/default", api_common::FIREFOX_AV),
        ("/v1/apps/default", api_common::CHROME_DATA),
    ] {
        let reply = http(
            addr,
            "POST",
            &format!("{base}/sessions/new"),
            &[("Authorization", BEARER)],
            offer_body(sdp).as_bytes(),
        )
        .await;
        assert_eq!(reply.status, 201, "{}", reply.text());
        assert_json_with_vary(&reply);
        let body = reply.json();
        let id = body["sessionId"].as_str().unwrap().to_owned();
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(body["sessionDescription"]["type"], "answer");
        check_answer(&server, body["sessionDescription"]["sdp"].as_str().unwrap());
        ids.push(id);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3);

    // GET on both base paths: a fresh session, all counters zero.
    for (id, base) in ids.iter().zip(["/v1/apps/default", "/apps/default", "/apps/default"]) {
        let reply =
            http(addr, "GET", &format!("{base}/sessions/{id}"), &[("Authorization", BEARER)], b"")
                .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let body = reply.json();
        assert_eq!(body["connectionState"], "new");
        assert_eq!(body["tracks"], json!([]));
        assert_eq!(body["dataChannels"], json!([]));
        let stats = body["stats"].as_object().expect("stats object");
        assert!(stats.contains_key("datagrams_received") && stats.contains_key("rtp_decrypted"));
        assert!(stats.values().all(|v| v == 0), "{stats:?}");
    }
    let stats = server.stats().await;
    assert_eq!(stats["sessions_active"], 3);
    assert_eq!(stats["sessions_unclaimed"], 3);
    assert_eq!(stats["workers"], 2);
}

#[tokio::test]
async fn new_session_without_an_offer() {
    let server = start(1).await;
    for body in [&b""[..], b"{}", br#"{"sessionDescription": null}"#] {
        let reply = http(
            server.addr(),
            "POST",
            "/v1/apps/default/sessions/new",
            &[("Authorization", BEARER)],
            body,
        )
        .await;
        assert_eq!(reply.status, 201, "{}", reply.text());
        let json = reply.json();
        let object = json.as_object().unwrap();
        assert_eq!(object.len(), 1, "{json}");
        let id = object["sessionId"].as_str().unwrap();
        let info = server.get(&format!("sessions/{id}")).await;
        assert_eq!(info.status, 200);
        assert_eq!(info.json()["connectionState"], "new");
        let parsed: sfu::directory::SessionId = id.parse().unwrap();
        assert!(!server.running.directory().get(parsed).unwrap().has_peer_connection);
    }
}

#[tokio::test]
async fn stats_start_at_zero() {
    let server = start(2).await;
    let stats = server.stats().await;
    let object = stats.as_object().unwrap();
    for (name, _) in server.running.driver_stats().fields() {
        assert_eq!(object.get(name), Some(&json!(0)), "{name}");
    }
    assert_eq!(stats["sessions_active"], 0);
}

#[tokio::test]
async fn demo_page_and_script_are_served() {
    let server = start(1).await;
    let page: HttpReply = http(server.addr(), "GET", "/", &[], b"").await;
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    assert_eq!(page.header("vary"), Some("Origin"));
    let html = page.text();
    assert!(html.contains(r#"<script src="/sfu.js"></script>"#));
    assert!(html.contains(r#"id="status""#));
    let script = http(server.addr(), "GET", "/sfu.js", &[], b"").await;
    assert_eq!(script.status, 200);
    assert!(script.header("content-type").unwrap().starts_with("text/javascript"));
    let js = script.text();
    for needle in ["window.sfu", "publish", "getUserMedia", "setRemoteDescription", "sessions/new"]
    {
        assert!(js.contains(needle), "{needle}");
    }
    // No external resources.
    for text in [&html, &js] {
        assert!(!text.contains("http://") && !text.contains("https://") && !text.contains("//cdn"));
    }
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let server = start(2).await;
    let addr = server.addr();
    assert_eq!(server.stats().await["workers"], 2);
    server.running.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
