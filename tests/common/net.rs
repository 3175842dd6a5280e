//! Running the logweir binary as a network server in tests: free ports, start with a
//! pipeline, wait for its listeners, stop with SIGTERM and read its closing summaries.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A TCP port free on 127.0.0.1 at the time of the call.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A UDP port free on 127.0.0.1 at the time of the call.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running logweir process whose stderr (JSON logs) goes to a file.
pub struct Logweir {
    pub child: Child,
    pub stderr_path: PathBuf,
}

impl Logweir {
    /// Starts `logweir run` with `config` written into `dir`; waits until `listeners` sources
    /// report that they listen.
    pub fn start(dir: &Path, config: &str, listeners: usize) -> Logweir {
        let config_path = super::write_file(dir, "pipeline.toml", config);
        let stderr_path = dir.join("logweir.stderr");
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let child = Command::new(super::logweir_bin())
            .args(["--log-format", "json", "run", "-c"])
            .arg(&config_path)
            .stdin(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut running = Logweir { child, stderr_path };
        let up = super::wait_until(Duration::from_secs(30), || {
            running.stderr().matches("\"listening for ").count() >= listeners
        });
        if !up {
            let _ = running.child.kill();
            panic!("logweir did not start listening: {}", running.stderr());
        }
        running
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Peak resident memory (VmHWM) of the process so far, in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/<pid>/status")
    }

    /// Sends SIGTERM, waits (bounded) for a successful exit and returns the logs.
    pub fn stop(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        let exit = loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                break exit;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("logweir did not stop after SIGTERM: {}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let logs = self.stderr();
        assert!(exit.success(), "logweir exited with {exit:?}: {logs}");
        logs
    }
}

/// The JSON log line with `message` for `component_id` (a source's closing summary).
pub fn summary(logs: &str, message: &str, component_id: &str) -> serde_json::Value {
    logs.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| {
            let fields = v.get("fields").unwrap_or(v);
            fields["message"] == message && fields["component_id"] == component_id
        })
        .map(|v| v.get("fields").cloned().unwrap_or(v))
        .unwrap_or_else(|| panic!("no {message:?} log for {component_id}: {logs}"))
}

/// The complete lines of an NDJSON file that may still be growing (a partial last line is
/// left out).
pub fn read_complete_ndjson(path: &Path) -> Vec<serde_json::Value> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let end = memchr::memrchr(b'\n', &bytes).map_or(0, |i| i + 1);
    String::from_utf8_lossy(&bytes[..end])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad NDJSON line {l:?}: {e}")))
        .collect()
}
