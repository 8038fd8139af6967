//! ICE for the SFU, sans-IO: an ICE-lite agent (RFC 8445 §2.5) with consent freshness
//! (RFC 7675), and a minimal controlling checker.
//!
//! - [`IceLiteAgent`], one per session (PeerConnection): answers the browser's connectivity
//!   checks (RFC 8445 §7.3), learns its peer-reflexive addresses, selects the pair the
//!   browser nominates (or the pair a DTLS ClientHello arrives on first), reports
//!   [`IceEvent::Connected`] / [`IceEvent::Disconnected`] as consent comes and goes, and
//!   handles ICE restarts. A lite agent sends no checks and is always controlled.
//! - [`local_ufrag`] and [`verify_check`]: stateless helpers for the UDP driver, to find the
//!   session of a check from a new 5-tuple and authenticate it before binding the 5-tuple.
//! - [`Credentials`]: generated local ufrag/password, validated remote ones.
//! - [`IceControllingClient`]: the browser's half for one pair (check, nominate, consent
//!   checks, with RFC 8489 retransmissions), used by in-memory tests of the SFU.
//! - [`IceControllingAgent`]: the full controlling role toward a lite peer with several
//!   candidates (paced checks in priority order, the first success nominated, 487 role
//!   conflicts, consent freshness), for SFU sessions whose peer is itself lite (another
//!   SFU, a media server: `thirdparty` sessions).
//!
//! Nothing here owns a socket, a clock or a task: datagrams and `now` go in, datagrams
//! ([`Transmit`]) and [`IceEvent`]s come out, and `poll_timeout` says when to call
//! `handle_timeout`. After every `handle_*` call, drain `poll_transmit` and `poll_event`.
//!
//! # Example: the event loop, with an in-memory peer
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::{Duration, Instant};
//!
//! use ice::{
//!     CandidatePair, ControllingConfig, Credentials, IceConfig, IceControllingClient,
//!     IceEvent, IceLiteAgent,
//! };
//! use rand::{rngs::StdRng, SeedableRng};
//!
//! # fn main() -> Result<(), ice::Error> {
//! let mut rng = StdRng::seed_from_u64(1); // production: a CSPRNG seeded from the OS
//! let sfu: SocketAddr = "192.0.2.10:443".parse().unwrap();
//! let browser: SocketAddr = "198.51.100.7:50123".parse().unwrap();
//! let sfu_credentials = Credentials::generate(&mut rng); // goes into our SDP
//! let browser_credentials = Credentials::generate(&mut rng); // comes from the browser's SDP
//!
//! // A virtual clock: it only moves when the loop says so.
//! let mut now = Instant::now();
//! let remote = Some(browser_credentials.clone());
//! let mut agent = IceLiteAgent::new(IceConfig::default(), sfu_credentials.clone(), remote);
//! let mut peer = IceControllingClient::new(
//!     now,
//!     ControllingConfig::default(),
//!     browser_credentials,
//!     sfu_credentials.clone(),
//!     CandidatePair { local: browser, remote: sfu },
//!     &mut rng,
//! )?;
//!
//! let mut selected = None;
//! for _ in 0..100 {
//!     // What the SFU's UDP driver does with a STUN datagram (first byte 0..=3): find the
//!     // session by ufrag, then let its agent answer.
//!     while let Some(t) = peer.poll_transmit() {
//!         assert_eq!(ice::local_ufrag(&t.datagram), Some(sfu_credentials.ufrag()));
//!         agent.handle_receive(now, t.remote, t.local, &t.datagram);
//!     }
//!     while let Some(t) = agent.poll_transmit() {
//!         peer.handle_receive(now, t.remote, t.local, &t.datagram);
//!     }
//!     while let Some(event) = agent.poll_event() {
//!         match event {
//!             IceEvent::PairDiscovered { .. } => { /* map the 5-tuple to the session */ }
//!             IceEvent::SelectedPairChanged { local, remote } => selected = Some((local, remote)),
//!             IceEvent::Connected => { /* start DTLS, forward media */ }
//!             _ => {}
//!         }
//!     }
//!     while peer.poll_event().is_some() {}
//!     if selected.is_some() {
//!         break;
//!     }
//!     // Sleep until the earliest timer, then fire the timers.
//!     let Some(next) = [agent.poll_timeout(), peer.poll_timeout()].into_iter().flatten().min()
//!     else {
//!         break;
//!     };
//!     now = now.max(next);
//!     agent.handle_timeout(now);
//!     peer.handle_timeout(now);
//! }
//! assert_eq!(selected, Some((sfu, browser)));
//! // The agent now only watches consent: it wakes up when it would expire.
//! assert_eq!(agent.poll_timeout(), Some(now + Duration::from_secs(30)));
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod agent;
mod check;
mod consent;
mod controlling;
mod controlling_agent;
mod credentials;
mod error;
mod event;
mod pairs;
mod transaction;

pub use agent::{IceConfig, IceLiteAgent, IceStats, DEFAULT_MAX_PAIRS};
pub use check::{local_ufrag, verify_check};
pub use consent::CONSENT_TIMEOUT;
pub use controlling::{
    ControllingConfig, ControllingStats, IceControllingClient, DEFAULT_CHECK_PRIORITY,
};
pub use controlling_agent::{
    ControllingAgentStats, IceControllingAgent, IceRole, MAX_CONTROLLING_PAIRS,
};
pub use credentials::{is_ice_char, Credentials, GENERATED_PASSWORD_LEN, GENERATED_UFRAG_LEN};
pub use error::Error;
pub use event::{CandidatePair, ConnectionState, IceEvent, Transmit};
pub use pairs::CheckedPair;
