//! ICE username fragments and passwords (RFC 8445 §5.3, RFC 8839 §5.4).

use std::fmt;

use rand::RngCore;

use crate::Error;

/// The `ice-char` alphabet of RFC 8839 §5.4: `ALPHA / DIGIT / "+" / "/"`. Exactly 64
/// characters, so a random byte masked to 6 bits picks one uniformly.
const ICE_CHARS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Length of a generated ufrag: 16 ice-chars, 96 bits of randomness (RFC 8445 §5.3 asks for
/// at least 24). Long enough that ufrags of all sessions on a server never collide in the
/// session directory that is keyed by them.
pub const GENERATED_UFRAG_LEN: usize = 16;

/// Length of a generated password: 32 ice-chars, 192 bits of randomness (RFC 8445 §5.3 asks
/// for at least 128).
pub const GENERATED_PASSWORD_LEN: usize = 32;

// RFC 8445 §5.3: at least 24 bits of randomness in the ufrag and 128 in the password, at 6
// bits per generated ice-char.
const _: () = assert!(GENERATED_UFRAG_LEN * 6 >= 24 && GENERATED_PASSWORD_LEN * 6 >= 128);

/// Shortest and longest ufrag RFC 8839 §5.4 allows.
const UFRAG_LEN: std::ops::RangeInclusive<usize> = 4..=256;
/// Shortest and longest password RFC 8839 §5.4 allows.
const PASSWORD_LEN: std::ops::RangeInclusive<usize> = 22..=256;

/// Whether `b` is an `ice-char` (RFC 8839 §5.4).
pub const fn is_ice_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

/// One side's ICE credentials: the username fragment and password of `a=ice-ufrag` and
/// `a=ice-pwd`.
///
/// The local pair is generated with [`Credentials::generate`]; the remote pair comes from the
/// peer's SDP through [`Credentials::new`], which enforces the RFC 8839 grammar so that a
/// ufrag can never contain the `:` that separates the two halves of a check's USERNAME.
/// `Debug` does not print the password.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Credentials {
    ufrag: String,
    pwd: String,
}

impl Credentials {
    /// Fresh local credentials from `rng` (which should be a cryptographically secure
    /// generator in production: the password is the key that authenticates checks).
    pub fn generate<R: RngCore + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0u8; GENERATED_UFRAG_LEN + GENERATED_PASSWORD_LEN];
        rng.fill_bytes(&mut bytes);
        let mut chars = bytes.iter().map(|b| char::from(ICE_CHARS[usize::from(b & 0x3f)]));
        let ufrag = chars.by_ref().take(GENERATED_UFRAG_LEN).collect();
        let pwd = chars.collect();
        Self { ufrag, pwd }
    }

    /// Credentials received in SDP (or configured), checked against RFC 8839 §5.4: a ufrag of
    /// 4 to 256 ice-chars and a password of 22 to 256 ice-chars.
    pub fn new(ufrag: &str, pwd: &str) -> Result<Self, Error> {
        if !UFRAG_LEN.contains(&ufrag.len()) {
            return Err(Error::InvalidCredentials("ice-ufrag must be 4 to 256 characters"));
        }
        if !PASSWORD_LEN.contains(&pwd.len()) {
            return Err(Error::InvalidCredentials("ice-pwd must be 22 to 256 characters"));
        }
        if !ufrag.bytes().all(is_ice_char) {
            return Err(Error::InvalidCredentials("ice-ufrag may only hold A-Z a-z 0-9 + /"));
        }
        if !pwd.bytes().all(is_ice_char) {
            return Err(Error::InvalidCredentials("ice-pwd may only hold A-Z a-z 0-9 + /"));
        }
        Ok(Self { ufrag: ufrag.to_owned(), pwd: pwd.to_owned() })
    }

    /// The username fragment (`a=ice-ufrag`).
    pub fn ufrag(&self) -> &str {
        &self.ufrag
    }

    /// The password (`a=ice-pwd`), the short-term credential key of MESSAGE-INTEGRITY.
    pub fn pwd(&self) -> &str {
        &self.pwd
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("ufrag", &self.ufrag).field("pwd", &"..").finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn alphabet_is_the_ice_char_set() {
        assert_eq!(ICE_CHARS.len(), 64);
        assert!(ICE_CHARS.iter().all(|&b| is_ice_char(b)));
        let count = (0..=255u8).filter(|&b| is_ice_char(b)).count();
        assert_eq!(count, 64);
        for b in [b':', b' ', b'=', b'-', b'_', 0, 0x80] {
            assert!(!is_ice_char(b), "{b}");
        }
    }

    #[test]
    fn generated_credentials_are_valid_and_distinct() {
        let mut rng = StdRng::seed_from_u64(1);
        let a = Credentials::generate(&mut rng);
        let b = Credentials::generate(&mut rng);
        assert_ne!(a, b);
        assert_ne!(a.ufrag(), b.ufrag());
        for c in [&a, &b] {
            assert_eq!(c.ufrag().len(), GENERATED_UFRAG_LEN);
            assert_eq!(c.pwd().len(), GENERATED_PASSWORD_LEN);
            assert_eq!(Credentials::new(c.ufrag(), c.pwd()).as_ref(), Ok(c));
        }
    }

    #[test]
    fn generation_uses_the_whole_alphabet() {
        let mut rng = StdRng::seed_from_u64(2);
        let mut seen = [false; 256];
        for _ in 0..200 {
            let c = Credentials::generate(&mut rng);
            for b in c.ufrag().bytes().chain(c.pwd().bytes()) {
                seen[usize::from(b)] = true;
            }
        }
        assert!(ICE_CHARS.iter().all(|&b| seen[usize::from(b)]));
    }

    #[test]
    fn sdp_credentials_are_checked() {
        // Chrome-like and Firefox-like values.
        assert!(Credentials::new("h6vY", "VOkJxbRl1RmTxUk/WvJxBt+p").is_ok());
        assert!(Credentials::new("4a1c9d0e", "2f0a7f0c1c4e41c7b37e6cba7f76c1c2").is_ok());
        let cases = [
            ("abc", "VOkJxbRl1RmTxUk/WvJxBt"),
            ("abcd", "short"),
            ("ab:d", "VOkJxbRl1RmTxUk/WvJxBt"),
            ("abcd", "VOkJxbRl1RmTxUk WvJxBt"),
            (&"a".repeat(257), "VOkJxbRl1RmTxUk/WvJxBt"),
            ("abcd", &"p".repeat(257)),
            ("abcé", "VOkJxbRl1RmTxUk/WvJxBt"),
        ];
        for (ufrag, pwd) in cases {
            assert!(
                matches!(Credentials::new(ufrag, pwd), Err(Error::InvalidCredentials(_))),
                "{ufrag:?} {pwd:?}"
            );
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let c = Credentials::new("h6vY", "VOkJxbRl1RmTxUk/WvJxBt").unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("h6vY"));
        assert!(!shown.contains("VOkJ"));
    }
}
