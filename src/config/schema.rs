//! The JSON Schema of a pipeline file, printed by `logweir schema` and committed at
//! `pipelines/schema/logweir.schema.json` for editors (Taplo / Even Better TOML read the
//! `#:schema` directive at the top of a pipeline file).
//!
//! Every component's options come from `schemars` derives on the same structs that parse the
//! configuration, so `///` field docs become descriptions, `#[serde(default)]` values become
//! defaults and `deny_unknown_fields` becomes `additionalProperties: false`: the schema cannot
//! drift from the parser. This module only adds what the loader handles itself: the top-level
//! keys, and per component its `type` (the discriminator of the `oneOf`), `inputs` and a sink's
//! `buffer`.

use schemars::generate::SchemaSettings;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Value};

use super::{ApiConfig, ComponentKind, TOP_LEVEL_KEYS};
use crate::buffers::BufferConfig;
use crate::pipeline_tests::PipelineTestConfig;
use crate::sinks::SinkConfig;
use crate::sources::SourceConfig;
use crate::transforms::TransformConfig;

/// The `$id`-less schema dialect editors support best (Taplo validates draft-07).
pub fn generator() -> SchemaGenerator {
    SchemaSettings::draft07().into_generator()
}

/// The options schema of a config struct, inline (its own nested types become definitions of
/// `generator`).
pub fn options<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    T::json_schema(generator)
}

/// A component table: the struct's options plus `type = "<type_name>"`, and `inputs` for
/// transforms and sinks, `buffer` for sinks.
pub fn component_schema(
    generator: &mut SchemaGenerator,
    kind: ComponentKind,
    type_name: &str,
    options: Schema,
) -> Schema {
    let mut schema = options;
    let obj = schema.ensure_object();
    obj.insert("type".into(), json!("object"));
    let properties = obj
        .entry("properties")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("properties is an object");
    properties.insert(
        "type".into(),
        json!({
            "const": type_name,
            "description": format!("The {} type.", kind.as_str()),
        }),
    );
    if kind != ComponentKind::Source {
        properties.insert(
            "inputs".into(),
            json!({
                "type": "array",
                "items": { "type": "string" },
                "description": "Ids of the components whose output this one reads: `id`, or `id.route` for an output of a `route` transform.",
            }),
        );
    }
    if kind == ComponentKind::Sink {
        let buffer = generator.subschema_for::<BufferConfig>();
        let mut buffer = buffer.to_value();
        if let Some(o) = buffer.as_object_mut() {
            o.insert(
                "description".into(),
                json!("The sink's buffer; default `{ type = \"memory\", max_events = 4096 }`."),
            );
        }
        properties.insert("buffer".into(), buffer);
    }
    let required = obj.entry("required").or_insert_with(|| json!([]));
    if let Some(r) = required.as_array_mut() {
        r.insert(0, json!("type"));
    }
    schema
}

fn kind_schema(generator: &mut SchemaGenerator, kind: ComponentKind) -> Value {
    let mut alternatives = Vec::new();
    for type_name in kind.types() {
        let options = match kind {
            ComponentKind::Source => SourceConfig::json_schema(type_name, generator),
            ComponentKind::Transform => TransformConfig::json_schema(type_name, generator),
            ComponentKind::Sink => SinkConfig::json_schema(type_name, generator),
        }
        .unwrap_or_else(|| panic!("{} type `{type_name}` has no schema", kind.as_str()));
        alternatives.push(component_schema(generator, kind, type_name, options).to_value());
    }
    json!({
        "type": "object",
        "description": format!(
            "The pipeline's {}: `[{}.<id>]` tables; ids may not contain dots or spaces.",
            kind.table(),
            kind.table()
        ),
        "propertyNames": { "pattern": "^[^. ]+$" },
        "additionalProperties": { "oneOf": alternatives },
    })
}

/// The whole configuration's schema.
pub fn pipeline_schema() -> Schema {
    let mut generator = generator();
    let api = generator.subschema_for::<ApiConfig>().to_value();
    let tests = generator.subschema_for::<PipelineTestConfig>().to_value();
    let sources = kind_schema(&mut generator, ComponentKind::Source);
    let transforms = kind_schema(&mut generator, ComponentKind::Transform);
    let sinks = kind_schema(&mut generator, ComponentKind::Sink);
    let definitions: serde_json::Map<String, Value> = generator
        .definitions()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let properties = json!({
        "data_dir": {
            "type": "string",
            "default": "./data",
            "description": "Checkpoints, disk buffers and dead letters live here (created if missing)."
        },
        "api": {
            "allOf": [api],
            "description": "The HTTP API (`GET /health`, `GET /metrics`); absent = no API."
        },
        "sources": sources,
        "transforms": transforms,
        "sinks": sinks,
        "tests": {
            "type": "array",
            "items": tests,
            "description": "Unit tests of the transforms, run by `logweir test`."
        }
    });
    debug_assert_eq!(
        properties.as_object().map(|p| p.len()),
        Some(TOP_LEVEL_KEYS.len())
    );
    let mut root = json_schema!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "logweir pipeline",
        "description": "A logweir pipeline file (several files and `--config-dir` merge into one graph).",
        "type": "object",
        "additionalProperties": false,
        "properties": properties,
        "definitions": definitions,
    });
    // Draft-07 ignores keywords beside `$ref` (descriptions, defaults): the generator's
    // transforms move such `$ref`s into `allOf`.
    for transform in generator.transforms_mut() {
        transform.transform(&mut root);
    }
    root
}

/// [`pipeline_schema`] as pretty JSON with a trailing newline: the committed file's bytes.
pub fn pipeline_schema_json() -> String {
    let mut s = serde_json::to_string_pretty(&pipeline_schema()).expect("a schema serializes");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_component_type_has_a_schema_with_its_type_as_discriminator() {
        let schema = pipeline_schema().to_value();
        for (kind, table) in [
            (ComponentKind::Source, "sources"),
            (ComponentKind::Transform, "transforms"),
            (ComponentKind::Sink, "sinks"),
        ] {
            let alts = schema["properties"][table]["additionalProperties"]["oneOf"]
                .as_array()
                .unwrap();
            let consts: Vec<&str> = alts
                .iter()
                .map(|a| a["properties"]["type"]["const"].as_str().unwrap())
                .collect();
            assert_eq!(consts, kind.types());
        }
        let keys: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = TOP_LEVEL_KEYS.to_vec();
        expected.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, expected);
    }
}
