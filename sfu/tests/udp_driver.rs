//! The UDP driver over real loopback sockets against an in-process server: bad input from
//! unknown senders is dropped and counted without creating state; a valid ICE check claims
//! its session and is answered; checks from 5-tuples the kernel gives to other workers are
//! forwarded to the owner; a whole ICE + DTLS + SRTP handshake connects through the driver.

mod api_common;

use std::net::SocketAddr;
use std::time::Instant;

use api_common::{start, Browser, TestServer, CHROME_AV, CHROME_AV_PWD, CHROME_AV_UFRAG, DEADLINE};
use ice::{CandidatePair, ControllingConfig, Credentials, IceControllingClient};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::Value;
use sfu::directory::SessionId;
use sfu::sdp::SessionDescription;
use sfu::worker::MAX_DATAGRAM_LEN;
use stun::attributes::XorMappedAddress;
use stun::{credentials, Message, MessageType, MessageWriter, TransactionId};
use tokio::net::UdpSocket;

/// The session's ICE credentials from its answer.
fn answer_credentials(answer: &str) -> Credentials {
    let answer = SessionDescription::parse(answer).unwrap();
    let c = answer.ice_credentials(&answer.media[0]).unwrap();
    Credentials::new(c.ufrag, c.pwd).unwrap()
}

/// A client socket on the loopback address of `server`'s family.
async fn client_socket(server: SocketAddr) -> UdpSocket {
    let any = if server.is_ipv4() { "127.0.0.1:0" } else { "[::1]:0" };
    UdpSocket::bind(any).await.unwrap()
}

/// The first connectivity check an ICE controlling agent with `browser` credentials sends
/// from `local` to `remote` (checked against `sfu` credentials).
fn check(
    rng: &mut StdRng,
    sfu: &Credentials,
    browser: &Credentials,
    local: SocketAddr,
    remote: SocketAddr,
) -> Vec<u8> {
    let mut client = IceControllingClient::new(
        Instant::now(),
        ControllingConfig::default(),
        browser.clone(),
        sfu.clone(),
        CandidatePair { local, remote },
        rng,
    )
    .unwrap();
    client.poll_transmit().unwrap().datagram
}

fn counter(stats: &Value, name: &str) -> u64 {
    stats[name].as_u64().unwrap_or_else(|| panic!("no counter {name} in {stats}"))
}

/// Receives one datagram or fails after the deadline.
async fn recv(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = vec![0u8; 2048];
    let (len, from) = tokio::time::timeout(DEADLINE, socket.recv_from(&mut buf))
        .await
        .expect("a response in time")
        .unwrap();
    buf.truncate(len);
    (buf, from)
}

/// Checks a Binding success response to a request from `client`, keyed with `sfu`'s password.
fn assert_success_response(datagram: &[u8], sfu: &Credentials, client: SocketAddr) {
    let message = Message::parse(datagram).expect("STUN response");
    assert_eq!(message.message_type(), MessageType::BINDING_SUCCESS);
    message.verify_message_integrity(credentials::short_term_key(sfu.pwd())).unwrap();
    message.verify_fingerprint().unwrap();
    let mapped = message.get::<XorMappedAddress>().unwrap().expect("XOR-MAPPED-ADDRESS");
    assert_eq!(mapped.0, client);
}

#[tokio::test]
async fn bad_input_from_unknown_senders_is_dropped_and_counted_without_state() {
    let server = start(2).await;
    let (id, answer) = server.new_session(CHROME_AV).await;
    let sfu = answer_credentials(&answer);
    let browser = Credentials::new(CHROME_AV_UFRAG, CHROME_AV_PWD).unwrap();
    let mut rng = StdRng::seed_from_u64(42);

    let mut sent = 0u64;
    let mut expected: Vec<(&str, u64)> = Vec::new();
    let mut expect =
        |name: &'static str, n: u64| match expected.iter_mut().find(|(k, _)| *k == name) {
            Some((_, count)) => *count += n,
            None => expected.push((name, n)),
        };
    let udp_addrs = server.running.udp_addrs.clone();
    let mut clients = Vec::new();
    for &target in &udp_addrs {
        // Several source ports, so that the kernel spreads them over both workers.
        for _ in 0..4 {
            let socket = client_socket(target).await;
            let local = socket.local_addr().unwrap();
            let valid = check(&mut rng, &sfu, &browser, local, target);

            let mut inputs: Vec<(&'static str, Vec<u8>)> = vec![
                ("dropped_unknown_kind", vec![0xff; 64]),
                ("dropped_unknown_kind", Vec::new()),
                ("dropped_unknown_kind", vec![0x40, 0x01, 0x00, 0x04, 1, 2, 3, 4]), // TURN channel
                ("dropped_stun_malformed", valid[..40].to_vec()),
                ("dropped_too_large", vec![0u8; 65_000]),
                ("dropped_too_large", {
                    let mut rtp = vec![0u8; MAX_DATAGRAM_LEN + 1];
                    rtp[0] = 0x80;
                    rtp
                }),
                // DTLS handshake record header and an RTP and an RTCP packet.
                (
                    "dropped_unknown_sender",
                    vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4],
                ),
                (
                    "dropped_unknown_sender",
                    [&[0x80, 0x60, 0, 1, 0, 0, 0, 1, 0x12, 0x34, 0x56, 0x78][..], &[7; 160]]
                        .concat(),
                ),
                ("dropped_unknown_sender", vec![0x80, 200, 0, 1, 0x12, 0x34, 0x56, 0x78]),
            ];
            // A header whose length matches but whose attribute runs past the end.
            let mut bad_attribute = valid[..20].to_vec();
            bad_attribute[2..4].copy_from_slice(&8u16.to_be_bytes());
            bad_attribute.extend_from_slice(&[0x00, 0x06, 0x00, 0x64, b'a', b'b', b'c', b'd']);
            inputs.push(("dropped_stun_malformed", bad_attribute));
            // Well-formed STUN that is no check: an indication, a request without USERNAME.
            let mut indication = Vec::new();
            MessageWriter::new(
                &mut indication,
                MessageType::BINDING_INDICATION,
                TransactionId([1; 12]),
            );
            inputs.push(("dropped_stun_not_check", indication));
            let mut anonymous = Vec::new();
            MessageWriter::new(
                &mut anonymous,
                MessageType::BINDING_REQUEST,
                TransactionId([2; 12]),
            )
            .add_fingerprint()
            .unwrap();
            inputs.push(("dropped_stun_not_check", anonymous));
            // The session's ufrag with a wrong password; a corrupted FINGERPRINT.
            let impostor = Credentials::new(sfu.ufrag(), "wrongwrongwrongwrongwrong").unwrap();
            inputs.push((
                "dropped_unauthenticated",
                check(&mut rng, &impostor, &browser, local, target),
            ));
            let mut corrupted = valid.clone();
            *corrupted.last_mut().unwrap() ^= 0x55;
            inputs.push(("dropped_unauthenticated", corrupted));
            // A valid check for a ufrag no session has.
            let stranger = Credentials::generate(&mut rng);
            inputs.push((
                "dropped_unknown_ufrag",
                check(&mut rng, &stranger, &browser, local, target),
            ));

            for (counter, datagram) in inputs {
                socket.send_to(&datagram, target).await.unwrap();
                expect(counter, 1);
                sent += 1;
            }
            clients.push(socket);
        }
    }

    // Each datagram is counted as read, then as dropped for its reason.
    let stats = server
        .wait_for_stats("every datagram read and dropped for its reason", |s| {
            counter(s, "datagrams_received") == sent
                && expected.iter().all(|(name, count)| counter(s, name) == *count)
        })
        .await;
    let dropped: u64 = expected.iter().map(|(_, n)| n).sum();
    assert_eq!(dropped, sent);
    for name in [
        "delivered",
        "datagrams_sent",
        "sessions_claimed",
        "five_tuples",
        "forwarded_tuples",
        "forwarded_out",
        "forwarded_in",
        "dropped_no_session",
        "recv_errors",
    ] {
        assert_eq!(counter(&stats, name), 0, "{name}: {stats:#}");
    }
    assert_eq!(counter(&stats, "sessions_active"), 1);
    assert_eq!(counter(&stats, "sessions_unclaimed"), 1);
    let id: SessionId = id.parse().unwrap();
    assert_eq!(server.running.directory().owner(id), Some(None));
    assert_eq!(server.running.directory().len(), 1);
    // Nothing was answered.
    let mut buf = [0u8; 64];
    for socket in &clients {
        assert!(socket.try_recv_from(&mut buf).is_err());
    }
    let session = server.get(&format!("sessions/{id}")).await.json();
    assert_eq!(session["connectionState"], "new");
}

/// Creates a session and returns (id, our credentials for its checks, the SFU's).
async fn session(server: &TestServer) -> (SessionId, Credentials, Credentials) {
    let (id, answer) = server.new_session(CHROME_AV).await;
    let browser = Credentials::new(CHROME_AV_UFRAG, CHROME_AV_PWD).unwrap();
    (id.parse().unwrap(), browser, answer_credentials(&answer))
}

#[tokio::test]
async fn a_valid_check_claims_the_session_is_answered_and_binds() {
    let server = start(2).await;
    let mut rng = StdRng::seed_from_u64(7);
    for target in server.running.udp_addrs.clone() {
        let (id, browser, sfu) = session(&server).await;
        let socket = client_socket(target).await;
        let local = socket.local_addr().unwrap();
        let before = server.stats().await;
        socket.send_to(&check(&mut rng, &sfu, &browser, local, target), target).await.unwrap();

        let (response, from) = recv(&socket).await;
        assert_eq!(from, target);
        assert_success_response(&response, &sfu, local);
        let stats = server
            .wait_for_stats("the pair mapped", |s| {
                counter(s, "five_tuples") > counter(&before, "five_tuples")
            })
            .await;
        assert_eq!(counter(&stats, "sessions_claimed"), counter(&before, "sessions_claimed") + 1);
        assert!(server.running.directory().owner(id).unwrap().is_some());
        let session = server.get(&format!("sessions/{id}")).await.json();
        assert_eq!(session["stats"]["stun_received"], 1, "{session:#}");

        // The 5-tuple is bound: DTLS from it now reaches the session (which drops this
        // garbage record itself) instead of being refused as from an unknown sender.
        socket.send_to(&[22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0], target).await.unwrap();
        let stats = server
            .wait_for_stats("the DTLS record delivered", |s| {
                counter(s, "delivered") == counter(&before, "delivered") + 2
            })
            .await;
        assert_eq!(counter(&stats, "dropped_unknown_sender"), 0);
    }
}

#[tokio::test]
async fn checks_from_many_5_tuples_reach_the_one_owner() {
    let server = start(2).await;
    let mut rng = StdRng::seed_from_u64(11);
    let target = server.running.udp_addrs[0];
    let (id, browser, sfu) = session(&server).await;
    // Fewer tuples than the ICE agent keeps pairs, so none is evicted.
    let sockets: Vec<UdpSocket> = {
        let mut v = Vec::new();
        for _ in 0..6 {
            v.push(client_socket(target).await);
        }
        v
    };
    for round in 1..=2u64 {
        for socket in &sockets {
            let local = socket.local_addr().unwrap();
            socket.send_to(&check(&mut rng, &sfu, &browser, local, target), target).await.unwrap();
        }
        for socket in &sockets {
            let (response, _) = recv(socket).await;
            assert_success_response(&response, &sfu, socket.local_addr().unwrap());
        }
        // Each check went to the owner once: directly, or forwarded by the worker the kernel
        // hashed its 5-tuple to, which remembered the 5-tuple on the first round. (The
        // forwarding worker counts after queueing, so its count may trail for a moment.)
        let stats = server
            .wait_for_stats("every check delivered", |s| {
                counter(s, "delivered") == 6 * round
                    && counter(s, "forwarded_out") == counter(s, "forwarded_in")
            })
            .await;
        assert_eq!(counter(&stats, "forwarded_out"), round * counter(&stats, "forwarded_tuples"));
        assert_eq!(counter(&stats, "sessions_claimed"), 1);
        assert_eq!(
            counter(&stats, "dropped_queue_full") + counter(&stats, "dropped_no_session"),
            0
        );
    }
    let session = server.get(&format!("sessions/{id}")).await.json();
    assert_eq!(session["stats"]["stun_received"], 12, "{session:#}");
}

/// A browser-like client connects through the driver, then sends media the session
/// decrypts.
async fn handshake(server: &TestServer, target: SocketAddr, seed: u64) {
    let mut browser = Browser::connect_to(server, target, seed, None).await;
    browser.until_state(server, "connected").await;
    // The session's last flight may still be on its way to the client.
    let deadline = Instant::now() + DEADLINE;
    while !browser.client.is_connected() {
        assert!(Instant::now() < deadline, "{:?}", browser.client.stats());
        browser.step().await;
    }
    for seq in 0..5u16 {
        browser.client.send_rtp(0x1234_5678, seq, 960 * u32::from(seq), 111, &[0xab; 100]).unwrap();
    }
    browser.flush().await;
    let path = format!("sessions/{}", browser.id);
    let deadline = Instant::now() + DEADLINE;
    loop {
        let session = server.get(&path).await.json();
        if session["stats"]["rtp_decrypted"] == 5 {
            assert_eq!(session["stats"]["srtp_auth_failed"], 0);
            assert_eq!(session["connectionState"], "connected");
            break;
        }
        assert!(Instant::now() < deadline, "{session:#}");
        browser.step().await;
    }
}

#[tokio::test]
async fn a_whole_handshake_connects_through_the_driver() {
    let server = start(2).await;
    for (i, target) in server.running.udp_addrs.clone().into_iter().enumerate() {
        handshake(&server, target, 100 + i as u64).await;
    }
    let stats = server.stats().await;
    assert_eq!(counter(&stats, "sessions_claimed"), server.running.udp_addrs.len() as u64);
    assert_eq!(counter(&stats, "send_errors"), 0);
}

#[tokio::test]
async fn shutdown_closes_connected_sessions() {
    let server = start(1).await;
    let target = server.running.udp_addrs[0];
    let mut browser = Browser::connect_to(&server, target, 77, None).await;
    browser.until_state(&server, "connected").await;
    server.running.shutdown().await;
    // The session's close_notify reaches the client.
    let deadline = Instant::now() + DEADLINE;
    while !browser.client.is_closed() {
        assert!(Instant::now() < deadline, "{:?}", browser.client.stats());
        browser.step().await;
    }
}

/// The same source 5-tuples check a first session, then a second one: each check reaches
/// the session it names, even where a worker remembered the 5-tuple as forwarded to the
/// first session's owner.
#[tokio::test]
async fn a_5_tuple_reused_by_another_session_follows_the_directory() {
    let server = start(2).await;
    let mut rng = StdRng::seed_from_u64(13);
    let target = server.running.udp_addrs[0];
    let mut sockets = Vec::new();
    for _ in 0..6 {
        sockets.push(client_socket(target).await);
    }
    for _ in 0..2 {
        let (_, browser, sfu) = session(&server).await;
        for socket in &sockets {
            let local = socket.local_addr().unwrap();
            socket.send_to(&check(&mut rng, &sfu, &browser, local, target), target).await.unwrap();
            let (response, _) = recv(socket).await;
            assert_success_response(&response, &sfu, local);
        }
    }
    let stats = server.stats().await;
    assert_eq!(counter(&stats, "sessions_claimed"), 2);
    assert_eq!(
        counter(&stats, "dropped_no_session") + counter(&stats, "dropped_unauthenticated"),
        0
    );
}
