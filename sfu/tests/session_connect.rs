//! A session and the in-memory test client over a perfect network: ICE, DTLS and SRTP in
//! both directions, for every SRTP profile and both DTLS roles.

mod session_support;

use std::time::Duration;

use dtls::{Role, SrtpProfile};
use session_support::{payload, Options, Pair};
use sfu::session::{ConnectionState, SessionEvent, SessionSendError};
use sfu::test_client::TestClientEvent;

const PROFILES: [(SrtpProfile, srtp::ProtectionProfile); 4] = [
    (SrtpProfile::AEAD_AES_128_GCM, srtp::ProtectionProfile::AeadAes128Gcm),
    (SrtpProfile::AEAD_AES_256_GCM, srtp::ProtectionProfile::AeadAes256Gcm),
    (SrtpProfile::AES128_CM_SHA1_80, srtp::ProtectionProfile::Aes128CmHmacSha1_80),
    (SrtpProfile::AES128_CM_SHA1_32, srtp::ProtectionProfile::Aes128CmHmacSha1_32),
];

const ALL_PROFILES: [SrtpProfile; 4] = [
    SrtpProfile::AEAD_AES_128_GCM,
    SrtpProfile::AEAD_AES_256_GCM,
    SrtpProfile::AES128_CM_SHA1_80,
    SrtpProfile::AES128_CM_SHA1_32,
];

/// The client sends 100 RTP packets and 5 sender reports; the session must decrypt exactly
/// those. Returns the payload bytes sent.
fn client_sends_media(pair: &mut Pair) -> u64 {
    let mut bytes = 0;
    for i in 0..100u16 {
        let body = payload(i, 20 + usize::from(i) * 2);
        bytes += body.len() as u64;
        pair.client.send_rtp(0x1111_2222, 1000 + i, 90 * u32::from(i), 96, &body).unwrap();
        if i % 20 == 19 {
            pair.client
                .send_sender_report(0x1111_2222, 90 * u32::from(i), u32::from(i), 0)
                .unwrap();
        }
    }
    pair.flush();
    bytes
}

/// The session sends 50 RTP packets and 3 RTCP packets with `send_*`, and one RTP packet
/// protected with `protect_rtp` and handed over by hand; the client must decrypt them all.
fn session_sends_media(pair: &mut Pair) {
    let mut expected = Vec::new();
    for i in 0..50u16 {
        let body = payload(i + 7, 100 + usize::from(i));
        let mut packet = Vec::new();
        rtp::RtpHeaderWriter {
            payload_type: 111,
            sequence_number: 60_000 + i, // wraps through 65535
            timestamp: 960 * u32::from(i),
            ssrc: 0xabcd_0001,
            marker: i % 10 == 0,
            ..Default::default()
        }
        .append_packet(&body, &mut packet)
        .unwrap();
        pair.session.send_rtp(pair.now, &packet).unwrap();
        expected.push((0xabcd_0001u32, 60_000u16.wrapping_add(i), body, i % 10 == 0));
    }
    let mut reports = Vec::new();
    for i in 0..3u32 {
        let mut compound = Vec::new();
        rtcp::CompoundBuilder::new(&mut compound)
            .push(&rtcp::ReceiverReportBuilder { ssrc: 0xabcd_0001 + i, report_blocks: &[] })
            .unwrap()
            .push(&rtcp::PliBuilder { sender_ssrc: 0xabcd_0001, media_ssrc: 0x1111_2222 })
            .unwrap();
        pair.session.send_rtcp(pair.now, &compound).unwrap();
        reports.push(compound);
    }
    pair.flush();

    // A driver protecting in its own buffer.
    let body = payload(999, 300);
    let mut buf = vec![0u8; 1500];
    let header = rtp::RtpHeaderWriter {
        payload_type: 111,
        sequence_number: 60_050,
        timestamp: 48_000,
        ssrc: 0xabcd_0001,
        ..Default::default()
    };
    let len = header.write_packet(&body, &mut buf).unwrap();
    let protected = pair.session.protect_rtp(&mut buf, len).unwrap();
    assert!(protected > len, "a tag was appended");
    let selected = pair.session.selected_pair().unwrap();
    pair.client.handle_receive(pair.now, selected.remote, selected.local, &buf[..protected]);
    expected.push((0xabcd_0001, 60_050, body, false));

    let received: Vec<_> = pair
        .client
        .received_rtp()
        .iter()
        .map(|p| (p.ssrc, p.sequence_number, p.payload.clone(), p.marker))
        .collect();
    assert_eq!(received, expected);
    assert!(pair.client.received_rtp().iter().all(|p| p.payload_type == 111));
    assert_eq!(pair.client.received_rtcp(), &reports[..]);
    let stats = pair.client.stats();
    assert_eq!((stats.rtp_decrypted, stats.rtcp_decrypted), (51, 3));
    assert_eq!((stats.srtp_auth_failed, stats.srtp_replayed, stats.dropped), (0, 0, 0));
}

fn assert_clean_receive(pair: &Pair, rtp: u64, rtp_bytes: u64, rtcp: u64) {
    let s = pair.stats();
    assert_eq!(s.rtp_decrypted, rtp, "{s:?}");
    assert_eq!(s.rtp_bytes_decrypted, rtp_bytes, "{s:?}");
    assert_eq!(s.rtcp_decrypted, rtcp, "{s:?}");
    assert_eq!(s.srtp_auth_failed, 0, "{s:?}");
    assert_eq!(s.srtp_replayed, 0, "{s:?}");
    assert_eq!(s.srtp_before_keys, 0, "{s:?}");
    assert_eq!(s.malformed_dropped, 0, "{s:?}");
    assert_eq!(s.unchecked_source_dropped, 0, "{s:?}");
    assert_eq!(s.inactive_dropped, 0, "{s:?}");
    assert_eq!(s.srtp_refused, 0, "{s:?}");
}

/// Every datagram that went over the wire is counted once on the session's side.
fn assert_traffic_counted(pair: &Pair) {
    let s = pair.stats();
    let received = &pair.delivered_to_session;
    assert_eq!(s.datagrams_received, received.len() as u64);
    assert_eq!(s.bytes_received, received.iter().map(|d| d.len() as u64).sum::<u64>());
    assert_eq!(s.datagrams_sent, pair.delivered_to_client.len() as u64);
    assert_eq!(s.bytes_sent, pair.delivered_to_client.iter().map(|d| d.len() as u64).sum::<u64>());
    let stun = received.iter().filter(|d| session_support::is_stun(d)).count() as u64;
    let dtls = received.iter().filter(|d| session_support::is_dtls(d)).count() as u64;
    assert_eq!((s.stun_received, s.dtls_received), (stun, dtls));
}

#[test]
fn every_srtp_profile_connects_and_carries_media_both_ways() {
    for (dtls_profile, srtp_profile) in PROFILES {
        let mut pair = Pair::new(Options {
            session_profiles: vec![dtls_profile],
            client_profiles: ALL_PROFILES.to_vec(),
            ..Options::default()
        });
        assert_eq!(pair.session.state(), ConnectionState::New);
        pair.connect();
        let (sfu, browser) = (pair.sfu, pair.browser);
        assert_eq!(
            pair.session_events,
            [
                SessionEvent::PairDiscovered { local: sfu, remote: browser },
                SessionEvent::SelectedPairChanged { local: sfu, remote: browser },
                SessionEvent::IceConnected,
                SessionEvent::Connected,
            ],
            "{dtls_profile:?}"
        );
        assert_eq!(
            pair.client_events,
            [TestClientEvent::IceConnected, TestClientEvent::Connected],
            "{dtls_profile:?}"
        );
        assert_eq!(pair.session.srtp_profile(), Some(srtp_profile));
        assert_eq!(pair.client.srtp_profile(), Some(srtp_profile));
        let selected = pair.session.selected_pair().unwrap();
        assert_eq!((selected.local, selected.remote), (sfu, browser));
        assert!(pair.session.dtls_stats().datagrams_received > 0);

        let bytes = client_sends_media(&mut pair);
        assert_clean_receive(&pair, 100, bytes, 5);
        session_sends_media(&mut pair);
        assert_traffic_counted(&pair);
        // Connected: only the consent deadline is left.
        assert_eq!(pair.session.state(), ConnectionState::Connected);
        assert!(pair.session.poll_timeout().unwrap() > pair.now);
    }
}

#[test]
fn session_as_dtls_client_connects_after_selection() {
    for (dtls_profile, srtp_profile) in PROFILES {
        let mut pair = Pair::new(Options {
            session_role: Role::Client,
            session_profiles: ALL_PROFILES.to_vec(),
            client_profiles: vec![dtls_profile],
            ..Options::default()
        });
        pair.connect();
        assert_eq!(pair.session.dtls_role(), Role::Client);
        let (sfu, browser) = (pair.sfu, pair.browser);
        assert_eq!(
            pair.session_events,
            [
                SessionEvent::PairDiscovered { local: sfu, remote: browser },
                SessionEvent::SelectedPairChanged { local: sfu, remote: browser },
                SessionEvent::IceConnected,
                SessionEvent::Connected,
            ]
        );
        assert_eq!(pair.session.srtp_profile(), Some(srtp_profile));
        // The first thing the session sent after its STUN responses was a ClientHello, and
        // only after the nomination (the second check it answered).
        let to_client = &pair.delivered_to_client;
        let first_dtls = to_client.iter().position(|d| session_support::is_dtls(d)).unwrap();
        assert_eq!(first_dtls, 2, "two STUN responses, then DTLS");
        assert_eq!(to_client[first_dtls][0], 22);
        assert_eq!(to_client[first_dtls][13], 1, "a ClientHello");

        let bytes = client_sends_media(&mut pair);
        assert_clean_receive(&pair, 100, bytes, 5);
        session_sends_media(&mut pair);
        assert_traffic_counted(&pair);
    }
}

#[test]
fn states_follow_ice_then_dtls() {
    let mut pair = Pair::new(Options::default());
    // Hold back DTLS to see the Connecting state.
    pair.filter = Some(Box::new(|_, d: &mut Vec<u8>| !session_support::is_dtls(d)));
    assert_eq!(pair.session.state(), ConnectionState::New);
    assert_eq!(
        pair.session.send_rtp(pair.now, &[0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]),
        Err(SessionSendError::NotConnected)
    );
    pair.run_until(Duration::from_secs(1), |p| {
        p.client.ice_state() == ice::ConnectionState::Connected
    });
    assert_eq!(pair.session.state(), ConnectionState::Connecting);
    assert!(pair.session.srtp_profile().is_none());
    let buf = &mut [
        0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    assert_eq!(pair.session.protect_rtp(buf, 12), Err(SessionSendError::NotConnected));
    // The DTLS retransmission timer of the client runs: the session has a deadline too.
    assert!(pair.session.poll_timeout().is_some());
    pair.filter = None;
    pair.connect();
    assert_eq!(pair.session.state(), ConnectionState::Connected);
}

#[test]
fn send_refuses_packets_of_the_wrong_kind() {
    let mut pair = Pair::new(Options::default());
    pair.connect();
    let now = pair.now;
    let rtcp =
        [0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    assert!(matches!(pair.session.send_rtp(now, &rtcp), Err(SessionSendError::InvalidPacket(_))));
    let rtp = [0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 42];
    assert!(matches!(pair.session.send_rtcp(now, &rtp), Err(SessionSendError::InvalidPacket(_))));
    assert!(matches!(pair.session.send_rtp(now, &[0x80]), Err(SessionSendError::InvalidPacket(_))));
    // A header that claims 15 CSRCs in 13 bytes.
    let short = [0x8f, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 42];
    assert!(matches!(pair.session.send_rtp(now, &short), Err(SessionSendError::Srtp(_))));
    // No room for the tag.
    let mut exact = rtp;
    assert!(matches!(
        pair.session.protect_rtp(&mut exact, rtp.len()),
        Err(SessionSendError::Srtp(srtp::Error::BufferTooSmall { .. }))
    ));
    assert!(matches!(
        pair.session.protect_rtp(&mut exact, rtp.len() + 1),
        Err(SessionSendError::Srtp(srtp::Error::BufferTooSmall { .. }))
    ));
    pair.collect();
    assert!(pair.client.received_rtp().is_empty());
    // The session still sends a good packet.
    pair.session.send_rtp(now, &rtp).unwrap();
    pair.flush();
    assert_eq!(pair.client.received_rtp().len(), 1);
}

#[test]
fn client_close_notify_closes_the_session() {
    let mut pair = Pair::new(Options::default());
    pair.connect();
    pair.client.close();
    pair.flush();
    assert_eq!(pair.session_events.last(), Some(&SessionEvent::Closed));
    assert_eq!(pair.session.state(), ConnectionState::Closed);
    assert_eq!(pair.session.poll_timeout(), None);
    assert_eq!(
        pair.session.send_rtp(pair.now, &[0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]),
        Err(SessionSendError::Closed)
    );
    // Whatever still arrives is dropped as inactive.
    let before = pair.stats();
    let (browser, now) = (pair.browser, pair.now);
    let mut stray =
        vec![0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    pair.session.handle_receive(now, pair.sfu, browser, &mut stray);
    let after = pair.stats();
    assert_eq!(after.inactive_dropped, before.inactive_dropped + 1);
    assert_eq!(after.srtp_before_keys, before.srtp_before_keys);
    assert!(pair.session.poll_transmit().is_none());
}

#[test]
fn session_close_sends_close_notify() {
    let mut pair = Pair::new(Options::default());
    pair.connect();
    pair.session.close();
    assert_eq!(pair.session.state(), ConnectionState::Closed);
    pair.flush();
    assert!(pair.client.is_closed());
    assert_eq!(pair.client_events.last(), Some(&TestClientEvent::Closed));
    assert!(!pair.session_events.contains(&SessionEvent::Closed), "no event for our own close");
    assert_eq!(pair.session.poll_timeout(), None);
}
