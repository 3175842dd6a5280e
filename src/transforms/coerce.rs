//! `coerce` transform: converts fields to types (`int`, `float`, `bool`, `string`,
//! `timestamp`, `timestamp|<strftime format>`). Conversions are resolved at build. A field
//! that does not convert keeps its value and the event is tagged `coerce_failure` (counted,
//! with one rate-limited warning for all of the component's instances); a missing field is
//! left alone.

use serde::Deserialize;

use std::sync::Arc;

use super::convert::Conversion;
use super::failure::FailureTally;
use super::ordered_map::OrderedMap;
use super::TransformContext;
use crate::event::{EventBatch, FieldPath};
use crate::topology::{Transform, TransformOutput};

/// Converts field types.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CoerceConfig {
    /// Path → type, e.g. `{ ".status" = "int", ".ok" = "bool", ".t" = "timestamp" }`.
    pub types: OrderedMap<Conversion>,
}

impl CoerceConfig {
    pub fn build(&self, id: &str, ctx: &TransformContext) -> Result<Box<dyn Transform>, String> {
        if self.types.is_empty() {
            return Err("`types` is empty".to_string());
        }
        let mut fields = Vec::with_capacity(self.types.len());
        for (path, conversion) in self.types.iter() {
            let parsed = FieldPath::parse(path).map_err(|e| format!("`{path}`: {e}"))?;
            fields.push((parsed, conversion.clone()));
        }
        Ok(Box::new(Coerce {
            id: id.to_string(),
            fields,
            tally: ctx.shared.get_or_init(id, FailureTally::default),
            errors: crate::internal_metrics::component_errors(
                id,
                "transform",
                "coerce",
                "coerce_failure",
            ),
        }))
    }
}

struct Coerce {
    id: String,
    fields: Vec<(FieldPath, Conversion)>,
    /// Failures and the warning's rate limit, shared by the component's instances.
    tally: Arc<FailureTally>,
    /// `logweir_component_errors_total{error_type="coerce_failure"}`.
    errors: metrics::Counter,
}

impl Transform for Coerce {
    fn transform(&mut self, batch: EventBatch, output: &mut TransformOutput) {
        // Every event stays: changed where it is, and the batch's vector goes on as it is.
        let mut events = batch.events;
        for event in events.iter_mut() {
            let mut failed = false;
            for (path, conversion) in &self.fields {
                let Some(slot) = event.fields.get_path_mut(path) else {
                    continue;
                };
                match conversion.convert_value(slot) {
                    Ok(v) => *slot = v,
                    Err(e) => {
                        failed = true;
                        let failures = self.tally.record();
                        self.errors.increment(1);
                        if let Some(suppressed) = self.tally.allow("coerce_failure") {
                            tracing::warn!(component_id = %self.id, field = %path, error = %e, failures, suppressed, "field not coerced; event tagged `coerce_failure`");
                        }
                    }
                }
            }
            if failed {
                event.add_tag("coerce_failure");
            }
        }
        output.push_all(events);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{build, config, json, run};
    use super::FailureTally;
    use crate::event::Value;

    #[test]
    fn converts_fields_and_tags_failures_keeping_the_value() {
        let mut t = build(
            "coerce",
            r#"types = { ".status" = "int", ".ok" = "bool", ".t" = "timestamp", ".d" = "float", ".missing" = "int" }"#,
        );
        let out = run(
            t.as_mut(),
            vec![
                json(
                    serde_json::json!({"status": "404", "ok": "true", "t": "2026-11-24T10:00:00Z", "d": 2}),
                ),
                json(serde_json::json!({"status": "n/a", "ok": "false"})),
            ],
        );
        assert_eq!(out[0].fields.get("status"), Some(&Value::Integer(404)));
        assert_eq!(out[0].fields.get("ok"), Some(&Value::Bool(true)));
        assert_eq!(out[0].fields.get("d"), Some(&Value::Float(2.0)));
        assert!(matches!(out[0].fields.get("t"), Some(Value::Timestamp(_))));
        assert!(!out[0].has_tag("coerce_failure"));
        assert_eq!(out[1].fields.get("status"), Some(&Value::from("n/a")));
        assert_eq!(out[1].fields.get("ok"), Some(&Value::Bool(false)));
        assert!(out[1].has_tag("coerce_failure"));
    }

    #[test]
    fn the_instances_of_one_component_share_the_failure_count() {
        let ctx = super::super::TransformContext::for_tests();
        let cfg = config("coerce", r#"types = { ".n" = "int" }"#).unwrap();
        let (mut a, mut b) = (cfg.build("c", &ctx).unwrap(), cfg.build("c", &ctx).unwrap());
        let mut other = cfg.build("other", &ctx).unwrap();
        let bad = || json(serde_json::json!({"n": "x"}));
        run(a.as_mut(), vec![bad(), bad()]);
        run(b.as_mut(), vec![bad(), json(serde_json::json!({"n": "7"}))]);
        run(other.as_mut(), vec![bad()]);
        let tally = |id: &str| ctx.shared.get_or_init(id, FailureTally::default).count();
        assert_eq!(tally("c"), 3);
        assert_eq!(tally("other"), 1);
    }

    #[test]
    fn unknown_types_and_bad_paths_are_refused() {
        assert!(config("coerce", "types = { a = \"decimal\" }").is_err());
        assert!(config("coerce", "types = { \"a b\" = \"int\" }")
            .unwrap()
            .build("t", &super::super::TransformContext::for_tests())
            .is_err());
    }
}
