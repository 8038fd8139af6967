//! TCP and TLS: accepting connections and cutting each byte stream into STUN messages and
//! ChannelData frames (RFC 8656 §12.5: ChannelData is padded to a multiple of 4 on
//! streams; [`stun::peek_frame`] reads the length of either kind from its first 4 bytes).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tracing::{debug, trace, warn};

use super::{send_all, tcp_relay, DriverLimits, Shared};
use crate::{FiveTuple, Transport};

/// The longest frame on a stream: a STUN message of 20 + 65532 bytes (the length field is a
/// multiple of 4) or ChannelData of 4 + 65536 bytes (padding included).
const MAX_FRAME: usize = 20 + 65_532;

/// Read buffer: after the complete frames are handled, less than one frame stays, so there
/// is always room for another read.
const READ_BUFFER: usize = 2 * MAX_FRAME;

/// How long one write to a client may block before the connection is closed (a client that
/// does not read must not stall the relay socket that feeds it).
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

type BoxedWrite = Pin<Box<dyn AsyncWrite + Send>>;

/// The writing half of a TCP or TLS connection, shared by every task that sends to the
/// client; frames are written whole, one at a time.
#[derive(Clone)]
pub struct StreamWriter {
    inner: Arc<tokio::sync::Mutex<BoxedWrite>>,
    close: Arc<Notify>,
}

impl std::fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamWriter").finish_non_exhaustive()
    }
}

impl StreamWriter {
    fn new(write: BoxedWrite) -> Self {
        Self { inner: Arc::new(tokio::sync::Mutex::new(write)), close: Arc::new(Notify::new()) }
    }

    /// Writes one frame; on error or timeout the connection is closed (and false returned).
    pub(crate) async fn write(&self, frame: &[u8]) -> bool {
        let mut write = self.inner.lock().await;
        let result = tokio::time::timeout(WRITE_TIMEOUT, async {
            write.write_all(frame).await?;
            write.flush().await
        })
        .await;
        match result {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                debug!(error = %e, "stream write failed: closing");
                self.abort();
                false
            }
            Err(_) => {
                debug!("stream write timed out: closing");
                self.abort();
                false
            }
        }
    }

    /// Ends the stream in order (TLS: close_notify, then FIN), bounded by the write timeout.
    pub(crate) async fn shutdown(&self) {
        let mut write = self.inner.lock().await;
        let _ = tokio::time::timeout(WRITE_TIMEOUT, write.shutdown()).await;
    }

    /// Resolves when the connection is asked to close.
    pub(crate) async fn closed(&self) {
        self.close.notified().await;
    }

    /// Asks the connection's task to close it.
    pub(crate) fn abort(&self) {
        self.close.notify_one();
    }
}

/// Accepts TCP connections on one listener; with `tls`, runs a TLS handshake on each.
pub(crate) async fn accept_task(
    shared: Shared,
    listener: TcpListener,
    local: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    permits: Arc<Semaphore>,
    limits: DriverLimits,
) {
    loop {
        let (tcp, client) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, most likely: wait a little instead of spinning.
                warn!(%local, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            debug!(%client, "too many connections: closed");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let shared = shared.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => connection(shared, tcp, Transport::Tcp, client, local, limits).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(tcp))
                        .await
                    {
                        Ok(Ok(stream)) => {
                            connection(shared, stream, Transport::Tls, client, local, limits).await;
                        }
                        Ok(Err(e)) => debug!(%client, error = %e, "TLS handshake failed"),
                        Err(_) => debug!(%client, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

/// Serves one connection until it closes (or idles without an allocation), then tells the
/// machine.
async fn connection<S>(
    shared: Shared,
    stream: S,
    transport: Transport,
    client: SocketAddr,
    local: SocketAddr,
    limits: DriverLimits,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, writer) = tokio::io::split(stream);
    let tuple = FiveTuple { transport, client, server: local };
    let writer = StreamWriter::new(Box::pin(writer));
    shared.lock().streams.insert(tuple, writer.clone());
    debug!(%tuple, "connection opened");

    let mut buf = vec![0u8; READ_BUFFER];
    let mut filled = 0;
    'connection: loop {
        let read = tokio::select! {
            read = reader.read(&mut buf[filled..]) => read,
            () = writer.close.notified() => break,
            () = tokio::time::sleep(limits.idle_timeout) => {
                if shared.lock().server.allocation(&tuple).is_none() {
                    debug!(%tuple, "idle without an allocation: closing");
                    break;
                }
                continue;
            }
        };
        match read {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) => {
                trace!(%tuple, error = %e, "read failed");
                break;
            }
        }
        let mut start = 0;
        while start < filled {
            let frame = match stun::peek_frame(&buf[start..filled]) {
                Ok(Some(frame)) if frame.len <= filled - start => frame,
                Ok(_) => break, // incomplete: read more
                Err(e) => {
                    debug!(%tuple, error = %e, "stream out of sync: closing");
                    break 'connection;
                }
            };
            let data = &buf[start..start + frame.len];
            start += frame.len;
            let now = Instant::now();
            let (relayed, sends, splice) = {
                let mut core = shared.lock();
                let datagram = core.server.relay_from_client(now, transport, client, local, data);
                let relayed = datagram.and_then(|d| {
                    core.relays.get(&d.relay).map(|(relay, _)| (relay.clone(), d.peer, d.data))
                });
                let sends = core.drain(&shared, now);
                (relayed, sends, core.splices.remove(&tuple))
            };
            if let Some((relay, peer, data)) = relayed {
                if let Err(e) = relay.send_to(data, peer).await {
                    debug!(%peer, error = %e, "send to peer failed");
                }
            }
            if !sends.is_empty() {
                send_all(sends).await;
            }
            if let Some((id, peer)) = splice {
                // RFC 6062 §5.4: after the ConnectionBind success, raw bytes both ways.
                debug!(%tuple, id = id.0, "data connection bound to its peer");
                tcp_relay::pipe(&shared, id, &mut reader, &writer, peer, &buf[start..filled]).await;
                break 'connection;
            }
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
    }

    debug!(%tuple, "connection closed");
    writer.shutdown().await;
    let sends = {
        let mut core = shared.lock();
        core.streams.remove(&tuple);
        core.server.client_closed(tuple);
        core.drain(&shared, Instant::now())
    };
    send_all(sends).await;
}
