//! COOKIE-ECHO (RFC 9260 §3.3.11) and COOKIE-ACK (§3.3.12).
//!
//! ```text
//! COOKIE-ECHO:  | Type = 10 | Flags | Length | Cookie (opaque, from the INIT-ACK) |
//! COOKIE-ACK:   | Type = 11 | Flags | Length = 4 |
//! ```

use super::{write_chunk, RawChunk};
use crate::{ChunkType, Error};

/// A COOKIE-ECHO chunk: the State Cookie of the INIT-ACK, returned verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieEchoChunk<'a> {
    /// The opaque cookie.
    pub cookie: &'a [u8],
}

impl<'a> CookieEchoChunk<'a> {
    /// Interprets a COOKIE-ECHO.
    pub fn parse(chunk: &RawChunk<'a>) -> Result<Self, Error> {
        chunk.expect(ChunkType::COOKIE_ECHO, "not a COOKIE-ECHO chunk")?;
        Ok(Self { cookie: chunk.value })
    }

    /// Appends the chunk.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        write_chunk(out, ChunkType::COOKIE_ECHO, 0, self.cookie)
    }
}

/// A COOKIE-ACK chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieAckChunk;

impl CookieAckChunk {
    /// Interprets a COOKIE-ACK.
    pub fn parse(chunk: &RawChunk<'_>) -> Result<Self, Error> {
        chunk.expect(ChunkType::COOKIE_ACK, "not a COOKIE-ACK chunk")?;
        Ok(Self)
    }

    /// Appends the chunk.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        write_chunk(out, ChunkType::COOKIE_ACK, 0, &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::Chunks;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(cookie in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut out = Vec::new();
            CookieEchoChunk { cookie: &cookie }.write_to(&mut out).unwrap();
            CookieAckChunk.write_to(&mut out).unwrap();
            let chunks: Vec<_> = Chunks::new(&out).collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(CookieEchoChunk::parse(&chunks[0]).unwrap().cookie, &cookie[..]);
            prop_assert_eq!(CookieAckChunk::parse(&chunks[1]).unwrap(), CookieAckChunk);
            prop_assert!(CookieAckChunk::parse(&chunks[0]).is_err());
        }
    }
}
