//! `POST sessions/{id}/datachannels/establish`, `POST sessions/{id}/datachannels/new` and
//! `PUT sessions/{id}/datachannels/close` (see [`crate::datachannel`] for what happens to
//! the messages).
//!
//! - `establish` opens the session's SCTP transport. With the client's offer
//!   (`{sessionDescription}`, which must hold an `m=application ... UDP/DTLS/SCTP
//!   webrtc-datachannel` section) it answers, creating the PeerConnection of a session that
//!   had none: `{sessionDescription: answer, requiresImmediateRenegotiation: false}`.
//!   Without an offer the SFU offers the section itself, after every section negotiated so
//!   far: `{sessionDescription: offer, requiresImmediateRenegotiation: true}`, completed by
//!   the client's answer through `PUT renegotiate`. A session that has the section already
//!   gets `{requiresImmediateRenegotiation: false}`.
//! - `new` takes `{dataChannels: [...]}`: `{location: "local", dataChannelName, ordered?,
//!   maxRetransmits? | maxPacketLifeTime?}` publishes a channel of this session;
//!   `{location: "remote", sessionId, dataChannelName}` subscribes to another session's.
//!   Each result echoes `location`, `dataChannelName` and `sessionId` (the publisher's) and
//!   carries `id`, the stream id the client negotiates:
//!   `createDataChannel(name, {negotiated: true, id})`. Per-item errors come with HTTP 200:
//!   `invalid_params` (no name, bad options), `repeated_local_datachannel_error` (a name the
//!   session publishes already), `not_found_datachannel_error` (no such publication),
//!   `datachannel_limit_error` (no stream id left in the session).
//! - `close` takes `{dataChannels: [{id}]}` and closes those channels of the session; a
//!   published one takes its subscribers' channels with it. Unknown ids get
//!   `not_found_datachannel_error`.
//!
//! The older pattern works too: a session created by `sessions/new` with an offer that holds
//! the `m=application` section needs no `establish` before `new`.

use std::time::{Duration, Instant};

use hyper::StatusCode;
use serde_json::{json, Map, Value};
use tracing::{debug, info_span};

use super::http::{json_reply, ApiError, Reply};
use super::peer::{
    apply_ice_restart, attach, credentials_of, decoding_error, ice_restart_for, internal,
    invalid_params, json_object, local_parameters, role_for_offer, session_description,
    session_for, session_not_found, setup_of,
};
use super::tracks::{gone, keep_sending, lock_session};
use super::ApiState;
use crate::datachannel::{ChannelError, ChannelSpec, SessionChannel};
use crate::directory::{SessionId, SessionInfo};
use crate::negotiation::{Negotiation, Transceiver};
use crate::sdp::{
    AnswerOptions, Capabilities, CodecCapability, MediaKind, OfferMedia, SessionDescription, Setup,
};

/// Most entries in one `datachannels/new` or `datachannels/close` call.
pub const MAX_CHANNELS_PER_CALL: usize = 64;

/// `POST sessions/{id}/datachannels/establish`.
pub(super) async fn establish(state: &ApiState, id: &str, body: &[u8]) -> Reply {
    match establish_inner(state, id, body).await {
        Ok(value) => json_reply(StatusCode::OK, &value),
        Err(e) => e.reply(),
    }
}

/// `POST sessions/{id}/datachannels/new`.
pub(super) async fn new(state: &ApiState, id: &str, body: &[u8]) -> Reply {
    match new_inner(state, id, body).await {
        Ok(value) => json_reply(StatusCode::OK, &value),
        Err(e) => e.reply(),
    }
}

/// `PUT sessions/{id}/datachannels/close`.
pub(super) async fn close(state: &ApiState, id: &str, body: &[u8]) -> Reply {
    match close_inner(state, id, body).await {
        Ok(value) => json_reply(StatusCode::OK, &value),
        Err(e) => e.reply(),
    }
}

/// The `dataChannels` of `GET sessions/{id}`.
pub(super) fn list(state: &ApiState, id: SessionId) -> Value {
    Value::Array(
        state.directory.channels().list(id).iter().map(|c| channel_object(id, c)).collect(),
    )
}

fn channel_object(own: SessionId, c: &SessionChannel) -> Value {
    let mut object = Map::new();
    object.insert("id".into(), Value::from(c.id));
    object.insert("location".into(), Value::from(if c.local { "local" } else { "remote" }));
    object.insert("dataChannelName".into(), Value::from(c.name.as_str()));
    let session = if c.local { own } else { c.publisher };
    object.insert("sessionId".into(), Value::from(session.to_string()));
    object.insert("ordered".into(), Value::from(c.spec.ordered));
    match c.spec.reliability {
        sctp::PartialReliability::None => {}
        sctp::PartialReliability::MaxRetransmits(n) => {
            object.insert("maxRetransmits".into(), Value::from(n));
        }
        sctp::PartialReliability::MaxLifetime(d) => {
            let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
            object.insert("maxPacketLifeTime".into(), Value::from(ms));
        }
    }
    Value::Object(object)
}

/// The live data channel section of a description, if any.
fn application_section(d: &SessionDescription) -> Option<&crate::sdp::MediaDescription> {
    d.media.iter().find(|m| m.kind == MediaKind::Application && !m.is_rejected() && m.is_sctp())
}

/// Whether the session has negotiated a data channel section.
fn has_data_channels(negotiation: &Negotiation) -> bool {
    let local = negotiation.local_description().and_then(application_section);
    let remote = negotiation.remote_description().and_then(application_section);
    local.is_some() && remote.is_some()
}

/// Tells the registry the client's `a=max-message-size` (RFC 8841 §6: 64 KiB when absent;
/// 0 means no limit), so the session never sends it a larger message.
fn record_peer_max_message_size(state: &ApiState, id: SessionId, negotiation: &Negotiation) {
    let Some(remote) = negotiation.remote_description() else { return };
    let Some(section) = application_section(remote) else { return };
    let size = match section.max_message_size() {
        None => 65_536,
        Some(0) => usize::MAX,
        Some(size) => usize::try_from(size).unwrap_or(usize::MAX),
    };
    state.directory.channels().set_peer_max_message_size(id, size);
}

/// The capabilities matching the codecs a transceiver negotiated (a sending section keeps
/// its codecs when the client offers again).
fn negotiated_capabilities(caps: &Capabilities, t: &Transceiver) -> Vec<CodecCapability> {
    let mut out: Vec<CodecCapability> = Vec::new();
    for codec in t.codecs.iter().filter(|c| !c.is_rtx()) {
        if let Some(cap) = caps.find_codec(&t.kind, codec) {
            if !out.contains(cap) {
                out.push(cap.clone());
            }
        }
    }
    out
}

async fn establish_inner(state: &ApiState, id: &str, body: &[u8]) -> Result<Value, ApiError> {
    let object = json_object(body)?;
    let offer = session_description(&object, "offer")?;
    let (id, info, mut negotiation) = lock_session(state, id)?;
    if negotiation.pending().is_some() {
        return Err(invalid_params(
            "the SFU's offer is waiting for the client's answer: PUT renegotiate first",
        ));
    }
    let reply = match offer {
        Some(offer) => answer_offer(state, id, &info, &mut negotiation, offer).await?,
        None if has_data_channels(&negotiation) => {
            json!({ "requiresImmediateRenegotiation": false })
        }
        None => offer_data_channels(state, &mut negotiation)?,
    };
    info_span!("session", %id).in_scope(|| debug!("datachannels/establish"));
    Ok(reply)
}

/// `establish` with the client's offer.
async fn answer_offer(
    state: &ApiState,
    id: SessionId,
    info: &SessionInfo,
    negotiation: &mut Negotiation,
    offer: SessionDescription,
) -> Result<Value, ApiError> {
    let Some(mid) = application_section(&offer).and_then(|m| m.mid()).map(str::to_owned) else {
        return Err(invalid_params(
            "the offer has no m=application UDP/DTLS/SCTP webrtc-datachannel section",
        ));
    };
    let now = Instant::now();
    let mut draft = negotiation.clone();
    if draft.local_parameters().is_none() {
        draft.set_local_parameters(local_parameters(state).1);
    }
    let caps = draft.local_parameters().map(|l| l.capabilities.clone()).unwrap_or_default();
    // Sections the SFU sends on keep their stream and codecs.
    let mut options = AnswerOptions::default();
    for t in draft.transceivers() {
        if let (Some(stream), true) = (&t.send, t.direction.sends()) {
            options = options
                .with(t.mid.clone(), keep_sending(t, stream))
                .with_codecs(t.mid.clone(), negotiated_capabilities(&caps, t));
        }
    }
    // New ICE credentials in the offer on a live PeerConnection: an ICE restart.
    let restart =
        if info.has_peer_connection { ice_restart_for(&mut draft, &offer)? } else { None };
    let answer = draft
        .prepare_answer(&offer, &options)
        .map_err(|e| decoding_error(format!("cannot answer the offer: {e}")))?;
    if answer.media_by_mid(&mid).is_none_or(|m| m.is_rejected()) {
        return Err(invalid_params(
            "the SFU cannot accept the offer's data channel section (it must be in the BUNDLE \
             group with the media, or come first)",
        ));
    }
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
    let sdp = answer.to_string();
    draft.commit_answer(offer, answer);
    state.directory.set_media(id, draft.media()).map_err(|_| gone())?;
    record_peer_max_message_size(state, id, &draft);
    *negotiation = draft;
    state.notifier.routes_changed();
    Ok(json!({
        "requiresImmediateRenegotiation": false,
        "sessionDescription": { "type": "answer", "sdp": sdp },
    }))
}

/// `establish` without an offer: the SFU offers the data channel section.
fn offer_data_channels(state: &ApiState, negotiation: &mut Negotiation) -> Result<Value, ApiError> {
    let mut draft = negotiation.clone();
    if draft.local_parameters().is_none() {
        draft.set_local_parameters(local_parameters(state).1);
    }
    let mid = draft.next_mid();
    let offer =
        draft.prepare_offer(vec![OfferMedia::data_channel(mid.clone())]).map_err(internal)?;
    let sdp = offer.to_string();
    draft.set_pending(offer, vec![Transceiver::new(mid, MediaKind::Application)]);
    *negotiation = draft;
    Ok(json!({
        "requiresImmediateRenegotiation": true,
        "sessionDescription": { "type": "offer", "sdp": sdp },
    }))
}

/// One entry of `datachannels/new`.
#[derive(Debug, Clone, PartialEq)]
struct ChannelRequest {
    local: bool,
    name: Option<String>,
    session_id: Option<String>,
    spec: Result<ChannelSpec, String>,
}

fn parse_entries(body: &[u8]) -> Result<Vec<Map<String, Value>>, ApiError> {
    let object = json_object(body)?;
    let items = match object.get("dataChannels") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(items)) => items.as_slice(),
        Some(_) => return Err(decoding_error("dataChannels must be an array")),
    };
    if items.len() > MAX_CHANNELS_PER_CALL {
        return Err(invalid_params(format!(
            "at most {MAX_CHANNELS_PER_CALL} data channels per call; split the batch"
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(item) => Ok(item.clone()),
            _ => Err(decoding_error(format!("dataChannels[{i}] must be an object"))),
        })
        .collect()
}

fn parse_new(body: &[u8]) -> Result<Vec<ChannelRequest>, ApiError> {
    let mut out = Vec::new();
    for (i, item) in parse_entries(body)?.into_iter().enumerate() {
        let local = match item.get("location").and_then(Value::as_str) {
            Some("local") => true,
            Some("remote") => false,
            _ => {
                return Err(decoding_error(format!(
                    "dataChannels[{i}].location must be \"local\" or \"remote\""
                )))
            }
        };
        let string = |key: &str| -> Result<Option<String>, ApiError> {
            match item.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(decoding_error(format!("dataChannels[{i}].{key} must be a string"))),
            }
        };
        out.push(ChannelRequest {
            local,
            name: string("dataChannelName")?,
            session_id: string("sessionId")?,
            spec: spec_of(&item),
        });
    }
    Ok(out)
}

/// `ordered` (default true), `maxRetransmits` or `maxPacketLifeTime` (not both, RFC 8831
/// §6.6 / the WebRTC API).
fn spec_of(item: &Map<String, Value>) -> Result<ChannelSpec, String> {
    let ordered = match item.get("ordered") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("ordered must be a boolean".into()),
    };
    let number = |key: &str| -> Result<Option<u32>, String> {
        match item.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| format!("{key} must be an integer within 0..=4294967295")),
        }
    };
    let reliability = match (number("maxRetransmits")?, number("maxPacketLifeTime")?) {
        (Some(_), Some(_)) => {
            return Err("maxRetransmits and maxPacketLifeTime cannot both be set".into())
        }
        (Some(n), None) => sctp::PartialReliability::MaxRetransmits(n),
        (None, Some(ms)) => sctp::PartialReliability::MaxLifetime(Duration::from_millis(ms.into())),
        (None, None) => sctp::PartialReliability::None,
    };
    Ok(ChannelSpec { ordered, reliability })
}

/// Whether the SFU hands out odd stream ids in this session: the DTLS server's DCEP parity
/// (RFC 8832 §6), the SFU's role unless the client's offer was passive.
fn odd_ids(negotiation: &Negotiation) -> bool {
    negotiation.local_parameters().and_then(|l| l.dtls_role) != Some(Setup::Active)
}

async fn new_inner(state: &ApiState, id: &str, body: &[u8]) -> Result<Value, ApiError> {
    let requests = parse_new(body)?;
    let id = id.parse::<SessionId>().map_err(|_| session_not_found())?;
    if !state.directory.contains(id) {
        return Err(session_not_found());
    }
    let negotiation = state.directory.negotiation(id).ok_or_else(session_not_found)?;
    let negotiation = negotiation.lock().await;
    let odd = odd_ids(&negotiation);
    record_peer_max_message_size(state, id, &negotiation);
    drop(negotiation);
    let registry = state.directory.channels();
    let mut results = Vec::with_capacity(requests.len());
    for request in requests {
        let mut object = Map::new();
        object
            .insert("location".into(), Value::from(if request.local { "local" } else { "remote" }));
        if let Some(name) = &request.name {
            object.insert("dataChannelName".into(), Value::from(name.as_str()));
        }
        let outcome: Result<u16, (&'static str, String)> = (|| {
            let spec = request.spec.clone().map_err(|e| ("invalid_params", e))?;
            let name = request
                .name
                .as_deref()
                .filter(|n| !n.is_empty())
                .ok_or(("invalid_params", "a data channel needs a dataChannelName".to_owned()))?;
            let limit = |e: ChannelError| match e {
                ChannelError::NameTaken => (
                    "repeated_local_datachannel_error",
                    format!("this session already publishes a data channel {name:?}"),
                ),
                ChannelError::NotFound => (
                    "not_found_datachannel_error",
                    format!("the session publishes no data channel {name:?}"),
                ),
                e => ("datachannel_limit_error", e.to_string()),
            };
            if request.local {
                object.insert("sessionId".into(), Value::from(id.to_string()));
                registry.publish(id, name, spec, odd).map_err(limit)
            } else {
                let publisher = request.session_id.as_deref().ok_or((
                    "invalid_params",
                    "a remote data channel needs the publisher's sessionId".to_owned(),
                ))?;
                object.insert("sessionId".into(), Value::from(publisher));
                let publisher = publisher.parse::<SessionId>().map_err(|_| {
                    ("not_found_datachannel_error", format!("no session {publisher:?}"))
                })?;
                let (stream, spec) = registry.subscribe(id, publisher, name, odd).map_err(limit)?;
                object.insert("ordered".into(), Value::from(spec.ordered));
                Ok(stream)
            }
        })();
        match outcome {
            Ok(stream) => {
                object.insert("id".into(), Value::from(stream));
            }
            Err((code, description)) => {
                object.insert("errorCode".into(), Value::from(code));
                object.insert("errorDescription".into(), Value::from(description));
            }
        }
        results.push(Value::Object(object));
    }
    state.notifier.routes_changed();
    info_span!("session", %id).in_scope(|| debug!(count = results.len(), "datachannels/new"));
    Ok(json!({ "dataChannels": results }))
}

async fn close_inner(state: &ApiState, id: &str, body: &[u8]) -> Result<Value, ApiError> {
    let entries = parse_entries(body)?;
    let id = id.parse::<SessionId>().map_err(|_| session_not_found())?;
    if !state.directory.contains(id) {
        return Err(session_not_found());
    }
    let registry = state.directory.channels();
    let mut results = Vec::with_capacity(entries.len());
    for (i, item) in entries.iter().enumerate() {
        let Some(stream) = item.get("id").and_then(Value::as_u64) else {
            return Err(decoding_error(format!("dataChannels[{i}].id must be a stream id")));
        };
        let mut object = Map::new();
        object.insert("id".into(), Value::from(stream));
        let closed = u16::try_from(stream).ok().map(|s| registry.close(id, s));
        if closed != Some(Ok(())) {
            object.insert("errorCode".into(), Value::from("not_found_datachannel_error"));
            object.insert(
                "errorDescription".into(),
                Value::from(format!("the session has no data channel {stream}")),
            );
        }
        results.push(Value::Object(object));
    }
    state.notifier.routes_changed();
    Ok(json!({ "dataChannels": results }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_options() {
        let item = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(spec_of(&item(json!({}))), Ok(ChannelSpec::RELIABLE));
        assert_eq!(
            spec_of(&item(json!({"ordered": false, "maxRetransmits": 0}))),
            Ok(ChannelSpec {
                ordered: false,
                reliability: sctp::PartialReliability::MaxRetransmits(0)
            })
        );
        assert_eq!(
            spec_of(&item(json!({"maxPacketLifeTime": 150}))).unwrap().reliability,
            sctp::PartialReliability::MaxLifetime(Duration::from_millis(150))
        );
        assert!(spec_of(&item(json!({"maxPacketLifeTime": 1, "maxRetransmits": 1}))).is_err());
        assert!(spec_of(&item(json!({"ordered": "yes"}))).is_err());
        assert!(spec_of(&item(json!({"maxRetransmits": -1}))).is_err());
    }

    #[test]
    fn batches() {
        let ok = parse_new(
            json!({"dataChannels": [{"location": "local", "dataChannelName": "chat"}]})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        assert!(ok[0].local && ok[0].name.as_deref() == Some("chat"));
        for bad in [
            json!({"dataChannels": {}}),
            json!({"dataChannels": [1]}),
            json!({"dataChannels": [{"location": "elsewhere"}]}),
            json!({"dataChannels": [{"location": "local", "dataChannelName": 3}]}),
        ] {
            let status = parse_new(bad.to_string().as_bytes()).unwrap_err().reply().status();
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        }
        let many: Vec<Value> = (0..65).map(|_| json!({"location": "local"})).collect();
        let status =
            parse_new(json!({ "dataChannels": many }).to_string().as_bytes()).unwrap_err().reply();
        assert_eq!(status.status(), StatusCode::NOT_ACCEPTABLE);
    }
}
