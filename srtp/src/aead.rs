//! AES-GCM for SRTP and SRTCP (RFC 7714), for one session key.
//!
//! The OpenSSL cipher context is keyed once; each packet sets its IV, feeds the associated data,
//! transforms the payload in place and finishes with the tag. Nothing is allocated per packet.

use openssl::cipher::Cipher;
use openssl::cipher_ctx::CipherCtx;

use crate::error::{Error, Result};

const SALT_LEN: usize = 12;
/// RFC 7714 §10: the AEAD tag is 16 octets.
pub(crate) const TAG_LEN: usize = 16;

/// An AES-GCM session key and salt.
pub(crate) struct AesGcm {
    ctx: CipherCtx,
    salt: [u8; SALT_LEN],
}

impl AesGcm {
    pub(crate) fn new(key: &[u8], salt: &[u8]) -> Result<Self> {
        let cipher = match key.len() {
            16 => Cipher::aes_128_gcm(),
            32 => Cipher::aes_256_gcm(),
            _ => return Err(Error::InvalidKey("AES-GCM session key must be 16 or 32 bytes")),
        };
        let salt: [u8; SALT_LEN] = salt
            .try_into()
            .map_err(|_| Error::InvalidKey("AES-GCM session salt must be 12 bytes"))?;
        let mut ctx = CipherCtx::new().map_err(|_| Error::Crypto("cipher context"))?;
        // GCM's default IV length is the 12 bytes RFC 7714 uses.
        ctx.encrypt_init(Some(cipher), Some(key), None)
            .map_err(|_| Error::Crypto("AES-GCM key setup"))?;
        Ok(AesGcm { ctx, salt })
    }

    /// RFC 7714 §8.1: `IV = (00 00 || SSRC || ROC || SEQ) XOR salt`.
    pub(crate) fn rtp_iv(&self, ssrc: u32, roc: u32, seq: u16) -> [u8; SALT_LEN] {
        let mut iv = self.salt;
        xor(&mut iv[2..6], &ssrc.to_be_bytes());
        xor(&mut iv[6..10], &roc.to_be_bytes());
        xor(&mut iv[10..12], &seq.to_be_bytes());
        iv
    }

    /// RFC 7714 §9.1: `IV = (00 00 || SSRC || 00 00 || 0 || SRTCP index) XOR salt`.
    pub(crate) fn rtcp_iv(&self, ssrc: u32, index: u32) -> [u8; SALT_LEN] {
        let mut iv = self.salt;
        xor(&mut iv[2..6], &ssrc.to_be_bytes());
        xor(&mut iv[8..12], &(index & 0x7fff_ffff).to_be_bytes());
        iv
    }

    /// Encrypts `data` in place and writes the 16-byte tag over `aad` (fed in order) and `data`.
    pub(crate) fn seal(
        &mut self,
        iv: &[u8; SALT_LEN],
        aad: [&[u8]; 2],
        data: &mut [u8],
        tag: &mut [u8],
    ) -> Result<()> {
        self.ctx.encrypt_init(None, None, Some(iv)).map_err(|_| Error::Crypto("AES-GCM IV"))?;
        self.feed_aad(aad)?;
        if !data.is_empty() {
            let len = data.len();
            self.ctx.cipher_update_inplace(data, len).map_err(|_| Error::Crypto("AES-GCM"))?;
        }
        self.ctx.cipher_final(&mut []).map_err(|_| Error::Crypto("AES-GCM final"))?;
        self.ctx.tag(tag).map_err(|_| Error::Crypto("AES-GCM tag"))?;
        Ok(())
    }

    /// Verifies `tag` over `aad` and `data` and decrypts `data` in place.
    ///
    /// OpenSSL checks the tag in the same pass that decrypts; when the tag is wrong the data is
    /// encrypted again with the same keystream, so on error `data` holds the ciphertext it had
    /// on entry and no unauthenticated plaintext is left behind.
    pub(crate) fn open(
        &mut self,
        iv: &[u8; SALT_LEN],
        aad: [&[u8]; 2],
        data: &mut [u8],
        tag: &[u8],
    ) -> Result<()> {
        if tag.len() != TAG_LEN {
            return Err(Error::AuthenticationFailed);
        }
        self.ctx.decrypt_init(None, None, Some(iv)).map_err(|_| Error::Crypto("AES-GCM IV"))?;
        self.feed_aad(aad)?;
        let len = data.len();
        if len > 0 {
            self.ctx.cipher_update_inplace(data, len).map_err(|_| Error::Crypto("AES-GCM"))?;
        }
        self.ctx.set_tag(tag).map_err(|_| Error::Crypto("AES-GCM tag"))?;
        if self.ctx.cipher_final(&mut []).is_ok() {
            return Ok(());
        }
        if len > 0 {
            // Same IV, same counter blocks: XORing the keystream again restores the ciphertext.
            self.ctx
                .encrypt_init(None, None, Some(iv))
                .and_then(|()| self.ctx.cipher_update_inplace(data, len))
                .map_err(|_| Error::Crypto("AES-GCM restore"))?;
        }
        Err(Error::AuthenticationFailed)
    }

    fn feed_aad(&mut self, aad: [&[u8]; 2]) -> Result<()> {
        for part in aad {
            if !part.is_empty() {
                self.ctx.cipher_update(part, None).map_err(|_| Error::Crypto("AES-GCM AAD"))?;
            }
        }
        Ok(())
    }
}

fn xor(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d ^= s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s.split_whitespace().collect::<String>()).unwrap()
    }

    fn rfc7714_128() -> AesGcm {
        AesGcm::new(&unhex("000102030405060708090a0b0c0d0e0f"), &unhex("517569642070726f2071756f"))
            .unwrap()
    }

    /// RFC 7714 §16.1 and §17.1 list the IVs of their packets.
    #[test]
    fn ivs_match_rfc7714() {
        let gcm = rfc7714_128();
        assert_eq!(gcm.rtp_iv(0x5501a0b2, 0, 0xf17b).to_vec(), unhex("51753c6580c2726f20718414"));
        assert_eq!(gcm.rtcp_iv(0x4d617273, 0x5d4).to_vec(), unhex("517524055203726f207170bb"));
    }

    #[test]
    fn failed_open_leaves_the_ciphertext() {
        let mut gcm = rfc7714_128();
        let iv = gcm.rtp_iv(1, 2, 3);
        let mut data = *b"some secret payload";
        let mut tag = [0u8; 16];
        gcm.seal(&iv, [b"hdr", b""], &mut data, &mut tag).unwrap();
        let sealed = data;
        tag[3] ^= 0x40;
        assert_eq!(gcm.open(&iv, [b"hdr", b""], &mut data, &tag), Err(Error::AuthenticationFailed));
        assert_eq!(data, sealed);
        tag[3] ^= 0x40;
        assert_eq!(gcm.open(&iv, [b"hdr", b""], &mut data, &tag), Ok(()));
        assert_eq!(&data, b"some secret payload");
    }
}
