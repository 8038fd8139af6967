//! ICE candidates in SDP (`a=candidate`, RFC 8839 §5.1), with the TCP extension of
//! RFC 6544 and the extension attributes browsers add (`generation`, `ufrag`,
//! `network-id`, `network-cost`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::attribute::parse_number;
use super::SdpError;

/// Candidate type (RFC 8445 §5.1.1), an open set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CandidateType {
    /// `host`
    Host,
    /// `srflx`
    ServerReflexive,
    /// `prflx`
    PeerReflexive,
    /// `relay`
    Relayed,
    /// Any other token.
    Other(String),
}

impl CandidateType {
    /// The SDP token.
    pub fn as_str(&self) -> &str {
        match self {
            CandidateType::Host => "host",
            CandidateType::ServerReflexive => "srflx",
            CandidateType::PeerReflexive => "prflx",
            CandidateType::Relayed => "relay",
            CandidateType::Other(s) => s,
        }
    }

    /// Type preference of RFC 8445 §5.1.2.2 recommended values.
    pub fn preference(&self) -> u32 {
        match self {
            CandidateType::Host => 126,
            CandidateType::PeerReflexive => 110,
            CandidateType::ServerReflexive => 100,
            CandidateType::Relayed | CandidateType::Other(_) => 0,
        }
    }

    fn from_token(token: &str) -> CandidateType {
        match token {
            "host" => CandidateType::Host,
            "srflx" => CandidateType::ServerReflexive,
            "prflx" => CandidateType::PeerReflexive,
            "relay" => CandidateType::Relayed,
            other => CandidateType::Other(other.to_owned()),
        }
    }
}

/// TCP candidate type (RFC 6544 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpType {
    /// `active`
    Active,
    /// `passive`
    Passive,
    /// `so` (simultaneous open)
    SimultaneousOpen,
}

impl TcpType {
    /// The SDP token.
    pub fn as_str(self) -> &'static str {
        match self {
            TcpType::Active => "active",
            TcpType::Passive => "passive",
            TcpType::SimultaneousOpen => "so",
        }
    }
}

/// One ICE candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Foundation (1 to 32 ice-chars).
    pub foundation: String,
    /// Component id: 1 for RTP (and everything, with rtcp-mux), 2 for RTCP.
    pub component: u16,
    /// Transport as written (`udp`, `UDP`, `tcp`).
    pub transport: String,
    /// Priority (RFC 8445 §5.1.2).
    pub priority: u32,
    /// Connection address: an IP address, or an mDNS name such as `<uuid>.local`.
    pub address: String,
    /// Port.
    pub port: u16,
    /// Candidate type.
    pub kind: CandidateType,
    /// `raddr`.
    pub related_address: Option<String>,
    /// `rport`.
    pub related_port: Option<u16>,
    /// `tcptype` (RFC 6544).
    pub tcp_type: Option<TcpType>,
    /// `generation` (Chrome).
    pub generation: Option<u32>,
    /// `ufrag` (trickle ICE, RFC 8840; Chrome).
    pub ufrag: Option<String>,
    /// `network-id` (Chrome).
    pub network_id: Option<u32>,
    /// `network-cost` (Chrome).
    pub network_cost: Option<u32>,
    /// Any other extension attribute, in order.
    pub extensions: Vec<(String, String)>,
}

/// Priority of a host candidate (RFC 8445 §5.1.2.1):
/// `2^24 * type preference + 2^8 * local preference + (256 - component)`.
pub fn candidate_priority(kind: &CandidateType, local_preference: u16, component: u16) -> u32 {
    // Each term is bounded: 126 << 24, 65535 << 8 and 255 add up to less than 2^32.
    let component_term = 256u32.saturating_sub(u32::from(component.clamp(1, 256)));
    (kind.preference() << 24) + (u32::from(local_preference) << 8) + component_term
}

impl Candidate {
    /// A UDP host candidate for `address`.
    pub fn host(
        foundation: impl Into<String>,
        component: u16,
        address: SocketAddr,
        priority: u32,
    ) -> Self {
        Candidate {
            foundation: foundation.into(),
            component,
            transport: "udp".to_owned(),
            priority,
            address: address.ip().to_string(),
            port: address.port(),
            kind: CandidateType::Host,
            related_address: None,
            related_port: None,
            tcp_type: None,
            generation: None,
            ufrag: None,
            network_id: None,
            network_cost: None,
            extensions: Vec::new(),
        }
    }

    /// Parses a candidate as trickled (`candidate:...`, with or without `a=`).
    pub fn parse(text: &str) -> Result<Candidate, SdpError> {
        let text = text.trim();
        let text = text.strip_prefix("a=").unwrap_or(text);
        let text = text.strip_prefix("candidate:").unwrap_or(text);
        Candidate::parse_value(text)
            .map_err(|reason| SdpError::Value { attribute: "candidate", reason })
    }

    /// Parses the value of `a=candidate:` (RFC 8839 §5.1 grammar).
    pub(crate) fn parse_value(value: &str) -> Result<Candidate, &'static str> {
        const SHAPE: &str =
            "expected \"<foundation> <component> <transport> <priority> <address> <port> typ <type> ...\"";
        let mut tokens = value.split_ascii_whitespace();
        let mut next = || tokens.next().ok_or(SHAPE);
        let foundation = next()?;
        let component = parse_number::<u16>(next()?)
            .filter(|c| *c >= 1)
            .ok_or("component id is not a number 1-65535")?;
        let transport = next()?;
        let priority = parse_number::<u32>(next()?).ok_or("priority is not a 32-bit number")?;
        let address = next()?;
        let port = parse_number::<u16>(next()?).ok_or("port is not a number 0-65535")?;
        if next()? != "typ" {
            return Err("expected \"typ\" after the port");
        }
        let kind = CandidateType::from_token(next()?);
        let mut candidate = Candidate {
            foundation: foundation.to_owned(),
            component,
            transport: transport.to_owned(),
            priority,
            address: address.to_owned(),
            port,
            kind,
            related_address: None,
            related_port: None,
            tcp_type: None,
            generation: None,
            ufrag: None,
            network_id: None,
            network_cost: None,
            extensions: Vec::new(),
        };
        // raddr, rport and the extension attributes are name/value pairs (RFC 8839 §5.1).
        while let Some(name) = tokens.next() {
            let value = tokens.next().ok_or("an extension attribute has no value")?;
            match name {
                "raddr" => candidate.related_address = Some(value.to_owned()),
                "rport" => {
                    candidate.related_port =
                        Some(parse_number(value).ok_or("rport is not a number 0-65535")?)
                }
                "tcptype" => {
                    candidate.tcp_type = Some(match value {
                        "active" => TcpType::Active,
                        "passive" => TcpType::Passive,
                        "so" => TcpType::SimultaneousOpen,
                        _ => return Err("tcptype is not active, passive or so (RFC 6544 §4.5)"),
                    })
                }
                "generation" => {
                    candidate.generation =
                        Some(parse_number(value).ok_or("generation is not a number")?)
                }
                "ufrag" => candidate.ufrag = Some(value.to_owned()),
                "network-id" => {
                    candidate.network_id =
                        Some(parse_number(value).ok_or("network-id is not a number")?)
                }
                "network-cost" => {
                    candidate.network_cost =
                        Some(parse_number(value).ok_or("network-cost is not a number")?)
                }
                _ => candidate.extensions.push((name.to_owned(), value.to_owned())),
            }
        }
        Ok(candidate)
    }

    /// Whether the transport is UDP.
    pub fn is_udp(&self) -> bool {
        self.transport.eq_ignore_ascii_case("udp")
    }

    /// The address as an IP address (`None` for mDNS names).
    pub fn ip(&self) -> Option<IpAddr> {
        self.address.parse().ok()
    }

    /// The address and port (`None` for mDNS names).
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        self.ip().map(|ip| SocketAddr::new(ip, self.port))
    }
}

impl std::str::FromStr for Candidate {
    type Err = SdpError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Candidate::parse(s)
    }
}

impl fmt::Display for Candidate {
    /// Writes `candidate:...` (the `a=` prefix is the caller's).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "candidate:{} {} {} {} {} {} typ {}",
            self.foundation,
            self.component,
            self.transport,
            self.priority,
            self.address,
            self.port,
            self.kind.as_str()
        )?;
        if let Some(a) = &self.related_address {
            write!(f, " raddr {a}")?;
        }
        if let Some(p) = self.related_port {
            write!(f, " rport {p}")?;
        }
        if let Some(t) = self.tcp_type {
            write!(f, " tcptype {}", t.as_str())?;
        }
        if let Some(g) = self.generation {
            write!(f, " generation {g}")?;
        }
        if let Some(u) = &self.ufrag {
            write!(f, " ufrag {u}")?;
        }
        if let Some(n) = self.network_id {
            write!(f, " network-id {n}")?;
        }
        if let Some(c) = self.network_cost {
            write!(f, " network-cost {c}")?;
        }
        for (name, value) in &self.extensions {
            write!(f, " {name} {value}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chrome_host_candidate_with_extensions() {
        let c = Candidate::parse(
            "candidate:3046358416 1 udp 2122260223 192.168.1.23 54400 typ host generation 0 ufrag 4ZcD network-id 1 network-cost 10",
        )
        .unwrap();
        assert_eq!(c.foundation, "3046358416");
        assert_eq!((c.component, c.priority, c.port), (1, 2_122_260_223, 54400));
        assert!(c.is_udp());
        assert_eq!(c.kind, CandidateType::Host);
        assert_eq!((c.generation, c.ufrag.as_deref()), (Some(0), Some("4ZcD")));
        assert_eq!((c.network_id, c.network_cost), (Some(1), Some(10)));
        assert_eq!(c.socket_addr(), Some("192.168.1.23:54400".parse().unwrap()));
    }

    #[test]
    fn tcp_srflx_mdns_and_ipv6() {
        let tcp =
            Candidate::parse("a=candidate:1 1 TCP 2105524479 10.0.0.5 9 typ host tcptype active")
                .unwrap();
        assert_eq!(tcp.tcp_type, Some(TcpType::Active));
        assert!(!tcp.is_udp());
        let srflx = Candidate::parse(
            "candidate:842163049 1 udp 1677729535 203.0.113.7 62793 typ srflx raddr 0.0.0.0 rport 0 generation 0",
        )
        .unwrap();
        assert_eq!(srflx.kind, CandidateType::ServerReflexive);
        assert_eq!(
            (srflx.related_address.as_deref(), srflx.related_port),
            (Some("0.0.0.0"), Some(0))
        );
        let mdns = Candidate::parse(
            "candidate:1 1 udp 2113937151 2cf0b2c0-0842-4fe3-aaa0-4556a2dfbadc.local 33192 typ host",
        )
        .unwrap();
        assert_eq!(mdns.ip(), None);
        let v6 =
            Candidate::parse("candidate:2 1 udp 2122262783 2001:db8::1 50000 typ host").unwrap();
        assert_eq!(v6.socket_addr(), Some("[2001:db8::1]:50000".parse().unwrap()));
        let relay = Candidate::parse("candidate:3 1 udp 41885439 198.51.100.1 3478 typ relay raddr 203.0.113.7 rport 50000 foo bar").unwrap();
        assert_eq!(relay.kind, CandidateType::Relayed);
        assert_eq!(relay.extensions, vec![("foo".to_owned(), "bar".to_owned())]);
        assert_eq!(relay.to_string().parse::<Candidate>().unwrap(), relay);
    }

    #[test]
    fn malformed_candidates() {
        let reason = |s: &str| match Candidate::parse(s) {
            Err(SdpError::Value { reason, .. }) => reason,
            other => panic!("{s}: {other:?}"),
        };
        assert!(reason("candidate:1 1 udp 1 10.0.0.1 5000").starts_with("expected"));
        assert_eq!(
            reason("candidate:1 x udp 1 10.0.0.1 5000 typ host"),
            "component id is not a number 1-65535"
        );
        assert_eq!(
            reason("candidate:1 0 udp 1 10.0.0.1 5000 typ host"),
            "component id is not a number 1-65535"
        );
        assert_eq!(
            reason("candidate:1 1 udp 4294967296 10.0.0.1 5000 typ host"),
            "priority is not a 32-bit number"
        );
        assert_eq!(
            reason("candidate:1 1 udp 1 10.0.0.1 70000 typ host"),
            "port is not a number 0-65535"
        );
        assert_eq!(
            reason("candidate:1 1 udp 1 10.0.0.1 5000 type host"),
            "expected \"typ\" after the port"
        );
        assert_eq!(
            reason("candidate:1 1 udp 1 10.0.0.1 5000 typ host generation"),
            "an extension attribute has no value"
        );
        assert_eq!(
            reason("candidate:1 1 tcp 1 10.0.0.1 5000 typ host tcptype both"),
            "tcptype is not active, passive or so (RFC 6544 §4.5)"
        );
    }

    #[test]
    fn host_priority_rfc_8445() {
        // RFC 8445 §5.1.2.1 with the recommended host type preference 126.
        assert_eq!(candidate_priority(&CandidateType::Host, 65535, 1), 2_130_706_431);
        assert_eq!(candidate_priority(&CandidateType::Host, 65535, 2), 2_130_706_430);
        assert_eq!(candidate_priority(&CandidateType::Host, 0, 1), 126 << 24 | 255);
        assert_eq!(candidate_priority(&CandidateType::Relayed, 65535, 1), 0x00ff_ffff);
    }
}
