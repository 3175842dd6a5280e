//! Container log formats from hand-made fixtures: Docker json-file lines split at 16 KiB
//! are re-joined, a CRI Java stack trace (with a runtime-split frame) becomes one event with
//! multiline, and Kubernetes metadata is read from both kubelet path layouts.

mod common;

use std::path::Path;

use common::tail;

const CONTAINER_ID: &str = "4c0a9e0d6f1b2a3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4";

/// Runs a `file` source over `file` (copied to `relative` under a fresh directory) to its
/// end and returns the output events.
fn read_fixture(fixture: &str, relative: &str, options: &str) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("logs").join(relative);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::copy(Path::new("tests/fixtures").join(fixture), &target).unwrap();
    let out = dir.path().join("out.ndjson");
    let config = tail::pipeline(
        dir.path(),
        "p.toml",
        &format!("{}/logs/**/*.log", dir.path().display()),
        &format!("exit_on_eof = true\n{options}"),
        &out,
    );
    let (status, logs) = tail::run_to_end(&config, &dir.path().join("log"));
    assert!(status.success(), "{logs}");
    let mut events = common::read_ndjson(&out);
    for e in &mut events {
        // The path is the temporary directory's; check it, then compare the rest.
        let path = e["log"]["file"]["path"].as_str().unwrap().to_string();
        assert_eq!(Path::new(&path), target);
    }
    events.sort_by(|a, b| a["@timestamp"].as_str().cmp(&b["@timestamp"].as_str()));
    events
}

fn expected(name: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(Path::new("tests/fixtures").join(name)).unwrap();
    let mut v: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    v.sort_by(|a, b| a["@timestamp"].as_str().cmp(&b["@timestamp"].as_str()));
    v
}

fn assert_messages(events: &[serde_json::Value], expected: &[serde_json::Value]) {
    assert_eq!(events.len(), expected.len(), "{events:#?}");
    for (e, x) in events.iter().zip(expected) {
        assert_eq!(e["message"], x["message"]);
        assert_eq!(e["log"]["iostream"], x["iostream"]);
        assert_eq!(e["@timestamp"], x["@timestamp"]);
        assert!(e.get("tags").is_none(), "{e}");
    }
}

#[test]
fn docker_lines_split_by_the_runtime_are_joined() {
    let events = read_fixture(
        "docker_partial.log",
        &format!("containers/web-7d9f_shop_nginx-{CONTAINER_ID}.log"),
        "format = \"docker\"",
    );
    assert_messages(&events, &expected("docker_partial.expected.json"));
    // `/var/log/containers` layout: pod, namespace, container and container id.
    let e = &events[0];
    assert_eq!(e["kubernetes"]["namespace"], "shop");
    assert_eq!(e["kubernetes"]["pod"]["name"], "web-7d9f");
    assert_eq!(e["kubernetes"]["container"]["name"], "nginx");
    assert_eq!(e["container"]["id"], CONTAINER_ID);
    assert!(e["host"]["name"].as_str().is_some_and(|h| !h.is_empty()));
}

#[test]
fn cri_java_stack_trace_is_one_event_with_multiline() {
    let events = read_fixture(
        "cri_java_stacktrace.log",
        "pods/payments_ledger-5c7b9_0f9c1d2e-3b4a-4c5d-8e6f-7a8b9c0d1e2f/ledger/0.log",
        "format = \"auto\"\nmultiline = { start_pattern = '^\\S', timeout_ms = 1000, max_lines = 500 }",
    );
    assert_messages(&events, &expected("cri_java_stacktrace.expected.json"));
    // `/var/log/pods` layout: namespace, pod, pod uid, container.
    let e = &events[0];
    assert_eq!(e["kubernetes"]["namespace"], "payments");
    assert_eq!(e["kubernetes"]["pod"]["name"], "ledger-5c7b9");
    assert_eq!(
        e["kubernetes"]["pod"]["uid"],
        "0f9c1d2e-3b4a-4c5d-8e6f-7a8b9c0d1e2f"
    );
    assert_eq!(e["kubernetes"]["container"]["name"], "ledger");
    assert!(e.get("container").is_none());
}

#[test]
fn cri_without_multiline_gives_one_event_per_joined_line() {
    let events = read_fixture(
        "cri_java_stacktrace.log",
        "pods/payments_ledger-5c7b9_uid1/ledger/0.log",
        "format = \"cri\"",
    );
    // 11 lines, one P + F pair: 10 events.
    assert_eq!(events.len(), 10);
    assert!(events
        .iter()
        .any(|e| e["message"]
            == "\tat com.example.api.OrderController.create(OrderController.java:57)"));
}
