//! Long-term credentials (RFC 8489 §9.2): who may allocate, and with which key.
//!
//! Two sources of users:
//! - static users, each with a password or with the precomputed key
//!   `MD5(username ":" realm ":" password)` (so the password need not be stored);
//! - TURN REST ephemeral credentials (the convention of draft-uberti-behave-turn-rest, as
//!   minted by the sfu's API): username `"<expiry unix seconds>:<user>"`, password
//!   `base64(HMAC-SHA1(shared secret, username))`. The server checks them statelessly; the
//!   expiry is compared with the wall time the driver gives the machine. Several shared
//!   secrets may be configured at once, so that a secret can be rotated without cutting off
//!   credentials minted with the previous one.
//!
//! Secrets, passwords and keys are kept in types whose `Debug` prints nothing of them, and
//! are never logged.

use std::collections::HashMap;
use std::fmt;

use hmac::{Hmac, Mac};

/// A secret string (password or REST shared secret). `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// How a static user proves itself.
#[derive(Clone, PartialEq, Eq)]
pub enum UserSecret {
    /// The password; the key is derived per request with the server's realm.
    Password(Secret),
    /// The long-term key `MD5(username ":" realm ":" password)` computed beforehand for the
    /// server's realm (RFC 8489 §9.2.2).
    Key([u8; 16]),
}

impl fmt::Debug for UserSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Password(_) => f.write_str("UserSecret::Password(..)"),
            Self::Key(_) => f.write_str("UserSecret::Key(..)"),
        }
    }
}

/// The users the server accepts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// Static users by username.
    pub users: HashMap<String, UserSecret>,
    /// Shared secrets for TURN REST credentials; empty disables them. Each is tried in turn.
    pub rest_secrets: Vec<Secret>,
}

impl AuthConfig {
    /// Adds a static user with a password.
    pub fn with_user(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.users.insert(username.into(), UserSecret::Password(Secret::new(password)));
        self
    }

    /// Adds a TURN REST shared secret.
    pub fn with_rest_secret(mut self, secret: impl Into<String>) -> Self {
        self.rest_secrets.push(Secret::new(secret));
        self
    }
}

/// The long-term MD5 key of a user.
pub(crate) type Key = [u8; 16];

/// What the credential store says about a USERNAME.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// Candidate keys: one for a static user, one per shared secret for a REST username.
    /// MESSAGE-INTEGRITY decides which (if any) is right.
    Keys(Vec<Key>),
    /// A REST username whose expiry has passed.
    Expired,
    /// Neither a static user nor a REST username.
    Unknown,
}

impl AuthConfig {
    /// The candidate keys for `username` in `realm` at wall time `unix_now`.
    pub(crate) fn lookup(&self, username: &str, realm: &str, unix_now: u64) -> Lookup {
        if let Some(secret) = self.users.get(username) {
            return match secret {
                UserSecret::Key(key) => Lookup::Keys(vec![*key]),
                UserSecret::Password(password) => {
                    match stun::credentials::long_term_key_md5(username, realm, password.expose()) {
                        Ok(key) => Lookup::Keys(vec![key]),
                        Err(_) => Lookup::Unknown,
                    }
                }
            };
        }
        if self.rest_secrets.is_empty() {
            return Lookup::Unknown;
        }
        let Some(expiry) = rest_expiry(username) else {
            return Lookup::Unknown;
        };
        if expiry < unix_now {
            return Lookup::Expired;
        }
        let keys = self
            .rest_secrets
            .iter()
            .filter_map(|secret| {
                let password = rest_password(secret.expose(), username);
                stun::credentials::long_term_key_md5(username, realm, &password).ok()
            })
            .collect();
        Lookup::Keys(keys)
    }
}

/// The expiry of a TURN REST username `"<unix seconds>:<user>"`, if it has that form.
pub(crate) fn rest_expiry(username: &str) -> Option<u64> {
    let (expiry, _user) = username.split_once(':')?;
    if expiry.is_empty() || expiry.len() > 20 || !expiry.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    expiry.parse().ok()
}

/// The TURN REST password of `username`: `base64(HMAC-SHA1(secret, username))`.
pub fn rest_password(secret: &str, username: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(username.as_bytes());
    crate::base64::encode(&mac.finalize().into_bytes())
}

/// Mints a TURN REST credential `(username, password)` valid until `expiry_unix`, as the
/// sfu's API does; for tests and tools.
pub fn rest_credential(secret: &str, user: &str, expiry_unix: u64) -> (String, String) {
    let username = format!("{expiry_unix}:{user}");
    let password = rest_password(secret, &username);
    (username, password)
}

/// Constant-time equality of two byte strings of public length.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_password_is_base64_hmac_sha1() {
        // RFC 2202 §3 test case 2 (key "Jefe", data "what do ya want for nothing?") gives
        // effcdf6ae5eb2fa2d27416d5f184df9c259a7c79; its base64 is 7/zfauXrL6LSdBbV8YTfnCWafHk=.
        assert_eq!(
            rest_password("Jefe", "what do ya want for nothing?"),
            "7/zfauXrL6LSdBbV8YTfnCWafHk="
        );
        let (username, password) = rest_credential("Jefe", "alice", 1_700_000_000);
        assert_eq!(username, "1700000000:alice");
        assert_eq!(password, rest_password("Jefe", "1700000000:alice"));
        assert_eq!(password.len(), 28);
    }

    #[test]
    fn rest_username_forms() {
        assert_eq!(rest_expiry("1700000000:alice"), Some(1_700_000_000));
        assert_eq!(rest_expiry("1700000000:"), Some(1_700_000_000));
        assert_eq!(rest_expiry("1700000000:a:b"), Some(1_700_000_000));
        assert_eq!(rest_expiry("alice:1700000000"), None);
        assert_eq!(rest_expiry("1700000000"), None);
        assert_eq!(rest_expiry(":alice"), None);
        assert_eq!(rest_expiry("+17:alice"), None);
        assert_eq!(rest_expiry("99999999999999999999999:alice"), None);
    }

    #[test]
    fn lookup_static_and_rest() {
        let config = AuthConfig::default()
            .with_user("bob", "pass")
            .with_rest_secret("old")
            .with_rest_secret("new");
        let realm = "realm";
        assert_eq!(
            config.lookup("bob", realm, 0),
            Lookup::Keys(vec![stun::credentials::long_term_key_md5("bob", realm, "pass").unwrap()])
        );
        let Lookup::Keys(keys) = config.lookup("2000:carol", realm, 1_999) else {
            panic!("REST username not recognised");
        };
        assert_eq!(keys.len(), 2);
        let new_password = rest_password("new", "2000:carol");
        let new_key = stun::credentials::long_term_key_md5("2000:carol", realm, &new_password);
        assert_eq!(keys[1], new_key.unwrap());
        assert!(!config.lookup("2000:carol", realm, 2_000).is_expired());
        assert_eq!(config.lookup("2000:carol", realm, 2_001), Lookup::Expired);
        assert_eq!(config.lookup("mallory", realm, 0), Lookup::Unknown);
        let no_rest = AuthConfig::default().with_user("bob", "pass");
        assert_eq!(no_rest.lookup("2000:carol", realm, 0), Lookup::Unknown);
        let precomputed = AuthConfig {
            users: HashMap::from([("k".to_owned(), UserSecret::Key([7; 16]))]),
            rest_secrets: Vec::new(),
        };
        assert_eq!(precomputed.lookup("k", realm, 0), Lookup::Keys(vec![[7; 16]]));
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let config = AuthConfig::default().with_user("bob", "hunter2").with_rest_secret("s3cr3t");
        let text = format!("{config:?}");
        assert!(!text.contains("hunter2") && !text.contains("s3cr3t"), "{text}");
        assert!(text.contains("bob"));
        assert_eq!(format!("{:?}", UserSecret::Key([1; 16])), "UserSecret::Key(..)");
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    impl Lookup {
        fn is_expired(&self) -> bool {
            matches!(self, Self::Expired)
        }
    }
}
