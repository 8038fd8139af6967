//! Sequence number and timestamp arithmetic: comparison across wrap-around and unwrapping to
//! 64-bit values (RFC 3550 §A.1 keeps a cycle count for the same purpose).
//!
//! "Newer" means ahead by less than half the number space. Exactly half is ambiguous; it is
//! resolved by the raw value (the larger one is newer) so that `seq_newer(a, b)` and
//! `seq_newer(b, a)` are never both true.

/// Whether sequence number `a` comes after `b` (by less than half the 16-bit space).
pub fn seq_newer(a: u16, b: u16) -> bool {
    let diff = a.wrapping_sub(b);
    if diff == 0x8000 {
        a > b
    } else {
        diff != 0 && diff < 0x8000
    }
}

/// Signed distance from `from` to `to`: positive when `to` is newer, negative when older,
/// consistent with [`seq_newer`]. Ranges over -32768..=32768: a difference of exactly half the
/// space is positive when `to` is the larger raw value.
pub fn seq_distance(from: u16, to: u16) -> i32 {
    let forward = i32::from(to.wrapping_sub(from));
    if seq_newer(to, from) || forward == 0 {
        forward
    } else {
        forward - 0x1_0000
    }
}

/// Whether timestamp `a` comes after `b` (by less than half the 32-bit space).
pub fn timestamp_newer(a: u32, b: u32) -> bool {
    let diff = a.wrapping_sub(b);
    if diff == 0x8000_0000 {
        a > b
    } else {
        diff != 0 && diff < 0x8000_0000
    }
}

/// Signed distance from timestamp `from` to `to`, consistent with [`timestamp_newer`].
pub fn timestamp_distance(from: u32, to: u32) -> i64 {
    let forward = i64::from(to.wrapping_sub(from));
    if timestamp_newer(to, from) || forward == 0 {
        forward
    } else {
        forward - 0x1_0000_0000
    }
}

/// Extends 16-bit RTP sequence numbers to 64 bits.
///
/// Each value is placed at the 64-bit position closest to the last unwrapped one, so wrap-around
/// and reordering by less than half the space (32768 packets) give the right answer. The first
/// value keeps its own number; a packet older than it across zero unwraps to a negative number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SequenceUnwrapper {
    last: Option<i64>,
}

impl SequenceUnwrapper {
    /// An unwrapper that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The extended value of `seq` without remembering it.
    pub fn peek(&self, seq: u16) -> i64 {
        match self.last {
            None => i64::from(seq),
            // `last` is the extended form of a 16-bit value, so `last as u16` is that value.
            Some(last) => last + i64::from(seq_distance(last as u16, seq)),
        }
    }

    /// The extended value of `seq`; it becomes the reference for the next call.
    pub fn unwrap(&mut self, seq: u16) -> i64 {
        let value = self.peek(seq);
        self.last = Some(value);
        value
    }

    /// The last extended value returned by [`Self::unwrap`].
    pub fn last(&self) -> Option<i64> {
        self.last
    }
}

/// Extends 32-bit RTP timestamps to 64 bits, the same way [`SequenceUnwrapper`] does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimestampUnwrapper {
    last: Option<i64>,
}

impl TimestampUnwrapper {
    /// An unwrapper that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The extended value of `timestamp` without remembering it.
    pub fn peek(&self, timestamp: u32) -> i64 {
        match self.last {
            None => i64::from(timestamp),
            // `last` is the extended form of a 32-bit value, so `last as u32` is that value.
            Some(last) => last + timestamp_distance(last as u32, timestamp),
        }
    }

    /// The extended value of `timestamp`; it becomes the reference for the next call.
    pub fn unwrap(&mut self, timestamp: u32) -> i64 {
        let value = self.peek(timestamp);
        self.last = Some(value);
        value
    }

    /// The last extended value returned by [`Self::unwrap`].
    pub fn last(&self) -> Option<i64> {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_across_wrap() {
        assert!(seq_newer(1, 0));
        assert!(!seq_newer(0, 1));
        assert!(!seq_newer(5, 5));
        assert!(seq_newer(0, 65535));
        assert!(seq_newer(10, 65000));
        assert!(!seq_newer(65000, 10));
        assert!(seq_newer(0x7fff, 0));
        // Exactly half: the larger raw value is newer, never both.
        assert!(seq_newer(0x8000, 0));
        assert!(!seq_newer(0, 0x8000));
        assert!(seq_newer(0x8005, 5));
        assert!(!seq_newer(5, 0x8005));
    }

    #[test]
    fn distance_is_antisymmetric_except_at_half() {
        assert_eq!(seq_distance(65535, 2), 3);
        assert_eq!(seq_distance(2, 65535), -3);
        assert_eq!(seq_distance(7, 7), 0);
        assert_eq!(seq_distance(0, 0x8000), 32768);
        assert_eq!(seq_distance(0x8000, 0), -32768);
        for a in [0u16, 1, 100, 32767, 32768, 65535] {
            for b in [0u16, 2, 5000, 40000, 65534] {
                let d = seq_distance(a, b);
                assert_eq!(a.wrapping_add(d as u16), b);
                assert_eq!(d > 0, seq_newer(b, a));
            }
        }
        assert_eq!(timestamp_distance(u32::MAX, 10), 11);
        assert_eq!(timestamp_distance(10, u32::MAX), -11);
        assert!(timestamp_newer(5, u32::MAX - 5));
        assert!(timestamp_newer(0x8000_0000, 0));
        assert!(!timestamp_newer(0, 0x8000_0000));
    }

    #[test]
    fn sequence_unwraps_forward_across_wrap() {
        let mut u = SequenceUnwrapper::new();
        assert_eq!(u.last(), None);
        for i in 0..20u16 {
            assert_eq!(u.unwrap(65530u16.wrapping_add(i)), 65530 + i64::from(i));
        }
        assert_eq!(u.last(), Some(65549));
        // Three more full cycles in steps of 1000.
        let mut seq = 13u16; // 65549 - 65536
        let mut ext = 65549i64;
        for _ in 0..200 {
            seq = seq.wrapping_add(1000);
            ext += 1000;
            assert_eq!(u.unwrap(seq), ext);
        }
    }

    #[test]
    fn sequence_handles_reordering_across_wrap() {
        let mut u = SequenceUnwrapper::new();
        assert_eq!(u.unwrap(65534), 65534);
        assert_eq!(u.unwrap(1), 65537);
        assert_eq!(u.unwrap(65535), 65535); // late packet from before the wrap
        assert_eq!(u.unwrap(0), 65536);
        assert_eq!(u.unwrap(2), 65538);
        assert_eq!(u.unwrap(65533), 65533); // later still, measured from 65538
        assert_eq!(u.peek(3), 65539);
        assert_eq!(u.last(), Some(65533));
    }

    #[test]
    fn sequence_goes_negative_before_first_value() {
        let mut u = SequenceUnwrapper::new();
        assert_eq!(u.unwrap(1), 1);
        assert_eq!(u.unwrap(65535), -1);
        assert_eq!(u.unwrap(2), 2);
    }

    #[test]
    fn sequence_large_jumps_within_half_space() {
        let mut u = SequenceUnwrapper::new();
        assert_eq!(u.unwrap(0), 0);
        assert_eq!(u.unwrap(32767), 32767);
        assert_eq!(u.unwrap(65535), 65535);
        assert_eq!(u.unwrap(32766), 65535 + 32767);
        // Exactly half ahead with the larger raw value counts as forward.
        assert_eq!(u.unwrap(65534), 65534 + 65536);
        // Exactly half behind with the smaller raw value counts as backward.
        assert_eq!(u.unwrap(32766), 65535 + 32767);
    }

    #[test]
    fn timestamp_unwraps_across_wrap_with_reordering() {
        let mut u = TimestampUnwrapper::new();
        assert_eq!(u.unwrap(u32::MAX - 2999), 4_294_964_296);
        assert_eq!(u.unwrap(3000), 4_294_970_296);
        assert_eq!(u.unwrap(u32::MAX), 4_294_967_295); // reordered from before the wrap
        assert_eq!(u.unwrap(6000), 4_294_973_296);
        assert_eq!(u.peek(u32::MAX - 2999), 4_294_964_296);
        let mut u = TimestampUnwrapper::new();
        assert_eq!(u.unwrap(100), 100);
        assert_eq!(u.unwrap(u32::MAX), -1);
        assert_eq!(u.last(), Some(-1));
    }
}
