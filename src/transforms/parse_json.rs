//! `parse_json` transform: parses a field holding JSON text and merges the result into the
//! event (at the root or under `target`).
//!
//! Parsing uses simd-json's tape (one flat node array, reused between events) and builds
//! [`Value`]s straight from it. Strings without escapes are not copied: they become slices of
//! the original message `Bytes`, because simd-json parses a scratch copy in place and leaves
//! escape-free strings at the same offsets as in the original.

use bytes::Bytes;
use serde::Deserialize;
use simd_json::{Node, StaticNode};

use super::failure::{Failures, OnError};
use super::TransformContext;
use crate::event::{Event, EventBatch, FieldPath, Key, Object, Value};
use crate::topology::{Transform, TransformOutput};

/// Parses JSON text in a field.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParseJsonConfig {
    /// The field holding JSON text.
    #[serde(default = "default_field")]
    pub field: FieldPath,
    /// Where to put the parsed value; absent = merge the object's fields into the root.
    #[serde(default)]
    pub target: Option<FieldPath>,
    /// Remove `field` after a successful parse.
    #[serde(default)]
    pub drop_original: bool,
    /// What happens on a parse failure: `keep` (tagged `parse_failure`), `drop` or
    /// `dead_letter` (to `<data_dir>/dead_letter/<id>.ndjson`).
    #[serde(default)]
    pub on_error: OnError,
}

fn default_field() -> FieldPath {
    FieldPath::single(crate::event::MESSAGE)
}

impl ParseJsonConfig {
    pub fn build(&self, id: &str, ctx: &TransformContext) -> Result<Box<dyn Transform>, String> {
        Ok(Box::new(ParseJson {
            config: self.clone(),
            parser: JsonParser::default(),
            failures: Failures::new(id, "parse_json", self.on_error, "parse_failure", ctx),
        }))
    }
}

/// A reusable simd-json parser producing [`Value`]s.
#[derive(Default)]
pub struct JsonParser {
    scratch: Vec<u8>,
    buffers: simd_json::Buffers,
    tape: Option<simd_json::Tape<'static>>,
}

impl std::fmt::Debug for JsonParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JsonParser")
    }
}

impl JsonParser {
    /// Parses `input` (UTF-8 JSON text). String values share `input`'s memory when they had
    /// no escapes.
    pub fn parse(&mut self, input: &Bytes) -> Option<Value> {
        self.scratch.clear();
        self.scratch.extend_from_slice(input);
        let tape = self.tape.take().unwrap_or_else(simd_json::Tape::null);
        let mut tape = tape.reset();
        // Strings on the tape point into the scratch copy; their offsets from its start
        // locate the same bytes in `input`.
        let base = self.scratch.as_ptr() as usize;
        let parsed = simd_json::fill_tape(&mut self.scratch, &mut self.buffers, &mut tape);
        let result = match parsed {
            Ok(()) => {
                let mut i = 0;
                let value = convert(&tape.0, &mut i, input, base);
                (i == tape.0.len()).then_some(value)
            }
            Err(_) => None,
        };
        self.tape = Some(tape.reset());
        result
    }
}

/// A string from the tape as `Bytes`: a slice of `original` when the scratch copy still
/// holds the same bytes at the same offset, a copy otherwise.
fn string_bytes(s: &str, original: &Bytes, scratch_base: usize) -> Bytes {
    let ptr = s.as_ptr() as usize;
    if let Some(offset) = ptr.checked_sub(scratch_base) {
        if let Some(orig) = original.get(offset..offset + s.len()) {
            if orig == s.as_bytes() {
                return original.slice(offset..offset + s.len());
            }
        }
    }
    Bytes::copy_from_slice(s.as_bytes())
}

fn convert(nodes: &[Node<'_>], i: &mut usize, original: &Bytes, base: usize) -> Value {
    let Some(node) = nodes.get(*i) else {
        return Value::Null;
    };
    *i += 1;
    match node {
        Node::Static(s) => match s {
            StaticNode::Null => Value::Null,
            StaticNode::Bool(b) => Value::Bool(*b),
            StaticNode::I64(n) => Value::Integer(*n),
            StaticNode::U64(n) => match i64::try_from(*n) {
                Ok(n) => Value::Integer(n),
                Err(_) => Value::Float(*n as f64),
            },
            StaticNode::F64(f) => Value::Float(*f),
        },
        Node::String(s) => Value::Bytes(string_bytes(s, original, base)),
        Node::Array { len, .. } => {
            let mut items = Vec::with_capacity(*len);
            for _ in 0..*len {
                items.push(convert(nodes, i, original, base));
            }
            Value::Array(items)
        }
        Node::Object { len, .. } => {
            let mut obj = Object::with_capacity(*len);
            let mut seen = 0u64;
            for _ in 0..*len {
                let key = match nodes.get(*i) {
                    Some(Node::String(k)) => Key::new(k),
                    _ => Key::default(),
                };
                *i += 1;
                let value = convert(nodes, i, original, base);
                // JSON objects may repeat a key; the last one wins, as in most parsers. The
                // signature mask makes the usual, repeat-free case a plain append.
                obj.insert_tracked(key, value, &mut seen);
            }
            Value::Object(obj)
        }
    }
}

struct ParseJson {
    config: ParseJsonConfig,
    parser: JsonParser,
    failures: Failures,
}

impl ParseJson {
    fn apply(&mut self, event: &mut Event) -> Result<(), &'static str> {
        let Some(Value::Bytes(text)) = event.fields.get_path(&self.config.field) else {
            return Err("field is missing or not a string");
        };
        let text = text.clone();
        let Some(parsed) = self.parser.parse(&text) else {
            return Err("field is not valid JSON");
        };
        match &self.config.target {
            Some(target) => {
                if self.config.drop_original {
                    event.fields.remove_path(&self.config.field);
                }
                event.fields.insert_path(target, parsed);
            }
            None => {
                let Value::Object(obj) = parsed else {
                    return Err("field is JSON but not an object (set `target` to keep it)");
                };
                if self.config.drop_original {
                    event.fields.remove_path(&self.config.field);
                }
                merge_root(&mut event.fields, obj);
            }
        }
        Ok(())
    }
}

/// Merges parsed fields into the root. An application's `@timestamp` only replaces ours when
/// it is a valid RFC 3339 string (kept typed); otherwise the application's fields win.
fn merge_root(root: &mut Object, parsed: Object) {
    let mut seen = root.key_signatures();
    for (k, v) in parsed {
        if k.as_str() == crate::event::TIMESTAMP {
            if let Some(ts) = v.as_bytes().and_then(|b| crate::time::parse_rfc3339(b)) {
                root.insert_tracked(k, Value::Timestamp(ts), &mut seen);
            }
            continue;
        }
        root.insert_tracked(k, v, &mut seen);
    }
}

impl Transform for ParseJson {
    fn transform(&mut self, batch: EventBatch, output: &mut TransformOutput) {
        output.reserve(batch.len());
        for mut event in batch.events {
            match self.apply(&mut event) {
                Ok(()) => output.push(event),
                Err(reason) => self.failures.fail(event, reason, output),
            }
        }
        self.failures.end_batch();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(config: &str, message: &str) -> Vec<Event> {
        let cfg: ParseJsonConfig = toml::from_str(config).unwrap();
        let mut t = cfg.build("t", &TransformContext::for_tests()).unwrap();
        let mut out = TransformOutput::default();
        let event = Event::from_message(Bytes::copy_from_slice(message.as_bytes()), 0);
        t.transform(EventBatch::new(vec![event]), &mut out);
        out.take_default()
    }

    #[test]
    fn merges_objects_into_the_root_zero_copy_and_with_escapes() {
        let out = run(
            "",
            r#"{"level":"info","msg":"a \"q\" é","n":-3,"big":18446744073709551615,"f":0.5,"nested":{"a":[1,true,null]}}"#,
        );
        let e = &out[0];
        assert_eq!(e.fields.get("level"), Some(&Value::from("info")));
        assert_eq!(e.fields.get("msg"), Some(&Value::from("a \"q\" é")));
        assert_eq!(e.fields.get("n"), Some(&Value::Integer(-3)));
        assert_eq!(
            e.fields.get("big"),
            Some(&Value::Float(18446744073709551615.0))
        );
        assert_eq!(
            e.get(&FieldPath::parse(".nested.a").unwrap()),
            Some(&Value::Array(vec![
                Value::Integer(1),
                Value::Bool(true),
                Value::Null
            ]))
        );
        assert!(!e.has_tag("parse_failure"));
        // The original message is kept by default.
        assert!(e.message().is_some());
    }

    #[test]
    fn target_and_drop_original() {
        let out = run("target = \"app\"\ndrop_original = true", r#"{"a":1}"#);
        let e = &out[0];
        assert_eq!(
            e.get(&FieldPath::parse("app.a").unwrap()),
            Some(&Value::Integer(1))
        );
        assert!(e.message().is_none());
    }

    #[test]
    fn failures_are_kept_and_tagged_or_dropped() {
        for bad in [
            r#"{"a":"#,
            "plain text",
            "",
            "[1,2]",
            r#"{"a":1} trailing"#,
            "\u{0}",
        ] {
            let out = run("", bad);
            assert_eq!(out.len(), 1, "{bad:?}");
            assert!(out[0].has_tag("parse_failure"), "{bad:?}");
            assert_eq!(out[0].message().map(|b| &b[..]), Some(bad.as_bytes()));
            assert!(run("on_error = \"drop\"", bad).is_empty());
        }
    }

    #[test]
    fn a_valid_app_timestamp_replaces_the_event_time() {
        let out = run("", r#"{"@timestamp":"2026-11-24T10:00:00Z"}"#);
        assert_eq!(
            out[0].timestamp(),
            crate::time::parse_rfc3339(b"2026-11-24T10:00:00Z")
        );
        let out = run("", r#"{"@timestamp":"yesterday"}"#);
        assert_eq!(out[0].timestamp(), Some(0));
    }

    #[test]
    fn dead_letters_go_to_the_component_file_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = TransformContext {
            data_dir: dir.path().to_path_buf(),
        };
        let cfg: ParseJsonConfig = toml::from_str("on_error = \"dead_letter\"").unwrap();
        let mut t = cfg.build("parse", &ctx).unwrap();
        let mut out = TransformOutput::default();
        let (bad, mut status) = super::super::test_support::tracked(Event::from_message(
            Bytes::from_static(b"oops {"),
            0,
        ));
        let good = Event::from_message(Bytes::from_static(b"{\"a\":1}"), 0);
        t.transform(EventBatch::new(vec![bad, good]), &mut out);
        let passed = out.take_default();
        assert_eq!(passed.len(), 1);
        assert_eq!(passed[0].fields.get("a"), Some(&Value::Integer(1)));
        let lines = std::fs::read_to_string(dir.path().join("dead_letter/parse.ndjson")).unwrap();
        let line: serde_json::Value = serde_json::from_str(lines.trim()).unwrap();
        assert_eq!(line["component_id"], "parse");
        assert_eq!(line["reason"], "field is not valid JSON");
        assert_eq!(line["event"]["message"], "oops {");
        // The dead-lettered event was finished (a lost finalizer would fail the batch).
        assert_eq!(
            status.try_status(),
            Some(crate::finalization::BatchStatus::Delivered)
        );
    }
}
