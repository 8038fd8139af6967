//! What the `sfu` process is told at start: where to listen, which address to announce, the
//! application's id and secret, how many UDP workers to run, and the session timers.
//!
//! [`Config::default`] runs on loopback with no flags: HTTP on `127.0.0.1:8080`, media on UDP
//! `127.0.0.1:3480` and `[::1]:3480` (the IPv6 socket is skipped with a warning when `::1` is
//! unavailable), app id `"default"` and a random 32-hex-character secret.
//! [`Config::ephemeral`] is the same on ports the kernel picks, for tests.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use rand::RngCore;

/// Default HTTP listen address.
pub const DEFAULT_HTTP_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
/// Default UDP port for media, on each address family.
pub const DEFAULT_UDP_PORT: u16 = 3480;
/// Default application id.
pub const DEFAULT_APP_ID: &str = "default";
/// Most UDP worker threads.
pub const MAX_WORKERS: usize = 64;

/// Configuration of one `sfu` process. See the module documentation for the defaults.
#[derive(Clone)]
pub struct Config {
    /// Address of the HTTP API and the demo page.
    pub http_listen: SocketAddr,
    /// UDP addresses for media, at most one per address family. Port 0 lets the kernel pick
    /// one (the same port for every worker's socket of that address).
    pub udp_listen: Vec<SocketAddr>,
    /// Skip an IPv6 entry of `udp_listen` that cannot be bound because the address or the
    /// family is unavailable (no `::1`, IPv6 disabled), with a warning, as long as another
    /// address was bound. True for the defaults; false once addresses are given explicitly.
    pub skip_unavailable_ipv6: bool,
    /// Addresses put in the SDP candidates instead of the bound ones (behind NAT, or when
    /// bound to `0.0.0.0`/`::`), at most one per address family; the port is the bound one.
    pub announce_ips: Vec<IpAddr>,
    /// The application id in the API paths (`/v1/apps/{appId}/...`).
    pub app_id: String,
    /// The bearer token every API call must carry. Never logged, except once at start when
    /// it was generated (see `app_secret_generated`).
    pub app_secret: String,
    /// True when `app_secret` was generated here rather than given.
    pub app_secret_generated: bool,
    /// UDP worker threads; each binds its own socket on every UDP address (SO_REUSEPORT).
    pub workers: usize,
    /// Session lifetime rules applied by the driver.
    pub timers: SessionTimers,
    /// ICE timers and limits of every session.
    pub ice: ice::IceConfig,
    /// SRTP replay window and SSRC bound of every session.
    pub srtp: srtp::Config,
    /// At most one keyframe request (PLI) per published track in this interval, however
    /// many subscribers start or ask. 500 ms.
    pub keyframe_interval: Duration,
    /// Who may use the demo page's room directory and receive API access from it.
    /// [`DemoAccess::Loopback`] by default.
    pub demo: DemoAccess,
    /// The TURN key whose credentials `/v1/turn/keys/{keyId}/credentials/...` mints; `None`
    /// (the default) answers those routes with 404.
    pub turn: Option<TurnKey>,
}

/// A TURN key: the id in the API path, the secret shared with the `turn` server, and the
/// host and ports the minted ICE server URLs name.
///
/// The secret is both the bearer token of the credential routes (as a TURN key's API token
/// is) and the TURN REST shared secret the credentials are signed with (the `turn`
/// server's `--auth-secret`).
#[derive(Clone, PartialEq, Eq)]
pub struct TurnKey {
    /// The key id (`{keyId}` in the path).
    pub key_id: String,
    /// The shared secret. Never logged.
    pub secret: String,
    /// Host name or IP address in the URLs.
    pub host: String,
    /// UDP ports of the `turn:` URLs (and the first one for `stun:`). Default 3478 and 53.
    pub udp_ports: Vec<u16>,
    /// TCP ports of the `turn:...?transport=tcp` URLs. Default 3478 and 80.
    pub tcp_ports: Vec<u16>,
    /// TLS ports of the `turns:` URLs. Default 5349 and 443.
    pub tls_ports: Vec<u16>,
}

/// Default key id of [`TurnKey`].
pub const DEFAULT_TURN_KEY_ID: &str = "default";

impl TurnKey {
    /// A key with `secret`, the default id, host 127.0.0.1 and the six default ports.
    pub fn new(secret: impl Into<String>) -> Self {
        TurnKey {
            key_id: DEFAULT_TURN_KEY_ID.to_owned(),
            secret: secret.into(),
            host: "127.0.0.1".to_owned(),
            udp_ports: vec![3478, 53],
            tcp_ports: vec![3478, 80],
            tls_ports: vec![5349, 443],
        }
    }
}

impl fmt::Debug for TurnKey {
    /// Everything but the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurnKey")
            .field("key_id", &self.key_id)
            .field("secret", &"..")
            .field("host", &self.host)
            .field("udp_ports", &self.udp_ports)
            .field("tcp_ports", &self.tcp_ports)
            .field("tls_ports", &self.tls_ports)
            .finish()
    }
}

/// Who the demo page (`GET /demo/config`, `/demo/rooms/...`) serves. The page needs API
/// access to create sessions, and `/demo/config` hands it the app id and secret: only to
/// clients on this machine unless told otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DemoAccess {
    /// No demo endpoints (404); the page at `/` says the demo is off.
    Off,
    /// Only requests from a loopback address, to a loopback or `localhost` host name,
    /// same-origin, and not relayed by a proxy. The default.
    #[default]
    Loopback,
    /// Anyone who reaches the HTTP port (still same-origin only): anyone who can load the
    /// page can use the whole API.
    Public,
}

impl DemoAccess {
    /// The flag values: `off`, `loopback`, `public`.
    pub const NAMES: [&'static str; 3] = ["off", "loopback", "public"];
}

impl std::str::FromStr for DemoAccess {
    type Err = String;

    fn from_str(s: &str) -> Result<DemoAccess, String> {
        match s {
            "off" => Ok(DemoAccess::Off),
            "loopback" => Ok(DemoAccess::Loopback),
            "public" => Ok(DemoAccess::Public),
            _ => Err(format!("expected one of {}", DemoAccess::NAMES.join(", "))),
        }
    }
}

/// When the driver removes sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimers {
    /// A session that never reached `connected` is removed this long after it was created
    /// (whether or not a worker claimed it). Cloudflare's 30 s.
    pub unconnected_timeout: Duration,
    /// A session that was connected and lost consent is removed after staying
    /// `disconnected` this long (Cloudflare keeps it reusable for 30 s).
    pub disconnected_timeout: Duration,
    /// A `closed` or `failed` session stays visible to the API this long, then is removed.
    pub closed_grace: Duration,
    /// A published track that received no media for this long (counted from its last
    /// packet, or from its publication if none came) is withdrawn, as by `tracks/close`.
    /// Cloudflare's 30 s.
    pub track_idle_timeout: Duration,
}

impl Default for SessionTimers {
    fn default() -> Self {
        SessionTimers {
            unconnected_timeout: Duration::from_secs(30),
            disconnected_timeout: Duration::from_secs(30),
            closed_grace: Duration::from_secs(5),
            track_idle_timeout: Duration::from_secs(30),
        }
    }
}

/// A configuration that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No UDP address to listen on.
    #[error("no UDP listen address: give --udp-listen ADDR:PORT")]
    NoUdpListen,
    /// Two UDP addresses of the same family.
    #[error("at most one UDP listen address per address family (IPv4, IPv6): {0} and {1}")]
    DuplicateFamily(SocketAddr, SocketAddr),
    /// Two announce IPs of the same family.
    #[error("at most one announce IP per address family: {0} and {1}")]
    DuplicateAnnounce(IpAddr, IpAddr),
    /// An announce IP whose family has no UDP listen address.
    #[error("announce IP {0} has no UDP listen address of its family to go with it")]
    AnnounceWithoutListen(IpAddr),
    /// An announce IP that no browser can reach.
    #[error("announce IP {0} is unspecified or multicast; give the public address of this host")]
    BadAnnounce(IpAddr),
    /// The app id is empty or holds characters that do not fit in a URL path segment.
    #[error("app id must be 1 to 64 characters of A-Z a-z 0-9 - _ .")]
    BadAppId,
    /// The app secret is empty or contains whitespace or control characters.
    #[error("app secret must be 1 to 256 visible ASCII characters without spaces")]
    BadAppSecret,
    /// Worker count out of range.
    #[error("workers must be 1 to {MAX_WORKERS}")]
    BadWorkers,
    /// A TURN key that cannot work.
    #[error("TURN key: {0}")]
    BadTurnKey(&'static str),
}

impl Default for Config {
    /// Loopback defaults with a freshly generated secret.
    fn default() -> Self {
        Config {
            http_listen: DEFAULT_HTTP_LISTEN,
            udp_listen: vec![
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_UDP_PORT),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), DEFAULT_UDP_PORT),
            ],
            skip_unavailable_ipv6: true,
            announce_ips: Vec::new(),
            app_id: DEFAULT_APP_ID.to_owned(),
            app_secret: generate_secret(&mut rand::thread_rng()),
            app_secret_generated: true,
            workers: default_workers(),
            timers: SessionTimers::default(),
            ice: ice::IceConfig::default(),
            srtp: srtp::Config::default(),
            keyframe_interval: crate::router::DEFAULT_KEYFRAME_INTERVAL,
            demo: DemoAccess::default(),
            turn: None,
        }
    }
}

impl Config {
    /// The defaults on ports the kernel picks (`127.0.0.1:0` for HTTP, `127.0.0.1:0` and
    /// `[::1]:0` for UDP): what in-process tests start.
    pub fn ephemeral() -> Config {
        Config {
            http_listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            udp_listen: vec![
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 0),
            ],
            ..Config::default()
        }
    }

    /// Checks the rules the field docs state.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.udp_listen.is_empty() {
            return Err(ConfigError::NoUdpListen);
        }
        for (i, a) in self.udp_listen.iter().enumerate() {
            if let Some(b) = self.udp_listen.iter().skip(i + 1).find(|b| b.is_ipv4() == a.is_ipv4())
            {
                return Err(ConfigError::DuplicateFamily(*a, *b));
            }
        }
        for (i, a) in self.announce_ips.iter().enumerate() {
            if a.is_unspecified() || a.is_multicast() {
                return Err(ConfigError::BadAnnounce(*a));
            }
            if let Some(b) =
                self.announce_ips.iter().skip(i + 1).find(|b| b.is_ipv4() == a.is_ipv4())
            {
                return Err(ConfigError::DuplicateAnnounce(*a, *b));
            }
            if !self.udp_listen.iter().any(|l| l.is_ipv4() == a.is_ipv4()) {
                return Err(ConfigError::AnnounceWithoutListen(*a));
            }
        }
        let id_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if self.app_id.is_empty() || self.app_id.len() > 64 || !self.app_id.chars().all(id_ok) {
            return Err(ConfigError::BadAppId);
        }
        if self.app_secret.is_empty()
            || self.app_secret.len() > 256
            || !self.app_secret.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(ConfigError::BadAppSecret);
        }
        if self.workers == 0 || self.workers > MAX_WORKERS {
            return Err(ConfigError::BadWorkers);
        }
        if let Some(turn) = &self.turn {
            if turn.key_id.is_empty() || turn.key_id.len() > 64 || !turn.key_id.chars().all(id_ok) {
                return Err(ConfigError::BadTurnKey(
                    "key id must be 1 to 64 characters of A-Z a-z 0-9 - _ .",
                ));
            }
            if turn.secret.is_empty()
                || turn.secret.len() > 256
                || !turn.secret.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(ConfigError::BadTurnKey(
                    "secret must be 1 to 256 visible ASCII characters without spaces",
                ));
            }
            let host_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':');
            if turn.host.is_empty() || turn.host.len() > 253 || !turn.host.chars().all(host_ok) {
                return Err(ConfigError::BadTurnKey("host must be a host name or an IP address"));
            }
            let ports = turn.udp_ports.iter().chain(&turn.tcp_ports).chain(&turn.tls_ports);
            if ports.clone().any(|p| *p == 0) || ports.count() == 0 {
                return Err(ConfigError::BadTurnKey("ports must be 1 to 65535, at least one"));
            }
        }
        Ok(())
    }

    /// The announce IP for the family of `bound`, if one is configured.
    pub fn announce_ip_for(&self, bound: SocketAddr) -> Option<IpAddr> {
        self.announce_ips.iter().copied().find(|ip| ip.is_ipv4() == bound.is_ipv4())
    }

    /// The addresses to advertise as host candidates for the bound UDP addresses: the
    /// announce IP of the family with the bound port, else the bound address itself. A
    /// bound unspecified address (`0.0.0.0`, `::`) without an announce IP is left out: no
    /// browser can send to it.
    pub fn candidate_addresses(&self, bound: &[SocketAddr]) -> Vec<SocketAddr> {
        bound
            .iter()
            .filter_map(|b| match self.announce_ip_for(*b) {
                Some(ip) => Some(SocketAddr::new(ip, b.port())),
                None if b.ip().is_unspecified() => None,
                None => Some(*b),
            })
            .collect()
    }
}

impl fmt::Debug for Config {
    /// Everything but the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("http_listen", &self.http_listen)
            .field("udp_listen", &self.udp_listen)
            .field("skip_unavailable_ipv6", &self.skip_unavailable_ipv6)
            .field("announce_ips", &self.announce_ips)
            .field("app_id", &self.app_id)
            .field("app_secret", &"..")
            .field("app_secret_generated", &self.app_secret_generated)
            .field("workers", &self.workers)
            .field("timers", &self.timers)
            .field("ice", &self.ice)
            .field("srtp", &self.srtp)
            .field("keyframe_interval", &self.keyframe_interval)
            .field("demo", &self.demo)
            .field("turn", &self.turn)
            .finish()
    }
}

/// A random secret: 16 bytes from `rng` as 32 lower-case hex characters.
pub fn generate_secret<R: RngCore + ?Sized>(rng: &mut R) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One worker per available CPU, at least 1, at most 16 by default.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn defaults_run_on_loopback() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.http_listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            c.udp_listen,
            ["127.0.0.1:3480".parse().unwrap(), "[::1]:3480".parse().unwrap()]
        );
        assert_eq!(c.app_id, "default");
        assert_eq!(c.app_secret.len(), 32);
        assert!(c.app_secret.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(c.app_secret_generated && c.skip_unavailable_ipv6);
        assert_ne!(c.app_secret, Config::default().app_secret);
        assert!(!format!("{c:?}").contains(&c.app_secret));
        assert_eq!(Config::ephemeral().http_listen.port(), 0);
    }

    #[test]
    fn secret_is_32_hex() {
        let s = generate_secret(&mut StdRng::seed_from_u64(7));
        assert_eq!(s.len(), 32);
        assert!(s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    }

    #[test]
    fn validation() {
        let ok = Config::ephemeral();
        let bad = |f: &dyn Fn(&mut Config)| {
            let mut c = ok.clone();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert_eq!(bad(&|c| c.udp_listen.clear()), ConfigError::NoUdpListen);
        assert!(matches!(
            bad(&|c| c.udp_listen.push("10.0.0.1:1".parse().unwrap())),
            ConfigError::DuplicateFamily(..)
        ));
        assert_eq!(
            bad(&|c| c.announce_ips = vec!["0.0.0.0".parse().unwrap()]),
            ConfigError::BadAnnounce("0.0.0.0".parse().unwrap())
        );
        assert!(matches!(
            bad(&|c| c.announce_ips = vec!["1.2.3.4".parse().unwrap(), "5.6.7.8".parse().unwrap()]),
            ConfigError::DuplicateAnnounce(..)
        ));
        assert!(matches!(
            bad(&|c| {
                c.udp_listen.truncate(1);
                c.announce_ips = vec!["2001:db8::1".parse().unwrap()];
            }),
            ConfigError::AnnounceWithoutListen(_)
        ));
        assert_eq!(bad(&|c| c.app_id = "a/b".into()), ConfigError::BadAppId);
        assert_eq!(bad(&|c| c.app_id.clear()), ConfigError::BadAppId);
        assert_eq!(bad(&|c| c.app_secret = "has space".into()), ConfigError::BadAppSecret);
        assert_eq!(bad(&|c| c.workers = 0), ConfigError::BadWorkers);
        let turn = |f: &dyn Fn(&mut TurnKey)| {
            bad(&|c| {
                let mut key = TurnKey::new("s3cret");
                f(&mut key);
                c.turn = Some(key);
            })
        };
        assert!(matches!(turn(&|k| k.key_id = "a/b".into()), ConfigError::BadTurnKey(_)));
        assert!(matches!(turn(&|k| k.secret.clear()), ConfigError::BadTurnKey(_)));
        assert!(matches!(turn(&|k| k.host = "a b".into()), ConfigError::BadTurnKey(_)));
        assert!(matches!(turn(&|k| k.udp_ports.push(0)), ConfigError::BadTurnKey(_)));
        let mut with_key = ok.clone();
        with_key.turn = Some(TurnKey::new("s3cret"));
        with_key.validate().unwrap();
        assert!(!format!("{with_key:?}").contains("s3cret"));
    }

    #[test]
    fn candidates_use_announce_ip_with_bound_port() {
        let mut c = Config::ephemeral();
        let bound: Vec<SocketAddr> =
            vec!["0.0.0.0:4000".parse().unwrap(), "[::1]:4001".parse().unwrap()];
        // Unspecified without an announce IP is left out.
        assert_eq!(c.candidate_addresses(&bound), vec![bound[1]]);
        c.announce_ips = vec!["203.0.113.9".parse().unwrap()];
        assert_eq!(
            c.candidate_addresses(&bound),
            vec!["203.0.113.9:4000".parse().unwrap(), bound[1]]
        );
    }
}
