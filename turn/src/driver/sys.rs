//! Socket options.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};
use tracing::debug;

/// Requested kernel buffer size of every UDP socket (Linux caps it at `net.core.rmem_max`
/// and `wmem_max`).
pub const SOCKET_BUFFER_BYTES: usize = 1 << 20;

/// Whether relay sockets can set the DF bit (RFC 8656 §7.2 step 4, DONT-FRAGMENT). The safe
/// socket API has no `IP_MTU_DISCOVER` / `IPV6_DONTFRAG` setter, so the machine answers an
/// Allocate with DONT-FRAGMENT with 420 and the client retries without it.
pub const DONT_FRAGMENT_SUPPORTED: bool = false;

/// A non-blocking UDP socket for `addr`'s family (IPv6-only on IPv6).
pub fn udp_socket(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// Asks for larger kernel buffers; the kernel may give less.
pub fn set_buffers(socket: &Socket) {
    if let Err(e) = socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES) {
        debug!(error = %e, "SO_RCVBUF not set");
    }
    if let Err(e) = socket.set_send_buffer_size(SOCKET_BUFFER_BYTES) {
        debug!(error = %e, "SO_SNDBUF not set");
    }
}

/// Sets the DF bit on a relay socket; unsupported here (see [`DONT_FRAGMENT_SUPPORTED`]),
/// so the machine never asks for it.
pub fn set_dont_fragment(_socket: &Socket, addr: SocketAddr) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, format!("DF bit not supported on {addr}")))
}
