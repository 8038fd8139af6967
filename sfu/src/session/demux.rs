//! Demultiplexing the datagrams of one 5-tuple by their first bytes (RFC 7983, RFC 5761).
//!
//! A WebRTC 5-tuple carries STUN, DTLS, SRTP and SRTCP at once. RFC 7983 §7 tells them apart
//! by the first byte alone; RFC 5761 §4 tells RTCP from RTP by the second. Nothing here
//! indexes past the length it checked.

/// What a datagram is, from its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PacketClass {
    /// 0..=3: STUN (RFC 7983 §7).
    Stun,
    /// 20..=63: DTLS (RFC 7983 §7).
    Dtls,
    /// 128..=191 with an RTP payload type: SRTP.
    Rtp,
    /// 128..=191 with an RTCP packet type: SRTCP (RFC 5761 §4).
    Rtcp,
    /// Anything else: empty, ZRTP (16..=19), TURN ChannelData (64..=79, never sent to a
    /// media port without TURN), or unassigned.
    Unknown,
}

/// Classifies a datagram (RFC 7983 §7, RFC 5761 §4).
pub(crate) fn classify(datagram: &[u8]) -> PacketClass {
    match datagram {
        [0..=3, ..] => PacketClass::Stun,
        [20..=63, ..] => PacketClass::Dtls,
        [128..=191, second, ..] => {
            // RFC 5761 §4: with the marker bit masked, RTCP packet types 192..=223 fall on
            // 64..=95, the RTP payload types a multiplexed session must not use.
            if (64..=95).contains(&(second & 0x7f)) {
                PacketClass::Rtcp
            } else {
                PacketClass::Rtp
            }
        }
        // A lone first byte of the RTP range cannot be told apart, nor be either.
        _ => PacketClass::Unknown,
    }
}

/// DTLS record content type `handshake` (RFC 5246 §6.2.1).
const CONTENT_TYPE_HANDSHAKE: u8 = 22;
/// Handshake message type `client_hello` (RFC 5246 §7.4).
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
/// Offset of the handshake message type: after the 13-byte DTLS record header (type 1,
/// version 2, epoch 2, sequence number 6, length 2; RFC 6347 §4.1).
const HANDSHAKE_TYPE_OFFSET: usize = 13;

/// Whether the datagram's first DTLS record is an epoch-0 handshake record that starts a
/// ClientHello (or a fragment of one): the peer is starting a handshake on this 5-tuple.
pub(crate) fn is_client_hello(datagram: &[u8]) -> bool {
    datagram.first() == Some(&CONTENT_TYPE_HANDSHAKE)
        && datagram.get(3..5) == Some(&[0, 0])
        && datagram.get(HANDSHAKE_TYPE_OFFSET) == Some(&HANDSHAKE_CLIENT_HELLO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_first_byte() {
        assert_eq!(classify(&[]), PacketClass::Unknown);
        for b in 0..=3u8 {
            assert_eq!(classify(&[b, 1]), PacketClass::Stun);
        }
        for b in 4..=19u8 {
            assert_eq!(classify(&[b, 1]), PacketClass::Unknown);
        }
        for b in 20..=63u8 {
            assert_eq!(classify(&[b]), PacketClass::Dtls);
        }
        for b in 64..=127u8 {
            assert_eq!(classify(&[b, 0]), PacketClass::Unknown);
        }
        for b in 192..=255u8 {
            assert_eq!(classify(&[b, 0]), PacketClass::Unknown);
        }
        assert_eq!(classify(&[0x80]), PacketClass::Unknown);
    }

    #[test]
    fn tells_rtcp_from_rtp() {
        // Sender report (200), receiver report (201), PSFB (206), and the range edges.
        for pt in [192u8, 200, 201, 206, 223] {
            assert_eq!(classify(&[0x80, pt]), PacketClass::Rtcp, "pt {pt}");
            // The same with the marker bit clear is the forbidden RTP range 64..=95.
            assert_eq!(classify(&[0x80, pt & 0x7f]), PacketClass::Rtcp, "pt {pt}");
        }
        for second in [0u8, 63, 96, 111, 127, 128 | 96, 128 | 111, 191, 224, 255] {
            assert_eq!(classify(&[0x90, second]), PacketClass::Rtp, "second byte {second}");
        }
    }

    #[test]
    fn recognizes_a_client_hello() {
        // Record header: handshake, DTLS 1.0 version (as ClientHellos use), epoch 0, seq 0,
        // length; then msg_type client_hello.
        let mut hello = vec![22, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 1, 0, 0, 0];
        assert!(is_client_hello(&hello));
        hello[13] = 2; // server_hello
        assert!(!is_client_hello(&hello));
        hello[13] = 1;
        hello[4] = 1; // epoch 1: encrypted, not a ClientHello
        assert!(!is_client_hello(&hello));
        hello[4] = 0;
        hello[0] = 23; // application data
        assert!(!is_client_hello(&hello));
        hello[0] = 22;
        assert!(!is_client_hello(&hello[..13]));
        assert!(!is_client_hello(&[]));
    }
}
