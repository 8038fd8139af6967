//! The sending half: per-stream queues scheduled round-robin by message, fragmentation at
//! transmit time, the in-flight queue with SACK processing, retransmission (T3-rtx and fast
//! retransmit), congestion control (RFC 9260 §6, §7), the peer's receive window, and partial
//! reliability with FORWARD-TSN (RFC 3758).
//!
//! The in-flight queue holds one entry per TSN from the cumulative ack point + 1 up to the
//! last TSN assigned, so any TSN is found by index in O(1); SACK processing touches each
//! acknowledged entry once, and only walks the range up to the highest Gap Ack Block when
//! there are gaps.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::event::Event;
use crate::chunk::{DataChunk, ForwardTsnChunk, ForwardTsnStream, GapAckBlock};
use crate::packet::COMMON_HEADER_LEN;
use crate::tsn::{unwrap_tsn, widen_tsn};
use crate::{Error, PartialReliability, Ppid};

/// A message waiting in its stream's queue, possibly partly cut into DATA chunks already.
#[derive(Debug)]
struct OutMessage {
    ppid: Ppid,
    data: Arc<[u8]>,
    unordered: bool,
    expires: Option<Instant>,
    max_retransmits: Option<u32>,
    /// Bytes already sent as DATA chunks.
    offset: usize,
    /// The SSN, assigned with the first fragment.
    ssn: u16,
}

#[derive(Debug)]
struct OutStream {
    queue: VecDeque<OutMessage>,
    next_ssn: u16,
    buffered: usize,
    low_threshold: usize,
    /// A reset of this stream was requested: new messages are refused.
    resetting: bool,
    /// Present in the round-robin list.
    scheduled: bool,
}

impl OutStream {
    fn new() -> Self {
        Self {
            queue: VecDeque::new(),
            next_ssn: 0,
            buffered: 0,
            low_threshold: 0,
            resetting: false,
            scheduled: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Sent and counted in the flight size.
    InFlight,
    /// Reported received by a Gap Ack Block.
    Acked,
    /// Marked for retransmission (not counted in the flight size).
    Retransmit,
    /// Given up (partial reliability); covered by the next FORWARD-TSN.
    Abandoned,
}

/// One DATA chunk that has a TSN and is not yet covered by the cumulative ack.
#[derive(Debug)]
struct Sent {
    data: Arc<[u8]>,
    start: usize,
    len: usize,
    stream: u16,
    ssn: u16,
    ppid: Ppid,
    unordered: bool,
    beginning: bool,
    ending: bool,
    state: ChunkState,
    misses: u8,
    fast_retransmitted: bool,
    transmissions: u32,
    sent_at: Instant,
    expires: Option<Instant>,
    max_retransmits: Option<u32>,
}

impl Sent {
    fn payload(&self) -> &[u8] {
        &self.data[self.start..self.start + self.len]
    }
}

/// What a SACK changed.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SackOutcome {
    /// The cumulative ack point moved.
    pub(crate) cum_advanced: bool,
    /// Some data was newly acknowledged (cumulatively or by gap).
    pub(crate) acked_new_data: bool,
    /// A round-trip measurement (Karn's rule applied).
    pub(crate) rtt: Option<Duration>,
}

/// Counters of the sending half.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct OutboundCounters {
    pub(crate) data_chunks_sent: u64,
    pub(crate) retransmitted_chunks: u64,
    pub(crate) fast_retransmits: u64,
    pub(crate) abandoned_messages: u64,
}

/// Send-side state of an association.
#[derive(Debug)]
pub(crate) struct Outbound {
    mtu: usize,
    max_payload: usize,
    next_tsn: u64,
    cum_ack: u64,
    inflight: VecDeque<Sent>,
    streams: HashMap<u16, OutStream>,
    rr: VecDeque<u16>,
    current: Option<u16>,
    buffered_total: usize,
    send_buffer_size: usize,
    /// Size of the last send refused with WouldBlock, until Writable is reported.
    blocked_want: Option<usize>,
    cwnd: usize,
    ssthresh: usize,
    partial_bytes_acked: usize,
    flight_size: usize,
    peer_rwnd: usize,
    /// The a_rwnd of the last SACK.
    last_a_rwnd: usize,
    fast_recovery_exit: Option<u64>,
    retransmit: BTreeSet<u64>,
    fast_retransmit_pending: bool,
    pr_supported: bool,
    adv_peer_ack: u64,
    forward_tsn_pending: bool,
    rtt_probe: Option<u64>,
    highest_gap_acked: u64,
    scratch_ranges: Vec<(u64, u64)>,
    pub(crate) counters: OutboundCounters,
}

impl Outbound {
    pub(crate) fn new(mtu: usize, initial_tsn: u32, send_buffer_size: usize) -> Self {
        let next_tsn = widen_tsn(initial_tsn);
        Self {
            mtu,
            max_payload: mtu - COMMON_HEADER_LEN - DataChunk::HEADER_LEN,
            next_tsn,
            cum_ack: next_tsn - 1,
            inflight: VecDeque::new(),
            streams: HashMap::new(),
            rr: VecDeque::new(),
            current: None,
            buffered_total: 0,
            send_buffer_size,
            blocked_want: None,
            cwnd: initial_cwnd(mtu),
            ssthresh: usize::MAX,
            partial_bytes_acked: 0,
            flight_size: 0,
            peer_rwnd: 0,
            last_a_rwnd: 0,
            fast_recovery_exit: None,
            retransmit: BTreeSet::new(),
            fast_retransmit_pending: false,
            pr_supported: false,
            adv_peer_ack: next_tsn - 1,
            forward_tsn_pending: false,
            rtt_probe: None,
            highest_gap_acked: next_tsn - 1,
            scratch_ranges: Vec::new(),
            counters: OutboundCounters::default(),
        }
    }

    /// Applies what the peer announced in its INIT or INIT-ACK.
    pub(crate) fn set_peer(&mut self, a_rwnd: u32, pr_supported: bool) {
        self.peer_rwnd = a_rwnd as usize;
        self.last_a_rwnd = a_rwnd as usize;
        // RFC 9260 §7.2.1: the initial ssthresh may be arbitrarily high; the peer's window.
        self.ssthresh = (a_rwnd as usize).max(4 * self.mtu);
        self.pr_supported = pr_supported;
    }

    pub(crate) fn set_pr_supported(&mut self, supported: bool) {
        self.pr_supported = supported;
    }

    pub(crate) fn cwnd(&self) -> usize {
        self.cwnd
    }

    pub(crate) fn flight_size(&self) -> usize {
        self.flight_size
    }

    pub(crate) fn peer_rwnd(&self) -> usize {
        self.peer_rwnd
    }

    /// The window the peer announced last.
    pub(crate) fn last_advertised_window(&self) -> usize {
        self.last_a_rwnd
    }

    /// Queues a message. Checks of size, state and stream range are the caller's.
    pub(crate) fn enqueue(
        &mut self,
        now: Instant,
        stream: u16,
        ppid: Ppid,
        data: &[u8],
        unordered: bool,
        reliability: PartialReliability,
    ) -> Result<(), Error> {
        if self.buffered_total > 0 && self.buffered_total + data.len() > self.send_buffer_size {
            self.blocked_want = Some(data.len());
            return Err(Error::WouldBlock);
        }
        let s = self.streams.entry(stream).or_insert_with(OutStream::new);
        if s.resetting {
            return Err(Error::InvalidStream("stream is being reset"));
        }
        let (expires, max_retransmits) = match reliability {
            PartialReliability::None => (None, None),
            PartialReliability::MaxRetransmits(n) => (None, Some(n)),
            PartialReliability::MaxLifetime(d) => (now.checked_add(d), None),
        };
        s.queue.push_back(OutMessage {
            ppid,
            data: Arc::from(data),
            unordered,
            expires,
            max_retransmits,
            offset: 0,
            ssn: 0,
        });
        s.buffered += data.len();
        self.buffered_total += data.len();
        if !s.scheduled && self.current != Some(stream) {
            s.scheduled = true;
            self.rr.push_back(stream);
        }
        Ok(())
    }

    pub(crate) fn buffered_amount(&self, stream: u16) -> usize {
        self.streams.get(&stream).map_or(0, |s| s.buffered)
    }

    pub(crate) fn buffered_total(&self) -> usize {
        self.buffered_total
    }

    pub(crate) fn set_low_threshold(&mut self, stream: u16, threshold: usize) {
        self.streams.entry(stream).or_insert_with(OutStream::new).low_threshold = threshold;
    }

    /// Nothing queued and nothing unacknowledged.
    pub(crate) fn is_idle(&self) -> bool {
        self.inflight.is_empty() && self.rr.is_empty() && self.current.is_none()
    }

    /// Some DATA is unacknowledged (the T3-rtx timer must run).
    pub(crate) fn has_outstanding(&self) -> bool {
        !self.inflight.is_empty()
    }

    /// Data waits to be sent (new or retransmission).
    pub(crate) fn has_pending(&self) -> bool {
        !self.retransmit.is_empty() || !self.rr.is_empty() || self.current.is_some()
    }

    /// A packet could carry DATA now (windows permitting).
    pub(crate) fn can_send(&self) -> bool {
        if self.fast_retransmit_pending && !self.retransmit.is_empty() {
            return true;
        }
        self.has_pending()
            && self.flight_size < self.cwnd
            && (self.peer_rwnd > 0 || self.flight_size == 0)
    }

    /// The last TSN assigned (RFC 6525 "Sender's Last Assigned TSN").
    pub(crate) fn last_assigned_tsn(&self) -> u32 {
        (self.next_tsn - 1) as u32
    }

    fn index_of(&self, tsn: u64) -> usize {
        (tsn - self.cum_ack - 1) as usize
    }

    /// Releases buffered bytes of a stream and reports crossings of the thresholds.
    fn release(&mut self, stream: u16, len: usize, events: &mut VecDeque<Event>) {
        self.buffered_total -= len;
        if let Some(s) = self.streams.get_mut(&stream) {
            let before = s.buffered;
            s.buffered -= len;
            if before > s.low_threshold && s.buffered <= s.low_threshold {
                events.push_back(Event::BufferedAmountLow { stream });
            }
        }
        if let Some(want) = self.blocked_want {
            if self.buffered_total == 0 || self.buffered_total + want <= self.send_buffer_size {
                self.blocked_want = None;
                events.push_back(Event::Writable);
            }
        }
    }

    /// Marks streams as being reset (no new messages) or not.
    pub(crate) fn set_resetting(&mut self, streams: &[u16], resetting: bool) {
        for &id in streams {
            self.streams.entry(id).or_insert_with(OutStream::new).resetting = resetting;
        }
    }

    pub(crate) fn is_resetting(&self, stream: u16) -> bool {
        self.streams.get(&stream).is_some_and(|s| s.resetting)
    }

    /// Every message of these streams has all its TSNs assigned, so a reset request can carry
    /// the last assigned TSN (RFC 6525 §5.1.2).
    pub(crate) fn streams_drained(&self, streams: &[u16]) -> bool {
        streams.iter().all(|id| {
            self.current != Some(*id) && self.streams.get(id).is_none_or(|s| s.queue.is_empty())
        })
    }

    /// Restarts the SSNs of reset streams at 0 and accepts messages on them again.
    pub(crate) fn complete_reset(&mut self, streams: &[u16]) {
        for &id in streams {
            let s = self.streams.entry(id).or_insert_with(OutStream::new);
            s.next_ssn = 0;
            s.resetting = false;
        }
    }

    /// Would the chunk at `i` be abandoned rather than retransmitted (RFC 3758 §3.5 A3)?
    fn should_abandon(&self, i: usize, now: Instant) -> bool {
        let e = &self.inflight[i];
        self.pr_supported
            && (e.max_retransmits.is_some_and(|m| e.transmissions > m)
                || e.expires.is_some_and(|x| now >= x))
    }

    /// Abandons the whole message that the chunk at `i` belongs to, including fragments not
    /// yet sent.
    fn abandon_at(&mut self, i: usize, events: &mut VecDeque<Event>) {
        let mut first = i;
        while first > 0 && !self.inflight[first].beginning {
            first -= 1;
        }
        let mut last = i;
        while !self.inflight[last].ending && last + 1 < self.inflight.len() {
            last += 1;
        }
        let stream = self.inflight[i].stream;
        let continues_unsent = !self.inflight[last].ending;
        for j in first..=last {
            let tsn = self.cum_ack + 1 + j as u64;
            let e = &mut self.inflight[j];
            match e.state {
                ChunkState::Abandoned => continue,
                ChunkState::InFlight => self.flight_size -= e.len,
                ChunkState::Retransmit => {
                    self.retransmit.remove(&tsn);
                }
                ChunkState::Acked => {}
            }
            e.state = ChunkState::Abandoned;
            let len = e.len;
            self.release(stream, len, events);
        }
        if continues_unsent && self.current == Some(stream) {
            let s = self.streams.get_mut(&stream).expect("current stream exists");
            if let Some(m) = s.queue.pop_front() {
                let rest = m.data.len() - m.offset;
                // The receiver holds fragments of a message whose end will never come, and may
                // have received every TSN sent so far. An abandoned placeholder end fragment
                // takes the next TSN, so that a FORWARD-TSN must cover it and tells the
                // receiver to drop the fragments and skip the SSN (RFC 3758 §3.5).
                let last_entry = &self.inflight[last];
                self.inflight.push_back(Sent {
                    data: last_entry.data.clone(),
                    start: 0,
                    len: 0,
                    stream,
                    ssn: last_entry.ssn,
                    ppid: last_entry.ppid,
                    unordered: last_entry.unordered,
                    beginning: false,
                    ending: true,
                    state: ChunkState::Abandoned,
                    misses: 0,
                    fast_retransmitted: false,
                    transmissions: 0,
                    sent_at: last_entry.sent_at,
                    expires: None,
                    max_retransmits: None,
                });
                self.next_tsn += 1;
                self.current = None;
                self.reschedule(stream);
                self.release(stream, rest, events);
            }
        }
        self.counters.abandoned_messages += 1;
        self.update_advanced_peer_ack();
    }

    fn reschedule(&mut self, stream: u16) {
        if let Some(s) = self.streams.get_mut(&stream) {
            if !s.queue.is_empty() && !s.scheduled && self.current != Some(stream) {
                s.scheduled = true;
                self.rr.push_back(stream);
            }
        }
    }

    /// RFC 3758 §3.5 C1: move the Advanced.Peer.Ack.Point over abandoned chunks.
    fn update_advanced_peer_ack(&mut self) {
        let mut adv = self.adv_peer_ack.max(self.cum_ack);
        let mut i = (adv - self.cum_ack) as usize;
        while self.inflight.get(i).is_some_and(|e| e.state == ChunkState::Abandoned) {
            adv += 1;
            i += 1;
        }
        if adv > self.adv_peer_ack {
            self.adv_peer_ack = adv;
            if adv > self.cum_ack {
                self.forward_tsn_pending = true;
            }
        }
    }

    /// A FORWARD-TSN should go out.
    pub(crate) fn needs_forward_tsn(&self) -> bool {
        self.forward_tsn_pending && self.adv_peer_ack > self.cum_ack
    }

    /// Appends a FORWARD-TSN if one is due and fits within `limit` bytes of packet.
    pub(crate) fn write_forward_tsn(&mut self, out: &mut Vec<u8>, limit: usize) -> bool {
        if !self.needs_forward_tsn() {
            return false;
        }
        let room = limit.saturating_sub(out.len());
        if room < ForwardTsnChunk::encoded_len(0) {
            return false;
        }
        let max_streams = (room - ForwardTsnChunk::encoded_len(0)) / 4;
        let mut skipped: Vec<ForwardTsnStream> = Vec::new();
        let mut new_cum = self.cum_ack;
        let count = (self.adv_peer_ack - self.cum_ack) as usize;
        for e in self.inflight.iter().take(count) {
            if !e.unordered {
                if let Some(s) = skipped.iter_mut().find(|s| s.stream == e.stream) {
                    s.ssn = e.ssn;
                } else if skipped.len() < max_streams {
                    skipped.push(ForwardTsnStream { stream: e.stream, ssn: e.ssn });
                } else {
                    // No room to name this stream: stop before it; the rest goes next time.
                    break;
                }
            }
            new_cum += 1;
        }
        if new_cum == self.cum_ack {
            return false;
        }
        if ForwardTsnChunk::write(out, new_cum as u32, &skipped).is_err() {
            return false;
        }
        self.forward_tsn_pending = new_cum < self.adv_peer_ack;
        true
    }

    /// Appends DATA chunks (retransmissions first, then new data) while they fit in `limit`
    /// bytes of packet and the congestion and receive windows allow. Returns how many were
    /// written.
    pub(crate) fn write_data(
        &mut self,
        now: Instant,
        out: &mut Vec<u8>,
        limit: usize,
        events: &mut VecDeque<Event>,
    ) -> usize {
        let mut written = 0;
        let ignore_cwnd = std::mem::take(&mut self.fast_retransmit_pending);
        while let Some(&tsn) = self.retransmit.first() {
            let i = self.index_of(tsn);
            // RFC 3758 §3.5 A1: check the lifetime before retransmitting.
            if self.inflight[i].expires.is_some_and(|x| now >= x) && self.pr_supported {
                self.abandon_at(i, events);
                continue;
            }
            if !ignore_cwnd && self.flight_size >= self.cwnd {
                break;
            }
            let e = &self.inflight[i];
            let chunk = DataChunk {
                tsn: tsn as u32,
                stream: e.stream,
                ssn: e.ssn,
                ppid: e.ppid,
                unordered: e.unordered,
                beginning: e.beginning,
                ending: e.ending,
                immediate: false,
                payload: e.payload(),
            };
            if out.len() + chunk.encoded_len() > limit {
                break;
            }
            // A DATA chunk never exceeds 65535 bytes: fragments are bounded by the MTU.
            let _ = chunk.write_to(out);
            let e = &mut self.inflight[i];
            e.state = ChunkState::InFlight;
            e.transmissions += 1;
            e.misses = 0;
            e.sent_at = now;
            self.flight_size += e.len;
            self.peer_rwnd = self.peer_rwnd.saturating_sub(e.len);
            self.retransmit.pop_first();
            if self.rtt_probe == Some(tsn) {
                self.rtt_probe = None;
            }
            self.counters.retransmitted_chunks += 1;
            written += 1;
        }
        if !self.retransmit.is_empty() {
            return written;
        }

        // New data.
        loop {
            if self.flight_size >= self.cwnd || (self.peer_rwnd == 0 && self.flight_size > 0) {
                break;
            }
            let room = limit.saturating_sub(out.len());
            if room < DataChunk::HEADER_LEN + 4 {
                break;
            }
            let Some(stream) = self.current.or_else(|| self.rr.pop_front()) else {
                break;
            };
            let s = self.streams.get_mut(&stream).expect("scheduled streams exist");
            s.scheduled = false;
            let Some(msg) = s.queue.front_mut() else {
                self.current = None;
                continue;
            };
            if msg.offset == 0 && msg.expires.is_some_and(|x| now >= x) {
                // RFC 3758 §3.5 A1: an expired message not yet sent is dropped without a TSN.
                let m = s.queue.pop_front().expect("front exists");
                self.counters.abandoned_messages += 1;
                self.reschedule(stream);
                self.release(stream, m.data.len(), events);
                continue;
            }
            let remaining = msg.data.len() - msg.offset;
            let max_payload = (room - DataChunk::HEADER_LEN).min(self.max_payload);
            let take = if remaining <= max_payload {
                remaining
            } else if written > 0 && max_payload < self.max_payload / 2 {
                // Not worth a small fragment: the next packet takes a full one.
                self.current = Some(stream);
                break;
            } else {
                max_payload
            };
            if take > self.peer_rwnd && self.flight_size > 0 {
                // RFC 9260 §6.1 A: beyond the peer's window, except one probe chunk.
                if self.current.is_none() {
                    // Not started: put the stream back at the front.
                    s.scheduled = true;
                    self.rr.push_front(stream);
                }
                break;
            }
            let beginning = msg.offset == 0;
            let ending = take == remaining;
            if beginning && !msg.unordered {
                msg.ssn = s.next_ssn;
                s.next_ssn = s.next_ssn.wrapping_add(1);
            }
            let tsn = self.next_tsn;
            let start = msg.offset;
            let chunk = DataChunk {
                tsn: tsn as u32,
                stream,
                ssn: msg.ssn,
                ppid: msg.ppid,
                unordered: msg.unordered,
                beginning,
                ending,
                immediate: false,
                payload: &msg.data[start..start + take],
            };
            // Bounded by the MTU: cannot exceed the chunk length field.
            let _ = chunk.write_to(out);
            self.inflight.push_back(Sent {
                data: msg.data.clone(),
                start,
                len: take,
                stream,
                ssn: msg.ssn,
                ppid: msg.ppid,
                unordered: msg.unordered,
                beginning,
                ending,
                state: ChunkState::InFlight,
                misses: 0,
                fast_retransmitted: false,
                transmissions: 1,
                sent_at: now,
                expires: msg.expires,
                max_retransmits: msg.max_retransmits,
            });
            msg.offset += take;
            self.next_tsn += 1;
            self.flight_size += take;
            self.peer_rwnd = self.peer_rwnd.saturating_sub(take);
            if self.rtt_probe.is_none() {
                self.rtt_probe = Some(tsn);
            }
            self.counters.data_chunks_sent += 1;
            written += 1;
            if ending {
                s.queue.pop_front();
                self.current = None;
                self.reschedule(stream);
            } else {
                self.current = Some(stream);
            }
        }
        written
    }

    /// Processes a SACK (RFC 9260 §6.2.1, §7.2) or the cumulative ack of a SHUTDOWN
    /// (`a_rwnd` absent).
    pub(crate) fn handle_sack(
        &mut self,
        now: Instant,
        cum_tsn_ack: u32,
        a_rwnd: Option<u32>,
        gap_blocks: impl Iterator<Item = GapAckBlock>,
        events: &mut VecDeque<Event>,
    ) -> Result<SackOutcome, Error> {
        let cum = unwrap_tsn(self.cum_ack, cum_tsn_ack);
        if cum < self.cum_ack {
            // RFC 9260 §6.2.1 D i: an older SACK, out of order.
            return Ok(SackOutcome::default());
        }
        if cum >= self.next_tsn {
            return Err(Error::Dropped("SACK acknowledges a TSN never sent"));
        }
        let mut outcome = SackOutcome { cum_advanced: cum > self.cum_ack, ..Default::default() };
        let flight_before = self.flight_size;
        let mut acked_bytes = 0usize;

        while self.cum_ack < cum {
            let e = self.inflight.pop_front().expect("one entry per TSN up to next_tsn");
            self.cum_ack += 1;
            match e.state {
                ChunkState::InFlight => {
                    self.flight_size -= e.len;
                    acked_bytes += e.len;
                }
                ChunkState::Retransmit => {
                    self.retransmit.remove(&self.cum_ack);
                    acked_bytes += e.len;
                }
                ChunkState::Acked | ChunkState::Abandoned => {}
            }
            if self.rtt_probe == Some(self.cum_ack) {
                self.rtt_probe = None;
                if e.transmissions == 1 {
                    outcome.rtt = Some(now.saturating_duration_since(e.sent_at));
                }
            }
            if e.state != ChunkState::Abandoned {
                self.release(e.stream, e.len, events);
            }
        }
        if self.adv_peer_ack < self.cum_ack {
            self.adv_peer_ack = self.cum_ack;
        }

        // Gap Ack Blocks as TSN ranges, sorted, clipped to what was sent.
        let mut ranges = std::mem::take(&mut self.scratch_ranges);
        ranges.clear();
        let last_sent = self.next_tsn - 1;
        for b in gap_blocks {
            if b.start == 0 || b.start > b.end {
                continue;
            }
            let start = cum + u64::from(b.start);
            let end = (cum + u64::from(b.end)).min(last_sent);
            if start <= end {
                ranges.push((start, end));
            }
        }
        ranges.sort_unstable();
        let highest_block = ranges.iter().map(|r| r.1).max().unwrap_or(cum);
        let scan_end = highest_block.max(self.highest_gap_acked).min(last_sent);
        let mut htna = None;
        let mut bi = 0;
        let mut tsn = cum + 1;
        while tsn <= scan_end {
            while ranges.get(bi).is_some_and(|r| r.1 < tsn) {
                bi += 1;
            }
            let in_block = ranges.get(bi).is_some_and(|r| r.0 <= tsn);
            let i = self.index_of(tsn);
            let e = &mut self.inflight[i];
            if in_block {
                match e.state {
                    ChunkState::InFlight => {
                        self.flight_size -= e.len;
                        acked_bytes += e.len;
                        e.state = ChunkState::Acked;
                        htna = Some(tsn);
                    }
                    ChunkState::Retransmit => {
                        self.retransmit.remove(&tsn);
                        acked_bytes += e.len;
                        e.state = ChunkState::Acked;
                        htna = Some(tsn);
                    }
                    ChunkState::Acked | ChunkState::Abandoned => {}
                }
                if self.rtt_probe == Some(tsn) {
                    self.rtt_probe = None;
                    if e.transmissions == 1 {
                        outcome.rtt = Some(now.saturating_duration_since(e.sent_at));
                    }
                }
            } else if e.state == ChunkState::Acked {
                // Reneged (RFC 9260 §6.2.1): outstanding again.
                e.state = ChunkState::InFlight;
                self.flight_size += e.len;
            }
            tsn += 1;
        }
        self.highest_gap_acked = highest_block;
        outcome.acked_new_data = acked_bytes > 0;

        if self.fast_recovery_exit.is_some_and(|exit| self.cum_ack >= exit) {
            self.fast_recovery_exit = None;
        }
        let in_fast_recovery = self.fast_recovery_exit.is_some();

        // RFC 9260 §7.2.1 and §7.2.2.
        if !in_fast_recovery && acked_bytes > 0 {
            if self.cwnd <= self.ssthresh {
                if outcome.cum_advanced && flight_before >= self.cwnd {
                    self.cwnd += acked_bytes.min(self.mtu);
                }
            } else {
                self.partial_bytes_acked += acked_bytes;
                if outcome.cum_advanced
                    && self.partial_bytes_acked >= self.cwnd
                    && flight_before >= self.cwnd
                {
                    self.partial_bytes_acked -= self.cwnd;
                    self.cwnd += self.mtu;
                }
            }
        }

        // Miss indications (RFC 9260 §7.2.4, HTNA).
        let miss_limit = if in_fast_recovery && outcome.cum_advanced {
            scan_end + 1
        } else {
            htna.unwrap_or(cum + 1)
        };
        let mut newly_marked = false;
        let mut tsn = cum + 1;
        while tsn < miss_limit {
            let i = self.index_of(tsn);
            if self.inflight[i].state == ChunkState::InFlight {
                let e = &mut self.inflight[i];
                e.misses = e.misses.saturating_add(1);
                if e.misses >= 3 && !e.fast_retransmitted {
                    if self.should_abandon(i, now) {
                        self.abandon_at(i, events);
                    } else {
                        let e = &mut self.inflight[i];
                        e.state = ChunkState::Retransmit;
                        e.fast_retransmitted = true;
                        self.flight_size -= e.len;
                        self.retransmit.insert(tsn);
                        self.counters.fast_retransmits += 1;
                        newly_marked = true;
                    }
                }
            }
            tsn += 1;
        }
        if newly_marked {
            if self.fast_recovery_exit.is_none() {
                self.ssthresh = (self.cwnd / 2).max(4 * self.mtu);
                self.cwnd = self.ssthresh;
                self.partial_bytes_acked = 0;
                self.fast_recovery_exit = Some(last_sent);
            }
            self.fast_retransmit_pending = true;
        }
        self.scratch_ranges = ranges;

        if self.inflight.is_empty() {
            self.partial_bytes_acked = 0;
        }
        if let Some(a_rwnd) = a_rwnd {
            self.last_a_rwnd = a_rwnd as usize;
            self.peer_rwnd = (a_rwnd as usize).saturating_sub(self.flight_size);
        }
        self.update_advanced_peer_ack();
        // RFC 3758 §3.5 C3.
        if self.adv_peer_ack > self.cum_ack {
            self.forward_tsn_pending = true;
        }
        Ok(outcome)
    }

    /// T3-rtx expired (RFC 9260 §6.3.3): collapse the window and mark every outstanding chunk
    /// for retransmission (or abandon it, RFC 3758 §3.5 A3).
    pub(crate) fn on_t3_expiry(&mut self, now: Instant, events: &mut VecDeque<Event>) {
        self.ssthresh = (self.cwnd / 2).max(4 * self.mtu);
        self.cwnd = self.mtu;
        self.partial_bytes_acked = 0;
        self.fast_recovery_exit = None;
        self.rtt_probe = None;
        for i in 0..self.inflight.len() {
            if self.inflight[i].state != ChunkState::InFlight {
                continue;
            }
            if self.should_abandon(i, now) {
                self.abandon_at(i, events);
                continue;
            }
            let tsn = self.cum_ack + 1 + i as u64;
            let e = &mut self.inflight[i];
            e.state = ChunkState::Retransmit;
            e.misses = 0;
            self.flight_size -= e.len;
            self.retransmit.insert(tsn);
        }
        self.update_advanced_peer_ack();
        if self.adv_peer_ack > self.cum_ack {
            self.forward_tsn_pending = true;
        }
    }

    /// RFC 9260 §7.2.1: after an idle period of one RTO the window decays.
    pub(crate) fn on_idle(&mut self) {
        self.cwnd = (self.cwnd / 2).max(4 * self.mtu);
    }

    /// Drops everything (association closed or restarted).
    pub(crate) fn clear(&mut self) {
        self.inflight.clear();
        self.streams.clear();
        self.rr.clear();
        self.current = None;
        self.retransmit.clear();
        self.buffered_total = 0;
        self.flight_size = 0;
        self.blocked_want = None;
    }
}

/// RFC 9260 §7.2.1: initial cwnd = min(4 * MTU, max(2 * MTU, 4404)).
fn initial_cwnd(mtu: usize) -> usize {
    (4 * mtu).min((2 * mtu).max(4404))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::{Chunks, DataChunk};

    const MTU: usize = 1100;

    fn setup() -> (Outbound, Instant, VecDeque<Event>) {
        let mut out = Outbound::new(MTU, 1000, 1 << 20);
        out.set_peer(1 << 20, true);
        (out, Instant::now(), VecDeque::new())
    }

    fn packet(out: &mut Outbound, now: Instant, ev: &mut VecDeque<Event>) -> Vec<(u32, usize)> {
        let mut buf = vec![0; COMMON_HEADER_LEN];
        out.write_data(now, &mut buf, MTU, ev);
        Chunks::new(&buf[COMMON_HEADER_LEN..])
            .map(|c| {
                let d = DataChunk::parse(&c.unwrap()).unwrap();
                (d.tsn, d.payload.len())
            })
            .collect()
    }

    #[test]
    fn fragments_to_the_mtu_and_bundles_small_messages() {
        let (mut out, now, mut ev) = setup();
        out.enqueue(now, 1, Ppid::BINARY, &[1; 3000], false, PartialReliability::None).unwrap();
        out.enqueue(now, 2, Ppid::BINARY, &[2; 10], false, PartialReliability::None).unwrap();
        out.enqueue(now, 2, Ppid::BINARY, &[3; 10], false, PartialReliability::None).unwrap();
        assert_eq!(packet(&mut out, now, &mut ev), [(1000, 1072)]);
        assert_eq!(packet(&mut out, now, &mut ev), [(1001, 1072)]);
        // The last fragment, then both small messages bundled.
        assert_eq!(packet(&mut out, now, &mut ev), [(1002, 856), (1003, 10), (1004, 10)]);
        assert_eq!(out.flight_size(), 3020);
        assert_eq!(out.buffered_total(), 3020);
    }

    #[test]
    fn sack_releases_and_grows_cwnd_in_slow_start() {
        let (mut out, now, mut ev) = setup();
        for _ in 0..8 {
            out.enqueue(now, 0, Ppid::BINARY, &[0; 1000], false, PartialReliability::None).unwrap();
        }
        let mut sent = 0;
        while !packet(&mut out, now, &mut ev).is_empty() {
            sent += 1;
        }
        // Initial cwnd 4400: five packets of 1000 bytes (the last one overshoots).
        assert_eq!(sent, 5);
        let later = now + Duration::from_millis(50);
        let o = out.handle_sack(later, 1001, Some(1 << 20), std::iter::empty(), &mut ev).unwrap();
        assert!(o.cum_advanced);
        assert_eq!(o.rtt, Some(Duration::from_millis(50)));
        assert_eq!(out.cwnd(), 4400 + 1100);
        assert_eq!(out.flight_size(), 3000);
        assert_eq!(ev.pop_front(), None);
        out.handle_sack(later, 1004, Some(1 << 20), std::iter::empty(), &mut ev).unwrap();
        while !packet(&mut out, later, &mut ev).is_empty() {}
        out.handle_sack(later, 1007, Some(1 << 20), std::iter::empty(), &mut ev).unwrap();
        assert_eq!(ev.pop_front(), Some(Event::BufferedAmountLow { stream: 0 }));
        assert!(out.is_idle());
    }

    #[test]
    fn three_miss_indications_trigger_fast_retransmit() {
        let (mut out, now, mut ev) = setup();
        for _ in 0..5 {
            out.enqueue(now, 0, Ppid::BINARY, &[0; 1000], false, PartialReliability::None).unwrap();
        }
        while !packet(&mut out, now, &mut ev).is_empty() {}
        // TSN 1000 lost; 1001, 1002, 1003 arrive one by one.
        for end in 1..=3u16 {
            let blocks = [GapAckBlock { start: 2, end: end + 1 }];
            out.handle_sack(now, 999, Some(1 << 20), blocks.into_iter(), &mut ev).unwrap();
            if end < 3 {
                assert!(packet(&mut out, now, &mut ev).iter().all(|(t, _)| *t != 1000));
            }
        }
        assert_eq!(out.counters.fast_retransmits, 1);
        let p = packet(&mut out, now, &mut ev);
        assert_eq!(p.first(), Some(&(1000, 1000)));
        assert_eq!(out.cwnd(), 4 * MTU);
    }

    #[test]
    fn t3_marks_everything_and_collapses_cwnd() {
        let (mut out, now, mut ev) = setup();
        for _ in 0..3 {
            out.enqueue(now, 0, Ppid::BINARY, &[0; 1000], false, PartialReliability::None).unwrap();
        }
        while !packet(&mut out, now, &mut ev).is_empty() {}
        out.on_t3_expiry(now, &mut ev);
        assert_eq!(out.cwnd(), MTU);
        assert_eq!(out.flight_size(), 0);
        assert_eq!(packet(&mut out, now, &mut ev), [(1000, 1000)]);
        assert_eq!(packet(&mut out, now, &mut ev), [(1001, 1000)], "one overshooting packet");
        assert!(packet(&mut out, now, &mut ev).is_empty());
        assert_eq!(out.counters.retransmitted_chunks, 2);
    }

    #[test]
    fn max_retransmits_zero_abandons_and_forwards_tsn() {
        let (mut out, now, mut ev) = setup();
        let pr = PartialReliability::MaxRetransmits(0);
        out.enqueue(now, 3, Ppid::BINARY, &[0; 2000], false, pr).unwrap();
        out.enqueue(now, 3, Ppid::BINARY, &[1; 10], false, PartialReliability::None).unwrap();
        while !packet(&mut out, now, &mut ev).is_empty() {}
        out.on_t3_expiry(now, &mut ev);
        assert_eq!(out.counters.abandoned_messages, 1);
        assert!(out.needs_forward_tsn());
        let mut buf = Vec::new();
        assert!(out.write_forward_tsn(&mut buf, MTU));
        let raw = Chunks::new(&buf).next().unwrap().unwrap();
        let f = ForwardTsnChunk::parse(&raw).unwrap();
        assert_eq!(f.new_cum_tsn, 1001);
        assert_eq!(f.streams().collect::<Vec<_>>(), [ForwardTsnStream { stream: 3, ssn: 0 }]);
        // The reliable message is retransmitted.
        assert_eq!(packet(&mut out, now, &mut ev), [(1002, 10)]);
        assert_eq!(out.buffered_total(), 10);
    }

    #[test]
    fn abandoning_a_partly_sent_message_forwards_past_a_placeholder() {
        let (mut out, now, mut ev) = setup();
        let pr = PartialReliability::MaxRetransmits(0);
        // 20 000 bytes: the initial window lets five fragments out.
        out.enqueue(now, 6, Ppid::BINARY, &[0; 20_000], false, pr).unwrap();
        while !packet(&mut out, now, &mut ev).is_empty() {}
        assert_eq!(out.last_assigned_tsn(), 1004);
        // Every sent fragment arrives, but the acknowledgement is lost: T3 abandons them.
        out.on_t3_expiry(now, &mut ev);
        assert_eq!(out.buffered_total(), 0);
        assert_eq!(out.last_assigned_tsn(), 1005, "the placeholder took a TSN");
        // The receiver now acknowledges all five; the FORWARD-TSN must still cover 1005.
        out.handle_sack(now, 1004, Some(1 << 20), std::iter::empty(), &mut ev).unwrap();
        let mut buf = Vec::new();
        assert!(out.write_forward_tsn(&mut buf, MTU));
        let raw = Chunks::new(&buf).next().unwrap().unwrap();
        let f = ForwardTsnChunk::parse(&raw).unwrap();
        assert_eq!(f.new_cum_tsn, 1005);
        assert_eq!(f.streams().collect::<Vec<_>>(), [ForwardTsnStream { stream: 6, ssn: 0 }]);
        out.handle_sack(now, 1005, Some(1 << 20), std::iter::empty(), &mut ev).unwrap();
        assert!(out.is_idle());
    }

    #[test]
    fn expired_unsent_messages_are_dropped_without_a_tsn() {
        let (mut out, now, mut ev) = setup();
        let pr = PartialReliability::MaxLifetime(Duration::from_millis(10));
        out.enqueue(now, 0, Ppid::BINARY, &[0; 100], false, pr).unwrap();
        out.enqueue(now, 0, Ppid::BINARY, &[1; 100], false, PartialReliability::None).unwrap();
        let p = packet(&mut out, now + Duration::from_millis(20), &mut ev);
        assert_eq!(p, [(1000, 100)]);
        assert_eq!(out.counters.abandoned_messages, 1);
    }

    #[test]
    fn send_buffer_limit_and_writable() {
        let mut out = Outbound::new(MTU, 1, 2000);
        out.set_peer(1 << 20, true);
        let now = Instant::now();
        let mut ev = VecDeque::new();
        out.enqueue(now, 0, Ppid::BINARY, &[0; 1500], false, PartialReliability::None).unwrap();
        assert_eq!(
            out.enqueue(now, 0, Ppid::BINARY, &[0; 1000], false, PartialReliability::None),
            Err(Error::WouldBlock)
        );
        while !packet(&mut out, now, &mut ev).is_empty() {}
        out.handle_sack(now, 1, Some(1 << 20), std::iter::empty(), &mut ev).unwrap();
        // 1072 acknowledged: 428 + 1000 fits.
        assert!(ev.contains(&Event::Writable));
    }

    #[test]
    fn zero_window_allows_a_single_probe() {
        let (mut out, now, mut ev) = setup();
        out.set_peer(0, true);
        for _ in 0..3 {
            out.enqueue(now, 0, Ppid::BINARY, &[0; 500], false, PartialReliability::None).unwrap();
        }
        assert_eq!(packet(&mut out, now, &mut ev), [(1000, 500)]);
        assert!(packet(&mut out, now, &mut ev).is_empty());
    }

    #[test]
    fn bogus_sack_is_refused() {
        let (mut out, now, mut ev) = setup();
        assert!(out.handle_sack(now, 5000, Some(1), std::iter::empty(), &mut ev).is_err());
        // Stale SACK: ignored.
        assert!(
            !out.handle_sack(now, 10, Some(1), std::iter::empty(), &mut ev).unwrap().cum_advanced
        );
        // Malformed blocks are ignored.
        let blocks = [GapAckBlock { start: 0, end: 5 }, GapAckBlock { start: 9, end: 2 }];
        out.handle_sack(now, 999, Some(1), blocks.into_iter(), &mut ev).unwrap();
    }
}
