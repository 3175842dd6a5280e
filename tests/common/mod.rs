//! Helpers shared by the integration tests: the logweir binary, temporary pipelines and
//! bounded waiting.
#![allow(dead_code)]

pub mod es_docs;
pub mod kube_api;
pub mod running;
pub mod tail;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub mod reload;

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

/// Waits for logweir's `api listening address=…` line in the log file at `path` and
/// returns the address. Tests configure the API on port 0 and read the port from here:
/// a port picked by the test and bound later by logweir could be taken meanwhile by
/// another process, whose `/metrics` the test would then read.
pub fn api_address_from_log(path: &Path) -> String {
    let find = || {
        let log = std::fs::read_to_string(path).unwrap_or_default();
        let line = log.lines().find(|l| l.contains("api listening"))?;
        let (_, rest) = line.split_once("address=")?;
        let address = rest.split_whitespace().next()?.trim_matches('"');
        (!address.is_empty()).then(|| address.to_string())
    };
    let mut address = None;
    let found = wait_until(Duration::from_secs(20), || {
        address = find();
        address.is_some()
    });
    assert!(
        found,
        "logweir never said where its API listens:\n{}",
        std::fs::read_to_string(path).unwrap_or_default()
    );
    address.unwrap()
}

/// A minimal blocking HTTP/1.1 GET; returns the status and the body.
pub fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// The value of a Prometheus sample whose name and labels all match, from a `/metrics` body.
pub fn metric_value(body: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
pub mod net;
pub mod s3_server;
