//! UDP: the listener tasks (client side) and the relay socket tasks (peer side).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::UdpSocket;
use tracing::{debug, trace};

use super::{send_all, sys, Shared, StreamWriter};
use crate::{RelayBind, Transport, CLIENT_FRAME_OVERHEAD};

/// Receive buffer size: the largest UDP payload fits.
pub(crate) const MAX_DATAGRAM: usize = 65_536;

/// Binds the relay socket the machine asked for, exactly on `bind.addr`.
pub(crate) fn bind_relay(bind: RelayBind) -> io::Result<Arc<UdpSocket>> {
    let socket = sys::udp_socket(bind.addr)?;
    socket.bind(&bind.addr.into())?;
    sys::set_buffers(&socket);
    if bind.dont_fragment {
        sys::set_dont_fragment(&socket, bind.addr)?;
    }
    Ok(Arc::new(UdpSocket::from_std(socket.into())?))
}

/// Where a relayed frame for a client goes.
enum ClientRoute {
    Udp(Arc<UdpSocket>, SocketAddr),
    Stream(StreamWriter),
}

/// Receives from clients on one UDP listener.
pub(crate) async fn listener_task(shared: Shared, socket: Arc<UdpSocket>, local: SocketAddr) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (len, client) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(e) => {
                // ICMP errors of earlier sends surface here (ECONNREFUSED): not ours to act on.
                trace!(%local, error = %e, "UDP receive error");
                continue;
            }
        };
        let now = Instant::now();
        let (relayed, sends) = {
            let mut core = shared.lock();
            let datagram =
                core.server.relay_from_client(now, Transport::Udp, client, local, &buf[..len]);
            let relayed = datagram.and_then(|d| {
                core.relays.get(&d.relay).map(|(relay, _)| (relay.clone(), d.peer, d.data))
            });
            (relayed, core.drain(&shared, now))
        };
        if let Some((relay, peer, data)) = relayed {
            if let Err(e) = relay.send_to(data, peer).await {
                debug!(%peer, error = %e, "send to peer failed");
            }
        }
        if !sends.is_empty() {
            send_all(sends).await;
        }
    }
}

/// Receives from peers on one relay socket, for as long as its allocation lives (the task is
/// aborted when the machine closes the socket).
pub(crate) async fn relay_task(shared: Shared, socket: Arc<UdpSocket>, relay: SocketAddr) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut out = vec![0u8; MAX_DATAGRAM + CLIENT_FRAME_OVERHEAD];
    loop {
        let (len, peer) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(e) => {
                trace!(%relay, error = %e, "relay receive error");
                continue;
            }
        };
        let now = Instant::now();
        let (route, sends) = {
            let mut core = shared.lock();
            let frame = core.server.relay_from_peer(now, relay, peer, &buf[..len], &mut out);
            let route = frame.and_then(|f| {
                let route = match f.transport {
                    Transport::Udp => core
                        .listeners
                        .get(&f.server)
                        .map(|listener| ClientRoute::Udp(listener.clone(), f.client)),
                    Transport::Tcp | Transport::Tls => {
                        core.streams.get(&f.five_tuple()).map(|w| ClientRoute::Stream(w.clone()))
                    }
                };
                route.map(|r| (r, f.len))
            });
            (route, core.drain(&shared, now))
        };
        match route {
            Some((ClientRoute::Udp(listener, client), len)) => {
                if let Err(e) = listener.send_to(&out[..len], client).await {
                    debug!(%client, error = %e, "send to client failed");
                }
            }
            Some((ClientRoute::Stream(writer), len)) => writer.write(&out[..len]).await,
            None => {}
        }
        if !sends.is_empty() {
            send_all(sends).await;
        }
    }
}
