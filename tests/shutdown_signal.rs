//! SIGTERM mid-run: the sources stop, everything already read reaches the sink, exit 0.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn sigterm_drains_everything_already_read() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let config = common::write_file(
        dir.path(),
        "p.toml",
        &format!(
            "data_dir = \"{}\"\n[sources.in]\ntype = \"stdin\"\n[transforms.p]\ntype = \"parse_json\"\ninputs = [\"in\"]\n[sinks.out]\ntype = \"file\"\ninputs = [\"p\"]\npath = \"{}\"\n",
            dir.path().join("data").display(),
            out.display()
        ),
    );
    let mut child = Command::new(common::logweir_bin())
        .args(["--log-format", "json", "run", "-c"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Keep writing from a thread until the pipe breaks (logweir stopped reading).
    let writer = std::thread::spawn(move || {
        let mut seq = 0u64;
        loop {
            let mut chunk = Vec::new();
            for _ in 0..1000 {
                writeln!(chunk, r#"{{"seq":{seq}}}"#).unwrap();
                seq += 1;
            }
            if stdin.write_all(&chunk).is_err() || seq > 5_000_000 {
                return seq;
            }
        }
    });
    assert!(
        common::wait_until(Duration::from_secs(30), || common::count_lines(&out)
            >= 20_000),
        "the pipeline never wrote output"
    );
    let pid = child.id() as i32;
    // SAFETY-free: kill(1) via the command line keeps the test free of libc.
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let _ = writer.join();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}: {stderr}",
        output.status
    );

    // The stdin source reports how many lines it read; all of them must be in the file, in
    // order, with no gap and no duplicate.
    let read: u64 = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == "stdin source finished")
        .and_then(|v| v["lines"].as_u64())
        .unwrap_or_else(|| panic!("no 'stdin source finished' log line in {stderr}"));
    let events = common::read_ndjson(&out);
    assert_eq!(events.len() as u64, read, "events read but not delivered");
    for (i, e) in events.iter().enumerate() {
        let is_last = i + 1 == events.len();
        if is_last
            && e["tags"]
                .as_array()
                .is_some_and(|t| t.contains(&"incomplete_line".into()))
        {
            // Stopped in the middle of a line: the fragment read so far is delivered, flagged.
            let fragment = e["message"].as_str().unwrap();
            assert!(
                format!("{{\"seq\":{i}}}").starts_with(fragment),
                "{fragment}"
            );
            continue;
        }
        assert_eq!(e["seq"], i as u64, "{e}");
    }
}
