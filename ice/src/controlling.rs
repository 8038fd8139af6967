//! A minimal controlling ICE checker for one candidate pair, the browser's half of a check
//! exchange: our in-memory test client uses it against [`crate::IceLiteAgent`], and it is the
//! first brick of the controlling role the SFU needs when its peer is itself lite.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use stun::attributes::{ErrorCode, XorMappedAddress};
use stun::{credentials, Class, Message, Method, TransactionId};
use tracing::{debug, info, trace, warn};

use crate::check::{write_check, OutgoingCheck};
use crate::consent::{ConsentFreshness, CONSENT_TIMEOUT};
use crate::event::EventQueue;
use crate::transaction::{ClientTransaction, RetransmitTiming, TimerOutcome};
use crate::{CandidatePair, ConnectionState, Credentials, Error, IceEvent, Transmit};

/// Consent checks in flight at once; starting another drops the oldest.
pub(crate) const MAX_CONSENT_IN_FLIGHT: usize = 3;

/// PRIORITY of a peer-reflexive candidate for component 1 with the highest local
/// preference: `2^24 * 110 + 2^8 * 65535 + (256 - 1)` (RFC 8445 §5.1.2.1, §7.2.2).
pub const DEFAULT_CHECK_PRIORITY: u32 = (110 << 24) | (0xFFFF << 8) | 0xFF;

/// Settings of an [`IceControllingClient`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControllingConfig {
    /// PRIORITY put in every check.
    pub priority: u32,
    /// First retransmission timeout of a check; it doubles after every retransmission
    /// (RFC 8489 §6.2.1). RFC 8445 §14.3 asks for at least 500 ms.
    pub rto: Duration,
    /// Rc: transmissions of one check in all (RFC 8489 §6.2.1: 7).
    pub max_transmits: u32,
    /// Rm: after the last transmission a check fails after `rto` times this (RFC 8489
    /// §6.2.1: 16).
    pub final_wait_factor: u32,
    /// Basic period of consent checks, randomized to 0.8-1.2 times itself per check
    /// (RFC 7675 §5.1: 5 s).
    pub consent_interval: Duration,
    /// Consent expires when no consent check succeeded for this long (RFC 7675 §5.1: 30 s).
    pub consent_timeout: Duration,
    /// Ta: the pace of new checks of an [`crate::IceControllingAgent`], one pair per
    /// interval (RFC 8445 §14.2: 50 ms by default).
    pub pacing: Duration,
}

impl Default for ControllingConfig {
    fn default() -> Self {
        Self {
            priority: DEFAULT_CHECK_PRIORITY,
            rto: Duration::from_millis(500),
            max_transmits: 7,
            final_wait_factor: 16,
            consent_interval: Duration::from_secs(5),
            consent_timeout: CONSENT_TIMEOUT,
            pacing: Duration::from_millis(50),
        }
    }
}

impl ControllingConfig {
    const fn timing(&self) -> RetransmitTiming {
        RetransmitTiming {
            rto: self.rto,
            max_transmits: self.max_transmits,
            final_wait_factor: self.final_wait_factor,
        }
    }
}

/// Counters of an [`IceControllingClient`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ControllingStats {
    /// Checks sent for the first time.
    pub requests_sent: u64,
    /// Retransmissions.
    pub retransmits: u64,
    /// Authenticated success responses that completed a check.
    pub responses_accepted: u64,
    /// Error responses matching a check in flight (authenticated or not).
    pub error_responses: u64,
    /// Datagrams dropped: not STUN, bad FINGERPRINT, not a response, no check in flight
    /// with that transaction ID (late duplicates), wrong 5-tuple, failed integrity, no
    /// XOR-MAPPED-ADDRESS.
    pub ignored: u64,
    /// Checks that got no usable answer after all retransmissions, or an authenticated
    /// error.
    pub checks_failed: u64,
}

/// What a check in flight is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CheckKind {
    /// An ordinary check, without USE-CANDIDATE.
    Check,
    /// The nomination: the same check with USE-CANDIDATE (RFC 8445 §8.1.1).
    Nominate,
    /// A consent freshness check on the nominated pair (RFC 7675 §5.1).
    Consent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Checking,
    Nominating,
    Nominated,
    Failed,
}

/// A minimal controlling ICE agent for a single candidate pair, as a browser behaves towards
/// a lite peer.
///
/// It checks the pair with a Binding request (USERNAME `<their ufrag>:<our ufrag>`,
/// PRIORITY, ICE-CONTROLLING with a random tie-breaker, MESSAGE-INTEGRITY keyed with their
/// password, FINGERPRINT), then nominates it with the same request plus USE-CANDIDATE
/// (regular nomination, the only kind RFC 8445 §8.1.1 defines), then sends a
/// consent check every 4 to 6 s (RFC 7675 §5.1). Every request is retransmitted on the
/// RFC 8489 §6.2.1 schedule (RTO doubling, Rc transmissions, Rm final wait). A response counts
/// only if its transaction ID matches a request in flight, it arrived on the checked 5-tuple
/// (RFC 8445 §7.2.5.2.1), its MESSAGE-INTEGRITY verifies with their password, and (for a
/// success) it has an XOR-MAPPED-ADDRESS. Over UDP a response without valid integrity is
/// discarded as if never received, so retransmissions go on (RFC 8489 §9.1.4): an
/// unauthenticated 401 is counted in the stats and [`IceControllingClient::last_error_code`]
/// but ends nothing.
///
/// Events: [`IceEvent::SelectedPairChanged`] and [`IceEvent::Connected`] when the
/// nomination succeeds, [`IceEvent::Disconnected`] when no consent check succeeded for
/// `consent_timeout` (consent checks continue, and the next success brings
/// [`IceEvent::Connected`] back), [`IceEvent::Failed`] when the check or the nomination
/// failed for good. There is one pair: no candidate gathering, no check list, no triggered
/// checks, and the client does not answer Binding requests (a lite peer sends none).
#[derive(Debug)]
pub struct IceControllingClient {
    config: ControllingConfig,
    local: Credentials,
    remote: Credentials,
    pair: CandidatePair,
    tie_breaker: u64,
    rng: StdRng,
    phase: Phase,
    transactions: Vec<ClientTransaction<CheckKind>>,
    next_consent: Option<Instant>,
    consent: ConsentFreshness,
    nominated: Option<CandidatePair>,
    state: ConnectionState,
    mapped_address: Option<SocketAddr>,
    last_error_code: Option<u16>,
    transmits: VecDeque<Transmit>,
    events: EventQueue,
    stats: ControllingStats,
}

impl IceControllingClient {
    /// Starts checking `pair` at `now`: the first check is ready in
    /// [`IceControllingClient::poll_transmit`]. `local` are our credentials, `remote` the
    /// lite peer's. `rng` seeds the tie-breaker, the transaction IDs and the consent jitter
    /// (a seeded generator makes a run reproducible). Fails if the checks cannot be encoded
    /// (both ufrags at their 256-character maximum make a USERNAME longer than STUN allows).
    pub fn new<R: RngCore + ?Sized>(
        now: Instant,
        config: ControllingConfig,
        local: Credentials,
        remote: Credentials,
        pair: CandidatePair,
        rng: &mut R,
    ) -> Result<Self, Error> {
        let mut seed = <StdRng as SeedableRng>::Seed::default();
        rng.fill_bytes(&mut seed);
        let mut rng = StdRng::from_seed(seed);
        let tie_breaker = rng.next_u64();
        let mut client = Self {
            config,
            local,
            remote,
            pair,
            tie_breaker,
            rng,
            phase: Phase::Checking,
            transactions: Vec::new(),
            next_consent: None,
            consent: ConsentFreshness::new(config.consent_timeout),
            nominated: None,
            state: ConnectionState::New,
            mapped_address: None,
            last_error_code: None,
            transmits: VecDeque::new(),
            events: EventQueue::default(),
            stats: ControllingStats::default(),
        };
        client.start_check(now, CheckKind::Check)?;
        Ok(client)
    }

    /// Our local address changed (a network change): check and nominate the pair from the
    /// new address. The previously nominated pair stays selected until the new nomination
    /// succeeds; checks in flight are abandoned.
    pub fn rebind(&mut self, now: Instant, local: SocketAddr) {
        self.pair.local = local;
        self.transactions.clear();
        self.next_consent = None;
        self.phase = Phase::Checking;
        if let Err(error) = self.start_check(now, CheckKind::Check) {
            // `new` encoded the same check already.
            warn!(%error, "could not encode a check");
        }
        self.sync_state(now);
    }

    /// Handles a datagram received on our `local` address from `remote`.
    pub fn handle_receive(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &[u8],
    ) {
        let Ok(message) = Message::parse(datagram) else {
            self.ignore("not STUN");
            return;
        };
        if message.has_fingerprint() && message.verify_fingerprint().is_err() {
            self.ignore("bad FINGERPRINT");
            return;
        }
        if message.method() != Method::BINDING
            || matches!(message.class(), Class::Request | Class::Indication)
        {
            self.ignore("not a Binding response");
            return;
        }
        let Some(index) = self.transactions.iter().position(|t| t.id == message.transaction_id())
        else {
            self.ignore("no check in flight with this transaction ID");
            return;
        };
        // RFC 8445 §7.2.5.2.1: the response must come back on the 5-tuple of the request.
        if local != self.pair.local || remote != self.pair.remote {
            self.ignore("response on another 5-tuple");
            return;
        }
        let authenticated = message.has_message_integrity()
            && message
                .verify_message_integrity(credentials::short_term_key(self.remote.pwd()))
                .is_ok();
        if message.class() == Class::ErrorResponse {
            self.stats.error_responses += 1;
            self.last_error_code =
                message.get::<ErrorCode<'_>>().ok().flatten().map(|code| code.code);
            if !authenticated {
                // RFC 8489 §9.1.4: discarded as if never received; retransmissions go on.
                trace!(code = ?self.last_error_code, "unauthenticated error response noted");
                return;
            }
            let transaction = self.transactions.swap_remove(index);
            let (code, kind) = (self.last_error_code, transaction.kind);
            debug!(?code, ?kind, "check failed: error response");
            self.on_check_failed(now, transaction.kind);
            return;
        }
        if !authenticated {
            self.ignore("success response failed integrity");
            return;
        }
        let Ok(Some(XorMappedAddress(mapped))) = message.get::<XorMappedAddress>() else {
            self.ignore("success response without XOR-MAPPED-ADDRESS");
            return;
        };
        let transaction = self.transactions.swap_remove(index);
        self.stats.responses_accepted += 1;
        self.mapped_address = Some(mapped);
        self.on_check_succeeded(now, transaction.kind);
    }

    /// Advances time: retransmissions, failed checks, consent checks and consent expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut failed = Vec::new();
        let mut retransmits = Vec::new();
        self.transactions.retain_mut(|t| match t.on_timeout(now) {
            TimerOutcome::Wait => true,
            TimerOutcome::Retransmit => {
                retransmits.push(t.datagram().to_vec());
                true
            }
            TimerOutcome::GiveUp => {
                failed.push(t.kind);
                false
            }
        });
        for datagram in retransmits {
            self.stats.retransmits += 1;
            self.send(datagram);
        }
        for kind in failed {
            debug!(?kind, "check failed: no response");
            self.on_check_failed(now, kind);
        }
        if self.phase == Phase::Nominated && self.next_consent.is_some_and(|at| now >= at) {
            let in_flight = self.transactions.iter().filter(|t| t.kind == CheckKind::Consent);
            if in_flight.count() >= MAX_CONSENT_IN_FLIGHT {
                if let Some(oldest) =
                    self.transactions.iter().position(|t| t.kind == CheckKind::Consent)
                {
                    self.transactions.remove(oldest);
                }
            }
            if let Err(error) = self.start_check(now, CheckKind::Consent) {
                warn!(%error, "could not encode a consent check");
            }
            self.next_consent = self.consent_time_after(now);
        }
        self.sync_state(now);
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<IceEvent> {
        self.events.pop()
    }

    /// When to call [`IceControllingClient::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let transactions = self.transactions.iter().filter_map(ClientTransaction::deadline);
        let consent_check = self.next_consent.filter(|_| self.phase == Phase::Nominated);
        transactions.chain(consent_check).chain(self.consent.timeout()).min()
    }

    /// The connection state.
    pub const fn state(&self) -> ConnectionState {
        self.state
    }

    /// The pair being checked.
    pub const fn pair(&self) -> CandidatePair {
        self.pair
    }

    /// The pair whose nomination succeeded.
    pub const fn selected_pair(&self) -> Option<CandidatePair> {
        self.nominated
    }

    /// XOR-MAPPED-ADDRESS of the latest accepted success response: our address as the peer
    /// sees it.
    pub const fn mapped_address(&self) -> Option<SocketAddr> {
        self.mapped_address
    }

    /// The ERROR-CODE of the latest error response to a check in flight.
    pub const fn last_error_code(&self) -> Option<u16> {
        self.last_error_code
    }

    /// ICE-CONTROLLING's tie-breaker.
    pub const fn tie_breaker(&self) -> u64 {
        self.tie_breaker
    }

    /// Our credentials.
    pub const fn local_credentials(&self) -> &Credentials {
        &self.local
    }

    /// The lite peer's credentials.
    pub const fn remote_credentials(&self) -> &Credentials {
        &self.remote
    }

    /// Counters.
    pub const fn stats(&self) -> &ControllingStats {
        &self.stats
    }

    fn ignore(&mut self, why: &'static str) {
        self.stats.ignored += 1;
        trace!(why, "response ignored");
    }

    fn start_check(&mut self, now: Instant, kind: CheckKind) -> Result<(), Error> {
        let mut id = [0u8; 12];
        self.rng.fill_bytes(&mut id);
        let id = TransactionId(id);
        let check = OutgoingCheck {
            remote: &self.remote,
            local: &self.local,
            priority: self.config.priority,
            tie_breaker: self.tie_breaker,
            controlling: true,
            use_candidate: kind == CheckKind::Nominate,
        };
        let mut datagram = Vec::new();
        write_check(&mut datagram, id, &check)?;
        self.stats.requests_sent += 1;
        self.send(datagram.clone());
        self.transactions.push(ClientTransaction::sent(
            now,
            id,
            kind,
            datagram,
            self.config.timing(),
        ));
        Ok(())
    }

    fn send(&mut self, datagram: Vec<u8>) {
        self.transmits.push_back(Transmit {
            local: self.pair.local,
            remote: self.pair.remote,
            datagram,
        });
    }

    fn on_check_succeeded(&mut self, now: Instant, kind: CheckKind) {
        match kind {
            CheckKind::Check => {
                // RFC 8445 §8.1.1: regular nomination repeats the successful check with
                // USE-CANDIDATE.
                self.phase = Phase::Nominating;
                if let Err(error) = self.start_check(now, CheckKind::Nominate) {
                    warn!(%error, "could not encode the nomination");
                }
            }
            CheckKind::Nominate => {
                self.phase = Phase::Nominated;
                if self.nominated != Some(self.pair) {
                    self.nominated = Some(self.pair);
                    info!(local = %self.pair.local, remote = %self.pair.remote, "pair nominated");
                    self.events.selected(self.pair);
                }
                self.consent.restart(now);
                self.next_consent = self.consent_time_after(now);
            }
            CheckKind::Consent => self.consent.confirm(now),
        }
        self.sync_state(now);
    }

    fn on_check_failed(&mut self, now: Instant, kind: CheckKind) {
        self.stats.checks_failed += 1;
        match kind {
            // A failed consent check is not fatal by itself: consent expires when no check
            // succeeded for `consent_timeout`.
            CheckKind::Consent => {}
            CheckKind::Check | CheckKind::Nominate => {
                info!(?kind, "ICE failed");
                self.phase = Phase::Failed;
                self.transactions.clear();
                self.next_consent = None;
                self.consent.clear();
            }
        }
        self.sync_state(now);
    }

    /// RFC 7675 §5.1: the next consent check goes out after a random 0.8 to 1.2 times the
    /// basic interval.
    fn consent_time_after(&mut self, now: Instant) -> Option<Instant> {
        let factor: f64 = self.rng.gen_range(0.8..=1.2);
        let base = self.config.consent_interval;
        let interval = Duration::try_from_secs_f64(base.as_secs_f64() * factor).unwrap_or(base);
        // A zero interval would fire on every call without time moving on.
        now.checked_add(interval.max(Duration::from_millis(1)))
    }

    fn sync_state(&mut self, now: Instant) {
        self.consent.update(now);
        let state = match (self.phase, self.nominated, self.consent.is_granted()) {
            (Phase::Failed, ..) => ConnectionState::Failed,
            (_, None, _) => ConnectionState::New,
            (_, Some(_), true) => ConnectionState::Connected,
            (_, Some(_), false) => ConnectionState::Disconnected,
        };
        if state == self.state {
            return;
        }
        self.state = state;
        match state {
            ConnectionState::Connected => self.events.push(IceEvent::Connected),
            ConnectionState::Disconnected => self.events.push(IceEvent::Disconnected),
            ConnectionState::Failed => self.events.push(IceEvent::Failed),
            _ => {}
        }
    }
}
