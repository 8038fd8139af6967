//! Writing what a peer sent into the client's framing, in the caller's buffer, without
//! allocating: a ChannelData message when a channel is bound to the peer (RFC 8656 §12.4),
//! otherwise a Data indication with XOR-PEER-ADDRESS and DATA (RFC 8656 §11.3).

use std::net::{IpAddr, SocketAddr};

use stun::{
    AttributeType, ChannelData, Class, Framing, MessageType, Method, CHANNEL_DATA_HEADER_LEN,
    HEADER_LEN, MAGIC_COOKIE,
};

/// The most a client frame adds to the peer's data: a Data indication with an IPv6
/// XOR-PEER-ADDRESS (20 + 24 + 4 bytes) and 3 bytes of padding. A buffer of
/// `data.len() + CLIENT_FRAME_OVERHEAD` bytes always suffices for
/// [`TurnServer::relay_from_peer`](crate::TurnServer::relay_from_peer).
pub const CLIENT_FRAME_OVERHEAD: usize = HEADER_LEN + 24 + 4 + 3;

/// The largest attribute section of a STUN message (the 16-bit length, a multiple of 4).
const MAX_BODY: usize = 0xFFFC;

/// Bytes of the ChannelData frame for `data_len` bytes of data, or `None` if the length field
/// cannot hold it.
pub(crate) fn channel_data_len(data_len: usize, framing: Framing) -> Option<usize> {
    if data_len > usize::from(u16::MAX) {
        return None;
    }
    let len = CHANNEL_DATA_HEADER_LEN + data_len;
    Some(match framing {
        Framing::Datagram => len,
        Framing::Stream => len.next_multiple_of(4),
    })
}

/// Writes a ChannelData frame into `out`; `None` if it does not fit.
pub(crate) fn write_channel_data(
    channel: u16,
    data: &[u8],
    framing: Framing,
    out: &mut [u8],
) -> Option<usize> {
    let len = channel_data_len(data.len(), framing)?;
    let frame = ChannelData::new(channel, data).ok()?;
    let out = out.get_mut(..len)?;
    let (header, rest) = out.split_at_mut(CHANNEL_DATA_HEADER_LEN);
    header.copy_from_slice(&frame.header());
    let (payload, padding) = rest.split_at_mut(data.len());
    payload.copy_from_slice(data);
    padding.fill(0);
    Some(len)
}

/// Length of an XOR-PEER-ADDRESS attribute (TLV header included) for `peer`.
const fn peer_attribute_len(peer: &SocketAddr) -> usize {
    match peer {
        SocketAddr::V4(_) => 4 + 8,
        SocketAddr::V6(_) => 4 + 20,
    }
}

/// Bytes of the Data indication for `data_len` bytes from `peer`, or `None` if the STUN
/// length field cannot hold it.
pub(crate) fn data_indication_len(peer: &SocketAddr, data_len: usize) -> Option<usize> {
    let body = peer_attribute_len(peer) + 4 + data_len.checked_next_multiple_of(4)?;
    (body <= MAX_BODY).then_some(HEADER_LEN + body)
}

/// Writes a Data indication into `out`; `None` if it does not fit or is too long for STUN.
pub(crate) fn write_data_indication(
    transaction_id: [u8; 12],
    peer: SocketAddr,
    data: &[u8],
    out: &mut [u8],
) -> Option<usize> {
    let len = data_indication_len(&peer, data.len())?;
    let out = out.get_mut(..len)?;
    let body_len = u16::try_from(len - HEADER_LEN).ok()?;
    let message_type = MessageType::new(Method::DATA, Class::Indication).to_u16();
    let (header, body) = out.split_at_mut(HEADER_LEN);
    header[0..2].copy_from_slice(&message_type.to_be_bytes());
    header[2..4].copy_from_slice(&body_len.to_be_bytes());
    header[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    header[8..20].copy_from_slice(&transaction_id);

    // XOR-PEER-ADDRESS (RFC 8489 §14.2 encoding): port XOR the cookie's top half, IPv4 XOR
    // the cookie, IPv6 XOR the cookie and transaction ID.
    let attr_len = peer_attribute_len(&peer);
    let (address, rest) = body.split_at_mut(attr_len);
    let value_len = u16::try_from(attr_len - 4).ok()?;
    address[0..2].copy_from_slice(&AttributeType::XOR_PEER_ADDRESS.0.to_be_bytes());
    address[2..4].copy_from_slice(&value_len.to_be_bytes());
    address[4] = 0;
    let x_port = peer.port() ^ (MAGIC_COOKIE >> 16) as u16;
    address[6..8].copy_from_slice(&x_port.to_be_bytes());
    let mut pad = [0u8; 16];
    pad[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    pad[4..].copy_from_slice(&transaction_id);
    match peer.ip() {
        IpAddr::V4(ip) => {
            address[5] = 0x01;
            for ((o, b), p) in address[8..12].iter_mut().zip(ip.octets()).zip(pad) {
                *o = b ^ p;
            }
        }
        IpAddr::V6(ip) => {
            address[5] = 0x02;
            for ((o, b), p) in address[8..24].iter_mut().zip(ip.octets()).zip(pad) {
                *o = b ^ p;
            }
        }
    }

    // DATA, then zero padding.
    let data_len = u16::try_from(data.len()).ok()?;
    let (data_header, payload) = rest.split_at_mut(4);
    data_header[0..2].copy_from_slice(&AttributeType::DATA.0.to_be_bytes());
    data_header[2..4].copy_from_slice(&data_len.to_be_bytes());
    let (value, padding) = payload.split_at_mut(data.len());
    value.copy_from_slice(data);
    padding.fill(0);
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stun::attributes::{Data, XorPeerAddress};
    use stun::{Message, MessageWriter, TransactionId};

    #[test]
    fn data_indication_matches_the_stun_writer() {
        let tid = [5u8; 12];
        for peer in ["203.0.113.9:4000", "[2001:db8::42]:65535"] {
            let peer: SocketAddr = peer.parse().unwrap();
            for data_len in [0usize, 1, 3, 4, 5, 1200] {
                let data: Vec<u8> = (0..data_len).map(|i| i as u8).collect();
                let mut out = vec![0xEE; data_len + CLIENT_FRAME_OVERHEAD];
                let len = write_data_indication(tid, peer, &data, &mut out).unwrap();
                let mut expected = Vec::new();
                let mut w = MessageWriter::new(
                    &mut expected,
                    MessageType::new(Method::DATA, Class::Indication),
                    TransactionId(tid),
                );
                w.add(&XorPeerAddress(peer)).unwrap();
                w.add(&Data(&data)).unwrap();
                assert_eq!(&out[..len], expected.as_slice(), "{peer} {data_len}");
                let msg = Message::parse(&out[..len]).unwrap();
                assert_eq!(msg.get::<XorPeerAddress>().unwrap().unwrap().0, peer);
                assert_eq!(msg.get::<Data<'_>>().unwrap().unwrap().0, data.as_slice());
            }
        }
    }

    #[test]
    fn channel_data_padding_by_framing() {
        let mut out = [0xEEu8; 16];
        let len = write_channel_data(0x4001, b"hello", Framing::Datagram, &mut out).unwrap();
        assert_eq!(&out[..len], &[0x40, 0x01, 0, 5, b'h', b'e', b'l', b'l', b'o']);
        let len = write_channel_data(0x4001, b"hello", Framing::Stream, &mut out).unwrap();
        assert_eq!(&out[..len], &[0x40, 0x01, 0, 5, b'h', b'e', b'l', b'l', b'o', 0, 0, 0]);
        assert_eq!(ChannelData::parse(&out[..len], Framing::Stream).unwrap().data(), b"hello");
    }

    #[test]
    fn too_small_or_too_long() {
        let mut small = [0u8; 10];
        assert_eq!(write_channel_data(0x4001, b"hello!!", Framing::Datagram, &mut small), None);
        let peer: SocketAddr = "203.0.113.9:4000".parse().unwrap();
        assert_eq!(write_data_indication([0; 12], peer, b"x", &mut small), None);
        assert_eq!(write_channel_data(0x3000, b"", Framing::Datagram, &mut small), None);
        // The largest DATA an IPv4 Data indication can carry: 65532 - 12 - 4.
        assert_eq!(data_indication_len(&peer, 65_516), Some(HEADER_LEN + 65_532));
        assert_eq!(data_indication_len(&peer, 65_517), None);
        assert_eq!(channel_data_len(65_535, Framing::Stream), Some(65_540));
        assert_eq!(channel_data_len(65_536, Framing::Datagram), None);
    }
}
