//! `POST sessions/new` and `GET sessions/{id}`.

use std::sync::Arc;
use std::time::Instant;

use hyper::StatusCode;
use serde_json::{json, Map, Value};
use tracing::{info, info_span};

use super::http::{json_reply, ApiError, Reply};
use super::peer::{
    cname, internal, json_object, local_parameters, role_for_offer, session_description,
    session_for, session_not_found, setup_of,
};
use super::ApiState;
use crate::directory::{DirectoryError, PeerConnection, SessionId};
use crate::negotiation::{Negotiation, Transceiver};
use crate::sdp::{AnswerOptions, SessionDescription};
use crate::session::{ConnectionState, SessionStats};

/// Attempts at drawing local ICE credentials whose ufrag no other session has (with 96
/// random bits a second attempt practically never happens).
const UFRAG_ATTEMPTS: usize = 4;

/// `POST sessions/new`: with an offer in the body, a session with its PeerConnection and the
/// answer; with no body (or no `sessionDescription`), a session without one yet.
///
/// `?thirdparty=true`: the peer is ICE-lite (another SFU, a media server), so the session
/// runs full ICE in the controlling role toward the peer's host candidates, its
/// descriptions carry no `a=ice-lite`, and an `actpass` offer is answered `a=setup:active`
/// (we are the DTLS client). Everything else works as for any session.
pub(super) async fn create(state: &ApiState, query: Option<&str>, body: &[u8]) -> Reply {
    let third_party = query_flag(query, "thirdparty");
    let offer = match parse_offer(body) {
        Ok(offer) => offer,
        Err(e) => return e.reply(),
    };
    let now = Instant::now();
    let stats = Arc::new(SessionStats::default());
    let (id, answer) = match offer {
        None => match create_empty_with(state, now, stats, third_party) {
            Ok(id) => (id, None),
            Err(e) => return e.reply(),
        },
        Some(offer) => {
            let mut attempt = 0;
            loop {
                let built = peer_connection(state, &offer, now, &stats, third_party);
                let (peer, negotiation, answer) = match built {
                    Ok(built) => built,
                    Err(e) => return e.reply(),
                };
                match state.directory.insert_with(now, Arc::clone(&stats), Some(peer), negotiation)
                {
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
        info!(peer_connection = answer.is_some(), third_party, "created");
    });
    let mut reply = Map::new();
    reply.insert("sessionId".to_owned(), Value::from(id.to_string()));
    if let Some(sdp) = answer {
        reply.insert("sessionDescription".to_owned(), json!({ "type": "answer", "sdp": sdp }));
    }
    json_reply(StatusCode::CREATED, &Value::Object(reply))
}

/// A session without a PeerConnection yet (its first offer creates one), registered in
/// the directory. The caller tells the workers with `session_added` once it is announced.
pub(super) fn create_empty(
    state: &ApiState,
    now: Instant,
    stats: Arc<SessionStats>,
) -> Result<SessionId, ApiError> {
    create_empty_with(state, now, stats, false)
}

/// [`create_empty`], for a third-party session when `third_party` is set.
fn create_empty_with(
    state: &ApiState,
    now: Instant,
    stats: Arc<SessionStats>,
    third_party: bool,
) -> Result<SessionId, ApiError> {
    let mut negotiation = Negotiation::new(cname());
    if third_party {
        negotiation.set_third_party();
    }
    state.directory.insert_with(now, stats, None, negotiation).map_err(internal)
}

/// `GET sessions/{id}`: the tracks with their status, the connection state and counters.
pub(super) async fn get(state: &ApiState, id: &str) -> Reply {
    let Some((id, info)) =
        id.parse::<SessionId>().ok().and_then(|id| state.directory.get(id).map(|i| (id, i)))
    else {
        return session_not_found().reply();
    };
    let Some(negotiation) = state.directory.negotiation(id) else {
        return session_not_found().reply();
    };
    let (tracks, third_party) = {
        let negotiation = negotiation.lock().await;
        let connected = info.state == ConnectionState::Connected;
        let mut tracks = Vec::new();
        for t in negotiation.transceivers() {
            tracks.extend(track_objects(state, id, t, connected, false));
        }
        for t in negotiation.pending().map(|p| p.added.as_slice()).unwrap_or_default() {
            tracks.extend(track_objects(state, id, t, connected, true));
        }
        (tracks, negotiation.is_third_party())
    };
    let mut stats = Map::new();
    for (name, value) in info.stats.snapshot().fields() {
        stats.insert(name.to_owned(), Value::from(value));
    }
    json_reply(
        StatusCode::OK,
        &json!({
            "tracks": tracks,
            "dataChannels": super::datachannels::list(state, id),
            "connectionState": state_name(info.state),
            "thirdParty": third_party,
            "stats": stats,
        }),
    )
}

/// The tracks of `GET sessions/{id}` that a transceiver carries (a bidirectional one may
/// carry a local and a remote track) and their status: `active` when negotiated and the
/// PeerConnection is connected, `initializing` while negotiating or connecting, `inactive`
/// when the section was rejected or the pulled track is gone.
fn track_objects(
    state: &ApiState,
    id: SessionId,
    t: &Transceiver,
    connected: bool,
    pending: bool,
) -> Vec<Value> {
    let status = |negotiated: bool, alive: bool| {
        if pending {
            "initializing"
        } else if !negotiated || !alive {
            "inactive"
        } else if connected {
            "active"
        } else {
            "initializing"
        }
    };
    let mut out = Vec::new();
    if let Some(published) = &t.published {
        out.push(json!({
            "location": "local",
            "sessionId": id.to_string(),
            "trackName": published.name,
            "mid": t.mid,
            "kind": t.kind.as_str(),
            "status": status(t.direction.receives(), state.directory.track_exists(published.id)),
        }));
    }
    let Some(pulled) = t.pulled.as_ref() else { return out };
    let mut remote = json!({
        "location": "remote",
        "sessionId": pulled.session.to_string(),
        "trackName": pulled.name,
        "mid": t.mid,
        "kind": t.kind.as_str(),
        "status": status(t.direction.sends(), state.directory.track_exists(pulled.id)),
    });
    if let (Some(simulcast), Some(object)) = (&pulled.simulcast, remote.as_object_mut()) {
        object.insert("simulcast".into(), simulcast.to_json());
    }
    out.push(remote);
    out
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

/// The body of `sessions/new`: empty, `{}`, or `{"sessionDescription": {"type": "offer",
/// "sdp": "..."}}`.
fn parse_offer(body: &[u8]) -> Result<Option<SessionDescription>, ApiError> {
    session_description(&json_object(body)?, "offer")
}

/// Builds the PeerConnection for `offer`: new local ICE credentials, the session machine,
/// the negotiation state and the SDP answer.
fn peer_connection(
    state: &ApiState,
    offer: &SessionDescription,
    now: Instant,
    stats: &Arc<SessionStats>,
    third_party: bool,
) -> Result<(PeerConnection, Negotiation, String), ApiError> {
    let (local_credentials, local) = local_parameters(state);
    let mut negotiation = Negotiation::new(cname());
    if third_party {
        negotiation.set_third_party();
    }
    negotiation.set_local_parameters(local);
    let answer = negotiation
        .prepare_answer(offer, &AnswerOptions::default())
        .map_err(|e| super::peer::decoding_error(format!("cannot answer the offer: {e}")))?;
    let dtls_role = role_for_offer(offer, third_party);
    let session =
        session_for(state, now, stats, local_credentials.clone(), offer, dtls_role, third_party)?;
    negotiation.set_dtls_role(setup_of(dtls_role));
    let text = answer.to_string();
    negotiation.commit_answer(offer.clone(), answer);
    Ok((PeerConnection { local_credentials, session }, negotiation, text))
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
