//! The `_bulk` API: NDJSON parsing with Elasticsearch's validation rules and
//! per-item execution against the cluster state.

use super::cluster::{Cluster, Doc, WriteTarget};
use super::mapping::{
    check_document, conflict_error, field_parse_error, strict_json_type_matches, DocCtx,
};
use super::util::{
    cause, es_error, illegal_argument, is_valid_date, json_error_reason, lookup_path, parse_error,
    token_name, unit_hash, validation_failed, Reply,
};
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Action {
    Index,
    Create,
    Update,
    Delete,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Index => "index",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

#[derive(Debug)]
pub(super) struct UpdateBody {
    doc: Option<Map<String, Value>>,
    upsert: Option<Map<String, Value>>,
    doc_as_upsert: bool,
    detect_noop: bool,
    script: bool,
}

#[derive(Debug)]
pub(super) struct Op {
    action: Action,
    index: Option<String>,
    id: Option<String>,
    op_type_create: bool,
    source: Vec<u8>,
    if_seq_no: Option<i64>,
    if_primary_term: Option<i64>,
    update: Option<UpdateBody>,
}

/// Fault settings applied to one bulk request.
pub(super) struct BulkFaults {
    pub ratio_429: f64,
    pub seed: u64,
    pub request_no: u64,
    pub mapping_conflicts: Vec<(String, String)>,
}

fn malformed(line: usize, what: String) -> Reply {
    illegal_argument(format!("Malformed action/metadata line [{line}], {what}"))
}

/// Parse an NDJSON bulk body exactly like `BulkRequestParser`.
pub(super) fn parse(body: &[u8], default_index: Option<&str>) -> Result<Vec<Op>, Reply> {
    if body.is_empty() {
        return Err(es_error(400, "parse_exception", "request body is required"));
    }
    let mut ops = Vec::new();
    let mut pending: Option<Op> = None;
    let mut line = 0usize;
    let mut from = 0usize;
    loop {
        let Some(rel) = body[from..].iter().position(|&b| b == b'\n') else {
            if from != body.len() {
                return Err(illegal_argument(
                    "The bulk request must be terminated by a newline [\\n]",
                ));
            }
            break;
        };
        let next = from + rel;
        line += 1;
        let mut slice = &body[from..next];
        if slice.last() == Some(&b'\r') {
            slice = &slice[..slice.len() - 1];
        }
        from = next + 1;

        if let Some(mut op) = pending.take() {
            if op.action == Action::Update {
                op.update = Some(parse_update_body(slice)?);
            }
            op.source = slice.to_vec();
            ops.push(op);
            continue;
        }
        if slice.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let v: Value =
            serde_json::from_slice(slice).map_err(|e| parse_error(json_error_reason(&e)))?;
        let Value::Object(outer) = v else {
            return Err(malformed(
                line,
                format!("expected START_OBJECT but found [{}]", token_name(&v)),
            ));
        };
        let Some((action_name, meta)) = outer.iter().next() else {
            return Err(malformed(
                line,
                "expected FIELD_NAME but found [END_OBJECT]".into(),
            ));
        };
        let action = match action_name.as_str() {
            "index" => Action::Index,
            "create" => Action::Create,
            "update" => Action::Update,
            "delete" => Action::Delete,
            other => {
                return Err(malformed(
                    line,
                    format!(
                    "expected field [create], [delete], [index] or [update] but found [{other}]"
                ),
                ))
            }
        };
        let mut op = Op {
            action,
            index: default_index.map(str::to_string),
            id: None,
            op_type_create: false,
            source: Vec::new(),
            if_seq_no: None,
            if_primary_term: None,
            update: None,
        };
        let mut has_version = false;
        match meta {
            Value::Object(fields) => {
                for (k, v) in fields {
                    let scalar = |v: &Value| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    match (k.as_str(), v) {
                        (_, Value::Null) => {}
                        (
                            "_source" | "dynamic_templates" | "dynamic_template_params",
                            Value::Object(_),
                        ) => {}
                        (_, Value::Array(_) | Value::Object(_)) => {
                            return Err(malformed(
                                line,
                                format!(
                                    "expected a simple value for field [{k}] but found [{}]",
                                    token_name(v)
                                ),
                            ))
                        }
                        ("_index", v) => op.index = Some(scalar(v)),
                        ("_id", v) => op.id = Some(scalar(v)),
                        ("op_type", v) => op.op_type_create = scalar(v) == "create",
                        ("if_seq_no", v) => op.if_seq_no = scalar(v).parse().ok(),
                        ("if_primary_term", v) => op.if_primary_term = scalar(v).parse().ok(),
                        ("version" | "version_type", _) => has_version = true,
                        (
                            "routing"
                            | "retry_on_conflict"
                            | "pipeline"
                            | "_source"
                            | "require_alias"
                            | "require_data_stream"
                            | "list_executed_pipelines",
                            _,
                        ) => {}
                        _ => {
                            return Err(illegal_argument(format!(
                                "Action/metadata line [{line}] contains an unknown parameter [{k}]"
                            )))
                        }
                    }
                }
            }
            other => {
                return Err(malformed(
                    line,
                    format!(
                        "expected START_OBJECT or END_OBJECT but found [{}]",
                        token_name(other)
                    ),
                ))
            }
        }
        if action == Action::Update && has_version {
            return Err(illegal_argument(
                "Update requests do not support versioning. Please use `if_seq_no` and `if_primary_term` instead",
            ));
        }
        if action == Action::Delete {
            ops.push(op);
        } else {
            pending = Some(op);
        }
    }
    // Like ES, an action line without its source at the very end is dropped.
    let mut errors = Vec::new();
    if ops.is_empty() {
        errors.push("no requests added".to_string());
    }
    for op in &ops {
        if op.index.is_none() {
            errors.push("index is missing".into());
        }
        match (&op.id, op.action) {
            (None, Action::Update | Action::Delete) => errors.push("id is missing".into()),
            (Some(id), _) if id.len() > 512 => errors.push(format!(
                "id [{id}] is too long, must be no longer than 512 bytes but was: {}",
                id.len()
            )),
            _ => {}
        }
        if let Some(u) = &op.update {
            if u.doc.is_none() && !u.script && u.upsert.is_none() {
                errors.push("script or doc is missing".into());
            }
        }
    }
    if !errors.is_empty() {
        return Err(validation_failed(&errors));
    }
    Ok(ops)
}

fn parse_update_body(slice: &[u8]) -> Result<UpdateBody, Reply> {
    let v: Value = serde_json::from_slice(slice).map_err(|e| parse_error(json_error_reason(&e)))?;
    let Value::Object(m) = v else {
        return Err(parse_error(format!(
            "[1:1] [UpdateRequest] Expected START_OBJECT but was: {}",
            token_name(&v)
        )));
    };
    let mut u = UpdateBody {
        doc: None,
        upsert: None,
        doc_as_upsert: false,
        detect_noop: true,
        script: false,
    };
    for (k, v) in m {
        match k.as_str() {
            "doc" | "upsert" => {
                let Value::Object(o) = v else {
                    return Err(parse_error(format!(
                        "[1:2] [UpdateRequest] failed to parse field [{k}]"
                    )));
                };
                if k == "doc" {
                    u.doc = Some(o);
                } else {
                    u.upsert = Some(o);
                }
            }
            "doc_as_upsert" => u.doc_as_upsert = v.as_bool().unwrap_or(false),
            "detect_noop" => u.detect_noop = v.as_bool().unwrap_or(true),
            "script" => u.script = true,
            "scripted_upsert" | "_source" => {}
            other => {
                return Err(parse_error(format!(
                    "[1:2] [UpdateRequest] unknown field [{other}]"
                )))
            }
        }
    }
    Ok(u)
}

const METADATA_FIELDS: &[&str] = &[
    "_id",
    "_index",
    "_source",
    "_routing",
    "_version",
    "_seq_no",
    "_primary_term",
    "_ignored",
    "_field_names",
    "_doc_count",
    "_tier",
    "_data_stream_timestamp",
    "_nested_path",
];

type ItemError = (u16, Map<String, Value>);

fn shard_error(mut c: Map<String, Value>, index: &str, uuid: &str) -> Map<String, Value> {
    c.insert("index_uuid".into(), json!(uuid));
    c.insert("shard".into(), json!("0"));
    c.insert("index".into(), json!(index));
    c
}

/// Parse and validate a document for `index`, returning it with the updated mapping.
fn prepare_doc(
    cluster: &Cluster,
    index: &str,
    id: &str,
    raw: &[u8],
    parsed: Option<Map<String, Value>>,
    is_ds: bool,
    faults: &BulkFaults,
) -> Result<(Map<String, Value>, super::mapping::Mapping), ItemError> {
    let doc = match parsed {
        Some(d) => d,
        None => {
            if raw.iter().all(u8::is_ascii_whitespace) {
                return Err((
                    400,
                    cause(
                        "document_parsing_exception",
                        "[1:1] failed to parse, document is empty",
                    ),
                ));
            }
            match serde_json::from_slice::<Value>(raw) {
                Ok(Value::Object(m)) => m,
                Ok(_) => {
                    return Err((
                        400,
                        cause(
                            "document_parsing_exception",
                            "[1:1] failed to parse, document must be an object",
                        ),
                    ))
                }
                Err(e) => {
                    let mut c = cause(
                        "document_parsing_exception",
                        format!("[{}:{}] failed to parse", e.line(), e.column()),
                    );
                    c.insert(
                        "caused_by".into(),
                        Value::Object(cause("x_content_parse_exception", json_error_reason(&e))),
                    );
                    return Err((400, c));
                }
            }
        }
    };
    let ctx = DocCtx { id, raw };
    for k in doc.keys() {
        if METADATA_FIELDS.contains(&k.as_str()) {
            return Err((
                400,
                cause(
                    "document_parsing_exception",
                    format!(
                        "[1:{}] Field [{k}] is a metadata field and cannot be added inside a document. Use the index API request parameters.",
                        k.len() + 3
                    ),
                ),
            ));
        }
    }
    let doc_value = Value::Object(doc);
    if is_ds {
        let ts = lookup_path(&doc_value, "@timestamp");
        if ts.is_empty() {
            let mut c = cause(
                "document_parsing_exception",
                format!(
                    "[1:{}] failed to parse: data stream timestamp field [@timestamp] is missing",
                    raw.len().max(1)
                ),
            );
            c.insert(
                "caused_by".into(),
                Value::Object(cause(
                    "illegal_argument_exception",
                    "data stream timestamp field [@timestamp] is missing",
                )),
            );
            return Err((400, c));
        }
        if ts.len() > 1 {
            let mut c = cause(
                "document_parsing_exception",
                "[1:1] failed to parse: data stream timestamp field [@timestamp] encountered multiple values",
            );
            c.insert(
                "caused_by".into(),
                Value::Object(cause(
                    "illegal_argument_exception",
                    "data stream timestamp field [@timestamp] encountered multiple values",
                )),
            );
            return Err((400, c));
        }
        let ok = match ts[0] {
            Value::String(s) => is_valid_date(s),
            Value::Number(_) => true,
            _ => false,
        };
        if !ok {
            let shown = ts[0]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| ts[0].to_string());
            let mut inner = cause(
                "illegal_argument_exception",
                format!("failed to parse date field [{shown}] with format [strict_date_optional_time||epoch_millis]"),
            );
            inner.insert(
                "caused_by".into(),
                Value::Object(cause(
                    "date_time_parse_exception",
                    "Failed to parse with all enclosed parsers",
                )),
            );
            return Err((
                400,
                field_parse_error(&ctx, "@timestamp", "@timestamp", "date", ts[0], inner),
            ));
        }
    }
    for (field, expected) in &faults.mapping_conflicts {
        for v in lookup_path(&doc_value, field) {
            if !strict_json_type_matches(expected, v) {
                return Err((400, conflict_error(&ctx, field, expected, v)));
            }
        }
    }
    let Value::Object(doc) = doc_value else {
        unreachable!("document is an object")
    };
    let idx = &cluster.indices[index];
    let root = check_document(&idx.mapping, &doc, &ctx).map_err(|c| (400, c))?;
    let mapping = super::mapping::Mapping {
        root,
        dynamic: idx.mapping.dynamic,
    };
    Ok((doc, mapping))
}

fn deep_merge(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, v) in patch {
        match (target.get_mut(k), v) {
            (Some(Value::Object(t)), Value::Object(p)) => deep_merge(t, p),
            _ => {
                target.insert(k.clone(), v.clone());
            }
        }
    }
}

fn success(
    index: &str,
    id: &str,
    doc_version: u64,
    result: &str,
    seq_no: u64,
    status: u16,
) -> Value {
    let shards = if result == "noop" {
        json!({"total": 0, "successful": 0, "failed": 0})
    } else {
        json!({"total": 2, "successful": 1, "failed": 0})
    };
    json!({
        "_index": index,
        "_id": id,
        "_version": doc_version,
        "result": result,
        "_shards": shards,
        "_seq_no": seq_no,
        "_primary_term": 1,
        "status": status,
    })
}

fn failure(index: &str, id: Option<&str>, status: u16, c: Map<String, Value>) -> Value {
    json!({"_index": index, "_id": id, "status": status, "error": Value::Object(c)})
}

/// Execute parsed operations; returns the `items` array and whether any failed.
pub(super) fn execute(
    cluster: &mut Cluster,
    ops: Vec<Op>,
    faults: &BulkFaults,
) -> (Vec<Value>, bool) {
    let mut items = Vec::with_capacity(ops.len());
    let mut errors = false;
    for (i, op) in ops.into_iter().enumerate() {
        let result = execute_one(cluster, op.action, &op, i, faults);
        if result.get("error").is_some() {
            errors = true;
        }
        let mut item = Map::new();
        item.insert(op.action.name().to_string(), result);
        items.push(Value::Object(item));
    }
    (items, errors)
}

fn execute_one(
    cluster: &mut Cluster,
    action: Action,
    op: &Op,
    i: usize,
    faults: &BulkFaults,
) -> Value {
    let name = op.index.clone().unwrap_or_default();
    let target = match cluster.write_target(&name, action != Action::Delete) {
        Ok(t) => t,
        Err((status, c)) => return failure(&name, op.id.as_deref(), status, c),
    };
    let (index, is_ds) = match &target {
        WriteTarget::Index(n) => (n.clone(), false),
        WriteTarget::DataStream { write_index, .. } => (write_index.clone(), true),
    };
    if faults.ratio_429 > 0.0
        && unit_hash(faults.seed, faults.request_no, i as u64) < faults.ratio_429
    {
        let c = cause(
            "es_rejected_execution_exception",
            format!(
                "rejected execution of primary operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, primary_operation_bytes={}, max_coordinating_and_primary_bytes=107374182]",
                op.source.len()
            ),
        );
        return failure(&index, op.id.as_deref(), 429, c);
    }
    let is_create = action == Action::Create || (action == Action::Index && op.op_type_create);
    if is_ds && !is_create {
        return failure(
            &name,
            op.id.as_deref(),
            400,
            cause(
                "illegal_argument_exception",
                "only write ops with an op_type of create are allowed in data streams",
            ),
        );
    }
    let uuid = cluster.indices[&index].uuid.clone();
    match action {
        Action::Index | Action::Create => {
            let id = op.id.clone().unwrap_or_else(|| cluster.new_doc_id());
            let (doc, mapping) =
                match prepare_doc(cluster, &index, &id, &op.source, None, is_ds, faults) {
                    Ok(x) => x,
                    Err((s, c)) => return failure(&index, Some(&id), s, c),
                };
            let idx = cluster.indices.get_mut(&index).expect("index exists");
            let existing = idx.get(&id).cloned();
            if is_create {
                if let Some(d) = &existing {
                    let c = cause(
                        "version_conflict_engine_exception",
                        format!("[{id}]: version conflict, document already exists (current version [{}])", d.version),
                    );
                    return failure(&index, Some(&id), 409, shard_error(c, &index, &uuid));
                }
            }
            if op.if_seq_no.is_some() || op.if_primary_term.is_some() {
                let (rs, rt) = (op.if_seq_no.unwrap_or(-2), op.if_primary_term.unwrap_or(0));
                let reason = match &existing {
                    Some(d) if d.seq_no as i64 == rs && rt == 1 => None,
                    Some(d) => Some(format!(
                        "[{id}]: version conflict, required seqNo [{rs}], primary term [{rt}]. current document has seqNo [{}] and primary term [1]",
                        d.seq_no
                    )),
                    None => Some(format!(
                        "[{id}]: version conflict, required seqNo [{rs}], primary term [{rt}]. but no document was found"
                    )),
                };
                if let Some(r) = reason {
                    let c = cause("version_conflict_engine_exception", r);
                    return failure(&index, Some(&id), 409, shard_error(c, &index, &uuid));
                }
            }
            let seq_no = idx.take_seq_no();
            let (version, result, status) = match &existing {
                Some(d) => (d.version + 1, "updated", 200),
                None => (1, "created", 201),
            };
            idx.mapping = mapping;
            idx.put(
                &id,
                Doc {
                    source: Value::Object(doc),
                    version,
                    seq_no,
                },
            );
            success(&index, &id, version, result, seq_no, status)
        }
        Action::Delete => {
            let id = op.id.clone().unwrap_or_default();
            let idx = cluster.indices.get_mut(&index).expect("index exists");
            let seq_no = idx.take_seq_no();
            match idx.remove(&id) {
                Some(d) => success(&index, &id, d.version + 1, "deleted", seq_no, 200),
                None => success(&index, &id, 1, "not_found", seq_no, 404),
            }
        }
        Action::Update => {
            let id = op.id.clone().unwrap_or_default();
            let Some(u) = &op.update else {
                return failure(
                    &index,
                    Some(&id),
                    400,
                    cause("illegal_argument_exception", "missing update body"),
                );
            };
            if u.script {
                return failure(
                    &index,
                    Some(&id),
                    400,
                    cause(
                        "illegal_argument_exception",
                        "scripted updates are not supported by EsTestServer",
                    ),
                );
            }
            let existing = cluster.indices[&index].get(&id).cloned();
            let (new_doc, noop) = match (&existing, &u.doc, &u.upsert) {
                (Some(d), Some(patch), _) => {
                    let mut merged = d.source.as_object().cloned().unwrap_or_default();
                    deep_merge(&mut merged, patch);
                    let same = Value::Object(merged.clone()) == d.source;
                    (merged, same && u.detect_noop)
                }
                (Some(d), None, _) => (d.source.as_object().cloned().unwrap_or_default(), true),
                (None, _, Some(up)) => (up.clone(), false),
                (None, Some(doc), None) if u.doc_as_upsert => (doc.clone(), false),
                (None, _, None) => {
                    let c = cause(
                        "document_missing_exception",
                        format!("[{id}]: document missing"),
                    );
                    return failure(&index, Some(&id), 404, shard_error(c, &index, &uuid));
                }
            };
            if noop {
                let d = existing.expect("noop implies existing");
                return success(&index, &id, d.version, "noop", d.seq_no, 200);
            }
            let raw = serde_json::to_vec(&new_doc).unwrap_or_default();
            let (doc, mapping) =
                match prepare_doc(cluster, &index, &id, &raw, Some(new_doc), false, faults) {
                    Ok(x) => x,
                    Err((s, c)) => return failure(&index, Some(&id), s, c),
                };
            let idx = cluster.indices.get_mut(&index).expect("index exists");
            let seq_no = idx.take_seq_no();
            let (version, result, status) = match &existing {
                Some(d) => (d.version + 1, "updated", 200),
                None => (1, "created", 201),
            };
            idx.mapping = mapping;
            idx.put(
                &id,
                Doc {
                    source: Value::Object(doc),
                    version,
                    seq_no,
                },
            );
            success(&index, &id, version, result, seq_no, status)
        }
    }
}
