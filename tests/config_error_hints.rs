//! Configuration errors help: unknown keys and values suggest the nearest valid one, also in
//! nested tables (`buffer`, `api`, `[[tests]]`); type mismatches say what was expected.

use std::path::Path;

use logweir::config::PipelineConfig;

fn error_of(text: &str) -> String {
    PipelineConfig::from_str_with_env(Path::new("p.toml"), text, |_| None)
        .expect_err("the configuration is invalid")
        .to_string()
}

const HEAD: &str = r#"
[sources.in]
type = "demo"
[sinks.out]
type = "file"
inputs = ["in"]
path = "/tmp/out.ndjson"
"#;

#[test]
fn unknown_key_in_a_component_suggests_the_nearest() {
    let e = error_of(&HEAD.replace("path =", "pathh ="));
    assert!(
        e.contains("p.toml:7:1: sink `out` (file): unknown key `pathh`; did you mean `path`?"),
        "{e}"
    );
}

#[test]
fn nested_buffer_table_gets_suggestions_for_keys_and_values() {
    let e = error_of(&format!(
        "{HEAD}buffer = {{ type = \"memory\", max_event = 10 }}\n"
    ));
    assert!(
        e.contains("sink `out` buffer: unknown key `max_event`; did you mean `max_events`?"),
        "{e}"
    );
    assert!(e.starts_with("p.toml:8:"), "{e}");
    let e = error_of(&format!(
        "{HEAD}buffer = {{ type = \"dsk\", max_bytes = 10 }}\n"
    ));
    assert!(
        e.contains("sink `out` buffer: unknown value `dsk`; did you mean `disk`?"),
        "{e}"
    );
    let e = error_of(&format!(
        "{HEAD}buffer = {{ type = \"memory\", when_full = \"drop_new\" }}\n"
    ));
    assert!(e.contains("did you mean `drop_newest`?"), "{e}");
    let e = error_of(&format!(
        "{HEAD}buffer = {{ type = \"memory\", max_events = \"lots\" }}\n"
    ));
    assert!(
        e.contains("invalid type: string \"lots\", expected usize"),
        "{e}"
    );
}

#[test]
fn enum_options_suggest_the_nearest_value() {
    let e = error_of(&format!(
        "{HEAD}[transforms.p]\ntype = \"parse_json\"\ninputs = [\"in\"]\non_error = \"dead-letter\"\n"
    ));
    assert!(
        e.contains(
            "transform `p` (parse_json): unknown value `dead-letter`; did you mean `dead_letter`?"
        ),
        "{e}"
    );
}

#[test]
fn api_and_tests_tables_suggest_keys() {
    let e = error_of(&format!("[api]\nadress = \"127.0.0.1:9598\"\n{HEAD}"));
    assert!(
        e.contains("p.toml:2:1: api: unknown key `adress`; did you mean `address`?"),
        "{e}"
    );
    let e = error_of(&format!(
        "{HEAD}[[tests]]\nname = \"t\"\n[[tests.inputs]]\ninsert_at = \"x\"\nvalue = \"v\"\n[[tests.output]]\nextract_from = \"x\"\n"
    ));
    assert!(
        e.contains("unknown key `output`; did you mean `outputs`?"),
        "{e}"
    );
}

#[test]
fn type_mismatch_says_what_was_expected() {
    let e = error_of(&HEAD.replace("type = \"demo\"", "type = \"demo\"\ncount = \"many\""));
    assert!(
        e.contains("source `in` (demo): invalid type: string \"many\", expected u64"),
        "{e}"
    );
}

#[test]
fn unknown_component_type_lists_the_known_ones() {
    let e = error_of(&HEAD.replace("type = \"file\"", "type = \"fiel\""));
    let known: Vec<String> = logweir::sinks::SinkConfig::TYPES
        .iter()
        .map(|t| format!("`{t}`"))
        .collect();
    assert!(
        e.contains(&format!(
            "unknown sink type `fiel` for `out`; did you mean `file`? known types: {}",
            known.join(", ")
        )),
        "{e}"
    );
}
