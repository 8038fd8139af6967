//! A published track that receives no media for the idle timeout is withdrawn, as
//! Cloudflare collects tracks after 30 s without media; one that keeps receiving stays.
//! The timeout is shortened to 500 ms here.

mod api_common;

use std::time::{Duration, Instant};

use api_common::{start_with, Browser, TestServer, CHROME_AV, DEADLINE, FIREFOX_AV};
use serde_json::{json, Value};

const IDLE: Duration = Duration::from_millis(500);

async fn server() -> TestServer {
    start_with(1, |config| config.timers.track_idle_timeout = IDLE).await
}

async fn track_names(server: &TestServer, id: &str) -> Vec<String> {
    let info: Value = server.get(&format!("sessions/{id}")).await.json();
    info["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["location"] == "local")
        .map(|t| t["trackName"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_track_without_media_is_withdrawn_and_its_name_freed() {
    let server = server().await;
    let id = server.new_empty_session().await;
    server.push(&id, CHROME_AV, &[("0", "mic"), ("1", "cam")]).await;
    assert_eq!(track_names(&server, &id).await, ["mic", "cam"]);

    let end = Instant::now() + DEADLINE;
    while !track_names(&server, &id).await.is_empty() {
        assert!(Instant::now() < end, "the silent tracks were never withdrawn");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let other = server.new_empty_session().await;
    let body = server
        .tracks_new(
            &other,
            &json!({"tracks": [{"location": "remote", "sessionId": id, "trackName": "cam"}]}),
        )
        .await;
    assert_eq!(body["tracks"][0]["errorCode"], "not_found_track_error");
    // The publisher may publish the name again on the negotiated mid.
    let body = server
        .tracks_new(
            &id,
            &json!({"tracks": [{"location": "local", "mid": "1", "trackName": "cam"}]}),
        )
        .await;
    assert!(body["tracks"][0].get("errorCode").is_none(), "{body}");
}

#[tokio::test]
async fn a_track_with_media_stays_until_the_media_stops() {
    let server = server().await;
    let target = server.running.udp_addrs[0];
    let mut publisher = Browser::publish(&server, target, 71, FIREFOX_AV, &[("1", "cam")]).await;
    publisher.until_state(&server, "connected").await;
    let end = Instant::now() + DEADLINE;
    while !publisher.client.is_connected() {
        publisher.step().await;
        assert!(Instant::now() < end, "the client did not connect");
    }
    // Four idle timeouts with a packet every 20 ms (the connection took part of the first).
    let mut sequence = 1u16;
    let until = Instant::now() + IDLE * 4;
    while Instant::now() < until {
        publisher
            .client
            .send_rtp_with(
                &rtp::RtpHeaderWriter {
                    payload_type: 120,
                    sequence_number: sequence,
                    timestamp: 3_000 * u32::from(sequence),
                    ssrc: 1_893_459_208,
                    ..rtp::RtpHeaderWriter::default()
                },
                &[1, 2, 3],
            )
            .unwrap();
        sequence += 1;
        publisher.step().await;
    }
    assert_eq!(track_names(&server, &publisher.id).await, ["cam"], "withdrawn despite media");
    // Silence: gone within a few timeouts.
    let end = Instant::now() + DEADLINE;
    while !track_names(&server, &publisher.id).await.is_empty() {
        publisher.step().await;
        assert!(Instant::now() < end, "the track was never withdrawn");
    }
}
