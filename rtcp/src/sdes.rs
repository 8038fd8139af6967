//! Source description, SDES (RFC 3550 §6.5).
//!
//! ```text
//!         0                   1                   2                   3
//!         0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//!        +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! header |V=2|P|    SC   |  PT=SDES=202  |             length            |
//!        +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//! chunk  |                          SSRC/CSRC_1                          |
//!   1    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!        |                           SDES items                          |
//!        |                              ...                              |
//!        +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//! ```
//!
//! Each item is a type octet, a length octet and that many octets of text. The item list of
//! a chunk ends with one or more null octets up to the next 32-bit boundary.

use std::iter::FusedIterator;

use crate::compound::Encode;
use crate::header::{put_header, PacketType, HEADER_LEN};
use crate::util::{check_room, padded4, Cursor};
use crate::Error;

/// SDES item type. Open: unknown types are carried like the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SdesItemType(pub u8);

impl SdesItemType {
    /// End of the item list (never an item of its own).
    pub const END: Self = Self(0);
    /// Canonical end-point identifier (RFC 3550 §6.5.1).
    pub const CNAME: Self = Self(1);
    /// User name (RFC 3550 §6.5.2).
    pub const NAME: Self = Self(2);
    /// Electronic mail address (RFC 3550 §6.5.3).
    pub const EMAIL: Self = Self(3);
    /// Phone number (RFC 3550 §6.5.4).
    pub const PHONE: Self = Self(4);
    /// Geographic user location (RFC 3550 §6.5.5).
    pub const LOC: Self = Self(5);
    /// Application or tool name (RFC 3550 §6.5.6).
    pub const TOOL: Self = Self(6);
    /// Notice/status (RFC 3550 §6.5.7).
    pub const NOTE: Self = Self(7);
    /// Private extensions (RFC 3550 §6.5.8).
    pub const PRIV: Self = Self(8);
}

/// One SDES item, parsed or to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesItem<'a> {
    /// The item type.
    pub item_type: SdesItemType,
    /// The item text (UTF-8 by RFC 3550, not checked here); at most 255 octets.
    pub value: &'a [u8],
}

impl<'a> SdesItem<'a> {
    /// A CNAME item.
    pub const fn cname(value: &'a [u8]) -> Self {
        Self { item_type: SdesItemType::CNAME, value }
    }
}

/// A borrowed SDES packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sdes<'a> {
    count: u8,
    body: &'a [u8],
}

impl<'a> Sdes<'a> {
    /// Decodes the body of an SDES packet of `count` chunks. Every chunk and item is checked
    /// here so that the iterators cannot meet a broken one.
    pub(crate) fn parse(count: u8, body: &'a [u8]) -> Result<Self, Error> {
        let mut rest = body;
        for _ in 0..count {
            let (_, after) = split_chunk(rest)?;
            rest = after;
        }
        Ok(Self { count, body })
    }

    /// Number of chunks (the SC field).
    pub fn chunk_count(&self) -> u8 {
        self.count
    }

    /// The chunks, one per SSRC/CSRC.
    pub fn chunks(&self) -> SdesChunks<'a> {
        SdesChunks { rest: self.body, remaining: self.count }
    }
}

/// One SDES chunk: a source and its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesChunk<'a> {
    ssrc: u32,
    items: &'a [u8],
}

impl<'a> SdesChunk<'a> {
    /// The SSRC or CSRC described.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The items, in order.
    pub fn items(&self) -> SdesItems<'a> {
        SdesItems { rest: self.items }
    }

    /// The first CNAME item's text, if any.
    pub fn cname(&self) -> Option<&'a [u8]> {
        self.items().find(|i| i.item_type == SdesItemType::CNAME).map(|i| i.value)
    }
}

/// Splits the first chunk off `b`, checking its items, terminator and word padding.
fn split_chunk(b: &[u8]) -> Result<(SdesChunk<'_>, &[u8]), Error> {
    let (ssrc, items) = b.split_first_chunk::<4>().ok_or(Error::Truncated("SDES chunk SSRC"))?;
    let mut pos = 0usize;
    loop {
        let item_type =
            *items.get(pos).ok_or(Error::Truncated("SDES item list without a null octet"))?;
        if item_type == 0 {
            break;
        }
        let len = usize::from(*items.get(pos + 1).ok_or(Error::Truncated("SDES item length"))?);
        pos += 2 + len;
        if pos > items.len() {
            return Err(Error::Truncated("SDES item text"));
        }
    }
    // The null octet ends the list; the chunk ends at the next 32-bit boundary
    // (RFC 3550 §6.5). Chunks start on a boundary, so it is counted from the chunk start.
    let chunk_len = padded4(4 + pos + 1);
    let (_, after) = b.split_at_checked(chunk_len).ok_or(Error::Truncated("SDES chunk padding"))?;
    let items = items.get(..pos).unwrap_or_default();
    Ok((SdesChunk { ssrc: u32::from_be_bytes(*ssrc), items }, after))
}

/// The chunks of an SDES packet.
#[derive(Debug, Clone)]
pub struct SdesChunks<'a> {
    rest: &'a [u8],
    remaining: u8,
}

impl<'a> Iterator for SdesChunks<'a> {
    type Item = SdesChunk<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        self.remaining = self.remaining.checked_sub(1)?;
        match split_chunk(self.rest) {
            Ok((chunk, rest)) => {
                self.rest = rest;
                Some(chunk)
            }
            // Checked at parse time; stop rather than trust a broken chunk.
            Err(_) => {
                self.remaining = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(usize::from(self.remaining)))
    }
}

impl FusedIterator for SdesChunks<'_> {}

/// The items of one SDES chunk.
#[derive(Debug, Clone)]
pub struct SdesItems<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for SdesItems<'a> {
    type Item = SdesItem<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&[item_type, len], rest) = self.rest.split_first_chunk::<2>()?;
        let Some((value, rest)) = rest.split_at_checked(usize::from(len)) else {
            self.rest = &[];
            return None;
        };
        self.rest = rest;
        Some(SdesItem { item_type: SdesItemType(item_type), value })
    }
}

impl FusedIterator for SdesItems<'_> {}

/// One chunk to write: a source and its items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesChunkBuilder<'a> {
    /// The SSRC or CSRC described.
    pub ssrc: u32,
    /// Its items (type END is refused, values are at most 255 octets).
    pub items: &'a [SdesItem<'a>],
}

impl SdesChunkBuilder<'_> {
    fn encoded_len(&self) -> usize {
        let items: usize = self.items.iter().map(|i| 2usize.saturating_add(i.value.len())).sum();
        // SSRC, items, at least one null octet, padding to a word.
        padded4(items.saturating_add(5))
    }
}

/// Writes an SDES packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SdesBuilder<'a> {
    /// Up to 31 chunks.
    pub chunks: &'a [SdesChunkBuilder<'a>],
}

impl Encode for SdesBuilder<'_> {
    fn encoded_len(&self) -> usize {
        self.chunks.iter().fold(HEADER_LEN, |n, c| n.saturating_add(c.encoded_len()))
    }

    fn write_to(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let count = u8::try_from(self.chunks.len())
            .ok()
            .filter(|c| *c <= 31)
            .ok_or(Error::InvalidInput("more than 31 SDES chunks"))?;
        for item in self.chunks.iter().flat_map(|c| c.items) {
            if item.item_type == SdesItemType::END {
                return Err(Error::InvalidInput("SDES item of type END"));
            }
            if item.value.len() > 255 {
                return Err(Error::InvalidInput("SDES item longer than 255 octets"));
            }
        }
        let len = self.encoded_len();
        check_room(buf, len)?;
        let mut w = Cursor::new(buf);
        put_header(&mut w, count, PacketType::SDES, len)?;
        for chunk in self.chunks {
            w.put_u32(chunk.ssrc)?;
            for item in chunk.items {
                w.put_u8(item.item_type.0)?;
                // Checked above: at most 255.
                w.put_u8(u8::try_from(item.value.len()).unwrap_or(u8::MAX))?;
                w.put_slice(item.value)?;
            }
            w.put_u8(0)?;
            w.pad_to_word()?;
        }
        Ok(w.pos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CompoundIter, Packet};
    use proptest::prelude::*;

    fn parse_one(bytes: &[u8]) -> Sdes<'_> {
        match CompoundIter::new(bytes).next() {
            Some(Ok(Packet::Sdes(sdes))) => sdes,
            other => panic!("expected SDES, got {other:?}"),
        }
    }

    /// Two chunks laid out from the RFC 3550 §6.5 diagrams: CNAME "user@host" and TOOL
    /// "t" for one source, no items for the other.
    const SDES: [u8; 32] = [
        0x82, 202, 0x00, 0x07, // V=2, SC=2, PT=SDES, length 7
        0x00, 0x00, 0x00, 0x0a, // SSRC_1
        1, 9, b'u', b's', b'e', b'r', b'@', b'h', b'o', b's', b't', // CNAME
        6, 1, b't', // TOOL
        0, 0, // null octets up to the boundary
        0x00, 0x00, 0x00, 0x0b, // SSRC_2
        0, 0, 0, 0, // empty item list
    ];

    #[test]
    fn parses_the_rfc_layout() {
        let sdes = parse_one(&SDES);
        assert_eq!(sdes.chunk_count(), 2);
        let chunks: Vec<_> = sdes.chunks().collect();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].ssrc(), 10);
        assert_eq!(chunks[0].cname(), Some(&b"user@host"[..]));
        let items: Vec<_> = chunks[0].items().collect();
        assert_eq!(
            items,
            [
                SdesItem::cname(b"user@host"),
                SdesItem { item_type: SdesItemType::TOOL, value: b"t" }
            ]
        );
        assert_eq!(chunks[1].ssrc(), 11);
        assert_eq!(chunks[1].items().count(), 0);
        assert_eq!(chunks[1].cname(), None);
    }

    #[test]
    fn writes_the_rfc_layout() {
        let items = [
            SdesItem::cname(b"user@host"),
            SdesItem { item_type: SdesItemType::TOOL, value: b"t" },
        ];
        let chunks = [
            SdesChunkBuilder { ssrc: 10, items: &items },
            SdesChunkBuilder { ssrc: 11, items: &[] },
        ];
        let b = SdesBuilder { chunks: &chunks };
        let mut buf = [0u8; 32];
        assert_eq!(b.encoded_len(), 32);
        assert_eq!(b.write_to(&mut buf), Ok(32));
        assert_eq!(buf, SDES);
    }

    #[test]
    fn a_full_word_of_text_gets_a_whole_null_word() {
        // SSRC + 2 + 2 bytes of text = 8: the terminator needs a fresh word.
        let items = [SdesItem::cname(b"ab")];
        let chunks = [SdesChunkBuilder { ssrc: 1, items: &items }];
        let b = SdesBuilder { chunks: &chunks };
        let mut buf = [0u8; 16];
        assert_eq!(b.write_to(&mut buf), Ok(16));
        assert_eq!(&buf[8..], &[1, 2, b'a', b'b', 0, 0, 0, 0]);
        assert_eq!(parse_one(&buf).chunks().next().unwrap().cname(), Some(&b"ab"[..]));
    }

    #[test]
    fn rejects_broken_chunks() {
        // Item list runs to the end without a null octet.
        let no_null = [0x81, 202, 0, 2, 0, 0, 0, 1, 1, 2, b'a', b'b'];
        assert!(matches!(CompoundIter::new(&no_null).next(), Some(Err(Error::Truncated(_)))));
        // Item length past the end.
        let long_item = [0x81, 202, 0, 2, 0, 0, 0, 1, 1, 9, b'a', 0];
        assert!(matches!(CompoundIter::new(&long_item).next(), Some(Err(Error::Truncated(_)))));
        // SC says two chunks, one is there.
        let mut two = SDES;
        two[0] = 0x83;
        assert!(matches!(CompoundIter::new(&two).next(), Some(Err(Error::Truncated(_)))));
    }

    #[test]
    fn refuses_unencodable_items() {
        let long = [0u8; 256];
        let items = [SdesItem::cname(&long)];
        let chunks = [SdesChunkBuilder { ssrc: 1, items: &items }];
        let mut buf = [0u8; 300];
        assert!(matches!(
            SdesBuilder { chunks: &chunks }.write_to(&mut buf),
            Err(Error::InvalidInput(_))
        ));
        let items = [SdesItem { item_type: SdesItemType::END, value: b"" }];
        let chunks = [SdesChunkBuilder { ssrc: 1, items: &items }];
        assert!(matches!(
            SdesBuilder { chunks: &chunks }.write_to(&mut buf),
            Err(Error::InvalidInput(_))
        ));
    }

    fn items() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
        proptest::collection::vec(
            (1u8..=255, proptest::collection::vec(any::<u8>(), 0..=255)),
            0..4,
        )
    }

    proptest! {
        #[test]
        fn round_trip(chunks in proptest::collection::vec((any::<u32>(), items()), 0..=31)) {
            let items: Vec<Vec<SdesItem<'_>>> = chunks
                .iter()
                .map(|(_, items)| {
                    items
                        .iter()
                        .map(|(t, v)| SdesItem { item_type: SdesItemType(*t), value: v })
                        .collect()
                })
                .collect();
            let builders: Vec<_> = chunks
                .iter()
                .zip(&items)
                .map(|((ssrc, _), items)| SdesChunkBuilder { ssrc: *ssrc, items })
                .collect();
            let b = SdesBuilder { chunks: &builders };
            let mut buf = vec![0u8; b.encoded_len()];
            prop_assert_eq!(b.write_to(&mut buf), Ok(buf.len()));
            let sdes = parse_one(&buf);
            prop_assert_eq!(sdes.chunks().count(), builders.len());
            for (parsed, built) in sdes.chunks().zip(&builders) {
                prop_assert_eq!(parsed.ssrc(), built.ssrc);
                prop_assert_eq!(parsed.items().collect::<Vec<_>>(), built.items.to_vec());
            }
        }
    }
}
