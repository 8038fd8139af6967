//! Transport-wide congestion control feedback, RTPFB FMT 15
//! (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1).
//!
//! ```text
//!     0                   1                   2                   3
//!     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |V=2|P|  FMT=15 |    PT=205     |           length              |
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |                     SSRC of packet sender                     |
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |                      SSRC of media source                     |
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |      base sequence number     |      packet status count      |
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |                 reference time                | fb pkt. count |
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |          packet chunk         |         packet chunk          |
//!    .                                                               .
//!    |         packet chunk          |  recv delta   |  recv delta   |
//!    .                                                               .
//!    |           recv delta          |  recv delta   | zero padding  |
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Packet chunks give a status per packet from the base sequence number on: run-length
//! chunks (§3.1.3) repeat one 2-bit symbol, status vector chunks (§3.1.4) list 14 one-bit
//! or 7 two-bit symbols. Then one receive delta follows per received packet (§3.1.5): one
//! unsigned octet for "small delta", two signed octets for "large delta", in 250 µs ticks,
//! the first relative to the reference time (in 64 ms units), each next one relative to the
//! previous received packet.

use std::iter::FusedIterator;

use crate::util::{array_u16, array_u32, be_u16};
use crate::Error;

/// One receive delta tick in microseconds (§3.1.5).
pub const DELTA_TICK_US: i64 = 250;
/// One reference time unit in microseconds (§3.1).
pub const REFERENCE_TIME_UNIT_US: i64 = 64_000;

/// A 2-bit packet status symbol (§3.1.1). Open: the reserved value is representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusSymbol(pub u8);

impl StatusSymbol {
    /// Packet not received.
    pub const NOT_RECEIVED: Self = Self(0);
    /// Packet received, small delta (one octet).
    pub const SMALL_DELTA: Self = Self(1);
    /// Packet received, large or negative delta (two octets).
    pub const LARGE_DELTA: Self = Self(2);
    /// Reserved. The draft's own examples call it "received, w/o timestamp"; libwebrtc
    /// refuses it and so does [`crate::Packet`] parsing.
    pub const RESERVED: Self = Self(3);

    /// Octets of receive delta this symbol takes, or `None` for the reserved symbol.
    pub fn delta_len(self) -> Option<usize> {
        match self {
            Self::NOT_RECEIVED => Some(0),
            Self::SMALL_DELTA => Some(1),
            Self::LARGE_DELTA => Some(2),
            _ => None,
        }
    }
}

/// One 16-bit packet status chunk (§3.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketChunk {
    /// T=0: one symbol repeated `run_length` times (13 bits).
    RunLength {
        /// The repeated symbol.
        symbol: StatusSymbol,
        /// How many packets it covers.
        run_length: u16,
    },
    /// T=1, S=0: 14 one-bit symbols, most significant first; 1 is "received, small delta".
    OneBitVector(u16),
    /// T=1, S=1: 7 two-bit symbols, most significant first.
    TwoBitVector(u16),
}

impl PacketChunk {
    /// Decodes a chunk from its 16 bits.
    pub fn from_u16(v: u16) -> Self {
        if v & 0x8000 == 0 {
            Self::RunLength {
                symbol: StatusSymbol(((v >> 13) & 0x03) as u8),
                run_length: v & 0x1fff,
            }
        } else if v & 0x4000 == 0 {
            Self::OneBitVector(v & 0x3fff)
        } else {
            Self::TwoBitVector(v & 0x3fff)
        }
    }

    /// Encodes the chunk in 16 bits (extra high bits of a field are dropped).
    pub fn to_u16(self) -> u16 {
        match self {
            Self::RunLength { symbol, run_length } => {
                (u16::from(symbol.0 & 0x03) << 13) | (run_length & 0x1fff)
            }
            Self::OneBitVector(bits) => 0x8000 | (bits & 0x3fff),
            Self::TwoBitVector(bits) => 0xc000 | (bits & 0x3fff),
        }
    }

    /// How many packet statuses the chunk holds (a last chunk may hold more than the
    /// packet status count still needs; the rest are ignored).
    pub fn status_count(&self) -> usize {
        match self {
            Self::RunLength { run_length, .. } => usize::from(*run_length),
            Self::OneBitVector(_) => 14,
            Self::TwoBitVector(_) => 7,
        }
    }

    /// The symbol at `index`, or `None` past the end of the chunk.
    pub fn symbol(&self, index: usize) -> Option<StatusSymbol> {
        if index >= self.status_count() {
            return None;
        }
        Some(match self {
            Self::RunLength { symbol, .. } => *symbol,
            Self::OneBitVector(bits) => StatusSymbol(((bits >> (13 - index)) & 0x01) as u8),
            Self::TwoBitVector(bits) => StatusSymbol(((bits >> (12 - 2 * index)) & 0x03) as u8),
        })
    }
}

/// Status of one packet in a feedback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TwccStatus {
    /// Not received (yet): no receive delta.
    NotReceived,
    /// Received with a delta of 0..=255 ticks (one octet).
    SmallDelta,
    /// Received with a negative delta or one above 255 ticks (two octets).
    LargeDelta,
}

/// One packet's entry in a feedback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwccPacketStatus {
    /// Transport-wide sequence number.
    pub sequence: u16,
    /// Its status.
    pub status: TwccStatus,
    /// Receive delta in 250 µs ticks, relative to the previous received packet of the
    /// feedback (or to the reference time for the first); `None` when not received.
    pub delta_ticks: Option<i16>,
    /// Arrival time in µs on the feedback sender's clock: reference time plus all deltas
    /// up to this one. `None` when not received.
    pub arrival_us: Option<i64>,
}

impl TwccPacketStatus {
    /// The receive delta in µs.
    pub fn delta_us(&self) -> Option<i64> {
        self.delta_ticks.map(|d| i64::from(d) * DELTA_TICK_US)
    }
}

/// A borrowed transport-wide congestion control feedback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportCc<'a> {
    /// Sender SSRC, media SSRC, base sequence, status count, reference time, fb count.
    fixed: &'a [u8; 16],
    chunks: &'a [u8],
    deltas: &'a [u8],
}

impl<'a> TransportCc<'a> {
    /// Decodes the body of an RTPFB packet with FMT 15. Chunks and deltas are checked
    /// against the packet status count and the length here, so iteration cannot fail.
    pub(crate) fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let (fixed, rest) =
            body.split_first_chunk::<16>().ok_or(Error::Truncated("TWCC feedback header"))?;
        let status_count = array_u16(fixed, 10);
        if status_count == 0 {
            // A feedback about no packet carries nothing; libwebrtc refuses it too.
            return Err(Error::Malformed("TWCC feedback with a packet status count of 0"));
        }
        let mut remaining = usize::from(status_count);
        let mut chunk_len = 0usize;
        let mut delta_len = 0usize;
        while remaining > 0 {
            let chunk = PacketChunk::from_u16(
                be_u16(rest, chunk_len)
                    .ok_or(Error::Truncated("TWCC packet chunks end before the status count"))?,
            );
            chunk_len += 2;
            let used = chunk.status_count().min(remaining);
            match chunk {
                PacketChunk::RunLength { symbol, .. } if used > 0 => {
                    let size = symbol
                        .delta_len()
                        .ok_or(Error::Malformed("TWCC reserved status symbol"))?;
                    delta_len += size * used;
                }
                PacketChunk::RunLength { .. } => {}
                _ => {
                    for i in 0..used {
                        delta_len += chunk
                            .symbol(i)
                            .and_then(StatusSymbol::delta_len)
                            .ok_or(Error::Malformed("TWCC reserved status symbol"))?;
                    }
                }
            }
            remaining -= used;
        }
        let (chunks, rest) = rest
            .split_at_checked(chunk_len)
            .ok_or(Error::Truncated("TWCC packet chunks end before the status count"))?;
        let (deltas, padding) = rest
            .split_at_checked(delta_len)
            .ok_or(Error::Truncated("TWCC receive deltas end before the statuses"))?;
        // What follows the deltas is zero padding to a word boundary: at most 3 octets.
        if padding.len() > 3 {
            return Err(Error::BadLength("TWCC feedback longer than its chunks and deltas"));
        }
        Ok(Self { fixed, chunks, deltas })
    }

    /// SSRC of the packet sender.
    pub fn sender_ssrc(&self) -> u32 {
        array_u32(self.fixed, 0)
    }

    /// SSRC of the media source (any of the sender's; the feedback is transport-wide).
    pub fn media_ssrc(&self) -> u32 {
        array_u32(self.fixed, 4)
    }

    /// Transport-wide sequence number of the first packet reported.
    pub fn base_sequence(&self) -> u16 {
        array_u16(self.fixed, 8)
    }

    /// Number of packets reported (never 0).
    pub fn status_count(&self) -> u16 {
        array_u16(self.fixed, 10)
    }

    /// Reference time: a 24-bit signed count of 64 ms units.
    pub fn reference_time(&self) -> i32 {
        i32::from_be_bytes([self.fixed[12], self.fixed[13], self.fixed[14], 0]) >> 8
    }

    /// Reference time in µs.
    pub fn reference_time_us(&self) -> i64 {
        i64::from(self.reference_time()) * REFERENCE_TIME_UNIT_US
    }

    /// Feedback packet count: incremented by one per feedback sent, to detect losses.
    pub fn feedback_count(&self) -> u8 {
        self.fixed[15]
    }

    /// The packet status chunks as sent.
    pub fn chunks(&self) -> PacketChunks<'a> {
        PacketChunks { rest: self.chunks }
    }

    /// The receive delta octets.
    pub fn deltas(&self) -> &'a [u8] {
        self.deltas
    }

    /// One entry per reported packet, in sequence order, with arrival times.
    pub fn statuses(&self) -> TwccStatuses<'a> {
        TwccStatuses {
            chunks: self.chunks(),
            deltas: self.deltas,
            remaining: self.status_count(),
            sequence: self.base_sequence(),
            time_ticks: i64::from(self.reference_time()) * (REFERENCE_TIME_UNIT_US / DELTA_TICK_US),
            chunk: None,
            index: 0,
        }
    }
}

/// The packet status chunks of a feedback.
#[derive(Debug, Clone)]
pub struct PacketChunks<'a> {
    rest: &'a [u8],
}

impl Iterator for PacketChunks<'_> {
    type Item = PacketChunk;

    fn next(&mut self) -> Option<PacketChunk> {
        let (chunk, rest) = self.rest.split_first_chunk::<2>()?;
        self.rest = rest;
        Some(PacketChunk::from_u16(u16::from_be_bytes(*chunk)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.rest.len() / 2;
        (n, Some(n))
    }
}

impl ExactSizeIterator for PacketChunks<'_> {}
impl FusedIterator for PacketChunks<'_> {}

/// The per-packet entries of a feedback, decoded from its chunks and deltas.
#[derive(Debug, Clone)]
pub struct TwccStatuses<'a> {
    chunks: PacketChunks<'a>,
    deltas: &'a [u8],
    remaining: u16,
    sequence: u16,
    /// Running arrival time in ticks.
    time_ticks: i64,
    chunk: Option<PacketChunk>,
    index: usize,
}

impl TwccStatuses<'_> {
    /// Ends the iteration; used where the checked layout would be broken.
    fn stop(&mut self) -> Option<TwccPacketStatus> {
        self.remaining = 0;
        None
    }
}

impl Iterator for TwccStatuses<'_> {
    type Item = TwccPacketStatus;

    fn next(&mut self) -> Option<TwccPacketStatus> {
        if self.remaining == 0 {
            return None;
        }
        let symbol = loop {
            if let Some(symbol) = self.chunk.and_then(|c| c.symbol(self.index)) {
                break symbol;
            }
            match self.chunks.next() {
                Some(chunk) => {
                    self.chunk = Some(chunk);
                    self.index = 0;
                }
                None => return self.stop(),
            }
        };
        self.index += 1;
        self.remaining -= 1;
        let sequence = self.sequence;
        self.sequence = sequence.wrapping_add(1);
        let (status, delta) = match symbol {
            StatusSymbol::NOT_RECEIVED => {
                return Some(TwccPacketStatus {
                    sequence,
                    status: TwccStatus::NotReceived,
                    delta_ticks: None,
                    arrival_us: None,
                })
            }
            StatusSymbol::SMALL_DELTA => {
                let Some((&d, rest)) = self.deltas.split_first() else { return self.stop() };
                self.deltas = rest;
                (TwccStatus::SmallDelta, i16::from(d))
            }
            StatusSymbol::LARGE_DELTA => {
                let Some((d, rest)) = self.deltas.split_first_chunk::<2>() else {
                    return self.stop();
                };
                self.deltas = rest;
                (TwccStatus::LargeDelta, i16::from_be_bytes(*d))
            }
            _ => return self.stop(),
        };
        self.time_ticks += i64::from(delta);
        Some(TwccPacketStatus {
            sequence,
            status,
            delta_ticks: Some(delta),
            arrival_us: Some(self.time_ticks * DELTA_TICK_US),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(usize::from(self.remaining)))
    }
}

impl FusedIterator for TwccStatuses<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CompoundIter, Packet};

    fn parse_one(bytes: &[u8]) -> TransportCc<'_> {
        match CompoundIter::new(bytes).next() {
            Some(Ok(Packet::TransportCc(twcc))) => twcc,
            other => panic!("expected TWCC feedback, got {other:?}"),
        }
    }

    // Binary literals are grouped by the draft's fields (T, S, rest), not by nibbles.
    #[allow(clippy::unusual_byte_groupings)]
    #[test]
    fn draft_run_length_examples() {
        // §3.1.3 example 1: |0|0 0|0 0 0 0 0 1 1 0 1 1 1 0 1|
        let c = PacketChunk::from_u16(0b0_00_0000011011101);
        assert_eq!(
            c,
            PacketChunk::RunLength { symbol: StatusSymbol::NOT_RECEIVED, run_length: 221 }
        );
        assert_eq!(c.status_count(), 221);
        assert_eq!(c.to_u16(), 0x00dd);
        // §3.1.3 example 2: |0|1 1|0 0 0 0 0 0 0 0 1 1 0 0 0|
        let c = PacketChunk::from_u16(0b0_11_0000000011000);
        assert_eq!(c, PacketChunk::RunLength { symbol: StatusSymbol::RESERVED, run_length: 24 });
        assert_eq!(c.to_u16(), 0x6018);
    }

    // Binary literals are grouped by the draft's fields (T, S, rest), not by nibbles.
    #[allow(clippy::unusual_byte_groupings)]
    #[test]
    fn draft_status_vector_examples() {
        // §3.1.4 example 1: |1|0|0 1 1 1 1 1 0 0 0 1 1 1 0 0|
        let c = PacketChunk::from_u16(0b1_0_01111100011100);
        assert_eq!(c, PacketChunk::OneBitVector(0b01111100011100));
        assert_eq!(c.to_u16(), 0x9f1c);
        let symbols: Vec<u8> = (0..c.status_count()).map(|i| c.symbol(i).unwrap().0).collect();
        // 1x not received, 5x received, 3x not received, 3x received, 2x not received.
        assert_eq!(symbols, [0, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0]);
        assert_eq!(c.symbol(14), None);
        // §3.1.4 example 2: |1|1|0 0 1 1 0 1 0 1 0 1 0 0 0 0|
        let c = PacketChunk::from_u16(0b1_1_00110101010000);
        assert_eq!(c.to_u16(), 0xcd50);
        let symbols: Vec<u8> = (0..c.status_count()).map(|i| c.symbol(i).unwrap().0).collect();
        // 1x not received, 1x "received, w/o timestamp", 3x received, 2x not received.
        assert_eq!(symbols, [0, 3, 1, 1, 1, 0, 0]);
        assert_eq!(c.symbol(7), None);
    }

    /// A feedback built from the draft's chunk examples: the §3.1.4 one-bit vector, the
    /// §3.1.3 run of 221 "not received", and a two-bit vector of which only the first two
    /// symbols count (the last chunk covers more than the status count).
    const FEEDBACK: [u8; 40] = [
        0x8f, 205, 0x00, 0x09, // V=2, FMT=15, PT=RTPFB, length 9
        0x00, 0x00, 0x00, 0x01, // SSRC of packet sender
        0x00, 0x00, 0x00, 0x02, // SSRC of media source
        0x00, 0x64, 0x00, 0xed, // base sequence 100, status count 237
        0x00, 0x00, 0x10, 0x05, // reference time 16 (1024 ms), fb pkt. count 5
        0x9f, 0x1c, 0x00, 0xdd, // one-bit vector (14), run of 221 not received
        0xd8, 0x00, // two-bit vector: small, large, then 5 unused
        0x04, 0x00, 0x08, 0xff, 0x01, 0x02, 0x03, 0x04, // 8 small deltas of the vector
        0x10, 0xff, 0x38, // small 16, large -200
        0x00, 0x00, 0x00, // zero padding
    ];

    #[test]
    fn parses_a_feedback_of_every_chunk_kind() {
        let fb = parse_one(&FEEDBACK);
        assert_eq!(fb.sender_ssrc(), 1);
        assert_eq!(fb.media_ssrc(), 2);
        assert_eq!(fb.base_sequence(), 100);
        assert_eq!(fb.status_count(), 237);
        assert_eq!(fb.reference_time(), 16);
        assert_eq!(fb.reference_time_us(), 1_024_000);
        assert_eq!(fb.feedback_count(), 5);
        assert_eq!(fb.chunks().len(), 3);
        assert_eq!(fb.deltas().len(), 11);
        let statuses: Vec<_> = fb.statuses().collect();
        assert_eq!(statuses.len(), 237);
        let received: Vec<_> = statuses
            .iter()
            .filter_map(|s| Some((s.sequence, s.status, s.delta_ticks?, s.arrival_us?)))
            .collect();
        use TwccStatus::{LargeDelta as L, SmallDelta as S};
        assert_eq!(
            received,
            [
                (101, S, 4, 1_025_000),
                (102, S, 0, 1_025_000),
                (103, S, 8, 1_027_000),
                (104, S, 255, 1_090_750),
                (105, S, 1, 1_091_000),
                (109, S, 2, 1_091_500),
                (110, S, 3, 1_092_250),
                (111, S, 4, 1_093_250),
                (335, S, 16, 1_097_250),
                (336, L, -200, 1_047_250),
            ]
        );
        assert_eq!(statuses[0].status, TwccStatus::NotReceived);
        assert_eq!(statuses[0].sequence, 100);
        assert!(statuses[14..235].iter().all(|s| s.status == TwccStatus::NotReceived));
        assert_eq!(statuses[236].delta_us(), Some(-50_000));
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut bytes = FEEDBACK;
        bytes[12] = 0xff;
        bytes[13] = 0xf0;
        let last = parse_one(&bytes).statuses().last().unwrap();
        assert_eq!(last.sequence, 0xfff0u16.wrapping_add(236));
    }

    #[test]
    fn negative_reference_time() {
        let mut bytes = FEEDBACK;
        bytes[16..19].copy_from_slice(&[0xff, 0xff, 0xfe]);
        assert_eq!(parse_one(&bytes).reference_time(), -2);
        assert_eq!(parse_one(&bytes).reference_time_us(), -128_000);
    }

    fn parse_err(bytes: &[u8]) -> Error {
        match CompoundIter::new(bytes).next() {
            Some(Err(e)) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn rejects_inconsistent_feedback() {
        // Status count beyond what the chunks cover before the packet ends.
        let mut overrun = FEEDBACK;
        overrun[14..16].copy_from_slice(&[0xff, 0xff]);
        assert!(matches!(parse_err(&overrun), Error::Truncated(_)));
        // Deltas missing: drop the padding and the last delta octets.
        let mut short = FEEDBACK[..36].to_vec();
        short[3] = 8;
        assert!(matches!(parse_err(&short), Error::Truncated(_)));
        // A whole word too many after the deltas.
        let mut long = FEEDBACK.to_vec();
        long[3] = 10;
        long.extend_from_slice(&[0, 0, 0, 0]);
        assert!(matches!(parse_err(&long), Error::BadLength(_)));
        // Status count of zero.
        let mut zero = FEEDBACK;
        zero[14..16].copy_from_slice(&[0, 0]);
        assert!(matches!(parse_err(&zero), Error::Malformed(_)));
        // The reserved symbol in a used slot of a two-bit vector.
        let mut reserved = FEEDBACK;
        reserved[24] = 0xf8;
        assert!(matches!(parse_err(&reserved), Error::Malformed(_)));
        // A run of the reserved symbol.
        let mut run = FEEDBACK;
        run[22..24].copy_from_slice(&0x6018u16.to_be_bytes());
        assert!(matches!(parse_err(&run), Error::Malformed(_)));
        // Header cut short.
        assert!(matches!(
            parse_err(&[0x8f, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0, 1]),
            Error::Truncated(_)
        ));
    }

    #[test]
    fn reserved_symbol_in_an_unused_slot_is_ignored() {
        let mut bytes = FEEDBACK;
        bytes[25] = 0x03; // last slot of the two-bit vector, past the status count
        assert_eq!(parse_one(&bytes).statuses().count(), 237);
    }

    #[test]
    fn a_last_run_longer_than_the_count_is_cut() {
        // Status count 2, one run of 50 "small delta": only two deltas follow.
        let bytes =
            [0x8f, 205, 0, 5, 0, 0, 0, 1, 0, 0, 0, 2, 0, 9, 0, 2, 0, 0, 1, 0, 0x20, 50, 4, 8];
        let fb = parse_one(&bytes);
        let got: Vec<_> = fb.statuses().map(|s| (s.sequence, s.arrival_us)).collect();
        assert_eq!(got, [(9, Some(64_000 + 1_000)), (10, Some(64_000 + 3_000))]);
        // A whole word after the deltas is more than padding.
        let mut long = bytes.to_vec();
        long[3] = 6;
        long.extend_from_slice(&[0, 0, 0, 0]);
        assert!(matches!(parse_err(&long), Error::BadLength(_)));
    }

    #[test]
    fn zero_length_runs_are_skipped() {
        // Run of 0, then a one-bit vector of one received packet.
        let bytes = [
            0x8f, 205, 0, 6, 0, 0, 0, 1, 0, 0, 0, 2, 0, 7, 0, 1, 0, 0, 0, 0, 0x00, 0x00, 0xa0,
            0x00, 0x05, 0, 0, 0,
        ];
        let statuses: Vec<_> = parse_one(&bytes).statuses().collect();
        assert_eq!(statuses.len(), 1);
        assert_eq!(statuses[0].sequence, 7);
        assert_eq!(statuses[0].arrival_us, Some(1250));
    }
}
