//! JSON objects kept as their validated text: fields are found and decoded only when
//! something reads them, and a sink writes the untouched text straight into its output.
//!
//! This is what makes `parse_json` cheap. A log pipeline usually reads one or two fields of
//! an application's JSON line (a filter on `.level`, a route on `.service`) and forwards the
//! rest unchanged, so building every field as a [`Value`] and encoding it again is wasted
//! work. A [`RawObject`] holds the object's text (already validated by simd-json, so the
//! scanner here never meets malformed input), locates the top-level members when made (from
//! the parser's key offsets, or one pass that skips strings with `memchr`), and decodes a
//! member's value on its first read, caching it. Nested objects become `RawObject`s in turn.
//!
//! Writing a field (insert, remove, rename, mutable access) turns the object into ordinary
//! fields first ([`crate::event::Object`] owns that rule), so everything else sees an
//! ordinary object.

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::event::{key_signature, Key, Object, Value};

/// A JSON object's text and, once read, its members.
#[derive(Clone)]
pub struct RawObject {
    /// The object's text, `{` to `}`, valid JSON.
    text: Bytes,
    /// Where each member's key starts, inline for the usual application log line (the
    /// object lives in one allocation with them). Taken from the parser's tape when the
    /// object comes from `parse_json` (a copy, no scan); a value's extent is worked out
    /// when the value is read, from the next member's key.
    members: Members,
    /// The decoded values, by member position; allocated on the first read of a value, so
    /// an object only forwarded (or only compared as text, see [`RawObject::peek_str`])
    /// never pays for it.
    values: OnceLock<Box<[OnceLock<Value>]>>,
    /// The [`key_signature`]s of the decoded keys, when the parser gave them (all bits set
    /// otherwise): a lookup of a key that is not there usually ends here, without touching
    /// the members or the text (which, a stage after parsing, are no longer in cache).
    key_mask: u64,
    /// Decoded keys, in member order: built only when something iterates the fields.
    keys: OnceLock<Vec<Key>>,
    /// Members that come before this object's own, in text form too: the fields a source
    /// attaches to every event it reads from one place (a file's `log`, `kubernetes`,
    /// `host`…), one object shared by all those events, ahead of the fields `parse_json`
    /// found in the line. One reference per event instead of one per field. Keys never
    /// repeat between the two; a prefix has no prefix itself.
    prefix: Option<Arc<RawObject>>,
}

impl std::fmt::Debug for RawObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut text = f.debug_list();
        for inner in self.inner_texts() {
            text.entry(&String::from_utf8_lossy(inner));
        }
        text.finish()
    }
}

type Members = smallvec::SmallVec<[RawMember; 16]>;

/// One top-level member: the offset of its key's first character (after the opening
/// quote) and the length of the key once decoded. A key without escapes is written as it
/// reads, so most lookups compare bytes of the text; the rest decode.
#[derive(Clone, Copy)]
struct RawMember {
    key_start: u32,
    decoded_key_len: u32,
}

impl RawObject {
    /// Wraps the text of a JSON object. The caller guarantees `text` is one valid JSON object
    /// (validated by a parser) and nothing else, leading and trailing whitespace aside.
    pub fn new_validated(text: Bytes) -> RawObject {
        let (text, _) = trimmed(text);
        let mut raw = RawObject {
            members: scan_members(&text),
            text,
            values: OnceLock::new(),
            key_mask: u64::MAX,
            keys: OnceLock::new(),
            prefix: None,
        };
        raw.key_mask =
            (0..raw.members.len()).fold(0, |mask, i| mask | key_signature(&raw.decoded_key(i)));
        raw
    }

    /// Puts `prefix`'s members before the object's own. Refused (`prefix` given back) when
    /// the object is shared already, has a prefix, or `prefix` has one.
    pub fn set_prefix(
        this: &mut Arc<RawObject>,
        prefix: Arc<RawObject>,
    ) -> Result<(), Arc<RawObject>> {
        if prefix.prefix.is_some() {
            return Err(prefix);
        }
        match Arc::get_mut(this) {
            Some(raw) if raw.prefix.is_none() => {
                raw.prefix = Some(prefix);
                Ok(())
            }
            _ => Err(prefix),
        }
    }

    /// The [`key_signature`]s of all the keys (all bits set when unknown).
    pub fn key_mask(&self) -> u64 {
        self.key_mask | self.prefix.as_ref().map_or(0, |p| p.key_mask)
    }

    /// Like [`RawObject::new_validated`] (shared, ready to attach to an event), with the
    /// members already located by the caller's parser: `keys` holds, per top-level member in
    /// order, the offset in `text` of the first byte after the key's opening quote and the
    /// length of the decoded key. Falls back to scanning when the offsets do not fit the
    /// text.
    pub fn with_key_offsets(
        text: Bytes,
        keys: impl IntoIterator<Item = (usize, usize)>,
        key_mask: u64,
    ) -> Arc<RawObject> {
        let (text, start) = trimmed(text);
        // Built in its final place: the members are inline, and moving the object through
        // the parser's return values would copy a few hundred bytes each time.
        let mut shared = Arc::new(RawObject {
            text,
            members: Members::new(),
            values: OnceLock::new(),
            key_mask,
            keys: OnceLock::new(),
            prefix: None,
        });
        let raw = Arc::get_mut(&mut shared).expect("not shared yet");
        let b = &raw.text[..];
        for (at, len) in keys {
            let fits = at > start
                && at - start + len < b.len()
                && b[at - start - 1] == b'"'
                && u32::try_from(at - start + len).is_ok();
            if !fits {
                raw.members = scan_members(b);
                return shared;
            }
            raw.members.push(RawMember {
                key_start: (at - start) as u32,
                decoded_key_len: len as u32,
            });
        }
        shared
    }

    /// An object encoded once into text form: for values a source attaches unchanged to
    /// every event it reads from one place (a file's path, its Kubernetes metadata), so each
    /// event clones a shared buffer and each sink copies the text instead of encoding it.
    pub fn from_object(object: &Object) -> RawObject {
        let mut text = Vec::new();
        crate::codec::json::write_object(&mut text, object);
        RawObject::new_validated(Bytes::from(text))
    }

    /// The text between the braces, trimmed: empty for an object without members. Its own
    /// members only; [`RawObject::inner_texts`] has all of them.
    fn own_inner_text(&self) -> &[u8] {
        let inner = self
            .text
            .get(1..self.text.len().saturating_sub(1))
            .unwrap_or_default();
        inner.trim_ascii()
    }

    /// The members' text, in order, as pieces to join with `,` (no empty piece): what a
    /// sink writes between the braces.
    pub fn inner_texts(&self) -> impl Iterator<Item = &[u8]> {
        self.prefix
            .as_deref()
            .map(RawObject::own_inner_text)
            .into_iter()
            .chain(std::iter::once(self.own_inner_text()))
            .filter(|t| !t.is_empty())
    }

    pub fn len(&self) -> usize {
        self.members.len() + self.prefix.as_ref().map_or(0, |p| p.len())
    }

    pub fn is_empty(&self) -> bool {
        self.inner_texts().next().is_none()
    }

    /// The index of the quote closing member `i`'s key, and whether the key holds escapes.
    fn key_end(&self, i: usize) -> (usize, bool) {
        let b = &self.text[..];
        let m = self.members[i];
        let start = m.key_start as usize;
        let end = start + m.decoded_key_len as usize;
        // Without a backslash in its first `decoded_key_len` bytes, the key is written as
        // it reads, and the quote after them closes it: no scan.
        match b.get(start..end) {
            Some(key) if key.iter().all(|&c| c != b'\\') && b.get(end) == Some(&b'"') => {
                (end, false)
            }
            _ => string_end(b, start),
        }
    }

    /// Where member `i`'s value lies: from after the key's `:` to the `,` before the next
    /// key (or the closing brace), whitespace trimmed.
    fn value_range(&self, i: usize) -> Range<usize> {
        let b = &self.text[..];
        let start = value_start(b, self.key_end(i).0);
        let mut end = match self.members.get(i + 1) {
            // Back from the next key's opening quote: whitespace, `,`.
            Some(next) => {
                let mut e = (next.key_start as usize).saturating_sub(1);
                while e > start && b[e - 1].is_ascii_whitespace() {
                    e -= 1;
                }
                if e == 0 || b[e - 1] != b',' {
                    // Not the layout of a valid object (never expected): scan instead.
                    return start..value_end(b, start);
                }
                e - 1
            }
            None => b.len().saturating_sub(1),
        };
        while end > start && b[end - 1].is_ascii_whitespace() {
            end -= 1;
        }
        start..end.max(start)
    }

    fn member_value(&self, i: usize) -> &Value {
        let values = self
            .values
            .get_or_init(|| (0..self.members.len()).map(|_| OnceLock::new()).collect());
        values[i].get_or_init(|| decode_value(&self.text, self.value_range(i)))
    }

    /// The characters of the string value of `key` as written, when it is a string without
    /// escapes (so its text is its value): comparisons with a string read them without
    /// decoding anything. `None` when absent, not a string, or escaped.
    pub fn peek_str(&self, key: &str) -> Option<&[u8]> {
        let Some(i) = self.find(key) else {
            return self.prefix.as_ref()?.peek_str(key);
        };
        if let Some(Some(value)) = self.values.get().map(|v| v[i].get()) {
            return match value {
                Value::Bytes(b) => Some(b),
                _ => None,
            };
        }
        // A string without escapes ends at the first quote, before any backslash.
        let b = &self.text[..];
        let start = value_start(b, self.key_end(i).0);
        let inner = b.get(start..)?.strip_prefix(b"\"")?;
        let end = memchr::memchr2(b'"', b'\\', inner)?;
        (inner[end] == b'"').then(|| &inner[..end])
    }

    /// The position of the member named `key` (the last of repeated keys wins, as when
    /// parsing into a map).
    fn find(&self, key: &str) -> Option<usize> {
        if self.key_mask & key_signature(key) == 0 {
            return None;
        }
        let k = key.as_bytes();
        let text = &self.text[..];
        for (i, m) in self.members.iter().enumerate().rev() {
            if m.decoded_key_len as usize != k.len() {
                continue;
            }
            let start = m.key_start as usize;
            let Some(raw) = text.get(start..start + k.len()) else {
                continue;
            };
            // Bytes without a backslash read as they are written (and the key's first
            // `decoded_key_len` bytes without one are the whole key). Keys are short: a
            // plain loop beats a call to memchr.
            let has_escape = |b: &[u8]| b.iter().fold(false, |seen, &c| seen | (c == b'\\'));
            let found = if raw == k {
                !has_escape(raw) || self.decoded_key(i) == key
            } else {
                has_escape(raw) && self.decoded_key(i) == key
            };
            if found {
                return Some(i);
            }
        }
        None
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_some() || self.prefix.as_ref().is_some_and(|p| p.contains_key(key))
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        match self.find(key) {
            Some(i) => Some(self.member_value(i)),
            None => self.prefix.as_ref()?.get(key),
        }
    }

    /// Members in text order (the prefix's first), with keys and values decoded (and cached)
    /// as they are visited. Repeated keys appear once, at their first position, with their
    /// last value.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Value)> {
        self.prefix
            .iter()
            .flat_map(|p| p.own_iter())
            .chain(self.own_iter())
    }

    fn own_iter(&self) -> impl Iterator<Item = (&Key, &Value)> {
        let members = &self.members;
        let keys = self.keys.get_or_init(|| {
            (0..members.len())
                .map(|i| Key::new(self.decoded_key(i)))
                .collect()
        });
        (0..members.len()).filter_map(move |i| {
            let key = &keys[i];
            let later = (i + 1..members.len()).rev().find(|&j| keys[j] == *key);
            let first = !keys[..i].contains(key);
            first.then(|| (key, self.member_value(later.unwrap_or(i))))
        })
    }

    /// Member `i`'s key, decoded (borrowed from the text when it has no escapes).
    fn decoded_key(&self, i: usize) -> std::borrow::Cow<'_, str> {
        let (end, escaped) = self.key_end(i);
        let raw = &self.text[self.members[i].key_start as usize..end];
        if escaped {
            std::borrow::Cow::Owned(decode_string(raw))
        } else {
            String::from_utf8_lossy(raw)
        }
    }
}

/// `text` without leading and trailing whitespace (the same buffer, untouched, when it has
/// none: no reference-count change), and how many bytes were cut at the front.
fn trimmed(text: Bytes) -> (Bytes, usize) {
    let start = text
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    let end = text
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(text.len(), |i| i + 1);
    if start == 0 && end == text.len() {
        (text, 0)
    } else {
        (text.slice(start..end), start)
    }
}

/// Where a member's value starts, from its key's closing quote at `key_end`: past
/// whitespace, `:`, whitespace.
fn value_start(b: &[u8], key_end: usize) -> usize {
    skip_ws(b, skip_ws(b, key_end + 1) + 1)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// From just after an opening quote, the index of the closing quote, and whether the string
/// held escapes.
fn string_end(b: &[u8], mut i: usize) -> (usize, bool) {
    let mut escaped = false;
    while let Some(off) = memchr::memchr2(b'"', b'\\', &b[i..]) {
        let at = i + off;
        if b[at] == b'\\' {
            escaped = true;
            i = at + 2;
        } else {
            return (at, escaped);
        }
    }
    (b.len(), escaped)
}

/// From the first byte of a value, the index just past it.
fn value_end(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(b'"') => string_end(b, i + 1).0 + 1,
        Some(b'{') | Some(b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = string_end(b, j + 1).0 + 1;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            b.len()
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']') && !b[j].is_ascii_whitespace()
            {
                j += 1;
            }
            j
        }
    }
}

/// The top-level members of a valid JSON object's text.
fn scan_members(b: &[u8]) -> Members {
    let mut members = Members::new();
    let mut i = skip_ws(b, 1);
    while i < b.len() && b[i] == b'"' {
        let (key_end, key_escaped) = string_end(b, i + 1);
        let decoded_key_len = if key_escaped {
            decode_string(&b[i + 1..key_end]).len()
        } else {
            key_end - (i + 1)
        };
        members.push(RawMember {
            key_start: (i + 1) as u32,
            decoded_key_len: decoded_key_len as u32,
        });
        let end = value_end(b, value_start(b, key_end));
        // Whitespace, `,` or `}`, whitespace.
        i = skip_ws(b, end);
        if b.get(i) == Some(&b',') {
            i = skip_ws(b, i + 1);
        } else {
            break;
        }
    }
    members
}

/// Decodes the value at `at` in `text` (a slice of a validated document).
fn decode_value(text: &Bytes, at: Range<usize>) -> Value {
    let b = &text[at.clone()];
    match b.first() {
        Some(b'"') => {
            let inner = at.start + 1..at.end - 1;
            let raw = &text[inner.clone()];
            if memchr::memchr(b'\\', raw).is_none() {
                Value::Bytes(text.slice(inner))
            } else {
                Value::Bytes(Bytes::from(decode_string(raw)))
            }
        }
        Some(b'{') => Value::Object(Object::from_raw(RawObject::new_validated(text.slice(at)))),
        Some(b'[') => {
            let mut items = Vec::new();
            let mut i = skip_ws(b, 1);
            while i < b.len() && b[i] != b']' {
                let end = value_end(b, i);
                items.push(decode_value(text, at.start + i..at.start + end));
                i = skip_ws(b, end);
                if b.get(i) == Some(&b',') {
                    i = skip_ws(b, i + 1);
                }
            }
            Value::Array(items)
        }
        Some(b't') => Value::Bool(true),
        Some(b'f') => Value::Bool(false),
        Some(b'n') | None => Value::Null,
        Some(_) => decode_number(b),
    }
}

/// A JSON number: an integer when it has no fraction or exponent and fits in `i64`, else a
/// float (as the tape-based parser does).
fn decode_number(b: &[u8]) -> Value {
    let s = std::str::from_utf8(b).unwrap_or("0");
    if !b.iter().any(|c| matches!(c, b'.' | b'e' | b'E')) {
        if let Ok(i) = s.parse::<i64>() {
            return Value::Integer(i);
        }
    }
    Value::Float(s.parse::<f64>().unwrap_or(f64::NAN))
}

/// Decodes the characters of a JSON string (between its quotes).
fn decode_string(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let Some(off) = memchr::memchr(b'\\', &raw[i..]) else {
            out.extend_from_slice(&raw[i..]);
            break;
        };
        out.extend_from_slice(&raw[i..i + off]);
        i += off + 1;
        let Some(&esc) = raw.get(i) else { break };
        i += 1;
        match esc {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'u' => {
                let unit = |at: usize| {
                    raw.get(at..at + 4)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u16::from_str_radix(h, 16).ok())
                };
                let Some(first) = unit(i) else { break };
                i += 4;
                let mut units = vec![first];
                if (0xD800..0xDC00).contains(&first) && raw.get(i..i + 2) == Some(b"\\u") {
                    if let Some(second) = unit(i + 2) {
                        if (0xDC00..0xE000).contains(&second) {
                            units.push(second);
                            i += 6;
                        }
                    }
                }
                let decoded = String::from_utf16_lossy(&units);
                out.extend_from_slice(decoded.as_bytes());
            }
            other => out.push(other),
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> RawObject {
        RawObject::new_validated(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn finds_members_and_decodes_them_on_demand() {
        let o = raw(
            r#" { "level" : "info", "n":-3, "big": 18446744073709551615, "f": 0.5e1,
                 "s":"a \"q\" \u00e9 \ud83d\ude00 \\", "ok":true, "no":false, "nil":null,
                 "nested":{"a":[1,{"b":"}"},[]],"c":"x]"}, "last":[] } "#,
        );
        assert_eq!(o.len(), 10);
        assert_eq!(o.get("level"), Some(&Value::from("info")));
        assert_eq!(o.get("n"), Some(&Value::Integer(-3)));
        assert_eq!(o.get("big"), Some(&Value::Float(18446744073709551615.0)));
        assert_eq!(o.get("f"), Some(&Value::Float(5.0)));
        assert_eq!(o.get("s"), Some(&Value::from("a \"q\" é 😀 \\")));
        assert_eq!(o.get("ok"), Some(&Value::Bool(true)));
        assert_eq!(o.get("no"), Some(&Value::Bool(false)));
        assert_eq!(o.get("nil"), Some(&Value::Null));
        assert_eq!(o.get("last"), Some(&Value::Array(vec![])));
        assert_eq!(o.get("missing"), None);
        let nested = o.get("nested").and_then(Value::as_object).unwrap();
        assert_eq!(nested.get("c"), Some(&Value::from("x]")));
        let a = nested.get("a").unwrap();
        assert_eq!(a.to_json(), serde_json::json!([1, {"b": "}"}, []]));
        assert_eq!(o.own_inner_text().first(), Some(&b'"'));
        assert_eq!(o.own_inner_text().last(), Some(&b']'));
    }

    #[test]
    fn members_from_key_offsets_match_the_scan() {
        let text = r#"  {"a" : "x,y" , "b\"c":{"d":[1,2]},"e":  -1.5e3 ,"f":true }"#;
        let starts: Vec<(usize, usize)> = text
            .match_indices(['"'])
            .map(|(i, _)| i + 1)
            .filter(|&i| {
                ["a\"", "b\\", "e\"", "f\""]
                    .iter()
                    .any(|k| text[i..].starts_with(k))
            })
            .zip([1, 3, 1, 1]) // the decoded keys' lengths
            .collect();
        assert_eq!(starts.len(), 4);
        let bytes = Bytes::copy_from_slice(text.as_bytes());
        let fast = RawObject::with_key_offsets(bytes.clone(), starts.iter().copied(), u64::MAX);
        let scanned = RawObject::new_validated(bytes);
        assert_eq!(fast.members.len(), 4);
        let a: Vec<_> = fast.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let b: Vec<_> = scanned
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(a, b);
        assert_eq!(fast.get("e"), Some(&Value::Float(-1500.0)));
        // With the decoded keys' signatures, absent keys are answered from the mask alone;
        // present ones (escaped or not) are still found.
        let mask = ["a", "b\"c", "e", "f"]
            .iter()
            .fold(0, |m, k| m | key_signature(k));
        let masked = RawObject::with_key_offsets(
            Bytes::copy_from_slice(text.as_bytes()),
            starts.iter().copied(),
            mask,
        );
        assert_eq!(masked.get("e"), Some(&Value::Float(-1500.0)));
        assert_eq!(masked.get("a"), Some(&Value::from("x,y")));
        assert!(masked.get("b\"c").is_some());
        assert_eq!(masked.get("data_stream"), None);
        assert_eq!(masked.get("g"), None);
        // Offsets that do not fit fall back to the scan.
        let odd = RawObject::with_key_offsets(Bytes::from_static(b"{\"a\":1}"), [(0, 1)], u64::MAX);
        assert_eq!(odd.get("a"), Some(&Value::Integer(1)));
        // A key ending in an escaped quote: its decoded length lands on that quote, which
        // does not close it.
        let text = Bytes::from_static(br#"{"x\"":1,"y":2}"#);
        let quoted = RawObject::with_key_offsets(text, [(2, 2), (10, 1)], u64::MAX);
        assert_eq!(quoted.get("x\""), Some(&Value::Integer(1)));
        assert_eq!(quoted.get("y"), Some(&Value::Integer(2)));
        assert_eq!(quoted.len(), 2);
    }

    #[test]
    fn strings_without_escapes_are_read_without_decoding() {
        let o =
            raw(r#"{"level":"warn","q":"say \"hi\"","n":3,"o":{"a":"b"},"e":"","x":"1","x":"2"}"#);
        assert_eq!(o.peek_str("level"), Some(&b"warn"[..]));
        assert_eq!(o.peek_str("e"), Some(&b""[..]));
        assert_eq!(
            o.peek_str("x"),
            Some(&b"2"[..]),
            "the last of repeated keys"
        );
        // Escaped strings, other kinds and absent keys are left to `get`.
        assert_eq!(o.peek_str("q"), None);
        assert_eq!(o.peek_str("n"), None);
        assert_eq!(o.peek_str("o"), None);
        assert_eq!(o.peek_str("missing"), None);
        assert!(o.values.get().is_none(), "nothing decoded");
        let spaced = raw(r#"{ "level" :  "info" , "k\u0065y": "v", "tail":"a\\" ,"t2":"\"x"}"#);
        assert_eq!(spaced.peek_str("level"), Some(&b"info"[..]));
        assert_eq!(spaced.peek_str("key"), Some(&b"v"[..]), "an escaped key");
        assert_eq!(
            spaced.peek_str("k\\u0065y"),
            None,
            "its spelling is not the key"
        );
        assert_eq!(spaced.peek_str("tail"), None);
        assert_eq!(spaced.peek_str("t2"), None);
        assert_eq!(spaced.get("tail"), Some(&Value::from("a\\")));
        // Once decoded, the decoded string answers (escapes resolved).
        assert_eq!(o.get("q"), Some(&Value::from("say \"hi\"")));
        assert_eq!(o.peek_str("q"), Some(&b"say \"hi\""[..]));
        assert_eq!(o.get("n"), Some(&Value::Integer(3)));
        assert_eq!(o.peek_str("n"), None);
    }

    #[test]
    fn escaped_keys_and_repeated_keys() {
        let o = raw(r#"{"a\"b":1,"x":1,"x":2}"#);
        assert_eq!(o.get("a\"b"), Some(&Value::Integer(1)));
        assert_eq!(o.get("x"), Some(&Value::Integer(2)));
        let keys: Vec<_> = o.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        assert_eq!(
            keys,
            vec![
                ("a\"b".to_string(), Value::Integer(1)),
                ("x".to_string(), Value::Integer(2))
            ]
        );
    }

    #[test]
    fn empty_objects() {
        for text in ["{}", " { } ", "{\n}"] {
            let o = raw(text);
            assert!(o.is_empty(), "{text:?}");
            assert_eq!(o.len(), 0);
            assert!(o.inner_texts().next().is_none());
        }
    }

    #[test]
    fn agrees_with_serde_json_on_generated_documents() {
        // Every member decoded lazily equals what serde_json reads from the same text.
        let docs = [
            r#"{"ts":"2026-11-22T08:00:00Z","level":"warn","seq":7,"msg":"tab\there \"quoted\" back\\slash 東京 😀","latency_ms":12.5,"http":{"status":500,"method":"GET"}}"#,
            r#"{"a":[[],[[]],{}],"b":"\u0000\u001f\/","c":-0.0,"d":1e-7,"e":123456789012}"#,
        ];
        for doc in docs {
            let o = raw(doc);
            let expected: serde_json::Value = serde_json::from_str(doc).unwrap();
            let expected = expected.as_object().unwrap();
            assert_eq!(o.len(), expected.len());
            for (k, v) in expected {
                assert_eq!(o.get(k).map(Value::to_json).as_ref(), Some(v), "{k}");
            }
        }
    }
}
