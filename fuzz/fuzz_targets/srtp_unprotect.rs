//! SRTP/SRTCP unprotect on arbitrary bytes. The first byte picks the protection profile and
//! RTP or RTCP; the rest is the packet. A context that has already accepted a valid packet is
//! used too, so the replay and rollover paths run on hostile input as well as the fresh ones.
#![no_main]

use libfuzzer_sys::fuzz_target;
use srtp::{Context, ProtectionProfile};

fn context(profile: ProtectionProfile) -> Context {
    let key = vec![0x11; profile.master_key_len()];
    let salt = vec![0x22; profile.master_salt_len()];
    Context::new(profile, &key, &salt).expect("valid key and salt")
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, packet)) = data.split_first() else {
        return;
    };
    let profiles = ProtectionProfile::ALL;
    let profile = profiles[usize::from(selector & 0x03)];
    let rtcp = selector & 0x04 != 0;
    let warm = selector & 0x08 != 0;

    let mut sender = context(profile);
    let mut receiver = context(profile);
    if warm {
        // One valid packet each way first, with the SSRC the input is likely to reuse.
        let mut rtp = vec![0x80, 96, 0xff, 0xf0, 0, 0, 0, 0, 0, 0, 0, 1, 0xab, 0xcd];
        sender.protect_rtp_vec(&mut rtp).expect("protect");
        receiver.unprotect_rtp_vec(&mut rtp).expect("unprotect");
        let mut rtcp_packet = vec![0x80, 201, 0, 1, 0, 0, 0, 1];
        sender.protect_rtcp_vec(&mut rtcp_packet).expect("protect");
        receiver.unprotect_rtcp_vec(&mut rtcp_packet).expect("unprotect");
    }

    let mut buf = packet.to_vec();
    let result =
        if rtcp { receiver.unprotect_rtcp(&mut buf) } else { receiver.unprotect_rtp(&mut buf) };
    match result {
        Ok(len) => assert!(len <= packet.len()),
        // A failed unprotect leaves the buffer as it was.
        Err(_) => assert_eq!(buf, packet),
    }

    // The receiver still accepts a fresh valid packet (unless the input itself was accepted,
    // which without the key cannot happen, and could have taken this sequence number).
    let mut rtp = vec![0x80, 96, 0xff, 0xf1, 0, 0, 0, 0, 0, 0, 0, 1, 0x01];
    sender.protect_rtp_vec(&mut rtp).expect("protect");
    let after = receiver.unprotect_rtp_vec(&mut rtp);
    if result.is_err() {
        after.expect("valid packet after hostile input");
    }
});
