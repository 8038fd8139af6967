//! Any text as an SDP offer: parsing never panics, and an offer that parses can be written
//! back, parsed again, and answered (or refused with an error) without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sfu::sdp::{create_answer, AnswerOptions, Fingerprint, LocalParameters, SessionDescription};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(offer) = SessionDescription::parse(text) else { return };
    let written = offer.to_string();
    let again = SessionDescription::parse(&written).expect("a written description parses");
    assert_eq!(again.to_string(), written, "writing is stable");
    let fingerprint = Fingerprint { algorithm: "sha-256".into(), value: vec![0xab; 32] };
    let local = LocalParameters::new(
        1,
        "fuzzufrag",
        "fuzzpasswordfuzzpassword",
        fingerprint,
        vec!["127.0.0.1:9000".parse().expect("an address"), "[::1]:9000".parse().expect("an address")],
    );
    let _ = create_answer(&offer, &local, &AnswerOptions::default());
});
