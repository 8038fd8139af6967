//! One timer wheel for the whole machine: a min-heap of deadlines with lazy deletion.
//!
//! Every object with a deadline (an allocation with its permissions and channels, a cached
//! response, a port reservation) remembers the time of its live heap entry. An entry popped
//! at a time the object no longer remembers is stale and skipped; an object whose deadline
//! moves earlier pushes a new entry, one whose deadline moves later keeps the old entry and
//! is simply looked at early. So refreshing never searches the heap.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::FiveTuple;

/// What a deadline belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    /// The allocation of a 5-tuple: its expiry, or the first expiry among its permissions
    /// and channels.
    Allocation(FiveTuple),
    /// The cached last response of a 5-tuple.
    Response(FiveTuple),
    /// A port reserved by EVEN-PORT with the R bit.
    Reservation([u8; 8]),
    /// A TCP peer connection (RFC 6062) waiting to be connected or bound.
    Connection(u32),
}

#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, TimerKey)>>,
}

impl Timers {
    pub(crate) fn push(&mut self, at: Instant, key: TimerKey) {
        self.heap.push(Reverse((at, key)));
    }

    /// The earliest deadline (possibly stale).
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, TimerKey)> {
        if self.next()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(entry)| entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_in_order_and_only_when_due() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        timers.push(t0 + Duration::from_secs(3), TimerKey::Reservation([3; 8]));
        timers.push(t0 + Duration::from_secs(1), TimerKey::Reservation([1; 8]));
        timers.push(t0 + Duration::from_secs(2), TimerKey::Reservation([2; 8]));
        assert_eq!(timers.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(timers.pop_due(t0), None);
        let due = t0 + Duration::from_secs(2);
        assert_eq!(timers.pop_due(due).unwrap().1, TimerKey::Reservation([1; 8]));
        assert_eq!(timers.pop_due(due).unwrap().1, TimerKey::Reservation([2; 8]));
        assert_eq!(timers.pop_due(due), None);
        assert_eq!(timers.next(), Some(t0 + Duration::from_secs(3)));
    }
}
