//! Retention: ILM policies and index templates are installed once, match the retention
//! rules, route each dataset's data stream to its policy, and are left alone on restart.

#[path = "common/es_server/mod.rs"]
mod es_server;

use std::path::Path;
use std::time::Duration;

use es_server::{EsServerOptions, EsTestServer};
use logweir::config::PipelineConfig;
use logweir::topology::Topology;
use serde_json::json;

async fn run(dir: &Path, url: &str, sink_extra: &str) {
    let text = format!(
        r#"
data_dir = "{dir}"
[sources.demo]
type = "demo"
count = 400
[transforms.parsed]
type = "parse_json"
inputs = ["demo"]
[sinks.es]
type = "elasticsearch"
inputs = ["parsed"]
endpoints = ["{url}"]
data_stream = {{ type = "logs", dataset = "{{{{ kubernetes.namespace }}}}", namespace = "prod" }}
{sink_extra}
"#,
        dir = dir.display()
    );
    let config = PipelineConfig::from_str_with_env(Path::new("es.toml"), &text, |_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    let report = Topology::start(&config)
        .unwrap()
        .wait(Duration::from_secs(60))
        .await;
    assert!(report.is_success(), "{report:?}");
}

fn writes(server: &EsTestServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" || (r.method == "POST" && !r.is_bulk()))
        .map(|r| r.path.clone())
        .collect()
}

const RETENTION: &str = r#"retention = { default_days = 14, rules = [ { dataset = "payments", days = 365 }, { dataset = "kube-system", days = 3 } ] }"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_and_templates_are_installed_once_and_follow_retention() {
    let server = EsTestServer::start(EsServerOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &server.url(), RETENTION).await;

    let policies = server.ilm_policies();
    let names: Vec<&String> = policies.keys().collect();
    assert_eq!(names, ["logweir-14d", "logweir-365d", "logweir-3d"]);
    for (name, days) in [
        ("logweir-14d", 14),
        ("logweir-365d", 365),
        ("logweir-3d", 3),
    ] {
        let phases = &policies[name]["policy"]["phases"];
        assert_eq!(phases["delete"]["min_age"], format!("{days}d"), "{name}");
        assert_eq!(phases["delete"]["actions"], json!({"delete": {}}));
        let rollover = &phases["hot"]["actions"]["rollover"];
        assert_eq!(rollover["max_primary_shard_size"], "50gb");
        assert!(rollover["max_age"].is_string());
    }

    let templates = server.index_templates();
    let default = &templates["logweir-logs"];
    assert_eq!(default["index_patterns"], json!(["logs-*-*"]));
    assert_eq!(default["data_stream"], json!({}));
    assert!(
        default["priority"].as_u64().unwrap() > 100,
        "must beat the built-in logs template"
    );
    assert_eq!(
        default["template"]["settings"]["index.lifecycle.name"],
        "logweir-14d"
    );
    let payments = &templates["logweir-logs-payments"];
    assert_eq!(payments["index_patterns"], json!(["logs-payments-*"]));
    assert_eq!(
        payments["template"]["settings"]["index.lifecycle.name"],
        "logweir-365d"
    );
    assert!(payments["priority"].as_u64() > default["priority"].as_u64());
    let kube = &templates["logweir-logs-kube_system"];
    assert_eq!(
        kube["template"]["settings"]["index.lifecycle.name"],
        "logweir-3d"
    );

    let mappings = &server.component_templates()["logweir-logs-mappings"]["template"]["mappings"];
    assert_eq!(mappings["properties"]["@timestamp"]["type"], "date");
    assert_eq!(mappings["properties"]["message"]["type"], "match_only_text");
    let dynamic = mappings["dynamic_templates"].to_string();
    for path in ["kubernetes.*", "host.*", "log.*"] {
        assert!(
            dynamic.contains(path),
            "{path} keyword mapping missing: {dynamic}"
        );
    }

    // Each dataset's data stream was created from its template, hence with its policy.
    let mapping = server
        .indices()
        .into_iter()
        .find(|i| i.starts_with(".ds-logs-payments-prod-"))
        .and_then(|i| server.mapping(&i))
        .expect("payments backing index");
    assert_eq!(mapping["properties"]["@timestamp"]["type"], "date");
    assert_eq!(mapping["properties"]["message"]["type"], "match_only_text");
    let ds = server.requests();
    assert!(ds.iter().any(|r| r.is_bulk()));
    let in_use = raw_get(&server.url(), "/_ilm/policy/logweir-365d").await;
    assert_eq!(
        in_use["logweir-365d"]["in_use_by"]["data_streams"],
        json!(["logs-payments-prod"])
    );
    let in_use = raw_get(&server.url(), "/_ilm/policy/logweir-3d").await;
    assert_eq!(
        in_use["logweir-3d"]["in_use_by"]["data_streams"],
        json!(["logs-kube_system-prod"])
    );
    let in_use = raw_get(&server.url(), "/_ilm/policy/logweir-14d").await;
    let mut default_streams: Vec<String> =
        serde_json::from_value(in_use["logweir-14d"]["in_use_by"]["data_streams"].clone()).unwrap();
    default_streams.sort();
    assert_eq!(default_streams, ["logs-monitoring-prod", "logs-shop-prod"]);

    let first_writes = writes(&server);
    assert_eq!(first_writes.len(), 7, "{first_writes:?}");

    // A second start with the same configuration reads and writes nothing.
    server.clear_requests();
    run(dir.path(), &server.url(), RETENTION).await;
    assert_eq!(writes(&server), Vec::<String>::new());
    assert!(server
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.path == "/_index_template/logweir-logs"));

    // A changed retention rewrites exactly what changed.
    server.clear_requests();
    run(
        dir.path(),
        &server.url(),
        r#"retention = { default_days = 14, rules = [ { dataset = "payments", days = 400 }, { dataset = "kube-system", days = 3 } ] }"#,
    )
    .await;
    assert_eq!(
        writes(&server),
        [
            "/_ilm/policy/logweir-400d",
            "/_index_template/logweir-logs-payments"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manage_templates_false_installs_nothing() {
    let server = EsTestServer::start(EsServerOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &server.url(), "manage_templates = false").await;
    assert!(server.ilm_policies().is_empty());
    assert!(server.index_templates().is_empty());
    assert!(server.component_templates().is_empty());
    assert_eq!(writes(&server), Vec::<String>::new());
    // Without a data stream template the cluster made plain indices; the events still landed.
    assert_eq!(server.doc_count("logs-*"), 400);
}

/// A GET with a raw HTTP/1.1 request (the tests do not depend on an HTTP client).
async fn raw_get(url: &str, path: &str) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    stream.read_to_end(&mut resp).await.unwrap();
    let text = String::from_utf8_lossy(&resp);
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    let (a, b) = (body.find('{').unwrap(), body.rfind('}').unwrap());
    serde_json::from_str(&body[a..=b]).unwrap()
}
