//! Bulk transfer between two associations over DTLS (our `dtls` crate) over loopback UDP,
//! both peers driven by one thread, so one core does everything: SCTP on both sides, DTLS
//! encryption and decryption, and the socket calls. Prints MB/s for ordered reliable 1 KiB
//! and 64 KiB messages, with references measured in the same run on the same sockets: raw
//! UDP datagrams of the same size (the syscall ceiling of one thread), and DTLS records of
//! the same size without SCTP.
//!
//! The SCTP cases hand runs of equal-sized datagrams to the kernel as one segmented send
//! (UDP GSO, `UDP_SEGMENT`, Linux 4.18): the kernel routes and builds the run once and cuts
//! it into datagrams, which the receiver reads one by one as usual. Each datagram on the wire
//! is the same DTLS record as without it. The raw UDP reference is measured both ways.
//!
//! `cargo bench -p sctp --bench dtls_udp` (set `SCTP_BENCH_MIB` to change the 64 MiB per
//! run; `SCTP_BENCH_GSO=0` sends one datagram per call everywhere). Loopback only; bounded in
//! bytes.
#![allow(unsafe_code)] // one setsockopt call, in `set_udp_segment`

use std::io::ErrorKind;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use dtls::{Certificate, Dtls, DtlsConfig, DtlsContext, Event as DtlsEvent, Role};
use sctp::{Association, Config, Event, PartialReliability, Ppid, SendOptions};

/// Datagrams sent before the other side reads: well below a default socket buffer, so the
/// kernel drops nothing on loopback.
const BURST: usize = 64;
/// Runs per case; the median is printed.
const RUNS: usize = 3;

struct Peer {
    socket: UdpSocket,
    dtls: Dtls,
    sctp: Option<Association>,
    out: Segmenter,
}

/// No datagram here is longer (the DTLS MTU): a read longer than this would be a run the
/// kernel did not cut.
const DATAGRAM_MAX: usize = dtls::DEFAULT_MTU;
/// Most datagrams in one segmented send (the kernel's `UDP_MAX_SEGMENTS` is 64 or more).
const MAX_SEGMENTS: usize = 64;
/// Most bytes in one segmented send: below the 65 507-byte UDP payload limit.
const MAX_SEGMENTED_BYTES: usize = 65_000;

/// Sets `UDP_SEGMENT` on `socket`: a later send longer than `size` bytes leaves as datagrams
/// of `size` bytes (the last may be shorter); 0 turns segmentation off.
fn set_udp_segment(socket: &UdpSocket, size: usize) {
    let value = libc::c_int::try_from(size).expect("segment size fits a c_int");
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).unwrap();
    // SAFETY: setsockopt reads `len` bytes through a pointer to `value`, a live c_int on the
    // stack, and the descriptor is owned by `socket`, borrowed for the whole call.
    let r = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_UDP,
            libc::UDP_SEGMENT,
            std::ptr::from_ref(&value).cast::<libc::c_void>(),
            len,
        )
    };
    assert_eq!(
        r,
        0,
        "UDP_SEGMENT (Linux 4.18) failed: {}; SCTP_BENCH_GSO=0 runs without it",
        std::io::Error::last_os_error()
    );
}

/// Gathers a run of equal-sized datagrams (a shorter one may end it) and sends it with one
/// call, segmented by the kernel; with segmentation off, sends each datagram at once.
struct Segmenter {
    enabled: bool,
    buf: Vec<u8>,
    /// The size of the run's datagrams.
    segment: usize,
    count: usize,
    /// The socket's current `UDP_SEGMENT` value.
    socket_segment: usize,
}

impl Segmenter {
    fn new(enabled: bool) -> Segmenter {
        Segmenter {
            enabled,
            buf: Vec::with_capacity(MAX_SEGMENTED_BYTES),
            segment: 0,
            count: 0,
            socket_segment: 0,
        }
    }

    fn push(&mut self, socket: &UdpSocket, datagram: &[u8]) {
        if !self.enabled {
            socket.send(datagram).unwrap();
            return;
        }
        if self.count > 0
            && (datagram.len() > self.segment
                || self.count == MAX_SEGMENTS
                || self.buf.len() + datagram.len() > MAX_SEGMENTED_BYTES)
        {
            self.flush(socket);
        }
        if self.count == 0 {
            self.segment = datagram.len();
        }
        self.buf.extend_from_slice(datagram);
        self.count += 1;
        if datagram.len() < self.segment {
            // A shorter datagram can only end a run.
            self.flush(socket);
        }
    }

    fn flush(&mut self, socket: &UdpSocket) {
        if self.count == 0 {
            return;
        }
        if self.count > 1 {
            if self.socket_segment != self.segment {
                set_udp_segment(socket, self.segment);
                self.socket_segment = self.segment;
            }
        } else if self.socket_segment != 0 && self.socket_segment < self.buf.len() {
            // A lone datagram longer than the segment size would be cut.
            set_udp_segment(socket, 0);
            self.socket_segment = 0;
        }
        socket.send(&self.buf).unwrap();
        self.buf.clear();
        self.count = 0;
    }
}

fn sockets() -> (UdpSocket, UdpSocket) {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    b.connect(a.local_addr().unwrap()).unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

fn config() -> Config {
    Config {
        send_buffer_size: 4 << 20,
        receive_buffer_size: 4 << 20,
        peer_max_message_size: 256 << 10,
        ..Config::default()
    }
}

/// Sends what DTLS has; returns how many datagrams went.
fn flush_dtls(peer: &mut Peer) -> usize {
    let n = send_all(peer);
    peer.out.flush(&peer.socket);
    n
}

/// Hands what DTLS has to the segmenter; returns how many datagrams.
fn send_all(peer: &mut Peer) -> usize {
    let mut n = 0;
    while let Some(datagram) = peer.dtls.poll_transmit() {
        peer.out.push(&peer.socket, &datagram);
        peer.dtls.recycle(datagram);
        n += 1;
    }
    n
}

/// Reads every datagram waiting into DTLS and hands the records to SCTP; returns how many.
fn receive(peer: &mut Peer, buf: &mut [u8], now: Instant) -> usize {
    let mut n = 0;
    loop {
        match peer.socket.recv(buf) {
            Ok(len) => {
                assert!(len <= DATAGRAM_MAX, "one datagram per read, never a coalesced run");
                n += 1;
                let _ = peer.dtls.handle_receive(now, &buf[..len]);
                // Without SCTP (the handshake, the DTLS-only reference) the caller reads the
                // events.
                let Some(sctp) = &mut peer.sctp else { continue };
                while let Some(event) = peer.dtls.poll_event() {
                    if let DtlsEvent::ApplicationData(packet) = event {
                        sctp.handle_receive(now, &packet).expect("valid SCTP packet");
                        peer.dtls.recycle(packet);
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return n,
            Err(e) => panic!("recv: {e}"),
        }
    }
}

/// SCTP packets into DTLS records onto the socket, at most `limit` datagrams.
fn transmit(peer: &mut Peer, packet: &mut Vec<u8>, now: Instant, limit: usize) -> usize {
    let mut n = 0;
    while n < limit && peer.sctp.as_mut().is_some_and(|s| s.poll_transmit_into(now, packet)) {
        peer.dtls.send_application_data(packet).expect("fits in one record");
        n += send_all(peer);
    }
    peer.out.flush(&peer.socket);
    n
}

/// Two peers with DTLS connected over a pair of loopback sockets; `gso`: segmented sends.
fn connected_pair(gso: bool) -> (Peer, Peer) {
    let ctx_a = DtlsContext::new(DtlsConfig::new(Certificate::generate().unwrap())).unwrap();
    let ctx_b = DtlsContext::new(DtlsConfig::new(Certificate::generate().unwrap())).unwrap();
    let now = Instant::now();
    let fp_a = ctx_a.config().certificate.fingerprint().clone();
    let fp_b = ctx_b.config().certificate.fingerprint().clone();
    let (sa, sb) = sockets();
    let mut a = Peer {
        socket: sa,
        dtls: Dtls::new(now, &ctx_a, Role::Client, fp_b).unwrap(),
        sctp: None,
        out: Segmenter::new(gso),
    };
    let mut b = Peer {
        socket: sb,
        dtls: Dtls::new(now, &ctx_b, Role::Server, fp_a).unwrap(),
        sctp: None,
        out: Segmenter::new(gso),
    };
    let mut buf = vec![0u8; 65_536];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(a.dtls.is_connected() && b.dtls.is_connected()) {
        let now = Instant::now();
        flush_dtls(&mut a);
        receive(&mut b, &mut buf, now);
        flush_dtls(&mut b);
        receive(&mut a, &mut buf, now);
        for p in [&mut a, &mut b] {
            if p.dtls.poll_timeout().is_some_and(|t| t <= now) {
                p.dtls.handle_timeout(now);
            }
        }
        assert!(Instant::now() < deadline, "DTLS handshake over loopback did not finish");
    }
    while a.dtls.poll_event().is_some() {}
    while b.dtls.poll_event().is_some() {}
    (a, b)
}

/// SCTP over DTLS over UDP: `total` bytes in messages of `size`. Returns MB/s.
fn sctp_over_dtls(size: usize, total: usize, gso: bool) -> f64 {
    let (mut a, mut b) = connected_pair(gso);
    let now = Instant::now();
    a.sctp = Some(Association::client(config(), now).unwrap());
    b.sctp = Some(Association::client(config(), now).unwrap());
    let mut buf = vec![0u8; 65_536];
    let mut packet = Vec::with_capacity(2048);
    let message = vec![0x5au8; size];
    let options = SendOptions { unordered: false, reliability: PartialReliability::None };
    let (mut sent, mut received) = (0usize, 0usize);
    let mut start = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    while received < total {
        let now = Instant::now();
        let (sa, sb) = (a.sctp.as_mut().unwrap(), b.sctp.as_ref().unwrap());
        if sa.is_established() && sb.is_established() {
            start.get_or_insert(now);
            while sent < total && sa.send(now, 1, Ppid::BINARY, &message, options).is_ok() {
                sent += size;
            }
        }
        transmit(&mut a, &mut packet, now, BURST);
        receive(&mut b, &mut buf, now);
        let sb = b.sctp.as_mut().unwrap();
        while let Some(event) = sb.poll_event() {
            if let Event::Message { data, .. } = event {
                received += data.len();
            }
        }
        transmit(&mut b, &mut packet, now, usize::MAX);
        receive(&mut a, &mut buf, now);
        while a.sctp.as_mut().unwrap().poll_event().is_some() {}
        for p in [&mut a, &mut b] {
            let sctp = p.sctp.as_mut().unwrap();
            if sctp.poll_timeout().is_some_and(|t| t <= now) {
                sctp.handle_timeout(now);
            }
        }
        assert!(Instant::now() < deadline, "transfer stalled at {received} of {total} bytes");
    }
    let elapsed = start.map_or(Duration::ZERO, |s| s.elapsed());
    total as f64 / elapsed.as_secs_f64() / 1e6
}

/// DTLS records of `record` bytes over UDP, no SCTP: `total` bytes. Returns MB/s.
fn dtls_only(record: usize, total: usize, gso: bool) -> f64 {
    let (mut a, mut b) = connected_pair(gso);
    let payload = vec![0x5au8; record];
    let mut buf = vec![0u8; 65_536];
    let start = Instant::now();
    let mut received = 0;
    while received < total {
        for _ in 0..BURST {
            a.dtls.send_application_data(&payload).unwrap();
            send_all(&mut a);
        }
        a.out.flush(&a.socket);
        receive(&mut b, &mut buf, Instant::now());
        while let Some(event) = b.dtls.poll_event() {
            if let DtlsEvent::ApplicationData(data) = event {
                received += data.len();
                b.dtls.recycle(data);
            }
        }
    }
    total as f64 / start.elapsed().as_secs_f64() / 1e6
}

/// Raw UDP datagrams of `len` bytes, sent and read by one thread. Returns MB/s.
fn raw_udp(len: usize, total: usize, gso: bool) -> f64 {
    let (a, b) = sockets();
    let mut out = Segmenter::new(gso);
    let datagram = vec![0x5au8; len];
    let mut buf = vec![0u8; 65_536];
    let start = Instant::now();
    let mut received = 0;
    while received < total {
        for _ in 0..BURST {
            out.push(&a, &datagram);
        }
        out.flush(&a);
        loop {
            match b.recv(&mut buf) {
                Ok(n) => {
                    assert!(n <= DATAGRAM_MAX, "one datagram per read, never a coalesced run");
                    received += n;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("recv: {e}"),
            }
        }
    }
    total as f64 / start.elapsed().as_secs_f64() / 1e6
}

fn median(mut runs: Vec<f64>) -> f64 {
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

#[allow(clippy::print_stdout)] // a bench binary: its output is the report
fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once, small.
    let quick = !std::env::args().any(|a| a == "--bench");
    let mib: usize = std::env::var("SCTP_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 1 } else { 64 });
    let total = mib << 20;
    let runs = if quick { 1 } else { RUNS };
    let gso = std::env::var("SCTP_BENCH_GSO").map_or(true, |v| v != "0");
    // The SCTP packet size is 1100 bytes: DTLS adds its header and AEAD tag (37 bytes with
    // AES-GCM), so a record of 1100 is what a full SCTP packet costs on the wire.
    let record = Config::default().max_packet_size;
    let sends = if gso { "segmented sends" } else { "one datagram per send" };
    println!("loopback UDP, one thread, {mib} MiB per run, median of {runs}, {sends}:");
    let raw = median((0..runs).map(|_| raw_udp(record + 37, total, false)).collect());
    println!("  raw UDP, {}-byte datagrams, one per send: {raw:8.1} MB/s", record + 37);
    if gso {
        let raw = median((0..runs).map(|_| raw_udp(record + 37, total, true)).collect());
        println!("  raw UDP, {}-byte datagrams, segmented:    {raw:8.1} MB/s", record + 37);
    }
    let dtls = median((0..runs).map(|_| dtls_only(record, total, gso)).collect());
    println!("  DTLS records of {record} bytes, no SCTP:         {dtls:8.1} MB/s");
    for size in [1024, 64 * 1024] {
        let mbps = median((0..runs).map(|_| sctp_over_dtls(size, total, gso)).collect());
        println!("  SCTP over DTLS, {:>2} KiB messages:             {mbps:8.1} MB/s", size / 1024);
    }
}
