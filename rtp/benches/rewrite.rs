//! The per-subscriber hot path: rewrite a forwarded video packet in place, and check a VP8
//! payload for a key frame.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rtp::codec::{vp8, Codec};
use rtp::{RtpHeaderWriter, RtpPacket};

/// A 1200-byte VP8 packet with mid (id 1), abs-send-time (id 2) and transport-cc (id 3) in the
/// one-byte form, as a browser sends it.
fn video_packet() -> Vec<u8> {
    let extensions: [(u8, &[u8]); 3] = [(1, b"0"), (2, &[0x12, 0x34, 0x56]), (3, &[0x01, 0x02])];
    let header = RtpHeaderWriter {
        marker: false,
        payload_type: 96,
        sequence_number: 4321,
        timestamp: 0x0102_0304,
        ssrc: 0x1111_1111,
        extensions: &extensions,
        ..RtpHeaderWriter::default()
    };
    // VP8 descriptor (X, S, 15-bit PictureID, TL0PICIDX, TID) and a key frame payload header.
    let mut payload = vec![0x90, 0xe0, 0x81, 0x23, 0x05, 0x40, 0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a];
    payload.resize(1200 - header.header_len(), 0xab);
    let mut out = Vec::with_capacity(1200);
    header.append_packet(&payload, &mut out).unwrap();
    assert_eq!(out.len(), 1200);
    out
}

/// The subscriber's extmap ids: 1 -> 4, 2 -> 5, 3 -> 6 and back, so repeating the rewrite on
/// the same buffer does the same work every time.
fn id_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    for (a, b) in [(1, 4), (2, 5), (3, 6)] {
        t[a] = b as u8;
        t[b] = a as u8;
    }
    t
}

fn rewrite(buf: &mut [u8], table: &[u8; 256], seq: u16) {
    let mut p = RtpPacket::new_checked(buf).unwrap();
    p.set_ssrc(0x2222_2222);
    p.set_sequence_number(seq);
    p.set_timestamp(p.timestamp().wrapping_add(3000));
    p.set_payload_type(100);
    p.remap_extension_ids(|id| Some(table[usize::from(id)])).unwrap();
}

fn bench_rewrite(c: &mut Criterion) {
    let table = id_table();
    let original = video_packet();
    let mut group = c.benchmark_group("rewrite");
    group.throughput(Throughput::Elements(1));
    let mut buf = original.clone();
    let mut seq = 0u16;
    group.bench_function("in_place_1200B_3ext", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            rewrite(black_box(&mut buf), &table, seq);
        })
    });
    let mut out = vec![0u8; original.len()];
    group.bench_function("copy_then_rewrite_1200B_3ext", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            out.copy_from_slice(black_box(&original));
            rewrite(&mut out, &table, seq);
        })
    });
    group.finish();
}

fn bench_inspect(c: &mut Criterion) {
    let packet = video_packet();
    let payload_at = RtpPacket::new_checked(&packet[..]).unwrap().header_len();
    let mut group = c.benchmark_group("inspect");
    group.throughput(Throughput::Elements(1));
    group.bench_function("vp8_keyframe", |b| {
        b.iter(|| {
            let p = RtpPacket::new_checked(black_box(&packet[..])).unwrap();
            vp8::inspect(p.payload()).map(|i| i.keyframe).unwrap_or(false)
        })
    });
    group.bench_function("codec_dispatch_vp8", |b| {
        b.iter(|| Codec::Vp8.inspect(black_box(&packet[payload_at..])).map(|i| i.keyframe()))
    });
    group.finish();
}

criterion_group!(benches, bench_rewrite, bench_inspect);
criterion_main!(benches);
