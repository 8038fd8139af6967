//! Malformed SDP never panics, and a bad line is an error naming the line.
//!
//! Whatever the parser accepts also round-trips and can be answered without a panic.

use proptest::collection::vec;
use proptest::prelude::*;

use sfu::sdp::{
    create_answer, AnswerOptions, Fingerprint, LocalParameters, SdpError, SessionDescription,
};

fn fixtures() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut all: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("fixtures directory")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "sdp"))
        .map(|path| (path.display().to_string(), std::fs::read_to_string(&path).expect("readable")))
        .collect();
    all.sort();
    assert!(all.len() >= 7, "fixtures are missing");
    all
}

fn local() -> LocalParameters {
    LocalParameters::new(
        1,
        "sfuA",
        "Vs3cr3tVs3cr3tVs3cr3tV",
        Fingerprint::sha256([9; 32]),
        vec!["192.0.2.1:443".parse().unwrap(), "[2001:db8::1]:443".parse().unwrap()],
    )
}

/// Parses; whatever is accepted must round-trip and be answerable (an answer or an error).
fn exercise(text: &str) -> Result<SessionDescription, SdpError> {
    let parsed = SessionDescription::parse(text)?;
    let written = parsed.to_string();
    assert_eq!(
        SessionDescription::parse(&written).as_ref(),
        Ok(&parsed),
        "accepted input round-trips:\n{text}"
    );
    if let Ok(answer) = create_answer(&parsed, &local(), &AnswerOptions::default()) {
        assert_eq!(SessionDescription::parse(&answer.to_string()), Ok(answer));
    }
    Ok(parsed)
}

#[test]
fn truncated_at_every_line() {
    for (name, text) in fixtures() {
        let lines: Vec<&str> = text.lines().collect();
        for keep in 0..=lines.len() {
            let prefix = lines[..keep].join("\r\n");
            let result = exercise(&prefix);
            match keep {
                0 => assert_eq!(result, Err(SdpError::Empty), "{name}"),
                // v=, o=, s= but no t= yet.
                1..=3 => {
                    let error = result.expect_err(&name);
                    assert!(
                        matches!(error, SdpError::MissingLine { .. }),
                        "{name} {keep}: {error}"
                    );
                    assert_eq!(error.line(), Some(keep), "{name}");
                }
                // Every line of a fixture is valid on its own, so every longer prefix parses.
                _ => assert!(result.is_ok(), "{name} cut after {keep} lines: {result:?}"),
            }
        }
    }
}

#[test]
fn truncated_at_every_byte() {
    for (name, text) in fixtures() {
        for end in 0..=text.len() {
            let Some(prefix) = text.get(..end) else { continue };
            // Ok or Err, but no panic. (Round trips and answers of accepted inputs are
            // exercised on the line-level cuts and by the `Cut` mutation below.)
            let result = SessionDescription::parse(prefix);
            if let Err(error) = result {
                assert!(error.line().is_some_and(|l| l >= 1), "{name} cut at byte {end}: {error}");
            }
        }
        assert!(exercise(&text).is_ok(), "{name}");
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    Replace(usize, String),
    Insert(usize, String),
    /// Replaces one character of a line.
    Poke(usize, usize, char),
    /// Cuts a line short.
    Cut(usize, usize),
    /// Replaces one space-separated token of a line.
    Token(usize, usize, String),
}

fn junk() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,40}",
        "[a-z]=[ -~]{0,30}",
        "a=[a-z-]{1,20}(:[ -~]{0,30})?",
        "m=(audio|video|application) [0-9a-z]{0,6} [A-Z/]{0,20}( [0-9a-z-]{0,4}){0,4}",
        "a=(rtpmap|fmtp|rtcp-fb|extmap|ssrc|ssrc-group|rid|simulcast|candidate|fingerprint|setup|mid|msid|group|sctp-port|max-message-size):[ -~]{0,40}",
        "\\PC{0,20}",
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let line = 0usize..200;
    prop_oneof![
        line.clone().prop_map(Mutation::Delete),
        line.clone().prop_map(Mutation::Duplicate),
        (line.clone(), line.clone()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        (line.clone(), junk()).prop_map(|(i, s)| Mutation::Replace(i, s)),
        (line.clone(), junk()).prop_map(|(i, s)| Mutation::Insert(i, s)),
        (line.clone(), 0usize..120, any::<char>()).prop_map(|(i, at, c)| Mutation::Poke(i, at, c)),
        (line.clone(), 0usize..120).prop_map(|(i, at)| Mutation::Cut(i, at)),
        (line, 0usize..12, prop_oneof!["[ -~]{0,8}", Just(String::new()), "-?[0-9]{1,25}"])
            .prop_map(|(i, t, s)| Mutation::Token(i, t, s)),
    ]
}

fn apply(lines: &mut Vec<String>, m: &Mutation) {
    let n = lines.len().max(1);
    match m {
        Mutation::Delete(i) => {
            if !lines.is_empty() {
                lines.remove(i % n);
            }
        }
        Mutation::Duplicate(i) => {
            if let Some(line) = lines.get(i % n).cloned() {
                lines.insert(i % n, line);
            }
        }
        Mutation::Swap(a, b) => {
            if !lines.is_empty() {
                lines.swap(a % n, b % n);
            }
        }
        Mutation::Replace(i, s) => {
            if let Some(line) = lines.get_mut(i % n) {
                *line = s.clone();
            }
        }
        Mutation::Insert(i, s) => lines.insert((i % (lines.len() + 1)).min(lines.len()), s.clone()),
        Mutation::Poke(i, at, c) => {
            if let Some(line) = lines.get_mut(i % n) {
                let mut chars: Vec<char> = line.chars().collect();
                if !chars.is_empty() {
                    let at = at % chars.len();
                    chars[at] = *c;
                }
                *line = chars.into_iter().collect();
            }
        }
        Mutation::Cut(i, at) => {
            if let Some(line) = lines.get_mut(i % n) {
                *line = line.chars().take(*at).collect();
            }
        }
        Mutation::Token(i, t, s) => {
            if let Some(line) = lines.get_mut(i % n) {
                let mut tokens: Vec<String> = line.split(' ').map(str::to_owned).collect();
                let at = t % tokens.len();
                tokens[at] = s.clone();
                *line = tokens.join(" ");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn random_line_mutations_never_panic(
        which in 0usize..7,
        mutations in vec(mutation(), 1..6),
        lf in any::<bool>(),
    ) {
        let all = fixtures();
        let (_, text) = &all[which % all.len()];
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        for m in &mutations {
            apply(&mut lines, m);
        }
        let mutated = lines.join(if lf { "\n" } else { "\r\n" });
        match exercise(&mutated) {
            Ok(_) => {}
            Err(error) => {
                // Every error names a line inside the input, and says something.
                let line = error.line().expect("whole-description errors carry a line");
                let count = mutated.split('\n').count();
                prop_assert!(line >= 1 && line <= count, "{error} for {count} lines");
                let prefix = format!("line {line}: ");
                prop_assert!(error.to_string().starts_with(&prefix), "{}", error);
            }
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        let _ = exercise(&text);
    }

    #[test]
    fn arbitrary_lines_after_a_valid_header_never_panic(lines in vec(junk(), 0..30)) {
        let text = format!("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n{}", lines.join("\r\n"));
        let _ = exercise(&text);
    }
}

// ---- specific bad inputs: the error names the line --------------------------------------

const HEADER: &str = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n";

fn error_for(body: &str) -> SdpError {
    SessionDescription::parse(&format!("{HEADER}{body}")).expect_err(body)
}

fn message(body: &str) -> String {
    error_for(body).to_string()
}

#[test]
fn missing_version_line() {
    let error =
        SessionDescription::parse("o=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n").unwrap_err();
    assert_eq!(error.to_string(), "line 1: a session description must start with \"v=0\"");
    let error = SessionDescription::parse("\r\n\r\nv=1\r\n").unwrap_err();
    assert_eq!(error.line(), Some(3));
    assert_eq!(
        SessionDescription::parse("").unwrap_err().to_string(),
        "line 1: the session description is empty (an SDP starts with \"v=0\")"
    );
}

#[test]
fn missing_mandatory_lines() {
    let e =
        SessionDescription::parse("v=0\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n").unwrap_err();
    assert_eq!(e, SdpError::MissingLine { line: 4, kind: 'o' });
    assert_eq!(
        e.to_string(),
        "line 4: the session section ends here without the mandatory \"o=\" line"
    );
    let e = SessionDescription::parse("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\nt=0 0\r\n").unwrap_err();
    assert_eq!(e, SdpError::MissingLine { line: 3, kind: 's' });
}

#[test]
fn bad_m_lines() {
    assert_eq!(
        message("m=video abc UDP/TLS/RTP/SAVPF 96\r\n"),
        "line 5: m= line port is not a number 0-65535"
    );
    assert_eq!(
        message(
            "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 vp8\r\n"
        ),
        "line 7: m= line lists a payload type that is not a number 0-127"
    );
    assert_eq!(
        message("m=video 9\r\n"),
        "line 5: m= line must be \"m=<media> <port>[/<count>] <proto> <fmt> ...\""
    );
    assert_eq!(
        message("m=video -1 RTP/AVP 96\r\n"),
        "line 5: m= line port is not a number 0-65535"
    );
    assert_eq!(
        message("m=video 9 RTP/AVP 128\r\n"),
        "line 5: m= line lists a payload type that is not a number 0-127"
    );
}

#[test]
fn media_attributes_before_any_m_line() {
    for (line, attribute) in [
        ("a=rtpmap:96 VP8/90000", "rtpmap"),
        ("a=mid:0", "mid"),
        ("a=candidate:1 1 udp 1 10.0.0.1 9 typ host", "candidate"),
        ("a=ssrc:1 cname:x", "ssrc"),
        ("a=rid:q send", "rid"),
        ("a=sctp-port:5000", "sctp-port"),
        ("a=rtcp-mux", "rtcp-mux"),
    ] {
        let error = error_for(&format!("a=ice-lite\r\n{line}\r\n"));
        assert_eq!(error, SdpError::MisplacedAttribute { line: 6, attribute });
        assert!(error.to_string().starts_with("line 6: a="), "{error}");
    }
}

#[test]
fn malformed_known_attributes_name_line_and_attribute() {
    let m = "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n";
    let cases = [
        ("a=rtpmap:x VP8/90000", "line 6: invalid a=rtpmap: payload type is not a number 0-127"),
        ("a=rtpmap:96 VP8/ninety", "line 6: invalid a=rtpmap: clock rate is missing or not a number (expected <name>/<clock>)"),
        ("a=fmtp:abc apt=96", "line 6: invalid a=fmtp: payload type is not a number 0-127"),
        ("a=rtcp-fb:96", "line 6: invalid a=rtcp-fb: missing feedback type"),
        ("a=extmap:0 urn:x", "line 6: invalid a=extmap: id is outside 1-255 and 4096-4351 (RFC 8285 §5)"),
        ("a=ssrc:abc cname:x", "line 6: invalid a=ssrc: ssrc is not a 32-bit number"),
        ("a=ssrc-group:FID 1 x", "line 6: invalid a=ssrc-group: ssrc is not a 32-bit number"),
        ("a=fingerprint:sha-256 XY:00", "line 6: invalid a=fingerprint: the fingerprint is not colon-separated two-digit hex bytes"),
        ("a=setup:sometimes", "line 6: invalid a=setup: unknown role (expected actpass, active, passive or holdconn)"),
        ("a=rid:q both", "line 6: invalid a=rid: direction is not send or recv"),
        ("a=simulcast:send", "line 6: invalid a=simulcast: expected \"send <rid>;<rid>...\" and/or \"recv <rid>;<rid>...\""),
        ("a=sctp-port:port", "line 6: invalid a=sctp-port: port is not a number 0-65535"),
        ("a=max-message-size:-5", "line 6: invalid a=max-message-size: size is not a non-negative number"),
        ("a=candidate:1 1 udp 1 10.0.0.1 9 typ", "line 6: invalid a=candidate: expected \"<foundation> <component> <transport> <priority> <address> <port> typ <type> ...\""),
        ("a=candidate:1 1 udp high 10.0.0.1 9 typ host", "line 6: invalid a=candidate: priority is not a 32-bit number"),
        ("a=msid:a b c", "line 6: invalid a=msid: more than two ids (expected msid:<stream> [<track>])"),
        ("a=ice-ufrag:", "line 6: invalid a=ice-ufrag: expected one ufrag token"),
        ("a=sendonly:now", "line 6: invalid a=sendonly: this attribute takes no value"),
        ("a=group", "line 6: invalid a=group: missing value after ':'"),
    ];
    for (line, expected) in cases {
        assert_eq!(message(&format!("{m}{line}\r\n")), expected, "{line}");
    }
}

#[test]
fn malformed_lines() {
    assert_eq!(message("hello\r\n"), "line 5: expected a line of the form \"<letter>=<value>\"");
    assert_eq!(message("A=1\r\n"), "line 5: expected a line of the form \"<letter>=<value>\"");
    assert_eq!(message("=1\r\n"), "line 5: expected a line of the form \"<letter>=<value>\"");
    assert_eq!(
        message("x=1\r\n"),
        "line 5: unknown line type (RFC 8866 §5 defines v o s i u e p c b t r z k a m)"
    );
    assert_eq!(message("v=0\r\n"), "line 5: v= appears more than once");
    assert_eq!(message("c=IN IP4\r\n"), "line 5: connection data must be \"<nettype> <addrtype> <address>\", e.g. \"IN IP4 0.0.0.0\"");
    assert_eq!(
        message("m=audio 9 RTP/AVP 0\r\nt=0 0\r\n"),
        "line 6: this line type is only allowed before the first m= line"
    );
    assert_eq!(message("a=\r\n"), "line 5: a= line has no attribute name");
}

#[test]
fn unknown_attributes_are_never_fatal() {
    let body = "a=x-session-thing:1 2 3\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=rtcp-mux-only\r\n\
                a=ptime:20\r\na=maxptime:120\r\na=sctpmap:5000 webrtc-datachannel 1024\r\na=x-google-flag:conference\r\n\
                a=RTPMAP:96 not checked\r\n";
    let d = SessionDescription::parse(&format!("{HEADER}{body}")).unwrap();
    assert_eq!(d.media[0].other_attribute("ptime"), Some(Some("20")));
    assert_eq!(d.media[0].other_attribute("rtcp-mux-only"), Some(None));
    assert_eq!(d.media[0].other_attribute("RTPMAP"), Some(Some("96 not checked")));
    assert!(d.to_string().contains("\r\na=x-google-flag:conference\r\n"));
    assert!(d.to_string().contains("\r\na=x-session-thing:1 2 3\r\n"));
}
