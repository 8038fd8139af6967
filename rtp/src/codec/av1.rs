//! AV1 payloads ("RTP Payload Format For AV1", AOMedia, §4.4 aggregation header, §4.5 OBU
//! elements) and the OBU header (AV1 bitstream specification §5.3).
//!
//! ```text
//! aggregation header:   OBU header:          OBU extension header:
//! +-+-+-+-+-+-+-+-+     +-+-+-+-+-+-+-+-+     +-+-+-+-+-+-+-+-+
//! |Z|Y| W |N|-|-|-|     |F| type  |X|S|-|     | TID |SID|-|-|-|
//! +-+-+-+-+-+-+-+-+     +-+-+-+-+-+-+-+-+     +-+-+-+-+-+-+-+-+
//! ```
//! W = 0: every OBU element is preceded by a LEB128 length. W = 1..3: that many elements, all
//! but the last preceded by a length, the last running to the end of the payload.

use super::Reader;
use crate::Error;

/// An OBU type (AV1 §6.2.2); open so reserved values are representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObuType(pub u8);

impl ObuType {
    /// OBU_SEQUENCE_HEADER.
    pub const SEQUENCE_HEADER: Self = Self(1);
    /// OBU_TEMPORAL_DELIMITER.
    pub const TEMPORAL_DELIMITER: Self = Self(2);
    /// OBU_FRAME_HEADER.
    pub const FRAME_HEADER: Self = Self(3);
    /// OBU_TILE_GROUP.
    pub const TILE_GROUP: Self = Self(4);
    /// OBU_METADATA.
    pub const METADATA: Self = Self(5);
    /// OBU_FRAME.
    pub const FRAME: Self = Self(6);
    /// OBU_REDUNDANT_FRAME_HEADER.
    pub const REDUNDANT_FRAME_HEADER: Self = Self(7);
    /// OBU_TILE_LIST.
    pub const TILE_LIST: Self = Self(8);
    /// OBU_PADDING.
    pub const PADDING: Self = Self(15);
}

/// What an AV1 payload says about its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Av1Info {
    /// Z = 0: the payload starts with the beginning of an OBU.
    pub start_of_frame: bool,
    /// The packet begins a new coded video sequence (N = 1) and carries a sequence header.
    pub keyframe: bool,
    /// Z: the first element continues an OBU from the previous packet.
    pub continues_previous: bool,
    /// Y: the last element continues in the next packet.
    pub continues_next: bool,
    /// N: the first packet of a coded video sequence.
    pub new_coded_video_sequence: bool,
    /// Number of OBU elements in the payload.
    pub obu_count: usize,
    /// A sequence header OBU begins in this packet.
    pub has_sequence_header: bool,
    /// Type of the first OBU that begins in this packet.
    pub first_obu_type: Option<ObuType>,
    /// Temporal id of the first OBU with an extension header.
    pub temporal_id: Option<u8>,
    /// Spatial id of the first OBU with an extension header.
    pub spatial_id: Option<u8>,
}

/// Reads an unsigned LEB128 value of at most 8 octets (AV1 §4.10.5).
fn leb128(r: &mut Reader<'_>) -> Result<u64, Error> {
    let mut value = 0u64;
    for i in 0..8 {
        let b = r.u8("AV1 OBU element length")?;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(Error::Malformed("AV1 LEB128 longer than 8 octets"))
}

/// Reads the aggregation header and the header of every OBU that begins in the payload.
pub fn inspect(payload: &[u8]) -> Result<Av1Info, Error> {
    let mut r = Reader::new(payload);
    let agg = r.u8("AV1 aggregation header")?;
    let z = agg & 0x80 != 0;
    let w = usize::from((agg >> 4) & 0x03);
    let mut info = Av1Info {
        start_of_frame: !z,
        keyframe: false,
        continues_previous: z,
        continues_next: agg & 0x40 != 0,
        new_coded_video_sequence: agg & 0x08 != 0,
        obu_count: 0,
        has_sequence_header: false,
        first_obu_type: None,
        temporal_id: None,
        spatial_id: None,
    };
    while !r.rest().is_empty() {
        let last = w != 0 && info.obu_count + 1 == w;
        let len = if last {
            r.rest().len()
        } else {
            usize::try_from(leb128(&mut r)?).map_err(|_| Error::Truncated("AV1 OBU element"))?
        };
        let element = r.take(len, "AV1 OBU element")?;
        let continuation = info.obu_count == 0 && z;
        if !continuation {
            if let Some(&header) = element.first() {
                obu_header(header, element.get(1).copied(), &mut info)?;
            }
        }
        info.obu_count += 1;
        if last {
            break;
        }
    }
    if info.obu_count == 0 {
        return Err(Error::Truncated("AV1 payload without OBU elements"));
    }
    if w != 0 && info.obu_count < w {
        return Err(Error::Truncated("AV1 payload with fewer OBU elements than W"));
    }
    info.keyframe = info.new_coded_video_sequence && info.has_sequence_header;
    Ok(info)
}

/// Records one OBU header (AV1 §5.3.2, §5.3.3).
fn obu_header(header: u8, next: Option<u8>, info: &mut Av1Info) -> Result<(), Error> {
    if header & 0x80 != 0 {
        return Err(Error::Malformed("AV1 OBU forbidden bit set"));
    }
    let ty = ObuType((header >> 3) & 0x0f);
    if info.first_obu_type.is_none() {
        info.first_obu_type = Some(ty);
    }
    if ty == ObuType::SEQUENCE_HEADER {
        info.has_sequence_header = true;
    }
    if header & 0x04 != 0 {
        let ext = next.ok_or(Error::Truncated("AV1 OBU extension header"))?;
        if info.temporal_id.is_none() {
            info.temporal_id = Some(ext >> 5);
            info.spatial_id = Some((ext >> 3) & 0x03);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OBU header octets: type << 3, optional extension flag.
    const SEQ_HDR: u8 = 0x08;
    const FRAME: u8 = 0x30;
    const FRAME_WITH_EXT: u8 = 0x34;

    #[test]
    fn keyframe_with_sequence_header_w2() {
        // Z=0 Y=0 W=2 N=1; element 1 (length 3): sequence header; element 2 (rest): frame.
        let p = [0x28, 0x03, SEQ_HDR, 0x00, 0x00, FRAME, 0x11, 0x22];
        let info = inspect(&p).unwrap();
        assert!(info.start_of_frame && info.keyframe && info.new_coded_video_sequence);
        assert_eq!(info.obu_count, 2);
        assert!(info.has_sequence_header);
        assert_eq!(info.first_obu_type, Some(ObuType::SEQUENCE_HEADER));
    }

    #[test]
    fn w0_elements_all_have_lengths() {
        // W=0: two elements with lengths; the second has an extension header TID 2, SID 1.
        let p = [0x00, 0x02, FRAME, 0xaa, 0x03, FRAME_WITH_EXT, 0x48, 0xbb];
        let info = inspect(&p).unwrap();
        assert_eq!(info.obu_count, 2);
        assert!(!info.keyframe && info.start_of_frame);
        assert_eq!(info.first_obu_type, Some(ObuType::FRAME));
        assert_eq!((info.temporal_id, info.spatial_id), (Some(2), Some(1)));
        // A length running past the end.
        assert!(matches!(inspect(&[0x00, 0x05, FRAME, 0xaa]), Err(Error::Truncated(_))));
    }

    #[test]
    fn continuation_fragments() {
        // Z=1 Y=1 W=1: a middle fragment; its first octet is not an OBU header.
        let info = inspect(&[0xd0, 0xff, 0xee]).unwrap();
        assert!(!info.start_of_frame && info.continues_previous && info.continues_next);
        assert_eq!(info.first_obu_type, None);
        assert!(!info.keyframe);
        // Z=1 W=2: the first element continues, the second begins with a sequence header, but
        // without N it is not a keyframe.
        let info = inspect(&[0xa0, 0x01, 0xff, SEQ_HDR, 0x00]).unwrap();
        assert!(info.has_sequence_header && !info.keyframe);
    }

    #[test]
    fn n_without_sequence_header_is_not_a_keyframe() {
        let info = inspect(&[0x18, FRAME, 0x00]).unwrap();
        assert!(info.new_coded_video_sequence && !info.keyframe);
    }

    #[test]
    fn multi_octet_leb128() {
        // W=0, one element of length 130 (LEB128 0x82 0x01).
        let mut p = vec![0x00, 0x82, 0x01, FRAME];
        p.resize(3 + 130, 0x55);
        assert_eq!(inspect(&p).unwrap().obu_count, 1);
        p.pop();
        assert!(matches!(inspect(&p), Err(Error::Truncated(_))));
        // Nine continuation octets.
        let p = [0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01];
        assert!(matches!(inspect(&p), Err(Error::Malformed(_))));
    }

    #[test]
    fn rejects_malformed() {
        assert!(matches!(inspect(&[]), Err(Error::Truncated(_))));
        assert!(matches!(inspect(&[0x10]), Err(Error::Truncated(_))));
        // W=3 but only two elements.
        assert!(matches!(inspect(&[0x30, 0x01, FRAME, 0x01, FRAME]), Err(Error::Truncated(_))));
        // Forbidden bit.
        assert!(matches!(inspect(&[0x10, 0x80 | FRAME]), Err(Error::Malformed(_))));
        // Extension flag without the extension octet.
        assert!(matches!(inspect(&[0x10, FRAME_WITH_EXT]), Err(Error::Truncated(_))));
    }

    #[test]
    fn empty_elements_are_skipped() {
        let info = inspect(&[0x00, 0x00, 0x01, SEQ_HDR]).unwrap();
        assert_eq!(info.obu_count, 2);
        assert_eq!(info.first_obu_type, Some(ObuType::SEQUENCE_HEADER));
    }
}
