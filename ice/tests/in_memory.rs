//! The controlling client against the lite agent over an in-memory network with a virtual
//! clock, seeded loss, duplication and reordering. No sleeps: the clock jumps to the next
//! timer or delivery, and every run is bounded in steps.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice::{
    CandidatePair, ConnectionState, ControllingConfig, Credentials, IceConfig,
    IceControllingClient, IceEvent, IceLiteAgent, Transmit,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// No scenario here may need more steps than this; more means a livelock.
const MAX_STEPS: usize = 50_000;

fn sfu_addr() -> SocketAddr {
    "192.0.2.10:443".parse().unwrap()
}

fn browser_addr(port: u16) -> SocketAddr {
    SocketAddr::from(([198, 51, 100, 7], port))
}

/// A datagram on the wire.
#[derive(Debug)]
struct InFlight {
    at: Instant,
    seq: u64,
    transmit: Transmit,
}

/// Seeded impairments: each datagram is lost with probability `loss`, duplicated with
/// probability `duplicate`, and delayed by a random 1..=`max_delay_ms`, which reorders.
#[derive(Clone, Copy, Debug)]
struct Impairment {
    loss: f64,
    duplicate: f64,
    max_delay_ms: u64,
}

const PERFECT: Impairment = Impairment { loss: 0.0, duplicate: 0.0, max_delay_ms: 1 };
const LOSSY: Impairment = Impairment { loss: 0.2, duplicate: 0.2, max_delay_ms: 200 };

struct Sim {
    now: Instant,
    start: Instant,
    rng: StdRng,
    impairment: Impairment,
    /// Everything is dropped while true.
    blackout: bool,
    agent: IceLiteAgent,
    clients: Vec<IceControllingClient>,
    wire: Vec<InFlight>,
    seq: u64,
    steps: usize,
    agent_events: Vec<(Duration, IceEvent)>,
    client_events: Vec<(Duration, IceEvent)>,
    delivered: u64,
}

impl Sim {
    fn new(seed: u64, impairment: Impairment) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let sfu = Credentials::generate(&mut rng);
        let browser = Credentials::generate(&mut rng);
        let now = Instant::now();
        let agent = IceLiteAgent::new(IceConfig::default(), sfu.clone(), Some(browser.clone()));
        let pair = CandidatePair { local: browser_addr(50_000), remote: sfu_addr() };
        let client = IceControllingClient::new(
            now,
            ControllingConfig::default(),
            browser,
            sfu,
            pair,
            &mut rng,
        )
        .unwrap();
        Self {
            now,
            start: now,
            rng,
            impairment,
            blackout: false,
            agent,
            clients: vec![client],
            wire: Vec::new(),
            seq: 0,
            steps: 0,
            agent_events: Vec::new(),
            client_events: Vec::new(),
            delivered: 0,
        }
    }

    fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    fn client(&self) -> &IceControllingClient {
        &self.clients[0]
    }

    fn put_on_wire(&mut self, transmit: Transmit) {
        if self.blackout || self.rng.gen_bool(self.impairment.loss) {
            if std::env::var("SIM_TRACE").is_ok() {
                eprintln!(
                    "{:?} LOST {} -> {}",
                    self.now - self.start,
                    transmit.local,
                    transmit.remote
                );
            }
            return;
        }
        let copies = if self.rng.gen_bool(self.impairment.duplicate) { 2 } else { 1 };
        for _ in 0..copies {
            let delay = Duration::from_millis(self.rng.gen_range(1..=self.impairment.max_delay_ms));
            self.seq += 1;
            self.wire.push(InFlight {
                at: self.now + delay,
                seq: self.seq,
                transmit: transmit.clone(),
            });
        }
    }

    /// Moves every queued datagram onto the wire and records the events.
    fn drain(&mut self) {
        let elapsed = self.elapsed();
        while let Some(t) = self.agent.poll_transmit() {
            self.put_on_wire(t);
        }
        while let Some(e) = self.agent.poll_event() {
            self.agent_events.push((elapsed, e));
        }
        for i in 0..self.clients.len() {
            while let Some(t) = self.clients[i].poll_transmit() {
                self.put_on_wire(t);
            }
            while let Some(e) = self.clients[i].poll_event() {
                self.client_events.push((elapsed, e));
            }
        }
    }

    /// One step: jump to the next timer or delivery, deliver what is due, fire timers.
    /// Returns false when nothing at all is scheduled.
    fn step(&mut self) -> bool {
        self.steps += 1;
        assert!(self.steps < MAX_STEPS, "livelock: {} steps", self.steps);
        self.drain();
        let timers =
            self.clients.iter().map(|c| c.poll_timeout()).chain([self.agent.poll_timeout()]);
        let deliveries = self.wire.iter().map(|d| Some(d.at));
        let Some(next) = timers.chain(deliveries).flatten().min() else {
            return false;
        };
        self.now = self.now.max(next);
        self.wire.sort_by_key(|d| (d.at, d.seq));
        let due = self.wire.iter().take_while(|d| d.at <= self.now).count();
        for d in self.wire.drain(..due).collect::<Vec<_>>() {
            let Transmit { local: from, remote: to, datagram } = d.transmit;
            self.delivered += 1;
            if std::env::var("SIM_TRACE").is_ok() {
                eprintln!("{:?} {from} -> {to} {} bytes", self.now - self.start, datagram.len());
            }
            if to == sfu_addr() {
                // What the SFU's driver does: only STUN reaches the agent.
                assert!(stun::is_stun(&datagram));
                self.agent.handle_receive(self.now, to, from, &datagram);
            } else if let Some(c) = self.clients.iter_mut().find(|c| c.pair().local == to) {
                c.handle_receive(self.now, to, from, &datagram);
            }
        }
        self.agent.handle_timeout(self.now);
        for c in &mut self.clients {
            c.handle_timeout(self.now);
        }
        self.drain();
        true
    }

    fn run_until(&mut self, mut done: impl FnMut(&Self) -> bool) {
        while !done(self) {
            assert!(self.step(), "nothing scheduled and not done");
        }
    }

    fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.now < end {
            assert!(self.step(), "nothing scheduled");
        }
    }

    fn nominated(&self) -> bool {
        let pair = self.client().pair();
        self.agent.state() == ConnectionState::Connected
            && self.client().state() == ConnectionState::Connected
            && self.agent.selected_pair()
                == Some(CandidatePair { local: pair.remote, remote: pair.local })
            && self.client().selected_pair() == Some(pair)
    }

    fn count(events: &[(Duration, IceEvent)], wanted: IceEvent) -> usize {
        events.iter().filter(|(_, e)| *e == wanted).count()
    }
}

#[test]
fn nomination_on_a_perfect_network() {
    let mut sim = Sim::new(1, PERFECT);
    sim.run_until(Sim::nominated);
    // Check, response, nomination, response: a handful of steps and milliseconds.
    assert!(sim.steps <= 10, "{} steps", sim.steps);
    assert!(sim.elapsed() < Duration::from_millis(10));
    assert_eq!(sim.client().mapped_address(), Some(browser_addr(50_000)));
    assert_eq!(sim.agent.stats().checks_accepted, 2);
    assert_eq!(sim.client().stats().retransmits, 0);
    let agent_events: Vec<_> = sim.agent_events.iter().map(|(_, e)| *e).collect();
    assert_eq!(
        agent_events,
        [
            IceEvent::PairDiscovered { local: sfu_addr(), remote: browser_addr(50_000) },
            IceEvent::SelectedPairChanged { local: sfu_addr(), remote: browser_addr(50_000) },
            IceEvent::Connected,
        ]
    );
    let client_events: Vec<_> = sim.client_events.iter().map(|(_, e)| *e).collect();
    assert_eq!(
        client_events,
        [
            IceEvent::SelectedPairChanged { local: browser_addr(50_000), remote: sfu_addr() },
            IceEvent::Connected,
        ]
    );
    // Then five minutes of consent checks, every 4 to 6 s, and nothing else happens.
    sim.run_for(Duration::from_secs(300));
    while !sim.wire.is_empty() {
        sim.step();
    }
    let consent_checks = sim.client().stats().requests_sent - 2;
    assert!((50..=75).contains(&consent_checks), "{consent_checks}");
    assert_eq!(sim.agent_events.len(), 3);
    assert_eq!(sim.client_events.len(), 2);
    assert_eq!(sim.agent.stats().checks_accepted, 2 + consent_checks);
    assert_eq!(sim.client().stats().responses_accepted, 2 + consent_checks);
}

#[test]
fn nomination_with_loss_duplication_and_reordering() {
    let mut retransmits = 0;
    let mut duplicates_ignored = 0;
    for seed in 1..=8 {
        let mut sim = Sim::new(seed, LOSSY);
        sim.run_until(Sim::nominated);
        // Bounded: the RFC 8489 schedule gives up on a check after 39.5 s.
        assert!(sim.elapsed() < Duration::from_secs(40), "seed {seed}: {:?}", sim.elapsed());
        retransmits += sim.client().stats().retransmits;
        // Five minutes of consent under 20% loss: never disconnected, never failed.
        sim.run_for(Duration::from_secs(300));
        for events in [&sim.agent_events, &sim.client_events] {
            assert_eq!(Sim::count(events, IceEvent::Connected), 1, "seed {seed}: {events:?}");
            assert_eq!(Sim::count(events, IceEvent::Disconnected), 0, "seed {seed}: {events:?}");
            assert_eq!(Sim::count(events, IceEvent::Failed), 0, "seed {seed}");
        }
        assert!(sim.nominated(), "seed {seed}");
        // Only one pair: duplicates and retransmissions learn nothing new.
        assert_eq!(sim.agent.pairs().count(), 1);
        assert_eq!(sim.agent.stats().checks_accepted + sim.agent.stats().transmits_dropped, {
            sim.agent.stats().datagrams
        });
        duplicates_ignored += sim.client().stats().ignored;
    }
    // The impairments really happened.
    assert!(retransmits > 0);
    assert!(duplicates_ignored > 0);
}

#[test]
fn consent_is_lost_in_a_blackout_and_regained_after() {
    let mut sim = Sim::new(3, PERFECT);
    sim.run_until(Sim::nominated);
    sim.blackout = true;
    let cut = sim.elapsed();
    sim.run_until(|s| {
        s.agent.state() == ConnectionState::Disconnected
            && s.client().state() == ConnectionState::Disconnected
    });
    // 30 s after the last check and success, give or take a consent interval.
    let lost_after = sim.elapsed() - cut;
    assert!(lost_after >= Duration::from_secs(24), "{lost_after:?}");
    assert!(lost_after <= Duration::from_secs(31), "{lost_after:?}");
    sim.run_for(Duration::from_secs(30));
    sim.blackout = false;
    let restored = sim.elapsed();
    sim.run_until(Sim::nominated);
    // The client kept sending consent checks: the next one brings both back.
    assert!(sim.elapsed() - restored <= Duration::from_secs(7));
    for events in [&sim.agent_events, &sim.client_events] {
        assert_eq!(Sim::count(events, IceEvent::Connected), 2, "{events:?}");
        assert_eq!(Sim::count(events, IceEvent::Disconnected), 1, "{events:?}");
    }
}

#[test]
fn network_change_moves_the_session_to_the_new_pair() {
    for (seed, impairment) in [(4, PERFECT), (5, LOSSY), (6, LOSSY)] {
        let mut sim = Sim::new(seed, impairment);
        sim.run_until(Sim::nominated);
        let now = sim.now;
        sim.clients[0].rebind(now, browser_addr(60_000));
        sim.run_until(Sim::nominated);
        assert_eq!(
            sim.agent.selected_pair(),
            Some(CandidatePair { local: sfu_addr(), remote: browser_addr(60_000) })
        );
        assert!(sim.agent_events.iter().any(|(_, e)| *e
            == IceEvent::PairDiscovered { local: sfu_addr(), remote: browser_addr(60_000) }));
        let last_selection = sim
            .agent_events
            .iter()
            .rev()
            .find(|(_, e)| matches!(e, IceEvent::SelectedPairChanged { .. }))
            .map(|(_, e)| *e);
        assert_eq!(
            last_selection,
            Some(IceEvent::SelectedPairChanged { local: sfu_addr(), remote: browser_addr(60_000) })
        );
        assert_eq!(sim.client().mapped_address(), Some(browser_addr(60_000)));
        if seed == 4 {
            // Without loss the move is seamless: no disconnection on either side. (Under
            // loss the agent may see no check for 30 s while the client backs off: seed 6
            // loses six transmissions in a row, and consent expires and comes back.)
            assert_eq!(Sim::count(&sim.agent_events, IceEvent::Disconnected), 0);
            assert_eq!(Sim::count(&sim.client_events, IceEvent::Disconnected), 0);
        }
    }
}

#[test]
fn wrong_password_fails_and_creates_no_state() {
    let mut rng = StdRng::seed_from_u64(9);
    let mut sim = Sim::new(9, PERFECT);
    // A client that has the right ufrag but a wrong password for the SFU.
    let sfu = sim.agent.local_credentials().clone();
    let forged = Credentials::new(sfu.ufrag(), "notThePasswordAtAllXXXXX").unwrap();
    let browser = sim.agent.remote_credentials().unwrap().clone();
    let pair = CandidatePair { local: browser_addr(50_000), remote: sfu_addr() };
    let now = sim.now;
    sim.clients[0] = IceControllingClient::new(
        now,
        ControllingConfig::default(),
        browser,
        forged,
        pair,
        &mut rng,
    )
    .unwrap();
    sim.run_until(|s| s.client().state() == ConnectionState::Failed);
    // All seven transmissions were answered with 401, which carries no integrity and so
    // ends nothing: the check times out after 39.5 s.
    assert_eq!(sim.elapsed(), Duration::from_millis(39_500));
    assert_eq!(sim.client().last_error_code(), Some(401));
    assert_eq!(sim.client().stats().error_responses, 7);
    assert_eq!(sim.agent.stats().unauthenticated, 7);
    assert_eq!(sim.agent.pairs().count(), 0);
    assert!(sim.agent_events.is_empty());
    assert_eq!(sim.client_events.iter().map(|(_, e)| *e).collect::<Vec<_>>(), [IceEvent::Failed]);
    // A failed client stops: nothing is scheduled any more.
    assert_eq!(sim.client().poll_timeout(), None);
}

#[test]
fn ice_restart_end_to_end() {
    let mut sim = Sim::new(10, LOSSY);
    sim.run_until(Sim::nominated);
    // Renegotiation with new credentials on both sides; the browser's new generation
    // checks from a new port.
    let mut rng = StdRng::seed_from_u64(11);
    let sfu = Credentials::generate(&mut rng);
    let browser = Credentials::generate(&mut rng);
    sim.agent.restart(sfu.clone(), Some(browser.clone())).unwrap();
    let pair = CandidatePair { local: browser_addr(50_001), remote: sfu_addr() };
    let now = sim.now;
    let renewed =
        IceControllingClient::new(now, ControllingConfig::default(), browser, sfu, pair, &mut rng)
            .unwrap();
    // The old generation keeps running until the new one is nominated.
    sim.clients.insert(0, renewed);
    sim.run_until(Sim::nominated);
    assert_eq!(
        sim.agent.selected_pair(),
        Some(CandidatePair { local: sfu_addr(), remote: browser_addr(50_001) })
    );
    // The old generation's consent checks are now refused (401): it loses consent.
    let old_rejected = sim.agent.stats().unauthenticated;
    sim.run_until(|s| s.clients[1].state() == ConnectionState::Disconnected);
    assert!(sim.agent.stats().unauthenticated > old_rejected);
    assert_eq!(sim.clients[1].last_error_code(), Some(401));
    assert_eq!(sim.agent.state(), ConnectionState::Connected);
    assert_eq!(sim.clients[0].state(), ConnectionState::Connected);
}
