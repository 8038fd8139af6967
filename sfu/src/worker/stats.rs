//! Driver-wide counters, shared by every worker and read by the API (`GET .../stats`).
//! Relaxed atomics: each counter is independent.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! driver_counters {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// Counters of the UDP driver, summed over all workers.
        #[derive(Debug, Default)]
        pub struct DriverStats {
            $($(#[$doc])* pub $name: AtomicU64,)*
        }

        /// A copy of [`DriverStats`] at one moment.
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
        pub struct DriverStatsSnapshot {
            $($(#[$doc])* pub $name: u64,)*
        }

        impl DriverStats {
            /// Reads every counter.
            pub fn snapshot(&self) -> DriverStatsSnapshot {
                DriverStatsSnapshot { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }

        impl DriverStatsSnapshot {
            /// `(name, value)` for every counter, in declaration order (for JSON output).
            pub fn fields(&self) -> [(&'static str, u64); driver_counters!(@count $($name)*)] {
                [$((stringify!($name), self.$name),)*]
            }
        }
    };
    (@count) => { 0 };
    (@count $head:ident $($tail:ident)*) => { 1 + driver_counters!(@count $($tail)*) };
}

driver_counters! {
    /// Datagrams read from the sockets.
    datagrams_received,
    /// Bytes read from the sockets.
    bytes_received,
    /// Datagrams sent.
    datagrams_sent,
    /// Bytes sent.
    bytes_sent,
    /// Datagrams handed to a session (read here or forwarded from another worker).
    delivered,
    /// Datagrams passed to the owning worker of their session.
    forwarded_out,
    /// Datagrams received from another worker.
    forwarded_in,
    /// Dropped: larger than `MAX_DATAGRAM_LEN`.
    dropped_too_large,
    /// Dropped: empty, or a first byte that is neither STUN, DTLS nor RTP/RTCP (RFC 7983).
    dropped_unknown_kind,
    /// Dropped: first byte says STUN but the message is not well-formed (truncated, bad
    /// length, no magic cookie).
    dropped_stun_malformed,
    /// Dropped: well-formed STUN from an unknown 5-tuple that is not a Binding request with
    /// a `<ufrag>:<ufrag>` USERNAME.
    dropped_stun_not_check,
    /// Dropped: a check whose local ufrag belongs to no session.
    dropped_unknown_ufrag,
    /// Dropped: a check for a known ufrag that does not authenticate (MESSAGE-INTEGRITY or
    /// FINGERPRINT wrong).
    dropped_unauthenticated,
    /// Dropped: DTLS or RTP/RTCP from a 5-tuple no session has.
    dropped_unknown_sender,
    /// Dropped: the session of the datagram was removed meanwhile.
    dropped_no_session,
    /// Dropped: the owning worker's queue was full.
    dropped_queue_full,
    /// Dropped on the way out: no socket has the transmit's local address.
    dropped_no_socket,
    /// Socket receive errors.
    recv_errors,
    /// Socket send errors.
    send_errors,
    /// Sessions claimed by a worker.
    sessions_claimed,
    /// Sessions removed by their owner (ended, failed, timed out).
    sessions_removed,
    /// Sessions removed because no worker claimed them in time.
    sessions_expired_unclaimed,
    /// Gauge: 5-tuples mapped to a session of the worker that receives them.
    five_tuples,
    /// Gauge: 5-tuples a worker forwards to the owning worker.
    forwarded_tuples,
    /// RTP packets sent to subscribers.
    rtp_forwarded,
    /// RTP packets of a session that publishes nothing on their SSRC or mid.
    rtp_unrouted,
    /// RTP packets of a publisher's RTX streams that repair nothing: padding only
    /// (bandwidth probes), or of a source or codec the SFU does not forward.
    rtp_dropped_rtx,
    /// RTP packets of a second source of one stream (a track, or one simulcast layer of
    /// it): one source is forwarded.
    rtp_dropped_other_source,
    /// Subscriber streams that switched to another simulcast layer (at its keyframe).
    simulcast_switches,
    /// Subscriber copies dropped: the subscriber did not negotiate the packet's codec.
    rtp_dropped_no_codec,
    /// Subscriber copies dropped: the subscriber is not connected, has no fresh consent, or
    /// SRTP refused the packet.
    rtp_dropped_not_sendable,
    /// Decrypted packets passed to another worker for its subscribers.
    media_forwarded_out,
    /// Decrypted packets received from another worker.
    media_forwarded_in,
    /// Packets or keyframe requests for another worker dropped because its queue was full.
    media_dropped_queue_full,
    /// PLIs sent to publishers.
    keyframe_requests_sent,
    /// PLIs and FIRs received from subscribers.
    keyframe_requests_received,
    /// Times a worker read its media routes again.
    routes_refreshed,
    /// NACK packets sent to publishers for loss the SFU saw on their streams.
    nacks_sent,
    /// Sequence numbers requested in those NACKs (a number asked again counts again).
    nack_sequences_sent,
    /// Missing packets given up (too old, asked too often, or too many missing).
    nack_given_up,
    /// RTX packets received from publishers.
    rtx_received,
    /// Publisher retransmissions (or late originals' retransmissions) that repaired a loss
    /// and were forwarded.
    rtx_recovered,
    /// Publisher retransmissions of packets already received: dropped.
    rtx_duplicates,
    /// Publisher packets that arrived after they were counted missing: reordered, or
    /// retransmitted without RTX (audio). Forwarded.
    rtp_late,
    /// NACK packets received from subscribers.
    nacks_received,
    /// Packets subscribers asked for that the cache had.
    nack_cache_hits,
    /// Packets subscribers asked for that the cache did not have (never asked upstream).
    nack_cache_misses,
    /// Retransmissions sent to subscribers in RTX form (RFC 4588).
    rtx_sent,
    /// Retransmissions sent to subscribers as the original packet (no RTX negotiated).
    retransmissions_sent,
    /// Sender reports received from publishers.
    sender_reports_received,
    /// Sender reports sent to subscribers.
    sender_reports_sent,
    /// Receiver reports sent to publishers.
    receiver_reports_sent,
    /// Transport-wide congestion control feedback packets sent to publishers.
    twcc_feedback_sent,
    /// Data channel messages a publisher sent on a published channel.
    channel_messages_published,
    /// Data channel messages queued to a subscriber's channel (one per subscriber).
    channel_messages_forwarded,
    /// Data channel messages that arrived on no published channel (nor the echo channel).
    channel_messages_unrouted,
    /// Data channel messages dropped because a subscriber's queue was full (the oldest
    /// unsent message of that subscriber goes; see `sfu::datachannel`).
    channel_messages_dropped_slow_subscriber,
    /// Data channel messages dropped because they exceed a subscriber's max-message-size,
    /// or its channel closed.
    channel_messages_dropped_undeliverable,
    /// Data channel messages copied to another worker's queue (one per worker with
    /// subscribers).
    channel_forwarded_out,
    /// Data channel messages received from another worker.
    channel_forwarded_in,
    /// Data channel messages not copied to another worker because its queue was full.
    channel_dropped_queue_full,
}

impl DriverStats {
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

    /// Subtracts `n` from a gauge (only what was added before).
    #[inline]
    pub fn sub(counter: &AtomicU64, n: u64) {
        counter.fetch_sub(n, Ordering::Relaxed);
    }
}
