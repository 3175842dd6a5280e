//! Live reload around a `kubernetes_metadata` transform, against the stand-in API server: a
//! reload that leaves the transform unchanged keeps its cache and its one watch (no new
//! LIST); a reload that changes it starts the new instance's watcher (one more LIST), the
//! old watch ends with the old instance, and events keep being enriched.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::kube_api::KubeApi;
use common::net::read_complete_ndjson;
use common::reload::{write_atomically, PATIENCE};
use common::wait_until;
use serde_json::{json, Value};

const NODE: &str = "ip-10-49-18-80.eu-west-1.compute.internal";
const TOKEN: &str = "stand-in-token-reload-7e2d";
const BASE_UID: &str = "e9f2963f-55f2-11e9-84c5-02e422b8a84a";

fn pipeline(dir: &Path, api: &KubeApi, grace: u64, version: &str) -> String {
    format!(
        r#"data_dir = "{data}"

[sources.in]
type = "stdin"

[transforms.json]
type = "parse_json"
inputs = ["in"]

[transforms.k8s]
type = "kubernetes_metadata"
inputs = ["json"]
endpoint = "{endpoint}"
ca_file = "{ca}"
token_file = "{token}"
node_name = "{NODE}"
delete_grace_secs = {grace}

[transforms.mark]
type = "add_fields"
inputs = ["k8s"]
fields = {{ config_version = "{version}" }}

[sinks.out]
type = "file"
inputs = ["mark"]
path = "{out}"
"#,
        data = dir.join("data").display(),
        endpoint = api.endpoint,
        ca = api.ca_file.display(),
        token = api.token_file.display(),
        out = dir.join("out.ndjson").display(),
    )
}

fn line(n: u32) -> String {
    format!(
        "{}\n",
        json!({"n": n, "kubernetes": {"namespace": "core", "pod": {"name": "base", "uid": BASE_UID}, "container": {"name": "fluent-bit"}}})
    )
}

/// Event `n` of the output, once it is there.
fn event(dir: &Path, n: u32) -> Option<Value> {
    read_complete_ndjson(&dir.join("out.ndjson"))
        .into_iter()
        .find(|e| e["n"] == n)
}

fn enriched_by(e: &Value, version: &str) -> bool {
    e["config_version"] == version
        && e["kubernetes"]["node"]["name"] == NODE
        && !e["tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == "kubernetes_metadata_missing"))
}

#[test]
fn an_unchanged_transform_keeps_its_watch_and_a_changed_one_lists_again() {
    let dir = tempfile::tempdir().unwrap();
    let api = KubeApi::start(dir.path(), TOKEN);
    let fixture = Path::new("tests/fixtures/kubernetes/pod_core_base.json");
    api.add_pod(serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap());
    let config = dir.path().join("conf").join("pipeline.toml");
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    write_atomically(&config, &pipeline(dir.path(), &api, 300, "v1"));
    let stderr_path = dir.path().join("stderr.log");
    let mut child = Command::new(common::logweir_bin())
        .args(["--log-format", "json", "run", "--watch", "-c"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let stderr = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let mut stdin = child.stdin.take().unwrap();
    let lists = || api.count("list", "pods", 200);
    let synced = |n_lists: usize| lists() == n_lists && api.open_watches("pods") == 1;

    assert!(wait_until(PATIENCE, || synced(1)), "{:?}", api.requests());
    stdin.write_all(line(1).as_bytes()).unwrap();
    stdin.flush().unwrap();
    assert!(
        wait_until(PATIENCE, || event(dir.path(), 1)
            .is_some_and(|e| enriched_by(&e, "v1"))),
        "{:?}\n{}",
        event(dir.path(), 1),
        stderr()
    );

    // Only `mark` changes: the transform keeps running with its cache and watch.
    write_atomically(&config, &pipeline(dir.path(), &api, 300, "v2"));
    assert!(
        wait_until(PATIENCE, || stderr().contains(r#""changed":"mark""#)),
        "{}",
        stderr()
    );
    stdin.write_all(line(2).as_bytes()).unwrap();
    stdin.flush().unwrap();
    assert!(
        wait_until(PATIENCE, || event(dir.path(), 2)
            .is_some_and(|e| enriched_by(&e, "v2"))),
        "{:?}\n{}",
        event(dir.path(), 2),
        stderr()
    );
    assert_eq!(lists(), 1, "{:?}", api.requests());
    assert_eq!(api.open_watches("pods"), 1);

    // The transform changes: the new instance lists and watches; the old watch ends with
    // the old instance.
    write_atomically(&config, &pipeline(dir.path(), &api, 600, "v3"));
    assert!(
        wait_until(PATIENCE, || stderr().contains(r#""changed":"k8s,mark""#)),
        "{}",
        stderr()
    );
    assert!(
        wait_until(PATIENCE, || synced(2)),
        "{} lists, {} watches: {:?}",
        lists(),
        api.open_watches("pods"),
        api.requests()
    );
    stdin.write_all(line(3).as_bytes()).unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "{}", stderr());
    let e = event(dir.path(), 3).unwrap();
    assert!(enriched_by(&e, "v3"), "{e}");
    assert_eq!(
        read_complete_ndjson(&dir.path().join("out.ndjson")).len(),
        3
    );
}
