//! Loss detection on one received stream and the generic NACKs (RFC 4585 §6.2.1) that ask
//! for the missing packets again, as a sans-IO machine.
//!
//! [`NackGenerator::on_packet`] sees every sequence number that arrives (originals and
//! recovered retransmissions). A jump forward marks the skipped numbers missing. After a
//! short reordering delay each missing number is requested by [`NackGenerator::poll_nacks`],
//! then again every round-trip time (never more often than `min_retry_interval`) until it
//! arrives, it was requested `max_retries` times, or it is older than `max_age`: then it is
//! given up. A number is requested at most once per round trip however often the timer
//! runs, so requests are deduplicated by construction.
//!
//! The round-trip time comes from the retransmissions themselves: the time from the first
//! request of a number to its arrival, smoothed (RFC 6298 weights), or from
//! [`NackGenerator::set_rtt`] when the caller knows better.
//!
//! Too much loss to repair (more missing numbers than `max_missing`, or a jump larger than
//! `max_gap`) sets [`NackGenerator::take_keyframe_request`]: a decoder is better served by a
//! keyframe than by hundreds of retransmissions. Memory is bounded by `max_missing` entries,
//! allocated once.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::seq::Unwrapper;

/// Limits and timing of a [`NackGenerator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NackConfig {
    /// Missing numbers tracked at most; more drop the oldest and ask for a keyframe.
    pub max_missing: usize,
    /// A forward jump larger than this is a restart of the stream, not loss.
    pub max_gap: u16,
    /// Requests per missing number at most.
    pub max_retries: u8,
    /// A missing number older than this is given up.
    pub max_age: Duration,
    /// Wait this long after a gap is seen before the first request (packets reordered by
    /// the network arrive meanwhile).
    pub reorder_delay: Duration,
    /// Never request the same number again sooner than this.
    pub min_retry_interval: Duration,
    /// The round-trip time assumed before any is measured.
    pub initial_rtt: Duration,
}

impl Default for NackConfig {
    fn default() -> Self {
        NackConfig {
            max_missing: 500,
            max_gap: 1000,
            max_retries: 10,
            max_age: Duration::from_millis(1500),
            reorder_delay: Duration::from_millis(5),
            min_retry_interval: Duration::from_millis(20),
            initial_rtt: Duration::from_millis(100),
        }
    }
}

/// What [`NackGenerator::on_packet`] made of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The first packet, or newer than any before.
    New,
    /// A number that was missing: reordered, or a retransmission that repaired a loss.
    Recovered,
    /// Older than the newest and not missing: a duplicate, or one given up on.
    Stale,
}

#[derive(Debug, Clone, Copy)]
struct Missing {
    ext: i64,
    detected: Instant,
    first_sent: Option<Instant>,
    last_sent: Option<Instant>,
    retries: u8,
}

/// Counters of one generator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NackGeneratorStats {
    /// Sequence numbers requested (each request of each number).
    pub requested: u64,
    /// Missing numbers that arrived after all.
    pub recovered: u64,
    /// Missing numbers given up (too old, too many requests, or too many missing).
    pub given_up: u64,
    /// Keyframe requests raised.
    pub keyframes_wanted: u64,
}

/// Loss detection and NACK pacing for one stream. See the module documentation.
#[derive(Debug, Clone)]
pub struct NackGenerator {
    config: NackConfig,
    unwrapper: Unwrapper,
    /// Missing numbers, oldest first.
    missing: VecDeque<Missing>,
    rtt: Duration,
    measured: bool,
    keyframe_wanted: bool,
    stats: NackGeneratorStats,
}

impl NackGenerator {
    /// A generator with `config`; it allocates its missing list now, once.
    pub fn new(config: NackConfig) -> NackGenerator {
        NackGenerator {
            config,
            unwrapper: Unwrapper::default(),
            missing: VecDeque::with_capacity(config.max_missing),
            rtt: config.initial_rtt,
            measured: false,
            keyframe_wanted: false,
            stats: NackGeneratorStats::default(),
        }
    }

    /// The round-trip time used to pace requests.
    pub fn rtt(&self) -> Duration {
        self.rtt
    }

    /// Sets the round-trip time (for example from RTCP reports).
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt;
        self.measured = true;
    }

    /// Its counters.
    pub fn stats(&self) -> NackGeneratorStats {
        self.stats
    }

    /// How many numbers are missing now.
    pub fn missing_count(&self) -> usize {
        self.missing.len()
    }

    /// Forgets the stream (a new source starts).
    pub fn reset(&mut self) {
        self.unwrapper.reset();
        self.missing.clear();
    }

    /// Packet `seq` arrived at `now`.
    pub fn on_packet(&mut self, now: Instant, seq: u16) -> Arrival {
        let Some(newest) = self.unwrapper.newest() else {
            self.unwrapper.unwrap(seq);
            return Arrival::New;
        };
        let ext = self.unwrapper.unwrap(seq);
        if ext > newest {
            let gap = ext - newest - 1;
            if gap > i64::from(self.config.max_gap) {
                // A restart of the numbering or a long outage: retransmissions cannot help.
                self.give_up_all();
                self.want_keyframe();
            } else {
                for lost in newest + 1..ext {
                    if self.missing.len() >= self.config.max_missing {
                        self.missing.pop_front();
                        self.stats.given_up += 1;
                        self.want_keyframe();
                    }
                    self.missing.push_back(Missing {
                        ext: lost,
                        detected: now,
                        first_sent: None,
                        last_sent: None,
                        retries: 0,
                    });
                }
            }
            return Arrival::New;
        }
        match self.missing.binary_search_by_key(&ext, |m| m.ext) {
            Ok(index) => {
                if let Some(m) = self.missing.remove(index) {
                    // Karn's rule: only a number requested once gives an unambiguous sample.
                    if let (1, Some(sent)) = (m.retries, m.first_sent) {
                        self.rtt_sample(now.saturating_duration_since(sent));
                    }
                }
                self.stats.recovered += 1;
                Arrival::Recovered
            }
            Err(_) => Arrival::Stale,
        }
    }

    /// Appends to `out` the sequence numbers to request at `now` (cleared first), marks them
    /// requested, and gives up the numbers past their limits. Returns how many were added.
    pub fn poll_nacks(&mut self, now: Instant, out: &mut Vec<u16>) -> usize {
        out.clear();
        let config = self.config;
        let before = self.missing.len();
        self.missing.retain(|m| {
            m.retries < config.max_retries
                && now.saturating_duration_since(m.detected) <= config.max_age
        });
        self.stats.given_up += (before - self.missing.len()) as u64;
        let interval = self.retry_interval();
        for m in self.missing.iter_mut() {
            let due = match m.last_sent {
                None => m.detected + config.reorder_delay,
                Some(at) => at + interval,
            };
            if due <= now {
                out.push(m.ext as u16);
                m.first_sent.get_or_insert(now);
                m.last_sent = Some(now);
                m.retries = m.retries.saturating_add(1);
            }
        }
        self.stats.requested += out.len() as u64;
        out.len()
    }

    /// When [`NackGenerator::poll_nacks`] has something to do next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let interval = self.retry_interval();
        self.missing
            .iter()
            .map(|m| {
                let request = match m.last_sent {
                    None => m.detected + self.config.reorder_delay,
                    Some(at) => at + interval,
                };
                let expiry = m.detected + self.config.max_age + Duration::from_nanos(1);
                if m.retries >= self.config.max_retries {
                    expiry
                } else {
                    request.min(expiry)
                }
            })
            .min()
    }

    /// Whether loss was too heavy to repair since the last call (a keyframe serves better).
    pub fn take_keyframe_request(&mut self) -> bool {
        std::mem::take(&mut self.keyframe_wanted)
    }

    fn retry_interval(&self) -> Duration {
        self.rtt.max(self.config.min_retry_interval)
    }

    fn rtt_sample(&mut self, sample: Duration) {
        if self.measured {
            // RFC 6298 §2.3: SRTT = 7/8 SRTT + 1/8 R'.
            self.rtt = (self.rtt * 7 + sample) / 8;
        } else {
            self.rtt = sample;
            self.measured = true;
        }
    }

    fn give_up_all(&mut self) {
        self.stats.given_up += self.missing.len() as u64;
        self.missing.clear();
    }

    fn want_keyframe(&mut self) {
        if !self.keyframe_wanted {
            self.stats.keyframes_wanted += 1;
        }
        self.keyframe_wanted = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashMap};

    /// A small seeded generator (xorshift64*), so the test needs no dependency.
    struct Rng(u64);
    impl Rng {
        fn chance(&mut self, p: f64) -> bool {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
            (v >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn gaps_are_requested_after_the_reorder_delay_then_once_per_rtt() {
        let t0 = Instant::now();
        let mut g = NackGenerator::new(NackConfig::default());
        let mut out = Vec::new();
        assert_eq!(g.on_packet(t0, 65_534), Arrival::New);
        assert_eq!(g.on_packet(t0, 2), Arrival::New); // 65535, 0, 1 missing
        assert_eq!(g.missing_count(), 3);
        assert_eq!(g.poll_nacks(t0, &mut out), 0, "reordering may still bring them");
        assert_eq!(g.poll_timeout(), Some(t0 + ms(5)));
        // A reordered one arrives inside the delay: never requested.
        assert_eq!(g.on_packet(t0 + ms(2), 0), Arrival::Recovered);
        assert_eq!(g.poll_nacks(t0 + ms(5), &mut out), 2);
        assert_eq!(out, [65_535, 1]);
        // Deduplicated: polling again inside the RTT asks nothing.
        for step in 1..100 {
            assert_eq!(g.poll_nacks(t0 + ms(5) + ms(step), &mut out), 0);
        }
        assert_eq!(g.poll_timeout(), Some(t0 + ms(105)));
        assert_eq!(g.poll_nacks(t0 + ms(105), &mut out), 2);
        // The retransmission of 1 arrives 30 ms after its second request: no RTT sample
        // (Karn), the RTT stays.
        assert_eq!(g.on_packet(t0 + ms(135), 1), Arrival::Recovered);
        assert_eq!(g.rtt(), ms(100));
        assert_eq!(g.on_packet(t0 + ms(136), 1), Arrival::Stale, "a duplicate");
        assert_eq!(g.stats().recovered, 2);
        assert_eq!(g.stats().requested, 4);
    }

    #[test]
    fn retries_are_bounded_and_old_losses_given_up() {
        let t0 = Instant::now();
        let config = NackConfig { max_retries: 3, ..NackConfig::default() };
        let mut g = NackGenerator::new(config);
        let mut out = Vec::new();
        g.on_packet(t0, 10);
        g.on_packet(t0, 12);
        let mut now = t0;
        let mut requests = 0;
        while let Some(next) = g.poll_timeout() {
            now = next;
            requests += g.poll_nacks(now, &mut out);
        }
        assert_eq!(requests, 3);
        assert_eq!(g.stats().given_up, 1);
        assert!(now <= t0 + config.max_age + ms(1));
        // One that is never requested again still expires by age.
        let mut g = NackGenerator::new(NackConfig { max_retries: 100, ..config });
        g.on_packet(t0, 10);
        g.on_packet(t0, 12);
        let mut now = t0;
        while let Some(next) = g.poll_timeout() {
            now = next;
            g.poll_nacks(now, &mut out);
        }
        assert!(now > t0 + config.max_age && now < t0 + config.max_age + ms(150), "{now:?}");
        assert_eq!(g.stats().given_up, 1);
    }

    #[test]
    fn heavy_loss_asks_for_a_keyframe_instead() {
        let t0 = Instant::now();
        let config = NackConfig { max_missing: 8, max_gap: 50, ..NackConfig::default() };
        let mut g = NackGenerator::new(config);
        g.on_packet(t0, 0);
        g.on_packet(t0, 5);
        assert!(!g.take_keyframe_request());
        g.on_packet(t0, 12); // 4 + 6 missing > 8
        assert_eq!(g.missing_count(), 8);
        assert!(g.take_keyframe_request());
        assert!(!g.take_keyframe_request(), "taken");
        g.on_packet(t0, 200); // a jump: a restart
        assert_eq!(g.missing_count(), 0);
        assert!(g.take_keyframe_request());
        assert_eq!(g.stats().given_up, 10);
    }

    /// A stream of 3000 packets, one every 5 ms, over a path with 20 ms one-way delay and
    /// seeded loss both ways (10% of media, retransmissions and NACKs alike): everything
    /// lost is recovered, each number is requested at most once per round trip, and the
    /// measured RTT converges to the path's 40 ms.
    #[test]
    fn seeded_loss_is_repaired_with_paced_requests() {
        for seed in [1u64, 7, 42, 1234] {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let t0 = Instant::now();
            let one_way = ms(20);
            let mut g = NackGenerator::new(NackConfig::default());
            let mut out = Vec::new();
            // Arrivals at the receiver: time -> sequence numbers.
            let mut arrivals: BTreeMap<Instant, Vec<u16>> = BTreeMap::new();
            let mut received: HashMap<u16, u32> = HashMap::new();
            let mut requested_at: HashMap<u16, Vec<Instant>> = HashMap::new();
            let base = 65_000u16;
            for i in 0..3000u32 {
                if !rng.chance(0.1) {
                    let seq = base.wrapping_add(i as u16);
                    arrivals.entry(t0 + ms(5 * u64::from(i)) + one_way).or_default().push(seq);
                }
            }
            let end = t0 + ms(5 * 3000 + 2000);
            let mut now = t0;
            while now < end {
                let next_arrival = arrivals.keys().next().copied();
                let next_timer = g.poll_timeout();
                let Some(next) = [next_arrival, next_timer].into_iter().flatten().min() else {
                    break;
                };
                now = next;
                if let Some(seqs) = arrivals.remove(&now) {
                    for seq in seqs {
                        *received.entry(seq).or_default() += 1;
                        g.on_packet(now, seq);
                    }
                }
                g.poll_nacks(now, &mut out);
                for &seq in &out {
                    requested_at.entry(seq).or_default().push(now);
                    // The NACK and then the retransmission each cross the lossy path.
                    if !rng.chance(0.1) && !rng.chance(0.1) {
                        arrivals.entry(now + 2 * one_way).or_default().push(seq);
                    }
                }
            }
            assert_eq!(received.len(), 3000, "seed {seed}: all recovered");
            assert_eq!(g.missing_count(), 0);
            assert_eq!(g.stats().given_up, 0, "seed {seed}");
            for (seq, times) in &requested_at {
                for pair in times.windows(2) {
                    assert!(pair[1] - pair[0] >= ms(20), "seed {seed}: {seq} asked twice fast");
                }
                assert!(times.len() <= 10);
            }
            let rtt = g.rtt();
            assert!(rtt >= ms(40) && rtt <= ms(45), "seed {seed}: rtt {rtt:?}");
            assert!(g.stats().recovered >= 250, "seed {seed}: {:?}", g.stats());
        }
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{HashMap, HashSet};

    proptest! {
        /// Whatever arrives in whatever order: the missing list stays bounded, no number is
        /// requested more often than allowed, and nothing received is requested afterwards.
        #[test]
        fn bounded_and_never_asks_for_what_arrived(
            steps in proptest::collection::vec((any::<u16>(), 0u64..40, any::<bool>()), 1..400),
            start in any::<u16>(),
        ) {
            let config = NackConfig { max_missing: 64, max_gap: 300, ..NackConfig::default() };
            let mut g = NackGenerator::new(config);
            let t0 = Instant::now();
            let mut now = t0;
            let mut out = Vec::new();
            let mut received: HashSet<u16> = HashSet::new();
            let mut asked: HashMap<u16, u32> = HashMap::new();
            let mut seq = start;
            for (jump, ms, poll) in steps {
                // Mostly small steps forward, sometimes back or far.
                seq = seq.wrapping_add(jump % 8).wrapping_sub(if jump % 13 == 0 { 20 } else { 0 });
                if jump % 97 == 0 {
                    // Far forward, but clear of the half-range ambiguity (a jump of 32768
                    // is as much backward as forward).
                    let far = jump % 16_384;
                    seq = seq.wrapping_add(far);
                    // A jump past `max_gap` starts a new episode, and after such jumps
                    // the same 16-bit numbers come round again: what arrived before it
                    // says nothing about what may go missing after it.
                    if far >= config.max_gap {
                        received.clear();
                        asked.clear();
                    }
                }
                now += Duration::from_millis(ms);
                g.on_packet(now, seq);
                received.insert(seq);
                prop_assert!(g.missing_count() <= config.max_missing);
                if poll {
                    g.poll_nacks(now, &mut out);
                    for s in &out {
                        prop_assert!(!received.contains(s), "asked for {} which arrived", s);
                        let n = asked.entry(*s).or_default();
                        *n += 1;
                    }
                }
                if let Some(t) = g.poll_timeout() {
                    prop_assert!(t >= t0);
                }
            }
            // A number can go missing again only after it wrapped away; bound per episode.
            for n in asked.values() {
                prop_assert!(*n <= u32::from(config.max_retries) * 2);
            }
        }
    }
}
