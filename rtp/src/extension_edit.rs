//! Adding and removing RFC 8285 header extension elements on a whole packet held in a
//! `Vec<u8>`: the payload and padding shift, nothing else is allocated (the `Vec` grows only when
//! its capacity is short).
//!
//! Rules, so that results are predictable:
//! - A new block uses the one-byte form when the element fits it (id 1-14, 1-16 bytes), else the
//!   two-byte form (RFC 8285 §4.2, §4.3).
//! - An existing block keeps its form; a one-byte block is converted to the two-byte form (and
//!   its padding octets dropped) only when the new element needs it. Blocks are never converted
//!   back on removal.
//! - Elements are appended after the last element, reusing trailing padding when it is long
//!   enough; the block is padded with zero octets to a multiple of four (RFC 3550 §5.3.1).
//! - Removing shrinks the block to the last remaining element rounded up to four octets, and
//!   removes the block (and clears the X bit) once no element is left.
//! - A block that does not parse to its end (RFC 8285 §4.2 id 15, or a malformed element) or
//!   uses another profile is refused, never edited.

use crate::extension::{self, ExtensionForm, Step};
use crate::packet::{self, field, EXTENSION_HEADER_LEN};
use crate::Error;

/// Changes the length of `buf[at..at + old_len]` to `new_len`, moving everything after it.
/// Octets added at the end of the region are zero. The caller guarantees `at + old_len <=
/// buf.len()`.
pub(crate) fn resize_region(buf: &mut Vec<u8>, at: usize, old_len: usize, new_len: usize) {
    let tail_start = at + old_len;
    let old_total = buf.len();
    if new_len > old_len {
        let grow = new_len - old_len;
        buf.resize(old_total + grow, 0);
        buf.copy_within(tail_start..old_total, tail_start + grow);
        buf[tail_start..tail_start + grow].fill(0);
    } else if new_len < old_len {
        let shrink = old_len - new_len;
        buf.copy_within(tail_start..old_total, tail_start - shrink);
        buf.truncate(old_total - shrink);
    }
}

fn block_words(data_len: usize) -> Result<[u8; 2], Error> {
    u16::try_from(data_len / 4)
        .map(u16::to_be_bytes)
        .map_err(|_| Error::InvalidArgument("header extension block longer than 65535 words"))
}

/// Adds the element `(id, data)` to the packet's header extension block, creating the block when
/// absent and converting a one-byte block to the two-byte form when the element needs it (see the
/// module rules). An element with the same id is replaced.
///
/// Errors: the id is 0 or the data is longer than 255 bytes; the packet is malformed; the block
/// uses another profile or does not parse to its end. On error the packet is unchanged.
pub fn add_extension(packet: &mut Vec<u8>, id: u8, data: &[u8]) -> Result<(), Error> {
    if !ExtensionForm::TwoByte.fits(id, data.len()) {
        return Err(Error::ExtensionDoesNotFit { id, len: data.len(), form: "two-byte" });
    }
    let layout = packet::layout(packet)?;
    let Some((profile, start, end)) = layout.extension else {
        let form = if ExtensionForm::OneByte.fits(id, data.len()) {
            ExtensionForm::OneByte
        } else {
            ExtensionForm::TwoByte
        };
        let data_len = form.element_len(data.len()).next_multiple_of(4);
        let words = block_words(data_len)?;
        let at = layout.extension_offset;
        resize_region(packet, at, 0, EXTENSION_HEADER_LEN + data_len);
        let profile = match form {
            ExtensionForm::OneByte => extension::ONE_BYTE_PROFILE,
            ExtensionForm::TwoByte => extension::TWO_BYTE_PROFILE,
        };
        packet[at..at + 2].copy_from_slice(&profile.to_be_bytes());
        packet[at + 2..at + 4].copy_from_slice(&words);
        let data_start = at + EXTENSION_HEADER_LEN;
        extension::write_element(form, id, data, &mut packet[data_start..data_start + data_len]);
        packet[field::VPXCC] |= field::EXTENSION_BIT;
        return Ok(());
    };
    let form =
        ExtensionForm::from_profile(profile).ok_or(Error::UnsupportedExtensionProfile(profile))?;
    let scan = extension::scan(form, &packet[start..end]);
    if !scan.complete {
        return Err(Error::Malformed("header extension block does not parse to its end"));
    }
    if extension::find(form, &packet[start..end], id).is_some() {
        remove_extension(packet, id)?;
        // The id is gone now, so this second call takes another branch and does not recurse.
        return add_extension(packet, id, data);
    }
    let old_data_len = end - start;

    if form.fits(id, data.len()) {
        let at = start + scan.used_end;
        let needed = scan.used_end + form.element_len(data.len());
        if needed > old_data_len {
            let new_data_len = needed.next_multiple_of(4);
            let words = block_words(new_data_len)?;
            resize_region(packet, start, old_data_len, new_data_len);
            packet[start - 2..start].copy_from_slice(&words);
        }
        // Everything after the last element is zero padding (the scan ended cleanly), so only
        // the element itself is written.
        extension::write_element(form, id, data, &mut packet[at..]);
        return Ok(());
    }

    // A one-byte block receiving an element only the two-byte form can carry: convert in place.
    let n = scan.count;
    let compact = scan.compact_len;
    // Every one-byte element gains one header octet; padding octets are dropped.
    let body = compact + n + ExtensionForm::TwoByte.element_len(data.len());
    let new_data_len = body.next_multiple_of(4);
    let words = block_words(new_data_len)?;

    // 1. Compact the one-byte elements to the front of the block, dropping padding. Each
    //    element moves left or stays, and is read before anything is written over it.
    {
        let region = &mut packet[start..end];
        let (mut read, mut write) = (0, 0);
        while let Step::Element(e) = extension::step(ExtensionForm::OneByte, region, read) {
            region.copy_within(e.start..e.end, write);
            write += e.end - e.start;
            read = e.end;
        }
    }
    // 2. Give the block its final size; the compacted prefix (shorter than the new size) stays.
    resize_region(packet, start, old_data_len, new_data_len);
    // 3. Move the compacted elements right by `n`, then expand them front to back. Before
    //    element i is written, the source is `n - i >= 1` octets ahead of the destination, so
    //    the two header octets written only cover the source header octet already read.
    packet.copy_within(start..start + compact, start + n);
    let (mut src, mut dst) = (start + n, start);
    for _ in 0..n {
        let header = packet[src];
        let len = usize::from(header & 0x0f) + 1;
        packet[dst] = header >> 4;
        packet[dst + 1] = (header & 0x0f) + 1;
        packet.copy_within(src + 1..src + 1 + len, dst + 2);
        src += 1 + len;
        dst += 2 + len;
    }
    dst += extension::write_element(ExtensionForm::TwoByte, id, data, &mut packet[dst..]);
    packet[dst..start + new_data_len].fill(0);
    packet[start - 4..start - 2].copy_from_slice(&extension::TWO_BYTE_PROFILE.to_be_bytes());
    packet[start - 2..start].copy_from_slice(&words);
    Ok(())
}

/// Removes every element with `id` from the packet's header extension block, shrinking the block
/// and removing it (clearing the X bit) when no element is left. Returns whether anything was
/// removed; a packet without a block, or without that id, is left unchanged.
///
/// Errors: the packet is malformed; the block uses another profile or does not parse to its end.
/// On error the packet is unchanged.
pub fn remove_extension(packet: &mut Vec<u8>, id: u8) -> Result<bool, Error> {
    let layout = packet::layout(packet)?;
    let Some((profile, start, end)) = layout.extension else {
        return Ok(false);
    };
    let form =
        ExtensionForm::from_profile(profile).ok_or(Error::UnsupportedExtensionProfile(profile))?;
    let region = &mut packet[start..end];
    let scan = extension::scan(form, region);
    if !scan.complete {
        return Err(Error::Malformed("header extension block does not parse to its end"));
    }
    if extension::find(form, region, id).is_none() {
        return Ok(false);
    }
    // Keep every other element with the padding before it; drop matching elements (and the
    // padding right before them). Writes never overtake reads.
    let (mut read, mut write, mut kept) = (0, 0, 0);
    while let Step::Element(e) = extension::step(form, region, read) {
        if e.id != id {
            region.copy_within(read..e.end, write);
            write += e.end - read;
            kept += 1;
        }
        read = e.end;
    }
    region[write..].fill(0);

    let old_data_len = end - start;
    if kept == 0 {
        resize_region(packet, layout.extension_offset, EXTENSION_HEADER_LEN + old_data_len, 0);
        packet[field::VPXCC] &= !field::EXTENSION_BIT;
        return Ok(true);
    }
    let new_data_len = write.next_multiple_of(4);
    if new_data_len < old_data_len {
        let words = block_words(new_data_len)?;
        resize_region(packet, start, old_data_len, new_data_len);
        packet[start - 2..start].copy_from_slice(&words);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RtpPacket;

    fn base(payload: &[u8], padding: u8) -> Vec<u8> {
        let mut p = vec![0x80, 96, 0x00, 0x07, 0, 0, 0x03, 0xe8, 0x11, 0x22, 0x33, 0x44];
        p.extend_from_slice(payload);
        if padding > 0 {
            p[0] |= field::PADDING_BIT;
            p.extend(std::iter::repeat_n(0, usize::from(padding) - 1));
            p.push(padding);
        }
        p
    }

    fn elements(p: &[u8]) -> Vec<(u8, Vec<u8>)> {
        RtpPacket::new_checked(p).unwrap().extensions().map(|(i, d)| (i, d.to_vec())).collect()
    }

    #[test]
    fn creates_one_byte_block_and_removes_it() {
        let original = base(&[1, 2, 3], 0);
        let mut p = original.clone();
        add_extension(&mut p, 3, &[0xaa, 0xbb]).unwrap();
        assert_eq!(&p[12..20], &[0xbe, 0xde, 0x00, 0x01, 0x31, 0xaa, 0xbb, 0x00]);
        assert_eq!(p[0] & field::EXTENSION_BIT, field::EXTENSION_BIT);
        let v = RtpPacket::new_checked(&p[..]).unwrap();
        assert_eq!(v.payload(), &[1, 2, 3]);
        assert_eq!(v.extension(3), Some(&[0xaa, 0xbb][..]));
        assert!(remove_extension(&mut p, 3).unwrap());
        assert_eq!(p, original);
    }

    #[test]
    fn creates_two_byte_block_when_needed() {
        let original = base(&[9; 10], 4);
        for (id, data) in [(15u8, vec![1u8]), (200, vec![1]), (1, vec![]), (2, vec![7; 17])] {
            let mut p = original.clone();
            add_extension(&mut p, id, &data).unwrap();
            let v = RtpPacket::new_checked(&p[..]).unwrap();
            assert_eq!(v.extension_form(), Some(ExtensionForm::TwoByte));
            assert_eq!(v.extension(id), Some(&data[..]));
            assert_eq!(v.payload(), &[9; 10]);
            assert_eq!(v.padding_len(), 4);
            assert!(remove_extension(&mut p, id).unwrap());
            assert_eq!(p, original);
        }
    }

    #[test]
    fn appends_into_trailing_padding_then_grows() {
        let mut p = base(&[5, 5], 0);
        add_extension(&mut p, 1, &[0x11]).unwrap();
        // Block: [0x10 0x11 0 0]: two padding octets left, a 1-byte element (2 octets) fits.
        add_extension(&mut p, 2, &[0x22]).unwrap();
        assert_eq!(&p[12..20], &[0xbe, 0xde, 0x00, 0x01, 0x10, 0x11, 0x20, 0x22]);
        // No room left: the block grows by one word.
        add_extension(&mut p, 3, &[0x33, 0x33]).unwrap();
        assert_eq!(
            &p[12..24],
            &[0xbe, 0xde, 0x00, 0x02, 0x10, 0x11, 0x20, 0x22, 0x31, 0x33, 0x33, 0x00]
        );
        assert_eq!(&p[24..], &[5, 5]);
        assert_eq!(elements(&p), vec![(1, vec![0x11]), (2, vec![0x22]), (3, vec![0x33, 0x33])]);
    }

    #[test]
    fn upgrades_one_byte_block_to_two_byte() {
        // RFC 8285 §4.2 layout with padding in the middle.
        let mut p = base(&[0xee; 6], 2);
        p[0] |= field::EXTENSION_BIT;
        let block = [
            0xbe, 0xde, 0x00, 0x03, 0x10, 0xaa, 0x21, 0xbb, 0xbb, 0x00, 0x00, 0x33, 0xc1, 0xc2,
            0xc3, 0xc4,
        ];
        p.splice(12..12, block);
        add_extension(&mut p, 20, &[0xd0; 3]).unwrap();
        let v = RtpPacket::new_checked(&p[..]).unwrap();
        assert_eq!(v.extension_profile(), Some(0x1000));
        // 3 + 4 + 6 + 5 = 18 octets of elements, padded to 20.
        assert_eq!(
            v.extension_data().unwrap(),
            &[
                1, 1, 0xaa, 2, 2, 0xbb, 0xbb, 3, 4, 0xc1, 0xc2, 0xc3, 0xc4, 20, 3, 0xd0, 0xd0,
                0xd0, 0, 0
            ][..]
        );
        assert_eq!(v.payload(), &[0xee; 6]);
        assert_eq!(v.padding_len(), 2);
        // Removal keeps the two-byte form.
        assert!(remove_extension(&mut p, 20).unwrap());
        let v = RtpPacket::new_checked(&p[..]).unwrap();
        assert_eq!(v.extension_form(), Some(ExtensionForm::TwoByte));
        assert_eq!(
            elements(&p),
            vec![(1, vec![0xaa]), (2, vec![0xbb, 0xbb]), (3, vec![0xc1, 0xc2, 0xc3, 0xc4])]
        );
        assert_eq!(v.extension_data().unwrap().len(), 16);
    }

    #[test]
    fn upgrade_can_shrink_a_padded_block() {
        // One 1-byte element followed by 14 padding octets: the converted block is smaller.
        let mut p = base(&[1], 0);
        p[0] |= field::EXTENSION_BIT;
        let mut block = vec![0xbe, 0xde, 0x00, 0x04, 0x50, 0x77];
        block.resize(20, 0);
        p.splice(12..12, block);
        add_extension(&mut p, 1, &[]).unwrap();
        let v = RtpPacket::new_checked(&p[..]).unwrap();
        assert_eq!(v.extension_data().unwrap(), &[5, 1, 0x77, 1, 0, 0, 0, 0][..]);
        assert_eq!(v.payload(), &[1]);
    }

    #[test]
    fn replaces_existing_id() {
        let mut p = base(&[4], 0);
        add_extension(&mut p, 1, &[1]).unwrap();
        add_extension(&mut p, 2, &[2]).unwrap();
        add_extension(&mut p, 1, &[3, 3]).unwrap();
        assert_eq!(elements(&p), vec![(2, vec![2]), (1, vec![3, 3])]);
    }

    #[test]
    fn removes_middle_element_and_shrinks() {
        let mut p = base(&[4], 0);
        add_extension(&mut p, 1, &[1, 1, 1]).unwrap();
        add_extension(&mut p, 2, &[2, 2, 2, 2, 2, 2, 2]).unwrap();
        add_extension(&mut p, 3, &[3]).unwrap();
        assert_eq!(RtpPacket::new_checked(&p[..]).unwrap().extension_data().unwrap().len(), 16);
        assert!(remove_extension(&mut p, 2).unwrap());
        assert_eq!(elements(&p), vec![(1, vec![1, 1, 1]), (3, vec![3])]);
        let v = RtpPacket::new_checked(&p[..]).unwrap();
        assert_eq!(v.extension_data().unwrap(), &[0x12, 1, 1, 1, 0x30, 3, 0, 0][..]);
        assert_eq!(v.payload(), &[4]);
        assert!(!remove_extension(&mut p, 2).unwrap());
    }

    #[test]
    fn removing_from_packet_without_block_is_noop() {
        let mut p = base(&[1, 2], 3);
        let before = p.clone();
        assert!(!remove_extension(&mut p, 1).unwrap());
        assert_eq!(p, before);
    }

    #[test]
    fn removing_last_element_of_padded_block_removes_block() {
        let mut p = base(&[1, 2], 0);
        p[0] |= field::EXTENSION_BIT;
        p.splice(12..12, [0xbe, 0xde, 0x00, 0x02, 0x00, 0x40, 0x01, 0x00, 0, 0, 0, 0]);
        assert!(remove_extension(&mut p, 4).unwrap());
        assert_eq!(p, base(&[1, 2], 0));
    }

    #[test]
    fn refuses_unparseable_or_foreign_blocks() {
        let mut p = base(&[1], 0);
        p[0] |= field::EXTENSION_BIT;
        p.splice(12..12, [0xbe, 0xde, 0x00, 0x01, 0x10, 0x01, 0xf0, 0x00]);
        let before = p.clone();
        assert!(matches!(add_extension(&mut p, 2, &[1]), Err(Error::Malformed(_))));
        assert!(matches!(remove_extension(&mut p, 1), Err(Error::Malformed(_))));
        assert_eq!(p, before);

        let mut p = base(&[1], 0);
        p[0] |= field::EXTENSION_BIT;
        p.splice(12..12, [0xab, 0xcd, 0x00, 0x00]);
        let before = p.clone();
        assert_eq!(add_extension(&mut p, 2, &[1]), Err(Error::UnsupportedExtensionProfile(0xabcd)));
        assert_eq!(remove_extension(&mut p, 2), Err(Error::UnsupportedExtensionProfile(0xabcd)));
        assert_eq!(p, before);

        let mut p = base(&[1], 0);
        assert!(add_extension(&mut p, 0, &[1]).is_err());
        assert!(add_extension(&mut p, 1, &[0; 256]).is_err());
        assert_eq!(p, base(&[1], 0));
        let mut short = vec![0x80, 0];
        assert!(add_extension(&mut short, 1, &[1]).is_err());
        assert!(remove_extension(&mut short, 1).is_err());
    }

    #[test]
    fn works_with_csrcs() {
        let mut p = base(&[8, 8], 0);
        p[0] |= 2;
        p.splice(12..12, [0, 0, 0, 1, 0, 0, 0, 2]);
        let original = p.clone();
        add_extension(&mut p, 14, &[0xab; 16]).unwrap();
        let v = RtpPacket::new_checked(&p[..]).unwrap();
        assert_eq!(v.csrcs().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(v.extension(14), Some(&[0xab; 16][..]));
        assert_eq!(v.extension_form(), Some(ExtensionForm::OneByte));
        assert_eq!(v.payload(), &[8, 8]);
        assert!(remove_extension(&mut p, 14).unwrap());
        assert_eq!(p, original);
    }
}
