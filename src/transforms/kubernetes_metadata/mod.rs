//! `kubernetes_metadata` transform: adds pod metadata from the Kubernetes API — labels,
//! annotations, node name, pod IP, the owning Deployment / DaemonSet / StatefulSet / Job,
//! the container image and optionally namespace labels — to events that carry
//! `kubernetes.pod.uid`, or `kubernetes.namespace` + `kubernetes.pod.name` (what the file
//! source reads from container log paths).
//!
//! Files and roles:
//! - `config.rs`: the options and `build`, which starts the watcher;
//! - `watcher.rs`: background tasks — one LIST + WATCH of the pods of this node
//!   (`fieldSelector=spec.nodeName=<node>`), one of namespaces if their labels are wanted,
//!   resource versions followed, a new LIST on `410 Gone`, backoff on errors;
//! - `client.rs`: the HTTP side (endpoint, CA, service-account token, bounded reads);
//! - `cache.rs`: pods by uid and by namespace/name, bounded, deleted pods kept for a grace
//!   period;
//! - `pod.rs`: the Pod fields used and what an event gets from them (owner mapping here).
//!
//! The transform never waits for the network: it reads the cache (one read lock per batch).
//! An event whose pod is not cached — the API has not answered yet, is unreachable, or does
//! not know the pod — passes through unchanged except for the tag
//! `kubernetes_metadata_missing`, counted in `logweir_kubernetes_metadata_misses_total` by
//! `reason` (`not_ready` before the first LIST, `not_found` after). Values already in the
//! event win over the API's. A pod annotated `logweir.io/exclude: "true"` has its events
//! dropped (`logweir.io/exclude-<container>: "true"` drops one container's), finished as
//! `Dropped` and counted as discarded with reason `excluded`.

pub mod cache;
pub mod client;
pub mod config;
pub mod pod;
pub mod watcher;

use std::sync::{Arc, RwLock};

pub use config::KubernetesMetadataConfig;

use crate::event::{Event, EventBatch, FieldPath, Key, Object, Value};
use crate::finalization::EventStatus;
use crate::topology::{Transform, TransformOutput};

use cache::MetadataCache;
use pod::PodMetadata;

/// The tag of events that passed through without metadata.
pub const MISSING_TAG: &str = "kubernetes_metadata_missing";

/// The transform: reads the cache the watcher fills.
pub struct KubernetesMetadata {
    cache: Arc<RwLock<MetadataCache>>,
    image_field: FieldPath,
    misses_not_ready: metrics::Counter,
    misses_not_found: metrics::Counter,
    excluded: metrics::Counter,
    /// Whether a watcher (or the caller) fills the cache. Built without a runtime
    /// (`logweir validate`, `logweir test`), the transform leaves events unchanged.
    active: bool,
    /// Stops the watcher tasks when the transform is dropped.
    _watcher: Option<tokio_util::sync::DropGuard>,
}

/// What the cache says about one event.
enum Lookup {
    /// The event names no pod: not ours to enrich.
    NotKubernetes,
    Missing,
    Found {
        pod: Arc<PodMetadata>,
        excluded: bool,
        image: Option<Value>,
    },
}

fn text_at<'a>(object: &'a Object, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

impl KubernetesMetadata {
    fn new(
        id: &str,
        cache: Arc<RwLock<MetadataCache>>,
        active: bool,
        watcher: Option<tokio_util::sync::DropGuard>,
    ) -> KubernetesMetadata {
        let misses = |reason: &str| {
            let mut labels =
                crate::internal_metrics::component_labels(id, "transform", "kubernetes_metadata");
            labels.push(("reason", reason.to_string()));
            metrics::counter!(crate::internal_metrics::KUBERNETES_METADATA_MISSES, &labels)
        };
        KubernetesMetadata {
            cache,
            image_field: FieldPath::parse("container.image.name").expect("valid path"),
            misses_not_ready: misses("not_ready"),
            misses_not_found: misses("not_found"),
            excluded: crate::internal_metrics::discarded_events(
                id,
                "kubernetes_metadata",
                "excluded",
            ),
            active,
            _watcher: watcher,
        }
    }

    fn lookup(cache: &MetadataCache, event: &Event) -> Lookup {
        let Some(kubernetes) = event.fields.get("kubernetes").and_then(Value::as_object) else {
            return Lookup::NotKubernetes;
        };
        let pod_object = kubernetes.get("pod").and_then(Value::as_object);
        let uid = pod_object.and_then(|p| text_at(p, "uid"));
        let name = pod_object.and_then(|p| text_at(p, "name"));
        let namespace = text_at(kubernetes, "namespace");
        let found = match (uid, namespace, name) {
            // A uid names one pod exactly: no fallback to a namesake, except the API's mirror
            // of a static pod, whose log directory has the kubelet's uid of it.
            (Some(uid), _, _) => cache.pods.by_uid(uid).or_else(|| {
                cache
                    .pods
                    .by_name(namespace?, name?)
                    .filter(|p| p.mirror_uid.as_deref() == Some(uid))
            }),
            (None, Some(namespace), Some(name)) => cache.pods.by_name(namespace, name),
            _ => return Lookup::NotKubernetes,
        };
        let Some(pod) = found else {
            return Lookup::Missing;
        };
        let container = kubernetes
            .get("container")
            .and_then(Value::as_object)
            .and_then(|c| text_at(c, "name"));
        Lookup::Found {
            excluded: pod.excludes(container),
            image: container.and_then(|c| pod.image_of(c)).cloned(),
            pod: Arc::clone(pod),
        }
    }

    fn enrich(&self, event: &mut Event, pod: &PodMetadata, namespace_labels: Option<&Object>) {
        if let Some(Value::Object(kubernetes)) = event.fields.get_mut("kubernetes") {
            merge_missing(kubernetes, &pod.kubernetes);
            if let Some(labels) = namespace_labels {
                if kubernetes.get("namespace_labels").is_none() {
                    kubernetes.push_unique(
                        Key::new_static("namespace_labels"),
                        Value::Object(labels.clone()),
                    );
                }
            }
        }
    }
}

/// Adds the fields of `add` that `target` lacks, descending into objects both have; values
/// already in `target` stay.
fn merge_missing(target: &mut Object, add: &Object) {
    for (key, value) in add.iter() {
        match (target.get_mut(key), value) {
            (Some(Value::Object(inner)), Value::Object(more)) => merge_missing(inner, more),
            (Some(_), _) => {}
            (None, _) => target.push_unique(key.clone(), value.clone()),
        }
    }
}

impl Transform for KubernetesMetadata {
    fn transform(&mut self, batch: EventBatch, output: &mut TransformOutput) {
        output.reserve(batch.len());
        if !self.active {
            for event in batch.events {
                output.push(event);
            }
            return;
        }
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        let (mut missing, mut excluded) = (0, 0);
        for mut event in batch.events {
            match Self::lookup(&cache, &event) {
                Lookup::NotKubernetes => {}
                Lookup::Missing => {
                    event.add_tag(MISSING_TAG);
                    missing += 1;
                }
                Lookup::Found { excluded: true, .. } => {
                    event.finish(EventStatus::Dropped);
                    excluded += 1;
                    continue;
                }
                Lookup::Found { pod, image, .. } => {
                    let namespace_labels = cache.namespaces.get(&pod.namespace);
                    self.enrich(&mut event, &pod, namespace_labels);
                    if let Some(image) = image {
                        if event.get(&self.image_field).is_none() {
                            event.insert(&self.image_field, image);
                        }
                    }
                }
            }
            output.push(event);
        }
        if missing > 0 {
            if cache.pods_synced {
                self.misses_not_found.increment(missing);
            } else {
                self.misses_not_ready.increment(missing);
            }
        }
        self.excluded.increment(excluded);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::super::test_support::{json, run, tracked};
    use super::*;
    use crate::finalization::BatchStatus;

    fn config() -> KubernetesMetadataConfig {
        match super::super::test_support::config("kubernetes_metadata", "namespace_labels = true")
            .unwrap()
        {
            super::super::TransformConfig::KubernetesMetadata(c) => *c,
            _ => unreachable!(),
        }
    }

    fn pod(value: serde_json::Value) -> PodMetadata {
        let pod: pod::Pod = serde_json::from_value(value).unwrap();
        pod::pod_metadata(pod, &config().metadata_options()).unwrap()
    }

    fn web() -> PodMetadata {
        pod(serde_json::json!({
            "metadata": {
                "name": "web-7f9c-abcde", "namespace": "shop", "uid": "uid-web",
                "labels": {"app": "web", "app.kubernetes.io/name": "web", "pod-template-hash": "7f9c"},
                "annotations": {"logweir.io/exclude-istio-proxy": "true"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": "web-7f9c", "controller": true}]
            },
            "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "shop/web:1.4"}, {"name": "istio-proxy", "image": "istio/proxyv2"}]},
            "status": {"podIP": "10.1.2.3"}
        }))
    }

    fn filled() -> (KubernetesMetadata, Arc<RwLock<MetadataCache>>) {
        let c = config();
        let cache = c.new_cache();
        {
            let mut w = watcher::write(&cache);
            w.pods.upsert(web()).unwrap();
            w.pods
                .upsert(pod(serde_json::json!({
                    "metadata": {"name": "noisy", "namespace": "shop", "uid": "uid-noisy",
                                 "annotations": {"logweir.io/exclude": "true"}},
                })))
                .unwrap();
            let mut labels = Object::new();
            labels.insert("team", Value::from("payments"));
            w.namespaces.upsert("shop", labels).unwrap();
            w.pods_synced = true;
        }
        (
            c.build_with_cache("k8s", Arc::clone(&cache)).unwrap(),
            cache,
        )
    }

    fn fields(e: &Event) -> serde_json::Value {
        Value::Object(e.fields.clone()).to_json()
    }

    #[test]
    fn enriches_by_uid_and_by_namespace_and_name() {
        let (mut t, _) = filled();
        let out = run(
            &mut t,
            vec![
                json(
                    serde_json::json!({"message": "a", "kubernetes": {"namespace": "shop", "pod": {"name": "web-7f9c-abcde", "uid": "uid-web"}, "container": {"name": "app"}}}),
                ),
                json(
                    serde_json::json!({"message": "b", "kubernetes": {"namespace": "shop", "pod": {"name": "web-7f9c-abcde"}, "container": {"name": "app"}}, "container": {"id": "c0ffee"}}),
                ),
            ],
        );
        assert_eq!(out.len(), 2);
        for e in &out {
            let f = fields(e);
            let k = &f["kubernetes"];
            assert_eq!(k["pod"]["uid"], "uid-web", "{f}");
            assert_eq!(k["pod"]["ip"], "10.1.2.3");
            assert_eq!(k["node"]["name"], "node-1");
            assert_eq!(k["labels"]["app_kubernetes_io/name"], "web");
            assert_eq!(k["labels"]["app"], "web");
            assert_eq!(k["replicaset"]["name"], "web-7f9c");
            assert_eq!(k["deployment"]["name"], "web");
            assert_eq!(k["namespace_labels"]["team"], "payments");
            assert_eq!(k["container"]["name"], "app");
            assert_eq!(f["container"]["image"]["name"], "shop/web:1.4");
            assert!(!e.has_tag(MISSING_TAG));
        }
        assert_eq!(fields(&out[1])["container"]["id"], "c0ffee");
    }

    #[test]
    fn upstream_values_win() {
        let (mut t, _) = filled();
        let out = run(
            &mut t,
            vec![json(
                serde_json::json!({"kubernetes": {"pod": {"uid": "uid-web", "ip": "192.0.2.9"}, "labels": {"app": "mine"}}}),
            )],
        );
        let f = fields(&out[0]);
        assert_eq!(f["kubernetes"]["pod"]["ip"], "192.0.2.9");
        assert_eq!(f["kubernetes"]["pod"]["name"], "web-7f9c-abcde");
        assert_eq!(f["kubernetes"]["namespace"], "shop");
        assert_eq!(f["kubernetes"]["labels"]["app"], "mine");
        assert_eq!(f["kubernetes"]["labels"]["app_kubernetes_io/name"], "web");
    }

    #[test]
    fn excluded_pods_and_containers_are_dropped_and_finished() {
        let (mut t, _) = filled();
        let (noisy, mut noisy_rx) = tracked(json(
            serde_json::json!({"kubernetes": {"namespace": "shop", "pod": {"name": "noisy"}}}),
        ));
        let (proxy, mut proxy_rx) = tracked(json(
            serde_json::json!({"kubernetes": {"pod": {"uid": "uid-web"}, "container": {"name": "istio-proxy"}}}),
        ));
        let (app, mut app_rx) = tracked(json(
            serde_json::json!({"kubernetes": {"pod": {"uid": "uid-web"}, "container": {"name": "app"}}}),
        ));
        let out = run(&mut t, vec![noisy, proxy, app]);
        assert_eq!(out.len(), 1);
        assert_eq!(fields(&out[0])["kubernetes"]["container"]["name"], "app");
        // Finished as dropped on purpose (a finalizer lost without a status would fail).
        assert_eq!(noisy_rx.try_status(), Some(BatchStatus::Delivered));
        assert_eq!(proxy_rx.try_status(), Some(BatchStatus::Delivered));
        assert_eq!(
            app_rx.try_status(),
            None,
            "the kept event is not finished here"
        );
    }

    #[test]
    fn unknown_pods_pass_through_tagged_and_other_events_untouched() {
        let (mut t, cache) = filled();
        let unknown = serde_json::json!({"message": "x", "kubernetes": {"namespace": "shop", "pod": {"name": "gone", "uid": "uid-gone"}}});
        let plain =
            serde_json::json!({"message": "no kubernetes fields", "kubernetes": {"cluster": "c1"}});
        let out = run(&mut t, vec![json(unknown.clone()), json(plain.clone())]);
        assert_eq!(out.len(), 2);
        assert!(out[0].has_tag(MISSING_TAG));
        let mut expected = unknown.clone();
        expected["tags"] = serde_json::json!([MISSING_TAG]);
        expected["@timestamp"] = fields(&out[0])["@timestamp"].clone();
        assert_eq!(fields(&out[0]), expected);
        assert!(!out[1].has_tag(MISSING_TAG));
        assert_eq!(fields(&out[1])["kubernetes"], plain["kubernetes"]);
        // A uid the cache does not know is a miss even if a pod of that name exists.
        let out = run(
            &mut t,
            vec![json(
                serde_json::json!({"kubernetes": {"namespace": "shop", "pod": {"name": "web-7f9c-abcde", "uid": "other"}}}),
            )],
        );
        assert!(out[0].has_tag(MISSING_TAG));
        assert!(fields(&out[0])["kubernetes"].get("labels").is_none());
        // Before the first LIST everything is a miss.
        watcher::write(&cache).pods_synced = false;
        watcher::write(&cache).pods = cache::PodCache::new(10, Duration::from_secs(1));
        let out = run(
            &mut t,
            vec![json(
                serde_json::json!({"kubernetes": {"pod": {"uid": "uid-web"}}}),
            )],
        );
        assert!(out[0].has_tag(MISSING_TAG));
    }

    #[test]
    fn static_pods_are_found_by_the_kubelets_uid_of_them() {
        let (mut t, cache) = filled();
        let hash = "3f1f2b7c8e9d4a5b6c7d8e9f0a1b2c3d";
        watcher::write(&cache)
            .pods
            .upsert(pod(serde_json::json!({
                "metadata": {"name": "etcd-node-1", "namespace": "kube-system", "uid": "api-uid",
                             "labels": {"component": "etcd"},
                             "annotations": {"kubernetes.io/config.mirror": hash},
                             "ownerReferences": [{"kind": "Node", "name": "node-1", "controller": true}]},
            })))
            .unwrap();
        // As read from /var/log/pods/kube-system_etcd-node-1_<hash>/etcd/0.log.
        let line = |uid: &str| {
            json(
                serde_json::json!({"kubernetes": {"namespace": "kube-system", "pod": {"name": "etcd-node-1", "uid": uid}}}),
            )
        };
        let out = run(&mut t, vec![line(hash), line("another-hash")]);
        let f = fields(&out[0]);
        assert_eq!(f["kubernetes"]["labels"]["component"], "etcd");
        assert_eq!(f["kubernetes"]["pod"]["uid"], hash, "the event's uid stays");
        assert!(out[1].has_tag(MISSING_TAG));
    }

    #[test]
    fn a_deleted_pod_enriches_until_its_grace_period_ends() {
        let (mut t, cache) = filled();
        let line = || json(serde_json::json!({"kubernetes": {"pod": {"uid": "uid-web"}}}));
        let t0 = Instant::now();
        watcher::write(&cache).pods.delete("uid-web", t0);
        let out = run(&mut t, vec![line()]);
        assert!(!out[0].has_tag(MISSING_TAG));
        watcher::write(&cache)
            .pods
            .expire(t0 + Duration::from_secs(300));
        let out = run(&mut t, vec![line()]);
        assert!(out[0].has_tag(MISSING_TAG));
    }
}
