//! Every `rtp` parser and editor on arbitrary bytes: the packet view, extension iteration and
//! rewriting, adding and removing extensions, the codec inspectors and RTX.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtp::codec::Codec;
use rtp::{add_extension, remove_extension, rtx, RtpPacket};

fuzz_target!(|data: &[u8]| {
    for codec in [Codec::Vp8, Codec::Vp9, Codec::H264, Codec::Av1] {
        let _ = codec.inspect(data);
    }
    let _ = rtx::original_sequence_number(data);

    let Ok(view) = RtpPacket::new_checked(data) else {
        let mut copy = data.to_vec();
        assert!(add_extension(&mut copy, 1, &[0]).is_err());
        assert!(rtx::wrap_in_place(&mut copy, 1, 97, 1).is_err());
        assert_eq!(copy, data);
        return;
    };
    let payload = view.payload();
    for codec in [Codec::Vp8, Codec::Vp9, Codec::H264, Codec::Av1] {
        let _ = codec.inspect(payload);
    }
    let _ = view.csrcs().count();
    let ids: Vec<u8> = view.extensions().map(|(id, _)| id).collect();

    // In-place rewriting keeps the layout and the payload.
    let mut copy = data.to_vec();
    {
        let mut p = RtpPacket::new_checked(&mut copy[..]).expect("same bytes");
        p.set_ssrc(1);
        p.set_sequence_number(2);
        p.set_timestamp(3);
        p.set_payload_type(100);
        p.set_marker(true);
        let _ = p.remap_extension_ids(|id| Some(id.wrapping_mul(7)));
        let _ = p.remap_extension_ids(|id| (id & 1 == 1).then_some(id));
    }
    assert_eq!(RtpPacket::new_checked(&copy[..]).expect("layout kept").payload(), payload);

    // Use the first byte as the id to add, so the fuzzer steers the form choice.
    let id = data.first().copied().unwrap_or(1).max(1);
    let value = data.get(..usize::from(data.get(1).copied().unwrap_or(0) % 20)).unwrap_or(&[]);
    let mut copy = data.to_vec();
    if add_extension(&mut copy, id, value).is_ok() {
        let p = RtpPacket::new_checked(&copy[..]).expect("add keeps a valid packet");
        assert_eq!(p.extension(id), Some(value));
        assert_eq!(p.payload(), payload);
        assert_eq!(remove_extension(&mut copy, id), Ok(true));
        let p = RtpPacket::new_checked(&copy[..]).expect("remove keeps a valid packet");
        assert_eq!(p.payload(), payload);
    }
    for id in ids.into_iter().take(2) {
        let mut copy = data.to_vec();
        let _ = remove_extension(&mut copy, id);
    }

    let mut copy = data.to_vec();
    if rtx::wrap_in_place(&mut copy, 7, 97, 8).is_ok() {
        let mut out = vec![0u8; data.len() + 2];
        let n = rtx::wrap_into(data, 7, 97, 8, &mut out).expect("wraps both ways");
        assert_eq!(&out[..n], &copy[..]);
        assert_eq!(rtx::unwrap_in_place(&mut copy, 9, 96), Ok(view.sequence_number()));
    }
    let mut out = vec![0u8; data.len()];
    let _ = rtx::unwrap_into(data, 1, 96, &mut out);
});
