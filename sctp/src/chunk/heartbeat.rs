//! HEARTBEAT and HEARTBEAT-ACK chunks (RFC 9260 §3.3.5, §3.3.6): one Heartbeat Info parameter
//! whose content only the sender interprets; the receiver reflects it unchanged.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Type = 4/5  | Chunk  Flags  |      Heartbeat Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |    Heartbeat Info Type = 1    |         HB Info Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! /                  Sender-Specific Heartbeat Info               /
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{begin_chunk, end_tlv_chunk, RawChunk, CHUNK_HEADER_LEN};
use crate::param::{write_param, ParamType, Params};
use crate::{ChunkType, Error};

/// A HEARTBEAT or HEARTBEAT-ACK chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatChunk<'a> {
    /// The sender-specific Heartbeat Info.
    pub info: &'a [u8],
}

impl<'a> HeartbeatChunk<'a> {
    /// Interprets a HEARTBEAT or HEARTBEAT-ACK: the first parameter must be Heartbeat Info.
    pub fn parse(chunk: &RawChunk<'a>) -> Result<Self, Error> {
        if chunk.chunk_type != ChunkType::HEARTBEAT && chunk.chunk_type != ChunkType::HEARTBEAT_ACK
        {
            return Err(Error::Malformed("not a HEARTBEAT chunk"));
        }
        let param = Params::new(chunk.value).next().ok_or(Error::Truncated("Heartbeat Info"))??;
        if param.param_type != ParamType::HEARTBEAT_INFO {
            return Err(Error::Malformed("HEARTBEAT without Heartbeat Info"));
        }
        Ok(Self { info: param.value })
    }

    /// Appends the chunk as `chunk_type` ([`ChunkType::HEARTBEAT`] or
    /// [`ChunkType::HEARTBEAT_ACK`]).
    pub fn write_to(&self, chunk_type: ChunkType, out: &mut Vec<u8>) -> Result<(), Error> {
        let start = begin_chunk(out, chunk_type, 0);
        if let Err(e) = write_param(out, ParamType::HEARTBEAT_INFO, self.info) {
            out.truncate(start);
            return Err(e);
        }
        end_tlv_chunk(out, start, start + CHUNK_HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::Chunks;
    use proptest::prelude::*;

    #[test]
    fn known_bytes_and_truncations() {
        let mut out = Vec::new();
        HeartbeatChunk { info: &[1, 2, 3] }.write_to(ChunkType::HEARTBEAT, &mut out).unwrap();
        assert_eq!(out, [4, 0, 0, 11, 0, 1, 0, 7, 1, 2, 3, 0]);
        for cut in 0..out.len() - 1 {
            if let Some(Ok(raw)) = Chunks::new(&out[..cut]).next() {
                assert!(HeartbeatChunk::parse(&raw).is_err());
            }
        }
        let wrong = [4, 0, 0, 8, 0, 2, 0, 4];
        let raw = Chunks::new(&wrong).next().unwrap().unwrap();
        assert_eq!(
            HeartbeatChunk::parse(&raw),
            Err(Error::Malformed("HEARTBEAT without Heartbeat Info"))
        );
    }

    proptest! {
        #[test]
        fn round_trip(info in proptest::collection::vec(any::<u8>(), 0..64), ack: bool) {
            let t = if ack { ChunkType::HEARTBEAT_ACK } else { ChunkType::HEARTBEAT };
            let mut out = Vec::new();
            HeartbeatChunk { info: &info }.write_to(t, &mut out).unwrap();
            let raw = Chunks::new(&out).next().unwrap().unwrap();
            prop_assert_eq!(raw.chunk_type, t);
            prop_assert_eq!(HeartbeatChunk::parse(&raw).unwrap().info, &info[..]);
        }
    }
}
