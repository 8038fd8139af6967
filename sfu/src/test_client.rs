//! An in-memory WebRTC client, built from the project's own crates, for deterministic tests
//! of [`Session`](crate::session::Session) and of the UDP driver. It is not a product
//! feature: it plays the browser's half of one PeerConnection, nothing more.
//!
//! What it does, in the order a browser does it towards an ICE-lite SFU:
//! - ICE: the controlling side on one candidate pair ([`ice::IceControllingClient`]): a
//!   check, then the same check with USE-CANDIDATE (regular nomination), then consent checks
//!   every 4 to 6 s. When a check or the nomination exhausts its retransmissions it reports
//!   [`TestClientEvent::IceFailed`] and starts checking again, as a browser keeps checking
//!   until its own ICE timeout.
//! - DTLS: as client (the default, when the SFU answered `a=setup:passive`) it starts the
//!   handshake as soon as its first check succeeded, as browsers do once a pair is writable,
//!   so its ClientHello may race its nomination. As server it waits for the SFU's
//!   ClientHello.
//! - SRTP: after the handshake, [`TestClient::send_rtp`], [`TestClient::send_rtcp`] and
//!   [`TestClient::send_sender_report`] protect with the outbound context and queue a
//!   datagram; received SRTP/SRTCP is unprotected, counted in [`TestClientStats`] and kept
//!   ([`TestClient::received_rtp`], [`TestClient::received_rtcp`]) for the test to inspect.
//!
//! - Data channels, when enabled ([`TestClient::enable_data_channels`], as a browser whose
//!   SDP has an `m=application` section): once DTLS is up the client starts an SCTP
//!   association (our `sctp` crate) over DTLS application data;
//!   [`TestClient::open_negotiated_channel`], [`TestClient::send_channel_message`] and
//!   [`TestClient::poll_channel_event`] use it.
//!
//! Sans-IO like everything else: the caller moves datagrams between it and the session (in
//! memory, or over real sockets) and drives a clock it owns. Per-packet allocation is fine
//! here: this is test code.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use dtls::{Dtls, DtlsContext, Fingerprint, Role};
use ice::{CandidatePair, ControllingConfig, Credentials, IceControllingClient, IceEvent};
use rand::RngCore;
use rtcp::Encode;
use tracing::{debug, trace};

use crate::session::demux::{self, PacketClass};
use crate::session::keys::SrtpContexts;
use crate::session::Transmit;

/// What a [`TestClient`] needs: its own address and identity, and what the session's SDP
/// says (its address, ICE credentials and certificate fingerprint).
#[derive(Debug, Clone)]
pub struct TestClientParams {
    /// The client's address (the browser's host or reflexive candidate).
    pub local: SocketAddr,
    /// The session's address (the SFU's candidate).
    pub remote: SocketAddr,
    /// The client's ICE credentials (what its offer would carry).
    pub local_credentials: Credentials,
    /// The session's ICE credentials (from the SFU's answer).
    pub remote_credentials: Credentials,
    /// Check priority and retransmission timers.
    pub ice: ControllingConfig,
    /// The client's certificate and DTLS settings.
    pub dtls_context: DtlsContext,
    /// The client's DTLS role: `Client` when the SFU answered `a=setup:passive`.
    pub dtls_role: Role,
    /// The session's certificate fingerprint (from the SFU's answer).
    pub remote_fingerprint: Fingerprint,
    /// Replay window and SSRC bound of the client's SRTP contexts.
    pub srtp: srtp::Config,
}

impl TestClientParams {
    /// Parameters with the defaults: DTLS client, default ICE timers and SRTP settings.
    pub fn new(
        local: SocketAddr,
        remote: SocketAddr,
        local_credentials: Credentials,
        remote_credentials: Credentials,
        dtls_context: DtlsContext,
        remote_fingerprint: Fingerprint,
    ) -> TestClientParams {
        TestClientParams {
            local,
            remote,
            local_credentials,
            remote_credentials,
            ice: ControllingConfig::default(),
            dtls_context,
            dtls_role: Role::Client,
            remote_fingerprint,
            srtp: srtp::Config::default(),
        }
    }
}

/// What happened to a [`TestClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TestClientEvent {
    /// The nomination succeeded, or consent came back.
    IceConnected,
    /// No consent check succeeded for the consent timeout.
    IceDisconnected,
    /// The check or the nomination exhausted its retransmissions; checking starts over.
    IceFailed,
    /// DTLS completed and the SRTP contexts exist.
    Connected,
    /// The session sent close_notify.
    Closed,
    /// DTLS failed (fingerprint mismatch, handshake error, timeout).
    Failed(String),
}

/// Counters of a [`TestClient`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TestClientStats {
    /// STUN datagrams received.
    pub stun_received: u64,
    /// DTLS datagrams received.
    pub dtls_received: u64,
    /// SRTP packets authenticated and decrypted.
    pub rtp_decrypted: u64,
    /// Payload bytes of the decrypted SRTP packets.
    pub rtp_bytes_decrypted: u64,
    /// SRTCP packets authenticated and decrypted.
    pub rtcp_decrypted: u64,
    /// SRTP/SRTCP packets that failed authentication.
    pub srtp_auth_failed: u64,
    /// SRTP/SRTCP packets refused as replays or too old.
    pub srtp_replayed: u64,
    /// SRTP/SRTCP packets received before the keys existed.
    pub srtp_before_keys: u64,
    /// Anything else that was dropped (unknown kind, malformed, DTLS before DTLS started).
    pub dropped: u64,
    /// SRTP packets sent.
    pub rtp_sent: u64,
    /// SRTCP packets sent.
    pub rtcp_sent: u64,
}

/// One decrypted RTP packet, as the client received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedRtp {
    /// SSRC.
    pub ssrc: u32,
    /// Sequence number.
    pub sequence_number: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Payload type.
    pub payload_type: u8,
    /// The M bit.
    pub marker: bool,
    /// The payload (padding removed).
    pub payload: Vec<u8>,
    /// RFC 8285 header extension elements `(id, data)`, padding skipped.
    pub extensions: Vec<(u8, Vec<u8>)>,
}

/// Why a [`TestClient`] could not be made or could not send.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestClientError {
    /// The ICE checks could not be encoded.
    #[error("ICE: {0}")]
    Ice(#[from] ice::Error),
    /// The DTLS machine could not be created.
    #[error("DTLS: {0}")]
    Dtls(#[from] dtls::Error),
    /// Sending needs the SRTP keys of a completed handshake.
    #[error("not connected: no SRTP keys")]
    NotConnected,
    /// SRTP refused the packet.
    #[error("SRTP: {0}")]
    Srtp(#[from] srtp::Error),
    /// The RTP header could not be written.
    #[error("RTP: {0}")]
    Rtp(#[from] rtp::Error),
    /// The RTCP packet could not be written.
    #[error("RTCP: {0}")]
    Rtcp(#[from] rtcp::Error),
}

/// The browser's half of one PeerConnection, in memory. See the module documentation.
#[derive(Debug)]
pub struct TestClient {
    pair: CandidatePair,
    ice: IceControllingClient,
    dtls_context: DtlsContext,
    dtls_role: Role,
    remote_fingerprint: Fingerprint,
    dtls: Option<Dtls>,
    srtp_config: srtp::Config,
    srtp: Option<SrtpContexts>,
    failure: Option<String>,
    closed: bool,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TestClientEvent>,
    received_rtp: Vec<ReceivedRtp>,
    received_rtcp: Vec<Vec<u8>>,
    stats: TestClientStats,
    /// SCTP and data channels, from the end of the DTLS handshake.
    channels: Option<sctp::DataChannels>,
    /// Negotiated channels to open once the association exists.
    negotiated: Vec<(u16, sctp::ChannelOptions)>,
    /// Start SCTP once DTLS is up.
    data_channels: bool,
    channel_events: VecDeque<sctp::ChannelEvent>,
}

impl TestClient {
    /// A client that starts checking at `now`: the first check is ready in
    /// [`TestClient::poll_transmit`]. As DTLS server its DTLS machine waits from `now`.
    /// `rng` seeds the ICE tie-breaker, transaction IDs and consent jitter.
    pub fn new<R: RngCore + ?Sized>(
        now: Instant,
        params: TestClientParams,
        rng: &mut R,
    ) -> Result<TestClient, TestClientError> {
        let pair = CandidatePair { local: params.local, remote: params.remote };
        let ice = IceControllingClient::new(
            now,
            params.ice,
            params.local_credentials,
            params.remote_credentials,
            pair,
            rng,
        )?;
        let dtls = match params.dtls_role {
            Role::Server => Some(Dtls::new(
                now,
                &params.dtls_context,
                Role::Server,
                params.remote_fingerprint.clone(),
            )?),
            Role::Client => None,
        };
        let mut client = TestClient {
            pair,
            ice,
            dtls_context: params.dtls_context,
            dtls_role: params.dtls_role,
            remote_fingerprint: params.remote_fingerprint,
            dtls,
            srtp_config: params.srtp,
            srtp: None,
            failure: None,
            closed: false,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            received_rtp: Vec::new(),
            received_rtcp: Vec::new(),
            stats: TestClientStats::default(),
            channels: None,
            negotiated: Vec::new(),
            data_channels: false,
            channel_events: VecDeque::new(),
        };
        client.drain(now);
        Ok(client)
    }

    /// A datagram from `remote` (the session) arrived on the client's `local` address.
    pub fn handle_receive(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &[u8],
    ) {
        match demux::classify(datagram) {
            PacketClass::Stun => {
                self.stats.stun_received += 1;
                self.ice.handle_receive(now, local, remote, datagram);
            }
            PacketClass::Dtls => {
                self.stats.dtls_received += 1;
                match &mut self.dtls {
                    Some(dtls) => {
                        if let Err(error) = dtls.handle_receive(now, datagram) {
                            self.stats.dropped += 1;
                            trace!(%error, "client dropped DTLS");
                        }
                    }
                    None => self.stats.dropped += 1,
                }
            }
            PacketClass::Rtp => self.on_srtp(datagram, false),
            PacketClass::Rtcp => self.on_srtp(datagram, true),
            PacketClass::Unknown => self.stats.dropped += 1,
        }
        self.drain(now);
    }

    /// Fires the timers due at `now` (ICE retransmissions and consent, DTLS retransmissions).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.ice.handle_timeout(now);
        if let Some(dtls) = &mut self.dtls {
            dtls.handle_timeout(now);
        }
        if let Some(channels) = &mut self.channels {
            if channels.poll_timeout().is_some_and(|t| t <= now) {
                channels.handle_timeout(now);
            }
        }
        self.drain(now);
    }

    /// The next datagram to send (`local` is the client's address).
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<TestClientEvent> {
        self.events.pop_front()
    }

    /// When [`TestClient::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let dtls = self.dtls.as_ref().and_then(Dtls::poll_timeout);
        let sctp = self.channels.as_ref().and_then(sctp::DataChannels::poll_timeout);
        [self.ice.poll_timeout(), dtls, sctp].into_iter().flatten().min()
    }

    /// Starts SCTP as soon as DTLS is up (at once if it is), as a browser does when the
    /// SDP negotiated a data channel section.
    pub fn enable_data_channels(&mut self, now: Instant) {
        self.data_channels = true;
        if self.channels.is_none() && self.dtls.as_ref().is_some_and(Dtls::is_connected) {
            self.start_sctp(now);
            self.drain(now);
        }
    }

    /// Creates a channel negotiated out of band on stream `id` (at once when the
    /// association exists, else when it does); enables data channels.
    pub fn open_negotiated_channel(&mut self, id: u16, options: sctp::ChannelOptions) {
        self.data_channels = true;
        if let Some(channels) = &mut self.channels {
            let _ = channels.open_negotiated_channel(id, options);
        } else {
            self.negotiated.push((id, options));
        }
    }

    /// Queues a data channel message (drain [`TestClient::poll_transmit`]).
    pub fn send_channel_message(
        &mut self,
        now: Instant,
        id: u16,
        data: &[u8],
        binary: bool,
    ) -> Result<(), sctp::Error> {
        let channels = self
            .channels
            .as_mut()
            .ok_or(sctp::Error::InvalidState("no SCTP association: DTLS is not up"))?;
        channels.send(now, id, data, binary)?;
        self.drain(now);
        Ok(())
    }

    /// Closes a data channel (stream reset).
    pub fn close_channel(&mut self, now: Instant, id: u16) -> Result<(), sctp::Error> {
        let channels = self
            .channels
            .as_mut()
            .ok_or(sctp::Error::InvalidState("no SCTP association: DTLS is not up"))?;
        channels.close_channel(now, id)?;
        self.drain(now);
        Ok(())
    }

    /// Whether the SCTP association is established.
    pub fn channels_established(&self) -> bool {
        self.channels.as_ref().is_some_and(|c| c.association().is_established())
    }

    /// Bytes queued or in flight on the client's association.
    pub fn channels_buffered(&self) -> usize {
        self.channels.as_ref().map_or(0, |c| c.association().total_buffered_amount())
    }

    /// The next data channel event (messages, channel opened or closed).
    pub fn poll_channel_event(&mut self) -> Option<sctp::ChannelEvent> {
        self.channel_events.pop_front()
    }

    /// Whether ICE is nominated with fresh consent and DTLS completed (SRTP keys exist).
    pub fn is_connected(&self) -> bool {
        self.srtp.is_some()
            && self.failure.is_none()
            && !self.closed
            && self.ice.state() == ice::ConnectionState::Connected
    }

    /// Whether DTLS completed (the SRTP keys exist), whatever ICE's consent says.
    pub fn has_keys(&self) -> bool {
        self.srtp.is_some()
    }

    /// Why DTLS failed, if it did.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// Whether the session closed the association.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The ICE state.
    pub fn ice_state(&self) -> ice::ConnectionState {
        self.ice.state()
    }

    /// The ICE counters.
    pub fn ice_stats(&self) -> &ice::ControllingStats {
        self.ice.stats()
    }

    /// The negotiated SRTP profile, once connected.
    pub fn srtp_profile(&self) -> Option<srtp::ProtectionProfile> {
        self.srtp.as_ref().map(SrtpContexts::profile)
    }

    /// The client's address and the session's.
    pub fn pair(&self) -> CandidatePair {
        self.pair
    }

    /// Counters.
    pub fn stats(&self) -> TestClientStats {
        self.stats
    }

    /// The RTP packets decrypted so far, in arrival order.
    pub fn received_rtp(&self) -> &[ReceivedRtp] {
        &self.received_rtp
    }

    /// The RTCP compound packets decrypted so far, in arrival order.
    pub fn received_rtcp(&self) -> &[Vec<u8>] {
        &self.received_rtcp
    }

    /// Takes the RTP packets decrypted since the last take (or since the start), leaving
    /// none kept: for long runs that count packets rather than inspect them all at the end.
    pub fn take_received_rtp(&mut self) -> Vec<ReceivedRtp> {
        std::mem::take(&mut self.received_rtp)
    }

    /// Takes the RTCP compound packets decrypted since the last take, as
    /// [`TestClient::take_received_rtp`] does for RTP.
    pub fn take_received_rtcp(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.received_rtcp)
    }

    /// Builds an RTP packet, protects it and queues it for the session.
    pub fn send_rtp(
        &mut self,
        ssrc: u32,
        sequence_number: u16,
        timestamp: u32,
        payload_type: u8,
        payload: &[u8],
    ) -> Result<(), TestClientError> {
        let contexts = self.srtp.as_mut().ok_or(TestClientError::NotConnected)?;
        let mut datagram = Vec::new();
        rtp::RtpHeaderWriter {
            payload_type,
            sequence_number,
            timestamp,
            ssrc,
            ..rtp::RtpHeaderWriter::default()
        }
        .append_packet(payload, &mut datagram)?;
        contexts.outbound.protect_rtp_vec(&mut datagram)?;
        self.stats.rtp_sent += 1;
        self.queue(datagram);
        Ok(())
    }

    /// Builds an RTP packet with every field of `header` (header extensions, marker),
    /// protects it and queues it for the session.
    pub fn send_rtp_with(
        &mut self,
        header: &rtp::RtpHeaderWriter<'_>,
        payload: &[u8],
    ) -> Result<(), TestClientError> {
        let contexts = self.srtp.as_mut().ok_or(TestClientError::NotConnected)?;
        let mut datagram = Vec::new();
        header.append_packet(payload, &mut datagram)?;
        contexts.outbound.protect_rtp_vec(&mut datagram)?;
        self.stats.rtp_sent += 1;
        self.queue(datagram);
        Ok(())
    }

    /// Protects an RTCP compound packet (SRTCP) and queues it for the session.
    pub fn send_rtcp(&mut self, compound: &[u8]) -> Result<(), TestClientError> {
        let contexts = self.srtp.as_mut().ok_or(TestClientError::NotConnected)?;
        let mut datagram = compound.to_vec();
        contexts.outbound.protect_rtcp_vec(&mut datagram)?;
        self.stats.rtcp_sent += 1;
        self.queue(datagram);
        Ok(())
    }

    /// Sends a sender report (RFC 3550 §6.4.1) without report blocks, NTP time zero.
    pub fn send_sender_report(
        &mut self,
        ssrc: u32,
        rtp_timestamp: u32,
        packet_count: u32,
        octet_count: u32,
    ) -> Result<(), TestClientError> {
        let report = rtcp::SenderReportBuilder {
            ssrc,
            rtp_timestamp,
            packet_count,
            octet_count,
            ..rtcp::SenderReportBuilder::default()
        };
        let mut compound = vec![0; report.encoded_len()];
        let len = report.write_to(&mut compound)?;
        compound.truncate(len);
        self.send_rtcp(&compound)
    }

    /// The client moved to another local address (a network change): ICE checks and
    /// nominates the pair from `local`, and DTLS and SRTP are sent from it from now on.
    pub fn rebind(&mut self, now: Instant, local: SocketAddr) {
        self.pair.local = local;
        self.ice.rebind(now, local);
        self.drain(now);
    }

    /// Closes the association: close_notify once connected.
    pub fn close(&mut self) {
        if let Some(dtls) = &mut self.dtls {
            dtls.close();
        }
        self.closed = true;
        self.drain_dtls_transmits();
    }

    fn queue(&mut self, datagram: Vec<u8>) {
        self.transmits.push_back(Transmit {
            local: self.pair.local,
            remote: self.pair.remote,
            datagram,
        });
    }

    fn on_srtp(&mut self, datagram: &[u8], rtcp: bool) {
        let Some(contexts) = &mut self.srtp else {
            self.stats.srtp_before_keys += 1;
            return;
        };
        let mut packet = datagram.to_vec();
        let result = if rtcp {
            contexts.inbound.unprotect_rtcp_vec(&mut packet)
        } else {
            contexts.inbound.unprotect_rtp_vec(&mut packet)
        };
        match result {
            Ok(()) if rtcp => {
                self.stats.rtcp_decrypted += 1;
                self.received_rtcp.push(packet);
            }
            Ok(()) => match rtp::RtpPacket::new_checked(&packet[..]) {
                Ok(view) => {
                    self.stats.rtp_decrypted += 1;
                    self.stats.rtp_bytes_decrypted += view.payload().len() as u64;
                    self.received_rtp.push(ReceivedRtp {
                        ssrc: view.ssrc(),
                        sequence_number: view.sequence_number(),
                        timestamp: view.timestamp(),
                        payload_type: view.payload_type(),
                        marker: view.marker(),
                        payload: view.payload().to_vec(),
                        extensions: view
                            .extensions()
                            .map(|(id, data)| (id, data.to_vec()))
                            .collect(),
                    });
                }
                Err(_) => self.stats.dropped += 1,
            },
            Err(srtp::Error::AuthenticationFailed) => self.stats.srtp_auth_failed += 1,
            Err(srtp::Error::Replayed | srtp::Error::TooOld) => self.stats.srtp_replayed += 1,
            Err(_) => self.stats.dropped += 1,
        }
    }

    fn drain(&mut self, now: Instant) {
        while let Some(t) = self.ice.poll_transmit() {
            self.transmits.push_back(Transmit {
                local: t.local,
                remote: t.remote,
                datagram: t.datagram,
            });
        }
        while let Some(event) = self.ice.poll_event() {
            match event {
                IceEvent::Connected => self.events.push_back(TestClientEvent::IceConnected),
                IceEvent::Disconnected => self.events.push_back(TestClientEvent::IceDisconnected),
                IceEvent::Failed => {
                    // A browser keeps checking a pair until its own ICE timeout rather than
                    // giving up after one transaction: start over.
                    self.events.push_back(TestClientEvent::IceFailed);
                    if !self.closed && self.failure.is_none() {
                        self.ice.rebind(now, self.pair.local);
                    }
                }
                other => trace!(?other, "client ICE event"),
            }
        }
        // A browser starts DTLS once a pair is writable: its first check succeeded.
        if self.dtls.is_none()
            && self.dtls_role == Role::Client
            && !self.closed
            && self.ice.mapped_address().is_some()
        {
            match Dtls::new(now, &self.dtls_context, Role::Client, self.remote_fingerprint.clone())
            {
                Ok(dtls) => {
                    debug!("test client: DTLS client started");
                    self.dtls = Some(dtls);
                }
                Err(error) => self.on_failure(error.to_string()),
            }
        }
        self.drain_dtls_transmits();
        while let Some(event) = self.dtls.as_mut().and_then(Dtls::poll_event) {
            match event {
                dtls::Event::Connected { srtp, .. } => {
                    match SrtpContexts::new(&srtp, self.srtp_config) {
                        Ok(contexts) => {
                            self.srtp = Some(contexts);
                            self.events.push_back(TestClientEvent::Connected);
                        }
                        Err(error) => self.on_failure(error.to_string()),
                    }
                    if self.data_channels {
                        self.start_sctp(now);
                    }
                }
                dtls::Event::ApplicationData(packet) => {
                    if let Some(channels) = &mut self.channels {
                        if let Err(error) = channels.handle_receive(now, &packet) {
                            trace!(%error, "client dropped an SCTP packet");
                        }
                    }
                }
                dtls::Event::Closed => {
                    self.closed = true;
                    self.events.push_back(TestClientEvent::Closed);
                }
                dtls::Event::Failed(error) => self.on_failure(error.to_string()),
                other => trace!(?other, "client DTLS event"),
            }
        }
        self.drain_sctp(now);
        self.drain_dtls_transmits();
    }

    /// Starts the association as a browser does once DTLS is up (as SCTP client; the
    /// SFU is passive).
    fn start_sctp(&mut self, now: Instant) {
        let config = sctp::Config { peer_max_message_size: 256 * 1024, ..sctp::Config::default() };
        let role = match self.dtls_role {
            Role::Client => sctp::DtlsRole::Client,
            Role::Server => sctp::DtlsRole::Server,
        };
        match sctp::Association::client(config, now) {
            Ok(association) => {
                let mut channels = sctp::DataChannels::new(association, role, now);
                for (id, options) in self.negotiated.drain(..) {
                    let _ = channels.open_negotiated_channel(id, options);
                }
                self.channels = Some(channels);
            }
            Err(error) => self.on_failure(error.to_string()),
        }
    }

    /// Moves the association's events out and its packets into DTLS.
    fn drain_sctp(&mut self, now: Instant) {
        let Some(channels) = &mut self.channels else { return };
        while let Some(event) = channels.poll_event() {
            self.channel_events.push_back(event);
        }
        let Some(dtls) = self.dtls.as_mut().filter(|d| d.is_connected()) else { return };
        while let Some(packet) = channels.poll_transmit(now) {
            if let Err(error) = dtls.send_application_data(&packet) {
                trace!(%error, "client could not send an SCTP packet");
            }
        }
    }

    fn drain_dtls_transmits(&mut self) {
        while let Some(datagram) = self.dtls.as_mut().and_then(Dtls::poll_transmit) {
            self.queue(datagram);
        }
    }

    fn on_failure(&mut self, reason: String) {
        if self.failure.is_none() {
            debug!(%reason, "test client failed");
            self.failure = Some(reason.clone());
            self.events.push_back(TestClientEvent::Failed(reason));
        }
    }
}
