//! The running `syslog` source: TCP (RFC 6587 framing, optional TLS) through the shared
//! [`crate::sources::net`] server, or UDP (one message per datagram).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::config::{SyslogMode, SyslogSourceConfig, Timezone};
use super::event::SyslogEventBuilder;
use super::framing::{Frame, SyslogFrameDecoder};
use crate::event::EventBatch;
use crate::sources::net::{self, FrameCodec, Peer, SourceCounters};
use crate::sources::tcp::server_settings;
use crate::topology::{ComponentError, ComponentFuture, Output, SourceContext, MAX_BATCH_EVENTS};

impl SyslogSourceConfig {
    pub fn build(&self, ctx: SourceContext) -> Result<ComponentFuture, String> {
        let counters = Arc::new(SourceCounters::new(&ctx.id));
        let timezone = Arc::new(self.timezone.clone());
        let max_frame_bytes = self.max_frame_bytes.max(1);
        match self.mode {
            SyslogMode::Tcp => {
                let settings = server_settings(
                    self.max_connections,
                    self.connection_idle_timeout_secs,
                    self.tls.as_ref(),
                )?;
                let binding = net::Binding::tcp(self.address, ctx.predecessor.as_ref())?;
                let codec_counters = Arc::clone(&counters);
                let new_codec = move |peer: SocketAddr| SyslogCodec {
                    decoder: SyslogFrameDecoder::new(max_frame_bytes),
                    builder: SyslogEventBuilder::new(
                        Peer::new(peer),
                        Arc::clone(&timezone),
                        Arc::clone(&codec_counters),
                    ),
                };
                Ok(Box::pin(async move {
                    let listener = binding.listen().map_err(ComponentError::new)?;
                    let result = net::serve_tcp(
                        listener,
                        settings,
                        new_codec,
                        Arc::clone(&counters),
                        ctx.output,
                        ctx.shutdown,
                    )
                    .await;
                    counters.log_summary("syslog source finished");
                    result
                }))
            }
            SyslogMode::Udp => {
                if self.tls.is_some() {
                    return Err("tls is only available with mode = \"tcp\"".to_string());
                }
                let binding = net::Binding::udp(self.address, ctx.predecessor.as_ref())?;
                Ok(Box::pin(async move {
                    let socket = binding.listen().map_err(ComponentError::new)?;
                    let result = run_udp(
                        socket,
                        max_frame_bytes,
                        timezone,
                        Arc::clone(&counters),
                        ctx.output,
                        ctx.shutdown,
                    )
                    .await;
                    counters.log_summary("syslog source finished");
                    result
                }))
            }
        }
    }
}

/// One TCP connection's syslog decoding.
struct SyslogCodec {
    decoder: SyslogFrameDecoder,
    builder: SyslogEventBuilder,
}

impl FrameCodec for SyslogCodec {
    type Decoder = SyslogFrameDecoder;
    type Builder = SyslogEventBuilder;

    fn decoder(&mut self) -> &mut SyslogFrameDecoder {
        &mut self.decoder
    }

    fn new_builder(&self) -> SyslogEventBuilder {
        self.builder.clone()
    }
}

/// Reads datagrams until shutdown. Each wake-up drains every datagram already queued (up to
/// a batch) before sending, so a burst costs one send, and a backed-up pipeline leaves
/// datagrams in the socket buffer (where the kernel drops the excess, as UDP does).
async fn run_udp(
    socket: UdpSocket,
    max_frame_bytes: usize,
    timezone: Arc<Timezone>,
    counters: Arc<SourceCounters>,
    output: Output,
    shutdown: CancellationToken,
) -> Result<(), ComponentError> {
    tracing::info!(component_id = %counters.component_id, address = ?socket.local_addr().ok(), "listening for udp datagrams");
    // One byte more than the limit tells a datagram that was cut from one that fit exactly.
    let mut buf = vec![0u8; max_frame_bytes + 1];
    let mut builder: Option<(SocketAddr, SyslogEventBuilder)> = None;
    let mut events = Vec::new();
    loop {
        let first = tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(()),
            r = socket.recv_from(&mut buf) => r,
        };
        let now = crate::time::now_unix_nanos();
        let mut bytes = 0u64;
        let mut received = Some(first);
        while let Some(result) = received.take() {
            match result {
                Ok((n, peer)) => {
                    let truncated = n > max_frame_bytes;
                    let len = n.min(max_frame_bytes);
                    bytes += len as u64;
                    let frame = Frame {
                        bytes: Bytes::copy_from_slice(&buf[..len]),
                        truncated,
                    };
                    let b = match &mut builder {
                        Some((addr, b)) if *addr == peer => b,
                        slot => {
                            let b = SyslogEventBuilder::new(
                                Peer::new(peer),
                                Arc::clone(&timezone),
                                Arc::clone(&counters),
                            );
                            &mut slot.insert((peer, b)).1
                        }
                    };
                    if !frame.bytes.is_empty() {
                        events.push(b.build(frame, now));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    counters.error(
                        net::ErrorType::Io,
                        1,
                        &format_args!("udp receive failed: {e}"),
                    );
                    break;
                }
            }
            if events.len() < MAX_BATCH_EVENTS {
                received = Some(socket.try_recv_from(&mut buf));
            }
        }
        if !events.is_empty() {
            let batch = EventBatch::new(std::mem::take(&mut events));
            counters.received(batch.len() as u64, bytes);
            output.send(batch).await?;
        }
    }
}
