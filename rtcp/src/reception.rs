//! What a receiver reports about one source (RFC 3550 §6.4.1): packets lost, the extended
//! highest sequence number, interarrival jitter and the timing of the last sender report,
//! computed as RFC 3550 appendix A.3 and A.8 do.

use std::time::{Duration, Instant};

use crate::seq::Unwrapper;
use crate::ReceptionReport;

/// Reception statistics of one source. Feed it original media packets only (not
/// retransmissions, whose timing says nothing of the path's jitter).
#[derive(Debug, Clone)]
pub struct ReceptionStats {
    clock_rate: u32,
    epoch: Option<Instant>,
    unwrapper: Unwrapper,
    base: i64,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// Previous relative transit time, in RTP units.
    transit: Option<u32>,
    /// Jitter in RTP units, scaled by 16 (RFC 3550 §A.8, integer form).
    jitter_q4: u32,
    /// The middle 32 bits of the last SR's NTP timestamp and when it arrived.
    last_sr: Option<(u32, Instant)>,
}

impl ReceptionStats {
    /// Statistics of a source whose RTP clock runs at `clock_rate` Hz.
    pub fn new(clock_rate: u32) -> ReceptionStats {
        ReceptionStats {
            clock_rate: clock_rate.max(1),
            epoch: None,
            unwrapper: Unwrapper::default(),
            base: 0,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            transit: None,
            jitter_q4: 0,
            last_sr: None,
        }
    }

    /// Whether any packet was received.
    pub fn has_received(&self) -> bool {
        self.received > 0
    }

    /// A packet with sequence number `seq` and RTP timestamp `timestamp` arrived at `now`.
    pub fn on_packet(&mut self, now: Instant, seq: u16, timestamp: u32) {
        let epoch = *self.epoch.get_or_insert(now);
        let ext = self.unwrapper.unwrap(seq);
        if self.received == 0 || ext < self.base {
            self.base = ext;
        }
        self.received += 1;
        // RFC 3550 §A.8: the arrival time in RTP units (any fixed origin), the relative
        // transit time, and J += (|D| - J) / 16.
        let elapsed = now.saturating_duration_since(epoch);
        let arrival = (elapsed.as_micros() * u128::from(self.clock_rate) / 1_000_000) as u32;
        let transit = arrival.wrapping_sub(timestamp);
        if let Some(previous) = self.transit {
            let d = (transit.wrapping_sub(previous) as i32).unsigned_abs();
            // jitter += d - ((jitter + 8) >> 4), on the value scaled by 16.
            self.jitter_q4 = self.jitter_q4.wrapping_add(d).wrapping_sub((self.jitter_q4 + 8) >> 4);
        }
        self.transit = Some(transit);
    }

    /// A sender report from the source arrived at `now` with NTP timestamp `ntp`.
    pub fn on_sender_report(&mut self, now: Instant, ntp: u64) {
        self.last_sr = Some(((ntp >> 16) as u32, now));
    }

    /// The interarrival jitter, in RTP units.
    pub fn jitter(&self) -> u32 {
        self.jitter_q4 >> 4
    }

    /// The report block on source `ssrc` at `now`; the loss fraction covers the time since
    /// the previous call (RFC 3550 §A.3).
    pub fn report(&mut self, now: Instant, ssrc: u32) -> ReceptionReport {
        let highest = self.unwrapper.newest().unwrap_or(0);
        let expected = u64::try_from(highest - self.base + 1).unwrap_or(0);
        let lost = expected as i64 - self.received as i64;
        let expected_interval = expected.saturating_sub(self.expected_prior);
        let received_interval = self.received.saturating_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        let (last_sr, delay_since_last_sr) = match self.last_sr {
            None => (0, 0),
            Some((compact, at)) => (compact, to_compact(now.saturating_duration_since(at))),
        };
        ReceptionReport {
            ssrc,
            fraction_lost,
            cumulative_lost: lost.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
            // The cycle count wraps with the 32-bit field, as the field does.
            extended_highest_sequence: highest as u32,
            jitter: self.jitter(),
            last_sr,
            delay_since_last_sr,
        }
    }
}

/// A duration in the 16.16 fixed-point seconds of RFC 3550's DLSR (saturating).
pub fn to_compact(d: Duration) -> u32 {
    let units = d.as_micros() * 65_536 / 1_000_000;
    u32::try_from(units).unwrap_or(u32::MAX)
}

/// A duration as a 64-bit NTP interval (32.32 fixed-point seconds, saturating).
pub fn to_ntp_interval(d: Duration) -> u64 {
    let secs = d.as_secs().min(u64::from(u32::MAX));
    let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn loss_and_highest_sequence_through_a_wrap() {
        let t0 = Instant::now();
        let mut s = ReceptionStats::new(90_000);
        // 100 packets from 65 500, every tenth lost.
        for i in 0..100u32 {
            if i % 10 != 5 {
                s.on_packet(t0 + ms(u64::from(i) * 10), (65_500 + i) as u16, i * 900);
            }
        }
        let r = s.report(t0 + ms(1000), 42);
        assert_eq!(r.ssrc, 42);
        assert_eq!(r.cumulative_lost, 10);
        // 10 of 100: 25.6 in 1/256, truncated.
        assert_eq!(r.fraction_lost, 25);
        assert_eq!(r.extended_highest_sequence, 65_500 + 99);
        // Arrivals exactly on the RTP clock: no jitter.
        assert_eq!(r.jitter, 0);
        assert_eq!((r.last_sr, r.delay_since_last_sr), (0, 0));
        // The next interval loses nothing; the total stays; duplicates make it negative.
        for i in 100..150u32 {
            s.on_packet(t0 + ms(u64::from(i) * 10), (65_500 + i) as u16, i * 900);
        }
        let r = s.report(t0 + ms(1500), 42);
        assert_eq!((r.fraction_lost, r.cumulative_lost), (0, 10));
        for _ in 0..20 {
            s.on_packet(t0 + ms(1500), 65_500u32.wrapping_add(149) as u16, 149 * 900);
        }
        let r = s.report(t0 + ms(1600), 42);
        assert_eq!((r.fraction_lost, r.cumulative_lost), (0, -10));
    }

    #[test]
    fn jitter_follows_rfc_3550_a8() {
        let t0 = Instant::now();
        let mut s = ReceptionStats::new(90_000);
        // One packet every 20 ms (1800 ticks); every other one arrives 2 ms (180 ticks) late.
        let mut expected = 0.0f64;
        for i in 0..40u32 {
            let late = if i % 2 == 1 { ms(2) } else { ms(0) };
            s.on_packet(t0 + ms(20 * u64::from(i)) + late, i as u16, 1800 * i);
            if i > 0 {
                expected += (180.0 - expected) / 16.0;
            }
        }
        let got = f64::from(s.jitter());
        assert!((got - expected).abs() <= 1.0, "{got} vs {expected}");
        assert!(got > 100.0, "{got}");
    }

    #[test]
    fn last_sr_and_its_delay() {
        let t0 = Instant::now();
        let mut s = ReceptionStats::new(48_000);
        s.on_packet(t0, 1, 0);
        let ntp = 0x1234_5678_9abc_def0u64;
        s.on_sender_report(t0, ntp);
        let r = s.report(t0 + ms(1500), 9);
        assert_eq!(r.last_sr, 0x5678_9abc);
        assert_eq!(r.delay_since_last_sr, 98_304); // 1.5 s in 1/65536 s
        assert_eq!(to_ntp_interval(ms(1500)), (1u64 << 32) | (1u64 << 31));
    }
}
