//! HMAC and CRC computations behind MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and
//! FINGERPRINT (RFC 8489 §14.5-§14.7), shared by the reader and the writer.
//!
//! The input is always "the header with its length field adjusted, then the message bytes up
//! to the attribute being computed". The reader passes a patched 20-byte copy of the header
//! and the borrowed rest, so no message is copied; the writer patches its own buffer.

use hmac::{Hmac, Mac};

use crate::Error;

/// FINGERPRINT XOR constant, "STUN" in ASCII (RFC 8489 §14.7).
pub(crate) const FINGERPRINT_XOR: u32 = 0x5354_554E;

/// HMAC-SHA1 over the concatenation of `parts`.
pub(crate) fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> Result<[u8; 20], Error> {
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(key)
        .map_err(|_| Error::Crypto("HMAC-SHA1 rejected the key"))?;
    for part in parts {
        mac.update(part);
    }
    Ok(mac.finalize().into_bytes().into())
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Result<[u8; 32], Error> {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
        .map_err(|_| Error::Crypto("HMAC-SHA256 rejected the key"))?;
    for part in parts {
        mac.update(part);
    }
    Ok(mac.finalize().into_bytes().into())
}

/// CRC-32 (ITU V.42, the one of zlib) XOR 0x5354554E over the concatenation of `parts`.
pub(crate) fn fingerprint(parts: &[&[u8]]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    for part in parts {
        crc.update(part);
    }
    crc.finalize() ^ FINGERPRINT_XOR
}

/// Constant-time equality. `openssl::memcmp::eq` panics on unequal lengths, so lengths are
/// compared first (lengths are public: they are on the wire).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha1_rfc2202_case_2() {
        // RFC 2202 §3 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mac = hmac_sha1(b"Jefe", &[b"what do ya want ", b"for nothing?"]).unwrap();
        assert_eq!(hex::encode(mac), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }

    #[test]
    fn hmac_sha256_rfc4231_case_2() {
        // RFC 4231 §4.3 test case 2.
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want for nothing?"]).unwrap();
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn crc_is_the_zlib_one() {
        // CRC-32 of "123456789" is 0xCBF43926.
        assert_eq!(fingerprint(&[b"1234", b"56789"]) ^ FINGERPRINT_XOR, 0xCBF4_3926);
    }

    #[test]
    fn constant_time_eq_handles_lengths() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
