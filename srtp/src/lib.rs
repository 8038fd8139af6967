//! SRTP and SRTCP (RFC 3711) with the AES-GCM transforms of RFC 7714, for the protection
//! profiles DTLS-SRTP negotiates (RFC 5764): `AES128_CM_HMAC_SHA1_80`, `AES128_CM_HMAC_SHA1_32`,
//! `AEAD_AES_128_GCM` and `AEAD_AES_256_GCM`.
//!
//! A [`Context`] holds one direction of a session: the session keys derived from a master key
//! and salt, and per SSRC the rollover counter, replay window and SRTCP index. It is a plain
//! value with no I/O, clock or locking: packets go in as byte buffers and are transformed in
//! place, with no allocation per packet.
//!
//! - [`Context::protect_rtp`] / [`Context::protect_rtcp`] take `(buf, len)` with the plain
//!   packet in `buf[..len]` and room after it for the tag (and SRTCP index), and return the
//!   protected length.
//! - [`Context::unprotect_rtp`] / [`Context::unprotect_rtcp`] take the whole protected packet
//!   as `buf` and return the plain length. Authentication is checked, in constant time,
//!   before any decryption is kept and before any state changes.
//! - `*_vec` variants work on a `Vec<u8>` and reallocate only when its capacity is short.
//!
//! Errors are typed ([`Error`]); a packet that fails is simply dropped by the caller.
//!
//! ```
//! use srtp::{Context, ProtectionProfile};
//!
//! # fn main() -> Result<(), srtp::Error> {
//! let profile = ProtectionProfile::AeadAes128Gcm;
//! let (key, salt) = ([7u8; 16], [9u8; 12]);
//! // In a real session both ends derive these from the DTLS handshake
//! // (see `Context::from_dtls_keying_material`).
//! let mut sender = Context::new(profile, &key, &salt)?;
//! let mut receiver = Context::new(profile, &key, &salt)?;
//!
//! // An RTP packet: 12-byte header (seq 1, SSRC 0x11223344) and a payload,
//! // in a buffer with room for the tag.
//! let rtp = [0x80, 96, 0, 1, 0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44, b'h', b'i'];
//! let mut buf = [0u8; 1500];
//! buf[..rtp.len()].copy_from_slice(&rtp);
//! let len = sender.protect_rtp(&mut buf, rtp.len())?;
//! assert_eq!(len, rtp.len() + profile.rtp_overhead());
//!
//! let plain_len = receiver.unprotect_rtp(&mut buf[..len])?;
//! assert_eq!(&buf[..plain_len], &rtp);
//!
//! // The same packet again is a replay.
//! let mut again = [0u8; 1500];
//! again[..rtp.len()].copy_from_slice(&rtp);
//! let len = sender.protect_rtp(&mut again, rtp.len())?;
//! assert_eq!(receiver.unprotect_rtp(&mut again[..len]), Err(srtp::Error::Replayed));
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod aead;
mod aes_cm;
mod context;
mod error;
mod header;
mod kdf;
mod profile;
mod replay;
mod stream;

pub use context::{Config, Context, DtlsSrtpKeys, MAX_PACKET_LEN, MAX_REPLAY_WINDOW};
pub use error::{Error, Result};
pub use profile::ProtectionProfile;
