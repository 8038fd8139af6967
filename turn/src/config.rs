//! Server configuration, with the defaults of RFC 8656 and conservative limits.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::{AuthConfig, BandwidthLimit, Error, PeerPolicy};

/// Longest REALM accepted, in bytes. Keeps the 401 challenge small (see
/// [`MAX_UNAUTHENTICATED_GROWTH`](crate::MAX_UNAUTHENTICATED_GROWTH)).
pub const MAX_REALM_LEN: usize = 64;

/// A relay IP address: the one the relay sockets bind, and the one clients are told about
/// in XOR-RELAYED-ADDRESS (different behind a 1:1 NAT, as on most cloud VMs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RelayIp {
    /// The local address relay sockets bind to (may be unspecified, `0.0.0.0` or `::`).
    pub local: IpAddr,
    /// The address peers reach the relay on, advertised to clients.
    pub public: IpAddr,
}

impl RelayIp {
    /// The same address locally and publicly.
    pub const fn new(ip: IpAddr) -> Self {
        Self { local: ip, public: ip }
    }
}

/// Everything the machine needs to know. Build it with [`ServerConfig::new`] and change the
/// public fields; [`TurnServer::new`](crate::TurnServer::new) validates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// The REALM of the long-term credentials (RFC 8489 §9.2): printable ASCII without `"`
    /// or `\`, at most [`MAX_REALM_LEN`] bytes.
    pub realm: String,
    /// Users and TURN REST secrets.
    pub auth: AuthConfig,
    /// The IPv4 relay address; `None` answers IPv4 allocations with 440.
    pub relay_ipv4: Option<RelayIp>,
    /// The IPv6 relay address; `None` answers IPv6 allocations with 440.
    pub relay_ipv6: Option<RelayIp>,
    /// Lowest relay port (inclusive). Default 49152 (RFC 8656 §7.2 recommends the dynamic
    /// range 49152-65535).
    pub min_port: u16,
    /// Highest relay port (inclusive). Default 65535.
    pub max_port: u16,
    /// The server's listening transport addresses (3478, 5349, ...). Peers on them are always
    /// refused; an unspecified IP stands for every relay and listening IP of the family.
    pub listening: Vec<SocketAddr>,
    /// Allocation lifetime when the client asks for less or nothing. Default 600 s
    /// (RFC 8656 §7.2).
    pub default_lifetime: Duration,
    /// Longest allocation lifetime; longer requests are clamped. Default 3600 s.
    pub max_lifetime: Duration,
    /// Permission lifetime (RFC 8656 §9: 300 s, not negotiable by clients). Default 300 s.
    pub permission_lifetime: Duration,
    /// Channel binding lifetime (RFC 8656 §12: 600 s). Default 600 s.
    pub channel_lifetime: Duration,
    /// How long a NONCE stays valid. Default 600 s.
    pub nonce_lifetime: Duration,
    /// How long the last response to an authenticated request is kept per 5-tuple to answer
    /// a retransmission identically. 40 s covers a client's whole retransmission schedule
    /// (RFC 8489 §6.2.1: seven transmissions from a 500 ms RTO span 39.5 s). Default 40 s.
    pub response_cache_time: Duration,
    /// How long a port reserved by EVEN-PORT with the R bit waits for its RESERVATION-TOKEN
    /// (RFC 8656 §7.2 leaves the time to the server). Default 30 s.
    pub reservation_lifetime: Duration,
    /// Allocations on the whole server (pending ones included); above, 508. Default 10 000.
    pub max_allocations: usize,
    /// Allocations per username (pending ones included); above, 486. Default 32.
    pub max_allocations_per_user: usize,
    /// Permissions per allocation; above, 508. Default 64.
    pub max_permissions_per_allocation: usize,
    /// Channels per allocation; above, 508. Default 64.
    pub max_channels_per_allocation: usize,
    /// Relayed bandwidth per allocation, both directions together; `None` for no limit.
    /// Default 5 MB/s with a 1 MB burst.
    pub bandwidth: Option<BandwidthLimit>,
    /// Which peer addresses are refused.
    pub peer_policy: PeerPolicy,
    /// Whether the driver can set the DF bit on relay sockets. When false, an Allocate with
    /// DONT-FRAGMENT is answered with 420 listing it (RFC 8656 §7.2 step 4). Default true.
    pub dont_fragment: bool,
}

impl ServerConfig {
    /// The defaults, with `realm` and no relay address yet.
    pub fn new(realm: impl Into<String>) -> Self {
        Self {
            realm: realm.into(),
            auth: AuthConfig::default(),
            relay_ipv4: None,
            relay_ipv6: None,
            min_port: 49_152,
            max_port: 65_535,
            listening: Vec::new(),
            default_lifetime: Duration::from_secs(600),
            max_lifetime: Duration::from_secs(3_600),
            permission_lifetime: Duration::from_secs(300),
            channel_lifetime: Duration::from_secs(600),
            nonce_lifetime: Duration::from_secs(600),
            response_cache_time: Duration::from_secs(40),
            reservation_lifetime: Duration::from_secs(30),
            max_allocations: 10_000,
            max_allocations_per_user: 32,
            max_permissions_per_allocation: 64,
            max_channels_per_allocation: 64,
            bandwidth: Some(BandwidthLimit { bytes_per_second: 5_000_000, burst_bytes: 1_000_000 }),
            peer_policy: PeerPolicy::default(),
            dont_fragment: true,
        }
    }

    /// Checks that the configuration can work; the error names the setting.
    pub fn validate(&self) -> Result<(), Error> {
        let realm_ok = !self.realm.is_empty()
            && self.realm.len() <= MAX_REALM_LEN
            && self.realm.bytes().all(|b| (0x20..=0x7E).contains(&b) && b != b'"' && b != b'\\');
        if !realm_ok {
            return Err(Error::InvalidConfig(
                "realm must be 1 to 64 printable ASCII characters without '\"' or '\\'",
            ));
        }
        if self.relay_ipv4.is_none() && self.relay_ipv6.is_none() {
            return Err(Error::InvalidConfig("set relay_ipv4 or relay_ipv6 (or both)"));
        }
        for (relay, v4) in [(self.relay_ipv4, true), (self.relay_ipv6, false)] {
            let Some(relay) = relay else { continue };
            if relay.local.is_ipv4() != v4 || relay.public.is_ipv4() != v4 {
                return Err(Error::InvalidConfig(
                    "relay_ipv4 must hold IPv4 addresses and relay_ipv6 IPv6 addresses",
                ));
            }
            if relay.public.is_unspecified() {
                return Err(Error::InvalidConfig(
                    "the public relay address must be a concrete address, not 0.0.0.0 or ::",
                ));
            }
        }
        if self.min_port == 0 || self.min_port >= self.max_port {
            return Err(Error::InvalidConfig(
                "relay port range: min_port must be at least 1 and below max_port",
            ));
        }
        if self.default_lifetime.is_zero() || self.default_lifetime > self.max_lifetime {
            return Err(Error::InvalidConfig(
                "default_lifetime must be positive and at most max_lifetime",
            ));
        }
        if self.max_lifetime > Duration::from_secs(u64::from(u32::MAX)) {
            return Err(Error::InvalidConfig("max_lifetime must fit LIFETIME's 32-bit seconds"));
        }
        if self.permission_lifetime.is_zero() || self.channel_lifetime.is_zero() {
            return Err(Error::InvalidConfig("permission and channel lifetimes must be positive"));
        }
        if self.nonce_lifetime < Duration::from_secs(1) {
            return Err(Error::InvalidConfig("nonce_lifetime must be at least one second"));
        }
        if self.max_allocations == 0
            || self.max_allocations_per_user == 0
            || self.max_permissions_per_allocation == 0
            || self.max_channels_per_allocation == 0
        {
            return Err(Error::InvalidConfig(
                "allocation, permission and channel limits must be positive",
            ));
        }
        if let Some(limit) = self.bandwidth {
            if limit.bytes_per_second == 0 || limit.burst_bytes < BandwidthLimit::MIN_BURST {
                return Err(Error::InvalidConfig(
                    "bandwidth: bytes_per_second must be positive and burst_bytes at least 65535",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> ServerConfig {
        let mut config = ServerConfig::new("example.org");
        config.relay_ipv4 = Some(RelayIp::new("203.0.113.5".parse().unwrap()));
        config
    }

    #[test]
    fn defaults_are_the_rfc_ones() {
        let c = valid();
        c.validate().unwrap();
        assert_eq!(c.default_lifetime, Duration::from_secs(600));
        assert_eq!(c.max_lifetime, Duration::from_secs(3_600));
        assert_eq!(c.permission_lifetime, Duration::from_secs(300));
        assert_eq!(c.channel_lifetime, Duration::from_secs(600));
        assert_eq!((c.min_port, c.max_port), (49_152, 65_535));
    }

    #[test]
    fn invalid_settings_are_named() {
        type Change = fn(&mut ServerConfig);
        let cases: Vec<(Change, &str)> = vec![
            (|c| c.realm.clear(), "realm"),
            (|c| c.realm = "a\"b".into(), "realm"),
            (|c| c.realm = "x".repeat(65), "realm"),
            (|c| c.relay_ipv4 = None, "relay_ipv4"),
            (|c| c.relay_ipv6 = Some(RelayIp::new("203.0.113.5".parse().unwrap())), "relay_ipv6"),
            (
                |c| {
                    c.relay_ipv4 = Some(RelayIp {
                        local: "0.0.0.0".parse().unwrap(),
                        public: "0.0.0.0".parse().unwrap(),
                    })
                },
                "public relay",
            ),
            (|c| c.min_port = 0, "min_port"),
            (|c| c.max_port = c.min_port, "min_port"),
            (|c| c.default_lifetime = Duration::from_secs(7_200), "default_lifetime"),
            (|c| c.permission_lifetime = Duration::ZERO, "permission"),
            (|c| c.nonce_lifetime = Duration::ZERO, "nonce_lifetime"),
            (|c| c.max_allocations = 0, "limits"),
            (
                |c| c.bandwidth = Some(BandwidthLimit { bytes_per_second: 1, burst_bytes: 10 }),
                "burst_bytes",
            ),
        ];
        for (change, needle) in cases {
            let mut config = valid();
            change(&mut config);
            let Err(Error::InvalidConfig(message)) = config.validate() else {
                panic!("accepted a config that should fail on {needle}");
            };
            assert!(message.contains(needle), "{message} should mention {needle}");
        }
        let mut unspecified_local = valid();
        unspecified_local.relay_ipv4 = Some(RelayIp {
            local: "0.0.0.0".parse().unwrap(),
            public: "203.0.113.5".parse().unwrap(),
        });
        unspecified_local.validate().unwrap();
    }
}
