//! Answers the SFU writes for Chrome's and Firefox's offers, and offers it writes itself.

use std::collections::HashMap;

use sfu::sdp::{
    create_answer, create_offer, extension_uri, AnswerOptions, CandidateType, Direction,
    Fingerprint, LocalParameters, MediaAnswer, MediaDescription, MediaKind, Msid, NegotiationError,
    OfferMedia, OfferOptions, RidDirection, SendStream, SessionDescription, Setup,
};

const CHROME_AV: &str = include_str!("fixtures/chrome_131_audio_video.sdp");
const CHROME_SIMULCAST: &str = include_str!("fixtures/chrome_138_simulcast.sdp");
const CHROME_DATA: &str = include_str!("fixtures/chrome_146_datachannel.sdp");
const CHROME_RECVONLY: &str = include_str!("fixtures/chrome_152_recvonly.sdp");
const FIREFOX_AV: &str = include_str!("fixtures/firefox_133_audio_video.sdp");
const FIREFOX_SIMULCAST: &str = include_str!("fixtures/firefox_140_simulcast.sdp");
const FIREFOX_DATA: &str = include_str!("fixtures/firefox_150_datachannel.sdp");

const SFU_UFRAG: &str = "sfuA";
const SFU_PWD: &str = "Vs3cr3tVs3cr3tVs3cr3tV";

fn local() -> LocalParameters {
    LocalParameters::new(
        0x1234_5678_9abc,
        SFU_UFRAG,
        SFU_PWD,
        Fingerprint::sha256([0x5a; 32]),
        vec!["192.0.2.10:4443".parse().unwrap(), "[2001:db8::10]:4443".parse().unwrap()],
    )
}

fn parse(text: &str) -> SessionDescription {
    SessionDescription::parse(text).expect("parses")
}

/// Answers, then checks what every answer must satisfy: it parses back to itself, it is
/// ICE-lite with our credentials and fingerprint on every accepted section, never actpass,
/// and it answers every offered mid in order.
fn answer(offer: &SessionDescription, options: &AnswerOptions) -> SessionDescription {
    let answer = create_answer(offer, &local(), options).expect("answer");
    let text = answer.to_string();
    assert!(text.ends_with("\r\n") && !text.replace("\r\n", "").contains('\n'));
    assert_eq!(parse(&text), answer, "the answer round-trips");
    assert!(answer.is_ice_lite());
    assert_eq!(answer.origin.session_id, 0x1234_5678_9abc);
    assert_eq!(answer.media.len(), offer.media.len());
    for (offered, answered) in offer.media.iter().zip(&answer.media) {
        assert_eq!(answered.mid(), offered.mid());
        assert_eq!(answered.kind, offered.kind);
        assert_eq!(answered.protocol, offered.protocol);
        if answered.is_rejected() {
            continue;
        }
        let ice = answer.ice_credentials(answered).unwrap();
        assert_eq!((ice.ufrag, ice.pwd), (SFU_UFRAG, SFU_PWD));
        assert_eq!(answered.fingerprints().collect::<Vec<_>>(), [&Fingerprint::sha256([0x5a; 32])]);
        assert_ne!(answered.setup(), Some(Setup::Actpass));
        assert_eq!(answered.port, 4443);
        assert_eq!(answered.connections[0].to_string(), "IN IP4 192.0.2.10");
    }
    assert_bundle_consistent(&answer);
    answer
}

/// Across one BUNDLE group a payload type names one codec and an extension id one URI
/// (RFC 8843 §9).
fn assert_bundle_consistent(d: &SessionDescription) {
    let mut pts: HashMap<u8, (String, u32)> = HashMap::new();
    let mut ids: HashMap<u16, String> = HashMap::new();
    for m in d.media.iter().filter(|m| !m.is_rejected()) {
        for c in m.codecs() {
            let entry = pts.entry(c.payload_type).or_insert((c.name.to_lowercase(), c.clock_rate));
            assert_eq!(
                entry,
                &(c.name.to_lowercase(), c.clock_rate),
                "pt {} reused",
                c.payload_type
            );
        }
        for e in m.extmaps() {
            assert_eq!(
                ids.entry(e.id).or_insert(e.uri.clone()),
                &e.uri,
                "extmap id {} reused",
                e.id
            );
        }
    }
}

fn pts(m: &MediaDescription) -> Vec<u8> {
    m.payload_types().collect()
}

fn extmaps(m: &MediaDescription) -> Vec<(u16, Option<Direction>, &str)> {
    m.extmaps().map(|e| (e.id, e.direction, e.uri.as_str())).collect()
}

fn stream(ssrc: u32, rtx: Option<u32>, track: &str) -> SendStream {
    SendStream {
        ssrc,
        rtx_ssrc: rtx,
        cname: "sfu-cname".into(),
        msid: Msid::new("sfu-stream", track),
    }
}

#[test]
fn chrome_push_audio_video() {
    let offer = parse(CHROME_AV);
    let options = AnswerOptions::default()
        .with("0", MediaAnswer::receive())
        .with("1", MediaAnswer::receive());
    let a = answer(&offer, &options);
    assert_eq!(a.bundle_group().unwrap().mids, ["0", "1"]);
    assert!(a.extmap_allow_mixed());

    let audio = &a.media[0];
    assert_eq!(pts(audio), [111]);
    let opus = audio.codec(111).unwrap();
    assert_eq!((opus.name.as_str(), opus.clock_rate, opus.channels), ("opus", 48000, Some(2)));
    assert_eq!(opus.fmtp, "minptime=10;useinbandfec=1");
    assert_eq!(opus.feedback.iter().map(ToString::to_string).collect::<Vec<_>>(), ["transport-cc"]);
    assert_eq!(audio.direction(), Some(Direction::RecvOnly));
    assert_eq!(audio.setup(), Some(Setup::Passive));
    assert!(audio.rtcp_mux() && audio.rtcp_rsize());
    assert_eq!(
        extmaps(audio),
        [
            (1, None, extension_uri::AUDIO_LEVEL),
            (2, None, extension_uri::ABS_SEND_TIME),
            (3, None, extension_uri::TRANSPORT_CC),
            (4, None, extension_uri::SDES_MID)
        ]
    );
    assert!(audio.msid().is_none() && audio.ssrcs().is_empty());

    let video = &a.media[1];
    // The SFU's preference order, the offer's numbers, each codec followed by its RTX.
    assert_eq!(
        pts(video),
        [96, 97, 98, 99, 100, 101, 109, 114, 103, 104, 117, 118, 119, 120, 45, 46]
    );
    for (pt, rtx) in
        [(96, 97), (98, 99), (100, 101), (109, 114), (103, 104), (117, 118), (119, 120), (45, 46)]
    {
        let codec = video.codec(pt).unwrap();
        assert_eq!(codec.rtx_payload_type, Some(rtx));
        assert_eq!(video.codec(rtx).unwrap().apt(), Some(pt));
        assert_eq!(
            codec.feedback.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"]
        );
    }
    assert_eq!(
        video.codec(109).unwrap().fmtp,
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
    );
    assert_eq!(video.codec(103).unwrap().fmtp_param("profile-level-id"), Some("42001f"));
    assert_eq!(video.codec(117).unwrap().fmtp_param("profile-level-id"), Some("4d001f"));
    assert_eq!(video.codec(119).unwrap().fmtp_param("profile-level-id"), Some("64001f"));
    assert_eq!(video.codec(100).unwrap().fmtp, "profile-id=2");
    assert_eq!(video.codec(45).unwrap().fmtp, "level-idx=5;profile=0;tier=0");
    // packetization-mode=0, RED and ULPFEC are not answered.
    for pt in [107, 108, 115, 116, 39, 40, 123, 124, 125] {
        assert!(video.codec(pt).is_none(), "{pt}");
    }
    let ids: Vec<u16> = video.extmaps().map(|e| e.id).collect();
    assert_eq!(ids, [2, 13, 3, 5, 4, 10, 11]);
    assert_eq!(video.extmap_id(extension_uri::VIDEO_ORIENTATION), Some(13));
    assert_eq!(video.direction(), Some(Direction::RecvOnly));

    // Candidates only in the BUNDLE-tagged section: IPv4 and IPv6, RFC 8445 priorities.
    let candidates: Vec<_> = audio.candidates().collect();
    assert_eq!(candidates.len(), 2);
    assert!(candidates
        .iter()
        .all(|c| c.kind == CandidateType::Host && c.is_udp() && c.component == 1));
    assert_eq!(candidates[0].socket_addr(), Some("192.0.2.10:4443".parse().unwrap()));
    assert_eq!(candidates[0].priority, (126 << 24) + (0x7fff << 8) + 255);
    assert_eq!(candidates[1].socket_addr(), Some("[2001:db8::10]:4443".parse().unwrap()));
    assert_eq!(candidates[1].priority, (126 << 24) + (0xffff << 8) + 255);
    assert_ne!(candidates[0].foundation, candidates[1].foundation);
    assert!(audio.end_of_candidates());
    assert_eq!(video.candidates().count(), 0);

    let text = a.to_string();
    assert!(text.contains("\r\na=ice-lite\r\n"));
    assert!(text.contains("\r\na=candidate:2 1 udp 2130706431 2001:db8::10 4443 typ host\r\n"));
    assert!(text.contains("\r\na=fingerprint:sha-256 5A:5A:"));
}

#[test]
fn firefox_push_audio_video() {
    let offer = parse(FIREFOX_AV);
    let a = answer(&offer, &AnswerOptions::default());
    let audio = &a.media[0];
    assert_eq!(pts(audio), [109]);
    // The SFU states its own opus receive parameters (RFC 7587 §7).
    assert_eq!(audio.codec(109).unwrap().fmtp, "minptime=10;useinbandfec=1");
    // csrc-audio-level (recvonly in the offer) is not supported.
    assert_eq!(
        extmaps(audio),
        [(1, None, extension_uri::AUDIO_LEVEL), (3, None, extension_uri::SDES_MID)]
    );

    let video = &a.media[1];
    assert_eq!(pts(video), [120, 124, 121, 125, 126, 127, 105, 106]);
    assert_eq!(video.codec(120).unwrap().fmtp, "max-fs=12288;max-fr=60");
    assert_eq!(video.codec(124).unwrap().apt(), Some(120));
    assert_eq!(
        video.codec(126).unwrap().fmtp,
        "profile-level-id=42e01f;level-asymmetry-allowed=1;packetization-mode=1"
    );
    assert_eq!(
        video.codec(121).unwrap().feedback.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["nack", "nack pli", "ccm fir", "goog-remb", "transport-cc"]
    );
    // H.264 without packetization-mode (mode 0) and RED/ULPFEC are left out.
    assert!(video.codec(97).is_none() && video.codec(122).is_none() && video.codec(123).is_none());
    // The offerer only receives playout-delay: the answer only sends it (RFC 8285 §7).
    assert_eq!(
        extmaps(video),
        [
            (3, None, extension_uri::SDES_MID),
            (4, None, extension_uri::ABS_SEND_TIME),
            (6, Some(Direction::SendOnly), extension_uri::PLAYOUT_DELAY),
            (7, None, extension_uri::TRANSPORT_CC)
        ]
    );
    assert_eq!(a.bundle_group().unwrap().mids, ["0", "1"]);
    // Firefox does not offer extmap-allow-mixed, so the answer does not either.
    assert!(!a.extmap_allow_mixed());
    assert!(a.media.iter().all(|m| m.setup() == Some(Setup::Passive)));
}

#[test]
fn simulcast_pushes_are_answered_with_recv_rids() {
    for (text, rids) in [(CHROME_SIMULCAST, ["q", "h", "f"]), (FIREFOX_SIMULCAST, ["h", "m", "l"])]
    {
        let offer = parse(text);
        let a = answer(&offer, &AnswerOptions::default());
        assert_eq!(a.media[0].direction(), Some(Direction::RecvOnly));
        let video = &a.media[1];
        assert_eq!(video.direction(), Some(Direction::RecvOnly));
        let answered: Vec<_> = video.rids().collect();
        assert_eq!(answered.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), rids);
        assert!(answered.iter().all(|r| r.direction == RidDirection::Recv));
        let simulcast = video.simulcast().unwrap();
        assert!(simulcast.send.is_empty());
        assert_eq!(simulcast.recv_rids().map(|r| r.id.as_str()).collect::<Vec<_>>(), rids);
        assert_eq!(simulcast.recv.len(), 3);
        assert!(video.extmap_id(extension_uri::SDES_RTP_STREAM_ID).is_some());
        assert!(video.extmap_id(extension_uri::SDES_REPAIRED_RTP_STREAM_ID).is_some());
    }
}

#[test]
fn rids_restricted_to_rejected_payload_types_are_dropped() {
    let text = CHROME_SIMULCAST
        .replace("a=rid:q send\r\n", "a=rid:q send pt=96;max-width=320\r\n")
        .replace("a=rid:h send\r\n", "a=rid:h send pt=125\r\n");
    let a = answer(&parse(&text), &AnswerOptions::default());
    let video = &a.media[1];
    let rids: Vec<_> = video.rids().collect();
    assert_eq!(rids.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["q", "f"]);
    assert_eq!(rids[0].payload_types, [96]);
    assert_eq!(rids[0].restriction("max-width"), Some("320"));
    assert_eq!(video.simulcast().unwrap().to_string(), "recv q;f");
}

#[test]
fn data_channel_only_offers() {
    for text in [CHROME_DATA, FIREFOX_DATA] {
        let offer = parse(text);
        let a = answer(&offer, &AnswerOptions::default());
        let app = &a.media[0];
        assert_eq!(
            app.to_string().lines().next(),
            Some("m=application 4443 UDP/DTLS/SCTP webrtc-datachannel")
        );
        assert_eq!(app.sctp_port(), Some(5000));
        assert!(app.max_message_size().unwrap() >= 262_144);
        assert_eq!(app.setup(), Some(Setup::Passive));
        assert_eq!(app.candidates().count(), 2);
        assert!(app.end_of_candidates());
        assert_eq!(a.bundle_group().unwrap().mids, ["0"]);
        assert!(app.direction().is_none());
    }
}

#[test]
fn pull_answered_to_a_subscriber_offer() {
    let offer = parse(CHROME_RECVONLY);
    let options = AnswerOptions::default()
        .with("0", MediaAnswer::send(stream(1111, Some(1112), "audio-track")))
        .with("1", MediaAnswer::send(stream(2221, Some(2222), "video-track")))
        .with("2", MediaAnswer::receive());
    let a = answer(&offer, &options);
    let audio = &a.media[0];
    assert_eq!(audio.direction(), Some(Direction::SendOnly));
    assert_eq!(audio.msid(), Some(&Msid::new("sfu-stream", "audio-track")));
    // No RTX negotiated for audio: no FID group and no RTX SSRC.
    assert_eq!(audio.ssrcs().iter().map(|s| s.ssrc).collect::<Vec<_>>(), [1111]);
    assert!(audio.fid_groups().is_empty());

    let video = &a.media[1];
    assert_eq!(video.direction(), Some(Direction::SendOnly));
    assert_eq!(pts(video), [96, 97, 98, 99, 109, 114, 45, 46]);
    assert_eq!(video.fid_groups(), vec![(2221, 2222)]);
    let ssrcs = video.ssrcs();
    assert_eq!(ssrcs.len(), 2);
    assert!(ssrcs.iter().all(|s| s.cname.as_deref() == Some("sfu-cname")));
    assert!(ssrcs.iter().all(|s| s.msid == Some(Msid::new("sfu-stream", "video-track"))));

    assert_eq!(a.media[2].sctp_port(), Some(5000));
    assert_eq!(a.bundle_group().unwrap().mids, ["0", "1", "2"]);
}

#[test]
fn passive_offer_makes_the_sfu_active() {
    let offer = parse(&CHROME_AV.replace("a=setup:actpass", "a=setup:passive"));
    let a = answer(&offer, &AnswerOptions::default());
    assert!(a.media.iter().all(|m| m.setup() == Some(Setup::Active)));
    let offer = parse(&CHROME_AV.replace("a=setup:actpass", "a=setup:active"));
    assert!(answer(&offer, &AnswerOptions::default())
        .media
        .iter()
        .all(|m| m.setup() == Some(Setup::Passive)));
}

#[test]
fn rejected_sections() {
    let offer = parse(CHROME_AV);
    let a = answer(&offer, &AnswerOptions::default().with("1", MediaAnswer::Reject));
    assert_eq!(a.media[1].port, 0);
    assert_eq!(
        a.media[1].to_string(),
        "m=video 0 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n"
    );
    assert_eq!(a.bundle_group().unwrap().mids, ["0"]);

    // Rejecting the first section moves the candidates to the next accepted one.
    let a = answer(&offer, &AnswerOptions::default().with("0", MediaAnswer::Reject));
    assert_eq!(a.media[0].candidates().count(), 0);
    assert_eq!(a.media[1].candidates().count(), 2);

    // A section the offerer removed (port 0) stays removed.
    let mut removed = offer.clone();
    removed.media[1].port = 0;
    let a = answer(&removed, &AnswerOptions::default());
    assert!(a.media[1].is_rejected());

    // An application section that is not a WebRTC data channel is rejected.
    let mut text = CHROME_DATA.replace("UDP/DTLS/SCTP webrtc-datachannel", "DTLS/SCTP 5000");
    text.push_str("a=sctpmap:5000 webrtc-datachannel 1024\r\n");
    let a = answer(&parse(&text), &AnswerOptions::default());
    assert!(a.media[0].is_rejected());
    assert_eq!(a.media[0].formats, ["5000"]);
}

#[test]
fn without_bundle_only_the_first_section_is_accepted() {
    let offer = parse(&CHROME_AV.replace("a=group:BUNDLE 0 1\r\n", ""));
    let a = answer(&offer, &AnswerOptions::default());
    assert!(a.bundle_group().is_none());
    assert!(!a.media[0].is_rejected());
    assert!(a.media[1].is_rejected());
}

#[test]
fn mids_outside_the_bundle_group_are_rejected() {
    let offer = parse(&CHROME_AV.replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 1"));
    let a = answer(&offer, &AnswerOptions::default());
    assert!(a.media[0].is_rejected());
    assert!(!a.media[1].is_rejected());
    assert_eq!(a.bundle_group().unwrap().mids, ["1"]);
    assert_eq!(a.media[1].candidates().count(), 2);
}

#[test]
fn answer_without_candidates_uses_jsep_placeholders() {
    let mut params = local();
    params.candidates.clear();
    let a = create_answer(&parse(CHROME_DATA), &params, &AnswerOptions::default()).unwrap();
    assert_eq!(a.media[0].port, 9);
    assert_eq!(a.media[0].connections[0].to_string(), "IN IP4 0.0.0.0");
    assert_eq!(a.media[0].candidates().count(), 0);
    assert!(a.media[0].end_of_candidates());
}

#[test]
fn default_destination_prefers_ipv4() {
    let mut params = local();
    params.candidates.reverse();
    let a = create_answer(&parse(CHROME_DATA), &params, &AnswerOptions::default()).unwrap();
    assert_eq!(a.media[0].connections[0].to_string(), "IN IP4 192.0.2.10");
    // Candidates keep the caller's order.
    assert_eq!(a.media[0].candidates().next().unwrap().address, "2001:db8::10");
    params.candidates.truncate(1);
    let a = create_answer(&parse(CHROME_DATA), &params, &AnswerOptions::default()).unwrap();
    assert_eq!(a.media[0].connections[0].to_string(), "IN IP6 2001:db8::10");
    assert_eq!(a.media[0].port, 4443);
}

#[test]
fn malformed_offers_are_negotiation_errors() {
    let offer = parse(&CHROME_AV.replace("a=mid:1\r\n", ""));
    assert_eq!(
        create_answer(&offer, &local(), &AnswerOptions::default()),
        Err(NegotiationError::MissingMid { index: 1 })
    );
    let offer = parse(&FIREFOX_AV.replace("a=fingerprint", "a=x-fingerprint"));
    assert_eq!(
        create_answer(&offer, &local(), &AnswerOptions::default()),
        Err(NegotiationError::MissingFingerprint { index: 0 })
    );
    let offer = parse(&CHROME_DATA.replace("a=ice-pwd:k1Xf1Q6Pkm0nHWPOVgzSmv6T\r\n", ""));
    let error = create_answer(&offer, &local(), &AnswerOptions::default()).unwrap_err();
    assert_eq!(error, NegotiationError::MissingIceCredentials { index: 0 });
    assert!(error.to_string().contains("a=ice-ufrag/a=ice-pwd"));
}

// ---- offers the SFU writes ----------------------------------------------------------------

fn pull_offer() -> SessionDescription {
    let options = OfferOptions {
        media: vec![
            OfferMedia::send("0", MediaKind::Audio, stream(1111, Some(1112), "audio-track")),
            OfferMedia::send("1", MediaKind::Video, stream(2221, Some(2222), "video-track")),
            OfferMedia::data_channel("2"),
        ],
        ..OfferOptions::default()
    };
    create_offer(&local(), &options).unwrap()
}

#[test]
fn sfu_offer_for_a_pull() {
    let offer = pull_offer();
    assert_eq!(parse(&offer.to_string()), offer);
    assert!(offer.is_ice_lite());
    assert!(offer.extmap_allow_mixed());
    assert_eq!(offer.bundle_group().unwrap().mids, ["0", "1", "2"]);
    assert_bundle_consistent(&offer);
    for m in &offer.media {
        assert_eq!(m.setup(), Some(Setup::Actpass));
        assert_eq!(m.ice_ufrag(), Some(SFU_UFRAG));
        assert_eq!(m.port, 4443);
    }
    let audio = &offer.media[0];
    assert_eq!(audio.protocol, "UDP/TLS/RTP/SAVPF");
    assert_eq!(pts(audio), [111]);
    assert_eq!(audio.codec(111).unwrap().fmtp, "minptime=10;useinbandfec=1");
    assert_eq!(audio.direction(), Some(Direction::SendOnly));
    assert_eq!(audio.ssrcs().iter().map(|s| s.ssrc).collect::<Vec<_>>(), [1111]);
    assert_eq!(audio.candidates().count(), 2);
    assert_eq!(
        extmaps(audio),
        [
            (1, None, extension_uri::SDES_MID),
            (2, None, extension_uri::AUDIO_LEVEL),
            (3, None, extension_uri::TRANSPORT_CC),
            (4, None, extension_uri::ABS_SEND_TIME)
        ]
    );

    let video = &offer.media[1];
    assert_eq!(
        pts(video),
        [96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 112, 113, 45, 46]
    );
    assert_eq!(
        video.codec(102).unwrap().fmtp,
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
    );
    assert_eq!(video.codec(103).unwrap().apt(), Some(102));
    assert_eq!(video.codec(108).unwrap().fmtp_param("profile-level-id"), Some("640c1f"));
    assert!(video.codec(96).unwrap().has_feedback("nack", Some("pli")));
    // Each URI has the id of its place in the capabilities, whatever the sections offered.
    assert_eq!(
        extmaps(video),
        [
            (1, None, extension_uri::SDES_MID),
            (3, None, extension_uri::TRANSPORT_CC),
            (4, None, extension_uri::ABS_SEND_TIME),
            (5, None, extension_uri::SDES_RTP_STREAM_ID),
            (6, None, extension_uri::SDES_REPAIRED_RTP_STREAM_ID),
            (7, None, extension_uri::VIDEO_ORIENTATION),
            (8, None, extension_uri::PLAYOUT_DELAY)
        ]
    );
    assert_eq!(video.fid_groups(), vec![(2221, 2222)]);
    assert_eq!(video.msid(), Some(&Msid::new("sfu-stream", "video-track")));
    assert_eq!(video.candidates().count(), 0);

    let app = &offer.media[2];
    assert_eq!(app.formats, ["webrtc-datachannel"]);
    assert_eq!(app.sctp_port(), Some(5000));
    assert_eq!(app.max_message_size(), Some(262_144));
}

#[test]
fn the_sfu_offer_is_answerable() {
    // Answer the SFU's offer with the same rules, as a receive-only peer would.
    let offer = pull_offer();
    let peer = LocalParameters::new(
        5,
        "peer",
        "peerpeerpeerpeerpeerpe",
        Fingerprint::sha256([7; 32]),
        vec![],
    );
    let answer = create_answer(&offer, &peer, &AnswerOptions::default()).unwrap();
    assert_eq!(answer.media.iter().filter(|m| m.is_rejected()).count(), 0);
    assert_eq!(answer.media[0].direction(), Some(Direction::RecvOnly));
    assert_eq!(answer.media[1].direction(), Some(Direction::RecvOnly));
    assert_eq!(pts(&answer.media[1]), pts(&offer.media[1]));
    assert_eq!(answer.media[0].setup(), Some(Setup::Passive));
}

#[test]
fn subsequent_offer_keeps_negotiated_sections_and_numbers() {
    // Firefox pushed audio and video; the SFU now adds a video track for it to receive.
    let client_offer = parse(FIREFOX_AV);
    let current = create_answer(&client_offer, &local(), &AnswerOptions::default()).unwrap();
    let mut params = local();
    params.session_version = 2;
    params.dtls_role = Some(Setup::Passive);
    let options = OfferOptions {
        previous: Some(&current),
        media: vec![OfferMedia::send("2", MediaKind::Video, stream(3331, Some(3332), "pulled"))],
        stopped: vec![],
    };
    let offer = create_offer(&params, &options).unwrap();
    assert_eq!(parse(&offer.to_string()), offer);
    assert_eq!(offer.origin.session_version, 2);
    assert_eq!(offer.bundle_group().unwrap().mids, ["0", "1", "2"]);
    assert_bundle_consistent(&offer);

    // Existing sections: same codecs, extensions and direction; fresh transport, actpass.
    for (before, after) in current.media.iter().zip(&offer.media) {
        assert_eq!(before.codecs(), after.codecs());
        assert_eq!(extmaps(before), extmaps(after));
        assert_eq!(before.direction(), after.direction());
        assert_eq!(after.setup(), Some(Setup::Actpass));
    }
    assert_eq!(offer.media[0].candidates().count(), 2);
    assert_eq!(offer.media[1].candidates().count(), 0);

    // The new section reuses the numbers the session already has for the same codecs
    // (VP8 120/124, VP9 121/125, H.264 126/127 and 105/106) and picks free ones for
    // the rest; extension ids already bound keep their URI.
    let new = &offer.media[2];
    let codecs = new.codecs();
    let vp8 = codecs.iter().find(|c| c.name == "VP8").unwrap();
    assert_eq!((vp8.payload_type, vp8.rtx_payload_type), (120, Some(124)));
    assert_eq!(new.codec(121).unwrap().name, "VP9");
    assert_eq!(new.codec(126).unwrap().fmtp_param("profile-level-id"), Some("42e01f"));
    assert_eq!(new.codec(105).unwrap().fmtp_param("profile-level-id"), Some("42001f"));
    let vp9_profile_2 = codecs.iter().find(|c| c.fmtp == "profile-id=2").unwrap();
    assert_eq!(vp9_profile_2.payload_type, 100);
    assert_eq!(new.extmap_id(extension_uri::SDES_MID), Some(3));
    assert_eq!(new.extmap_id(extension_uri::ABS_SEND_TIME), Some(4));
    assert_eq!(new.extmap_id(extension_uri::PLAYOUT_DELAY), Some(6));
    assert_eq!(new.extmap_id(extension_uri::TRANSPORT_CC), Some(7));
    // New URIs get their usual id when it is free (rtp-stream-id 5), else the lowest free one
    // (repaired-rtp-stream-id would be 6, taken by playout-delay; video-orientation 7, taken
    // by transport-cc).
    assert_eq!(new.extmap_id(extension_uri::SDES_RTP_STREAM_ID), Some(5));
    assert_eq!(new.extmap_id(extension_uri::SDES_REPAIRED_RTP_STREAM_ID), Some(2));
    assert_eq!(new.extmap_id(extension_uri::VIDEO_ORIENTATION), Some(8));
    assert_eq!(new.fid_groups(), vec![(3331, 3332)]);
}

#[test]
fn subsequent_offer_changes_and_stops_sections() {
    let current = pull_offer();
    let options = OfferOptions {
        previous: Some(&current),
        media: vec![OfferMedia {
            mid: "1".into(),
            kind: MediaKind::Video,
            direction: Direction::Inactive,
            send: None,
            codecs: None,
        }],
        stopped: vec!["0".into()],
    };
    let offer = create_offer(&local(), &options).unwrap();
    assert!(offer.media[0].is_rejected());
    assert_eq!(offer.media[0].mid(), Some("0"));
    let video = &offer.media[1];
    assert_eq!(video.direction(), Some(Direction::Inactive));
    assert!(video.ssrcs().is_empty() && video.msid().is_none());
    assert_eq!(video.codecs(), current.media[1].codecs());
    assert_eq!(offer.bundle_group().unwrap().mids, ["1", "2"]);
    // The candidates move to the first section still in use.
    assert_eq!(video.candidates().count(), 2);

    // A kind change for an existing mid is refused.
    let options = OfferOptions {
        previous: Some(&current),
        media: vec![OfferMedia::send("1", MediaKind::Audio, stream(1, None, "t"))],
        stopped: vec![],
    };
    assert!(matches!(
        create_offer(&local(), &options),
        Err(NegotiationError::InvalidRequest { .. })
    ));
}
