//! Errors of the SDP parser and of the offer/answer builders.

use thiserror::Error;

/// A session description (or one SDP value) that could not be parsed.
///
/// Every variant that comes from [`SessionDescription::parse`](super::SessionDescription::parse)
/// carries the 1-based line number, so the HTTP layer can answer 400 with a message that tells
/// the client where its SDP is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The input holds no line at all.
    #[error("line 1: the session description is empty (an SDP starts with \"v=0\")")]
    Empty,
    /// A line is malformed (wrong line type, bad `m=`/`o=`/`c=` syntax, out-of-place line).
    #[error("line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong, in words a client developer can act on.
        reason: &'static str,
    },
    /// A known attribute whose value does not follow its grammar.
    #[error("line {line}: invalid a={attribute}: {reason}")]
    Attribute {
        /// 1-based line number.
        line: usize,
        /// Attribute name as in the SDP (`rtpmap`, `candidate`, ...).
        attribute: &'static str,
        /// What is wrong with the value.
        reason: &'static str,
    },
    /// A media-level attribute found before the first `m=` line.
    #[error(
        "line {line}: a={attribute} is only allowed inside a media section (after an m= line)"
    )]
    MisplacedAttribute {
        /// 1-based line number.
        line: usize,
        /// Attribute name as in the SDP.
        attribute: &'static str,
    },
    /// A mandatory session-level line (`o=`, `s=`, `t=`) is absent.
    #[error("line {line}: the session section ends here without the mandatory \"{kind}=\" line")]
    MissingLine {
        /// Line where the session-level section ends (the first `m=` line, or the last line).
        line: usize,
        /// The missing line type.
        kind: char,
    },
    /// A single value parsed on its own (a trickled candidate, a fingerprint) is malformed.
    #[error("invalid {attribute}: {reason}")]
    Value {
        /// What was being parsed.
        attribute: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl SdpError {
    /// The 1-based line number the error refers to, when it came from a whole description.
    pub fn line(&self) -> Option<usize> {
        match *self {
            SdpError::Empty => Some(1),
            SdpError::Line { line, .. }
            | SdpError::Attribute { line, .. }
            | SdpError::MisplacedAttribute { line, .. }
            | SdpError::MissingLine { line, .. } => Some(line),
            SdpError::Value { .. } => None,
        }
    }
}

/// An offer the SFU cannot answer, or an offer request it cannot write.
///
/// `index` values are 0-based m-section indexes (JSEP's `sdpMLineIndex`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NegotiationError {
    /// JSEP (RFC 8829 §5.2.1) gives every m-section an `a=mid`; BUNDLE needs it.
    #[error("m-section index {index} of the offer has no a=mid (RFC 8829 §5.2.1 requires one per m-section)")]
    MissingMid {
        /// The m-section.
        index: usize,
    },
    /// Two m-sections share one `a=mid` value (RFC 5888 §4).
    #[error("m-section index {index} repeats the a=mid of an earlier m-section (RFC 5888 §4)")]
    DuplicateMid {
        /// The second m-section using the value.
        index: usize,
    },
    /// An accepted m-section has no ICE username fragment or password (media or session level).
    #[error("m-section index {index} of the offer has no a=ice-ufrag/a=ice-pwd (RFC 8839 §5.4)")]
    MissingIceCredentials {
        /// The m-section.
        index: usize,
    },
    /// An accepted m-section has no DTLS certificate fingerprint (RFC 8122 §5).
    #[error("m-section index {index} of the offer has no a=fingerprint; WebRTC requires DTLS-SRTP (RFC 8827 §6.5)")]
    MissingFingerprint {
        /// The m-section.
        index: usize,
    },
    /// `a=setup:holdconn` asks for no DTLS connection at all, which a WebRTC transport cannot do.
    #[error("m-section index {index} of the offer uses a=setup:holdconn; offer actpass, active or passive")]
    UnsupportedSetup {
        /// The m-section.
        index: usize,
    },
    /// The offer request itself is inconsistent (API misuse by the caller).
    #[error("cannot write the offer: {reason}")]
    InvalidRequest {
        /// What is inconsistent.
        reason: &'static str,
    },
    /// Every dynamic RTP payload type is taken.
    #[error("no free dynamic RTP payload type is left for a new codec")]
    NoFreePayloadType,
    /// Every RTP header extension id is taken.
    #[error("no free RTP header extension id is left (RFC 8285 §5)")]
    NoFreeExtensionId,
}
