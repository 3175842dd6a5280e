//! `parse_regex` transform: extracts fields from text with regexes with named captures.
//!
//! Patterns are tried in order; the first that matches wins. Each named capture becomes a
//! field (a `__` in a capture name is a path separator, since regex names cannot hold dots:
//! `http__request__method` is `http.request.method`), typed by the `types` table. Regexes are
//! compiled once at build; matching runs on the field's bytes with reused capture slots, and
//! string captures are slices of the field's `Bytes` (no copy). An event no pattern matches,
//! or whose capture does not convert to its type, goes to the `on_error` policy untouched.

use bytes::Bytes;
use regex::bytes::{CaptureLocations, Regex};
use serde::Deserialize;

use super::convert::Conversion;
use super::failure::{EventParser, Failures, OnError, ParserTransform};
use super::ordered_map::OrderedMap;
use super::TransformContext;
use crate::event::{Event, FieldPath, Object, Value};
use crate::topology::Transform;

/// Parses a text field with regexes.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParseRegexConfig {
    /// Regexes with named captures (`(?P<status>\d{3})`), tried in order; the first match
    /// wins. `__` in a capture name nests: `(?P<http__request__method>\w+)`.
    pub patterns: Vec<String>,
    /// The field holding the text.
    #[serde(default = "default_field")]
    pub field: FieldPath,
    /// Types of captures by capture name (or its dotted path): `int`, `float`, `bool`,
    /// `string`, `timestamp` (RFC 3339) or `timestamp|<strftime format>`. Untyped captures
    /// are strings.
    #[serde(default)]
    pub types: OrderedMap<Conversion>,
    /// Put the captures in an object at this path instead of the event root.
    #[serde(default)]
    pub target: Option<FieldPath>,
    /// Remove `field` after a successful parse.
    #[serde(default)]
    pub drop_original: bool,
    /// What happens when no pattern matches or a capture does not convert: `keep` (tagged
    /// `parse_failure`), `drop` or `dead_letter`.
    #[serde(default)]
    pub on_error: OnError,
}

fn default_field() -> FieldPath {
    FieldPath::single(crate::event::MESSAGE)
}

/// One capture group's destination.
#[derive(Debug)]
struct CaptureField {
    group: usize,
    name: String,
    path: FieldPath,
    conversion: Option<Conversion>,
}

#[derive(Debug)]
struct CompiledPattern {
    regex: Regex,
    slots: CaptureLocations,
    fields: Vec<CaptureField>,
}

impl ParseRegexConfig {
    pub fn build(&self, id: &str, ctx: &TransformContext) -> Result<Box<dyn Transform>, String> {
        let parser = ParseRegex {
            patterns: self.compile()?,
            config: self.clone(),
            values: Vec::new(),
        };
        let failures = Failures::new(id, "parse_regex", self.on_error, "parse_failure", ctx);
        Ok(ParserTransform::boxed(parser, failures))
    }

    fn compile(&self) -> Result<Vec<CompiledPattern>, String> {
        if self.patterns.is_empty() {
            return Err("`patterns` is empty: give at least one regex".to_string());
        }
        let type_for = |name: &str| {
            self.types
                .iter()
                .find(|(k, _)| k.as_str() == name || k.replace('.', "__") == name)
                .map(|(_, c)| c.clone())
        };
        let mut compiled = Vec::new();
        let mut all_names = Vec::new();
        for (i, pattern) in self.patterns.iter().enumerate() {
            let regex = Regex::new(pattern)
                .map_err(|e| format!("pattern {} is not a valid regex: {e}", i + 1))?;
            let mut fields = Vec::new();
            for (group, name) in regex.capture_names().enumerate() {
                let Some(name) = name else { continue };
                let dotted = name.replace("__", ".");
                let path = FieldPath::parse(&dotted)
                    .map_err(|e| format!("capture `{name}` of pattern {}: {e}", i + 1))?;
                fields.push(CaptureField {
                    group,
                    name: name.to_string(),
                    path,
                    conversion: type_for(name),
                });
                all_names.push(name.to_string());
            }
            if fields.is_empty() {
                return Err(format!(
                    "pattern {} has no named captures like `(?P<name>...)`",
                    i + 1
                ));
            }
            compiled.push(CompiledPattern {
                slots: regex.capture_locations(),
                regex,
                fields,
            });
        }
        for (key, _) in self.types.iter() {
            let as_capture = key.replace('.', "__");
            if !all_names.iter().any(|n| *n == as_capture || n == key) {
                return Err(format!("`types` names `{key}`, which no pattern captures"));
            }
        }
        Ok(compiled)
    }
}

struct ParseRegex {
    config: ParseRegexConfig,
    patterns: Vec<CompiledPattern>,
    /// Reused between events: the converted captures of the current event.
    values: Vec<(usize, Value)>,
}

impl EventParser for ParseRegex {
    type Reason = String;

    fn parse_event(&mut self, event: &mut Event) -> Result<(), Self::Reason> {
        let text = match event.fields.get_path(&self.config.field) {
            Some(Value::Bytes(b)) => b.clone(),
            Some(other) => {
                return Err(format!(
                    "field `{}` is {}, not a string",
                    self.config.field,
                    other.kind_name()
                ))
            }
            None => return Err(format!("field `{}` is missing", self.config.field)),
        };
        let Some(index) = self
            .patterns
            .iter_mut()
            .position(|p| p.regex.captures_read(&mut p.slots, &text).is_some())
        else {
            return Err("no pattern matched".to_string());
        };
        let pattern = &self.patterns[index];
        self.values.clear();
        for (i, field) in pattern.fields.iter().enumerate() {
            let Some((start, end)) = pattern.slots.get(field.group) else {
                continue;
            };
            let capture: Bytes = text.slice(start..end);
            let value = match &field.conversion {
                None => Value::Bytes(capture),
                Some(c) => c
                    .convert_bytes(capture)
                    .map_err(|e| format!("capture `{}`: {e}", field.name))?,
            };
            self.values.push((i, value));
        }
        if self.config.drop_original {
            event.fields.remove_path(&self.config.field);
        }
        match &self.config.target {
            Some(target) => {
                let mut obj = Object::with_capacity(self.values.len());
                for (i, value) in self.values.drain(..) {
                    obj.insert_path(&pattern.fields[i].path, value);
                }
                event.fields.insert_path(target, Value::Object(obj));
            }
            None => {
                for (i, value) in self.values.drain(..) {
                    event.fields.insert_path(&pattern.fields[i].path, value);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{build, config, message, run, tracked};
    use super::*;
    use crate::finalization::BatchStatus;

    const ACCESS: &str = r#"
patterns = [
  '^(?P<source__ip>\S+) \S+ \S+ \[(?P<ts>[^\]]+)\] "(?P<http__request__method>\w+) (?P<url__original>\S+)[^"]*" (?P<status>\d{3}) (?P<bytes>\d+|-)',
  '^ERROR (?P<error>.*)$',
]
types = { status = "int", "ts" = "timestamp|%d/%b/%Y:%H:%M:%S %z" }
"#;

    #[test]
    fn captures_become_typed_nested_fields_sharing_the_message_bytes() {
        let mut t = build("parse_regex", ACCESS);
        let line = r#"10.0.0.1 - - [24/Nov/2026:11:00:00 +0100] "GET /a?b=1 HTTP/1.1" 200 512"#;
        let out = run(t.as_mut(), vec![message(line)]);
        let e = &out[0];
        let get = |p: &str| e.get(&FieldPath::parse(p).unwrap()).cloned();
        assert_eq!(get("source.ip"), Some(Value::from("10.0.0.1")));
        assert_eq!(get("http.request.method"), Some(Value::from("GET")));
        assert_eq!(get("url.original"), Some(Value::from("/a?b=1")));
        assert_eq!(get("status"), Some(Value::Integer(200)));
        assert_eq!(get("bytes"), Some(Value::from("512")));
        assert_eq!(
            get("ts"),
            Some(Value::Timestamp(
                crate::time::parse_rfc3339(b"2026-11-24T10:00:00Z").unwrap()
            ))
        );
        // The capture is a slice of the message, not a copy.
        let message = e.message().unwrap();
        let ip = get("source.ip").unwrap();
        let ip = ip.as_bytes().unwrap();
        assert_eq!(ip.as_ptr(), message.as_ptr());
    }

    #[test]
    fn patterns_are_tried_in_order_and_target_and_drop_original_apply() {
        let mut t = build(
            "parse_regex",
            &format!("{ACCESS}\ntarget = \"parsed\"\ndrop_original = true"),
        );
        let out = run(t.as_mut(), vec![message("ERROR disk full")]);
        assert_eq!(
            out[0].get(&FieldPath::parse("parsed.error").unwrap()),
            Some(&Value::from("disk full"))
        );
        assert!(out[0].message().is_none());
    }

    #[test]
    fn unmatched_and_unconvertible_events_follow_on_error() {
        let bad_status = r#"10.0.0.1 - - [24/Nov/2026:11:00:00 +0100] "GET / HTTP/1.1" 999 1"#
            .replace("999", "20x");
        let bad_time = r#"10.0.0.1 - - [yesterday] "GET / HTTP/1.1" 200 1"#;
        for line in ["something else", bad_status.as_str(), bad_time] {
            let mut keep = build("parse_regex", ACCESS);
            let out = run(keep.as_mut(), vec![message(line)]);
            assert!(out[0].has_tag("parse_failure"), "{line}");
            // Nothing was half-applied.
            assert_eq!(out[0].fields.len(), 3, "{line}: {:?}", out[0].fields);
            let mut drop = build("parse_regex", &format!("{ACCESS}\non_error = \"drop\""));
            let (event, mut status) = tracked(message(line));
            assert!(run(drop.as_mut(), vec![event]).is_empty());
            assert_eq!(status.try_status(), Some(BatchStatus::Delivered));
        }
        let mut t = build("parse_regex", ACCESS);
        let mut e = message("x");
        e.fields.insert("message", Value::Integer(3));
        assert!(run(t.as_mut(), vec![e])[0].has_tag("parse_failure"));
    }

    #[test]
    fn bad_configurations_are_refused_at_build() {
        let build_err = |options: &str| {
            config("parse_regex", options)
                .and_then(|c| c.build("t", &TransformContext::for_tests()).map(|_| ()))
                .unwrap_err()
        };
        assert!(build_err("patterns = ['(unclosed']").contains("not a valid regex"));
        assert!(build_err("patterns = []").contains("empty"));
        assert!(build_err("patterns = ['^\\d+$']").contains("no named captures"));
        assert!(build_err("patterns = ['(?P<a>x)']\ntypes = { b = \"int\" }").contains("`b`"));
        assert!(
            build_err("patterns = ['(?P<a>x)']\ntypes = { a = \"number\" }")
                .contains("unknown type")
        );
    }
}
