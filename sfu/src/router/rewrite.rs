//! What one subscriber's copy of a packet changes: the payload type (by codec), the header
//! extension ids (by URI), and the sequence number and timestamp, kept continuous per
//! outgoing stream when its source changes.
//!
//! The maps are tables built once per negotiation; applying them per packet is an index.

use std::time::{Duration, Instant};

use crate::sdp::{extension_uri, Codec, CodecCapability};

/// No mapping in a [`PayloadTypeMap`].
const UNMAPPED: u8 = 0xff;

/// Publisher payload type → subscriber payload type, for the codecs both negotiated.
#[derive(Clone, PartialEq, Eq)]
pub struct PayloadTypeMap {
    map: [u8; 128],
}

impl std::fmt::Debug for PayloadTypeMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pairs: Vec<(usize, u8)> = self
            .map
            .iter()
            .enumerate()
            .filter(|(_, to)| **to != UNMAPPED)
            .map(|(from, to)| (from, *to))
            .collect();
        f.debug_struct("PayloadTypeMap").field("map", &pairs).finish()
    }
}

/// Whether two negotiated codecs are the same bitstream format: same name (any case), clock
/// rate and channels, and the parameters that change the bitstream agree (VP9 profile-id,
/// AV1 profile, H.264 packetization-mode and profile; see [`CodecCapability::matches`]).
pub fn same_format(a: &Codec, b: &Codec) -> bool {
    let as_capability = CodecCapability {
        name: a.name.clone(),
        clock_rate: a.clock_rate,
        channels: a.channels,
        fmtp: a.fmtp.clone(),
        feedback: Vec::new(),
        payload_type: a.payload_type,
        rtx_payload_type: None,
    };
    !a.is_rtx() && !b.is_rtx() && as_capability.matches(b)
}

impl PayloadTypeMap {
    /// Maps every publisher codec to the subscriber's payload type of the same format; RTX
    /// and codecs the subscriber lacks stay unmapped.
    pub fn new(publisher: &[Codec], subscriber: &[Codec]) -> PayloadTypeMap {
        let mut map = [UNMAPPED; 128];
        for p in publisher {
            let Some(slot) = map.get_mut(usize::from(p.payload_type)) else { continue };
            if let Some(s) = subscriber.iter().find(|s| same_format(p, s)) {
                if s.payload_type < 128 {
                    *slot = s.payload_type;
                }
            }
        }
        PayloadTypeMap { map }
    }

    /// Each codec's RTX payload type (RFC 4588 §8.6, `apt`), by the codec's payload type.
    pub fn rtx_of(codecs: &[Codec]) -> PayloadTypeMap {
        let mut map = [UNMAPPED; 128];
        for codec in codecs.iter().filter(|c| !c.is_rtx()) {
            let (Some(slot), Some(rtx)) =
                (map.get_mut(usize::from(codec.payload_type)), codec.rtx_payload_type)
            else {
                continue;
            };
            if rtx < 128 {
                *slot = rtx;
            }
        }
        PayloadTypeMap { map }
    }

    /// The subscriber's payload type for a publisher's.
    #[inline]
    pub fn get(&self, publisher: u8) -> Option<u8> {
        self.map.get(usize::from(publisher)).copied().filter(|pt| *pt != UNMAPPED)
    }
}

/// Header extensions that describe the publisher's transport or stream layout and must not
/// reach a subscriber as they are: the mid and rids name the publisher's sections (the
/// subscriber's SSRC already says which section a packet is for), and transport-wide
/// sequence numbers count the publisher's transport, not ours.
const NOT_FORWARDED: [&str; 4] = [
    extension_uri::SDES_MID,
    extension_uri::SDES_RTP_STREAM_ID,
    extension_uri::SDES_REPAIRED_RTP_STREAM_ID,
    extension_uri::TRANSPORT_CC,
];

/// Publisher extension id → subscriber extension id, by URI (RFC 8285); 0 drops the element.
#[derive(Clone, PartialEq, Eq)]
pub struct ExtensionMap {
    map: [u8; 256],
}

impl std::fmt::Debug for ExtensionMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pairs: Vec<(usize, u8)> = self
            .map
            .iter()
            .enumerate()
            .filter(|(_, to)| **to != 0)
            .map(|(from, to)| (from, *to))
            .collect();
        f.debug_struct("ExtensionMap").field("map", &pairs).finish()
    }
}

impl ExtensionMap {
    /// Maps each publisher extension the subscriber negotiated too, except those that
    /// describe the publisher's own sections and transport (mid, rids, transport-wide
    /// sequence numbers).
    pub fn new(publisher: &[(u16, String)], subscriber: &[(u16, String)]) -> ExtensionMap {
        let mut map = [0u8; 256];
        for (from, uri) in publisher {
            if NOT_FORWARDED.contains(&uri.as_str()) {
                continue;
            }
            let to = subscriber.iter().find(|(_, u)| u == uri).map(|(id, _)| *id);
            if let (Ok(from), Some(Ok(to))) = (u8::try_from(*from), to.map(u8::try_from)) {
                if let Some(slot) = map.get_mut(usize::from(from)) {
                    *slot = to;
                }
            }
        }
        ExtensionMap { map }
    }

    /// The subscriber's id for a publisher's element id; `None` drops it. In a one-byte block
    /// (RFC 8285 §4.2) only ids 1-14 fit, so larger ones are dropped too.
    #[inline]
    pub fn get(&self, publisher: u8, one_byte: bool) -> Option<u8> {
        let to = self.map.get(usize::from(publisher)).copied().unwrap_or(0);
        (to != 0 && (!one_byte || to <= 14)).then_some(to)
    }
}

/// The output sequence number and timestamp of one outgoing stream.
///
/// Output = input + offset. The first source starts at `initial` (random per stream, RFC
/// 3550 §5.1); when the source changes (another SSRC behind the same outgoing stream), the
/// offsets are chosen so that the sequence number follows the last one sent and the
/// timestamp advances by the time elapsed since the last packet, so decoders never see a
/// jump back or a gap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceRewriter {
    source: Option<u32>,
    initial: (u16, u32),
    seq_offset: u16,
    ts_offset: u32,
    /// Newest output sequence number and its timestamp, and when it was sent.
    newest: Option<(u16, u32, Instant)>,
    /// The output sequence number of the current source's first packet.
    first_output: Option<u16>,
}

impl SequenceRewriter {
    /// A stream whose first packet goes out as `(sequence number, timestamp)` `initial`.
    pub fn new(initial: (u16, u32)) -> SequenceRewriter {
        SequenceRewriter {
            source: None,
            initial,
            seq_offset: 0,
            ts_offset: 0,
            newest: None,
            first_output: None,
        }
    }

    /// The next packet starts a new source, whatever its SSRC (the stream now carries
    /// another track, whose publisher may use the same SSRC): it is re-based to follow the
    /// newest packet sent.
    pub fn restart_source(&mut self) {
        self.source = None;
    }

    /// The output `(sequence number, timestamp)` of a packet of source `ssrc`; `clock_rate`
    /// is the stream's RTP clock (Hz).
    pub fn rewrite(
        &mut self,
        now: Instant,
        ssrc: u32,
        sequence_number: u16,
        timestamp: u32,
        clock_rate: u32,
    ) -> (u16, u32) {
        if self.source != Some(ssrc) {
            let (next_seq, next_ts) = match self.newest {
                None => self.initial,
                Some((seq, ts, at)) => {
                    let elapsed = now.saturating_duration_since(at);
                    (seq.wrapping_add(1), ts.wrapping_add(ticks(elapsed, clock_rate).max(1)))
                }
            };
            self.seq_offset = next_seq.wrapping_sub(sequence_number);
            self.ts_offset = next_ts.wrapping_sub(timestamp);
            self.source = Some(ssrc);
            self.first_output = Some(next_seq);
            // The first packet of the new source is the newest from here on.
            self.newest = Some((next_seq, next_ts, now));
            return (next_seq, next_ts);
        }
        let out =
            (sequence_number.wrapping_add(self.seq_offset), timestamp.wrapping_add(self.ts_offset));
        let newer = self.newest.is_none_or(|(seq, _, _)| rtp::seq_newer(out.0, seq));
        if newer {
            self.newest = Some((out.0, out.1, now));
        }
        out
    }
}

impl SequenceRewriter {
    /// The source whose packets the offsets apply to.
    pub fn source(&self) -> Option<u32> {
        self.source
    }

    /// The current source's sequence number behind output sequence number `output`; `None`
    /// when `output` went out before the current source started (another source's packet).
    pub fn input_sequence(&self, output: u16) -> Option<u16> {
        let first = self.first_output?;
        (output == first || rtp::seq_newer(output, first))
            .then(|| output.wrapping_sub(self.seq_offset))
    }

    /// The output timestamp of the source's timestamp `input`.
    pub fn output_timestamp(&self, input: u32) -> u32 {
        input.wrapping_add(self.ts_offset)
    }
}

/// `elapsed` in ticks of a `clock_rate` Hz clock, saturating at `u32::MAX`.
pub fn ticks(elapsed: Duration, clock_rate: u32) -> u32 {
    let ticks = elapsed.as_micros().saturating_mul(u128::from(clock_rate)) / 1_000_000;
    u32::try_from(ticks).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(pt: u8, name: &str, clock_rate: u32, fmtp: &str) -> Codec {
        Codec {
            payload_type: pt,
            name: name.to_owned(),
            clock_rate,
            channels: (name == "opus").then_some(2),
            fmtp: fmtp.to_owned(),
            feedback: Vec::new(),
            rtx_payload_type: None,
        }
    }

    #[test]
    fn payload_types_follow_the_codec() {
        // Firefox numbers on the publisher side, Chrome's on the subscriber side.
        let publisher = [
            codec(120, "VP8", 90000, ""),
            codec(124, "rtx", 90000, "apt=120"),
            codec(121, "VP9", 90000, "profile-id=0"),
            codec(126, "H264", 90000, "profile-level-id=42e01f;packetization-mode=1"),
            codec(97, "H264", 90000, "profile-level-id=42e01f;packetization-mode=0"),
            codec(109, "opus", 48000, ""),
        ];
        let subscriber = [
            codec(96, "VP8", 90000, ""),
            codec(97, "rtx", 90000, "apt=96"),
            codec(98, "VP9", 90000, "profile-id=2"),
            codec(
                102,
                "H264",
                90000,
                "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
            ),
            codec(111, "opus", 48000, "minptime=10"),
        ];
        let map = PayloadTypeMap::new(&publisher, &subscriber);
        assert_eq!(map.get(120), Some(96));
        assert_eq!(map.get(126), Some(102));
        assert_eq!(map.get(109), Some(111));
        // RTX is never mapped; another VP9 profile and another packetization mode do not
        // match; unknown numbers and numbers above 127 are unmapped.
        for pt in [124, 121, 97, 0, 96, 127, 128, 255] {
            assert_eq!(map.get(pt), None, "{pt}");
        }
        assert!(format!("{map:?}").contains("(120, 96)"));
    }

    #[test]
    fn extension_ids_follow_the_uri_and_drop_the_publishers_own() {
        let publisher = vec![
            (3, extension_uri::SDES_MID.to_owned()),
            (4, extension_uri::ABS_SEND_TIME.to_owned()),
            (7, extension_uri::TRANSPORT_CC.to_owned()),
            (1, extension_uri::AUDIO_LEVEL.to_owned()),
            (10, extension_uri::SDES_RTP_STREAM_ID.to_owned()),
            (13, extension_uri::VIDEO_ORIENTATION.to_owned()),
            (300, extension_uri::PLAYOUT_DELAY.to_owned()),
        ];
        let subscriber = vec![
            (1, extension_uri::SDES_MID.to_owned()),
            (2, extension_uri::ABS_SEND_TIME.to_owned()),
            (3, extension_uri::TRANSPORT_CC.to_owned()),
            (5, extension_uri::AUDIO_LEVEL.to_owned()),
            (20, extension_uri::VIDEO_ORIENTATION.to_owned()),
        ];
        let map = ExtensionMap::new(&publisher, &subscriber);
        assert_eq!(map.get(4, true), Some(2));
        assert_eq!(map.get(1, true), Some(5));
        for dropped in [3, 7, 10, 0, 2, 255] {
            assert_eq!(map.get(dropped, false), None, "{dropped}");
        }
        // Id 20 needs the two-byte form.
        assert_eq!(map.get(13, false), Some(20));
        assert_eq!(map.get(13, true), None);
    }

    #[test]
    fn sequence_numbers_stay_continuous_across_a_source_change() {
        let t0 = Instant::now();
        let mut r = SequenceRewriter::new((65_534, 1_000));
        assert_eq!(r.rewrite(t0, 1, 500, 90_000, 90_000), (65_534, 1_000));
        assert_eq!(r.rewrite(t0, 1, 501, 93_000, 90_000), (65_535, 4_000));
        // Wraps; a reordered older packet keeps its place and does not move `newest`.
        assert_eq!(r.rewrite(t0, 1, 502, 96_000, 90_000), (0, 7_000));
        assert_eq!(r.rewrite(t0, 1, 500, 90_000, 90_000), (65_534, 1_000));
        // Another source 100 ms later: the next number, 100 ms of clock further on.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(r.rewrite(t1, 2, 40_000, 5, 90_000), (1, 7_000 + 9_000));
        assert_eq!(r.rewrite(t1, 2, 40_001, 3_005, 90_000), (2, 19_000));
        // Back to the first source at once: still one more, and at least one tick later.
        assert_eq!(r.rewrite(t1, 1, 503, 99_000, 90_000), (3, 19_001));
    }

    #[test]
    fn a_restarted_source_with_the_same_ssrc_is_rebased() {
        let t0 = Instant::now();
        let mut r = SequenceRewriter::new((100, 1_000));
        assert_eq!(r.rewrite(t0, 7, 9_000, 50_000, 90_000), (100, 1_000));
        assert_eq!(r.rewrite(t0, 7, 9_001, 53_000, 90_000), (101, 4_000));
        // Another publisher behind the stream, by chance with the same SSRC, far away in
        // sequence and timestamp: it follows on.
        r.restart_source();
        let t1 = t0 + Duration::from_millis(10);
        assert_eq!(r.rewrite(t1, 7, 300, 77, 90_000), (102, 4_900));
        assert_eq!(r.rewrite(t1, 7, 301, 3_077, 90_000), (103, 7_900));
    }

    #[test]
    fn ticks_saturate() {
        assert_eq!(ticks(Duration::from_millis(20), 48_000), 960);
        assert_eq!(ticks(Duration::from_secs(1), 90_000), 90_000);
        assert_eq!(ticks(Duration::from_secs(1 << 40), 90_000), u32::MAX);
    }
}
