//! Fan-out delivers every event to every consumer; fan-in merges producers.

mod common;

use std::path::Path;
use std::time::Duration;

use logweir::config::PipelineConfig;
use logweir::topology::Topology;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sink_gets_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let text = format!(
        r#"
data_dir = "{d}/data"
[sources.a]
type = "demo"
count = 5000
seed = 1
[sources.b]
type = "demo"
count = 3000
seed = 2
[transforms.parsed]
type = "parse_json"
inputs = ["a", "b"]
[transforms.errors]
type = "filter"
inputs = ["parsed"]
condition = '.level == "error"'
[sinks.all_one]
type = "file"
inputs = ["parsed"]
path = "{d}/one.ndjson"
[sinks.all_two]
type = "file"
inputs = ["parsed"]
path = "{d}/two.ndjson"
[sinks.raw]
type = "file"
inputs = ["a"]
path = "{d}/raw.ndjson"
[sinks.errors_only]
type = "file"
inputs = ["errors"]
path = "{d}/errors.ndjson"
"#
    );
    let config = PipelineConfig::from_str_with_env(Path::new("p.toml"), &text, |_| None).unwrap();
    let report = Topology::start(&config)
        .unwrap()
        .wait(Duration::from_secs(30))
        .await;
    assert!(report.is_success(), "{report:?}");

    let one = common::read_ndjson(&dir.path().join("one.ndjson"));
    let two = common::read_ndjson(&dir.path().join("two.ndjson"));
    let raw = common::read_ndjson(&dir.path().join("raw.ndjson"));
    let errors = common::read_ndjson(&dir.path().join("errors.ndjson"));
    assert_eq!(one.len(), 8000);
    assert_eq!(
        one, two,
        "both fan-out branches see the same events in the same order"
    );
    assert_eq!(raw.len(), 5000);
    // The raw branch was not affected by the parse on the other branch.
    assert!(raw.iter().all(|e| e.get("level").is_none()));
    let expected_errors = one.iter().filter(|e| e["level"] == "error").count();
    assert!(expected_errors > 0);
    assert_eq!(errors.len(), expected_errors);
    // Fan-in: both sources' sequences arrive complete (seq 0..3000 from both, 3000..5000
    // from `a` only); plain-text lines carry their seq as `seq=N` in the message.
    let mut counts = vec![0u32; 5000];
    for e in &one {
        let seq = e["seq"].as_u64().or_else(|| {
            let m = e["message"].as_str()?;
            let rest = &m[m.find("seq=")? + 4..];
            rest.split(' ').next()?.parse().ok()
        });
        counts[seq.expect("every event has a seq") as usize] += 1;
    }
    for (seq, n) in counts.iter().enumerate() {
        assert_eq!(*n, if seq < 3000 { 2 } else { 1 }, "seq {seq}");
    }
}
