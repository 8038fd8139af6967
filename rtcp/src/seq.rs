//! 16-bit RTP sequence numbers extended to 64 bits, for the feedback machinery.

/// Extends 16-bit sequence numbers to `i64`, each to the position closest to the newest one
/// seen (RFC 3550 §A.1 keeps a cycle count for the same purpose).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Unwrapper {
    newest: Option<i64>,
}

impl Unwrapper {
    /// The extended value of `seq`, without remembering it.
    pub(crate) fn peek(&self, seq: u16) -> i64 {
        match self.newest {
            None => i64::from(seq),
            Some(newest) => {
                // The signed 16-bit distance from the newest (low bits) to `seq`.
                let delta = i64::from(seq.wrapping_sub(newest as u16) as i16);
                newest + delta
            }
        }
    }

    /// The extended value of `seq`; it becomes the newest when it is ahead.
    pub(crate) fn unwrap(&mut self, seq: u16) -> i64 {
        let ext = self.peek(seq);
        if self.newest.is_none_or(|n| ext > n) {
            self.newest = Some(ext);
        }
        ext
    }

    /// The newest extended value seen.
    pub(crate) fn newest(&self) -> Option<i64> {
        self.newest
    }

    /// Forgets everything.
    pub(crate) fn reset(&mut self) {
        self.newest = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwraps_across_zero_and_reordering() {
        let mut u = Unwrapper::default();
        assert_eq!(u.unwrap(65_534), 65_534);
        assert_eq!(u.unwrap(1), 65_537);
        assert_eq!(u.unwrap(65_535), 65_535, "older, reordered");
        assert_eq!(u.newest(), Some(65_537));
        assert_eq!(u.peek(100), 65_636);
        u.reset();
        assert_eq!(u.unwrap(5), 5);
    }
}
