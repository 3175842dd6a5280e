//! Helpers for the live-reload tests: a running `logweir run`, atomic config rewrites, and
//! reading the `seq` of demo events from a file sink's output while it grows.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long a reload test waits for anything before failing.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A `logweir run` whose stderr goes to a file (read while it runs).
pub struct Running {
    pub child: Child,
    pub stderr_path: PathBuf,
}

impl Running {
    pub fn start(args: &[&str], stderr_path: &Path) -> Running {
        let stderr = std::fs::File::create(stderr_path).unwrap();
        let child = Command::new(super::logweir_bin())
            .args(["--log-format", "text", "--log-level", "info", "run"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        Running {
            child,
            stderr_path: stderr_path.to_path_buf(),
        }
    }

    /// logweir's logs so far (plain text: stderr is a file, not a terminal).
    pub fn stderr(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        assert!(
            !text.contains('\u{1b}'),
            "terminal colour codes in logs written to a file:\n{text}"
        );
        text
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(mut self) -> String {
        self.signal("TERM");
        let status = self.child.wait().unwrap();
        let stderr = self.stderr();
        assert!(status.success(), "logweir failed: {status}\n{stderr}");
        stderr
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Replaces `path` with `contents` in one rename, as editors and ConfigMap updates do, so
/// a reload never reads a half-written file.
pub fn write_atomically(path: &Path, contents: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// One output event: its demo `seq` and the `config_version` the pipeline gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub seq: u64,
    pub version: String,
}

/// The complete lines of a growing NDJSON file.
pub fn read_events(path: &Path) -> Vec<Seen> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let complete = match bytes.iter().rposition(|b| *b == b'\n') {
        Some(end) => &bytes[..=end],
        None => return Vec::new(),
    };
    String::from_utf8_lossy(complete)
        .lines()
        .map(|line| {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("bad line {line:?}: {e}"));
            Seen {
                seq: seq_of(&v).unwrap_or_else(|| panic!("no seq in {line}")),
                version: v["config_version"].as_str().unwrap_or("").to_string(),
            }
        })
        .collect()
}

/// `seq` of a demo event: a field after `parse_json`, or `seq=N` in a plain-text line.
fn seq_of(v: &serde_json::Value) -> Option<u64> {
    if let Some(n) = v["seq"].as_u64() {
        return Some(n);
    }
    let message = v["message"].as_str()?;
    let rest = &message[message.find(" seq=")? + 5..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Asserts the events are seqs `first, first+1, …` in order, each exactly once.
pub fn assert_contiguous(events: &[Seen], first: u64) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            e.seq,
            first + i as u64,
            "event {i} has seq {} (expected {}): lost, duplicated or reordered around it: {:?}",
            e.seq,
            first + i as u64,
            &events[i.saturating_sub(3)..(i + 3).min(events.len())]
        );
    }
}

/// A demo → parse_json → filter `keep` → add_fields `mark` → file pipeline; `version` is
/// what `mark` writes into `config_version`, `condition` the filter's.
pub fn pipeline(data_dir: &Path, out: &Path, condition: &str, version: &str) -> String {
    format!(
        r#"data_dir = "{data}"

[sources.app]
type = "demo"
count = 0
rate = 400

[transforms.parsed]
type = "parse_json"
inputs = ["app"]

[transforms.keep]
type = "filter"
inputs = ["parsed"]
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
        data = data_dir.display(),
        out = out.display(),
    )
}
