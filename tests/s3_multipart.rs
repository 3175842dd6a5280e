//! A batch larger than the multipart part size goes up as a multipart upload (parts streamed
//! while the batch fills) and reads back as one object holding every event.

mod common;

use std::process::Command;

use common::s3_server::{
    assert_all_seqs, demo_seq, read_objects, SeaweedFs, ACCESS_KEY, SECRET_KEY,
};
use common::{logweir_bin, write_file};

#[test]
fn a_40_mib_batch_goes_up_as_a_multipart_upload() {
    let s3 = SeaweedFs::start();
    s3.create_bucket("archive");
    let dir = tempfile::tempdir().unwrap();
    // About 670 bytes per event: 65,000 events make a ~42 MiB object.
    const EVENTS: u64 = 65_000;
    let config = format!(
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
key = "big/{{{{ uuid }}}}.ndjson"
compression = "none"
batch = {{ max_bytes = 209715200, timeout_secs = 600 }}
multipart_part_bytes = 8388608
access_key_id = "{ACCESS_KEY}"
secret_access_key = "{SECRET_KEY}"
"#,
        data = dir.path().join("data").display(),
        endpoint = s3.endpoint,
    );
    let path = write_file(dir.path(), "pipeline.toml", &config);
    let out = Command::new(logweir_bin())
        .args(["--log-format", "json", "run", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("\"multipart_objects\":1"), "{stderr}");

    let objects = read_objects(&s3.store("archive"), Some("big"));
    assert_eq!(objects.len(), 1, "one batch, one object");
    let object = &objects[0];
    assert!(
        object.size >= 40 * 1024 * 1024,
        "object is {} bytes",
        object.size
    );
    // S3 gives multipart objects an ETag of `"<md5 of part md5s>-<number of parts>"`.
    let etag = object.etag.clone().expect("etag");
    let parts: u64 = etag
        .trim_matches('"')
        .rsplit_once('-')
        .unwrap_or_else(|| panic!("ETag {etag} has no part count: not a multipart upload"))
        .1
        .parse()
        .unwrap();
    assert_eq!(parts, object.size.div_ceil(8 * 1024 * 1024), "ETag {etag}");
    assert_eq!(object.content_type.as_deref(), Some("application/x-ndjson"));
    assert_all_seqs(object.lines.iter().map(demo_seq), EVENTS);
}
