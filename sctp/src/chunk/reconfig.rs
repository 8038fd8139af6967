//! RE-CONFIG chunk (RFC 6525 §3.1) and its request/response parameters (§4).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Type = 130    |  Chunk Flags  |      Chunk Length             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! \                                                               \
//! /                  Re-configuration Parameter                   /
//! \                                                               \
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! \                                                               \
//! /             Re-configuration Parameter (optional)             /
//! \                                                               \
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! Outgoing SSN Reset Request (13):
//! | Type = 13 | Length = 16 + 2 * N |
//! | Re-configuration Request Sequence Number |
//! | Re-configuration Response Sequence Number |
//! | Sender's Last Assigned TSN |
//! | Stream Number 1 (optional) | Stream Number 2 (optional) | ...
//!
//! Re-configuration Response (16):
//! | Type = 16 | Length = 12 or 20 |
//! | Re-configuration Response Sequence Number |
//! | Result |
//! | Sender's Next TSN (optional) |
//! | Receiver's Next TSN (optional) |
//! ```

use std::fmt;
use std::iter::FusedIterator;

use super::{write_tlv_chunk, RawChunk};
use crate::bytes::{read_u16, read_u32};
use crate::param::{write_param, ParamType, Params, RawParam};
use crate::{ChunkType, Error};

/// A RE-CONFIG chunk: one or two re-configuration parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconfigChunk<'a> {
    /// The encoded parameters (see [`ReconfigChunk::params`]).
    pub params: &'a [u8],
}

impl<'a> ReconfigChunk<'a> {
    /// Interprets a RE-CONFIG chunk.
    pub fn parse(chunk: &RawChunk<'a>) -> Result<Self, Error> {
        chunk.expect(ChunkType::RE_CONFIG, "not a RE-CONFIG chunk")?;
        Ok(Self { params: chunk.value })
    }

    /// The parameters.
    pub fn params(&self) -> Params<'a> {
        Params::new(self.params)
    }

    /// Appends the chunk; `params` is copied verbatim.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        write_tlv_chunk(out, ChunkType::RE_CONFIG, 0, self.params)
    }
}

/// A list of stream identifiers in a reset request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamList<'a> {
    bytes: &'a [u8],
}

impl<'a> StreamList<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        if bytes.len() % 2 != 0 {
            return Err(Error::Malformed("odd-length stream list"));
        }
        Ok(Self { bytes })
    }

    /// Number of streams listed; an empty list means "all streams".
    pub fn len(&self) -> usize {
        self.bytes.len() / 2
    }

    /// No stream listed ("all streams" in a reset request).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The stream identifiers.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = u16> + FusedIterator + 'a {
        self.bytes.chunks_exact(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
}

fn expect_type(param: &RawParam<'_>, t: ParamType, what: &'static str) -> Result<(), Error> {
    if param.param_type == t {
        Ok(())
    } else {
        Err(Error::Malformed(what))
    }
}

fn write_with_streams(
    out: &mut Vec<u8>,
    t: ParamType,
    fixed: &[u32],
    streams: &[u16],
) -> Result<(), Error> {
    let mut value = Vec::with_capacity(fixed.len() * 4 + streams.len() * 2);
    for f in fixed {
        value.extend_from_slice(&f.to_be_bytes());
    }
    for s in streams {
        value.extend_from_slice(&s.to_be_bytes());
    }
    write_param(out, t, &value)
}

/// Outgoing SSN Reset Request (RFC 6525 §4.1): the sender resets its outgoing streams, so the
/// receiver resets the matching incoming streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutgoingSsnResetRequest<'a> {
    /// This request's sequence number.
    pub request_seq: u32,
    /// The request this one implicitly answers, or the next expected request minus one.
    pub response_seq: u32,
    /// The last TSN the sender assigned before the reset.
    pub last_tsn: u32,
    /// The streams to reset (empty: all).
    pub streams: StreamList<'a>,
}

impl<'a> OutgoingSsnResetRequest<'a> {
    /// Interprets the parameter.
    pub fn parse(param: &RawParam<'a>) -> Result<Self, Error> {
        expect_type(param, ParamType::OUTGOING_SSN_RESET_REQUEST, "not an Outgoing SSN Reset")?;
        let v = param.value;
        Ok(Self {
            request_seq: read_u32(v, 0, "Outgoing SSN Reset Request")?,
            response_seq: read_u32(v, 4, "Outgoing SSN Reset Request")?,
            last_tsn: read_u32(v, 8, "Outgoing SSN Reset Request")?,
            streams: StreamList::parse(&v[12..])?,
        })
    }

    /// Appends the parameter.
    pub fn write(
        out: &mut Vec<u8>,
        request_seq: u32,
        response_seq: u32,
        last_tsn: u32,
        streams: &[u16],
    ) -> Result<(), Error> {
        write_with_streams(
            out,
            ParamType::OUTGOING_SSN_RESET_REQUEST,
            &[request_seq, response_seq, last_tsn],
            streams,
        )
    }
}

/// Incoming SSN Reset Request (RFC 6525 §4.2): the sender asks the receiver to reset its
/// outgoing streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncomingSsnResetRequest<'a> {
    /// This request's sequence number.
    pub request_seq: u32,
    /// The streams (empty: all).
    pub streams: StreamList<'a>,
}

impl<'a> IncomingSsnResetRequest<'a> {
    /// Interprets the parameter.
    pub fn parse(param: &RawParam<'a>) -> Result<Self, Error> {
        expect_type(param, ParamType::INCOMING_SSN_RESET_REQUEST, "not an Incoming SSN Reset")?;
        Ok(Self {
            request_seq: read_u32(param.value, 0, "Incoming SSN Reset Request")?,
            streams: StreamList::parse(&param.value[4..])?,
        })
    }

    /// Appends the parameter.
    pub fn write(out: &mut Vec<u8>, request_seq: u32, streams: &[u16]) -> Result<(), Error> {
        write_with_streams(out, ParamType::INCOMING_SSN_RESET_REQUEST, &[request_seq], streams)
    }
}

/// SSN/TSN Reset Request (RFC 6525 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SsnTsnResetRequest {
    /// This request's sequence number.
    pub request_seq: u32,
}

impl SsnTsnResetRequest {
    /// Interprets the parameter.
    pub fn parse(param: &RawParam<'_>) -> Result<Self, Error> {
        expect_type(param, ParamType::SSN_TSN_RESET_REQUEST, "not an SSN/TSN Reset")?;
        Ok(Self { request_seq: param.value_u32("SSN/TSN Reset Request")? })
    }

    /// Appends the parameter.
    pub fn write(out: &mut Vec<u8>, request_seq: u32) -> Result<(), Error> {
        write_param(out, ParamType::SSN_TSN_RESET_REQUEST, &request_seq.to_be_bytes())
    }
}

/// Add Outgoing Streams or Add Incoming Streams Request (RFC 6525 §4.5, §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddStreamsRequest {
    /// True for Add Incoming Streams, false for Add Outgoing Streams.
    pub incoming: bool,
    /// This request's sequence number.
    pub request_seq: u32,
    /// How many streams to add.
    pub new_streams: u16,
}

impl AddStreamsRequest {
    /// Interprets the parameter.
    pub fn parse(param: &RawParam<'_>) -> Result<Self, Error> {
        let incoming = match param.param_type {
            ParamType::ADD_OUTGOING_STREAMS_REQUEST => false,
            ParamType::ADD_INCOMING_STREAMS_REQUEST => true,
            _ => return Err(Error::Malformed("not an Add Streams Request")),
        };
        if param.value.len() != 8 {
            return Err(Error::Malformed("Add Streams Request length is not 12"));
        }
        Ok(Self {
            incoming,
            request_seq: read_u32(param.value, 0, "Add Streams Request")?,
            new_streams: read_u16(param.value, 4, "Add Streams Request")?,
        })
    }

    /// Appends the parameter.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let t = if self.incoming {
            ParamType::ADD_INCOMING_STREAMS_REQUEST
        } else {
            ParamType::ADD_OUTGOING_STREAMS_REQUEST
        };
        let mut value = [0u8; 8];
        value[..4].copy_from_slice(&self.request_seq.to_be_bytes());
        value[4..6].copy_from_slice(&self.new_streams.to_be_bytes());
        write_param(out, t, &value)
    }
}

/// The Result field of a Re-configuration Response (RFC 6525 §4.4).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReconfigResult(pub u32);

impl ReconfigResult {
    /// Success - Nothing to do.
    pub const SUCCESS_NOTHING_TO_DO: Self = Self(0);
    /// Success - Performed.
    pub const SUCCESS_PERFORMED: Self = Self(1);
    /// Denied.
    pub const DENIED: Self = Self(2);
    /// Error - Wrong SSN.
    pub const ERROR_WRONG_SSN: Self = Self(3);
    /// Error - Request already in progress.
    pub const ERROR_REQUEST_ALREADY_IN_PROGRESS: Self = Self(4);
    /// Error - Bad Sequence Number.
    pub const ERROR_BAD_SEQUENCE_NUMBER: Self = Self(5);
    /// In progress.
    pub const IN_PROGRESS: Self = Self(6);

    /// Success, performed or with nothing to do.
    pub fn is_success(self) -> bool {
        self == Self::SUCCESS_NOTHING_TO_DO || self == Self::SUCCESS_PERFORMED
    }
}

impl fmt::Debug for ReconfigResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            0 => "Success-Nothing-To-Do",
            1 => "Success-Performed",
            2 => "Denied",
            3 => "Error-Wrong-SSN",
            4 => "Error-Request-Already-In-Progress",
            5 => "Error-Bad-Sequence-Number",
            6 => "In-Progress",
            n => return write!(f, "ReconfigResult({n})"),
        };
        f.write_str(name)
    }
}

/// Re-configuration Response (RFC 6525 §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconfigResponse {
    /// The request this answers.
    pub response_seq: u32,
    /// The outcome.
    pub result: ReconfigResult,
    /// Sender's and receiver's next TSN, present only for an SSN/TSN reset.
    pub next_tsns: Option<(u32, u32)>,
}

impl ReconfigResponse {
    /// Interprets the parameter.
    pub fn parse(param: &RawParam<'_>) -> Result<Self, Error> {
        expect_type(param, ParamType::RECONFIG_RESPONSE, "not a Re-configuration Response")?;
        let v = param.value;
        let next_tsns = match v.len() {
            8 => None,
            16 => Some((
                read_u32(v, 8, "Re-configuration Response")?,
                read_u32(v, 12, "Re-configuration Response")?,
            )),
            _ => return Err(Error::Malformed("Re-configuration Response length is not 12 or 20")),
        };
        Ok(Self {
            response_seq: read_u32(v, 0, "Re-configuration Response")?,
            result: ReconfigResult(read_u32(v, 4, "Re-configuration Response")?),
            next_tsns,
        })
    }

    /// Appends the parameter.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let mut value = [0u8; 16];
        value[..4].copy_from_slice(&self.response_seq.to_be_bytes());
        value[4..8].copy_from_slice(&self.result.0.to_be_bytes());
        let len = match self.next_tsns {
            Some((sender, receiver)) => {
                value[8..12].copy_from_slice(&sender.to_be_bytes());
                value[12..].copy_from_slice(&receiver.to_be_bytes());
                16
            }
            None => 8,
        };
        write_param(out, ParamType::RECONFIG_RESPONSE, &value[..len])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::Chunks;
    use proptest::prelude::*;

    #[test]
    fn known_bytes() {
        let mut params = Vec::new();
        OutgoingSsnResetRequest::write(&mut params, 1, 2, 3, &[4, 5, 6]).unwrap();
        assert_eq!(
            params,
            [0, 13, 0, 22, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 4, 0, 5, 0, 6, 0, 0]
        );
        let mut out = Vec::new();
        ReconfigChunk { params: &params }.write_to(&mut out).unwrap();
        // 4 + 22: the padding of the last parameter is not counted (RFC 9260 §3.2).
        assert_eq!(&out[..4], [130, 0, 0, 26]);
        for cut in 0..out.len() {
            if let Some(Ok(raw)) = Chunks::new(&out[..cut]).next() {
                for p in ReconfigChunk::parse(&raw).unwrap().params().flatten() {
                    let _ = OutgoingSsnResetRequest::parse(&p);
                }
            }
        }
        assert_eq!(format!("{:?}", ReconfigResult::IN_PROGRESS), "In-Progress");
        assert_eq!(format!("{:?}", ReconfigResult(9)), "ReconfigResult(9)");
        let odd = RawParam { param_type: ParamType(13), value: &[0; 13], bytes: &[] };
        assert_eq!(
            OutgoingSsnResetRequest::parse(&odd),
            Err(Error::Malformed("odd-length stream list"))
        );
        let bad = RawParam { param_type: ParamType(16), value: &[0; 12], bytes: &[] };
        assert!(ReconfigResponse::parse(&bad).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(req: u32, resp: u32, last: u32, streams in proptest::collection::vec(any::<u16>(), 0..20),
                      result: u32, tsns: Option<(u32, u32)>, n: u16, incoming: bool) {
            let mut params = Vec::new();
            OutgoingSsnResetRequest::write(&mut params, req, resp, last, &streams).unwrap();
            IncomingSsnResetRequest::write(&mut params, req, &streams).unwrap();
            SsnTsnResetRequest::write(&mut params, req).unwrap();
            ReconfigResponse { response_seq: resp, result: ReconfigResult(result), next_tsns: tsns }
                .write_to(&mut params).unwrap();
            AddStreamsRequest { incoming, request_seq: req, new_streams: n }.write_to(&mut params).unwrap();
            let mut out = Vec::new();
            ReconfigChunk { params: &params }.write_to(&mut out).unwrap();
            let raw = Chunks::new(&out).next().unwrap().unwrap();
            let chunk = ReconfigChunk::parse(&raw).unwrap();
            let ps: Vec<_> = chunk.params().collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(ps.len(), 5);
            let o = OutgoingSsnResetRequest::parse(&ps[0]).unwrap();
            prop_assert_eq!((o.request_seq, o.response_seq, o.last_tsn), (req, resp, last));
            prop_assert_eq!(o.streams.iter().collect::<Vec<_>>(), streams.clone());
            let i = IncomingSsnResetRequest::parse(&ps[1]).unwrap();
            prop_assert_eq!(i.request_seq, req);
            prop_assert_eq!(i.streams.iter().collect::<Vec<_>>(), streams);
            prop_assert_eq!(SsnTsnResetRequest::parse(&ps[2]).unwrap().request_seq, req);
            let r = ReconfigResponse::parse(&ps[3]).unwrap();
            prop_assert_eq!(r, ReconfigResponse { response_seq: resp, result: ReconfigResult(result), next_tsns: tsns });
            let a = AddStreamsRequest::parse(&ps[4]).unwrap();
            prop_assert_eq!(a, AddStreamsRequest { incoming, request_seq: req, new_streams: n });
        }
    }
}
