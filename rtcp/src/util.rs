//! Big-endian reads that cannot panic and a bounds-checked write cursor.

use crate::Error;

/// Reads a big-endian `u16` at `at` of a fixed-size array. Call sites use constant offsets
/// inside the array; `get` keeps a wrong offset from panicking (it reads as 0).
#[inline]
pub(crate) fn array_u16<const N: usize>(b: &[u8; N], at: usize) -> u16 {
    be_u16(b, at).unwrap_or(0)
}

/// Reads a big-endian `u32` at `at` of a fixed-size array (see [`array_u16`]).
#[inline]
pub(crate) fn array_u32<const N: usize>(b: &[u8; N], at: usize) -> u32 {
    be_u32(b, at).unwrap_or(0)
}

/// Reads a big-endian `u16` at `at`, or `None` past the end.
#[inline]
pub(crate) fn be_u16(b: &[u8], at: usize) -> Option<u16> {
    let bytes = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes(bytes.try_into().ok()?))
}

/// Reads a big-endian `u32` at `at`, or `None` past the end.
#[inline]
pub(crate) fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

/// `n` rounded up to a multiple of 4 (RTCP packets are whole 32-bit words).
#[inline]
pub(crate) fn padded4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

/// Fails with [`Error::BufferTooSmall`] unless `buf` holds `needed` bytes.
#[inline]
pub(crate) fn check_room(buf: &[u8], needed: usize) -> Result<(), Error> {
    if buf.len() < needed {
        return Err(Error::BufferTooSmall { needed, available: buf.len() });
    }
    Ok(())
}

/// A write position in a caller's buffer. Every put is bounds-checked, so a miscomputed
/// `encoded_len` becomes an error, not a panic.
#[derive(Debug)]
pub(crate) struct Cursor<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl<'b> Cursor<'b> {
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes written so far.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn put_slice(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let available = self.buf.len();
        let end = self
            .pos
            .checked_add(bytes.len())
            .ok_or(Error::BufferTooSmall { needed: usize::MAX, available })?;
        let dst = self
            .buf
            .get_mut(self.pos..end)
            .ok_or(Error::BufferTooSmall { needed: end, available })?;
        dst.copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    pub(crate) fn put_u8(&mut self, v: u8) -> Result<(), Error> {
        self.put_slice(&[v])
    }

    pub(crate) fn put_u16(&mut self, v: u16) -> Result<(), Error> {
        self.put_slice(&v.to_be_bytes())
    }

    pub(crate) fn put_u32(&mut self, v: u32) -> Result<(), Error> {
        self.put_slice(&v.to_be_bytes())
    }

    pub(crate) fn put_u64(&mut self, v: u64) -> Result<(), Error> {
        self.put_slice(&v.to_be_bytes())
    }

    /// Writes zero bytes up to the next multiple of 4 from the start of the buffer.
    pub(crate) fn pad_to_word(&mut self) -> Result<(), Error> {
        while self.pos % 4 != 0 {
            self.put_u8(0)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stop_at_the_end() {
        let b = [1u8, 2, 3, 4, 5];
        assert_eq!(be_u16(&b, 3), Some(0x0405));
        assert_eq!(be_u16(&b, 4), None);
        assert_eq!(be_u32(&b, 1), Some(0x0203_0405));
        assert_eq!(be_u32(&b, 2), None);
        assert_eq!(be_u32(&b, usize::MAX), None);
        assert_eq!(array_u32(&[0u8; 4], 1), 0);
    }

    #[test]
    fn cursor_refuses_to_overrun() {
        let mut buf = [0u8; 3];
        let mut w = Cursor::new(&mut buf);
        w.put_u16(0xabcd).unwrap();
        assert_eq!(w.put_u16(1), Err(Error::BufferTooSmall { needed: 4, available: 3 }));
        w.put_u8(7).unwrap();
        assert_eq!(w.pos(), 3);
        assert_eq!(buf, [0xab, 0xcd, 7]);
    }

    #[test]
    fn padding_rounds_up_to_words() {
        assert_eq!(padded4(0), 0);
        assert_eq!(padded4(1), 4);
        assert_eq!(padded4(4), 4);
        assert_eq!(padded4(13), 16);
    }
}
