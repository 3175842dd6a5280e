//! `kubernetes_metadata` in a running pipeline against a stand-in API server (HTTPS, bearer
//! token, node-filtered LIST and chunked WATCH; `common::kube_api`) serving Pod and Namespace
//! objects from Fluent Bit's Kubernetes test data (`tests/fixtures/kubernetes/`):
//! - listed pods enrich events found by uid and by namespace + name (labels, annotations,
//!   node, pod IP, owners, image, namespace labels); pods of other nodes are never listed;
//!   `logweir.io/exclude` drops a pod's events, `logweir.io/exclude-<container>` one
//!   container's;
//! - a pod added through the WATCH (and its IP set later by a MODIFIED event) is enriched, a
//!   deleted pod still is during the grace period;
//! - an expired resource version (410 as an ERROR event, then as an answer) makes the
//!   watcher LIST again and find what it missed;
//! - the API unreachable from the start, gone after the first LIST, or refusing the token:
//!   events pass through (tagged, counted), never stall, and the token is never logged.

mod common;

use std::path::Path;
use std::time::Duration;

use common::kube_api::KubeApi;
use common::net::read_complete_ndjson;
use common::running::RunningPipeline;
use serde_json::{json, Value};

/// The node of the fixture pod `core/base`.
const NODE: &str = "ip-10-49-18-80.eu-west-1.compute.internal";
const TOKEN: &str = "stand-in-token-4c1f9a";
const BASE_UID: &str = "e9f2963f-55f2-11e9-84c5-02e422b8a84a";
/// The fixture pod `default/kairosdb-…`, scheduled on another node.
const OTHER_NODE_UID: &str = "d6c53deb-05a4-11e8-a8c4-080027435fb7";
const MISSES: &str = "logweir_kubernetes_metadata_misses_total";
const CACHED: &str = "logweir_kubernetes_metadata_cached_pods";

fn fixture(name: &str) -> Value {
    let path = Path::new("tests/fixtures/kubernetes").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A pod made from `core/base`: another name and uid, on our node.
fn pod_like_base(name: &str, uid: &str, metadata: Value) -> Value {
    let mut pod = fixture("pod_core_base.json");
    pod["metadata"]["name"] = json!(name);
    pod["metadata"]["uid"] = json!(uid);
    for (k, v) in metadata.as_object().unwrap() {
        pod["metadata"][k] = v.clone();
    }
    pod
}

/// A running pipeline and the id of its `kubernetes_metadata` transform.
struct Pipeline {
    running: RunningPipeline,
    id: &'static str,
}

impl std::ops::Deref for Pipeline {
    type Target = RunningPipeline;
    fn deref(&self) -> &RunningPipeline {
        &self.running
    }
}

impl std::ops::DerefMut for Pipeline {
    fn deref_mut(&mut self) -> &mut RunningPipeline {
        &mut self.running
    }
}

impl Pipeline {
    fn finish(self) {
        self.running.finish();
    }
}

/// Starts the pipeline with the transform `id` (unique per test, so that a metric read can
/// only come from this test's process) and waits until its metrics show the transform.
fn start_pipeline(
    dir: &Path,
    id: &'static str,
    endpoint: &str,
    ca_file: &Path,
    token_file: &Path,
) -> Pipeline {
    let body = format!(
        r#"
[sources.in]
type = "stdin"
[transforms.json]
type = "parse_json"
inputs = ["in"]
[transforms.{id}]
type = "kubernetes_metadata"
inputs = ["json"]
endpoint = "{endpoint}"
ca_file = "{ca}"
token_file = "{token}"
node_name = "{NODE}"
namespace_labels = true
[sinks.out]
type = "file"
inputs = ["{id}"]
path = "{out}"
"#,
        ca = ca_file.display(),
        token = token_file.display(),
        out = dir.join("out.ndjson").display(),
    );
    // The API port comes from a bind-and-release probe; another test's server may take it
    // in between, and then this pipeline exits at once: start again.
    for _ in 0..3 {
        let mut p = RunningPipeline::start(dir, &body);
        let mut exited = false;
        let ours = common::wait_until(Duration::from_secs(20), || {
            exited = p.child.try_wait().unwrap().is_some();
            exited || p.metrics().contains(&format!("component_id=\"{id}\""))
        });
        if ours && !exited {
            return Pipeline { running: p, id };
        }
        assert!(exited, "no metrics of `{id}`: {}", p.stderr());
    }
    panic!("the pipeline never kept its API port");
}

/// Waits for `n` events in the output and returns them.
fn wait_output(p: &Pipeline, n: usize) -> Vec<Value> {
    let path = p.dir.join("out.ndjson");
    let mut events = Vec::new();
    let done = common::wait_until(Duration::from_secs(20), || {
        events = read_complete_ndjson(&path);
        events.len() >= n
    });
    assert!(
        done,
        "{} of {n} events: {events:#?}\n{}",
        events.len(),
        p.stderr()
    );
    events
}

fn metric(p: &Pipeline, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut all = vec![("component_id", p.id)];
    all.extend_from_slice(labels);
    common::metric_value(&p.metrics(), name, &all).unwrap_or(0.0)
}

fn wait_metric(p: &Pipeline, name: &str, labels: &[(&str, &str)], at_least: f64) {
    assert!(
        common::wait_until(Duration::from_secs(20), || metric(p, name, labels)
            >= at_least),
        "{name}{labels:?} never reached {at_least}: {}\n{}",
        p.metrics(),
        p.stderr()
    );
}

fn wait_cached(p: &Pipeline, live: f64, deleted: f64) {
    assert!(
        common::wait_until(Duration::from_secs(20), || {
            metric(p, CACHED, &[("state", "live")]) == live
                && metric(p, CACHED, &[("state", "deleted")]) == deleted
        }),
        "cache never held {live} live and {deleted} deleted pods: {}\n{}",
        p.metrics(),
        p.stderr()
    );
}

/// Waits until the watcher listed and is watching (pods, and namespaces if `namespaces`).
fn wait_synced(api: &KubeApi, namespaces: bool) {
    assert!(
        common::wait_until(Duration::from_secs(20), || {
            api.open_watches("pods") == 1 && (!namespaces || api.open_watches("namespaces") == 1)
        }),
        "no watch opened: {:?}",
        api.requests()
    );
}

/// A line as the file source leaves it after `parse_json`: the path's Kubernetes fields.
fn line(n: u32, namespace: &str, pod: &str, uid: Option<&str>, container: &str) -> String {
    let mut pod_fields = json!({"name": pod});
    if let Some(uid) = uid {
        pod_fields["uid"] = json!(uid);
    }
    json!({"n": n, "kubernetes": {"namespace": namespace, "pod": pod_fields, "container": {"name": container}}})
        .to_string()
}

fn by_n(events: &[Value], n: u32) -> &Value {
    events
        .iter()
        .find(|e| e["n"] == n)
        .unwrap_or_else(|| panic!("no event {n} in {events:#?}"))
}

fn tagged_missing(e: &Value) -> bool {
    e["tags"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t == "kubernetes_metadata_missing"))
}

#[test]
fn listed_pods_enrich_events_and_excluded_pods_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let api = KubeApi::start(dir.path(), TOKEN);
    api.add_namespace(fixture("namespace_core.json"));
    api.add_pod(fixture("pod_core_base.json"));
    // The same Deployment pod as the fixture, but on our node; the fixture itself stays on
    // its node and must not be listed.
    api.add_pod(fixture("pod_default_kairosdb.json"));
    let mut kairosdb = fixture("pod_default_kairosdb.json");
    kairosdb["metadata"]["name"] = json!("kairosdb-914055854-x7k2p");
    kairosdb["metadata"]["uid"] = json!("0b5e2f7a-1c3d-4e5f-8a9b-0c1d2e3f4a5b");
    kairosdb["spec"]["nodeName"] = json!(NODE);
    api.add_pod(kairosdb);
    api.add_pod(pod_like_base(
        "fluent-bit-q8w2z",
        "7d0c2c1e-0f1a-4b2c-9d3e-4f5a6b7c8d9e",
        json!({
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "fluent-bit", "uid": "ds", "controller": true}],
            "annotations": {"logweir.io/exclude-debug": "true"}
        }),
    ));
    api.add_pod(pod_like_base(
        "noisy",
        "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d",
        json!({"annotations": {"logweir.io/exclude": "true"}}),
    ));

    let mut p = start_pipeline(
        dir.path(),
        "k8s_listed",
        &api.endpoint,
        &api.ca_file,
        &api.token_file,
    );
    wait_synced(&api, true);
    wait_cached(&p, 4.0, 0.0);
    p.write_lines(&[
        line(1, "core", "base", Some(BASE_UID), "fluent-bit"),
        line(2, "default", "kairosdb-914055854-x7k2p", None, "kairosdb"),
        line(
            3,
            "core",
            "fluent-bit-q8w2z",
            Some("7d0c2c1e-0f1a-4b2c-9d3e-4f5a6b7c8d9e"),
            "fluent-bit",
        ),
        line(
            4,
            "core",
            "fluent-bit-q8w2z",
            Some("7d0c2c1e-0f1a-4b2c-9d3e-4f5a6b7c8d9e"),
            "debug",
        ),
        line(
            5,
            "core",
            "noisy",
            Some("5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"),
            "app",
        ),
        line(6, "core", "noisy", None, "app"),
        line(
            7,
            "default",
            "kairosdb-914055854-b63vq",
            Some(OTHER_NODE_UID),
            "kairosdb",
        ),
        json!({"n": 8, "message": "no kubernetes fields"}).to_string(),
    ]);
    let events = wait_output(&p, 5);

    let base = &by_n(&events, 1)["kubernetes"];
    assert_eq!(base["pod"]["uid"], BASE_UID);
    assert_eq!(base["pod"]["ip"], "100.116.192.42");
    assert_eq!(base["node"]["name"], NODE);
    assert_eq!(base["labels"]["app_kubernetes_io/name"], "fluent-bit");
    assert_eq!(
        base["annotations"]["prometheus_io/path"],
        "/api/v1/metrics/prometheus"
    );
    assert_eq!(
        base["namespace_labels"],
        json!({"fake-namespace-label1": "label1", "fake-namespace-label2": "label2"})
    );
    assert_eq!(
        by_n(&events, 1)["container"]["image"]["name"],
        "fluent/fluent-bit"
    );

    let kairos = by_n(&events, 2);
    assert_eq!(
        kairos["kubernetes"]["pod"]["uid"],
        "0b5e2f7a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
    );
    assert_eq!(
        kairos["kubernetes"]["replicaset"]["name"],
        "kairosdb-914055854"
    );
    assert_eq!(kairos["kubernetes"]["deployment"]["name"], "kairosdb");
    assert_eq!(kairos["kubernetes"]["pod"]["ip"], "10.2.39.12");
    assert_eq!(
        kairos["container"]["image"]["name"],
        "docker.io/davradocker/docker-kairosdb:1.1.1_9"
    );
    // The fixture's own exclude annotation is Fluent Bit's, not ours.
    assert_eq!(
        kairos["kubernetes"]["annotations"]["fluentbit_io/exclude-kairosdb"],
        "true"
    );
    assert!(kairos["kubernetes"]["namespace_labels"].is_null());

    assert_eq!(
        by_n(&events, 3)["kubernetes"]["daemonset"]["name"],
        "fluent-bit"
    );
    // Pods of other nodes are not listed: a miss, passed on and tagged.
    let other = by_n(&events, 7);
    assert!(tagged_missing(other), "{other}");
    assert!(other["kubernetes"]["labels"].is_null());
    assert!(!tagged_missing(by_n(&events, 1)));
    assert_eq!(
        by_n(&events, 8),
        &json!({"n": 8, "message": "no kubernetes fields", "@timestamp": by_n(&events, 8)["@timestamp"]})
    );
    // 4, 5 and 6 were dropped.
    assert_eq!(events.len(), 5, "{events:#?}");
    assert_eq!(metric(&p, MISSES, &[("reason", "not_found")]), 1.0);
    assert_eq!(
        metric(
            &p,
            "logweir_component_discarded_events_total",
            &[("reason", "excluded")]
        ),
        3.0
    );
    // Only this node's pods were asked for, with the token.
    let requests = api.requests();
    assert!(requests.iter().all(|r| r.status == 200), "{requests:?}");
    assert!(requests
        .iter()
        .filter(|r| r.resource == "pods")
        .all(|r| r.field_selector.as_deref() == Some(&format!("spec.nodeName={NODE}"))));
    // Four pods in pages of two.
    assert!(requests.iter().any(|r| r.resource == "pods" && r.continued));
    p.finish();
}

#[test]
fn watched_changes_reach_the_cache_and_deleted_pods_stay_for_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let api = KubeApi::start(dir.path(), TOKEN);
    api.add_pod(fixture("pod_core_base.json"));
    let mut p = start_pipeline(
        dir.path(),
        "k8s_watched",
        &api.endpoint,
        &api.ca_file,
        &api.token_file,
    );
    wait_synced(&api, true);
    wait_cached(&p, 1.0, 0.0);

    let web_uid = "3f2e1d0c-9b8a-4765-a4b3-c2d1e0f9a8b7";
    let mut web = pod_like_base(
        "web-0",
        web_uid,
        json!({"ownerReferences": [{"kind": "StatefulSet", "name": "web", "uid": "s", "controller": true}]}),
    );
    web["status"].as_object_mut().unwrap().remove("podIP");
    api.add_pod(web.clone());
    wait_cached(&p, 2.0, 0.0);
    p.write_lines(&[line(1, "core", "web-0", Some(web_uid), "fluent-bit")]);
    let events = wait_output(&p, 1);
    let k = &by_n(&events, 1)["kubernetes"];
    assert_eq!(k["statefulset"]["name"], "web");
    assert!(k["pod"]["ip"].is_null(), "no IP yet: {k}");

    // The IP arrives with a MODIFIED event; lines written after it is applied carry it.
    web["status"]["podIP"] = json!("10.244.1.7");
    api.modify_pod(web);
    let mut n = 1;
    let got_ip = common::wait_until(Duration::from_secs(20), || {
        n += 1;
        p.write_lines(&[line(n, "core", "web-0", None, "fluent-bit")]);
        let events = wait_output(&p, n as usize);
        by_n(&events, n)["kubernetes"]["pod"]["ip"] == "10.244.1.7"
    });
    assert!(got_ip, "{}", p.stderr());

    // Deleted: still enriched during the grace period (300 s by default).
    api.delete_pod(BASE_UID);
    wait_cached(&p, 1.0, 1.0);
    n += 1;
    p.write_lines(&[line(n, "core", "base", Some(BASE_UID), "fluent-bit")]);
    let events = wait_output(&p, n as usize);
    let base = by_n(&events, n);
    assert_eq!(
        base["kubernetes"]["labels"]["app_kubernetes_io/name"],
        "fluent-bit"
    );
    assert!(!tagged_missing(base));
    assert_eq!(metric(&p, MISSES, &[("reason", "not_found")]), 0.0);
    // One LIST: everything else came through the watch.
    assert_eq!(api.count("list", "pods", 200), 1, "{:?}", api.requests());
    p.finish();
}

#[test]
fn an_expired_resource_version_makes_the_watcher_list_again() {
    let dir = tempfile::tempdir().unwrap();
    let api = KubeApi::start(dir.path(), TOKEN);
    api.add_pod(fixture("pod_core_base.json"));
    let mut p = start_pipeline(
        dir.path(),
        "k8s_relist",
        &api.endpoint,
        &api.ca_file,
        &api.token_file,
    );
    wait_synced(&api, true);
    wait_cached(&p, 1.0, 0.0);
    assert_eq!(api.count("list", "pods", 200), 1);

    // Changes the watch never sees, then the history is compacted: the watcher comes back
    // with its last version, gets an ERROR event with code 410, and lists again.
    let a = "11111111-2222-4333-8444-555555555555";
    api.add_pod_unseen(pod_like_base("missed-a", a, json!({})));
    api.delete_pod_unseen(BASE_UID);
    api.expire_history();
    wait_cached(&p, 1.0, 1.0);
    assert_eq!(
        api.count("list", "pods", 200),
        2,
        "{:?}\n{}",
        api.requests(),
        p.metrics()
    );

    // The same as a plain 410 answer to the watch request.
    api.answer_gone_with_status(true);
    let b = "66666666-7777-4888-8999-aaaaaaaaaaaa";
    api.add_pod_unseen(pod_like_base("missed-b", b, json!({})));
    // Close the current watch without the history moving on.
    wait_synced(&api, false);
    api.expire_history();
    wait_cached(&p, 2.0, 1.0);
    assert!(api.count("watch", "pods", 410) >= 1, "{:?}", api.requests());
    assert_eq!(api.count("list", "pods", 200), 3, "{:?}", api.requests());
    // The first LIST may come from the API server's cache; the ones after a 410 may not.
    let lists: Vec<Option<String>> = api
        .requests()
        .into_iter()
        .filter(|r| r.kind == "list" && r.resource == "pods" && !r.continued)
        .map(|r| r.resource_version)
        .collect();
    assert_eq!(lists, [Some("0".to_string()), None, None]);

    p.write_lines(&[
        line(1, "core", "missed-a", Some(a), "fluent-bit"),
        line(2, "core", "missed-b", None, "fluent-bit"),
        // Deleted while unwatched: kept as deleted for the grace period.
        line(3, "core", "base", Some(BASE_UID), "fluent-bit"),
    ]);
    let events = wait_output(&p, 3);
    for n in 1..=3 {
        let e = by_n(&events, n);
        assert!(!tagged_missing(e), "{e}");
        assert_eq!(e["kubernetes"]["node"]["name"], NODE);
    }
    assert_eq!(by_n(&events, 2)["kubernetes"]["pod"]["uid"], b);
    p.finish();
}

#[test]
fn the_api_unreachable_from_the_start_never_stalls_events() {
    let dir = tempfile::tempdir().unwrap();
    // Credentials from a server that is gone: the port refuses connections.
    let mut api = KubeApi::start(dir.path(), TOKEN);
    api.stop();
    let mut p = start_pipeline(
        dir.path(),
        "k8s_unreachable",
        &api.endpoint,
        &api.ca_file,
        &api.token_file,
    );
    wait_metric(
        &p,
        "logweir_component_errors_total",
        &[("error_type", "kubernetes_api_unreachable")],
        1.0,
    );
    let lines: Vec<String> = (1..=200)
        .map(|n| line(n, "core", "base", Some(BASE_UID), "fluent-bit"))
        .collect();
    p.write_lines(&lines);
    let events = wait_output(&p, 200);
    assert!(events.iter().all(tagged_missing));
    assert!(events.iter().all(|e| e["kubernetes"]["labels"].is_null()));
    assert_eq!(metric(&p, MISSES, &[("reason", "not_ready")]), 200.0);
    let stderr = p.stderr();
    assert!(
        stderr.contains("cannot reach the Kubernetes API"),
        "{stderr}"
    );
    assert!(!stderr.contains(TOKEN), "{stderr}");
    p.finish();
}

#[test]
fn cached_pods_stay_usable_when_the_api_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let mut api = KubeApi::start(dir.path(), TOKEN);
    api.add_pod(fixture("pod_core_base.json"));
    let mut p = start_pipeline(
        dir.path(),
        "k8s_api_gone",
        &api.endpoint,
        &api.ca_file,
        &api.token_file,
    );
    wait_synced(&api, true);
    wait_cached(&p, 1.0, 0.0);
    api.stop();
    wait_metric(
        &p,
        "logweir_component_errors_total",
        &[("error_type", "kubernetes_api_unreachable")],
        1.0,
    );
    p.write_lines(&[
        line(1, "core", "base", Some(BASE_UID), "fluent-bit"),
        line(
            2,
            "core",
            "new-since",
            Some("99999999-8888-4777-8666-555555555555"),
            "x",
        ),
    ]);
    let events = wait_output(&p, 2);
    assert_eq!(
        by_n(&events, 1)["kubernetes"]["labels"]["app_kubernetes_io/name"],
        "fluent-bit"
    );
    assert!(tagged_missing(by_n(&events, 2)));
    assert_eq!(metric(&p, MISSES, &[("reason", "not_found")]), 1.0);
    p.finish();
}

#[test]
fn a_refused_token_is_counted_and_never_logged() {
    let dir = tempfile::tempdir().unwrap();
    let api = KubeApi::start(dir.path(), TOKEN);
    api.add_pod(fixture("pod_core_base.json"));
    let wrong = "wrong-token-d00dfeed";
    let token_file = common::write_file(dir.path(), "wrong-token", wrong);
    let mut p = start_pipeline(
        dir.path(),
        "k8s_token",
        &api.endpoint,
        &api.ca_file,
        &token_file,
    );
    wait_metric(
        &p,
        "logweir_component_errors_total",
        &[("error_type", "kubernetes_api_status")],
        1.0,
    );
    // The first refusal counted may be the namespaces' list: the pods' comes at its own pace.
    assert!(common::wait_until(Duration::from_secs(10), || api
        .count("list", "pods", 401)
        >= 1));
    p.write_lines(&[line(1, "core", "base", Some(BASE_UID), "fluent-bit")]);
    let events = wait_output(&p, 1);
    assert!(tagged_missing(&events[0]));
    let stderr = p.stderr();
    assert!(stderr.contains("401"), "{stderr}");
    assert!(!stderr.contains(wrong), "{stderr}");
    p.finish();
}
