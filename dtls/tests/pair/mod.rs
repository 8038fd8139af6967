//! Two machines joined by a simulated network on a virtual clock, after quinn-proto's test
//! `Pair`: time jumps to the next delivery or timeout, and a step bound turns a livelock
//! into a panic.

use std::time::{Duration, Instant};

use dtls::{Certificate, Dtls, DtlsConfig, DtlsContext, Event, Role};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// Seeded impairments: loss, duplication, and reordering through random extra delay.
#[derive(Debug)]
pub struct Impairment {
    pub rng: SmallRng,
    pub loss: f64,
    pub duplicate: f64,
    pub jitter: Duration,
}

impl Impairment {
    pub fn new(seed: u64, loss: f64, duplicate: f64, jitter: Duration) -> Impairment {
        Impairment { rng: SmallRng::seed_from_u64(seed), loss, duplicate, jitter }
    }
}

struct InFlight {
    at: Instant,
    to: Side,
    datagram: Vec<u8>,
}

/// Decides per datagram whether it is delivered: `(from, index among that side's datagrams,
/// bytes) -> deliver?`.
pub type Intercept = Box<dyn FnMut(Side, usize, &[u8]) -> bool>;

pub struct Pair {
    pub start: Instant,
    pub now: Instant,
    pub client: Dtls,
    pub server: Dtls,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    /// Every datagram each side sent, delivered or not.
    pub sent_by_client: Vec<Vec<u8>>,
    pub sent_by_server: Vec<Vec<u8>>,
    /// One-way delay of every datagram.
    pub latency: Duration,
    pub impairment: Option<Impairment>,
    pub intercept: Option<Intercept>,
    /// `handle_receive` errors (dropped datagrams) per side.
    pub client_rejects: usize,
    pub server_rejects: usize,
    in_flight: Vec<InFlight>,
    steps: usize,
    pub max_steps: usize,
}

pub fn context(config: impl FnOnce(&mut DtlsConfig)) -> DtlsContext {
    let mut c = DtlsConfig::new(Certificate::generate().unwrap());
    config(&mut c);
    DtlsContext::new(c).unwrap()
}

impl Pair {
    pub fn new(client_ctx: &DtlsContext, server_ctx: &DtlsContext) -> Pair {
        let start = Instant::now();
        let client_fp = client_ctx.config().certificate.fingerprint().clone();
        let server_fp = server_ctx.config().certificate.fingerprint().clone();
        Pair::with_fingerprints(client_ctx, server_ctx, start, server_fp, client_fp)
    }

    /// `client_expects` is what the client believes the server's fingerprint is, and
    /// conversely.
    pub fn with_fingerprints(
        client_ctx: &DtlsContext,
        server_ctx: &DtlsContext,
        start: Instant,
        client_expects: dtls::Fingerprint,
        server_expects: dtls::Fingerprint,
    ) -> Pair {
        let server = Dtls::new(start, server_ctx, Role::Server, server_expects).unwrap();
        let client = Dtls::new(start, client_ctx, Role::Client, client_expects).unwrap();
        Pair {
            start,
            now: start,
            client,
            server,
            client_events: Vec::new(),
            server_events: Vec::new(),
            sent_by_client: Vec::new(),
            sent_by_server: Vec::new(),
            latency: Duration::from_millis(10),
            impairment: None,
            intercept: None,
            client_rejects: 0,
            server_rejects: 0,
            in_flight: Vec::new(),
            steps: 0,
            max_steps: 10_000,
        }
    }

    pub fn machine(&mut self, side: Side) -> &mut Dtls {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }

    /// Moves what both machines want to send into the network.
    fn collect_transmits(&mut self) {
        for from in [Side::Client, Side::Server] {
            while let Some(datagram) = self.machine(from).poll_transmit() {
                let log = match from {
                    Side::Client => &mut self.sent_by_client,
                    Side::Server => &mut self.sent_by_server,
                };
                let index = log.len();
                log.push(datagram.clone());
                if let Some(intercept) = &mut self.intercept {
                    if !intercept(from, index, &datagram) {
                        continue;
                    }
                }
                let to = match from {
                    Side::Client => Side::Server,
                    Side::Server => Side::Client,
                };
                let mut copies = 1;
                let mut delays = [self.latency; 2];
                if let Some(imp) = &mut self.impairment {
                    if imp.rng.gen_bool(imp.loss) {
                        continue;
                    }
                    if imp.rng.gen_bool(imp.duplicate) {
                        copies = 2;
                    }
                    for d in &mut delays {
                        *d += imp.jitter.mul_f64(imp.rng.gen::<f64>());
                    }
                }
                for delay in &delays[..copies] {
                    self.in_flight.push(InFlight {
                        at: self.now + *delay,
                        to,
                        datagram: datagram.clone(),
                    });
                }
            }
        }
    }

    fn collect_events(&mut self) {
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
        while let Some(e) = self.server.poll_event() {
            self.server_events.push(e);
        }
    }

    /// Hands `datagram` to one side now, as if it had just arrived.
    pub fn deliver(&mut self, to: Side, datagram: &[u8]) {
        let now = self.now;
        if self.machine(to).handle_receive(now, datagram).is_err() {
            match to {
                Side::Client => self.client_rejects += 1,
                Side::Server => self.server_rejects += 1,
            }
        }
        self.collect_events();
    }

    /// One step: deliver the earliest due datagram, or else jump the clock to the next
    /// delivery or timeout and fire the timeouts. Returns false when nothing is left to do.
    pub fn step(&mut self) -> bool {
        self.steps += 1;
        assert!(self.steps <= self.max_steps, "livelock: {} steps", self.steps);
        self.collect_transmits();
        let due = self
            .in_flight
            .iter()
            .enumerate()
            .filter(|(_, f)| f.at <= self.now)
            .min_by_key(|(_, f)| f.at)
            .map(|(i, _)| i);
        if let Some(i) = due {
            let f = self.in_flight.remove(i);
            self.deliver(f.to, &f.datagram);
            return true;
        }
        let next = [
            self.in_flight.iter().map(|f| f.at).min(),
            self.client.poll_timeout(),
            self.server.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else { return false };
        self.now = self.now.max(next);
        let now = self.now;
        for side in [Side::Client, Side::Server] {
            if self.machine(side).poll_timeout().is_some_and(|t| t <= now) {
                self.machine(side).handle_timeout(now);
            }
        }
        self.collect_events();
        true
    }

    /// Steps until `done` holds; panics if the network runs dry first.
    pub fn drive_until(&mut self, mut done: impl FnMut(&Pair) -> bool) {
        while !done(self) {
            assert!(self.step(), "nothing left to do and the condition does not hold");
        }
    }

    /// Steps until neither side has anything left to do.
    pub fn drive(&mut self) {
        while self.step() {}
    }

    /// Runs the handshake until both sides report Connected; panics on failure.
    pub fn connect(&mut self) {
        self.drive_until(|p| {
            for events in [&p.client_events, &p.server_events] {
                if let Some(e) =
                    events.iter().find(|e| matches!(e, Event::Failed(_) | Event::Closed))
                {
                    panic!("handshake ended with {e:?}");
                }
            }
            p.client.is_connected() && p.server.is_connected()
        });
    }

    pub fn steps(&self) -> usize {
        self.steps
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }
}

/// The keys of the single Connected event in `events`.
pub fn connected_keys(events: &[Event]) -> &dtls::SrtpKeyMaterial {
    let mut found = events.iter().filter_map(|e| match e {
        Event::Connected { srtp, .. } => Some(srtp),
        _ => None,
    });
    let keys = found.next().expect("a Connected event");
    assert!(found.next().is_none(), "Connected reported twice");
    keys
}

/// Whether `events` holds any Connected event.
pub fn has_keys(events: &[Event]) -> bool {
    events.iter().any(|e| matches!(e, Event::Connected { .. }))
}

/// Asserts the two sides hold mirrored keys of `profile`.
pub fn assert_matching_keys(pair: &Pair, profile: dtls::SrtpProfile) {
    let c = connected_keys(&pair.client_events);
    let s = connected_keys(&pair.server_events);
    assert_eq!(c.profile, profile);
    assert_eq!(s.profile, profile);
    assert_eq!(c.local_key, s.remote_key);
    assert_eq!(c.local_salt, s.remote_salt);
    assert_eq!(c.remote_key, s.local_key);
    assert_eq!(c.remote_salt, s.local_salt);
    assert_ne!(c.local_key, c.remote_key, "directions use distinct keys");
    assert_eq!(c.local_key.len(), profile.key_len().unwrap());
    assert_eq!(c.local_salt.len(), profile.salt_len().unwrap());
    assert_eq!(pair.client.selected_srtp_profile(), Some(profile));
    assert_eq!(pair.server.selected_srtp_profile(), Some(profile));
}
