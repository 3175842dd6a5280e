//! Live reload of an `s3` sink against a real SeaweedFS: changing its key template
//! mid-stream makes the old instance upload the batches it holds (its input ends) before the
//! new one starts writing under the new keys, so every event is archived exactly once, and
//! everything under the old keys precedes everything under the new ones.

mod common;

use common::reload::{write_atomically, Running, PATIENCE};
use common::s3_server::{demo_seq, read_objects, SeaweedFs, ACCESS_KEY, SECRET_KEY};
use common::wait_until;

fn pipeline(data: &std::path::Path, endpoint: &str, prefix: &str) -> String {
    format!(
        r#"data_dir = "{data}"

[sources.demo]
type = "demo"
count = 0
rate = 1000

[sinks.archive]
type = "s3"
inputs = ["demo"]
bucket = "archive"
endpoint = "{endpoint}"
key = "{prefix}/{{{{ uuid }}}}.ndjson.gz"
batch = {{ timeout_secs = 1 }}
access_key_id = "{ACCESS_KEY}"
secret_access_key = "{SECRET_KEY}"
"#,
        data = data.display(),
    )
}

#[test]
fn a_changed_key_template_archives_every_event_once_old_keys_first() {
    let s3 = SeaweedFs::start();
    s3.create_bucket("archive");
    let store = s3.store("archive");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pipeline.toml");
    let data = dir.path().join("data");
    write_atomically(&config, &pipeline(&data, &s3.endpoint, "v1"));
    let run = Running::start(
        &["-c", config.to_str().unwrap(), "--watch"],
        &dir.path().join("stderr.log"),
    );
    let events_under = |prefix: &str| -> usize {
        read_objects(&store, Some(prefix))
            .iter()
            .map(|o| o.lines.len())
            .sum()
    };
    assert!(
        wait_until(PATIENCE, || events_under("v1") >= 1000),
        "{}\nSeaweedFS: {}",
        run.stderr(),
        s3.log_tail()
    );

    write_atomically(&config, &pipeline(&data, &s3.endpoint, "v2"));
    assert!(
        wait_until(PATIENCE, || run.stderr().contains("changed=archive")),
        "{}",
        run.stderr()
    );
    assert!(
        wait_until(PATIENCE, || events_under("v2") >= 1000),
        "{}\nSeaweedFS: {}",
        run.stderr(),
        s3.log_tail()
    );
    run.stop();

    let seqs = |prefix: &str| -> Vec<u64> {
        let mut s: Vec<u64> = read_objects(&store, Some(prefix))
            .iter()
            .flat_map(|o| o.lines.iter().map(demo_seq))
            .collect();
        s.sort_unstable();
        s
    };
    let (old, new) = (seqs("v1"), seqs("v2"));
    let mut all: Vec<u64> = old.iter().chain(&new).copied().collect();
    all.sort_unstable();
    let expected: Vec<u64> = (0..all.len() as u64).collect();
    assert!(
        all == expected,
        "{} events archived, not each of 0..{} once (first differences: {:?})",
        all.len(),
        all.len(),
        all.iter()
            .zip(&expected)
            .filter(|(a, b)| a != b)
            .take(5)
            .collect::<Vec<_>>()
    );
    assert!(
        old.last() < new.first(),
        "old keys end at {:?}, new keys start at {:?}",
        old.last(),
        new.first()
    );
}
