//! Cluster state: indices, documents, data streams, index/component
//! templates and ILM policies, plus the REST handlers that manage them.

use super::mapping::Mapping;
use super::util::{
    backing_index_date, base64url_encode, cause, error_reply, es_error, glob_match,
    globs_intersect, illegal_argument, index_not_found, iso_millis, mix64, now_millis, parse_error,
    resource_not_found, Reply,
};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone)]
pub(super) struct Doc {
    pub source: Value,
    pub version: u64,
    pub seq_no: u64,
}

#[derive(Debug)]
pub(super) struct Index {
    pub name: String,
    pub uuid: String,
    pub created_millis: u64,
    slots: Vec<Option<(String, Doc)>>,
    ids: HashMap<String, usize>,
    pub next_seq_no: u64,
    pub mapping: Mapping,
    pub settings: Value,
    pub data_stream: Option<String>,
}

impl Index {
    pub fn get(&self, id: &str) -> Option<&Doc> {
        self.ids
            .get(id)
            .and_then(|&i| self.slots[i].as_ref())
            .map(|(_, d)| d)
    }

    pub fn put(&mut self, id: &str, doc: Doc) {
        match self.ids.get(id) {
            Some(&i) => self.slots[i] = Some((id.to_string(), doc)),
            None => {
                self.ids.insert(id.to_string(), self.slots.len());
                self.slots.push(Some((id.to_string(), doc)));
            }
        }
    }

    pub fn remove(&mut self, id: &str) -> Option<Doc> {
        let i = self.ids.remove(id)?;
        self.slots[i].take().map(|(_, d)| d)
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Doc)> {
        self.slots.iter().flatten().map(|(id, d)| (id, d))
    }

    pub fn take_seq_no(&mut self) -> u64 {
        let s = self.next_seq_no;
        self.next_seq_no += 1;
        s
    }
}

#[derive(Debug, Clone)]
pub(super) struct DataStream {
    pub name: String,
    pub template: String,
    pub indices: Vec<String>,
    pub generation: u64,
    pub ilm_policy: Option<String>,
    pub hidden: bool,
}

#[derive(Debug, Clone)]
pub(super) struct IlmPolicy {
    pub body: Value,
    pub version: u64,
    pub modified_millis: u64,
}

#[derive(Debug, Default)]
pub(super) struct Cluster {
    pub indices: BTreeMap<String, Index>,
    pub data_streams: BTreeMap<String, DataStream>,
    pub index_templates: BTreeMap<String, Value>,
    pub component_templates: BTreeMap<String, Value>,
    pub ilm_policies: BTreeMap<String, IlmPolicy>,
    pub seed: u64,
    counter: u64,
}

/// Where a write goes.
pub(super) enum WriteTarget {
    Index(String),
    DataStream { name: String, write_index: String },
}

/// The index name validation rules of `MetadataCreateIndexService`.
pub(super) fn validate_index_name(name: &str) -> Result<(), Map<String, Value>> {
    let invalid = |why: &str| {
        let mut c = cause(
            "invalid_index_name_exception",
            format!("Invalid index name [{name}], {why}"),
        );
        c.insert("index_uuid".into(), json!("_na_"));
        c.insert("index".into(), json!(name));
        c
    };
    if name.is_empty() {
        return Err(invalid("must not be empty"));
    }
    if name.contains('#') {
        return Err(invalid("must not contain '#'"));
    }
    if name.contains(':') {
        return Err(invalid("must not contain ':'"));
    }
    if name.starts_with(['_', '-', '+']) {
        return Err(invalid("must not start with '_', '-', or '+'"));
    }
    if name.chars().any(|c| {
        matches!(
            c,
            '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ' ' | ','
        )
    }) {
        return Err(invalid(
            "must not contain the following characters [' ', '\"', '*', ',', '/', '<', '>', '?', '\\', '|']",
        ));
    }
    if name != name.to_lowercase() {
        return Err(invalid("must be lowercase"));
    }
    if name == "." || name == ".." {
        return Err(invalid("must not be '.' or '..'"));
    }
    if name.len() > 255 {
        return Err(invalid(&format!(
            "index name is too long, ({} > 255)",
            name.len()
        )));
    }
    Ok(())
}

/// `index_patterns` as a list (it may be a string or an array).
fn patterns_of(t: &Value) -> Vec<String> {
    match t.get("index_patterns") {
        Some(Value::String(s)) => s.split(',').map(|s| s.trim().to_string()).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn priority_of(t: &Value) -> i64 {
    t.get("priority").and_then(Value::as_i64).unwrap_or(0)
}

/// Look up a setting given flat (`"index.lifecycle.name"`) or nested form.
pub(super) fn setting<'a>(settings: &'a Value, key: &str) -> Option<&'a Value> {
    let alt = key.strip_prefix("index.").map(str::to_string);
    for k in std::iter::once(key.to_string()).chain(alt) {
        let found = super::util::lookup_path(settings, &k);
        if let Some(v) = found.into_iter().next() {
            return Some(v);
        }
    }
    None
}

fn split_names(expr: &str) -> Vec<&str> {
    expr.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

impl Cluster {
    pub fn new(seed: u64) -> Cluster {
        Cluster {
            seed,
            ..Cluster::default()
        }
    }

    fn next_random(&mut self) -> u64 {
        self.counter += 1;
        mix64(self.seed ^ mix64(self.counter))
    }

    pub fn new_uuid(&mut self) -> String {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_random().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_random().to_le_bytes());
        base64url_encode(&bytes)
    }

    /// A 20 character auto-generated document id, like ES's time-based UUIDs.
    pub fn new_doc_id(&mut self) -> String {
        let mut bytes = [0u8; 15];
        let t = now_millis().to_be_bytes();
        bytes[..6].copy_from_slice(&t[2..8]);
        bytes[6..14].copy_from_slice(&self.next_random().to_le_bytes());
        bytes[14] = (self.counter & 0xff) as u8;
        base64url_encode(&bytes)
    }

    // ------------------------------------------------------------ templates

    /// The highest-priority index template matching `name`.
    pub fn find_template(&self, name: &str) -> Option<(String, Value)> {
        let mut best: Option<(&String, &Value)> = None;
        for (tname, t) in &self.index_templates {
            let hidden_name = name.starts_with('.');
            let matches = patterns_of(t)
                .iter()
                .any(|p| glob_match(p, name) && !(hidden_name && p == "*"));
            if matches && best.is_none_or(|(_, b)| priority_of(t) > priority_of(b)) {
                best = Some((tname, t));
            }
        }
        best.map(|(n, t)| (n.clone(), t.clone()))
    }

    /// Mappings and settings resolved from a template and its component templates.
    fn resolve_template(&self, t: &Value) -> (Mapping, Value) {
        let mut mapping = Mapping::default();
        let mut settings = Map::new();
        let mut apply = |inner: Option<&Value>| {
            if let Some(inner) = inner {
                if let Some(m) = inner.get("mappings") {
                    mapping.merge_json(m);
                }
                if let Some(Value::Object(s)) = inner.get("settings") {
                    for (k, v) in s {
                        settings.insert(k.clone(), v.clone());
                    }
                }
            }
        };
        if let Some(Value::Array(names)) = t.get("composed_of") {
            for n in names.iter().filter_map(Value::as_str) {
                apply(
                    self.component_templates
                        .get(n)
                        .and_then(|c| c.get("template")),
                );
            }
        }
        apply(t.get("template"));
        (mapping, Value::Object(settings))
    }

    fn make_index(
        &mut self,
        name: &str,
        template: Option<&Value>,
        data_stream: Option<&str>,
    ) -> Index {
        let (mapping, settings) = match template {
            Some(t) => self.resolve_template(t),
            None => (Mapping::default(), json!({})),
        };
        Index {
            name: name.to_string(),
            uuid: self.new_uuid(),
            created_millis: now_millis(),
            slots: Vec::new(),
            ids: HashMap::new(),
            next_seq_no: 0,
            mapping,
            settings,
            data_stream: data_stream.map(str::to_string),
        }
    }

    pub fn create_data_stream(
        &mut self,
        name: &str,
        template_name: &str,
        template: &Value,
    ) -> String {
        let backing = format!(".ds-{name}-{}-{:06}", backing_index_date(now_millis()), 1);
        let mut idx = self.make_index(&backing, Some(template), Some(name));
        // Data streams always map `@timestamp` as a date.
        idx.mapping
            .root
            .entry("@timestamp".to_string())
            .or_insert_with(|| super::mapping::FieldType::Leaf("date".into()));
        let ilm_policy = setting(&idx.settings, "index.lifecycle.name")
            .and_then(Value::as_str)
            .map(str::to_string);
        self.indices.insert(backing.clone(), idx);
        let hidden = template
            .get("data_stream")
            .and_then(|d| d.get("hidden"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        self.data_streams.insert(
            name.to_string(),
            DataStream {
                name: name.to_string(),
                template: template_name.to_string(),
                indices: vec![backing.clone()],
                generation: 1,
                ilm_policy,
                hidden,
            },
        );
        backing
    }

    /// Resolve (auto-creating if needed) the write target for a document op.
    /// `auto_create` is false for deletes, which never create indices.
    pub fn write_target(
        &mut self,
        name: &str,
        auto_create: bool,
    ) -> Result<WriteTarget, (u16, Map<String, Value>)> {
        if let Some(ds) = self.data_streams.get(name) {
            return Ok(WriteTarget::DataStream {
                name: name.to_string(),
                write_index: ds.indices.last().cloned().unwrap_or_default(),
            });
        }
        if self.indices.contains_key(name) {
            return Ok(WriteTarget::Index(name.to_string()));
        }
        validate_index_name(name).map_err(|c| (400, c))?;
        if !auto_create {
            let mut c = cause(
                "index_not_found_exception",
                format!("no such index [{name}]"),
            );
            c.insert("resource.type".into(), json!("index_expression"));
            c.insert("resource.id".into(), json!(name));
            c.insert("index_uuid".into(), json!("_na_"));
            c.insert("index".into(), json!(name));
            return Err((404, c));
        }
        let template = self.find_template(name);
        if let Some((tname, t)) = &template {
            if t.get("data_stream").is_some_and(Value::is_object) {
                let write_index = self.create_data_stream(name, tname, t);
                return Ok(WriteTarget::DataStream {
                    name: name.to_string(),
                    write_index,
                });
            }
        }
        let idx = self.make_index(name, template.as_ref().map(|(_, t)| t), None);
        self.indices.insert(name.to_string(), idx);
        Ok(WriteTarget::Index(name.to_string()))
    }

    /// Concrete indices for a read expression (`a,b`, `logs-*`, `_all`).
    pub fn resolve_read(&self, expr: &str) -> Result<Vec<String>, Reply> {
        let mut out: Vec<String> = Vec::new();
        let push = |n: &String, out: &mut Vec<String>| {
            if !out.contains(n) {
                out.push(n.clone());
            }
        };
        for part in split_names(expr) {
            if part == "_all" || part == "*" || part.contains('*') {
                let pat = if part == "_all" { "*" } else { part };
                let hidden_ok = pat.starts_with('.');
                for ds in self.data_streams.values() {
                    if glob_match(pat, &ds.name) && (!ds.hidden || hidden_ok) {
                        for i in &ds.indices {
                            push(i, &mut out);
                        }
                    }
                }
                for name in self.indices.keys() {
                    if glob_match(pat, name) && (hidden_ok || !name.starts_with('.')) {
                        push(name, &mut out);
                    }
                }
            } else if let Some(ds) = self.data_streams.get(part) {
                for i in &ds.indices {
                    push(i, &mut out);
                }
            } else if self.indices.contains_key(part) {
                push(&part.to_string(), &mut out);
            } else {
                return Err(index_not_found(part));
            }
        }
        Ok(out)
    }

    /// Like [`resolve_read`] but lenient: unknown names contribute nothing.
    pub fn resolve_lenient(&self, expr: &str) -> Vec<String> {
        let mut out = Vec::new();
        for part in split_names(expr) {
            if let Ok(v) = self.resolve_read(part) {
                for n in v {
                    if !out.contains(&n) {
                        out.push(n);
                    }
                }
            }
        }
        out
    }

    // ------------------------------------------------------------ REST: index templates

    pub fn put_index_template(&mut self, name: &str, body: &Value, create_only: bool) -> Reply {
        let Some(obj) = body.as_object() else {
            return parse_error("[1:1] [index_template] failed to parse, expected START_OBJECT");
        };
        const KNOWN: &[&str] = &[
            "index_patterns",
            "template",
            "composed_of",
            "priority",
            "version",
            "_meta",
            "data_stream",
            "allow_auto_create",
            "ignore_missing_component_templates",
            "deprecated",
        ];
        if let Some(k) = obj.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return parse_error(format!("[1:2] [index_template] unknown field [{k}]"));
        }
        match obj.get("index_patterns") {
            None => return parse_error("Required [index_patterns]"),
            Some(Value::String(_)) => {}
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => {}
            Some(_) => {
                return parse_error(
                    "[1:20] [index_template] failed to parse field [index_patterns]",
                )
            }
        }
        if let Some(t) = obj.get("template") {
            let Some(t) = t.as_object() else {
                return parse_error("[1:2] [index_template] failed to parse field [template]");
            };
            if let Some(k) = t.keys().find(|k| {
                ![
                    "settings",
                    "mappings",
                    "aliases",
                    "lifecycle",
                    "data_stream_options",
                ]
                .contains(&k.as_str())
            }) {
                return parse_error(format!("[1:2] [template] unknown field [{k}]"));
            }
        }
        if obj.get("data_stream").is_some_and(|d| !d.is_object()) {
            return parse_error("[1:2] [index_template] failed to parse field [data_stream]");
        }
        if let Some(p) = obj.get("priority") {
            if p.as_i64().is_none_or(|p| p < 0) {
                return es_error(
                    400,
                    "action_request_validation_exception",
                    "Validation Failed: 1: index template priority must be >= 0;",
                );
            }
        }
        if create_only && self.index_templates.contains_key(name) {
            return illegal_argument(format!("index template [{name}] already exists"));
        }
        if let Some(Value::Array(comps)) = obj.get("composed_of") {
            let ignore: Vec<&str> = obj
                .get("ignore_missing_component_templates")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let missing: Vec<&str> = comps
                .iter()
                .filter_map(Value::as_str)
                .filter(|c| !self.component_templates.contains_key(*c) && !ignore.contains(c))
                .collect();
            if !missing.is_empty() {
                let mut c = cause(
                    "invalid_index_template_exception",
                    format!(
                        "index_template [{name}] invalid, cause [index template [{name}] specifies component templates {} that do not exist]",
                        format_list(&missing)
                    ),
                );
                c.insert("name".into(), json!(name));
                return error_reply(400, c);
            }
        }
        let patterns = patterns_of(body);
        let prio = priority_of(body);
        let mut overlapping: Vec<(String, Vec<String>)> = Vec::new();
        for (other, t) in &self.index_templates {
            if other == name || priority_of(t) != prio {
                continue;
            }
            let op = patterns_of(t);
            if patterns
                .iter()
                .any(|a| op.iter().any(|b| globs_intersect(a, b)))
            {
                overlapping.push((other.clone(), op));
            }
        }
        if !overlapping.is_empty() {
            let names: Vec<&str> = overlapping.iter().map(|(n, _)| n.as_str()).collect();
            let details: Vec<String> = overlapping
                .iter()
                .map(|(n, p)| {
                    format!(
                        "{n} => {}",
                        format_list(&p.iter().map(String::as_str).collect::<Vec<_>>())
                    )
                })
                .collect();
            return illegal_argument(format!(
                "index template [{name}] has index patterns {} matching patterns from existing templates {} with patterns ({}) that have the same priority [{prio}], multiple index templates may not match during index creation, please use a different priority",
                format_list(&patterns.iter().map(String::as_str).collect::<Vec<_>>()),
                format_list(&names),
                details.join(",")
            ));
        }
        self.index_templates.insert(name.to_string(), body.clone());
        Reply::acknowledged()
    }

    pub fn get_index_templates(&self, name: Option<&str>) -> Reply {
        let mut list = Vec::new();
        match name {
            None => {
                for (n, t) in &self.index_templates {
                    list.push(json!({"name": n, "index_template": render_template(t)}));
                }
            }
            Some(expr) => {
                for part in split_names(expr) {
                    if part.contains('*') {
                        for (n, t) in &self.index_templates {
                            if glob_match(part, n) {
                                list.push(json!({"name": n, "index_template": render_template(t)}));
                            }
                        }
                    } else if let Some(t) = self.index_templates.get(part) {
                        list.push(json!({"name": part, "index_template": render_template(t)}));
                    } else {
                        return resource_not_found(format!(
                            "index template matching [{part}] not found"
                        ));
                    }
                }
            }
        }
        Reply::ok(json!({"index_templates": list}))
    }

    pub fn delete_index_template(&mut self, expr: &str) -> Reply {
        let mut names = Vec::new();
        for part in split_names(expr) {
            if part.contains('*') {
                names.extend(
                    self.index_templates
                        .keys()
                        .filter(|n| glob_match(part, n))
                        .cloned(),
                );
            } else if self.index_templates.contains_key(part) {
                names.push(part.to_string());
            } else {
                return es_error(
                    404,
                    "index_template_missing_exception",
                    format!("index_template [{part}] missing"),
                );
            }
        }
        let in_use: Vec<&DataStream> = self
            .data_streams
            .values()
            .filter(|ds| names.contains(&ds.template))
            .collect();
        if !in_use.is_empty() {
            let t: Vec<&str> = in_use.iter().map(|d| d.template.as_str()).collect();
            let d: Vec<&str> = in_use.iter().map(|d| d.name.as_str()).collect();
            return illegal_argument(format!(
                "unable to remove composable templates {} as they are in use by a data streams {}",
                format_list(&t),
                format_list(&d)
            ));
        }
        for n in names {
            self.index_templates.remove(&n);
        }
        Reply::acknowledged()
    }

    // ------------------------------------------------------------ REST: component templates

    pub fn put_component_template(&mut self, name: &str, body: &Value, create_only: bool) -> Reply {
        let Some(obj) = body.as_object() else {
            return parse_error(
                "[1:1] [component_template] failed to parse, expected START_OBJECT",
            );
        };
        if let Some(k) = obj
            .keys()
            .find(|k| !["template", "version", "_meta", "deprecated"].contains(&k.as_str()))
        {
            return parse_error(format!("[1:2] [component_template] unknown field [{k}]"));
        }
        match obj.get("template") {
            None => return parse_error("Required [template]"),
            Some(Value::Object(_)) => {}
            Some(_) => {
                return parse_error("[1:2] [component_template] failed to parse field [template]")
            }
        }
        if create_only && self.component_templates.contains_key(name) {
            return illegal_argument(format!("component template [{name}] already exists"));
        }
        self.component_templates
            .insert(name.to_string(), body.clone());
        Reply::acknowledged()
    }

    pub fn get_component_templates(&self, name: Option<&str>) -> Reply {
        let mut list = Vec::new();
        let pat = name.unwrap_or("*");
        for part in split_names(pat) {
            if part.contains('*') {
                for (n, t) in &self.component_templates {
                    if glob_match(part, n) {
                        list.push(json!({"name": n, "component_template": t}));
                    }
                }
            } else if let Some(t) = self.component_templates.get(part) {
                list.push(json!({"name": part, "component_template": t}));
            } else {
                return resource_not_found(format!(
                    "component template matching [{part}] not found"
                ));
            }
        }
        Reply::ok(json!({"component_templates": list}))
    }

    pub fn delete_component_template(&mut self, name: &str) -> Reply {
        if !self.component_templates.contains_key(name) {
            return resource_not_found(name.to_string());
        }
        let users: Vec<&str> = self
            .index_templates
            .iter()
            .filter(|(_, t)| {
                t.get("composed_of")
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.iter().any(|c| c.as_str() == Some(name)))
            })
            .map(|(n, _)| n.as_str())
            .collect();
        if !users.is_empty() {
            return illegal_argument(format!(
                "component templates [{name}] cannot be removed as they are still in use by index templates {}",
                format_list(&users)
            ));
        }
        self.component_templates.remove(name);
        Reply::acknowledged()
    }

    // ------------------------------------------------------------ REST: ILM

    pub fn put_ilm_policy(&mut self, name: &str, body: &Value) -> Reply {
        let Some(obj) = body.as_object() else {
            return parse_error(
                "[1:1] [put_lifecycle_request] failed to parse, expected START_OBJECT",
            );
        };
        if let Some(k) = obj.keys().find(|k| k.as_str() != "policy") {
            return parse_error(format!("[1:2] [put_lifecycle_request] unknown field [{k}]"));
        }
        let Some(policy) = obj.get("policy") else {
            return parse_error("Required [policy]");
        };
        let Some(policy) = policy.as_object() else {
            return parse_error("[1:11] [put_lifecycle_request] failed to parse field [policy]");
        };
        if let Some(k) = policy
            .keys()
            .find(|k| !["phases", "_meta", "deprecated"].contains(&k.as_str()))
        {
            return parse_error(format!("[1:12] [lifecycle_policy] unknown field [{k}]"));
        }
        let Some(phases) = policy.get("phases") else {
            return parse_error(
                "[1:11] [put_lifecycle_request] failed to parse field [policy]: Required [phases]",
            );
        };
        let Some(phases) = phases.as_object() else {
            return parse_error("[1:22] [lifecycle_policy] failed to parse field [phases]");
        };
        const PHASES: &[&str] = &["hot", "warm", "cold", "frozen", "delete"];
        const ACTIONS: &[&str] = &[
            "rollover",
            "set_priority",
            "unfollow",
            "readonly",
            "shrink",
            "forcemerge",
            "allocate",
            "migrate",
            "searchable_snapshot",
            "freeze",
            "delete",
            "wait_for_snapshot",
            "downsample",
        ];
        for (phase, def) in phases {
            if !PHASES.contains(&phase.as_str()) {
                return illegal_argument(format!(
                    "Timeseries lifecycle does not support phase [{phase}]"
                ));
            }
            let Some(def) = def.as_object() else {
                return parse_error(format!("[1:30] [phases] failed to parse field [{phase}]"));
            };
            if let Some(k) = def
                .keys()
                .find(|k| !["min_age", "actions"].contains(&k.as_str()))
            {
                return parse_error(format!("[1:30] [phase] unknown field [{k}]"));
            }
            if let Some(actions) = def.get("actions") {
                let Some(actions) = actions.as_object() else {
                    return parse_error("[1:40] [phase] failed to parse field [actions]");
                };
                for a in actions.keys() {
                    if !ACTIONS.contains(&a.as_str()) {
                        return parse_error(format!(
                            "[1:40] [phase] failed to parse field [actions]: unknown field [{a}]"
                        ));
                    }
                    let allowed = match a.as_str() {
                        "rollover" => phase == "hot",
                        "delete" => {
                            phase == "delete"
                                || phase == "hot"
                                || phase == "warm"
                                || phase == "cold"
                        }
                        "wait_for_snapshot" => phase == "delete",
                        _ => phase != "delete",
                    };
                    if !allowed {
                        return illegal_argument(format!(
                            "invalid action [{a}] defined in phase [{phase}]"
                        ));
                    }
                }
            }
        }
        let version = self
            .ilm_policies
            .get(name)
            .map(|p| p.version + 1)
            .unwrap_or(1);
        self.ilm_policies.insert(
            name.to_string(),
            IlmPolicy {
                body: body.clone(),
                version,
                modified_millis: now_millis(),
            },
        );
        Reply::acknowledged()
    }

    pub fn get_ilm_policies(&self, name: Option<&str>) -> Reply {
        let mut out = Map::new();
        let names: Vec<String> = match name {
            None => self.ilm_policies.keys().cloned().collect(),
            Some(expr) => {
                let mut v = Vec::new();
                for part in split_names(expr) {
                    if part.contains('*') {
                        v.extend(
                            self.ilm_policies
                                .keys()
                                .filter(|n| glob_match(part, n))
                                .cloned(),
                        );
                    } else if self.ilm_policies.contains_key(part) {
                        v.push(part.to_string());
                    } else {
                        return resource_not_found(format!("Lifecycle policy not found: [{part}]"));
                    }
                }
                v
            }
        };
        for n in names {
            let p = &self.ilm_policies[&n];
            let templates: Vec<&String> = self
                .index_templates
                .iter()
                .filter(|(_, t)| {
                    let (_, settings) = self.resolve_template(t);
                    setting(&settings, "index.lifecycle.name").and_then(Value::as_str)
                        == Some(n.as_str())
                })
                .map(|(tn, _)| tn)
                .collect();
            let dss: Vec<&String> = self
                .data_streams
                .values()
                .filter(|d| d.ilm_policy.as_deref() == Some(n.as_str()))
                .map(|d| &d.name)
                .collect();
            let idx: Vec<&String> = self
                .indices
                .values()
                .filter(|i| {
                    setting(&i.settings, "index.lifecycle.name").and_then(Value::as_str)
                        == Some(n.as_str())
                })
                .map(|i| &i.name)
                .collect();
            out.insert(
                n.clone(),
                json!({
                    "version": p.version,
                    "modified_date": iso_millis(p.modified_millis),
                    "policy": p.body.get("policy").cloned().unwrap_or(Value::Null),
                    "in_use_by": {"indices": idx, "data_streams": dss, "composable_templates": templates},
                }),
            );
        }
        Reply::ok(Value::Object(out))
    }

    pub fn delete_ilm_policy(&mut self, name: &str) -> Reply {
        if self.ilm_policies.remove(name).is_none() {
            return resource_not_found(format!("Lifecycle policy not found: {name}"));
        }
        Reply::acknowledged()
    }

    // ------------------------------------------------------------ REST: data streams

    fn render_data_stream(&self, ds: &DataStream) -> Value {
        let indices: Vec<Value> = ds
            .indices
            .iter()
            .map(|i| {
                json!({
                    "index_name": i,
                    "index_uuid": self.indices.get(i).map(|x| x.uuid.clone()).unwrap_or_default(),
                    "prefer_ilm": true,
                    "ilm_policy": ds.ilm_policy,
                    "managed_by": if ds.ilm_policy.is_some() { "Index Lifecycle Management" } else { "Unmanaged" },
                })
            })
            .collect();
        let mut v = json!({
            "name": ds.name,
            "timestamp_field": {"name": "@timestamp"},
            "indices": indices,
            "generation": ds.generation,
            "status": "GREEN",
            "template": ds.template,
            "next_generation_managed_by": if ds.ilm_policy.is_some() { "Index Lifecycle Management" } else { "Unmanaged" },
            "prefer_ilm": true,
            "hidden": ds.hidden,
            "system": false,
            "allow_custom_routing": false,
            "replicated": false,
            "rollover_on_write": false,
        });
        if let Some(p) = &ds.ilm_policy {
            v["ilm_policy"] = json!(p);
        }
        v
    }

    pub fn get_data_streams(&self, name: Option<&str>) -> Reply {
        let mut list = Vec::new();
        for part in split_names(name.unwrap_or("*")) {
            if part.contains('*') {
                for ds in self.data_streams.values() {
                    if glob_match(part, &ds.name) && !ds.hidden {
                        list.push(self.render_data_stream(ds));
                    }
                }
            } else if let Some(ds) = self.data_streams.get(part) {
                list.push(self.render_data_stream(ds));
            } else {
                return index_not_found(part);
            }
        }
        Reply::ok(json!({"data_streams": list}))
    }

    pub fn put_data_stream(&mut self, name: &str) -> Reply {
        if let Err(c) = validate_index_name(name) {
            return error_reply(400, c);
        }
        if self.data_streams.contains_key(name) {
            return es_error(
                400,
                "resource_already_exists_exception",
                format!("data_stream [{name}] already exists"),
            );
        }
        match self.find_template(name) {
            Some((tname, t)) if t.get("data_stream").is_some_and(Value::is_object) => {
                self.create_data_stream(name, &tname, &t);
                Reply::acknowledged()
            }
            _ => illegal_argument(format!(
                "no matching index template found for data stream [{name}]"
            )),
        }
    }

    pub fn delete_data_stream(&mut self, expr: &str) -> Reply {
        let mut names = Vec::new();
        for part in split_names(expr) {
            if part.contains('*') {
                names.extend(
                    self.data_streams
                        .keys()
                        .filter(|n| glob_match(part, n))
                        .cloned(),
                );
            } else if self.data_streams.contains_key(part) {
                names.push(part.to_string());
            } else {
                return index_not_found(part);
            }
        }
        for n in names {
            if let Some(ds) = self.data_streams.remove(&n) {
                for i in ds.indices {
                    self.indices.remove(&i);
                }
            }
        }
        Reply::acknowledged()
    }

    // ------------------------------------------------------------ REST: indices

    pub fn create_index(&mut self, name: &str, body: &Value) -> Reply {
        if let Err(c) = validate_index_name(name) {
            return error_reply(400, c);
        }
        if let Some(i) = self.indices.get(name) {
            let mut c = cause(
                "resource_already_exists_exception",
                format!("index [{name}/{}] already exists", i.uuid),
            );
            c.insert("index_uuid".into(), json!(i.uuid));
            c.insert("index".into(), json!(name));
            return error_reply(400, c);
        }
        if self.data_streams.contains_key(name) {
            return es_error(
                400,
                "resource_already_exists_exception",
                format!("data stream [{name}] conflicts with index"),
            );
        }
        if let Some(obj) = body.as_object() {
            if let Some(k) = obj
                .keys()
                .find(|k| !["settings", "mappings", "aliases"].contains(&k.as_str()))
            {
                return parse_error(format!("unknown key [{k}] for create index"));
            }
        }
        let template = self.find_template(name);
        if let Some((tname, t)) = &template {
            if t.get("data_stream").is_some_and(Value::is_object) {
                return illegal_argument(format!(
                    "cannot create index with name [{name}], because it matches with template [{tname}] that creates data streams only, use create data stream api instead"
                ));
            }
        }
        let mut idx = self.make_index(name, template.as_ref().map(|(_, t)| t), None);
        if let Some(m) = body.get("mappings") {
            idx.mapping.merge_json(m);
        }
        if let (Some(Value::Object(s)), Value::Object(dst)) =
            (body.get("settings"), &mut idx.settings)
        {
            for (k, v) in s {
                dst.insert(k.clone(), v.clone());
            }
        }
        self.indices.insert(name.to_string(), idx);
        Reply::ok(json!({"acknowledged": true, "shards_acknowledged": true, "index": name}))
    }

    pub fn delete_index(&mut self, expr: &str) -> Reply {
        let mut names = Vec::new();
        for part in split_names(expr) {
            if part.contains('*') {
                names.extend(
                    self.indices
                        .values()
                        .filter(|i| glob_match(part, &i.name) && i.data_stream.is_none())
                        .map(|i| i.name.clone()),
                );
            } else if self.data_streams.contains_key(part) {
                return illegal_argument(format!(
                    "index [{part}] is a data stream; use the delete data stream API instead"
                ));
            } else if let Some(i) = self.indices.get(part) {
                if let Some(ds) = &i.data_stream {
                    if self.data_streams[ds].indices.last().map(String::as_str) == Some(part) {
                        return illegal_argument(format!(
                            "index [{part}] is the write index for data stream [{ds}] and cannot be deleted"
                        ));
                    }
                }
                names.push(part.to_string());
            } else {
                return index_not_found(part);
            }
        }
        for n in names {
            self.indices.remove(&n);
        }
        Reply::acknowledged()
    }

    pub fn get_index(&self, expr: &str) -> Reply {
        let names = match self.resolve_read(expr) {
            Ok(n) => n,
            Err(r) => return r,
        };
        let mut out = Map::new();
        for n in names {
            let i = &self.indices[&n];
            let mut settings = json!({"index": {
                "creation_date": i.created_millis.to_string(),
                "number_of_shards": "1",
                "number_of_replicas": "1",
                "uuid": i.uuid,
                "provided_name": i.name,
            }});
            if let Value::Object(extra) = &i.settings {
                for (k, v) in extra {
                    settings["index"][k.strip_prefix("index.").unwrap_or(k)] = v.clone();
                }
            }
            let mut v =
                json!({"aliases": {}, "mappings": i.mapping.to_json(), "settings": settings});
            if let Some(ds) = &i.data_stream {
                v["data_stream"] = json!(ds);
            }
            out.insert(n.clone(), v);
        }
        Reply::ok(Value::Object(out))
    }

    pub fn get_mapping(&self, expr: &str) -> Reply {
        let names = match self.resolve_read(expr) {
            Ok(n) => n,
            Err(r) => return r,
        };
        let mut out = Map::new();
        for n in names {
            out.insert(
                n.clone(),
                json!({"mappings": self.indices[&n].mapping.to_json()}),
            );
        }
        Reply::ok(Value::Object(out))
    }

    pub fn exists(&self, expr: &str) -> bool {
        self.resolve_read(expr).is_ok()
    }

    pub fn get_doc(&self, index: &str, id: &str) -> Reply {
        let Some(i) = self.indices.get(index).or_else(|| {
            self.data_streams
                .get(index)
                .and_then(|d| d.indices.last())
                .and_then(|w| self.indices.get(w))
        }) else {
            return index_not_found(index);
        };
        match i.get(id) {
            Some(d) => Reply::ok(json!({
                "_index": i.name, "_id": id, "_version": d.version, "_seq_no": d.seq_no,
                "_primary_term": 1, "found": true, "_source": d.source,
            })),
            None => Reply::json(404, json!({"_index": i.name, "_id": id, "found": false})),
        }
    }
}

/// ES renders Java lists as `[a, b]`.
pub(super) fn format_list(items: &[&str]) -> String {
    format!("[{}]", items.join(", "))
}

/// GET rendering of a stored template: `index_patterns` always an array.
fn render_template(t: &Value) -> Value {
    let mut t = t.clone();
    if let Some(Value::String(s)) = t.get("index_patterns") {
        let v: Vec<String> = s.split(',').map(|x| x.trim().to_string()).collect();
        t["index_patterns"] = json!(v);
    }
    if let Some(Value::Object(m)) = t.get_mut("data_stream") {
        m.entry("hidden").or_insert(json!(false));
        m.entry("allow_custom_routing").or_insert(json!(false));
    }
    t
}
