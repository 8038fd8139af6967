//! ERROR-CODE (RFC 8489 §14.8) and the registered error codes with their recommended reason
//! phrases (RFC 8489 §14.8, RFC 8656 §19, RFC 6062 §6.3, RFC 8445 §16.2, RFC 8016 §3.2).
//!
//! ```text
//!  0                   1                   2                   3
//! |           Reserved, should be 0         |Class|     Number    |
//! |      Reason Phrase (variable)                                ..
//! ```

use super::text::{check_chars, decode_text};
use super::{invalid, Attribute};
use crate::{AttributeType, Error, TransactionId};

/// ERROR-CODE: a code from 300 to 699 and a UTF-8 reason phrase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ErrorCode<'a> {
    /// `class * 100 + number`, 300..=699.
    pub code: u16,
    /// The reason phrase, for humans only.
    pub reason: &'a str,
}

macro_rules! error_codes {
    ($($(#[$doc:meta])* $name:ident = $code:literal, $reason:literal;)*) => {
        impl ErrorCode<'static> {
            $(
                $(#[$doc])*
                pub const $name: Self = Self { code: $code, reason: $reason };
            )*

            /// The code with its recommended reason phrase (empty for an unregistered code).
            pub const fn new(code: u16) -> Self {
                Self { code, reason: Self::default_reason(code) }
            }

            /// The recommended reason phrase of a registered code; empty for other codes.
            pub const fn default_reason(code: u16) -> &'static str {
                match code {
                    $($code => $reason,)*
                    _ => "",
                }
            }
        }
    };
}

error_codes! {
    /// 300: retry at ALTERNATE-SERVER (RFC 8489 §14.8).
    TRY_ALTERNATE = 300, "Try Alternate";
    /// 400: the request was malformed (RFC 8489 §14.8).
    BAD_REQUEST = 400, "Bad Request";
    /// 401: missing or wrong credentials (RFC 8489 §14.8, formerly "Unauthorized").
    UNAUTHENTICATED = 401, "Unauthenticated";
    /// 403: forbidden by policy (RFC 8656 §19).
    FORBIDDEN = 403, "Forbidden";
    /// 405: mobility forbidden (RFC 8016 §3.2).
    MOBILITY_FORBIDDEN = 405, "Mobility Forbidden";
    /// 420: a comprehension-required attribute was not understood (RFC 8489 §14.8).
    UNKNOWN_ATTRIBUTE = 420, "Unknown Attribute";
    /// 437: the request does not match the allocation (RFC 8656 §19).
    ALLOCATION_MISMATCH = 437, "Allocation Mismatch";
    /// 438: the NONCE is no longer valid (RFC 8489 §14.8).
    STALE_NONCE = 438, "Stale Nonce";
    /// 440: the address family is not supported (RFC 8656 §19).
    ADDRESS_FAMILY_NOT_SUPPORTED = 440, "Address Family not Supported";
    /// 441: credentials differ from those of the allocation (RFC 8656 §19).
    WRONG_CREDENTIALS = 441, "Wrong Credentials";
    /// 442: REQUESTED-TRANSPORT is not supported (RFC 8656 §19).
    UNSUPPORTED_TRANSPORT_PROTOCOL = 442, "Unsupported Transport Protocol";
    /// 443: the peer address family differs from the relayed one (RFC 8656 §19).
    PEER_ADDRESS_FAMILY_MISMATCH = 443, "Peer Address Family Mismatch";
    /// 446: a TCP connection to that peer already exists (RFC 6062 §6.3).
    CONNECTION_ALREADY_EXISTS = 446, "Connection Already Exists";
    /// 447: the TCP connection to the peer failed or timed out (RFC 6062 §6.3).
    CONNECTION_TIMEOUT_OR_FAILURE = 447, "Connection Timeout or Failure";
    /// 486: the user's allocation quota is reached (RFC 8656 §19).
    ALLOCATION_QUOTA_REACHED = 486, "Allocation Quota Reached";
    /// 487: ICE role conflict (RFC 8445 §7.3.1.1).
    ROLE_CONFLICT = 487, "Role Conflict";
    /// 500: temporary server error (RFC 8489 §14.8).
    SERVER_ERROR = 500, "Server Error";
    /// 508: the server cannot create the allocation now (RFC 8656 §19).
    INSUFFICIENT_CAPACITY = 508, "Insufficient Capacity";
}

impl<'a> ErrorCode<'a> {
    /// The code with a custom reason phrase.
    pub const fn with_reason(code: u16, reason: &'a str) -> Self {
        Self { code, reason }
    }

    /// The hundreds digit.
    pub const fn class(&self) -> u16 {
        self.code / 100
    }

    /// The code modulo 100.
    pub const fn number(&self) -> u16 {
        self.code % 100
    }
}

/// Decodes the class/number word at `value[0..4]`, reserved bits ignored (RFC 8489 §14.8:
/// "Receivers MUST ignore these bits"), and checks the RFC ranges.
pub(crate) fn decode_code(attribute: AttributeType, value: &[u8]) -> Result<u16, Error> {
    let class = value.get(2).ok_or(invalid(attribute, "shorter than 4 bytes"))? & 0x07;
    let number = *value.get(3).ok_or(invalid(attribute, "shorter than 4 bytes"))?;
    // RFC 8489 §14.8: class "MUST be between 3 and 6", number "MUST be between 0 and 99".
    if !(3..=6).contains(&class) {
        return Err(invalid(attribute, "class outside 3..=6"));
    }
    if number > 99 {
        return Err(invalid(attribute, "number above 99"));
    }
    Ok(u16::from(class) * 100 + u16::from(number))
}

/// The (class, number) bytes of a code, or an error outside 300..=699.
pub(crate) fn encode_code(code: u16) -> Result<[u8; 2], Error> {
    if !(300..=699).contains(&code) {
        return Err(Error::Encode("error code must be between 300 and 699"));
    }
    // Both fit in a byte: class is 3..=6, number is 0..=99.
    let class = u8::try_from(code / 100).map_err(|_| Error::Encode("error code class"))?;
    let number = u8::try_from(code % 100).map_err(|_| Error::Encode("error code number"))?;
    Ok([class, number])
}

impl<'a> Attribute<'a> for ErrorCode<'a> {
    const TYPE: AttributeType = AttributeType::ERROR_CODE;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        let code = decode_code(Self::TYPE, value)?;
        let reason = decode_text(Self::TYPE, value.get(4..).unwrap_or_default())?;
        Ok(Self { code, reason })
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        let [class, number] = encode_code(self.code)?;
        check_chars(self.reason, "reason phrase must be fewer than 128 characters")?;
        out.extend_from_slice(&[0, 0, class, number]);
        out.extend_from_slice(self.reason.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{round_trip, TID};
    use super::*;

    #[test]
    fn registered_codes() {
        assert_eq!(ErrorCode::new(420), ErrorCode::UNKNOWN_ATTRIBUTE);
        assert_eq!(ErrorCode::UNAUTHENTICATED.reason, "Unauthenticated");
        assert_eq!(ErrorCode::default_reason(447), "Connection Timeout or Failure");
        assert_eq!(ErrorCode::default_reason(499), "");
        let all = [
            300, 400, 401, 403, 405, 420, 437, 438, 440, 441, 442, 443, 446, 447, 486, 487, 500,
            508,
        ];
        for code in all {
            assert!(!ErrorCode::default_reason(code).is_empty(), "{code}");
        }
        assert_eq!(ErrorCode::ROLE_CONFLICT.class(), 4);
        assert_eq!(ErrorCode::ROLE_CONFLICT.number(), 87);
    }

    #[test]
    fn wire_format() {
        let mut s = Vec::new();
        let bytes = round_trip(&ErrorCode::STALE_NONCE, &mut s);
        assert_eq!(&bytes[..4], &[0, 0, 4, 38]);
        assert_eq!(&bytes[4..], b"Stale Nonce");
        round_trip(&ErrorCode::with_reason(699, ""), &mut s);
        round_trip(&ErrorCode::with_reason(300, "ünïcödé"), &mut s);
    }

    #[test]
    fn reserved_bits_are_ignored() {
        let value = [0xff, 0xff, 0xf8 | 4, 20];
        assert_eq!(ErrorCode::decode(&value, &TID).unwrap().code, 420);
    }

    #[test]
    fn malformed() {
        for value in
            [&[0, 0, 4][..], &[0, 0, 2, 0], &[0, 0, 7, 0], &[0, 0, 4, 100], &[0, 0, 4, 0, 0xff]]
        {
            assert!(ErrorCode::decode(value, &TID).is_err(), "{value:?}");
        }
        let mut out = Vec::new();
        assert!(ErrorCode::with_reason(299, "").encode(&TID, &mut out).is_err());
        assert!(ErrorCode::with_reason(700, "").encode(&TID, &mut out).is_err());
        assert!(ErrorCode::with_reason(400, &"x".repeat(128)).encode(&TID, &mut out).is_err());
    }
}
