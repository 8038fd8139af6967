//! VP9 payload descriptor (RFC 9628 §4.2) and scalability structure (RFC 9628 §4.2.1).
//!
//! ```text
//!         0 1 2 3 4 5 6 7
//!        +-+-+-+-+-+-+-+-+
//!        |I|P|L|F|B|E|V|Z| (REQUIRED)
//!        +-+-+-+-+-+-+-+-+
//!   I:   |M| PICTURE ID  | (present when I = 1)
//!        +-+-+-+-+-+-+-+-+
//!   M:   | EXTENDED PID  | (present when M = 1)
//!        +-+-+-+-+-+-+-+-+
//!   L:   | TID |U| SID |D| (present when L = 1)
//!        +-+-+-+-+-+-+-+-+
//!        |   TL0PICIDX   | (L = 1 in non-flexible mode, F = 0)
//!        +-+-+-+-+-+-+-+-+                             -\
//!  P,F:  | P_DIFF      |N| (flexible mode with P = 1)   - up to 3 times
//!        +-+-+-+-+-+-+-+-+                             -/
//!   V:   | SS            |
//!        | ..            |
//!        +-+-+-+-+-+-+-+-+
//! ```

use super::Reader;
use crate::Error;

/// Most spatial layers a scalability structure can describe (N_S is 3 bits).
pub const MAX_SPATIAL_LAYERS: usize = 8;
/// Most reference indices (P_DIFF) a flexible-mode descriptor carries (RFC 9628 §4.2).
pub const MAX_REFERENCE_DIFFS: usize = 3;

/// The scalability structure (SS) sent with V = 1 (RFC 9628 §4.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Vp9ScalabilityStructure {
    /// Number of spatial layers (N_S + 1).
    pub spatial_layers: u8,
    /// Whether per-layer resolutions were sent (Y = 1).
    pub has_resolutions: bool,
    /// Width and height per spatial layer; only the first `spatial_layers` entries are set,
    /// and only when `has_resolutions`.
    pub resolutions: [(u16, u16); MAX_SPATIAL_LAYERS],
    /// N_G, the number of pictures in the picture group, when G = 1.
    pub pictures_in_group: Option<u8>,
}

impl Vp9ScalabilityStructure {
    /// The per-layer resolutions, lowest layer first, when sent.
    pub fn resolutions(&self) -> Option<&[(u16, u16)]> {
        if self.has_resolutions {
            self.resolutions.get(..usize::from(self.spatial_layers))
        } else {
            None
        }
    }
}

/// What a VP9 payload descriptor says about its (layer) frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Vp9Info {
    /// B: the packet starts a layer frame.
    pub start_of_frame: bool,
    /// E: the packet ends a layer frame.
    pub end_of_frame: bool,
    /// The packet starts a key frame: B = 1, not inter-picture predicted (P = 0), on the base
    /// spatial layer (SID 0, or no layer indices).
    pub keyframe: bool,
    /// P: inter-picture predicted.
    pub inter_picture_predicted: bool,
    /// F: flexible mode.
    pub flexible_mode: bool,
    /// Z: not used as a reference by upper spatial layers.
    pub not_reference_for_upper_layers: bool,
    /// PICTURE ID, 7 or 15 bits.
    pub picture_id: Option<u16>,
    /// Whether PICTURE ID uses the 15-bit form (M = 1).
    pub long_picture_id: bool,
    /// TID, when L = 1.
    pub temporal_id: Option<u8>,
    /// U: switching up point (only meaningful when L = 1).
    pub switching_up_point: bool,
    /// SID, when L = 1.
    pub spatial_id: Option<u8>,
    /// D: inter-layer dependency (only meaningful when L = 1).
    pub inter_layer_dependency: bool,
    /// TL0PICIDX (non-flexible mode with L = 1).
    pub tl0_pic_idx: Option<u8>,
    reference_diffs: [u8; MAX_REFERENCE_DIFFS],
    reference_diff_count: u8,
    /// The scalability structure, when V = 1.
    pub scalability_structure: Option<Vp9ScalabilityStructure>,
    /// Length of the descriptor; the VP9 frame data starts here.
    pub descriptor_len: usize,
}

impl Vp9Info {
    /// The P_DIFF reference indices of a flexible-mode packet (empty otherwise).
    pub fn reference_diffs(&self) -> &[u8] {
        self.reference_diffs.get(..usize::from(self.reference_diff_count)).unwrap_or(&[])
    }
}

/// Reads the payload descriptor.
pub fn inspect(payload: &[u8]) -> Result<Vp9Info, Error> {
    let mut r = Reader::new(payload);
    let first = r.u8("VP9 payload descriptor")?;
    let bit = |mask: u8| first & mask != 0;
    let (i, p, l, f, b, e, v, z) =
        (bit(0x80), bit(0x40), bit(0x20), bit(0x10), bit(0x08), bit(0x04), bit(0x02), bit(0x01));
    let mut info = Vp9Info {
        start_of_frame: b,
        end_of_frame: e,
        inter_picture_predicted: p,
        flexible_mode: f,
        not_reference_for_upper_layers: z,
        ..Vp9Info::default()
    };
    if i {
        let pid = r.u8("VP9 PICTURE ID")?;
        if pid & 0x80 != 0 {
            let low = r.u8("VP9 extended PICTURE ID")?;
            info.picture_id = Some(u16::from(pid & 0x7f) << 8 | u16::from(low));
            info.long_picture_id = true;
        } else {
            info.picture_id = Some(u16::from(pid));
        }
    }
    if l {
        let layer = r.u8("VP9 layer indices")?;
        info.temporal_id = Some(layer >> 5);
        info.switching_up_point = layer & 0x10 != 0;
        info.spatial_id = Some((layer >> 1) & 0x07);
        info.inter_layer_dependency = layer & 0x01 != 0;
        if !f {
            info.tl0_pic_idx = Some(r.u8("VP9 TL0PICIDX")?);
        }
    }
    if f && p {
        // RFC 9628 §4.2: up to three P_DIFF octets, N = 1 announcing another.
        loop {
            let diff = r.u8("VP9 P_DIFF")?;
            let idx = usize::from(info.reference_diff_count);
            let slot = info
                .reference_diffs
                .get_mut(idx)
                .ok_or(Error::Malformed("VP9 descriptor with more than 3 P_DIFF"))?;
            *slot = diff >> 1;
            info.reference_diff_count += 1;
            if diff & 0x01 == 0 {
                break;
            }
        }
    }
    if v {
        info.scalability_structure = Some(scalability_structure(&mut r)?);
    }
    info.descriptor_len = r.pos();
    info.keyframe = b && !p && info.spatial_id.unwrap_or(0) == 0;
    Ok(info)
}

/// RFC 9628 §4.2.1:
/// ```text
///  V:   | N_S |Y|G|-|-|-|
///  Y:   |     WIDTH     | (2 octets)    - N_S + 1 times
///       |     HEIGHT    | (2 octets)
///  G:   |      N_G      |
///  N_G: | TID |U| R |-|-|                - N_G times
///       |    P_DIFF     |  - R times
/// ```
fn scalability_structure(r: &mut Reader<'_>) -> Result<Vp9ScalabilityStructure, Error> {
    let head = r.u8("VP9 scalability structure")?;
    let spatial_layers = (head >> 5) + 1;
    let mut ss = Vp9ScalabilityStructure {
        spatial_layers,
        has_resolutions: head & 0x10 != 0,
        ..Vp9ScalabilityStructure::default()
    };
    if ss.has_resolutions {
        for slot in ss.resolutions.iter_mut().take(usize::from(spatial_layers)) {
            let w = r.u16("VP9 SS WIDTH")?;
            let h = r.u16("VP9 SS HEIGHT")?;
            *slot = (w, h);
        }
    }
    if head & 0x08 != 0 {
        let n_g = r.u8("VP9 SS N_G")?;
        ss.pictures_in_group = Some(n_g);
        for _ in 0..n_g {
            let pic = r.u8("VP9 SS picture description")?;
            let refs = usize::from((pic >> 2) & 0x03);
            r.take(refs, "VP9 SS P_DIFF")?;
        }
    }
    Ok(ss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_flexible_keyframe_with_scalability_structure() {
        // I=1, P=0, L=1, F=0, B=1, E=1, V=1, Z=0.
        // PICTURE ID 15-bit 0x0123; TID 0, U 0, SID 0, D 0; TL0PICIDX 9;
        // SS: N_S=2 (3 layers), Y=1, G=1; 320x180, 640x360, 1280x720; N_G=2:
        // (TID 0, U 0, R 1, P_DIFF 4), (TID 1, U 1, R 2, P_DIFF 1, 2).
        let p = [
            0xae, 0x81, 0x23, 0x00, 0x09, 0x58, 0x01, 0x40, 0x00, 0xb4, 0x02, 0x80, 0x01, 0x68,
            0x05, 0x00, 0x02, 0xd0, 0x02, 0x04, 0x04, 0x38, 0x01, 0x02, 0xff,
        ];
        let info = inspect(&p).unwrap();
        assert!(info.start_of_frame && info.end_of_frame && info.keyframe);
        assert!(!info.flexible_mode);
        assert_eq!(info.picture_id, Some(0x0123));
        assert!(info.long_picture_id);
        assert_eq!((info.temporal_id, info.spatial_id), (Some(0), Some(0)));
        assert_eq!(info.tl0_pic_idx, Some(9));
        let ss = info.scalability_structure.unwrap();
        assert_eq!(ss.spatial_layers, 3);
        assert_eq!(ss.resolutions(), Some(&[(320, 180), (640, 360), (1280, 720)][..]));
        assert_eq!(ss.pictures_in_group, Some(2));
        assert_eq!(info.descriptor_len, p.len() - 1);
        assert!(info.reference_diffs().is_empty());
    }

    #[test]
    fn flexible_mode_with_reference_diffs() {
        // I=1, P=1, L=1, F=1, B=1, E=0, V=0, Z=1; 7-bit PICTURE ID 5; TID 2, U 1, SID 1, D 1;
        // P_DIFFs 1 (N=1), 3 (N=1), 7 (N=0).
        let p = [0xf9, 0x05, 0x53, 0x03, 0x07, 0x0e, 0xaa];
        let info = inspect(&p).unwrap();
        assert!(info.flexible_mode && info.inter_picture_predicted);
        assert!(info.not_reference_for_upper_layers);
        assert_eq!(info.picture_id, Some(5));
        assert_eq!(info.temporal_id, Some(2));
        assert!(info.switching_up_point);
        assert_eq!(info.spatial_id, Some(1));
        assert!(info.inter_layer_dependency);
        assert_eq!(info.tl0_pic_idx, None);
        assert_eq!(info.reference_diffs(), &[1, 3, 7]);
        assert_eq!(info.descriptor_len, 6);
        assert!(!info.keyframe);
    }

    #[test]
    fn keyframe_only_on_base_spatial_layer_at_frame_start() {
        // B=1, P=0, L=1 with SID 1: an intra upper layer is not a keyframe.
        assert!(!inspect(&[0x28, 0x02, 0x00, 0xaa]).unwrap().keyframe);
        // SID 0: keyframe.
        assert!(inspect(&[0x28, 0x00, 0x00, 0xaa]).unwrap().keyframe);
        // No layer indices, B=1, P=0: keyframe.
        assert!(inspect(&[0x08, 0xaa]).unwrap().keyframe);
        // B=0: a continuation packet.
        assert!(!inspect(&[0x04, 0xaa]).unwrap().keyframe);
        // P=1: inter predicted.
        assert!(!inspect(&[0x48, 0xaa]).unwrap().keyframe);
    }

    #[test]
    fn scalability_structure_without_resolutions() {
        // V=1 only; N_S=0, Y=0, G=0.
        let info = inspect(&[0x0a, 0x00]).unwrap();
        let ss = info.scalability_structure.unwrap();
        assert_eq!(ss.spatial_layers, 1);
        assert_eq!(ss.resolutions(), None);
        assert_eq!(ss.pictures_in_group, None);
    }

    #[test]
    fn rejects_four_reference_diffs() {
        let p = [0x50, 0x03, 0x03, 0x03, 0x03, 0xaa];
        assert!(matches!(inspect(&p), Err(Error::Malformed(_))));
    }

    #[test]
    fn truncation_is_an_error() {
        let full = [
            0xae, 0x81, 0x23, 0x00, 0x09, 0x58, 0x01, 0x40, 0x00, 0xb4, 0x02, 0x80, 0x01, 0x68,
            0x05, 0x00, 0x02, 0xd0, 0x02, 0x04, 0x04, 0x38, 0x01, 0x02,
        ];
        for cut in 0..full.len() {
            assert!(matches!(inspect(&full[..cut]), Err(Error::Truncated(_))), "cut {cut}");
        }
        assert!(inspect(&full).is_ok());
    }
}
