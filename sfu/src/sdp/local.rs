//! The SFU's side of a negotiation: its transport parameters (ICE-lite credentials, DTLS
//! fingerprint, host candidates) and the streams it sends; plus the pieces the offer and
//! answer writers share.

use std::net::SocketAddr;

use super::attribute::{Attribute, Fingerprint, Group, Msid, Setup, SsrcAttribute, SsrcGroup};
use super::candidate::{candidate_priority, Candidate, CandidateType};
use super::capabilities::Capabilities;
use super::media::{MediaDescription, MediaKind};
use super::session::{Connection, SessionDescription};

/// The SFU's parameters for one session (one PeerConnection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalParameters {
    /// `o=` session id, the same for every description of the session (RFC 3264 §5).
    pub session_id: u64,
    /// `o=` version; the caller increments it for each new description.
    pub session_version: u64,
    /// Our ICE username fragment.
    pub ice_ufrag: String,
    /// Our ICE password.
    pub ice_pwd: String,
    /// Fingerprint of our DTLS certificate.
    pub fingerprint: Fingerprint,
    /// Host candidate addresses (UDP), IPv4 and IPv6, in the order to advertise.
    pub candidates: Vec<SocketAddr>,
    /// What we negotiate.
    pub capabilities: Capabilities,
    /// Our DTLS role once a DTLS association exists (`Active` or `Passive`): an answer to
    /// an `actpass` re-offer keeps it (RFC 8842). `None` before the first handshake.
    pub dtls_role: Option<Setup>,
    /// A third-party session (its peer is ICE-lite): we run full ICE, so our descriptions
    /// carry no `a=ice-lite`, and a first answer to `actpass` takes the DTLS client role
    /// (`a=setup:active`), as a full agent toward a server does.
    pub third_party: bool,
}

impl LocalParameters {
    /// Parameters with the default capabilities and version 1.
    pub fn new(
        session_id: u64,
        ice_ufrag: impl Into<String>,
        ice_pwd: impl Into<String>,
        fingerprint: Fingerprint,
        candidates: Vec<SocketAddr>,
    ) -> LocalParameters {
        LocalParameters {
            session_id,
            session_version: 1,
            ice_ufrag: ice_ufrag.into(),
            ice_pwd: ice_pwd.into(),
            fingerprint,
            candidates,
            capabilities: Capabilities::default(),
            dtls_role: None,
            third_party: false,
        }
    }

    /// Our host candidates, component 1 (everything is muxed on one port).
    ///
    /// Priority follows RFC 8445 §5.1.2.1 with host type preference 126. The local
    /// preference puts IPv6 above IPv4 (RFC 8421 §4) and keeps every candidate's priority
    /// distinct: 65535 for the first IPv6 address, 32767 for the first IPv4 one, one less
    /// for each further address of the same family. Each address has its own foundation
    /// (RFC 8445 §5.1.1.3: different base addresses).
    pub fn host_candidates(&self) -> Vec<Candidate> {
        let (mut v4, mut v6) = (0u16, 0u16);
        self.candidates
            .iter()
            .enumerate()
            .map(|(i, address)| {
                let local_preference = if address.is_ipv6() {
                    v6 = v6.saturating_add(1);
                    u16::MAX.saturating_sub(v6 - 1)
                } else {
                    v4 = v4.saturating_add(1);
                    0x7fffu16.saturating_sub(v4 - 1)
                };
                let priority = candidate_priority(&CandidateType::Host, local_preference, 1);
                Candidate::host((i + 1).to_string(), 1, *address, priority)
            })
            .collect()
    }
}

/// A stream the SFU sends on an m-section (a subscriber's copy of a published track).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendStream {
    /// SSRC of the media.
    pub ssrc: u32,
    /// SSRC of its RTX stream, written only when RTX is negotiated.
    pub rtx_ssrc: Option<u32>,
    /// RTCP CNAME.
    pub cname: String,
    /// Stream id and track id the receiver sees.
    pub msid: Msid,
}

impl SendStream {
    /// `a=ssrc-group:FID` (when `with_rtx`) and `a=ssrc` cname/msid lines (RFC 5576 §4,
    /// RFC 5576 §4.2), in the order Chrome writes them.
    pub(crate) fn ssrc_attributes(&self, with_rtx: bool) -> Vec<Attribute> {
        let rtx = self.rtx_ssrc.filter(|_| with_rtx);
        let mut out = Vec::new();
        if let Some(rtx) = rtx {
            out.push(Attribute::SsrcGroup(SsrcGroup {
                semantics: "FID".to_owned(),
                ssrcs: vec![self.ssrc, rtx],
            }));
        }
        for ssrc in std::iter::once(self.ssrc).chain(rtx) {
            out.push(Attribute::Ssrc(SsrcAttribute {
                ssrc,
                attribute: "cname".to_owned(),
                value: Some(self.cname.clone()),
            }));
            out.push(Attribute::Ssrc(SsrcAttribute {
                ssrc,
                attribute: "msid".to_owned(),
                value: Some(self.msid.to_string()),
            }));
        }
        out
    }
}

/// ICE credentials, fingerprint and DTLS role: the TRANSPORT attributes every bundled
/// m-section repeats (RFC 8859 categories, JSEP RFC 8829 §5.2.1 / §5.3.1).
pub(crate) fn transport_attributes(local: &LocalParameters, setup: Setup) -> Vec<Attribute> {
    vec![
        Attribute::IceUfrag(local.ice_ufrag.clone()),
        Attribute::IcePwd(local.ice_pwd.clone()),
        Attribute::Fingerprint(local.fingerprint.clone()),
        Attribute::Setup(setup),
    ]
}

/// The m= port and `c=` line: the default candidate (RFC 8839 §4.2.1). We have only host
/// candidates; the first IPv4 one is the default (as libwebrtc does, so parsers that only
/// know `IN IP4` still read the line), else the first one, else JSEP's placeholder `9` /
/// `0.0.0.0` when there is no candidate.
pub(crate) fn default_destination(local: &LocalParameters) -> (u16, Connection) {
    match local.candidates.iter().find(|a| a.is_ipv4()).or(local.candidates.first()) {
        Some(address) => (address.port(), Connection::new(address.ip())),
        None => (9, Connection::new(std::net::Ipv4Addr::UNSPECIFIED.into())),
    }
}

/// A section that says "not used": port 0, the protocol, one format, `c=` and the mid
/// (RFC 3264 §6, RFC 8829 §5.3.1).
pub(crate) fn rejected_section(
    kind: &MediaKind,
    protocol: &str,
    format: Option<&str>,
    mid: Option<&str>,
) -> MediaDescription {
    let format = format.unwrap_or(if matches!(kind, MediaKind::Application) {
        "webrtc-datachannel"
    } else {
        "0"
    });
    let mut m = MediaDescription::new(kind.clone(), 0, protocol, vec![format.to_owned()]);
    m.connections.push(Connection::new(std::net::Ipv4Addr::UNSPECIFIED.into()));
    if let Some(mid) = mid {
        m.attributes.push(Attribute::Mid(mid.to_owned()));
    }
    m
}

/// Session-level lines and candidates common to offers and answers: `a=ice-lite` (not for a
/// third-party session, which runs full ICE), the
/// BUNDLE group of every accepted mid (none when nothing is accepted), and our candidates
/// plus `a=end-of-candidates` in the BUNDLE-tagged (first accepted) m-section only, since
/// the others share its transport (RFC 8843 §7, RFC 8840).
pub(crate) fn finish(
    description: &mut SessionDescription,
    local: &LocalParameters,
    bundle: bool,
    allow_mixed: bool,
) {
    if !local.third_party {
        description.attributes.push(Attribute::IceLite);
    }
    let mids: Vec<String> = description
        .media
        .iter()
        .filter(|m| !m.is_rejected())
        .filter_map(|m| m.mid().map(str::to_owned))
        .collect();
    if bundle && !mids.is_empty() {
        description
            .attributes
            .push(Attribute::Group(Group { semantics: "BUNDLE".to_owned(), mids }));
    }
    if allow_mixed {
        description.attributes.push(Attribute::ExtmapAllowMixed);
    }
    if let Some(tagged) = description.media.iter_mut().find(|m| !m.is_rejected()) {
        tagged.attributes.extend(local.host_candidates().into_iter().map(Attribute::Candidate));
        tagged.attributes.push(Attribute::EndOfCandidates);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_candidates_prefer_ipv6_and_stay_distinct() {
        let local = LocalParameters::new(
            1,
            "ufrag",
            "pwd",
            Fingerprint::sha256([0; 32]),
            vec![
                "192.0.2.1:3478".parse().unwrap(),
                "[2001:db8::1]:3478".parse().unwrap(),
                "198.51.100.1:3478".parse().unwrap(),
            ],
        );
        let c = local.host_candidates();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].to_string(), "candidate:1 1 udp 2122317823 192.0.2.1 3478 typ host");
        assert_eq!(c[1].to_string(), "candidate:2 1 udp 2130706431 2001:db8::1 3478 typ host");
        assert_eq!(c[2].priority, 2_122_317_567);
        assert!(c[1].priority > c[0].priority && c[0].priority > c[2].priority);
    }

    #[test]
    fn ssrc_lines_with_and_without_rtx() {
        let stream =
            SendStream { ssrc: 1, rtx_ssrc: Some(2), cname: "c".into(), msid: Msid::new("s", "t") };
        let lines: Vec<String> =
            stream.ssrc_attributes(true).iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "ssrc-group:FID 1 2",
                "ssrc:1 cname:c",
                "ssrc:1 msid:s t",
                "ssrc:2 cname:c",
                "ssrc:2 msid:s t"
            ]
        );
        assert_eq!(stream.ssrc_attributes(false).len(), 2);
    }
}
