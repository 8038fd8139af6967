//! The RTCP the router writes itself: sender reports toward subscribers, whose NTP/RTP
//! mapping comes from the publisher's own sender reports, receiver reports toward
//! publishers, and the compounds around NACK and transport-wide feedback.
//!
//! # Lip sync through the SFU
//!
//! A receiver lines up audio and video by the NTP time each stream's sender reports give its
//! RTP timestamps (RFC 3550 §6.4.1). The SFU sends a subscriber the publisher's RTP
//! timestamps shifted by a per-stream offset (see
//! [`SequenceRewriter`](super::rewrite::SequenceRewriter)), so it takes the publisher's
//! last report `(ntp, rtp)` for the source, moves both forward by the time elapsed since it
//! arrived (NTP in seconds, RTP in clock ticks), and shifts the RTP value by the
//! subscriber's offset. Audio and video of one publisher keep the publisher's common NTP
//! timeline, so their relation survives the rewrite.

use std::time::Instant;

use rtcp::{
    to_ntp_interval, CompoundBuilder, Encode, Error, ReceiverReportBuilder, ReceptionReport,
    SdesBuilder, SdesChunkBuilder, SdesItem, SenderReportBuilder,
};

use super::rewrite::ticks;

/// The CNAME of the SFU's own RTCP toward publishers (RFC 3550 §6.5.1).
pub const FEEDBACK_CNAME: &[u8] = b"sfu";

/// A publisher's sender report for one source, as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderInfo {
    /// The source it describes.
    pub ssrc: u32,
    /// Its 64-bit NTP timestamp.
    pub ntp: u64,
    /// The RTP timestamp of the same instant.
    pub rtp_timestamp: u32,
    /// When it arrived.
    pub received_at: Instant,
}

impl SenderInfo {
    /// The NTP and RTP timestamps of the same instant at `now`, extrapolated from the
    /// report with a `clock_rate` Hz RTP clock.
    pub fn at(&self, now: Instant, clock_rate: u32) -> (u64, u32) {
        let elapsed = now.saturating_duration_since(self.received_at);
        (
            self.ntp.wrapping_add(to_ntp_interval(elapsed)),
            self.rtp_timestamp.wrapping_add(ticks(elapsed, clock_rate)),
        )
    }
}

/// What a sender report toward a subscriber says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutgoingReport {
    /// The subscriber stream's SSRC.
    pub ssrc: u32,
    /// NTP timestamp of now.
    pub ntp: u64,
    /// The stream's RTP timestamp of the same instant.
    pub rtp_timestamp: u32,
    /// Packets sent on the stream.
    pub packet_count: u32,
    /// Payload octets sent on the stream.
    pub octet_count: u32,
}

/// Writes SR + SDES (CNAME) into `out`.
pub fn write_sender_report(
    out: &mut Vec<u8>,
    report: &OutgoingReport,
    cname: &[u8],
) -> Result<(), Error> {
    let items = [SdesItem::cname(cname)];
    let chunks = [SdesChunkBuilder { ssrc: report.ssrc, items: &items }];
    CompoundBuilder::new(out)
        .push(&SenderReportBuilder {
            ssrc: report.ssrc,
            ntp_timestamp: report.ntp,
            rtp_timestamp: report.rtp_timestamp,
            packet_count: report.packet_count,
            octet_count: report.octet_count,
            report_blocks: &[],
        })?
        .push(&SdesBuilder { chunks: &chunks })?;
    Ok(())
}

/// Writes RR (with `blocks`) + SDES (CNAME) from `sender_ssrc` into `out`.
pub fn write_receiver_report(
    out: &mut Vec<u8>,
    sender_ssrc: u32,
    blocks: &[ReceptionReport],
) -> Result<(), Error> {
    let items = [SdesItem::cname(FEEDBACK_CNAME)];
    let chunks = [SdesChunkBuilder { ssrc: sender_ssrc, items: &items }];
    CompoundBuilder::new(out)
        .push(&ReceiverReportBuilder { ssrc: sender_ssrc, report_blocks: blocks })?
        .push(&SdesBuilder { chunks: &chunks })?;
    Ok(())
}

/// Writes an empty RR from `sender_ssrc` into `out`, then `feedback` (a NACK, say): the
/// compound a feedback message travels in (RFC 4585 §3.1).
pub fn write_feedback<P: Encode>(
    out: &mut Vec<u8>,
    sender_ssrc: u32,
    feedback: &P,
) -> Result<(), Error> {
    CompoundBuilder::new(out)
        .push(&ReceiverReportBuilder { ssrc: sender_ssrc, report_blocks: &[] })?
        .push(feedback)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtcp::{CompoundIter, Packet};
    use std::time::Duration;

    #[test]
    fn the_mapping_moves_forward_with_time_on_both_clocks() {
        let t0 = Instant::now();
        let info = SenderInfo {
            ssrc: 5,
            ntp: (3_900_000_000u64 << 32) | (1u64 << 31), // .5 s
            rtp_timestamp: u32::MAX - 1000,
            received_at: t0,
        };
        assert_eq!(info.at(t0, 90_000), (info.ntp, info.rtp_timestamp));
        let (ntp, rtp) = info.at(t0 + Duration::from_millis(750), 90_000);
        assert_eq!(ntp, (3_900_000_001u64 << 32) | (1u64 << 30)); // +0.75 s: x.25 s
        assert_eq!(rtp, (u32::MAX - 1000).wrapping_add(67_500));
        // Time before the report does not go back.
        assert_eq!(info.at(t0 - Duration::from_millis(10), 48_000).1, info.rtp_timestamp);
    }

    #[test]
    fn compounds_start_with_a_report_and_carry_the_cname() {
        let mut out = Vec::new();
        let report = OutgoingReport {
            ssrc: 77,
            ntp: 1 << 40,
            rtp_timestamp: 1234,
            packet_count: 10,
            octet_count: 1000,
        };
        write_sender_report(&mut out, &report, b"subscriber-cname").unwrap();
        let packets: Vec<Packet<'_>> = CompoundIter::new(&out).map(Result::unwrap).collect();
        let Packet::SenderReport(sr) = &packets[0] else { panic!("{packets:?}") };
        assert_eq!((sr.ssrc(), sr.ntp_timestamp(), sr.rtp_timestamp()), (77, 1 << 40, 1234));
        assert_eq!((sr.packet_count(), sr.octet_count()), (10, 1000));
        let Packet::Sdes(sdes) = &packets[1] else { panic!("{packets:?}") };
        assert_eq!(sdes.chunks().next().unwrap().cname(), Some(&b"subscriber-cname"[..]));

        let block = ReceptionReport { ssrc: 9, cumulative_lost: 3, ..Default::default() };
        write_receiver_report(&mut out, 1, &[block]).unwrap();
        let packets: Vec<Packet<'_>> = CompoundIter::new(&out).map(Result::unwrap).collect();
        let Packet::ReceiverReport(rr) = &packets[0] else { panic!("{packets:?}") };
        assert_eq!(rr.report_blocks().next().unwrap().cumulative_lost(), 3);
        assert!(matches!(packets[1], Packet::Sdes(_)));
    }
}
