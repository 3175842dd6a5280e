//! The JSON Schema of the configuration (`logweir schema`) is derived from the config structs,
//! committed at `pipelines/schema/logweir.schema.json`, and every shipped pipeline file
//! validates against it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use logweir::config::schema::{component_schema, generator, options, pipeline_schema_json};
use logweir::config::ComponentKind;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn committed_schema() -> serde_json::Value {
    let text = std::fs::read_to_string(repo().join("pipelines/schema/logweir.schema.json"))
        .expect("the committed schema");
    serde_json::from_str(&text).expect("the committed schema is JSON")
}

fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            toml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
}

fn as_json(toml_text: &str) -> serde_json::Value {
    let value: toml::Value = toml::from_str(toml_text).expect("valid TOML");
    serde_json::to_value(value).expect("TOML converts to JSON")
}

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&committed_schema()).expect("the schema compiles")
}

fn schema_errors(validator: &jsonschema::Validator, instance: &serde_json::Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn committed_schema_equals_the_generated_one() {
    let output = Command::new(common::logweir_bin())
        .arg("schema")
        .output()
        .unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    let committed =
        std::fs::read_to_string(repo().join("pipelines/schema/logweir.schema.json")).unwrap();
    assert_eq!(printed, pipeline_schema_json());
    assert!(
        printed == committed,
        "pipelines/schema/logweir.schema.json is stale: regenerate it with \
         `cargo run -- schema > pipelines/schema/logweir.schema.json`"
    );
}

#[test]
fn every_shipped_pipeline_file_validates_and_declares_the_schema() {
    let validator = validator();
    let mut files = Vec::new();
    toml_files(&repo().join("pipelines"), &mut files);
    assert!(files.len() >= 2, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut document = as_json(&text);
        if file.parent().is_some_and(|p| p.ends_with("patterns")) {
            // Pattern snippets also carry a `[multiline]` table to copy into a file source's
            // options; it is not a top-level key of a pipeline. Everything else must validate.
            if let Some(multiline) = document.as_object_mut().unwrap().remove("multiline") {
                assert!(multiline.is_object(), "{}", file.display());
            }
        }
        let errors = schema_errors(&validator, &document);
        assert!(errors.is_empty(), "{}: {errors:#?}", file.display());
        // The Taplo directive, relative to the file, points at the committed schema.
        let first = text.lines().next().unwrap_or_default();
        let target = first
            .strip_prefix("#:schema ")
            .unwrap_or_else(|| panic!("{} does not start with `#:schema`", file.display()));
        let resolved = file.parent().unwrap().join(target.trim());
        assert_eq!(
            resolved.canonicalize().unwrap(),
            repo()
                .join("pipelines/schema/logweir.schema.json")
                .canonicalize()
                .unwrap(),
            "{}",
            file.display()
        );
    }
}

#[test]
fn the_schema_rejects_what_the_loader_rejects() {
    let validator = validator();
    let base = r#"
[sources.in]
type = "demo"
[sinks.out]
type = "file"
inputs = ["in"]
path = "/tmp/x"
"#;
    assert!(schema_errors(&validator, &as_json(base)).is_empty());
    for (bad, why) in [
        (base.replace("path = ", "pathh = "), "unknown key"),
        (
            base.replace("type = \"demo\"", "type = \"dmeo\""),
            "unknown type",
        ),
        (
            format!("{base}compression = \"zip\"\n"),
            "unknown enum value",
        ),
        (
            base.replace(
                "[sources.in]\ntype = \"demo\"",
                "[sources.in]\ntype = \"demo\"\ncount = \"many\"",
            ),
            "wrong type",
        ),
        (
            format!("{base}buffer = {{ type = \"disk\" }}\n"),
            "disk buffer without max_bytes",
        ),
        (
            format!("{base}[apii]\naddress = \"127.0.0.1:1\"\n"),
            "unknown top-level key",
        ),
    ] {
        let errors = schema_errors(&validator, &as_json(&bad));
        assert!(!errors.is_empty(), "{why}: accepted\n{bad}");
        let loaded =
            logweir::config::PipelineConfig::from_str_with_env(Path::new("p.toml"), &bad, |_| None);
        assert!(loaded.is_err(), "{why}: the loader accepted it");
    }
}

#[test]
fn options_descriptions_and_defaults_come_from_the_structs() {
    let schema = committed_schema();
    let demo = schema["properties"]["sources"]["additionalProperties"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["properties"]["type"]["const"] == "demo")
        .unwrap();
    assert_eq!(demo["properties"]["count"]["default"], 10000);
    assert_eq!(
        demo["properties"]["seed"]["description"],
        "Seed of the generator: the same seed gives the same events."
    );
    assert_eq!(demo["additionalProperties"], false);
    let defs = &schema["definitions"];
    let on_error = serde_json::to_string(&defs["OnError"]).unwrap();
    for variant in ["keep", "drop", "dead_letter"] {
        assert!(on_error.contains(&format!("\"{variant}\"")), "{on_error}");
    }
}

/// Two versions of one component's config: the second gained a field.
mod before {
    #[derive(schemars::JsonSchema, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    pub struct WidgetConfig {
        /// How wide.
        pub width: u32,
    }
}

mod after {
    #[derive(schemars::JsonSchema, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    pub struct WidgetConfig {
        /// How wide.
        pub width: u32,
        /// How the widget is painted.
        #[serde(default = "default_colour")]
        pub colour: String,
    }

    fn default_colour() -> String {
        "blue".to_string()
    }
}

#[test]
fn a_field_added_to_a_config_struct_appears_in_the_schema() {
    let schema_of = |options: fn(&mut schemars::SchemaGenerator) -> schemars::Schema| {
        let mut g = generator();
        let o = options(&mut g);
        component_schema(&mut g, ComponentKind::Sink, "widget", o).to_value()
    };
    let before = schema_of(options::<before::WidgetConfig>);
    let after = schema_of(options::<after::WidgetConfig>);
    assert!(before["properties"].get("colour").is_none());
    assert_eq!(
        after["properties"]["colour"]["description"],
        "How the widget is painted."
    );
    assert_eq!(after["properties"]["colour"]["default"], "blue");
    assert_eq!(before["properties"]["width"], after["properties"]["width"]);
    // What the component schema adds around the struct's options.
    for s in [&before, &after] {
        assert_eq!(s["properties"]["type"]["const"], "widget");
        assert!(s["properties"].get("inputs").is_some());
        assert!(s["properties"].get("buffer").is_some());
        assert_eq!(s["additionalProperties"], false);
    }
}
