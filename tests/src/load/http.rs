//! The few HTTP calls of the Calls API the load harness makes, over a raw TCP stream (one
//! request per connection, `Connection: close`), and the SDP edits a browser would make.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{LoadError, Result};

/// How long one HTTP exchange may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// The API of one server: its address and bearer token.
#[derive(Debug, Clone)]
pub(super) struct Api {
    pub addr: SocketAddr,
    pub app_id: String,
    pub secret: String,
}

impl Api {
    /// `method /v1/apps/{app}/{path}` with a JSON body (or none); the status must be
    /// `expect`; returns the JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        expect: u16,
    ) -> Result<Value> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut request = format!(
            "{method} /v1/apps/{}/{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Authorization: Bearer {}\r\n",
            self.app_id, self.addr, self.secret
        );
        if method != "GET" {
            request.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        let exchange = async {
            let mut stream = TcpStream::connect(self.addr).await?;
            stream.write_all(request.as_bytes()).await?;
            let mut response = Vec::new();
            stream.read_to_end(&mut response).await?;
            Ok::<_, std::io::Error>(response)
        };
        let response = tokio::time::timeout(HTTP_TIMEOUT, exchange)
            .await
            .map_err(|_| LoadError(format!("{method} {path}: no answer in {HTTP_TIMEOUT:?}")))??;
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| LoadError(format!("{method} {path}: no end of headers")))?;
        let head = String::from_utf8_lossy(&response[..split]);
        let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let text = String::from_utf8_lossy(&response[split + 4..]);
        if status != expect {
            return Err(LoadError(format!(
                "{method} {path}: HTTP {status} (wanted {expect}): {text}"
            ))
            .into());
        }
        Ok(serde_json::from_str(&text)?)
    }
}

/// `sdp` with its ICE credentials and fingerprint replaced by these.
pub(super) fn personalize(
    sdp: &str,
    credentials: &ice::Credentials,
    fingerprint: &dtls::Fingerprint,
) -> String {
    sdp.split_inclusive('\n')
        .map(|line| {
            let end = if line.ends_with("\r\n") { "\r\n" } else { "\n" };
            if line.starts_with("a=ice-ufrag:") {
                format!("a=ice-ufrag:{}{end}", credentials.ufrag())
            } else if line.starts_with("a=ice-pwd:") {
                format!("a=ice-pwd:{}{end}", credentials.pwd())
            } else if line.starts_with("a=fingerprint:") {
                format!("a=fingerprint:{fingerprint}{end}")
            } else {
                line.to_owned()
            }
        })
        .collect()
}

/// The SFU's ICE credentials in one of its descriptions.
pub(super) fn sfu_credentials(sdp: &str) -> Result<ice::Credentials> {
    let description = sfu::sdp::SessionDescription::parse(sdp)?;
    let media = description.media.first().ok_or(LoadError("SDP without media".into()))?;
    let c = description
        .ice_credentials(media)
        .ok_or(LoadError("SDP without ICE credentials".into()))?;
    Ok(ice::Credentials::new(c.ufrag, c.pwd)?)
}

/// What a browser answers to an SFU offer: every section received, `a=setup:active`.
pub(super) fn browser_answer(
    offer: &str,
    credentials: &ice::Credentials,
    fingerprint: &dtls::Fingerprint,
) -> Result<String> {
    use sfu::sdp::{create_answer, AnswerOptions, Fingerprint, LocalParameters, Setup};
    let offer = sfu::sdp::SessionDescription::parse(offer)?;
    let mut local = LocalParameters::new(
        42,
        credentials.ufrag(),
        credentials.pwd(),
        Fingerprint {
            algorithm: fingerprint.algorithm().name().to_owned(),
            value: fingerprint.value().to_vec(),
        },
        Vec::new(),
    );
    local.dtls_role = Some(Setup::Active);
    Ok(create_answer(&offer, &local, &AnswerOptions::default())?.to_string())
}
