//! Datagrams fed to a server-role DTLS machine before any handshake: the record screen and
//! OpenSSL behind it must drop or answer them, never panic. The input is split into
//! datagrams at each 0xff 0xff 0xff separator so one run can carry a whole flight.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use dtls::{Certificate, Dtls, DtlsConfig, DtlsContext, Role};
use libfuzzer_sys::fuzz_target;

fn context() -> &'static DtlsContext {
    static CONTEXT: OnceLock<DtlsContext> = OnceLock::new();
    CONTEXT.get_or_init(|| {
        let certificate = Certificate::generate().expect("certificate");
        DtlsContext::new(DtlsConfig::new(certificate)).expect("context")
    })
}

fuzz_target!(|data: &[u8]| {
    let ctx = context();
    let fingerprint = ctx.config().certificate.fingerprint().clone();
    let mut now = Instant::now();
    let Ok(mut dtls) = Dtls::new(now, ctx, Role::Server, fingerprint) else { return };
    for datagram in data.split(|&b| b == 0xff).filter(|d| !d.is_empty()) {
        let _ = dtls.handle_receive(now, datagram);
        while dtls.poll_transmit().is_some() {}
        while dtls.poll_event().is_some() {}
        now += Duration::from_millis(300);
        dtls.handle_timeout(now);
    }
});
