//! TURN credentials from the sfu's API: `generate-ice-servers` and the older `generate`,
//! bearer-checked, with credentials the turn server accepts.

mod api_common;

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use api_common::{assert_json_with_vary, http, start_with, HttpReply, TestServer};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Value};
use sfu::config::TurnKey;
use stun::attributes::{
    ErrorCode, Nonce, Realm, RequestedTransport, TransportProtocol, Username, XorRelayedAddress,
};
use stun::{Class, Message, MessageType, MessageWriter, Method, TransactionId};
use turn::{AuthConfig, Output, RelayIp, ServerConfig, Transport, TurnServer};

const KEY_ID: &str = "key-1";
const KEY_SECRET: &str = "turn-key-secret-9d2e";

async fn server() -> TestServer {
    start_with(1, |config| {
        let mut key = TurnKey::new(KEY_SECRET);
        key.key_id = KEY_ID.to_owned();
        key.host = "turn.example.test".to_owned();
        config.turn = Some(key);
    })
    .await
}

async fn post(server: &TestServer, path: &str, bearer: Option<&str>, body: &str) -> HttpReply {
    let auth = bearer.map(|b| format!("Bearer {b}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth));
    }
    http(server.addr(), "POST", path, &headers, body.as_bytes()).await
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Checks a minted username and credential: the expiry is now + ttl, the credential is
/// base64(HMAC-SHA1(secret, username)), and a TURN server with the secret accepts it.
fn check_credential(server_json: &Value, ttl: u64) {
    let username = server_json["username"].as_str().expect("username");
    let credential = server_json["credential"].as_str().expect("credential");
    let (expiry, user) = username.split_once(':').expect("<expiry>:<user>");
    let expiry: u64 = expiry.parse().unwrap();
    let now = unix_now();
    assert!(expiry >= now + ttl - 5 && expiry <= now + ttl + 5, "expiry {expiry} for ttl {ttl}");
    assert!(!user.is_empty());
    assert_eq!(credential, turn::rest_password(KEY_SECRET, username));
    assert_eq!(turn_allocate(username, credential), None, "the turn server accepts it");
    assert_eq!(turn_allocate(username, "wrong"), Some(401));
}

/// An Allocate through the TURN machine configured with the key's secret: `None` on
/// success, else the error code.
fn turn_allocate(username: &str, password: &str) -> Option<u16> {
    let mut config = ServerConfig::new("turn");
    config.relay_ipv4 = Some(RelayIp::new("203.0.113.5".parse().unwrap()));
    config.auth = AuthConfig::default().with_rest_secret(KEY_SECRET);
    let now = Instant::now();
    let mut server = TurnServer::new(config, now, unix_now(), StdRng::seed_from_u64(1)).unwrap();
    let client = "198.51.100.7:40000".parse().unwrap();
    let listen = "203.0.113.5:3478".parse().unwrap();
    let allocate = MessageType::new(Method::ALLOCATE, Class::Request);
    let udp = RequestedTransport(TransportProtocol::UDP);
    let mut request = Vec::new();
    MessageWriter::new(&mut request, allocate, TransactionId([1; 12])).add(&udp).unwrap();
    server.handle_client(now, Transport::Udp, client, listen, &request);
    let Some(Output::ToClient(challenge)) = server.poll_output() else { panic!("no 401") };
    let challenge = Message::parse(&challenge.data).unwrap();
    let nonce = challenge.get::<Nonce<'_>>().unwrap().unwrap().0.to_owned();
    let key = stun::credentials::long_term_key_md5(username, "turn", password).unwrap();
    let mut w = MessageWriter::new(&mut request, allocate, TransactionId([2; 12]));
    w.add(&udp).unwrap();
    w.add(&Username(username)).unwrap();
    w.add(&Realm("turn")).unwrap();
    w.add(&Nonce(&nonce)).unwrap();
    w.add_message_integrity(&key).unwrap();
    server.handle_client(now, Transport::Udp, client, listen, &request);
    loop {
        match server.poll_output() {
            Some(Output::BindRelay(bind)) => server.relay_bound(now, bind.request, Ok(())).unwrap(),
            Some(Output::ToClient(response)) => {
                let msg = Message::parse(&response.data).unwrap();
                if let Some(code) = msg.get::<ErrorCode<'_>>().unwrap() {
                    return Some(code.code);
                }
                assert!(msg.get::<XorRelayedAddress>().unwrap().is_some());
                return None;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn path(action: &str) -> String {
    format!("/v1/turn/keys/{KEY_ID}/credentials/{action}")
}

#[tokio::test]
async fn generate_ice_servers() {
    let server = server().await;
    let reply =
        post(&server, &path("generate-ice-servers"), Some(KEY_SECRET), r#"{"ttl": 3600}"#).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_json_with_vary(&reply);
    let body = reply.json();
    let servers = body["iceServers"].as_array().expect("iceServers is an array");
    assert_eq!(servers.len(), 2);
    assert_eq!(servers[0], json!({"urls": ["stun:turn.example.test:3478"]}));
    let host = "turn.example.test";
    assert_eq!(
        servers[1]["urls"],
        json!([
            format!("turn:{host}:3478?transport=udp"),
            format!("turn:{host}:53?transport=udp"),
            format!("turn:{host}:3478?transport=tcp"),
            format!("turn:{host}:80?transport=tcp"),
            format!("turns:{host}:5349?transport=tcp"),
            format!("turns:{host}:443?transport=tcp"),
        ])
    );
    check_credential(&servers[1], 3600);

    // No body: the default TTL of a day.
    let reply = post(&server, &path("generate-ice-servers"), Some(KEY_SECRET), "").await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    check_credential(&reply.json()["iceServers"][1], 86_400);
    server.running.shutdown().await;
}

#[tokio::test]
async fn legacy_generate_returns_one_object() {
    let server = server().await;
    let reply = post(&server, &path("generate"), Some(KEY_SECRET), r#"{"ttl": 172800}"#).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let body = reply.json();
    let ice = &body["iceServers"];
    assert!(ice.is_object(), "{body}");
    let urls = ice["urls"].as_array().unwrap();
    assert_eq!(urls.len(), 7);
    assert_eq!(urls[0], "stun:turn.example.test:3478");
    check_credential(ice, 172_800);
    server.running.shutdown().await;
}

#[tokio::test]
async fn bearer_ttl_and_key_are_checked() {
    let server = server().await;
    for action in ["generate-ice-servers", "generate"] {
        post(&server, &path(action), None, "{}").await.assert_error(401, "unauthorized");
        post(&server, &path(action), Some("wrong"), "{}").await.assert_error(401, "unauthorized");
        for bad in [r#"{"ttl": 172801}"#, r#"{"ttl": 0}"#, r#"{"ttl": "x"}"#, "{not json"] {
            post(&server, &path(action), Some(KEY_SECRET), bad)
                .await
                .assert_error(400, "invalid_params");
        }
        let other_key = format!("/v1/turn/keys/other/credentials/{action}");
        post(&server, &other_key, Some(KEY_SECRET), "{}").await.assert_error(404, "not_found");
    }
    let get = http(
        server.addr(),
        "GET",
        &path("generate"),
        &[("Authorization", &format!("Bearer {KEY_SECRET}"))],
        b"",
    )
    .await;
    get.assert_error(405, "method_not_allowed");
    server.running.shutdown().await;
}

#[tokio::test]
async fn routes_are_off_without_a_key() {
    let server = api_common::start(1).await;
    post(&server, "/v1/turn/keys/default/credentials/generate-ice-servers", Some("x"), "{}")
        .await
        .assert_error(404, "not_found");
    server.running.shutdown().await;
}
