//! Adding a sink at runtime: its file appears and receives events. Removing one: it drains
//! what it holds, then its file stops growing; nothing it received before is lost, and the
//! untouched source feeds the remaining sink without a gap.

mod common;

use std::path::Path;

use common::reload::{assert_contiguous, read_events, write_atomically, Running, PATIENCE};
use common::wait_until;

fn pipeline(data: &Path, sinks: &[(&str, &Path)]) -> String {
    let mut text = format!(
        r#"data_dir = "{}"

[sources.app]
type = "demo"
count = 0
rate = 400

[transforms.parsed]
type = "parse_json"
inputs = ["app"]
"#,
        data.display()
    );
    for (id, path) in sinks {
        text.push_str(&format!(
            "\n[sinks.{id}]\ntype = \"file\"\ninputs = [\"parsed\"]\npath = \"{}\"\n",
            path.display()
        ));
    }
    text
}

#[test]
fn sinks_are_added_and_removed_at_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    let data = dir.path().join("data");
    let a = dir.path().join("a.ndjson");
    let b = dir.path().join("b.ndjson");
    let file = conf.join("pipeline.toml");
    write_atomically(&file, &pipeline(&data, &[("a", &a)]));
    let run = Running::start(
        &["-c", file.to_str().unwrap(), "--watch"],
        &dir.path().join("stderr.log"),
    );
    assert!(
        wait_until(PATIENCE, || read_events(&a).len() >= 100),
        "{}",
        run.stderr()
    );

    write_atomically(&file, &pipeline(&data, &[("a", &a), ("b", &b)]));
    assert!(
        wait_until(PATIENCE, || read_events(&b).len() >= 200),
        "the added sink got nothing: {}",
        run.stderr()
    );
    assert!(run.stderr().contains("added=b"), "{}", run.stderr());

    write_atomically(&file, &pipeline(&data, &[("b", &b)]));
    assert!(
        wait_until(PATIENCE, || run.stderr().contains("removed=a")),
        "{}",
        run.stderr()
    );
    // After the removal, `b` keeps growing while `a`, once drained, does not.
    let b_at_removal = read_events(&b).len();
    assert!(wait_until(PATIENCE, || read_events(&b).len() >= b_at_removal + 200));
    let a_drained = read_events(&a).len();
    assert!(wait_until(PATIENCE, || read_events(&b).len() >= b_at_removal + 600));
    assert_eq!(
        read_events(&a).len(),
        a_drained,
        "the removed sink still grows"
    );
    run.stop();

    let a_events = read_events(&a);
    let b_events = read_events(&b);
    // `a` got everything from the start until its removal, exactly once and in order.
    assert_contiguous(&a_events, 0);
    // `b` got everything from its addition to the end, and the two overlap: no gap.
    let b_first = b_events[0].seq;
    assert_contiguous(&b_events, b_first);
    let a_last = a_events.last().unwrap().seq;
    assert!(
        b_first > 0 && b_first <= a_last,
        "a ends at {a_last}, b starts at {b_first}"
    );
}
