//! The RTP packet view (RFC 3550 §5.1): borrowed, validated once, rewritten in place.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |V=2|P|X|  CC   |M|     PT      |       sequence number         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           timestamp                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           synchronization source (SSRC) identifier            |
//! +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//! |            contributing source (CSRC) identifiers             |
//! |                             ....                              |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      defined by profile       |           length              |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        header extension                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use crate::extension::{self, ExtensionForm, ExtensionIter};
use crate::Error;

/// The only RTP version in use (RFC 3550 §5.1).
pub const RTP_VERSION: u8 = 2;
/// Length of the fixed header, before CSRCs and the extension block.
pub const FIXED_HEADER_LEN: usize = 12;
/// Length of the header extension block's own header (profile and length words).
pub const EXTENSION_HEADER_LEN: usize = 4;

/// Byte offsets of the fixed header fields.
pub(crate) mod field {
    use core::ops::Range;

    /// V, P, X and CC.
    pub const VPXCC: usize = 0;
    /// M and PT.
    pub const MPT: usize = 1;
    pub const SEQUENCE: Range<usize> = 2..4;
    pub const TIMESTAMP: Range<usize> = 4..8;
    pub const SSRC: Range<usize> = 8..12;

    pub const PADDING_BIT: u8 = 0x20;
    pub const EXTENSION_BIT: u8 = 0x10;
    pub const CC_MASK: u8 = 0x0f;
    pub const MARKER_BIT: u8 = 0x80;
    pub const PT_MASK: u8 = 0x7f;
}

/// The layout of a validated packet: where the header ends and how much padding it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Offset of the extension block header (just past the CSRCs).
    pub extension_offset: usize,
    /// `Some((profile, data_start, data_end))` when the X bit is set.
    pub extension: Option<(u16, usize, usize)>,
    /// Fixed header, CSRCs and extension block.
    pub header_len: usize,
    /// Padding octets at the end, including the count octet; 0 when P is clear.
    pub padding_len: usize,
}

/// Validates everything the getters rely on (RFC 3550 §5.1, §5.3.1).
pub(crate) fn layout(buf: &[u8]) -> Result<Layout, Error> {
    let first = *buf.first().ok_or(Error::Truncated("RTP fixed header"))?;
    if buf.len() < FIXED_HEADER_LEN {
        return Err(Error::Truncated("RTP fixed header"));
    }
    let version = first >> 6;
    if version != RTP_VERSION {
        return Err(Error::BadVersion(version));
    }
    let csrc_count = usize::from(first & field::CC_MASK);
    let extension_offset = FIXED_HEADER_LEN + 4 * csrc_count;
    if buf.len() < extension_offset {
        return Err(Error::Truncated("CSRC list"));
    }
    let mut header_len = extension_offset;
    let mut extension = None;
    if first & field::EXTENSION_BIT != 0 {
        let ext_header = buf
            .get(extension_offset..extension_offset + EXTENSION_HEADER_LEN)
            .ok_or(Error::Truncated("header extension header"))?;
        let profile = u16::from_be_bytes([ext_header[0], ext_header[1]]);
        // RFC 3550 §5.3.1: the length counts 32-bit words, excluding the four-octet header.
        let words = usize::from(u16::from_be_bytes([ext_header[2], ext_header[3]]));
        let data_start = extension_offset + EXTENSION_HEADER_LEN;
        let data_end = data_start + 4 * words;
        if buf.len() < data_end {
            return Err(Error::Truncated("header extension data"));
        }
        extension = Some((profile, data_start, data_end));
        header_len = data_end;
    }
    let mut padding_len = 0;
    if first & field::PADDING_BIT != 0 {
        // RFC 3550 §5.1: the last octet counts the padding octets, itself included.
        if buf.len() <= header_len {
            return Err(Error::Truncated("padding count octet"));
        }
        let count = usize::from(buf[buf.len() - 1]);
        if count == 0 {
            return Err(Error::Malformed("padding count is zero while the P bit is set"));
        }
        if header_len + count > buf.len() {
            return Err(Error::Malformed("padding longer than the packet body"));
        }
        padding_len = count;
    }
    Ok(Layout { extension_offset, extension, header_len, padding_len })
}

/// A read-only or read-write view of one RTP packet.
///
/// [`RtpPacket::new_checked`] validates the version, CSRC list, extension block length and
/// padding once; afterwards no getter can fail or panic. The buffer is the whole datagram: every
/// byte past the header is payload and padding. Setters exist when `T: AsMut<[u8]>` and only
/// touch fields whose size never changes, so the validated layout stays true.
#[derive(Debug, Clone)]
pub struct RtpPacket<T: AsRef<[u8]>> {
    buffer: T,
    layout: Layout,
}

fn be16(buf: &[u8], at: core::ops::Range<usize>) -> u16 {
    buf.get(at).and_then(|b| <[u8; 2]>::try_from(b).ok()).map_or(0, u16::from_be_bytes)
}

fn be32(buf: &[u8], at: core::ops::Range<usize>) -> u32 {
    buf.get(at).and_then(|b| <[u8; 4]>::try_from(b).ok()).map_or(0, u32::from_be_bytes)
}

fn put(buf: &mut [u8], at: core::ops::Range<usize>, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(at) {
        dst.copy_from_slice(bytes);
    }
}

impl<T: AsRef<[u8]>> RtpPacket<T> {
    /// Validates `buffer` as an RTP packet and wraps it.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let layout = layout(buffer.as_ref())?;
        Ok(Self { buffer, layout })
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole packet.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Length of the whole packet in bytes.
    pub fn packet_len(&self) -> usize {
        self.as_bytes().len()
    }

    fn first_byte(&self) -> u8 {
        self.as_bytes().get(field::VPXCC).copied().unwrap_or(0)
    }

    fn second_byte(&self) -> u8 {
        self.as_bytes().get(field::MPT).copied().unwrap_or(0)
    }

    /// The version field; always 2 for a validated packet.
    pub fn version(&self) -> u8 {
        self.first_byte() >> 6
    }

    /// The P bit: the packet ends with padding.
    pub fn padding(&self) -> bool {
        self.first_byte() & field::PADDING_BIT != 0
    }

    /// The X bit: a header extension block follows the CSRCs.
    pub fn has_extension(&self) -> bool {
        self.first_byte() & field::EXTENSION_BIT != 0
    }

    /// The CC field: number of CSRC identifiers.
    pub fn csrc_count(&self) -> u8 {
        self.first_byte() & field::CC_MASK
    }

    /// The M bit.
    pub fn marker(&self) -> bool {
        self.second_byte() & field::MARKER_BIT != 0
    }

    /// The 7-bit payload type.
    pub fn payload_type(&self) -> u8 {
        self.second_byte() & field::PT_MASK
    }

    /// The 16-bit sequence number.
    pub fn sequence_number(&self) -> u16 {
        be16(self.as_bytes(), field::SEQUENCE)
    }

    /// The 32-bit media timestamp.
    pub fn timestamp(&self) -> u32 {
        be32(self.as_bytes(), field::TIMESTAMP)
    }

    /// The synchronization source.
    pub fn ssrc(&self) -> u32 {
        be32(self.as_bytes(), field::SSRC)
    }

    /// The contributing sources, in order.
    pub fn csrcs(&self) -> Csrcs<'_> {
        let list =
            self.as_bytes().get(FIXED_HEADER_LEN..self.layout.extension_offset).unwrap_or(&[]);
        Csrcs { chunks: list.chunks_exact(4) }
    }

    /// Length of the header: fixed part, CSRCs and the extension block. The payload starts here.
    pub fn header_len(&self) -> usize {
        self.layout.header_len
    }

    /// Number of padding octets at the end (count octet included); 0 without the P bit.
    pub fn padding_len(&self) -> usize {
        self.layout.padding_len
    }

    fn payload_range(&self) -> core::ops::Range<usize> {
        let end = self.packet_len().saturating_sub(self.layout.padding_len);
        self.layout.header_len..end.max(self.layout.header_len)
    }

    /// The payload, without header and padding. May be empty (padding-only packets).
    pub fn payload(&self) -> &[u8] {
        self.as_bytes().get(self.payload_range()).unwrap_or(&[])
    }

    /// The padding octets (count octet included); empty without the P bit.
    pub fn padding_bytes(&self) -> &[u8] {
        let start = self.payload_range().end;
        self.as_bytes().get(start..).unwrap_or(&[])
    }

    /// The "defined by profile" word of the extension block, when the X bit is set.
    pub fn extension_profile(&self) -> Option<u16> {
        self.layout.extension.map(|(profile, _, _)| profile)
    }

    /// The raw extension block data after its four-octet header, when the X bit is set.
    pub fn extension_data(&self) -> Option<&[u8]> {
        let (_, start, end) = self.layout.extension?;
        self.as_bytes().get(start..end)
    }

    /// The RFC 8285 form of the extension block; `None` without a block or for another profile.
    pub fn extension_form(&self) -> Option<ExtensionForm> {
        self.extension_profile().and_then(ExtensionForm::from_profile)
    }

    /// The RFC 8285 extension elements as `(id, data)`. Empty without a block or when the block
    /// uses another profile. Parsing stops at the first malformed element (RFC 8285 §4.2).
    pub fn extensions(&self) -> ExtensionIter<'_> {
        match (self.extension_form(), self.extension_data()) {
            (Some(form), Some(data)) => ExtensionIter::new(form, data),
            _ => ExtensionIter::empty(),
        }
    }

    /// The data of the first extension element with this id.
    pub fn extension(&self, id: u8) -> Option<&[u8]> {
        self.extensions().find(|&(eid, _)| eid == id).map(|(_, data)| data)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> RtpPacket<T> {
    fn bytes_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Rewrites the SSRC.
    pub fn set_ssrc(&mut self, ssrc: u32) {
        put(self.bytes_mut(), field::SSRC, &ssrc.to_be_bytes());
    }

    /// Rewrites the sequence number.
    pub fn set_sequence_number(&mut self, seq: u16) {
        put(self.bytes_mut(), field::SEQUENCE, &seq.to_be_bytes());
    }

    /// Rewrites the timestamp.
    pub fn set_timestamp(&mut self, timestamp: u32) {
        put(self.bytes_mut(), field::TIMESTAMP, &timestamp.to_be_bytes());
    }

    /// Rewrites the payload type, keeping the marker bit. Only the low 7 bits of `pt` are used:
    /// payload types are 0..=127 (RFC 3550 §5.1).
    pub fn set_payload_type(&mut self, pt: u8) {
        if let Some(b) = self.bytes_mut().get_mut(field::MPT) {
            *b = (*b & field::MARKER_BIT) | (pt & field::PT_MASK);
        }
    }

    /// Sets or clears the marker bit, keeping the payload type.
    pub fn set_marker(&mut self, marker: bool) {
        if let Some(b) = self.bytes_mut().get_mut(field::MPT) {
            *b = if marker { *b | field::MARKER_BIT } else { *b & !field::MARKER_BIT };
        }
    }

    /// The payload, writable in place (its length is fixed).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.payload_range();
        self.bytes_mut().get_mut(range).unwrap_or(&mut [])
    }

    /// The data of the first extension element with this id, writable in place (for example to
    /// rewrite a transport-wide sequence number per subscriber).
    pub fn extension_mut(&mut self, id: u8) -> Option<&mut [u8]> {
        let form = self.extension_form()?;
        let (_, start, end) = self.layout.extension?;
        let data = self.bytes_mut().get_mut(start..end)?;
        extension::element_mut(form, data, id)
    }

    /// Rewrites the extension element ids in place through `map` (RFC 8285 elements only).
    ///
    /// `map(id)` returning `Some(new)` with `new != 0` renames the element; `None` or `Some(0)`
    /// turns the element into padding: its header and data octets are zeroed, which RFC 8285
    /// §4.2/§4.3 receivers skip, so nothing moves and the packet length stays the same (use
    /// [`crate::remove_extension`] to shrink the packet instead). `map` is called twice per element
    /// and must return the same answer both times.
    ///
    /// If any mapped id cannot be carried by the block's form (an id above 14 in the one-byte
    /// form, RFC 8285 §4.2), nothing is written and [`Error::ExtensionDoesNotFit`] is returned.
    /// A block with another profile is left untouched and yields
    /// [`Error::UnsupportedExtensionProfile`]. Without an extension block this does nothing.
    pub fn remap_extension_ids(&mut self, map: impl Fn(u8) -> Option<u8>) -> Result<(), Error> {
        let Some((profile, start, end)) = self.layout.extension else {
            return Ok(());
        };
        let form = ExtensionForm::from_profile(profile)
            .ok_or(Error::UnsupportedExtensionProfile(profile))?;
        match self.bytes_mut().get_mut(start..end) {
            Some(data) => extension::remap_block(form, data, map),
            None => Ok(()),
        }
    }
}

/// Iterator over the CSRC identifiers of a packet.
#[derive(Debug, Clone)]
pub struct Csrcs<'a> {
    chunks: core::slice::ChunksExact<'a, u8>,
}

impl Iterator for Csrcs<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        self.chunks.next().map(|c| be32(c, 0..4))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.chunks.size_hint()
    }
}

impl ExactSizeIterator for Csrcs<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    /// V=2, no padding/extension/CSRC, M=1, PT=96, seq 0x1234, ts 0xdeadbeef, SSRC 0x11223344.
    const MINIMAL: [u8; 16] =
        [0x80, 0xe0, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0x11, 0x22, 0x33, 0x44, 1, 2, 3, 4];

    #[test]
    fn parses_fixed_header() {
        let p = RtpPacket::new_checked(&MINIMAL[..]).unwrap();
        assert_eq!(p.version(), 2);
        assert!(!p.padding());
        assert!(!p.has_extension());
        assert_eq!(p.csrc_count(), 0);
        assert!(p.marker());
        assert_eq!(p.payload_type(), 96);
        assert_eq!(p.sequence_number(), 0x1234);
        assert_eq!(p.timestamp(), 0xdead_beef);
        assert_eq!(p.ssrc(), 0x1122_3344);
        assert_eq!(p.csrcs().count(), 0);
        assert_eq!(p.header_len(), 12);
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
        assert_eq!(p.padding_len(), 0);
        assert_eq!(p.extension_profile(), None);
        assert_eq!(p.extension_data(), None);
        assert_eq!(p.extensions().count(), 0);
    }

    #[test]
    fn parses_csrcs_extension_and_padding() {
        let mut buf = vec![0xb2, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        buf.extend_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd, 0x01, 0x02, 0x03, 0x04]);
        // RFC 8285 §4.2 one-byte block: id 1 with 1 data byte, then two padding bytes.
        buf.extend_from_slice(&[0xbe, 0xde, 0x00, 0x01, 0x10, 0x7f, 0x00, 0x00]);
        buf.extend_from_slice(&[9, 8, 7]);
        buf.extend_from_slice(&[0, 0, 3]);
        let p = RtpPacket::new_checked(&buf[..]).unwrap();
        assert!(p.padding());
        assert!(p.has_extension());
        assert_eq!(p.csrc_count(), 2);
        assert!(!p.marker());
        assert_eq!(p.payload_type(), 96);
        assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![0xaabb_ccdd, 0x0102_0304]);
        assert_eq!(p.csrcs().len(), 2);
        assert_eq!(p.extension_profile(), Some(0xbede));
        assert_eq!(p.extension_data(), Some(&[0x10, 0x7f, 0, 0][..]));
        assert_eq!(p.extension_form(), Some(ExtensionForm::OneByte));
        assert_eq!(p.extension(1), Some(&[0x7f][..]));
        assert_eq!(p.extension(2), None);
        assert_eq!(p.header_len(), 28);
        assert_eq!(p.payload(), &[9, 8, 7]);
        assert_eq!(p.padding_len(), 3);
        assert_eq!(p.padding_bytes(), &[0, 0, 3]);
    }

    #[test]
    fn padding_only_packet_has_empty_payload() {
        let mut buf = MINIMAL[..12].to_vec();
        buf[0] |= field::PADDING_BIT;
        buf.extend_from_slice(&[0, 0, 0, 4]);
        let p = RtpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(p.payload(), &[] as &[u8]);
        assert_eq!(p.padding_len(), 4);
    }

    #[test]
    fn unknown_extension_profile_is_raw_only() {
        let mut buf = MINIMAL[..12].to_vec();
        buf[0] |= field::EXTENSION_BIT;
        buf.extend_from_slice(&[0x12, 0x34, 0x00, 0x01, 0x10, 0x7f, 0x00, 0x00, 0x55]);
        let mut p = RtpPacket::new_checked(&mut buf[..]).unwrap();
        assert_eq!(p.extension_profile(), Some(0x1234));
        assert_eq!(p.extension_form(), None);
        assert_eq!(p.extensions().count(), 0);
        assert_eq!(p.extension_data(), Some(&[0x10, 0x7f, 0, 0][..]));
        assert_eq!(p.remap_extension_ids(Some), Err(Error::UnsupportedExtensionProfile(0x1234)));
        assert_eq!(p.payload(), &[0x55]);
    }

    #[test]
    fn setters_touch_only_their_field() {
        let mut buf = MINIMAL;
        let mut p = RtpPacket::new_checked(&mut buf[..]).unwrap();
        p.set_ssrc(0xcafe_babe);
        p.set_sequence_number(0xffff);
        p.set_timestamp(7);
        p.set_payload_type(111);
        assert!(p.marker());
        p.set_marker(false);
        assert_eq!(p.payload_type(), 111);
        p.set_marker(true);
        p.set_payload_type(0xff);
        assert_eq!(p.payload_type(), 0x7f);
        assert!(p.marker());
        p.payload_mut()[0] = 0x42;
        assert_eq!(
            buf,
            [0x80, 0xff, 0xff, 0xff, 0, 0, 0, 7, 0xca, 0xfe, 0xba, 0xbe, 0x42, 2, 3, 4]
        );
    }

    #[test]
    fn rejects_truncation_at_every_length() {
        let mut full = vec![0xb1, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xaa, 0xbb, 0xcc, 0xdd];
        full.extend_from_slice(&[0xbe, 0xde, 0x00, 0x01, 0x10, 0x7f, 0x00, 0x00]);
        full.extend_from_slice(&[0, 2]);
        assert!(RtpPacket::new_checked(&full[..]).is_ok());
        for cut in 0..full.len() {
            let short = &full[..cut];
            // Cutting inside the padding keeps a parseable packet only if the new last byte is
            // a valid count; here it is 0 (at cut 25) or part of the extension, so all fail.
            assert!(RtpPacket::new_checked(short).is_err(), "length {cut} accepted");
        }
    }

    #[test]
    fn rejects_malformed_headers() {
        let mut bad_version = MINIMAL;
        bad_version[0] = 0x40;
        assert_eq!(RtpPacket::new_checked(&bad_version[..]).unwrap_err(), Error::BadVersion(1));

        // CC=15 needs 60 CSRC bytes.
        let mut csrc_past_end = MINIMAL;
        csrc_past_end[0] = 0x8f;
        assert_eq!(
            RtpPacket::new_checked(&csrc_past_end[..]).unwrap_err(),
            Error::Truncated("CSRC list")
        );

        // Extension header promises 2 words but only 1 follows.
        let mut ext = MINIMAL[..12].to_vec();
        ext[0] |= field::EXTENSION_BIT;
        ext.extend_from_slice(&[0xbe, 0xde, 0x00, 0x02, 0x10, 0x7f, 0, 0]);
        assert_eq!(
            RtpPacket::new_checked(&ext[..]).unwrap_err(),
            Error::Truncated("header extension data")
        );

        // X bit set but no room for the extension header.
        let mut ext_hdr = MINIMAL[..14].to_vec();
        ext_hdr[0] |= field::EXTENSION_BIT;
        assert_eq!(
            RtpPacket::new_checked(&ext_hdr[..]).unwrap_err(),
            Error::Truncated("header extension header")
        );

        // Padding count larger than the body.
        let mut pad = MINIMAL;
        pad[0] |= field::PADDING_BIT;
        pad[15] = 5;
        assert!(matches!(RtpPacket::new_checked(&pad[..]), Err(Error::Malformed(_))));
        // A padding count equal to the body is a padding-only packet.
        pad[15] = 4;
        assert!(RtpPacket::new_checked(&pad[..]).is_ok());
        // Zero padding count.
        pad[15] = 0;
        assert!(matches!(RtpPacket::new_checked(&pad[..]), Err(Error::Malformed(_))));
        // P set with nothing after the header.
        let mut pad_empty = MINIMAL[..12].to_vec();
        pad_empty[0] |= field::PADDING_BIT;
        assert_eq!(
            RtpPacket::new_checked(&pad_empty[..]).unwrap_err(),
            Error::Truncated("padding count octet")
        );
    }

    #[test]
    fn remap_without_extension_is_noop() {
        let mut buf = MINIMAL;
        let mut p = RtpPacket::new_checked(&mut buf[..]).unwrap();
        assert_eq!(p.remap_extension_ids(|_| None), Ok(()));
        assert_eq!(buf, MINIMAL);
    }
}
