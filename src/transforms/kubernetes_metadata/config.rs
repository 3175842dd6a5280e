//! What the user writes in `[transforms.<id>] type = "kubernetes_metadata"`, and how it is
//! built.
//!
//! Building checks the options only. The environment (node name, API address, token, CA) is
//! read, and the watcher started, only when the transform is built inside the tokio runtime
//! of a running pipeline: `logweir validate` and `logweir test` build it without one, and
//! there it passes events through unchanged.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Deserialize;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::topology::Transform;

use super::cache::MetadataCache;
use super::client::{parse_endpoint, ApiClient, Connection};
use super::pod::MetadataOptions;
use super::watcher::{self, CacheGauges, NamespaceStore, PodStore, Reflector, Reporter};
use super::KubernetesMetadata;

/// Adds pod metadata from the Kubernetes API to events carrying `kubernetes.pod.uid` or
/// `kubernetes.namespace` + `kubernetes.pod.name`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubernetesMetadataConfig {
    /// The API server, e.g. `https://10.96.0.1:443` or `http://127.0.0.1:8001` (`kubectl
    /// proxy`). Default: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`, as set
    /// in every pod.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// File holding the bearer token, re-read every minute (tokens rotate). Default:
    /// `/var/run/secrets/kubernetes.io/serviceaccount/token` when it exists, else no token.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// PEM file of the CA that signed the API server's certificate. Default:
    /// `/var/run/secrets/kubernetes.io/serviceaccount/ca.crt` when it exists (https only).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The node whose pods are watched (`fieldSelector=spec.nodeName=<node_name>`). Default:
    /// the `NODE_NAME` environment variable (the DaemonSet sets it from `spec.nodeName`).
    #[serde(default)]
    pub node_name: Option<String>,
    /// Add `kubernetes.labels.*`.
    #[serde(default = "yes")]
    pub labels: bool,
    /// Add `kubernetes.annotations.*`.
    #[serde(default = "yes")]
    pub annotations: bool,
    /// Annotations never added (exact keys). Default: kubectl's
    /// `last-applied-configuration`, a copy of the whole manifest.
    #[serde(default = "default_exclude_annotations")]
    pub exclude_annotations: Vec<String>,
    /// Add `kubernetes.namespace_labels.*`: one more LIST + WATCH, of namespaces (cluster
    /// wide; needs `list`/`watch` on namespaces).
    #[serde(default)]
    pub namespace_labels: bool,
    /// Replace `.` with `_` in label and annotation keys (`app.kubernetes.io/name` →
    /// `app_kubernetes_io/name`), so Elasticsearch does not read `app` and
    /// `app.kubernetes.io/name` as a value and an object at the same path.
    #[serde(default = "yes")]
    pub dedot_keys: bool,
    /// How long a deleted pod's metadata is kept, so lines read after the deletion are still
    /// enriched (seconds).
    #[serde(default = "default_delete_grace_secs")]
    pub delete_grace_secs: u64,
    /// Most pods cached, deleted ones in their grace period included (the oldest deleted
    /// ones make room first).
    #[serde(default = "default_max_cached")]
    pub max_cached_pods: usize,
    /// Most namespaces cached (`namespace_labels = true`).
    #[serde(default = "default_max_cached")]
    pub max_cached_namespaces: usize,
}

fn yes() -> bool {
    true
}

fn default_exclude_annotations() -> Vec<String> {
    vec!["kubectl.kubernetes.io/last-applied-configuration".to_string()]
}

fn default_delete_grace_secs() -> u64 {
    300
}

fn default_max_cached() -> usize {
    5000
}

impl KubernetesMetadataConfig {
    fn check(&self) -> Result<(), String> {
        if let Some(e) = &self.endpoint {
            parse_endpoint(e).map_err(|e| e.to_string())?;
        }
        if self.max_cached_pods == 0 || self.max_cached_namespaces == 0 {
            return Err("max_cached_pods and max_cached_namespaces must be at least 1".into());
        }
        if self.node_name.as_deref() == Some("") {
            return Err("node_name is empty".into());
        }
        Ok(())
    }

    /// Which parts of a pod go into events.
    pub fn metadata_options(&self) -> MetadataOptions {
        MetadataOptions {
            labels: self.labels,
            annotations: self.annotations,
            exclude_annotations: self.exclude_annotations.clone(),
            dedot_keys: self.dedot_keys,
        }
    }

    /// An empty cache sized by the options.
    pub fn new_cache(&self) -> Arc<RwLock<MetadataCache>> {
        Arc::new(RwLock::new(MetadataCache::new(
            self.max_cached_pods,
            self.max_cached_namespaces,
            Duration::from_secs(self.delete_grace_secs),
        )))
    }

    pub fn build(&self, id: &str) -> Result<Box<dyn Transform>, String> {
        self.check()?;
        let cache = self.new_cache();
        let watcher = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                Some(self.start_watcher(id, &runtime, &cache, |k| std::env::var(k).ok())?)
            }
            Err(_) => None,
        };
        let active = watcher.is_some();
        Ok(Box::new(KubernetesMetadata::new(
            id, cache, active, watcher,
        )))
    }

    /// A transform reading `cache`, with no watcher: for benchmarks and tests that fill the
    /// cache themselves.
    pub fn build_with_cache(
        &self,
        id: &str,
        cache: Arc<RwLock<MetadataCache>>,
    ) -> Result<KubernetesMetadata, String> {
        self.check()?;
        Ok(KubernetesMetadata::new(id, cache, true, None))
    }

    /// Resolves the connection and spawns the watcher tasks; they stop when the returned
    /// guard is dropped (with the transform).
    fn start_watcher(
        &self,
        id: &str,
        runtime: &tokio::runtime::Handle,
        cache: &Arc<RwLock<MetadataCache>>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<DropGuard, String> {
        let node = match &self.node_name {
            Some(n) => n.clone(),
            None => env("NODE_NAME").filter(|n| !n.is_empty()).ok_or(
                "no node name: set `node_name`, or NODE_NAME in the environment (from the downward API: spec.nodeName)",
            )?,
        };
        let connection = Connection::resolve(
            self.endpoint.as_deref(),
            self.token_file.as_deref(),
            self.ca_file.as_deref(),
            &env,
        )
        .map_err(|e| e.to_string())?;
        let client = Arc::new(ApiClient::new(&connection).map_err(|e| e.to_string())?);
        tracing::info!(component_id = %id, endpoint = %connection.endpoint, node = %node, "watching the pods of this node");
        let cancel = CancellationToken::new();
        let reporter = Reporter {
            component_id: id.to_string(),
        };
        let cache_full = crate::internal_metrics::component_errors(
            id,
            "transform",
            "kubernetes_metadata",
            "kubernetes_cache_full",
        );
        let gauges = CacheGauges::new(id);
        let pods = Reflector {
            client: Arc::clone(&client),
            path: "/api/v1/pods",
            resource: "pods",
            field_selector: Some(format!("spec.nodeName={node}")),
            store: PodStore {
                cache: Arc::clone(cache),
                options: self.metadata_options(),
                gauges: gauges.clone(),
                component_id: id.to_string(),
                cache_full: cache_full.clone(),
            },
            reporter: reporter.clone(),
        };
        runtime.spawn(pods.run(cancel.clone()));
        if self.namespace_labels {
            let namespaces = Reflector {
                client,
                path: "/api/v1/namespaces",
                resource: "namespaces",
                field_selector: None,
                store: NamespaceStore {
                    cache: Arc::clone(cache),
                    dedot_keys: self.dedot_keys,
                    component_id: id.to_string(),
                    cache_full,
                },
                reporter,
            };
            runtime.spawn(namespaces.run(cancel.clone()));
        }
        runtime.spawn(watcher::expire_deleted(
            Arc::clone(cache),
            gauges,
            cancel.clone(),
        ));
        Ok(cancel.drop_guard())
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::test_support::config;
    use super::super::super::TransformConfig;
    use super::*;

    fn parse(options: &str) -> Result<KubernetesMetadataConfig, String> {
        match config("kubernetes_metadata", options)? {
            TransformConfig::KubernetesMetadata(c) => Ok(*c),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults_and_unknown_keys() {
        let c = parse("").unwrap();
        assert_eq!(c.endpoint, None);
        assert!(c.labels && c.annotations && c.dedot_keys && !c.namespace_labels);
        assert_eq!(c.delete_grace_secs, 300);
        assert_eq!(c.max_cached_pods, 5000);
        assert_eq!(
            c.exclude_annotations,
            ["kubectl.kubernetes.io/last-applied-configuration"]
        );
        let e = parse("nodename = \"x\"").unwrap_err();
        assert!(e.contains("unknown field `nodename`"), "{e}");
    }

    #[test]
    fn build_checks_options_but_not_the_environment_without_a_runtime() {
        // No runtime, no NODE_NAME, no API: builds (validate, logweir test) and passes
        // events through unchanged.
        let mut t = parse("").unwrap().build("k").unwrap();
        let event = super::super::super::test_support::json(
            serde_json::json!({"kubernetes": {"pod": {"uid": "u"}}}),
        );
        let before = event.fields.clone();
        let out = super::super::super::test_support::run(t.as_mut(), vec![event]);
        assert_eq!(out[0].fields, before);
        for (options, message) in [
            ("endpoint = \"ftp://x\"", "scheme"),
            ("max_cached_pods = 0", "at least 1"),
            ("node_name = \"\"", "empty"),
        ] {
            let e = parse(options).unwrap().build("k").err().unwrap();
            assert!(e.contains(message), "{options}: {e}");
        }
    }

    #[tokio::test]
    async fn starting_needs_a_node_and_an_endpoint() {
        let runtime = tokio::runtime::Handle::current();
        let c = parse("").unwrap();
        let cache = c.new_cache();
        let e = c
            .start_watcher("k", &runtime, &cache, |_| None)
            .err()
            .unwrap();
        assert!(e.contains("NODE_NAME"), "{e}");
        let e = c
            .start_watcher("k", &runtime, &cache, |k| {
                (k == "NODE_NAME").then(|| "n1".to_string())
            })
            .err()
            .unwrap();
        assert!(e.contains("KUBERNETES_SERVICE_HOST"), "{e}");
        let c = parse("endpoint = \"http://127.0.0.1:1\"\nnode_name = \"n1\"\ntoken_file = \"/nonexistent/token\"").unwrap();
        let e = c
            .start_watcher("k", &runtime, &cache, |_| None)
            .err()
            .unwrap();
        assert!(e.contains("/nonexistent/token"), "{e}");
        let c = parse("endpoint = \"http://127.0.0.1:1\"\nnode_name = \"n1\"").unwrap();
        // Started; dropping the guard stops the tasks.
        drop(c.start_watcher("k", &runtime, &cache, |_| None).unwrap());
    }
}
