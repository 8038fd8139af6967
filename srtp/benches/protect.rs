//! Protect and unprotect of one RTP packet (12-byte header, 1200-byte payload) per profile,
//! beside a reference: OpenSSL's EVP AES-128-GCM sealing the same payload with the header as
//! associated data, its context keyed once, which is the least work any AES-128-GCM SRTP
//! implementation on OpenSSL can do per packet.
//!
//! Protect works in place on one buffer and gives each iteration the next sequence number (so
//! each packet has its own IV, as in real use). Unprotect cannot take the same packet twice
//! (the replay window rightly refuses it), so each iteration gets a freshly protected packet
//! with the next sequence number, made in untimed setup by a sending context
//! (`iter_batched_ref`): the timed part is exactly one `unprotect_rtp` with replay protection
//! on.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use openssl::cipher::Cipher;
use openssl::cipher_ctx::CipherCtx;
use srtp::{Context, ProtectionProfile};

const HEADER_LEN: usize = 12;
const PAYLOAD_LEN: usize = 1200;
const SSRC: u32 = 0x1234_5678;

fn packet() -> Vec<u8> {
    let mut p = vec![0x80, 96, 0, 0, 0, 0, 0x10, 0x00];
    p.extend_from_slice(&SSRC.to_be_bytes());
    p.extend((0..PAYLOAD_LEN).map(|i| i as u8));
    p
}

fn context(profile: ProtectionProfile) -> Context {
    let key = vec![0x42; profile.master_key_len()];
    let salt = vec![0x24; profile.master_salt_len()];
    Context::new(profile, &key, &salt).expect("valid key and salt")
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("srtp");
    group.throughput(Throughput::Bytes((HEADER_LEN + PAYLOAD_LEN) as u64));

    for profile in ProtectionProfile::ALL {
        let mut sender = context(profile);
        let mut buf = packet();
        let len = buf.len();
        buf.resize(len + profile.rtp_overhead(), 0);
        let mut seq = 0u16;
        group.bench_function(format!("protect/{profile}"), |b| {
            b.iter(|| {
                seq = seq.wrapping_add(1);
                buf[2..4].copy_from_slice(&seq.to_be_bytes());
                black_box(sender.protect_rtp(black_box(&mut buf), len).expect("protect"))
            })
        });

        let mut sender = context(profile);
        let mut receiver = context(profile);
        let plain = packet();
        let mut seq = 0u16;
        group.bench_function(format!("unprotect/{profile}"), |b| {
            b.iter_batched_ref(
                || {
                    seq = seq.wrapping_add(1);
                    let mut p = plain.clone();
                    p[2..4].copy_from_slice(&seq.to_be_bytes());
                    sender.protect_rtp_vec(&mut p).expect("protect");
                    p
                },
                |wire| black_box(receiver.unprotect_rtp(black_box(wire)).expect("unprotect")),
                BatchSize::SmallInput,
            )
        });
    }

    let mut ctx = CipherCtx::new().expect("cipher context");
    ctx.encrypt_init(Some(Cipher::aes_128_gcm()), Some(&[0x42; 16]), None).expect("key");
    let mut buf = packet();
    buf.resize(HEADER_LEN + PAYLOAD_LEN + 16, 0);
    let mut counter = 0u64;
    group.bench_function("reference/openssl_evp_aes_128_gcm_seal", |b| {
        b.iter(|| {
            counter = counter.wrapping_add(1);
            let mut iv = [0x24u8; 12];
            iv[4..].copy_from_slice(&counter.to_be_bytes());
            let (header, rest) = buf.split_at_mut(HEADER_LEN);
            let (payload, tag) = rest.split_at_mut(PAYLOAD_LEN);
            ctx.encrypt_init(None, None, Some(&iv)).expect("iv");
            ctx.cipher_update(header, None).expect("aad");
            ctx.cipher_update_inplace(payload, PAYLOAD_LEN).expect("encrypt");
            ctx.cipher_final(&mut []).expect("final");
            ctx.tag(tag).expect("tag");
            black_box(&buf);
        })
    });

    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
