//! ABORT (RFC 9260 §3.3.7) and ERROR (RFC 9260 §3.3.10) chunks: a list of error causes.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Type = 6/9  |  Reserved   |T|           Length              |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! \                                                               \
//! /                   zero or more Error Causes                   /
//! \                                                               \
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use super::{write_tlv_chunk, RawChunk};
use crate::error_cause::ErrorCauses;
use crate::{ChunkType, Error};

/// The T bit of ABORT and SHUTDOWN-COMPLETE: the verification tag is the sender's own (the
/// "reflected" tag) because it has no association with the receiver (RFC 9260 §8.5.1).
pub(crate) const FLAG_T: u8 = 0x01;

/// An ABORT chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortChunk<'a> {
    /// T bit: the packet carries the reflected verification tag.
    pub reflected_tag: bool,
    /// The encoded error causes (see [`AbortChunk::causes`]).
    pub causes: &'a [u8],
}

impl<'a> AbortChunk<'a> {
    /// Interprets an ABORT; the causes are checked when iterated.
    pub fn parse(chunk: &RawChunk<'a>) -> Result<Self, Error> {
        chunk.expect(ChunkType::ABORT, "not an ABORT chunk")?;
        Ok(Self { reflected_tag: chunk.flags & FLAG_T != 0, causes: chunk.value })
    }

    /// The error causes.
    pub fn causes(&self) -> ErrorCauses<'a> {
        ErrorCauses::new(self.causes)
    }

    /// Appends the chunk; `causes` is copied verbatim.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        let flags = if self.reflected_tag { FLAG_T } else { 0 };
        write_tlv_chunk(out, ChunkType::ABORT, flags, self.causes)
    }
}

/// An ERROR chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorChunk<'a> {
    /// The encoded error causes (see [`ErrorChunk::causes`]).
    pub causes: &'a [u8],
}

impl<'a> ErrorChunk<'a> {
    /// Interprets an ERROR chunk.
    pub fn parse(chunk: &RawChunk<'a>) -> Result<Self, Error> {
        chunk.expect(ChunkType::ERROR, "not an ERROR chunk")?;
        Ok(Self { causes: chunk.value })
    }

    /// The error causes.
    pub fn causes(&self) -> ErrorCauses<'a> {
        ErrorCauses::new(self.causes)
    }

    /// Appends the chunk; `causes` is copied verbatim.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        write_tlv_chunk(out, ChunkType::ERROR, 0, self.causes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::Chunks;
    use crate::error_cause::{ErrorCause, ErrorCauseCode};
    use proptest::prelude::*;

    #[test]
    fn truncated_causes_are_reported_on_iteration() {
        let mut causes = Vec::new();
        ErrorCause { code: ErrorCauseCode::PROTOCOL_VIOLATION, info: b"nope" }
            .write_to(&mut causes)
            .unwrap();
        let mut out = Vec::new();
        AbortChunk { reflected_tag: true, causes: &causes }.write_to(&mut out).unwrap();
        assert_eq!(&out[..4], [6, 1, 0, 12]);
        for cut in 0..out.len() {
            if let Some(Ok(raw)) = Chunks::new(&out[..cut]).next() {
                let abort = AbortChunk::parse(&raw).unwrap();
                for c in abort.causes() {
                    let _ = c;
                }
            }
        }
    }

    proptest! {
        #[test]
        fn round_trip(t: bool, code: u16, info in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut causes = Vec::new();
            ErrorCause { code: ErrorCauseCode(code), info: &info }.write_to(&mut causes).unwrap();
            let mut out = Vec::new();
            AbortChunk { reflected_tag: t, causes: &causes }.write_to(&mut out).unwrap();
            ErrorChunk { causes: &causes }.write_to(&mut out).unwrap();
            let mut chunks = Chunks::new(&out);
            let abort = AbortChunk::parse(&chunks.next().unwrap().unwrap()).unwrap();
            prop_assert_eq!(abort.reflected_tag, t);
            let cause = abort.causes().next().unwrap().unwrap();
            prop_assert_eq!(cause.code, ErrorCauseCode(code));
            prop_assert_eq!(cause.info, &info[..]);
            let error = ErrorChunk::parse(&chunks.next().unwrap().unwrap()).unwrap();
            let cause = error.causes().next().unwrap().unwrap();
            prop_assert_eq!(cause.code, ErrorCauseCode(code));
            prop_assert_eq!(cause.info, &info[..]);
            prop_assert!(chunks.next().is_none());
        }
    }
}
