//! Chaos: container log lines written with rotations while logweir is killed with SIGKILL at
//! random points and restarted, ten times. One pipeline fans out to Elasticsearch and to S3
//! (a real SeaweedFS), so a checkpoint only moves once both confirmed the events.
//! Elasticsearch must end up with every line exactly once (at-least-once delivery from
//! acknowledged checkpoints + deterministic ids), S3 with every line at least once (objects
//! open or uploading at a kill are lost with the process, and their lines read again).

mod common;
#[path = "common/es_server/mod.rs"]
mod es_server;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::s3_server::{read_objects, SeaweedFs, ACCESS_KEY, SECRET_KEY};
use es_server::{EsServerOptions, EsTestServer};

const LINES: u64 = 200_000;
const ROTATE_EVERY: u64 = 25_000;
const KILLS: u64 = 10;
/// How far the writer may run ahead of Elasticsearch: more than a rotation, so that rotated
/// files wait to be read (and must be found again) across kills.
const AHEAD: u64 = 30_000;
/// Longest wait for the pipeline to make progress before the test fails.
const STALL_LIMIT: Duration = Duration::from_secs(120);

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
/// `ROTATE_EVERY` lines. It stays at most `AHEAD` lines in front of what Elasticsearch holds
/// (`delivered`), so writing and rotations go on while the kills land, whatever the speed
/// of the build and the machine.
fn write_lines(dir: &Path, delivered: &AtomicU64, done: &AtomicBool) {
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
            std::thread::sleep(Duration::from_millis(10));
            // Bounded: a pipeline that stopped delivering fails the test elsewhere.
            let deadline = Instant::now() + STALL_LIMIT;
            while seq >= delivered.load(Ordering::Acquire) + AHEAD && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
    file.write_all(&buf).unwrap();
    done.store(true, Ordering::Release);
}

/// The last lines of logweir's log (the temporary directory is gone once the test fails).
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
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
async fn every_line_reaches_elasticsearch_exactly_once_and_s3_at_least_once_through_ten_kills() {
    let server = EsTestServer::start(EsServerOptions::default()).await;
    // The launcher blocks on its own runtime while it waits for the server.
    let s3 = tokio::task::spawn_blocking(|| {
        let s3 = SeaweedFs::start();
        s3.create_bucket("archive");
        s3
    })
    .await
    .unwrap();
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
# A small buffer keeps Elasticsearch close behind S3 ...
buffer = {{ type = "memory", max_events = 2048 }}

# ... and objects held up to three seconds make S3 the later of the two to confirm most
# lines: at a kill, the open object usually holds lines Elasticsearch already has. So the
# checkpoint must wait for S3 too, or those lines are lost (a sink acknowledging before
# its upload fails this test).
[sinks.archive]
type = "s3"
inputs = ["parsed"]
bucket = "archive"
endpoint = "{s3}"
access_key_id = "{ACCESS_KEY}"
secret_access_key = "{SECRET_KEY}"
key = "chaos/{{{{ uuid }}}}.ndjson.gz"
batch = {{ max_bytes = 1048576, timeout_secs = 3 }}
retry = {{ initial_backoff_ms = 100, max_backoff_secs = 2 }}
"#,
            data = dir.path().join("data").display(),
            pods = pods.display(),
            url = server.url(),
            s3 = s3.endpoint,
        ),
    );
    let log = dir.path().join("logweir.log");

    // What Elasticsearch holds, polled for the writer's pacing and the kill points.
    let server = Arc::new(server);
    let delivered = Arc::new(AtomicU64::new(0));
    let poller = {
        let server = Arc::clone(&server);
        let delivered = Arc::clone(&delivered);
        tokio::spawn(async move {
            loop {
                delivered.store(server.doc_count("logs-*") as u64, Ordering::Release);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let pods = pods.clone();
        let delivered = Arc::clone(&delivered);
        let done = Arc::clone(&done);
        std::thread::spawn(move || write_lines(&pods, &delivered, &done))
    };

    // Kills at random points: most once Elasticsearch holds about k/(KILLS+1) of the lines
    // (so they land mid-stream, with uploads, bulk requests and checkpoint saves in flight,
    // wherever the run is), then after a random extra delay; about one in four shortly after
    // a start instead (during startup, checkpoint loading and replay).
    let mut rng = XorShift(0x5eed_1234_abcd_0001);
    let segment = LINES / (KILLS + 1);
    let mut kill_points = Vec::new();
    let mut child = start(&config, &log);
    for k in 0..KILLS {
        if rng.next().is_multiple_of(4) {
            tokio::time::sleep(Duration::from_millis(100 + rng.next() % 500)).await;
        } else {
            let target = segment * (k + 1) - rng.next() % (segment / 2);
            let deadline = Instant::now() + STALL_LIMIT;
            while delivered.load(Ordering::Acquire) < target {
                assert!(
                    Instant::now() < deadline,
                    "no progress to {target} lines before kill {k}; last log lines:\n{}\nlast SeaweedFS log lines:\n{}",
                    log_tail(&log),
                    s3.log_tail()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            tokio::time::sleep(Duration::from_millis(rng.next() % 300)).await;
        }
        kill_points.push(delivered.load(Ordering::Acquire));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        child = start(&config, &log);
    }

    // Let the last incarnation catch up, then stop it cleanly.
    let deadline = Instant::now() + STALL_LIMIT;
    let mut caught_up = false;
    while Instant::now() < deadline {
        if done.load(Ordering::Acquire) && delivered.load(Ordering::Acquire) >= LINES {
            caught_up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    poller.abort();
    writer.join().unwrap();
    eprintln!("killed when elasticsearch held {kill_points:?} lines");
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = child.wait().unwrap();
    let stored = server.docs("logs-*");
    assert!(
        caught_up,
        "only {} of {LINES} lines arrived; last log lines:\n{}\nlast SeaweedFS log lines:\n{}",
        stored.len(),
        log_tail(&log),
        s3.log_tail()
    );
    assert!(
        status.success(),
        "the last run did not exit cleanly: {status:?}; last log lines:\n{}\nlast SeaweedFS log lines:\n{}",
        log_tail(&log),
        s3.log_tail()
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

    // S3: every line in at least one object. Lines of objects that were open or uploading
    // at a kill come again after the restart, so some appear twice.
    let objects =
        tokio::task::spawn_blocking(move || read_objects(&s3.store("archive"), Some("chaos")))
            .await
            .unwrap();
    let mut archived = vec![0u32; LINES as usize];
    for line in objects.iter().flat_map(|o| &o.lines) {
        let seq = line["seq"]
            .as_u64()
            .unwrap_or_else(|| panic!("archived line without seq: {line}"));
        assert!(seq < LINES, "archived line with unknown seq: {line}");
        archived[seq as usize] += 1;
    }
    let missing: Vec<usize> = (0..LINES as usize)
        .filter(|s| archived[*s] == 0)
        .take(10)
        .collect();
    let total: u64 = archived.iter().map(|n| u64::from(*n)).sum();
    assert!(
        missing.is_empty(),
        "lines never archived in S3 (first 10): {missing:?}; {} objects, {total} lines",
        objects.len()
    );
    eprintln!(
        "s3 holds {total} lines for {LINES} ({} again after kills) in {} objects",
        total - LINES,
        objects.len()
    );
}
