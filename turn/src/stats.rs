//! Counters, per reason, for metrics and tests. All only ever grow.

/// What the server did and refused, since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TurnStats {
    /// Binding requests answered (no authentication).
    pub binding_requests: u64,
    /// Allocate requests received (before authentication).
    pub allocate_requests: u64,
    /// Refresh requests received.
    pub refresh_requests: u64,
    /// CreatePermission requests received.
    pub create_permission_requests: u64,
    /// ChannelBind requests received.
    pub channel_bind_requests: u64,
    /// Connect requests received (RFC 6062).
    pub connect_requests: u64,
    /// ConnectionBind requests received (RFC 6062).
    pub connection_bind_requests: u64,
    /// Requests answered from the response cache (retransmissions), or ignored because the
    /// same Allocate is still waiting for its relay socket.
    pub retransmissions: u64,

    /// 401 challenges to requests without MESSAGE-INTEGRITY (the normal first round trip).
    pub challenges: u64,
    /// 401 for an unknown username or a MESSAGE-INTEGRITY that does not verify.
    pub auth_failures: u64,
    /// 401 for a TURN REST credential past its expiry.
    pub expired_credentials: u64,
    /// 438: the NONCE expired, was forged, or was given to another client.
    pub stale_nonces: u64,
    /// 441: a request on an allocation with another username.
    pub wrong_credentials: u64,

    /// 400 responses.
    pub bad_requests: u64,
    /// 420 responses.
    pub unknown_attributes: u64,
    /// 437 responses.
    pub allocation_mismatches: u64,
    /// 442 responses.
    pub unsupported_transport: u64,
    /// 440 and 443 responses, and ADDRESS-ERROR-CODE in partial dual-stack successes.
    pub address_family_errors: u64,
    /// 486 responses (per-user allocation quota).
    pub quota_refusals: u64,
    /// 508 responses (server-wide allocation limit, permission or channel limits, no free
    /// port, relay socket not bindable, reservation token unknown or expired).
    pub capacity_refusals: u64,
    /// 403 responses: a peer address refused by the policy or one of the server's own.
    pub policy_refusals: u64,

    /// Allocations created.
    pub allocations_created: u64,
    /// Allocations that reached the end of their lifetime.
    pub allocations_expired: u64,
    /// Allocations deleted by a Refresh with LIFETIME 0 or by the client's connection closing.
    pub allocations_deleted: u64,
    /// Permissions installed (not counting refreshes).
    pub permissions_created: u64,
    /// Channels bound (not counting refreshes).
    pub channels_bound: u64,
    /// TCP peer connections established (RFC 6062: Connect successes and accepted
    /// incoming connections from permitted peers).
    pub tcp_connections_opened: u64,
    /// TCP peer connections bound to a client data connection.
    pub tcp_connections_bound: u64,
    /// TCP peer connections closed unbound after 30 s, and Connects that timed out.
    pub tcp_connections_timed_out: u64,
    /// Connects that failed (447) before the timeout.
    pub tcp_connect_failures: u64,
    /// Incoming peer connections refused: no permission, or no TCP allocation there.
    pub tcp_connections_refused: u64,

    /// Datagrams relayed from clients to peers.
    pub client_to_peer_packets: u64,
    /// Application bytes relayed from clients to peers.
    pub client_to_peer_bytes: u64,
    /// Datagrams relayed from peers to clients.
    pub peer_to_client_packets: u64,
    /// Application bytes relayed from peers to clients.
    pub peer_to_client_bytes: u64,

    /// Input that is neither valid STUN nor valid ChannelData, or fails FINGERPRINT.
    pub malformed_dropped: u64,
    /// Responses and indications a server has nothing to do with.
    pub ignored_messages: u64,
    /// Relayed data on a 5-tuple or relay address without an allocation.
    pub no_allocation_dropped: u64,
    /// Relayed data to or from a peer without a permission.
    pub no_permission_dropped: u64,
    /// ChannelData on a channel that is not bound.
    pub unbound_channel_dropped: u64,
    /// Send indications refused: a peer of no relayed family, or one of the server's own
    /// addresses.
    pub policy_dropped: u64,
    /// Datagrams over the allocation's bandwidth limit.
    pub bandwidth_dropped_packets: u64,
    /// Bytes of those datagrams.
    pub bandwidth_dropped_bytes: u64,
    /// Peer datagrams too long for the client's framing or the caller's buffer.
    pub oversize_dropped: u64,

    /// Responses to requests that did not authenticate (Binding, 401, 400 before
    /// authentication).
    pub unauthenticated_responses: u64,
    /// Bytes of those responses.
    pub unauthenticated_response_bytes: u64,
    /// Unauthenticated responses not sent because they would have been larger than the
    /// request plus [`MAX_UNAUTHENTICATED_GROWTH`](crate::MAX_UNAUTHENTICATED_GROWTH).
    pub amplification_suppressed: u64,
}
