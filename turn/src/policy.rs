//! Which peer addresses an allocation may talk to.
//!
//! RFC 8656 §9.1 and §11.2 let the server "impose restrictions on the IP address allowed in
//! the XOR-PEER-ADDRESS attribute" (403 Forbidden), and RFC 8656 §21 (security
//! considerations) warns that an open relay lets anyone on the Internet reach the server's
//! own networks. The default policy therefore refuses every address that is not globally
//! routable unicast: loopback, private, shared (CGNAT), link-local, multicast, broadcast,
//! reserved, documentation and benchmarking ranges, and the IPv6 forms that embed one of
//! those IPv4 addresses (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo).
//!
//! [`PeerPolicy::allow_loopback_peers`] (tests, a TURN server and its peers on one host) and
//! [`PeerPolicy::allow_peers`] (a private network the server is meant to reach) open ranges.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::Error;

/// An IPv4 or IPv6 network: an address and a prefix length, as in `10.0.0.0/8` or
/// `fd00::/8`. A bare address means one host (`/32` or `/128`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix_len: u8,
}

impl Cidr {
    /// The network of `addr` with `prefix_len` leading bits; host bits are cleared. Fails if
    /// the prefix is longer than the address.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<Self, Error> {
        let network = match addr {
            IpAddr::V4(v4) => {
                if prefix_len > 32 {
                    return Err(Error::InvalidCidr("IPv4 prefix length above 32"));
                }
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask32(prefix_len)))
            }
            IpAddr::V6(v6) => {
                if prefix_len > 128 {
                    return Err(Error::InvalidCidr("IPv6 prefix length above 128"));
                }
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask128(prefix_len)))
            }
        };
        Ok(Self { network, prefix_len })
    }

    /// The network address (host bits zero).
    pub const fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length.
    pub const fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether `ip` lies in the network. An IPv4 network never contains an IPv6 address and
    /// the other way round; [`PeerPolicy`] also tries the IPv4 address embedded in an IPv6
    /// one.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask32(self.prefix_len) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask128(self.prefix_len) == u128::from(net)
            }
            _ => false,
        }
    }
}

/// The netmask of a prefix of `len` bits (`len` at most 32).
fn mask32(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len.min(32))).unwrap_or(0)
}

/// The netmask of a prefix of `len` bits (`len` at most 128).
fn mask128(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len.min(128))).unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr =
            addr.trim().parse().map_err(|_| Error::InvalidCidr("not an IPv4 or IPv6 address"))?;
        let prefix_len = match prefix {
            Some(p) => {
                p.trim().parse().map_err(|_| Error::InvalidCidr("prefix is not a number"))?
            }
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        Self::new(addr, prefix_len)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

impl fmt::Debug for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a peer address was refused: a short name of the address range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Refusal(pub &'static str);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The peer address policy applied to CreatePermission, ChannelBind and Send.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerPolicy {
    /// Allow loopback peers (127.0.0.0/8, ::1 and their IPv4-mapped forms). For tests and
    /// single-host setups only.
    pub allow_loopback_peers: bool,
    /// Ranges that are allowed even though the default policy refuses them, for example a
    /// private network the server is meant to relay into. Matched against the address as
    /// given and against the IPv4 address embedded in an IPv6 one.
    pub allow_peers: Vec<Cidr>,
}

impl PeerPolicy {
    /// Whether relaying to `ip` is allowed. The server's own transport addresses are checked
    /// separately (they are never allowed, whatever this policy says).
    pub fn check(&self, ip: IpAddr) -> Result<(), Refusal> {
        if self.allow_peers.iter().any(|c| c.contains(ip)) {
            return Ok(());
        }
        match ip {
            IpAddr::V4(v4) => self.check_v4(v4),
            IpAddr::V6(v6) => self.check_v6(v6),
        }
    }

    /// An IPv4 address embedded in an IPv6 form: allow list first, then the IPv4 ranges;
    /// a refusal names the IPv6 form (`reason`).
    fn check_embedded_v4(&self, v4: Ipv4Addr, reason: &'static str) -> Result<(), Refusal> {
        if self.allow_peers.iter().any(|c| c.contains(IpAddr::V4(v4))) {
            return Ok(());
        }
        self.check_v4(v4).map_err(|_| Refusal(reason))
    }

    fn check_v4(&self, ip: Ipv4Addr) -> Result<(), Refusal> {
        let o = ip.octets();
        let refusal = match o {
            [127, ..] if self.allow_loopback_peers => return Ok(()),
            [127, ..] => "loopback (127.0.0.0/8)",
            [0, ..] => "\"this network\" (0.0.0.0/8)",
            [10, ..] => "private (10.0.0.0/8)",
            [172, b, ..] if (16..=31).contains(&b) => "private (172.16.0.0/12)",
            [192, 168, ..] => "private (192.168.0.0/16)",
            [100, b, ..] if (64..=127).contains(&b) => "shared address space (100.64.0.0/10)",
            [169, 254, ..] => "link-local (169.254.0.0/16)",
            [192, 0, 0, _] => "IETF protocol assignments (192.0.0.0/24)",
            [192, 0, 2, _] => "documentation (192.0.2.0/24)",
            [198, 51, 100, _] => "documentation (198.51.100.0/24)",
            [203, 0, 113, _] => "documentation (203.0.113.0/24)",
            [198, 18 | 19, ..] => "benchmarking (198.18.0.0/15)",
            [255, 255, 255, 255] => "broadcast (255.255.255.255)",
            [a, ..] if (224..=239).contains(&a) => "multicast (224.0.0.0/4)",
            [a, ..] if a >= 240 => "reserved (240.0.0.0/4)",
            _ => return Ok(()),
        };
        Err(Refusal(refusal))
    }

    fn check_v6(&self, ip: Ipv6Addr) -> Result<(), Refusal> {
        let s = ip.segments();
        let bits = u128::from(ip);
        let low32 = Ipv4Addr::from((bits & 0xFFFF_FFFF) as u32);
        if ip.is_unspecified() {
            return Err(Refusal("unspecified (::)"));
        }
        if ip.is_loopback() {
            return if self.allow_loopback_peers { Ok(()) } else { Err(Refusal("loopback (::1)")) };
        }
        // ::ffff:0:0/96, IPv4-mapped (RFC 4291 §2.5.5.2): the IPv4 address it stands for.
        if s[..6] == [0, 0, 0, 0, 0, 0xFFFF] {
            return self
                .check_embedded_v4(low32, "IPv4-mapped IPv6 form of a refused IPv4 address");
        }
        // ::/96, IPv4-compatible (deprecated, RFC 4291 §2.5.5.1).
        if s[..6] == [0; 6] {
            return self
                .check_embedded_v4(low32, "IPv4-compatible IPv6 form of a refused IPv4 address");
        }
        // 64:ff9b::/96, the NAT64 well-known prefix (RFC 6052): the IPv4 destination.
        if s[..6] == [0x64, 0xFF9B, 0, 0, 0, 0] {
            return self
                .check_embedded_v4(low32, "NAT64 (64:ff9b::/96) form of a refused IPv4 address");
        }
        // 64:ff9b:1::/48, local-use NAT64 (RFC 8215): site-specific translation.
        if s[..3] == [0x64, 0xFF9B, 1] {
            return Err(Refusal("local-use NAT64 (64:ff9b:1::/48)"));
        }
        // 2002::/16, 6to4 (RFC 3056): the IPv4 address in bits 16..48.
        if s[0] == 0x2002 {
            let v4 = Ipv4Addr::from(((bits >> 80) & 0xFFFF_FFFF) as u32);
            return self.check_embedded_v4(v4, "6to4 (2002::/16) form of a refused IPv4 address");
        }
        // 2001::/32, Teredo (RFC 4380): server IPv4 in bits 32..64, client IPv4 obfuscated
        // (bit-inverted) in the last 32 bits.
        if s[..2] == [0x2001, 0] {
            let server = Ipv4Addr::from(((bits >> 64) & 0xFFFF_FFFF) as u32);
            let client = Ipv4Addr::from(!((bits & 0xFFFF_FFFF) as u32));
            self.check_embedded_v4(
                server,
                "Teredo (2001::/32) with a refused server IPv4 address",
            )?;
            return self.check_embedded_v4(
                client,
                "Teredo (2001::/32) with a refused client IPv4 address",
            );
        }
        let refusal = match s {
            [0x2001, 0x0DB8, ..] => "documentation (2001:db8::/32)",
            [0x2001, 0x0002, 0, ..] => "benchmarking (2001:2::/48)",
            [0x0100, 0, 0, 0, ..] => "discard-only (100::/64)",
            [a, ..] if a & 0xFE00 == 0xFC00 => "unique local (fc00::/7)",
            [a, ..] if a & 0xFFC0 == 0xFE80 => "link-local (fe80::/10)",
            [a, ..] if a & 0xFFC0 == 0xFEC0 => "site-local (fec0::/10)",
            [a, ..] if a & 0xFF00 == 0xFF00 => "multicast (ff00::/8)",
            _ => return Ok(()),
        };
        Err(Refusal(refusal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(policy: &PeerPolicy, ip: &str) -> bool {
        policy.check(ip.parse().unwrap()).is_err()
    }

    #[test]
    fn cidr_parse_and_contains() {
        let c: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8");
        assert!(c.contains("10.255.0.1".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(!c.contains("::ffff:10.0.0.1".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("255.255.255.255".parse().unwrap()));
        let host: Cidr = "192.0.2.7".parse().unwrap();
        assert_eq!(host.prefix_len(), 32);
        assert!(host.contains("192.0.2.7".parse().unwrap()));
        assert!(!host.contains("192.0.2.8".parse().unwrap()));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12:3456::1".parse().unwrap()));
        assert!(!v6.contains("fe80::1".parse().unwrap()));
        let v6all: Cidr = "::/0".parse().unwrap();
        assert!(v6all.contains("2001:db8::1".parse().unwrap()));
        assert_eq!("::1".parse::<Cidr>().unwrap().prefix_len(), 128);
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("::/129".parse::<Cidr>().is_err());
        assert!("10.0.0/8".parse::<Cidr>().is_err());
        assert!("10.0.0.0/x".parse::<Cidr>().is_err());
        assert!("".parse::<Cidr>().is_err());
    }

    #[test]
    fn default_policy_refuses_non_global_ipv4() {
        let p = PeerPolicy::default();
        for ip in [
            "127.0.0.1",
            "127.255.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.1.1",
            "192.0.0.8",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.1",
            "198.18.0.1",
            "198.19.255.255",
            "224.0.0.1",
            "239.255.255.255",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(refused(&p, ip), "{ip} should be refused");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "172.15.0.1", "172.32.0.1", "100.63.0.1", "100.128.0.1"] {
            assert!(!refused(&p, ip), "{ip} should be allowed");
        }
        assert!(!refused(&p, "198.17.0.1"));
        assert!(!refused(&p, "198.20.0.1"));
        assert!(!refused(&p, "223.255.255.255"));
    }

    #[test]
    fn default_policy_refuses_non_global_ipv6_and_embedded_forms() {
        let p = PeerPolicy::default();
        for ip in [
            "::",
            "::1",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001:2::1",
            "100::1",
            "64:ff9b:1::1",
            // IPv4-mapped, IPv4-compatible, NAT64, 6to4 of loopback and private addresses.
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::192.168.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
            // Teredo: client 127.0.0.1 obfuscated is 80ff:fffe; server public.
            "2001:0:808:808::80ff:fffe",
            // Teredo with a private server address.
            "2001:0:a00:1::f7f7:f7f7",
        ] {
            assert!(refused(&p, ip), "{ip} should be refused");
        }
        for ip in [
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            // Teredo: server 8.8.8.8, client 1.1.1.1 (obfuscated fefe:fefe).
            "2001:0:808:808::fefe:fefe",
        ] {
            assert!(!refused(&p, ip), "{ip} should be allowed");
        }
    }

    #[test]
    fn loopback_and_allow_list_open_ranges() {
        let p = PeerPolicy { allow_loopback_peers: true, allow_peers: Vec::new() };
        for ip in ["127.0.0.1", "::1", "::ffff:127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::"] {
            assert!(!refused(&p, ip), "{ip} should be allowed with allow_loopback_peers");
        }
        assert!(refused(&p, "10.0.0.1"));

        let p = PeerPolicy {
            allow_loopback_peers: false,
            allow_peers: vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()],
        };
        for ip in ["10.1.2.3", "::ffff:10.1.2.3", "64:ff9b::a01:203", "fd00::5"] {
            assert!(!refused(&p, ip), "{ip} should be allowed by the allow list");
        }
        assert!(refused(&p, "127.0.0.1"));
        assert!(refused(&p, "192.168.0.1"));
        assert!(refused(&p, "fc00::1"));
    }

    #[test]
    fn refusal_names_the_range() {
        let p = PeerPolicy::default();
        assert_eq!(p.check("10.0.0.1".parse().unwrap()), Err(Refusal("private (10.0.0.0/8)")));
        assert_eq!(
            p.check("::ffff:127.0.0.1".parse().unwrap()).unwrap_err().to_string(),
            "IPv4-mapped IPv6 form of a refused IPv4 address"
        );
    }
}
