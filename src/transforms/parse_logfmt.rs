//! `parse_logfmt` transform: parses `key=value key2="quoted value" flag` text into fields.
//!
//! Grammar: pairs separated by spaces or tabs; a key runs to `=` or whitespace; a value is
//! either bare (to the next whitespace) or double-quoted with `\"`, `\\`, `\n`, `\t`, `\r`
//! escapes; a key without `=` is `true`. Keys are taken literally (a dot does not nest).
//! Values are slices of the field's `Bytes` unless they held escapes. Text that is not
//! logfmt (an unterminated quote, a pair without a key, nothing but spaces) goes to the
//! `on_error` policy untouched.

use bytes::Bytes;
use serde::Deserialize;

use super::failure::{EventParser, Failures, OnError, ParserTransform};
use super::TransformContext;
use crate::event::{Event, FieldPath, Key, Object, Value};
use crate::topology::Transform;

/// Parses logfmt text in a field.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParseLogfmtConfig {
    /// The field holding logfmt text.
    #[serde(default = "default_field")]
    pub field: FieldPath,
    /// Put the pairs in an object at this path instead of the event root.
    #[serde(default)]
    pub target: Option<FieldPath>,
    /// Remove `field` after a successful parse.
    #[serde(default)]
    pub drop_original: bool,
    /// What happens to text that is not logfmt: `keep` (tagged `parse_failure`), `drop` or
    /// `dead_letter`.
    #[serde(default)]
    pub on_error: OnError,
}

fn default_field() -> FieldPath {
    FieldPath::single(crate::event::MESSAGE)
}

impl ParseLogfmtConfig {
    pub fn build(&self, id: &str, ctx: &TransformContext) -> Result<Box<dyn Transform>, String> {
        let parser = ParseLogfmt {
            config: self.clone(),
        };
        let failures = Failures::new(id, "parse_logfmt", self.on_error, "parse_failure", ctx);
        Ok(ParserTransform::boxed(parser, failures))
    }
}

/// Why text is not logfmt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LogfmtError {
    #[error("no key=value pairs")]
    Empty,
    #[error("unterminated quoted value at byte {0}")]
    UnterminatedQuote(usize),
    #[error("value without a key at byte {0}")]
    MissingKey(usize),
    #[error("text is not UTF-8")]
    InvalidUtf8,
}

/// Parses logfmt `text` into an object.
pub fn parse_logfmt(text: &Bytes) -> Result<Object, LogfmtError> {
    let bytes = &text[..];
    let mut obj = Object::new();
    let mut i = 0;
    let is_space = |b: u8| b == b' ' || b == b'\t';
    while i < bytes.len() {
        while i < bytes.len() && is_space(bytes[i]) {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let key_start = i;
        while i < bytes.len() && bytes[i] != b'=' && !is_space(bytes[i]) {
            i += 1;
        }
        if i == key_start {
            return Err(LogfmtError::MissingKey(i));
        }
        let key =
            std::str::from_utf8(&bytes[key_start..i]).map_err(|_| LogfmtError::InvalidUtf8)?;
        let key = Key::new(key);
        if i >= bytes.len() || bytes[i] != b'=' {
            obj.insert(key, Value::Bool(true));
            continue;
        }
        i += 1; // '='
        if bytes.get(i) == Some(&b'"') {
            let quote = i;
            i += 1;
            let start = i;
            let mut escaped = false;
            loop {
                match bytes.get(i) {
                    None => return Err(LogfmtError::UnterminatedQuote(quote)),
                    Some(b'\\') => {
                        escaped = true;
                        i += 2;
                    }
                    Some(b'"') => break,
                    Some(_) => i += 1,
                }
            }
            let raw = &bytes[start..i.min(bytes.len())];
            let value = if escaped {
                Bytes::from(unescape(raw))
            } else {
                text.slice(start..i)
            };
            std::str::from_utf8(&value).map_err(|_| LogfmtError::InvalidUtf8)?;
            obj.insert(key, Value::Bytes(value));
            i += 1; // closing quote
        } else {
            let start = i;
            while i < bytes.len() && !is_space(bytes[i]) {
                i += 1;
            }
            let value = text.slice(start..i);
            std::str::from_utf8(&value).map_err(|_| LogfmtError::InvalidUtf8)?;
            obj.insert(key, Value::Bytes(value));
        }
    }
    if obj.is_empty() {
        return Err(LogfmtError::Empty);
    }
    Ok(obj)
}

fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut iter = raw.iter();
    while let Some(&b) = iter.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match iter.next() {
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'r') => out.push(b'\r'),
            Some(&other) => out.push(other),
            None => out.push(b'\\'),
        }
    }
    out
}

struct ParseLogfmt {
    config: ParseLogfmtConfig,
}

impl EventParser for ParseLogfmt {
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
        let parsed = parse_logfmt(&text).map_err(|e| format!("not logfmt: {e}"))?;
        if self.config.drop_original {
            event.fields.remove_path(&self.config.field);
        }
        match &self.config.target {
            Some(target) => {
                event.fields.insert_path(target, Value::Object(parsed));
            }
            None => event.fields.merge(parsed),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{build, message, run};
    use super::*;

    #[test]
    fn parses_bare_quoted_escaped_and_flag_pairs() {
        let text = Bytes::from_static(
            br#"level=info msg="user \"bob\" logged in" dur=12ms  empty= flag path=/a=b"#,
        );
        let obj = parse_logfmt(&text).unwrap();
        assert_eq!(obj.get("level"), Some(&Value::from("info")));
        assert_eq!(obj.get("msg"), Some(&Value::from("user \"bob\" logged in")));
        assert_eq!(obj.get("dur"), Some(&Value::from("12ms")));
        assert_eq!(obj.get("empty"), Some(&Value::from("")));
        assert_eq!(obj.get("flag"), Some(&Value::Bool(true)));
        assert_eq!(obj.get("path"), Some(&Value::from("/a=b")));
        // Bare values share the text's memory.
        let level = obj.get("level").unwrap().as_bytes().unwrap();
        assert_eq!(level.as_ptr(), text[6..].as_ptr());
    }

    #[test]
    fn rejects_text_that_is_not_logfmt() {
        let p = |s: &'static str| parse_logfmt(&Bytes::from_static(s.as_bytes()));
        assert_eq!(p("a=\"open"), Err(LogfmtError::UnterminatedQuote(2)));
        assert_eq!(p("=x"), Err(LogfmtError::MissingKey(0)));
        assert_eq!(p("   "), Err(LogfmtError::Empty));
        assert_eq!(
            parse_logfmt(&Bytes::from_static(b"a=\xff")),
            Err(LogfmtError::InvalidUtf8)
        );
    }

    #[test]
    fn merges_or_targets_and_applies_on_error() {
        let mut t = build("parse_logfmt", "target = \"kv\"\ndrop_original = true");
        let out = run(t.as_mut(), vec![message("a=1 b=2")]);
        assert_eq!(
            out[0].get(&FieldPath::parse("kv.b").unwrap()),
            Some(&Value::from("2"))
        );
        assert!(out[0].message().is_none());

        let mut t = build("parse_logfmt", "");
        let out = run(t.as_mut(), vec![message("a=1"), message("x=\"broken")]);
        assert_eq!(out[0].fields.get("a"), Some(&Value::from("1")));
        assert!(out[1].has_tag("parse_failure"));
        assert_eq!(out[1].message().map(|b| &b[..]), Some(&b"x=\"broken"[..]));

        let mut t = build("parse_logfmt", "on_error = \"drop\"");
        assert!(run(t.as_mut(), vec![message("   ")]).is_empty());
    }
}
