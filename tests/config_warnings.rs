//! `logweir validate` warns about what is valid but likely wrong, as
//! `FILE:LINE:COL: warning: …`; `--deny-warnings` makes warnings fail with 78. A route's bare
//! id as an input is an error.

mod common;

use std::process::Command;

use common::{logweir_bin, write_file};

fn validate(text: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "p.toml", text);
    let output = Command::new(logweir_bin())
        .arg("validate")
        .arg("-c")
        .arg(&file)
        .args(extra)
        .output()
        .unwrap();
    let stderr =
        String::from_utf8_lossy(&output.stderr).replace(&file.display().to_string(), "p.toml");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).to_string(),
        stderr,
    )
}

const LIKELY_WRONG: &str = r#"
[sources.app]
type = "demo"

[sources.forgotten]
type = "demo"

[sources.console]
type = "stdin"

[transforms.errors_only]
type = "filter"
inputs = ["app"]
condition = '.level == "error"'

[transforms.unused]
type = "parse_json"
inputs = ["app"]

[sinks.out]
type = "blackhole"
inputs = ["errors_only", "console"]
"#;

#[test]
fn likely_mistakes_are_warnings_with_their_place() {
    let (code, stdout, stderr) = validate(LIKELY_WRONG, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("4 warnings"), "{stdout}");
    for expected in [
        "p.toml:5:10: warning: source `forgotten` is not read by any transform or sink",
        "p.toml:11:13: warning: filter `errors_only` reads `.level`, which no upstream component sets",
        "p.toml:16:13: warning: the output of transform `unused` is not read",
        "p.toml:20:8: warning: sink `out` has a memory buffer and reads from stdin source `console`, which cannot replay",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in\n{stderr}");
    }
    let (code, _, stderr) = validate(LIKELY_WRONG, &["--deny-warnings"]);
    assert_eq!(code, Some(78), "{stderr}");
    assert!(stderr.contains("4 warnings in"), "{stderr}");
}

#[test]
fn a_clean_pipeline_has_no_warnings_even_when_denied() {
    let clean = r#"
[sources.app]
type = "demo"
[transforms.parsed]
type = "parse_json"
inputs = ["app"]
[transforms.errors_only]
type = "filter"
inputs = ["parsed"]
condition = '.level == "error"'
[sinks.out]
type = "blackhole"
inputs = ["errors_only"]
"#;
    let (code, stdout, stderr) = validate(clean, &["--deny-warnings"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    assert!(!stdout.contains("warning"), "{stdout}");
}

#[test]
fn a_route_bare_id_is_not_an_input() {
    let text = r#"
[sources.app]
type = "demo"
[transforms.split]
type = "route"
inputs = ["app"]
route = { errors = 'contains(.message, "error")' }
[sinks.out]
type = "blackhole"
inputs = ["split"]
"#;
    let (code, _, stderr) = validate(text, &[]);
    assert_eq!(code, Some(78), "{stderr}");
    assert!(
        stderr.contains("p.toml:10:11: input `split` of `out`: `split` is a route, which has no default output; read one of its outputs: `split.errors`, `split._unmatched`"),
        "{stderr}"
    );
    let (code, _, stderr) = validate(
        &text.replace("[\"split\"]", "[\"split.errors\", \"split._unmatched\"]"),
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
}
