//! The UDP driver and third-party sessions over real loopback sockets: each session is
//! claimed by the worker the API names, sends its checks to the lite peer's candidate, and
//! the answers reach it whichever worker the kernel hands them to (the directory binds the
//! 5-tuples its checks went to, and other workers forward).
//!
//! The lite peers are test sockets driven by our [`ice::IceLiteAgent`]; no DTLS runs, so the
//! sessions stop at `connecting` (a pair nominated).

mod api_common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use api_common::{start, TestServer, DEADLINE};
use ice::{Credentials, IceConfig, IceLiteAgent};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::json;
use sfu::sdp::SessionDescription;
use tokio::net::UdpSocket;

/// Sessions in the test: with two workers, the chance that the answers of every one of them
/// land on its owner's socket is 2^-16, so the forwarding path is taken.
const SESSIONS: usize = 16;

/// An ICE-lite peer on a loopback socket.
struct LitePeer {
    socket: UdpSocket,
    address: SocketAddr,
    credentials: Credentials,
    agent: Option<IceLiteAgent>,
    id: String,
}

/// A lite offer (as another SFU writes one): one audio section, our credentials, one host
/// candidate.
fn lite_offer(
    credentials: &Credentials,
    candidate: SocketAddr,
    fingerprint: &dtls::Fingerprint,
) -> String {
    format!(
        "v=0\r\no=- 7 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=ice-lite\r\na=group:BUNDLE 0\r\n\
         m=audio {port} UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 127.0.0.1\r\n\
         a=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\na=fingerprint:{fingerprint}\r\n\
         a=setup:actpass\r\na=mid:0\r\na=sendonly\r\na=rtcp-mux\r\n\
         a=rtpmap:111 opus/48000/2\r\na=ssrc:4242 cname:peer\r\n\
         a=candidate:1 1 udp 2130706431 {ip} {port} typ host\r\na=end-of-candidates\r\n",
        port = candidate.port(),
        ip = candidate.ip(),
        ufrag = credentials.ufrag(),
        pwd = credentials.pwd(),
    )
}

async fn connection_state(server: &TestServer, id: &str) -> String {
    let reply = server.get(&format!("sessions/{id}")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["connectionState"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn third_party_checks_are_answered_through_any_worker() {
    let server = start(2).await;
    let mut rng = StdRng::seed_from_u64(77);
    let certificate = dtls::Certificate::generate().unwrap();
    let mut peers = Vec::new();
    for _ in 0..SESSIONS {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let address = socket.local_addr().unwrap();
        let credentials = Credentials::generate(&mut rng);
        let offer = lite_offer(&credentials, address, certificate.fingerprint());
        let reply = server
            .post_json(
                "sessions/new?thirdparty=true",
                &json!({"sessionDescription": {"type": "offer", "sdp": offer}}),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text());
        let body = reply.json();
        let answer =
            SessionDescription::parse(body["sessionDescription"]["sdp"].as_str().unwrap()).unwrap();
        assert!(!answer.is_ice_lite());
        let c = answer.ice_credentials(&answer.media[0]).unwrap();
        let theirs = Credentials::new(c.ufrag, c.pwd).unwrap();
        let agent = IceLiteAgent::new(IceConfig::default(), credentials.clone(), Some(theirs));
        let id = body["sessionId"].as_str().unwrap().to_owned();
        peers.push(LitePeer { socket, address, credentials, agent: Some(agent), id });
    }

    // Answer every check until every peer saw its nomination.
    let mut buf = vec![0u8; 2048];
    let end = Instant::now() + DEADLINE;
    loop {
        let mut idle = true;
        for peer in &mut peers {
            let Some(agent) = peer.agent.as_mut() else { continue };
            while let Ok((len, from)) = peer.socket.try_recv_from(&mut buf) {
                idle = false;
                assert!(from.ip().is_loopback());
                agent.handle_receive(Instant::now(), peer.address, from, &buf[..len]);
                while let Some(t) = agent.poll_transmit() {
                    peer.socket.send_to(&t.datagram, t.remote).await.unwrap();
                }
                while agent.poll_event().is_some() {}
            }
        }
        if peers.iter().all(|p| p.agent.as_ref().is_some_and(|a| a.selected_pair().is_some())) {
            break;
        }
        assert!(Instant::now() < end, "not every third-party session nominated its pair");
        if idle {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    for peer in &peers {
        // Nominated with a check from the SFU's port, toward our candidate.
        let selected = peer.agent.as_ref().unwrap().selected_pair().unwrap();
        assert_eq!(selected.local, peer.address);
        assert_eq!(selected.remote, server.running.udp_addrs[0]);
        // The session saw the nomination succeed: ICE is up, DTLS (not run here) pending.
        let end = Instant::now() + DEADLINE;
        loop {
            let state = connection_state(&server, &peer.id).await;
            if state == "connecting" {
                break;
            }
            assert!(Instant::now() < end, "session {} is {state}", peer.id);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(!peer.credentials.ufrag().is_empty());
    }
    let stats = server.running.driver_stats();
    eprintln!(
        "{} sessions claimed, {} datagrams forwarded between workers, {} forwarded 5-tuples",
        stats.sessions_claimed, stats.forwarded_out, stats.forwarded_tuples
    );
    assert_eq!(stats.sessions_claimed, SESSIONS as u64);
    assert!(stats.forwarded_out > 0, "no answer needed forwarding: {stats:?}");
    assert_eq!(stats.dropped_unknown_sender + stats.dropped_stun_not_check, 0, "{stats:?}");
}
