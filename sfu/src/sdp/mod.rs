//! SDP for the SFU: parser, writer, and the offer/answer rules of an ICE-lite,
//! DTLS-passive, BUNDLE-only WebRTC endpoint.
//!
//! - [`SessionDescription::parse`] reads what Chrome and Firefox send (RFC 8866 with the
//!   WebRTC attributes: BUNDLE RFC 8843, extmap RFC 8285, rid/simulcast RFC 8851/8853,
//!   sctp-port RFC 8841, mid RFC 5888, msid RFC 8830, ssrc RFC 5576, setup/fingerprint
//!   RFC 4145/5763/8122, ICE RFC 8839). Unknown attributes are kept verbatim; a malformed
//!   line is an [`SdpError`] naming the line, for an HTTP 400.
//! - Typed accessors on [`MediaDescription`] (codecs with fmtp, feedback and RTX, header
//!   extensions, direction, mid, msid, SSRCs and FID groups, rids and simulcast, SCTP) and
//!   on [`SessionDescription`] (ICE credentials, fingerprints and setup with the BUNDLE and
//!   session-level fallbacks).
//! - `Display` writes CRLF-terminated SDP in a stable order; parse → write → parse gives an
//!   equal value.
//! - [`create_answer`] answers a client's offer; [`create_offer`] writes the SFU's own
//!   offer (a pull without a client offer).
//!
//! Descriptions are owned values: SDP is parsed once per negotiation, not per packet.
//!
//! # Example: answering a browser's push
//!
//! ```
//! use sfu::sdp::{create_answer, AnswerOptions, Fingerprint, LocalParameters, MediaAnswer, SessionDescription};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let offer = SessionDescription::parse(
//!     "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
//!      a=group:BUNDLE 0\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS\r\n\
//!      m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\n\
//!      a=ice-ufrag:Oyef\r\na=ice-pwd:6ETIa2xVMzVhwMsUEhuGnPqw\r\na=ice-options:trickle\r\n\
//!      a=fingerprint:sha-256 5E:0B:41:C8:2C:B0:12:1A:56:A1:1C:8B:E3:0F:1A:42:2F:07:54:B6:77:1F:41:3F:D4:21:54:0A:7D:86:D2:EB\r\n\
//!      a=setup:actpass\r\na=mid:0\r\na=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n\
//!      a=sendonly\r\na=msid:- 7f4b5d1c-08a9-4f3e-9d52-3e0f6f1b2a11\r\na=rtcp-mux\r\n\
//!      a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:0 PCMU/8000\r\n\
//!      a=ssrc:1001 cname:Hq3x\r\n",
//! )?;
//! let audio = &offer.media[0];
//! assert_eq!(audio.codecs()[0].name, "opus");
//! assert_eq!(offer.ice_credentials(audio).map(|c| c.ufrag), Some("Oyef"));
//!
//! let local = LocalParameters::new(
//!     1,
//!     "sfu1",
//!     "0123456789abcdefghijkl",
//!     Fingerprint::sha256([0x42; 32]),
//!     vec!["192.0.2.1:443".parse()?, "[2001:db8::1]:443".parse()?],
//! );
//! let options = AnswerOptions::default().with("0", MediaAnswer::receive());
//! let answer = create_answer(&offer, &local, &options)?;
//! let text = answer.to_string(); // the body of the HTTP response
//! assert!(text.contains("a=ice-lite\r\n") && text.contains("a=setup:passive\r\n"));
//! assert!(text.contains("m=audio 443 UDP/TLS/RTP/SAVPF 111\r\n"));
//! assert!(text.contains("a=recvonly\r\n"));
//! assert_eq!(SessionDescription::parse(&text)?, answer);
//! # Ok(())
//! # }
//! ```

mod answer;
mod attribute;
mod candidate;
mod capabilities;
mod error;
mod h264;
mod local;
mod media;
mod offer;
mod rid;
mod session;
mod simulcast;

pub use answer::{create_answer, AnswerOptions, MediaAnswer};
pub use attribute::{
    fmtp_get, fmtp_params, Attribute, Direction, Extmap, Fingerprint, Fmtp, Group, Msid,
    MsidSemantic, Rtcp, RtcpFb, RtcpFeedback, Rtpmap, Setup, SsrcAttribute, SsrcGroup,
};
pub use candidate::{candidate_priority, Candidate, CandidateType, TcpType};
pub use capabilities::{extension_uri, Capabilities, CodecCapability, HeaderExtensionCapability};
pub use error::{NegotiationError, SdpError};
pub use h264::{H264Level, H264Profile, H264ProfileLevelId};
pub use local::{LocalParameters, SendStream};
pub use media::{Codec, MediaDescription, MediaKind, SsrcInfo};
pub use offer::{create_offer, OfferMedia, OfferOptions};
pub use rid::{Rid, RidDirection};
pub use session::{Bandwidth, Connection, IceCredentials, Origin, SessionDescription, Timing};
pub use simulcast::{Simulcast, SimulcastRid, SimulcastStream};
