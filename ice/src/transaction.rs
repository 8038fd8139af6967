//! One STUN client transaction over UDP and its retransmission timer (RFC 8489 §6.2.1).

use std::time::{Duration, Instant};

use stun::TransactionId;

/// The retransmission parameters of RFC 8489 §6.2.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RetransmitTiming {
    /// The first RTO; it doubles after every retransmission.
    pub(crate) rto: Duration,
    /// Rc: how many times the request is sent in all.
    pub(crate) max_transmits: u32,
    /// Rm: after the last transmission, the transaction fails after Rm times the first RTO.
    pub(crate) final_wait_factor: u32,
}

/// What the timer asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimerOutcome {
    /// Nothing yet.
    Wait,
    /// Send the request again.
    Retransmit,
    /// No response came: the transaction failed.
    GiveUp,
}

/// A request in flight: its ID, what it is for, its bytes and its timer.
#[derive(Clone, Debug)]
pub(crate) struct ClientTransaction<K> {
    pub(crate) id: TransactionId,
    pub(crate) kind: K,
    datagram: Vec<u8>,
    transmits: u32,
    last_sent: Instant,
    next_rto: Duration,
    timing: RetransmitTiming,
}

impl<K> ClientTransaction<K> {
    /// A transaction whose request was just sent for the first time.
    pub(crate) fn sent(
        now: Instant,
        id: TransactionId,
        kind: K,
        datagram: Vec<u8>,
        timing: RetransmitTiming,
    ) -> Self {
        Self { id, kind, datagram, transmits: 1, last_sent: now, next_rto: timing.rto, timing }
    }

    /// The request, for retransmission.
    pub(crate) fn datagram(&self) -> &[u8] {
        &self.datagram
    }

    /// When the timer fires next: the next retransmission, or the final give-up time after
    /// the last one. `None` when the durations are too large to represent (never).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        if self.transmits < self.timing.max_transmits {
            self.last_sent.checked_add(self.next_rto)
        } else {
            let wait = self.timing.rto.saturating_mul(self.timing.final_wait_factor);
            self.last_sent.checked_add(wait)
        }
    }

    /// Advances the timer to `now`.
    pub(crate) fn on_timeout(&mut self, now: Instant) -> TimerOutcome {
        match self.deadline() {
            Some(deadline) if now >= deadline => {}
            _ => return TimerOutcome::Wait,
        }
        if self.transmits < self.timing.max_transmits {
            self.transmits += 1;
            self.last_sent = now;
            self.next_rto = self.next_rto.saturating_mul(2);
            TimerOutcome::Retransmit
        } else {
            TimerOutcome::GiveUp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8489_schedule() {
        // RFC 8489 §6.2.1's example: RTO 500 ms, Rc 7, Rm 16 sends at 0, 500, 1500, 3500,
        // 7500, 15500 and 31500 ms and gives up at 39500 ms.
        let timing = RetransmitTiming {
            rto: Duration::from_millis(500),
            max_transmits: 7,
            final_wait_factor: 16,
        };
        let t0 = Instant::now();
        let mut tx = ClientTransaction::sent(t0, TransactionId([0; 12]), (), vec![1], timing);
        let mut sends = vec![0];
        loop {
            let deadline = tx.deadline().unwrap();
            let at = deadline - t0;
            // One millisecond early: still waiting.
            assert_eq!(tx.on_timeout(deadline - Duration::from_millis(1)), TimerOutcome::Wait);
            match tx.on_timeout(deadline) {
                TimerOutcome::Retransmit => sends.push(at.as_millis()),
                TimerOutcome::GiveUp => {
                    assert_eq!(at, Duration::from_millis(39_500));
                    break;
                }
                TimerOutcome::Wait => unreachable!("the deadline has come"),
            }
        }
        assert_eq!(sends, [0, 500, 1500, 3500, 7500, 15_500, 31_500]);
        assert_eq!(tx.datagram(), [1]);
    }

    #[test]
    fn absurd_timing_does_not_panic() {
        let timing =
            RetransmitTiming { rto: Duration::MAX, max_transmits: 3, final_wait_factor: u32::MAX };
        let t0 = Instant::now();
        let mut tx = ClientTransaction::sent(t0, TransactionId([0; 12]), (), vec![], timing);
        assert_eq!(tx.deadline(), None);
        assert_eq!(tx.on_timeout(t0 + Duration::from_secs(1_000_000)), TimerOutcome::Wait);
    }
}
