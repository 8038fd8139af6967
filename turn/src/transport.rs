//! How a client reaches the server, and the 5-tuple that names an allocation (RFC 8656 §2).

use std::fmt;
use std::net::SocketAddr;

use stun::Framing;

/// The transport between the client and the server. Relaying to peers is UDP, or TCP for an
/// RFC 6062 allocation (only for clients on TCP or TLS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// UDP: one STUN message or ChannelData per datagram.
    Udp,
    /// TCP: the driver cuts the stream into frames with [`stun::peek_frame`].
    Tcp,
    /// TLS over TCP, framed like TCP.
    Tls,
}

impl Transport {
    /// The ChannelData framing of this transport (RFC 8656 §12.5): padded to a multiple of
    /// four on streams, unpadded in datagrams.
    pub const fn framing(self) -> Framing {
        match self {
            Self::Udp => Framing::Datagram,
            Self::Tcp | Self::Tls => Framing::Stream,
        }
    }
}

/// The client's 5-tuple: transport, client address, server address. An allocation is named
/// by it: one allocation per 5-tuple (RFC 8656 §2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FiveTuple {
    /// UDP, TCP or TLS.
    pub transport: Transport,
    /// The client's address as the server sees it (its server-reflexive address).
    pub client: SocketAddr,
    /// The server address the client talks to.
    pub server: SocketAddr,
}

impl fmt::Display for FiveTuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {} -> {}", self.transport, self.client, self.server)
    }
}
