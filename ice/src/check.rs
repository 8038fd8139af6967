//! Connectivity checks on the wire (RFC 8445 §7.2.2, §7.3): reading a Binding request's
//! USERNAME, authenticating it, and writing checks and their responses. Shared by the lite
//! agent and the controlling side.

use std::net::SocketAddr;

use stun::attributes::{
    ErrorCode, IceControlled, IceControlling, Priority, UseCandidate, Username, XorMappedAddress,
};
use stun::{credentials, AttributeType, Message, MessageType, MessageWriter, TransactionId};

use crate::{Credentials, Error};

/// Most UNKNOWN-ATTRIBUTES entries put in one 420 response. A request repeats an unknown
/// type as often as it likes; the answer need not.
const MAX_UNKNOWN_REPORTED: usize = 16;

/// The local ufrag of a Binding request: the part of USERNAME before the first `:`
/// (RFC 8445 §7.2.2: `USERNAME = <receiver's ufrag>:<sender's ufrag>`).
///
/// Cheap and unauthenticated: the UDP driver uses it to find which session a datagram from a
/// new 5-tuple belongs to, before any per-session state exists. Then [`verify_check`] (or the
/// session's agent) authenticates the check before the 5-tuple is bound to the session.
/// Returns `None` for anything that is not a Binding request with such a USERNAME.
pub fn local_ufrag(datagram: &[u8]) -> Option<&str> {
    let message = Message::parse(datagram).ok()?;
    if message.message_type() != MessageType::BINDING_REQUEST {
        return None;
    }
    let Username(username) = message.get::<Username<'_>>().ok()??;
    split_username(username).map(|(local, _)| local)
}

/// Authenticates a connectivity check with the local credentials, statelessly: a Binding
/// request, FINGERPRINT valid if present, USERNAME `<local ufrag>:<remote ufrag>`, and
/// MESSAGE-INTEGRITY (and MESSAGE-INTEGRITY-SHA256 if present) keyed with the local password
/// (RFC 8445 §7.3, RFC 8489 §9.1.3).
///
/// The UDP driver calls it before binding a new 5-tuple to a session, so an unauthenticated
/// datagram never creates state. It does not judge the rest of the request (PRIORITY, role
/// attributes): the agent does that when it answers.
pub fn verify_check(datagram: &[u8], local: &Credentials) -> Result<(), Error> {
    let message = Message::parse(datagram)?;
    if message.message_type() != MessageType::BINDING_REQUEST {
        return Err(Error::NotACheck("not a Binding request"));
    }
    if message.has_fingerprint() {
        message.verify_fingerprint()?;
    }
    let Username(username) =
        message.get::<Username<'_>>()?.ok_or(Error::NotACheck("no USERNAME"))?;
    let Some((ufrag, _)) = split_username(username) else {
        return Err(Error::Unauthenticated("USERNAME is not <ufrag>:<ufrag>"));
    };
    if ufrag != local.ufrag() {
        return Err(Error::Unauthenticated("USERNAME names another ufrag"));
    }
    authenticate(&message, local.pwd())
}

/// Checks MESSAGE-INTEGRITY, and MESSAGE-INTEGRITY-SHA256 when present, with a short-term
/// password.
pub(crate) fn authenticate(message: &Message<'_>, pwd: &str) -> Result<(), Error> {
    if !message.has_message_integrity() {
        return Err(Error::Unauthenticated("no MESSAGE-INTEGRITY"));
    }
    let key = credentials::short_term_key(pwd);
    message
        .verify_message_integrity(key)
        .map_err(|_| Error::Unauthenticated("MESSAGE-INTEGRITY does not match"))?;
    if message.has_message_integrity_sha256() {
        message
            .verify_message_integrity_sha256(key)
            .map_err(|_| Error::Unauthenticated("MESSAGE-INTEGRITY-SHA256 does not match"))?;
    }
    Ok(())
}

/// Splits `local:remote`; both halves must be non-empty.
pub(crate) fn split_username(username: &str) -> Option<(&str, &str)> {
    username.split_once(':').filter(|(local, remote)| !local.is_empty() && !remote.is_empty())
}

/// The comprehension-required attributes a check may carry that this crate understands
/// (RFC 8445 §7.2.2, RFC 8489 §14). Anything else below 0x8000 earns a 420.
pub(crate) fn is_understood(t: AttributeType) -> bool {
    matches!(
        t,
        AttributeType::USERNAME
            | AttributeType::MESSAGE_INTEGRITY
            | AttributeType::MESSAGE_INTEGRITY_SHA256
            | AttributeType::FINGERPRINT
            | AttributeType::PRIORITY
            | AttributeType::USE_CANDIDATE
            | AttributeType::ICE_CONTROLLED
            | AttributeType::ICE_CONTROLLING
    )
}

/// Writes a Binding success response (RFC 8445 §7.3.1.2, §7.3 and RFC 8489 §9.1.3):
/// XOR-MAPPED-ADDRESS of the request's source, MESSAGE-INTEGRITY keyed with the local
/// password, FINGERPRINT, and the request's transaction ID.
pub(crate) fn write_success(
    out: &mut Vec<u8>,
    transaction_id: TransactionId,
    source: SocketAddr,
    local_pwd: &str,
) -> Result<(), stun::Error> {
    let mut w = MessageWriter::new(out, MessageType::BINDING_SUCCESS, transaction_id);
    w.add(&XorMappedAddress::from(source))?;
    w.add_message_integrity(credentials::short_term_key(local_pwd))?;
    w.add_fingerprint()
}

/// Writes a Binding error response. `authenticated` is the password of a request that passed
/// authentication: RFC 8489 §9.1.3 then protects the response with it. 400 and 401 for
/// requests that did not authenticate carry no MESSAGE-INTEGRITY (RFC 8489 §9.1.3). `unknown`
/// fills UNKNOWN-ATTRIBUTES for a 420 (RFC 8489 §14.9).
pub(crate) fn write_error(
    out: &mut Vec<u8>,
    transaction_id: TransactionId,
    code: ErrorCode<'_>,
    unknown: impl IntoIterator<Item = AttributeType>,
    authenticated: Option<&str>,
) -> Result<(), stun::Error> {
    let mut w = MessageWriter::new(out, MessageType::BINDING_ERROR, transaction_id);
    w.add(&code)?;
    if code.code == ErrorCode::UNKNOWN_ATTRIBUTE.code {
        let mut reported = [AttributeType(0); MAX_UNKNOWN_REPORTED];
        let mut count = 0;
        for t in unknown {
            if count == MAX_UNKNOWN_REPORTED {
                break;
            }
            if !reported[..count].contains(&t) {
                reported[count] = t;
                count += 1;
            }
        }
        w.add_unknown_attributes(reported[..count].iter().copied())?;
    }
    if let Some(pwd) = authenticated {
        w.add_message_integrity(credentials::short_term_key(pwd))?;
    }
    w.add_fingerprint()
}

/// What goes into a connectivity check sent by the controlling side (RFC 8445 §7.2.2).
#[derive(Clone, Copy, Debug)]
pub(crate) struct OutgoingCheck<'a> {
    /// The checked agent's credentials (its ufrag first in USERNAME, its password keys
    /// MESSAGE-INTEGRITY).
    pub(crate) remote: &'a Credentials,
    /// Our credentials (our ufrag second in USERNAME).
    pub(crate) local: &'a Credentials,
    /// PRIORITY: the priority a peer-reflexive candidate learned from this check would have.
    pub(crate) priority: u32,
    /// The tie-breaker of ICE-CONTROLLING (or of ICE-CONTROLLED when `controlling` is false).
    pub(crate) tie_breaker: u64,
    /// Our role: ICE-CONTROLLING when true, ICE-CONTROLLED after a role conflict made us
    /// the controlled agent (RFC 8445 §7.2.5.1).
    pub(crate) controlling: bool,
    /// Whether to nominate the pair (USE-CANDIDATE, RFC 8445 §8.1.1).
    pub(crate) use_candidate: bool,
}

/// Writes a Binding request for a connectivity check: USERNAME `<their ufrag>:<our ufrag>`,
/// PRIORITY, ICE-CONTROLLING (ICE-CONTROLLED in the controlled role), USE-CANDIDATE when
/// nominating,
/// MESSAGE-INTEGRITY with their password, FINGERPRINT (RFC 8445 §7.2.2).
pub(crate) fn write_check(
    out: &mut Vec<u8>,
    transaction_id: TransactionId,
    check: &OutgoingCheck<'_>,
) -> Result<(), stun::Error> {
    let mut w = MessageWriter::new(out, MessageType::BINDING_REQUEST, transaction_id);
    // The writer takes the USERNAME as one string; this is not on a media hot path.
    let username = format!("{}:{}", check.remote.ufrag(), check.local.ufrag());
    w.add(&Username(&username))?;
    w.add(&Priority(check.priority))?;
    if check.controlling {
        w.add(&IceControlling(check.tie_breaker))?;
    } else {
        w.add(&IceControlled(check.tie_breaker))?;
    }
    if check.use_candidate {
        w.add(&UseCandidate)?;
    }
    w.add_message_integrity(credentials::short_term_key(check.remote.pwd()))?;
    w.add_fingerprint()
}

#[cfg(test)]
mod tests {
    use super::*;
    use stun::attributes::UnknownAttributes;

    const TID: TransactionId = TransactionId([7; 12]);

    fn creds(ufrag: &str) -> Credentials {
        Credentials::new(ufrag, "VOkJxbRl1RmTxUk/WvJxBt").unwrap()
    }

    fn check(remote: &Credentials, local: &Credentials) -> Vec<u8> {
        let mut out = Vec::new();
        let c = OutgoingCheck {
            remote,
            local,
            priority: 1,
            tie_breaker: 2,
            controlling: true,
            use_candidate: true,
        };
        write_check(&mut out, TID, &c).unwrap();
        out
    }

    #[test]
    fn written_check_carries_what_rfc8445_asks() {
        let sfu = creds("sfuU");
        let browser = creds("brwS");
        let out = check(&sfu, &browser);
        let m = Message::parse(&out).unwrap();
        assert_eq!(m.message_type(), MessageType::BINDING_REQUEST);
        assert_eq!(m.get::<Username<'_>>().unwrap(), Some(Username("sfuU:brwS")));
        assert_eq!(m.get::<Priority>().unwrap(), Some(Priority(1)));
        assert_eq!(m.get::<IceControlling>().unwrap(), Some(IceControlling(2)));
        assert_eq!(m.get::<UseCandidate>().unwrap(), Some(UseCandidate));
        m.verify_message_integrity(sfu.pwd().as_bytes()).unwrap();
        m.verify_fingerprint().unwrap();
        assert_eq!(local_ufrag(&out), Some("sfuU"));
        verify_check(&out, &sfu).unwrap();
    }

    #[test]
    fn verify_check_rejects() {
        let sfu = creds("sfuU");
        let browser = creds("brwS");
        let out = check(&sfu, &browser);
        // Another session's ufrag.
        assert!(matches!(verify_check(&out, &creds("othr")), Err(Error::Unauthenticated(_))));
        // Right ufrag, wrong password.
        let wrong = Credentials::new("sfuU", "xxxxxxxxxxxxxxxxxxxxxxxx").unwrap();
        assert!(matches!(verify_check(&out, &wrong), Err(Error::Unauthenticated(_))));
        // Bad FINGERPRINT.
        let mut bad = out.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(matches!(verify_check(&bad, &sfu), Err(Error::Stun(_))));
        // A response is not a check.
        let mut resp = Vec::new();
        write_success(&mut resp, TID, "192.0.2.1:1".parse().unwrap(), sfu.pwd()).unwrap();
        assert!(matches!(verify_check(&resp, &sfu), Err(Error::NotACheck(_))));
        assert_eq!(local_ufrag(&resp), None);
        assert!(verify_check(&[0u8; 3], &sfu).is_err());
        assert_eq!(local_ufrag(&[]), None);
    }

    #[test]
    fn username_split() {
        assert_eq!(split_username("a:b"), Some(("a", "b")));
        assert_eq!(split_username("a:b:c"), Some(("a", "b:c")));
        assert_eq!(split_username(":b"), None);
        assert_eq!(split_username("a:"), None);
        assert_eq!(split_username("ab"), None);
    }

    #[test]
    fn error_response_layout() {
        let mut out = Vec::new();
        let unknown = [AttributeType(0x7777), AttributeType(0x7777), AttributeType(0x0030)];
        write_error(&mut out, TID, ErrorCode::UNKNOWN_ATTRIBUTE, unknown, Some("pw")).unwrap();
        let m = Message::parse(&out).unwrap();
        assert_eq!(m.message_type(), MessageType::BINDING_ERROR);
        assert_eq!(m.transaction_id(), TID);
        assert_eq!(m.get::<ErrorCode<'_>>().unwrap().unwrap().code, 420);
        let listed = m.get::<UnknownAttributes<'_>>().unwrap().unwrap();
        assert_eq!(
            listed.iter().collect::<Vec<_>>(),
            [AttributeType(0x7777), AttributeType(0x0030)]
        );
        m.verify_message_integrity(b"pw").unwrap();
        m.verify_fingerprint().unwrap();

        write_error(&mut out, TID, ErrorCode::BAD_REQUEST, [], None).unwrap();
        let m = Message::parse(&out).unwrap();
        assert!(!m.has_message_integrity());
        assert!(!m.contains(AttributeType::UNKNOWN_ATTRIBUTES));
        m.verify_fingerprint().unwrap();

        // A flood of distinct unknown types is capped.
        let many = (0..100u16).map(|i| AttributeType(0x4000 + i));
        write_error(&mut out, TID, ErrorCode::UNKNOWN_ATTRIBUTE, many, None).unwrap();
        let m = Message::parse(&out).unwrap();
        assert_eq!(m.get::<UnknownAttributes<'_>>().unwrap().unwrap().len(), MAX_UNKNOWN_REPORTED);
    }
}
