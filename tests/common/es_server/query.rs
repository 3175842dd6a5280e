//! `_search` / `_count`: a subset of the query DSL (match_all, match_none,
//! term, terms, match, match_phrase, exists, ids, range, prefix, wildcard,
//! bool), sorting, paging and `filter_path` response filtering.

use super::cluster::Cluster;
use super::util::{
    cause, error_reply, glob_match, illegal_argument, lookup_path, token_name, Reply,
};
use serde_json::{json, Map, Value};
use std::cmp::Ordering;

#[derive(Debug)]
pub(super) enum Query {
    MatchAll,
    MatchNone,
    Term(String, Value),
    Terms(String, Vec<Value>),
    Match(String, String, bool),
    Phrase(String, String),
    Exists(String),
    Ids(Vec<String>),
    Range(String, Vec<(String, Value)>),
    Prefix(String, String),
    Wildcard(String, String),
    Bool {
        must: Vec<Query>,
        should: Vec<Query>,
        must_not: Vec<Query>,
        min_should: usize,
    },
}

fn parsing_exception(reason: impl Into<String>) -> Reply {
    let mut c = cause("parsing_exception", reason);
    c.insert("line".into(), json!(1));
    c.insert("col".into(), json!(1));
    error_reply(400, c)
}

/// The single `{"field": spec}` entry of a leaf query.
fn single_field<'a>(kind: &str, v: &'a Value) -> Result<(&'a String, &'a Value), Reply> {
    let obj = v.as_object().ok_or_else(|| {
        parsing_exception(format!(
            "[{kind}] query malformed, no start_object after query name"
        ))
    })?;
    let mut fields = obj
        .iter()
        .filter(|(k, _)| k.as_str() != "boost" && k.as_str() != "_name");
    let first = fields.next().ok_or_else(|| {
        illegal_argument(format!(
            "[{kind}] query doesn't support multiple fields, found none"
        ))
    })?;
    if let Some((k, _)) = fields.next() {
        return Err(parsing_exception(format!(
            "[{kind}] query doesn't support multiple fields, found [{}] and [{k}]",
            first.0
        )));
    }
    Ok(first)
}

fn inner_value<'a>(spec: &'a Value, key: &str) -> &'a Value {
    match spec {
        Value::Object(m) => m.get(key).unwrap_or(&Value::Null),
        other => other,
    }
}

fn clauses(v: Option<&Value>) -> Result<Vec<Query>, Reply> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().map(parse_query).collect(),
        Some(other) => Ok(vec![parse_query(other)?]),
    }
}

pub(super) fn parse_query(v: &Value) -> Result<Query, Reply> {
    let Some(obj) = v.as_object() else {
        return Err(parsing_exception(format!(
            "[_na] query malformed, must start with start_object, found [{}]",
            token_name(v)
        )));
    };
    let mut it = obj.iter();
    let Some((kind, body)) = it.next() else {
        return Err(parsing_exception("query malformed, empty clause found"));
    };
    if let Some((k, _)) = it.next() {
        return Err(parsing_exception(format!(
            "[{kind}] malformed query, expected [END_OBJECT] but found [FIELD_NAME] ({k})"
        )));
    }
    Ok(match kind.as_str() {
        "match_all" => Query::MatchAll,
        "match_none" => Query::MatchNone,
        "term" => {
            let (f, spec) = single_field(kind, body)?;
            Query::Term(f.clone(), inner_value(spec, "value").clone())
        }
        "terms" => {
            let (f, spec) = single_field(kind, body)?;
            let vals = spec.as_array().cloned().ok_or_else(|| {
                parsing_exception(format!("[terms] query does not support [{f}]"))
            })?;
            Query::Terms(f.clone(), vals)
        }
        "match" | "match_phrase" => {
            let (f, spec) = single_field(kind, body)?;
            let q = match inner_value(spec, "query") {
                Value::String(s) => s.clone(),
                Value::Null => {
                    return Err(illegal_argument(format!("[{kind}] requires query value")))
                }
                other => other.to_string(),
            };
            if kind == "match" {
                let and = spec
                    .get("operator")
                    .and_then(Value::as_str)
                    .is_some_and(|o| o.eq_ignore_ascii_case("and"));
                Query::Match(f.clone(), q, and)
            } else {
                Query::Phrase(f.clone(), q)
            }
        }
        "exists" => {
            let f = body
                .get("field")
                .and_then(Value::as_str)
                .ok_or_else(|| parsing_exception("[exists] must be provided with a [field]"))?;
            Query::Exists(f.to_string())
        }
        "ids" => {
            let vals = body
                .get("values")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            Query::Ids(
                vals.iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .collect(),
            )
        }
        "range" => {
            let (f, spec) = single_field(kind, body)?;
            let bounds = spec
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter(|(k, _)| matches!(k.as_str(), "gt" | "gte" | "lt" | "lte"))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            Query::Range(f.clone(), bounds)
        }
        "prefix" | "wildcard" => {
            let (f, spec) = single_field(kind, body)?;
            let p = inner_value(spec, "value")
                .as_str()
                .unwrap_or_default()
                .to_string();
            if kind == "prefix" {
                Query::Prefix(f.clone(), p)
            } else {
                Query::Wildcard(f.clone(), p)
            }
        }
        "bool" => {
            let b = body.as_object().ok_or_else(|| {
                parsing_exception("[bool] query malformed, no start_object after query name")
            })?;
            for k in b.keys() {
                if ![
                    "must",
                    "filter",
                    "should",
                    "must_not",
                    "minimum_should_match",
                    "boost",
                    "_name",
                ]
                .contains(&k.as_str())
                {
                    return Err(parsing_exception(format!(
                        "[bool] query does not support [{k}]"
                    )));
                }
            }
            let mut must = clauses(b.get("must"))?;
            must.extend(clauses(b.get("filter"))?);
            let should = clauses(b.get("should"))?;
            let must_not = clauses(b.get("must_not"))?;
            let min_should = match b.get("minimum_should_match") {
                Some(v) => v
                    .as_u64()
                    .map(|n| n as usize)
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .unwrap_or(1),
                None if must.is_empty() && !should.is_empty() => 1,
                None => 0,
            };
            Query::Bool {
                must,
                should,
                must_not,
                min_should,
            }
        }
        other => {
            let mut c = cause("parsing_exception", format!("unknown query [{other}]"));
            c.insert("line".into(), json!(1));
            c.insert("col".into(), json!(kind.len() + 4));
            c.insert(
                "caused_by".into(),
                Value::Object(cause(
                    "named_object_not_found_exception",
                    format!("[1:{}] unknown field [{other}]", kind.len() + 4),
                )),
            );
            return Err(error_reply(400, c));
        }
    })
}

/// Simple `q=` (Lucene syntax subset: `*`, `field:value`, `value`).
pub(super) fn parse_q(q: &str) -> Query {
    let q = q.trim();
    if q.is_empty() || q == "*" || q == "*:*" {
        return Query::MatchAll;
    }
    match q.split_once(':') {
        Some((f, v)) => Query::Match(f.to_string(), v.trim_matches('"').to_string(), false),
        None => Query::Match("*".to_string(), q.to_string(), false),
    }
}

struct DocRef<'a> {
    index: &'a str,
    id: &'a str,
    source: &'a Value,
}

fn field_values<'a>(d: &DocRef<'a>, field: &str) -> Vec<Value> {
    match field {
        "_id" => return vec![json!(d.id)],
        "_index" => return vec![json!(d.index)],
        _ => {}
    }
    if field == "*" {
        let mut out = Vec::new();
        collect_leaves(d.source, &mut out);
        return out;
    }
    let mut vals: Vec<Value> = lookup_path(d.source, field).into_iter().cloned().collect();
    if vals.is_empty() {
        if let Some(base) = field.strip_suffix(".keyword") {
            vals = lookup_path(d.source, base).into_iter().cloned().collect();
        }
    }
    vals
}

fn collect_leaves(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Object(m) => m.values().for_each(|x| collect_leaves(x, out)),
        Value::Array(a) => a.iter().for_each(|x| collect_leaves(x, out)),
        Value::Null => {}
        other => out.push(other.clone()),
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn values_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Number(x), Value::String(s)) | (Value::String(s), Value::Number(x)) => {
            s.parse::<f64>().ok() == x.as_f64()
        }
        (Value::Bool(x), Value::String(s)) | (Value::String(s), Value::Bool(x)) => {
            s == &x.to_string()
        }
        _ => a == b,
    }
}

fn cmp_values(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::Number(x), Value::String(s)) => x.as_f64()?.partial_cmp(&s.parse::<f64>().ok()?),
        (Value::String(s), Value::Number(y)) => s.parse::<f64>().ok()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn tokens(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn matches(q: &Query, d: &DocRef<'_>) -> bool {
    match q {
        Query::MatchAll => true,
        Query::MatchNone => false,
        Query::Term(f, v) => field_values(d, f).iter().any(|x| values_eq(x, v)),
        Query::Terms(f, vs) => field_values(d, f)
            .iter()
            .any(|x| vs.iter().any(|v| values_eq(x, v))),
        Query::Match(f, text, and) => {
            let want = tokens(text);
            let have: Vec<String> = field_values(d, f)
                .iter()
                .flat_map(|v| tokens(&as_text(v)))
                .collect();
            if *and {
                want.iter().all(|t| have.contains(t))
            } else {
                want.iter().any(|t| have.contains(t))
            }
        }
        Query::Phrase(f, text) => {
            let want = tokens(text).join(" ");
            field_values(d, f).iter().any(|v| {
                format!(" {} ", tokens(&as_text(v)).join(" ")).contains(&format!(" {want} "))
            })
        }
        Query::Exists(f) => !field_values(d, f).is_empty(),
        Query::Ids(ids) => ids.iter().any(|i| i == d.id),
        Query::Range(f, bounds) => field_values(d, f).iter().any(|x| {
            bounds
                .iter()
                .all(|(op, b)| match (op.as_str(), cmp_values(x, b)) {
                    ("gt", Some(o)) => o == Ordering::Greater,
                    ("gte", Some(o)) => o != Ordering::Less,
                    ("lt", Some(o)) => o == Ordering::Less,
                    ("lte", Some(o)) => o != Ordering::Greater,
                    _ => false,
                })
        }),
        Query::Prefix(f, p) => field_values(d, f)
            .iter()
            .any(|v| as_text(v).starts_with(p.as_str())),
        Query::Wildcard(f, p) => field_values(d, f)
            .iter()
            .any(|v| glob_match(p, &as_text(v))),
        Query::Bool {
            must,
            should,
            must_not,
            min_should,
        } => {
            must.iter().all(|c| matches(c, d))
                && !must_not.iter().any(|c| matches(c, d))
                && should.iter().filter(|c| matches(c, d)).count() >= *min_should
        }
    }
}

/// Sort keys: `(field, descending)`.
fn parse_sort(v: &Value) -> Result<Vec<(String, bool)>, Reply> {
    let entries: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let mut out = Vec::new();
    for e in entries {
        match e {
            Value::String(s) => {
                for part in s.split(',') {
                    let (f, dir) = part.split_once(':').unwrap_or((part, "asc"));
                    out.push((
                        f.to_string(),
                        dir == "desc" || (f == "_score" && dir != "asc"),
                    ));
                }
            }
            Value::Object(m) => {
                for (f, spec) in m {
                    let order = match spec {
                        Value::String(s) => s.clone(),
                        Value::Object(o) => o
                            .get("order")
                            .and_then(Value::as_str)
                            .unwrap_or("asc")
                            .to_string(),
                        _ => {
                            return Err(parsing_exception(format!(
                                "[sort] unexpected value for field [{f}]"
                            )))
                        }
                    };
                    out.push((f.clone(), order == "desc"));
                }
            }
            _ => return Err(parsing_exception("[sort] malformed")),
        }
    }
    Ok(out)
}

const SEARCH_BODY_KEYS: &[&str] = &[
    "query",
    "size",
    "from",
    "sort",
    "_source",
    "track_total_hits",
    "timeout",
    "aggs",
    "aggregations",
    "fields",
    "stored_fields",
    "docvalue_fields",
    "highlight",
    "search_after",
    "version",
    "seq_no_primary_term",
    "explain",
    "min_score",
    "post_filter",
    "terminate_after",
    "track_scores",
    "collapse",
    "runtime_mappings",
    "profile",
    "suggest",
    "rescore",
    "slice",
    "stats",
    "script_fields",
    "ext",
    "indices_boost",
    "pit",
    "knn",
    "retriever",
];

/// Query parameters relevant to a search.
pub(super) struct SearchParams<'a> {
    pub size: Option<&'a str>,
    pub from: Option<&'a str>,
    pub q: Option<&'a str>,
    pub sort: Option<&'a str>,
    pub track_total_hits: Option<&'a str>,
    pub rest_total_hits_as_int: bool,
    pub source: Option<&'a str>,
}

fn parse_int(name: &str, v: &str) -> Result<i64, Reply> {
    v.parse::<i64>().map_err(|_| {
        illegal_argument(format!(
            "Failed to parse int parameter [{name}] with value [{v}]"
        ))
    })
}

fn collect_docs<'a>(cluster: &'a Cluster, indices: &'a [String], q: &Query) -> Vec<DocRef<'a>> {
    let mut out = Vec::new();
    for name in indices {
        if let Some(idx) = cluster.indices.get(name) {
            for (id, d) in idx.iter() {
                let r = DocRef {
                    index: &idx.name,
                    id,
                    source: &d.source,
                };
                if matches(q, &r) {
                    out.push(r);
                }
            }
        }
    }
    out
}

pub(super) fn search(
    cluster: &Cluster,
    indices: &[String],
    body: Option<&Value>,
    p: &SearchParams<'_>,
) -> Reply {
    let empty = Map::new();
    let body = match body {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(other) => {
            return parsing_exception(format!(
                "Unknown key for a {} in [_na_].",
                token_name(other)
            ))
        }
    };
    if let Some((k, v)) = body
        .iter()
        .find(|(k, _)| !SEARCH_BODY_KEYS.contains(&k.as_str()))
    {
        return parsing_exception(format!("Unknown key for a {} in [{k}].", token_name(v)));
    }
    let query = match (p.q, body.get("query")) {
        (Some(q), _) => parse_q(q),
        (None, Some(q)) => match parse_query(q) {
            Ok(q) => q,
            Err(r) => return r,
        },
        (None, None) => Query::MatchAll,
    };
    let size = match (p.size, body.get("size")) {
        (Some(s), _) => match parse_int("size", s) {
            Ok(v) => v,
            Err(r) => return r,
        },
        (None, Some(v)) => v.as_i64().unwrap_or(10),
        (None, None) => 10,
    };
    let from = match (p.from, body.get("from")) {
        (Some(s), _) => match parse_int("from", s) {
            Ok(v) => v,
            Err(r) => return r,
        },
        (None, Some(v)) => v.as_i64().unwrap_or(0),
        (None, None) => 0,
    };
    if size < 0 {
        return illegal_argument(format!(
            "[size] parameter cannot be negative, found [{size}]"
        ));
    }
    if from < 0 {
        return illegal_argument(format!(
            "[from] parameter cannot be negative, found [{from}]"
        ));
    }
    if from + size > 10_000 {
        let root = cause(
            "illegal_argument_exception",
            format!(
                "Result window is too large, from + size must be less than or equal to: [10000] but was [{}]. See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the [index.max_result_window] index level setting.",
                from + size
            ),
        );
        let body = json!({
            "error": {
                "root_cause": [root.clone()],
                "type": "search_phase_execution_exception",
                "reason": "all shards failed",
                "phase": "query",
                "grouped": true,
                "failed_shards": [{"shard": 0, "index": indices.first(), "reason": root}],
                "caused_by": root,
            },
            "status": 400
        });
        return Reply::json(400, body);
    }
    let sort = match (p.sort, body.get("sort")) {
        (Some(s), _) => match parse_sort(&json!(s)) {
            Ok(v) => v,
            Err(r) => return r,
        },
        (None, Some(v)) => match parse_sort(v) {
            Ok(v) => v,
            Err(r) => return r,
        },
        (None, None) => Vec::new(),
    };
    let mut docs = collect_docs(cluster, indices, &query);
    let scored_sort = sort.iter().all(|(f, _)| f == "_score");
    if !sort.is_empty() && !scored_sort {
        docs.sort_by(|a, b| {
            for (f, desc) in &sort {
                if f == "_doc" || f == "_score" {
                    continue;
                }
                let va = field_values(a, f).into_iter().next();
                let vb = field_values(b, f).into_iter().next();
                let o = match (&va, &vb) {
                    (Some(x), Some(y)) => {
                        let o = cmp_values(x, y).unwrap_or(Ordering::Equal);
                        if *desc {
                            o.reverse()
                        } else {
                            o
                        }
                    }
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => Ordering::Equal,
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
    }
    let total = docs.len();
    let include_source = match (p.source, body.get("_source")) {
        (Some(s), _) => s != "false",
        (None, Some(Value::Bool(b))) => *b,
        _ => true,
    };
    let hits: Vec<Value> = docs
        .iter()
        .skip(from as usize)
        .take(size as usize)
        .map(|d| {
            let mut h = json!({"_index": d.index, "_id": d.id});
            if sort.is_empty() || scored_sort {
                h["_score"] = json!(1.0);
            } else {
                h["_score"] = Value::Null;
                let keys: Vec<Value> = sort
                    .iter()
                    .map(|(f, _)| field_values(d, f).into_iter().next().unwrap_or(Value::Null))
                    .collect();
                h["sort"] = Value::Array(keys);
            }
            if include_source {
                h["_source"] = d.source.clone();
            }
            h
        })
        .collect();
    let track = match (p.track_total_hits, body.get("track_total_hits")) {
        (Some(s), _) => match s {
            "true" => Some(usize::MAX),
            "false" => None,
            n => n.parse().ok().or(Some(10_000)),
        },
        (None, Some(Value::Bool(true))) => Some(usize::MAX),
        (None, Some(Value::Bool(false))) => None,
        (None, Some(Value::Number(n))) => n.as_u64().map(|n| n as usize),
        _ => Some(10_000),
    };
    let mut hits_obj = json!({
        "max_score": if total > 0 && (sort.is_empty() || scored_sort) { json!(1.0) } else { Value::Null },
        "hits": hits,
    });
    if let Some(limit) = track {
        if p.rest_total_hits_as_int {
            hits_obj["total"] = json!(total);
        } else if total > limit {
            hits_obj["total"] = json!({"value": limit, "relation": "gte"});
        } else {
            hits_obj["total"] = json!({"value": total, "relation": "eq"});
        }
    }
    let n = indices.len().max(1);
    let mut resp = json!({
        "took": 1,
        "timed_out": false,
        "_shards": {"total": n, "successful": n, "skipped": 0, "failed": 0},
        "hits": hits_obj,
    });
    if body.contains_key("aggs") || body.contains_key("aggregations") {
        resp["aggregations"] = json!({});
    }
    Reply::ok(resp)
}

pub(super) fn count(
    cluster: &Cluster,
    indices: &[String],
    body: Option<&Value>,
    q: Option<&str>,
) -> Reply {
    let query = match (q, body) {
        (Some(q), _) => parse_q(q),
        (None, None | Some(Value::Null)) => Query::MatchAll,
        (None, Some(Value::Object(m))) => {
            if let Some(k) = m.keys().find(|k| k.as_str() != "query") {
                return parsing_exception(format!("request does not support [{k}]"));
            }
            match m.get("query") {
                Some(q) => match parse_query(q) {
                    Ok(q) => q,
                    Err(r) => return r,
                },
                None => Query::MatchAll,
            }
        }
        (None, Some(other)) => {
            return parsing_exception(format!("Unknown key for a {}", token_name(other)))
        }
    };
    let n = collect_docs(cluster, indices, &query).len();
    let shards = indices.len().max(1);
    Reply::ok(json!({
        "count": n,
        "_shards": {"total": shards, "successful": shards, "skipped": 0, "failed": 0},
    }))
}

// ---------------------------------------------------------------- filter_path

/// Apply an ES `filter_path` expression (`a.b,c.*.d,**.e`) to a response.
pub(super) fn filter_path(v: &Value, expr: &str) -> Value {
    let patterns: Vec<Vec<&str>> = expr
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.starts_with('-'))
        .map(|p| p.split('.').collect())
        .collect();
    if patterns.is_empty() {
        return v.clone();
    }
    let refs: Vec<&[&str]> = patterns.iter().map(Vec::as_slice).collect();
    filter_rec(v, &refs).unwrap_or_else(|| json!({}))
}

fn filter_rec(v: &Value, patterns: &[&[&str]]) -> Option<Value> {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, child) in m {
                let mut next: Vec<&[&str]> = Vec::new();
                let mut whole = false;
                for p in patterns {
                    if p.is_empty() {
                        continue;
                    }
                    if p[0] == "**" {
                        next.push(p); // keep matching at deeper levels
                        if p.len() > 1 && glob_match(p[1], k) {
                            if p.len() == 2 {
                                whole = true;
                            } else {
                                next.push(&p[2..]);
                            }
                        }
                    } else if glob_match(p[0], k) {
                        if p.len() == 1 {
                            whole = true;
                        } else {
                            next.push(&p[1..]);
                        }
                    }
                }
                if whole {
                    out.insert(k.clone(), child.clone());
                } else if !next.is_empty() {
                    if let Some(f) = filter_rec(child, &next) {
                        out.insert(k.clone(), f);
                    }
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Value::Array(a) => {
            let items: Vec<Value> = a.iter().filter_map(|x| filter_rec(x, patterns)).collect();
            (!items.is_empty()).then_some(Value::Array(items))
        }
        _ => None,
    }
}
