//! Retention: the ILM policies and index templates the sink installs at startup.
//!
//! One ILM policy per retention class (`logweir-<days>d`: hot phase rolling over at 50 GB per
//! primary shard or `days/7` days, at least 1 and at most 30; delete phase after `days`), one
//! component template with the mappings (`@timestamp` date, `message` match_only_text,
//! `kubernetes.*`, `container.*`, `host.*`, `log.*` strings as keyword per ECS, `data_stream.*`
//! constant_keyword), and index templates wiring names to policies:
//! - `logweir-<type>` for `<type>-*-*` at priority 200 (above Elasticsearch's built-in `logs`
//!   template at 100) with the default policy;
//! - `logweir-<type>-<dataset>` for `<type>-<dataset>-*` at priority 210 for each retention rule.
//!
//! Each body carries `_meta.logweir_fingerprint`, a hash of its content. Installation reads
//! first and writes only when the resource is absent or its fingerprint differs, so restarts
//! write nothing and a changed retention is applied on the next start. Comparing fingerprints
//! rather than whole bodies keeps this robust to the defaults Elasticsearch adds when it
//! returns a resource.
//!
//! In `index` mode (no rollover: indices are named by date) the policy only deletes, and one
//! template covers the index name's literal prefix.

use serde_json::{json, Value};

use super::config::{CheckedConfig, TargetStrategy};
use super::encoder::sanitize_name_part;
use super::retry::Backoff;
use super::service::{EsClient, RequestError};

/// Priority of the default template: above the built-in `logs` template (100).
pub const DEFAULT_TEMPLATE_PRIORITY: u64 = 200;
/// Priority of per-dataset templates: above the default one.
pub const RULE_TEMPLATE_PRIORITY: u64 = 210;

/// What kind of resource, i.e. which API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    IlmPolicy,
    ComponentTemplate,
    IndexTemplate,
}

impl ResourceKind {
    fn path(self, name: &str) -> String {
        match self {
            ResourceKind::IlmPolicy => format!("/_ilm/policy/{name}"),
            ResourceKind::ComponentTemplate => format!("/_component_template/{name}"),
            ResourceKind::IndexTemplate => format!("/_index_template/{name}"),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            ResourceKind::IlmPolicy => "ilm policy",
            ResourceKind::ComponentTemplate => "component template",
            ResourceKind::IndexTemplate => "index template",
        }
    }
}

/// One resource to install.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub kind: ResourceKind,
    pub name: String,
    pub fingerprint: String,
    /// The body to PUT, `_meta` included.
    pub body: Value,
}

fn fingerprint(v: &Value) -> String {
    // FNV-1a 64 over the canonical serialisation (serde_json maps are sorted).
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn meta(fp: &str) -> Value {
    json!({"managed_by": "logweir", "logweir_fingerprint": fp})
}

fn policy_name(days: u32, rollover: bool) -> String {
    if rollover {
        format!("logweir-{days}d")
    } else {
        format!("logweir-{days}d-delete")
    }
}

fn policy(days: u32, rollover: bool) -> Resource {
    let max_age_days = (days / 7).clamp(1, 30);
    let phases = if rollover {
        json!({
            "hot": {"min_age": "0ms", "actions": {"rollover": {
                "max_primary_shard_size": "50gb",
                "max_age": format!("{max_age_days}d"),
            }}},
            "delete": {"min_age": format!("{days}d"), "actions": {"delete": {}}},
        })
    } else {
        json!({"delete": {"min_age": format!("{days}d"), "actions": {"delete": {}}}})
    };
    let fp = fingerprint(&phases);
    Resource {
        kind: ResourceKind::IlmPolicy,
        name: policy_name(days, rollover),
        body: json!({"policy": {"phases": phases, "_meta": meta(&fp)}}),
        fingerprint: fp,
    }
}

fn keyword_under(name: &str, path: &str) -> Value {
    json!({name: {
        "path_match": path,
        "match_mapping_type": "string",
        "mapping": {"type": "keyword", "ignore_above": 1024},
    }})
}

fn mappings_template(name: &str) -> Resource {
    let template = json!({
        "mappings": {
            "dynamic_templates": [
                keyword_under("ecs_kubernetes_keywords", "kubernetes.*"),
                keyword_under("ecs_container_keywords", "container.*"),
                keyword_under("ecs_host_keywords", "host.*"),
                keyword_under("ecs_log_keywords", "log.*"),
            ],
            "properties": {
                "@timestamp": {"type": "date"},
                "message": {"type": "match_only_text"},
                "tags": {"type": "keyword", "ignore_above": 1024},
                "data_stream": {"properties": {
                    "type": {"type": "constant_keyword"},
                    "dataset": {"type": "constant_keyword"},
                    "namespace": {"type": "constant_keyword"},
                }},
            },
        },
    });
    let fp = fingerprint(&template);
    Resource {
        kind: ResourceKind::ComponentTemplate,
        name: name.to_string(),
        body: json!({"template": template, "_meta": meta(&fp)}),
        fingerprint: fp,
    }
}

fn index_template(
    name: String,
    patterns: Vec<String>,
    priority: u64,
    data_stream: bool,
    components: &str,
    policy: &str,
) -> Resource {
    let mut body = json!({
        "index_patterns": patterns,
        "priority": priority,
        "composed_of": [components],
        "template": {"settings": {"index.lifecycle.name": policy}},
    });
    if data_stream {
        body["data_stream"] = json!({});
    }
    let fp = fingerprint(&body);
    body["_meta"] = meta(&fp);
    Resource {
        kind: ResourceKind::IndexTemplate,
        name,
        body,
        fingerprint: fp,
    }
}

/// The literal start of an index name template (before any field or time specifier).
fn literal_prefix(source: &str) -> String {
    let end = [source.find("{{"), source.find('%')]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(source.len());
    let mut out = String::new();
    super::encoder::sanitize_index_name_into(&source[..end], &mut out);
    if source[..end]
        .trim_start_matches(['-', '_', '+', '.'])
        .is_empty()
    {
        out.clear();
    }
    out
}

/// Everything the configuration asks to install, in installation order.
pub fn desired_resources(config: &CheckedConfig, component_id: &str) -> Vec<Resource> {
    let retention = &config.retention;
    let mut out = Vec::new();
    match &config.target {
        TargetStrategy::DataStream { kind, .. } => {
            let mut days: Vec<u32> = std::iter::once(retention.default_days)
                .chain(retention.rules.iter().map(|r| r.days))
                .collect();
            days.sort_unstable();
            days.dedup();
            out.extend(days.iter().map(|d| policy(*d, true)));
            let components = format!("logweir-{kind}-mappings");
            out.push(mappings_template(&components));
            out.push(index_template(
                format!("logweir-{kind}"),
                vec![format!("{kind}-*-*")],
                DEFAULT_TEMPLATE_PRIORITY,
                true,
                &components,
                &policy_name(retention.default_days, true),
            ));
            let mut seen = Vec::new();
            for rule in &retention.rules {
                let dataset = sanitize_name_part(&rule.dataset, "generic");
                if seen.contains(&dataset) {
                    continue;
                }
                seen.push(dataset.clone());
                out.push(index_template(
                    format!("logweir-{kind}-{dataset}"),
                    vec![format!("{kind}-{dataset}-*")],
                    RULE_TEMPLATE_PRIORITY,
                    true,
                    &components,
                    &policy_name(rule.days, true),
                ));
            }
        }
        TargetStrategy::Index(template) => {
            let prefix = literal_prefix(template.source());
            if prefix.is_empty() {
                tracing::warn!(component_id, index = template.source(), "the index name starts with a field or date, so no index template can match it; templates and retention are not installed");
                return out;
            }
            if !retention.rules.is_empty() {
                tracing::warn!(component_id, "retention rules apply to data streams; in index mode only `retention.default_days` is used");
            }
            out.push(policy(retention.default_days, false));
            let components = "logweir-logs-mappings".to_string();
            out.push(mappings_template(&components));
            out.push(index_template(
                format!("logweir-index-{component_id}"),
                vec![format!("{prefix}*")],
                DEFAULT_TEMPLATE_PRIORITY,
                false,
                &components,
                &policy_name(retention.default_days, false),
            ));
        }
    }
    out
}

/// What installation did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InstallReport {
    pub unchanged: Vec<String>,
    pub written: Vec<String>,
    pub failed: Vec<String>,
}

/// The fingerprint of the installed resource, from a GET response.
fn installed_fingerprint(kind: ResourceKind, name: &str, body: &Value) -> Option<String> {
    let meta = match kind {
        ResourceKind::IlmPolicy => body.get(name)?.get("policy")?.get("_meta")?,
        ResourceKind::ComponentTemplate => body
            .get("component_templates")?
            .as_array()?
            .iter()
            .find(|t| t.get("name").and_then(Value::as_str) == Some(name))?
            .get("component_template")?
            .get("_meta")?,
        ResourceKind::IndexTemplate => body
            .get("index_templates")?
            .as_array()?
            .iter()
            .find(|t| t.get("name").and_then(Value::as_str) == Some(name))?
            .get("index_template")?
            .get("_meta")?,
    };
    Some(meta.get("logweir_fingerprint")?.as_str()?.to_string())
}

enum Step {
    Done(bool),
    RetryLater(String),
    GiveUp(String),
}

async fn install_one(client: &EsClient, r: &Resource) -> Step {
    let path = r.kind.path(&r.name);
    let transient = |e: RequestError| Step::RetryLater(e.to_string());
    let (status, body) = match client.get_json(&path).await {
        Ok(x) => x,
        Err(e) => return transient(e),
    };
    match status {
        200 if installed_fingerprint(r.kind, &r.name, &body).as_deref()
            == Some(r.fingerprint.as_str()) =>
        {
            return Step::Done(false)
        }
        200 | 404 => {}
        s if s >= 500 || s == 429 => return Step::RetryLater(format!("GET {path}: status {s}")),
        s => return Step::GiveUp(format!("GET {path}: status {s}: {body}")),
    }
    match client.put_json(&path, &r.body).await {
        Ok((200..=299, _)) => Step::Done(true),
        Ok((s, body)) if s >= 500 || s == 429 => {
            Step::RetryLater(format!("PUT {path}: status {s}: {body}"))
        }
        Ok((s, body)) => Step::GiveUp(format!("PUT {path}: status {s}: {body}")),
        Err(e) => transient(e),
    }
}

/// Installs `resources` in order. Transient failures (unreachable cluster, 5xx, 429) are
/// retried until they succeed, since writing data before its template exists would create
/// data streams with the wrong retention; a refusal (4xx: invalid body, missing privilege) is
/// logged and skipped so delivery can go on.
pub async fn install(
    client: &EsClient,
    resources: &[Resource],
    component_id: &str,
    mut backoff: Backoff,
) -> InstallReport {
    let mut report = InstallReport::default();
    for r in resources {
        loop {
            match install_one(client, r).await {
                Step::Done(written) => {
                    if written {
                        tracing::info!(component_id, kind = r.kind.as_str(), name = %r.name, "installed");
                        report.written.push(r.name.clone());
                    } else {
                        tracing::debug!(component_id, kind = r.kind.as_str(), name = %r.name, "already installed");
                        report.unchanged.push(r.name.clone());
                    }
                    backoff.reset();
                    break;
                }
                Step::GiveUp(why) => {
                    tracing::error!(component_id, kind = r.kind.as_str(), name = %r.name, error = %why, "cannot install; continuing without it");
                    report.failed.push(r.name.clone());
                    break;
                }
                Step::RetryLater(why) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(component_id, kind = r.kind.as_str(), name = %r.name, error = %why, retry_in_ms = delay.as_millis() as u64, "cannot install yet; retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::elasticsearch::config::ElasticsearchConfig;

    fn checked(extra: &str) -> CheckedConfig {
        let c: ElasticsearchConfig =
            toml::from_str(&format!("endpoints = [\"http://es:9200\"]\n{extra}")).unwrap();
        c.validate().unwrap()
    }

    #[test]
    fn data_stream_retention_becomes_policies_and_templates() {
        let c = checked(
            "retention = { default_days = 14, rules = [ { dataset = \"audit\", days = 365 }, { dataset = \"Kube-System\", days = 3 } ] }",
        );
        let r = desired_resources(&c, "es");
        let names: Vec<&str> = r.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "logweir-3d",
                "logweir-14d",
                "logweir-365d",
                "logweir-logs-mappings",
                "logweir-logs",
                "logweir-logs-audit",
                "logweir-logs-kube_system"
            ]
        );
        let p = &r[2].body["policy"]["phases"];
        assert_eq!(p["delete"]["min_age"], "365d");
        assert_eq!(p["hot"]["actions"]["rollover"]["max_age"], "30d");
        let audit = &r[5].body;
        assert_eq!(audit["index_patterns"], json!(["logs-audit-*"]));
        assert_eq!(audit["priority"], 210);
        assert_eq!(
            audit["template"]["settings"]["index.lifecycle.name"],
            "logweir-365d"
        );
        assert_eq!(audit["data_stream"], json!({}));
        assert_eq!(r[4].body["index_patterns"], json!(["logs-*-*"]));
        assert_eq!(
            r[4].body["_meta"]["logweir_fingerprint"],
            r[4].fingerprint.as_str()
        );
        // Deterministic: the same config gives the same fingerprints.
        assert_eq!(desired_resources(&c, "es"), r);
    }

    #[test]
    fn index_mode_uses_a_delete_only_policy_on_the_literal_prefix() {
        let c = checked("mode = \"index\"\nindex = \"App-Logs-%Y.%m.%d\"");
        let r = desired_resources(&c, "es");
        assert_eq!(r[0].name, "logweir-14d-delete");
        assert!(r[0].body["policy"]["phases"].get("hot").is_none());
        assert_eq!(r[2].body["index_patterns"], json!(["app-logs-*"]));
        assert!(r[2].body.get("data_stream").is_none());
        let c = checked("mode = \"index\"\nindex = \"{{ app }}-%Y\"");
        assert!(desired_resources(&c, "es").is_empty());
    }
}
