//! Any datagram as a STUN check to an ICE-lite agent, and as a response to the checks of the
//! controlling agent: the stateless driver helpers and both agents never panic, whatever the
//! bytes.
#![no_main]

use std::net::SocketAddr;
use std::time::Instant;

use ice::{
    CandidatePair, ControllingConfig, Credentials, IceConfig, IceControllingAgent, IceLiteAgent,
};
use libfuzzer_sys::fuzz_target;
use rand::rngs::StdRng;
use rand::SeedableRng;

fuzz_target!(|data: &[u8]| {
    let local = Credentials::new("fuzzlocalufrag", "fuzzlocalpasswordfuzzlocalpw").expect("valid");
    let remote = Credentials::new("fuzzremote", "fuzzremotepasswordfuzzremote").expect("valid");
    let _ = ice::local_ufrag(data);
    let _ = ice::verify_check(data, &local);
    let mut agent = IceLiteAgent::new(IceConfig::default(), local.clone(), Some(remote.clone()));
    let here: SocketAddr = "127.0.0.1:3480".parse().expect("address");
    let there: SocketAddr = "127.0.0.1:50000".parse().expect("address");
    let now = Instant::now();
    agent.handle_receive(now, here, there, data);
    let _ = agent.dtls_client_hello_from(now, here, there);
    while agent.poll_transmit().is_some() {}
    while agent.poll_event().is_some() {}

    let mut rng = StdRng::seed_from_u64(1);
    let pair = CandidatePair { local: here, remote: there };
    let controlling = IceControllingAgent::new(
        now,
        ControllingConfig::default(),
        local,
        remote,
        [pair],
        &mut rng,
    );
    if let Ok(mut controlling) = controlling {
        controlling.handle_receive(now, here, there, data);
        controlling.handle_timeout(now);
        while controlling.poll_transmit().is_some() {}
        while controlling.poll_event().is_some() {}
    }
});
