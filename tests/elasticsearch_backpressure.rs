//! While Elasticsearch is down, the sink stops taking events instead of buffering them:
//! an endless, unthrottled source does not grow the process's memory, and delivery resumes
//! when the cluster is back.

mod common;
#[path = "common/es_server/mod.rs"]
mod es_server;

use std::process::{Command, Stdio};
use std::time::Duration;

use es_server::{EsServerOptions, EsTestServer};

/// Peak resident memory (VmHWM) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_does_not_grow_memory() {
    let server = EsTestServer::start(EsServerOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_file(
        dir.path(),
        "es.toml",
        &format!(
            r#"
data_dir = "{dir}/data"
[sources.demo]
type = "demo"
count = 0          # endless, as fast as it is allowed to go
[transforms.parsed]
type = "parse_json"
inputs = ["demo"]
[sinks.es]
type = "elasticsearch"
inputs = ["parsed"]
endpoints = ["{url}"]
retry_max_backoff_ms = 1000
"#,
            dir = dir.path().display(),
            url = server.url()
        ),
    );
    let mut child = Command::new(common::logweir_bin())
        .args(["run", "-c"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    assert!(common::wait_until(Duration::from_secs(120), || {
        server.doc_count("logs-*") > 20_000
    }));
    server.faults().set_outage(true);
    // Requests the server was already processing when the outage began still complete; let
    // them land before taking the reference count.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let at_outage = server.doc_count("logs-*");
    tokio::time::sleep(Duration::from_secs(13)).await;
    let peak_kib = peak_rss_kib(pid);
    assert_eq!(server.doc_count("logs-*"), at_outage);
    // The bound: 4 requests of at most 2000 events in flight plus one being filled, and the
    // bounded channels — tens of MB. A sink that kept taking events from this source would
    // hold millions of them after 15 s (gigabytes).
    assert!(
        peak_kib < 400 * 1024,
        "peak RSS {} MiB during the outage",
        peak_kib / 1024
    );

    server.faults().set_outage(false);
    assert!(
        common::wait_until(Duration::from_secs(120), || {
            server.doc_count("logs-*") > at_outage + 20_000
        }),
        "delivery did not resume after the outage"
    );
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    eprintln!("peak RSS during the outage: {} MiB", peak_kib / 1024);
}
