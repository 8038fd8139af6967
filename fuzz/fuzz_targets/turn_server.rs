//! Any bytes from a client (over UDP and over TCP) and from a peer, to a TURN server with
//! users and a REST secret: the allocation machine never panics and answers at most small
//! error responses.
#![no_main]

use std::net::SocketAddr;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use rand::{rngs::StdRng, SeedableRng};
use turn::{AuthConfig, RelayIp, ServerConfig, Transport, TurnServer, CLIENT_FRAME_OVERHEAD};

fuzz_target!(|data: &[u8]| {
    let mut config = ServerConfig::new("example.org");
    config.relay_ipv4 = Some(RelayIp::new("203.0.113.5".parse().expect("address")));
    config.auth = AuthConfig::default().with_user("alice", "secret").with_rest_secret("shared");
    let now = Instant::now();
    let Ok(mut server) = TurnServer::new(config, now, 1_700_000_000, StdRng::seed_from_u64(7))
    else {
        return;
    };
    let client: SocketAddr = "198.51.100.7:40000".parse().expect("address");
    let listen: SocketAddr = "203.0.113.5:3478".parse().expect("address");
    let relay: SocketAddr = "203.0.113.5:50000".parse().expect("address");
    server.handle_client(now, Transport::Udp, client, listen, data);
    server.handle_client(now, Transport::Tcp, client, listen, data);
    let mut out = vec![0u8; data.len() + CLIENT_FRAME_OVERHEAD];
    let _ = server.relay_from_peer(now, relay, client, data, &mut out);
    server.handle_peer(now, relay, client, data);
    while server.poll_output().is_some() {}
    server.handle_timeout(now + std::time::Duration::from_secs(700));
    while server.poll_output().is_some() {}
});
