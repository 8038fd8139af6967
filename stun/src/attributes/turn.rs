//! TURN attributes (RFC 8656 §18, RFC 6062 §6.2).

use std::fmt;

use super::error_code::{decode_code, encode_code};
use super::text::{check_chars, decode_text};
use super::{fixed, invalid, Attribute};
use crate::{wire, AttributeType, Error, TransactionId};

/// CHANNEL-NUMBER (RFC 8656 §18.1): a 16-bit channel number and 16 reserved bits.
///
/// Any value decodes; whether it is in range is for the TURN server to check
/// ([`ChannelNumber::is_accepted`]), because the answer to a bad one is a 400, not a dropped
/// packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelNumber(pub u16);

impl ChannelNumber {
    /// Lowest channel number (RFC 8656 §12).
    pub const MIN: u16 = 0x4000;
    /// Highest channel number (RFC 8656 §12): what a client picks from.
    pub const MAX: u16 = 0x4FFF;
    /// Highest channel number of RFC 5766 §11, which RFC 8656 reserved (0x5000-0x7FFF): clients
    /// written to RFC 5766 still pick from the whole 0x4000-0x7FFF range (coturn's do).
    pub const RFC5766_MAX: u16 = 0x7FFF;

    /// Whether the number is in 0x4000..=0x4FFF, the range RFC 8656 lets a client choose from.
    pub const fn is_valid(self) -> bool {
        self.0 >= Self::MIN && self.0 <= Self::MAX
    }

    /// Whether a server takes the number: 0x4000..=0x7FFF, RFC 8656's range and the one
    /// RFC 5766 clients choose from (RFC 8656 §12 notes that its narrower range would
    /// otherwise keep them from binding channels). It is every value whose ChannelData
    /// header starts with the bits `0b01`, so the frame stays unambiguous beside STUN.
    pub const fn is_accepted(self) -> bool {
        self.0 >= Self::MIN && self.0 <= Self::RFC5766_MAX
    }
}

impl Attribute<'_> for ChannelNumber {
    const TYPE: AttributeType = AttributeType::CHANNEL_NUMBER;

    fn decode(value: &[u8], _: &TransactionId) -> Result<Self, Error> {
        let b: [u8; 4] = fixed(Self::TYPE, value)?;
        Ok(Self(u16::from_be_bytes([b[0], b[1]])))
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.0.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        Ok(())
    }
}

/// LIFETIME (RFC 8656 §18.2): seconds until the allocation expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lifetime(pub u32);

impl Lifetime {
    /// The lifetime as a `Duration`.
    pub const fn as_duration(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.0 as u64)
    }
}

impl Attribute<'_> for Lifetime {
    const TYPE: AttributeType = AttributeType::LIFETIME;

    fn decode(value: &[u8], _: &TransactionId) -> Result<Self, Error> {
        fixed(Self::TYPE, value).map(|b| Self(u32::from_be_bytes(b)))
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.0.to_be_bytes());
        Ok(())
    }
}

/// DATA (RFC 8656 §18.4): the application payload of a Send or Data indication.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Data<'a>(pub &'a [u8]);

impl<'a> Attribute<'a> for Data<'a> {
    const TYPE: AttributeType = AttributeType::DATA;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        Ok(Self(value))
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(self.0);
        Ok(())
    }
}

/// An address family number as used by REQUESTED-ADDRESS-FAMILY, ADDITIONAL-ADDRESS-FAMILY
/// and ADDRESS-ERROR-CODE. Open, so that a server can answer an unknown one with 440.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddressFamily(pub u8);

impl AddressFamily {
    /// IPv4.
    pub const IPV4: Self = Self(0x01);
    /// IPv6.
    pub const IPV6: Self = Self(0x02);
}

impl fmt::Debug for AddressFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::IPV4 => f.write_str("IPv4"),
            Self::IPV6 => f.write_str("IPv6"),
            Self(other) => write!(f, "AddressFamily(0x{other:02X})"),
        }
    }
}

/// Family byte then 24 reserved bits (RFC 8656 §18.6, §18.11).
fn decode_family(attribute: AttributeType, value: &[u8]) -> Result<AddressFamily, Error> {
    let b: [u8; 4] = fixed(attribute, value)?;
    Ok(AddressFamily(b[0]))
}

/// REQUESTED-ADDRESS-FAMILY (RFC 8656 §18.6): the family of the relayed address wanted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestedAddressFamily(pub AddressFamily);

impl Attribute<'_> for RequestedAddressFamily {
    const TYPE: AttributeType = AttributeType::REQUESTED_ADDRESS_FAMILY;

    fn decode(value: &[u8], _: &TransactionId) -> Result<Self, Error> {
        decode_family(Self::TYPE, value).map(Self)
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&[self.0 .0, 0, 0, 0]);
        Ok(())
    }
}

/// ADDITIONAL-ADDRESS-FAMILY (RFC 8656 §18.11): ask for a second (IPv6) relayed address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AdditionalAddressFamily(pub AddressFamily);

impl Attribute<'_> for AdditionalAddressFamily {
    const TYPE: AttributeType = AttributeType::ADDITIONAL_ADDRESS_FAMILY;

    fn decode(value: &[u8], _: &TransactionId) -> Result<Self, Error> {
        decode_family(Self::TYPE, value).map(Self)
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&[self.0 .0, 0, 0, 0]);
        Ok(())
    }
}

/// EVEN-PORT (RFC 8656 §18.7): ask for an even relayed port, and optionally reserve the
/// next one (the R bit). One byte of value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct EvenPort {
    /// The R bit: reserve the next-higher port too.
    pub reserve: bool,
}

impl Attribute<'_> for EvenPort {
    const TYPE: AttributeType = AttributeType::EVEN_PORT;

    fn decode(value: &[u8], _: &TransactionId) -> Result<Self, Error> {
        let [b]: [u8; 1] = fixed(Self::TYPE, value)?;
        // The seven RFFU bits "MUST be ignored when received".
        Ok(Self { reserve: b & 0x80 != 0 })
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        out.push(if self.reserve { 0x80 } else { 0 });
        Ok(())
    }
}

/// An IP protocol number for REQUESTED-TRANSPORT. Open, so that a server can answer an
/// unsupported one with 442.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransportProtocol(pub u8);

impl TransportProtocol {
    /// TCP (RFC 6062).
    pub const TCP: Self = Self(6);
    /// UDP.
    pub const UDP: Self = Self(17);
}

impl fmt::Debug for TransportProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TCP => f.write_str("TCP"),
            Self::UDP => f.write_str("UDP"),
            Self(other) => write!(f, "TransportProtocol({other})"),
        }
    }
}

/// REQUESTED-TRANSPORT (RFC 8656 §18.8): protocol byte then 24 reserved bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestedTransport(pub TransportProtocol);

impl Attribute<'_> for RequestedTransport {
    const TYPE: AttributeType = AttributeType::REQUESTED_TRANSPORT;

    fn decode(value: &[u8], _: &TransactionId) -> Result<Self, Error> {
        let b: [u8; 4] = fixed(Self::TYPE, value)?;
        Ok(Self(TransportProtocol(b[0])))
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&[self.0 .0, 0, 0, 0]);
        Ok(())
    }
}

/// DONT-FRAGMENT (RFC 8656 §18.9): set DF on the relayed packets. No value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct DontFragment;

impl Attribute<'_> for DontFragment {
    const TYPE: AttributeType = AttributeType::DONT_FRAGMENT;

    fn decode(value: &[u8], _: &TransactionId) -> Result<Self, Error> {
        if value.is_empty() {
            Ok(Self)
        } else {
            Err(invalid(Self::TYPE, "must be empty"))
        }
    }

    fn encode(&self, _: &TransactionId, _: &mut Vec<u8>) -> Result<(), Error> {
        Ok(())
    }
}

/// RESERVATION-TOKEN (RFC 8656 §18.10): 8 bytes naming a port reserved by EVEN-PORT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReservationToken(pub [u8; 8]);

impl Attribute<'_> for ReservationToken {
    const TYPE: AttributeType = AttributeType::RESERVATION_TOKEN;

    fn decode(value: &[u8], _: &TransactionId) -> Result<Self, Error> {
        fixed(Self::TYPE, value).map(Self)
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.0);
        Ok(())
    }
}

/// ADDRESS-ERROR-CODE (RFC 8656 §18.12): why one family of a dual allocation failed.
///
/// ```text
/// |  Family       |    Reserved             |Class|     Number    |
/// |      Reason Phrase (variable)                                ..
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddressErrorCode<'a> {
    /// The family the error is about.
    pub family: AddressFamily,
    /// `class * 100 + number`, 300..=699.
    pub code: u16,
    /// The reason phrase.
    pub reason: &'a str,
}

impl<'a> Attribute<'a> for AddressErrorCode<'a> {
    const TYPE: AttributeType = AttributeType::ADDRESS_ERROR_CODE;

    fn decode(value: &'a [u8], _: &TransactionId) -> Result<Self, Error> {
        let family = *value.first().ok_or(invalid(Self::TYPE, "shorter than 4 bytes"))?;
        let code = decode_code(Self::TYPE, value)?;
        let reason = decode_text(Self::TYPE, value.get(4..).unwrap_or_default())?;
        Ok(Self { family: AddressFamily(family), code, reason })
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        let [class, number] = encode_code(self.code)?;
        check_chars(self.reason, "reason phrase must be fewer than 128 characters")?;
        out.extend_from_slice(&[self.family.0, 0, class, number]);
        out.extend_from_slice(self.reason.as_bytes());
        Ok(())
    }
}

/// ICMP (RFC 8656 §18.13): an ICMP error the server received for relayed traffic.
///
/// ```text
/// |  Reserved                     |  ICMP Type  |  ICMP Code      |
/// |                          Error Data                           |
/// ```
/// The figure's column widths are uneven; type and code are read as one byte each, the width
/// of the ICMP header fields they copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Icmp {
    /// ICMP (or ICMPv6) type.
    pub icmp_type: u8,
    /// ICMP code.
    pub code: u8,
    /// The MTU for "fragmentation needed" / "packet too big", otherwise zero.
    pub error_data: u32,
}

impl Attribute<'_> for Icmp {
    const TYPE: AttributeType = AttributeType::ICMP;

    fn decode(value: &[u8], _: &TransactionId) -> Result<Self, Error> {
        let b: [u8; 8] = fixed(Self::TYPE, value)?;
        let error_data = wire::u32_at(&b, 4).ok_or(invalid(Self::TYPE, "wrong value length"))?;
        Ok(Self { icmp_type: b[2], code: b[3], error_data })
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&[0, 0, self.icmp_type, self.code]);
        out.extend_from_slice(&self.error_data.to_be_bytes());
        Ok(())
    }
}

/// CONNECTION-ID (RFC 6062 §6.2.1): names a TCP connection to a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u32);

impl Attribute<'_> for ConnectionId {
    const TYPE: AttributeType = AttributeType::CONNECTION_ID;

    fn decode(value: &[u8], _: &TransactionId) -> Result<Self, Error> {
        fixed(Self::TYPE, value).map(|b| Self(u32::from_be_bytes(b)))
    }

    fn encode(&self, _: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.0.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{round_trip, TID};
    use super::*;

    #[test]
    fn wire_formats() {
        let mut s = Vec::new();
        assert_eq!(round_trip(&ChannelNumber(0x4001), &mut s), [0x40, 0x01, 0, 0]);
        assert_eq!(round_trip(&Lifetime(600), &mut s), [0, 0, 0x02, 0x58]);
        assert_eq!(round_trip(&Data(b"hello"), &mut s), b"hello");
        assert_eq!(round_trip(&RequestedAddressFamily(AddressFamily::IPV6), &mut s), [2, 0, 0, 0]);
        assert_eq!(round_trip(&AdditionalAddressFamily(AddressFamily::IPV6), &mut s), [2, 0, 0, 0]);
        assert_eq!(round_trip(&EvenPort { reserve: true }, &mut s), [0x80]);
        assert_eq!(round_trip(&EvenPort { reserve: false }, &mut s), [0]);
        assert_eq!(round_trip(&RequestedTransport(TransportProtocol::UDP), &mut s), [17, 0, 0, 0]);
        assert_eq!(round_trip(&DontFragment, &mut s), Vec::<u8>::new());
        assert_eq!(round_trip(&ReservationToken([1; 8]), &mut s), [1; 8]);
        let aec = AddressErrorCode { family: AddressFamily::IPV4, code: 440, reason: "no" };
        assert_eq!(round_trip(&aec, &mut s), [1, 0, 4, 40, b'n', b'o']);
        let icmp = Icmp { icmp_type: 3, code: 4, error_data: 1400 };
        assert_eq!(round_trip(&icmp, &mut s), [0, 0, 3, 4, 0, 0, 0x05, 0x78]);
        assert_eq!(round_trip(&ConnectionId(7), &mut s), [0, 0, 0, 7]);
        assert_eq!(Lifetime(600).as_duration().as_secs(), 600);
    }

    #[test]
    fn channel_number_range() {
        assert!(!ChannelNumber(0x3FFF).is_valid());
        assert!(ChannelNumber(0x4000).is_valid());
        assert!(ChannelNumber(0x4FFF).is_valid());
        assert!(!ChannelNumber(0x5000).is_valid());
        assert!(!ChannelNumber(0x3FFF).is_accepted());
        assert!(ChannelNumber(0x4000).is_accepted());
        assert!(ChannelNumber(0x5000).is_accepted());
        assert!(ChannelNumber(0x7FFF).is_accepted());
        assert!(!ChannelNumber(0x8000).is_accepted());
    }

    #[test]
    fn reserved_bits_are_ignored() {
        assert_eq!(EvenPort::decode(&[0xff], &TID).unwrap(), EvenPort { reserve: true });
        assert_eq!(EvenPort::decode(&[0x7f], &TID).unwrap(), EvenPort { reserve: false });
        assert_eq!(ChannelNumber::decode(&[0x40, 0, 9, 9], &TID).unwrap(), ChannelNumber(0x4000));
        let family = RequestedAddressFamily::decode(&[9, 1, 1, 1], &TID).unwrap();
        assert_eq!(family.0, AddressFamily(9));
    }

    #[test]
    fn wrong_lengths() {
        assert!(ChannelNumber::decode(&[0x40, 0], &TID).is_err());
        assert!(Lifetime::decode(&[0; 5], &TID).is_err());
        assert!(RequestedAddressFamily::decode(&[1], &TID).is_err());
        assert!(AdditionalAddressFamily::decode(&[2, 0, 0, 0, 0], &TID).is_err());
        assert!(EvenPort::decode(&[], &TID).is_err());
        assert!(EvenPort::decode(&[0, 0], &TID).is_err());
        assert!(RequestedTransport::decode(&[17], &TID).is_err());
        assert!(DontFragment::decode(&[0], &TID).is_err());
        assert!(ReservationToken::decode(&[0; 7], &TID).is_err());
        assert!(AddressErrorCode::decode(&[1, 0, 4], &TID).is_err());
        assert!(AddressErrorCode::decode(&[1, 0, 9, 0], &TID).is_err());
        assert!(Icmp::decode(&[0; 4], &TID).is_err());
        assert!(ConnectionId::decode(&[0; 8], &TID).is_err());
    }
}
