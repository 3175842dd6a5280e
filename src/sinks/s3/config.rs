//! What the user writes for an `s3` sink, and the connection settings shared with the
//! `s3_archive` source (bucket, region, endpoint, credentials, retries).
//!
//! Secrets are held in [`Secret`], whose `Debug` never shows them, so a config printed in a
//! log or an error cannot leak a key.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use serde::Deserialize;

use super::encoder::Compression;

/// A credential that must never be printed.
#[derive(Clone, Default, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(transparent)]
#[schemars(rename = "S3Secret")]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for handing to a signer; never format it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where and as whom to talk to S3. Built from the sink's or the source's table.
#[derive(Debug, Clone, PartialEq)]
pub struct S3Connection {
    pub bucket: String,
    pub region: String,
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
    pub session_token: Option<Secret>,
    pub retry: RetryConfig,
}

impl S3Connection {
    /// Checks what can be checked without the network.
    pub fn validate(&self) -> Result<(), String> {
        if self.bucket.is_empty() {
            return Err("`bucket` must not be empty".to_string());
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return Err(
                "`access_key_id` and `secret_access_key` must be given together".to_string(),
            );
        }
        if let Some(endpoint) = &self.endpoint {
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                return Err(format!(
                    "`endpoint` must start with http:// or https://, found `{endpoint}`"
                ));
            }
        }
        Ok(())
    }

    /// The object_store client: credentials from the config or, when absent, the standard
    /// AWS chain (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, web identity
    /// for IRSA, ECS and EC2 instance metadata). Custom endpoints use path-style addressing.
    pub fn build_store(&self) -> Result<Arc<AmazonS3>, String> {
        self.build_store_with(None::<object_store::client::ReqwestConnector>)
    }

    /// [`build_store`](Self::build_store) whose HTTP requests go through `connector` (the
    /// sink's measured connector) instead of the default reqwest one.
    pub fn build_store_with(
        &self,
        connector: Option<impl object_store::client::HttpConnector>,
    ) -> Result<Arc<AmazonS3>, String> {
        // Client options first: `with_client_options` replaces them all, including the
        // `allow_http` that `with_allow_http` below sets.
        let mut builder = AmazonS3Builder::from_env()
            .with_client_options(
                object_store::ClientOptions::new()
                    .with_timeout(Duration::from_secs(self.retry.request_timeout_secs))
                    .with_connect_timeout(Duration::from_secs(10)),
            )
            .with_bucket_name(&self.bucket)
            .with_region(&self.region);
        if let Some(endpoint) = &self.endpoint {
            builder = builder
                .with_endpoint(endpoint.trim_end_matches('/'))
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        if let (Some(id), Some(secret)) = (&self.access_key_id, &self.secret_access_key) {
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(secret.expose());
            if let Some(token) = &self.session_token {
                builder = builder.with_token(token.expose());
            }
        }
        let retry = object_store::RetryConfig {
            backoff: object_store::BackoffConfig {
                init_backoff: self.retry.initial_backoff(),
                max_backoff: self.retry.max_backoff(),
                base: 2.0,
            },
            max_retries: self.retry.request_retries,
            retry_timeout: Duration::from_secs(self.retry.request_retry_timeout_secs),
        };
        if let Some(connector) = connector {
            builder = builder.with_http_connector(connector);
        }
        builder
            .with_retry(retry)
            .build()
            .map(Arc::new)
            // object_store's build errors name settings, not their values.
            .map_err(|e| format!("cannot configure the S3 client: {e}"))
    }
}

/// Retries of failed uploads: each HTTP request is retried a few times quickly by the client;
/// an upload that still fails is retried as a whole with exponential backoff and jitter.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "S3Retry")]
pub struct RetryConfig {
    /// First backoff of an upload retry, in milliseconds; doubles per attempt (with jitter).
    #[serde(default = "default_initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    /// Longest backoff between upload retries, in seconds.
    #[serde(default = "default_max_backoff_secs")]
    pub max_backoff_secs: u64,
    /// Upload attempts before the events are given up as errored; 0 = retry until shutdown.
    #[serde(default)]
    pub max_attempts: u32,
    /// Quick retries of one HTTP request (throttling, 5xx, network) inside one attempt.
    #[serde(default = "default_request_retries")]
    pub request_retries: usize,
    /// Time bound of those quick retries, in seconds.
    #[serde(default = "default_request_retry_timeout_secs")]
    pub request_retry_timeout_secs: u64,
    /// Timeout of one HTTP request, in seconds.
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
}

impl Default for RetryConfig {
    fn default() -> RetryConfig {
        RetryConfig {
            initial_backoff_ms: default_initial_backoff_ms(),
            max_backoff_secs: default_max_backoff_secs(),
            max_attempts: 0,
            request_retries: default_request_retries(),
            request_retry_timeout_secs: default_request_retry_timeout_secs(),
            request_timeout_secs: default_request_timeout_secs(),
        }
    }
}

impl RetryConfig {
    pub fn initial_backoff(&self) -> Duration {
        Duration::from_millis(self.initial_backoff_ms.max(1))
    }

    pub fn max_backoff(&self) -> Duration {
        Duration::from_secs(self.max_backoff_secs.max(1))
    }
}

fn default_initial_backoff_ms() -> u64 {
    200
}
fn default_max_backoff_secs() -> u64 {
    30
}
fn default_request_retries() -> usize {
    3
}
fn default_request_retry_timeout_secs() -> u64 {
    30
}
fn default_request_timeout_secs() -> u64 {
    120
}

/// When an open batch becomes an object.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "S3Batch")]
pub struct BatchConfig {
    /// Upload when the compressed object reaches this size (bytes).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Upload a batch this many seconds after its first event at the latest.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

impl Default for BatchConfig {
    fn default() -> BatchConfig {
        BatchConfig {
            max_bytes: default_max_bytes(),
            timeout_secs: default_timeout_secs(),
        }
    }
}

fn default_max_bytes() -> u64 {
    100 * 1024 * 1024
}
fn default_timeout_secs() -> u64 {
    300
}

/// One lifecycle rule: objects under `prefix` move to cheaper storage and expire.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LifecycleRuleConfig {
    /// Rule id; defaults to `logweir-<n>` (n = position in the list).
    #[serde(default)]
    pub id: Option<String>,
    /// Key prefix the rule applies to; `""` = the whole bucket.
    #[serde(default)]
    pub prefix: String,
    /// Storage-class transitions, by age in days.
    #[serde(default)]
    pub transitions: Vec<TransitionConfig>,
    /// Delete objects this many days after creation.
    #[serde(default)]
    pub expire_days: Option<u32>,
}

/// Move objects to `storage_class` once they are `days` old.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionConfig {
    /// Age of the objects, in days since they were written.
    pub days: u32,
    /// `STANDARD_IA`, `ONEZONE_IA`, `INTELLIGENT_TIERING`, `GLACIER_IR`, `GLACIER`,
    /// `DEEP_ARCHIVE`.
    pub storage_class: String,
}

/// Archives events as compressed NDJSON objects in an S3 bucket.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3SinkConfig {
    /// Bucket name.
    pub bucket: String,
    /// AWS region (also used to sign requests to S3-compatible stores).
    #[serde(default = "default_region")]
    pub region: String,
    /// Endpoint of an S3-compatible store (`http://127.0.0.1:8333`); path-style addressing.
    /// Absent = AWS S3.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Object key template: `{{ field }}`, strftime of the event's `@timestamp`, and
    /// `{{ uuid }}` (required), a fresh unique id per object. Events are grouped into objects
    /// by the key rendered without the uuid.
    pub key: String,
    /// `gzip` (default), `zstd` or `none`; sets the object's `Content-Encoding`.
    #[serde(default = "default_compression")]
    pub compression: Compression,
    /// When to upload a batch.
    #[serde(default)]
    pub batch: BatchConfig,
    /// Storage class of new objects (`STANDARD`, `STANDARD_IA`, ...); absent = the bucket's
    /// default.
    #[serde(default)]
    pub storage_class: Option<String>,
    /// Lifecycle rules written to the bucket at startup when `manage_lifecycle` is true.
    #[serde(default)]
    pub lifecycle: Vec<LifecycleRuleConfig>,
    /// Make the bucket's lifecycle configuration equal `lifecycle` at startup (replacing
    /// rules not listed there).
    #[serde(default)]
    pub manage_lifecycle: bool,
    /// Static credentials (use `${ENV}` interpolation); absent = the standard AWS chain.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Secret of `access_key_id`; never logged.
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    /// Session token for temporary static credentials.
    #[serde(default)]
    pub session_token: Option<Secret>,
    /// Objects whose compressed size passes this go up as multipart uploads, in parts of this
    /// size uploaded as they fill (min 5 MiB).
    #[serde(default = "default_part_bytes")]
    pub multipart_part_bytes: u64,
    /// Batches (distinct key prefixes) open at once; beyond it the oldest is uploaded early.
    #[serde(default = "default_max_open_batches")]
    pub max_open_batches: usize,
    /// Uploads (objects and parts) in flight at once.
    #[serde(default = "default_max_concurrent_uploads")]
    pub max_concurrent_uploads: usize,
    /// Check at startup that the bucket is reachable with these credentials (a rejected
    /// credential fails the sink; an unreachable store only warns).
    #[serde(default = "default_true")]
    pub healthcheck: bool,
    /// Upload retries.
    #[serde(default)]
    pub retry: RetryConfig,
}

pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;

fn default_region() -> String {
    "us-east-1".to_string()
}
fn default_compression() -> Compression {
    Compression::Gzip
}
fn default_part_bytes() -> u64 {
    8 * 1024 * 1024
}
fn default_max_open_batches() -> usize {
    32
}
fn default_max_concurrent_uploads() -> usize {
    4
}
fn default_true() -> bool {
    true
}

impl S3SinkConfig {
    pub fn connection(&self) -> S3Connection {
        S3Connection {
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            endpoint: self.endpoint.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            session_token: self.session_token.clone(),
            retry: self.retry.clone(),
        }
    }

    /// Checks the options that do not need the network.
    pub fn validate(&self) -> Result<(), String> {
        self.connection().validate()?;
        if self.multipart_part_bytes < MIN_PART_BYTES {
            return Err(format!(
                "`multipart_part_bytes` must be at least {MIN_PART_BYTES} (S3's minimum part size)"
            ));
        }
        if self.batch.max_bytes == 0 {
            return Err("`batch.max_bytes` must be positive".to_string());
        }
        if self.max_open_batches == 0 || self.max_concurrent_uploads == 0 {
            return Err("`max_open_batches` and `max_concurrent_uploads` must be positive".into());
        }
        for (i, rule) in self.lifecycle.iter().enumerate() {
            if rule.transitions.is_empty() && rule.expire_days.is_none() {
                return Err(format!(
                    "lifecycle rule {i} (prefix `{}`) has neither transitions nor expire_days",
                    rule.prefix
                ));
            }
            if rule.expire_days == Some(0) || rule.transitions.iter().any(|t| t.days == 0) {
                return Err(format!(
                    "lifecycle rule {i} (prefix `{}`): days must be at least 1",
                    rule.prefix
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let c: S3SinkConfig = toml::from_str(
            r#"
            bucket = "b"
            key = "{{ uuid }}"
            access_key_id = "AKID"
            secret_access_key = "very-secret-value"
            "#,
        )
        .unwrap();
        let printed = format!("{c:?}");
        assert!(!printed.contains("very-secret-value"), "{printed}");
        assert_eq!(c.compression, Compression::Gzip);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn rejects_small_parts_and_half_credentials() {
        let c: S3SinkConfig =
            toml::from_str("bucket = \"b\"\nkey = \"{{ uuid }}\"\nmultipart_part_bytes = 1000\n")
                .unwrap();
        assert!(c.validate().unwrap_err().contains("multipart_part_bytes"));
        let c: S3SinkConfig =
            toml::from_str("bucket = \"b\"\nkey = \"{{ uuid }}\"\naccess_key_id = \"x\"\n")
                .unwrap();
        assert!(c.validate().unwrap_err().contains("together"));
    }
}
