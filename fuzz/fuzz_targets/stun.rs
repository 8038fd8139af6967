//! Fuzzes every STUN/TURN parser entry point of the `stun` crate: classification, header and
//! message parsing, attribute iteration and every typed decoder, integrity and fingerprint
//! verification, ChannelData in both framings, and the stream framing helper.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stun::attributes::*;
use stun::{AttributeType, ChannelData, FrameKind, Framing, Header, Message, TransactionId};

fn decode_all(value: &[u8], tid: &TransactionId) {
    let _ = MappedAddress::decode(value, tid);
    let _ = XorMappedAddress::decode(value, tid);
    let _ = AlternateServer::decode(value, tid);
    let _ = XorPeerAddress::decode(value, tid);
    let _ = XorRelayedAddress::decode(value, tid);
    let _ = Username::decode(value, tid);
    let _ = Userhash::decode(value, tid);
    let _ = MessageIntegrity::decode(value, tid);
    let _ = MessageIntegritySha256::decode(value, tid);
    let _ = Fingerprint::decode(value, tid);
    let _ = ErrorCode::decode(value, tid);
    if let Ok(list) = UnknownAttributes::decode(value, tid) {
        let _ = list.iter().count();
    }
    let _ = Realm::decode(value, tid);
    if let Ok(nonce) = Nonce::decode(value, tid) {
        let _ = nonce.security_features();
    }
    if let Ok(list) = PasswordAlgorithms::decode(value, tid) {
        let _ = list.iter().count();
    }
    let _ = PasswordAlgorithm::decode(value, tid);
    let _ = Software::decode(value, tid);
    let _ = AlternateDomain::decode(value, tid);
    let _ = Priority::decode(value, tid);
    let _ = UseCandidate::decode(value, tid);
    let _ = IceControlled::decode(value, tid);
    let _ = IceControlling::decode(value, tid);
    let _ = ChannelNumber::decode(value, tid);
    let _ = Lifetime::decode(value, tid);
    let _ = Data::decode(value, tid);
    let _ = RequestedAddressFamily::decode(value, tid);
    let _ = EvenPort::decode(value, tid);
    let _ = RequestedTransport::decode(value, tid);
    let _ = DontFragment::decode(value, tid);
    let _ = ReservationToken::decode(value, tid);
    let _ = AdditionalAddressFamily::decode(value, tid);
    let _ = AddressErrorCode::decode(value, tid);
    let _ = Icmp::decode(value, tid);
    let _ = ConnectionId::decode(value, tid);
}

fuzz_target!(|data: &[u8]| {
    let _ = stun::is_stun(data);
    let _ = Header::parse(data);
    if let Ok(msg) = Message::parse(data) {
        let tid = msg.transaction_id();
        for raw in msg.attributes() {
            decode_all(raw.value, &tid);
        }
        let _ = msg.get::<XorMappedAddress>();
        let _ = msg.get::<Username<'_>>();
        let _ = msg.unknown_comprehension_required(AttributeType::is_known).count();
        let _ = msg.verify_message_integrity(b"VOkJxbRl1RmTxUk/WvJxBt");
        let _ = msg.verify_message_integrity_sha256(b"VOkJxbRl1RmTxUk/WvJxBt");
        let _ = msg.verify_fingerprint();
    }
    for framing in [Framing::Datagram, Framing::Stream] {
        if let Ok(cd) = ChannelData::parse(data, framing) {
            let _ = (cd.channel(), cd.data().len());
        }
    }
    if let Ok(Some(frame)) = stun::peek_frame(data) {
        if let Some(whole) = data.get(..frame.len) {
            match frame.kind {
                FrameKind::Stun => {
                    let _ = Message::parse(whole);
                }
                FrameKind::ChannelData => {
                    let _ = ChannelData::parse(whole, Framing::Stream);
                }
            }
        }
    }
});
