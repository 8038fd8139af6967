//! Bounds-checked big-endian reads and appending writes shared by the codecs.

use crate::Error;

/// Reads a big-endian `u16` at `at`, or reports what was being read.
#[inline]
pub(crate) fn read_u16(buf: &[u8], at: usize, what: &'static str) -> Result<u16, Error> {
    match buf.get(at..at.wrapping_add(2)) {
        Some(&[a, b]) => Ok(u16::from_be_bytes([a, b])),
        _ => Err(Error::Truncated(what)),
    }
}

/// Reads a big-endian `u32` at `at`, or reports what was being read.
#[inline]
pub(crate) fn read_u32(buf: &[u8], at: usize, what: &'static str) -> Result<u32, Error> {
    match buf.get(at..at.wrapping_add(4)) {
        Some(&[a, b, c, d]) => Ok(u32::from_be_bytes([a, b, c, d])),
        _ => Err(Error::Truncated(what)),
    }
}

/// Reads a big-endian `u64` at `at`, or reports what was being read.
#[inline]
pub(crate) fn read_u64(buf: &[u8], at: usize, what: &'static str) -> Result<u64, Error> {
    let bytes = buf.get(at..at.wrapping_add(8)).ok_or(Error::Truncated(what))?;
    let mut array = [0u8; 8];
    array.copy_from_slice(bytes);
    Ok(u64::from_be_bytes(array))
}

/// Rounds `len` up to the 4-byte boundary that chunks and parameters are padded to.
#[inline]
pub(crate) const fn padded(len: usize) -> usize {
    (len + 3) & !3
}

/// Appends zero bytes until `out.len()` is a multiple of 4.
#[inline]
pub(crate) fn pad_to_4(out: &mut Vec<u8>) {
    let len = out.len();
    out.resize(padded(len), 0);
}

/// Writes a big-endian `u16` into an already reserved position.
///
/// The callers only patch length fields they have just reserved, so `at + 2 <= buf.len()`.
#[inline]
pub(crate) fn patch_u16(buf: &mut [u8], at: usize, value: u16) {
    buf[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

/// Converts a length to the 16-bit length field of chunks, parameters and error causes.
#[inline]
pub(crate) fn length_field(len: usize, what: &'static str) -> Result<u16, Error> {
    u16::try_from(len).map_err(|_| Error::InvalidInput(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounds_checked() {
        let buf = [1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(read_u16(&buf, 0, "x"), Ok(0x0102));
        assert_eq!(read_u32(&buf, 4, "x"), Ok(0x0506_0708));
        assert_eq!(read_u64(&buf, 0, "x"), Ok(0x0102_0304_0506_0708));
        assert_eq!(read_u16(&buf, 7, "x"), Err(Error::Truncated("x")));
        assert_eq!(read_u32(&buf, 5, "x"), Err(Error::Truncated("x")));
        assert_eq!(read_u64(&buf, 1, "x"), Err(Error::Truncated("x")));
        assert_eq!(read_u32(&buf, usize::MAX, "x"), Err(Error::Truncated("x")));
    }

    #[test]
    fn padding() {
        assert_eq!(padded(0), 0);
        assert_eq!(padded(1), 4);
        assert_eq!(padded(4), 4);
        assert_eq!(padded(5), 8);
        let mut v = vec![1, 2, 3, 4, 5];
        pad_to_4(&mut v);
        assert_eq!(v, [1, 2, 3, 4, 5, 0, 0, 0]);
    }
}
