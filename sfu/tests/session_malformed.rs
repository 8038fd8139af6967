//! Malformed-input injection: random, truncated, bit-flipped and extended datagrams of every
//! RFC 7983 class, from the browser's checked 5-tuple and from a stranger, into sessions in
//! every state. Nothing may panic, every datagram must land in exactly the counters its class
//! allows, no state may change, and a connected session must still carry media afterwards.

mod session_support;

use std::net::SocketAddr;
use std::time::Duration;

use dtls::Role;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use session_support::{is_dtls, Options, Pair};
use sfu::session::{ConnectionState, SessionStatsSnapshot};

const STRANGER: &str = "203.0.113.9:7000";

/// First bytes of each class (RFC 7983 §7), and of nothing.
const CLASS_RANGES: [(u8, u8); 5] = [(0, 3), (20, 63), (128, 191), (4, 19), (192, 255)];

/// A datagram made up from `samples` (real traffic) or from nothing. Never an unchanged
/// sample: a replayed valid check would legitimately teach the session a new pair.
fn garbage(rng: &mut SmallRng, samples: &[Vec<u8>]) -> Vec<u8> {
    let sample = &samples[rng.gen_range(0..samples.len())];
    match rng.gen_range(0..5) {
        // Random bytes behind a first byte of a chosen class.
        0 => {
            let (low, high) = CLASS_RANGES[rng.gen_range(0..CLASS_RANGES.len())];
            let len = rng.gen_range(0..1500);
            let mut d: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            if let Some(first) = d.first_mut() {
                *first = rng.gen_range(low..=high);
            }
            d
        }
        // A strict prefix.
        1 => sample[..rng.gen_range(0..sample.len())].to_vec(),
        // One to eight bytes changed. In a STUN check only bytes up to MESSAGE-INTEGRITY:
        // a change in the trailing FINGERPRINT can leave a check that is valid without it,
        // which is a replay, and a replayed check from a new address is a new pair
        // (RFC 8445 §7.3.1.3), not garbage.
        2 => {
            let mut d = sample.clone();
            let end = if matches!(d[0], 0..=3) && d.len() > 8 { d.len() - 8 } else { d.len() };
            for _ in 0..rng.gen_range(1..=8) {
                let i = rng.gen_range(0..end);
                d[i] ^= rng.gen_range(1..=255u8);
            }
            d
        }
        // Extra bytes at the end.
        3 => {
            let mut d = sample.clone();
            let extra = rng.gen_range(1..64);
            d.extend((0..extra).map(|_| rng.gen::<u8>()));
            d
        }
        // RTP/RTCP header fields that claim more than there is: CSRC count, extension bit,
        // padding bit, and a length word of an RTCP header.
        _ => {
            let mut d = sample.clone();
            d[0] = 0x80 | rng.gen_range(0..0x40u8);
            if d.len() > 3 {
                d[2] = rng.gen();
                d[3] = rng.gen();
            }
            d
        }
    }
}

fn delta(after: u64, before: u64) -> u64 {
    after - before
}

/// Checks that one datagram was counted as its class allows.
fn assert_accounted(datagram: &[u8], b: &SessionStatsSnapshot, a: &SessionStatsSnapshot) {
    assert_eq!(delta(a.datagrams_received, b.datagrams_received), 1);
    assert_eq!(delta(a.bytes_received, b.bytes_received), datagram.len() as u64);
    let drops = delta(a.malformed_dropped, b.malformed_dropped)
        + delta(a.unchecked_source_dropped, b.unchecked_source_dropped)
        + delta(a.inactive_dropped, b.inactive_dropped);
    let srtp = delta(a.rtp_decrypted, b.rtp_decrypted)
        + delta(a.rtcp_decrypted, b.rtcp_decrypted)
        + delta(a.srtp_auth_failed, b.srtp_auth_failed)
        + delta(a.srtp_replayed, b.srtp_replayed)
        + delta(a.srtp_before_keys, b.srtp_before_keys)
        + delta(a.srtp_refused, b.srtp_refused);
    let stun = delta(a.stun_received, b.stun_received);
    let dtls = delta(a.dtls_received, b.dtls_received);
    let context = format!("{datagram:02x?}: {b:?} -> {a:?}");
    match datagram.first() {
        Some(0..=3) => {
            assert_eq!((stun, dtls, srtp), (1, 0, 0), "{context}");
            assert!(drops <= 1, "{context}");
        }
        Some(20..=63) => {
            assert_eq!((stun, dtls, srtp), (0, 1, 0), "{context}");
            assert!(drops <= 1, "{context}");
        }
        Some(128..=191) if datagram.len() >= 2 => {
            assert_eq!((stun, dtls), (0, 0), "{context}");
            assert_eq!(srtp + drops, 1, "exactly one outcome: {context}");
            // Nothing made up authenticates.
            assert_eq!(delta(a.rtp_decrypted, b.rtp_decrypted), 0, "{context}");
            assert_eq!(delta(a.rtcp_decrypted, b.rtcp_decrypted), 0, "{context}");
        }
        _ => {
            assert_eq!((stun, dtls, srtp), (0, 0, 0), "{context}");
            assert_eq!(delta(a.malformed_dropped, b.malformed_dropped), 1, "{context}");
            assert_eq!(drops, 1, "{context}");
        }
    }
}

/// Injects `count` garbage datagrams into the pair's session, half from the browser's
/// address and half from a stranger, checking the accounting of each and that neither the
/// state nor the events change.
///
/// With `dtls_from_browser` false, DTLS-class garbage comes only from the stranger. During a
/// handshake a well-formed handshake record of another association (a sample, or a mutation
/// that keeps it well-formed) from the peer's own address is indistinguishable from the
/// peer's: OpenSSL takes it (a foreign ClientHello or a buffered later message) and the real
/// handshake fails. No session can prevent that without the peer's keys; ICE consent
/// authenticates addresses, not datagrams.
fn inject_garbage(
    pair: &mut Pair,
    samples: &[Vec<u8>],
    seed: u64,
    count: usize,
    dtls_from_browser: bool,
) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let stranger: SocketAddr = STRANGER.parse().unwrap();
    pair.collect();
    let events = pair.session_events.len();
    let state = pair.session.state();
    let selected = pair.session.selected_pair();
    for _ in 0..count {
        let datagram = garbage(&mut rng, samples);
        let from = if rng.gen_bool(0.5) && (dtls_from_browser || !is_dtls(&datagram)) {
            pair.browser
        } else {
            stranger
        };
        let before = pair.stats();
        let mut buf = datagram.clone();
        pair.session.handle_receive(pair.now, pair.sfu, from, &mut buf);
        let after = pair.stats();
        assert_accounted(&datagram, &before, &after);
        // Answers (STUN errors) go only where the datagram came from.
        while let Some(t) = pair.session.poll_transmit() {
            assert!(t.remote == from || t.remote == pair.browser, "{t:?}");
        }
        if let Some(event) = pair.session.poll_event() {
            panic!("garbage caused {event:?} from {datagram:02x?}");
        }
    }
    assert_eq!(pair.session.state(), state);
    assert_eq!(pair.session.selected_pair(), selected);
    assert_eq!(pair.session_events.len(), events);
}

/// Real traffic of a whole session: checks, the DTLS handshake in both directions, SRTP and
/// SRTCP.
fn samples_of(pair: &mut Pair) -> Vec<Vec<u8>> {
    for i in 0..20u16 {
        pair.client.send_rtp(0x42, i, 0, 96, &[i as u8; 100]).unwrap();
    }
    pair.client.send_sender_report(0x42, 0, 20, 2000).unwrap();
    pair.session.send_rtp(pair.now, &[0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 9, 9]).unwrap();
    pair.flush();
    let mut samples = pair.delivered_to_session.clone();
    samples.extend(pair.delivered_to_client.iter().cloned());
    samples.retain(|s| !s.is_empty());
    samples
}

#[test]
fn garbage_into_a_connected_session_is_counted_and_harmless() {
    for (seed, role) in [(1, Role::Server), (2, Role::Client)] {
        let mut pair = Pair::new(Options { seed, session_role: role, ..Options::default() });
        pair.connect();
        let samples = samples_of(&mut pair);
        assert!(samples.iter().any(|s| is_dtls(s)));
        let decrypted = pair.stats().rtp_decrypted;
        inject_garbage(&mut pair, &samples, seed, 5000, true);
        assert_eq!(pair.stats().rtp_decrypted, decrypted);
        let s = pair.stats();
        assert!(
            s.malformed_dropped > 0 && s.srtp_auth_failed > 0 && s.unchecked_source_dropped > 0
        );

        // Still connected, both ways.
        assert_eq!(pair.session.state(), ConnectionState::Connected);
        for i in 100..110u16 {
            pair.client.send_rtp(0x42, i, 0, 96, b"still here").unwrap();
        }
        pair.session.send_rtp(pair.now, &[0x80, 96, 0, 2, 0, 0, 0, 0, 0, 0, 0, 5, 7]).unwrap();
        pair.flush();
        assert_eq!(pair.stats().rtp_decrypted, decrypted + 10);
        assert_eq!(pair.client.received_rtp().last().unwrap().payload, [7]);
        // And stays so: consent goes on.
        pair.advance(Duration::from_secs(60));
        assert_eq!(pair.session.state(), ConnectionState::Connected);
    }
}

#[test]
fn garbage_into_sessions_that_are_not_connected_is_counted_and_harmless() {
    // Samples from a finished run of another pair.
    let mut donor = Pair::new(Options::default());
    donor.connect();
    let samples = samples_of(&mut donor);

    for role in [Role::Server, Role::Client] {
        // New: no check yet.
        let mut pair = Pair::new(Options { session_role: role, ..Options::default() });
        inject_garbage(&mut pair, &samples, 10, 2000, false);
        assert_eq!(pair.session.state(), ConnectionState::New);
        // The same session still connects.
        pair.connect();

        // Connecting: ICE done, DTLS held back.
        let mut pair = Pair::new(Options { session_role: role, ..Options::default() });
        pair.filter = Some(Box::new(|_, d: &mut Vec<u8>| !is_dtls(d)));
        pair.run_until(Duration::from_secs(5), |p| {
            p.session.state() == ConnectionState::Connecting
        });
        inject_garbage(&mut pair, &samples, 11, 2000, false);
        pair.filter = None;
        pair.connect();
        pair.client.send_rtp(1, 1, 0, 96, b"ok").unwrap();
        pair.flush();
        assert_eq!(pair.stats().rtp_decrypted, 1);
    }
}
