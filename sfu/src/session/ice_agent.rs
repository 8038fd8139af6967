//! The session's ICE agent: ICE-lite toward a browser (the usual case), or the full
//! controlling agent toward a peer that is itself lite (a `thirdparty` session: another SFU
//! or media server). One surface for the session, so the rest of it does not care which.

use std::net::SocketAddr;
use std::time::Instant;

use ice::{
    CandidatePair, ConnectionState, ControllingAgentStats, Credentials, IceControllingAgent,
    IceEvent, IceLiteAgent, IceStats, Transmit,
};

/// How a session runs ICE. See the module documentation.
///
/// The lite agent, the common case, stays inline (it is on the path of every check and of
/// every media send); the rarer controlling agent is boxed.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum IceAgent {
    /// We answer the browser's checks (RFC 8445 §2.5).
    Lite(IceLiteAgent),
    /// We check and nominate toward a lite peer. The lite agent's counters stay at zero
    /// (kept so that [`super::Session::ice_stats`] has something to show).
    Controlling(Box<IceControllingAgent>, IceStats),
}

impl IceAgent {
    pub(crate) fn handle_receive(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &[u8],
    ) {
        match self {
            IceAgent::Lite(a) => a.handle_receive(now, local, remote, datagram),
            IceAgent::Controlling(a, _) => a.handle_receive(now, local, remote, datagram),
        }
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        match self {
            IceAgent::Lite(a) => a.handle_timeout(now),
            IceAgent::Controlling(a, _) => a.handle_timeout(now),
        }
    }

    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        match self {
            IceAgent::Lite(a) => a.poll_transmit(),
            IceAgent::Controlling(a, _) => a.poll_transmit(),
        }
    }

    pub(crate) fn poll_event(&mut self) -> Option<IceEvent> {
        match self {
            IceAgent::Lite(a) => a.poll_event(),
            IceAgent::Controlling(a, _) => a.poll_event(),
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match self {
            IceAgent::Lite(a) => a.poll_timeout(),
            IceAgent::Controlling(a, _) => a.poll_timeout(),
        }
    }

    pub(crate) fn state(&self) -> ConnectionState {
        match self {
            IceAgent::Lite(a) => a.state(),
            IceAgent::Controlling(a, _) => a.state(),
        }
    }

    pub(crate) fn selected_pair(&self) -> Option<CandidatePair> {
        match self {
            IceAgent::Lite(a) => a.selected_pair(),
            IceAgent::Controlling(a, _) => a.selected_pair(),
        }
    }

    /// Whether a valid check arrived on this 5-tuple (lite), or our checks go to it
    /// (controlling): DTLS and SRTP are accepted from it.
    pub(crate) fn has_pair(&self, local: SocketAddr, remote: SocketAddr) -> bool {
        match self {
            IceAgent::Lite(a) => a.has_pair(local, remote),
            IceAgent::Controlling(a, _) => a.has_pair(local, remote),
        }
    }

    /// A DTLS ClientHello arrived on a checked pair before any selection: the lite agent
    /// selects it. The controlling agent selects only by its own nomination.
    pub(crate) fn dtls_client_hello_from(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> bool {
        match self {
            IceAgent::Lite(a) => a.dtls_client_hello_from(now, local, remote),
            IceAgent::Controlling(..) => false,
        }
    }

    /// ICE restart with new credentials on both sides.
    pub(crate) fn restart(
        &mut self,
        now: Instant,
        local: Credentials,
        remote: Credentials,
    ) -> Result<(), ice::Error> {
        match self {
            IceAgent::Lite(a) => a.restart(local, Some(remote)),
            IceAgent::Controlling(a, _) => a.restart(now, local, remote),
        }
    }

    /// Whether consent on the selected pair is missing or expired at `now` (RFC 7675 §5.1
    /// forbids media then). The agent's state changes only when it is called, so a deadline
    /// already past counts.
    pub(crate) fn consent_expired(&self, now: Instant) -> bool {
        match self {
            IceAgent::Lite(a) => {
                a.state() != ConnectionState::Connected
                    || a.poll_timeout().is_some_and(|deadline| now >= deadline)
            }
            IceAgent::Controlling(a, _) => {
                a.state() != ConnectionState::Connected
                    || a.consent_expiry().is_some_and(|expiry| now >= expiry)
            }
        }
    }

    /// Datagrams the agent found not to be STUN at all (garbage, bad FINGERPRINT).
    pub(crate) fn not_stun(&self) -> u64 {
        match self {
            IceAgent::Lite(a) => a.stats().malformed.saturating_add(a.stats().bad_fingerprint),
            IceAgent::Controlling(a, _) => a.stats().malformed,
        }
    }

    pub(crate) fn lite_stats(&self) -> &IceStats {
        match self {
            IceAgent::Lite(a) => a.stats(),
            IceAgent::Controlling(_, zero) => zero,
        }
    }

    pub(crate) fn controlling_stats(&self) -> Option<&ControllingAgentStats> {
        match self {
            IceAgent::Lite(_) => None,
            IceAgent::Controlling(a, _) => Some(a.stats()),
        }
    }

    pub(crate) fn local_ufrag(&self) -> &str {
        match self {
            IceAgent::Lite(a) => a.local_credentials().ufrag(),
            IceAgent::Controlling(a, _) => a.local_credentials().ufrag(),
        }
    }

    /// The pairs the controlling agent checks (none for the lite agent).
    pub(crate) fn controlling_pairs(&self) -> Vec<CandidatePair> {
        match self {
            IceAgent::Lite(_) => Vec::new(),
            IceAgent::Controlling(a, _) => a.pairs().collect(),
        }
    }

    pub(crate) fn is_controlling(&self) -> bool {
        matches!(self, IceAgent::Controlling(..))
    }
}
