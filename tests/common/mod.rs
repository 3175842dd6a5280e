//! Helpers shared by the integration tests: the logweir binary, temporary pipelines and
//! bounded waiting.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Path of the built `logweir` binary.
pub fn logweir_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_logweir"))
}

/// Writes `contents` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write test file");
    path
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads an NDJSON file into JSON values (an absent file is empty).
pub fn read_ndjson(path: &Path) -> Vec<serde_json::Value> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad NDJSON line {l:?}: {e}")))
        .collect()
}

/// Counts lines of a file without parsing them.
pub fn count_lines(path: &Path) -> usize {
    std::fs::read(path)
        .map(|b| memchr::memchr_iter(b'\n', &b).count())
        .unwrap_or(0)
}
pub mod s3_server;
