//! Building an RTP packet into a buffer the caller owns (RFC 3550 §5.1, RFC 8285).

use crate::extension::{self, ExtensionForm};
use crate::packet::{field, FIXED_HEADER_LEN, RTP_VERSION};
use crate::Error;

/// The fields of an RTP header to write, borrowed from the caller.
///
/// ```
/// use rtp::{RtpHeaderWriter, RtpPacket};
///
/// let header = RtpHeaderWriter {
///     payload_type: 96,
///     sequence_number: 1,
///     timestamp: 3000,
///     ssrc: 0x1234_5678,
///     extensions: &[(1, &[0x42])],
///     ..RtpHeaderWriter::default()
/// };
/// let mut buf = [0u8; 1500];
/// let n = header.write_packet(b"media", &mut buf)?;
/// let packet = RtpPacket::new_checked(&buf[..n])?;
/// assert_eq!(packet.extension(1), Some(&[0x42][..]));
/// assert_eq!(packet.payload(), b"media");
/// # Ok::<(), rtp::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtpHeaderWriter<'a> {
    /// The M bit.
    pub marker: bool,
    /// Payload type, 0..=127.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence_number: u16,
    /// Media timestamp.
    pub timestamp: u32,
    /// Synchronization source.
    pub ssrc: u32,
    /// Contributing sources, at most 15.
    pub csrcs: &'a [u32],
    /// RFC 8285 extension elements `(id, data)`, written in this order. No block when empty.
    pub extensions: &'a [(u8, &'a [u8])],
    /// The extension form; `None` picks the one-byte form when every element fits it.
    pub extension_form: Option<ExtensionForm>,
    /// Padding octets to append after the payload (count octet included); 0 for none.
    pub padding_len: u8,
}

impl RtpHeaderWriter<'_> {
    fn form(&self) -> ExtensionForm {
        self.extension_form.unwrap_or_else(|| ExtensionForm::smallest_for(self.extensions))
    }

    fn check(&self) -> Result<(), Error> {
        if self.payload_type > field::PT_MASK {
            return Err(Error::InvalidArgument("payload type above 127"));
        }
        if self.csrcs.len() > 15 {
            return Err(Error::InvalidArgument("more than 15 CSRCs"));
        }
        Ok(())
    }

    /// Length of the header: fixed part, CSRCs and extension block.
    pub fn header_len(&self) -> usize {
        FIXED_HEADER_LEN
            + 4 * self.csrcs.len()
            + extension::extension_block_len(self.form(), self.extensions)
    }

    /// Length of a whole packet with a payload of `payload_len` bytes and the padding.
    pub fn packet_len(&self, payload_len: usize) -> usize {
        self.header_len() + payload_len + usize::from(self.padding_len)
    }

    /// Writes the header at the front of `out` and returns its length. The P bit is set when
    /// `padding_len` is nonzero; the padding itself is written by [`Self::write_packet`] or
    /// [`write_padding`].
    pub fn write_header(&self, out: &mut [u8]) -> Result<usize, Error> {
        self.check()?;
        let len = self.header_len();
        let available = out.len();
        let out = out.get_mut(..len).ok_or(Error::BufferTooSmall { needed: len, available })?;
        let mut first = (RTP_VERSION << 6) | (self.csrcs.len() as u8 & field::CC_MASK);
        if self.padding_len > 0 {
            first |= field::PADDING_BIT;
        }
        if !self.extensions.is_empty() {
            first |= field::EXTENSION_BIT;
        }
        out[field::VPXCC] = first;
        out[field::MPT] = (if self.marker { field::MARKER_BIT } else { 0 })
            | (self.payload_type & field::PT_MASK);
        out[field::SEQUENCE].copy_from_slice(&self.sequence_number.to_be_bytes());
        out[field::TIMESTAMP].copy_from_slice(&self.timestamp.to_be_bytes());
        out[field::SSRC].copy_from_slice(&self.ssrc.to_be_bytes());
        let mut pos = FIXED_HEADER_LEN;
        for csrc in self.csrcs {
            out[pos..pos + 4].copy_from_slice(&csrc.to_be_bytes());
            pos += 4;
        }
        extension::write_extension_block(self.form(), 0, self.extensions, &mut out[pos..])?;
        Ok(len)
    }

    /// Writes header, payload and padding at the front of `out`; returns the packet length.
    pub fn write_packet(&self, payload: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        let total = self.packet_len(payload.len());
        if out.len() < total {
            return Err(Error::BufferTooSmall { needed: total, available: out.len() });
        }
        let header = self.write_header(out)?;
        out[header..header + payload.len()].copy_from_slice(payload);
        write_padding(self.padding_len, &mut out[header + payload.len()..total]);
        Ok(total)
    }

    /// Appends header, payload and padding to `out` (a reused buffer: no allocation once its
    /// capacity suffices).
    pub fn append_packet(&self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        self.check()?;
        let start = out.len();
        out.resize(start + self.packet_len(payload.len()), 0);
        match self.write_packet(payload, &mut out[start..]) {
            Ok(_) => Ok(()),
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }
}

/// Fills `out[..padding_len]` with RTP padding: zeros, then the count in the last octet
/// (RFC 3550 §5.1). Writes nothing when `padding_len` is 0 or `out` is too short.
pub fn write_padding(padding_len: u8, out: &mut [u8]) {
    let n = usize::from(padding_len);
    if let Some(pad) = out.get_mut(..n) {
        if let Some((last, zeros)) = pad.split_last_mut() {
            zeros.fill(0);
            *last = padding_len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RtpPacket;

    #[test]
    fn writes_minimal_header() {
        let w = RtpHeaderWriter {
            marker: true,
            payload_type: 111,
            sequence_number: 0xabcd,
            timestamp: 0x0102_0304,
            ssrc: 0xfeed_f00d,
            ..Default::default()
        };
        let mut out = [0u8; 12];
        assert_eq!(w.write_header(&mut out), Ok(12));
        assert_eq!(out, [0x80, 0xef, 0xab, 0xcd, 0x01, 0x02, 0x03, 0x04, 0xfe, 0xed, 0xf0, 0x0d]);
        assert_eq!(
            w.write_header(&mut out[..11]),
            Err(Error::BufferTooSmall { needed: 12, available: 11 })
        );
    }

    #[test]
    fn writes_full_packet() {
        let ext: [(u8, &[u8]); 2] = [(1, &[0x01]), (200, &[])];
        let w = RtpHeaderWriter {
            payload_type: 96,
            sequence_number: 7,
            timestamp: 9,
            ssrc: 1,
            csrcs: &[5, 6],
            extensions: &ext,
            padding_len: 3,
            ..Default::default()
        };
        let mut buf = Vec::new();
        w.append_packet(&[0xaa, 0xbb], &mut buf).unwrap();
        assert_eq!(buf.len(), w.packet_len(2));
        // Two-byte form because of id 200: elements of 3 and 2 octets, padded to 8.
        assert_eq!(
            &buf[..],
            &[
                0xb2, 96, 0, 7, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 6, 0x10, 0x00, 0x00,
                0x02, 1, 1, 1, 200, 0, 0, 0, 0, 0xaa, 0xbb, 0, 0, 3
            ][..]
        );
        let p = RtpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(p.payload(), &[0xaa, 0xbb]);
        assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![5, 6]);
        assert_eq!(p.extension(200), Some(&[][..]));
    }

    #[test]
    fn refuses_misuse() {
        let mut out = [0u8; 128];
        let bad_pt = RtpHeaderWriter { payload_type: 128, ..Default::default() };
        assert!(matches!(bad_pt.write_header(&mut out), Err(Error::InvalidArgument(_))));
        let csrcs = [0u32; 16];
        let many = RtpHeaderWriter { csrcs: &csrcs, ..Default::default() };
        assert!(matches!(many.write_header(&mut out), Err(Error::InvalidArgument(_))));
        let ext: [(u8, &[u8]); 1] = [(15, &[1])];
        let forced = RtpHeaderWriter {
            extensions: &ext,
            extension_form: Some(ExtensionForm::OneByte),
            ..Default::default()
        };
        assert!(matches!(forced.write_header(&mut out), Err(Error::ExtensionDoesNotFit { .. })));
        let mut v = vec![1, 2];
        assert!(forced.append_packet(&[], &mut v).is_err());
        assert_eq!(v, vec![1, 2]);
        let small = RtpHeaderWriter::default();
        assert_eq!(
            small.write_packet(&[0; 10], &mut out[..20]),
            Err(Error::BufferTooSmall { needed: 22, available: 20 })
        );
    }

    #[test]
    fn padding_helper() {
        let mut out = [9u8; 5];
        write_padding(4, &mut out);
        assert_eq!(out, [0, 0, 0, 4, 9]);
        write_padding(0, &mut out);
        assert_eq!(out, [0, 0, 0, 4, 9]);
        write_padding(6, &mut out);
        assert_eq!(out, [0, 0, 0, 4, 9]);
    }
}
