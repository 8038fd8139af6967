//! SDP attributes (`a=` lines): a typed set for what WebRTC uses, and a verbatim
//! [`Attribute::Other`] for everything else, so an unknown attribute is kept, never fatal.

use std::fmt;

use super::candidate::Candidate;
use super::rid::Rid;
use super::session::Connection;
use super::simulcast::Simulcast;

/// One `a=` line, without the `a=` prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Attribute {
    /// `a=group:<semantics> <mid>...` (RFC 5888 §5), e.g. `BUNDLE` (RFC 8843).
    Group(Group),
    /// `a=msid-semantic: WMS <id>...` (Chrome and Firefox still write it).
    MsidSemantic(MsidSemantic),
    /// `a=ice-lite` (RFC 8839 §5.3), session level.
    IceLite,
    /// `a=ice-ufrag:<ufrag>` (RFC 8839 §5.4).
    IceUfrag(String),
    /// `a=ice-pwd:<pwd>` (RFC 8839 §5.4).
    IcePwd(String),
    /// `a=ice-options:<option>...` (RFC 8839 §5.6): `trickle`, `ice2`, `renomination`.
    IceOptions(Vec<String>),
    /// `a=fingerprint:<hash> <hex>` (RFC 8122 §5).
    Fingerprint(Fingerprint),
    /// `a=setup:<role>` (RFC 4145 §4, RFC 5763 §5).
    Setup(Setup),
    /// `a=extmap-allow-mixed` (RFC 8285 §6).
    ExtmapAllowMixed,
    /// `a=mid:<id>` (RFC 5888 §4).
    Mid(String),
    /// `a=msid:<stream> [<track>]` (RFC 8830 §2).
    Msid(Msid),
    /// `a=sendrecv`, `a=sendonly`, `a=recvonly`, `a=inactive` (RFC 8866 §6.7).
    Direction(Direction),
    /// `a=rtcp-mux` (RFC 5761 §5.1.1).
    RtcpMux,
    /// `a=rtcp-rsize` (RFC 5506 §5).
    RtcpRsize,
    /// `a=rtcp:<port> [<nettype> <addrtype> <address>]` (RFC 3605).
    Rtcp(Rtcp),
    /// `a=rtpmap:<pt> <name>/<clock>[/<channels>]` (RFC 8866 §6.6).
    Rtpmap(Rtpmap),
    /// `a=fmtp:<pt> <parameters>` (RFC 8866 §6.15).
    Fmtp(Fmtp),
    /// `a=rtcp-fb:<pt|*> <type> [<parameter>]` (RFC 4585 §4.2).
    RtcpFb(RtcpFb),
    /// `a=extmap:<id>[/<direction>] <uri> [<attributes>]` (RFC 8285 §5).
    Extmap(Extmap),
    /// `a=ssrc:<ssrc> <attribute>[:<value>]` (RFC 5576 §4.1).
    Ssrc(SsrcAttribute),
    /// `a=ssrc-group:<semantics> <ssrc>...` (RFC 5576 §4.2), `FID` and `SIM`.
    SsrcGroup(SsrcGroup),
    /// `a=rid:<id> <send|recv> [pt=..;restrictions]` (RFC 8851 §4).
    Rid(Rid),
    /// `a=simulcast:<send|recv> <streams> [...]` (RFC 8853 §5.1).
    Simulcast(Simulcast),
    /// `a=sctp-port:<port>` (RFC 8841 §5).
    SctpPort(u16),
    /// `a=max-message-size:<bytes>` (RFC 8841 §6), 0 meaning no limit.
    MaxMessageSize(u64),
    /// `a=candidate:...` (RFC 8839 §5.1).
    Candidate(Candidate),
    /// `a=end-of-candidates` (RFC 8840).
    EndOfCandidates,
    /// `a=bundle-only` (RFC 8843 §6).
    BundleOnly,
    /// Any other attribute, kept verbatim: `a=<name>[:<value>]`.
    Other {
        /// Text before the first `:`.
        name: String,
        /// Text after the first `:`, if there is one.
        value: Option<String>,
    },
}

/// Media direction (RFC 8866 §6.7, RFC 3264 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Send and receive.
    SendRecv,
    /// Send only.
    SendOnly,
    /// Receive only.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    /// Builds a direction from whether media is sent and whether it is received.
    pub fn from_flags(sends: bool, receives: bool) -> Direction {
        match (sends, receives) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// Whether this side sends.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether this side receives.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The direction seen from the other side: `sendonly` becomes `recvonly` and back.
    pub fn reverse(self) -> Direction {
        Direction::from_flags(self.receives(), self.sends())
    }

    /// The direction an answerer that wants `self` may use against an offer of `offered`
    /// (RFC 3264 §6.1): it sends only what the offerer receives and the reverse.
    pub fn answer_to(self, offered: Direction) -> Direction {
        Direction::from_flags(
            self.sends() && offered.receives(),
            self.receives() && offered.sends(),
        )
    }

    /// The SDP token.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn from_token(token: &str) -> Option<Direction> {
        match token {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// DTLS connection role (RFC 4145 §4, RFC 5763 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Setup {
    /// Either role; the answerer chooses (what every JSEP offer says).
    Actpass,
    /// DTLS client.
    Active,
    /// DTLS server.
    Passive,
    /// No connection for now.
    Holdconn,
}

impl Setup {
    /// The SDP token.
    pub fn as_str(self) -> &'static str {
        match self {
            Setup::Actpass => "actpass",
            Setup::Active => "active",
            Setup::Passive => "passive",
            Setup::Holdconn => "holdconn",
        }
    }
}

impl fmt::Display for Setup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `a=group` (RFC 5888 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// `BUNDLE`, `LS`, ...
    pub semantics: String,
    /// The identification tags (mids) in the group, in order.
    pub mids: Vec<String>,
}

impl Group {
    /// Whether this is a `BUNDLE` group (RFC 8843).
    pub fn is_bundle(&self) -> bool {
        self.semantics == "BUNDLE"
    }
}

/// `a=msid-semantic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsidSemantic {
    /// Normally `WMS`.
    pub semantic: String,
    /// Stream ids, or `*`.
    pub identifiers: Vec<String>,
}

/// `a=fingerprint` (RFC 8122 §5): hash function and certificate digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    /// Hash function name as written (`sha-256`); compare case-insensitively.
    pub algorithm: String,
    /// The digest bytes.
    pub value: Vec<u8>,
}

impl Fingerprint {
    /// A SHA-256 fingerprint of the given digest.
    pub fn sha256(digest: [u8; 32]) -> Fingerprint {
        Fingerprint { algorithm: "sha-256".to_owned(), value: digest.to_vec() }
    }

    /// Parses `"<hash> <XX:XX:...>"`, the value of the attribute.
    pub fn parse(text: &str) -> Result<Fingerprint, super::SdpError> {
        parse_fingerprint(text)
            .map_err(|reason| super::SdpError::Value { attribute: "fingerprint", reason })
    }

    /// The digest as uppercase colon-separated hex, as written in SDP.
    pub fn hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut out = String::with_capacity(self.value.len() * 3);
        for (i, byte) in self.value.iter().enumerate() {
            if i > 0 {
                out.push(':');
            }
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        out
    }
}

/// `a=msid` (RFC 8830 §2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Msid {
    /// MediaStream id (`-` means none).
    pub stream_id: String,
    /// MediaStreamTrack id ("appdata").
    pub track_id: Option<String>,
}

impl Msid {
    /// An msid with both ids.
    pub fn new(stream_id: impl Into<String>, track_id: impl Into<String>) -> Msid {
        Msid { stream_id: stream_id.into(), track_id: Some(track_id.into()) }
    }

    pub(crate) fn parse(value: &str) -> Result<Msid, &'static str> {
        let mut tokens = value.split_ascii_whitespace();
        let stream_id =
            tokens.next().ok_or("missing stream id (expected msid:<stream> [<track>])")?;
        let track_id = tokens.next().map(str::to_owned);
        if tokens.next().is_some() {
            return Err("more than two ids (expected msid:<stream> [<track>])");
        }
        Ok(Msid { stream_id: stream_id.to_owned(), track_id })
    }
}

impl fmt::Display for Msid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.stream_id)?;
        if let Some(track) = &self.track_id {
            write!(f, " {track}")?;
        }
        Ok(())
    }
}

/// `a=rtcp` (RFC 3605).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtcp {
    /// RTCP port.
    pub port: u16,
    /// Optional connection address.
    pub connection: Option<Connection>,
}

/// `a=rtpmap` (RFC 8866 §6.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtpmap {
    /// Payload type, 0-127.
    pub payload_type: u8,
    /// Encoding name as written (`opus`, `VP8`, `rtx`).
    pub encoding_name: String,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Audio channel count (the encoding parameters).
    pub channels: Option<u16>,
}

/// `a=fmtp` (RFC 8866 §6.15): format-specific parameters, kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fmtp {
    /// Payload type, 0-127.
    pub payload_type: u8,
    /// The parameter text, e.g. `minptime=10;useinbandfec=1`.
    pub parameters: String,
}

impl Fmtp {
    /// The `key[=value]` pairs separated by `;`.
    pub fn params(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        fmtp_params(&self.parameters)
    }

    /// The value of one parameter; keys compare case-insensitively (RFC 6184 §8.1).
    pub fn get(&self, key: &str) -> Option<&str> {
        fmtp_get(&self.parameters, key)
    }
}

/// Splits format parameters into `key[=value]` pairs separated by `;`.
pub fn fmtp_params(parameters: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    parameters.split(';').map(str::trim).filter(|p| !p.is_empty()).map(|p| {
        match p.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (p, None),
        }
    })
}

/// The value of one format parameter (case-insensitive key).
pub fn fmtp_get<'a>(parameters: &'a str, key: &str) -> Option<&'a str> {
    fmtp_params(parameters).find(|(k, _)| k.eq_ignore_ascii_case(key)).and_then(|(_, v)| v)
}

/// One RTCP feedback mechanism (RFC 4585 §4.2): `nack`, `nack pli`, `ccm fir`,
/// `goog-remb`, `transport-cc`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RtcpFeedback {
    /// Feedback type (`nack`, `ccm`, `goog-remb`, `transport-cc`).
    pub kind: String,
    /// Feedback parameter (`pli`, `fir`).
    pub parameter: Option<String>,
}

impl RtcpFeedback {
    /// A feedback type with an optional parameter.
    pub fn new(kind: &str, parameter: Option<&str>) -> RtcpFeedback {
        RtcpFeedback { kind: kind.to_owned(), parameter: parameter.map(str::to_owned) }
    }
}

impl fmt::Display for RtcpFeedback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.kind)?;
        if let Some(p) = &self.parameter {
            write!(f, " {p}")?;
        }
        Ok(())
    }
}

/// `a=rtcp-fb` (RFC 4585 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcpFb {
    /// The payload type, or `None` for the `*` wildcard.
    pub payload_type: Option<u8>,
    /// The mechanism.
    pub feedback: RtcpFeedback,
}

/// `a=extmap` (RFC 8285 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extmap {
    /// Local identifier: 1-255, or 4096-4351 during negotiation.
    pub id: u16,
    /// Optional direction.
    pub direction: Option<Direction>,
    /// Extension URI.
    pub uri: String,
    /// Extension attributes after the URI.
    pub attributes: Option<String>,
}

/// One `a=ssrc` line (RFC 5576 §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsrcAttribute {
    /// The SSRC.
    pub ssrc: u32,
    /// Source attribute name (`cname`, `msid`, ...).
    pub attribute: String,
    /// Source attribute value.
    pub value: Option<String>,
}

/// `a=ssrc-group` (RFC 5576 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsrcGroup {
    /// `FID` (RTX, RFC 4588), `SIM` (legacy simulcast), `FEC-FR`, ...
    pub semantics: String,
    /// The SSRCs, in order (for `FID`: primary then repair).
    pub ssrcs: Vec<u32>,
}

/// Payload types run from 0 to 127 (RFC 3550 §5.1: seven bits).
pub(crate) fn parse_payload_type(token: &str) -> Option<u8> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse::<u8>().ok().filter(|pt| *pt <= 127)
}

/// A decimal number; rejects signs and spaces that `str::parse` would let through.
pub(crate) fn parse_number<T: std::str::FromStr>(token: &str) -> Option<T> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse().ok()
}

/// First whitespace-separated token and the rest (leading whitespace removed).
pub(crate) fn split_token(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start();
    if text.is_empty() {
        return None;
    }
    match text.find(|c: char| c.is_ascii_whitespace()) {
        Some(i) => Some((text.get(..i)?, text.get(i..)?.trim_start())),
        None => Some((text, "")),
    }
}

fn parse_fingerprint(value: &str) -> Result<Fingerprint, &'static str> {
    let mut tokens = value.split_ascii_whitespace();
    let (Some(algorithm), Some(hex), None) = (tokens.next(), tokens.next(), tokens.next()) else {
        return Err("expected \"<hash-function> <XX:XX:...>\"");
    };
    let mut bytes = Vec::with_capacity(hex.len() / 3 + 1);
    for part in hex.split(':') {
        let (Some(hi), Some(lo), 2) = (
            part.chars().next().and_then(|c| c.to_digit(16)),
            part.chars().nth(1).and_then(|c| c.to_digit(16)),
            part.len(),
        ) else {
            return Err("the fingerprint is not colon-separated two-digit hex bytes");
        };
        // Both digits are below 16, so the byte fits.
        bytes.push(((hi << 4) | lo) as u8);
    }
    Ok(Fingerprint { algorithm: algorithm.to_owned(), value: bytes })
}

fn parse_rtpmap(value: &str) -> Result<Rtpmap, &'static str> {
    let (pt, rest) = split_token(value).ok_or("expected \"<pt> <name>/<clock>[/<channels>]\"")?;
    let payload_type = parse_payload_type(pt).ok_or("payload type is not a number 0-127")?;
    let mut parts = rest.trim().split('/');
    let name = parts.next().unwrap_or_default();
    if name.is_empty() || name.contains(|c: char| c.is_ascii_whitespace()) {
        return Err("expected \"<pt> <name>/<clock>[/<channels>]\"");
    }
    let clock_rate = parts
        .next()
        .and_then(parse_number::<u32>)
        .ok_or("clock rate is missing or not a number (expected <name>/<clock>)")?;
    let channels = match parts.next() {
        Some(c) => {
            Some(parse_number::<u16>(c).ok_or("encoding parameters are not a channel count")?)
        }
        None => None,
    };
    if parts.next().is_some() {
        return Err("too many '/' fields (expected <name>/<clock>[/<channels>])");
    }
    Ok(Rtpmap { payload_type, encoding_name: name.to_owned(), clock_rate, channels })
}

fn parse_fmtp(value: &str) -> Result<Fmtp, &'static str> {
    let (pt, rest) = split_token(value).ok_or("expected \"<pt> <parameters>\"")?;
    let payload_type = parse_payload_type(pt).ok_or("payload type is not a number 0-127")?;
    Ok(Fmtp { payload_type, parameters: rest.to_owned() })
}

fn parse_rtcp_fb(value: &str) -> Result<RtcpFb, &'static str> {
    let (pt, rest) = split_token(value).ok_or("expected \"<pt|*> <type> [<parameter>]\"")?;
    let payload_type = if pt == "*" {
        None
    } else {
        Some(parse_payload_type(pt).ok_or("payload type is neither '*' nor a number 0-127")?)
    };
    let (kind, parameter) = split_token(rest).ok_or("missing feedback type")?;
    let parameter = (!parameter.is_empty()).then(|| parameter.to_owned());
    Ok(RtcpFb { payload_type, feedback: RtcpFeedback { kind: kind.to_owned(), parameter } })
}

fn parse_extmap(value: &str) -> Result<Extmap, &'static str> {
    let (id_dir, rest) = split_token(value).ok_or("expected \"<id>[/<direction>] <uri>\"")?;
    let (id, direction) = match id_dir.split_once('/') {
        Some((id, dir)) => {
            (id, Some(Direction::from_token(dir).ok_or("unknown direction after the id")?))
        }
        None => (id_dir, None),
    };
    let id = parse_number::<u16>(id).ok_or("id is not a number")?;
    // RFC 8285 §5: 1-14 one-byte, up to 255 two-byte, 4096-4351 only while negotiating.
    if !matches!(id, 1..=255 | 4096..=4351) {
        return Err("id is outside 1-255 and 4096-4351 (RFC 8285 §5)");
    }
    let (uri, attributes) = split_token(rest).ok_or("missing extension URI")?;
    let attributes = (!attributes.is_empty()).then(|| attributes.to_owned());
    Ok(Extmap { id, direction, uri: uri.to_owned(), attributes })
}

fn parse_ssrc(value: &str) -> Result<SsrcAttribute, &'static str> {
    let (ssrc, rest) = split_token(value).ok_or("expected \"<ssrc> <attribute>[:<value>]\"")?;
    let ssrc = parse_number::<u32>(ssrc).ok_or("ssrc is not a 32-bit number")?;
    if rest.is_empty() {
        return Err("missing source attribute after the ssrc");
    }
    let (attribute, value) = match rest.split_once(':') {
        Some((a, v)) => (a, Some(v.to_owned())),
        None => (rest, None),
    };
    if attribute.is_empty() {
        return Err("empty source attribute name");
    }
    Ok(SsrcAttribute { ssrc, attribute: attribute.to_owned(), value })
}

fn parse_ssrc_group(value: &str) -> Result<SsrcGroup, &'static str> {
    let mut tokens = value.split_ascii_whitespace();
    let semantics = tokens.next().ok_or("expected \"<semantics> <ssrc>...\"")?;
    let ssrcs = tokens
        .map(|t| parse_number::<u32>(t).ok_or("ssrc is not a 32-bit number"))
        .collect::<Result<Vec<u32>, _>>()?;
    if ssrcs.is_empty() {
        return Err("the group lists no ssrc");
    }
    Ok(SsrcGroup { semantics: semantics.to_owned(), ssrcs })
}

fn parse_rtcp(value: &str) -> Result<Rtcp, &'static str> {
    let (port, rest) = split_token(value).ok_or("expected \"<port> [IN IP4 <address>]\"")?;
    let port = parse_number::<u16>(port).ok_or("port is not a number 0-65535")?;
    let connection = if rest.is_empty() { None } else { Some(Connection::parse(rest)?) };
    Ok(Rtcp { port, connection })
}

fn single_token(value: &str, what: &'static str) -> Result<String, &'static str> {
    let mut tokens = value.split_ascii_whitespace();
    match (tokens.next(), tokens.next()) {
        (Some(t), None) => Ok(t.to_owned()),
        _ => Err(what),
    }
}

/// Attributes that only make sense inside a media section. Before the first `m=` line
/// they are an error.
fn media_level_only(name: &str) -> bool {
    matches!(
        name,
        "mid"
            | "msid"
            | "rtcp"
            | "rtcp-mux"
            | "rtcp-rsize"
            | "rtpmap"
            | "fmtp"
            | "rtcp-fb"
            | "ssrc"
            | "ssrc-group"
            | "rid"
            | "simulcast"
            | "sctp-port"
            | "max-message-size"
            | "candidate"
            | "bundle-only"
    )
}

/// Why an `a=` line was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttributeError {
    /// A known attribute with a malformed value.
    Invalid { attribute: &'static str, reason: &'static str },
    /// A media-level attribute at session level.
    Misplaced { attribute: &'static str },
    /// `a=` alone, or `a=:value`.
    EmptyName,
}

impl Attribute {
    /// Parses the text after `a=`. `session_level` is true before the first `m=` line.
    pub(crate) fn parse(text: &str, session_level: bool) -> Result<Attribute, AttributeError> {
        let (name, value) = match text.split_once(':') {
            Some((n, v)) => (n, Some(v)),
            None => (text, None),
        };
        if name.is_empty() {
            return Err(AttributeError::EmptyName);
        }
        let Some(static_name) = KNOWN.iter().copied().find(|known| *known == name) else {
            return Ok(Attribute::Other { name: name.to_owned(), value: value.map(str::to_owned) });
        };
        if session_level && media_level_only(static_name) {
            return Err(AttributeError::Misplaced { attribute: static_name });
        }
        Attribute::parse_known(static_name, value)
            .map_err(|reason| AttributeError::Invalid { attribute: static_name, reason })
    }

    fn parse_known(name: &'static str, value: Option<&str>) -> Result<Attribute, &'static str> {
        // Property attributes take no value.
        let property = |attribute: Attribute| match value {
            None => Ok(attribute),
            Some(_) => Err("this attribute takes no value"),
        };
        if let Some(direction) = Direction::from_token(name) {
            return property(Attribute::Direction(direction));
        }
        match name {
            "ice-lite" => return property(Attribute::IceLite),
            "extmap-allow-mixed" => return property(Attribute::ExtmapAllowMixed),
            "rtcp-mux" => return property(Attribute::RtcpMux),
            "rtcp-rsize" => return property(Attribute::RtcpRsize),
            "end-of-candidates" => return property(Attribute::EndOfCandidates),
            "bundle-only" => return property(Attribute::BundleOnly),
            _ => {}
        }
        let value = value.ok_or("missing value after ':'")?;
        Ok(match name {
            "group" => {
                let mut tokens = value.split_ascii_whitespace();
                let semantics =
                    tokens.next().ok_or("missing semantics (expected group:BUNDLE <mid>...)")?;
                Attribute::Group(Group {
                    semantics: semantics.to_owned(),
                    mids: tokens.map(str::to_owned).collect(),
                })
            }
            "msid-semantic" => {
                let mut tokens = value.split_ascii_whitespace();
                let semantic = tokens
                    .next()
                    .ok_or("missing semantic (expected msid-semantic: WMS [<id>...])")?;
                Attribute::MsidSemantic(MsidSemantic {
                    semantic: semantic.to_owned(),
                    identifiers: tokens.map(str::to_owned).collect(),
                })
            }
            "ice-ufrag" => Attribute::IceUfrag(single_token(value, "expected one ufrag token")?),
            "ice-pwd" => Attribute::IcePwd(single_token(value, "expected one password token")?),
            "ice-options" => {
                let options: Vec<String> =
                    value.split_ascii_whitespace().map(str::to_owned).collect();
                if options.is_empty() {
                    return Err("no option listed");
                }
                Attribute::IceOptions(options)
            }
            "fingerprint" => Attribute::Fingerprint(parse_fingerprint(value)?),
            "setup" => Attribute::Setup(match value.trim() {
                "actpass" => Setup::Actpass,
                "active" => Setup::Active,
                "passive" => Setup::Passive,
                "holdconn" => Setup::Holdconn,
                _ => return Err("unknown role (expected actpass, active, passive or holdconn)"),
            }),
            "mid" => Attribute::Mid(single_token(value, "expected one identification tag")?),
            "msid" => Attribute::Msid(Msid::parse(value)?),
            "rtcp" => Attribute::Rtcp(parse_rtcp(value)?),
            "rtpmap" => Attribute::Rtpmap(parse_rtpmap(value)?),
            "fmtp" => Attribute::Fmtp(parse_fmtp(value)?),
            "rtcp-fb" => Attribute::RtcpFb(parse_rtcp_fb(value)?),
            "extmap" => Attribute::Extmap(parse_extmap(value)?),
            "ssrc" => Attribute::Ssrc(parse_ssrc(value)?),
            "ssrc-group" => Attribute::SsrcGroup(parse_ssrc_group(value)?),
            "rid" => Attribute::Rid(Rid::parse_value(value)?),
            "simulcast" => Attribute::Simulcast(Simulcast::parse_value(value)?),
            "sctp-port" => Attribute::SctpPort(
                parse_number(value.trim()).ok_or("port is not a number 0-65535")?,
            ),
            "max-message-size" => Attribute::MaxMessageSize(
                parse_number(value.trim()).ok_or("size is not a non-negative number")?,
            ),
            "candidate" => Attribute::Candidate(Candidate::parse_value(value)?),
            // Every name in KNOWN is handled above.
            _ => return Err("unsupported attribute"),
        })
    }

    /// The attribute name as written in SDP.
    pub fn name(&self) -> &str {
        match self {
            Attribute::Group(_) => "group",
            Attribute::MsidSemantic(_) => "msid-semantic",
            Attribute::IceLite => "ice-lite",
            Attribute::IceUfrag(_) => "ice-ufrag",
            Attribute::IcePwd(_) => "ice-pwd",
            Attribute::IceOptions(_) => "ice-options",
            Attribute::Fingerprint(_) => "fingerprint",
            Attribute::Setup(_) => "setup",
            Attribute::ExtmapAllowMixed => "extmap-allow-mixed",
            Attribute::Mid(_) => "mid",
            Attribute::Msid(_) => "msid",
            Attribute::Direction(d) => d.as_str(),
            Attribute::RtcpMux => "rtcp-mux",
            Attribute::RtcpRsize => "rtcp-rsize",
            Attribute::Rtcp(_) => "rtcp",
            Attribute::Rtpmap(_) => "rtpmap",
            Attribute::Fmtp(_) => "fmtp",
            Attribute::RtcpFb(_) => "rtcp-fb",
            Attribute::Extmap(_) => "extmap",
            Attribute::Ssrc(_) => "ssrc",
            Attribute::SsrcGroup(_) => "ssrc-group",
            Attribute::Rid(_) => "rid",
            Attribute::Simulcast(_) => "simulcast",
            Attribute::SctpPort(_) => "sctp-port",
            Attribute::MaxMessageSize(_) => "max-message-size",
            Attribute::Candidate(_) => "candidate",
            Attribute::EndOfCandidates => "end-of-candidates",
            Attribute::BundleOnly => "bundle-only",
            Attribute::Other { name, .. } => name,
        }
    }

    /// Whether the attribute is only valid inside a media section.
    pub fn is_media_level_only(&self) -> bool {
        media_level_only(self.name())
    }
}

/// Names parsed into typed variants.
const KNOWN: &[&str] = &[
    "group",
    "msid-semantic",
    "ice-lite",
    "ice-ufrag",
    "ice-pwd",
    "ice-options",
    "fingerprint",
    "setup",
    "extmap-allow-mixed",
    "mid",
    "msid",
    "sendrecv",
    "sendonly",
    "recvonly",
    "inactive",
    "rtcp-mux",
    "rtcp-rsize",
    "rtcp",
    "rtpmap",
    "fmtp",
    "rtcp-fb",
    "extmap",
    "ssrc",
    "ssrc-group",
    "rid",
    "simulcast",
    "sctp-port",
    "max-message-size",
    "candidate",
    "end-of-candidates",
    "bundle-only",
];

impl fmt::Display for Attribute {
    /// Writes the attribute without the `a=` prefix and without a line ending.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attribute::Group(g) => {
                write!(f, "group:{}", g.semantics)?;
                for mid in &g.mids {
                    write!(f, " {mid}")?;
                }
                Ok(())
            }
            Attribute::MsidSemantic(m) => {
                write!(f, "msid-semantic: {}", m.semantic)?;
                for id in &m.identifiers {
                    write!(f, " {id}")?;
                }
                Ok(())
            }
            Attribute::IceUfrag(u) => write!(f, "ice-ufrag:{u}"),
            Attribute::IcePwd(p) => write!(f, "ice-pwd:{p}"),
            Attribute::IceOptions(options) => write!(f, "ice-options:{}", options.join(" ")),
            Attribute::Fingerprint(fp) => write!(f, "fingerprint:{} {}", fp.algorithm, fp.hex()),
            Attribute::Setup(s) => write!(f, "setup:{s}"),
            Attribute::Mid(m) => write!(f, "mid:{m}"),
            Attribute::Msid(m) => write!(f, "msid:{m}"),
            Attribute::Rtcp(r) => {
                write!(f, "rtcp:{}", r.port)?;
                if let Some(c) = &r.connection {
                    write!(f, " {c}")?;
                }
                Ok(())
            }
            Attribute::Rtpmap(r) => {
                write!(f, "rtpmap:{} {}/{}", r.payload_type, r.encoding_name, r.clock_rate)?;
                if let Some(c) = r.channels {
                    write!(f, "/{c}")?;
                }
                Ok(())
            }
            Attribute::Fmtp(p) if p.parameters.is_empty() => write!(f, "fmtp:{}", p.payload_type),
            Attribute::Fmtp(p) => write!(f, "fmtp:{} {}", p.payload_type, p.parameters),
            Attribute::RtcpFb(fb) => match fb.payload_type {
                Some(pt) => write!(f, "rtcp-fb:{pt} {}", fb.feedback),
                None => write!(f, "rtcp-fb:* {}", fb.feedback),
            },
            Attribute::Extmap(e) => {
                write!(f, "extmap:{}", e.id)?;
                if let Some(d) = e.direction {
                    write!(f, "/{d}")?;
                }
                write!(f, " {}", e.uri)?;
                if let Some(a) = &e.attributes {
                    write!(f, " {a}")?;
                }
                Ok(())
            }
            Attribute::Ssrc(s) => {
                write!(f, "ssrc:{} {}", s.ssrc, s.attribute)?;
                if let Some(v) = &s.value {
                    write!(f, ":{v}")?;
                }
                Ok(())
            }
            Attribute::SsrcGroup(g) => {
                write!(f, "ssrc-group:{}", g.semantics)?;
                for ssrc in &g.ssrcs {
                    write!(f, " {ssrc}")?;
                }
                Ok(())
            }
            Attribute::Rid(r) => write!(f, "rid:{r}"),
            Attribute::Simulcast(s) => write!(f, "simulcast:{s}"),
            Attribute::SctpPort(p) => write!(f, "sctp-port:{p}"),
            Attribute::MaxMessageSize(s) => write!(f, "max-message-size:{s}"),
            Attribute::Candidate(c) => write!(f, "{c}"),
            Attribute::Other { name, value: Some(v) } => write!(f, "{name}:{v}"),
            Attribute::IceLite
            | Attribute::ExtmapAllowMixed
            | Attribute::Direction(_)
            | Attribute::RtcpMux
            | Attribute::RtcpRsize
            | Attribute::EndOfCandidates
            | Attribute::BundleOnly
            | Attribute::Other { value: None, .. } => f.write_str(self.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Attribute {
        Attribute::parse(text, false).expect(text)
    }

    fn invalid(text: &str) -> &'static str {
        match Attribute::parse(text, false) {
            Err(AttributeError::Invalid { reason, .. }) => reason,
            other => panic!("{text}: expected an invalid attribute, got {other:?}"),
        }
    }

    #[test]
    fn rtpmap_with_and_without_channels() {
        assert_eq!(
            parse("rtpmap:111 opus/48000/2"),
            Attribute::Rtpmap(Rtpmap {
                payload_type: 111,
                encoding_name: "opus".into(),
                clock_rate: 48000,
                channels: Some(2)
            })
        );
        let Attribute::Rtpmap(vp8) = parse("rtpmap:96 VP8/90000") else { panic!() };
        assert_eq!((vp8.payload_type, vp8.encoding_name.as_str(), vp8.channels), (96, "VP8", None));
        assert_eq!(invalid("rtpmap:abc VP8/90000"), "payload type is not a number 0-127");
        assert_eq!(invalid("rtpmap:128 VP8/90000"), "payload type is not a number 0-127");
        assert_eq!(
            invalid("rtpmap:96 VP8"),
            "clock rate is missing or not a number (expected <name>/<clock>)"
        );
        assert_eq!(
            invalid("rtpmap:96 VP8/x"),
            "clock rate is missing or not a number (expected <name>/<clock>)"
        );
        assert_eq!(
            invalid("rtpmap:96 opus/48000/two"),
            "encoding parameters are not a channel count"
        );
    }

    #[test]
    fn fmtp_parameters() {
        let Attribute::Fmtp(fmtp) = parse(
            "fmtp:103 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
        ) else {
            panic!()
        };
        assert_eq!(fmtp.get("packetization-mode"), Some("1"));
        assert_eq!(fmtp.get("PROFILE-LEVEL-ID"), Some("42001f"));
        assert_eq!(fmtp.get("apt"), None);
        let Attribute::Fmtp(dtmf) = parse("fmtp:101 0-15") else { panic!() };
        assert_eq!(dtmf.params().collect::<Vec<_>>(), vec![("0-15", None)]);
        let Attribute::Fmtp(empty) = parse("fmtp:96") else { panic!() };
        assert_eq!(empty.parameters, "");
        assert_eq!(Attribute::Fmtp(empty).to_string(), "fmtp:96");
    }

    #[test]
    fn rtcp_fb_with_wildcard_and_parameter() {
        let Attribute::RtcpFb(fb) = parse("rtcp-fb:96 nack pli") else { panic!() };
        assert_eq!(fb.payload_type, Some(96));
        assert_eq!(fb.feedback, RtcpFeedback::new("nack", Some("pli")));
        let Attribute::RtcpFb(any) = parse("rtcp-fb:* transport-cc") else { panic!() };
        assert_eq!(any.payload_type, None);
        assert_eq!(Attribute::RtcpFb(any).to_string(), "rtcp-fb:* transport-cc");
        assert_eq!(invalid("rtcp-fb:96"), "missing feedback type");
    }

    #[test]
    fn extmap_with_direction_and_attributes() {
        let Attribute::Extmap(e) =
            parse("extmap:6/recvonly http://www.webrtc.org/experiments/rtp-hdrext/playout-delay")
        else {
            panic!()
        };
        assert_eq!((e.id, e.direction), (6, Some(Direction::RecvOnly)));
        let Attribute::Extmap(e) = parse("extmap:4096 urn:x:y some attrs") else { panic!() };
        assert_eq!(e.attributes.as_deref(), Some("some attrs"));
        assert_eq!(invalid("extmap:0 urn:x"), "id is outside 1-255 and 4096-4351 (RFC 8285 §5)");
        assert_eq!(invalid("extmap:256 urn:x"), "id is outside 1-255 and 4096-4351 (RFC 8285 §5)");
        assert_eq!(invalid("extmap:1/sideways urn:x"), "unknown direction after the id");
        assert_eq!(invalid("extmap:1"), "missing extension URI");
    }

    #[test]
    fn fingerprint_hex() {
        let Attribute::Fingerprint(fp) = parse("fingerprint:sha-256 0A:ff:10") else { panic!() };
        assert_eq!(fp.value, vec![0x0a, 0xff, 0x10]);
        assert_eq!(Attribute::Fingerprint(fp).to_string(), "fingerprint:sha-256 0A:FF:10");
        assert!(invalid("fingerprint:sha-256 0A:F").contains("hex"));
        assert!(invalid("fingerprint:sha-256 0A:FG").contains("hex"));
        assert!(invalid("fingerprint:sha-256 0A::FF").contains("hex"));
        assert!(invalid("fingerprint:sha-256 é1:FF").contains("hex"));
        assert!(invalid("fingerprint:sha-256").contains("expected"));
    }

    #[test]
    fn ssrc_and_groups() {
        let Attribute::Ssrc(s) = parse("ssrc:3735928559 msid:stream-a track-b") else { panic!() };
        assert_eq!(s.ssrc, 0xdead_beef);
        assert_eq!((s.attribute.as_str(), s.value.as_deref()), ("msid", Some("stream-a track-b")));
        let Attribute::SsrcGroup(g) = parse("ssrc-group:FID 1 2") else { panic!() };
        assert_eq!((g.semantics.as_str(), g.ssrcs.as_slice()), ("FID", &[1, 2][..]));
        assert_eq!(invalid("ssrc:4294967296 cname:x"), "ssrc is not a 32-bit number");
        assert_eq!(invalid("ssrc-group:FID"), "the group lists no ssrc");
    }

    #[test]
    fn session_and_misc_attributes() {
        assert_eq!(
            parse("group:BUNDLE 0 1 2"),
            Attribute::Group(Group {
                semantics: "BUNDLE".into(),
                mids: vec!["0".into(), "1".into(), "2".into()]
            })
        );
        assert_eq!(
            parse("msid-semantic: WMS"),
            Attribute::MsidSemantic(MsidSemantic { semantic: "WMS".into(), identifiers: vec![] })
        );
        assert_eq!(
            parse("ice-options:trickle renomination"),
            Attribute::IceOptions(vec!["trickle".into(), "renomination".into()])
        );
        assert_eq!(parse("setup:actpass"), Attribute::Setup(Setup::Actpass));
        assert_eq!(parse("sendonly"), Attribute::Direction(Direction::SendOnly));
        assert_eq!(parse("sctp-port:5000"), Attribute::SctpPort(5000));
        assert_eq!(parse("max-message-size:262144"), Attribute::MaxMessageSize(262_144));
        assert_eq!(parse("rtcp:9 IN IP4 0.0.0.0").to_string(), "rtcp:9 IN IP4 0.0.0.0");
        assert_eq!(
            invalid("setup:both"),
            "unknown role (expected actpass, active, passive or holdconn)"
        );
        assert_eq!(invalid("rtcp-mux:yes"), "this attribute takes no value");
        assert_eq!(invalid("mid"), "missing value after ':'");
        assert_eq!(invalid("mid:a b"), "expected one identification tag");
        assert_eq!(invalid("sctp-port:-1"), "port is not a number 0-65535");
    }

    #[test]
    fn unknown_attributes_are_kept_verbatim() {
        let a = parse("x-google-flag:conference");
        assert_eq!(
            a,
            Attribute::Other { name: "x-google-flag".into(), value: Some("conference".into()) }
        );
        assert_eq!(a.to_string(), "x-google-flag:conference");
        assert_eq!(parse("rtcp-mux-only").to_string(), "rtcp-mux-only");
        assert_eq!(parse("ptime:20:30").to_string(), "ptime:20:30");
        assert_eq!(Attribute::parse("", false), Err(AttributeError::EmptyName));
        assert_eq!(Attribute::parse(":x", false), Err(AttributeError::EmptyName));
    }

    #[test]
    fn media_level_attributes_are_refused_at_session_level() {
        assert_eq!(
            Attribute::parse("rtpmap:96 VP8/90000", true),
            Err(AttributeError::Misplaced { attribute: "rtpmap" })
        );
        assert!(Attribute::parse("extmap:1 urn:x", true).is_ok());
        assert!(Attribute::parse("ice-ufrag:abcd", true).is_ok());
    }

    #[test]
    fn direction_algebra() {
        use Direction::*;
        assert_eq!(SendOnly.reverse(), RecvOnly);
        assert_eq!(SendRecv.reverse(), SendRecv);
        assert_eq!(RecvOnly.answer_to(SendOnly), RecvOnly);
        assert_eq!(RecvOnly.answer_to(SendRecv), RecvOnly);
        assert_eq!(SendOnly.answer_to(RecvOnly), SendOnly);
        assert_eq!(SendRecv.answer_to(SendOnly), RecvOnly);
        assert_eq!(RecvOnly.answer_to(RecvOnly), Inactive);
        assert_eq!(SendRecv.answer_to(Inactive), Inactive);
    }
}
