//! The few RTP (RFC 3550 §5.1) and RTCP (RFC 3550 §6.4) header fields SRTP needs, read with
//! checked lengths. Kept private: the `rtp` and `rtcp` crates own the full formats.

use crate::error::{Error, Result};

/// Length of the fixed RTP header.
pub(crate) const RTP_FIXED_HEADER_LEN: usize = 12;
/// Length of the RTCP header that SRTCP leaves in the clear: V/P/RC, PT, length, SSRC.
pub(crate) const RTCP_HEADER_LEN: usize = 8;

/// The fields of the fixed RTP header that select the SRTP stream and packet index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RtpIds {
    pub(crate) sequence_number: u16,
    pub(crate) ssrc: u32,
}

/// Reads the sequence number and SSRC of an RTP packet.
pub(crate) fn rtp_ids(packet: &[u8]) -> Result<RtpIds> {
    match (be_u16(packet, 2), be_u32(packet, 8)) {
        (Some(sequence_number), Some(ssrc)) => Ok(RtpIds { sequence_number, ssrc }),
        _ => Err(Error::Malformed("shorter than an RTP header")),
    }
}

/// Length of the RTP header including CSRCs and the header extension, checked to fit in
/// `packet`.
pub(crate) fn rtp_header_len(packet: &[u8]) -> Result<usize> {
    let first = *packet.first().ok_or(Error::Malformed("shorter than an RTP header"))?;
    // At most 15 CSRCs: 12 + 60 bytes, no overflow possible.
    let mut len = RTP_FIXED_HEADER_LEN + 4 * usize::from(first & 0x0f);
    if first & 0x10 != 0 {
        // RFC 3550 §5.3.1: 16-bit profile-defined field, 16-bit length in 32-bit words.
        let words = be_u16(packet, len + 2)
            .ok_or(Error::Malformed("RTP header extension beyond the packet"))?;
        // At most 72 + 4 + 4 * 65535 bytes: fits any usize of 32 bits or more.
        len += 4 + 4 * usize::from(words);
    }
    if len > packet.len() {
        return Err(Error::Malformed("RTP header longer than the packet"));
    }
    Ok(len)
}

/// Reads the SSRC of the first RTCP packet of a compound packet.
pub(crate) fn rtcp_ssrc(packet: &[u8]) -> Result<u32> {
    be_u32(packet, 4).ok_or(Error::Malformed("shorter than an RTCP header"))
}

pub(crate) fn be_u16(buf: &[u8], at: usize) -> Option<u16> {
    let bytes = buf.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes(bytes.try_into().ok()?))
}

pub(crate) fn be_u32(buf: &[u8], at: usize) -> Option<u32> {
    let bytes = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: [u8; 12] = [0x80, 0x60, 0x12, 0x34, 0, 0, 0, 1, 0xca, 0xfe, 0xba, 0xbe];

    #[test]
    fn reads_ids_of_a_fixed_header() {
        assert_eq!(rtp_ids(&PLAIN), Ok(RtpIds { sequence_number: 0x1234, ssrc: 0xcafebabe }));
        assert_eq!(rtp_header_len(&PLAIN), Ok(12));
        assert!(matches!(rtp_ids(&PLAIN[..11]), Err(Error::Malformed(_))));
        assert!(matches!(rtp_ids(&[]), Err(Error::Malformed(_))));
    }

    #[test]
    fn header_len_counts_csrcs_and_extension() {
        let mut p = PLAIN.to_vec();
        p[0] = 0x92; // X=1, CC=2
        p.extend_from_slice(&[0; 8]); // two CSRCs
        p.extend_from_slice(&[0xbe, 0xde, 0x00, 0x01, 1, 2, 3, 4]); // one-word extension
        assert_eq!(rtp_header_len(&p), Ok(12 + 8 + 4 + 4));
        // Extension words beyond the packet.
        p[23] = 2;
        assert!(matches!(rtp_header_len(&p), Err(Error::Malformed(_))));
        // Extension header itself cut off.
        assert!(matches!(rtp_header_len(&p[..22]), Err(Error::Malformed(_))));
        // CSRCs beyond the packet.
        let mut q = PLAIN.to_vec();
        q[0] = 0x8f;
        assert!(matches!(rtp_header_len(&q), Err(Error::Malformed(_))));
        // Maximal extension length field does not overflow.
        let mut r = PLAIN.to_vec();
        r[0] = 0x9f;
        r.extend_from_slice(&[0xff; 64]);
        assert!(matches!(rtp_header_len(&r), Err(Error::Malformed(_))));
    }

    #[test]
    fn rtcp_ssrc_needs_eight_bytes() {
        assert_eq!(rtcp_ssrc(&[0x80, 200, 0, 6, 1, 2, 3, 4]), Ok(0x01020304));
        assert!(matches!(rtcp_ssrc(&[0x80, 200, 0, 6, 1, 2, 3]), Err(Error::Malformed(_))));
    }

    #[test]
    fn readers_never_panic_at_the_edges() {
        assert_eq!(be_u16(&[1], 0), None);
        assert_eq!(be_u16(&[1, 2], usize::MAX), None);
        assert_eq!(be_u32(&[1, 2, 3, 4], 1), None);
        assert_eq!(be_u32(&[1, 2, 3, 4], 0), Some(0x01020304));
    }
}
