//! The OpenSSL DTLS controls the safe `openssl` crate does not expose, and the one piece of
//! OpenSSL state we must steer: the handshake retransmission deadline.
//!
//! This is the only module of the crate with `unsafe` code. It owns the `SslStream` so that
//! the raw pointers it registers with OpenSSL can never outlive what they point to.
//!
//! # How the retransmission deadline is steered (OpenSSL 1.1.1 to 3.1)
//!
//! OpenSSL keeps `d1->next_timeout`, a `struct timeval` on the real clock. Every time it starts
//! or stops that timer (`dtls1_start_timer`, `dtls1_stop_timer` in `ssl/d1_lib.c`) it tells the
//! read BIO through `BIO_ctrl(rbio, BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT, 0, &d1->next_timeout)`.
//! A BIO callback (`BIO_set_callback_ex`) on the stream's BIO sees each of those calls, which
//! gives us (a) whether a flight is awaiting an answer, (b) a count of timer starts from the
//! stopped state, i.e. of new flights, and (c) the address of `next_timeout`.
//!
//! `DTLS_set_timer_cb` parks OpenSSL's own schedule: every timer it starts lasts an hour, so it
//! never retransmits by itself (not from `SSL_read`/`SSL_do_handshake`, which call
//! `dtls1_handle_timeout` on entry, nor from `dtls1_read_failed`). When *our* virtual deadline
//! passes, [`TimedStream::retransmit`] writes a long-past time into `next_timeout` and calls
//! `DTLSv1_handle_timeout`, which finds the timer expired, re-arms it (parked again) and
//! resends the current flight with fresh record sequence numbers.
//!
//! The simpler idea, a tiny duration from the timer callback so that OpenSSL is always
//! "expired" and `DTLSv1_handle_timeout` always fires, does not work: `dtls1_read_bytes`
//! checks the timer on entry and loops (`goto start`) after every retransmission, so the
//! first read after a flight resends it until `DTLS1_TMO_ALERT_COUNT` (12) is exceeded and
//! the handshake dies with "read timeout expired". On OpenSSL 3.0 a single
//! `SSL_do_handshake` of a client then writes 13 ClientHellos and fails; the test
//! `tiny_timer_spins_in_the_read_path` below keeps that evidence.
//!
//! From OpenSSL 3.2 on, `next_timeout` is an `OSSL_TIME` and the BIO is handed a pointer to
//! a stack copy, so writing through it later would be undefined behaviour. The steering is
//! therefore enabled only for OpenSSL 1.1.1–3.1 (checked at run time with
//! `OpenSSL_version_num`) and only while the BIO keeps being handed the same address. Other
//! versions fall back to OpenSSL's own real-clock schedule (1 s doubling to 60 s, the same
//! numbers), which the machine polls with `DTLSv1_get_timeout`; retransmissions then follow
//! the wall clock instead of the virtual one.
#![allow(unsafe_code)]

use std::os::raw::{c_char, c_int, c_long, c_uint, c_void};
use std::ptr;
use std::time::Duration;

use foreign_types::ForeignTypeRef;
use openssl::error::ErrorStack;
use openssl::ssl::{Ssl, SslStream};
use openssl_sys::{BIO, SSL};

use crate::channel::Channel;

/// `BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT` from `<openssl/bio.h>`.
const BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT: c_int = 45;
/// `BIO_CB_CTRL` from `<openssl/bio.h>`: the callback before a `BIO_ctrl`.
const BIO_CB_CTRL: c_int = 0x06;
/// `DTLS_CTRL_GET_TIMEOUT` from `<openssl/ssl.h>` (the `DTLSv1_get_timeout` macro).
const DTLS_CTRL_GET_TIMEOUT: c_int = 73;
/// `DTLS_CTRL_HANDLE_TIMEOUT` from `<openssl/ssl.h>` (the `DTLSv1_handle_timeout` macro).
const DTLS_CTRL_HANDLE_TIMEOUT: c_int = 74;
/// What the timer callback gives OpenSSL for every timer: one hour, far beyond any handshake
/// deadline, so OpenSSL's real-clock timer never expires on its own.
const PARKED_TIMER_US: c_uint = 3_600_000_000;

#[cfg(target_vendor = "apple")]
type SuSeconds = i32;
#[cfg(not(target_vendor = "apple"))]
type SuSeconds = c_long;

/// `struct timeval` (`time_t` is a C `long` on the platforms OpenSSL's DTLS runs on).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct Timeval {
    tv_sec: c_long,
    tv_usec: SuSeconds,
}

impl Timeval {
    fn is_zero(&self) -> bool {
        self.tv_sec == 0 && self.tv_usec == 0
    }
}

type TimerCallback = extern "C" fn(*mut SSL, c_uint) -> c_uint;
type BioCallbackEx = unsafe extern "C" fn(
    *mut BIO,
    c_int,
    *const c_char,
    usize,
    c_int,
    c_long,
    c_int,
    *mut usize,
) -> c_long;

extern "C" {
    // libssl (OpenSSL >= 1.1.1), linked through openssl-sys.
    fn DTLS_set_timer_cb(s: *mut SSL, cb: Option<TimerCallback>);
    fn DTLS_get_data_mtu(s: *const SSL) -> usize;
    // libcrypto (OpenSSL >= 1.1.1).
    fn BIO_set_callback_ex(b: *mut BIO, callback: Option<BioCallbackEx>);
    fn BIO_set_callback_arg(b: *mut BIO, arg: *mut c_char);
    fn BIO_get_callback_arg(b: *const BIO) -> *mut c_char;
}

/// What the BIO callback has learnt about OpenSSL's retransmission timer.
#[derive(Clone, Copy, Debug)]
struct TimerWatch {
    /// The address OpenSSL published for `d1->next_timeout` (null until the first start).
    deadline: *mut Timeval,
    /// False once OpenSSL published two different addresses: then the address is not the
    /// field itself and must never be written.
    same_address: bool,
    /// Whether a timer runs, i.e. a flight awaits the peer's answer.
    running: bool,
    /// How many times the timer went from stopped to running (one per new flight).
    starts: u64,
}

impl TimerWatch {
    fn observe(&mut self, deadline: *mut Timeval, value: Timeval) {
        if self.deadline.is_null() {
            self.deadline = deadline;
        } else if self.deadline != deadline {
            self.same_address = false;
        }
        let running = !value.is_zero();
        if running && !self.running {
            self.starts = self.starts.wrapping_add(1);
        }
        self.running = running;
    }
}

/// Whether this OpenSSL publishes the address of `d1->next_timeout` itself (1.1.1 to 3.1).
fn deadline_is_steerable() -> bool {
    let number = openssl::version::number();
    openssl::version::version().starts_with("OpenSSL ")
        && (0x1010_1000..0x3020_0000).contains(&number)
}

/// An `SslStream` over the in-memory [`Channel`], with OpenSSL's retransmission timer under
/// our control (see the module documentation).
pub(crate) struct TimedStream {
    stream: SslStream<Channel>,
    /// From `Box::into_raw`; registered as the BIO callback argument; freed in `Drop` after
    /// the callback is removed.
    watch: *mut TimerWatch,
    virtual_clock: bool,
}

// SAFETY: the raw pointers held here (`watch`, and the `next_timeout` address inside it) point
// into memory owned by this value: the boxed watch and the SSL object inside `stream`. Moving
// the value to another thread moves that ownership with it, and OpenSSL only touches them
// during calls made through `&mut self`, so no two threads can reach them at once.
// `SslStream<Channel>` itself is `Send`.
unsafe impl Send for TimedStream {}

impl TimedStream {
    /// Wraps `ssl` (already configured, role set) and installs the timer controls. Must run
    /// before the first handshake step so that the first timer start is observed.
    pub(crate) fn new(ssl: Ssl, channel: Channel) -> Result<TimedStream, ErrorStack> {
        let stream = SslStream::new(ssl, channel)?;
        let virtual_clock = deadline_is_steerable();
        let watch = Box::into_raw(Box::new(TimerWatch {
            deadline: ptr::null_mut(),
            same_address: true,
            running: false,
            starts: 0,
        }));
        let ssl = stream.ssl().as_ptr();
        // SAFETY: `ssl` is the live SSL object owned by `stream`; `SslStream::new` gave it a
        // read BIO, which we check for null anyway. The callback argument is the boxed watch,
        // which stays allocated until `Drop` has removed the callback again. The callback
        // and the timer callback are `extern "C"` functions with the exact C signatures of
        // `BIO_callback_fn_ex` and `DTLS_timer_cb`.
        unsafe {
            let bio = openssl_sys::SSL_get_rbio(ssl);
            if !bio.is_null() {
                BIO_set_callback_arg(bio, watch.cast::<c_char>());
                BIO_set_callback_ex(bio, Some(bio_callback));
            }
            if virtual_clock {
                DTLS_set_timer_cb(ssl, Some(parked_timer));
            }
        }
        Ok(TimedStream { stream, watch, virtual_clock })
    }

    pub(crate) fn stream(&self) -> &SslStream<Channel> {
        &self.stream
    }

    pub(crate) fn stream_mut(&mut self) -> &mut SslStream<Channel> {
        &mut self.stream
    }

    /// Whether retransmissions follow our virtual clock (true on OpenSSL 1.1.1–3.1).
    pub(crate) fn virtual_clock(&self) -> bool {
        self.virtual_clock
    }

    fn watch(&self) -> TimerWatch {
        // SAFETY: `self.watch` comes from `Box::into_raw` and is freed only in `Drop`. The BIO
        // callback writes it only while OpenSSL runs a call on `self.stream`, which needs
        // `&mut self`; here we hold `&self`, so nothing writes while we copy it out.
        unsafe { *self.watch }
    }

    /// Whether OpenSSL waits for the peer's answer to a flight it sent.
    pub(crate) fn timer_running(&self) -> bool {
        self.watch().running
    }

    /// How many flights OpenSSL has started (timer starts from the stopped state).
    pub(crate) fn flights_started(&self) -> u64 {
        self.watch().starts
    }

    /// Resends the current flight now.
    ///
    /// Returns `Ok(true)` if OpenSSL retransmitted, `Ok(false)` if there was nothing to
    /// resend (or, without the virtual clock, OpenSSL's real-clock timer has not expired), and
    /// `Err` if OpenSSL gave up (too many retransmissions).
    pub(crate) fn retransmit(&mut self) -> Result<bool, ErrorStack> {
        let ssl = self.stream.ssl().as_ptr();
        if self.virtual_clock {
            let watch = self.watch();
            if !watch.running || !watch.same_address || watch.deadline.is_null() {
                return Ok(false);
            }
            if self.openssl_timeout().is_none() {
                // OpenSSL disagrees that a timer runs: do not touch its state.
                return Ok(false);
            }
            // SAFETY: on OpenSSL 1.1.1–3.1 (`deadline_is_steerable`), `watch.deadline` is the
            // address of `ssl->d1->next_timeout`, as published by `dtls1_start_timer`; it has
            // been the same address at every start and stop so far, the `d1` allocation lives
            // as long as the SSL object that `self.stream` owns, and no OpenSSL call is running
            // (we hold `&mut self`). The value written is a valid, non-zero `timeval` in the
            // past, which OpenSSL reads as "running and expired".
            unsafe {
                (*watch.deadline).tv_sec = 1;
                (*watch.deadline).tv_usec = 0;
            }
        }
        // SAFETY: `ssl` is the live SSL object owned by `self.stream`; this control takes no
        // argument.
        let ret =
            unsafe { openssl_sys::SSL_ctrl(ssl, DTLS_CTRL_HANDLE_TIMEOUT, 0, ptr::null_mut()) };
        match ret {
            r if r > 0 => Ok(true),
            0 => Ok(false),
            _ => Err(ErrorStack::get()),
        }
    }

    /// OpenSSL's own view of its timer: the real time left, or `None` if no timer runs.
    pub(crate) fn openssl_timeout(&self) -> Option<Duration> {
        let mut left = Timeval::default();
        // SAFETY: `ssl` is live; `DTLS_CTRL_GET_TIMEOUT` writes one `struct timeval` to the
        // pointer, which points to a local of that exact layout.
        let running = unsafe {
            openssl_sys::SSL_ctrl(
                self.stream.ssl().as_ptr(),
                DTLS_CTRL_GET_TIMEOUT,
                0,
                ptr::addr_of_mut!(left).cast::<c_void>(),
            )
        };
        if running != 1 {
            return None;
        }
        let secs = u64::try_from(left.tv_sec).unwrap_or(0);
        let micros = u32::try_from(left.tv_usec).unwrap_or(0).min(999_999);
        Some(Duration::new(secs, micros * 1000))
    }

    /// The largest application-data payload one datagram can carry with the current cipher
    /// and MTU (`DTLS_get_data_mtu`); 0 before a cipher is negotiated.
    pub(crate) fn data_mtu(&self) -> usize {
        // SAFETY: `ssl` is live; the function only reads it.
        unsafe { DTLS_get_data_mtu(self.stream.ssl().as_ptr()) }
    }
}

impl Drop for TimedStream {
    fn drop(&mut self) {
        // SAFETY: the SSL object is still alive (`self.stream` drops after this function).
        // Removing the callback first guarantees that freeing the BIO later cannot reach the
        // watch, which is then freed exactly once, from the pointer `Box::into_raw` gave.
        unsafe {
            let bio = openssl_sys::SSL_get_rbio(self.stream.ssl().as_ptr());
            if !bio.is_null() {
                BIO_set_callback_ex(bio, None);
                BIO_set_callback_arg(bio, ptr::null_mut());
            }
            drop(Box::from_raw(self.watch));
        }
    }
}

impl std::fmt::Debug for TimedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimedStream")
            .field("virtual_clock", &self.virtual_clock)
            .field("watch", &self.watch())
            .finish_non_exhaustive()
    }
}

/// `DTLS_timer_cb`: every timer OpenSSL starts is parked an hour away.
extern "C" fn parked_timer(_ssl: *mut SSL, _previous_us: c_uint) -> c_uint {
    PARKED_TIMER_US
}

/// `BIO_callback_fn_ex` on the stream's BIO: records every `BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT`
/// and passes every operation through unchanged.
unsafe extern "C" fn bio_callback(
    bio: *mut BIO,
    oper: c_int,
    argp: *const c_char,
    _len: usize,
    argi: c_int,
    _argl: c_long,
    ret: c_int,
    _processed: *mut usize,
) -> c_long {
    if oper == BIO_CB_CTRL && argi == BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT && !argp.is_null() {
        // SAFETY: OpenSSL calls this with the BIO it belongs to; its callback argument is
        // either null or the `TimerWatch` installed by `TimedStream::new`, alive until the
        // callback is removed. No Rust reference to the watch exists during an OpenSSL call.
        // For this control, `argp` is the `struct timeval *` OpenSSL passes to `BIO_ctrl`,
        // valid for the duration of the call.
        unsafe {
            let watch = BIO_get_callback_arg(bio).cast::<TimerWatch>();
            if let Some(watch) = watch.as_mut() {
                let deadline = argp.cast_mut().cast::<Timeval>();
                watch.observe(deadline, *deadline);
            }
        }
    }
    c_long::from(ret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_openssl_supports_the_virtual_clock() {
        // The deployment target (Debian 12, OpenSSL 3.0) must get deterministic
        // retransmissions; newer OpenSSL would silently fall back, which the handshake tests
        // would then not cover.
        assert!(deadline_is_steerable(), "{}", openssl::version::version());
    }

    extern "C" fn tiny_timer(_ssl: *mut SSL, _previous_us: c_uint) -> c_uint {
        1
    }

    /// The evidence for the design: with a 1 µs timer a client's first `SSL_do_handshake`
    /// (ClientHello written, then a read that finds nothing) resends the ClientHello from the
    /// read path until OpenSSL gives up.
    #[test]
    fn tiny_timer_spins_in_the_read_path() {
        let cert = crate::Certificate::generate().unwrap();
        let ctx = crate::DtlsContext::new(crate::DtlsConfig::new(cert)).unwrap();
        let mut ssl = Ssl::new(ctx.ssl_context()).unwrap();
        ssl.set_mtu(1200).unwrap();
        ssl.set_connect_state();
        // SAFETY: `ssl` is a live DTLS SSL object; the callback has the C signature.
        unsafe { DTLS_set_timer_cb(ssl.as_ptr(), Some(tiny_timer)) };
        let mut stream = SslStream::new(ssl, Channel::default()).unwrap();
        let err = stream.do_handshake().unwrap_err();
        assert_eq!(err.code(), openssl::ssl::ErrorCode::SSL, "{err}");
        assert!(stream.get_ref().outbound_len() > 12, "{}", stream.get_ref().outbound_len());
    }

    /// With the parked timer and our control, the same step writes one ClientHello and a
    /// forced timeout writes exactly one more.
    #[test]
    fn parked_timer_resends_only_when_told() {
        let cert = crate::Certificate::generate().unwrap();
        let ctx = crate::DtlsContext::new(crate::DtlsConfig::new(cert)).unwrap();
        let mut ssl = Ssl::new(ctx.ssl_context()).unwrap();
        ssl.set_mtu(1200).unwrap();
        ssl.set_connect_state();
        let mut timed = TimedStream::new(ssl, Channel::default()).unwrap();
        assert!(timed.virtual_clock());
        assert!(!timed.timer_running());
        let err = timed.stream_mut().do_handshake().unwrap_err();
        assert_eq!(err.code(), openssl::ssl::ErrorCode::WANT_READ);
        assert_eq!(timed.stream().get_ref().outbound_len(), 1);
        assert!(timed.timer_running());
        assert_eq!(timed.flights_started(), 1);
        // Reading again (nothing arrived) does not resend.
        let _ = timed.stream_mut().do_handshake();
        assert_eq!(timed.stream().get_ref().outbound_len(), 1);
        // OpenSSL's own timer is parked far away.
        assert!(timed.openssl_timeout().unwrap() > Duration::from_secs(3000));
        assert!(timed.retransmit().unwrap());
        assert_eq!(timed.stream().get_ref().outbound_len(), 2);
        assert_eq!(timed.flights_started(), 1, "a retransmission is not a new flight");
        assert!(timed.openssl_timeout().unwrap() > Duration::from_secs(3000));
        let _ = timed.stream_mut().do_handshake();
        assert_eq!(timed.stream().get_ref().outbound_len(), 2);
    }

    #[test]
    fn watch_counts_flights_and_notices_moving_addresses() {
        let mut a = Timeval::default();
        let mut b = Timeval::default();
        let mut w =
            TimerWatch { deadline: ptr::null_mut(), same_address: true, running: false, starts: 0 };
        let running = Timeval { tv_sec: 5, tv_usec: 0 };
        w.observe(&mut a, running);
        w.observe(&mut a, running);
        assert_eq!((w.starts, w.running, w.same_address), (1, true, true));
        w.observe(&mut a, Timeval::default());
        assert!(!w.running);
        w.observe(&mut a, running);
        assert_eq!(w.starts, 2);
        w.observe(&mut b, running);
        assert!(!w.same_address);
    }
}
