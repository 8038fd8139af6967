//! Full intra request, PSFB FMT 4 (RFC 5104 §4.3.1).
//!
//! ```text
//!     0                   1                   2                   3
//!     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |V=2|P| FMT=4   |   PT=206      |          length               |
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |                  SSRC of packet sender                        |
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |                  SSRC of media source (0)                     |
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |                              SSRC                             |  (1 or more)
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    | Seq nr.       |    Reserved                                   |
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::iter::FusedIterator;

use crate::compound::Encode;
use crate::header::{put_header, PacketType, HEADER_LEN, PSFB_FIR};
use crate::util::{array_u32, check_room, Cursor};
use crate::Error;

/// Length of one FIR entry.
const ENTRY_LEN: usize = 8;

/// One FIR entry: which source should send a decoder refresh, and the request number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FirEntry {
    /// SSRC of the media sender asked for a refresh.
    pub ssrc: u32,
    /// Command sequence number; the same number repeated is the same request
    /// (RFC 5104 §4.3.1.2).
    pub sequence_number: u8,
}

/// A borrowed full intra request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fir<'a> {
    fixed: &'a [u8; 8],
    fci: &'a [u8],
}

impl<'a> Fir<'a> {
    /// Decodes the body of a PSFB packet with FMT 4.
    pub(crate) fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let (fixed, fci) =
            body.split_first_chunk::<8>().ok_or(Error::Truncated("FIR feedback header"))?;
        // RFC 5104 §4.3.1: the FCI holds one or more FIR entries of 8 octets.
        if fci.is_empty() {
            return Err(Error::Malformed("FIR without any entry"));
        }
        if fci.len() % ENTRY_LEN != 0 {
            return Err(Error::BadLength("FIR FCI not a whole number of entries"));
        }
        Ok(Self { fixed, fci })
    }

    /// SSRC of the packet sender.
    pub fn sender_ssrc(&self) -> u32 {
        array_u32(self.fixed, 0)
    }

    /// SSRC of media source: unused by FIR and set to 0 by conforming senders.
    pub fn media_ssrc(&self) -> u32 {
        array_u32(self.fixed, 4)
    }

    /// The FIR entries.
    pub fn entries(&self) -> FirEntries<'a> {
        FirEntries { rest: self.fci }
    }
}

/// The entries of a FIR.
#[derive(Debug, Clone)]
pub struct FirEntries<'a> {
    rest: &'a [u8],
}

impl Iterator for FirEntries<'_> {
    type Item = FirEntry;

    fn next(&mut self) -> Option<FirEntry> {
        let (&[s0, s1, s2, s3, seq, _, _, _], rest) = self.rest.split_first_chunk::<ENTRY_LEN>()?;
        self.rest = rest;
        Some(FirEntry { ssrc: u32::from_be_bytes([s0, s1, s2, s3]), sequence_number: seq })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.rest.len() / ENTRY_LEN;
        (n, Some(n))
    }
}

impl ExactSizeIterator for FirEntries<'_> {}
impl FusedIterator for FirEntries<'_> {}

/// Writes a full intra request. The media SSRC field is written as 0 (RFC 5104 §4.3.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FirBuilder<'a> {
    /// SSRC of the packet sender.
    pub sender_ssrc: u32,
    /// At least one entry.
    pub entries: &'a [FirEntry],
}

impl Encode for FirBuilder<'_> {
    fn encoded_len(&self) -> usize {
        HEADER_LEN + 8 + self.entries.len().saturating_mul(ENTRY_LEN)
    }

    fn write_to(&self, buf: &mut [u8]) -> Result<usize, Error> {
        if self.entries.is_empty() {
            return Err(Error::InvalidInput("FIR without any entry"));
        }
        let len = self.encoded_len();
        check_room(buf, len)?;
        let mut w = Cursor::new(buf);
        put_header(&mut w, PSFB_FIR, PacketType::PSFB, len)?;
        w.put_u32(self.sender_ssrc)?;
        w.put_u32(0)?;
        for entry in self.entries {
            w.put_u32(entry.ssrc)?;
            // Reserved bits are set to 0 by the sender (RFC 5104 §4.3.1.1).
            w.put_slice(&[entry.sequence_number, 0, 0, 0])?;
        }
        Ok(w.pos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CompoundIter, Packet};
    use proptest::prelude::*;

    fn parse_one(bytes: &[u8]) -> Fir<'_> {
        match CompoundIter::new(bytes).next() {
            Some(Ok(Packet::Fir(fir))) => fir,
            other => panic!("expected a FIR, got {other:?}"),
        }
    }

    /// Laid out from RFC 5104 §4.3.1.1: two entries, media SSRC 0.
    const FIR: [u8; 28] = [
        0x84, 206, 0x00, 0x06, // V=2, FMT=4, PT=PSFB, length 6
        0x00, 0x00, 0x00, 0x01, // SSRC of packet sender
        0x00, 0x00, 0x00, 0x00, // SSRC of media source: 0
        0xaa, 0xbb, 0xcc, 0xdd, // SSRC
        0x07, 0x00, 0x00, 0x00, // Seq nr. 7, reserved
        0x11, 0x22, 0x33, 0x44, // SSRC
        0xff, 0x00, 0x00, 0x00, // Seq nr. 255, reserved
    ];

    #[test]
    fn parses_and_writes_the_rfc_layout() {
        let fir = parse_one(&FIR);
        assert_eq!(fir.sender_ssrc(), 1);
        assert_eq!(fir.media_ssrc(), 0);
        let entries: Vec<_> = fir.entries().collect();
        assert_eq!(
            entries,
            [
                FirEntry { ssrc: 0xaabb_ccdd, sequence_number: 7 },
                FirEntry { ssrc: 0x1122_3344, sequence_number: 255 },
            ]
        );
        let mut buf = [0u8; 28];
        assert_eq!(FirBuilder { sender_ssrc: 1, entries: &entries }.write_to(&mut buf), Ok(28));
        assert_eq!(buf, FIR);
    }

    #[test]
    fn rejects_empty_and_ragged_fci() {
        let empty = [0x84, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0];
        assert!(matches!(CompoundIter::new(&empty).next(), Some(Err(Error::Malformed(_)))));
        let ragged = [0x84, 206, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4];
        assert!(matches!(CompoundIter::new(&ragged).next(), Some(Err(Error::BadLength(_)))));
        let mut buf = [0u8; 20];
        assert!(matches!(FirBuilder::default().write_to(&mut buf), Err(Error::InvalidInput(_))));
    }

    proptest! {
        #[test]
        fn round_trip(
            sender_ssrc in any::<u32>(),
            raw in proptest::collection::vec(any::<(u32, u8)>(), 1..50),
        ) {
            let entries: Vec<_> = raw
                .iter()
                .map(|&(ssrc, sequence_number)| FirEntry { ssrc, sequence_number })
                .collect();
            let b = FirBuilder { sender_ssrc, entries: &entries };
            let mut buf = vec![0u8; b.encoded_len()];
            prop_assert_eq!(b.write_to(&mut buf), Ok(buf.len()));
            let fir = parse_one(&buf);
            prop_assert_eq!(fir.sender_ssrc(), sender_ssrc);
            prop_assert_eq!(fir.media_ssrc(), 0);
            prop_assert_eq!(fir.entries().collect::<Vec<_>>(), entries);
        }
    }
}
