//! Serial number arithmetic (RFC 9260 §1.6): 32-bit TSNs and 16-bit SSNs are widened to `u64`
//! inside the association so that comparisons never have to think about wrap-around.
//!
//! Widened values start one full cycle above zero (`2^32 + tsn`, `2^16 + ssn`) so that
//! unwrapping a value slightly behind the first one never underflows.

/// The widened form of the first TSN of a sequence.
pub(crate) const fn widen_tsn(tsn: u32) -> u64 {
    (1u64 << 32) | tsn as u64
}

/// The widened form of the first SSN of a stream.
pub(crate) const fn widen_ssn(ssn: u16) -> u64 {
    (1u64 << 16) | ssn as u64
}

/// The `u64` whose low 32 bits are `value` and which is closest to `reference`.
pub(crate) fn unwrap_tsn(reference: u64, value: u32) -> u64 {
    let delta = i64::from(value.wrapping_sub(reference as u32) as i32);
    reference.saturating_add_signed(delta)
}

/// The `u64` whose low 16 bits are `value` and which is closest to `reference`.
pub(crate) fn unwrap_ssn(reference: u64, value: u16) -> u64 {
    let delta = i64::from(value.wrapping_sub(reference as u16) as i16);
    reference.saturating_add_signed(delta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwrap_across_the_wrap() {
        let r = widen_tsn(u32::MAX - 1);
        assert_eq!(unwrap_tsn(r, u32::MAX), r + 1);
        assert_eq!(unwrap_tsn(r, 0), r + 2);
        assert_eq!(unwrap_tsn(r, 5), r + 7);
        assert_eq!(unwrap_tsn(r, u32::MAX - 10), r - 9);
        assert_eq!(unwrap_tsn(widen_tsn(0), u32::MAX) as u32, u32::MAX);
        assert!(unwrap_tsn(widen_tsn(0), u32::MAX) < widen_tsn(0));
        let s = widen_ssn(65535);
        assert_eq!(unwrap_ssn(s, 0), s + 1);
        assert_eq!(unwrap_ssn(s, 65530), s - 5);
        assert_eq!(unwrap_ssn(s, 65535), s);
    }

    #[test]
    fn unwrap_never_underflows() {
        assert_eq!(unwrap_tsn(3, 0x8000_0003), 0);
        assert_eq!(unwrap_ssn(0, 0x8000), 0);
    }
}
