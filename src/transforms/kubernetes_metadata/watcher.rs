//! The background tasks that keep the cache current: one reflector (LIST, then WATCH from the
//! list's resource version) per watched resource — pods of this node, and namespaces when
//! their labels are wanted — and a ticker that expires deleted pods after the grace period.
//!
//! The reflector's states:
//! - no resource version: LIST (every page; the first one from the API server's watch cache,
//!   `resourceVersion=0`, as informers do), replace the cache's live set, continue from the
//!   list's resource version;
//! - a resource version: WATCH from it, apply each event and remember its resource version
//!   (bookmarks included), until the server ends the watch (`timeoutSeconds`): WATCH again
//!   from the last version;
//! - `410 Gone` (as the answer, or as an `ERROR` event): the version left the server's
//!   history, so LIST again, consistently (not from the cache, which may be behind);
//! - any other failure: count it, log it, wait (exponential backoff with jitter, 0.5 s doubling
//!   to 30 s; reset by a successful LIST or a watch that delivered events), then retry what
//!   failed.
//!
//! Cache writes take the lock only to insert what was already decoded; the transform never
//! waits for the network, only (briefly) for such an insert.

use std::sync::{Arc, RwLock, RwLockWriteGuard};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::event::Object;

use super::cache::MetadataCache;
use super::client::{ApiClient, ApiError, Status, WatchLine};
use super::pod::{self, MetadataOptions, Namespace, Pod};

/// The cache shared by the transform and the watcher.
pub type SharedCache = Arc<RwLock<MetadataCache>>;

/// The write side of the shared cache (a poisoned lock is still usable: every write leaves
/// the cache consistent before anything can panic).
pub fn write(cache: &SharedCache) -> RwLockWriteGuard<'_, MetadataCache> {
    cache.write().unwrap_or_else(|e| e.into_inner())
}

const BACKOFF_INITIAL: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long the server keeps a WATCH open (plus up to a minute of jitter, so the agents of
/// a cluster do not all reconnect at once).
const WATCH_SECONDS: u64 = 240;
/// How often deleted pods past their grace period are dropped.
pub const EXPIRE_EVERY: Duration = Duration::from_secs(1);

/// Exponential backoff with jitter.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            next: BACKOFF_INITIAL,
        }
    }
}

impl Backoff {
    /// The next wait: between half and all of the current step, which then doubles.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        step / 2 + step.mul_f64(rand::random::<f64>() / 2.0)
    }

    pub fn reset(&mut self) {
        self.next = BACKOFF_INITIAL;
    }
}

/// What a reflector keeps its objects in.
pub trait Store: Send + Sync + 'static {
    type Object: DeserializeOwned + Send;
    /// A complete LIST: the live set is exactly `items`.
    fn replace(&self, items: Vec<Self::Object>);
    /// An `ADDED`/`MODIFIED` (`deleted = false`) or `DELETED` event.
    fn apply(&self, object: Self::Object, deleted: bool);
    fn resource_version(object: &Self::Object) -> Option<&str>;
}

/// Counters and logs of one component's watchers.
#[derive(Debug, Clone)]
pub struct Reporter {
    pub component_id: String,
}

impl Reporter {
    fn error(&self, resource: &str, error: &ApiError, retry_in: Duration) {
        crate::internal_metrics::component_errors(
            &self.component_id,
            "transform",
            "kubernetes_metadata",
            error.error_type(),
        )
        .increment(1);
        tracing::warn!(
            component_id = %self.component_id,
            resource,
            error = %error,
            retry_in_ms = retry_in.as_millis() as u64,
            "kubernetes api request failed; events pass through with the metadata cached so far"
        );
    }
}

/// LIST + WATCH of one resource into a [`Store`].
pub struct Reflector<S: Store> {
    pub client: Arc<ApiClient>,
    /// `/api/v1/pods`, `/api/v1/namespaces`.
    pub path: &'static str,
    /// `pods`, `namespaces` (for logs).
    pub resource: &'static str,
    pub field_selector: Option<String>,
    pub store: S,
    pub reporter: Reporter,
}

/// How one step of the reflector ended.
enum Step {
    Listed(usize),
    /// The server ended the watch; how many events it delivered.
    WatchEnded(usize),
}

impl<S: Store> Reflector<S> {
    /// Runs until `cancel` fires.
    pub async fn run(self, cancel: CancellationToken) {
        let mut backoff = Backoff::default();
        let mut version: Option<String> = None;
        // The first LIST may come from the API server's cache; one after a 410 must not.
        let mut consistent_list = false;
        let mut listed_once = false;
        loop {
            let started = Instant::now();
            let step = tokio::select! {
                () = cancel.cancelled() => return,
                step = self.step(&mut version, consistent_list) => step,
            };
            let wait = match step {
                Ok(Step::Listed(n)) => {
                    backoff.reset();
                    consistent_list = false;
                    if !listed_once {
                        listed_once = true;
                        tracing::info!(component_id = %self.reporter.component_id, resource = self.resource, objects = n, "kubernetes metadata cache filled");
                    }
                    continue;
                }
                Ok(Step::WatchEnded(events)) if events > 0 => {
                    backoff.reset();
                    continue;
                }
                // A watch the server ended at once without events: do not spin on it.
                Ok(Step::WatchEnded(_)) if started.elapsed() < Duration::from_secs(1) => {
                    backoff.next_delay()
                }
                Ok(Step::WatchEnded(_)) => continue,
                Err(ApiError::Gone) => {
                    tracing::info!(component_id = %self.reporter.component_id, resource = self.resource, "resource version expired; listing again");
                    version = None;
                    consistent_list = true;
                    continue;
                }
                Err(e) => {
                    let wait = backoff.next_delay();
                    self.reporter.error(self.resource, &e, wait);
                    wait
                }
            };
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn step(
        &self,
        version: &mut Option<String>,
        consistent_list: bool,
    ) -> Result<Step, ApiError> {
        let selector = self.field_selector.as_deref();
        let Some(from) = version.clone() else {
            let (items, list_version) = self
                .client
                .list::<S::Object>(self.path, selector, !consistent_list)
                .await?;
            let n = items.len();
            self.store.replace(items);
            *version = Some(list_version);
            return Ok(Step::Listed(n));
        };
        let seconds = WATCH_SECONDS + (rand::random::<u64>() % 60);
        let mut stream = self
            .client
            .watch(self.path, selector, &from, seconds)
            .await?;
        let mut events = 0;
        while let Some(line) = stream.next().await? {
            events += 1;
            if let Some(v) = self.apply(line)? {
                *version = Some(v);
            }
        }
        Ok(Step::WatchEnded(events))
    }

    /// Applies one WATCH event; returns its resource version.
    fn apply(&self, line: WatchLine) -> Result<Option<String>, ApiError> {
        let decode = |e: serde_json::Error| ApiError::Decode {
            what: "watch",
            message: e.to_string(),
        };
        match line.event_type.as_str() {
            "ADDED" | "MODIFIED" | "DELETED" => {
                let object: S::Object = serde_json::from_value(line.object).map_err(decode)?;
                let version = S::resource_version(&object).map(str::to_string);
                self.store.apply(object, line.event_type == "DELETED");
                Ok(version)
            }
            "BOOKMARK" => Ok(line
                .object
                .pointer("/metadata/resourceVersion")
                .and_then(|v| v.as_str())
                .map(str::to_string)),
            "ERROR" => {
                let status: Status = serde_json::from_value(line.object).map_err(decode)?;
                if status.code == 410 {
                    return Err(ApiError::Gone);
                }
                Err(ApiError::Status {
                    status: status.code,
                    what: "watch",
                    message: status.message,
                })
            }
            other => Err(ApiError::Decode {
                what: "watch",
                message: format!("unknown event type `{other}`"),
            }),
        }
    }
}

/// Gauges of the pod cache.
#[derive(Debug, Clone)]
pub struct CacheGauges {
    pub live: metrics::Gauge,
    pub deleted: metrics::Gauge,
}

impl CacheGauges {
    pub fn new(component_id: &str) -> CacheGauges {
        let gauge = |state: &str| {
            let mut labels = crate::internal_metrics::component_labels(
                component_id,
                "transform",
                "kubernetes_metadata",
            );
            labels.push(("state", state.to_string()));
            metrics::gauge!(
                crate::internal_metrics::KUBERNETES_METADATA_CACHED_PODS,
                &labels
            )
        };
        CacheGauges {
            live: gauge("live"),
            deleted: gauge("deleted"),
        }
    }

    pub fn publish(&self, cache: &MetadataCache) {
        self.live.set(cache.pods.live_len() as f64);
        self.deleted.set(cache.pods.deleted_len() as f64);
    }
}

/// Pods into the cache.
pub struct PodStore {
    pub cache: SharedCache,
    pub options: MetadataOptions,
    pub gauges: CacheGauges,
    pub component_id: String,
    pub cache_full: metrics::Counter,
}

impl PodStore {
    fn warn_full(&self, uid: &str, e: &super::cache::CacheFull) {
        self.cache_full.increment(1);
        tracing::warn!(component_id = %self.component_id, pod_uid = uid, error = %e, "pod not cached; its events pass through unenriched (raise max_cached_pods)");
    }
}

impl Store for PodStore {
    type Object = Pod;

    fn replace(&self, pods: Vec<Pod>) {
        let metas: Vec<_> = pods
            .into_iter()
            .filter_map(|p| pod::pod_metadata(p, &self.options))
            .collect();
        let listed: Vec<Box<str>> = metas.iter().map(|m| m.uid.clone()).collect();
        let now = Instant::now();
        let mut cache = write(&self.cache);
        // Missing pods first, so their room can go to the listed ones.
        cache.pods.tombstone_missing(&listed, now);
        for meta in metas {
            let uid = meta.uid.clone();
            if let Err(e) = cache.pods.upsert(meta) {
                self.warn_full(&uid, &e);
            }
        }
        cache.pods_synced = true;
        self.gauges.publish(&cache);
    }

    fn apply(&self, pod: Pod, deleted: bool) {
        if deleted {
            let mut cache = write(&self.cache);
            cache.pods.delete(&pod.metadata.uid, Instant::now());
            self.gauges.publish(&cache);
            return;
        }
        let Some(meta) = pod::pod_metadata(pod, &self.options) else {
            return;
        };
        let uid = meta.uid.clone();
        let mut cache = write(&self.cache);
        if let Err(e) = cache.pods.upsert(meta) {
            drop(cache);
            self.warn_full(&uid, &e);
            return;
        }
        self.gauges.publish(&cache);
    }

    fn resource_version(pod: &Pod) -> Option<&str> {
        pod.metadata.resource_version.as_deref()
    }
}

/// Namespace labels into the cache.
pub struct NamespaceStore {
    pub cache: SharedCache,
    pub dedot_keys: bool,
    pub component_id: String,
    pub cache_full: metrics::Counter,
}

impl NamespaceStore {
    fn upsert(&self, cache: &mut MetadataCache, name: &str, labels: Object) {
        if let Err(e) = cache.namespaces.upsert(name, labels) {
            self.cache_full.increment(1);
            tracing::warn!(component_id = %self.component_id, namespace = name, error = %e, "namespace labels not cached (raise max_cached_namespaces)");
        }
    }
}

impl Store for NamespaceStore {
    type Object = Namespace;

    fn replace(&self, namespaces: Vec<Namespace>) {
        let labels: Vec<(String, Object)> = namespaces
            .into_iter()
            .map(|n| pod::namespace_labels(n, self.dedot_keys))
            .collect();
        let listed: Vec<Box<str>> = labels.iter().map(|(n, _)| n.as_str().into()).collect();
        let now = Instant::now();
        let mut cache = write(&self.cache);
        cache.namespaces.tombstone_missing(&listed, now);
        for (name, l) in labels {
            self.upsert(&mut cache, &name, l);
        }
    }

    fn apply(&self, namespace: Namespace, deleted: bool) {
        let (name, labels) = pod::namespace_labels(namespace, self.dedot_keys);
        let mut cache = write(&self.cache);
        if deleted {
            cache.namespaces.delete(&name, Instant::now());
        } else {
            self.upsert(&mut cache, &name, labels);
        }
    }

    fn resource_version(namespace: &Namespace) -> Option<&str> {
        namespace.metadata.resource_version.as_deref()
    }
}

/// Drops deleted pods and namespaces past their grace period, every [`EXPIRE_EVERY`].
pub async fn expire_deleted(cache: SharedCache, gauges: CacheGauges, cancel: CancellationToken) {
    let mut ticker = tokio::time::interval(EXPIRE_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let now = Instant::now();
        let mut cache = write(&cache);
        cache.pods.expire(now);
        cache.namespaces.expire(now);
        gauges.publish(&cache);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_bound_with_jitter_and_resets() {
        let mut b = Backoff::default();
        let first = b.next_delay();
        assert!(first >= BACKOFF_INITIAL / 2 && first <= BACKOFF_INITIAL);
        let mut last = first;
        for _ in 0..20 {
            last = b.next_delay();
            assert!(last <= BACKOFF_MAX);
        }
        assert!(last >= BACKOFF_MAX / 2);
        b.reset();
        assert!(b.next_delay() <= BACKOFF_INITIAL);
    }

    struct Recorded(std::sync::Mutex<Vec<(String, bool)>>);

    impl Store for Recorded {
        type Object = Pod;
        fn replace(&self, _: Vec<Pod>) {}
        fn apply(&self, pod: Pod, deleted: bool) {
            self.0.lock().unwrap().push((pod.metadata.name, deleted));
        }
        fn resource_version(pod: &Pod) -> Option<&str> {
            pod.metadata.resource_version.as_deref()
        }
    }

    fn reflector() -> Reflector<Recorded> {
        let connection = super::super::client::Connection {
            endpoint: super::super::client::parse_endpoint("http://127.0.0.1:1").unwrap(),
            ca_file: None,
            token_file: None,
        };
        Reflector {
            client: Arc::new(ApiClient::new(&connection).unwrap()),
            path: "/api/v1/pods",
            resource: "pods",
            field_selector: None,
            store: Recorded(std::sync::Mutex::new(Vec::new())),
            reporter: Reporter {
                component_id: "k8s".into(),
            },
        }
    }

    fn line(text: &str) -> WatchLine {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn watch_events_are_applied_and_their_versions_kept() {
        let r = reflector();
        let v = r
            .apply(line(
                r#"{"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"a","uid":"1","resourceVersion":"10"}}}"#,
            ))
            .unwrap();
        assert_eq!(v.as_deref(), Some("10"));
        let v = r
            .apply(line(
                r#"{"type":"DELETED","object":{"kind":"Pod","metadata":{"name":"a","uid":"1","resourceVersion":"12"}}}"#,
            ))
            .unwrap();
        assert_eq!(v.as_deref(), Some("12"));
        let v = r
            .apply(line(
                r#"{"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"15"}}}"#,
            ))
            .unwrap();
        assert_eq!(v.as_deref(), Some("15"));
        assert_eq!(
            *r.store.0.lock().unwrap(),
            vec![("a".to_string(), false), ("a".to_string(), true)]
        );
    }

    #[test]
    fn an_expired_version_in_the_stream_asks_for_a_new_list() {
        let r = reflector();
        let gone = r.apply(line(
            r#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410}}"#,
        ));
        assert!(matches!(gone, Err(ApiError::Gone)));
        let other = r.apply(line(
            r#"{"type":"ERROR","object":{"kind":"Status","status":"Failure","message":"internal","code":500}}"#,
        ));
        assert!(matches!(other, Err(ApiError::Status { status: 500, .. })));
        assert!(matches!(
            r.apply(line(r#"{"type":"WHAT","object":{}}"#)),
            Err(ApiError::Decode { .. })
        ));
        assert!(matches!(
            r.apply(line(r#"{"type":"ADDED","object":{"metadata":{"name":7}}}"#)),
            Err(ApiError::Decode { .. })
        ));
    }
}
