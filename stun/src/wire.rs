//! Bounds-checked big-endian readers and padding arithmetic shared by the codecs.
//!
//! Every read goes through `slice::get`, so a short buffer yields `None` instead of a panic.

/// Reads a big-endian `u16` at `at`.
pub(crate) fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    let bytes: [u8; 2] = buf.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(u16::from_be_bytes(bytes))
}

/// Reads a big-endian `u32` at `at`.
pub(crate) fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = buf.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

/// Copies `N` bytes starting at `at`.
pub(crate) fn array_at<const N: usize>(buf: &[u8], at: usize) -> Option<[u8; N]> {
    buf.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// Number of padding bytes that bring `len` to a multiple of four (RFC 8489 §14).
pub(crate) const fn padding_len(len: usize) -> usize {
    (4 - (len % 4)) % 4
}

/// `len` rounded up to a multiple of four. Only called with lengths read from 16-bit fields
/// or bounded by a 16-bit limit, so the addition cannot overflow.
pub(crate) const fn padded_len(len: usize) -> usize {
    len + padding_len(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_refuse_short_buffers() {
        assert_eq!(u16_at(&[1], 0), None);
        assert_eq!(u16_at(&[1, 2], 1), None);
        assert_eq!(u16_at(&[1, 2], usize::MAX), None);
        assert_eq!(u16_at(&[1, 2], 0), Some(0x0102));
        assert_eq!(u32_at(&[1, 2, 3], 0), None);
        assert_eq!(u32_at(&[0, 1, 2, 3, 4], 1), Some(0x0102_0304));
        assert_eq!(array_at::<3>(&[1, 2, 3], 1), None);
        assert_eq!(array_at::<2>(&[1, 2, 3], 1), Some([2, 3]));
    }

    #[test]
    fn padding() {
        assert_eq!(padding_len(0), 0);
        assert_eq!(padding_len(1), 3);
        assert_eq!(padding_len(2), 2);
        assert_eq!(padding_len(3), 1);
        assert_eq!(padding_len(4), 0);
        assert_eq!(padded_len(9), 12);
        assert_eq!(padded_len(65_535), 65_536);
    }
}
