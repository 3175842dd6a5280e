//! Transforms in a running pipeline: lines that are not JSON go to the dead-letter file and
//! nowhere else; `route` outputs feed their own sinks, an event matching two routes reaches
//! both, and `_unmatched` receives the rest; `sample` keeps a deterministic share.

mod common;

use std::path::Path;
use std::time::Duration;

use logweir::config::PipelineConfig;
use logweir::topology::Topology;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_routes_and_sampling_in_a_running_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let text = format!(
        r#"
data_dir = "{d}/data"
[sources.demo]
type = "demo"
count = 5000
seed = 7
[transforms.parsed]
type = "parse_json"
inputs = ["demo"]
on_error = "dead_letter"
[transforms.split]
type = "route"
inputs = ["parsed"]
[transforms.split.route]
errors = '.level == "error"'
not_info = '.level != "info"'
[transforms.one_in_ten]
type = "sample"
inputs = ["parsed"]
rate = 10
[sinks.errors]
type = "file"
inputs = ["split.errors"]
path = "{d}/errors.ndjson"
[sinks.not_info]
type = "file"
inputs = ["split.not_info"]
path = "{d}/not_info.ndjson"
[sinks.rest]
type = "file"
inputs = ["split._unmatched"]
path = "{d}/rest.ndjson"
[sinks.sampled]
type = "file"
inputs = ["one_in_ten"]
path = "{d}/sampled.ndjson"
"#
    );
    let config = PipelineConfig::from_str_with_env(Path::new("p.toml"), &text, |_| None).unwrap();
    let report = Topology::start(&config)
        .unwrap()
        .wait(Duration::from_secs(60))
        .await;
    assert!(report.is_success(), "{report:?}");

    let dead = common::read_ndjson(&dir.path().join("data/dead_letter/parsed.ndjson"));
    let errors = common::read_ndjson(&dir.path().join("errors.ndjson"));
    let not_info = common::read_ndjson(&dir.path().join("not_info.ndjson"));
    let rest = common::read_ndjson(&dir.path().join("rest.ndjson"));
    let sampled = common::read_ndjson(&dir.path().join("sampled.ndjson"));

    // The demo source writes ~2% plain-text lines: those, and only those, are dead letters.
    assert!(!dead.is_empty() && dead.len() < 500, "{}", dead.len());
    for line in &dead {
        assert_eq!(line["component_id"], "parsed");
        assert_eq!(line["reason"], "field is not valid JSON");
        assert!(line["event"]["message"].is_string());
    }
    let parsed = 5000 - dead.len();
    // Every parsed event is routed: matched by at least one route, or unmatched.
    assert!(errors.iter().all(|e| e["level"] == "error"));
    assert!(not_info.iter().all(|e| e["level"] != "info"));
    assert!(rest.iter().all(|e| e["level"] == "info"));
    assert!(!errors.is_empty());
    // Errors match both routes, so they are in both files.
    let errors_in_not_info = not_info.iter().filter(|e| e["level"] == "error").count();
    assert_eq!(errors_in_not_info, errors.len());
    assert_eq!(not_info.len() + rest.len(), parsed);
    // Unkeyed sampling keeps events 0, 10, 20, ... of what it sees.
    assert_eq!(sampled.len(), parsed.div_ceil(10));
}
