//! A million lines through stdin → parse_json → filter → file arrive exactly, in order.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn one_million_lines_arrive_exactly_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let config = common::write_file(
        dir.path(),
        "p.toml",
        &format!(
            r#"
data_dir = "{data}"
[sources.in]
type = "stdin"
[transforms.parsed]
type = "parse_json"
inputs = ["in"]
[transforms.kept]
type = "filter"
inputs = ["parsed"]
condition = '.level != "debug"'
[sinks.out]
type = "file"
inputs = ["kept"]
path = "{out}"
"#,
            data = dir.path().join("data").display(),
            out = out.display()
        ),
    );
    const LINES: u64 = 1_000_000;
    let levels = ["debug", "info", "warn", "error"];
    let mut input = Vec::with_capacity(80 * LINES as usize);
    let mut expected = Vec::new();
    for seq in 0..LINES {
        let level = levels[(seq * 7 % 10 % 4) as usize];
        if seq % 50 == 3 {
            // Plain text: kept (tagged parse_failure), it has no level to filter on.
            writeln!(input, "plain text line seq={seq} \"quoted\" é").unwrap();
            expected.push((seq, true));
        } else {
            writeln!(
                input,
                r#"{{"seq":{seq},"level":"{level}","msg":"line \"{seq}\" naïve 😀"}}"#
            )
            .unwrap();
            if level != "debug" {
                expected.push((seq, false));
            }
        }
    }
    let mut child = Command::new(common::logweir_bin())
        .args(["run", "-c"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        stdin.write_all(&input).unwrap();
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let text = std::fs::read_to_string(&out).unwrap();
    let mut count = 0;
    for (line, (seq, plain)) in text.lines().zip(&expected) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if *plain {
            assert_eq!(
                v["message"],
                format!("plain text line seq={seq} \"quoted\" é")
            );
            assert_eq!(v["tags"], serde_json::json!(["parse_failure"]));
        } else {
            assert_eq!(v["seq"], *seq, "line {count}");
            assert_eq!(v["msg"], format!("line \"{seq}\" naïve 😀"));
            assert_ne!(v["level"], "debug");
        }
        assert!(v["@timestamp"].is_string());
        count += 1;
    }
    assert_eq!(text.lines().count(), expected.len());
    assert_eq!(count, expected.len());
}

#[test]
fn long_lines_and_invalid_utf8_are_kept_and_tagged() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let config = common::write_file(
        dir.path(),
        "p.toml",
        &format!(
            "data_dir = \"{}\"\n[sources.in]\ntype = \"stdin\"\nmax_line_bytes = 16\n[sinks.out]\ntype = \"file\"\ninputs = [\"in\"]\npath = \"{}\"\n",
            dir.path().join("data").display(),
            out.display()
        ),
    );
    let mut child = Command::new(common::logweir_bin())
        .args(["run", "-c"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"short\r\n").unwrap();
    stdin.write_all(&[b'x'; 100_000]).unwrap();
    stdin
        .write_all(b"\nbad \xff utf8\nlast without newline")
        .unwrap();
    drop(stdin);
    assert!(child.wait().unwrap().success());
    let events = common::read_ndjson(&out);
    let messages: Vec<&str> = events
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "short",
            "xxxxxxxxxxxxxxxx",
            "bad \u{fffd} utf8",
            "last without new"
        ]
    );
    assert_eq!(events[3]["tags"], serde_json::json!(["truncated"]));
    assert_eq!(events[1]["tags"], serde_json::json!(["truncated"]));
    assert_eq!(events[2]["tags"], serde_json::json!(["invalid_utf8"]));
    assert!(events[0].get("tags").is_none());
}
