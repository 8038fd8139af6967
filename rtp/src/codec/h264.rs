//! H.264 payloads (RFC 6184): single NAL unit packets (types 1-23), STAP-A (24) and FU-A (28),
//! the packetization modes 0 and 1 WebRTC uses.
//!
//! ```text
//! NAL unit header:    STAP-A:                          FU-A:
//! +---------------+   +---------------+-----------...  +---------------+---------------+
//! |F|NRI|  Type   |   |F|NRI| Type=24 | size | NALU    |F|NRI| Type=28 |S|E|R|  Type   |
//! +---------------+   +---------------+------+-----...  +---------------+---------------+
//! ```

use super::Reader;
use crate::Error;

/// A NAL unit type (H.264 Table 7-1, RFC 6184 Table 3); open so any value is representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NalUnitType(pub u8);

impl NalUnitType {
    /// Coded slice of a non-IDR picture.
    pub const SLICE: Self = Self(1);
    /// Coded slice data partition A.
    pub const SLICE_PARTITION_A: Self = Self(2);
    /// Coded slice of an IDR picture.
    pub const IDR: Self = Self(5);
    /// Supplemental enhancement information.
    pub const SEI: Self = Self(6);
    /// Sequence parameter set.
    pub const SPS: Self = Self(7);
    /// Picture parameter set.
    pub const PPS: Self = Self(8);
    /// Access unit delimiter.
    pub const AUD: Self = Self(9);
    /// Single-time aggregation packet A (RFC 6184 §5.7.1).
    pub const STAP_A: Self = Self(24);
    /// Fragmentation unit A (RFC 6184 §5.8).
    pub const FU_A: Self = Self(28);

    /// The type field of a NAL unit header octet.
    pub fn from_header(header: u8) -> Self {
        Self(header & 0x1f)
    }

    /// Whether a NAL unit of this type may open an access unit: AUD, SPS, PPS, SEI and types
    /// 14-18 (H.264 §7.4.1.2.3), or a slice (checked separately for `first_mb_in_slice == 0`).
    fn opens_access_unit(self) -> bool {
        matches!(self.0, 6..=9 | 14..=18)
    }

    fn is_slice_with_header(self) -> bool {
        matches!(self, Self::SLICE | Self::SLICE_PARTITION_A | Self::IDR)
    }
}

/// How the payload carries NAL units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H264Packetization {
    /// One whole NAL unit.
    SingleNalUnit,
    /// Several whole NAL units (STAP-A).
    StapA {
        /// Number of aggregated NAL units.
        count: usize,
    },
    /// A fragment of one NAL unit (FU-A).
    FuA {
        /// S: the first fragment.
        start: bool,
        /// E: the last fragment.
        end: bool,
    },
}

/// What an H.264 payload says about its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H264Info {
    /// The first NAL unit that begins in this packet can open an access unit: AUD, SPS, PPS,
    /// SEI, or a slice with `first_mb_in_slice == 0`. A picture whose parameter sets travelled
    /// in an earlier packet of the same timestamp is reported again at its first slice, so
    /// callers tracking frames combine this with a timestamp change.
    pub start_of_frame: bool,
    /// The packet begins a key frame: it carries an SPS, or the start of an IDR slice with
    /// `first_mb_in_slice == 0`.
    pub keyframe: bool,
    /// An SPS (7) is in the packet.
    pub has_sps: bool,
    /// A PPS (8) is in the packet.
    pub has_pps: bool,
    /// An IDR slice (5), whole or a fragment, is in the packet.
    pub has_idr: bool,
    /// Type of the first NAL unit carried (for FU-A, the fragmented unit's type).
    pub nal_unit_type: NalUnitType,
    /// The packetization.
    pub packetization: H264Packetization,
}

/// Whether the slice whose header starts with `first_octet` has `first_mb_in_slice == 0`: the
/// field is the first ue(v) of the slice header, and ue(v) 0 is the single bit 1 (H.264 §9.1).
fn first_mb_is_zero(first_octet: Option<u8>) -> bool {
    first_octet.is_some_and(|b| b & 0x80 != 0)
}

impl H264Info {
    fn new(nal_unit_type: NalUnitType, packetization: H264Packetization) -> Self {
        Self {
            start_of_frame: false,
            keyframe: false,
            has_sps: false,
            has_pps: false,
            has_idr: false,
            nal_unit_type,
            packetization,
        }
    }

    /// Records one NAL unit. `begins` tells whether its first octets are in this packet (false
    /// for FU-A continuation fragments); `slice_octet` is the octet after the NAL header.
    fn visit(
        &mut self,
        ty: NalUnitType,
        begins: bool,
        first_in_packet: bool,
        slice_octet: Option<u8>,
    ) {
        match ty {
            NalUnitType::SPS => {
                self.has_sps = true;
                self.keyframe = true;
            }
            NalUnitType::PPS => self.has_pps = true,
            NalUnitType::IDR => {
                self.has_idr = true;
                if begins && first_mb_is_zero(slice_octet) {
                    self.keyframe = true;
                }
            }
            _ => {}
        }
        if first_in_packet && begins {
            self.start_of_frame = ty.opens_access_unit()
                || (ty.is_slice_with_header() && first_mb_is_zero(slice_octet));
        }
    }
}

/// Checks the type of a NAL unit carried whole or fragmented: only 1-23 are NAL units; the
/// others are packet types and cannot nest (RFC 6184 §5.7.1, §5.8).
fn check_inner_type(ty: NalUnitType) -> Result<(), Error> {
    match ty.0 {
        1..=23 => Ok(()),
        _ => Err(Error::Malformed("H.264 aggregated or fragmented NAL unit type outside 1-23")),
    }
}

/// Checks the type of the payload's own header (RFC 6184 Table 3).
fn check_packet_type(ty: NalUnitType) -> Result<(), Error> {
    match ty.0 {
        1..=24 | 28 => Ok(()),
        // STAP-B, MTAP16, MTAP24 and FU-B belong to the interleaved mode (RFC 6184 §5.2).
        25..=27 | 29 => Err(Error::Unsupported("H.264 interleaved packetization")),
        _ => Err(Error::Malformed("H.264 reserved NAL unit type")),
    }
}

/// Reads the NAL unit headers of one H.264 RTP payload.
pub fn inspect(payload: &[u8]) -> Result<H264Info, Error> {
    let mut r = Reader::new(payload);
    let header = r.u8("H.264 NAL unit header")?;
    let packet_type = NalUnitType::from_header(header);
    check_packet_type(packet_type)?;
    match packet_type {
        NalUnitType::STAP_A => {
            // RFC 6184 §5.7.1: 16-bit size, then the NAL unit, repeated to the end.
            let mut info = H264Info::new(NalUnitType(0), H264Packetization::StapA { count: 0 });
            let mut count = 0;
            while !r.rest().is_empty() {
                let size = usize::from(r.u16("STAP-A NAL unit size")?);
                let nal = r.take(size, "STAP-A NAL unit")?;
                let (&nal_header, body) =
                    nal.split_first().ok_or(Error::Malformed("STAP-A NAL unit of size 0"))?;
                let ty = NalUnitType::from_header(nal_header);
                check_inner_type(ty)?;
                if count == 0 {
                    info.nal_unit_type = ty;
                }
                info.visit(ty, true, count == 0, body.first().copied());
                count += 1;
            }
            if count == 0 {
                return Err(Error::Truncated("STAP-A without NAL units"));
            }
            info.packetization = H264Packetization::StapA { count };
            Ok(info)
        }
        NalUnitType::FU_A => {
            // RFC 6184 §5.8.
            let fu = r.u8("FU-A header")?;
            let (start, end) = (fu & 0x80 != 0, fu & 0x40 != 0);
            if start && end {
                return Err(Error::Malformed("FU-A with both S and E set"));
            }
            let ty = NalUnitType::from_header(fu);
            check_inner_type(ty)?;
            let mut info = H264Info::new(ty, H264Packetization::FuA { start, end });
            info.visit(ty, start, true, r.rest().first().copied());
            Ok(info)
        }
        ty => {
            let mut info = H264Info::new(ty, H264Packetization::SingleNalUnit);
            info.visit(ty, true, true, r.rest().first().copied());
            Ok(info)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Parameter sets and slices as a browser sends them (constrained baseline).
    const SPS: [u8; 9] = [0x67, 0x42, 0xc0, 0x1f, 0x8c, 0x8d, 0x40, 0x50, 0x1e];
    const PPS: [u8; 4] = [0x68, 0xce, 0x3c, 0x80];
    /// IDR slice, first_mb_in_slice = 0 (first bit 1).
    const IDR_START: [u8; 4] = [0x65, 0x88, 0x84, 0x00];
    /// IDR slice, first_mb_in_slice = 1 (ue(v) "010").
    const IDR_LATER: [u8; 4] = [0x65, 0x40, 0x84, 0x00];
    /// Non-IDR slice, first_mb_in_slice = 0.
    const P_SLICE: [u8; 4] = [0x41, 0x9a, 0x02, 0x03];

    fn stap_a(nals: &[&[u8]]) -> Vec<u8> {
        // RFC 6184 §5.7.1 Figure 7: STAP-A header (F=0, NRI from the units, type 24).
        let mut p = vec![0x78];
        for nal in nals {
            p.extend_from_slice(&(nal.len() as u16).to_be_bytes());
            p.extend_from_slice(nal);
        }
        p
    }

    #[test]
    fn single_nal_units() {
        let sps = inspect(&SPS).unwrap();
        assert!(sps.keyframe && sps.has_sps && sps.start_of_frame);
        assert_eq!(sps.nal_unit_type, NalUnitType::SPS);
        assert_eq!(sps.packetization, H264Packetization::SingleNalUnit);

        let pps = inspect(&PPS).unwrap();
        assert!(!pps.keyframe && pps.has_pps && pps.start_of_frame);

        let idr = inspect(&IDR_START).unwrap();
        assert!(idr.keyframe && idr.has_idr && idr.start_of_frame);

        let idr_later = inspect(&IDR_LATER).unwrap();
        assert!(!idr_later.keyframe && idr_later.has_idr && !idr_later.start_of_frame);

        let p = inspect(&P_SLICE).unwrap();
        assert!(!p.keyframe && p.start_of_frame && !p.has_idr);

        let aud = inspect(&[0x09, 0xf0]).unwrap();
        assert!(aud.start_of_frame && !aud.keyframe);
    }

    #[test]
    fn stap_a_rfc6184_layout() {
        let p = stap_a(&[&SPS, &PPS, &IDR_START]);
        assert_eq!(&p[..4], &[0x78, 0x00, 0x09, 0x67]);
        let info = inspect(&p).unwrap();
        assert_eq!(info.packetization, H264Packetization::StapA { count: 3 });
        assert!(info.has_sps && info.has_pps && info.has_idr && info.keyframe);
        assert!(info.start_of_frame);
        assert_eq!(info.nal_unit_type, NalUnitType::SPS);

        let info = inspect(&stap_a(&[&[0x06, 0x05, 0x01], &P_SLICE])).unwrap();
        assert!(info.start_of_frame && !info.keyframe);
        assert_eq!(info.nal_unit_type, NalUnitType::SEI);
    }

    #[test]
    fn fu_a_rfc6184_layout() {
        // RFC 6184 §5.8 Figure 14: FU indicator (NRI 3, type 28), FU header (S, type 5).
        let start = [0x7c, 0x85, 0x88, 0x84, 0x00];
        let info = inspect(&start).unwrap();
        assert_eq!(info.packetization, H264Packetization::FuA { start: true, end: false });
        assert_eq!(info.nal_unit_type, NalUnitType::IDR);
        assert!(info.keyframe && info.start_of_frame && info.has_idr);

        let middle = [0x7c, 0x05, 0x11, 0x22];
        let info = inspect(&middle).unwrap();
        assert!(!info.keyframe && !info.start_of_frame && info.has_idr);

        let end = [0x7c, 0x45, 0x11];
        let info = inspect(&end).unwrap();
        assert_eq!(info.packetization, H264Packetization::FuA { start: false, end: true });
        assert!(!info.keyframe);

        let p_start = [0x5c, 0x81, 0x9a];
        let info = inspect(&p_start).unwrap();
        assert!(!info.keyframe && info.start_of_frame);
        assert_eq!(info.nal_unit_type, NalUnitType::SLICE);
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(inspect(&[]), Err(Error::Truncated("H.264 NAL unit header")));
        assert!(matches!(inspect(&[0x7c, 0xc5, 0x00]), Err(Error::Malformed(_))));
        assert!(matches!(inspect(&[0x7c]), Err(Error::Truncated(_))));
        assert!(matches!(inspect(&[0x78]), Err(Error::Truncated(_))));
        assert!(matches!(inspect(&[0x78, 0x00]), Err(Error::Truncated(_))));
        assert!(matches!(inspect(&[0x78, 0x00, 0x00]), Err(Error::Malformed(_))));
        assert!(matches!(inspect(&[0x78, 0x00, 0x05, 0x67]), Err(Error::Truncated(_))));
        assert!(matches!(inspect(&[0x78, 0x00, 0x01, 0x78]), Err(Error::Malformed(_))));
        assert!(matches!(inspect(&[0x00, 0x01]), Err(Error::Malformed(_))));
        assert!(matches!(inspect(&[0x1e]), Err(Error::Malformed(_))));
        assert!(matches!(inspect(&[0x19, 0x00]), Err(Error::Unsupported(_))));
        assert!(matches!(inspect(&[0x7d, 0x85]), Err(Error::Unsupported(_))));
        assert!(matches!(inspect(&[0x7c, 0x9c, 0x00]), Err(Error::Malformed(_))));
    }

    #[test]
    fn stap_a_truncation_at_every_length() {
        let p = stap_a(&[&SPS, &PPS]);
        for cut in 0..p.len() {
            let r = inspect(&p[..cut]);
            // Cutting exactly after the SPS unit leaves a valid STAP-A with one unit.
            if cut == 3 + SPS.len() {
                assert!(r.is_ok());
            } else {
                assert!(r.is_err(), "cut {cut}");
            }
        }
    }
}
