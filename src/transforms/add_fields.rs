//! `add_fields` transform: sets fields to static values or to `{{ field }}` templates.
//!
//! Paths, values and templates are prepared at build. A static value is cloned per event
//! (text shares its bytes). A template that is exactly one `{{ field }}` copies that field's
//! value with its type; other templates render to text (unsanitised: these are field values,
//! not paths). A template whose field is missing sets nothing (counted). `${ENV}` in values
//! is handled earlier, by configuration interpolation.

use serde::Deserialize;

use super::ordered_map::OrderedMap;
use crate::event::{Event, EventBatch, FieldPath, Object, Value};
use crate::template::Template;
use crate::topology::{Transform, TransformOutput};

/// Adds fields.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddFieldsConfig {
    /// Field path → value. Strings containing `{{ path }}` are templates (write a literal
    /// `%` in them as `%%`: `%Y` and friends format `@timestamp`); numbers, booleans, arrays
    /// and tables are added as they are.
    #[schemars(with = "OrderedMap<serde_json::Value>")]
    pub fields: OrderedMap<toml::Value>,
    /// Replace fields that already exist (default `true`); `false` only fills gaps.
    #[serde(default = "default_true")]
    pub overwrite: bool,
}

fn default_true() -> bool {
    true
}

#[derive(Debug)]
enum FieldValue {
    Static(Value),
    Copy(FieldPath),
    Template(Template),
}

/// A TOML value as an event value (TOML datetimes with an offset become timestamps).
pub fn value_from_toml(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::from(s.as_str()),
        toml::Value::Integer(i) => Value::Integer(*i),
        toml::Value::Float(f) => Value::Float(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => {
            let text = d.to_string();
            match crate::time::parse_rfc3339(text.as_bytes()) {
                Some(t) => Value::Timestamp(t),
                None => Value::from(text),
            }
        }
        toml::Value::Array(items) => Value::Array(items.iter().map(value_from_toml).collect()),
        toml::Value::Table(t) => {
            let mut obj = Object::with_capacity(t.len());
            for (k, v) in t {
                obj.insert(k.as_str(), value_from_toml(v));
            }
            Value::Object(obj)
        }
    }
}

impl AddFieldsConfig {
    pub fn build(&self, id: &str) -> Result<Box<dyn Transform>, String> {
        if self.fields.is_empty() {
            return Err("`fields` is empty".to_string());
        }
        let mut fields = Vec::with_capacity(self.fields.len());
        for (key, value) in self.fields.iter() {
            let path = FieldPath::parse(key).map_err(|e| format!("field `{key}`: {e}"))?;
            let value = match value {
                toml::Value::String(s) if s.contains("{{") => {
                    let template = Template::parse(s).map_err(|e| format!("field `{key}`: {e}"))?;
                    match template.single_field() {
                        Some(p) => FieldValue::Copy(p.clone()),
                        None => FieldValue::Template(template),
                    }
                }
                other => FieldValue::Static(value_from_toml(other)),
            };
            fields.push((path, value));
        }
        Ok(Box::new(AddFields {
            id: id.to_string(),
            fields,
            overwrite: self.overwrite,
            rendered: String::new(),
            missing: 0,
        }))
    }
}

struct AddFields {
    id: String,
    fields: Vec<(FieldPath, FieldValue)>,
    overwrite: bool,
    rendered: String,
    missing: u64,
}

impl AddFields {
    fn apply(&mut self, event: &mut Event) {
        for (path, value) in &self.fields {
            if !self.overwrite && event.get(path).is_some() {
                continue;
            }
            let value = match value {
                FieldValue::Static(v) => Some(v.clone()),
                FieldValue::Copy(from) => event.get(from).cloned(),
                FieldValue::Template(t) => match t.render_raw(event, &mut self.rendered) {
                    None => Some(Value::from(self.rendered.as_str())),
                    Some(_) => None,
                },
            };
            match value {
                Some(v) => {
                    event.insert(path, v);
                }
                None => {
                    self.missing += 1;
                    if self.missing == 1 || self.missing.is_power_of_two() {
                        tracing::debug!(component_id = %self.id, field = %path, missing = self.missing, "template field missing; field not added");
                    }
                }
            }
        }
    }
}

impl Transform for AddFields {
    fn transform(&mut self, batch: EventBatch, output: &mut TransformOutput) {
        // Every event stays: changed where it is, and the batch's vector goes on as it is.
        let mut events = batch.events;
        for event in events.iter_mut() {
            self.apply(event);
        }
        output.push_all(events);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{build, config, json, run};
    use super::*;

    #[test]
    fn adds_static_typed_and_templated_fields() {
        let mut t = build(
            "add_fields",
            r#"fields = { "service.env" = "prod", "team" = "{{ kubernetes.namespace }}-team", "copy" = "{{ status }}", "n" = 3, "on" = true, "url" = "{{ path }}" }"#,
        );
        let out = run(
            t.as_mut(),
            vec![json(serde_json::json!({
                "kubernetes": {"namespace": "shop"}, "status": 200, "path": "/a/../b"
            }))],
        );
        let f = Value::Object(out[0].fields.clone()).to_json();
        assert_eq!(f["service"]["env"], "prod");
        assert_eq!(f["team"], "shop-team");
        assert_eq!(f["copy"], 200);
        assert_eq!(f["n"], 3);
        assert_eq!(f["on"], true);
        // Not sanitised: a field value is not a path.
        assert_eq!(f["url"], "/a/../b");
    }

    #[test]
    fn missing_template_fields_add_nothing_and_overwrite_false_fills_gaps() {
        let mut t = build(
            "add_fields",
            "fields = { team = \"{{ nope }}-x\", level = \"info\", new = \"y\" }\noverwrite = false",
        );
        let out = run(
            t.as_mut(),
            vec![json(serde_json::json!({"level": "error"}))],
        );
        let f = Value::Object(out[0].fields.clone()).to_json();
        assert!(f["team"].is_null());
        assert_eq!(f["level"], "error");
        assert_eq!(f["new"], "y");
    }

    #[test]
    fn bad_paths_and_templates_are_refused_at_build() {
        let ctx = super::super::TransformContext::for_tests();
        for options in [
            "fields = {}",
            "fields = { \"a..b\" = 1 }",
            "fields = { a = \"{{ open\" }",
        ] {
            assert!(
                config("add_fields", options)
                    .unwrap()
                    .build("t", &ctx)
                    .is_err(),
                "{options}"
            );
        }
    }
}
