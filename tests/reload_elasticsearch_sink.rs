//! Live reload of an Elasticsearch sink, in process against the test cluster: a sink changed
//! mid-stream hands over without losing or duplicating a document and keeps `/ready`; a sink
//! changed while the cluster is down keeps its replacement waiting (and says so) while the
//! old instance retries, then everything, its disk buffer included, drains once the cluster
//! is back.

mod common;
#[path = "common/es_server/mod.rs"]
mod es_server;

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::es_docs::check_exactly_once;
use es_server::{EsServerOptions, EsTestServer};
use logweir::config::PipelineConfig;
use logweir::topology::{Instrumentation, Topology};

const PATIENCE: Duration = Duration::from_secs(90);

/// logweir's logs in this test process (a global subscriber: the components log from the
/// runtime's worker threads).
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buffer);
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_ansi(false)
            .with_writer(move || Captured(Arc::clone(&sink)))
            .try_init();
        buffer
    })
}

struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logged() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).into_owned()
}

fn config(dir: &Path, url: &str, source: &str, sink: &str) -> PipelineConfig {
    let text = format!(
        r#"
data_dir = "{data}"
[sources.demo]
type = "demo"
{source}
[transforms.parsed]
type = "parse_json"
inputs = ["demo"]
[sinks.es]
type = "elasticsearch"
inputs = ["parsed"]
endpoints = ["{url}"]
retry_initial_backoff_ms = 20
retry_max_backoff_ms = 200
{sink}
"#,
        data = dir.display(),
    );
    PipelineConfig::from_str_with_env(Path::new("es.toml"), &text, |_| None)
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_changed_mid_stream_delivers_every_document_once_and_stays_ready() {
    logs();
    let server = EsTestServer::start(EsServerOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let source = "count = 20000\nrate = 4000\nseed = 5";
    let v1 = config(
        dir.path(),
        &server.url(),
        source,
        "batch = { max_events = 500, timeout_ms = 200 }",
    );
    let instrumentation = Instrumentation::default();
    let mut topology = Topology::start_with(&v1, &instrumentation).unwrap();
    wait_for("the first documents and readiness", || {
        server.doc_count("logs-*") >= 2000 && instrumentation.readiness.report().is_ready()
    })
    .await;

    let v2 = config(
        dir.path(),
        &server.url(),
        source,
        "batch = { max_events = 300, timeout_ms = 200 }\nconcurrency = 2",
    );
    let summary = topology.reload(&v2).unwrap();
    assert_eq!(summary.changed, ["es"]);
    assert!(summary.added.is_empty() && summary.removed.is_empty());
    // The rebuilt sink inherits the readiness of the one it replaces.
    let report = instrumentation.readiness.report();
    assert!(report.is_ready(), "{report:?}");
    assert_eq!(report.sinks.len(), 1, "{report:?}");

    let run = topology.wait(Duration::from_secs(120)).await;
    assert!(run.is_success(), "{run:?}");
    let docs = server.docs("logs-*");
    check_exactly_once(docs.iter().map(|(_, s)| s), 20000).unwrap();
    assert_eq!(docs.len(), 20000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_changed_during_an_outage_waits_for_its_predecessor_then_everything_drains() {
    logs();
    let server = EsTestServer::start(EsServerOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let source = "count = 3000\nrate = 1000\nseed = 9";
    let buffer = "buffer = { type = \"disk\", max_bytes = 67108864 }";
    let v1 = config(
        dir.path(),
        &server.url(),
        source,
        &format!("batch = {{ max_events = 500, timeout_ms = 200 }}\n{buffer}"),
    );
    server.faults().set_outage(true);
    let mut topology = Topology::start(&v1).unwrap();
    topology.set_predecessor_wait_warning(Duration::from_millis(300));
    // The sink is retrying (its startup requests, then bulk requests) and cannot deliver.
    wait_for("requests refused by the outage", || {
        server.requests().iter().filter(|r| r.status == 503).count() >= 3
    })
    .await;

    let v2 = config(
        dir.path(),
        &server.url(),
        source,
        &format!("batch = {{ max_events = 400, timeout_ms = 200 }}\n{buffer}"),
    );
    let summary = topology.reload(&v2).unwrap();
    assert_eq!(summary.changed, ["es"]);
    // The old instance cannot deliver, so it cannot drain: the replacement says it waits.
    wait_for("the waiting replacement's warning", || {
        let logs = logged();
        logs.contains("the instance replaced by the reload is still draining")
            && logs.contains("component_id=es")
    })
    .await;
    assert_eq!(server.doc_count("logs-*"), 0);

    server.faults().set_outage(false);
    let run = topology.wait(Duration::from_secs(120)).await;
    assert!(run.is_success(), "{run:?}");
    let docs = server.docs("logs-*");
    check_exactly_once(docs.iter().map(|(_, s)| s), 3000).unwrap();
    assert_eq!(docs.len(), 3000);
    // Both instances opened and closed the same disk buffer, one after the other.
    let logs = logged();
    assert!(logs.matches("disk buffer closed").count() >= 2, "{logs}");
}
