//! INIT and INIT-ACK chunks (RFC 9260 §3.3.2, §3.3.3): the same fixed fields followed by
//! parameters.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Type = 1/2   |  Chunk Flags  |      Chunk Length             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         Initiate Tag                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Advertised Receiver Window Credit (a_rwnd)           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Number of Outbound Streams   |   Number of Inbound Streams   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                          Initial TSN                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! \                                                               \
//! /              Optional/Variable-Length Parameters              /
//! \                                                               \
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{begin_chunk, end_tlv_chunk, RawChunk};
use crate::bytes::{read_u16, read_u32};
use crate::param::Params;
use crate::{ChunkType, Error};

/// The fixed fields and the parameter region of an INIT or INIT-ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitChunk<'a> {
    /// The tag the sender wants on every packet sent to it.
    pub initiate_tag: u32,
    /// The sender's receive window.
    pub a_rwnd: u32,
    /// Number of outbound streams the sender wishes to open.
    pub outbound_streams: u16,
    /// Maximum number of inbound streams the sender accepts.
    pub inbound_streams: u16,
    /// The first TSN the sender will use.
    pub initial_tsn: u32,
    /// The encoded parameters (see [`InitChunk::params`]).
    pub params: &'a [u8],
}

impl<'a> InitChunk<'a> {
    /// Length of the fixed part, chunk header included.
    pub const FIXED_LEN: usize = 20;

    /// Interprets an INIT or INIT-ACK. Field values (a zero tag, zero streams) are checked by
    /// the association, which decides how to answer.
    pub fn parse(chunk: &RawChunk<'a>) -> Result<Self, Error> {
        if chunk.chunk_type != ChunkType::INIT && chunk.chunk_type != ChunkType::INIT_ACK {
            return Err(Error::Malformed("not an INIT or INIT-ACK chunk"));
        }
        let v = chunk.value;
        Ok(Self {
            initiate_tag: read_u32(v, 0, "INIT fixed fields")?,
            a_rwnd: read_u32(v, 4, "INIT fixed fields")?,
            outbound_streams: read_u16(v, 8, "INIT fixed fields")?,
            inbound_streams: read_u16(v, 10, "INIT fixed fields")?,
            initial_tsn: read_u32(v, 12, "INIT fixed fields")?,
            params: &v[16..],
        })
    }

    /// The parameters.
    pub fn params(&self) -> Params<'a> {
        Params::new(self.params)
    }

    /// Appends the chunk as `chunk_type` ([`ChunkType::INIT`] or [`ChunkType::INIT_ACK`]);
    /// `params` is copied verbatim.
    pub fn write_to(&self, chunk_type: ChunkType, out: &mut Vec<u8>) -> Result<(), Error> {
        let start = begin_chunk(out, chunk_type, 0);
        out.extend_from_slice(&self.initiate_tag.to_be_bytes());
        out.extend_from_slice(&self.a_rwnd.to_be_bytes());
        out.extend_from_slice(&self.outbound_streams.to_be_bytes());
        out.extend_from_slice(&self.inbound_streams.to_be_bytes());
        out.extend_from_slice(&self.initial_tsn.to_be_bytes());
        let params_start = out.len();
        out.extend_from_slice(self.params);
        end_tlv_chunk(out, start, params_start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::Chunks;
    use crate::param::{write_param, ParamType};
    use proptest::prelude::*;

    #[test]
    fn every_truncation_fails_cleanly() {
        let mut params = Vec::new();
        write_param(&mut params, ParamType::FORWARD_TSN_SUPPORTED, &[]).unwrap();
        write_param(&mut params, ParamType::SUPPORTED_EXTENSIONS, &[0x82, 0xc0]).unwrap();
        let init = InitChunk {
            initiate_tag: 1,
            a_rwnd: 2,
            outbound_streams: 3,
            inbound_streams: 4,
            initial_tsn: 5,
            params: &params,
        };
        let mut out = Vec::new();
        init.write_to(ChunkType::INIT, &mut out).unwrap();
        for cut in 0..out.len() {
            if let Some(Ok(raw)) = Chunks::new(&out[..cut]).next() {
                if let Ok(parsed) = InitChunk::parse(&raw) {
                    for p in parsed.params() {
                        let _ = p;
                    }
                }
            }
        }
        let raw = Chunks::new(&out).next().unwrap().unwrap();
        // The chunk length leaves out the padding of the last parameter (RFC 9260 §3.2).
        assert_eq!(&out[2..4], [0, 30]);
        let parsed = InitChunk::parse(&raw).unwrap();
        assert_eq!(parsed.params, &params[..params.len() - 2]);
        assert_eq!(InitChunk { params: &params, ..parsed }, init);
        let short = RawChunk { chunk_type: ChunkType::INIT, flags: 0, value: &[0; 15], bytes: &[] };
        assert_eq!(InitChunk::parse(&short), Err(Error::Truncated("INIT fixed fields")));
        let wrong = RawChunk { chunk_type: ChunkType::SACK, flags: 0, value: &[0; 16], bytes: &[] };
        assert!(InitChunk::parse(&wrong).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(tag: u32, a_rwnd: u32, os: u16, mis: u16, tsn: u32, ack: bool,
                      cookie in proptest::collection::vec(any::<u8>(), 0..100),
                      unknown_type in 0x4000u16.., unknown in proptest::collection::vec(any::<u8>(), 0..20)) {
            let mut params = Vec::new();
            write_param(&mut params, ParamType::STATE_COOKIE, &cookie).unwrap();
            write_param(&mut params, ParamType(unknown_type), &unknown).unwrap();
            let init = InitChunk { initiate_tag: tag, a_rwnd, outbound_streams: os,
                                   inbound_streams: mis, initial_tsn: tsn, params: &params };
            let chunk_type = if ack { ChunkType::INIT_ACK } else { ChunkType::INIT };
            let mut out = Vec::new();
            init.write_to(chunk_type, &mut out).unwrap();
            let raw = Chunks::new(&out).next().unwrap().unwrap();
            prop_assert_eq!(raw.chunk_type, chunk_type);
            let parsed = InitChunk::parse(&raw).unwrap();
            prop_assert!(params.starts_with(parsed.params));
            prop_assert_eq!(InitChunk { params: &params, ..parsed }, init);
            let ps: Vec<_> = parsed.params().collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(ps.len(), 2);
            prop_assert_eq!(ps[0].value, &cookie[..]);
            prop_assert_eq!(ps[1].param_type, ParamType(unknown_type));
            prop_assert_eq!(ps[1].value, &unknown[..]);
        }
    }
}
