//! Tests of whole-packet protection: published vectors, an independent known answer, tamper,
//! replay, rollover, round trips and malformed input.

use proptest::prelude::*;

use super::*;
use crate::kdf::SessionKeys;

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).unwrap()
}

const ALL: [ProtectionProfile; 4] = ProtectionProfile::ALL;

fn master(profile: ProtectionProfile) -> (Vec<u8>, Vec<u8>) {
    let key = (0..profile.master_key_len()).map(|i| i as u8 ^ 0x5a).collect();
    let salt = (0..profile.master_salt_len()).map(|i| (i as u8).wrapping_mul(7)).collect();
    (key, salt)
}

fn pair_with(profile: ProtectionProfile, config: Config) -> (Context, Context) {
    let (key, salt) = master(profile);
    (
        Context::with_config(profile, &key, &salt, config).unwrap(),
        Context::with_config(profile, &key, &salt, config).unwrap(),
    )
}

fn pair(profile: ProtectionProfile) -> (Context, Context) {
    pair_with(profile, Config::default())
}

/// An RTP packet with two CSRCs, a one-byte-header extension of two words and `payload`.
fn rtp(seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x92, 0x60];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&0x0102_0304u32.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xc1, 0xc1, 0xc1, 0xc1, 0xc2, 0xc2, 0xc2, 0xc2]);
    p.extend_from_slice(&[0xbe, 0xde, 0x00, 0x02, 0x10, 0xaa, 0x21, 0xbb, 0xcc, 0, 0, 0]);
    p.extend_from_slice(payload);
    p
}

/// Offset of the extension length field in packets made by [`rtp`].
const RTP_EXT_LEN_AT: usize = 12 + 8 + 2;

/// A receiver report with one report block's worth of `fill`.
fn rtcp(ssrc: u32, fill: u8) -> Vec<u8> {
    let mut p = vec![0x81, 201, 0x00, 0x07];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[fill; 24]);
    p
}

fn protect_rtp(ctx: &mut Context, packet: &[u8]) -> Vec<u8> {
    let mut v = packet.to_vec();
    ctx.protect_rtp_vec(&mut v).unwrap();
    v
}

fn protect_rtcp(ctx: &mut Context, packet: &[u8]) -> Vec<u8> {
    let mut v = packet.to_vec();
    ctx.protect_rtcp_vec(&mut v).unwrap();
    v
}

fn unprotect_rtp(ctx: &mut Context, packet: &[u8]) -> Result<Vec<u8>> {
    let mut v = packet.to_vec();
    ctx.unprotect_rtp_vec(&mut v).map(|()| v)
}

fn unprotect_rtcp(ctx: &mut Context, packet: &[u8]) -> Result<Vec<u8>> {
    let mut v = packet.to_vec();
    ctx.unprotect_rtcp_vec(&mut v).map(|()| v)
}

// ---------------------------------------------------------------------------------------------
// RFC 7714 §16 and §17 test vectors (session keys given directly)
// ---------------------------------------------------------------------------------------------

const RFC7714_SALT: &str = "51756964 2070726f 2071756f";
const RFC7714_KEY_128: &str = "00010203 04050607 08090a0b 0c0d0e0f";
const RFC7714_KEY_256: &str =
    "00010203 04050607 08090a0b 0c0d0e0f 10111213 14151617 18191a1b 1c1d1e1f";

/// §16: the RTP packet, a 12-octet header and "Gallia est omnis divisa in partes tres".
const RFC7714_RTP: &str = "8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973 20646976
                           69736120 696e2070 61727465 73207472 6573";
/// §17: the RTCP packet (SSRC 4d617273), sent with SRTCP index 000005d4.
const RFC7714_RTCP: &str = "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61
                            deadbeef deadbeef deadbeef deadbeef deadbeef";

struct Rfc7714 {
    profile: ProtectionProfile,
    key: &'static str,
    /// §16.1.1 / §16.2.1 "Encrypted and tagged packet".
    srtp: &'static str,
    /// §17.1.1 / §17.2.1 encryption and tagging (E = 1).
    srtcp: &'static str,
    /// §17.1.3 / §17.2.3 tagging only (E = 0).
    srtcp_unencrypted: &'static str,
}

const RFC7714_VECTORS: [Rfc7714; 2] = [
    Rfc7714 {
        profile: ProtectionProfile::AeadAes128Gcm,
        key: RFC7714_KEY_128,
        srtp: "8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5
               0d294e6f 42a5f47a 51c7d19b 36de3adf 8833899d 7f27beb1 6a9152cf 765ee439 0cce",
        srtcp: "81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7 6c06f32d
                c676a5f1 730d6fda 4ce09b46 86303ded 0bb9275b c84aa458 96cf4d2f c5abf872
                45d9eade 800005d4",
        srtcp_unencrypted: "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930
                            4c756e61 deadbeef deadbeef deadbeef deadbeef deadbeef 841dd968
                            3dd78ec9 2ae58790 125f62b3 000005d4",
    },
    Rfc7714 {
        profile: ProtectionProfile::AeadAes256Gcm,
        key: RFC7714_KEY_256,
        srtp: "8040f17b 8041f8d3 5501a0b2 32b1de78 a822fe12 ef9f78fa 332e33aa b1801238
               9a58e2f3 b50b2a02 76ffae0f 1ba63799 b87b7aa3 db36dfff d6b0f9bb 7878d7a7 6c13",
        srtcp: "81c8000d 4d617273 d50ae4d1 f5ce5d30 4ba297e4 7d470c28 2c3ece5d bffe0a50
                a2eaa5c1 110555be 8415f658 c61de047 6f1b6fad 1d1eb30c 4446839f 57ff6f6c
                b26ac3be 800005d4",
        srtcp_unencrypted: "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930
                            4c756e61 deadbeef deadbeef deadbeef deadbeef deadbeef 91db4afb
                            feee5a97 8fab4393 ed2615fe 000005d4",
    },
];

fn rfc7714_context(v: &Rfc7714) -> Context {
    // The vectors use the same session key and salt for SRTP and SRTCP.
    let keys = || SessionKeys {
        encryption_key: unhex(v.key),
        salt: unhex(RFC7714_SALT),
        auth_key: Vec::new(),
    };
    Context::from_session_keys(v.profile, &keys(), &keys(), Config::default()).unwrap()
}

#[test]
fn rfc7714_srtp_vectors_both_directions() {
    for v in &RFC7714_VECTORS {
        let plain = unhex(RFC7714_RTP);
        let expected = unhex(v.srtp);
        let mut sender = rfc7714_context(v);
        assert_eq!(protect_rtp(&mut sender, &plain), expected, "{} protect", v.profile);
        let mut receiver = rfc7714_context(v);
        assert_eq!(
            unprotect_rtp(&mut receiver, &expected).unwrap(),
            plain,
            "{} unprotect",
            v.profile
        );
    }
}

#[test]
fn rfc7714_srtcp_vectors_both_directions() {
    for v in &RFC7714_VECTORS {
        let plain = unhex(RFC7714_RTCP);
        let expected = unhex(v.srtcp);
        let mut sender = rfc7714_context(v);
        sender.set_next_srtcp_index(0x4d617273, 0x5d4);
        assert_eq!(protect_rtcp(&mut sender, &plain), expected, "{} protect", v.profile);
        let mut receiver = rfc7714_context(v);
        assert_eq!(
            unprotect_rtcp(&mut receiver, &expected).unwrap(),
            plain,
            "{} unprotect",
            v.profile
        );
    }
}

/// An SRTCP packet with E = 0 is authenticated but not decrypted (RFC 7714 §9.3).
#[test]
fn rfc7714_unencrypted_srtcp_vectors_verify() {
    for v in &RFC7714_VECTORS {
        let plain = unhex(RFC7714_RTCP);
        let mut receiver = rfc7714_context(v);
        let wire = unhex(v.srtcp_unencrypted);
        assert_eq!(unprotect_rtcp(&mut receiver, &wire).unwrap(), plain, "{}", v.profile);
        // The E flag is authenticated: setting it makes the tag fail.
        let mut flagged = wire.clone();
        let at = flagged.len() - 4;
        flagged[at] |= 0x80;
        let mut receiver = rfc7714_context(v);
        assert_eq!(unprotect_rtcp(&mut receiver, &flagged), Err(Error::AuthenticationFailed));
    }
}

// ---------------------------------------------------------------------------------------------
// libsrtp known answers (srtp_validate, srtp_validate_gcm), through master keys
// ---------------------------------------------------------------------------------------------

const LIBSRTP_KEY: &str = "e1f97a0d3e018be0d64fa32c06de4139";
const LIBSRTP_SALT: &str = "0ec675ad498afeebb6960b3aabe6";
const LIBSRTP_RTP: &str = "800f1234 decafbad cafebabe abababab abababab abababab abababab";
const LIBSRTP_RTCP: &str = "81c8000b cafebabe abababab abababab abababab abababab";
const LIBSRTP_SRTP_SHA1_80: &str = "800f1234 decafbad cafebabe 4e55dc4c e79978d8 8ca4d215 949d2402
                                    b78d6acc 99ea179b 8dbb";
/// libsrtp numbers its first SRTCP packet 1; ours starts at 0, so the test protects one packet
/// first.
const LIBSRTP_SRTCP_SHA1_80: &str = "81c8000b cafebabe 7128035b e487b9bd bef89041 f977a5a8 80000001
                                     993e08cd 54d6c123 0798";

#[test]
fn libsrtp_aes_cm_sha1_80_known_answer() {
    let profile = ProtectionProfile::Aes128CmHmacSha1_80;
    let mut sender = Context::new(profile, &unhex(LIBSRTP_KEY), &unhex(LIBSRTP_SALT)).unwrap();
    let mut receiver = Context::new(profile, &unhex(LIBSRTP_KEY), &unhex(LIBSRTP_SALT)).unwrap();
    let srtp = unhex(LIBSRTP_SRTP_SHA1_80);
    assert_eq!(protect_rtp(&mut sender, &unhex(LIBSRTP_RTP)), srtp);
    assert_eq!(unprotect_rtp(&mut receiver, &srtp).unwrap(), unhex(LIBSRTP_RTP));

    let srtcp = unhex(LIBSRTP_SRTCP_SHA1_80);
    protect_rtcp(&mut sender, &unhex(LIBSRTP_RTCP)); // index 0
    assert_eq!(protect_rtcp(&mut sender, &unhex(LIBSRTP_RTCP)), srtcp);
    assert_eq!(unprotect_rtcp(&mut receiver, &srtcp).unwrap(), unhex(LIBSRTP_RTCP));
}

/// The 32-bit SRTP tag is the leading 4 bytes of the same HMAC; SRTCP keeps 80 bits, so the
/// SRTCP packet is byte for byte the `_80` one.
#[test]
fn libsrtp_aes_cm_sha1_32_known_answer() {
    let profile = ProtectionProfile::Aes128CmHmacSha1_32;
    let mut sender = Context::new(profile, &unhex(LIBSRTP_KEY), &unhex(LIBSRTP_SALT)).unwrap();
    let mut receiver = Context::new(profile, &unhex(LIBSRTP_KEY), &unhex(LIBSRTP_SALT)).unwrap();
    let srtp = unhex(LIBSRTP_SRTP_SHA1_80)[..28 + 4].to_vec();
    assert_eq!(protect_rtp(&mut sender, &unhex(LIBSRTP_RTP)), srtp);
    assert_eq!(unprotect_rtp(&mut receiver, &srtp).unwrap(), unhex(LIBSRTP_RTP));

    let srtcp = unhex(LIBSRTP_SRTCP_SHA1_80);
    protect_rtcp(&mut sender, &unhex(LIBSRTP_RTCP));
    assert_eq!(protect_rtcp(&mut sender, &unhex(LIBSRTP_RTCP)), srtcp);
    assert_eq!(unprotect_rtcp(&mut receiver, &srtcp).unwrap(), unhex(LIBSRTP_RTCP));
}

/// libsrtp's `srtp_validate_gcm`: AEAD_AES_128_GCM from a master key and a 96-bit master salt,
/// which checks the salt padding of the key derivation (RFC 7714 §11).
#[test]
fn libsrtp_aead_aes_128_gcm_known_answer() {
    let profile = ProtectionProfile::AeadAes128Gcm;
    let key = unhex("000102030405060708090a0b0c0d0e0f");
    let salt = unhex("a0a1a2a3a4a5a6a7a8a9aaab");
    let mut sender = Context::new(profile, &key, &salt).unwrap();
    let mut receiver = Context::new(profile, &key, &salt).unwrap();
    let srtp = unhex(
        "800f1234 decafbad cafebabe c5002ede 04cfdd2e b91159e0 880aa06e d2976826
         f796b201 df3131a1 27e8a392",
    );
    assert_eq!(protect_rtp(&mut sender, &unhex(LIBSRTP_RTP)), srtp);
    assert_eq!(unprotect_rtp(&mut receiver, &srtp).unwrap(), unhex(LIBSRTP_RTP));

    let srtcp = unhex(
        "81c8000b cafebabe c98b8b5d f0392a55 852b6c21 ac8e7025 c52c6fbe a2b3b446
         ea31123b a88ce61e 80000001",
    );
    protect_rtcp(&mut sender, &unhex(LIBSRTP_RTCP));
    assert_eq!(protect_rtcp(&mut sender, &unhex(LIBSRTP_RTCP)), srtcp);
    assert_eq!(unprotect_rtcp(&mut receiver, &srtcp).unwrap(), unhex(LIBSRTP_RTCP));
}

// ---------------------------------------------------------------------------------------------
// An independent computation: AES-CTR and HMAC-SHA1 through OpenSSL's one-shot APIs, with the
// IV and key derivation written out from RFC 3711 again, for packets with CSRCs, an extension
// and a nonzero rollover counter.
// ---------------------------------------------------------------------------------------------

fn independent_prf(master_key: &[u8], master_salt: &[u8], label: u8, len: usize) -> Vec<u8> {
    let mut x = [0u8; 16];
    x[..master_salt.len()].copy_from_slice(master_salt);
    x[7] ^= label;
    openssl::symm::encrypt(
        openssl::symm::Cipher::aes_128_ctr(),
        master_key,
        Some(&x),
        &vec![0u8; len],
    )
    .unwrap()
}

fn independent_hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let pkey = openssl::pkey::PKey::hmac(key).unwrap();
    let mut signer =
        openssl::sign::Signer::new(openssl::hash::MessageDigest::sha1(), &pkey).unwrap();
    for p in parts {
        signer.update(p).unwrap();
    }
    signer.sign_to_vec().unwrap()
}

fn independent_ctr(key: &[u8], salt: &[u8], ssrc: u32, index: u64, data: &[u8]) -> Vec<u8> {
    let mut salt16 = [0u8; 16];
    salt16[..14].copy_from_slice(salt);
    let iv = u128::from_be_bytes(salt16) ^ (u128::from(ssrc) << 64) ^ (u128::from(index) << 16);
    openssl::symm::encrypt(openssl::symm::Cipher::aes_128_ctr(), key, Some(&iv.to_be_bytes()), data)
        .unwrap()
}

#[test]
fn aes_cm_matches_an_independent_computation_across_a_rollover() {
    let (mk, ms) = (unhex(LIBSRTP_KEY), unhex(LIBSRTP_SALT));
    let k_e = independent_prf(&mk, &ms, 0, 16);
    let k_a = independent_prf(&mk, &ms, 1, 20);
    let k_s = independent_prf(&mk, &ms, 2, 14);
    // RFC 3711 B.3 lists these session keys for this master key.
    assert_eq!(k_e, unhex("C61E7A93744F39EE10734AFE3FF7A087"));
    let ssrc = 0x1234_5678;
    let header_len = 12 + 8 + 12;
    let mut sender = Context::new(ProtectionProfile::Aes128CmHmacSha1_80, &mk, &ms).unwrap();
    for (seq, roc) in [(65534u16, 0u32), (65535, 0), (0, 1), (1, 1), (65535, 0), (2, 1)] {
        let payload: Vec<u8> = (0..100u8).map(|i| i ^ seq as u8).collect();
        let plain = rtp(seq, ssrc, &payload);
        let index = (u64::from(roc) << 16) | u64::from(seq);
        let mut expected = plain[..header_len].to_vec();
        expected.extend(independent_ctr(&k_e, &k_s, ssrc, index, &payload));
        let tag = independent_hmac(&k_a, &[&expected, &roc.to_be_bytes()]);
        expected.extend_from_slice(&tag[..10]);
        assert_eq!(protect_rtp(&mut sender, &plain), expected, "seq {seq} roc {roc}");
    }

    // SRTCP with E = 0 from an independent sender: authenticated, returned as sent.
    let k_e_rtcp_unused = independent_prf(&mk, &ms, 3, 16);
    assert_ne!(k_e_rtcp_unused, k_e);
    let k_a_rtcp = independent_prf(&mk, &ms, 4, 20);
    let plain = rtcp(ssrc, 0x42);
    let mut wire = plain.clone();
    wire.extend_from_slice(&5u32.to_be_bytes());
    let tag = independent_hmac(&k_a_rtcp, &[&wire]);
    wire.extend_from_slice(&tag[..10]);
    let mut receiver = Context::new(ProtectionProfile::Aes128CmHmacSha1_80, &mk, &ms).unwrap();
    assert_eq!(unprotect_rtcp(&mut receiver, &wire).unwrap(), plain);
    assert_eq!(unprotect_rtcp(&mut receiver, &wire), Err(Error::Replayed));
}

// ---------------------------------------------------------------------------------------------
// Tampering
// ---------------------------------------------------------------------------------------------

type Snapshot = (Vec<(u32, SrtpStream)>, Vec<(u32, SrtcpStream)>);

fn snapshot(ctx: &Context) -> Snapshot {
    let mut rtp: Vec<_> = ctx.rtp_streams.iter().map(|(k, v)| (*k, v.clone())).collect();
    let mut rtcp: Vec<_> = ctx.rtcp_streams.iter().map(|(k, v)| (*k, v.clone())).collect();
    rtp.sort_by_key(|e| e.0);
    rtcp.sort_by_key(|e| e.0);
    (rtp, rtcp)
}

/// Flips every bit of `wire`, one at a time, and checks that unprotecting fails, leaves the
/// buffer as it was, and leaves the context as it was. `allowed` says which errors a flip of
/// byte `i` may give.
fn flip_every_bit(
    ctx: &mut Context,
    wire: &[u8],
    rtcp: bool,
    allowed: impl Fn(usize, Error) -> bool,
) {
    let before = snapshot(ctx);
    for i in 0..wire.len() * 8 {
        let mut bad = wire.to_vec();
        bad[i / 8] ^= 1 << (i % 8);
        let copy = bad.clone();
        let result = if rtcp { ctx.unprotect_rtcp(&mut bad) } else { ctx.unprotect_rtp(&mut bad) };
        let err = result.expect_err("a flipped bit must not verify");
        assert!(allowed(i / 8, err), "{}: bit {i}: unexpected {err:?}", ctx.profile);
        assert_eq!(bad, copy, "{}: bit {i}: buffer changed", ctx.profile);
        assert_eq!(snapshot(ctx), before, "{}: bit {i}: state changed", ctx.profile);
    }
}

#[test]
fn every_flipped_bit_of_srtp_fails_authentication_and_changes_nothing() {
    for profile in ALL {
        let (mut sender, mut receiver) = pair(profile);
        let ssrc = 0xdead_beef;
        let plain = rtp(1000, ssrc, b"payload that is not too short");
        let wire = protect_rtp(&mut sender, &plain);
        // Fresh receiver: every flip is an authentication failure, except that with GCM a
        // flip in a header length field (first byte, extension length) may make the header
        // unparseable before the tag is checked.
        flip_every_bit(&mut receiver, &wire, false, |byte, err| {
            err == Error::AuthenticationFailed
                || (profile.is_aead()
                    && matches!(err, Error::Malformed(_))
                    && (byte == 0 || (RTP_EXT_LEN_AT..RTP_EXT_LEN_AT + 2).contains(&byte)))
        });
        assert_eq!(receiver.ssrc_count(), (0, 0));
        assert_eq!(unprotect_rtp(&mut receiver, &wire).unwrap(), plain);

        // With state: a flipped sequence number may also land on a replayed or too old index.
        let plain = rtp(1001, ssrc, b"second");
        let wire = protect_rtp(&mut sender, &plain);
        flip_every_bit(&mut receiver, &wire, false, |byte, err| {
            err == Error::AuthenticationFailed
                || (matches!(err, Error::Replayed | Error::TooOld) && (2..4).contains(&byte))
                || (profile.is_aead() && matches!(err, Error::Malformed(_)))
        });
        assert_eq!(unprotect_rtp(&mut receiver, &wire).unwrap(), plain);
        let next = rtp(1002, ssrc, b"third");
        assert_eq!(unprotect_rtp(&mut receiver, &protect_rtp(&mut sender, &next)).unwrap(), next);
    }
}

#[test]
fn every_flipped_bit_of_srtcp_fails_authentication_and_changes_nothing() {
    for profile in ALL {
        let (mut sender, mut receiver) = pair(profile);
        let ssrc = 0x0bad_cafe;
        let plain = rtcp(ssrc, 0x11);
        let wire = protect_rtcp(&mut sender, &plain);
        flip_every_bit(&mut receiver, &wire, true, |_, err| err == Error::AuthenticationFailed);
        assert_eq!(receiver.ssrc_count(), (0, 0));
        assert_eq!(unprotect_rtcp(&mut receiver, &wire).unwrap(), plain);

        let plain = rtcp(ssrc, 0x22);
        let wire = protect_rtcp(&mut sender, &plain);
        let index_at = if profile.is_aead() { wire.len() - 4 } else { plain.len() };
        flip_every_bit(&mut receiver, &wire, true, |byte, err| {
            err == Error::AuthenticationFailed
                || (matches!(err, Error::Replayed | Error::TooOld)
                    && (index_at..index_at + 4).contains(&byte))
        });
        assert_eq!(unprotect_rtcp(&mut receiver, &wire).unwrap(), plain);
    }
}

#[test]
fn truncated_or_extended_packets_fail() {
    for profile in ALL {
        let (mut sender, mut receiver) = pair(profile);
        let wire = protect_rtp(&mut sender, &rtp(7, 1, b"abcdefgh"));
        for cut in 0..wire.len() {
            assert!(unprotect_rtp(&mut receiver, &wire[..cut]).is_err(), "{profile} cut {cut}");
        }
        let mut longer = wire.clone();
        longer.push(0);
        assert!(unprotect_rtp(&mut receiver, &longer).is_err());
        let wire = protect_rtcp(&mut sender, &rtcp(1, 3));
        for cut in 0..wire.len() {
            assert!(unprotect_rtcp(&mut receiver, &wire[..cut]).is_err(), "{profile} cut {cut}");
        }
        assert_eq!(receiver.ssrc_count(), (0, 0));
    }
}

#[test]
fn keys_of_the_other_direction_do_not_verify() {
    for profile in ALL {
        let (key, salt) = master(profile);
        let mut other_key = key.clone();
        other_key[0] ^= 1;
        let mut sender = Context::new(profile, &key, &salt).unwrap();
        let mut receiver = Context::new(profile, &other_key, &salt).unwrap();
        let wire = protect_rtp(&mut sender, &rtp(1, 2, b"x"));
        assert_eq!(unprotect_rtp(&mut receiver, &wire), Err(Error::AuthenticationFailed));
        let wire = protect_rtcp(&mut sender, &rtcp(2, 0));
        assert_eq!(unprotect_rtcp(&mut receiver, &wire), Err(Error::AuthenticationFailed));
    }
}

// ---------------------------------------------------------------------------------------------
// Replay protection
// ---------------------------------------------------------------------------------------------

#[test]
fn srtp_replay_window() {
    for profile in ALL {
        let (mut sender, mut receiver) = pair(profile);
        let ssrc = 77;
        let wires: Vec<Vec<u8>> =
            (0..=300u16).map(|seq| protect_rtp(&mut sender, &rtp(seq, ssrc, b"m"))).collect();
        let rx = |r: &mut Context, seq: usize| unprotect_rtp(r, &wires[seq]).map(drop);

        assert_eq!(rx(&mut receiver, 10), Ok(()));
        assert_eq!(rx(&mut receiver, 10), Err(Error::Replayed), "{profile}: repeat");
        assert_eq!(rx(&mut receiver, 12), Ok(()));
        assert_eq!(rx(&mut receiver, 11), Ok(()), "{profile}: late inside the window");
        assert_eq!(rx(&mut receiver, 11), Err(Error::Replayed), "{profile}: late repeat");
        assert_eq!(rx(&mut receiver, 9), Ok(()), "{profile}: older than the first, in window");
        assert_eq!(rx(&mut receiver, 210), Ok(()));
        // Default window 128: 210 - 128 = 82 is just outside, 83 just inside.
        assert_eq!(rx(&mut receiver, 82), Err(Error::TooOld), "{profile}: too old");
        assert_eq!(rx(&mut receiver, 83), Ok(()));
        assert_eq!(rx(&mut receiver, 12), Err(Error::TooOld));

        // A wider window accepts what the default refused.
        let config = Config { replay_window: 1024, ..Config::default() };
        let (_, mut wide) = pair_with(profile, config);
        assert_eq!(rx(&mut wide, 300), Ok(()));
        assert_eq!(rx(&mut wide, 20), Ok(()), "{profile}: 280 behind, inside 1024");
        assert_eq!(rx(&mut wide, 20), Err(Error::Replayed));
    }
}

#[test]
fn srtcp_replay_window() {
    for profile in ALL {
        let (mut sender, mut receiver) = pair(profile);
        let ssrc = 78;
        let wires: Vec<Vec<u8>> =
            (0..=300u16).map(|i| protect_rtcp(&mut sender, &rtcp(ssrc, i as u8))).collect();
        let rx = |r: &mut Context, i: usize| unprotect_rtcp(r, &wires[i]).map(drop);
        assert_eq!(rx(&mut receiver, 0), Ok(()));
        assert_eq!(rx(&mut receiver, 0), Err(Error::Replayed));
        assert_eq!(rx(&mut receiver, 2), Ok(()));
        assert_eq!(rx(&mut receiver, 1), Ok(()));
        assert_eq!(rx(&mut receiver, 1), Err(Error::Replayed));
        assert_eq!(rx(&mut receiver, 200), Ok(()));
        assert_eq!(rx(&mut receiver, 72), Err(Error::TooOld));
        assert_eq!(rx(&mut receiver, 73), Ok(()));
        let (_, mut wide) = pair_with(profile, Config { replay_window: 512, ..Config::default() });
        assert_eq!(rx(&mut wide, 300), Ok(()));
        assert_eq!(rx(&mut wide, 3), Ok(()));
    }
}

// ---------------------------------------------------------------------------------------------
// Rollover counter
// ---------------------------------------------------------------------------------------------

#[test]
fn sequence_wrap_increments_roc_on_both_sides() {
    for profile in ALL {
        let (mut sender, mut receiver) = pair(profile);
        let ssrc = 5;
        let seqs: Vec<u16> = (65530..=65535).chain(0..=5).collect();
        for &seq in &seqs {
            let plain = rtp(seq, ssrc, &seq.to_be_bytes());
            let wire = protect_rtp(&mut sender, &plain);
            assert_eq!(unprotect_rtp(&mut receiver, &wire).unwrap(), plain, "{profile} {seq}");
        }
        assert_eq!(sender.rtp_roc(ssrc), Some(1));
        assert_eq!(receiver.rtp_roc(ssrc), Some(1));
    }
}

#[test]
fn reordering_across_the_wrap_decrypts() {
    for profile in ALL {
        let (mut sender, mut receiver) = pair(profile);
        let ssrc = 6;
        let mut wires = std::collections::HashMap::new();
        for seq in (65528..=65535).chain(0..=4) {
            let plain = rtp(seq, ssrc, &[seq as u8; 20]);
            wires.insert(seq, (plain.clone(), protect_rtp(&mut sender, &plain)));
        }
        for seq in [65528, 65533, 1, 65534, 0, 65535, 4, 2, 65530, 3] {
            let (plain, wire) = &wires[&seq];
            assert_eq!(&unprotect_rtp(&mut receiver, wire).unwrap(), plain, "{profile} {seq}");
        }
        assert_eq!(receiver.rtp_roc(ssrc), Some(1));
        // A late pre-wrap packet again is a replay, not a new packet of ROC 1.
        assert_eq!(unprotect_rtp(&mut receiver, &wires[&65534].1), Err(Error::Replayed));
    }
}

#[test]
fn stream_starting_at_a_high_sequence_number() {
    for profile in ALL {
        let (mut sender, mut receiver) = pair(profile);
        for seq in [65535u16, 0, 1] {
            let plain = rtp(seq, 9, b"hi");
            assert_eq!(
                unprotect_rtp(&mut receiver, &protect_rtp(&mut sender, &plain)).unwrap(),
                plain
            );
        }
        assert_eq!(receiver.rtp_roc(9), Some(1));
    }
}

#[test]
fn many_wraps_keep_both_sides_in_step() {
    for profile in ALL {
        let (mut sender, mut receiver) = pair(profile);
        let mut seq = 40_000u16;
        for _ in 0..300 {
            let plain = rtp(seq, 10, b"jump");
            assert_eq!(
                unprotect_rtp(&mut receiver, &protect_rtp(&mut sender, &plain)).unwrap(),
                plain
            );
            seq = seq.wrapping_add(1000);
        }
        // 40_000 + 299 * 1000 = 339_000 = 5 * 65536 + 11_320.
        assert_eq!(sender.rtp_roc(10), Some(5));
        assert_eq!(receiver.rtp_roc(10), Some(5));
    }
}

/// A receiver that guessed the wrong rollover counter fails authentication instead of
/// producing garbage: here the receiver never saw the sender's first cycle.
#[test]
fn wrong_roc_fails_authentication() {
    for profile in ALL {
        let (mut sender, mut receiver) = pair(profile);
        for seq in (0..=65535u16).step_by(20_000).chain([65535, 0]) {
            protect_rtp(&mut sender, &rtp(seq, 11, b"x"));
        }
        assert_eq!(sender.rtp_roc(11), Some(1));
        let wire = protect_rtp(&mut sender, &rtp(1, 11, b"x"));
        assert_eq!(unprotect_rtp(&mut receiver, &wire), Err(Error::AuthenticationFailed));
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

fn rtp_strategy() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<(bool, bool, u8, u16, u32, u32)>(),
        prop::collection::vec(any::<u32>(), 0..=15),
        prop::option::of((any::<u16>(), prop::collection::vec(any::<u32>(), 0..=8))),
        prop::collection::vec(any::<u8>(), 0..=400),
    )
        .prop_map(|((padding, marker, pt, seq, ts, ssrc), csrcs, ext, payload)| {
            let mut p = vec![
                0x80 | (u8::from(padding) << 5)
                    | (u8::from(ext.is_some()) << 4)
                    | csrcs.len() as u8,
                (u8::from(marker) << 7) | (pt & 0x7f),
            ];
            p.extend_from_slice(&seq.to_be_bytes());
            p.extend_from_slice(&ts.to_be_bytes());
            p.extend_from_slice(&ssrc.to_be_bytes());
            for c in &csrcs {
                p.extend_from_slice(&c.to_be_bytes());
            }
            if let Some((profile, words)) = &ext {
                p.extend_from_slice(&profile.to_be_bytes());
                p.extend_from_slice(&(words.len() as u16).to_be_bytes());
                for w in words {
                    p.extend_from_slice(&w.to_be_bytes());
                }
            }
            p.extend_from_slice(&payload);
            p
        })
}

fn rtcp_strategy() -> impl Strategy<Value = Vec<u8>> {
    (any::<(u8, u8, u32)>(), prop::collection::vec(any::<u8>(), 0..=300)).prop_map(
        |((rc, pt, ssrc), body)| {
            let mut p = vec![0x80 | (rc & 0x1f), pt];
            p.extend_from_slice(&((body.len() / 4 + 1) as u16).to_be_bytes());
            p.extend_from_slice(&ssrc.to_be_bytes());
            p.extend_from_slice(&body);
            p
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn srtp_round_trip(packet in rtp_strategy()) {
        for profile in ALL {
            let (mut sender, mut receiver) = pair(profile);
            let wire = protect_rtp(&mut sender, &packet);
            prop_assert_eq!(wire.len(), packet.len() + profile.rtp_overhead());
            prop_assert_eq!(unprotect_rtp(&mut receiver, &wire).unwrap(), packet.clone());
        }
    }

    #[test]
    fn srtcp_round_trip(packet in rtcp_strategy()) {
        for profile in ALL {
            let (mut sender, mut receiver) = pair(profile);
            let wire = protect_rtcp(&mut sender, &packet);
            prop_assert_eq!(wire.len(), packet.len() + profile.rtcp_overhead());
            prop_assert_eq!(unprotect_rtcp(&mut receiver, &wire).unwrap(), packet.clone());
        }
    }

    #[test]
    fn random_bytes_never_verify(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        for profile in ALL {
            let (_, mut receiver) = pair(profile);
            prop_assert!(unprotect_rtp(&mut receiver, &bytes).is_err());
            prop_assert!(unprotect_rtcp(&mut receiver, &bytes).is_err());
            prop_assert_eq!(receiver.ssrc_count(), (0, 0));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Malformed input, misuse and limits
// ---------------------------------------------------------------------------------------------

#[test]
fn short_packets_are_malformed() {
    for profile in ALL {
        let (_, mut receiver) = pair(profile);
        let tag = profile.rtp_auth_tag_len();
        for len in [0, 1, 11, 12, 12 + tag - 1] {
            let mut buf = vec![0x80; len];
            assert!(
                matches!(receiver.unprotect_rtp(&mut buf), Err(Error::Malformed(_))),
                "{profile} SRTP len {len}"
            );
        }
        let min = 8 + 4 + profile.rtcp_auth_tag_len();
        for len in [0, 7, 8, 12, min - 1] {
            let mut buf = vec![0x80; len];
            assert!(
                matches!(receiver.unprotect_rtcp(&mut buf), Err(Error::Malformed(_))),
                "{profile} SRTCP len {len}"
            );
        }
    }
}

#[test]
fn header_lengths_beyond_the_packet_are_malformed() {
    for profile in ALL {
        let (mut sender, _) = pair(profile);
        // 15 CSRCs announced, none present.
        let mut p = rtp(1, 1, b"");
        p[0] = 0x8f;
        p.truncate(20);
        let before = p.clone();
        let mut buf = p.clone();
        buf.resize(100, 0);
        assert!(matches!(sender.protect_rtp(&mut buf, p.len()), Err(Error::Malformed(_))));
        assert_eq!(&buf[..p.len()], &before[..]);
        // Extension length beyond the packet.
        let mut p = rtp(1, 1, b"");
        p[RTP_EXT_LEN_AT + 1] = 9;
        let mut buf = p.clone();
        buf.resize(100, 0);
        assert!(matches!(sender.protect_rtp(&mut buf, p.len()), Err(Error::Malformed(_))));
        assert_eq!(sender.ssrc_count(), (0, 0));
    }
}

/// An authentic AES-CM packet whose header is malformed (only a broken or hostile sender with
/// the keys could make one) is refused after authentication, with no state change.
#[test]
fn authentic_packet_with_malformed_header_is_refused() {
    let profile = ProtectionProfile::Aes128CmHmacSha1_80;
    let (_, mut receiver) = pair(profile);
    let mut p = vec![0x9f, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 42, 1, 2, 3, 4];
    let roc = 0u32.to_be_bytes();
    let mut tag = [0u8; 10];
    match &receiver.rtp {
        Transform::AesCm(cm) => cm.sign(&p, &roc, &mut tag),
        Transform::AesGcm(_) => unreachable!("AES-CM profile"),
    }
    p.extend_from_slice(&tag);
    assert!(matches!(unprotect_rtp(&mut receiver, &p), Err(Error::Malformed(_))));
    assert_eq!(receiver.ssrc_count(), (0, 0));
}

#[test]
fn minimal_packets_round_trip() {
    for profile in ALL {
        let (mut sender, mut receiver) = pair(profile);
        // An RTP header with no payload, and an RTCP header with nothing after it.
        let plain = vec![0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(unprotect_rtp(&mut receiver, &protect_rtp(&mut sender, &plain)).unwrap(), plain);
        let plain = vec![0x80, 203, 0, 1, 0, 0, 0, 1];
        assert_eq!(
            unprotect_rtcp(&mut receiver, &protect_rtcp(&mut sender, &plain)).unwrap(),
            plain
        );
    }
}

#[test]
fn protect_needs_room_and_a_valid_length() {
    for profile in ALL {
        let (mut sender, _) = pair(profile);
        let plain = rtp(1, 1, b"abc");
        let mut buf = plain.clone();
        buf.resize(plain.len() + profile.rtp_overhead() - 1, 0xee);
        let copy = buf.clone();
        assert_eq!(
            sender.protect_rtp(&mut buf, plain.len()),
            Err(Error::BufferTooSmall {
                needed: plain.len() + profile.rtp_overhead(),
                available: buf.len()
            })
        );
        assert_eq!(buf, copy);
        assert!(matches!(
            sender.protect_rtp(&mut buf, copy.len() + 1),
            Err(Error::BufferTooSmall { .. })
        ));

        let plain = rtcp(1, 1);
        let mut buf = plain.clone();
        buf.resize(plain.len() + profile.rtcp_overhead() - 1, 0);
        assert!(matches!(
            sender.protect_rtcp(&mut buf, plain.len()),
            Err(Error::BufferTooSmall { .. })
        ));
        assert_eq!(sender.ssrc_count(), (0, 0));

        let mut huge = vec![0x80; MAX_PACKET_LEN + 100];
        assert!(matches!(
            sender.protect_rtp(&mut huge, MAX_PACKET_LEN + 1),
            Err(Error::Malformed(_))
        ));
        let (_, mut receiver) = pair(profile);
        assert!(matches!(receiver.unprotect_rtp(&mut huge), Err(Error::Malformed(_))));
        assert!(matches!(receiver.unprotect_rtcp(&mut huge), Err(Error::Malformed(_))));
    }
}

#[test]
fn vec_wrappers_do_not_reallocate_with_enough_capacity() {
    for profile in ALL {
        let (mut sender, mut receiver) = pair(profile);
        let plain = rtp(3, 4, &[1; 100]);
        let mut v = Vec::with_capacity(1500);
        v.extend_from_slice(&plain);
        let ptr = v.as_ptr();
        sender.protect_rtp_vec(&mut v).unwrap();
        receiver.unprotect_rtp_vec(&mut v).unwrap();
        assert_eq!(v, plain);
        let plain = rtcp(4, 9);
        v.clear();
        v.extend_from_slice(&plain);
        sender.protect_rtcp_vec(&mut v).unwrap();
        receiver.unprotect_rtcp_vec(&mut v).unwrap();
        assert_eq!(v, plain);
        assert_eq!(v.as_ptr(), ptr);
        // A failed protect leaves the packet as it was.
        let mut bad = vec![0x80, 0, 0];
        assert!(sender.protect_rtp_vec(&mut bad).is_err());
        assert_eq!(bad, [0x80, 0, 0]);
    }
}

#[test]
fn ssrc_count_is_bounded() {
    for profile in ALL {
        let config = Config { max_ssrcs: 2, ..Config::default() };
        let (mut sender, mut receiver) = pair_with(profile, config);
        let a = protect_rtp(&mut sender, &rtp(1, 1, b"a"));
        let b = protect_rtp(&mut sender, &rtp(1, 2, b"b"));
        let mut buf = rtp(1, 3, b"c");
        buf.resize(200, 0);
        assert_eq!(sender.protect_rtp(&mut buf, 12 + 8 + 12 + 1), Err(Error::TooManySsrcs));
        sender.remove_ssrc(1);
        let c = protect_rtp(&mut sender, &rtp(1, 3, b"c"));

        // Forged packets of new SSRCs take no slot.
        let mut forged = c.clone();
        for ssrc in 100..110u32 {
            forged[8..12].copy_from_slice(&ssrc.to_be_bytes());
            assert_eq!(unprotect_rtp(&mut receiver, &forged), Err(Error::AuthenticationFailed));
        }
        assert!(unprotect_rtp(&mut receiver, &a).is_ok());
        assert!(unprotect_rtp(&mut receiver, &b).is_ok());
        assert_eq!(unprotect_rtp(&mut receiver, &c), Err(Error::TooManySsrcs));
        receiver.remove_ssrc(2);
        assert!(unprotect_rtp(&mut receiver, &c).is_ok());

        // RTCP has its own bound.
        protect_rtcp(&mut sender, &rtcp(1, 0));
        protect_rtcp(&mut sender, &rtcp(2, 0));
        let mut buf = rtcp(3, 0);
        buf.resize(200, 0);
        assert_eq!(sender.protect_rtcp(&mut buf, 32), Err(Error::TooManySsrcs));
    }
}

#[test]
fn srtcp_index_exhaustion_is_refused() {
    for profile in ALL {
        let (mut sender, mut receiver) = pair(profile);
        sender.set_next_srtcp_index(8, 0x7fff_fffe);
        for _ in 0..2 {
            let plain = rtcp(8, 1);
            assert_eq!(
                unprotect_rtcp(&mut receiver, &protect_rtcp(&mut sender, &plain)).unwrap(),
                plain
            );
        }
        let mut buf = rtcp(8, 1);
        buf.resize(100, 0);
        assert_eq!(sender.protect_rtcp(&mut buf, 32), Err(Error::KeyExhausted));
    }
}

#[test]
fn bad_keys_and_configs_are_refused() {
    for profile in ALL {
        let (key, salt) = master(profile);
        assert!(matches!(Context::new(profile, &key[1..], &salt), Err(Error::InvalidKey(_))));
        assert!(matches!(Context::new(profile, &key, &salt[1..]), Err(Error::InvalidKey(_))));
        for config in [
            Config { replay_window: 63, ..Config::default() },
            Config { replay_window: MAX_REPLAY_WINDOW + 1, ..Config::default() },
            Config { max_ssrcs: 0, ..Config::default() },
        ] {
            assert!(matches!(
                Context::with_config(profile, &key, &salt, config),
                Err(Error::InvalidConfig(_))
            ));
        }
        let config = Config { replay_window: 100, ..Config::default() };
        let ctx = Context::with_config(profile, &key, &salt, config).unwrap();
        assert_eq!(ctx.window_words, 2);
        assert_eq!(ctx.config(), config);
        assert_eq!(ctx.profile(), profile);
        assert!(format!("{ctx:?}").contains("Context"));
    }
}

#[test]
fn dtls_keying_material_gives_matching_directions() {
    for profile in ALL {
        let material: Vec<u8> = (0..profile.keying_material_len()).map(|i| i as u8).collect();
        let keys = DtlsSrtpKeys::split(profile, &material).unwrap();
        let k = profile.master_key_len();
        let s = profile.master_salt_len();
        assert_eq!(keys.client_master_key, &material[..k]);
        assert_eq!(keys.server_master_key, &material[k..2 * k]);
        assert_eq!(keys.client_master_salt, &material[2 * k..2 * k + s]);
        assert_eq!(keys.server_master_salt, &material[2 * k + s..]);
        assert_eq!(format!("{keys:?}"), "DtlsSrtpKeys { .. }");
        assert!(DtlsSrtpKeys::split(profile, &material[1..]).is_err());

        let config = Config::default();
        let (mut client_out, mut client_in) =
            Context::from_dtls_keying_material(profile, &material, true, config).unwrap();
        let (mut server_out, mut server_in) =
            Context::from_dtls_keying_material(profile, &material, false, config).unwrap();
        let plain = rtp(1, 1, b"to server");
        assert_eq!(
            unprotect_rtp(&mut server_in, &protect_rtp(&mut client_out, &plain)).unwrap(),
            plain
        );
        let plain = rtp(1, 2, b"to client");
        assert_eq!(
            unprotect_rtp(&mut client_in, &protect_rtp(&mut server_out, &plain)).unwrap(),
            plain
        );
        let wire = protect_rtp(&mut client_out, &rtp(2, 1, b"x"));
        assert_eq!(unprotect_rtp(&mut client_in, &wire), Err(Error::AuthenticationFailed));
    }
}

#[test]
fn context_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Context>();
}
