//! The media sockets: one UDP socket per worker and per listen address, all bound to the
//! same address with `SO_REUSEPORT`, so the kernel spreads 5-tuples over the workers (it
//! hashes each 5-tuple to one socket of the group, and keeps doing so while the group does
//! not change).
//!
//! Every socket has `IPV6_V6ONLY` on IPv6 (one socket per family, never IPv4-mapped
//! addresses), large kernel buffers, and is non-blocking for tokio.
//!
//! A listen port of 0 works: the first socket of an address is bound alone (without
//! `SO_REUSEPORT`, so the bind fails if anything else, even another `sfu` with
//! `SO_REUSEPORT`, already holds the port), its port is read back, it is closed and the
//! worker group binds to that port. Between the probe's close and the group's bind another
//! process could take the port; the group's bind then fails with "address in use" instead of
//! silently sharing the port.

use std::io;
use std::net::{SocketAddr, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};
use tracing::{debug, warn};

/// Requested kernel receive and send buffer size per socket. Linux caps it at
/// `net.core.rmem_max` / `wmem_max`; the effective size is logged at debug level.
pub const SOCKET_BUFFER_BYTES: usize = 4 << 20;

/// The bound media sockets.
#[derive(Debug)]
pub struct BoundSockets {
    /// The real bound addresses (ports resolved), in the order of the configuration minus
    /// skipped ones.
    pub local_addrs: Vec<SocketAddr>,
    /// `per_worker[w][i]` is worker `w`'s socket bound to `local_addrs[i]`.
    pub per_worker: Vec<Vec<UdpSocket>>,
}

/// Why the media sockets could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot bind UDP {address}: {source} ({hint})")]
pub struct BindError {
    /// The address that failed.
    pub address: SocketAddr,
    /// The OS error.
    #[source]
    pub source: io::Error,
    /// What to do about it.
    pub hint: &'static str,
}

/// Binds `workers` sockets to each of `addrs`. An IPv6 address whose family or address is
/// unavailable is skipped with a warning when `skip_unavailable_ipv6` is set and another
/// address was bound.
pub fn bind(
    addrs: &[SocketAddr],
    workers: usize,
    skip_unavailable_ipv6: bool,
) -> Result<BoundSockets, BindError> {
    let workers = workers.max(1);
    let mut local_addrs = Vec::with_capacity(addrs.len());
    let mut per_address: Vec<Vec<UdpSocket>> = Vec::with_capacity(addrs.len());
    let mut skipped = Vec::new();
    for &address in addrs {
        match bind_group(address, workers) {
            Ok((bound, sockets)) => {
                local_addrs.push(bound);
                per_address.push(sockets);
            }
            Err(source) if skip_unavailable_ipv6 && address.is_ipv6() && unavailable(&source) => {
                skipped.push((address, source));
            }
            Err(source) => return Err(bind_error(address, source)),
        }
    }
    if local_addrs.is_empty() {
        if let Some((address, source)) = skipped.pop() {
            return Err(bind_error(address, source));
        }
    }
    for (address, source) in skipped {
        warn!(%address, error = %source, "IPv6 unavailable: media on IPv4 only");
    }
    // Transpose to one list per worker.
    let mut per_worker: Vec<Vec<UdpSocket>> =
        (0..workers).map(|_| Vec::with_capacity(local_addrs.len())).collect();
    for sockets in per_address {
        for (w, socket) in sockets.into_iter().enumerate() {
            if let Some(list) = per_worker.get_mut(w) {
                list.push(socket);
            }
        }
    }
    Ok(BoundSockets { local_addrs, per_worker })
}

fn bind_error(address: SocketAddr, source: io::Error) -> BindError {
    let hint = match source.kind() {
        io::ErrorKind::AddrInUse => "another process holds this port: stop it or pick another port",
        io::ErrorKind::AddrNotAvailable => "this host has no such address: pick one of its own",
        io::ErrorKind::PermissionDenied => "ports below 1024 need privileges: pick a higher port",
        _ => "check the address and the host's network configuration",
    };
    BindError { address, source, hint }
}

/// The address or the whole family is missing on this host.
fn unavailable(e: &io::Error) -> bool {
    // EAFNOSUPPORT is 97 on Linux; std maps it to `Unsupported` on recent toolchains.
    matches!(e.kind(), io::ErrorKind::AddrNotAvailable | io::ErrorKind::Unsupported)
        || e.raw_os_error() == Some(97)
}

/// The probe, then the group of `workers` reuse-port sockets on the probe's port.
fn bind_group(address: SocketAddr, workers: usize) -> io::Result<(SocketAddr, Vec<UdpSocket>)> {
    let probe = new_socket(address, false)?;
    probe.bind(&address.into())?;
    let bound = probe
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("bound address is not an IP address"))?;
    drop(probe);
    let mut sockets = Vec::with_capacity(workers);
    for _ in 0..workers {
        let socket = new_socket(bound, true)?;
        socket.bind(&bound.into())?;
        sockets.push(socket.into());
    }
    Ok((bound, sockets))
}

fn new_socket(address: SocketAddr, reuse_port: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(address), Type::DGRAM, Some(Protocol::UDP))?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    // Best effort: the kernel caps the sizes, and a smaller buffer only costs drops under load.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER_BYTES);
    if reuse_port {
        debug!(
            %address,
            recv_buffer = socket.recv_buffer_size().unwrap_or(0),
            send_buffer = socket.send_buffer_size().unwrap_or(0),
            "UDP socket"
        );
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv6_available() -> bool {
        UdpSocket::bind("[::1]:0").is_ok()
    }

    #[test]
    fn port_zero_gives_one_port_per_address_for_every_worker() {
        let addrs: Vec<SocketAddr> =
            vec!["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()];
        let bound = bind(&addrs, 3, true).unwrap();
        let families = if ipv6_available() { 2 } else { 1 };
        assert_eq!(bound.local_addrs.len(), families);
        assert_eq!(bound.per_worker.len(), 3);
        for (i, local) in bound.local_addrs.iter().enumerate() {
            assert_ne!(local.port(), 0);
            for worker in &bound.per_worker {
                assert_eq!(worker[i].local_addr().unwrap(), *local);
            }
        }
    }

    #[test]
    fn group_sockets_all_receive_for_the_address() {
        // Datagrams from many source ports land on the group; every one is received by one
        // of the sockets (which one is the kernel's hash).
        let bound = bind(&["127.0.0.1:0".parse().unwrap()], 2, false).unwrap();
        let target = bound.local_addrs[0];
        let senders: Vec<UdpSocket> =
            (0..16).map(|_| UdpSocket::bind("127.0.0.1:0").unwrap()).collect();
        for s in &senders {
            s.send_to(b"x", target).unwrap();
        }
        let mut got = 0;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut buf = [0u8; 16];
        while got < senders.len() && std::time::Instant::now() < deadline {
            for worker in &bound.per_worker {
                while worker[0].recv_from(&mut buf).is_ok() {
                    got += 1;
                }
            }
            std::thread::yield_now();
        }
        assert_eq!(got, senders.len());
    }

    #[test]
    fn a_taken_port_is_refused_even_with_reuseport() {
        let first = bind(&["127.0.0.1:0".parse().unwrap()], 2, false).unwrap();
        let err = bind(&first.local_addrs, 2, false).unwrap_err();
        assert_eq!(err.address, first.local_addrs[0]);
        assert_eq!(err.source.kind(), io::ErrorKind::AddrInUse);
        assert!(err.to_string().contains("another process"));
    }

    #[test]
    fn missing_ipv6_is_skipped_only_when_allowed() {
        // 2001:db8::/32 is documentation space: never configured on a test host.
        let addrs: Vec<SocketAddr> =
            vec!["127.0.0.1:0".parse().unwrap(), "[2001:db8::1]:0".parse().unwrap()];
        let bound = bind(&addrs, 1, true).unwrap();
        assert_eq!(bound.local_addrs.len(), 1);
        assert!(bound.local_addrs[0].is_ipv4());
        assert!(bind(&addrs, 1, false).is_err());
        // Nothing else bound: the IPv6 error is reported.
        assert!(bind(&addrs[1..], 1, true).is_err());
    }
}
