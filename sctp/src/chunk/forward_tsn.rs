//! FORWARD-TSN chunk (RFC 3758 §3.2): tells the receiver to move its cumulative TSN past
//! abandoned messages.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Type = 192  |  Flags = 0x00 |        Length = Variable      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      New Cumulative TSN                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Stream-1              |       Stream Sequence-1       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! /                              ...                              /
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::iter::FusedIterator;

use super::RawChunk;
use crate::bytes::{read_u16, read_u32};
use crate::{ChunkType, Error};

/// One (stream, SSN) entry: the highest SSN skipped on an ordered stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ForwardTsnStream {
    /// Stream identifier.
    pub stream: u16,
    /// The largest SSN of the stream that was abandoned.
    pub ssn: u16,
}

/// A FORWARD-TSN chunk view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardTsnChunk<'a> {
    /// The new cumulative TSN the receiver must assume.
    pub new_cum_tsn: u32,
    streams: &'a [u8],
}

impl<'a> ForwardTsnChunk<'a> {
    /// Interprets a FORWARD-TSN.
    pub fn parse(chunk: &RawChunk<'a>) -> Result<Self, Error> {
        chunk.expect(ChunkType::FORWARD_TSN, "not a FORWARD-TSN chunk")?;
        let new_cum_tsn = read_u32(chunk.value, 0, "FORWARD-TSN")?;
        let streams = &chunk.value[4..];
        if streams.len() % 4 != 0 {
            return Err(Error::Malformed("FORWARD-TSN stream list not a multiple of 4"));
        }
        Ok(Self { new_cum_tsn, streams })
    }

    /// The skipped (stream, SSN) pairs.
    pub fn streams(&self) -> ForwardTsnStreams<'a> {
        ForwardTsnStreams { rest: self.streams }
    }

    /// Bytes of a FORWARD-TSN with `streams` entries.
    pub fn encoded_len(streams: usize) -> usize {
        8 + 4 * streams
    }

    /// Appends a FORWARD-TSN to `out`.
    pub fn write(
        out: &mut Vec<u8>,
        new_cum_tsn: u32,
        streams: &[ForwardTsnStream],
    ) -> Result<(), Error> {
        let len = u16::try_from(Self::encoded_len(streams.len()))
            .map_err(|_| Error::InvalidInput("FORWARD-TSN too long"))?;
        out.extend_from_slice(&[ChunkType::FORWARD_TSN.0, 0]);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&new_cum_tsn.to_be_bytes());
        for s in streams {
            out.extend_from_slice(&s.stream.to_be_bytes());
            out.extend_from_slice(&s.ssn.to_be_bytes());
        }
        Ok(())
    }
}

/// Iterator over the (stream, SSN) pairs of a FORWARD-TSN.
#[derive(Debug, Clone)]
pub struct ForwardTsnStreams<'a> {
    rest: &'a [u8],
}

impl Iterator for ForwardTsnStreams<'_> {
    type Item = ForwardTsnStream;

    fn next(&mut self) -> Option<ForwardTsnStream> {
        let stream = read_u16(self.rest, 0, "").ok()?;
        let ssn = read_u16(self.rest, 2, "").ok()?;
        self.rest = &self.rest[4..];
        Some(ForwardTsnStream { stream, ssn })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.rest.len() / 4, Some(self.rest.len() / 4))
    }
}

impl ExactSizeIterator for ForwardTsnStreams<'_> {}
impl FusedIterator for ForwardTsnStreams<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::Chunks;
    use proptest::prelude::*;

    #[test]
    fn known_bytes_and_truncations() {
        let mut out = Vec::new();
        ForwardTsnChunk::write(&mut out, 7, &[ForwardTsnStream { stream: 1, ssn: 2 }]).unwrap();
        assert_eq!(out, [192, 0, 0, 12, 0, 0, 0, 7, 0, 1, 0, 2]);
        for cut in 0..out.len() {
            if let Some(Ok(raw)) = Chunks::new(&out[..cut]).next() {
                assert!(ForwardTsnChunk::parse(&raw).is_err());
            }
        }
    }

    proptest! {
        #[test]
        fn round_trip(cum: u32, streams in proptest::collection::vec((any::<u16>(), any::<u16>()), 0..30)) {
            let streams: Vec<_> = streams.into_iter().map(|(stream, ssn)| ForwardTsnStream { stream, ssn }).collect();
            let mut out = Vec::new();
            ForwardTsnChunk::write(&mut out, cum, &streams).unwrap();
            let raw = Chunks::new(&out).next().unwrap().unwrap();
            let f = ForwardTsnChunk::parse(&raw).unwrap();
            prop_assert_eq!(f.new_cum_tsn, cum);
            prop_assert_eq!(f.streams().collect::<Vec<_>>(), streams);
        }
    }
}
