//! Goodbye, BYE (RFC 3550 §6.6).
//!
//! ```text
//!        0                   1                   2                   3
//!        0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//!       +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!       |V=2|P|    SC   |   PT=BYE=203  |             length            |
//!       +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!       |                           SSRC/CSRC                           |
//!       +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!       :                              ...                              :
//!       +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//! (opt) |     length    |               reason for leaving            ...
//!       +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::iter::FusedIterator;

use crate::compound::Encode;
use crate::header::{put_header, PacketType, HEADER_LEN};
use crate::util::{check_room, padded4, Cursor};
use crate::Error;

/// A list of 32-bit SSRCs on the wire (BYE sources, REMB feedback targets).
#[derive(Debug, Clone)]
pub struct Ssrcs<'a> {
    rest: &'a [u8],
}

impl<'a> Ssrcs<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }
}

impl Iterator for Ssrcs<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let (ssrc, rest) = self.rest.split_first_chunk::<4>()?;
        self.rest = rest;
        Some(u32::from_be_bytes(*ssrc))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.rest.len() / 4;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Ssrcs<'_> {}
impl FusedIterator for Ssrcs<'_> {}

/// A borrowed BYE packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bye<'a> {
    ssrcs: &'a [u8],
    reason: Option<&'a [u8]>,
}

impl<'a> Bye<'a> {
    /// Decodes the body of a BYE packet of `count` sources.
    pub(crate) fn parse(count: u8, body: &'a [u8]) -> Result<Self, Error> {
        let (ssrcs, rest) = body
            .split_at_checked(usize::from(count) * 4)
            .ok_or(Error::BadLength("BYE source count exceeds the packet length"))?;
        let reason = match rest.split_first() {
            None => None,
            Some((&len, text)) => Some(
                text.get(..usize::from(len)).ok_or(Error::Truncated("BYE reason for leaving"))?,
            ),
        };
        Ok(Self { ssrcs, reason })
    }

    /// The sources leaving.
    pub fn ssrcs(&self) -> Ssrcs<'a> {
        Ssrcs::new(self.ssrcs)
    }

    /// The reason for leaving, if present (UTF-8 by RFC 3550, not checked here).
    pub fn reason(&self) -> Option<&'a [u8]> {
        self.reason
    }
}

/// Writes a BYE packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ByeBuilder<'a> {
    /// Up to 31 sources.
    pub ssrcs: &'a [u32],
    /// Optional reason, at most 255 octets.
    pub reason: Option<&'a [u8]>,
}

impl Encode for ByeBuilder<'_> {
    fn encoded_len(&self) -> usize {
        let reason = self.reason.map_or(0, |r| padded4(r.len().saturating_add(1)));
        HEADER_LEN + self.ssrcs.len().saturating_mul(4).saturating_add(reason)
    }

    fn write_to(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let count = u8::try_from(self.ssrcs.len())
            .ok()
            .filter(|c| *c <= 31)
            .ok_or(Error::InvalidInput("more than 31 sources in a BYE"))?;
        let reason_len = self
            .reason
            .map(|r| u8::try_from(r.len()))
            .transpose()
            .map_err(|_| Error::InvalidInput("BYE reason longer than 255 octets"))?;
        let len = self.encoded_len();
        check_room(buf, len)?;
        let mut w = Cursor::new(buf);
        put_header(&mut w, count, PacketType::BYE, len)?;
        for ssrc in self.ssrcs {
            w.put_u32(*ssrc)?;
        }
        if let (Some(reason), Some(reason_len)) = (self.reason, reason_len) {
            w.put_u8(reason_len)?;
            w.put_slice(reason)?;
            w.pad_to_word()?;
        }
        Ok(w.pos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CompoundIter, Packet};
    use proptest::prelude::*;

    fn parse_one(bytes: &[u8]) -> Bye<'_> {
        match CompoundIter::new(bytes).next() {
            Some(Ok(Packet::Bye(bye))) => bye,
            other => panic!("expected BYE, got {other:?}"),
        }
    }

    /// Two sources and the reason "bye", laid out from the RFC 3550 §6.6 diagram.
    const BYE: [u8; 16] = [
        0x82, 203, 0x00, 0x03, // V=2, SC=2, PT=BYE, length 3
        0x01, 0x02, 0x03, 0x04, // SSRC
        0x05, 0x06, 0x07, 0x08, // CSRC
        3, b'b', b'y', b'e', // length 3, "bye"
    ];

    #[test]
    fn parses_and_writes_the_rfc_layout() {
        let bye = parse_one(&BYE);
        assert_eq!(bye.ssrcs().collect::<Vec<_>>(), [0x0102_0304, 0x0506_0708]);
        assert_eq!(bye.reason(), Some(&b"bye"[..]));
        let mut buf = [0u8; 16];
        let b = ByeBuilder { ssrcs: &[0x0102_0304, 0x0506_0708], reason: Some(b"bye") };
        assert_eq!(b.write_to(&mut buf), Ok(16));
        assert_eq!(buf, BYE);
    }

    #[test]
    fn reason_is_optional() {
        let bytes = [0x81, 203, 0, 1, 0, 0, 0, 9];
        let bye = parse_one(&bytes);
        assert_eq!(bye.ssrcs().len(), 1);
        assert_eq!(bye.reason(), None);
    }

    #[test]
    fn rejects_inconsistent_lengths() {
        let too_many = [0x83, 203, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2];
        assert!(matches!(CompoundIter::new(&too_many).next(), Some(Err(Error::BadLength(_)))));
        let long_reason = [0x81, 203, 0, 2, 0, 0, 0, 1, 9, b'a', b'b', b'c'];
        assert!(matches!(CompoundIter::new(&long_reason).next(), Some(Err(Error::Truncated(_)))));
    }

    proptest! {
        #[test]
        fn round_trip(
            ssrcs in proptest::collection::vec(any::<u32>(), 0..=31),
            reason in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..=255)),
        ) {
            let b = ByeBuilder { ssrcs: &ssrcs, reason: reason.as_deref() };
            let mut buf = vec![0u8; b.encoded_len()];
            prop_assert_eq!(b.write_to(&mut buf), Ok(buf.len()));
            let bye = parse_one(&buf);
            prop_assert_eq!(bye.ssrcs().collect::<Vec<_>>(), ssrcs);
            prop_assert_eq!(bye.reason(), reason.as_deref());
        }
    }
}
