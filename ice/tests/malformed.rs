//! Garbage, truncated and mutated STUN never panics and never creates state: only a valid
//! check may learn a pair, select one or raise an event.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ice::{
    CandidatePair, ConnectionState, ControllingConfig, Credentials, IceConfig, IceControllingAgent,
    IceControllingClient, IceLiteAgent,
};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use stun::attributes::{IceControlling, Priority, UseCandidate, Username};
use stun::{MessageType, MessageWriter, TransactionId};

const SFU_UFRAG: &str = "sfuUfragAAAAAAAA";
const SFU_PWD: &str = "sfuPasswordBBBBBBBBBBBBBBBBBBBBB";
const BROWSER_UFRAG: &str = "h6vY";
const BROWSER_PWD: &str = "VOkJxbRl1RmTxUk/WvJxBt";

fn local() -> SocketAddr {
    "192.0.2.10:443".parse().unwrap()
}

fn remote() -> SocketAddr {
    "198.51.100.7:50000".parse().unwrap()
}

fn agent() -> IceLiteAgent {
    IceLiteAgent::new(
        IceConfig::default(),
        Credentials::new(SFU_UFRAG, SFU_PWD).unwrap(),
        Some(Credentials::new(BROWSER_UFRAG, BROWSER_PWD).unwrap()),
    )
}

/// A valid nominating check, as a browser sends it.
fn valid_check() -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = MessageWriter::new(&mut out, MessageType::BINDING_REQUEST, TransactionId([9; 12]));
    w.add(&Username(&format!("{SFU_UFRAG}:{BROWSER_UFRAG}"))).unwrap();
    w.add(&Priority(0x6e00_01ff)).unwrap();
    w.add(&IceControlling(42)).unwrap();
    w.add(&UseCandidate).unwrap();
    w.add_message_integrity(SFU_PWD.as_bytes()).unwrap();
    w.add_fingerprint().unwrap();
    out
}

/// Feeds `datagram` to a fresh agent and checks that nothing but (at most) one error
/// response came out.
fn assert_no_state(datagram: &[u8]) {
    let mut agent = agent();
    let now = Instant::now();
    agent.handle_receive(now, local(), remote(), datagram);
    agent.handle_timeout(now + Duration::from_secs(60));
    assert_eq!(agent.pairs().count(), 0);
    assert_eq!(agent.selected_pair(), None);
    assert_eq!(agent.state(), ConnectionState::New);
    assert_eq!(agent.poll_event(), None);
    assert_eq!(agent.poll_timeout(), None);
    assert!(!agent.dtls_client_hello_from(now, local(), remote()));
    assert_eq!(agent.stats().checks_accepted, 0);
    if let Some(response) = agent.poll_transmit() {
        let m = stun::Message::parse(&response.datagram).expect("responses are well-formed");
        assert_eq!(m.message_type(), MessageType::BINDING_ERROR);
        m.verify_fingerprint().unwrap();
    }
    assert_eq!(agent.poll_transmit(), None);
    // The static helpers must not panic either, and cannot authenticate it.
    let _ = ice::local_ufrag(datagram);
    let sfu = Credentials::new(SFU_UFRAG, SFU_PWD).unwrap();
    assert!(ice::verify_check(datagram, &sfu).is_err());
}

/// A client in the middle of checking must not panic on garbage either.
fn feed_client(datagram: &[u8]) {
    let mut rng = StdRng::seed_from_u64(0);
    let now = Instant::now();
    let mut client = IceControllingClient::new(
        now,
        ControllingConfig::default(),
        Credentials::new(BROWSER_UFRAG, BROWSER_PWD).unwrap(),
        Credentials::new(SFU_UFRAG, SFU_PWD).unwrap(),
        CandidatePair { local: remote(), remote: local() },
        &mut rng,
    )
    .unwrap();
    client.handle_receive(now, remote(), local(), datagram);
    assert_eq!(client.selected_pair(), None);
    assert_eq!(client.poll_event(), None);

    // The controlling agent of third-party sessions likewise, with two pairs in its list.
    let other: SocketAddr = "198.51.100.8:50000".parse().unwrap();
    let mut agent = IceControllingAgent::new(
        now,
        ControllingConfig::default(),
        Credentials::new(BROWSER_UFRAG, BROWSER_PWD).unwrap(),
        Credentials::new(SFU_UFRAG, SFU_PWD).unwrap(),
        [
            CandidatePair { local: remote(), remote: local() },
            CandidatePair { local: remote(), remote: other },
        ],
        &mut rng,
    )
    .unwrap();
    while agent.poll_event().is_some() {}
    agent.handle_receive(now, remote(), local(), datagram);
    assert_eq!(agent.selected_pair(), None);
    assert_eq!(agent.state(), ConnectionState::New);
    assert_eq!(agent.poll_event(), None);
}

#[test]
fn the_valid_check_is_valid() {
    // The baseline the mutations start from really is accepted.
    let mut agent = agent();
    agent.handle_receive(Instant::now(), local(), remote(), &valid_check());
    assert_eq!(agent.stats().checks_accepted, 1);
    assert_eq!(agent.selected_pair().map(|p| p.remote), Some(remote()));
}

/// Whether `mutated` still is an authentic check: everything MESSAGE-INTEGRITY covers is
/// intact. That happens when only what follows MESSAGE-INTEGRITY changed, e.g. FINGERPRINT's
/// type, which turns it into an unknown attribute after MESSAGE-INTEGRITY that RFC 8489 §14.5
/// says to ignore.
fn still_authentic(mutated: &[u8]) -> bool {
    let sfu = Credentials::new(SFU_UFRAG, SFU_PWD).unwrap();
    let check = valid_check();
    // FINGERPRINT is the last 8 bytes; MESSAGE-INTEGRITY covers everything before it but the
    // header's length field.
    let covered = check.len() - 8;
    let intact =
        mutated.get(..2) == check.get(..2) && mutated.get(4..covered) == check.get(4..covered);
    let authentic = ice::verify_check(mutated, &sfu).is_ok();
    assert!(!authentic || intact, "authentic although the covered bytes changed");
    authentic
}

#[test]
fn every_single_bit_flip_of_a_valid_check_is_refused() {
    let check = valid_check();
    let mut still_valid = Vec::new();
    for i in 0..check.len() {
        for bit in 0..8 {
            let mut mutated = check.clone();
            mutated[i] ^= 1 << bit;
            feed_client(&mutated);
            if still_authentic(&mutated) {
                still_valid.push(i);
                continue;
            }
            assert_no_state(&mutated);
        }
    }
    // Only flips in FINGERPRINT's type leave an authentic check; every flip before it
    // (header, USERNAME, PRIORITY, ICE-CONTROLLING, USE-CANDIDATE, MESSAGE-INTEGRITY) and in
    // FINGERPRINT's length and value is refused.
    let fingerprint_type = check.len() - 8..check.len() - 6;
    assert!(!still_valid.is_empty());
    assert!(still_valid.iter().all(|i| fingerprint_type.contains(i)), "{still_valid:?}");
}

#[test]
fn every_truncation_and_extension_is_refused() {
    let check = valid_check();
    for cut in 0..check.len() {
        assert_no_state(&check[..cut]);
        feed_client(&check[..cut]);
    }
    for extra in 1..=8 {
        let mut longer = check.clone();
        longer.extend(std::iter::repeat_n(0, extra));
        assert_no_state(&longer);
        // Lengthen the header too: the attributes are then judged, and still refused.
        let len = u16::try_from(longer.len() - stun::HEADER_LEN).unwrap();
        longer[2..4].copy_from_slice(&len.to_be_bytes());
        assert_no_state(&longer);
    }
}

#[test]
fn seeded_random_mutations_are_refused() {
    let check = valid_check();
    let mut rng = StdRng::seed_from_u64(0x1ce);
    for _ in 0..20_000 {
        let mut mutated = check.clone();
        for _ in 0..rng.gen_range(1..=6) {
            let i = rng.gen_range(0..mutated.len());
            match rng.gen_range(0..4) {
                0 => mutated[i] ^= rng.gen_range(1..=255u8),
                1 => mutated[i] = rng.gen(),
                2 => mutated.truncate(i),
                _ => mutated.insert(i, rng.gen()),
            }
            if mutated.is_empty() {
                break;
            }
        }
        if still_authentic(&mutated) {
            continue;
        }
        assert_no_state(&mutated);
    }
}

/// A STUN header whose length matches `body`, so that the attribute parser gets to work.
fn with_stun_header(message_type: u16, body: &[u8]) -> Vec<u8> {
    let mut out = message_type.to_be_bytes().to_vec();
    let len = u16::try_from(body.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&stun::MAGIC_COOKIE.to_be_bytes());
    out.extend_from_slice(&[7; 12]);
    out.extend_from_slice(body);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        assert_no_state(&data);
        feed_client(&data);
    }

    #[test]
    fn random_attributes_behind_a_valid_header(
        message_type in prop_oneof![
            Just(0x0001u16), Just(0x0101), Just(0x0111), Just(0x0011), any::<u16>()
        ],
        body in proptest::collection::vec(any::<u8>(), 0..300).prop_map(|mut b| {
            b.truncate(b.len() / 4 * 4);
            b
        }),
    ) {
        let datagram = with_stun_header(message_type, &body);
        assert_no_state(&datagram);
        feed_client(&datagram);
    }

    #[test]
    fn random_attribute_lists(
        attrs in proptest::collection::vec(
            (prop_oneof![
                Just(0x0006u16), Just(0x0008), Just(0x0024), Just(0x0025), Just(0x8028),
                Just(0x8029), Just(0x802A), Just(0x001C), any::<u16>()
            ], proptest::collection::vec(any::<u8>(), 0..40)),
            0..8,
        ),
    ) {
        // Well-formed TLVs with random types and values: parses, then must be refused.
        let mut body = Vec::new();
        for (t, v) in &attrs {
            body.extend_from_slice(&t.to_be_bytes());
            body.extend_from_slice(&u16::try_from(v.len()).unwrap().to_be_bytes());
            body.extend_from_slice(v);
            body.resize(body.len().next_multiple_of(4), 0);
        }
        let datagram = with_stun_header(0x0001, &body);
        assert_no_state(&datagram);
        feed_client(&datagram);
    }
}
