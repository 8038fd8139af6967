//! Compound RTCP packets (RFC 3550 §6.1): reading every packet of a datagram, and writing
//! several packets into one datagram buffer.
//!
//! RFC 3550 §6.1 wants a compound to start with an SR or RR; reduced-size RTCP (RFC 5506
//! §3.4) lifts that, so a datagram holding a single feedback packet is accepted, and no
//! order is enforced on read.

use std::iter::FusedIterator;

use crate::app::App;
use crate::bye::Bye;
use crate::fir::Fir;
use crate::header::{
    PacketType, RawPacket, RawPackets, PSFB_AFB, PSFB_FIR, PSFB_PLI, RTPFB_NACK, RTPFB_TRANSPORT_CC,
};
use crate::nack::Nack;
use crate::pli::Pli;
use crate::receiver_report::ReceiverReport;
use crate::remb::Remb;
use crate::sdes::Sdes;
use crate::sender_report::SenderReport;
use crate::twcc::TransportCc;
use crate::twcc_builder::TwccBuilder;
use crate::Error;

/// A packet writer: the owned/borrowed description of one RTCP packet.
pub trait Encode {
    /// Bytes [`write_to`](Encode::write_to) will write.
    fn encoded_len(&self) -> usize;

    /// Writes the packet at the start of `buf` and returns its length. Fails with
    /// [`Error::BufferTooSmall`] when `buf` is shorter than
    /// [`encoded_len`](Encode::encoded_len), or [`Error::InvalidInput`] when a field cannot
    /// be encoded.
    fn write_to(&self, buf: &mut [u8]) -> Result<usize, Error>;
}

/// One decoded RTCP packet, borrowing the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Packet<'a> {
    /// Sender report (PT 200).
    SenderReport(SenderReport<'a>),
    /// Receiver report (PT 201).
    ReceiverReport(ReceiverReport<'a>),
    /// Source description (PT 202).
    Sdes(Sdes<'a>),
    /// Goodbye (PT 203).
    Bye(Bye<'a>),
    /// Application-defined (PT 204).
    App(App<'a>),
    /// Generic NACK (PT 205, FMT 1).
    Nack(Nack<'a>),
    /// Transport-wide congestion control feedback (PT 205, FMT 15).
    TransportCc(TransportCc<'a>),
    /// Picture loss indication (PT 206, FMT 1).
    Pli(Pli<'a>),
    /// Full intra request (PT 206, FMT 4).
    Fir(Fir<'a>),
    /// Receiver estimated maximum bitrate (PT 206, FMT 15, "REMB").
    Remb(Remb<'a>),
    /// Any other packet, XR (207) included: framed and skipped, never an error.
    Unknown {
        /// The packet type.
        packet_type: PacketType,
        /// The 5-bit count/FMT/subtype field.
        count: u8,
        /// The body after the 4-byte header, without padding.
        body: &'a [u8],
    },
}

impl<'a> Packet<'a> {
    /// Decodes the body of a framed packet.
    pub fn parse(raw: &RawPacket<'a>) -> Result<Self, Error> {
        let count = raw.count();
        let body = raw.body();
        let unknown = Packet::Unknown { packet_type: raw.packet_type(), count, body };
        Ok(match raw.packet_type() {
            PacketType::SR => Packet::SenderReport(SenderReport::parse(count, body)?),
            PacketType::RR => Packet::ReceiverReport(ReceiverReport::parse(count, body)?),
            PacketType::SDES => Packet::Sdes(Sdes::parse(count, body)?),
            PacketType::BYE => Packet::Bye(Bye::parse(count, body)?),
            PacketType::APP => Packet::App(App::parse(count, body)?),
            PacketType::RTPFB => match count {
                RTPFB_NACK => Packet::Nack(Nack::parse(body)?),
                RTPFB_TRANSPORT_CC => Packet::TransportCc(TransportCc::parse(body)?),
                _ => unknown,
            },
            PacketType::PSFB => match count {
                PSFB_PLI => Packet::Pli(Pli::parse(body)?),
                PSFB_FIR => Packet::Fir(Fir::parse(body)?),
                PSFB_AFB if Remb::is_remb(body) => Packet::Remb(Remb::parse(body)?),
                _ => unknown,
            },
            _ => unknown,
        })
    }

    /// The packet type octet.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::SenderReport(_) => PacketType::SR,
            Packet::ReceiverReport(_) => PacketType::RR,
            Packet::Sdes(_) => PacketType::SDES,
            Packet::Bye(_) => PacketType::BYE,
            Packet::App(_) => PacketType::APP,
            Packet::Nack(_) | Packet::TransportCc(_) => PacketType::RTPFB,
            Packet::Pli(_) | Packet::Fir(_) | Packet::Remb(_) => PacketType::PSFB,
            Packet::Unknown { packet_type, .. } => *packet_type,
        }
    }
}

/// Iterates the packets of a decrypted RTCP datagram.
///
/// Yields one `Result` per packet. After a malformed packet it yields that error once and
/// then ends: a compound with a broken packet is suspect as a whole (RFC 3550 §A.2), and
/// after a bad length the next packet cannot be found anyway. Callers wanting to keep the
/// packets before the error simply use them as they come; [`RawPackets`] with
/// [`Packet::parse`] goes on past a packet whose body alone is bad.
#[derive(Debug, Clone)]
pub struct CompoundIter<'a> {
    raw: RawPackets<'a>,
}

impl<'a> CompoundIter<'a> {
    /// Starts at the first byte of a decrypted RTCP datagram.
    pub fn new(datagram: &'a [u8]) -> Self {
        Self { raw: RawPackets::new(datagram) }
    }
}

impl<'a> Iterator for CompoundIter<'a> {
    type Item = Result<Packet<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let raw = match self.raw.next()? {
            Ok(raw) => raw,
            Err(e) => return Some(Err(e)),
        };
        let packet = Packet::parse(&raw);
        if packet.is_err() {
            self.raw.stop();
        }
        Some(packet)
    }
}

impl FusedIterator for CompoundIter<'_> {}

/// Appends packets to a caller-owned datagram buffer, one after another.
///
/// The buffer is cleared on creation and grows only when a compound is larger than any
/// before: reuse one `Vec` per connection and writing allocates nothing.
#[derive(Debug)]
pub struct CompoundBuilder<'v> {
    out: &'v mut Vec<u8>,
}

impl<'v> CompoundBuilder<'v> {
    /// Starts a compound in `out`, clearing it.
    pub fn new(out: &'v mut Vec<u8>) -> Self {
        out.clear();
        Self { out }
    }

    /// Appends one packet. On error the buffer is left as it was.
    pub fn push<P: Encode + ?Sized>(&mut self, packet: &P) -> Result<&mut Self, Error> {
        let start = self.out.len();
        let end = start
            .checked_add(packet.encoded_len())
            .ok_or(Error::InvalidInput("compound larger than memory"))?;
        self.out.resize(end, 0);
        let written = match self.out.get_mut(start..) {
            Some(tail) => packet.write_to(tail),
            None => Err(Error::BufferTooSmall { needed: end, available: start }),
        };
        match written {
            Ok(n) => {
                self.out.truncate(start + n);
                Ok(self)
            }
            Err(e) => {
                self.out.truncate(start);
                Err(e)
            }
        }
    }

    /// Appends the transport-wide feedback packets `twcc` has built (see
    /// [`TwccBuilder::finish`]) and returns how many.
    pub fn push_twcc(&mut self, twcc: &mut TwccBuilder) -> usize {
        twcc.finish(self.out)
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// True before the first packet.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// The compound so far.
    pub fn as_bytes(&self) -> &[u8] {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        NackBuilder, NackPair, PliBuilder, ReceiverReportBuilder, SdesBuilder, SdesChunkBuilder,
        SdesItem,
    };

    /// A compound as a browser sends it every few seconds: SR without report blocks, then
    /// SDES with the stream's CNAME.
    const SR_SDES: [u8; 56] = [
        0x80, 200, 0x00, 0x06, // SR, RC=0, length 6
        0x5a, 0x3b, 0x1c, 0x0d, // SSRC of sender
        0xe9, 0x4a, 0x2f, 0x10, 0x3d, 0x70, 0xa3, 0xd7, // NTP
        0x47, 0x1c, 0x8e, 0x20, // RTP timestamp
        0x00, 0x00, 0x0b, 0xb8, // 3000 packets
        0x00, 0x2d, 0xc6, 0xc0, // 3000000 octets
        0x81, 202, 0x00, 0x06, // SDES, SC=1, length 6
        0x5a, 0x3b, 0x1c, 0x0d, // SSRC
        0x01, 0x10, // CNAME, 16 octets
        b'k', b'u', b'A', b'1', b'z', b'R', b'5', b'r', b'L', b'n', b'X', b'v', b'O', b'4', b'p',
        b'z', 0x00, 0x00, // null octet and padding
    ];

    #[test]
    fn reads_a_browser_compound() {
        let packets: Vec<_> = CompoundIter::new(&SR_SDES).collect::<Result<_, _>>().unwrap();
        assert_eq!(packets.len(), 2);
        let Packet::SenderReport(sr) = packets[0] else { panic!("{:?}", packets[0]) };
        assert_eq!(sr.ssrc(), 0x5a3b_1c0d);
        assert_eq!(sr.ntp_timestamp(), 0xe94a_2f10_3d70_a3d7);
        assert_eq!(sr.packet_count(), 3000);
        assert_eq!(sr.octet_count(), 3_000_000);
        assert_eq!(sr.report_blocks().len(), 0);
        let Packet::Sdes(sdes) = packets[1] else { panic!("{:?}", packets[1]) };
        let chunk = sdes.chunks().next().unwrap();
        assert_eq!(chunk.ssrc(), 0x5a3b_1c0d);
        assert_eq!(chunk.cname(), Some(&b"kuA1zR5rLnXvO4pz"[..]));
        assert_eq!(packets[1].packet_type(), PacketType::SDES);
    }

    #[test]
    fn skips_xr_and_keeps_going() {
        let bytes = [
            0x80, 201, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, // RR, no blocks
            0x80, 207, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, // XR from SSRC 1
            0x04, 0x00, 0x00, 0x02, // RRTR block (BT=4), length 2
            0xe9, 0x4a, 0x2f, 0x10, 0x3d, 0x70, 0xa3, 0xd7, // NTP timestamp
            0x81, 206, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0, 2, // PLI
        ];
        let packets: Vec<_> = CompoundIter::new(&bytes).collect::<Result<_, _>>().unwrap();
        assert_eq!(packets.len(), 3);
        assert!(matches!(packets[0], Packet::ReceiverReport(_)));
        match packets[1] {
            Packet::Unknown { packet_type, count, body } => {
                assert_eq!(packet_type, PacketType::XR);
                assert_eq!(count, 0);
                assert_eq!(body.len(), 16);
            }
            other => panic!("expected XR as unknown, got {other:?}"),
        }
        assert!(matches!(packets[2], Packet::Pli(_)));
    }

    #[test]
    fn unknown_feedback_formats_are_skipped() {
        // RTPFB FMT 3 (TMMBR) and PSFB FMT 2 (SLI).
        let bytes = [
            0x83, 205, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, //
            0x82, 206, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0,
        ];
        let types: Vec<_> = CompoundIter::new(&bytes)
            .map(|p| match p.unwrap() {
                Packet::Unknown { packet_type, count, .. } => (packet_type, count),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(types, [(PacketType::RTPFB, 3), (PacketType::PSFB, 2)]);
    }

    #[test]
    fn reduced_size_single_feedback_is_accepted() {
        // RFC 5506: a datagram holding just a NACK.
        let bytes = [0x81, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 5, 0, 0];
        let packets: Vec<_> = CompoundIter::new(&bytes).collect::<Result<_, _>>().unwrap();
        assert!(matches!(packets[..], [Packet::Nack(_)]));
    }

    #[test]
    fn error_is_yielded_once_then_the_iterator_ends() {
        let mut bytes = SR_SDES.to_vec();
        // An SDES whose SC claims a second chunk that is not there, then a valid RR.
        bytes[28] = 0x82;
        bytes.extend_from_slice(&[0x80, 201, 0, 1, 0, 0, 0, 1]);
        let mut it = CompoundIter::new(&bytes);
        assert!(matches!(it.next(), Some(Ok(Packet::SenderReport(_)))));
        assert!(matches!(it.next(), Some(Err(_))));
        assert!(it.next().is_none());
        assert!(it.next().is_none());
    }

    #[test]
    fn every_truncation_is_an_error_or_a_packet_boundary() {
        for cut in 0..SR_SDES.len() {
            let results: Vec<_> = CompoundIter::new(&SR_SDES[..cut]).collect();
            match cut {
                0 => assert!(results.is_empty()),
                28 => assert!(matches!(results[..], [Ok(Packet::SenderReport(_))])),
                _ => assert!(matches!(results.last(), Some(Err(_))), "cut at {cut}"),
            }
        }
    }

    #[test]
    fn every_truncation_of_every_kind() {
        use crate::{
            AppBuilder, ByeBuilder, Encode, FirBuilder, FirEntry, RembBuilder, SenderReportBuilder,
        };
        let blocks = [crate::ReceptionReport { ssrc: 5, ..Default::default() }];
        let items = [SdesItem::cname(b"abc")];
        let chunks = [SdesChunkBuilder { ssrc: 9, items: &items }];
        let pairs = [NackPair { pid: 1, blp: 3 }];
        let fir = [FirEntry { ssrc: 3, sequence_number: 1 }];
        let mut twcc = TwccBuilder::new(1, 2);
        for seq in 0..30u16 {
            twcc.push(seq, (seq % 4 != 1).then_some(i64::from(seq) * 7_000)).unwrap();
        }
        let writers: [&dyn Encode; 8] = [
            &SenderReportBuilder { ssrc: 1, report_blocks: &blocks, ..Default::default() },
            &ReceiverReportBuilder { ssrc: 1, report_blocks: &blocks },
            &SdesBuilder { chunks: &chunks },
            &ByeBuilder { ssrcs: &[1], reason: Some(b"x") },
            &AppBuilder { subtype: 1, ssrc: 1, name: *b"ABCD", data: &[0; 8] },
            &NackBuilder { sender_ssrc: 1, media_ssrc: 2, pairs: &pairs },
            &FirBuilder { sender_ssrc: 1, entries: &fir },
            &RembBuilder { sender_ssrc: 1, bitrate_bps: 1_000_000, ssrcs: &[2] },
        ];
        let mut buf = Vec::new();
        let mut c = CompoundBuilder::new(&mut buf);
        let mut boundaries = vec![0];
        for w in writers {
            c.push(w).unwrap();
            boundaries.push(c.len());
        }
        c.push_twcc(&mut twcc);
        boundaries.push(c.len());
        assert_eq!(CompoundIter::new(&buf).filter(Result::is_ok).count(), 9);
        for cut in 0..=buf.len() {
            let results: Vec<_> = CompoundIter::new(&buf[..cut]).collect();
            let whole = boundaries.iter().filter(|b| **b <= cut).count() - 1;
            assert_eq!(results.iter().filter(|r| r.is_ok()).count(), whole, "cut at {cut}");
            if boundaries.contains(&cut) {
                assert!(results.iter().all(Result::is_ok), "cut at {cut}");
            } else {
                assert!(matches!(results.last(), Some(Err(_))), "cut at {cut}");
            }
        }
    }

    #[test]
    fn trailing_garbage_is_an_error() {
        let mut bytes = SR_SDES.to_vec();
        bytes.extend_from_slice(&[0x80, 201]);
        let last = CompoundIter::new(&bytes).last().unwrap();
        assert_eq!(last, Err(Error::Truncated("RTCP header")));
        bytes.truncate(56);
        bytes.extend_from_slice(&[0x00, 201, 0, 0]);
        let last = CompoundIter::new(&bytes).last().unwrap();
        assert_eq!(last, Err(Error::BadVersion(0)));
    }

    #[test]
    fn builder_appends_and_reuses_its_buffer() {
        let mut buf = Vec::with_capacity(256);
        let cap = buf.capacity();
        let items = [SdesItem::cname(b"kuA1zR5rLnXvO4pz")];
        let chunks = [SdesChunkBuilder { ssrc: 9, items: &items }];
        for round in 0..3 {
            let pairs = [NackPair { pid: round, blp: 1 }];
            let mut c = CompoundBuilder::new(&mut buf);
            c.push(&ReceiverReportBuilder { ssrc: 9, report_blocks: &[] })
                .unwrap()
                .push(&SdesBuilder { chunks: &chunks })
                .unwrap()
                .push(&NackBuilder { sender_ssrc: 9, media_ssrc: 10, pairs: &pairs })
                .unwrap()
                .push(&PliBuilder { sender_ssrc: 9, media_ssrc: 10 })
                .unwrap();
            assert_eq!(c.len(), 8 + 28 + 16 + 12);
            // A failed push leaves the compound as it was.
            assert!(c.push(&NackBuilder { sender_ssrc: 9, media_ssrc: 10, pairs: &[] }).is_err());
            assert_eq!(c.len(), 64);
            let kinds: Vec<_> =
                CompoundIter::new(c.as_bytes()).map(|p| p.unwrap().packet_type()).collect();
            assert_eq!(
                kinds,
                [PacketType::RR, PacketType::SDES, PacketType::RTPFB, PacketType::PSFB]
            );
        }
        assert_eq!(buf.capacity(), cap);
    }

    #[test]
    fn builder_takes_twcc_feedback() {
        let mut twcc = TwccBuilder::new(1, 2);
        twcc.push(5, Some(10_000)).unwrap();
        let mut buf = Vec::new();
        let mut c = CompoundBuilder::new(&mut buf);
        assert!(c.is_empty());
        c.push(&ReceiverReportBuilder { ssrc: 1, report_blocks: &[] }).unwrap();
        assert_eq!(c.push_twcc(&mut twcc), 1);
        let kinds: Vec<_> = CompoundIter::new(&buf).map(|p| p.unwrap().packet_type()).collect();
        assert_eq!(kinds, [PacketType::RR, PacketType::RTPFB]);
    }
}
