//! A third-party session (full controlling ICE, DTLS client) against an ordinary session
//! (ICE-lite, DTLS server), as two SFUs cascade: in memory, on a virtual clock. The
//! third-party side checks several candidates of the lite side, one of them dead, selects
//! the one that answers, runs DTLS as client, and SRTP flows both ways; consent is lost when
//! the lite side goes silent and comes back with it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dtls::{Certificate, DtlsConfig, DtlsContext, Role};
use ice::CandidatePair;
use rand::rngs::StdRng;
use rand::SeedableRng;
use sfu::session::{
    ConnectionState, ControllingParams, Session, SessionEvent, SessionParams, SessionStats,
    Transmit,
};

/// Bound on steps: more means a livelock.
const MAX_STEPS: usize = 20_000;

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

struct Cascade {
    start: Instant,
    now: Instant,
    /// The third-party session (controlling).
    a: Session,
    /// The ordinary session (lite).
    b: Session,
    /// Where `b` lives: datagrams to anything else are lost.
    b_addr: SocketAddr,
    /// While true, nothing `b` sends arrives.
    b_silent: bool,
    a_events: Vec<(Duration, SessionEvent)>,
    b_events: Vec<(Duration, SessionEvent)>,
    /// Datagrams `a` sent, by destination.
    a_sent_to: Vec<SocketAddr>,
}

fn context() -> DtlsContext {
    let mut config = DtlsConfig::new(Certificate::generate().unwrap());
    config.handshake_timeout = Duration::from_secs(30);
    DtlsContext::new(config).unwrap()
}

impl Cascade {
    fn new(a_dtls: Role, candidates: &[SocketAddr]) -> Cascade {
        Cascade::with(a_dtls, candidates, false)
    }

    /// As [`Cascade::new`]; with `b_full`, `b` is a third-party session too (both sides run
    /// full ICE and claim control at first).
    fn with(a_dtls: Role, candidates: &[SocketAddr], b_full: bool) -> Cascade {
        let mut rng = StdRng::seed_from_u64(21);
        let (a_ctx, b_ctx) = (context(), context());
        let a_ice = ice::Credentials::generate(&mut rng);
        let b_ice = ice::Credentials::generate(&mut rng);
        let now = Instant::now();
        let a_local = addr("127.0.0.1:4000");
        let a_params = SessionParams {
            local_credentials: a_ice.clone(),
            remote_credentials: b_ice.clone(),
            ice: ice::IceConfig::default(),
            dtls_context: a_ctx.clone(),
            dtls_role: a_dtls,
            remote_fingerprint: b_ctx.config().certificate.fingerprint().clone(),
            srtp: srtp::Config::default(),
        };
        let b_params = SessionParams {
            local_credentials: b_ice,
            remote_credentials: a_ice,
            ice: ice::IceConfig::default(),
            dtls_context: b_ctx,
            dtls_role: match a_dtls {
                Role::Client => Role::Server,
                Role::Server => Role::Client,
            },
            remote_fingerprint: a_ctx.config().certificate.fingerprint().clone(),
            srtp: srtp::Config::default(),
        };
        let pairs = candidates.iter().map(|&remote| CandidatePair { local: a_local, remote });
        let controlling =
            ControllingParams { pairs: pairs.collect(), config: ice::ControllingConfig::default() };
        let a = Session::new_third_party(
            now,
            a_params,
            controlling,
            Arc::new(SessionStats::default()),
            &mut rng,
        )
        .unwrap();
        let b_stats = Arc::new(SessionStats::default());
        let b = if b_full {
            let pair = CandidatePair { local: addr("127.0.0.1:5002"), remote: a_local };
            let controlling =
                ControllingParams { pairs: vec![pair], config: ice::ControllingConfig::default() };
            Session::new_third_party(now, b_params, controlling, b_stats, &mut rng).unwrap()
        } else {
            Session::new(now, b_params, b_stats).unwrap()
        };
        let mut cascade = Cascade {
            start: now,
            now,
            a,
            b,
            b_addr: addr("127.0.0.1:5002"),
            b_silent: false,
            a_events: Vec::new(),
            b_events: Vec::new(),
            a_sent_to: Vec::new(),
        };
        cascade.exchange();
        cascade
    }

    fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    fn exchange(&mut self) {
        for _ in 0..MAX_STEPS {
            let mut moved = false;
            while let Some(Transmit { local, remote, mut datagram }) = self.a.poll_transmit() {
                moved = true;
                self.a_sent_to.push(remote);
                if remote == self.b_addr {
                    self.b.handle_receive(self.now, remote, local, &mut datagram);
                }
            }
            while let Some(Transmit { local, remote, mut datagram }) = self.b.poll_transmit() {
                moved = true;
                if !self.b_silent {
                    self.a.handle_receive(self.now, remote, local, &mut datagram);
                }
            }
            let at = self.elapsed();
            while let Some(e) = self.a.poll_event() {
                self.a_events.push((at, e));
            }
            while let Some(e) = self.b.poll_event() {
                self.b_events.push((at, e));
            }
            if !moved {
                return;
            }
        }
        panic!("livelock");
    }

    /// Jumps to the next timer of either side, up to `until` after the start.
    fn run_until(&mut self, until: Duration, done: impl Fn(&Cascade) -> bool) {
        for _ in 0..MAX_STEPS {
            if done(self) {
                return;
            }
            let next = [self.a.poll_timeout(), self.b.poll_timeout()].into_iter().flatten().min();
            let Some(next) = next.filter(|n| *n <= self.start + until) else {
                self.now = self.start + until;
                self.a.handle_timeout(self.now);
                self.b.handle_timeout(self.now);
                self.exchange();
                return;
            };
            self.now = self.now.max(next);
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
            self.exchange();
        }
        panic!("livelock");
    }

    fn connected(&self) -> bool {
        self.a.state() == ConnectionState::Connected && self.b.state() == ConnectionState::Connected
    }
}

fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut packet = Vec::new();
    rtp::RtpHeaderWriter {
        payload_type: 111,
        sequence_number: seq,
        timestamp: 960 * u32::from(seq),
        ssrc,
        ..Default::default()
    }
    .append_packet(b"cascaded", &mut packet)
    .unwrap();
    packet
}

#[test]
fn a_third_party_session_connects_to_a_lite_session_as_controlling_dtls_client() {
    let dead = addr("127.0.0.1:5001");
    let live = addr("127.0.0.1:5002");
    let mut c = Cascade::new(Role::Client, &[dead, live]);
    assert!(c.a.is_third_party() && !c.b.is_third_party());
    // Both 5-tuples are announced at once, for the driver to map.
    let discovered: Vec<SocketAddr> = c
        .a_events
        .iter()
        .filter_map(|(_, e)| match e {
            SessionEvent::PairDiscovered { remote, .. } => Some(*remote),
            _ => None,
        })
        .collect();
    assert_eq!(discovered, [dead, live]);
    c.run_until(Duration::from_secs(5), Cascade::connected);
    assert!(c.connected(), "a {:?} b {:?}", c.a.state(), c.b.state());
    eprintln!("connected after {:?} of virtual time", c.elapsed());
    let a_local = addr("127.0.0.1:4000");
    assert_eq!(c.a.selected_pair(), Some(CandidatePair { local: a_local, remote: live }));
    assert_eq!(c.b.selected_pair(), Some(CandidatePair { local: live, remote: a_local }));
    assert_eq!(c.a.dtls_role(), Role::Client);
    // The dead candidate got its first check and nothing more once the live one won.
    assert_eq!(c.a_sent_to.iter().filter(|to| **to == dead).count(), 1);
    let stats = c.a.controlling_stats().copied().unwrap();
    assert_eq!(stats.role_conflicts, 0);
    assert!(stats.responses_accepted >= 2, "{stats:?}");

    // SRTP both ways.
    for seq in 0..20 {
        c.a.send_rtp(c.now, &rtp(seq, 0xa)).unwrap();
        c.b.send_rtp(c.now, &rtp(seq, 0xb)).unwrap();
    }
    c.exchange();
    assert_eq!(c.b.stats().snapshot().rtp_decrypted, 20);
    assert_eq!(c.a.stats().snapshot().rtp_decrypted, 20);
}

#[test]
fn the_third_party_session_can_be_the_dtls_server_too() {
    let live = addr("127.0.0.1:5002");
    let mut c = Cascade::new(Role::Server, &[live]);
    c.run_until(Duration::from_secs(5), Cascade::connected);
    assert!(c.connected(), "a {:?} b {:?}", c.a.state(), c.b.state());
    assert_eq!(c.a.dtls_role(), Role::Server);
    c.b.send_rtp(c.now, &rtp(1, 0xb)).unwrap();
    c.exchange();
    assert_eq!(c.a.stats().snapshot().rtp_decrypted, 1);
}

#[test]
fn consent_loss_is_detected_and_recovered() {
    let live = addr("127.0.0.1:5002");
    let mut c = Cascade::new(Role::Client, &[live]);
    c.run_until(Duration::from_secs(5), Cascade::connected);
    assert!(c.connected());
    let silent_from = c.elapsed();
    c.b_silent = true;
    c.run_until(Duration::from_secs(60), |c| c.a.state() == ConnectionState::Disconnected);
    assert_eq!(c.a.state(), ConnectionState::Disconnected);
    let lost = c.elapsed() - silent_from;
    eprintln!("consent lost {lost:?} after the peer went silent");
    assert!(lost <= Duration::from_secs(30), "{lost:?}");
    assert!(c.a_events.iter().any(|(_, e)| *e == SessionEvent::IceDisconnected));
    // No media while consent is gone (RFC 7675 §5.1).
    assert!(c.a.send_rtp(c.now, &rtp(1, 0xa)).is_err());

    c.b_silent = false;
    c.run_until(Duration::from_secs(70), |c| c.a.state() == ConnectionState::Connected);
    assert_eq!(c.a.state(), ConnectionState::Connected);
    c.a.send_rtp(c.now, &rtp(2, 0xa)).unwrap();
    c.exchange();
    assert_eq!(c.b.stats().snapshot().rtp_decrypted, 1);
}

#[test]
fn no_answering_candidate_fails_the_session() {
    let mut c = Cascade::new(Role::Client, &[addr("127.0.0.1:5001"), addr("127.0.0.1:5003")]);
    c.run_until(Duration::from_secs(60), |c| c.a.state() == ConnectionState::Failed);
    assert_eq!(c.a.state(), ConnectionState::Failed);
    let reason = c.a_events.iter().find_map(|(_, e)| match e {
        SessionEvent::Failed(reason) => Some(reason.clone()),
        _ => None,
    });
    // The connect deadline (30 s here) comes before ICE gives up (39.5 s).
    eprintln!("failed after {:?}: {reason:?}", c.elapsed());
    assert!(reason.is_some_and(|r| r.contains("no ICE pair")));
}

#[test]
fn an_ice_restart_checks_again_and_media_keeps_flowing() {
    let live = addr("127.0.0.1:5002");
    let mut c = Cascade::new(Role::Client, &[live]);
    c.run_until(Duration::from_secs(5), Cascade::connected);
    assert!(c.connected());
    let before = c.a.controlling_stats().unwrap().requests_sent;
    let mut rng = StdRng::seed_from_u64(99);
    let (a_new, b_new) =
        (ice::Credentials::generate(&mut rng), ice::Credentials::generate(&mut rng));
    // Both sides apply the new descriptions; the lite side first, as when A's offer reaches B.
    c.b.restart_ice(b_new.clone(), a_new.clone()).unwrap();
    c.a.restart_ice(a_new.clone(), b_new).unwrap();
    assert_eq!(c.a.local_ufrag(), a_new.ufrag());
    c.exchange();
    c.run_until(Duration::from_secs(10), |_| false);
    let stats = c.a.controlling_stats().copied().unwrap();
    // A check and a nomination with the new credentials, then consent checks; all answered.
    assert!(stats.requests_sent >= before + 2, "{stats:?}");
    assert_eq!(stats.checks_failed, 0, "{stats:?}");
    assert!(c.connected());
    assert!(c.a_events.iter().all(|(_, e)| *e != SessionEvent::IceDisconnected));
    c.a.send_rtp(c.now, &rtp(3, 0xa)).unwrap();
    c.exchange();
    assert_eq!(c.b.stats().snapshot().rtp_decrypted, 1);
}

#[test]
fn two_third_party_sessions_connect_to_each_other() {
    // Both sides full and controlling at first: the tie-breakers decide (RFC 8445 §7.3.1.1).
    let live = addr("127.0.0.1:5002");
    let mut c = Cascade::with(Role::Client, &[live], true);
    c.run_until(Duration::from_secs(5), Cascade::connected);
    assert!(c.connected(), "a {:?} b {:?}", c.a.state(), c.b.state());
    let (a, b) =
        (c.a.controlling_stats().copied().unwrap(), c.b.controlling_stats().copied().unwrap());
    assert!(a.requests_answered + b.requests_answered > 0, "{a:?} {b:?}");
    c.a.send_rtp(c.now, &rtp(1, 0xa)).unwrap();
    c.b.send_rtp(c.now, &rtp(1, 0xb)).unwrap();
    c.exchange();
    assert_eq!(c.a.stats().snapshot().rtp_decrypted, 1);
    assert_eq!(c.b.stats().snapshot().rtp_decrypted, 1);
}
