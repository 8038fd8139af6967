//! The AES counter mode cipher (RFC 3711 §4.1.1) and HMAC-SHA1 authentication (RFC 3711
//! §4.2.1) of the `AES128_CM_HMAC_SHA1_*` profiles, for one session key.
//!
//! The OpenSSL cipher context is keyed once; each packet only sets its IV. The HMAC is keyed
//! once too (inner and outer pads hashed) and cloned per packet, which copies a few hundred
//! bytes of state and allocates nothing.

use hmac::{Hmac, Mac};
use openssl::cipher::Cipher;
use openssl::cipher_ctx::CipherCtx;
use sha1::Sha1;

use crate::error::{Error, Result};

const SALT_LEN: usize = 14;
/// HMAC-SHA1 output length.
const MAC_LEN: usize = 20;

/// An AES-CM session key and salt with its HMAC-SHA1 session authentication key.
pub(crate) struct AesCm {
    ctx: CipherCtx,
    salt: [u8; SALT_LEN],
    mac: Hmac<Sha1>,
    tag_len: usize,
}

impl AesCm {
    /// `tag_len` is the number of leading HMAC bytes carried in packets (4 or 10).
    pub(crate) fn new(key: &[u8], salt: &[u8], auth_key: &[u8], tag_len: usize) -> Result<Self> {
        let cipher = match key.len() {
            16 => Cipher::aes_128_ctr(),
            _ => return Err(Error::InvalidKey("AES-CM session key must be 16 bytes")),
        };
        let salt: [u8; SALT_LEN] = salt
            .try_into()
            .map_err(|_| Error::InvalidKey("AES-CM session salt must be 14 bytes"))?;
        if tag_len == 0 || tag_len > MAC_LEN {
            return Err(Error::InvalidKey("HMAC-SHA1 tag length out of range"));
        }
        let mut ctx = CipherCtx::new().map_err(|_| Error::Crypto("cipher context"))?;
        ctx.encrypt_init(Some(cipher), Some(key), None)
            .map_err(|_| Error::Crypto("AES-CM key setup"))?;
        let mac = Hmac::<Sha1>::new_from_slice(auth_key)
            .map_err(|_| Error::InvalidKey("HMAC-SHA1 key"))?;
        Ok(AesCm { ctx, salt, mac, tag_len })
    }

    /// RFC 3711 §4.1.1: `IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16)`.
    fn iv(&self, ssrc: u32, index: u64) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv[..SALT_LEN].copy_from_slice(&self.salt);
        for (d, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
            *d ^= s;
        }
        // The 48-bit index times 2^16 fills bytes 8..14; bytes 14..16 are the block counter.
        for (d, s) in iv[8..16].iter_mut().zip((index << 16).to_be_bytes()) {
            *d ^= s;
        }
        iv
    }

    /// XORs the keystream of packet (`ssrc`, `index`) into `data`: encryption and decryption
    /// alike. The index is the 48-bit SRTP index or the 31-bit SRTCP index.
    pub(crate) fn apply_keystream(&mut self, ssrc: u32, index: u64, data: &mut [u8]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let iv = self.iv(ssrc, index);
        self.ctx.encrypt_init(None, None, Some(&iv)).map_err(|_| Error::Crypto("AES-CM IV"))?;
        let len = data.len();
        self.ctx.cipher_update_inplace(data, len).map_err(|_| Error::Crypto("AES-CM keystream"))?;
        Ok(())
    }

    fn mac_of(&self, message: &[u8], trailer: &[u8]) -> Hmac<Sha1> {
        let mut mac = self.mac.clone();
        mac.update(message);
        mac.update(trailer);
        mac
    }

    /// Writes the tag of `message || trailer` into `tag` (whose length is the tag length).
    pub(crate) fn sign(&self, message: &[u8], trailer: &[u8], tag: &mut [u8]) {
        let full = self.mac_of(message, trailer).finalize().into_bytes();
        for (d, s) in tag.iter_mut().zip(full.iter()) {
            *d = *s;
        }
    }

    /// Checks `tag` against the HMAC of `message || trailer`, in constant time.
    pub(crate) fn verify(&self, message: &[u8], trailer: &[u8], tag: &[u8]) -> Result<()> {
        if tag.len() != self.tag_len {
            return Err(Error::AuthenticationFailed);
        }
        self.mac_of(message, trailer)
            .verify_truncated_left(tag)
            .map_err(|_| Error::AuthenticationFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s.split_whitespace().collect::<String>()).unwrap()
    }

    /// RFC 3711 Appendix B.2: the AES-CM keystream segment of 65282 blocks, with the session
    /// salt F0F1..FD, SSRC 0 and index 0. The end of the segment checks that only the low 16
    /// bits count blocks (0xFEFF -> 0xFF00 -> 0xFF01).
    #[test]
    fn rfc3711_b2_keystream() {
        let mut cm = AesCm::new(
            &unhex("2B7E151628AED2A6ABF7158809CF4F3C"),
            &unhex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD"),
            &[0u8; 20],
            10,
        )
        .unwrap();
        assert_eq!(cm.iv(0, 0).to_vec(), unhex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000"));
        let mut stream = vec![0u8; 1_044_512];
        assert_eq!(stream.len(), 65282 * 16);
        cm.apply_keystream(0, 0, &mut stream).unwrap();
        assert_eq!(
            stream[..48].to_vec(),
            unhex(
                "E03EAD0935C95E80E166B16DD92B4EB4
                 D23513162B02D0F72A43A2FE4A5F97AB
                 41E95B3BB0A2E8DD477901E4FCA894C0"
            )
        );
        assert_eq!(
            stream[stream.len() - 48..].to_vec(),
            unhex(
                "EC8CDF7398607CB0F2D21675EA9EA1E4
                 362B7C3C6773516318A077D7FC5073AE
                 6A2CC3787889374FBEB4C81B17BA6C44"
            )
        );
    }

    #[test]
    fn iv_places_ssrc_and_index() {
        let cm = AesCm::new(&[0u8; 16], &[0u8; 14], &[0u8; 20], 10).unwrap();
        assert_eq!(
            cm.iv(0x11223344, 0x0000_5566_7788_99aa).to_vec(),
            unhex("00000000 11223344 5566778899aa 0000")
        );
    }

    #[test]
    fn verify_accepts_own_tag_and_refuses_changes() {
        let cm = AesCm::new(&[1u8; 16], &[2u8; 14], &[3u8; 20], 10).unwrap();
        let mut tag = [0u8; 10];
        cm.sign(b"message", &[0, 0, 0, 1], &mut tag);
        assert_eq!(cm.verify(b"message", &[0, 0, 0, 1], &tag), Ok(()));
        assert_eq!(cm.verify(b"message", &[0, 0, 0, 2], &tag), Err(Error::AuthenticationFailed));
        assert_eq!(cm.verify(b"messagf", &[0, 0, 0, 1], &tag), Err(Error::AuthenticationFailed));
        assert_eq!(
            cm.verify(b"message", &[0, 0, 0, 1], &tag[..9]),
            Err(Error::AuthenticationFailed)
        );
    }
}
