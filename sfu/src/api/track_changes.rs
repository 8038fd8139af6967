//! `PUT sessions/{id}/tracks/close` and `PUT sessions/{id}/tracks/update`.
//!
//! `tracks/close` takes `{tracks: [{mid}], sessionDescription?, force?}` and ends what each
//! mid carries: a local track is withdrawn from the directory (its subscribers' mids go
//! quiet and their `GET sessions/{id}` shows it `inactive`), a remote track stops being sent.
//! Three ways, as in Cloudflare's API:
//! - `force: true`: only the media stops; the session description stays as negotiated and
//!   nothing is renegotiated. No `sessionDescription` in the reply.
//! - `force: false` (the default) with the client's offer (the client stopped or removed
//!   the transceivers): the offer is answered, the closed mids no longer carry anything,
//!   and the answer comes back with `requiresImmediateRenegotiation: false`.
//! - `force: false` without an offer: the SFU writes an offer that stops the closed
//!   sections (port 0, RFC 8829 §5.2.2) and returns it with
//!   `requiresImmediateRenegotiation: true`; the client answers through `renegotiate`. The
//!   media stops at once. The section that carries the BUNDLE transport (the first one) is
//!   made `inactive` instead of stopped: Chrome and Firefox both set up a new transport
//!   (new ICE and DTLS) when the offerer rejects that section, which would cut every other
//!   track of the session.
//!
//! A mid that carries nothing gets a per-item `close_track_error` (HTTP 200); if no mid of
//! the batch carries anything, nothing is renegotiated.
//!
//! `tracks/update` takes `{tracks: [{location: "remote", mid, sessionId, trackName,
//! simulcast?}]}` and swaps the remote track an existing sending mid carries, without
//! renegotiation: the subscriber's stream keeps its SSRC, and its sequence numbers and
//! timestamps continue across the switch (the router re-bases them on the new source's
//! first packet), so the decoder sees one stream; a keyframe is requested from the new
//! publisher. The new track must be of the same kind and share a codec with what the mid
//! negotiated. Per-item errors: `update_track_error` (the mid pulls nothing, kind or codecs
//! do not fit), `not_found_track_error` (no such track). A `simulcast` object
//! (`{preferredRid, priorityOrdering, ridNotAvailable}`) changes which layer of a simulcast
//! track the mid carries, with the same track or a new one; without it, the same track
//! keeps its choice (see [`crate::router::layers`]).
//!
//! Both are negotiations: while another one holds the session, or while an SFU offer waits
//! for its answer, they are refused with 406 `invalid_params`.

use hyper::StatusCode;
use serde_json::{json, Map, Value};
use tracing::{debug, info_span};

use super::http::{json_reply, ApiError, Reply};
use super::peer::{
    apply_ice_restart, decoding_error, ice_restart_for, invalid_params, json_object,
    session_description,
};
use super::tracks::{
    gone, keep_sending, lock_session, negotiated_capabilities, MAX_TRACKS_PER_CALL,
};
use super::ApiState;
use crate::directory::SessionId;
use crate::negotiation::{Negotiation, PulledTrack};
use crate::router::layers::SimulcastPreference;
use crate::sdp::{AnswerOptions, Direction, OfferMedia, SessionDescription};

/// `PUT sessions/{id}/tracks/close`. See the module documentation.
pub(super) async fn close(state: &ApiState, id: &str, body: &[u8]) -> Reply {
    match close_inner(state, id, body).await {
        Ok(value) => json_reply(StatusCode::OK, &value),
        Err(e) => e.reply(),
    }
}

/// `PUT sessions/{id}/tracks/update`. See the module documentation.
pub(super) async fn update(state: &ApiState, id: &str, body: &[u8]) -> Reply {
    match update_inner(state, id, body).await {
        Ok(value) => json_reply(StatusCode::OK, &value),
        Err(e) => e.reply(),
    }
}

/// The `tracks` array of a body, at most [`MAX_TRACKS_PER_CALL`] objects.
fn track_items(object: &Map<String, Value>) -> Result<Vec<Map<String, Value>>, ApiError> {
    let items = match object.get("tracks") {
        None | Some(Value::Null) => return Err(decoding_error("tracks (an array) is required")),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(decoding_error("tracks must be an array")),
    };
    if items.len() > MAX_TRACKS_PER_CALL {
        return Err(invalid_params(format!(
            "at most {MAX_TRACKS_PER_CALL} tracks per call; split the batch"
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(item) => Ok(item.clone()),
            _ => Err(decoding_error(format!("tracks[{i}] must be an object"))),
        })
        .collect()
}

/// A string field of `tracks[i]`.
fn string_field(
    item: &Map<String, Value>,
    i: usize,
    key: &str,
) -> Result<Option<String>, ApiError> {
    match item.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(decoding_error(format!("tracks[{i}].{key} must be a string"))),
    }
}

/// One result object: the request's fields echoed, and an error if any.
fn result_object(fields: &[(&str, &Option<String>)], error: Option<(&str, String)>) -> Value {
    let mut object = Map::new();
    for (key, value) in fields {
        if let Some(value) = value {
            object.insert((*key).to_owned(), Value::from(value.as_str()));
        }
    }
    if let Some((code, description)) = error {
        object.insert("errorCode".into(), Value::from(code));
        object.insert("errorDescription".into(), Value::from(description));
    }
    Value::Object(object)
}

/// Ends what `mid` carries in `draft`: withdraws its local track from the directory, or
/// stops sending its remote track. Returns whether it carried anything.
fn clear_mid(state: &ApiState, id: SessionId, draft: &mut Negotiation, mid: &str) -> bool {
    let Some(t) = draft.transceiver_mut(mid) else { return false };
    let mut carried = false;
    if let Some(published) = t.published.take() {
        state.directory.unpublish(id, published.id);
        carried = true;
    }
    if t.pulled.take().is_some() {
        carried = true;
    }
    carried
}

async fn close_inner(state: &ApiState, id: &str, body: &[u8]) -> Result<Value, ApiError> {
    let object = json_object(body)?;
    let force = match object.get("force") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(decoding_error("force must be a boolean")),
    };
    let offer = session_description(&object, "offer")?;
    if force && offer.is_some() {
        return Err(invalid_params(
            "force: true closes without renegotiation: send no sessionDescription with it",
        ));
    }
    let items = track_items(&object)?;
    let mut mids = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        mids.push(string_field(item, i, "mid")?);
    }

    let (id, _info, mut negotiation) = lock_session(state, id)?;
    if negotiation.pending().is_some() {
        return Err(invalid_params(
            "the SFU's offer is waiting for the client's answer: PUT renegotiate first",
        ));
    }
    let mut draft = negotiation.clone();
    let mut results = Vec::with_capacity(mids.len());
    let mut closing: Vec<String> = Vec::new();
    for mid in &mids {
        let error = match mid.as_deref() {
            None => Some(("close_track_error", "a closed track is named by its mid".to_owned())),
            Some(m) if closing.iter().any(|c| c == m) => {
                Some(("close_track_error", format!("mid {m:?} appears twice in the batch")))
            }
            Some(m) => match draft.transceiver(m) {
                Some(t) if t.published.is_some() || t.pulled.is_some() => {
                    closing.push(m.to_owned());
                    None
                }
                Some(_) => Some(("close_track_error", format!("mid {m:?} carries no track"))),
                None => Some(("close_track_error", format!("the session has no mid {m:?}"))),
            },
        };
        results.push(result_object(&[("mid", mid)], error));
    }

    let span = info_span!("session", %id);
    let reply = match offer {
        _ if closing.is_empty() => {
            json!({ "requiresImmediateRenegotiation": false, "tracks": results })
        }
        None if force => {
            for mid in &closing {
                clear_mid(state, id, &mut draft, mid);
            }
            json!({ "requiresImmediateRenegotiation": false, "tracks": results })
        }
        Some(offer) => {
            // New ICE credentials in the offer: an ICE restart along with the close.
            let restart = ice_restart_for(&mut draft, &offer)?;
            let answer = answer_without(&draft, &offer, &closing)?;
            if let Some(restart) = restart {
                apply_ice_restart(state, id, restart).await?;
            }
            for mid in &closing {
                clear_mid(state, id, &mut draft, mid);
            }
            let sdp = answer.to_string();
            draft.commit_answer(offer, answer);
            json!({
                "requiresImmediateRenegotiation": false,
                "sessionDescription": { "type": "answer", "sdp": sdp },
                "tracks": results,
            })
        }
        None => {
            let tag = draft.bundle_tag().map(str::to_owned);
            let mut inactive = Vec::new();
            let mut stopped = Vec::new();
            for mid in &closing {
                match draft.transceiver(mid) {
                    Some(t) if Some(mid) == tag.as_ref() => inactive.push(OfferMedia {
                        mid: mid.clone(),
                        kind: t.kind.clone(),
                        direction: Direction::Inactive,
                        send: None,
                        codecs: None,
                    }),
                    _ => stopped.push(mid.clone()),
                }
            }
            let offer = draft
                .prepare_offer_changing(inactive, stopped)
                .map_err(|e| invalid_params(format!("cannot offer to close the tracks: {e}")))?;
            for mid in &closing {
                clear_mid(state, id, &mut draft, mid);
            }
            let sdp = offer.to_string();
            draft.set_pending(offer, Vec::new());
            json!({
                "requiresImmediateRenegotiation": true,
                "sessionDescription": { "type": "offer", "sdp": sdp },
                "tracks": results,
            })
        }
    };
    state.directory.set_media(id, draft.media()).map_err(|_| gone())?;
    *negotiation = draft;
    state.notifier.routes_changed();
    span.in_scope(|| debug!(closed = closing.len(), force, "tracks closed"));
    Ok(reply)
}

/// The answer to a client offer that closes `closing`: every other section the SFU sends
/// on keeps its stream and codecs; the closed ones get none (so a section the client still
/// offers as receiving is answered without a source).
fn answer_without(
    draft: &Negotiation,
    offer: &SessionDescription,
    closing: &[String],
) -> Result<SessionDescription, ApiError> {
    let caps = draft.local_parameters().map(|l| l.capabilities.clone()).unwrap_or_default();
    let mut options = AnswerOptions::default();
    for t in draft.transceivers() {
        if closing.contains(&t.mid) {
            continue;
        }
        if let (Some(stream), true) = (&t.send, t.direction.sends()) {
            options = options
                .with(t.mid.clone(), keep_sending(t, stream))
                .with_codecs(t.mid.clone(), negotiated_capabilities(&caps, t));
        }
    }
    draft
        .prepare_answer(offer, &options)
        .map_err(|e| decoding_error(format!("cannot answer the offer: {e}")))
}

async fn update_inner(state: &ApiState, id: &str, body: &[u8]) -> Result<Value, ApiError> {
    let object = json_object(body)?;
    let items = track_items(&object)?;
    // (mid, sessionId, trackName, simulcast)
    let mut requests = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item.get("location").and_then(Value::as_str) {
            None | Some("remote") => {}
            Some(_) => {
                return Err(decoding_error(format!(
                    "tracks[{i}].location must be \"remote\": only pulled tracks can be updated"
                )))
            }
        }
        let simulcast = SimulcastPreference::from_json(item.get("simulcast"))
            .map_err(|why| decoding_error(format!("tracks[{i}].{why}")))?;
        requests.push((
            string_field(item, i, "mid")?,
            string_field(item, i, "sessionId")?,
            string_field(item, i, "trackName")?,
            simulcast,
        ));
    }

    let (id, _info, mut negotiation) = lock_session(state, id)?;
    if negotiation.pending().is_some() {
        return Err(invalid_params(
            "the SFU's offer is waiting for the client's answer: PUT renegotiate first",
        ));
    }
    let mut draft = negotiation.clone();
    let caps = draft.local_parameters().map(|l| l.capabilities.clone()).unwrap_or_default();
    let location = Some("remote".to_owned());
    let mut results = Vec::with_capacity(requests.len());
    let mut changed = 0usize;
    let mut seen: Vec<String> = Vec::new();
    for (mid, session, name, simulcast) in &requests {
        let fields =
            [("location", &location), ("mid", mid), ("sessionId", session), ("trackName", name)];
        let outcome = (|| {
            let mid = mid.as_deref().ok_or_else(|| {
                ("update_track_error", "an updated track is named by its mid".to_owned())
            })?;
            if seen.iter().any(|m| m == mid) {
                return Err(("update_track_error", format!("mid {mid:?} appears twice")));
            }
            seen.push(mid.to_owned());
            let t = draft
                .transceiver(mid)
                .filter(|t| t.send.is_some() && t.direction.sends())
                .ok_or_else(|| {
                    ("update_track_error", format!("mid {mid:?} sends no remote track"))
                })?;
            let (Some(session), Some(name)) = (session, name) else {
                return Err((
                    "not_found_track_error",
                    "a remote track is named by sessionId and trackName".to_owned(),
                ));
            };
            let publisher = session
                .parse::<SessionId>()
                .map_err(|_| ("not_found_track_error", format!("no session {session:?}")))?;
            let track = state.directory.track(publisher, name).ok_or_else(|| {
                ("not_found_track_error", format!("session {session} publishes no track {name:?}"))
            })?;
            if track.kind != t.kind {
                return Err((
                    "update_track_error",
                    format!(
                        "mid {mid:?} carries {} and track {name:?} is {}",
                        t.kind.as_str(),
                        track.kind.as_str()
                    ),
                ));
            }
            let negotiated = negotiated_capabilities(&caps, t);
            let common = track
                .codecs
                .iter()
                .filter(|c| !c.is_rtx())
                .filter_map(|c| caps.find_codec(&track.kind, c))
                .any(|cap| negotiated.contains(cap));
            if !common {
                return Err((
                    "update_track_error",
                    format!(
                        "track {name:?} has no codec in common with what mid {mid:?} negotiated"
                    ),
                ));
            }
            // The same track without a `simulcast` object keeps the layer choice it had.
            let simulcast = match (simulcast, &t.pulled) {
                (Some(s), _) => Some(s.clone()),
                (None, Some(p)) if p.id == track.id => p.simulcast.clone(),
                (None, _) => None,
            };
            let pulled =
                PulledTrack { session: publisher, name: name.clone(), id: track.id, simulcast };
            if let Some(t) = draft.transceiver_mut(mid) {
                if t.pulled.as_ref() != Some(&pulled) {
                    t.pulled = Some(pulled);
                    changed += 1;
                }
            }
            Ok(())
        })();
        results.push(result_object(&fields, outcome.err()));
    }
    if changed > 0 {
        state.directory.set_media(id, draft.media()).map_err(|_| gone())?;
        state.notifier.routes_changed();
    }
    *negotiation = draft;
    info_span!("session", %id).in_scope(|| debug!(changed, "tracks updated"));
    Ok(json!({ "requiresImmediateRenegotiation": false, "tracks": results }))
}
