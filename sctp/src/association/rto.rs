//! Retransmission timeout (RFC 9260 §6.3.1).

use std::time::Duration;

/// Clock granularity G of RFC 9260 §6.3.1 C3.
const GRANULARITY: Duration = Duration::from_millis(1);

/// SRTT, RTTVAR and the RTO derived from them.
#[derive(Debug, Clone)]
pub(crate) struct Rto {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    min: Duration,
    max: Duration,
}

impl Rto {
    pub(crate) fn new(initial: Duration, min: Duration, max: Duration) -> Self {
        Self { srtt: None, rttvar: Duration::ZERO, rto: initial, min, max }
    }

    /// The current RTO.
    pub(crate) fn rto(&self) -> Duration {
        self.rto
    }

    /// The smoothed round-trip time, once measured.
    pub(crate) fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// Feeds one round-trip measurement (RFC 9260 §6.3.1 C1–C3, α = 1/8, β = 1/4).
    pub(crate) fn on_measurement(&mut self, rtt: Duration) {
        let rtt = rtt.min(self.max);
        match self.srtt {
            None => {
                // C1
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                // C2: RTTVAR first, with the old SRTT.
                let delta = srtt.abs_diff(rtt);
                self.rttvar = self.rttvar * 3 / 4 + delta / 4;
                self.srtt = Some(srtt * 7 / 8 + rtt / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(rtt);
        // C3 (with the minimum and maximum of C6 and C7).
        self.rto = (srtt + (self.rttvar * 4).max(GRANULARITY)).clamp(self.min, self.max);
    }

    /// Doubles the RTO after a timeout (RFC 9260 §6.3.3 E2).
    pub(crate) fn back_off(&mut self) {
        self.rto = (self.rto * 2).min(self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn follows_rfc_9260_formulas() {
        let mut rto = Rto::new(ms(1000), ms(100), ms(60_000));
        assert_eq!(rto.rto(), ms(1000));
        rto.on_measurement(ms(200));
        // SRTT = 200, RTTVAR = 100, RTO = 200 + 400.
        assert_eq!(rto.srtt(), Some(ms(200)));
        assert_eq!(rto.rto(), ms(600));
        rto.on_measurement(ms(200));
        // RTTVAR = 75, SRTT = 200, RTO = 500.
        assert_eq!(rto.rto(), ms(500));
        rto.back_off();
        assert_eq!(rto.rto(), ms(1000));
        for _ in 0..20 {
            rto.back_off();
        }
        assert_eq!(rto.rto(), ms(60_000));
    }

    #[test]
    fn clamped_to_min() {
        let mut rto = Rto::new(ms(1000), ms(400), ms(60_000));
        for _ in 0..50 {
            rto.on_measurement(ms(1));
        }
        assert_eq!(rto.rto(), ms(400));
    }
}
