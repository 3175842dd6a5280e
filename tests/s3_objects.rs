//! The `s3` sink against a real SeaweedFS: objects hold exactly the events sent, keys follow
//! the template, batches close on size and time, headers let downloads decompress, and
//! rejected credentials fail clearly without leaking the secret.

mod common;

use std::collections::HashMap;
use std::process::Command;

use common::s3_server::{
    assert_all_seqs, demo_seq, read_objects, SeaweedFs, ACCESS_KEY, SECRET_KEY,
};
use common::{logweir_bin, write_file};

fn run_pipeline(dir: &std::path::Path, config: &str) -> std::process::Output {
    let path = write_file(dir, "pipeline.toml", config);
    Command::new(logweir_bin())
        .args(["run", "-c"])
        .arg(&path)
        .output()
        .expect("run logweir")
}

fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "logweir failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn objects_hold_exactly_the_events_sent_under_templated_keys() {
    let s3 = SeaweedFs::start();
    s3.create_bucket("archive");
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"
data_dir = "{data}"
[sources.demo]
type = "demo"
count = 20000

[sinks.archive]
type = "s3"
inputs = ["demo"]
bucket = "archive"
endpoint = "{endpoint}"
key = "logs/{{{{ kubernetes.namespace }}}}/%Y/%m/%d/%H/{{{{ uuid }}}}.ndjson.gz"
access_key_id = "{ACCESS_KEY}"
secret_access_key = "{SECRET_KEY}"
"#,
        data = dir.path().join("data").display(),
        endpoint = s3.endpoint,
    );
    let out = run_pipeline(dir.path(), &config);
    assert_success(&out);

    let objects = read_objects(&s3.store("archive"), None);
    let key_pattern = regex::Regex::new(
        r"^logs/(shop|payments|kube-system|monitoring)/\d{4}/\d{2}/\d{2}/\d{2}/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.ndjson\.gz$",
    )
    .unwrap();
    let mut per_namespace: HashMap<String, usize> = HashMap::new();
    for object in &objects {
        let caps = key_pattern
            .captures(&object.key)
            .unwrap_or_else(|| panic!("key {} does not follow the template", object.key));
        let namespace = &caps[1];
        *per_namespace.entry(namespace.to_string()).or_default() += 1;
        assert_eq!(object.content_type.as_deref(), Some("application/x-ndjson"));
        assert_eq!(object.content_encoding.as_deref(), Some("gzip"));
        for event in &object.lines {
            assert_eq!(
                event["kubernetes"]["namespace"], namespace,
                "{}",
                object.key
            );
            let ts = event["@timestamp"].as_str().unwrap();
            // %Y/%m/%d/%H of the event's own timestamp.
            let hour_path = format!("{}/{}/{}/{}", &ts[0..4], &ts[5..7], &ts[8..10], &ts[11..13]);
            assert!(object.key.contains(&hour_path), "{} vs {ts}", object.key);
        }
    }
    // One object per namespace: the batch only closed when the input ended.
    assert_eq!(per_namespace.len(), 4, "{per_namespace:?}");
    assert!(per_namespace.values().all(|n| *n == 1), "{per_namespace:?}");
    assert_all_seqs(
        objects.iter().flat_map(|o| o.lines.iter().map(demo_seq)),
        20000,
    );
}

#[test]
fn batches_close_on_timeout_and_on_size_with_zstd() {
    let s3 = SeaweedFs::start();
    s3.create_bucket("archive");
    let dir = tempfile::tempdir().unwrap();
    // 3000 events at 1500/s (about 2 s) with a 1 s batch timeout and a 20 kB size limit.
    let config = format!(
        r#"
data_dir = "{data}"
[sources.demo]
type = "demo"
count = 3000
rate = 1500

[sinks.archive]
type = "s3"
inputs = ["demo"]
bucket = "archive"
endpoint = "{endpoint}"
key = "z/{{{{ kubernetes.namespace }}}}/{{{{ uuid }}}}.ndjson.zst"
compression = "zstd"
batch = {{ max_bytes = 20000, timeout_secs = 1 }}
access_key_id = "{ACCESS_KEY}"
secret_access_key = "{SECRET_KEY}"
"#,
        data = dir.path().join("data").display(),
        endpoint = s3.endpoint,
    );
    let out = run_pipeline(dir.path(), &config);
    assert_success(&out);
    let objects = read_objects(&s3.store("archive"), Some("z"));
    assert!(objects
        .iter()
        .all(|o| o.content_encoding.as_deref() == Some("zstd")));
    let mut per_namespace: HashMap<String, usize> = HashMap::new();
    for o in &objects {
        *per_namespace
            .entry(o.key.split('/').nth(1).unwrap().to_string())
            .or_default() += 1;
    }
    assert!(
        per_namespace.values().all(|n| *n >= 2),
        "each namespace should have been cut into several objects: {per_namespace:?}"
    );
    assert_all_seqs(
        objects.iter().flat_map(|o| o.lines.iter().map(demo_seq)),
        3000,
    );
}

#[test]
fn rejected_credentials_fail_clearly_without_leaking_the_secret() {
    let s3 = SeaweedFs::start();
    s3.create_bucket("archive");
    let dir = tempfile::tempdir().unwrap();
    let wrong_secret = "wrong-secret-Zq8xW3";
    let config = format!(
        r#"
data_dir = "{data}"
[sources.demo]
type = "demo"
count = 100

[sinks.archive]
type = "s3"
inputs = ["demo"]
bucket = "archive"
endpoint = "{endpoint}"
key = "{{{{ uuid }}}}.ndjson.gz"
access_key_id = "{ACCESS_KEY}"
secret_access_key = "{wrong_secret}"
"#,
        data = dir.path().join("data").display(),
        endpoint = s3.endpoint,
    );
    let out = run_pipeline(dir.path(), &config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("rejected the credentials"), "{stderr}");
    assert!(!stderr.contains(wrong_secret), "secret leaked: {stderr}");
    assert!(read_objects(&s3.store("archive"), None).is_empty());
}
