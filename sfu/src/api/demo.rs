//! The demo page's backend: a room directory beside the API, as an application would build
//! one, and the API access the page needs.
//!
//! The API itself stays room-less. The page at `/` creates its sessions through the API like
//! any client, then tells this directory which room it is in; every 1.5 s it sends a
//! heartbeat that returns who else is there, and pulls their tracks by `sessionId` and
//! `trackName`.
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/demo/config` | 200 `{appId, appSecret, apiBase, heartbeatMs, participantTtlMs, maxParticipants}` |
//! | GET | `/demo/rooms/{room}` | 200 `{room, participants}` (empty for a room nobody is in) |
//! | POST | `/demo/rooms/{room}/join` | `{sessionId, name?, tracks?}` → 201 `{participantId, room, participants, heartbeatMs}` |
//! | POST | `/demo/rooms/{room}/heartbeat` | `{participantId, audioMuted?, videoMuted?}` → 200 `{room, participants}` |
//! | POST | `/demo/rooms/{room}/leave` | `{participantId}` → 200 `{}` |
//!
//! Each participant in a listing is `{sessionId, name, tracks, audioMuted, videoMuted,
//! joinedMsAgo, seenMsAgo}`. The `participantId` is private to the participant (it is what
//! heartbeats and leaves); listings never show it. Rules and bounds are those of
//! [`crate::rooms`]: room names of `A-Z a-z 0-9 - _ .` up to 64 characters, 16 participants
//! per room, 1000 rooms, 30 s without a heartbeat and a participant is gone. A participant
//! whose session the SFU removed is dropped too.
//!
//! Errors are JSON `{errorCode, errorDescription}`: 400 `decoding_error` (not a JSON
//! object), 400 `invalid_params` (a bad room name, session id, name or track list), 403
//! `forbidden` (see below), 404 `not_found` (no such session, participant or endpoint, or the
//! demo is off), 405 `method_not_allowed`, 409 `already_joined` / `room_full`, 413
//! `payload_too_large`, 503 `too_many_rooms`.
//!
//! # Who gets API access
//!
//! The page needs the app secret to call the API, and `GET /demo/config` hands it over. So
//! every `/demo/` request passes [`DemoAccess`]:
//!
//! - `loopback` (the default): the request comes from a loopback address, names a loopback
//!   host (`127.0.0.1`, `[::1]`, `localhost`: a DNS-rebinding page on another name is
//!   refused), and carries no `Forwarded` / `X-Forwarded-For` / `X-Real-IP` header (behind a
//!   reverse proxy on the same machine, every client would otherwise look local). Whoever
//!   can open the page there can already read the secret the sfu prints at start.
//! - `public`: anyone who reaches the HTTP port. They can then use the whole API; for a
//!   demo behind HTTPS (browsers allow cameras only in secure contexts: `https://`, or
//!   `http://` on loopback).
//! - `off`: 404 on every `/demo/` path.
//!
//! In every mode the request must be same-origin: an `Origin` header, if any, must name the
//! host the request was sent to, and `Sec-Fetch-Site`, if any, must be `same-origin` or
//! `none`. Another site open in the same browser cannot read the secret or touch the rooms,
//! even though the API answers CORS preflights for everyone.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, StatusCode};
use serde_json::{json, Map, Value};
use tracing::info;

use super::http::{error_reply, json_reply, read_body, ApiError, Reply};
use super::ApiState;
use crate::config::DemoAccess;
use crate::directory::SessionId;
use crate::rooms::{Join, MuteState, ParticipantId, ParticipantView, RoomError, RoomLimits, Rooms};

/// How often the page sends a heartbeat (and learns who is in the room).
pub const HEARTBEAT_INTERVAL_MS: u64 = 1500;

/// The address a request came from, put in the request's extensions by the HTTP layer.
#[derive(Debug, Clone, Copy)]
pub(super) struct ClientAddr(pub(super) SocketAddr);

/// The demo's shared state: the room directory behind a lock held for microseconds.
#[derive(Debug)]
pub(super) struct DemoState {
    rooms: Mutex<Rooms>,
}

impl DemoState {
    pub(super) fn new() -> DemoState {
        DemoState { rooms: Mutex::new(Rooms::new(RoomLimits::default())) }
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, Rooms> {
        // Every operation on Rooms leaves it consistent, so a panic elsewhere while the lock
        // was held does not make the data unusable.
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Every `/demo/...` request (`rest` is the path after `/demo`).
pub(super) async fn route(state: &ApiState, request: Request<Incoming>, rest: &[&str]) -> Reply {
    let client = request.extensions().get::<ClientAddr>().map(|c| c.0);
    if let Err(refusal) = check_access(state.config.demo, client, request.headers()) {
        return refusal.reply();
    }
    let method = request.method().clone();
    match (rest, &method) {
        (["config"], &Method::GET) => config(state),
        (["rooms", room], &Method::GET) => list(state, room),
        (["rooms", room, action @ ("join" | "heartbeat" | "leave")], &Method::POST) => {
            let body = match read_body(request).await {
                Ok(body) => body,
                Err(e) => return e.reply(),
            };
            let body = match parse_object(&body) {
                Ok(body) => body,
                Err(e) => return e.reply(),
            };
            match *action {
                "join" => join(state, room, &body),
                "heartbeat" => heartbeat(state, room, &body),
                _ => leave(state, room, &body),
            }
        }
        (["config"] | ["rooms", _], _) => {
            error_reply(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "use GET")
        }
        (["rooms", _, "join" | "heartbeat" | "leave"], _) => {
            error_reply(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "use POST")
        }
        _ => error_reply(StatusCode::NOT_FOUND, "not_found", "no such endpoint"),
    }
}

/// The rules of the module documentation; `Err` is the answer to send instead.
fn check_access(
    mode: DemoAccess,
    client: Option<SocketAddr>,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let forbidden = |why: &'static str| Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", why));
    if mode == DemoAccess::Off {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the demo is off on this server (start the sfu with --demo loopback)",
        ));
    }
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let host = text(header::HOST).unwrap_or("");
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.as_bytes();
        let same = [&b"http://"[..], b"https://"].iter().any(|scheme| {
            origin.len() == scheme.len() + host.len()
                && origin.starts_with(scheme)
                && origin[scheme.len()..].eq_ignore_ascii_case(host.as_bytes())
        });
        if host.is_empty() || !same {
            return forbidden(
                "the demo endpoints answer only the page this server serves (same origin)",
            );
        }
    }
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        if site != "same-origin" && site != "none" {
            return forbidden(
                "the demo endpoints answer only the page this server serves (same origin)",
            );
        }
    }
    if mode == DemoAccess::Public {
        return Ok(());
    }
    let local_only = "the demo hands out API access only to a browser on the machine the sfu \
        runs on: open http://127.0.0.1:PORT/ there, or start the sfu with --demo public (then \
        anyone who reaches this port can use the API)";
    let proxied = ["forwarded", "x-forwarded-for", "x-real-ip"]
        .iter()
        .any(|name| headers.contains_key(*name));
    let from_loopback = client.is_some_and(|c| is_loopback(c.ip()));
    if proxied || !from_loopback || !is_loopback_host(host) {
        return forbidden(local_only);
    }
    Ok(())
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// `127.0.0.1`, `[::1]`, `localhost` or `*.localhost` (RFC 6761 §6.3), with or without a
/// port.
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(bracketed) = host.strip_prefix('[') {
        match bracketed.split_once(']') {
            Some((inner, rest)) if rest.is_empty() || rest.starts_with(':') => inner,
            _ => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    if let Ok(ip) = name.parse::<IpAddr>() {
        return is_loopback(ip);
    }
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

fn config(state: &ApiState) -> Reply {
    let limits = *state.demo.rooms().limits();
    let app_id = &state.config.app_id;
    let mut reply = json_reply(
        StatusCode::OK,
        &json!({
            "appId": app_id,
            "appSecret": state.config.app_secret,
            "apiBase": format!("/v1/apps/{app_id}"),
            "heartbeatMs": HEARTBEAT_INTERVAL_MS,
            "participantTtlMs": u64::try_from(limits.participant_ttl.as_millis()).unwrap_or(u64::MAX),
            "maxParticipants": limits.max_participants,
        }),
    );
    reply.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    reply
}

fn list(state: &ApiState, room: &str) -> Reply {
    let mut rooms = state.demo.rooms();
    if let Err(e) = rooms.check_room_name(room) {
        return room_error(e);
    }
    drop_ended_sessions(state, &mut rooms, room);
    let participants = rooms.list(Instant::now(), room);
    json_reply(StatusCode::OK, &json!({ "room": room, "participants": views(&participants) }))
}

fn join(state: &ApiState, room: &str, body: &Map<String, Value>) -> Reply {
    let Some(session) = body.get("sessionId").and_then(Value::as_str) else {
        return invalid("sessionId (a string) is required").reply();
    };
    let Ok(session) = session.parse::<SessionId>() else {
        return room_error(RoomError::BadSessionId);
    };
    if !state.directory.contains(session) {
        return error_reply(
            StatusCode::NOT_FOUND,
            "not_found",
            "no session with this id: create it with POST /v1/apps/{appId}/sessions/new first",
        );
    }
    let name = match body.get("name") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(name)) => name.clone(),
        Some(_) => return invalid("name must be a string").reply(),
    };
    let tracks = match body.get("tracks") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let names: Option<Vec<String>> =
                items.iter().map(|t| t.as_str().map(str::to_owned)).collect();
            match names {
                Some(names) => names,
                None => return invalid("tracks must be an array of track names (strings)").reply(),
            }
        }
        Some(_) => return invalid("tracks must be an array of track names (strings)").reply(),
    };
    let join = Join { session_id: session.to_string(), name, tracks };
    let mut rooms = state.demo.rooms();
    drop_ended_sessions(state, &mut rooms, room);
    match rooms.join(Instant::now(), &mut rand::thread_rng(), room, join) {
        Ok((id, participants)) => {
            info!(room, session = %session, "demo room: joined");
            json_reply(
                StatusCode::CREATED,
                &json!({
                    "participantId": id.to_string(),
                    "room": room,
                    "participants": views(&participants),
                    "heartbeatMs": HEARTBEAT_INTERVAL_MS,
                }),
            )
        }
        Err(e) => room_error(e),
    }
}

fn heartbeat(state: &ApiState, room: &str, body: &Map<String, Value>) -> Reply {
    let id = match participant_id(body) {
        Ok(id) => id,
        Err(e) => return e.reply(),
    };
    let flag = |name: &str| match body.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(invalid(format!("{name} must be true or false"))),
    };
    let muted = match (flag("audioMuted"), flag("videoMuted")) {
        (Ok(audio), Ok(video)) => MuteState { audio, video },
        (Err(e), _) | (_, Err(e)) => return e.reply(),
    };
    let mut rooms = state.demo.rooms();
    drop_ended_sessions(state, &mut rooms, room);
    match rooms.heartbeat(Instant::now(), room, id, muted) {
        Ok(participants) => json_reply(
            StatusCode::OK,
            &json!({ "room": room, "participants": views(&participants) }),
        ),
        Err(e) => room_error(e),
    }
}

fn leave(state: &ApiState, room: &str, body: &Map<String, Value>) -> Reply {
    let id = match participant_id(body) {
        Ok(id) => id,
        Err(e) => return e.reply(),
    };
    let mut rooms = state.demo.rooms();
    match rooms.leave(Instant::now(), room, id) {
        Ok(()) => {
            info!(room, "demo room: left");
            json_reply(StatusCode::OK, &json!({}))
        }
        Err(e) => room_error(e),
    }
}

/// Drops the participants of `room` whose publishing session the SFU has removed (closed,
/// failed, timed out): their tiles go away before the heartbeat timeout.
fn drop_ended_sessions(state: &ApiState, rooms: &mut Rooms, room: &str) {
    rooms.retain_sessions(room, |s| {
        s.parse::<SessionId>().is_ok_and(|id| state.directory.contains(id))
    });
}

fn participant_id(body: &Map<String, Value>) -> Result<ParticipantId, ApiError> {
    let Some(text) = body.get("participantId").and_then(Value::as_str) else {
        return Err(invalid("participantId (a string) is required"));
    };
    ParticipantId::parse(text)
        .ok_or_else(|| invalid("participantId must be the 32 hex characters join returned"))
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "decoding_error",
            "the body must be a JSON object",
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "decoding_error",
            format!("the body is not JSON: {e}"),
        )),
    }
}

fn invalid(description: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_params", description)
}

fn room_error(e: RoomError) -> Reply {
    let (status, code) = match e {
        RoomError::AlreadyJoined => (StatusCode::CONFLICT, "already_joined"),
        RoomError::RoomFull(_) => (StatusCode::CONFLICT, "room_full"),
        RoomError::TooManyRooms(_) => (StatusCode::SERVICE_UNAVAILABLE, "too_many_rooms"),
        RoomError::UnknownParticipant(_) => (StatusCode::NOT_FOUND, "not_found"),
        _ => (StatusCode::BAD_REQUEST, "invalid_params"),
    };
    error_reply(status, code, e.to_string())
}

fn views(participants: &[ParticipantView]) -> Value {
    let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    participants
        .iter()
        .map(|p| {
            json!({
                "sessionId": p.session_id,
                "name": p.name,
                "tracks": p.tracks,
                "audioMuted": p.muted.audio,
                "videoMuted": p.muted.video,
                "joinedMsAgo": ms(p.joined_ago),
                "seenMsAgo": ms(p.seen_ago),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    fn status(result: Result<(), ApiError>) -> u16 {
        match result {
            Ok(()) => 200,
            Err(e) => e.reply().status().as_u16(),
        }
    }

    #[test]
    fn loopback_hosts() {
        for host in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "127.3.4.5:1",
            "[::1]:8080",
            "[::1]",
            "localhost:8080",
            "LOCALHOST",
            "app.localhost:80",
            "localhost.",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "",
            "example.com",
            "192.168.1.2:8080",
            "[::2]:80",
            "[::1",
            "[::1]x",
            "localhost.example.com",
            "127.0.0.1.nip.io:8080",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
        assert!(is_loopback("::ffff:127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn access_rules() {
        let local: SocketAddr = "127.0.0.1:50000".parse().unwrap();
        let remote: SocketAddr = "203.0.113.5:50000".parse().unwrap();
        let host = ("host", "127.0.0.1:8080");
        use DemoAccess::*;
        // Same-origin fetch from the page, or curl on this machine.
        assert_eq!(status(check_access(Loopback, Some(local), &headers(&[host]))), 200);
        let same = headers(&[
            host,
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert_eq!(status(check_access(Loopback, Some(local), &same)), 200);
        // Another site in the same browser.
        let cross = headers(&[host, ("origin", "http://evil.example")]);
        assert_eq!(status(check_access(Loopback, Some(local), &cross)), 403);
        assert_eq!(status(check_access(Public, Some(local), &cross)), 403);
        let cross = headers(&[host, ("sec-fetch-site", "cross-site")]);
        assert_eq!(status(check_access(Loopback, Some(local), &cross)), 403);
        // DNS rebinding: a loopback client asking for another host name.
        let rebound =
            headers(&[("host", "evil.example:8080"), ("origin", "http://evil.example:8080")]);
        assert_eq!(status(check_access(Loopback, Some(local), &rebound)), 403);
        assert_eq!(status(check_access(Public, Some(local), &rebound)), 200);
        // A remote client, or one relayed by a proxy.
        assert_eq!(status(check_access(Loopback, Some(remote), &headers(&[host]))), 403);
        assert_eq!(status(check_access(Loopback, None, &headers(&[host]))), 403);
        let proxied = headers(&[host, ("x-forwarded-for", "203.0.113.5")]);
        assert_eq!(status(check_access(Loopback, Some(local), &proxied)), 403);
        assert_eq!(
            status(check_access(Public, Some(remote), &headers(&[("host", "demo.example")]))),
            200
        );
        // Off is off.
        assert_eq!(status(check_access(Off, Some(local), &headers(&[host]))), 404);
    }
}
