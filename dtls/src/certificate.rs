//! Our DTLS identity: a self-signed certificate and its key (RFC 8827 §6.5: WebRTC peers
//! authenticate with self-signed certificates whose fingerprints travel in the SDP).

use std::time::{SystemTime, UNIX_EPOCH};

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::{X509NameBuilder, X509};

use crate::fingerprint::{Fingerprint, HashAlgorithm};
use crate::Error;

/// The common name browsers put in their own generated certificates.
const COMMON_NAME: &str = "WebRTC";
/// How far in the past the validity starts, to absorb peers with a slow clock.
const NOT_BEFORE_SLACK_SECS: i64 = 24 * 60 * 60;
/// Validity length: a process restarted at least monthly never presents an expired
/// certificate (peers do not check validity, but an expired one looks broken in captures).
const VALIDITY_SECS: i64 = 31 * 24 * 60 * 60;

/// A certificate and private key used for every DTLS connection of a process.
///
/// [`Certificate::generate`] makes an ECDSA P-256 self-signed certificate, the kind browsers
/// generate for themselves; [`Certificate::from_pem`] loads one kept on disk so that the
/// fingerprint stays stable across restarts. Cheap to clone (the OpenSSL objects are
/// reference counted).
#[derive(Clone)]
pub struct Certificate {
    x509: X509,
    key: PKey<Private>,
    fingerprint: Fingerprint,
}

impl Certificate {
    /// Generates an ECDSA P-256 key and a self-signed X.509 v3 certificate for it:
    /// `CN=WebRTC`, a random 127-bit serial, valid from one day ago for 31 days, signed with
    /// ECDSA-SHA256.
    ///
    /// Reads the wall clock once, for the validity period.
    pub fn generate() -> Result<Certificate, Error> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)
            .map_err(Error::openssl("load the P-256 group"))?;
        let ec = EcKey::generate(&group).map_err(Error::openssl("generate a P-256 key"))?;
        let key = PKey::from_ec_key(ec).map_err(Error::openssl("wrap the P-256 key"))?;

        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2));
        let x509 = self_signed(&key, now).map_err(Error::openssl("build the certificate"))?;
        Certificate::from_parts(x509, key)
    }

    /// Loads a certificate and its private key from PEM (the key in PKCS#8 or traditional
    /// form). Fails if the key does not belong to the certificate.
    pub fn from_pem(certificate_pem: &[u8], private_key_pem: &[u8]) -> Result<Certificate, Error> {
        let x509 = X509::from_pem(certificate_pem)
            .map_err(|_| Error::InvalidCertificate("the certificate PEM cannot be parsed"))?;
        let key = PKey::private_key_from_pem(private_key_pem)
            .map_err(|_| Error::InvalidCertificate("the private key PEM cannot be parsed"))?;
        let public = x509
            .public_key()
            .map_err(|_| Error::InvalidCertificate("the certificate has no usable public key"))?;
        if !public.public_eq(&key) {
            return Err(Error::InvalidCertificate(
                "the private key does not match the certificate",
            ));
        }
        Certificate::from_parts(x509, key)
    }

    fn from_parts(x509: X509, key: PKey<Private>) -> Result<Certificate, Error> {
        let fingerprint = Fingerprint::of_x509(HashAlgorithm::Sha256, &x509)?;
        Ok(Certificate { x509, key, fingerprint })
    }

    /// The SHA-256 fingerprint for our `a=fingerprint:` line (RFC 8122 §5); print it with
    /// `Display` (`"sha-256 AB:CD:…"`).
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// The fingerprint with another hash function.
    pub fn fingerprint_with(&self, algorithm: HashAlgorithm) -> Result<Fingerprint, Error> {
        Fingerprint::of_x509(algorithm, &self.x509)
    }

    /// The certificate in PEM form, to store it for the next start.
    pub fn certificate_pem(&self) -> Result<Vec<u8>, Error> {
        self.x509.to_pem().map_err(Error::openssl("encode the certificate"))
    }

    /// The private key in PKCS#8 PEM form, to store it for the next start.
    pub fn private_key_pem(&self) -> Result<Vec<u8>, Error> {
        self.key.private_key_to_pem_pkcs8().map_err(Error::openssl("encode the private key"))
    }

    /// The certificate in DER form.
    pub fn der(&self) -> Result<Vec<u8>, Error> {
        self.x509.to_der().map_err(Error::openssl("encode the certificate"))
    }

    pub(crate) fn x509(&self) -> &X509 {
        &self.x509
    }

    pub(crate) fn key(&self) -> &PKey<Private> {
        &self.key
    }
}

// `time_t` is `i64` here but 32 bits on some targets, hence the `try_into`.
#[allow(clippy::useless_conversion)]
fn self_signed(key: &PKey<Private>, now_unix: i64) -> Result<X509, openssl::error::ErrorStack> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, COMMON_NAME)?;
    let name = name.build();

    // A positive serial of at most 127 bits (RFC 5280 §4.1.2.2: at most 20 octets, positive).
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;

    let mut builder = X509::builder()?;
    builder.set_version(2)?; // X.509 v3
    let serial = serial.to_asn1_integer()?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(key)?;
    let not_before = now_unix.saturating_sub(NOT_BEFORE_SLACK_SECS);
    let not_after = now_unix.saturating_add(VALIDITY_SECS);
    let not_before = Asn1Time::from_unix(not_before.try_into().unwrap_or_default())?;
    let not_after = Asn1Time::from_unix(not_after.try_into().unwrap_or_default())?;
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    builder.sign(key, MessageDigest::sha256())?;
    Ok(builder.build())
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificate_is_self_signed_p256_webrtc() {
        let cert = Certificate::generate().unwrap();
        let x509 = cert.x509();
        let cn = x509.subject_name().entries_by_nid(Nid::COMMONNAME).next().unwrap();
        assert_eq!(cn.data().to_string().unwrap(), "WebRTC");
        assert_eq!(x509.version(), 2);
        let public = x509.public_key().unwrap();
        assert!(x509.verify(&public).unwrap(), "self-signed");
        let ec = public.ec_key().unwrap();
        assert_eq!(ec.group().curve_name(), Some(Nid::X9_62_PRIME256V1));
        let now = Asn1Time::days_from_now(0).unwrap();
        assert!(x509.not_before() < now, "valid from the past");
        assert!(x509.not_after() > Asn1Time::days_from_now(29).unwrap(), "valid for a month");
        assert!(x509.not_after() < Asn1Time::days_from_now(40).unwrap());
    }

    #[test]
    fn serials_are_random() {
        let a = Certificate::generate().unwrap();
        let b = Certificate::generate().unwrap();
        let serial = |c: &Certificate| c.x509().serial_number().to_bn().unwrap().to_vec();
        assert_ne!(serial(&a), serial(&b));
        assert!(!a.fingerprint().matches(b.fingerprint()));
    }

    #[test]
    fn fingerprint_is_sha256_of_der() {
        let cert = Certificate::generate().unwrap();
        let der = cert.der().unwrap();
        let digest = openssl::hash::hash(MessageDigest::sha256(), &der).unwrap();
        assert_eq!(cert.fingerprint().algorithm(), HashAlgorithm::Sha256);
        assert_eq!(cert.fingerprint().value(), &digest[..]);
        let sha1 = cert.fingerprint_with(HashAlgorithm::Sha1).unwrap();
        assert_eq!(sha1.value(), &openssl::hash::hash(MessageDigest::sha1(), &der).unwrap()[..]);
        // The printed form parses back to the same fingerprint.
        let text = cert.fingerprint().to_string();
        assert!(text.starts_with("sha-256 "));
        assert_eq!(text.len(), "sha-256 ".len() + 32 * 3 - 1);
        assert!(text.parse::<Fingerprint>().unwrap().matches(cert.fingerprint()));
    }

    #[test]
    fn pem_round_trip_keeps_the_fingerprint() {
        let cert = Certificate::generate().unwrap();
        let loaded = Certificate::from_pem(
            &cert.certificate_pem().unwrap(),
            &cert.private_key_pem().unwrap(),
        )
        .unwrap();
        assert!(loaded.fingerprint().matches(cert.fingerprint()));
    }

    #[test]
    fn from_pem_rejects_a_foreign_key_and_garbage() {
        let a = Certificate::generate().unwrap();
        let b = Certificate::generate().unwrap();
        let err =
            Certificate::from_pem(&a.certificate_pem().unwrap(), &b.private_key_pem().unwrap());
        assert!(matches!(err, Err(Error::InvalidCertificate(_))));
        assert!(Certificate::from_pem(b"junk", &a.private_key_pem().unwrap()).is_err());
        assert!(Certificate::from_pem(&a.certificate_pem().unwrap(), b"junk").is_err());
    }
}
