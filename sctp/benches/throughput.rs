//! Bulk transfer between two associations in memory (no DTLS, no sockets): how many bytes
//! of messages one core moves from one side to the other, both state machines included.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sctp::{Association, Config, Event, PartialReliability, Ppid, SendOptions};

const TOTAL: usize = 16 << 20;

fn config(seed: u64) -> Config {
    Config {
        seed: Some(seed),
        send_buffer_size: 4 << 20,
        receive_buffer_size: 4 << 20,
        peer_max_message_size: 256 << 10,
        ..Config::default()
    }
}

/// Moves every packet one side has to the other; returns how many moved.
fn pump(from: &mut Association, to: &mut Association, now: Instant, buf: &mut Vec<u8>) -> usize {
    let mut n = 0;
    while from.poll_transmit_into(now, buf) {
        to.handle_receive(now, buf).expect("valid packet");
        n += 1;
    }
    n
}

fn connected() -> (Association, Association, Instant) {
    let now = Instant::now();
    let mut a = Association::client(config(1), now).unwrap();
    let mut b = Association::server(config(2), now).unwrap();
    let mut buf = Vec::new();
    while !(a.is_established() && b.is_established()) {
        pump(&mut a, &mut b, now, &mut buf);
        pump(&mut b, &mut a, now, &mut buf);
    }
    while a.poll_event().is_some() {}
    while b.poll_event().is_some() {}
    (a, b, now)
}

/// Sends `TOTAL` bytes in messages of `size` bytes and waits until all arrived.
fn transfer(size: usize) -> usize {
    let (mut a, mut b, mut now) = connected();
    let message = vec![0xa5u8; size];
    let options = SendOptions { unordered: false, reliability: PartialReliability::None };
    let mut buf = Vec::with_capacity(2048);
    let (mut sent, mut received) = (0, 0);
    while received < TOTAL {
        while sent < TOTAL && a.send(now, 1, Ppid::BINARY, &message, options).is_ok() {
            sent += size;
        }
        let moved = pump(&mut a, &mut b, now, &mut buf);
        while let Some(event) = b.poll_event() {
            if let Event::Message { data, .. } = event {
                received += data.len();
            }
        }
        let acks = pump(&mut b, &mut a, now, &mut buf);
        while a.poll_event().is_some() {}
        if moved + acks == 0 {
            // Only timers left (the delayed SACK): jump the virtual clock.
            now = a.poll_timeout().into_iter().chain(b.poll_timeout()).min().unwrap_or(now);
            a.handle_timeout(now);
            b.handle_timeout(now);
        }
    }
    received
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("throughput");
    group.throughput(Throughput::Bytes(TOTAL as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    for size in [1024, 64 * 1024] {
        group.bench_with_input(BenchmarkId::new("ordered", size), &size, |bench, &size| {
            bench.iter(|| transfer(size));
        });
    }
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
