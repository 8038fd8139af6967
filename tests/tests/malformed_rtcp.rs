//! Hostile datagrams through the RTCP parser: whatever the input, the compound iterator,
//! every view's accessors and every sub-iterator must return, never panic.
//!
//! The inputs are deterministic (fixed seeds) mutations of valid compounds built with the
//! crate's own writers, so they reach deep into each packet kind.

use integration_tests::HostileInputs;
use rtcp::{
    pack_nack_pairs, AppBuilder, ByeBuilder, CompoundBuilder, CompoundIter, FirBuilder, FirEntry,
    NackBuilder, Packet, PliBuilder, RawPackets, ReceiverReportBuilder, ReceptionReport,
    RembBuilder, SdesBuilder, SdesChunkBuilder, SdesItem, SdesItemType, SenderReportBuilder,
    TransportCc, TwccBuilder, REFERENCE_TIME_UNIT_US,
};

/// Inputs per seed. Three seeds make 60k generated datagrams, each walked whole and from
/// its fifth byte on (a header read out of a body), so 120k parses. Generating the jumbo
/// inputs dominates the run time in a debug build, hence not more.
const INPUTS_PER_SEED: usize = 34_000;
const SEEDS: [u64; 3] = [0x5eed_0001, 0xdead_beef, 42];

fn report(ssrc: u32) -> ReceptionReport {
    ReceptionReport {
        ssrc,
        fraction_lost: 12,
        cumulative_lost: -3,
        extended_highest_sequence: 0x1_0203,
        jitter: 77,
        last_sr: 0x1234_5678,
        delay_since_last_sr: 0x8000,
    }
}

/// Valid compounds covering every packet kind the crate decodes, plus XR.
fn samples() -> Vec<Vec<u8>> {
    let mut samples = Vec::new();
    let blocks = [report(0x1111), report(0x2222)];
    let cname = [SdesItem::cname(b"kuA1zR5rLnXvO4pz")];
    let items =
        [SdesItem::cname(b"x@y"), SdesItem { item_type: SdesItemType::TOOL, value: b"sfu" }];
    let chunks = [
        SdesChunkBuilder { ssrc: 0xabc, items: &cname },
        SdesChunkBuilder { ssrc: 0xdef, items: &items },
    ];

    // SR with two report blocks + SDES.
    let mut buf = Vec::new();
    CompoundBuilder::new(&mut buf)
        .push(&SenderReportBuilder {
            ssrc: 0xabc,
            ntp_timestamp: 0xe94a_2f10_3d70_a3d7,
            rtp_timestamp: 90_000,
            packet_count: 10,
            octet_count: 10_000,
            report_blocks: &blocks,
        })
        .unwrap()
        .push(&SdesBuilder { chunks: &chunks })
        .unwrap();
    samples.push(buf.clone());

    // RR + every feedback message.
    let mut lost = [100u16, 101, 105, 65_535, 0, 3, 200];
    let mut pairs = Vec::new();
    pack_nack_pairs(&mut lost, &mut pairs);
    let fir = [FirEntry { ssrc: 7, sequence_number: 1 }, FirEntry { ssrc: 8, sequence_number: 2 }];
    CompoundBuilder::new(&mut buf)
        .push(&ReceiverReportBuilder { ssrc: 1, report_blocks: &blocks[..1] })
        .unwrap()
        .push(&NackBuilder { sender_ssrc: 1, media_ssrc: 2, pairs: &pairs })
        .unwrap()
        .push(&PliBuilder { sender_ssrc: 1, media_ssrc: 2 })
        .unwrap()
        .push(&FirBuilder { sender_ssrc: 1, entries: &fir })
        .unwrap()
        .push(&RembBuilder { sender_ssrc: 1, bitrate_bps: 2_500_000, ssrcs: &[2, 3] })
        .unwrap();
    samples.push(buf.clone());

    // Transport-wide feedback with every chunk kind and both delta sizes.
    let mut twcc = TwccBuilder::new(1, 2);
    let mut t = 5_000_000i64;
    for seq in 0..120u16 {
        t += match seq % 11 {
            0 => 80_000,
            5 => -3_000,
            _ => 900,
        };
        let arrival = (seq % 13 != 4 && !(40..60).contains(&seq)).then_some(t);
        twcc.push(seq.wrapping_add(65_500), arrival).unwrap();
    }
    let mut c = CompoundBuilder::new(&mut buf);
    c.push(&ReceiverReportBuilder { ssrc: 1, report_blocks: &[] }).unwrap();
    c.push_twcc(&mut twcc);
    samples.push(buf.clone());

    // BYE with a reason, APP, and an XR block after them.
    CompoundBuilder::new(&mut buf)
        .push(&ByeBuilder { ssrcs: &[1, 2], reason: Some(b"going away") })
        .unwrap()
        .push(&AppBuilder { subtype: 3, ssrc: 1, name: *b"TEST", data: &[1, 2, 3, 4] })
        .unwrap();
    buf.extend_from_slice(&[
        0x80, 207, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x00, 0x02, 0xe9, 0x4a, 0x2f,
        0x10, 0x3d, 0x70, 0xa3, 0xd7,
    ]);
    samples.push(buf.clone());

    // A padded reduced-size PLI.
    samples.push(vec![0xa1, 206, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 4]);
    samples
}

/// What the walk over one datagram saw.
#[derive(Debug, Default)]
struct Seen {
    packets: usize,
    errors: usize,
    report_blocks: usize,
    sdes_items: usize,
    nack_lost: usize,
    twcc_statuses: usize,
    twcc_rebuilt: usize,
    checksum: u64,
}

impl Seen {
    fn mix(&mut self, v: u64) {
        self.checksum = self.checksum.rotate_left(5) ^ v;
    }
}

/// Rebuilds a feedback from its parsed statuses and checks the statuses come back, when
/// every arrival is far enough inside the 24-bit reference time for the rebuild to say it.
fn rebuild_twcc(fb: &TransportCc<'_>, seen: &mut Seen) {
    let limit = (1i64 << 22) * REFERENCE_TIME_UNIT_US;
    let statuses: Vec<_> = fb.statuses().map(|s| (s.sequence, s.arrival_us)).collect();
    if statuses.iter().any(|(_, t)| t.is_some_and(|t| t.abs() >= limit)) {
        return;
    }
    let mut builder = TwccBuilder::new(fb.sender_ssrc(), fb.media_ssrc());
    for (seq, arrival) in &statuses {
        builder.push(*seq, *arrival).expect("parsed statuses are in sequence order");
    }
    let mut out = Vec::new();
    builder.finish(&mut out);
    let again: Vec<_> = CompoundIter::new(&out)
        .flat_map(|p| match p.expect("rebuilt feedback parses") {
            Packet::TransportCc(fb) => {
                fb.statuses().map(|s| (s.sequence, s.arrival_us)).collect::<Vec<_>>()
            }
            other => panic!("rebuilt feedback is {other:?}"),
        })
        .collect();
    assert_eq!(again, statuses);
    seen.twcc_rebuilt += 1;
}

fn visit(packet: Packet<'_>, seen: &mut Seen) {
    seen.packets += 1;
    seen.mix(u64::from(packet.packet_type().0));
    match packet {
        Packet::SenderReport(sr) => {
            seen.mix(sr.ntp_timestamp() ^ u64::from(sr.compact_ntp()));
            seen.mix(u64::from(sr.ssrc() ^ sr.rtp_timestamp() ^ sr.packet_count()));
            seen.mix(u64::from(sr.octet_count()) + sr.extension().len() as u64);
            for b in sr.report_blocks() {
                seen.report_blocks += 1;
                seen.mix(format!("{b:?}").len() as u64);
            }
        }
        Packet::ReceiverReport(rr) => {
            seen.mix(u64::from(rr.ssrc()) + rr.extension().len() as u64);
            for b in rr.report_blocks() {
                seen.report_blocks += 1;
                let r = b.to_reception_report();
                seen.mix(u64::from(r.ssrc ^ r.jitter ^ r.last_sr ^ r.delay_since_last_sr));
                seen.mix(u64::from(b.fraction_lost()) ^ b.cumulative_lost() as u64);
                seen.mix(u64::from(b.extended_highest_sequence()));
            }
        }
        Packet::Sdes(sdes) => {
            seen.mix(u64::from(sdes.chunk_count()));
            for chunk in sdes.chunks() {
                seen.mix(u64::from(chunk.ssrc()) + chunk.cname().map_or(0, |c| c.len() as u64));
                for item in chunk.items() {
                    seen.sdes_items += 1;
                    seen.mix(u64::from(item.item_type.0) + item.value.len() as u64);
                }
            }
        }
        Packet::Bye(bye) => {
            seen.mix(bye.ssrcs().map(u64::from).sum::<u64>());
            seen.mix(bye.reason().map_or(0, |r| r.len() as u64));
        }
        Packet::App(app) => {
            seen.mix(u64::from(app.subtype()) + u64::from(app.ssrc()));
            seen.mix(u64::from(u32::from_be_bytes(app.name())) + app.data().len() as u64);
        }
        Packet::Nack(nack) => {
            seen.mix(u64::from(nack.sender_ssrc() ^ nack.media_ssrc()));
            seen.mix(nack.pairs().map(|p| u64::from(p.pid ^ p.blp)).sum::<u64>());
            let mut lost: Vec<u16> = nack.lost_sequence_numbers().collect();
            seen.nack_lost += lost.len();
            let mut want = lost.clone();
            want.sort_unstable();
            want.dedup();
            // Packing what the NACK says and expanding it again gives the same set.
            let mut pairs = Vec::new();
            pack_nack_pairs(&mut lost, &mut pairs);
            let mut again: Vec<u16> = pairs.iter().flat_map(|p| p.sequence_numbers()).collect();
            again.sort_unstable();
            assert_eq!(again, want);
            assert!(pairs.len() <= nack.pairs().len());
        }
        Packet::TransportCc(fb) => {
            seen.mix(u64::from(fb.sender_ssrc() ^ fb.media_ssrc()));
            seen.mix(u64::from(fb.base_sequence()) + u64::from(fb.status_count()));
            seen.mix(fb.reference_time_us() as u64 ^ u64::from(fb.feedback_count()));
            for chunk in fb.chunks() {
                seen.mix(u64::from(chunk.to_u16()) + chunk.status_count() as u64);
                for i in 0..=chunk.status_count().min(20) {
                    seen.mix(chunk.symbol(i).map_or(9, |s| u64::from(s.0)));
                }
            }
            let mut count = 0usize;
            for s in fb.statuses() {
                count += 1;
                seen.mix(u64::from(s.sequence) ^ s.arrival_us.unwrap_or(0) as u64);
                seen.mix(s.delta_us().unwrap_or(0) as u64);
            }
            // Parsing checked the layout: every counted status comes out.
            assert_eq!(count, usize::from(fb.status_count()));
            assert!(fb.deltas().len() <= 2 * count);
            seen.twcc_statuses += count;
            rebuild_twcc(&fb, seen);
        }
        Packet::Pli(pli) => seen.mix(u64::from(pli.sender_ssrc() ^ pli.media_ssrc())),
        Packet::Fir(fir) => {
            seen.mix(u64::from(fir.sender_ssrc() ^ fir.media_ssrc()));
            seen.mix(fir.entries().map(|e| u64::from(e.ssrc) + u64::from(e.sequence_number)).sum());
        }
        Packet::Remb(remb) => {
            seen.mix(remb.bitrate_bps() ^ u64::from(remb.exponent()) ^ u64::from(remb.mantissa()));
            seen.mix(u64::from(remb.sender_ssrc() ^ remb.media_ssrc()));
            seen.mix(remb.ssrcs().map(u64::from).sum());
        }
        Packet::Unknown { packet_type, count, body } => {
            seen.mix(u64::from(packet_type.0) + u64::from(count) + body.len() as u64);
        }
        _ => {}
    }
}

fn walk(datagram: &[u8], seen: &mut Seen) {
    let mut errored = false;
    for item in CompoundIter::new(datagram) {
        assert!(!errored, "the iterator yielded past an error");
        match item {
            Ok(packet) => visit(packet, seen),
            Err(e) => {
                seen.errors += 1;
                seen.mix(e.to_string().len() as u64);
                errored = true;
            }
        }
    }
    // The framing layer with per-packet decoding, which goes on past a bad body.
    for raw in RawPackets::new(datagram).flatten() {
        seen.mix(raw.bytes().len() as u64 + raw.body().len() as u64 + u64::from(raw.has_padding()));
        if let Ok(packet) = Packet::parse(&raw) {
            seen.mix(u64::from(packet.packet_type().0));
        }
    }
    seen.mix(u64::from(rtcp::is_rtcp(datagram)));
}

#[test]
fn samples_are_valid() {
    for sample in samples() {
        assert!(CompoundIter::new(&sample).all(|p| p.is_ok()), "{sample:02x?}");
    }
}

#[test]
fn hostile_rtcp_never_panics() {
    let mut seen = Seen::default();
    for seed in SEEDS {
        let mut inputs = HostileInputs::new(seed, samples());
        for _ in 0..INPUTS_PER_SEED {
            let input = inputs.next_input();
            walk(&input, &mut seen);
            walk(input.get(4..).unwrap_or_default(), &mut seen);
        }
    }
    // The mutations reached both outcomes and every nested iterator.
    assert!(seen.packets > 10_000, "{seen:?}");
    assert!(seen.errors > 10_000, "{seen:?}");
    assert!(seen.report_blocks > 1_000, "{seen:?}");
    assert!(seen.sdes_items > 1_000, "{seen:?}");
    assert!(seen.nack_lost > 1_000, "{seen:?}");
    assert!(seen.twcc_statuses > 10_000, "{seen:?}");
    assert!(seen.twcc_rebuilt > 1_000, "{seen:?}");
}
