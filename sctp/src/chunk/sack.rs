//! SACK chunk (RFC 9260 §3.3.4).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Type = 3    |Chunk  Flags   |      Chunk Length             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Cumulative TSN Ack                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Advertised Receiver Window Credit (a_rwnd)           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Number of Gap Ack Blocks = N  |  Number of Duplicate TSNs = M |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |    Gap Ack Block #1 Start     |     Gap Ack Block #1 End      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! /                              ...                              /
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        Duplicate TSN 1                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! /                              ...                              /
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::iter::FusedIterator;

use super::{RawChunk, CHUNK_HEADER_LEN};
use crate::bytes::{read_u16, read_u32};
use crate::{ChunkType, Error};

/// One Gap Ack Block: TSNs `cum_tsn_ack + start ..= cum_tsn_ack + end` were received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GapAckBlock {
    /// Offset of the first received TSN from the Cumulative TSN Ack.
    pub start: u16,
    /// Offset of the last received TSN from the Cumulative TSN Ack.
    pub end: u16,
}

/// A SACK chunk view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SackChunk<'a> {
    /// The last TSN received in sequence.
    pub cum_tsn_ack: u32,
    /// The receiver's window.
    pub a_rwnd: u32,
    gap_blocks: &'a [u8],
    duplicate_tsns: &'a [u8],
}

impl<'a> SackChunk<'a> {
    /// Length of the fixed part, chunk header included.
    pub const FIXED_LEN: usize = 16;

    /// Interprets a SACK; the block and TSN counts must match the chunk length exactly.
    pub fn parse(chunk: &RawChunk<'a>) -> Result<Self, Error> {
        chunk.expect(ChunkType::SACK, "not a SACK chunk")?;
        let v = chunk.value;
        let cum_tsn_ack = read_u32(v, 0, "SACK fixed fields")?;
        let a_rwnd = read_u32(v, 4, "SACK fixed fields")?;
        let blocks = usize::from(read_u16(v, 8, "SACK fixed fields")?);
        let dups = usize::from(read_u16(v, 10, "SACK fixed fields")?);
        let rest = &v[Self::FIXED_LEN - CHUNK_HEADER_LEN..];
        if rest.len() != blocks * 4 + dups * 4 {
            return Err(Error::Malformed("SACK length disagrees with its counts"));
        }
        let (gap_blocks, duplicate_tsns) = rest.split_at(blocks * 4);
        Ok(Self { cum_tsn_ack, a_rwnd, gap_blocks, duplicate_tsns })
    }

    /// The Gap Ack Blocks, in the order the peer sent them.
    pub fn gap_blocks(&self) -> GapAckBlocks<'a> {
        GapAckBlocks { rest: self.gap_blocks }
    }

    /// The TSNs reported as received more than once.
    pub fn duplicate_tsns(&self) -> DuplicateTsns<'a> {
        DuplicateTsns { rest: self.duplicate_tsns }
    }

    /// Bytes of a SACK with `blocks` gap blocks and `dups` duplicate TSNs.
    pub fn encoded_len(blocks: usize, dups: usize) -> usize {
        Self::FIXED_LEN + 4 * blocks + 4 * dups
    }

    /// Appends a SACK to `out`.
    pub fn write(
        out: &mut Vec<u8>,
        cum_tsn_ack: u32,
        a_rwnd: u32,
        gap_blocks: &[GapAckBlock],
        duplicate_tsns: &[u32],
    ) -> Result<(), Error> {
        let len = Self::encoded_len(gap_blocks.len(), duplicate_tsns.len());
        let len = u16::try_from(len).map_err(|_| Error::InvalidInput("SACK too long"))?;
        // Both counts fit: the total length fits in 16 bits.
        let blocks = gap_blocks.len() as u16;
        let dups = duplicate_tsns.len() as u16;
        out.extend_from_slice(&[ChunkType::SACK.0, 0]);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&cum_tsn_ack.to_be_bytes());
        out.extend_from_slice(&a_rwnd.to_be_bytes());
        out.extend_from_slice(&blocks.to_be_bytes());
        out.extend_from_slice(&dups.to_be_bytes());
        for block in gap_blocks {
            out.extend_from_slice(&block.start.to_be_bytes());
            out.extend_from_slice(&block.end.to_be_bytes());
        }
        for tsn in duplicate_tsns {
            out.extend_from_slice(&tsn.to_be_bytes());
        }
        Ok(())
    }
}

/// Iterator over the Gap Ack Blocks of a SACK.
#[derive(Debug, Clone)]
pub struct GapAckBlocks<'a> {
    rest: &'a [u8],
}

impl Iterator for GapAckBlocks<'_> {
    type Item = GapAckBlock;

    fn next(&mut self) -> Option<GapAckBlock> {
        let start = read_u16(self.rest, 0, "").ok()?;
        let end = read_u16(self.rest, 2, "").ok()?;
        self.rest = &self.rest[4..];
        Some(GapAckBlock { start, end })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.rest.len() / 4, Some(self.rest.len() / 4))
    }
}

impl ExactSizeIterator for GapAckBlocks<'_> {}
impl FusedIterator for GapAckBlocks<'_> {}

/// Iterator over the duplicate TSNs of a SACK.
#[derive(Debug, Clone)]
pub struct DuplicateTsns<'a> {
    rest: &'a [u8],
}

impl Iterator for DuplicateTsns<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let tsn = read_u32(self.rest, 0, "").ok()?;
        self.rest = &self.rest[4..];
        Some(tsn)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.rest.len() / 4, Some(self.rest.len() / 4))
    }
}

impl ExactSizeIterator for DuplicateTsns<'_> {}
impl FusedIterator for DuplicateTsns<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::Chunks;
    use proptest::prelude::*;

    #[test]
    fn known_bytes_and_truncations() {
        let mut out = Vec::new();
        SackChunk::write(&mut out, 100, 0x1000, &[GapAckBlock { start: 2, end: 3 }], &[99])
            .unwrap();
        assert_eq!(
            out,
            [3, 0, 0, 24, 0, 0, 0, 100, 0, 0, 0x10, 0, 0, 1, 0, 1, 0, 2, 0, 3, 0, 0, 0, 99]
        );
        for cut in 0..out.len() {
            if let Some(Ok(raw)) = Chunks::new(&out[..cut]).next() {
                assert!(SackChunk::parse(&raw).is_err());
            }
        }
        // A count that claims more blocks than the chunk holds.
        let mut bad = out.clone();
        bad[13] = 2;
        let raw = Chunks::new(&bad).next().unwrap().unwrap();
        assert_eq!(
            SackChunk::parse(&raw),
            Err(Error::Malformed("SACK length disagrees with its counts"))
        );
    }

    proptest! {
        #[test]
        fn round_trip(cum: u32, a_rwnd: u32,
                      blocks in proptest::collection::vec((any::<u16>(), any::<u16>()), 0..40),
                      dups in proptest::collection::vec(any::<u32>(), 0..40)) {
            let blocks: Vec<_> = blocks.into_iter().map(|(start, end)| GapAckBlock { start, end }).collect();
            let mut out = Vec::new();
            SackChunk::write(&mut out, cum, a_rwnd, &blocks, &dups).unwrap();
            prop_assert_eq!(out.len(), SackChunk::encoded_len(blocks.len(), dups.len()));
            let raw = Chunks::new(&out).next().unwrap().unwrap();
            let sack = SackChunk::parse(&raw).unwrap();
            prop_assert_eq!(sack.cum_tsn_ack, cum);
            prop_assert_eq!(sack.a_rwnd, a_rwnd);
            prop_assert_eq!(sack.gap_blocks().len(), blocks.len());
            prop_assert_eq!(sack.gap_blocks().collect::<Vec<_>>(), blocks);
            prop_assert_eq!(sack.duplicate_tsns().collect::<Vec<_>>(), dups);
        }
    }
}
