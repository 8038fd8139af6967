//! The packets of one media stream recently received, kept to answer NACKs (RFC 4585 §6.2.1)
//! without asking the sender again.
//!
//! A ring of slots indexed by sequence number: slot `seq mod capacity` holds the newest
//! packet with that remainder. Each slot owns a buffer that grows to the largest packet it
//! held and is reused after that, so a warmed-up cache stores packets without allocating.
//! Memory is bounded by `capacity × max_packet_len`. A slot answers only for the exact
//! extended sequence number and SSRC it holds, and only while younger than `max_age`.

use std::time::{Duration, Instant};

use crate::seq::Unwrapper;

/// One stored packet.
#[derive(Debug, Clone)]
struct Slot {
    ssrc: u32,
    /// Extended sequence number, `i64::MIN` when empty.
    ext: i64,
    stored_at: Option<Instant>,
    data: Vec<u8>,
}

/// Recent packets of one stream. See the module documentation.
#[derive(Debug, Clone)]
pub struct PacketCache {
    slots: Vec<Slot>,
    mask: usize,
    ssrc: Option<u32>,
    unwrapper: Unwrapper,
    max_age: Duration,
    max_packet_len: usize,
}

impl PacketCache {
    /// Largest capacity accepted (half the sequence space keeps extended numbers unambiguous).
    pub const MAX_CAPACITY: usize = 1 << 15;

    /// A cache of `capacity` packets (rounded up to a power of two, at least 16, at most
    /// [`PacketCache::MAX_CAPACITY`]) of up to `max_packet_len` bytes, each answered for
    /// `max_age` after it was stored. Slot buffers are allocated when first used.
    pub fn new(capacity: usize, max_packet_len: usize, max_age: Duration) -> PacketCache {
        let capacity = capacity.clamp(16, Self::MAX_CAPACITY).next_power_of_two();
        let slot = Slot { ssrc: 0, ext: i64::MIN, stored_at: None, data: Vec::new() };
        PacketCache {
            slots: vec![slot; capacity],
            mask: capacity - 1,
            ssrc: None,
            unwrapper: Unwrapper::default(),
            max_age,
            max_packet_len,
        }
    }

    /// How many packets it holds at most.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Stores `packet` (sequence number `seq` of source `ssrc`), received at `now`. A new
    /// SSRC starts the numbering over. Returns `false` when the packet is longer than
    /// `max_packet_len` or much older than the newest stored (it is then not stored).
    pub fn insert(&mut self, now: Instant, ssrc: u32, seq: u16, packet: &[u8]) -> bool {
        if packet.len() > self.max_packet_len {
            return false;
        }
        if self.ssrc != Some(ssrc) {
            self.ssrc = Some(ssrc);
            self.unwrapper.reset();
        }
        let ext = self.unwrapper.unwrap(seq);
        if self.unwrapper.newest().is_some_and(|n| n - ext >= self.slots.len() as i64) {
            return false;
        }
        let Some(slot) = self.slots.get_mut((ext as usize) & self.mask) else { return false };
        slot.ssrc = ssrc;
        slot.ext = ext;
        slot.stored_at = Some(now);
        slot.data.clear();
        if slot.data.capacity() == 0 {
            slot.data.reserve_exact(self.max_packet_len);
        }
        slot.data.extend_from_slice(packet);
        true
    }

    /// The stored packet `seq` of `ssrc`, if it is here and not older than `max_age`.
    pub fn get(&self, now: Instant, ssrc: u32, seq: u16) -> Option<&[u8]> {
        if self.ssrc != Some(ssrc) {
            return None;
        }
        let ext = self.unwrapper.peek(seq);
        let slot = self.slots.get((ext as usize) & self.mask)?;
        let fresh =
            slot.stored_at.is_some_and(|at| now.saturating_duration_since(at) <= self.max_age);
        (slot.ext == ext && slot.ssrc == ssrc && fresh).then_some(slot.data.as_slice())
    }

    /// Whether packet `seq` of `ssrc` is stored (see [`PacketCache::get`]).
    pub fn contains(&self, now: Instant, ssrc: u32, seq: u16) -> bool {
        self.get(now, ssrc, seq).is_some()
    }

    /// Bytes of packet buffers currently allocated.
    pub fn allocated_bytes(&self) -> usize {
        self.slots.iter().map(|s| s.data.capacity()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u16, len: usize) -> Vec<u8> {
        let mut p = vec![seq as u8; len];
        p[0] = 0x80;
        p
    }

    #[test]
    fn answers_the_last_capacity_packets_by_sequence_number() {
        let t0 = Instant::now();
        let mut c = PacketCache::new(1000, 1500, Duration::from_secs(3));
        assert_eq!(c.capacity(), 1024);
        // 3000 packets through the 16-bit wrap.
        for i in 0..3000u32 {
            let seq = (64_000 + i) as u16;
            assert!(c.insert(t0, 7, seq, &packet(seq, 100 + (i as usize % 50))));
        }
        let newest = (64_000u32 + 2999) as u16;
        for back in 0..1024u16 {
            let seq = newest.wrapping_sub(back);
            let got = c.get(t0, 7, seq).unwrap_or_else(|| panic!("{seq} missing"));
            assert_eq!(got[1], seq as u8);
        }
        assert_eq!(c.get(t0, 7, newest.wrapping_sub(1024)), None, "overwritten");
        assert_eq!(c.get(t0, 8, newest), None, "another SSRC");
        assert_eq!(c.get(t0, 7, newest.wrapping_add(1)), None, "not yet received");
        // Bounded memory: one buffer per slot, no more.
        assert_eq!(c.allocated_bytes(), 1024 * 1500);
    }

    #[test]
    fn reuses_its_buffers_and_refuses_what_does_not_fit() {
        let t0 = Instant::now();
        let mut c = PacketCache::new(16, 200, Duration::from_secs(1));
        assert!(!c.insert(t0, 1, 0, &packet(0, 201)));
        for seq in 0..16u16 {
            assert!(c.insert(t0, 1, seq, &packet(seq, 200)));
        }
        let before = c.allocated_bytes();
        for seq in 16..1000u16 {
            assert!(c.insert(t0, 1, seq, &packet(seq, 20 + seq as usize % 180)));
        }
        assert_eq!(c.allocated_bytes(), before, "no allocation after warm-up");
        // A packet older than the window is not stored; a reordered recent one is.
        assert!(!c.insert(t0, 1, 900, &packet(900, 10)));
        assert!(c.insert(t0, 1, 990, &packet(990, 10)));
        assert_eq!(c.get(t0, 1, 990).map(<[u8]>::len), Some(10));
    }

    #[test]
    fn old_packets_and_a_new_source_are_not_answered() {
        let t0 = Instant::now();
        let mut c = PacketCache::new(64, 1500, Duration::from_millis(500));
        c.insert(t0, 1, 10, &packet(10, 50));
        assert!(c.contains(t0 + Duration::from_millis(500), 1, 10));
        assert!(!c.contains(t0 + Duration::from_millis(501), 1, 10), "too old");
        c.insert(t0, 2, 11, &packet(11, 50));
        assert!(!c.contains(t0, 1, 10), "the source changed");
        assert!(c.contains(t0, 2, 11));
    }
}
