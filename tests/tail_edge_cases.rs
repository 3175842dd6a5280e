//! Bad and unusual input: a 5 MiB line (cut, tagged), a file deleted while it is read,
//! CRLF line ends, invalid UTF-8, and a last line without newline.

mod common;

use std::time::Duration;

use common::tail;

fn setup(options: &str) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let out = dir.path().join("out.ndjson");
    let config = tail::pipeline(
        dir.path(),
        "p.toml",
        &format!("{}/logs/*.log", dir.path().display()),
        options,
        &out,
    );
    (dir, config, out)
}

fn run(
    dir: &tempfile::TempDir,
    config: &std::path::Path,
    out: &std::path::Path,
) -> Vec<serde_json::Value> {
    let (status, logs) = tail::run_to_end(config, &dir.path().join("log"));
    assert!(status.success(), "{logs}");
    common::read_ndjson(out)
}

fn tags(e: &serde_json::Value) -> Vec<&str> {
    e["tags"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t.as_str()).collect())
        .unwrap_or_default()
}

#[test]
fn a_5_mib_raw_line_is_cut_and_tagged() {
    let (dir, config, out) = setup("format = \"raw\"\nexit_on_eof = true");
    let mut text = b"before\n".to_vec();
    text.extend(std::iter::repeat_n(b'x', 5 << 20));
    text.extend_from_slice(b"\nafter\n");
    std::fs::write(dir.path().join("logs/a.log"), text).unwrap();
    let events = run(&dir, &config, &out);
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["message"], "before");
    assert_eq!(events[1]["message"].as_str().unwrap().len(), 1 << 20);
    assert_eq!(tags(&events[1]), ["truncated"]);
    assert_eq!(events[2]["message"], "after");
    assert!(tags(&events[2]).is_empty());
}

#[test]
fn a_5_mib_cri_line_split_by_the_runtime_is_cut_and_tagged() {
    let (dir, config, out) = setup("format = \"cri\"\nexit_on_eof = true");
    let mut text = String::from("2026-11-24T10:00:00Z stdout F before\n");
    let fragment = "y".repeat(16 * 1024);
    for _ in 0..320 {
        text.push_str(&format!("2026-11-24T10:00:01Z stdout P {fragment}\n"));
    }
    text.push_str("2026-11-24T10:00:01Z stdout F end\n2026-11-24T10:00:02Z stdout F after\n");
    std::fs::write(dir.path().join("logs/a.log"), text).unwrap();
    let events = run(&dir, &config, &out);
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["message"], "before");
    assert_eq!(events[1]["message"].as_str().unwrap().len(), 1 << 20);
    assert_eq!(tags(&events[1]), ["truncated"]);
    assert_eq!(events[2]["message"], "after");
}

#[test]
fn crlf_invalid_utf8_and_a_last_line_without_newline() {
    let (dir, config, out) = setup("format = \"raw\"\nexit_on_eof = true");
    std::fs::write(
        dir.path().join("logs/a.log"),
        b"windows line\r\nbad \xff\xfe bytes\r\nlast without newline",
    )
    .unwrap();
    let events = run(&dir, &config, &out);
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["message"], "windows line");
    assert_eq!(events[1]["message"], "bad \u{fffd}\u{fffd} bytes");
    assert_eq!(tags(&events[1]), ["invalid_utf8"]);
    assert_eq!(events[2]["message"], "last without newline");
}

#[test]
fn a_held_last_line_is_emitted_after_the_partial_line_timeout() {
    let (dir, config, out) = setup("format = \"raw\"\npartial_line_timeout_ms = 300");
    let path = dir.path().join("logs/a.log");
    std::fs::write(&path, b"one\ntwo\nthr").unwrap();
    let mut child = tail::start(&config, &dir.path().join("log"));
    let emitted = common::wait_until(Duration::from_secs(30), || common::count_lines(&out) >= 3);
    assert!(tail::stop(&mut child).success());
    assert!(emitted);
    let events = common::read_ndjson(&out);
    let messages: Vec<&str> = events
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["one", "two", "thr"]);
}

#[test]
fn a_file_deleted_while_being_read_is_read_to_its_end() {
    const LINES: u64 = 400_000;
    let (dir, config, out) = setup("format = \"raw\"\nrotate_wait_ms = 500");
    let path = dir.path().join("logs/a.log");
    let text: String = (0..LINES)
        .map(|s| format!("seq={s} some payload text\n"))
        .collect();
    std::fs::write(&path, text).unwrap();
    let mut child = tail::start(&config, &dir.path().join("log"));
    assert!(common::wait_until(
        Duration::from_secs(60),
        || common::count_lines(&out) > 0
    ));
    std::fs::remove_file(&path).unwrap();
    let done = common::wait_until(Duration::from_secs(120), || {
        common::count_lines(&out) >= LINES as usize
    });
    std::thread::sleep(Duration::from_millis(800));
    let status = tail::stop(&mut child);
    let logs = std::fs::read_to_string(dir.path().join("log")).unwrap();
    assert!(status.success(), "{logs}");
    assert!(done, "{} of {LINES}", common::count_lines(&out));
    tail::assert_exactly_once(&tail::seqs(&out), LINES);
}
