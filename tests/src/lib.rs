//! Helpers shared by the cross-crate tests in `tests/tests/`, and [`load`], the sfu's load
//! harness (`src/bin/sfu_load.rs`, `docs/load.md`).
#![forbid(unsafe_code)]

pub mod load;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// A deterministic stream of hostile datagrams for parsers: random bytes, truncations and
/// bit flips of valid samples, and oversized buffers. The same seed gives the same inputs.
#[derive(Debug)]
pub struct HostileInputs {
    rng: SmallRng,
    samples: Vec<Vec<u8>>,
}

impl HostileInputs {
    /// `samples` are valid messages of the format under test; they are mutated to reach
    /// deeper into the parser than random bytes would.
    pub fn new(seed: u64, samples: Vec<Vec<u8>>) -> Self {
        Self { rng: SmallRng::seed_from_u64(seed), samples }
    }

    /// The next input. Never empty of variety: the kind of mutation is chosen at random.
    pub fn next_input(&mut self) -> Vec<u8> {
        let kind = self.rng.gen_range(0..7u8);
        if self.samples.is_empty() || kind == 0 {
            let mut buf = vec![0u8; self.rng.gen_range(0..1600)];
            self.rng.fill(&mut buf[..]);
            return buf;
        }
        let idx = self.rng.gen_range(0..self.samples.len());
        let mut buf = self.samples[idx].clone();
        match kind {
            // truncated anywhere
            1 => {
                let cut = self.rng.gen_range(0..=buf.len());
                buf.truncate(cut);
            }
            // a few flipped bits
            2 => {
                for _ in 0..self.rng.gen_range(1..4) {
                    if buf.is_empty() {
                        break;
                    }
                    let i = self.rng.gen_range(0..buf.len());
                    buf[i] ^= 1 << self.rng.gen_range(0..8);
                }
            }
            // random bytes overwritten (lengths and type fields get hit this way)
            3 => {
                for _ in 0..self.rng.gen_range(1..8) {
                    if buf.is_empty() {
                        break;
                    }
                    let i = self.rng.gen_range(0..buf.len());
                    buf[i] = self.rng.gen();
                }
            }
            // oversized: garbage appended up to a jumbo datagram
            4 => {
                let old = buf.len();
                buf.resize(old + self.rng.gen_range(0..65_000), 0);
                self.rng.fill(&mut buf[old..]);
            }
            // a 0xff run in the middle (maximal length fields)
            5 => {
                if !buf.is_empty() {
                    let i = self.rng.gen_range(0..buf.len());
                    let n = self.rng.gen_range(1..6).min(buf.len() - i);
                    buf[i..i + n].fill(0xff);
                }
            }
            // valid prefix, random tail
            _ => {
                let cut = self.rng.gen_range(0..=buf.len());
                buf.truncate(cut);
                let old = buf.len();
                buf.resize(old + self.rng.gen_range(0..64), 0);
                self.rng.fill(&mut buf[old..]);
            }
        }
        buf
    }
}
