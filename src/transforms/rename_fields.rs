//! `rename_fields` transform: moves fields to new paths, in configuration order. A missing
//! source does nothing; an existing destination is replaced.

use serde::Deserialize;

use super::ordered_map::OrderedMap;
use crate::event::{EventBatch, FieldPath};
use crate::topology::{Transform, TransformOutput};

/// Renames fields.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameFieldsConfig {
    /// Old path → new path, e.g. `{ ".msg" = ".message", ".lvl" = ".log.level" }`.
    pub fields: OrderedMap<String>,
}

impl RenameFieldsConfig {
    pub fn build(&self, _id: &str) -> Result<Box<dyn Transform>, String> {
        if self.fields.is_empty() {
            return Err("`fields` is empty".to_string());
        }
        let mut renames = Vec::with_capacity(self.fields.len());
        for (from, to) in self.fields.iter() {
            let from_path = FieldPath::parse(from).map_err(|e| format!("`{from}`: {e}"))?;
            let to_path = FieldPath::parse(to).map_err(|e| format!("`{to}`: {e}"))?;
            if to_path.segments().starts_with(from_path.segments()) {
                return Err(format!("cannot rename `{from}` into itself (`{to}`)"));
            }
            renames.push((from_path, to_path));
        }
        Ok(Box::new(RenameFields { renames }))
    }
}

struct RenameFields {
    renames: Vec<(FieldPath, FieldPath)>,
}

impl Transform for RenameFields {
    fn transform(&mut self, batch: EventBatch, output: &mut TransformOutput) {
        // Every event stays: changed where it is, and the batch's vector goes on as it is.
        let mut events = batch.events;
        for event in events.iter_mut() {
            for (from, to) in &self.renames {
                if let Some(value) = event.fields.remove_path(from) {
                    event.fields.insert_path(to, value);
                }
            }
        }
        output.push_all(events);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{build, config, json, run};
    use crate::event::Value;

    #[test]
    fn moves_fields_in_order_and_skips_missing_ones() {
        let mut t = build(
            "rename_fields",
            r#"fields = { ".msg" = ".message", ".lvl" = ".log.level", ".nope" = ".x", ".log.level" = ".level" }"#,
        );
        let out = run(
            t.as_mut(),
            vec![json(
                serde_json::json!({"msg": "hi", "lvl": "warn", "message": "old"}),
            )],
        );
        let f = Value::Object(out[0].fields.clone()).to_json();
        assert_eq!(f["message"], "hi");
        assert!(f["msg"].is_null());
        assert_eq!(f["level"], "warn");
        assert_eq!(f["log"], serde_json::json!({}));
        assert!(f["x"].is_null());
    }

    #[test]
    fn refuses_bad_paths_and_renames_into_itself() {
        let ctx = super::super::TransformContext::for_tests();
        for options in [
            "fields = { \".a\" = \".a.b\" }",
            "fields = { \".a\" = \"a b\" }",
            "fields = {}",
        ] {
            assert!(
                config("rename_fields", options)
                    .unwrap()
                    .build("t", &ctx)
                    .is_err(),
                "{options}"
            );
        }
    }
}
