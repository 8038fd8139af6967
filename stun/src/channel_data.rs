//! ChannelData messages (RFC 8656 §12.4): TURN's 4-byte-header framing for channel traffic.
//!
//! ```text
//!  0                   1                   2                   3
//! |         Channel Number        |            Length             |
//! /                       Application Data                        /
//! ```

use crate::{wire, Error};

/// Length of the ChannelData header.
pub const CHANNEL_DATA_HEADER_LEN: usize = 4;

/// How the frame travels, which decides its padding (RFC 8656 §12.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Framing {
    /// UDP (or DTLS): padding to a multiple of 4 is optional; parsing accepts it with or
    /// without, writing leaves it out.
    Datagram,
    /// TCP or TLS: "the ChannelData message MUST be padded to a multiple of four bytes";
    /// parsing requires it, writing adds zero bytes.
    Stream,
}

/// A ChannelData message borrowing its buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelData<'a> {
    channel: u16,
    data: &'a [u8],
}

/// Whether `channel` can head a ChannelData message: 0x4000-0x7FFF, the channels of
/// RFC 5766 §11. RFC 8656 §12 narrowed the range clients choose from to 0x4000-0x4FFF, but
/// clients written to RFC 5766 still pick from the whole range, and a server that answers
/// them relays their ChannelData (see `ChannelNumber::is_accepted`).
pub(crate) const fn is_channel_number(channel: u16) -> bool {
    channel >= 0x4000 && channel <= 0x7FFF
}

impl<'a> ChannelData<'a> {
    /// A message to write; fails if `channel` is outside 0x4000..=0x7FFF or `data` is longer
    /// than 65535 bytes.
    pub fn new(channel: u16, data: &'a [u8]) -> Result<Self, Error> {
        if !is_channel_number(channel) {
            return Err(Error::Encode("channel number outside 0x4000..=0x7FFF"));
        }
        if data.len() > usize::from(u16::MAX) {
            return Err(Error::Encode("ChannelData longer than 65535 bytes"));
        }
        Ok(Self { channel, data })
    }

    /// Parses a message that fills `buf`: with [`Framing::Datagram`] the buffer may end right
    /// after the data or after its padding; with [`Framing::Stream`] it must include the
    /// padding. Padding bytes are not checked (they carry no meaning).
    pub fn parse(buf: &'a [u8], framing: Framing) -> Result<Self, Error> {
        let channel =
            wire::u16_at(buf, 0).ok_or(Error::InvalidChannelData("shorter than the header"))?;
        let len =
            wire::u16_at(buf, 2).ok_or(Error::InvalidChannelData("shorter than the header"))?;
        if !is_channel_number(channel) {
            return Err(Error::InvalidChannelData("channel number outside 0x4000..=0x7FFF"));
        }
        let end = CHANNEL_DATA_HEADER_LEN + usize::from(len);
        let padded_end = CHANNEL_DATA_HEADER_LEN + wire::padded_len(usize::from(len));
        // RFC 8656 §12.5: a datagram too short for the claimed length is discarded.
        let data = buf
            .get(CHANNEL_DATA_HEADER_LEN..end)
            .ok_or(Error::InvalidChannelData("shorter than its length field"))?;
        let size_ok = match framing {
            Framing::Datagram => buf.len() <= padded_end,
            Framing::Stream => buf.len() == padded_end,
        };
        if !size_ok {
            return Err(match framing {
                Framing::Stream if buf.len() < padded_end => {
                    Error::InvalidChannelData("padding missing on a stream transport")
                }
                _ => Error::InvalidChannelData("bytes after the data and padding"),
            });
        }
        Ok(Self { channel, data })
    }

    /// The channel number (0x4000..=0x7FFF).
    pub const fn channel(&self) -> u16 {
        self.channel
    }

    /// The application data.
    pub const fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Bytes [`ChannelData::write`] produces.
    pub const fn encoded_len(&self, framing: Framing) -> usize {
        let len = CHANNEL_DATA_HEADER_LEN + self.data.len();
        match framing {
            Framing::Datagram => len,
            Framing::Stream => wire::padded_len(len),
        }
    }

    /// The 4-byte header, for a caller that already holds the data right after a reserved
    /// gap in its own buffer.
    pub fn header(&self) -> [u8; 4] {
        // `new` and `parse` bound the length to 16 bits.
        let len = u16::try_from(self.data.len()).unwrap_or(u16::MAX);
        let [c0, c1] = self.channel.to_be_bytes();
        let [l0, l1] = len.to_be_bytes();
        [c0, c1, l0, l1]
    }

    /// Clears `out` and writes the message, padded with zeros for [`Framing::Stream`].
    pub fn write(&self, out: &mut Vec<u8>, framing: Framing) {
        out.clear();
        out.extend_from_slice(&self.header());
        out.extend_from_slice(self.data);
        if framing == Framing::Stream {
            out.extend(std::iter::repeat_n(0, wire::padding_len(self.data.len())));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_and_parse_both_framings() {
        let msg = ChannelData::new(0x4001, b"hello").unwrap();
        let mut out = Vec::new();
        msg.write(&mut out, Framing::Datagram);
        assert_eq!(out, [0x40, 0x01, 0x00, 0x05, b'h', b'e', b'l', b'l', b'o']);
        assert_eq!(out.len(), msg.encoded_len(Framing::Datagram));
        assert_eq!(ChannelData::parse(&out, Framing::Datagram).unwrap(), msg);
        assert!(ChannelData::parse(&out, Framing::Stream).is_err());

        msg.write(&mut out, Framing::Stream);
        assert_eq!(out.len(), 12);
        assert_eq!(out.len(), msg.encoded_len(Framing::Stream));
        assert_eq!(&out[9..], &[0, 0, 0]);
        assert_eq!(ChannelData::parse(&out, Framing::Stream).unwrap(), msg);
        // Padding is optional over UDP, so the padded form parses as a datagram too.
        assert_eq!(ChannelData::parse(&out, Framing::Datagram).unwrap(), msg);
    }

    #[test]
    fn malformed() {
        assert!(ChannelData::parse(&[], Framing::Datagram).is_err());
        assert!(ChannelData::parse(&[0x40, 0x00, 0x00], Framing::Datagram).is_err());
        // Channel outside the range.
        assert!(ChannelData::parse(&[0x3F, 0xFF, 0, 0], Framing::Datagram).is_err());
        assert!(ChannelData::parse(&[0x80, 0x00, 0, 0], Framing::Datagram).is_err());
        // Shorter than the length field.
        assert!(ChannelData::parse(&[0x40, 0x00, 0, 4, 1, 2, 3], Framing::Datagram).is_err());
        // Longer than data and padding.
        assert!(ChannelData::parse(&[0x40, 0x00, 0, 1, 1, 0, 0, 0, 0], Framing::Datagram).is_err());
        assert!(ChannelData::parse(&[0x40, 0x00, 0, 1, 1, 0, 0, 0, 0], Framing::Stream).is_err());
        // Empty data is fine.
        let empty = ChannelData::parse(&[0x4F, 0xFF, 0, 0], Framing::Stream).unwrap();
        assert_eq!((empty.channel(), empty.data()), (0x4FFF, &[][..]));
        assert!(ChannelData::new(0x3FFF, b"").is_err());
        assert!(ChannelData::new(0x8000, b"").is_err());
        // RFC 5766's channels 0x5000-0x7FFF, which RFC 5766 clients still use.
        let old = ChannelData::parse(&[0x7F, 0xFF, 0, 1, 9], Framing::Datagram).unwrap();
        assert_eq!((old.channel(), old.data()), (0x7FFF, &[9][..]));
        assert_eq!(ChannelData::new(0x5000, b"").unwrap().channel(), 0x5000);
        assert!(ChannelData::new(0x4000, &vec![0; 65_536]).is_err());
    }
}
