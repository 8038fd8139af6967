//! TURN credentials, as Cloudflare's TURN service mints them:
//!
//! | method | path | answer |
//! |---|---|---|
//! | POST | `/v1/turn/keys/{keyId}/credentials/generate-ice-servers` | 201 `{"iceServers": [{"urls": [stun]}, {"urls": [turn, turns], "username", "credential"}]}` |
//! | POST | `/v1/turn/keys/{keyId}/credentials/generate` | 201 `{"iceServers": {"urls": [...], "username", "credential"}}` (the older form) |
//!
//! Both take `Authorization: Bearer <key secret>` and an optional JSON body
//! `{"ttl": seconds, "customIdentifier": "..."}`: `ttl` defaults to 86400 and is at most
//! 172800 (48 h); anything else is 400 `invalid_params`. Credentials follow the TURN REST
//! convention the `turn` server checks statelessly: username `"<expiry unix time>:<id>"`
//! (the custom identifier, or 16 random hex characters), credential
//! `base64(HMAC-SHA1(key secret, username))`.

use std::time::{SystemTime, UNIX_EPOCH};

use hyper::{Method, StatusCode};
use rand::RngCore;
use serde_json::{json, Value};

use super::http::{error_reply, json_reply, Reply};
use crate::config::TurnKey;

/// TTL when the body names none: one day.
pub const DEFAULT_TTL: u64 = 86_400;
/// Longest TTL: 48 hours.
pub const MAX_TTL: u64 = 172_800;
/// Longest custom identifier.
const MAX_IDENTIFIER: usize = 64;

/// Which answer shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    /// `generate-ice-servers`: an array, STUN and TURN servers apart.
    IceServers,
    /// `generate`: one object.
    Legacy,
}

impl Shape {
    pub(super) fn from_action(action: &str) -> Option<Self> {
        match action {
            "generate-ice-servers" => Some(Self::IceServers),
            "generate" => Some(Self::Legacy),
            _ => None,
        }
    }
}

/// The method check, then the body: the reply for an authorized request.
pub(super) fn generate(key: &TurnKey, method: &Method, shape: Shape, body: &[u8]) -> Reply {
    if method != Method::POST {
        return error_reply(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "use POST");
    }
    let request = match parse_body(body) {
        Ok(request) => request,
        Err(description) => {
            return error_reply(StatusCode::BAD_REQUEST, "invalid_params", description);
        }
    };
    let unix_now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let expiry = unix_now.saturating_add(request.ttl);
    let identifier = request.identifier.unwrap_or_else(|| {
        let mut bytes = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut bytes);
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    });
    let (username, credential) = turn::rest_credential(&key.secret, &identifier, expiry);
    json_reply(StatusCode::CREATED, &ice_servers(key, shape, &username, &credential))
}

/// What the body asks for.
#[derive(Debug, PartialEq, Eq)]
struct CredentialRequest {
    ttl: u64,
    identifier: Option<String>,
}

fn parse_body(body: &[u8]) -> Result<CredentialRequest, String> {
    let mut request = CredentialRequest { ttl: DEFAULT_TTL, identifier: None };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(request);
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let Value::Object(fields) = value else {
        return Err("the body must be a JSON object such as {\"ttl\": 86400}".into());
    };
    if let Some(ttl) = fields.get("ttl") {
        request.ttl = ttl
            .as_u64()
            .filter(|t| (1..=MAX_TTL).contains(t))
            .ok_or_else(|| format!("ttl must be an integer from 1 to {MAX_TTL} seconds"))?;
    }
    if let Some(id) = fields.get("customIdentifier") {
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        match id.as_str() {
            Some(id) if !id.is_empty() && id.len() <= MAX_IDENTIFIER && id.chars().all(ok) => {
                request.identifier = Some(id.to_owned());
            }
            _ => {
                return Err(format!(
                    "customIdentifier must be 1 to {MAX_IDENTIFIER} characters of A-Z a-z 0-9 - _ ."
                ));
            }
        }
    }
    Ok(request)
}

/// The URLs: `stun:` on the first UDP port, then `turn:` UDP, `turn:` TCP and `turns:`.
fn urls(key: &TurnKey) -> (Option<String>, Vec<String>) {
    let host = if key.host.contains(':') && !key.host.starts_with('[') {
        format!("[{}]", key.host) // an IPv6 address
    } else {
        key.host.clone()
    };
    let stun = key.udp_ports.first().map(|p| format!("stun:{host}:{p}"));
    let mut turn = Vec::new();
    turn.extend(key.udp_ports.iter().map(|p| format!("turn:{host}:{p}?transport=udp")));
    turn.extend(key.tcp_ports.iter().map(|p| format!("turn:{host}:{p}?transport=tcp")));
    turn.extend(key.tls_ports.iter().map(|p| format!("turns:{host}:{p}?transport=tcp")));
    (stun, turn)
}

/// The ICE servers as `Link` header values (RFC 9725 §4.6, RFC 8288): the STUN URL, then
/// every TURN URL with fresh credentials valid for [`DEFAULT_TTL`].
pub(super) fn ice_server_links(key: &TurnKey) -> Vec<String> {
    let unix_now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut bytes = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut bytes);
    let identifier: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let (username, credential) =
        turn::rest_credential(&key.secret, &identifier, unix_now.saturating_add(DEFAULT_TTL));
    links(key, &username, &credential)
}

fn links(key: &TurnKey, username: &str, credential: &str) -> Vec<String> {
    let (stun, turn) = urls(key);
    let stun = stun.map(|url| format!("<{url}>; rel=\"ice-server\""));
    let turn = turn.into_iter().map(|url| {
        format!(
            "<{url}>; rel=\"ice-server\"; username=\"{username}\"; credential=\"{credential}\"; credential-type=\"password\""
        )
    });
    stun.into_iter().chain(turn).collect()
}

fn ice_servers(key: &TurnKey, shape: Shape, username: &str, credential: &str) -> Value {
    let (stun, turn) = urls(key);
    match shape {
        Shape::IceServers => {
            let mut servers = Vec::new();
            if let Some(stun) = stun {
                servers.push(json!({ "urls": [stun] }));
            }
            servers.push(json!({ "urls": turn, "username": username, "credential": credential }));
            json!({ "iceServers": servers })
        }
        Shape::Legacy => {
            let all: Vec<String> = stun.into_iter().chain(turn).collect();
            json!({ "iceServers": { "urls": all, "username": username, "credential": credential } })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_rules() {
        assert_eq!(parse_body(b"").unwrap().ttl, DEFAULT_TTL);
        assert_eq!(parse_body(b" {} ").unwrap().ttl, DEFAULT_TTL);
        assert_eq!(parse_body(br#"{"ttl": 60}"#).unwrap().ttl, 60);
        assert_eq!(parse_body(br#"{"ttl": 172800}"#).unwrap().ttl, MAX_TTL);
        for bad in [
            &br#"{"ttl": 172801}"#[..],
            br#"{"ttl": 0}"#,
            br#"{"ttl": -5}"#,
            br#"{"ttl": 1.5}"#,
            br#"{"ttl": "60"}"#,
            br#"[1]"#,
            b"not json",
            br#"{"customIdentifier": "a b"}"#,
        ] {
            assert!(parse_body(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let id = parse_body(br#"{"customIdentifier": "user-7"}"#).unwrap().identifier;
        assert_eq!(id.as_deref(), Some("user-7"));
    }

    #[test]
    fn urls_name_every_port() {
        let mut key = TurnKey::new("s");
        let (stun, turn) = urls(&key);
        assert_eq!(stun.as_deref(), Some("stun:127.0.0.1:3478"));
        assert_eq!(
            turn,
            [
                "turn:127.0.0.1:3478?transport=udp",
                "turn:127.0.0.1:53?transport=udp",
                "turn:127.0.0.1:3478?transport=tcp",
                "turn:127.0.0.1:80?transport=tcp",
                "turns:127.0.0.1:5349?transport=tcp",
                "turns:127.0.0.1:443?transport=tcp",
            ]
        );
        let links = links(&key, "1:u", "c/+=");
        assert_eq!(links.len(), 7);
        assert_eq!(links[0], "<stun:127.0.0.1:3478>; rel=\"ice-server\"");
        assert_eq!(
            links[1],
            "<turn:127.0.0.1:3478?transport=udp>; rel=\"ice-server\"; username=\"1:u\"; \
             credential=\"c/+=\"; credential-type=\"password\""
        );
        key.host = "::1".into();
        assert_eq!(urls(&key).0.as_deref(), Some("stun:[::1]:3478"));
    }
}
