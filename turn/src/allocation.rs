//! One allocation (RFC 8656 §2.2, §6): its relayed transport addresses, lifetime,
//! permissions (§9) and channel bindings (§12), and its bandwidth bucket.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::bandwidth::TokenBucket;
use crate::FiveTuple;

/// A relayed transport address: where the relay socket is bound, and what clients and
/// peers see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Relayed {
    pub(crate) local: SocketAddr,
    pub(crate) public: SocketAddr,
}

/// A channel binding: the peer and until when it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Channel {
    pub(crate) peer: SocketAddr,
    pub(crate) expires: Instant,
}

#[derive(Debug)]
pub(crate) struct Allocation {
    pub(crate) five_tuple: FiveTuple,
    pub(crate) username: String,
    /// One relayed address, or two of different families for a dual allocation
    /// (RFC 8656 §7.2 ADDITIONAL-ADDRESS-FAMILY).
    pub(crate) relays: Vec<Relayed>,
    pub(crate) expires: Instant,
    /// Peer IP → expiry. Ports are not part of a permission (RFC 8656 §9).
    pub(crate) permissions: HashMap<IpAddr, Instant>,
    pub(crate) channels: HashMap<u16, Channel>,
    pub(crate) channel_by_peer: HashMap<SocketAddr, u16>,
    pub(crate) bucket: Option<TokenBucket>,
    /// Time of this allocation's live entry in the timer heap.
    pub(crate) timer: Instant,
    /// A TCP allocation (RFC 6062): peers are reached with Connect, not Send or channels.
    pub(crate) tcp: bool,
}

impl Allocation {
    /// The relayed address of `peer`'s family, the one that talks to it.
    pub(crate) fn relay_for(&self, peer: SocketAddr) -> Option<&Relayed> {
        self.relays.iter().find(|r| r.local.is_ipv4() == peer.is_ipv4())
    }

    /// Whether a permission for `ip` holds at `now`.
    pub(crate) fn permits(&self, ip: IpAddr, now: Instant) -> bool {
        self.permissions.get(&ip).is_some_and(|&expires| expires > now)
    }

    /// The peer of a channel bound at `now`.
    pub(crate) fn channel_peer(&self, channel: u16, now: Instant) -> Option<SocketAddr> {
        self.channels.get(&channel).filter(|c| c.expires > now).map(|c| c.peer)
    }

    /// The channel bound to `peer` at `now`.
    pub(crate) fn channel_of(&self, peer: SocketAddr, now: Instant) -> Option<u16> {
        let channel = *self.channel_by_peer.get(&peer)?;
        self.channel_peer(channel, now).map(|_| channel)
    }

    /// Installs or refreshes the permission for `ip`; true if it is new.
    pub(crate) fn permit(&mut self, ip: IpAddr, expires: Instant, now: Instant) -> bool {
        let new = !self.permits(ip, now);
        self.permissions.insert(ip, expires);
        new
    }

    /// Binds or refreshes `channel` to `peer`, dropping expired bindings that stand in the
    /// way; true if the binding is new.
    pub(crate) fn bind(&mut self, channel: u16, peer: SocketAddr, expires: Instant) -> bool {
        if let Some(old) = self.channels.insert(channel, Channel { peer, expires }) {
            if old.peer != peer && self.channel_by_peer.get(&old.peer) == Some(&channel) {
                self.channel_by_peer.remove(&old.peer);
            }
            if old.peer == peer {
                return false;
            }
        }
        if let Some(old_channel) = self.channel_by_peer.insert(peer, channel) {
            if old_channel != channel {
                self.channels.remove(&old_channel);
            }
        }
        true
    }

    /// Permissions that hold at `now`.
    pub(crate) fn live_permissions(&self, now: Instant) -> usize {
        self.permissions.values().filter(|&&e| e > now).count()
    }

    /// Channels bound at `now`.
    pub(crate) fn live_channels(&self, now: Instant) -> usize {
        self.channels.values().filter(|c| c.expires > now).count()
    }

    /// Forgets expired permissions and channels.
    pub(crate) fn purge(&mut self, now: Instant) {
        self.permissions.retain(|_, expires| *expires > now);
        self.channels.retain(|_, c| c.expires > now);
        let channels = &self.channels;
        self.channel_by_peer.retain(|peer, ch| channels.get(ch).is_some_and(|c| c.peer == *peer));
    }

    /// The first time something about this allocation expires.
    pub(crate) fn next_deadline(&self) -> Instant {
        let permissions = self.permissions.values().copied();
        let channels = self.channels.values().map(|c| c.expires);
        permissions.chain(channels).fold(self.expires, Instant::min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Transport;
    use std::time::Duration;

    fn allocation(now: Instant) -> Allocation {
        let relay: SocketAddr = "203.0.113.5:50000".parse().unwrap();
        Allocation {
            five_tuple: FiveTuple {
                transport: Transport::Udp,
                client: "198.51.100.7:40000".parse().unwrap(),
                server: "203.0.113.5:3478".parse().unwrap(),
            },
            username: "u".into(),
            relays: vec![Relayed { local: relay, public: relay }],
            expires: now + Duration::from_secs(600),
            permissions: HashMap::new(),
            channels: HashMap::new(),
            channel_by_peer: HashMap::new(),
            bucket: None,
            timer: now + Duration::from_secs(600),
            tcp: false,
        }
    }

    #[test]
    fn rebinding_keeps_the_maps_consistent() {
        let now = Instant::now();
        let later = now + Duration::from_secs(600);
        let mut a = allocation(now);
        let p1: SocketAddr = "192.0.2.1:1000".parse().unwrap();
        let p2: SocketAddr = "192.0.2.2:2000".parse().unwrap();
        assert!(a.bind(0x4000, p1, later));
        assert!(!a.bind(0x4000, p1, later + Duration::from_secs(1)));
        assert_eq!(a.channel_of(p1, now), Some(0x4000));
        // Rebinding after expiry (the server only lets this happen for expired bindings).
        assert!(a.bind(0x4000, p2, later));
        assert_eq!(a.channel_of(p1, now), None);
        assert_eq!(a.channel_of(p2, now), Some(0x4000));
        assert!(a.bind(0x4001, p2, later));
        assert_eq!(a.channel_peer(0x4000, now), None);
        assert_eq!(a.channel_of(p2, now), Some(0x4001));
        assert_eq!(a.channels.len(), 1);
        assert_eq!(a.channel_by_peer.len(), 1);
    }

    #[test]
    fn expiry_and_deadlines() {
        let now = Instant::now();
        let mut a = allocation(now);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(a.permit(ip, now + Duration::from_secs(300), now));
        assert!(!a.permit(ip, now + Duration::from_secs(300), now));
        assert_eq!(a.next_deadline(), now + Duration::from_secs(300));
        assert!(a.permits(ip, now + Duration::from_secs(299)));
        assert!(!a.permits(ip, now + Duration::from_secs(300)));
        let peer: SocketAddr = "192.0.2.1:1000".parse().unwrap();
        a.bind(0x4000, peer, now + Duration::from_secs(100));
        assert_eq!(a.next_deadline(), now + Duration::from_secs(100));
        a.purge(now + Duration::from_secs(100));
        assert!(a.channels.is_empty() && a.channel_by_peer.is_empty());
        assert_eq!(a.live_permissions(now + Duration::from_secs(100)), 1);
        a.purge(now + Duration::from_secs(300));
        assert!(a.permissions.is_empty());
        assert_eq!(a.next_deadline(), a.expires);
    }
}
