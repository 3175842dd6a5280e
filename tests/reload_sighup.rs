//! SIGHUP reloads the configuration, also without `--watch` (and without `--watch` a changed
//! file alone does nothing).

mod common;

use common::reload::{
    assert_contiguous, pipeline, read_events, write_atomically, Running, PATIENCE,
};
use common::wait_until;

#[test]
fn sighup_reloads_without_watch() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = dir.path().join("out.ndjson");
    let file = dir.path().join("pipeline.toml");
    write_atomically(&file, &pipeline(&data, &out, "exists(.message)", "v1"));
    let run = Running::start(
        &["-c", file.to_str().unwrap()],
        &dir.path().join("stderr.log"),
    );
    assert!(
        wait_until(PATIENCE, || read_events(&out).len() >= 100),
        "{}",
        run.stderr()
    );

    write_atomically(&file, &pipeline(&data, &out, "exists(.message)", "v2"));
    // Not watched: many more events pass and all still go through the old configuration.
    let at_rewrite = read_events(&out).len();
    assert!(wait_until(PATIENCE, || read_events(&out).len() >= at_rewrite + 600));
    assert!(read_events(&out).iter().all(|e| e.version == "v1"));

    run.signal("HUP");
    assert!(
        wait_until(PATIENCE, || read_events(&out)
            .iter()
            .any(|e| e.version == "v2")),
        "SIGHUP did not reload: {}",
        run.stderr()
    );
    let stderr = run.stop();
    assert!(
        stderr.contains("trigger=\"SIGHUP\"") || stderr.contains("trigger=SIGHUP"),
        "{stderr}"
    );
    assert_contiguous(&read_events(&out), 0);
}
