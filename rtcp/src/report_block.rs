//! Reception report blocks, shared by SR and RR (RFC 3550 §6.4.1).
//!
//! ```text
//! +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//! |                 SSRC_1 (SSRC of first source)                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | fraction lost |       cumulative number of packets lost       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           extended highest sequence number received           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      interarrival jitter                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         last SR (LSR)                         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                   delay since last SR (DLSR)                  |
//! +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//! ```

use std::fmt;
use std::iter::FusedIterator;

use crate::util::{array_u32, Cursor};
use crate::Error;

/// Length of one report block.
pub const REPORT_BLOCK_LEN: usize = 24;

/// Largest cumulative loss a 24-bit signed field carries.
const CUMULATIVE_LOST_MAX: i32 = 0x7f_ffff;
/// Smallest cumulative loss a 24-bit signed field carries.
const CUMULATIVE_LOST_MIN: i32 = -0x80_0000;

/// A borrowed reception report block.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ReportBlock<'a> {
    b: &'a [u8; REPORT_BLOCK_LEN],
}

impl<'a> ReportBlock<'a> {
    /// SSRC of the source this block reports on.
    pub fn ssrc(&self) -> u32 {
        array_u32(self.b, 0)
    }

    /// Fraction of packets lost since the previous report, in 1/256 units.
    pub fn fraction_lost(&self) -> u8 {
        self.b[4]
    }

    /// Cumulative number of packets lost: a 24-bit signed value (negative with duplicates).
    pub fn cumulative_lost(&self) -> i32 {
        // Put the 24 bits at the top of an i32 and shift back to sign-extend.
        i32::from_be_bytes([self.b[5], self.b[6], self.b[7], 0]) >> 8
    }

    /// Extended highest sequence number received (cycles in the top 16 bits).
    pub fn extended_highest_sequence(&self) -> u32 {
        array_u32(self.b, 8)
    }

    /// Interarrival jitter in RTP timestamp units.
    pub fn jitter(&self) -> u32 {
        array_u32(self.b, 12)
    }

    /// Middle 32 bits of the NTP timestamp of the last SR received from this source (LSR).
    pub fn last_sr(&self) -> u32 {
        array_u32(self.b, 16)
    }

    /// Delay since that SR was received, in 1/65536 seconds (DLSR).
    pub fn delay_since_last_sr(&self) -> u32 {
        array_u32(self.b, 20)
    }

    /// An owned copy of every field.
    pub fn to_reception_report(&self) -> ReceptionReport {
        ReceptionReport {
            ssrc: self.ssrc(),
            fraction_lost: self.fraction_lost(),
            cumulative_lost: self.cumulative_lost(),
            extended_highest_sequence: self.extended_highest_sequence(),
            jitter: self.jitter(),
            last_sr: self.last_sr(),
            delay_since_last_sr: self.delay_since_last_sr(),
        }
    }
}

impl fmt::Debug for ReportBlock<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_reception_report().fmt(f)
    }
}

/// The report blocks of an SR or RR, in order.
#[derive(Debug, Clone)]
pub struct ReportBlocks<'a> {
    rest: &'a [u8],
}

impl<'a> ReportBlocks<'a> {
    /// `bytes` holds whole blocks; a trailing partial block is never yielded.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }
}

impl<'a> Iterator for ReportBlocks<'a> {
    type Item = ReportBlock<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let (b, rest) = self.rest.split_first_chunk::<REPORT_BLOCK_LEN>()?;
        self.rest = rest;
        Some(ReportBlock { b })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.rest.len() / REPORT_BLOCK_LEN;
        (n, Some(n))
    }
}

impl ExactSizeIterator for ReportBlocks<'_> {}
impl FusedIterator for ReportBlocks<'_> {}

/// An owned reception report block, for writing SR and RR packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReceptionReport {
    /// SSRC of the source reported on.
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256 units.
    pub fraction_lost: u8,
    /// Cumulative packets lost. Written clamped to the 24-bit signed range, as RFC 3550
    /// §A.3 asks ("clamp at 0x7fffff for positive loss or 0x800000 for negative loss").
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_highest_sequence: u32,
    /// Interarrival jitter in RTP timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR (0 if none yet).
    pub last_sr: u32,
    /// Delay since the last SR, in 1/65536 seconds (0 if none yet).
    pub delay_since_last_sr: u32,
}

impl ReceptionReport {
    pub(crate) fn put(&self, w: &mut Cursor<'_>) -> Result<(), Error> {
        let lost = self.cumulative_lost.clamp(CUMULATIVE_LOST_MIN, CUMULATIVE_LOST_MAX);
        let [_, l0, l1, l2] = lost.to_be_bytes();
        w.put_u32(self.ssrc)?;
        w.put_slice(&[self.fraction_lost, l0, l1, l2])?;
        w.put_u32(self.extended_highest_sequence)?;
        w.put_u32(self.jitter)?;
        w.put_u32(self.last_sr)?;
        w.put_u32(self.delay_since_last_sr)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn reception_report() -> impl Strategy<Value = ReceptionReport> {
        (any::<(u32, u8, u32, u32, u32, u32)>(), -0x80_0000i32..=0x7f_ffff).prop_map(
            |((ssrc, fraction_lost, ehs, jitter, lsr, dlsr), cumulative_lost)| ReceptionReport {
                ssrc,
                fraction_lost,
                cumulative_lost,
                extended_highest_sequence: ehs,
                jitter,
                last_sr: lsr,
                delay_since_last_sr: dlsr,
            },
        )
    }

    const BLOCK: [u8; 24] = [
        0x11, 0x22, 0x33, 0x44, // SSRC_1
        0x40, 0xff, 0xff, 0xfe, // fraction lost 64/256, cumulative lost -2
        0x00, 0x01, 0x00, 0x10, // one cycle, highest seq 16
        0x00, 0x00, 0x01, 0x00, // jitter 256
        0xde, 0xad, 0xbe, 0xef, // LSR
        0x00, 0x01, 0x80, 0x00, // DLSR 1.5 s
    ];

    #[test]
    fn reads_every_field() {
        let mut it = ReportBlocks::new(&BLOCK);
        assert_eq!(it.len(), 1);
        let b = it.next().unwrap();
        assert!(it.next().is_none());
        assert_eq!(
            b.to_reception_report(),
            ReceptionReport {
                ssrc: 0x1122_3344,
                fraction_lost: 64,
                cumulative_lost: -2,
                extended_highest_sequence: 0x1_0010,
                jitter: 256,
                last_sr: 0xdead_beef,
                delay_since_last_sr: 0x1_8000,
            }
        );
    }

    #[test]
    fn writes_the_same_bytes() {
        let r = ReportBlocks::new(&BLOCK).next().unwrap().to_reception_report();
        let mut buf = [0u8; 24];
        r.put(&mut Cursor::new(&mut buf)).unwrap();
        assert_eq!(buf, BLOCK);
    }

    #[test]
    fn cumulative_loss_is_clamped_to_24_bits() {
        let mut buf = [0u8; 24];
        for (lost, want) in [
            (i32::MAX, CUMULATIVE_LOST_MAX),
            (i32::MIN, CUMULATIVE_LOST_MIN),
            (0x7f_ffff, 0x7f_ffff),
            (-1, -1),
        ] {
            let r = ReceptionReport { cumulative_lost: lost, ..Default::default() };
            r.put(&mut Cursor::new(&mut buf)).unwrap();
            assert_eq!(ReportBlocks::new(&buf).next().unwrap().cumulative_lost(), want);
        }
    }

    #[test]
    fn partial_block_is_not_yielded() {
        assert_eq!(ReportBlocks::new(&BLOCK[..23]).count(), 0);
    }
}
