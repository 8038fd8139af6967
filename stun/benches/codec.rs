//! Per-packet costs of the STUN hot path: classify, parse, verify, answer.

use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{criterion_group, criterion_main, Criterion};
use stun::attributes::{Priority, Username, XorMappedAddress};
use stun::{ChannelData, Framing, Message, MessageType, MessageWriter, TransactionId};

const PASSWORD: &[u8] = b"VOkJxbRl1RmTxUk/WvJxBt";

fn request() -> Vec<u8> {
    let mut buf = Vec::new();
    let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, TransactionId([9; 12]));
    w.add(&Username("evtj:h6vY")).unwrap();
    w.add(&Priority(0x6e00_01ff)).unwrap();
    w.add_message_integrity(PASSWORD).unwrap();
    w.add_fingerprint().unwrap();
    buf
}

fn bench(c: &mut Criterion) {
    let req = request();
    let from: SocketAddr = "192.0.2.1:32853".parse().unwrap();

    c.bench_function("is_stun", |b| b.iter(|| stun::is_stun(black_box(&req))));
    c.bench_function("parse", |b| b.iter(|| Message::parse(black_box(&req)).unwrap()));
    c.bench_function("parse_verify_mi_fp", |b| {
        b.iter(|| {
            let msg = Message::parse(black_box(&req)).unwrap();
            msg.verify_fingerprint().unwrap();
            msg.verify_message_integrity(PASSWORD).unwrap();
        })
    });
    let mut out = Vec::with_capacity(1500);
    c.bench_function("write_binding_success", |b| {
        b.iter(|| {
            let mut w =
                MessageWriter::new(&mut out, MessageType::BINDING_SUCCESS, TransactionId([9; 12]));
            w.add(&XorMappedAddress(black_box(from))).unwrap();
            w.add_message_integrity(PASSWORD).unwrap();
            w.add_fingerprint().unwrap();
            w.finish()
        })
    });
    let payload = vec![0u8; 1200];
    c.bench_function("channel_data_write_parse", |b| {
        b.iter(|| {
            ChannelData::new(0x4000, black_box(&payload)).unwrap().write(&mut out, Framing::Stream);
            ChannelData::parse(black_box(&out), Framing::Stream).unwrap().data().len()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
