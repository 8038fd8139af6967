//! DTLS 1.2 (RFC 6347) with DTLS-SRTP (RFC 5764) over OpenSSL, as a sans-IO machine: one
//! [`Dtls`] per PeerConnection, datagrams in, datagrams out, timeouts and events, with time
//! always passed in by the caller.
//!
//! - [`Certificate`] is our identity: an ECDSA P-256 self-signed certificate, generated at
//!   start or loaded from PEM; its [`Fingerprint`] goes in our SDP answer.
//! - [`Fingerprint`] parses the remote `a=fingerprint` (sha-1/224/256/384/512, any case) and
//!   prints ours.
//! - [`DtlsContext`] holds the validated [`DtlsConfig`] and the OpenSSL context shared by all
//!   connections: DTLS 1.2 only; ECDHE-ECDSA with AES-GCM and ChaCha20-Poly1305 first; groups
//!   X25519 and P-256; extended master secret required; renegotiation, tickets and
//!   resumption off; use_srtp offering `SRTP_AEAD_AES_128_GCM`, `SRTP_AEAD_AES_256_GCM`,
//!   `SRTP_AES128_CM_SHA1_80` in that order.
//! - [`Dtls`] runs one handshake as [`Role::Server`] (the default, `a=setup:passive`) or
//!   [`Role::Client`]. It reports [`Event::Connected`] with the [`SrtpKeyMaterial`] split per
//!   RFC 5764 §4.2 and already assigned to "local" (we protect) and "remote" (we unprotect),
//!   then [`Event::ApplicationData`] for SCTP, [`Event::Closed`] on close_notify, or
//!   [`Event::Failed`].
//!
//! # Event loop
//!
//! ```
//! use std::time::{Duration, Instant};
//! use dtls::{Certificate, Dtls, DtlsConfig, DtlsContext, Event, Role, SrtpProfile};
//!
//! # fn main() -> Result<(), dtls::Error> {
//! // Once per process: our identity; its fingerprint goes in every SDP answer.
//! let ctx = DtlsContext::new(DtlsConfig::new(Certificate::generate()?))?;
//! let our_fingerprint = ctx.config().certificate.fingerprint().to_string(); // "sha-256 AB:…"
//! # let browser_ctx = DtlsContext::new(DtlsConfig::new(Certificate::generate()?))?;
//! # let offer_fingerprint = browser_ctx.config().certificate.fingerprint().to_string();
//!
//! // Per PeerConnection: the browser's a=fingerprint from its offer; we answer
//! // a=setup:passive, so we are the DTLS server.
//! let mut now = Instant::now();
//! let mut dtls = Dtls::new(now, &ctx, Role::Server, offer_fingerprint.parse()?)?;
//! # let mut browser = Dtls::new(now, &browser_ctx, Role::Client, our_fingerprint.parse()?)?;
//! # let mut socket: Vec<Vec<u8>> = std::iter::from_fn(|| browser.poll_transmit()).collect();
//!
//! let srtp = loop {
//!     // Input: every datagram whose first byte is 20..=63 (RFC 7983), and the timer.
//!     for datagram in socket.drain(..) {
//!         // An Err is a datagram that was dropped (and counted); the connection goes on.
//!         let _ = dtls.handle_receive(now, &datagram);
//!     }
//!     if dtls.poll_timeout().is_some_and(|deadline| deadline <= now) {
//!         dtls.handle_timeout(now);
//!     }
//!     // Output, after every input.
//!     while let Some(datagram) = dtls.poll_transmit() {
//!         // socket.send_to(&datagram, peer) in the driver
//! #       browser.handle_receive(now, &datagram)?;
//!     }
//!     match dtls.poll_event() {
//!         Some(Event::Connected { srtp, .. }) => break srtp, // build the SRTP contexts
//!         Some(Event::ApplicationData(sctp_packet)) => drop(sctp_packet), // to SCTP
//!         Some(Event::Closed | Event::Failed(_)) => unreachable!("drop the session"),
//!         _ => {}
//!     }
//! #   socket.extend(std::iter::from_fn(|| browser.poll_transmit()));
//!     // The driver sleeps until the next datagram or `poll_timeout()`.
//!     now += Duration::from_millis(10);
//! };
//! assert_eq!(srtp.profile, SrtpProfile::AEAD_AES_128_GCM);
//! # Ok(())
//! # }
//! ```
//!
//! # Retransmission on the caller's clock
//!
//! RFC 6347 §4.2.4 retransmits a flight when its timer expires: 1 s at first, doubling up to
//! 60 s, reset when a new flight starts. OpenSSL implements that timer itself on the real
//! clock and checks it whenever it is asked to read, which would make the machine depend on
//! wall time and tests depend on sleeping. Here the schedule belongs to [`Dtls`]:
//! [`Dtls::poll_timeout`] returns our deadline, and [`Dtls::handle_timeout`] at that deadline
//! makes OpenSSL resend the current flight (with fresh record sequence numbers) through its
//! own `DTLSv1_handle_timeout`. OpenSSL's own timer is parked an hour ahead with
//! `DTLS_set_timer_cb`, so it never resends by itself, and when our deadline comes the
//! machine moves OpenSSL's deadline into the past before asking it to handle the timeout.
//! OpenSSL publishes where that deadline lives through the BIO control
//! `BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT`, which a BIO callback observes; that callback also tells
//! the machine when a flight starts and when the peer has answered it. The details, and why a
//! tiny timer from the callback cannot work (OpenSSL's read path would resend on every call
//! until it gives up), are in `src/ffi.rs`, the only module with `unsafe` code.
//!
//! This needs OpenSSL 1.1.1 to 3.1 (Debian 12 ships 3.0). On later versions the machine
//! falls back to OpenSSL's real-clock timer with the same schedule, polled through
//! `DTLSv1_get_timeout`; [`Dtls::virtual_retransmission_clock`] tells which one is in use.
//!
//! The handshake itself has a deadline ([`DtlsConfig::handshake_timeout`], 30 s by default)
//! counted from [`Dtls::new`].
//!
//! # What the server accepts
//!
//! No cookie exchange (`DTLSv1_listen`, HelloVerifyRequest): ICE has already proved the
//! peer's address, and OpenSSL's listen path cannot take a ClientHello split over several
//! records. Without it OpenSSL's handshake layer reassembles a fragmented ClientHello, such as
//! the post-quantum one Firefox sends, from fragments arriving in any order. Datagrams are
//! screened before OpenSSL sees them: anything that is not a sequence of well-formed DTLS
//! records, or that holds an epoch-0 record no peer sends (application data, a malformed
//! ChangeCipherSpec or alert, a handshake fragment outside its message), is dropped and
//! counted, so stray packets cannot break a handshake. No input makes the machine panic.
//!
//! The peer must present a certificate (a server requests one, RFC 5763 §5); any chain is
//! accepted, but the end-entity certificate must match the SDP fingerprint, checked in
//! OpenSSL's verify callback (a mismatch aborts the handshake with an alert) and again on the
//! finished session before any key is exported.

mod certificate;
mod channel;
mod config;
mod connection;
mod error;
mod ffi;
mod fingerprint;
mod record;
mod srtp;

pub use certificate::Certificate;
pub use config::{DtlsConfig, DtlsContext, DEFAULT_MTU, MIN_MTU};
pub use connection::{Dtls, DtlsStats, Event, Role};
pub use error::Error;
pub use fingerprint::{Fingerprint, HashAlgorithm};
pub use srtp::{SrtpKeyMaterial, SrtpProfile};
