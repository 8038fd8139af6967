//! SRTP protection profiles (RFC 5764 §4.1.2, RFC 7714 §14.2).

use core::fmt;

/// An SRTP protection profile: which cipher and authentication a session uses, and the lengths
/// of its keys and tags.
///
/// The four profiles WebRTC endpoints offer. The DTLS-SRTP identifiers are the two-byte values
/// of the `use_srtp` extension (RFC 5764 §4.1.2, RFC 7714 §14.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtectionProfile {
    /// `SRTP_AES128_CM_HMAC_SHA1_80` (0x0001): AES-128 counter mode, HMAC-SHA1 with an
    /// 80-bit tag.
    Aes128CmHmacSha1_80,
    /// `SRTP_AES128_CM_HMAC_SHA1_32` (0x0002): as `_80` but with a 32-bit SRTP tag. SRTCP keeps
    /// the 80-bit tag, as the SDES definition of this suite (RFC 4568 §6.2) and libsrtp (so
    /// Chrome and Firefox) do: RFC 3711 §5.2 makes 80 bits the default tag for SRTCP too.
    Aes128CmHmacSha1_32,
    /// `SRTP_AEAD_AES_128_GCM` (0x0007): AES-128-GCM with a 16-byte tag (RFC 7714).
    AeadAes128Gcm,
    /// `SRTP_AEAD_AES_256_GCM` (0x0008): AES-256-GCM with a 16-byte tag (RFC 7714).
    AeadAes256Gcm,
}

impl ProtectionProfile {
    /// Every supported profile, in our order of preference for offers.
    pub const ALL: [ProtectionProfile; 4] = [
        ProtectionProfile::AeadAes128Gcm,
        ProtectionProfile::AeadAes256Gcm,
        ProtectionProfile::Aes128CmHmacSha1_80,
        ProtectionProfile::Aes128CmHmacSha1_32,
    ];

    /// The DTLS-SRTP profile identifier (RFC 5764 §4.1.2, RFC 7714 §14.2).
    pub const fn id(self) -> u16 {
        match self {
            ProtectionProfile::Aes128CmHmacSha1_80 => 0x0001,
            ProtectionProfile::Aes128CmHmacSha1_32 => 0x0002,
            ProtectionProfile::AeadAes128Gcm => 0x0007,
            ProtectionProfile::AeadAes256Gcm => 0x0008,
        }
    }

    /// The profile with this DTLS-SRTP identifier, or `None` for profiles we do not implement
    /// (for example the NULL-cipher ones, 0x0005 and 0x0006).
    pub const fn from_id(id: u16) -> Option<Self> {
        match id {
            0x0001 => Some(ProtectionProfile::Aes128CmHmacSha1_80),
            0x0002 => Some(ProtectionProfile::Aes128CmHmacSha1_32),
            0x0007 => Some(ProtectionProfile::AeadAes128Gcm),
            0x0008 => Some(ProtectionProfile::AeadAes256Gcm),
            _ => None,
        }
    }

    /// The profile's registered name, as OpenSSL's `use_srtp` profile list spells it.
    pub const fn name(self) -> &'static str {
        match self {
            ProtectionProfile::Aes128CmHmacSha1_80 => "SRTP_AES128_CM_SHA1_80",
            ProtectionProfile::Aes128CmHmacSha1_32 => "SRTP_AES128_CM_SHA1_32",
            ProtectionProfile::AeadAes128Gcm => "SRTP_AEAD_AES_128_GCM",
            ProtectionProfile::AeadAes256Gcm => "SRTP_AEAD_AES_256_GCM",
        }
    }

    /// Whether the profile is an AEAD (GCM) one.
    pub const fn is_aead(self) -> bool {
        matches!(self, ProtectionProfile::AeadAes128Gcm | ProtectionProfile::AeadAes256Gcm)
    }

    /// Length in bytes of the master key, which is also the session encryption key length.
    pub const fn master_key_len(self) -> usize {
        match self {
            ProtectionProfile::AeadAes256Gcm => 32,
            _ => 16,
        }
    }

    /// Length in bytes of the master salt, which is also the session salt length: 112 bits
    /// for AES-CM (RFC 3711 §8.2), 96 bits for GCM (RFC 7714 §12).
    pub const fn master_salt_len(self) -> usize {
        if self.is_aead() {
            12
        } else {
            14
        }
    }

    /// Length in bytes of the session authentication key: 160 bits for HMAC-SHA1
    /// (RFC 3711 §4.2.1), none for GCM.
    pub const fn auth_key_len(self) -> usize {
        if self.is_aead() {
            0
        } else {
            20
        }
    }

    /// Length in bytes of the authentication tag of an SRTP packet.
    pub const fn rtp_auth_tag_len(self) -> usize {
        match self {
            ProtectionProfile::Aes128CmHmacSha1_80 => 10,
            ProtectionProfile::Aes128CmHmacSha1_32 => 4,
            ProtectionProfile::AeadAes128Gcm | ProtectionProfile::AeadAes256Gcm => 16,
        }
    }

    /// Length in bytes of the authentication tag of an SRTCP packet (80 bits for both AES-CM
    /// profiles, see [`ProtectionProfile::Aes128CmHmacSha1_32`]).
    pub const fn rtcp_auth_tag_len(self) -> usize {
        if self.is_aead() {
            16
        } else {
            10
        }
    }

    /// Bytes that protecting an RTP packet appends (the tag).
    pub const fn rtp_overhead(self) -> usize {
        self.rtp_auth_tag_len()
    }

    /// Bytes that protecting an RTCP packet appends (the E flag and SRTCP index word, and the
    /// tag).
    pub const fn rtcp_overhead(self) -> usize {
        self.rtcp_auth_tag_len() + SRTCP_INDEX_LEN
    }

    /// Length of the DTLS-SRTP keying material to export for this profile (RFC 5764 §4.2):
    /// two master keys and two master salts.
    pub const fn keying_material_len(self) -> usize {
        2 * (self.master_key_len() + self.master_salt_len())
    }
}

impl fmt::Display for ProtectionProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Length of the SRTCP E flag and index word (RFC 3711 §3.4).
pub(crate) const SRTCP_INDEX_LEN: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_registered_ones_and_round_trip() {
        // RFC 5764 §4.1.2 and RFC 7714 §14.2.
        assert_eq!(ProtectionProfile::Aes128CmHmacSha1_80.id(), 0x0001);
        assert_eq!(ProtectionProfile::Aes128CmHmacSha1_32.id(), 0x0002);
        assert_eq!(ProtectionProfile::AeadAes128Gcm.id(), 0x0007);
        assert_eq!(ProtectionProfile::AeadAes256Gcm.id(), 0x0008);
        for profile in ProtectionProfile::ALL {
            assert_eq!(ProtectionProfile::from_id(profile.id()), Some(profile));
        }
        for id in [0x0000, 0x0003, 0x0004, 0x0005, 0x0006, 0x0009, 0xffff] {
            assert_eq!(ProtectionProfile::from_id(id), None);
        }
    }

    #[test]
    fn lengths_match_the_rfc_tables() {
        use ProtectionProfile::*;
        // (master key, master salt, auth key, SRTP tag, SRTCP tag, keying material)
        let table = [
            (Aes128CmHmacSha1_80, 16, 14, 20, 10, 10, 60),
            (Aes128CmHmacSha1_32, 16, 14, 20, 4, 10, 60),
            (AeadAes128Gcm, 16, 12, 0, 16, 16, 56),
            (AeadAes256Gcm, 32, 12, 0, 16, 16, 88),
        ];
        for (p, key, salt, auth, rtp_tag, rtcp_tag, material) in table {
            assert_eq!(p.master_key_len(), key, "{p}");
            assert_eq!(p.master_salt_len(), salt, "{p}");
            assert_eq!(p.auth_key_len(), auth, "{p}");
            assert_eq!(p.rtp_auth_tag_len(), rtp_tag, "{p}");
            assert_eq!(p.rtcp_auth_tag_len(), rtcp_tag, "{p}");
            assert_eq!(p.rtp_overhead(), rtp_tag, "{p}");
            assert_eq!(p.rtcp_overhead(), rtcp_tag + 4, "{p}");
            assert_eq!(p.keying_material_len(), material, "{p}");
        }
    }

    #[test]
    fn names_are_openssl_profile_names() {
        assert_eq!(ProtectionProfile::Aes128CmHmacSha1_80.to_string(), "SRTP_AES128_CM_SHA1_80");
        assert_eq!(ProtectionProfile::AeadAes256Gcm.name(), "SRTP_AEAD_AES_256_GCM");
    }
}
