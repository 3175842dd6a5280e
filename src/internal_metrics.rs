//! logweir's own metrics: every name served at `GET /metrics`, and the handles components
//! use to report them.
//!
//! The topology reports the flow of every component itself (events and estimated bytes in
//! and out, batch sizes, channel fill). Components report what only they know through the
//! helpers here, created once when the component is built (a handle is an `Arc` around an
//! atomic: incrementing it is one atomic add, no lookup):
//! - transforms: [`discarded_events`] by reason, [`component_errors`] by error type,
//!   [`dead_lettered_events`];
//! - sinks that send requests: [`SinkMetrics`] (request latency, retries, in-flight
//!   requests, errors by type);
//! - the file source: [`FileSourceMetrics`] (files watched, bytes behind);
//! - network sources: [`NetworkSourceMetrics`] (open connections).
//!
//! Names follow Prometheus conventions: the unit is in the name, counters end in `_total`.
//! Every per-component series carries `component_id`, `component_kind` and `component_type`.
//! Without an `[api]` table no recorder is installed and every handle is a no-op.

use std::sync::Arc;
use std::time::Instant;

use metrics::{Counter, Gauge, Histogram};

/// Events a component took from its input channel (counter).
pub const RECEIVED_EVENTS: &str = "logweir_component_received_events_total";
/// Estimated bytes of the events a component took from its input channel (counter).
pub const RECEIVED_BYTES: &str = "logweir_component_received_bytes_total";
/// Events a component sent to its consumers (counter; per `output` for named outputs).
pub const SENT_EVENTS: &str = "logweir_component_sent_events_total";
/// Estimated bytes of the events a component sent to its consumers (counter).
pub const SENT_BYTES: &str = "logweir_component_sent_bytes_total";
/// Events per batch a component sent (histogram).
pub const BATCH_EVENTS: &str = "logweir_component_batch_events";
/// Errors, by `error_type` (counter).
pub const ERRORS: &str = "logweir_component_errors_total";
/// Events a component deliberately did not pass on, by `reason` (counter).
pub const DISCARDED_EVENTS: &str = "logweir_component_discarded_events_total";
/// Events written to the component's dead-letter file (counter).
pub const DEAD_LETTERED_EVENTS: &str = "logweir_component_dead_lettered_events_total";
/// Events waiting in a component's input channel (gauge).
pub const BUFFER_EVENTS: &str = "logweir_buffer_events";
/// Bytes held by a sink's disk buffer (gauge).
pub const BUFFER_BYTE_SIZE: &str = "logweir_buffer_byte_size";
/// Most bytes a sink's disk buffer may hold (gauge; 0 for memory buffers).
pub const BUFFER_MAX_BYTE_SIZE: &str = "logweir_buffer_max_byte_size";
/// Most events a component's input channel holds (gauge).
pub const BUFFER_MAX_EVENTS: &str = "logweir_buffer_max_events";
/// Events a full buffer discarded (`when_full = "drop_newest"`) (counter).
pub const BUFFER_DISCARDED_EVENTS: &str = "logweir_buffer_discarded_events_total";
/// Corrupt records skipped while replaying a disk buffer (counter).
pub const BUFFER_CORRUPT_RECORDS: &str = "logweir_buffer_corrupt_records_total";
/// Duration of one request to a sink's destination, by `outcome` (histogram, seconds).
pub const SINK_REQUEST_DURATION: &str = "logweir_sink_request_duration_seconds";
/// Requests a sink sent again after a failure (counter).
pub const SINK_RETRIES: &str = "logweir_sink_retries_total";
/// Requests a sink has sent and not yet seen answered (gauge).
pub const SINK_IN_FLIGHT_REQUESTS: &str = "logweir_sink_in_flight_requests";
/// Files a file source currently watches (gauge).
pub const FILE_SOURCE_FILES_WATCHED: &str = "logweir_file_source_files_watched";
/// Bytes the file source has not yet had acknowledged: the sum over watched files of
/// file size minus checkpoint (gauge).
pub const FILE_SOURCE_BYTES_BEHIND: &str = "logweir_file_source_bytes_behind";
/// Connections a network source holds open (gauge).
pub const SOURCE_OPEN_CONNECTIONS: &str = "logweir_source_open_connections";
/// Whether every sink has reached its destination (gauge, 1 or 0); mirrors `GET /ready`.
pub const READY: &str = "logweir_ready";
/// Seconds since the Unix epoch when the process started (gauge).
pub const START_TIME: &str = "logweir_start_time_seconds";
/// Configuration reloads that changed the running pipeline (counter).
pub const CONFIG_RELOADS: &str = "logweir_config_reloads_total";
/// Configuration reloads refused: invalid configuration, a component that cannot be built or
/// replaced; the pipeline kept running unchanged (counter).
pub const CONFIG_RELOAD_FAILURES: &str = "logweir_config_reload_failures_total";
/// Events `kubernetes_metadata` passed on without metadata, by `reason`: `not_ready` (no
/// LIST has succeeded yet), `not_found` (the pod is not cached) (counter).
pub const KUBERNETES_METADATA_MISSES: &str = "logweir_kubernetes_metadata_misses_total";
/// Pods in a `kubernetes_metadata` cache, by `state`: `live`, `deleted` (kept for the grace
/// period) (gauge).
pub const KUBERNETES_METADATA_CACHED_PODS: &str = "logweir_kubernetes_metadata_cached_pods";
/// Documents an `elasticsearch` sink finished, by `outcome`: `delivered`, `already_stored`
/// (a replay's `409`), `rejected` (dead-lettered), `errored` (counter; `component_id` only).
pub const ELASTICSEARCH_EVENTS: &str = "logweir_elasticsearch_events_total";
/// An `elasticsearch` sink's retries, by `kind`: `request` (a whole bulk request sent again),
/// `item` (documents sent again after a retryable item error) (counter; `component_id` only).
pub const ELASTICSEARCH_RETRIES: &str = "logweir_elasticsearch_retries_total";

/// Bucket bounds of [`BATCH_EVENTS`].
pub const BATCH_EVENTS_BUCKETS: &[f64] = &[
    1.0, 4.0, 16.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0,
];
/// Bucket bounds of [`SINK_REQUEST_DURATION`].
pub const REQUEST_DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Every metric name above with its kind and help text (what `describe` registers and the
/// README documents).
pub const ALL: &[(&str, MetricKind, &str)] = &[
    (
        RECEIVED_EVENTS,
        MetricKind::Counter,
        "Events a component took from its input channel.",
    ),
    (
        RECEIVED_BYTES,
        MetricKind::Counter,
        "Estimated bytes of the events a component took from its input channel.",
    ),
    (
        SENT_EVENTS,
        MetricKind::Counter,
        "Events a component sent to its consumers.",
    ),
    (
        SENT_BYTES,
        MetricKind::Counter,
        "Estimated bytes of the events a component sent to its consumers.",
    ),
    (
        BATCH_EVENTS,
        MetricKind::Histogram,
        "Events per batch a component sent.",
    ),
    (
        ERRORS,
        MetricKind::Counter,
        "Errors of a component, by error_type.",
    ),
    (
        DISCARDED_EVENTS,
        MetricKind::Counter,
        "Events a component deliberately did not pass on, by reason.",
    ),
    (
        DEAD_LETTERED_EVENTS,
        MetricKind::Counter,
        "Events written to a component's dead-letter file.",
    ),
    (
        BUFFER_EVENTS,
        MetricKind::Gauge,
        "Events waiting in a component's input channel.",
    ),
    (
        BUFFER_MAX_EVENTS,
        MetricKind::Gauge,
        "Most events a component's input channel holds.",
    ),
    (
        BUFFER_BYTE_SIZE,
        MetricKind::Gauge,
        "Bytes held by a sink's disk buffer.",
    ),
    (
        BUFFER_MAX_BYTE_SIZE,
        MetricKind::Gauge,
        "Most bytes a sink's disk buffer may hold.",
    ),
    (
        BUFFER_DISCARDED_EVENTS,
        MetricKind::Counter,
        "Events a full buffer discarded (when_full = drop_newest).",
    ),
    (
        BUFFER_CORRUPT_RECORDS,
        MetricKind::Counter,
        "Corrupt records skipped while replaying a disk buffer.",
    ),
    (
        SINK_REQUEST_DURATION,
        MetricKind::Histogram,
        "Duration of one request to a sink's destination, by outcome.",
    ),
    (
        SINK_RETRIES,
        MetricKind::Counter,
        "Requests a sink sent again after a failure.",
    ),
    (
        SINK_IN_FLIGHT_REQUESTS,
        MetricKind::Gauge,
        "Requests a sink has sent and not yet seen answered.",
    ),
    (
        FILE_SOURCE_FILES_WATCHED,
        MetricKind::Gauge,
        "Files a file source currently watches.",
    ),
    (
        FILE_SOURCE_BYTES_BEHIND,
        MetricKind::Gauge,
        "Sum over watched files of file size minus checkpointed offset.",
    ),
    (
        SOURCE_OPEN_CONNECTIONS,
        MetricKind::Gauge,
        "Connections a network source holds open.",
    ),
    (
        READY,
        MetricKind::Gauge,
        "1 when every sink has reached its destination (GET /ready is 200), else 0.",
    ),
    (
        START_TIME,
        MetricKind::Gauge,
        "Seconds since the Unix epoch when the process started.",
    ),
    (
        CONFIG_RELOADS,
        MetricKind::Counter,
        "Configuration reloads that changed the running pipeline.",
    ),
    (
        CONFIG_RELOAD_FAILURES,
        MetricKind::Counter,
        "Configuration reloads refused; the pipeline kept running unchanged.",
    ),
    (
        KUBERNETES_METADATA_MISSES,
        MetricKind::Counter,
        "Events kubernetes_metadata passed on without metadata, by reason (not_ready, not_found).",
    ),
    (
        KUBERNETES_METADATA_CACHED_PODS,
        MetricKind::Gauge,
        "Pods in a kubernetes_metadata cache, by state (live, deleted).",
    ),
    (
        ELASTICSEARCH_EVENTS,
        MetricKind::Counter,
        "Documents an elasticsearch sink finished, by outcome (delivered, already_stored, rejected, errored).",
    ),
    (
        ELASTICSEARCH_RETRIES,
        MetricKind::Counter,
        "Retries of an elasticsearch sink, by kind (request, item).",
    ),
];

/// The kind of a metric, for [`ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

/// Registers the help text of every metric with the installed recorder.
pub fn describe() {
    for &(name, kind, help) in ALL {
        match kind {
            MetricKind::Counter => metrics::describe_counter!(name, help),
            MetricKind::Gauge => metrics::describe_gauge!(name, help),
            MetricKind::Histogram => metrics::describe_histogram!(name, help),
        }
    }
}

/// The labels every per-component series carries.
pub fn component_labels(
    component_id: &str,
    component_kind: &str,
    component_type: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("component_id", component_id.to_string()),
        ("component_kind", component_kind.to_string()),
        ("component_type", component_type.to_string()),
    ]
}

fn with_label(
    mut labels: Vec<(&'static str, String)>,
    key: &'static str,
    value: &str,
) -> Vec<(&'static str, String)> {
    labels.push((key, value.to_string()));
    labels
}

/// `logweir_component_discarded_events_total{reason}` of a transform. Reasons used by
/// logweir: `filtered`, `sampled`, `throttled`, and a parser's failure tag
/// (`parse_failure`, …) under `on_error = "drop"`.
pub fn discarded_events(component_id: &str, component_type: &str, reason: &str) -> Counter {
    let labels = with_label(
        component_labels(component_id, "transform", component_type),
        "reason",
        reason,
    );
    metrics::counter!(DISCARDED_EVENTS, &labels)
}

/// `logweir_component_errors_total{error_type}` of any component (`component_kind` is
/// `source`, `transform` or `sink`).
pub fn component_errors(
    component_id: &str,
    component_kind: &str,
    component_type: &str,
    error_type: &str,
) -> Counter {
    let labels = with_label(
        component_labels(component_id, component_kind, component_type),
        "error_type",
        error_type,
    );
    metrics::counter!(ERRORS, &labels)
}

/// `logweir_component_dead_lettered_events_total` of a transform or sink.
pub fn dead_lettered_events(
    component_id: &str,
    component_kind: &str,
    component_type: &str,
) -> Counter {
    let labels = component_labels(component_id, component_kind, component_type);
    metrics::counter!(DEAD_LETTERED_EVENTS, &labels)
}

/// Handles of a sink that sends requests (Elasticsearch bulk requests, S3 uploads).
///
/// ```
/// # use logweir::internal_metrics::SinkMetrics;
/// let metrics = SinkMetrics::new("es", "elasticsearch");
/// let request = metrics.start_request(); // in-flight + 1
/// // … send, await the answer …
/// request.finish("success"); // in-flight - 1, duration recorded with outcome="success"
/// metrics.retry(); // before sending a request again
/// metrics.error("http_5xx").increment(1);
/// ```
#[derive(Debug, Clone)]
pub struct SinkMetrics {
    labels: Arc<Vec<(&'static str, String)>>,
    retries: Counter,
    in_flight: Gauge,
    durations: Arc<[(&'static str, Histogram); 4]>,
}

impl SinkMetrics {
    /// Outcomes recorded without a lookup; others are registered on use. `throttled`: the
    /// destination pushed back (HTTP 429, S3 `SlowDown`).
    const OUTCOMES: [&'static str; 4] = ["success", "error", "timeout", "throttled"];

    pub fn new(component_id: &str, component_type: &str) -> SinkMetrics {
        let labels = component_labels(component_id, "sink", component_type);
        let durations = Self::OUTCOMES.map(|outcome| {
            let l = with_label(labels.clone(), "outcome", outcome);
            (outcome, metrics::histogram!(SINK_REQUEST_DURATION, &l))
        });
        SinkMetrics {
            retries: metrics::counter!(SINK_RETRIES, &labels),
            in_flight: metrics::gauge!(SINK_IN_FLIGHT_REQUESTS, &labels),
            durations: Arc::new(durations),
            labels: Arc::new(labels),
        }
    }

    /// Starts timing one request and counts it in flight until the returned guard is
    /// finished or dropped (a dropped guard records `outcome="error"`).
    pub fn start_request(&self) -> RequestTimer {
        self.in_flight.increment(1.0);
        RequestTimer {
            metrics: self.clone(),
            started: Instant::now(),
            done: false,
        }
    }

    /// Counts one retried request.
    pub fn retry(&self) {
        self.retries.increment(1);
    }

    /// The `logweir_component_errors_total{error_type}` counter of this sink; create it once
    /// per error type and keep it.
    pub fn error(&self, error_type: &str) -> Counter {
        let labels = with_label(self.labels.as_ref().clone(), "error_type", error_type);
        metrics::counter!(ERRORS, &labels)
    }

    fn record(&self, outcome: &str, seconds: f64) {
        match self.durations.iter().find(|(o, _)| *o == outcome) {
            Some((_, h)) => h.record(seconds),
            None => {
                let l = with_label(self.labels.as_ref().clone(), "outcome", outcome);
                metrics::histogram!(SINK_REQUEST_DURATION, &l).record(seconds);
            }
        }
    }
}

/// One request in flight; see [`SinkMetrics::start_request`].
#[derive(Debug)]
pub struct RequestTimer {
    metrics: SinkMetrics,
    started: Instant,
    done: bool,
}

impl RequestTimer {
    /// Records the request's duration under `outcome` (`success`, `error`, `timeout`, …).
    pub fn finish(mut self, outcome: &str) {
        self.done = true;
        self.metrics.in_flight.decrement(1.0);
        self.metrics
            .record(outcome, self.started.elapsed().as_secs_f64());
    }
}

impl Drop for RequestTimer {
    fn drop(&mut self) {
        if !self.done {
            self.metrics.in_flight.decrement(1.0);
            self.metrics
                .record("error", self.started.elapsed().as_secs_f64());
        }
    }
}

/// Handles of a file source.
///
/// The source's acknowledgement tracker sets both every second: `files_watched` to the files
/// its reader tracks (open or waiting for a descriptor), `bytes_behind` to the sum over them
/// of `file size - acknowledged offset` (one gauge per source, not per file: file paths
/// would make the series count unbounded). Sizes are those the reader observed anyway
/// (discovery and rescan `stat`s, the `fstat` at end of file, the read position).
#[derive(Debug, Clone)]
pub struct FileSourceMetrics {
    pub files_watched: Gauge,
    pub bytes_behind: Gauge,
}

impl FileSourceMetrics {
    pub fn new(component_id: &str) -> FileSourceMetrics {
        let labels = component_labels(component_id, "source", "file");
        FileSourceMetrics {
            files_watched: metrics::gauge!(FILE_SOURCE_FILES_WATCHED, &labels),
            bytes_behind: metrics::gauge!(FILE_SOURCE_BYTES_BEHIND, &labels),
        }
    }

    pub fn set_files_watched(&self, files: usize) {
        self.files_watched.set(files as f64);
    }

    pub fn set_bytes_behind(&self, bytes: u64) {
        self.bytes_behind.set(bytes as f64);
    }
}

/// Handles of a network source (`syslog`, `tcp`).
#[derive(Debug, Clone)]
pub struct NetworkSourceMetrics {
    open_connections: Gauge,
}

impl NetworkSourceMetrics {
    pub fn new(component_id: &str, component_type: &str) -> NetworkSourceMetrics {
        let labels = component_labels(component_id, "source", component_type);
        NetworkSourceMetrics {
            open_connections: metrics::gauge!(SOURCE_OPEN_CONNECTIONS, &labels),
        }
    }

    /// Counts one open connection until the guard is dropped (keep it in the connection's
    /// task).
    pub fn connection_opened(&self) -> ConnectionGuard {
        self.open_connections.increment(1.0);
        ConnectionGuard {
            open_connections: self.open_connections.clone(),
        }
    }
}

/// One open connection; see [`NetworkSourceMetrics::connection_opened`].
#[derive(Debug)]
pub struct ConnectionGuard {
    open_connections: Gauge,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.open_connections.decrement(1.0);
    }
}

/// The estimated byte size of a batch's events (see [`crate::event::Event::estimated_size`]).
pub fn batch_bytes(events: &[crate::event::Event]) -> u64 {
    events.iter().map(|e| e.estimated_size() as u64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` against a fresh recorder and renders it while `f`'s result is still alive.
    fn render<T>(f: impl FnOnce() -> T) -> String {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(SINK_REQUEST_DURATION.to_string()),
                REQUEST_DURATION_BUCKETS,
            )
            .unwrap()
            .build_recorder();
        let handle = recorder.handle();
        let alive = metrics::with_local_recorder(&recorder, f);
        let text = handle.render();
        drop(alive);
        text
    }

    #[test]
    fn sink_helpers_time_requests_and_count_in_flight_retries_and_errors() {
        let text = render(|| {
            let sink = SinkMetrics::new("es", "elasticsearch");
            let done = sink.start_request();
            let pending = sink.start_request();
            done.finish("success");
            sink.start_request().finish("http_429");
            drop(sink.start_request()); // abandoned: an error
            sink.retry();
            sink.error("http_5xx").increment(2);
            pending // still in flight at render time
        });
        let labels = r#"component_id="es",component_kind="sink",component_type="elasticsearch""#;
        assert!(
            text.contains(&format!("{SINK_IN_FLIGHT_REQUESTS}{{{labels}}} 1")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{SINK_RETRIES}{{{labels}}} 1")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{ERRORS}{{{labels},error_type=\"http_5xx\"}} 2")),
            "{text}"
        );
        for (outcome, n) in [
            ("success", 1),
            ("http_429", 1),
            ("error", 1),
            ("timeout", 0),
        ] {
            let count =
                format!("{SINK_REQUEST_DURATION}_count{{{labels},outcome=\"{outcome}\"}} {n}");
            assert!(text.contains(&count), "{count} in\n{text}");
        }
    }

    #[test]
    fn preset_outcomes_are_served_before_any_request() {
        let text = render(|| SinkMetrics::new("s3", "s3"));
        let labels = r#"component_id="s3",component_kind="sink",component_type="s3""#;
        for outcome in SinkMetrics::OUTCOMES {
            let count =
                format!("{SINK_REQUEST_DURATION}_count{{{labels},outcome=\"{outcome}\"}} 0");
            assert!(text.contains(&count), "{count} in\n{text}");
        }
        assert!(SinkMetrics::OUTCOMES.contains(&"throttled"));
    }

    #[test]
    fn source_helpers_report_files_bytes_behind_and_open_connections() {
        let text = render(|| {
            let file = FileSourceMetrics::new("pods");
            file.set_files_watched(12);
            file.set_bytes_behind(4096);
            let net = NetworkSourceMetrics::new("syslog", "syslog");
            let a = net.connection_opened();
            let b = net.connection_opened();
            drop(a);
            b
        });
        assert!(text.contains(&format!(
            r#"{FILE_SOURCE_FILES_WATCHED}{{component_id="pods",component_kind="source",component_type="file"}} 12"#
        )));
        assert!(text.contains(&format!(
            r#"{FILE_SOURCE_BYTES_BEHIND}{{component_id="pods",component_kind="source",component_type="file"}} 4096"#
        )));
        assert!(text.contains(&format!(
            r#"{SOURCE_OPEN_CONNECTIONS}{{component_id="syslog",component_kind="source",component_type="syslog"}} 1"#
        )), "{text}");
    }

    #[test]
    fn names_follow_prometheus_conventions() {
        for (name, kind, help) in ALL {
            assert!(name.starts_with("logweir_"), "{name}");
            assert_eq!(
                *kind == MetricKind::Counter,
                name.ends_with("_total"),
                "{name}"
            );
            assert!(!help.is_empty());
        }
    }
}
