//! The Elasticsearch sink delivers every event once, into the right data stream or index,
//! gzip-compressed and authenticated, and keeps going when one endpoint is dead.

mod common;
#[path = "common/es_server/mod.rs"]
mod es_server;

use std::path::Path;
use std::time::Duration;

use common::es_docs::check_exactly_once;
use es_server::{EsAuth, EsServerOptions, EsTestServer};
use logweir::config::PipelineConfig;
use logweir::topology::Topology;

async fn run_pipeline(text: &str) {
    let config = PipelineConfig::from_str_with_env(Path::new("es.toml"), text, |_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    let topology = Topology::start(&config).unwrap();
    let report = topology.wait(Duration::from_secs(120)).await;
    assert!(report.is_success(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_events_land_once_in_data_streams_gzipped_with_basic_auth() {
    let server = EsTestServer::start(EsServerOptions {
        auth: Some(EsAuth::Basic {
            user: "elastic".into(),
            password: "s3cret-pw".into(),
        }),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    run_pipeline(&format!(
        r#"
data_dir = "{dir}"
[sources.demo]
type = "demo"
count = 5000
seed = 3
[transforms.parsed]
type = "parse_json"
inputs = ["demo"]
[sinks.es]
type = "elasticsearch"
inputs = ["parsed"]
endpoints = ["{url}"]
data_stream = {{ dataset = "{{{{ kubernetes.namespace }}}}", namespace = "default" }}
auth = {{ user = "elastic", password = "s3cret-pw" }}
batch = {{ max_events = 700 }}
"#,
        dir = dir.path().display(),
        url = server.url()
    ))
    .await;

    let docs = server.docs("logs-*");
    assert_eq!(docs.len(), 5000);
    check_exactly_once(docs.iter().map(|(_, s)| s), 5000).unwrap();
    let mut streams = server.data_streams();
    streams.sort();
    // `kube-system` is not a valid dataset (no `-`): sanitised to `kube_system`.
    assert_eq!(
        streams,
        [
            "logs-kube_system-default",
            "logs-monitoring-default",
            "logs-payments-default",
            "logs-shop-default"
        ]
    );
    let (_, sample) = &server.docs("logs-shop-default")[0];
    assert_eq!(sample["data_stream"]["dataset"], "shop");
    assert_eq!(sample["kubernetes"]["namespace"], "shop");
    assert!(sample["@timestamp"].is_string());

    let bulks: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.is_bulk())
        .collect();
    // 5000 events in requests of at most 700 documents.
    assert!(bulks.len() >= 8, "{} bulk requests", bulks.len());
    for r in &bulks {
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
        assert!(
            r.body_size * 2 < r.decoded_body_size,
            "gzip did not shrink the body"
        );
    }
    assert!(server.requests().iter().all(|r| r
        .header("authorization")
        .is_some_and(|a| a.starts_with("Basic "))));
    // Nothing was dead-lettered.
    assert!(!dir.path().join("dead_letter/es.ndjson").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_mode_with_template_ids_and_api_key() {
    let server = EsTestServer::start(EsServerOptions {
        auth: Some(EsAuth::ApiKey("aWQ6a2V5".into())),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
data_dir = "{dir}"
[sources.demo]
type = "demo"
count = 2000
[transforms.parsed]
type = "parse_json"
inputs = ["demo"]
[transforms.json_only]
type = "filter"
inputs = ["parsed"]
condition = 'exists(.seq)'
[sinks.es]
type = "elasticsearch"
inputs = ["json_only"]
endpoints = ["{url}"]
mode = "index"
index = "App-{{{{ service }}}}-%Y.%m.%d"
id = "{{{{ seq }}}}"
compression = "none"
auth = {{ api_key = "aWQ6a2V5" }}
"#,
        dir = dir.path().display(),
        url = server.url()
    );
    run_pipeline(&text).await;
    let docs = server.docs("app-*");
    assert!(docs.len() > 1900, "{} docs", docs.len());
    for (id, source) in &docs {
        assert_eq!(id, &source["seq"].to_string());
    }
    let indices = server.indices();
    assert!(indices.iter().all(|i| i.starts_with("app-")), "{indices:?}");
    assert!(indices.iter().any(|i| i.starts_with("app-checkout-")));
    let bulks: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.is_bulk())
        .collect();
    assert!(bulks.iter().all(|r| r.header("content-encoding").is_none()));
    assert!(server.data_streams().is_empty());
    // Replaying the same events overwrites (index action, same ids): no duplicates.
    let before = docs.len();
    run_pipeline(&text).await;
    assert_eq!(server.docs("app-*").len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_does_not_stall_delivery() {
    let server = EsTestServer::start(EsServerOptions::default()).await;
    // A port nothing listens on: connections are refused.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let dir = tempfile::tempdir().unwrap();
    run_pipeline(&format!(
        r#"
data_dir = "{dir}"
[sources.demo]
type = "demo"
count = 20000
[transforms.parsed]
type = "parse_json"
inputs = ["demo"]
[sinks.es]
type = "elasticsearch"
inputs = ["parsed"]
endpoints = ["{dead_url}", "{url}"]
batch = {{ max_events = 500 }}
"#,
        dir = dir.path().display(),
        url = server.url()
    ))
    .await;
    let docs = server.docs("logs-*");
    check_exactly_once(docs.iter().map(|(_, s)| s), 20000).unwrap();
}
