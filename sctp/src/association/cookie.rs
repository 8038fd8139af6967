//! The State Cookie (RFC 9260 §5.1.3): everything needed to build the association from a
//! COOKIE-ECHO, signed with HMAC-SHA256 under a per-association secret so that a peer cannot
//! forge or alter it, and stamped with its creation time so that a stale one is refused.
//!
//! Layout (all big-endian), followed by a 32-byte HMAC over the preceding bytes:
//!
//! ```text
//! version(1) flags(1) peer_os(2) peer_mis(2) my_tag(4) peer_tag(4) my_initial_tsn(4)
//! peer_initial_tsn(4) peer_a_rwnd(4) my_tie_tag(4) peer_tie_tag(4) created_ms(8)
//! ```

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::bytes::{read_u16, read_u32, read_u64};
use crate::Error;

const VERSION: u8 = 1;
const BODY_LEN: usize = 42;
const MAC_LEN: usize = 32;
/// Encoded cookie length.
pub(crate) const COOKIE_LEN: usize = BODY_LEN + MAC_LEN;

const FLAG_FORWARD_TSN: u8 = 0x01;
const FLAG_RECONFIG: u8 = 0x02;

/// The contents of a State Cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StateCookie {
    /// Our verification tag for this association.
    pub(crate) my_tag: u32,
    /// The peer's Initiate Tag from its INIT.
    pub(crate) peer_tag: u32,
    pub(crate) my_initial_tsn: u32,
    pub(crate) peer_initial_tsn: u32,
    pub(crate) peer_a_rwnd: u32,
    pub(crate) peer_outbound_streams: u16,
    pub(crate) peer_inbound_streams: u16,
    pub(crate) peer_forward_tsn: bool,
    pub(crate) peer_reconfig: bool,
    /// Tie-tags (RFC 9260 §5.2.2): our tags of the existing association, or zero.
    pub(crate) my_tie_tag: u32,
    pub(crate) peer_tie_tag: u32,
    /// Milliseconds since the association's epoch when the cookie was made.
    pub(crate) created_ms: u64,
}

fn mac(key: &[u8; 32]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; this cannot fail.
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length")
}

impl StateCookie {
    /// Encodes and signs the cookie.
    pub(crate) fn encode(&self, key: &[u8; 32]) -> [u8; COOKIE_LEN] {
        let mut out = [0u8; COOKIE_LEN];
        let mut flags = 0;
        if self.peer_forward_tsn {
            flags |= FLAG_FORWARD_TSN;
        }
        if self.peer_reconfig {
            flags |= FLAG_RECONFIG;
        }
        out[0] = VERSION;
        out[1] = flags;
        out[2..4].copy_from_slice(&self.peer_outbound_streams.to_be_bytes());
        out[4..6].copy_from_slice(&self.peer_inbound_streams.to_be_bytes());
        out[6..10].copy_from_slice(&self.my_tag.to_be_bytes());
        out[10..14].copy_from_slice(&self.peer_tag.to_be_bytes());
        out[14..18].copy_from_slice(&self.my_initial_tsn.to_be_bytes());
        out[18..22].copy_from_slice(&self.peer_initial_tsn.to_be_bytes());
        out[22..26].copy_from_slice(&self.peer_a_rwnd.to_be_bytes());
        out[26..30].copy_from_slice(&self.my_tie_tag.to_be_bytes());
        out[30..34].copy_from_slice(&self.peer_tie_tag.to_be_bytes());
        out[34..42].copy_from_slice(&self.created_ms.to_be_bytes());
        let mut m = mac(key);
        m.update(&out[..BODY_LEN]);
        out[BODY_LEN..].copy_from_slice(&m.finalize().into_bytes());
        out
    }

    /// Verifies the signature (in constant time) and decodes the cookie.
    pub(crate) fn decode(bytes: &[u8], key: &[u8; 32]) -> Result<Self, Error> {
        if bytes.len() != COOKIE_LEN {
            return Err(Error::Dropped("State Cookie of the wrong length"));
        }
        let (body, tag) = bytes.split_at(BODY_LEN);
        let mut m = mac(key);
        m.update(body);
        m.verify_slice(tag).map_err(|_| Error::Dropped("State Cookie signature mismatch"))?;
        if body[0] != VERSION {
            return Err(Error::Dropped("State Cookie of an unknown version"));
        }
        let what = "State Cookie";
        Ok(Self {
            peer_forward_tsn: body[1] & FLAG_FORWARD_TSN != 0,
            peer_reconfig: body[1] & FLAG_RECONFIG != 0,
            peer_outbound_streams: read_u16(body, 2, what)?,
            peer_inbound_streams: read_u16(body, 4, what)?,
            my_tag: read_u32(body, 6, what)?,
            peer_tag: read_u32(body, 10, what)?,
            my_initial_tsn: read_u32(body, 14, what)?,
            peer_initial_tsn: read_u32(body, 18, what)?,
            peer_a_rwnd: read_u32(body, 22, what)?,
            my_tie_tag: read_u32(body, 26, what)?,
            peer_tie_tag: read_u32(body, 30, what)?,
            created_ms: read_u64(body, 34, what)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StateCookie {
        StateCookie {
            my_tag: 1,
            peer_tag: 2,
            my_initial_tsn: 3,
            peer_initial_tsn: 4,
            peer_a_rwnd: 5,
            peer_outbound_streams: 6,
            peer_inbound_streams: 7,
            peer_forward_tsn: true,
            peer_reconfig: false,
            my_tie_tag: 8,
            peer_tie_tag: 9,
            created_ms: 10,
        }
    }

    #[test]
    fn round_trip() {
        let key = [7u8; 32];
        let bytes = sample().encode(&key);
        assert_eq!(StateCookie::decode(&bytes, &key).unwrap(), sample());
    }

    #[test]
    fn tampering_and_wrong_key_are_refused() {
        let key = [7u8; 32];
        let bytes = sample().encode(&key);
        for i in 0..bytes.len() {
            let mut bad = bytes;
            bad[i] ^= 0x40;
            assert_eq!(
                StateCookie::decode(&bad, &key),
                Err(Error::Dropped("State Cookie signature mismatch"))
            );
        }
        assert!(StateCookie::decode(&bytes, &[8u8; 32]).is_err());
        assert!(StateCookie::decode(&bytes[..COOKIE_LEN - 1], &key).is_err());
    }
}
