//! Fuzzes the RTCP compound parser: the iterator, every view's accessors and sub-iterators
//! must never panic, and what the crate decodes must survive its own writers (NACK loss
//! lists re-packed, transport-wide feedback rebuilt).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtcp::{
    pack_nack_pairs, CompoundIter, Packet, RawPackets, TransportCc, TwccBuilder,
    REFERENCE_TIME_UNIT_US,
};

/// Folds values so the optimiser keeps every accessor call.
fn mix(acc: &mut u64, v: u64) {
    *acc = acc.rotate_left(5) ^ v;
}

fn rebuild_twcc(fb: &TransportCc<'_>) {
    // Rebuilt feedback can only say arrivals inside its 24-bit reference time.
    let limit = (1i64 << 22) * REFERENCE_TIME_UNIT_US;
    let statuses: Vec<_> = fb.statuses().map(|s| (s.sequence, s.arrival_us)).collect();
    assert_eq!(statuses.len(), usize::from(fb.status_count()));
    if statuses.iter().any(|(_, t)| t.is_some_and(|t| t.abs() >= limit)) {
        return;
    }
    let mut builder = TwccBuilder::new(fb.sender_ssrc(), fb.media_ssrc());
    for (seq, arrival) in &statuses {
        builder.push(*seq, *arrival).expect("parsed statuses are in sequence order");
    }
    let mut out = Vec::new();
    builder.finish(&mut out);
    let mut again = Vec::new();
    for packet in CompoundIter::new(&out) {
        match packet.expect("rebuilt feedback parses") {
            Packet::TransportCc(fb) => {
                again.extend(fb.statuses().map(|s| (s.sequence, s.arrival_us)))
            }
            other => panic!("rebuilt feedback is {other:?}"),
        }
    }
    assert_eq!(again, statuses);
}

fn visit(packet: Packet<'_>, acc: &mut u64) {
    mix(acc, u64::from(packet.packet_type().0));
    match packet {
        Packet::SenderReport(sr) => {
            mix(acc, sr.ntp_timestamp() ^ u64::from(sr.compact_ntp() ^ sr.ssrc()));
            mix(acc, u64::from(sr.rtp_timestamp() ^ sr.packet_count() ^ sr.octet_count()));
            mix(acc, sr.extension().len() as u64);
            for b in sr.report_blocks() {
                mix(acc, format!("{b:?}").len() as u64);
            }
        }
        Packet::ReceiverReport(rr) => {
            mix(acc, u64::from(rr.ssrc()) + rr.extension().len() as u64);
            for b in rr.report_blocks() {
                mix(acc, u64::from(b.ssrc() ^ b.jitter() ^ b.last_sr() ^ b.delay_since_last_sr()));
                mix(acc, u64::from(b.fraction_lost()) ^ b.cumulative_lost() as u64);
                mix(acc, u64::from(b.extended_highest_sequence()));
                let _ = b.to_reception_report();
            }
        }
        Packet::Sdes(sdes) => {
            mix(acc, u64::from(sdes.chunk_count()));
            for chunk in sdes.chunks() {
                mix(acc, u64::from(chunk.ssrc()) + chunk.cname().map_or(0, |c| c.len() as u64));
                for item in chunk.items() {
                    mix(acc, u64::from(item.item_type.0) + item.value.len() as u64);
                }
            }
        }
        Packet::Bye(bye) => {
            mix(acc, bye.ssrcs().map(u64::from).sum::<u64>());
            mix(acc, bye.reason().map_or(0, |r| r.len() as u64));
        }
        Packet::App(app) => {
            mix(acc, u64::from(app.subtype()) + u64::from(app.ssrc()));
            mix(acc, u64::from(u32::from_be_bytes(app.name())) + app.data().len() as u64);
        }
        Packet::Nack(nack) => {
            mix(acc, u64::from(nack.sender_ssrc() ^ nack.media_ssrc()));
            mix(acc, nack.pairs().map(|p| u64::from(p.pid ^ p.blp)).sum::<u64>());
            let mut lost: Vec<u16> = nack.lost_sequence_numbers().collect();
            let mut want = lost.clone();
            want.sort_unstable();
            want.dedup();
            let mut pairs = Vec::new();
            pack_nack_pairs(&mut lost, &mut pairs);
            let mut again: Vec<u16> = pairs.iter().flat_map(|p| p.sequence_numbers()).collect();
            again.sort_unstable();
            assert_eq!(again, want);
            assert!(pairs.len() <= nack.pairs().len());
        }
        Packet::TransportCc(fb) => {
            mix(acc, u64::from(fb.sender_ssrc() ^ fb.media_ssrc()));
            mix(acc, u64::from(fb.base_sequence()) + u64::from(fb.status_count()));
            mix(acc, fb.reference_time_us() as u64 ^ u64::from(fb.feedback_count()));
            mix(acc, fb.deltas().len() as u64);
            for chunk in fb.chunks() {
                mix(acc, u64::from(chunk.to_u16()) + chunk.status_count() as u64);
                for i in 0..=chunk.status_count().min(20) {
                    mix(acc, chunk.symbol(i).map_or(9, |s| u64::from(s.0)));
                }
            }
            for s in fb.statuses() {
                mix(acc, u64::from(s.sequence) ^ s.arrival_us.unwrap_or(0) as u64);
                mix(acc, s.delta_us().unwrap_or(0) as u64);
            }
            rebuild_twcc(&fb);
        }
        Packet::Pli(pli) => mix(acc, u64::from(pli.sender_ssrc() ^ pli.media_ssrc())),
        Packet::Fir(fir) => {
            mix(acc, u64::from(fir.sender_ssrc() ^ fir.media_ssrc()));
            mix(acc, fir.entries().map(|e| u64::from(e.ssrc) + u64::from(e.sequence_number)).sum());
        }
        Packet::Remb(remb) => {
            mix(acc, remb.bitrate_bps() ^ u64::from(remb.exponent()) ^ u64::from(remb.mantissa()));
            mix(acc, u64::from(remb.sender_ssrc() ^ remb.media_ssrc()));
            mix(acc, remb.ssrcs().map(u64::from).sum());
        }
        Packet::Unknown { packet_type, count, body } => {
            mix(acc, u64::from(packet_type.0) + u64::from(count) + body.len() as u64);
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let mut acc = 0u64;
    let mut errored = false;
    for item in CompoundIter::new(data) {
        assert!(!errored, "the iterator yielded past an error");
        match item {
            Ok(packet) => visit(packet, &mut acc),
            Err(e) => {
                mix(&mut acc, e.to_string().len() as u64);
                errored = true;
            }
        }
    }
    for raw in RawPackets::new(data).flatten() {
        mix(&mut acc, raw.bytes().len() as u64 + raw.body().len() as u64);
        if let Ok(packet) = Packet::parse(&raw) {
            visit(packet, &mut acc);
        }
    }
    mix(&mut acc, u64::from(rtcp::is_rtcp(data)));
    std::hint::black_box(acc);
});
