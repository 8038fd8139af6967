//! The session description (RFC 8866 §5): session-level lines, the parser of a whole
//! description and its writer.

use std::fmt;

use super::attribute::{
    parse_number, Attribute, AttributeError, Direction, Extmap, Fingerprint, Group, Setup,
};
use super::media::{MediaDescription, MediaKind};
use super::SdpError;

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>` (RFC 8866 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// User name, `-` when there is none.
    pub username: String,
    /// Session id (JSEP: random, at most 63 bits; Firefox uses the full 64).
    pub session_id: u64,
    /// Version, incremented by each new description of the session.
    pub session_version: u64,
    /// `IN`.
    pub network_type: String,
    /// `IP4` or `IP6`.
    pub address_type: String,
    /// Address of the originating host.
    pub address: String,
}

impl Origin {
    fn parse(value: &str) -> Result<Origin, &'static str> {
        const SHAPE: &str =
            "o= line must be \"o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>\"";
        let mut t = value.split_ascii_whitespace();
        let (
            Some(username),
            Some(id),
            Some(version),
            Some(nettype),
            Some(addrtype),
            Some(address),
            None,
        ) = (t.next(), t.next(), t.next(), t.next(), t.next(), t.next(), t.next())
        else {
            return Err(SHAPE);
        };
        Ok(Origin {
            username: username.to_owned(),
            session_id: parse_number(id)
                .ok_or("o= session id is not a number (at most 64 bits)")?,
            session_version: parse_number(version)
                .ok_or("o= session version is not a number (at most 64 bits)")?,
            network_type: nettype.to_owned(),
            address_type: addrtype.to_owned(),
            address: address.to_owned(),
        })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {}",
            self.username,
            self.session_id,
            self.session_version,
            self.network_type,
            self.address_type,
            self.address
        )
    }
}

/// `c=<nettype> <addrtype> <connection-address>` (RFC 8866 §5.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// `IN`.
    pub network_type: String,
    /// `IP4` or `IP6`.
    pub address_type: String,
    /// The address (multicast ones may carry `/ttl`).
    pub address: String,
}

impl Connection {
    /// `IN IP4 <addr>` or `IN IP6 <addr>`.
    pub fn new(ip: std::net::IpAddr) -> Connection {
        Connection {
            network_type: "IN".to_owned(),
            address_type: if ip.is_ipv4() { "IP4" } else { "IP6" }.to_owned(),
            address: ip.to_string(),
        }
    }

    pub(crate) fn parse(value: &str) -> Result<Connection, &'static str> {
        let mut t = value.split_ascii_whitespace();
        let (Some(nettype), Some(addrtype), Some(address), None) =
            (t.next(), t.next(), t.next(), t.next())
        else {
            return Err("connection data must be \"<nettype> <addrtype> <address>\", e.g. \"IN IP4 0.0.0.0\"");
        };
        Ok(Connection {
            network_type: nettype.to_owned(),
            address_type: addrtype.to_owned(),
            address: address.to_owned(),
        })
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.network_type, self.address_type, self.address)
    }
}

/// `b=<bwtype>:<bandwidth>` (RFC 8866 §5.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bandwidth {
    /// `AS`, `CT`, `TIAS`, ...
    pub bwtype: String,
    /// Value (kbit/s for AS and CT, bit/s for TIAS).
    pub bandwidth: u64,
}

impl Bandwidth {
    fn parse(value: &str) -> Result<Bandwidth, &'static str> {
        let (bwtype, bandwidth) =
            value.split_once(':').ok_or("b= line must be \"b=<bwtype>:<bandwidth>\"")?;
        if bwtype.is_empty() || bwtype.contains(|c: char| c.is_ascii_whitespace()) {
            return Err("b= line must be \"b=<bwtype>:<bandwidth>\"");
        }
        Ok(Bandwidth {
            bwtype: bwtype.to_owned(),
            bandwidth: parse_number(bandwidth).ok_or("b= bandwidth is not a number")?,
        })
    }
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.bwtype, self.bandwidth)
    }
}

/// `t=<start> <stop>` and its `r=` lines (RFC 8866 §5.9, §5.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// Start time (NTP seconds), 0 for unbounded.
    pub start: u64,
    /// Stop time (NTP seconds), 0 for unbounded.
    pub stop: u64,
    /// `r=` lines, verbatim.
    pub repeats: Vec<String>,
}

impl Timing {
    fn parse(value: &str) -> Result<Timing, &'static str> {
        let mut t = value.split_ascii_whitespace();
        let (Some(start), Some(stop), None) = (t.next(), t.next(), t.next()) else {
            return Err("t= line must be \"t=<start> <stop>\", e.g. \"t=0 0\"");
        };
        Ok(Timing {
            start: parse_number(start).ok_or("t= start time is not a number")?,
            stop: parse_number(stop).ok_or("t= stop time is not a number")?,
            repeats: Vec::new(),
        })
    }
}

/// ICE credentials of a transport (RFC 8839 §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IceCredentials<'a> {
    /// `a=ice-ufrag`.
    pub ufrag: &'a str,
    /// `a=ice-pwd`.
    pub pwd: &'a str,
}

/// A parsed session description.
///
/// The structure keeps every line: attributes stay in their order, unknown ones verbatim, so
/// writing it out and parsing again gives an equal value. It is owned (not a view borrowing
/// the text) because a description lives for a whole negotiation, not for one packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=`.
    pub origin: Origin,
    /// `s=`; an empty name is written `s= ` as RFC 8866 §5.3 allows.
    pub session_name: String,
    /// `i=`.
    pub information: Option<String>,
    /// `u=`.
    pub uri: Option<String>,
    /// `e=` lines.
    pub emails: Vec<String>,
    /// `p=` lines.
    pub phones: Vec<String>,
    /// Session-level `c=`.
    pub connection: Option<Connection>,
    /// Session-level `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// `t=` lines with their `r=` lines (at least one).
    pub timings: Vec<Timing>,
    /// `z=`, verbatim.
    pub time_zones: Option<String>,
    /// Session-level `k=` (obsolete, kept verbatim).
    pub encryption_key: Option<String>,
    /// Session-level attributes in order.
    pub attributes: Vec<Attribute>,
    /// Media sections in order.
    pub media: Vec<MediaDescription>,
}

/// Where a line is being read.
enum Section {
    Session,
    Media,
}

fn line_error(line: usize, reason: &'static str) -> SdpError {
    SdpError::Line { line, reason }
}

fn attribute_error(line: usize, error: AttributeError) -> SdpError {
    match error {
        AttributeError::Invalid { attribute, reason } => {
            SdpError::Attribute { line, attribute, reason }
        }
        AttributeError::Misplaced { attribute } => SdpError::MisplacedAttribute { line, attribute },
        AttributeError::EmptyName => line_error(line, "a= line has no attribute name"),
    }
}

fn set_once(
    slot: &mut Option<String>,
    value: &str,
    line: usize,
    reason: &'static str,
) -> Result<(), SdpError> {
    if slot.is_some() {
        return Err(line_error(line, reason));
    }
    *slot = Some(value.to_owned());
    Ok(())
}

impl SessionDescription {
    /// A description with the mandatory lines and nothing else: `o=- <id> <version> IN IP4
    /// 0.0.0.0`, `s=-`, `t=0 0`.
    pub fn new(session_id: u64, session_version: u64) -> SessionDescription {
        SessionDescription {
            origin: Origin {
                username: "-".to_owned(),
                session_id,
                session_version,
                network_type: "IN".to_owned(),
                address_type: "IP4".to_owned(),
                address: "0.0.0.0".to_owned(),
            },
            session_name: "-".to_owned(),
            information: None,
            uri: None,
            emails: Vec::new(),
            phones: Vec::new(),
            connection: None,
            bandwidths: Vec::new(),
            timings: vec![Timing { start: 0, stop: 0, repeats: Vec::new() }],
            time_zones: None,
            encryption_key: None,
            attributes: Vec::new(),
            media: Vec::new(),
        }
    }

    /// Parses a session description with CRLF or LF line endings.
    ///
    /// Line order within a section is not enforced (browsers keep RFC 8866's order, other
    /// writers do not always), but `v=0` must come first, `o=`, `s=` and `t=` must be
    /// present, and session-only lines may not follow an `m=` line. Known attributes are
    /// checked against their grammar (JSEP, RFC 8829 §5.8, rejects a description with a
    /// malformed line); unknown attributes are kept verbatim.
    pub fn parse(text: &str) -> Result<SessionDescription, SdpError> {
        let mut origin = None;
        let mut session_name = None;
        let mut description = SessionDescription::new(0, 0);
        description.timings.clear();
        let mut section = Section::Session;
        let mut saw_version = false;
        let mut last_line = 0;

        for (index, raw) in text.split('\n').enumerate() {
            let number = index + 1;
            let line = raw.trim_end_matches(['\r', ' ', '\t']);
            if line.is_empty() {
                continue;
            }
            last_line = number;
            let (kind, value) =
                match (line.as_bytes().first(), line.as_bytes().get(1), line.get(2..)) {
                    (Some(kind), Some(b'='), Some(value)) if kind.is_ascii_lowercase() => {
                        (*kind, value)
                    }
                    _ => {
                        return Err(line_error(
                            number,
                            "expected a line of the form \"<letter>=<value>\"",
                        ))
                    }
                };
            if !saw_version {
                if kind != b'v' || value != "0" {
                    return Err(line_error(
                        number,
                        "a session description must start with \"v=0\"",
                    ));
                }
                saw_version = true;
                continue;
            }
            if kind == b'm' {
                if let Section::Session = section {
                    check_mandatory(&origin, &session_name, &description, number)?;
                }
                section = Section::Media;
                let media =
                    MediaDescription::parse_media_line(value).map_err(|r| line_error(number, r))?;
                description.media.push(media);
                continue;
            }
            match section {
                Section::Session => parse_session_line(
                    &mut description,
                    &mut origin,
                    &mut session_name,
                    kind,
                    value,
                    number,
                )?,
                Section::Media => {
                    // The media section exists: it was pushed when its m= line was read.
                    let Some(media) = description.media.last_mut() else {
                        return Err(line_error(number, "line outside any media section"));
                    };
                    parse_media_line(media, kind, value, number)?;
                }
            }
        }

        if !saw_version {
            return Err(SdpError::Empty);
        }
        if let Section::Session = section {
            check_mandatory(&origin, &session_name, &description, last_line)?;
        }
        let (Some(origin), Some(session_name)) = (origin, session_name) else {
            // check_mandatory ran on every path that reaches here.
            return Err(SdpError::MissingLine { line: last_line, kind: 'o' });
        };
        description.origin = origin;
        description.session_name = session_name;
        Ok(description)
    }

    // ---- session-level accessors -------------------------------------------------------

    /// Session-level attributes with the given name.
    pub fn attributes_named<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Attribute> + 'a {
        self.attributes.iter().filter(move |a| a.name() == name)
    }

    /// All `a=group` lines.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.attributes.iter().filter_map(|a| match a {
            Attribute::Group(g) => Some(g),
            _ => None,
        })
    }

    /// The first `a=group:BUNDLE` (JSEP uses one).
    pub fn bundle_group(&self) -> Option<&Group> {
        self.groups().find(|g| g.is_bundle())
    }

    /// The BUNDLE group holding `mid`, if any.
    pub fn bundle_group_of(&self, mid: &str) -> Option<&Group> {
        self.groups().find(|g| g.is_bundle() && g.mids.iter().any(|m| m == mid))
    }

    /// Whether `a=ice-lite` is present.
    pub fn is_ice_lite(&self) -> bool {
        self.attributes.contains(&Attribute::IceLite)
    }

    /// Whether `a=extmap-allow-mixed` is present at session level.
    pub fn extmap_allow_mixed(&self) -> bool {
        self.attributes.contains(&Attribute::ExtmapAllowMixed)
    }

    /// The media section with this mid.
    pub fn media_by_mid(&self, mid: &str) -> Option<&MediaDescription> {
        self.media.iter().find(|m| m.mid() == Some(mid))
    }

    /// The m-section whose transport `media` uses: itself, or with BUNDLE the first
    /// (tagged) m-section of its group (RFC 8843 §7).
    fn bundle_tag_of<'a>(&'a self, media: &'a MediaDescription) -> Option<&'a MediaDescription> {
        let mid = media.mid()?;
        let group = self.bundle_group_of(mid)?;
        let tag = group.mids.first()?;
        self.media_by_mid(tag)
    }

    /// Looks for a transport attribute in the m-section, then in the BUNDLE-tagged
    /// m-section, then at session level.
    fn transport_lookup<'a, T>(
        &'a self,
        media: &'a MediaDescription,
        find: impl Fn(&'a [Attribute]) -> Option<T>,
    ) -> Option<T> {
        find(&media.attributes)
            .or_else(|| self.bundle_tag_of(media).and_then(|tag| find(&tag.attributes)))
            .or_else(|| find(&self.attributes))
    }

    /// ICE ufrag and password for `media`, falling back to the BUNDLE tag and the session.
    pub fn ice_credentials<'a>(
        &'a self,
        media: &'a MediaDescription,
    ) -> Option<IceCredentials<'a>> {
        let ufrag = self.transport_lookup(media, |attrs| {
            attrs.iter().find_map(|a| match a {
                Attribute::IceUfrag(u) => Some(u.as_str()),
                _ => None,
            })
        })?;
        let pwd = self.transport_lookup(media, |attrs| {
            attrs.iter().find_map(|a| match a {
                Attribute::IcePwd(p) => Some(p.as_str()),
                _ => None,
            })
        })?;
        Some(IceCredentials { ufrag, pwd })
    }

    /// ICE options for `media` (`trickle`, `ice2`, `renomination`), with the same fallback.
    pub fn ice_options<'a>(&'a self, media: &'a MediaDescription) -> Vec<&'a str> {
        self.transport_lookup(media, |attrs| {
            let options: Vec<&str> = attrs
                .iter()
                .filter_map(|a| match a {
                    Attribute::IceOptions(o) => Some(o.iter().map(String::as_str)),
                    _ => None,
                })
                .flatten()
                .collect();
            (!options.is_empty()).then_some(options)
        })
        .unwrap_or_default()
    }

    /// DTLS fingerprints for `media`, with the same fallback.
    pub fn fingerprints<'a>(&'a self, media: &'a MediaDescription) -> Vec<&'a Fingerprint> {
        self.transport_lookup(media, |attrs| {
            let found: Vec<&Fingerprint> = attrs
                .iter()
                .filter_map(|a| match a {
                    Attribute::Fingerprint(f) => Some(f),
                    _ => None,
                })
                .collect();
            (!found.is_empty()).then_some(found)
        })
        .unwrap_or_default()
    }

    /// DTLS setup role for `media`, with the same fallback.
    pub fn setup(&self, media: &MediaDescription) -> Option<Setup> {
        self.transport_lookup(media, |attrs| {
            attrs.iter().find_map(|a| match a {
                Attribute::Setup(s) => Some(*s),
                _ => None,
            })
        })
    }

    /// Direction of `media`: media level, else session level, else `sendrecv`
    /// (RFC 8866 §6.7).
    pub fn direction(&self, media: &MediaDescription) -> Direction {
        media
            .direction()
            .or_else(|| {
                self.attributes.iter().find_map(|a| match a {
                    Attribute::Direction(d) => Some(*d),
                    _ => None,
                })
            })
            .unwrap_or(Direction::SendRecv)
    }

    /// Header extensions of `media`: its own `a=extmap` lines, then session-level ones whose
    /// id it does not redefine (RFC 8285 §5).
    pub fn header_extensions<'a>(&'a self, media: &'a MediaDescription) -> Vec<&'a Extmap> {
        let mut all: Vec<&Extmap> = media.extmaps().collect();
        for a in &self.attributes {
            if let Attribute::Extmap(e) = a {
                if !all.iter().any(|m| m.id == e.id) {
                    all.push(e);
                }
            }
        }
        all
    }

    /// Whether `a=extmap-allow-mixed` applies to `media` (session or media level).
    pub fn extmap_allow_mixed_for(&self, media: &MediaDescription) -> bool {
        self.extmap_allow_mixed() || media.attributes.contains(&Attribute::ExtmapAllowMixed)
    }
}

fn check_mandatory(
    origin: &Option<Origin>,
    session_name: &Option<String>,
    description: &SessionDescription,
    line: usize,
) -> Result<(), SdpError> {
    if origin.is_none() {
        return Err(SdpError::MissingLine { line, kind: 'o' });
    }
    if session_name.is_none() {
        return Err(SdpError::MissingLine { line, kind: 's' });
    }
    if description.timings.is_empty() {
        return Err(SdpError::MissingLine { line, kind: 't' });
    }
    Ok(())
}

fn parse_session_line(
    d: &mut SessionDescription,
    origin: &mut Option<Origin>,
    session_name: &mut Option<String>,
    kind: u8,
    value: &str,
    line: usize,
) -> Result<(), SdpError> {
    match kind {
        b'v' => return Err(line_error(line, "v= appears more than once")),
        b'o' => {
            if origin.is_some() {
                return Err(line_error(line, "o= appears more than once"));
            }
            *origin = Some(Origin::parse(value).map_err(|r| line_error(line, r))?);
        }
        b's' => set_once(session_name, value, line, "s= appears more than once")?,
        b'i' => {
            set_once(&mut d.information, value, line, "session-level i= appears more than once")?
        }
        b'u' => set_once(&mut d.uri, value, line, "u= appears more than once")?,
        b'e' => d.emails.push(value.to_owned()),
        b'p' => d.phones.push(value.to_owned()),
        b'c' => {
            if d.connection.is_some() {
                return Err(line_error(line, "session-level c= appears more than once"));
            }
            d.connection = Some(Connection::parse(value).map_err(|r| line_error(line, r))?);
        }
        b'b' => d.bandwidths.push(Bandwidth::parse(value).map_err(|r| line_error(line, r))?),
        b't' => d.timings.push(Timing::parse(value).map_err(|r| line_error(line, r))?),
        b'r' => match d.timings.last_mut() {
            Some(t) => t.repeats.push(value.to_owned()),
            None => return Err(line_error(line, "r= must follow a t= line")),
        },
        b'z' => set_once(&mut d.time_zones, value, line, "z= appears more than once")?,
        b'k' => {
            set_once(&mut d.encryption_key, value, line, "session-level k= appears more than once")?
        }
        b'a' => {
            d.attributes.push(Attribute::parse(value, true).map_err(|e| attribute_error(line, e))?)
        }
        _ => {
            return Err(line_error(
                line,
                "unknown line type (RFC 8866 §5 defines v o s i u e p c b t r z k a m)",
            ))
        }
    }
    Ok(())
}

fn parse_media_line(
    m: &mut MediaDescription,
    kind: u8,
    value: &str,
    line: usize,
) -> Result<(), SdpError> {
    match kind {
        b'i' => set_once(&mut m.information, value, line, "media-level i= appears more than once")?,
        b'c' => m.connections.push(Connection::parse(value).map_err(|r| line_error(line, r))?),
        b'b' => m.bandwidths.push(Bandwidth::parse(value).map_err(|r| line_error(line, r))?),
        b'k' => {
            set_once(&mut m.encryption_key, value, line, "media-level k= appears more than once")?
        }
        b'a' => {
            m.attributes.push(Attribute::parse(value, false).map_err(|e| attribute_error(line, e))?)
        }
        b'v' | b'o' | b's' | b'u' | b'e' | b'p' | b't' | b'r' | b'z' => {
            return Err(line_error(line, "this line type is only allowed before the first m= line"))
        }
        _ => {
            return Err(line_error(
                line,
                "unknown line type (RFC 8866 §5 defines v o s i u e p c b t r z k a m)",
            ))
        }
    }
    Ok(())
}

struct Line<'a, T: fmt::Display>(char, &'a T);

impl<T: fmt::Display> fmt::Display for Line<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}\r\n", self.0, self.1)
    }
}

impl fmt::Display for SessionDescription {
    /// Writes the description in RFC 8866 §5 line order with CRLF line endings.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("v=0\r\n")?;
        write!(f, "{}", Line('o', &self.origin))?;
        if self.session_name.is_empty() {
            f.write_str("s= \r\n")?;
        } else {
            write!(f, "{}", Line('s', &self.session_name))?;
        }
        if let Some(i) = &self.information {
            write!(f, "{}", Line('i', i))?;
        }
        if let Some(u) = &self.uri {
            write!(f, "{}", Line('u', u))?;
        }
        for e in &self.emails {
            write!(f, "{}", Line('e', e))?;
        }
        for p in &self.phones {
            write!(f, "{}", Line('p', p))?;
        }
        if let Some(c) = &self.connection {
            write!(f, "{}", Line('c', c))?;
        }
        for b in &self.bandwidths {
            write!(f, "{}", Line('b', b))?;
        }
        for t in &self.timings {
            write!(f, "t={} {}\r\n", t.start, t.stop)?;
            for r in &t.repeats {
                write!(f, "{}", Line('r', r))?;
            }
        }
        if let Some(z) = &self.time_zones {
            write!(f, "{}", Line('z', z))?;
        }
        if let Some(k) = &self.encryption_key {
            write!(f, "{}", Line('k', k))?;
        }
        for a in &self.attributes {
            write!(f, "{}", Line('a', a))?;
        }
        for m in &self.media {
            write!(f, "{m}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for SessionDescription {
    type Err = SdpError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SessionDescription::parse(s)
    }
}

/// Writes one media section (used by [`MediaDescription`]'s `Display`).
pub(crate) fn write_media(m: &MediaDescription, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "m={} {}", m.kind, m.port)?;
    if let Some(count) = m.port_count {
        write!(f, "/{count}")?;
    }
    write!(f, " {}", m.protocol)?;
    for format in &m.formats {
        write!(f, " {format}")?;
    }
    f.write_str("\r\n")?;
    if let Some(i) = &m.information {
        write!(f, "{}", Line('i', i))?;
    }
    for c in &m.connections {
        write!(f, "{}", Line('c', c))?;
    }
    for b in &m.bandwidths {
        write!(f, "{}", Line('b', b))?;
    }
    if let Some(k) = &m.encryption_key {
        write!(f, "{}", Line('k', k))?;
    }
    for a in &m.attributes {
        write!(f, "{}", Line('a', a))?;
    }
    Ok(())
}

impl MediaKind {
    pub(crate) fn parse(token: &str) -> MediaKind {
        match token {
            "audio" => MediaKind::Audio,
            "video" => MediaKind::Video,
            "application" => MediaKind::Application,
            other => MediaKind::Other(other.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\n";

    #[test]
    fn minimal_description_with_lf_endings() {
        let d = SessionDescription::parse(MINIMAL).unwrap();
        assert_eq!(d.origin.session_id, 1);
        assert_eq!(d.origin.session_version, 2);
        assert_eq!(d.session_name, "-");
        assert!(d.media.is_empty());
        assert_eq!(d.to_string(), MINIMAL.replace('\n', "\r\n"));
    }

    #[test]
    fn all_session_line_types_round_trip() {
        let text = "v=0\r\no=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\r\ns=SDP Seminar\r\n\
            i=A Seminar\r\nu=http://www.example.com/seminars/sdp.pdf\r\ne=j.doe@example.com (Jane Doe)\r\n\
            p=+1 617 555-6011\r\nc=IN IP4 224.2.17.12/127\r\nb=CT:128\r\nt=2873397496 2873404696\r\n\
            r=604800 3600 0 90000\r\nz=2882844526 -1h\r\nk=prompt\r\na=recvonly\r\n\
            m=audio 49170 RTP/AVP 0\r\ni=voice\r\nc=IN IP4 224.2.17.12/127\r\nb=AS:64\r\nk=prompt\r\n\
            m=video 51372/2 RTP/AVP 99\r\na=rtpmap:99 h263-1998/90000\r\n";
        let d = SessionDescription::parse(text).unwrap();
        assert_eq!(d.to_string(), text);
        assert_eq!(d.timings[0].repeats, vec!["604800 3600 0 90000".to_owned()]);
        assert_eq!(d.media[1].port_count, Some(2));
        assert_eq!(d.direction(&d.media[0]), Direction::RecvOnly);
    }

    #[test]
    fn empty_session_name_is_written_with_a_space() {
        let d =
            SessionDescription::parse("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns= \r\nt=0 0\r\n").unwrap();
        assert_eq!(d.session_name, "");
        assert!(d.to_string().contains("\r\ns= \r\n"));
        assert_eq!(SessionDescription::parse(&d.to_string()).unwrap(), d);
    }

    fn error(text: &str) -> SdpError {
        SessionDescription::parse(text).unwrap_err()
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(error(""), SdpError::Empty);
        assert_eq!(error("\r\n\r\n"), SdpError::Empty);
        assert_eq!(error("o=- 1 1 IN IP4 0.0.0.0\r\n").line(), Some(1));
        assert_eq!(error("v=1\r\n").line(), Some(1));
        assert_eq!(error("v=0\r\nhello\r\n").line(), Some(2));
        assert_eq!(error("v=0\r\nX=1\r\n").line(), Some(2));
        assert_eq!(
            error("v=0\r\no=- x 1 IN IP4 0.0.0.0\r\n"),
            SdpError::Line { line: 2, reason: "o= session id is not a number (at most 64 bits)" }
        );
        assert_eq!(error("v=0\r\ns=-\r\nt=0 0\r\n"), SdpError::MissingLine { line: 3, kind: 'o' });
        assert_eq!(
            error("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nm=audio 9 RTP/AVP 0\r\n"),
            SdpError::MissingLine { line: 4, kind: 't' }
        );
        assert_eq!(
            error(
                "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\nt=0 0\r\n"
            )
            .line(),
            Some(6)
        );
        assert_eq!(
            error("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nr=1 2 3\r\nt=0 0\r\n").line(),
            Some(4)
        );
        assert_eq!(
            error("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=\r\n").line(),
            Some(5)
        );
        assert_eq!(
            error("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nc=IN IP4\r\n").line(),
            Some(5)
        );
        assert_eq!(
            error("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nb=AS\r\n").line(),
            Some(5)
        );
        assert_eq!(error("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=x 0\r\n").line(), Some(4));
    }

    #[test]
    fn error_messages_mention_the_line() {
        let e = error("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=mid:0\r\n");
        assert_eq!(e, SdpError::MisplacedAttribute { line: 5, attribute: "mid" });
        assert_eq!(
            e.to_string(),
            "line 5: a=mid is only allowed inside a media section (after an m= line)"
        );
    }
}
