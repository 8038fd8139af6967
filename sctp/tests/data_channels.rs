//! Data channels (RFC 8831, RFC 8832) between two peers on a virtual clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sctp::dcep::{priority, DataChannelOpen, DcepMessage};
use sctp::{
    Association, ChannelEvent, ChannelOptions, ChannelState, Config, DataChannels, DtlsRole, Error,
    PartialReliability, Ppid, SendOptions,
};

struct Peer {
    dc: DataChannels,
    events: Vec<ChannelEvent>,
    inbox: VecDeque<(Instant, Vec<u8>)>,
}

struct DcPair {
    now: Instant,
    a: Peer,
    b: Peer,
    loss: f64,
    rng: StdRng,
    steps: u32,
}

impl DcPair {
    /// Both sides connect at once, as browsers do; `a` is the DTLS client.
    fn new(seed: u64) -> Self {
        let now = Instant::now();
        let cfg = |s| Config { seed: Some(s), ..Config::default() };
        let a = Association::client(cfg(seed), now).unwrap();
        let b = Association::client(cfg(seed + 1), now).unwrap();
        let peer = |dc| Peer { dc, events: Vec::new(), inbox: VecDeque::new() };
        let mut pair = Self {
            now,
            a: peer(DataChannels::new(a, DtlsRole::Client, now)),
            b: peer(DataChannels::new(b, DtlsRole::Server, now)),
            loss: 0.0,
            rng: StdRng::seed_from_u64(seed),
            steps: 0,
        };
        pair.run_until(|p| {
            p.a.events.contains(&ChannelEvent::Connected)
                && p.b.events.contains(&ChannelEvent::Connected)
        });
        pair
    }

    fn step(&mut self) {
        self.steps += 1;
        assert!(self.steps < 200_000, "livelock");
        let now = self.now;
        let mut progress = false;
        for a_to_b in [true, false] {
            let (from, to) =
                if a_to_b { (&mut self.a, &mut self.b) } else { (&mut self.b, &mut self.a) };
            while let Some(e) = from.dc.poll_event() {
                from.events.push(e);
            }
            while let Some(p) = from.dc.poll_transmit(now) {
                progress = true;
                if !self.rng.gen_bool(self.loss) {
                    to.inbox.push_back((now + Duration::from_millis(10), p));
                }
            }
        }
        for peer in [&mut self.a, &mut self.b] {
            while peer.inbox.front().is_some_and(|(t, _)| *t <= now) {
                let (_, p) = peer.inbox.pop_front().unwrap();
                let _ = peer.dc.handle_receive(now, &p);
                progress = true;
            }
        }
        if progress {
            return;
        }
        let next = [
            self.a.inbox.front().map(|x| x.0),
            self.b.inbox.front().map(|x| x.0),
            self.a.dc.poll_timeout(),
            self.b.dc.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        // Nothing pending: the next step only drains events (the step bound catches a stall).
        let Some(next) = next else {
            return;
        };
        self.now = self.now.max(next);
        self.a.dc.handle_timeout(self.now);
        self.b.dc.handle_timeout(self.now);
    }

    fn run_until(&mut self, done: impl Fn(&Self) -> bool) {
        while !done(self) {
            self.step();
        }
    }
}

fn messages(events: &[ChannelEvent]) -> Vec<(u16, bool, Vec<u8>)> {
    events
        .iter()
        .filter_map(|e| match e {
            ChannelEvent::ChannelMessage { id, binary, data } => Some((*id, *binary, data.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn channels_open_in_both_directions_with_the_right_parity() {
    let mut p = DcPair::new(1);
    let now = p.now;
    let chat =
        ChannelOptions { label: "chat".into(), protocol: "json".into(), ..Default::default() };
    let a_id = p.a.dc.open_channel(now, chat).unwrap();
    assert_eq!(a_id, 0, "the DTLS client uses even ids");
    assert_eq!(p.a.dc.channel(0).unwrap().state, ChannelState::Opening);
    let lossy = ChannelOptions {
        label: "game".into(),
        ordered: false,
        reliability: PartialReliability::MaxRetransmits(3),
        priority: priority::HIGH,
        ..Default::default()
    };
    let b_id = p.b.dc.open_channel(now, lossy).unwrap();
    assert_eq!(b_id, 1, "the DTLS server uses odd ids");
    assert_eq!(p.b.dc.open_channel(now, ChannelOptions::default()).unwrap(), 3);
    p.run_until(|p| {
        p.a.events.contains(&ChannelEvent::ChannelAcked { id: 0 })
            && p.b.events.contains(&ChannelEvent::ChannelAcked { id: 1 })
    });
    assert!(p.b.events.contains(&ChannelEvent::ChannelOpen {
        id: 0,
        label: "chat".into(),
        protocol: "json".into(),
        ordered: true,
        reliability: PartialReliability::None,
        priority: priority::NORMAL,
    }));
    assert!(p.a.events.contains(&ChannelEvent::ChannelOpen {
        id: 1,
        label: "game".into(),
        protocol: String::new(),
        ordered: false,
        reliability: PartialReliability::MaxRetransmits(3),
        priority: priority::HIGH,
    }));
    assert_eq!(p.a.dc.channel(0).unwrap().state, ChannelState::Open);
    assert_eq!(p.a.dc.channel(1).unwrap().reliability, PartialReliability::MaxRetransmits(3));
    let mut ids: Vec<u16> = p.a.dc.channel_ids().collect();
    ids.sort_unstable();
    assert_eq!(ids, [0, 1, 3]);
}

#[test]
fn text_binary_and_empty_messages() {
    let mut p = DcPair::new(2);
    let now = p.now;
    let id = p.a.dc.open_channel(now, ChannelOptions::default()).unwrap();
    // Sent before the ACK: ordered behind the OPEN.
    p.a.dc.send_text(now, id, "hello").unwrap();
    p.a.dc.send_text(now, id, "").unwrap();
    p.a.dc.send_binary(now, id, &[]).unwrap();
    p.a.dc.send_binary(now, id, &[1, 2, 3]).unwrap();
    p.run_until(|p| messages(&p.b.events).len() == 4);
    assert_eq!(
        messages(&p.b.events),
        [
            (id, false, b"hello".to_vec()),
            (id, false, Vec::new()),
            (id, true, Vec::new()),
            (id, true, vec![1, 2, 3]),
        ]
    );
    // And back.
    p.b.dc.send_text(p.now, id, "world").unwrap();
    p.run_until(|p| !messages(&p.a.events).is_empty());
    assert_eq!(messages(&p.a.events), [(id, false, b"world".to_vec())]);
    assert_eq!(p.a.dc.send_text(p.now, 42, "x"), Err(Error::InvalidStream("no such channel")));
}

#[test]
fn empty_messages_use_the_empty_ppids_on_the_wire() {
    let mut p = DcPair::new(3);
    let now = p.now;
    p.a.dc.open_negotiated_channel(8, ChannelOptions::default()).unwrap();
    p.a.dc.send_text(now, 8, "").unwrap();
    let packet = p.a.dc.poll_transmit(now).unwrap();
    let parsed = sctp::packet::Packet::parse(&packet).unwrap();
    let data = parsed
        .chunks()
        .map(|c| c.unwrap())
        .find(|c| c.chunk_type == sctp::ChunkType::DATA)
        .map(|c| sctp::chunk::DataChunk::parse(&c).map(|d| (d.ppid, d.payload.to_vec())).unwrap())
        .unwrap();
    assert_eq!(data, (Ppid::STRING_EMPTY, vec![0]));
}

#[test]
fn negotiated_channels_need_no_dcep() {
    let mut p = DcPair::new(4);
    let opts = ChannelOptions { label: "neg".into(), ..Default::default() };
    p.a.dc.open_negotiated_channel(10, opts.clone()).unwrap();
    p.b.dc.open_negotiated_channel(10, opts).unwrap();
    assert_eq!(
        p.b.dc.open_negotiated_channel(10, ChannelOptions::default()),
        Err(Error::InvalidStream("stream id already used by a channel"))
    );
    assert!(p.a.dc.channel(10).unwrap().negotiated);
    let now = p.now;
    p.a.dc.send_binary(now, 10, b"one").unwrap();
    p.b.dc.send_binary(now, 10, b"two").unwrap();
    p.run_until(|p| !messages(&p.a.events).is_empty() && !messages(&p.b.events).is_empty());
    assert_eq!(messages(&p.b.events), [(10, true, b"one".to_vec())]);
    assert_eq!(messages(&p.a.events), [(10, true, b"two".to_vec())]);
    let opened = |e: &&ChannelEvent| matches!(e, ChannelEvent::ChannelOpen { .. });
    assert_eq!(
        p.a.events.iter().filter(opened).count() + p.b.events.iter().filter(opened).count(),
        0
    );
}

#[test]
fn close_resets_both_directions_and_loses_nothing() {
    let mut p = DcPair::new(5);
    p.loss = 0.1;
    let now = p.now;
    let id = p.a.dc.open_channel(now, ChannelOptions::default()).unwrap();
    for i in 0..100u32 {
        p.a.dc.send_binary(now, id, &i.to_be_bytes().repeat(300)).unwrap();
    }
    p.a.dc.close_channel(now, id).unwrap();
    assert_eq!(p.a.dc.channel(id).unwrap().state, ChannelState::Closing);
    assert_eq!(p.a.dc.send_text(now, id, "late"), Err(Error::InvalidStream("channel is closing")));
    p.run_until(|p| {
        p.a.events.contains(&ChannelEvent::ChannelClosed { id })
            && p.b.events.contains(&ChannelEvent::ChannelClosed { id })
    });
    let got = messages(&p.b.events);
    assert_eq!(got.len(), 100);
    for (i, (_, _, data)) in got.iter().enumerate() {
        assert_eq!(*data, (i as u32).to_be_bytes().repeat(300));
    }
    // Everything arrived before the close was reported.
    let closed_at =
        p.b.events.iter().position(|e| *e == ChannelEvent::ChannelClosed { id }).unwrap();
    let last_message =
        p.b.events.iter().rposition(|e| matches!(e, ChannelEvent::ChannelMessage { .. })).unwrap();
    assert!(last_message < closed_at);
    assert!(p.a.dc.channel(id).is_none() && p.b.dc.channel(id).is_none());
    // The id is free again and a new channel gets it.
    p.loss = 0.0;
    let again =
        p.a.dc.open_channel(p.now, ChannelOptions { label: "again".into(), ..Default::default() });
    assert_eq!(again, Ok(2), "ids advance; 0 is reused after wrapping");
    p.a.dc.send_text(p.now, 2, "fresh").unwrap();
    p.run_until(|p| messages(&p.b.events).len() == 101);
}

#[test]
fn peer_closing_a_channel_closes_ours() {
    let mut p = DcPair::new(6);
    let id = p.b.dc.open_channel(p.now, ChannelOptions::default()).unwrap();
    p.run_until(|p| p.b.events.contains(&ChannelEvent::ChannelAcked { id }));
    p.a.dc.close_channel(p.now, id).unwrap();
    p.run_until(|p| {
        p.a.events.contains(&ChannelEvent::ChannelClosed { id })
            && p.b.events.contains(&ChannelEvent::ChannelClosed { id })
    });
}

#[test]
fn deprecated_partial_ppids_are_reassembled() {
    let mut p = DcPair::new(7);
    p.a.dc.open_negotiated_channel(4, ChannelOptions::default()).unwrap();
    p.b.dc.open_negotiated_channel(4, ChannelOptions::default()).unwrap();
    let now = p.now;
    let ordered = SendOptions::default();
    let assoc = p.a.dc.association_mut();
    assoc.send(now, 4, Ppid::STRING_PARTIAL, b"hel", ordered).unwrap();
    assoc.send(now, 4, Ppid::STRING_PARTIAL, b"lo ", ordered).unwrap();
    assoc.send(now, 4, Ppid::STRING, b"world", ordered).unwrap();
    assoc.send(now, 4, Ppid::BINARY_PARTIAL, &[1], ordered).unwrap();
    assoc.send(now, 4, Ppid::BINARY, &[2], ordered).unwrap();
    assoc.send(now, 4, Ppid(99), b"unknown", ordered).unwrap();
    assoc.send(now, 4, Ppid::BINARY, &[3], ordered).unwrap();
    p.run_until(|p| messages(&p.b.events).len() == 3);
    assert_eq!(
        messages(&p.b.events),
        [(4, false, b"hello world".to_vec()), (4, true, vec![1, 2]), (4, true, vec![3])]
    );
}

#[test]
fn malformed_dcep_is_ignored() {
    let mut p = DcPair::new(8);
    let now = p.now;
    let assoc = p.a.dc.association_mut();
    assoc.send(now, 6, Ppid::DCEP, &[0x03, 0, 0], SendOptions::default()).unwrap();
    assoc.send(now, 6, Ppid::DCEP, &[0x77], SendOptions::default()).unwrap();
    let mut open = Vec::new();
    DataChannelOpen {
        channel_type: sctp::dcep::ChannelType::RELIABLE,
        priority: 0,
        reliability_parameter: 0,
        label: "ok",
        protocol: "",
    }
    .write_to(&mut open)
    .unwrap();
    assert!(matches!(DcepMessage::parse(&open), Ok(DcepMessage::Open(_))));
    assoc.send(now, 6, Ppid::DCEP, &open, SendOptions::default()).unwrap();
    p.run_until(|p| p.b.events.iter().any(|e| matches!(e, ChannelEvent::ChannelOpen { .. })));
    assert!(p.b.dc.channel(6).is_some());
}

#[test]
fn shutdown_closes_every_channel_first() {
    let mut p = DcPair::new(9);
    let id = p.a.dc.open_channel(p.now, ChannelOptions::default()).unwrap();
    p.a.dc.send_text(p.now, id, "bye").unwrap();
    p.a.dc.shutdown(p.now);
    p.run_until(|p| {
        p.a.events.contains(&ChannelEvent::Closed) && p.b.events.contains(&ChannelEvent::Closed)
    });
    assert_eq!(messages(&p.b.events), [(id, false, b"bye".to_vec())]);
    let closed = p.b.events.iter().position(|e| *e == ChannelEvent::ChannelClosed { id }).unwrap();
    assert_eq!(p.b.events[closed + 1], ChannelEvent::Closed);
}
