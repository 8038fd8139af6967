//! `a=simulcast` (RFC 8853 §5.1).

use std::fmt;

use super::rid::is_rid_id;

/// One rid named in a simulcast stream list, possibly paused (`~`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SimulcastRid {
    /// The rid-id.
    pub id: String,
    /// Whether the stream starts paused (`~` prefix).
    pub paused: bool,
}

/// One simulcast stream: a list of alternative rids (`1,2`), the first preferred.
pub type SimulcastStream = Vec<SimulcastRid>;

/// `a=simulcast:send <streams> recv <streams>`: streams are separated by `;`,
/// alternatives within a stream by `,`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Simulcast {
    /// Streams the writer of the description sends.
    pub send: Vec<SimulcastStream>,
    /// Streams the writer of the description receives.
    pub recv: Vec<SimulcastStream>,
}

fn parse_streams(list: &str) -> Result<Vec<SimulcastStream>, &'static str> {
    list.split(';')
        .map(|stream| {
            stream
                .split(',')
                .map(|alt| {
                    let (paused, id) = match alt.strip_prefix('~') {
                        Some(id) => (true, id),
                        None => (false, alt),
                    };
                    if is_rid_id(id) {
                        Ok(SimulcastRid { id: id.to_owned(), paused })
                    } else {
                        Err("a stream lists an empty or invalid rid-id (RFC 8853 §5.1)")
                    }
                })
                .collect()
        })
        .collect()
}

fn write_streams(f: &mut fmt::Formatter<'_>, streams: &[SimulcastStream]) -> fmt::Result {
    for (i, stream) in streams.iter().enumerate() {
        if i > 0 {
            f.write_str(";")?;
        }
        for (j, rid) in stream.iter().enumerate() {
            if j > 0 {
                f.write_str(",")?;
            }
            if rid.paused {
                f.write_str("~")?;
            }
            f.write_str(&rid.id)?;
        }
    }
    Ok(())
}

impl Simulcast {
    /// All rid-ids in the send list (every alternative), in order.
    pub fn send_rids(&self) -> impl Iterator<Item = &SimulcastRid> {
        self.send.iter().flatten()
    }

    /// All rid-ids in the receive list (every alternative), in order.
    pub fn recv_rids(&self) -> impl Iterator<Item = &SimulcastRid> {
        self.recv.iter().flatten()
    }

    pub(crate) fn parse_value(value: &str) -> Result<Simulcast, &'static str> {
        const SHAPE: &str = "expected \"send <rid>;<rid>...\" and/or \"recv <rid>;<rid>...\"";
        let mut simulcast = Simulcast::default();
        let mut tokens = value.split_ascii_whitespace();
        let mut seen = 0;
        while let Some(direction) = tokens.next() {
            let list = tokens.next().ok_or(SHAPE)?;
            let slot = match direction {
                "send" => &mut simulcast.send,
                "recv" => &mut simulcast.recv,
                _ => return Err(SHAPE),
            };
            if !slot.is_empty() {
                return Err("the same direction appears twice");
            }
            *slot = parse_streams(list)?;
            seen += 1;
        }
        if seen == 0 {
            return Err(SHAPE);
        }
        Ok(simulcast)
    }
}

impl fmt::Display for Simulcast {
    /// Writes the value after `a=simulcast:`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.send.is_empty() {
            f.write_str("send ")?;
            write_streams(f, &self.send)?;
        }
        if !self.recv.is_empty() {
            if !self.send.is_empty() {
                f.write_str(" ")?;
            }
            f.write_str("recv ")?;
            write_streams(f, &self.recv)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rid(id: &str, paused: bool) -> SimulcastRid {
        SimulcastRid { id: id.to_owned(), paused }
    }

    #[test]
    fn rfc_8853_examples() {
        // RFC 8853 §5.1: "a=simulcast:send 1,2,3;~4,~5 recv 6;~7,~8"
        let s = Simulcast::parse_value("send 1,2,3;~4,~5 recv 6;~7,~8").unwrap();
        assert_eq!(
            s.send,
            vec![
                vec![rid("1", false), rid("2", false), rid("3", false)],
                vec![rid("4", true), rid("5", true)]
            ]
        );
        assert_eq!(s.recv, vec![vec![rid("6", false)], vec![rid("7", true), rid("8", true)]]);
        assert_eq!(s.to_string(), "send 1,2,3;~4,~5 recv 6;~7,~8");
        // recv first is allowed; the writer puts send first.
        let r = Simulcast::parse_value("recv c send a;b").unwrap();
        assert_eq!(r.to_string(), "send a;b recv c");
        assert_eq!(r.send_rids().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn malformed_simulcast() {
        assert!(Simulcast::parse_value("").is_err());
        assert!(Simulcast::parse_value("send").is_err());
        assert!(Simulcast::parse_value("sideways a").is_err());
        assert_eq!(
            Simulcast::parse_value("send a send b"),
            Err("the same direction appears twice")
        );
        assert!(Simulcast::parse_value("send a;;b").is_err());
        assert!(Simulcast::parse_value("send ~").is_err());
        assert!(Simulcast::parse_value("send rid=a").is_err());
    }
}
