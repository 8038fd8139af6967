//! Socket options and batched UDP I/O (`recvmmsg` / `sendmmsg`, segmented sends with
//! `UDP_SEGMENT`, Linux).
//!
//! This is the one module of the crate with `unsafe` code: the safe socket crates expose
//! neither `recvmmsg`/`sendmmsg`, `UDP_SEGMENT` nor `IP_MTU_DISCOVER`/`IPV6_DONTFRAG`, so
//! they are called through `libc` here. Each `unsafe` block is a single system call, a cast
//! of a `sockaddr_storage` the kernel filled, or the writing of one control message into a
//! buffer of ours, with the invariant written beside it. Batching moves up to [`BATCH`]
//! datagrams per system call and lets a task relay a whole batch under one lock of the
//! machine; a run of datagrams of one size to one destination (the usual relayed media
//! stream) goes as one segmented send, which the kernel routes and builds once and cuts
//! into datagrams. `benches/relay.rs` measures the relay path these serve.
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

/// Bytes one segmented send may carry in all: below the 65 507-byte UDP payload limit of
/// IPv4, which the kernel checks on the whole.
pub const SEGMENTED_MAX_BYTES: usize = 65_000;

/// Whether the kernel can segment UDP sends (`UDP_SEGMENT`, Linux 4.18): probed once on a
/// scratch socket, since an older kernel would ignore the control message and send the
/// whole buffer as one datagram.
pub fn segmentation_supported() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        let Ok(socket) = udp_socket(SocketAddr::from(([127, 0, 0, 1], 0))) else {
            return false;
        };
        let value: libc::c_int = 1200;
        // SAFETY: setsockopt reads a live c_int of the stated length; the descriptor
        // belongs to `socket` for the duration of the call.
        let r = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_UDP,
                libc::UDP_SEGMENT,
                std::ptr::from_ref(&value).cast::<libc::c_void>(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        r == 0
    })
}

/// How many of `messages`, from the first, can leave as one segmented send
/// ([`send_segmented`]): the same destination, each as long as the first except a shorter
/// last one, at most [`BATCH`] of them and [`SEGMENTED_MAX_BYTES`] in all. An empty first
/// message runs alone.
pub fn segmented_run(messages: &[(&[u8], SocketAddr)]) -> usize {
    let Some(&(first, to)) = messages.first() else { return 0 };
    let size = first.len();
    if size == 0 {
        return 1;
    }
    let mut total = 0;
    let mut run = 0;
    for &(data, dest) in messages.iter().take(BATCH) {
        if dest != to
            || data.len() > size
            || data.is_empty()
            || total + data.len() > SEGMENTED_MAX_BYTES
        {
            break;
        }
        total += data.len();
        run += 1;
        if data.len() < size {
            break;
        }
    }
    run
}

/// Sends `messages` (a [`segmented_run`], at least one) from the non-blocking socket `fd` with
/// one `sendmsg` carrying `UDP_SEGMENT`: the kernel builds one buffer and cuts it into
/// datagrams of the first message's length, which costs one route lookup and one trip
/// through the stack instead of one per datagram. All or nothing. Only when
/// [`segmentation_supported`].
pub fn send_segmented(fd: BorrowedFd<'_>, messages: &[(&[u8], SocketAddr)]) -> io::Result<()> {
    let n = messages.len().min(BATCH);
    let Some(&(first, to)) = messages.first() else { return Ok(()) };
    let name = SockAddr::from(to);
    let mut iovecs: [libc::iovec; BATCH] = std::array::from_fn(|i| {
        let data = messages.get(i).map_or(&[][..], |m| m.0);
        libc::iovec { iov_base: data.as_ptr().cast_mut().cast(), iov_len: data.len() }
    });
    let segment =
        u16::try_from(first.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // Room for one control message with a u16, aligned as a cmsghdr needs (8 bytes).
    let mut control = [0u64; 4];
    // SAFETY: CMSG_SPACE only computes a length from its argument.
    let space = unsafe { libc::CMSG_SPACE(size_of::<u16>() as libc::c_uint) } as usize;
    debug_assert!(space <= size_of::<[u64; 4]>());
    // SAFETY: all-zero bytes are a valid msghdr.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_name = name.as_ptr().cast_mut().cast();
    header.msg_namelen = name.len();
    header.msg_iov = iovecs.as_mut_ptr();
    header.msg_iovlen = n;
    header.msg_control = control.as_mut_ptr().cast();
    header.msg_controllen = space;
    // SAFETY: the header points at `control`, which is 8-byte aligned and at least `space`
    // bytes long, so CMSG_FIRSTHDR returns a pointer to its start, with room for a cmsghdr
    // followed by the u16 written through CMSG_DATA (unaligned write: CMSG_DATA promises
    // no alignment for the payload).
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&header);
        (*cmsg).cmsg_level = libc::SOL_UDP;
        (*cmsg).cmsg_type = libc::UDP_SEGMENT;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as libc::c_uint) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), segment);
    }
    // SAFETY: the header points at a live socket address, `n` iovecs over the callers'
    // slices (only read by the kernel) and the control buffer above; all outlive the call.
    let sent = unsafe { libc::sendmsg(fd.as_raw_fd(), &header, 0) };
    if sent < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Puts the calling thread under `SCHED_BATCH` (Linux). Woken by a datagram, such a thread
/// does not preempt the thread running on its CPU: it runs when that one blocks or its
/// time slice ends, and then finds the datagrams that arrived meanwhile waiting, relayed as
/// one batch. Where turn shares a core with other work, this trades up to a time slice of
/// latency for throughput (a relay that preempts its sender at each datagram relays one
/// datagram per wake-up, with a system call or two each); on an idle core it changes
/// nothing. The driver does not call it:
/// the binary does on its runtime threads when asked (`--batch-scheduling`).
pub fn set_batch_scheduling() -> io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler reads a live sched_param; pid 0 is the calling thread.
    let r = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
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
    fn segmented_runs_stop_at_another_destination_size_or_the_byte_limit() {
        let a: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2000".parse().unwrap();
        let big = [0u8; 1200];
        let small = [0u8; 100];
        assert_eq!(segmented_run(&[]), 0);
        assert_eq!(segmented_run(&[(&big, a), (&big, a), (&big, b)]), 2);
        // A shorter message ends the run and belongs to it; a longer one does not.
        assert_eq!(segmented_run(&[(&big, a), (&small, a), (&small, a)]), 2);
        assert_eq!(segmented_run(&[(&small, a), (&big, a)]), 1);
        assert_eq!(segmented_run(&[(&[], a), (&[], a)]), 1);
        let many = vec![(&big[..], a); 40];
        assert_eq!(segmented_run(&many), BATCH);
        let huge = [0u8; 9000];
        let many = vec![(&huge[..], a); BATCH];
        assert_eq!(segmented_run(&many), SEGMENTED_MAX_BYTES / 9000);
    }

    #[test]
    fn segmented_send_arrives_as_separate_datagrams() {
        if !segmentation_supported() {
            eprintln!("UDP_SEGMENT not supported by this kernel: nothing to check");
            return;
        }
        let a = udp_socket("127.0.0.1:0".parse().unwrap()).unwrap();
        a.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
        let a: std::net::UdpSocket = a.into();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
        let to = b.local_addr().unwrap();
        let payloads: Vec<Vec<u8>> =
            (0..6u8).map(|i| vec![i; if i == 5 { 40 } else { 300 }]).collect();
        let messages: Vec<(&[u8], SocketAddr)> = payloads.iter().map(|p| (&p[..], to)).collect();
        assert_eq!(segmented_run(&messages), 6);
        send_segmented(a.as_fd(), &messages).unwrap();
        let mut buf = [0u8; 2048];
        for expected in &payloads {
            let (n, from) = b.recv_from(&mut buf).unwrap();
            assert_eq!(from, a.local_addr().unwrap());
            assert_eq!(&buf[..n], &expected[..]);
        }
    }

    #[test]
    fn batch_scheduling_applies_to_the_calling_thread_only() {
        let policy = || {
            // SAFETY: sched_getscheduler takes no pointer; pid 0 is the calling thread.
            unsafe { libc::sched_getscheduler(0) }
        };
        let before = policy();
        let inside = std::thread::spawn(move || {
            set_batch_scheduling().unwrap();
            policy()
        });
        assert_eq!(inside.join().unwrap(), libc::SCHED_BATCH);
        assert_eq!(policy(), before);
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
