//! What a publisher sends: a video-like stream (frames at 30 per second, cut into packets of
//! a fixed size for a target bitrate, a VP8 payload descriptor on each, a keyframe at a fixed
//! interval or on request) and an opus-like audio stream (one packet every 20 ms).

use std::time::{Duration, Instant};

/// Frames per second of the video.
const FRAME_RATE: u32 = 30;
/// The audio packet interval (opus' default 20 ms frames).
const AUDIO_INTERVAL: Duration = Duration::from_millis(20);
/// Payload bytes of an audio packet (about 32 kbit/s).
pub const AUDIO_PAYLOAD: usize = 80;
/// Bytes of a protected video datagram that are not payload: RTP header (12), the header
/// extensions (12) and the SRTP tag (16), so payload + this is the datagram size.
pub const VIDEO_OVERHEAD: usize = 40;

/// The start of a VP8 keyframe after the payload descriptor: frame tag (P bit clear), start
/// code 0x9d 0x01 0x2a, 640x480 (RFC 6386 §9.1).
const VP8_KEYFRAME: [u8; 10] = [0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
/// The start of an interframe (P bit set).
const VP8_INTERFRAME: [u8; 3] = [0x51, 0x42, 0x00];

/// One packet to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet {
    /// A video packet: its frame's RTP timestamp, whether it ends the frame (marker),
    /// whether it starts the frame and whether that frame is a keyframe.
    Video { timestamp: u32, first: bool, last: bool, keyframe: bool },
    /// An audio packet with its RTP timestamp.
    Audio { timestamp: u32 },
}

/// The send schedule of one publisher.
#[derive(Debug)]
pub struct MediaSchedule {
    bytes_per_frame: u64,
    packet_size: u64,
    keyframe_every: u32,
    next_frame: Instant,
    frame: u32,
    budget: u64,
    keyframe_requested: bool,
    next_audio: Instant,
    audio: u32,
    queued: std::collections::VecDeque<Packet>,
}

impl MediaSchedule {
    /// Video at `bitrate` bits per second in datagrams of `packet_size` bytes, a keyframe
    /// every `keyframe_interval`; both streams start at `start`.
    pub fn new(
        bitrate: u64,
        packet_size: usize,
        keyframe_interval: Duration,
        start: Instant,
    ) -> Self {
        let frames = (keyframe_interval.as_millis() as u64 * u64::from(FRAME_RATE) / 1000).max(1);
        MediaSchedule {
            bytes_per_frame: bitrate / 8 / u64::from(FRAME_RATE),
            packet_size: packet_size as u64,
            keyframe_every: u32::try_from(frames).unwrap_or(u32::MAX),
            next_frame: start,
            frame: 0,
            budget: 0,
            keyframe_requested: false,
            next_audio: start,
            audio: 0,
            queued: std::collections::VecDeque::new(),
        }
    }

    /// Video packets per second this schedule sends on average (at least one per frame).
    pub fn video_packets_per_second(&self) -> f64 {
        (self.bytes_per_frame as f64 / self.packet_size as f64).max(1.0) * f64::from(FRAME_RATE)
    }

    /// The next frame is a keyframe (a PLI arrived).
    pub fn request_keyframe(&mut self) {
        self.keyframe_requested = true;
    }

    /// When the next packet is due.
    pub fn next_due(&self) -> Instant {
        if !self.queued.is_empty() {
            return self.next_frame.min(self.next_audio).min(Instant::now());
        }
        self.next_frame.min(self.next_audio)
    }

    /// The next packet due at `now`, if any. A frame's packets leave back to back, as an
    /// encoder hands them over.
    pub fn poll(&mut self, now: Instant) -> Option<Packet> {
        if let Some(p) = self.queued.pop_front() {
            return Some(p);
        }
        if self.next_audio <= now {
            let timestamp = self.audio.wrapping_mul(960);
            self.audio = self.audio.wrapping_add(1);
            self.next_audio += AUDIO_INTERVAL;
            return Some(Packet::Audio { timestamp });
        }
        if self.next_frame <= now {
            self.budget += self.bytes_per_frame;
            let count = (self.budget / self.packet_size).max(1);
            self.budget = self.budget.saturating_sub(count * self.packet_size);
            let keyframe = self.frame % self.keyframe_every == 0 || self.keyframe_requested;
            self.keyframe_requested = false;
            let timestamp = self.frame.wrapping_mul(90_000 / FRAME_RATE);
            for i in 0..count {
                self.queued.push_back(Packet::Video {
                    timestamp,
                    first: i == 0,
                    last: i + 1 == count,
                    keyframe,
                });
            }
            self.frame = self.frame.wrapping_add(1);
            self.next_frame += Duration::from_secs(1) / FRAME_RATE;
            return self.queued.pop_front();
        }
        None
    }
}

/// Writes the VP8 payload of a video packet into `payload` (its whole length is used).
pub fn vp8_payload(packet: Packet, payload: &mut [u8]) {
    let Packet::Video { first, keyframe, .. } = packet else { return };
    payload.fill(0xa5);
    if payload.is_empty() {
        return;
    }
    // Payload descriptor (RFC 7741 §4.2): S bit on the first packet of a frame, partition 0.
    payload[0] = if first { 0x10 } else { 0x00 };
    if first {
        let header: &[u8] = if keyframe { &VP8_KEYFRAME } else { &VP8_INTERFRAME };
        let n = header.len().min(payload.len() - 1);
        payload[1..1 + n].copy_from_slice(&header[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_second_has_the_bitrate_the_audio_and_a_keyframe() {
        let start = Instant::now();
        let mut s = MediaSchedule::new(2_400_000, 1000, Duration::from_secs(1), start);
        let end = start + Duration::from_millis(999);
        let (mut video, mut audio, mut keyframes) = (0, 0, 0);
        while let Some(p) = s.poll(end) {
            match p {
                Packet::Video { first, keyframe, .. } => {
                    video += 1;
                    keyframes += usize::from(first && keyframe);
                }
                Packet::Audio { .. } => audio += 1,
            }
        }
        assert_eq!(video, 300, "2.4 Mbit/s in 1000-byte packets");
        assert_eq!(audio, 50);
        assert_eq!(keyframes, 1);
        s.request_keyframe();
        let mut payload = [0u8; 100];
        let p = std::iter::from_fn(|| s.poll(end + Duration::from_millis(40)))
            .find(|p| matches!(p, Packet::Video { .. }));
        let p = p.expect("the next frame");
        assert!(matches!(p, Packet::Video { first: true, keyframe: true, .. }), "{p:?}");
        vp8_payload(p, &mut payload);
        let info = rtp::codec::vp8::inspect(&payload).unwrap();
        assert!(info.keyframe && info.start_of_frame);
    }
}
