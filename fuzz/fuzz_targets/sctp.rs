//! Any bytes as an SCTP packet: the packet view, every chunk parser, DCEP, and two
//! associations (one listening, one that sent its INIT) never panic. The checksum is set
//! right before the associations see the packet so that the chunk handlers are reached.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sctp::chunk::{
    AbortChunk, CookieAckChunk, CookieEchoChunk, DataChunk, ErrorChunk, ForwardTsnChunk,
    HeartbeatChunk, InitChunk, ReconfigChunk, SackChunk, ShutdownAckChunk, ShutdownChunk,
    ShutdownCompleteChunk,
};
use sctp::dcep::DcepMessage;
use sctp::packet::{set_checksum, Packet, COMMON_HEADER_LEN};
use sctp::{Association, Config};

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = Packet::parse(data) {
        let _ = packet.verify_checksum();
        for chunk in packet.chunks().flatten() {
            let _ = AbortChunk::parse(&chunk);
            let _ = ErrorChunk::parse(&chunk);
            let _ = CookieEchoChunk::parse(&chunk);
            let _ = CookieAckChunk::parse(&chunk);
            let _ = DataChunk::parse(&chunk);
            let _ = ForwardTsnChunk::parse(&chunk);
            let _ = HeartbeatChunk::parse(&chunk);
            let _ = InitChunk::parse(&chunk);
            let _ = ReconfigChunk::parse(&chunk);
            let _ = SackChunk::parse(&chunk);
            let _ = ShutdownChunk::parse(&chunk);
            let _ = ShutdownAckChunk::parse(&chunk);
            let _ = ShutdownCompleteChunk::parse(&chunk);
        }
    }
    let _ = DcepMessage::parse(data);

    let mut packet = data.to_vec();
    if packet.len() >= COMMON_HEADER_LEN {
        set_checksum(&mut packet);
    }
    let now = Instant::now();
    let config = Config { seed: Some(1), ..Config::default() };
    for mut association in [Association::server(config.clone(), now), Association::client(config, now)]
        .into_iter()
        .flatten()
    {
        while association.poll_transmit(now).is_some() {}
        let _ = association.handle_receive(now, &packet);
        while association.poll_transmit(now).is_some() {}
        while association.poll_event().is_some() {}
        let later = now + Duration::from_secs(5);
        association.handle_timeout(later);
        while association.poll_transmit(later).is_some() {}
    }
});
