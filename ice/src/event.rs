//! What the agents hand back to their driver: datagrams to send and events.

use std::collections::VecDeque;
use std::net::SocketAddr;

/// A candidate pair: one of our transport addresses and one of the peer's. For the lite
/// agent it is the 5-tuple a check arrived on (UDP is implied).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CandidatePair {
    /// Our address: the socket the datagram arrived on and is sent from.
    pub local: SocketAddr,
    /// The peer's address (for the lite agent, a peer-reflexive candidate, RFC 8445 §7.3.1.3).
    pub remote: SocketAddr,
}

/// A datagram to send from `local` to `remote`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The local address to send from (the one the request arrived on).
    pub local: SocketAddr,
    /// Where to send it.
    pub remote: SocketAddr,
    /// The STUN message.
    pub datagram: Vec<u8>,
}

/// The connectivity state an agent reports through [`IceEvent::Connected`],
/// [`IceEvent::Disconnected`] and [`IceEvent::Failed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionState {
    /// No pair selected yet.
    New,
    /// A pair is selected and consent is fresh (RFC 7675).
    Connected,
    /// Consent on the selected pair expired; it may come back.
    Disconnected,
    /// Checks gave up for good (controlling side only; a lite agent never fails, it waits).
    Failed,
}

/// Something the driver should know about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IceEvent {
    /// A valid check arrived on a 5-tuple the agent did not know: the pair is learned
    /// (peer-reflexive, RFC 8445 §7.3.1.3). The driver maps this 5-tuple to its session.
    PairDiscovered {
        /// Our address.
        local: SocketAddr,
        /// The peer's address.
        remote: SocketAddr,
    },
    /// The pair was forgotten (evicted from the bounded list, or dropped by an ICE
    /// restart). The driver unmaps the 5-tuple.
    PairRemoved {
        /// Our address.
        local: SocketAddr,
        /// The peer's address.
        remote: SocketAddr,
    },
    /// Media now goes over this pair (nomination, early DTLS, or a later renomination).
    SelectedPairChanged {
        /// Our address.
        local: SocketAddr,
        /// The peer's address.
        remote: SocketAddr,
    },
    /// A pair is selected and consent is fresh: the first selection, or consent came back.
    Connected,
    /// Consent expired on the selected pair (RFC 7675 §5.1): stop sending media on it.
    Disconnected,
    /// The controlling side gave up (its checks or nomination failed for good).
    Failed,
}

/// The event queue of an agent. Drained by `poll_event` after every call; it also coalesces
/// so that a caller that drains late still sees a bounded queue with the same net effect:
/// a pair discovered and removed again before being drained leaves no trace, and only the
/// latest undrained selection is kept (in the place of the first).
#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    events: VecDeque<IceEvent>,
}

impl EventQueue {
    pub(crate) fn pop(&mut self) -> Option<IceEvent> {
        self.events.pop_front()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    pub(crate) fn pair_discovered(&mut self, pair: CandidatePair) {
        self.events.push_back(IceEvent::PairDiscovered { local: pair.local, remote: pair.remote });
    }

    pub(crate) fn pair_removed(&mut self, pair: CandidatePair) {
        let discovered = IceEvent::PairDiscovered { local: pair.local, remote: pair.remote };
        if let Some(i) = self.events.iter().position(|e| *e == discovered) {
            // The driver never heard of this pair: the two events cancel out.
            self.events.remove(i);
        } else {
            self.events.push_back(IceEvent::PairRemoved { local: pair.local, remote: pair.remote });
        }
    }

    pub(crate) fn selected(&mut self, pair: CandidatePair) {
        let event = IceEvent::SelectedPairChanged { local: pair.local, remote: pair.remote };
        // An undrained selection is replaced where it stands, so the order against
        // `Connected` stays what it was.
        match self.events.iter_mut().find(|e| matches!(e, IceEvent::SelectedPairChanged { .. })) {
            Some(queued) => *queued = event,
            None => self.events.push_back(event),
        }
    }

    pub(crate) fn push(&mut self, event: IceEvent) {
        self.events.push_back(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(port: u16) -> CandidatePair {
        CandidatePair {
            local: "192.0.2.1:443".parse().unwrap(),
            remote: SocketAddr::from(([198, 51, 100, 7], port)),
        }
    }

    #[test]
    fn undrained_discovery_and_removal_cancel() {
        let mut q = EventQueue::default();
        q.pair_discovered(pair(1));
        q.pair_discovered(pair(2));
        q.pair_removed(pair(1));
        assert_eq!(q.len(), 1);
        assert_eq!(
            q.pop(),
            Some(IceEvent::PairDiscovered { local: pair(2).local, remote: pair(2).remote })
        );
        // Once drained, a removal is reported.
        q.pair_removed(pair(2));
        assert_eq!(
            q.pop(),
            Some(IceEvent::PairRemoved { local: pair(2).local, remote: pair(2).remote })
        );
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn only_the_latest_selection_is_kept() {
        let mut q = EventQueue::default();
        q.selected(pair(1));
        q.push(IceEvent::Connected);
        q.selected(pair(2));
        assert_eq!(
            q.pop(),
            Some(IceEvent::SelectedPairChanged { local: pair(2).local, remote: pair(2).remote })
        );
        assert_eq!(q.pop(), Some(IceEvent::Connected));
        assert_eq!(q.pop(), None);
    }
}
