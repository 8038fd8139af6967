//! Hostile datagrams through SRTP and SRTCP unprotect, for every protection profile: truncated,
//! bit-flipped, overwritten, oversized and random mutations of valid protected packets.
//!
//! Proves that no input panics, that nothing but an unmodified valid packet is ever accepted,
//! and that the contexts keep working for valid packets while and after the storm runs.

use integration_tests::HostileInputs;
use srtp::{Context, ProtectionProfile};

/// Inputs per profile; each goes through both `unprotect_rtp` and `unprotect_rtcp`.
const INPUTS_PER_PROFILE: usize = 25_000;
const SSRC: u32 = 0x5eed_0001;

fn rtp(seq: u16, csrcs: u8, extension_words: u16, payload_len: usize) -> Vec<u8> {
    let x = if extension_words > 0 { 0x10 } else { 0 };
    let mut p = vec![0x80 | x | csrcs, 0x6f];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&0x0bad_f00du32.to_be_bytes());
    p.extend_from_slice(&SSRC.to_be_bytes());
    for c in 0..u32::from(csrcs) {
        p.extend_from_slice(&(0x1000 + c).to_be_bytes());
    }
    if extension_words > 0 {
        p.extend_from_slice(&[0xbe, 0xde]);
        p.extend_from_slice(&extension_words.to_be_bytes());
        p.extend((0..4 * extension_words).map(|i| i as u8));
    }
    p.extend((0..payload_len).map(|i| (i * 7) as u8));
    p
}

fn rtcp(fill: u8, words: u16) -> Vec<u8> {
    let mut p = vec![0x81, 200];
    p.extend_from_slice(&(words + 1).to_be_bytes());
    p.extend_from_slice(&SSRC.to_be_bytes());
    p.extend((0..4 * words).map(|i| fill ^ i as u8));
    p
}

fn protected_rtp(ctx: &mut Context, plain: &[u8]) -> Vec<u8> {
    let mut v = plain.to_vec();
    ctx.protect_rtp_vec(&mut v).expect("protect valid RTP");
    v
}

fn protected_rtcp(ctx: &mut Context, plain: &[u8]) -> Vec<u8> {
    let mut v = plain.to_vec();
    ctx.protect_rtcp_vec(&mut v).expect("protect valid RTCP");
    v
}

/// A valid packet pair, protected now, must still unprotect to its plaintext.
fn assert_still_working(sender: &mut Context, receiver: &mut Context, seq: u16, fill: u8) {
    let plain = rtp(seq, 1, 1, 160);
    let mut wire = protected_rtp(sender, &plain);
    receiver.unprotect_rtp_vec(&mut wire).expect("valid SRTP after hostile input");
    assert_eq!(wire, plain);
    let plain = rtcp(fill, 6);
    let mut wire = protected_rtcp(sender, &plain);
    receiver.unprotect_rtcp_vec(&mut wire).expect("valid SRTCP after hostile input");
    assert_eq!(wire, plain);
}

#[test]
fn hostile_srtp_and_srtcp_never_panic_and_contexts_keep_working() {
    for (n, profile) in ProtectionProfile::ALL.into_iter().enumerate() {
        let key: Vec<u8> = (0..profile.master_key_len()).map(|i| i as u8 * 3).collect();
        let salt: Vec<u8> = (0..profile.master_salt_len()).map(|i| i as u8 ^ 0xa5).collect();
        let mut sender = Context::new(profile, &key, &salt).unwrap();
        let mut receiver = Context::new(profile, &key, &salt).unwrap();

        let mut samples = vec![
            protected_rtp(&mut sender, &rtp(1, 0, 0, 0)),
            protected_rtp(&mut sender, &rtp(2, 0, 0, 1200)),
            protected_rtp(&mut sender, &rtp(3, 2, 0, 100)),
            protected_rtp(&mut sender, &rtp(4, 0, 2, 100)),
            protected_rtp(&mut sender, &rtp(5, 15, 3, 20)),
            protected_rtcp(&mut sender, &rtcp(1, 0)),
            protected_rtcp(&mut sender, &rtcp(2, 6)),
            protected_rtcp(&mut sender, &rtcp(3, 100)),
        ];
        samples.sort();
        let mut inputs = HostileInputs::new(0x5_2750_0000 + n as u64, samples.clone());

        let mut seq = 100u16;
        let mut authentication_failures = 0usize;
        for i in 0..INPUTS_PER_PROFILE {
            let input = inputs.next_input();
            for rtcp in [false, true] {
                let mut buf = input.clone();
                let result = if rtcp {
                    receiver.unprotect_rtcp(&mut buf)
                } else {
                    receiver.unprotect_rtp(&mut buf)
                };
                if result == Err(srtp::Error::AuthenticationFailed) {
                    authentication_failures += 1;
                }
                if result.is_ok() {
                    // Only an untouched sample can verify (and only once: then it is a replay).
                    assert!(
                        samples.binary_search(&input).is_ok(),
                        "{profile}: a mutated packet was accepted: {input:02x?}"
                    );
                }
            }
            if i % 1000 == 999 {
                seq += 1;
                assert_still_working(&mut sender, &mut receiver, seq, i as u8);
            }
        }
        assert_still_working(&mut sender, &mut receiver, seq + 1, 0xff);
        // Most mutations get past the length checks and are stopped by the tag: the inputs
        // reach the cryptography, not just the parser.
        assert!(authentication_failures > INPUTS_PER_PROFILE / 2, "{profile}");
        // Only the one SSRC of the valid packets ever got state.
        assert_eq!(receiver.ssrc_count(), (1, 1), "{profile}");
    }
}
