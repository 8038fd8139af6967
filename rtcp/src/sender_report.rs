//! Sender report, SR (RFC 3550 §6.4.1).
//!
//! ```text
//!         0                   1                   2                   3
//!         0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//!        +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! header |V=2|P|    RC   |   PT=SR=200   |             length            |
//!        +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!        |                         SSRC of sender                        |
//!        +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//! sender |              NTP timestamp, most significant word             |
//! info   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!        |             NTP timestamp, least significant word             |
//!        +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!        |                         RTP timestamp                         |
//!        +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!        |                     sender's packet count                     |
//!        +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!        |                      sender's octet count                     |
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

/// SSRC plus sender info.
const FIXED_LEN: usize = 24;

/// A borrowed sender report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport<'a> {
    fixed: &'a [u8; FIXED_LEN],
    blocks: &'a [u8],
    extension: &'a [u8],
}

impl<'a> SenderReport<'a> {
    /// Decodes the body of an SR whose header carried `count` report blocks.
    pub(crate) fn parse(count: u8, body: &'a [u8]) -> Result<Self, Error> {
        let (fixed, rest) =
            body.split_first_chunk::<FIXED_LEN>().ok_or(Error::Truncated("SR sender info"))?;
        let (blocks, extension) = rest
            .split_at_checked(usize::from(count) * REPORT_BLOCK_LEN)
            .ok_or(Error::BadLength("SR report count exceeds the packet length"))?;
        Ok(Self { fixed, blocks, extension })
    }

    /// SSRC of the sender.
    pub fn ssrc(&self) -> u32 {
        array_u32(self.fixed, 0)
    }

    /// The 64-bit NTP timestamp (seconds since 1900 in the top 32 bits, fraction below).
    pub fn ntp_timestamp(&self) -> u64 {
        (u64::from(array_u32(self.fixed, 4)) << 32) | u64::from(array_u32(self.fixed, 8))
    }

    /// The middle 32 bits of the NTP timestamp: what a receiver echoes as LSR.
    pub fn compact_ntp(&self) -> u32 {
        // Truncation intended: bits 16..48 of the 64-bit timestamp.
        (self.ntp_timestamp() >> 16) as u32
    }

    /// The RTP timestamp matching the NTP timestamp.
    pub fn rtp_timestamp(&self) -> u32 {
        array_u32(self.fixed, 12)
    }

    /// Packets sent since the start of transmission.
    pub fn packet_count(&self) -> u32 {
        array_u32(self.fixed, 16)
    }

    /// Payload octets sent since the start of transmission.
    pub fn octet_count(&self) -> u32 {
        array_u32(self.fixed, 20)
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

/// Writes a sender report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderReportBuilder<'a> {
    /// SSRC of the sender.
    pub ssrc: u32,
    /// 64-bit NTP timestamp of this report.
    pub ntp_timestamp: u64,
    /// RTP timestamp matching `ntp_timestamp`.
    pub rtp_timestamp: u32,
    /// Packets sent so far.
    pub packet_count: u32,
    /// Payload octets sent so far.
    pub octet_count: u32,
    /// Up to 31 report blocks.
    pub report_blocks: &'a [ReceptionReport],
}

impl Encode for SenderReportBuilder<'_> {
    fn encoded_len(&self) -> usize {
        HEADER_LEN + FIXED_LEN + self.report_blocks.len().saturating_mul(REPORT_BLOCK_LEN)
    }

    fn write_to(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let count = u8::try_from(self.report_blocks.len())
            .ok()
            .filter(|c| *c <= 31)
            .ok_or(Error::InvalidInput("more than 31 report blocks in an SR"))?;
        let len = self.encoded_len();
        check_room(buf, len)?;
        let mut w = Cursor::new(buf);
        put_header(&mut w, count, PacketType::SR, len)?;
        w.put_u32(self.ssrc)?;
        w.put_u64(self.ntp_timestamp)?;
        w.put_u32(self.rtp_timestamp)?;
        w.put_u32(self.packet_count)?;
        w.put_u32(self.octet_count)?;
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

    /// An SR laid out field by field from the RFC 3550 §6.4.1 diagram: one report block.
    const SR: [u8; 52] = [
        0x81, 200, 0x00, 0x0c, // V=2, P=0, RC=1, PT=SR, length 12 (52 bytes)
        0x12, 0x34, 0x56, 0x78, // SSRC of sender
        0xe9, 0x3c, 0x0a, 0x1b, // NTP timestamp, most significant word
        0x80, 0x00, 0x00, 0x00, // NTP timestamp, least significant word (0.5 s)
        0x00, 0x01, 0xe2, 0x40, // RTP timestamp 123456
        0x00, 0x00, 0x03, 0xe8, // sender's packet count 1000
        0x00, 0x0f, 0x42, 0x40, // sender's octet count 1000000
        0x9a, 0xbc, 0xde, 0xf0, // SSRC_1
        0x05, 0x00, 0x00, 0x07, // fraction lost 5, cumulative lost 7
        0x00, 0x00, 0x27, 0x10, // extended highest sequence number 10000
        0x00, 0x00, 0x00, 0x2a, // interarrival jitter 42
        0x0a, 0x1b, 0x80, 0x00, // LSR
        0x00, 0x00, 0x40, 0x00, // DLSR 0.25 s
    ];

    fn parse_one(bytes: &[u8]) -> SenderReport<'_> {
        match CompoundIter::new(bytes).next() {
            Some(Ok(Packet::SenderReport(sr))) => sr,
            other => panic!("expected an SR, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_rfc_layout() {
        let sr = parse_one(&SR);
        assert_eq!(sr.ssrc(), 0x1234_5678);
        assert_eq!(sr.ntp_timestamp(), 0xe93c_0a1b_8000_0000);
        assert_eq!(sr.compact_ntp(), 0x0a1b_8000);
        assert_eq!(sr.rtp_timestamp(), 123_456);
        assert_eq!(sr.packet_count(), 1000);
        assert_eq!(sr.octet_count(), 1_000_000);
        assert!(sr.extension().is_empty());
        let blocks: Vec<_> = sr.report_blocks().map(|b| b.to_reception_report()).collect();
        assert_eq!(
            blocks,
            [ReceptionReport {
                ssrc: 0x9abc_def0,
                fraction_lost: 5,
                cumulative_lost: 7,
                extended_highest_sequence: 10_000,
                jitter: 42,
                last_sr: sr.compact_ntp(),
                delay_since_last_sr: 0x4000,
            }]
        );
    }

    #[test]
    fn writes_the_rfc_layout() {
        let sr = parse_one(&SR);
        let blocks: Vec<_> = sr.report_blocks().map(|b| b.to_reception_report()).collect();
        let b = SenderReportBuilder {
            ssrc: sr.ssrc(),
            ntp_timestamp: sr.ntp_timestamp(),
            rtp_timestamp: sr.rtp_timestamp(),
            packet_count: sr.packet_count(),
            octet_count: sr.octet_count(),
            report_blocks: &blocks,
        };
        let mut buf = [0u8; 52];
        assert_eq!(b.encoded_len(), 52);
        assert_eq!(b.write_to(&mut buf), Ok(52));
        assert_eq!(buf, SR);
        assert_eq!(
            b.write_to(&mut [0u8; 51]),
            Err(Error::BufferTooSmall { needed: 52, available: 51 })
        );
    }

    #[test]
    fn keeps_profile_extensions() {
        let mut bytes = SR.to_vec();
        bytes[3] = 13;
        bytes.extend_from_slice(&[1, 2, 3, 4]);
        assert_eq!(parse_one(&bytes).extension(), &[1, 2, 3, 4]);
    }

    #[test]
    fn rejects_a_count_past_the_length() {
        let mut bytes = SR;
        bytes[0] = 0x82;
        assert!(matches!(CompoundIter::new(&bytes).next(), Some(Err(Error::BadLength(_)))));
        // Too short for the sender info.
        let short = [0x80, 200, 0, 1, 0, 0, 0, 1];
        assert!(matches!(CompoundIter::new(&short).next(), Some(Err(Error::Truncated(_)))));
    }

    #[test]
    fn refuses_32_report_blocks() {
        let blocks = [ReceptionReport::default(); 32];
        let b = SenderReportBuilder { report_blocks: &blocks, ..Default::default() };
        let mut buf = vec![0u8; b.encoded_len()];
        assert!(matches!(b.write_to(&mut buf), Err(Error::InvalidInput(_))));
    }

    proptest! {
        #[test]
        fn round_trip(
            fields in any::<(u32, u64, u32, u32, u32)>(),
            blocks in proptest::collection::vec(reception_report(), 0..=31),
        ) {
            let (ssrc, ntp_timestamp, rtp_timestamp, packet_count, octet_count) = fields;
            let b = SenderReportBuilder {
                ssrc, ntp_timestamp, rtp_timestamp, packet_count, octet_count,
                report_blocks: &blocks,
            };
            let mut buf = vec![0u8; b.encoded_len()];
            prop_assert_eq!(b.write_to(&mut buf), Ok(buf.len()));
            let sr = parse_one(&buf);
            prop_assert_eq!(sr.ssrc(), ssrc);
            prop_assert_eq!(sr.ntp_timestamp(), ntp_timestamp);
            prop_assert_eq!(sr.rtp_timestamp(), rtp_timestamp);
            prop_assert_eq!(sr.packet_count(), packet_count);
            prop_assert_eq!(sr.octet_count(), octet_count);
            let parsed: Vec<_> = sr.report_blocks().map(|b| b.to_reception_report()).collect();
            prop_assert_eq!(parsed, blocks);
        }
    }
}
