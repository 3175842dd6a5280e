//! `lifecycle` rules become the bucket's lifecycle configuration at startup: read back as
//! configured, not rewritten when already current, and reduced to the expiration rules (with
//! a warning) on a store that refuses transitions. Transitions are checked against moto,
//! which implements them.

mod common;

use std::process::Command;

use common::s3_server::{Moto, SeaweedFs, ACCESS_KEY, SECRET_KEY};
use common::{logweir_bin, write_file};
use logweir::sinks::s3::config::S3Connection;
use logweir::sinks::s3::lifecycle::{BucketClient, Rule};

const LIFECYCLE: &str = r#"
lifecycle = [
  { prefix = "", transitions = [ { days = 30, storage_class = "STANDARD_IA" }, { days = 90, storage_class = "GLACIER" } ], expire_days = 365 },
  { prefix = "kube-system/", expire_days = 30 },
]
manage_lifecycle = true
"#;

fn run(endpoint: &str, dir: &std::path::Path) -> String {
    let config = format!(
        r#"
data_dir = "{data}"
[sources.demo]
type = "demo"
count = 500

[sinks.archive]
type = "s3"
inputs = ["demo"]
bucket = "archive"
endpoint = "{endpoint}"
key = "{{{{ kubernetes.namespace }}}}/{{{{ uuid }}}}.ndjson.gz"
access_key_id = "{ACCESS_KEY}"
secret_access_key = "{SECRET_KEY}"
{LIFECYCLE}
"#,
        data = dir.join("data").display(),
    );
    let path = write_file(dir, "pipeline.toml", &config);
    let out = Command::new(logweir_bin())
        .args(["--log-format", "json", "run", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

fn lifecycle_of(connection: &S3Connection) -> Vec<Rule> {
    let store = connection.build_store().unwrap();
    let client = BucketClient::new(connection, &store).unwrap();
    let mut rules = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(client.get_lifecycle())
        .expect("get lifecycle");
    rules.sort_by(|a, b| a.prefix.cmp(&b.prefix));
    rules
}

/// (prefix, enabled, transitions, expire_days)
type RuleEssence = (String, bool, Vec<(u32, String)>, Option<u32>);

fn essence(rules: &[Rule]) -> Vec<RuleEssence> {
    rules
        .iter()
        .map(|r| {
            (
                r.prefix.clone(),
                r.enabled,
                r.transitions.clone(),
                r.expire_days,
            )
        })
        .collect()
}

#[test]
fn transitions_and_expirations_read_back_from_moto_and_are_not_rewritten() {
    let moto = Moto::start();
    let connection = moto.connection("archive");
    {
        let store = connection.build_store().unwrap();
        let client = BucketClient::new(&connection, &store).unwrap();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(client.create_bucket())
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let first = run(&moto.endpoint, dir.path());
    assert!(first.contains("bucket lifecycle updated"), "{first}");
    assert_eq!(
        essence(&lifecycle_of(&connection)),
        vec![
            (
                String::new(),
                true,
                vec![(30, "STANDARD_IA".to_string()), (90, "GLACIER".to_string())],
                Some(365)
            ),
            ("kube-system/".to_string(), true, vec![], Some(30)),
        ]
    );
    // Same rules again: GET, compare, no PUT.
    let second = run(&moto.endpoint, dir.path());
    assert!(
        second.contains("bucket lifecycle already as configured"),
        "{second}"
    );
}

#[test]
fn expiration_rules_read_back_from_seaweedfs() {
    let s3 = SeaweedFs::start();
    s3.create_bucket("archive");
    let dir = tempfile::tempdir().unwrap();
    let stderr = run(&s3.endpoint, dir.path());
    let rules = lifecycle_of(&s3.connection("archive"));
    let expirations: Vec<(String, Option<u32>)> = rules
        .iter()
        .map(|r| (r.prefix.clone(), r.expire_days))
        .collect();
    assert_eq!(
        expirations,
        vec![
            (String::new(), Some(365)),
            ("kube-system/".to_string(), Some(30))
        ],
        "{rules:?} {stderr}"
    );
    if rules.iter().all(|r| r.transitions.is_empty()) {
        // SeaweedFS has no storage tiers: the sink must have said so, not failed.
        assert!(stderr.contains("refused lifecycle transitions"), "{stderr}");
    }
    let again = run(&s3.endpoint, dir.path());
    assert!(
        again.contains("bucket lifecycle already as configured"),
        "{again}"
    );
}
