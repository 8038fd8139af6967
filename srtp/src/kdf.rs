//! SRTP key derivation (RFC 3711 §4.3) with the AES-CM PRF (RFC 3711 §4.3.3), or the
//! AES_256_CM_PRF (RFC 6188 §7.1) for 256-bit master keys.
//!
//! Only the initial derivation is done: the key derivation rate is 0 (the WebRTC and DTLS-SRTP
//! default), so `index DIV key_derivation_rate` is 0 and the session keys never change.

use openssl::cipher::Cipher;
use openssl::cipher_ctx::CipherCtx;

use crate::error::{Error, Result};
use crate::profile::ProtectionProfile;

/// Key derivation labels (RFC 3711 §4.3.1 and §4.3.2).
pub(crate) mod label {
    pub(crate) const RTP_ENCRYPTION: u8 = 0x00;
    pub(crate) const RTP_AUTHENTICATION: u8 = 0x01;
    pub(crate) const RTP_SALT: u8 = 0x02;
    pub(crate) const RTCP_ENCRYPTION: u8 = 0x03;
    pub(crate) const RTCP_AUTHENTICATION: u8 = 0x04;
    pub(crate) const RTCP_SALT: u8 = 0x05;
}

/// Longest master salt the PRF takes (112 bits).
const PRF_SALT_LEN: usize = 14;

/// The keys of one direction of SRTP or SRTCP, derived from a master key and salt.
pub(crate) struct SessionKeys {
    pub(crate) encryption_key: Vec<u8>,
    pub(crate) salt: Vec<u8>,
    /// Empty for the AEAD profiles.
    pub(crate) auth_key: Vec<u8>,
}

/// The AES-CM pseudo-random function keyed with a master key.
pub(crate) struct Kdf {
    ctx: CipherCtx,
    /// The master salt, zero-padded on the right to 112 bits: RFC 7714 §11 (erratum 4938) has
    /// the 96-bit GCM master salt multiplied by 2^16 before use as the 112-bit PRF salt.
    salt: [u8; PRF_SALT_LEN],
}

impl Kdf {
    /// A PRF keyed with `master_key` (16 bytes: AES-128-CM, 32 bytes: AES-256-CM per
    /// RFC 6188) and salted with `master_salt` (at most 14 bytes).
    pub(crate) fn new(master_key: &[u8], master_salt: &[u8]) -> Result<Self> {
        let cipher = match master_key.len() {
            16 => Cipher::aes_128_ctr(),
            32 => Cipher::aes_256_ctr(),
            _ => return Err(Error::InvalidKey("master key must be 16 or 32 bytes")),
        };
        let mut salt = [0u8; PRF_SALT_LEN];
        salt.get_mut(..master_salt.len())
            .ok_or(Error::InvalidKey("master salt longer than 14 bytes"))?
            .copy_from_slice(master_salt);
        let mut ctx = CipherCtx::new().map_err(|_| Error::Crypto("cipher context"))?;
        ctx.encrypt_init(Some(cipher), Some(master_key), None)
            .map_err(|_| Error::Crypto("PRF key setup"))?;
        Ok(Kdf { ctx, salt })
    }

    /// Fills `out` with the PRF output for `label` (RFC 3711 §4.3.1):
    /// `x = (label || r) XOR master_salt` with `r = 0`, then AES-CM keystream from IV `x * 2^16`.
    pub(crate) fn derive(&mut self, label: u8, out: &mut [u8]) -> Result<()> {
        let mut iv = [0u8; 16];
        iv[..PRF_SALT_LEN].copy_from_slice(&self.salt);
        // key_id = label || r is 56 bits, right-aligned against the 112-bit salt: the label
        // lands in byte 7 and r (all zero) in bytes 8..14.
        iv[7] ^= label;
        out.fill(0);
        self.ctx.encrypt_init(None, None, Some(&iv)).map_err(|_| Error::Crypto("PRF IV"))?;
        let len = out.len();
        self.ctx.cipher_update_inplace(out, len).map_err(|_| Error::Crypto("PRF keystream"))?;
        Ok(())
    }

    /// The SRTP (`rtcp == false`) or SRTCP session keys of `profile`.
    pub(crate) fn session_keys(
        &mut self,
        profile: ProtectionProfile,
        rtcp: bool,
    ) -> Result<SessionKeys> {
        let (enc_label, auth_label, salt_label) = if rtcp {
            (label::RTCP_ENCRYPTION, label::RTCP_AUTHENTICATION, label::RTCP_SALT)
        } else {
            (label::RTP_ENCRYPTION, label::RTP_AUTHENTICATION, label::RTP_SALT)
        };
        let mut encryption_key = vec![0u8; profile.master_key_len()];
        let mut salt = vec![0u8; profile.master_salt_len()];
        let mut auth_key = vec![0u8; profile.auth_key_len()];
        self.derive(enc_label, &mut encryption_key)?;
        self.derive(salt_label, &mut salt)?;
        if !auth_key.is_empty() {
            self.derive(auth_label, &mut auth_key)?;
        }
        Ok(SessionKeys { encryption_key, salt, auth_key })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s.split_whitespace().collect::<String>()).unwrap()
    }

    /// RFC 3711 Appendix B.3: key derivation test vectors.
    #[test]
    fn rfc3711_b3_key_derivation() {
        let mut kdf = Kdf::new(
            &unhex("E1F97A0D3E018BE0D64FA32C06DE4139"),
            &unhex("0EC675AD498AFEEBB6960B3AABE6"),
        )
        .unwrap();

        let mut cipher_key = [0u8; 16];
        kdf.derive(label::RTP_ENCRYPTION, &mut cipher_key).unwrap();
        assert_eq!(cipher_key.to_vec(), unhex("C61E7A93744F39EE10734AFE3FF7A087"));

        let mut cipher_salt = [0u8; 14];
        kdf.derive(label::RTP_SALT, &mut cipher_salt).unwrap();
        assert_eq!(cipher_salt.to_vec(), unhex("30CBBC08863D8C85D49DB34A9AE1"));

        // The appendix walks through a 94-octet auth key; HMAC-SHA1 uses its first 20.
        let mut auth_key = [0u8; 94];
        kdf.derive(label::RTP_AUTHENTICATION, &mut auth_key).unwrap();
        assert_eq!(
            auth_key.to_vec(),
            unhex(
                "CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE
                 E049646C43D9327AD175578EF7227098 6371C10C9A369AC2F94A8C5FBCDDDC25
                 6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2"
            )
        );

        let keys = kdf.session_keys(ProtectionProfile::Aes128CmHmacSha1_80, false).unwrap();
        assert_eq!(keys.encryption_key, unhex("C61E7A93744F39EE10734AFE3FF7A087"));
        assert_eq!(keys.salt, unhex("30CBBC08863D8C85D49DB34A9AE1"));
        assert_eq!(keys.auth_key, unhex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4"));
    }

    /// RFC 6188 §7.2: AES_256_CM_PRF test cases (the KDF of AEAD_AES_256_GCM, RFC 7714 §11).
    #[test]
    fn rfc6188_aes_256_cm_prf() {
        let mut kdf = Kdf::new(
            &unhex("f0f04914b513f2763a1b1fa130f10e29 98f6f6e43e4309d1e622a0e332b9f1b6"),
            &unhex("3b04803de51ee7c96423ab5b78d2"),
        )
        .unwrap();
        let mut key = [0u8; 32];
        kdf.derive(label::RTP_ENCRYPTION, &mut key).unwrap();
        assert_eq!(
            key.to_vec(),
            unhex("5ba1064e30ec51613cad926c5a28ef73 1ec7fb397f70a960653caf06554cd8c4")
        );
        let mut salt = [0u8; 14];
        kdf.derive(label::RTP_SALT, &mut salt).unwrap();
        assert_eq!(salt.to_vec(), unhex("fa31791685ca444a9e07c6c64e93"));
        let mut auth = [0u8; 20];
        kdf.derive(label::RTP_AUTHENTICATION, &mut auth).unwrap();
        assert_eq!(auth.to_vec(), unhex("fd9c32d39ed5fbb5a9dc96b30818454d1313dc05"));
    }

    #[test]
    fn rtcp_labels_give_different_keys() {
        let mut kdf = Kdf::new(&[7u8; 16], &[9u8; 14]).unwrap();
        let rtp = kdf.session_keys(ProtectionProfile::Aes128CmHmacSha1_80, false).unwrap();
        let rtcp = kdf.session_keys(ProtectionProfile::Aes128CmHmacSha1_80, true).unwrap();
        assert_ne!(rtp.encryption_key, rtcp.encryption_key);
        assert_ne!(rtp.salt, rtcp.salt);
        assert_ne!(rtp.auth_key, rtcp.auth_key);
        let gcm = kdf.session_keys(ProtectionProfile::AeadAes128Gcm, false).unwrap();
        assert!(gcm.auth_key.is_empty());
        assert_eq!(gcm.salt.len(), 12);
    }

    #[test]
    fn bad_lengths_are_refused() {
        assert!(matches!(Kdf::new(&[0u8; 24], &[0u8; 14]), Err(Error::InvalidKey(_))));
        assert!(matches!(Kdf::new(&[0u8; 16], &[0u8; 15]), Err(Error::InvalidKey(_))));
    }
}
