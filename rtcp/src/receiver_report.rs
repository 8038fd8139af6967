//! Receiver report, RR (RFC 3550 §6.4.2).
//!
//! ```text
//!         0                   1                   2                   3
//!         0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//!        +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! header |V=2|P|    RC   |   PT=RR=201   |             length            |
//!        +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!        |                     SSRC of packet sender                     |
//!        +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//!        |                 report blocks (RC x 24 bytes)                 |
//!        +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//!        |                  profile-specific extensions                  |
//!        +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use crate::compound::Encode;
use crate::header::{put_header, PacketType, HEADER_LEN};
use crate::report_block::{ReceptionReport, ReportBlocks, REPORT_BLOCK_LEN};
use crate::util::{array_u32, check_room, Cursor};
use crate::Error;

/// A borrowed receiver report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverReport<'a> {
    fixed: &'a [u8; 4],
    blocks: &'a [u8],
    extension: &'a [u8],
}

impl<'a> ReceiverReport<'a> {
    /// Decodes the body of an RR whose header carried `count` report blocks.
    pub(crate) fn parse(count: u8, body: &'a [u8]) -> Result<Self, Error> {
        let (fixed, rest) = body.split_first_chunk::<4>().ok_or(Error::Truncated("RR SSRC"))?;
        let (blocks, extension) = rest
            .split_at_checked(usize::from(count) * REPORT_BLOCK_LEN)
            .ok_or(Error::BadLength("RR report count exceeds the packet length"))?;
        Ok(Self { fixed, blocks, extension })
    }

    /// SSRC of the packet sender.
    pub fn ssrc(&self) -> u32 {
        array_u32(self.fixed, 0)
    }

    /// The reception report blocks.
    pub fn report_blocks(&self) -> ReportBlocks<'a> {
        ReportBlocks::new(self.blocks)
    }

    /// Profile-specific extension bytes after the report blocks (usually empty).
    pub fn extension(&self) -> &'a [u8] {
        self.extension
    }
}

/// Writes a receiver report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReceiverReportBuilder<'a> {
    /// SSRC of the packet sender.
    pub ssrc: u32,
    /// Up to 31 report blocks; an empty RR is valid and often sent first in a compound.
    pub report_blocks: &'a [ReceptionReport],
}

impl Encode for ReceiverReportBuilder<'_> {
    fn encoded_len(&self) -> usize {
        HEADER_LEN + 4 + self.report_blocks.len().saturating_mul(REPORT_BLOCK_LEN)
    }

    fn write_to(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let count = u8::try_from(self.report_blocks.len())
            .ok()
            .filter(|c| *c <= 31)
            .ok_or(Error::InvalidInput("more than 31 report blocks in an RR"))?;
        let len = self.encoded_len();
        check_room(buf, len)?;
        let mut w = Cursor::new(buf);
        put_header(&mut w, count, PacketType::RR, len)?;
        w.put_u32(self.ssrc)?;
        for block in self.report_blocks {
            block.put(&mut w)?;
        }
        Ok(w.pos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report_block::tests::reception_report;
    use crate::{CompoundIter, Packet};
    use proptest::prelude::*;

    fn parse_one(bytes: &[u8]) -> ReceiverReport<'_> {
        match CompoundIter::new(bytes).next() {
            Some(Ok(Packet::ReceiverReport(rr))) => rr,
            other => panic!("expected an RR, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_rfc_layout() {
        let rr: [u8; 32] = [
            0x81, 201, 0x00, 0x07, // V=2, RC=1, PT=RR, length 7
            0x00, 0x00, 0x00, 0x01, // SSRC of packet sender
            0x00, 0x00, 0x00, 0x02, // SSRC_1
            0xff, 0x80, 0x00, 0x00, // fraction lost 255, cumulative lost -0x800000
            0x00, 0x02, 0xff, 0xff, // extended highest sequence number
            0x00, 0x00, 0x00, 0x00, // jitter
            0x00, 0x00, 0x00, 0x00, // LSR
            0x00, 0x00, 0x00, 0x00, // DLSR
        ];
        let parsed = parse_one(&rr);
        assert_eq!(parsed.ssrc(), 1);
        let b = parsed.report_blocks().next().unwrap();
        assert_eq!(b.ssrc(), 2);
        assert_eq!(b.fraction_lost(), 255);
        assert_eq!(b.cumulative_lost(), -0x80_0000);
        assert_eq!(b.extended_highest_sequence(), 0x2_ffff);
        let blocks = [b.to_reception_report()];
        let mut buf = [0u8; 32];
        let built = ReceiverReportBuilder { ssrc: 1, report_blocks: &blocks };
        assert_eq!(built.write_to(&mut buf), Ok(32));
        assert_eq!(buf, rr);
    }

    #[test]
    fn empty_rr_is_eight_bytes() {
        let mut buf = [0u8; 8];
        let n = ReceiverReportBuilder { ssrc: 0xabcd_ef01, report_blocks: &[] }
            .write_to(&mut buf)
            .unwrap();
        assert_eq!(&buf[..n], &[0x80, 201, 0, 1, 0xab, 0xcd, 0xef, 0x01]);
        assert_eq!(parse_one(&buf).report_blocks().len(), 0);
    }

    #[test]
    fn rejects_a_count_past_the_length() {
        let bytes = [0x81, 201, 0, 1, 0, 0, 0, 1];
        assert!(matches!(CompoundIter::new(&bytes).next(), Some(Err(Error::BadLength(_)))));
        let bytes = [0x80, 201, 0, 0];
        assert!(matches!(CompoundIter::new(&bytes).next(), Some(Err(Error::Truncated(_)))));
    }

    proptest! {
        #[test]
        fn round_trip(
            ssrc in any::<u32>(),
            blocks in proptest::collection::vec(reception_report(), 0..=31),
        ) {
            let b = ReceiverReportBuilder { ssrc, report_blocks: &blocks };
            let mut buf = vec![0u8; b.encoded_len()];
            prop_assert_eq!(b.write_to(&mut buf), Ok(buf.len()));
            let rr = parse_one(&buf);
            prop_assert_eq!(rr.ssrc(), ssrc);
            let parsed: Vec<_> = rr.report_blocks().map(|b| b.to_reception_report()).collect();
            prop_assert_eq!(parsed, blocks);
        }
    }
}
