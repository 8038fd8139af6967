//! HTTP/1.1 plumbing: accepting connections, routing, the bearer check, CORS, request bodies
//! and JSON responses.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use super::{
    datachannels, demo, sessions, track_changes, tracks, turn_keys, whip, ApiState, MAX_BODY_LEN,
    SHUTDOWN_GRACE,
};

/// A response as the handlers build it.
pub(super) type Reply = Response<Full<Bytes>>;

/// Time allowed to send the request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed to send the whole request body.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// After a body went over [`MAX_BODY_LEN`], the rest is read and discarded up to this many
/// bytes, so the client sees the 413 instead of a connection reset. Larger bodies are cut.
const DRAIN_LIMIT: usize = 8 * MAX_BODY_LEN;

const INDEX_HTML: &str = include_str!("../www/index.html");
const SFU_JS: &str = include_str!("../www/sfu.js");
const DEMO_JS: &str = include_str!("../www/demo.js");

const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
const ALLOW_HEADERS: &str = "Authorization, Content-Type, If-Match";
const EXPOSE_HEADERS: &str = "Location, ETag, Link, Retry-After, Accept-Post, Accept-Patch";
const PREFLIGHT_MAX_AGE: &str = "86400";

pub(super) async fn accept_loop(
    listener: TcpListener,
    state: Arc<ApiState>,
    mut stop: watch::Receiver<bool>,
    connections: mpsc::Sender<()>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(connection(
                        stream,
                        Arc::clone(&state),
                        stop.clone(),
                        connections.clone(),
                    ));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

/// Serves one connection until it closes or the server stops. `_alive` tells shutdown that
/// the task still runs.
async fn connection(
    stream: TcpStream,
    state: Arc<ApiState>,
    mut stop: watch::Receiver<bool>,
    _alive: mpsc::Sender<()>,
) {
    let client = stream.peer_addr().ok();
    let service = service_fn(move |mut request: Request<Incoming>| {
        if let Some(client) = client {
            request.extensions_mut().insert(demo::ClientAddr(client));
        }
        let state = Arc::clone(&state);
        async move { Ok::<_, Infallible>(handle(&state, request).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                debug!(error = %e, "HTTP connection ended with an error");
            }
        }
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn).await;
        }
    }
}

/// Every request: routing, then the headers every response carries.
async fn handle(state: &ApiState, request: Request<Incoming>) -> Reply {
    let origin = request.headers().get(header::ORIGIN).cloned();
    let mut reply = if request.method() == Method::OPTIONS {
        let mut reply = preflight(request.headers());
        let path = request.uri().path();
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if let ["v1", "apps", _, rest @ ..] | ["apps", _, rest @ ..] = segments.as_slice() {
            whip::options_headers(rest, reply.headers_mut());
        }
        reply
    } else {
        route(state, request).await
    };
    let headers = reply.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        origin.unwrap_or_else(|| HeaderValue::from_static("*")),
    );
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSE_HEADERS));
    reply
}

/// The CORS preflight (any path): the methods, the headers our clients send plus whatever
/// the browser asks for, cached for a day.
fn preflight(request: &HeaderMap) -> Reply {
    let mut reply = json_reply(StatusCode::OK, &json!({}));
    let headers = reply.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOW_METHODS));
    let requested = request
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty());
    let allow = match requested {
        Some(requested) => HeaderValue::from_str(&format!("{ALLOW_HEADERS}, {requested}"))
            .unwrap_or_else(|_| HeaderValue::from_static(ALLOW_HEADERS)),
        None => HeaderValue::from_static(ALLOW_HEADERS),
    };
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow);
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(PREFLIGHT_MAX_AGE));
    reply
}

async fn route(state: &ApiState, request: Request<Incoming>) -> Reply {
    let path = request.uri().path().to_owned();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let method = request.method().clone();
    match segments.as_slice() {
        [] | ["index.html"] if method == Method::GET => {
            static_reply("text/html; charset=utf-8", INDEX_HTML)
        }
        ["sfu.js"] if method == Method::GET => {
            static_reply("text/javascript; charset=utf-8", SFU_JS)
        }
        ["demo.js"] if method == Method::GET => {
            static_reply("text/javascript; charset=utf-8", DEMO_JS)
        }
        ["demo", rest @ ..] => demo::route(state, request, rest).await,
        ["v1", "apps", app, rest @ ..] => {
            let base = format!("/v1/apps/{app}");
            api(state, request, &base, app, rest).await
        }
        ["apps", app, rest @ ..] => {
            let base = format!("/apps/{app}");
            api(state, request, &base, app, rest).await
        }
        ["v1", "turn", "keys", key_id, "credentials", action] => {
            turn_credentials(state, request, key_id, action).await
        }
        _ => error_reply(StatusCode::NOT_FOUND, "not_found", "no such endpoint"),
    }
}

/// The API under the app's base path `base` (`/v1/apps/{app}` or `/apps/{app}`).
async fn api(
    state: &ApiState,
    request: Request<Incoming>,
    base: &str,
    app: &str,
    rest: &[&str],
) -> Reply {
    if app != state.config.app_id {
        return error_reply(StatusCode::NOT_FOUND, "not_found", "no app with this id");
    }
    if !authorized(request.headers(), &state.config.app_secret) {
        return error_reply(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token: send \"Authorization: Bearer <app secret>\"",
        );
    }
    if whip::path_kind(rest).is_some() {
        return whip::route(state, request, base, rest).await;
    }
    let method = request.method().clone();
    match (rest, &method) {
        (["sessions", "new"], &Method::POST) => {
            let query = request.uri().query().map(str::to_owned);
            match read_body(request).await {
                Ok(body) => sessions::create(state, query.as_deref(), &body).await,
                Err(e) => e.reply(),
            }
        }
        (["sessions", "new"], _) => {
            error_reply(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "use POST")
        }
        (["sessions", id], &Method::GET) => sessions::get(state, id).await,
        (["sessions", id, "tracks", "new"], &Method::POST) => match read_body(request).await {
            Ok(body) => tracks::new(state, id, &body).await,
            Err(e) => e.reply(),
        },
        (["sessions", id, "renegotiate"], &Method::PUT) => match read_body(request).await {
            Ok(body) => tracks::renegotiate(state, id, &body).await,
            Err(e) => e.reply(),
        },
        (["sessions", id, "tracks", "close"], &Method::PUT) => match read_body(request).await {
            Ok(body) => track_changes::close(state, id, &body).await,
            Err(e) => e.reply(),
        },
        (["sessions", id, "tracks", "update"], &Method::PUT) => match read_body(request).await {
            Ok(body) => track_changes::update(state, id, &body).await,
            Err(e) => e.reply(),
        },
        (["sessions", _, "tracks", "close" | "update"], _) => {
            error_reply(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "use PUT")
        }
        (["sessions", id, "datachannels", action], _) => {
            datachannel_route(state, request, id, action).await
        }
        (["stats"], &Method::GET) => driver_stats(state),
        (["sessions", _] | ["stats"], _) => {
            error_reply(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed")
        }
        (["sessions", _, "tracks", "new"], _) => {
            error_reply(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "use POST")
        }
        (["sessions", _, "renegotiate"], _) => {
            error_reply(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "use PUT")
        }
        _ => error_reply(StatusCode::NOT_FOUND, "not_found", "no such endpoint"),
    }
}

/// `/v1/turn/keys/{keyId}/credentials/{action}`: the key's secret is the bearer token.
async fn turn_credentials(
    state: &ApiState,
    request: Request<Incoming>,
    key_id: &str,
    action: &str,
) -> Reply {
    let key = state.config.turn.as_ref().filter(|key| key.key_id == key_id);
    let (Some(key), Some(shape)) = (key, turn_keys::Shape::from_action(action)) else {
        return error_reply(StatusCode::NOT_FOUND, "not_found", "no TURN key with this id");
    };
    if !authorized(request.headers(), &key.secret) {
        return error_reply(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token: send \"Authorization: Bearer <TURN key secret>\"",
        );
    }
    let method = request.method().clone();
    match read_body(request).await {
        Ok(body) => turn_keys::generate(key, &method, shape, &body),
        Err(e) => e.reply(),
    }
}

/// `datachannels/establish` (POST), `datachannels/new` (POST), `datachannels/close` (PUT).
async fn datachannel_route(
    state: &ApiState,
    request: Request<Incoming>,
    id: &str,
    action: &str,
) -> Reply {
    let method = request.method().clone();
    let expected = match action {
        "establish" | "new" => Method::POST,
        "close" => Method::PUT,
        _ => return error_reply(StatusCode::NOT_FOUND, "not_found", "no such endpoint"),
    };
    if method != expected {
        let hint = if expected == Method::POST { "use POST" } else { "use PUT" };
        return error_reply(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", hint);
    }
    let body = match read_body(request).await {
        Ok(body) => body,
        Err(e) => return e.reply(),
    };
    match action {
        "establish" => datachannels::establish(state, id, &body).await,
        "new" => datachannels::new(state, id, &body).await,
        _ => datachannels::close(state, id, &body).await,
    }
}

/// `Authorization: Bearer <secret>`, the scheme in any case, the token compared in constant
/// time.
fn authorized(headers: &HeaderMap, secret: &str) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return false };
    let value = value.as_bytes();
    let Some((scheme, token)) = value.split_at_checked(6) else { return false };
    if !scheme.eq_ignore_ascii_case(b"bearer") || token.first() != Some(&b' ') {
        return false;
    }
    let token = token.trim_ascii();
    constant_time_eq(token, secret.as_bytes())
}

/// Equality whose running time depends only on the longer length, not on where the inputs
/// differ.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len().max(b.len());
    let mut diff = a.len() ^ b.len();
    for i in 0..len {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// Reads the whole body, whatever its Content-Type. Over [`MAX_BODY_LEN`]: 413, after
/// draining what remains (up to [`DRAIN_LIMIT`]) so the client reads the answer.
pub(super) async fn read_body(request: Request<Incoming>) -> Result<Bytes, ApiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {MAX_BODY_LEN} bytes"),
        )
    };
    if declared.is_some_and(|len| len > DRAIN_LIMIT as u64) {
        return Err(ApiError { close_connection: true, ..too_large() });
    }
    let mut body = request.into_body();
    let mut buf = Vec::new();
    let mut over = declared.is_some_and(|len| len > MAX_BODY_LEN as u64);
    let mut seen = 0usize;
    let read = async {
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame?.into_data() else { continue };
            seen = seen.saturating_add(data.len());
            if seen > MAX_BODY_LEN {
                over = true;
            }
            if over {
                if seen > DRAIN_LIMIT {
                    break;
                }
            } else {
                buf.extend_from_slice(&data);
            }
        }
        Ok::<(), hyper::Error>(())
    };
    let result = tokio::time::timeout(BODY_TIMEOUT, read).await;
    match result {
        Ok(Ok(())) if over => Err(too_large()),
        Ok(Ok(())) => Ok(Bytes::from(buf)),
        Ok(Err(e)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "decoding_error",
            format!("could not read the request body: {e}"),
        )),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "decoding_error",
            "the request body did not arrive in time",
        )),
    }
}

fn driver_stats(state: &ApiState) -> Reply {
    let mut body = serde_json::Map::new();
    for (name, value) in state.stats.snapshot().fields() {
        body.insert(name.to_owned(), Value::from(value));
    }
    body.insert("sessions_active".to_owned(), Value::from(state.directory.len()));
    body.insert("sessions_unclaimed".to_owned(), Value::from(state.directory.unclaimed()));
    body.insert("workers".to_owned(), Value::from(state.notifier.len()));
    json_reply(StatusCode::OK, &Value::Object(body))
}

pub(super) fn json_reply(status: StatusCode, value: &Value) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(value.to_string())));
    *reply.status_mut() = status;
    reply.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    reply
}

/// An error answer: status, `errorCode`, `errorDescription`.
#[derive(Debug)]
pub(super) struct ApiError {
    status: StatusCode,
    code: &'static str,
    description: String,
    /// Close the connection after the answer (the request body was not read).
    close_connection: bool,
}

impl ApiError {
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        description: impl Into<String>,
    ) -> Self {
        ApiError { status, code, description: description.into(), close_connection: false }
    }

    pub(super) fn reply(self) -> Reply {
        let mut reply = error_reply(self.status, self.code, self.description);
        if self.close_connection {
            reply.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        reply
    }
}

pub(super) fn error_reply(
    status: StatusCode,
    code: &'static str,
    description: impl Into<String>,
) -> Reply {
    json_reply(status, &json!({ "errorCode": code, "errorDescription": description.into() }))
}

fn static_reply(content_type: &'static str, body: &'static str) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    let headers = reply.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
        // A prefix padded with zero bytes is still different (the lengths differ).
        assert!(!constant_time_eq(b"ab\0", b"ab"));
    }

    #[test]
    fn bearer_parsing() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            authorized(&h, "s3cret")
        };
        assert!(with("Bearer s3cret"));
        assert!(with("bearer s3cret"));
        assert!(with("BEARER  s3cret "));
        assert!(!with("Bearer s3cre"));
        assert!(!with("Basic s3cret"));
        assert!(!with("Bearer"));
        assert!(!with("Bearers3cret"));
        assert!(!authorized(&HeaderMap::new(), "s3cret"));
    }
}
