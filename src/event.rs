//! The event model: what flows between components.
//!
//! An [`Event`] is a structured object ([`Object`]) plus [`EventMetadata`] that never reaches
//! the output (where the event came from, and the delivery finalizer that lets a sink's
//! acknowledgement travel back to the source). Events move between components in
//! [`EventBatch`]es, never one by one.
//!
//! Speed choices:
//! - text values are [`bytes::Bytes`], so a source can hand out slices of its read buffer
//!   without copying;
//! - keys are [`SmolStr`] (inline up to 23 bytes: no allocation for ordinary field names);
//! - an object is a small vector of `(key, value)` pairs in insertion order. Log events have
//!   a handful to a few dozen fields, where a linear scan beats hashing and keeps output
//!   order equal to input order.

use std::fmt;

use bytes::Bytes;
use smol_str::SmolStr;

use crate::codec::raw_json::RawObject;
use crate::finalization::EventFinalizer;

/// A field name.
pub type Key = SmolStr;

/// The name of the field holding the event's text.
pub const MESSAGE: &str = "message";
/// The name of the field holding the event's time.
pub const TIMESTAMP: &str = "@timestamp";
/// The ECS field where logweir records flags such as `truncated` or `invalid_utf8`.
pub const TAGS: &str = "tags";

/// A field value.
#[derive(Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Integer(i64),
    Float(f64),
    /// UTF-8 text (sources replace invalid sequences and flag the event).
    Bytes(Bytes),
    /// Nanoseconds since the Unix epoch, UTC.
    Timestamp(i64),
    Array(Vec<Value>),
    Object(Object),
}

impl Value {
    /// A text value from a static or owned string.
    pub fn from_str_value(s: &str) -> Value {
        Value::Bytes(Bytes::copy_from_slice(s.as_bytes()))
    }

    /// The text of a `Bytes` value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            // Bytes values are UTF-8 by construction (see `Value::Bytes`); a failed check means
            // a source broke that rule, and reads as "not a string" rather than a panic.
            Value::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    pub fn as_object_mut(&mut self) -> Option<&mut Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The value as a number, for comparisons (integers and floats compare with each other).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Integer(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Timestamp(t) => Some(*t as f64),
            _ => None,
        }
    }

    /// A short name of the value's kind, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Integer(_) => "integer",
            Value::Float(_) => "float",
            Value::Bytes(_) => "string",
            Value::Timestamp(_) => "timestamp",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// Whether the value counts as true in a condition.
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Integer(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Bytes(b) => !b.is_empty(),
            Value::Timestamp(_) => true,
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
        }
    }

    /// Converts a JSON value (tests, pipeline unit tests, configuration) into a `Value`.
    /// Strings that look like RFC 3339 timestamps stay strings: only `@timestamp` is typed by
    /// [`Event::from_json`].
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Integer(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::from_str_value(s),
            serde_json::Value::Array(a) => Value::Array(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => {
                let mut obj = Object::with_capacity(o.len());
                for (k, v) in o {
                    obj.insert(Key::new(k), Value::from_json(v));
                }
                Value::Object(obj)
            }
        }
    }

    /// Converts to a JSON value (pipeline unit test reports, `tap`).
    pub fn to_json(&self) -> serde_json::Value {
        let mut buf = Vec::new();
        crate::codec::json::write_value(&mut buf, self);
        serde_json::from_slice(&buf).unwrap_or(serde_json::Value::Null)
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = Vec::new();
        crate::codec::json::write_value(&mut buf, self);
        f.write_str(&String::from_utf8_lossy(&buf))
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::from_str_value(s)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Bytes(Bytes::from(s))
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Integer(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}

/// An ordered map of fields. Keys are unique; inserting an existing key replaces its value in
/// place (keeping its position).
///
/// An object may also carry fields still in their JSON text form (a [`RawObject`], from
/// `parse_json`): read through [`Object::get`] and [`Object::iter`] like the others, written
/// out by sinks as the original text. Any change to one of those fields (or a mutable
/// borrow) first turns them into ordinary fields. Keys never appear both as an ordinary
/// field and in the text.
#[derive(Default)]
pub struct Object {
    entries: Vec<(Key, Value)>,
    /// Shared: cloning an event (fan-out, the per-file fields every event of a file
    /// carries) shares the text and whatever of it was decoded already.
    raw: Option<std::sync::Arc<RawObject>>,
}

impl Clone for Object {
    fn clone(&self) -> Object {
        Object {
            // Objects read from text (a file's `kubernetes` once decoded, a line's nested
            // objects) have no plain fields: no call into the vector's clone for them.
            entries: if self.entries.is_empty() {
                Vec::new()
            } else {
                self.entries.clone()
            },
            raw: self.raw.clone(),
        }
    }
}

impl Object {
    pub fn new() -> Object {
        Object::default()
    }

    pub fn with_capacity(n: usize) -> Object {
        Object {
            entries: Vec::with_capacity(n),
            raw: None,
        }
    }

    /// An object whose fields are the members of a validated JSON object's text.
    pub fn from_raw(raw: RawObject) -> Object {
        Object::from_shared_raw(std::sync::Arc::new(raw))
    }

    pub fn from_shared_raw(raw: std::sync::Arc<RawObject>) -> Object {
        Object {
            entries: Vec::new(),
            raw: Some(raw),
        }
    }

    /// Fields still in JSON text form, if any: sinks write this text as it is.
    pub fn raw(&self) -> Option<&RawObject> {
        self.raw.as_deref()
    }

    /// Fields kept as ordinary values (all of them when [`Object::raw`] is `None`).
    pub fn plain_entries(&self) -> impl Iterator<Item = (&Key, &Value)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// Appends the members of a validated JSON object's text as fields kept in text form.
    /// The caller guarantees none of its keys is already a field of `self`.
    ///
    /// A second text goes after the first (which becomes its prefix: a source's shared
    /// fields, then the line's own); a third is decoded into fields.
    pub fn attach_raw(&mut self, mut raw: std::sync::Arc<RawObject>) {
        match self.raw.take() {
            None => self.raw = Some(raw),
            Some(existing) => match RawObject::set_prefix(&mut raw, existing) {
                Ok(()) => self.raw = Some(raw),
                Err(existing) => {
                    self.raw = Some(existing);
                    push_fields_of(&mut self.entries, &raw);
                }
            },
        }
    }

    /// Turns fields in text form into ordinary fields (before a change).
    fn materialize(&mut self) {
        if let Some(raw) = self.raw.take() {
            push_fields_of(&mut self.entries, &raw);
        }
    }

    fn raw_contains(&self, key: &str) -> bool {
        self.raw.as_ref().is_some_and(|r| r.contains_key(key))
    }

    pub fn len(&self) -> usize {
        self.entries.len() + self.raw.as_ref().map_or(0, |r| r.len())
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.raw.as_ref().is_none_or(|r| r.is_empty())
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.plain(key)
            .or_else(|| self.raw.as_ref().and_then(|r| r.get(key)))
    }

    /// The ordinary field `key` (not looking into the fields in text form).
    fn plain(&self, key: &str) -> Option<&Value> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| v)
    }

    /// The position of `key` among the ordinary fields, turning the fields in text form
    /// into ordinary ones first when `key` is one of them (before a change).
    fn position_for_change(&mut self, key: &str) -> Option<usize> {
        let find = |entries: &[(Key, Value)]| entries.iter().position(|(k, _)| k.as_str() == key);
        // A key is either an ordinary field or in the text (see `attach_raw`), so an
        // ordinary field found first needs no look into the text.
        match find(&self.entries) {
            Some(pos) => Some(pos),
            None if self.raw_contains(key) => {
                self.materialize();
                find(&self.entries)
            }
            None => None,
        }
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        let pos = self.position_for_change(key)?;
        Some(&mut self.entries[pos].1)
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: impl Into<Key>, value: Value) -> Option<Value> {
        let key = key.into();
        match self.get_mut(&key) {
            Some(slot) => Some(std::mem::replace(slot, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    /// Appends without checking for an existing key. Callers guarantee uniqueness (sources
    /// building a fresh event), which saves the scan.
    pub fn push_unique(&mut self, key: impl Into<Key>, value: Value) {
        self.entries.push((key.into(), value));
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let pos = self.position_for_change(key)?;
        Some(self.entries.remove(pos).1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Value)> {
        self.entries
            .iter()
            .map(|(k, v)| (k, v))
            .chain(self.raw.iter().flat_map(|r| r.iter()))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&Key, &mut Value)> {
        self.materialize();
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    /// Moves every field of `other` into `self`, replacing existing keys.
    pub fn merge(&mut self, other: Object) {
        if self.is_empty() {
            *self = other;
            return;
        }
        for (k, v) in other {
            self.insert(k, v);
        }
    }
    /// The value at `path`, descending through objects.
    pub fn get_path(&self, path: &FieldPath) -> Option<&Value> {
        let (first, rest) = path.segments.split_first()?;
        let mut current = self.get(first)?;
        for seg in rest {
            current = current.as_object()?.get(seg)?;
        }
        Some(current)
    }

    /// The string at `path` as its bytes, when they can be read without decoding anything
    /// (a string field, or an unescaped string still in text form). `None` when absent,
    /// not a string, or an escaped string in text form: the caller then reads the value.
    pub fn peek_str_path(&self, path: &FieldPath) -> Option<&[u8]> {
        let (last, parents) = path.segments.split_last()?;
        let mut obj = self;
        for seg in parents {
            obj = obj.get(seg)?.as_object()?;
        }
        match obj.plain(last) {
            Some(Value::Bytes(b)) => Some(b),
            Some(_) => None,
            None => obj.raw.as_ref()?.peek_str(last),
        }
    }

    pub fn get_path_mut(&mut self, path: &FieldPath) -> Option<&mut Value> {
        let (first, rest) = path.segments.split_first()?;
        let mut current = self.get_mut(first)?;
        for seg in rest {
            current = current.as_object_mut()?.get_mut(seg)?;
        }
        Some(current)
    }

    /// Sets the value at `path`, creating intermediate objects and replacing non-object
    /// intermediates. Returns the previous value.
    pub fn insert_path(&mut self, path: &FieldPath, value: Value) -> Option<Value> {
        let (last, parents) = path.segments.split_last()?;
        let mut obj = self;
        for seg in parents {
            if !matches!(obj.get(seg), Some(Value::Object(_))) {
                obj.insert(seg.clone(), Value::Object(Object::new()));
            }
            obj = obj.get_mut(seg)?.as_object_mut()?;
        }
        obj.insert(last.clone(), value)
    }

    pub fn remove_path(&mut self, path: &FieldPath) -> Option<Value> {
        let (last, parents) = path.segments.split_last()?;
        let mut obj = self;
        for seg in parents {
            obj = obj.get_mut(seg)?.as_object_mut()?;
        }
        obj.remove(last)
    }
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&Value::Object(self.clone()), f)
    }
}

/// Appends the fields of `raw`, decoded, to `entries`.
fn push_fields_of(entries: &mut Vec<(Key, Value)>, raw: &RawObject) {
    entries.reserve(raw.len());
    entries.extend(raw.iter().map(|(k, v)| (k.clone(), v.clone())));
}

impl IntoIterator for Object {
    type Item = (Key, Value);
    type IntoIter = std::vec::IntoIter<(Key, Value)>;

    fn into_iter(mut self) -> Self::IntoIter {
        self.materialize();
        self.entries.into_iter()
    }
}

/// Equal when both hold the same fields in the same order, whatever form they are kept in.
impl PartialEq for Object {
    fn eq(&self, other: &Object) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl FromIterator<(Key, Value)> for Object {
    fn from_iter<I: IntoIterator<Item = (Key, Value)>>(iter: I) -> Object {
        let mut obj = Object::new();
        for (k, v) in iter {
            obj.insert(k, v);
        }
        obj
    }
}

/// A one-bit signature of a key, for cheap "surely not present" checks while building objects
/// from input that rarely repeats keys: when a key's bit is not yet set in a mask of the keys
/// already present, the key is new and can be appended without the linear scan of
/// [`Object::insert`].
pub fn key_signature(key: &str) -> u64 {
    let b = key.as_bytes();
    let mix = b.len() as u64 * 7
        + u64::from(b.first().copied().unwrap_or(0))
        + u64::from(b.last().copied().unwrap_or(0)) * 3;
    1 << (mix & 63)
}

impl Object {
    /// Inserts `key`, using `seen` (a mask of [`key_signature`]s of the keys present) to skip
    /// the duplicate scan when the key is certainly new. Keeps `seen` up to date.
    pub fn insert_tracked(&mut self, key: Key, value: Value, seen: &mut u64) {
        let sig = key_signature(&key);
        if *seen & sig == 0 && self.raw.is_none() {
            self.entries.push((key, value));
        } else {
            self.insert(key, value);
        }
        *seen |= sig;
    }

    /// The mask of [`key_signature`]s of this object's keys.
    pub fn key_signatures(&self) -> u64 {
        let plain = self
            .entries
            .iter()
            .fold(0, |mask, (k, _)| mask | key_signature(k));
        plain | self.raw.as_ref().map_or(0, |r| r.key_mask())
    }
}

/// A parsed field path such as `.kubernetes.pod.name` or `."@timestamp"`.
///
/// Paths are parsed once (at configuration time), never per event.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    segments: Vec<Key>,
}

/// Why a field path did not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    #[error("empty field path")]
    Empty,
    #[error("empty segment in field path `{0}`")]
    EmptySegment(String),
    #[error("unterminated quote in field path `{0}`")]
    UnterminatedQuote(String),
    #[error("invalid character `{ch}` in field path `{path}` (use quotes: .\"{ch}\")")]
    InvalidChar { path: String, ch: char },
}

impl FieldPath {
    /// Parses a path. The leading dot is optional (`kubernetes.pod.name` and
    /// `.kubernetes.pod.name` are the same path); segments with other characters than
    /// letters, digits, `_`, `-` and `@` are quoted: `."my key".x`.
    pub fn parse(input: &str) -> Result<FieldPath, PathError> {
        let s = input.strip_prefix('.').unwrap_or(input);
        if s.is_empty() {
            return Err(PathError::Empty);
        }
        let mut segments = Vec::new();
        let mut chars = s.char_indices().peekable();
        loop {
            match chars.peek() {
                None => return Err(PathError::EmptySegment(input.to_string())),
                Some(&(_, '"')) => {
                    chars.next();
                    let mut seg = String::new();
                    let mut closed = false;
                    while let Some((_, c)) = chars.next() {
                        match c {
                            '"' => {
                                closed = true;
                                break;
                            }
                            '\\' => {
                                if let Some((_, n)) = chars.next() {
                                    seg.push(n);
                                }
                            }
                            c => seg.push(c),
                        }
                    }
                    if !closed {
                        return Err(PathError::UnterminatedQuote(input.to_string()));
                    }
                    segments.push(Key::new(seg));
                }
                Some(_) => {
                    let mut seg = String::new();
                    while let Some(&(_, c)) = chars.peek() {
                        if c == '.' {
                            break;
                        }
                        if !(c.is_alphanumeric() || c == '_' || c == '-' || c == '@') {
                            return Err(PathError::InvalidChar {
                                path: input.to_string(),
                                ch: c,
                            });
                        }
                        seg.push(c);
                        chars.next();
                    }
                    if seg.is_empty() {
                        return Err(PathError::EmptySegment(input.to_string()));
                    }
                    segments.push(Key::new(seg));
                }
            }
            match chars.next() {
                None => break,
                Some((_, '.')) => continue,
                Some((_, c)) => {
                    return Err(PathError::InvalidChar {
                        path: input.to_string(),
                        ch: c,
                    })
                }
            }
        }
        Ok(FieldPath { segments })
    }

    /// A path of one segment, taken literally.
    pub fn single(key: &str) -> FieldPath {
        FieldPath {
            segments: vec![Key::new(key)],
        }
    }

    pub fn segments(&self) -> &[Key] {
        &self.segments
    }
}

impl<'de> serde::Deserialize<'de> for FieldPath {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<FieldPath, D::Error> {
        let s = String::deserialize(deserializer)?;
        FieldPath::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for FieldPath {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl schemars::JsonSchema for FieldPath {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FieldPath".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A field path: dotted segments such as `.kubernetes.pod.name` (the leading dot is optional); quote unusual keys: `.\"my key\"`."
        })
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for seg in &self.segments {
            let plain = !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '@');
            if plain {
                write!(f, ".{seg}")?;
            } else {
                write!(f, ".\"{}\"", seg.replace('\\', "\\\\").replace('"', "\\\""))?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Where an event came from, precisely enough to give it a deterministic identity: the same
/// line read twice (after a crash and replay) gets the same origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Origin {
    /// A stable hash of the stream (file identity, syslog peer and message, ...).
    pub stream: u64,
    /// The position in that stream (byte offset of the line's start for files).
    pub offset: u64,
}

/// What travels with an event but is not part of it.
#[derive(Debug, Clone, Default)]
pub struct EventMetadata {
    /// Reports delivery back to the producing source; `None` for sources that cannot replay.
    pub finalizer: Option<EventFinalizer>,
    pub origin: Option<Origin>,
}

/// One log event.
#[derive(Debug, Clone, Default)]
pub struct Event {
    pub fields: Object,
    pub meta: EventMetadata,
}

impl Event {
    /// An event with `message` and `@timestamp`.
    pub fn from_message(message: Bytes, timestamp_nanos: i64) -> Event {
        // Room for the tags a source may add; a file source's own fields come as one text.
        let mut fields = Object::with_capacity(4);
        fields.push_unique(
            Key::new_static(TIMESTAMP),
            Value::Timestamp(timestamp_nanos),
        );
        fields.push_unique(Key::new_static(MESSAGE), Value::Bytes(message));
        Event {
            fields,
            meta: EventMetadata::default(),
        }
    }

    /// An event from a JSON object (pipeline unit tests, `logweir replay`). `@timestamp`
    /// strings in RFC 3339 become timestamps; a missing `@timestamp` is set to `now`.
    pub fn from_json(json: &serde_json::Value, now_nanos: i64) -> Event {
        let mut fields = match Value::from_json(json) {
            Value::Object(o) => o,
            other => {
                let mut o = Object::new();
                o.insert(MESSAGE, other);
                o
            }
        };
        let ts = match fields.get(TIMESTAMP) {
            Some(Value::Bytes(b)) => crate::time::parse_rfc3339(b).map(Value::Timestamp),
            Some(Value::Integer(i)) => Some(Value::Timestamp(*i)),
            Some(_) => None,
            None => Some(Value::Timestamp(now_nanos)),
        };
        if let Some(ts) = ts {
            fields.insert(TIMESTAMP, ts);
        }
        Event {
            fields,
            meta: EventMetadata::default(),
        }
    }

    pub fn get(&self, path: &FieldPath) -> Option<&Value> {
        self.fields.get_path(path)
    }

    pub fn insert(&mut self, path: &FieldPath, value: Value) -> Option<Value> {
        self.fields.insert_path(path, value)
    }

    pub fn message(&self) -> Option<&Bytes> {
        self.fields.get(MESSAGE).and_then(Value::as_bytes)
    }

    pub fn timestamp(&self) -> Option<i64> {
        match self.fields.get(TIMESTAMP) {
            Some(Value::Timestamp(t)) => Some(*t),
            _ => None,
        }
    }

    /// Appends `tag` to the event's `tags` array (ECS `tags`), the place where logweir
    /// records what happened to an event: `truncated`, `invalid_utf8`, `parse_failure`, ...
    pub fn add_tag(&mut self, tag: &'static str) {
        let tag = Value::Bytes(Bytes::from_static(tag.as_bytes()));
        match self.fields.get_mut(TAGS) {
            Some(Value::Array(tags)) => {
                if !tags.contains(&tag) {
                    tags.push(tag);
                }
            }
            _ => {
                self.fields.insert(TAGS, Value::Array(vec![tag]));
            }
        }
    }

    /// Whether `tags` holds `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        match self.fields.get(TAGS) {
            Some(Value::Array(tags)) => tags.iter().any(|t| t.as_str() == Some(tag)),
            _ => false,
        }
    }

    /// Marks this event as finished with `status` and releases its finalizer.
    pub fn finish(&mut self, status: crate::finalization::EventStatus) {
        if let Some(finalizer) = self.meta.finalizer.take() {
            finalizer.finish(status);
        }
    }

    /// About how many bytes the event takes as JSON, for the byte counters of
    /// `GET /metrics`: text lengths, key lengths and a fixed size per number, without
    /// encoding anything. Cheap (one walk over the fields, no allocation) and close to the
    /// NDJSON size for typical log events (escaping is not counted).
    pub fn estimated_size(&self) -> usize {
        object_size(&self.fields)
    }

    /// The event serialised as one line of JSON (no trailing newline).
    pub fn to_json_string(&self) -> String {
        let mut buf = Vec::new();
        crate::codec::json::write_object(&mut buf, &self.fields);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

fn object_size(object: &Object) -> usize {
    // `{}` plus, per field, `"key":` and a comma; fields in text form count their text.
    2 + object
        .plain_entries()
        .map(|(k, v)| k.len() + 4 + value_size(v))
        .sum::<usize>()
        + object
            .raw()
            .map_or(0, |r| r.inner_texts().map(|t| t.len() + 1).sum())
}

fn value_size(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 4,
        Value::Integer(_) | Value::Float(_) => 8,
        Value::Bytes(b) => b.len() + 2,
        // RFC 3339 with nanoseconds, quoted.
        Value::Timestamp(_) => 32,
        Value::Array(items) => 2 + items.iter().map(|v| value_size(v) + 1).sum::<usize>(),
        Value::Object(o) => object_size(o),
    }
}

/// The unit of transfer between components.
#[derive(Debug, Clone, Default)]
pub struct EventBatch {
    pub events: Vec<Event>,
}

impl EventBatch {
    pub fn new(events: Vec<Event>) -> EventBatch {
        EventBatch { events }
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Finishes every event of the batch with `status` (sinks call this after delivery).
    pub fn finish(&mut self, status: crate::finalization::EventStatus) {
        for e in &mut self.events {
            e.finish(status);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimated_size_is_close_to_the_json_size() {
        let events = [
            Event::from_message(Bytes::from_static(b"GET /index.html 200 1534"), 1),
            Event::from_json(
                &serde_json::json!({
                    "@timestamp": "2026-01-02T03:04:05.123456789Z",
                    "message": "user logged in",
                    "level": "info",
                    "http": {"status": 200, "duration": 0.25},
                    "tags": ["a", "b"],
                    "ok": true,
                }),
                0,
            ),
        ];
        for event in &events {
            let json = event.to_json_string().len() as f64;
            let estimate = event.estimated_size() as f64;
            assert!(
                (estimate - json).abs() / json < 0.2,
                "{estimate} vs {json}: {}",
                event.to_json_string()
            );
        }
    }

    #[test]
    fn a_shared_text_prefix_reads_and_writes_as_ordinary_fields() {
        use std::sync::Arc;
        let shared = Arc::new(RawObject::new_validated(Bytes::from_static(
            br#"{"log":{"file":{"path":"/p"}},"host":{"name":"n"}}"#,
        )));
        let line = |text: &'static str| {
            let mut parser = crate::transforms::parse_json::JsonParser::default();
            match parser.parse_lazy(Bytes::from_static(text.as_bytes()), |_, _| true) {
                Ok(crate::transforms::parse_json::Parsed::Raw(raw)) => raw,
                _ => panic!("kept as text"),
            }
        };
        let mut event = Event::from_message(Bytes::from_static(b"m"), 0);
        event.fields.attach_raw(Arc::clone(&shared));
        event.fields.attach_raw(line(r#"{"level":"warn","n":1}"#));
        let fields = &event.fields;
        assert_eq!(fields.len(), 6);
        assert_eq!(fields.get("level"), Some(&Value::from("warn")));
        let path = FieldPath::parse(".log.file.path").unwrap();
        assert_eq!(fields.get_path(&path), Some(&Value::from("/p")));
        assert_eq!(fields.peek_str_path(&path), Some(&b"/p"[..]));
        let keys: Vec<String> = fields.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(keys, ["@timestamp", "message", "log", "host", "level", "n"]);
        for k in ["log", "host", "level", "n", "message"] {
            assert_ne!(fields.key_signatures() & key_signature(k), 0, "{k}");
        }
        let json = event.to_json_string();
        assert!(
            json.ends_with(
                r#""log":{"file":{"path":"/p"}},"host":{"name":"n"},"level":"warn","n":1}"#
            ),
            "{json}"
        );
        assert!(
            (event.estimated_size() as f64 - json.len() as f64).abs() < json.len() as f64 * 0.2
        );

        // A change to a field of either part turns both into ordinary fields, once.
        let mut changed = event.clone();
        changed.insert(
            &FieldPath::parse(".host.name").unwrap(),
            Value::from("other"),
        );
        assert!(changed.fields.raw().is_none());
        let back: serde_json::Value = serde_json::from_str(&changed.to_json_string()).unwrap();
        assert_eq!(back["host"]["name"], "other");
        assert_eq!(back["level"], "warn");
        assert_eq!(back["log"]["file"]["path"], "/p");
        assert_eq!(back.as_object().unwrap().len(), 6);
        // The shared object is untouched by that.
        assert_eq!(
            shared
                .get("host")
                .and_then(Value::as_object)
                .map(Object::len),
            Some(1)
        );

        // A third text (or a second on an object already shared) is decoded into fields.
        event.fields.attach_raw(line(r#"{"extra":true}"#));
        assert_eq!(event.fields.get("extra"), Some(&Value::Bool(true)));
        assert_eq!(event.fields.len(), 7);
        let mut shared_second = Object::new();
        shared_second.attach_raw(line(r#"{"a":1}"#));
        shared_second.attach_raw(Arc::clone(&shared));
        assert_eq!(shared_second.len(), 3);
        assert_eq!(shared_second.get_path(&path), Some(&Value::from("/p")));
    }

    #[test]
    fn paths_parse_plain_and_quoted_segments() {
        let p = FieldPath::parse(".kubernetes.pod.name").unwrap();
        assert_eq!(p.segments(), &["kubernetes", "pod", "name"]);
        let p = FieldPath::parse("@timestamp").unwrap();
        assert_eq!(p.segments(), &["@timestamp"]);
        let p = FieldPath::parse(r#"."a b"."c\"d".e"#).unwrap();
        assert_eq!(p.segments(), &["a b", "c\"d", "e"]);
        assert_eq!(p.to_string(), r#"."a b"."c\"d".e"#);
        assert_eq!(FieldPath::parse("."), Err(PathError::Empty));
        assert!(matches!(
            FieldPath::parse(".a..b"),
            Err(PathError::EmptySegment(_))
        ));
        assert!(matches!(
            FieldPath::parse(".a b"),
            Err(PathError::InvalidChar { ch: ' ', .. })
        ));
        assert!(matches!(
            FieldPath::parse(".\"open"),
            Err(PathError::UnterminatedQuote(_))
        ));
    }

    #[test]
    fn insert_path_creates_and_replaces_intermediates() {
        let mut o = Object::new();
        let p = FieldPath::parse("a.b.c").unwrap();
        assert_eq!(o.insert_path(&p, Value::Integer(1)), None);
        assert_eq!(o.get_path(&p), Some(&Value::Integer(1)));
        o.insert("x", Value::from("text"));
        let px = FieldPath::parse("x.y").unwrap();
        o.insert_path(&px, Value::Bool(true));
        assert_eq!(o.get_path(&px), Some(&Value::Bool(true)));
        assert_eq!(o.remove_path(&p), Some(Value::Integer(1)));
        assert_eq!(o.get_path(&p), None);
    }

    #[test]
    fn object_insert_keeps_position_on_replace() {
        let mut o = Object::new();
        o.insert("a", Value::Integer(1));
        o.insert("b", Value::Integer(2));
        o.insert("a", Value::Integer(3));
        let keys: Vec<_> = o.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(o.get("a"), Some(&Value::Integer(3)));
    }

    #[test]
    fn from_json_types_timestamp() {
        let e = Event::from_json(
            &serde_json::json!({"@timestamp": "2026-11-24T10:00:00Z", "n": 1, "f": 1.5}),
            0,
        );
        assert_eq!(
            e.timestamp(),
            crate::time::parse_rfc3339(b"2026-11-24T10:00:00Z")
        );
        assert_eq!(e.fields.get("n"), Some(&Value::Integer(1)));
        assert_eq!(e.fields.get("f"), Some(&Value::Float(1.5)));
    }
}
