//! WHIP ingest (RFC 9725) and WHEP playback (draft-ietf-wish-whep), on top of the sessions
//! and tracks of the Calls-compatible API.
//!
//! | method | path (after `/v1/apps/{appId}` or `/apps/{appId}`) | answer |
//! |---|---|---|
//! | POST | `/whip/{streamName}` | `application/sdp` offer that sends audio and/or video → 201, the SDP answer, `Location: {base}/whip/{streamName}/{sessionId}`, `ETag` |
//! | POST | `/whep/{streamName}` | `application/sdp` offer that receives → 201, the answer pulling the stream's tracks, `Location: {base}/whep/{streamName}/{sessionId}`, `ETag`; 409 with `Retry-After` while nothing is published under that name |
//! | PATCH | the `Location` | `application/trickle-ice-sdpfrag` with `If-Match` → 204 (candidates), or 200 with our new credentials (an ICE restart) |
//! | DELETE | the `Location` | 200 `{}`: the session ends (its published tracks are withdrawn) |
//! | OPTIONS | either | the CORS preflight, with `Accept-Post: application/sdp` on the POST paths and `Accept-Patch: application/trickle-ice-sdpfrag` on a resource |
//!
//! Authentication is the rest of the API's: `Authorization: Bearer <app secret>`.
//!
//! **One session per resource.** A WHIP or WHEP POST creates a session exactly as
//! `sessions/new` does and answers the offer through the code of `tracks/new` with an
//! offer, so the session id at the end of the `Location` is a session of the Calls API too
//! (`GET sessions/{id}` shows it, `tracks/new` can pull from it). A WHIP session publishes
//! each sending audio or video section under a name from its kind: the first audio section
//! `audio`, the first video section `video`, later ones `audio-2`, `video-2`, ... A WHEP
//! session pulls them: each receiving section of the client's offer, in order, gets the next
//! published track of its kind; sections left over are answered inactive.
//!
//! **Stream names** are 1 to 128 characters of `A-Z a-z 0-9 - . _ ~`. A name has at most one
//! live WHIP publisher: a second WHIP POST while its session exists is 409
//! `stream_in_use`. The name is free again once that session is deleted or ends (it never
//! connected within 30 s, or lost connectivity for 30 s). A WHEP player keeps the publisher
//! it was given: when the publisher leaves its sections go quiet, and the player POSTs
//! again (409 + `Retry-After` until a new publisher is there).
//!
//! **ICE.** The SFU is ICE-lite and writes all its candidates in the answer; a client's
//! trickled candidates and `a=end-of-candidates` are checked for syntax and acknowledged
//! with 204 (an ICE-lite agent learns the client's addresses from its checks). A fragment
//! with a new `a=ice-ufrag`/`a=ice-pwd` is an ICE restart (RFC 9725 §4.3.2): the SFU takes
//! new credentials of its own, answers 200 with a fragment carrying them and its candidates,
//! and a new `ETag`; media goes on over the current pair until the client's checks under the
//! new credentials succeed. `If-Match` is required on PATCH (428 without it): `*` or the
//! current entity-tag, else 412.
//!
//! **TURN.** With a TURN key configured, the 201 answers carry the ICE servers as `Link:
//! <url>; rel="ice-server"` headers (RFC 9725 §4.6), with credentials minted as the
//! `turn/keys` routes mint them (valid one day). The preflight carries none: it is not
//! authenticated.
//!
//! **Errors** are JSON `{errorCode, errorDescription}` like the rest of the API: 400
//! `decoding_error` (bad SDP or fragment, bad stream name), 401 `unauthorized`, 404
//! `not_found` (no such resource: deleted, ended, or never created), 405
//! `method_not_allowed` (with `Allow`), 406 `invalid_params` (another negotiation holds the
//! session), 409 `stream_in_use` (WHIP) or `stream_not_published` (WHEP, with
//! `Retry-After`), 412 `precondition_failed`, 415 `unsupported_media_type`, 422
//! `invalid_params` (an offer that sends nothing for WHIP, receives nothing the stream has
//! for WHEP, or whose every section had to be rejected), 428 `precondition_required`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use rand::RngCore;
use serde_json::json;
use tracing::{info, info_span};

use super::http::{error_reply, json_reply, read_body, ApiError, Reply};
use super::peer::{apply_ice_restart, decoding_error, invalid_params, transport_media, IceRestart};
use super::tracks::{answer_client_offer, lock_session, TrackRequest};
use super::{sessions, turn_keys, ApiState};
use crate::directory::{Directory, SessionId};
use crate::sdp::{Candidate, MediaKind, SessionDescription};
use crate::session::SessionStats;

/// `Retry-After` of a WHEP POST for a stream nobody publishes yet, in seconds.
const RETRY_AFTER_SECS: &str = "2";
/// Longest stream name.
const MAX_STREAM_NAME: usize = 128;

const SDP: &str = "application/sdp";
const SDPFRAG: &str = "application/trickle-ice-sdpfrag";

/// Ingest or playback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Protocol {
    /// WHIP (RFC 9725): the client sends.
    Whip,
    /// WHEP: the client receives.
    Whep,
}

impl Protocol {
    /// The path segment.
    fn segment(self) -> &'static str {
        match self {
            Protocol::Whip => "whip",
            Protocol::Whep => "whep",
        }
    }

    fn from_segment(segment: &str) -> Option<Protocol> {
        match segment {
            "whip" => Some(Protocol::Whip),
            "whep" => Some(Protocol::Whep),
            _ => None,
        }
    }
}

/// The WHIP and WHEP resources alive, and which session publishes each stream name.
///
/// Entries whose session has left the directory (deleted, timed out) are dropped on the
/// next look-up, so the registry never holds more entries than there are sessions plus
/// those that ended since the last request.
#[derive(Debug, Default)]
pub(super) struct Streams {
    inner: Mutex<Registry>,
}

#[derive(Debug, Default)]
struct Registry {
    /// Stream name → its WHIP session.
    publishers: HashMap<String, SessionId>,
    resources: HashMap<SessionId, Resource>,
}

#[derive(Debug)]
struct Resource {
    protocol: Protocol,
    stream: String,
    /// The current entity-tag, quoted.
    etag: String,
    /// WHIP: the tracks the session publishes (name, kind). WHEP: empty.
    tracks: Vec<(String, MediaKind)>,
}

/// A fresh strong entity-tag: 64 random bits in hex, quoted (RFC 9110 §8.8.3).
fn new_etag() -> String {
    format!("\"{:016x}\"", rand::thread_rng().next_u64())
}

impl Streams {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        // Every mutation below is a single insert or remove: the maps stay consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The registry without the resources whose session has ended.
    fn pruned<'a>(&'a self, directory: &Directory) -> std::sync::MutexGuard<'a, Registry> {
        let mut registry = self.lock();
        registry.resources.retain(|id, _| directory.contains(*id));
        let Registry { publishers, resources } = &mut *registry;
        publishers.retain(|_, id| resources.contains_key(id));
        registry
    }

    /// Registers session `id` as the WHIP publisher of `stream`, unless another live session
    /// publishes it. Returns the entity-tag.
    fn claim(&self, directory: &Directory, stream: &str, id: SessionId) -> Option<String> {
        let mut registry = self.pruned(directory);
        if registry.publishers.contains_key(stream) {
            return None;
        }
        let etag = new_etag();
        registry.publishers.insert(stream.to_owned(), id);
        registry.resources.insert(
            id,
            Resource {
                protocol: Protocol::Whip,
                stream: stream.to_owned(),
                etag: etag.clone(),
                tracks: Vec::new(),
            },
        );
        Some(etag)
    }

    /// Registers session `id` as a WHEP player of `stream`. Returns the entity-tag.
    fn add_player(&self, stream: &str, id: SessionId) -> String {
        let etag = new_etag();
        let resource = Resource {
            protocol: Protocol::Whep,
            stream: stream.to_owned(),
            etag: etag.clone(),
            tracks: Vec::new(),
        };
        self.lock().resources.insert(id, resource);
        etag
    }

    /// Records what WHIP session `id` publishes.
    fn set_tracks(&self, id: SessionId, tracks: Vec<(String, MediaKind)>) {
        if let Some(resource) = self.lock().resources.get_mut(&id) {
            resource.tracks = tracks;
        }
    }

    /// The live publisher of `stream` and its tracks.
    fn publisher(
        &self,
        directory: &Directory,
        stream: &str,
    ) -> Option<(SessionId, Vec<(String, MediaKind)>)> {
        let registry = self.pruned(directory);
        let id = *registry.publishers.get(stream)?;
        let tracks = registry.resources.get(&id).map(|r| r.tracks.clone()).unwrap_or_default();
        Some((id, tracks))
    }

    /// The current entity-tag of a live resource, if `id` is one of `protocol` for `stream`.
    fn etag(
        &self,
        directory: &Directory,
        protocol: Protocol,
        stream: &str,
        id: SessionId,
    ) -> Option<String> {
        let registry = self.pruned(directory);
        registry
            .resources
            .get(&id)
            .filter(|r| r.protocol == protocol && r.stream == stream)
            .map(|r| r.etag.clone())
    }

    /// A new entity-tag for resource `id` (after an ICE restart).
    fn renew_etag(&self, id: SessionId) -> Option<String> {
        let mut registry = self.lock();
        let resource = registry.resources.get_mut(&id)?;
        resource.etag = new_etag();
        Some(resource.etag.clone())
    }

    /// Forgets resource `id` (and the stream it publishes).
    fn remove(&self, id: SessionId) {
        let mut registry = self.lock();
        if let Some(resource) = registry.resources.remove(&id) {
            if registry.publishers.get(&resource.stream) == Some(&id) {
                registry.publishers.remove(&resource.stream);
            }
        }
    }
}

/// Whether `rest` (the path after the app base) is a WHIP or WHEP path, and which:
/// `Some((protocol, is_resource))`.
pub(super) fn path_kind(rest: &[&str]) -> Option<(Protocol, bool)> {
    match rest {
        [segment, _] => Protocol::from_segment(segment).map(|p| (p, false)),
        [segment, _, _] => Protocol::from_segment(segment).map(|p| (p, true)),
        _ => None,
    }
}

/// Headers the OPTIONS answer of a WHIP or WHEP path adds to the CORS preflight.
pub(super) fn options_headers(rest: &[&str], headers: &mut HeaderMap) {
    match path_kind(rest) {
        Some((_, false)) => {
            headers.insert(HeaderName::from_static("accept-post"), HeaderValue::from_static(SDP));
        }
        Some((_, true)) => {
            headers
                .insert(HeaderName::from_static("accept-patch"), HeaderValue::from_static(SDPFRAG));
        }
        None => {}
    }
}

/// A WHIP or WHEP request, already authenticated. `base` is the app's path prefix as the
/// client wrote it (`/v1/apps/{appId}` or `/apps/{appId}`), for `Location`.
pub(super) async fn route(
    state: &ApiState,
    request: Request<Incoming>,
    base: &str,
    rest: &[&str],
) -> Reply {
    let method = request.method().clone();
    let result = match rest {
        [segment, stream] => {
            let Some(protocol) = Protocol::from_segment(segment) else { return not_found() };
            if method != Method::POST {
                return method_not_allowed("POST, OPTIONS");
            }
            create(state, request, base, protocol, stream).await
        }
        [segment, stream, resource] => {
            let Some(protocol) = Protocol::from_segment(segment) else { return not_found() };
            let Some(id) = live_resource(state, protocol, stream, resource) else {
                return resource_not_found(protocol);
            };
            match method {
                Method::PATCH => patch(state, request, protocol, stream, id).await,
                Method::DELETE => delete(state, protocol, stream, id).await,
                _ => return method_not_allowed("PATCH, DELETE, OPTIONS"),
            }
        }
        _ => return not_found(),
    };
    result.unwrap_or_else(ApiError::reply)
}

fn not_found() -> Reply {
    error_reply(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

fn resource_not_found(protocol: Protocol) -> Reply {
    error_reply(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no {} session at this URL: it was deleted, it ended, or it never existed",
            protocol.segment().to_uppercase()
        ),
    )
}

fn method_not_allowed(allow: &'static str) -> Reply {
    let mut reply = error_reply(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("this URL takes {allow}"),
    );
    reply.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    reply
}

/// The session id of a live resource at `/{protocol}/{stream}/{resource}`.
fn live_resource(
    state: &ApiState,
    protocol: Protocol,
    stream: &str,
    resource: &str,
) -> Option<SessionId> {
    let id = resource.parse::<SessionId>().ok()?;
    state.whip.etag(&state.directory, protocol, stream, id).map(|_| id)
}

/// Whether a stream name is 1 to [`MAX_STREAM_NAME`] unreserved URL characters (RFC 3986
/// §2.3), so it is the same in every path and needs no escaping in `Location`.
fn valid_stream_name(name: &str) -> bool {
    (1..=MAX_STREAM_NAME).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// Whether the request's `Content-Type` is `wanted` (parameters ignored, any case).
fn content_type_is(headers: &HeaderMap, wanted: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(wanted))
}

fn unsupported_media_type(wanted: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!("send the body as Content-Type: {wanted}"),
    )
}

fn unprocessable(description: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_params", description)
}

/// POST on `/{protocol}/{stream}`: checks, reads and parses the offer, then publishes or plays.
async fn create(
    state: &ApiState,
    request: Request<Incoming>,
    base: &str,
    protocol: Protocol,
    stream: &str,
) -> Result<Reply, ApiError> {
    if !valid_stream_name(stream) {
        return Err(decoding_error(format!(
            "a stream name is 1 to {MAX_STREAM_NAME} characters of A-Z a-z 0-9 - . _ ~"
        )));
    }
    if !content_type_is(request.headers(), SDP) {
        return Err(unsupported_media_type(SDP));
    }
    let body = read_body(request).await?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| decoding_error("the SDP offer is not valid UTF-8"))?;
    let offer = SessionDescription::parse(text)
        .map_err(|e| decoding_error(format!("invalid SDP offer: {e}")))?;
    match protocol {
        Protocol::Whip => publish(state, base, stream, offer).await,
        Protocol::Whep => play(state, base, stream, offer).await,
    }
}

/// The names a WHIP session publishes its sending sections under: `audio`, `video`, then
/// `audio-2`, `video-2`, ... in section order.
fn track_names(sections: &[(String, MediaKind)]) -> Vec<String> {
    let mut counts: Vec<(MediaKind, usize)> = Vec::new();
    sections
        .iter()
        .map(|(_, kind)| {
            let n = match counts.iter_mut().find(|(k, _)| k == kind) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    counts.push((kind.clone(), 1));
                    1
                }
            };
            if n == 1 {
                kind.as_str().to_owned()
            } else {
                format!("{}-{n}", kind.as_str())
            }
        })
        .collect()
}

/// A new session without a PeerConnection, announced to the workers (which expire it if
/// it never connects).
async fn new_session(state: &ApiState) -> Result<SessionId, ApiError> {
    let now = Instant::now();
    let id = sessions::create_empty(state, now, Arc::new(SessionStats::default()))?;
    state.notifier.session_added(id, now).await;
    Ok(id)
}

/// Ends session `id`: out of the directory at once (its tracks withdrawn, its
/// subscriptions dropped), and its owner closes DTLS and drops the machine.
async fn end_session(state: &ApiState, id: SessionId) {
    state.whip.remove(id);
    if let Some(Some(owner)) = state.directory.end(id) {
        state.notifier.close_session(owner, id).await;
    }
    state.notifier.routes_changed();
}

/// WHIP POST: a session that publishes every sending section of the offer.
async fn publish(
    state: &ApiState,
    base: &str,
    stream: &str,
    offer: SessionDescription,
) -> Result<Reply, ApiError> {
    let sections: Vec<(String, MediaKind)> = offer
        .media
        .iter()
        .filter(|m| m.is_rtp() && !m.is_rejected() && offer.direction(m).sends())
        .filter_map(|m| Some((m.mid()?.to_owned(), m.kind.clone())))
        .collect();
    if sections.is_empty() {
        return Err(unprocessable(
            "a WHIP offer sends audio or video: no sendonly or sendrecv section with a mid",
        ));
    }
    let id = new_session(state).await?;
    let Some(etag) = state.whip.claim(&state.directory, stream, id) else {
        end_session(state, id).await;
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "stream_in_use",
            format!("stream {stream:?} already has a WHIP publisher: DELETE its resource first or pick another name"),
        ));
    };
    let names = track_names(&sections);
    let requests: Vec<TrackRequest> = sections
        .iter()
        .zip(&names)
        .map(|((mid, _), name)| TrackRequest::local(mid, name))
        .collect();
    let answered = match answer_client_offer(state, id, offer, &requests).await {
        Ok(answered) => answered,
        Err(e) => {
            end_session(state, id).await;
            return Err(e);
        }
    };
    let published: Vec<(String, MediaKind)> = answered
        .results
        .iter()
        .zip(&sections)
        .filter(|(result, _)| result.error().is_none())
        .filter_map(|(result, (_, kind))| Some((result.track_name()?.to_owned(), kind.clone())))
        .collect();
    if published.is_empty() {
        let why = answered.results.iter().find_map(|r| r.error()).unwrap_or("nothing published");
        let why = format!("no section of the offer can be received: {why}");
        end_session(state, id).await;
        return Err(unprocessable(why));
    }
    info_span!("session", %id).in_scope(|| {
        let tracks: Vec<&str> = published.iter().map(|(n, _)| n.as_str()).collect();
        info!(stream, ?tracks, "WHIP publishing");
    });
    state.whip.set_tracks(id, published);
    Ok(created(state, base, Protocol::Whip, stream, id, &etag, answered.sdp))
}

/// WHEP POST: a session that pulls the tracks of the stream's publisher.
async fn play(
    state: &ApiState,
    base: &str,
    stream: &str,
    offer: SessionDescription,
) -> Result<Reply, ApiError> {
    let live = state.whip.publisher(&state.directory, stream).map(|(publisher, tracks)| {
        let live: Vec<(String, MediaKind)> = tracks
            .into_iter()
            .filter(|(name, _)| state.directory.track(publisher, name).is_some())
            .collect();
        (publisher, live)
    });
    let Some((publisher, mut tracks)) = live.filter(|(_, tracks)| !tracks.is_empty()) else {
        return Ok(not_published(stream));
    };
    let mut requests = Vec::new();
    for m in offer.media.iter().filter(|m| m.is_rtp() && !m.is_rejected()) {
        let (Some(mid), true) = (m.mid(), offer.direction(m).receives()) else { continue };
        if let Some(i) = tracks.iter().position(|(_, kind)| *kind == m.kind) {
            let (name, _) = tracks.remove(i);
            requests.push(TrackRequest::remote(mid, publisher, &name));
        }
    }
    if requests.is_empty() {
        return Err(unprocessable(
            "the offer has no receiving section (with a mid) of a kind the stream publishes",
        ));
    }
    let id = new_session(state).await?;
    let etag = state.whip.add_player(stream, id);
    let answered = match answer_client_offer(state, id, offer, &requests).await {
        Ok(answered) => answered,
        Err(e) => {
            end_session(state, id).await;
            return Err(e);
        }
    };
    if answered.results.iter().all(|r| r.error().is_some()) {
        let why = answered.results.iter().find_map(|r| r.error()).unwrap_or("nothing pulled");
        let why = format!("no track of the stream can be sent: {why}");
        end_session(state, id).await;
        return Err(unprocessable(why));
    }
    info_span!("session", %id).in_scope(|| info!(stream, %publisher, "WHEP playing"));
    Ok(created(state, base, Protocol::Whep, stream, id, &etag, answered.sdp))
}

/// 409 `stream_not_published` with `Retry-After` (draft-ietf-wish-whep).
fn not_published(stream: &str) -> Reply {
    let mut reply = error_reply(
        StatusCode::CONFLICT,
        "stream_not_published",
        format!("nothing is published under stream {stream:?} yet: retry later"),
    );
    reply.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
    reply
}

/// 201 with the answer, `Location`, `ETag` and the ICE servers.
fn created(
    state: &ApiState,
    base: &str,
    protocol: Protocol,
    stream: &str,
    id: SessionId,
    etag: &str,
    answer: String,
) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(answer)));
    *reply.status_mut() = StatusCode::CREATED;
    let headers = reply.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SDP));
    let location = format!("{base}/{}/{stream}/{id}", protocol.segment());
    // The stream name and the id are checked URL characters, the base came in the request
    // line: a valid header value.
    if let Ok(location) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, location);
    }
    if let Ok(etag) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, etag);
    }
    if let Some(key) = &state.config.turn {
        for link in turn_keys::ice_server_links(key) {
            if let Ok(link) = HeaderValue::from_str(&link) {
                headers.append(header::LINK, link);
            }
        }
    }
    reply
}

/// DELETE on a resource: 200 `{}`, the session ends.
async fn delete(
    state: &ApiState,
    protocol: Protocol,
    stream: &str,
    id: SessionId,
) -> Result<Reply, ApiError> {
    end_session(state, id).await;
    info_span!("session", %id)
        .in_scope(|| info!(stream, protocol = protocol.segment(), "deleted through its resource"));
    Ok(json_reply(StatusCode::OK, &json!({})))
}

/// What a trickle-ice-sdpfrag body says (RFC 8840 §9.2): the credentials of the ICE
/// generation, if given, and how many candidates it carries.
#[derive(Debug, Default, PartialEq, Eq)]
struct Fragment {
    ufrag: Option<String>,
    pwd: Option<String>,
    candidates: usize,
    end_of_candidates: bool,
}

/// Parses a trickle-ice-sdpfrag body. Every line must be `<letter>=<value>`; `a=candidate`
/// lines must parse; other attributes and `m=` lines are accepted and ignored.
fn parse_fragment(text: &str) -> Result<Fragment, String> {
    let mut fragment = Fragment::default();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let n = i + 1;
        let bytes = line.as_bytes();
        let well_formed = bytes.len() >= 2 && bytes[0].is_ascii_lowercase() && bytes[1] == b'=';
        if !well_formed {
            return Err(format!("line {n} is not <type>=<value>"));
        }
        let Some(attribute) = line.strip_prefix("a=") else { continue };
        let (name, value) = attribute.split_once(':').unwrap_or((attribute, ""));
        match name {
            "ice-ufrag" => fragment.ufrag = Some(value.trim().to_owned()),
            "ice-pwd" => fragment.pwd = Some(value.trim().to_owned()),
            "candidate" => {
                Candidate::parse(attribute).map_err(|e| format!("line {n}: {e}"))?;
                fragment.candidates += 1;
            }
            "end-of-candidates" => fragment.end_of_candidates = true,
            _ => {}
        }
    }
    Ok(fragment)
}

/// Whether `If-Match` lets a PATCH through: `*`, or one of its entity-tags is `current`
/// (strong comparison, RFC 9110 §13.1.1). `None` when the header is missing.
fn if_match(headers: &HeaderMap, current: &str) -> Option<bool> {
    let mut seen = false;
    let mut matched = false;
    for value in headers.get_all(header::IF_MATCH) {
        seen = true;
        let Ok(value) = value.to_str() else { continue };
        matched |= value.split(',').map(str::trim).any(|tag| tag == "*" || tag == current);
    }
    seen.then_some(matched)
}

/// PATCH on a resource: trickled candidates (204) or an ICE restart (200).
async fn patch(
    state: &ApiState,
    request: Request<Incoming>,
    protocol: Protocol,
    stream: &str,
    id: SessionId,
) -> Result<Reply, ApiError> {
    if !content_type_is(request.headers(), SDPFRAG) {
        return Err(unsupported_media_type(SDPFRAG));
    }
    let current = state
        .whip
        .etag(&state.directory, protocol, stream, id)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "the session ended"))?;
    match if_match(request.headers(), &current) {
        None => {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_REQUIRED,
                "precondition_required",
                "send If-Match with the ETag of the resource (or * for an ICE restart)",
            ))
        }
        Some(false) => {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                "If-Match does not match the resource's current ETag",
            ))
        }
        Some(true) => {}
    }
    let body = read_body(request).await?;
    let text =
        std::str::from_utf8(&body).map_err(|_| decoding_error("the fragment is not UTF-8"))?;
    let fragment = parse_fragment(text)
        .map_err(|e| decoding_error(format!("invalid trickle-ice-sdpfrag: {e}")))?;
    let (_, _, mut negotiation) = lock_session(state, &id.to_string())?;
    let remote = negotiation.remote_description().and_then(|d| {
        let media = transport_media(d)?;
        d.ice_credentials(media).map(|c| (c.ufrag.to_owned(), c.pwd.to_owned()))
    });
    let restart = match (&fragment.ufrag, &fragment.pwd) {
        (None, None) => None,
        (Some(ufrag), Some(pwd)) => {
            let same = remote.as_ref().is_some_and(|(u, p)| u == ufrag && p == pwd);
            (!same).then(|| (ufrag.clone(), pwd.clone()))
        }
        _ => {
            return Err(decoding_error(
                "a fragment with ICE credentials carries both a=ice-ufrag and a=ice-pwd",
            ))
        }
    };
    let Some((ufrag, pwd)) = restart else {
        // Trickled candidates: ICE-lite learns the client's addresses from its checks.
        return Ok(no_content());
    };
    if remote.is_none() {
        return Err(invalid_params("the session has not negotiated ICE yet"));
    }
    let remote = ice::Credentials::new(&ufrag, &pwd)
        .map_err(|e| decoding_error(format!("the fragment's ICE credentials are invalid: {e}")))?;
    let local = ice::Credentials::generate(&mut rand::thread_rng());
    apply_ice_restart(state, id, IceRestart::new(local.clone(), remote.clone())).await?;
    negotiation.restart_ice((local.ufrag(), local.pwd()), (remote.ufrag(), remote.pwd()));
    let answer = answer_fragment(&negotiation, &local);
    drop(negotiation);
    let etag = state
        .whip
        .renew_etag(id)
        .ok_or_else(|| ApiError::new(StatusCode::GONE, "session_error", "the session has ended"))?;
    info_span!("session", %id).in_scope(|| info!(stream, "ICE restart through PATCH"));
    let mut reply = Response::new(Full::new(Bytes::from(answer)));
    let headers = reply.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SDPFRAG));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    Ok(reply)
}

fn no_content() -> Reply {
    let mut reply = Response::new(Full::new(Bytes::new()));
    *reply.status_mut() = StatusCode::NO_CONTENT;
    reply
}

/// Our side of an ICE restart as a fragment (RFC 9725 §4.3.2, RFC 8840 §9.2): `a=ice-lite`,
/// the new credentials, then the BUNDLE transport's m-line and mid with our candidates.
fn answer_fragment(
    negotiation: &crate::negotiation::Negotiation,
    local: &ice::Credentials,
) -> String {
    let mut out = String::new();
    out.push_str("a=ice-lite\r\n");
    out.push_str(&format!("a=ice-ufrag:{}\r\na=ice-pwd:{}\r\n", local.ufrag(), local.pwd()));
    let section = negotiation.local_description().and_then(|d| {
        let m = transport_media(d)?;
        Some((m, m.mid()?))
    });
    if let Some((m, mid)) = section {
        out.push_str(&format!(
            "m={} 9 {} {}\r\na=mid:{mid}\r\n",
            m.kind.as_str(),
            m.protocol,
            m.formats.join(" ")
        ));
        let candidates =
            negotiation.local_parameters().map(|l| l.host_candidates()).unwrap_or_default();
        for candidate in candidates {
            out.push_str(&format!("a={candidate}\r\n"));
        }
        out.push_str("a=end-of-candidates\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names() {
        assert!(valid_stream_name("cam-1"));
        assert!(valid_stream_name("a.b_c~d"));
        assert!(valid_stream_name(&"x".repeat(MAX_STREAM_NAME)));
        assert!(!valid_stream_name(""));
        assert!(!valid_stream_name(&"x".repeat(MAX_STREAM_NAME + 1)));
        assert!(!valid_stream_name("a b"));
        assert!(!valid_stream_name("a%20b"));
        assert!(!valid_stream_name("é"));
    }

    #[test]
    fn names_by_kind() {
        let sections = [
            ("0".to_owned(), MediaKind::Audio),
            ("1".to_owned(), MediaKind::Video),
            ("2".to_owned(), MediaKind::Video),
            ("3".to_owned(), MediaKind::Audio),
            ("4".to_owned(), MediaKind::Video),
        ];
        assert_eq!(track_names(&sections), ["audio", "video", "video-2", "audio-2", "video-3"]);
    }

    #[test]
    fn fragments() {
        let trickle = "a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1\r\na=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0 ufrag EsAw network-id 2\r\na=end-of-candidates\r\n";
        let f = parse_fragment(trickle).unwrap();
        assert_eq!(f.ufrag.as_deref(), Some("EsAw"));
        assert_eq!(f.pwd.as_deref(), Some("P2uYro0UCOQ4zxjKXaWCBui1"));
        assert_eq!(f.candidates, 2);
        assert!(f.end_of_candidates);
        assert_eq!(parse_fragment("").unwrap(), Fragment::default());
        assert_eq!(parse_fragment("a=end-of-candidates\n").unwrap().candidates, 0);
        assert!(parse_fragment("a=candidate:garbage\r\n").is_err());
        assert!(parse_fragment("hello\r\n").is_err());
        assert!(parse_fragment("=x\r\n").is_err());
    }

    #[test]
    fn if_match_rules() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::IF_MATCH, HeaderValue::from_str(v).unwrap());
            if_match(&h, "\"abc\"")
        };
        assert_eq!(if_match(&HeaderMap::new(), "\"abc\""), None);
        assert_eq!(with("\"abc\""), Some(true));
        assert_eq!(with("*"), Some(true));
        assert_eq!(with("\"x\", \"abc\""), Some(true));
        assert_eq!(with("\"abd\""), Some(false));
        // Weak tags never match in If-Match.
        assert_eq!(with("W/\"abc\""), Some(false));
        assert_eq!(with("abc"), Some(false));
    }

    #[test]
    fn content_types() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_str(v).unwrap());
            content_type_is(&h, SDP)
        };
        assert!(with("application/sdp"));
        assert!(with("Application/SDP; charset=utf-8"));
        assert!(!with("application/json"));
        assert!(!with("application/sdpx"));
        assert!(!content_type_is(&HeaderMap::new(), SDP));
    }

    #[test]
    fn paths() {
        assert_eq!(path_kind(&["whip", "cam"]), Some((Protocol::Whip, false)));
        assert_eq!(path_kind(&["whep", "cam", "id"]), Some((Protocol::Whep, true)));
        assert_eq!(path_kind(&["sessions", "new"]), None);
        assert_eq!(path_kind(&["whip"]), None);
        let mut h = HeaderMap::new();
        options_headers(&["whip", "cam"], &mut h);
        assert_eq!(h.get("accept-post").unwrap(), SDP);
        let mut h = HeaderMap::new();
        options_headers(&["whep", "cam", "x"], &mut h);
        assert_eq!(h.get("accept-patch").unwrap(), SDPFRAG);
    }
}
