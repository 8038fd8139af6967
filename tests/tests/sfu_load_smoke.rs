//! The load harness (`src/bin/sfu_load.rs`) at a tiny scale: one publisher, two
//! subscribers, about two seconds. It checks that media goes through the sfu to every
//! subscriber and through the reference fan-out; it asserts nothing about speed.

use std::time::Duration;

use integration_tests::load::{run_point, run_reference, PointConfig};

fn tiny() -> PointConfig {
    PointConfig {
        publishers: 1,
        subscribers: 2,
        video_bitrate: 500_000,
        warmup: Duration::from_millis(700),
        duration: Duration::from_millis(1000),
        ..PointConfig::default()
    }
}

#[tokio::test]
async fn the_sfu_forwards_the_publishers_media_to_every_subscriber() {
    let config = tiny();
    let report = run_point(&config).await.expect("the point runs");
    assert!(report.sent > 0, "{report:?}");
    // Two subscribers of audio and video: the sfu forwards and they receive copies of what
    // was sent in the window (not exactly twice: the window's edges cut packets in flight).
    assert!(report.forwarded > report.sent, "{report:?}");
    assert!(report.received > report.sent, "{report:?}");
    assert!(report.received_total >= report.received, "{report:?}");
    assert!(report.sfu_cpu > Duration::ZERO, "the worker threads were found: {report:?}");
}

#[tokio::test]
async fn the_reference_fans_out_the_same_packets() {
    let report = run_reference(&tiny()).await.expect("the reference runs");
    assert!(report.copies > 0, "{report:?}");
    assert!(report.received > 0, "{report:?}");
}
