//! parse → write → parse gives an equal description: for every fixture, and for arbitrary
//! descriptions generated from the typed model.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::strategy::Union;

use sfu::sdp::{
    Attribute, Bandwidth, Candidate, CandidateType, Connection, Direction, Extmap, Fingerprint,
    Fmtp, Group, MediaDescription, MediaKind, Msid, MsidSemantic, Origin, Rid, RidDirection, Rtcp,
    RtcpFb, RtcpFeedback, Rtpmap, SessionDescription, Setup, Simulcast, SimulcastRid,
    SsrcAttribute, SsrcGroup, TcpType, Timing,
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

#[test]
fn every_fixture_round_trips() {
    for (name, text) in fixtures() {
        let parsed = SessionDescription::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let written = parsed.to_string();
        let reparsed =
            SessionDescription::parse(&written).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(reparsed, parsed, "{name}");
        assert_eq!(reparsed.to_string(), written, "{name}: writing is stable");
        // Browsers write RFC 8866 order with CRLF, and so do we: the same text, line for line,
        // except that `a=msid-semantic:` is always written with Chrome's space.
        let normalize =
            |s: &str| s.replace("\r\n", "\n").replace("a=msid-semantic: ", "a=msid-semantic:");
        assert_eq!(normalize(&written), normalize(&text), "{name}");
    }
}

#[test]
fn lf_input_is_written_with_crlf() {
    for (name, text) in fixtures() {
        let lf = text.replace("\r\n", "\n");
        let written = SessionDescription::parse(&lf).unwrap().to_string();
        assert!(written.split("\r\n").all(|line| !line.contains('\n')), "{name}");
        assert_eq!(written.matches("\r\n").count(), lf.lines().count(), "{name}");
    }
}

// ---- generated descriptions ---------------------------------------------------------------

/// A token: no whitespace, no ':', ';' or ',' (those separate fields in some grammars).
fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9+/=_.{}#$%&*!~é€-]{1,12}"
}

/// Free text: may hold inner spaces, never leading or trailing whitespace.
fn text() -> impl Strategy<Value = String> {
    "([!-~é€]([ -~é€]{0,20}[!-~é€])?)?"
}

fn non_empty_text() -> impl Strategy<Value = String> {
    "[!-~é€]([ -~é€]{0,20}[!-~é€])?"
}

fn rid_id() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_-]{1,8}"
}

fn pt() -> impl Strategy<Value = u8> {
    0u8..=127
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![
        Just(Direction::SendRecv),
        Just(Direction::SendOnly),
        Just(Direction::RecvOnly),
        Just(Direction::Inactive)
    ]
}

fn connection() -> impl Strategy<Value = Connection> {
    (token(), token(), token()).prop_map(|(network_type, address_type, address)| Connection {
        network_type,
        address_type,
        address,
    })
}

fn bandwidth() -> impl Strategy<Value = Bandwidth> {
    (token(), any::<u64>()).prop_map(|(bwtype, bandwidth)| Bandwidth { bwtype, bandwidth })
}

fn candidate() -> impl Strategy<Value = Candidate> {
    let kind = prop_oneof![
        Just(CandidateType::Host),
        Just(CandidateType::ServerReflexive),
        Just(CandidateType::PeerReflexive),
        Just(CandidateType::Relayed),
        "x[a-z]{1,5}".prop_map(CandidateType::Other),
    ];
    let tcp =
        prop_oneof![Just(TcpType::Active), Just(TcpType::Passive), Just(TcpType::SimultaneousOpen)];
    (
        (token(), 1u16.., token(), any::<u32>(), token(), any::<u16>(), kind),
        (option::of(token()), option::of(any::<u16>()), option::of(tcp), option::of(any::<u32>())),
        (option::of(token()), option::of(any::<u32>()), option::of(any::<u32>())),
        vec(("x-[a-z]{1,6}", token()), 0..3),
    )
        .prop_map(
            |(
                (foundation, component, transport, priority, address, port, kind),
                (related_address, related_port, tcp_type, generation),
                (ufrag, network_id, network_cost),
                extensions,
            )| Candidate {
                foundation,
                component,
                transport,
                priority,
                address,
                port,
                kind,
                related_address,
                related_port,
                tcp_type,
                generation,
                ufrag,
                network_id,
                network_cost,
                extensions,
            },
        )
}

fn simulcast() -> impl Strategy<Value = Simulcast> {
    let streams = || {
        vec(
            vec(
                (rid_id(), any::<bool>()).prop_map(|(id, paused)| SimulcastRid { id, paused }),
                1..3,
            ),
            0..3,
        )
    };
    (streams(), streams())
        .prop_filter("one direction at least", |(send, recv)| !send.is_empty() || !recv.is_empty())
        .prop_map(|(send, recv)| Simulcast { send, recv })
}

fn rid() -> impl Strategy<Value = Rid> {
    let dir = prop_oneof![Just(RidDirection::Send), Just(RidDirection::Recv)];
    let restriction = ("[a-oq-z][a-z0-9-]{0,8}", option::of("[a-zA-Z0-9.=_-]{0,6}"));
    (rid_id(), dir, vec(pt(), 0..3), vec(restriction, 0..3)).prop_map(
        |(id, direction, payload_types, restrictions)| Rid {
            id,
            direction,
            payload_types,
            restrictions,
        },
    )
}

/// Attributes allowed at session level.
fn session_attribute() -> BoxedStrategy<Attribute> {
    Union::new(vec![
        (token(), vec(token(), 0..4))
            .prop_map(|(semantics, mids)| Attribute::Group(Group { semantics, mids }))
            .boxed(),
        (token(), vec(token(), 0..3))
            .prop_map(|(semantic, identifiers)| {
                Attribute::MsidSemantic(MsidSemantic { semantic, identifiers })
            })
            .boxed(),
        Just(Attribute::IceLite).boxed(),
        token().prop_map(Attribute::IceUfrag).boxed(),
        token().prop_map(Attribute::IcePwd).boxed(),
        vec(token(), 1..4).prop_map(Attribute::IceOptions).boxed(),
        (token(), vec(any::<u8>(), 1..40))
            .prop_map(|(algorithm, value)| Attribute::Fingerprint(Fingerprint { algorithm, value }))
            .boxed(),
        prop_oneof![
            Just(Setup::Actpass),
            Just(Setup::Active),
            Just(Setup::Passive),
            Just(Setup::Holdconn)
        ]
        .prop_map(Attribute::Setup)
        .boxed(),
        Just(Attribute::ExtmapAllowMixed).boxed(),
        direction().prop_map(Attribute::Direction).boxed(),
        (
            prop_oneof![1u16..=255, 4096u16..=4351],
            option::of(direction()),
            token(),
            option::of(non_empty_text()),
        )
            .prop_map(|(id, direction, uri, attributes)| {
                Attribute::Extmap(Extmap { id, direction, uri, attributes })
            })
            .boxed(),
        Just(Attribute::EndOfCandidates).boxed(),
        ("x-[a-z0-9-]{1,10}", option::of(text()))
            .prop_map(|(name, value)| Attribute::Other { name, value })
            .boxed(),
    ])
    .boxed()
}

/// Any attribute.
fn media_attribute() -> BoxedStrategy<Attribute> {
    Union::new(vec![
        session_attribute(),
        token().prop_map(Attribute::Mid).boxed(),
        (token(), option::of(token()))
            .prop_map(|(stream_id, track_id)| Attribute::Msid(Msid { stream_id, track_id }))
            .boxed(),
        Just(Attribute::RtcpMux).boxed(),
        Just(Attribute::RtcpRsize).boxed(),
        (any::<u16>(), option::of(connection()))
            .prop_map(|(port, connection)| Attribute::Rtcp(Rtcp { port, connection }))
            .boxed(),
        (pt(), "[a-zA-Z0-9-]{1,10}", any::<u32>(), option::of(any::<u16>()))
            .prop_map(|(payload_type, encoding_name, clock_rate, channels)| {
                Attribute::Rtpmap(Rtpmap { payload_type, encoding_name, clock_rate, channels })
            })
            .boxed(),
        (pt(), text())
            .prop_map(|(payload_type, parameters)| {
                Attribute::Fmtp(Fmtp { payload_type, parameters })
            })
            .boxed(),
        (option::of(pt()), token(), option::of(non_empty_text()))
            .prop_map(|(payload_type, kind, parameter)| {
                Attribute::RtcpFb(RtcpFb {
                    payload_type,
                    feedback: RtcpFeedback { kind, parameter },
                })
            })
            .boxed(),
        (any::<u32>(), token(), option::of(text()))
            .prop_map(|(ssrc, attribute, value)| {
                Attribute::Ssrc(SsrcAttribute { ssrc, attribute, value })
            })
            .boxed(),
        (token(), vec(any::<u32>(), 1..4))
            .prop_map(|(semantics, ssrcs)| Attribute::SsrcGroup(SsrcGroup { semantics, ssrcs }))
            .boxed(),
        rid().prop_map(Attribute::Rid).boxed(),
        simulcast().prop_map(Attribute::Simulcast).boxed(),
        any::<u16>().prop_map(Attribute::SctpPort).boxed(),
        any::<u64>().prop_map(Attribute::MaxMessageSize).boxed(),
        candidate().prop_map(Attribute::Candidate).boxed(),
        Just(Attribute::BundleOnly).boxed(),
    ])
    .boxed()
}

fn media() -> impl Strategy<Value = MediaDescription> {
    let kind = prop_oneof![
        Just(MediaKind::Audio),
        Just(MediaKind::Video),
        Just(MediaKind::Application),
        "x[a-z]{1,5}".prop_map(MediaKind::Other),
    ];
    let rtp = prop_oneof![Just("UDP/TLS/RTP/SAVPF"), Just("RTP/AVP"), Just("TCP/TLS/RTP/SAVPF")]
        .prop_flat_map(|proto| {
            (Just(proto.to_owned()), vec(pt().prop_map(|p| p.to_string()), 0..6))
        });
    let other =
        prop_oneof![Just("UDP/DTLS/SCTP"), Just("DTLS/SCTP"), Just("udp"), Just("TCP/MRCPv2")]
            .prop_flat_map(|proto| (Just(proto.to_owned()), vec(token(), 0..3)));
    (
        (kind, any::<u16>(), option::of(any::<u16>()), prop_oneof![rtp, other]),
        (option::of(text()), vec(connection(), 0..2), vec(bandwidth(), 0..2), option::of(text())),
        vec(media_attribute(), 0..12),
    )
        .prop_map(
            |(
                (kind, port, port_count, (protocol, formats)),
                (information, connections, bandwidths, key),
                attributes,
            )| {
                let mut m = MediaDescription::new(kind, port, &protocol, formats);
                m.port_count = port_count;
                m.information = information;
                m.connections = connections;
                m.bandwidths = bandwidths;
                m.encryption_key = key;
                m.attributes = attributes;
                m
            },
        )
}

fn description() -> impl Strategy<Value = SessionDescription> {
    let origin = (token(), any::<u64>(), any::<u64>(), token(), token(), token()).prop_map(
        |(username, session_id, session_version, network_type, address_type, address)| Origin {
            username,
            session_id,
            session_version,
            network_type,
            address_type,
            address,
        },
    );
    let timing = (any::<u64>(), any::<u64>(), vec(non_empty_text(), 0..2))
        .prop_map(|(start, stop, repeats)| Timing { start, stop, repeats });
    (
        (
            origin,
            text(),
            option::of(text()),
            option::of(text()),
            vec(text(), 0..2),
            vec(text(), 0..2),
        ),
        (
            option::of(connection()),
            vec(bandwidth(), 0..2),
            vec(timing, 1..3),
            option::of(text()),
            option::of(text()),
        ),
        vec(session_attribute(), 0..8),
        vec(media(), 0..4),
    )
        .prop_map(
            |(
                (origin, session_name, information, uri, emails, phones),
                (connection, bandwidths, timings, time_zones, encryption_key),
                attributes,
                media,
            )| SessionDescription {
                origin,
                session_name,
                information,
                uri,
                emails,
                phones,
                connection,
                bandwidths,
                timings,
                time_zones,
                encryption_key,
                attributes,
                media,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn generated_descriptions_round_trip(d in description()) {
        let written = d.to_string();
        let parsed = SessionDescription::parse(&written);
        prop_assert_eq!(parsed.as_ref(), Ok(&d), "{}", written);
        prop_assert_eq!(parsed.map(|p| p.to_string()), Ok(written));
    }

    #[test]
    fn generated_candidates_round_trip(c in candidate()) {
        let line = c.to_string();
        prop_assert_eq!(Candidate::parse(&line), Ok(c.clone()));
        prop_assert_eq!(Candidate::parse(&format!("a={line}")), Ok(c));
    }
}
