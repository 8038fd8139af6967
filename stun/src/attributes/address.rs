//! Transport-address attributes: MAPPED-ADDRESS and ALTERNATE-SERVER in the clear
//! (RFC 8489 §14.1, §14.15), XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS and XOR-RELAYED-ADDRESS
//! obfuscated with the magic cookie and transaction ID (RFC 8489 §14.2, RFC 8656 §18.3, §18.5).
//!
//! ```text
//!  0                   1                   2                   3
//! |0 0 0 0 0 0 0 0|    Family     |           Port                |
//! |                 Address (32 bits or 128 bits)                 |
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use super::{invalid, Attribute};
use crate::{wire, AttributeType, Error, TransactionId, MAGIC_COOKIE};

const FAMILY_IPV4: u8 = 0x01;
const FAMILY_IPV6: u8 = 0x02;

/// The 16 bytes an IPv6 X-Address is XORed with: magic cookie then transaction ID.
fn xor_pad(transaction_id: &TransactionId) -> [u8; 16] {
    let mut pad = [0u8; 16];
    let (cookie, id) = pad.split_at_mut(4);
    cookie.copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    id.copy_from_slice(transaction_id.as_bytes());
    pad
}

fn decode_address(
    attribute: AttributeType,
    value: &[u8],
    xor: Option<&TransactionId>,
) -> Result<SocketAddr, Error> {
    // The first byte is reserved: "MUST be ignored by receivers" (RFC 8489 §14.1).
    let family = *value.get(1).ok_or(invalid(attribute, "shorter than 4 bytes"))?;
    let mut port = wire::u16_at(value, 2).ok_or(invalid(attribute, "shorter than 4 bytes"))?;
    let pad = xor.map(xor_pad);
    if pad.is_some() {
        // X-Port: the port XOR the most significant 16 bits of the cookie (RFC 8489 §14.2).
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    let ip = match family {
        FAMILY_IPV4 => {
            let mut octets: [u8; 4] = value
                .get(4..)
                .and_then(|a| a.try_into().ok())
                .ok_or(invalid(attribute, "IPv4 address value is not 8 bytes"))?;
            if let Some(pad) = pad {
                octets.iter_mut().zip(pad).for_each(|(o, p)| *o ^= p);
            }
            IpAddr::V4(Ipv4Addr::from(octets))
        }
        FAMILY_IPV6 => {
            let mut octets: [u8; 16] = value
                .get(4..)
                .and_then(|a| a.try_into().ok())
                .ok_or(invalid(attribute, "IPv6 address value is not 20 bytes"))?;
            if let Some(pad) = pad {
                octets.iter_mut().zip(pad).for_each(|(o, p)| *o ^= p);
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return Err(invalid(attribute, "unknown address family")),
    };
    Ok(SocketAddr::new(ip, port))
}

fn encode_address(addr: SocketAddr, xor: Option<&TransactionId>, out: &mut Vec<u8>) {
    let pad = xor.map(xor_pad);
    let port = match pad {
        Some(_) => addr.port() ^ (MAGIC_COOKIE >> 16) as u16,
        None => addr.port(),
    };
    match addr.ip() {
        IpAddr::V4(ip) => {
            out.extend_from_slice(&[0, FAMILY_IPV4]);
            out.extend_from_slice(&port.to_be_bytes());
            let mut octets = ip.octets();
            if let Some(pad) = pad {
                octets.iter_mut().zip(pad).for_each(|(o, p)| *o ^= p);
            }
            out.extend_from_slice(&octets);
        }
        IpAddr::V6(ip) => {
            out.extend_from_slice(&[0, FAMILY_IPV6]);
            out.extend_from_slice(&port.to_be_bytes());
            let mut octets = ip.octets();
            if let Some(pad) = pad {
                octets.iter_mut().zip(pad).for_each(|(o, p)| *o ^= p);
            }
            out.extend_from_slice(&octets);
        }
    }
}

/// Drops the IPv6 flow label and scope ID, which STUN does not carry, so that a decoded
/// address compares equal to what was encoded.
fn normalize(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(*v6.ip(), v6.port(), 0, 0)),
        v4 => v4,
    }
}

macro_rules! address_attribute {
    ($(#[$doc:meta])* $name:ident, $type:expr, xor = $xor:literal) => {
        $(#[$doc])*
        ///
        /// IPv6 flow label and scope ID are not carried on the wire and decode as zero.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name(pub SocketAddr);

        impl Attribute<'_> for $name {
            const TYPE: AttributeType = $type;

            fn decode(value: &[u8], transaction_id: &TransactionId) -> Result<Self, Error> {
                let xor = if $xor { Some(transaction_id) } else { None };
                decode_address(Self::TYPE, value, xor).map(Self)
            }

            fn encode(&self, transaction_id: &TransactionId, out: &mut Vec<u8>) -> Result<(), Error> {
                let xor = if $xor { Some(transaction_id) } else { None };
                encode_address(normalize(self.0), xor, out);
                Ok(())
            }
        }

        impl From<SocketAddr> for $name {
            fn from(addr: SocketAddr) -> Self {
                Self(normalize(addr))
            }
        }
    };
}

address_attribute!(
    /// MAPPED-ADDRESS (RFC 8489 §14.1): the reflexive address in the clear, kept for RFC 3489
    /// clients.
    MappedAddress, AttributeType::MAPPED_ADDRESS, xor = false
);
address_attribute!(
    /// XOR-MAPPED-ADDRESS (RFC 8489 §14.2): the reflexive transport address of the client.
    XorMappedAddress, AttributeType::XOR_MAPPED_ADDRESS, xor = true
);
address_attribute!(
    /// ALTERNATE-SERVER (RFC 8489 §14.15): the server to retry with after a 300, in the clear.
    AlternateServer, AttributeType::ALTERNATE_SERVER, xor = false
);
address_attribute!(
    /// XOR-PEER-ADDRESS (RFC 8656 §18.3): a peer address, as seen from the TURN server.
    XorPeerAddress, AttributeType::XOR_PEER_ADDRESS, xor = true
);
address_attribute!(
    /// XOR-RELAYED-ADDRESS (RFC 8656 §18.5): the relayed transport address of an allocation.
    XorRelayedAddress, AttributeType::XOR_RELAYED_ADDRESS, xor = true
);

#[cfg(test)]
mod tests {
    use super::super::test_util::{round_trip, TID};
    use super::*;

    #[test]
    fn rfc5769_ipv4_xor_mapped_address() {
        // RFC 5769 §2.2: 192.0.2.1 port 32853.
        let value = [0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43];
        let addr = XorMappedAddress::decode(&value, &TID).unwrap();
        assert_eq!(addr.0, "192.0.2.1:32853".parse().unwrap());
        let mut out = Vec::new();
        addr.encode(&TID, &mut out).unwrap();
        assert_eq!(out, value);
    }

    #[test]
    fn rfc5769_ipv6_xor_mapped_address() {
        // RFC 5769 §2.3: 2001:db8:1234:5678:11:2233:4455:6677 port 32853.
        let value = [
            0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25,
            0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9,
        ];
        let addr = XorMappedAddress::decode(&value, &TID).unwrap();
        assert_eq!(addr.0, "[2001:db8:1234:5678:11:2233:4455:6677]:32853".parse().unwrap());
        let mut out = Vec::new();
        addr.encode(&TID, &mut out).unwrap();
        assert_eq!(out, value);
    }

    #[test]
    fn plain_addresses_are_not_xored() {
        let mut scratch = Vec::new();
        let bytes = round_trip(&MappedAddress("192.0.2.1:32853".parse().unwrap()), &mut scratch);
        assert_eq!(bytes, [0, 1, 0x80, 0x55, 192, 0, 2, 1]);
        let mut scratch = Vec::new();
        round_trip(&AlternateServer("[2001:db8::1]:3478".parse().unwrap()), &mut scratch);
    }

    #[test]
    fn reserved_byte_is_ignored() {
        let value = [0xff, 0x01, 0x80, 0x55, 192, 0, 2, 1];
        let addr = MappedAddress::decode(&value, &TID).unwrap();
        assert_eq!(addr.0, "192.0.2.1:32853".parse().unwrap());
    }

    #[test]
    fn malformed_addresses() {
        let bad: &[&[u8]] = &[
            &[],
            &[0, 1, 0],
            &[0, 1, 0, 0],                // IPv4 without address
            &[0, 1, 0, 0, 1, 2, 3],       // short IPv4
            &[0, 1, 0, 0, 1, 2, 3, 4, 5], // long IPv4
            &[0, 2, 0, 0, 1, 2, 3, 4],    // IPv6 family, IPv4 length
            &[0, 3, 0, 0, 1, 2, 3, 4],    // unknown family
            &[0, 0, 0, 0, 1, 2, 3, 4],    // family zero
        ];
        for value in bad {
            assert!(matches!(
                XorMappedAddress::decode(value, &TID),
                Err(Error::InvalidAttribute { attribute: AttributeType::XOR_MAPPED_ADDRESS, .. })
            ));
            assert!(MappedAddress::decode(value, &TID).is_err());
        }
    }

    #[test]
    fn flow_label_and_scope_are_dropped() {
        let addr = SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 9, 7, 3));
        let mut out = Vec::new();
        XorPeerAddress(addr).encode(&TID, &mut out).unwrap();
        let back = XorPeerAddress::decode(&out, &TID).unwrap();
        assert_eq!(back, XorPeerAddress::from(addr));
        assert_eq!(back.0, "[fe80::1]:9".parse().unwrap());
    }
}
