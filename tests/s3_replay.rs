//! `logweir replay`: objects archived by the `s3` sink, read back by the `s3_archive` source
//! into a file sink, are the same events; the time range selects objects.

mod common;

use std::process::Command;

use common::s3_server::{demo_seq, read_objects, SeaweedFs, ACCESS_KEY, SECRET_KEY};
use common::{logweir_bin, read_ndjson, write_file};

fn logweir(args: &[&str], config: &std::path::Path) -> (bool, String) {
    let out = Command::new(logweir_bin())
        .args(args)
        .arg("-c")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn archived_events_replay_into_a_file_sink_unchanged() {
    let s3 = SeaweedFs::start();
    s3.create_bucket("archive");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    const EVENTS: u64 = 5000;
    let archive = write_file(
        dir.path(),
        "archive.toml",
        &format!(
            r#"
data_dir = "{data}"
[sources.demo]
type = "demo"
count = {EVENTS}

[sinks.archive]
type = "s3"
inputs = ["demo"]
bucket = "archive"
endpoint = "{endpoint}"
key = "logs/{{{{ kubernetes.namespace }}}}/%Y/%m/%d/{{{{ uuid }}}}.ndjson.gz"
access_key_id = "{ACCESS_KEY}"
secret_access_key = "{SECRET_KEY}"
"#,
            data = data.display(),
            endpoint = s3.endpoint,
        ),
    );
    let (ok, stderr) = logweir(&["run"], &archive);
    assert!(ok, "{stderr}");

    let replay_config = |out: &std::path::Path, range: &str| {
        format!(
            r#"
data_dir = "{data}"
[sources.archive]
type = "s3_archive"
bucket = "archive"
endpoint = "{endpoint}"
prefix = "logs/"
access_key_id = "{ACCESS_KEY}"
secret_access_key = "{SECRET_KEY}"
{range}

[sinks.out]
type = "file"
inputs = ["archive"]
path = "{out}"
"#,
            data = data.display(),
            endpoint = s3.endpoint,
            out = out.display(),
        )
    };
    let out = dir.path().join("replayed.ndjson");
    let replay = write_file(dir.path(), "replay.toml", &replay_config(&out, ""));
    let (ok, stderr) = logweir(&["replay"], &replay);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains(&format!("replayed 4 of 4 objects, {EVENTS} events")),
        "{stderr}"
    );

    let mut archived: Vec<serde_json::Value> = read_objects(&s3.store("archive"), None)
        .into_iter()
        .flat_map(|o| o.lines)
        .collect();
    let mut replayed = read_ndjson(&out);
    archived.sort_by_key(demo_seq);
    replayed.sort_by_key(demo_seq);
    assert_eq!(replayed.len() as u64, EVENTS);
    assert_eq!(
        replayed, archived,
        "replayed events differ from the archive"
    );

    // A time range that ends before the archive was written selects nothing.
    let none = dir.path().join("none.ndjson");
    let replay = write_file(
        dir.path(),
        "replay-none.toml",
        &replay_config(&none, "end = \"2000-01-01T00:00:00Z\""),
    );
    let (ok, stderr) = logweir(&["replay"], &replay);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("replayed 0 of 0 objects, 0 events"),
        "{stderr}"
    );
    assert!(read_ndjson(&none).is_empty());
}

#[test]
fn replay_requires_an_archive_source() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_file(
        dir.path(),
        "p.toml",
        "[sources.d]\ntype = \"demo\"\ncount = 1\n[sinks.b]\ntype = \"blackhole\"\ninputs = [\"d\"]\n",
    );
    let out = Command::new(logweir_bin())
        .args(["replay", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("s3_archive"));
}
