//! Many files: 1,000 files are all read completely with fewer descriptors than files, both
//! when they exist at start and when they appear while the source runs.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use common::tail;

const FILES: u64 = 1000;
const LINES_PER_FILE: u64 = 50;

/// Writes file `f` with lines `seq=f*LINES_PER_FILE+i`.
fn write_numbered_file(path: &Path, f: u64) {
    let text: String = (0..LINES_PER_FILE)
        .map(|i| format!("file {f} seq={} payload\n", f * LINES_PER_FILE + i))
        .collect();
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_thousand_files_are_read_with_64_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    for f in 0..FILES {
        let pod = dir.path().join(format!("logs/ns_pod-{f}_uid{f}/app"));
        std::fs::create_dir_all(&pod).unwrap();
        write_numbered_file(&pod.join("0.log"), f);
    }
    let out = dir.path().join("out.ndjson");
    let config = tail::pipeline(
        dir.path(),
        "p.toml",
        &format!("{}/logs/*/*/*.log", dir.path().display()),
        "format = \"raw\"\nexit_on_eof = true\nmax_open_files = 64",
        &out,
    );
    let (status, logs) = tail::run_to_end(&config, &dir.path().join("log"));
    assert!(status.success(), "{logs}");
    tail::assert_exactly_once(&tail::seqs(&out), FILES * LINES_PER_FILE);
    // Metadata comes from each file's own path.
    let pods: HashSet<String> = common::read_ndjson(&out)
        .iter()
        .map(|e| e["kubernetes"]["pod"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(pods.len() as u64, FILES);
}

#[test]
fn files_appearing_while_running_are_all_read_with_fewer_descriptors_than_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let out = dir.path().join("out.ndjson");
    let config = tail::pipeline(
        dir.path(),
        "p.toml",
        &format!("{}/logs/*/*/*.log", dir.path().display()),
        "format = \"raw\"\nmax_open_files = 50",
        &out,
    );
    let mut child = tail::start(&config, &dir.path().join("log"));
    // New pod directories, each with a file, while the source runs.
    for f in 0..FILES {
        let pod = dir.path().join(format!("logs/ns_pod-{f}_uid{f}/app"));
        std::fs::create_dir_all(&pod).unwrap();
        write_numbered_file(&pod.join("0.log"), f);
    }
    let total = (FILES * LINES_PER_FILE) as usize;
    let done = common::wait_until(Duration::from_secs(120), || {
        common::count_lines(&out) >= total
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(tail::stop(&mut child).success());
    assert!(done, "{} of {total} lines", common::count_lines(&out));
    tail::assert_exactly_once(&tail::seqs(&out), FILES * LINES_PER_FILE);
}
