//! Two associations joined by a simulated link on a virtual clock: seeded loss, duplication
//! and reordering, a step bound that panics on livelock, no sleeping.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sctp::{Association, Config, Event};

/// Impairments of one direction of the link.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    /// One-way delay.
    pub delay: Duration,
    /// Probability that a packet is lost.
    pub loss: f64,
    /// Probability that a packet is delivered twice.
    pub duplicate: f64,
    /// Probability that a packet is held back by up to `reorder_by` (so that later packets
    /// overtake it).
    pub reorder: f64,
    pub reorder_by: Duration,
    /// Everything is dropped.
    pub dead: bool,
}

impl Default for Link {
    fn default() -> Self {
        Self {
            delay: Duration::from_millis(20),
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_by: Duration::from_millis(30),
            dead: false,
        }
    }
}

impl Link {
    /// 10% loss, 5% duplication, 10% reordering.
    pub fn lossy() -> Self {
        Self { loss: 0.10, duplicate: 0.05, reorder: 0.10, ..Self::default() }
    }
}

/// One side of the pair.
#[derive(Debug)]
pub struct Side {
    pub assoc: Association,
    /// Events taken out with `poll_event` (only while `reading`).
    pub events: Vec<Event>,
    /// Whether the application drains events (false: a receiver that does not read).
    pub reading: bool,
    /// Packets on the way to this side: (arrival time, packet).
    inbox: VecDeque<(Instant, Vec<u8>)>,
    /// Errors returned by `handle_receive`.
    pub receive_errors: Vec<sctp::Error>,
}

impl Side {
    fn new(assoc: Association) -> Self {
        Self {
            assoc,
            events: Vec::new(),
            reading: true,
            inbox: VecDeque::new(),
            receive_errors: Vec::new(),
        }
    }

    /// Messages received so far, as (stream, data).
    pub fn messages(&self) -> Vec<(u16, Vec<u8>)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Message { stream, data, .. } => Some((*stream, data.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn count(&self, pred: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|e| pred(e)).count()
    }

    pub fn has(&self, event: &Event) -> bool {
        self.events.contains(event)
    }

    /// Drains the events not yet taken.
    pub fn read(&mut self) {
        while let Some(e) = self.assoc.poll_event() {
            self.events.push(e);
        }
    }
}

/// Two associations and the link between them.
#[derive(Debug)]
pub struct Pair {
    pub now: Instant,
    pub a: Side,
    pub b: Side,
    pub a_to_b: Link,
    pub b_to_a: Link,
    rng: StdRng,
    pub steps: u64,
    pub max_steps: u64,
}

pub fn config(seed: u64) -> Config {
    Config { seed: Some(seed), ..Config::default() }
}

impl Pair {
    /// `a` connects, `b` listens.
    pub fn new(seed: u64, a: Config, b: Config) -> Self {
        let now = Instant::now();
        let a = Association::client(a, now).unwrap();
        let b = Association::server(b, now).unwrap();
        Self::with(seed, now, a, b)
    }

    /// Both sides connect at once (the usual WebRTC case).
    pub fn simultaneous(seed: u64, a: Config, b: Config) -> Self {
        let now = Instant::now();
        let a = Association::client(a, now).unwrap();
        let b = Association::client(b, now).unwrap();
        Self::with(seed, now, a, b)
    }

    pub fn with(seed: u64, now: Instant, a: Association, b: Association) -> Self {
        Self {
            now,
            a: Side::new(a),
            b: Side::new(b),
            a_to_b: Link::default(),
            b_to_a: Link::default(),
            rng: StdRng::seed_from_u64(seed ^ 0x5eed),
            steps: 0,
            max_steps: 2_000_000,
        }
    }

    pub fn set_links(&mut self, link: Link) {
        self.a_to_b = link;
        self.b_to_a = link;
    }

    fn transmit(
        rng: &mut StdRng,
        now: Instant,
        from: &mut Side,
        to: &mut Side,
        link: &Link,
    ) -> bool {
        let mut any = false;
        while let Some(packet) = from.assoc.poll_transmit(now) {
            any = true;
            if link.dead || rng.gen_bool(link.loss) {
                continue;
            }
            let copies = if rng.gen_bool(link.duplicate) { 2 } else { 1 };
            for _ in 0..copies {
                let mut at = now + link.delay;
                if rng.gen_bool(link.reorder) {
                    at += link.reorder_by.mul_f64(rng.gen::<f64>());
                }
                // Keep the inbox sorted by arrival time (stable for equal times).
                let i = to.inbox.partition_point(|(t, _)| *t <= at);
                to.inbox.insert(i, (at, packet.clone()));
            }
        }
        any
    }

    /// One step: exchange packets, read events, deliver due packets, or jump the clock to the
    /// next deadline. Returns false when nothing will ever happen again.
    pub fn step(&mut self) -> bool {
        self.steps += 1;
        assert!(
            self.steps <= self.max_steps,
            "livelock: {} steps without reaching the goal",
            self.steps
        );
        let now = self.now;
        if self.a.reading {
            self.a.read();
        }
        if self.b.reading {
            self.b.read();
        }
        let mut progress =
            Self::transmit(&mut self.rng, now, &mut self.a, &mut self.b, &self.a_to_b);
        progress |= Self::transmit(&mut self.rng, now, &mut self.b, &mut self.a, &self.b_to_a);
        for side in [&mut self.a, &mut self.b] {
            while side.inbox.front().is_some_and(|(t, _)| *t <= now) {
                let (_, packet) = side.inbox.pop_front().unwrap();

                if let Err(e) = side.assoc.handle_receive(now, &packet) {
                    side.receive_errors.push(e);
                }
                progress = true;
            }
        }
        if self.a.reading {
            self.a.read();
        }
        if self.b.reading {
            self.b.read();
        }
        if progress {
            return true;
        }
        // Idle: jump to the next packet arrival or timer.
        let next = [
            self.a.inbox.front().map(|(t, _)| *t),
            self.b.inbox.front().map(|(t, _)| *t),
            self.a.assoc.poll_timeout(),
            self.b.assoc.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else {
            return false;
        };
        self.now = self.now.max(next);
        self.a.assoc.handle_timeout(self.now);
        self.b.assoc.handle_timeout(self.now);
        if self.a.reading {
            self.a.read();
        }
        if self.b.reading {
            self.b.read();
        }
        true
    }

    /// Steps until `done` holds; panics if it never does.
    pub fn drive_until(&mut self, mut done: impl FnMut(&Self) -> bool) {
        while !done(self) {
            assert!(self.step(), "nothing left to happen and the goal is not reached");
        }
    }

    /// Steps until both sides are quiet (no packets, no timers before `horizon` from now).
    pub fn drive_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        loop {
            if !self.step() {
                return;
            }
            if self.now >= end {
                return;
            }
        }
    }

    pub fn connect(&mut self) {
        self.drive_until(|p| p.a.assoc.is_established() && p.b.assoc.is_established());
    }

    pub fn elapsed_since(&self, start: Instant) -> Duration {
        self.now - start
    }
}
