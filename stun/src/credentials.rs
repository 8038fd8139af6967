//! Keys for MESSAGE-INTEGRITY and MESSAGE-INTEGRITY-SHA256 (RFC 8489 §9.1.1, §9.2.2) and the
//! USERHASH value (RFC 8489 §14.4).
//!
//! # String preparation
//!
//! RFC 8489 runs usernames, realms and passwords through the PRECIS OpaqueString profile
//! (RFC 8265) before hashing; RFC 5389 used SASLprep. **This module does not normalise
//! anything**: it hashes the UTF-8 bytes it is given. That is exact for the strings this
//! project produces and meets:
//!
//! - ICE ufrags and passwords are ASCII `ice-char`s (`ALPHA / DIGIT / "+" / "/"`,
//!   RFC 8839 §5.4), and OpaqueString maps printable ASCII to itself;
//! - TURN credentials minted by our own API are ASCII.
//!
//! Not handled: mapping non-ASCII spaces to U+0020, Unicode NFC normalisation, and rejecting
//! code points OpaqueString disallows. A caller holding arbitrary user input must prepare it
//! first; [`is_opaque_string_identity`] tells when no preparation is needed. (The RFC 5769
//! §2.4 vector, for instance, gives its password already prepared: "TheMatrIX".)

use openssl::hash::{Hasher, MessageDigest};

use crate::attributes::PasswordAlgorithmId;
use crate::Error;

/// Short-term key (RFC 8489 §9.1.1): the password itself, e.g. the ICE password.
pub fn short_term_key(password: &str) -> &[u8] {
    password.as_bytes()
}

/// Whether OpaqueString (RFC 8265 §4.2) leaves `s` unchanged, so that the raw bytes may be
/// hashed: true for non-empty strings of printable ASCII (0x21-0x7E) and space.
pub fn is_opaque_string_identity(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x20..=0x7E).contains(&b))
}

fn digest<const N: usize>(md: MessageDigest, parts: &[&[u8]]) -> Result<[u8; N], Error> {
    let mut hasher = Hasher::new(md).map_err(|_| Error::Crypto("digest unavailable"))?;
    for part in parts {
        hasher.update(part).map_err(|_| Error::Crypto("digest update failed"))?;
    }
    let out = hasher.finish().map_err(|_| Error::Crypto("digest finish failed"))?;
    (*out).try_into().map_err(|_| Error::Crypto("unexpected digest length"))
}

/// Long-term key with MD5 (RFC 8489 §9.2.2): `MD5(username ":" realm ":" password)`,
/// 16 bytes, the key of MESSAGE-INTEGRITY in RFC 5389 deployments. Strings are hashed as
/// given (see the module docs).
pub fn long_term_key_md5(username: &str, realm: &str, password: &str) -> Result<[u8; 16], Error> {
    digest(
        MessageDigest::md5(),
        &[username.as_bytes(), b":", realm.as_bytes(), b":", password.as_bytes()],
    )
}

/// Long-term key with SHA-256 (RFC 8489 §9.2.2, PASSWORD-ALGORITHM SHA-256):
/// `SHA-256(username ":" realm ":" password)`, 32 bytes.
pub fn long_term_key_sha256(
    username: &str,
    realm: &str,
    password: &str,
) -> Result<[u8; 32], Error> {
    digest(
        MessageDigest::sha256(),
        &[username.as_bytes(), b":", realm.as_bytes(), b":", password.as_bytes()],
    )
}

/// A long-term key derived with one of the registered password algorithms.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum LongTermKey {
    /// 16-byte MD5 key.
    Md5([u8; 16]),
    /// 32-byte SHA-256 key.
    Sha256([u8; 32]),
}

impl LongTermKey {
    /// Derives the key with `algorithm` (RFC 8489 §9.2.2); unknown algorithms are an error.
    pub fn derive(
        algorithm: PasswordAlgorithmId,
        username: &str,
        realm: &str,
        password: &str,
    ) -> Result<Self, Error> {
        match algorithm {
            PasswordAlgorithmId::MD5 => long_term_key_md5(username, realm, password).map(Self::Md5),
            PasswordAlgorithmId::SHA256 => {
                long_term_key_sha256(username, realm, password).map(Self::Sha256)
            }
            _ => Err(Error::Crypto("unknown password algorithm")),
        }
    }

    /// The key bytes to pass to the HMAC.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Md5(k) => k,
            Self::Sha256(k) => k,
        }
    }
}

impl std::fmt::Debug for LongTermKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys stay out of logs.
        match self {
            Self::Md5(_) => f.write_str("LongTermKey::Md5(..)"),
            Self::Sha256(_) => f.write_str("LongTermKey::Sha256(..)"),
        }
    }
}

/// USERHASH value (RFC 8489 §14.4): `SHA-256(username ":" realm)`.
pub fn userhash(username: &str, realm: &str) -> Result<[u8; 32], Error> {
    digest(MessageDigest::sha256(), &[username.as_bytes(), b":", realm.as_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;

    const USERNAME: &str = "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}";

    #[test]
    fn md5_key_of_known_input() {
        // MD5("user:realm:pass") computed independently.
        let key = long_term_key_md5("user", "realm", "pass").unwrap();
        assert_eq!(hex::encode(key), "8493fbc53ba582fb4c044c456bdc40eb");
    }

    #[test]
    fn sha256_key_and_derive() {
        let key =
            LongTermKey::derive(PasswordAlgorithmId::SHA256, "user", "realm", "pass").unwrap();
        assert_eq!(key.as_bytes().len(), 32);
        assert_eq!(key.as_bytes(), long_term_key_sha256("user", "realm", "pass").unwrap());
        let md5 = LongTermKey::derive(PasswordAlgorithmId::MD5, "user", "realm", "pass").unwrap();
        assert_eq!(md5.as_bytes().len(), 16);
        assert!(LongTermKey::derive(PasswordAlgorithmId(9), "u", "r", "p").is_err());
        assert_eq!(format!("{md5:?}"), "LongTermKey::Md5(..)");
    }

    #[test]
    fn rfc8489_appendix_b1_userhash() {
        // RFC 8489 Appendix B.1: USERHASH of the RFC 5769 §2.4 username in realm example.org.
        let hash = userhash(USERNAME, "example.org").unwrap();
        assert_eq!(
            hex::encode(hash),
            "4a3cf38fef6992bda952c6780417da0f24819415569e60b205c46e41407f1704"
        );
    }

    #[test]
    fn opaque_string_identity() {
        assert!(is_opaque_string_identity("VOkJxbRl1RmTxUk/WvJxBt"));
        assert!(is_opaque_string_identity("with space"));
        assert!(!is_opaque_string_identity(""));
        assert!(!is_opaque_string_identity("tab\there"));
        assert!(!is_opaque_string_identity("The\u{00AD}M\u{00AA}tr\u{2168}"));
        assert_eq!(short_term_key("abc"), b"abc");
    }
}
