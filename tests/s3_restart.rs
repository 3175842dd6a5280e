//! A restart of the S3 server in the middle of a run loses nothing: failed uploads are
//! retried with backoff and every event arrives exactly once.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::s3_server::{
    assert_all_seqs, demo_seq, read_objects, SeaweedFs, ACCESS_KEY, SECRET_KEY,
};
use common::{logweir_bin, wait_until, write_file};

#[test]
fn a_server_restart_mid_run_loses_nothing() {
    let mut s3 = SeaweedFs::start();
    s3.create_bucket("archive");
    let dir = tempfile::tempdir().unwrap();
    const EVENTS: u64 = 8000;
    // 8000 events at 1000/s with 1 s batches: uploads keep happening while the server is down.
    let config = format!(
        r#"
data_dir = "{data}"
[sources.demo]
type = "demo"
count = {EVENTS}
rate = 1000

[sinks.archive]
type = "s3"
inputs = ["demo"]
bucket = "archive"
endpoint = "{endpoint}"
key = "r/{{{{ kubernetes.namespace }}}}/{{{{ uuid }}}}.ndjson.gz"
batch = {{ max_bytes = 1048576, timeout_secs = 1 }}
access_key_id = "{ACCESS_KEY}"
secret_access_key = "{SECRET_KEY}"
retry = {{ initial_backoff_ms = 100, max_backoff_secs = 2, request_retries = 1 }}
"#,
        data = dir.path().join("data").display(),
        endpoint = s3.endpoint,
    );
    let path = write_file(dir.path(), "pipeline.toml", &config);
    let stderr_path = dir.path().join("stderr.log");
    let mut child = Command::new(logweir_bin())
        .args(["run", "-c"])
        .arg(&path)
        .stderr(Stdio::from(std::fs::File::create(&stderr_path).unwrap()))
        .spawn()
        .unwrap();
    // Wait for the first objects, then crash the server and bring it back.
    let store = s3.store("archive");
    assert!(wait_until(Duration::from_secs(30), || !read_objects(
        &store,
        Some("r")
    )
    .is_empty()));
    s3.kill();
    std::thread::sleep(Duration::from_secs(3));
    s3.restart();
    let status = {
        let mut status = None;
        assert!(
            wait_until(Duration::from_secs(120), || {
                status = child.try_wait().unwrap();
                status.is_some()
            }),
            "logweir did not finish after the restart"
        );
        status.unwrap()
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("retrying"),
        "the outage should have caused retries: {stderr}"
    );
    let objects = read_objects(&s3.store("archive"), Some("r"));
    assert_all_seqs(
        objects.iter().flat_map(|o| o.lines.iter().map(demo_seq)),
        EVENTS,
    );
}
