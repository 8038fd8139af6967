//! RTP stream identifiers in SDP (`a=rid`, RFC 8851).

use std::fmt;

use super::attribute::parse_payload_type;

/// Direction of a rid (RFC 8851 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RidDirection {
    /// The stream is sent by the writer of the description.
    Send,
    /// The stream is received by the writer of the description.
    Recv,
}

impl RidDirection {
    /// The SDP token.
    pub fn as_str(self) -> &'static str {
        match self {
            RidDirection::Send => "send",
            RidDirection::Recv => "recv",
        }
    }

    /// The other direction.
    pub fn reverse(self) -> RidDirection {
        match self {
            RidDirection::Send => RidDirection::Recv,
            RidDirection::Recv => RidDirection::Send,
        }
    }
}

/// `a=rid:<id> <send|recv> [pt=<pt>,...;][<restriction>[=<value>];...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rid {
    /// The rid-id (`1*(ALPHA / DIGIT / "-" / "_")`).
    pub id: String,
    /// Direction.
    pub direction: RidDirection,
    /// Payload types the stream may use (`pt=`); empty means any negotiated one.
    pub payload_types: Vec<u8>,
    /// Restrictions in order (`max-width=1280`, `max-fps=30`, `depend=...`).
    pub restrictions: Vec<(String, Option<String>)>,
}

/// RFC 8851 §10: `rid-id = 1*(alpha-numeric / "-" / "_")`.
pub(crate) fn is_rid_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Rid {
    /// A rid with no payload type list and no restriction.
    pub fn new(id: impl Into<String>, direction: RidDirection) -> Rid {
        Rid { id: id.into(), direction, payload_types: Vec::new(), restrictions: Vec::new() }
    }

    /// The value of one restriction, e.g. `max-width`.
    pub fn restriction(&self, name: &str) -> Option<&str> {
        self.restrictions.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.as_deref())
    }

    pub(crate) fn parse_value(value: &str) -> Result<Rid, &'static str> {
        let mut tokens = value.split_ascii_whitespace();
        let id = tokens.next().ok_or("expected \"<rid-id> <send|recv> [<parameters>]\"")?;
        if !is_rid_id(id) {
            return Err("rid-id may hold only letters, digits, '-' and '_' (RFC 8851 §10)");
        }
        let direction = match tokens.next() {
            Some("send") => RidDirection::Send,
            Some("recv") => RidDirection::Recv,
            _ => return Err("direction is not send or recv"),
        };
        let mut rid = Rid::new(id, direction);
        if let Some(params) = tokens.next() {
            if tokens.next().is_some() {
                return Err("parameters must be one ';'-separated list without spaces");
            }
            for param in params.split(';') {
                let (name, value) = match param.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (param, None),
                };
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                {
                    return Err("a parameter name is empty or not alphanumeric");
                }
                if name == "pt" {
                    if !rid.payload_types.is_empty() {
                        return Err("pt= appears twice");
                    }
                    rid.payload_types = value
                        .ok_or("pt= has no payload type")?
                        .split(',')
                        .map(|pt| {
                            parse_payload_type(pt)
                                .ok_or("pt= lists a payload type that is not 0-127")
                        })
                        .collect::<Result<_, _>>()?;
                } else {
                    rid.restrictions.push((name.to_owned(), value.map(str::to_owned)));
                }
            }
        }
        Ok(rid)
    }
}

impl fmt::Display for Rid {
    /// Writes the value after `a=rid:`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.id, self.direction.as_str())?;
        let mut separator = " ";
        if !self.payload_types.is_empty() {
            f.write_str(" pt=")?;
            for (i, pt) in self.payload_types.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{pt}")?;
            }
            separator = ";";
        }
        for (name, value) in &self.restrictions {
            write!(f, "{separator}{name}")?;
            if let Some(v) = value {
                write!(f, "={v}")?;
            }
            separator = ";";
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rid_with_payload_types_and_restrictions() {
        // RFC 8851 §11.1 style.
        let rid =
            Rid::parse_value("1 send pt=97,98;max-width=1280;max-height=720;max-fps=30").unwrap();
        assert_eq!(rid.id, "1");
        assert_eq!(rid.direction, RidDirection::Send);
        assert_eq!(rid.payload_types, vec![97, 98]);
        assert_eq!(rid.restriction("max-width"), Some("1280"));
        assert_eq!(rid.restriction("max-fps"), Some("30"));
        assert_eq!(rid.to_string(), "1 send pt=97,98;max-width=1280;max-height=720;max-fps=30");
        let plain = Rid::parse_value("q recv").unwrap();
        assert_eq!(plain, Rid::new("q", RidDirection::Recv));
        assert_eq!(plain.to_string(), "q recv");
        let restricted = Rid::parse_value("hi_1 send max-br=64000;depend=lo").unwrap();
        assert!(restricted.payload_types.is_empty());
        assert_eq!(restricted.to_string(), "hi_1 send max-br=64000;depend=lo");
    }

    #[test]
    fn malformed_rids() {
        assert!(Rid::parse_value("").is_err());
        assert_eq!(Rid::parse_value("a sideways"), Err("direction is not send or recv"));
        assert!(Rid::parse_value("a.b send").is_err());
        assert_eq!(
            Rid::parse_value("a send pt=x"),
            Err("pt= lists a payload type that is not 0-127")
        );
        assert_eq!(Rid::parse_value("a send pt=96;pt=97"), Err("pt= appears twice"));
        assert!(Rid::parse_value("a send max-width=1;;").is_err());
        assert!(Rid::parse_value("a send pt=96 extra").is_err());
    }
}
