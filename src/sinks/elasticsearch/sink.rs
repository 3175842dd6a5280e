//! The running sink: batching loop, bounded concurrency, and the delivery of one bulk request
//! until every one of its documents has a final outcome.
//!
//! Memory is bounded by construction: at most `concurrency` bulk requests are in flight, each
//! holding at most `batch.max_events` documents / about `batch.max_bytes` body bytes, plus the
//! one being filled. When every slot is busy (the cluster is slow, down, or pushing back) the
//! loop stops receiving from its input channel, which fills and stops the upstream components:
//! backpressure, not buffering. Events are encoded as they arrive and then dropped; only
//! their finalizers wait for the outcome.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::config::{CheckedConfig, Compression};
use super::dead_letter::{DeadLetter, DeadLetterWriter};
use super::encoder::{compress, BulkBatch, BulkEncoder};
use super::retry::{item_verdict, request_verdict, Backoff, ItemVerdict, RequestVerdict};
use super::service::{EsClient, RequestError};
use super::templates;
use crate::event::EventBatch;
use crate::finalization::EventStatus;
use crate::internal_metrics::{self, SinkMetrics};
use crate::topology::{ComponentError, SinkContext};

/// Outcome counters, logged at shutdown and mirrored to `metrics` counters.
#[derive(Debug, Default)]
pub struct SinkStats {
    pub delivered: AtomicU64,
    /// Delivered by an earlier attempt (409 on `create` with our id).
    pub already_stored: AtomicU64,
    pub rejected: AtomicU64,
    pub errored: AtomicU64,
    pub bulk_requests: AtomicU64,
    pub request_retries: AtomicU64,
    pub item_retries: AtomicU64,
    pub bytes_sent: AtomicU64,
}

/// Metric handles, created once; each update is an atomic add (per request or per
/// response, never per event).
struct Counters {
    /// Bulk request durations by outcome, retried requests, requests in flight.
    requests: SinkMetrics,
    errors: ErrorCounters,
    /// Documents Elasticsearch stored (delivered + already stored).
    sent_events: metrics::Counter,
    /// Bulk body bytes on the wire (compressed when `compression = "gzip"`) of answered
    /// requests.
    sent_bytes: metrics::Counter,
    dead_lettered: metrics::Counter,
    delivered: metrics::Counter,
    already_stored: metrics::Counter,
    rejected: metrics::Counter,
    errored: metrics::Counter,
    request_retries: metrics::Counter,
    item_retries: metrics::Counter,
}

impl Counters {
    fn new(component_id: &str) -> Counters {
        let id = component_id.to_string();
        let labels = internal_metrics::component_labels(component_id, "sink", "elasticsearch");
        let outcome = |o: &'static str| metrics::counter!(internal_metrics::ELASTICSEARCH_EVENTS, "component_id" => id.clone(), "outcome" => o);
        let retries = |k: &'static str| metrics::counter!(internal_metrics::ELASTICSEARCH_RETRIES, "component_id" => id.clone(), "kind" => k);
        let requests = SinkMetrics::new(component_id, "elasticsearch");
        Counters {
            errors: ErrorCounters::new(&requests),
            requests,
            sent_events: metrics::counter!(internal_metrics::SENT_EVENTS, &labels),
            sent_bytes: metrics::counter!(internal_metrics::SENT_BYTES, &labels),
            dead_lettered: internal_metrics::dead_lettered_events(
                component_id,
                "sink",
                "elasticsearch",
            ),
            delivered: outcome("delivered"),
            already_stored: outcome("already_stored"),
            rejected: outcome("rejected"),
            errored: outcome("errored"),
            request_retries: retries("request"),
            item_retries: retries("item"),
        }
    }
}

/// `logweir_component_errors_total{error_type}` of the sink. Request kinds count bulk
/// requests, `item_*` and `gave_up` count documents.
struct ErrorCounters {
    /// No answer within `request_timeout_secs`.
    timeout: metrics::Counter,
    /// The connection failed (refused, reset, TLS).
    connection: metrics::Counter,
    /// The whole request was answered 429.
    throttled: metrics::Counter,
    /// 401/403.
    credentials: metrics::Counter,
    /// 5xx.
    server_error: metrics::Counter,
    /// Another 4xx: the request's documents are dead-lettered (413: split).
    request_refused: metrics::Counter,
    /// A response that is not a bulk response for these documents.
    bad_response: metrics::Counter,
    /// Documents answered 429 (retried).
    item_throttled: metrics::Counter,
    /// Documents answered 5xx (retried).
    item_server_error: metrics::Counter,
    /// Documents refused for good (dead-lettered).
    item_refused: metrics::Counter,
    /// Failed writes of the dead-letter file.
    dead_letter_write: metrics::Counter,
    /// Documents given up after `max_retries`.
    gave_up: metrics::Counter,
}

impl ErrorCounters {
    fn new(sink: &SinkMetrics) -> ErrorCounters {
        ErrorCounters {
            timeout: sink.error("timeout"),
            connection: sink.error("connection"),
            throttled: sink.error("throttled"),
            credentials: sink.error("credentials"),
            server_error: sink.error("server_error"),
            request_refused: sink.error("request_refused"),
            bad_response: sink.error("bad_response"),
            item_throttled: sink.error("item_throttled"),
            item_server_error: sink.error("item_server_error"),
            item_refused: sink.error("item_refused"),
            dead_letter_write: sink.error("dead_letter_write"),
            gave_up: sink.error("gave_up"),
        }
    }

    fn of_request(&self, error: &RequestError) -> &metrics::Counter {
        match error.error_type() {
            "timeout" => &self.timeout,
            "connection" => &self.connection,
            "throttled" => &self.throttled,
            "credentials" => &self.credentials,
            "server_error" => &self.server_error,
            "request_refused" => &self.request_refused,
            _ => &self.bad_response,
        }
    }
}

/// What every request task shares.
struct Shared {
    component_id: String,
    client: Arc<EsClient>,
    dead_letters: DeadLetterWriter,
    stats: Arc<SinkStats>,
    counters: Counters,
    config: CheckedConfig,
    /// `/ready` turns green after the first confirmed delivery.
    readiness: crate::readiness::ReadinessHandle,
}

/// Runs the sink until its input ends and every request has finished.
pub async fn run(
    config: CheckedConfig,
    client: Arc<EsClient>,
    mut ctx: SinkContext,
    stats: Arc<SinkStats>,
) -> Result<(), ComponentError> {
    let id = ctx.id.clone();
    // Registered before anything can block, so the sink's series are served from the start.
    let counters = Counters::new(&id);
    spawn_health_checks(&client, &id);
    if config.manage_templates {
        let resources = templates::desired_resources(&config, &id);
        let report = templates::install(
            &client,
            &resources,
            &id,
            Backoff::new(config.initial_backoff, config.max_backoff),
        )
        .await;
        tracing::info!(component_id = %id, written = report.written.len(), unchanged = report.unchanged.len(), failed = report.failed.len(), "elasticsearch templates and ilm policies checked");
    }
    let shared = Arc::new(Shared {
        component_id: id.clone(),
        client,
        dead_letters: DeadLetterWriter::new(&ctx.data_dir, &id),
        stats: Arc::clone(&stats),
        counters,
        config: config.clone(),
        readiness: ctx.readiness.clone(),
    });
    let mut encoder = BulkEncoder::new(config.target.clone(), config.id.clone());
    // Spare batches (their buffers): one per slot plus the batch being filled.
    let mut spare: Vec<BulkBatch> = Vec::with_capacity(config.concurrency + 1);
    let mut inflight: JoinSet<BulkBatch> = JoinSet::new();
    let mut current = BulkBatch::default();
    let mut deadline: Option<Instant> = None;
    let mut input_open = true;
    while input_open || !inflight.is_empty() || !current.is_empty() {
        if !input_open {
            // Input ended: send what is left, then wait for every request.
            if !current.is_empty() {
                dispatch(&shared, &mut current, &mut inflight, &mut spare).await;
            }
            while let Some(done) = inflight.join_next().await {
                reclaim(done, &mut spare);
            }
            break;
        }
        tokio::select! {
            received = ctx.input.recv() => match received {
                Some(batch) => {
                    let dispatched = encode_batch(batch, &mut encoder, &shared, &mut current, &mut inflight, &mut spare).await;
                    if current.is_empty() {
                        deadline = None;
                    } else if deadline.is_none() || dispatched {
                        // The batch being filled started in this input batch: its timeout
                        // runs from now, not from the start of the batch sent for being full.
                        deadline = Some(Instant::now() + config.batch_timeout);
                    }
                }
                None => input_open = false,
            },
            () = sleep_until_opt(deadline), if deadline.is_some() => {
                deadline = None;
                if !current.is_empty() {
                    dispatch(&shared, &mut current, &mut inflight, &mut spare).await;
                }
            }
            Some(done) = inflight.join_next(), if !inflight.is_empty() => reclaim(done, &mut spare),
        }
    }
    let s = &stats;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    tracing::info!(
        component_id = %id,
        delivered = load(&s.delivered),
        already_stored = load(&s.already_stored),
        rejected = load(&s.rejected),
        errored = load(&s.errored),
        bulk_requests = load(&s.bulk_requests),
        request_retries = load(&s.request_retries),
        item_retries = load(&s.item_retries),
        bytes_sent = load(&s.bytes_sent),
        missing_target_fields = encoder.stats.missing_target_fields,
        missing_id_fields = encoder.stats.missing_id_fields,
        "elasticsearch sink finished"
    );
    if load(&s.rejected) > 0 {
        tracing::warn!(component_id = %id, rejected = load(&s.rejected), path = %shared.dead_letters.path().display(), "some documents were refused by elasticsearch and written to the dead-letter file");
    }
    Ok(())
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn reclaim(done: Result<BulkBatch, tokio::task::JoinError>, spare: &mut Vec<BulkBatch>) {
    // A panicked request task dropped its finalizers, which reports those events as errored.
    if let Ok(batch) = done {
        if spare.len() < spare.capacity() {
            spare.push(batch.recycle());
        }
    }
}

/// Encodes `batch` into `current`, sending `current` whenever it is full. Returns whether it
/// sent any.
async fn encode_batch(
    mut batch: EventBatch,
    encoder: &mut BulkEncoder,
    shared: &Arc<Shared>,
    current: &mut BulkBatch,
    inflight: &mut JoinSet<BulkBatch>,
    spare: &mut Vec<BulkBatch>,
) -> bool {
    let max_events = shared.config.max_events;
    let max_bytes = shared.config.max_bytes;
    let mut dispatched = false;
    for event in batch.events.iter_mut() {
        if current.len() >= max_events || current.body.len() >= max_bytes {
            dispatch(shared, current, inflight, spare).await;
            dispatched = true;
        }
        encoder.encode(event, current);
    }
    if current.len() >= max_events || current.body.len() >= max_bytes {
        dispatch(shared, current, inflight, spare).await;
        dispatched = true;
    }
    dispatched
}

/// Starts delivering `current`, first waiting for a free slot (this wait is the
/// backpressure).
async fn dispatch(
    shared: &Arc<Shared>,
    current: &mut BulkBatch,
    inflight: &mut JoinSet<BulkBatch>,
    spare: &mut Vec<BulkBatch>,
) {
    while inflight.len() >= shared.config.concurrency {
        if let Some(done) = inflight.join_next().await {
            reclaim(done, spare);
        }
    }
    let fresh = spare.pop().unwrap_or_default();
    let batch = std::mem::replace(current, fresh);
    inflight.spawn(deliver(Arc::clone(shared), batch));
}

fn spawn_health_checks(client: &Arc<EsClient>, component_id: &str) {
    for i in 0..client.endpoints.len() {
        let client = Arc::clone(client);
        let id = component_id.to_string();
        tokio::spawn(async move {
            let endpoint = client.endpoints.base(i).to_string();
            match client.info(i).await {
                Ok(info) => {
                    let version = info["version"]["number"].as_str().unwrap_or("unknown");
                    let cluster = info["cluster_name"].as_str().unwrap_or("unknown");
                    tracing::info!(component_id = %id, endpoint = %endpoint, cluster_name = cluster, version, "connected to elasticsearch");
                    if !version.starts_with("8.") && !version.starts_with("9.") {
                        tracing::warn!(component_id = %id, endpoint = %endpoint, version, "elasticsearch version not tested with logweir (8.x and 9.x are)");
                    }
                }
                Err(e) => {
                    tracing::warn!(component_id = %id, endpoint = %endpoint, error = %e, "elasticsearch endpoint unreachable at startup; events wait and are retried")
                }
            }
        });
    }
}

/// The outcome of one item, applied to its finalizer and the counters.
fn finish_item(batch: &mut BulkBatch, index: usize, status: EventStatus) {
    if let Some(f) = batch.items[index].finalizer.take() {
        f.finish(status);
    }
}

fn add(counter: &AtomicU64, metric: &metrics::Counter, n: u64) {
    if n > 0 {
        counter.fetch_add(n, Ordering::Relaxed);
        metric.increment(n);
    }
}

/// Refused documents: write them to the dead-letter file, then finish them as rejected (or
/// errored if the file cannot be written: they are then not accounted as handled).
async fn dead_letter(
    shared: &Shared,
    batch: &mut BulkBatch,
    refused: &[(usize, u16, String, Option<serde_json::Value>)],
) {
    if refused.is_empty() {
        return;
    }
    let mut lines = Vec::new();
    {
        let letters: Vec<DeadLetter<'_>> = refused
            .iter()
            .map(|(i, status, reason, error)| DeadLetter {
                status: *status,
                reason,
                error: error.as_ref(),
                action: batch.action_line(*i),
                document: batch.document(*i),
            })
            .collect();
        shared.dead_letters.render(&letters, &mut lines);
    }
    let first_reason = &refused[0].2;
    match shared.dead_letters.append(lines, refused.len()).await {
        Ok(()) => {
            tracing::warn!(component_id = %shared.component_id, documents = refused.len(), reason = %first_reason, path = %shared.dead_letters.path().display(), "elasticsearch refused documents; written to the dead-letter file");
            for (i, ..) in refused {
                finish_item(batch, *i, EventStatus::Rejected);
            }
            add(
                &shared.stats.rejected,
                &shared.counters.rejected,
                refused.len() as u64,
            );
            shared
                .counters
                .dead_lettered
                .increment(refused.len() as u64);
        }
        Err(e) => {
            tracing::error!(component_id = %shared.component_id, documents = refused.len(), reason = %first_reason, error = %e, path = %shared.dead_letters.path().display(), "cannot write the dead-letter file; the refused documents are errored");
            shared.counters.errors.dead_letter_write.increment(1);
            for (i, ..) in refused {
                finish_item(batch, *i, EventStatus::Errored);
            }
            add(
                &shared.stats.errored,
                &shared.counters.errored,
                refused.len() as u64,
            );
        }
    }
}

/// Delivers one bulk batch: every item ends delivered, rejected (dead-lettered) or, only when
/// `max_retries` is set and exhausted, errored. Returns the batch for buffer reuse.
async fn deliver(shared: Arc<Shared>, mut batch: BulkBatch) -> BulkBatch {
    let config = &shared.config;
    let mut chunks: Vec<Vec<usize>> = vec![(0..batch.len()).collect()];
    let mut subset_body = Vec::new();
    // Every request after the first re-sends documents of an earlier one (a whole-request
    // retry, the items to retry, or a half of a request too large).
    let mut requests_sent = 0u64;
    while let Some(mut pending) = chunks.pop() {
        let mut backoff = Backoff::new(config.initial_backoff, config.max_backoff);
        let mut whole = pending.len() == batch.len();
        loop {
            let wire = if whole && config.compression == Compression::None {
                batch.wire_body()
            } else {
                let body = if whole {
                    batch.text()
                } else {
                    batch.write_subset(&pending, &mut subset_body);
                    &subset_body
                };
                match compress(body, config.compression) {
                    Ok(w) => w,
                    // Compressing into memory cannot fail short of allocation failure.
                    Err(e) => {
                        tracing::error!(component_id = %shared.component_id, error = %e, "cannot compress a bulk body");
                        bytes::Bytes::copy_from_slice(body)
                    }
                }
            };
            let wire_len = wire.len() as u64;
            shared.stats.bulk_requests.fetch_add(1, Ordering::Relaxed);
            let counters = &shared.counters;
            if requests_sent > 0 {
                counters.requests.retry();
            }
            requests_sent += 1;
            let request = counters.requests.start_request();
            let result = shared.client.bulk(wire).await;
            let outcome = match &result {
                Ok(response) if response.item_count == pending.len() => "success",
                Ok(_) => {
                    counters.errors.bad_response.increment(1);
                    "error"
                }
                Err(e) => {
                    counters.errors.of_request(e).increment(1);
                    e.outcome()
                }
            };
            request.finish(outcome);
            let failure: String = match result {
                Ok(response) if response.item_count == pending.len() => {
                    add(
                        &shared.stats.bytes_sent,
                        &shared.counters.sent_bytes,
                        wire_len,
                    );
                    let mut retry = Vec::new();
                    let mut refused = Vec::new();
                    let (mut delivered, mut already) = (0u64, 0u64);
                    let mut throttled_items = 0u64;
                    if !response.errors {
                        // Every item succeeded (its items were only counted).
                        for &i in &pending {
                            finish_item(&mut batch, i, EventStatus::Delivered);
                        }
                        delivered = pending.len() as u64;
                        shared.readiness.mark_healthy();
                    }
                    // With errors, every item was decoded: one verdict each.
                    for (&i, envelope) in pending.iter().zip(&response.items) {
                        let item = envelope.result();
                        match item_verdict(item.status, item.error_type(), batch.items[i].own_id) {
                            ItemVerdict::Delivered => {
                                delivered += 1;
                                finish_item(&mut batch, i, EventStatus::Delivered);
                                shared.readiness.mark_healthy();
                            }
                            ItemVerdict::AlreadyStored => {
                                already += 1;
                                finish_item(&mut batch, i, EventStatus::Delivered);
                            }
                            ItemVerdict::Retry => {
                                throttled_items += u64::from(item.status == 429);
                                retry.push(i);
                            }
                            ItemVerdict::Reject => refused.push((
                                i,
                                item.status,
                                item.error_summary(),
                                item.error.clone(),
                            )),
                        }
                    }
                    add(
                        &shared.stats.delivered,
                        &shared.counters.delivered,
                        delivered,
                    );
                    add(
                        &shared.stats.already_stored,
                        &shared.counters.already_stored,
                        already,
                    );
                    shared.counters.sent_events.increment(delivered + already);
                    let errors = &shared.counters.errors;
                    errors.item_throttled.increment(throttled_items);
                    errors
                        .item_server_error
                        .increment(retry.len() as u64 - throttled_items);
                    errors.item_refused.increment(refused.len() as u64);
                    dead_letter(&shared, &mut batch, &refused).await;
                    if retry.is_empty() {
                        break;
                    }
                    add(
                        &shared.stats.item_retries,
                        &shared.counters.item_retries,
                        retry.len() as u64,
                    );
                    tracing::debug!(component_id = %shared.component_id, items = retry.len(), "retrying bulk items rejected as temporarily unavailable");
                    pending = retry;
                    whole = false;
                    String::new()
                }
                Ok(response) => format!(
                    "bulk response has {} items for {} documents",
                    response.item_count,
                    pending.len()
                ),
                Err(RequestError::Status {
                    status,
                    body,
                    endpoint,
                }) => match request_verdict(status) {
                    RequestVerdict::Retry { .. } => {
                        if status == 401 || status == 403 {
                            tracing::error!(component_id = %shared.component_id, endpoint = %endpoint, status, "elasticsearch refused the credentials or privileges; events wait until this is fixed");
                        }
                        format!("{endpoint} answered {status}: {body}")
                    }
                    RequestVerdict::TooLarge if pending.len() > 1 => {
                        let second = pending.split_off(pending.len() / 2);
                        tracing::warn!(component_id = %shared.component_id, documents = pending.len() + second.len(), "bulk request too large for the cluster; splitting it");
                        chunks.push(second);
                        chunks.push(pending);
                        break;
                    }
                    RequestVerdict::TooLarge | RequestVerdict::Reject => {
                        let reason = format!("request refused with status {status}: {body}");
                        let refused: Vec<_> = pending
                            .iter()
                            .map(|&i| (i, status, reason.clone(), None))
                            .collect();
                        dead_letter(&shared, &mut batch, &refused).await;
                        break;
                    }
                },
                Err(e) => e.to_string(),
            };
            if !failure.is_empty() {
                add(
                    &shared.stats.request_retries,
                    &shared.counters.request_retries,
                    1,
                );
            }
            if config
                .max_retries
                .is_some_and(|max| backoff.attempts() >= max)
            {
                tracing::error!(component_id = %shared.component_id, documents = pending.len(), attempts = backoff.attempts() + 1, error = %failure, "giving up on documents after max_retries; they are errored");
                for &i in &pending {
                    finish_item(&mut batch, i, EventStatus::Errored);
                }
                shared
                    .counters
                    .errors
                    .gave_up
                    .increment(pending.len() as u64);
                add(
                    &shared.stats.errored,
                    &shared.counters.errored,
                    pending.len() as u64,
                );
                break;
            }
            let delay = if failure.is_empty() || !shared.client.endpoints.any_available() {
                backoff.next_delay()
            } else {
                // Another endpoint can take it now; still count the attempt.
                let _ = backoff.next_delay();
                config.initial_backoff
            };
            if !failure.is_empty() {
                tracing::warn!(component_id = %shared.component_id, documents = pending.len(), attempt = backoff.attempts(), retry_in_ms = delay.as_millis() as u64, error = %failure, "bulk request failed; retrying");
            }
            tokio::time::sleep(delay).await;
        }
    }
    batch
}
