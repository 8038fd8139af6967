//! The common RTCP header and the framing of a compound packet (RFC 3550 §6.1, §6.4.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |V=2|P| RC/FMT  |      PT       |  length (32-bit words - 1)    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::iter::FusedIterator;

use crate::util::Cursor;
use crate::Error;

/// Length of the common header.
pub const HEADER_LEN: usize = 4;

/// The RTCP packet type octet (PT). Open: an unknown type is carried, not rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PacketType(pub u8);

impl PacketType {
    /// Sender report (RFC 3550 §6.4.1).
    pub const SR: Self = Self(200);
    /// Receiver report (RFC 3550 §6.4.2).
    pub const RR: Self = Self(201);
    /// Source description (RFC 3550 §6.5).
    pub const SDES: Self = Self(202);
    /// Goodbye (RFC 3550 §6.6).
    pub const BYE: Self = Self(203);
    /// Application-defined (RFC 3550 §6.7).
    pub const APP: Self = Self(204);
    /// Transport-layer feedback (RFC 4585 §6.2).
    pub const RTPFB: Self = Self(205);
    /// Payload-specific feedback (RFC 4585 §6.3).
    pub const PSFB: Self = Self(206);
    /// Extended reports (RFC 3611). Not decoded: surfaces as [`crate::Packet::Unknown`].
    pub const XR: Self = Self(207);
}

/// FMT of a generic NACK in an RTPFB packet (RFC 4585 §6.2.1).
pub const RTPFB_NACK: u8 = 1;
/// FMT of transport-wide congestion control feedback in an RTPFB packet
/// (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1).
pub const RTPFB_TRANSPORT_CC: u8 = 15;
/// FMT of a picture loss indication in a PSFB packet (RFC 4585 §6.3.1).
pub const PSFB_PLI: u8 = 1;
/// FMT of a full intra request in a PSFB packet (RFC 5104 §4.3.1).
pub const PSFB_FIR: u8 = 4;
/// FMT of application-layer feedback in a PSFB packet (RFC 4585 §6.4); REMB lives here.
pub const PSFB_AFB: u8 = 15;

/// True when a datagram on a muxed RTP/RTCP port is RTCP: version 2 and a second octet in
/// 192..=223 (RFC 5761 §4). Use after the RFC 7983 first-byte demultiplexing.
pub fn is_rtcp(datagram: &[u8]) -> bool {
    match datagram {
        [b0, pt, ..] => b0 >> 6 == 2 && (192..=223).contains(pt),
        _ => false,
    }
}

/// One framed RTCP packet of a compound: the header fields and the body, padding removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawPacket<'a> {
    packet_type: PacketType,
    count: u8,
    padding: bool,
    bytes: &'a [u8],
    body: &'a [u8],
}

impl<'a> RawPacket<'a> {
    /// Frames the first packet of `datagram` and returns it with the bytes after it.
    ///
    /// Checks the version, that the length field stays inside the datagram and that a
    /// padding count fits in the packet (RFC 3550 §6.4.1, §A.2).
    pub fn parse_first(datagram: &'a [u8]) -> Result<(Self, &'a [u8]), Error> {
        let (hdr, _) =
            datagram.split_first_chunk::<HEADER_LEN>().ok_or(Error::Truncated("RTCP header"))?;
        let version = hdr[0] >> 6;
        if version != 2 {
            return Err(Error::BadVersion(version));
        }
        let padding = hdr[0] & 0x20 != 0;
        let count = hdr[0] & 0x1f;
        let packet_type = PacketType(hdr[1]);
        let words = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
        // The length counts 32-bit words minus one, header included (RFC 3550 §6.4.1).
        let len = (words + 1) * 4;
        let (bytes, rest) = datagram
            .split_at_checked(len)
            .ok_or(Error::BadLength("length field runs past the end of the datagram"))?;
        let mut body = bytes.get(HEADER_LEN..).unwrap_or_default();
        if padding {
            // The last octet counts the padding octets, itself included (RFC 3550 §6.4.1).
            let pad = usize::from(bytes.last().copied().unwrap_or(0));
            if pad == 0 {
                return Err(Error::BadPadding("padding bit set with a zero padding count"));
            }
            let keep = body
                .len()
                .checked_sub(pad)
                .ok_or(Error::BadPadding("padding count larger than the packet body"))?;
            body = body.get(..keep).unwrap_or_default();
        }
        Ok((Self { packet_type, count, padding, bytes, body }, rest))
    }

    /// The packet type octet.
    pub fn packet_type(&self) -> PacketType {
        self.packet_type
    }

    /// The 5-bit count field: reception report count, source count, APP subtype, or the
    /// FMT of a feedback message.
    pub fn count(&self) -> u8 {
        self.count
    }

    /// Whether the padding bit was set.
    pub fn has_padding(&self) -> bool {
        self.padding
    }

    /// The whole packet as it is on the wire: header, body and padding.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The packet after the 4-byte header, without padding.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }
}

/// Frames the packets of a compound one after another without decoding their bodies.
///
/// After an error it yields nothing more: once a length is wrong, the position of the next
/// packet is unknown.
#[derive(Debug, Clone)]
pub struct RawPackets<'a> {
    rest: &'a [u8],
}

impl<'a> RawPackets<'a> {
    /// Starts at the first byte of a decrypted RTCP datagram.
    pub fn new(datagram: &'a [u8]) -> Self {
        Self { rest: datagram }
    }

    /// Stops the iteration (after a packet whose body failed to decode).
    pub(crate) fn stop(&mut self) {
        self.rest = &[];
    }
}

impl<'a> Iterator for RawPackets<'a> {
    type Item = Result<RawPacket<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match RawPacket::parse_first(self.rest) {
            Ok((packet, rest)) => {
                self.rest = rest;
                Some(Ok(packet))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

impl FusedIterator for RawPackets<'_> {}

/// Writes a common header for a packet of `total_len` bytes (a multiple of 4, header
/// included), without padding.
pub(crate) fn put_header(
    w: &mut Cursor<'_>,
    count: u8,
    packet_type: PacketType,
    total_len: usize,
) -> Result<(), Error> {
    if count > 31 {
        return Err(Error::InvalidInput("count field above 31"));
    }
    if total_len % 4 != 0 || total_len < HEADER_LEN {
        return Err(Error::InvalidInput("RTCP packet length not a whole number of words"));
    }
    let words = u16::try_from(total_len / 4 - 1)
        .map_err(|_| Error::InvalidInput("RTCP packet longer than 65536 words"))?;
    w.put_u8(0x80 | count)?;
    w.put_u8(packet_type.0)?;
    w.put_u16(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_a_packet_and_strips_padding() {
        // RR with no report blocks, padded with 4 octets (count 4 in the last one).
        let d = [0xa0, 201, 0, 2, 1, 2, 3, 4, 0, 0, 0, 4, 0x80, 200];
        let (p, rest) = RawPacket::parse_first(&d).unwrap();
        assert_eq!(p.packet_type(), PacketType::RR);
        assert_eq!(p.count(), 0);
        assert!(p.has_padding());
        assert_eq!(p.body(), &[1, 2, 3, 4]);
        assert_eq!(p.bytes().len(), 12);
        assert_eq!(rest, &[0x80, 200]);
    }

    #[test]
    fn rejects_bad_headers() {
        assert_eq!(RawPacket::parse_first(&[0x80, 200, 0]), Err(Error::Truncated("RTCP header")));
        assert_eq!(RawPacket::parse_first(&[0x40, 200, 0, 0]), Err(Error::BadVersion(1)));
        assert!(matches!(
            RawPacket::parse_first(&[0x80, 200, 0, 1, 0, 0, 0]),
            Err(Error::BadLength(_))
        ));
        // Zero padding count and a count past the body.
        assert!(matches!(RawPacket::parse_first(&[0xa0, 201, 0, 0]), Err(Error::BadPadding(_))));
        assert!(matches!(
            RawPacket::parse_first(&[0xa0, 201, 0, 1, 0, 0, 0, 5]),
            Err(Error::BadPadding(_))
        ));
        // A padding count equal to the body length leaves an empty body.
        let (p, _) = RawPacket::parse_first(&[0xa0, 201, 0, 1, 0, 0, 0, 4]).unwrap();
        assert!(p.body().is_empty());
    }

    #[test]
    fn raw_iterator_ends_after_an_error() {
        let d = [0x80, 201, 0, 0, 0x80, 201, 0, 9, 0x80, 201, 0, 0];
        let mut it = RawPackets::new(&d);
        assert!(it.next().unwrap().is_ok());
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }

    #[test]
    fn recognises_rtcp_on_a_muxed_port() {
        assert!(is_rtcp(&[0x80, 200]));
        assert!(is_rtcp(&[0x81, 223]));
        assert!(!is_rtcp(&[0x80, 96]));
        assert!(!is_rtcp(&[0x80, 224]));
        assert!(!is_rtcp(&[0x00, 200]));
        assert!(!is_rtcp(&[0x80]));
    }

    #[test]
    fn header_writer_checks_its_inputs() {
        let mut buf = [0u8; 4];
        let mut w = Cursor::new(&mut buf);
        assert!(put_header(&mut w, 32, PacketType::RR, 4).is_err());
        assert!(put_header(&mut w, 0, PacketType::RR, 6).is_err());
        assert!(put_header(&mut w, 0, PacketType::RR, 4 * 65537).is_err());
        put_header(&mut w, 3, PacketType::RR, 4).unwrap();
        assert_eq!(buf, [0x83, 201, 0, 0]);
    }
}
