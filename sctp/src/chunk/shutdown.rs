//! SHUTDOWN (RFC 9260 §3.3.8), SHUTDOWN-ACK (§3.3.9) and SHUTDOWN-COMPLETE (§3.3.13).
//!
//! ```text
//! SHUTDOWN:           | Type = 7 | Flags | Length = 8 | Cumulative TSN Ack |
//! SHUTDOWN-ACK:       | Type = 8 | Flags | Length = 4 |
//! SHUTDOWN-COMPLETE:  | Type = 14 | Reserved |T| | Length = 4 |
//! ```

use super::abort::FLAG_T;
use super::{write_chunk, RawChunk};
use crate::bytes::read_u32;
use crate::{ChunkType, Error};

/// A SHUTDOWN chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownChunk {
    /// The last TSN received in sequence by the sender of the SHUTDOWN.
    pub cum_tsn_ack: u32,
}

impl ShutdownChunk {
    /// Interprets a SHUTDOWN.
    pub fn parse(chunk: &RawChunk<'_>) -> Result<Self, Error> {
        chunk.expect(ChunkType::SHUTDOWN, "not a SHUTDOWN chunk")?;
        if chunk.value.len() != 4 {
            return Err(Error::Malformed("SHUTDOWN length is not 8"));
        }
        Ok(Self { cum_tsn_ack: read_u32(chunk.value, 0, "SHUTDOWN")? })
    }

    /// Appends the chunk.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        write_chunk(out, ChunkType::SHUTDOWN, 0, &self.cum_tsn_ack.to_be_bytes())
    }
}

/// A SHUTDOWN-ACK chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownAckChunk;

impl ShutdownAckChunk {
    /// Interprets a SHUTDOWN-ACK (any value is ignored).
    pub fn parse(chunk: &RawChunk<'_>) -> Result<Self, Error> {
        chunk.expect(ChunkType::SHUTDOWN_ACK, "not a SHUTDOWN-ACK chunk")?;
        Ok(Self)
    }

    /// Appends the chunk.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        write_chunk(out, ChunkType::SHUTDOWN_ACK, 0, &[])
    }
}

/// A SHUTDOWN-COMPLETE chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownCompleteChunk {
    /// T bit: the packet carries the reflected verification tag.
    pub reflected_tag: bool,
}

impl ShutdownCompleteChunk {
    /// Interprets a SHUTDOWN-COMPLETE.
    pub fn parse(chunk: &RawChunk<'_>) -> Result<Self, Error> {
        chunk.expect(ChunkType::SHUTDOWN_COMPLETE, "not a SHUTDOWN-COMPLETE chunk")?;
        Ok(Self { reflected_tag: chunk.flags & FLAG_T != 0 })
    }

    /// Appends the chunk.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let flags = if self.reflected_tag { FLAG_T } else { 0 };
        write_chunk(out, ChunkType::SHUTDOWN_COMPLETE, flags, &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::Chunks;
    use proptest::prelude::*;

    #[test]
    fn known_bytes_and_malformed() {
        let mut out = Vec::new();
        ShutdownChunk { cum_tsn_ack: 0x0a0b_0c0d }.write_to(&mut out).unwrap();
        ShutdownAckChunk.write_to(&mut out).unwrap();
        ShutdownCompleteChunk { reflected_tag: true }.write_to(&mut out).unwrap();
        assert_eq!(out, [7, 0, 0, 8, 10, 11, 12, 13, 8, 0, 0, 4, 14, 1, 0, 4]);
        let mut it = Chunks::new(&out);
        let s = it.next().unwrap().unwrap();
        assert_eq!(ShutdownChunk::parse(&s).unwrap().cum_tsn_ack, 0x0a0b_0c0d);
        assert!(ShutdownChunk::parse(&it.next().unwrap().unwrap()).is_err());
        assert!(ShutdownCompleteChunk::parse(&it.next().unwrap().unwrap()).unwrap().reflected_tag);
        let short = [7, 0, 0, 6, 1, 2];
        let raw = Chunks::new(&short).next().unwrap().unwrap();
        assert_eq!(ShutdownChunk::parse(&raw), Err(Error::Malformed("SHUTDOWN length is not 8")));
    }

    proptest! {
        #[test]
        fn round_trip(cum: u32, t: bool) {
            let mut out = Vec::new();
            ShutdownChunk { cum_tsn_ack: cum }.write_to(&mut out).unwrap();
            ShutdownAckChunk.write_to(&mut out).unwrap();
            ShutdownCompleteChunk { reflected_tag: t }.write_to(&mut out).unwrap();
            let chunks: Vec<_> = Chunks::new(&out).collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(ShutdownChunk::parse(&chunks[0]).unwrap().cum_tsn_ack, cum);
            prop_assert_eq!(ShutdownAckChunk::parse(&chunks[1]).unwrap(), ShutdownAckChunk);
            prop_assert_eq!(ShutdownCompleteChunk::parse(&chunks[2]).unwrap().reflected_tag, t);
        }
    }
}
