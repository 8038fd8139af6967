//! DATA chunk (RFC 9260 §3.3.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Type = 0    |  Res  |I|U|B|E|            Length             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                              TSN                              |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      Stream Identifier S      |   Stream Sequence Number n    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                  Payload Protocol Identifier                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! \                                                               \
//! /                 User Data (seq n of Stream S)                 /
//! \                                                               \
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{RawChunk, CHUNK_HEADER_LEN};
use crate::bytes::{padded, read_u16, read_u32};
use crate::{ChunkType, Error, Ppid};

const FLAG_ENDING: u8 = 0x01;
const FLAG_BEGINNING: u8 = 0x02;
const FLAG_UNORDERED: u8 = 0x04;
const FLAG_IMMEDIATE: u8 = 0x08;

/// A DATA chunk: one message or one fragment of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataChunk<'a> {
    /// Transmission Sequence Number.
    pub tsn: u32,
    /// Stream identifier.
    pub stream: u16,
    /// Stream Sequence Number (meaningless for unordered chunks).
    pub ssn: u16,
    /// Payload Protocol Identifier.
    pub ppid: Ppid,
    /// U bit: unordered delivery.
    pub unordered: bool,
    /// B bit: first fragment of a message.
    pub beginning: bool,
    /// E bit: last fragment of a message.
    pub ending: bool,
    /// I bit: the sender asks for an immediate SACK (RFC 7053).
    pub immediate: bool,
    /// The user data (padding excluded).
    pub payload: &'a [u8],
}

impl<'a> DataChunk<'a> {
    /// Length of the DATA chunk header, chunk header included.
    pub const HEADER_LEN: usize = 16;

    /// Interprets a DATA chunk. An empty payload is accepted here; the association answers it
    /// with an ABORT carrying "No User Data" (RFC 9260 §6.2).
    pub fn parse(chunk: &RawChunk<'a>) -> Result<Self, Error> {
        chunk.expect(ChunkType::DATA, "not a DATA chunk")?;
        let v = chunk.value;
        let tsn = read_u32(v, 0, "DATA header")?;
        let stream = read_u16(v, 4, "DATA header")?;
        let ssn = read_u16(v, 6, "DATA header")?;
        let ppid = Ppid(read_u32(v, 8, "DATA header")?);
        let payload = &v[Self::HEADER_LEN - CHUNK_HEADER_LEN..];
        Ok(Self {
            tsn,
            stream,
            ssn,
            ppid,
            unordered: chunk.flags & FLAG_UNORDERED != 0,
            beginning: chunk.flags & FLAG_BEGINNING != 0,
            ending: chunk.flags & FLAG_ENDING != 0,
            immediate: chunk.flags & FLAG_IMMEDIATE != 0,
            payload,
        })
    }

    /// The flags byte of this chunk.
    pub fn flags(&self) -> u8 {
        let mut flags = 0;
        if self.ending {
            flags |= FLAG_ENDING;
        }
        if self.beginning {
            flags |= FLAG_BEGINNING;
        }
        if self.unordered {
            flags |= FLAG_UNORDERED;
        }
        if self.immediate {
            flags |= FLAG_IMMEDIATE;
        }
        flags
    }

    /// Bytes the chunk occupies in a packet, padding included.
    pub fn encoded_len(&self) -> usize {
        padded(Self::HEADER_LEN + self.payload.len())
    }

    /// Appends the chunk to `out`. The payload must leave the chunk length within 65535.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let len = u16::try_from(Self::HEADER_LEN + self.payload.len())
            .map_err(|_| Error::InvalidInput("DATA chunk longer than 65535 bytes"))?;
        out.reserve(self.encoded_len());
        out.extend_from_slice(&[ChunkType::DATA.0, self.flags()]);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.tsn.to_be_bytes());
        out.extend_from_slice(&self.stream.to_be_bytes());
        out.extend_from_slice(&self.ssn.to_be_bytes());
        out.extend_from_slice(&self.ppid.0.to_be_bytes());
        out.extend_from_slice(self.payload);
        crate::bytes::pad_to_4(out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::Chunks;
    use proptest::prelude::*;

    #[test]
    fn known_bytes() {
        let chunk = DataChunk {
            tsn: 0x0102_0304,
            stream: 5,
            ssn: 6,
            ppid: Ppid::STRING,
            unordered: true,
            beginning: true,
            ending: true,
            immediate: false,
            payload: b"hi!",
        };
        let mut out = Vec::new();
        chunk.write_to(&mut out).unwrap();
        assert_eq!(out, [0, 0x07, 0, 19, 1, 2, 3, 4, 0, 5, 0, 6, 0, 0, 0, 51, b'h', b'i', b'!', 0]);
        assert_eq!(chunk.encoded_len(), out.len());
    }

    #[test]
    fn every_truncation_fails_cleanly() {
        let chunk = DataChunk {
            tsn: 1,
            stream: 2,
            ssn: 3,
            ppid: Ppid::BINARY,
            unordered: false,
            beginning: true,
            ending: false,
            immediate: false,
            payload: &[7; 9],
        };
        let mut out = Vec::new();
        chunk.write_to(&mut out).unwrap();
        for cut in 0..out.len() {
            if let Some(Ok(raw)) = Chunks::new(&out[..cut]).next() {
                // Only cuts inside the padding keep the chunk whole.
                assert_eq!(DataChunk::parse(&raw).unwrap(), chunk);
            }
        }
        let raw = RawChunk { chunk_type: ChunkType::DATA, flags: 0, value: &[0; 11], bytes: &[] };
        assert_eq!(DataChunk::parse(&raw), Err(Error::Truncated("DATA header")));
    }

    proptest! {
        #[test]
        fn round_trip(tsn: u32, stream: u16, ssn: u16, ppid: u32, flags in 0u8..16,
                      payload in proptest::collection::vec(any::<u8>(), 0..300)) {
            let chunk = DataChunk {
                tsn, stream, ssn, ppid: Ppid(ppid),
                unordered: flags & 4 != 0, beginning: flags & 2 != 0,
                ending: flags & 1 != 0, immediate: flags & 8 != 0,
                payload: &payload,
            };
            let mut out = Vec::new();
            chunk.write_to(&mut out).unwrap();
            prop_assert_eq!(out.len(), chunk.encoded_len());
            let raw = Chunks::new(&out).next().unwrap().unwrap();
            prop_assert_eq!(DataChunk::parse(&raw).unwrap(), chunk);
        }
    }
}
