//! Data channels through the SFU, end to end over loopback UDP against an in-process server:
//! in-memory clients (ICE, DTLS and SCTP from the project's crates) publish a channel and
//! subscribe to it with the three ways a session gets its data channel transport (the older
//! `sessions/new` with an offer holding `m=application`, `datachannels/establish` with the
//! client's offer, and `datachannels/establish` answered through `renegotiate`). Messages
//! of every size up to the max-message-size, text and binary, reach every subscriber intact
//! and in order; the echo channel answers; closing ends what it should; with two workers a
//! subscriber owned by another worker gets its messages through the command queues.

mod api_common;

use std::time::{Duration, Instant};

use api_common::{
    browser_answer, description_credentials, personalize, start, Browser, TestServer, CHROME_DATA,
    DEADLINE,
};
use rand::SeedableRng;
use serde_json::{json, Value};
use sfu::directory::SessionId;
use sfu::session::ECHO_CHANNEL_ID;

/// The SFU's `a=max-message-size`.
const MAX_MESSAGE: usize = 262_144;

fn dtls_context() -> dtls::DtlsContext {
    dtls::DtlsContext::new(dtls::DtlsConfig::new(dtls::Certificate::generate().unwrap())).unwrap()
}

/// The older pattern: `sessions/new` with an offer that holds the data channel section.
async fn with_offer_at_creation(server: &TestServer, seed: u64) -> Browser {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let ours = dtls_context();
    let browser = ice::Credentials::generate(&mut rng);
    let offer = personalize(CHROME_DATA, &browser, ours.config().certificate.fingerprint());
    let (id, answer) = server.new_session(&offer).await;
    assert!(answer.contains(" UDP/DTLS/SCTP webrtc-datachannel\r\n"), "{answer}");
    assert!(answer.contains("a=sctp-port:5000") && answer.contains("a=max-message-size:262144"));
    let sfu = description_credentials(&answer);
    let target = server.running.udp_addrs[0];
    Browser::with_session(server, target, id, sfu, browser, ours, &mut rng).await
}

/// An empty session, then `datachannels/establish` with the client's offer.
async fn establish_with_offer(server: &TestServer, seed: u64) -> Browser {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let ours = dtls_context();
    let browser = ice::Credentials::generate(&mut rng);
    let offer = personalize(CHROME_DATA, &browser, ours.config().certificate.fingerprint());
    let id = server.new_empty_session().await;
    let reply = server
        .post_json(
            &format!("sessions/{id}/datachannels/establish"),
            &json!({"sessionDescription": {"type": "offer", "sdp": offer}}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["requiresImmediateRenegotiation"], false, "{body}");
    assert_eq!(body["sessionDescription"]["type"], "answer");
    let answer = body["sessionDescription"]["sdp"].as_str().unwrap();
    assert!(answer.contains("a=sctp-port:5000"), "{answer}");
    let sfu = description_credentials(answer);
    let target = server.running.udp_addrs[0];
    Browser::with_session(server, target, id, sfu, browser, ours, &mut rng).await
}

/// An empty session, then `datachannels/establish` without an offer: the SFU offers, the
/// client answers through `renegotiate`.
async fn establish_by_sfu_offer(server: &TestServer, seed: u64) -> Browser {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let ours = dtls_context();
    let browser = ice::Credentials::generate(&mut rng);
    let id = server.new_empty_session().await;
    let reply =
        server.post_json(&format!("sessions/{id}/datachannels/establish"), &json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["requiresImmediateRenegotiation"], true, "{body}");
    let offer = body["sessionDescription"]["sdp"].as_str().unwrap().to_owned();
    assert!(offer.contains(" UDP/DTLS/SCTP webrtc-datachannel\r\n"), "{offer}");
    assert!(offer.contains("a=max-message-size:262144"), "{offer}");
    let answer = browser_answer(&offer, &browser, ours.config().certificate.fingerprint());
    let reply = server
        .put_json(
            &format!("sessions/{id}/renegotiate"),
            &json!({"sessionDescription": {"type": "answer", "sdp": answer}}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // Established now: a second call has nothing to negotiate.
    let again =
        server.post_json(&format!("sessions/{id}/datachannels/establish"), &json!({})).await;
    assert_eq!(again.json()["requiresImmediateRenegotiation"], false, "{}", again.text());
    let sfu = description_credentials(&offer);
    let target = server.running.udp_addrs[0];
    Browser::with_session(server, target, id, sfu, browser, ours, &mut rng).await
}

/// `datachannels/new` with one entry; returns the result object.
async fn channel_new(server: &TestServer, id: &str, entry: Value) -> Value {
    let reply = server
        .post_json(&format!("sessions/{id}/datachannels/new"), &json!({"dataChannels": [entry]}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["dataChannels"][0].clone()
}

/// Moves every datagram waiting at every browser, fires timers; sleeps a little when idle.
async fn pump(browsers: &mut [&mut Browser]) {
    let mut buf = vec![0u8; 2048];
    let mut idle = true;
    for b in browsers.iter_mut() {
        b.flush().await;
        while let Ok((len, from)) = b.socket.try_recv_from(&mut buf) {
            idle = false;
            b.client.handle_receive(Instant::now(), b.local, from, &buf[..len]);
            b.flush().await;
        }
        b.client.handle_timeout(Instant::now());
        b.flush().await;
    }
    if idle {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Pumps until every browser's association is up.
async fn connect_all(browsers: &mut [&mut Browser]) {
    let end = Instant::now() + DEADLINE;
    while !browsers.iter().all(|b| b.client.channels_established()) {
        pump(browsers).await;
        assert!(Instant::now() < end, "SCTP did not come up");
    }
}

/// The messages received so far on channel `id` of `browser`, `(binary, data)`.
fn take_messages(browser: &mut Browser, id: u16, into: &mut Vec<(bool, Vec<u8>)>) {
    while let Some(event) = browser.client.poll_channel_event() {
        if let sctp::ChannelEvent::ChannelMessage { id: got, binary, data } = event {
            if got == id {
                into.push((binary, data));
            }
        }
    }
}

/// Every size the issue names, text and binary, each with content that shows its place.
fn messages() -> Vec<(bool, Vec<u8>)> {
    let mut out = Vec::new();
    for (n, size) in [1usize, 1024, 65_536, MAX_MESSAGE].into_iter().enumerate() {
        for binary in [false, true] {
            let data: Vec<u8> = (0..size)
                .map(|i| if binary { (i * 7 + n) as u8 } else { b'a' + ((i + n) % 26) as u8 })
                .collect();
            out.push((binary, data));
        }
    }
    out
}

#[tokio::test]
async fn a_published_channel_reaches_every_subscriber_intact_and_in_order() {
    let server = start(1).await;
    let mut publisher = with_offer_at_creation(&server, 1).await;
    let mut first = establish_with_offer(&server, 2).await;
    let mut second = establish_by_sfu_offer(&server, 3).await;

    let published = channel_new(
        &server,
        &publisher.id,
        json!({"location": "local", "dataChannelName": "game"}),
    )
    .await;
    assert!(published.get("errorCode").is_none(), "{published}");
    assert_eq!(published["sessionId"], publisher.id.as_str());
    let pub_id = published["id"].as_u64().unwrap() as u16;
    assert_eq!(pub_id % 2, 1, "the SFU (DTLS server) hands out odd ids");
    let entry = json!({"location": "remote", "sessionId": publisher.id, "dataChannelName": "game"});
    let sub1 = channel_new(&server, &first.id, entry.clone()).await["id"].as_u64().unwrap() as u16;
    let sub2 = channel_new(&server, &second.id, entry).await["id"].as_u64().unwrap() as u16;
    // Per-item errors: a second publication of the name, an unknown channel.
    let again = channel_new(
        &server,
        &publisher.id,
        json!({"location": "local", "dataChannelName": "game"}),
    )
    .await;
    assert_eq!(again["errorCode"], "repeated_local_datachannel_error", "{again}");
    let missing = channel_new(
        &server,
        &first.id,
        json!({"location": "remote", "sessionId": publisher.id, "dataChannelName": "nope"}),
    )
    .await;
    assert_eq!(missing["errorCode"], "not_found_datachannel_error", "{missing}");

    publisher.client.open_negotiated_channel(pub_id, sctp::ChannelOptions::default());
    publisher.client.open_negotiated_channel(ECHO_CHANNEL_ID, sctp::ChannelOptions::default());
    first.client.open_negotiated_channel(sub1, sctp::ChannelOptions::default());
    second.client.open_negotiated_channel(sub2, sctp::ChannelOptions::default());
    connect_all(&mut [&mut publisher, &mut first, &mut second]).await;

    let info = server.get(&format!("sessions/{}", first.id)).await.json();
    assert_eq!(info["dataChannels"][0]["id"], sub1, "{info:#}");
    assert_eq!(info["dataChannels"][0]["location"], "remote");
    assert_eq!(info["dataChannels"][0]["sessionId"], publisher.id.as_str());

    let sent = messages();
    let end = Instant::now() + DEADLINE * 3;
    let mut queue = sent.clone();
    queue.reverse();
    let (mut got1, mut got2) = (Vec::new(), Vec::new());
    while got1.len() < sent.len() || got2.len() < sent.len() {
        // As a browser does: queue while the buffered amount is low.
        while publisher.client.channels_buffered() < 512 * 1024 {
            let Some((binary, data)) = queue.pop() else { break };
            publisher.client.send_channel_message(Instant::now(), pub_id, &data, binary).unwrap();
        }
        pump(&mut [&mut publisher, &mut first, &mut second]).await;
        take_messages(&mut first, sub1, &mut got1);
        take_messages(&mut second, sub2, &mut got2);
        assert!(
            Instant::now() < end,
            "got {} and {} of {} messages; stats {:#}",
            got1.len(),
            got2.len(),
            sent.len(),
            server.stats().await
        );
    }
    assert!(
        got1 == sent,
        "first subscriber: sizes {:?}",
        got1.iter().map(|m| m.1.len()).collect::<Vec<_>>()
    );
    assert!(
        got2 == sent,
        "second subscriber: sizes {:?}",
        got2.iter().map(|m| m.1.len()).collect::<Vec<_>>()
    );

    // The echo channel: text stays text, binary stays binary.
    for (binary, data) in
        [(false, b"ping".to_vec()), (true, vec![0, 1, 2, 255]), (true, vec![7; 65_536])]
    {
        publisher
            .client
            .send_channel_message(Instant::now(), ECHO_CHANNEL_ID, &data, binary)
            .unwrap();
        let mut echoed = Vec::new();
        let end = Instant::now() + DEADLINE;
        while echoed.is_empty() {
            pump(&mut [&mut publisher]).await;
            take_messages(&mut publisher, ECHO_CHANNEL_ID, &mut echoed);
            assert!(Instant::now() < end, "no echo");
        }
        assert_eq!(echoed, [(binary, data)]);
    }

    let stats = server.stats().await;
    assert_eq!(stats["channel_messages_published"], sent.len(), "{stats:#}");
    assert_eq!(stats["channel_messages_forwarded"], 2 * sent.len(), "{stats:#}");
    assert_eq!(stats["channel_messages_dropped_slow_subscriber"], 0);
    let session = server.get(&format!("sessions/{}", second.id)).await.json();
    assert_eq!(session["stats"]["channel_messages_sent"], sent.len(), "{session:#}");

    // The first subscriber closes its subscription: the SFU resets its channel and stops
    // sending to it; the second still gets everything.
    let reply = server
        .put_json(
            &format!("sessions/{}/datachannels/close", first.id),
            &json!({"dataChannels": [{"id": sub1}, {"id": 999}]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert!(body["dataChannels"][0].get("errorCode").is_none(), "{body}");
    assert_eq!(body["dataChannels"][1]["errorCode"], "not_found_datachannel_error");
    let end = Instant::now() + DEADLINE;
    let mut closed = false;
    while !closed {
        pump(&mut [&mut publisher, &mut first, &mut second]).await;
        while let Some(event) = first.client.poll_channel_event() {
            closed |= event == sctp::ChannelEvent::ChannelClosed { id: sub1 };
        }
        assert!(Instant::now() < end, "the closed subscription's channel was not reset");
    }
    publisher.client.send_channel_message(Instant::now(), pub_id, b"after", false).unwrap();
    let mut last = Vec::new();
    let end = Instant::now() + DEADLINE;
    while last.is_empty() {
        pump(&mut [&mut publisher, &mut first, &mut second]).await;
        take_messages(&mut second, sub2, &mut last);
        assert!(Instant::now() < end, "the remaining subscriber got nothing");
    }
    assert_eq!(last, [(false, b"after".to_vec())]);
    let info = server.get(&format!("sessions/{}", first.id)).await.json();
    assert_eq!(info["dataChannels"], json!([]), "{info:#}");

    // Closing the publication closes the remaining subscriber's channel too.
    let reply = server
        .put_json(
            &format!("sessions/{}/datachannels/close", publisher.id),
            &json!({"dataChannels": [{"id": pub_id}]}),
        )
        .await;
    assert!(reply.json()["dataChannels"][0].get("errorCode").is_none(), "{}", reply.text());
    let end = Instant::now() + DEADLINE;
    let mut closed = false;
    while !closed {
        pump(&mut [&mut publisher, &mut first, &mut second]).await;
        while let Some(event) = second.client.poll_channel_event() {
            closed |= event == sctp::ChannelEvent::ChannelClosed { id: sub2 };
        }
        assert!(
            Instant::now() < end,
            "the subscriber's channel was not closed with the publication"
        );
    }
}

#[tokio::test]
async fn a_subscriber_on_another_worker_gets_the_messages_through_the_queue() {
    let server = start(2).await;
    let directory = server.running.directory().clone();
    let owner = |id: &str| directory.owner(id.parse::<SessionId>().unwrap()).flatten();
    let mut publisher = with_offer_at_creation(&server, 10).await;
    let pub_id = channel_new(
        &server,
        &publisher.id,
        json!({"location": "local", "dataChannelName": "feed", "ordered": true}),
    )
    .await["id"]
        .as_u64()
        .unwrap() as u16;
    publisher.client.open_negotiated_channel(pub_id, sctp::ChannelOptions::default());
    connect_all(&mut [&mut publisher]).await;
    let publisher_worker = owner(&publisher.id).expect("claimed");

    // The kernel spreads 5-tuples over the workers by hash: add subscribers until one lands
    // on the other worker.
    let mut subscribers: Vec<(Browser, u16)> = Vec::new();
    for seed in 20..44 {
        let mut subscriber = with_offer_at_creation(&server, seed).await;
        let entry =
            json!({"location": "remote", "sessionId": publisher.id, "dataChannelName": "feed"});
        let id = channel_new(&server, &subscriber.id, entry).await["id"].as_u64().unwrap() as u16;
        subscriber.client.open_negotiated_channel(id, sctp::ChannelOptions::default());
        connect_all(&mut [&mut publisher, &mut subscriber]).await;
        let remote = owner(&subscriber.id) != Some(publisher_worker);
        subscribers.push((subscriber, id));
        if remote {
            break;
        }
    }
    let (mut remote, remote_id) = subscribers.pop().unwrap();
    assert_ne!(owner(&remote.id), Some(publisher_worker), "24 subscribers on one worker");

    let sent: Vec<Vec<u8>> =
        (0..200u32).map(|i| i.to_be_bytes().repeat(1 + (i as usize % 300))).collect();
    for data in &sent {
        publisher.client.send_channel_message(Instant::now(), pub_id, data, true).unwrap();
    }
    let mut got = Vec::new();
    let end = Instant::now() + DEADLINE;
    while got.len() < sent.len() {
        pump(&mut [&mut publisher, &mut remote]).await;
        take_messages(&mut remote, remote_id, &mut got);
        assert!(
            Instant::now() < end,
            "got {} of {}: {:#}",
            got.len(),
            sent.len(),
            server.stats().await
        );
    }
    let positions: Vec<Option<usize>> =
        got.iter().map(|(_, d)| sent.iter().position(|s| s == d)).collect();
    assert!(got.iter().all(|(binary, _)| *binary));
    assert!(positions.iter().enumerate().all(|(i, p)| *p == Some(i)), "{positions:?}");
    let stats = server.stats().await;
    assert!(stats["channel_forwarded_out"].as_u64() >= Some(200), "{stats:#}");
    assert!(stats["channel_forwarded_in"].as_u64() >= Some(200), "{stats:#}");
    assert_eq!(stats["channel_dropped_queue_full"], 0);
}

#[tokio::test]
async fn a_subscriber_that_does_not_read_loses_its_oldest_messages_and_stalls_nobody() {
    let server = start(1).await;
    let mut publisher = with_offer_at_creation(&server, 50).await;
    let mut reader = with_offer_at_creation(&server, 51).await;
    let mut sleeper = with_offer_at_creation(&server, 52).await;
    let pub_id = channel_new(
        &server,
        &publisher.id,
        json!({"location": "local", "dataChannelName": "firehose"}),
    )
    .await["id"]
        .as_u64()
        .unwrap() as u16;
    let entry =
        json!({"location": "remote", "sessionId": publisher.id, "dataChannelName": "firehose"});
    let read_id =
        channel_new(&server, &reader.id, entry.clone()).await["id"].as_u64().unwrap() as u16;
    let sleep_id = channel_new(&server, &sleeper.id, entry).await["id"].as_u64().unwrap() as u16;
    publisher.client.open_negotiated_channel(pub_id, sctp::ChannelOptions::default());
    reader.client.open_negotiated_channel(read_id, sctp::ChannelOptions::default());
    sleeper.client.open_negotiated_channel(sleep_id, sctp::ChannelOptions::default());
    connect_all(&mut [&mut publisher, &mut reader, &mut sleeper]).await;

    // 4 MiB in 16 KiB messages; the sleeper stops reading its socket, so its association
    // stops acknowledging and the SFU's queue for it overflows.
    let sent: Vec<Vec<u8>> = (0..256u32).map(|i| i.to_be_bytes().repeat(4096)).collect();
    let mut queue = sent.clone();
    queue.reverse();
    let mut got = Vec::new();
    let end = Instant::now() + DEADLINE * 3;
    while got.len() < sent.len() {
        // The reader keeps up: never more than 16 messages (256 KiB) behind, well within
        // its association's send buffer, whatever losses on loopback cost it.
        while sent.len() - queue.len() < got.len() + 16 {
            let Some(data) = queue.pop() else { break };
            publisher.client.send_channel_message(Instant::now(), pub_id, &data, true).unwrap();
        }
        pump(&mut [&mut publisher, &mut reader]).await;
        take_messages(&mut reader, read_id, &mut got);
        assert!(
            Instant::now() < end,
            "the reader got {} of {}: {:#}",
            got.len(),
            sent.len(),
            server.stats().await
        );
    }
    assert!(got.iter().map(|(_, d)| d).eq(sent.iter()), "the reader got everything in order");
    let stats = server.stats().await;
    let dropped = stats["channel_messages_dropped_slow_subscriber"].as_u64().unwrap();
    assert!(dropped > 0, "{stats:#}");
    let session = server.get(&format!("sessions/{}", sleeper.id)).await.json();
    assert_eq!(session["stats"]["channel_messages_dropped"], dropped, "{session:#}");

    // The sleeper wakes up: what it gets is the newest messages, in order, and no more than
    // its queue and association held.
    // (Its association backed off while it slept: the next retransmission may take a while.)
    let mut late = Vec::new();
    let end = Instant::now() + DEADLINE * 3;
    while late.len() as u64 + dropped < sent.len() as u64 {
        pump(&mut [&mut publisher, &mut sleeper]).await;
        take_messages(&mut sleeper, sleep_id, &mut late);
        assert!(
            Instant::now() < end,
            "the sleeper got {} after waking, {dropped} dropped",
            late.len()
        );
    }
    assert_eq!(
        late.len() as u64 + dropped,
        sent.len() as u64,
        "every message delivered or counted"
    );
    let stats = server.stats().await;
    assert_eq!(stats["channel_messages_dropped_slow_subscriber"], dropped, "nothing else dropped");
    let last = late.last().unwrap();
    assert_eq!(last.1, *sent.last().unwrap(), "the newest message arrives");
    let positions: Vec<usize> =
        late.iter().map(|(_, d)| sent.iter().position(|s| s == d).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "in order: {positions:?}");
}

#[tokio::test]
async fn a_publisher_that_closes_right_after_sending_loses_nothing() {
    let server = start(1).await;
    let mut publisher = with_offer_at_creation(&server, 60).await;
    let mut subscriber = establish_by_sfu_offer(&server, 61).await;
    let pub_id = channel_new(
        &server,
        &publisher.id,
        json!({"location": "local", "dataChannelName": "last-words"}),
    )
    .await["id"]
        .as_u64()
        .unwrap() as u16;
    let entry =
        json!({"location": "remote", "sessionId": publisher.id, "dataChannelName": "last-words"});
    let sub_id = channel_new(&server, &subscriber.id, entry).await["id"].as_u64().unwrap() as u16;
    publisher.client.open_negotiated_channel(pub_id, sctp::ChannelOptions::default());
    subscriber.client.open_negotiated_channel(sub_id, sctp::ChannelOptions::default());
    connect_all(&mut [&mut publisher, &mut subscriber]).await;

    // 960 KiB queued at once (the client's send buffer holds 1 MiB), then the close: the
    // stream reset follows the messages.
    let sent: Vec<Vec<u8>> = (0..60u32).map(|i| i.to_be_bytes().repeat(4096)).collect();
    for data in &sent {
        publisher.client.send_channel_message(Instant::now(), pub_id, data, true).unwrap();
    }
    publisher.client.close_channel(Instant::now(), pub_id).unwrap();
    let (mut got, mut closed) = (Vec::new(), false);
    let end = Instant::now() + DEADLINE * 3;
    while !closed {
        pump(&mut [&mut publisher, &mut subscriber]).await;
        while let Some(event) = subscriber.client.poll_channel_event() {
            match event {
                sctp::ChannelEvent::ChannelMessage { id, data, .. } if id == sub_id => {
                    assert!(!closed, "a message after the close");
                    got.push(data);
                }
                sctp::ChannelEvent::ChannelClosed { id } if id == sub_id => closed = true,
                _ => {}
            }
        }
        assert!(Instant::now() < end, "got {} of {}, closed {closed}", got.len(), sent.len());
    }
    assert!(got == sent, "got {} of {} before the close", got.len(), sent.len());
    // The publication is gone.
    let info = server.get(&format!("sessions/{}", publisher.id)).await.json();
    assert_eq!(info["dataChannels"], json!([]), "{info:#}");
    let stats = server.stats().await;
    assert_eq!(stats["channel_messages_dropped_undeliverable"], 0, "{stats:#}");
    assert_eq!(stats["channel_messages_dropped_slow_subscriber"], 0, "{stats:#}");
}

#[tokio::test]
async fn datachannel_endpoints_refuse_what_they_cannot_do() {
    let server = start(1).await;
    let id = server.new_empty_session().await;
    // Unknown session, wrong method, unknown action.
    let missing = "00000000000000000000000000000000";
    server
        .post_json(&format!("sessions/{missing}/datachannels/new"), &json!({"dataChannels": []}))
        .await
        .assert_error(404, "not_found");
    server
        .post_json(&format!("sessions/{id}/datachannels/close"), &json!({}))
        .await
        .assert_error(405, "method_not_allowed");
    server
        .put_json(&format!("sessions/{id}/datachannels/new"), &json!({}))
        .await
        .assert_error(405, "method_not_allowed");
    server
        .post_json(&format!("sessions/{id}/datachannels/other"), &json!({}))
        .await
        .assert_error(404, "not_found");
    // Malformed bodies.
    server
        .post_json(&format!("sessions/{id}/datachannels/new"), &json!({"dataChannels": [1]}))
        .await
        .assert_error(400, "decoding_error");
    server
        .put_json(&format!("sessions/{id}/datachannels/close"), &json!({"dataChannels": [{}]}))
        .await
        .assert_error(400, "decoding_error");
    // An offer without a data channel section cannot establish one.
    let mut rng = rand::rngs::StdRng::seed_from_u64(70);
    let credentials = ice::Credentials::generate(&mut rng);
    let ours = dtls_context();
    let audio_only =
        personalize(api_common::CHROME_AV, &credentials, ours.config().certificate.fingerprint());
    server
        .post_json(
            &format!("sessions/{id}/datachannels/establish"),
            &json!({"sessionDescription": {"type": "offer", "sdp": audio_only}}),
        )
        .await
        .assert_error(406, "invalid_params");
    // A pending SFU offer blocks a second negotiation until it is answered.
    let first =
        server.post_json(&format!("sessions/{id}/datachannels/establish"), &json!({})).await;
    assert_eq!(first.json()["requiresImmediateRenegotiation"], true, "{}", first.text());
    server
        .post_json(&format!("sessions/{id}/datachannels/establish"), &json!({}))
        .await
        .assert_error(406, "invalid_params");
    // Per-item errors with HTTP 200: no name, bad options.
    let reply = server
        .post_json(
            &format!("sessions/{id}/datachannels/new"),
            &json!({"dataChannels": [
                {"location": "local"},
                {"location": "local", "dataChannelName": "x", "maxRetransmits": 1, "maxPacketLifeTime": 1},
                {"location": "remote", "dataChannelName": "x"},
                {"location": "local", "dataChannelName": "ok", "ordered": false, "maxRetransmits": 0},
            ]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let items = reply.json()["dataChannels"].clone();
    for i in 0..3 {
        assert_eq!(items[i]["errorCode"], "invalid_params", "{items}");
    }
    assert!(items[3].get("errorCode").is_none(), "{items}");
    let listed = server.get(&format!("sessions/{id}")).await.json()["dataChannels"].clone();
    assert_eq!(listed[0]["dataChannelName"], "ok", "{listed}");
    assert_eq!(listed[0]["ordered"], false);
    assert_eq!(listed[0]["maxRetransmits"], 0);
}
