//! What a session does when things go wrong: certificate mismatch, tampered and replayed
//! SRTP, SRTP before the keys, DTLS from a stranger, a ClientHello that beats the
//! nomination, consent expiry and recovery, and a browser that never shows up.

mod session_support;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use dtls::Role;
use session_support::{
    is_dtls, is_nomination, is_srtcp, is_srtp, is_stun, payload, Direction, Options, Pair,
};
use sfu::session::{ConnectionState, SessionEvent, SessionSendError};
use sfu::test_client::TestClientEvent;

fn failure_reason(pair: &Pair) -> String {
    match pair.session_events.last() {
        Some(SessionEvent::Failed(reason)) => reason.clone(),
        other => panic!("the session did not fail: {other:?}"),
    }
}

/// An RTP packet as plain bytes, with room for nothing: what a stranger might send.
fn plain_rtp(seq: u16) -> Vec<u8> {
    let mut packet = Vec::new();
    rtp::RtpHeaderWriter { payload_type: 96, sequence_number: seq, ssrc: 9, ..Default::default() }
        .append_packet(&[0u8; 40], &mut packet)
        .unwrap();
    packet
}

fn plain_rtcp() -> Vec<u8> {
    let mut packet = Vec::new();
    rtcp::CompoundBuilder::new(&mut packet)
        .push(&rtcp::ReceiverReportBuilder { ssrc: 9, report_blocks: &[] })
        .unwrap();
    // Room an SRTCP trailer would take.
    packet.extend_from_slice(&[0u8; 20]);
    packet
}

#[test]
fn session_refuses_a_certificate_that_does_not_match_the_offer() {
    for role in [Role::Server, Role::Client] {
        let mut pair = Pair::new(Options {
            session_role: role,
            session_expects_wrong_fingerprint: true,
            ..Options::default()
        });
        pair.run_until(Duration::from_secs(30), |p| p.session.state() == ConnectionState::Failed);
        let reason = failure_reason(&pair);
        assert!(
            reason.contains("fingerprint") || reason.contains("certificate"),
            "{role:?}: {reason}"
        );
        assert!(pair.session.srtp_profile().is_none());
        assert_eq!(pair.session.poll_timeout(), None);
        // Our alert reaches the client, which fails too and never gets keys.
        pair.flush();
        assert!(!pair.client.has_keys(), "{role:?}");
        assert!(
            pair.client_events.iter().any(|e| matches!(e, TestClientEvent::Failed(_))),
            "{role:?}: {:?}",
            pair.client_events
        );
        // Whatever comes next is dropped without touching SRTP.
        let browser = pair.browser;
        pair.inject(browser, &plain_rtp(1));
        let s = pair.stats();
        assert_eq!((s.rtp_decrypted, s.rtcp_decrypted, s.srtp_before_keys), (0, 0, 0));
        assert_eq!(s.inactive_dropped, 1);
        assert_eq!(pair.session.state(), ConnectionState::Failed);
    }
}

#[test]
fn client_refusing_our_certificate_fails_the_session() {
    for role in [Role::Server, Role::Client] {
        let mut pair = Pair::new(Options {
            session_role: role,
            client_expects_wrong_fingerprint: true,
            ..Options::default()
        });
        pair.run_until(Duration::from_secs(30), |p| p.session.state() == ConnectionState::Failed);
        assert!(pair.client.failure().is_some(), "{role:?}");
        assert!(pair.session.srtp_profile().is_none(), "{role:?}");
        assert_eq!(pair.stats().rtp_decrypted, 0);
    }
}

#[test]
fn tampered_srtp_fails_authentication_and_the_stream_goes_on() {
    let mut pair = Pair::new(Options::default());
    pair.connect();
    let rtcp_seen = Rc::new(RefCell::new(0u32));
    let seen = Rc::clone(&rtcp_seen);
    pair.filter = Some(Box::new(move |direction, d: &mut Vec<u8>| {
        if direction == Direction::ToSession && is_srtp(d) {
            match u16::from_be_bytes([d[2], d[3]]) {
                10 => d[20] ^= 0x01, // payload bit
                20 => d[3] = 21,     // sequence number in the authenticated header
                30 => d[11] ^= 0x80, // SSRC
                40 => {
                    let last = d.len() - 1;
                    d[last] ^= 0xff; // tag
                }
                _ => {}
            }
        }
        if direction == Direction::ToSession && is_srtcp(d) {
            *seen.borrow_mut() += 1;
            if *seen.borrow() == 2 {
                let index = d.len() - 17; // AES-GCM: 16-byte tag after the 4-byte index
                d[index] ^= 0x01;
            }
        }
        true
    }));
    for i in 0..100u16 {
        pair.client.send_rtp(0x77, i, u32::from(i) * 90, 96, &payload(i, 50)).unwrap();
        if i % 20 == 0 {
            pair.client.send_sender_report(0x77, u32::from(i) * 90, u32::from(i), 0).unwrap();
        }
        pair.flush();
    }
    let s = pair.stats();
    assert_eq!(s.srtp_auth_failed, 5, "{s:?}");
    // Packet 20 was rewritten to look like 21; the real 21 still decrypts.
    assert_eq!(s.rtp_decrypted, 96, "{s:?}");
    assert_eq!(s.rtcp_decrypted, 4, "{s:?}");
    assert_eq!(s.srtp_replayed, 0, "{s:?}");

    // A replayed packet is refused as such.
    pair.filter = None;
    let last_rtp = pair.delivered_to_session.iter().rev().find(|d| is_srtp(d)).unwrap().clone();
    let browser = pair.browser;
    pair.inject(browser, &last_rtp);
    assert_eq!(pair.stats().srtp_replayed, 1);

    // Later packets decrypt.
    for i in 100..110u16 {
        pair.client.send_rtp(0x77, i, u32::from(i) * 90, 96, &payload(i, 50)).unwrap();
    }
    pair.flush();
    let s = pair.stats();
    assert_eq!((s.rtp_decrypted, s.srtp_auth_failed, s.srtp_replayed), (106, 5, 1), "{s:?}");
}

#[test]
fn srtp_before_the_handshake_is_counted_and_dropped() {
    let mut pair = Pair::new(Options::default());
    let browser = pair.browser;
    // Before any check: the 5-tuple is unknown.
    pair.inject(browser, &plain_rtp(1));
    assert_eq!(pair.stats().unchecked_source_dropped, 1);
    assert_eq!(pair.stats().srtp_before_keys, 0);

    // ICE completes, DTLS is held back.
    pair.filter = Some(Box::new(|_, d: &mut Vec<u8>| !is_dtls(d)));
    pair.run_until(Duration::from_secs(5), |p| p.session.state() == ConnectionState::Connecting);
    pair.inject(browser, &plain_rtp(2));
    pair.inject(browser, &plain_rtcp());
    let s = pair.stats();
    assert_eq!(s.srtp_before_keys, 2, "{s:?}");
    assert_eq!((s.rtp_decrypted, s.rtcp_decrypted, s.srtp_auth_failed), (0, 0, 0));

    pair.filter = None;
    pair.connect();
    pair.client.send_rtp(5, 1, 0, 96, b"after").unwrap();
    pair.flush();
    assert_eq!(pair.stats().rtp_decrypted, 1);
    assert_eq!(pair.stats().srtp_before_keys, 2);
}

#[test]
fn dtls_from_an_unchecked_five_tuple_is_dropped() {
    let mut pair = Pair::new(Options::default());
    let (sfu, browser) = (pair.sfu, pair.browser);
    let stranger: SocketAddr = "198.51.100.7:50124".parse().unwrap();

    // Capture the client's ClientHello and keep DTLS away from the session.
    let hellos = Rc::new(RefCell::new(Vec::<Vec<u8>>::new()));
    let captured = Rc::clone(&hellos);
    pair.filter = Some(Box::new(move |direction, d: &mut Vec<u8>| {
        if direction == Direction::ToSession && is_dtls(d) {
            captured.borrow_mut().push(d.clone());
            return false;
        }
        true
    }));
    pair.run_until(Duration::from_secs(5), |_| !hellos.borrow().is_empty());
    let hello = hellos.borrow()[0].clone();
    assert_eq!((hello[0], hello[13]), (22, 1), "a ClientHello");
    pair.collect();
    let events_before = pair.session_events.len();

    // The same ClientHello from a port no check came from.
    let mut copy = hello.clone();
    pair.session.handle_receive(pair.now, sfu, stranger, &mut copy);
    let s = pair.stats();
    assert_eq!((s.unchecked_source_dropped, s.dtls_received), (1, 1), "{s:?}");
    assert_eq!(pair.session.dtls_stats().datagrams_received, 0);
    while let Some(t) = pair.session.poll_transmit() {
        assert_ne!(t.remote, stranger, "nothing goes to the stranger");
    }
    pair.collect();
    assert_eq!(pair.session_events.len(), events_before, "{:?}", pair.session_events);
    assert_ne!(pair.session.selected_pair().map(|p| p.remote), Some(stranger));

    // The real one from the checked pair goes through.
    pair.filter = None;
    pair.connect();
    assert_eq!(pair.session.selected_pair().unwrap().remote, browser);
    assert_eq!(pair.stats().unchecked_source_dropped, 1);
}

#[test]
fn client_hello_on_a_checked_pair_selects_it_before_the_nomination() {
    let mut pair = Pair::new(Options::default());
    let (sfu, browser) = (pair.sfu, pair.browser);
    // The network loses every nomination: only the first check and DTLS get through.
    pair.filter = Some(Box::new(|direction, d: &mut Vec<u8>| {
        !(direction == Direction::ToSession && is_nomination(d))
    }));
    pair.run_until(Duration::from_secs(10), |p| p.session.state() == ConnectionState::Connected);
    assert!(!pair.delivered_to_session.iter().any(|d| is_nomination(d)));
    assert_eq!(
        pair.session_events,
        [
            SessionEvent::PairDiscovered { local: sfu, remote: browser },
            SessionEvent::SelectedPairChanged { local: sfu, remote: browser },
            SessionEvent::IceConnected,
            SessionEvent::Connected,
        ]
    );
    // The session's DTLS answers went to the pair the ClientHello came from.
    pair.flush();
    assert!(pair.delivered_to_client.iter().any(|d| is_dtls(d)));
    // Without a nomination the client's ICE is not connected, but it has keys.
    assert!(pair.client.has_keys());
    assert!(!pair.client.is_connected());
    pair.client.send_rtp(1, 1, 0, 96, b"early").unwrap();
    pair.flush();
    assert_eq!(pair.stats().rtp_decrypted, 1);

    // The nomination arrives at last and confirms the same pair.
    pair.filter = None;
    pair.connect();
    assert_eq!(pair.session.selected_pair().unwrap().remote, browser);
    assert_eq!(
        pair.session_events
            .iter()
            .filter(|e| matches!(e, SessionEvent::SelectedPairChanged { .. }))
            .count(),
        1
    );
}

#[test]
fn consent_expiry_disconnects_and_checks_bring_the_session_back() {
    let mut pair = Pair::new(Options::default());
    pair.connect();
    pair.client.send_rtp(3, 1, 0, 96, b"before").unwrap();
    pair.flush();
    let events_before = pair.session_events.len();

    // No STUN reaches the session any more.
    pair.filter = Some(Box::new(|direction, d: &mut Vec<u8>| {
        !(direction == Direction::ToSession && is_stun(d))
    }));
    pair.run_until(Duration::from_secs(40), |p| {
        p.session_events.contains(&SessionEvent::IceDisconnected)
    });
    let last_check = pair.last_stun_to_session.unwrap();
    assert_eq!(pair.now - last_check, Duration::from_secs(30), "consent lasts 30 s (RFC 7675)");
    assert_eq!(pair.session_events[events_before..], [SessionEvent::IceDisconnected]);
    assert_eq!(pair.session.state(), ConnectionState::Disconnected);
    let packet = [0x80, 96, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3];
    assert_eq!(pair.session.send_rtp(pair.now, &packet), Err(SessionSendError::ConsentExpired));

    // Checks get through again.
    pair.filter = None;
    pair.run_until(Duration::from_secs(60), |p| {
        p.session_events.last() == Some(&SessionEvent::IceConnected)
    });
    assert_eq!(
        pair.session_events[events_before..],
        [SessionEvent::IceDisconnected, SessionEvent::IceConnected]
    );
    assert_eq!(pair.session.state(), ConnectionState::Connected);
    pair.session.send_rtp(pair.now, &packet).unwrap();
    pair.client.send_rtp(3, 2, 0, 96, b"after").unwrap();
    pair.flush();
    assert_eq!(pair.stats().rtp_decrypted, 2);
    assert_eq!(pair.client.received_rtp().last().unwrap().payload, [1, 2, 3]);
}

#[test]
fn consent_is_checked_at_send_time() {
    let mut pair = Pair::new(Options::default());
    pair.connect();
    pair.filter = Some(Box::new(|_, d: &mut Vec<u8>| !is_stun(d)));
    let deadline = pair.session.poll_timeout().unwrap();
    // The driver has not called handle_timeout yet, but the deadline has passed.
    let packet = [0x80, 96, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3];
    assert!(pair.session.send_rtp(deadline - Duration::from_millis(1), &packet).is_ok());
    assert_eq!(pair.session.send_rtp(deadline, &packet), Err(SessionSendError::ConsentExpired));
}

#[test]
fn a_session_that_never_connects_fails_at_the_deadline() {
    for role in [Role::Server, Role::Client] {
        // Nothing reaches the session.
        let mut pair = Pair::new(Options { session_role: role, ..Options::default() });
        pair.filter = Some(Box::new(|direction, _: &mut Vec<u8>| direction == Direction::ToClient));
        pair.run_until(Duration::from_secs(31), |p| p.session.state() == ConnectionState::Failed);
        assert_eq!(pair.now - pair.start, Duration::from_secs(30), "{role:?}");
        let reason = failure_reason(&pair);
        assert!(reason.contains("no ICE pair was selected within 30s"), "{role:?}: {reason}");
        assert_eq!(pair.session.poll_timeout(), None);

        // ICE completes but DTLS never does.
        let mut pair = Pair::new(Options { session_role: role, ..Options::default() });
        pair.filter = Some(Box::new(|_, d: &mut Vec<u8>| !is_dtls(d)));
        pair.run_until(Duration::from_secs(31), |p| p.session.state() == ConnectionState::Failed);
        assert_eq!(pair.now - pair.start, Duration::from_secs(30), "{role:?}");
        assert!(pair.session_events.contains(&SessionEvent::IceConnected));
        let reason = failure_reason(&pair);
        assert!(reason.contains("DTLS handshake did not complete within 30s"), "{reason}");
        assert_eq!(pair.stats().rtp_decrypted, 0);
    }
}

#[test]
fn srtp_from_an_unchecked_five_tuple_is_dropped() {
    let mut pair = Pair::new(Options::default());
    pair.connect();
    let stranger: SocketAddr = "203.0.113.5:9".parse().unwrap();
    pair.client.send_rtp(8, 1, 0, 96, b"genuine").unwrap();
    let packet = pair.client.poll_transmit().unwrap().datagram;
    // A copy from elsewhere first: dropped without touching the replay window.
    pair.inject(stranger, &packet);
    let s = pair.stats();
    assert_eq!((s.unchecked_source_dropped, s.rtp_decrypted, s.srtp_replayed), (1, 0, 0));
    let browser = pair.browser;
    pair.inject(browser, &packet);
    assert_eq!(pair.stats().rtp_decrypted, 1);
}

#[test]
fn a_client_that_moves_is_followed_and_both_pairs_are_accepted() {
    let mut pair = Pair::new(Options::default());
    pair.connect();
    let (sfu, old) = (pair.sfu, pair.browser);
    let moved: SocketAddr = "198.51.100.99:6000".parse().unwrap();
    pair.client.rebind(pair.now, moved);
    pair.run_until(Duration::from_secs(5), |p| {
        p.session.selected_pair().is_some_and(|s| s.remote == moved)
    });
    assert!(pair.session_events.ends_with(&[
        SessionEvent::PairDiscovered { local: sfu, remote: moved },
        SessionEvent::SelectedPairChanged { local: sfu, remote: moved },
    ]));
    assert_eq!(pair.session.state(), ConnectionState::Connected);

    // Media from the new address, and a late packet from the old one (still a checked
    // pair), both decrypt.
    pair.client.send_rtp(8, 1, 0, 96, b"new").unwrap();
    pair.client.send_rtp(8, 2, 0, 96, b"late").unwrap();
    let first = pair.client.poll_transmit().unwrap();
    let second = pair.client.poll_transmit().unwrap();
    assert_eq!((first.local, second.local), (moved, moved));
    pair.inject(moved, &first.datagram);
    pair.inject(old, &second.datagram);
    assert_eq!(pair.stats().rtp_decrypted, 2);
    // What the session sends goes to the new address.
    pair.session.send_rtp(pair.now, &[0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 1]).unwrap();
    let t = pair.session.poll_transmit().unwrap();
    assert_eq!((t.local, t.remote), (sfu, moved));
}
