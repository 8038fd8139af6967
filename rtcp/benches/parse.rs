//! Parsing and building the RTCP an SFU handles most: a browser's periodic SR + SDES, a
//! transport-wide feedback of about 100 packets with a NACK, and building that feedback.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rtcp::{
    pack_nack_pairs, CompoundBuilder, CompoundIter, NackBuilder, Packet, ReceptionReport,
    SdesBuilder, SdesChunkBuilder, SdesItem, SenderReportBuilder, TwccBuilder,
};

fn sr_sdes() -> Vec<u8> {
    let blocks = [
        ReceptionReport {
            ssrc: 0x1111,
            fraction_lost: 3,
            cumulative_lost: 12,
            ..Default::default()
        },
        ReceptionReport { ssrc: 0x2222, jitter: 40, last_sr: 0xabcd_0000, ..Default::default() },
    ];
    let items = [SdesItem::cname(b"kuA1zR5rLnXvO4pz")];
    let chunks = [SdesChunkBuilder { ssrc: 0xabc, items: &items }];
    let mut buf = Vec::new();
    CompoundBuilder::new(&mut buf)
        .push(&SenderReportBuilder {
            ssrc: 0xabc,
            ntp_timestamp: 0xe94a_2f10_3d70_a3d7,
            rtp_timestamp: 90_000,
            packet_count: 1000,
            octet_count: 1_000_000,
            report_blocks: &blocks,
        })
        .unwrap()
        .push(&SdesBuilder { chunks: &chunks })
        .unwrap();
    buf
}

/// 100 packets over ~100 ms with a few losses and one late arrival.
fn arrivals() -> Vec<(u16, Option<i64>)> {
    let mut t = 1_000_000_000i64;
    (0..100u16)
        .map(|i| {
            t += if i % 10 == 0 { 5_000 } else { 300 };
            let arrival = match i % 23 {
                7 => None,
                11 => Some(t - 2_000),
                _ => Some(t),
            };
            (i.wrapping_add(65_500), arrival)
        })
        .collect()
}

fn twcc_nack() -> Vec<u8> {
    let mut twcc = TwccBuilder::new(1, 2);
    for (seq, arrival) in arrivals() {
        twcc.push(seq, arrival).unwrap();
    }
    let mut lost = [4000u16, 4002, 4003, 4010, 4031];
    let mut pairs = Vec::new();
    pack_nack_pairs(&mut lost, &mut pairs);
    let mut buf = Vec::new();
    let mut c = CompoundBuilder::new(&mut buf);
    c.push_twcc(&mut twcc);
    c.push(&NackBuilder { sender_ssrc: 1, media_ssrc: 3, pairs: &pairs }).unwrap();
    buf
}

/// Reads every field the way a consumer would, and folds them so nothing is skipped.
fn consume(datagram: &[u8]) -> u64 {
    let mut acc = 0u64;
    for packet in CompoundIter::new(datagram) {
        match packet.unwrap() {
            Packet::SenderReport(sr) => {
                acc ^= sr.ntp_timestamp() ^ u64::from(sr.ssrc() ^ sr.rtp_timestamp());
                acc ^= u64::from(sr.packet_count() ^ sr.octet_count());
                for b in sr.report_blocks() {
                    acc ^= u64::from(b.ssrc() ^ b.extended_highest_sequence() ^ b.jitter());
                    acc ^= u64::from(
                        b.last_sr() ^ b.delay_since_last_sr() ^ u32::from(b.fraction_lost()),
                    );
                    acc ^= b.cumulative_lost() as u64;
                }
            }
            Packet::Sdes(sdes) => {
                for chunk in sdes.chunks() {
                    acc ^= u64::from(chunk.ssrc());
                    acc ^= chunk.cname().map_or(0, |c| c.len() as u64);
                }
            }
            Packet::TransportCc(fb) => {
                acc ^= u64::from(fb.base_sequence()) ^ fb.reference_time_us() as u64;
                for s in fb.statuses() {
                    acc ^= u64::from(s.sequence) ^ s.arrival_us.unwrap_or(0) as u64;
                }
            }
            Packet::Nack(nack) => {
                acc ^= u64::from(nack.media_ssrc());
                for seq in nack.lost_sequence_numbers() {
                    acc ^= u64::from(seq);
                }
            }
            other => acc ^= u64::from(other.packet_type().0),
        }
    }
    acc
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    let compound = sr_sdes();
    group.throughput(Throughput::Bytes(compound.len() as u64));
    group.bench_function("sr_2_blocks_sdes_cname", |b| b.iter(|| consume(black_box(&compound))));
    let feedback = twcc_nack();
    group.throughput(Throughput::Bytes(feedback.len() as u64));
    group.bench_function("twcc_100_packets_nack", |b| b.iter(|| consume(black_box(&feedback))));
    group.finish();
}

fn build(c: &mut Criterion) {
    let arrivals = arrivals();
    let mut twcc = TwccBuilder::new(1, 2);
    let mut out = Vec::with_capacity(1500);
    c.bench_function("build/twcc_100_packets", |b| {
        b.iter(|| {
            // Each round starts a fresh feedback at the first sequence number.
            twcc.reset();
            for &(seq, arrival) in black_box(&arrivals) {
                twcc.push(seq, arrival).unwrap();
            }
            out.clear();
            twcc.finish(&mut out);
            out.len()
        })
    });
}

criterion_group!(benches, parse, build);
criterion_main!(benches);
