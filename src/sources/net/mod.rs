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

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinHandle;
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

/// How one connection's bytes become events: its framing, and builders that turn frames into
/// events (one per batch being decoded at once).
pub trait FrameCodec: Send + Sync + 'static {
    type Decoder: Decoder<Item = Frame, Error = std::io::Error> + Send + 'static;
    type Builder: EventBuilder;

    fn decoder(&mut self) -> &mut Self::Decoder;

    /// Another builder for this connection.
    fn new_builder(&self) -> Self::Builder;
}

/// Turns frames into events.
pub trait EventBuilder: Send + 'static {
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

/// What a network source listens with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

/// A source's socket: bound in `build` (so a taken port fails the start, or the reload, with
/// a clear error), or, when the source replaces a running instance listening on the same
/// address (a reload changed it), bound when the new instance starts: the running one holds
/// the port until it has ended.
#[derive(Debug)]
pub enum Binding<S> {
    Bound(S),
    Deferred(SocketAddr),
}

impl Binding<TcpListener> {
    /// Binds `address` now, unless `predecessor` listens on it (see [`Binding`]).
    pub fn tcp(
        address: SocketAddr,
        predecessor: Option<&crate::sources::SourceConfig>,
    ) -> Result<Binding<TcpListener>, String> {
        if holds(predecessor, Transport::Tcp, address) {
            return Ok(Binding::Deferred(address));
        }
        bind_tcp(address).map(Binding::Bound)
    }

    /// The listener, binding it now if it was deferred.
    pub fn listen(self) -> Result<TcpListener, String> {
        match self {
            Binding::Bound(l) => Ok(l),
            Binding::Deferred(address) => bind_tcp(address),
        }
    }
}

impl Binding<tokio::net::UdpSocket> {
    /// Binds `address` now, unless `predecessor` listens on it (see [`Binding`]).
    pub fn udp(
        address: SocketAddr,
        predecessor: Option<&crate::sources::SourceConfig>,
    ) -> Result<Binding<tokio::net::UdpSocket>, String> {
        if holds(predecessor, Transport::Udp, address) {
            return Ok(Binding::Deferred(address));
        }
        bind_udp(address).map(Binding::Bound)
    }

    /// The socket, binding it now if it was deferred.
    pub fn listen(self) -> Result<tokio::net::UdpSocket, String> {
        match self {
            Binding::Bound(s) => Ok(s),
            Binding::Deferred(address) => bind_udp(address),
        }
    }
}

fn holds(
    predecessor: Option<&crate::sources::SourceConfig>,
    transport: Transport,
    address: SocketAddr,
) -> bool {
    predecessor.and_then(|p| p.listen_address()) == Some((transport, address))
}

/// Binds a UDP socket now.
pub fn bind_udp(address: SocketAddr) -> Result<tokio::net::UdpSocket, String> {
    let socket = std::net::UdpSocket::bind(address)
        .map_err(|e| format!("cannot bind udp {address}: {e}"))?;
    socket
        .set_nonblocking(true)
        .map_err(|e| format!("cannot configure udp socket: {e}"))?;
    tokio::net::UdpSocket::from_std(socket).map_err(|e| format!("cannot register udp socket: {e}"))
}

/// The peer address as event fields: the IP text (shared by every event of the connection)
/// and the port.
#[derive(Debug, Clone)]
pub struct Peer {
    pub ip: bytes::Bytes,
    pub port: i64,
    /// `source: {ip, port}`, encoded once: every event of the connection shares it.
    source: crate::event::Value,
}

impl Peer {
    pub fn new(addr: SocketAddr) -> Peer {
        let ip = bytes::Bytes::from(addr.ip().to_canonical().to_string());
        let port = i64::from(addr.port());
        let mut source = crate::event::Object::with_capacity(2);
        source.push_unique("ip", crate::event::Value::Bytes(ip.clone()));
        source.push_unique("port", crate::event::Value::Integer(port));
        let source = crate::event::Value::Object(crate::event::Object::from_raw(
            crate::codec::raw_json::RawObject::from_object(&source),
        ));
        Peer { ip, port, source }
    }

    /// `source: {ip, port}` (ECS).
    pub fn source_object(&self) -> crate::event::Value {
        self.source.clone()
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

enum ReadOutcome<B> {
    /// The oldest batch being decoded beside the reads is ready.
    BatchReady(Result<(B, Vec<Event>, u64), tokio::task::JoinError>),
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
    let mut batches = OrderedBatches::new(codec.new_builder());
    let mut frames: Vec<Frame> = Vec::new();
    let mut frame_bytes = 0u64;
    let end = loop {
        if buf.capacity() - buf.len() < chunk {
            buf.reserve(chunk);
        }
        let outcome = tokio::select! {
            biased;
            () = shutdown.cancelled() => ReadOutcome::Shutdown,
            ready = batches.oldest(), if batches.has_in_flight() => ReadOutcome::BatchReady(ready),
            r = tokio::time::timeout(settings.idle_timeout, stream.read_buf(&mut buf)) => match r {
                Err(_) => ReadOutcome::Idle,
                Ok(Ok(0)) => ReadOutcome::Eof,
                Ok(Ok(n)) => ReadOutcome::Data(n),
                Ok(Err(e)) => ReadOutcome::Failed(e),
            },
        };
        let at_eof = match outcome {
            ReadOutcome::BatchReady(ready) => {
                if !batches.finish_ready(ready, counters, output, stats).await {
                    break "pipeline_closed";
                }
                continue;
            }
            ReadOutcome::Data(n) => {
                if n >= chunk {
                    chunk = (chunk * 2).min(MAX_READ_CHUNK);
                }
                false
            }
            ReadOutcome::Eof => true,
            ReadOutcome::Shutdown => break "shutdown",
            ReadOutcome::Idle => {
                counters.error(
                    ErrorType::IdleTimeout,
                    1,
                    &format_args!(
                        "connection closed after {}s without data",
                        settings.idle_timeout.as_secs()
                    ),
                );
                break "idle_timeout";
            }
            ReadOutcome::Failed(e) => {
                counters.error(ErrorType::Io, 1, &format_args!("read failed: {e}"));
                break "read_error";
            }
        };
        let now = crate::time::now_unix_nanos();
        let mut pipeline_open = true;
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
            frame_bytes += frame.bytes.len() as u64;
            frames.push(frame);
            if frames.len() == MAX_BATCH_EVENTS {
                let full = std::mem::take(&mut frames);
                let bytes = std::mem::take(&mut frame_bytes);
                pipeline_open = batches
                    .push(&codec, full, bytes, now, counters, output, stats)
                    .await;
                if !pipeline_open {
                    break;
                }
            }
        }
        if pipeline_open && !frames.is_empty() {
            let rest = std::mem::take(&mut frames);
            let bytes = std::mem::take(&mut frame_bytes);
            pipeline_open = batches
                .push(&codec, rest, bytes, now, counters, output, stats)
                .await;
        }
        if !pipeline_open {
            break "pipeline_closed";
        }
        if at_eof {
            break "eof";
        }
    };
    // Whatever was already framed is delivered, whatever the reason to stop.
    if !batches.drain(counters, output, stats).await {
        return "pipeline_closed";
    }
    end
}

/// Batches turned into events beside the connection's next read (up to
/// [`PARALLEL_BATCHES`] at once, on other tasks, so one busy connection can use more than one
/// core), sent in the order they were read.
struct OrderedBatches<B: EventBuilder> {
    idle_builders: Vec<B>,
    builders_made: usize,
    in_flight: VecDeque<JoinHandle<(B, Vec<Event>, u64)>>,
}

/// Batches of one connection being turned into events at once.
const PARALLEL_BATCHES: usize = 2;
/// A batch this small is turned into events on the connection's task (no task spawn).
const INLINE_BATCH_FRAMES: usize = 64;

impl<B: EventBuilder> OrderedBatches<B> {
    fn new(first: B) -> Self {
        OrderedBatches {
            idle_builders: vec![first],
            builders_made: 1,
            in_flight: VecDeque::new(),
        }
    }

    /// Turns `frames` into events and sends them, after every batch read before them.
    /// `false` when the pipeline is gone.
    #[allow(clippy::too_many_arguments)]
    async fn push<C: FrameCodec<Builder = B>>(
        &mut self,
        codec: &C,
        frames: Vec<Frame>,
        bytes: u64,
        now: i64,
        counters: &SourceCounters,
        output: &Output,
        stats: &mut ConnectionStats,
    ) -> bool {
        if self.in_flight.is_empty() && frames.len() <= INLINE_BATCH_FRAMES {
            if let Some(builder) = self.idle_builders.last_mut() {
                let events: Vec<Event> =
                    frames.into_iter().map(|f| builder.event(f, now)).collect();
                return send(events, bytes, counters, output, stats).await;
            }
        }
        let mut builder = match self.idle_builders.pop() {
            Some(b) => b,
            None if self.builders_made < PARALLEL_BATCHES => {
                self.builders_made += 1;
                codec.new_builder()
            }
            None => match self.finish_oldest(counters, output, stats).await {
                Some(b) => b,
                None => return false,
            },
        };
        self.in_flight.push_back(tokio::spawn(async move {
            let events: Vec<Event> = frames.into_iter().map(|f| builder.event(f, now)).collect();
            (builder, events, bytes)
        }));
        true
    }

    fn has_in_flight(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// Resolves when the oldest batch in flight is decoded (cancel-safe: the job stays queued
    /// until [`Self::finish_ready`] takes it). Never resolves when nothing is in flight.
    async fn oldest(&mut self) -> Result<(B, Vec<Event>, u64), tokio::task::JoinError> {
        match self.in_flight.front_mut() {
            Some(job) => job.await,
            None => std::future::pending().await,
        }
    }

    /// Sends the batch [`Self::oldest`] returned and takes its job off the queue.
    async fn finish_ready(
        &mut self,
        ready: Result<(B, Vec<Event>, u64), tokio::task::JoinError>,
        counters: &SourceCounters,
        output: &Output,
        stats: &mut ConnectionStats,
    ) -> bool {
        self.in_flight.pop_front();
        match self.sent(ready, counters, output, stats).await {
            Some(builder) => {
                self.idle_builders.push(builder);
                true
            }
            None => false,
        }
    }

    /// Waits for the oldest batch in flight and sends it; returns its builder.
    async fn finish_oldest(
        &mut self,
        counters: &SourceCounters,
        output: &Output,
        stats: &mut ConnectionStats,
    ) -> Option<B> {
        let job = self.in_flight.pop_front()?;
        self.sent(job.await, counters, output, stats).await
    }

    async fn sent(
        &mut self,
        ready: Result<(B, Vec<Event>, u64), tokio::task::JoinError>,
        counters: &SourceCounters,
        output: &Output,
        stats: &mut ConnectionStats,
    ) -> Option<B> {
        match ready {
            Ok((builder, events, bytes)) => send(events, bytes, counters, output, stats)
                .await
                .then_some(builder),
            Err(e) => {
                // Only a panic in an event builder gets here: a bug, reported as one.
                tracing::error!(component_id = %counters.component_id, error = %e, "event decoding task failed");
                None
            }
        }
    }

    /// Sends every batch still in flight, in order.
    async fn drain(
        &mut self,
        counters: &SourceCounters,
        output: &Output,
        stats: &mut ConnectionStats,
    ) -> bool {
        while !self.in_flight.is_empty() {
            match self.finish_oldest(counters, output, stats).await {
                Some(b) => self.idle_builders.push(b),
                None => return false,
            }
        }
        true
    }
}

/// Sends one batch; `false` when the pipeline is gone.
async fn send(
    events: Vec<Event>,
    bytes: u64,
    counters: &SourceCounters,
    output: &Output,
    stats: &mut ConnectionStats,
) -> bool {
    if events.is_empty() {
        return true;
    }
    let batch = EventBatch::new(events);
    stats.events += batch.len() as u64;
    stats.bytes += bytes;
    counters.received(batch.len() as u64, bytes);
    output.send(batch).await.is_ok()
}
