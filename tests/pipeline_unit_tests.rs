//! `logweir test` runs a pipeline's `[[tests]]` on its transforms: a passing file exits 0, a
//! failing one exits 1 with an expected/actual diff, a test naming an unknown transform is a
//! configuration error with its location.

mod common;

use std::process::Command;

use common::{logweir_bin, write_file};

const PIPELINE: &str = r#"
data_dir = "DATA_DIR"

[sources.in]
type = "demo"
count = 1

[transforms.parsed]
type = "parse_json"
inputs = ["in"]

[transforms.split]
type = "route"
inputs = ["parsed"]
[transforms.split.route]
errors = '.level == "error"'
slow = '.latency_ms > 500'

[transforms.tagged]
type = "add_fields"
inputs = ["split.errors"]
fields = { "service.team" = "{{ team }}-oncall" }

[sinks.out]
type = "blackhole"
inputs = ["tagged", "split.slow", "split._unmatched"]
"#;

const PASSING_TESTS: &str = r#"
[[tests]]
name = "errors are routed and tagged with their team"
[[tests.inputs]]
insert_at = "parsed"
events = [
  { message = '{"level":"error","team":"payments","latency_ms":900}' },
  { message = '{"level":"info","latency_ms":10}' },
]
[[tests.outputs]]
extract_from = "tagged"
events = [ { level = "error", service = { team = "payments-oncall" } } ]
[[tests.outputs]]
extract_from = "split.slow"
count = 1
conditions = ['.latency_ms == 900']
[[tests.outputs]]
extract_from = "split._unmatched"
conditions = ['.level == "info"']

[[tests]]
name = "plain text goes unmatched"
no_outputs_from = ["split.errors"]
[[tests.inputs]]
insert_at = "parsed"
value = "not json"
"#;

const FAILING_TEST: &str = r#"
[[tests]]
name = "wrong team expected"
[[tests.inputs]]
insert_at = "parsed"
values = ['{"level":"error","team":"search"}']
[[tests.outputs]]
extract_from = "tagged"
events = [ { service = { team = "payments-oncall" } } ]
[[tests.outputs]]
extract_from = "split._unmatched"
count = 2
"#;

fn run_test(contents: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let text =
        PIPELINE.replace("DATA_DIR", &dir.path().join("data").display().to_string()) + contents;
    let path = write_file(dir.path(), "p.toml", &text);
    let out = Command::new(logweir_bin())
        .args(["--log-level", "error", "test", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), stdout + &stderr)
}

#[test]
fn a_passing_pipeline_exits_zero_and_lists_each_test() {
    let (code, out) = run_test(PASSING_TESTS);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("test errors are routed and tagged with their team ... ok"),
        "{out}"
    );
    assert!(
        out.contains("test plain text goes unmatched ... ok"),
        "{out}"
    );
    assert!(out.contains("test result: ok. 2 passed; 0 failed"), "{out}");
}

#[test]
fn a_failing_pipeline_exits_one_with_a_diff() {
    let (code, out) = run_test(&format!("{PASSING_TESTS}{FAILING_TEST}"));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("test wrong team expected ... FAILED"), "{out}");
    assert!(
        out.contains("test result: FAILED. 2 passed; 1 failed"),
        "{out}"
    );
    // The expected value is marked `-`, the actual one `+`, unchanged lines are context.
    assert!(
        out.contains("`tagged`: event 0 differs (- expected, + actual)"),
        "{out}"
    );
    assert!(out.contains(r#"-     "team": "payments-oncall""#), "{out}");
    assert!(out.contains(r#"+     "team": "search-oncall""#), "{out}");
    assert!(
        out.contains("`split._unmatched`: expected 2 events, got 0"),
        "{out}"
    );
    // The failing test is located in the file.
    assert!(
        out.contains("--- wrong team expected (") && out.contains("p.toml:"),
        "{out}"
    );
}

#[test]
fn tests_naming_unknown_components_are_configuration_errors() {
    let bad = r#"
[[tests]]
name = "typo"
[[tests.inputs]]
insert_at = "parsd"
value = "x"
[[tests.outputs]]
extract_from = "split.eror"
count = 1
"#;
    let (code, out) = run_test(bad);
    assert_eq!(code, 78, "{out}");
    let lines = PIPELINE.lines().count();
    assert!(
        out.contains(&format!("p.toml:{}:13: test `typo`: `insert_at = \"parsd\"` is not a transform; did you mean `parsed`?", lines + 5)),
        "{out}"
    );
    assert!(
        out.contains(
            "`split` has no output named `eror`; its outputs are `errors`, `slow`, `_unmatched`"
        ),
        "{out}"
    );
}
