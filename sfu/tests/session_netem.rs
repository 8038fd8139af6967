//! A session and the test client over a seeded lossy network: 20% loss, 10% duplication and
//! up to 30 ms of jitter (which reorders), in both directions, for several seeds and both
//! DTLS roles. The handshake must complete within bounded steps and virtual time, and every
//! distinct SRTP/SRTCP packet that got through must be decrypted exactly once, duplicates
//! being counted as replays.

mod session_support;

use std::collections::HashSet;
use std::time::Duration;

use dtls::Role;
use session_support::{is_srtcp, is_srtp, payload, rtp_sequence, Netem, Options, Pair};

/// What the network delivered to one side: distinct packets and all copies.
struct Delivered {
    rtp_distinct: u64,
    rtp_copies: u64,
    rtcp_distinct: u64,
    rtcp_copies: u64,
    reordered: bool,
}

fn count(delivered: &[Vec<u8>]) -> Delivered {
    let rtp: Vec<&Vec<u8>> = delivered.iter().filter(|d| is_srtp(d)).collect();
    let rtcp: Vec<&Vec<u8>> = delivered.iter().filter(|d| is_srtcp(d)).collect();
    let sequences: Vec<u16> = rtp.iter().map(|d| rtp_sequence(d)).collect();
    let distinct_sequences: HashSet<u16> = sequences.iter().copied().collect();
    let distinct_rtcp: HashSet<&Vec<u8>> = rtcp.iter().copied().collect();
    Delivered {
        rtp_distinct: distinct_sequences.len() as u64,
        rtp_copies: rtp.len() as u64,
        rtcp_distinct: distinct_rtcp.len() as u64,
        rtcp_copies: rtcp.len() as u64,
        reordered: sequences.windows(2).any(|w| w[1] < w[0]),
    }
}

fn lossy_run(seed: u64, session_role: Role) {
    let mut pair = Pair::new(Options {
        seed,
        session_role,
        netem: Some(Netem::lossy(seed)),
        // Faster DTLS retransmissions than the RFC's 1 s keep the virtual run short; the
        // schedule (doubling to a cap) is the same.
        dtls_rto: Some((Duration::from_millis(200), Duration::from_secs(2))),
        // The test client checks again when a check exhausts its retransmissions; a short
        // first RTO (the network's delay is at most 35 ms) lets it start over inside the
        // 30 s connect deadline when a run of losses hits one check.
        client_ice: ice::ControllingConfig {
            rto: Duration::from_millis(100),
            ..ice::ControllingConfig::default()
        },
        ..Options::default()
    });
    pair.connect();
    let connected_at = pair.now - pair.start;
    assert!(
        connected_at < Duration::from_secs(20),
        "seed {seed}: connected after {connected_at:?}"
    );
    let to_session_before = pair.delivered_to_session.len();
    let to_client_before = pair.delivered_to_client.len();

    // 100 RTP packets and 5 sender reports each way, one every 5 ms.
    for i in 0..100u16 {
        pair.client.send_rtp(0x5eed, i, 90 * u32::from(i), 96, &payload(i, 64)).unwrap();
        let mut packet = Vec::new();
        rtp::RtpHeaderWriter {
            payload_type: 100,
            sequence_number: 30_000 + i,
            timestamp: 90 * u32::from(i),
            ssrc: 0xfeed,
            ..Default::default()
        }
        .append_packet(&payload(i, 80), &mut packet)
        .unwrap();
        pair.session.send_rtp(pair.now, &packet).unwrap();
        if i % 20 == 0 {
            pair.client.send_sender_report(0x5eed, 90 * u32::from(i), u32::from(i), 0).unwrap();
            let mut report = Vec::new();
            rtcp::CompoundBuilder::new(&mut report)
                .push(&rtcp::SenderReportBuilder { ssrc: 0xfeed, ..Default::default() })
                .unwrap();
            pair.session.send_rtcp(pair.now, &report).unwrap();
        }
        pair.advance(Duration::from_millis(5));
    }
    pair.flush();
    assert!(pair.now - pair.start < Duration::from_secs(30), "seed {seed}: bounded virtual time");

    let at_session = count(&pair.delivered_to_session[to_session_before..]);
    let s = pair.stats();
    assert_eq!(s.rtp_decrypted, at_session.rtp_distinct, "seed {seed}: {s:?}");
    assert_eq!(s.rtcp_decrypted, at_session.rtcp_distinct, "seed {seed}: {s:?}");
    assert_eq!(
        s.srtp_replayed,
        at_session.rtp_copies - at_session.rtp_distinct + at_session.rtcp_copies
            - at_session.rtcp_distinct,
        "seed {seed}: {s:?}"
    );
    assert_eq!(s.srtp_auth_failed + s.srtp_before_keys + s.malformed_dropped, 0, "{s:?}");
    assert_eq!(s.rtp_bytes_decrypted, 64 * at_session.rtp_distinct);
    // Something was lost, so fewer than all, but most got through.
    assert!((60..100).contains(&s.rtp_decrypted), "seed {seed}: {s:?}");

    let at_client = count(&pair.delivered_to_client[to_client_before..]);
    let c = pair.client.stats();
    assert_eq!(c.rtp_decrypted, at_client.rtp_distinct, "seed {seed}: {c:?}");
    assert_eq!(c.rtcp_decrypted, at_client.rtcp_distinct, "seed {seed}: {c:?}");
    assert_eq!(
        c.srtp_replayed,
        at_client.rtp_copies - at_client.rtp_distinct + at_client.rtcp_copies
            - at_client.rtcp_distinct,
        "seed {seed}: {c:?}"
    );
    assert_eq!(c.srtp_auth_failed, 0);
    let mut sequences: Vec<u16> =
        pair.client.received_rtp().iter().map(|p| p.sequence_number).collect();
    sequences.sort_unstable();
    sequences.dedup();
    assert_eq!(sequences.len() as u64, c.rtp_decrypted, "each packet decrypted once");

    // The network really was impaired.
    assert!(pair.lost > 0 && pair.duplicated > 0, "seed {seed}");
    assert!(at_session.reordered || at_client.reordered, "seed {seed}: some reordering");
}

#[test]
fn lossy_network_session_as_dtls_server() {
    for seed in 1..=12 {
        lossy_run(seed, Role::Server);
    }
}

#[test]
fn lossy_network_session_as_dtls_client() {
    for seed in 101..=110 {
        lossy_run(seed, Role::Client);
    }
}
