//! A small model of Elasticsearch mappings: explicit mappings from index
//! templates, dynamic mapping of new fields, and type checking of documents.

use super::util::{cause, is_strict_date_optional_time, is_valid_date, token_name};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum FieldType {
    Object(BTreeMap<String, FieldType>),
    Leaf(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Dynamic {
    True,
    False,
    Strict,
}

#[derive(Debug, Clone)]
pub(super) struct Mapping {
    pub root: BTreeMap<String, FieldType>,
    pub dynamic: Dynamic,
}

impl Default for Mapping {
    fn default() -> Self {
        Mapping {
            root: BTreeMap::new(),
            dynamic: Dynamic::True,
        }
    }
}

impl Mapping {
    /// Merge a `mappings` object (`{"dynamic":..,"properties":{..}}`) into this mapping.
    pub fn merge_json(&mut self, mappings: &Value) {
        if let Some(d) = mappings.get("dynamic") {
            self.dynamic = match d {
                Value::Bool(false) => Dynamic::False,
                Value::String(s) if s == "false" => Dynamic::False,
                Value::String(s) if s == "strict" => Dynamic::Strict,
                _ => Dynamic::True,
            };
        }
        if let Some(Value::Object(props)) = mappings.get("properties") {
            merge_props(&mut self.root, props);
        }
    }

    /// JSON rendering of the mapping (`{"properties":{..}}`).
    pub fn to_json(&self) -> Value {
        fn render(m: &BTreeMap<String, FieldType>) -> Value {
            let mut out = Map::new();
            for (k, v) in m {
                let fv = match v {
                    FieldType::Object(c) => json!({"properties": render(c)}),
                    FieldType::Leaf(t) if t == "text" => {
                        json!({"type":"text","fields":{"keyword":{"type":"keyword","ignore_above":256}}})
                    }
                    FieldType::Leaf(t) => json!({"type": t}),
                };
                out.insert(k.clone(), fv);
            }
            Value::Object(out)
        }
        let mut m = json!({"properties": render(&self.root)});
        match self.dynamic {
            Dynamic::True => {}
            Dynamic::False => m["dynamic"] = json!("false"),
            Dynamic::Strict => m["dynamic"] = json!("strict"),
        }
        m
    }
}

fn merge_props(target: &mut BTreeMap<String, FieldType>, props: &Map<String, Value>) {
    for (name, def) in props {
        let ty = def.get("type").and_then(Value::as_str);
        let path: Vec<&str> = name.split('.').collect();
        let leaf_ty = match (ty, def.get("properties")) {
            (None | Some("object") | Some("nested"), Some(Value::Object(children))) => {
                let mut sub = BTreeMap::new();
                merge_props(&mut sub, children);
                FieldType::Object(sub)
            }
            (None | Some("object") | Some("nested"), _) => FieldType::Object(BTreeMap::new()),
            (Some(t), _) => FieldType::Leaf(t.to_string()),
        };
        insert_path(target, &path, leaf_ty);
    }
}

fn insert_path(target: &mut BTreeMap<String, FieldType>, path: &[&str], ty: FieldType) {
    if path.len() == 1 {
        match (target.get_mut(path[0]), ty) {
            (Some(FieldType::Object(existing)), FieldType::Object(new)) => {
                for (k, v) in new {
                    insert_path(existing, &[k.as_str()], v);
                }
            }
            (_, ty) => {
                target.insert(path[0].to_string(), ty);
            }
        }
        return;
    }
    let entry = target
        .entry(path[0].to_string())
        .or_insert_with(|| FieldType::Object(BTreeMap::new()));
    if let FieldType::Leaf(_) = entry {
        *entry = FieldType::Object(BTreeMap::new());
    }
    if let FieldType::Object(children) = entry {
        insert_path(children, &path[1..], ty);
    }
}

/// Context used to build error messages.
pub(super) struct DocCtx<'a> {
    pub id: &'a str,
    pub raw: &'a [u8],
}

impl DocCtx<'_> {
    /// Approximate `[line:col]` of a field in the raw source.
    fn pos(&self, key: &str) -> String {
        let needle = format!("\"{key}\"");
        let raw = String::from_utf8_lossy(self.raw);
        let col = raw.find(&needle).map(|i| i + needle.len() + 2).unwrap_or(1);
        format!("[1:{col}]")
    }
}

fn preview(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}={}", preview(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(preview).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

/// The canonical "failed to parse field" document_parsing_exception.
pub(super) fn field_parse_error(
    ctx: &DocCtx<'_>,
    key: &str,
    path: &str,
    ty: &str,
    value: &Value,
    caused_by: Map<String, Value>,
) -> Map<String, Value> {
    let mut c = cause(
        "document_parsing_exception",
        format!(
            "{} failed to parse field [{path}] of type [{ty}] in document with id '{}'. Preview of field's value: '{}'",
            ctx.pos(key),
            ctx.id,
            preview(value)
        ),
    );
    c.insert("caused_by".into(), Value::Object(caused_by));
    c
}

fn is_numeric_type(t: &str) -> bool {
    matches!(
        t,
        "long"
            | "integer"
            | "short"
            | "byte"
            | "unsigned_long"
            | "double"
            | "float"
            | "half_float"
            | "scaled_float"
    )
}

fn is_string_type(t: &str) -> bool {
    matches!(
        t,
        "keyword"
            | "text"
            | "match_only_text"
            | "wildcard"
            | "constant_keyword"
            | "version"
            | "ip"
            | "search_as_you_type"
    )
}

/// Why a value can't be indexed into a field of type `t` (with coercion, like ES).
fn leaf_incompatibility(t: &str, v: &Value) -> Option<Map<String, Value>> {
    let not_numeric = |tok: &str| {
        cause(
            "x_content_parse_exception",
            format!("Current token ({tok}) not numeric, can not use numeric value accessors"),
        )
    };
    if is_numeric_type(t) {
        return match v {
            Value::Number(_) => None,
            Value::String(s) if s.trim().parse::<f64>().is_ok() => None,
            Value::String(s) => Some(cause(
                "illegal_argument_exception",
                format!("For input string: \"{s}\""),
            )),
            Value::Bool(true) => Some(not_numeric("VALUE_TRUE")),
            Value::Bool(false) => Some(not_numeric("VALUE_FALSE")),
            Value::Object(_) => Some(not_numeric("START_OBJECT")),
            _ => None,
        };
    }
    if is_string_type(t) {
        return match v {
            Value::Object(_) => Some(cause(
                "illegal_state_exception",
                "Can't get text on a START_OBJECT at 1:1",
            )),
            _ => None,
        };
    }
    match t {
        "boolean" => match v {
            Value::Bool(_) => None,
            Value::String(s) if s == "true" || s == "false" || s.is_empty() => None,
            Value::String(s) => Some(cause(
                "illegal_argument_exception",
                format!("Failed to parse value [{s}] as only [true] or [false] are allowed."),
            )),
            other => Some(cause(
                "illegal_argument_exception",
                format!("Failed to parse value [{other}] as only [true] or [false] are allowed."),
            )),
        },
        "date" | "date_nanos" => match v {
            Value::Number(_) => None,
            Value::String(s) if is_valid_date(s) => None,
            other => {
                let shown = match other {
                    Value::String(s) => s.clone(),
                    o => o.to_string(),
                };
                let mut c = cause(
                    "illegal_argument_exception",
                    format!("failed to parse date field [{shown}] with format [strict_date_optional_time||epoch_millis]"),
                );
                c.insert(
                    "caused_by".into(),
                    Value::Object(cause(
                        "date_time_parse_exception",
                        "Failed to parse with all enclosed parsers",
                    )),
                );
                Some(c)
            }
        },
        _ => None,
    }
}

/// Strict JSON-type check used by the mapping-conflict fault.
pub(super) fn strict_json_type_matches(expected: &str, v: &Value) -> bool {
    match expected {
        "long" | "integer" | "short" | "byte" | "unsigned_long" => {
            v.as_i64().is_some() || v.as_u64().is_some()
        }
        "double" | "float" | "half_float" | "scaled_float" => v.is_number(),
        "boolean" => v.is_boolean(),
        "object" | "nested" | "flattened" => v.is_object(),
        "date" | "date_nanos" => v.is_string() || v.is_number(),
        t if is_string_type(t) => v.is_string(),
        _ => true,
    }
}

/// Error for a fault-injected mapping conflict on `path`.
pub(super) fn conflict_error(
    ctx: &DocCtx<'_>,
    path: &str,
    expected: &str,
    v: &Value,
) -> Map<String, Value> {
    let key = path.rsplit('.').next().unwrap_or(path);
    let caused = leaf_incompatibility(expected, v).unwrap_or_else(|| {
        cause(
            "illegal_argument_exception",
            format!(
                "Current token ({}) is not compatible with field type [{expected}]",
                token_name(v)
            ),
        )
    });
    field_parse_error(ctx, key, path, expected, v, caused)
}

fn infer(v: &Value) -> Option<FieldType> {
    match v {
        Value::Null => None,
        Value::Bool(_) => Some(FieldType::Leaf("boolean".into())),
        Value::Number(n) if n.is_f64() => Some(FieldType::Leaf("float".into())),
        Value::Number(_) => Some(FieldType::Leaf("long".into())),
        Value::String(s) if is_strict_date_optional_time(s) => Some(FieldType::Leaf("date".into())),
        Value::String(_) => Some(FieldType::Leaf("text".into())),
        Value::Array(a) => a.iter().find_map(infer),
        Value::Object(_) => Some(FieldType::Object(BTreeMap::new())),
    }
}

/// Check `doc` against `mapping`; on success returns the mapping extended with
/// dynamically mapped fields.
pub(super) fn check_document(
    mapping: &Mapping,
    doc: &Map<String, Value>,
    ctx: &DocCtx<'_>,
) -> Result<BTreeMap<String, FieldType>, Map<String, Value>> {
    let mut root = mapping.root.clone();
    walk_object(&mut root, doc, "", mapping.dynamic, ctx, "_doc")?;
    Ok(root)
}

fn walk_object(
    props: &mut BTreeMap<String, FieldType>,
    obj: &Map<String, Value>,
    prefix: &str,
    dynamic: Dynamic,
    ctx: &DocCtx<'_>,
    parent_name: &str,
) -> Result<(), Map<String, Value>> {
    for (key, value) in obj {
        // Dotted keys are expanded into object paths.
        let mut segs: Vec<&str> = key.split('.').collect();
        let last = segs.pop().unwrap_or(key);
        let mut cur: &mut BTreeMap<String, FieldType> = props;
        let mut path = prefix.to_string();
        let mut parent = parent_name.to_string();
        for seg in segs {
            let full = if path.is_empty() {
                seg.to_string()
            } else {
                format!("{path}.{seg}")
            };
            if !cur.contains_key(seg) {
                if dynamic == Dynamic::Strict {
                    return Err(strict_error(ctx, seg, &full, &parent));
                }
                cur.insert(seg.to_string(), FieldType::Object(BTreeMap::new()));
            }
            if !matches!(cur.get(seg), Some(FieldType::Object(_))) {
                return Err(cause(
                    "document_parsing_exception",
                    format!(
                        "{} Could not dynamically add mapping for field [{key}]. Existing mapping for [{full}] must be of type object but found [{}].",
                        ctx.pos(key),
                        leaf_name(cur.get(seg))
                    ),
                ));
            }
            match cur.get_mut(seg) {
                Some(FieldType::Object(children)) => cur = children,
                _ => unreachable!("checked above"),
            }
            path = full;
            parent = seg.to_string();
        }
        let full = if path.is_empty() {
            last.to_string()
        } else {
            format!("{path}.{last}")
        };
        walk_value(cur, last, value, &full, dynamic, ctx, &parent)?;
    }
    Ok(())
}

fn leaf_name(t: Option<&FieldType>) -> String {
    match t {
        Some(FieldType::Leaf(t)) => t.clone(),
        _ => "object".into(),
    }
}

fn strict_error(ctx: &DocCtx<'_>, key: &str, full: &str, parent: &str) -> Map<String, Value> {
    cause(
        "strict_dynamic_mapping_exception",
        format!(
            "{} mapping set to strict, dynamic introduction of [{full}] within [{parent}] is not allowed",
            ctx.pos(key)
        ),
    )
}

fn walk_value(
    props: &mut BTreeMap<String, FieldType>,
    key: &str,
    value: &Value,
    full: &str,
    dynamic: Dynamic,
    ctx: &DocCtx<'_>,
    parent: &str,
) -> Result<(), Map<String, Value>> {
    if let Value::Array(items) = value {
        for it in items {
            walk_value(props, key, it, full, dynamic, ctx, parent)?;
        }
        return Ok(());
    }
    if value.is_null() {
        return Ok(());
    }
    match props.get_mut(key) {
        Some(FieldType::Object(children)) => match value {
            Value::Object(obj) => walk_object(children, obj, full, dynamic, ctx, key),
            _ => Err(cause(
                "document_parsing_exception",
                format!(
                    "{} object mapping for [{full}] tried to parse field [{key}] as object, but found a concrete value",
                    ctx.pos(key)
                ),
            )),
        },
        Some(FieldType::Leaf(t)) => {
            let t = t.clone();
            if matches!(t.as_str(), "flattened" | "geo_point" | "geo_shape" | "object" | "nested" | "join" | "dense_vector") {
                return Ok(());
            }
            match leaf_incompatibility(&t, value) {
                None => Ok(()),
                Some(c) => Err(field_parse_error(ctx, key, full, &t, value, c)),
            }
        }
        None => match dynamic {
            Dynamic::False => Ok(()),
            Dynamic::Strict => Err(strict_error(ctx, key, full, parent)),
            Dynamic::True => {
                if let Some(t) = infer(value) {
                    props.insert(key.to_string(), t);
                    walk_value(props, key, value, full, dynamic, ctx, parent)
                } else {
                    Ok(())
                }
            }
        },
    }
}
