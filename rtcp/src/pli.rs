//! Picture loss indication, PSFB FMT 1 (RFC 4585 §6.3.1).
//!
//! ```text
//!     0                   1                   2                   3
//!     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |V=2|P| FMT=1   |   PT=206      |          length=2             |
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |                  SSRC of packet sender                        |
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |                  SSRC of media source                         |
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use crate::compound::Encode;
use crate::header::{put_header, PacketType, HEADER_LEN, PSFB_PLI};
use crate::util::{array_u32, check_room, Cursor};
use crate::Error;

/// A borrowed picture loss indication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pli<'a> {
    fixed: &'a [u8; 8],
}

impl<'a> Pli<'a> {
    /// Decodes the body of a PSFB packet with FMT 1.
    ///
    /// RFC 4585 §6.3.1 says the length field MUST be 2. Octets after the two SSRCs are
    /// ignored rather than refused: they change nothing about the request, and refusing
    /// would drop the rest of the compound with it.
    pub(crate) fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let (fixed, _) =
            body.split_first_chunk::<8>().ok_or(Error::Truncated("PLI feedback header"))?;
        Ok(Self { fixed })
    }

    /// SSRC of the packet sender.
    pub fn sender_ssrc(&self) -> u32 {
        array_u32(self.fixed, 0)
    }

    /// SSRC of the media source that should send a keyframe.
    pub fn media_ssrc(&self) -> u32 {
        array_u32(self.fixed, 4)
    }
}

/// Writes a picture loss indication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PliBuilder {
    /// SSRC of the packet sender.
    pub sender_ssrc: u32,
    /// SSRC of the media source asked for a keyframe.
    pub media_ssrc: u32,
}

impl Encode for PliBuilder {
    fn encoded_len(&self) -> usize {
        HEADER_LEN + 8
    }

    fn write_to(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let len = self.encoded_len();
        check_room(buf, len)?;
        let mut w = Cursor::new(buf);
        put_header(&mut w, PSFB_PLI, PacketType::PSFB, len)?;
        w.put_u32(self.sender_ssrc)?;
        w.put_u32(self.media_ssrc)?;
        Ok(w.pos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CompoundIter, Packet};
    use proptest::prelude::*;

    fn parse_one(bytes: &[u8]) -> Pli<'_> {
        match CompoundIter::new(bytes).next() {
            Some(Ok(Packet::Pli(pli))) => pli,
            other => panic!("expected a PLI, got {other:?}"),
        }
    }

    /// Laid out from RFC 4585 §6.1 and §6.3.1: no FCI, length 2.
    const PLI: [u8; 12] = [
        0x81, 206, 0x00, 0x02, // V=2, FMT=1, PT=PSFB, length 2
        0x11, 0x11, 0x11, 0x11, // SSRC of packet sender
        0x22, 0x22, 0x22, 0x22, // SSRC of media source
    ];

    #[test]
    fn parses_and_writes_the_rfc_layout() {
        let pli = parse_one(&PLI);
        assert_eq!(pli.sender_ssrc(), 0x1111_1111);
        assert_eq!(pli.media_ssrc(), 0x2222_2222);
        let mut buf = [0u8; 12];
        let b = PliBuilder { sender_ssrc: 0x1111_1111, media_ssrc: 0x2222_2222 };
        assert_eq!(b.write_to(&mut buf), Ok(12));
        assert_eq!(buf, PLI);
        assert!(matches!(b.write_to(&mut [0u8; 11]), Err(Error::BufferTooSmall { .. })));
    }

    #[test]
    fn rejects_a_missing_media_ssrc() {
        let short = [0x81, 206, 0, 1, 0, 0, 0, 1];
        assert!(matches!(CompoundIter::new(&short).next(), Some(Err(Error::Truncated(_)))));
    }

    proptest! {
        #[test]
        fn round_trip(sender_ssrc in any::<u32>(), media_ssrc in any::<u32>()) {
            let mut buf = [0u8; 12];
            prop_assert_eq!(PliBuilder { sender_ssrc, media_ssrc }.write_to(&mut buf), Ok(12));
            let pli = parse_one(&buf);
            prop_assert_eq!((pli.sender_ssrc(), pli.media_ssrc()), (sender_ssrc, media_ssrc));
        }
    }
}
