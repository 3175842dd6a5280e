//! `parse_json` transform: parses a field holding JSON text and merges the result into the
//! event (at the root or under `target`).
//!
//! Parsing validates the text with simd-json's tape (one flat node array, reused between
//! events). An object whose top-level keys are all new to the event stays in text form (a
//! [`RawObject`]): its fields are decoded only if something reads them, and sinks write the
//! original text (see `codec::raw_json`). Otherwise (keys the event already has, repeated
//! keys, an application `@timestamp`, or a non-object with `target`), [`Value`]s are built
//! from the tape. Strings without escapes are not copied: they become slices of the
//! original message `Bytes`, because simd-json parses a scratch copy in place and leaves
//! escape-free strings at the same offsets as in the original.

use bytes::Bytes;
use serde::Deserialize;
use simd_json::{Node, StaticNode};

use super::failure::{EventParser, Failures, OnError, ParserTransform};
use super::TransformContext;
use crate::codec::raw_json::RawObject;
use crate::event::{Event, FieldPath, Key, Object, Value};
use crate::topology::Transform;

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
        let parser = ParseJson {
            config: self.clone(),
            parser: JsonParser::default(),
        };
        let failures = Failures::new(id, "parse_json", self.on_error, "parse_failure", ctx);
        Ok(ParserTransform::boxed(parser, failures))
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

/// Top-level keys checked without allocating (larger objects spill to the heap).
type KeyList<'t> = smallvec::SmallVec<[&'t str; 24]>;

/// What [`JsonParser::parse_lazy`] made of a text.
pub enum Parsed {
    /// A JSON object kept as text.
    Raw(std::sync::Arc<RawObject>),
    /// Any JSON value, built.
    Value(Value),
}

impl JsonParser {
    /// Parses `input` (UTF-8 JSON text). A JSON object without repeated top-level keys,
    /// whose keys pass `keys_ok` (given them and the mask of their
    /// [`crate::event::key_signature`]s), is kept as text; anything else is built as a value.
    ///
    /// The text moves into the object kept as text (no reference count traffic on the
    /// shared read buffer it usually slices); text that is not valid JSON is given back.
    pub fn parse_lazy(
        &mut self,
        input: Bytes,
        keys_ok: impl FnOnce(&[&str], u64) -> bool,
    ) -> Result<Parsed, Bytes> {
        self.parse_with(input, true, keys_ok)
    }

    /// [`JsonParser::parse_lazy`]; with `text_form` false, values are always built and the
    /// top-level keys are not collected.
    fn parse_with(
        &mut self,
        input: Bytes,
        text_form: bool,
        keys_ok: impl FnOnce(&[&str], u64) -> bool,
    ) -> Result<Parsed, Bytes> {
        // The parser rewrites strings in place, so it works on a copy; padded as it needs,
        // which spares it a second, padded copy of its own.
        self.scratch.clear();
        self.scratch.extend_from_slice(&input);
        self.scratch
            .resize(input.len() + simd_json::INPUT_PADDING, b' ');
        let tape = self.tape.take().unwrap_or_else(simd_json::Tape::null);
        let mut tape = tape.reset();
        let base = self.scratch.as_ptr() as usize;
        let parsed = simd_json::fill_tape_padded(
            &mut self.scratch,
            input.len(),
            &mut self.buffers,
            &mut tape,
        );
        let result = match parsed {
            Ok(()) => {
                let nodes = &tape.0;
                let mut keys = KeyList::new();
                let key_mask = match nodes.first() {
                    Some(Node::Object { len, count }) if text_form && *count + 1 == nodes.len() => {
                        top_level_keys(nodes, *len, &mut keys).filter(|&mask| keys_ok(&keys, mask))
                    }
                    _ => None,
                };
                if let Some(key_mask) = key_mask {
                    // Keys sit at the same offsets in the scratch copy and in the input.
                    let key_spans = keys
                        .iter()
                        .map(|key| ((key.as_ptr() as usize).wrapping_sub(base), key.len()));
                    Ok(Parsed::Raw(RawObject::with_key_offsets(
                        input, key_spans, key_mask,
                    )))
                } else {
                    let mut i = 0;
                    let value = convert(nodes, &mut i, &input, base);
                    if i == nodes.len() {
                        Ok(Parsed::Value(value))
                    } else {
                        Err(input)
                    }
                }
            }
            Err(_) => Err(input),
        };
        self.tape = Some(tape.reset());
        result
    }

    /// Parses `input` (UTF-8 JSON text). String values share `input`'s memory when they had
    /// no escapes.
    pub fn parse(&mut self, input: &Bytes) -> Option<Value> {
        match self.parse_with(input.clone(), false, |_, _| false).ok()? {
            Parsed::Value(value) => Some(value),
            Parsed::Raw(raw) => Some(Value::Object(Object::from_shared_raw(raw))),
        }
    }
}

/// Fills `keys` with the top-level keys of the object at the tape's start; returns the mask
/// of their [`crate::event::key_signature`]s, `None` when a key repeats.
fn top_level_keys<'t>(nodes: &[Node<'t>], len: usize, keys: &mut KeyList<'t>) -> Option<u64> {
    let mut rest = nodes.get(1..)?;
    let mut seen = 0u64;
    for _ in 0..len {
        let [Node::String(key), value, ..] = rest else {
            return None;
        };
        let sig = crate::event::key_signature(key);
        if seen & sig != 0 && keys.contains(key) {
            return None;
        }
        seen |= sig;
        keys.push(key);
        let skip = match value {
            Node::Object { count, .. } | Node::Array { count, .. } => 2 + count,
            _ => 2,
        };
        rest = rest.get(skip..)?;
    }
    Some(seen)
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
}

impl EventParser for ParseJson {
    type Reason = &'static str;

    fn parse_event(&mut self, event: &mut Event) -> Result<(), Self::Reason> {
        const NOT_A_STRING: &str = "field is missing or not a string";
        const NOT_JSON: &str = "field is not valid JSON";
        const NOT_AN_OBJECT: &str = "field is JSON but not an object (set `target` to keep it)";
        // A text about to be dropped is taken out of the event (an empty string left in its
        // place until then) rather than shared: no reference count traffic on the read
        // buffer it slices. It is put back when it does not parse.
        let text = if self.config.drop_original {
            match event.fields.get_path_mut(&self.config.field) {
                Some(Value::Bytes(text)) => std::mem::take(text),
                _ => return Err(NOT_A_STRING),
            }
        } else {
            match event.fields.get_path(&self.config.field) {
                Some(Value::Bytes(text)) => text.clone(),
                _ => return Err(NOT_A_STRING),
            }
        };
        let put_back = |event: &mut Event, text: Bytes| {
            if let Some(Value::Bytes(slot)) = event.fields.get_path_mut(&self.config.field) {
                if slot.is_empty() {
                    *slot = text;
                }
            }
        };
        let merging = self.config.target.is_none();
        if merging && text.trim_ascii_start().first() != Some(&b'{') {
            // Not an object (rare): which failure it is, without giving the text away.
            let reason = if self.parser.parse(&text).is_some() {
                NOT_AN_OBJECT
            } else {
                NOT_JSON
            };
            put_back(event, text);
            return Err(reason);
        }
        // The field being parsed, when it is a root field about to be dropped, does not
        // count as a key the event already has.
        let dropped = match self.config.field.segments() {
            [only] if self.config.drop_original => Some(only.as_str()),
            _ => None,
        };
        let root = &event.fields;
        let parsed = self.parser.parse_lazy(text, |keys, key_mask| {
            if !merging {
                return true;
            }
            // Most keys are told apart from the event's by their signature alone, often all
            // of them at once (an `@timestamp` key always goes the long way).
            let present = root.key_signatures();
            if (present | crate::event::key_signature(crate::event::TIMESTAMP)) & key_mask == 0 {
                return true;
            }
            keys.iter().all(|k| {
                *k != crate::event::TIMESTAMP
                    && (Some(*k) == dropped
                        || present & crate::event::key_signature(k) == 0
                        || root.get(k).is_none())
            })
        });
        let parsed = match parsed {
            Ok(parsed) => parsed,
            Err(text) => {
                put_back(event, text);
                return Err(NOT_JSON);
            }
        };
        if merging && matches!(&parsed, Parsed::Value(v) if v.as_object().is_none()) {
            // Unreachable in practice: JSON text that starts with `{` is an object. Kept so
            // that a parser surprise is a counted failure, not a silent merge of nothing.
            return Err(NOT_AN_OBJECT);
        }
        if self.config.drop_original {
            event.fields.remove_path(&self.config.field);
        }
        match (&self.config.target, parsed) {
            (Some(target), Parsed::Raw(raw)) => {
                event
                    .fields
                    .insert_path(target, Value::Object(Object::from_shared_raw(raw)));
            }
            (Some(target), Parsed::Value(value)) => {
                event.fields.insert_path(target, value);
            }
            (None, Parsed::Raw(raw)) => event.fields.attach_raw(raw),
            (None, Parsed::Value(Value::Object(obj))) => merge_root(&mut event.fields, obj),
            (None, Parsed::Value(_)) => {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventBatch;
    use crate::topology::TransformOutput;

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
    fn new_keys_stay_text_and_are_written_unchanged() {
        let line = r#"{"level":"warn", "msg":"tab\there \u00e9", "http":{"status":500}}"#;
        let out = run("drop_original = true", line);
        let e = &out[0];
        // Kept as text: read on demand, written as the application wrote it.
        assert!(e.fields.raw().is_some());
        assert_eq!(e.fields.get("level"), Some(&Value::from("warn")));
        assert_eq!(e.fields.get("msg"), Some(&Value::from("tab\there é")));
        assert_eq!(
            e.get(&FieldPath::parse(".http.status").unwrap()),
            Some(&Value::Integer(500))
        );
        let json = e.to_json_string();
        assert!(json.ends_with(&line[1..]), "{json}");
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["msg"], "tab\there é");
        assert_eq!(back["http"]["status"], 500);
        assert_eq!(back["@timestamp"], "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn keys_the_event_has_or_repeats_are_built_as_values_with_the_same_result() {
        // `message` exists (kept), `@timestamp` is typed, `a` repeats: no text form, and the
        // application's fields still win.
        for line in [
            r#"{"message":"app","x":1}"#,
            r#"{"@timestamp":"2026-11-24T10:00:00Z","x":1}"#,
            r#"{"a":1,"a":2}"#,
        ] {
            let out = run("", line);
            assert!(out[0].fields.raw().is_none(), "{line}");
        }
        let out = run("", r#"{"message":"app","x":1}"#);
        assert_eq!(out[0].message().map(|b| &b[..]), Some(&b"app"[..]));
        let out = run("", r#"{"a":1,"a":2}"#);
        assert_eq!(out[0].fields.get("a"), Some(&Value::Integer(2)));
        let json = out[0].to_json_string();
        assert_eq!(json.matches("\"a\"").count(), 1, "{json}");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Keys as written in JSON (some escaped, one repeated) and values of every kind,
        /// with whitespace around the punctuation.
        fn object_text() -> impl Strategy<Value = String> {
            let key = prop::sample::select(vec![
                r#""level""#,
                r#""b\"c""#,
                r#""\u0061x""#,
                r#""ax""#,
                r#""é""#,
                r#""k\\""#,
                r#""x\"""#,
                r#""""#,
                r#""long_key_name_0123456789""#,
            ]);
            let value = prop::sample::select(vec![
                r#""warn""#,
                r#""say \"hi\"""#,
                r#""""#,
                "-1.5e3",
                "42",
                "true",
                "null",
                r#"{"n":{"m":[1,"}"]}}"#,
                r#"[]"#,
                r#""東京 😀""#,
            ]);
            let ws = prop::sample::select(vec!["", " ", "\n  ", "\t"]);
            prop::collection::vec((key, value, ws.clone(), ws), 0..8).prop_map(|members| {
                let body: Vec<String> = members
                    .iter()
                    .map(|(k, v, a, b)| format!("{a}{k}{b}:{a}{v}{b}"))
                    .collect();
                format!("{{{}}}", body.join(","))
            })
        }

        proptest! {
            #[test]
            fn text_form_reads_as_serde_json_does(text in object_text()) {
                let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
                let expected = expected.as_object().unwrap();
                let mut parser = JsonParser::default();
                let input = Bytes::from(text.clone());
                let parsed = parser.parse_lazy(input, |_, _| true);
                // Repeated keys are built as values; everything else stays text.
                let object = match parsed {
                    Ok(Parsed::Raw(raw)) => Object::from_shared_raw(raw),
                    Ok(Parsed::Value(Value::Object(o))) => o,
                    _ => panic!("not an object: {text}"),
                };
                prop_assert_eq!(object.len() >= expected.len(), true);
                for (k, v) in expected {
                    let got = object.get(k).map(Value::to_json);
                    prop_assert_eq!(got.as_ref(), Some(v), "{} in {}", k, text);
                    if let Some(raw) = object.raw() {
                        // Read as text only when it is the same string.
                        if let Some(peeked) = raw.peek_str(k) {
                            prop_assert_eq!(Some(peeked), v.as_str().map(str::as_bytes));
                        }
                    }
                }
                let keys: std::collections::BTreeSet<String> =
                    object.iter().map(|(k, _)| k.to_string()).collect();
                let expected_keys: std::collections::BTreeSet<String> =
                    expected.keys().cloned().collect();
                prop_assert_eq!(keys, expected_keys);
                prop_assert_eq!(object.get("absent"), None);
            }
        }
    }

    #[test]
    fn a_later_change_turns_text_fields_into_values() {
        let mut out = run("drop_original = true", r#"{"level":"info","n":1}"#);
        let e = &mut out[0];
        e.insert(&FieldPath::parse(".level").unwrap(), Value::from("warn"));
        assert!(e.fields.raw().is_none());
        let back: serde_json::Value = serde_json::from_str(&e.to_json_string()).unwrap();
        assert_eq!(back["level"], "warn");
        assert_eq!(back["n"], 1);
        assert_eq!(back.as_object().unwrap().len(), 3);
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
            // A text that was to be dropped is given back whole when it does not parse.
            let out = run("drop_original = true", bad);
            assert!(out[0].has_tag("parse_failure"), "{bad:?}");
            assert_eq!(out[0].message().map(|b| &b[..]), Some(bad.as_bytes()));
            // With a target any JSON value is kept (`[1,2]`, its text dropped).
            let with_target = run("drop_original = true\ntarget = \"app\"", bad);
            let kept = with_target[0].message().map(|b| &b[..]);
            if bad == "[1,2]" {
                assert_eq!(kept, None);
            } else {
                assert_eq!(kept, Some(bad.as_bytes()), "{bad:?}");
            }
        }
    }

    #[test]
    fn a_batch_is_parsed_in_place_in_order_with_its_failures_counted() {
        let cfg: ParseJsonConfig = toml::from_str("drop_original = true").unwrap();
        let ctx = TransformContext::for_tests();
        let mut t = cfg.build("t", &ctx).unwrap();
        let lines = [r#"{"n":1}"#, "not json", r#"{"n":3}"#, "{", r#"{"n":5}"#];
        let events: Vec<Event> = lines
            .iter()
            .map(|l| Event::from_message(Bytes::copy_from_slice(l.as_bytes()), 0))
            .collect();
        let vector = events.as_ptr();
        let mut out = TransformOutput::default();
        t.transform(EventBatch::new(events), &mut out);
        let out = out.take_default();
        assert_eq!(out.as_ptr(), vector, "the batch's own vector goes on");
        let summary: Vec<_> = out
            .iter()
            .map(|e| (e.fields.get("n").cloned(), e.has_tag("parse_failure")))
            .collect();
        assert_eq!(
            summary,
            [
                (Some(Value::Integer(1)), false),
                (None, true),
                (Some(Value::Integer(3)), false),
                (None, true),
                (Some(Value::Integer(5)), false),
            ]
        );
        assert_eq!(out[1].message().map(|b| &b[..]), Some(&b"not json"[..]));
        let tally = ctx
            .shared
            .get_or_init("t", super::super::failure::FailureTally::default);
        assert_eq!(tally.count(), 2);
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
        let ctx = TransformContext::new(dir.path().to_path_buf());
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
