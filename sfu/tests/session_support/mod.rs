//! A session and a test client joined by an in-memory network on a virtual clock, after
//! quinn-proto's `Pair`: the clock only moves when nothing is left to deliver, jumping to the
//! next delivery or timer, and a step bound turns a livelock into a panic. The network can
//! lose, duplicate, delay and reorder datagrams from a seeded generator, and a filter can
//! drop or change any datagram in flight.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dtls::{Certificate, DtlsConfig, DtlsContext, Role, SrtpProfile};
use rand::rngs::{SmallRng, StdRng};
use rand::{Rng, SeedableRng};
use sfu::session::{
    ConnectionState, Session, SessionEvent, SessionParams, SessionStats, SessionStatsSnapshot,
    Transmit,
};
use sfu::test_client::{TestClient, TestClientEvent, TestClientParams};

/// More steps than any test needs: reaching it means the two sides livelocked.
pub const MAX_STEPS: u64 = 200_000;

pub const SFU: &str = "192.0.2.10:443";
pub const BROWSER: &str = "198.51.100.7:50123";

/// Which way a datagram travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    ToSession,
    ToClient,
}

/// Seeded network impairment.
#[derive(Clone, Copy, Debug)]
pub struct Netem {
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram that got through arrives twice.
    pub duplicate: f64,
    /// Fixed one-way delay.
    pub latency: Duration,
    /// Extra delay, uniform in `0..jitter`, drawn per copy: more than the gap between two
    /// datagrams reorders them.
    pub jitter: Duration,
    pub seed: u64,
}

impl Netem {
    pub fn lossy(seed: u64) -> Netem {
        Netem {
            loss: 0.2,
            duplicate: 0.1,
            latency: Duration::from_millis(5),
            jitter: Duration::from_millis(30),
            seed,
        }
    }
}

/// How to build a [`Pair`].
#[derive(Clone, Debug)]
pub struct Options {
    pub seed: u64,
    pub session_role: Role,
    pub session_profiles: Vec<SrtpProfile>,
    pub client_profiles: Vec<SrtpProfile>,
    /// The session expects another certificate than the client's.
    pub session_expects_wrong_fingerprint: bool,
    /// The client expects another certificate than the session's.
    pub client_expects_wrong_fingerprint: bool,
    /// DTLS retransmission timeouts (initial, cap) of both sides; `None` for the defaults.
    pub dtls_rto: Option<(Duration, Duration)>,
    pub client_ice: ice::ControllingConfig,
    pub netem: Option<Netem>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seed: 1,
            session_role: Role::Server,
            session_profiles: SrtpProfile::DEFAULT_PREFERENCE.to_vec(),
            client_profiles: SrtpProfile::DEFAULT_PREFERENCE.to_vec(),
            session_expects_wrong_fingerprint: false,
            client_expects_wrong_fingerprint: false,
            dtls_rto: None,
            client_ice: ice::ControllingConfig::default(),
            netem: None,
        }
    }
}

type Filter = Box<dyn FnMut(Direction, &mut Vec<u8>) -> bool>;

struct InFlight {
    at: Instant,
    id: u64,
    direction: Direction,
    /// The receiver's address.
    to: SocketAddr,
    /// The sender's address.
    from: SocketAddr,
    datagram: Vec<u8>,
}

pub struct Pair {
    pub start: Instant,
    pub now: Instant,
    pub session: Session,
    pub client: TestClient,
    pub sfu: SocketAddr,
    pub browser: SocketAddr,
    pub session_events: Vec<SessionEvent>,
    pub client_events: Vec<TestClientEvent>,
    /// Called on every datagram sent: `false` drops it; it may change the bytes.
    pub filter: Option<Filter>,
    /// Copies of every datagram delivered to the session, as they were on the wire.
    pub delivered_to_session: Vec<Vec<u8>>,
    /// Copies of every datagram delivered to the client.
    pub delivered_to_client: Vec<Vec<u8>>,
    pub steps: u64,
    /// When the last STUN datagram was delivered to the session.
    pub last_stun_to_session: Option<Instant>,
    /// Datagrams the network lost.
    pub lost: u64,
    /// Datagrams the network delivered twice.
    pub duplicated: u64,
    netem: Option<(Netem, SmallRng)>,
    in_flight: Vec<InFlight>,
    next_id: u64,
}

pub fn dtls_context(profiles: &[SrtpProfile], rto: Option<(Duration, Duration)>) -> DtlsContext {
    let mut config = DtlsConfig::new(Certificate::generate().unwrap());
    config.srtp_profiles = profiles.to_vec();
    if let Some((initial, max)) = rto {
        config.initial_retransmit_timeout = initial;
        config.max_retransmit_timeout = max;
    }
    DtlsContext::new(config).unwrap()
}

impl Pair {
    pub fn new(options: Options) -> Pair {
        let mut rng = StdRng::seed_from_u64(options.seed);
        let sfu: SocketAddr = SFU.parse().unwrap();
        let browser: SocketAddr = BROWSER.parse().unwrap();
        let session_context = dtls_context(&options.session_profiles, options.dtls_rto);
        let client_context = dtls_context(&options.client_profiles, options.dtls_rto);
        let stranger = Certificate::generate().unwrap().fingerprint().clone();
        let session_fingerprint = session_context.config().certificate.fingerprint().clone();
        let client_fingerprint = client_context.config().certificate.fingerprint().clone();
        let sfu_ice = ice::Credentials::generate(&mut rng);
        let browser_ice = ice::Credentials::generate(&mut rng);

        let start = Instant::now();
        let params = SessionParams {
            local_credentials: sfu_ice.clone(),
            remote_credentials: browser_ice.clone(),
            ice: ice::IceConfig::default(),
            dtls_context: session_context,
            dtls_role: options.session_role,
            remote_fingerprint: if options.session_expects_wrong_fingerprint {
                stranger.clone()
            } else {
                client_fingerprint
            },
            srtp: srtp::Config::default(),
        };
        let session = Session::new(start, params, Arc::new(SessionStats::default())).unwrap();
        let mut client_params = TestClientParams::new(
            browser,
            sfu,
            browser_ice,
            sfu_ice,
            client_context,
            if options.client_expects_wrong_fingerprint { stranger } else { session_fingerprint },
        );
        client_params.dtls_role = match options.session_role {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        };
        client_params.ice = options.client_ice;
        let client = TestClient::new(start, client_params, &mut rng).unwrap();
        Pair {
            start,
            now: start,
            session,
            client,
            sfu,
            browser,
            session_events: Vec::new(),
            client_events: Vec::new(),
            filter: None,
            delivered_to_session: Vec::new(),
            delivered_to_client: Vec::new(),
            steps: 0,
            last_stun_to_session: None,
            lost: 0,
            duplicated: 0,
            netem: options.netem.map(|n| (n, SmallRng::seed_from_u64(n.seed))),
            in_flight: Vec::new(),
            next_id: 0,
        }
    }

    pub fn stats(&self) -> SessionStatsSnapshot {
        self.session.stats().snapshot()
    }

    /// Moves every datagram and event the two sides produced onto the network.
    pub fn collect(&mut self) {
        while let Some(t) = self.session.poll_transmit() {
            assert_eq!(t.local, self.sfu, "the session sends from its own address");
            self.send(Direction::ToClient, t);
        }
        while let Some(t) = self.client.poll_transmit() {
            self.send(Direction::ToSession, t);
        }
        while let Some(event) = self.session.poll_event() {
            self.session_events.push(event);
        }
        while let Some(event) = self.client.poll_event() {
            self.client_events.push(event);
        }
    }

    fn send(&mut self, direction: Direction, t: Transmit) {
        let mut datagram = t.datagram;
        if let Some(filter) = &mut self.filter {
            if !filter(direction, &mut datagram) {
                return;
            }
        }
        let mut delays = Vec::with_capacity(2);
        match &mut self.netem {
            None => delays.push(Duration::ZERO),
            Some((netem, rng)) => {
                if rng.gen_bool(netem.loss) {
                    if std::env::var_os("NETEM_DEBUG").is_some() {
                        eprintln!(
                            "{:?} lost {direction:?} {:?}",
                            self.now - self.start,
                            &datagram[..4]
                        );
                    }
                    self.lost += 1;
                    return;
                }
                let copies = if rng.gen_bool(netem.duplicate) {
                    self.duplicated += 1;
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    delays.push(netem.latency + netem.jitter.mul_f64(rng.gen::<f64>()));
                }
            }
        }
        for delay in delays {
            self.next_id += 1;
            self.in_flight.push(InFlight {
                at: self.now + delay,
                id: self.next_id,
                direction,
                to: t.remote,
                from: t.local,
                datagram: datagram.clone(),
            });
        }
    }

    /// Injects a datagram into the session as if it came from `from` to our address.
    pub fn inject(&mut self, from: SocketAddr, datagram: &[u8]) {
        let mut copy = datagram.to_vec();
        self.session.handle_receive(self.now, self.sfu, from, &mut copy);
    }

    /// Delivers everything due now, in order of arrival time. Returns whether anything was.
    fn deliver_due(&mut self) -> bool {
        let now = self.now;
        let (mut due, later): (Vec<InFlight>, Vec<InFlight>) =
            std::mem::take(&mut self.in_flight).into_iter().partition(|d| d.at <= now);
        self.in_flight = later;
        due.sort_by_key(|d| (d.at, d.id));
        let any = !due.is_empty();
        for d in due {
            match d.direction {
                Direction::ToSession => {
                    if is_stun(&d.datagram) {
                        self.last_stun_to_session = Some(now);
                    }
                    self.delivered_to_session.push(d.datagram.clone());
                    let mut datagram = d.datagram;
                    self.session.handle_receive(now, d.to, d.from, &mut datagram);
                }
                Direction::ToClient => {
                    self.delivered_to_client.push(d.datagram.clone());
                    self.client.handle_receive(now, d.to, d.from, &d.datagram);
                }
            }
        }
        any
    }

    /// One step: deliver what is due, or else move the clock to the next delivery or timer
    /// and fire the timers. Returns `false` when nothing is in flight and no timer is set.
    pub fn step(&mut self) -> bool {
        self.steps += 1;
        assert!(self.steps <= MAX_STEPS, "livelock: {MAX_STEPS} steps");
        self.collect();
        if self.deliver_due() {
            self.collect();
            return true;
        }
        let next_delivery = self.in_flight.iter().map(|d| d.at).min();
        let next = [next_delivery, self.session.poll_timeout(), self.client.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next else {
            return false;
        };
        self.now = self.now.max(next);
        self.session.handle_timeout(self.now);
        self.client.handle_timeout(self.now);
        self.collect();
        true
    }

    /// Steps until `done` holds; panics if that takes more than `max` of virtual time or if
    /// everything goes quiet first.
    pub fn run_until(&mut self, max: Duration, mut done: impl FnMut(&Pair) -> bool) {
        let deadline = self.now + max;
        loop {
            self.collect();
            if done(self) {
                return;
            }
            assert!(self.now <= deadline, "not done within {max:?}: {}", self.describe());
            assert!(self.step(), "nothing left to happen, condition false: {}", self.describe());
        }
    }

    /// The state of both sides, for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "at {:?} after {} steps: session {:?}, events {:?}, stats {:?}, ICE {:?}; \
             client connected {}, ICE {:?}, events {:?}, failure {:?}, ICE {:?}; \
             network lost {} duplicated {}",
            self.now - self.start,
            self.steps,
            self.session.state(),
            self.session_events,
            self.stats(),
            self.session.ice_stats(),
            self.client.is_connected(),
            self.client.ice_state(),
            self.client_events,
            self.client.failure(),
            self.client.ice_stats(),
            self.lost,
            self.duplicated,
        )
    }

    /// Steps until both sides are connected.
    pub fn connect(&mut self) {
        self.run_until(Duration::from_secs(60), |p| {
            p.client.is_connected() && p.session.state() == ConnectionState::Connected
        });
    }

    /// Delivers everything in flight (firing the timers that come due on the way), and stops
    /// as soon as the network is empty.
    pub fn flush(&mut self) {
        loop {
            self.collect();
            if self.in_flight.is_empty() {
                return;
            }
            assert!(self.step());
        }
    }

    /// Advances the clock by `by`, stepping through every delivery and timer on the way.
    pub fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        loop {
            self.collect();
            let next_delivery = self.in_flight.iter().map(|d| d.at).min();
            let next = [next_delivery, self.session.poll_timeout(), self.client.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(next) if next <= until => assert!(self.step()),
                _ => break,
            }
        }
        self.now = until;
        self.session.handle_timeout(self.now);
        self.client.handle_timeout(self.now);
        self.collect();
    }

    /// The position of the first session event equal to `event`.
    pub fn session_event_index(&self, event: &SessionEvent) -> Option<usize> {
        self.session_events.iter().position(|e| e == event)
    }
}

/// The sequence number of an SRTP datagram (its header is in the clear).
pub fn rtp_sequence(datagram: &[u8]) -> u16 {
    u16::from_be_bytes([datagram[2], datagram[3]])
}

/// Whether a datagram is SRTP (not SRTCP) by RFC 5761.
pub fn is_srtp(datagram: &[u8]) -> bool {
    matches!(datagram, [128..=191, b, ..] if !(64..=95).contains(&(b & 0x7f)))
}

/// Whether a datagram is SRTCP by RFC 5761.
pub fn is_srtcp(datagram: &[u8]) -> bool {
    matches!(datagram, [128..=191, b, ..] if (64..=95).contains(&(b & 0x7f)))
}

/// Whether a datagram is a STUN Binding request with USE-CANDIDATE.
pub fn is_nomination(datagram: &[u8]) -> bool {
    stun::Message::parse(datagram)
        .ok()
        .and_then(|m| m.get::<stun::attributes::UseCandidate>().ok().flatten())
        .is_some()
}

/// Whether a datagram is STUN.
pub fn is_stun(datagram: &[u8]) -> bool {
    matches!(datagram.first(), Some(0..=3))
}

/// Whether a datagram is DTLS.
pub fn is_dtls(datagram: &[u8]) -> bool {
    matches!(datagram.first(), Some(20..=63))
}

/// A payload of `len` bytes that depends on `n`.
pub fn payload(n: u16, len: usize) -> Vec<u8> {
    (0..len).map(|i| (usize::from(n) * 31 + i) as u8).collect()
}

/// A publisher's and a subscriber's SFU sessions as the router reaches them, by their ids.
pub struct Both<'a> {
    pub ids: (sfu::directory::SessionId, sfu::directory::SessionId),
    pub publisher: &'a mut Session,
    pub subscriber: &'a mut Session,
}

impl sfu::router::Sessions for Both<'_> {
    fn session_mut(&mut self, id: sfu::directory::SessionId) -> Option<&mut Session> {
        if id == self.ids.0 {
            Some(self.publisher)
        } else if id == self.ids.1 {
            Some(self.subscriber)
        } else {
            None
        }
    }
}

/// What a router sends, kept in order; messages for other workers are refused (one worker).
#[derive(Default)]
pub struct Sink(pub Vec<Vec<u8>>);

impl sfu::router::MediaSink for Sink {
    fn send(&mut self, _local: SocketAddr, _remote: SocketAddr, datagram: &[u8]) {
        self.0.push(datagram.to_vec());
    }
    fn forward(&mut self, _worker: usize, _message: sfu::router::Forward) -> bool {
        false
    }
}
