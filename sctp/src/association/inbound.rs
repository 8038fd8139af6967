//! The receiving half: which TSNs arrived (for SACKs), and per-stream reassembly with ordered
//! delivery by SSN and immediate delivery of unordered messages (RFC 9260 §6.5, §6.6, §6.9).
//!
//! TSNs and SSNs are widened to `u64` (see [`crate::tsn`]). Received TSNs above the
//! cumulative point are kept as sorted disjoint ranges, which are exactly the Gap Ack Blocks.
//! Fragments wait per stream: ordered ones grouped by SSN, unordered ones by TSN.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::event::Event;
use crate::chunk::{ForwardTsnStream, GapAckBlock};
use crate::tsn::{unwrap_ssn, unwrap_tsn, widen_ssn, widen_tsn};
use crate::Ppid;

/// The header fields of a DATA chunk that reassembly needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DataMeta {
    pub(crate) tsn: u64,
    pub(crate) stream: u16,
    pub(crate) ssn: u16,
    pub(crate) ppid: Ppid,
    pub(crate) unordered: bool,
    pub(crate) beginning: bool,
    pub(crate) ending: bool,
}

#[derive(Debug)]
struct Fragment {
    tsn: u64,
    beginning: bool,
    ending: bool,
    ppid: Ppid,
    data: Vec<u8>,
}

/// The fragments of one ordered message (one SSN).
#[derive(Debug, Default)]
struct Partial {
    frags: Vec<Fragment>,
    first_tsn: Option<u64>,
    last_tsn: Option<u64>,
    count: u64,
    /// Payload bytes held (zero once oversized).
    bytes: usize,
    /// Total payload received, held or not.
    size: usize,
    /// Larger than the maximum message size: its data is no longer kept.
    oversized: bool,
}

impl Partial {
    fn is_complete(&self) -> bool {
        match (self.first_tsn, self.last_tsn) {
            (Some(first), Some(last)) => last >= first && last - first + 1 == self.count,
            _ => false,
        }
    }

    /// Concatenates the fragments in TSN order.
    fn assemble(mut self) -> (Ppid, Vec<u8>) {
        self.frags.sort_unstable_by_key(|f| f.tsn);
        let ppid = self.frags.first().map(|f| f.ppid).unwrap_or_default();
        if self.frags.len() == 1 {
            let data = self.frags.pop().map(|f| f.data).unwrap_or_default();
            return (ppid, data);
        }
        let mut data = Vec::with_capacity(self.bytes);
        for f in &self.frags {
            data.extend_from_slice(&f.data);
        }
        (ppid, data)
    }
}

#[derive(Debug)]
struct InStream {
    /// Next SSN to deliver (widened).
    next_ssn: u64,
    ordered: BTreeMap<u64, Partial>,
    unordered: BTreeMap<u64, Fragment>,
}

impl InStream {
    fn new() -> Self {
        Self { next_ssn: widen_ssn(0), ordered: BTreeMap::new(), unordered: BTreeMap::new() }
    }
}

/// Receive-side state of an association.
#[derive(Debug)]
pub(crate) struct Inbound {
    /// Last TSN received in sequence (widened).
    cum: u64,
    /// TSN ranges received above `cum + 1`: sorted, disjoint, not adjacent.
    ranges: Vec<(u64, u64)>,
    /// Duplicate TSNs to report in the next SACK.
    dups: Vec<u32>,
    streams: HashMap<u16, InStream>,
    /// Payload bytes held in reassembly.
    buffered: usize,
    max_message_size: usize,
    /// Messages discarded for exceeding `max_message_size`.
    pub(crate) oversized_messages: u64,
}

/// At most this many duplicate TSNs are remembered between SACKs.
const MAX_DUPS: usize = 32;

impl Inbound {
    pub(crate) fn new(peer_initial_tsn: u32, max_message_size: usize) -> Self {
        Self {
            cum: widen_tsn(peer_initial_tsn) - 1,
            ranges: Vec::new(),
            dups: Vec::new(),
            streams: HashMap::new(),
            buffered: 0,
            max_message_size,
            oversized_messages: 0,
        }
    }

    /// Widens a TSN from the wire.
    pub(crate) fn unwrap(&self, tsn: u32) -> u64 {
        unwrap_tsn(self.cum, tsn)
    }

    /// The cumulative TSN (widened).
    pub(crate) fn cum(&self) -> u64 {
        self.cum
    }

    /// The highest TSN received.
    pub(crate) fn highest(&self) -> u64 {
        self.ranges.last().map_or(self.cum, |r| r.1)
    }

    /// Some TSNs above the cumulative point are missing.
    pub(crate) fn has_gaps(&self) -> bool {
        !self.ranges.is_empty()
    }

    /// Payload bytes held in reassembly.
    pub(crate) fn buffered(&self) -> usize {
        self.buffered
    }

    /// The TSN was received before.
    pub(crate) fn is_duplicate(&self, tsn: u64) -> bool {
        if tsn <= self.cum {
            return true;
        }
        let i = self.ranges.partition_point(|r| r.1 < tsn);
        self.ranges.get(i).is_some_and(|r| r.0 <= tsn)
    }

    /// Notes a duplicate for the next SACK (RFC 9260 §6.2).
    pub(crate) fn note_duplicate(&mut self, tsn: u32) {
        if self.dups.len() < MAX_DUPS {
            self.dups.push(tsn);
        }
    }

    /// Records a TSN not received before.
    pub(crate) fn record(&mut self, tsn: u64) {
        if tsn == self.cum + 1 {
            self.cum = tsn;
            if let Some(first) = self.ranges.first() {
                if first.0 == self.cum + 1 {
                    self.cum = first.1;
                    self.ranges.remove(0);
                }
            }
            return;
        }
        // Above cum + 1: merge into the ranges.
        let i = self.ranges.partition_point(|r| r.1 + 1 < tsn);
        match self.ranges.get_mut(i) {
            Some(r) if r.0 <= tsn + 1 => {
                // Touches or contains range i (from below or inside).
                if tsn + 1 == r.0 {
                    r.0 = tsn;
                } else if tsn == r.1 + 1 {
                    r.1 = tsn;
                    // May now touch the next range.
                    if let Some(&next) = self.ranges.get(i + 1) {
                        if next.0 == tsn + 1 {
                            self.ranges[i].1 = next.1;
                            self.ranges.remove(i + 1);
                        }
                    }
                }
            }
            _ => self.ranges.insert(i, (tsn, tsn)),
        }
    }

    /// Writes the Gap Ack Blocks (at most `max`) into `out` (cleared first).
    pub(crate) fn gap_blocks(&self, max: usize, out: &mut Vec<GapAckBlock>) {
        out.clear();
        for &(start, end) in self.ranges.iter().take(max) {
            let (Ok(start), Ok(end)) =
                (u16::try_from(start - self.cum), u16::try_from(end - self.cum))
            else {
                // Beyond what a 16-bit offset can express: report it later.
                break;
            };
            out.push(GapAckBlock { start, end });
        }
    }

    /// Moves the duplicates to report into `out` (cleared first).
    pub(crate) fn take_duplicates(&mut self, out: &mut Vec<u32>) {
        out.clear();
        out.append(&mut self.dups);
    }

    /// Hands a newly recorded DATA chunk to reassembly; complete messages are pushed to
    /// `events`. Returns the payload bytes delivered.
    pub(crate) fn reassemble(
        &mut self,
        meta: DataMeta,
        payload: &[u8],
        events: &mut VecDeque<Event>,
    ) -> usize {
        let max = self.max_message_size;
        let stream = self.streams.entry(meta.stream).or_insert_with(InStream::new);
        if meta.unordered {
            if meta.beginning && meta.ending {
                return deliver(events, meta.stream, meta.ppid, payload.to_vec(), true, max, {
                    &mut self.oversized_messages
                });
            }
            self.buffered += payload.len();
            stream.unordered.insert(
                meta.tsn,
                Fragment {
                    tsn: meta.tsn,
                    beginning: meta.beginning,
                    ending: meta.ending,
                    ppid: meta.ppid,
                    data: payload.to_vec(),
                },
            );
            return complete_unordered(
                stream,
                meta.stream,
                meta.tsn,
                &mut self.buffered,
                events,
                max,
                &mut self.oversized_messages,
            );
        }

        let ssn = unwrap_ssn(stream.next_ssn, meta.ssn);
        if ssn < stream.next_ssn {
            // Delivered or skipped already: a peer bug, nothing to keep.
            return 0;
        }
        if meta.beginning && meta.ending && ssn == stream.next_ssn {
            stream.next_ssn += 1;
            let mut delivered = deliver(
                events,
                meta.stream,
                meta.ppid,
                payload.to_vec(),
                false,
                max,
                &mut self.oversized_messages,
            );
            if !stream.ordered.is_empty() {
                delivered += drain_ordered(
                    stream,
                    meta.stream,
                    &mut self.buffered,
                    events,
                    &mut self.oversized_messages,
                );
            }
            return delivered;
        }
        let partial = stream.ordered.entry(ssn).or_default();
        partial.count += 1;
        if meta.beginning {
            partial.first_tsn = Some(meta.tsn);
        }
        if meta.ending {
            partial.last_tsn = Some(meta.tsn);
        }
        partial.size = partial.size.saturating_add(payload.len());
        if partial.oversized {
            // Only counted.
        } else if partial.size > max {
            partial.oversized = true;
            self.buffered -= partial.bytes;
            partial.bytes = 0;
            partial.frags = Vec::new();
        } else {
            partial.bytes += payload.len();
            self.buffered += payload.len();
            partial.frags.push(Fragment {
                tsn: meta.tsn,
                beginning: meta.beginning,
                ending: meta.ending,
                ppid: meta.ppid,
                data: payload.to_vec(),
            });
        }
        if ssn == stream.next_ssn && partial.is_complete() {
            return drain_ordered(
                stream,
                meta.stream,
                &mut self.buffered,
                events,
                &mut self.oversized_messages,
            );
        }
        0
    }

    /// Applies a FORWARD-TSN (RFC 3758 §3.6): the cumulative TSN jumps to `new_cum`,
    /// fragments of abandoned messages are dropped, and ordered streams skip the listed SSNs
    /// (delivering what becomes deliverable). Returns the payload bytes delivered.
    ///
    /// A FORWARD-TSN that does not move the cumulative TSN is stale (duplicated, reordered,
    /// or retransmitted after it took effect) and ignored: its SSNs may predate a stream
    /// reset. The sender makes sure that a useful one always moves it (see the placeholder
    /// TSN of `Outbound::abandon_at`).
    pub(crate) fn forward_tsn(
        &mut self,
        new_cum: u64,
        skipped: impl Iterator<Item = ForwardTsnStream>,
        events: &mut VecDeque<Event>,
    ) -> usize {
        if new_cum <= self.cum {
            return 0;
        }
        self.cum = new_cum;
        self.ranges.retain(|r| r.1 > new_cum);
        if let Some(first) = self.ranges.first_mut() {
            first.0 = first.0.max(new_cum + 1);
            if first.0 == new_cum + 1 {
                self.cum = first.1;
                self.ranges.remove(0);
            }
        }
        let max = self.max_message_size;
        let mut delivered = 0;
        for stream in self.streams.values_mut() {
            while let Some(entry) = stream.unordered.first_entry() {
                if *entry.key() > new_cum {
                    break;
                }
                self.buffered -= entry.remove().data.len();
            }
        }
        for skip in skipped {
            let stream = self.streams.entry(skip.stream).or_insert_with(InStream::new);
            let ssn = unwrap_ssn(stream.next_ssn, skip.ssn);
            if ssn < stream.next_ssn {
                continue;
            }
            while let Some(entry) = stream.ordered.first_entry() {
                if *entry.key() > ssn {
                    break;
                }
                let partial = entry.remove();
                self.buffered -= partial.bytes;
                if partial.is_complete() && !partial.oversized {
                    let (ppid, data) = partial.assemble();
                    delivered += deliver(
                        events,
                        skip.stream,
                        ppid,
                        data,
                        false,
                        max,
                        &mut self.oversized_messages,
                    );
                }
            }
            stream.next_ssn = ssn + 1;
            delivered += drain_ordered(
                stream,
                skip.stream,
                &mut self.buffered,
                events,
                &mut self.oversized_messages,
            );
        }
        delivered
    }

    /// Resets incoming streams (RFC 6525 §5.2.2): their next SSN becomes 0 and anything left
    /// in reassembly for them is dropped. An empty list means all streams.
    pub(crate) fn reset_streams(&mut self, streams: &[u16]) {
        let buffered = &mut self.buffered;
        let mut reset = |stream: &mut InStream| {
            for (_, p) in std::mem::take(&mut stream.ordered) {
                *buffered -= p.bytes;
            }
            for (_, f) in std::mem::take(&mut stream.unordered) {
                *buffered -= f.data.len();
            }
            stream.next_ssn = widen_ssn(0);
        };
        if streams.is_empty() {
            self.streams.values_mut().for_each(&mut reset);
        } else {
            for id in streams {
                if let Some(stream) = self.streams.get_mut(id) {
                    reset(stream);
                }
            }
        }
    }
}

/// Pushes a complete message, or counts it as discarded when larger than `max`.
fn deliver(
    events: &mut VecDeque<Event>,
    stream: u16,
    ppid: Ppid,
    data: Vec<u8>,
    unordered: bool,
    max: usize,
    oversized: &mut u64,
) -> usize {
    if data.len() > max {
        *oversized += 1;
        tracing::warn!(stream, len = data.len(), max, "discarding message above max_message_size");
        return 0;
    }
    let len = data.len();
    events.push_back(Event::Message { stream, ppid, data, unordered });
    len
}

/// Delivers the ordered messages that are complete and next in sequence.
fn drain_ordered(
    stream: &mut InStream,
    id: u16,
    buffered: &mut usize,
    events: &mut VecDeque<Event>,
    oversized: &mut u64,
) -> usize {
    let mut delivered = 0;
    while let Some(entry) = stream.ordered.first_entry() {
        if *entry.key() != stream.next_ssn || !entry.get().is_complete() {
            break;
        }
        let partial = entry.remove();
        stream.next_ssn += 1;
        *buffered -= partial.bytes;
        if partial.oversized {
            *oversized += 1;
            tracing::warn!(
                stream = id,
                len = partial.size,
                "discarded message above max_message_size"
            );
            continue;
        }
        let (ppid, data) = partial.assemble();
        delivered += deliver(events, id, ppid, data, false, usize::MAX, oversized);
    }
    delivered
}

/// Delivers the unordered message that the fragment at `tsn` completes, if any.
fn complete_unordered(
    stream: &mut InStream,
    id: u16,
    tsn: u64,
    buffered: &mut usize,
    events: &mut VecDeque<Event>,
    max: usize,
    oversized: &mut u64,
) -> usize {
    // Walk up to the E fragment, then down to the B fragment, over consecutive TSNs. Up first:
    // fragments arriving in order stop there at once, so only the last one walks the message.
    let mut last = tsn;
    loop {
        match stream.unordered.get(&last) {
            Some(f) if f.ending => break,
            Some(_) if stream.unordered.contains_key(&(last + 1)) => last += 1,
            _ => return 0,
        }
    }
    let mut first = tsn;
    loop {
        match stream.unordered.get(&first) {
            Some(f) if f.beginning => break,
            Some(_) if stream.unordered.contains_key(&(first - 1)) => first -= 1,
            _ => return 0,
        }
    }
    let mut data = Vec::new();
    let mut ppid = Ppid::default();
    let mut rest = stream.unordered.split_off(&first);
    let mut after = rest.split_off(&(last + 1));
    stream.unordered.append(&mut after);
    for (i, (_, f)) in rest.into_iter().enumerate() {
        *buffered -= f.data.len();
        if i == 0 {
            ppid = f.ppid;
            data = f.data;
        } else {
            data.extend_from_slice(&f.data);
        }
    }
    deliver(events, id, ppid, data, true, max, oversized)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(tsn: u64, ssn: u16, unordered: bool, b: bool, e: bool) -> DataMeta {
        DataMeta { tsn, stream: 1, ssn, ppid: Ppid::BINARY, unordered, beginning: b, ending: e }
    }

    fn messages(events: &mut VecDeque<Event>) -> Vec<Vec<u8>> {
        events
            .drain(..)
            .map(|e| match e {
                Event::Message { data, .. } => data,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn ranges_become_gap_blocks() {
        let mut inb = Inbound::new(100, 1000);
        let base = inb.unwrap(100);
        assert_eq!(inb.cum(), base - 1);
        for t in [base, base + 2, base + 3, base + 6, base + 5, base + 9] {
            assert!(!inb.is_duplicate(t));
            inb.record(t);
        }
        assert!(inb.is_duplicate(base + 3));
        assert!(!inb.is_duplicate(base + 4));
        assert_eq!(inb.cum(), base);
        let mut blocks = Vec::new();
        inb.gap_blocks(10, &mut blocks);
        assert_eq!(
            blocks,
            [
                GapAckBlock { start: 2, end: 3 },
                GapAckBlock { start: 5, end: 6 },
                GapAckBlock { start: 9, end: 9 }
            ]
        );
        inb.record(base + 4);
        inb.gap_blocks(10, &mut blocks);
        assert_eq!(blocks, [GapAckBlock { start: 2, end: 6 }, GapAckBlock { start: 9, end: 9 }]);
        inb.record(base + 1);
        assert_eq!(inb.cum(), base + 6);
        assert_eq!(inb.highest(), base + 9);
        inb.gap_blocks(1, &mut blocks);
        assert_eq!(blocks, [GapAckBlock { start: 3, end: 3 }]);
    }

    #[test]
    fn records_across_the_tsn_wrap() {
        let mut inb = Inbound::new(u32::MAX, 1000);
        let a = inb.unwrap(u32::MAX);
        inb.record(a);
        let b = inb.unwrap(1);
        assert_eq!(b, a + 2);
        inb.record(b);
        inb.record(inb.unwrap(0));
        assert_eq!(inb.cum() as u32, 1);
        assert!(!inb.has_gaps());
    }

    #[test]
    fn ordered_reassembly_out_of_order() {
        let mut inb = Inbound::new(1, 1000);
        let mut ev = VecDeque::new();
        let t = inb.unwrap(1);
        // Message 0 = [t, t+1, t+2], message 1 = [t+3] alone; arrive shuffled.
        for (tsn, ssn, b, e, data) in [
            (t + 3, 1, true, true, b"D".as_slice()),
            (t + 2, 0, false, true, b"C"),
            (t, 0, true, false, b"A"),
        ] {
            inb.record(tsn);
            assert_eq!(inb.reassemble(meta(tsn, ssn, false, b, e), data, &mut ev), 0);
        }
        assert_eq!(inb.buffered(), 3);
        inb.record(t + 1);
        assert_eq!(inb.reassemble(meta(t + 1, 0, false, false, false), b"B", &mut ev), 4);
        assert_eq!(messages(&mut ev), [b"ABC".to_vec(), b"D".to_vec()]);
        assert_eq!(inb.buffered(), 0);
    }

    #[test]
    fn unordered_reassembly_delivers_immediately() {
        let mut inb = Inbound::new(1, 1000);
        let mut ev = VecDeque::new();
        let t = inb.unwrap(1);
        inb.reassemble(meta(t + 1, 0, true, false, true), b"2", &mut ev);
        inb.reassemble(meta(t + 2, 0, true, true, true), b"solo", &mut ev);
        assert_eq!(messages(&mut ev), [b"solo".to_vec()]);
        inb.reassemble(meta(t, 0, true, true, false), b"1", &mut ev);
        assert_eq!(messages(&mut ev), [b"12".to_vec()]);
        assert_eq!(inb.buffered(), 0);
    }

    #[test]
    fn oversized_messages_are_discarded_and_the_stream_moves_on() {
        let mut inb = Inbound::new(1, 4);
        let mut ev = VecDeque::new();
        let t = inb.unwrap(1);
        inb.reassemble(meta(t, 0, false, true, false), b"abc", &mut ev);
        inb.reassemble(meta(t + 1, 0, false, false, false), b"def", &mut ev);
        assert_eq!(inb.buffered(), 0, "an oversized message holds no data");
        inb.reassemble(meta(t + 2, 0, false, false, true), b"g", &mut ev);
        inb.reassemble(meta(t + 3, 1, false, true, true), b"ok", &mut ev);
        assert_eq!(messages(&mut ev), [b"ok".to_vec()]);
        assert_eq!(inb.oversized_messages, 1);
    }

    #[test]
    fn forward_tsn_skips_and_delivers_what_follows() {
        let mut inb = Inbound::new(1, 1000);
        let mut ev = VecDeque::new();
        let t = inb.unwrap(1);
        // SSN 0 lost entirely (TSN t), SSN 1 half received (t+1 of t+1..t+2, abandoned),
        // SSN 2 complete (t+3); unordered fragment t+4 of an abandoned message.
        for (tsn, ssn, un, b, e) in [
            (t + 1, 1, false, true, false),
            (t + 3, 2, false, true, true),
            (t + 4, 0, true, true, false),
        ] {
            inb.record(tsn);
            inb.reassemble(meta(tsn, ssn, un, b, e), b"x", &mut ev);
        }
        assert!(ev.is_empty());
        let skipped = [ForwardTsnStream { stream: 1, ssn: 1 }];
        let delivered = inb.forward_tsn(t + 2, skipped.into_iter(), &mut ev);
        assert_eq!(delivered, 1);
        assert_eq!(messages(&mut ev), [b"x".to_vec()]);
        assert_eq!(inb.cum(), t + 4, "t+3 and t+4 were already received");
        assert_eq!(inb.buffered(), 1, "the unordered fragment t+4 waits");
        inb.forward_tsn(t + 5, std::iter::empty(), &mut ev);
        assert_eq!(inb.buffered(), 0);
    }

    #[test]
    fn stale_forward_tsn_is_ignored_after_a_stream_reset() {
        let mut inb = Inbound::new(1, 1000);
        let mut ev = VecDeque::new();
        let t = inb.unwrap(1);
        // SSN 0 abandoned (t lost), skipped by a FORWARD-TSN; then the stream is reset.
        let skip = [ForwardTsnStream { stream: 1, ssn: 0 }];
        inb.forward_tsn(t, skip.into_iter(), &mut ev);
        inb.reset_streams(&[1]);
        // A duplicate of that FORWARD-TSN arrives late: it must not skip the new SSN 0.
        assert_eq!(inb.forward_tsn(t, skip.into_iter(), &mut ev), 0);
        inb.record(t + 1);
        inb.reassemble(meta(t + 1, 0, false, true, true), b"new", &mut ev);
        assert_eq!(messages(&mut ev), [b"new".to_vec()]);
    }

    #[test]
    fn reset_streams_restarts_ssn() {
        let mut inb = Inbound::new(1, 1000);
        let mut ev = VecDeque::new();
        let t = inb.unwrap(1);
        inb.reassemble(meta(t, 0, false, true, true), b"a", &mut ev);
        inb.reassemble(meta(t + 1, 1, false, true, true), b"b", &mut ev);
        inb.reset_streams(&[1]);
        inb.reassemble(meta(t + 2, 0, false, true, true), b"c", &mut ev);
        assert_eq!(messages(&mut ev), [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        inb.reset_streams(&[]);
        inb.reassemble(meta(t + 3, 0, false, true, true), b"d", &mut ev);
        assert_eq!(messages(&mut ev), [b"d".to_vec()]);
    }
}
