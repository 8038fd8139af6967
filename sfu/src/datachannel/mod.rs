//! Data channels through the SFU: one session publishes a channel, any number of sessions
//! subscribe to it, as in Cloudflare's API (`datachannels/establish`, `datachannels/new`,
//! `datachannels/close`).
//!
//! # Pieces
//!
//! - Each [`Session`](crate::session::Session) carries an SCTP association with data
//!   channels over its DTLS connection (`session/channels.rs`). Channels set up through the
//!   API are *negotiated*: the API hands out a stream id and the client creates its channel
//!   with `createDataChannel(name, {negotiated: true, id})`. In-band channels a client opens
//!   itself (DCEP, RFC 8832) are acknowledged and otherwise ignored.
//! - [`ChannelRegistry`] (inside the [`Directory`](crate::directory::Directory)) knows
//!   which session publishes which channel on which stream id, and who subscribes on which
//!   of its own. Stream ids are handed out per session, of the SFU's DCEP parity (odd while
//!   the SFU is the DTLS server), below 1023, so they never collide with a channel the
//!   browser opens in-band.
//! - Each worker has a [`ChannelRouter`]. It reads the registry's routes for the sessions it
//!   owns whenever the registry or the directory changes, opens and closes the sessions'
//!   negotiated channels to match, and forwards messages.
//!
//! # A message's way
//!
//! The publisher's session reports the message (`SessionEvent::DataChannel`). The router of
//! its worker finds the publication by (session, stream id), and queues the message on every
//! subscriber channel owned by the same worker, with its type (binary or text: the PPID is
//! kept) and, since one association carries each subscriber's channel with the publisher's
//! ordering and reliability settings, in the publisher's order for ordered channels. Each
//! other worker with subscribers gets one copy through its command queue
//! (`Command::ChannelMessage`, the payload shared, not copied), and queues it on its own
//! subscribers. A full worker queue drops the copy and counts it
//! (`channel_dropped_queue_full`).
//!
//! Each published message is one shared allocation (`Arc<[u8]>`) for every subscriber and
//! worker; each subscriber's association copies it into its own send queue, as `sctp` does
//! for every message it sends.
//!
//! # Slow subscribers
//!
//! A subscriber's association accepts messages until its send buffer (1 MiB of queued and
//! unacknowledged bytes) is full. Beyond that, messages wait in the router, per subscriber
//! channel, up to [`SUBSCRIBER_QUEUE_BYTES`] (1 MiB) and [`SUBSCRIBER_QUEUE_MESSAGES`]
//! (4096 messages); they are sent, oldest first, when the association reports room again.
//!
//! **When that queue is full, its oldest messages are dropped** to make room for the new
//! one, and counted: `channel_messages_dropped_slow_subscriber` in `GET /stats`, and
//! `channel_messages_dropped` in the subscriber session's stats. The publisher and the other
//! subscribers are never held back by one slow subscriber: there is no back-pressure from a
//! subscriber to the publisher. Dropping the oldest (rather than the newest, or closing the
//! channel) keeps what a late subscriber sees as fresh as possible, which suits the state
//! updates data channels usually carry; a subscriber that must not miss anything has to read
//! at least as fast as the publisher writes, on average over 2 MiB.
//!
//! A message larger than a subscriber's `max-message-size` is dropped for that subscriber
//! and counted (`channel_messages_dropped_undeliverable`).
//!
//! # The echo channel
//!
//! Every session answers on its own a channel negotiated on stream
//! [`ECHO_CHANNEL_ID`](crate::session::ECHO_CHANNEL_ID) (1023): each message comes back
//! on the same channel, text as text, binary as binary. It needs no API call; it is how a
//! client checks its data channel path to the SFU.
//!
//! # Closing
//!
//! `datachannels/close` on a subscription closes that channel; on a publication it closes
//! every subscriber's channel too. A channel closes by a stream reset sent after everything
//! queued on it (RFC 8831 §6.7): before the reset, what waits for the channel in the router
//! is handed to its association, so messages the SFU accepted before the close are still
//! delivered (unless the subscriber was so far behind that they do not fit any more: those
//! are counted in `channel_messages_dropped_undeliverable`). A client that closes its
//! channel ends the publication or subscription the same way; a publisher's close reaches
//! the SFU after every message it sent before it, so its subscribers get those first.
//!
//! # Speed
//!
//! A session writes at most 8 SCTP packets per input or timer (`session/channels.rs`), so
//! a large congestion window reaches the browser in ack-clocked bursts rather than all at
//! once: a browser's UDP receive buffer holds a few hundred kilobytes, and overflowing it
//! cost retransmissions and halved windows (per subscriber 3 to 5 MB/s before, 10 to 11
//! MB/s after, Chromium to Chromium through the release build).
//!
//! `tests/browser/specs/datachannels.spec.js` prints browser → sfu → browser rates with two
//! subscribers, next to the same transfer between two PeerConnections of one page without
//! the SFU. On the 2-core development machine, shared with the three browsers of the test,
//! the browsers themselves are the limit: 7 to 24 MB/s for the direct reference, 5 to 11 MB/s
//! per subscriber through the SFU from Chromium, 3 to 6 MB/s into Firefox subscribers
//! (slower than the publisher: their oldest messages are dropped, as above). The SCTP
//! machines alone move 1.4 to 2 GiB/s in memory and 100 to 165 MB/s over DTLS and loopback
//! UDP on one core (`sctp/docs/design.md`).
//!
//! # What the client must do
//!
//! A subscriber creates its negotiated channel (with the `id` from `datachannels/new`)
//! before the publisher's messages can reach it: a browser drops a message that arrives
//! on a stream it has no channel for.

mod registry;
mod router;

pub use registry::{
    ChannelError, ChannelRegistry, ChannelRoutes, ChannelSpec, PublicationId, PublicationRoute,
    SessionChannel, SessionRoute, MAX_CHANNELS_PER_SESSION,
};
pub use router::{
    ChannelMessage, ChannelRouter, ForwardedMessage, SUBSCRIBER_QUEUE_BYTES,
    SUBSCRIBER_QUEUE_MESSAGES,
};
