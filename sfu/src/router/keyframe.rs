//! Keyframe requests toward one published track, collapsed: however many subscribers start
//! or ask (PLI, FIR), the publisher gets at most one PLI per interval. A request inside the
//! interval is remembered and sent when the interval ends, so a subscriber that starts just
//! after another still gets a keyframe that follows its start.

use std::time::{Duration, Instant};

/// The request state of one published track.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyframeRequests {
    last_sent: Option<Instant>,
    pending: bool,
    /// A request that could not be sent (no media SSRC known yet, publisher not connected)
    /// waits for the publisher's next packet instead of a timer.
    parked: bool,
}

impl KeyframeRequests {
    /// A request at `now`: `true` when a PLI may go out now (the caller then reports
    /// [`KeyframeRequests::sent`] or [`KeyframeRequests::park`]); otherwise it is remembered
    /// for [`KeyframeRequests::due`].
    pub fn request(&mut self, now: Instant, interval: Duration) -> bool {
        if self.last_sent.is_some_and(|at| now < at + interval) {
            self.pending = true;
            false
        } else {
            true
        }
    }

    /// A PLI went out at `now`.
    pub fn sent(&mut self, now: Instant) {
        self.last_sent = Some(now);
        self.pending = false;
        self.parked = false;
    }

    /// The PLI could not go out: retry when the publisher's next packet arrives.
    pub fn park(&mut self) {
        self.pending = true;
        self.parked = true;
    }

    /// When a remembered request may go out, for the timer.
    pub fn due(&self, interval: Duration) -> Option<Instant> {
        if !self.pending || self.parked {
            return None;
        }
        self.last_sent.map(|at| at + interval)
    }

    /// Whether a remembered request may go out now that a packet of the publisher arrived.
    pub fn ready_on_media(&self, now: Instant, interval: Duration) -> bool {
        self.pending && self.last_sent.is_none_or(|at| now >= at + interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_millis(500);

    #[test]
    fn requests_collapse_to_one_per_interval() {
        let t0 = Instant::now();
        let mut k = KeyframeRequests::default();
        assert_eq!(k.due(INTERVAL), None);
        assert!(k.request(t0, INTERVAL));
        k.sent(t0);
        // Ten more inside the interval: none goes out, one is remembered for its end.
        for i in 1..=10 {
            assert!(!k.request(t0 + Duration::from_millis(i * 40), INTERVAL));
        }
        assert_eq!(k.due(INTERVAL), Some(t0 + INTERVAL));
        assert!(!k.ready_on_media(t0 + Duration::from_millis(499), INTERVAL));
        assert!(k.ready_on_media(t0 + INTERVAL, INTERVAL));
        k.sent(t0 + INTERVAL);
        assert_eq!(k.due(INTERVAL), None);
        // After the interval a request goes out at once.
        assert!(k.request(t0 + 2 * INTERVAL, INTERVAL));
    }

    #[test]
    fn a_request_that_cannot_go_out_waits_for_media_not_a_timer() {
        let t0 = Instant::now();
        let mut k = KeyframeRequests::default();
        assert!(k.request(t0, INTERVAL));
        k.park();
        assert_eq!(k.due(INTERVAL), None, "no timer that would fire in a loop");
        assert!(k.ready_on_media(t0, INTERVAL));
        k.sent(t0);
        assert!(!k.ready_on_media(t0, INTERVAL));
    }
}
