//! `remove_fields` transform: deletes fields by path. Paths are parsed once; removing a
//! field that is not there does nothing.

use serde::Deserialize;

use crate::event::{EventBatch, FieldPath};
use crate::topology::{Transform, TransformOutput};

/// Removes fields.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveFieldsConfig {
    /// Paths to remove, e.g. `[".password", ".kubernetes.labels"]`.
    pub fields: Vec<FieldPath>,
}

impl RemoveFieldsConfig {
    pub fn build(&self, _id: &str) -> Result<Box<dyn Transform>, String> {
        if self.fields.is_empty() {
            return Err("`fields` is empty".to_string());
        }
        Ok(Box::new(RemoveFields {
            fields: self.fields.clone(),
        }))
    }
}

struct RemoveFields {
    fields: Vec<FieldPath>,
}

impl Transform for RemoveFields {
    fn transform(&mut self, batch: EventBatch, output: &mut TransformOutput) {
        // Every event stays: changed where it is, and the batch's vector goes on as it is.
        let mut events = batch.events;
        for event in events.iter_mut() {
            for path in &self.fields {
                event.fields.remove_path(path);
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
    fn removes_top_level_and_nested_fields_and_ignores_missing_ones() {
        let mut t = build("remove_fields", "fields = [\".a\", \".b.c\", \".nope.x\"]");
        let out = run(
            t.as_mut(),
            vec![json(
                serde_json::json!({"a": 1, "b": {"c": 2, "d": 3}, "e": 4}),
            )],
        );
        let f = Value::Object(out[0].fields.clone()).to_json();
        assert!(f["a"].is_null());
        assert_eq!(f["b"], serde_json::json!({"d": 3}));
        assert_eq!(f["e"], 4);
        assert!(config("remove_fields", "fields = [\".a b\"]").is_err());
        assert!(config("remove_fields", "fields = []")
            .unwrap()
            .build("t", &super::super::TransformContext::for_tests())
            .is_err());
    }
}
