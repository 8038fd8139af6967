//! What the SFU can negotiate: codecs per media kind in preference order, their RTX and
//! RTCP feedback, header extensions by URI, and SCTP parameters. Also the rules that
//! decide whether an offered payload type is one of these codecs.

use super::attribute::{fmtp_get, RtcpFeedback};
use super::h264::H264ProfileLevelId;
use super::media::{Codec, MediaKind};

/// Header extension URIs the SFU knows (RFC 8285 registrations and WebRTC's own).
pub mod extension_uri {
    /// RFC 8843: the mid of the m-section a packet belongs to.
    pub const SDES_MID: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
    /// RFC 6464: audio level of the sender.
    pub const AUDIO_LEVEL: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
    /// Transport-wide sequence numbers for transport-cc.
    pub const TRANSPORT_CC: &str =
        "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
    /// Absolute send time for REMB.
    pub const ABS_SEND_TIME: &str = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";
    /// RFC 8852: the rid of a simulcast stream.
    pub const SDES_RTP_STREAM_ID: &str = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";
    /// RFC 8852: the rid an RTX stream repairs.
    pub const SDES_REPAIRED_RTP_STREAM_ID: &str =
        "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id";
    /// 3GPP TS 26.114 coordination of video orientation.
    pub const VIDEO_ORIENTATION: &str = "urn:3gpp:video-orientation";
    /// Playout delay limits.
    pub const PLAYOUT_DELAY: &str = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay";
}

/// A codec the SFU accepts, and how it writes it in its own offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecCapability {
    /// Encoding name (`opus`, `VP8`, `VP9`, `H264`, `AV1`).
    pub name: String,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Channels (2 for opus).
    pub channels: Option<u16>,
    /// Format parameters written in offers; for audio also in answers (RFC 7587 §7: opus
    /// parameters describe what the receiver wants).
    pub fmtp: String,
    /// Feedback the SFU supports for this codec.
    pub feedback: Vec<RtcpFeedback>,
    /// Payload type used in the SFU's own offers when it is free.
    pub payload_type: u8,
    /// RTX payload type for the SFU's offers; `None` when RTX is not used with this codec.
    pub rtx_payload_type: Option<u8>,
}

impl CodecCapability {
    /// One format parameter of the capability.
    pub fn fmtp_param(&self, key: &str) -> Option<&str> {
        fmtp_get(&self.fmtp, key)
    }

    /// Whether an offered codec is this one: same name (case-insensitive, RFC 4855 §3),
    /// clock rate and channel count, and the parameters that change the bitstream agree:
    /// VP9 `profile-id`, AV1 `profile`, H.264 `packetization-mode` and profile (RFC 6184
    /// §8.1; the level does not matter, see [`H264ProfileLevelId::answer`]).
    pub fn matches(&self, codec: &Codec) -> bool {
        if !self.name.eq_ignore_ascii_case(&codec.name)
            || self.clock_rate != codec.clock_rate
            || self.channels.unwrap_or(1) != codec.channel_count()
        {
            return false;
        }
        let same_number = |key: &str, default: u32| {
            let ours = self.fmtp_param(key).map_or(Some(default), |v| v.parse::<u32>().ok());
            let theirs = codec.fmtp_param(key).map_or(Some(default), |v| v.parse::<u32>().ok());
            ours.is_some() && ours == theirs
        };
        if self.name.eq_ignore_ascii_case("VP9") {
            // VP9 RTP payload format §6: profile-id defaults to 0.
            same_number("profile-id", 0)
        } else if self.name.eq_ignore_ascii_case("AV1") {
            // AV1 RTP specification §7.2: profile defaults to 0 (Main).
            same_number("profile", 0)
        } else if self.name.eq_ignore_ascii_case("H264") {
            // RFC 6184 §8.1: packetization-mode defaults to 0 and must match.
            let ours = H264ProfileLevelId::from_fmtp(self.fmtp_param("profile-level-id"));
            let theirs = H264ProfileLevelId::from_fmtp(codec.fmtp_param("profile-level-id"));
            same_number("packetization-mode", 0)
                && matches!((ours, theirs), (Some(a), Some(b)) if a.profile == b.profile)
        } else {
            // RTX is paired with its primary codec, never matched on its own.
            !self.name.eq_ignore_ascii_case("rtx")
        }
    }

    fn new(
        name: &str,
        clock_rate: u32,
        channels: Option<u16>,
        fmtp: &str,
        pt: u8,
        rtx: Option<u8>,
    ) -> Self {
        CodecCapability {
            name: name.to_owned(),
            clock_rate,
            channels,
            fmtp: fmtp.to_owned(),
            feedback: Vec::new(),
            payload_type: pt,
            rtx_payload_type: rtx,
        }
    }
}

/// A header extension the SFU accepts, per media kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderExtensionCapability {
    /// Extension URI.
    pub uri: String,
    /// Negotiated in audio sections.
    pub audio: bool,
    /// Negotiated in video sections.
    pub video: bool,
}

/// Everything the SFU negotiates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Audio codecs, most preferred first.
    pub audio_codecs: Vec<CodecCapability>,
    /// Video codecs, most preferred first.
    pub video_codecs: Vec<CodecCapability>,
    /// Header extensions; their order is the order of ids the SFU picks in its offers.
    pub header_extensions: Vec<HeaderExtensionCapability>,
    /// `a=sctp-port` (RFC 8841 §5), 5000 by WebRTC convention.
    pub sctp_port: u16,
    /// `a=max-message-size` (RFC 8841 §6) the SFU can receive.
    pub max_message_size: u64,
}

impl Capabilities {
    /// Codecs for a media kind (empty for data channels and unknown kinds).
    pub fn codecs(&self, kind: &MediaKind) -> &[CodecCapability] {
        match kind {
            MediaKind::Audio => &self.audio_codecs,
            MediaKind::Video => &self.video_codecs,
            _ => &[],
        }
    }

    /// Whether an extension URI is negotiated for a media kind.
    pub fn supports_extension(&self, kind: &MediaKind, uri: &str) -> bool {
        self.header_extensions.iter().any(|e| {
            e.uri == uri
                && match kind {
                    MediaKind::Audio => e.audio,
                    MediaKind::Video => e.video,
                    _ => false,
                }
        })
    }

    /// The capability an offered codec matches, if any.
    pub fn find_codec(&self, kind: &MediaKind, codec: &Codec) -> Option<&CodecCapability> {
        self.codecs(kind).iter().find(|cap| cap.matches(codec))
    }
}

impl Default for Capabilities {
    /// Opus for audio; VP8, VP9 (profiles 0 and 2), H.264 (packetization-mode 1:
    /// Constrained Baseline, Baseline, Main, Constrained High, High) and AV1 for video,
    /// all with RTX; NACK, PLI, FIR, REMB and transport-cc feedback; the header extensions
    /// the router understands; SCTP port 5000 and 256 KiB messages.
    fn default() -> Self {
        let video_feedback = vec![
            RtcpFeedback::new("goog-remb", None),
            RtcpFeedback::new("transport-cc", None),
            RtcpFeedback::new("ccm", Some("fir")),
            RtcpFeedback::new("nack", None),
            RtcpFeedback::new("nack", Some("pli")),
        ];
        let mut opus =
            CodecCapability::new("opus", 48000, Some(2), "minptime=10;useinbandfec=1", 111, None);
        opus.feedback =
            vec![RtcpFeedback::new("transport-cc", None), RtcpFeedback::new("nack", None)];
        let h264 = |profile_level_id: &str, pt: u8| {
            CodecCapability::new(
                "H264",
                90000,
                None,
                &format!("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id={profile_level_id}"),
                pt,
                Some(pt + 1),
            )
        };
        let mut video_codecs = vec![
            CodecCapability::new("VP8", 90000, None, "", 96, Some(97)),
            CodecCapability::new("VP9", 90000, None, "profile-id=0", 98, Some(99)),
            CodecCapability::new("VP9", 90000, None, "profile-id=2", 100, Some(101)),
            h264("42e01f", 102),
            h264("42001f", 104),
            h264("4d001f", 106),
            h264("640c1f", 108),
            h264("64001f", 112),
            CodecCapability::new("AV1", 90000, None, "level-idx=5;profile=0;tier=0", 45, Some(46)),
        ];
        for codec in &mut video_codecs {
            codec.feedback = video_feedback.clone();
        }
        let ext = |uri: &str, audio: bool, video: bool| HeaderExtensionCapability {
            uri: uri.to_owned(),
            audio,
            video,
        };
        Capabilities {
            audio_codecs: vec![opus],
            video_codecs,
            header_extensions: vec![
                ext(extension_uri::SDES_MID, true, true),
                ext(extension_uri::AUDIO_LEVEL, true, false),
                ext(extension_uri::TRANSPORT_CC, true, true),
                ext(extension_uri::ABS_SEND_TIME, true, true),
                ext(extension_uri::SDES_RTP_STREAM_ID, false, true),
                ext(extension_uri::SDES_REPAIRED_RTP_STREAM_ID, false, true),
                ext(extension_uri::VIDEO_ORIENTATION, false, true),
                ext(extension_uri::PLAYOUT_DELAY, false, true),
            ],
            sctp_port: 5000,
            max_message_size: 262_144,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(name: &str, clock_rate: u32, channels: Option<u16>, fmtp: &str) -> Codec {
        Codec {
            payload_type: 100,
            name: name.to_owned(),
            clock_rate,
            channels,
            fmtp: fmtp.to_owned(),
            feedback: Vec::new(),
            rtx_payload_type: None,
        }
    }

    #[test]
    fn opus_needs_two_channels() {
        let caps = Capabilities::default();
        assert!(caps.find_codec(&MediaKind::Audio, &codec("opus", 48000, Some(2), "")).is_some());
        assert!(caps
            .find_codec(&MediaKind::Audio, &codec("OPUS", 48000, Some(2), "stereo=1"))
            .is_some());
        assert!(caps.find_codec(&MediaKind::Audio, &codec("opus", 48000, None, "")).is_none());
        assert!(caps.find_codec(&MediaKind::Audio, &codec("opus", 16000, Some(2), "")).is_none());
        assert!(caps.find_codec(&MediaKind::Video, &codec("opus", 48000, Some(2), "")).is_none());
        assert!(caps.find_codec(&MediaKind::Audio, &codec("PCMU", 8000, Some(1), "")).is_none());
    }

    #[test]
    fn vp9_profiles() {
        let caps = Capabilities::default();
        let p0 = caps.find_codec(&MediaKind::Video, &codec("VP9", 90000, None, "")).unwrap();
        assert_eq!(p0.payload_type, 98);
        let p2 =
            caps.find_codec(&MediaKind::Video, &codec("VP9", 90000, None, "profile-id=2")).unwrap();
        assert_eq!(p2.payload_type, 100);
        assert!(caps
            .find_codec(&MediaKind::Video, &codec("VP9", 90000, None, "profile-id=1"))
            .is_none());
        assert!(caps
            .find_codec(&MediaKind::Video, &codec("VP9", 90000, None, "profile-id=x"))
            .is_none());
    }

    #[test]
    fn h264_by_profile_and_packetization_mode() {
        let caps = Capabilities::default();
        let find = |fmtp: &str| {
            caps.find_codec(&MediaKind::Video, &codec("H264", 90000, None, fmtp))
                .map(|c| c.payload_type)
        };
        assert_eq!(
            find("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"),
            Some(102)
        );
        // Another level of the same profile is the same codec.
        assert_eq!(find("packetization-mode=1;profile-level-id=42e034"), Some(102));
        assert_eq!(find("packetization-mode=1;profile-level-id=42c01f"), Some(102));
        assert_eq!(find("packetization-mode=1;profile-level-id=42001f"), Some(104));
        assert_eq!(find("packetization-mode=1;profile-level-id=4d001f"), Some(106));
        assert_eq!(find("packetization-mode=1;profile-level-id=640c1f"), Some(108));
        assert_eq!(find("packetization-mode=1;profile-level-id=64001f"), Some(112));
        // Absent profile-level-id means Baseline (RFC 6184 §8.1).
        assert_eq!(find("packetization-mode=1"), Some(104));
        // packetization-mode 0 is not offered by the SFU.
        assert_eq!(
            find("level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f"),
            None
        );
        assert_eq!(find("profile-level-id=42e01f"), None);
        assert_eq!(find("packetization-mode=1;profile-level-id=f4001f"), None);
        assert_eq!(find("packetization-mode=1;profile-level-id=garbage"), None);
    }

    #[test]
    fn av1_and_rtx() {
        let caps = Capabilities::default();
        assert!(caps.find_codec(&MediaKind::Video, &codec("AV1", 90000, None, "")).is_some());
        assert!(caps
            .find_codec(&MediaKind::Video, &codec("AV1", 90000, None, "profile=1"))
            .is_none());
        assert!(caps.find_codec(&MediaKind::Video, &codec("rtx", 90000, None, "apt=96")).is_none());
        assert!(caps.supports_extension(&MediaKind::Audio, extension_uri::AUDIO_LEVEL));
        assert!(!caps.supports_extension(&MediaKind::Video, extension_uri::AUDIO_LEVEL));
        assert!(!caps.supports_extension(&MediaKind::Application, extension_uri::SDES_MID));
    }
}
