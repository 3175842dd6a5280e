//! `/metrics`, scraped while files are shipped, equals what flowed: events read and stored,
//! requests by outcome as the destination saw them, retries of throttled requests, files
//! watched, and bytes behind — all of it while the destination is down, then zero once
//! everything is acknowledged.

mod common;
#[path = "common/es_server/mod.rs"]
mod es_server;

use std::path::Path;
use std::time::Duration;

use common::running::RunningPipeline;
use common::s3_server::{read_objects, SeaweedFs, ACCESS_KEY, SECRET_KEY};
use es_server::{EsServerOptions, EsTestServer};

const SENT_EVENTS: &str = "logweir_component_sent_events_total";
const SENT_BYTES: &str = "logweir_component_sent_bytes_total";
const RECEIVED_EVENTS: &str = "logweir_component_received_events_total";
const REQUESTS: &str = "logweir_sink_request_duration_seconds_count";
const RETRIES: &str = "logweir_sink_retries_total";
const IN_FLIGHT: &str = "logweir_sink_in_flight_requests";
const ERRORS: &str = "logweir_component_errors_total";
const FILES_WATCHED: &str = "logweir_file_source_files_watched";
const BYTES_BEHIND: &str = "logweir_file_source_bytes_behind";

/// A sample of `component_id` (and `extra` labels), if served.
fn metric(body: &str, name: &str, id: &str, extra: &[(&str, &str)]) -> Option<f64> {
    let mut labels = vec![("component_id", id)];
    labels.extend_from_slice(extra);
    common::metric_value(body, name, &labels)
}

/// Scrapes `/metrics` until `done` holds (bounded); returns the body that satisfied it.
/// `context` adds to the failure message (the destination's log).
fn scrape_until(
    pipeline: &RunningPipeline,
    what: &str,
    context: &dyn Fn() -> String,
    mut done: impl FnMut(&str) -> bool,
) -> String {
    let mut body = String::new();
    let reached = common::wait_until(Duration::from_secs(60), || {
        body = pipeline.metrics();
        done(&body)
    });
    assert!(
        reached,
        "never reached: {what}\n{body}\nstderr:\n{}\n{}",
        pipeline.stderr(),
        context()
    );
    body
}

/// Writes `count` lines tagged `name` to `dir/name.log`; returns the file's size.
fn write_log(dir: &Path, name: &str, count: usize) -> u64 {
    let text: String = (0..count)
        .map(|i| format!("{{\"file\":\"{name}\",\"i\":{i},\"msg\":\"request {i} served\"}}\n"))
        .collect();
    common::write_file(dir, &format!("{name}.log"), &text);
    text.len() as u64
}

#[test]
fn file_to_elasticsearch_metrics_equal_what_flowed_including_throttled_retries() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(EsTestServer::start(EsServerOptions::default()));
    // Down at first: nothing can be acknowledged, so everything read is behind.
    server.faults().set_outage(true);
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let (lines_a, lines_b) = (1200, 800);
    let total_lines = (lines_a + lines_b) as f64;
    let total_size = (write_log(&logs, "a", lines_a) + write_log(&logs, "b", lines_b)) as f64;
    let pipeline = RunningPipeline::start(
        dir.path(),
        &format!(
            r#"
[sources.files]
type = "file"
include = ["{logs}/*.log"]
[sinks.es]
type = "elasticsearch"
inputs = ["files"]
endpoints = ["{url}"]
batch = {{ max_events = 100, timeout_ms = 50 }}
retry_initial_backoff_ms = 10
retry_max_backoff_ms = 100
"#,
            logs = logs.display(),
            url = server.url()
        ),
    );

    let files = |b: &str, name: &str| metric(b, name, "files", &[]);
    let es = |b: &str, name: &str| metric(b, name, "es", &[]);
    let body = scrape_until(
        &pipeline,
        "every line read, all behind",
        &String::new,
        |b| {
            files(b, SENT_EVENTS) == Some(total_lines)
                && files(b, BYTES_BEHIND) == Some(total_size)
                && files(b, FILES_WATCHED) == Some(2.0)
        },
    );
    assert_eq!(es(&body, SENT_EVENTS), Some(0.0), "{body}");
    assert_eq!(es(&body, IN_FLIGHT), Some(0.0), "{body}");
    assert_eq!(server.doc_count("logs-*"), 0);

    // Back, pushing back on every 4th bulk request with a whole-request 429.
    server.faults().set_fail_every_nth_request(4, 429);
    server.faults().set_outage(false);
    let body = scrape_until(
        &pipeline,
        "everything stored and acknowledged",
        &String::new,
        |b| es(b, SENT_EVENTS) == Some(total_lines) && files(b, BYTES_BEHIND) == Some(0.0),
    );
    assert_eq!(server.doc_count("logs-*"), total_lines as usize);
    assert_eq!(es(&body, RECEIVED_EVENTS), Some(total_lines));
    assert_eq!(files(&body, FILES_WATCHED), Some(2.0));
    assert_eq!(es(&body, IN_FLIGHT), Some(0.0));
    assert_eq!(common::metric_value(&body, "logweir_ready", &[]), Some(1.0));

    // Requests as the cluster saw them: every bulk request was answered (200, 429, or 503
    // while down), and each failed one was sent again once.
    let by_outcome =
        |b: &str, outcome: &str| metric(b, REQUESTS, "es", &[("outcome", outcome)]).unwrap_or(0.0);
    let counted = |b: &str| {
        ["success", "throttled", "error", "timeout"]
            .iter()
            .map(|o| by_outcome(b, o))
            .sum::<f64>()
    };
    let bulk_statuses = || -> Vec<u16> {
        server
            .requests()
            .iter()
            .filter(|r| r.is_bulk())
            .map(|r| r.status)
            .collect()
    };
    // The server records a request as it answers it: settle before comparing.
    assert!(common::wait_until(Duration::from_secs(10), || {
        bulk_statuses().len() as f64 == counted(&body)
    }));
    let statuses = bulk_statuses();
    let answered = |status: u16| statuses.iter().filter(|s| **s == status).count() as f64;
    let throttled = answered(429);
    let unavailable = answered(503);
    assert!(throttled >= 1.0, "no 429 was injected: {statuses:?}");
    assert_eq!(
        answered(200) + throttled + unavailable,
        statuses.len() as f64,
        "{statuses:?}"
    );
    assert_eq!(by_outcome(&body, "success"), answered(200));
    assert_eq!(by_outcome(&body, "throttled"), throttled);
    assert_eq!(by_outcome(&body, "error"), unavailable);
    assert_eq!(by_outcome(&body, "timeout"), 0.0);
    assert_eq!(es(&body, RETRIES), Some(throttled + unavailable));
    let errors = |kind: &str| metric(&body, ERRORS, "es", &[("error_type", kind)]);
    assert_eq!(errors("throttled"), Some(throttled));
    assert_eq!(errors("server_error"), Some(unavailable));
    assert_eq!(errors("item_throttled"), Some(0.0));
    assert_eq!(errors("item_refused"), Some(0.0));
    pipeline.terminate();
}

#[test]
fn file_to_s3_metrics_equal_the_objects_stored() {
    let s3 = SeaweedFs::start();
    s3.create_bucket("archive");
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let (lines_a, lines_b) = (900, 600);
    let total_lines = (lines_a + lines_b) as f64;
    write_log(&logs, "a", lines_a);
    write_log(&logs, "b", lines_b);
    // Objects close after a second: each is one PUT.
    let pipeline = RunningPipeline::start(
        dir.path(),
        &format!(
            r#"
[sources.files]
type = "file"
include = ["{logs}/*.log"]
[transforms.parsed]
type = "parse_json"
inputs = ["files"]
[sinks.archive]
type = "s3"
inputs = ["parsed"]
bucket = "archive"
endpoint = "{endpoint}"
key = "logs/{{{{ file }}}}/{{{{ uuid }}}}.ndjson.gz"
access_key_id = "{ACCESS_KEY}"
secret_access_key = "{SECRET_KEY}"
batch = {{ timeout_secs = 1 }}
"#,
            logs = logs.display(),
            endpoint = s3.endpoint,
        ),
    );
    let weed_log = || format!("seaweedfs log:\n{}", s3.log_tail());
    let body = scrape_until(
        &pipeline,
        "every event archived and acknowledged",
        &weed_log,
        |b| {
            metric(b, SENT_EVENTS, "archive", &[]) == Some(total_lines)
                && metric(b, BYTES_BEHIND, "files", &[]) == Some(0.0)
        },
    );

    let objects = read_objects(&s3.store("archive"), Some("logs"));
    let stored_lines: usize = objects.iter().map(|o| o.lines.len()).sum();
    assert_eq!(stored_lines as f64, total_lines);
    // One object per file at least (the key groups by file), each a single successful PUT.
    assert!(objects.len() >= 2, "{} objects", objects.len());
    let archive = |name: &str, extra: &[(&str, &str)]| metric(&body, name, "archive", extra);
    assert_eq!(
        archive(REQUESTS, &[("outcome", "success")]),
        Some(objects.len() as f64)
    );
    for outcome in ["throttled", "error", "timeout"] {
        assert_eq!(archive(REQUESTS, &[("outcome", outcome)]), Some(0.0));
    }
    assert_eq!(
        archive(SENT_BYTES, &[]),
        Some(objects.iter().map(|o| o.size).sum::<u64>() as f64)
    );
    assert_eq!(archive(RETRIES, &[]), Some(0.0));
    assert_eq!(archive(IN_FLIGHT, &[]), Some(0.0));
    assert_eq!(metric(&body, FILES_WATCHED, "files", &[]), Some(2.0));
    // Accounted when the uploads finished, not at some later input.
    assert_eq!(common::metric_value(&body, "logweir_ready", &[]), Some(1.0));
    pipeline.terminate();
}
