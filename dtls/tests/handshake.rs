//! Two-peer tests on a virtual clock: handshakes, SRTP keys, loss and reordering,
//! retransmission timing, fingerprint checks, MTU and fragmentation, application data,
//! close, and garbage input.

mod pair;

use std::time::{Duration, Instant};

use dtls::{Dtls, DtlsConfig, Error, Event, Fingerprint, HashAlgorithm, Role, SrtpProfile};
use openssl::asn1::Asn1Time;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::{X509NameBuilder, X509};
use pair::{assert_matching_keys, context, has_keys, Impairment, Pair, Side};
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};

const SECOND: Duration = Duration::from_secs(1);

fn drain(dtls: &mut Dtls) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| dtls.poll_transmit()).collect()
}

fn events(dtls: &mut Dtls) -> Vec<Event> {
    std::iter::from_fn(|| dtls.poll_event()).collect()
}

/// The DTLS records of a datagram: (content type, epoch, 48-bit sequence number, body).
fn records(datagram: &[u8]) -> Vec<(u8, u16, u64, &[u8])> {
    let mut out = Vec::new();
    let mut rest = datagram;
    while !rest.is_empty() {
        let len = usize::from(u16::from_be_bytes([rest[11], rest[12]]));
        let mut seq = [0u8; 8];
        seq[2..].copy_from_slice(&rest[5..11]);
        out.push((
            rest[0],
            u16::from_be_bytes([rest[3], rest[4]]),
            u64::from_be_bytes(seq),
            &rest[13..13 + len],
        ));
        rest = &rest[13 + len..];
    }
    out
}

/// `again` resends what `first` carried, under new record sequence numbers (RFC 6347
/// §4.2.4: a retransmitted flight is new records with the same handshake messages).
fn assert_same_flight_new_sequence(first: &[Vec<u8>], again: &[Vec<u8>]) {
    let a: Vec<_> = first.iter().flat_map(|d| records(d)).collect();
    let b: Vec<_> = again.iter().flat_map(|d| records(d)).collect();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((x.0, x.1), (y.0, y.1), "same type and epoch");
        if x.1 == 0 {
            assert_eq!(x.3, y.3, "same plaintext handshake fragment");
        }
        assert!(y.2 > x.2, "fresh sequence number");
    }
}

fn assert_mtu(pair: &Pair, mtu: usize) {
    for d in pair.sent_by_client.iter().chain(&pair.sent_by_server) {
        assert!(d.len() <= mtu, "datagram of {} bytes exceeds the {mtu}-byte MTU", d.len());
    }
}

#[test]
fn handshake_gives_both_sides_matching_keys() {
    let client_ctx = context(|_| {});
    let server_ctx = context(|_| {});
    let mut pair = Pair::new(&client_ctx, &server_ctx);
    pair.connect();
    // Default preference: AES-128-GCM.
    assert_matching_keys(&pair, SrtpProfile::AEAD_AES_128_GCM);
    let peer_fp = |events: &[Event]| {
        events.iter().find_map(|e| match e {
            Event::Connected { peer_fingerprint, .. } => Some(peer_fingerprint.clone()),
            _ => None,
        })
    };
    assert!(peer_fp(&pair.client_events)
        .unwrap()
        .matches(server_ctx.config().certificate.fingerprint()));
    assert!(peer_fp(&pair.server_events)
        .unwrap()
        .matches(client_ctx.config().certificate.fingerprint()));
    // Flights 1, 4, 5, 6 and no retransmission on a clean network.
    assert_eq!(pair.client.stats().retransmissions, 0);
    assert_eq!(pair.server.stats().retransmissions, 0);
    assert!(pair.client.virtual_retransmission_clock());
    // Nothing is scheduled after the handshake.
    assert_eq!(pair.client.poll_timeout(), None);
    assert_eq!(pair.server.poll_timeout(), None);
    assert_mtu(&pair, 1200);
    assert!(pair.elapsed() < SECOND);
}

#[test]
fn each_profile_alone_is_negotiated() {
    for profile in [
        SrtpProfile::AEAD_AES_128_GCM,
        SrtpProfile::AEAD_AES_256_GCM,
        SrtpProfile::AES128_CM_SHA1_80,
    ] {
        let client_ctx = context(|c| c.srtp_profiles = vec![profile]);
        let server_ctx = context(|c| c.srtp_profiles = vec![profile]);
        let mut pair = Pair::new(&client_ctx, &server_ctx);
        pair.connect();
        assert_matching_keys(&pair, profile);
    }
}

#[test]
fn the_server_picks_by_its_own_preference() {
    let client_ctx = context(|c| {
        c.srtp_profiles = vec![
            SrtpProfile::AES128_CM_SHA1_80,
            SrtpProfile::AEAD_AES_256_GCM,
            SrtpProfile::AEAD_AES_128_GCM,
        ]
    });
    let server_ctx = context(|_| {});
    let mut pair = Pair::new(&client_ctx, &server_ctx);
    pair.connect();
    assert_matching_keys(&pair, SrtpProfile::AEAD_AES_128_GCM);

    let client_ctx = context(|_| {});
    let server_ctx = context(|c| {
        c.srtp_profiles = vec![SrtpProfile::AES128_CM_SHA1_80, SrtpProfile::AEAD_AES_256_GCM]
    });
    let mut pair = Pair::new(&client_ctx, &server_ctx);
    pair.connect();
    assert_matching_keys(&pair, SrtpProfile::AES128_CM_SHA1_80);
}

#[test]
fn no_common_srtp_profile_fails_without_keys() {
    let client_ctx = context(|c| c.srtp_profiles = vec![SrtpProfile::AES128_CM_SHA1_80]);
    let server_ctx = context(|c| c.srtp_profiles = vec![SrtpProfile::AEAD_AES_128_GCM]);
    let mut pair = Pair::new(&client_ctx, &server_ctx);
    pair.drive();
    assert!(pair.server_events.iter().any(|e| matches!(e, Event::Failed(Error::NoSrtpProfile))));
    assert!(pair
        .client_events
        .iter()
        .any(|e| matches!(e, Event::Failed(Error::NoSrtpProfile) | Event::Closed)));
    assert!(!has_keys(&pair.client_events) && !has_keys(&pair.server_events));
    assert!(pair.client.is_closed() && pair.server.is_closed());
}

#[test]
fn fingerprint_mismatch_fails_on_either_role() {
    let stranger = dtls::Certificate::generate().unwrap();
    for wrong_side in [Side::Server, Side::Client] {
        let client_ctx = context(|_| {});
        let server_ctx = context(|_| {});
        let mut client_expects = server_ctx.config().certificate.fingerprint().clone();
        let mut server_expects = client_ctx.config().certificate.fingerprint().clone();
        match wrong_side {
            Side::Server => server_expects = stranger.fingerprint().clone(),
            Side::Client => client_expects = stranger.fingerprint().clone(),
        }
        let mut pair = Pair::with_fingerprints(
            &client_ctx,
            &server_ctx,
            Instant::now(),
            client_expects,
            server_expects,
        );
        pair.drive();
        let (checker, other) = match wrong_side {
            Side::Server => (&pair.server_events, &pair.client_events),
            Side::Client => (&pair.client_events, &pair.server_events),
        };
        assert!(
            matches!(checker.as_slice(), [Event::Failed(Error::FingerprintMismatch)]),
            "{wrong_side:?}: {checker:?}"
        );
        // The other side learns from the alert, or at the latest from its deadline.
        assert!(matches!(other.as_slice(), [Event::Failed(_)]), "{wrong_side:?} peer: {other:?}");
        assert!(!has_keys(&pair.client_events) && !has_keys(&pair.server_events));
        assert!(pair.client.is_closed() && pair.server.is_closed());
        assert!(pair.elapsed() < SECOND, "the alert ends it at once: {:?}", pair.elapsed());
    }
}

#[test]
fn any_supported_hash_of_the_right_certificate_is_accepted() {
    for algorithm in [HashAlgorithm::Sha1, HashAlgorithm::Sha384, HashAlgorithm::Sha512] {
        let client_ctx = context(|_| {});
        let server_ctx = context(|_| {});
        let client_expects = server_ctx.config().certificate.fingerprint_with(algorithm).unwrap();
        // As it would come from SDP: lower case text.
        let server_expects: Fingerprint = client_ctx
            .config()
            .certificate
            .fingerprint_with(algorithm)
            .unwrap()
            .to_string()
            .to_ascii_lowercase()
            .parse()
            .unwrap();
        let mut pair = Pair::with_fingerprints(
            &client_ctx,
            &server_ctx,
            Instant::now(),
            client_expects,
            server_expects,
        );
        pair.connect();
        assert_matching_keys(&pair, SrtpProfile::AEAD_AES_128_GCM);
    }
}

/// 20% loss, 10% duplication and up to 80 ms of extra delay (which reorders), over 32
/// seeds, half of them with a ClientHello in three fragments. At this loss rate a flight of
/// five datagrams (OpenSSL resends each message of a flight in its own datagram) needs
/// several rounds, so the deadline is raised to 120 s: over 200 seeds the slowest handshake
/// took 41 s of virtual time, while with the default 30 s about 3% of them time out, which
/// is what the network makes of the RFC 6347 schedule, not a stall.
#[test]
fn lossy_reordering_duplicating_network_still_connects() {
    let deadline = Duration::from_secs(120);
    let mut retransmissions = 0;
    for seed in 0..32 {
        let big_hello = seed % 2 == 1;
        let client_ctx = context(|c| {
            c.handshake_timeout = deadline;
            if big_hello {
                c.alpn_protocols = large_alpn();
            }
        });
        let server_ctx = context(|c| c.handshake_timeout = deadline);
        let mut pair = Pair::new(&client_ctx, &server_ctx);
        pair.impairment = Some(Impairment::new(seed, 0.2, 0.1, Duration::from_millis(80)));
        pair.max_steps = 1_000;
        pair.connect();
        assert_matching_keys(&pair, SrtpProfile::AEAD_AES_128_GCM);
        assert!(pair.elapsed() < deadline, "seed {seed}: {:?}", pair.elapsed());
        assert_mtu(&pair, 1200);
        retransmissions +=
            pair.client.stats().retransmissions + pair.server.stats().retransmissions;
        // Application data flows afterwards over the same bad network (sent until one
        // copy arrives).
        let arrived = |p: &Pair| {
            p.server_events.iter().any(|e| matches!(e, Event::ApplicationData(d) if d == b"ping"))
        };
        for _ in 0..20 {
            pair.client.send_application_data(b"ping").unwrap();
            pair.drive();
            if arrived(&pair) {
                break;
            }
        }
        assert!(arrived(&pair), "seed {seed}");
    }
    assert!(retransmissions > 20, "loss was recovered by timer retransmissions");
}

/// Each flight of the handshake lost once, with every retransmission checked against the
/// virtual clock: RFC 6347 §4.2.4.1's 1 s initial timer, doubling, reset for a new flight,
/// and the last flight resent only when the peer resends its own.
#[test]
fn retransmissions_follow_the_virtual_clock() {
    let client_ctx = context(|_| {});
    let server_ctx = context(|_| {});
    let t0 = Instant::now();
    let mut client = Dtls::new(
        t0,
        &client_ctx,
        Role::Client,
        server_ctx.config().certificate.fingerprint().clone(),
    )
    .unwrap();
    let mut server = Dtls::new(
        t0,
        &server_ctx,
        Role::Server,
        client_ctx.config().certificate.fingerprint().clone(),
    )
    .unwrap();
    assert_eq!(server.poll_timeout(), Some(t0 + 30 * SECOND), "a server only has a deadline");

    // Flight 1, lost twice.
    let hello = drain(&mut client);
    assert_eq!(hello.len(), 1);
    assert_eq!(client.poll_timeout(), Some(t0 + SECOND));
    client.handle_timeout(t0 + SECOND - Duration::from_millis(1));
    assert!(drain(&mut client).is_empty(), "not before the deadline");
    // Input that OpenSSL reads while the flight is out does not resend it: a forged
    // protected record (buffered by OpenSSL as "next epoch", dropped when it fails to
    // decrypt after the switch).
    let mut forged = vec![23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 40];
    forged.extend_from_slice(&[0x5a; 40]);
    client.handle_receive(t0 + Duration::from_millis(500), &forged).unwrap();
    assert!(drain(&mut client).is_empty(), "reading never retransmits");
    client.handle_timeout(t0 + SECOND);
    let hello2 = drain(&mut client);
    assert_same_flight_new_sequence(&hello, &hello2);
    assert_eq!(client.poll_timeout(), Some(t0 + 3 * SECOND), "doubled to 2 s");
    client.handle_timeout(t0 + 3 * SECOND);
    let hello3 = drain(&mut client);
    assert_same_flight_new_sequence(&hello2, &hello3);
    assert_eq!(client.poll_timeout(), Some(t0 + 7 * SECOND), "doubled to 4 s");

    // The third copy arrives; flight 4 is lost once.
    let t1 = t0 + 3 * SECOND + Duration::from_millis(10);
    server.handle_receive(t1, &hello3[0]).unwrap();
    let flight4 = drain(&mut server);
    assert!(!flight4.is_empty());
    assert_eq!(server.poll_timeout(), Some(t1 + SECOND));
    server.handle_timeout(t1 + SECOND);
    let flight4b = drain(&mut server);
    assert_same_flight_new_sequence(&flight4, &flight4b);
    assert_eq!(server.poll_timeout(), Some(t1 + 3 * SECOND));

    // Flight 4 arrives: the client's flight 5 starts a fresh 1 s timer.
    let t2 = t1 + SECOND + Duration::from_millis(10);
    for d in &flight4b {
        client.handle_receive(t2, d).unwrap();
    }
    let flight5 = drain(&mut client);
    assert!(!flight5.is_empty());
    assert_eq!(client.poll_timeout(), Some(t2 + SECOND), "reset for a new flight");

    // Flight 5 arrives: the server is done and schedules nothing; flight 6 is lost.
    let t3 = t2 + Duration::from_millis(10);
    for d in &flight5 {
        server.handle_receive(t3, d).unwrap();
    }
    let flight6 = drain(&mut server);
    assert!(!flight6.is_empty());
    assert!(server.is_connected());
    assert_eq!(server.poll_timeout(), None);
    let server_events = events(&mut server);
    assert!(matches!(server_events.as_slice(), [Event::Connected { .. }]));

    // The client resends flight 5 on its timer; the server answers with flight 6 again.
    client.handle_timeout(t2 + SECOND);
    let flight5b = drain(&mut client);
    assert_same_flight_new_sequence(&flight5, &flight5b);
    let t4 = t2 + SECOND + Duration::from_millis(10);
    for d in &flight5b {
        server.handle_receive(t4, d).unwrap();
    }
    let flight6b = drain(&mut server);
    assert_same_flight_new_sequence(&flight6, &flight6b);
    assert!(events(&mut server).is_empty(), "no second Connected");
    for d in &flight6b {
        client.handle_receive(t4 + Duration::from_millis(10), d).unwrap();
    }
    let client_events = events(&mut client);
    let (Event::Connected { srtp: c, .. }, Event::Connected { srtp: s, .. }) =
        (&client_events[0], &server_events[0])
    else {
        panic!("{client_events:?}");
    };
    assert_eq!(c.local_key, s.remote_key);
    assert_eq!(c.remote_key, s.local_key);
    assert_eq!(client.poll_timeout(), None);
    assert_eq!(client.stats().retransmissions, 3);
    assert_eq!(server.stats().retransmissions, 1);
}

#[test]
fn handshake_deadline_fails_the_connection() {
    let client_ctx = context(|_| {});
    let server_ctx = context(|_| {});
    let t0 = Instant::now();
    let fp = server_ctx.config().certificate.fingerprint().clone();
    let mut client = Dtls::new(t0, &client_ctx, Role::Client, fp.clone()).unwrap();
    let mut sent = drain(&mut client).len();
    let mut fired = Vec::new();
    while let Some(at) = client.poll_timeout() {
        client.handle_timeout(at);
        fired.push(at - t0);
        sent += drain(&mut client).len();
    }
    // Retransmissions at 1, 3, 7 and 15 s; the next (31 s) is past the 30 s deadline.
    let secs = |s: &[u64]| s.iter().map(|&s| Duration::from_secs(s)).collect::<Vec<_>>();
    assert_eq!(fired, secs(&[1, 3, 7, 15, 30]));
    assert_eq!(sent, 5);
    assert_eq!(client.stats().retransmissions, 4);
    assert!(
        matches!(events(&mut client).as_slice(), [Event::Failed(Error::HandshakeTimeout(d))] if *d == 30 * SECOND)
    );
    assert!(client.is_closed());
    assert!(matches!(client.handle_receive(t0, &[22]), Err(Error::Closed)));

    // A server that never hears a ClientHello fails at its deadline too.
    let mut server = Dtls::new(t0, &server_ctx, Role::Server, fp).unwrap();
    server.handle_timeout(t0 + 30 * SECOND - Duration::from_nanos(1));
    assert!(events(&mut server).is_empty());
    server.handle_timeout(t0 + 30 * SECOND);
    assert!(matches!(events(&mut server).as_slice(), [Event::Failed(Error::HandshakeTimeout(_))]));
}

/// A self-signed certificate made large (about 4 kB) by many subjectAltNames, so that the
/// server's Certificate message needs several fragments.
fn large_certificate() -> dtls::Certificate {
    let key = PKey::from_ec_key(
        EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
    )
    .unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, "WebRTC").unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap()).unwrap();
    let mut san = SubjectAlternativeName::new();
    for i in 0..120 {
        san.dns(&format!("host-{i:03}.a-rather-long-domain-name.example"));
    }
    let ext = san.build(&b.x509v3_context(None, None)).unwrap();
    b.append_extension(ext).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let x509 = b.build();
    assert!(x509.to_der().unwrap().len() > 4000);
    dtls::Certificate::from_pem(&x509.to_pem().unwrap(), &key.private_key_to_pem_pkcs8().unwrap())
        .unwrap()
}

#[test]
fn no_datagram_exceeds_the_mtu_with_a_large_certificate() {
    let big = large_certificate();
    for mtu in [1200, 600] {
        let client_ctx = context(|c| {
            c.mtu = mtu;
            c.certificate = large_certificate();
        });
        let server_ctx = context(|c| {
            c.mtu = mtu;
            c.certificate = big.clone();
        });
        let mut pair = Pair::new(&client_ctx, &server_ctx);
        pair.connect();
        assert_matching_keys(&pair, SrtpProfile::AEAD_AES_128_GCM);
        assert_mtu(&pair, mtu);
        // The certificate flights really were fragmented.
        assert!(pair.sent_by_server.len() >= 4000 / mtu, "{}", pair.sent_by_server.len());
        assert!(pair.sent_by_client.len() >= 4000 / mtu);
        // Full-size application data still fits.
        let max = pair.client.max_application_data_len();
        assert!(max > mtu - 64 && max < mtu, "{max}");
        pair.client.send_application_data(&vec![7; max]).unwrap();
        pair.server.send_application_data(&vec![8; max]).unwrap();
        assert!(matches!(
            pair.client.send_application_data(&vec![7; max + 1]),
            Err(Error::ApplicationDataTooLarge { .. })
        ));
        pair.drive();
        assert_mtu(&pair, mtu);
        assert!(pair
            .server_events
            .iter()
            .any(|e| matches!(e, Event::ApplicationData(d) if d.len() == max)));
        assert!(pair
            .client_events
            .iter()
            .any(|e| matches!(e, Event::ApplicationData(d) if d.len() == max)));
    }
}

/// ALPN ids (RFC 7301) long enough to push the ClientHello well past 1200 bytes, as
/// Firefox's post-quantum key share does.
fn large_alpn() -> Vec<Vec<u8>> {
    (0..12u8).map(|i| vec![b'a' + i; 200]).collect()
}

#[test]
fn a_client_hello_split_over_datagrams_is_reassembled_in_any_order() {
    for reverse in [false, true] {
        let client_ctx = context(|c| c.alpn_protocols = large_alpn());
        let server_ctx = context(|_| {});
        let mut pair = Pair::new(&client_ctx, &server_ctx);
        let hello = drain(&mut pair.client);
        assert!(hello.len() >= 2, "ClientHello in {} datagrams", hello.len());
        assert!(hello.iter().all(|d| d.len() <= 1200));
        assert!(hello.iter().map(Vec::len).sum::<usize>() > 2400);
        // Every datagram is a fragment of the one ClientHello (message_seq 0).
        for d in &hello {
            for (content_type, epoch, _, body) in records(d) {
                assert_eq!((content_type, epoch, body[0], &body[4..6]), (22, 0, 1, &[0, 0][..]));
            }
        }
        let order: Vec<&Vec<u8>> =
            if reverse { hello.iter().rev().collect() } else { hello.iter().collect() };
        for d in order {
            pair.deliver(Side::Server, d);
        }
        pair.sent_by_client.extend(hello);
        pair.connect();
        assert_matching_keys(&pair, SrtpProfile::AEAD_AES_128_GCM);
        assert_eq!(pair.client.stats().retransmissions, 0);
    }
}

/// Fragments lost from one transmission are filled in from a retransmission: OpenSSL's
/// reassembly works by byte ranges of message_seq 0, whatever record carried them.
#[test]
fn client_hello_fragments_from_different_transmissions_combine() {
    let client_ctx = context(|c| c.alpn_protocols = large_alpn());
    let server_ctx = context(|_| {});
    let t0 = Instant::now();
    let server_fp = server_ctx.config().certificate.fingerprint().clone();
    let client_fp = client_ctx.config().certificate.fingerprint().clone();
    let mut client = Dtls::new(t0, &client_ctx, Role::Client, server_fp).unwrap();
    let first = drain(&mut client);
    client.handle_timeout(t0 + SECOND);
    let second = drain(&mut client);
    assert_eq!(first.len(), 3);
    assert_eq!(second.len(), 3);
    for pick in [[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 1, 0]] {
        let mut server = Dtls::new(t0, &server_ctx, Role::Server, client_fp.clone()).unwrap();
        for (i, &from) in pick.iter().enumerate().rev() {
            let source = if from == 0 { &first } else { &second };
            server.handle_receive(t0 + SECOND, &source[i]).unwrap();
        }
        assert!(!drain(&mut server).is_empty(), "{pick:?}: the ClientHello was answered");
        assert!(events(&mut server).is_empty());
    }
}

#[test]
fn application_data_both_ways_then_close_notify() {
    let client_ctx = context(|_| {});
    let server_ctx = context(|_| {});
    let mut pair = Pair::new(&client_ctx, &server_ctx);
    assert!(matches!(pair.client.send_application_data(b"early"), Err(Error::NotConnected)));
    assert_eq!(pair.client.max_application_data_len(), 0);
    pair.connect();

    for i in 0..5u8 {
        pair.client.send_application_data(&[i; 100]).unwrap();
        pair.server.send_application_data(&[i + 100; 300]).unwrap();
    }
    pair.client.send_application_data(&[]).unwrap();
    pair.drive();
    let data = |events: &[Event]| -> Vec<Vec<u8>> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::ApplicationData(d) => Some(d.clone()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(data(&pair.server_events), (0..5u8).map(|i| vec![i; 100]).collect::<Vec<_>>());
    assert_eq!(data(&pair.client_events), (0..5u8).map(|i| vec![i + 100; 300]).collect::<Vec<_>>());
    // Connected comes first, and exactly once.
    for events in [&pair.client_events, &pair.server_events] {
        assert!(matches!(events.first(), Some(Event::Connected { .. })));
        assert_eq!(events.iter().filter(|e| matches!(e, Event::Connected { .. })).count(), 1);
    }

    pair.client.close();
    assert!(pair.client.is_closed());
    assert!(matches!(pair.client.send_application_data(b"late"), Err(Error::Closed)));
    pair.drive();
    assert!(matches!(pair.server_events.last(), Some(Event::Closed)));
    assert!(pair.server.is_closed());
    assert!(matches!(pair.server.send_application_data(b"late"), Err(Error::Closed)));
    // The server's own close_notify reached a client that had already stopped.
    assert_eq!(pair.client.stats().inactive_dropped, 1);
    assert!(!pair.client_events.iter().any(|e| matches!(e, Event::Closed)));
}

#[test]
fn closing_during_the_handshake_stops_it() {
    let client_ctx = context(|_| {});
    let server_ctx = context(|_| {});
    let mut pair = Pair::new(&client_ctx, &server_ctx);
    pair.client.close();
    assert!(pair.client.is_closed());
    assert_eq!(pair.client.poll_timeout(), None);
    pair.drive();
    assert!(!pair.server.is_connected());
    // The server's flight 4 went unanswered until its deadline.
    assert!(matches!(pair.server_events.as_slice(), [Event::Failed(Error::HandshakeTimeout(_))]));
    assert!(pair.client.stats().inactive_dropped > 0);
    assert!(!has_keys(&pair.client_events) && !has_keys(&pair.server_events));
}

/// Random datagrams of three kinds: raw random bytes, random records behind plausible DTLS
/// headers (epoch 0 and 1, every content type, bodies of 3 bytes or more), and truncated
/// random records.
fn garbage(rng: &mut SmallRng) -> Vec<u8> {
    let len = rng.gen_range(0..1400);
    let mut d = vec![0u8; len];
    rng.fill_bytes(&mut d);
    match rng.gen_range(0..3) {
        0 => d,
        kind => {
            let body = rng.gen_range(3..600usize);
            let mut r = vec![rng.gen_range(20..=23), 0xfe, 0xfd, 0, rng.gen_range(0..=1)];
            r.extend_from_slice(&rng.gen::<[u8; 6]>());
            r.extend_from_slice(&u16::try_from(body).unwrap().to_be_bytes());
            r.extend((0..body).map(|_| rng.gen::<u8>()));
            if kind == 2 {
                r.truncate(rng.gen_range(0..r.len()));
            }
            r
        }
    }
}

#[test]
fn garbage_before_during_and_after_the_handshake_changes_nothing() {
    for seed in 0..6 {
        let mut rng = SmallRng::seed_from_u64(1000 + seed);
        let client_ctx = context(|_| {});
        let server_ctx = context(|_| {});
        let mut pair = Pair::new(&client_ctx, &server_ctx);
        let inject = |pair: &mut Pair, rng: &mut SmallRng, n: usize| {
            for _ in 0..n {
                let side = if rng.gen() { Side::Client } else { Side::Server };
                pair.deliver(side, &garbage(rng));
            }
        };
        // Before: the server has not seen a ClientHello yet, the client awaits flight 4.
        inject(&mut pair, &mut rng, 200);
        assert!(pair.server.poll_transmit().is_none(), "garbage made the server speak");
        // During: garbage between every step.
        while !(pair.client.is_connected() && pair.server.is_connected()) {
            inject(&mut pair, &mut rng, 5);
            assert!(pair.step());
            assert!(!pair.client.is_closed() && !pair.server.is_closed());
        }
        assert!(pair.steps() < 100, "{} steps", pair.steps());
        assert_matching_keys(&pair, SrtpProfile::AEAD_AES_128_GCM);
        assert_eq!(pair.client.stats().retransmissions, 0, "garbage caused no resend");
        // After: garbage, then application data still flows both ways.
        inject(&mut pair, &mut rng, 200);
        pair.client.send_application_data(b"still here").unwrap();
        pair.server.send_application_data(b"me too").unwrap();
        pair.drive();
        let got = |events: &[Event], want: &[u8]| {
            events.iter().any(|e| matches!(e, Event::ApplicationData(d) if d == want))
        };
        assert!(got(&pair.server_events, b"still here"));
        assert!(got(&pair.client_events, b"me too"));
        assert!(pair.client.is_connected() && pair.server.is_connected());
        assert!(pair.client.stats().malformed_dropped > 100);
        assert!(pair.server.stats().malformed_dropped > 100);
        let failed = pair.client_events.iter().chain(&pair.server_events);
        assert!(!failed.into_iter().any(|e| matches!(e, Event::Failed(_))));
    }
}

/// Damaged copies of genuine handshake datagrams (bit flips, truncation, splices) fed to
/// fresh machines in both roles and at every stage. A damaged epoch-0 handshake message may
/// legitimately fail a handshake (it is unauthenticated by design); what must never happen
/// is a panic, or keys that do not match.
#[test]
fn damaged_genuine_datagrams_never_panic() {
    let client_ctx = context(|_| {});
    let server_ctx = context(|_| {});
    let mut reference = Pair::new(&client_ctx, &server_ctx);
    reference.connect();
    reference.client.send_application_data(b"data").unwrap();
    reference.drive();
    let genuine: Vec<Vec<u8>> =
        reference.sent_by_client.iter().chain(&reference.sent_by_server).cloned().collect();
    let mut rng = SmallRng::seed_from_u64(8);
    for round in 0..150 {
        let mut pair = Pair::new(&client_ctx, &server_ctx);
        for _ in 0..round % 4 {
            pair.step();
        }
        for _ in 0..10 {
            let mut d = genuine[rng.gen_range(0..genuine.len())].clone();
            match rng.gen_range(0..3) {
                0 => {
                    let i = rng.gen_range(0..d.len());
                    d[i] ^= 1 << rng.gen_range(0..8);
                }
                1 => d.truncate(rng.gen_range(0..d.len())),
                _ => {
                    let other = &genuine[rng.gen_range(0..genuine.len())];
                    d.truncate(rng.gen_range(0..d.len()));
                    d.extend_from_slice(&other[rng.gen_range(0..other.len())..]);
                }
            }
            let side = if rng.gen() { Side::Client } else { Side::Server };
            pair.deliver(side, &d);
        }
        pair.drive();
        if pair.client.is_connected() && pair.server.is_connected() {
            assert_matching_keys(&pair, SrtpProfile::AEAD_AES_128_GCM);
        }
    }
}

#[test]
fn config_defaults_follow_rfc6347_and_webrtc_practice() {
    let c = DtlsConfig::new(dtls::Certificate::generate().unwrap());
    assert_eq!(c.mtu, dtls::DEFAULT_MTU);
    assert_eq!(c.handshake_timeout, 30 * SECOND);
    assert_eq!(c.initial_retransmit_timeout, SECOND);
    assert_eq!(c.max_retransmit_timeout, 60 * SECOND);
    assert!(c.require_extended_master_secret);
    assert_eq!(c.srtp_profiles, SrtpProfile::DEFAULT_PREFERENCE);
}
