//! Live reload with a `file` source tailing a growing log (numbered lines, appended while the
//! reloads happen): a changed filter leaves the source untouched, so it keeps its position;
//! a changed source is replaced, and the new instance resumes from the checkpoints the old
//! one saved once its events were acknowledged. Either way every line reaches the sink
//! exactly once, in order.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::reload::{assert_contiguous, read_events, write_atomically, Running, PATIENCE};
use common::wait_until;

/// Appends `line seq=N …` lines to a file (one `write` per line) until stopped.
struct Writer {
    stop: Arc<AtomicBool>,
    written: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    fn start(path: &Path) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicU64::new(0));
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        let thread = std::thread::spawn({
            let stop = Arc::clone(&stop);
            let written = Arc::clone(&written);
            move || {
                let mut seq = 0u64;
                while !stop.load(Ordering::Acquire) {
                    let line =
                        format!("line seq={seq} payload {}\n", "x".repeat(seq as usize % 60));
                    file.write_all(line.as_bytes()).unwrap();
                    seq += 1;
                    written.store(seq, Ordering::Release);
                    // About 1,000 lines per second: the reloads happen mid-stream.
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        });
        Writer {
            stop,
            written,
            thread: Some(thread),
        }
    }

    /// Stops writing; returns how many lines were written.
    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Release);
        self.thread.take().unwrap().join().unwrap();
        self.written.load(Ordering::Acquire)
    }
}

/// file → filter `keep` → add_fields `mark` → file sink. `source_extra` are extra lines of
/// the source's table; `version` is what `mark` writes into `config_version`.
fn pipeline(dir: &Path, source_extra: &str, condition: &str, version: &str) -> String {
    format!(
        r#"data_dir = "{data}"

[sources.tail]
type = "file"
include = ["{log}"]
format = "raw"
checkpoint_interval_ms = 200
{source_extra}

[transforms.keep]
type = "filter"
inputs = ["tail"]
condition = '{condition}'

[transforms.mark]
type = "add_fields"
inputs = ["keep"]
fields = {{ config_version = "{version}" }}

[sinks.out]
type = "file"
inputs = ["mark"]
path = "{out}"
"#,
        data = dir.join("data").display(),
        log = dir.join("app.log").display(),
        out = dir.join("out.ndjson").display(),
    )
}

struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("conf")).unwrap();
        let config = dir.path().join("conf").join("pipeline.toml");
        Setup { dir, config }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn out(&self) -> PathBuf {
        self.path().join("out.ndjson")
    }
}

/// Runs the scenario: v1 until 300 lines are out, then `v2_config`, then 300 more lines;
/// returns logweir's logs after a clean stop, having checked every line arrived exactly once
/// and in order, v1 lines before v2 lines.
fn reload_mid_stream(setup: &Setup, v1_config: &str, v2_config: &str) -> String {
    write_atomically(&setup.config, v1_config);
    let writer = Writer::start(&setup.path().join("app.log"));
    let run = Running::start(
        &["-c", setup.config.to_str().unwrap(), "--watch"],
        &setup.path().join("stderr.log"),
    );
    let out = setup.out();
    assert!(
        wait_until(PATIENCE, || read_events(&out).len() >= 300),
        "no output: {}",
        run.stderr()
    );
    write_atomically(&setup.config, v2_config);
    assert!(
        wait_until(PATIENCE, || {
            read_events(&out)
                .iter()
                .filter(|e| e.version == "v2")
                .count()
                >= 300
        }),
        "the reload did not take effect: {}",
        run.stderr()
    );
    let written = writer.finish();
    assert!(
        wait_until(PATIENCE, || read_events(&out).len() as u64 >= written),
        "{} of {written} lines out: {}",
        read_events(&out).len(),
        run.stderr()
    );
    let stderr = run.stop();
    let events = read_events(&out);
    assert_eq!(events.len() as u64, written, "{stderr}");
    assert_contiguous(&events, 0);
    let first_v2 = events.iter().position(|e| e.version == "v2").unwrap();
    assert!(events[..first_v2].iter().all(|e| e.version == "v1"));
    assert!(events[first_v2..].iter().all(|e| e.version == "v2"));
    assert_eq!(stderr.matches("pipeline started").count(), 1, "{stderr}");
    stderr
}

#[test]
fn a_changed_filter_leaves_the_file_source_reading_from_its_position() {
    let setup = Setup::new();
    let stderr = reload_mid_stream(
        &setup,
        &pipeline(setup.path(), "", "exists(.message)", "v1"),
        &pipeline(setup.path(), "", "!exists(.no_such_field)", "v2"),
    );
    assert!(
        stderr.contains("configuration reloaded") && stderr.contains("changed=keep,mark"),
        "{stderr}"
    );
    // The source was never stopped: it finished once, at the end, and loaded its (absent)
    // checkpoints once, at the start.
    assert_eq!(
        stderr.matches("file source finished").count(),
        1,
        "{stderr}"
    );
    assert_eq!(stderr.matches("no checkpoints yet").count(), 1, "{stderr}");
}

#[test]
fn a_changed_file_source_resumes_from_the_checkpoints_of_the_one_it_replaces() {
    let setup = Setup::new();
    let stderr = reload_mid_stream(
        &setup,
        &pipeline(setup.path(), "", "exists(.message)", "v1"),
        &pipeline(
            setup.path(),
            "max_read_bytes = 65536",
            "exists(.message)",
            "v2",
        ),
    );
    assert!(
        stderr.contains("configuration reloaded") && stderr.contains("changed=tail,mark"),
        "{stderr}"
    );
    // Two instances, one after the other: the second started from the first's checkpoints
    // (a start without them would re-read every line from the beginning).
    assert_eq!(
        stderr.matches("file source finished").count(),
        2,
        "{stderr}"
    );
    assert!(stderr.contains("checkpoints loaded"), "{stderr}");
}
