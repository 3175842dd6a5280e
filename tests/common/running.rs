//! A logweir pipeline running in a child process with its `[api]` on a free port and its
//! stdin held open by the test.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

/// A running `logweir run`; killed when dropped.
pub struct RunningPipeline {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    /// `127.0.0.1:<port>` of the API.
    pub api: String,
    pub dir: PathBuf,
}

impl RunningPipeline {
    /// Starts `logweir run` on `body` (the pipeline without `data_dir` and `[api]`, which
    /// are added) in `dir`, and waits until `/health` answers.
    ///
    /// The API binds port 0 and the address is read from the child's log: a port picked
    /// here and bound there could be taken meanwhile by another process, whose `/metrics`
    /// the test would then read.
    pub fn start(dir: &Path, body: &str) -> RunningPipeline {
        let api = "127.0.0.1:0";
        let config = super::write_file(
            dir,
            "pipeline.toml",
            &format!(
                "data_dir = \"{}\"\n[api]\naddress = \"{api}\"\n{body}",
                dir.join("data").display()
            ),
        );
        let stderr = std::fs::File::create(dir.join("stderr.log")).unwrap();
        let child = Command::new(super::logweir_bin())
            .args(["run", "-c"])
            .arg(&config)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut running = RunningPipeline {
            stdin: None,
            child,
            api: String::new(),
            dir: dir.to_path_buf(),
        };
        running.stdin = running.child.stdin.take();
        running.api = super::api_address_from_log(&running.dir.join("stderr.log"));
        assert!(
            super::wait_until(Duration::from_secs(20), || {
                super::http_get(&running.api, "/health").is_ok_and(|(s, _)| s == 200)
            }),
            "the API never answered: {}",
            running.stderr()
        );
        running
    }

    /// Writes lines to the pipeline's stdin.
    pub fn write_lines(&mut self, lines: &[String]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        for l in lines {
            writeln!(stdin, "{l}").unwrap();
        }
        stdin.flush().unwrap();
    }

    /// The current `/metrics` text.
    pub fn metrics(&self) -> String {
        super::http_get(&self.api, "/metrics")
            .map(|(_, b)| b)
            .unwrap_or_default()
    }

    /// Waits until `name{component_id=id}` reaches `value`; returns the last `/metrics` text.
    pub fn wait_for_metric(&self, name: &str, id: &str, value: f64) -> String {
        let mut body = String::new();
        let reached = super::wait_until(Duration::from_secs(20), || {
            body = self.metrics();
            super::metric_value(&body, name, &[("component_id", id)]) == Some(value)
        });
        assert!(
            reached,
            "{name}{{component_id={id}}} never reached {value}:\n{body}"
        );
        body
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// Closes stdin and waits for the pipeline to drain and exit successfully.
    pub fn finish(mut self) {
        drop(self.stdin.take());
        self.wait_for_clean_exit();
    }

    /// Sends SIGTERM (for pipelines with sources that never end by themselves, such as
    /// network listeners) and waits for the pipeline to drain and exit successfully.
    pub fn terminate(mut self) {
        drop(self.stdin.take());
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        self.wait_for_clean_exit();
    }

    fn wait_for_clean_exit(&mut self) {
        let mut status = None;
        super::wait_until(Duration::from_secs(30), || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        assert!(
            status.is_some_and(|s| s.success()),
            "pipeline did not exit cleanly ({status:?}): {}",
            self.stderr()
        );
    }
}

impl Drop for RunningPipeline {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
