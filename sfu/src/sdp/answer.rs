//! The SFU's answer to a client's offer (JSEP, RFC 8829 §5.3): ICE-lite, DTLS passive
//! (active when the offer is passive), one BUNDLE transport, codecs intersected with the
//! offer's payload type numbers kept, header extension ids echoed.

use std::collections::BTreeMap;

use super::attribute::{fmtp_params, Attribute, Direction, Extmap, Fmtp, RtcpFb, Rtpmap, Setup};
use super::capabilities::CodecCapability;
use super::h264::H264ProfileLevelId;
use super::local::{
    default_destination, finish, rejected_section, transport_attributes, LocalParameters,
    SendStream,
};
use super::media::{Codec, MediaDescription, MediaKind};
use super::rid::{Rid, RidDirection};
use super::session::{Connection, SessionDescription};
use super::simulcast::Simulcast;
use super::NegotiationError;

/// What the SFU wants to do with one offered m-section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaAnswer {
    /// Accept the section. The answered direction is `direction` narrowed by the offer's
    /// (RFC 3264 §6.1); `send` is the stream the SFU sends when the result includes sending.
    /// For a data channel section the direction is not used.
    Accept {
        /// What the SFU would like (e.g. `RecvOnly` for a pushed track).
        direction: Direction,
        /// SSRCs, cname and msid of what the SFU sends here.
        send: Option<SendStream>,
    },
    /// Reject the section (port 0).
    Reject,
}

impl MediaAnswer {
    /// Receive what the client sends (a push).
    pub fn receive() -> MediaAnswer {
        MediaAnswer::Accept { direction: Direction::RecvOnly, send: None }
    }

    /// Send a stream to the client (a pull answered to the client's offer).
    pub fn send(stream: SendStream) -> MediaAnswer {
        MediaAnswer::Accept { direction: Direction::SendOnly, send: Some(stream) }
    }

    /// Both receive and send.
    pub fn send_receive(stream: SendStream) -> MediaAnswer {
        MediaAnswer::Accept { direction: Direction::SendRecv, send: Some(stream) }
    }
}

/// Per-mid decisions for [`create_answer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerOptions {
    /// Decisions by mid.
    pub media: BTreeMap<String, MediaAnswer>,
    /// Decision for mids not in `media`: [`MediaAnswer::receive`] by default.
    pub default: MediaAnswer,
    /// Codecs a mid may use, by mid, in preference order: only offered codecs that match one
    /// of these are accepted there (a subscriber's section is limited to what its publisher
    /// sends). Mids not listed use every capability of their kind.
    pub codecs: BTreeMap<String, Vec<CodecCapability>>,
}

impl Default for AnswerOptions {
    fn default() -> Self {
        AnswerOptions {
            media: BTreeMap::new(),
            default: MediaAnswer::receive(),
            codecs: BTreeMap::new(),
        }
    }
}

impl AnswerOptions {
    /// Sets the decision for one mid.
    pub fn with(mut self, mid: impl Into<String>, answer: MediaAnswer) -> Self {
        self.media.insert(mid.into(), answer);
        self
    }

    /// Limits the codecs of one mid (see [`AnswerOptions::codecs`]).
    pub fn with_codecs(mut self, mid: impl Into<String>, codecs: Vec<CodecCapability>) -> Self {
        self.codecs.insert(mid.into(), codecs);
        self
    }
}

/// Writes the answer to `offer`.
///
/// - Every offered m-section is answered, in order, with its mid (RFC 3264 §6).
/// - Audio/video sections are accepted when their protocol is `.../RTP/SAVPF`, they offer
///   `a=rtcp-mux` (one port carries everything) and at least one codec matches; data channel
///   sections when they are `UDP/DTLS/SCTP webrtc-datachannel`. Only one data channel
///   section is accepted. Everything else is rejected with port 0.
/// - With a BUNDLE group in the offer only its mids can be accepted (RFC 8843 §7);
///   without one, only the first usable section (the SFU has a single transport).
/// - Codecs are listed in the SFU's preference order with the offer's payload type
///   numbers, each followed by its RTX; feedback is the intersection; header extensions the
///   SFU supports are echoed with the offer's ids.
pub fn create_answer(
    offer: &SessionDescription,
    local: &LocalParameters,
    options: &AnswerOptions,
) -> Result<SessionDescription, NegotiationError> {
    let mut mids: Vec<&str> = Vec::with_capacity(offer.media.len());
    for (index, m) in offer.media.iter().enumerate() {
        let mid = m.mid().ok_or(NegotiationError::MissingMid { index })?;
        if mids.contains(&mid) {
            return Err(NegotiationError::DuplicateMid { index });
        }
        mids.push(mid);
    }

    let bundle = offer.bundle_group();
    let mut answer = SessionDescription::new(local.session_id, local.session_version);
    let destination = default_destination(local);
    let mut accepted_any = false;
    let mut data_channel_accepted = false;

    for (index, (m, mid)) in offer.media.iter().zip(mids).enumerate() {
        let wanted = options.media.get(mid).unwrap_or(&options.default);
        let bundled = match bundle {
            Some(group) => group.mids.iter().any(|g| g == mid),
            None => !accepted_any,
        };
        let section = match wanted {
            MediaAnswer::Accept { direction, send } if bundled && !m.is_rejected() => {
                let context = SectionContext {
                    offer,
                    media: m,
                    index,
                    mid,
                    local,
                    destination: &destination,
                };
                match m.kind {
                    MediaKind::Audio | MediaKind::Video => {
                        let codecs = options.codecs.get(mid).map(Vec::as_slice);
                        context.rtp(*direction, send.as_ref(), codecs)?
                    }
                    MediaKind::Application if !data_channel_accepted => {
                        let section = context.data_channel()?;
                        data_channel_accepted = section.is_some();
                        section
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        match section {
            Some(section) => {
                accepted_any = true;
                answer.media.push(section);
            }
            None => answer.media.push(rejected_section(
                &m.kind,
                &m.protocol,
                m.formats.first().map(String::as_str),
                Some(mid),
            )),
        }
    }

    finish(&mut answer, local, bundle.is_some(), offer.extmap_allow_mixed());
    Ok(answer)
}

/// What answering one m-section needs.
struct SectionContext<'a> {
    offer: &'a SessionDescription,
    media: &'a MediaDescription,
    index: usize,
    mid: &'a str,
    local: &'a LocalParameters,
    destination: &'a (u16, Connection),
}

impl SectionContext<'_> {
    /// Checks the offer's transport for this section and picks our DTLS role.
    fn transport(&self) -> Result<Vec<Attribute>, NegotiationError> {
        let index = self.index;
        if self.offer.ice_credentials(self.media).is_none() {
            return Err(NegotiationError::MissingIceCredentials { index });
        }
        if self.offer.fingerprints(self.media).is_empty() {
            return Err(NegotiationError::MissingFingerprint { index });
        }
        // RFC 5763 §5: the answerer is active or passive, never actpass. RFC 4145 §4: no
        // a=setup means the offerer is active.
        let setup = match self.offer.setup(self.media) {
            Some(Setup::Holdconn) => return Err(NegotiationError::UnsupportedSetup { index }),
            Some(Setup::Passive) => Setup::Active,
            Some(Setup::Active) | None => Setup::Passive,
            // Keep an established role (a new one would need a new DTLS association, RFC 8842);
            // first time, be the DTLS server, or the client toward a third party's server.
            Some(Setup::Actpass) => match self.local.dtls_role {
                Some(Setup::Active) => Setup::Active,
                Some(_) => Setup::Passive,
                None if self.local.third_party => Setup::Active,
                None => Setup::Passive,
            },
        };
        Ok(transport_attributes(self.local, setup))
    }

    fn skeleton(&self, formats: Vec<String>) -> MediaDescription {
        let (port, connection) = self.destination;
        let mut section =
            MediaDescription::new(self.media.kind.clone(), *port, &self.media.protocol, formats);
        section.connections.push(connection.clone());
        section
    }

    fn data_channel(&self) -> Result<Option<MediaDescription>, NegotiationError> {
        // RFC 8841 §4: "UDP/DTLS/SCTP" with the "webrtc-datachannel" format.
        if self.media.protocol != "UDP/DTLS/SCTP"
            || !self.media.formats.iter().any(|f| f == "webrtc-datachannel")
        {
            return Ok(None);
        }
        let mut section = self.skeleton(vec!["webrtc-datachannel".to_owned()]);
        section.attributes = self.transport()?;
        section.attributes.push(Attribute::Mid(self.mid.to_owned()));
        let caps = &self.local.capabilities;
        section.attributes.push(Attribute::SctpPort(caps.sctp_port));
        section.attributes.push(Attribute::MaxMessageSize(caps.max_message_size));
        Ok(Some(section))
    }

    fn rtp(
        &self,
        wanted: Direction,
        send: Option<&SendStream>,
        only: Option<&[CodecCapability]>,
    ) -> Result<Option<MediaDescription>, NegotiationError> {
        let m = self.media;
        // JSEP uses UDP/TLS/RTP/SAVPF; older stacks write RTP/SAVPF or TCP/TLS/RTP/SAVPF.
        // RTCP must be muxed: the SFU has one port (RFC 5761 §5.1.1; BUNDLE needs it, RFC 8843 §9).
        if !m.protocol.ends_with("RTP/SAVPF") || !m.rtcp_mux() {
            return Ok(None);
        }
        let caps = &self.local.capabilities;
        let offered = m.codecs();
        let mut chosen: Vec<(&Codec, &CodecCapability)> = Vec::new();
        for cap in only.unwrap_or(caps.codecs(&m.kind)) {
            for codec in offered.iter().filter(|c| !c.is_rtx() && cap.matches(c)) {
                if !chosen.iter().any(|(c, _)| c.payload_type == codec.payload_type) {
                    chosen.push((codec, cap));
                }
            }
        }
        if chosen.is_empty() {
            return Ok(None);
        }

        let direction = wanted.answer_to(self.offer.direction(m));
        let mut formats = Vec::new();
        let mut codec_attributes = Vec::new();
        let mut with_rtx = false;
        for (codec, cap) in &chosen {
            formats.push(codec.payload_type.to_string());
            codec_attributes.push(Attribute::Rtpmap(Rtpmap {
                payload_type: codec.payload_type,
                encoding_name: codec.name.clone(),
                clock_rate: codec.clock_rate,
                channels: codec.channels,
            }));
            for feedback in codec.feedback.iter().filter(|f| cap.feedback.contains(f)) {
                codec_attributes.push(Attribute::RtcpFb(RtcpFb {
                    payload_type: Some(codec.payload_type),
                    feedback: feedback.clone(),
                }));
            }
            let fmtp = answer_fmtp(&m.kind, codec, cap);
            if !fmtp.is_empty() {
                codec_attributes.push(Attribute::Fmtp(Fmtp {
                    payload_type: codec.payload_type,
                    parameters: fmtp,
                }));
            }
            let rtx = codec
                .rtx_payload_type
                .filter(|_| cap.rtx_payload_type.is_some())
                .and_then(|pt| offered.iter().find(|c| c.payload_type == pt));
            if let Some(rtx) = rtx {
                with_rtx = true;
                formats.push(rtx.payload_type.to_string());
                codec_attributes.push(Attribute::Rtpmap(Rtpmap {
                    payload_type: rtx.payload_type,
                    encoding_name: rtx.name.clone(),
                    clock_rate: rtx.clock_rate,
                    channels: None,
                }));
                codec_attributes.push(Attribute::Fmtp(Fmtp {
                    payload_type: rtx.payload_type,
                    parameters: rtx.fmtp.clone(),
                }));
            }
        }

        let mut section = self.skeleton(formats);
        let attributes = &mut section.attributes;
        attributes.extend(self.transport()?);
        attributes.push(Attribute::Mid(self.mid.to_owned()));
        if m.attributes.contains(&Attribute::ExtmapAllowMixed) && !self.offer.extmap_allow_mixed() {
            attributes.push(Attribute::ExtmapAllowMixed);
        }
        for extmap in self.offer.header_extensions(m) {
            // RFC 8285 §7: ids 4096-4351 only propose; the SFU echoes usable ids only.
            if extmap.id <= 255 && caps.supports_extension(&m.kind, &extmap.uri) {
                attributes.push(Attribute::Extmap(Extmap {
                    id: extmap.id,
                    // RFC 8285 §7: a sendonly extension is answered recvonly and back.
                    direction: extmap.direction.map(Direction::reverse),
                    uri: extmap.uri.clone(),
                    attributes: None,
                }));
            }
        }
        attributes.push(Attribute::Direction(direction));
        let send = send.filter(|_| direction.sends());
        if let Some(stream) = send {
            attributes.push(Attribute::Msid(stream.msid.clone()));
        }
        attributes.push(Attribute::RtcpMux);
        if m.rtcp_rsize() {
            attributes.push(Attribute::RtcpRsize);
        }
        attributes.extend(codec_attributes);
        if direction.receives() {
            attributes.extend(simulcast_answer(m, &section_payload_types(&chosen, &offered)));
        }
        if let Some(stream) = send {
            section.attributes.extend(stream.ssrc_attributes(with_rtx));
        }
        Ok(Some(section))
    }
}

/// Payload types accepted in a section, RTX included.
fn section_payload_types(chosen: &[(&Codec, &CodecCapability)], offered: &[Codec]) -> Vec<u8> {
    let mut pts = Vec::new();
    for (codec, _) in chosen {
        pts.push(codec.payload_type);
        if let Some(rtx) =
            codec.rtx_payload_type.filter(|pt| offered.iter().any(|c| c.payload_type == *pt))
        {
            pts.push(rtx);
        }
    }
    pts
}

/// Format parameters of an accepted codec:
/// - H.264: the offer's, with `profile-level-id` set per RFC 6184 §8.2.2;
/// - audio: the SFU's own when it has any (RFC 7587 §7: opus parameters state what the
///   receiver wants, e.g. in-band FEC);
/// - other video: the offer's (profile-id and the like must stay as offered).
fn answer_fmtp(kind: &MediaKind, codec: &Codec, cap: &CodecCapability) -> String {
    if codec.name.eq_ignore_ascii_case("H264") {
        let remote = codec.fmtp_param("profile-level-id").and_then(H264ProfileLevelId::parse);
        let local = H264ProfileLevelId::from_fmtp(cap.fmtp_param("profile-level-id"));
        let (Some(remote), Some(local)) = (remote, local) else {
            return codec.fmtp.clone();
        };
        let asymmetry = codec.fmtp_param("level-asymmetry-allowed") == Some("1")
            && cap.fmtp_param("level-asymmetry-allowed") == Some("1");
        let answer = H264ProfileLevelId::answer(local, remote, asymmetry).to_string();
        return fmtp_params(&codec.fmtp)
            .map(|(key, value)| match value {
                _ if key.eq_ignore_ascii_case("profile-level-id") => format!("{key}={answer}"),
                Some(v) => format!("{key}={v}"),
                None => key.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(";");
    }
    if matches!(kind, MediaKind::Audio) && !cap.fmtp.is_empty() {
        return cap.fmtp.clone();
    }
    codec.fmtp.clone()
}

/// RFC 8853 §5.3: the answerer mirrors the simulcast streams it accepts: offered `send` rids
/// become `recv` rids, restricted to the accepted payload types; rids left with none of them
/// are dropped. The SFU does not send simulcast, so an offered `recv` list is not answered.
fn simulcast_answer(m: &MediaDescription, accepted: &[u8]) -> Vec<Attribute> {
    let Some(simulcast) = m.simulcast() else { return Vec::new() };
    let mut rids: Vec<Rid> = Vec::new();
    for rid in m.rids().filter(|r| r.direction == RidDirection::Send) {
        if !simulcast.send_rids().any(|s| s.id == rid.id) || rids.iter().any(|r| r.id == rid.id) {
            continue;
        }
        let payload_types: Vec<u8> =
            rid.payload_types.iter().copied().filter(|pt| accepted.contains(pt)).collect();
        if !rid.payload_types.is_empty() && payload_types.is_empty() {
            continue;
        }
        rids.push(Rid {
            id: rid.id.clone(),
            direction: RidDirection::Recv,
            payload_types,
            restrictions: rid.restrictions.clone(),
        });
    }
    let recv: Vec<_> = simulcast
        .send
        .iter()
        .map(|stream| {
            stream
                .iter()
                .filter(|alt| rids.iter().any(|r| r.id == alt.id))
                .cloned()
                .collect::<Vec<_>>()
        })
        .filter(|stream| !stream.is_empty())
        .collect();
    if recv.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<Attribute> = rids.into_iter().map(Attribute::Rid).collect();
    out.push(Attribute::Simulcast(Simulcast { send: Vec::new(), recv }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::{Fingerprint, Msid};

    fn local() -> LocalParameters {
        LocalParameters::new(
            7,
            "sfuU",
            "sfupasswordsfupassword",
            Fingerprint::sha256([0xab; 32]),
            vec!["192.0.2.1:4000".parse().unwrap()],
        )
    }

    fn offer(body: &str) -> SessionDescription {
        let text = format!(
            "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n\
             a=fingerprint:sha-256 01:02\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdabcdabcdabcdabcdab\r\n{body}"
        );
        SessionDescription::parse(&text).unwrap()
    }

    #[test]
    fn h264_answer_keeps_the_offered_profile_and_states_our_level() {
        let cap = &crate::sdp::Capabilities::default().video_codecs[3];
        let codec = Codec {
            payload_type: 127,
            name: "H264".into(),
            clock_rate: 90000,
            channels: None,
            fmtp: "profile-level-id=42e034;level-asymmetry-allowed=1;packetization-mode=1".into(),
            feedback: vec![],
            rtx_payload_type: None,
        };
        assert!(cap.matches(&codec));
        assert_eq!(
            answer_fmtp(&MediaKind::Video, &codec, cap),
            "profile-level-id=42e01f;level-asymmetry-allowed=1;packetization-mode=1"
        );
        let symmetric =
            Codec { fmtp: "profile-level-id=42e00c;packetization-mode=1".into(), ..codec };
        assert_eq!(
            answer_fmtp(&MediaKind::Video, &symmetric, cap),
            "profile-level-id=42e00c;packetization-mode=1"
        );
    }

    #[test]
    fn setup_roles() {
        let mut o = offer("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=setup:passive\r\n");
        let answer = create_answer(&o, &local(), &AnswerOptions::default()).unwrap();
        assert_eq!(answer.media[0].setup(), Some(Setup::Active));
        o.media[0].attributes.retain(|a| !matches!(a, Attribute::Setup(_)));
        let answer = create_answer(&o, &local(), &AnswerOptions::default()).unwrap();
        assert_eq!(answer.media[0].setup(), Some(Setup::Passive));
        o.media[0].attributes.push(Attribute::Setup(Setup::Actpass));
        let mut established = local();
        established.dtls_role = Some(Setup::Active);
        let answer = create_answer(&o, &established, &AnswerOptions::default()).unwrap();
        assert_eq!(answer.media[0].setup(), Some(Setup::Active));
        // A third-party session answers actpass as DTLS client, keeps an established server
        // role, and writes no a=ice-lite.
        let third_party = LocalParameters { third_party: true, ..local() };
        let answer = create_answer(&o, &third_party, &AnswerOptions::default()).unwrap();
        assert_eq!(answer.media[0].setup(), Some(Setup::Active));
        assert!(!answer.is_ice_lite());
        assert!(create_answer(&o, &local(), &AnswerOptions::default()).unwrap().is_ice_lite());
        let server = LocalParameters { dtls_role: Some(Setup::Passive), ..third_party };
        let answer = create_answer(&o, &server, &AnswerOptions::default()).unwrap();
        assert_eq!(answer.media[0].setup(), Some(Setup::Passive));
        o.media[0].attributes.push(Attribute::Setup(Setup::Holdconn));
        o.media[0].attributes.retain(|a| a != &Attribute::Setup(Setup::Actpass));
        assert_eq!(
            create_answer(&o, &local(), &AnswerOptions::default()),
            Err(NegotiationError::UnsupportedSetup { index: 0 })
        );
    }

    #[test]
    fn offer_errors() {
        let no_mid =
            offer("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n");
        assert_eq!(
            create_answer(&no_mid, &local(), &AnswerOptions::default()),
            Err(NegotiationError::MissingMid { index: 0 })
        );
        let duplicate = offer(
            "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n",
        );
        assert_eq!(
            create_answer(&duplicate, &local(), &AnswerOptions::default()),
            Err(NegotiationError::DuplicateMid { index: 1 })
        );
        let mut no_ice = offer("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n");
        no_ice.attributes.retain(|a| !matches!(a, Attribute::IcePwd(_)));
        assert_eq!(
            create_answer(&no_ice, &local(), &AnswerOptions::default()),
            Err(NegotiationError::MissingIceCredentials { index: 0 })
        );
        let mut no_fp = offer("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n");
        no_fp.attributes.retain(|a| !matches!(a, Attribute::Fingerprint(_)));
        assert_eq!(
            create_answer(&no_fp, &local(), &AnswerOptions::default()),
            Err(NegotiationError::MissingFingerprint { index: 0 })
        );
        // A rejected section needs no transport.
        let rejected = no_fp.clone();
        let options = AnswerOptions::default().with("0", MediaAnswer::Reject);
        assert_eq!(create_answer(&rejected, &local(), &options).unwrap().media[0].port, 0);
    }

    #[test]
    fn sections_without_rtcp_mux_or_codecs_are_rejected() {
        let o = offer(
            "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\n\
             m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=rtcp-mux\r\na=rtpmap:96 H265/90000\r\n\
             m=audio 9 RTP/AVP 0\r\na=mid:2\r\na=rtcp-mux\r\n",
        );
        let mut o = o;
        o.attributes[0] = Attribute::Group(crate::sdp::Group {
            semantics: "BUNDLE".into(),
            mids: vec!["0".into(), "1".into(), "2".into()],
        });
        let answer = create_answer(&o, &local(), &AnswerOptions::default()).unwrap();
        assert!(answer.media.iter().all(|m| m.port == 0));
        assert!(answer.bundle_group().is_none());
        assert_eq!(
            answer.media[1].to_string(),
            "m=video 0 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n"
        );
    }

    #[test]
    fn send_stream_only_when_the_direction_sends() {
        let o = offer("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=sendonly\r\n");
        let stream =
            SendStream { ssrc: 5, rtx_ssrc: Some(6), cname: "c".into(), msid: Msid::new("s", "t") };
        let options = AnswerOptions::default().with("0", MediaAnswer::send_receive(stream));
        let answer = create_answer(&o, &local(), &options).unwrap();
        assert_eq!(answer.media[0].direction(), Some(Direction::RecvOnly));
        assert!(answer.media[0].ssrcs().is_empty());
        assert!(answer.media[0].msid().is_none());
    }

    #[test]
    fn a_mid_can_be_limited_to_some_codecs() {
        let o = offer(
            "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99\r\na=mid:0\r\na=rtcp-mux\r\na=recvonly\r\n\
             a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n\
             a=rtpmap:98 VP9/90000\r\na=fmtp:98 profile-id=0\r\na=rtpmap:99 rtx/90000\r\na=fmtp:99 apt=98\r\n",
        );
        let caps = crate::sdp::Capabilities::default();
        let vp9 = caps.video_codecs[1].clone();
        assert_eq!(vp9.name, "VP9");
        let stream =
            SendStream { ssrc: 5, rtx_ssrc: Some(6), cname: "c".into(), msid: Msid::new("s", "t") };
        let options = AnswerOptions::default()
            .with("0", MediaAnswer::send(stream))
            .with_codecs("0", vec![vp9]);
        let answer = create_answer(&o, &local(), &options).unwrap();
        assert_eq!(answer.media[0].formats, ["98", "99"]);
        assert_eq!(answer.media[0].direction(), Some(Direction::SendOnly));
        // Nothing in common: the section is rejected.
        let h264 = caps.video_codecs[3].clone();
        let options = AnswerOptions::default().with_codecs("0", vec![h264]);
        assert_eq!(create_answer(&o, &local(), &options).unwrap().media[0].port, 0);
    }
}
