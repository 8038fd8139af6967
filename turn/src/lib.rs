//! TURN server (RFC 8656), sans-IO: the allocation machine that the `turn` binary's driver
//! runs over its sockets.
//!
//! [`TurnServer`] holds every allocation of every client. It answers Binding, Allocate,
//! Refresh, CreatePermission and ChannelBind requests, relays Send indications and
//! ChannelData to peers and peer datagrams back as Data indications or ChannelData, and
//! expires allocations (600 s by default, 3600 s at most), permissions (300 s) and channels
//! (600 s) on its timer. Authentication is RFC 8489's long-term credential mechanism with
//! stateless nonces, for static users and for TURN REST credentials (username
//! `"<expiry>:<user>"`, password `base64(HMAC-SHA1(secret, username))`, the form the sfu's
//! API mints). A [`PeerPolicy`] keeps the relay from reaching private, loopback and other
//! non-global addresses (403), and quotas bound allocations per user (486), allocations,
//! permissions and channels (508) and relayed bandwidth (dropped).
//!
//! TCP allocations (RFC 6062, for clients on TCP or TLS): Connect opens a connection from the
//! relayed address to a permitted peer ([`Output::ConnectPeer`], answered with
//! [`TurnServer::peer_connect_result`]), a permitted peer connecting in is announced with a
//! ConnectionAttempt ([`TurnServer::peer_connection_incoming`]), and a ConnectionBind on a
//! new client connection turns it into a raw byte pipe to the peer
//! ([`Output::BindConnection`]). Connections not established or not bound within
//! [`TCP_CONNECTION_TIMEOUT`] (30 s) are closed ([`Output::CloseConnection`]).
//!
//! Nothing here owns a socket or reads a clock. The driver feeds:
//! - what clients send, one UDP datagram or one TCP/TLS frame (cut with
//!   [`stun::peek_frame`]) at a time: [`TurnServer::relay_from_client`] (returns relayed data
//!   borrowed from the input) or [`TurnServer::handle_client`] (queues a copy);
//! - what arrives on relay sockets: [`TurnServer::relay_from_peer`] (writes the client frame
//!   into the caller's buffer) or [`TurnServer::handle_peer`] (queues a copy);
//! - the outcome of each [`Output::BindRelay`]: [`TurnServer::relay_bound`] (the machine
//!   chooses random relay ports, the driver binds them);
//! - [`TurnServer::client_closed`] when a TCP/TLS connection ends;
//! - [`TurnServer::handle_timeout`] when [`TurnServer::poll_timeout`] says.
//!
//! and after each call drains [`TurnServer::poll_output`]: responses to clients, relay
//! sockets to bind or close. Time is the `now: Instant` of every call; wall time (for REST
//! credential expiry and nonces) is anchored once with the Unix time at construction. The
//! relay hot paths allocate nothing.
//!
//! The [`driver`] module is the other half: the tokio sockets (UDP, TCP, TLS listeners and
//! relay sockets) that the `turn` binary runs this machine over.
//!
//! # Example: an allocation, driven in memory
//!
//! ```
//! use std::time::Instant;
//! use rand::{rngs::StdRng, SeedableRng};
//! use stun::attributes::{
//!     ErrorCode, Nonce, Realm, RequestedTransport, TransportProtocol, Username,
//!     XorRelayedAddress,
//! };
//! use stun::{Class, Message, MessageType, MessageWriter, Method, TransactionId};
//! use turn::{AuthConfig, Output, RelayIp, ServerConfig, Transport, TurnServer};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = ServerConfig::new("example.org");
//! config.relay_ipv4 = Some(RelayIp::new("203.0.113.5".parse()?));
//! config.auth = AuthConfig::default().with_user("alice", "secret");
//! let now = Instant::now();
//! // Production: StdRng::from_entropy(), and the real Unix time.
//! let mut server = TurnServer::new(config, now, 1_700_000_000, StdRng::seed_from_u64(7))?;
//!
//! let client = "198.51.100.7:40000".parse()?;
//! let listen = "203.0.113.5:3478".parse()?;
//! let allocate = MessageType::new(Method::ALLOCATE, Class::Request);
//! let udp = RequestedTransport(TransportProtocol::UDP);
//!
//! // 1. The first Allocate has no credentials: 401 with REALM and NONCE.
//! let mut request = Vec::new();
//! let mut w = MessageWriter::new(&mut request, allocate, TransactionId([1; 12]));
//! w.add(&udp)?;
//! server.handle_client(now, Transport::Udp, client, listen, &request);
//! let Some(Output::ToClient(challenge)) = server.poll_output() else { panic!() };
//! let challenge = Message::parse(&challenge.data)?;
//! assert_eq!(challenge.get::<ErrorCode>()?.map(|e| e.code), Some(401));
//! let nonce = challenge.get::<Nonce>()?.unwrap().0.to_owned();
//!
//! // 2. The retry carries USERNAME, REALM, NONCE and MESSAGE-INTEGRITY.
//! let key = stun::credentials::long_term_key_md5("alice", "example.org", "secret")?;
//! let mut w = MessageWriter::new(&mut request, allocate, TransactionId([2; 12]));
//! w.add(&udp)?;
//! w.add(&Username("alice"))?;
//! w.add(&Realm("example.org"))?;
//! w.add(&Nonce(&nonce))?;
//! w.add_message_integrity(&key)?;
//! server.handle_client(now, Transport::Udp, client, listen, &request);
//!
//! // 3. The machine picked a random port; the driver binds it and says so.
//! let Some(Output::BindRelay(bind)) = server.poll_output() else { panic!() };
//! assert_eq!(bind.addr.ip().to_string(), "203.0.113.5");
//! server.relay_bound(now, bind.request, Ok(()))?;
//!
//! // 4. The success response names the relayed address.
//! let Some(Output::ToClient(success)) = server.poll_output() else { panic!() };
//! let success = Message::parse(&success.data)?;
//! success.verify_message_integrity(&key)?;
//! assert_eq!(success.get::<XorRelayedAddress>()?.map(|a| a.0), Some(bind.addr));
//! assert_eq!(server.allocation_count(), 1);
//!
//! // The driver sleeps until the next deadline: the cached response is forgotten after
//! // 40 s, the allocation expires after 600 s unless refreshed.
//! assert_eq!(server.poll_timeout(), Some(now + std::time::Duration::from_secs(40)));
//! # Ok(())
//! # }
//! ```
// Unsafe code is denied everywhere but in `driver::sys` (batched UDP system calls).
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod allocation;
mod auth;
mod bandwidth;
mod base64;
mod config;
pub mod driver;
mod error;
mod frame;
mod nonce;
mod output;
mod policy;
mod server;
mod stats;
mod timers;
mod transport;

pub use auth::{rest_credential, rest_password, AuthConfig, Secret, UserSecret};
pub use bandwidth::BandwidthLimit;
pub use config::{RelayIp, ServerConfig, MAX_REALM_LEN};
pub use error::Error;
pub use frame::CLIENT_FRAME_OVERHEAD;
pub use output::{
    ClientFrame, ClientTransmit, ConnectionId, Output, PeerConnect, PeerDatagram, PeerTransmit,
    RelayBind, RelayBindError, RelayRequestId,
};
pub use policy::{Cidr, PeerPolicy, Refusal};
pub use server::{AllocationInfo, TurnServer, MAX_UNAUTHENTICATED_GROWTH, TCP_CONNECTION_TIMEOUT};
pub use stats::TurnStats;
pub use transport::{FiveTuple, Transport};
