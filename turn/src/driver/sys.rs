//! Socket options and batched UDP I/O (`recvmmsg` / `sendmmsg`, segmented sends with
//! `UDP_SEGMENT`, source addresses with `IP_PKTINFO` / `IPV6_PKTINFO`, Linux).
//!
//! This is the one module of the crate with `unsafe` code: the safe socket crates expose
//! neither `recvmmsg`/`sendmmsg`, `UDP_SEGMENT`, packet info control messages nor
//! `IP_MTU_DISCOVER`/`IPV6_DONTFRAG`, so they are called through `libc` here. Each `unsafe`
//! block is a single system call, a cast of a `sockaddr_storage` the kernel filled, or the
//! reading or writing of one control message header in a buffer of ours, with the invariant
//! written beside it.
//!
//! A socket bound to a wildcard address (`0.0.0.0`, `::`) receives datagrams sent to any
//! of the host's addresses. With [`set_recv_pktinfo`] the kernel tells, for each one, the
//! address it was sent to ([`Received::local`]), and a [`Datagram`] with a
//! [`from`](Datagram::from) address leaves from exactly that address, so a client always
//! hears back from the address it talks to. Sockets bound to a concrete address use
//! neither: no control buffer is given to the kernel, none is built. Batching moves up to [`BATCH`]
//! datagrams per system call and lets a task relay a whole batch under one lock of the
//! machine; a run of datagrams of one size to one destination (the usual relayed media
//! stream) goes as one segmented send, which the kernel routes and builds once and cuts
//! into datagrams. `benches/relay.rs` measures the relay path these serve.
#![allow(unsafe_code)]

use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

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
    if addr.is_ipv4() {
        set_int_option(
            socket.as_fd(),
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            libc::IP_PMTUDISC_DO,
        )
    } else {
        set_int_option(socket.as_fd(), libc::IPPROTO_IPV6, libc::IPV6_DONTFRAG, 1)
    }
}

/// Asks the kernel to tell the destination address of every datagram the socket receives
/// (`IP_PKTINFO` on IPv4, `IPV6_RECVPKTINFO` on IPv6, by the family of `addr`, its bound
/// address): for a socket bound to a wildcard address, read with a [`RecvBatch`] made by
/// [`RecvBatch::with_local_addresses`].
pub fn set_recv_pktinfo(socket: BorrowedFd<'_>, addr: SocketAddr) -> io::Result<()> {
    if addr.is_ipv4() {
        set_int_option(socket, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)
    } else {
        set_int_option(socket, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)
    }
}

/// `setsockopt` with an integer value.
fn set_int_option(
    socket: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    let len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: setsockopt reads `len` bytes from a pointer to a live c_int on the stack; the
    // descriptor is borrowed for the duration of the call.
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

/// Bytes of control messages one datagram may carry: a `UDP_SEGMENT` size and an
/// `IPV6_PKTINFO` (the larger packet info) on sending, one packet info on receiving.
const CONTROL_BYTES: usize = 64;

/// A control message buffer, aligned as a `cmsghdr` needs (8 bytes at most on Linux).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug)]
struct Control([u8; CONTROL_BYTES]);

impl Control {
    const EMPTY: Self = Self([0; CONTROL_BYTES]);
}

/// `CMSG_LEN(len)`: a control message header followed by `len` payload bytes.
const fn cmsg_len(len: usize) -> usize {
    // SAFETY: CMSG_LEN only computes a length from its argument.
    unsafe { libc::CMSG_LEN(len as libc::c_uint) as usize }
}

/// `CMSG_SPACE(len)`: what a control message with `len` payload bytes takes in a buffer,
/// padding included.
const fn cmsg_space(len: usize) -> usize {
    // SAFETY: CMSG_SPACE only computes a length from its argument.
    unsafe { libc::CMSG_SPACE(len as libc::c_uint) as usize }
}

const _: () = assert!(
    cmsg_space(size_of::<u16>()) + cmsg_space(size_of::<libc::in6_pktinfo>()) <= CONTROL_BYTES
);
const _: () = assert!(cmsg_space(size_of::<libc::in_pktinfo>()) <= CONTROL_BYTES);

/// Appends one control message (`level`, `kind`, `payload`) at byte `at` of `control`;
/// returns where the next one goes, or `None` (nothing written) when it does not fit.
/// `at` must be a value returned by an earlier call, or 0.
fn put_cmsg(
    control: &mut Control,
    at: usize,
    level: libc::c_int,
    kind: libc::c_int,
    payload: &[u8],
) -> Option<usize> {
    let end = at.checked_add(cmsg_space(payload.len()))?;
    if end > CONTROL_BYTES {
        return None;
    }
    // SAFETY: all-zero bytes are a valid cmsghdr (integers, and padding on some targets).
    let mut header: libc::cmsghdr = unsafe { std::mem::zeroed() };
    header.cmsg_len = cmsg_len(payload.len()) as _;
    header.cmsg_level = level;
    header.cmsg_type = kind;
    let bytes = &mut control.0[at..end];
    // SAFETY: `bytes` is at least CMSG_SPACE(payload) long, which holds a cmsghdr; the write
    // is unaligned, so the place needs no alignment (it is aligned anyway: `at` is a sum
    // of CMSG_SPACE values from the 8-byte aligned start).
    unsafe { std::ptr::write_unaligned(bytes.as_mut_ptr().cast::<libc::cmsghdr>(), header) };
    bytes[cmsg_len(0)..cmsg_len(payload.len())].copy_from_slice(payload);
    Some(end)
}

/// Appends the packet info that makes a datagram leave from `from`'s IP (`IP_PKTINFO`
/// with `ipi_spec_dst`, or `IPV6_PKTINFO` with the scope ID of an IPv6 address as the
/// interface; the port is the socket's).
fn put_pktinfo(control: &mut Control, at: usize, from: SocketAddr) -> Option<usize> {
    match from {
        SocketAddr::V4(v4) => {
            let mut info = [0u8; size_of::<libc::in_pktinfo>()];
            let dst = std::mem::offset_of!(libc::in_pktinfo, ipi_spec_dst);
            info[dst..dst + 4].copy_from_slice(&v4.ip().octets());
            put_cmsg(control, at, libc::IPPROTO_IP, libc::IP_PKTINFO, &info)
        }
        SocketAddr::V6(v6) => {
            let mut info = [0u8; size_of::<libc::in6_pktinfo>()];
            let addr = std::mem::offset_of!(libc::in6_pktinfo, ipi6_addr);
            info[addr..addr + 16].copy_from_slice(&v6.ip().octets());
            let index = std::mem::offset_of!(libc::in6_pktinfo, ipi6_ifindex);
            info[index..index + 4].copy_from_slice(&v6.scope_id().to_ne_bytes());
            put_cmsg(control, at, libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &info)
        }
    }
}

/// The control messages in `control` (the bytes the kernel wrote): level, type and payload
/// of each. Stops at the first header that does not fit.
fn cmsgs(control: &[u8]) -> impl Iterator<Item = (libc::c_int, libc::c_int, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let rest = control.get(at..)?;
        if rest.len() < size_of::<libc::cmsghdr>() {
            return None;
        }
        // SAFETY: `rest` holds at least a cmsghdr's bytes, read unaligned; any bytes are a
        // valid cmsghdr (integers).
        let header = unsafe { std::ptr::read_unaligned(rest.as_ptr().cast::<libc::cmsghdr>()) };
        let len = header.cmsg_len as usize;
        let payload = rest.get(cmsg_len(0)..len)?;
        // The next header starts at the aligned end of this one: CMSG_SPACE of the payload.
        at += cmsg_space(payload.len());
        Some((header.cmsg_level, header.cmsg_type, payload))
    })
}

/// The local address a datagram was sent to, from its packet info control message, with
/// `port`: `ipi_spec_dst` of `IP_PKTINFO` (the destination address of a unicast datagram;
/// for a broadcast one, the address a reply leaves from), or `ipi6_addr` of `IPV6_PKTINFO`
/// with the interface as scope ID for a link-local address. `None` without either.
fn local_address(control: &[u8], port: u16) -> Option<SocketAddr> {
    for (level, kind, payload) in cmsgs(control) {
        match (level, kind) {
            (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                let dst = std::mem::offset_of!(libc::in_pktinfo, ipi_spec_dst);
                let octets: [u8; 4] = payload.get(dst..dst + 4)?.try_into().ok()?;
                return Some(SocketAddr::from((octets, port)));
            }
            (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                let addr = std::mem::offset_of!(libc::in6_pktinfo, ipi6_addr);
                let octets: [u8; 16] = payload.get(addr..addr + 16)?.try_into().ok()?;
                let index = std::mem::offset_of!(libc::in6_pktinfo, ipi6_ifindex);
                let index: [u8; 4] = payload.get(index..index + 4)?.try_into().ok()?;
                let ip = Ipv6Addr::from(octets);
                let scope = if ip.is_unicast_link_local() { u32::from_ne_bytes(index) } else { 0 };
                return Some(SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope)));
            }
            _ => {}
        }
    }
    None
}

/// One received datagram of a [`RecvBatch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// Bytes received (at most the slot size).
    pub len: usize,
    /// The sender; `None` for an address family other than IPv4 or IPv6.
    pub from: Option<SocketAddr>,
    /// The local address the datagram was sent to, with the socket's port: only from a
    /// batch made with [`RecvBatch::with_local_addresses`] on a socket with
    /// [`set_recv_pktinfo`]; `None` otherwise.
    pub local: Option<SocketAddr>,
    /// The datagram was longer than the slot and was cut (`MSG_TRUNC`).
    pub truncated: bool,
}

/// Reused buffers for receiving up to [`BATCH`] datagrams with one `recvmmsg`: [`BATCH`]
/// slots of `slot` bytes, and for a socket bound to a wildcard address one control buffer
/// per slot, allocated once.
#[derive(Debug)]
pub struct RecvBatch {
    buf: Vec<u8>,
    slot: usize,
    received: [Received; BATCH],
    /// One control buffer per slot, empty when local addresses are not asked for.
    controls: Vec<Control>,
    /// The socket's port, given with local addresses.
    port: u16,
}

impl RecvBatch {
    /// Buffers for datagrams of up to `slot` bytes.
    pub fn new(slot: usize) -> Self {
        let empty = Received { len: 0, from: None, local: None, truncated: false };
        Self {
            buf: vec![0u8; slot * BATCH],
            slot,
            received: [empty; BATCH],
            controls: Vec::new(),
            port: 0,
        }
    }

    /// Buffers for datagrams of up to `slot` bytes that also read the local address each
    /// one was sent to ([`Received::local`], with `port`): for a socket bound to a wildcard
    /// address on `port`, with [`set_recv_pktinfo`].
    pub fn with_local_addresses(slot: usize, port: u16) -> Self {
        Self { controls: vec![Control::EMPTY; BATCH], port, ..Self::new(slot) }
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
        for (h, control) in headers.iter_mut().zip(self.controls.iter_mut()) {
            h.msg_hdr.msg_control = control.0.as_mut_ptr().cast();
            h.msg_hdr.msg_controllen = CONTROL_BYTES;
        }
        // SAFETY: every header points at a live sockaddr_storage of the stated length, at
        // one iovec covering a distinct slot of `self.buf` and, with local addresses, at a
        // distinct control buffer of `self.controls` of the stated length; all of them
        // outlive the call, and the kernel writes at most `BATCH` headers.
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
        for (i, ((r, h), name)) in
            self.received.iter_mut().zip(&headers).zip(&names).take(n).enumerate()
        {
            let local = self.controls.get(i).and_then(|control| {
                let len = h.msg_hdr.msg_controllen;
                local_address(control.0.get(..len.min(CONTROL_BYTES))?, self.port)
            });
            *r = Received {
                len: (h.msg_len as usize).min(self.slot),
                from: socket_addr(name),
                local,
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

/// One datagram to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// Its bytes.
    pub data: &'a [u8],
    /// Its destination.
    pub to: SocketAddr,
    /// From a socket bound to a wildcard address, the local address it leaves from (its IP,
    /// and for IPv6 its scope ID as the interface; the port is the socket's), sent as a
    /// packet info control message. `None`: the socket's own address, or the one the
    /// kernel picks for the route.
    pub from: Option<SocketAddr>,
}

impl<'a> Datagram<'a> {
    /// `data` to `to`, from the socket's own address.
    pub const fn new(data: &'a [u8], to: SocketAddr) -> Self {
        Self { data, to, from: None }
    }
}

/// Sends up to [`BATCH`] datagrams from the non-blocking socket `fd` with one `sendmmsg`;
/// returns how many went (fewer when the socket buffer fills). An error means the first
/// one could not be sent. Control buffers are built only when a datagram has a
/// [`from`](Datagram::from) address.
pub fn send_batch(fd: BorrowedFd<'_>, messages: &[Datagram<'_>]) -> io::Result<usize> {
    let n = messages.len().min(BATCH);
    if messages[..n].iter().any(|m| m.from.is_some()) {
        let mut controls = [Control::EMPTY; BATCH];
        send_batch_with(fd, &messages[..n], Some(&mut controls))
    } else {
        send_batch_with(fd, &messages[..n], None)
    }
}

/// [`send_batch`] of at most [`BATCH`] messages, with the control buffers to fill when
/// some have a source address.
fn send_batch_with(
    fd: BorrowedFd<'_>,
    messages: &[Datagram<'_>],
    mut controls: Option<&mut [Control; BATCH]>,
) -> io::Result<usize> {
    let n = messages.len().min(BATCH);
    let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
    let names: [SockAddr; BATCH] =
        std::array::from_fn(|i| SockAddr::from(messages.get(i).map_or(unspecified, |m| m.to)));
    let mut iovecs: [libc::iovec; BATCH] = std::array::from_fn(|i| {
        let data = messages.get(i).map_or(&[][..], |m| m.data);
        libc::iovec { iov_base: data.as_ptr().cast_mut().cast(), iov_len: data.len() }
    });
    // SAFETY: all-zero bytes are a valid mmsghdr.
    let mut headers: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for (i, ((h, name), iov)) in headers.iter_mut().zip(&names).zip(iovecs.iter_mut()).enumerate() {
        h.msg_hdr.msg_name = name.as_ptr().cast_mut().cast();
        h.msg_hdr.msg_namelen = name.len();
        h.msg_hdr.msg_iov = std::ptr::from_mut(iov);
        h.msg_hdr.msg_iovlen = 1;
        if let (Some(controls), Some(from)) =
            (controls.as_deref_mut(), messages.get(i).and_then(|m| m.from))
        {
            let control = &mut controls[i];
            let len = put_pktinfo(control, 0, from)
                .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
            h.msg_hdr.msg_control = control.0.as_mut_ptr().cast();
            h.msg_hdr.msg_controllen = len;
        }
    }
    // SAFETY: the first `n` headers point at live socket addresses, at iovecs over the
    // callers' slices (only read by the kernel) and possibly at a control buffer of
    // `controls` holding the stated length of control messages; all outlive the call.
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
        set_int_option(socket.as_fd(), libc::SOL_UDP, libc::UDP_SEGMENT, 1200).is_ok()
    })
}

/// How many of `messages`, from the first, can leave as one segmented send
/// ([`send_segmented`]): the same destination and source, each as long as the first except
/// a shorter last one, at most [`BATCH`] of them and [`SEGMENTED_MAX_BYTES`] in all. An
/// empty first message runs alone.
pub fn segmented_run(messages: &[Datagram<'_>]) -> usize {
    let Some(first) = messages.first() else { return 0 };
    let size = first.data.len();
    if size == 0 {
        return 1;
    }
    let mut total = 0;
    let mut run = 0;
    for m in messages.iter().take(BATCH) {
        if m.to != first.to
            || m.from != first.from
            || m.data.len() > size
            || m.data.is_empty()
            || total + m.data.len() > SEGMENTED_MAX_BYTES
        {
            break;
        }
        total += m.data.len();
        run += 1;
        if m.data.len() < size {
            break;
        }
    }
    run
}

/// Sends `messages` (a [`segmented_run`], at least one) from the non-blocking socket `fd` with
/// one `sendmsg` carrying `UDP_SEGMENT` (and the packet info of the first message's
/// [`from`](Datagram::from) address, when it has one): the kernel builds one buffer and
/// cuts it into datagrams of the first message's length, which costs one route lookup and
/// one trip through the stack instead of one per datagram. All or nothing. Only when
/// [`segmentation_supported`].
pub fn send_segmented(fd: BorrowedFd<'_>, messages: &[Datagram<'_>]) -> io::Result<()> {
    let n = messages.len().min(BATCH);
    let Some(first) = messages.first() else { return Ok(()) };
    let name = SockAddr::from(first.to);
    let mut iovecs: [libc::iovec; BATCH] = std::array::from_fn(|i| {
        let data = messages.get(i).map_or(&[][..], |m| m.data);
        libc::iovec { iov_base: data.as_ptr().cast_mut().cast(), iov_len: data.len() }
    });
    let segment = u16::try_from(first.data.len())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut control = Control::EMPTY;
    let too_long = || io::Error::from(io::ErrorKind::InvalidInput);
    let mut len =
        put_cmsg(&mut control, 0, libc::SOL_UDP, libc::UDP_SEGMENT, &segment.to_ne_bytes())
            .ok_or_else(too_long)?;
    if let Some(from) = first.from {
        len = put_pktinfo(&mut control, len, from).ok_or_else(too_long)?;
    }
    // SAFETY: all-zero bytes are a valid msghdr.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_name = name.as_ptr().cast_mut().cast();
    header.msg_namelen = name.len();
    header.msg_iov = iovecs.as_mut_ptr();
    header.msg_iovlen = n;
    header.msg_control = control.0.as_mut_ptr().cast();
    header.msg_controllen = len;
    // SAFETY: the header points at a live socket address, `n` iovecs over the callers'
    // slices (only read by the kernel) and the control buffer above holding `len` bytes of
    // control messages; all outlive the call.
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

    #[test]
    fn batches_round_trip_on_loopback() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_nonblocking(true).unwrap();
        let to = b.local_addr().unwrap();
        let payloads: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; usize::from(i) * 7]).collect();
        let messages: Vec<Datagram<'_>> = payloads.iter().map(|p| Datagram::new(p, to)).collect();
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
                assert_eq!(received.local, None, "no local address asked for");
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
    fn segmented_runs_stop_at_another_destination_source_size_or_the_byte_limit() {
        let a: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2000".parse().unwrap();
        let big = [0u8; 1200];
        let small = [0u8; 100];
        let d = Datagram::new;
        assert_eq!(segmented_run(&[]), 0);
        assert_eq!(segmented_run(&[d(&big, a), d(&big, a), d(&big, b)]), 2);
        // A shorter message ends the run and belongs to it; a longer one does not.
        assert_eq!(segmented_run(&[d(&big, a), d(&small, a), d(&small, a)]), 2);
        assert_eq!(segmented_run(&[d(&small, a), d(&big, a)]), 1);
        assert_eq!(segmented_run(&[d(&[], a), d(&[], a)]), 1);
        let many = vec![d(&big, a); 40];
        assert_eq!(segmented_run(&many), BATCH);
        let huge = [0u8; 9000];
        let many = vec![d(&huge, a); BATCH];
        assert_eq!(segmented_run(&many), SEGMENTED_MAX_BYTES / 9000);
        // Another source address ends the run too.
        let from = |s: &str| Datagram { from: Some(s.parse().unwrap()), ..d(&big, a) };
        let mixed = [from("127.0.0.2:0"), from("127.0.0.2:0"), from("127.0.0.3:0"), d(&big, a)];
        assert_eq!(segmented_run(&mixed), 2);
        assert_eq!(segmented_run(&mixed[2..]), 1);
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
        let messages: Vec<Datagram<'_>> = payloads.iter().map(|p| Datagram::new(p, to)).collect();
        assert_eq!(segmented_run(&messages), 6);
        send_segmented(a.as_fd(), &messages).unwrap();
        let mut buf = [0u8; 2048];
        for expected in &payloads {
            let (n, from) = b.recv_from(&mut buf).unwrap();
            assert_eq!(from, a.local_addr().unwrap());
            assert_eq!(&buf[..n], &expected[..]);
        }
    }

    /// The payload of the one control message of `level` and `kind` in `control[..len]`.
    fn payload_of(control: &Control, len: usize, level: i32, kind: i32) -> Vec<u8> {
        let found: Vec<_> =
            cmsgs(&control.0[..len]).filter(|&(l, k, _)| (l, k) == (level, kind)).collect();
        assert_eq!(found.len(), 1, "one message of level {level} type {kind}");
        found[0].2.to_vec()
    }

    #[test]
    fn packet_info_round_trips_through_a_control_buffer() {
        for (from, expected) in [
            ("127.0.0.2:0", "127.0.0.2:3478"),
            ("[::1]:0", "[::1]:3478"),
            // The scope ID goes out as the interface; read back, it stays only on a
            // link-local address, where it tells the interface.
            ("[::1%3]:0", "[::1]:3478"),
            ("[fe80::1%3]:0", "[fe80::1%3]:3478"),
        ] {
            let from: SocketAddr = from.parse().unwrap();
            let mut control = Control::EMPTY;
            let len = put_pktinfo(&mut control, 0, from).unwrap();
            let info = if from.is_ipv4() {
                assert_eq!(len, cmsg_space(size_of::<libc::in_pktinfo>()));
                payload_of(&control, len, libc::IPPROTO_IP, libc::IP_PKTINFO)
            } else {
                assert_eq!(len, cmsg_space(size_of::<libc::in6_pktinfo>()));
                payload_of(&control, len, libc::IPPROTO_IPV6, libc::IPV6_PKTINFO)
            };
            if let SocketAddr::V6(v6) = from {
                let index = std::mem::offset_of!(libc::in6_pktinfo, ipi6_ifindex);
                assert_eq!(info[index..index + 4], v6.scope_id().to_ne_bytes());
            }
            assert_eq!(local_address(&control.0[..len], 3478), Some(expected.parse().unwrap()));
        }
    }

    #[test]
    fn segment_size_and_packet_info_share_a_control_buffer() {
        let mut control = Control::EMPTY;
        let at =
            put_cmsg(&mut control, 0, libc::SOL_UDP, libc::UDP_SEGMENT, &1200u16.to_ne_bytes())
                .unwrap();
        assert_eq!(at, cmsg_space(2));
        let len = put_pktinfo(&mut control, at, "[2001:db8::7]:0".parse().unwrap()).unwrap();
        let segment = payload_of(&control, len, libc::SOL_UDP, libc::UDP_SEGMENT);
        assert_eq!(segment, 1200u16.to_ne_bytes());
        // The packet info is found after a message of another kind.
        assert_eq!(local_address(&control.0[..len], 9), Some("[2001:db8::7]:9".parse().unwrap()));
        // A message that does not fit is not written.
        assert_eq!(put_cmsg(&mut control, len, libc::SOL_UDP, libc::UDP_SEGMENT, &[0; 64]), None);
    }

    #[test]
    fn cut_or_foreign_control_messages_give_no_local_address() {
        let mut control = Control::EMPTY;
        let len = put_pktinfo(&mut control, 0, "10.1.2.3:0".parse().unwrap()).unwrap();
        assert_eq!(local_address(&control.0[..len], 1), Some("10.1.2.3:1".parse().unwrap()));
        // Every shorter prefix (a cut buffer, MSG_CTRUNC) gives nothing, and never panics.
        for cut in 0..len {
            if cut < cmsg_len(size_of::<libc::in_pktinfo>()) {
                assert_eq!(local_address(&control.0[..cut], 1), None, "cut at {cut}");
            }
        }
        assert_eq!(local_address(&[], 1), None);
        // Another kind of message only.
        let mut other = Control::EMPTY;
        let len = put_cmsg(&mut other, 0, libc::SOL_SOCKET, libc::SO_TIMESTAMP, &[1; 16]).unwrap();
        assert_eq!(local_address(&other.0[..len], 1), None);
        // A header claiming more bytes than there are, or fewer than a header.
        for claimed in [0usize, 3, 1000, usize::MAX] {
            let mut bad = control;
            // SAFETY: the buffer holds a cmsghdr at its start; unaligned write.
            unsafe {
                let mut h = std::ptr::read_unaligned(bad.0.as_ptr().cast::<libc::cmsghdr>());
                h.cmsg_len = claimed as _;
                std::ptr::write_unaligned(bad.0.as_mut_ptr().cast::<libc::cmsghdr>(), h);
            }
            assert_eq!(local_address(&bad.0, 1), None, "cmsg_len {claimed}");
        }
    }

    /// A socket on `bind` (non-blocking when asked), as a std socket.
    fn bound_socket(bind: &str, nonblocking: bool) -> std::net::UdpSocket {
        let addr: SocketAddr = bind.parse().unwrap();
        let socket = udp_socket(addr).unwrap();
        socket.bind(&addr.into()).unwrap();
        let socket: std::net::UdpSocket = socket.into();
        socket.set_nonblocking(nonblocking).unwrap();
        if !nonblocking {
            socket.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
        }
        socket
    }

    /// Receives one batch (waiting up to two seconds for something).
    fn recv_some(batch: &mut RecvBatch, socket: &std::net::UdpSocket) -> usize {
        for _ in 0..200 {
            match batch.recv(socket.as_fd()) {
                Ok(n) => return n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!("nothing received");
    }

    /// A wildcard socket on `wildcard` hears each client on the address it sent to and
    /// answers from that address, with `sendmmsg` and with a segmented send.
    fn answers_from_the_address_sent_to(wildcard: &str, clients: &[&str]) {
        let server = bound_socket(wildcard, true);
        let port = server.local_addr().unwrap().port();
        set_recv_pktinfo(server.as_fd(), server.local_addr().unwrap()).unwrap();
        let mut batch = RecvBatch::with_local_addresses(2048, port);
        for client_ip in clients {
            let client =
                bound_socket(&SocketAddr::new(client_ip.parse().unwrap(), 0).to_string(), false);
            let dest = SocketAddr::new(client_ip.parse().unwrap(), port);
            client.send_to(b"hello", dest).unwrap();
            assert_eq!(recv_some(&mut batch, &server), 1);
            let (data, received) = batch.get(0).unwrap();
            assert_eq!(data, b"hello");
            assert_eq!(received.from, Some(client.local_addr().unwrap()));
            assert_eq!(received.local, Some(dest), "the address {client_ip} sent to");

            let to = client.local_addr().unwrap();
            let from = received.local;
            let replies =
                [Datagram { data: b"one", to, from }, Datagram { data: b"two", to, from }];
            assert_eq!(send_batch(server.as_fd(), &replies).unwrap(), 2);
            let mut buf = [0u8; 2048];
            for expected in [&b"one"[..], b"two"] {
                let (n, source) = client.recv_from(&mut buf).unwrap();
                assert_eq!((&buf[..n], source), (expected, dest));
            }
            if segmentation_supported() {
                let payloads = [[1u8; 300], [2; 300], [3; 300]];
                let run: Vec<Datagram<'_>> =
                    payloads.iter().map(|p| Datagram { data: p, to, from }).collect();
                assert_eq!(segmented_run(&run), 3);
                send_segmented(server.as_fd(), &run).unwrap();
                for expected in &payloads {
                    let (n, source) = client.recv_from(&mut buf).unwrap();
                    assert_eq!((&buf[..n], source), (&expected[..], dest));
                }
            }
        }
    }

    #[test]
    fn wildcard_ipv4_socket_answers_from_the_address_sent_to() {
        answers_from_the_address_sent_to("0.0.0.0:0", &["127.0.0.1", "127.0.0.2"]);
    }

    #[test]
    fn wildcard_ipv6_socket_answers_from_the_address_sent_to() {
        if std::net::UdpSocket::bind("[::1]:0").is_err() {
            eprintln!("no ::1 here: IPv6 packet info not checked");
            return;
        }
        answers_from_the_address_sent_to("[::]:0", &["::1"]);
    }

    #[test]
    fn dual_stack_wildcard_socket_answers_ipv4_clients_from_the_address_sent_to() {
        let Ok(socket) = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP)) else {
            eprintln!("no IPv6 sockets here: dual-stack packet info not checked");
            return;
        };
        socket.set_only_v6(false).unwrap();
        socket.set_nonblocking(true).unwrap();
        socket.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)).into()).unwrap();
        let server: std::net::UdpSocket = socket.into();
        let bound = server.local_addr().unwrap();
        set_recv_pktinfo(server.as_fd(), bound).unwrap();
        let mut batch = RecvBatch::with_local_addresses(2048, bound.port());
        let client = bound_socket("127.0.0.2:0", false);
        let dest = SocketAddr::from(([127, 0, 0, 2], bound.port()));
        client.send_to(b"over IPv4", dest).unwrap();
        assert_eq!(recv_some(&mut batch, &server), 1);
        let (_, received) = batch.get(0).unwrap();
        // IPv4 on an IPv6 socket: both addresses IPv4-mapped.
        let mapped = |a: SocketAddr| match a {
            SocketAddr::V4(v4) => SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port()),
            v6 => v6,
        };
        assert_eq!(received.from, Some(mapped(client.local_addr().unwrap())));
        assert_eq!(received.local, Some(mapped(dest)));
        let reply = [Datagram { data: b"back", to: received.from.unwrap(), from: received.local }];
        assert_eq!(send_batch(server.as_fd(), &reply).unwrap(), 1);
        let mut buf = [0u8; 64];
        let (n, source) = client.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], source), (&b"back"[..], dest));
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
