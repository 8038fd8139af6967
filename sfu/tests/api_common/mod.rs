//! Shared by the `api_*` and `udp_*` tests: an in-process server on ephemeral loopback ports
//! and a minimal HTTP/1.1 client over a raw TCP stream (one request per connection).
#![allow(dead_code)] // each test binary uses a different part

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use sfu::api::Running;
use sfu::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const SECRET: &str = "test-secret-4f1c9a";
pub const CHROME_AV: &str = include_str!("../fixtures/chrome_131_audio_video.sdp");
pub const FIREFOX_AV: &str = include_str!("../fixtures/firefox_133_audio_video.sdp");
pub const CHROME_DATA: &str = include_str!("../fixtures/chrome_146_datachannel.sdp");
/// ICE credentials in [`CHROME_AV`].
pub const CHROME_AV_UFRAG: &str = "Jpbd";
pub const CHROME_AV_PWD: &str = "Fus4hRjMrpP46HRkXRz+RPdL";

/// How long any wait in these tests may take before it is a failure.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub running: Running,
}

/// A server with `workers` UDP workers on `127.0.0.1:0` and `[::1]:0` (IPv6 skipped when the
/// host has no `::1`).
pub async fn start(workers: usize) -> TestServer {
    start_with(workers, |_| {}).await
}

/// [`start`], with `adjust` applied to the configuration first.
pub async fn start_with(workers: usize, adjust: impl FnOnce(&mut Config)) -> TestServer {
    let mut config = Config::ephemeral();
    adjust(&mut config);
    config.workers = workers;
    config.app_secret = SECRET.to_owned();
    config.app_secret_generated = false;
    let running = sfu::api::serve(config).await.expect("server starts");
    TestServer { running }
}

/// Whether this host can bind `[::1]`.
pub fn ipv6_available() -> bool {
    std::net::UdpSocket::bind("[::1]:0").is_ok()
}

impl TestServer {
    pub fn addr(&self) -> SocketAddr {
        self.running.http_addr
    }

    /// `GET /v1/apps/default/{path}` with the right bearer token.
    pub async fn get(&self, path: &str) -> HttpReply {
        let auth = format!("Bearer {SECRET}");
        http(
            self.addr(),
            "GET",
            &format!("/v1/apps/default/{path}"),
            &[("Authorization", &auth)],
            b"",
        )
        .await
    }

    /// `POST /v1/apps/default/{path}` with the right bearer token and a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> HttpReply {
        let auth = format!("Bearer {SECRET}");
        let body = body.to_string();
        http(
            self.addr(),
            "POST",
            &format!("/v1/apps/default/{path}"),
            &[("Authorization", &auth), ("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .await
    }

    /// `PUT /v1/apps/default/{path}` with the right bearer token and a JSON body.
    pub async fn put_json(&self, path: &str, body: &Value) -> HttpReply {
        let auth = format!("Bearer {SECRET}");
        let body = body.to_string();
        http(
            self.addr(),
            "PUT",
            &format!("/v1/apps/default/{path}"),
            &[("Authorization", &auth), ("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .await
    }

    /// Creates a session without a PeerConnection; returns its id.
    pub async fn new_empty_session(&self) -> String {
        let reply = self.post_json("sessions/new", &serde_json::json!({})).await;
        assert_eq!(reply.status, 201, "{}", reply.text());
        reply.json()["sessionId"].as_str().expect("sessionId").to_owned()
    }

    /// `POST sessions/{id}/tracks/new` with `body`; asserts HTTP 200 and returns the JSON.
    pub async fn tracks_new(&self, id: &str, body: &Value) -> Value {
        let reply = self.post_json(&format!("sessions/{id}/tracks/new"), body).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_json_with_vary(&reply);
        reply.json()
    }

    /// Pushes the tracks of `offer` (`(mid, trackName)` pairs) on session `id`; returns the
    /// answer SDP.
    pub async fn push(&self, id: &str, offer: &str, tracks: &[(&str, &str)]) -> String {
        let tracks: Vec<Value> = tracks
            .iter()
            .map(|(mid, name)| serde_json::json!({"location": "local", "mid": mid, "trackName": name}))
            .collect();
        let body = self
            .tracks_new(
                id,
                &serde_json::json!({
                    "sessionDescription": {"type": "offer", "sdp": offer},
                    "tracks": tracks,
                }),
            )
            .await;
        assert_eq!(body["requiresImmediateRenegotiation"], false, "{body}");
        for track in body["tracks"].as_array().expect("tracks") {
            assert!(track.get("errorCode").is_none(), "{body}");
        }
        body["sessionDescription"]["sdp"].as_str().expect("answer").to_owned()
    }

    /// Creates a session with `sdp` as the offer; returns (session id, answer SDP).
    pub async fn new_session(&self, sdp: &str) -> (String, String) {
        let reply = self
            .post_json(
                "sessions/new",
                &serde_json::json!({"sessionDescription": {"type": "offer", "sdp": sdp}}),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text());
        let body = reply.json();
        let id = body["sessionId"].as_str().expect("sessionId").to_owned();
        let answer = body["sessionDescription"]["sdp"].as_str().expect("answer sdp").to_owned();
        (id, answer)
    }

    /// `GET stats` as JSON.
    pub async fn stats(&self) -> Value {
        let reply = self.get("stats").await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()
    }

    /// Polls `GET stats` until `done` holds, for at most [`DEADLINE`].
    pub async fn wait_for_stats(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let end = Instant::now() + DEADLINE;
        loop {
            let stats = self.stats().await;
            if done(&stats) {
                return stats;
            }
            assert!(Instant::now() < end, "timed out waiting for {what}: {stats:#}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }

    /// Asserts a JSON error with this status and code; returns the description.
    pub fn assert_error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "{}", self.text());
        assert_json_with_vary(self);
        let body = self.json();
        assert_eq!(body["errorCode"], code, "{body}");
        body["errorDescription"].as_str().expect("errorDescription is a string").to_owned()
    }
}

/// The headers every API response carries: JSON content and `Vary: Origin`.
pub fn assert_json_with_vary(reply: &HttpReply) {
    assert_eq!(reply.header("vary"), Some("Origin"), "{reply:?}");
    assert_eq!(reply.header("content-type"), Some("application/json"), "{reply:?}");
    assert!(reply.json().is_object(), "{reply:?}");
}

/// One request on a new connection (`Connection: close`), with `Content-Length` when there
/// is a body or the method usually has one.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpReply {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    raw(addr, &bytes).await
}

/// Writes `request` as is, then reads the response until the server closes.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> HttpReply {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        // The server may answer (413) and stop reading before the whole body is written.
        let _ = stream.write_all(request).await;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("read the response");
        response
    };
    let response = tokio::time::timeout(DEADLINE, exchange).await.expect("HTTP exchange in time");
    parse_response(&response)
}

fn parse_response(response: &[u8]) -> HttpReply {
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(response)));
    let head = std::str::from_utf8(&response[..split]).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = response[split + 4..].to_vec();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok());
    if let Some(length) = length {
        assert!(body.len() >= length, "short body: {} of {length}", body.len());
        body.truncate(length);
    }
    HttpReply { status, headers, body }
}

/// A browser-like peer ([`sfu::test_client::TestClient`]: ICE controlling, DTLS client,
/// SRTP) on a real UDP socket, for one session.
pub struct Browser {
    pub client: sfu::test_client::TestClient,
    pub socket: tokio::net::UdpSocket,
    pub local: SocketAddr,
    /// The session id.
    pub id: String,
    buf: Vec<u8>,
}

impl Browser {
    /// Creates a session with an offer carrying this peer's ICE credentials and the
    /// fingerprint of `offer_certificate` (its own certificate unless a test wants a
    /// mismatch), and a client that talks to `target`.
    pub async fn connect_to(
        server: &TestServer,
        target: SocketAddr,
        seed: u64,
        offer_certificate: Option<&dtls::Certificate>,
    ) -> Browser {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let ours =
            dtls::DtlsContext::new(dtls::DtlsConfig::new(dtls::Certificate::generate().unwrap()))
                .unwrap();
        let advertised = offer_certificate.unwrap_or(&ours.config().certificate).fingerprint();
        let browser = ice::Credentials::generate(&mut rng);
        let offer = personalize(CHROME_AV, &browser, advertised);
        let (id, answer) = server.new_session(&offer).await;
        let sfu = description_credentials(&answer);
        Browser::with_session(server, target, id, sfu, browser, ours, &mut rng).await
    }

    /// A client for session `id` whose SDP (answer or offer) carried `sfu` as the SFU's ICE
    /// credentials; the client checks with `browser` and runs DTLS as client with `ours`.
    pub async fn with_session(
        server: &TestServer,
        target: SocketAddr,
        id: String,
        sfu: ice::Credentials,
        browser: ice::Credentials,
        ours: dtls::DtlsContext,
        rng: &mut rand::rngs::StdRng,
    ) -> Browser {
        let any = if target.is_ipv4() { "127.0.0.1:0" } else { "[::1]:0" };
        let socket = tokio::net::UdpSocket::bind(any).await.unwrap();
        let local = socket.local_addr().unwrap();
        let params = sfu::test_client::TestClientParams::new(
            local,
            target,
            browser,
            sfu,
            ours,
            server.running.fingerprint().clone(),
        );
        let client = sfu::test_client::TestClient::new(Instant::now(), params, rng).unwrap();
        Browser { client, socket, local, id, buf: vec![0u8; 2048] }
    }

    /// A session created without an offer that pushes the tracks of `fixture` (`(mid,
    /// trackName)` pairs) with its first offer, and its client (not connected yet).
    pub async fn publish(
        server: &TestServer,
        target: SocketAddr,
        seed: u64,
        fixture: &str,
        tracks: &[(&str, &str)],
    ) -> Browser {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let ours =
            dtls::DtlsContext::new(dtls::DtlsConfig::new(dtls::Certificate::generate().unwrap()))
                .unwrap();
        let browser = ice::Credentials::generate(&mut rng);
        let offer = personalize(fixture, &browser, ours.config().certificate.fingerprint());
        let id = server.new_empty_session().await;
        let answer = server.push(&id, &offer, tracks).await;
        let sfu = description_credentials(&answer);
        Browser::with_session(server, target, id, sfu, browser, ours, &mut rng).await
    }

    /// A session created without an offer that pulls `tracks` (`(publisher session,
    /// trackName)`) with the SFU's offer, answered as a browser does (every section
    /// received, `a=setup:active`); returns its client (not connected yet) and the offer.
    pub async fn subscribe(
        server: &TestServer,
        target: SocketAddr,
        seed: u64,
        tracks: &[(&str, &str)],
    ) -> (Browser, sfu::sdp::SessionDescription) {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let ours =
            dtls::DtlsContext::new(dtls::DtlsConfig::new(dtls::Certificate::generate().unwrap()))
                .unwrap();
        let browser = ice::Credentials::generate(&mut rng);
        let id = server.new_empty_session().await;
        let items: Vec<Value> = tracks
            .iter()
            .map(|(session, name)| {
                serde_json::json!({"location": "remote", "sessionId": session, "trackName": name})
            })
            .collect();
        let body = server.tracks_new(&id, &serde_json::json!({ "tracks": items })).await;
        assert_eq!(body["requiresImmediateRenegotiation"], true, "{body}");
        let offer = body["sessionDescription"]["sdp"].as_str().expect("offer").to_owned();
        let answer = browser_answer(&offer, &browser, ours.config().certificate.fingerprint());
        let reply = server
            .put_json(
                &format!("sessions/{id}/renegotiate"),
                &serde_json::json!({"sessionDescription": {"type": "answer", "sdp": answer}}),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let sfu = description_credentials(&offer);
        let browser = Browser::with_session(server, target, id, sfu, browser, ours, &mut rng).await;
        (browser, sfu::sdp::SessionDescription::parse(&offer).unwrap())
    }

    /// Sends what the client has queued.
    pub async fn flush(&mut self) {
        while let Some(t) = self.client.poll_transmit() {
            self.socket.send_to(&t.datagram, t.remote).await.unwrap();
        }
    }

    /// One turn: send, wait up to 20 ms (or the client's next timer) for a datagram, feed it,
    /// fire due timers.
    pub async fn step(&mut self) {
        self.flush().await;
        let wait = self
            .client
            .poll_timeout()
            .map_or(Duration::from_millis(20), |t| t.saturating_duration_since(Instant::now()))
            .min(Duration::from_millis(20));
        if let Ok(received) = tokio::time::timeout(wait, self.socket.recv_from(&mut self.buf)).await
        {
            let (len, from) = received.unwrap();
            self.client.handle_receive(Instant::now(), self.local, from, &self.buf[..len]);
        }
        self.client.handle_timeout(Instant::now());
        self.flush().await;
    }

    /// Steps until the session's `connectionState` (from the API) is `state`.
    pub async fn until_state(&mut self, server: &TestServer, state: &str) -> Value {
        let end = Instant::now() + DEADLINE;
        let path = format!("sessions/{}", self.id);
        loop {
            self.step().await;
            let reply = server.get(&path).await;
            assert_eq!(reply.status, 200, "{}", reply.text());
            let session = reply.json();
            if session["connectionState"] == state {
                return session;
            }
            assert!(
                Instant::now() < end,
                "session not {state}: {session:#}; client {:?} {:?}",
                self.client.failure(),
                self.client.stats()
            );
        }
    }
}

/// `sdp` with its ICE credentials and fingerprint lines replaced by these.
pub fn personalize(
    sdp: &str,
    credentials: &ice::Credentials,
    fingerprint: &dtls::Fingerprint,
) -> String {
    sdp.split_inclusive('\n')
        .map(|line| {
            let end = if line.ends_with("\r\n") { "\r\n" } else { "\n" };
            if line.starts_with("a=ice-ufrag:") {
                format!("a=ice-ufrag:{}{end}", credentials.ufrag())
            } else if line.starts_with("a=ice-pwd:") {
                format!("a=ice-pwd:{}{end}", credentials.pwd())
            } else if line.starts_with("a=fingerprint:") {
                format!("a=fingerprint:{fingerprint}{end}")
            } else {
                line.to_owned()
            }
        })
        .collect()
}

/// The SFU's ICE credentials in one of its descriptions.
pub fn description_credentials(sdp: &str) -> ice::Credentials {
    let description = sfu::sdp::SessionDescription::parse(sdp).unwrap();
    let c = description.ice_credentials(&description.media[0]).unwrap();
    ice::Credentials::new(c.ufrag, c.pwd).unwrap()
}

/// What a browser answers to an SFU offer: every section received, `a=setup:active`, the
/// given ICE credentials and certificate fingerprint.
pub fn browser_answer(
    offer: &str,
    credentials: &ice::Credentials,
    fingerprint: &dtls::Fingerprint,
) -> String {
    use sfu::sdp::{create_answer, AnswerOptions, Fingerprint, LocalParameters, Setup};
    let offer = sfu::sdp::SessionDescription::parse(offer).expect("the SFU's offer parses");
    let mut local = LocalParameters::new(
        42,
        credentials.ufrag(),
        credentials.pwd(),
        Fingerprint {
            algorithm: fingerprint.algorithm().name().to_owned(),
            value: fingerprint.value().to_vec(),
        },
        Vec::new(),
    );
    local.dtls_role = Some(Setup::Active);
    create_answer(&offer, &local, &AnswerOptions::default()).expect("answerable").to_string()
}

/// The `a=fingerprint` line of [`CHROME_AV`].
pub const CHROME_AV_FINGERPRINT: &str = "a=fingerprint:sha-256 BC:33:07:47:D8:65:11:4D:0F:ED:63:11:AA:93:81:74:74:20:91:95:BD:34:3C:28:92:8B:D0:FC:26:02:8A:91";
