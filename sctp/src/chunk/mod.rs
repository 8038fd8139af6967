//! Chunks (RFC 9260 §3.2): the type-length-value units bundled in an SCTP packet.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Chunk Type  | Chunk  Flags  |        Chunk Length           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! \                                                               \
//! /                          Chunk Value                          /
//! \                                                               \
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! [`Chunks`] walks the chunks of a packet as [`RawChunk`] views; each chunk type has a view
//! with `parse(&RawChunk)` and a writer that appends to a caller-owned `Vec<u8>`. Container
//! chunks (INIT, ABORT, ERROR, HEARTBEAT, RE-CONFIG) hold their parameters or error causes
//! as an already encoded region so that the same struct serves parsing and writing.

mod abort;
mod cookie;
mod data;
mod forward_tsn;
mod heartbeat;
mod init;
mod reconfig;
mod sack;
mod shutdown;

use std::fmt;
use std::iter::FusedIterator;

pub use abort::{AbortChunk, ErrorChunk};
pub use cookie::{CookieAckChunk, CookieEchoChunk};
pub use data::DataChunk;
pub use forward_tsn::{ForwardTsnChunk, ForwardTsnStream, ForwardTsnStreams};
pub use heartbeat::HeartbeatChunk;
pub use init::InitChunk;
pub use reconfig::{
    AddStreamsRequest, IncomingSsnResetRequest, OutgoingSsnResetRequest, ReconfigChunk,
    ReconfigResponse, ReconfigResult, SsnTsnResetRequest, StreamList,
};
pub use sack::{DuplicateTsns, GapAckBlock, GapAckBlocks, SackChunk};
pub use shutdown::{ShutdownAckChunk, ShutdownChunk, ShutdownCompleteChunk};

use crate::bytes::{length_field, pad_to_4, padded, patch_u16, read_u16};
use crate::Error;

/// Length of the chunk header (type, flags, length).
pub const CHUNK_HEADER_LEN: usize = 4;

/// What a receiver does with a chunk type or parameter type it does not recognise, encoded in
/// the two most significant bits of the type (RFC 9260 §3.2 and §3.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnrecognizedAction {
    /// `00`: stop processing (the rest of the packet for a chunk, the rest of the parameters of
    /// the chunk for a parameter) and discard it.
    Stop,
    /// `01`: as [`Stop`](Self::Stop), and report it (ERROR chunk with "Unrecognized Chunk
    /// Type", or an "Unrecognized Parameter").
    StopAndReport,
    /// `10`: skip it and continue.
    Skip,
    /// `11`: skip it, continue, and report it.
    SkipAndReport,
}

impl UnrecognizedAction {
    fn from_top_bits(bits: u8) -> Self {
        match bits & 0b11 {
            0b00 => Self::Stop,
            0b01 => Self::StopAndReport,
            0b10 => Self::Skip,
            _ => Self::SkipAndReport,
        }
    }

    /// Processing continues after the unrecognised item.
    pub fn skips(self) -> bool {
        matches!(self, Self::Skip | Self::SkipAndReport)
    }

    /// The unrecognised item is reported to the peer.
    pub fn reports(self) -> bool {
        matches!(self, Self::StopAndReport | Self::SkipAndReport)
    }
}

/// A chunk type: open, so that an unknown chunk is representable and handled by its action
/// bits instead of failing the parse.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkType(pub u8);

impl ChunkType {
    /// Payload Data (RFC 9260 §3.3.1).
    pub const DATA: Self = Self(0);
    /// Initiation (RFC 9260 §3.3.2).
    pub const INIT: Self = Self(1);
    /// Initiation Acknowledgement (RFC 9260 §3.3.3).
    pub const INIT_ACK: Self = Self(2);
    /// Selective Acknowledgement (RFC 9260 §3.3.4).
    pub const SACK: Self = Self(3);
    /// Heartbeat Request (RFC 9260 §3.3.5).
    pub const HEARTBEAT: Self = Self(4);
    /// Heartbeat Acknowledgement (RFC 9260 §3.3.6).
    pub const HEARTBEAT_ACK: Self = Self(5);
    /// Abort (RFC 9260 §3.3.7).
    pub const ABORT: Self = Self(6);
    /// Shutdown (RFC 9260 §3.3.8).
    pub const SHUTDOWN: Self = Self(7);
    /// Shutdown Acknowledgement (RFC 9260 §3.3.9).
    pub const SHUTDOWN_ACK: Self = Self(8);
    /// Operation Error (RFC 9260 §3.3.10).
    pub const ERROR: Self = Self(9);
    /// State Cookie (RFC 9260 §3.3.11).
    pub const COOKIE_ECHO: Self = Self(10);
    /// Cookie Acknowledgement (RFC 9260 §3.3.12).
    pub const COOKIE_ACK: Self = Self(11);
    /// Shutdown Complete (RFC 9260 §3.3.13).
    pub const SHUTDOWN_COMPLETE: Self = Self(14);
    /// Authentication (RFC 4895); not supported, listed for naming.
    pub const AUTH: Self = Self(15);
    /// Payload Data supporting interleaving (RFC 8260); not supported, listed for naming.
    pub const I_DATA: Self = Self(64);
    /// Re-configuration (RFC 6525 §3.1).
    pub const RE_CONFIG: Self = Self(130);
    /// Padding (RFC 4820); not supported, listed for naming.
    pub const PAD: Self = Self(132);
    /// Forward Cumulative TSN (RFC 3758 §3.2).
    pub const FORWARD_TSN: Self = Self(192);
    /// Forward TSN for I-DATA (RFC 8260); not supported, listed for naming.
    pub const I_FORWARD_TSN: Self = Self(194);

    /// What to do when this type is not recognised (RFC 9260 §3.2).
    pub fn unrecognized_action(self) -> UnrecognizedAction {
        UnrecognizedAction::from_top_bits(self.0 >> 6)
    }

    /// The types this crate parses and acts upon.
    pub fn is_supported(self) -> bool {
        matches!(self.0, 0..=11 | 14 | 130 | 192)
    }

    fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::DATA => "DATA",
            Self::INIT => "INIT",
            Self::INIT_ACK => "INIT-ACK",
            Self::SACK => "SACK",
            Self::HEARTBEAT => "HEARTBEAT",
            Self::HEARTBEAT_ACK => "HEARTBEAT-ACK",
            Self::ABORT => "ABORT",
            Self::SHUTDOWN => "SHUTDOWN",
            Self::SHUTDOWN_ACK => "SHUTDOWN-ACK",
            Self::ERROR => "ERROR",
            Self::COOKIE_ECHO => "COOKIE-ECHO",
            Self::COOKIE_ACK => "COOKIE-ACK",
            Self::SHUTDOWN_COMPLETE => "SHUTDOWN-COMPLETE",
            Self::AUTH => "AUTH",
            Self::I_DATA => "I-DATA",
            Self::RE_CONFIG => "RE-CONFIG",
            Self::PAD => "PAD",
            Self::FORWARD_TSN => "FORWARD-TSN",
            Self::I_FORWARD_TSN => "I-FORWARD-TSN",
            _ => return None,
        })
    }
}

impl fmt::Debug for ChunkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "ChunkType({})", self.0),
        }
    }
}

impl fmt::Display for ChunkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One chunk of a packet, not yet interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawChunk<'a> {
    /// The chunk type.
    pub chunk_type: ChunkType,
    /// The type-specific flags.
    pub flags: u8,
    /// The chunk value: the bytes after the 4-byte header, up to the Chunk Length (padding
    /// excluded).
    pub value: &'a [u8],
    /// The whole chunk, header included and padding excluded (what an "Unrecognized Chunk
    /// Type" error cause carries).
    pub bytes: &'a [u8],
}

impl<'a> RawChunk<'a> {
    /// Reads the chunk at the start of `buf`; returns it and the number of bytes it occupies
    /// with its padding (at most `buf.len()`: a last chunk whose padding is missing is
    /// accepted).
    pub fn parse(buf: &'a [u8]) -> Result<(Self, usize), Error> {
        let (&chunk_type, rest) = buf.split_first().ok_or(Error::Truncated("chunk header"))?;
        let flags = *rest.first().ok_or(Error::Truncated("chunk header"))?;
        let length = usize::from(read_u16(buf, 2, "chunk header")?);
        if length < CHUNK_HEADER_LEN {
            return Err(Error::Malformed("chunk length below 4"));
        }
        let bytes = buf.get(..length).ok_or(Error::Truncated("chunk value"))?;
        let value = &bytes[CHUNK_HEADER_LEN..];
        let consumed = padded(length).min(buf.len());
        Ok((Self { chunk_type: ChunkType(chunk_type), flags, value, bytes }, consumed))
    }

    pub(crate) fn expect(&self, chunk_type: ChunkType, what: &'static str) -> Result<(), Error> {
        if self.chunk_type == chunk_type {
            Ok(())
        } else {
            Err(Error::Malformed(what))
        }
    }
}

/// Iterator over the chunks of a packet; yields an error once and then stops when the chunk
/// layout is broken.
#[derive(Debug, Clone)]
pub struct Chunks<'a> {
    rest: &'a [u8],
}

impl<'a> Chunks<'a> {
    /// Walks the chunks in `buf` (the packet without its common header).
    pub fn new(buf: &'a [u8]) -> Self {
        Self { rest: buf }
    }
}

impl<'a> Iterator for Chunks<'a> {
    type Item = Result<RawChunk<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match RawChunk::parse(self.rest) {
            Ok((chunk, consumed)) => {
                self.rest = &self.rest[consumed..];
                Some(Ok(chunk))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

impl FusedIterator for Chunks<'_> {}

/// Appends a chunk header with a placeholder length; returns where the chunk starts, for
/// [`end_chunk`].
pub(crate) fn begin_chunk(out: &mut Vec<u8>, chunk_type: ChunkType, flags: u8) -> usize {
    let start = out.len();
    out.extend_from_slice(&[chunk_type.0, flags, 0, 0]);
    start
}

/// Fixes the length of the chunk started at `start` and pads it to 4 bytes.
pub(crate) fn end_chunk(out: &mut Vec<u8>, start: usize) -> Result<(), Error> {
    let len = length_field(out.len() - start, "chunk longer than 65535 bytes");
    match len {
        Ok(len) => {
            patch_u16(out, start + 2, len);
            pad_to_4(out);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

/// Fixes the length of a chunk whose value ends with the type-length-value items (parameters
/// or error causes) that start at `items_start`: the length counts the padding of every item
/// but the last (RFC 9260 §3.2), then the chunk is padded to 4 bytes.
pub(crate) fn end_tlv_chunk(
    out: &mut Vec<u8>,
    start: usize,
    items_start: usize,
) -> Result<(), Error> {
    let items_len = unpadded_items_len(&out[items_start..]);
    let len = length_field(items_start - start + items_len, "chunk longer than 65535 bytes");
    match len {
        Ok(len) => {
            patch_u16(out, start + 2, len);
            pad_to_4(out);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

/// Length of a region of padded type-length-value items without the last item's padding.
fn unpadded_items_len(items: &[u8]) -> usize {
    let mut at = 0;
    let mut end = items.len();
    while at < items.len() {
        match read_u16(items, at + 2, "") {
            Ok(len) if usize::from(len) >= 4 && at + usize::from(len) <= items.len() => {
                end = at + usize::from(len);
                at += padded(usize::from(len));
            }
            _ => return items.len(),
        }
    }
    end
}

/// Appends a chunk whose value is a region of parameters or error causes, copied verbatim
/// (the last one's padding is not counted in the chunk length).
pub fn write_tlv_chunk(
    out: &mut Vec<u8>,
    chunk_type: ChunkType,
    flags: u8,
    items: &[u8],
) -> Result<(), Error> {
    let start = begin_chunk(out, chunk_type, flags);
    out.extend_from_slice(items);
    end_tlv_chunk(out, start, start + CHUNK_HEADER_LEN)
}

/// Appends a chunk whose value is `value` verbatim.
pub fn write_chunk(
    out: &mut Vec<u8>,
    chunk_type: ChunkType,
    flags: u8,
    value: &[u8],
) -> Result<(), Error> {
    let start = begin_chunk(out, chunk_type, flags);
    out.extend_from_slice(value);
    end_chunk(out, start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_bits() {
        // RFC 9260 §3.2: the two most significant bits of the chunk type.
        assert_eq!(ChunkType(0x3f).unrecognized_action(), UnrecognizedAction::Stop);
        assert_eq!(ChunkType(0x7f).unrecognized_action(), UnrecognizedAction::StopAndReport);
        assert_eq!(ChunkType(0xbf).unrecognized_action(), UnrecognizedAction::Skip);
        assert_eq!(ChunkType(0xff).unrecognized_action(), UnrecognizedAction::SkipAndReport);
        assert_eq!(ChunkType::RE_CONFIG.unrecognized_action(), UnrecognizedAction::Skip);
        assert_eq!(ChunkType::FORWARD_TSN.unrecognized_action(), UnrecognizedAction::SkipAndReport);
        assert!(UnrecognizedAction::SkipAndReport.reports());
        assert!(!UnrecognizedAction::Stop.skips());
        assert_eq!(format!("{:?}", ChunkType::SACK), "SACK");
        assert_eq!(format!("{}", ChunkType(99)), "ChunkType(99)");
    }

    #[test]
    fn iterates_padded_chunks() {
        let mut buf = Vec::new();
        write_chunk(&mut buf, ChunkType(0xbf), 7, &[1, 2, 3]).unwrap();
        write_chunk(&mut buf, ChunkType::COOKIE_ACK, 0, &[]).unwrap();
        assert_eq!(buf, [0xbf, 7, 0, 7, 1, 2, 3, 0, 11, 0, 0, 4]);
        let chunks: Vec<_> = Chunks::new(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].chunk_type, ChunkType(0xbf));
        assert_eq!(chunks[0].flags, 7);
        assert_eq!(chunks[0].value, [1, 2, 3]);
        assert_eq!(chunks[0].bytes, [0xbf, 7, 0, 7, 1, 2, 3]);
        assert_eq!(chunks[1].chunk_type, ChunkType::COOKIE_ACK);
        assert!(chunks[1].value.is_empty());
    }

    #[test]
    fn last_chunk_may_lack_padding() {
        let buf = [0xbf, 0, 0, 5, 9];
        let chunks: Vec<_> = Chunks::new(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(chunks[0].value, [9]);
    }

    #[test]
    fn broken_layouts_are_errors() {
        assert_eq!(Chunks::new(&[1, 0, 0]).next(), Some(Err(Error::Truncated("chunk header"))));
        assert_eq!(
            Chunks::new(&[1, 0, 0, 3]).next(),
            Some(Err(Error::Malformed("chunk length below 4")))
        );
        let mut it = Chunks::new(&[1, 0, 0, 9, 0, 0]);
        assert_eq!(it.next(), Some(Err(Error::Truncated("chunk value"))));
        assert_eq!(it.next(), None);
    }

    #[test]
    fn every_truncation_of_a_chunk_list_is_handled() {
        let mut buf = Vec::new();
        write_chunk(&mut buf, ChunkType::DATA, 3, &[0; 13]).unwrap();
        write_chunk(&mut buf, ChunkType::SACK, 0, &[0; 12]).unwrap();
        for cut in 0..buf.len() {
            for item in Chunks::new(&buf[..cut]) {
                let _ = item;
            }
        }
    }

    #[test]
    fn oversized_chunk_is_refused_by_the_writer() {
        let mut out = vec![9];
        let big = vec![0; 70_000];
        assert!(write_chunk(&mut out, ChunkType::DATA, 0, &big).is_err());
        assert_eq!(out, [9]);
    }
}
