//! Kubernetes pod and container metadata read from a container log file's path.
//!
//! Owns the two kubelet layouts, matched on the last path components only (any prefix
//! directory works, not just `/var/log`; `/` and `\` both separate components):
//!
//! * `…/<namespace>_<pod>_<pod uid>/<container>/<restart count>.log` (`/var/log/pods`), also
//!   rotated names `<n>.log.<suffix>` such as `0.log.20261124-101010` and
//!   `0.log.20261124-101010.gz`: they belong to the same container, and whether to read them
//!   is the file source's decision;
//! * `…/<pod>_<namespace>_<container>-<64 hex container id>.log` (`/var/log/containers`).
//!
//! Kubernetes names cannot contain `_` (DNS-1123), so the `_`-separated parts are split
//! without ambiguity; exactly three non-empty parts are required. Borrowed, no allocation.

/// Metadata borrowed from the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct K8sPathMeta<'a> {
    pub namespace: &'a str,
    pub pod_name: &'a str,
    /// Only in the `/var/log/pods` layout.
    pub pod_uid: Option<&'a str>,
    pub container_name: &'a str,
    /// Only in the `/var/log/containers` layout.
    pub container_id: Option<&'a str>,
}

/// Metadata from a container log file path, or `None` if it matches neither layout.
pub fn from_path(path: &str) -> Option<K8sPathMeta<'_>> {
    let mut components = path.rsplit(['/', '\\']);
    let file = components.next()?;
    if let Some(meta) = containers_layout(file) {
        return Some(meta);
    }
    let container_name = components.next()?;
    let pod_dir = components.next()?;
    pods_layout(pod_dir, container_name, file)
}

/// `<pod>_<namespace>_<container>-<64 hex id>.log`
fn containers_layout(file: &str) -> Option<K8sPathMeta<'_>> {
    let stem = file.strip_suffix(".log")?;
    let dash = stem.len().checked_sub(65)?;
    let (head, id) = (stem.get(..dash)?, stem.get(dash + 1..)?);
    if stem.as_bytes()[dash] != b'-' || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let [pod_name, namespace, container_name] = three_parts(head)?;
    Some(K8sPathMeta {
        namespace,
        pod_name,
        pod_uid: None,
        container_name,
        container_id: Some(id),
    })
}

/// `<namespace>_<pod>_<uid>/<container>/<n>.log[.<rotation suffix>]`
fn pods_layout<'a>(
    pod_dir: &'a str,
    container_name: &'a str,
    file: &str,
) -> Option<K8sPathMeta<'a>> {
    let rest = file.trim_start_matches(|c: char| c.is_ascii_digit());
    if rest.len() == file.len() {
        return None;
    }
    match rest.strip_prefix(".log")? {
        "" => {}
        rotated if rotated.len() > 1 && rotated.starts_with('.') => {}
        _ => return None,
    }
    if container_name.is_empty() || container_name.contains('_') {
        return None;
    }
    let [namespace, pod_name, uid] = three_parts(pod_dir)?;
    if !uid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return None;
    }
    Some(K8sPathMeta {
        namespace,
        pod_name,
        pod_uid: Some(uid),
        container_name,
        container_id: None,
    })
}

/// Exactly three non-empty `_`-separated parts.
fn three_parts(s: &str) -> Option<[&str; 3]> {
    let mut parts = s.split('_');
    let out = [parts.next()?, parts.next()?, parts.next()?];
    if parts.next().is_some() || out.iter().any(|p| p.is_empty()) {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const UID: &str = "50bfc67d-cd3c-410d-9369-8bda8f33b1c7";

    #[test]
    fn pods_layout() {
        let expected = K8sPathMeta {
            namespace: "k8s-fgg",
            pod_name: "rrrr-bert-completion-tb1-6786c9c8-wj25m",
            pod_uid: Some(UID),
            container_name: "tb1",
            container_id: None,
        };
        for file in [
            "0.log",
            "12.log",
            "0.log.20261124-101010",
            "0.log.20261124-101010.gz",
        ] {
            for prefix in [
                "/var/log/pods/",
                "/tmp/.tmpAbC123/",
                "",
                "C:\\var\\log\\pods\\",
            ] {
                let sep = if prefix.contains('\\') { "\\" } else { "/" };
                let path = format!(
                    "{prefix}k8s-fgg_rrrr-bert-completion-tb1-6786c9c8-wj25m_{UID}{sep}tb1{sep}{file}"
                );
                assert_eq!(from_path(&path), Some(expected), "{path}");
            }
        }
        // Static (mirror) pods have a hash as uid.
        let m = from_path(
            "/var/log/pods/kube-system_etcd-node1_3f1f2b7c8e9d4a5b6c7d8e9f0a1b2c3d/etcd/1.log",
        )
        .unwrap();
        assert_eq!(
            (m.namespace, m.pod_name, m.container_name),
            ("kube-system", "etcd-node1", "etcd")
        );
        assert_eq!(m.pod_uid, Some("3f1f2b7c8e9d4a5b6c7d8e9f0a1b2c3d"));
    }

    #[test]
    fn containers_layout() {
        let path = format!("/var/log/containers/fluent-bit-x7k2p_kube-system_fluent-bit-{ID}.log");
        assert_eq!(
            from_path(&path),
            Some(K8sPathMeta {
                namespace: "kube-system",
                pod_name: "fluent-bit-x7k2p",
                pod_uid: None,
                container_name: "fluent-bit",
                container_id: Some(ID),
            })
        );
        // Dotted pod names, dashed container names, any prefix, no prefix.
        let file = format!("web.v2-abc_default_my-app-sidecar-{ID}.log");
        for path in [file.clone(), format!("/tmp/x/{file}")] {
            let m = from_path(&path).unwrap();
            assert_eq!(
                (m.pod_name, m.namespace, m.container_name),
                ("web.v2-abc", "default", "my-app-sidecar")
            );
        }
    }

    #[test]
    fn rejects_other_paths() {
        let short_id = &ID[1..];
        for path in [
            "".to_owned(),
            "/".to_owned(),
            "/var/log/syslog".to_owned(),
            "/var/log/pods/ns_pod_uid/c/x.log".to_owned(),
            "/var/log/pods/ns_pod_uid/c/0.txt".to_owned(),
            "/var/log/pods/ns_pod_uid/c/0.logx".to_owned(),
            "/var/log/pods/ns_pod_uid/c/0.log.".to_owned(),
            "/var/log/pods/ns_pod_uid/c/.log".to_owned(),
            "/var/log/pods/ns_pod/c/0.log".to_owned(),
            "/var/log/pods/ns_pod_uid_x/c/0.log".to_owned(),
            "/var/log/pods/ns__uid/c/0.log".to_owned(),
            "/var/log/pods/ns_pod_u!d/c/0.log".to_owned(),
            "/var/log/pods/ns_pod_uid/c_x/0.log".to_owned(),
            "/var/log/pods/ns_pod_uid//0.log".to_owned(),
            "ns_pod_uid/0.log".to_owned(),
            "0.log".to_owned(),
            format!("/var/log/containers/pod_ns_c-{short_id}.log"),
            format!("/var/log/containers/pod_ns_c-{}.log", ID.replace('a', "g")),
            format!("/var/log/containers/pod_ns_c_{ID}.log"),
            format!("/var/log/containers/pod_ns-c-{ID}.log"),
            format!("/var/log/containers/pod_ns_x_c-{ID}.log"),
            format!("/var/log/containers/_ns_c-{ID}.log"),
            format!("/var/log/containers/pod_ns_-{ID}.log"),
            format!("/var/log/containers/pod_ns_c-{ID}.log.1"),
            format!("/var/log/containers/-{ID}.log"),
            format!("/var/log/containers/é_ns_c-{}.log", &ID[..63]),
        ] {
            assert_eq!(from_path(&path), None, "{path}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(path in "\\PC{0,120}") {
            let _ = from_path(&path);
        }

        #[test]
        fn never_panics_on_near_matches(prefix in "[a-z_/é0-9.-]{0,30}", id in "[0-9a-fé]{60,66}") {
            let _ = from_path(&format!("{prefix}_ns_c-{id}.log"));
            let _ = from_path(&format!("{prefix}/0.log"));
        }
    }
}
