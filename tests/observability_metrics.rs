//! `/metrics` counts the estimated bytes that flowed and the events discarded, by reason;
//! `/ready` turns 200 only once the sink delivered.

mod common;

use std::time::Duration;

use common::running::RunningPipeline;
use logweir::event::Event;

fn metric(body: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    common::metric_value(body, name, labels)
}

#[test]
fn bytes_and_discarded_events_by_reason_match_what_flowed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let mut pipeline = RunningPipeline::start(
        dir.path(),
        &format!(
            r#"
[sources.in]
type = "stdin"
[transforms.parsed]
type = "parse_json"
inputs = ["in"]
on_error = "drop"
[transforms.errors]
type = "filter"
inputs = ["parsed"]
condition = '.level == "error"'
[transforms.sampled]
type = "sample"
inputs = ["errors"]
rate = 4
[sinks.out]
type = "file"
inputs = ["sampled"]
path = "{}"
"#,
            out.display()
        ),
    );
    // 2000 lines: every 10th is not JSON, of the rest every 3rd is an error.
    let mut lines = Vec::new();
    let (mut invalid, mut errors, mut infos) = (0usize, 0usize, 0usize);
    for i in 0..2000 {
        if i % 10 == 0 {
            invalid += 1;
            lines.push(format!("not json {i}"));
        } else if i % 3 == 0 {
            errors += 1;
            lines.push(format!(
                r#"{{"i":{i},"level":"error","msg":"failed with code {i}"}}"#
            ));
        } else {
            infos += 1;
            lines.push(format!(r#"{{"i":{i},"level":"info"}}"#));
        }
    }
    pipeline.write_lines(&lines);
    let kept = errors.div_ceil(4);
    let body = pipeline.wait_for_metric(
        "logweir_component_received_events_total",
        "out",
        kept as f64,
    );
    let by_reason = |id: &str, reason: &str| {
        metric(
            &body,
            "logweir_component_discarded_events_total",
            &[("component_id", id), ("reason", reason)],
        )
    };
    assert_eq!(by_reason("parsed", "parse_failure"), Some(invalid as f64));
    assert_eq!(by_reason("errors", "filtered"), Some(infos as f64));
    assert_eq!(
        by_reason("sampled", "sampled"),
        Some((errors - kept) as f64)
    );
    assert_eq!(
        metric(
            &body,
            "logweir_component_errors_total",
            &[("component_id", "parsed"), ("error_type", "parse_failure")]
        ),
        Some(invalid as f64)
    );
    let bytes = |name: &str, id: &str| metric(&body, name, &[("component_id", id)]).unwrap();
    // What one component sent is what the next received, hop by hop.
    for (from, to) in [
        ("in", "parsed"),
        ("parsed", "errors"),
        ("errors", "sampled"),
        ("sampled", "out"),
    ] {
        assert_eq!(
            bytes("logweir_component_sent_bytes_total", from),
            bytes("logweir_component_received_bytes_total", to),
            "{from} -> {to}"
        );
    }
    // The source's bytes: each line's text plus the event's fixed fields.
    let expected_in: u64 = lines
        .iter()
        .map(|l| Event::from_message(l.clone().into(), 0).estimated_size() as u64)
        .sum();
    assert_eq!(
        bytes("logweir_component_sent_bytes_total", "in"),
        expected_in as f64
    );
    assert!(expected_in > lines.iter().map(|l| l.len() as u64).sum::<u64>());
    // The sink's bytes are those of the events it wrote.
    pipeline.finish();
    let written = common::read_ndjson(&out);
    assert_eq!(written.len(), kept);
    // Events whose JSON `parse_json` kept as text count that text's length, so the figure
    // is checked against the bytes actually written rather than recomputed from parsed
    // values: an estimate, close to the NDJSON size (escaping and number widths differ).
    let written_bytes = std::fs::read(&out).unwrap().len() as f64;
    let received = bytes("logweir_component_received_bytes_total", "out");
    assert!(
        (0.8 * written_bytes..1.2 * written_bytes).contains(&received),
        "estimated {received} bytes, wrote {written_bytes}"
    );
    // Batches were recorded per producing component.
    assert!(
        metric(
            &body,
            "logweir_component_batch_events_count",
            &[("component_id", "in")]
        )
        .is_some_and(|n| n >= 1.0),
        "{body}"
    );
}

#[test]
fn ready_only_after_the_sink_first_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let mut pipeline = RunningPipeline::start(
        dir.path(),
        &format!(
            r#"
[sources.in]
type = "stdin"
[sinks.out]
type = "file"
inputs = ["in"]
path = "{}"
"#,
            out.display()
        ),
    );
    let (status, body) = common::http_get(&pipeline.api, "/health").unwrap();
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    // Running, but nothing delivered yet.
    let (status, body) = common::http_get(&pipeline.api, "/ready").unwrap();
    assert_eq!(status, 503, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["ready"], false);
    assert_eq!(report["not_ready"], serde_json::json!(["out"]));
    assert_eq!(metric(&pipeline.metrics(), "logweir_ready", &[]), Some(0.0));

    pipeline.write_lines(&["first".to_string()]);
    let mut body = String::new();
    assert!(
        common::wait_until(Duration::from_secs(20), || {
            let (status, b) = common::http_get(&pipeline.api, "/ready").unwrap();
            body = b;
            status == 200
        }),
        "never ready: {body}"
    );
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["ready"], true);
    assert_eq!(report["sinks"][0]["id"], "out");
    assert_eq!(common::count_lines(&out), 1, "ready means delivered");
    assert_eq!(metric(&pipeline.metrics(), "logweir_ready", &[]), Some(1.0));
    assert_eq!(common::http_get(&pipeline.api, "/nope").unwrap().0, 404);
    pipeline.finish();
}
