//! The Elasticsearch sink's batching: a request goes out when the batch is full or when its
//! oldest event has waited `batch.timeout_ms`, and the events left over after a full batch
//! start a timeout of their own (they are not sent early, on the timer of the batch before).

mod common;
#[path = "common/es_server/mod.rs"]
mod es_server;

use std::time::{Duration, Instant};

use common::running::RunningPipeline;
use es_server::{EsServerOptions, EsTestServer};

fn lines(from: usize, to: usize) -> Vec<String> {
    (from..to)
        .map(|i| format!(r#"{{"seq":{i},"message":"line {i}"}}"#))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_left_after_a_full_batch_wait_their_own_timeout() {
    let server = EsTestServer::start(EsServerOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut pipeline = RunningPipeline::start(
        dir.path(),
        &format!(
            r#"
[sources.in]
type = "stdin"
[transforms.parsed]
type = "parse_json"
inputs = ["in"]
[sinks.es]
type = "elasticsearch"
inputs = ["parsed"]
endpoints = ["{url}"]
batch = {{ max_events = 10, timeout_ms = 10000 }}
"#,
            url = server.url()
        ),
    );
    let count = || server.doc_count("logs-*");
    // 5 events open a batch (its timeout: 10 s from now).
    pipeline.write_lines(&lines(0, 5));
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(count(), 0, "a batch of 5 out of 10 waits for its timeout");
    // 10 more: the batch fills with 5 of them and goes out; 5 are left over.
    pipeline.write_lines(&lines(5, 15));
    assert!(common::wait_until(Duration::from_secs(20), || count() >= 10));
    let full_sent = Instant::now();
    assert_eq!(count(), 10);
    // The first batch's timeout passes (4 s after it was sent); the leftover batch, started
    // when the full one went out, has 10 s of its own and is still held.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(
        count(),
        10,
        "the 5 left over were sent on the full batch's timer, {:?} after it",
        full_sent.elapsed()
    );
    assert!(common::wait_until(Duration::from_secs(20), || count() == 15));
    pipeline.finish();
    assert_eq!(count(), 15);
}
