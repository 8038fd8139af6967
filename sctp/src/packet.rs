//! The SCTP packet: common header (RFC 9260 §3.1) followed by chunks.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Source Port Number        |     Destination Port Number   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Verification Tag                         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           Checksum                            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The checksum is CRC32c over the whole packet with the Checksum field set to zero
//! (RFC 9260 §6.8, Appendix A). The CRC register is sent least significant byte first, so the
//! 32-bit value computed by a standard CRC32c routine goes on the wire in little-endian byte
//! order.

use crate::bytes::{read_u16, read_u32};
use crate::chunk::Chunks;
use crate::Error;

/// Length of the common header.
pub const COMMON_HEADER_LEN: usize = 12;

/// The SCTP port WebRTC uses unless SDP `a=sctp-port` says otherwise (RFC 8841 §5).
pub const DEFAULT_PORT: u16 = 5000;

/// A parsed SCTP packet view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    bytes: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Checks that `bytes` holds at least a common header; the checksum is checked separately
    /// by [`Packet::verify_checksum`] and the chunks when iterated.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        if bytes.len() < COMMON_HEADER_LEN {
            return Err(Error::Truncated("common header"));
        }
        Ok(Self { bytes })
    }

    /// Source port.
    pub fn source_port(&self) -> u16 {
        read_u16(self.bytes, 0, "").unwrap_or(0)
    }

    /// Destination port.
    pub fn destination_port(&self) -> u16 {
        read_u16(self.bytes, 2, "").unwrap_or(0)
    }

    /// Verification tag.
    pub fn verification_tag(&self) -> u32 {
        read_u32(self.bytes, 4, "").unwrap_or(0)
    }

    /// The checksum carried by the packet, as the CRC32c value it should equal.
    pub fn checksum(&self) -> u32 {
        u32::from_le_bytes([self.bytes[8], self.bytes[9], self.bytes[10], self.bytes[11]])
    }

    /// Checks the CRC32c (RFC 9260 §6.8).
    pub fn verify_checksum(&self) -> Result<(), Error> {
        let computed = compute_checksum(self.bytes);
        let received = self.checksum();
        if computed == received {
            Ok(())
        } else {
            Err(Error::BadChecksum { received, computed })
        }
    }

    /// The chunks after the common header.
    pub fn chunks(&self) -> Chunks<'a> {
        Chunks::new(&self.bytes[COMMON_HEADER_LEN..])
    }

    /// The whole packet.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// The common header fields of a packet to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommonHeader {
    /// Source port.
    pub source_port: u16,
    /// Destination port.
    pub destination_port: u16,
    /// Verification tag.
    pub verification_tag: u32,
}

impl CommonHeader {
    /// Appends the header with a zero checksum; append chunks, then call [`set_checksum`].
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.source_port.to_be_bytes());
        out.extend_from_slice(&self.destination_port.to_be_bytes());
        out.extend_from_slice(&self.verification_tag.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
    }
}

/// CRC32c of `packet` as if its Checksum field were zero. `packet` must hold a common header.
pub fn compute_checksum(packet: &[u8]) -> u32 {
    let head = packet.get(..8).unwrap_or(packet);
    let tail = packet.get(COMMON_HEADER_LEN..).unwrap_or(&[]);
    let crc = crc32c::crc32c(head);
    let crc = crc32c::crc32c_append(crc, &[0; 4]);
    crc32c::crc32c_append(crc, tail)
}

/// Computes the checksum of a written packet and stores it in the Checksum field.
///
/// # Panics
/// If `packet` is shorter than the common header (a writer bug, never network input).
pub fn set_checksum(packet: &mut [u8]) {
    let crc = compute_checksum(packet);
    packet[8..12].copy_from_slice(&crc.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::{ChunkType, InitChunk};
    use crate::param::ParamType;

    /// An INIT captured from a WebRTC peer (a usrsctp stack): CRC32c 0xfc9d4681 stored
    /// least significant byte first as `81 46 9d fc`.
    const BROWSER_INIT: [u8; 100] = [
        0x13, 0x88, 0x13, 0x88, 0x00, 0x00, 0x00, 0x00, 0x81, 0x46, 0x9d, 0xfc, 0x01, 0x00, 0x00,
        0x56, 0x55, 0xb9, 0x64, 0xa5, 0x00, 0x02, 0x00, 0x00, 0x04, 0x00, 0x08, 0x00, 0xe8, 0x6d,
        0x10, 0x30, 0xc0, 0x00, 0x00, 0x04, 0x80, 0x08, 0x00, 0x09, 0xc0, 0x0f, 0xc1, 0x80, 0x82,
        0x00, 0x00, 0x00, 0x80, 0x02, 0x00, 0x24, 0x9f, 0xeb, 0xbb, 0x5c, 0x50, 0xc9, 0xbf, 0x75,
        0x9c, 0xb1, 0x2c, 0x57, 0x4f, 0xa4, 0x5a, 0x51, 0xba, 0x60, 0x17, 0x78, 0x27, 0x94, 0x5c,
        0x31, 0xe6, 0x5d, 0x5b, 0x09, 0x47, 0xe2, 0x22, 0x06, 0x80, 0x04, 0x00, 0x06, 0x00, 0x01,
        0x00, 0x00, 0x80, 0x03, 0x00, 0x06, 0x80, 0xc1, 0x00, 0x00,
    ];

    #[test]
    fn browser_init_checksum_and_fields() {
        let packet = Packet::parse(&BROWSER_INIT).unwrap();
        assert_eq!(packet.source_port(), 5000);
        assert_eq!(packet.destination_port(), 5000);
        assert_eq!(packet.verification_tag(), 0);
        assert_eq!(packet.checksum(), 0xfc9d_4681);
        assert_eq!(compute_checksum(&BROWSER_INIT), 0xfc9d_4681);
        packet.verify_checksum().unwrap();

        let chunks: Vec<_> = packet.chunks().collect::<Result<_, _>>().unwrap();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].chunk_type, ChunkType::INIT);
        let init = InitChunk::parse(&chunks[0]).unwrap();
        assert_eq!(init.initiate_tag, 0x55b9_64a5);
        assert_eq!(init.a_rwnd, 0x0002_0000);
        assert_eq!(init.outbound_streams, 1024);
        assert_eq!(init.inbound_streams, 2048);
        assert_eq!(init.initial_tsn, 0xe86d_1030);
        let params: Vec<_> = init.params().collect::<Result<_, _>>().unwrap();
        let types: Vec<_> = params.iter().map(|p| p.param_type).collect();
        assert_eq!(
            types,
            [
                ParamType::FORWARD_TSN_SUPPORTED,
                ParamType::SUPPORTED_EXTENSIONS,
                ParamType::RANDOM,
                ParamType::REQUESTED_HMAC_ALGORITHM,
                ParamType::CHUNK_LIST,
            ]
        );
        assert_eq!(params[1].value, [0xc0, 0x0f, 0xc1, 0x80, 0x82]);
    }

    #[test]
    fn browser_init_re_encodes_byte_for_byte() {
        let packet = Packet::parse(&BROWSER_INIT).unwrap();
        let raw = packet.chunks().next().unwrap().unwrap();
        let init = InitChunk::parse(&raw).unwrap();
        let mut params = Vec::new();
        for p in init.params() {
            p.unwrap().write_to(&mut params).unwrap();
        }
        let mut out = Vec::new();
        CommonHeader { source_port: 5000, destination_port: 5000, verification_tag: 0 }
            .write_to(&mut out);
        InitChunk { params: &params, ..init }.write_to(ChunkType::INIT, &mut out).unwrap();
        set_checksum(&mut out);
        assert_eq!(out, BROWSER_INIT);
    }

    #[test]
    fn header_only_checksum() {
        // A header-only packet (ports 5000, tag 0) whose CRC32c is 0xe100a906.
        let packet = [0x13, 0x88, 0x13, 0x88, 0, 0, 0, 0, 0x06, 0xa9, 0x00, 0xe1];
        Packet::parse(&packet).unwrap().verify_checksum().unwrap();
        let mut written = Vec::new();
        CommonHeader { source_port: 5000, destination_port: 5000, verification_tag: 0 }
            .write_to(&mut written);
        set_checksum(&mut written);
        assert_eq!(written, packet);
    }

    #[test]
    fn crc32c_reference_values() {
        // RFC 3720 §B.4 CRC32c examples: 32 bytes of zeros, 32 bytes of 0xff.
        assert_eq!(crc32c::crc32c(&[0; 32]), 0x8a91_36aa);
        assert_eq!(crc32c::crc32c(&[0xff; 32]), 0x62a8_ab43);
    }

    #[test]
    fn corrupted_packet_fails_the_checksum() {
        let mut bad = BROWSER_INIT;
        bad[40] ^= 1;
        assert!(matches!(
            Packet::parse(&bad).unwrap().verify_checksum(),
            Err(Error::BadChecksum { received: 0xfc9d_4681, .. })
        ));
    }

    #[test]
    fn every_truncation_is_handled() {
        for cut in 0..BROWSER_INIT.len() {
            match Packet::parse(&BROWSER_INIT[..cut]) {
                Ok(p) => {
                    let _ = p.verify_checksum();
                    for c in p.chunks().flatten() {
                        let _ = InitChunk::parse(&c).map(|i| i.params().count());
                    }
                }
                Err(e) => assert_eq!(e, Error::Truncated("common header")),
            }
        }
    }
}
