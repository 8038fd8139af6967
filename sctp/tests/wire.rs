//! Hand-crafted packets against real associations: cookie tampering and staleness,
//! verification tags, checksums, the action bits of unknown chunks and parameters, a peer
//! restart, and the stream reset rules of RFC 6525.

mod common;

use std::time::{Duration, Instant};

use common::{config, Pair};
use sctp::chunk::{
    ChunkType, Chunks, CookieEchoChunk, DataChunk, ErrorChunk, IncomingSsnResetRequest, InitChunk,
    OutgoingSsnResetRequest, RawChunk, ReconfigChunk, ReconfigResponse, ReconfigResult,
};
use sctp::error_cause::ErrorCauseCode;
use sctp::packet::{set_checksum, CommonHeader, Packet, COMMON_HEADER_LEN};
use sctp::param::{write_param, ParamType, Params};
use sctp::{Association, Error, Event, PartialReliability, Ppid, SendOptions, State};

const ORDERED: SendOptions =
    SendOptions { unordered: false, reliability: PartialReliability::None };

/// Chunk types and raw chunks of a packet.
fn chunks(packet: &[u8]) -> Vec<(ChunkType, Vec<u8>)> {
    let p = Packet::parse(packet).unwrap();
    p.chunks().map(|c| c.unwrap()).map(|c| (c.chunk_type, c.bytes.to_vec())).collect()
}

fn first_chunk(packet: &[u8]) -> RawChunk<'_> {
    Packet::parse(packet).unwrap().chunks().next().unwrap().unwrap()
}

/// Runs the INIT / INIT-ACK exchange by hand; returns the COOKIE-ECHO packet.
fn handshake_until_cookie_echo(
    client: &mut Association,
    server: &mut Association,
    now: Instant,
) -> Vec<u8> {
    let init = client.poll_transmit(now).unwrap();
    server.handle_receive(now, &init).unwrap();
    let init_ack = server.poll_transmit(now).unwrap();
    assert_eq!(server.state(), State::Listen, "the INIT-ACK is stateless");
    client.handle_receive(now, &init_ack).unwrap();
    client.poll_transmit(now).unwrap()
}

#[test]
fn tampered_cookie_is_rejected() {
    let now = Instant::now();
    let mut client = Association::client(config(1), now).unwrap();
    let mut server = Association::server(config(2), now).unwrap();
    let echo = handshake_until_cookie_echo(&mut client, &mut server, now);
    assert_eq!(first_chunk(&echo).chunk_type, ChunkType::COOKIE_ECHO);
    let cookie_at = COMMON_HEADER_LEN + 4;
    let cookie_len = CookieEchoChunk::parse(&first_chunk(&echo)).unwrap().cookie.len();
    for i in [0, 5, 10, cookie_len / 2, cookie_len - 1] {
        let mut bad = echo.clone();
        bad[cookie_at + i] ^= 0x10;
        set_checksum(&mut bad);
        assert_eq!(
            server.handle_receive(now, &bad),
            Err(Error::Dropped("State Cookie signature mismatch"))
        );
        assert_eq!(server.state(), State::Listen);
        assert!(server.poll_transmit(now).is_none());
    }
    // A cookie echoed under another verification tag is refused too.
    let mut bad = echo.clone();
    bad[4] ^= 1;
    set_checksum(&mut bad);
    assert!(server.handle_receive(now, &bad).is_err());
    // The genuine one works.
    server.handle_receive(now, &echo).unwrap();
    assert_eq!(server.poll_event(), Some(Event::Connected));
    let ack = server.poll_transmit(now).unwrap();
    assert_eq!(chunks(&ack)[0].0, ChunkType::COOKIE_ACK);
    client.handle_receive(now, &ack).unwrap();
    assert_eq!(client.poll_event(), Some(Event::Connected));
}

#[test]
fn stale_cookie_restarts_the_handshake() {
    let now = Instant::now();
    let mut client = Association::client(config(3), now).unwrap();
    let mut server = Association::server(config(4), now).unwrap();
    let echo = handshake_until_cookie_echo(&mut client, &mut server, now);
    let late = now + Duration::from_secs(61);
    assert_eq!(server.handle_receive(late, &echo), Err(Error::Dropped("stale State Cookie")));
    let error = server.poll_transmit(late).unwrap();
    let (t, bytes) = &chunks(&error)[0];
    assert_eq!(*t, ChunkType::ERROR);
    let raw = Chunks::new(bytes).next().unwrap().unwrap();
    let cause = ErrorChunk::parse(&raw).unwrap().causes().next().unwrap().unwrap();
    assert_eq!(cause.code, ErrorCauseCode::STALE_COOKIE);
    // About one second stale, in microseconds.
    let staleness = u32::from_be_bytes(cause.info.try_into().unwrap());
    assert!((999_000..=1_001_000).contains(&staleness), "{staleness}");
    // The client starts over with a new INIT and the association comes up.
    client.handle_receive(late, &error).unwrap();
    assert_eq!(client.state(), State::CookieWait);
    let mut p = Pair::with(5, late, client, server);
    p.connect();
}

#[test]
fn wrong_verification_tag_and_bad_checksum_are_dropped() {
    let mut p = Pair::new(6, config(6), config(7));
    p.connect();
    p.a.assoc.send(p.now, 0, Ppid::BINARY, b"hello", ORDERED).unwrap();
    let packet = p.a.assoc.poll_transmit(p.now).unwrap();

    let mut wrong_tag = packet.clone();
    wrong_tag[7] ^= 0x01;
    set_checksum(&mut wrong_tag);
    assert_eq!(
        p.b.assoc.handle_receive(p.now, &wrong_tag),
        Err(Error::Dropped("verification tag mismatch"))
    );
    let mut corrupted = packet.clone();
    let last = corrupted.len() - 1;
    corrupted[last] ^= 0x80;
    assert!(matches!(p.b.assoc.handle_receive(p.now, &corrupted), Err(Error::BadChecksum { .. })));
    let mut wrong_port = packet.clone();
    wrong_port[1] ^= 1;
    set_checksum(&mut wrong_port);
    assert_eq!(
        p.b.assoc.handle_receive(p.now, &wrong_port),
        Err(Error::Dropped("unexpected SCTP ports"))
    );
    assert!(p.b.assoc.poll_event().is_none());
    assert_eq!(p.b.assoc.stats().packets_dropped, 3);
    p.b.assoc.handle_receive(p.now, &packet).unwrap();
    assert!(matches!(p.b.assoc.poll_event(), Some(Event::Message { .. })));
}

/// An established pair, a DATA packet from a to b (not delivered), and its verification tag.
fn pair_with_data_packet(seed: u64) -> (Pair, Vec<u8>) {
    let mut p = Pair::new(seed, config(seed), config(seed + 1));
    p.connect();
    p.drive_for(Duration::from_millis(500));
    p.a.assoc.send(p.now, 2, Ppid::STRING, b"payload", ORDERED).unwrap();
    let packet = p.a.assoc.poll_transmit(p.now).unwrap();
    (p, packet)
}

/// Delivers [unknown chunk of type `t`][the DATA chunk of a real packet] to b; returns whether
/// the message was delivered and whether b reported the unknown chunk.
fn unknown_chunk_case(t: u8) -> (bool, bool) {
    let (mut p, packet) = pair_with_data_packet(u64::from(t));
    let data = chunks(&packet).into_iter().find(|(t, _)| *t == ChunkType::DATA).unwrap().1;
    let mut crafted = packet[..COMMON_HEADER_LEN].to_vec();
    sctp::chunk::write_chunk(&mut crafted, ChunkType(t), 0x5a, &[1, 2, 3, 4, 5]).unwrap();
    crafted.extend_from_slice(&data);
    while crafted.len() % 4 != 0 {
        crafted.push(0);
    }
    set_checksum(&mut crafted);
    p.b.assoc.handle_receive(p.now, &crafted).unwrap();
    let delivered = std::iter::from_fn(|| p.b.assoc.poll_event())
        .any(|e| matches!(e, Event::Message { ref data, .. } if data == b"payload"));
    let mut reported = false;
    let later = p.now + Duration::from_millis(300);
    p.b.assoc.handle_timeout(later);
    while let Some(out) = p.b.assoc.poll_transmit(later) {
        for (ct, bytes) in chunks(&out) {
            if ct == ChunkType::ERROR {
                let raw = Chunks::new(&bytes).next().unwrap().unwrap();
                for cause in ErrorChunk::parse(&raw).unwrap().causes() {
                    let cause = cause.unwrap();
                    if cause.code == ErrorCauseCode::UNRECOGNIZED_CHUNK_TYPE {
                        assert_eq!(cause.info, [t, 0x5a, 0, 9, 1, 2, 3, 4, 5]);
                        reported = true;
                    }
                }
            }
        }
    }
    (delivered, reported)
}

#[test]
fn unknown_chunk_action_bits() {
    // RFC 9260 §3.2: 00 stop, 01 stop and report, 10 skip, 11 skip and report.
    assert_eq!(unknown_chunk_case(0x3e), (false, false));
    assert_eq!(unknown_chunk_case(0x7e), (false, true));
    assert_eq!(unknown_chunk_case(0xbe), (true, false));
    assert_eq!(unknown_chunk_case(0xfe), (true, true));
}

/// Sends a hand-made INIT carrying `params` to a listening server; returns the server, the
/// INIT-ACK chunk's parameters (type, value) and the COOKIE-ECHO completing the handshake.
/// The server, the INIT-ACK parameters (type, value) and the COOKIE-ECHO packet.
type InitOutcome = (Association, Vec<(ParamType, Vec<u8>)>, Vec<u8>);

fn init_with_params(params: &[u8]) -> InitOutcome {
    let now = Instant::now();
    let mut server = Association::server(config(40), now).unwrap();
    let mut init = Vec::new();
    CommonHeader { source_port: 5000, destination_port: 5000, verification_tag: 0 }
        .write_to(&mut init);
    InitChunk {
        initiate_tag: 0x0102_0304,
        a_rwnd: 100_000,
        outbound_streams: 16,
        inbound_streams: 16,
        initial_tsn: 77,
        params,
    }
    .write_to(ChunkType::INIT, &mut init)
    .unwrap();
    set_checksum(&mut init);
    server.handle_receive(now, &init).unwrap();
    let ack = server.poll_transmit(now).unwrap();
    let header = Packet::parse(&ack).unwrap();
    assert_eq!(header.verification_tag(), 0x0102_0304);
    let raw = first_chunk(&ack);
    let init_ack = InitChunk::parse(&raw).unwrap();
    let ack_params: Vec<_> = Params::new(init_ack.params)
        .map(|p| p.unwrap())
        .map(|p| (p.param_type, p.value.to_vec()))
        .collect();
    let cookie = ack_params.iter().find(|(t, _)| *t == ParamType::STATE_COOKIE).unwrap().1.clone();
    let mut echo = Vec::new();
    CommonHeader {
        source_port: 5000,
        destination_port: 5000,
        verification_tag: init_ack.initiate_tag,
    }
    .write_to(&mut echo);
    CookieEchoChunk { cookie: &cookie }.write_to(&mut echo).unwrap();
    set_checksum(&mut echo);
    server.handle_receive(now, &echo).unwrap();
    assert_eq!(server.state(), State::Established);
    assert_eq!(server.outbound_streams(), 16);
    (server, ack_params, echo)
}

fn unknown_param_case(t: u16) -> (bool, Option<Vec<u8>>) {
    let mut params = Vec::new();
    write_param(&mut params, ParamType(t), &[9, 9, 9]).unwrap();
    write_param(&mut params, ParamType::FORWARD_TSN_SUPPORTED, &[]).unwrap();
    let (server, ack_params, _) = init_with_params(&params);
    let reported = ack_params
        .iter()
        .find(|(pt, _)| *pt == ParamType::UNRECOGNIZED_PARAMETER)
        .map(|(_, v)| v.clone());
    (server.peer_supports_partial_reliability(), reported)
}

#[test]
fn unknown_parameter_action_bits() {
    // RFC 9260 §3.2.1: stop / skip the following parameters, report in the INIT-ACK.
    let reported = Some(vec![(0x7e01u16 >> 8) as u8, 0x01, 0, 7, 9, 9, 9]);
    assert_eq!(unknown_param_case(0x3e01), (false, None));
    assert_eq!(unknown_param_case(0x7e01), (false, reported));
    assert_eq!(unknown_param_case(0xbe01), (true, None));
    let (pr, rep) = unknown_param_case(0xfe01);
    assert!(pr);
    assert_eq!(rep, Some(vec![0xfe, 0x01, 0, 7, 9, 9, 9]));
}

#[test]
fn hand_made_handshake_then_data_exchange() {
    let (mut server, _, echo) = init_with_params(&[]);
    let now = Instant::now();
    assert_eq!(server.poll_event(), Some(Event::Connected));
    assert!(!server.peer_supports_stream_reset());
    assert_eq!(
        server.reset_streams(now, &[1]),
        Err(Error::Unsupported("the peer did not announce RE-CONFIG (RFC 6525)"))
    );
    let cookie_ack = server.poll_transmit(now).unwrap();
    assert_eq!(Packet::parse(&cookie_ack).unwrap().verification_tag(), 0x0102_0304);
    assert_eq!(chunks(&cookie_ack)[0].0, ChunkType::COOKIE_ACK);
    // DATA from the hand-made peer carries the server's tag and starts at TSN 77.
    let server_tag = Packet::parse(&echo).unwrap().verification_tag();
    let mut packet = Vec::new();
    CommonHeader { source_port: 5000, destination_port: 5000, verification_tag: server_tag }
        .write_to(&mut packet);
    DataChunk {
        tsn: 77,
        stream: 1,
        ssn: 0,
        ppid: Ppid::BINARY,
        unordered: false,
        beginning: true,
        ending: true,
        immediate: false,
        payload: b"hand made",
    }
    .write_to(&mut packet)
    .unwrap();
    set_checksum(&mut packet);
    server.handle_receive(now, &packet).unwrap();
    assert_eq!(
        server.poll_event(),
        Some(Event::Message {
            stream: 1,
            ppid: Ppid::BINARY,
            data: b"hand made".to_vec(),
            unordered: false
        })
    );
    // One packet: the SACK waits for the delayed-ack timer (200 ms).
    assert!(server.poll_transmit(now).is_none());
    let deadline = server.poll_timeout().unwrap();
    assert_eq!(deadline, now + Duration::from_millis(200));
    server.handle_timeout(deadline);
    let sack = server.poll_transmit(deadline).unwrap();
    let raw = first_chunk(&sack);
    let sack = sctp::chunk::SackChunk::parse(&raw).unwrap();
    assert_eq!(sack.cum_tsn_ack, 77);
    assert_eq!(sack.gap_blocks().len(), 0);
    // The same DATA again is a duplicate, reported at once.
    server.handle_receive(deadline, &packet).unwrap();
    let sack = server.poll_transmit(deadline).unwrap();
    let raw = first_chunk(&sack);
    let sack = sctp::chunk::SackChunk::parse(&raw).unwrap();
    assert_eq!(sack.duplicate_tsns().collect::<Vec<_>>(), [77]);
    assert!(server.poll_event().is_none());
}

#[test]
fn peer_restart_is_detected() {
    let mut p = Pair::new(50, config(50), config(51));
    p.connect();
    p.a.assoc.send(p.now, 0, Ppid::BINARY, b"before", ORDERED).unwrap();
    p.drive_until(|p| p.b.messages().len() == 1);
    // The peer loses its state and connects again with a new association.
    let now = p.now;
    let restarted = Association::client(config(52), now).unwrap();
    let Pair { b, .. } = p;
    let mut p = Pair::with(53, now, restarted, b.assoc);
    p.connect();
    p.drive_for(Duration::from_secs(1));
    assert!(p.b.has(&Event::Restarted), "{:?}", p.b.events);
    assert!(p.a.has(&Event::Connected));
    p.a.assoc.send(p.now, 0, Ppid::BINARY, b"after", ORDERED).unwrap();
    p.b.assoc.send(p.now, 0, Ppid::BINARY, b"reply", ORDERED).unwrap();
    p.drive_until(|p| !p.b.messages().is_empty() && !p.a.messages().is_empty());
    assert_eq!(p.b.messages(), [(0, b"after".to_vec())]);
    assert_eq!(p.a.messages(), [(0, b"reply".to_vec())]);
}

#[test]
fn data_chunks_carry_the_expected_fields() {
    let (p, packet) = pair_with_data_packet(60);
    let raw = Packet::parse(&packet).unwrap();
    let data = raw
        .chunks()
        .map(|c| c.unwrap())
        .find(|c| c.chunk_type == ChunkType::DATA)
        .map(|c| DataChunk::parse(&c).unwrap())
        .unwrap();
    assert_eq!(data.stream, 2);
    assert_eq!(data.ssn, 0);
    assert_eq!(data.ppid, Ppid::STRING);
    assert!(data.beginning && data.ending && !data.unordered);
    assert_eq!(data.payload, b"payload");
    assert_eq!(raw.source_port(), 5000);
    drop(p);
}

/// A packet from the hand-made peer to the server.
fn from_peer(tag: u32, write: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut packet = Vec::new();
    CommonHeader { source_port: 5000, destination_port: 5000, verification_tag: tag }
        .write_to(&mut packet);
    write(&mut packet);
    set_checksum(&mut packet);
    packet
}

fn data(tsn: u32, ssn: u16, payload: &[u8]) -> impl FnOnce(&mut Vec<u8>) + '_ {
    move |out| {
        DataChunk {
            tsn,
            stream: 1,
            ssn,
            ppid: Ppid::BINARY,
            unordered: false,
            beginning: true,
            ending: true,
            immediate: false,
            payload,
        }
        .write_to(out)
        .unwrap()
    }
}

/// The Re-configuration Responses the server sends now.
fn reconfig_responses(server: &mut Association, now: Instant) -> Vec<ReconfigResponse> {
    let mut out = Vec::new();
    while let Some(packet) = server.poll_transmit(now) {
        for (t, bytes) in chunks(&packet) {
            if t == ChunkType::RE_CONFIG {
                let raw = Chunks::new(&bytes).next().unwrap().unwrap();
                for p in ReconfigChunk::parse(&raw).unwrap().params() {
                    out.push(ReconfigResponse::parse(&p.unwrap()).unwrap());
                }
            }
        }
    }
    out
}

#[test]
fn stream_reset_requests_follow_rfc_6525() {
    let (mut server, _, echo) = init_with_params(&[]);
    let tag = Packet::parse(&echo).unwrap().verification_tag();
    let now = Instant::now();
    assert_eq!(server.poll_event(), Some(Event::Connected));
    while server.poll_transmit(now).is_some() {}
    let reconfig = |write: &dyn Fn(&mut Vec<u8>)| {
        let mut params = Vec::new();
        write(&mut params);
        from_peer(tag, |out| ReconfigChunk { params: &params }.write_to(out).unwrap())
    };
    let response = |seq, result| ReconfigResponse { response_seq: seq, result, next_tsns: None };

    // Request sequence numbers start at the peer's initial TSN (77). Incoming SSN reset
    // requests are not supported: denied, and the same answer to a retransmission.
    let incoming = reconfig(&|p| IncomingSsnResetRequest::write(p, 77, &[1]).unwrap());
    server.handle_receive(now, &incoming).unwrap();
    assert_eq!(reconfig_responses(&mut server, now), [response(77, ReconfigResult::DENIED)]);
    server.handle_receive(now, &incoming).unwrap();
    assert_eq!(reconfig_responses(&mut server, now), [response(77, ReconfigResult::DENIED)]);

    // The peer resets its stream 1 after TSN 78, which has not arrived: in progress.
    let reset = reconfig(&|p| OutgoingSsnResetRequest::write(p, 78, 0, 78, &[1]).unwrap());
    server.handle_receive(now, &reset).unwrap();
    assert_eq!(reconfig_responses(&mut server, now), [response(78, ReconfigResult::IN_PROGRESS)]);

    // Data after the reset (SSN 0 again) arrives first and is held; then the missing TSNs.
    server.handle_receive(now, &from_peer(tag, data(79, 0, b"c"))).unwrap();
    assert!(server.poll_event().is_none());
    server.handle_receive(now, &from_peer(tag, data(77, 0, b"a"))).unwrap();
    server.handle_receive(now, &from_peer(tag, data(78, 1, b"b"))).unwrap();
    let events: Vec<Event> = std::iter::from_fn(|| server.poll_event()).collect();
    let message = |d: &[u8]| Event::Message {
        stream: 1,
        ppid: Ppid::BINARY,
        data: d.to_vec(),
        unordered: false,
    };
    assert_eq!(
        events,
        [message(b"a"), message(b"b"), Event::StreamReset { streams: vec![1] }, message(b"c")]
    );
    assert_eq!(
        reconfig_responses(&mut server, now),
        [response(78, ReconfigResult::SUCCESS_PERFORMED)]
    );
    // A retransmission of the performed request gets the same answer; a wrong number is
    // refused.
    server.handle_receive(now, &reset).unwrap();
    assert_eq!(
        reconfig_responses(&mut server, now),
        [response(78, ReconfigResult::SUCCESS_PERFORMED)]
    );
    let wrong = reconfig(&|p| OutgoingSsnResetRequest::write(p, 5, 0, 78, &[1]).unwrap());
    server.handle_receive(now, &wrong).unwrap();
    assert_eq!(
        reconfig_responses(&mut server, now),
        [response(5, ReconfigResult::ERROR_BAD_SEQUENCE_NUMBER)]
    );
}
