//! The in-memory datagram transport OpenSSL reads and writes through.
//!
//! `SslStream` wraps it in a BIO. One `read` hands OpenSSL one whole datagram (DTLS reads a
//! datagram at a time and never asks for a partial one); with nothing queued it says
//! `WouldBlock`, which OpenSSL reports as "want read". Every `write` is one outgoing datagram:
//! OpenSSL's DTLS layer flushes each packed datagram with a single write.
//!
//! Outgoing datagrams and received application data are carried in `Vec<u8>`s taken from a
//! small pool of spare buffers that callers refill through `Dtls::recycle`, so a steady
//! stream of records allocates nothing.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

#[derive(Debug, Default)]
pub(crate) struct Channel {
    /// The datagram being handed to OpenSSL; the buffer is reused.
    inbound: Vec<u8>,
    inbound_ready: bool,
    outbound: VecDeque<Vec<u8>>,
    /// Emptied buffers handed back for reuse, at most `MAX_SPARE`.
    spare: Vec<Vec<u8>>,
}

/// Spare buffers kept at most: enough for a burst of records, bounded memory.
const MAX_SPARE: usize = 64;
/// Spare buffers larger than this are dropped rather than kept.
const MAX_SPARE_CAPACITY: usize = 1 << 15;

impl Channel {
    /// Queues one received datagram for the next read. A datagram OpenSSL did not consume
    /// is replaced (the machine always lets OpenSSL drain it before the next one).
    pub(crate) fn push_inbound(&mut self, datagram: &[u8]) {
        self.inbound.clear();
        self.inbound.extend_from_slice(datagram);
        self.inbound_ready = true;
    }

    /// Forgets a datagram OpenSSL did not read.
    pub(crate) fn clear_inbound(&mut self) {
        self.inbound_ready = false;
    }

    /// The next datagram OpenSSL wrote.
    pub(crate) fn pop_outbound(&mut self) -> Option<Vec<u8>> {
        self.outbound.pop_front()
    }

    /// An empty buffer, reused when one is spare.
    pub(crate) fn take_buffer(&mut self) -> Vec<u8> {
        self.spare.pop().unwrap_or_default()
    }

    /// Keeps `buf` for reuse, unless the pool is full or the buffer oversized.
    pub(crate) fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.spare.len() < MAX_SPARE && buf.capacity() <= MAX_SPARE_CAPACITY {
            buf.clear();
            self.spare.push(buf);
        }
    }

    #[cfg(test)]
    pub(crate) fn outbound_len(&self) -> usize {
        self.outbound.len()
    }
}

impl Read for Channel {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.inbound_ready {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.inbound_ready = false;
        // A datagram larger than OpenSSL's buffer is cut, as a socket would cut it; the
        // record layer then discards the broken record.
        let n = buf.len().min(self.inbound.len());
        buf[..n].copy_from_slice(&self.inbound[..n]);
        Ok(n)
    }
}

impl Write for Channel {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut datagram = self.take_buffer();
        datagram.extend_from_slice(buf);
        self.outbound.push_back(datagram);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_datagram_per_read_then_would_block() {
        let mut ch = Channel::default();
        let mut buf = [0u8; 8];
        assert_eq!(ch.read(&mut buf).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        ch.push_inbound(b"abc");
        assert_eq!(ch.read(&mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"abc");
        assert_eq!(ch.read(&mut buf).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        ch.push_inbound(b"0123456789");
        assert_eq!(ch.read(&mut buf).unwrap(), 8, "cut to the reader's buffer");
        ch.push_inbound(b"x");
        ch.clear_inbound();
        assert_eq!(ch.read(&mut buf).unwrap_err().kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn each_write_is_one_datagram() {
        let mut ch = Channel::default();
        ch.write_all(b"one").unwrap();
        ch.write_all(b"two").unwrap();
        assert_eq!(ch.outbound_len(), 2);
        assert_eq!(ch.pop_outbound().unwrap(), b"one");
        assert_eq!(ch.pop_outbound().unwrap(), b"two");
        assert!(ch.pop_outbound().is_none());
    }

    #[test]
    fn recycled_buffers_are_reused_and_bounded() {
        let mut ch = Channel::default();
        let mut first = Vec::with_capacity(2048);
        first.extend_from_slice(b"old");
        let ptr = first.as_ptr();
        ch.recycle(first);
        ch.write_all(b"new").unwrap();
        let out = ch.pop_outbound().unwrap();
        assert_eq!(out, b"new", "a recycled buffer starts empty");
        assert_eq!(out.as_ptr(), ptr, "the recycled allocation carries the next datagram");
        ch.recycle(Vec::with_capacity(MAX_SPARE_CAPACITY + 1));
        assert!(ch.spare.is_empty(), "oversized buffers are not kept");
        for _ in 0..MAX_SPARE + 10 {
            ch.recycle(Vec::with_capacity(16));
        }
        assert_eq!(ch.spare.len(), MAX_SPARE);
    }
}
