//! Relay throughput with 1200-byte ChannelData payloads.
//!
//! - `machine/*`: the sans-IO hot paths on one core, no sockets: `relay_from_client` (a
//!   ChannelData datagram from the client to the peer, borrowed out of the input) and
//!   `relay_from_peer` (a peer datagram written as ChannelData into a reused buffer), with
//!   a plain copy of the same 1204 bytes as the reference.
//! - `loopback/*`: packets through real sockets on 127.0.0.1, in batches of 32 sent and
//!   then received: client -> turn (UDP listener) -> relay socket -> peer through the driver
//!   in-process, against two references: a raw UDP echo (a thread that sends every datagram
//!   it receives back to its sender with plain `recv_from`/`send_to`, under the same
//!   scheduling policy as turn's thread), which has the same hops as the relay (two sends,
//!   two receives, one process in the middle); and the stricter plain hop of the same
//!   client sending straight to the peer (one send, one receive).
//!   Loss (a batch short after a 200 ms wait) is counted and printed, never hidden. The
//!   client's and the peer's sockets get the same 1 MiB kernel buffers as turn's, so the
//!   reference and the relayed runs use the same sockets, batches and buffers. After the
//!   criterion groups, the three runs are also taken in turn for a few rounds and each
//!   one's share of each reference in the same round is printed (median and range), which
//!   is the comparison that holds on a machine shared with other work.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::rngs::StdRng;
use rand::SeedableRng;
use stun::attributes::{
    ChannelNumber, ErrorCode, Nonce, Realm, RequestedTransport, TransportProtocol, Username,
    XorPeerAddress, XorRelayedAddress,
};
use stun::{
    ChannelData, Class, Framing, Message, MessageType, MessageWriter, Method, TransactionId,
};
use turn::driver::{self, DriverLimits, Listeners};
use turn::{
    AuthConfig, Output, RelayIp, ServerConfig, Transport, TurnServer, CLIENT_FRAME_OVERHEAD,
};

const PAYLOAD: usize = 1200;
const CHANNEL: u16 = 0x4000;
const USER: (&str, &str) = ("bench", "bench-password");
const REALM: &str = "bench";

fn config(relay: &str) -> ServerConfig {
    let mut config = ServerConfig::new(REALM);
    config.relay_ipv4 = Some(RelayIp::new(relay.parse().unwrap()));
    config.auth = AuthConfig::default().with_user(USER.0, USER.1);
    // Throughput, not policing: no per-allocation bandwidth limit.
    config.bandwidth = None;
    config.peer_policy.allow_loopback_peers = true;
    config
}

/// One request with the 401 round trip, through `exchange` (which sends a request and
/// returns the response).
fn transact(
    exchange: &mut dyn FnMut(&[u8]) -> Vec<u8>,
    nonce: &mut Option<String>,
    method: Method,
    attrs: &dyn Fn(&mut MessageWriter<'_>),
) -> Vec<u8> {
    static NEXT_ID: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(1);
    let key = stun::credentials::long_term_key_md5(USER.0, REALM, USER.1).unwrap();
    for _ in 0..2 {
        let mut request = Vec::new();
        let id = TransactionId([NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed); 12]);
        let mut w = MessageWriter::new(&mut request, MessageType::new(method, Class::Request), id);
        attrs(&mut w);
        if let Some(nonce) = nonce {
            w.add(&Username(USER.0)).unwrap();
            w.add(&Realm(REALM)).unwrap();
            w.add(&Nonce(nonce)).unwrap();
            w.add_message_integrity(&key).unwrap();
        }
        let response = exchange(&request);
        let msg = Message::parse(&response).unwrap();
        match msg.get::<ErrorCode<'_>>().unwrap().map(|e| e.code) {
            Some(401) if nonce.is_none() => {
                *nonce = Some(msg.get::<Nonce<'_>>().unwrap().unwrap().0.to_owned());
            }
            None => return response,
            Some(code) => panic!("{method:?} failed with {code}"),
        }
    }
    panic!("no answer to {method:?}");
}

/// Allocate, then bind `CHANNEL` to `peer`; returns the relayed address.
fn allocate_and_bind(exchange: &mut dyn FnMut(&[u8]) -> Vec<u8>, peer: SocketAddr) -> SocketAddr {
    let mut nonce = None;
    let response = transact(exchange, &mut nonce, Method::ALLOCATE, &|w| {
        w.add(&RequestedTransport(TransportProtocol::UDP)).unwrap();
    });
    let relayed = Message::parse(&response).unwrap().get::<XorRelayedAddress>().unwrap().unwrap().0;
    transact(exchange, &mut nonce, Method::CHANNEL_BIND, &|w| {
        w.add(&ChannelNumber(CHANNEL)).unwrap();
        w.add(&XorPeerAddress(peer)).unwrap();
    });
    relayed
}

fn machine(c: &mut Criterion) {
    let now = Instant::now();
    let client: SocketAddr = "198.51.100.7:40000".parse().unwrap();
    let listen: SocketAddr = "203.0.113.5:3478".parse().unwrap();
    // A documentation address, refused by default: allowed for the benchmark.
    let peer: SocketAddr = "192.0.2.200:5000".parse().unwrap();
    let mut cfg = config("203.0.113.5");
    cfg.peer_policy.allow_peers.push("192.0.2.0/24".parse().unwrap());
    let mut server = TurnServer::new(cfg, now, 1_700_000_000, StdRng::seed_from_u64(1)).unwrap();

    let mut relay_socket = None;
    let mut exchange = |request: &[u8]| -> Vec<u8> {
        server.handle_client(now, Transport::Udp, client, listen, request);
        loop {
            match server.poll_output() {
                Some(Output::BindRelay(bind)) => {
                    relay_socket = Some(bind.addr);
                    server.relay_bound(now, bind.request, Ok(())).unwrap();
                }
                Some(Output::ToClient(t)) => return t.data,
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    allocate_and_bind(&mut exchange, peer);
    let relay = relay_socket.unwrap();

    let payload: Vec<u8> = (0..PAYLOAD).map(|i| i as u8).collect();
    let mut frame = Vec::new();
    ChannelData::new(CHANNEL, &payload).unwrap().write(&mut frame, Framing::Datagram);
    let mut out = vec![0u8; PAYLOAD + CLIENT_FRAME_OVERHEAD];
    // Both paths really relay (checked before measuring, so a filtered run still checks).
    assert!(server.relay_from_client(now, Transport::Udp, client, listen, &frame).is_some());
    assert!(server.relay_from_peer(now, relay, peer, &payload, &mut out).is_some());

    let mut group = c.benchmark_group("machine");
    group.throughput(Throughput::Elements(1));
    group.bench_function("reference_copy_1204_bytes", |b| {
        b.iter(|| {
            out[..frame.len()].copy_from_slice(black_box(&frame));
            black_box(&out);
        })
    });
    group.bench_function("relay_from_client_channel_data_1200", |b| {
        b.iter(|| {
            let d =
                server.relay_from_client(now, Transport::Udp, client, listen, black_box(&frame));
            black_box(d.map(|d| d.data.len()));
        })
    });
    group.bench_function("relay_from_peer_channel_data_1200", |b| {
        b.iter(|| {
            let f = server.relay_from_peer(now, relay, peer, black_box(&payload), &mut out);
            black_box(f.map(|f| f.len));
        })
    });
    group.finish();
}

/// Packets per batch in the loopback runs.
const BATCH: u64 = 32;

/// Sends `iters` packets from `from` to `to` in batches, each followed by receiving the
/// batch on `sink`; returns the time and counts packets lost.
fn pump(
    from: &UdpSocket,
    to: SocketAddr,
    sink: &UdpSocket,
    packet: &[u8],
    iters: u64,
    lost: &mut u64,
) -> Duration {
    let mut buf = vec![0u8; 2048];
    let start = Instant::now();
    let mut left = iters;
    while left > 0 {
        let n = left.min(BATCH);
        for _ in 0..n {
            from.send_to(packet, to).unwrap();
        }
        for _ in 0..n {
            if sink.recv_from(&mut buf).is_err() {
                *lost += 1;
                break;
            }
        }
        left -= n;
    }
    start.elapsed()
}

/// A raw UDP echo on 127.0.0.1: a thread that sends every datagram back to its sender
/// with plain `recv_from` and `send_to`, on a socket with turn's kernel buffers and under
/// the same scheduling policy as turn's thread. Returns its address, and a flag that stops
/// it (within 50 ms) when set.
fn spawn_echo(
    batch_scheduling: bool,
) -> (SocketAddr, Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let s = socket2::SockRef::from(&socket);
    s.set_recv_buffer_size(driver::sys::SOCKET_BUFFER_BYTES).unwrap();
    s.set_send_buffer_size(driver::sys::SOCKET_BUFFER_BYTES).unwrap();
    let addr = socket.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let thread = std::thread::spawn(move || {
        if batch_scheduling {
            driver::sys::set_batch_scheduling().unwrap();
        }
        let mut buf = vec![0u8; 2048];
        while !stopped.load(Ordering::Relaxed) {
            if let Ok((n, from)) = socket.recv_from(&mut buf) {
                let _ = socket.send_to(&buf[..n], from);
            }
        }
    });
    (addr, stop, thread)
}

/// Rounds of the interleaved comparison.
const ROUNDS: usize = 12;
/// Packets per run and round in the interleaved comparison.
const ROUND_PACKETS: u64 = 8_192;

/// A loopback run: sends `n` packets through `pump`, counting losses.
type Run<'a> = (&'a str, &'a mut dyn FnMut(u64, &mut u64) -> Duration);

/// Takes the runs in turn, round after round (each round starting with the next run), so
/// that load from other work on the machine falls on all of them alike, and prints each
/// one's rate and its share of each of the first `references` runs' rates in the same
/// round: median and range over the rounds. Criterion's groups measure one run after
/// another, seconds apart, and on a shared machine their ratio moves with whatever else
/// runs meanwhile.
fn interleaved(runs: &mut [Run<'_>], references: usize) {
    let mut rates = vec![Vec::with_capacity(ROUNDS); runs.len()];
    let mut lost = vec![0u64; runs.len()];
    let count = runs.len();
    for round in 0..ROUNDS {
        for k in (0..count).map(|i| (i + round) % count) {
            let elapsed = (runs[k].1)(ROUND_PACKETS, &mut lost[k]);
            rates[k].push(ROUND_PACKETS as f64 / elapsed.as_secs_f64());
        }
    }
    let summary = |values: &mut [f64]| {
        values.sort_by(f64::total_cmp);
        (values[values.len() / 2], values[0], values[values.len() - 1])
    };
    eprintln!("interleaved: {ROUNDS} rounds of {ROUND_PACKETS} packets per run");
    for (k, (name, _)) in runs.iter().enumerate() {
        let (median, min, max) = summary(&mut rates[k].clone());
        eprintln!(
            "  {name}: {:.0} k/s ({:.0}..{:.0}), {} lost",
            median / 1e3,
            min / 1e3,
            max / 1e3,
            lost[k]
        );
        for reference in (0..references).filter(|&r| r != k) {
            let mut share: Vec<f64> =
                (0..ROUNDS).map(|r| rates[k][r] / rates[reference][r] * 100.0).collect();
            let (s_median, s_min, s_max) = summary(&mut share);
            eprintln!("    {s_median:.0}% of {} ({s_min:.0}..{s_max:.0}%)", runs[reference].0);
        }
    }
}

fn loopback(c: &mut Criterion) {
    // turn's thread (and the echo's) under the default scheduling policy, as `turn` runs by
    // default, or under SCHED_BATCH, as `turn --batch-scheduling` runs it, when
    // TURN_BENCH_BATCH_SCHEDULING is set.
    let batch_scheduling = std::env::var_os("TURN_BENCH_BATCH_SCHEDULING").is_some();
    eprintln!(
        "loopback: turn's thread under {}",
        if batch_scheduling { "SCHED_BATCH" } else { "the default scheduling policy" }
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .on_thread_start(move || {
            if batch_scheduling {
                driver::sys::set_batch_scheduling().unwrap();
            }
        })
        .enable_all()
        .build()
        .unwrap();
    let listener = driver::bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    let running = runtime.block_on(async {
        let listeners = Listeners { udp: vec![listener], ..Listeners::default() };
        driver::start(config("127.0.0.1"), listeners, None, DriverLimits::default()).unwrap()
    });
    let turn_addr = running.udp_addrs[0];

    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    for s in [&client, &peer] {
        s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        // The same kernel buffers as turn's own sockets, for the reference and the relay.
        let s = socket2::SockRef::from(s);
        s.set_recv_buffer_size(driver::sys::SOCKET_BUFFER_BYTES).unwrap();
        s.set_send_buffer_size(driver::sys::SOCKET_BUFFER_BYTES).unwrap();
    }
    let mut exchange = |request: &[u8]| -> Vec<u8> {
        client.send_to(request, turn_addr).unwrap();
        let mut buf = vec![0u8; 2048];
        let (n, _) = client.recv_from(&mut buf).unwrap();
        buf.truncate(n);
        buf
    };
    let relayed = allocate_and_bind(&mut exchange, peer.local_addr().unwrap());

    let payload = vec![0x5au8; PAYLOAD];
    let mut frame = Vec::new();
    ChannelData::new(CHANNEL, &payload).unwrap().write(&mut frame, Framing::Datagram);

    let (echo, stop_echo, echo_thread) = spawn_echo(batch_scheduling);

    let mut group = c.benchmark_group("loopback");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(3));
    group.sample_size(10);
    let mut lost = 0;
    group.bench_function(BenchmarkId::new("reference_udp_echo", PAYLOAD), |b| {
        b.iter_custom(|iters| pump(&client, echo, &client, &payload, iters, &mut lost))
    });
    eprintln!("loopback echo reference: {lost} packets lost");
    lost = 0;
    group.bench_function(BenchmarkId::new("reference_udp_client_to_peer", PAYLOAD), |b| {
        b.iter_custom(|iters| {
            pump(&client, peer.local_addr().unwrap(), &peer, &payload, iters, &mut lost)
        })
    });
    eprintln!("loopback reference: {lost} packets lost");
    lost = 0;
    group.bench_function(BenchmarkId::new("turn_client_to_peer_channel_data", PAYLOAD), |b| {
        b.iter_custom(|iters| pump(&client, turn_addr, &peer, &frame, iters, &mut lost))
    });
    eprintln!("loopback client -> turn -> peer: {lost} packets lost");
    lost = 0;
    group.bench_function(BenchmarkId::new("turn_peer_to_client_channel_data", PAYLOAD), |b| {
        b.iter_custom(|iters| pump(&peer, relayed, &client, &payload, iters, &mut lost))
    });
    eprintln!("loopback peer -> turn -> client: {lost} packets lost");
    group.finish();

    let reference = peer.local_addr().unwrap();
    interleaved(
        &mut [
            ("reference_udp_echo", &mut |n, lost| pump(&client, echo, &client, &payload, n, lost)),
            ("reference_udp_client_to_peer", &mut |n, lost| {
                pump(&client, reference, &peer, &payload, n, lost)
            }),
            ("turn_client_to_peer_channel_data", &mut |n, lost| {
                pump(&client, turn_addr, &peer, &frame, n, lost)
            }),
            ("turn_peer_to_client_channel_data", &mut |n, lost| {
                pump(&peer, relayed, &client, &payload, n, lost)
            }),
        ],
        2,
    );
    stop_echo.store(true, Ordering::Relaxed);
    echo_thread.join().unwrap();
    let stats = running.stats();
    eprintln!(
        "turn relayed {} client->peer and {} peer->client packets",
        stats.client_to_peer_packets, stats.peer_to_client_packets
    );
    running.shutdown();
}

criterion_group!(benches, machine, loopback);
criterion_main!(benches);
