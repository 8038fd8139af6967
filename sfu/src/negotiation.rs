//! The offer/answer state of one session (one PeerConnection): our parameters, the current
//! local and remote descriptions, an SFU offer that waits for its answer, and the
//! transceivers they negotiated.
//!
//! The HTTP API drives it. The [`Directory`](crate::directory::Directory) keeps each
//! session's `Negotiation` behind an async mutex, so negotiations on one session are
//! serialized: a second one while the mutex is held, or while an SFU offer waits for its
//! answer ([`Negotiation::pending`]), is refused (406 `invalid_params`).
//!
//! A negotiation has two halves that never change state on failure:
//! - a client offer: [`Negotiation::prepare_answer`] writes the answer without changing
//!   anything; once the caller has everything else in place it commits with
//!   [`Negotiation::commit_answer`];
//! - an SFU offer (a pull without a client offer): [`Negotiation::prepare_offer`], then
//!   [`Negotiation::set_pending`]; the client's answer comes back through
//!   [`Negotiation::accept_answer`].
//!
//! Committing recomputes every [`Transceiver`] from the pair of descriptions: its direction
//! seen from the SFU, the codecs and header extension ids of the answer, and the SSRCs the
//! client announced. [`Negotiation::media`] condenses them into [`SessionMedia`], what the
//! router needs.
//!
//! # Example: a push, then a pull offered by the SFU
//!
//! ```
//! use sfu::negotiation::Negotiation;
//! use sfu::sdp::{AnswerOptions, Fingerprint, LocalParameters, MediaKind, OfferMedia, SendStream, Msid, SessionDescription};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let offer = SessionDescription::parse(
//!     "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n\
//!      m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:Oyef\r\n\
//!      a=ice-pwd:6ETIa2xVMzVhwMsUEhuGnPqw\r\n\
//!      a=fingerprint:sha-256 5E:0B:41:C8:2C:B0:12:1A:56:A1:1C:8B:E3:0F:1A:42:2F:07:54:B6:77:1F:41:3F:D4:21:54:0A:7D:86:D2:EB\r\n\
//!      a=setup:actpass\r\na=mid:0\r\na=sendonly\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n\
//!      a=ssrc:1001 cname:x\r\n",
//! )?;
//! let mut negotiation = Negotiation::new("cname".into());
//! negotiation.set_local_parameters(LocalParameters::new(
//!     1, "sfu1", "0123456789abcdefghijkl", Fingerprint::sha256([7; 32]), vec![]));
//! let answer = negotiation.prepare_answer(&offer, &AnswerOptions::default())?;
//! negotiation.commit_answer(offer, answer);
//! let audio = negotiation.transceiver("0").unwrap();
//! assert!(audio.direction.receives() && !audio.direction.sends());
//! assert_eq!(audio.receive_ssrcs[0].ssrc, 1001);
//!
//! // The SFU adds a sendonly section for a subscriber and offers it.
//! let mid = negotiation.next_mid();
//! assert_eq!(mid, "1");
//! let stream = SendStream { ssrc: 5, rtx_ssrc: None, cname: "cname".into(), msid: Msid::new("s", "t") };
//! let offer = negotiation.prepare_offer(vec![OfferMedia::send(mid, MediaKind::Audio, stream)])?;
//! assert_eq!(offer.origin.session_version, 2);
//! # Ok(())
//! # }
//! ```

use crate::directory::{SessionId, TrackId};
use crate::router::layers::SimulcastPreference;
use crate::sdp::{
    create_answer, create_offer, AnswerOptions, Attribute, Codec, Direction, LocalParameters,
    MediaKind, NegotiationError, OfferMedia, OfferOptions, SendStream, SessionDescription, Setup,
};

/// A local track this session publishes on one of its mids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedTrack {
    /// The name other sessions pull it by.
    pub name: String,
    /// Its id in the directory.
    pub id: TrackId,
}

/// A remote track this session pulls on one of its mids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledTrack {
    /// The publisher's session.
    pub session: SessionId,
    /// The publisher's name for it.
    pub name: String,
    /// Its id in the directory.
    pub id: TrackId,
    /// Which simulcast layer to send, when the track has several.
    pub simulcast: Option<SimulcastPreference>,
}

/// A media source the client announced with `a=ssrc`, and its RTX source from an `FID`
/// group (RFC 5576 §4.2, RFC 4588 §8.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveSsrc {
    /// The media SSRC.
    pub ssrc: u32,
    /// Its retransmission SSRC.
    pub rtx: Option<u32>,
}

/// One m-section as negotiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transceiver {
    /// Its mid.
    pub mid: String,
    /// Audio, video or application.
    pub kind: MediaKind,
    /// Seen from the SFU: `RecvOnly` for a push, `SendOnly` for a pull, `Inactive` when
    /// rejected or not negotiated yet.
    pub direction: Direction,
    /// The codecs of the answer, RTX included, with the answer's payload types (the numbers
    /// both sides use on this mid).
    pub codecs: Vec<Codec>,
    /// The header extensions of the answer, `(id, uri)`.
    pub extensions: Vec<(u16, String)>,
    /// Sources the client announced for what it sends here.
    pub receive_ssrcs: Vec<ReceiveSsrc>,
    /// Rids the client sends here (simulcast, RFC 8851).
    pub receive_rids: Vec<String>,
    /// What the SFU sends here.
    pub send: Option<SendStream>,
    /// The local track this mid carries.
    pub published: Option<PublishedTrack>,
    /// The remote track this mid carries.
    pub pulled: Option<PulledTrack>,
}

impl Transceiver {
    /// An audio or video section not negotiated yet.
    pub fn new(mid: impl Into<String>, kind: MediaKind) -> Transceiver {
        Transceiver {
            mid: mid.into(),
            kind,
            direction: Direction::Inactive,
            codecs: Vec::new(),
            extensions: Vec::new(),
            receive_ssrcs: Vec::new(),
            receive_rids: Vec::new(),
            send: None,
            published: None,
            pulled: None,
        }
    }

    /// Whether this is an audio or video section.
    pub fn is_media(&self) -> bool {
        matches!(self.kind, MediaKind::Audio | MediaKind::Video)
    }

    /// The id negotiated for a header extension URI.
    pub fn extension_id(&self, uri: &str) -> Option<u16> {
        self.extensions.iter().find(|(_, u)| u == uri).map(|(id, _)| *id)
    }
}

/// An SFU offer waiting for the client's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingOffer {
    /// The offer as sent.
    pub offer: SessionDescription,
    /// The sections it adds, with what they will carry.
    pub added: Vec<Transceiver>,
}

/// Why an answer to an SFU offer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// No SFU offer waits for an answer.
    #[error("no offer from the SFU is waiting for an answer")]
    NoPendingOffer,
    /// The answer's m-sections are not the offer's (count, order or mids differ; RFC 3264 §6).
    #[error("the answer's m-sections do not match the offer's (RFC 3264 §6: same count, order and mids)")]
    SectionsMismatch,
}

/// What the router needs of a session: its negotiated audio and video transceivers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionMedia {
    /// Audio and video transceivers, in m-line order, not-negotiated ones left out.
    pub transceivers: Vec<Transceiver>,
}

impl SessionMedia {
    /// The transceiver of a mid.
    pub fn transceiver(&self, mid: &str) -> Option<&Transceiver> {
        self.transceivers.iter().find(|t| t.mid == mid)
    }
}

/// The negotiation state of one session. See the module documentation.
#[derive(Debug, Clone, Default)]
pub struct Negotiation {
    local: Option<LocalParameters>,
    local_description: Option<SessionDescription>,
    remote_description: Option<SessionDescription>,
    pending: Option<PendingOffer>,
    transceivers: Vec<Transceiver>,
    cname: String,
    third_party: bool,
}

impl Negotiation {
    /// A session that has not negotiated yet; `cname` is the RTCP CNAME of what the SFU
    /// sends it.
    pub fn new(cname: String) -> Negotiation {
        Negotiation { cname, ..Negotiation::default() }
    }

    /// The RTCP CNAME of the streams the SFU sends this session.
    pub fn cname(&self) -> &str {
        &self.cname
    }

    /// Our parameters, once the session has ICE credentials.
    pub fn local_parameters(&self) -> Option<&LocalParameters> {
        self.local.as_ref()
    }

    /// Sets our parameters (ICE credentials, fingerprint, candidates), before the first
    /// description. A third-party session marks them so ([`LocalParameters::third_party`]).
    pub fn set_local_parameters(&mut self, mut local: LocalParameters) {
        local.third_party |= self.third_party;
        self.local = Some(local);
    }

    /// Makes this a third-party session (`sessions/new?thirdparty=true`): its peer is
    /// ICE-lite, we run full controlling ICE. Set before the first description.
    pub fn set_third_party(&mut self) {
        self.third_party = true;
        if let Some(local) = &mut self.local {
            local.third_party = true;
        }
    }

    /// Whether this is a third-party session.
    pub fn is_third_party(&self) -> bool {
        self.third_party
    }

    /// Replaces our ICE credentials (an ICE restart, RFC 8445 §9): the next description
    /// carries them.
    pub fn set_ice_credentials(&mut self, ufrag: &str, pwd: &str) {
        if let Some(local) = &mut self.local {
            local.ice_ufrag = ufrag.to_owned();
            local.ice_pwd = pwd.to_owned();
        }
    }

    /// An ICE restart carried outside an offer (a WHIP or WHEP `PATCH`, RFC 9725 §4.3.2):
    /// our new credentials and the client's replace the old ones in the parameters and in
    /// both current descriptions, so a later offer is compared with the credentials in use.
    pub fn restart_ice(&mut self, local: (&str, &str), remote: (&str, &str)) {
        self.set_ice_credentials(local.0, local.1);
        let rewrite = |d: &mut SessionDescription, (ufrag, pwd): (&str, &str)| {
            let sections = std::iter::once(&mut d.attributes)
                .chain(d.media.iter_mut().map(|m| &mut m.attributes));
            for attributes in sections {
                for a in attributes.iter_mut() {
                    match a {
                        Attribute::IceUfrag(u) => *u = ufrag.to_owned(),
                        Attribute::IcePwd(p) => *p = pwd.to_owned(),
                        _ => {}
                    }
                }
            }
        };
        if let Some(d) = &mut self.local_description {
            rewrite(d, local);
        }
        if let Some(d) = &mut self.remote_description {
            rewrite(d, remote);
        }
    }

    /// Records our DTLS role once the PeerConnection exists, so later answers keep it
    /// (RFC 8842): `Passive` as DTLS server, `Active` as client.
    pub fn set_dtls_role(&mut self, role: Setup) {
        if let Some(local) = &mut self.local {
            local.dtls_role = Some(role);
        }
    }

    /// The current local description (our last answer, or our last offer once answered).
    pub fn local_description(&self) -> Option<&SessionDescription> {
        self.local_description.as_ref()
    }

    /// The current remote description.
    pub fn remote_description(&self) -> Option<&SessionDescription> {
        self.remote_description.as_ref()
    }

    /// The SFU offer waiting for its answer.
    pub fn pending(&self) -> Option<&PendingOffer> {
        self.pending.as_ref()
    }

    /// The negotiated transceivers, in m-line order.
    pub fn transceivers(&self) -> &[Transceiver] {
        &self.transceivers
    }

    /// The transceiver of a mid.
    pub fn transceiver(&self, mid: &str) -> Option<&Transceiver> {
        self.transceivers.iter().find(|t| t.mid == mid)
    }

    /// The transceiver of a mid, to name what it carries.
    pub fn transceiver_mut(&mut self, mid: &str) -> Option<&mut Transceiver> {
        self.transceivers.iter_mut().find(|t| t.mid == mid)
    }

    /// What the router needs.
    pub fn media(&self) -> SessionMedia {
        SessionMedia {
            transceivers: self
                .transceivers
                .iter()
                .filter(|t| t.is_media() && t.direction != Direction::Inactive)
                .cloned()
                .collect(),
        }
    }

    /// Whether a mid is used by any section negotiated, offered or pending.
    pub fn is_mid_used(&self, mid: &str) -> bool {
        let in_description = |d: Option<&SessionDescription>| {
            d.is_some_and(|d| d.media.iter().any(|m| m.mid() == Some(mid)))
        };
        self.transceivers.iter().any(|t| t.mid == mid)
            || in_description(self.local_description.as_ref())
            || in_description(self.remote_description.as_ref())
            || self.pending.as_ref().is_some_and(|p| {
                p.added.iter().any(|t| t.mid == mid) || in_description(Some(&p.offer))
            })
    }

    /// The smallest non-negative number not used as a mid (see [`Negotiation::is_mid_used`]).
    pub fn next_mid(&self) -> String {
        (0u64..).map(|n| n.to_string()).find(|n| !self.is_mid_used(n)).unwrap_or_default()
    }

    /// Whether an SSRC is already used in this session, by the client (`a=ssrc` lines of its
    /// descriptions) or by what the SFU sends.
    pub fn ssrc_in_use(&self, ssrc: u32) -> bool {
        let in_description = |d: Option<&SessionDescription>| {
            d.is_some_and(|d| d.media.iter().any(|m| m.ssrcs().iter().any(|s| s.ssrc == ssrc)))
        };
        let sends = |t: &Transceiver| {
            t.send.as_ref().is_some_and(|s| s.ssrc == ssrc || s.rtx_ssrc == Some(ssrc))
        };
        self.transceivers.iter().any(sends)
            || self.pending.as_ref().is_some_and(|p| p.added.iter().any(sends))
            || in_description(self.remote_description.as_ref())
    }

    /// The `o=` version of our next description: the first one keeps the parameters' own,
    /// each later one is one more (RFC 3264 §8).
    fn next_parameters(&self) -> Result<LocalParameters, NegotiationError> {
        let mut local = self.local.clone().ok_or(NegotiationError::InvalidRequest {
            reason: "the session has no ICE credentials yet",
        })?;
        if self.local_description.is_some() || self.pending.is_some() {
            local.session_version = local.session_version.saturating_add(1);
        }
        Ok(local)
    }

    /// Writes the answer to a client offer, changing nothing (see [`Negotiation::commit_answer`]).
    pub fn prepare_answer(
        &self,
        offer: &SessionDescription,
        options: &AnswerOptions,
    ) -> Result<SessionDescription, NegotiationError> {
        create_answer(offer, &self.next_parameters()?, options)
    }

    /// Makes a client offer and our answer the current descriptions and recomputes the
    /// transceivers. `added` are new transceivers that carry what the caller named (a pull
    /// answered to the client's offer).
    pub fn commit_answer(&mut self, offer: SessionDescription, answer: SessionDescription) {
        if let Some(local) = &mut self.local {
            local.session_version = answer.origin.session_version;
        }
        self.apply(answer, offer, false);
    }

    /// Writes an SFU offer: every section negotiated so far, then `media`, changing nothing
    /// (see [`Negotiation::set_pending`]).
    pub fn prepare_offer(
        &self,
        media: Vec<OfferMedia>,
    ) -> Result<SessionDescription, NegotiationError> {
        let options =
            OfferOptions { previous: self.local_description.as_ref(), media, stopped: Vec::new() };
        create_offer(&self.next_parameters()?, &options)
    }

    /// Writes an SFU offer that changes existing sections as `media` says (by mid), stops
    /// the sections of `stopped` (port 0, RFC 8829 §5.2.2) and offers every other section as
    /// negotiated, changing nothing (see [`Negotiation::set_pending`]).
    pub fn prepare_offer_changing(
        &self,
        media: Vec<OfferMedia>,
        stopped: Vec<String>,
    ) -> Result<SessionDescription, NegotiationError> {
        let options = OfferOptions { previous: self.local_description.as_ref(), media, stopped };
        create_offer(&self.next_parameters()?, &options)
    }

    /// The mid of the section that carries the BUNDLE transport: the first section of the
    /// current local description that is not rejected (RFC 8843 §7.2.1 tags it).
    pub fn bundle_tag(&self) -> Option<&str> {
        self.local_description
            .as_ref()?
            .media
            .iter()
            .find(|m| !m.is_rejected())
            .and_then(|m| m.mid())
    }

    /// Records an SFU offer as sent; `added` are the transceivers it adds.
    pub fn set_pending(&mut self, offer: SessionDescription, added: Vec<Transceiver>) {
        if let Some(local) = &mut self.local {
            local.session_version = offer.origin.session_version;
        }
        self.pending = Some(PendingOffer { offer, added });
    }

    /// Checks the client's answer against the pending SFU offer without changing anything.
    pub fn check_answer(&self, answer: &SessionDescription) -> Result<(), AnswerError> {
        let pending = self.pending.as_ref().ok_or(AnswerError::NoPendingOffer)?;
        let ours = pending.offer.media.iter().map(|m| m.mid());
        let theirs = answer.media.iter().map(|m| m.mid());
        if pending.offer.media.len() != answer.media.len() || !ours.eq(theirs) {
            return Err(AnswerError::SectionsMismatch);
        }
        Ok(())
    }

    /// Completes the pending SFU offer with the client's answer: the offer and the answer
    /// become the current descriptions, the transceivers are recomputed.
    pub fn accept_answer(&mut self, answer: SessionDescription) -> Result<(), AnswerError> {
        self.check_answer(&answer)?;
        let pending = self.pending.take().ok_or(AnswerError::NoPendingOffer)?;
        for added in pending.added {
            match self.transceivers.iter_mut().find(|t| t.mid == added.mid) {
                Some(existing) => *existing = added,
                None => self.transceivers.push(added),
            }
        }
        self.apply(pending.offer, answer, true);
        Ok(())
    }

    /// Adds transceivers that a commit will negotiate (a pull answered to a client offer
    /// names its mid before the answer is committed).
    pub fn add_transceivers(&mut self, added: Vec<Transceiver>) {
        for added in added {
            match self.transceivers.iter_mut().find(|t| t.mid == added.mid) {
                Some(existing) => {
                    existing.send = added.send;
                    existing.pulled = added.pulled;
                }
                None => self.transceivers.push(added),
            }
        }
    }

    /// Recomputes every transceiver from a completed offer/answer exchange.
    fn apply(&mut self, local: SessionDescription, remote: SessionDescription, we_offered: bool) {
        let answer = if we_offered { &remote } else { &local };
        for ours in &local.media {
            let Some(mid) = ours.mid() else { continue };
            let index = match self.transceivers.iter().position(|t| t.mid == mid) {
                Some(index) => index,
                None => {
                    self.transceivers.push(Transceiver::new(mid, ours.kind.clone()));
                    self.transceivers.len() - 1
                }
            };
            let Some(t) = self.transceivers.get_mut(index) else { continue };
            t.kind = ours.kind.clone();
            let theirs = remote.media_by_mid(mid);
            let answered = answer.media_by_mid(mid);
            let (Some(theirs), Some(answered)) = (theirs, answered) else {
                t.direction = Direction::Inactive;
                continue;
            };
            if ours.is_rejected() || theirs.is_rejected() || !ours.is_rtp() {
                t.direction = Direction::Inactive;
                t.codecs.clear();
                t.extensions.clear();
                continue;
            }
            // RFC 3264 §6.1: each side's direction from its own description; we send what we
            // said we send and they said they receive, and the reverse.
            let ours_direction = local.direction(ours);
            let theirs_direction = remote.direction(theirs).reverse();
            t.direction = Direction::from_flags(
                ours_direction.sends() && theirs_direction.sends(),
                ours_direction.receives() && theirs_direction.receives(),
            );
            t.codecs = answered.codecs();
            t.extensions =
                answer.header_extensions(answered).iter().map(|e| (e.id, e.uri.clone())).collect();
            let fid = theirs.fid_groups();
            t.receive_ssrcs = theirs
                .ssrcs()
                .iter()
                .filter(|s| !fid.iter().any(|(_, rtx)| *rtx == s.ssrc))
                .map(|s| ReceiveSsrc { ssrc: s.ssrc, rtx: theirs.rtx_ssrc_for(s.ssrc) })
                .collect();
            t.receive_rids = theirs
                .rids()
                .filter(|r| r.direction == crate::sdp::RidDirection::Send)
                .map(|r| r.id.clone())
                .collect();
            if !t.direction.sends() {
                // Nothing goes out on this mid: what was set aside for it is dropped.
                t.send = None;
                t.pulled = None;
            }
            if !t.direction.receives() {
                t.receive_ssrcs.clear();
            }
        }
        self.local_description = Some(local);
        self.remote_description = Some(remote);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::{Fingerprint, MediaAnswer, Msid};

    /// A Chrome-like offer: audio (mid 0) and video with RTX (mid 1), both `direction`.
    fn offer(direction: &str, version: u64) -> SessionDescription {
        SessionDescription::parse(&format!(
            "v=0\r\no=- 99 {version} IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
             m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:Oyef\r\n\
             a=ice-pwd:6ETIa2xVMzVhwMsUEhuGnPqw\r\n\
             a=fingerprint:sha-256 5E:0B:41:C8:2C:B0:12:1A:56:A1:1C:8B:E3:0F:1A:42:2F:07:54:B6:77:1F:41:3F:D4:21:54:0A:7D:86:D2:EB\r\n\
             a=setup:actpass\r\na=mid:0\r\na=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n\
             a={direction}\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=ssrc:11 cname:c\r\n\
             m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n\
             a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n\
             a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n\
             a={direction}\r\na=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\n\
             a=fmtp:97 apt=96\r\na=ssrc-group:FID 21 22\r\na=ssrc:21 cname:c\r\na=ssrc:22 cname:c\r\n"
        ))
        .unwrap()
    }

    fn negotiation() -> Negotiation {
        let mut n = Negotiation::new("sfu-cname".into());
        n.set_local_parameters(LocalParameters::new(
            7,
            "sfuU",
            "sfupasswordsfupassword",
            Fingerprint::sha256([1; 32]),
            vec!["192.0.2.1:3478".parse().unwrap()],
        ));
        n
    }

    fn stream(ssrc: u32) -> SendStream {
        SendStream {
            ssrc,
            rtx_ssrc: Some(ssrc + 1),
            cname: "sfu-cname".into(),
            msid: Msid::new("p", "t"),
        }
    }

    #[test]
    fn a_push_is_received_with_the_announced_sources() {
        let mut n = negotiation();
        let first = offer("sendonly", 1);
        let answer = n.prepare_answer(&first, &AnswerOptions::default()).unwrap();
        assert!(n.local_description().is_none(), "prepare changes nothing");
        assert_eq!(answer.origin.session_version, 1);
        n.commit_answer(first, answer);
        let video = n.transceiver("1").unwrap();
        assert_eq!(video.direction, Direction::RecvOnly);
        assert_eq!(video.receive_ssrcs, [ReceiveSsrc { ssrc: 21, rtx: Some(22) }]);
        assert_eq!(video.codecs.iter().map(|c| c.payload_type).collect::<Vec<_>>(), [96, 97]);
        assert_eq!(video.extension_id(crate::sdp::extension_uri::SDES_MID), Some(4));
        assert_eq!(n.media().transceivers.len(), 2);
        assert!(n.ssrc_in_use(21) && n.ssrc_in_use(22) && !n.ssrc_in_use(23));
        assert_eq!(n.next_mid(), "2");
        // A re-offer: the version moves on.
        let again = offer("sendonly", 2);
        let answer = n.prepare_answer(&again, &AnswerOptions::default()).unwrap();
        assert_eq!(answer.origin.session_version, 2);
    }

    #[test]
    fn an_sfu_offer_completes_with_the_answer() {
        let mut n = negotiation();
        let first = offer("sendonly", 1);
        let answer = n.prepare_answer(&first, &AnswerOptions::default()).unwrap();
        n.commit_answer(first, answer);

        let mid = n.next_mid();
        let mut added = Transceiver::new(mid.clone(), MediaKind::Video);
        added.send = Some(stream(1000));
        let sfu_offer = n
            .prepare_offer(vec![OfferMedia::send(mid.clone(), MediaKind::Video, stream(1000))])
            .unwrap();
        assert_eq!(sfu_offer.media.len(), 3);
        assert_eq!(sfu_offer.origin.session_version, 2);
        n.set_pending(sfu_offer.clone(), vec![added]);
        assert!(n.pending().is_some());
        assert!(n.ssrc_in_use(1000) && n.ssrc_in_use(1001));
        assert_eq!(n.next_mid(), "3");

        // The client's answer, written here with the SFU's own answer writer.
        let mut client = LocalParameters::new(
            5,
            "cliU",
            "clientpasswordclientpw",
            Fingerprint::sha256([2; 32]),
            vec![],
        );
        client.dtls_role = Some(Setup::Active);
        // The client keeps sending on its own sections, and receives the new one.
        let options = AnswerOptions::default()
            .with("0", MediaAnswer::send(stream(11)))
            .with("1", MediaAnswer::send(stream(21)));
        let reply = create_answer(&sfu_offer, &client, &options).unwrap();
        // A reply with other sections is refused and changes nothing.
        let mut wrong = reply.clone();
        wrong.media.pop();
        assert_eq!(n.accept_answer(wrong), Err(AnswerError::SectionsMismatch));
        assert!(n.pending().is_some());

        n.accept_answer(reply).unwrap();
        assert!(n.pending().is_none());
        let pulled = n.transceiver(&mid).unwrap();
        assert_eq!(pulled.direction, Direction::SendOnly);
        assert_eq!(pulled.send.as_ref().unwrap().ssrc, 1000);
        assert!(pulled.codecs.iter().any(|c| c.name == "VP8"));
        // The push sections are still received.
        assert_eq!(n.transceiver("0").unwrap().direction, Direction::RecvOnly);
        assert_eq!(n.accept_answer(offer("recvonly", 3)), Err(AnswerError::NoPendingOffer));
    }

    #[test]
    fn a_rejected_pull_drops_its_stream() {
        let mut n = negotiation();
        let mid = n.next_mid();
        assert_eq!(mid, "0");
        let mut added = Transceiver::new(mid.clone(), MediaKind::Audio);
        added.send = Some(stream(50));
        let sfu_offer =
            n.prepare_offer(vec![OfferMedia::send(&mid, MediaKind::Audio, stream(50))]).unwrap();
        assert_eq!(sfu_offer.origin.session_version, 1, "the first description keeps version 1");
        n.set_pending(sfu_offer.clone(), vec![added]);
        let client = LocalParameters::new(
            5,
            "cliU",
            "clientpasswordclientpw",
            Fingerprint::sha256([2; 32]),
            vec![],
        );
        let options = AnswerOptions::default().with(mid.clone(), MediaAnswer::Reject);
        let reply = create_answer(&sfu_offer, &client, &options).unwrap();
        n.accept_answer(reply).unwrap();
        let t = n.transceiver(&mid).unwrap();
        assert_eq!(t.direction, Direction::Inactive);
        assert!(n.media().transceivers.is_empty());
    }

    #[test]
    fn no_description_without_credentials() {
        let n = Negotiation::new("c".into());
        assert!(matches!(
            n.prepare_answer(&offer("sendonly", 1), &AnswerOptions::default()),
            Err(NegotiationError::InvalidRequest { .. })
        ));
        assert!(n.prepare_offer(Vec::new()).is_err());
    }
}
