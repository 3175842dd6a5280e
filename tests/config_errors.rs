//! Every class of configuration error is reported with its file, line and column.

mod common;

use std::path::Path;

use logweir::config::{ConfigErrors, PipelineConfig};

fn errors(text: &str) -> ConfigErrors {
    errors_with_env(text, &[])
}

fn errors_with_env(text: &str, env: &[(&str, &str)]) -> ConfigErrors {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    PipelineConfig::from_str_with_env(Path::new("p.toml"), text, |name| {
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })
    .expect_err("configuration should be rejected")
}

/// Asserts exactly one error at `line:col` whose message contains `needle`.
fn assert_error(text: &str, line: usize, col: usize, needle: &str) {
    let errs = errors(text);
    let rendered = errs.to_string();
    assert!(
        errs.0.iter().any(|e| e.location.line == line
            && e.location.column == col
            && e.message.contains(needle)),
        "expected an error at {line}:{col} containing {needle:?}, got:\n{rendered}"
    );
    assert!(
        rendered.starts_with(&format!("p.toml:{line}:{col}: ")) || errs.0.len() > 1,
        "{rendered}"
    );
}

const SINK: &str = "[sinks.out]\ntype = \"blackhole\"\ninputs = [\"in\"]\n";

#[test]
fn a_valid_pipeline_loads() {
    let text = format!(
        "data_dir = \"/tmp/x\"\n[sources.in]\ntype = \"demo\"\ncount = 5\n[transforms.p]\ntype = \"parse_json\"\ninputs = [\"in\"]\n{}",
        SINK.replace("[\"in\"]", "[\"p\"]")
    );
    let config = PipelineConfig::from_str_with_env(Path::new("p.toml"), &text, |_| None).unwrap();
    assert_eq!(config.sources.len(), 1);
    assert_eq!(config.transforms[0].inputs[0].component, "in");
    assert_eq!(config.data_dir, Path::new("/tmp/x"));
}

#[test]
fn toml_syntax_error() {
    assert_error("[sources.in]\ntype = \"demo\"\ncount = = 3\n", 3, 9, "");
}

#[test]
fn unknown_key_suggests_the_nearest() {
    let text = "[sources.in]\ntype = \"demo\"\n[sinks.out]\ntype = \"file\"\ninputs = [\"in\"]\npathh = \"x\"\n".to_string();
    assert_error(&text, 6, 1, "unknown key `pathh`; did you mean `path`?");
}

#[test]
fn wrong_type_says_what_was_expected() {
    let text = format!("[sources.in]\ntype = \"demo\"\ncount = \"many\"\n{SINK}");
    assert_error(&text, 3, 9, "invalid type: string \"many\", expected u64");
}

#[test]
fn unknown_component_type_lists_known_ones() {
    let text = format!("[sources.in]\ntype = \"fiel\"\n{SINK}");
    let errs = errors(&text);
    let e = &errs.0[0];
    assert_eq!((e.location.line, e.location.column), (2, 8));
    assert!(
        e.message.contains("unknown source type `fiel`"),
        "{}",
        e.message
    );
    assert!(e.message.contains("`stdin`, `demo`"), "{}", e.message);
}

#[test]
fn missing_type() {
    assert_error(
        &format!("[sources.in]\ncount = 1\n{SINK}"),
        1,
        10,
        "has no `type`",
    );
}

#[test]
fn unknown_input_suggests_a_component() {
    let text =
        "[sources.app]\ntype = \"demo\"\n[sinks.out]\ntype = \"blackhole\"\ninputs = [\"ap\"]\n";
    assert_error(
        text,
        5,
        11,
        "input `ap` of `out` is not a source or transform; did you mean `app`?",
    );
}

#[test]
fn self_reference() {
    let text = format!("[sources.in]\ntype = \"demo\"\n[transforms.t]\ntype = \"filter\"\ninputs = [\"t\"]\ncondition = \".a == 1\"\n{}", SINK.replace("[\"in\"]", "[\"t\"]"));
    assert_error(&text, 5, 11, "`t` cannot take its own output as input");
}

#[test]
fn cycles() {
    let text = "[sources.in]\ntype = \"demo\"\n\
        [transforms.a]\ntype = \"parse_json\"\ninputs = [\"in\", \"c\"]\n\
        [transforms.b]\ntype = \"parse_json\"\ninputs = [\"a\"]\n\
        [transforms.c]\ntype = \"parse_json\"\ninputs = [\"b\"]\n\
        [sinks.out]\ntype = \"blackhole\"\ninputs = [\"c\"]\n";
    let errs = errors(text);
    let e = errs
        .0
        .iter()
        .find(|e| e.message.contains("cycle"))
        .expect("a cycle error");
    assert!(
        e.message.contains("a -> b -> c -> a")
            || e.message.contains("b -> c -> a -> b")
            || e.message.contains("c -> a -> b -> c"),
        "{}",
        e.message
    );
    assert!(e.location.line >= 3, "{e}");
}

#[test]
fn sink_without_inputs() {
    assert_error(
        "[sources.in]\ntype = \"demo\"\n[sinks.out]\ntype = \"blackhole\"\n",
        3,
        8,
        "sink `out` has no inputs",
    );
    assert_error(
        "[sources.in]\ntype = \"demo\"\n[sinks.out]\ntype = \"blackhole\"\ninputs = []\n",
        3,
        8,
        "sink `out` has no inputs",
    );
}

#[test]
fn a_sink_cannot_be_an_input() {
    let text = format!("[sources.in]\ntype = \"demo\"\n{SINK}[sinks.second]\ntype = \"blackhole\"\ninputs = [\"out\"]\n");
    assert_error(&text, 8, 11, "`out` is a sink, and sinks have no outputs");
}

#[test]
fn sources_cannot_have_inputs() {
    assert_error(
        &format!("[sources.in]\ntype = \"demo\"\ninputs = [\"x\"]\n{SINK}"),
        3,
        10,
        "cannot have `inputs`",
    );
}

#[test]
fn invalid_condition_points_at_the_key() {
    let text = format!("[sources.in]\ntype = \"demo\"\n[transforms.f]\ntype = \"filter\"\ninputs = [\"in\"]\ncondition = '.a == '\n{}", SINK.replace("[\"in\"]", "[\"f\"]"));
    assert_error(&text, 6, 13, "at column");
}

#[test]
fn unknown_top_level_key() {
    assert_error(
        &format!("data_dri = \"x\"\n[sources.in]\ntype = \"demo\"\n{SINK}"),
        1,
        1,
        "did you mean `data_dir`?",
    );
}

#[test]
fn unset_environment_variable_points_at_its_use() {
    let text = format!("[sources.in]\ntype = \"demo\"\ncount = ${{COUNT}}\n{SINK}");
    assert_error(&text, 3, 9, "environment variable `COUNT` is not set");
    let errs = errors_with_env(
        &format!("[sources.in]\ntype = \"demo\"\ncount = ${{COUNT:-\"x\"}}\n{SINK}"),
        &[],
    );
    assert!(errs.to_string().contains("expected u64"), "{errs}");
}

#[test]
fn environment_variables_are_interpolated() {
    let text =
        format!("[sources.in]\ntype = \"demo\"\ncount = ${{COUNT}}\nseed = ${{SEED:-9}}\n{SINK}");
    let config = PipelineConfig::from_str_with_env(Path::new("p.toml"), &text, |n| {
        (n == "COUNT").then(|| "77".to_string())
    })
    .unwrap();
    match &config.sources[0].config {
        logweir::sources::SourceConfig::Demo(d) => assert_eq!((d.count, d.seed), (77, 9)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_sources_or_sinks() {
    assert_error(
        "[sinks.out]\ntype = \"blackhole\"\ninputs = [\"x\"]\n",
        1,
        1,
        "no sources",
    );
    assert_error("[sources.in]\ntype = \"demo\"\n", 1, 1, "no sinks");
}

#[test]
fn validate_command_prints_file_line_col_and_exits_78() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::write_file(dir.path(), "bad.toml", "[sources.in]\ntype = \"demo\"\n[sinks.out]\ntype = \"file\"\ninputs = [\"in\"]\npathh = \"x\"\n");
    let out = std::process::Command::new(common::logweir_bin())
        .args(["validate", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:6:1: sink `out` (file): unknown key `pathh`; did you mean `path`?",
            path.display()
        )),
        "{stderr}"
    );

    let good = common::write_file(
        dir.path(),
        "good.toml",
        &format!("[sources.in]\ntype = \"demo\"\n{SINK}"),
    );
    let out = std::process::Command::new(common::logweir_bin())
        .args(["validate", "-c"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
