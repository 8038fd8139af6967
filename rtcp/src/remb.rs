//! Receiver estimated maximum bitrate, REMB: PSFB FMT 15 with the identifier "REMB"
//! (draft-alvestrand-rmcat-remb-03 §2.2).
//!
//! ```text
//!     0                   1                   2                   3
//!     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |V=2|P| FMT=15  |   PT=206      |             length            |
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |                  SSRC of packet sender                        |
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |                  SSRC of media source (0)                     |
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |  Unique identifier 'R' 'E' 'M' 'B'                            |
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |  Num SSRC     | BR Exp    |  BR Mantissa                      |
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |   SSRC feedback                                               |
//!    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!    |  ...                                                          |
//! ```
//!
//! The bitrate is `mantissa << exp` bits per second (18-bit mantissa, 6-bit exponent).

use crate::bye::Ssrcs;
use crate::compound::Encode;
use crate::header::{put_header, PacketType, HEADER_LEN, PSFB_AFB};
use crate::util::{array_u32, check_room, Cursor};
use crate::Error;

/// The unique identifier that marks an AFB packet as REMB.
pub const REMB_IDENTIFIER: [u8; 4] = *b"REMB";

/// Largest mantissa: 18 bits.
const MANTISSA_MAX: u64 = 0x3_ffff;

/// A borrowed REMB packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remb<'a> {
    /// Sender SSRC, media SSRC, "REMB", Num SSRC, exponent and mantissa.
    fixed: &'a [u8; 16],
    ssrcs: &'a [u8],
}

impl<'a> Remb<'a> {
    /// True when the body of a PSFB FMT 15 packet carries the REMB identifier.
    pub(crate) fn is_remb(body: &[u8]) -> bool {
        body.get(8..12) == Some(&REMB_IDENTIFIER[..])
    }

    /// Decodes the body of a PSFB FMT 15 packet that carries the REMB identifier.
    pub(crate) fn parse(body: &'a [u8]) -> Result<Self, Error> {
        let (fixed, ssrcs) =
            body.split_first_chunk::<16>().ok_or(Error::Truncated("REMB bitrate"))?;
        if usize::from(fixed[12]) * 4 != ssrcs.len() {
            return Err(Error::BadLength("REMB SSRC count disagrees with the packet length"));
        }
        let remb = Self { fixed, ssrcs };
        if remb.checked_bitrate().is_none() {
            return Err(Error::Malformed("REMB bitrate does not fit in 64 bits"));
        }
        Ok(remb)
    }

    /// SSRC of the packet sender.
    pub fn sender_ssrc(&self) -> u32 {
        array_u32(self.fixed, 0)
    }

    /// SSRC of media source: always 0 from conforming senders.
    pub fn media_ssrc(&self) -> u32 {
        array_u32(self.fixed, 4)
    }

    /// The 6-bit exponent.
    pub fn exponent(&self) -> u8 {
        self.fixed[13] >> 2
    }

    /// The 18-bit mantissa.
    pub fn mantissa(&self) -> u32 {
        (u32::from(self.fixed[13] & 0x03) << 16)
            | u32::from(u16::from_be_bytes([self.fixed[14], self.fixed[15]]))
    }

    fn checked_bitrate(&self) -> Option<u64> {
        let mantissa = u64::from(self.mantissa());
        let exp = u32::from(self.exponent());
        let bitrate = mantissa.checked_shl(exp)?;
        (bitrate >> exp == mantissa).then_some(bitrate)
    }

    /// The estimated maximum bitrate in bits per second, `mantissa << exponent`.
    pub fn bitrate_bps(&self) -> u64 {
        // Checked at parse time to fit in 64 bits.
        self.checked_bitrate().unwrap_or(u64::MAX)
    }

    /// The SSRCs the estimate applies to.
    pub fn ssrcs(&self) -> Ssrcs<'a> {
        Ssrcs::new(self.ssrcs)
    }
}

/// Writes a REMB packet. The media SSRC field is written as 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RembBuilder<'a> {
    /// SSRC of the packet sender.
    pub sender_ssrc: u32,
    /// Estimated maximum bitrate in bits per second. Rounded down to what an 18-bit
    /// mantissa holds (the smallest exponent that fits is used).
    pub bitrate_bps: u64,
    /// Up to 255 SSRCs the estimate applies to.
    pub ssrcs: &'a [u32],
}

impl RembBuilder<'_> {
    /// The (exponent, mantissa) the bitrate is written as.
    pub fn exponent_and_mantissa(&self) -> (u8, u32) {
        let mut exp = 0u8;
        while (self.bitrate_bps >> exp) > MANTISSA_MAX {
            exp += 1;
        }
        // The loop leaves a mantissa of at most 18 bits.
        (exp, u32::try_from(self.bitrate_bps >> exp).unwrap_or(0x3_ffff))
    }
}

impl Encode for RembBuilder<'_> {
    fn encoded_len(&self) -> usize {
        HEADER_LEN + 16 + self.ssrcs.len().saturating_mul(4)
    }

    fn write_to(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let count = u8::try_from(self.ssrcs.len())
            .map_err(|_| Error::InvalidInput("more than 255 SSRCs in a REMB"))?;
        let len = self.encoded_len();
        check_room(buf, len)?;
        let (exp, mantissa) = self.exponent_and_mantissa();
        let [_, m0, m1, m2] = mantissa.to_be_bytes();
        let mut w = Cursor::new(buf);
        put_header(&mut w, PSFB_AFB, PacketType::PSFB, len)?;
        w.put_u32(self.sender_ssrc)?;
        w.put_u32(0)?;
        w.put_slice(&REMB_IDENTIFIER)?;
        w.put_slice(&[count, (exp << 2) | (m0 & 0x03), m1, m2])?;
        for ssrc in self.ssrcs {
            w.put_u32(*ssrc)?;
        }
        Ok(w.pos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CompoundIter, Packet};
    use proptest::prelude::*;

    fn parse_one(bytes: &[u8]) -> Remb<'_> {
        match CompoundIter::new(bytes).next() {
            Some(Ok(Packet::Remb(remb))) => remb,
            other => panic!("expected a REMB, got {other:?}"),
        }
    }

    /// The REMB vector of libwebrtc's `remb_unittest.cc`: 0x3fb93 << 1 = 522022 bps for
    /// three SSRCs.
    const REMB: [u8; 32] = [
        0x8f, 206, 0x00, 0x07, 0x12, 0x34, 0x56, 0x78, // header, sender SSRC
        0x00, 0x00, 0x00, 0x00, b'R', b'E', b'M', b'B', // media SSRC 0, identifier
        0x03, 0x07, 0xfb, 0x93, 0x23, 0x45, 0x67, 0x89, // 3 SSRCs, exp 1, mantissa 0x3fb93
        0x23, 0x45, 0x67, 0x8a, 0x23, 0x45, 0x67, 0x8b,
    ];
    const SSRCS: [u32; 3] = [0x2345_6789, 0x2345_678a, 0x2345_678b];

    #[test]
    fn parses_and_writes_the_reference_vector() {
        let remb = parse_one(&REMB);
        assert_eq!(remb.sender_ssrc(), 0x1234_5678);
        assert_eq!(remb.media_ssrc(), 0);
        assert_eq!(remb.exponent(), 1);
        assert_eq!(remb.mantissa(), 0x3fb93);
        assert_eq!(remb.bitrate_bps(), 522_022);
        assert_eq!(remb.ssrcs().collect::<Vec<_>>(), SSRCS);
        let b = RembBuilder { sender_ssrc: 0x1234_5678, bitrate_bps: 522_022, ssrcs: &SSRCS };
        let mut buf = [0u8; 32];
        assert_eq!(b.write_to(&mut buf), Ok(32));
        assert_eq!(buf, REMB);
    }

    #[test]
    fn large_bitrates_survive() {
        let bitrate = 0x3fb93u64 << 30;
        let b = RembBuilder { sender_ssrc: 1, bitrate_bps: bitrate, ssrcs: &[] };
        let mut buf = [0u8; 20];
        assert_eq!(b.write_to(&mut buf), Ok(20));
        assert_eq!(parse_one(&buf).bitrate_bps(), bitrate);
        let max = RembBuilder { bitrate_bps: u64::MAX, ..b };
        max.write_to(&mut buf).unwrap();
        assert_eq!(parse_one(&buf).bitrate_bps(), MANTISSA_MAX << 46);
    }

    #[test]
    fn rejects_malformed_rembs() {
        let mut overflow = REMB;
        overflow[17] |= 0xfc; // exponent 63
        overflow[19] |= 0x02;
        assert!(matches!(CompoundIter::new(&overflow).next(), Some(Err(Error::Malformed(_)))));
        let mut count = REMB;
        count[16] = 4;
        assert!(matches!(CompoundIter::new(&count).next(), Some(Err(Error::BadLength(_)))));
        // Identifier present, bitrate word missing.
        let short = [0x8f, 206, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, b'R', b'E', b'M', b'B'];
        assert!(matches!(CompoundIter::new(&short).next(), Some(Err(Error::Truncated(_)))));
    }

    #[test]
    fn other_afb_is_unknown() {
        let mut other = REMB;
        other[12] = b'N';
        match CompoundIter::new(&other).next() {
            Some(Ok(Packet::Unknown { packet_type, count, body })) => {
                assert_eq!((packet_type, count, body.len()), (PacketType::PSFB, 15, 28));
            }
            got => panic!("expected an unknown AFB, got {got:?}"),
        }
    }

    proptest! {
        #[test]
        fn round_trip(
            sender_ssrc in any::<u32>(),
            bitrate_bps in any::<u64>(),
            ssrcs in proptest::collection::vec(any::<u32>(), 0..=255),
        ) {
            let b = RembBuilder { sender_ssrc, bitrate_bps, ssrcs: &ssrcs };
            let mut buf = vec![0u8; b.encoded_len()];
            prop_assert_eq!(b.write_to(&mut buf), Ok(buf.len()));
            let remb = parse_one(&buf);
            let (exp, mantissa) = b.exponent_and_mantissa();
            prop_assert_eq!(remb.sender_ssrc(), sender_ssrc);
            prop_assert_eq!((remb.exponent(), remb.mantissa()), (exp, mantissa));
            // What is lost is below the exponent, and only when the mantissa overflowed.
            let rounded = remb.bitrate_bps();
            prop_assert_eq!(rounded, (bitrate_bps >> exp) << exp);
            if bitrate_bps <= MANTISSA_MAX {
                prop_assert_eq!(rounded, bitrate_bps);
            } else {
                prop_assert!(u64::from(mantissa) > MANTISSA_MAX / 2);
            }
            prop_assert_eq!(remb.ssrcs().collect::<Vec<_>>(), ssrcs);
        }
    }
}
