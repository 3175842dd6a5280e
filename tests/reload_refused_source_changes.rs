//! A reload that would replace a source which cannot hand its input over is refused with the
//! reason: here a changed `stdin` source (bytes the running instance has read but not sent
//! would be lost). The pipeline keeps running unchanged, reading the same input, and the
//! refusal counts in `logweir_config_reload_failures_total`.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::reload::{assert_contiguous, read_events, write_atomically, PATIENCE};
use common::{http_get, metric_value, wait_until};

fn pipeline(dir: &std::path::Path, api: &str, max_line_bytes: usize, version: &str) -> String {
    format!(
        r#"data_dir = "{data}"

[api]
address = "{api}"

[sources.in]
type = "stdin"
max_line_bytes = {max_line_bytes}

[transforms.mark]
type = "add_fields"
inputs = ["in"]
fields = {{ config_version = "{version}" }}

[sinks.out]
type = "file"
inputs = ["mark"]
path = "{out}"
"#,
        data = dir.join("data").display(),
        out = dir.join("out.ndjson").display(),
    )
}

#[test]
fn a_changed_stdin_source_is_refused_and_the_pipeline_keeps_reading() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pipeline.toml");
    let out = dir.path().join("out.ndjson");
    write_atomically(
        &config,
        &pipeline(dir.path(), "127.0.0.1:0", 1_048_576, "v1"),
    );
    let stderr_path = dir.path().join("stderr.log");
    let mut child = Command::new(common::logweir_bin())
        .args(["--log-format", "text", "run", "--watch", "-c"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let stderr = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let api = common::api_address_from_log(&stderr_path);
    let mut stdin = child.stdin.take().unwrap();
    let write = |stdin: &mut std::process::ChildStdin, range: std::ops::Range<u64>| {
        let text: String = range.map(|i| format!("line seq={i}\n")).collect();
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    };
    write(&mut stdin, 0..100);
    assert!(
        wait_until(PATIENCE, || read_events(&out).len() == 100),
        "{}",
        stderr()
    );

    write_atomically(&config, &pipeline(dir.path(), "127.0.0.1:0", 4096, "v2"));
    assert!(
        wait_until(PATIENCE, || stderr()
            .contains("configuration reload failed")),
        "{}",
        stderr()
    );
    let logs = stderr();
    assert!(
        logs.contains("source `in` (stdin) changed, but standard input cannot be handed over")
            && logs.contains("restart logweir to apply it"),
        "{logs}"
    );
    assert!(
        wait_until(PATIENCE, || http_get(&api, "/metrics").is_ok_and(
            |(_, body)| {
                metric_value(&body, "logweir_config_reload_failures_total", &[]) == Some(1.0)
                    && metric_value(&body, "logweir_config_reloads_total", &[]) == Some(0.0)
            }
        )),
        "{:?}",
        http_get(&api, "/metrics")
    );

    // The same instance keeps reading the same input, with the old configuration.
    write(&mut stdin, 100..200);
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "{}", stderr());
    let events = read_events(&out);
    assert_eq!(events.len(), 200, "{}", stderr());
    assert_contiguous(&events, 0);
    assert!(events.iter().all(|e| e.version == "v1"));
}
