//! Listening-socket machinery shared by the `syslog` and `tcp` sources.
//!
//! This module owns the TCP accept loop, the per-connection read loop, connection limits,
//! idle timeouts, TLS and the counters; the sources only say how a connection's bytes are
//! framed and how a frame becomes an event ([`FrameCodec`]).
//!
//! Invariants it keeps:
//! - **Bounded memory per connection.** A connection's read buffer never holds more than
//!   `max_frame_bytes` of an unfinished frame plus one read chunk: the decoders cut frames at
//!   the limit and skip the rest without buffering it. Read chunks start small and grow only
//!   while reads fill them, so thousands of idle connections cost little.
//! - **Bounded connections.** Over `max_connections` a connection is accepted and closed at
//!   once (counted), so a flood cannot exhaust memory or starve the connections already open.
//! - **Backpressure instead of queueing.** A connection task decodes what one read brought,
//!   sends it as one batch (split at `MAX_BATCH_EVENTS`) and waits for `Output::send` before
//!   reading again: a backed-up pipeline leaves bytes in the kernel and TCP slows the client.
//! - **Graceful shutdown.** On the shutdown token the listener closes, each connection stops
//!   reading after the frames it already has were sent (a partial frame is discarded), and the
//!   source returns once every connection task has finished.

pub mod counters;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};
use tokio_rustls::TlsAcceptor;
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use counters::{ErrorType, SourceCounters};
pub use tls::TlsConfig;

use crate::event::{Event, EventBatch};
use crate::sources::syslog::framing::Frame;
use crate::topology::{ComponentError, Output, MAX_BATCH_EVENTS};

/// The first read of a connection reserves this much; later reads double it while they fill
/// it, up to [`MAX_READ_CHUNK`].
const MIN_READ_CHUNK: usize = 4 * 1024;
/// The largest read chunk (bytes of buffer beyond the unfinished frame).
pub const MAX_READ_CHUNK: usize = 256 * 1024;
/// Pending connections the kernel queues before `accept`.
const LISTEN_BACKLOG: u32 = 1024;
/// Pause after a failed `accept` (out of file descriptors), so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Turns the bytes of one connection into events.
pub trait FrameCodec: Send + 'static {
    type Decoder: Decoder<Item = Frame, Error = std::io::Error> + Send + 'static;

    fn decoder(&mut self) -> &mut Self::Decoder;

    /// The event of one frame received at `receive_nanos`.
    fn event(&mut self, frame: Frame, receive_nanos: i64) -> Event;
}

/// What the accept loop and the connection tasks need, beyond the codec.
#[derive(Clone)]
pub struct TcpServerSettings {
    pub max_connections: u64,
    pub idle_timeout: Duration,
    pub tls: Option<(TlsAcceptor, Duration)>,
}

/// Binds a TCP listener now (so a taken port fails the start of the pipeline).
pub fn bind_tcp(address: SocketAddr) -> Result<TcpListener, String> {
    let socket = match address {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|e| format!("cannot create a socket for {address}: {e}"))?;
    socket
        .set_reuseaddr(true)
        .map_err(|e| format!("cannot set SO_REUSEADDR on {address}: {e}"))?;
    socket
        .bind(address)
        .map_err(|e| format!("cannot bind {address}: {e}"))?;
    socket
        .listen(LISTEN_BACKLOG)
        .map_err(|e| format!("cannot listen on {address}: {e}"))
}

/// The peer address as event fields: the IP text (shared by every event of the connection)
/// and the port.
#[derive(Debug, Clone)]
pub struct Peer {
    pub ip: bytes::Bytes,
    pub port: i64,
}

impl Peer {
    pub fn new(addr: SocketAddr) -> Peer {
        Peer {
            ip: bytes::Bytes::from(addr.ip().to_canonical().to_string()),
            port: i64::from(addr.port()),
        }
    }

    /// `source: {ip, port}` (ECS).
    pub fn source_object(&self) -> crate::event::Value {
        let mut source = crate::event::Object::with_capacity(2);
        source.push_unique("ip", crate::event::Value::Bytes(self.ip.clone()));
        source.push_unique("port", crate::event::Value::Integer(self.port));
        crate::event::Value::Object(source)
    }
}

/// Accepts connections until shutdown, then waits for every connection task to finish.
pub async fn serve_tcp<C, F>(
    listener: TcpListener,
    settings: TcpServerSettings,
    new_codec: F,
    counters: Arc<SourceCounters>,
    output: Output,
    shutdown: CancellationToken,
) -> Result<(), ComponentError>
where
    C: FrameCodec,
    F: Fn(SocketAddr) -> C + Send + Sync + 'static,
{
    let tracker = TaskTracker::new();
    let local = listener.local_addr().ok();
    tracing::info!(component_id = %counters.component_id, address = ?local, tls = settings.tls.is_some(), "listening for tcp connections");
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                counters.error(ErrorType::Io, 1, &format_args!("accept failed: {e}"));
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let Some(guard) = counters.try_open(settings.max_connections) else {
            drop(stream);
            counters.error(
                ErrorType::ConnectionRefused,
                1,
                &format_args!(
                    "connection from {peer} closed: {} connections already open",
                    settings.max_connections
                ),
            );
            continue;
        };
        let codec = new_codec(peer);
        let counters = Arc::clone(&counters);
        let output = output.clone();
        let shutdown = shutdown.clone();
        let settings = settings.clone();
        tracker.spawn(async move {
            let _guard = guard;
            let _ = stream.set_nodelay(true);
            match &settings.tls {
                None => {
                    serve_connection(stream, codec, &settings, &counters, &output, &shutdown).await
                }
                Some((acceptor, handshake_timeout)) => {
                    let handshake = tokio::select! {
                        () = shutdown.cancelled() => return,
                        r = tokio::time::timeout(*handshake_timeout, acceptor.accept(stream)) => r,
                    };
                    match handshake {
                        Ok(Ok(tls_stream)) => {
                            serve_connection(
                                tls_stream, codec, &settings, &counters, &output, &shutdown,
                            )
                            .await
                        }
                        Ok(Err(e)) => counters.error(
                            ErrorType::TlsHandshake,
                            1,
                            &format_args!("tls handshake with {peer} failed: {e}"),
                        ),
                        Err(_) => counters.error(
                            ErrorType::TlsHandshake,
                            1,
                            &format_args!("tls handshake with {peer} timed out"),
                        ),
                    }
                }
            }
        });
    }
    drop(listener);
    tracker.close();
    tracker.wait().await;
    Ok(())
}

enum ReadOutcome {
    Data(usize),
    Eof,
    Shutdown,
    Idle,
    Failed(std::io::Error),
}

/// How long closing a connection may take (a TLS `close_notify` to a peer that reads nothing).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Reads one connection until it ends, idles out or the source shuts down, then closes it
/// (sending TLS `close_notify`, so clients can tell a clean end from a cut).
pub async fn serve_connection<S, C>(
    mut stream: S,
    codec: C,
    settings: &TcpServerSettings,
    counters: &SourceCounters,
    output: &Output,
    shutdown: &CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin,
    C: FrameCodec,
{
    let mut stats = ConnectionStats::default();
    let end = read_connection(
        &mut stream,
        codec,
        settings,
        counters,
        output,
        shutdown,
        &mut stats,
    )
    .await;
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, stream.shutdown()).await;
    tracing::debug!(
        component_id = %counters.component_id,
        end,
        events = stats.events,
        bytes = stats.bytes,
        "connection closed"
    );
}

/// What one connection delivered.
#[derive(Debug, Default)]
struct ConnectionStats {
    events: u64,
    bytes: u64,
}

async fn read_connection<S, C>(
    stream: &mut S,
    mut codec: C,
    settings: &TcpServerSettings,
    counters: &SourceCounters,
    output: &Output,
    shutdown: &CancellationToken,
    stats: &mut ConnectionStats,
) -> &'static str
where
    S: AsyncRead + Unpin,
    C: FrameCodec,
{
    let mut buf = BytesMut::new();
    let mut chunk = MIN_READ_CHUNK;
    let mut events: Vec<Event> = Vec::new();
    loop {
        if buf.capacity() - buf.len() < chunk {
            buf.reserve(chunk);
        }
        let outcome = tokio::select! {
            biased;
            () = shutdown.cancelled() => ReadOutcome::Shutdown,
            r = tokio::time::timeout(settings.idle_timeout, stream.read_buf(&mut buf)) => match r {
                Err(_) => ReadOutcome::Idle,
                Ok(Ok(0)) => ReadOutcome::Eof,
                Ok(Ok(n)) => ReadOutcome::Data(n),
                Ok(Err(e)) => ReadOutcome::Failed(e),
            },
        };
        let at_eof = match outcome {
            ReadOutcome::Data(n) => {
                if n >= chunk {
                    chunk = (chunk * 2).min(MAX_READ_CHUNK);
                }
                false
            }
            ReadOutcome::Eof => true,
            ReadOutcome::Shutdown => return "shutdown",
            ReadOutcome::Idle => {
                counters.error(
                    ErrorType::IdleTimeout,
                    1,
                    &format_args!(
                        "connection closed after {}s without data",
                        settings.idle_timeout.as_secs()
                    ),
                );
                return "idle_timeout";
            }
            ReadOutcome::Failed(e) => {
                counters.error(ErrorType::Io, 1, &format_args!("read failed: {e}"));
                return "read_error";
            }
        };
        let now = crate::time::now_unix_nanos();
        let mut bytes = 0u64;
        loop {
            let decoded = if at_eof {
                codec.decoder().decode_eof(&mut buf)
            } else {
                codec.decoder().decode(&mut buf)
            };
            let frame = match decoded {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    counters.error(ErrorType::Io, 1, &format_args!("framing failed: {e}"));
                    buf.clear();
                    break;
                }
            };
            bytes += frame.bytes.len() as u64;
            events.push(codec.event(frame, now));
            if events.len() == MAX_BATCH_EVENTS
                && !send(&mut events, &mut bytes, counters, output, stats).await
            {
                return "pipeline_closed";
            }
        }
        if !send(&mut events, &mut bytes, counters, output, stats).await {
            return "pipeline_closed";
        }
        if at_eof {
            return "eof";
        }
    }
}

/// Sends the events gathered so far as one batch; `false` when the pipeline is gone.
async fn send(
    events: &mut Vec<Event>,
    bytes: &mut u64,
    counters: &SourceCounters,
    output: &Output,
    stats: &mut ConnectionStats,
) -> bool {
    if events.is_empty() {
        return true;
    }
    let capacity = events.len().min(MAX_BATCH_EVENTS);
    let batch = EventBatch::new(std::mem::replace(events, Vec::with_capacity(capacity)));
    let bytes = std::mem::take(bytes);
    stats.events += batch.len() as u64;
    stats.bytes += bytes;
    counters.received(batch.len() as u64, bytes);
    output.send(batch).await.is_ok()
}
