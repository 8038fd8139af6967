//! Stream reset (RFC 6525): our Outgoing SSN Reset Requests, the peer's requests with
//! deferred processing, and the responses.
//!
//! A reset of our outgoing streams is requested only once every message queued on them has
//! its TSNs (so the request's "Sender's Last Assigned TSN" covers them, and nothing queued
//! is lost); no new message is accepted on them until the peer answers. A peer request whose
//! last TSN we have not yet received is deferred: data for the affected streams sent after
//! the reset is held aside until the cumulative TSN reaches that point (RFC 6525 §5.2.2).

use std::time::Instant;

use super::inbound::DataMeta;
use super::{Association, Event};
use crate::chunk::{
    AddStreamsRequest, IncomingSsnResetRequest, OutgoingSsnResetRequest, ReconfigChunk,
    ReconfigResponse, ReconfigResult, SsnTsnResetRequest,
};
use crate::param::{ParamType, RawParam};
use crate::Error;

/// Our request on the wire, waiting for its response.
#[derive(Debug, Clone)]
pub(crate) struct OutgoingRequest {
    pub(crate) seq: u32,
    pub(crate) streams: Vec<u16>,
    pub(crate) last_tsn: u32,
}

/// A peer request waiting for our cumulative TSN.
#[derive(Debug, Clone)]
pub(crate) struct DeferredReset {
    pub(crate) seq: u32,
    pub(crate) last_tsn: u64,
    pub(crate) streams: Vec<u16>,
}

/// A DATA chunk held during deferred reset processing.
#[derive(Debug)]
pub(crate) struct HeldChunk {
    pub(crate) meta: DataMeta,
    pub(crate) payload: Vec<u8>,
}

/// Stream reset state of an association.
#[derive(Debug)]
pub(crate) struct StreamReset {
    pub(crate) next_request_seq: u32,
    /// Streams to reset, not yet in a request.
    pub(crate) pending: Vec<u16>,
    pub(crate) in_flight: Option<OutgoingRequest>,
    /// The in-flight request must be (re)sent.
    pub(crate) send_request: bool,
    pub(crate) timer: Option<Instant>,
    /// Next request sequence number expected from the peer.
    pub(crate) peer_next_seq: u32,
    /// Result of the last peer request we performed, for retransmitted requests.
    pub(crate) last_result: ReconfigResult,
    pub(crate) deferred: Option<DeferredReset>,
    pub(crate) held: Vec<HeldChunk>,
    pub(crate) held_bytes: usize,
}

impl StreamReset {
    pub(crate) fn new(my_initial_tsn: u32, peer_initial_tsn: u32) -> Self {
        // RFC 6525 §5.1.1: request sequence numbers start at the initial TSN.
        Self {
            next_request_seq: my_initial_tsn,
            pending: Vec::new(),
            in_flight: None,
            send_request: false,
            timer: None,
            peer_next_seq: peer_initial_tsn,
            last_result: ReconfigResult::SUCCESS_NOTHING_TO_DO,
            deferred: None,
            held: Vec::new(),
            held_bytes: 0,
        }
    }

    /// A DATA chunk of `stream` with widened `tsn` must be held (RFC 6525 §5.2.2).
    pub(crate) fn must_hold(&self, stream: u16, tsn: u64) -> bool {
        self.deferred.as_ref().is_some_and(|d| {
            tsn > d.last_tsn && (d.streams.is_empty() || d.streams.contains(&stream))
        })
    }
}

impl Association {
    /// Moves streams whose queues have drained into a new request, if none is in flight.
    pub(super) fn prepare_reset_request(&mut self) {
        if self.reset.in_flight.is_some() || self.reset.pending.is_empty() {
            return;
        }
        let (ready, waiting): (Vec<u16>, Vec<u16>) =
            self.reset.pending.iter().partition(|s| self.out.streams_drained(&[**s]));
        if ready.is_empty() {
            return;
        }
        self.reset.pending = waiting;
        let seq = self.reset.next_request_seq;
        self.reset.next_request_seq = seq.wrapping_add(1);
        self.reset.in_flight =
            Some(OutgoingRequest { seq, streams: ready, last_tsn: self.out.last_assigned_tsn() });
        self.reset.send_request = true;
    }

    /// Appends the RE-CONFIG chunk carrying our request when it is due; `true` if written.
    pub(super) fn write_reset_request(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        if !self.reset.send_request {
            return false;
        }
        let Some(req) = &self.reset.in_flight else {
            self.reset.send_request = false;
            return false;
        };
        let mut params = Vec::with_capacity(16 + 2 * req.streams.len());
        let response_seq = self.reset.peer_next_seq.wrapping_sub(1);
        let written = OutgoingSsnResetRequest::write(
            &mut params,
            req.seq,
            response_seq,
            req.last_tsn,
            &req.streams,
        )
        .and_then(|()| ReconfigChunk { params: &params }.write_to(out));
        if written.is_err() {
            return false;
        }
        self.reset.send_request = false;
        self.reset.timer = Some(now + self.rto.rto());
        true
    }

    /// The RE-CONFIG timer expired: retransmit the request (RFC 6525 §5.1.1).
    pub(super) fn on_reconfig_timeout(&mut self, now: Instant) {
        self.reset.timer = None;
        if self.reset.in_flight.is_none() {
            return;
        }
        self.error_count += 1;
        if self.check_path_failure(now) {
            return;
        }
        self.rto.back_off();
        self.reset.send_request = true;
    }

    /// Handles the parameters of a RE-CONFIG chunk.
    pub(super) fn handle_reconfig(&mut self, now: Instant, chunk: &ReconfigChunk<'_>) {
        for param in chunk.params() {
            let Ok(param) = param else {
                break;
            };
            let outcome = match param.param_type {
                ParamType::OUTGOING_SSN_RESET_REQUEST => {
                    OutgoingSsnResetRequest::parse(&param).map(|r| self.on_peer_reset_request(&r))
                }
                ParamType::RECONFIG_RESPONSE => {
                    ReconfigResponse::parse(&param).map(|r| self.on_reconfig_response(now, &r))
                }
                _ => self.deny_request(&param),
            };
            if let Err(e) = outcome {
                tracing::debug!(error = %e, "malformed re-configuration parameter");
            }
        }
    }

    /// Requests we do not perform are denied, with the usual sequence number rules.
    fn deny_request(&mut self, param: &RawParam<'_>) -> Result<(), Error> {
        let seq = match param.param_type {
            ParamType::INCOMING_SSN_RESET_REQUEST => {
                IncomingSsnResetRequest::parse(param)?.request_seq
            }
            ParamType::SSN_TSN_RESET_REQUEST => SsnTsnResetRequest::parse(param)?.request_seq,
            ParamType::ADD_OUTGOING_STREAMS_REQUEST | ParamType::ADD_INCOMING_STREAMS_REQUEST => {
                AddStreamsRequest::parse(param)?.request_seq
            }
            _ => return Ok(()),
        };
        if seq == self.reset.peer_next_seq {
            self.reset.peer_next_seq = seq.wrapping_add(1);
            self.reset.last_result = ReconfigResult::DENIED;
            self.queue_reconfig_response(seq, ReconfigResult::DENIED);
        } else if seq == self.reset.peer_next_seq.wrapping_sub(1) {
            self.queue_reconfig_response(seq, self.reset.last_result);
        } else {
            self.queue_reconfig_response(seq, ReconfigResult::ERROR_BAD_SEQUENCE_NUMBER);
        }
        Ok(())
    }

    /// The peer resets its outgoing streams (RFC 6525 §5.2.2).
    fn on_peer_reset_request(&mut self, req: &OutgoingSsnResetRequest<'_>) {
        let seq = req.request_seq;
        if seq == self.reset.peer_next_seq {
            let last = self.inb.unwrap(req.last_tsn);
            let streams: Vec<u16> = req.streams.iter().collect();
            if last <= self.inb.cum() {
                self.perform_peer_reset(seq, &streams);
                self.queue_reconfig_response(seq, ReconfigResult::SUCCESS_PERFORMED);
            } else {
                if self.reset.deferred.is_none() {
                    tracing::debug!(seq, "deferring stream reset until the last TSN arrives");
                    self.reset.deferred = Some(DeferredReset { seq, last_tsn: last, streams });
                }
                self.queue_reconfig_response(seq, ReconfigResult::IN_PROGRESS);
            }
        } else if seq == self.reset.peer_next_seq.wrapping_sub(1) {
            self.queue_reconfig_response(seq, self.reset.last_result);
        } else {
            self.queue_reconfig_response(seq, ReconfigResult::ERROR_BAD_SEQUENCE_NUMBER);
        }
    }

    /// Resets our incoming streams and reports it.
    fn perform_peer_reset(&mut self, seq: u32, streams: &[u16]) {
        self.inb.reset_streams(streams);
        self.reset.peer_next_seq = seq.wrapping_add(1);
        self.reset.last_result = ReconfigResult::SUCCESS_PERFORMED;
        self.events.push_back(Event::StreamReset { streams: streams.to_vec() });
    }

    /// Completes a deferred peer request once the cumulative TSN has reached its last TSN,
    /// then replays the held chunks.
    pub(super) fn check_deferred_reset(&mut self) {
        let Some(deferred) = &self.reset.deferred else {
            return;
        };
        if deferred.last_tsn > self.inb.cum() {
            return;
        }
        let deferred = self.reset.deferred.take().expect("checked above");
        self.perform_peer_reset(deferred.seq, &deferred.streams);
        self.queue_reconfig_response(deferred.seq, ReconfigResult::SUCCESS_PERFORMED);
        let held = std::mem::take(&mut self.reset.held);
        self.reset.held_bytes = 0;
        for chunk in held {
            let delivered = self.inb.reassemble(chunk.meta, &chunk.payload, &mut self.events);
            self.unread_bytes += delivered;
        }
    }

    /// The answer to our request.
    fn on_reconfig_response(&mut self, now: Instant, resp: &ReconfigResponse) {
        let Some(req) = &self.reset.in_flight else {
            return;
        };
        if resp.response_seq != req.seq {
            return;
        }
        self.error_count = 0;
        if resp.result == ReconfigResult::IN_PROGRESS {
            // Ask again after an RTO.
            self.reset.timer = Some(now + self.rto.rto());
            return;
        }
        let req = self.reset.in_flight.take().expect("checked above");
        self.reset.timer = None;
        self.reset.send_request = false;
        if resp.result.is_success() {
            self.out.complete_reset(&req.streams);
            self.events.push_back(Event::StreamResetComplete { streams: req.streams });
        } else {
            tracing::warn!(result = ?resp.result, "peer refused our stream reset");
            self.out.set_resetting(&req.streams, false);
            self.events.push_back(Event::StreamResetFailed { streams: req.streams });
        }
    }

    fn queue_reconfig_response(&mut self, seq: u32, result: ReconfigResult) {
        let mut params = Vec::with_capacity(12);
        let mut chunk = Vec::with_capacity(16);
        let written = ReconfigResponse { response_seq: seq, result, next_tsns: None }
            .write_to(&mut params)
            .and_then(|()| ReconfigChunk { params: &params }.write_to(&mut chunk));
        if written.is_ok() {
            self.control.push_back(chunk);
        }
    }
}
