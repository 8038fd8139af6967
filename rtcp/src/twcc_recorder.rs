//! The receive side of transport-wide congestion control
//! (draft-holmer-rmcat-transport-wide-cc-extensions-01): arrival times recorded by transport
//! sequence number between two feedback packets, then written by a [`TwccBuilder`].
//!
//! Arrivals may come in any order; each feedback reports them sorted, skipped numbers as not
//! received. A packet that arrives after the feedback covering its number went out is not
//! reported again (the sender already counted it lost). Memory is bounded: at most
//! `max_pending` arrivals wait for the next feedback, more are dropped and counted.

use std::time::Instant;

use crate::seq::Unwrapper;
use crate::TwccBuilder;

/// Arrivals waiting by default; at 100 ms intervals, enough for 40 000 packets per second.
pub const DEFAULT_MAX_PENDING: usize = 4096;

/// Records transport-wide sequence numbers and builds the feedback. See the module
/// documentation.
#[derive(Debug, Clone)]
pub struct TwccRecorder {
    epoch: Option<Instant>,
    unwrapper: Unwrapper,
    /// (extended sequence number, arrival in µs since `epoch`).
    pending: Vec<(i64, i64)>,
    max_pending: usize,
    /// The highest number a feedback already covered.
    reported: Option<i64>,
    builder: TwccBuilder,
    dropped: u64,
}

impl TwccRecorder {
    /// A recorder whose feedback says `sender_ssrc` and `media_ssrc`.
    pub fn new(sender_ssrc: u32, media_ssrc: u32) -> TwccRecorder {
        TwccRecorder {
            epoch: None,
            unwrapper: Unwrapper::default(),
            pending: Vec::with_capacity(DEFAULT_MAX_PENDING),
            max_pending: DEFAULT_MAX_PENDING,
            reported: None,
            builder: TwccBuilder::new(sender_ssrc, media_ssrc),
            dropped: 0,
        }
    }

    /// Changes the media SSRC written in the feedback (any SSRC of the remote sender).
    pub fn set_media_ssrc(&mut self, media_ssrc: u32) {
        self.builder.set_media_ssrc(media_ssrc);
    }

    /// Whether arrivals wait for a feedback.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Arrivals dropped because too many waited, or arriving after their feedback.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// A packet with transport-wide sequence number `seq` arrived at `now`.
    pub fn record(&mut self, now: Instant, seq: u16) {
        let epoch = *self.epoch.get_or_insert(now);
        let ext = self.unwrapper.unwrap(seq);
        if self.reported.is_some_and(|r| ext <= r) || self.pending.len() >= self.max_pending {
            self.dropped += 1;
            return;
        }
        let arrival = now.saturating_duration_since(epoch).as_micros();
        self.pending.push((ext, i64::try_from(arrival).unwrap_or(i64::MAX)));
    }

    /// Appends the feedback packets for the arrivals since the last call to `out` and
    /// returns how many were written (0 when nothing arrived).
    pub fn poll_feedback(&mut self, out: &mut Vec<u8>) -> usize {
        if self.pending.is_empty() {
            return 0;
        }
        self.pending.sort_unstable();
        let mut previous: Option<i64> = None;
        for &(ext, arrival) in &self.pending {
            if previous == Some(ext) {
                continue; // a duplicate: its first arrival counts
            }
            previous = Some(ext);
            if self.builder.push(ext as u16, Some(arrival)).is_err() {
                // Cannot happen: numbers are pushed in increasing order, above the last
                // feedback's. Dropped and counted all the same.
                self.dropped += 1;
            }
        }
        self.reported = previous.or(self.reported);
        self.pending.clear();
        self.builder.finish(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CompoundIter, Packet, TwccStatus};
    use std::time::Duration;

    fn parse(out: &[u8]) -> Vec<(u16, Option<i64>)> {
        let mut got = Vec::new();
        for packet in CompoundIter::new(out) {
            let Ok(Packet::TransportCc(fb)) = packet else { panic!("{packet:?}") };
            for status in fb.statuses() {
                assert_eq!(status.arrival_us.is_none(), status.status == TwccStatus::NotReceived);
                got.push((status.sequence, status.arrival_us));
            }
        }
        got
    }

    #[test]
    fn feedback_reports_arrivals_in_order_with_their_deltas() {
        let t0 = Instant::now();
        let mut r = TwccRecorder::new(1, 0x5eed);
        let mut out = Vec::new();
        assert_eq!(r.poll_feedback(&mut out), 0);
        // 65534 at 0, 0 at 5 ms (65535 lost), 1 before 65534 got there... reordered: 2 at
        // 6.25 ms, 1 at 7 ms, and a duplicate of 0.
        let at = |us: u64| t0 + Duration::from_micros(us);
        r.record(at(0), 65_534);
        r.record(at(5_000), 0);
        r.record(at(6_250), 2);
        r.record(at(7_000), 1);
        r.record(at(9_000), 0);
        assert_eq!(r.poll_feedback(&mut out), 1);
        let got = parse(&out);
        // Arrival times come back relative to the first (the reference time is in 64 ms
        // units, deltas in 250 µs ticks).
        let first = got[0].1.unwrap();
        let relative: Vec<(u16, Option<i64>)> =
            got.iter().map(|(s, a)| (*s, a.map(|a| a - first))).collect();
        assert_eq!(
            relative,
            [
                (65_534, Some(0)),
                (65_535, None),
                (0, Some(5_000)),
                (1, Some(7_000)),
                (2, Some(6_250))
            ]
        );
        // A late arrival of an already reported number is not reported again; the next
        // feedback starts after the last one.
        out.clear();
        r.record(at(10_000), 65_535);
        r.record(at(20_000), 3);
        assert_eq!(r.poll_feedback(&mut out), 1);
        let got = parse(&out);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, 3);
        assert_eq!(got[0].1.unwrap() - first, 20_000);
        assert_eq!(r.dropped(), 1);
    }
}
