//! Pieces every negotiating endpoint shares: reading JSON bodies and session descriptions,
//! our parameters for a new session, and the [`Session`] machine for a PeerConnection once
//! the client's description is known.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use hyper::StatusCode;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{Map, Value};

use super::http::ApiError;
use super::ApiState;
use crate::directory::{DirectoryError, PeerConnection, SessionId};
use crate::negotiation::Negotiation;
use crate::sdp::{CandidateType, LocalParameters, MediaDescription, SessionDescription, Setup};
use crate::session::{ControllingParams, Session, SessionError, SessionParams, SessionStats};

/// 400 `decoding_error`.
pub(super) fn decoding_error(description: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "decoding_error", description)
}

/// 406 `invalid_params`.
pub(super) fn invalid_params(description: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::NOT_ACCEPTABLE, "invalid_params", description)
}

/// 404 `not_found` for a session id that is malformed or unknown.
pub(super) fn session_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no session with this id")
}

/// 500 `internal_error`.
pub(super) fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", e.to_string())
}

/// The body as a JSON object; an empty body is an empty object.
pub(super) fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.trim_ascii().is_empty() {
        return Ok(Map::new());
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| decoding_error(format!("the request body is not valid JSON: {e}")))?;
    match value {
        Value::Object(object) => Ok(object),
        _ => Err(decoding_error("the request body must be a JSON object")),
    }
}

/// `sessionDescription` of a body, which must be of type `expected` (`"offer"` or
/// `"answer"`) and parse. Absent or `null`: `None`.
pub(super) fn session_description(
    object: &Map<String, Value>,
    expected: &str,
) -> Result<Option<SessionDescription>, ApiError> {
    let description = match object.get("sessionDescription") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(d)) => d,
        Some(_) => return Err(decoding_error("sessionDescription must be an object")),
    };
    match description.get("type").and_then(Value::as_str) {
        Some(t) if t == expected => {}
        Some(other) => {
            return Err(decoding_error(format!(
                "sessionDescription.type is \"{other}\"; this call takes an \"{expected}\""
            )))
        }
        None => {
            return Err(decoding_error(format!("sessionDescription.type must be \"{expected}\"")))
        }
    }
    let Some(sdp) = description.get("sdp").and_then(Value::as_str) else {
        return Err(decoding_error("sessionDescription.sdp must be a string"));
    };
    SessionDescription::parse(sdp)
        .map(Some)
        .map_err(|e| decoding_error(format!("invalid SDP {expected}: {e}")))
}

/// A random RTCP CNAME for what the SFU sends a session.
pub(super) fn cname() -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(16).map(char::from).collect()
}

/// Fresh ICE credentials and our parameters with them.
pub(super) fn local_parameters(state: &ApiState) -> (ice::Credentials, LocalParameters) {
    let mut rng = rand::thread_rng();
    let credentials = ice::Credentials::generate(&mut rng);
    // RFC 8866 §5.2: the o= session id fits in 63 bits for compatibility.
    let local = LocalParameters::new(
        rng.gen::<u64>() >> 1,
        credentials.ufrag(),
        credentials.pwd(),
        state.fingerprint.clone(),
        state.candidates.clone(),
    );
    (credentials, local)
}

/// Our ICE credentials as they are in `local`.
pub(super) fn credentials_of(local: &LocalParameters) -> Result<ice::Credentials, ApiError> {
    ice::Credentials::new(&local.ice_ufrag, &local.ice_pwd).map_err(internal)
}

/// The m-section whose transport a whole description uses: the BUNDLE tag (first mid of the
/// group, RFC 8843 §7.2.1), else the first section that is not rejected.
pub(super) fn transport_media(description: &SessionDescription) -> Option<&MediaDescription> {
    description
        .bundle_group()
        .and_then(|g| g.mids.first())
        .and_then(|mid| description.media_by_mid(mid))
        .or_else(|| description.media.iter().find(|m| !m.is_rejected()))
}

/// Our DTLS role against a client offer (RFC 5763 §5): an offer that is passive makes us the
/// DTLS client; active or no a=setup make us passive, the DTLS server; actpass makes us the
/// server, except in a third-party session, where we are the client of the peer's server
/// (the choices `create_answer` writes).
pub(super) fn role_for_offer(offer: &SessionDescription, third_party: bool) -> dtls::Role {
    match transport_media(offer).and_then(|m| offer.setup(m)) {
        Some(Setup::Passive) => dtls::Role::Client,
        Some(Setup::Actpass) if third_party => dtls::Role::Client,
        _ => dtls::Role::Server,
    }
}

/// The candidate pairs a third-party session checks: the peer's UDP host candidates of
/// component 1 with an IP address (no mDNS name) and a usable port, highest priority first,
/// each paired with our first socket address of its family; candidates of a family we have
/// no socket for, non-loopback candidates when that socket is bound to loopback (it cannot
/// reach them), and other types (a lite peer advertises host candidates only), are left
/// out. Candidates come from the BUNDLE-tagged section, else from every section.
pub(super) fn controlling_pairs(
    local_addrs: &[SocketAddr],
    remote: &SessionDescription,
) -> Vec<ice::CandidatePair> {
    let tagged: Vec<_> =
        transport_media(remote).map(|m| m.candidates().collect()).unwrap_or_default();
    let candidates = if tagged.is_empty() {
        remote.media.iter().flat_map(MediaDescription::candidates).collect()
    } else {
        tagged
    };
    let mut usable: Vec<(u32, ice::CandidatePair)> = candidates
        .into_iter()
        .filter(|c| c.is_udp() && c.kind == CandidateType::Host && c.component == 1)
        .filter_map(|c| {
            let remote = c.socket_addr()?;
            let ip = remote.ip();
            if remote.port() == 0 || ip.is_unspecified() || ip.is_multicast() {
                return None;
            }
            if let std::net::IpAddr::V4(v4) = ip {
                if v4.is_broadcast() {
                    return None;
                }
            }
            let local = *local_addrs.iter().find(|a| a.is_ipv4() == remote.is_ipv4())?;
            // A socket bound to a loopback address reaches only loopback addresses.
            if local.ip().is_loopback() && !ip.is_loopback() {
                return None;
            }
            Some((c.priority, ice::CandidatePair { local, remote }))
        })
        .collect();
    // Stable: equal priorities keep the description's order.
    usable.sort_by_key(|(priority, _)| std::cmp::Reverse(*priority));
    let mut pairs: Vec<ice::CandidatePair> = Vec::new();
    for (_, pair) in usable {
        if !pairs.contains(&pair) {
            pairs.push(pair);
        }
    }
    pairs
}

/// Our DTLS role from the client's answer to our `actpass` offer (RFC 5763 §5): it chose
/// `active` (we are the server) or `passive` (we are the client).
pub(super) fn role_for_answer(answer: &SessionDescription) -> Result<dtls::Role, ApiError> {
    match transport_media(answer).and_then(|m| answer.setup(m)) {
        Some(Setup::Active) => Ok(dtls::Role::Server),
        Some(Setup::Passive) => Ok(dtls::Role::Client),
        _ => Err(decoding_error(
            "the answer must say a=setup:active or a=setup:passive (RFC 5763 §5)",
        )),
    }
}

/// The SDP form of our DTLS role, for later answers.
pub(super) fn setup_of(role: dtls::Role) -> Setup {
    match role {
        dtls::Role::Server => Setup::Passive,
        dtls::Role::Client => Setup::Active,
    }
}

/// The machine of a PeerConnection whose remote description (the client's offer or answer)
/// is `remote`. A third-party session runs the controlling ICE agent toward the
/// description's host candidates ([`controlling_pairs`]); it is refused when none is usable.
pub(super) fn session_for(
    state: &ApiState,
    now: Instant,
    stats: &Arc<SessionStats>,
    local_credentials: ice::Credentials,
    remote: &SessionDescription,
    dtls_role: dtls::Role,
    third_party: bool,
) -> Result<Session, ApiError> {
    let media = transport_media(remote)
        .ok_or_else(|| decoding_error("the description has no usable m= section"))?;
    let ice = remote
        .ice_credentials(media)
        .ok_or_else(|| decoding_error("the description has no a=ice-ufrag/a=ice-pwd"))?;
    let remote_credentials = ice::Credentials::new(ice.ufrag, ice.pwd).map_err(|e| {
        decoding_error(format!("the description's ICE credentials are invalid: {e}"))
    })?;
    let remote_fingerprint = remote
        .fingerprints(media)
        .into_iter()
        .find_map(|f| {
            let algorithm = dtls::HashAlgorithm::from_name(&f.algorithm)?;
            dtls::Fingerprint::new(algorithm, f.value.clone()).ok()
        })
        .ok_or_else(|| {
            decoding_error(
                "the description has no usable a=fingerprint (sha-1, sha-224, sha-256, sha-384 \
                 or sha-512 with a digest of the right length)",
            )
        })?;
    let params = SessionParams {
        local_credentials,
        remote_credentials,
        ice: state.config.ice,
        dtls_context: state.dtls.clone(),
        dtls_role,
        remote_fingerprint,
        srtp: state.config.srtp,
    };
    let session = if third_party {
        let pairs = controlling_pairs(&state.local_addrs, remote);
        if pairs.is_empty() {
            return Err(decoding_error(
                "a thirdparty session needs the peer's UDP host candidates (a=candidate ... udp \
                 ... typ host) of an address family the SFU listens on",
            ));
        }
        let controlling = ControllingParams { pairs, config: ice::ControllingConfig::default() };
        let stats = Arc::clone(stats);
        Session::new_third_party(now, params, controlling, stats, &mut rand::thread_rng())
    } else {
        Session::new(now, params, Arc::clone(stats))
    };
    session.map_err(|e| match e {
        SessionError::Ice(e) => decoding_error(format!("the description's ICE parameters: {e}")),
        e => internal(e),
    })
}

/// Gives a session created without a PeerConnection its machine (the first description of
/// the client arrived), and tells a worker to expire it if nobody claims it.
pub(super) async fn attach(
    state: &ApiState,
    now: Instant,
    id: SessionId,
    local_credentials: ice::Credentials,
    session: Session,
) -> Result<(), ApiError> {
    let peer = PeerConnection { local_credentials, session };
    match state.directory.attach(now, id, peer) {
        Ok(()) => {
            state.notifier.session_added(id, now).await;
            Ok(())
        }
        Err(DirectoryError::NotFound) => Err(ApiError::new(
            StatusCode::GONE,
            "session_error",
            "the session ended while negotiating",
        )),
        Err(e) => Err(internal(e)),
    }
}

/// An ICE restart a client's offer asks for (RFC 8445 §9, RFC 8839 §4.4.1.1.1): our new
/// credentials, already in the draft so the answer carries them, and the client's.
#[derive(Debug)]
pub(super) struct IceRestart {
    local: ice::Credentials,
    remote: ice::Credentials,
}

impl IceRestart {
    /// A restart to these credentials (ours new, the client's new), asked for outside an
    /// offer (a WHIP or WHEP `PATCH`).
    pub(super) fn new(local: ice::Credentials, remote: ice::Credentials) -> IceRestart {
        IceRestart { local, remote }
    }
}

/// Whether `offer`, a new offer on a session that has a PeerConnection, restarts ICE: its
/// ufrag or password differ from the current remote description's. If so, new local
/// credentials go into `draft`.
pub(super) fn ice_restart_for(
    draft: &mut Negotiation,
    offer: &SessionDescription,
) -> Result<Option<IceRestart>, ApiError> {
    let current = draft.remote_description().and_then(|d| {
        let media = transport_media(d)?;
        d.ice_credentials(media).map(|c| (c.ufrag.to_owned(), c.pwd.to_owned()))
    });
    let Some((ufrag, pwd)) = current else { return Ok(None) };
    let media = transport_media(offer)
        .ok_or_else(|| decoding_error("the offer has no usable m= section"))?;
    let offered = offer
        .ice_credentials(media)
        .ok_or_else(|| decoding_error("the offer has no a=ice-ufrag/a=ice-pwd"))?;
    if offered.ufrag == ufrag && offered.pwd == pwd {
        return Ok(None);
    }
    let remote = ice::Credentials::new(offered.ufrag, offered.pwd)
        .map_err(|e| decoding_error(format!("the offer's ICE credentials are invalid: {e}")))?;
    let local = ice::Credentials::generate(&mut rand::thread_rng());
    draft.set_ice_credentials(local.ufrag(), local.pwd());
    Ok(Some(IceRestart { local, remote }))
}

/// Carries out an ICE restart on the session's machine: in the directory (new ufrag route,
/// and the machine if unclaimed) and through its owner's queue. Call it once the answer is
/// written and before the negotiation is committed: on error nothing changed.
pub(super) async fn apply_ice_restart(
    state: &ApiState,
    id: SessionId,
    restart: IceRestart,
) -> Result<(), ApiError> {
    match state.directory.restart_ice(id, restart.local.clone(), restart.remote.clone()) {
        Ok(Some(owner)) => {
            state.notifier.ice_restart(owner, id, restart.local, restart.remote).await;
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(DirectoryError::NotFound) => Err(ApiError::new(
            StatusCode::GONE,
            "session_error",
            "the session ended while negotiating",
        )),
        Err(e) => Err(internal(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn description(candidates: &[&str]) -> SessionDescription {
        let lines: String = candidates.iter().map(|c| format!("a=candidate:{c}\r\n")).collect();
        SessionDescription::parse(&format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=ice-lite\r\n\
             m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n\
             a=rtpmap:111 opus/48000/2\r\n{lines}"
        ))
        .unwrap()
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn controlling_pairs_keep_reachable_udp_host_candidates_by_priority() {
        let remote = description(&[
            "1 1 udp 2122317823 127.0.0.1 4000 typ host",
            "2 1 udp 2130706431 ::1 4001 typ host",
            "3 1 tcp 2130706431 127.0.0.1 4002 typ host tcptype passive",
            "4 1 udp 1686052607 127.0.0.1 4003 typ srflx raddr 127.0.0.1 rport 4000",
            "5 1 udp 2122317823 abcd.local 4004 typ host",
            "6 2 udp 2122317822 127.0.0.1 4005 typ host",
            "7 1 udp 2122317823 127.0.0.1 0 typ host",
            "8 1 udp 2122317823 0.0.0.0 4006 typ host",
            "9 1 udp 2122317823 192.0.2.7 4007 typ host",
            "1 1 udp 2122317823 127.0.0.1 4000 typ host",
        ]);
        let both = [addr("127.0.0.1:3000"), addr("[::1]:3001")];
        let pairs = controlling_pairs(&both, &remote);
        let expected = [
            ice::CandidatePair { local: both[1], remote: addr("[::1]:4001") },
            ice::CandidatePair { local: both[0], remote: addr("127.0.0.1:4000") },
        ];
        assert_eq!(pairs, expected);
        // No IPv6 socket: the IPv6 candidate is left out.
        assert_eq!(controlling_pairs(&both[..1], &remote), expected[1..]);
        // A socket on a routable address may reach the routable candidate.
        let public = [addr("198.51.100.1:3000")];
        let pairs = controlling_pairs(&public, &remote);
        assert!(pairs.iter().any(|p| p.remote == addr("192.0.2.7:4007")), "{pairs:?}");
        assert!(controlling_pairs(&both, &description(&[])).is_empty());
    }
}
