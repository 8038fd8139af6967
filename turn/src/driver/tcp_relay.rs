//! TCP allocations (RFC 6062): the relay's listening socket, outgoing connections to peers
//! for Connect requests, and the raw byte pipe between a bound client data connection and
//! its peer connection.
//!
//! The listening socket and every outgoing connection share the relayed transport address
//! (`SO_REUSEADDR` and `SO_REUSEPORT`), so a peer sees the same address whichever side
//! opened the connection.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tracing::{debug, trace, warn};

use super::{send_all, Shared, StreamWriter};
use crate::{ConnectionId, PeerConnect, TCP_CONNECTION_TIMEOUT};

/// Bytes read from a peer or a data connection at a time.
const PIPE_BUFFER: usize = 16 * 1024;

/// A peer connection the driver holds.
#[derive(Debug)]
pub(crate) enum PeerConn {
    /// Established, waiting for the client's ConnectionBind.
    Waiting(TcpStream),
    /// Bound: the data connection's writer, to close the pair.
    Bound(StreamWriter),
}

fn tcp_socket(addr: SocketAddr) -> io::Result<TcpSocket> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.set_nodelay(true)?;
    Ok(socket)
}

/// Binds the TCP relay listener of an allocation on exactly `addr`.
pub(crate) fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = tcp_socket(addr)?;
    socket.bind(addr)?;
    socket.listen(128)
}

/// Accepts peers' connections on a TCP relay listener: the machine says whether the peer
/// is permitted (and tells the client with a ConnectionAttempt); refused ones are closed.
pub(crate) async fn accept_task(shared: Shared, listener: TcpListener, relay: SocketAddr) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                warn!(%relay, error = %e, "relay accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let now = Instant::now();
        let sends = {
            let mut core = shared.lock();
            match core.server.peer_connection_incoming(now, relay, peer) {
                Some(id) => {
                    core.peer_conns.insert(id, PeerConn::Waiting(stream));
                }
                None => drop(stream),
            }
            core.drain(&shared, now)
        };
        send_all(sends).await;
    }
}

/// Opens the connection a Connect asked for, from the relayed address, and tells the
/// machine how it went.
pub(crate) async fn connect_task(shared: Shared, connect: PeerConnect) {
    let attempt = async {
        let socket = tcp_socket(connect.relay)?;
        socket.bind(connect.relay)?;
        socket.connect(connect.peer).await
    };
    let result = match tokio::time::timeout(TCP_CONNECTION_TIMEOUT, attempt).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(e)) => {
            debug!(peer = %connect.peer, relay = %connect.relay, error = %e, "connect to peer failed");
            None
        }
        Err(_) => None,
    };
    let now = Instant::now();
    let sends = {
        let mut core = shared.lock();
        let keep = core.server.peer_connect_result(now, connect.id, result.is_some());
        if let (true, Some(stream)) = (keep, result) {
            core.peer_conns.insert(connect.id, PeerConn::Waiting(stream));
        }
        core.drain(&shared, now)
    };
    send_all(sends).await;
}

/// Carries raw bytes both ways between a bound client data connection (`reader`, `writer`)
/// and its peer connection, starting with `early` (bytes the client sent right after its
/// ConnectionBind), until either side closes or the machine closes the pair.
pub(crate) async fn pipe<R>(
    shared: &Shared,
    id: ConnectionId,
    reader: &mut R,
    writer: &StreamWriter,
    peer: TcpStream,
    early: &[u8],
) where
    R: AsyncRead + Unpin,
{
    let (mut peer_read, mut peer_write) = peer.into_split();
    if !early.is_empty() {
        admit(shared, id, early.len(), true).await;
        if peer_write.write_all(early).await.is_err() {
            return;
        }
    }
    let mut from_client = vec![0u8; PIPE_BUFFER];
    let mut from_peer = vec![0u8; PIPE_BUFFER];
    loop {
        tokio::select! {
            read = reader.read(&mut from_client) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    admit(shared, id, n, true).await;
                    if peer_write.write_all(&from_client[..n]).await.is_err() {
                        break;
                    }
                }
            },
            read = peer_read.read(&mut from_peer) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    admit(shared, id, n, false).await;
                    if !writer.write(&from_peer[..n]).await {
                        break;
                    }
                }
            },
            () = writer.closed() => break,
        }
    }
    let _ = peer_write.shutdown().await;
    trace!(id = id.0, "data connection pipe ended");
}

/// Waits until the allocation's bandwidth limit lets `bytes` through (at once without a
/// limit). Meanwhile that side of the pipe is not read, so TCP flow control slows the sender.
async fn admit(shared: &Shared, id: ConnectionId, bytes: usize, to_peer: bool) {
    loop {
        let verdict = shared.lock().server.admit_tcp_data(Instant::now(), id, bytes, to_peer);
        match verdict {
            Ok(()) => return,
            Err(wait) => tokio::time::sleep(wait).await,
        }
    }
}
