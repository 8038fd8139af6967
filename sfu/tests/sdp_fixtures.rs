//! Offers as Chrome and Firefox write them parse, and every typed accessor returns what the
//! text says.

use sfu::sdp::{
    extension_uri, Attribute, CandidateType, Direction, Fingerprint, MediaKind, Msid, RidDirection,
    SessionDescription, Setup, SimulcastRid, TcpType,
};

const CHROME_AV: &str = include_str!("fixtures/chrome_131_audio_video.sdp");
const CHROME_SIMULCAST: &str = include_str!("fixtures/chrome_138_simulcast.sdp");
const CHROME_DATA: &str = include_str!("fixtures/chrome_146_datachannel.sdp");
const CHROME_RECVONLY: &str = include_str!("fixtures/chrome_152_recvonly.sdp");
const FIREFOX_AV: &str = include_str!("fixtures/firefox_133_audio_video.sdp");
const FIREFOX_SIMULCAST: &str = include_str!("fixtures/firefox_140_simulcast.sdp");
const FIREFOX_DATA: &str = include_str!("fixtures/firefox_150_datachannel.sdp");

fn parse(text: &str) -> SessionDescription {
    SessionDescription::parse(text).expect("fixture parses")
}

fn hex(text: &str) -> Vec<u8> {
    text.split(':').map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
}

fn pts(m: &sfu::sdp::MediaDescription) -> Vec<u8> {
    m.payload_types().collect()
}

#[test]
fn chrome_audio_video_session_level() {
    let d = parse(CHROME_AV);
    assert_eq!(d.origin.username, "-");
    assert_eq!(d.origin.session_id, 4_215_775_240_449_105_457);
    assert_eq!(d.origin.session_version, 2);
    assert_eq!(d.origin.address, "127.0.0.1");
    assert_eq!(d.session_name, "-");
    assert_eq!((d.timings[0].start, d.timings[0].stop), (0, 0));
    assert_eq!(d.bundle_group().unwrap().mids, ["0", "1"]);
    assert!(d.extmap_allow_mixed());
    assert!(!d.is_ice_lite());
    let Some(Attribute::MsidSemantic(semantic)) = d.attributes_named("msid-semantic").next() else {
        panic!()
    };
    assert_eq!(semantic.semantic, "WMS");
    assert_eq!(semantic.identifiers, ["9a8f6e3c-2b1d-4e7f-8c5a-1f2e3d4c5b6a"]);
    assert_eq!(d.media.len(), 2);
    assert_eq!(d.media_by_mid("1").unwrap().kind, MediaKind::Video);
}

#[test]
fn chrome_audio_section() {
    let d = parse(CHROME_AV);
    let audio = &d.media[0];
    assert_eq!(audio.kind, MediaKind::Audio);
    assert_eq!(audio.port, 54400);
    assert_eq!(audio.protocol, "UDP/TLS/RTP/SAVPF");
    assert!(audio.is_rtp() && !audio.is_rejected());
    assert_eq!(audio.connections[0].address, "203.0.113.7");
    assert_eq!(pts(audio), [111, 63, 9, 0, 8, 13, 110, 126]);
    assert_eq!(audio.mid(), Some("0"));
    assert_eq!(audio.direction(), Some(Direction::SendRecv));
    assert_eq!(
        audio.msid(),
        Some(&Msid::new(
            "9a8f6e3c-2b1d-4e7f-8c5a-1f2e3d4c5b6a",
            "2c7d1e4f-5a6b-4c8d-9e0f-1a2b3c4d5e6f"
        ))
    );
    assert!(audio.rtcp_mux() && audio.rtcp_rsize());
    let Some(Attribute::Rtcp(rtcp)) = audio.attributes_named("rtcp").next() else { panic!() };
    assert_eq!(rtcp.port, 9);

    let codecs = audio.codecs();
    assert_eq!(codecs.len(), 8);
    let opus = &codecs[0];
    assert_eq!(
        (opus.payload_type, opus.name.as_str(), opus.clock_rate, opus.channels),
        (111, "opus", 48000, Some(2))
    );
    assert_eq!(opus.fmtp_param("minptime"), Some("10"));
    assert_eq!(opus.fmtp_param("useinbandfec"), Some("1"));
    assert_eq!(opus.feedback.len(), 1);
    assert!(opus.has_feedback("transport-cc", None));
    assert_eq!(opus.rtx_payload_type, None);
    assert_eq!((codecs[1].name.as_str(), codecs[1].fmtp.as_str()), ("red", "111/111"));
    assert_eq!(
        (codecs[2].name.as_str(), codecs[2].clock_rate, codecs[2].channels),
        ("G722", 8000, None)
    );
    assert_eq!(codecs[7].name, "telephone-event");

    let exts: Vec<(u16, &str)> =
        d.header_extensions(audio).iter().map(|e| (e.id, e.uri.as_str())).collect();
    assert_eq!(
        exts,
        [
            (1, extension_uri::AUDIO_LEVEL),
            (2, extension_uri::ABS_SEND_TIME),
            (3, extension_uri::TRANSPORT_CC),
            (4, extension_uri::SDES_MID)
        ]
    );
    assert_eq!(audio.extmap_id(extension_uri::SDES_MID), Some(4));

    let ssrcs = audio.ssrcs();
    assert_eq!(ssrcs.len(), 1);
    assert_eq!(ssrcs[0].ssrc, 2_550_536_406);
    assert_eq!(ssrcs[0].cname.as_deref(), Some("4TOk42mSjXCkVIa6"));
    assert_eq!(
        ssrcs[0].msid.as_ref().and_then(|m| m.track_id.as_deref()),
        Some("2c7d1e4f-5a6b-4c8d-9e0f-1a2b3c4d5e6f")
    );
    assert!(audio.fid_groups().is_empty());
}

#[test]
fn chrome_candidates_all_kinds() {
    let d = parse(CHROME_AV);
    let candidates: Vec<_> = d.media[0].candidates().collect();
    assert_eq!(candidates.len(), 5);
    let host = candidates[0];
    assert_eq!(host.foundation, "3046358416");
    assert_eq!((host.component, host.priority), (1, 2_122_260_223));
    assert_eq!(host.socket_addr(), Some("192.168.1.23:54400".parse().unwrap()));
    assert_eq!((host.generation, host.network_id, host.network_cost), (Some(0), Some(1), Some(10)));
    assert_eq!(
        candidates[1].socket_addr(),
        Some("[2001:db8:85a3::8a2e:370:7334]:54401".parse().unwrap())
    );
    assert_eq!(candidates[2].address, "5f1e7c2a-3b4d-4e6f-9a8b-0c1d2e3f4a5b.local");
    assert_eq!(candidates[2].ip(), None);
    assert_eq!(candidates[2].network_cost, Some(999));
    assert_eq!(candidates[3].transport, "tcp");
    assert_eq!(candidates[3].tcp_type, Some(TcpType::Active));
    assert_eq!(candidates[3].port, 9);
    let srflx = candidates[4];
    assert_eq!(srflx.kind, CandidateType::ServerReflexive);
    assert_eq!(srflx.related_address.as_deref(), Some("192.168.1.23"));
    assert_eq!(srflx.related_port, Some(54400));
    assert!(!d.media[0].end_of_candidates());
    assert_eq!(d.media[1].candidates().count(), 0);
}

#[test]
fn chrome_transport_attributes() {
    let d = parse(CHROME_AV);
    for m in &d.media {
        let ice = d.ice_credentials(m).unwrap();
        assert_eq!((ice.ufrag, ice.pwd), ("Jpbd", "Fus4hRjMrpP46HRkXRz+RPdL"));
        assert_eq!(d.ice_options(m), ["trickle"]);
        assert_eq!(d.setup(m), Some(Setup::Actpass));
        let fingerprints = d.fingerprints(m);
        assert_eq!(fingerprints.len(), 1);
        assert_eq!(fingerprints[0].algorithm, "sha-256");
        assert_eq!(
            fingerprints[0].value,
            hex("BC:33:07:47:D8:65:11:4D:0F:ED:63:11:AA:93:81:74:74:20:91:95:BD:34:3C:28:92:8B:D0:FC:26:02:8A:91")
        );
        assert_eq!(m.ice_ufrag(), Some("Jpbd"));
    }
}

#[test]
fn chrome_video_codecs_rtx_and_groups() {
    let d = parse(CHROME_AV);
    let video = &d.media[1];
    assert_eq!(video.port, 9);
    assert_eq!(video.codecs().len(), 25);
    let primaries: Vec<(u8, String, Option<u8>)> = video
        .codecs()
        .into_iter()
        .filter(|c| !c.is_rtx())
        .map(|c| (c.payload_type, c.name, c.rtx_payload_type))
        .collect();
    let expected: Vec<(u8, &str, Option<u8>)> = vec![
        (96, "VP8", Some(97)),
        (103, "H264", Some(104)),
        (107, "H264", Some(108)),
        (109, "H264", Some(114)),
        (115, "H264", Some(116)),
        (117, "H264", Some(118)),
        (39, "H264", Some(40)),
        (45, "AV1", Some(46)),
        (98, "VP9", Some(99)),
        (100, "VP9", Some(101)),
        (119, "H264", Some(120)),
        (123, "red", Some(124)),
        (125, "ulpfec", None),
    ];
    assert_eq!(
        primaries,
        expected.into_iter().map(|(pt, n, r)| (pt, n.to_owned(), r)).collect::<Vec<_>>()
    );
    let h264 = video.codec(109).unwrap();
    assert_eq!(h264.fmtp_param("profile-level-id"), Some("42e01f"));
    assert_eq!(h264.fmtp_param("packetization-mode"), Some("1"));
    assert_eq!(h264.fmtp_param("level-asymmetry-allowed"), Some("1"));
    assert_eq!(h264.feedback.len(), 5);
    assert!(h264.has_feedback("nack", Some("pli")));
    assert!(h264.has_feedback("ccm", Some("fir")));
    assert!(h264.has_feedback("goog-remb", None));
    let rtx = video.codec(114).unwrap();
    assert!(rtx.is_rtx());
    assert_eq!(rtx.apt(), Some(109));
    assert_eq!(video.codec(100).unwrap().fmtp_param("profile-id"), Some("2"));
    assert_eq!(video.codec(45).unwrap().fmtp_param("level-idx"), Some("5"));
    assert!(video.codec(125).unwrap().feedback.is_empty());

    assert_eq!(video.extmap_id(extension_uri::SDES_RTP_STREAM_ID), Some(10));
    assert_eq!(video.extmap_id("urn:ietf:params:rtp-hdrext:toffset"), Some(14));
    assert_eq!(video.extmaps().count(), 11);
    assert_eq!(video.fid_groups(), vec![(2_231_627_014, 632_943_048)]);
    assert_eq!(video.rtx_ssrc_for(2_231_627_014), Some(632_943_048));
    let ssrcs = video.ssrcs();
    assert_eq!(ssrcs.iter().map(|s| s.ssrc).collect::<Vec<_>>(), [2_231_627_014, 632_943_048]);
    assert!(ssrcs.iter().all(|s| s.msid.as_ref() == video.msid()));
    assert!(video.simulcast().is_none());
    assert_eq!(video.rids().count(), 0);
}

#[test]
fn chrome_simulcast_rids() {
    let d = parse(CHROME_SIMULCAST);
    let audio = &d.media[0];
    assert_eq!(audio.direction(), Some(Direction::SendOnly));
    let video = &d.media[1];
    assert_eq!(video.direction(), Some(Direction::SendOnly));
    let rids: Vec<_> = video.rids().collect();
    assert_eq!(rids.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["q", "h", "f"]);
    assert!(rids.iter().all(|r| r.direction == RidDirection::Send && r.payload_types.is_empty()));
    let simulcast = video.simulcast().unwrap();
    assert!(simulcast.recv.is_empty());
    let rid = |id: &str| vec![SimulcastRid { id: id.to_owned(), paused: false }];
    assert_eq!(simulcast.send, vec![rid("q"), rid("h"), rid("f")]);
    // Chrome writes no a=ssrc for simulcast: the SFU learns SSRCs from the rid extension.
    assert!(video.ssrcs().is_empty());
    assert_eq!(
        video.msid().unwrap().track_id.as_deref(),
        Some("8e7d6c5b-4a39-4281-9f0e-d1c2b3a49586")
    );
}

#[test]
fn firefox_audio_video_session_level_fallback() {
    let d = parse(FIREFOX_AV);
    assert_eq!(d.origin.username, "mozilla...THIS_IS_SDPARTA-133.0");
    assert_eq!(d.origin.session_id, 1_733_480_587_449_373_125);
    assert_eq!(d.origin.session_version, 0);
    let Some(Attribute::MsidSemantic(semantic)) = d.attributes_named("msid-semantic").next() else {
        panic!()
    };
    assert_eq!(
        (semantic.semantic.as_str(), semantic.identifiers.as_slice()),
        ("WMS", &["*".to_owned()][..])
    );
    let expected = Fingerprint {
        algorithm: "sha-256".into(),
        value: hex("AE:59:05:60:60:9E:46:3E:87:4E:3F:1E:EB:B5:D4:8C:D0:82:C8:A2:0F:6D:92:6F:DB:A0:80:29:BA:7A:15:EA"),
    };
    for m in &d.media {
        // Firefox writes the fingerprint and ice-options once, at session level.
        assert_eq!(m.fingerprints().count(), 0);
        assert_eq!(d.fingerprints(m), [&expected]);
        assert_eq!(d.ice_options(m), ["trickle"]);
        let ice = d.ice_credentials(m).unwrap();
        assert_eq!((ice.ufrag, ice.pwd), ("1f9a2b3c", "7e1e5e57a1a4e4f0f1c2d3b4a5968778"));
        assert_eq!(d.setup(m), Some(Setup::Actpass));
        assert_eq!(d.direction(m), Direction::SendRecv);
    }
}

#[test]
fn firefox_audio_video_media() {
    let d = parse(FIREFOX_AV);
    let audio = &d.media[0];
    let opus = audio.codec(109).unwrap();
    assert_eq!((opus.name.as_str(), opus.clock_rate, opus.channels), ("opus", 48000, Some(2)));
    assert_eq!(opus.fmtp_param("stereo"), Some("1"));
    assert_eq!(opus.fmtp_param("maxplaybackrate"), Some("48000"));
    assert_eq!(audio.codec(9).unwrap().channels, Some(1));
    assert_eq!(audio.codec(101).unwrap().fmtp, "0-15");
    let exts = d.header_extensions(audio);
    assert_eq!(exts[1].id, 2);
    assert_eq!(exts[1].direction, Some(Direction::RecvOnly));
    assert_eq!(exts[1].uri, "urn:ietf:params:rtp-hdrext:csrc-audio-level");
    assert_eq!(audio.ssrcs()[0].cname.as_deref(), Some("{7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d}"));
    assert_eq!(audio.msid().unwrap().stream_id, "{1c0b2a3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d}");
    assert!(audio.end_of_candidates());
    let candidates: Vec<_> = audio.candidates().collect();
    assert_eq!(candidates.len(), 3);
    assert_eq!(candidates[0].transport, "UDP");
    assert!(candidates[0].is_udp());
    assert_eq!(candidates[0].generation, None);
    assert_eq!(candidates[1].tcp_type, Some(TcpType::Active));
    assert_eq!(candidates[2].related_port, Some(50673));

    let video = &d.media[1];
    assert_eq!(pts(video), [120, 124, 121, 125, 126, 127, 97, 98, 105, 106, 123, 122, 119]);
    let vp8 = video.codec(120).unwrap();
    assert_eq!(vp8.rtx_payload_type, Some(124));
    assert_eq!(vp8.fmtp_param("max-fs"), Some("12288"));
    assert_eq!(
        vp8.feedback.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["nack", "nack pli", "ccm fir", "goog-remb", "transport-cc"]
    );
    // VP9 without profile-id, H.264 without packetization-mode.
    assert_eq!(video.codec(121).unwrap().fmtp_param("profile-id"), None);
    assert_eq!(video.codec(97).unwrap().fmtp_param("packetization-mode"), None);
    assert_eq!(video.codec(122).unwrap().rtx_payload_type, Some(119));
    let playout = d
        .header_extensions(video)
        .into_iter()
        .find(|e| e.uri == extension_uri::PLAYOUT_DELAY)
        .unwrap();
    assert_eq!((playout.id, playout.direction), (6, Some(Direction::RecvOnly)));
    assert_eq!(video.fid_groups(), vec![(1_893_459_208, 3_920_417_540)]);
    assert_eq!(video.ssrcs().len(), 2);
    assert!(video.ssrcs().iter().all(|s| s.msid.is_none()));
    assert!(video.end_of_candidates());
}

#[test]
fn firefox_simulcast_with_ssrcs() {
    let d = parse(FIREFOX_SIMULCAST);
    let video = &d.media[1];
    assert_eq!(d.direction(video), Direction::SendOnly);
    assert_eq!(video.rids().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["h", "m", "l"]);
    assert_eq!(
        video.simulcast().unwrap().send_rids().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["h", "m", "l"]
    );
    assert_eq!(
        video.fid_groups(),
        vec![
            (2_719_064_317, 1_044_295_125),
            (3_370_452_004, 407_919_211),
            (1_597_826_710, 2_862_203_543)
        ]
    );
    assert_eq!(video.ssrcs().len(), 6);
    assert_eq!(video.extmap_id(extension_uri::SDES_RTP_STREAM_ID), Some(8));
    assert_eq!(video.extmap_id(extension_uri::SDES_REPAIRED_RTP_STREAM_ID), Some(9));
}

#[test]
fn data_channel_offers() {
    for (text, max_message_size, ufrag) in
        [(CHROME_DATA, 262_144, "Qh3e"), (FIREFOX_DATA, 1_073_741_823, "b7e2c1d0")]
    {
        let d = parse(text);
        assert_eq!(d.media.len(), 1);
        let app = &d.media[0];
        assert_eq!(app.kind, MediaKind::Application);
        assert_eq!(app.protocol, "UDP/DTLS/SCTP");
        assert_eq!(app.formats, ["webrtc-datachannel"]);
        assert!(app.is_sctp() && !app.is_rtp());
        assert_eq!(app.sctp_port(), Some(5000));
        assert_eq!(app.max_message_size(), Some(max_message_size));
        assert_eq!(app.mid(), Some("0"));
        assert_eq!(d.ice_credentials(app).unwrap().ufrag, ufrag);
        assert_eq!(d.fingerprints(app).len(), 1);
        assert!(app.codecs().is_empty());
    }
}

#[test]
fn chrome_recvonly_subscriber_offer() {
    let d = parse(CHROME_RECVONLY);
    assert_eq!(d.bundle_group().unwrap().mids, ["0", "1", "2"]);
    for m in &d.media[..2] {
        assert_eq!(m.direction(), Some(Direction::RecvOnly));
        assert!(m.msid().is_none());
        assert!(m.ssrcs().is_empty());
    }
    assert_eq!(d.media[2].kind, MediaKind::Application);
}

#[test]
fn lf_line_endings_parse_the_same() {
    for text in [
        CHROME_AV,
        CHROME_SIMULCAST,
        CHROME_DATA,
        CHROME_RECVONLY,
        FIREFOX_AV,
        FIREFOX_SIMULCAST,
        FIREFOX_DATA,
    ] {
        let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
        let lf = text.replace("\r\n", "\n");
        assert_eq!(parse(&crlf), parse(&lf));
    }
}
