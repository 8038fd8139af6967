//! DTLS 1.2 record headers (RFC 6347 §4.1), read only to screen a datagram before OpenSSL
//! sees it.
//!
//! OpenSSL silently discards most invalid records, as RFC 6347 §4.1.2.7 asks, but a few
//! well-formed yet impossible records are fatal to a handshake in progress (an epoch-0
//! application-data record is an "unexpected record"; a bad ChangeCipherSpec is an illegal
//! parameter). No genuine peer sends those, so a datagram that holds one is dropped here and
//! the handshake is not disturbed by an off-path forger or a stray packet.
//!
//! Protected records (epoch 1) are screened by length: OpenSSL 3.0 fails the whole
//! connection, without even an error on its queue, when a record of epoch 1 is shorter than
//! the AEAD overhead (8-byte explicit nonce and 16-byte tag for AES-GCM, 16-byte tag for
//! ChaCha20-Poly1305), where RFC 6347 §4.1.2.7 says such a record is to be discarded. Only
//! epochs 0 and 1 exist without renegotiation; later epochs would only sit in OpenSSL's
//! buffer for "next epoch" records.

/// `DTLSPlaintext` header: type, version, epoch, sequence_number, length.
pub(crate) const HEADER_LEN: usize = 13;
/// Handshake fragment header (RFC 6347 §4.2.2): msg_type, length, message_seq,
/// fragment_offset, fragment_length.
const HANDSHAKE_HEADER_LEN: usize = 12;
/// `DTLSCiphertext.length` may not exceed 2^14 + 2048 (RFC 6347 §4.1, RFC 5246 §6.2.3).
const MAX_RECORD_BODY: usize = (1 << 14) + 2048;

/// The record content type (RFC 5246 §6.2.1). Open, like every wire enum of the project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ContentType(pub(crate) u8);

impl ContentType {
    pub(crate) const CHANGE_CIPHER_SPEC: ContentType = ContentType(20);
    pub(crate) const ALERT: ContentType = ContentType(21);
    pub(crate) const HANDSHAKE: ContentType = ContentType(22);
    pub(crate) const APPLICATION_DATA: ContentType = ContentType(23);
}

/// One record of a datagram, borrowed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Record<'a> {
    pub(crate) content_type: ContentType,
    pub(crate) version: u16,
    pub(crate) epoch: u16,
    pub(crate) body: &'a [u8],
}

impl<'a> Record<'a> {
    /// Reads the record at the start of `input`; returns it and what follows.
    pub(crate) fn parse(input: &'a [u8]) -> Result<(Record<'a>, &'a [u8]), &'static str> {
        let (header, rest) =
            input.split_at_checked(HEADER_LEN).ok_or("truncated DTLS record header")?;
        let &[content_type, v0, v1, e0, e1, _, _, _, _, _, _, l0, l1] = header else {
            return Err("truncated DTLS record header");
        };
        let length = usize::from(u16::from_be_bytes([l0, l1]));
        if length > MAX_RECORD_BODY {
            return Err("DTLS record longer than 2^14 + 2048");
        }
        let (body, rest) = rest.split_at_checked(length).ok_or("truncated DTLS record body")?;
        let record = Record {
            content_type: ContentType(content_type),
            version: u16::from_be_bytes([v0, v1]),
            epoch: u16::from_be_bytes([e0, e1]),
            body,
        };
        Ok((record, rest))
    }
}

/// The versions a DTLS 1.2 peer puts in record headers: 1.2, and 1.0 in a first
/// ClientHello (RFC 6347 §4.1).
const DTLS_1_0: u16 = 0xfeff;
const DTLS_1_2: u16 = 0xfefd;

/// The AEAD overhead of a protected record with AES-GCM (RFC 5288 §3: 8-byte explicit nonce,
/// 16-byte tag), the larger of our two cipher families.
pub(crate) const GCM_OVERHEAD: usize = 24;
/// The AEAD overhead with ChaCha20-Poly1305 (RFC 7905 §2: 16-byte tag, implicit nonce).
pub(crate) const CHACHA20_POLY1305_OVERHEAD: usize = 16;

/// Checks that `datagram` is one or more whole DTLS records (RFC 6347 §4.1: several records
/// may share a datagram, none may span two), that nothing in epoch 0, where records are
/// unauthenticated, is impossible for a genuine peer, and that every protected record is at
/// least `protected_overhead` bytes (the AEAD nonce and tag of the negotiated cipher).
pub(crate) fn screen(datagram: &[u8], protected_overhead: usize) -> Result<(), &'static str> {
    if datagram.is_empty() {
        return Err("empty datagram");
    }
    let mut rest = datagram;
    while !rest.is_empty() {
        let (record, next) = Record::parse(rest)?;
        rest = next;
        if record.version != DTLS_1_2 && record.version != DTLS_1_0 {
            return Err("not a DTLS 1.0/1.2 record version");
        }
        match record.content_type {
            ContentType::CHANGE_CIPHER_SPEC
            | ContentType::ALERT
            | ContentType::HANDSHAKE
            | ContentType::APPLICATION_DATA => {}
            _ => return Err("unknown DTLS content type"),
        }
        match record.epoch {
            0 => screen_plaintext(&record)?,
            1 if record.body.len() < protected_overhead => {
                return Err("protected record shorter than its AEAD nonce and tag");
            }
            1 => {}
            _ => return Err("epoch beyond 1 without renegotiation"),
        }
    }
    Ok(())
}

/// Epoch 0 carries plaintext, so its content can be checked.
fn screen_plaintext(record: &Record<'_>) -> Result<(), &'static str> {
    match record.content_type {
        // RFC 5246 §7.1: the ChangeCipherSpec message is the single byte 1.
        ContentType::CHANGE_CIPHER_SPEC if record.body != [1] => {
            Err("ChangeCipherSpec is not the single byte 1")
        }
        // RFC 5246 §7.2: AlertLevel (1 warning, 2 fatal) and AlertDescription.
        ContentType::ALERT if !matches!(record.body, [1 | 2, _]) => Err("malformed alert"),
        // Application data is always protected (RFC 6347 §4.1: epoch 0 is the null cipher
        // of the initial handshake only).
        ContentType::APPLICATION_DATA => Err("application data in epoch 0"),
        ContentType::HANDSHAKE => screen_handshake_fragments(record.body),
        _ => Ok(()),
    }
}

/// A handshake record holds whole fragments (RFC 6347 §4.2.2, §4.2.3), each inside the
/// message it belongs to.
fn screen_handshake_fragments(mut body: &[u8]) -> Result<(), &'static str> {
    if body.is_empty() {
        return Err("empty handshake record");
    }
    while !body.is_empty() {
        let (header, rest) = body
            .split_at_checked(HANDSHAKE_HEADER_LEN)
            .ok_or("truncated handshake fragment header")?;
        let &[_, m0, m1, m2, _, _, o0, o1, o2, f0, f1, f2] = header else {
            return Err("truncated handshake fragment header");
        };
        let message_len = u32::from_be_bytes([0, m0, m1, m2]);
        let offset = u32::from_be_bytes([0, o0, o1, o2]);
        let fragment_len = u32::from_be_bytes([0, f0, f1, f2]);
        if offset.checked_add(fragment_len).is_none_or(|end| end > message_len) {
            return Err("handshake fragment outside its message");
        }
        let fragment_len = usize::try_from(fragment_len).map_err(|_| "fragment too long")?;
        body = rest.get(fragment_len..).ok_or("handshake fragment longer than its record")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rand::{Rng, RngCore, SeedableRng};

    use super::*;

    fn record(content_type: u8, version: u16, epoch: u16, body: &[u8]) -> Vec<u8> {
        let mut out = vec![content_type];
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(&epoch.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0, 0, 7]);
        out.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    fn fragment(msg_type: u8, message_len: u32, offset: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![msg_type];
        out.extend_from_slice(&message_len.to_be_bytes()[1..]);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&offset.to_be_bytes()[1..]);
        out.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes()[1..]);
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn parses_the_header_fields() {
        let bytes = record(22, DTLS_1_2, 1, b"abc");
        let (r, rest) = Record::parse(&bytes).unwrap();
        assert_eq!(r.content_type, ContentType::HANDSHAKE);
        assert_eq!(r.version, 0xfefd);
        assert_eq!(r.epoch, 1);
        assert_eq!(r.body, b"abc");
        assert!(rest.is_empty());
    }

    #[test]
    fn accepts_genuine_flights() {
        // A ClientHello fragment in a DTLS 1.0 record, then CCS and an encrypted Finished
        // and application data in one datagram.
        let mut datagram = record(22, DTLS_1_0, 0, &fragment(1, 300, 0, &[0; 100]));
        datagram.extend(record(22, DTLS_1_2, 0, &fragment(1, 300, 100, &[0; 200])));
        datagram.extend(record(20, DTLS_1_2, 0, &[1]));
        datagram.extend(record(22, DTLS_1_2, 1, &[0x55; 40]));
        datagram.extend(record(23, DTLS_1_2, 1, &[0x66; GCM_OVERHEAD]));
        datagram.extend(record(23, DTLS_1_2, 1, &[0x66; 100]));
        datagram.extend(record(21, DTLS_1_2, 0, &[2, 40]));
        assert_eq!(screen(&datagram, GCM_OVERHEAD), Ok(()));
        // Two messages in one record, one of them empty (ServerHelloDone).
        let mut two = fragment(12, 20, 0, &[1; 20]);
        two.extend(fragment(14, 0, 0, &[]));
        assert_eq!(screen(&record(22, DTLS_1_2, 0, &two), GCM_OVERHEAD), Ok(()));
    }

    #[test]
    fn rejects_impossible_records() {
        let cases: [(&str, Vec<u8>); 14] = [
            ("short protected record", record(23, DTLS_1_2, 1, &[0; 23])),
            ("short protected handshake", record(22, DTLS_1_2, 1, &[0; 1])),
            ("epoch 2", record(23, DTLS_1_2, 2, &[0; 40])),
            ("empty", vec![]),
            ("short header", vec![22, 0xfe, 0xfd, 0, 0]),
            ("body overruns", {
                let mut r = record(22, DTLS_1_2, 1, &[0; 10]);
                r.truncate(20);
                r
            }),
            ("trailing bytes", {
                let mut r = record(23, DTLS_1_2, 1, &[0; 10]);
                r.push(0);
                r
            }),
            ("TLS version", record(22, 0x0303, 1, &[0; 4])),
            ("heartbeat", record(24, DTLS_1_2, 1, &[0; 4])),
            ("epoch-0 app data", record(23, DTLS_1_2, 0, &[0; 4])),
            ("bad CCS", record(20, DTLS_1_2, 0, &[2])),
            ("bad alert", record(21, DTLS_1_2, 0, &[3, 0])),
            ("fragment past message", record(22, DTLS_1_2, 0, &fragment(1, 10, 5, &[0; 6]))),
            ("fragment past record", {
                let mut f = fragment(1, 100, 0, &[0; 50]);
                f.truncate(40);
                record(22, DTLS_1_2, 0, &f)
            }),
        ];
        for (name, datagram) in cases {
            assert!(screen(&datagram, GCM_OVERHEAD).is_err(), "{name} accepted");
        }
    }

    #[test]
    fn protected_length_floor_follows_the_cipher() {
        let chacha_empty = record(23, DTLS_1_2, 1, &[0; CHACHA20_POLY1305_OVERHEAD]);
        assert_eq!(screen(&chacha_empty, CHACHA20_POLY1305_OVERHEAD), Ok(()));
        assert!(screen(&chacha_empty, GCM_OVERHEAD).is_err());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(5764);
        let mut buf = vec![0u8; 2048];
        for _ in 0..20_000 {
            let len = rng.gen_range(0..buf.len());
            rng.fill_bytes(&mut buf[..len]);
            if rng.gen_bool(0.5) && len >= HEADER_LEN {
                // Make the header plausible so that the deeper checks run too.
                buf[0] = rng.gen_range(20..=23);
                buf[1] = 0xfe;
                buf[2] = 0xfd;
                buf[3] = 0;
                buf[4] = rng.gen_range(0..2);
                let body = u16::try_from(len - HEADER_LEN).unwrap();
                buf[11..13].copy_from_slice(&body.to_be_bytes());
            }
            let _ = screen(&buf[..len], CHACHA20_POLY1305_OVERHEAD);
        }
    }
}
