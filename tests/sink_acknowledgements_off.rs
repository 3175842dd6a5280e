//! `acknowledgements = false` on a sink: its events count as delivered once handed to its
//! buffer, so a file source feeding only such sinks checkpoints what the pipeline took, one
//! feeding such a sink beside an acknowledging sink is not held back by it, and one feeding a
//! slow acknowledging sink checkpoints only what that sink finished.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Every line is exactly this long, so a checkpoint offset is a line count.
const LINE_BYTES: u64 = 64;
const LINES: u64 = 10_000;
/// The most lines the file source puts in one batch (`BATCH_EVENTS` in
/// `sources/file/source.rs`).
const MAX_BATCH_EVENTS: u64 = 512;

fn write_lines(path: &Path) {
    let mut text = String::new();
    for seq in 0..LINES {
        let line = format!("2026-11-24T10:00:00.000000000Z stdout F line {seq:08} ");
        let pad = LINE_BYTES as usize - line.len() - 1;
        text.push_str(&line);
        text.push_str(&"x".repeat(pad));
        text.push('\n');
    }
    assert_eq!(text.len() as u64, LINES * LINE_BYTES);
    std::fs::write(path, text).unwrap();
}

/// The offset in `data/<source>/checkpoints.json` (one file per source here).
fn checkpoint(data: &Path, source: &str) -> Option<u64> {
    let text = std::fs::read_to_string(data.join(source).join("checkpoints.json")).ok()?;
    let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
    doc["checkpoints"][0]["offset"].as_u64()
}

#[test]
fn a_sink_without_acknowledgements_does_not_hold_back_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    for pod in ["acked", "unacked", "mixed"] {
        let logs = dir.path().join(format!("pods/shop_{pod}_0f9c/app"));
        std::fs::create_dir_all(&logs).unwrap();
        write_lines(&logs.join("0.log"));
    }
    let data = dir.path().join("data");
    // The `slow_*` blackholes finish their first batch and then sleep for about 1000 s (one
    // event per second): everything else waits in their buffers (two batches) or in the
    // source. `mixed` feeds a fast acknowledging sink and a slow one without.
    let config = common::write_file(
        dir.path(),
        "pipeline.toml",
        &format!(
            r#"
data_dir = "{data}"

[sources.acked]
type = "file"
include = ["{pods}/shop_acked_0f9c/app/*.log"]
format = "cri"
checkpoint_interval_ms = 50

[sources.unacked]
type = "file"
include = ["{pods}/shop_unacked_0f9c/app/*.log"]
format = "cri"
checkpoint_interval_ms = 50

[sources.mixed]
type = "file"
include = ["{pods}/shop_mixed_0f9c/app/*.log"]
format = "cri"
checkpoint_interval_ms = 50

[sinks.fast_acked]
type = "blackhole"
inputs = ["mixed"]

[sinks.slow_acked]
type = "blackhole"
inputs = ["acked"]
rate = 1
buffer = {{ type = "memory", max_events = 2048 }}

[sinks.slow_unacked]
type = "blackhole"
inputs = ["unacked"]
rate = 1
buffer = {{ type = "memory", max_events = 2048 }}
acknowledgements = false

[sinks.slow_mixed]
type = "blackhole"
inputs = ["mixed"]
rate = 1
buffer = {{ type = "memory", max_events = 2048 }}
acknowledgements = false
"#,
            data = data.display(),
            pods = dir.path().join("pods").display(),
        ),
    );
    let log = dir.path().join("logweir.log");
    let mut child = Command::new(common::logweir_bin())
        .args(["--log-format", "json", "run", "-c"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();

    // The unacknowledged source's checkpoint passes what its sink received (one batch):
    // it follows the batches its sink's buffer took.
    // The same for the source beside it, whose events the fast sink acknowledges.
    let one_batch = MAX_BATCH_EVENTS * LINE_BYTES;
    let (mut unacked, mut mixed) = (None, None);
    let moved_on = common::wait_until(Duration::from_secs(30), || {
        unacked = checkpoint(&data, "unacked");
        mixed = checkpoint(&data, "mixed");
        unacked.is_some_and(|o| o > one_batch) && mixed.is_some_and(|o| o > one_batch)
    });
    // Give the acknowledged source the same chance to (wrongly) move past its first batch.
    std::thread::sleep(Duration::from_millis(500));
    let acked = checkpoint(&data, "acked");
    let _ = child.kill();
    let _ = child.wait();
    let logs = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        moved_on,
        "checkpoints of the sources feeding a sink with acknowledgements = false stayed at \
         {unacked:?} (only that sink) and {mixed:?} (beside an acknowledging sink); the slow \
         sink received at most {MAX_BATCH_EVENTS} lines of each; log:\n{logs}"
    );
    let acked = acked.expect("the acknowledged source wrote a checkpoint");
    assert!(
        acked <= one_batch,
        "the acknowledged source checkpointed {} lines, more than its sink finished (one \
         batch of at most {MAX_BATCH_EVENTS}); log:\n{logs}",
        acked / LINE_BYTES
    );
    assert!(
        acked > 0,
        "the acknowledged source never checkpointed the batch its sink finished; log:\n{logs}"
    );
    assert!(
        logs.contains("no sink downstream acknowledges deliveries"),
        "the unacknowledged source should say so at startup; log:\n{logs}"
    );
}
