//! The HTTP API (Cloudflare Calls-compatible), the demo page, and [`serve`], which starts the
//! whole server in the current tokio runtime: UDP workers on their own threads, the HTTP
//! server as tasks.
//!
//! Routes, under both `/v1/apps/{appId}` and `/apps/{appId}`, each with
//! `Authorization: Bearer <app secret>`:
//!
//! | method | path | answer |
//! |---|---|---|
//! | POST | `/sessions/new` | 201 `{sessionId}`, or with an offer `{sessionId, sessionDescription: answer}`; `?thirdparty=true`: the peer is ICE-lite, the session runs full controlling ICE |
//! | GET | `/sessions/{id}` | 200 `{tracks, dataChannels, connectionState, thirdParty, stats}`; each track `{location, sessionId, trackName, mid, kind, status}` |
//! | POST | `/sessions/{id}/tracks/new` | 200: push with the client's offer (answer back), pull with it, or pull without it (the SFU's offer, `requiresImmediateRenegotiation: true`) |
//! | PUT | `/sessions/{id}/renegotiate` | 200 `{}`: the client's answer to the SFU's offer |
//! | POST | `/sessions/{id}/datachannels/establish` | 200: the data channel section answered to the client's offer, or offered by the SFU |
//! | POST | `/sessions/{id}/datachannels/new` | 200 `{dataChannels}`: publish (`local`) or subscribe (`remote`); each result has the `id` to negotiate |
//! | PUT | `/sessions/{id}/datachannels/close` | 200 `{dataChannels}`: close channels by `id` |
//! | GET | `/stats` | 200 driver-wide counters ([`DriverStatsSnapshot`] fields, `sessions_active`, `sessions_unclaimed`, `workers`) |
//! | POST | `/whip/{streamName}` | WHIP (RFC 9725): 201 with the `application/sdp` answer, `Location: {base}/whip/{streamName}/{sessionId}`, `ETag`, ice-server `Link`s |
//! | POST | `/whep/{streamName}` | WHEP: 201 likewise, pulling the stream's tracks; 409 + `Retry-After` while nothing is published |
//! | PATCH, DELETE | `/whip/...` and `/whep/...` resources | trickle ICE (204) or an ICE restart (200); DELETE ends the session |
//!
//! The WHIP and WHEP endpoints (module `whip`) answer with SDP and their own headers but
//! create their sessions and negotiate through the same code as `sessions/new` and
//! `tracks/new`; their errors are JSON like the rest.
//!
//! TURN credentials (when a [`TurnKey`](crate::config::TurnKey) is configured), with
//! `Authorization: Bearer <TURN key secret>`: POST
//! `/v1/turn/keys/{keyId}/credentials/generate-ice-servers` (201 `{iceServers: [...]}`) and
//! the older `.../credentials/generate` (201 `{iceServers: {...}}`); see the `turn_keys`
//! module.
//!
//! Plus `GET /` (the demo page), `GET /sfu.js` and `GET /demo.js` (its scripts), and the
//! demo's room directory under `/demo/` (see `demo.rs`: same-origin, loopback clients only
//! unless [`crate::config::DemoAccess`] says otherwise). Every response
//! carries `Vary: Origin` and CORS headers; `OPTIONS` on any path answers the preflight.
//! Every API response is JSON, errors as `{"errorCode", "errorDescription"}`: 400
//! `decoding_error` (bad JSON, bad SDP with its line, an offer without ICE credentials or
//! fingerprint, an answer that does not match the offer), 401 `unauthorized`, 404
//! `not_found` (unknown app, session or route), 405 `method_not_allowed`, 406
//! `invalid_params` (a bad batch, or a negotiation while another one is in progress on the
//! same session), 410 `session_error` (the session ended while negotiating), 413
//! `payload_too_large` (bodies over [`MAX_BODY_LEN`]), 500 `internal_error`. Per-track
//! errors of `tracks/new` come with HTTP 200. Request bodies are read whatever their
//! `Content-Type` (or none); unknown query parameters are ignored.
//!
//! # Example: a server on ephemeral loopback ports
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = sfu::config::Config::ephemeral();
//! config.workers = 1;
//! let running = sfu::api::serve(config).await?;
//! assert_ne!(running.http_addr.port(), 0);
//! assert!(running.udp_addrs.iter().all(|a| a.port() != 0));
//! // POST {base}/sessions/new with the bearer secret, GET {base}/sessions/{id}, ...
//! let base = running.api_base();
//! assert!(base.ends_with("/v1/apps/default"));
//! running.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod collector;
mod datachannels;
mod demo;
mod http;
mod peer;
mod sessions;
mod track_changes;
mod tracks;
mod turn_keys;
mod whip;

pub use turn_keys::{DEFAULT_TTL as TURN_DEFAULT_TTL, MAX_TTL as TURN_MAX_TTL};

pub use datachannels::MAX_CHANNELS_PER_CALL;
pub use tracks::MAX_TRACKS_PER_CALL;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::{Config, ConfigError};
use crate::directory::Directory;
use crate::udp::{self, BindError};
use crate::worker::{DriverStats, DriverStatsSnapshot, Notifier, Shared, Workers};

/// Largest request body accepted (1 MiB); larger bodies get 413 `payload_too_large`.
pub const MAX_BODY_LEN: usize = 1 << 20;

/// How long shutdown waits for open HTTP connections to finish their requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// A UDP address could not be bound.
    #[error(transparent)]
    Udp(#[from] BindError),
    /// The HTTP address could not be bound.
    #[error("cannot listen for HTTP on {address}: {source} (stop the process that holds it or pick another address)")]
    Http {
        /// The address.
        address: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The DTLS certificate or context could not be created.
    #[error("DTLS setup: {0}")]
    Dtls(#[from] dtls::Error),
    /// A worker thread or runtime could not be started.
    #[error("cannot start the UDP workers: {0}")]
    Workers(#[source] io::Error),
}

/// What every request handler shares.
#[derive(Debug)]
struct ApiState {
    config: Config,
    dtls: dtls::DtlsContext,
    /// Our certificate's fingerprint in SDP form.
    fingerprint: crate::sdp::Fingerprint,
    /// Host candidate addresses for every answer.
    candidates: Vec<SocketAddr>,
    /// The bound UDP addresses: where a third-party session's checks go out from.
    local_addrs: Vec<SocketAddr>,
    directory: Arc<Directory>,
    stats: Arc<DriverStats>,
    notifier: Notifier,
    /// The demo page's room directory.
    demo: demo::DemoState,
    /// WHIP and WHEP resources and the stream names published.
    whip: whip::Streams,
}

/// A running server. Dropping it stops the server without waiting; [`Running::shutdown`]
/// stops it gracefully.
#[derive(Debug)]
pub struct Running {
    /// The bound HTTP address.
    pub http_addr: SocketAddr,
    /// The bound UDP addresses (ports resolved).
    pub udp_addrs: Vec<SocketAddr>,
    /// The app id in the API paths.
    pub app_id: String,
    state: Arc<ApiState>,
    stop: watch::Sender<bool>,
    accept: Option<JoinHandle<()>>,
    /// Closed when every connection task has ended.
    connections: mpsc::Receiver<()>,
    workers: Option<Workers>,
}

/// Starts the server: binds the UDP sockets and the HTTP listener, generates the DTLS
/// certificate, starts `config.workers` UDP worker threads, and serves HTTP on the current
/// tokio runtime until [`Running::shutdown`].
pub async fn serve(config: Config) -> Result<Running, ServeError> {
    config.validate()?;
    let certificate = dtls::Certificate::generate()?;
    let dtls = dtls::DtlsContext::new(dtls::DtlsConfig::new(certificate))?;
    let bound = udp::bind(&config.udp_listen, config.workers, config.skip_unavailable_ipv6)?;
    let listener = TcpListener::bind(config.http_listen)
        .await
        .map_err(|source| ServeError::Http { address: config.http_listen, source })?;
    let http_addr = listener
        .local_addr()
        .map_err(|source| ServeError::Http { address: config.http_listen, source })?;

    let candidates = config.candidate_addresses(&bound.local_addrs);
    if candidates.is_empty() {
        warn!("no usable candidate address: bound to an unspecified address without --announce-ip");
    }
    let directory = Arc::new(Directory::new());
    let stats = Arc::new(DriverStats::default());
    let shared = Arc::new(Shared {
        directory: Arc::clone(&directory),
        stats: Arc::clone(&stats),
        timers: config.timers,
        local_addrs: bound.local_addrs.clone(),
        keyframe_interval: config.keyframe_interval,
    });
    let workers = Workers::spawn(shared, bound.per_worker).map_err(ServeError::Workers)?;
    let own = dtls.config().certificate.fingerprint();
    let fingerprint = crate::sdp::Fingerprint {
        algorithm: own.algorithm().name().to_owned(),
        value: own.value().to_vec(),
    };
    let app_id = config.app_id.clone();
    let state = Arc::new(ApiState {
        config,
        dtls,
        fingerprint,
        candidates,
        local_addrs: bound.local_addrs.clone(),
        directory,
        stats,
        notifier: workers.notifier(),
        demo: demo::DemoState::new(),
        whip: whip::Streams::default(),
    });

    let (stop, stop_rx) = watch::channel(false);
    let (connections_tx, connections) = mpsc::channel(1);
    tokio::spawn(collector::run(Arc::clone(&state), stop_rx.clone()));
    let accept =
        tokio::spawn(http::accept_loop(listener, Arc::clone(&state), stop_rx, connections_tx));
    info!(http = %http_addr, udp = ?bound.local_addrs, workers = state.notifier.len(), "sfu listening");
    Ok(Running {
        http_addr,
        udp_addrs: bound.local_addrs,
        app_id,
        state,
        stop,
        accept: Some(accept),
        connections,
        workers: Some(workers),
    })
}

impl Running {
    /// `http://{http_addr}/v1/apps/{app_id}`: the base URL of the API.
    pub fn api_base(&self) -> String {
        format!("http://{}/v1/apps/{}", self.http_addr, self.app_id)
    }

    /// The addresses put in SDP answers as host candidates.
    pub fn candidates(&self) -> &[SocketAddr] {
        &self.state.candidates
    }

    /// Our DTLS certificate's fingerprint (in every answer).
    pub fn fingerprint(&self) -> &dtls::Fingerprint {
        self.state.dtls.config().certificate.fingerprint()
    }

    /// The session directory.
    pub fn directory(&self) -> &Arc<Directory> {
        &self.state.directory
    }

    /// The driver-wide counters now.
    pub fn driver_stats(&self) -> DriverStatsSnapshot {
        self.state.stats.snapshot()
    }

    /// Stops accepting HTTP connections, lets open ones finish their current request (up to
    /// 5 s), stops the UDP workers and waits for their threads.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
        // Every connection task holds a sender; recv() returns None once all are gone.
        let _ =
            tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(1), self.connections.recv())
                .await;
        if let Some(workers) = self.workers.take() {
            let _ = tokio::task::spawn_blocking(move || workers.join()).await;
        }
        info!("sfu stopped");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        if let Some(workers) = &self.workers {
            workers.shutdown();
        }
    }
}
