//! The one error type of the crate.

use std::time::Duration;

use openssl::error::ErrorStack;

/// Everything that can go wrong in this crate.
///
/// Three tiers, as in the other protocol crates:
/// - a malformed datagram is [`Error::Malformed`] with a `&'static str` naming the broken rule;
///   [`Dtls::handle_receive`](crate::Dtls::handle_receive) drops and counts it, and the
///   connection carries on;
/// - a connection that cannot continue (handshake failure, fingerprint mismatch, timeout)
///   is reported once as [`Event::Failed`](crate::Event::Failed) carrying one of these values;
/// - API misuse (sending before the handshake, an invalid configuration or fingerprint) is a
///   plain `Err` from the call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A datagram that is not a well-formed sequence of DTLS records (RFC 6347 §4.1), or that
    /// carries a record no peer may send (for example application data in epoch 0). It was
    /// dropped before OpenSSL saw it.
    #[error("malformed DTLS datagram: {0}")]
    Malformed(&'static str),
    /// OpenSSL refused an operation while setting something up (context, certificate, key).
    #[error("OpenSSL failed to {context}: {source}")]
    OpenSsl {
        /// What was being done.
        context: &'static str,
        /// OpenSSL's error queue.
        #[source]
        source: ErrorStack,
    },
    /// A configuration value is out of range or inconsistent.
    #[error("invalid DTLS configuration: {0}")]
    InvalidConfig(&'static str),
    /// An `a=fingerprint` value (RFC 8122 §5) could not be parsed.
    #[error("invalid fingerprint: {0}")]
    InvalidFingerprint(&'static str),
    /// A PEM certificate or key could not be loaded.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(&'static str),
    /// The handshake did not finish before the configured deadline.
    #[error("DTLS handshake did not complete within {0:?}")]
    HandshakeTimeout(Duration),
    /// The peer's certificate does not match the fingerprint from its SDP (RFC 8122 §5,
    /// RFC 5763 §5).
    #[error("the peer's certificate does not match the fingerprint from the SDP")]
    FingerprintMismatch,
    /// The handshake finished without a peer certificate.
    #[error("the peer presented no certificate")]
    NoPeerCertificate,
    /// The peer offered no DTLS-SRTP protection profile that we accept (RFC 5764 §4.1.1).
    #[error("no DTLS-SRTP protection profile was negotiated")]
    NoSrtpProfile,
    /// The peer did not negotiate the extended master secret (RFC 7627) although the
    /// configuration requires it.
    #[error("the peer did not negotiate the extended master secret (RFC 7627)")]
    NoExtendedMasterSecret,
    /// The DTLS handshake failed inside OpenSSL (alert received or sent, no shared cipher,
    /// malformed handshake message, too many retransmissions).
    #[error("DTLS handshake failed: {0}")]
    Handshake(ErrorStack),
    /// An established connection hit a fatal protocol error (for example a fatal alert).
    #[error("DTLS connection failed: {0}")]
    Protocol(ErrorStack),
    /// The call needs an established connection.
    #[error("the DTLS connection is not established")]
    NotConnected,
    /// The connection was closed or has failed; nothing more can be sent or received.
    #[error("the DTLS connection is closed")]
    Closed,
    /// Application data larger than one record that fits the MTU.
    #[error("application data of {len} bytes exceeds the {max} bytes one datagram can carry")]
    ApplicationDataTooLarge {
        /// The size that was asked for.
        len: usize,
        /// The most one record can carry with the negotiated cipher and MTU.
        max: usize,
    },
}

impl Error {
    pub(crate) fn openssl(context: &'static str) -> impl FnOnce(ErrorStack) -> Error {
        move |source| Error::OpenSsl { context, source }
    }
}
