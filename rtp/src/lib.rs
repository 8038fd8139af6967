//! RTP packets on the forwarding hot path (RFC 3550), header extensions (RFC 8285),
//! retransmission packets (RFC 4588), sequence/timestamp unwrapping and codec payload inspection
//! (VP8, VP9, H.264, AV1).
//!
//! Everything works on buffers the caller owns: [`RtpPacket`] is a view validated once by
//! [`RtpPacket::new_checked`], after which getters cannot fail and setters rewrite fields in
//! place. Nothing here allocates per packet; the `Vec`-based editors ([`add_extension`],
//! [`remove_extension`], [`rtx::wrap_in_place`]) only grow the `Vec` when its capacity is short.
//! There is no I/O and no clock.
//!
//! A forwarding step for one subscriber: parse, rewrite the stream identity, rename the header
//! extension ids to the ones the subscriber negotiated, and look at the codec payload.
//!
//! ```
//! use rtp::codec::Codec;
//! use rtp::{RtpHeaderWriter, RtpPacket};
//!
//! // A VP8 key frame as a publisher might send it, with a mid (id 1) and a transport-wide
//! // sequence number (id 3) in one-byte header extensions.
//! let extensions: [(u8, &[u8]); 2] = [(1, b"0"), (3, &[0x00, 0x2a])];
//! let mut datagram = Vec::new();
//! RtpHeaderWriter {
//!     marker: true,
//!     payload_type: 96,
//!     sequence_number: 1000,
//!     timestamp: 90_000,
//!     ssrc: 0x1111_1111,
//!     extensions: &extensions,
//!     ..RtpHeaderWriter::default()
//! }
//! .append_packet(&[0x10, 0x00, 0x00, 0x00], &mut datagram)?;
//!
//! let mut packet = RtpPacket::new_checked(&mut datagram[..])?;
//! assert_eq!(packet.extension(3), Some(&[0x00, 0x2a][..]));
//! let info = Codec::Vp8.inspect(packet.payload())?;
//! assert!(info.keyframe());
//!
//! // The subscriber's view: its own SSRC, sequence space and payload type, and extmap ids
//! // 4 (mid) and 5 (transport-cc); anything else it did not negotiate becomes padding.
//! let mut ids = [0u8; 256];
//! ids[1] = 4;
//! ids[3] = 5;
//! packet.set_ssrc(0x2222_2222);
//! packet.set_sequence_number(7);
//! packet.set_timestamp(packet.timestamp().wrapping_add(3000));
//! packet.set_payload_type(100);
//! packet.remap_extension_ids(|id| Some(ids[usize::from(id)]))?;
//!
//! let packet = RtpPacket::new_checked(&datagram[..])?;
//! assert_eq!(packet.ssrc(), 0x2222_2222);
//! assert_eq!((packet.sequence_number(), packet.payload_type()), (7, 100));
//! assert_eq!(packet.extension(4), Some(&b"0"[..]));
//! assert_eq!(packet.extension(5), Some(&[0x00, 0x2a][..]));
//! assert!(packet.marker());
//! # Ok::<(), rtp::Error>(())
//! ```
#![forbid(unsafe_code)]

pub mod codec;
mod error;
pub mod extension;
mod extension_edit;
mod packet;
pub mod rtx;
mod sequence;
mod writer;

pub use error::Error;
pub use extension::{ExtensionForm, ExtensionIter};
pub use extension_edit::{add_extension, remove_extension};
pub use packet::{Csrcs, RtpPacket, EXTENSION_HEADER_LEN, FIXED_HEADER_LEN, RTP_VERSION};
pub use sequence::{
    seq_distance, seq_newer, timestamp_distance, timestamp_newer, SequenceUnwrapper,
    TimestampUnwrapper,
};
pub use writer::{write_padding, RtpHeaderWriter};
