//! Offers the SFU writes itself (JSEP, RFC 8829 §5.2): when it adds tracks for a
//! subscriber or opens the data channel section without a client offer. ICE-lite,
//! `a=setup:actpass`, the SFU's codecs and header extension ids, sendonly sections with
//! their SSRC and msid lines.
//!
//! A subsequent offer must repeat every m-section already negotiated, in order and with
//! the same mids (RFC 3264 §8, RFC 8829 §5.2.2), and must not remap payload types
//! (RFC 3264 §8.3.2) or reuse one for another codec across the BUNDLE group (RFC 8843
//! §9). So the caller passes the current local description and the offer keeps its
//! sections, codecs and extension ids, and picks new numbers around them.

use super::attribute::{Attribute, Direction, Extmap, Fmtp, RtcpFb, Rtpmap, Setup};
use super::capabilities::CodecCapability;
use super::local::{
    default_destination, finish, rejected_section, transport_attributes, LocalParameters,
    SendStream,
};
use super::media::{Codec, MediaDescription, MediaKind};
use super::session::{Connection, SessionDescription};
use super::NegotiationError;

/// One m-section for [`create_offer`]: a new one, or a change to one already negotiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferMedia {
    /// The mid (new, or of an existing section to change).
    pub mid: String,
    /// Audio, video or application (data channels).
    pub kind: MediaKind,
    /// Direction from the SFU's point of view (`SendOnly` for a pull).
    pub direction: Direction,
    /// What the SFU sends here.
    pub send: Option<SendStream>,
    /// Codecs for a new audio/video section; `None` offers every capability of the kind.
    pub codecs: Option<Vec<CodecCapability>>,
}

impl OfferMedia {
    /// A sendonly section carrying `stream`.
    pub fn send(mid: impl Into<String>, kind: MediaKind, stream: SendStream) -> OfferMedia {
        OfferMedia {
            mid: mid.into(),
            kind,
            direction: Direction::SendOnly,
            send: Some(stream),
            codecs: None,
        }
    }

    /// The data channel section.
    pub fn data_channel(mid: impl Into<String>) -> OfferMedia {
        OfferMedia {
            mid: mid.into(),
            kind: MediaKind::Application,
            direction: Direction::SendRecv,
            send: None,
            codecs: None,
        }
    }
}

/// Input of [`create_offer`].
#[derive(Debug, Clone, Default)]
pub struct OfferOptions<'a> {
    /// The SFU's current local description (its last answer or offer), if any.
    pub previous: Option<&'a SessionDescription>,
    /// New sections (appended in this order) and changes to existing ones (by mid).
    pub media: Vec<OfferMedia>,
    /// Mids of existing sections to stop (written with port 0, RFC 8829 §5.2.2).
    pub stopped: Vec<String>,
}

/// Writes an SFU-initiated offer.
pub fn create_offer(
    local: &LocalParameters,
    options: &OfferOptions<'_>,
) -> Result<SessionDescription, NegotiationError> {
    let previous: &[MediaDescription] = options.previous.map_or(&[], |p| p.media.as_slice());
    validate(previous, options)?;

    let mut payload_types = PayloadTypes::default();
    let mut extension_ids = ExtensionIds::default();
    if let Some(p) = options.previous {
        for m in p.media.iter().filter(|m| !m.is_rejected()) {
            payload_types.used.extend(m.codecs());
            extension_ids.used.extend(m.extmaps().map(|e| (e.id, e.uri.clone())));
        }
        extension_ids.used.extend(p.attributes.iter().filter_map(|a| match a {
            Attribute::Extmap(e) => Some((e.id, e.uri.clone())),
            _ => None,
        }));
    }

    let destination = default_destination(local);
    let mut offer = SessionDescription::new(local.session_id, local.session_version);
    for m in previous {
        let mid = m.mid();
        let stopped = mid.is_some_and(|mid| options.stopped.iter().any(|s| s == mid));
        if m.is_rejected() || stopped {
            offer.media.push(rejected_section(
                &m.kind,
                &m.protocol,
                m.formats.first().map(String::as_str),
                mid,
            ));
            continue;
        }
        let change = options.media.iter().find(|o| Some(o.mid.as_str()) == mid);
        offer.media.push(refresh_section(m, change, local, &destination));
    }
    for new in
        options.media.iter().filter(|o| !previous.iter().any(|m| m.mid() == Some(o.mid.as_str())))
    {
        let section = match new.kind {
            MediaKind::Application => data_channel_section(new, local, &destination),
            _ => rtp_section(new, local, &destination, &mut payload_types, &mut extension_ids)?,
        };
        offer.media.push(section);
    }
    finish(&mut offer, local, true, true);
    Ok(offer)
}

fn is_token(mid: &str) -> bool {
    !mid.is_empty() && !mid.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
}

fn validate(
    previous: &[MediaDescription],
    options: &OfferOptions<'_>,
) -> Result<(), NegotiationError> {
    let invalid = |reason| Err(NegotiationError::InvalidRequest { reason });
    let live_data_channel = |m: &&MediaDescription| {
        m.kind == MediaKind::Application
            && !m.is_rejected()
            && !m.mid().is_some_and(|mid| options.stopped.iter().any(|s| s == mid))
    };
    let mut data_channels = previous.iter().filter(live_data_channel).count();
    for (i, new) in options.media.iter().enumerate() {
        if !is_token(&new.mid) {
            return invalid("a mid is empty or contains whitespace");
        }
        if options.media.iter().take(i).any(|o| o.mid == new.mid) {
            return invalid("two entries share a mid");
        }
        if matches!(new.kind, MediaKind::Other(_)) {
            return invalid("only audio, video and application sections can be offered");
        }
        match previous.iter().find(|m| m.mid() == Some(new.mid.as_str())) {
            Some(existing) if existing.kind != new.kind => {
                return invalid("an entry changes the media kind of its mid")
            }
            Some(existing) if existing.is_rejected() => {
                return invalid("an entry changes a rejected m-section")
            }
            Some(_) => {}
            None if new.kind == MediaKind::Application => data_channels += 1,
            None => {}
        }
    }
    if data_channels > 1 {
        return invalid("a session has at most one data channel m-section");
    }
    if options.stopped.iter().any(|s| !previous.iter().any(|m| m.mid() == Some(s.as_str()))) {
        return invalid("a stopped mid is not in the previous description");
    }
    Ok(())
}

/// An existing section offered again: our transport with `actpass`, the negotiated
/// codecs and extensions as they were, and the direction and sources of `change`.
fn refresh_section(
    m: &MediaDescription,
    change: Option<&OfferMedia>,
    local: &LocalParameters,
    (port, connection): &(u16, Connection),
) -> MediaDescription {
    let mut section = MediaDescription::new(m.kind.clone(), *port, &m.protocol, m.formats.clone());
    section.connections.push(connection.clone());
    section.bandwidths = m.bandwidths.clone();
    let mut attributes = transport_attributes(local, Setup::Actpass);
    let send = change.and_then(|c| c.send.as_ref().filter(|_| c.direction.sends()));
    let mut direction_written = false;
    for a in &m.attributes {
        match a {
            Attribute::IceUfrag(_)
            | Attribute::IcePwd(_)
            | Attribute::IceOptions(_)
            | Attribute::IceLite
            | Attribute::Fingerprint(_)
            | Attribute::Setup(_)
            | Attribute::Candidate(_)
            | Attribute::EndOfCandidates => {}
            Attribute::Direction(_) if change.is_some() => {
                if let Some(change) = change {
                    attributes.push(Attribute::Direction(change.direction));
                }
                if let Some(stream) = send {
                    attributes.push(Attribute::Msid(stream.msid.clone()));
                }
                direction_written = true;
            }
            Attribute::Msid(_) | Attribute::Ssrc(_) | Attribute::SsrcGroup(_)
                if change.is_some() => {}
            other => attributes.push(other.clone()),
        }
    }
    if let Some(change) = change.filter(|_| m.is_rtp()) {
        if !direction_written {
            attributes.push(Attribute::Direction(change.direction));
            if let Some(stream) = send {
                attributes.push(Attribute::Msid(stream.msid.clone()));
            }
        }
        if let Some(stream) = send {
            let with_rtx = m.codecs().iter().any(Codec::is_rtx);
            attributes.extend(stream.ssrc_attributes(with_rtx));
        }
    }
    section.attributes = attributes;
    section
}

fn data_channel_section(
    new: &OfferMedia,
    local: &LocalParameters,
    (port, connection): &(u16, Connection),
) -> MediaDescription {
    let mut section = MediaDescription::new(
        MediaKind::Application,
        *port,
        "UDP/DTLS/SCTP",
        vec!["webrtc-datachannel".to_owned()],
    );
    section.connections.push(connection.clone());
    section.attributes = transport_attributes(local, Setup::Actpass);
    section.attributes.push(Attribute::Mid(new.mid.clone()));
    section.attributes.push(Attribute::SctpPort(local.capabilities.sctp_port));
    section.attributes.push(Attribute::MaxMessageSize(local.capabilities.max_message_size));
    section
}

fn rtp_section(
    new: &OfferMedia,
    local: &LocalParameters,
    (port, connection): &(u16, Connection),
    payload_types: &mut PayloadTypes,
    extension_ids: &mut ExtensionIds,
) -> Result<MediaDescription, NegotiationError> {
    let caps = &local.capabilities;
    let codecs = new.codecs.as_deref().unwrap_or(caps.codecs(&new.kind));
    if codecs.is_empty() {
        return Err(NegotiationError::InvalidRequest {
            reason: "an audio/video section has no codec to offer",
        });
    }
    let mut formats = Vec::new();
    let mut codec_attributes = Vec::new();
    let mut with_rtx = false;
    for cap in codecs {
        let codec = payload_types.assign(cap)?;
        let pt = codec.payload_type;
        if formats.contains(&pt.to_string()) {
            continue;
        }
        formats.push(pt.to_string());
        codec_attributes.push(Attribute::Rtpmap(Rtpmap {
            payload_type: pt,
            encoding_name: codec.name.clone(),
            clock_rate: codec.clock_rate,
            channels: codec.channels,
        }));
        for feedback in &cap.feedback {
            codec_attributes.push(Attribute::RtcpFb(RtcpFb {
                payload_type: Some(pt),
                feedback: feedback.clone(),
            }));
        }
        if !codec.fmtp.is_empty() {
            codec_attributes
                .push(Attribute::Fmtp(Fmtp { payload_type: pt, parameters: codec.fmtp.clone() }));
        }
        if let Some(preferred) = cap.rtx_payload_type {
            let rtx = payload_types.assign_rtx(pt, codec.clock_rate, preferred)?;
            with_rtx = true;
            formats.push(rtx.to_string());
            codec_attributes.push(Attribute::Rtpmap(Rtpmap {
                payload_type: rtx,
                encoding_name: "rtx".to_owned(),
                clock_rate: codec.clock_rate,
                channels: None,
            }));
            codec_attributes
                .push(Attribute::Fmtp(Fmtp { payload_type: rtx, parameters: format!("apt={pt}") }));
        }
    }

    let mut section = MediaDescription::new(new.kind.clone(), *port, "UDP/TLS/RTP/SAVPF", formats);
    section.connections.push(connection.clone());
    let attributes = &mut section.attributes;
    attributes.extend(transport_attributes(local, Setup::Actpass));
    attributes.push(Attribute::Mid(new.mid.clone()));
    for (i, ext) in caps.header_extensions.iter().enumerate() {
        if !caps.supports_extension(&new.kind, &ext.uri) {
            continue;
        }
        // The capability's position gives each URI the same id in every session.
        let preferred = u16::try_from(i + 1).unwrap_or(u16::MAX);
        let id = extension_ids.assign(&ext.uri, preferred)?;
        attributes.push(Attribute::Extmap(Extmap {
            id,
            direction: None,
            uri: ext.uri.clone(),
            attributes: None,
        }));
    }
    attributes.push(Attribute::Direction(new.direction));
    let send = new.send.as_ref().filter(|_| new.direction.sends());
    if let Some(stream) = send {
        attributes.push(Attribute::Msid(stream.msid.clone()));
    }
    attributes.push(Attribute::RtcpMux);
    attributes.push(Attribute::RtcpRsize);
    attributes.extend(codec_attributes);
    if let Some(stream) = send {
        attributes.extend(stream.ssrc_attributes(with_rtx));
    }
    Ok(section)
}

/// Payload types already bound in the session, and the choice of new ones.
#[derive(Debug, Default)]
struct PayloadTypes {
    used: Vec<Codec>,
}

impl PayloadTypes {
    fn is_free(&self, pt: u8) -> bool {
        !self.used.iter().any(|c| c.payload_type == pt)
    }

    /// A free dynamic payload type: 96-127, then 35-63 (RFC 3551 §6 leaves both unassigned;
    /// 64-95 would collide with RTCP packet types under rtcp-mux, RFC 5761 §4).
    fn free(&self, preferred: u8) -> Result<u8, NegotiationError> {
        if self.is_free(preferred) && matches!(preferred, 35..=63 | 96..=127) {
            return Ok(preferred);
        }
        (96..=127)
            .chain(35..=63)
            .find(|pt| self.is_free(*pt))
            .ok_or(NegotiationError::NoFreePayloadType)
    }

    /// The payload type of a codec: the one it already has in the session, else its
    /// preferred one if free, else any free one.
    fn assign(&mut self, cap: &CodecCapability) -> Result<Codec, NegotiationError> {
        if let Some(existing) = self.used.iter().find(|c| cap.matches(c)) {
            return Ok(existing.clone());
        }
        let codec = Codec {
            payload_type: self.free(cap.payload_type)?,
            name: cap.name.clone(),
            clock_rate: cap.clock_rate,
            channels: cap.channels,
            fmtp: cap.fmtp.clone(),
            feedback: cap.feedback.clone(),
            rtx_payload_type: None,
        };
        self.used.push(codec.clone());
        Ok(codec)
    }

    /// The RTX payload type for `apt` (RFC 4588 §8.6).
    fn assign_rtx(
        &mut self,
        apt: u8,
        clock_rate: u32,
        preferred: u8,
    ) -> Result<u8, NegotiationError> {
        if let Some(existing) = self.used.iter().find(|c| c.apt() == Some(apt)) {
            return Ok(existing.payload_type);
        }
        let pt = self.free(preferred)?;
        self.used.push(Codec {
            payload_type: pt,
            name: "rtx".to_owned(),
            clock_rate,
            channels: None,
            fmtp: format!("apt={apt}"),
            feedback: Vec::new(),
            rtx_payload_type: None,
        });
        Ok(pt)
    }
}

/// Header extension ids already bound in the session (one URI per id across the BUNDLE
/// group, RFC 8843 §9), and the choice of new ones.
#[derive(Debug, Default)]
struct ExtensionIds {
    used: Vec<(u16, String)>,
}

impl ExtensionIds {
    /// The id of a URI: its existing one, else `preferred` if it is a free one-byte id, else
    /// the lowest free one-byte id (1-14), else a two-byte id (16-255, usable with
    /// `a=extmap-allow-mixed`, RFC 8285 §6).
    fn assign(&mut self, uri: &str, preferred: u16) -> Result<u16, NegotiationError> {
        if let Some((id, _)) = self.used.iter().find(|(_, u)| u == uri) {
            return Ok(*id);
        }
        let is_free = |id: &u16| !self.used.iter().any(|(used, _)| used == id);
        let id = std::iter::once(preferred)
            .filter(|id| (1..=14).contains(id))
            .chain(1..=14u16)
            .chain(16..=255)
            .find(is_free)
            .ok_or(NegotiationError::NoFreeExtensionId)?;
        self.used.push((id, uri.to_owned()));
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::{Capabilities, Fingerprint, Msid};

    fn local() -> LocalParameters {
        LocalParameters::new(
            9,
            "sfuU",
            "sfupasswordsfupassword",
            Fingerprint::sha256([1; 32]),
            vec![],
        )
    }

    #[test]
    fn payload_type_allocation_avoids_taken_numbers() {
        let caps = Capabilities::default();
        let mut pts = PayloadTypes::default();
        // 96 is taken by another codec: VP8 moves to the first free number.
        pts.used.push(Codec {
            payload_type: 96,
            name: "H265".into(),
            clock_rate: 90000,
            channels: None,
            fmtp: String::new(),
            feedback: vec![],
            rtx_payload_type: None,
        });
        let vp8 = pts.assign(&caps.video_codecs[0]).unwrap();
        assert_eq!(vp8.payload_type, 97);
        // Its preferred RTX number 97 is now taken too.
        assert_eq!(pts.assign_rtx(97, 90000, 97).unwrap(), 98);
        // The same codec again keeps its numbers.
        assert_eq!(pts.assign(&caps.video_codecs[0]).unwrap().payload_type, 97);
        assert_eq!(pts.assign_rtx(97, 90000, 97).unwrap(), 98);
        // VP9 prefers 98, now VP8's RTX: it gets the next free number.
        assert_eq!(pts.assign(&caps.video_codecs[1]).unwrap().payload_type, 99);
        // Exhaustion is an error, not a panic.
        let mut full = PayloadTypes::default();
        for pt in (96..=127).chain(35..=63) {
            full.used.push(Codec { payload_type: pt, ..vp8.clone() });
        }
        assert_eq!(full.free(96), Err(NegotiationError::NoFreePayloadType));
    }

    #[test]
    fn extension_ids_reuse_then_fill_gaps() {
        let mut ids = ExtensionIds { used: vec![(1, "urn:a".into()), (3, "urn:b".into())] };
        assert_eq!(ids.assign("urn:b", 9).unwrap(), 3);
        assert_eq!(ids.assign("urn:c", 3).unwrap(), 2);
        assert_eq!(ids.assign("urn:d", 7).unwrap(), 7);
        assert_eq!(ids.assign("urn:e", 40).unwrap(), 4);
        let mut two_byte =
            ExtensionIds { used: (1..=14).map(|i| (i, format!("urn:{i}"))).collect() };
        assert_eq!(two_byte.assign("urn:new", 1).unwrap(), 16);
        let mut full = ExtensionIds { used: (1..=255).map(|i| (i, format!("urn:{i}"))).collect() };
        assert_eq!(full.assign("urn:new", 1), Err(NegotiationError::NoFreeExtensionId));
    }

    #[test]
    fn invalid_requests() {
        let stream =
            SendStream { ssrc: 1, rtx_ssrc: None, cname: "c".into(), msid: Msid::new("s", "t") };
        let reason = |options: OfferOptions<'_>| match create_offer(&local(), &options) {
            Err(NegotiationError::InvalidRequest { reason }) => reason,
            other => panic!("{other:?}"),
        };
        let media = vec![OfferMedia::send("a b", MediaKind::Audio, stream.clone())];
        assert_eq!(
            reason(OfferOptions { media, ..Default::default() }),
            "a mid is empty or contains whitespace"
        );
        let media = vec![
            OfferMedia::send("0", MediaKind::Audio, stream.clone()),
            OfferMedia::data_channel("0"),
        ];
        assert_eq!(reason(OfferOptions { media, ..Default::default() }), "two entries share a mid");
        let media = vec![OfferMedia::data_channel("0"), OfferMedia::data_channel("1")];
        assert_eq!(
            reason(OfferOptions { media, ..Default::default() }),
            "a session has at most one data channel m-section"
        );
        let media = vec![OfferMedia::send("0", MediaKind::Other("text".into()), stream)];
        assert_eq!(
            reason(OfferOptions { media, ..Default::default() }),
            "only audio, video and application sections can be offered"
        );
        let stopped = vec!["9".to_owned()];
        assert_eq!(
            reason(OfferOptions { stopped, ..Default::default() }),
            "a stopped mid is not in the previous description"
        );
    }
}
