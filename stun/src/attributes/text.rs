//! UTF-8 text attributes: USERNAME, REALM, NONCE, SOFTWARE (RFC 8489 §14.3, §14.9, §14.10,
//! §14.14) and the ASCII ALTERNATE-DOMAIN (RFC 8489 §14.16).
//!
//! Length rules: the RFC sets a tighter limit for sending than for receiving, so decoding is
//! as liberal as the RFC requires ("MUST be able to parse ... 763 or fewer octets") and
//! encoding as strict as it demands. No string normalisation (OpaqueString) is applied here;
//! see [`crate::credentials`].

use super::{invalid, Attribute};
use crate::{AttributeType, Error, TransactionId};

/// Longest text value accepted when decoding (RFC 8489 §14.3, §14.9, §14.10, §14.14).
const MAX_DECODED_TEXT: usize = 763;
/// USERNAME "MUST contain a UTF-8-encoded sequence of fewer than 509 bytes" (RFC 8489 §14.3).
const MAX_ENCODED_USERNAME: usize = 508;
/// REALM, NONCE, SOFTWARE and reason phrases: "fewer than 128 characters".
pub(crate) const MAX_ENCODED_CHARS: usize = 127;
/// ALTERNATE-DOMAIN: "255 or fewer ASCII characters" (RFC 8489 §14.16).
const MAX_DOMAIN: usize = 255;

/// Decodes UTF-8 text of at most [`MAX_DECODED_TEXT`] bytes.
pub(crate) fn decode_text(attribute: AttributeType, value: &[u8]) -> Result<&str, Error> {
    if value.len() > MAX_DECODED_TEXT {
        return Err(invalid(attribute, "longer than 763 bytes"));
    }
    std::str::from_utf8(value).map_err(|_| invalid(attribute, "not UTF-8"))
}

/// Checks the "fewer than 128 characters" sending rule.
pub(crate) fn check_chars(text: &str, what: &'static str) -> Result<(), Error> {
    // Byte length bounds the character count, so long strings are rejected without counting.
    if text.len() > MAX_ENCODED_CHARS && text.chars().count() > MAX_ENCODED_CHARS {
        return Err(Error::Encode(what));
    }
    Ok(())
}

/// USERNAME (RFC 8489 §14.3): identifies the credentials used for MESSAGE-INTEGRITY.
/// In ICE it is `remote-ufrag:local-ufrag` (RFC 8445 §7.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Username<'a>(pub &'a str);

impl<'a> Attribute<'a> for Username<'a> {
    const TYPE: AttributeType = AttributeType::USERNAME;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        decode_text(Self::TYPE, value).map(Self)
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        if self.0.len() > MAX_ENCODED_USERNAME {
            return Err(Error::Encode("USERNAME must be fewer than 509 bytes"));
        }
        out.extend_from_slice(self.0.as_bytes());
        Ok(())
    }
}

/// REALM (RFC 8489 §14.9): presence means long-term credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Realm<'a>(pub &'a str);

impl<'a> Attribute<'a> for Realm<'a> {
    const TYPE: AttributeType = AttributeType::REALM;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        decode_text(Self::TYPE, value).map(Self)
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        check_chars(self.0, "REALM must be fewer than 128 characters")?;
        out.extend_from_slice(self.0.as_bytes());
        Ok(())
    }
}

/// SOFTWARE (RFC 8489 §14.14): a free-form description of the sending agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Software<'a>(pub &'a str);

impl<'a> Attribute<'a> for Software<'a> {
    const TYPE: AttributeType = AttributeType::SOFTWARE;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        decode_text(Self::TYPE, value).map(Self)
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        check_chars(self.0, "SOFTWARE must be fewer than 128 characters")?;
        out.extend_from_slice(self.0.as_bytes());
        Ok(())
    }
}

/// NONCE (RFC 8489 §14.10). A nonce starting with the "nonce cookie" `obMatJos2` carries the
/// server's [`SecurityFeatures`] (RFC 8489 §9.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Nonce<'a>(pub &'a str);

impl Nonce<'_> {
    /// The nonce cookie that marks an RFC 8489 server (RFC 8489 §9.2).
    pub const COOKIE: &'static str = "obMatJos2";

    /// The security feature bits if the nonce starts with the nonce cookie followed by four
    /// base64 characters (RFC 8489 §9.2); `None` for a nonce without the cookie (an RFC 5389
    /// server).
    pub fn security_features(&self) -> Option<SecurityFeatures> {
        let rest = self.0.as_bytes().strip_prefix(Self::COOKIE.as_bytes())?;
        let chars = rest.get(..4)?;
        let mut bits = 0u32;
        for &c in chars {
            bits = (bits << 6) | u32::from(base64_value(c)?);
        }
        Some(SecurityFeatures(bits))
    }
}

impl<'a> Attribute<'a> for Nonce<'a> {
    const TYPE: AttributeType = AttributeType::NONCE;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        decode_text(Self::TYPE, value).map(Self)
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        check_chars(self.0, "NONCE must be fewer than 128 characters")?;
        out.extend_from_slice(self.0.as_bytes());
        Ok(())
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_value(c: u8) -> Option<u8> {
    BASE64.iter().position(|&b| b == c).and_then(|p| u8::try_from(p).ok())
}

/// The 24 "STUN Security Features" bits a server advertises in its nonce (RFC 8489 §9.2,
/// §18.1). Bit 0 is the least significant bit, as corrected by RFC 8489 erratum 6290.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct SecurityFeatures(pub u32);

impl SecurityFeatures {
    /// Bit 0: the server supports PASSWORD-ALGORITHMS negotiation.
    pub const PASSWORD_ALGORITHMS: Self = Self(1 << 0);
    /// Bit 1: the server accepts USERHASH in place of USERNAME.
    pub const USERNAME_ANONYMITY: Self = Self(1 << 1);

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets of bits.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The 13 ASCII bytes a server starts its nonce with: the nonce cookie and the 24 bits
    /// in four base64 characters (RFC 8489 §9.2). Bits above 23 are dropped.
    pub fn nonce_prefix(self) -> [u8; 13] {
        let mut out = [0u8; 13];
        let (cookie, chars) = out.split_at_mut(9);
        cookie.copy_from_slice(Nonce::COOKIE.as_bytes());
        for (i, c) in chars.iter_mut().enumerate() {
            let shift = 18 - 6 * i;
            let index = (self.0 >> shift) & 0x3F;
            // `index` is below 64 by the mask.
            *c = BASE64.get(index as usize).copied().unwrap_or(b'A');
        }
        out
    }
}

/// ALTERNATE-DOMAIN (RFC 8489 §14.16): the DNS name that authenticates ALTERNATE-SERVER over
/// (D)TLS. Only "ASCII, at most 255 bytes" is checked, not DNS syntax.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AlternateDomain<'a>(pub &'a str);

impl<'a> Attribute<'a> for AlternateDomain<'a> {
    const TYPE: AttributeType = AttributeType::ALTERNATE_DOMAIN;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        if value.len() > MAX_DOMAIN {
            return Err(invalid(Self::TYPE, "longer than 255 bytes"));
        }
        if !value.is_ascii() {
            return Err(invalid(Self::TYPE, "not ASCII"));
        }
        std::str::from_utf8(value).map(Self).map_err(|_| invalid(Self::TYPE, "not ASCII"))
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        if self.0.len() > MAX_DOMAIN || !self.0.is_ascii() {
            return Err(Error::Encode("ALTERNATE-DOMAIN must be at most 255 ASCII characters"));
        }
        out.extend_from_slice(self.0.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{round_trip, TID};
    use super::*;

    #[test]
    fn round_trips() {
        let mut s = Vec::new();
        round_trip(&Username("evtj:h6vY"), &mut s);
        round_trip(&Username("マトリックス"), &mut s);
        round_trip(&Realm("example.org"), &mut s);
        round_trip(&Nonce("f//499k954d6OL34oL9FSTvy64sA"), &mut s);
        round_trip(&Software("STUN test client"), &mut s);
        round_trip(&AlternateDomain("turn.example.org"), &mut s);
        round_trip(&Username(""), &mut s);
    }

    #[test]
    fn decode_limits() {
        let long = vec![b'a'; 763];
        assert_eq!(Username::decode(&long, &TID).unwrap().0.len(), 763);
        let too_long = vec![b'a'; 764];
        assert!(Username::decode(&too_long, &TID).is_err());
        assert!(Realm::decode(&too_long, &TID).is_err());
        assert!(Nonce::decode(&too_long, &TID).is_err());
        assert!(Software::decode(&too_long, &TID).is_err());
        assert!(Username::decode(&[0xff, 0xfe], &TID).is_err());
        assert!(Realm::decode(&[0xe3, 0x83], &TID).is_err());
        assert!(AlternateDomain::decode(&[b'a'; 256], &TID).is_err());
        assert!(AlternateDomain::decode("é.org".as_bytes(), &TID).is_err());
    }

    #[test]
    fn encode_limits() {
        let mut out = Vec::new();
        let name = "a".repeat(509);
        assert!(Username(&name).encode(&TID, &mut out).is_err());
        assert!(Username(&name[..508]).encode(&TID, &mut out).is_ok());
        // 127 four-byte characters (508 bytes) are allowed, 128 one-byte characters are not.
        let wide = "😀".repeat(127);
        assert!(Realm(&wide).encode(&TID, &mut out).is_ok());
        assert!(Software(&"x".repeat(128)).encode(&TID, &mut out).is_err());
        assert!(Nonce(&"x".repeat(127)).encode(&TID, &mut out).is_ok());
        assert!(AlternateDomain(&"x".repeat(256)).encode(&TID, &mut out).is_err());
        assert!(AlternateDomain("é").encode(&TID, &mut out).is_err());
    }

    #[test]
    fn nonce_cookie_and_security_features() {
        // RFC 8489 Appendix B.1 uses "obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA": features
        // "AAAC" = 0x000002, username anonymity.
        let nonce = Nonce("obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA");
        let features = nonce.security_features().unwrap();
        assert_eq!(features, SecurityFeatures::USERNAME_ANONYMITY);
        assert!(!features.contains(SecurityFeatures::PASSWORD_ALGORITHMS));
        assert_eq!(Nonce("f//499k954d6OL34oL9FSTvy64sA").security_features(), None);
        assert_eq!(Nonce("obMatJos2AA").security_features(), None);
        assert_eq!(Nonce("obMatJos2AA*A").security_features(), None);

        let both =
            SecurityFeatures::PASSWORD_ALGORITHMS.union(SecurityFeatures::USERNAME_ANONYMITY);
        let prefix = both.nonce_prefix();
        assert_eq!(&prefix, b"obMatJos2AAAD");
        let all = SecurityFeatures(0x00FF_FFFF).nonce_prefix();
        assert_eq!(&all, b"obMatJos2////");
        let text = std::str::from_utf8(&all).unwrap();
        assert_eq!(Nonce(text).security_features(), Some(SecurityFeatures(0x00FF_FFFF)));
    }
}
