//! `POST sessions/{id}/tracks/new` and `PUT sessions/{id}/renegotiate`.
//!
//! `tracks/new` takes `{sessionDescription?, tracks?, autoDiscover?}`:
//! - with the client's offer: local tracks (`{location: "local", mid, trackName}`) are
//!   received on their mid and published under their name; remote tracks
//!   (`{location: "remote", sessionId, trackName, mid}`) are sent on the client's receiving
//!   mid; `autoDiscover: true` publishes every new sending section of the offer, named by its
//!   msid track id (else its mid). The answer comes back with
//!   `requiresImmediateRenegotiation: false`. The first offer of a session created without
//!   one creates its PeerConnection.
//! - without an offer, local tracks (or `autoDiscover: true`) name mids the session already
//!   receives on, negotiated by `sessions/new` or an earlier offer: nothing to renegotiate,
//!   no `sessionDescription` in the reply;
//! - without an offer, local tracks without mids but with a `kind`: the SFU writes an offer
//!   with a receiving section per track (the client attaches its track to that transceiver
//!   and answers through `renegotiate`); the tracks can be pulled once the answer sends;
//! - without an offer, remote tracks: the SFU writes an offer with a sendonly section per
//!   track and returns it with `requiresImmediateRenegotiation: true`; the client answers
//!   through `renegotiate`, which completes the negotiation (and creates the PeerConnection
//!   of a session that had none).
//!
//! `bidirectionalMediaStream: true` makes a transceiver both send and receive: on a push
//! the SFU's answer (or offer) also sends on that mid, with a source of its own; on a pull
//! the SFU's offer is `sendrecv`. A remote track with `mid: "#<trackName>"` is then sent on
//! the bidirectional transceiver that carries this session's local track `<trackName>`,
//! without renegotiation.
//!
//! A batch is all local or all remote, at most [`MAX_TRACKS_PER_CALL`] tracks. Each track
//! gets a result object echoing `location`, `trackName`, `sessionId` (the publisher's; for a
//! local track this session's) and `mid`, or carrying `errorCode`/`errorDescription` with
//! HTTP 200: `empty_track_error` (no trackName), `repeated_local_track_error` (a name this
//! session already publishes, or twice in the batch), `not_found_track_error` (no such
//! remote track), `invalid_params` (a mid the offer does not have, or whose direction or
//! kind does not fit, or that the SFU had to reject for want of a common codec).
//!
//! One negotiation at a time per session: while another call holds the session's
//! negotiation, or while an SFU offer waits for its answer, `tracks/new` is refused with 406
//! `invalid_params`.

use std::time::Instant;

use hyper::StatusCode;
use rand::Rng;
use serde_json::{json, Map, Value};
use tokio::sync::OwnedMutexGuard;
use tracing::{debug, info_span};

use super::http::{json_reply, ApiError, Reply};
use super::peer::{
    apply_ice_restart, attach, credentials_of, decoding_error, ice_restart_for, internal,
    invalid_params, json_object, local_parameters, role_for_answer, role_for_offer,
    session_description, session_for, session_not_found, setup_of,
};
use super::ApiState;
use crate::directory::{DirectoryError, SessionId, SessionInfo, TrackInfo};
use crate::negotiation::{AnswerError, Negotiation, PublishedTrack, PulledTrack, Transceiver};
use crate::router::layers::SimulcastPreference;
use crate::sdp::{
    AnswerOptions, Capabilities, Codec, CodecCapability, Direction, MediaAnswer, MediaKind, Msid,
    OfferMedia, SendStream, SessionDescription,
};

/// Most tracks in one `tracks/new` call (Cloudflare's limit).
pub const MAX_TRACKS_PER_CALL: usize = 64;

/// Push or pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location {
    Local,
    Remote,
}

impl Location {
    fn as_str(self) -> &'static str {
        match self {
            Location::Local => "local",
            Location::Remote => "remote",
        }
    }
}

/// One entry of `tracks`.
#[derive(Debug, Clone)]
pub(super) struct TrackRequest {
    location: Location,
    mid: Option<String>,
    track_name: Option<String>,
    session_id: Option<String>,
    /// `"audio"` or `"video"`: needed when the SFU writes the offer for a push.
    kind: Option<String>,
    /// `bidirectionalMediaStream`: the transceiver both sends and receives.
    bidirectional: bool,
    /// `simulcast`: which layer of a simulcast track to pull.
    simulcast: Option<SimulcastPreference>,
}

impl TrackRequest {
    /// A push of the client's sending section `mid` under `name`.
    pub(super) fn local(mid: &str, name: &str) -> TrackRequest {
        TrackRequest {
            location: Location::Local,
            mid: Some(mid.to_owned()),
            track_name: Some(name.to_owned()),
            session_id: None,
            kind: None,
            bidirectional: false,
            simulcast: None,
        }
    }

    /// A pull of `publisher`'s track `name` into the client's receiving section `mid`.
    pub(super) fn remote(mid: &str, publisher: SessionId, name: &str) -> TrackRequest {
        TrackRequest {
            location: Location::Remote,
            mid: Some(mid.to_owned()),
            track_name: Some(name.to_owned()),
            session_id: Some(publisher.to_string()),
            kind: None,
            bidirectional: false,
            simulcast: None,
        }
    }
}

/// The body of `tracks/new`.
#[derive(Debug)]
struct TracksRequest {
    offer: Option<SessionDescription>,
    tracks: Vec<TrackRequest>,
    auto_discover: bool,
}

/// The result object of one track.
#[derive(Debug, Clone)]
pub(super) struct TrackResult {
    location: Location,
    mid: Option<String>,
    track_name: Option<String>,
    session_id: Option<String>,
    error: Option<(&'static str, String)>,
}

impl TrackResult {
    fn echo(own: SessionId, request: &TrackRequest) -> TrackResult {
        let session_id = match request.location {
            Location::Local => Some(own.to_string()),
            Location::Remote => request.session_id.clone(),
        };
        TrackResult {
            location: request.location,
            mid: request.mid.clone(),
            track_name: request.track_name.clone(),
            session_id,
            error: None,
        }
    }

    /// The track name asked for (or given by `autoDiscover`).
    pub(super) fn track_name(&self) -> Option<&str> {
        self.track_name.as_deref()
    }

    /// Why the track failed, if it did.
    pub(super) fn error(&self) -> Option<&str> {
        self.error.as_ref().map(|(_, description)| description.as_str())
    }

    fn fail(&mut self, code: &'static str, description: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some((code, description.into()));
        }
    }

    fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("location".into(), Value::from(self.location.as_str()));
        for (key, value) in
            [("mid", &self.mid), ("trackName", &self.track_name), ("sessionId", &self.session_id)]
        {
            if let Some(value) = value {
                object.insert(key.into(), Value::from(value.as_str()));
            }
        }
        if let Some((code, description)) = &self.error {
            object.insert("errorCode".into(), Value::from(*code));
            object.insert("errorDescription".into(), Value::from(description.as_str()));
        }
        Value::Object(object)
    }
}

/// What answering a client's offer gave: our answer and one result per track.
#[derive(Debug)]
pub(super) struct Answered {
    /// The SDP answer.
    pub(super) sdp: String,
    /// One per requested track, then one per track `autoDiscover` found.
    pub(super) results: Vec<TrackResult>,
}

impl Answered {
    fn to_json(&self) -> Value {
        json!({
            "requiresImmediateRenegotiation": false,
            "sessionDescription": { "type": "answer", "sdp": self.sdp },
            "tracks": results_json(&self.results),
        })
    }
}

/// Answers the client's `offer` on session `id`, pushing and pulling `requests` as
/// `tracks/new` with an offer does (the first offer of a session created without one
/// creates its PeerConnection). For the WHIP and WHEP endpoints.
pub(super) async fn answer_client_offer(
    state: &ApiState,
    id: SessionId,
    offer: SessionDescription,
    requests: &[TrackRequest],
) -> Result<Answered, ApiError> {
    let (id, info, mut negotiation) = lock_session(state, &id.to_string())?;
    if negotiation.pending().is_some() {
        return Err(invalid_params(
            "the SFU's offer is waiting for the client's answer: PUT renegotiate first",
        ));
    }
    answer_offer(state, id, &info, &mut negotiation, offer, requests, false).await
}

fn results_json(results: &[TrackResult]) -> Value {
    Value::Array(results.iter().map(TrackResult::to_json).collect())
}

/// `POST sessions/{id}/tracks/new`. See the module documentation.
pub(super) async fn new(state: &ApiState, id: &str, body: &[u8]) -> Reply {
    match tracks_new(state, id, body).await {
        Ok(value) => json_reply(StatusCode::OK, &value),
        Err(e) => e.reply(),
    }
}

/// `PUT sessions/{id}/renegotiate`: `{sessionDescription: answer}` completes the SFU's
/// pending offer; answers `{}`.
pub(super) async fn renegotiate(state: &ApiState, id: &str, body: &[u8]) -> Reply {
    match renegotiate_inner(state, id, body).await {
        Ok(()) => json_reply(StatusCode::OK, &json!({})),
        Err(e) => e.reply(),
    }
}

pub(super) fn busy() -> ApiError {
    invalid_params(
        "another negotiation is in progress on this session: wait for it to finish, then retry",
    )
}

/// The session, its directory entry and its negotiation, locked without waiting.
pub(super) fn lock_session(
    state: &ApiState,
    id: &str,
) -> Result<(SessionId, SessionInfo, OwnedMutexGuard<Negotiation>), ApiError> {
    let id = id.parse::<SessionId>().map_err(|_| session_not_found())?;
    let info = state.directory.get(id).ok_or_else(session_not_found)?;
    let negotiation = state.directory.negotiation(id).ok_or_else(session_not_found)?;
    let guard = negotiation.try_lock_owned().map_err(|_| busy())?;
    Ok((id, info, guard))
}

fn parse_request(body: &[u8]) -> Result<TracksRequest, ApiError> {
    let object = json_object(body)?;
    let offer = session_description(&object, "offer")?;
    let auto_discover = match object.get("autoDiscover") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(decoding_error("autoDiscover must be a boolean")),
    };
    let items = match object.get("tracks") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(items)) => items.as_slice(),
        Some(_) => return Err(decoding_error("tracks must be an array")),
    };
    if items.len() > MAX_TRACKS_PER_CALL {
        return Err(invalid_params(format!(
            "at most {MAX_TRACKS_PER_CALL} tracks per call; split the batch"
        )));
    }
    let mut tracks = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(item) = item else {
            return Err(decoding_error(format!("tracks[{i}] must be an object")));
        };
        let location = match item.get("location").and_then(Value::as_str) {
            Some("local") => Location::Local,
            Some("remote") => Location::Remote,
            _ => {
                return Err(decoding_error(format!(
                    "tracks[{i}].location must be \"local\" or \"remote\""
                )))
            }
        };
        let string = |key: &str| -> Result<Option<String>, ApiError> {
            match item.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(decoding_error(format!("tracks[{i}].{key} must be a string"))),
            }
        };
        let bidirectional = match item.get("bidirectionalMediaStream") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(decoding_error(format!(
                    "tracks[{i}].bidirectionalMediaStream must be a boolean"
                )))
            }
        };
        tracks.push(TrackRequest {
            location,
            mid: string("mid")?,
            track_name: string("trackName")?,
            session_id: string("sessionId")?,
            kind: string("kind")?,
            bidirectional,
            simulcast: SimulcastPreference::from_json(item.get("simulcast"))
                .map_err(|why| decoding_error(format!("tracks[{i}].{why}")))?,
        });
    }
    if tracks.iter().any(|t| t.location == Location::Local)
        && tracks.iter().any(|t| t.location == Location::Remote)
    {
        return Err(invalid_params(
            "a batch must be all local or all remote tracks: send two calls",
        ));
    }
    Ok(TracksRequest { offer, tracks, auto_discover })
}

async fn tracks_new(state: &ApiState, id: &str, body: &[u8]) -> Result<Value, ApiError> {
    let request = parse_request(body)?;
    let (id, info, mut negotiation) = lock_session(state, id)?;
    if negotiation.pending().is_some() {
        return Err(invalid_params(
            "the SFU's offer is waiting for the client's answer: PUT renegotiate first",
        ));
    }
    let span = info_span!("session", %id);
    let reply = match request.offer {
        Some(offer) => {
            let tracks = request.tracks;
            answer_offer(state, id, &info, &mut negotiation, offer, &tracks, request.auto_discover)
                .await?
                .to_json()
        }
        None => {
            let local = request.tracks.iter().any(|t| t.location == Location::Local);
            if request.auto_discover || local {
                if request.tracks.iter().any(|t| t.location == Location::Remote) {
                    return Err(invalid_params(
                        "autoDiscover publishes local tracks: pull remote tracks in another call",
                    ));
                }
                let tracks = request.tracks;
                let all_new = !tracks.is_empty() && tracks.iter().all(|t| t.mid.is_none());
                if all_new && !request.auto_discover {
                    return offer_push(state, id, &mut negotiation, &tracks);
                }
                return publish_negotiated(
                    state,
                    id,
                    &mut negotiation,
                    &tracks,
                    request.auto_discover,
                );
            }
            if request.tracks.is_empty() {
                return Err(invalid_params(
                    "nothing to negotiate: give a sessionDescription offer or remote tracks",
                ));
            }
            offer_pull(state, id, &mut negotiation, &request.tracks)?
        }
    };
    span.in_scope(|| debug!("tracks/new negotiated"));
    Ok(reply)
}

/// The published track a remote entry names.
fn find_track(
    state: &ApiState,
    request: &TrackRequest,
) -> Result<TrackInfo, (&'static str, String)> {
    let not_found = |why: String| ("not_found_track_error", why);
    let (Some(session), Some(name)) = (&request.session_id, &request.track_name) else {
        return Err(not_found("a remote track is named by sessionId and trackName".into()));
    };
    let publisher =
        session.parse::<SessionId>().map_err(|_| not_found(format!("no session {session:?}")))?;
    state
        .directory
        .track(publisher, name)
        .ok_or_else(|| not_found(format!("session {session} publishes no track {name:?}")))
}

/// The SFU's capabilities that match a publisher's codecs, in the publisher's order: what a
/// subscriber may be offered.
fn track_capabilities(caps: &Capabilities, track: &TrackInfo) -> Vec<CodecCapability> {
    capabilities_of(caps, &track.kind, &track.codecs)
}

/// The SFU's capabilities matching `codecs` (RTX left out), in their order, each once.
fn capabilities_of(
    caps: &Capabilities,
    kind: &MediaKind,
    codecs: &[Codec],
) -> Vec<CodecCapability> {
    let mut out: Vec<CodecCapability> = Vec::new();
    for codec in codecs.iter().filter(|c| !c.is_rtx()) {
        if let Some(cap) = caps.find_codec(kind, codec) {
            if !out.contains(cap) {
                out.push(cap.clone());
            }
        }
    }
    out
}

/// The capabilities matching the codecs a transceiver negotiated (to keep a pulled section's
/// codecs when the client offers again).
pub(super) fn negotiated_capabilities(
    caps: &Capabilities,
    t: &Transceiver,
) -> Vec<CodecCapability> {
    capabilities_of(caps, &t.kind, &t.codecs)
}

/// Whether a string can be an msid id (RFC 8830 §2: 1 to 64 token characters, RFC 8866 §9).
fn is_msid_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`{|}~".contains(&b))
}

/// A random SSRC unused in the session and not in `taken` (to which it is added).
fn fresh_ssrc(draft: &Negotiation, taken: &mut Vec<u32>) -> u32 {
    let mut rng = rand::thread_rng();
    loop {
        let ssrc: u32 = rng.gen();
        if ssrc != 0 && !taken.contains(&ssrc) && !draft.ssrc_in_use(ssrc) {
            taken.push(ssrc);
            return ssrc;
        }
    }
}

/// A new stream for the SFU to send a pulled track on: SSRCs unused in the session (and
/// not in `taken`), an RTX SSRC for video, msid `<publisher session> <track name>`.
fn send_stream(draft: &Negotiation, taken: &mut Vec<u32>, track: &TrackInfo) -> SendStream {
    let fresh = |taken: &mut Vec<u32>| fresh_ssrc(draft, taken);
    let ssrc = fresh(taken);
    let rtx_ssrc = (track.kind == MediaKind::Video).then(|| fresh(taken));
    let track_id = if is_msid_id(&track.name) { track.name.clone() } else { track.id.to_string() };
    SendStream {
        ssrc,
        rtx_ssrc,
        cname: draft.cname().to_owned(),
        msid: Msid::new(track.publisher.to_string(), track_id),
    }
}

/// A pull in a client offer or an SFU offer: the transceiver that will carry `track`.
fn pull_transceiver(
    mid: &str,
    track: &TrackInfo,
    stream: SendStream,
    simulcast: Option<SimulcastPreference>,
) -> Transceiver {
    let mut t = Transceiver::new(mid, track.kind.clone());
    t.send = Some(stream);
    t.pulled = Some(pulled_track(track, simulcast));
    t
}

/// What a mid pulling `track` carries.
fn pulled_track(track: &TrackInfo, simulcast: Option<SimulcastPreference>) -> PulledTrack {
    PulledTrack { session: track.publisher, name: track.name.clone(), id: track.id, simulcast }
}

/// How an answer keeps a section the SFU already sends on: sending its stream, and still
/// receiving where it did (a bidirectional transceiver).
pub(super) fn keep_sending(t: &Transceiver, stream: &SendStream) -> MediaAnswer {
    if t.direction.receives() {
        MediaAnswer::send_receive(stream.clone())
    } else {
        MediaAnswer::send(stream.clone())
    }
}

/// The stream the SFU sends on a bidirectional push's mid: fresh SSRCs (and RTX for video),
/// msid `<own session> <mid>` until a pulled track fills it.
fn return_stream(
    draft: &Negotiation,
    taken: &mut Vec<u32>,
    own: SessionId,
    mid: &str,
    kind: &MediaKind,
) -> SendStream {
    let fresh = |taken: &mut Vec<u32>| fresh_ssrc(draft, taken);
    let ssrc = fresh(taken);
    let rtx_ssrc = (*kind == MediaKind::Video).then(|| fresh(taken));
    let track_id = if is_msid_id(mid) { format!("mid-{mid}") } else { "bidirectional".to_owned() };
    SendStream {
        ssrc,
        rtx_ssrc,
        cname: draft.cname().to_owned(),
        msid: Msid::new(own.to_string(), track_id),
    }
}

/// `kind` of a track request: `"audio"` or `"video"`.
fn request_kind(request: &TrackRequest) -> Option<MediaKind> {
    match request.kind.as_deref() {
        Some("audio") => Some(MediaKind::Audio),
        Some("video") => Some(MediaKind::Video),
        _ => None,
    }
}

/// Whether a published track can be sent on a transceiver: same kind, and a codec the mid
/// negotiated.
fn fits(caps: &Capabilities, t: &Transceiver, track: &TrackInfo) -> bool {
    let negotiated = negotiated_capabilities(caps, t);
    t.kind == track.kind
        && track
            .codecs
            .iter()
            .filter(|c| !c.is_rtx())
            .filter_map(|c| caps.find_codec(&track.kind, c))
            .any(|cap| negotiated.contains(cap))
}

/// `tracks/new` with local tracks, no offer and no mids: the SFU offers a receiving section
/// per track (`kind` says which), sending too for `bidirectionalMediaStream`, and returns
/// the offer with `requiresImmediateRenegotiation: true`. The tracks are published at once
/// and can be pulled once the client's answer sends on their mids.
fn offer_push(
    state: &ApiState,
    id: SessionId,
    negotiation: &mut Negotiation,
    requests: &[TrackRequest],
) -> Result<Value, ApiError> {
    let mut draft = negotiation.clone();
    if draft.local_parameters().is_none() {
        draft.set_local_parameters(local_parameters(state).1);
    }
    let mut results: Vec<TrackResult> = requests.iter().map(|r| TrackResult::echo(id, r)).collect();
    let mut media = Vec::new();
    let mut added: Vec<Transceiver> = Vec::new();
    let mut mids: Vec<String> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut ssrcs = Vec::new();
    for (request, result) in requests.iter().zip(results.iter_mut()) {
        let Some(name) = request.track_name.as_deref().filter(|n| !n.is_empty()) else {
            result.fail("empty_track_error", "a pushed track needs a trackName");
            continue;
        };
        let Some(kind) = request_kind(request) else {
            result.fail(
                "invalid_params",
                "without an offer the SFU writes one: give kind \"audio\" or \"video\"",
            );
            continue;
        };
        let taken = names.iter().any(|n| n == name)
            || draft
                .transceivers()
                .iter()
                .any(|t| t.published.as_ref().is_some_and(|p| p.name == name));
        if taken {
            result.fail(
                "repeated_local_track_error",
                format!("this session already publishes {name:?}"),
            );
            continue;
        }
        let mid = (0u64..)
            .map(|n| n.to_string())
            .find(|m| !draft.is_mid_used(m) && !mids.contains(m))
            .unwrap_or_default();
        let track = match state.directory.publish(id, name, &mid, kind.clone()) {
            Ok(track) => track,
            Err(e) => {
                let code = if e == DirectoryError::TrackNameTaken {
                    "repeated_local_track_error"
                } else {
                    "internal_error"
                };
                result.fail(code, e.to_string());
                continue;
            }
        };
        mids.push(mid.clone());
        names.push(name.to_owned());
        let mut t = Transceiver::new(mid.clone(), kind.clone());
        t.published = Some(PublishedTrack { name: name.to_owned(), id: track });
        let (direction, send) = if request.bidirectional {
            let stream = return_stream(&draft, &mut ssrcs, id, &mid, &kind);
            t.send = Some(stream.clone());
            (Direction::SendRecv, Some(stream))
        } else {
            (Direction::RecvOnly, None)
        };
        media.push(OfferMedia { mid: mid.clone(), kind, direction, send, codecs: None });
        added.push(t);
        result.mid = Some(mid);
    }
    if media.is_empty() {
        return Ok(json!({
            "requiresImmediateRenegotiation": false,
            "tracks": results_json(&results),
        }));
    }
    let offer = match draft.prepare_offer(media) {
        Ok(offer) => offer,
        Err(e) => {
            for t in &added {
                if let Some(p) = &t.published {
                    state.directory.unpublish(id, p.id);
                }
            }
            return Err(internal(e));
        }
    };
    let sdp = offer.to_string();
    draft.set_pending(offer, added);
    *negotiation = draft;
    Ok(json!({
        "requiresImmediateRenegotiation": true,
        "sessionDescription": { "type": "offer", "sdp": sdp },
        "tracks": results_json(&results),
    }))
}

/// `tracks/new` with the client's offer: answer it, publish and pull as asked.
async fn answer_offer(
    state: &ApiState,
    id: SessionId,
    info: &SessionInfo,
    negotiation: &mut Negotiation,
    offer: SessionDescription,
    requests: &[TrackRequest],
    auto_discover: bool,
) -> Result<Answered, ApiError> {
    let now = Instant::now();
    let mut draft = negotiation.clone();
    if draft.local_parameters().is_none() {
        draft.set_local_parameters(local_parameters(state).1);
    }
    let caps = draft.local_parameters().map(|l| l.capabilities.clone()).unwrap_or_default();
    let mut results: Vec<TrackResult> = requests.iter().map(|r| TrackResult::echo(id, r)).collect();
    // (result index, mid, name, kind)
    let mut publish: Vec<(usize, String, String, MediaKind)> = Vec::new();
    // (result index, transceiver, codecs)
    let mut pulls: Vec<(usize, Transceiver, Vec<CodecCapability>)> = Vec::new();
    let mut ssrcs: Vec<u32> = Vec::new();
    let published_names: Vec<&str> = draft
        .transceivers()
        .iter()
        .filter_map(|t| t.published.as_ref().map(|p| p.name.as_str()))
        .collect();

    for (i, request) in requests.iter().enumerate() {
        let Some(result) = results.get_mut(i) else { continue };
        let Some(mid) = request.mid.as_deref() else {
            let what = if request.location == Location::Local { "pushed" } else { "pulled" };
            result.fail(
                "invalid_params",
                format!("a {what} track needs the mid of its transceiver in the offer"),
            );
            continue;
        };
        let Some(section) = offer.media_by_mid(mid).filter(|m| m.is_rtp() && !m.is_rejected())
        else {
            result.fail(
                "invalid_params",
                format!("the offer has no audio or video m-section with mid {mid:?}"),
            );
            continue;
        };
        let taken = publish.iter().any(|(_, m, _, _)| m == mid)
            || pulls.iter().any(|(_, t, _)| t.mid == mid);
        if taken {
            result.fail("invalid_params", format!("mid {mid:?} appears twice in the batch"));
            continue;
        }
        let direction = offer.direction(section);
        match request.location {
            Location::Local => {
                let Some(name) = request.track_name.as_deref().filter(|n| !n.is_empty()) else {
                    result.fail("empty_track_error", "a pushed track needs a trackName");
                    continue;
                };
                if !direction.sends() {
                    result.fail(
                        "invalid_params",
                        format!("the offer's m-section {mid:?} does not send (it is {direction})"),
                    );
                    continue;
                }
                let repeated = published_names.contains(&name)
                    || publish.iter().any(|(_, _, n, _)| n == name)
                    || draft.transceiver(mid).is_some_and(|t| t.published.is_some());
                if repeated {
                    result.fail("repeated_local_track_error", format!("this session already publishes {name:?} (or mid {mid:?} already carries a track)"));
                    continue;
                }
                publish.push((i, mid.to_owned(), name.to_owned(), section.kind.clone()));
            }
            Location::Remote => {
                let track = match find_track(state, request) {
                    Ok(track) => track,
                    Err((code, why)) => {
                        result.fail(code, why);
                        continue;
                    }
                };
                if section.kind != track.kind || !direction.receives() {
                    result.fail(
                        "invalid_params",
                        format!(
                            "the offer's m-section {mid:?} must receive {} (it is {} {direction})",
                            track.kind.as_str(),
                            section.kind.as_str()
                        ),
                    );
                    continue;
                }
                if draft.transceiver(mid).is_some_and(|t| t.pulled.is_some()) {
                    result.fail(
                        "invalid_params",
                        format!("mid {mid:?} already carries a remote track"),
                    );
                    continue;
                }
                let codecs = track_capabilities(&caps, &track);
                let stream = send_stream(&draft, &mut ssrcs, &track);
                let simulcast = request.simulcast.clone();
                pulls.push((i, pull_transceiver(mid, &track, stream, simulcast), codecs));
            }
        }
    }
    if auto_discover {
        for section in offer.media.iter().filter(|m| m.is_rtp() && !m.is_rejected()) {
            let Some(mid) = section.mid() else { continue };
            let known = draft
                .transceiver(mid)
                .is_some_and(|t| t.published.is_some() || t.direction.receives())
                || publish.iter().any(|(_, m, _, _)| m == mid)
                || pulls.iter().any(|(_, t, _)| t.mid == mid);
            if known || !offer.direction(section).sends() {
                continue;
            }
            let name = discovered_name(section, mid);
            let mut result = TrackResult {
                location: Location::Local,
                mid: Some(mid.to_owned()),
                track_name: Some(name.clone()),
                session_id: Some(id.to_string()),
                error: None,
            };
            if published_names.contains(&name.as_str())
                || publish.iter().any(|(_, _, n, _)| *n == name)
            {
                result.fail(
                    "repeated_local_track_error",
                    format!("this session already publishes {name:?}"),
                );
            } else {
                publish.push((results.len(), mid.to_owned(), name, section.kind.clone()));
            }
            results.push(result);
        }
    }

    // Sections the SFU already sends on keep their stream and codecs (and their receiving
    // half, for a bidirectional one); new pulls get theirs.
    let mut options = AnswerOptions::default();
    for t in draft.transceivers() {
        if let (Some(stream), true) = (&t.send, t.direction.sends()) {
            options = options
                .with(t.mid.clone(), keep_sending(t, stream))
                .with_codecs(t.mid.clone(), negotiated_capabilities(&caps, t));
        }
    }
    // A bidirectional push: the SFU also sends on that mid, with a stream of its own, so a
    // remote track can be pulled into it later with `mid: "#<trackName>"`.
    let mut bidirectional: Vec<Transceiver> = Vec::new();
    for (i, mid, _, kind) in &publish {
        let wanted = requests.get(*i).is_some_and(|r| r.bidirectional);
        if !wanted || draft.transceiver(mid).is_some_and(|t| t.send.is_some()) {
            continue;
        }
        let stream = return_stream(&draft, &mut ssrcs, id, mid, kind);
        options = options.with(mid.clone(), MediaAnswer::send_receive(stream.clone()));
        let mut t = Transceiver::new(mid.clone(), kind.clone());
        t.send = Some(stream);
        bidirectional.push(t);
    }
    for (_, t, codecs) in &pulls {
        if let Some(stream) = &t.send {
            options = options
                .with(t.mid.clone(), MediaAnswer::send(stream.clone()))
                .with_codecs(t.mid.clone(), codecs.clone());
        }
    }
    // New ICE credentials in the offer on a live PeerConnection: an ICE restart.
    let restart =
        if info.has_peer_connection { ice_restart_for(&mut draft, &offer)? } else { None };
    let answer = draft
        .prepare_answer(&offer, &options)
        .map_err(|e| decoding_error(format!("cannot answer the offer: {e}")))?;
    if let Some(restart) = restart {
        apply_ice_restart(state, id, restart).await?;
    }

    if !info.has_peer_connection {
        let credentials = credentials_of(
            draft.local_parameters().ok_or_else(|| internal("no local parameters"))?,
        )?;
        let third_party = draft.is_third_party();
        let role = role_for_offer(&offer, third_party);
        let session =
            session_for(state, now, &info.stats, credentials.clone(), &offer, role, third_party)?;
        draft.set_dtls_role(setup_of(role));
        attach(state, now, id, credentials, session).await?;
    }
    draft.add_transceivers(pulls.iter().map(|(_, t, _)| t.clone()).collect());
    draft.add_transceivers(bidirectional);
    let sdp = answer.to_string();
    draft.commit_answer(offer, answer);

    for (i, mid, name, kind) in publish {
        let Some(result) = results.get_mut(i) else { continue };
        let receives = draft.transceiver(&mid).is_some_and(|t| t.direction.receives());
        if !receives {
            result.fail(
                "invalid_params",
                format!("the SFU rejected m-section {mid:?}: no codec in common"),
            );
            continue;
        }
        match state.directory.publish(id, &name, &mid, kind) {
            Ok(track) => {
                if let Some(t) = draft.transceiver_mut(&mid) {
                    t.published = Some(PublishedTrack { name, id: track });
                }
            }
            Err(DirectoryError::TrackNameTaken) => result.fail(
                "repeated_local_track_error",
                format!("this session already publishes {name:?}"),
            ),
            Err(e) => result.fail("internal_error", e.to_string()),
        }
    }
    for (i, t, _) in &pulls {
        let sends = draft.transceiver(&t.mid).is_some_and(|t| t.direction.sends());
        if let (false, Some(result)) = (sends, results.get_mut(*i)) {
            result.fail(
                "invalid_params",
                format!(
                    "the SFU rejected m-section {:?}: no codec in common with the track",
                    t.mid
                ),
            );
        }
    }
    state.directory.set_media(id, draft.media()).map_err(|_| gone())?;
    *negotiation = draft;
    state.notifier.routes_changed();
    Ok(Answered { sdp, results })
}

/// The name `autoDiscover` gives a client's sending section: its msid track id (RFC 8830),
/// else its mid.
fn discovered_name(section: &crate::sdp::MediaDescription, mid: &str) -> String {
    section
        .msid()
        .and_then(|m| m.track_id.clone())
        .or_else(|| {
            section.ssrcs().iter().find_map(|s| s.msid.as_ref().and_then(|m| m.track_id.clone()))
        })
        .unwrap_or_else(|| mid.to_owned())
}

/// Whether the session publishes `name` already, or is about to in this batch.
fn name_taken(
    draft: &Negotiation,
    publish: &[(usize, String, String, MediaKind)],
    name: &str,
) -> bool {
    draft.transceivers().iter().any(|t| t.published.as_ref().is_some_and(|p| p.name == name))
        || publish.iter().any(|(_, _, n, _)| n == name)
}

/// `tracks/new` with local tracks and no offer: names mids the session already receives on
/// (negotiated by `sessions/new` or an earlier offer). Nothing to renegotiate.
fn publish_negotiated(
    state: &ApiState,
    id: SessionId,
    negotiation: &mut Negotiation,
    requests: &[TrackRequest],
    auto_discover: bool,
) -> Result<Value, ApiError> {
    let mut draft = negotiation.clone();
    let mut results: Vec<TrackResult> = requests.iter().map(|r| TrackResult::echo(id, r)).collect();
    let mut publish: Vec<(usize, String, String, MediaKind)> = Vec::new();
    for (i, request) in requests.iter().enumerate() {
        let Some(result) = results.get_mut(i) else { continue };
        let Some(name) = request.track_name.as_deref().filter(|n| !n.is_empty()) else {
            result.fail("empty_track_error", "a pushed track needs a trackName");
            continue;
        };
        let Some(mid) = request.mid.as_deref() else {
            result.fail("invalid_params", "a pushed track needs the mid of its transceiver");
            continue;
        };
        let Some(t) = draft.transceiver(mid).filter(|t| t.is_media() && t.direction.receives())
        else {
            result.fail(
                "invalid_params",
                format!("mid {mid:?} is no negotiated receiving transceiver: send the offer that adds it"),
            );
            continue;
        };
        if t.published.is_some() || publish.iter().any(|(_, m, _, _)| m == mid) {
            result
                .fail("repeated_local_track_error", format!("mid {mid:?} already carries a track"));
            continue;
        }
        if name_taken(&draft, &publish, name) {
            result.fail(
                "repeated_local_track_error",
                format!("this session already publishes {name:?}"),
            );
            continue;
        }
        publish.push((i, mid.to_owned(), name.to_owned(), t.kind.clone()));
    }
    if auto_discover {
        let unnamed: Vec<(String, MediaKind)> = draft
            .transceivers()
            .iter()
            .filter(|t| t.is_media() && t.direction.receives() && t.published.is_none())
            .filter(|t| !publish.iter().any(|(_, m, _, _)| *m == t.mid))
            .map(|t| (t.mid.clone(), t.kind.clone()))
            .collect();
        for (mid, kind) in unnamed {
            let name = draft
                .remote_description()
                .and_then(|r| r.media_by_mid(&mid))
                .map_or_else(|| mid.clone(), |section| discovered_name(section, &mid));
            let mut result = TrackResult {
                location: Location::Local,
                mid: Some(mid.clone()),
                track_name: Some(name.clone()),
                session_id: Some(id.to_string()),
                error: None,
            };
            if name_taken(&draft, &publish, &name) {
                result.fail(
                    "repeated_local_track_error",
                    format!("this session already publishes {name:?}"),
                );
            } else {
                publish.push((results.len(), mid, name, kind));
            }
            results.push(result);
        }
    }
    for (i, mid, name, kind) in publish {
        match state.directory.publish(id, &name, &mid, kind) {
            Ok(track) => {
                if let Some(t) = draft.transceiver_mut(&mid) {
                    t.published = Some(PublishedTrack { name, id: track });
                }
            }
            Err(e) => {
                if let Some(result) = results.get_mut(i) {
                    let code = if e == DirectoryError::TrackNameTaken {
                        "repeated_local_track_error"
                    } else {
                        "internal_error"
                    };
                    result.fail(code, e.to_string());
                }
            }
        }
    }
    state.directory.set_media(id, draft.media()).map_err(|_| gone())?;
    *negotiation = draft;
    state.notifier.routes_changed();
    Ok(json!({
        "requiresImmediateRenegotiation": false,
        "tracks": results_json(&results),
    }))
}

pub(super) fn gone() -> ApiError {
    ApiError::new(StatusCode::GONE, "session_error", "the session has ended")
}

/// `tracks/new` with remote tracks and no offer: the SFU offers a sendonly section per track.
fn offer_pull(
    state: &ApiState,
    id: SessionId,
    negotiation: &mut Negotiation,
    requests: &[TrackRequest],
) -> Result<Value, ApiError> {
    let mut draft = negotiation.clone();
    if draft.local_parameters().is_none() {
        draft.set_local_parameters(local_parameters(state).1);
    }
    let caps = draft.local_parameters().map(|l| l.capabilities.clone()).unwrap_or_default();
    let mut results: Vec<TrackResult> = requests.iter().map(|r| TrackResult::echo(id, r)).collect();
    let mut media = Vec::new();
    let mut added = Vec::new();
    let mut mids: Vec<String> = Vec::new();
    let mut ssrcs = Vec::new();
    // Mids of bidirectional transceivers that now carry a pulled track (`mid: "#name"`).
    let mut attached: Vec<String> = Vec::new();
    for (request, result) in requests.iter().zip(results.iter_mut()) {
        let track = match find_track(state, request) {
            Ok(track) => track,
            Err((code, why)) => {
                result.fail(code, why);
                continue;
            }
        };
        if let Some(local) = request.mid.as_deref().and_then(|m| m.strip_prefix('#')) {
            match attach_to_local(
                &caps,
                &mut draft,
                local,
                &track,
                request.simulcast.clone(),
                &attached,
            ) {
                Ok(mid) => {
                    attached.push(mid.clone());
                    result.mid = Some(mid);
                }
                Err(why) => result.fail("invalid_params", why),
            }
            continue;
        }
        let codecs = track_capabilities(&caps, &track);
        if codecs.is_empty() {
            result.fail("not_found_track_error", "the track has no codec the SFU can offer");
            continue;
        }
        let mid = (0u64..)
            .map(|n| n.to_string())
            .find(|m| !draft.is_mid_used(m) && !mids.contains(m))
            .unwrap_or_default();
        mids.push(mid.clone());
        let stream = send_stream(&draft, &mut ssrcs, &track);
        let direction =
            if request.bidirectional { Direction::SendRecv } else { Direction::SendOnly };
        media.push(OfferMedia {
            mid: mid.clone(),
            kind: track.kind.clone(),
            direction,
            send: Some(stream.clone()),
            codecs: Some(codecs),
        });
        added.push(pull_transceiver(&mid, &track, stream, request.simulcast.clone()));
        result.mid = Some(mid);
    }
    if !attached.is_empty() {
        state.directory.set_media(id, draft.media()).map_err(|_| gone())?;
        state.notifier.routes_changed();
    }
    if media.is_empty() {
        *negotiation = draft;
        return Ok(json!({
            "requiresImmediateRenegotiation": false,
            "tracks": results_json(&results),
        }));
    }
    let offer = draft.prepare_offer(media).map_err(internal)?;
    let sdp = offer.to_string();
    draft.set_pending(offer, added);
    *negotiation = draft;
    Ok(json!({
        "requiresImmediateRenegotiation": true,
        "sessionDescription": { "type": "offer", "sdp": sdp },
        "tracks": results_json(&results),
    }))
}

/// `mid: "#<local>"`: sends `track` on the bidirectional transceiver that carries this
/// session's local track `local`, without renegotiation. Returns its mid.
fn attach_to_local(
    caps: &Capabilities,
    draft: &mut Negotiation,
    local: &str,
    track: &TrackInfo,
    simulcast: Option<SimulcastPreference>,
    attached: &[String],
) -> Result<String, String> {
    let t = draft
        .transceivers()
        .iter()
        .find(|t| t.published.as_ref().is_some_and(|p| p.name == local))
        .ok_or_else(|| format!("no transceiver of this session carries local track {local:?}"))?;
    if t.send.is_none() || !t.direction.sends() {
        return Err(format!(
            "the transceiver of {local:?} is not bidirectional: push it with bidirectionalMediaStream"
        ));
    }
    if attached.contains(&t.mid) {
        return Err(format!("#{local} appears twice in the batch"));
    }
    if !fits(caps, t, track) {
        return Err(format!(
            "track {:?} does not fit the transceiver of {local:?} (kind or codecs differ)",
            track.name
        ));
    }
    let mid = t.mid.clone();
    if let Some(t) = draft.transceiver_mut(&mid) {
        t.pulled = Some(pulled_track(track, simulcast));
    }
    Ok(mid)
}

async fn renegotiate_inner(state: &ApiState, id: &str, body: &[u8]) -> Result<(), ApiError> {
    let object = json_object(body)?;
    let answer = session_description(&object, "answer")?
        .ok_or_else(|| decoding_error("sessionDescription with the client's answer is required"))?;
    let (id, info, mut negotiation) = lock_session(state, id)?;
    let mut draft = negotiation.clone();
    match draft.check_answer(&answer) {
        Ok(()) => {}
        Err(AnswerError::NoPendingOffer) => {
            return Err(invalid_params(
                "no offer from the SFU is waiting for an answer on this session",
            ))
        }
        Err(e) => return Err(decoding_error(e.to_string())),
    }
    if !info.has_peer_connection {
        let now = Instant::now();
        let role = role_for_answer(&answer)?;
        let local = draft.local_parameters().ok_or_else(|| internal("no local parameters"))?;
        let credentials = credentials_of(local)?;
        let third_party = draft.is_third_party();
        let session =
            session_for(state, now, &info.stats, credentials.clone(), &answer, role, third_party)?;
        draft.set_dtls_role(setup_of(role));
        attach(state, now, id, credentials, session).await?;
    }
    draft.accept_answer(answer).map_err(|e| decoding_error(e.to_string()))?;
    state.directory.set_media(id, draft.media()).map_err(|_| gone())?;
    *negotiation = draft;
    state.notifier.routes_changed();
    info_span!("session", %id).in_scope(|| debug!("renegotiated"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msid_ids() {
        assert!(is_msid_id("camera-1"));
        assert!(is_msid_id("{5d6e7f80-9a1b}"));
        assert!(!is_msid_id(""));
        assert!(!is_msid_id("a b"));
        assert!(!is_msid_id(&"x".repeat(65)));
        assert!(!is_msid_id("é"));
    }

    #[test]
    fn batches() {
        let parse = |v: Value| parse_request(v.to_string().as_bytes());
        let ok =
            parse(json!({"tracks": [{"location": "remote", "sessionId": "x", "trackName": "a"}]}))
                .unwrap();
        assert_eq!(ok.tracks.len(), 1);
        assert!(ok.offer.is_none() && !ok.auto_discover);
        let mixed = parse(json!({"tracks": [{"location": "remote"}, {"location": "local"}]}));
        assert_eq!(mixed.unwrap_err().reply().status(), StatusCode::NOT_ACCEPTABLE);
        let many: Vec<Value> = (0..65).map(|_| json!({"location": "remote"})).collect();
        assert_eq!(
            parse(json!({ "tracks": many })).unwrap_err().reply().status(),
            StatusCode::NOT_ACCEPTABLE
        );
        for bad in [
            json!({"tracks": {}}),
            json!({"tracks": [1]}),
            json!({"tracks": [{"location": "elsewhere"}]}),
            json!({"tracks": [{"location": "local", "mid": 0}]}),
            json!({"autoDiscover": "yes"}),
            json!({"sessionDescription": {"type": "answer", "sdp": "v=0"}}),
        ] {
            assert_eq!(parse(bad).unwrap_err().reply().status(), StatusCode::BAD_REQUEST);
        }
    }
}
