//! Session lifetime in the driver, with short timers: unclaimed sessions expire, claimed
//! sessions that never connect are removed with their 5-tuples, failed sessions stay visible
//! for the grace period and are then removed. Every wait polls the API with a deadline; no
//! assertion is about elapsed time.

mod api_common;

use std::time::{Duration, Instant};

use api_common::{start_with, Browser, TestServer, CHROME_AV, CHROME_AV_PWD, CHROME_AV_UFRAG};
use ice::{CandidatePair, ControllingConfig, Credentials, IceControllingClient};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::Value;
use sfu::sdp::SessionDescription;
use tokio::net::UdpSocket;

fn counter(stats: &Value, name: &str) -> u64 {
    stats[name].as_u64().unwrap_or_else(|| panic!("no counter {name} in {stats}"))
}

async fn assert_gone(server: &TestServer, id: &str) {
    server.get(&format!("sessions/{id}")).await.assert_error(404, "not_found");
}

#[tokio::test]
async fn unclaimed_sessions_expire() {
    let server = start_with(2, |c| c.timers.unconnected_timeout = Duration::from_millis(200)).await;
    let (with_offer, _) = server.new_session(CHROME_AV).await;
    let reply = server.post_json("sessions/new", &serde_json::json!({})).await;
    assert_eq!(reply.status, 201);
    let without = reply.json()["sessionId"].as_str().unwrap().to_owned();
    let stats = server
        .wait_for_stats("both sessions expired", |s| counter(s, "sessions_expired_unclaimed") == 2)
        .await;
    assert_eq!(counter(&stats, "sessions_active"), 0);
    assert_eq!(counter(&stats, "sessions_claimed"), 0);
    assert_gone(&server, &with_offer).await;
    assert_gone(&server, &without).await;
    assert!(server.running.directory().is_empty());
}

#[tokio::test]
async fn a_claimed_session_that_never_connects_is_removed_with_its_5_tuples() {
    let server = start_with(2, |c| c.timers.unconnected_timeout = Duration::from_secs(1)).await;
    let target = server.running.udp_addrs[0];
    let (id, answer) = server.new_session(CHROME_AV).await;
    let answer = SessionDescription::parse(&answer).unwrap();
    let c = answer.ice_credentials(&answer.media[0]).unwrap();
    let sfu = Credentials::new(c.ufrag, c.pwd).unwrap();
    let browser = Credentials::new(CHROME_AV_UFRAG, CHROME_AV_PWD).unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = socket.local_addr().unwrap();
    let mut client = IceControllingClient::new(
        Instant::now(),
        ControllingConfig::default(),
        browser,
        sfu,
        CandidatePair { local, remote: target },
        &mut StdRng::seed_from_u64(5),
    )
    .unwrap();
    let check = client.poll_transmit().unwrap().datagram;
    socket.send_to(&check, target).await.unwrap();
    server
        .wait_for_stats("claimed and mapped", |s| {
            counter(s, "sessions_claimed") == 1 && counter(s, "five_tuples") == 1
        })
        .await;
    // No DTLS follows: the driver gives up on it.
    let stats = server.wait_for_stats("removed", |s| counter(s, "sessions_removed") == 1).await;
    assert_eq!(counter(&stats, "five_tuples"), 0);
    assert_eq!(counter(&stats, "sessions_active"), 0);
    assert_gone(&server, &id).await;
    // Its 5-tuple is unknown again: DTLS from it is refused at the door, and its check finds
    // no session.
    socket.send_to(&[22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0], target).await.unwrap();
    socket.send_to(&check, target).await.unwrap();
    server
        .wait_for_stats("both refused", |s| {
            counter(s, "dropped_unknown_sender") == 1 && counter(s, "dropped_unknown_ufrag") == 1
        })
        .await;
}

#[tokio::test]
async fn a_failed_session_is_reported_then_removed() {
    let server = start_with(2, |c| c.timers.closed_grace = Duration::from_secs(2)).await;
    let target = server.running.udp_addrs[0];
    // The offer names another certificate than the one the client presents: the session's
    // DTLS server refuses the handshake.
    let other = dtls::Certificate::generate().unwrap();
    let mut browser = Browser::connect_to(&server, target, 9, Some(&other)).await;
    browser.until_state(&server, "failed").await;
    let stats = server.wait_for_stats("removed", |s| counter(s, "sessions_removed") == 1).await;
    assert_eq!(counter(&stats, "five_tuples"), 0);
    assert_eq!(counter(&stats, "sessions_active"), 0);
    assert_gone(&server, &browser.id).await;
}
