//! Consent freshness (RFC 7675) on one selected pair.

use std::time::{Duration, Instant};

/// RFC 7675 §5.1: consent expires 30 seconds after the last proof of it.
pub const CONSENT_TIMEOUT: Duration = Duration::from_secs(30);

/// When consent on the selected pair was last confirmed, and whether it still holds.
///
/// The lite agent confirms consent with every valid check on the selected pair (the peer
/// sends them about every 5 s, RFC 7675 §5.1); the controlling side with every authenticated
/// success response. Consent expires `timeout` after the last confirmation and comes back
/// with the next one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConsentFreshness {
    timeout: Duration,
    last_confirmed: Option<Instant>,
    granted: bool,
}

impl ConsentFreshness {
    pub(crate) const fn new(timeout: Duration) -> Self {
        Self { timeout, last_confirmed: None, granted: false }
    }

    /// Starts over on a newly selected pair whose last proof of consent was at `at`.
    pub(crate) fn restart(&mut self, at: Instant) {
        self.last_confirmed = Some(at);
    }

    /// Consent was confirmed at `at` (an out-of-order earlier time changes nothing).
    pub(crate) fn confirm(&mut self, at: Instant) {
        if self.last_confirmed.is_none_or(|last| at > last) {
            self.last_confirmed = Some(at);
        }
    }

    /// Forgets everything (no pair selected).
    pub(crate) fn clear(&mut self) {
        self.last_confirmed = None;
        self.granted = false;
    }

    /// When consent expires unless confirmed again; `None` if never confirmed, or if the
    /// timeout is too large to represent (then it never expires).
    pub(crate) fn expiry(&self) -> Option<Instant> {
        self.last_confirmed?.checked_add(self.timeout)
    }

    /// Whether consent was granted at the last [`ConsentFreshness::update`].
    pub(crate) const fn is_granted(&self) -> bool {
        self.granted
    }

    /// Re-evaluates consent at `now`; returns the new value if it changed.
    pub(crate) fn update(&mut self, now: Instant) -> Option<bool> {
        let granted = match (self.last_confirmed, self.expiry()) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(_), Some(expiry)) => now < expiry,
        };
        (granted != self.granted).then(|| {
            self.granted = granted;
            granted
        })
    }

    /// The deadline to wake up for: the expiry while consent is granted.
    pub(crate) fn timeout(&self) -> Option<Instant> {
        if self.granted {
            self.expiry()
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_after_the_timeout_and_comes_back() {
        let t0 = Instant::now();
        let mut c = ConsentFreshness::new(CONSENT_TIMEOUT);
        assert_eq!(c.update(t0), None);
        assert!(!c.is_granted());
        assert_eq!(c.timeout(), None);
        c.restart(t0);
        assert_eq!(c.update(t0), Some(true));
        assert_eq!(c.timeout(), Some(t0 + CONSENT_TIMEOUT));
        c.confirm(t0 + Duration::from_secs(5));
        assert_eq!(c.update(t0 + Duration::from_secs(34)), None);
        assert_eq!(c.update(t0 + Duration::from_secs(35)), Some(false));
        assert_eq!(c.timeout(), None);
        // A late, older confirmation does not move the clock back.
        c.confirm(t0);
        assert_eq!(c.expiry(), Some(t0 + Duration::from_secs(35)));
        c.confirm(t0 + Duration::from_secs(40));
        assert_eq!(c.update(t0 + Duration::from_secs(40)), Some(true));
        c.clear();
        assert_eq!(c.expiry(), None);
        assert!(!c.is_granted());
    }

    #[test]
    fn huge_timeout_never_expires_and_never_panics() {
        let t0 = Instant::now();
        let mut c = ConsentFreshness::new(Duration::MAX);
        c.restart(t0);
        assert_eq!(c.update(t0), Some(true));
        assert_eq!(c.timeout(), None);
    }
}
