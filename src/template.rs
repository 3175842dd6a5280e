//! Templates for names built from events: file paths, index names, object keys.
//!
//! `{{ field.path }}` inserts a field's value; `%Y`, `%m`, `%d`, `%H`, `%M`, `%S`, `%j`, `%y`,
//! `%F`, `%T`, `%s` and `%%` format the event's `@timestamp` (UTC). Templates are parsed once
//! at build time. Rendering writes into a caller's reusable `String`. [`Template::render`]
//! makes field values safe for paths (a value cannot add directories or climb out of the
//! template's folder); [`Template::render_raw`] inserts them as they are, for enrichment.

use std::fmt::Write;

use crate::event::{Event, FieldPath, Value};
use crate::time::Civil;

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Field(FieldPath),
    Time(char),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

/// Why a template did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unclosed `{{{{` in template `{0}`")]
    Unclosed(String),
    #[error("invalid field path in template `{template}`: {message}")]
    Path { template: String, message: String },
    #[error("unsupported time specifier `%{spec}` in template `{template}`; supported: %Y %y %m %d %H %M %S %j %F %T %s %%")]
    Specifier { template: String, spec: char },
}

const SPECIFIERS: &str = "YymdHMSjFTs";

impl Template {
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = source;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("{{") {
                let end = after
                    .find("}}")
                    .ok_or_else(|| TemplateError::Unclosed(source.to_string()))?;
                let path =
                    FieldPath::parse(after[..end].trim()).map_err(|e| TemplateError::Path {
                        template: source.to_string(),
                        message: e.to_string(),
                    })?;
                if !literal.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                }
                parts.push(Part::Field(path));
                rest = &after[end + 2..];
                continue;
            }
            let mut chars = rest.chars();
            let c = chars.next().unwrap_or_default();
            if c == '%' {
                let spec = chars.next().unwrap_or(' ');
                if spec == '%' {
                    literal.push('%');
                } else if SPECIFIERS.contains(spec) {
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Time(spec));
                } else {
                    return Err(TemplateError::Specifier {
                        template: source.to_string(),
                        spec,
                    });
                }
                rest = chars.as_str();
                continue;
            }
            literal.push(c);
            rest = chars.as_str();
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Template {
            source: source.to_string(),
            parts,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether rendering depends on the event at all.
    pub fn is_static(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// Renders into `out` (cleared first). Missing fields render as `_missing_`, and their
    /// paths are returned so the caller can count them; nothing is dropped for a missing
    /// field.
    pub fn render(&self, event: &Event, out: &mut String) -> Option<FieldPath> {
        self.render_with(event, out, true)
    }

    /// Renders like [`render`](Self::render) but inserts field values unchanged (path
    /// characters included): for values that become field contents, never paths.
    pub fn render_raw(&self, event: &Event, out: &mut String) -> Option<FieldPath> {
        self.render_with(event, out, false)
    }

    /// Whether the template renders the same text for every event (no fields, no time).
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// The field path when the template is exactly one `{{ field }}` and nothing else.
    pub fn single_field(&self) -> Option<&FieldPath> {
        match self.parts.as_slice() {
            [Part::Field(path)] => Some(path),
            _ => None,
        }
    }

    fn render_with(&self, event: &Event, out: &mut String, safe: bool) -> Option<FieldPath> {
        out.clear();
        let mut missing = None;
        let mut civil: Option<Civil> = None;
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Field(path) => match event.get(path) {
                    Some(v) if safe => push_safe(out, v),
                    Some(v) => push_raw(out, v),
                    None => {
                        out.push_str("_missing_");
                        missing = Some(path.clone());
                    }
                },
                Part::Time(spec) => {
                    let ts = event
                        .timestamp()
                        .unwrap_or_else(crate::time::now_unix_nanos);
                    let c = *civil.get_or_insert_with(|| Civil::from_unix_nanos(ts));
                    let _ = match spec {
                        'Y' => write!(out, "{:04}", c.year),
                        'y' => write!(out, "{:02}", c.year.rem_euclid(100)),
                        'm' => write!(out, "{:02}", c.month),
                        'd' => write!(out, "{:02}", c.day),
                        'H' => write!(out, "{:02}", c.hour),
                        'M' => write!(out, "{:02}", c.minute),
                        'S' => write!(out, "{:02}", c.second),
                        'j' => write!(out, "{:03}", c.day_of_year()),
                        'F' => write!(out, "{:04}-{:02}-{:02}", c.year, c.month, c.day),
                        'T' => write!(out, "{:02}:{:02}:{:02}", c.hour, c.minute, c.second),
                        's' => write!(out, "{}", ts.div_euclid(1_000_000_000)),
                        _ => Ok(()),
                    };
                }
            }
        }
        missing
    }
}

/// Appends a field value as text.
fn push_raw(out: &mut String, value: &Value) {
    match value {
        Value::Bytes(_) => out.push_str(value.as_str().unwrap_or("_invalid_")),
        Value::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => {
            let _ = write!(out, "{f}");
        }
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Timestamp(t) => out.push_str(&crate::time::format_rfc3339(*t)),
        Value::Null => out.push_str("null"),
        Value::Array(_) | Value::Object(_) => {
            let _ = write!(out, "{value:?}");
        }
    }
}

/// Appends a field value with path separators, `..` and control characters neutralised.
fn push_safe(out: &mut String, value: &Value) {
    let start = out.len();
    match value {
        Value::Array(_) | Value::Object(_) => out.push_str("_complex_"),
        other => push_raw(out, other),
    }
    if out.len() == start {
        out.push_str("_empty_");
        return;
    }
    let rendered: String = out[start..]
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let rendered = match rendered.strip_prefix('.') {
        Some(rest) => format!("_{rest}"),
        None => rendered,
    };
    out.truncate(start);
    out.push_str(&rendered);
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn event() -> Event {
        let ts = crate::time::parse_rfc3339(b"2026-02-03T04:05:06Z").unwrap();
        let mut e = Event::from_message(Bytes::from_static(b"m"), ts);
        e.insert(
            &FieldPath::parse("kubernetes.namespace").unwrap(),
            Value::from("shop"),
        );
        e.insert(
            &FieldPath::parse("evil").unwrap(),
            Value::from("../../etc/passwd"),
        );
        e
    }

    #[test]
    fn renders_fields_and_time() {
        let t = Template::parse("./out/{{ kubernetes.namespace }}/%Y-%m-%d/%H%M%S-%j-%%.ndjson")
            .unwrap();
        let mut s = String::new();
        assert_eq!(t.render(&event(), &mut s), None);
        assert_eq!(s, "./out/shop/2026-02-03/040506-034-%.ndjson");
    }

    #[test]
    fn neutralises_path_traversal_and_reports_missing_fields() {
        let t = Template::parse("/logs/{{evil}}/{{ nope }}.log").unwrap();
        let mut s = String::new();
        let missing = t.render(&event(), &mut s);
        assert_eq!(s, "/logs/_._.._etc_passwd/_missing_.log");
        assert_eq!(missing, Some(FieldPath::parse("nope").unwrap()));
    }

    #[test]
    fn raw_rendering_keeps_path_characters() {
        let t = Template::parse("{{ evil }}-{{ kubernetes.namespace }}").unwrap();
        let mut s = String::new();
        assert_eq!(t.render_raw(&event(), &mut s), None);
        assert_eq!(s, "../../etc/passwd-shop");
        assert_eq!(t.single_field(), None);
        let single = Template::parse("{{ evil }}").unwrap();
        assert_eq!(
            single.single_field(),
            Some(&FieldPath::parse("evil").unwrap())
        );
    }

    #[test]
    fn rejects_bad_templates() {
        assert!(matches!(
            Template::parse("a {{ b"),
            Err(TemplateError::Unclosed(_))
        ));
        assert!(matches!(
            Template::parse("%Q"),
            Err(TemplateError::Specifier { spec: 'Q', .. })
        ));
        assert!(matches!(
            Template::parse("{{ a..b }}"),
            Err(TemplateError::Path { .. })
        ));
        assert!(Template::parse("plain").unwrap().is_static());
    }
}
