//! Codec payload inspection: frame boundaries, keyframes and layer information read from the
//! first bytes of an RTP payload, one file per payload format. Nothing is copied; the RTP marker
//! bit (not read here) marks the end of a frame.
//!
//! Each inspector returns the codec's own info type; [`Codec::inspect`] wraps them into
//! [`CodecInfo`] for code that handles every codec alike.

pub mod av1;
pub mod h264;
pub mod vp8;
pub mod vp9;

pub use av1::{Av1Info, ObuType};
pub use h264::{H264Info, H264Packetization, NalUnitType};
pub use vp8::Vp8Info;
pub use vp9::{Vp9Info, Vp9ScalabilityStructure};

use crate::Error;

/// A video payload format this crate can inspect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// VP8, RFC 7741.
    Vp8,
    /// VP9, RFC 9628.
    Vp9,
    /// H.264, RFC 6184.
    H264,
    /// AV1, "RTP Payload Format For AV1" (AOMedia).
    Av1,
}

impl Codec {
    /// The codec for an SDP `a=rtpmap` encoding name; encoding names are case-insensitive
    /// (RFC 4855 §3).
    pub fn from_encoding_name(name: &str) -> Option<Self> {
        [("VP8", Self::Vp8), ("VP9", Self::Vp9), ("H264", Self::H264), ("AV1", Self::Av1)]
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, codec)| codec)
    }

    /// Inspects one RTP payload (after the RTP header, without padding).
    pub fn inspect(self, payload: &[u8]) -> Result<CodecInfo, Error> {
        Ok(match self {
            Self::Vp8 => CodecInfo::Vp8(vp8::inspect(payload)?),
            Self::Vp9 => CodecInfo::Vp9(vp9::inspect(payload)?),
            Self::H264 => CodecInfo::H264(h264::inspect(payload)?),
            Self::Av1 => CodecInfo::Av1(av1::inspect(payload)?),
        })
    }
}

/// What [`Codec::inspect`] found, per codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodecInfo {
    /// A VP8 payload.
    Vp8(Vp8Info),
    /// A VP9 payload.
    Vp9(Vp9Info),
    /// An H.264 payload.
    H264(H264Info),
    /// An AV1 payload.
    Av1(Av1Info),
}

impl CodecInfo {
    /// Whether this packet carries the first bytes of a frame (of a layer frame for VP9).
    pub fn start_of_frame(&self) -> bool {
        match self {
            Self::Vp8(i) => i.start_of_frame,
            Self::Vp9(i) => i.start_of_frame,
            Self::H264(i) => i.start_of_frame,
            Self::Av1(i) => i.start_of_frame,
        }
    }

    /// Whether this packet begins a keyframe a decoder can start from.
    pub fn keyframe(&self) -> bool {
        match self {
            Self::Vp8(i) => i.keyframe,
            Self::Vp9(i) => i.keyframe,
            Self::H264(i) => i.keyframe,
            Self::Av1(i) => i.keyframe,
        }
    }

    /// The temporal layer, when the payload says.
    pub fn temporal_id(&self) -> Option<u8> {
        match self {
            Self::Vp8(i) => i.temporal_id,
            Self::Vp9(i) => i.temporal_id,
            Self::H264(_) => None,
            Self::Av1(i) => i.temporal_id,
        }
    }

    /// The spatial layer, when the payload says.
    pub fn spatial_id(&self) -> Option<u8> {
        match self {
            Self::Vp8(_) | Self::H264(_) => None,
            Self::Vp9(i) => i.spatial_id,
            Self::Av1(i) => i.spatial_id,
        }
    }
}

/// A cursor over a payload that turns running out of bytes into [`Error::Truncated`].
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, Error> {
        let b = *self.buf.get(self.pos).ok_or(Error::Truncated(what))?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, Error> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).ok_or(Error::Truncated(what))?;
        let b = self.buf.get(self.pos..end).ok_or(Error::Truncated(what))?;
        self.pos = end;
        Ok(b)
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_names() {
        assert_eq!(Codec::from_encoding_name("vp8"), Some(Codec::Vp8));
        assert_eq!(Codec::from_encoding_name("VP9"), Some(Codec::Vp9));
        assert_eq!(Codec::from_encoding_name("h264"), Some(Codec::H264));
        assert_eq!(Codec::from_encoding_name("Av1"), Some(Codec::Av1));
        assert_eq!(Codec::from_encoding_name("opus"), None);
    }

    #[test]
    fn dispatches_and_summarizes() {
        // VP8: S=1, PID=0, no extensions, payload header with P=0 (keyframe).
        let info = Codec::Vp8.inspect(&[0x10, 0x00, 0x00, 0x00]).unwrap();
        assert!(info.start_of_frame() && info.keyframe());
        assert_eq!((info.temporal_id(), info.spatial_id()), (None, None));
        // VP9: B=1, L=1 with TID 2, SID 1, non-flexible so TL0PICIDX follows.
        let info = Codec::Vp9.inspect(&[0x28, 0x42, 0x05, 0xff]).unwrap();
        assert!(info.start_of_frame() && !info.keyframe());
        assert_eq!((info.temporal_id(), info.spatial_id()), (Some(2), Some(1)));
        // H.264 single NAL unit: SPS.
        let info = Codec::H264.inspect(&[0x67, 0x42, 0x00, 0x1f]).unwrap();
        assert!(info.start_of_frame() && info.keyframe());
        assert_eq!((info.temporal_id(), info.spatial_id()), (None, None));
        // AV1: N=1, W=1, a sequence header OBU.
        let info = Codec::Av1.inspect(&[0x18, 0x08, 0x00]).unwrap();
        assert!(info.start_of_frame() && info.keyframe());
        assert!(Codec::Av1.inspect(&[]).is_err());
    }

    #[test]
    fn reader_reports_truncation() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u8("a"), Ok(1));
        assert_eq!(r.u16("b"), Ok(0x0203));
        assert_eq!(r.pos(), 3);
        assert_eq!(r.rest(), &[] as &[u8]);
        assert_eq!(r.u8("c"), Err(Error::Truncated("c")));
        assert_eq!(r.take(usize::MAX, "d"), Err(Error::Truncated("d")));
    }
}
