//! The sliding replay window of RFC 3711 §3.3.2, as a bitmap of `u64` words.

use crate::error::{Error, Result};

/// Remembers which of the last `width` packet indices were received.
///
/// Bit `k` of the bitmap (word `k / 64`, bit `k % 64`) stands for index `top - k`, where `top`
/// is the highest index accepted so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReplayWindow {
    top: u64,
    bits: Box<[u64]>,
}

impl ReplayWindow {
    /// A window `words * 64` indices wide whose first accepted index is `first`.
    pub(crate) fn new(words: usize, first: u64) -> Self {
        let mut bits = vec![0u64; words.max(1)].into_boxed_slice();
        bits[0] = 1;
        ReplayWindow { top: first, bits }
    }

    /// The highest index accepted so far.
    pub(crate) fn top(&self) -> u64 {
        self.top
    }

    fn width(&self) -> u64 {
        // The width is at most `MAX_REPLAY_WINDOW`, far below u64::MAX.
        self.bits.len() as u64 * 64
    }

    /// Whether `index` may be accepted: newer than the top, or inside the window and not yet
    /// seen. Does not change the window.
    pub(crate) fn check(&self, index: u64) -> Result<()> {
        let Some(age) = self.top.checked_sub(index) else {
            return Ok(());
        };
        if age >= self.width() {
            return Err(Error::TooOld);
        }
        let (word, bit) = split(age);
        if self.bits.get(word).is_some_and(|w| w & (1 << bit) != 0) {
            return Err(Error::Replayed);
        }
        Ok(())
    }

    /// Records `index` as received. Call only after [`ReplayWindow::check`] accepted it and the
    /// packet authenticated.
    pub(crate) fn accept(&mut self, index: u64) {
        match index.checked_sub(self.top) {
            Some(0) => {}
            Some(advance) => {
                self.shift(advance);
                self.top = index;
                if let Some(w) = self.bits.first_mut() {
                    *w |= 1;
                }
            }
            None => {
                let age = self.top - index;
                if age < self.width() {
                    let (word, bit) = split(age);
                    if let Some(w) = self.bits.get_mut(word) {
                        *w |= 1 << bit;
                    }
                }
            }
        }
    }

    /// Ages every remembered index by `n`: bit `k` moves to bit `k + n`.
    fn shift(&mut self, n: u64) {
        if n >= self.width() {
            self.bits.fill(0);
            return;
        }
        let (words, bits) = split(n);
        let len = self.bits.len();
        for i in (0..len).rev() {
            let hi = i.checked_sub(words).map_or(0, |j| self.bits[j] << bits);
            let lo = match (bits, i.checked_sub(words + 1)) {
                (1.., Some(j)) => self.bits[j] >> (64 - bits),
                _ => 0,
            };
            self.bits[i] = hi | lo;
        }
    }
}

/// Word and bit of a window position below the width (so the word fits a usize).
fn split(k: u64) -> (usize, u32) {
    ((k / 64) as usize, (k % 64) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_indices_are_accepted_and_repeats_refused() {
        let mut w = ReplayWindow::new(2, 100);
        assert_eq!(w.check(100), Err(Error::Replayed));
        assert_eq!(w.check(101), Ok(()));
        w.accept(101);
        assert_eq!(w.top(), 101);
        assert_eq!(w.check(101), Err(Error::Replayed));
        assert_eq!(w.check(100), Err(Error::Replayed));
        assert_eq!(w.check(99), Ok(()));
    }

    #[test]
    fn late_packets_inside_the_window_are_accepted_once() {
        let mut w = ReplayWindow::new(2, 1000);
        w.accept(1200);
        // 128 wide: indices 1073..=1200 are inside.
        assert_eq!(w.check(1073), Ok(()));
        assert_eq!(w.check(1072), Err(Error::TooOld));
        w.accept(1073);
        assert_eq!(w.check(1073), Err(Error::Replayed));
        // 1000 aged out of the window with its bit.
        assert_eq!(w.check(1000), Err(Error::TooOld));
    }

    #[test]
    fn shifts_carry_bits_across_words() {
        let mut w = ReplayWindow::new(4, 0);
        for i in [1, 2, 3, 63, 64, 65, 70] {
            w.accept(i);
        }
        // Shift by an amount that is not a multiple of 64 and crosses words.
        w.accept(70 + 100);
        for i in [1, 2, 3, 63, 64, 65, 70, 170] {
            assert_eq!(w.check(i), Err(Error::Replayed), "index {i}");
        }
        for i in [4, 62, 66, 69, 71, 169] {
            assert_eq!(w.check(i), Ok(()), "index {i}");
        }
        // Exactly one word.
        w.accept(170 + 64);
        assert_eq!(w.check(170), Err(Error::Replayed));
        assert_eq!(w.check(1), Err(Error::Replayed));
        assert_eq!(w.check(0), Err(Error::Replayed));
        // A jump wider than the window forgets everything.
        w.accept(10_000);
        assert_eq!(w.check(9_999), Ok(()));
        assert_eq!(w.check(10_000 - 255), Ok(()));
        assert_eq!(w.check(10_000 - 256), Err(Error::TooOld));
    }

    #[test]
    fn matches_a_set_model() {
        use std::collections::BTreeSet;
        let mut w = ReplayWindow::new(3, 500);
        let mut seen = BTreeSet::from([500u64]);
        let mut top = 500u64;
        let mut x: u64 = 0x1234_5678;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let step = x % 300;
            let index = (top + 100).saturating_sub(step);
            let expected = if index > top {
                Ok(())
            } else if top - index >= 192 {
                Err(Error::TooOld)
            } else if seen.contains(&index) {
                Err(Error::Replayed)
            } else {
                Ok(())
            };
            assert_eq!(w.check(index), expected, "index {index} top {top}");
            if expected.is_ok() {
                w.accept(index);
                seen.insert(index);
                top = top.max(index);
            }
        }
    }
}
