//! Property tests: writing, parsing, rewriting, RTX and extension editing round-trip.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use rtp::codec::Codec;
use rtp::{
    add_extension, remove_extension, rtx, ExtensionForm, RtpHeaderWriter, RtpPacket,
    SequenceUnwrapper, TimestampUnwrapper,
};

/// Everything needed to write one packet.
#[derive(Debug, Clone)]
struct Spec {
    marker: bool,
    payload_type: u8,
    sequence_number: u16,
    timestamp: u32,
    ssrc: u32,
    csrcs: Vec<u32>,
    extensions: Vec<(u8, Vec<u8>)>,
    payload: Vec<u8>,
    padding_len: u8,
}

impl Spec {
    fn write(&self) -> Vec<u8> {
        let ext: Vec<(u8, &[u8])> = self.extensions.iter().map(|(i, d)| (*i, &d[..])).collect();
        let w = RtpHeaderWriter {
            marker: self.marker,
            payload_type: self.payload_type,
            sequence_number: self.sequence_number,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
            csrcs: &self.csrcs,
            extensions: &ext,
            extension_form: None,
            padding_len: self.padding_len,
        };
        let mut out = Vec::new();
        w.append_packet(&self.payload, &mut out).unwrap();
        out
    }
}

fn one_byte_extensions() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
    btree_map(1u8..=14, vec(any::<u8>(), 1..=16), 0..6).prop_map(|m| m.into_iter().collect())
}

fn two_byte_extensions() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
    btree_map(1u8..=255, vec(any::<u8>(), 0..=40), 1..6).prop_map(|m| m.into_iter().collect())
}

fn spec_with(ext: impl Strategy<Value = Vec<(u8, Vec<u8>)>>) -> impl Strategy<Value = Spec> {
    (
        any::<bool>(),
        0u8..128,
        any::<u16>(),
        any::<u32>(),
        any::<u32>(),
        vec(any::<u32>(), 0..=15),
        ext,
        vec(any::<u8>(), 0..300),
        prop_oneof![Just(0u8), 1u8..=255],
    )
        .prop_map(
            |(
                marker,
                payload_type,
                sequence_number,
                timestamp,
                ssrc,
                csrcs,
                extensions,
                payload,
                padding_len,
            )| Spec {
                marker,
                payload_type,
                sequence_number,
                timestamp,
                ssrc,
                csrcs,
                extensions,
                payload,
                padding_len,
            },
        )
}

fn spec() -> impl Strategy<Value = Spec> {
    spec_with(prop_oneof![one_byte_extensions(), two_byte_extensions()])
}

fn elements<T: AsRef<[u8]>>(p: &RtpPacket<T>) -> Vec<(u8, Vec<u8>)> {
    p.extensions().map(|(i, d)| (i, d.to_vec())).collect()
}

fn sorted(mut v: Vec<(u8, Vec<u8>)>) -> Vec<(u8, Vec<u8>)> {
    v.sort();
    v
}

proptest! {
    #[test]
    fn write_then_parse(s in spec()) {
        let buf = s.write();
        let p = RtpPacket::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(p.version(), 2);
        prop_assert_eq!(p.marker(), s.marker);
        prop_assert_eq!(p.payload_type(), s.payload_type);
        prop_assert_eq!(p.sequence_number(), s.sequence_number);
        prop_assert_eq!(p.timestamp(), s.timestamp);
        prop_assert_eq!(p.ssrc(), s.ssrc);
        prop_assert_eq!(p.csrcs().collect::<Vec<_>>(), s.csrcs.clone());
        prop_assert_eq!(usize::from(p.csrc_count()), s.csrcs.len());
        prop_assert_eq!(elements(&p), s.extensions.clone());
        prop_assert_eq!(p.has_extension(), !s.extensions.is_empty());
        if !s.extensions.is_empty() {
            let refs: Vec<(u8, &[u8])> = s.extensions.iter().map(|(i, d)| (*i, &d[..])).collect();
            prop_assert_eq!(p.extension_form(), Some(ExtensionForm::smallest_for(&refs)));
        }
        prop_assert_eq!(p.payload(), &s.payload[..]);
        prop_assert_eq!(p.padding(), s.padding_len > 0);
        prop_assert_eq!(p.padding_len(), usize::from(s.padding_len));
        prop_assert_eq!(p.header_len() + s.payload.len() + usize::from(s.padding_len), buf.len());
        for (id, data) in &s.extensions {
            prop_assert_eq!(p.extension(*id), Some(&data[..]));
        }
    }

    #[test]
    fn setters_then_parse(
        s in spec(),
        ssrc in any::<u32>(),
        seq in any::<u16>(),
        ts in any::<u32>(),
        pt in 0u8..128,
        marker in any::<bool>(),
    ) {
        let mut buf = s.write();
        let mut p = RtpPacket::new_checked(&mut buf[..]).unwrap();
        p.set_ssrc(ssrc);
        p.set_sequence_number(seq);
        p.set_timestamp(ts);
        p.set_payload_type(pt);
        p.set_marker(marker);
        let p = RtpPacket::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(p.ssrc(), ssrc);
        prop_assert_eq!(p.sequence_number(), seq);
        prop_assert_eq!(p.timestamp(), ts);
        prop_assert_eq!(p.payload_type(), pt);
        prop_assert_eq!(p.marker(), marker);
        prop_assert_eq!(p.payload(), &s.payload[..]);
        prop_assert_eq!(p.csrcs().collect::<Vec<_>>(), s.csrcs.clone());
        prop_assert_eq!(elements(&p), s.extensions.clone());
        prop_assert_eq!(p.padding_len(), usize::from(s.padding_len));
    }

    #[test]
    fn rtx_wrap_then_unwrap(
        s in spec(),
        rtx_ssrc in any::<u32>(),
        rtx_pt in 0u8..128,
        rtx_seq in any::<u16>(),
    ) {
        let original = s.write();
        let mut unpadded_spec = s.clone();
        unpadded_spec.padding_len = 0;
        let unpadded = unpadded_spec.write();

        let mut out = vec![0u8; rtx::wrapped_len(&original).unwrap()];
        let n = rtx::wrap_into(&original, rtx_ssrc, rtx_pt, rtx_seq, &mut out).unwrap();
        prop_assert_eq!(n, out.len());
        let mut in_place = original.clone();
        rtx::wrap_in_place(&mut in_place, rtx_ssrc, rtx_pt, rtx_seq).unwrap();
        prop_assert_eq!(&in_place, &out);

        let w = RtpPacket::new_checked(&out[..]).unwrap();
        prop_assert_eq!(w.ssrc(), rtx_ssrc);
        prop_assert_eq!(w.payload_type(), rtx_pt);
        prop_assert_eq!(w.sequence_number(), rtx_seq);
        prop_assert_eq!(w.timestamp(), s.timestamp);
        prop_assert_eq!(w.marker(), s.marker);
        prop_assert_eq!(elements(&w), s.extensions.clone());
        prop_assert_eq!(rtx::original_sequence_number(&out), Ok(s.sequence_number));

        let mut back = vec![0u8; out.len()];
        let m = rtx::unwrap_into(&out, s.ssrc, s.payload_type, &mut back).unwrap();
        prop_assert_eq!(&back[..m], &unpadded[..]);
        let osn = rtx::unwrap_in_place(&mut in_place, s.ssrc, s.payload_type);
        prop_assert_eq!(osn, Ok(s.sequence_number));
        prop_assert_eq!(&in_place, &unpadded);
    }

    #[test]
    fn add_then_remove_keeps_the_form(
        s in spec(),
        id in 1u8..=14,
        data in vec(any::<u8>(), 1..=16),
    ) {
        // Only ids absent from the packet; an element that fits the block's form.
        prop_assume!(s.extensions.iter().all(|(i, _)| *i != id));
        let original = s.write();
        let mut p = original.clone();
        add_extension(&mut p, id, &data).unwrap();
        {
            let v = RtpPacket::new_checked(&p[..]).unwrap();
            prop_assert_eq!(v.extension(id), Some(&data[..]));
            prop_assert_eq!(v.payload(), &s.payload[..]);
            prop_assert_eq!(v.padding_len(), usize::from(s.padding_len));
            let mut expected = s.extensions.clone();
            expected.push((id, data.clone()));
            prop_assert_eq!(elements(&v), expected);
        }
        prop_assert!(remove_extension(&mut p, id).unwrap());
        prop_assert_eq!(p, original);
    }

    #[test]
    fn add_then_remove_across_forms(
        s in spec(),
        id in 1u8..=255,
        data in vec(any::<u8>(), 0..=255),
    ) {
        prop_assume!(s.extensions.iter().all(|(i, _)| *i != id));
        let original = s.write();
        let mut p = original.clone();
        add_extension(&mut p, id, &data).unwrap();
        let upgraded = {
            let v = RtpPacket::new_checked(&p[..]).unwrap();
            prop_assert_eq!(v.extension(id), Some(&data[..]));
            prop_assert_eq!(v.payload(), &s.payload[..]);
            let mut expected = s.extensions.clone();
            expected.push((id, data.clone()));
            prop_assert_eq!(sorted(elements(&v)), sorted(expected));
            let before = RtpPacket::new_checked(&original[..]).unwrap().extension_form();
            before.is_some() && before != v.extension_form()
        };
        prop_assert!(remove_extension(&mut p, id).unwrap());
        let v = RtpPacket::new_checked(&p[..]).unwrap();
        prop_assert_eq!(elements(&v), s.extensions.clone());
        prop_assert_eq!(v.payload(), &s.payload[..]);
        prop_assert_eq!(v.padding_len(), usize::from(s.padding_len));
        if !upgraded {
            prop_assert_eq!(&p, &original);
        }
    }

    #[test]
    fn remap_then_inverse(s in spec(), shift in 1u16..=254) {
        // A rotation of the ids the block's form can carry: 1-14 or 1-255.
        let original = s.write();
        let one_byte = RtpPacket::new_checked(&original[..]).unwrap().extension_form()
            == Some(ExtensionForm::OneByte);
        let m: u16 = if one_byte { 14 } else { 255 };
        let shift = shift % m;
        let fwd = move |id: u8| Some(((u16::from(id) - 1 + shift) % m + 1) as u8);
        let back = move |id: u8| Some(((u16::from(id) - 1 + m - shift) % m + 1) as u8);
        let mut buf = original.clone();
        RtpPacket::new_checked(&mut buf[..]).unwrap().remap_extension_ids(fwd).unwrap();
        let renamed: Vec<(u8, Vec<u8>)> = elements(&RtpPacket::new_checked(&buf[..]).unwrap());
        let expected: Vec<(u8, Vec<u8>)> =
            s.extensions.iter().map(|(i, d)| (fwd(*i).unwrap(), d.clone())).collect();
        prop_assert_eq!(renamed, expected);
        prop_assert_eq!(buf.len(), original.len());
        RtpPacket::new_checked(&mut buf[..]).unwrap().remap_extension_ids(back).unwrap();
        prop_assert_eq!(buf, original);
    }

    #[test]
    fn remap_beyond_one_byte_ids_is_refused_untouched(
        s in spec_with(one_byte_extensions()),
        to in 15u8..=255,
    ) {
        prop_assume!(!s.extensions.is_empty());
        let original = s.write();
        let mut buf = original.clone();
        let r = RtpPacket::new_checked(&mut buf[..]).unwrap().remap_extension_ids(|_| Some(to));
        prop_assert!(matches!(r, Err(rtp::Error::ExtensionDoesNotFit { .. })), "got {:?}", r);
        prop_assert_eq!(buf, original);
    }

    #[test]
    fn remap_to_nothing_keeps_length_and_payload(s in spec()) {
        let original = s.write();
        let mut buf = original.clone();
        RtpPacket::new_checked(&mut buf[..]).unwrap().remap_extension_ids(|_| None).unwrap();
        prop_assert_eq!(buf.len(), original.len());
        let p = RtpPacket::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(p.extensions().count(), 0);
        prop_assert_eq!(p.payload(), &s.payload[..]);
    }

    #[test]
    fn parsers_never_panic(bytes in vec(any::<u8>(), 0..200)) {
        if let Ok(p) = RtpPacket::new_checked(&bytes[..]) {
            let _ = p.extensions().count();
            let _ = p.csrcs().count();
            let _ = p.payload();
        }
        for codec in [Codec::Vp8, Codec::Vp9, Codec::H264, Codec::Av1] {
            let _ = codec.inspect(&bytes);
        }
        let mut v = bytes.clone();
        let _ = add_extension(&mut v, 20, &[1, 2, 3]);
        let mut v = bytes.clone();
        let _ = remove_extension(&mut v, 1);
        let mut v = bytes;
        let _ = rtx::unwrap_in_place(&mut v, 1, 2);
    }

    #[test]
    fn sequence_unwrapper_tracks_a_random_walk(
        start in 0i64..200_000,
        steps in vec(-1000i64..3000, 1..500),
    ) {
        let mut u = SequenceUnwrapper::new();
        let mut t = TimestampUnwrapper::new();
        let mut truth = start;
        // Anchor both at the start; offsets keep the truth in the representable range.
        let first = u.unwrap(truth as u16);
        let offset = truth - first;
        let tfirst = t.unwrap((truth * 90_000) as u32);
        let toffset = truth * 90_000 - tfirst;
        for step in steps {
            truth += step;
            prop_assert_eq!(u.unwrap(truth as u16) + offset, truth);
            prop_assert_eq!(t.unwrap((truth * 90_000) as u32) + toffset, truth * 90_000);
        }
    }
}
