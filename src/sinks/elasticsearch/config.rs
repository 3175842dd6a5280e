//! What the user writes for an `elasticsearch` sink, and its checks.
//!
//! Parsing stays declarative (serde with `deny_unknown_fields`); [`ElasticsearchConfig::validate`]
//! turns it into the checked pieces the sink runs with (templates compiled, endpoints parsed,
//! auth resolved) so that every mistake is reported when the pipeline is built.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::template::Template;

/// A secret (password, API key). Its `Debug` and `Display` never show the value, so it cannot
/// leak into logs, errors or `{:?}` output of the configuration.
#[derive(Clone, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(transparent)]
#[schemars(rename = "ElasticsearchSecret")]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for building the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(\"***\")")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where documents go.
#[derive(
    Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "ElasticsearchMode")]
pub enum Mode {
    /// `create` into the data stream `<type>-<dataset>-<namespace>`.
    #[default]
    DataStream,
    /// `index` into the index named by `index`.
    Index,
}

/// Request body compression.
#[derive(
    Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "ElasticsearchCompression")]
pub enum Compression {
    /// `Content-Encoding: gzip` (fast level): bulk NDJSON shrinks 5-10x.
    #[default]
    Gzip,
    /// Uncompressed request bodies.
    None,
}

/// The data stream naming scheme `<type>-<dataset>-<namespace>`.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataStreamConfig {
    /// The data stream type (`logs`, `metrics`, ...).
    #[serde(rename = "type", default = "default_ds_type")]
    pub kind: String,
    /// Dataset, a template rendered per event (`{{ kubernetes.namespace }}`). Rendered values
    /// are sanitised to Elasticsearch's naming rules: lowercase, `-` and characters forbidden in
    /// index names become `_`, at most 100 bytes; empty or missing becomes `generic`.
    #[serde(default = "default_dataset")]
    pub dataset: String,
    /// Namespace, a template rendered per event, sanitised like `dataset`; empty or missing
    /// becomes `default`.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Add `data_stream.type`, `data_stream.dataset` and `data_stream.namespace` to each document
    /// (unless it already has a `data_stream` field), as Elastic Agent does; Kibana filters on
    /// them.
    #[serde(default = "default_true")]
    pub sync_fields: bool,
}

impl Default for DataStreamConfig {
    fn default() -> Self {
        DataStreamConfig {
            kind: default_ds_type(),
            dataset: default_dataset(),
            namespace: default_namespace(),
            sync_fields: true,
        }
    }
}

fn default_ds_type() -> String {
    "logs".to_string()
}
fn default_dataset() -> String {
    "generic".to_string()
}
fn default_namespace() -> String {
    "default".to_string()
}
fn default_true() -> bool {
    true
}

/// When a bulk request is sent.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ElasticsearchBatch")]
pub struct BatchConfig {
    /// Most documents in one bulk request.
    #[serde(default = "default_max_events")]
    pub max_events: usize,
    /// Most uncompressed body bytes in one bulk request (a single larger document is sent
    /// alone).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
    /// A partly filled request is sent after this long.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_events: default_max_events(),
            max_bytes: default_max_bytes(),
            timeout_ms: default_timeout_ms(),
        }
    }
}

/// Like Filebeat's 1,600: a request of ~1–2 MB (Elasticsearch's advice: a few MB), and the
/// sink's memory is `concurrency + 1` of them. 5,000 held 12 MiB more at full speed for
/// no throughput gain (BENCHMARKS.md).
fn default_max_events() -> usize {
    2000
}
fn default_max_bytes() -> usize {
    10 * 1024 * 1024
}
fn default_timeout_ms() -> u64 {
    1000
}

/// Credentials: either `user` + `password` (HTTP basic) or `api_key`.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// User name for basic authentication.
    pub user: Option<String>,
    /// Password for basic authentication (use `${ES_PASSWORD}`).
    pub password: Option<Secret>,
    /// Encoded API key (the `encoded` value Elasticsearch returns, base64 of `id:key`), sent as
    /// `Authorization: ApiKey <api_key>` (use `${ES_API_KEY}`).
    pub api_key: Option<Secret>,
}

/// The checked credentials.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    Basic { user: String, password: Secret },
    ApiKey(Secret),
}

/// TLS settings for `https://` endpoints.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ElasticsearchTls")]
pub struct TlsConfig {
    /// PEM file of the CA certificate(s) to trust instead of the system roots (the `ca.crt`
    /// of a self-managed cluster).
    pub ca_file: Option<PathBuf>,
    /// Verify the server certificate and host name. `false` is for experiments only.
    #[serde(default = "default_true")]
    pub verify: bool,
}

/// How long data is kept, per dataset.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Days data of datasets without a rule is kept.
    #[serde(default = "default_retention_days")]
    pub default_days: u32,
    /// Per-dataset retention.
    #[serde(default)]
    pub rules: Vec<RetentionRule>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            default_days: default_retention_days(),
            rules: Vec::new(),
        }
    }
}

fn default_retention_days() -> u32 {
    14
}

/// One dataset's retention.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionRule {
    /// The dataset (as it appears in the data stream name, after sanitising).
    pub dataset: String,
    /// Days its data is kept.
    pub days: u32,
}

/// Sends events to Elasticsearch through the bulk API.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ElasticsearchConfig {
    /// Base URLs of the cluster's nodes (`https://es-0:9200`). Requests rotate over them; a node
    /// that fails is set aside for a while.
    pub endpoints: Vec<String>,
    /// `data_stream` (default) or `index`.
    #[serde(default)]
    pub mode: Mode,
    /// Data stream naming, for `mode = "data_stream"`.
    #[serde(default)]
    pub data_stream: DataStreamConfig,
    /// Index name template for `mode = "index"`: `{{ field }}` and strftime specifiers of the
    /// event's `@timestamp` (`logs-%Y.%m.%d`). Rendered names are lowercased and sanitised.
    pub index: Option<String>,
    /// Document `_id`: `auto` (default: deterministic from where the event was read, or a hash
    /// of the document when its source cannot tell, so a retried or replayed event is not
    /// indexed twice), `none` (Elasticsearch generates ids; retries may duplicate) or a
    /// template such as `{{ request_id }}`.
    #[serde(default = "default_id")]
    pub id: String,
    /// `gzip` (default) or `none`.
    #[serde(default)]
    pub compression: Compression,
    /// When bulk requests are sent.
    #[serde(default)]
    pub batch: BatchConfig,
    /// Bulk requests in flight at once. Memory is bounded by about
    /// `concurrency × batch.max_bytes` (plus the batch being filled).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Credentials.
    pub auth: Option<AuthConfig>,
    /// TLS settings.
    pub tls: Option<TlsConfig>,
    /// Data retention (ILM policies), installed with the templates.
    #[serde(default)]
    pub retention: RetentionConfig,
    /// Install ILM policies and index templates at startup (only when absent or different).
    #[serde(default = "default_true")]
    pub manage_templates: bool,
    /// Retries of a failing request or item before its events are given up as errored;
    /// unset = retry without limit (the sink then stops taking events: backpressure).
    pub max_retries: Option<u32>,
    /// First retry delay; doubles per attempt (with jitter) up to `retry_max_backoff_ms`.
    #[serde(default = "default_initial_backoff_ms")]
    pub retry_initial_backoff_ms: u64,
    /// Longest retry delay.
    #[serde(default = "default_max_backoff_ms")]
    pub retry_max_backoff_ms: u64,
    /// How long one HTTP request may take before it counts as failed (and is retried).
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
}

fn default_id() -> String {
    "auto".to_string()
}
fn default_concurrency() -> usize {
    4
}
fn default_initial_backoff_ms() -> u64 {
    100
}
fn default_max_backoff_ms() -> u64 {
    10_000
}
fn default_request_timeout_secs() -> u64 {
    60
}

/// How each document's `_id` is chosen.
#[derive(Debug, Clone)]
pub enum IdStrategy {
    /// From the event's origin, else a hash of the document.
    Auto,
    /// Elasticsearch assigns ids.
    None,
    /// Rendered from the event.
    Template(Template),
}

/// How each document's target is chosen.
#[derive(Debug, Clone)]
pub enum TargetStrategy {
    DataStream {
        kind: String,
        dataset: Template,
        namespace: Template,
        sync_fields: bool,
    },
    Index(Template),
}

/// The configuration after checks, ready to run.
#[derive(Debug, Clone)]
pub struct CheckedConfig {
    pub endpoints: Vec<reqwest::Url>,
    pub target: TargetStrategy,
    pub id: IdStrategy,
    pub compression: Compression,
    pub max_events: usize,
    pub max_bytes: usize,
    pub batch_timeout: Duration,
    pub concurrency: usize,
    pub auth: Option<Auth>,
    pub tls: Option<TlsConfig>,
    pub retention: RetentionConfig,
    pub manage_templates: bool,
    pub max_retries: Option<u32>,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub request_timeout: Duration,
}

impl ElasticsearchConfig {
    /// Checks everything that can be checked without a cluster.
    pub fn validate(&self) -> Result<CheckedConfig, String> {
        if self.endpoints.is_empty() {
            return Err("`endpoints` must list at least one URL".to_string());
        }
        let mut endpoints = Vec::new();
        for e in &self.endpoints {
            let url = reqwest::Url::parse(e.trim_end_matches('/'))
                .map_err(|err| format!("endpoint `{e}` is not a URL: {err}"))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(format!(
                    "endpoint `{e}` must start with http:// or https://"
                ));
            }
            if !url.username().is_empty() || url.password().is_some() {
                return Err(format!(
                    "endpoint `{}` carries credentials; put them in `auth` instead",
                    url.host_str().unwrap_or("?")
                ));
            }
            endpoints.push(url);
        }
        let target = match self.mode {
            Mode::DataStream => {
                if self.index.is_some() {
                    return Err(
                        "`index` is only used with `mode = \"index\"`; set the mode or use `data_stream`"
                            .to_string(),
                    );
                }
                let ds = &self.data_stream;
                let kind = super::encoder::sanitize_name_part(&ds.kind, "logs");
                if kind != ds.kind {
                    return Err(format!(
                        "`data_stream.type` `{}` is not a valid data stream type (lowercase, no `-`)",
                        ds.kind
                    ));
                }
                TargetStrategy::DataStream {
                    kind,
                    dataset: Template::parse(&ds.dataset)
                        .map_err(|e| format!("`data_stream.dataset`: {e}"))?,
                    namespace: Template::parse(&ds.namespace)
                        .map_err(|e| format!("`data_stream.namespace`: {e}"))?,
                    sync_fields: ds.sync_fields,
                }
            }
            Mode::Index => {
                let Some(index) = &self.index else {
                    return Err("`mode = \"index\"` needs `index` (a name template such as \"logs-%Y.%m.%d\")".to_string());
                };
                TargetStrategy::Index(Template::parse(index).map_err(|e| format!("`index`: {e}"))?)
            }
        };
        let id = match self.id.as_str() {
            "auto" => IdStrategy::Auto,
            "none" => IdStrategy::None,
            other => {
                let t = Template::parse(other).map_err(|e| format!("`id`: {e}"))?;
                if t.is_static() {
                    return Err(format!(
                        "`id` must be `auto`, `none` or a template with a field such as \"{{{{ request_id }}}}\", not the constant `{other}` (every document would overwrite the last)"
                    ));
                }
                IdStrategy::Template(t)
            }
        };
        let auth = match &self.auth {
            None => None,
            Some(a) => match (&a.user, &a.password, &a.api_key) {
                (Some(user), Some(password), None) => Some(Auth::Basic {
                    user: user.clone(),
                    password: password.clone(),
                }),
                (None, None, Some(key)) => Some(Auth::ApiKey(key.clone())),
                _ => {
                    return Err(
                        "`auth` needs either `user` and `password`, or `api_key` alone".to_string(),
                    )
                }
            },
        };
        if self.concurrency == 0 {
            return Err("`concurrency` must be at least 1".to_string());
        }
        if self.batch.max_events == 0 || self.batch.max_bytes == 0 {
            return Err("`batch.max_events` and `batch.max_bytes` must be at least 1".to_string());
        }
        if self.retention.default_days == 0 || self.retention.rules.iter().any(|r| r.days == 0) {
            return Err("retention days must be at least 1".to_string());
        }
        if let Some(tls) = &self.tls {
            if let Some(ca) = &tls.ca_file {
                if !ca.is_file() {
                    return Err(format!(
                        "`tls.ca_file` {} is not a readable file",
                        ca.display()
                    ));
                }
            }
        }
        Ok(CheckedConfig {
            endpoints,
            target,
            id,
            compression: self.compression,
            max_events: self.batch.max_events,
            max_bytes: self.batch.max_bytes,
            batch_timeout: Duration::from_millis(self.batch.timeout_ms.max(1)),
            concurrency: self.concurrency,
            auth,
            tls: self.tls.clone(),
            retention: self.retention.clone(),
            manage_templates: self.manage_templates,
            max_retries: self.max_retries,
            initial_backoff: Duration::from_millis(self.retry_initial_backoff_ms.max(1)),
            max_backoff: Duration::from_millis(
                self.retry_max_backoff_ms
                    .max(self.retry_initial_backoff_ms.max(1)),
            ),
            request_timeout: Duration::from_secs(self.request_timeout_secs.max(1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ElasticsearchConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let c = parse(
            r#"
            endpoints = ["http://localhost:9200"]
            auth = { user = "elastic", password = "hunter2-very-secret" }
            "#,
        )
        .unwrap();
        let checked = c.validate().unwrap();
        let shown = format!("{c:?} {checked:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("elastic"));
        let c = parse(
            r#"
            endpoints = ["http://localhost:9200"]
            auth = { api_key = "c2VjcmV0LWFwaS1rZXk=" }
            "#,
        )
        .unwrap();
        let shown = format!("{c:?} {:?}", c.validate().unwrap());
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
    }

    #[test]
    fn rejects_inconsistent_settings() {
        let err = |t: &str| parse(t).unwrap().validate().unwrap_err();
        assert!(err("endpoints = []").contains("at least one"));
        assert!(err("endpoints = [\"es:9200\"]").contains("http"));
        assert!(err("endpoints = [\"http://u:p@es:9200\"]").contains("auth"));
        assert!(err("endpoints = [\"http://es\"]\nmode = \"index\"").contains("needs `index`"));
        assert!(err("endpoints = [\"http://es\"]\nindex = \"x\"").contains("only used"));
        assert!(err("endpoints = [\"http://es\"]\nid = \"same\"").contains("constant"));
        assert!(err("endpoints = [\"http://es\"]\nauth = { user = \"u\" }").contains("either"));
        assert!(parse("endpoints = [\"http://es\"]\nbogus = 1").is_err());
    }

    #[test]
    fn defaults_match_the_documented_contract() {
        let c = parse("endpoints = [\"http://es:9200\"]").unwrap();
        assert_eq!(c.mode, Mode::DataStream);
        assert_eq!(c.compression, Compression::Gzip);
        assert_eq!(c.batch, BatchConfig::default());
        assert_eq!(c.concurrency, 4);
        assert_eq!(c.retention.default_days, 14);
        assert!(c.manage_templates);
        assert_eq!(c.max_retries, None);
        let checked = c.validate().unwrap();
        assert!(matches!(checked.id, IdStrategy::Auto));
    }
}
