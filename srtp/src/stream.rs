//! Per-SSRC state: the SRTP packet index (rollover counter and highest sequence number) with its
//! replay window, and the SRTCP index with its replay window.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::error::{Error, Result};
use crate::replay::ReplayWindow;

/// Highest valid SRTP packet index plus one: indices are 48 bits (RFC 3711 §3.3.1).
const SRTP_INDEX_LIMIT: u64 = 1 << 48;
/// Highest valid SRTCP index plus one: indices are 31 bits (RFC 3711 §3.4).
pub(crate) const SRTCP_INDEX_LIMIT: u32 = 1 << 31;

/// The state of one SRTP stream (one SSRC) in one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SrtpStream {
    /// `top()` is the highest packet index processed: ROC in the upper 32 bits, `s_l` in the
    /// lower 16.
    window: ReplayWindow,
}

impl SrtpStream {
    pub(crate) fn new(window_words: usize, first_index: u64) -> Self {
        SrtpStream { window: ReplayWindow::new(window_words, first_index) }
    }

    /// The rollover counter of the highest index processed.
    pub(crate) fn roc(&self) -> u32 {
        // The index is below 2^48, so the shifted value fits 32 bits.
        (self.window.top() >> 16) as u32
    }

    /// The packet index of sequence number `seq` (RFC 3711 §3.3.1, Appendix A): the index
    /// closest to the highest one processed.
    pub(crate) fn estimate_index(&self, seq: u16) -> Result<u64> {
        let top = self.window.top();
        let roc = top >> 16;
        let s_l = i32::from(top as u16);
        let seq_i = i32::from(seq);
        let v = if s_l < 0x8000 {
            if seq_i - s_l > 0x8000 {
                // A packet from before the last wrap. In the first cycle there is no earlier
                // one, so the index stays in cycle 0 (as libsrtp does).
                roc.saturating_sub(1)
            } else {
                roc
            }
        } else if s_l - 0x8000 > seq_i {
            roc + 1
        } else {
            roc
        };
        let index = (v << 16) | u64::from(seq);
        if index >= SRTP_INDEX_LIMIT {
            // RFC 3711 §9.2: at most 2^48 packets per key.
            return Err(Error::KeyExhausted);
        }
        Ok(index)
    }

    /// Refuses an index that was already received or is older than the window.
    pub(crate) fn check_replay(&self, index: u64) -> Result<()> {
        self.window.check(index)
    }

    /// Records an authenticated (or just protected) index; the highest index moves forward.
    pub(crate) fn commit(&mut self, index: u64) {
        self.window.accept(index);
    }
}

/// The state of one SRTCP stream (one sender SSRC) in one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SrtcpStream {
    /// The index of the next SRTCP packet to protect (starts at 0, RFC 3711 §3.4).
    next_index: u32,
    /// Indices received, once one has authenticated.
    window: Option<ReplayWindow>,
}

impl SrtcpStream {
    pub(crate) fn new() -> Self {
        SrtcpStream { next_index: 0, window: None }
    }

    /// The index for the next packet to protect. Refuses once the 31-bit space is used up
    /// (RFC 3711 §9.2) rather than wrapping onto indices already used with this key.
    pub(crate) fn next_index(&self) -> Result<u32> {
        if self.next_index >= SRTCP_INDEX_LIMIT {
            return Err(Error::KeyExhausted);
        }
        Ok(self.next_index)
    }

    #[cfg(test)]
    pub(crate) fn set_next_index(&mut self, index: u32) {
        self.next_index = index;
    }

    /// Records that `index` was used for a protected packet.
    pub(crate) fn commit_sent(&mut self, index: u32) {
        self.next_index = index.saturating_add(1);
    }

    pub(crate) fn check_replay(&self, index: u32) -> Result<()> {
        self.window.as_ref().map_or(Ok(()), |w| w.check(u64::from(index)))
    }

    /// Records an authenticated received index.
    pub(crate) fn commit_received(&mut self, window_words: usize, index: u32) {
        match &mut self.window {
            Some(w) => w.accept(u64::from(index)),
            None => self.window = Some(ReplayWindow::new(window_words, u64::from(index))),
        }
    }
}

/// A map keyed by SSRC.
pub(crate) type SsrcMap<T> = HashMap<u32, T, BuildHasherDefault<SsrcHasher>>;

/// A multiplicative hash for SSRC keys. Flooding is not a concern: entries are only inserted
/// for authenticated packets (or by our own protect calls) and their number is bounded by
/// [`Config::max_ssrcs`](crate::Config::max_ssrcs).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SsrcHasher(u64);

impl Hasher for SsrcHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_at(roc: u64, seq: u16) -> SrtpStream {
        SrtpStream::new(2, (roc << 16) | u64::from(seq))
    }

    #[test]
    fn estimate_follows_rfc3711_appendix_a() {
        // s_l in the lower half: a sequence number far above is from the previous cycle.
        let s = stream_at(5, 100);
        assert_eq!(s.estimate_index(101).unwrap(), (5 << 16) | 101);
        assert_eq!(s.estimate_index(50).unwrap(), (5 << 16) | 50);
        assert_eq!(s.estimate_index(100 + 0x8000).unwrap(), (5 << 16) | (100 + 0x8000));
        assert_eq!(s.estimate_index(101 + 0x8000).unwrap(), (4 << 16) | (101 + 0x8000));
        assert_eq!(s.estimate_index(65535).unwrap(), (4 << 16) | 65535);
        // s_l in the upper half: a sequence number far below is from the next cycle.
        let s = stream_at(5, 65000);
        assert_eq!(s.estimate_index(65535).unwrap(), (5 << 16) | 65535);
        assert_eq!(s.estimate_index(0).unwrap(), (6 << 16));
        assert_eq!(s.estimate_index(65000 - 0x8000).unwrap(), (5 << 16) | (65000 - 0x8000));
        assert_eq!(s.estimate_index(64999 - 0x8000).unwrap(), (6 << 16) | (64999 - 0x8000));
    }

    #[test]
    fn first_cycle_has_no_previous_cycle() {
        let s = stream_at(0, 10);
        assert_eq!(s.estimate_index(60000).unwrap(), 60000);
        assert_eq!(s.roc(), 0);
    }

    #[test]
    fn index_space_ends_at_2_pow_48() {
        let s = stream_at(0xffff_ffff, 65000);
        assert_eq!(s.estimate_index(65001).unwrap(), 0xffff_ffff_fde9);
        assert_eq!(s.estimate_index(3), Err(Error::KeyExhausted));
    }

    #[test]
    fn commit_moves_the_rollover_counter() {
        let mut s = stream_at(0, 65535);
        let i = s.estimate_index(0).unwrap();
        s.commit(i);
        assert_eq!(s.roc(), 1);
        // A late packet from before the wrap keeps ROC 0 and does not move the top back.
        let late = s.estimate_index(65534).unwrap();
        assert_eq!(late, 65534);
        s.check_replay(late).unwrap();
        s.commit(late);
        assert_eq!(s.roc(), 1);
        assert_eq!(s.check_replay(late), Err(Error::Replayed));
    }

    #[test]
    fn srtcp_index_refuses_to_wrap() {
        let mut s = SrtcpStream::new();
        assert_eq!(s.next_index(), Ok(0));
        s.commit_sent(0);
        assert_eq!(s.next_index(), Ok(1));
        s.commit_sent(SRTCP_INDEX_LIMIT - 1);
        assert_eq!(s.next_index(), Err(Error::KeyExhausted));
    }

    #[test]
    fn srtcp_replay_window_starts_at_first_authenticated_index() {
        let mut s = SrtcpStream::new();
        assert_eq!(s.check_replay(7), Ok(()));
        s.commit_received(2, 7);
        assert_eq!(s.check_replay(7), Err(Error::Replayed));
        assert_eq!(s.check_replay(6), Ok(()));
        s.commit_received(2, 300);
        assert_eq!(s.check_replay(6), Err(Error::TooOld));
    }

    #[test]
    fn ssrc_map_works_with_the_hasher() {
        let mut m: SsrcMap<u32> = SsrcMap::default();
        for i in 0..1000u32 {
            m.insert(i.wrapping_mul(0x0101_0101), i);
        }
        for i in 0..1000u32 {
            assert_eq!(m.get(&i.wrapping_mul(0x0101_0101)), Some(&i));
        }
    }
}
