//! An in-process, protocol-faithful Elasticsearch 8.x test server.
//!
//! [`EsTestServer`] binds `127.0.0.1:0` and speaks the subset of the
//! Elasticsearch REST API that logweir's Elasticsearch sink uses, validating
//! every request like a real cluster and answering with real response and
//! error shapes:
//!
//! * `GET /` cluster info, `GET /_cluster/health`
//! * `POST|PUT /_bulk`, `POST|PUT /{target}/_bulk` (NDJSON, gzip/deflate
//!   bodies, data-stream semantics, dynamic/explicit mapping checks)
//! * `/_index_template/{name}`, `/_component_template/{name}`,
//!   `/_ilm/policy/{name}`, `/_data_stream/{name}`
//! * `/{target}/_search`, `/{target}/_count`, `/{target}/_refresh`,
//!   `/{target}/_mapping`, `/{index}/_doc/{id}`, `PUT|GET|HEAD|DELETE /{index}`
//! * `filter_path` and `pretty` on every response; gzip responses when the
//!   client sends `Accept-Encoding: gzip`.
//!
//! Faults are injected at runtime through [`FaultControl`] (see
//! [`EsTestServer::faults`]): per-item 429 rejections, whole-request failures
//! every n-th bulk request, cluster outages (503, closed or refused
//! connections), mapping conflicts and added latency.
//!
//! Documents are visible to `_search`/`_count` immediately (no refresh
//! interval). Only user-installed index templates exist (no built-in
//! `logs-*-*` templates), so install a template with `data_stream: {}` to get
//! data streams.

#![allow(dead_code)]

mod bulk;
mod cluster;
mod mapping;
mod query;
mod util;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use cluster::Cluster;
use util::{base64_decode, base64_encode, cause, error_reply, es_error, Reply, ReplyBody};

/// Largest accepted request body (`http.max_content_length`, 100mb).
const MAX_CONTENT_LENGTH: usize = 100 * 1024 * 1024;

/// Credentials the server requires on every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EsAuth {
    /// `Authorization: Basic base64(user:password)`.
    Basic { user: String, password: String },
    /// `Authorization: ApiKey <value>`; the value is the encoded API key
    /// (base64 of `id:api_key`), compared verbatim.
    ApiKey(String),
}

/// Server configuration.
#[derive(Debug, Clone)]
pub struct EsServerOptions {
    /// Required credentials; `None` disables security.
    pub auth: Option<EsAuth>,
    /// Reported `version.number`, default `"8.15.0"`.
    pub version: String,
    /// Reported `cluster_name`, default `"es-test-cluster"`.
    pub cluster_name: String,
}

impl Default for EsServerOptions {
    fn default() -> Self {
        EsServerOptions {
            auth: None,
            version: "8.15.0".to_string(),
            cluster_name: "es-test-cluster".to_string(),
        }
    }
}

/// One HTTP request as received by the server.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Raw query string (without `?`), empty if none.
    pub query: String,
    /// Header names lowercased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// Status returned; `0` when the connection was closed without a response.
    pub status: u16,
    /// Body size on the wire (compressed size for gzip bodies).
    pub body_size: usize,
    /// Body size after `Content-Encoding` decoding.
    pub decoded_body_size: usize,
}

impl RecordedRequest {
    /// First value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether this was a `_bulk` request.
    pub fn is_bulk(&self) -> bool {
        self.path == "/_bulk" || self.path.ends_with("/_bulk")
    }
}

/// How an outage manifests (see [`FaultControl::set_outage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutageMode {
    /// Every request gets `503` with a `cluster_block_exception` body.
    #[default]
    ServiceUnavailable,
    /// Connections are accepted but closed without any response.
    CloseConnections,
    /// The listening socket is closed (connection refused); open
    /// connections are dropped. The same port is re-bound when the outage ends.
    RefuseConnections,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct OutageState {
    active: bool,
    mode: OutageMode,
}

#[derive(Debug, Clone, Default)]
struct FaultState {
    ratio_429: f64,
    seed: u64,
    fail_every_nth: Option<(u64, u16)>,
    mapping_conflicts: Vec<(String, String)>,
    latency: Duration,
}

/// Runtime fault injection; all setters take `&self`.
pub struct FaultControl {
    state: Mutex<FaultState>,
    outage: watch::Sender<OutageState>,
    nth_counter: AtomicU64,
}

impl FaultControl {
    fn new() -> FaultControl {
        FaultControl {
            state: Mutex::new(FaultState::default()),
            outage: watch::Sender::new(OutageState::default()),
            nth_counter: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, FaultState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fraction (0.0..=1.0) of bulk items rejected with item status 429
    /// `es_rejected_execution_exception`. The choice is a deterministic
    /// hash of (seed, bulk request number, item position).
    pub fn set_item_429_ratio(&self, ratio: f64) {
        self.lock().ratio_429 = ratio.clamp(0.0, 1.0);
    }

    /// Seed for the pseudo-random item selection (default 0).
    pub fn set_seed(&self, seed: u64) {
        self.lock().seed = seed;
    }

    /// Every `n`-th `_bulk` request (counted from this call) is answered
    /// with `status` and a real error body, processing nothing. `n == 0`
    /// disables the fault.
    pub fn set_fail_every_nth_request(&self, n: u64, status: u16) {
        self.lock().fail_every_nth = (n > 0).then_some((n, status));
        self.nth_counter.store(0, Ordering::SeqCst);
    }

    /// Start (`true`) or end (`false`) a cluster outage; see [`OutageMode`].
    pub fn set_outage(&self, active: bool) {
        self.outage.send_modify(|s| s.active = active);
    }

    /// How outages manifest (default [`OutageMode::ServiceUnavailable`]).
    pub fn set_outage_mode(&self, mode: OutageMode) {
        self.outage.send_modify(|s| s.mode = mode);
    }

    /// Bulk items whose document has `field` (dotted path) with a JSON type
    /// other than `expected_type` (`"long"`, `"double"`, `"keyword"`,
    /// `"text"`, `"boolean"`, `"date"`, `"object"`, …) fail with 400
    /// `document_parsing_exception` naming the field.
    pub fn set_mapping_conflict(&self, field: &str, expected_type: &str) {
        let mut s = self.lock();
        s.mapping_conflicts.retain(|(f, _)| f != field);
        s.mapping_conflicts
            .push((field.to_string(), expected_type.to_string()));
    }

    /// Remove all mapping-conflict faults.
    pub fn clear_mapping_conflicts(&self) {
        self.lock().mapping_conflicts.clear();
    }

    /// Delay every response by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Clear every fault (including an ongoing outage).
    pub fn reset(&self) {
        *self.lock() = FaultState::default();
        self.nth_counter.store(0, Ordering::SeqCst);
        self.outage.send_replace(OutageState::default());
    }

    fn outage_state(&self) -> OutageState {
        *self.outage.borrow()
    }
}

struct Shared {
    opts: EsServerOptions,
    faults: FaultControl,
    cluster: Mutex<Cluster>,
    requests: Mutex<Vec<RecordedRequest>>,
    bulk_counter: AtomicU64,
    cluster_uuid: String,
    node_name: String,
}

impl Shared {
    fn cluster(&self) -> MutexGuard<'_, Cluster> {
        self.cluster.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running fake Elasticsearch cluster. Shut down on [`EsTestServer::stop`] or drop.
pub struct EsTestServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl EsTestServer {
    /// Bind `127.0.0.1:0` and start serving on the current tokio runtime.
    pub async fn start(opts: EsServerOptions) -> EsTestServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let seed = util::mix64(util::now_millis() ^ u64::from(addr.port()));
        let mut cluster = Cluster::new(seed);
        let cluster_uuid = cluster.new_uuid();
        let shared = Arc::new(Shared {
            opts,
            faults: FaultControl::new(),
            cluster: Mutex::new(cluster),
            requests: Mutex::new(Vec::new()),
            bulk_counter: AtomicU64::new(0),
            cluster_uuid,
            node_name: "es-test-node-0".to_string(),
        });
        let task = tokio::spawn(accept_loop(listener, addr, shared.clone()));
        EsTestServer { shared, addr, task }
    }

    /// Base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Runtime fault injection.
    pub fn faults(&self) -> &FaultControl {
        &self.shared.faults
    }

    /// Number of documents in an index, data stream (all backing indices),
    /// or comma-separated list / `*` pattern of them. Unknown names count 0.
    pub fn doc_count(&self, target: &str) -> usize {
        let c = self.shared.cluster();
        c.resolve_lenient(target)
            .iter()
            .filter_map(|n| c.indices.get(n))
            .map(|i| i.len())
            .sum()
    }

    /// `(_id, _source)` of every document in `target` (see [`Self::doc_count`]),
    /// in index order then insertion order.
    pub fn docs(&self, target: &str) -> Vec<(String, Value)> {
        let c = self.shared.cluster();
        let mut out = Vec::new();
        for n in c.resolve_lenient(target) {
            if let Some(i) = c.indices.get(&n) {
                out.extend(i.iter().map(|(id, d)| (id.clone(), d.source.clone())));
            }
        }
        out
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Forget recorded requests.
    pub fn clear_requests(&self) {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Installed index templates (bodies as sent).
    pub fn index_templates(&self) -> BTreeMap<String, Value> {
        self.shared.cluster().index_templates.clone()
    }

    /// Installed component templates (bodies as sent).
    pub fn component_templates(&self) -> BTreeMap<String, Value> {
        self.shared.cluster().component_templates.clone()
    }

    /// Installed ILM policies (bodies as sent, i.e. `{"policy":{..}}`).
    pub fn ilm_policies(&self) -> BTreeMap<String, Value> {
        self.shared
            .cluster()
            .ilm_policies
            .iter()
            .map(|(k, v)| (k.clone(), v.body.clone()))
            .collect()
    }

    /// Names of existing data streams.
    pub fn data_streams(&self) -> Vec<String> {
        self.shared.cluster().data_streams.keys().cloned().collect()
    }

    /// Names of existing concrete indices (including `.ds-*` backing indices).
    pub fn indices(&self) -> Vec<String> {
        self.shared.cluster().indices.keys().cloned().collect()
    }

    /// The current mapping of a concrete index (`{"properties":{..}}`).
    pub fn mapping(&self, index: &str) -> Option<Value> {
        self.shared
            .cluster()
            .indices
            .get(index)
            .map(|i| i.mapping.to_json())
    }

    /// Shut the server down (same as dropping it).
    pub fn stop(self) {}
}

impl Drop for EsTestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ==================================================================== server

async fn accept_loop(listener: TcpListener, addr: SocketAddr, shared: Arc<Shared>) {
    let mut listener = Some(listener);
    let mut outage = shared.faults.outage.subscribe();
    let mut conns = JoinSet::new();
    loop {
        let state = *outage.borrow_and_update();
        if state.active && state.mode == OutageMode::RefuseConnections {
            listener = None;
            conns.abort_all();
            if outage.changed().await.is_err() {
                return;
            }
            continue;
        }
        if listener.is_none() {
            match TcpListener::bind(addr).await {
                Ok(l) => listener = Some(l),
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let Some(l) = listener.as_ref() else { continue };
        tokio::select! {
            res = l.accept() => {
                if let Ok((stream, _)) = res {
                    let _ = stream.set_nodelay(true);
                    conns.spawn(serve_connection(stream, shared.clone()));
                }
            }
            changed = outage.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let svc = service_fn(move |req| handle(shared.clone(), req));
    let _ = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), svc)
        .await;
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let start = Instant::now();
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut record = RecordedRequest {
        method: method.clone(),
        path: path.clone(),
        query: query.clone(),
        headers,
        status: 0,
        body_size: 0,
        decoded_body_size: 0,
    };

    let body = match Limited::new(body, MAX_CONTENT_LENGTH).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(())
        }
        Err(e) => {
            push_record(&shared, record);
            return Err(std::io::Error::other(e.to_string()));
        }
    };

    let latency = shared.faults.lock().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let outage = shared.faults.outage_state();
    let reply = if outage.active {
        if outage.mode != OutageMode::ServiceUnavailable {
            record.body_size = body.as_ref().map(Bytes::len).unwrap_or(0);
            push_record(&shared, record);
            return Err(std::io::Error::other("simulated outage: connection closed"));
        }
        es_error(
            503,
            "cluster_block_exception",
            "blocked by: [SERVICE_UNAVAILABLE/2/no master];",
        )
    } else {
        match &body {
            Err(()) => Reply::empty(413),
            Ok(b) => {
                record.body_size = b.len();
                dispatch(
                    &shared,
                    &parts.method,
                    &path,
                    &query,
                    &parts.headers,
                    b,
                    start,
                    &mut record,
                )
            }
        }
    };
    record.status = reply.status;
    let params = parse_query(&query);
    let response = build_response(reply, &parts.method, &params, &parts.headers);
    push_record(&shared, record);
    Ok(response)
}

fn push_record(shared: &Shared, r: RecordedRequest) {
    shared
        .requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(r);
}

fn build_response(
    reply: Reply,
    method: &hyper::Method,
    params: &[(String, String)],
    headers: &HeaderMap,
) -> Response<Full<Bytes>> {
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let mut body: Vec<u8> = match &reply.body {
        ReplyBody::Empty => Vec::new(),
        ReplyBody::Json(v) => {
            let filtered;
            let v = match param("filter_path") {
                Some(fp) if reply.status < 400 => {
                    filtered = query::filter_path(v, fp);
                    &filtered
                }
                _ => v,
            };
            let pretty = param("pretty").is_some_and(|p| p != "false");
            let mut out = if pretty {
                serde_json::to_vec_pretty(v).unwrap_or_default()
            } else {
                serde_json::to_vec(v).unwrap_or_default()
            };
            if pretty {
                out.push(b'\n');
            }
            out
        }
    };
    let mut builder = Response::builder()
        .status(reply.status)
        .header("x-elastic-product", "Elasticsearch");
    if matches!(reply.body, ReplyBody::Json(_)) {
        builder = builder.header("content-type", "application/json");
    }
    for (k, v) in &reply.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let accepts_gzip = headers
        .get_all("accept-encoding")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|e| e.trim().split(';').next() == Some("gzip"))
        });
    if accepts_gzip && !body.is_empty() && method != hyper::Method::HEAD {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        if enc.write_all(&body).is_ok() {
            if let Ok(z) = enc.finish() {
                body = z;
                builder = builder.header("content-encoding", "gzip");
            }
        }
    }
    if method == hyper::Method::HEAD {
        builder = builder.header("content-length", body.len().to_string());
        body.clear();
    }
    builder
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (util::url_decode(k, true), util::url_decode(v, true))
        })
        .collect()
}

// ==================================================================== routing

#[derive(Debug)]
enum Route {
    Info,
    Health,
    Bulk(Option<String>),
    IndexTemplateGet(Option<String>),
    IndexTemplatePut(String),
    IndexTemplateDelete(String),
    ComponentGet(Option<String>),
    ComponentPut(String),
    ComponentDelete(String),
    IlmGet(Option<String>),
    IlmPut(String),
    IlmDelete(String),
    DataStreamGet(Option<String>),
    DataStreamPut(String),
    DataStreamDelete(String),
    Search(Option<String>),
    Count(Option<String>),
    Refresh(Option<String>),
    Mapping(Option<String>),
    GetDoc(String, String),
    IndexCreate(String),
    IndexDelete(String),
    IndexGet(String),
}

const COMMON_PARAMS: &[&str] = &["pretty", "human", "error_trace", "filter_path"];
const BULK_PARAMS: &[&str] = &[
    "wait_for_active_shards",
    "refresh",
    "routing",
    "timeout",
    "_source",
    "_source_excludes",
    "_source_includes",
    "pipeline",
    "require_alias",
    "require_data_stream",
    "list_executed_pipelines",
    "include_source_on_error",
];
const SEARCH_PARAMS: &[&str] = &[
    "size",
    "from",
    "q",
    "sort",
    "track_total_hits",
    "rest_total_hits_as_int",
    "_source",
    "_source_excludes",
    "_source_includes",
    "timeout",
    "allow_no_indices",
    "expand_wildcards",
    "ignore_unavailable",
    "ignore_throttled",
    "typed_keys",
    "request_cache",
    "search_type",
    "seq_no_primary_term",
    "version",
    "preference",
    "routing",
    "df",
    "analyzer",
    "analyze_wildcard",
    "default_operator",
    "lenient",
    "explain",
    "stored_fields",
    "docvalue_fields",
    "terminate_after",
    "track_scores",
    "batched_reduce_size",
    "max_concurrent_shard_requests",
    "pre_filter_shard_size",
    "allow_partial_search_results",
    "ccs_minimize_roundtrips",
    "scroll",
    "stats",
    "suggest_field",
    "suggest_mode",
    "suggest_size",
    "suggest_text",
    "include_named_queries_score",
    "force_synthetic_source",
];
const COUNT_PARAMS: &[&str] = &[
    "q",
    "df",
    "analyzer",
    "analyze_wildcard",
    "default_operator",
    "lenient",
    "allow_no_indices",
    "expand_wildcards",
    "ignore_unavailable",
    "ignore_throttled",
    "min_score",
    "preference",
    "routing",
    "terminate_after",
];
const INDICES_OPTS: &[&str] = &[
    "allow_no_indices",
    "expand_wildcards",
    "ignore_unavailable",
    "master_timeout",
    "timeout",
    "local",
];
const TEMPLATE_PARAMS: &[&str] = &[
    "create",
    "master_timeout",
    "cause",
    "timeout",
    "flat_settings",
    "local",
    "include_defaults",
];
const HEALTH_PARAMS: &[&str] = &[
    "level",
    "local",
    "master_timeout",
    "timeout",
    "wait_for_active_shards",
    "wait_for_nodes",
    "wait_for_events",
    "wait_for_no_relocating_shards",
    "wait_for_no_initializing_shards",
    "wait_for_status",
    "expand_wildcards",
];
const DOC_PARAMS: &[&str] = &[
    "preference",
    "realtime",
    "refresh",
    "routing",
    "_source",
    "_source_excludes",
    "_source_includes",
    "stored_fields",
    "version",
    "version_type",
];
const INDEX_PARAMS: &[&str] = &[
    "wait_for_active_shards",
    "timeout",
    "master_timeout",
    "allow_no_indices",
    "expand_wildcards",
    "ignore_unavailable",
    "flat_settings",
    "include_defaults",
    "local",
    "features",
];

/// Resolve a route; `Err(allowed methods)` when the path exists for other methods,
/// `Err(empty)` when nothing handles it.
fn route(
    method: &str,
    segs: &[String],
) -> Result<(Route, &'static [&'static str]), Vec<&'static str>> {
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = method;
    let opt = |x: &str| Some(x.to_string());
    let get_like = m == "GET" || m == "HEAD";
    macro_rules! methods {
        ($($meth:literal => $r:expr),+ $(,)?) => {{
            $( if m == $meth { return Ok($r); } )+
            return Err(vec![$($meth),+]);
        }};
    }
    match s.as_slice() {
        [] => methods!("GET" => (Route::Info, &[]), "HEAD" => (Route::Info, &[])),
        ["_bulk"] => {
            methods!("POST" => (Route::Bulk(None), BULK_PARAMS), "PUT" => (Route::Bulk(None), BULK_PARAMS))
        }
        [t, "_bulk"] => {
            methods!("POST" => (Route::Bulk(opt(t)), BULK_PARAMS), "PUT" => (Route::Bulk(opt(t)), BULK_PARAMS))
        }
        ["_cluster", "health"] | ["_cluster", "health", _] => {
            methods!("GET" => (Route::Health, HEALTH_PARAMS))
        }
        ["_index_template"] => methods!("GET" => (Route::IndexTemplateGet(None), TEMPLATE_PARAMS)),
        ["_index_template", n] => methods!(
            "GET" => (Route::IndexTemplateGet(opt(n)), TEMPLATE_PARAMS),
            "HEAD" => (Route::IndexTemplateGet(opt(n)), TEMPLATE_PARAMS),
            "PUT" => (Route::IndexTemplatePut(n.to_string()), TEMPLATE_PARAMS),
            "POST" => (Route::IndexTemplatePut(n.to_string()), TEMPLATE_PARAMS),
            "DELETE" => (Route::IndexTemplateDelete(n.to_string()), TEMPLATE_PARAMS),
        ),
        ["_component_template"] => methods!("GET" => (Route::ComponentGet(None), TEMPLATE_PARAMS)),
        ["_component_template", n] => methods!(
            "GET" => (Route::ComponentGet(opt(n)), TEMPLATE_PARAMS),
            "HEAD" => (Route::ComponentGet(opt(n)), TEMPLATE_PARAMS),
            "PUT" => (Route::ComponentPut(n.to_string()), TEMPLATE_PARAMS),
            "POST" => (Route::ComponentPut(n.to_string()), TEMPLATE_PARAMS),
            "DELETE" => (Route::ComponentDelete(n.to_string()), TEMPLATE_PARAMS),
        ),
        ["_ilm", "policy"] => methods!("GET" => (Route::IlmGet(None), INDICES_OPTS)),
        ["_ilm", "policy", n] => methods!(
            "GET" => (Route::IlmGet(opt(n)), INDICES_OPTS),
            "PUT" => (Route::IlmPut(n.to_string()), INDICES_OPTS),
            "DELETE" => (Route::IlmDelete(n.to_string()), INDICES_OPTS),
        ),
        ["_data_stream"] => {
            methods!("GET" => (Route::DataStreamGet(None), &["expand_wildcards", "include_defaults", "master_timeout", "verbose"]))
        }
        ["_data_stream", n] => methods!(
            "GET" => (Route::DataStreamGet(opt(n)), &["expand_wildcards", "include_defaults", "master_timeout", "verbose"]),
            "PUT" => (Route::DataStreamPut(n.to_string()), &["master_timeout", "timeout"]),
            "DELETE" => (Route::DataStreamDelete(n.to_string()), &["master_timeout", "expand_wildcards"]),
        ),
        ["_search"] => {
            methods!("GET" => (Route::Search(None), SEARCH_PARAMS), "POST" => (Route::Search(None), SEARCH_PARAMS))
        }
        [t, "_search"] => {
            methods!("GET" => (Route::Search(opt(t)), SEARCH_PARAMS), "POST" => (Route::Search(opt(t)), SEARCH_PARAMS))
        }
        ["_count"] => {
            methods!("GET" => (Route::Count(None), COUNT_PARAMS), "POST" => (Route::Count(None), COUNT_PARAMS))
        }
        [t, "_count"] => {
            methods!("GET" => (Route::Count(opt(t)), COUNT_PARAMS), "POST" => (Route::Count(opt(t)), COUNT_PARAMS))
        }
        ["_refresh"] => {
            methods!("GET" => (Route::Refresh(None), INDICES_OPTS), "POST" => (Route::Refresh(None), INDICES_OPTS))
        }
        [t, "_refresh"] => {
            methods!("GET" => (Route::Refresh(opt(t)), INDICES_OPTS), "POST" => (Route::Refresh(opt(t)), INDICES_OPTS))
        }
        ["_mapping"] => methods!("GET" => (Route::Mapping(None), INDICES_OPTS)),
        [t, "_mapping"] => methods!("GET" => (Route::Mapping(opt(t)), INDICES_OPTS)),
        [t, "_doc", id] if get_like => {
            Ok((Route::GetDoc(t.to_string(), id.to_string()), DOC_PARAMS))
        }
        [t] if !t.starts_with('_') => methods!(
            "PUT" => (Route::IndexCreate(t.to_string()), INDEX_PARAMS),
            "DELETE" => (Route::IndexDelete(t.to_string()), INDEX_PARAMS),
            "GET" => (Route::IndexGet(t.to_string()), INDEX_PARAMS),
            "HEAD" => (Route::IndexGet(t.to_string()), INDEX_PARAMS),
        ),
        _ => Err(Vec::new()),
    }
}

fn simple_error(status: u16, msg: String) -> Reply {
    Reply::json(status, json!({"error": msg, "status": status}))
}

fn decode_body(headers: &HeaderMap, raw: &[u8]) -> Result<Vec<u8>, Reply> {
    let enc = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let mut out = Vec::new();
    let res = match enc.as_str() {
        "" | "identity" => return Ok(raw.to_vec()),
        "gzip" | "x-gzip" => flate2::read::MultiGzDecoder::new(raw)
            .take(MAX_CONTENT_LENGTH as u64 + 1)
            .read_to_end(&mut out),
        "deflate" => flate2::read::ZlibDecoder::new(raw)
            .take(MAX_CONTENT_LENGTH as u64 + 1)
            .read_to_end(&mut out),
        other => {
            return Err(util::illegal_argument(format!(
                "unsupported Content-Encoding [{other}]"
            )));
        }
    };
    match res {
        Ok(_) if out.len() > MAX_CONTENT_LENGTH => Err(Reply::empty(413)),
        Ok(_) => Ok(out),
        Err(e) => Err(util::illegal_argument(format!(
            "failed to decode {enc} request body: {e}"
        ))),
    }
}

/// `Ok(is_ndjson)` for supported media types.
fn check_content_type(headers: &HeaderMap) -> Result<bool, Reply> {
    let Some(ct) = headers.get("content-type") else {
        return Err(simple_error(406, "Content-Type header is missing".into()));
    };
    let ct_str = String::from_utf8_lossy(ct.as_bytes()).into_owned();
    let mut parts = ct_str.split(';');
    let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let compat: Option<String> = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("compatible-with")).then(|| v.trim().to_string())
    });
    let ok = match media.as_str() {
        "application/json" => Some(false),
        "application/x-ndjson" => Some(true),
        "application/vnd.elasticsearch+json" | "application/vnd.elasticsearch+x-ndjson" => {
            match compat.as_deref() {
                Some("7") | Some("8") => Some(media.ends_with("x-ndjson")),
                _ => None,
            }
        }
        _ => None,
    };
    ok.ok_or_else(|| {
        simple_error(
            406,
            format!("Content-Type header [{ct_str}] is not supported"),
        )
    })
}

fn check_auth(shared: &Shared, headers: &HeaderMap, uri: &str) -> Option<Reply> {
    let expected = shared.opts.auth.as_ref()?;
    let challenges = ["Basic realm=\"security\" charset=\"UTF-8\"", "ApiKey"];
    let fail = |reason: String, extra: Option<String>| {
        let mut c = cause("security_exception", reason);
        if let Some(e) = extra {
            c.insert("additional_unsuccessful_credentials".into(), json!(e));
        }
        c.insert("header".into(), json!({"WWW-Authenticate": challenges}));
        let mut r = error_reply(401, c);
        for ch in challenges {
            r = r.with_header("www-authenticate", ch);
        }
        Some(r)
    };
    let Some(given) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return fail(
            format!("missing authentication credentials for REST request [{uri}]"),
            None,
        );
    };
    let (scheme, value) = given.split_once(' ').unwrap_or((given, ""));
    let value = value.trim();
    let ok = match expected {
        EsAuth::Basic { user, password } => {
            scheme.eq_ignore_ascii_case("basic")
                && value == base64_encode(format!("{user}:{password}").as_bytes())
        }
        EsAuth::ApiKey(key) => scheme.eq_ignore_ascii_case("apikey") && value == key,
    };
    if ok {
        return None;
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let user = base64_decode(value)
            .and_then(|b| String::from_utf8(b).ok())
            .map(|s| s.split(':').next().unwrap_or("").to_string())
            .unwrap_or_default();
        return fail(
            format!("unable to authenticate user [{user}] for REST request [{uri}]"),
            None,
        );
    }
    let extra = if scheme.eq_ignore_ascii_case("apikey") {
        let id = base64_decode(value)
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split(':').next().map(str::to_string))
            .unwrap_or_default();
        Some(format!("API key: unable to find apikey with id {id}"))
    } else {
        None
    };
    fail(
        "unable to authenticate with provided credentials and anonymous access is not allowed for this request".into(),
        extra,
    )
}

fn parse_json_body(body: &[u8]) -> Result<Option<Value>, Reply> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| util::parse_error(util::json_error_reason(&e)))
}

fn require_json_body(body: &[u8]) -> Result<Value, Reply> {
    parse_json_body(body)?
        .ok_or_else(|| es_error(400, "parse_exception", "request body is required"))
}

#[allow(clippy::too_many_arguments)]
fn dispatch(
    shared: &Shared,
    method: &hyper::Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    raw_body: &[u8],
    start: Instant,
    record: &mut RecordedRequest,
) -> Reply {
    let params = parse_query(query);
    let uri = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    };
    let body = match decode_body(headers, raw_body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    record.decoded_body_size = body.len();
    if !body.is_empty() {
        if let Err(r) = check_content_type(headers) {
            return r;
        }
    }
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| util::url_decode(s, false))
        .collect();
    let (route, allowed) = match route(method.as_str(), &segs) {
        Ok(r) => r,
        Err(methods) if methods.is_empty() => {
            return simple_error(
                400,
                format!("no handler found for uri [{uri}] and method [{method}]"),
            );
        }
        Err(methods) => {
            return simple_error(
                405,
                format!(
                    "Incorrect HTTP method for uri [{uri}] and method [{method}], allowed: [{}]",
                    methods.join(", ")
                ),
            );
        }
    };
    if let Some(r) = check_auth(shared, headers, &uri) {
        return r;
    }
    let unknown: Vec<&str> = params
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !COMMON_PARAMS.contains(k) && !allowed.contains(k))
        .collect();
    if !unknown.is_empty() {
        let list: Vec<String> = unknown.iter().map(|k| format!("[{k}]")).collect();
        let noun = if unknown.len() == 1 {
            "parameter"
        } else {
            "parameters"
        };
        return util::illegal_argument(format!(
            "request [{path}] contains unrecognized {noun}: {}",
            list.join(", ")
        ));
    }
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let is_head = method == hyper::Method::HEAD;
    let result: Result<Reply, Reply> = (|| {
        Ok(match route {
            Route::Info => info(shared),
            Route::Health => {
                let c = shared.cluster();
                let n = c.indices.len();
                Reply::ok(json!({
                    "cluster_name": shared.opts.cluster_name,
                    "status": "green",
                    "timed_out": false,
                    "number_of_nodes": 1,
                    "number_of_data_nodes": 1,
                    "active_primary_shards": n,
                    "active_shards": n,
                    "relocating_shards": 0,
                    "initializing_shards": 0,
                    "unassigned_shards": 0,
                    "unassigned_primary_shards": 0,
                    "delayed_unassigned_shards": 0,
                    "number_of_pending_tasks": 0,
                    "number_of_in_flight_fetch": 0,
                    "task_max_waiting_in_queue_millis": 0,
                    "active_shards_percent_as_number": 100.0
                }))
            }
            Route::Bulk(target) => {
                bulk_handler(shared, target.as_deref(), param("refresh"), &body, start)?
            }
            Route::IndexTemplateGet(n) => {
                let r = shared.cluster().get_index_templates(n.as_deref());
                if is_head {
                    Reply::empty(r.status)
                } else {
                    r
                }
            }
            Route::IndexTemplatePut(n) => {
                let b = require_json_body(&body)?;
                shared
                    .cluster()
                    .put_index_template(&n, &b, param("create") == Some("true"))
            }
            Route::IndexTemplateDelete(n) => shared.cluster().delete_index_template(&n),
            Route::ComponentGet(n) => {
                let r = shared.cluster().get_component_templates(n.as_deref());
                if is_head {
                    Reply::empty(r.status)
                } else {
                    r
                }
            }
            Route::ComponentPut(n) => {
                let b = require_json_body(&body)?;
                shared
                    .cluster()
                    .put_component_template(&n, &b, param("create") == Some("true"))
            }
            Route::ComponentDelete(n) => shared.cluster().delete_component_template(&n),
            Route::IlmGet(n) => shared.cluster().get_ilm_policies(n.as_deref()),
            Route::IlmPut(n) => {
                let b = require_json_body(&body)?;
                shared.cluster().put_ilm_policy(&n, &b)
            }
            Route::IlmDelete(n) => shared.cluster().delete_ilm_policy(&n),
            Route::DataStreamGet(n) => shared.cluster().get_data_streams(n.as_deref()),
            Route::DataStreamPut(n) => shared.cluster().put_data_stream(&n),
            Route::DataStreamDelete(n) => shared.cluster().delete_data_stream(&n),
            Route::Search(t) => {
                let b = parse_json_body(&body)?;
                let c = shared.cluster();
                let indices = resolve_for_read(
                    &c,
                    t.as_deref(),
                    param("ignore_unavailable") == Some("true"),
                )?;
                let p = query::SearchParams {
                    size: param("size"),
                    from: param("from"),
                    q: param("q"),
                    sort: param("sort"),
                    track_total_hits: param("track_total_hits"),
                    rest_total_hits_as_int: param("rest_total_hits_as_int") == Some("true"),
                    source: param("_source"),
                };
                let mut r = query::search(&c, &indices, b.as_ref(), &p);
                if let ReplyBody::Json(v) = &mut r.body {
                    if v.get("took").is_some() {
                        v["took"] = json!(start.elapsed().as_millis() as u64);
                    }
                }
                r
            }
            Route::Count(t) => {
                let b = parse_json_body(&body)?;
                let c = shared.cluster();
                let indices = resolve_for_read(
                    &c,
                    t.as_deref(),
                    param("ignore_unavailable") == Some("true"),
                )?;
                query::count(&c, &indices, b.as_ref(), param("q"))
            }
            Route::Refresh(t) => {
                let c = shared.cluster();
                let indices = resolve_for_read(
                    &c,
                    t.as_deref(),
                    param("ignore_unavailable") == Some("true"),
                )?;
                let n = indices.len();
                Reply::ok(json!({"_shards": {"total": n * 2, "successful": n, "failed": 0}}))
            }
            Route::Mapping(t) => shared.cluster().get_mapping(t.as_deref().unwrap_or("_all")),
            Route::GetDoc(index, id) => {
                let r = shared.cluster().get_doc(&index, &id);
                if is_head {
                    Reply::empty(r.status)
                } else {
                    r
                }
            }
            Route::IndexCreate(name) => {
                let b = parse_json_body(&body)?.unwrap_or(json!({}));
                shared.cluster().create_index(&name, &b)
            }
            Route::IndexDelete(name) => shared.cluster().delete_index(&name),
            Route::IndexGet(name) => {
                let c = shared.cluster();
                if is_head {
                    Reply::empty(if c.exists(&name) { 200 } else { 404 })
                } else {
                    c.get_index(&name)
                }
            }
        })
    })();
    match result {
        Ok(r) | Err(r) => r,
    }
}

fn resolve_for_read(
    c: &Cluster,
    target: Option<&str>,
    lenient: bool,
) -> Result<Vec<String>, Reply> {
    let t = target.unwrap_or("_all");
    if lenient {
        Ok(c.resolve_lenient(t))
    } else {
        c.resolve_read(t)
    }
}

fn info(shared: &Shared) -> Reply {
    let v = &shared.opts.version;
    let minor = v
        .split('.')
        .nth(1)
        .and_then(|m| m.parse::<u32>().ok())
        .unwrap_or(15);
    let lucene = match minor {
        0..=1 => "9.0.0",
        2..=4 => "9.1.0",
        5..=6 => "9.4.2",
        7..=8 => "9.6.0",
        9..=10 => "9.7.0",
        11 => "9.8.0",
        12 => "9.9.2",
        13..=14 => "9.10.0",
        15 => "9.11.1",
        _ => "9.12.0",
    };
    Reply::ok(json!({
        "name": shared.node_name,
        "cluster_name": shared.opts.cluster_name,
        "cluster_uuid": shared.cluster_uuid,
        "version": {
            "number": v,
            "build_flavor": "default",
            "build_type": "docker",
            "build_hash": "1a77947f34deddb41af25e6f0ddb8e830159c179",
            "build_date": "2024-08-05T10:05:34.233336849Z",
            "build_snapshot": false,
            "lucene_version": lucene,
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0"
        },
        "tagline": "You Know, for Search"
    }))
}

/// Whole-request error body for an injected `status`.
fn injected_failure(status: u16, body_len: usize) -> Reply {
    match status {
        429 => es_error(
            429,
            "es_rejected_execution_exception",
            format!(
                "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes={body_len}, max_coordinating_and_primary_bytes=107374182]"
            ),
        ),
        503 => es_error(503, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/2/no master];"),
        500 => es_error(500, "illegal_state_exception", "failed to execute bulk request"),
        413 => Reply::empty(413),
        401 => es_error(401, "security_exception", "unable to authenticate user for REST request [/_bulk]"),
        403 => es_error(
            403,
            "security_exception",
            "action [indices:data/write/bulk] is unauthorized for user [logweir] with effective roles [] on indices [*]",
        ),
        504 => es_error(504, "timeout_exception", "Timed out waiting for bulk request to complete"),
        s => es_error(s, "exception", format!("injected failure with status [{s}]")),
    }
}

fn bulk_handler(
    shared: &Shared,
    target: Option<&str>,
    refresh: Option<&str>,
    body: &[u8],
    start: Instant,
) -> Result<Reply, Reply> {
    if let Some(r) = refresh {
        if !["", "true", "false", "wait_for"].contains(&r) {
            return Err(util::illegal_argument(format!(
                "Unknown value for refresh: [{r}]."
            )));
        }
    }
    let request_no = shared.bulk_counter.fetch_add(1, Ordering::SeqCst) + 1;
    let faults = shared.faults.lock().clone();
    if let Some((n, status)) = faults.fail_every_nth {
        let c = shared.faults.nth_counter.fetch_add(1, Ordering::SeqCst) + 1;
        if c.is_multiple_of(n) {
            return Ok(injected_failure(status, body.len()));
        }
    }
    let ops = bulk::parse(body, target)?;
    let bf = bulk::BulkFaults {
        ratio_429: faults.ratio_429,
        seed: faults.seed,
        request_no,
        mapping_conflicts: faults.mapping_conflicts,
    };
    let (items, errors) = {
        let mut c = shared.cluster();
        bulk::execute(&mut c, ops, &bf)
    };
    Ok(Reply::ok(json!({
        "took": start.elapsed().as_millis() as u64,
        "errors": errors,
        "items": items,
    })))
}
