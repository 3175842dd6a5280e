//! Transform configuration mistakes are reported at `validate` time with their place in the
//! file: condition errors at the condition (with the column inside it), regex and template
//! errors at the component.

mod common;

use std::path::Path;
use std::process::Command;

use common::{logweir_bin, write_file};
use logweir::config::PipelineConfig;

const HEAD: &str = "[sources.in]\ntype = \"demo\"\n";
const SINK: &str = "[sinks.out]\ntype = \"blackhole\"\ninputs = [\"t\"]\n";

fn load_errors(body: &str) -> String {
    let text = format!("{HEAD}{body}{SINK}");
    PipelineConfig::from_str_with_env(Path::new("p.toml"), &text, |_| None)
        .expect_err("configuration should be rejected")
        .to_string()
}

#[test]
fn a_bad_route_condition_points_at_its_line_and_column() {
    let errors = load_errors(
        "[transforms.t]\ntype = \"route\"\ninputs = [\"in\"]\n[transforms.t.route]\nok = '.a == 1'\nbad = '.latency_ms >'\n",
    );
    // Line 8 of the file, at the condition's value; the column inside the condition too.
    assert!(errors.starts_with("p.toml:8:7: "), "{errors}");
    assert!(
        errors.contains("invalid condition `.latency_ms >`") && errors.contains("at column 14"),
        "{errors}"
    );
}

#[test]
fn a_bad_filter_condition_points_at_its_line_and_column() {
    let errors = load_errors(
        "[transforms.t]\ntype = \"filter\"\ninputs = [\"in\"]\ncondition = '.level == \"error\" && exist(.x)'\n",
    );
    assert!(errors.starts_with("p.toml:6:13: "), "{errors}");
    assert!(errors.contains("at column"), "{errors}");
}

#[test]
fn unknown_on_error_values_and_options_are_located() {
    let errors = load_errors(
        "[transforms.t]\ntype = \"parse_regex\"\ninputs = [\"in\"]\npatterns = ['(?P<a>x)']\non_error = \"ignore\"\n",
    );
    assert!(errors.starts_with("p.toml:7:12: "), "{errors}");
    assert!(errors.contains("dead_letter"), "{errors}");
    let errors = load_errors(
        "[transforms.t]\ntype = \"sample\"\ninputs = [\"in\"]\nrate = 10\nkey = \".trace_id\"\n",
    );
    assert!(
        errors.starts_with("p.toml:7:1: ")
            && errors.contains("unknown key `key`; expected one of `rate`, `key_field`"),
        "{errors}"
    );
}

#[test]
fn validate_compiles_regexes_and_reports_them_at_the_component() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{HEAD}[transforms.t]\ntype = \"parse_regex\"\ninputs = [\"in\"]\npatterns = ['(?P<a>x']\n{SINK}"
    );
    let path = write_file(dir.path(), "p.toml", &text);
    let out = Command::new(logweir_bin())
        .args(["validate", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:3:13: transform `t` (parse_regex): pattern 1 is not a valid regex",
            path.display()
        )),
        "{stderr}"
    );
}
