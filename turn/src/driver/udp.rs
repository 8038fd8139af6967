//! UDP: the listener tasks (client side) and the relay socket tasks (peer side), each
//! receiving up to [`sys::BATCH`] datagrams per system call, relaying the whole batch under
//! one lock of the machine, and sending the results in batches. A listener bound to a
//! wildcard address reads the destination address of each datagram and uses it as the
//! server address; what goes to its clients leaves from that address.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::Interest;
use tokio::net::UdpSocket;
use tracing::{debug, trace};

use super::sys::{self, Datagram, Received, RecvBatch, BATCH};
use super::{send_all, Shared, StreamWriter};
use crate::{RelayBind, Transport, CLIENT_FRAME_OVERHEAD};

/// Receive slot of a listener: the largest UDP payload fits.
pub(crate) const MAX_DATAGRAM: usize = 65_536;

/// Receive slot of a relay socket. Longer peer datagrams are cut by the kernel and dropped
/// (counted in `Running::truncated_dropped`): media, ICE and DTLS datagrams stay well below
/// a path MTU, and 16 slots of 64 KiB per allocation would cost a megabyte each.
pub(crate) const RELAY_SLOT: usize = 4_096;

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

/// One datagram to send: the socket it leaves from (`None`: nothing to send) and the
/// datagram.
type Outgoing<'a> = (Option<Arc<UdpSocket>>, Datagram<'a>);

/// Waits for datagrams and receives a batch; `None` on an error worth skipping.
async fn recv_batch(socket: &UdpSocket, batch: &mut RecvBatch) -> Option<usize> {
    if let Err(e) = socket.readable().await {
        trace!(error = %e, "readiness error");
        return None;
    }
    match socket.try_io(Interest::READABLE, || batch.recv(socket.as_fd())) {
        Ok(n) => Some(n),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
        Err(e) => {
            // ICMP errors of earlier sends surface here (ECONNREFUSED): not ours to act on.
            trace!(error = %e, "UDP receive error");
            None
        }
    }
}

/// Sends every message from `socket`, waiting while its buffer is full: runs of datagrams of
/// one size to one destination from one source (a relayed stream) go as one segmented send
/// ([`sys::send_segmented`]), the rest in `sendmmsg` batches. A message the kernel refuses
/// (the first of a batch failing) is skipped; a segmented send the kernel refuses (a route
/// that cannot segment, a segment above its MTU) is sent again without segmentation.
async fn send_batched(socket: &UdpSocket, mut messages: &[Datagram<'_>]) {
    let segmentation = sys::segmentation_supported();
    // Messages to send without segmentation, after a segmented send of them failed.
    let mut plain = 0;
    while !messages.is_empty() {
        let run = if segmentation && plain == 0 { sys::segmented_run(messages) } else { 0 };
        if run >= 2 {
            let run_messages = &messages[..run];
            match socket
                .try_io(Interest::WRITABLE, || sys::send_segmented(socket.as_fd(), run_messages))
            {
                Ok(()) => messages = &messages[run..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if socket.writable().await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    debug!(to = %messages[0].to, error = %e, "segmented UDP send failed");
                    plain = run;
                }
            }
            continue;
        }
        let batch = if plain > 0 { &messages[..plain] } else { messages };
        match socket.try_io(Interest::WRITABLE, || sys::send_batch(socket.as_fd(), batch)) {
            Ok(sent) => {
                let sent = sent.max(1).min(messages.len());
                plain = plain.saturating_sub(sent);
                messages = &messages[sent..];
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if socket.writable().await.is_err() {
                    return;
                }
            }
            Err(e) => {
                debug!(to = %messages[0].to, error = %e, "UDP send failed");
                plain = plain.saturating_sub(1);
                messages = &messages[1..];
            }
        }
    }
}

/// Sends `packets[..n]`, each with the socket it leaves from, grouping runs of the same
/// socket into batches.
async fn send_grouped(packets: &[Outgoing<'_>]) {
    let mut start = 0;
    while start < packets.len() {
        let Some(socket) = packets[start].0.clone() else {
            start += 1;
            continue;
        };
        let mut list = [packets[start].1; BATCH];
        let mut k = 0;
        let mut end = start;
        while end < packets.len() && k < BATCH {
            match &packets[end].0 {
                Some(s) if Arc::ptr_eq(s, &socket) => {
                    list[k] = packets[end].1;
                    k += 1;
                    end += 1;
                }
                _ => break,
            }
        }
        send_batched(&socket, &list[..k]).await;
        start = end;
    }
}

/// Receives from clients on one UDP listener bound to `local`. Bound to a wildcard address
/// (with `IP_PKTINFO` / `IPV6_RECVPKTINFO` set by [`super::start`]), it hands the machine
/// the address each datagram was sent to as the server address.
pub(crate) async fn listener_task(shared: Shared, socket: Arc<UdpSocket>, local: SocketAddr) {
    let mut batch = if local.ip().is_unspecified() {
        RecvBatch::with_local_addresses(MAX_DATAGRAM, local.port())
    } else {
        RecvBatch::new(MAX_DATAGRAM)
    };
    let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
    loop {
        let Some(n) = recv_batch(&socket, &mut batch).await else { continue };
        let now = Instant::now();
        // What to relay: the relay socket, the peer, and the data borrowed from the batch.
        let mut relayed: [Outgoing<'_>; BATCH] =
            std::array::from_fn(|_| (None, Datagram::new(&[], unspecified)));
        let sends = {
            let mut core = shared.lock();
            for (i, slot) in relayed.iter_mut().enumerate().take(n) {
                let Some((data, Received { from: Some(client), local: to, .. })) = batch.get(i)
                else {
                    continue;
                };
                // Without packet info (not expected once asked for), the bound address.
                let server = to.unwrap_or(local);
                let datagram =
                    core.server.relay_from_client(now, Transport::Udp, client, server, data);
                if let Some(d) = datagram {
                    if let Some((relay, _)) = core.relays.get(&d.relay) {
                        *slot = (Some(relay.clone()), Datagram::new(d.data, d.peer));
                    }
                }
            }
            core.drain(&shared, now)
        };
        send_grouped(&relayed[..n]).await;
        if !sends.is_empty() {
            send_all(sends).await;
        }
    }
}

/// Where a relayed frame for a client goes.
enum ClientRoute {
    /// A UDP listener, the client, and the source address when the listener is bound to a
    /// wildcard address.
    Udp(Arc<UdpSocket>, SocketAddr, Option<SocketAddr>),
    Stream(StreamWriter),
}

/// Receives from peers on one relay socket, for as long as its allocation lives (the task is
/// aborted when the machine closes the socket).
pub(crate) async fn relay_task(shared: Shared, socket: Arc<UdpSocket>, relay: SocketAddr) {
    let mut batch = RecvBatch::new(RELAY_SLOT);
    let out_slot = RELAY_SLOT + CLIENT_FRAME_OVERHEAD;
    let mut out = vec![0u8; out_slot * BATCH];
    let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
    loop {
        let Some(n) = recv_batch(&socket, &mut batch).await else { continue };
        let now = Instant::now();
        let mut routes: [Option<(ClientRoute, usize)>; BATCH] = std::array::from_fn(|_| None);
        let mut truncated = 0;
        let sends = {
            let mut core = shared.lock();
            for ((i, route), out) in
                routes.iter_mut().enumerate().take(n).zip(out.chunks_exact_mut(out_slot))
            {
                let Some((data, received)) = batch.get(i) else { continue };
                let Some(peer) = received.from else { continue };
                if received.truncated {
                    truncated += 1;
                    continue;
                }
                let Some(f) = core.server.relay_from_peer(now, relay, peer, data, out) else {
                    continue;
                };
                *route = match f.transport {
                    Transport::Udp => core.udp_listener(f.server).map(|(listener, from)| {
                        (ClientRoute::Udp(listener.clone(), f.client, from), f.len)
                    }),
                    Transport::Tcp | Transport::Tls => core
                        .streams
                        .get(&f.five_tuple())
                        .map(|w| (ClientRoute::Stream(w.clone()), f.len)),
                };
            }
            core.truncated_dropped += truncated;
            core.drain(&shared, now)
        };
        if truncated > 0 {
            debug!(%relay, truncated, "peer datagrams longer than {RELAY_SLOT} bytes dropped");
        }
        // UDP frames go out in batches per listener; stream frames are written in order.
        let mut udp: [Outgoing<'_>; BATCH] =
            std::array::from_fn(|_| (None, Datagram::new(&[], unspecified)));
        for ((route, slot), frame) in
            routes.iter().zip(udp.iter_mut()).zip(out.chunks_exact(out_slot))
        {
            match route {
                Some((ClientRoute::Udp(listener, client, from), len)) => {
                    let datagram = Datagram { data: &frame[..*len], to: *client, from: *from };
                    *slot = (Some(listener.clone()), datagram);
                }
                Some((ClientRoute::Stream(writer), len)) => {
                    writer.write(&frame[..*len]).await;
                }
                None => {}
            }
        }
        send_grouped(&udp[..n]).await;
        if !sends.is_empty() {
            send_all(sends).await;
        }
    }
}
