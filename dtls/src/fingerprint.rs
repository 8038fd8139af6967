//! Certificate fingerprints as SDP carries them (RFC 8122 §5, `a=fingerprint`).

use std::fmt;
use std::str::FromStr;

use openssl::hash::MessageDigest;
use openssl::x509::X509Ref;

use crate::Error;

/// The hash function of a fingerprint, named as in the "Hash Function Textual Names"
/// registry that RFC 8122 §5 refers to.
///
/// MD5 and MD2 are deliberately absent: RFC 8122 §5 forbids them for new fingerprints and a
/// collision-prone hash cannot authenticate a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// `sha-1` (20 bytes); still sent by old endpoints.
    Sha1,
    /// `sha-224` (28 bytes).
    Sha224,
    /// `sha-256` (32 bytes); what browsers send and what we advertise.
    Sha256,
    /// `sha-384` (48 bytes).
    Sha384,
    /// `sha-512` (64 bytes).
    Sha512,
}

impl HashAlgorithm {
    /// The SDP token, lower case (`"sha-256"`).
    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha1 => "sha-1",
            HashAlgorithm::Sha224 => "sha-224",
            HashAlgorithm::Sha256 => "sha-256",
            HashAlgorithm::Sha384 => "sha-384",
            HashAlgorithm::Sha512 => "sha-512",
        }
    }

    /// The SDP token matched case-insensitively (RFC 8122 §5 hash-func; RFC 4566 tokens are
    /// compared without regard to case by common practice, and browsers send both cases).
    pub fn from_name(name: &str) -> Option<HashAlgorithm> {
        [
            HashAlgorithm::Sha1,
            HashAlgorithm::Sha224,
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha384,
            HashAlgorithm::Sha512,
        ]
        .into_iter()
        .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// The digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            HashAlgorithm::Sha1 => 20,
            HashAlgorithm::Sha224 => 28,
            HashAlgorithm::Sha256 => 32,
            HashAlgorithm::Sha384 => 48,
            HashAlgorithm::Sha512 => 64,
        }
    }

    fn message_digest(self) -> MessageDigest {
        match self {
            HashAlgorithm::Sha1 => MessageDigest::sha1(),
            HashAlgorithm::Sha224 => MessageDigest::sha224(),
            HashAlgorithm::Sha256 => MessageDigest::sha256(),
            HashAlgorithm::Sha384 => MessageDigest::sha384(),
            HashAlgorithm::Sha512 => MessageDigest::sha512(),
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A certificate fingerprint: the hash of the DER certificate (RFC 8122 §5).
///
/// Parse the value of a remote `a=fingerprint:` line with [`Fingerprint::from_str`]
/// (`"sha-256 AB:CD:…"`, algorithm and hex digits in any case); print ours with `Display`,
/// which gives the canonical upper-case form for an SDP answer.
///
/// ```
/// use dtls::{Fingerprint, HashAlgorithm};
/// // The example of RFC 8122 §5.
/// let fp: Fingerprint = "SHA-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB"
///     .parse()
///     .unwrap();
/// assert_eq!(fp.algorithm(), HashAlgorithm::Sha1);
/// assert_eq!(fp.to_string(), "sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    algorithm: HashAlgorithm,
    value: Vec<u8>,
}

impl Fingerprint {
    /// A fingerprint from its algorithm and raw digest; the length must match the algorithm.
    pub fn new(algorithm: HashAlgorithm, value: Vec<u8>) -> Result<Fingerprint, Error> {
        if value.len() != algorithm.digest_len() {
            return Err(Error::InvalidFingerprint("digest length does not match the algorithm"));
        }
        Ok(Fingerprint { algorithm, value })
    }

    /// The fingerprint of a certificate with the given hash.
    pub(crate) fn of_x509(
        algorithm: HashAlgorithm,
        certificate: &X509Ref,
    ) -> Result<Fingerprint, Error> {
        let digest = certificate
            .digest(algorithm.message_digest())
            .map_err(Error::openssl("hash a certificate"))?;
        Fingerprint::new(algorithm, digest.to_vec())
    }

    /// The hash function.
    pub fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    /// The raw digest bytes.
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// The digest as upper-case hex pairs joined by colons (`"AB:CD:…"`), the SDP form.
    pub fn hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
        let mut out = String::with_capacity(self.value.len() * 3);
        for (i, byte) in self.value.iter().enumerate() {
            if i > 0 {
                out.push(':');
            }
            out.push(char::from(DIGITS[usize::from(byte >> 4)]));
            out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
        }
        out
    }

    /// Whether `self` and `other` name the same certificate: same algorithm and same digest,
    /// compared in constant time.
    pub fn matches(&self, other: &Fingerprint) -> bool {
        self.algorithm == other.algorithm
            && self.value.len() == other.value.len()
            && openssl::memcmp::eq(&self.value, &other.value)
    }

    /// Whether this fingerprint is the hash of `certificate` (RFC 8122 §5: the hash named by
    /// the fingerprint is applied to the DER certificate).
    pub(crate) fn matches_x509(&self, certificate: &X509Ref) -> bool {
        Fingerprint::of_x509(self.algorithm, certificate).is_ok_and(|fp| self.matches(&fp))
    }
}

impl FromStr for Fingerprint {
    type Err = Error;

    /// Parses `hash-func SP fingerprint` (RFC 8122 §5), the value after `a=fingerprint:`.
    fn from_str(s: &str) -> Result<Fingerprint, Error> {
        let s = s.trim();
        let (name, hex) = s
            .split_once([' ', '\t'])
            .ok_or(Error::InvalidFingerprint("expected \"<hash-func> <hex pairs>\""))?;
        let algorithm = HashAlgorithm::from_name(name)
            .ok_or(Error::InvalidFingerprint("unsupported hash function"))?;
        let mut value = Vec::with_capacity(algorithm.digest_len());
        for pair in hex.trim().split(':') {
            let &[hi, lo] = pair.as_bytes() else {
                return Err(Error::InvalidFingerprint("each byte must be two hex digits"));
            };
            let (Some(hi), Some(lo)) = (hex_value(hi), hex_value(lo)) else {
                return Err(Error::InvalidFingerprint("not a hex digit"));
            };
            value.push(hi << 4 | lo);
        }
        Fingerprint::new(algorithm, value)
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

impl fmt::Display for Fingerprint {
    /// `"sha-256 AB:CD:…"`, ready for `a=fingerprint:`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.algorithm, self.hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8122 §5, the example attribute.
    const RFC8122_EXAMPLE: &str =
        "SHA-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB";

    #[test]
    fn parses_the_rfc8122_example() {
        let fp: Fingerprint = RFC8122_EXAMPLE.parse().unwrap();
        assert_eq!(fp.algorithm(), HashAlgorithm::Sha1);
        assert_eq!(
            fp.value(),
            [
                0x4A, 0xAD, 0xB9, 0xB1, 0x3F, 0x82, 0x18, 0x3B, 0x54, 0x02, 0x12, 0xDF, 0x3E, 0x5D,
                0x49, 0x6B, 0x19, 0xE5, 0x7C, 0xAB
            ]
        );
        assert_eq!(fp.to_string(), RFC8122_EXAMPLE.replacen("SHA-1", "sha-1", 1));
    }

    #[test]
    fn algorithm_and_hex_are_case_insensitive() {
        let upper: Fingerprint = RFC8122_EXAMPLE.parse().unwrap();
        let lower: Fingerprint = RFC8122_EXAMPLE.to_ascii_lowercase().parse().unwrap();
        assert!(upper.matches(&lower));
        assert_eq!(upper, lower);
    }

    #[test]
    fn every_supported_algorithm_round_trips() {
        for (name, alg) in [
            ("sha-1", HashAlgorithm::Sha1),
            ("sha-224", HashAlgorithm::Sha224),
            ("sha-256", HashAlgorithm::Sha256),
            ("Sha-384", HashAlgorithm::Sha384),
            ("SHA-512", HashAlgorithm::Sha512),
        ] {
            let value: Vec<u8> = (0..alg.digest_len()).map(|i| (i * 37) as u8).collect();
            let fp = Fingerprint::new(alg, value.clone()).unwrap();
            let text = format!("{name} {}", fp.hex().to_ascii_lowercase());
            let parsed: Fingerprint = text.parse().unwrap();
            assert_eq!(parsed.algorithm(), alg);
            assert_eq!(parsed.value(), value.as_slice());
            assert_eq!(parsed.to_string().parse::<Fingerprint>().unwrap(), fp);
        }
    }

    #[test]
    fn rejects_malformed_values() {
        for bad in [
            "",
            "sha-256",
            "md5 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B",
            "sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C",
            "sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:CD",
            "sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:A",
            "sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AG",
            "sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C::AB",
            "sha-1 4AAD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB",
            "sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:é",
        ] {
            assert!(
                matches!(bad.parse::<Fingerprint>(), Err(Error::InvalidFingerprint(_))),
                "{bad:?} parsed"
            );
        }
    }

    #[test]
    fn different_algorithms_never_match() {
        let a = Fingerprint::new(HashAlgorithm::Sha256, vec![7; 32]).unwrap();
        let b = Fingerprint::new(HashAlgorithm::Sha256, vec![7; 32]).unwrap();
        let mut c = b.clone();
        c.value[31] = 8;
        assert!(a.matches(&b));
        assert!(!a.matches(&c));
        assert!(Fingerprint::new(HashAlgorithm::Sha384, vec![7; 32]).is_err());
    }
}
