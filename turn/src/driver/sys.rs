//! Socket options and batched UDP I/O (`recvmmsg` / `sendmmsg`, Linux).
//!
//! This is the one module of the crate with `unsafe` code: the safe socket crates expose
//! neither `recvmmsg`/`sendmmsg` nor `IP_MTU_DISCOVER`/`IPV6_DONTFRAG`, so they are called
//! through `libc` here. Each `unsafe` block is a single system call or a cast of a
//! `sockaddr_storage` the kernel filled, with the invariant written beside it. Batching
//! moves up to [`BATCH`] datagrams per system call and lets a task relay a whole batch under
//! one lock of the machine; `benches/relay.rs` measures the relay path it serves.
#![allow(unsafe_code)]

use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tracing::debug;

/// Requested kernel buffer size of every UDP socket (Linux caps it at `net.core.rmem_max`
/// and `wmem_max`).
pub const SOCKET_BUFFER_BYTES: usize = 1 << 20;

/// Datagrams per `recvmmsg` / `sendmmsg` call.
pub const BATCH: usize = 16;

/// Whether relay sockets can set the DF bit (RFC 8656 §7.2 step 4, DONT-FRAGMENT).
pub const DONT_FRAGMENT_SUPPORTED: bool = true;

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

/// Sets the DF bit on everything `socket` sends: `IP_MTU_DISCOVER = IP_PMTUDISC_DO` on
/// IPv4, `IPV6_DONTFRAG = 1` on IPv6.
pub fn set_dont_fragment(socket: &Socket, addr: SocketAddr) -> io::Result<()> {
    let (level, name, value) = if addr.is_ipv4() {
        (libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, libc::IP_PMTUDISC_DO)
    } else {
        (libc::IPPROTO_IPV6, libc::IPV6_DONTFRAG, 1)
    };
    let len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: setsockopt reads `len` bytes from a pointer to a live c_int on the stack; the
    // descriptor belongs to `socket` for the duration of the call.
    let r = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            std::ptr::from_ref(&value).cast::<libc::c_void>(),
            len,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One received datagram of a [`RecvBatch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// Bytes received (at most the slot size).
    pub len: usize,
    /// The sender; `None` for an address family other than IPv4 or IPv6.
    pub from: Option<SocketAddr>,
    /// The datagram was longer than the slot and was cut (`MSG_TRUNC`).
    pub truncated: bool,
}

/// Reused buffers for receiving up to [`BATCH`] datagrams with one `recvmmsg`: [`BATCH`]
/// slots of `slot` bytes, allocated once.
#[derive(Debug)]
pub struct RecvBatch {
    buf: Vec<u8>,
    slot: usize,
    received: [Received; BATCH],
}

impl RecvBatch {
    /// Buffers for datagrams of up to `slot` bytes.
    pub fn new(slot: usize) -> Self {
        let empty = Received { len: 0, from: None, truncated: false };
        Self { buf: vec![0u8; slot * BATCH], slot, received: [empty; BATCH] }
    }

    /// Receives what is waiting on the non-blocking socket `fd`, up to [`BATCH`] datagrams;
    /// `WouldBlock` when there is nothing.
    pub fn recv(&mut self, fd: BorrowedFd<'_>) -> io::Result<usize> {
        // SAFETY: all-zero bytes are a valid sockaddr_storage (a plain C struct of integers).
        let mut names: [libc::sockaddr_storage; BATCH] = unsafe { std::mem::zeroed() };
        let mut iovecs: [libc::iovec; BATCH] =
            std::array::from_fn(|_| libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 });
        for (iov, chunk) in iovecs.iter_mut().zip(self.buf.chunks_exact_mut(self.slot)) {
            iov.iov_base = chunk.as_mut_ptr().cast();
            iov.iov_len = chunk.len();
        }
        // SAFETY: all-zero bytes are a valid mmsghdr (null pointers, zero lengths and flags).
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for ((h, name), iov) in headers.iter_mut().zip(names.iter_mut()).zip(iovecs.iter_mut()) {
            h.msg_hdr.msg_name = std::ptr::from_mut(name).cast();
            h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_iov = std::ptr::from_mut(iov);
            h.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every header points at a live sockaddr_storage of the stated length and at
        // one iovec covering a distinct slot of `self.buf`; all of them outlive the call,
        // and the kernel writes at most `BATCH` headers.
        let n = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                headers.as_mut_ptr(),
                BATCH as libc::c_uint,
                0,
                std::ptr::null_mut(),
            )
        };
        let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
        for ((r, h), name) in self.received.iter_mut().zip(&headers).zip(&names).take(n) {
            *r = Received {
                len: (h.msg_len as usize).min(self.slot),
                from: socket_addr(name),
                truncated: h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
            };
        }
        Ok(n)
    }

    /// Datagram `i` of the last [`recv`](Self::recv): its bytes and what is known of it.
    pub fn get(&self, i: usize) -> Option<(&[u8], Received)> {
        let received = *self.received.get(i)?;
        let start = i * self.slot;
        Some((self.buf.get(start..start + received.len)?, received))
    }
}

/// The socket address the kernel wrote into `name`.
fn socket_addr(name: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(name.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which is smaller than
            // sockaddr_storage and needs no stricter alignment.
            let sin = unsafe { &*std::ptr::from_ref(name).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &*std::ptr::from_ref(name).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                u32::from_be(sin6.sin6_flowinfo),
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Sends up to [`BATCH`] datagrams from the non-blocking socket `fd` with one `sendmmsg`;
/// returns how many went (fewer when the socket buffer fills). An error means the first
/// one could not be sent.
pub fn send_batch(fd: BorrowedFd<'_>, messages: &[(&[u8], SocketAddr)]) -> io::Result<usize> {
    let n = messages.len().min(BATCH);
    let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
    let names: [SockAddr; BATCH] =
        std::array::from_fn(|i| SockAddr::from(messages.get(i).map_or(unspecified, |m| m.1)));
    let mut iovecs: [libc::iovec; BATCH] = std::array::from_fn(|i| {
        let data = messages.get(i).map_or(&[][..], |m| m.0);
        libc::iovec { iov_base: data.as_ptr().cast_mut().cast(), iov_len: data.len() }
    });
    // SAFETY: all-zero bytes are a valid mmsghdr.
    let mut headers: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for ((h, name), iov) in headers.iter_mut().zip(&names).zip(iovecs.iter_mut()) {
        h.msg_hdr.msg_name = name.as_ptr().cast_mut().cast();
        h.msg_hdr.msg_namelen = name.len();
        h.msg_hdr.msg_iov = std::ptr::from_mut(iov);
        h.msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: the first `n` headers point at live socket addresses and at iovecs over the
    // callers' slices (only read by the kernel); all outlive the call.
    let sent =
        unsafe { libc::sendmmsg(fd.as_raw_fd(), headers.as_mut_ptr(), n as libc::c_uint, 0) };
    usize::try_from(sent).map_err(|_| io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn batches_round_trip_on_loopback() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_nonblocking(true).unwrap();
        let to = b.local_addr().unwrap();
        let payloads: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; usize::from(i) * 7]).collect();
        let messages: Vec<(&[u8], SocketAddr)> = payloads.iter().map(|p| (&p[..], to)).collect();
        assert_eq!(send_batch(a.as_fd(), &messages).unwrap(), BATCH);
        assert_eq!(send_batch(a.as_fd(), &messages[BATCH..]).unwrap(), 20 - BATCH);

        // Slots of 64 bytes: datagrams longer than that are cut and say so.
        let mut batch = RecvBatch::new(64);
        let mut seen = Vec::new();
        while seen.len() < 20 {
            let n = batch.recv(b.as_fd()).unwrap();
            for i in 0..n {
                let (data, received) = batch.get(i).unwrap();
                assert_eq!(received.from, Some(a.local_addr().unwrap()));
                let expected = &payloads[seen.len()];
                assert_eq!(received.truncated, expected.len() > 64);
                assert_eq!(data, &expected[..expected.len().min(64)]);
                seen.push(data.len());
            }
        }
        let err = batch.recv(b.as_fd()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn dont_fragment_sets_on_both_families() {
        let v4 = udp_socket("127.0.0.1:0".parse().unwrap()).unwrap();
        set_dont_fragment(&v4, "127.0.0.1:0".parse().unwrap()).unwrap();
        if let Ok(v6) = udp_socket("[::1]:0".parse().unwrap()) {
            set_dont_fragment(&v6, "[::1]:0".parse().unwrap()).unwrap();
        }
    }
}
