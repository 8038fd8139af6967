//! Network input never panics: random chunks, mutated real packets and random bytes, with
//! valid checksums so that they reach the chunk handlers, in every association state.

mod common;

use std::time::{Duration, Instant};

use common::{config, Pair};
use proptest::prelude::*;
use sctp::chunk::{write_chunk, ChunkType};
use sctp::packet::{set_checksum, COMMON_HEADER_LEN};
use sctp::{Association, PartialReliability, Ppid, SendOptions};

const ORDERED: SendOptions =
    SendOptions { unordered: false, reliability: PartialReliability::None };

/// An established pair with some traffic, and packets captured along the way.
fn established(seed: u64) -> (Pair, Vec<Vec<u8>>) {
    let now = Instant::now();
    let mut a = Association::client(config(seed), now).unwrap();
    let mut b = Association::server(config(seed + 1), now).unwrap();
    let mut captured = Vec::new();
    // Handshake by hand to capture every packet.
    for _ in 0..4 {
        while let Some(p) = a.poll_transmit(now) {
            captured.push(p.clone());
            let _ = b.handle_receive(now, &p);
        }
        while let Some(p) = b.poll_transmit(now) {
            captured.push(p.clone());
            let _ = a.handle_receive(now, &p);
        }
    }
    assert!(a.is_established() && b.is_established());
    a.send(now, 1, Ppid::BINARY, &[7; 3000], ORDERED).unwrap();
    a.send(now, 2, Ppid::STRING, b"x", SendOptions { unordered: true, ..ORDERED }).unwrap();
    while let Some(p) = a.poll_transmit(now) {
        captured.push(p.clone());
        let _ = b.handle_receive(now, &p);
    }
    b.handle_timeout(now + Duration::from_millis(250));
    while let Some(p) = b.poll_transmit(now) {
        captured.push(p.clone());
    }
    assert!(captured.len() >= 7, "handshake, data and SACK captured");
    let p = Pair::with(seed, now, a, b);
    (p, captured)
}

/// The verification tag b expects (from a DATA packet a sent).
fn tag_of(packet: &[u8]) -> [u8; 4] {
    packet[4..8].try_into().unwrap()
}

fn chunk_type() -> impl Strategy<Value = u8> {
    prop_oneof![0u8..=14, Just(130u8), Just(192u8), any::<u8>()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_chunks_never_panic(
        chunks in proptest::collection::vec(
            (chunk_type(), any::<u8>(), proptest::collection::vec(any::<u8>(), 0..64)), 1..5),
        seed in 0u64..4,
    ) {
        let (mut p, captured) = established(seed * 10 + 1000);
        let data_packet = captured.iter().rev().find(|c| c.len() > 100).unwrap();
        let mut packet = data_packet[..COMMON_HEADER_LEN].to_vec();
        packet[4..8].copy_from_slice(&tag_of(data_packet));
        for (t, flags, value) in &chunks {
            write_chunk(&mut packet, ChunkType(*t), *flags, value).unwrap();
        }
        set_checksum(&mut packet);
        let now = p.now;
        let _ = p.b.assoc.handle_receive(now, &packet);
        let _ = p.a.assoc.handle_receive(now, &packet);
        p.drive_for(Duration::from_secs(30));
    }

    #[test]
    fn mutated_real_packets_never_panic(
        which in any::<prop::sample::Index>(),
        mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate: bool,
        seed in 0u64..4,
    ) {
        let (mut p, captured) = established(seed * 10 + 2000);
        let mut packet = which.get(&captured).clone();
        for (at, byte) in &mutations {
            let i = COMMON_HEADER_LEN + at.index(packet.len() - COMMON_HEADER_LEN);
            packet[i] = *byte;
        }
        if truncate {
            let len = COMMON_HEADER_LEN + cut.index(packet.len() - COMMON_HEADER_LEN + 1);
            packet.truncate(len);
        }
        set_checksum(&mut packet);
        let now = p.now;
        let _ = p.a.assoc.handle_receive(now, &packet);
        let _ = p.b.assoc.handle_receive(now, &packet);
        // Also in the handshake states.
        let mut listening = Association::server(config(seed + 3000), now).unwrap();
        let _ = listening.handle_receive(now, &packet);
        let mut connecting = Association::client(config(seed + 3001), now).unwrap();
        let _ = connecting.handle_receive(now, &packet);
        while connecting.poll_transmit(now).is_some() {}
        while listening.poll_transmit(now).is_some() {}
        p.drive_for(Duration::from_secs(30));
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), fix: bool) {
        let now = Instant::now();
        let mut bytes = bytes;
        if fix && bytes.len() >= COMMON_HEADER_LEN {
            set_checksum(&mut bytes);
        }
        let mut server = Association::server(config(1), now).unwrap();
        let mut client = Association::client(config(2), now).unwrap();
        let _ = server.handle_receive(now, &bytes);
        let _ = client.handle_receive(now, &bytes);
        while server.poll_transmit(now).is_some() {}
        while client.poll_transmit(now).is_some() {}
        server.handle_timeout(now + Duration::from_secs(5));
        client.handle_timeout(now + Duration::from_secs(5));
    }
}
