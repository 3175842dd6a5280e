//! Failures of the cluster: whole-request errors, item-level rejections and an outage are
//! retried until every event is stored exactly once; documents refused for good go to the
//! dead-letter file with their reason while the rest of their batch lands.

mod common;
#[path = "common/es_server/mod.rs"]
mod es_server;

use std::path::Path;
use std::time::Duration;

use common::es_docs::{check_exactly_once, demo_seq};
use es_server::{EsServerOptions, EsTestServer, OutageMode};
use logweir::config::PipelineConfig;
use logweir::topology::Topology;

fn pipeline(dir: &Path, url: &str, count: u64, sink_extra: &str) -> PipelineConfig {
    let text = format!(
        r#"
data_dir = "{dir}"
[sources.demo]
type = "demo"
count = {count}
seed = 11
[transforms.parsed]
type = "parse_json"
inputs = ["demo"]
[sinks.es]
type = "elasticsearch"
inputs = ["parsed"]
endpoints = ["{url}"]
retry_max_backoff_ms = 2000
{sink_extra}
"#,
        dir = dir.display()
    );
    PipelineConfig::from_str_with_env(Path::new("es.toml"), &text, |_| None)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_under_item_429s_503s_and_a_30_second_outage() {
    const COUNT: u64 = 200_000;
    let server = EsTestServer::start(EsServerOptions::default()).await;
    server.faults().set_item_429_ratio(0.10);
    server.faults().set_fail_every_nth_request(7, 503);
    let dir = tempfile::tempdir().unwrap();
    let config = pipeline(
        dir.path(),
        &server.url(),
        COUNT,
        "batch = { max_events = 2000 }",
    );
    let topology = Topology::start(&config).unwrap();

    // Let delivery get going, then take the cluster away for 30 seconds mid-stream.
    let started = common::wait_until(Duration::from_secs(120), || {
        server.doc_count("logs-*") > 20_000
    });
    assert!(started, "delivery never started");
    server
        .faults()
        .set_outage_mode(OutageMode::ServiceUnavailable);
    server.faults().set_outage(true);
    // Requests the server was already processing when the outage began still complete; let
    // them land before taking the reference count (the outage still lasts 30 s).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let at_outage = server.doc_count("logs-*");
    tokio::time::sleep(Duration::from_secs(13)).await;
    // Half way: connections now fail outright instead of answering 503.
    server
        .faults()
        .set_outage_mode(OutageMode::CloseConnections);
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(
        server.doc_count("logs-*"),
        at_outage,
        "documents arrived during the outage"
    );
    assert!(
        (at_outage as u64) < COUNT,
        "the outage came too late to matter"
    );
    server.faults().set_outage(false);

    let report = topology.wait(Duration::from_secs(300)).await;
    assert!(report.is_success(), "{report:?}");
    let docs = server.docs("logs-*");
    check_exactly_once(docs.iter().map(|(_, s)| s), COUNT).unwrap();
    assert_eq!(docs.len() as u64, COUNT);

    let requests = server.requests();
    let bulk_statuses: Vec<u16> = requests
        .iter()
        .filter(|r| r.is_bulk())
        .map(|r| r.status)
        .collect();
    assert!(bulk_statuses.contains(&503), "no 503 was injected");
    assert!(bulk_statuses.contains(&0), "no connection was closed");
    assert!(!dir.path().join("dead_letter/es.ndjson").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_errors_are_dead_lettered_while_the_rest_lands() {
    let server = EsTestServer::start(EsServerOptions::default()).await;
    // Documents whose `http.status` is a number fail as they would against a mapping that
    // made it a boolean; the 2% plain-text demo lines have no `http` and land.
    server
        .faults()
        .set_mapping_conflict("http.status", "boolean");
    let dir = tempfile::tempdir().unwrap();
    let config = pipeline(dir.path(), &server.url(), 3000, "");
    let report = Topology::start(&config)
        .unwrap()
        .wait(Duration::from_secs(60))
        .await;
    assert!(report.is_success(), "{report:?}");

    let stored = server.docs("logs-*");
    let letters = common::read_ndjson(&dir.path().join("dead_letter/es.ndjson"));
    assert!(
        !stored.is_empty(),
        "the valid documents of the batches must land"
    );
    assert!(
        !letters.is_empty(),
        "refused documents must be dead-lettered"
    );
    // Every event is accounted for, exactly once, in the cluster or the dead-letter file.
    let all: Vec<serde_json::Value> = stored
        .iter()
        .map(|(_, s)| s.clone())
        .chain(letters.iter().map(|l| l["document"].clone()))
        .collect();
    check_exactly_once(all.iter(), 3000).unwrap();
    for l in &letters {
        assert_eq!(l["status"], 400);
        assert_eq!(l["error"]["type"], "document_parsing_exception");
        let reason = l["reason"].as_str().unwrap();
        assert!(reason.contains("http.status"), "{reason}");
        assert!(l["document"]["http"]["status"].is_number());
        assert!(l["action"]["create"]["_index"]
            .as_str()
            .unwrap()
            .starts_with("logs-"));
        assert_eq!(l["component_id"], "es");
    }
    assert!(stored.iter().all(|(_, s)| s.get("http").is_none()));
    assert!(letters.iter().all(|l| demo_seq(&l["document"]).is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_max_retries_a_dead_cluster_errors_the_events_instead_of_waiting() {
    let server = EsTestServer::start(EsServerOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = pipeline(
        dir.path(),
        &server.url(),
        500,
        "max_retries = 2\nretry_initial_backoff_ms = 10\nmanage_templates = false",
    );
    server.faults().set_outage(true);
    let report = Topology::start(&config)
        .unwrap()
        .wait(Duration::from_secs(60))
        .await;
    // The sink gave up on the events (errored, not delivered) and finished.
    assert!(report.is_success(), "{report:?}");
    assert_eq!(server.doc_count("logs-*"), 0);
    let attempts = server.requests().iter().filter(|r| r.is_bulk()).count();
    assert_eq!(attempts, 3, "one attempt and two retries");
}
