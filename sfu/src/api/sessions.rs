//! `POST sessions/new` and `GET sessions/{id}`.

use std::sync::Arc;
use std::time::Instant;

use hyper::StatusCode;
use rand::Rng;
use serde_json::{json, Map, Value};
use tracing::{info, info_span};

use super::http::{error_reply, json_reply, ApiError, Reply};
use super::ApiState;
use crate::directory::{DirectoryError, PeerConnection, SessionId};
use crate::sdp::{
    create_answer, AnswerOptions, LocalParameters, MediaDescription, SessionDescription, Setup,
};
use crate::session::{ConnectionState, Session, SessionError, SessionParams, SessionStats};

/// Attempts at drawing local ICE credentials whose ufrag no other session has (with 96
/// random bits a second attempt practically never happens).
const UFRAG_ATTEMPTS: usize = 4;

/// `POST sessions/new`: with an offer in the body, a session with its PeerConnection and the
/// answer; with no body (or no `sessionDescription`), a session without one yet.
pub(super) async fn create(state: &ApiState, query: Option<&str>, body: &[u8]) -> Reply {
    // `thirdparty=true` means the peer is ICE-lite too, and the SFU would have to run full
    // controlling ICE, which it does not do yet.
    if query_flag(query, "thirdparty") {
        return error_reply(
            StatusCode::NOT_ACCEPTABLE,
            "invalid_params",
            "thirdparty sessions (an ICE-lite peer) are not supported yet",
        );
    }
    let offer = match parse_offer(body) {
        Ok(offer) => offer,
        Err(e) => return e.reply(),
    };
    let now = Instant::now();
    let stats = Arc::new(SessionStats::default());
    let (id, answer) = match offer {
        None => match state.directory.insert(now, stats, None) {
            Ok(id) => (id, None),
            Err(e) => return internal(e).reply(),
        },
        Some(offer) => {
            let mut attempt = 0;
            loop {
                let (peer, answer) = match peer_connection(state, &offer, now, &stats) {
                    Ok(built) => built,
                    Err(e) => return e.reply(),
                };
                match state.directory.insert(now, Arc::clone(&stats), Some(peer)) {
                    Ok(id) => break (id, Some(answer)),
                    Err(DirectoryError::UfragTaken) if attempt + 1 < UFRAG_ATTEMPTS => {
                        attempt += 1;
                    }
                    Err(e) => return internal(e).reply(),
                }
            }
        }
    };
    state.notifier.session_added(id, now).await;
    info_span!("session", %id).in_scope(|| {
        info!(peer_connection = answer.is_some(), "created");
    });
    let mut reply = Map::new();
    reply.insert("sessionId".to_owned(), Value::from(id.to_string()));
    if let Some(sdp) = answer {
        reply.insert("sessionDescription".to_owned(), json!({ "type": "answer", "sdp": sdp }));
    }
    json_reply(StatusCode::CREATED, &Value::Object(reply))
}

/// `GET sessions/{id}`.
pub(super) fn get(state: &ApiState, id: &str) -> Reply {
    let Some(info) = id.parse::<SessionId>().ok().and_then(|id| state.directory.get(id)) else {
        return error_reply(StatusCode::NOT_FOUND, "not_found", "no session with this id");
    };
    let mut stats = Map::new();
    for (name, value) in info.stats.snapshot().fields() {
        stats.insert(name.to_owned(), Value::from(value));
    }
    json_reply(
        StatusCode::OK,
        &json!({
            "tracks": [],
            "dataChannels": [],
            "connectionState": state_name(info.state),
            "stats": stats,
        }),
    )
}

/// The `RTCPeerConnectionState`-like name of a state.
pub(super) fn state_name(state: ConnectionState) -> &'static str {
    match state {
        ConnectionState::New => "new",
        ConnectionState::Connecting => "connecting",
        ConnectionState::Connected => "connected",
        ConnectionState::Disconnected => "disconnected",
        ConnectionState::Closed => "closed",
        ConnectionState::Failed => "failed",
    }
}

/// `true` when the query string has `name=true` (other parameters are ignored).
fn query_flag(query: Option<&str>, name: &str) -> bool {
    query.is_some_and(|q| {
        q.split('&').any(|pair| pair.split_once('=').is_some_and(|(k, v)| k == name && v == "true"))
    })
}

fn decoding_error(description: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "decoding_error", description)
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", e.to_string())
}

/// The body of `sessions/new`: empty, `{}`, or `{"sessionDescription": {"type": "offer",
/// "sdp": "..."}}`.
fn parse_offer(body: &[u8]) -> Result<Option<SessionDescription>, ApiError> {
    if body.trim_ascii().is_empty() {
        return Ok(None);
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| decoding_error(format!("the request body is not valid JSON: {e}")))?;
    let Value::Object(object) = value else {
        return Err(decoding_error("the request body must be a JSON object"));
    };
    let description = match object.get("sessionDescription") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(d)) => d,
        Some(_) => return Err(decoding_error("sessionDescription must be an object")),
    };
    match description.get("type").and_then(Value::as_str) {
        Some("offer") => {}
        Some(other) => {
            return Err(decoding_error(format!(
                "sessionDescription.type is \"{other}\"; a new session takes an \"offer\""
            )))
        }
        None => return Err(decoding_error("sessionDescription.type must be \"offer\"")),
    }
    let Some(sdp) = description.get("sdp").and_then(Value::as_str) else {
        return Err(decoding_error("sessionDescription.sdp must be a string"));
    };
    SessionDescription::parse(sdp)
        .map(Some)
        .map_err(|e| decoding_error(format!("invalid SDP offer: {e}")))
}

/// The m-section whose transport the whole offer uses: the BUNDLE tag (first mid of the
/// group, RFC 8843 §7.2.1), else the first section that is not rejected.
fn transport_media(offer: &SessionDescription) -> Option<&MediaDescription> {
    offer
        .bundle_group()
        .and_then(|g| g.mids.first())
        .and_then(|mid| offer.media_by_mid(mid))
        .or_else(|| offer.media.iter().find(|m| !m.is_rejected()))
}

/// Builds the PeerConnection for `offer`: new local ICE credentials, the session machine
/// and the SDP answer.
fn peer_connection(
    state: &ApiState,
    offer: &SessionDescription,
    now: Instant,
    stats: &Arc<SessionStats>,
) -> Result<(PeerConnection, String), ApiError> {
    let media = transport_media(offer)
        .ok_or_else(|| decoding_error("the offer has no usable m= section"))?;
    let ice = offer
        .ice_credentials(media)
        .ok_or_else(|| decoding_error("the offer has no a=ice-ufrag/a=ice-pwd"))?;
    let remote_credentials = ice::Credentials::new(ice.ufrag, ice.pwd)
        .map_err(|e| decoding_error(format!("the offer's ICE credentials are invalid: {e}")))?;
    let remote_fingerprint = offer
        .fingerprints(media)
        .into_iter()
        .find_map(|f| {
            let algorithm = dtls::HashAlgorithm::from_name(&f.algorithm)?;
            dtls::Fingerprint::new(algorithm, f.value.clone()).ok()
        })
        .ok_or_else(|| {
            decoding_error(
                "the offer has no usable a=fingerprint (sha-1, sha-224, sha-256, sha-384 or \
                 sha-512 with a digest of the right length)",
            )
        })?;
    // RFC 5763 §5: an offer that is passive makes us the DTLS client; actpass, active or no
    // a=setup make us passive, the DTLS server (the same choice `create_answer` writes).
    let dtls_role = match offer.setup(media) {
        Some(Setup::Passive) => dtls::Role::Client,
        _ => dtls::Role::Server,
    };
    let mut rng = rand::thread_rng();
    let local_credentials = ice::Credentials::generate(&mut rng);
    // RFC 8866 §5.2: the o= session id fits in 63 bits for compatibility.
    let local = LocalParameters::new(
        rng.gen::<u64>() >> 1,
        local_credentials.ufrag(),
        local_credentials.pwd(),
        state.fingerprint.clone(),
        state.candidates.clone(),
    );
    let answer = create_answer(offer, &local, &AnswerOptions::default())
        .map_err(|e| decoding_error(format!("cannot answer the offer: {e}")))?;
    let params = SessionParams {
        local_credentials: local_credentials.clone(),
        remote_credentials,
        ice: state.config.ice,
        dtls_context: state.dtls.clone(),
        dtls_role,
        remote_fingerprint,
        srtp: state.config.srtp,
    };
    let session = Session::new(now, params, Arc::clone(stats)).map_err(|e| match e {
        SessionError::Ice(e) => decoding_error(format!("the offer's ICE parameters: {e}")),
        e => internal(e),
    })?;
    Ok((PeerConnection { local_credentials, session }, answer.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_flags() {
        assert!(query_flag(Some("thirdparty=true"), "thirdparty"));
        assert!(query_flag(Some("correlationId=x&thirdparty=true"), "thirdparty"));
        assert!(!query_flag(Some("thirdparty=false"), "thirdparty"));
        assert!(!query_flag(Some("thirdparty"), "thirdparty"));
        assert!(!query_flag(None, "thirdparty"));
    }

    #[test]
    fn body_shapes() {
        assert!(parse_offer(b"").unwrap().is_none());
        assert!(parse_offer(b" \r\n").unwrap().is_none());
        assert!(parse_offer(b"{}").unwrap().is_none());
        assert!(parse_offer(br#"{"sessionDescription": null}"#).unwrap().is_none());
        for bad in [
            &b"{"[..],
            b"[]",
            br#"{"sessionDescription": 1}"#,
            br#"{"sessionDescription": {"type": "answer", "sdp": "v=0"}}"#,
            br#"{"sessionDescription": {"sdp": "v=0"}}"#,
            br#"{"sessionDescription": {"type": "offer"}}"#,
            br#"{"sessionDescription": {"type": "offer", "sdp": "x=1"}}"#,
        ] {
            let reply = parse_offer(bad).unwrap_err().reply();
            assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn state_names() {
        assert_eq!(state_name(ConnectionState::New), "new");
        assert_eq!(state_name(ConnectionState::Failed), "failed");
    }
}
