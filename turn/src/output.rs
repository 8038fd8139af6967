//! What the machine asks its driver to do.

use std::net::SocketAddr;

use crate::{FiveTuple, Transport};

/// Bytes to send to a client: a STUN response, a Data indication or a ChannelData frame,
/// already framed for the transport (send it as one datagram, or write it to the stream).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientTransmit {
    /// UDP, TCP or TLS.
    pub transport: Transport,
    /// The client's address (destination).
    pub client: SocketAddr,
    /// The server address to send from (the one the client talks to).
    pub server: SocketAddr,
    /// The message.
    pub data: Vec<u8>,
}

impl ClientTransmit {
    /// The 5-tuple the message belongs to.
    pub const fn five_tuple(&self) -> FiveTuple {
        FiveTuple { transport: self.transport, client: self.client, server: self.server }
    }
}

/// A datagram to send from a relay socket to a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerTransmit {
    /// The relay socket to send from (its local address, as in [`RelayBind::addr`]).
    pub relay: SocketAddr,
    /// The peer.
    pub peer: SocketAddr,
    /// The application data.
    pub data: Vec<u8>,
}

/// The zero-copy form of [`PeerTransmit`], returned by
/// [`TurnServer::relay_from_client`](crate::TurnServer::relay_from_client): the data borrows
/// the client's datagram (the payload of a ChannelData frame or the DATA of a Send
/// indication).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerDatagram<'a> {
    /// The relay socket to send from.
    pub relay: SocketAddr,
    /// The peer.
    pub peer: SocketAddr,
    /// The application data.
    pub data: &'a [u8],
}

/// Where the frame written by [`TurnServer::relay_from_peer`](crate::TurnServer::relay_from_peer)
/// goes: `out[..len]` is to be sent to `client` over `transport` from `server`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientFrame {
    /// UDP, TCP or TLS.
    pub transport: Transport,
    /// The client's address.
    pub client: SocketAddr,
    /// The server address to send from.
    pub server: SocketAddr,
    /// Bytes written at the start of the caller's buffer.
    pub len: usize,
}

impl ClientFrame {
    /// The 5-tuple the frame belongs to.
    pub const fn five_tuple(&self) -> FiveTuple {
        FiveTuple { transport: self.transport, client: self.client, server: self.server }
    }
}

/// Names one [`RelayBind`] request, to answer it with
/// [`TurnServer::relay_bound`](crate::TurnServer::relay_bound).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelayRequestId(pub u64);

/// A request to bind one UDP relay socket on exactly `addr` (the machine chose the port:
/// random in the configured range, even or followed by a free port when EVEN-PORT asks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelayBind {
    /// Answer with [`TurnServer::relay_bound`](crate::TurnServer::relay_bound).
    pub request: RelayRequestId,
    /// The local address to bind: the relay IP of the family and the chosen port.
    pub addr: SocketAddr,
    /// Set the DF bit on everything sent from this socket (the Allocate carried
    /// DONT-FRAGMENT, RFC 8656 §7.2 step 4), e.g. `IP_MTU_DISCOVER = IP_PMTUDISC_DO` and
    /// `IPV6_DONTFRAG` on Linux.
    pub dont_fragment: bool,
    /// A TCP allocation (RFC 6062): listen for TCP connections from peers on `addr`
    /// instead of binding a UDP socket. Outgoing connections to peers
    /// ([`Output::ConnectPeer`]) leave from the same address, so the listening socket and
    /// those have to share it (`SO_REUSEADDR` and `SO_REUSEPORT` on Linux).
    pub tcp: bool,
}

/// Names one TCP connection between a TCP allocation's relayed address and a peer
/// (RFC 6062): the value of CONNECTION-ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u32);

/// A request to open a TCP connection from a TCP allocation's relayed address to a peer
/// (a Connect request, RFC 6062 §5.2). Answer with
/// [`TurnServer::peer_connect_result`](crate::TurnServer::peer_connect_result).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerConnect {
    /// The connection's id.
    pub id: ConnectionId,
    /// The local address to connect from (the relay's listening address).
    pub relay: SocketAddr,
    /// The peer.
    pub peer: SocketAddr,
}

/// Why the driver could not bind a relay socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RelayBindError {
    /// The port is taken (`EADDRINUSE`): the machine retries with another port.
    AddressInUse,
    /// Anything else (address not available, permission denied, out of file descriptors):
    /// the machine gives up on this address family for the request.
    Unavailable,
}

/// One thing for the driver to do, from [`TurnServer::poll_output`](crate::TurnServer::poll_output).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// Send a STUN message or frame to a client.
    ToClient(ClientTransmit),
    /// Send relayed data to a peer. Only [`TurnServer::handle_client`](crate::TurnServer::handle_client)
    /// queues these; the zero-copy [`TurnServer::relay_from_client`](crate::TurnServer::relay_from_client)
    /// returns them instead.
    ToPeer(PeerTransmit),
    /// Bind a relay socket, then answer with
    /// [`TurnServer::relay_bound`](crate::TurnServer::relay_bound). Datagrams arriving on it
    /// go to [`TurnServer::relay_from_peer`](crate::TurnServer::relay_from_peer) or
    /// [`TurnServer::handle_peer`](crate::TurnServer::handle_peer).
    BindRelay(RelayBind),
    /// Close the relay socket bound on this address: its allocation (or reservation) is gone.
    CloseRelay(SocketAddr),
    /// Open a TCP connection to a peer (RFC 6062 Connect).
    ConnectPeer(PeerConnect),
    /// The client connection of `client` (a TCP or TLS 5-tuple with no allocation) was
    /// bound to the peer connection `id` by a ConnectionBind request: once the success
    /// response queued before this is written, the two connections carry raw bytes both
    /// ways, no STUN framing any more (RFC 6062 §5.4). When either ends, close the other
    /// and call [`TurnServer::peer_connection_closed`](crate::TurnServer::peer_connection_closed).
    BindConnection {
        /// The client's data connection.
        client: FiveTuple,
        /// The peer connection.
        id: ConnectionId,
    },
    /// Close the peer connection `id` and, when bound, its client data connection: it was
    /// not bound in time, its allocation is gone, or a Connect timed out.
    CloseConnection(ConnectionId),
}
