//! Data channels of one session against the in-memory test client, on a virtual clock, over
//! a clean and a seeded lossy network (20% loss, duplicates, reordering): the association
//! starts when the client's INIT arrives, a negotiated channel carries messages both ways
//! in order with their type, the echo channel answers, and the SCTP timers are part of the
//! session's `poll_timeout`.

mod session_support;

use std::time::Duration;

use session_support::{Netem, Options, Pair};
use sfu::session::{ChannelSendError, SessionEvent, ECHO_CHANNEL_ID};

const CHANNEL: u16 = 3;

fn messages() -> Vec<(bool, Vec<u8>)> {
    (0..40u32)
        .map(|i| {
            let size = [1usize, 1024, 5000, 65_536][i as usize % 4];
            (i % 2 == 1, (0..size).map(|b| (b as u32 * 31 + i) as u8).collect())
        })
        .collect()
}

/// Messages the session reported on `CHANNEL`, from `session_events`.
fn session_messages(pair: &Pair) -> Vec<(bool, Vec<u8>)> {
    pair.session_events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::DataChannel(sctp::ChannelEvent::ChannelMessage { id, binary, data })
                if *id == CHANNEL =>
            {
                Some((*binary, data.clone()))
            }
            _ => None,
        })
        .collect()
}

fn run(netem: Option<Netem>) {
    let mut pair = Pair::new(Options { netem, ..Options::default() });
    pair.session.open_negotiated_channel(CHANNEL, sctp::ChannelOptions::default());
    pair.client.open_negotiated_channel(CHANNEL, sctp::ChannelOptions::default());
    pair.client.open_negotiated_channel(ECHO_CHANNEL_ID, sctp::ChannelOptions::default());
    // Nothing can be sent before the association exists.
    assert_eq!(
        pair.session.send_channel_message(pair.now, CHANNEL, b"early", false),
        Err(ChannelSendError::NotReady)
    );
    pair.connect();
    // INIT and INIT-ACK lost in a row cost a doubling T1 each (RFC 9260 §5.1): allow for it.
    let deadline = pair.now + Duration::from_secs(300);
    while !(pair.client.channels_established() && pair.session.data_channels_established()) {
        assert!(pair.step(), "nothing left to happen: {}", pair.describe());
        if pair.now > deadline {
            let mut events = Vec::new();
            while let Some(e) = pair.client.poll_channel_event() {
                events.push(e);
            }
            let dtls_to_client =
                pair.delivered_to_client.iter().filter(|d| (20..=63).contains(&d[0])).count();
            let dtls_to_session =
                pair.delivered_to_session.iter().filter(|d| (20..=63).contains(&d[0])).count();
            panic!("SCTP not up: client events {events:?}, client {:?}, dtls to client {dtls_to_client}, to session {dtls_to_session}, next timeouts {:?} {:?}", pair.client.stats(), pair.client.poll_timeout().map(|t| t - pair.now), pair.session.poll_timeout().map(|t| t - pair.now));
        }
    }
    assert!(pair.session.poll_timeout().is_some(), "the association's timers count");

    // Client to session.
    let sent = messages();
    for (binary, data) in &sent {
        pair.client.send_channel_message(pair.now, CHANNEL, data, *binary).unwrap();
    }
    pair.run_until(Duration::from_secs(120), |p| session_messages(p).len() == sent.len());
    assert!(session_messages(&pair) == sent, "the session got the messages in order");
    let stats = pair.stats();
    assert_eq!(stats.channel_messages_received, sent.len() as u64);
    assert!(stats.sctp_packets_received > 0);

    // Session to client, and the echo channel, together.
    for (binary, data) in &sent {
        pair.session.send_channel_message(pair.now, CHANNEL, data, *binary).unwrap();
    }
    pair.client.send_channel_message(pair.now, ECHO_CHANNEL_ID, b"ping", false).unwrap();
    pair.client.send_channel_message(pair.now, ECHO_CHANNEL_ID, &[9, 8, 7], true).unwrap();
    let (mut back, mut echoed) = (Vec::new(), Vec::new());
    let deadline = pair.now + Duration::from_secs(120);
    while back.len() < sent.len() || echoed.len() < 2 {
        assert!(pair.step(), "nothing left to happen: {}", pair.describe());
        assert!(
            pair.now <= deadline,
            "{} back, {} echoed: {}",
            back.len(),
            echoed.len(),
            pair.describe()
        );
        while let Some(event) = pair.client.poll_channel_event() {
            if let sctp::ChannelEvent::ChannelMessage { id, binary, data } = event {
                match id {
                    CHANNEL => back.push((binary, data)),
                    ECHO_CHANNEL_ID => echoed.push((binary, data)),
                    other => panic!("message on channel {other}"),
                }
            }
        }
    }
    assert!(back == sent, "the client got the messages in order");
    assert_eq!(echoed, [(false, b"ping".to_vec()), (true, vec![9, 8, 7])]);
    assert!(
        !session_messages(&pair).iter().any(|(_, d)| d == b"ping"),
        "echo messages are answered by the session, not reported"
    );
}

#[test]
fn channels_work_on_a_clean_network() {
    run(None);
}

#[test]
fn channels_work_on_a_lossy_network() {
    for seed in 1..=6 {
        run(Some(Netem::lossy(seed)));
    }
}
