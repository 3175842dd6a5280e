//! The Kubernetes manifests in `deploy/kubernetes/` parse into Kubernetes API types (with no
//! field the types do not know), say what a node agent needs, and carry a pipeline that
//! `logweir validate` accepts; the Grafana dashboard and the Prometheus alert rules in
//! `deploy/monitoring/` only name metrics logweir serves.

mod common;
#[path = "common/es_server/mod.rs"]
mod es_server;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Container, Namespace, PodSpec, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// Component types the deployed pipelines use that are being written on other branches:
/// `(kind, type)`. Validation may fail with "unknown <kind> type `<type>`" for these only.
/// Once a type is registered on this branch the test fails until it is removed from here.
const PENDING_TYPES: &[(&str, &str)] = &[];

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// Every YAML document of a file, as a generic value.
fn documents(path: &Path) -> Vec<serde_norway::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| {
            serde_norway::Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// Parses `doc` as `T` and checks nothing was ignored: writing the typed value back gives
/// the document (a misspelled or misplaced field would be dropped by the typed parse).
fn typed<T: DeserializeOwned + serde::Serialize>(doc: &serde_norway::Value, what: &str) -> T {
    let value: T = serde_norway::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("{what}: not a valid {}: {e}", std::any::type_name::<T>()));
    let back = serde_json::to_value(&value).unwrap();
    let original = serde_json::to_value(doc).unwrap();
    if let Some(path) = first_difference(&original, &back, String::new()) {
        panic!("{what}: `{path}` is not a field of the Kubernetes API types (or has another type)");
    }
    value
}

/// The path of the first place where `a` and `b` differ.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, path: String) -> Option<String> {
    use serde_json::Value::{Array, Object};
    match (a, b) {
        (Object(x), Object(y)) => x
            .iter()
            .find_map(|(k, v)| match y.get(k) {
                Some(w) => first_difference(v, w, format!("{path}.{k}")),
                None => Some(format!("{path}.{k}")),
            })
            .or_else(|| {
                y.keys()
                    .find(|k| !x.contains_key(*k))
                    .map(|k| format!("{path}.{k}"))
            }),
        (Array(x), Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| first_difference(v, w, format!("{path}[{i}]"))),
        _ if a == b => None,
        _ => Some(path),
    }
}

#[derive(Default)]
struct Manifests {
    daemon_set: Option<DaemonSet>,
    service_account: Option<ServiceAccount>,
    cluster_role: Option<ClusterRole>,
    binding: Option<ClusterRoleBinding>,
    config_map: Option<ConfigMap>,
    namespace: Option<Namespace>,
}

fn node_agent_manifests() -> Manifests {
    let mut m = Manifests::default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy_dir().join("kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    for file in &files {
        for doc in documents(file) {
            let kind = doc["kind"].as_str().unwrap_or_default().to_string();
            let what = format!("{} ({kind})", file.display());
            let slot_taken = match kind.as_str() {
                "DaemonSet" => m.daemon_set.replace(typed(&doc, &what)).is_some(),
                "ServiceAccount" => m.service_account.replace(typed(&doc, &what)).is_some(),
                "ClusterRole" => m.cluster_role.replace(typed(&doc, &what)).is_some(),
                "ClusterRoleBinding" => m.binding.replace(typed(&doc, &what)).is_some(),
                "ConfigMap" => m.config_map.replace(typed(&doc, &what)).is_some(),
                "Namespace" => m.namespace.replace(typed(&doc, &what)).is_some(),
                other => panic!("{what}: unexpected kind `{other}`"),
            };
            assert!(!slot_taken, "{what}: a second {kind}");
        }
    }
    m
}

fn pod_spec(ds: &DaemonSet) -> &PodSpec {
    ds.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
}

fn container<'a>(spec: &'a PodSpec, name: &str) -> &'a Container {
    spec.containers
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn env_names(c: &Container) -> BTreeSet<String> {
    c.env.iter().flatten().map(|e| e.name.clone()).collect()
}

fn secret_env(c: &Container, name: &str) -> Option<(String, String)> {
    let var = c.env.iter().flatten().find(|e| e.name == name)?;
    let secret = var.value_from.as_ref()?.secret_key_ref.as_ref()?;
    Some((secret.name.clone(), secret.key.clone()))
}

#[test]
fn daemon_set_mounts_logs_read_only_probes_the_api_and_knows_its_node() {
    let m = node_agent_manifests();
    let ds = m.daemon_set.expect("a DaemonSet");
    let namespace = ds.metadata.namespace.clone().unwrap();
    assert_eq!(
        Some(&namespace),
        m.namespace.as_ref().and_then(|n| n.metadata.name.as_ref())
    );
    let spec = pod_spec(&ds);
    let agent = container(spec, "logweir");

    // Probes on the API: liveness /health, readiness /ready, on the API's port.
    let api_port = agent
        .ports
        .iter()
        .flatten()
        .find(|p| p.name.as_deref() == Some("api"))
        .expect("an `api` port");
    let probe_path = |probe: &Option<k8s_openapi::api::core::v1::Probe>| {
        let get = probe.as_ref().unwrap().http_get.as_ref().unwrap();
        let port = match &get.port {
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => s.clone(),
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i) => i.to_string(),
        };
        (get.path.clone().unwrap(), port)
    };
    assert_eq!(
        probe_path(&agent.liveness_probe),
        ("/health".into(), "api".into())
    );
    assert_eq!(
        probe_path(&agent.readiness_probe),
        ("/ready".into(), "api".into())
    );

    // Host paths: the logs read-only, logweir's data dir writable.
    let volumes: BTreeMap<&str, &str> = spec
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| Some((v.name.as_str(), v.host_path.as_ref()?.path.as_str())))
        .collect();
    let mounts: BTreeMap<&str, (&str, bool)> = agent
        .volume_mounts
        .iter()
        .flatten()
        .map(|vm| {
            (
                vm.mount_path.as_str(),
                (vm.name.as_str(), vm.read_only == Some(true)),
            )
        })
        .collect();
    for (path, read_only) in [
        ("/var/log/pods", true),
        ("/var/log/containers", true),
        ("/var/lib/logweir", false),
    ] {
        let (volume, ro) = mounts
            .get(path)
            .unwrap_or_else(|| panic!("{path} is not mounted"));
        assert_eq!(volumes.get(volume), Some(&path), "{path} is not the host's");
        assert_eq!(*ro, read_only, "{path} read-only");
    }

    // NODE_NAME from the downward API.
    let node_name = agent
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "NODE_NAME")
        .unwrap();
    let field = node_name
        .value_from
        .as_ref()
        .unwrap()
        .field_ref
        .as_ref()
        .unwrap();
    assert_eq!(field.field_path, "spec.nodeName");

    // Credentials from Secrets, never inline.
    for var in ["ES_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        assert!(
            secret_env(agent, var).is_some(),
            "{var} is not from a Secret"
        );
    }
    for var in agent.env.iter().flatten() {
        if var.name.contains("PASSWORD") || var.name.contains("SECRET") {
            assert!(var.value.is_none(), "{} has an inline value", var.name);
        }
    }

    // Scheduled on every node, with bounded resources.
    assert!(
        spec.tolerations
            .iter()
            .flatten()
            .any(|t| t.operator.as_deref() == Some("Exists")
                && t.key.is_none()
                && t.effect.is_none()),
        "no toleration of every taint"
    );
    let resources = agent.resources.as_ref().unwrap();
    for (what, list) in [
        ("requests", &resources.requests),
        ("limits", &resources.limits),
    ] {
        let list = list.as_ref().unwrap_or_else(|| panic!("no {what}"));
        assert!(
            list.contains_key("cpu") && list.contains_key("memory"),
            "{what}"
        );
    }
    let security = agent.security_context.as_ref().unwrap();
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(
        security.capabilities.as_ref().unwrap().drop.as_deref(),
        Some(&["ALL".to_string()][..])
    );

    // The pod runs as the ServiceAccount bound to the ClusterRole.
    let sa = m.service_account.expect("a ServiceAccount");
    assert_eq!(spec.service_account_name, sa.metadata.name);
    assert_eq!(sa.metadata.namespace.as_ref(), Some(&namespace));

    // The pipeline comes from the ConfigMap, whose [api] listens on the probed port.
    let cm = m.config_map.expect("a ConfigMap");
    let config_volume = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| {
            v.config_map
                .as_ref()
                .is_some_and(|c| Some(&c.name) == cm.metadata.name.as_ref())
        })
        .expect("the ConfigMap mounted");
    let (config_mount, _) = mounts
        .iter()
        .find(|(_, (v, _))| *v == config_volume.name)
        .map(|(p, v)| (*p, *v))
        .unwrap();
    let args = agent.args.as_ref().unwrap();
    let config_arg = args
        .iter()
        .position(|a| a == "--config" || a == "-c")
        .unwrap();
    assert_eq!(
        args[config_arg + 1],
        format!("{config_mount}/pipeline.toml")
    );
    // The whole ConfigMap is mounted (a subPath mount never sees updates) and watched, so
    // an edited pipeline is reloaded in place.
    assert!(args.iter().any(|a| a == "--watch"), "{args:?}");
    assert!(agent
        .volume_mounts
        .iter()
        .flatten()
        .filter(|vm| vm.name == config_volume.name)
        .all(|vm| vm.sub_path.is_none()));
    let pipeline = &cm.data.as_ref().unwrap()["pipeline.toml"];
    let table: toml::Table = toml::from_str(pipeline).unwrap();
    let address = table["api"]["address"].as_str().unwrap();
    assert_eq!(address, format!("0.0.0.0:{}", api_port.container_port));
    assert_eq!(table["data_dir"].as_str(), Some("/var/lib/logweir"));
}

#[test]
fn rbac_grants_only_get_list_watch_on_pods_and_namespaces() {
    let m = node_agent_manifests();
    let role = m.cluster_role.expect("a ClusterRole");
    let rules = role.rules.as_ref().unwrap();
    assert_eq!(rules.len(), 1);
    let rule = &rules[0];
    assert_eq!(rule.api_groups.as_deref(), Some(&[String::new()][..]));
    let sorted = |v: &Option<Vec<String>>| {
        let mut v = v.clone().unwrap_or_default();
        v.sort();
        v
    };
    assert_eq!(sorted(&rule.resources), ["namespaces", "pods"]);
    assert_eq!(sorted(&Some(rule.verbs.clone())), ["get", "list", "watch"]);
    assert!(rule.resource_names.is_none() && rule.non_resource_urls.is_none());

    let binding = m.binding.expect("a ClusterRoleBinding");
    assert_eq!(binding.role_ref.kind, "ClusterRole");
    assert_eq!(Some(&binding.role_ref.name), role.metadata.name.as_ref());
    let sa = m.service_account.unwrap();
    let subjects = binding.subjects.as_ref().unwrap();
    assert_eq!(subjects.len(), 1);
    assert_eq!(subjects[0].kind, "ServiceAccount");
    assert_eq!(Some(&subjects[0].name), sa.metadata.name.as_ref());
    assert_eq!(subjects[0].namespace, sa.metadata.namespace);
}

/// Runs `logweir validate` on `pipeline` with exactly the environment variables `env`
/// (dummy values), and accepts only success or "unknown … type" errors of [`PENDING_TYPES`].
fn validate(pipeline: &str, env: &BTreeSet<String>, what: &str) {
    for (kind, type_name) in PENDING_TYPES {
        let registered = match *kind {
            "source" => logweir::sources::SourceConfig::TYPES.contains(type_name),
            "sink" => logweir::sinks::SinkConfig::TYPES.contains(type_name),
            _ => logweir::transforms::TransformConfig::TYPES.contains(type_name),
        };
        assert!(
            !registered,
            "the {kind} type `{type_name}` exists now: remove it from PENDING_TYPES"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = common::write_file(dir.path(), "pipeline.toml", pipeline);
    let mut command = Command::new(common::logweir_bin());
    command.args(["validate", "-c"]).arg(&file).env_clear();
    for name in env {
        command.env(name, format!("dummy-{}", name.to_lowercase()));
    }
    // The endpoint must look like a URL once the sink validates it.
    command.env("ES_ENDPOINT", "https://elasticsearch.example:9200");
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        return;
    }
    let mut unexpected = Vec::new();
    let mut pending = Vec::new();
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        let known_pending = PENDING_TYPES
            .iter()
            .find(|(kind, t)| line.contains(&format!("unknown {kind} type `{t}`")));
        match known_pending {
            Some(p) => pending.push(*p),
            None if line.contains(" error") && line.contains(" in ") && !line.contains(": ") => {}
            None => unexpected.push(line),
        }
    }
    assert!(
        unexpected.is_empty(),
        "{what}: `logweir validate` failed for reasons other than pending component types:\n{stderr}"
    );
    assert!(
        !pending.is_empty(),
        "{what}: validate failed without saying why:\n{stderr}"
    );
    eprintln!("{what}: valid except for component types still pending: {pending:?}");
}

#[test]
fn the_config_map_pipeline_validates_with_the_daemon_set_environment() {
    let m = node_agent_manifests();
    let cm = m.config_map.unwrap();
    let pipeline = &cm.data.as_ref().unwrap()["pipeline.toml"];
    let ds = m.daemon_set.unwrap();
    let env = env_names(container(pod_spec(&ds), "logweir"));
    // Every `${VAR}` without a default is set by the DaemonSet.
    let variables = regex::Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}").unwrap();
    for cap in variables.captures_iter(pipeline) {
        assert!(
            env.contains(&cap[1]),
            "${{{}}} is not set by the DaemonSet",
            &cap[1]
        );
    }
    validate(pipeline, &env, "configmap.yaml");
}

#[test]
fn the_sidecar_example_shares_the_log_directory_and_validates() {
    let path = deploy_dir().join("kubernetes/examples/sidecar.yaml");
    let docs = documents(&path);
    let mut pipeline = None;
    let mut deployment = None;
    for doc in &docs {
        match doc["kind"].as_str() {
            Some("ConfigMap") => {
                let cm: ConfigMap = typed(doc, "sidecar ConfigMap");
                pipeline = Some(cm.data.unwrap()["pipeline.toml"].clone());
            }
            Some("Deployment") => deployment = Some(typed::<Deployment>(doc, "sidecar Deployment")),
            other => panic!("unexpected kind {other:?}"),
        }
    }
    let deployment = deployment.expect("a Deployment");
    let spec = deployment.spec.unwrap().template.spec.unwrap();
    let shared = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| v.empty_dir.is_some() && v.name == "app-logs")
        .expect("an emptyDir for the logs");
    let mount_of = |c: &Container| {
        c.volume_mounts
            .iter()
            .flatten()
            .find(|m| m.name == shared.name)
            .map(|m| (m.mount_path.clone(), m.read_only == Some(true)))
    };
    let app = container(&spec, "app");
    let agent = container(&spec, "logweir");
    let (app_path, app_ro) = mount_of(app).unwrap();
    let (agent_path, agent_ro) = mount_of(agent).unwrap();
    assert_eq!(app_path, agent_path);
    assert!(!app_ro && agent_ro, "the app writes, logweir only reads");
    let pipeline = pipeline.expect("a ConfigMap with the pipeline");
    assert!(
        pipeline.contains(&format!("\"{agent_path}/")),
        "the pipeline reads the shared dir"
    );
    validate(&pipeline, &env_names(agent), "examples/sidecar.yaml");
}

/// Metric names (`logweir_…`) in a PromQL expression.
fn metric_names(expr: &str) -> BTreeSet<String> {
    regex::Regex::new(r"\blogweir_[a-z0-9_]+")
        .unwrap()
        .find_iter(expr)
        .map(|m| m.as_str().to_string())
        .collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleGroup {
    name: String,
    rules: Vec<AlertRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertRule {
    alert: String,
    expr: String,
    #[serde(rename = "for")]
    for_: Option<String>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

/// The `/metrics` text of a pipeline that exercises every kind of component the deployment
/// runs: parse failures dead-lettered, filtering, sampling, a disk buffer and a dropping
/// buffer, a network source (its connection gauge), and a file source shipping to
/// Elasticsearch (files watched, bytes behind, request latency, retries, in-flight requests;
/// the in-tests Elasticsearch server answers the bulk requests).
fn metrics_of_a_test_run() -> String {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let elasticsearch = runtime.block_on(es_server::EsTestServer::start(Default::default()));
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let log_lines: String = (0..50).map(|i| format!("line {i}\n")).collect();
    common::write_file(&logs, "app.log", &log_lines);
    let mut pipeline = common::running::RunningPipeline::start(
        dir.path(),
        &format!(
            r#"
[sources.in]
type = "stdin"
[sources.net]
type = "tcp"
address = "127.0.0.1:0"
[sources.files]
type = "file"
include = ["{logs}/*.log"]
[sinks.es]
type = "elasticsearch"
inputs = ["files"]
endpoints = ["{es}"]
batch = {{ max_events = 20, timeout_ms = 50 }}
[transforms.parsed]
type = "parse_json"
inputs = ["in"]
on_error = "dead_letter"
[transforms.errors]
type = "filter"
inputs = ["parsed"]
condition = '.level == "error"'
[transforms.sampled]
type = "sample"
inputs = ["errors"]
rate = 2
[sinks.archive]
type = "file"
inputs = ["sampled"]
path = "{}"
buffer = {{ type = "disk", max_bytes = 1048576 }}
[sinks.drop]
type = "blackhole"
inputs = ["parsed", "net"]
buffer = {{ type = "memory", max_events = 1024, when_full = "drop_newest" }}
"#,
            dir.path().join("out.ndjson").display(),
            logs = logs.display(),
            es = elasticsearch.url(),
        ),
    );
    let lines: Vec<String> = (0..100)
        .map(|i| match i % 4 {
            0 => format!("not json {i}"),
            1 => format!(r#"{{"level":"error","i":{i}}}"#),
            _ => format!(r#"{{"level":"info","i":{i}}}"#),
        })
        .collect();
    pipeline.write_lines(&lines);
    pipeline.wait_for_metric(
        "logweir_component_dead_lettered_events_total",
        "parsed",
        25.0,
    );
    pipeline.wait_for_metric("logweir_component_sent_events_total", "es", 50.0);
    let body = pipeline.wait_for_metric("logweir_component_received_events_total", "archive", 13.0);
    pipeline.terminate();
    body
}

#[test]
fn dashboard_and_alerts_name_only_metrics_logweir_serves() {
    let monitoring = deploy_dir().join("monitoring");
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(monitoring.join("grafana-dashboard.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    assert!(dashboard["title"].is_string() && dashboard["uid"].is_string());
    let mut used = BTreeMap::<String, String>::new();
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10);
    for panel in panels {
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{}", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().expect("expr");
            for name in metric_names(expr) {
                used.insert(name, format!("dashboard panel {}", panel["title"]));
            }
        }
    }

    let rules: RuleFile =
        serde_norway::from_str(&std::fs::read_to_string(monitoring.join("alerts.yaml")).unwrap())
            .expect("alerts.yaml is a Prometheus rule file");
    let alerts: Vec<&AlertRule> = rules.groups.iter().flat_map(|g| &g.rules).collect();
    assert!(rules.groups.iter().all(|g| !g.name.is_empty()));
    for rule in &alerts {
        assert!(rule.labels.contains_key("severity"), "{}", rule.alert);
        assert!(rule.annotations.contains_key("summary"), "{}", rule.alert);
        assert!(rule
            .for_
            .as_deref()
            .is_none_or(|f| f.ends_with('m') || f.ends_with('s')));
        for name in metric_names(&rule.expr) {
            used.insert(name, format!("alert {}", rule.alert));
        }
    }
    // The alerts the deployment promises.
    let alert_on = |needle: &str| alerts.iter().any(|r| r.expr.contains(needle));
    assert!(alert_on("up{job=\"logweir\"} == 0"), "agent down");
    assert!(
        alert_on("logweir_component_errors_total{component_kind=\"sink\"}"),
        "sink errors"
    );
    assert!(
        alert_on("logweir_component_dead_lettered_events_total"),
        "dead letters"
    );
    assert!(alert_on("logweir_file_source_bytes_behind"), "bytes behind");
    assert!(
        alerts
            .iter()
            .any(|r| r.expr.contains("logweir_buffer_max_events")
                && r.expr.contains("logweir_buffer_max_byte_size")),
        "buffer near full, memory and disk"
    );

    let documented: BTreeSet<&str> = logweir::internal_metrics::ALL
        .iter()
        .map(|(n, _, _)| *n)
        .collect();
    let base = |name: &str| -> String {
        for suffix in ["_bucket", "_count", "_sum"] {
            if let Some(b) = name.strip_suffix(suffix) {
                if documented.contains(b) {
                    return b.to_string();
                }
            }
        }
        name.to_string()
    };
    let served: BTreeSet<String> = metrics_of_a_test_run()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect();
    let mut missing = Vec::new();
    for (name, user) in &used {
        assert!(
            documented.contains(base(name).as_str()),
            "{user}: `{name}` is not a logweir metric"
        );
        if !served.contains(name) {
            missing.push(format!("{user}: {name}"));
        }
    }
    assert!(
        missing.is_empty(),
        "not in /metrics of a test run:\n{}\nserved: {served:?}",
        missing.join("\n")
    );
}
