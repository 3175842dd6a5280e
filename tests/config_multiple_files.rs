//! Several `--config` files and `--config-dir` merge into one graph; duplicate ids across files
//! are reported at both places; `validate`, `graph`, `test` and `run` take the same flags.

mod common;

use std::process::Command;

use common::{logweir_bin, read_ndjson, write_file};

const SOURCES: &str = r#"
[sources.app]
type = "demo"
count = 50
"#;

const SINKS: &str = r#"
[transforms.parsed]
type = "parse_json"
inputs = ["app"]

[sinks.out]
type = "file"
inputs = ["parsed"]
path = "OUT"

[[tests]]
name = "json is lifted"
[[tests.inputs]]
insert_at = "parsed"
value = '{"a":1}'
[[tests.outputs]]
extract_from = "parsed"
conditions = ['.a == 1']
"#;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(logweir_bin()).args(args).output().unwrap()
}

#[test]
fn files_and_directories_merge_into_one_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let a = write_file(
        dir.path(),
        "a.toml",
        &format!(
            "data_dir = \"{}\"\n{SOURCES}",
            dir.path().join("data").display()
        ),
    );
    let conf_d = dir.path().join("conf.d");
    std::fs::create_dir(&conf_d).unwrap();
    write_file(
        &conf_d,
        "10-sinks.toml",
        &SINKS.replace("OUT", &out.display().to_string()),
    );
    write_file(&conf_d, "README.md", "not a pipeline");
    let a = a.to_str().unwrap();
    let conf_d = conf_d.to_str().unwrap();

    let validate = run(&["validate", "-c", a, "--config-dir", conf_d]);
    let stdout = String::from_utf8_lossy(&validate.stdout);
    assert!(validate.status.success(), "{validate:?}");
    assert!(
        stdout.contains("(1 sources, 1 transforms, 1 sinks"),
        "{stdout}"
    );

    let graph = run(&["graph", "-c", a, "--config-dir", conf_d]);
    let dot = String::from_utf8_lossy(&graph.stdout);
    assert!(graph.status.success());
    assert!(
        dot.contains("app") && dot.contains("parsed") && dot.contains("out"),
        "{dot}"
    );

    let test = run(&["test", "-c", a, "--config-dir", conf_d]);
    assert!(test.status.success(), "{test:?}");
    assert!(String::from_utf8_lossy(&test.stdout).contains("1 passed"));

    let status = Command::new(logweir_bin())
        .args(["run", "-c", a, "--config-dir", conf_d])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(read_ndjson(&out).len(), 50);

    // Only one file on its own is not a whole pipeline.
    let alone = run(&["validate", "-c", a]);
    assert_eq!(alone.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&alone.stderr).contains("no sinks"));
}

#[test]
fn a_component_id_declared_in_two_files_is_reported_at_both_places() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_file(dir.path(), "a.toml", SOURCES);
    let b = write_file(
        dir.path(),
        "b.toml",
        &format!("# the same id again\n{SOURCES}\n[sinks.out]\ntype = \"blackhole\"\ninputs = [\"app\"]\n"),
    );
    let output = run(&[
        "validate",
        "-c",
        a.to_str().unwrap(),
        "-c",
        b.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "{}:3:10: component id `app` is already declared at {}:2:10",
        b.display(),
        a.display()
    );
    assert!(stderr.contains(&expected), "{stderr}\nexpected: {expected}");
}

#[test]
fn data_dir_may_be_set_by_one_file_only() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_file(
        dir.path(),
        "a.toml",
        &format!("data_dir = \"/tmp/a\"\n{SOURCES}"),
    );
    let b = write_file(
        dir.path(),
        "b.toml",
        "data_dir = \"/tmp/b\"\n[sinks.out]\ntype = \"blackhole\"\ninputs = [\"app\"]\n",
    );
    let output = run(&[
        "validate",
        "-c",
        a.to_str().unwrap(),
        "-c",
        b.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:1:1: `data_dir` is already set at {}:1:1",
            b.display(),
            a.display()
        )),
        "{stderr}"
    );
}

#[test]
fn no_configuration_given_is_a_usage_error() {
    let output = run(&["validate"]);
    assert_eq!(output.status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let output = run(&["validate", "--config-dir", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no configuration files"));
}
