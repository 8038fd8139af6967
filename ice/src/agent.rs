//! The ICE-lite agent (RFC 8445 §2.5): answers connectivity checks, learns peer-reflexive
//! pairs, follows the controlling peer's nominations and watches consent (RFC 7675).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use stun::attributes::{
    ErrorCode, IceControlled, IceControlling, Priority, UseCandidate, Username,
};
use stun::{Class, Message, Method};
use tracing::{debug, info, trace, warn};

use crate::check::{self, split_username};
use crate::consent::{ConsentFreshness, CONSENT_TIMEOUT};
use crate::event::EventQueue;
use crate::pairs::{CheckedPair, PairList};
use crate::{CandidatePair, ConnectionState, Credentials, Error, IceEvent, Transmit};

/// Default bound on the candidate pairs one agent remembers.
pub const DEFAULT_MAX_PAIRS: usize = 8;

/// Responses waiting for `poll_transmit` beyond this are dropped (and counted), like a full
/// socket buffer: the peer retransmits. Callers drain after every call, so the queue
/// normally holds at most one.
const MAX_QUEUED_TRANSMITS: usize = 32;

/// Settings of an [`IceLiteAgent`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IceConfig {
    /// Consent expires when no valid check arrived on the selected pair for this long
    /// (RFC 7675 §5.1: 30 s).
    pub consent_timeout: Duration,
    /// Most candidate pairs remembered; the least recently checked unselected pair makes room
    /// for a new one. Values below 2 count as 2.
    pub max_pairs: usize,
}

impl Default for IceConfig {
    fn default() -> Self {
        Self { consent_timeout: CONSENT_TIMEOUT, max_pairs: DEFAULT_MAX_PAIRS }
    }
}

/// Counters of what an [`IceLiteAgent`] received and did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IceStats {
    /// Datagrams passed to `handle_receive`.
    pub datagrams: u64,
    /// Datagrams that are not well-formed STUN (garbage, truncated): dropped.
    pub malformed: u64,
    /// STUN messages with a wrong FINGERPRINT: dropped silently (RFC 8489 §6.3).
    pub bad_fingerprint: u64,
    /// Well-formed STUN that is not a Binding request (responses, indications, other
    /// methods): dropped.
    pub ignored: u64,
    /// Valid checks, answered with a success response.
    pub checks_accepted: u64,
    /// Checks answered with 400 (Bad Request).
    pub bad_requests: u64,
    /// Checks answered with 401 (Unauthenticated).
    pub unauthenticated: u64,
    /// Checks answered with 420 (Unknown Attribute).
    pub unknown_attributes: u64,
    /// Checks answered with 487 (Role Conflict).
    pub role_conflicts: u64,
    /// Pairs evicted from the bounded list to make room.
    pub pairs_evicted: u64,
    /// Responses dropped because the caller did not drain `poll_transmit`.
    pub transmits_dropped: u64,
}

/// How the selected pair came to be selected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SelectedBy {
    /// A valid check with USE-CANDIDATE (RFC 8445 §7.3.2).
    Nomination,
    /// A DTLS ClientHello on a checked pair, before any nomination.
    DtlsClientHello,
}

#[derive(Clone, Copy, Debug)]
struct Selected {
    pair: CandidatePair,
    by: SelectedBy,
}

/// Which credentials a check was made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Generation {
    Current,
    /// The credentials before the last ICE restart, still honoured on the selected pair.
    Previous,
}

/// The credentials replaced by the last ICE restart (RFC 8445 §9).
#[derive(Clone, Debug)]
struct PreviousCredentials {
    local: Credentials,
    remote: Option<Credentials>,
}

/// A check that passed every test of RFC 8445 §7.3.
#[derive(Clone, Copy, Debug)]
struct ValidCheck {
    generation: Generation,
    priority: u32,
    use_candidate: bool,
}

/// Why a Binding request is answered with an error.
#[derive(Clone, Copy, Debug)]
struct Rejection {
    code: ErrorCode<'static>,
    reason: &'static str,
    /// Set once the request authenticated: the error response then carries
    /// MESSAGE-INTEGRITY (RFC 8489 §9.1.3).
    authenticated: Option<Generation>,
}

const fn reject(code: ErrorCode<'static>, reason: &'static str) -> Rejection {
    Rejection { code, reason, authenticated: None }
}

/// An ICE-lite agent for one session (one PeerConnection, one BUNDLE group, one component).
///
/// A lite agent (RFC 8445 §2.5) has only host candidates, sends no checks and is always
/// controlled: it answers the peer's checks, learns the peer's addresses from them
/// (peer-reflexive, §7.3.1.3), selects the pair the peer nominates, and watches consent
/// (RFC 7675). Sans-IO: the driver feeds datagrams and time, and drains
/// [`IceLiteAgent::poll_transmit`] and [`IceLiteAgent::poll_event`] after every call.
///
/// Behaviour in detail:
/// - **Checks** (§7.3): a Binding request needs USERNAME `<local ufrag>:<remote ufrag>`
///   (any remote ufrag while the remote credentials are not known yet), MESSAGE-INTEGRITY
///   keyed with the local password, FINGERPRINT valid if present, and PRIORITY. Answers: 400
///   when USERNAME or MESSAGE-INTEGRITY is missing, or PRIORITY or a role attribute is
///   missing or malformed; 401 for a wrong USERNAME or integrity; 420 with UNKNOWN-ATTRIBUTES
///   for unknown comprehension-required attributes; 487 for ICE-CONTROLLED (see below);
///   otherwise a success with XOR-MAPPED-ADDRESS. Error responses to requests that
///   authenticated carry MESSAGE-INTEGRITY; all responses carry FINGERPRINT. Garbage, bad
///   FINGERPRINTs, responses and indications are dropped and counted in [`IceStats`].
///   Nothing but a valid check changes state.
/// - **Role** (§7.3.1.1): a lite agent is always controlled. A peer that also claims the
///   controlled role gets 487 (Role Conflict), as if our tie-breaker were lower than any,
///   and switches to controlling.
/// - **Pairs**: the first valid check on a 5-tuple learns the pair
///   ([`IceEvent::PairDiscovered`]); at most [`IceConfig::max_pairs`] are kept, the least
///   recently checked unselected pair making room ([`IceEvent::PairRemoved`]).
/// - **Nomination**: USE-CANDIDATE on a valid check selects its pair
///   ([`IceEvent::SelectedPairChanged`], and [`IceEvent::Connected`] the first time); a later
///   nomination of another pair switches to it (the latest nomination wins: that is how
///   browsers move a session to a new network). [`IceLiteAgent::dtls_client_hello_from`]
///   selects a checked pair early, before any nomination.
/// - **Consent** (RFC 7675): [`IceEvent::Disconnected`] when no valid check arrived on the
///   selected pair for [`IceConfig::consent_timeout`]; [`IceEvent::Connected`] again with the
///   next one, or with a nomination.
/// - **ICE restart** (§9): see [`IceLiteAgent::restart`].
#[derive(Debug)]
pub struct IceLiteAgent {
    config: IceConfig,
    local: Credentials,
    remote: Option<Credentials>,
    previous: Option<PreviousCredentials>,
    /// Incremented by every ICE restart.
    generation: u32,
    pairs: PairList,
    selected: Option<Selected>,
    consent: ConsentFreshness,
    state: ConnectionState,
    transmits: VecDeque<Transmit>,
    events: EventQueue,
    stats: IceStats,
}

impl IceLiteAgent {
    /// An agent with local credentials (from [`Credentials::generate`], put in our SDP) and,
    /// when already known, the remote ones from the peer's SDP. When the SFU is the offerer,
    /// the browser may send checks before its answer reaches us: they are accepted on the
    /// local credentials alone until [`IceLiteAgent::set_remote_credentials`].
    pub fn new(config: IceConfig, local: Credentials, remote: Option<Credentials>) -> Self {
        Self {
            config,
            local,
            remote,
            previous: None,
            generation: 0,
            pairs: PairList::new(config.max_pairs),
            selected: None,
            consent: ConsentFreshness::new(config.consent_timeout),
            state: ConnectionState::New,
            transmits: VecDeque::new(),
            events: EventQueue::default(),
            stats: IceStats::default(),
        }
    }

    /// Sets the remote credentials learned late from the peer's SDP answer. Setting the same
    /// ones again is a no-op; different ones are an error: that is an ICE restart.
    pub fn set_remote_credentials(&mut self, remote: Credentials) -> Result<(), Error> {
        match &self.remote {
            Some(known) if *known != remote => {
                Err(Error::InvalidCredentials("remote credentials changed without an ICE restart"))
            }
            _ => {
                self.remote = Some(remote);
                Ok(())
            }
        }
    }

    /// ICE restart (RFC 8445 §9) after an SDP renegotiation changed the credentials: `local`
    /// are our new ones (both ufrag and password must change), `remote` the peer's new ones
    /// (or `None` until its SDP arrives).
    ///
    /// Every pair except the selected one is forgotten ([`IceEvent::PairRemoved`]). Media
    /// keeps flowing on the selected pair until the peer nominates a pair under the new
    /// credentials, as RFC 8445 §9 asks. Until then, checks made with the previous
    /// credentials are still answered, but only on the selected pair: they keep its consent
    /// fresh while the peer has not yet applied the new SDP. Anywhere else, or once a pair is
    /// nominated under the new credentials, checks with the previous credentials get 401.
    /// Only the credentials of the last restart are remembered this way.
    pub fn restart(
        &mut self,
        local: Credentials,
        remote: Option<Credentials>,
    ) -> Result<(), Error> {
        if local.ufrag() == self.local.ufrag() || local.pwd() == self.local.pwd() {
            return Err(Error::InvalidCredentials(
                "an ICE restart needs a new local ufrag and password (RFC 8445 §9)",
            ));
        }
        let old_local = std::mem::replace(&mut self.local, local);
        let old_remote = std::mem::replace(&mut self.remote, remote);
        self.generation = self.generation.wrapping_add(1);
        let selected = self.selected.map(|s| s.pair);
        self.previous =
            selected.map(|_| PreviousCredentials { local: old_local, remote: old_remote });
        let events = &mut self.events;
        self.pairs.retain_only(selected, |pair| events.pair_removed(pair));
        info!(ufrag = self.local.ufrag(), ?selected, "ICE restart");
        Ok(())
    }

    /// Handles one datagram that the driver classified as STUN (first byte 0..=3, RFC 7983),
    /// received on our `local` address from `remote`.
    pub fn handle_receive(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &[u8],
    ) {
        self.stats.datagrams += 1;
        let message = match Message::parse(datagram) {
            Ok(message) => message,
            Err(error) => {
                self.stats.malformed += 1;
                trace!(%remote, %error, "dropped: not STUN");
                return;
            }
        };
        // RFC 8489 §6.3: a message whose FINGERPRINT does not match is silently discarded.
        if message.has_fingerprint() && message.verify_fingerprint().is_err() {
            self.stats.bad_fingerprint += 1;
            trace!(%remote, "dropped: bad FINGERPRINT");
            return;
        }
        // Responses and indications get no answer; a Binding indication proves nothing
        // (it has no integrity), so it does not count for consent either. Other request
        // methods are not ICE: the media port is not a STUN server, so no answer either.
        if message.class() != Class::Request || message.method() != Method::BINDING {
            self.stats.ignored += 1;
            let message_type = message.message_type();
            trace!(%remote, ?message_type, "dropped: not a Binding request");
            return;
        }

        let pair = CandidatePair { local, remote };
        let transaction_id = message.transaction_id();
        let mut response = Vec::new();
        let (written, valid) = match self.evaluate(&message, pair) {
            Ok(check) => {
                let pwd = self.credentials(check.generation).pwd();
                (check::write_success(&mut response, transaction_id, remote, pwd), Some(check))
            }
            Err(rejection) => {
                self.count_rejection(rejection.code);
                let (code, reason) = (rejection.code.code, rejection.reason);
                trace!(%remote, code, reason, "check rejected");
                let pwd = rejection.authenticated.map(|g| self.credentials(g).pwd());
                let unknown = message.unknown_comprehension_required(check::is_understood);
                (
                    check::write_error(&mut response, transaction_id, rejection.code, unknown, pwd),
                    None,
                )
            }
        };
        if let Err(error) = written {
            // Responses are small and built from values we control or already decoded.
            warn!(%error, "could not encode a Binding response");
            return;
        }
        self.queue_transmit(Transmit { local, remote, datagram: response });
        if let Some(check) = valid {
            self.on_valid_check(now, pair, check);
        }
    }

    /// The driver saw a DTLS ClientHello on this 5-tuple. If a valid check arrived on it
    /// (under the current credentials, with consent still fresh) and the peer has not
    /// nominated a pair, the pair is selected at once so the DTLS handshake can go ahead
    /// without waiting for USE-CANDIDATE. A nomination always takes precedence: after one,
    /// this only confirms the nominated pair. Returns whether the pair is now selected.
    pub fn dtls_client_hello_from(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> bool {
        let pair = CandidatePair { local, remote };
        if let Some(selected) = self.selected {
            if selected.pair == pair {
                return true;
            }
            if selected.by == SelectedBy::Nomination {
                return false;
            }
        }
        let Some(checked) = self.pairs.get(pair) else {
            return false;
        };
        let fresh = checked
            .last_check
            .checked_add(self.config.consent_timeout)
            .is_none_or(|expiry| now < expiry);
        if checked.generation != self.generation || !fresh {
            return false;
        }
        self.select(now, pair, SelectedBy::DtlsClientHello);
        self.sync_state(now);
        true
    }

    /// Advances time: consent expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
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

    /// When to call [`IceLiteAgent::handle_timeout`]: the consent deadline of the selected
    /// pair while connected, otherwise nothing (the agent only waits for checks).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.consent.timeout()
    }

    /// The connection state.
    pub const fn state(&self) -> ConnectionState {
        self.state
    }

    /// The pair media goes over.
    pub fn selected_pair(&self) -> Option<CandidatePair> {
        self.selected.map(|s| s.pair)
    }

    /// The pairs valid checks arrived on (at most [`IceConfig::max_pairs`]).
    pub fn pairs(&self) -> impl Iterator<Item = &CheckedPair> + '_ {
        self.pairs.iter()
    }

    /// Whether this 5-tuple is in the pair list: a valid check arrived on it and it was not
    /// evicted or dropped by a restart since. The driver may use it to decide whether a
    /// 5-tuple belongs to this session.
    pub fn has_pair(&self, local: SocketAddr, remote: SocketAddr) -> bool {
        self.pairs.get(CandidatePair { local, remote }).is_some()
    }

    /// Our current credentials.
    pub const fn local_credentials(&self) -> &Credentials {
        &self.local
    }

    /// The peer's current credentials, if known.
    pub const fn remote_credentials(&self) -> Option<&Credentials> {
        self.remote.as_ref()
    }

    /// The settings.
    pub const fn config(&self) -> &IceConfig {
        &self.config
    }

    /// Counters.
    pub const fn stats(&self) -> &IceStats {
        &self.stats
    }

    /// The local credentials of a generation.
    fn credentials(&self, generation: Generation) -> &Credentials {
        match (generation, &self.previous) {
            (Generation::Previous, Some(previous)) => &previous.local,
            _ => &self.local,
        }
    }

    /// Which credentials a check's USERNAME names, if any we accept on this pair.
    fn generation_of(&self, username: &str, pair: CandidatePair) -> Option<Generation> {
        let (local, remote) = split_username(username)?;
        let matches = |ours: &Credentials, theirs: Option<&Credentials>| {
            local == ours.ufrag() && theirs.is_none_or(|t| remote == t.ufrag())
        };
        if matches(&self.local, self.remote.as_ref()) {
            return Some(Generation::Current);
        }
        let previous = self.previous.as_ref()?;
        let on_selected = self.selected.is_some_and(|s| s.pair == pair);
        (on_selected && matches(&previous.local, previous.remote.as_ref()))
            .then_some(Generation::Previous)
    }

    /// The tests of RFC 8489 §9.1.3, RFC 8489 §6.3.1 and RFC 8445 §7.3, in that order.
    fn evaluate(
        &self,
        message: &Message<'_>,
        pair: CandidatePair,
    ) -> Result<ValidCheck, Rejection> {
        // RFC 8489 §9.1.3: a request without USERNAME or MESSAGE-INTEGRITY gets 400.
        if !message.has_message_integrity() || !message.contains(stun::AttributeType::USERNAME) {
            return Err(reject(ErrorCode::BAD_REQUEST, "USERNAME or MESSAGE-INTEGRITY missing"));
        }
        // RFC 8489 §9.1.3: an unknown username or a failed integrity check gets 401.
        let Ok(Some(Username(username))) = message.get::<Username<'_>>() else {
            return Err(reject(ErrorCode::UNAUTHENTICATED, "USERNAME is not valid UTF-8"));
        };
        let Some(generation) = self.generation_of(username, pair) else {
            return Err(reject(ErrorCode::UNAUTHENTICATED, "USERNAME names unknown credentials"));
        };
        if check::authenticate(message, self.credentials(generation).pwd()).is_err() {
            return Err(reject(ErrorCode::UNAUTHENTICATED, "integrity check failed"));
        }
        let rejected = |code, reason| Rejection { code, reason, authenticated: Some(generation) };

        // RFC 8489 §6.3 and §6.3.1: once authenticated, unknown comprehension-required attributes
        // get 420 listing them.
        if message.unknown_comprehension_required(check::is_understood).next().is_some() {
            return Err(rejected(ErrorCode::UNKNOWN_ATTRIBUTE, "unknown attributes"));
        }
        // RFC 8445 §7.2.2: a check carries PRIORITY.
        let Ok(Some(Priority(priority))) = message.get::<Priority>() else {
            return Err(rejected(ErrorCode::BAD_REQUEST, "PRIORITY missing or malformed"));
        };
        let Ok(use_candidate) = message.get::<UseCandidate>() else {
            return Err(rejected(ErrorCode::BAD_REQUEST, "malformed USE-CANDIDATE"));
        };
        let (Ok(controlling), Ok(controlled)) =
            (message.get::<IceControlling>(), message.get::<IceControlled>())
        else {
            return Err(rejected(ErrorCode::BAD_REQUEST, "malformed role attribute"));
        };
        match (controlling, controlled) {
            (Some(_), Some(_)) => {
                return Err(rejected(
                    ErrorCode::BAD_REQUEST,
                    "both ICE-CONTROLLING and ICE-CONTROLLED",
                ));
            }
            // The peer claims the controlled role too. A full peer of a lite agent must
            // control (RFC 8445 §6.1.1), so it missed our a=ice-lite. A lite agent cannot take
            // the controlling role, so it resolves the conflict as RFC 8445 §7.3.1.1 does for
            // a controlled agent whose tie-breaker is the smaller one: 487, keep the role, and
            // the peer switches to controlling.
            (None, Some(_)) => {
                return Err(rejected(ErrorCode::ROLE_CONFLICT, "peer is controlled too"));
            }
            // ICE-CONTROLLING is the normal case; a check without either attribute comes
            // from an RFC 5245-era peer and raises no conflict.
            _ => {}
        }
        Ok(ValidCheck { generation, priority, use_candidate: use_candidate.is_some() })
    }

    fn count_rejection(&mut self, code: ErrorCode<'_>) {
        let counter = match code.code {
            400 => &mut self.stats.bad_requests,
            401 => &mut self.stats.unauthenticated,
            420 => &mut self.stats.unknown_attributes,
            _ => &mut self.stats.role_conflicts,
        };
        *counter += 1;
    }

    fn on_valid_check(&mut self, now: Instant, pair: CandidatePair, check: ValidCheck) {
        self.stats.checks_accepted += 1;
        trace!(remote = %pair.remote, use_candidate = check.use_candidate, "valid check");
        let selected = self.selected.map(|s| s.pair);
        if check.generation == Generation::Previous {
            // Only accepted on the selected pair (see `generation_of`): it keeps consent
            // fresh for the media still flowing there, and can neither learn nor nominate.
            if let Some(checked) = self.pairs.get_mut(pair) {
                checked.last_check = checked.last_check.max(now);
            }
            self.consent.confirm(now);
            self.sync_state(now);
            return;
        }
        let generation = self.generation;
        if let Some(checked) = self.pairs.get_mut(pair) {
            if checked.generation != generation {
                checked.generation = generation;
                checked.nominated = false;
            }
            checked.last_check = checked.last_check.max(now);
            checked.remote_priority = check.priority;
            checked.nominated |= check.use_candidate;
        } else {
            let entry = CheckedPair {
                pair,
                remote_priority: check.priority,
                last_check: now,
                nominated: check.use_candidate,
                generation,
            };
            match self.pairs.insert(entry, selected) {
                Ok(evicted) => {
                    if let Some(evicted) = evicted {
                        self.stats.pairs_evicted += 1;
                        debug!(remote = %evicted.remote, "candidate pair evicted");
                        self.events.pair_removed(evicted);
                    }
                    let (local, remote) = (pair.local, pair.remote);
                    debug!(%local, %remote, "peer-reflexive pair learned");
                    self.events.pair_discovered(pair);
                }
                // Cannot happen: the list holds at least two pairs and only one is selected.
                Err(()) => warn!("candidate pair list full of selected pairs"),
            }
        }
        if selected == Some(pair) {
            self.consent.confirm(now);
        }
        if check.use_candidate && self.pairs.get(pair).is_some() {
            self.select(now, pair, SelectedBy::Nomination);
        }
        self.sync_state(now);
    }

    /// Makes `pair` (which is in the list) the selected pair.
    fn select(&mut self, now: Instant, pair: CandidatePair, by: SelectedBy) {
        // RFC 8445 §9: a nomination under the new credentials completes an ICE restart.
        if by == SelectedBy::Nomination && self.previous.take().is_some() {
            debug!("ICE restart complete: previous credentials retired");
        }
        if let Some(selected) = &mut self.selected {
            if selected.pair == pair {
                if by == SelectedBy::Nomination {
                    selected.by = by;
                }
                return;
            }
        }
        let last_check = self.pairs.get(pair).map_or(now, |p| p.last_check);
        self.selected = Some(Selected { pair, by });
        self.consent.restart(last_check);
        debug!(local = %pair.local, remote = %pair.remote, ?by, "selected pair changed");
        self.events.selected(pair);
    }

    /// Re-evaluates consent and reports a change of connection state.
    fn sync_state(&mut self, now: Instant) {
        if self.selected.is_none() {
            self.consent.clear();
        }
        self.consent.update(now);
        let state = match (self.selected, self.consent.is_granted()) {
            (None, _) => ConnectionState::New,
            (Some(_), true) => ConnectionState::Connected,
            (Some(_), false) => ConnectionState::Disconnected,
        };
        if state == self.state {
            return;
        }
        self.state = state;
        match state {
            ConnectionState::Connected => {
                info!("ICE connected");
                self.events.push(IceEvent::Connected);
            }
            ConnectionState::Disconnected => {
                info!("ICE disconnected: consent expired");
                self.events.push(IceEvent::Disconnected);
            }
            _ => {}
        }
    }

    fn queue_transmit(&mut self, transmit: Transmit) {
        if self.transmits.len() >= MAX_QUEUED_TRANSMITS {
            self.stats.transmits_dropped += 1;
            trace!(remote = %transmit.remote, "response dropped: transmit queue full");
            return;
        }
        self.transmits.push_back(transmit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stun::attributes::{UnknownAttributes, XorMappedAddress};
    use stun::{AttributeType, MessageType, MessageWriter, TransactionId};

    const SFU_UFRAG: &str = "sfuUfragAAAAAAAA";
    const SFU_PWD: &str = "sfuPasswordBBBBBBBBBBBBBBBBBBBBB";
    const BROWSER_UFRAG: &str = "h6vY";
    const BROWSER_PWD: &str = "VOkJxbRl1RmTxUk/WvJxBt";

    fn sfu() -> Credentials {
        Credentials::new(SFU_UFRAG, SFU_PWD).unwrap()
    }

    fn browser() -> Credentials {
        Credentials::new(BROWSER_UFRAG, BROWSER_PWD).unwrap()
    }

    fn local() -> SocketAddr {
        "192.0.2.10:443".parse().unwrap()
    }

    fn remote(port: u16) -> SocketAddr {
        SocketAddr::from(([198, 51, 100, 7], port))
    }

    fn agent() -> IceLiteAgent {
        IceLiteAgent::new(IceConfig::default(), sfu(), Some(browser()))
    }

    /// A Binding request as a browser sends it, with knobs to break it.
    #[derive(Clone, Debug)]
    struct Request {
        tid: TransactionId,
        username: Option<String>,
        priority: Option<u32>,
        controlling: Option<u64>,
        controlled: Option<u64>,
        use_candidate: bool,
        extra: Vec<(u16, Vec<u8>)>,
        integrity_key: Option<String>,
        fingerprint: bool,
    }

    impl Request {
        fn check() -> Self {
            Self {
                tid: TransactionId([0x5a; 12]),
                username: Some(format!("{SFU_UFRAG}:{BROWSER_UFRAG}")),
                priority: Some(0x6e00_01ff),
                controlling: Some(0x932f_f9b1_5126_3b36),
                controlled: None,
                use_candidate: false,
                extra: Vec::new(),
                integrity_key: Some(SFU_PWD.to_owned()),
                fingerprint: true,
            }
        }

        fn nominate() -> Self {
            Self { use_candidate: true, ..Self::check() }
        }

        fn with_credentials(mut self, ours: &Credentials, theirs: &Credentials) -> Self {
            self.username = Some(format!("{}:{}", ours.ufrag(), theirs.ufrag()));
            self.integrity_key = Some(ours.pwd().to_owned());
            self
        }

        fn build(&self) -> Vec<u8> {
            let mut out = Vec::new();
            let mut w = MessageWriter::new(&mut out, MessageType::BINDING_REQUEST, self.tid);
            if let Some(u) = &self.username {
                w.add(&Username(u)).unwrap();
            }
            if let Some(p) = self.priority {
                w.add(&Priority(p)).unwrap();
            }
            if let Some(t) = self.controlling {
                w.add(&IceControlling(t)).unwrap();
            }
            if let Some(t) = self.controlled {
                w.add(&IceControlled(t)).unwrap();
            }
            if self.use_candidate {
                w.add(&UseCandidate).unwrap();
            }
            for (t, v) in &self.extra {
                w.add_raw(AttributeType(*t), v).unwrap();
            }
            if let Some(key) = &self.integrity_key {
                w.add_message_integrity(key.as_bytes()).unwrap();
            }
            if self.fingerprint {
                w.add_fingerprint().unwrap();
            }
            out
        }
    }

    /// Sends `request` from `remote(port)` and returns the single response, if any.
    fn exchange(
        agent: &mut IceLiteAgent,
        now: Instant,
        port: u16,
        request: &Request,
    ) -> Option<Vec<u8>> {
        agent.handle_receive(now, local(), remote(port), &request.build());
        let t = agent.poll_transmit()?;
        assert_eq!((t.local, t.remote), (local(), remote(port)));
        assert!(agent.poll_transmit().is_none());
        Some(t.datagram)
    }

    fn events(agent: &mut IceLiteAgent) -> Vec<IceEvent> {
        std::iter::from_fn(|| agent.poll_event()).collect()
    }

    /// Parses an error response and returns its code, checking FINGERPRINT and whether it
    /// carries MESSAGE-INTEGRITY keyed with `key`.
    fn error_code(response: &[u8], tid: TransactionId, key: Option<&str>) -> u16 {
        let m = Message::parse(response).unwrap();
        assert_eq!(m.message_type(), stun::MessageType::BINDING_ERROR);
        assert_eq!(m.transaction_id(), tid);
        m.verify_fingerprint().unwrap();
        match key {
            Some(key) => m.verify_message_integrity(key.as_bytes()).unwrap(),
            None => assert!(!m.has_message_integrity()),
        }
        m.get::<ErrorCode<'_>>().unwrap().unwrap().code
    }

    fn selected_event(port: u16) -> IceEvent {
        IceEvent::SelectedPairChanged { local: local(), remote: remote(port) }
    }

    fn discovered_event(port: u16) -> IceEvent {
        IceEvent::PairDiscovered { local: local(), remote: remote(port) }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn valid_check_gets_an_authenticated_success() {
        let mut agent = agent();
        let now = Instant::now();
        let request = Request::check();
        let response = exchange(&mut agent, now, 50_000, &request).unwrap();
        let m = Message::parse(&response).unwrap();
        assert_eq!(m.message_type(), stun::MessageType::BINDING_SUCCESS);
        assert_eq!(m.transaction_id(), request.tid);
        assert_eq!(m.get::<XorMappedAddress>().unwrap(), Some(XorMappedAddress(remote(50_000))));
        m.verify_message_integrity(SFU_PWD.as_bytes()).unwrap();
        assert!(m.verify_message_integrity(BROWSER_PWD.as_bytes()).is_err());
        m.verify_fingerprint().unwrap();
        assert_eq!(agent.stats().checks_accepted, 1);
    }

    #[test]
    fn ipv6_source_is_mapped() {
        let mut agent = agent();
        let from: SocketAddr = "[2001:db8::7]:40000".parse().unwrap();
        let to: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
        agent.handle_receive(Instant::now(), to, from, &Request::check().build());
        let t = agent.poll_transmit().unwrap();
        assert_eq!((t.local, t.remote), (to, from));
        let m = Message::parse(&t.datagram).unwrap();
        assert_eq!(m.get::<XorMappedAddress>().unwrap().unwrap().0, from);
        assert!(agent.has_pair(to, from));
    }

    #[test]
    fn missing_username_or_integrity_is_400_without_integrity() {
        let now = Instant::now();
        for request in [
            Request { username: None, ..Request::check() },
            Request { integrity_key: None, ..Request::check() },
        ] {
            let mut agent = agent();
            let response = exchange(&mut agent, now, 1, &request).unwrap();
            assert_eq!(error_code(&response, request.tid, None), 400);
            assert_eq!(agent.stats().bad_requests, 1);
            assert_eq!(agent.pairs().count(), 0);
            assert!(events(&mut agent).is_empty());
        }
    }

    #[test]
    fn wrong_credentials_are_401_without_integrity() {
        let now = Instant::now();
        let other = Credentials::new("othr", "otherPasswordCCCCCCCCCCCC").unwrap();
        let mut no_fingerprint_bad_mac = Request { fingerprint: false, ..Request::check() }.build();
        // Flip a bit of the HMAC itself (the last attribute when there is no FINGERPRINT).
        let last = no_fingerprint_bad_mac.len() - 1;
        no_fingerprint_bad_mac[last] ^= 0x01;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("wrong local ufrag", Request::check().with_credentials(&other, &browser()).build()),
            (
                "wrong remote ufrag",
                Request { username: Some(format!("{SFU_UFRAG}:othr")), ..Request::check() }.build(),
            ),
            (
                "wrong password",
                Request { integrity_key: Some(BROWSER_PWD.to_owned()), ..Request::check() }.build(),
            ),
            (
                "no colon",
                Request { username: Some(SFU_UFRAG.to_owned()), ..Request::check() }.build(),
            ),
            ("bad integrity", no_fingerprint_bad_mac),
        ];
        for (what, datagram) in cases {
            let mut agent = agent();
            agent.handle_receive(now, local(), remote(1), &datagram);
            let response = agent.poll_transmit().unwrap_or_else(|| panic!("{what}: no answer"));
            assert_eq!(
                error_code(&response.datagram, TransactionId([0x5a; 12]), None),
                401,
                "{what}"
            );
            assert_eq!(agent.stats().unauthenticated, 1, "{what}");
            assert_eq!(agent.pairs().count(), 0, "{what}");
            assert!(events(&mut agent).is_empty(), "{what}");
        }
    }

    #[test]
    fn unknown_comprehension_required_attribute_is_420_with_integrity() {
        let mut agent = agent();
        let now = Instant::now();
        let request = Request {
            extra: vec![(0x0031, b"?".to_vec()), (0xC057, vec![0, 1, 0, 0]), (0x0032, vec![])],
            use_candidate: true,
            ..Request::check()
        };
        let response = exchange(&mut agent, now, 1, &request).unwrap();
        assert_eq!(error_code(&response, request.tid, Some(SFU_PWD)), 420);
        let m = Message::parse(&response).unwrap();
        let unknown = m.get::<UnknownAttributes<'_>>().unwrap().unwrap();
        // The comprehension-optional GOOG-NETWORK-INFO (0xC057) is not listed.
        assert_eq!(
            unknown.iter().collect::<Vec<_>>(),
            [AttributeType(0x0031), AttributeType(0x0032)]
        );
        assert_eq!(agent.stats().unknown_attributes, 1);
        assert_eq!(agent.pairs().count(), 0);
        assert_eq!(agent.selected_pair(), None);

        // Comprehension-optional attributes alone (Chrome's GOOG-NETWORK-INFO) are fine.
        let request = Request { extra: vec![(0xC057, vec![0, 1, 0, 0])], ..Request::check() };
        let response = exchange(&mut agent, now, 1, &request).unwrap();
        let m = Message::parse(&response).unwrap();
        assert_eq!(m.message_type(), stun::MessageType::BINDING_SUCCESS);
    }

    #[test]
    fn unknown_attribute_is_judged_after_authentication() {
        // An unauthenticated request with an unknown attribute gets 401, not 420.
        let mut agent = agent();
        let request = Request {
            extra: vec![(0x0031, b"?".to_vec())],
            integrity_key: Some("wrongwrongwrongwrongwrong".into()),
            ..Request::check()
        };
        let response = exchange(&mut agent, Instant::now(), 1, &request).unwrap();
        assert_eq!(error_code(&response, request.tid, None), 401);
    }

    #[test]
    fn controlled_peer_gets_487_and_the_agent_keeps_its_role() {
        let mut agent = agent();
        let now = Instant::now();
        let request = Request {
            controlling: None,
            controlled: Some(u64::MAX),
            use_candidate: true,
            ..Request::check()
        };
        let response = exchange(&mut agent, now, 1, &request).unwrap();
        assert_eq!(error_code(&response, request.tid, Some(SFU_PWD)), 487);
        assert_eq!(agent.stats().role_conflicts, 1);
        assert_eq!(agent.pairs().count(), 0);
        assert_eq!(agent.selected_pair(), None);
        // Even the smallest tie-breaker: a lite agent never takes the controlling role.
        let request = Request { controlled: Some(0), ..request };
        let response = exchange(&mut agent, now, 1, &request).unwrap();
        assert_eq!(error_code(&response, request.tid, Some(SFU_PWD)), 487);
        // The peer switches to controlling and retries: accepted.
        let response = exchange(&mut agent, now, 1, &Request::nominate()).unwrap();
        assert_eq!(Message::parse(&response).unwrap().class(), Class::SuccessResponse);
        assert_eq!(agent.selected_pair().map(|p| p.remote), Some(remote(1)));
    }

    #[test]
    fn authenticated_bad_requests_are_400_with_integrity() {
        let now = Instant::now();
        let cases = [
            ("no PRIORITY", Request { priority: None, ..Request::check() }),
            ("both roles", Request { controlled: Some(1), ..Request::check() }),
            (
                "short PRIORITY",
                Request { priority: None, extra: vec![(0x0024, vec![1, 2])], ..Request::check() },
            ),
            (
                "USE-CANDIDATE with a value",
                Request { extra: vec![(0x0025, vec![1, 2, 3, 4])], ..Request::check() },
            ),
            (
                "short ICE-CONTROLLING",
                Request {
                    controlling: None,
                    extra: vec![(0x802A, vec![1, 2, 3, 4])],
                    ..Request::check()
                },
            ),
        ];
        for (what, request) in cases {
            let mut agent = agent();
            let response = exchange(&mut agent, now, 1, &request).unwrap();
            assert_eq!(error_code(&response, request.tid, Some(SFU_PWD)), 400, "{what}");
            assert_eq!(agent.pairs().count(), 0, "{what}");
        }
    }

    #[test]
    fn check_without_role_attribute_is_accepted() {
        let mut agent = agent();
        let request = Request { controlling: None, ..Request::check() };
        let response = exchange(&mut agent, Instant::now(), 1, &request).unwrap();
        assert_eq!(Message::parse(&response).unwrap().class(), Class::SuccessResponse);
    }

    #[test]
    fn fingerprint_is_optional_but_must_be_right() {
        let mut agent = agent();
        let now = Instant::now();
        let request = Request { fingerprint: false, ..Request::check() };
        let response = exchange(&mut agent, now, 1, &request).unwrap();
        assert_eq!(Message::parse(&response).unwrap().class(), Class::SuccessResponse);
        let mut bad = Request::check().build();
        let last = bad.len() - 1;
        bad[last] ^= 0x80;
        agent.handle_receive(now, local(), remote(2), &bad);
        assert!(agent.poll_transmit().is_none());
        assert_eq!(agent.stats().bad_fingerprint, 1);
        assert!(!agent.has_pair(local(), remote(2)));
    }

    #[test]
    fn responses_indications_and_other_methods_are_ignored() {
        let mut agent = agent();
        let now = Instant::now();
        let mut out = Vec::new();
        check::write_success(&mut out, TransactionId([1; 12]), remote(1), SFU_PWD).unwrap();
        agent.handle_receive(now, local(), remote(1), &out);
        let mut w = MessageWriter::new(
            &mut out,
            stun::MessageType::BINDING_INDICATION,
            TransactionId([2; 12]),
        );
        w.add_fingerprint().unwrap();
        agent.handle_receive(now, local(), remote(1), &out);
        let allocate = stun::MessageType::new(Method::ALLOCATE, Class::Request);
        MessageWriter::new(&mut out, allocate, TransactionId([3; 12]));
        agent.handle_receive(now, local(), remote(1), &out);
        agent.handle_receive(now, local(), remote(1), &[0x16, 0xfe, 0xfd, 0, 0]);
        assert!(agent.poll_transmit().is_none());
        assert_eq!(agent.stats().ignored, 3);
        assert_eq!(agent.stats().malformed, 1);
        assert_eq!(agent.stats().datagrams, 4);
        assert!(events(&mut agent).is_empty());
    }

    #[test]
    fn peer_reflexive_pair_is_learned_without_selection() {
        let mut agent = agent();
        let now = Instant::now();
        exchange(&mut agent, now, 1, &Request::check()).unwrap();
        assert_eq!(events(&mut agent), [discovered_event(1)]);
        let pair = agent.pairs().next().copied().unwrap();
        assert_eq!(pair.pair, CandidatePair { local: local(), remote: remote(1) });
        assert_eq!(pair.remote_priority, 0x6e00_01ff);
        assert_eq!(pair.last_check, now);
        assert!(!pair.nominated);
        assert_eq!(agent.state(), ConnectionState::New);
        assert_eq!(agent.selected_pair(), None);
        assert_eq!(agent.poll_timeout(), None);
        // A retransmitted check is answered again and learns nothing new.
        exchange(&mut agent, now + secs(1), 1, &Request::check()).unwrap();
        assert!(events(&mut agent).is_empty());
        assert_eq!(agent.pairs().next().unwrap().last_check, now + secs(1));
    }

    #[test]
    fn nomination_selects_and_renomination_switches() {
        let mut agent = agent();
        let t0 = Instant::now();
        exchange(&mut agent, t0, 1, &Request::check()).unwrap();
        exchange(&mut agent, t0, 1, &Request::nominate()).unwrap();
        assert_eq!(
            events(&mut agent),
            [discovered_event(1), selected_event(1), IceEvent::Connected]
        );
        assert_eq!(agent.state(), ConnectionState::Connected);
        assert!(agent.pairs().next().unwrap().nominated);
        // Nominating the same pair again changes nothing.
        exchange(&mut agent, t0 + secs(1), 1, &Request::nominate()).unwrap();
        assert!(events(&mut agent).is_empty());
        // A check (without USE-CANDIDATE) on a new path does not switch...
        exchange(&mut agent, t0 + secs(2), 2, &Request::check()).unwrap();
        assert_eq!(events(&mut agent), [discovered_event(2)]);
        assert_eq!(agent.selected_pair().unwrap().remote, remote(1));
        // ...its nomination does, and the agent stays connected.
        exchange(&mut agent, t0 + secs(3), 2, &Request::nominate()).unwrap();
        assert_eq!(events(&mut agent), [selected_event(2)]);
        assert_eq!(agent.selected_pair().unwrap().remote, remote(2));
        assert_eq!(agent.state(), ConnectionState::Connected);
        // The consent deadline follows the new pair.
        assert_eq!(agent.poll_timeout(), Some(t0 + secs(33)));
    }

    #[test]
    fn aggressive_nomination_on_the_first_check() {
        let mut agent = agent();
        exchange(&mut agent, Instant::now(), 7, &Request::nominate()).unwrap();
        assert_eq!(
            events(&mut agent),
            [discovered_event(7), selected_event(7), IceEvent::Connected]
        );
    }

    #[test]
    fn dtls_client_hello_selects_a_checked_pair_early() {
        let mut agent = agent();
        let t0 = Instant::now();
        // Nothing checked on this 5-tuple: no.
        assert!(!agent.dtls_client_hello_from(t0, local(), remote(1)));
        exchange(&mut agent, t0, 1, &Request::check()).unwrap();
        exchange(&mut agent, t0, 2, &Request::check()).unwrap();
        events(&mut agent);
        assert!(agent.dtls_client_hello_from(t0 + secs(1), local(), remote(1)));
        assert_eq!(events(&mut agent), [selected_event(1), IceEvent::Connected]);
        // The consent clock starts at the check, not at the ClientHello.
        assert_eq!(agent.poll_timeout(), Some(t0 + secs(30)));
        // A retransmitted ClientHello changes nothing.
        assert!(agent.dtls_client_hello_from(t0 + secs(2), local(), remote(1)));
        assert!(events(&mut agent).is_empty());
        // The peer really sends DTLS from pair 2: before any nomination, follow it.
        assert!(agent.dtls_client_hello_from(t0 + secs(2), local(), remote(2)));
        assert_eq!(events(&mut agent), [selected_event(2)]);
        // The nomination decides in the end, and after it ClientHellos elsewhere do not.
        exchange(&mut agent, t0 + secs(3), 1, &Request::nominate()).unwrap();
        assert_eq!(events(&mut agent), [selected_event(1)]);
        assert!(!agent.dtls_client_hello_from(t0 + secs(4), local(), remote(2)));
        assert!(agent.dtls_client_hello_from(t0 + secs(4), local(), remote(1)));
        assert_eq!(agent.selected_pair().unwrap().remote, remote(1));
        assert!(events(&mut agent).is_empty());
    }

    #[test]
    fn dtls_client_hello_on_a_stale_pair_is_refused() {
        let mut agent = agent();
        let t0 = Instant::now();
        exchange(&mut agent, t0, 1, &Request::check()).unwrap();
        assert!(!agent.dtls_client_hello_from(t0 + secs(30), local(), remote(1)));
        assert_eq!(agent.selected_pair(), None);
    }

    #[test]
    fn pair_list_stays_bounded_under_a_flood_of_valid_checks() {
        let mut agent = agent();
        let t0 = Instant::now();
        exchange(&mut agent, t0, 1, &Request::nominate()).unwrap();
        // The driver's view of the pairs, kept from the events.
        let mut mapped = std::collections::HashSet::new();
        let apply = |agent: &mut IceLiteAgent, mapped: &mut std::collections::HashSet<_>| {
            for event in events(agent) {
                match event {
                    IceEvent::PairDiscovered { remote, .. } => assert!(mapped.insert(remote)),
                    IceEvent::PairRemoved { remote, .. } => assert!(mapped.remove(&remote)),
                    _ => {}
                }
            }
        };
        apply(&mut agent, &mut mapped);
        for port in 2..200u16 {
            let at = t0 + Duration::from_millis(u64::from(port));
            exchange(&mut agent, at, port, &Request::check()).unwrap();
            assert!(agent.pairs().count() <= DEFAULT_MAX_PAIRS);
            if port % 3 == 0 {
                apply(&mut agent, &mut mapped);
            }
        }
        apply(&mut agent, &mut mapped);
        let known: std::collections::HashSet<_> = agent.pairs().map(|p| p.pair.remote).collect();
        assert_eq!(known, mapped);
        assert_eq!(known.len(), DEFAULT_MAX_PAIRS);
        // The selected pair survived; the newest checks are the ones kept.
        assert!(known.contains(&remote(1)));
        assert!(known.contains(&remote(199)));
        assert_eq!(agent.selected_pair().unwrap().remote, remote(1));
        assert_eq!(agent.stats().pairs_evicted, 198 - (DEFAULT_MAX_PAIRS as u64 - 1));
        assert_eq!(agent.stats().checks_accepted, 199);
    }

    #[test]
    fn events_stay_bounded_when_not_drained() {
        let mut agent = agent();
        let t0 = Instant::now();
        for port in 1..1000u16 {
            let request = if port % 100 == 0 { Request::nominate() } else { Request::check() };
            agent.handle_receive(t0, local(), remote(port), &request.build());
            while agent.poll_transmit().is_some() {}
        }
        // Discoveries of pairs evicted before the driver saw them cancel out.
        let queued = events(&mut agent);
        assert!(queued.len() <= DEFAULT_MAX_PAIRS + 2, "{}", queued.len());
        let selected: Vec<_> =
            queued.iter().filter(|e| matches!(e, IceEvent::SelectedPairChanged { .. })).collect();
        assert_eq!(selected, [&selected_event(900)]);
    }

    #[test]
    fn transmit_queue_is_bounded() {
        let mut agent = agent();
        let request = Request { username: None, ..Request::check() }.build();
        for port in 0..100 {
            agent.handle_receive(Instant::now(), local(), remote(port), &request);
        }
        assert_eq!(std::iter::from_fn(|| agent.poll_transmit()).count(), MAX_QUEUED_TRANSMITS);
        assert_eq!(agent.stats().transmits_dropped, 100 - MAX_QUEUED_TRANSMITS as u64);
    }

    #[test]
    fn consent_expires_after_30_s_and_comes_back() {
        let mut agent = agent();
        let t0 = Instant::now();
        exchange(&mut agent, t0, 1, &Request::nominate()).unwrap();
        events(&mut agent);
        assert_eq!(agent.poll_timeout(), Some(t0 + secs(30)));
        agent.handle_timeout(t0 + secs(30) - Duration::from_millis(1));
        assert!(events(&mut agent).is_empty());
        assert_eq!(agent.state(), ConnectionState::Connected);
        agent.handle_timeout(t0 + secs(30));
        assert_eq!(events(&mut agent), [IceEvent::Disconnected]);
        assert_eq!(agent.state(), ConnectionState::Disconnected);
        assert_eq!(agent.poll_timeout(), None);
        // Still selected: the browser may come back.
        assert_eq!(agent.selected_pair().unwrap().remote, remote(1));
        // A check on another, unselected pair does not bring consent back.
        exchange(&mut agent, t0 + secs(40), 2, &Request::check()).unwrap();
        assert_eq!(events(&mut agent), [discovered_event(2)]);
        assert_eq!(agent.state(), ConnectionState::Disconnected);
        // A check on the selected pair does.
        exchange(&mut agent, t0 + secs(41), 1, &Request::check()).unwrap();
        assert_eq!(events(&mut agent), [IceEvent::Connected]);
        assert_eq!(agent.poll_timeout(), Some(t0 + secs(71)));
    }

    #[test]
    fn regular_consent_checks_keep_the_session_connected() {
        let mut agent = agent();
        let t0 = Instant::now();
        exchange(&mut agent, t0, 1, &Request::nominate()).unwrap();
        events(&mut agent);
        for i in 1..=60u64 {
            let now = t0 + secs(5 * i);
            agent.handle_timeout(now);
            exchange(&mut agent, now, 1, &Request::check()).unwrap();
            // A check on another pair in between never counts for the selected one.
            exchange(&mut agent, now, 2, &Request::check()).unwrap();
        }
        let all = events(&mut agent);
        assert_eq!(all, [discovered_event(2)]);
        assert_eq!(agent.state(), ConnectionState::Connected);
    }

    #[test]
    fn consent_on_the_selected_pair_only() {
        let mut agent = agent();
        let t0 = Instant::now();
        exchange(&mut agent, t0, 1, &Request::nominate()).unwrap();
        for i in 1..=7u64 {
            exchange(&mut agent, t0 + secs(5 * i), 2, &Request::check()).unwrap();
            agent.handle_timeout(t0 + secs(5 * i));
        }
        assert_eq!(agent.state(), ConnectionState::Disconnected);
    }

    #[test]
    fn consent_timeout_is_configurable() {
        let config = IceConfig { consent_timeout: secs(10), ..IceConfig::default() };
        let mut agent = IceLiteAgent::new(config, sfu(), Some(browser()));
        let t0 = Instant::now();
        exchange(&mut agent, t0, 1, &Request::nominate()).unwrap();
        events(&mut agent);
        assert_eq!(agent.poll_timeout(), Some(t0 + secs(10)));
        agent.handle_timeout(t0 + secs(10));
        assert_eq!(events(&mut agent), [IceEvent::Disconnected]);
    }

    #[test]
    fn checks_before_the_remote_credentials_are_known() {
        let mut agent = IceLiteAgent::new(IceConfig::default(), sfu(), None);
        let now = Instant::now();
        let request =
            Request { username: Some(format!("{SFU_UFRAG}:anyU")), ..Request::nominate() };
        let response = exchange(&mut agent, now, 1, &request).unwrap();
        assert_eq!(Message::parse(&response).unwrap().class(), Class::SuccessResponse);
        assert_eq!(agent.state(), ConnectionState::Connected);
        agent.set_remote_credentials(browser()).unwrap();
        agent.set_remote_credentials(browser()).unwrap();
        let other = Credentials::new("anyU", BROWSER_PWD).unwrap();
        assert!(matches!(agent.set_remote_credentials(other), Err(Error::InvalidCredentials(_))));
        // Now the remote half of USERNAME is checked.
        let response = exchange(&mut agent, now, 1, &request).unwrap();
        assert_eq!(error_code(&response, request.tid, None), 401);
        let response = exchange(&mut agent, now, 1, &Request::check()).unwrap();
        assert_eq!(Message::parse(&response).unwrap().class(), Class::SuccessResponse);
    }

    #[test]
    fn ice_restart() {
        let mut agent = agent();
        let t0 = Instant::now();
        exchange(&mut agent, t0, 1, &Request::nominate()).unwrap();
        exchange(&mut agent, t0, 2, &Request::check()).unwrap();
        events(&mut agent);

        let new_sfu =
            Credentials::new("sfuUfragNEWNEWNE", "sfuPasswordNEWNEWNEWNEWNEWNEWNEW").unwrap();
        let new_browser = Credentials::new("nwBr", "browserPasswordNEWNEWNEW").unwrap();
        // The same local credentials are no restart.
        assert!(matches!(
            agent.restart(sfu(), Some(new_browser.clone())),
            Err(Error::InvalidCredentials(_))
        ));
        agent.restart(new_sfu.clone(), Some(new_browser.clone())).unwrap();
        assert_eq!(agent.local_credentials(), &new_sfu);
        assert_eq!(agent.remote_credentials(), Some(&new_browser));
        // Every pair but the selected one is forgotten; media stays on the selected pair.
        assert_eq!(
            events(&mut agent),
            [IceEvent::PairRemoved { local: local(), remote: remote(2) }]
        );
        assert_eq!(agent.selected_pair().unwrap().remote, remote(1));
        assert_eq!(agent.state(), ConnectionState::Connected);

        // Old credentials on another pair: 401.
        let response = exchange(&mut agent, t0 + secs(1), 2, &Request::check()).unwrap();
        assert_eq!(error_code(&response, Request::check().tid, None), 401);
        // Old credentials on the selected pair (the browser has not applied the new SDP
        // yet): answered with the old password, and consent stays fresh.
        let response = exchange(&mut agent, t0 + secs(20), 1, &Request::check()).unwrap();
        let m = Message::parse(&response).unwrap();
        assert_eq!(m.class(), Class::SuccessResponse);
        m.verify_message_integrity(SFU_PWD.as_bytes()).unwrap();
        assert_eq!(agent.poll_timeout(), Some(t0 + secs(50)));
        assert!(events(&mut agent).is_empty());

        // New credentials: a check on a new path learns it but does not switch yet.
        let renewed = |r: Request| r.with_credentials(&new_sfu, &new_browser);
        let response = exchange(&mut agent, t0 + secs(21), 3, &renewed(Request::check())).unwrap();
        Message::parse(&response)
            .unwrap()
            .verify_message_integrity(new_sfu.pwd().as_bytes())
            .unwrap();
        assert_eq!(events(&mut agent), [discovered_event(3)]);
        assert_eq!(agent.selected_pair().unwrap().remote, remote(1));
        // Its nomination completes the restart.
        exchange(&mut agent, t0 + secs(22), 3, &renewed(Request::nominate())).unwrap();
        assert_eq!(events(&mut agent), [selected_event(3)]);
        assert_eq!(agent.poll_timeout(), Some(t0 + secs(52)));
        // From now on the old credentials are refused everywhere, also on the old pair.
        let response = exchange(&mut agent, t0 + secs(23), 1, &Request::check()).unwrap();
        assert_eq!(error_code(&response, Request::check().tid, None), 401);
    }

    #[test]
    fn restart_nominating_the_same_pair_keeps_it() {
        let mut agent = agent();
        let t0 = Instant::now();
        exchange(&mut agent, t0, 1, &Request::nominate()).unwrap();
        events(&mut agent);
        let new_sfu =
            Credentials::new("sfuUfragNEWNEWNE", "sfuPasswordNEWNEWNEWNEWNEWNEWNEW").unwrap();
        agent.restart(new_sfu.clone(), None).unwrap();
        // The remote credentials are not known yet: any remote ufrag with our new password.
        let request = Request::nominate().with_credentials(&new_sfu, &browser());
        exchange(&mut agent, t0 + secs(1), 1, &request).unwrap();
        assert!(events(&mut agent).is_empty());
        let pair = agent.pairs().next().copied().unwrap();
        assert!(pair.nominated);
        assert_eq!(pair.generation, 1);
        // The old credentials are retired.
        let response = exchange(&mut agent, t0 + secs(2), 1, &Request::check()).unwrap();
        assert_eq!(error_code(&response, Request::check().tid, None), 401);
    }

    #[test]
    fn restart_before_any_selection_retires_old_credentials_at_once() {
        let mut agent = agent();
        let t0 = Instant::now();
        exchange(&mut agent, t0, 1, &Request::check()).unwrap();
        events(&mut agent);
        let new_sfu =
            Credentials::new("sfuUfragNEWNEWNE", "sfuPasswordNEWNEWNEWNEWNEWNEWNEW").unwrap();
        agent.restart(new_sfu, None).unwrap();
        assert_eq!(
            events(&mut agent),
            [IceEvent::PairRemoved { local: local(), remote: remote(1) }]
        );
        let response = exchange(&mut agent, t0, 1, &Request::check()).unwrap();
        assert_eq!(error_code(&response, Request::check().tid, None), 401);
        // A ClientHello on the forgotten pair selects nothing.
        assert!(!agent.dtls_client_hello_from(t0, local(), remote(1)));
    }
}
