//! Media sections (`m=` and what follows it, RFC 8866 §5.14) and their typed accessors:
//! codecs with their format parameters, feedback and RTX association, header extensions,
//! direction, mid, msid, SSRCs, rids and simulcast, SCTP parameters, candidates.

use std::fmt;

use super::attribute::{
    fmtp_get, fmtp_params, parse_number, parse_payload_type, Attribute, Direction, Extmap,
    Fingerprint, Fmtp, Msid, RtcpFb, RtcpFeedback, Rtpmap, Setup, SsrcGroup,
};
use super::candidate::Candidate;
use super::rid::Rid;
use super::session::{write_media, Bandwidth, Connection};
use super::simulcast::Simulcast;

/// The media type of an m-section, an open set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// `audio`
    Audio,
    /// `video`
    Video,
    /// `application` (data channels, RFC 8841)
    Application,
    /// Any other token (`text`, `message`, ...).
    Other(String),
}

impl MediaKind {
    /// The SDP token.
    pub fn as_str(&self) -> &str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Application => "application",
            MediaKind::Other(s) => s,
        }
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One media section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// Media type.
    pub kind: MediaKind,
    /// Port; 0 rejects the section unless it is `a=bundle-only` (RFC 8843 §6).
    pub port: u16,
    /// `/<number of ports>`.
    pub port_count: Option<u16>,
    /// Transport protocol, e.g. `UDP/TLS/RTP/SAVPF` or `UDP/DTLS/SCTP`.
    pub protocol: String,
    /// Formats: payload types for RTP, `webrtc-datachannel` for SCTP.
    pub formats: Vec<String>,
    /// `i=`.
    pub information: Option<String>,
    /// `c=` lines.
    pub connections: Vec<Connection>,
    /// `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// `k=` (obsolete, kept verbatim).
    pub encryption_key: Option<String>,
    /// Attributes in order.
    pub attributes: Vec<Attribute>,
}

/// A codec of an RTP m-section: `a=rtpmap` (or the RFC 3551 static table) joined with its
/// `a=fmtp`, its `a=rtcp-fb` lines and its RTX payload type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    /// Payload type.
    pub payload_type: u8,
    /// Encoding name as written (`opus`, `VP8`, `H264`, `rtx`).
    pub name: String,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Audio channels, as written.
    pub channels: Option<u16>,
    /// Format parameters (`a=fmtp`) as written, empty when there are none.
    pub fmtp: String,
    /// Feedback for this payload type, including `a=rtcp-fb:*` lines.
    pub feedback: Vec<RtcpFeedback>,
    /// The RTX payload type whose `apt` points at this one (RFC 4588 §8.6).
    pub rtx_payload_type: Option<u8>,
}

impl Codec {
    /// Format parameters as `key[=value]` pairs.
    pub fn fmtp_params(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        fmtp_params(&self.fmtp)
    }

    /// One format parameter (case-insensitive key).
    pub fn fmtp_param(&self, key: &str) -> Option<&str> {
        fmtp_get(&self.fmtp, key)
    }

    /// Whether this is an RTX payload type (RFC 4588).
    pub fn is_rtx(&self) -> bool {
        self.name.eq_ignore_ascii_case("rtx")
    }

    /// For RTX: the associated payload type (`apt=`).
    pub fn apt(&self) -> Option<u8> {
        if !self.is_rtx() {
            return None;
        }
        self.fmtp_param("apt").and_then(parse_payload_type)
    }

    /// Channel count, 1 when not written (RFC 8866 §6.6).
    pub fn channel_count(&self) -> u16 {
        self.channels.unwrap_or(1)
    }

    /// Whether the codec carries this feedback.
    pub fn has_feedback(&self, kind: &str, parameter: Option<&str>) -> bool {
        self.feedback.iter().any(|f| f.kind == kind && f.parameter.as_deref() == parameter)
    }
}

/// One source described by `a=ssrc` lines (RFC 5576).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsrcInfo {
    /// The SSRC.
    pub ssrc: u32,
    /// `cname:` value.
    pub cname: Option<String>,
    /// `msid:` value (stream id and track id).
    pub msid: Option<Msid>,
}

/// RFC 3551 §6 static payload types, used when an m= line lists one without `a=rtpmap`.
fn static_payload_type(pt: u8) -> Option<(&'static str, u32, Option<u16>)> {
    Some(match pt {
        0 => ("PCMU", 8000, Some(1)),
        3 => ("GSM", 8000, Some(1)),
        4 => ("G723", 8000, Some(1)),
        5 => ("DVI4", 8000, Some(1)),
        6 => ("DVI4", 16000, Some(1)),
        7 => ("LPC", 8000, Some(1)),
        8 => ("PCMA", 8000, Some(1)),
        9 => ("G722", 8000, Some(1)),
        10 => ("L16", 44100, Some(2)),
        11 => ("L16", 44100, Some(1)),
        12 => ("QCELP", 8000, Some(1)),
        13 => ("CN", 8000, Some(1)),
        14 => ("MPA", 90000, None),
        15 => ("G728", 8000, Some(1)),
        16 => ("DVI4", 11025, Some(1)),
        17 => ("DVI4", 22050, Some(1)),
        18 => ("G729", 8000, Some(1)),
        25 => ("CelB", 90000, None),
        26 => ("JPEG", 90000, None),
        28 => ("nv", 90000, None),
        31 => ("H261", 90000, None),
        32 => ("MPV", 90000, None),
        33 => ("MP2T", 90000, None),
        34 => ("H263", 90000, None),
        _ => return None,
    })
}

impl MediaDescription {
    /// An empty section: `m=<kind> <port> <protocol> <formats>` and nothing else.
    pub fn new(
        kind: MediaKind,
        port: u16,
        protocol: &str,
        formats: Vec<String>,
    ) -> MediaDescription {
        MediaDescription {
            kind,
            port,
            port_count: None,
            protocol: protocol.to_owned(),
            formats,
            information: None,
            connections: Vec::new(),
            bandwidths: Vec::new(),
            encryption_key: None,
            attributes: Vec::new(),
        }
    }

    /// Parses the value of an `m=` line.
    pub(crate) fn parse_media_line(value: &str) -> Result<MediaDescription, &'static str> {
        const SHAPE: &str = "m= line must be \"m=<media> <port>[/<count>] <proto> <fmt> ...\"";
        let mut tokens = value.split_ascii_whitespace();
        let (Some(kind), Some(port), Some(protocol)) =
            (tokens.next(), tokens.next(), tokens.next())
        else {
            return Err(SHAPE);
        };
        let (port, port_count) = match port.split_once('/') {
            Some((p, c)) => {
                (p, Some(parse_number::<u16>(c).ok_or("m= line port count is not a number")?))
            }
            None => (port, None),
        };
        let port = parse_number::<u16>(port).ok_or("m= line port is not a number 0-65535")?;
        let formats: Vec<String> = tokens.map(str::to_owned).collect();
        let mut media = MediaDescription::new(MediaKind::parse(kind), port, protocol, formats);
        media.port_count = port_count;
        if media.is_rtp() && media.formats.iter().any(|f| parse_payload_type(f).is_none()) {
            return Err("m= line lists a payload type that is not a number 0-127");
        }
        Ok(media)
    }

    // ---- m= line -----------------------------------------------------------------------

    /// Whether the protocol carries RTP (`RTP/AVP`, `UDP/TLS/RTP/SAVPF`, ...).
    pub fn is_rtp(&self) -> bool {
        self.protocol.split('/').any(|p| p == "RTP")
    }

    /// Whether the protocol is SCTP over DTLS (RFC 8841 §4).
    pub fn is_sctp(&self) -> bool {
        self.protocol.split('/').any(|p| p == "SCTP")
    }

    /// Whether the section is rejected or removed: port 0 without `a=bundle-only`
    /// (RFC 3264 §6, RFC 8843 §6).
    pub fn is_rejected(&self) -> bool {
        self.port == 0 && !self.is_bundle_only()
    }

    /// Payload types of the m= line, in preference order.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats.iter().filter_map(|f| parse_payload_type(f))
    }

    // ---- attribute lookup --------------------------------------------------------------

    /// Attributes with the given name.
    pub fn attributes_named<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Attribute> + 'a {
        self.attributes.iter().filter(move |a| a.name() == name)
    }

    /// The value of the first attribute with this name that is not typed (`Attribute::Other`).
    pub fn other_attribute(&self, name: &str) -> Option<Option<&str>> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Other { name: n, value } if n == name => Some(value.as_deref()),
            _ => None,
        })
    }

    /// `a=mid`.
    pub fn mid(&self) -> Option<&str> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Mid(m) => Some(m.as_str()),
            _ => None,
        })
    }

    /// Media-level direction attribute, if any (see `SessionDescription::direction`
    /// for the session-level fallback).
    pub fn direction(&self) -> Option<Direction> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Direction(d) => Some(*d),
            _ => None,
        })
    }

    /// The first `a=msid`.
    pub fn msid(&self) -> Option<&Msid> {
        self.msids().next()
    }

    /// Every `a=msid`.
    pub fn msids(&self) -> impl Iterator<Item = &Msid> {
        self.attributes.iter().filter_map(|a| match a {
            Attribute::Msid(m) => Some(m),
            _ => None,
        })
    }

    /// `a=rtcp-mux`.
    pub fn rtcp_mux(&self) -> bool {
        self.attributes.contains(&Attribute::RtcpMux)
    }

    /// `a=rtcp-rsize`.
    pub fn rtcp_rsize(&self) -> bool {
        self.attributes.contains(&Attribute::RtcpRsize)
    }

    /// `a=bundle-only`.
    pub fn is_bundle_only(&self) -> bool {
        self.attributes.contains(&Attribute::BundleOnly)
    }

    /// Media-level `a=ice-ufrag`.
    pub fn ice_ufrag(&self) -> Option<&str> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::IceUfrag(u) => Some(u.as_str()),
            _ => None,
        })
    }

    /// Media-level `a=ice-pwd`.
    pub fn ice_pwd(&self) -> Option<&str> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::IcePwd(p) => Some(p.as_str()),
            _ => None,
        })
    }

    /// Media-level `a=fingerprint` lines.
    pub fn fingerprints(&self) -> impl Iterator<Item = &Fingerprint> {
        self.attributes.iter().filter_map(|a| match a {
            Attribute::Fingerprint(f) => Some(f),
            _ => None,
        })
    }

    /// Media-level `a=setup`.
    pub fn setup(&self) -> Option<Setup> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Setup(s) => Some(*s),
            _ => None,
        })
    }

    // ---- codecs ------------------------------------------------------------------------

    /// `a=rtpmap` for a payload type.
    pub fn rtpmap(&self, pt: u8) -> Option<&Rtpmap> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Rtpmap(r) if r.payload_type == pt => Some(r),
            _ => None,
        })
    }

    /// `a=fmtp` for a payload type.
    pub fn fmtp(&self, pt: u8) -> Option<&Fmtp> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Fmtp(f) if f.payload_type == pt => Some(f),
            _ => None,
        })
    }

    /// `a=rtcp-fb` lines that apply to a payload type (its own and `*`).
    pub fn rtcp_feedback(&self, pt: u8) -> Vec<&RtcpFeedback> {
        let mut all: Vec<&RtcpFeedback> = Vec::new();
        for a in &self.attributes {
            if let Attribute::RtcpFb(RtcpFb { payload_type, feedback }) = a {
                if (payload_type.is_none() || *payload_type == Some(pt)) && !all.contains(&feedback)
                {
                    all.push(feedback);
                }
            }
        }
        all
    }

    /// The codec of one payload type listed on the m= line.
    pub fn codec(&self, pt: u8) -> Option<Codec> {
        self.codec_with(pt, &self.rtx_pairs())
    }

    fn codec_with(&self, pt: u8, rtx_pairs: &[(u8, u8)]) -> Option<Codec> {
        if !self.payload_types().any(|p| p == pt) {
            return None;
        }
        let (name, clock_rate, channels) = match self.rtpmap(pt) {
            Some(r) => (r.encoding_name.clone(), r.clock_rate, r.channels),
            None => {
                let (name, clock, channels) = static_payload_type(pt)?;
                (name.to_owned(), clock, channels)
            }
        };
        let fmtp = self.fmtp(pt).map(|f| f.parameters.clone()).unwrap_or_default();
        let feedback = self.rtcp_feedback(pt).into_iter().cloned().collect();
        let rtx_payload_type = if name.eq_ignore_ascii_case("rtx") {
            None
        } else {
            rtx_pairs.iter().find(|(apt, _)| *apt == pt).map(|(_, rtx)| *rtx)
        };
        Some(Codec {
            payload_type: pt,
            name,
            clock_rate,
            channels,
            fmtp,
            feedback,
            rtx_payload_type,
        })
    }

    /// Every codec of the m= line in preference order (RTX included). Payload types with
    /// neither an `a=rtpmap` nor a static assignment are left out.
    pub fn codecs(&self) -> Vec<Codec> {
        let rtx_pairs = self.rtx_pairs();
        self.payload_types().filter_map(|pt| self.codec_with(pt, &rtx_pairs)).collect()
    }

    /// The RTX payload type associated with `pt` through `apt=` (RFC 4588 §8.6).
    pub fn rtx_for(&self, pt: u8) -> Option<u8> {
        self.rtx_pairs().into_iter().find(|(apt, _)| *apt == pt).map(|(_, rtx)| rtx)
    }

    /// `(apt, rtx)` for every RTX payload type of the m= line, in m= line order.
    fn rtx_pairs(&self) -> Vec<(u8, u8)> {
        self.payload_types()
            .filter(|pt| {
                self.rtpmap(*pt).is_some_and(|r| r.encoding_name.eq_ignore_ascii_case("rtx"))
            })
            .filter_map(|rtx| {
                let apt = self.fmtp(rtx).and_then(|f| f.get("apt")).and_then(parse_payload_type)?;
                Some((apt, rtx))
            })
            .collect()
    }

    // ---- header extensions -------------------------------------------------------------

    /// Media-level `a=extmap` lines.
    pub fn extmaps(&self) -> impl Iterator<Item = &Extmap> {
        self.attributes.iter().filter_map(|a| match a {
            Attribute::Extmap(e) => Some(e),
            _ => None,
        })
    }

    /// The id negotiated for an extension URI at media level.
    pub fn extmap_id(&self, uri: &str) -> Option<u16> {
        self.extmaps().find(|e| e.uri == uri).map(|e| e.id)
    }

    // ---- sources -----------------------------------------------------------------------

    /// Sources described by `a=ssrc` lines and groups, in order of first mention.
    pub fn ssrcs(&self) -> Vec<SsrcInfo> {
        let mut sources: Vec<SsrcInfo> = Vec::new();
        let entry = |ssrc: u32, sources: &mut Vec<SsrcInfo>| -> usize {
            match sources.iter().position(|s| s.ssrc == ssrc) {
                Some(i) => i,
                None => {
                    sources.push(SsrcInfo { ssrc, cname: None, msid: None });
                    sources.len() - 1
                }
            }
        };
        for a in &self.attributes {
            match a {
                Attribute::Ssrc(s) => {
                    let i = entry(s.ssrc, &mut sources);
                    let Some(info) = sources.get_mut(i) else { continue };
                    match (s.attribute.as_str(), s.value.as_deref()) {
                        ("cname", Some(v)) if info.cname.is_none() => {
                            info.cname = Some(v.to_owned())
                        }
                        ("msid", Some(v)) if info.msid.is_none() => info.msid = Msid::parse(v).ok(),
                        _ => {}
                    }
                }
                Attribute::SsrcGroup(g) => {
                    for ssrc in &g.ssrcs {
                        entry(*ssrc, &mut sources);
                    }
                }
                _ => {}
            }
        }
        sources
    }

    /// `a=ssrc-group` lines.
    pub fn ssrc_groups(&self) -> impl Iterator<Item = &SsrcGroup> {
        self.attributes.iter().filter_map(|a| match a {
            Attribute::SsrcGroup(g) => Some(g),
            _ => None,
        })
    }

    /// `(primary, rtx)` pairs of the `FID` groups (RFC 5576 §4.2, RFC 4588).
    pub fn fid_groups(&self) -> Vec<(u32, u32)> {
        self.ssrc_groups()
            .filter(|g| g.semantics == "FID")
            .filter_map(|g| match g.ssrcs.as_slice() {
                [primary, rtx, ..] => Some((*primary, *rtx)),
                _ => None,
            })
            .collect()
    }

    /// The RTX SSRC paired with `ssrc` by an `FID` group.
    pub fn rtx_ssrc_for(&self, ssrc: u32) -> Option<u32> {
        self.fid_groups().into_iter().find(|(p, _)| *p == ssrc).map(|(_, r)| r)
    }

    /// SSRCs of the `SIM` group (legacy simulcast), lowest layer first.
    pub fn sim_group(&self) -> Option<&[u32]> {
        self.ssrc_groups().find(|g| g.semantics == "SIM").map(|g| g.ssrcs.as_slice())
    }

    // ---- rid and simulcast ------------------------------------------------------------

    /// `a=rid` lines.
    pub fn rids(&self) -> impl Iterator<Item = &Rid> {
        self.attributes.iter().filter_map(|a| match a {
            Attribute::Rid(r) => Some(r),
            _ => None,
        })
    }

    /// `a=simulcast`.
    pub fn simulcast(&self) -> Option<&Simulcast> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Simulcast(s) => Some(s),
            _ => None,
        })
    }

    // ---- data channels -----------------------------------------------------------------

    /// `a=sctp-port`.
    pub fn sctp_port(&self) -> Option<u16> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::SctpPort(p) => Some(*p),
            _ => None,
        })
    }

    /// `a=max-message-size`.
    pub fn max_message_size(&self) -> Option<u64> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::MaxMessageSize(s) => Some(*s),
            _ => None,
        })
    }

    // ---- ICE candidates ----------------------------------------------------------------

    /// `a=candidate` lines.
    pub fn candidates(&self) -> impl Iterator<Item = &Candidate> {
        self.attributes.iter().filter_map(|a| match a {
            Attribute::Candidate(c) => Some(c),
            _ => None,
        })
    }

    /// `a=end-of-candidates`.
    pub fn end_of_candidates(&self) -> bool {
        self.attributes.contains(&Attribute::EndOfCandidates)
    }
}

impl fmt::Display for MediaDescription {
    /// Writes the m= line and the section's lines with CRLF endings.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_media(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::SessionDescription;

    fn media(section: &str) -> MediaDescription {
        let text = format!("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n{section}");
        let mut d = SessionDescription::parse(&text).unwrap();
        d.media.remove(0)
    }

    #[test]
    fn codecs_join_rtpmap_fmtp_feedback_and_rtx() {
        let m = media(
            "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98\r\n\
             a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:* transport-cc\r\n\
             a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n\
             a=rtpmap:98 VP9/90000\r\na=fmtp:98 profile-id=2\r\n",
        );
        let codecs = m.codecs();
        assert_eq!(codecs.len(), 3);
        let vp8 = &codecs[0];
        assert_eq!(
            (vp8.name.as_str(), vp8.clock_rate, vp8.rtx_payload_type),
            ("VP8", 90000, Some(97))
        );
        assert!(vp8.has_feedback("nack", None));
        assert!(vp8.has_feedback("transport-cc", None));
        assert_eq!(codecs[1].apt(), Some(96));
        assert!(codecs[1].is_rtx());
        assert_eq!(codecs[2].fmtp_param("profile-id"), Some("2"));
        assert_eq!(codecs[2].rtx_payload_type, None);
        assert_eq!(m.codec(99), None);
    }

    #[test]
    fn static_payload_types_need_no_rtpmap() {
        let m = media("m=audio 9 RTP/AVP 0 8 96\r\n");
        let codecs = m.codecs();
        // 96 is dynamic and has no rtpmap: left out.
        assert_eq!(codecs.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["PCMU", "PCMA"]);
        assert_eq!(codecs[0].channel_count(), 1);
    }

    #[test]
    fn ssrcs_and_groups() {
        let m = media(
            "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ssrc-group:FID 10 11\r\na=ssrc:10 cname:c\r\n\
             a=ssrc:10 msid:s t\r\na=ssrc:11 cname:c\r\na=ssrc-group:SIM 10 20 30\r\n",
        );
        let ssrcs = m.ssrcs();
        assert_eq!(ssrcs.iter().map(|s| s.ssrc).collect::<Vec<_>>(), [10, 11, 20, 30]);
        assert_eq!(ssrcs[0].msid, Some(Msid::new("s", "t")));
        assert_eq!(ssrcs[1].cname.as_deref(), Some("c"));
        assert_eq!(m.fid_groups(), vec![(10, 11)]);
        assert_eq!(m.rtx_ssrc_for(10), Some(11));
        assert_eq!(m.sim_group(), Some(&[10, 20, 30][..]));
    }

    #[test]
    fn m_line_errors() {
        assert_eq!(
            MediaDescription::parse_media_line("video"),
            Err("m= line must be \"m=<media> <port>[/<count>] <proto> <fmt> ...\"")
        );
        assert_eq!(
            MediaDescription::parse_media_line("video x RTP/AVP 96"),
            Err("m= line port is not a number 0-65535")
        );
        assert_eq!(
            MediaDescription::parse_media_line("video 70000 RTP/AVP 96"),
            Err("m= line port is not a number 0-65535")
        );
        assert_eq!(
            MediaDescription::parse_media_line("video 9/x RTP/AVP 96"),
            Err("m= line port count is not a number")
        );
        assert_eq!(
            MediaDescription::parse_media_line("video 9 UDP/TLS/RTP/SAVPF 96 VP8"),
            Err("m= line lists a payload type that is not a number 0-127")
        );
        assert_eq!(
            MediaDescription::parse_media_line("video 9 UDP/TLS/RTP/SAVPF 200"),
            Err("m= line lists a payload type that is not a number 0-127")
        );
        let app =
            MediaDescription::parse_media_line("application 9 UDP/DTLS/SCTP webrtc-datachannel")
                .unwrap();
        assert!(app.is_sctp() && !app.is_rtp());
    }
}
