//! RTCP for the media server: compound packets (RFC 3550), feedback messages (RFC 4585,
//! RFC 5104), reduced-size RTCP (RFC 5506), REMB (draft-alvestrand-rmcat-remb) and
//! transport-wide congestion control feedback
//! (draft-holmer-rmcat-transport-wide-cc-extensions-01).
//!
//! Sans-IO and allocation-free on the hot path:
//!
//! - Reading: [`CompoundIter`] walks a decrypted RTCP datagram and yields a [`Packet`] per
//!   RTCP packet. Each variant is a view borrowing the datagram; every length and count is
//!   checked when the packet is yielded, so the accessors and sub-iterators (report
//!   blocks, SDES items, NACK sequence numbers, TWCC statuses) cannot fail or panic.
//!   Unknown packet types, XR among them, come out as [`Packet::Unknown`] and are skipped,
//!   not refused. A malformed packet is reported once as an [`Error`] and ends the
//!   iteration.
//! - Writing: one `*Builder` per packet kind implements [`Encode`] (`encoded_len` then
//!   `write_to` a caller's buffer), and [`CompoundBuilder`] appends several into one
//!   reused `Vec<u8>`. [`pack_nack_pairs`] turns a loss list into NACK pairs and
//!   [`TwccBuilder`] turns packet arrivals into transport-wide feedback.
//! - Feedback machinery, sans-IO with `now: Instant` passed in: [`NackGenerator`] detects
//!   loss on a received stream and paces NACKs by round-trip time with bounded retries,
//!   [`PacketCache`] keeps recent packets (bounded, buffers reused) to answer NACKs,
//!   [`ReceptionStats`] computes report blocks (RFC 3550 §A.3, §A.8) and [`TwccRecorder`]
//!   records transport-wide arrivals for periodic feedback.
//!
//! ```
//! use rtcp::{
//!     pack_nack_pairs, CompoundBuilder, CompoundIter, NackBuilder, Packet, PliBuilder,
//!     ReceiverReportBuilder,
//! };
//!
//! # fn main() -> Result<(), rtcp::Error> {
//! // Build: a receiver report, a NACK for the lost packets, a keyframe request.
//! let mut lost = [1003u16, 1000, 1001, 1020, 1001];
//! let mut pairs = Vec::new();
//! pack_nack_pairs(&mut lost, &mut pairs);
//! let mut datagram = Vec::with_capacity(1500); // reused for every compound
//! CompoundBuilder::new(&mut datagram)
//!     .push(&ReceiverReportBuilder { ssrc: 1, report_blocks: &[] })?
//!     .push(&NackBuilder { sender_ssrc: 1, media_ssrc: 0x5eed, pairs: &pairs })?
//!     .push(&PliBuilder { sender_ssrc: 1, media_ssrc: 0x5eed })?;
//!
//! // Read it back, as the peer would after SRTCP decryption.
//! for packet in CompoundIter::new(&datagram) {
//!     match packet? {
//!         Packet::ReceiverReport(rr) => {
//!             for block in rr.report_blocks() {
//!                 println!("{} lost {}", block.ssrc(), block.cumulative_lost());
//!             }
//!         }
//!         Packet::Nack(nack) => {
//!             let lost: Vec<u16> = nack.lost_sequence_numbers().collect();
//!             assert_eq!(lost, [1000, 1001, 1003, 1020]);
//!         }
//!         Packet::Pli(pli) => assert_eq!(pli.media_ssrc(), 0x5eed),
//!         other => println!("skipping {:?}", other.packet_type()),
//!     }
//! }
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod app;
mod bye;
mod compound;
mod error;
mod fir;
mod header;
mod nack;
mod nack_generator;
mod packet_cache;
mod pli;
mod receiver_report;
mod reception;
mod remb;
mod report_block;
mod sdes;
mod sender_report;
mod seq;
mod twcc;
mod twcc_builder;
mod twcc_recorder;
mod util;

pub use app::{App, AppBuilder};
pub use bye::{Bye, ByeBuilder, Ssrcs};
pub use compound::{CompoundBuilder, CompoundIter, Encode, Packet};
pub use error::Error;
pub use fir::{Fir, FirBuilder, FirEntries, FirEntry};
pub use header::{
    is_rtcp, PacketType, RawPacket, RawPackets, HEADER_LEN, PSFB_AFB, PSFB_FIR, PSFB_PLI,
    RTPFB_NACK, RTPFB_TRANSPORT_CC,
};
pub use nack::{
    pack_nack_pairs, Nack, NackBuilder, NackLost, NackPair, NackPairSequenceNumbers, NackPairs,
};
pub use nack_generator::{Arrival, NackConfig, NackGenerator, NackGeneratorStats};
pub use packet_cache::PacketCache;
pub use pli::{Pli, PliBuilder};
pub use receiver_report::{ReceiverReport, ReceiverReportBuilder};
pub use reception::{to_compact, to_ntp_interval, ReceptionStats};
pub use remb::{Remb, RembBuilder, REMB_IDENTIFIER};
pub use report_block::{ReceptionReport, ReportBlock, ReportBlocks, REPORT_BLOCK_LEN};
pub use sdes::{
    Sdes, SdesBuilder, SdesChunk, SdesChunkBuilder, SdesChunks, SdesItem, SdesItemType, SdesItems,
};
pub use sender_report::{SenderReport, SenderReportBuilder};
pub use twcc::{
    PacketChunk, PacketChunks, StatusSymbol, TransportCc, TwccPacketStatus, TwccStatus,
    TwccStatuses, DELTA_TICK_US, REFERENCE_TIME_UNIT_US,
};
pub use twcc_builder::{TwccBuilder, DEFAULT_MAX_FEEDBACK_LEN, MAX_FEEDBACK_LEN, MIN_FEEDBACK_LEN};
pub use twcc_recorder::{TwccRecorder, DEFAULT_MAX_PENDING};
