//! Two associations talking over a simulated link.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{config, Link, Pair};
use sctp::error_cause::ErrorCauseCode;
use sctp::{AbortReason, Config, Error, Event, PartialReliability, Ppid, SendOptions, State};

const ORDERED: SendOptions =
    SendOptions { unordered: false, reliability: PartialReliability::None };
const UNORDERED: SendOptions =
    SendOptions { unordered: true, reliability: PartialReliability::None };

fn big_config(seed: u64) -> Config {
    Config {
        max_message_size: 2 << 20,
        peer_max_message_size: 2 << 20,
        receive_buffer_size: 4 << 20,
        send_buffer_size: 8 << 20,
        ..config(seed)
    }
}

/// A message whose bytes depend on its index and size, to catch mix-ups.
fn message(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i * 31 + j * 7 + j / 251) as u8).collect()
}

#[test]
fn handshake_client_server() {
    let mut p = Pair::new(1, config(1), config(2));
    p.connect();
    assert_eq!(p.a.count(|e| *e == Event::Connected), 1);
    assert_eq!(p.b.count(|e| *e == Event::Connected), 1);
    assert_eq!(p.a.assoc.outbound_streams(), 65535);
    assert!(p.a.assoc.peer_supports_partial_reliability());
    assert!(p.b.assoc.peer_supports_stream_reset());
}

#[test]
fn handshake_simultaneous_init() {
    for seed in 0..4 {
        let mut p = Pair::simultaneous(seed, config(seed * 2 + 10), config(seed * 2 + 11));
        p.connect();
        p.drive_for(Duration::from_secs(1));
        assert_eq!(p.a.count(|e| *e == Event::Connected), 1, "seed {seed}");
        assert_eq!(p.b.count(|e| *e == Event::Connected), 1, "seed {seed}");
        p.a.assoc.send(p.now, 1, Ppid::BINARY, b"from a", ORDERED).unwrap();
        p.b.assoc.send(p.now, 1, Ppid::BINARY, b"from b", ORDERED).unwrap();
        p.drive_until(|p| !p.a.messages().is_empty() && !p.b.messages().is_empty());
        assert_eq!(p.b.messages(), [(1, b"from a".to_vec())]);
        assert_eq!(p.a.messages(), [(1, b"from b".to_vec())]);
    }
}

#[test]
fn handshake_survives_loss_with_t1_retransmission() {
    for seed in 0..6 {
        let mut p = Pair::simultaneous(seed, config(seed + 100), config(seed + 200));
        p.set_links(Link { loss: 0.4, ..Link::default() });
        p.connect();
        p.set_links(Link::default());
        p.a.assoc.send(p.now, 0, Ppid::STRING, b"x", ORDERED).unwrap();
        p.drive_until(|p| p.b.messages().len() == 1);
    }
}

#[test]
fn handshake_times_out_without_peer() {
    let mut p = Pair::new(3, config(3), config(4));
    let start = p.now;
    p.a_to_b.dead = true;
    p.drive_until(|p| p.a.assoc.is_closed());
    assert!(p.a.has(&Event::Aborted(AbortReason::HandshakeTimeout)));
    // The INIT and 8 retransmissions, T1 doubling from 1 s and capped at 60 s:
    // 1 + 2 + 4 + 8 + 16 + 32 + 60 + 60 + 60 seconds.
    assert_eq!(p.a.assoc.stats().packets_sent, 9);
    assert_eq!(p.now - start, Duration::from_secs(243));
    assert_eq!(p.a.assoc.poll_timeout(), None);
}

fn transfer(seed: u64, link: Link, sizes: &[usize], options: SendOptions) -> Pair {
    let mut p = Pair::new(seed, big_config(seed), big_config(seed + 1));
    p.connect();
    p.set_links(link);
    for (i, &len) in sizes.iter().enumerate() {
        p.a.assoc.send(p.now, 7, Ppid::BINARY, &message(i, len), options).unwrap();
    }
    let n = sizes.len();
    p.drive_until(|p| p.b.messages().len() == n);
    p
}

const SIZES: [usize; 14] =
    [1, 2, 3, 4, 100, 1071, 1072, 1073, 2144, 5000, 65_536, 100_000, 262_144, 1 << 20];

#[test]
fn ordered_messages_arrive_intact_and_in_order() {
    let p = transfer(5, Link::default(), &SIZES, ORDERED);
    let got = p.b.messages();
    for (i, &len) in SIZES.iter().enumerate() {
        assert_eq!(got[i], (7, message(i, len)), "message {i}");
    }
    let stats = p.a.assoc.stats();
    assert_eq!(stats.retransmitted_chunks, 0);
    assert!(stats.srtt.is_some());
}

#[test]
fn ordered_messages_survive_loss_duplication_and_reordering() {
    for seed in [11, 12, 13, 14] {
        let p = transfer(seed, Link::lossy(), &SIZES, ORDERED);
        let got = p.b.messages();
        for (i, &len) in SIZES.iter().enumerate() {
            assert_eq!(got[i], (7, message(i, len)), "seed {seed} message {i}");
        }
        let sent = p.a.assoc.stats();
        let received = p.b.assoc.stats();
        assert!(sent.retransmitted_chunks > 0, "seed {seed}: the loss must have been repaired");
        assert!(received.duplicate_data_chunks > 0, "seed {seed}: duplicates were seen");
    }
}

#[test]
fn unordered_messages_all_arrive() {
    for seed in [21, 22, 23] {
        let sizes: Vec<usize> = (0..300).map(|i| 1 + (i * 397) % 5000).collect();
        let p = transfer(seed, Link::lossy(), &sizes, UNORDERED);
        let got: HashSet<Vec<u8>> = p.b.messages().into_iter().map(|(_, d)| d).collect();
        let want: HashSet<Vec<u8>> =
            sizes.iter().enumerate().map(|(i, &len)| message(i, len)).collect();
        assert_eq!(got, want, "seed {seed}");
        assert!(p.b.events.iter().all(|e| !matches!(e, Event::Message { unordered: false, .. })));
    }
}

#[test]
fn many_streams_interleave_and_each_stays_ordered() {
    let mut p = Pair::new(31, big_config(31), big_config(32));
    p.connect();
    p.set_links(Link::lossy());
    for i in 0..400usize {
        let stream = (i % 5) as u16;
        p.a.assoc
            .send(p.now, stream, Ppid::BINARY, &message(i, 1 + i * 13 % 3000), ORDERED)
            .unwrap();
    }
    p.drive_until(|p| p.b.messages().len() == 400);
    for stream in 0..5u16 {
        let got: Vec<Vec<u8>> =
            p.b.messages().into_iter().filter(|(s, _)| *s == stream).map(|(_, d)| d).collect();
        let want: Vec<Vec<u8>> = (0..400usize)
            .filter(|i| i % 5 == stream as usize)
            .map(|i| message(i, 1 + i * 13 % 3000))
            .collect();
        assert_eq!(got, want, "stream {stream}");
    }
}

#[test]
fn both_directions_at_once() {
    let mut p = Pair::simultaneous(41, big_config(41), big_config(42));
    p.connect();
    p.set_links(Link::lossy());
    for i in 0..200usize {
        p.a.assoc.send(p.now, 1, Ppid::BINARY, &message(i, 2000), ORDERED).unwrap();
        p.b.assoc.send(p.now, 2, Ppid::BINARY, &message(i + 1000, 1500), ORDERED).unwrap();
    }
    p.drive_until(|p| p.a.messages().len() == 200 && p.b.messages().len() == 200);
    assert_eq!(p.b.messages()[199].1, message(199, 2000));
    assert_eq!(p.a.messages()[199].1, message(1199, 1500));
}

#[test]
fn max_retransmits_zero_drops_some_and_delivers_later_ones() {
    for (seed, unordered) in [(51, false), (52, true), (53, false)] {
        let mut p = Pair::new(seed, big_config(seed), big_config(seed + 1));
        p.connect();
        p.set_links(Link { loss: 0.2, ..Link::lossy() });
        let pr = SendOptions { unordered, reliability: PartialReliability::MaxRetransmits(0) };
        for i in 0..300usize {
            p.a.assoc.send(p.now, 4, Ppid::BINARY, &message(i, 1 + i % 3000), pr).unwrap();
        }
        // A reliable message afterwards on the same stream still arrives.
        p.a.assoc.send(p.now, 4, Ppid::BINARY, b"last", ORDERED).unwrap();
        p.drive_until(|p| p.b.messages().iter().any(|(_, d)| d == b"last"));
        p.drive_for(Duration::from_secs(5));
        let got = p.b.messages();
        assert!(got.len() < 301, "seed {seed}: some must be dropped");
        assert!(got.len() > 100, "seed {seed}: most arrive");
        assert!(p.a.assoc.stats().abandoned_messages > 0);
        // What arrives is intact; ordered ones keep their order.
        let indices: Vec<usize> = got
            .iter()
            .filter(|(_, d)| d != b"last")
            .map(|(_, d)| (0..300).find(|&i| message(i, 1 + i % 3000) == *d).expect("intact"))
            .collect();
        if !unordered {
            assert!(indices.windows(2).all(|w| w[0] < w[1]), "seed {seed}: in order");
        }
        assert_eq!(p.a.assoc.total_buffered_amount(), 0);
    }
}

#[test]
fn lifetime_expiry_abandons_messages() {
    let mut p = Pair::new(61, big_config(61), big_config(62));
    p.connect();
    p.a_to_b.dead = true;
    let pr = SendOptions {
        unordered: false,
        reliability: PartialReliability::MaxLifetime(Duration::from_millis(300)),
    };
    for i in 0..50usize {
        p.a.assoc.send(p.now, 2, Ppid::BINARY, &message(i, 3000), pr).unwrap();
    }
    p.drive_for(Duration::from_secs(2));
    p.a_to_b.dead = false;
    p.a.assoc.send(p.now, 2, Ppid::BINARY, b"after", ORDERED).unwrap();
    p.drive_until(|p| !p.b.messages().is_empty());
    p.drive_for(Duration::from_secs(2));
    assert_eq!(p.b.messages(), [(2, b"after".to_vec())]);
    assert_eq!(p.a.assoc.stats().abandoned_messages, 50);
    assert_eq!(p.a.assoc.total_buffered_amount(), 0);
    assert!(p.a.assoc.is_established());
}

#[test]
fn a_receiver_that_does_not_read_bounds_the_sender() {
    let small = |seed| Config {
        receive_buffer_size: 64 * 1024,
        send_buffer_size: 128 * 1024,
        max_message_size: 64 * 1024,
        ..config(seed)
    };
    let mut p = Pair::new(71, small(71), small(72));
    p.connect();
    p.b.reading = false;
    let total = 600usize;
    let mut next = 0usize;
    // The application writes until the send buffer refuses.
    while p.a.assoc.send(p.now, 1, Ppid::BINARY, &message(next, 1000), ORDERED).is_ok() {
        next += 1;
    }
    assert_eq!(next, 131, "131 messages of 1000 bytes fill the 128 KiB send buffer");
    // Ten minutes with a receiver that does not read: far more than ten retransmission
    // timeouts, yet zero-window probing answered by SACKs keeps the association alive.
    p.drive_for(Duration::from_secs(600));
    assert!(p.a.assoc.is_established() && p.b.assoc.is_established());
    assert_eq!(p.a.assoc.stats().peer_rwnd, 0);
    // The receiver took what its window allowed; refill the sender's buffer: now nothing
    // moves any more, however long we wait.
    while p.a.assoc.send(p.now, 1, Ppid::BINARY, &message(next, 1000), ORDERED).is_ok() {
        next += 1;
    }
    let buffered = p.a.assoc.total_buffered_amount();
    assert!(buffered > 128 * 1024 - 1000, "{buffered}");
    p.drive_for(Duration::from_secs(600));
    assert_eq!(p.a.assoc.total_buffered_amount(), buffered);
    assert_eq!(
        p.a.assoc.send(p.now, 1, Ppid::BINARY, &message(next, 1000), ORDERED),
        Err(Error::WouldBlock)
    );
    assert!(p.a.assoc.is_established());
    // What the receiver holds never exceeds its buffer by more than the one chunk it takes
    // into a window that is open but smaller than the chunk.
    p.b.read();
    let unread: usize = p.b.messages().iter().map(|(_, d)| d.len()).sum();
    assert!(unread > 60 * 1024 && unread <= 64 * 1024 + 1072, "{unread} bytes held");
    // The application reads again: everything arrives in order, nothing lost.
    p.b.reading = true;
    while next < total {
        match p.a.assoc.send(p.now, 1, Ppid::BINARY, &message(next, 1000), ORDERED) {
            Ok(()) => next += 1,
            Err(Error::WouldBlock) => {
                p.drive_until(|p| p.a.events.contains(&Event::Writable));
                p.a.events.retain(|e| *e != Event::Writable);
            }
            Err(e) => panic!("{e}"),
        }
    }
    p.drive_until(|p| p.b.messages().len() == total);
    for (i, (_, data)) in p.b.messages().iter().enumerate() {
        assert_eq!(*data, message(i, 1000), "message {i}");
    }
}

#[test]
fn stream_reset_after_queued_data_loses_nothing() {
    for seed in [81, 82] {
        let mut p = Pair::new(seed, big_config(seed), big_config(seed + 1));
        p.connect();
        p.set_links(Link::lossy());
        for i in 0..60usize {
            p.a.assoc.send(p.now, 3, Ppid::BINARY, &message(i, 1500), ORDERED).unwrap();
        }
        p.a.assoc.reset_streams(p.now, &[3]).unwrap();
        assert_eq!(
            p.a.assoc.send(p.now, 3, Ppid::BINARY, b"too early", ORDERED),
            Err(Error::InvalidStream("stream is being reset"))
        );
        p.drive_until(|p| p.a.has(&Event::StreamResetComplete { streams: vec![3] }));
        p.drive_until(|p| p.b.has(&Event::StreamReset { streams: vec![3] }));
        // Every message came before the reset notification, in order.
        let reset_at =
            p.b.events.iter().position(|e| matches!(e, Event::StreamReset { .. })).unwrap();
        let before: Vec<Vec<u8>> = p.b.events[..reset_at]
            .iter()
            .filter_map(|e| match e {
                Event::Message { data, .. } => Some(data.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(before, (0..60).map(|i| message(i, 1500)).collect::<Vec<_>>());
        // The stream restarts at SSN 0 on both sides.
        p.a.assoc.send(p.now, 3, Ppid::BINARY, b"again", ORDERED).unwrap();
        p.a.assoc.send(p.now, 3, Ppid::BINARY, b"and again", ORDERED).unwrap();
        p.drive_until(|p| p.b.messages().len() == 62);
        assert_eq!(p.b.messages()[61].1, b"and again");
    }
}

#[test]
fn incoming_reset_is_deferred_until_the_last_tsn_arrives() {
    let mut p = Pair::new(85, big_config(85), big_config(86));
    p.connect();
    // Heavy loss from a to b makes the request overtake missing data.
    p.a_to_b = Link { loss: 0.3, ..Link::lossy() };
    for i in 0..30usize {
        p.a.assoc.send(p.now, 9, Ppid::BINARY, &message(i, 900), ORDERED).unwrap();
    }
    p.a.assoc.reset_streams(p.now, &[9]).unwrap();
    p.drive_until(|p| p.a.has(&Event::StreamResetComplete { streams: vec![9] }));
    for i in 30..40usize {
        p.a.assoc.send(p.now, 9, Ppid::BINARY, &message(i, 900), ORDERED).unwrap();
    }
    p.drive_until(|p| p.b.messages().len() == 40);
    let got: Vec<Vec<u8>> = p.b.messages().into_iter().map(|(_, d)| d).collect();
    assert_eq!(got, (0..40).map(|i| message(i, 900)).collect::<Vec<_>>());
}

#[test]
fn graceful_shutdown_after_many_messages_loses_nothing() {
    for seed in [91, 92, 93] {
        let mut p = Pair::new(seed, big_config(seed), big_config(seed + 1));
        p.connect();
        p.set_links(Link::lossy());
        for i in 0..1000usize {
            p.a.assoc
                .send(p.now, (i % 3) as u16, Ppid::BINARY, &message(i, 1 + i % 2000), ORDERED)
                .unwrap();
        }
        p.a.assoc.shutdown(p.now);
        assert_eq!(p.a.assoc.state(), State::ShutdownPending);
        assert!(p.a.assoc.send(p.now, 0, Ppid::BINARY, b"late", ORDERED).is_err());
        p.drive_until(|p| p.a.assoc.is_closed() && p.b.assoc.is_closed());
        assert_eq!(p.b.messages().len(), 1000, "seed {seed}");
        assert_eq!(p.b.events.last(), Some(&Event::Closed));
        assert_eq!(p.a.events.last(), Some(&Event::Closed));
        for stream in 0..3u16 {
            let got: Vec<Vec<u8>> =
                p.b.messages().into_iter().filter(|(s, _)| *s == stream).map(|(_, d)| d).collect();
            let want: Vec<Vec<u8>> = (0..1000usize)
                .filter(|i| i % 3 == stream as usize)
                .map(|i| message(i, 1 + i % 2000))
                .collect();
            assert_eq!(got, want);
        }
        assert_eq!(p.a.assoc.poll_timeout(), None);
    }
}

#[test]
fn lost_shutdown_complete_is_answered_after_close() {
    let mut p = Pair::new(97, config(97), config(98));
    p.connect();
    p.a.assoc.send(p.now, 0, Ppid::BINARY, b"last words", ORDERED).unwrap();
    p.a.assoc.shutdown(p.now);
    p.drive_until(|p| p.a.assoc.is_closed());
    // The SHUTDOWN-COMPLETE leaves in the next step: lose it.
    p.a_to_b.dead = true;
    p.step();
    p.a_to_b.dead = false;
    assert_eq!(p.b.assoc.state(), State::ShutdownAckSent);
    // b repeats its SHUTDOWN-ACK on T2; the closed a answers with a reflected COMPLETE.
    p.drive_until(|p| p.b.assoc.is_closed());
    assert_eq!(p.b.events.last(), Some(&Event::Closed));
    assert_eq!(p.b.messages(), [(0, b"last words".to_vec())]);
}

#[test]
fn shutdown_by_both_sides_at_once() {
    let mut p = Pair::new(95, config(95), config(96));
    p.connect();
    p.a.assoc.send(p.now, 0, Ppid::BINARY, b"a", ORDERED).unwrap();
    p.b.assoc.send(p.now, 0, Ppid::BINARY, b"b", ORDERED).unwrap();
    p.a.assoc.shutdown(p.now);
    p.b.assoc.shutdown(p.now);
    p.drive_until(|p| p.a.assoc.is_closed() && p.b.assoc.is_closed());
    assert_eq!(p.a.messages(), [(0, b"b".to_vec())]);
    assert_eq!(p.b.messages(), [(0, b"a".to_vec())]);
    assert!(p.a.has(&Event::Closed) && p.b.has(&Event::Closed));
}

#[test]
fn abort_reaches_the_peer() {
    let mut p = Pair::new(101, config(101), config(102));
    p.connect();
    p.a.assoc.send(p.now, 0, Ppid::BINARY, b"queued", ORDERED).unwrap();
    p.a.assoc.abort(p.now);
    assert!(p.a.assoc.is_closed());
    p.drive_until(|p| p.b.assoc.is_closed());
    assert!(p.a.has(&Event::Aborted(AbortReason::LocalAbort)));
    assert!(p.b.has(&Event::Aborted(AbortReason::PeerAbort {
        cause: Some(ErrorCauseCode::USER_INITIATED_ABORT)
    })));
    assert_eq!(
        p.a.assoc.send(p.now, 0, Ppid::BINARY, b"x", ORDERED),
        Err(Error::InvalidState("association closed"))
    );
}

#[test]
fn heartbeats_keep_an_idle_association_alive() {
    let mut p = Pair::new(111, config(111), config(112));
    p.connect();
    let before = p.a.assoc.stats().packets_sent;
    p.drive_for(Duration::from_secs(300));
    assert!(p.a.assoc.is_established() && p.b.assoc.is_established());
    let heartbeats = p.a.assoc.stats().packets_sent - before;
    // Each side probes every 30 s or so: a sends its heartbeats and acks b's.
    assert!((15..=22).contains(&heartbeats), "{heartbeats} packets in 5 minutes");
    assert!(p.a.assoc.stats().srtt.is_some());
}

#[test]
fn dead_link_is_detected_by_heartbeats() {
    let mut p = Pair::new(121, config(121), config(122));
    p.connect();
    let start = p.now;
    p.set_links(Link { dead: true, ..Link::default() });
    p.drive_until(|p| p.a.assoc.is_closed() && p.b.assoc.is_closed());
    assert!(p.a.has(&Event::Aborted(AbortReason::PathFailure)));
    assert!(p.b.has(&Event::Aborted(AbortReason::PathFailure)));
    let took = p.now - start;
    assert!(took > Duration::from_secs(30) && took < Duration::from_secs(1200), "{took:?}");
}

#[test]
fn dead_link_is_detected_by_retransmissions() {
    let mut p = Pair::new(131, config(131), config(132));
    p.connect();
    p.set_links(Link { dead: true, ..Link::default() });
    p.a.assoc.send(p.now, 0, Ppid::BINARY, &[1; 5000], ORDERED).unwrap();
    p.drive_until(|p| p.a.assoc.is_closed());
    assert!(p.a.has(&Event::Aborted(AbortReason::PathFailure)));
    assert_eq!(p.a.assoc.stats().t3_expirations, 11);
}

#[test]
fn api_misuse_is_refused() {
    let mut p = Pair::new(141, config(141), config(142));
    p.connect();
    let now = p.now;
    assert_eq!(p.a.assoc.send(now, 0, Ppid::BINARY, b"", ORDERED), Err(Error::EmptyMessage));
    assert_eq!(
        p.a.assoc.send(now, 0, Ppid::BINARY, &[0; 65537], ORDERED),
        Err(Error::MessageTooLarge { size: 65537, max: 65536 })
    );
    p.a.assoc.set_peer_max_message_size(1 << 20);
    p.a.assoc.send(now, 0, Ppid::BINARY, &[0; 65537], ORDERED).unwrap();
    assert_eq!(p.a.assoc.reset_streams(now, &[]), Err(Error::InvalidInput("no stream to reset")));
    assert!(Association_is_refused_with_bad_config());
}

#[allow(non_snake_case)]
fn Association_is_refused_with_bad_config() -> bool {
    let bad = Config { max_packet_size: 10, ..Config::default() };
    sctp::Association::client(bad, std::time::Instant::now()).is_err()
}

#[test]
fn oversized_incoming_message_is_discarded() {
    let mut p =
        Pair::new(151, Config { peer_max_message_size: 1 << 20, ..config(151) }, config(152));
    p.connect();
    // b accepts 256 KiB; a ignores that (its peer_max_message_size was set too high).
    p.a.assoc.send(p.now, 0, Ppid::BINARY, &[9; 300 * 1024], ORDERED).unwrap();
    p.a.assoc.send(p.now, 0, Ppid::BINARY, b"next", ORDERED).unwrap();
    p.drive_until(|p| !p.b.messages().is_empty());
    assert_eq!(p.b.messages(), [(0, b"next".to_vec())]);
    assert_eq!(p.b.assoc.stats().oversized_messages, 1);
}

#[test]
fn buffered_amount_low_is_reported() {
    let mut p = Pair::new(161, config(161), config(162));
    p.connect();
    p.a.assoc.set_buffered_amount_low_threshold(5, 1000);
    for _ in 0..10 {
        p.a.assoc.send(p.now, 5, Ppid::BINARY, &[0; 700], ORDERED).unwrap();
    }
    assert_eq!(p.a.assoc.buffered_amount(5), 7000);
    p.drive_until(|p| p.a.has(&Event::BufferedAmountLow { stream: 5 }));
    assert!(p.a.assoc.buffered_amount(5) <= 1000);
    p.drive_until(|p| p.b.messages().len() == 10);
    p.drive_for(Duration::from_secs(1));
    assert_eq!(p.a.assoc.buffered_amount(5), 0);
    assert_eq!(p.a.count(|e| *e == Event::BufferedAmountLow { stream: 5 }), 1);
}

#[test]
fn cookie_acks_lost_for_longer_than_the_cookie_lifetime() {
    // The server is established but every COOKIE-ACK is lost for over a minute: the client's
    // cookie goes stale, it starts over, and the server sees a restart instead of refusing it.
    let mut p = Pair::new(171, config(171), config(172));
    p.drive_until(|p| p.a.assoc.state() == State::CookieEchoed);
    p.b_to_a.dead = true;
    p.drive_until(|p| p.b.assoc.is_established());
    let start = p.now;
    p.drive_until(|p| p.now - start > Duration::from_secs(62));
    assert_eq!(p.a.assoc.state(), State::CookieEchoed);
    p.b_to_a.dead = false;
    p.drive_until(|p| p.a.assoc.is_established());
    assert!(p.b.has(&Event::Restarted));
    assert!(p.b.assoc.is_established());
    p.a.assoc.send(p.now, 0, Ppid::BINARY, b"finally", ORDERED).unwrap();
    p.b.assoc.send(p.now, 0, Ppid::BINARY, b"welcome", ORDERED).unwrap();
    p.drive_until(|p| !p.a.messages().is_empty() && !p.b.messages().is_empty());
}

#[test]
fn zero_window_on_a_lossy_link_does_not_kill_the_association() {
    let small = |seed| Config {
        receive_buffer_size: 32 * 1024,
        max_message_size: 32 * 1024,
        send_buffer_size: 256 * 1024,
        ..config(seed)
    };
    for seed in [181, 182, 183] {
        let mut p = Pair::new(seed, small(seed), small(seed + 1));
        p.connect();
        p.set_links(Link { loss: 0.15, ..Link::lossy() });
        p.b.reading = false;
        for i in 0..200usize {
            p.a.assoc
                .send(p.now, 1, Ppid::BINARY, &message(i, 1 + i * 71 % 1500), ORDERED)
                .unwrap();
        }
        // A quarter of an hour without reading: lost probes and SACKs must not count.
        p.drive_for(Duration::from_secs(900));
        assert!(p.a.assoc.is_established(), "seed {seed}: {:?}", p.a.events.last());
        p.b.reading = true;
        p.drive_until(|p| p.b.messages().len() == 200);
        for (i, (_, data)) in p.b.messages().iter().enumerate() {
            assert_eq!(*data, message(i, 1 + i * 71 % 1500), "seed {seed} message {i}");
        }
    }
}

/// Random traffic (sizes, streams, ordering, partial reliability), stream resets in the
/// middle, a receiver that stops reading now and then, small buffers, a lossy link; then a
/// graceful close. Reliable messages all arrive, ordered ones in order, nothing corrupted.
#[test]
fn randomized_traffic_with_resets_and_a_lazy_reader() {
    use rand::{Rng, SeedableRng};
    let small = |seed| Config {
        max_message_size: 64 << 10,
        peer_max_message_size: 64 << 10,
        receive_buffer_size: 96 << 10,
        send_buffer_size: 128 << 10,
        ..config(seed)
    };
    let unique = |i: usize, len: usize| {
        let mut m = message(i, len);
        m[..4].copy_from_slice(&(i as u32).to_be_bytes());
        m
    };
    for seed in [0u64, 1, 10, 25] {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut p = if seed % 2 == 0 {
            Pair::new(seed, small(seed), small(seed + 1000))
        } else {
            Pair::simultaneous(seed, small(seed), small(seed + 1000))
        };
        p.set_links(Link { loss: 0.08, duplicate: 0.05, reorder: 0.2, ..Link::default() });
        p.connect();
        // (stream, len, unordered, reliable) by message index.
        let mut sent: Vec<(u16, usize, bool, bool)> = Vec::new();
        for round in 0..120 {
            if rng.gen_bool(0.1) {
                p.b.reading = !p.b.reading;
            }
            for _ in 0..rng.gen_range(0..5) {
                let stream = rng.gen_range(0..6u16);
                let len = [4, 700, 1072, 2500, 30000, 65536][rng.gen_range(0..6)];
                let unordered = rng.gen_bool(0.3);
                let reliability = match rng.gen_range(0..6) {
                    0 => PartialReliability::MaxRetransmits(rng.gen_range(0..3)),
                    1 => PartialReliability::MaxLifetime(Duration::from_millis(
                        rng.gen_range(50..500),
                    )),
                    _ => PartialReliability::None,
                };
                let data = unique(sent.len(), len);
                match p.a.assoc.send(
                    p.now,
                    stream,
                    Ppid::BINARY,
                    &data,
                    SendOptions { unordered, reliability },
                ) {
                    Ok(()) => {
                        sent.push((stream, len, unordered, reliability == PartialReliability::None))
                    }
                    Err(Error::WouldBlock) | Err(Error::InvalidStream(_)) => {}
                    Err(e) => panic!("seed {seed}: {e}"),
                }
            }
            if round % 37 == 5 {
                let _ = p.a.assoc.reset_streams(p.now, &[rng.gen_range(0..6u16)]);
            }
            for _ in 0..rng.gen_range(1..200) {
                p.step();
            }
        }
        p.b.reading = true;
        p.a.assoc.shutdown(p.now);
        p.drive_until(|p| p.a.assoc.is_closed() && p.b.assoc.is_closed());
        assert_eq!(p.a.events.last(), Some(&Event::Closed), "seed {seed}");
        assert_eq!(p.b.events.last(), Some(&Event::Closed), "seed {seed}");
        let got = p.b.messages();
        let index = |d: &[u8]| u32::from_be_bytes(d[..4].try_into().unwrap()) as usize;
        for (_, data) in &got {
            let (_, len, _, _) = sent[index(data)];
            assert_eq!(*data, unique(index(data), len), "seed {seed}: corrupted message");
        }
        for (i, &(stream, _, _, reliable)) in sent.iter().enumerate() {
            if reliable {
                assert!(
                    got.iter().any(|(s, d)| *s == stream && index(d) == i),
                    "seed {seed}: {i} lost"
                );
            }
        }
        for stream in 0..6u16 {
            let ordered: Vec<usize> = got
                .iter()
                .filter(|(s, d)| *s == stream && !sent[index(d)].2)
                .map(|(_, d)| index(d))
                .collect();
            assert!(ordered.windows(2).all(|w| w[0] < w[1]), "seed {seed} stream {stream}");
        }
    }
}
