//! Application-defined packet, APP (RFC 3550 §6.7).
//!
//! ```text
//!     0                   1                   2                   3
//!     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |V=2|P| subtype |   PT=APP=204  |             length            |
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |                           SSRC/CSRC                           |
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |                          name (ASCII)                         |
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |                   application-dependent data                ...
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use crate::compound::Encode;
use crate::header::{put_header, PacketType, HEADER_LEN};
use crate::util::{array_u32, check_room, Cursor};
use crate::Error;

/// A borrowed APP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct App<'a> {
    subtype: u8,
    fixed: &'a [u8; 8],
    data: &'a [u8],
}

impl<'a> App<'a> {
    /// Decodes the body of an APP packet whose header carried `subtype`.
    pub(crate) fn parse(subtype: u8, body: &'a [u8]) -> Result<Self, Error> {
        let (fixed, data) =
            body.split_first_chunk::<8>().ok_or(Error::Truncated("APP SSRC and name"))?;
        Ok(Self { subtype, fixed, data })
    }

    /// The 5-bit subtype.
    pub fn subtype(&self) -> u8 {
        self.subtype
    }

    /// SSRC or CSRC of the sender.
    pub fn ssrc(&self) -> u32 {
        array_u32(self.fixed, 0)
    }

    /// The four ASCII characters naming the application.
    pub fn name(&self) -> [u8; 4] {
        [self.fixed[4], self.fixed[5], self.fixed[6], self.fixed[7]]
    }

    /// The application-dependent data.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
}

/// Writes an APP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AppBuilder<'a> {
    /// Subtype, 0..=31.
    pub subtype: u8,
    /// SSRC or CSRC of the sender.
    pub ssrc: u32,
    /// Four ASCII characters.
    pub name: [u8; 4],
    /// Data; its length must be a multiple of 4 (RFC 3550 §6.7).
    pub data: &'a [u8],
}

impl Encode for AppBuilder<'_> {
    fn encoded_len(&self) -> usize {
        HEADER_LEN + 8 + self.data.len()
    }

    fn write_to(&self, buf: &mut [u8]) -> Result<usize, Error> {
        if self.subtype > 31 {
            return Err(Error::InvalidInput("APP subtype above 31"));
        }
        // RFC 3550 §6.7: the data "must be a multiple of 32 bits long".
        if self.data.len() % 4 != 0 {
            return Err(Error::InvalidInput("APP data not a multiple of 32 bits"));
        }
        let len = self.encoded_len();
        check_room(buf, len)?;
        let mut w = Cursor::new(buf);
        put_header(&mut w, self.subtype, PacketType::APP, len)?;
        w.put_u32(self.ssrc)?;
        w.put_slice(&self.name)?;
        w.put_slice(self.data)?;
        Ok(w.pos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CompoundIter, Packet};
    use proptest::prelude::*;

    fn parse_one(bytes: &[u8]) -> App<'_> {
        match CompoundIter::new(bytes).next() {
            Some(Ok(Packet::App(app))) => app,
            other => panic!("expected APP, got {other:?}"),
        }
    }

    /// Laid out from the RFC 3550 §6.7 diagram: subtype 5, name "TEST", four data octets.
    const APP: [u8; 16] = [
        0x85, 204, 0x00, 0x03, // V=2, subtype 5, PT=APP, length 3
        0xca, 0xfe, 0xba, 0xbe, // SSRC
        b'T', b'E', b'S', b'T', // name
        0x01, 0x02, 0x03, 0x04, // data
    ];

    #[test]
    fn parses_and_writes_the_rfc_layout() {
        let app = parse_one(&APP);
        assert_eq!(app.subtype(), 5);
        assert_eq!(app.ssrc(), 0xcafe_babe);
        assert_eq!(&app.name(), b"TEST");
        assert_eq!(app.data(), &[1, 2, 3, 4]);
        let b = AppBuilder { subtype: 5, ssrc: 0xcafe_babe, name: *b"TEST", data: &[1, 2, 3, 4] };
        let mut buf = [0u8; 16];
        assert_eq!(b.write_to(&mut buf), Ok(16));
        assert_eq!(buf, APP);
    }

    #[test]
    fn rejects_a_short_body_and_bad_inputs() {
        let short = [0x80, 204, 0, 1, 0, 0, 0, 1];
        assert!(matches!(CompoundIter::new(&short).next(), Some(Err(Error::Truncated(_)))));
        let mut buf = [0u8; 32];
        let odd = AppBuilder { data: &[1, 2, 3], ..Default::default() };
        assert!(matches!(odd.write_to(&mut buf), Err(Error::InvalidInput(_))));
        let subtype = AppBuilder { subtype: 32, ..Default::default() };
        assert!(matches!(subtype.write_to(&mut buf), Err(Error::InvalidInput(_))));
    }

    proptest! {
        #[test]
        fn round_trip(
            subtype in 0u8..=31,
            ssrc in any::<u32>(),
            name in any::<[u8; 4]>(),
            words in proptest::collection::vec(any::<[u8; 4]>(), 0..64),
        ) {
            let data = words.concat();
            let b = AppBuilder { subtype, ssrc, name, data: &data };
            let mut buf = vec![0u8; b.encoded_len()];
            prop_assert_eq!(b.write_to(&mut buf), Ok(buf.len()));
            let app = parse_one(&buf);
            prop_assert_eq!(app.subtype(), subtype);
            prop_assert_eq!(app.ssrc(), ssrc);
            prop_assert_eq!(app.name(), name);
            prop_assert_eq!(app.data(), &data[..]);
        }
    }
}
