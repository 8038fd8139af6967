//! Any datagram as a STUN check to an ICE-lite agent: the stateless driver helpers and the
//! agent itself never panic, whatever the bytes.
#![no_main]

use std::net::SocketAddr;
use std::time::Instant;

use ice::{Credentials, IceConfig, IceLiteAgent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let local = Credentials::new("fuzzlocalufrag", "fuzzlocalpasswordfuzzlocalpw").expect("valid");
    let remote = Credentials::new("fuzzremote", "fuzzremotepasswordfuzzremote").expect("valid");
    let _ = ice::local_ufrag(data);
    let _ = ice::verify_check(data, &local);
    let mut agent = IceLiteAgent::new(IceConfig::default(), local, Some(remote));
    let here: SocketAddr = "127.0.0.1:3480".parse().expect("address");
    let there: SocketAddr = "127.0.0.1:50000".parse().expect("address");
    let now = Instant::now();
    agent.handle_receive(now, here, there, data);
    let _ = agent.dtls_client_hello_from(now, here, there);
    while agent.poll_transmit().is_some() {}
    while agent.poll_event().is_some() {}
});
