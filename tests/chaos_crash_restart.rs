//! Chaos: container log lines written with rotations while logweir is killed with SIGKILL at
//! random points and restarted, ten times. Elasticsearch must end up with every line exactly
//! once (at-least-once delivery from acknowledged checkpoints + deterministic ids).

mod common;
#[path = "common/es_server/mod.rs"]
mod es_server;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use es_server::{EsServerOptions, EsTestServer};

const LINES: u64 = 200_000;
const ROTATE_EVERY: u64 = 25_000;
const KILLS: usize = 10;

/// A small deterministic generator, so a failing run can be reproduced.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Writes CRI lines `{"seq":N,...}` into `dir/0.log`, renaming it away kubelet-style every
/// `ROTATE_EVERY` lines, at a steady pace so that kills land mid-stream.
fn write_lines(dir: &Path, done: &AtomicBool) {
    let path = dir.join("0.log");
    let mut file = std::fs::File::create(&path).unwrap();
    let mut buf = Vec::new();
    for seq in 0..LINES {
        if seq > 0 && seq % ROTATE_EVERY == 0 {
            file.write_all(&buf).unwrap();
            buf.clear();
            drop(file);
            std::fs::rename(&path, dir.join(format!("0.log.{seq:08}"))).unwrap();
            file = std::fs::File::create(&path).unwrap();
        }
        writeln!(
            buf,
            r#"2026-11-24T10:00:00.{:09}Z stdout F {{"seq":{seq},"level":"info","msg":"line {seq} élan"}}"#,
            seq % 1_000_000_000
        )
        .unwrap();
        if buf.len() > 64 * 1024 {
            file.write_all(&buf).unwrap();
            buf.clear();
            // About 40,000 lines per second: the run spans all ten kills.
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    file.write_all(&buf).unwrap();
    done.store(true, Ordering::Release);
}

fn start(config: &Path, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(common::logweir_bin())
        .args(["--log-format", "json", "run", "-c"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_reaches_elasticsearch_exactly_once_through_ten_kills() {
    let server = EsTestServer::start(EsServerOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let pods = dir
        .path()
        .join("pods/shop_cart-7d9f8b-x2v4q_0f9c2a4e-1111-2222-3333-444455556666/cart");
    std::fs::create_dir_all(&pods).unwrap();
    let config = common::write_file(
        dir.path(),
        "chaos.toml",
        &format!(
            r#"
data_dir = "{data}"

[sources.pods]
type = "file"
# Rotated names are included too: after a crash, the unread tail of a file renamed while
# logweir was down is found again by its identity (device, inode, fingerprint).
include = ["{pods}/*.log", "{pods}/*.log.*"]
format = "cri"
checkpoint_interval_ms = 200

[transforms.parsed]
type = "parse_json"
inputs = ["pods"]

[sinks.es]
type = "elasticsearch"
inputs = ["parsed"]
endpoints = ["{url}"]
batch = {{ max_events = 2000, timeout_ms = 200 }}
retry_max_backoff_ms = 500
"#,
            data = dir.path().join("data").display(),
            pods = pods.display(),
            url = server.url()
        ),
    );
    let log = dir.path().join("logweir.log");

    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let pods = pods.clone();
        let done = Arc::clone(&done);
        std::thread::spawn(move || write_lines(&pods, &done))
    };

    let mut rng = XorShift(0x5eed_1234_abcd_0001);
    let mut child = start(&config, &log);
    for _ in 0..KILLS {
        let wait = Duration::from_millis(300 + rng.next() % 900);
        tokio::time::sleep(wait).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        child = start(&config, &log);
    }
    writer.join().unwrap();
    assert!(done.load(Ordering::Acquire));

    // Let the last incarnation catch up, then stop it cleanly.
    let caught_up = common::wait_until(Duration::from_secs(300), || {
        server.doc_count("logs-*") as u64 >= LINES
    });
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = child.wait().unwrap();
    let stored = server.docs("logs-*");
    assert!(
        caught_up,
        "only {} of {LINES} lines arrived; logs in {}",
        stored.len(),
        log.display()
    );
    assert!(
        status.success(),
        "the last run did not exit cleanly: {status:?}"
    );

    let mut seen = vec![0u32; LINES as usize];
    for (_, doc) in &stored {
        let seq = doc["seq"]
            .as_u64()
            .unwrap_or_else(|| panic!("document without seq: {doc}"));
        seen[seq as usize] += 1;
    }
    let missing: Vec<usize> = (0..LINES as usize)
        .filter(|s| seen[*s] == 0)
        .take(10)
        .collect();
    let doubled: Vec<usize> = (0..LINES as usize)
        .filter(|s| seen[*s] > 1)
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "lines never stored (first 10): {missing:?}"
    );
    assert!(
        doubled.is_empty(),
        "lines stored twice (first 10): {doubled:?}"
    );
    assert_eq!(stored.len() as u64, LINES);
}
