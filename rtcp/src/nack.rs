//! Generic NACK, RTPFB FMT 1 (RFC 4585 §6.2.1).
//!
//! ```text
//!     0                   1                   2                   3
//!     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |V=2|P| FMT=1   |   PT=205      |          length               |
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |                  SSRC of packet sender                        |
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |                  SSRC of media source                         |
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |            PID                |             BLP               |  (1 or more)
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! PID is a lost sequence number; bit `i` of BLP (least significant first) reports
//! `PID + i + 1` lost as well.

use std::iter::FusedIterator;

use crate::compound::Encode;
use crate::header::{put_header, PacketType, HEADER_LEN, RTPFB_NACK};
use crate::util::{array_u32, check_room, Cursor};
use crate::Error;

/// One (PID, BLP) pair: up to 17 lost packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NackPair {
    /// Packet ID: a lost RTP sequence number.
    pub pid: u16,
    /// Bitmask of following lost packets: bit `i` means `pid + i + 1`.
    pub blp: u16,
}

impl NackPair {
    /// The lost sequence numbers of this pair, PID first (wrapping past 65535).
    pub fn sequence_numbers(self) -> NackPairSequenceNumbers {
        NackPairSequenceNumbers { pair: self, next_bit: 0 }
    }
}

/// Sequence numbers reported by one [`NackPair`].
#[derive(Debug, Clone)]
pub struct NackPairSequenceNumbers {
    pair: NackPair,
    /// 0 for PID itself, then 1..=16 for the BLP bits; 17 when done.
    next_bit: u8,
}

impl Iterator for NackPairSequenceNumbers {
    type Item = u16;

    fn next(&mut self) -> Option<u16> {
        if self.next_bit == 0 {
            self.next_bit = 1;
            return Some(self.pair.pid);
        }
        while self.next_bit <= 16 {
            let bit = self.next_bit;
            self.next_bit += 1;
            if self.pair.blp & (1 << (bit - 1)) != 0 {
                return Some(self.pair.pid.wrapping_add(u16::from(bit)));
            }
        }
        None
    }
}

impl FusedIterator for NackPairSequenceNumbers {}

/// Packs lost sequence numbers into the fewest (PID, BLP) pairs, written to `out` (cleared
/// first; reuse it to avoid allocating).
///
/// `lost` may be unsorted, hold duplicates and cross the 16-bit wrap; it is sorted and
/// deduplicated in place. The list is cut at the widest gap between neighbours on the
/// 16-bit circle, so `65534, 65535, 0, 1` becomes one pair with PID 65534, and then
/// packed greedily from there, which is minimal for any list that fits in half the
/// sequence space (the case for any real loss list).
pub fn pack_nack_pairs(lost: &mut [u16], out: &mut Vec<NackPair>) {
    out.clear();
    lost.sort_unstable();
    let mut n = 0;
    for i in 0..lost.len() {
        let v = lost[i];
        if n == 0 || lost[n - 1] != v {
            lost[n] = v;
            n += 1;
        }
    }
    let distinct = &lost[..n];
    let (Some(&first), Some(&last)) = (distinct.first(), distinct.last()) else {
        return;
    };
    // The gap from the last value round to the first; a single value has the whole circle.
    let mut widest = if n == 1 { 0x1_0000 } else { u32::from(first.wrapping_sub(last)) };
    let mut start = 0;
    for (i, pair) in distinct.windows(2).enumerate() {
        let gap = u32::from(pair[1] - pair[0]);
        if gap > widest {
            widest = gap;
            start = i + 1;
        }
    }
    let mut current: Option<NackPair> = None;
    for &seq in distinct[start..].iter().chain(&distinct[..start]) {
        if let Some(pair) = current.as_mut() {
            let offset = seq.wrapping_sub(pair.pid);
            if (1..=16).contains(&offset) {
                pair.blp |= 1 << (offset - 1);
                continue;
            }
            out.push(*pair);
        }
        current = Some(NackPair { pid: seq, blp: 0 });
    }
    out.extend(current);
}

/// A borrowed generic NACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nack<'a> {
    fixed: &'a [u8; 8],
    fci: &'a [u8],
}

impl<'a> Nack<'a> {
    /// Decodes the body of an RTPFB packet with FMT 1.
    pub(crate) fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let (fixed, fci) =
            body.split_first_chunk::<8>().ok_or(Error::Truncated("NACK feedback header"))?;
        // RFC 4585 §6.2.1: the FCI "MUST contain at least one" generic NACK.
        if fci.is_empty() {
            return Err(Error::Malformed("NACK without any (PID, BLP) pair"));
        }
        if fci.len() % 4 != 0 {
            return Err(Error::BadLength("NACK FCI not a whole number of pairs"));
        }
        Ok(Self { fixed, fci })
    }

    /// SSRC of the packet sender.
    pub fn sender_ssrc(&self) -> u32 {
        array_u32(self.fixed, 0)
    }

    /// SSRC of the media source whose packets were lost.
    pub fn media_ssrc(&self) -> u32 {
        array_u32(self.fixed, 4)
    }

    /// The (PID, BLP) pairs as sent.
    pub fn pairs(&self) -> NackPairs<'a> {
        NackPairs { rest: self.fci }
    }

    /// Every lost sequence number, pair by pair (a number twice if two pairs overlap).
    pub fn lost_sequence_numbers(&self) -> NackLost<'a> {
        NackLost { pairs: self.pairs(), current: None }
    }
}

/// The (PID, BLP) pairs of a NACK.
#[derive(Debug, Clone)]
pub struct NackPairs<'a> {
    rest: &'a [u8],
}

impl Iterator for NackPairs<'_> {
    type Item = NackPair;

    fn next(&mut self) -> Option<NackPair> {
        let (&[p0, p1, b0, b1], rest) = self.rest.split_first_chunk::<4>()?;
        self.rest = rest;
        Some(NackPair { pid: u16::from_be_bytes([p0, p1]), blp: u16::from_be_bytes([b0, b1]) })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.rest.len() / 4;
        (n, Some(n))
    }
}

impl ExactSizeIterator for NackPairs<'_> {}
impl FusedIterator for NackPairs<'_> {}

/// The lost sequence numbers of a NACK, expanded from its pairs.
#[derive(Debug, Clone)]
pub struct NackLost<'a> {
    pairs: NackPairs<'a>,
    current: Option<NackPairSequenceNumbers>,
}

impl Iterator for NackLost<'_> {
    type Item = u16;

    fn next(&mut self) -> Option<u16> {
        loop {
            if let Some(seq) = self.current.as_mut().and_then(Iterator::next) {
                return Some(seq);
            }
            self.current = Some(self.pairs.next()?.sequence_numbers());
        }
    }
}

impl FusedIterator for NackLost<'_> {}

/// Writes a generic NACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NackBuilder<'a> {
    /// SSRC of the packet sender.
    pub sender_ssrc: u32,
    /// SSRC of the media source whose packets were lost.
    pub media_ssrc: u32,
    /// At least one pair, e.g. from [`pack_nack_pairs`].
    pub pairs: &'a [NackPair],
}

impl Encode for NackBuilder<'_> {
    fn encoded_len(&self) -> usize {
        HEADER_LEN + 8 + self.pairs.len().saturating_mul(4)
    }

    fn write_to(&self, buf: &mut [u8]) -> Result<usize, Error> {
        if self.pairs.is_empty() {
            return Err(Error::InvalidInput("NACK without any (PID, BLP) pair"));
        }
        let len = self.encoded_len();
        check_room(buf, len)?;
        let mut w = Cursor::new(buf);
        put_header(&mut w, RTPFB_NACK, PacketType::RTPFB, len)?;
        w.put_u32(self.sender_ssrc)?;
        w.put_u32(self.media_ssrc)?;
        for pair in self.pairs {
            w.put_u16(pair.pid)?;
            w.put_u16(pair.blp)?;
        }
        Ok(w.pos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CompoundIter, Packet};
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn parse_one(bytes: &[u8]) -> Nack<'_> {
        match CompoundIter::new(bytes).next() {
            Some(Ok(Packet::Nack(nack))) => nack,
            other => panic!("expected a NACK, got {other:?}"),
        }
    }

    /// Laid out from RFC 4585 §6.1 and §6.2.1: two pairs.
    const NACK: [u8; 20] = [
        0x81, 205, 0x00, 0x04, // V=2, FMT=1, PT=RTPFB, length 4
        0x00, 0x00, 0x00, 0x01, // SSRC of packet sender
        0x00, 0x00, 0x00, 0x02, // SSRC of media source
        0x00, 0x64, 0x80, 0x05, // PID 100, BLP: 101, 103, 116
        0xff, 0xff, 0x00, 0x01, // PID 65535, BLP: 0
    ];

    #[test]
    fn parses_and_writes_the_rfc_layout() {
        let nack = parse_one(&NACK);
        assert_eq!(nack.sender_ssrc(), 1);
        assert_eq!(nack.media_ssrc(), 2);
        let pairs: Vec<_> = nack.pairs().collect();
        assert_eq!(pairs, [NackPair { pid: 100, blp: 0x8005 }, NackPair { pid: 65535, blp: 1 }]);
        assert_eq!(
            nack.lost_sequence_numbers().collect::<Vec<_>>(),
            [100, 101, 103, 116, 65535, 0]
        );
        let mut buf = [0u8; 20];
        let b = NackBuilder { sender_ssrc: 1, media_ssrc: 2, pairs: &pairs };
        assert_eq!(b.write_to(&mut buf), Ok(20));
        assert_eq!(buf, NACK);
    }

    #[test]
    fn packs_across_the_wrap() {
        let mut out = Vec::new();
        pack_nack_pairs(&mut [1, 65535, 0, 65534, 0, 1], &mut out);
        assert_eq!(out, [NackPair { pid: 65534, blp: 0b111 }]);
        pack_nack_pairs(&mut [], &mut out);
        assert!(out.is_empty());
        pack_nack_pairs(&mut [7], &mut out);
        assert_eq!(out, [NackPair { pid: 7, blp: 0 }]);
        // 17 apart: PID + 16 is the last one a pair holds.
        pack_nack_pairs(&mut [10, 26, 27], &mut out);
        assert_eq!(out, [NackPair { pid: 10, blp: 0x8000 }, NackPair { pid: 27, blp: 0 }]);
    }

    #[test]
    fn rejects_empty_and_ragged_fci() {
        let empty = [0x81, 205, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2];
        assert!(matches!(CompoundIter::new(&empty).next(), Some(Err(Error::Malformed(_)))));
        // Padding leaves half a pair.
        let ragged = [0xa1, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0, 2];
        assert!(matches!(CompoundIter::new(&ragged).next(), Some(Err(Error::BadLength(_)))));
        let mut buf = [0u8; 16];
        assert!(matches!(NackBuilder::default().write_to(&mut buf), Err(Error::InvalidInput(_))));
    }

    /// The fewest pairs covering `values`, by trying every subset of PIDs (small lists only).
    fn brute_force_minimum(values: &[u16]) -> usize {
        let n = values.len();
        (0u32..1 << n)
            .filter(|mask| {
                values.iter().all(|&v| {
                    (0..n).any(|i| mask & (1 << i) != 0 && v.wrapping_sub(values[i]) <= 16)
                })
            })
            .map(u32::count_ones)
            .min()
            .unwrap_or(0) as usize
    }

    proptest! {
        #[test]
        fn list_to_pairs_to_list(
            base in prop_oneof![any::<u16>(), 63_000u16..=65_535],
            offsets in proptest::collection::vec(0u16..2000, 0..300),
        ) {
            let mut lost: Vec<u16> = offsets.iter().map(|o| base.wrapping_add(*o)).collect();
            let want: BTreeSet<u16> = lost.iter().copied().collect();
            let mut pairs = Vec::new();
            pack_nack_pairs(&mut lost, &mut pairs);
            let mut got = BTreeSet::new();
            for pair in &pairs {
                for seq in pair.sequence_numbers() {
                    prop_assert!(got.insert(seq), "{} reported twice", seq);
                }
            }
            prop_assert_eq!(&got, &want);
            if !pairs.is_empty() {
                let b = NackBuilder { sender_ssrc: 3, media_ssrc: 4, pairs: &pairs };
                let mut buf = vec![0u8; b.encoded_len()];
                prop_assert_eq!(b.write_to(&mut buf), Ok(buf.len()));
                let nack = parse_one(&buf);
                prop_assert_eq!(nack.pairs().collect::<Vec<_>>(), pairs);
                prop_assert_eq!(nack.lost_sequence_numbers().collect::<BTreeSet<_>>(), want);
            }
        }

        #[test]
        fn pairs_are_minimal(
            base in prop_oneof![any::<u16>(), 65_470u16..=65_535],
            offsets in proptest::collection::btree_set(0u16..60, 1..12),
        ) {
            let values: Vec<u16> = offsets.iter().map(|o| base.wrapping_add(*o)).collect();
            let mut lost = values.clone();
            let mut pairs = Vec::new();
            pack_nack_pairs(&mut lost, &mut pairs);
            prop_assert_eq!(pairs.len(), brute_force_minimum(&values));
        }

        #[test]
        fn round_trip(
            sender_ssrc in any::<u32>(),
            media_ssrc in any::<u32>(),
            raw in proptest::collection::vec(any::<(u16, u16)>(), 1..100),
        ) {
            let pairs: Vec<_> = raw.iter().map(|&(pid, blp)| NackPair { pid, blp }).collect();
            let b = NackBuilder { sender_ssrc, media_ssrc, pairs: &pairs };
            let mut buf = vec![0u8; b.encoded_len()];
            prop_assert_eq!(b.write_to(&mut buf), Ok(buf.len()));
            let nack = parse_one(&buf);
            prop_assert_eq!(nack.sender_ssrc(), sender_ssrc);
            prop_assert_eq!(nack.media_ssrc(), media_ssrc);
            prop_assert_eq!(nack.pairs().collect::<Vec<_>>(), pairs);
        }
    }
}
