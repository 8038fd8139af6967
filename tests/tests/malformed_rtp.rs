//! Hostile input against every `rtp` entry point: the packet view, extension iteration and
//! editing, codec inspectors and RTX. Nothing may panic, and every edit that succeeds must leave
//! a packet that still parses and says what the edit promised.

use integration_tests::HostileInputs;
use rtp::codec::Codec;
use rtp::{add_extension, remove_extension, rtx, RtpHeaderWriter, RtpPacket};

const CODECS: [Codec; 4] = [Codec::Vp8, Codec::Vp9, Codec::H264, Codec::Av1];
/// Inputs from `HostileInputs`. Its oversized mode appends up to 64 KiB of random bytes drawn
/// one at a time, which dominates the run time in debug builds, so part of the ~100k inputs come
/// from the cheaper header-focused mutator below instead.
const HOSTILE_ROUNDS: usize = 100_000;
/// Inputs from [`HeaderMutator`].
const HEADER_ROUNDS: usize = 40_000;

fn packet(
    pt: u8,
    csrcs: &[u32],
    extensions: &[(u8, &[u8])],
    payload: &[u8],
    padding_len: u8,
) -> Vec<u8> {
    let mut out = Vec::new();
    RtpHeaderWriter {
        marker: true,
        payload_type: pt,
        sequence_number: 0xfffe,
        timestamp: 0x1234_5678,
        ssrc: 0xdead_beef,
        csrcs,
        extensions,
        extension_form: None,
        padding_len,
    }
    .append_packet(payload, &mut out)
    .expect("sample packets are valid");
    out
}

fn samples() -> Vec<Vec<u8>> {
    let browser_ext: [(u8, &[u8]); 3] = [(1, b"0"), (2, &[0x12, 0x34, 0x56]), (3, &[0x01, 0x02])];
    let two_byte_ext: [(u8, &[u8]); 3] = [(1, &[]), (20, &[0xaa; 20]), (255, &[0x01])];
    // VP8 key frame: X=1, S=1; I with 15-bit PictureID, L, T; payload header with start code.
    let vp8_key = [
        0x90, 0xe0, 0x81, 0x23, 0x05, 0x40, 0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0,
        0x01, 0xaa, 0xbb,
    ];
    // VP9 key frame with a scalability structure (3 layers, resolutions, 2 pictures in group).
    let vp9_ss = [
        0xae, 0x81, 0x23, 0x00, 0x09, 0x58, 0x01, 0x40, 0x00, 0xb4, 0x02, 0x80, 0x01, 0x68, 0x05,
        0x00, 0x02, 0xd0, 0x02, 0x04, 0x04, 0x38, 0x01, 0x02, 0xff,
    ];
    // VP9 flexible mode with three reference diffs.
    let vp9_flex = [0xf9, 0x05, 0x53, 0x03, 0x07, 0x0e, 0xaa];
    // H.264 STAP-A with SPS, PPS and the start of an IDR slice.
    let stap_a = [
        0x78, 0x00, 0x09, 0x67, 0x42, 0xc0, 0x1f, 0x8c, 0x8d, 0x40, 0x50, 0x1e, 0x00, 0x04, 0x68,
        0xce, 0x3c, 0x80, 0x00, 0x04, 0x65, 0x88, 0x84, 0x00,
    ];
    let fu_a = [0x7c, 0x85, 0x88, 0x84, 0x00, 0x11, 0x22];
    // AV1: W=0 with a sequence header and a frame carrying an extension header; N=1.
    let av1 = [0x08, 0x03, 0x08, 0x00, 0x00, 0x03, 0x34, 0x48, 0xbb];
    let av1_w2 = [0x28, 0x03, 0x08, 0x00, 0x00, 0x30, 0x11, 0x22];

    let vp8 = packet(96, &[], &browser_ext, &vp8_key, 0);
    let mut rtx_packet = vec![0u8; rtx::wrapped_len(&vp8).unwrap()];
    rtx::wrap_into(&vp8, 0x0102_0304, 97, 1, &mut rtx_packet).unwrap();
    vec![
        vp8,
        packet(98, &[], &browser_ext, &vp9_ss, 0),
        packet(98, &[7, 8], &two_byte_ext, &vp9_flex, 5),
        packet(102, &[], &browser_ext, &stap_a, 0),
        packet(102, &[1], &[], &fu_a, 1),
        packet(45, &[], &browser_ext, &av1, 0),
        packet(45, &[], &two_byte_ext, &av1_w2, 3),
        packet(111, &[1, 2, 3], &[], &[0xfc; 40], 0),
        packet(96, &[], &browser_ext, &[], 200),
        rtx_packet,
    ]
}

/// Exercises everything on one input; panics only through a broken invariant.
fn exercise(input: &[u8], scratch: &mut Vec<u8>) {
    for codec in CODECS {
        let _ = codec.inspect(input);
    }
    let _ = rtx::original_sequence_number(input);

    let Ok(view) = RtpPacket::new_checked(input) else {
        // Editors must refuse what the view refuses, and leave the input alone.
        scratch.clear();
        scratch.extend_from_slice(input);
        assert!(add_extension(scratch, 5, &[1]).is_err());
        assert!(remove_extension(scratch, 5).is_err());
        assert!(rtx::wrap_in_place(scratch, 1, 97, 1).is_err());
        assert!(rtx::unwrap_in_place(scratch, 1, 96).is_err());
        assert_eq!(&scratch[..], input);
        return;
    };
    assert!(view.header_len() + view.padding_len() <= input.len());
    let _ = (view.version(), view.marker(), view.payload_type(), view.sequence_number());
    let _ = (view.timestamp(), view.ssrc(), view.extension_profile(), view.extension_data());
    assert_eq!(view.csrcs().count(), usize::from(view.csrc_count()));
    let ids: Vec<u8> = view.extensions().map(|(id, _)| id).collect();
    for &id in &ids {
        assert!(view.extension(id).is_some());
    }
    for codec in CODECS {
        let _ = codec.inspect(view.payload());
    }

    // In-place rewrite on a copy: the payload never changes.
    scratch.clear();
    scratch.extend_from_slice(input);
    {
        let mut p = RtpPacket::new_checked(&mut scratch[..]).expect("same bytes parse again");
        p.set_ssrc(1);
        p.set_sequence_number(2);
        p.set_timestamp(3);
        p.set_payload_type(100);
        p.set_marker(false);
        let _ = p.remap_extension_ids(|id| Some(id.wrapping_add(3)));
        let _ = p.remap_extension_ids(|id| (id % 3 != 0).then_some(id));
        if let Some(data) = p.extension_mut(1) {
            data.fill(0xee);
        }
    }
    let p = RtpPacket::new_checked(&scratch[..]).expect("rewrites keep the layout");
    assert_eq!(p.payload(), view.payload());
    assert_eq!((p.ssrc(), p.sequence_number(), p.payload_type()), (1, 2, 100));

    // Add, then remove, on a copy.
    for (id, data) in [(4u8, &[9u8, 9][..]), (200, &[]), (14, &[7; 16])] {
        scratch.clear();
        scratch.extend_from_slice(input);
        if add_extension(scratch, id, data).is_ok() {
            let p = RtpPacket::new_checked(&scratch[..]).expect("add keeps a valid packet");
            assert_eq!(p.extension(id), Some(data));
            assert_eq!(p.payload(), view.payload());
            assert!(remove_extension(scratch, id).expect("what was added can be removed"));
            let p = RtpPacket::new_checked(&scratch[..]).expect("remove keeps a valid packet");
            assert_eq!(p.extension(id), None);
            assert_eq!(p.payload(), view.payload());
        } else {
            assert_eq!(&scratch[..], input, "a refused add leaves the packet alone");
        }
    }
    for &id in ids.iter().take(2) {
        scratch.clear();
        scratch.extend_from_slice(input);
        if remove_extension(scratch, id).is_ok() {
            let p = RtpPacket::new_checked(&scratch[..]).expect("remove keeps a valid packet");
            assert_eq!(p.payload(), view.payload());
        }
    }

    // RTX both ways.
    scratch.clear();
    scratch.extend_from_slice(input);
    if rtx::wrap_in_place(scratch, 7, 97, 8).is_ok() {
        let mut out = vec![0u8; input.len() + 2];
        let n = rtx::wrap_into(input, 7, 97, 8, &mut out).expect("same input wraps both ways");
        assert_eq!(&out[..n], &scratch[..]);
        assert_eq!(rtx::unwrap_in_place(scratch, 0xdead_beef, 96), Ok(view.sequence_number()));
        assert_eq!(RtpPacket::new_checked(&scratch[..]).unwrap().payload(), view.payload());
    }
    let mut out = vec![0u8; input.len()];
    let _ = rtx::unwrap_into(input, 1, 96, &mut out);
    scratch.clear();
    scratch.extend_from_slice(input);
    let _ = rtx::unwrap_in_place(scratch, 1, 96);
}

/// Mutates the first octets of valid samples, where the RTP header, CSRC count, extension
/// profile and length, and codec descriptors live, so most inputs reach the deeper checks.
struct HeaderMutator {
    state: u64,
}

impl HeaderMutator {
    fn next_u32(&mut self) -> u32 {
        // xorshift64*: deterministic and cheap.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        (self.state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }

    fn below(&mut self, n: usize) -> usize {
        self.next_u32() as usize % n.max(1)
    }

    fn mutate(&mut self, sample: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(sample);
        for _ in 0..1 + self.below(3) {
            let at = self.below(out.len().min(48));
            let value = self.next_u32() as u8;
            match self.below(4) {
                0 => out[at] = value,
                1 => out[at] ^= 1 << (value % 8),
                // Small length-like values hit the boundaries of the length checks.
                2 => out[at] = value % 8,
                _ => out.truncate(at + self.below(out.len() - at + 1)),
            }
            if out.is_empty() {
                break;
            }
        }
    }
}

#[test]
fn hostile_rtp_never_panics() {
    let samples = samples();
    let mut scratch = Vec::with_capacity(70_000);
    for sample in &samples {
        assert!(RtpPacket::new_checked(&sample[..]).is_ok());
        exercise(sample, &mut scratch);
    }
    for seed in [1u64, 2, 3, 4] {
        let mut inputs = HostileInputs::new(seed, samples.clone());
        for _ in 0..HOSTILE_ROUNDS / 4 {
            let input = inputs.next_input();
            exercise(&input, &mut scratch);
        }
    }
    let mut mutator = HeaderMutator { state: 0x9e37_79b9_7f4a_7c15 };
    let mut input = Vec::new();
    for i in 0..HEADER_ROUNDS {
        mutator.mutate(&samples[i % samples.len()], &mut input);
        exercise(&input, &mut scratch);
    }
}

#[test]
fn every_truncation_of_every_sample_is_handled() {
    let mut scratch = Vec::new();
    for sample in samples() {
        for cut in 0..=sample.len() {
            exercise(&sample[..cut], &mut scratch);
        }
    }
}
