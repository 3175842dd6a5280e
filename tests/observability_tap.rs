//! `logweir tap` streams the events leaving a component of a running pipeline, sampled and
//! limited, as NDJSON that parses back into the events the component sent on.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::running::RunningPipeline;

const PIPELINE: &str = r#"
[sources.in]
type = "stdin"
[transforms.parsed]
type = "parse_json"
inputs = ["in"]
[sinks.out]
type = "file"
inputs = ["parsed"]
path = "OUT"
"#;

#[test]
fn tap_prints_the_events_leaving_a_transform() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let mut pipeline = RunningPipeline::start(
        dir.path(),
        &PIPELINE.replace("OUT", &out.display().to_string()),
    );
    let mut tap = Command::new(common::logweir_bin())
        .args([
            "tap",
            "--api",
            &pipeline.api,
            "parsed",
            "--limit",
            "30",
            "--rate",
            "1000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Feed the pipeline until the tap has its 30 events (it may attach after the first lines).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut sent = 0;
    let tap_status = loop {
        if let Some(status) = tap.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "tap never got 30 events");
        let lines: Vec<String> = (sent..sent + 10)
            .map(|i| format!(r#"{{"i":{i},"msg":"line {i}","nested":{{"k":[1,2.5,null]}}}}"#))
            .collect();
        sent += 10;
        pipeline.write_lines(&lines);
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut tapped = String::new();
    tap.stdout
        .take()
        .unwrap()
        .read_to_string(&mut tapped)
        .unwrap();
    let mut stderr = String::new();
    tap.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(tap_status.success(), "tap failed: {stderr}");
    assert!(stderr.contains("tapping `parsed`"), "{stderr}");
    pipeline.finish();

    let tapped: Vec<serde_json::Value> = tapped
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad tap line {l:?}: {e}")))
        .collect();
    assert_eq!(tapped.len(), 30);
    let written = common::read_ndjson(&out);
    assert_eq!(written.len(), sent);
    for event in &tapped {
        // The transform's output: the JSON lifted to fields.
        assert!(
            event["i"].is_u64() && event["nested"]["k"][1] == 2.5,
            "{event}"
        );
        // Parsed back, it is exactly one of the events the component sent on.
        let back = logweir::event::Event::from_json(event, 0);
        let back: serde_json::Value = serde_json::from_str(&back.to_json_string()).unwrap();
        assert_eq!(
            &back, event,
            "parsing a tapped event and writing it again changes nothing"
        );
        assert!(
            written.contains(&back),
            "tapped event not among the component's output: {event}"
        );
    }
    let mut ids: Vec<u64> = tapped.iter().map(|e| e["i"].as_u64().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 30, "each event tapped once");
}

#[test]
fn tapping_an_unknown_component_or_a_sink_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let pipeline = RunningPipeline::start(
        dir.path(),
        &PIPELINE.replace("OUT", &out.display().to_string()),
    );
    for id in ["nope", "out"] {
        let result = Command::new(common::logweir_bin())
            .args(["tap", "--api", &pipeline.api, id])
            .output()
            .unwrap();
        assert!(!result.status.success());
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(
            stderr.contains("answered 404")
                && stderr.contains(&format!("no source or transform `{id}`")),
            "{stderr}"
        );
    }
    let (status, body) = common::http_get(&pipeline.api, "/tap/parsed?rate=0").unwrap();
    assert_eq!(status, 400, "{body}");
    pipeline.finish();
}
