//! `s3_archive` source: reads objects written by the `s3` sink back as events, for replaying
//! an archive through a pipeline (`logweir replay`).
//!
//! It lists the objects under `prefix` (lexicographic key order, which is time order for
//! time-based key templates), keeps those last modified within `start`..`end`, and streams
//! each one: chunks are decompressed as they arrive (gzip or zstd, from `Content-Encoding`
//! or the key's suffix), split into lines and parsed as JSON events, so memory stays bounded
//! by one chunk and one batch, whatever the object size. The source ends after the last
//! object (`exit_on_eof` semantics), which ends the pipeline.
//!
//! Progress (objects, events, bytes) is published in [`PROGRESS`] for the replay command's
//! progress bar.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::{Attribute, ObjectStore, ObjectStoreExt};
use serde::Deserialize;

use crate::event::{Event, EventBatch};
use crate::sinks::s3::config::{RetryConfig, S3Connection, Secret};
use crate::topology::{ComponentError, ComponentFuture, SourceContext, MAX_BATCH_EVENTS};

/// Reads archived NDJSON objects from S3.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3ArchiveConfig {
    /// Bucket name.
    pub bucket: String,
    /// AWS region.
    #[serde(default = "default_region")]
    pub region: String,
    /// Endpoint of an S3-compatible store; path-style addressing. Absent = AWS S3.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Only objects whose key starts with this (`kube-system/2026/11/`).
    #[serde(default)]
    pub prefix: String,
    /// Only objects last modified at or after this RFC 3339 time.
    #[serde(default)]
    pub start: Option<String>,
    /// Only objects last modified before this RFC 3339 time.
    #[serde(default)]
    pub end: Option<String>,
    /// Static credentials; absent = the standard AWS chain.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Secret of `access_key_id`; never logged.
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    /// Session token for temporary static credentials.
    #[serde(default)]
    pub session_token: Option<Secret>,
    /// Lines longer than this are skipped (counted).
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
}

fn default_region() -> String {
    "us-east-1".to_string()
}

fn default_max_line_bytes() -> usize {
    16 * 1024 * 1024
}

/// Replay progress, read by `logweir replay`.
#[derive(Debug, Default)]
pub struct ReplayProgress {
    /// Set once the listing is done and the totals are known.
    pub listed: AtomicBool,
    pub objects_total: AtomicU64,
    pub bytes_total: AtomicU64,
    pub objects_done: AtomicU64,
    /// Stored (compressed) bytes read.
    pub bytes_done: AtomicU64,
    pub events: AtomicU64,
    pub invalid_lines: AtomicU64,
}

pub static PROGRESS: ReplayProgress = ReplayProgress {
    listed: AtomicBool::new(false),
    objects_total: AtomicU64::new(0),
    bytes_total: AtomicU64::new(0),
    objects_done: AtomicU64::new(0),
    bytes_done: AtomicU64::new(0),
    events: AtomicU64::new(0),
    invalid_lines: AtomicU64::new(0),
};

impl S3ArchiveConfig {
    fn connection(&self) -> S3Connection {
        S3Connection {
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            endpoint: self.endpoint.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            session_token: self.session_token.clone(),
            retry: RetryConfig::default(),
        }
    }

    pub fn build(&self, ctx: SourceContext) -> Result<ComponentFuture, String> {
        let connection = self.connection();
        connection.validate()?;
        let parse_time = |name: &str, value: &Option<String>| -> Result<Option<i64>, String> {
            match value {
                None => Ok(None),
                Some(s) => crate::time::parse_rfc3339(s.as_bytes())
                    .map(Some)
                    .ok_or_else(|| format!("`{name}` is not an RFC 3339 time: `{s}`")),
            }
        };
        let start = parse_time("start", &self.start)?;
        let end = parse_time("end", &self.end)?;
        let store = connection.build_store()?;
        let config = self.clone();
        Ok(Box::pin(async move {
            run(config, store, start, end, ctx).await
        }))
    }
}

/// Incremental decompression into line-split events.
enum Decoder {
    Plain(Vec<u8>),
    Gzip(Box<flate2::write::MultiGzDecoder<Vec<u8>>>),
    Zstd(Box<zstd::stream::write::Decoder<'static, Vec<u8>>>),
}

impl Decoder {
    fn new(encoding: Option<&str>, key: &str) -> std::io::Result<Decoder> {
        let gzip = encoding == Some("gzip") || (encoding.is_none() && key.ends_with(".gz"));
        let zstd = encoding == Some("zstd") || (encoding.is_none() && key.ends_with(".zst"));
        Ok(if gzip {
            Decoder::Gzip(Box::new(flate2::write::MultiGzDecoder::new(Vec::new())))
        } else if zstd {
            Decoder::Zstd(Box::new(zstd::stream::write::Decoder::new(Vec::new())?))
        } else {
            Decoder::Plain(Vec::new())
        })
    }

    fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        match self {
            Decoder::Plain(v) => {
                v.extend_from_slice(chunk);
                Ok(())
            }
            Decoder::Gzip(d) => d.write_all(chunk),
            Decoder::Zstd(d) => d.write_all(chunk),
        }
    }

    fn finish(&mut self) -> std::io::Result<()> {
        match self {
            Decoder::Plain(_) => Ok(()),
            Decoder::Gzip(d) => d.try_finish(),
            Decoder::Zstd(d) => d.flush(),
        }
    }

    fn output(&mut self) -> &mut Vec<u8> {
        match self {
            Decoder::Plain(v) => v,
            Decoder::Gzip(d) => d.get_mut(),
            Decoder::Zstd(d) => d.get_mut(),
        }
    }
}

struct LineSink<'a> {
    ctx: &'a SourceContext,
    events: Vec<Event>,
    max_line_bytes: usize,
}

impl LineSink<'_> {
    /// Turns the complete lines at the front of `buf` into events; keeps the partial rest.
    async fn drain(&mut self, buf: &mut Vec<u8>, last: bool) -> Result<(), ComponentError> {
        let mut start = 0;
        let now = crate::time::now_unix_nanos();
        while let Some(nl) = memchr::memchr(b'\n', &buf[start..]) {
            self.line(&buf[start..start + nl], now);
            start += nl + 1;
            if self.events.len() >= MAX_BATCH_EVENTS {
                self.flush().await?;
            }
        }
        if last && start < buf.len() {
            let rest = buf[start..].to_vec();
            self.line(&rest, now);
            start = buf.len();
        }
        buf.drain(..start);
        if buf.len() > self.max_line_bytes {
            PROGRESS.invalid_lines.fetch_add(1, Ordering::Relaxed);
            buf.clear();
        }
        Ok(())
    }

    fn line(&mut self, line: &[u8], now: i64) {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        match serde_json::from_slice::<serde_json::Value>(line) {
            Ok(json) => self.events.push(Event::from_json(&json, now)),
            Err(_) => {
                PROGRESS.invalid_lines.fetch_add(1, Ordering::Relaxed);
                let mut e = Event::from_message(Bytes::copy_from_slice(line), now);
                e.add_tag("parse_failure");
                self.events.push(e);
            }
        }
    }

    async fn flush(&mut self) -> Result<(), ComponentError> {
        if self.events.is_empty() {
            return Ok(());
        }
        let events = std::mem::take(&mut self.events);
        PROGRESS
            .events
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        self.ctx.output.send(EventBatch::new(events)).await?;
        Ok(())
    }
}

async fn run(
    config: S3ArchiveConfig,
    store: std::sync::Arc<object_store::aws::AmazonS3>,
    start: Option<i64>,
    end: Option<i64>,
    ctx: SourceContext,
) -> Result<(), ComponentError> {
    let prefix =
        (!config.prefix.is_empty()).then(|| object_store::path::Path::from(config.prefix.as_str()));
    let listed: Vec<object_store::ObjectMeta> = store
        .list(prefix.as_ref())
        .try_filter(|meta| {
            let modified = meta.last_modified.timestamp_nanos_opt().unwrap_or(0);
            let keep = start.is_none_or(|s| modified >= s) && end.is_none_or(|e| modified < e);
            futures::future::ready(keep)
        })
        .try_collect()
        .await
        .map_err(|e| ComponentError::new(format!("listing bucket `{}`: {e}", config.bucket)))?;
    let mut objects = listed;
    objects.sort_by(|a, b| a.location.cmp(&b.location));
    PROGRESS
        .objects_total
        .store(objects.len() as u64, Ordering::Relaxed);
    PROGRESS.bytes_total.store(
        objects.iter().map(|o| o.size).sum::<u64>(),
        Ordering::Relaxed,
    );
    PROGRESS.listed.store(true, Ordering::Release);
    tracing::info!(component_id = %ctx.id, bucket = %config.bucket, prefix = %config.prefix, objects = objects.len(), "replaying archived objects");

    let mut sink = LineSink {
        ctx: &ctx,
        events: Vec::with_capacity(MAX_BATCH_EVENTS),
        max_line_bytes: config.max_line_bytes,
    };
    for meta in &objects {
        if ctx.shutdown.is_cancelled() {
            break;
        }
        let key = meta.location.to_string();
        let got = store
            .get(&meta.location)
            .await
            .map_err(|e| ComponentError::new(format!("reading s3 object `{key}`: {e}")))?;
        let encoding = got
            .attributes
            .get(&Attribute::ContentEncoding)
            .map(|v| v.to_string());
        let mut decoder = Decoder::new(encoding.as_deref(), &key)
            .map_err(|e| ComponentError::new(format!("decompressing `{key}`: {e}")))?;
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk
                .map_err(|e| ComponentError::new(format!("reading s3 object `{key}`: {e}")))?;
            PROGRESS
                .bytes_done
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
            decoder
                .write(&chunk)
                .map_err(|e| ComponentError::new(format!("decompressing `{key}`: {e}")))?;
            sink.drain(decoder.output(), false).await?;
        }
        decoder
            .finish()
            .map_err(|e| ComponentError::new(format!("decompressing `{key}`: {e}")))?;
        sink.drain(decoder.output(), true).await?;
        sink.flush().await?;
        PROGRESS.objects_done.fetch_add(1, Ordering::Relaxed);
    }
    sink.flush().await?;
    let invalid = PROGRESS.invalid_lines.load(Ordering::Relaxed);
    if invalid > 0 {
        tracing::warn!(component_id = %ctx.id, lines = invalid, "archived lines that were not JSON were replayed as messages tagged parse_failure (or skipped when too long)");
    }
    tracing::info!(component_id = %ctx.id, objects = PROGRESS.objects_done.load(Ordering::Relaxed), events = PROGRESS.events.load(Ordering::Relaxed), "s3_archive source finished");
    Ok(())
}
