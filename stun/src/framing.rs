//! Cutting a TCP/TLS byte stream into STUN messages and ChannelData frames (RFC 8656 §12.5,
//! RFC 6062): both carry their own length, so the first four bytes of a frame say how long
//! it is.

use crate::channel_data::{is_channel_number, CHANNEL_DATA_HEADER_LEN};
use crate::{wire, Error, HEADER_LEN, MAGIC_COOKIE};

/// What the next frame on a stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// A STUN message, to parse with [`crate::Message::parse`].
    Stun,
    /// A ChannelData frame, to parse with [`crate::ChannelData::parse`] and
    /// [`crate::Framing::Stream`].
    ChannelData,
}

/// The kind and total length (header and padding included) of the frame at the start of a
/// stream buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    /// STUN or ChannelData.
    pub kind: FrameKind,
    /// Bytes the whole frame occupies on the stream.
    pub len: usize,
}

/// Looks at the start of a stream buffer and tells how many bytes the next frame needs.
///
/// - `Ok(None)`: fewer than 4 bytes buffered; read more.
/// - `Ok(Some(frame))`: once `buf.len() >= frame.len`, `&buf[..frame.len]` is the frame.
/// - `Err(_)`: the stream does not start with a STUN message or ChannelData (first two
///   bits `0b10`/`0b11`, a STUN length that is not a multiple of 4, or, once 8 bytes are
///   there, a wrong magic cookie). The stream is out of sync and should be closed.
pub fn peek_frame(buf: &[u8]) -> Result<Option<Frame>, Error> {
    let (Some(first), Some(len)) = (wire::u16_at(buf, 0), wire::u16_at(buf, 2)) else {
        return Ok(None);
    };
    let len = usize::from(len);
    match first >> 14 {
        0b00 => {
            if len % 4 != 0 {
                return Err(Error::Malformed("length is not a multiple of 4"));
            }
            if let Some(cookie) = wire::u32_at(buf, 4) {
                if cookie != MAGIC_COOKIE {
                    return Err(Error::NotStun("wrong magic cookie"));
                }
            }
            Ok(Some(Frame { kind: FrameKind::Stun, len: HEADER_LEN + len }))
        }
        0b01 => {
            if !is_channel_number(first) {
                return Err(Error::InvalidChannelData("channel number outside 0x4000..=0x4FFF"));
            }
            // RFC 8656 §12.5: over TCP and TLS the frame is padded to a multiple of 4.
            Ok(Some(Frame {
                kind: FrameKind::ChannelData,
                len: CHANNEL_DATA_HEADER_LEN + wire::padded_len(len),
            }))
        }
        _ => Err(Error::NotStun("neither STUN nor ChannelData on a stream")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChannelData, Framing, Message, MessageType, MessageWriter, TransactionId};

    #[test]
    fn splits_a_stream() {
        let mut stream = Vec::new();
        let mut buf = Vec::new();
        let mut w =
            MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, TransactionId([3; 12]));
        w.add_fingerprint().unwrap();
        stream.extend_from_slice(&buf);
        ChannelData::new(0x4321, b"abcde").unwrap().write(&mut buf, Framing::Stream);
        stream.extend_from_slice(&buf);
        stream.extend_from_slice(&[0x00, 0x01]); // start of a next frame

        let first = peek_frame(&stream).unwrap().unwrap();
        assert_eq!(first, Frame { kind: FrameKind::Stun, len: 28 });
        Message::parse(&stream[..first.len]).unwrap().verify_fingerprint().unwrap();
        let rest = &stream[first.len..];
        let second = peek_frame(rest).unwrap().unwrap();
        assert_eq!(second, Frame { kind: FrameKind::ChannelData, len: 12 });
        let cd = ChannelData::parse(&rest[..second.len], Framing::Stream).unwrap();
        assert_eq!(cd.data(), b"abcde");
        assert_eq!(peek_frame(&rest[second.len..]), Ok(None));
    }

    #[test]
    fn needs_four_bytes_and_rejects_garbage() {
        assert_eq!(peek_frame(&[]), Ok(None));
        assert_eq!(peek_frame(&[0, 1, 0]), Ok(None));
        // A STUN header is recognised from 4 bytes, the cookie checked from 8.
        assert_eq!(
            peek_frame(&[0, 1, 0, 8]).unwrap(),
            Some(Frame { kind: FrameKind::Stun, len: 28 })
        );
        assert!(peek_frame(&[0, 1, 0, 8, 0x21, 0x12, 0xa4, 0x43]).is_err());
        assert!(peek_frame(&[0, 1, 0, 6]).is_err());
        assert!(peek_frame(&[0x80, 0, 0, 0]).is_err());
        assert!(peek_frame(&[0xC0, 0, 0, 0]).is_err());
        assert_eq!(
            peek_frame(&[0x7F, 0xFF, 0, 1]).unwrap(),
            Some(Frame { kind: FrameKind::ChannelData, len: 8 })
        );
        assert_eq!(
            peek_frame(&[0x40, 0, 0xff, 0xff]).unwrap(),
            Some(Frame { kind: FrameKind::ChannelData, len: 4 + 65_536 })
        );
    }
}
