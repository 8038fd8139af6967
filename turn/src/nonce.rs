//! Stateless NONCEs (RFC 8489 §9.2): the server remembers nothing between the 401 and the
//! authenticated retry. A nonce is its expiry (unix seconds, 16 hex digits) followed by a
//! truncated HMAC-SHA1 (24 hex digits) over that expiry and the client's transport and
//! address, keyed with a secret drawn when the server starts. A nonce is valid until its
//! expiry and only from the client it was given to; after that the client gets a 438 (Stale
//! Nonce) with a fresh one.

use std::net::{IpAddr, SocketAddr};

use hmac::{Hmac, Mac};

use crate::auth::constant_time_eq;
use crate::Transport;

/// Characters in a nonce.
pub(crate) const NONCE_LEN: usize = 40;

/// Bytes of the HMAC kept in the nonce (96 bits).
const MAC_LEN: usize = 12;

/// Mints and checks nonces.
pub(crate) struct NonceMinter {
    key: [u8; 32],
    lifetime_secs: u64,
}

impl std::fmt::Debug for NonceMinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonceMinter").field("lifetime_secs", &self.lifetime_secs).finish()
    }
}

/// A minted nonce: ASCII hex, held on the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NonceText([u8; NONCE_LEN]);

impl NonceText {
    pub(crate) fn as_str(&self) -> &str {
        // Only hex digits are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl NonceMinter {
    pub(crate) fn new(key: [u8; 32], lifetime_secs: u64) -> Self {
        Self { key, lifetime_secs }
    }

    /// A nonce for `client` valid for the configured lifetime from `unix_now`.
    pub(crate) fn mint(
        &self,
        unix_now: u64,
        transport: Transport,
        client: SocketAddr,
    ) -> NonceText {
        let expiry = unix_now.saturating_add(self.lifetime_secs);
        let mac = self.mac(expiry, transport, client);
        let mut text = [0u8; NONCE_LEN];
        hex_into(&expiry.to_be_bytes(), &mut text[..16]);
        hex_into(&mac, &mut text[16..]);
        NonceText(text)
    }

    /// Whether `nonce` was minted by this server for `client` and has not expired.
    pub(crate) fn is_valid(
        &self,
        nonce: &str,
        unix_now: u64,
        transport: Transport,
        client: SocketAddr,
    ) -> bool {
        let bytes = nonce.as_bytes();
        if bytes.len() != NONCE_LEN {
            return false;
        }
        let (Some(expiry), Some(mac)) = (unhex::<8>(&bytes[..16]), unhex::<MAC_LEN>(&bytes[16..]))
        else {
            return false;
        };
        let expiry = u64::from_be_bytes(expiry);
        let expected = self.mac(expiry, transport, client);
        // The MAC is compared in constant time, then the (public) expiry.
        constant_time_eq(&expected, &mac) && expiry >= unix_now
    }

    fn mac(&self, expiry: u64, transport: Transport, client: SocketAddr) -> [u8; MAC_LEN] {
        let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"turn nonce v1");
        mac.update(&expiry.to_be_bytes());
        mac.update(&[transport as u8]);
        let ip = match client.ip() {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        mac.update(&ip);
        mac.update(&client.port().to_be_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes `bytes` as lowercase hex into `out` (twice as long).
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0x0F)];
    }
}

/// Reads exactly `2 * N` lowercase hex digits.
fn unhex<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> SocketAddr {
        "198.51.100.7:50000".parse().unwrap()
    }

    #[test]
    fn valid_until_expiry_and_only_for_its_client() {
        let minter = NonceMinter::new([3; 32], 600);
        let nonce = minter.mint(1_000, Transport::Udp, client());
        let text = nonce.as_str();
        assert_eq!(text.len(), NONCE_LEN);
        assert!(text.starts_with("0000000000000640"), "{text}"); // 1600 = 0x640
        assert!(minter.is_valid(text, 1_000, Transport::Udp, client()));
        assert!(minter.is_valid(text, 1_600, Transport::Udp, client()));
        assert!(!minter.is_valid(text, 1_601, Transport::Udp, client()));
        assert!(!minter.is_valid(text, 1_000, Transport::Tcp, client()));
        let other: SocketAddr = "198.51.100.7:50001".parse().unwrap();
        assert!(!minter.is_valid(text, 1_000, Transport::Udp, other));
        // Another server (another key) does not accept it.
        assert!(!NonceMinter::new([4; 32], 600).is_valid(text, 1_000, Transport::Udp, client()));
    }

    #[test]
    fn forged_and_malformed_nonces() {
        let minter = NonceMinter::new([3; 32], 600);
        let nonce = minter.mint(1_000, Transport::Udp, client());
        // Moving the expiry forward breaks the MAC.
        let mut forged = nonce.as_str().as_bytes().to_vec();
        forged[15] = b'f';
        let forged = String::from_utf8(forged).unwrap();
        assert!(!minter.is_valid(&forged, 1_000, Transport::Udp, client()));
        assert!(!minter.is_valid("", 1_000, Transport::Udp, client()));
        assert!(!minter.is_valid(&"z".repeat(NONCE_LEN), 1_000, Transport::Udp, client()));
        let upper = nonce.as_str().to_uppercase();
        assert!(
            !minter.is_valid(&upper, 1_000, Transport::Udp, client()) || upper == nonce.as_str()
        );
        assert!(!minter.is_valid(&nonce.as_str()[1..], 1_000, Transport::Udp, client()));
    }

    #[test]
    fn hex_round_trip() {
        let mut out = [0u8; 8];
        hex_into(&[0x01, 0xab, 0xff, 0x00], &mut out);
        assert_eq!(&out, b"01abff00");
        assert_eq!(unhex::<4>(b"01abff00"), Some([0x01, 0xab, 0xff, 0x00]));
        assert_eq!(unhex::<4>(b"01abff0"), None);
        assert_eq!(unhex::<1>(b"0g"), None);
    }
}
