//! The few fields of Kubernetes Pod and Namespace objects the enrichment uses, decoded with
//! plain serde structs (unknown fields are skipped), and their conversion into what the cache
//! keeps: a [`PodMetadata`] whose `kubernetes` object is built once per pod change, so that
//! enriching an event is a merge of ready values, never a walk over the API object.
//!
//! Owner mapping (what `kubernetes.deployment.name` and friends mean) lives here too:
//! the pod's controlling owner reference gives `replicaset`, `daemonset`, `statefulset` or
//! `job`; a ReplicaSet made by a Deployment is named `<deployment>-<pod-template-hash>` and
//! the pod carries that hash as its `pod-template-hash` label, so stripping `-<hash>` from the
//! ReplicaSet name gives the Deployment name exactly (no guess when the label is absent).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::event::{Key, Object, Value};

/// The annotation that drops every event of a pod when `"true"`.
pub const EXCLUDE_ANNOTATION: &str = "logweir.io/exclude";
/// `logweir.io/exclude-<container>: "true"` drops the events of one container of the pod.
pub const EXCLUDE_CONTAINER_ANNOTATION_PREFIX: &str = "logweir.io/exclude-";
/// The label the Deployment controller puts on the pods of each of its ReplicaSets.
const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";
/// On the API's mirror of a static pod: the uid the kubelet uses for it (a hash of its
/// manifest), which is the uid in its `/var/log/pods` directory name.
pub const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// A Pod, as far as the enrichment needs it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PodSpec,
    #[serde(default)]
    pub status: PodStatus,
}

/// A Namespace, as far as the enrichment needs it (its labels).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Namespace {
    #[serde(default)]
    pub metadata: ObjectMeta,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub resource_version: Option<String>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub owner_references: Option<Vec<OwnerReference>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub controller: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default)]
    pub node_name: Option<String>,
    #[serde(default)]
    pub containers: Option<Vec<Container>>,
    #[serde(default)]
    pub init_containers: Option<Vec<Container>>,
    #[serde(default)]
    pub ephemeral_containers: Option<Vec<Container>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Container {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub image: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    #[serde(default, rename = "podIP")]
    pub pod_ip: Option<String>,
}

/// Which parts of a pod's metadata go into events.
#[derive(Debug, Clone)]
pub struct MetadataOptions {
    pub labels: bool,
    pub annotations: bool,
    /// Annotation keys never copied (before dedotting).
    pub exclude_annotations: Vec<String>,
    /// Replace `.` with `_` in label and annotation keys.
    pub dedot_keys: bool,
}

/// What the cache keeps of one pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PodMetadata {
    pub uid: Box<str>,
    pub namespace: Box<str>,
    pub name: Box<str>,
    /// For the mirror of a static pod, the kubelet's uid of it (see [`MIRROR_ANNOTATION`]).
    pub mirror_uid: Option<Box<str>>,
    /// `logweir.io/exclude: "true"`: every event of the pod is dropped.
    pub excluded: bool,
    /// Containers named by `logweir.io/exclude-<container>: "true"`.
    pub excluded_containers: Vec<Box<str>>,
    /// Merged into the event's `kubernetes` object: `namespace`, `pod.{name,uid,ip}`,
    /// `node.name`, `labels`, `annotations`, and the owner fields.
    pub kubernetes: Object,
    /// `(container name, image)`, for `container.image.name`.
    pub images: Vec<(Box<str>, Value)>,
}

impl PodMetadata {
    /// Whether the events of `container` (absent: the pod as a whole) are to be dropped.
    pub fn excludes(&self, container: Option<&str>) -> bool {
        self.excluded
            || container.is_some_and(|c| self.excluded_containers.iter().any(|x| &**x == c))
    }

    /// The image of `container`.
    pub fn image_of(&self, container: &str) -> Option<&Value> {
        self.images
            .iter()
            .find(|(name, _)| &**name == container)
            .map(|(_, image)| image)
    }
}

/// Whether an annotation value switches something on (`"true"`, any case, spaces trimmed).
fn is_true(value: &str) -> bool {
    value.trim().eq_ignore_ascii_case("true")
}

fn text(s: &str) -> Value {
    Value::from(s)
}

fn key(s: &str, dedot: bool) -> Key {
    if dedot && s.contains('.') {
        Key::new(s.replace('.', "_"))
    } else {
        Key::new(s)
    }
}

fn object_of(pairs: impl IntoIterator<Item = (Key, Value)>) -> Object {
    let mut o = Object::new();
    for (k, v) in pairs {
        o.insert(k, v);
    }
    o
}

/// The owner fields of a pod: `(field, name)` pairs such as `("replicaset", "web-5d9f8")`
/// and `("deployment", "web")`, from its controlling owner reference (the first owner if none
/// is marked as controller).
pub fn owner_fields(
    owners: &[OwnerReference],
    pod_template_hash: Option<&str>,
) -> Vec<(&'static str, String)> {
    let Some(owner) = owners
        .iter()
        .find(|o| o.controller == Some(true))
        .or_else(|| owners.first())
    else {
        return Vec::new();
    };
    if owner.name.is_empty() {
        return Vec::new();
    }
    match owner.kind.as_str() {
        "ReplicaSet" => {
            let mut fields = vec![("replicaset", owner.name.clone())];
            let deployment = pod_template_hash
                .filter(|hash| !hash.is_empty())
                .and_then(|hash| owner.name.strip_suffix(hash))
                .and_then(|rest| rest.strip_suffix('-'))
                .filter(|name| !name.is_empty());
            if let Some(name) = deployment {
                fields.push(("deployment", name.to_string()));
            }
            fields
        }
        "DaemonSet" => vec![("daemonset", owner.name.clone())],
        "StatefulSet" => vec![("statefulset", owner.name.clone())],
        "Job" => vec![("job", owner.name.clone())],
        "ReplicationController" => vec![("replicationcontroller", owner.name.clone())],
        // Static pods are owned by their Node; custom controllers have no ECS field.
        _ => Vec::new(),
    }
}

/// Converts a pod from the API into what the cache keeps; `None` without a uid.
pub fn pod_metadata(pod: Pod, options: &MetadataOptions) -> Option<PodMetadata> {
    let meta = pod.metadata;
    if meta.uid.is_empty() {
        return None;
    }
    let labels = meta.labels.unwrap_or_default();
    let annotations = meta.annotations.unwrap_or_default();
    let excluded = annotations
        .get(EXCLUDE_ANNOTATION)
        .is_some_and(|v| is_true(v));
    let mirror_uid = annotations
        .get(MIRROR_ANNOTATION)
        .filter(|h| !h.is_empty())
        .map(|h| Box::from(h.as_str()));
    let excluded_containers = annotations
        .iter()
        .filter(|(_, v)| is_true(v))
        .filter_map(|(k, _)| k.strip_prefix(EXCLUDE_CONTAINER_ANNOTATION_PREFIX))
        .filter(|c| !c.is_empty())
        .map(Box::from)
        .collect();

    let mut kubernetes = Object::with_capacity(8);
    kubernetes.push_unique(Key::new_static("namespace"), text(&meta.namespace));
    let mut pod_object = Object::with_capacity(3);
    pod_object.push_unique(Key::new_static("name"), text(&meta.name));
    pod_object.push_unique(Key::new_static("uid"), text(&meta.uid));
    if let Some(ip) = pod.status.pod_ip.as_deref().filter(|ip| !ip.is_empty()) {
        pod_object.push_unique(Key::new_static("ip"), text(ip));
    }
    kubernetes.push_unique(Key::new_static("pod"), Value::Object(pod_object));
    if let Some(node) = pod.spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        kubernetes.push_unique(
            Key::new_static("node"),
            Value::Object(object_of([(Key::new_static("name"), text(node))])),
        );
    }
    let owners = meta.owner_references.unwrap_or_default();
    let hash = labels.get(POD_TEMPLATE_HASH_LABEL).map(String::as_str);
    for (field, name) in owner_fields(&owners, hash) {
        kubernetes.push_unique(
            Key::new_static(field),
            Value::Object(object_of([(Key::new_static("name"), Value::from(name))])),
        );
    }
    if options.labels && !labels.is_empty() {
        let o = object_of(
            labels
                .iter()
                .map(|(k, v)| (key(k, options.dedot_keys), text(v))),
        );
        kubernetes.push_unique(Key::new_static("labels"), Value::Object(o));
    }
    if options.annotations {
        let o = object_of(
            annotations
                .iter()
                .filter(|(k, _)| !options.exclude_annotations.iter().any(|x| x == *k))
                .map(|(k, v)| (key(k, options.dedot_keys), text(v))),
        );
        if !o.is_empty() {
            kubernetes.push_unique(Key::new_static("annotations"), Value::Object(o));
        }
    }

    let spec = pod.spec;
    let images = [
        spec.containers,
        spec.init_containers,
        spec.ephemeral_containers,
    ]
    .into_iter()
    .flatten()
    .flatten()
    .filter_map(|c| {
        let image = c.image.filter(|i| !i.is_empty())?;
        Some((Box::from(c.name.as_str()), Value::from(image)))
    })
    .collect();

    Some(PodMetadata {
        uid: meta.uid.into(),
        namespace: meta.namespace.into(),
        name: meta.name.into(),
        mirror_uid,
        excluded,
        excluded_containers,
        kubernetes,
        images,
    })
}

/// The labels of a namespace as they go into `kubernetes.namespace_labels`.
pub fn namespace_labels(namespace: Namespace, dedot: bool) -> (String, Object) {
    let labels = namespace.metadata.labels.unwrap_or_default();
    let o = object_of(labels.iter().map(|(k, v)| (key(k, dedot), text(v))));
    (namespace.metadata.name, o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(kind: &str, name: &str, controller: Option<bool>) -> OwnerReference {
        OwnerReference {
            kind: kind.into(),
            name: name.into(),
            controller,
        }
    }

    fn options() -> MetadataOptions {
        MetadataOptions {
            labels: true,
            annotations: true,
            exclude_annotations: vec!["kubectl.kubernetes.io/last-applied-configuration".into()],
            dedot_keys: true,
        }
    }

    #[test]
    fn replicaset_owner_gives_the_deployment_by_its_pod_template_hash() {
        let rs = [owner("ReplicaSet", "web-api-5d9f8c7b6", Some(true))];
        assert_eq!(
            owner_fields(&rs, Some("5d9f8c7b6")),
            vec![
                ("replicaset", "web-api-5d9f8c7b6".to_string()),
                ("deployment", "web-api".to_string())
            ]
        );
        // A ReplicaSet not made by a Deployment: no hash label, no deployment guessed.
        assert_eq!(
            owner_fields(&rs, None),
            vec![("replicaset", "web-api-5d9f8c7b6".to_string())]
        );
        // A hash that is not the name's suffix is not stripped.
        assert_eq!(owner_fields(&rs, Some("abc")).len(), 1);
        // The hash alone is not a deployment name.
        let bare = [owner("ReplicaSet", "5d9f8c7b6", Some(true))];
        assert_eq!(owner_fields(&bare, Some("5d9f8c7b6")).len(), 1);
        let bare = [owner("ReplicaSet", "-5d9f8c7b6", Some(true))];
        assert_eq!(owner_fields(&bare, Some("5d9f8c7b6")).len(), 1);
    }

    #[test]
    fn other_owner_kinds() {
        for (kind, field) in [
            ("DaemonSet", "daemonset"),
            ("StatefulSet", "statefulset"),
            ("Job", "job"),
            ("ReplicationController", "replicationcontroller"),
        ] {
            assert_eq!(
                owner_fields(&[owner(kind, "x-1", Some(true))], Some("1")),
                vec![(field, "x-1".to_string())],
                "{kind}"
            );
        }
        assert!(owner_fields(&[owner("Node", "node-1", Some(true))], None).is_empty());
        assert!(owner_fields(&[owner("Rollout", "r", Some(true))], None).is_empty());
        assert!(owner_fields(&[], None).is_empty());
        assert!(owner_fields(&[owner("Job", "", Some(true))], None).is_empty());
        // The controller wins over an earlier non-controlling owner.
        let owners = [
            owner("ConfigMap", "cm", None),
            owner("StatefulSet", "db", Some(true)),
        ];
        assert_eq!(
            owner_fields(&owners, None),
            vec![("statefulset", "db".to_string())]
        );
        // Without a controller, the first owner.
        let owners = [
            owner("Job", "j", Some(false)),
            owner("DaemonSet", "d", None),
        ];
        assert_eq!(owner_fields(&owners, None), vec![("job", "j".to_string())]);
    }

    fn kairosdb() -> Pod {
        serde_json::from_value(serde_json::json!({
            "kind": "Pod",
            "metadata": {
                "name": "kairosdb-914055854-b63vq",
                "namespace": "default",
                "uid": "d6c53deb-05a4-11e8-a8c4-080027435fb7",
                "resourceVersion": "25205",
                "labels": {"name": "kairosdb", "pod-template-hash": "914055854", "app.kubernetes.io/part-of": "tsdb"},
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": "{\"huge\": true}",
                    "prometheus.io/scrape": "true",
                    "logweir.io/exclude-sidecar": "True ",
                    "logweir.io/exclude-other": "false"
                },
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "kairosdb-914055854", "uid": "x", "controller": true}]
            },
            "spec": {
                "nodeName": "node-1",
                "containers": [{"name": "kairosdb", "image": "kairosdb:1.1.1"}, {"name": "sidecar", "image": "envoy:1.30"}],
                "initContainers": [{"name": "init", "image": "busybox"}]
            },
            "status": {"podIP": "10.2.39.12", "hostIP": "192.168.10.169", "phase": "Running"}
        }))
        .unwrap()
    }

    #[test]
    fn pod_metadata_builds_the_kubernetes_object_once() {
        let m = pod_metadata(kairosdb(), &options()).unwrap();
        assert_eq!(&*m.uid, "d6c53deb-05a4-11e8-a8c4-080027435fb7");
        assert_eq!(
            (&*m.namespace, &*m.name),
            ("default", "kairosdb-914055854-b63vq")
        );
        assert_eq!(
            Value::Object(m.kubernetes.clone()).to_json(),
            serde_json::json!({
                "namespace": "default",
                "pod": {"name": "kairosdb-914055854-b63vq", "uid": "d6c53deb-05a4-11e8-a8c4-080027435fb7", "ip": "10.2.39.12"},
                "node": {"name": "node-1"},
                "replicaset": {"name": "kairosdb-914055854"},
                "deployment": {"name": "kairosdb"},
                "labels": {"app_kubernetes_io/part-of": "tsdb", "name": "kairosdb", "pod-template-hash": "914055854"},
                "annotations": {
                    "logweir_io/exclude-other": "false",
                    "logweir_io/exclude-sidecar": "True ",
                    "prometheus_io/scrape": "true"
                }
            })
        );
        assert_eq!(m.image_of("sidecar"), Some(&Value::from("envoy:1.30")));
        assert_eq!(m.image_of("init"), Some(&Value::from("busybox")));
        assert_eq!(m.image_of("nope"), None);
        assert!(!m.excluded);
        assert!(m.excludes(Some("sidecar")));
        assert!(!m.excludes(Some("other")));
        assert!(!m.excludes(Some("kairosdb")));
        assert!(!m.excludes(None));
    }

    #[test]
    fn exclude_annotation_and_options() {
        let mut pod = kairosdb();
        pod.metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(EXCLUDE_ANNOTATION.into(), "true".into());
        let opts = MetadataOptions {
            labels: false,
            annotations: false,
            exclude_annotations: Vec::new(),
            dedot_keys: false,
        };
        let m = pod_metadata(pod.clone(), &opts).unwrap();
        assert!(m.excluded && m.excludes(None) && m.excludes(Some("kairosdb")));
        assert!(m.kubernetes.get("labels").is_none());
        assert!(m.kubernetes.get("annotations").is_none());
        // Keys keep their dots without dedot.
        let opts = MetadataOptions {
            labels: true,
            ..opts
        };
        let m = pod_metadata(pod.clone(), &opts).unwrap();
        let labels = m.kubernetes.get("labels").unwrap().as_object().unwrap();
        assert!(labels.get("app.kubernetes.io/part-of").is_some());
        // "false" and other values do not exclude.
        for value in ["false", "yes", ""] {
            pod.metadata
                .annotations
                .as_mut()
                .unwrap()
                .insert(EXCLUDE_ANNOTATION.into(), value.into());
            assert!(!pod_metadata(pod.clone(), &options()).unwrap().excluded);
        }
    }

    #[test]
    fn sparse_and_null_fields_are_tolerated() {
        let pod: Pod = serde_json::from_str(
            r#"{"metadata":{"name":"p","namespace":"n","uid":"u","labels":null,"annotations":null,"ownerReferences":null},"spec":{"containers":null},"status":{}}"#,
        )
        .unwrap();
        let m = pod_metadata(pod, &options()).unwrap();
        assert_eq!(
            Value::Object(m.kubernetes).to_json(),
            serde_json::json!({"namespace": "n", "pod": {"name": "p", "uid": "u"}})
        );
        let no_uid: Pod = serde_json::from_str(r#"{"metadata":{"name":"p"}}"#).unwrap();
        assert!(pod_metadata(no_uid, &options()).is_none());
    }

    #[test]
    fn namespace_labels_are_dedotted() {
        let ns: Namespace = serde_json::from_str(
            r#"{"kind":"Namespace","metadata":{"name":"core","labels":{"kubernetes.io/metadata.name":"core","team":"a"}},"spec":{}}"#,
        )
        .unwrap();
        let (name, labels) = namespace_labels(ns, true);
        assert_eq!(name, "core");
        assert_eq!(
            Value::Object(labels).to_json(),
            serde_json::json!({"kubernetes_io/metadata_name": "core", "team": "a"})
        );
    }
}
