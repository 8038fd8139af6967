//! TLS for the TLS listeners (rustls, TLS 1.2 and 1.3): the certificate and key from PEM
//! files, or a self-signed certificate made at start with openssl.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Why TLS could not be set up; the message names the file or step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate file could not be read or holds no PEM certificate.
    #[error("cannot read certificates from {path}: {reason}")]
    Certificate {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// The key file could not be read or holds no PEM private key.
    #[error("cannot read a private key from {path}: {reason}")]
    Key {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// rustls refused the certificate and key (a key that does not match, an unsupported
    /// algorithm).
    #[error("the certificate and key are not usable: {0}")]
    Rustls(#[from] rustls::Error),
    /// openssl failed to make the self-signed certificate.
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[from] openssl::error::ErrorStack),
}

/// A certificate chain and its private key.
#[derive(Debug)]
pub struct CertifiedKey {
    /// The chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
}

/// Reads a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 or
/// SEC1).
pub fn load_pem(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let cert_error =
        |reason: String| TlsError::Certificate { path: cert.display().to_string(), reason };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_error("no CERTIFICATE block".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| TlsError::Key { path: key.display().to_string(), reason: e.to_string() })?;
    Ok(CertifiedKey { chain, key })
}

/// A self-signed ECDSA P-256 certificate for `names` (DNS names or IP addresses, put in
/// subjectAltName; the first is also the common name), valid from an hour ago for 30 days.
/// Clients only accept it if told to trust it.
pub fn self_signed(names: &[&str]) -> Result<CertifiedKey, TlsError> {
    use openssl::asn1::Asn1Time;
    use openssl::bn::{BigNum, MsbOption};
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::extension::{BasicConstraints, ExtendedKeyUsage, SubjectAlternativeName};
    use openssl::x509::{X509Builder, X509NameBuilder};

    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, names.first().copied().unwrap_or("turn"))?;
    let name = name.build();
    let mut builder = X509Builder::new()?;
    builder.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(&key)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    let not_before = Asn1Time::from_unix(now.saturating_sub(3_600))?;
    let not_after = Asn1Time::from_unix(now.saturating_add(30 * 86_400))?;
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    // An end-entity certificate (not a CA): a client that pins it as its own trust anchor
    // accepts it, as rustls and webpki do.
    builder.append_extension(BasicConstraints::new().build()?)?;
    builder.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
    let mut san = SubjectAlternativeName::new();
    for n in names {
        if n.parse::<std::net::IpAddr>().is_ok() {
            san.ip(n);
        } else {
            san.dns(n);
        }
    }
    let san = san.build(&builder.x509v3_context(None, None))?;
    builder.append_extension(san)?;
    builder.sign(&key, MessageDigest::sha256())?;
    let cert = builder.build();
    Ok(CertifiedKey {
        chain: vec![CertificateDer::from(cert.to_der()?)],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.private_key_to_pkcs8()?)),
    })
}

/// The rustls provider of the crate: ring, whose key exchange is classical (X25519, P-256,
/// P-384) only; rustls marks it deprecated for that reason. It keeps the build free of
/// cmake and of a second C crypto library beside openssl. What the TLS listeners carry is a
/// TURN session whose media is already end-to-end DTLS-SRTP encrypted.
#[allow(deprecated)]
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration offering TLS 1.3 and 1.2, without client certificates.
pub fn server_config(key: CertifiedKey) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(key.chain, key.key)?;
    Ok(Arc::new(config))
}
