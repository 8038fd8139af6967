//! The two SRTP contexts of a session, made from the keys DTLS exported (RFC 5764 §4.2).

use std::fmt;

use dtls::SrtpKeyMaterial;
use srtp::{Context, ProtectionProfile};

/// Why the SRTP contexts could not be made from the DTLS keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum SrtpSetupError {
    /// DTLS negotiated a protection profile id that the SRTP crate does not implement.
    #[error("DTLS negotiated SRTP profile {0:#06x}, which is not implemented")]
    UnknownProfile(u16),
    /// The keys or the configuration were refused.
    #[error("SRTP: {0}")]
    Srtp(#[from] srtp::Error),
}

/// The outbound (we protect, with our keys) and inbound (we unprotect, with the peer's keys)
/// contexts of one DTLS-SRTP association.
pub(crate) struct SrtpContexts {
    pub(crate) outbound: Context,
    pub(crate) inbound: Context,
}

impl fmt::Debug for SrtpContexts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpContexts").field("profile", &self.outbound.profile()).finish()
    }
}

impl SrtpContexts {
    /// Builds both contexts. `SrtpKeyMaterial` already assigns the halves of the exported
    /// block to directions by DTLS role: "local" keys protect what we send.
    pub(crate) fn new(
        keys: &SrtpKeyMaterial,
        config: srtp::Config,
    ) -> Result<SrtpContexts, SrtpSetupError> {
        let profile = ProtectionProfile::from_id(keys.profile.0)
            .ok_or(SrtpSetupError::UnknownProfile(keys.profile.0))?;
        let outbound = Context::with_config(profile, &keys.local_key, &keys.local_salt, config)?;
        let inbound = Context::with_config(profile, &keys.remote_key, &keys.remote_salt, config)?;
        Ok(SrtpContexts { outbound, inbound })
    }

    /// The negotiated profile.
    pub(crate) fn profile(&self) -> ProtectionProfile {
        self.outbound.profile()
    }
}

/// Checks an SRTP configuration before any key exists, so that a bad one fails the
/// session's creation rather than its handshake.
pub(crate) fn validate_config(config: srtp::Config) -> Result<(), srtp::Error> {
    let profile = ProtectionProfile::AeadAes128Gcm;
    let key = [0u8; 16];
    let salt = [0u8; 12];
    Context::with_config(profile, &key, &salt, config).map(drop)
}

#[cfg(test)]
mod tests {
    use dtls::SrtpProfile;

    use super::*;

    fn material(profile: SrtpProfile, key_len: usize, salt_len: usize) -> SrtpKeyMaterial {
        SrtpKeyMaterial {
            profile,
            local_key: vec![1; key_len],
            local_salt: vec![2; salt_len],
            remote_key: vec![3; key_len],
            remote_salt: vec![4; salt_len],
        }
    }

    #[test]
    fn builds_contexts_for_every_known_profile() {
        for profile in ProtectionProfile::ALL {
            let keys = material(
                SrtpProfile(profile.id()),
                profile.master_key_len(),
                profile.master_salt_len(),
            );
            let contexts = SrtpContexts::new(&keys, srtp::Config::default()).unwrap();
            assert_eq!(contexts.profile(), profile);
        }
    }

    #[test]
    fn local_keys_protect_and_remote_keys_unprotect() {
        let keys = material(SrtpProfile::AEAD_AES_128_GCM, 16, 12);
        let mut ours = SrtpContexts::new(&keys, srtp::Config::default()).unwrap();
        // The peer's view: its local keys are our remote ones.
        let mirrored = SrtpKeyMaterial {
            profile: keys.profile,
            local_key: keys.remote_key.clone(),
            local_salt: keys.remote_salt.clone(),
            remote_key: keys.local_key.clone(),
            remote_salt: keys.local_salt.clone(),
        };
        let mut theirs = SrtpContexts::new(&mirrored, srtp::Config::default()).unwrap();
        let rtp = [0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0xaa, 0xbb];
        let mut buf = [0u8; 64];
        buf[..rtp.len()].copy_from_slice(&rtp);
        let len = ours.outbound.protect_rtp(&mut buf, rtp.len()).unwrap();
        let plain = theirs.inbound.unprotect_rtp(&mut buf[..len]).unwrap();
        assert_eq!(&buf[..plain], &rtp);
        // Our own inbound context (the peer's keys) refuses what we protected.
        let mut buf2 = [0u8; 64];
        buf2[..rtp.len()].copy_from_slice(&rtp);
        let len = ours.outbound.protect_rtp(&mut buf2, rtp.len()).unwrap();
        assert_eq!(
            ours.inbound.unprotect_rtp(&mut buf2[..len]),
            Err(srtp::Error::AuthenticationFailed)
        );
    }

    #[test]
    fn unknown_profile_is_refused() {
        // 0x0005 is SRTP_NULL_HMAC_SHA1_80: registered, not implemented.
        let keys = material(SrtpProfile(0x0005), 16, 14);
        assert_eq!(
            SrtpContexts::new(&keys, srtp::Config::default()).unwrap_err(),
            SrtpSetupError::UnknownProfile(5)
        );
    }

    #[test]
    fn wrong_key_length_is_refused() {
        let keys = material(SrtpProfile::AEAD_AES_256_GCM, 16, 12);
        assert!(matches!(
            SrtpContexts::new(&keys, srtp::Config::default()),
            Err(SrtpSetupError::Srtp(srtp::Error::InvalidKey(_)))
        ));
    }

    #[test]
    fn config_is_validated_up_front() {
        assert!(validate_config(srtp::Config::default()).is_ok());
        let mut narrow = srtp::Config::default();
        narrow.replay_window = 8;
        assert!(matches!(validate_config(narrow), Err(srtp::Error::InvalidConfig(_))));
    }
}
