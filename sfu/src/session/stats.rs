//! Per-session counters, shared between the worker that owns the session and the HTTP API
//! that reports them. Relaxed atomics: each counter is independent.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// Counters of one session. Written by the owning worker, read by the API.
        #[derive(Debug, Default)]
        pub struct SessionStats {
            $($(#[$doc])* pub $name: AtomicU64,)*
        }

        /// A copy of [`SessionStats`] at one moment.
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
        pub struct SessionStatsSnapshot {
            $($(#[$doc])* pub $name: u64,)*
        }

        impl SessionStats {
            /// Reads every counter.
            pub fn snapshot(&self) -> SessionStatsSnapshot {
                SessionStatsSnapshot { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }

        impl SessionStatsSnapshot {
            /// `(name, value)` for every counter, in declaration order (for JSON output).
            pub fn fields(&self) -> [(&'static str, u64); counters!(@count $($name)*)] {
                [$((stringify!($name), self.$name),)*]
            }
        }
    };
    (@count) => { 0 };
    (@count $head:ident $($tail:ident)*) => { 1 + counters!(@count $($tail)*) };
}

counters! {
    /// Datagrams handed to the session.
    datagrams_received,
    /// Bytes handed to the session.
    bytes_received,
    /// Datagrams the session produced.
    datagrams_sent,
    /// Bytes the session produced.
    bytes_sent,
    /// STUN messages received.
    stun_received,
    /// DTLS records (datagrams) received.
    dtls_received,
    /// SRTP packets authenticated and decrypted.
    rtp_decrypted,
    /// Payload bytes of decrypted SRTP packets.
    rtp_bytes_decrypted,
    /// SRTCP packets authenticated and decrypted.
    rtcp_decrypted,
    /// SRTP/SRTCP packets that failed authentication.
    srtp_auth_failed,
    /// SRTP/SRTCP packets refused as replays or too old.
    srtp_replayed,
    /// SRTP/SRTCP packets that arrived before the keys existed.
    srtp_before_keys,
    /// Datagrams dropped as malformed or of no known kind: empty, first byte outside the
    /// RFC 7983 ranges, STUN that does not parse or fails its FINGERPRINT, DTLS that is not a
    /// well-formed record sequence, RTP/RTCP whose header is cut short.
    malformed_dropped,
    /// DTLS, RTP or RTCP datagrams from a 5-tuple no valid ICE check arrived on.
    unchecked_source_dropped,
    /// Datagrams dropped because the session is closed or failed, or DTLS that arrived while
    /// ours was not running (as DTLS client, before ICE selected a pair).
    inactive_dropped,
    /// SRTP/SRTCP packets refused for another reason: too many SSRCs, keys exhausted.
    srtp_refused,
    /// RTP packets the router forwarded to this session (they are also counted in
    /// `datagrams_sent` and `bytes_sent`).
    rtp_sent,
    /// SCTP packets (DTLS application data) handed to the data channel association.
    sctp_packets_received,
    /// SCTP packets the association refused as malformed or out of place.
    sctp_dropped,
    /// Data channel messages received from the peer.
    channel_messages_received,
    /// Payload bytes of the data channel messages received.
    channel_bytes_received,
    /// Data channel messages queued to the peer (forwarded from a publisher, or echoed).
    channel_messages_sent,
    /// Payload bytes of the data channel messages queued to the peer.
    channel_bytes_sent,
    /// Data channel messages for the peer that were dropped: its queue overflowed (the
    /// oldest unsent goes, see `crate::datachannel`), or the message is larger than its
    /// `max-message-size`.
    channel_messages_dropped,
    /// DATA chunks the association sent again (fast retransmit or T3 timeout): loss on the
    /// way to the peer. A total, updated as the association runs.
    sctp_retransmitted_chunks,
    /// T3 retransmission timeouts of the association (a total).
    sctp_t3_expirations,
}

impl SessionStats {
    /// Adds one to a counter.
    #[inline]
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n` to a counter.
    #[inline]
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets a counter that mirrors a total kept elsewhere.
    #[inline]
    pub fn set(counter: &AtomicU64, n: u64) {
        counter.store(n, Ordering::Relaxed);
    }
}
