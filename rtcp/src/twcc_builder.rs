//! Building transport-wide congestion control feedback from packet arrivals
//! (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1).
//!
//! The receiver records each packet's transport-wide sequence number and arrival time;
//! every feedback interval the [`TwccBuilder`] turns them into one feedback packet (more
//! when a receive delta does not fit in 16 bits or the packet reaches its size limit).

use crate::header::{PacketType, RTPFB_TRANSPORT_CC};
use crate::twcc::{StatusSymbol, DELTA_TICK_US, REFERENCE_TIME_UNIT_US};
use crate::util::padded4;
use crate::Error;

/// Ticks of 250 µs in one 64 ms reference time unit.
const TICKS_PER_REFERENCE: i64 = REFERENCE_TIME_UNIT_US / DELTA_TICK_US;
/// Header, SSRCs, base sequence, status count, reference time and feedback count.
const FIXED_LEN: usize = 20;
/// Longest run a run-length chunk holds (13 bits, §3.1.3).
const MAX_RUN: u16 = 0x1fff;
/// Statuses in a one-bit status vector chunk (§3.1.4).
const ONE_BIT_CAPACITY: u16 = 14;
/// Statuses in a two-bit status vector chunk (§3.1.4).
const TWO_BIT_CAPACITY: u16 = 7;
/// Smallest packet size limit accepted: room for a few statuses.
pub const MIN_FEEDBACK_LEN: usize = 32;
/// Largest packet size limit accepted: what the 16-bit length field can say.
pub const MAX_FEEDBACK_LEN: usize = 4 * 65_536;
/// Packet size limit used by [`TwccBuilder::new`]: fits any path MTU after SRTCP overhead.
pub const DEFAULT_MAX_FEEDBACK_LEN: usize = 1200;

/// The chunk being filled: up to 14 symbols, or a run of one symbol.
///
/// Statuses are added one by one; when one does not fit, a finished chunk is emitted. A run
/// of one symbol grows into a run-length chunk (as long as 8191); a mix becomes a one-bit
/// vector of 14 when it has no large delta, else two-bit vectors of 7.
#[derive(Debug, Clone, Copy)]
struct PendingChunk {
    symbols: [StatusSymbol; ONE_BIT_CAPACITY as usize],
    size: u16,
    all_same: bool,
    has_large: bool,
}

impl PendingChunk {
    const EMPTY: Self = Self {
        symbols: [StatusSymbol::NOT_RECEIVED; ONE_BIT_CAPACITY as usize],
        size: 0,
        all_same: true,
        has_large: false,
    };

    fn first(&self) -> StatusSymbol {
        self.symbols[0]
    }

    fn can_add(&self, s: StatusSymbol) -> bool {
        if self.size < TWO_BIT_CAPACITY {
            return true;
        }
        if self.size < ONE_BIT_CAPACITY && !self.has_large && s != StatusSymbol::LARGE_DELTA {
            return true;
        }
        self.all_same && self.first() == s && self.size < MAX_RUN
    }

    fn add(&mut self, s: StatusSymbol) {
        if let Some(slot) = self.symbols.get_mut(usize::from(self.size)) {
            *slot = s;
        }
        self.all_same &= self.size == 0 || self.first() == s;
        self.has_large |= s == StatusSymbol::LARGE_DELTA;
        self.size += 1;
    }

    /// Extends a run of "not received" by `n` (the caller checks `MAX_RUN`).
    fn extend_not_received(&mut self, n: u16) {
        let end = usize::from(self.size.saturating_add(n)).min(self.symbols.len());
        for slot in self.symbols.iter_mut().take(end).skip(usize::from(self.size)) {
            *slot = StatusSymbol::NOT_RECEIVED;
        }
        self.size += n;
    }

    fn run_length(&self) -> u16 {
        (u16::from(self.first().0) << 13) | self.size
    }

    fn one_bit(symbols: &[StatusSymbol]) -> u16 {
        symbols
            .iter()
            .enumerate()
            .fold(0x8000, |bits, (i, s)| bits | (u16::from(s.0 & 0x01) << (13 - i)))
    }

    fn two_bit(symbols: &[StatusSymbol]) -> u16 {
        symbols
            .iter()
            .enumerate()
            .fold(0xc000, |bits, (i, s)| bits | (u16::from(s.0 & 0x03) << (12 - 2 * i)))
    }

    /// Emits a full chunk when the next status cannot be added, keeping what is left over.
    fn emit(&mut self) -> u16 {
        if self.all_same {
            let chunk = self.run_length();
            *self = Self::EMPTY;
            return chunk;
        }
        if self.size == ONE_BIT_CAPACITY && !self.has_large {
            let chunk = Self::one_bit(&self.symbols);
            *self = Self::EMPTY;
            return chunk;
        }
        // Only reached with 7 to 13 mixed symbols (`can_add` accepts anything below 7).
        let seven = usize::from(TWO_BIT_CAPACITY);
        let chunk = Self::two_bit(&self.symbols[..seven]);
        let left = usize::from(self.size).min(self.symbols.len()).saturating_sub(seven);
        self.symbols.copy_within(seven..seven + left, 0);
        let rest = &self.symbols[..left];
        self.size = self.size.saturating_sub(TWO_BIT_CAPACITY);
        self.all_same = rest.iter().all(|s| *s == rest[0]);
        self.has_large = rest.contains(&StatusSymbol::LARGE_DELTA);
        chunk
    }

    /// Encodes what is pending as the last chunk of a packet.
    fn encode_last(&self) -> u16 {
        let held = &self.symbols[..usize::from(self.size).min(self.symbols.len())];
        if self.all_same {
            self.run_length()
        } else if self.size <= TWO_BIT_CAPACITY {
            Self::two_bit(held)
        } else {
            Self::one_bit(held)
        }
    }
}

/// Builds transport-wide congestion control feedback packets.
///
/// Push each reported packet in transport sequence order with its arrival time in µs
/// (any clock, as long as it is the same for every packet), or `None` for a packet not
/// received; skipped sequence numbers are reported as not received. Then [`finish`]
/// appends the feedback to a datagram buffer. Arrival times are kept to 250 µs (rounded
/// down); a receive delta that does not fit in 16 bits of ticks, or a packet reaching the
/// size limit, starts a new feedback packet. The feedback packet count goes up by one per
/// packet written.
///
/// The buffers inside are reused from one feedback to the next, so a builder kept for the
/// whole session stops allocating once it has seen its largest feedback.
///
/// [`finish`]: TwccBuilder::finish
#[derive(Debug, Clone)]
pub struct TwccBuilder {
    sender_ssrc: u32,
    media_ssrc: u32,
    max_packet_len: usize,
    feedback_count: u8,
    /// The sequence number after the last one pushed.
    expected: Option<u16>,
    /// Finished packets not yet handed out, and how many.
    ready: Vec<u8>,
    ready_packets: usize,
    // The packet being built.
    base_sequence: u16,
    status_count: u16,
    /// Reference time in 64 ms units, set by the first received packet.
    reference: Option<i64>,
    /// Arrival of the previous received packet, in ticks.
    last_ticks: i64,
    chunks: Vec<u8>,
    deltas: Vec<u8>,
    pending: PendingChunk,
}

impl TwccBuilder {
    /// A builder for feedback sent by `sender_ssrc` about media from `media_ssrc`, with a
    /// packet size limit of [`DEFAULT_MAX_FEEDBACK_LEN`].
    pub fn new(sender_ssrc: u32, media_ssrc: u32) -> Self {
        Self {
            sender_ssrc,
            media_ssrc,
            max_packet_len: DEFAULT_MAX_FEEDBACK_LEN,
            feedback_count: 0,
            expected: None,
            ready: Vec::new(),
            ready_packets: 0,
            base_sequence: 0,
            status_count: 0,
            reference: None,
            last_ticks: 0,
            chunks: Vec::new(),
            deltas: Vec::new(),
            pending: PendingChunk::EMPTY,
        }
    }

    /// Sets the largest feedback packet written, clamped to
    /// [`MIN_FEEDBACK_LEN`]..=[`MAX_FEEDBACK_LEN`].
    pub fn with_max_packet_len(mut self, max_packet_len: usize) -> Self {
        self.max_packet_len = max_packet_len.clamp(MIN_FEEDBACK_LEN, MAX_FEEDBACK_LEN);
        self
    }

    /// Changes the media SSRC written in later packets (any SSRC of the remote sender).
    pub fn set_media_ssrc(&mut self, media_ssrc: u32) {
        self.media_ssrc = media_ssrc;
    }

    /// The feedback packet count the next packet will carry.
    pub fn feedback_count(&self) -> u8 {
        self.feedback_count
    }

    /// True when nothing was pushed since the last [`finish`](Self::finish).
    pub fn is_empty(&self) -> bool {
        self.status_count == 0 && self.ready_packets == 0
    }

    /// Forgets the last sequence number: the next push starts a feedback at its own
    /// sequence number instead of reporting the gap before it as not received.
    pub fn reset(&mut self) {
        self.expected = None;
    }

    /// Reports packet `sequence`, received at `arrival_us` or not received (`None`).
    ///
    /// Sequence numbers must go forward (wrapping). Numbers skipped since the previous
    /// push, even across a [`finish`](Self::finish), are reported as not received. Right
    /// after a `finish` an older number is accepted and starts the next feedback there, as
    /// the draft allows the base sequence number to go back after reordering.
    pub fn push(&mut self, sequence: u16, arrival_us: Option<i64>) -> Result<(), Error> {
        if let Some(expected) = self.expected {
            let gap = sequence.wrapping_sub(expected);
            if gap >= 0x8000 {
                if !self.is_empty() {
                    return Err(Error::InvalidInput(
                        "transport sequence number not after the previous one",
                    ));
                }
            } else if gap > 0 {
                self.add_not_received(expected, gap);
            }
        }
        match arrival_us {
            Some(us) => self.add_received(sequence, us.div_euclid(DELTA_TICK_US)),
            None => self.add_not_received(sequence, 1),
        }
        self.expected = Some(sequence.wrapping_add(1));
        Ok(())
    }

    /// Appends the feedback packets for everything pushed since the last call to `out`
    /// and returns how many were written (0 when nothing was pushed).
    pub fn finish(&mut self, out: &mut Vec<u8>) -> usize {
        self.close_packet();
        out.extend_from_slice(&self.ready);
        self.ready.clear();
        std::mem::take(&mut self.ready_packets)
    }

    /// The receive delta for an arrival at `ticks`, if it fits this packet.
    fn delta_for(&self, ticks: i64) -> Option<i16> {
        match self.reference {
            // The first delta is relative to the reference time, which is set from this
            // very arrival: 0..=255 ticks.
            None => i16::try_from(ticks.rem_euclid(TICKS_PER_REFERENCE)).ok(),
            Some(_) => ticks.checked_sub(self.last_ticks).and_then(|d| i16::try_from(d).ok()),
        }
    }

    /// Whether adding `symbol` would take the packet past its limits.
    fn would_overflow(&self, symbol: StatusSymbol) -> bool {
        if self.status_count == u16::MAX {
            return true;
        }
        let emits = self.pending.size > 0 && !self.pending.can_add(symbol);
        let len = FIXED_LEN
            + self.chunks.len()
            + if emits { 2 } else { 0 }
            + 2
            + self.deltas.len()
            + symbol.delta_len().unwrap_or(2);
        padded4(len) > self.max_packet_len
    }

    /// Adds a status to the packet; the caller has checked that it fits.
    fn commit(&mut self, sequence: u16, symbol: StatusSymbol) {
        if self.status_count == 0 {
            self.base_sequence = sequence;
        }
        if !self.pending.can_add(symbol) {
            let chunk = self.pending.emit();
            self.chunks.extend_from_slice(&chunk.to_be_bytes());
        }
        self.pending.add(symbol);
        self.status_count += 1;
    }

    fn add_received(&mut self, sequence: u16, ticks: i64) {
        let mut delta = self.delta_for(ticks);
        if delta.is_none() {
            // §3.1.5: "If the delta exceeds even the larger limits, a new feedback message
            // must be used".
            self.close_packet();
            delta = self.delta_for(ticks);
        }
        let mut delta = delta.unwrap_or(0);
        if self.status_count > 0 && self.would_overflow(symbol_for(delta)) {
            self.close_packet();
            delta = self.delta_for(ticks).unwrap_or(0);
        }
        if self.reference.is_none() {
            let reference = ticks.div_euclid(TICKS_PER_REFERENCE);
            self.reference = Some(reference);
            self.last_ticks = reference * TICKS_PER_REFERENCE;
        }
        self.last_ticks += i64::from(delta);
        let symbol = symbol_for(delta);
        self.commit(sequence, symbol);
        match u8::try_from(delta) {
            Ok(small) => self.deltas.push(small),
            Err(_) => self.deltas.extend_from_slice(&delta.to_be_bytes()),
        }
    }

    /// Reports `n` packets from `sequence` on as not received. Long gaps extend a
    /// run-length chunk in one step rather than one status at a time.
    fn add_not_received(&mut self, mut sequence: u16, mut n: u16) {
        while n > 0 {
            let p = &self.pending;
            if self.status_count > 0
                && p.size > 0
                && p.all_same
                && p.first() == StatusSymbol::NOT_RECEIVED
            {
                let room = (MAX_RUN - p.size).min(u16::MAX - self.status_count);
                let take = room.min(n);
                if take > 0 {
                    self.pending.extend_not_received(take);
                    self.status_count += take;
                    sequence = sequence.wrapping_add(take);
                    n -= take;
                    continue;
                }
            }
            if self.status_count > 0 && self.would_overflow(StatusSymbol::NOT_RECEIVED) {
                self.close_packet();
            }
            self.commit(sequence, StatusSymbol::NOT_RECEIVED);
            sequence = sequence.wrapping_add(1);
            n -= 1;
        }
    }

    /// Encodes the packet being built into `ready` and starts an empty one.
    fn close_packet(&mut self) {
        if self.status_count == 0 {
            return;
        }
        let len = padded4(FIXED_LEN + self.chunks.len() + 2 + self.deltas.len());
        // The size limit keeps `len` within what the length field can say.
        let words = u16::try_from(len / 4 - 1).unwrap_or(u16::MAX);
        let reference = self.reference.unwrap_or(0).rem_euclid(1 << 24);
        let [_, r0, r1, r2] = u32::try_from(reference).unwrap_or(0).to_be_bytes();
        let start = self.ready.len();
        let out = &mut self.ready;
        out.extend_from_slice(&[0x80 | RTPFB_TRANSPORT_CC, PacketType::RTPFB.0]);
        out.extend_from_slice(&words.to_be_bytes());
        out.extend_from_slice(&self.sender_ssrc.to_be_bytes());
        out.extend_from_slice(&self.media_ssrc.to_be_bytes());
        out.extend_from_slice(&self.base_sequence.to_be_bytes());
        out.extend_from_slice(&self.status_count.to_be_bytes());
        out.extend_from_slice(&[r0, r1, r2, self.feedback_count]);
        out.extend_from_slice(&self.chunks);
        out.extend_from_slice(&self.pending.encode_last().to_be_bytes());
        out.extend_from_slice(&self.deltas);
        // Zero padding to the word boundary, as in the draft's layout (no padding bit).
        out.resize(start + len, 0);
        self.feedback_count = self.feedback_count.wrapping_add(1);
        self.ready_packets += 1;
        self.status_count = 0;
        self.reference = None;
        self.chunks.clear();
        self.deltas.clear();
        self.pending = PendingChunk::EMPTY;
    }
}

fn symbol_for(delta: i16) -> StatusSymbol {
    if (0..=255).contains(&delta) {
        StatusSymbol::SMALL_DELTA
    } else {
        StatusSymbol::LARGE_DELTA
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::twcc::{PacketChunk, TransportCc, TwccStatus};
    use crate::{CompoundIter, Packet};
    use proptest::prelude::*;

    fn feedbacks(bytes: &[u8]) -> Vec<TransportCc<'_>> {
        CompoundIter::new(bytes)
            .map(|p| match p {
                Ok(Packet::TransportCc(fb)) => fb,
                other => panic!("expected TWCC feedback, got {other:?}"),
            })
            .collect()
    }

    /// (sequence, arrival µs) as the parser reports them, over several feedbacks.
    fn reported(bytes: &[u8]) -> Vec<(u16, Option<i64>)> {
        feedbacks(bytes)
            .iter()
            .flat_map(|fb| fb.statuses().map(|s| (s.sequence, s.arrival_us)))
            .collect()
    }

    #[test]
    fn builds_one_feedback() {
        let mut b = TwccBuilder::new(1, 2);
        b.push(10, Some(1_000_000)).unwrap();
        b.push(11, Some(1_001_000)).unwrap();
        b.push(13, Some(1_000_500)).unwrap(); // 12 lost, 13 reordered in time
        let mut out = Vec::new();
        assert_eq!(b.finish(&mut out), 1);
        assert!(b.is_empty());
        let fb = feedbacks(&out);
        assert_eq!(fb.len(), 1);
        assert_eq!((fb[0].sender_ssrc(), fb[0].media_ssrc()), (1, 2));
        assert_eq!((fb[0].base_sequence(), fb[0].status_count()), (10, 4));
        assert_eq!(fb[0].feedback_count(), 0);
        // 1_000_000 µs = 4000 ticks = 15 units of 256 ticks + 160.
        assert_eq!(fb[0].reference_time(), 15);
        let statuses: Vec<_> = fb[0].statuses().map(|s| (s.status, s.delta_ticks)).collect();
        assert_eq!(
            statuses,
            [
                (TwccStatus::SmallDelta, Some(160)),
                (TwccStatus::SmallDelta, Some(4)),
                (TwccStatus::NotReceived, None),
                (TwccStatus::LargeDelta, Some(-2)),
            ]
        );
        // Mixed with a large delta: one two-bit vector.
        assert!(matches!(fb[0].chunks().next(), Some(PacketChunk::TwoBitVector(_))));
        assert_eq!(b.finish(&mut out), 0);
        assert_eq!(b.feedback_count(), 1);
    }

    #[test]
    fn picks_chunk_kinds() {
        let mut b = TwccBuilder::new(1, 2);
        let mut t = 0;
        // 20 received: a run (which the next received packet extends to 21).
        for seq in 0..20u16 {
            t += 1000;
            b.push(seq, Some(t)).unwrap();
        }
        // Alternating, no large delta: a one-bit vector of 14 with the first of the gap.
        for seq in 20..34u16 {
            t += 1000;
            b.push(seq, (seq % 2 == 0).then_some(t)).unwrap();
        }
        // A gap of 1000: the rest of it a run of not received, then one large delta.
        t += 100_000;
        b.push(1034, Some(t)).unwrap();
        let mut out = Vec::new();
        b.finish(&mut out);
        let fb = feedbacks(&out);
        let chunks: Vec<_> = fb[0].chunks().collect();
        assert_eq!(
            chunks[0],
            PacketChunk::RunLength { symbol: StatusSymbol::SMALL_DELTA, run_length: 21 }
        );
        assert!(matches!(chunks[1], PacketChunk::OneBitVector(_)));
        assert_eq!(
            chunks[2],
            PacketChunk::RunLength { symbol: StatusSymbol::NOT_RECEIVED, run_length: 999 }
        );
        assert_eq!(
            chunks[3],
            PacketChunk::RunLength { symbol: StatusSymbol::LARGE_DELTA, run_length: 1 }
        );
        assert_eq!(chunks.len(), 4);
        assert_eq!(fb[0].status_count(), 1035);
    }

    #[test]
    fn a_delta_past_16_bits_starts_a_new_feedback() {
        let mut b = TwccBuilder::new(1, 2);
        b.push(1, Some(0)).unwrap();
        // 32768 ticks later: just past i16::MAX.
        b.push(2, Some(32_768 * 250)).unwrap();
        b.push(3, Some(32_768 * 250 + 250)).unwrap();
        let mut out = Vec::new();
        assert_eq!(b.finish(&mut out), 2);
        let fb = feedbacks(&out);
        assert_eq!(
            (fb[0].base_sequence(), fb[0].status_count(), fb[0].feedback_count()),
            (1, 1, 0)
        );
        assert_eq!(
            (fb[1].base_sequence(), fb[1].status_count(), fb[1].feedback_count()),
            (2, 2, 1)
        );
        assert_eq!(
            reported(&out),
            [(1, Some(0)), (2, Some(32_768 * 250)), (3, Some(32_768 * 250 + 250))]
        );
        // Just inside i16::MAX stays in one packet.
        b.push(4, Some(0)).unwrap();
        b.push(5, Some(32_767 * 250)).unwrap();
        out.clear();
        assert_eq!(b.finish(&mut out), 1);
    }

    #[test]
    fn the_size_limit_splits_feedback() {
        let mut b = TwccBuilder::new(1, 2).with_max_packet_len(100);
        let mut t = 0;
        for seq in 0..200u16 {
            t += if seq % 3 == 0 { 70_000 } else { 1000 };
            b.push(seq, Some(t)).unwrap();
        }
        let mut out = Vec::new();
        let n = b.finish(&mut out);
        assert!(n > 1);
        let fbs = feedbacks(&out);
        assert_eq!(fbs.len(), n);
        for (i, fb) in fbs.iter().enumerate() {
            assert_eq!(usize::from(fb.feedback_count()), i);
        }
        let mut pos = 0;
        for _ in 0..n {
            let (raw, _) = crate::RawPacket::parse_first(&out[pos..]).unwrap();
            assert!(raw.bytes().len() <= 100);
            pos += raw.bytes().len();
        }
        let want: Vec<_> = (0..200u16)
            .scan(0i64, |t, seq| {
                *t += if seq % 3 == 0 { 70_000 } else { 1000 };
                Some((seq, Some(*t)))
            })
            .collect();
        assert_eq!(reported(&out), want);
    }

    #[test]
    fn out_of_order_push_is_refused_until_finish() {
        let mut b = TwccBuilder::new(1, 2);
        b.push(100, Some(0)).unwrap();
        assert!(matches!(b.push(100, Some(0)), Err(Error::InvalidInput(_))));
        assert!(matches!(b.push(99, Some(0)), Err(Error::InvalidInput(_))));
        let mut out = Vec::new();
        b.finish(&mut out);
        // After a finish the base may go back.
        b.push(98, Some(0)).unwrap();
        out.clear();
        b.finish(&mut out);
        assert_eq!(feedbacks(&out)[0].base_sequence(), 98);
    }

    #[test]
    fn gaps_across_finish_are_reported() {
        let mut b = TwccBuilder::new(1, 2);
        b.push(65_534, Some(1_000)).unwrap();
        let mut out = Vec::new();
        b.finish(&mut out);
        b.push(2, Some(2_000)).unwrap();
        out.clear();
        b.finish(&mut out);
        assert_eq!(reported(&out), [(65_535, None), (0, None), (1, None), (2, Some(2_000))]);
        b.reset();
        b.push(500, None).unwrap();
        out.clear();
        b.finish(&mut out);
        assert_eq!(reported(&out), [(500, None)]);
    }

    #[test]
    fn a_huge_gap_is_cheap_and_exact() {
        let mut b = TwccBuilder::new(1, 2);
        b.push(0, Some(0)).unwrap();
        b.push(30_000, Some(1_000)).unwrap();
        let mut out = Vec::new();
        assert_eq!(b.finish(&mut out), 1);
        let fb = feedbacks(&out);
        assert_eq!(fb[0].status_count(), 30_001);
        // A one-bit vector for packet 0 and the first 13 of the gap, four runs of up to
        // 8191 for the rest of the gap, a run of one for packet 30000.
        assert_eq!(fb[0].chunks().len(), 6);
        let r = reported(&out);
        assert_eq!(r.first(), Some(&(0, Some(0))));
        assert_eq!(r.last(), Some(&(30_000, Some(1_000))));
        assert_eq!(r.iter().filter(|(_, t)| t.is_none()).count(), 29_999);
    }

    #[test]
    fn times_round_down_to_ticks() {
        let mut b = TwccBuilder::new(1, 2);
        b.push(0, Some(1_249)).unwrap();
        b.push(1, Some(-1)).unwrap();
        let mut out = Vec::new();
        b.finish(&mut out);
        assert_eq!(reported(&out), [(0, Some(1_000)), (1, Some(-250))]);
    }

    /// Input: per packet, a sequence step (>= 1) and an arrival step in µs or `None`.
    fn arrivals() -> impl Strategy<Value = Vec<(u16, Option<i64>)>> {
        let step = prop_oneof![
            8 => Just(1u16),
            1 => 2u16..20,
            1 => 20u16..3000,
        ];
        let time = prop_oneof![
            6 => (0i64..70_000).prop_map(Some),
            1 => (-10_000_000i64..10_000_000).prop_map(Some),
            2 => Just(None),
        ];
        proptest::collection::vec((step, time), 1..400)
    }

    proptest! {
        #[test]
        fn builder_then_parser_round_trip(
            start_seq in any::<u16>(),
            start_us in 0i64..1_000_000_000,
            steps in arrivals(),
            max_len in prop_oneof![Just(1200usize), 32usize..400],
            rounds in 1usize..4,
        ) {
            let mut b = TwccBuilder::new(7, 8).with_max_packet_len(max_len);
            let mut want = Vec::new();
            let mut seq = start_seq;
            let mut t = start_us;
            let mut out = Vec::new();
            let per_round = steps.len().div_ceil(rounds);
            let mut fb_count = 0usize;
            for (i, (step, dt)) in steps.iter().enumerate() {
                if i > 0 {
                    // Skipped numbers are reported as not received.
                    for k in 1..*step {
                        want.push((seq.wrapping_add(k), None));
                    }
                    seq = seq.wrapping_add(*step);
                }
                let arrival = dt.map(|dt| {
                    t += dt;
                    t
                });
                b.push(seq, arrival).unwrap();
                want.push((seq, arrival.map(|a| a.div_euclid(250) * 250)));
                if (i + 1) % per_round == 0 {
                    fb_count += b.finish(&mut out);
                }
            }
            fb_count += b.finish(&mut out);
            let fbs = feedbacks(&out);
            prop_assert_eq!(fbs.len(), fb_count);
            for (i, fb) in fbs.iter().enumerate() {
                prop_assert_eq!(usize::from(fb.feedback_count()), i % 256);
            }
            let mut pos = 0;
            while pos < out.len() {
                let (raw, _) = crate::RawPacket::parse_first(&out[pos..]).unwrap();
                prop_assert!(raw.bytes().len() <= max_len);
                pos += raw.bytes().len();
            }
            prop_assert_eq!(reported(&out), want);
        }
    }
}
