//! The running `s3` sink: groups events into open batches by rendered key, compresses them
//! as they arrive, streams multipart parts as they fill, and closes a batch into an object
//! when it reaches `batch.max_bytes` (compressed), when `batch.timeout_secs` pass after its
//! first event, when too many batches are open (the oldest closes), or when the input ends.
//!
//! Encoding and compression run on the blocking pool (one input batch at a time, the open
//! batches move there and back), so the async workers only drive uploads. Uploads run as
//! tasks bounded by a semaphore (`max_concurrent_uploads`); waiting for a permit is the
//! backpressure that reaches the sources. Finalizers of an object's events are kept until
//! the store confirmed the object (PUT or CompleteMultipartUpload): `Delivered` then,
//! `Errored` if the object could not be written. See `DESIGN.md`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use object_store::multipart::PartId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::encoder::{Compression, ObjectEncoder};
use super::key::KeyTemplate;
use super::retry::{FailureKind, UploadError};
use super::service::{MultipartUpload, UploadService};
use crate::event::EventBatch;
use crate::finalization::{EventFinalizer, EventStatus};
use crate::internal_metrics::{self, SinkMetrics};
use crate::topology::{ComponentError, SinkContext};

/// Settings of the running sink.
#[derive(Debug, Clone)]
pub struct SinkSettings {
    pub key: KeyTemplate,
    pub compression: Compression,
    pub max_bytes: u64,
    pub timeout: Duration,
    pub part_bytes: usize,
    pub max_open_batches: usize,
    pub max_concurrent_uploads: usize,
}

/// One object being filled.
struct OpenBatch {
    key: String,
    encoder: ObjectEncoder,
    finalizers: Vec<EventFinalizer>,
    events: u64,
    deadline: Instant,
    opened: u64,
    multipart: Option<OpenMultipart>,
}

struct OpenMultipart {
    upload: MultipartUpload,
    parts: Vec<JoinHandle<Result<PartId, UploadError>>>,
}

/// The open batches; moved to the blocking pool for encoding.
struct Batches {
    settings: Arc<SinkSettings>,
    open: HashMap<String, OpenBatch>,
    /// Batches closed while encoding (too many open), to upload next.
    evicted: Vec<OpenBatch>,
    opened: u64,
    group: String,
    line: Vec<u8>,
    missing_fields: u64,
}

impl Batches {
    fn encode(&mut self, mut batch: EventBatch) -> std::io::Result<()> {
        let now = Instant::now();
        for event in &mut batch.events {
            let mut group = std::mem::take(&mut self.group);
            if self.settings.key.render_group(event, &mut group) {
                self.missing_fields += 1;
            }
            if !self.open.contains_key(group.as_str()) {
                if self.open.len() >= self.settings.max_open_batches {
                    let oldest = self
                        .open
                        .iter()
                        .min_by_key(|(_, b)| b.opened)
                        .map(|(g, _)| g.clone());
                    if let Some(b) = oldest.and_then(|g| self.open.remove(&g)) {
                        self.evicted.push(b);
                    }
                }
                self.opened += 1;
                self.open.insert(
                    group.clone(),
                    OpenBatch {
                        key: KeyTemplate::object_key(&group),
                        encoder: ObjectEncoder::new(self.settings.compression)?,
                        finalizers: Vec::new(),
                        events: 0,
                        deadline: now + self.settings.timeout,
                        opened: self.opened,
                        multipart: None,
                    },
                );
            }
            let open = self.open.get_mut(group.as_str()).expect("inserted above");
            self.line.clear();
            crate::codec::json::write_object(&mut self.line, &event.fields);
            self.line.push(b'\n');
            open.encoder.write(&self.line)?;
            open.events += 1;
            if let Some(f) = event.meta.finalizer.take() {
                open.finalizers.push(f);
            }
            self.group = group;
        }
        Ok(())
    }
}

/// What one finished object amounted to.
#[derive(Debug, Default)]
struct ObjectDone {
    events: u64,
    bytes: u64,
    multipart: bool,
}

/// Metric handles of the objects (requests are measured in `request_metrics.rs`), updated
/// once per object.
struct ObjectCounters {
    /// Events in confirmed objects.
    sent_events: metrics::Counter,
    /// Compressed bytes of confirmed objects.
    sent_bytes: metrics::Counter,
    /// `logweir_component_errors_total{error_type="gave_up"}`: events of objects that could
    /// not be written (finished as errored).
    gave_up: metrics::Counter,
}

/// Totals for the closing log line.
#[derive(Debug, Default)]
struct Totals {
    objects: u64,
    multipart_objects: u64,
    events: u64,
    bytes: u64,
    failed_objects: u64,
    failed_events: u64,
}

pub struct S3Sink {
    id: String,
    settings: Arc<SinkSettings>,
    service: UploadService,
    permits: Arc<Semaphore>,
    uploads: JoinSet<Result<ObjectDone, (UploadError, u64)>>,
    totals: Totals,
    counters: ObjectCounters,
    /// `/ready` turns green after the first confirmed object.
    readiness: Option<crate::readiness::ReadinessHandle>,
}

impl S3Sink {
    pub fn new(
        id: &str,
        settings: SinkSettings,
        service: UploadService,
        sink_metrics: &SinkMetrics,
    ) -> S3Sink {
        let permits = Arc::new(Semaphore::new(settings.max_concurrent_uploads));
        let labels = internal_metrics::component_labels(id, "sink", "s3");
        S3Sink {
            counters: ObjectCounters {
                sent_events: metrics::counter!(internal_metrics::SENT_EVENTS, &labels),
                sent_bytes: metrics::counter!(internal_metrics::SENT_BYTES, &labels),
                gave_up: sink_metrics.error("gave_up"),
            },
            id: id.to_string(),
            settings: Arc::new(settings),
            service,
            permits,
            uploads: JoinSet::new(),
            totals: Totals::default(),
            readiness: None,
        }
    }

    pub async fn run(mut self, mut ctx: SinkContext) -> Result<(), ComponentError> {
        self.readiness = Some(ctx.readiness.clone());
        let mut batches = Box::new(Batches {
            settings: Arc::clone(&self.settings),
            open: HashMap::new(),
            evicted: Vec::new(),
            opened: 0,
            group: String::new(),
            line: Vec::with_capacity(4096),
            missing_fields: 0,
        });
        loop {
            let next_deadline = batches.open.values().map(|b| b.deadline).min();
            let received = tokio::select! {
                b = ctx.input.recv() => Some(b),
                () = sleep_until_opt(next_deadline) => None,
                // Accounted as soon as it finishes, not at the next input: the sent
                // counters and readiness must not wait for more events.
                Some(joined) = self.uploads.join_next(), if !self.uploads.is_empty() => {
                    self.account(joined)?;
                    continue;
                }
            };
            match received {
                None => {
                    // A deadline passed: close every batch that is due.
                    let now = Instant::now();
                    let due: Vec<String> = batches
                        .open
                        .iter()
                        .filter(|(_, b)| b.deadline <= now)
                        .map(|(g, _)| g.clone())
                        .collect();
                    for group in due {
                        if let Some(b) = batches.open.remove(&group) {
                            self.close(b).await?;
                        }
                    }
                }
                Some(None) => break,
                Some(Some(batch)) => {
                    let (returned, result) = tokio::task::spawn_blocking(move || {
                        let result = batches.encode(batch);
                        (batches, result)
                    })
                    .await
                    .map_err(|e| ComponentError::new(format!("s3 sink encoder: {e}")))?;
                    batches = returned;
                    result.map_err(|e| ComponentError::new(format!("s3 sink encoder: {e}")))?;
                    for b in std::mem::take(&mut batches.evicted) {
                        tracing::debug!(component_id = %self.id, key = %b.key, "too many open batches; uploading the oldest early");
                        self.close(b).await?;
                    }
                    self.advance(&mut batches).await?;
                }
            }
            self.reap_finished()?;
        }
        // Input ended: everything open becomes an object.
        let open: Vec<OpenBatch> = batches.open.drain().map(|(_, b)| b).collect();
        for b in open {
            self.close(b).await?;
        }
        while let Some(joined) = self.uploads.join_next().await {
            self.account(joined)?;
        }
        if batches.missing_fields > 0 {
            tracing::warn!(component_id = %self.id, events = batches.missing_fields, "key template referenced fields some events lack; they were archived under `_missing_`");
        }
        let t = &self.totals;
        tracing::info!(component_id = %self.id, objects = t.objects, multipart_objects = t.multipart_objects, events = t.events, bytes = t.bytes, failed_objects = t.failed_objects, failed_events = t.failed_events, "s3 sink finished");
        if t.failed_events > 0 {
            return Err(ComponentError::new(format!(
                "{} events in {} objects could not be uploaded",
                t.failed_events, t.failed_objects
            )));
        }
        Ok(())
    }

    /// Streams full parts and closes batches that reached `max_bytes`.
    async fn advance(&mut self, batches: &mut Batches) -> Result<(), ComponentError> {
        let part_bytes = self.settings.part_bytes;
        let mut full = Vec::new();
        for (group, b) in batches.open.iter_mut() {
            while b.encoder.buffered_bytes() >= part_bytes {
                if b.multipart.is_none() {
                    let upload = self
                        .service
                        .create_multipart(&b.key)
                        .await
                        .map_err(|e| self.upload_failed(e))?;
                    b.multipart = Some(OpenMultipart {
                        upload,
                        parts: Vec::new(),
                    });
                }
                let part = b.encoder.take_front(part_bytes).expect("checked above");
                let permit = self.permit().await;
                let mp = b.multipart.as_mut().expect("created above");
                let index = mp.parts.len();
                let upload = mp.upload.clone();
                mp.parts.push(tokio::spawn(async move {
                    let _permit = permit;
                    upload.put_part(index, part).await
                }));
            }
            if b.encoder.compressed_bytes() >= self.settings.max_bytes {
                full.push(group.clone());
            }
        }
        for group in full {
            if let Some(b) = batches.open.remove(&group) {
                self.close(b).await?;
            }
        }
        Ok(())
    }

    /// Finishes a batch's compression and starts its final upload.
    async fn close(&mut self, batch: OpenBatch) -> Result<(), ComponentError> {
        let OpenBatch {
            key,
            encoder,
            mut finalizers,
            events,
            multipart,
            ..
        } = batch;
        let raw = encoder.raw_bytes();
        let taken = encoder.taken_bytes();
        let rest = match encoder.finish() {
            Ok(b) => b,
            Err(e) => {
                finish_all(&mut finalizers, EventStatus::Errored);
                return Err(ComponentError::new(format!(
                    "compressing s3 object `{key}`: {e}"
                )));
            }
        };
        let bytes = taken + rest.len() as u64;
        let permit = self.permit().await;
        let service = self.service.clone();
        match multipart {
            None => {
                self.uploads.spawn(async move {
                    let _permit = permit;
                    let result = service.put_object(&key, rest).await;
                    finish_object(
                        &service, &key, result, finalizers, events, bytes, raw, false,
                    )
                });
            }
            Some(mut mp) => {
                let index = mp.parts.len();
                let upload = mp.upload.clone();
                if !rest.is_empty() {
                    mp.parts.push(tokio::spawn(async move {
                        let _permit = permit;
                        upload.put_part(index, rest).await
                    }));
                } else {
                    drop(permit);
                }
                self.uploads.spawn(async move {
                    let mut ids = Vec::with_capacity(mp.parts.len());
                    let mut failure = None;
                    for handle in mp.parts {
                        match handle.await {
                            Ok(Ok(id)) => ids.push(id),
                            Ok(Err(e)) => {
                                failure.get_or_insert(e);
                            }
                            Err(e) => {
                                failure.get_or_insert(UploadError {
                                    kind: FailureKind::Retryable,
                                    message: format!("part upload task of `{key}` failed: {e}"),
                                });
                            }
                        }
                    }
                    let result = match failure {
                        Some(e) => Err(e),
                        None => mp.upload.complete(ids).await,
                    };
                    if result.is_err() {
                        // No half objects: drop the uploaded parts.
                        mp.upload.abort().await;
                    }
                    finish_object(&service, &key, result, finalizers, events, bytes, raw, true)
                });
            }
        }
        Ok(())
    }

    async fn permit(&self) -> OwnedSemaphorePermit {
        Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    fn upload_failed(&self, e: UploadError) -> ComponentError {
        ComponentError::new(format!("s3 sink `{}`: {}", self.id, e.message))
    }

    /// Collects finished uploads without waiting; a fatal failure stops the sink.
    fn reap_finished(&mut self) -> Result<(), ComponentError> {
        while let Some(joined) = self.uploads.try_join_next() {
            self.account(joined)?;
        }
        Ok(())
    }

    fn account(
        &mut self,
        joined: Result<Result<ObjectDone, (UploadError, u64)>, tokio::task::JoinError>,
    ) -> Result<(), ComponentError> {
        match joined {
            Ok(Ok(done)) => {
                if let Some(readiness) = &self.readiness {
                    readiness.mark_healthy();
                }
                self.totals.objects += 1;
                self.totals.multipart_objects += u64::from(done.multipart);
                self.totals.events += done.events;
                self.totals.bytes += done.bytes;
                self.counters.sent_events.increment(done.events);
                self.counters.sent_bytes.increment(done.bytes);
                Ok(())
            }
            Ok(Err((e, events))) => {
                self.totals.failed_objects += 1;
                self.totals.failed_events += events;
                self.counters.gave_up.increment(events);
                if e.kind == FailureKind::Fatal {
                    Err(self.upload_failed(e))
                } else {
                    Ok(())
                }
            }
            Err(e) => Err(ComponentError::new(format!("s3 upload task: {e}"))),
        }
    }
}

fn finish_all(finalizers: &mut Vec<EventFinalizer>, status: EventStatus) {
    for f in finalizers.drain(..) {
        f.finish(status);
    }
}

#[allow(clippy::too_many_arguments)]
fn finish_object(
    service: &UploadService,
    key: &str,
    result: Result<(), UploadError>,
    mut finalizers: Vec<EventFinalizer>,
    events: u64,
    bytes: u64,
    raw: u64,
    multipart: bool,
) -> Result<ObjectDone, (UploadError, u64)> {
    match result {
        Ok(()) => {
            finish_all(&mut finalizers, EventStatus::Delivered);
            tracing::debug!(component_id = %service.component_id, key, events, bytes, raw_bytes = raw, multipart, "uploaded s3 object");
            Ok(ObjectDone {
                events,
                bytes,
                multipart,
            })
        }
        Err(e) => {
            finish_all(&mut finalizers, EventStatus::Errored);
            tracing::error!(component_id = %service.component_id, key, events, error = %e.message, "s3 object not uploaded; its events are finished as errored (sources that can replay will resend them)");
            Err((e, events))
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
