//! The controlling role toward a lite peer with several candidates (RFC 8445 §6.1.1, §7.2,
//! §8.1): what the SFU runs when its peer is itself ICE-lite (another SFU, a media server),
//! so that nobody else would ever send a check.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use stun::attributes::{
    ErrorCode, IceControlled, IceControlling, Priority, UseCandidate, Username, XorMappedAddress,
};
use stun::{credentials, AttributeType, Class, Message, Method, TransactionId};
use tracing::{debug, info, trace, warn};

use crate::check::{
    authenticate, is_understood, split_username, write_check, write_error, write_success,
    OutgoingCheck,
};
use crate::consent::ConsentFreshness;
use crate::controlling::MAX_CONSENT_IN_FLIGHT;
use crate::event::EventQueue;
use crate::transaction::{ClientTransaction, RetransmitTiming, TimerOutcome};
use crate::Transmit;
use crate::{CandidatePair, ConnectionState, ControllingConfig, Credentials, Error, IceEvent};

/// Most candidate pairs one [`IceControllingAgent`] checks; further ones are left out. A
/// lite server advertises one host candidate per address family, so a few are plenty, and
/// the bound keeps the 5-tuples a driver maps per session small.
pub const MAX_CONTROLLING_PAIRS: usize = 4;

/// Role switches after 487 (Role Conflict) responses before a pair is given up: one switch
/// resolves a genuine conflict; a peer that answers 487 to both roles cannot be reached.
const MAX_ROLE_SWITCHES: u32 = 1;

/// Our ICE role (RFC 8445 §6.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IceRole {
    /// We check and nominate: the role toward a lite peer.
    Controlling,
    /// A role conflict (RFC 8445 §7.2.5.1) made us controlled.
    Controlled,
}

/// Counters of an [`IceControllingAgent`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ControllingAgentStats {
    /// Checks sent for the first time (checks, nominations, consent checks).
    pub requests_sent: u64,
    /// Retransmissions.
    pub retransmits: u64,
    /// Authenticated success responses that completed a check.
    pub responses_accepted: u64,
    /// Error responses matching a check in flight (authenticated or not).
    pub error_responses: u64,
    /// Authenticated 487 (Role Conflict) responses.
    pub role_conflicts: u64,
    /// Datagrams dropped: not STUN, bad FINGERPRINT, not a Binding response (a lite peer
    /// sends no requests), no check in flight with that transaction ID, wrong 5-tuple,
    /// failed integrity, no XOR-MAPPED-ADDRESS.
    pub ignored: u64,
    /// Of `ignored`: datagrams that were not STUN at all, or had a bad FINGERPRINT.
    pub malformed: u64,
    /// The peer's checks answered with success (a full peer checks us too).
    pub requests_answered: u64,
    /// The peer's checks answered with an error: 400, 401, 420, or 487 (Role Conflict) when
    /// our tie-breaker wins (RFC 8445 §7.3.1.1).
    pub requests_rejected: u64,
    /// Checks that got no usable answer after all retransmissions, or an authenticated
    /// error.
    pub checks_failed: u64,
}

/// Where one pair of the check list stands (RFC 8445 §6.1.2.6, without the Frozen state:
/// one component, and every pair has its own foundation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PairState {
    Waiting,
    InProgress,
    Succeeded,
    Failed,
}

/// What a check in flight is for, and on which pair (an index into the check list).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    Check(usize),
    Nominate(usize),
    Consent(usize),
}

impl Purpose {
    const fn pair(self) -> usize {
        match self {
            Purpose::Check(i) | Purpose::Nominate(i) | Purpose::Consent(i) => i,
        }
    }
}

/// A check in flight: what for, and the role it claimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sent {
    purpose: Purpose,
    role: IceRole,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    pair: CandidatePair,
    state: PairState,
}

/// A full ICE agent in the controlling role toward a lite peer, for several candidate
/// pairs, sans-IO.
///
/// The caller gives the pairs in priority order (one of our addresses and one of the
/// peer's host candidates, of the same family); at most [`MAX_CONTROLLING_PAIRS`] are kept.
/// Each is announced with [`IceEvent::PairDiscovered`] at once, so that a driver maps the
/// 5-tuples its checks go to.
///
/// - **Checks** (RFC 8445 §6.1.4.2, §7.2.2): one new pair every `pacing` (Ta), in order, each
///   a Binding request with USERNAME `<their ufrag>:<our ufrag>`, PRIORITY, ICE-CONTROLLING
///   with our random tie-breaker, MESSAGE-INTEGRITY keyed with their password and
///   FINGERPRINT, retransmitted on the RFC 8489 §6.2.1 schedule (RTO doubling, Rc
///   transmissions, Rm final wait).
/// - **Responses** (§7.2.5): one counts only if its transaction ID matches a check in
///   flight, it came back on the checked 5-tuple (§7.2.5.2.1), its MESSAGE-INTEGRITY
///   verifies with their password and, for a success, it has an XOR-MAPPED-ADDRESS. A
///   response that does not authenticate is discarded as if never received (RFC 8489
///   §9.1.4) and retransmissions go on. An authenticated error fails the pair, except 487.
/// - **Nomination** (§8.1.1): the first pair whose check succeeds is nominated with the same
///   check plus USE-CANDIDATE; no further pair is started meanwhile. When the nomination
///   succeeds the pair is selected ([`IceEvent::SelectedPairChanged`], then
///   [`IceEvent::Connected`]). If it fails, the next succeeded pair is nominated, or the
///   waiting pairs are checked on.
/// - **Role conflict** (§7.2.5.1): an authenticated 487 means the peer keeps the role our
///   check claimed: we take the other one (unless a check of the peer made us switch
///   already) and check the pair again at once, with ICE-CONTROLLED. A lite peer never sends
///   checks, so as controlled agent the first pair whose check succeeds is selected (the
///   peer uses the pair our checks arrive on). A conflict after one switch fails the pair:
///   the peer refuses both roles.
/// - **Consent** (RFC 7675 §5.1): on the selected pair a consent check goes out every 0.8 to
///   1.2 times `consent_interval`; consent expires after `consent_timeout` without a
///   success ([`IceEvent::Disconnected`]), and the next success brings
///   [`IceEvent::Connected`] back.
/// - **Failure**: when every pair failed and none is selected, [`IceEvent::Failed`].
///
/// - **The peer's checks** (a lite peer sends none; a full one does): answered as RFC 8445
///   §7.3 says, with the role conflict rules of §7.3.1.1 (the larger tie-breaker controls;
///   487 when ours wins); as controlled agent, a USE-CANDIDATE on a pair whose check
///   succeeded selects it. No pair is learned from them.
#[derive(Debug)]
pub struct IceControllingAgent {
    config: ControllingConfig,
    local: Credentials,
    remote: Credentials,
    tie_breaker: u64,
    role: IceRole,
    role_switches: u32,
    rng: StdRng,
    pairs: Vec<Entry>,
    transactions: Vec<ClientTransaction<Sent>>,
    /// When the next waiting pair is checked (Ta pacing).
    next_check: Option<Instant>,
    nominating: Option<usize>,
    /// A nomination succeeded since the start or the last restart.
    nominated: bool,
    selected: Option<usize>,
    next_consent: Option<Instant>,
    consent: ConsentFreshness,
    failed: bool,
    state: ConnectionState,
    transmits: VecDeque<Transmit>,
    events: EventQueue,
    stats: ControllingAgentStats,
}

impl IceControllingAgent {
    /// Starts checking `pairs` (in priority order, duplicates and pairs beyond
    /// [`MAX_CONTROLLING_PAIRS`] left out) at `now`: the first check is ready in
    /// [`IceControllingAgent::poll_transmit`]. `local` are our credentials, `remote` the lite
    /// peer's; `rng` seeds the tie-breaker, the transaction IDs and the consent jitter. With
    /// no pair at all the agent has failed from the start ([`IceEvent::Failed`]). Fails if
    /// the checks cannot be encoded (ufrags too long for one USERNAME).
    pub fn new<R: RngCore + ?Sized>(
        now: Instant,
        config: ControllingConfig,
        local: Credentials,
        remote: Credentials,
        pairs: impl IntoIterator<Item = CandidatePair>,
        rng: &mut R,
    ) -> Result<Self, Error> {
        let mut seed = <StdRng as SeedableRng>::Seed::default();
        rng.fill_bytes(&mut seed);
        let mut rng = StdRng::from_seed(seed);
        let tie_breaker = rng.next_u64();
        let mut list: Vec<Entry> = Vec::new();
        for pair in pairs {
            if list.len() == MAX_CONTROLLING_PAIRS {
                break;
            }
            if !list.iter().any(|e| e.pair == pair) {
                list.push(Entry { pair, state: PairState::Waiting });
            }
        }
        // Encoded once here so that a later failure to encode cannot happen.
        let probe = OutgoingCheck {
            remote: &remote,
            local: &local,
            priority: config.priority,
            tie_breaker,
            controlling: true,
            use_candidate: true,
        };
        write_check(&mut Vec::new(), TransactionId([0; 12]), &probe)?;
        let mut agent = Self {
            config,
            local,
            remote,
            tie_breaker,
            role: IceRole::Controlling,
            role_switches: 0,
            rng,
            pairs: list,
            transactions: Vec::new(),
            next_check: Some(now),
            nominating: None,
            nominated: false,
            selected: None,
            next_consent: None,
            consent: ConsentFreshness::new(config.consent_timeout),
            failed: false,
            state: ConnectionState::New,
            transmits: VecDeque::new(),
            events: EventQueue::default(),
            stats: ControllingAgentStats::default(),
        };
        for entry in &agent.pairs {
            agent.events.pair_discovered(entry.pair);
        }
        agent.pace(now);
        agent.check_all_failed(now);
        Ok(agent)
    }

    /// ICE restart (RFC 8445 §9) with new credentials on both sides: every pair is checked
    /// again from the start. The selected pair stays selected (media goes on) until a pair
    /// is nominated under the new credentials. Refused unless our ufrag and password both
    /// change.
    pub fn restart(
        &mut self,
        now: Instant,
        local: Credentials,
        remote: Credentials,
    ) -> Result<(), Error> {
        if local.ufrag() == self.local.ufrag() || local.pwd() == self.local.pwd() {
            return Err(Error::InvalidCredentials(
                "an ICE restart needs a new local ufrag and password (RFC 8445 §9)",
            ));
        }
        let probe = OutgoingCheck {
            remote: &remote,
            local: &local,
            priority: self.config.priority,
            tie_breaker: self.tie_breaker,
            controlling: true,
            use_candidate: true,
        };
        write_check(&mut Vec::new(), TransactionId([0; 12]), &probe)?;
        self.local = local;
        self.remote = remote;
        self.transactions.clear();
        self.role = IceRole::Controlling;
        self.role_switches = 0;
        self.nominating = None;
        self.nominated = false;
        self.failed = false;
        for entry in &mut self.pairs {
            entry.state = PairState::Waiting;
        }
        // Consent of the selected pair goes on with the new credentials.
        self.next_consent = self.selected.and_then(|_| self.consent_time_after(now));
        self.next_check = Some(now);
        info!("ICE restart: checking again");
        self.pace(now);
        self.sync_state(now);
        Ok(())
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
            self.stats.malformed += 1;
            self.ignore("not STUN");
            return;
        };
        if message.has_fingerprint() && message.verify_fingerprint().is_err() {
            self.stats.malformed += 1;
            self.ignore("bad FINGERPRINT");
            return;
        }
        if message.method() == Method::BINDING && message.class() == Class::Request {
            self.answer_check(now, local, remote, &message);
            self.sync_state(now);
            return;
        }
        if message.method() != Method::BINDING || message.class() == Class::Indication {
            self.ignore("not a Binding response");
            return;
        }
        let Some(index) = self.transactions.iter().position(|t| t.id == message.transaction_id())
        else {
            self.ignore("no check in flight with this transaction ID");
            return;
        };
        let Sent { purpose, role: sent_as } = self.transactions[index].kind;
        let Some(entry) = self.pairs.get(purpose.pair()) else {
            // Purposes only ever name pairs of the list, which never shrinks.
            self.ignore("check of an unknown pair");
            return;
        };
        // RFC 8445 §7.2.5.2.1: the response must come back on the 5-tuple of the request.
        if local != entry.pair.local || remote != entry.pair.remote {
            self.ignore("response on another 5-tuple");
            return;
        }
        let authenticated = message.has_message_integrity()
            && message
                .verify_message_integrity(credentials::short_term_key(self.remote.pwd()))
                .is_ok();
        if message.class() == Class::ErrorResponse {
            self.stats.error_responses += 1;
            let code = message.get::<ErrorCode<'_>>().ok().flatten().map(|c| c.code);
            if !authenticated {
                // RFC 8489 §9.1.4: discarded as if never received; retransmissions go on.
                trace!(?code, "unauthenticated error response ignored");
                return;
            }
            self.transactions.swap_remove(index);
            if code == Some(ErrorCode::ROLE_CONFLICT.code) {
                self.on_role_conflict(now, purpose, sent_as);
            } else {
                debug!(?code, ?purpose, "check failed: error response");
                self.on_check_failed(now, purpose);
            }
            self.sync_state(now);
            return;
        }
        if !authenticated {
            self.ignore("success response failed integrity");
            return;
        }
        let Ok(Some(XorMappedAddress(_mapped))) = message.get::<XorMappedAddress>() else {
            self.ignore("success response without XOR-MAPPED-ADDRESS");
            return;
        };
        self.transactions.swap_remove(index);
        self.stats.responses_accepted += 1;
        self.on_check_succeeded(now, purpose);
        self.sync_state(now);
    }

    /// Advances time: paced checks, retransmissions, failed checks, consent checks and
    /// consent expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut failed = Vec::new();
        let mut retransmits = Vec::new();
        self.transactions.retain_mut(|t| match t.on_timeout(now) {
            TimerOutcome::Wait => true,
            TimerOutcome::Retransmit => {
                retransmits.push((t.kind.purpose, t.datagram().to_vec()));
                true
            }
            TimerOutcome::GiveUp => {
                failed.push(t.kind.purpose);
                false
            }
        });
        for (purpose, datagram) in retransmits {
            self.stats.retransmits += 1;
            self.send(purpose.pair(), datagram);
        }
        for purpose in failed {
            debug!(?purpose, "check failed: no response");
            self.on_check_failed(now, purpose);
        }
        self.pace(now);
        if let (Some(selected), Some(at)) = (self.selected, self.next_consent) {
            if now >= at {
                let in_flight = self
                    .transactions
                    .iter()
                    .filter(|t| matches!(t.kind.purpose, Purpose::Consent(_)));
                if in_flight.count() >= MAX_CONSENT_IN_FLIGHT {
                    if let Some(oldest) = self
                        .transactions
                        .iter()
                        .position(|t| matches!(t.kind.purpose, Purpose::Consent(_)))
                    {
                        self.transactions.remove(oldest);
                    }
                }
                self.start_check(now, Purpose::Consent(selected));
                self.next_consent = self.consent_time_after(now);
            }
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

    /// When to call [`IceControllingAgent::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let transactions = self.transactions.iter().filter_map(ClientTransaction::deadline);
        let consent_check = self.next_consent.filter(|_| self.selected.is_some());
        transactions.chain(self.next_check).chain(consent_check).chain(self.consent.timeout()).min()
    }

    /// The connection state.
    pub const fn state(&self) -> ConnectionState {
        self.state
    }

    /// Our role: controlling, unless a role conflict switched it.
    pub const fn role(&self) -> IceRole {
        self.role
    }

    /// The selected pair.
    pub fn selected_pair(&self) -> Option<CandidatePair> {
        self.selected.and_then(|i| self.pairs.get(i)).map(|e| e.pair)
    }

    /// Whether `(local, remote)` is one of the pairs being checked.
    pub fn has_pair(&self, local: SocketAddr, remote: SocketAddr) -> bool {
        self.pairs.iter().any(|e| e.pair.local == local && e.pair.remote == remote)
    }

    /// The pairs of the check list, in priority order.
    pub fn pairs(&self) -> impl Iterator<Item = CandidatePair> + '_ {
        self.pairs.iter().map(|e| e.pair)
    }

    /// When consent on the selected pair expires unless a consent check succeeds first.
    pub fn consent_expiry(&self) -> Option<Instant> {
        self.selected.and_then(|_| self.consent.expiry())
    }

    /// Our tie-breaker.
    pub const fn tie_breaker(&self) -> u64 {
        self.tie_breaker
    }

    /// Our credentials.
    pub const fn local_credentials(&self) -> &Credentials {
        &self.local
    }

    /// Counters.
    pub const fn stats(&self) -> &ControllingAgentStats {
        &self.stats
    }

    /// A check from the peer (RFC 8445 §7.3): a lite peer sends none, but a full one does,
    /// and must get its answer. Authenticated with our password; the role conflict rules of
    /// §7.3.1.1; a USE-CANDIDATE while we are controlled selects the pair once our own check
    /// on it succeeded (§7.3.1.5). Pairs are not learned from checks: the list is the one the
    /// caller gave.
    fn answer_check(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        message: &Message<'_>,
    ) {
        let id = message.transaction_id();
        let mut out = Vec::new();
        let written = match self.judge_check(message) {
            Ok(use_candidate) => {
                self.stats.requests_answered += 1;
                let written = write_success(&mut out, id, remote, self.local.pwd());
                if use_candidate && self.role == IceRole::Controlled {
                    let pair = self.pairs.iter().position(|e| {
                        e.pair.local == local
                            && e.pair.remote == remote
                            && e.state == PairState::Succeeded
                    });
                    if let Some(i) = pair {
                        debug!(%remote, "nominated by the peer");
                        self.select(now, i);
                    }
                }
                written
            }
            Err((code, authenticated)) => {
                self.stats.requests_rejected += 1;
                trace!(code = code.code, "check rejected");
                let pwd = authenticated.then(|| self.local.pwd().to_owned());
                write_error(
                    &mut out,
                    id,
                    code,
                    message.unknown_comprehension_required(is_understood),
                    pwd.as_deref(),
                )
            }
        };
        match written {
            Ok(()) => self.transmits.push_back(Transmit { local, remote, datagram: out }),
            // Only huge UNKNOWN-ATTRIBUTES lists could fail, and those are capped.
            Err(error) => warn!(%error, "could not encode a response"),
        }
    }

    /// RFC 8489 §9.1.3, §6.3.1 and RFC 8445 §7.3.1.1: `Ok(use_candidate)`, or the error code
    /// and whether the request authenticated (then the error carries MESSAGE-INTEGRITY).
    fn judge_check(&mut self, message: &Message<'_>) -> Result<bool, (ErrorCode<'static>, bool)> {
        if !message.has_message_integrity() || !message.contains(AttributeType::USERNAME) {
            return Err((ErrorCode::BAD_REQUEST, false));
        }
        let Ok(Some(Username(username))) = message.get::<Username<'_>>() else {
            return Err((ErrorCode::UNAUTHENTICATED, false));
        };
        let names_us = split_username(username).is_some_and(|(ours, theirs)| {
            ours == self.local.ufrag() && theirs == self.remote.ufrag()
        });
        if !names_us || authenticate(message, self.local.pwd()).is_err() {
            return Err((ErrorCode::UNAUTHENTICATED, false));
        }
        if message.unknown_comprehension_required(is_understood).next().is_some() {
            return Err((ErrorCode::UNKNOWN_ATTRIBUTE, true));
        }
        if !matches!(message.get::<Priority>(), Ok(Some(_))) {
            return Err((ErrorCode::BAD_REQUEST, true));
        }
        let Ok(use_candidate) = message.get::<UseCandidate>() else {
            return Err((ErrorCode::BAD_REQUEST, true));
        };
        let (Ok(controlling), Ok(controlled)) =
            (message.get::<IceControlling>(), message.get::<IceControlled>())
        else {
            return Err((ErrorCode::BAD_REQUEST, true));
        };
        // RFC 8445 §7.3.1.1: the larger tie-breaker controls.
        match (controlling, controlled, self.role) {
            (Some(_), Some(_), _) => return Err((ErrorCode::BAD_REQUEST, true)),
            (Some(IceControlling(theirs)), None, IceRole::Controlling) => {
                if self.tie_breaker >= theirs {
                    return Err((ErrorCode::ROLE_CONFLICT, true));
                }
                self.switch_role("the peer's tie-breaker is larger");
            }
            (None, Some(IceControlled(theirs)), IceRole::Controlled) => {
                if self.tie_breaker < theirs {
                    return Err((ErrorCode::ROLE_CONFLICT, true));
                }
                self.switch_role("our tie-breaker is larger");
            }
            _ => {}
        }
        Ok(use_candidate.is_some())
    }

    fn switch_role(&mut self, why: &'static str) {
        self.role = match self.role {
            IceRole::Controlling => IceRole::Controlled,
            IceRole::Controlled => IceRole::Controlling,
        };
        info!(role = ?self.role, why, "role conflict: role switched");
    }

    fn ignore(&mut self, why: &'static str) {
        self.stats.ignored += 1;
        trace!(why, "datagram ignored");
    }

    /// Whether checking goes on: no nomination in flight and nothing selected under the
    /// current credentials.
    fn checking(&self) -> bool {
        self.nominating.is_none() && !self.failed && !self.nominated
    }

    /// Ta pacing (RFC 8445 §14.2): at most one new check per `pacing`.
    fn pace(&mut self, now: Instant) {
        let Some(at) = self.next_check else { return };
        if now < at {
            return;
        }
        if !self.checking() {
            self.next_check = None;
            return;
        }
        match self.pairs.iter().position(|e| e.state == PairState::Waiting) {
            Some(i) => {
                self.pairs[i].state = PairState::InProgress;
                self.start_check(now, Purpose::Check(i));
                let more = self.pairs.iter().any(|e| e.state == PairState::Waiting);
                self.next_check = more.then(|| now + self.config.pacing.max(MIN_PACING));
            }
            None => self.next_check = None,
        }
    }

    fn start_check(&mut self, now: Instant, purpose: Purpose) {
        let mut id = [0u8; 12];
        self.rng.fill_bytes(&mut id);
        let id = TransactionId(id);
        let check = OutgoingCheck {
            remote: &self.remote,
            local: &self.local,
            priority: self.config.priority,
            tie_breaker: self.tie_breaker,
            controlling: self.role == IceRole::Controlling,
            use_candidate: matches!(purpose, Purpose::Nominate(_)),
        };
        let mut datagram = Vec::new();
        if let Err(error) = write_check(&mut datagram, id, &check) {
            // `new` and `restart` encoded the longest check with these credentials.
            warn!(%error, "could not encode a check");
            return;
        }
        self.stats.requests_sent += 1;
        self.send(purpose.pair(), datagram.clone());
        let timing = RetransmitTiming {
            rto: self.config.rto,
            max_transmits: self.config.max_transmits,
            final_wait_factor: self.config.final_wait_factor,
        };
        let sent = Sent { purpose, role: self.role };
        self.transactions.push(ClientTransaction::sent(now, id, sent, datagram, timing));
    }

    fn send(&mut self, pair: usize, datagram: Vec<u8>) {
        let Some(entry) = self.pairs.get(pair) else { return };
        self.transmits.push_back(Transmit {
            local: entry.pair.local,
            remote: entry.pair.remote,
            datagram,
        });
    }

    fn on_check_succeeded(&mut self, now: Instant, purpose: Purpose) {
        match purpose {
            Purpose::Check(i) => {
                if let Some(entry) = self.pairs.get_mut(i) {
                    entry.state = PairState::Succeeded;
                }
                if !self.checking() {
                    return;
                }
                match self.role {
                    // RFC 8445 §8.1.1: nominate the first valid pair with USE-CANDIDATE.
                    IceRole::Controlling => {
                        self.nominating = Some(i);
                        self.next_check = None;
                        self.start_check(now, Purpose::Nominate(i));
                    }
                    IceRole::Controlled => self.select(now, i),
                }
            }
            Purpose::Nominate(i) => {
                self.nominating = None;
                self.select(now, i);
            }
            Purpose::Consent(i) => {
                if self.selected == Some(i) {
                    self.consent.confirm(now);
                }
            }
        }
    }

    fn select(&mut self, now: Instant, i: usize) {
        let Some(entry) = self.pairs.get(i).copied() else { return };
        self.next_check = None;
        self.nominated = true;
        if self.selected != Some(i) {
            self.selected = Some(i);
            info!(local = %entry.pair.local, remote = %entry.pair.remote, "pair nominated");
            self.events.selected(entry.pair);
        }
        // Checks of other pairs still in flight are of no use any more.
        self.transactions.retain(|t| matches!(t.kind.purpose, Purpose::Consent(_)));
        if let Some(entry) = self.pairs.get_mut(i) {
            entry.state = PairState::Succeeded;
        }
        self.consent.restart(now);
        self.next_consent = self.consent_time_after(now);
    }

    fn on_role_conflict(&mut self, now: Instant, purpose: Purpose, sent_as: IceRole) {
        self.stats.role_conflicts += 1;
        // RFC 8445 §7.2.5.1: the peer keeps the role the check claimed; take the other one
        // (unless a check of the peer made us switch already) and check the pair again at
        // once (a triggered check).
        let wanted = match sent_as {
            IceRole::Controlling => IceRole::Controlled,
            IceRole::Controlled => IceRole::Controlling,
        };
        if self.role != wanted {
            if self.role_switches >= MAX_ROLE_SWITCHES {
                info!(?purpose, "role conflict again: the peer refuses both roles");
                self.on_check_failed(now, purpose);
                return;
            }
            self.role_switches += 1;
            self.switch_role("the peer answered 487");
        }
        let pair = purpose.pair();
        if self.nominating == Some(pair) {
            self.nominating = None;
        }
        if let Some(entry) = self.pairs.get_mut(pair) {
            entry.state = PairState::InProgress;
        }
        match purpose {
            Purpose::Consent(i) => self.start_check(now, Purpose::Consent(i)),
            Purpose::Check(i) | Purpose::Nominate(i) => self.start_check(now, Purpose::Check(i)),
        }
    }

    fn on_check_failed(&mut self, now: Instant, purpose: Purpose) {
        self.stats.checks_failed += 1;
        let i = match purpose {
            // Not fatal by itself: consent expires when no check succeeded for a while.
            Purpose::Consent(_) => return,
            Purpose::Check(i) | Purpose::Nominate(i) => i,
        };
        if self.selected == Some(i) && matches!(purpose, Purpose::Check(_)) {
            // The selected pair's check under new credentials (after a restart) failed:
            // consent decides about it.
            return;
        }
        if let Some(entry) = self.pairs.get_mut(i) {
            entry.state = PairState::Failed;
        }
        if self.nominating == Some(i) {
            self.nominating = None;
            // Nominate the next pair that answered, if any.
            if let Some(next) = self.pairs.iter().position(|e| e.state == PairState::Succeeded) {
                if self.role == IceRole::Controlling {
                    self.nominating = Some(next);
                    self.start_check(now, Purpose::Nominate(next));
                } else {
                    self.select(now, next);
                }
                return;
            }
        }
        if self.checking() && self.pairs.iter().any(|e| e.state == PairState::Waiting) {
            self.next_check.get_or_insert(now);
            self.pace(now);
        }
        self.check_all_failed(now);
    }

    /// Every pair failed and none is selected: ICE failed (RFC 8445 §8.1.2).
    fn check_all_failed(&mut self, now: Instant) {
        let all_failed = self.pairs.iter().all(|e| e.state == PairState::Failed);
        if all_failed && self.selected.is_none() && !self.failed {
            info!(pairs = self.pairs.len(), "ICE failed: no pair answered");
            self.failed = true;
            self.transactions.clear();
            self.next_check = None;
            self.next_consent = None;
            self.consent.clear();
        }
        self.sync_state(now);
    }

    /// RFC 7675 §5.1: the next consent check goes out after a random 0.8 to 1.2 times the
    /// basic interval.
    fn consent_time_after(&mut self, now: Instant) -> Option<Instant> {
        let factor: f64 = self.rng.gen_range(0.8..=1.2);
        let base = self.config.consent_interval;
        let interval = Duration::try_from_secs_f64(base.as_secs_f64() * factor).unwrap_or(base);
        now.checked_add(interval.max(MIN_PACING))
    }

    fn sync_state(&mut self, now: Instant) {
        self.consent.update(now);
        let state = match (self.failed, self.selected, self.consent.is_granted()) {
            (true, None, _) => ConnectionState::Failed,
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

/// A zero pacing or consent interval would fire on every call without time moving on.
const MIN_PACING: Duration = Duration::from_millis(1);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{write_error, write_success};
    use crate::{IceConfig, IceLiteAgent};
    use stun::attributes::{IceControlled, IceControlling};
    use stun::AttributeType;

    fn ours() -> SocketAddr {
        "127.0.0.1:5000".parse().unwrap()
    }

    fn peer(last: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, last], 6000))
    }

    fn pair(remote: SocketAddr) -> CandidatePair {
        CandidatePair { local: ours(), remote }
    }

    /// Our agent against a lite agent that lives at some of the checked addresses, on a
    /// virtual clock; datagrams arrive at once unless `drop` says otherwise.
    struct Net {
        start: Instant,
        now: Instant,
        agent: IceControllingAgent,
        lite: IceLiteAgent,
        lite_credentials: Credentials,
        /// Addresses where the lite agent answers.
        alive: Vec<SocketAddr>,
        /// Everything to the peer is dropped while true.
        silent: bool,
        /// Drops the n-th datagram to the peer (counting from 0) when it returns true.
        drop: fn(usize) -> bool,
        /// Datagrams to the peer, with their time since start and destination.
        sent: Vec<(Duration, SocketAddr, Vec<u8>)>,
        events: Vec<(Duration, IceEvent)>,
    }

    impl Net {
        fn new(pairs: &[CandidatePair], alive: &[SocketAddr]) -> Net {
            Net::with(pairs, alive, |_| false)
        }

        fn with(pairs: &[CandidatePair], alive: &[SocketAddr], drop: fn(usize) -> bool) -> Net {
            let mut rng = StdRng::seed_from_u64(3);
            let ours = Credentials::generate(&mut rng);
            let theirs = Credentials::generate(&mut rng);
            let now = Instant::now();
            let agent = IceControllingAgent::new(
                now,
                ControllingConfig::default(),
                ours.clone(),
                theirs.clone(),
                pairs.iter().copied(),
                &mut rng,
            )
            .unwrap();
            let lite = IceLiteAgent::new(IceConfig::default(), theirs.clone(), Some(ours));
            let mut net = Net {
                start: now,
                now,
                agent,
                lite,
                lite_credentials: theirs,
                alive: alive.to_vec(),
                silent: false,
                drop,
                sent: Vec::new(),
                events: Vec::new(),
            };
            net.exchange();
            net
        }

        fn elapsed(&self) -> Duration {
            self.now - self.start
        }

        /// Delivers everything queued, both ways, until nothing moves.
        fn exchange(&mut self) {
            loop {
                let mut moved = false;
                while let Some(t) = self.agent.poll_transmit() {
                    moved = true;
                    let n = self.sent.len();
                    self.sent.push((self.elapsed(), t.remote, t.datagram.clone()));
                    if self.silent || (self.drop)(n) || !self.alive.contains(&t.remote) {
                        continue;
                    }
                    self.lite.handle_receive(self.now, t.remote, t.local, &t.datagram);
                }
                while let Some(t) = self.lite.poll_transmit() {
                    moved = true;
                    self.agent.handle_receive(self.now, t.remote, t.local, &t.datagram);
                }
                while self.lite.poll_event().is_some() {}
                while let Some(event) = self.agent.poll_event() {
                    self.events.push((self.elapsed(), event));
                }
                if !moved {
                    break;
                }
            }
        }

        /// Jumps to the next timer; false when there is none before `until`.
        fn step(&mut self, until: Duration) -> bool {
            let next =
                [self.agent.poll_timeout(), self.lite.poll_timeout()].into_iter().flatten().min();
            let Some(next) = next.filter(|n| *n <= self.start + until) else {
                self.now = self.start + until;
                return false;
            };
            self.now = self.now.max(next);
            self.agent.handle_timeout(self.now);
            self.lite.handle_timeout(self.now);
            self.exchange();
            true
        }

        fn run_until(&mut self, until: Duration) {
            for _ in 0..100_000 {
                if !self.step(until) {
                    return;
                }
            }
            panic!("livelock");
        }

        fn event_at(&self, wanted: IceEvent) -> Option<Duration> {
            self.events.iter().find(|(_, e)| *e == wanted).map(|(at, _)| *at)
        }
    }

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    fn selected(p: CandidatePair) -> IceEvent {
        IceEvent::SelectedPairChanged { local: p.local, remote: p.remote }
    }

    #[test]
    fn checks_go_in_priority_order_and_the_first_success_is_nominated() {
        let (dead, live, later) = (pair(peer(2)), pair(peer(3)), pair(peer(4)));
        let mut net = Net::new(&[dead, live, later, live], &[peer(3), peer(4)]);
        assert_eq!(net.agent.pairs().collect::<Vec<_>>(), [dead, live, later], "deduplicated");
        let discovered: Vec<IceEvent> = net.events.iter().map(|(_, e)| *e).take(3).collect();
        assert_eq!(
            discovered,
            [dead, live, later]
                .map(|p| IceEvent::PairDiscovered { local: p.local, remote: p.remote })
        );
        net.run_until(Duration::from_secs(1));
        // Ta pacing: the dead pair at once, the live one 50 ms later; its success stops the
        // pacing, so the third pair is never checked.
        let first: Vec<(Duration, SocketAddr)> =
            net.sent.iter().take(3).map(|(at, to, _)| (*at, *to)).collect();
        assert_eq!(first, [(ms(0), peer(2)), (ms(50), peer(3)), (ms(50), peer(3))]);
        assert!(net.sent.iter().all(|(_, to, _)| *to != peer(4)));
        let check = Message::parse(&net.sent[1].2).unwrap();
        assert!(check.get::<IceControlling>().unwrap().is_some());
        assert!(!check.contains(AttributeType::USE_CANDIDATE));
        check
            .verify_message_integrity(credentials::short_term_key(net.lite_credentials.pwd()))
            .unwrap();
        check.verify_fingerprint().unwrap();
        let nomination = Message::parse(&net.sent[2].2).unwrap();
        assert!(nomination.contains(AttributeType::USE_CANDIDATE));
        assert_eq!(net.event_at(selected(live)), Some(ms(50)));
        assert_eq!(net.event_at(IceEvent::Connected), Some(ms(50)));
        assert_eq!(net.agent.selected_pair(), Some(live));
        assert_eq!(
            net.lite.selected_pair(),
            Some(CandidatePair { local: peer(3), remote: ours() })
        );
        assert_eq!(net.agent.state(), ConnectionState::Connected);
        // The dead pair's check was abandoned with the selection: no retransmission of it.
        assert_eq!(net.sent.iter().filter(|(_, to, _)| *to == peer(2)).count(), 1);
        assert_eq!(net.agent.stats().retransmits, 0);
        assert!(net.agent.has_pair(ours(), peer(2)) && !net.agent.has_pair(ours(), peer(9)));
    }

    #[test]
    fn lost_checks_are_retransmitted_on_the_rfc8489_schedule() {
        let live = pair(peer(3));
        let mut net = Net::with(&[live], &[peer(3)], |n| n < 3);
        net.run_until(Duration::from_secs(10));
        let times: Vec<Duration> = net.sent.iter().take(5).map(|(at, _, _)| *at).collect();
        // Sent at 0, 500, 1500 (lost), 3500 (answered), then the nomination.
        assert_eq!(times, [ms(0), ms(500), ms(1500), ms(3500), ms(3500)]);
        assert_eq!(net.agent.stats().retransmits, 3);
        assert_eq!(net.event_at(selected(live)), Some(ms(3500)));
        assert_eq!(net.agent.state(), ConnectionState::Connected);
    }

    #[test]
    fn a_failed_nomination_moves_to_the_next_pair() {
        // Both pairs would answer; the nomination of the first one (datagram 1) and its six
        // retransmissions are lost.
        let (a, b) = (pair(peer(3)), pair(peer(4)));
        let mut net = Net::with(&[a, b], &[peer(3), peer(4)], |n| (1..8).contains(&n));
        net.run_until(Duration::from_secs(60));
        assert_eq!(net.agent.stats().checks_failed, 1);
        assert_eq!(net.event_at(selected(b)), Some(ms(39_500)));
        assert!(net.events.iter().all(|(_, e)| *e != selected(a)));
        assert_eq!(net.agent.selected_pair(), Some(b));
        assert_eq!(net.agent.state(), ConnectionState::Connected);
    }

    #[test]
    fn when_every_pair_fails_ice_fails() {
        let mut net = Net::new(&[pair(peer(2)), pair(peer(5))], &[]);
        net.run_until(Duration::from_secs(60));
        // The second check started 50 ms after the first and gives up 39.5 s later.
        assert_eq!(net.event_at(IceEvent::Failed), Some(ms(39_550)));
        assert_eq!(net.agent.state(), ConnectionState::Failed);
        assert_eq!(net.agent.poll_timeout(), None);
        assert_eq!(net.agent.stats().requests_sent, 2);
        assert_eq!(net.agent.stats().retransmits, 12);
        assert_eq!(net.agent.stats().checks_failed, 2);

        // No pair at all: failed from the start.
        let mut none = Net::new(&[], &[]);
        assert_eq!(none.event_at(IceEvent::Failed), Some(ms(0)));
        none.run_until(Duration::from_secs(1));
        assert!(none.sent.is_empty());
    }

    /// Answers `request` as a peer with password `pwd` would: success or an error code.
    fn answer(
        request: &[u8],
        from: SocketAddr,
        pwd: &str,
        error: Option<ErrorCode<'_>>,
    ) -> Vec<u8> {
        let id = Message::parse(request).unwrap().transaction_id();
        let mut out = Vec::new();
        match error {
            None => write_success(&mut out, id, from, pwd).unwrap(),
            Some(code) => write_error(&mut out, id, code, [], Some(pwd)).unwrap(),
        }
        out
    }

    #[test]
    fn a_role_conflict_switches_the_role_and_checks_again() {
        let mut rng = StdRng::seed_from_u64(5);
        let (ours_c, theirs) = (Credentials::generate(&mut rng), Credentials::generate(&mut rng));
        let now = Instant::now();
        let p = pair(peer(3));
        let mut agent = IceControllingAgent::new(
            now,
            ControllingConfig::default(),
            ours_c,
            theirs.clone(),
            [p],
            &mut rng,
        )
        .unwrap();
        let check = agent.poll_transmit().unwrap();
        // The peer claims the controlling role too, with a larger tie-breaker: 487.
        let conflict =
            answer(&check.datagram, ours(), theirs.pwd(), Some(ErrorCode::ROLE_CONFLICT));
        agent.handle_receive(now, ours(), peer(3), &conflict);
        assert_eq!(agent.role(), IceRole::Controlled);
        assert_eq!(agent.stats().role_conflicts, 1);
        // At once, the same pair again, now as controlled agent, without USE-CANDIDATE.
        let again = agent.poll_transmit().unwrap();
        assert_eq!(again.remote, peer(3));
        let m = Message::parse(&again.datagram).unwrap();
        assert_eq!(m.get::<IceControlled>().unwrap(), Some(IceControlled(agent.tie_breaker())));
        assert!(m.get::<IceControlling>().unwrap().is_none());
        assert!(!m.contains(AttributeType::USE_CANDIDATE));
        // Its success selects the pair: the lite peer uses the pair our checks arrive on.
        let ok = answer(&again.datagram, ours(), theirs.pwd(), None);
        agent.handle_receive(now, ours(), peer(3), &ok);
        assert_eq!(agent.selected_pair(), Some(p));
        assert_eq!(agent.state(), ConnectionState::Connected);
    }

    #[test]
    fn a_peer_refusing_both_roles_fails_the_pair() {
        // Our lite agent answers ICE-CONTROLLED with 487 (it never controls), so after a
        // first conflict (scripted) the second one, from the lite agent, fails the pair.
        let p = pair(peer(3));
        let mut net = Net::new(&[p], &[peer(3)]);
        // Undo the connection: start a fresh agent whose first check gets a scripted 487.
        let mut rng = StdRng::seed_from_u64(8);
        let mut agent = IceControllingAgent::new(
            net.now,
            ControllingConfig::default(),
            net.agent.local_credentials().clone(),
            net.lite_credentials.clone(),
            [p],
            &mut rng,
        )
        .unwrap();
        let check = agent.poll_transmit().unwrap();
        let conflict = answer(
            &check.datagram,
            ours(),
            net.lite_credentials.pwd(),
            Some(ErrorCode::ROLE_CONFLICT),
        );
        agent.handle_receive(net.now, ours(), peer(3), &conflict);
        net.agent = agent;
        net.events.clear();
        net.exchange();
        assert_eq!(net.agent.stats().role_conflicts, 2);
        assert_eq!(net.agent.state(), ConnectionState::Failed);
        assert!(net.events.iter().any(|(_, e)| *e == IceEvent::Failed));
    }

    /// Two controlling agents against each other (both sides full, both claiming control):
    /// the larger tie-breaker keeps control, the other becomes controlled, and both use the
    /// same pair.
    #[test]
    fn two_controlling_agents_resolve_the_conflict_and_agree_on_the_pair() {
        for seed in 0..8 {
            let mut rng = StdRng::seed_from_u64(seed);
            let (x_c, y_c) = (Credentials::generate(&mut rng), Credentials::generate(&mut rng));
            let (x_addr, y_addr) = (ours(), peer(3));
            let now = Instant::now();
            let config = ControllingConfig::default();
            let x_pair = CandidatePair { local: x_addr, remote: y_addr };
            let y_pair = CandidatePair { local: y_addr, remote: x_addr };
            let mut x =
                IceControllingAgent::new(now, config, x_c.clone(), y_c.clone(), [x_pair], &mut rng)
                    .unwrap();
            let mut y =
                IceControllingAgent::new(now, config, y_c, x_c, [y_pair], &mut rng).unwrap();
            let mut now = now;
            for _ in 0..1000 {
                loop {
                    let mut moved = false;
                    while let Some(t) = x.poll_transmit() {
                        moved = true;
                        y.handle_receive(now, t.remote, t.local, &t.datagram);
                    }
                    while let Some(t) = y.poll_transmit() {
                        moved = true;
                        x.handle_receive(now, t.remote, t.local, &t.datagram);
                    }
                    if !moved {
                        break;
                    }
                }
                if x.state() == ConnectionState::Connected
                    && y.state() == ConnectionState::Connected
                {
                    break;
                }
                let next = [x.poll_timeout(), y.poll_timeout()].into_iter().flatten().min();
                now = next.expect("a timer while connecting");
                x.handle_timeout(now);
                y.handle_timeout(now);
            }
            assert_eq!(x.state(), ConnectionState::Connected, "seed {seed}");
            assert_eq!(y.state(), ConnectionState::Connected, "seed {seed}");
            assert_eq!(x.selected_pair(), Some(x_pair));
            assert_eq!(y.selected_pair(), Some(y_pair));
            let (winner, loser) =
                if x.tie_breaker() > y.tie_breaker() { (&x, &y) } else { (&y, &x) };
            assert_eq!(winner.role(), IceRole::Controlling, "seed {seed}");
            assert_eq!(loser.role(), IceRole::Controlled, "seed {seed}");
            let conflicts = x.stats().requests_rejected + y.stats().requests_rejected;
            assert!(conflicts <= 1, "seed {seed}: {conflicts} conflicts");
        }
    }

    #[test]
    fn consent_is_kept_then_lost_then_regained() {
        let live = pair(peer(3));
        let mut net = Net::new(&[live], &[peer(3)]);
        net.run_until(Duration::from_secs(60));
        assert_eq!(net.agent.state(), ConnectionState::Connected);
        let consent_checks = net.sent.len() - 2;
        // One every 4 to 6 s.
        assert!((10..=15).contains(&consent_checks), "{consent_checks}");
        assert_eq!(net.agent.consent_expiry().map(|e| e > net.now), Some(true));

        net.silent = true;
        net.run_until(Duration::from_secs(100));
        let lost = net.event_at(IceEvent::Disconnected).expect("consent expired");
        // The last success was at most 6 s before the silence began at 60 s.
        assert!(lost > Duration::from_secs(84) && lost <= Duration::from_secs(90), "{lost:?}");
        assert_eq!(net.agent.state(), ConnectionState::Disconnected);
        assert_eq!(net.agent.selected_pair(), Some(live), "the pair stays selected");

        net.silent = false;
        net.events.clear();
        net.run_until(Duration::from_secs(110));
        assert_eq!(net.agent.state(), ConnectionState::Connected);
        assert!(net.event_at(IceEvent::Connected).is_some());
    }

    #[test]
    fn responses_that_do_not_authenticate_or_come_from_elsewhere_are_ignored() {
        let mut rng = StdRng::seed_from_u64(6);
        let (ours_c, theirs) = (Credentials::generate(&mut rng), Credentials::generate(&mut rng));
        let now = Instant::now();
        let p = pair(peer(3));
        let mut agent = IceControllingAgent::new(
            now,
            ControllingConfig::default(),
            ours_c,
            theirs.clone(),
            [p],
            &mut rng,
        )
        .unwrap();
        let check = agent.poll_transmit().unwrap();
        // Wrong password, another source, an unauthenticated 401, a request, garbage.
        agent.handle_receive(
            now,
            ours(),
            peer(3),
            &answer(&check.datagram, ours(), "wrongpasswordwrongpassword", None),
        );
        agent.handle_receive(
            now,
            ours(),
            peer(7),
            &answer(&check.datagram, ours(), theirs.pwd(), None),
        );
        let mut unauthenticated = Vec::new();
        let id = Message::parse(&check.datagram).unwrap().transaction_id();
        write_error(&mut unauthenticated, id, ErrorCode::UNAUTHENTICATED, [], None).unwrap();
        agent.handle_receive(now, ours(), peer(3), &unauthenticated);
        agent.handle_receive(now, ours(), peer(3), &[0, 1, 2]);
        let stats = *agent.stats();
        assert_eq!((stats.ignored, stats.malformed, stats.error_responses), (3, 1, 1));
        // Our own check reflected back is a request that does not name our credentials: 401,
        // without MESSAGE-INTEGRITY.
        agent.handle_receive(now, ours(), peer(3), &check.datagram);
        assert_eq!(agent.stats().requests_rejected, 1);
        let rejected = agent.poll_transmit().unwrap();
        assert_eq!(rejected.remote, peer(3));
        let m = Message::parse(&rejected.datagram).unwrap();
        assert_eq!(m.get::<ErrorCode<'_>>().unwrap().unwrap().code, 401);
        assert!(!m.has_message_integrity());
        assert_eq!(agent.selected_pair(), None);
        assert_eq!(agent.state(), ConnectionState::New);
        // The check is still in flight: its retransmission comes at 500 ms.
        assert_eq!(agent.poll_timeout(), Some(now + ms(500)));
        agent.handle_timeout(now + ms(500));
        assert_eq!(agent.poll_transmit().unwrap().datagram, check.datagram);
        // The right answer, late, still counts.
        agent.handle_receive(
            now + ms(600),
            ours(),
            peer(3),
            &answer(&check.datagram, ours(), theirs.pwd(), None),
        );
        let nomination = agent.poll_transmit().unwrap();
        assert!(Message::parse(&nomination.datagram)
            .unwrap()
            .contains(AttributeType::USE_CANDIDATE));
    }

    #[test]
    fn a_restart_checks_again_and_keeps_the_selected_pair_meanwhile() {
        let live = pair(peer(3));
        let mut net = Net::new(&[live], &[peer(3)]);
        net.run_until(Duration::from_secs(1));
        assert_eq!(net.agent.selected_pair(), Some(live));
        let mut rng = StdRng::seed_from_u64(11);
        let (ours_c, theirs) = (Credentials::generate(&mut rng), Credentials::generate(&mut rng));
        assert!(net
            .agent
            .restart(net.now, net.agent.local_credentials().clone(), theirs.clone())
            .is_err());
        net.lite.restart(theirs.clone(), Some(ours_c.clone())).unwrap();
        net.agent.restart(net.now, ours_c, theirs).unwrap();
        assert_eq!(net.agent.selected_pair(), Some(live));
        net.events.clear();
        let before = net.sent.len();
        net.exchange();
        net.run_until(Duration::from_secs(2));
        // A check and a nomination under the new credentials, on the same pair.
        assert!(net.sent.len() >= before + 2);
        assert_eq!(net.agent.state(), ConnectionState::Connected);
        assert_eq!(
            net.lite.selected_pair(),
            Some(CandidatePair { local: peer(3), remote: ours() })
        );
        assert!(net.events.iter().all(|(_, e)| *e != IceEvent::Disconnected));
    }
}
