//! The bounded list of candidate pairs a lite agent has seen valid checks on.

use std::time::Instant;

use crate::CandidatePair;

/// A candidate pair on which a valid check arrived: local is where the check arrived, remote
/// its source. The remote half is learned like a peer-reflexive candidate (RFC 8445 §7.3.1.3);
/// a lite agent does not use the candidates in the peer's SDP. RFC 8445 §7.3.2 builds this
/// pair when a check nominates it; learning it on the first valid check already lets a DTLS
/// ClientHello select it early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckedPair {
    /// The 5-tuple.
    pub pair: CandidatePair,
    /// PRIORITY of the latest valid check: the priority of the peer-reflexive candidate
    /// (RFC 8445 §7.3.1.3).
    pub remote_priority: u32,
    /// When the latest valid check on this pair arrived.
    pub last_check: Instant,
    /// Whether a valid check carried USE-CANDIDATE on this pair (RFC 8445 §7.3.2).
    pub nominated: bool,
    /// The credential generation (one per ICE restart) of the latest valid check.
    pub(crate) generation: u32,
}

/// At most `capacity` pairs; when full, the least recently checked pair that is not selected
/// makes room.
#[derive(Clone, Debug)]
pub(crate) struct PairList {
    pairs: Vec<CheckedPair>,
    capacity: usize,
}

impl PairList {
    /// A list of at most `capacity` pairs, and never fewer than two, so that a new pair can
    /// always displace an unselected one.
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(2);
        Self { pairs: Vec::with_capacity(capacity), capacity }
    }

    pub(crate) fn get(&self, pair: CandidatePair) -> Option<&CheckedPair> {
        self.pairs.iter().find(|p| p.pair == pair)
    }

    pub(crate) fn get_mut(&mut self, pair: CandidatePair) -> Option<&mut CheckedPair> {
        self.pairs.iter_mut().find(|p| p.pair == pair)
    }

    pub(crate) fn iter(&self) -> std::slice::Iter<'_, CheckedPair> {
        self.pairs.iter()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Adds a pair that is not in the list. When the list is full, first evicts the least
    /// recently checked pair other than `selected` and returns it. Returns `Err(())` only if
    /// nothing can be evicted, which the minimum capacity of two rules out.
    pub(crate) fn insert(
        &mut self,
        entry: CheckedPair,
        selected: Option<CandidatePair>,
    ) -> Result<Option<CandidatePair>, ()> {
        let mut evicted = None;
        if self.pairs.len() >= self.capacity {
            let oldest = self
                .pairs
                .iter()
                .enumerate()
                .filter(|(_, p)| Some(p.pair) != selected)
                .min_by_key(|(_, p)| p.last_check)
                .map(|(i, _)| i)
                .ok_or(())?;
            evicted = Some(self.pairs.swap_remove(oldest).pair);
        }
        self.pairs.push(entry);
        Ok(evicted)
    }

    /// Removes every pair but `keep`, calling `removed` for each.
    pub(crate) fn retain_only(
        &mut self,
        keep: Option<CandidatePair>,
        mut removed: impl FnMut(CandidatePair),
    ) {
        self.pairs.retain(|p| {
            let kept = Some(p.pair) == keep;
            if !kept {
                removed(p.pair);
            }
            kept
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::time::Duration;

    fn pair(port: u16) -> CandidatePair {
        CandidatePair {
            local: "192.0.2.1:443".parse().unwrap(),
            remote: SocketAddr::from(([198, 51, 100, 7], port)),
        }
    }

    fn entry(port: u16, at: Instant) -> CheckedPair {
        CheckedPair {
            pair: pair(port),
            remote_priority: 0,
            last_check: at,
            nominated: false,
            generation: 0,
        }
    }

    #[test]
    fn evicts_the_least_recently_checked_unselected_pair() {
        let t0 = Instant::now();
        let mut list = PairList::new(3);
        for port in 1..=3 {
            let at = t0 + Duration::from_secs(u64::from(port));
            assert_eq!(list.insert(entry(port, at), None), Ok(None));
        }
        // Pair 1 is the oldest but selected: pair 2 goes.
        let evicted = list.insert(entry(4, t0 + Duration::from_secs(9)), Some(pair(1)));
        assert_eq!(evicted, Ok(Some(pair(2))));
        assert_eq!(list.len(), 3);
        assert!(list.get(pair(1)).is_some());
        assert!(list.get(pair(2)).is_none());
        // Refreshing pair 3 makes pair 4 the oldest unselected one.
        list.get_mut(pair(3)).unwrap().last_check = t0 + Duration::from_secs(20);
        let evicted = list.insert(entry(5, t0 + Duration::from_secs(21)), Some(pair(1)));
        assert_eq!(evicted, Ok(Some(pair(4))));
    }

    #[test]
    fn capacity_is_at_least_two() {
        let t0 = Instant::now();
        let mut list = PairList::new(0);
        assert_eq!(list.insert(entry(1, t0), None), Ok(None));
        assert_eq!(list.insert(entry(2, t0), None), Ok(None));
        assert_eq!(list.insert(entry(3, t0), Some(pair(1))), Ok(Some(pair(2))));
    }

    #[test]
    fn retain_only_reports_removals() {
        let t0 = Instant::now();
        let mut list = PairList::new(8);
        for port in 1..=4 {
            list.insert(entry(port, t0), None).unwrap();
        }
        let mut removed = Vec::new();
        list.retain_only(Some(pair(3)), |p| removed.push(p.remote.port()));
        removed.sort_unstable();
        assert_eq!(removed, [1, 2, 4]);
        assert_eq!(list.iter().map(|p| p.pair).collect::<Vec<_>>(), [pair(3)]);
        list.retain_only(None, |_| {});
        assert_eq!(list.len(), 0);
    }
}
