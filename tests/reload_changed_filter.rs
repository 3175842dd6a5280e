//! `--watch`: rewriting the file to change a filter (and the `add_fields` after it) rebuilds
//! only those two; the demo source is untouched and keeps its position, so every `seq`
//! reaches the sink exactly once and in order, first through the old components, then through
//! the new ones.

mod common;

use common::reload::{
    assert_contiguous, pipeline, read_events, write_atomically, Running, PATIENCE,
};
use common::wait_until;

#[test]
fn a_changed_filter_is_rebuilt_while_the_source_keeps_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    let data = dir.path().join("data");
    let out = dir.path().join("out.ndjson");
    let file = conf.join("pipeline.toml");
    write_atomically(&file, &pipeline(&data, &out, "exists(.message)", "v1"));
    let run = Running::start(
        &["-c", file.to_str().unwrap(), "--watch"],
        &dir.path().join("stderr.log"),
    );
    assert!(
        wait_until(PATIENCE, || read_events(&out).len() >= 200),
        "no output: {}",
        run.stderr()
    );

    write_atomically(
        &file,
        &pipeline(&data, &out, "!exists(.no_such_field)", "v2"),
    );
    assert!(
        wait_until(PATIENCE, || {
            read_events(&out)
                .iter()
                .filter(|e| e.version == "v2")
                .count()
                >= 200
        }),
        "the reload did not take effect: {}",
        run.stderr()
    );
    let stderr = run.stop();
    assert!(
        stderr.contains("configuration reloaded") && stderr.contains("changed=keep,mark"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("pipeline started").count(), 1, "{stderr}");

    let events = read_events(&out);
    // Exactly once, in order: the source was not restarted (it would start again at 0) and
    // nothing in flight in the old filter was lost.
    assert_contiguous(&events, 0);
    let first_v2 = events.iter().position(|e| e.version == "v2").unwrap();
    assert!(first_v2 >= 200);
    assert!(events[..first_v2].iter().all(|e| e.version == "v1"));
    assert!(events[first_v2..].iter().all(|e| e.version == "v2"));
}
