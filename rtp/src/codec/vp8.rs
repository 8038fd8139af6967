//! VP8 payload descriptor and payload header (RFC 7741 §4.2, §4.3).
//!
//! ```text
//!       0 1 2 3 4 5 6 7
//!      +-+-+-+-+-+-+-+-+
//!      |X|R|N|S|R| PID | (REQUIRED)
//!      +-+-+-+-+-+-+-+-+
//! X:   |I|L|T|K| RSV   | (OPTIONAL)
//!      +-+-+-+-+-+-+-+-+
//! I:   |M| PictureID   | (OPTIONAL)
//!      +-+-+-+-+-+-+-+-+
//!      |   PictureID   | (present when M = 1)
//!      +-+-+-+-+-+-+-+-+
//! L:   |   TL0PICIDX   | (OPTIONAL)
//!      +-+-+-+-+-+-+-+-+
//! T/K: |TID|Y| KEYIDX  | (OPTIONAL)
//!      +-+-+-+-+-+-+-+-+
//! ```
//! When S = 1 and PID = 0 the VP8 payload header follows (`|Size0|H| VER |P|` and two size
//! octets); P = 0 marks a key frame, whose uncompressed data chunk carries the start code
//! 0x9d 0x01 0x2a and the frame size (RFC 6386 §9.1).

use super::Reader;
use crate::Error;

/// What a VP8 payload says about its frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Vp8Info {
    /// S = 1 and PID = 0: the packet starts a frame (RFC 7741 §4.2).
    pub start_of_frame: bool,
    /// The packet starts a key frame (payload header P bit 0, RFC 7741 §4.3).
    pub keyframe: bool,
    /// N: the frame is not used as a reference.
    pub non_reference: bool,
    /// S: the packet starts a partition.
    pub start_of_partition: bool,
    /// PID: the partition index.
    pub partition_index: u8,
    /// PictureID, 7 or 15 bits.
    pub picture_id: Option<u16>,
    /// Whether PictureID uses the 15-bit form (M = 1).
    pub long_picture_id: bool,
    /// TL0PICIDX.
    pub tl0_pic_idx: Option<u8>,
    /// TID, when T = 1.
    pub temporal_id: Option<u8>,
    /// Y: layer sync (only meaningful when T = 1).
    pub layer_sync: bool,
    /// KEYIDX, when K = 1.
    pub key_index: Option<u8>,
    /// Length of the payload descriptor; the VP8 payload starts here.
    pub descriptor_len: usize,
    /// Width and height (14 bits each) of a key frame, when the packet holds them.
    pub keyframe_size: Option<(u16, u16)>,
}

/// Start code of a key frame's uncompressed data chunk (RFC 6386 §9.1).
const KEYFRAME_START_CODE: [u8; 3] = [0x9d, 0x01, 0x2a];

/// Reads the payload descriptor and, at the start of a frame, the payload header.
pub fn inspect(payload: &[u8]) -> Result<Vp8Info, Error> {
    let mut r = Reader::new(payload);
    let first = r.u8("VP8 payload descriptor")?;
    let mut info = Vp8Info {
        non_reference: first & 0x20 != 0,
        start_of_partition: first & 0x10 != 0,
        partition_index: first & 0x07,
        ..Vp8Info::default()
    };
    if first & 0x80 != 0 {
        let ext = r.u8("VP8 extension octet")?;
        let (i, l, t, k) = (ext & 0x80 != 0, ext & 0x40 != 0, ext & 0x20 != 0, ext & 0x10 != 0);
        if i {
            let p = r.u8("VP8 PictureID")?;
            if p & 0x80 != 0 {
                let low = r.u8("VP8 15-bit PictureID")?;
                info.picture_id = Some(u16::from(p & 0x7f) << 8 | u16::from(low));
                info.long_picture_id = true;
            } else {
                info.picture_id = Some(u16::from(p));
            }
        }
        if l {
            info.tl0_pic_idx = Some(r.u8("VP8 TL0PICIDX")?);
        }
        // RFC 7741 §4.2: the TID/Y/KEYIDX octet is present when T or K is set.
        if t || k {
            let tk = r.u8("VP8 TID/KEYIDX")?;
            if t {
                info.temporal_id = Some(tk >> 6);
                info.layer_sync = tk & 0x20 != 0;
            }
            if k {
                info.key_index = Some(tk & 0x1f);
            }
        }
    }
    info.descriptor_len = r.pos();
    let body = r.rest();
    if body.is_empty() {
        return Err(Error::Truncated("VP8 payload after the descriptor"));
    }
    info.start_of_frame = info.start_of_partition && info.partition_index == 0;
    if info.start_of_frame {
        // RFC 7741 §4.3: P is the inverse key frame flag.
        info.keyframe = body[0] & 0x01 == 0;
        if info.keyframe {
            // Frame tag (3), start code (3), then 16-bit little-endian width and height whose
            // top two bits are the scale (RFC 6386 §9.1).
            if let Some(chunk) = body.get(3..10) {
                if chunk[..3] == KEYFRAME_START_CODE {
                    let w = u16::from_le_bytes([chunk[3], chunk[4]]) & 0x3fff;
                    let h = u16::from_le_bytes([chunk[5], chunk[6]]) & 0x3fff;
                    info.keyframe_size = Some((w, h));
                }
            }
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 640x480 key frame payload header: frame tag with P = 0, start code, sizes.
    const KEYFRAME_HEADER: [u8; 10] = [0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];

    #[test]
    fn rfc7741_picture_id_examples() {
        // RFC 7741 §4.2 layout: X=1, S=1, PID=0; I=1; M=0, PictureID=17.
        let mut p = vec![0x90, 0x80, 0x11];
        p.extend_from_slice(&KEYFRAME_HEADER);
        let info = inspect(&p).unwrap();
        assert_eq!(info.picture_id, Some(17));
        assert!(!info.long_picture_id);
        assert_eq!(info.descriptor_len, 3);
        assert!(info.start_of_frame);
        assert!(info.keyframe);
        assert_eq!(info.keyframe_size, Some((640, 480)));

        // 15-bit PictureID 4711 = 0x1267: M=1 then 0x12, 0x67.
        let p = [0x90, 0x80, 0x92, 0x67, 0x01, 0x00, 0x00];
        let info = inspect(&p).unwrap();
        assert_eq!(info.picture_id, Some(4711));
        assert!(info.long_picture_id);
        assert_eq!(info.descriptor_len, 4);
        assert!(info.start_of_frame);
        assert!(!info.keyframe, "P=1 is an interframe");
        assert_eq!(info.keyframe_size, None);
    }

    #[test]
    fn all_extension_fields() {
        // X=1, N=1, S=0, PID=2; I, L, T, K all set; PictureID 0x7fff; TL0PICIDX 200;
        // TID=2, Y=1, KEYIDX=5.
        let p = [0xa2, 0xf0, 0xff, 0xff, 200, 0xa5, 0xaa];
        let info = inspect(&p).unwrap();
        assert!(info.non_reference);
        assert!(!info.start_of_partition);
        assert_eq!(info.partition_index, 2);
        assert_eq!(info.picture_id, Some(0x7fff));
        assert_eq!(info.tl0_pic_idx, Some(200));
        assert_eq!(info.temporal_id, Some(2));
        assert!(info.layer_sync);
        assert_eq!(info.key_index, Some(5));
        assert_eq!(info.descriptor_len, 6);
        assert!(!info.start_of_frame);
        assert!(!info.keyframe, "a continuation packet is never the start of a key frame");
    }

    #[test]
    fn k_without_t_still_has_the_octet() {
        let p = [0x80, 0x10, 0x1f, 0x00];
        let info = inspect(&p).unwrap();
        assert_eq!(info.temporal_id, None);
        assert_eq!(info.key_index, Some(31));
        assert_eq!(info.descriptor_len, 3);
    }

    #[test]
    fn start_of_later_partition_is_not_a_frame_start() {
        // S=1 but PID=1: the start of the second partition.
        let info = inspect(&[0x11, 0x00]).unwrap();
        assert!(!info.start_of_frame);
        assert!(!info.keyframe);
    }

    #[test]
    fn minimal_descriptor_keyframe_without_size() {
        let info = inspect(&[0x10, 0x00]).unwrap();
        assert!(info.keyframe);
        assert_eq!(info.keyframe_size, None);
        // A wrong start code leaves the size unknown.
        let info =
            inspect(&[0x10, 0x50, 0x42, 0x00, 0x9d, 0x01, 0x2b, 0x80, 0x02, 0xe0, 0x01]).unwrap();
        assert!(info.keyframe);
        assert_eq!(info.keyframe_size, None);
    }

    #[test]
    fn truncation_is_an_error() {
        let full = [0x90, 0xf0, 0x92, 0x67, 200, 0x40, 0x00];
        for cut in 0..full.len() {
            assert!(matches!(inspect(&full[..cut]), Err(Error::Truncated(_))), "cut {cut}");
        }
        assert!(inspect(&full).is_ok());
    }
}
