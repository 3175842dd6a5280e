//! `GET /health` answers, and `GET /metrics` counts exactly the events that flowed.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn metrics_count_the_events_that_flowed() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_file(
        dir.path(),
        "p.toml",
        &format!(
            r#"
data_dir = "{data}"
[api]
address = "127.0.0.1:0"
[sources.in]
type = "stdin"
[transforms.parsed]
type = "parse_json"
inputs = ["in"]
[transforms.errors]
type = "filter"
inputs = ["parsed"]
condition = '.level == "error"'
[sinks.out]
type = "blackhole"
inputs = ["errors"]
"#,
            data = dir.path().join("data").display()
        ),
    );
    let mut child = Command::new(common::logweir_bin())
        .args(["run", "-c"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
        .spawn()
        .unwrap();
    let addr = common::api_address_from_log(&dir.path().join("stderr.log"));
    let mut stdin = child.stdin.take().unwrap();
    for i in 0..3000 {
        let level = if i % 3 == 0 { "error" } else { "info" };
        writeln!(stdin, r#"{{"i":{i},"level":"{level}"}}"#).unwrap();
    }
    stdin.flush().unwrap();

    assert!(common::wait_until(Duration::from_secs(20), || {
        common::http_get(&addr, "/health").is_ok_and(|(s, b)| s == 200 && b.contains("ok"))
    }));
    let mut body = String::new();
    let settled = common::wait_until(Duration::from_secs(20), || {
        body = common::http_get(&addr, "/metrics")
            .map(|(_, b)| b)
            .unwrap_or_default();
        common::metric_value(
            &body,
            "logweir_component_received_events_total",
            &[("component_id", "out")],
        ) == Some(1000.0)
    });
    assert!(settled, "sink never received 1000 events:\n{body}");
    let value = |name: &str, id: &str| common::metric_value(&body, name, &[("component_id", id)]);
    assert_eq!(
        value("logweir_component_sent_events_total", "in"),
        Some(3000.0)
    );
    assert_eq!(
        value("logweir_component_received_events_total", "parsed"),
        Some(3000.0)
    );
    assert_eq!(
        value("logweir_component_sent_events_total", "parsed"),
        Some(3000.0)
    );
    assert_eq!(
        value("logweir_component_received_events_total", "errors"),
        Some(3000.0)
    );
    assert_eq!(
        value("logweir_component_sent_events_total", "errors"),
        Some(1000.0)
    );
    assert_eq!(value("logweir_buffer_events", "out"), Some(0.0));
    assert!(body.contains("component_type=\"parse_json\""), "{body}");
    assert_eq!(common::http_get(&addr, "/nope").unwrap().0, 404);

    drop(stdin);
    assert!(child.wait().unwrap().success());
}
