//! A load harness for the sfu: how many packets it forwards, at what CPU cost, against a
//! plain UDP fan-out measured in the same run.
//!
//! One measurement point ([`run_point`]):
//! - starts the sfu in this process on 127.0.0.1 ([`sfu::api::serve`], its UDP workers on
//!   threads named `sfu-udp-N`);
//! - connects `publishers` publishers and `subscribers` subscribers per publisher through
//!   the HTTP API (`sessions/new`, `tracks/new` push with the client's offer, `tracks/new`
//!   pull answered through `renegotiate`), each a [`sfu::test_client::TestClient`] on its own
//!   loopback UDP socket (ICE, DTLS, SRTP as a browser does);
//! - each publisher sends video (VP8 payloads, fixed-size packets at a bitrate, 30 frames
//!   per second, periodic keyframes and one per PLI) and opus-like audio (50 packets/s);
//! - after a warm-up, measures over a window: the sfu's `rtp_forwarded` counter (`GET
//!   .../stats`), what the subscribers decrypted and the sequence gaps they saw, and the CPU
//!   time of the sfu's worker threads (`/proc/self/task/*/schedstat`).
//!
//! The reference ([`run_reference`]) sends the same packets at the same rate to one thread
//! that receives each and sends a copy to every subscriber socket with plain `send_to`, no
//! SRTP, no RTP parsing: the kernel's share of the sfu's per-packet cost on this machine.
//!
//! The clients run in the caller's tokio runtime (in the same process), so the machine's
//! cores are shared between the sfu and its load; see `docs/load.md`.

mod cpu;
mod http;
mod media;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use serde_json::{json, Value};
use tokio::net::UdpSocket;
use tokio::sync::watch;

pub use cpu::{process_cpu, threads_cpu};
use http::Api;
pub use media::{MediaSchedule, Packet};

/// The harness's error: what failed, for the operator.
#[derive(Debug)]
pub struct LoadError(pub String);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

/// Results of the harness.
pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The publisher's offer: Firefox 133 with audio (mid 0, opus 109) and video (mid 1, VP8
/// 120), the sfu's own test fixture.
const OFFER: &str = include_str!("../../../sfu/tests/fixtures/firefox_133_audio_video.sdp");
const VIDEO_SSRC: u32 = 1_893_459_208;
const AUDIO_SSRC: u32 = 3_426_548_893;
const VP8: u8 = 120;
const OPUS: u8 = 109;
/// The offer's extension ids: mid 3, abs-send-time 4 (video), audio level 1 (audio).
const MID_ID: u8 = 3;
const ABS_SEND_TIME_ID: u8 = 4;
const AUDIO_LEVEL_ID: u8 = 1;
/// The bearer token of the in-process server.
const SECRET: &str = "load-harness-secret";
/// How long a client may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for the last packets to arrive after the window ends.
const DRAIN: Duration = Duration::from_millis(300);
/// The name prefix of the reference fan-out's thread.
const REFERENCE_THREAD: &str = "load-fanout";

/// One measurement point.
#[derive(Debug, Clone)]
pub struct PointConfig {
    /// Publishers, each with audio and video.
    pub publishers: usize,
    /// Subscribers per publisher, each pulling its audio and video.
    pub subscribers: usize,
    /// Video bitrate per publisher, bits per second.
    pub video_bitrate: u64,
    /// Size of a video datagram, bytes.
    pub packet_size: usize,
    /// A keyframe this often (and one per PLI).
    pub keyframe_interval: Duration,
    /// Sending before the window starts (subscribers get their first keyframe).
    pub warmup: Duration,
    /// The measurement window.
    pub duration: Duration,
    /// The sfu's UDP worker threads.
    pub workers: usize,
}

impl Default for PointConfig {
    fn default() -> Self {
        PointConfig {
            publishers: 1,
            subscribers: 10,
            video_bitrate: 2_500_000,
            packet_size: 1200,
            keyframe_interval: Duration::from_secs(2),
            warmup: Duration::from_millis(1500),
            duration: Duration::from_secs(10),
            workers: 1,
        }
    }
}

/// What one point measured over its window.
#[derive(Debug, Clone, Default)]
pub struct PointReport {
    /// Length of the window.
    pub window: Duration,
    /// RTP packets the publishers sent.
    pub sent: u64,
    /// The sfu's `rtp_forwarded` counter over the window.
    pub forwarded: u64,
    /// RTP packets the subscribers decrypted.
    pub received: u64,
    /// Sequence numbers the subscribers never saw (gaps), over the whole run.
    pub lost: u64,
    /// Packets the subscribers decrypted over the whole run (the base of `lost`).
    pub received_total: u64,
    /// CPU time of the sfu's worker threads over the window.
    pub sfu_cpu: Duration,
    /// CPU time of the whole process (sfu, clients, HTTP) over the window.
    pub process_cpu: Duration,
}

impl PointReport {
    /// Forwarded packets per second.
    pub fn forwarded_rate(&self) -> f64 {
        per_second(self.forwarded, self.window)
    }

    /// Subscribers' receive rate, packets per second.
    pub fn received_rate(&self) -> f64 {
        per_second(self.received, self.window)
    }

    /// Share of the packets the subscribers missed.
    pub fn loss(&self) -> f64 {
        ratio(self.lost, self.lost + self.received_total)
    }

    /// Cores the sfu's workers kept busy.
    pub fn sfu_cores(&self) -> f64 {
        self.sfu_cpu.as_secs_f64() / self.window.as_secs_f64().max(1e-9)
    }

    /// Packets forwarded per second of the workers' CPU time.
    pub fn forwarded_per_cpu_second(&self) -> f64 {
        self.forwarded as f64 / self.sfu_cpu.as_secs_f64().max(1e-9)
    }
}

/// What the reference fan-out measured.
#[derive(Debug, Clone, Default)]
pub struct ReferenceReport {
    /// Length of the window.
    pub window: Duration,
    /// Copies sent by the fan-out thread over the window.
    pub copies: u64,
    /// Copies the subscriber sockets received over the window.
    pub received: u64,
    /// CPU time of the fan-out thread over the window.
    pub cpu: Duration,
}

impl ReferenceReport {
    /// Copies per second.
    pub fn copies_rate(&self) -> f64 {
        per_second(self.copies, self.window)
    }

    /// Copies per second of the fan-out thread's CPU time.
    pub fn copies_per_cpu_second(&self) -> f64 {
        self.copies as f64 / self.cpu.as_secs_f64().max(1e-9)
    }
}

fn per_second(count: u64, window: Duration) -> f64 {
    count as f64 / window.as_secs_f64().max(1e-9)
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Counters shared by the client tasks.
#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    received: AtomicU64,
    lost: AtomicU64,
}

/// One client: a [`sfu::test_client::TestClient`] on its own UDP socket.
struct Peer {
    client: sfu::test_client::TestClient,
    socket: UdpSocket,
    local: SocketAddr,
    buf: Vec<u8>,
}

impl Peer {
    async fn new(
        target: SocketAddr,
        sfu: ice::Credentials,
        browser: ice::Credentials,
        ours: dtls::DtlsContext,
        fingerprint: dtls::Fingerprint,
        rng: &mut rand::rngs::StdRng,
    ) -> Result<Peer> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let local = socket.local_addr()?;
        let params =
            sfu::test_client::TestClientParams::new(local, target, browser, sfu, ours, fingerprint);
        let client = sfu::test_client::TestClient::new(Instant::now(), params, rng)?;
        Ok(Peer { client, socket, local, buf: vec![0u8; 2048] })
    }

    async fn flush(&mut self) -> Result<()> {
        while let Some(t) = self.client.poll_transmit() {
            self.socket.send_to(&t.datagram, t.remote).await?;
        }
        Ok(())
    }

    /// Feeds every datagram already waiting on the socket.
    fn read_ready(&mut self) -> Result<()> {
        loop {
            match self.socket.try_recv_from(&mut self.buf) {
                Ok((len, from)) => {
                    self.client.handle_receive(Instant::now(), self.local, from, &self.buf[..len])
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Waits until a datagram arrives, `until` passes or `stop` changes; then feeds what
    /// arrived, fires due timers and sends what is queued.
    async fn turn(&mut self, until: Instant, stop: &mut watch::Receiver<bool>) -> Result<()> {
        let until = self.client.poll_timeout().map_or(until, |t| t.min(until));
        tokio::select! {
            ready = self.socket.readable() => { ready?; self.read_ready()?; }
            () = tokio::time::sleep_until(until.into()) => {}
            _ = stop.changed() => {}
        }
        self.client.handle_timeout(Instant::now());
        self.flush().await
    }

    /// Turns until DTLS is up.
    async fn connect(&mut self, what: &str) -> Result<()> {
        let (_keep, mut never) = watch::channel(false);
        let end = Instant::now() + CONNECT_TIMEOUT;
        self.flush().await?;
        while !self.client.is_connected() {
            if Instant::now() >= end {
                return Err(LoadError(format!(
                    "{what} did not connect in {CONNECT_TIMEOUT:?}: {:?} {:?}",
                    self.client.failure(),
                    self.client.stats()
                ))
                .into());
            }
            self.turn(Instant::now() + Duration::from_millis(20), &mut never).await?;
        }
        Ok(())
    }
}

fn identity(seed: u64) -> Result<(rand::rngs::StdRng, ice::Credentials, dtls::DtlsContext)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let ours = dtls::DtlsContext::new(dtls::DtlsConfig::new(dtls::Certificate::generate()?))?;
    let browser = ice::Credentials::generate(&mut rng);
    Ok((rng, browser, ours))
}

/// A publisher session pushing the offer's audio and video as `mic` and `cam`.
async fn publish(
    api: &Api,
    target: SocketAddr,
    fingerprint: &dtls::Fingerprint,
    seed: u64,
) -> Result<(String, Peer)> {
    let (mut rng, browser, ours) = identity(seed)?;
    let offer = http::personalize(OFFER, &browser, ours.config().certificate.fingerprint());
    let created = api.call("POST", "sessions/new", Some(&json!({})), 201).await?;
    let id = created["sessionId"].as_str().ok_or(LoadError("no sessionId".into()))?.to_owned();
    let body = json!({
        "sessionDescription": {"type": "offer", "sdp": offer},
        "tracks": [
            {"location": "local", "mid": "0", "trackName": "mic"},
            {"location": "local", "mid": "1", "trackName": "cam"},
        ],
    });
    let pushed = api.call("POST", &format!("sessions/{id}/tracks/new"), Some(&body), 200).await?;
    let answer = pushed["sessionDescription"]["sdp"]
        .as_str()
        .ok_or_else(|| LoadError(format!("push without an answer: {pushed}")))?;
    let sfu = http::sfu_credentials(answer)?;
    let peer = Peer::new(target, sfu, browser, ours, fingerprint.clone(), &mut rng).await?;
    Ok((id, peer))
}

/// A subscriber session pulling `publisher`'s `cam` and `mic` with the sfu's offer.
async fn subscribe(
    api: &Api,
    target: SocketAddr,
    fingerprint: &dtls::Fingerprint,
    publisher: &str,
    seed: u64,
) -> Result<Peer> {
    let (mut rng, browser, ours) = identity(seed)?;
    let created = api.call("POST", "sessions/new", Some(&json!({})), 201).await?;
    let id = created["sessionId"].as_str().ok_or(LoadError("no sessionId".into()))?.to_owned();
    let body = json!({"tracks": [
        {"location": "remote", "sessionId": publisher, "trackName": "cam"},
        {"location": "remote", "sessionId": publisher, "trackName": "mic"},
    ]});
    let pulled = api.call("POST", &format!("sessions/{id}/tracks/new"), Some(&body), 200).await?;
    let offer = pulled["sessionDescription"]["sdp"]
        .as_str()
        .ok_or_else(|| LoadError(format!("pull without an offer: {pulled}")))?;
    let answer = http::browser_answer(offer, &browser, ours.config().certificate.fingerprint())?;
    let body = json!({"sessionDescription": {"type": "answer", "sdp": answer}});
    api.call("PUT", &format!("sessions/{id}/renegotiate"), Some(&body), 200).await?;
    let sfu = http::sfu_credentials(offer)?;
    Peer::new(target, sfu, browser, ours, fingerprint.clone(), &mut rng).await
}

/// Sends the schedule's packets until `stop`; answers PLIs with a keyframe.
async fn run_publisher(
    mut peer: Peer,
    config: PointConfig,
    counters: Arc<Counters>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let mut schedule = MediaSchedule::new(
        config.video_bitrate,
        config.packet_size,
        config.keyframe_interval,
        Instant::now(),
    );
    let mut payload = vec![0u8; config.packet_size.saturating_sub(media::VIDEO_OVERHEAD).max(16)];
    let audio = [0x55u8; media::AUDIO_PAYLOAD];
    let (mut video_seq, mut audio_seq) = (1000u16, 5000u16);
    let mut abs_send_time = 0u32;
    while !*stop.borrow() {
        let now = Instant::now();
        while let Some(packet) = schedule.poll(now) {
            match packet {
                Packet::Video { timestamp, last, .. } => {
                    media::vp8_payload(packet, &mut payload);
                    abs_send_time = abs_send_time.wrapping_add(1);
                    let ast = abs_send_time.to_be_bytes();
                    let extensions: [(u8, &[u8]); 2] =
                        [(MID_ID, b"1"), (ABS_SEND_TIME_ID, &ast[1..])];
                    let header = rtp::RtpHeaderWriter {
                        payload_type: VP8,
                        sequence_number: video_seq,
                        timestamp,
                        ssrc: VIDEO_SSRC,
                        marker: last,
                        extensions: &extensions,
                        ..rtp::RtpHeaderWriter::default()
                    };
                    peer.client.send_rtp_with(&header, &payload)?;
                    video_seq = video_seq.wrapping_add(1);
                }
                Packet::Audio { timestamp } => {
                    let extensions: [(u8, &[u8]); 2] = [(MID_ID, b"0"), (AUDIO_LEVEL_ID, &[0x9e])];
                    let header = rtp::RtpHeaderWriter {
                        payload_type: OPUS,
                        sequence_number: audio_seq,
                        timestamp,
                        ssrc: AUDIO_SSRC,
                        extensions: &extensions,
                        ..rtp::RtpHeaderWriter::default()
                    };
                    peer.client.send_rtp_with(&header, &audio)?;
                    audio_seq = audio_seq.wrapping_add(1);
                }
            }
            counters.sent.fetch_add(1, Ordering::Relaxed);
            peer.flush().await?;
        }
        peer.turn(schedule.next_due(), &mut stop).await?;
        for compound in peer.client.take_received_rtcp() {
            let pli = rtcp::CompoundIter::new(&compound)
                .any(|p| matches!(p, Ok(rtcp::Packet::Pli(pli)) if pli.media_ssrc() == VIDEO_SSRC));
            if pli {
                schedule.request_keyframe();
            }
        }
    }
    Ok(())
}

/// Receives until `stop`, counting packets and sequence gaps per SSRC.
async fn run_subscriber(
    mut peer: Peer,
    counters: Arc<Counters>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let mut last: HashMap<u32, u16> = HashMap::new();
    while !*stop.borrow() {
        peer.turn(Instant::now() + Duration::from_millis(50), &mut stop).await?;
        let packets = peer.client.take_received_rtp();
        let (mut received, mut lost) = (0u64, 0u64);
        for p in &packets {
            received += 1;
            match last.get_mut(&p.ssrc) {
                None => {
                    last.insert(p.ssrc, p.sequence_number);
                }
                Some(prev) => {
                    let ahead = p.sequence_number.wrapping_sub(*prev);
                    // A step forward of less than half the space is new (the gap before it
                    // lost); anything else is a late or repeated packet, not counted.
                    if ahead != 0 && ahead < 0x8000 {
                        lost += u64::from(ahead - 1);
                        *prev = p.sequence_number;
                    }
                }
            }
        }
        counters.received.fetch_add(received, Ordering::Relaxed);
        counters.lost.fetch_add(lost, Ordering::Relaxed);
        let _ = peer.client.take_received_rtcp();
    }
    Ok(())
}

/// Sleeps, failing early when a client task ended (it only ends on an error before `stop`).
async fn watch_tasks(tasks: &mut tokio::task::JoinSet<Result<()>>, time: Duration) -> Result<()> {
    let sleep = tokio::time::sleep(time);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            () = &mut sleep => return Ok(()),
            done = tasks.join_next() => match done {
                None => { sleep.as_mut().await; return Ok(()); }
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(e))) => return Err(LoadError(format!("a client failed: {e}")).into()),
                Some(Err(e)) => return Err(LoadError(format!("a client task failed: {e}")).into()),
            },
        }
    }
}

/// One point against the sfu, started in this process for the point and stopped after.
pub async fn run_point(config: &PointConfig) -> Result<PointReport> {
    let mut sfu_config = sfu::config::Config::ephemeral();
    sfu_config.udp_listen = vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 0))];
    sfu_config.workers = config.workers.max(1);
    sfu_config.app_secret = SECRET.to_owned();
    sfu_config.app_secret_generated = false;
    let running = sfu::api::serve(sfu_config).await?;
    let api =
        Api { addr: running.http_addr, app_id: running.app_id.clone(), secret: SECRET.to_owned() };
    let target = *running.udp_addrs.first().ok_or(LoadError("no UDP address".into()))?;
    let fingerprint = running.fingerprint().clone();

    let counters = Arc::new(Counters::default());
    let (stop_tx, stop) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let mut seed = 1u64;
    let mut publishers = Vec::new();
    for p in 0..config.publishers {
        let (id, mut peer) = publish(&api, target, &fingerprint, seed).await?;
        seed += 1;
        peer.connect(&format!("publisher {p}")).await?;
        tasks.spawn(run_publisher(peer, config.clone(), Arc::clone(&counters), stop.clone()));
        publishers.push(id);
    }
    for (p, id) in publishers.iter().enumerate() {
        for s in 0..config.subscribers {
            let mut peer = subscribe(&api, target, &fingerprint, id, seed).await?;
            seed += 1;
            peer.connect(&format!("subscriber {s} of publisher {p}")).await?;
            tasks.spawn(run_subscriber(peer, Arc::clone(&counters), stop.clone()));
        }
    }
    watch_tasks(&mut tasks, config.warmup).await?;

    let stats = |s: &Value| s["rtp_forwarded"].as_u64().unwrap_or(0);
    let forwarded_before = stats(&api.call("GET", "stats", None, 200).await?);
    let (sfu_before, process_before) = (threads_cpu("sfu-udp"), process_cpu());
    let (sent_before, received_before) =
        (counters.sent.load(Ordering::Relaxed), counters.received.load(Ordering::Relaxed));
    let start = Instant::now();
    watch_tasks(&mut tasks, config.duration).await?;
    let window = start.elapsed();
    let (sfu_after, process_after) = (threads_cpu("sfu-udp"), process_cpu());
    let (sent_after, received_after) =
        (counters.sent.load(Ordering::Relaxed), counters.received.load(Ordering::Relaxed));
    let forwarded_after = stats(&api.call("GET", "stats", None, 200).await?);

    // Stop the publishers first, then let the subscribers read what is still in flight.
    stop_tx.send_replace(true);
    tokio::time::sleep(DRAIN).await;
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| LoadError(format!("a client task failed: {e}")))??;
    }
    running.shutdown().await;
    Ok(PointReport {
        window,
        sent: sent_after - sent_before,
        forwarded: forwarded_after.saturating_sub(forwarded_before),
        received: received_after - received_before,
        lost: counters.lost.load(Ordering::Relaxed),
        received_total: counters.received.load(Ordering::Relaxed),
        sfu_cpu: sfu_after.saturating_sub(sfu_before),
        process_cpu: process_after.saturating_sub(process_before),
    })
}

/// The reference: the same packets at the same rate from each publisher socket to one
/// thread that sends a copy of each to every subscriber socket of that publisher.
pub async fn run_reference(config: &PointConfig) -> Result<ReferenceReport> {
    let relay = StdUdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    relay.set_read_timeout(Some(Duration::from_millis(50)))?;
    let relay_addr = relay.local_addr()?;
    let mut publishers = Vec::new();
    let mut routes: HashMap<SocketAddr, Vec<SocketAddr>> = HashMap::new();
    let mut sinks = Vec::new();
    for _ in 0..config.publishers {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let mut subscribers = Vec::new();
        for _ in 0..config.subscribers {
            let sink = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
            subscribers.push(sink.local_addr()?);
            sinks.push(sink);
        }
        routes.insert(socket.local_addr()?, subscribers);
        publishers.push(socket);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let copies = Arc::new(AtomicU64::new(0));
    let fanout = {
        let (stop, copies) = (Arc::clone(&stop), Arc::clone(&copies));
        std::thread::Builder::new().name(REFERENCE_THREAD.into()).spawn(move || {
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::Relaxed) {
                let Ok((len, from)) = relay.recv_from(&mut buf) else { continue };
                let Some(subscribers) = routes.get(&from) else { continue };
                for to in subscribers {
                    if relay.send_to(&buf[..len], to).is_ok() {
                        copies.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })?
    };

    let received = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for sink in sinks {
        let (received, mut stop_rx) = (Arc::clone(&received), stop_rx.clone());
        tasks.spawn(async move {
            let mut buf = vec![0u8; 2048];
            loop {
                tokio::select! {
                    r = sink.recv_from(&mut buf) => { if r.is_ok() { received.fetch_add(1, Ordering::Relaxed); } }
                    _ = stop_rx.changed() => return,
                }
            }
        });
    }
    for socket in publishers {
        let (config, mut stop_rx) = (config.clone(), stop_rx.clone());
        tasks.spawn(async move {
            let mut schedule = MediaSchedule::new(
                config.video_bitrate,
                config.packet_size,
                config.keyframe_interval,
                Instant::now(),
            );
            let video = vec![0x5au8; config.packet_size.max(16)];
            let audio = [0x55u8; media::AUDIO_PAYLOAD + media::VIDEO_OVERHEAD];
            while !*stop_rx.borrow() {
                while let Some(packet) = schedule.poll(Instant::now()) {
                    let datagram: &[u8] = match packet {
                        Packet::Video { .. } => &video,
                        Packet::Audio { .. } => &audio,
                    };
                    let _ = socket.send_to(datagram, relay_addr).await;
                }
                tokio::select! {
                    () = tokio::time::sleep_until(schedule.next_due().into()) => {}
                    _ = stop_rx.changed() => {}
                }
            }
        });
    }

    tokio::time::sleep(config.warmup).await;
    let (cpu_before, copies_before, received_before) = (
        threads_cpu(REFERENCE_THREAD),
        copies.load(Ordering::Relaxed),
        received.load(Ordering::Relaxed),
    );
    let start = Instant::now();
    tokio::time::sleep(config.duration).await;
    let window = start.elapsed();
    let (cpu_after, copies_after, received_after) = (
        threads_cpu(REFERENCE_THREAD),
        copies.load(Ordering::Relaxed),
        received.load(Ordering::Relaxed),
    );
    stop_tx.send_replace(true);
    stop.store(true, Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}
    fanout.join().map_err(|_| LoadError("the fan-out thread panicked".into()))?;
    Ok(ReferenceReport {
        window,
        copies: copies_after - copies_before,
        received: received_after - received_before,
        cpu: cpu_after.saturating_sub(cpu_before),
    })
}
