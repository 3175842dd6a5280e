//! The README's configuration reference matches the configuration schema: every component
//! has a `#### \`type\`` section under "### Sources" / "### Transforms" / "### Sinks", every
//! option in its table exists in the schema, every schema option is in the table, and options
//! marked "(required)" are exactly the required ones.

use std::collections::{BTreeMap, BTreeSet};

/// Per kind section, per component type: option name -> documented as required.
type Documented = BTreeMap<String, BTreeMap<String, BTreeMap<String, bool>>>;

fn parse_readme(text: &str) -> Documented {
    let mut out: Documented = BTreeMap::new();
    let mut section: Option<String> = None;
    let mut component: Option<String> = None;
    let mut in_options_table = false;
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("### ") {
            section = match h.trim() {
                "Sources" => Some("sources".to_string()),
                "Transforms" => Some("transforms".to_string()),
                "Sinks" => Some("sinks".to_string()),
                _ => None,
            };
            component = None;
            in_options_table = false;
            continue;
        }
        if line.starts_with("## ") {
            section = None;
            component = None;
            continue;
        }
        let Some(kind) = &section else { continue };
        if let Some(h) = line.strip_prefix("#### ") {
            let name = h.trim().trim_matches('`').to_string();
            out.entry(kind.clone())
                .or_default()
                .insert(name.clone(), BTreeMap::new());
            component = Some(name);
            in_options_table = false;
            continue;
        }
        let Some(name) = &component else { continue };
        if line.starts_with("| option |") {
            in_options_table = true;
            continue;
        }
        if !line.starts_with('|') {
            in_options_table = false;
            continue;
        }
        if !in_options_table || line.starts_with("|---") {
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let option = cells[1].trim_matches('`').to_string();
        let required = cells.get(2).is_some_and(|c| *c == "(required)");
        out.get_mut(kind.as_str())
            .unwrap()
            .get_mut(name.as_str())
            .unwrap()
            .insert(option, required);
    }
    out
}

/// The same shape from the schema (without `type`, `inputs` and `buffer`, documented once
/// for all components).
fn from_schema(schema: &serde_json::Value) -> Documented {
    let mut out: Documented = BTreeMap::new();
    for kind in ["sources", "transforms", "sinks"] {
        for alt in schema["properties"][kind]["additionalProperties"]["oneOf"]
            .as_array()
            .unwrap()
        {
            let type_name = alt["properties"]["type"]["const"].as_str().unwrap();
            let required: BTreeSet<&str> = alt["required"]
                .as_array()
                .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            let options = alt["properties"]
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| !matches!(k.as_str(), "type" | "inputs" | "buffer"))
                .map(|k| (k.clone(), required.contains(k.as_str())))
                .collect();
            out.entry(kind.to_string())
                .or_default()
                .insert(type_name.to_string(), options);
        }
    }
    out
}

#[test]
fn readme_documents_exactly_the_schema_options() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let documented = parse_readme(&readme);
    let schema = logweir::config::schema::pipeline_schema().to_value();
    let expected = from_schema(&schema);
    let mut problems = Vec::new();
    for (kind, components) in &expected {
        for (type_name, options) in components {
            let Some(doc) = documented.get(kind).and_then(|c| c.get(type_name)) else {
                problems.push(format!(
                    "README.md: {kind} `{type_name}` has no `#### \\`{type_name}\\`` section"
                ));
                continue;
            };
            for (option, required) in options {
                match doc.get(option) {
                    None => problems.push(format!(
                        "README.md: option `{option}` of {kind} `{type_name}` is not documented"
                    )),
                    Some(r) if r != required => problems.push(format!(
                        "README.md: option `{option}` of {kind} `{type_name}`: documented {}, but it is {}",
                        if *r { "(required)" } else { "optional" },
                        if *required { "required" } else { "optional" }
                    )),
                    Some(_) => {}
                }
            }
            for option in doc.keys() {
                if !options.contains_key(option) {
                    problems.push(format!(
                        "README.md: {kind} `{type_name}` documents `{option}`, which is not an option"
                    ));
                }
            }
        }
    }
    for (kind, components) in &documented {
        for type_name in components.keys() {
            if !expected
                .get(kind)
                .is_some_and(|c| c.contains_key(type_name))
            {
                problems.push(format!(
                    "README.md: `{type_name}` is documented under {kind} but is not a {kind} type"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_readme_parser_sees_tables_and_requiredness() {
    let doc = parse_readme(
        "### Sinks\n\n#### `x`\n\ntext\n\n| option | default | meaning |\n|---|---|---|\n| `a` | (required) | m |\n| `b` | `1` | m |\n\n#### `y`\n\nNo options.\n\n## Next\n| option | default | meaning |\n| `z` | 1 | m |\n",
    );
    let sinks = &doc["sinks"];
    assert_eq!(sinks["x"].get("a"), Some(&true));
    assert_eq!(sinks["x"].get("b"), Some(&false));
    assert!(sinks["y"].is_empty());
    assert_eq!(doc.len(), 1);
}
