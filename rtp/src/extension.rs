//! RTP header extension elements (RFC 8285): the one-byte and two-byte forms, reading, in-place
//! id rewriting and writing a block.
//!
//! One-byte form (profile 0xBEDE, RFC 8285 §4.2), ids 1-14, 1-16 data bytes:
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |       0xBE    |    0xDE       |           length=3            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  ID   | L=0   |     data      |  ID   |  L=1  |   data...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!       ...data   |    0 (pad)    |    0 (pad)    |  ID   | L=3   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                          data                                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! Two-byte form (profile 0x100 followed by 4 "appbits", RFC 8285 §4.3), ids 1-255, 0-255 data
//! bytes: each element is `ID`, `L`, then L data bytes. In both forms a zero octet between
//! elements is padding.

use crate::Error;

/// The "defined by profile" value of a one-byte form block (RFC 8285 §4.2).
pub const ONE_BYTE_PROFILE: u16 = 0xBEDE;
/// The "defined by profile" value of a two-byte form block with zero appbits (RFC 8285 §4.3).
/// The low four bits are application bits.
pub const TWO_BYTE_PROFILE: u16 = 0x1000;
/// Mask selecting the fixed part of the two-byte profile (the appbits are the rest).
pub const TWO_BYTE_PROFILE_MASK: u16 = 0xFFF0;
/// Highest id of the one-byte form; 15 is reserved and stops parsing (RFC 8285 §4.2).
pub const ONE_BYTE_MAX_ID: u8 = 14;
/// Id 15 in the one-byte form: reserved, parsing of the block stops there (RFC 8285 §4.2).
pub const ONE_BYTE_RESERVED_ID: u8 = 15;
/// Largest element data of the one-byte form (a 4-bit length holds length minus one).
pub const ONE_BYTE_MAX_LEN: usize = 16;
/// Largest element data of the two-byte form.
pub const TWO_BYTE_MAX_LEN: usize = 255;

/// The two RFC 8285 encodings of extension elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtensionForm {
    /// Profile 0xBEDE: one header octet per element, ids 1-14, 1-16 data bytes.
    OneByte,
    /// Profile 0x100X: two header octets per element, ids 1-255, 0-255 data bytes.
    TwoByte,
}

impl ExtensionForm {
    /// The form a block's profile word announces, `None` for any other profile.
    pub fn from_profile(profile: u16) -> Option<Self> {
        if profile == ONE_BYTE_PROFILE {
            Some(Self::OneByte)
        } else if profile & TWO_BYTE_PROFILE_MASK == TWO_BYTE_PROFILE {
            Some(Self::TwoByte)
        } else {
            None
        }
    }

    /// Whether an element with this id and data length can be carried in this form.
    pub fn fits(self, id: u8, len: usize) -> bool {
        match self {
            Self::OneByte => {
                (1..=ONE_BYTE_MAX_ID).contains(&id) && (1..=ONE_BYTE_MAX_LEN).contains(&len)
            }
            Self::TwoByte => id != 0 && len <= TWO_BYTE_MAX_LEN,
        }
    }

    /// Whether an id alone can be carried in this form (any data length aside).
    pub fn fits_id(self, id: u8) -> bool {
        match self {
            Self::OneByte => (1..=ONE_BYTE_MAX_ID).contains(&id),
            Self::TwoByte => id != 0,
        }
    }

    /// Octets one element with `data_len` data bytes takes, header included.
    pub fn element_len(self, data_len: usize) -> usize {
        match self {
            Self::OneByte => 1 + data_len,
            Self::TwoByte => 2 + data_len,
        }
    }

    /// The smallest form able to carry every `(id, data)` element: one-byte when possible.
    pub fn smallest_for<'e>(elements: impl IntoIterator<Item = &'e (u8, &'e [u8])>) -> Self {
        let all_fit = elements.into_iter().all(|&(id, data)| Self::OneByte.fits(id, data.len()));
        if all_fit {
            Self::OneByte
        } else {
            Self::TwoByte
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::OneByte => "one-byte",
            Self::TwoByte => "two-byte",
        }
    }
}

/// Where one element sits inside a block's data (offsets relative to the block data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawElement {
    pub id: u8,
    /// Offset of the element's first header octet.
    pub start: usize,
    /// Offset of the element's first data octet.
    pub data_start: usize,
    /// Offset just past the element's data.
    pub end: usize,
}

/// One parsing step over a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The next element.
    Element(RawElement),
    /// The block ended cleanly (only padding left).
    End,
    /// Parsing stopped early: id 15 in the one-byte form, a non-padding id 0, or an element
    /// running past the block. What follows is not interpreted by receivers.
    Stop,
}

/// Reads the element at or after `pos`, skipping padding octets.
pub(crate) fn step(form: ExtensionForm, data: &[u8], mut pos: usize) -> Step {
    loop {
        let Some(&first) = data.get(pos) else {
            return Step::End;
        };
        if first == 0 {
            // RFC 8285 §4.2/§4.3: zero octets between elements are padding.
            pos += 1;
            continue;
        }
        let (id, len, header) = match form {
            ExtensionForm::OneByte => {
                let id = first >> 4;
                // RFC 8285 §4.2: id 15 stops the processing of the whole block; an id 0 with a
                // nonzero length is neither padding nor an element, so stop there as well.
                if id == ONE_BYTE_RESERVED_ID || id == 0 {
                    return Step::Stop;
                }
                (id, usize::from(first & 0x0f) + 1, 1)
            }
            ExtensionForm::TwoByte => {
                let Some(&len) = data.get(pos + 1) else {
                    return Step::Stop;
                };
                (first, usize::from(len), 2)
            }
        };
        let data_start = pos + header;
        let end = data_start + len;
        if end > data.len() {
            return Step::Stop;
        }
        return Step::Element(RawElement { id, start: pos, data_start, end });
    }
}

/// A summary of a whole block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Number of elements.
    pub count: usize,
    /// Offset just past the last element (0 without elements).
    pub used_end: usize,
    /// Sum of element lengths, headers included (the block without padding).
    pub compact_len: usize,
    /// Whether the block parsed to its end without stopping early.
    pub complete: bool,
}

pub(crate) fn scan(form: ExtensionForm, data: &[u8]) -> Scan {
    let mut s = Scan { count: 0, used_end: 0, compact_len: 0, complete: true };
    let mut pos = 0;
    loop {
        match step(form, data, pos) {
            Step::Element(e) => {
                s.count += 1;
                s.used_end = e.end;
                s.compact_len += e.end - e.start;
                pos = e.end;
            }
            Step::End => return s,
            Step::Stop => {
                s.complete = false;
                return s;
            }
        }
    }
}

/// Finds the first element with `id`.
pub(crate) fn find(form: ExtensionForm, data: &[u8], id: u8) -> Option<RawElement> {
    let mut pos = 0;
    while let Step::Element(e) = step(form, data, pos) {
        if e.id == id {
            return Some(e);
        }
        pos = e.end;
    }
    None
}

pub(crate) fn element_mut(form: ExtensionForm, data: &mut [u8], id: u8) -> Option<&mut [u8]> {
    let e = find(form, data, id)?;
    data.get_mut(e.data_start..e.end)
}

/// Renames elements in place; see [`crate::RtpPacket::remap_extension_ids`].
pub(crate) fn remap_block(
    form: ExtensionForm,
    data: &mut [u8],
    map: impl Fn(u8) -> Option<u8>,
) -> Result<(), Error> {
    // First pass: refuse before writing anything if a new id cannot be carried by this form.
    let mut pos = 0;
    while let Step::Element(e) = step(form, data, pos) {
        if let Some(new) = map(e.id).filter(|&new| new != 0) {
            if !form.fits_id(new) {
                return Err(Error::ExtensionDoesNotFit {
                    id: new,
                    len: e.end - e.data_start,
                    form: form.name(),
                });
            }
        }
        pos = e.end;
    }
    // Second pass: write. Positions do not move; a dropped element becomes padding octets.
    let mut pos = 0;
    while let Step::Element(e) = step(form, data, pos) {
        match map(e.id).filter(|&new| new != 0) {
            Some(new) => {
                if let Some(b) = data.get_mut(e.start) {
                    *b = match form {
                        ExtensionForm::OneByte => (new << 4) | (*b & 0x0f),
                        ExtensionForm::TwoByte => new,
                    };
                }
            }
            None => {
                if let Some(bytes) = data.get_mut(e.start..e.end) {
                    bytes.fill(0);
                }
            }
        }
        pos = e.end;
    }
    Ok(())
}

/// Iterator over `(id, data)` of the elements of one RFC 8285 block.
#[derive(Debug, Clone)]
pub struct ExtensionIter<'a> {
    form: ExtensionForm,
    data: &'a [u8],
    pos: usize,
}

impl<'a> ExtensionIter<'a> {
    /// Iterates over the elements of a block's data (the octets after the profile and length
    /// words). Stops at the end or at the first malformed element.
    pub fn new(form: ExtensionForm, data: &'a [u8]) -> Self {
        Self { form, data, pos: 0 }
    }

    /// An iterator that yields nothing.
    pub fn empty() -> Self {
        Self { form: ExtensionForm::OneByte, data: &[], pos: 0 }
    }
}

impl<'a> Iterator for ExtensionIter<'a> {
    type Item = (u8, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        match step(self.form, self.data, self.pos) {
            Step::Element(e) => {
                self.pos = e.end;
                Some((e.id, self.data.get(e.data_start..e.end).unwrap_or(&[])))
            }
            Step::End | Step::Stop => {
                self.pos = self.data.len();
                None
            }
        }
    }
}

/// Octets of a whole block (profile/length header, elements, padding to 32 bits) carrying
/// `elements` in `form`; 0 when there are no elements (no block is written then).
pub fn extension_block_len(form: ExtensionForm, elements: &[(u8, &[u8])]) -> usize {
    if elements.is_empty() {
        return 0;
    }
    let body: usize = elements.iter().map(|(_, data)| form.element_len(data.len())).sum();
    4 + body.next_multiple_of(4)
}

/// Writes a whole block into the front of `out`: profile, length, elements, zero padding to a
/// multiple of four octets. Returns the octets written (0 and nothing written without elements).
/// `appbits` (low 4 bits) go into the two-byte profile and are ignored for the one-byte form.
pub fn write_extension_block(
    form: ExtensionForm,
    appbits: u8,
    elements: &[(u8, &[u8])],
    out: &mut [u8],
) -> Result<usize, Error> {
    for &(id, data) in elements {
        if !form.fits(id, data.len()) {
            return Err(Error::ExtensionDoesNotFit { id, len: data.len(), form: form.name() });
        }
    }
    let total = extension_block_len(form, elements);
    if total == 0 {
        return Ok(0);
    }
    let words = u16::try_from((total - 4) / 4)
        .map_err(|_| Error::InvalidArgument("header extension block longer than 65535 words"))?;
    let available = out.len();
    let out = out.get_mut(..total).ok_or(Error::BufferTooSmall { needed: total, available })?;
    let profile = match form {
        ExtensionForm::OneByte => ONE_BYTE_PROFILE,
        ExtensionForm::TwoByte => TWO_BYTE_PROFILE | u16::from(appbits & 0x0f),
    };
    out[..2].copy_from_slice(&profile.to_be_bytes());
    out[2..4].copy_from_slice(&words.to_be_bytes());
    let mut pos = 4;
    for &(id, data) in elements {
        pos += write_element(form, id, data, &mut out[pos..]);
    }
    out[pos..].fill(0);
    Ok(total)
}

/// Writes one element at the front of `out`, which the caller has sized; returns its length.
/// The caller has checked `form.fits(id, data.len())`.
pub(crate) fn write_element(form: ExtensionForm, id: u8, data: &[u8], out: &mut [u8]) -> usize {
    let len = form.element_len(data.len());
    let Some(out) = out.get_mut(..len) else {
        return 0;
    };
    match form {
        ExtensionForm::OneByte => {
            // A one-byte element has 1..=16 data bytes, so `len - 1` fits the 4-bit field.
            let l = u8::try_from(data.len().saturating_sub(1)).unwrap_or(0) & 0x0f;
            out[0] = (id << 4) | l;
            out[1..].copy_from_slice(data);
        }
        ExtensionForm::TwoByte => {
            out[0] = id;
            out[1] = u8::try_from(data.len()).unwrap_or(u8::MAX);
            out[2..].copy_from_slice(data);
        }
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8285 §4.2 figure: id A with 1 byte, id B with 2 bytes, two padding octets, id C with
    /// 4 bytes; length = 3 words. Ids 1, 2, 3 stand in for the figure's placeholders.
    const ONE_BYTE_EXAMPLE: [u8; 12] =
        [0x10, 0xaa, 0x21, 0xbb, 0xbb, 0x00, 0x00, 0x33, 0xc1, 0xc2, 0xc3, 0xc4];

    /// RFC 8285 §4.3 figure: id 1 with L=0, id 2 with L=1, one padding octet, id 3 with L=4.
    const TWO_BYTE_EXAMPLE: [u8; 12] =
        [0x01, 0x00, 0x02, 0x01, 0xdd, 0x00, 0x03, 0x04, 0xe1, 0xe2, 0xe3, 0xe4];

    fn collect(form: ExtensionForm, data: &[u8]) -> Vec<(u8, Vec<u8>)> {
        ExtensionIter::new(form, data).map(|(id, d)| (id, d.to_vec())).collect()
    }

    #[test]
    fn profiles() {
        assert_eq!(ExtensionForm::from_profile(0xBEDE), Some(ExtensionForm::OneByte));
        assert_eq!(ExtensionForm::from_profile(0x1000), Some(ExtensionForm::TwoByte));
        assert_eq!(ExtensionForm::from_profile(0x100f), Some(ExtensionForm::TwoByte));
        assert_eq!(ExtensionForm::from_profile(0x1010), None);
        assert_eq!(ExtensionForm::from_profile(0xBEDF), None);
    }

    #[test]
    fn parses_rfc8285_one_byte_example() {
        assert_eq!(
            collect(ExtensionForm::OneByte, &ONE_BYTE_EXAMPLE),
            vec![(1, vec![0xaa]), (2, vec![0xbb, 0xbb]), (3, vec![0xc1, 0xc2, 0xc3, 0xc4])]
        );
        let s = scan(ExtensionForm::OneByte, &ONE_BYTE_EXAMPLE);
        assert_eq!(s, Scan { count: 3, used_end: 12, compact_len: 10, complete: true });
    }

    #[test]
    fn parses_rfc8285_two_byte_example() {
        assert_eq!(
            collect(ExtensionForm::TwoByte, &TWO_BYTE_EXAMPLE),
            vec![(1, vec![]), (2, vec![0xdd]), (3, vec![0xe1, 0xe2, 0xe3, 0xe4])]
        );
    }

    #[test]
    fn one_byte_id_15_stops_parsing() {
        let data = [0x10, 0xaa, 0xf3, 0x20, 0xbb, 0x00, 0x00, 0x00];
        assert_eq!(collect(ExtensionForm::OneByte, &data), vec![(1, vec![0xaa])]);
        assert!(!scan(ExtensionForm::OneByte, &data).complete);
    }

    #[test]
    fn one_byte_id_0_with_length_stops_parsing() {
        let data = [0x10, 0xaa, 0x01, 0x20, 0xbb, 0x00, 0x00, 0x00];
        assert_eq!(collect(ExtensionForm::OneByte, &data), vec![(1, vec![0xaa])]);
    }

    #[test]
    fn element_past_block_end_stops_parsing() {
        assert_eq!(
            collect(ExtensionForm::OneByte, &[0x10, 0xaa, 0x23, 0xbb]),
            vec![(1, vec![0xaa])]
        );
        assert_eq!(collect(ExtensionForm::TwoByte, &[0x01, 0x00, 0x02, 0x05]), vec![(1, vec![])]);
        assert_eq!(collect(ExtensionForm::TwoByte, &[0x01, 0x00, 0x00, 0x07]), vec![(1, vec![])]);
        assert!(!scan(ExtensionForm::TwoByte, &[0x01, 0x00, 0x00, 0x07]).complete);
    }

    #[test]
    fn empty_and_all_padding_blocks() {
        assert!(collect(ExtensionForm::OneByte, &[]).is_empty());
        assert!(collect(ExtensionForm::TwoByte, &[0, 0, 0, 0]).is_empty());
        let s = scan(ExtensionForm::OneByte, &[0, 0, 0, 0]);
        assert_eq!(s, Scan { count: 0, used_end: 0, compact_len: 0, complete: true });
        assert_eq!(ExtensionIter::empty().next(), None);
    }

    #[test]
    fn remap_renames_and_pads() {
        let mut data = ONE_BYTE_EXAMPLE;
        // 1 -> 5, 2 dropped, 3 -> 14.
        remap_block(ExtensionForm::OneByte, &mut data, |id| match id {
            1 => Some(5),
            3 => Some(14),
            _ => None,
        })
        .unwrap();
        assert_eq!(data, [0x50, 0xaa, 0, 0, 0, 0, 0, 0xe3, 0xc1, 0xc2, 0xc3, 0xc4]);
        assert_eq!(
            collect(ExtensionForm::OneByte, &data),
            vec![(5, vec![0xaa]), (14, vec![0xc1, 0xc2, 0xc3, 0xc4])]
        );
    }

    #[test]
    fn remap_to_zero_pads() {
        let mut data = TWO_BYTE_EXAMPLE;
        remap_block(ExtensionForm::TwoByte, &mut data, |id| {
            Some(if id == 2 { 0 } else { id + 200 })
        })
        .unwrap();
        assert_eq!(data, [201, 0x00, 0, 0, 0, 0, 203, 0x04, 0xe1, 0xe2, 0xe3, 0xe4]);
        assert_eq!(
            collect(ExtensionForm::TwoByte, &data),
            vec![(201, vec![]), (203, vec![0xe1, 0xe2, 0xe3, 0xe4])]
        );
    }

    #[test]
    fn remap_to_unrepresentable_id_changes_nothing() {
        let mut data = ONE_BYTE_EXAMPLE;
        // The first element would be renamed fine, the third cannot be: nothing is written.
        let err = remap_block(ExtensionForm::OneByte, &mut data, |id| match id {
            1 => Some(4),
            3 => Some(15),
            other => Some(other),
        })
        .unwrap_err();
        assert_eq!(err, Error::ExtensionDoesNotFit { id: 15, len: 4, form: "one-byte" });
        assert_eq!(data, ONE_BYTE_EXAMPLE);
    }

    #[test]
    fn remap_leaves_bytes_after_a_stop_alone() {
        let mut data = [0x10, 0xaa, 0xf3, 0x20, 0xbb, 0x00, 0x00, 0x00];
        remap_block(ExtensionForm::OneByte, &mut data, |_| Some(2)).unwrap();
        assert_eq!(data, [0x20, 0xaa, 0xf3, 0x20, 0xbb, 0x00, 0x00, 0x00]);
    }

    #[test]
    fn writes_blocks_in_both_forms() {
        let elements: [(u8, &[u8]); 2] = [(1, &[0xaa]), (2, &[0xbb, 0xbb])];
        assert_eq!(ExtensionForm::smallest_for(&elements), ExtensionForm::OneByte);
        let mut out = [0xffu8; 16];
        let n = write_extension_block(ExtensionForm::OneByte, 0, &elements, &mut out).unwrap();
        // Body of 5 octets, padded to 8, after the 4-octet block header.
        assert_eq!(n, 12);
        assert_eq!(
            &out[..12],
            &[0xbe, 0xde, 0x00, 0x02, 0x10, 0xaa, 0x21, 0xbb, 0xbb, 0x00, 0x00, 0x00][..]
        );

        let elements: [(u8, &[u8]); 3] = [(1, &[]), (2, &[0xdd]), (3, &[0xe1, 0xe2, 0xe3, 0xe4])];
        assert_eq!(ExtensionForm::smallest_for(&elements), ExtensionForm::TwoByte);
        let n = write_extension_block(ExtensionForm::TwoByte, 0x3, &elements, &mut out).unwrap();
        assert_eq!(n, 16);
        assert_eq!(
            out,
            [
                0x10, 0x03, 0x00, 0x03, 0x01, 0x00, 0x02, 0x01, 0xdd, 0x03, 0x04, 0xe1, 0xe2, 0xe3,
                0xe4, 0x00
            ]
        );
    }

    #[test]
    fn write_refuses_what_the_form_cannot_carry() {
        let mut out = [0u8; 64];
        let too_long = [0u8; 17];
        for (id, data) in [(15u8, &[1u8][..]), (0, &[1][..]), (1, &[][..]), (1, &too_long[..])] {
            assert!(matches!(
                write_extension_block(ExtensionForm::OneByte, 0, &[(id, data)], &mut out),
                Err(Error::ExtensionDoesNotFit { .. })
            ));
        }
        assert!(write_extension_block(ExtensionForm::TwoByte, 0, &[(0, &[])], &mut out).is_err());
        assert_eq!(write_extension_block(ExtensionForm::OneByte, 0, &[], &mut out), Ok(0));
        assert_eq!(
            write_extension_block(ExtensionForm::OneByte, 0, &[(1, &[1, 2, 3, 4])], &mut out[..7]),
            Err(Error::BufferTooSmall { needed: 12, available: 7 })
        );
    }
}
