//! A logweir killed with SIGKILL mid-stream and started again replays events it had already
//! sent; their deterministic ids make Elasticsearch refuse the second copies (409 on
//! `create`), which the sink counts as delivered: no duplicates. Credentials never reach the
//! logs.

mod common;
#[path = "common/es_server/mod.rs"]
mod es_server;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::es_docs::check_exactly_once;
use es_server::{EsAuth, EsServerOptions, EsTestServer};

const COUNT: u64 = 60_000;
const PASSWORD: &str = "Pa55-never-logged";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_after_kill_9_creates_no_duplicates() {
    let server = EsTestServer::start(EsServerOptions {
        auth: Some(EsAuth::Basic {
            user: "elastic".into(),
            password: PASSWORD.into(),
        }),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_file(
        dir.path(),
        "es.toml",
        &format!(
            r#"
data_dir = "{dir}/data"
[sources.demo]
type = "demo"
count = {COUNT}
rate = 15000
seed = 5
[transforms.parsed]
type = "parse_json"
inputs = ["demo"]
[sinks.es]
type = "elasticsearch"
inputs = ["parsed"]
endpoints = ["{url}"]
auth = {{ user = "elastic", password = "${{ES_PASSWORD}}" }}
batch = {{ max_events = 1000, timeout_ms = 200 }}
"#,
            dir = dir.path().display(),
            url = server.url()
        ),
    );
    let spawn = move || {
        Command::new(common::logweir_bin())
            .args(["--log-format", "json", "run", "-c"])
            .arg(&config)
            .env("ES_PASSWORD", PASSWORD)
            .env("LOGWEIR_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };

    let mut first = spawn();
    let midway = common::wait_until(Duration::from_secs(120), || {
        server.doc_count("logs-*") > 10_000
    });
    assert!(midway, "delivery never started");
    first.kill().unwrap(); // SIGKILL
    let first = first.wait_with_output().unwrap();
    let stored_before = server.doc_count("logs-*") as u64;
    assert!(
        stored_before < COUNT,
        "the first run finished before it was killed"
    );

    let second = tokio::task::spawn_blocking(move || spawn().wait_with_output().unwrap())
        .await
        .unwrap();
    let log = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "second run failed:\n{log}");

    let docs = server.docs("logs-*");
    check_exactly_once(docs.iter().map(|(_, s)| s), COUNT).unwrap();
    assert_eq!(docs.len() as u64, COUNT);
    // The replayed events were recognised as already stored (not silently skipped).
    let summary: serde_json::Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["message"] == "elasticsearch sink finished")
        .unwrap_or_else(|| panic!("no summary in the log:\n{log}"));
    let already = summary["already_stored"].as_u64().unwrap();
    assert_eq!(summary["delivered"].as_u64().unwrap() + already, COUNT);
    assert!(already >= stored_before, "{already} < {stored_before}");

    for out in [&first.stderr, &second.stderr] {
        let text = String::from_utf8_lossy(out);
        assert!(!text.contains(PASSWORD), "the password reached the logs");
    }
}
