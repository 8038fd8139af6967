//! RTP retransmission payload format (RFC 4588 §4).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         RTP Header                            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            OSN                |                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               |
//! |                  Original RTP Packet Payload                  |
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Wrapping keeps the header (timestamp, marker, CSRCs and extension block, RFC 4588 §4) and
//! replaces SSRC, payload type and sequence number with the retransmission stream's; the
//! original sequence number (OSN) becomes the first two payload octets. Padding of the original
//! is dropped (the P bit is cleared). Unwrapping reverses this and drops the RTX packet's own
//! padding. The `_in_place` variants only shift bytes inside the `Vec`; it grows by two octets
//! when wrapping a packet, so keep that much spare capacity to avoid reallocation.

use crate::extension_edit::resize_region;
use crate::packet::{self, field, Layout};
use crate::{Error, RtpPacket};

/// Octets of the original sequence number at the start of an RTX payload.
pub const OSN_LEN: usize = 2;

fn payload_end(len: usize, layout: &Layout) -> usize {
    // The layout guarantees header_len + padding_len <= len.
    len - layout.padding_len
}

/// Rewrites the identity fields and clears P of a header already in `buf`.
fn set_identity(buf: &mut [u8], ssrc: u32, payload_type: u8, seq: u16) -> Result<(), Error> {
    if let Some(first) = buf.first_mut() {
        *first &= !field::PADDING_BIT;
    }
    let mut p = RtpPacket::new_checked(buf)?;
    p.set_ssrc(ssrc);
    p.set_payload_type(payload_type);
    p.set_sequence_number(seq);
    Ok(())
}

/// The original sequence number carried by an RTX packet.
pub fn original_sequence_number(rtx: &[u8]) -> Result<u16, Error> {
    let p = RtpPacket::new_checked(rtx)?;
    match p.payload() {
        [a, b, ..] => Ok(u16::from_be_bytes([*a, *b])),
        _ => Err(Error::Truncated("RTX original sequence number")),
    }
}

/// Length of the RTX packet [`wrap_into`] makes from `original`.
pub fn wrapped_len(original: &[u8]) -> Result<usize, Error> {
    let layout = packet::layout(original)?;
    Ok(payload_end(original.len(), &layout) + OSN_LEN)
}

fn check_pt(payload_type: u8) -> Result<(), Error> {
    if payload_type > field::PT_MASK {
        return Err(Error::InvalidArgument("payload type above 127"));
    }
    Ok(())
}

/// Writes the RTX form of `original` into `out`; returns its length.
pub fn wrap_into(
    original: &[u8],
    rtx_ssrc: u32,
    rtx_payload_type: u8,
    rtx_sequence_number: u16,
    out: &mut [u8],
) -> Result<usize, Error> {
    check_pt(rtx_payload_type)?;
    let layout = packet::layout(original)?;
    let header_len = layout.header_len;
    let end = payload_end(original.len(), &layout);
    let total = end + OSN_LEN;
    let available = out.len();
    let out = out.get_mut(..total).ok_or(Error::BufferTooSmall { needed: total, available })?;
    let osn = original.get(field::SEQUENCE).ok_or(Error::Truncated("RTP fixed header"))?;
    out[..header_len].copy_from_slice(&original[..header_len]);
    out[header_len..header_len + OSN_LEN].copy_from_slice(osn);
    out[header_len + OSN_LEN..].copy_from_slice(&original[header_len..end]);
    set_identity(out, rtx_ssrc, rtx_payload_type, rtx_sequence_number)?;
    Ok(total)
}

/// Turns the packet in `packet` into its RTX form, in place.
pub fn wrap_in_place(
    packet: &mut Vec<u8>,
    rtx_ssrc: u32,
    rtx_payload_type: u8,
    rtx_sequence_number: u16,
) -> Result<(), Error> {
    check_pt(rtx_payload_type)?;
    let layout = packet::layout(packet)?;
    let osn = [packet[field::SEQUENCE.start], packet[field::SEQUENCE.start + 1]];
    packet.truncate(payload_end(packet.len(), &layout));
    resize_region(packet, layout.header_len, 0, OSN_LEN);
    packet[layout.header_len..layout.header_len + OSN_LEN].copy_from_slice(&osn);
    set_identity(packet, rtx_ssrc, rtx_payload_type, rtx_sequence_number)
}

/// Writes the original packet carried by the RTX packet `rtx` into `out`, restoring the
/// original stream's SSRC and payload type (known from signalling, RFC 4588 §8.6) and the
/// sequence number from the OSN; returns its length.
pub fn unwrap_into(
    rtx: &[u8],
    original_ssrc: u32,
    original_payload_type: u8,
    out: &mut [u8],
) -> Result<usize, Error> {
    check_pt(original_payload_type)?;
    let layout = packet::layout(rtx)?;
    let header_len = layout.header_len;
    let end = payload_end(rtx.len(), &layout);
    if end - header_len < OSN_LEN {
        return Err(Error::Truncated("RTX original sequence number"));
    }
    let osn = u16::from_be_bytes([rtx[header_len], rtx[header_len + 1]]);
    let total = end - OSN_LEN;
    let available = out.len();
    let out = out.get_mut(..total).ok_or(Error::BufferTooSmall { needed: total, available })?;
    out[..header_len].copy_from_slice(&rtx[..header_len]);
    out[header_len..].copy_from_slice(&rtx[header_len + OSN_LEN..end]);
    set_identity(out, original_ssrc, original_payload_type, osn)?;
    Ok(total)
}

/// Turns the RTX packet in `packet` back into the original packet, in place; returns the
/// original sequence number.
pub fn unwrap_in_place(
    packet: &mut Vec<u8>,
    original_ssrc: u32,
    original_payload_type: u8,
) -> Result<u16, Error> {
    check_pt(original_payload_type)?;
    let layout = packet::layout(packet)?;
    let header_len = layout.header_len;
    let end = payload_end(packet.len(), &layout);
    if end - header_len < OSN_LEN {
        return Err(Error::Truncated("RTX original sequence number"));
    }
    let osn = u16::from_be_bytes([packet[header_len], packet[header_len + 1]]);
    packet.truncate(end);
    resize_region(packet, header_len, OSN_LEN, 0);
    set_identity(packet, original_ssrc, original_payload_type, osn)?;
    Ok(osn)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An original packet: M=1, PT=96, seq 0x1234, ts 0x00010000, SSRC 0x0a0b0c0d, one CSRC,
    /// a one-byte extension (id 3, 2 bytes), payload [1 2 3 4 5], 3 octets of padding.
    fn original() -> Vec<u8> {
        vec![
            0xb1, 0xe0, 0x12, 0x34, 0x00, 0x01, 0x00, 0x00, 0x0a, 0x0b, 0x0c, 0x0d, // fixed
            0xcc, 0xcc, 0xcc, 0xcc, // CSRC
            0xbe, 0xde, 0x00, 0x01, 0x31, 0xaa, 0xbb, 0x00, // extension
            1, 2, 3, 4, 5, // payload
            0, 0, 3, // padding
        ]
    }

    /// RFC 4588 §4 layout: same header with RTX SSRC/PT/seq, P cleared, OSN then payload.
    fn expected_rtx() -> Vec<u8> {
        vec![
            0x91, 0xe1, 0x00, 0x07, 0x00, 0x01, 0x00, 0x00, 0x0f, 0x0e, 0x0d, 0x0c, // fixed
            0xcc, 0xcc, 0xcc, 0xcc, // CSRC
            0xbe, 0xde, 0x00, 0x01, 0x31, 0xaa, 0xbb, 0x00, // extension
            0x12, 0x34, // OSN
            1, 2, 3, 4, 5,
        ]
    }

    /// The original without its padding: what unwrapping gives back.
    fn original_unpadded() -> Vec<u8> {
        let mut p = original();
        p.truncate(p.len() - 3);
        p[0] &= !field::PADDING_BIT;
        p
    }

    #[test]
    fn wraps_into_buffer() {
        let mut out = [0u8; 64];
        let n = wrap_into(&original(), 0x0f0e_0d0c, 97, 7, &mut out).unwrap();
        assert_eq!(n, wrapped_len(&original()).unwrap());
        assert_eq!(&out[..n], &expected_rtx()[..]);
        assert_eq!(original_sequence_number(&out[..n]), Ok(0x1234));
        assert_eq!(
            wrap_into(&original(), 1, 97, 7, &mut out[..10]),
            Err(Error::BufferTooSmall { needed: 31, available: 10 })
        );
    }

    #[test]
    fn wraps_in_place() {
        let mut p = original();
        wrap_in_place(&mut p, 0x0f0e_0d0c, 97, 7).unwrap();
        assert_eq!(p, expected_rtx());
    }

    #[test]
    fn unwraps_into_buffer_and_in_place() {
        let mut out = [0u8; 64];
        let n = unwrap_into(&expected_rtx(), 0x0a0b_0c0d, 96, &mut out).unwrap();
        assert_eq!(&out[..n], &original_unpadded()[..]);

        let mut p = expected_rtx();
        assert_eq!(unwrap_in_place(&mut p, 0x0a0b_0c0d, 96), Ok(0x1234));
        assert_eq!(p, original_unpadded());
    }

    #[test]
    fn unwrap_drops_rtx_padding() {
        let mut rtx = expected_rtx();
        rtx[0] |= field::PADDING_BIT;
        rtx.extend_from_slice(&[0, 0, 0, 4]);
        let mut p = rtx.clone();
        assert_eq!(unwrap_in_place(&mut p, 0x0a0b_0c0d, 96), Ok(0x1234));
        assert_eq!(p, original_unpadded());
        let mut out = [0u8; 64];
        let n = unwrap_into(&rtx, 0x0a0b_0c0d, 96, &mut out).unwrap();
        assert_eq!(&out[..n], &original_unpadded()[..]);
    }

    #[test]
    fn wrap_in_place_does_not_reallocate_with_spare_capacity() {
        let mut p = Vec::with_capacity(64);
        p.extend_from_slice(&original());
        let ptr = p.as_ptr();
        wrap_in_place(&mut p, 1, 97, 2).unwrap();
        unwrap_in_place(&mut p, 0x0a0b_0c0d, 96).unwrap();
        assert_eq!(p.as_ptr(), ptr);
        assert_eq!(p, original_unpadded());
    }

    #[test]
    fn rejects_short_or_bad_input() {
        // A padding-only RTX packet (as used for bandwidth probing) carries no OSN.
        let mut probe = expected_rtx()[..24].to_vec();
        probe[0] |= field::PADDING_BIT;
        probe.extend_from_slice(&[0, 0, 0, 4]);
        assert_eq!(
            original_sequence_number(&probe),
            Err(Error::Truncated("RTX original sequence number"))
        );
        let mut out = [0u8; 64];
        assert!(unwrap_into(&probe, 1, 96, &mut out).is_err());
        let mut p = probe.clone();
        assert!(unwrap_in_place(&mut p, 1, 96).is_err());
        assert_eq!(p, probe);

        let one_byte = &expected_rtx()[..25];
        assert!(unwrap_into(one_byte, 1, 96, &mut out).is_err());
        assert!(wrap_into(&[0x80, 0], 1, 96, 1, &mut out).is_err());
        let mut short = vec![0x80, 0];
        assert!(wrap_in_place(&mut short, 1, 96, 1).is_err());
        assert_eq!(short, vec![0x80, 0]);
        assert!(matches!(
            wrap_into(&original(), 1, 128, 1, &mut out),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            unwrap_into(&expected_rtx(), 1, 200, &mut out),
            Err(Error::InvalidArgument(_))
        ));
    }
}
