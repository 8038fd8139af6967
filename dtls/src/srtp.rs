//! DTLS-SRTP protection profiles and the keys exported for them (RFC 5764 §4.1.2, §4.2;
//! RFC 7714 §14.2 for the AEAD profiles).

use std::fmt;

use crate::Role;

/// The exporter label of RFC 5764 §4.2.
pub(crate) const EXPORTER_LABEL: &str = "EXTRACTOR-dtls_srtp";

/// A DTLS-SRTP protection profile, by its two-byte id from the use_srtp extension
/// (RFC 5764 §4.1.2). Open: an id we do not know is representable, and simply never offered
/// or accepted.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SrtpProfile(pub u16);

impl SrtpProfile {
    /// SRTP_AES128_CM_HMAC_SHA1_80 (RFC 5764 §4.1.2).
    pub const AES128_CM_SHA1_80: SrtpProfile = SrtpProfile(0x0001);
    /// SRTP_AES128_CM_HMAC_SHA1_32 (RFC 5764 §4.1.2).
    pub const AES128_CM_SHA1_32: SrtpProfile = SrtpProfile(0x0002);
    /// SRTP_AEAD_AES_128_GCM (RFC 7714 §14.2).
    pub const AEAD_AES_128_GCM: SrtpProfile = SrtpProfile(0x0007);
    /// SRTP_AEAD_AES_256_GCM (RFC 7714 §14.2).
    pub const AEAD_AES_256_GCM: SrtpProfile = SrtpProfile(0x0008);

    /// Our default offer and, as a server, our order of preference: the AEAD profiles first
    /// (one pass of AES-GCM instead of AES-CM plus HMAC, and no 80-bit tag truncation), then
    /// the profile every WebRTC endpoint must implement (RFC 8827 §6.5).
    pub const DEFAULT_PREFERENCE: [SrtpProfile; 3] = [
        SrtpProfile::AEAD_AES_128_GCM,
        SrtpProfile::AEAD_AES_256_GCM,
        SrtpProfile::AES128_CM_SHA1_80,
    ];

    /// Master key length in bytes, if the profile is known.
    pub fn key_len(self) -> Option<usize> {
        match self {
            SrtpProfile::AES128_CM_SHA1_80
            | SrtpProfile::AES128_CM_SHA1_32
            | SrtpProfile::AEAD_AES_128_GCM => Some(16),
            SrtpProfile::AEAD_AES_256_GCM => Some(32),
            _ => None,
        }
    }

    /// Master salt length in bytes, if the profile is known (112 bits for AES-CM, RFC 3711
    /// §8.2; 96 bits for AES-GCM, RFC 7714 §12).
    pub fn salt_len(self) -> Option<usize> {
        match self {
            SrtpProfile::AES128_CM_SHA1_80 | SrtpProfile::AES128_CM_SHA1_32 => Some(14),
            SrtpProfile::AEAD_AES_128_GCM | SrtpProfile::AEAD_AES_256_GCM => Some(12),
            _ => None,
        }
    }

    /// The name OpenSSL uses in `SSL_CTX_set_tlsext_use_srtp`.
    pub(crate) fn openssl_name(self) -> Option<&'static str> {
        match self {
            SrtpProfile::AES128_CM_SHA1_80 => Some("SRTP_AES128_CM_SHA1_80"),
            SrtpProfile::AES128_CM_SHA1_32 => Some("SRTP_AES128_CM_SHA1_32"),
            SrtpProfile::AEAD_AES_128_GCM => Some("SRTP_AEAD_AES_128_GCM"),
            SrtpProfile::AEAD_AES_256_GCM => Some("SRTP_AEAD_AES_256_GCM"),
            _ => None,
        }
    }

    /// How many bytes to export for this profile: 2 × (key + salt), RFC 5764 §4.2.
    pub(crate) fn exported_len(self) -> Option<usize> {
        Some(2 * (self.key_len()? + self.salt_len()?))
    }
}

impl fmt::Debug for SrtpProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.openssl_name() {
            Some(name) => write!(f, "{name}"),
            None => write!(f, "SrtpProfile({:#06x})", self.0),
        }
    }
}

/// The SRTP master keys and salts of one connection, already assigned to directions.
///
/// `local_*` protect what we send, `remote_*` unprotect what we receive. Which half of the
/// exported block is ours depends on the DTLS role (RFC 5764 §4.2): the DTLS client sends with
/// `client_write_*`, the server with `server_write_*`. `Debug` does not print the secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKeyMaterial {
    /// The negotiated protection profile.
    pub profile: SrtpProfile,
    /// Master key for SRTP/SRTCP that we send.
    pub local_key: Vec<u8>,
    /// Master salt for SRTP/SRTCP that we send.
    pub local_salt: Vec<u8>,
    /// Master key for SRTP/SRTCP that we receive.
    pub remote_key: Vec<u8>,
    /// Master salt for SRTP/SRTCP that we receive.
    pub remote_salt: Vec<u8>,
}

impl SrtpKeyMaterial {
    /// Splits the exporter output (RFC 5764 §4.2):
    /// `client_write_SRTP_master_key | server_write_SRTP_master_key |
    ///  client_write_SRTP_master_salt | server_write_SRTP_master_salt`.
    ///
    /// Returns `None` for an unknown profile or a block of the wrong length.
    pub(crate) fn from_exported(
        profile: SrtpProfile,
        role: Role,
        exported: &[u8],
    ) -> Option<SrtpKeyMaterial> {
        let key_len = profile.key_len()?;
        let salt_len = profile.salt_len()?;
        if exported.len() != profile.exported_len()? {
            return None;
        }
        let (client_key, rest) = exported.split_at(key_len);
        let (server_key, rest) = rest.split_at(key_len);
        let (client_salt, server_salt) = rest.split_at(salt_len);
        let (local_key, local_salt, remote_key, remote_salt) = match role {
            Role::Client => (client_key, client_salt, server_key, server_salt),
            Role::Server => (server_key, server_salt, client_key, client_salt),
        };
        Some(SrtpKeyMaterial {
            profile,
            local_key: local_key.to_vec(),
            local_salt: local_salt.to_vec(),
            remote_key: remote_key.to_vec(),
            remote_salt: remote_salt.to_vec(),
        })
    }
}

impl fmt::Debug for SrtpKeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpKeyMaterial")
            .field("profile", &self.profile)
            .field("key_len", &self.local_key.len())
            .field("salt_len", &self.local_salt.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_follow_rfc5764_and_rfc7714() {
        assert_eq!(SrtpProfile::AES128_CM_SHA1_80.exported_len(), Some(60));
        assert_eq!(SrtpProfile::AES128_CM_SHA1_32.exported_len(), Some(60));
        assert_eq!(SrtpProfile::AEAD_AES_128_GCM.exported_len(), Some(56));
        assert_eq!(SrtpProfile::AEAD_AES_256_GCM.exported_len(), Some(88));
        assert_eq!(SrtpProfile(0x0003).exported_len(), None);
        assert_eq!(SrtpProfile(0x0003).openssl_name(), None);
    }

    #[test]
    fn split_assigns_halves_by_role() {
        for profile in [
            SrtpProfile::AES128_CM_SHA1_80,
            SrtpProfile::AEAD_AES_128_GCM,
            SrtpProfile::AEAD_AES_256_GCM,
        ] {
            let k = profile.key_len().unwrap();
            let s = profile.salt_len().unwrap();
            let block: Vec<u8> = (0..profile.exported_len().unwrap()).map(|i| i as u8).collect();
            let range = |start: usize, len: usize| block[start..start + len].to_vec();

            let client = SrtpKeyMaterial::from_exported(profile, Role::Client, &block).unwrap();
            assert_eq!(client.local_key, range(0, k), "client_write_SRTP_master_key");
            assert_eq!(client.remote_key, range(k, k), "server_write_SRTP_master_key");
            assert_eq!(client.local_salt, range(2 * k, s), "client_write_SRTP_master_salt");
            assert_eq!(client.remote_salt, range(2 * k + s, s), "server_write_SRTP_master_salt");

            let server = SrtpKeyMaterial::from_exported(profile, Role::Server, &block).unwrap();
            assert_eq!(server.local_key, client.remote_key);
            assert_eq!(server.local_salt, client.remote_salt);
            assert_eq!(server.remote_key, client.local_key);
            assert_eq!(server.remote_salt, client.local_salt);

            assert!(SrtpKeyMaterial::from_exported(profile, Role::Client, &block[1..]).is_none());
        }
    }

    #[test]
    fn debug_hides_the_secrets() {
        let block = [0xAB; 56];
        let m = SrtpKeyMaterial::from_exported(SrtpProfile::AEAD_AES_128_GCM, Role::Server, &block)
            .unwrap();
        let text = format!("{m:?}");
        assert!(text.contains("SRTP_AEAD_AES_128_GCM"));
        assert!(!text.contains("171"), "{text}");
        assert!(!text.to_ascii_lowercase().contains("ab, ab"), "{text}");
    }
}
