//! The per-allocation bandwidth limit: a token bucket on relayed bytes, kept in its GCRA form
//! (one "theoretical arrival time" instead of a token count), so that it needs no timer and
//! no floating point.

use std::time::{Duration, Instant};

/// A bandwidth limit: a sustained rate and a burst.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BandwidthLimit {
    /// Sustained rate in bytes per second, both directions together.
    pub bytes_per_second: u64,
    /// Bytes that may be relayed at once above the rate (the bucket size). Must be at least
    /// [`BandwidthLimit::MIN_BURST`], or a single large datagram would never pass.
    pub burst_bytes: u64,
}

impl BandwidthLimit {
    /// The smallest allowed burst: the largest datagram a relay can carry.
    pub const MIN_BURST: u64 = 65_535;

    /// The time it takes to earn `bytes` at this rate, rounded up.
    fn cost(&self, bytes: u64) -> Duration {
        let rate = u128::from(self.bytes_per_second.max(1));
        let nanos = (u128::from(bytes) * 1_000_000_000).div_ceil(rate);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// One allocation's bucket.
#[derive(Clone, Debug)]
pub(crate) struct TokenBucket {
    limit: BandwidthLimit,
    /// How far ahead of `now` the bucket may run: the burst expressed as time.
    tolerance: Duration,
    /// The time at which the bucket will be full again ("theoretical arrival time"); `None`
    /// while it is full.
    tat: Option<Instant>,
}

impl TokenBucket {
    pub(crate) fn new(limit: BandwidthLimit) -> Self {
        Self { limit, tolerance: limit.cost(limit.burst_bytes), tat: None }
    }

    /// Takes `bytes` from the bucket if they fit; otherwise leaves it unchanged and says no.
    pub(crate) fn admit(&mut self, now: Instant, bytes: usize) -> bool {
        let start = self.tat.map_or(now, |tat| tat.max(now));
        let cost = self.limit.cost(u64::try_from(bytes).unwrap_or(u64::MAX));
        let Some(tat) = start.checked_add(cost) else {
            return false;
        };
        if tat.saturating_duration_since(now) > self.tolerance {
            return false;
        }
        self.tat = Some(tat);
        true
    }

    /// How long until `bytes` would be admitted (zero if they would be now).
    pub(crate) fn wait(&self, now: Instant, bytes: usize) -> Duration {
        let start = self.tat.map_or(now, |tat| tat.max(now));
        let cost = self.limit.cost(u64::try_from(bytes).unwrap_or(u64::MAX));
        start.checked_add(cost).map_or(Duration::MAX, |tat| {
            tat.saturating_duration_since(now).saturating_sub(self.tolerance)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let limit = BandwidthLimit { bytes_per_second: 100_000, burst_bytes: 65_535 };
        let mut bucket = TokenBucket::new(limit);
        let t0 = Instant::now();
        // A full bucket passes the burst at once, not a byte more.
        let mut passed = 0;
        while bucket.admit(t0, 1_000) {
            passed += 1_000;
        }
        assert_eq!(passed, 65_000);
        assert!(bucket.admit(t0, 535));
        assert!(!bucket.admit(t0, 1));
        // After 10 ms, 1000 bytes were earned.
        let t1 = t0 + Duration::from_millis(10);
        assert!(bucket.admit(t1, 1_000));
        assert!(!bucket.admit(t1, 1));
        // After a long pause the bucket is full again, but never more than full.
        let t2 = t1 + Duration::from_secs(100);
        let mut passed = 0;
        while bucket.admit(t2, 5_000) {
            passed += 5_000;
        }
        assert_eq!(passed, 65_000);
    }

    #[test]
    fn sustained_rate_over_a_second() {
        let limit = BandwidthLimit { bytes_per_second: 1_000_000, burst_bytes: 100_000 };
        let mut bucket = TokenBucket::new(limit);
        let t0 = Instant::now();
        let mut passed = 0u64;
        // 1200-byte packets offered every 100 µs (12 MB/s) for one second.
        for i in 0..10_000u64 {
            if bucket.admit(t0 + Duration::from_micros(100 * i), 1_200) {
                passed += 1_200;
            }
        }
        // The burst plus one second at the rate, within a packet.
        assert!((1_098_000..=1_101_200).contains(&passed), "passed {passed}");
    }

    #[test]
    fn oversized_datagram_never_passes_a_small_burst() {
        let limit = BandwidthLimit { bytes_per_second: 10, burst_bytes: 100 };
        let mut bucket = TokenBucket::new(limit);
        assert!(!bucket.admit(Instant::now(), 101));
        assert!(bucket.admit(Instant::now(), 100));
    }
}
