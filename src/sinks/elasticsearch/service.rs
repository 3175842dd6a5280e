//! HTTP to the cluster: one shared `reqwest` client (rustls, aws-lc-rs), the endpoint rotation
//! with passive health, and the calls the sink makes (`GET /`, bulk, template and policy
//! reads and writes).
//!
//! Endpoints are used round-robin. One that fails at the transport level or answers 5xx is
//! set aside for a back-off period (1 s doubling to 60 s while it keeps failing), so a dead
//! node does not stall requests that other nodes can serve. When every endpoint is set aside
//! the one due back first is used (the retry backoff paces those attempts).
//!
//! The `Authorization` header is built once and marked sensitive; credentials never appear in
//! URLs, logs or errors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use serde::Deserialize;

use super::config::{Auth, CheckedConfig, Compression};

/// The fields of bulk responses the sink reads (`filter_path` trims the rest server-side).
const BULK_FILTER_PATH: &str = "errors,items.*.status,items.*.error";
const MIN_SET_ASIDE: Duration = Duration::from_secs(1);
const MAX_SET_ASIDE: Duration = Duration::from_secs(60);
/// Longest response body text quoted in a log or dead letter.
const MAX_QUOTED_BODY: usize = 1024;

/// Why a request got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("cannot reach {endpoint}: {message}")]
    Transport {
        endpoint: String,
        message: String,
        /// No answer within `request_timeout_secs` (else the connection failed).
        timed_out: bool,
    },
    #[error("{endpoint} answered {status}: {body}")]
    Status {
        endpoint: String,
        status: u16,
        body: String,
    },
    #[error("{endpoint} sent an unreadable bulk response: {message}")]
    BadResponse { endpoint: String, message: String },
}

impl RequestError {
    /// The `error_type` this failure is counted under in `logweir_component_errors_total`.
    pub fn error_type(&self) -> &'static str {
        match self {
            RequestError::Transport {
                timed_out: true, ..
            } => "timeout",
            RequestError::Transport { .. } => "connection",
            RequestError::Status { status: 429, .. } => "throttled",
            RequestError::Status {
                status: 401 | 403, ..
            } => "credentials",
            RequestError::Status { status, .. } if *status >= 500 => "server_error",
            RequestError::Status { .. } => "request_refused",
            RequestError::BadResponse { .. } => "bad_response",
        }
    }

    /// The `outcome` of the request in `logweir_sink_request_duration_seconds`.
    pub fn outcome(&self) -> &'static str {
        match self {
            RequestError::Transport {
                timed_out: true, ..
            } => "timeout",
            RequestError::Status { status: 429, .. } => "throttled",
            _ => "error",
        }
    }
}

/// A client could not be built from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error("reading tls.ca_file {path}: {message}")]
    CaFile { path: String, message: String },
    #[error("building the HTTP client: {0}")]
    Http(String),
    #[error("credentials contain characters not allowed in an HTTP header")]
    InvalidCredentials,
}

#[derive(Debug)]
struct EndpointHealth {
    set_aside_until: Option<Instant>,
    consecutive_failures: u32,
}

#[derive(Debug)]
struct Endpoint {
    /// Base URL without a trailing slash.
    base: String,
    health: Mutex<EndpointHealth>,
}

/// The rotation over the cluster's nodes.
#[derive(Debug)]
pub struct Endpoints {
    list: Vec<Endpoint>,
    next: AtomicUsize,
}

impl Endpoints {
    pub fn new(urls: &[reqwest::Url]) -> Endpoints {
        Endpoints {
            list: urls
                .iter()
                .map(|u| Endpoint {
                    base: u.as_str().trim_end_matches('/').to_string(),
                    health: Mutex::new(EndpointHealth {
                        set_aside_until: None,
                        consecutive_failures: 0,
                    }),
                })
                .collect(),
            next: AtomicUsize::new(0),
        }
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn base(&self, index: usize) -> &str {
        &self.list[index].base
    }

    /// The next usable endpoint, round-robin over those not set aside.
    pub fn pick(&self) -> usize {
        let n = self.list.len();
        let now = Instant::now();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut soonest: Option<(usize, Instant)> = None;
        for k in 0..n {
            let i = (start + k) % n;
            let h = self.list[i]
                .health
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            match h.set_aside_until {
                None => return i,
                Some(t) if t <= now => return i,
                Some(t) => {
                    if soonest.is_none_or(|(_, s)| t < s) {
                        soonest = Some((i, t));
                    }
                }
            }
        }
        soonest.map(|(i, _)| i).unwrap_or(0)
    }

    /// Whether some endpoint is usable right now.
    pub fn any_available(&self) -> bool {
        let now = Instant::now();
        self.list.iter().any(|e| {
            let h = e.health.lock().unwrap_or_else(|e| e.into_inner());
            h.set_aside_until.is_none_or(|t| t <= now)
        })
    }

    pub fn mark_ok(&self, index: usize) {
        let mut h = self.list[index]
            .health
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if h.consecutive_failures > 0 {
            tracing::info!(endpoint = %self.list[index].base, "elasticsearch endpoint is healthy again");
        }
        h.consecutive_failures = 0;
        h.set_aside_until = None;
    }

    /// Sets an endpoint aside for a period that doubles while it keeps failing.
    pub fn mark_failed(&self, index: usize) {
        let mut h = self.list[index]
            .health
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let period = MIN_SET_ASIDE
            .saturating_mul(1u32 << h.consecutive_failures.min(6))
            .min(MAX_SET_ASIDE);
        h.consecutive_failures = h.consecutive_failures.saturating_add(1);
        h.set_aside_until = Some(Instant::now() + period);
        if h.consecutive_failures == 1 {
            tracing::warn!(endpoint = %self.list[index].base, set_aside_secs = period.as_secs(), "elasticsearch endpoint failed; using the other endpoints meanwhile");
        }
    }
}

/// A bulk response, reduced to what the sink needs.
#[derive(Debug, Deserialize)]
pub struct BulkResponse {
    #[serde(default)]
    pub errors: bool,
    /// Every item when `errors` is true; empty otherwise (all of them succeeded, only
    /// their number matters: [`BulkResponse::item_count`]).
    #[serde(default)]
    pub items: Vec<BulkItemEnvelope>,
    #[serde(skip)]
    pub item_count: usize,
}

impl BulkResponse {
    /// Parses a response body. Most responses say `"errors": false`; their items are only
    /// counted (decoding thousands of `{"create":{"status":201}}` into values cost more
    /// than building the request did). With errors, every item is decoded.
    pub fn parse(body: &[u8]) -> Result<BulkResponse, serde_json::Error> {
        if let Some(item_count) = count_uniform_success(body) {
            return Ok(BulkResponse {
                errors: false,
                items: Vec::new(),
                item_count,
            });
        }
        let summary: BulkSummary = serde_json::from_slice(body)?;
        if !summary.errors {
            return Ok(BulkResponse {
                errors: false,
                items: Vec::new(),
                item_count: summary.items.0,
            });
        }
        let mut full: BulkResponse = serde_json::from_slice(body)?;
        full.item_count = full.items.len();
        Ok(full)
    }
}

/// The number of items of the usual response, when `body` is exactly that: every document
/// written, the body as `filter_path` trims it — `{"errors":false,"items":[I,I,…]}`, a
/// `"took":N,` allowed after `errors` — with every item the same
/// `{"create":{"status":201}}` (or `index` with 200 or 201). Checked byte for byte, so a
/// match is valid JSON saying what the count says; anything else is `None` and goes to the
/// general parser. Skipping 2,000 items with serde took 2% of a whole file → Elasticsearch
/// pipeline's CPU; comparing them takes a few microseconds.
fn count_uniform_success(body: &[u8]) -> Option<usize> {
    const ITEMS: [&[u8]; 3] = [
        br#"{"create":{"status":201}}"#,
        br#"{"index":{"status":201}}"#,
        br#"{"index":{"status":200}}"#,
    ];
    let rest = body.strip_prefix(br#"{"errors":false,"#)?;
    let rest = match rest.strip_prefix(br#""took":"#) {
        Some(took) => {
            let digits = took.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 {
                return None;
            }
            took[digits..].strip_prefix(b",")?
        }
        None => rest,
    };
    let items = rest.strip_prefix(br#""items":["#)?.strip_suffix(b"]}")?;
    if items.is_empty() {
        return Some(0);
    }
    let item = ITEMS.into_iter().find(|item| items.starts_with(item))?;
    // `n` items and `n - 1` commas.
    let n = (items.len() + 1) / (item.len() + 1);
    if n * (item.len() + 1) != items.len() + 1 {
        return None;
    }
    let all_same = items
        .chunks(item.len() + 1)
        .all(|chunk| chunk.strip_suffix(b",").unwrap_or(chunk) == item);
    // A last chunk ending in a comma would be `…,]`: not JSON.
    (all_same && items.last() == Some(&b'}')).then_some(n)
}

#[derive(Deserialize)]
struct BulkSummary {
    #[serde(default)]
    errors: bool,
    #[serde(default)]
    items: ItemCount,
}

/// The length of a JSON array whose elements are skipped (validated, not built).
#[derive(Default)]
struct ItemCount(usize);

impl<'de> Deserialize<'de> for ItemCount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ItemCount, D::Error> {
        struct Counter;
        impl<'de> serde::de::Visitor<'de> for Counter {
            type Value = ItemCount;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array of bulk items")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ItemCount, A::Error> {
                let mut n = 0;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(ItemCount(n))
            }
        }
        d.deserialize_seq(Counter)
    }
}

/// `{"create": {...}}`, `{"index": {...}}`.
#[derive(Debug, Deserialize)]
pub enum BulkItemEnvelope {
    #[serde(rename = "create")]
    Create(BulkItemResult),
    #[serde(rename = "index")]
    Index(BulkItemResult),
    #[serde(rename = "update")]
    Update(BulkItemResult),
    #[serde(rename = "delete")]
    Delete(BulkItemResult),
}

impl BulkItemEnvelope {
    pub fn result(&self) -> &BulkItemResult {
        match self {
            BulkItemEnvelope::Create(r)
            | BulkItemEnvelope::Index(r)
            | BulkItemEnvelope::Update(r)
            | BulkItemEnvelope::Delete(r) => r,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct BulkItemResult {
    pub status: u16,
    #[serde(default)]
    pub error: Option<serde_json::Value>,
}

impl BulkItemResult {
    pub fn error_type(&self) -> Option<&str> {
        self.error.as_ref()?.get("type")?.as_str()
    }

    /// `type: reason (caused by: type: reason)`.
    pub fn error_summary(&self) -> String {
        match &self.error {
            None => format!("status {}", self.status),
            Some(e) => summarize_error(e),
        }
    }
}

fn summarize_error(e: &serde_json::Value) -> String {
    let t = e.get("type").and_then(|v| v.as_str()).unwrap_or("error");
    let r = e.get("reason").and_then(|v| v.as_str()).unwrap_or("");
    let mut s = format!("{t}: {r}");
    if let Some(c) = e.get("caused_by") {
        s.push_str(" (caused by ");
        s.push_str(&summarize_error(c));
        s.push(')');
    }
    s
}

/// The HTTP side of the sink.
#[derive(Debug)]
pub struct EsClient {
    http: reqwest::Client,
    pub endpoints: Endpoints,
    authorization: Option<HeaderValue>,
    compression: Compression,
}

impl EsClient {
    pub fn new(config: &CheckedConfig) -> Result<EsClient, ClientBuildError> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(50))
            .pool_max_idle_per_host(config.concurrency + 2)
            .user_agent(concat!("logweir/", env!("CARGO_PKG_VERSION")));
        if let Some(tls) = &config.tls {
            if let Some(ca) = &tls.ca_file {
                let pem = std::fs::read(ca).map_err(|e| ClientBuildError::CaFile {
                    path: ca.display().to_string(),
                    message: e.to_string(),
                })?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                    ClientBuildError::CaFile {
                        path: ca.display().to_string(),
                        message: e.to_string(),
                    }
                })?;
                builder = builder.tls_certs_only(certs);
            }
            if !tls.verify {
                builder = builder
                    .tls_danger_accept_invalid_certs(true)
                    .tls_danger_accept_invalid_hostnames(true);
            }
        }
        let http = builder
            .build()
            .map_err(|e| ClientBuildError::Http(e.to_string()))?;
        let authorization = match &config.auth {
            None => None,
            Some(Auth::Basic { user, password }) => {
                let raw = format!("{user}:{}", password.expose());
                let value = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                );
                Some(sensitive(&value)?)
            }
            Some(Auth::ApiKey(key)) => Some(sensitive(&format!("ApiKey {}", key.expose()))?),
        };
        Ok(EsClient {
            http,
            endpoints: Endpoints::new(&config.endpoints),
            authorization,
            compression: config.compression,
        })
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let mut r = self.http.request(method, url);
        if let Some(a) = &self.authorization {
            r = r.header(AUTHORIZATION, a.clone());
        }
        r
    }

    /// Sends one bulk body (already compressed as configured) to the next endpoint. Health
    /// bookkeeping of the endpoint is done here.
    pub async fn bulk(&self, body: Bytes) -> Result<BulkResponse, RequestError> {
        let index = self.endpoints.pick();
        let base = self.endpoints.base(index);
        let url = format!("{base}/_bulk?filter_path={BULK_FILTER_PATH}");
        let mut req = self
            .request(reqwest::Method::POST, &url)
            .header(CONTENT_TYPE, "application/x-ndjson");
        if self.compression == Compression::Gzip {
            req = req.header(CONTENT_ENCODING, "gzip");
        }
        let response = match req.body(body).send().await {
            Ok(r) => r,
            Err(e) => {
                self.endpoints.mark_failed(index);
                return Err(transport_error(base, &e));
            }
        };
        let status = response.status().as_u16();
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                self.endpoints.mark_failed(index);
                return Err(transport_error(base, &e));
            }
        };
        if !(200..300).contains(&status) {
            if status >= 500 {
                self.endpoints.mark_failed(index);
            } else {
                self.endpoints.mark_ok(index);
            }
            return Err(RequestError::Status {
                endpoint: base.to_string(),
                status,
                body: quote_body(&bytes),
            });
        }
        self.endpoints.mark_ok(index);
        BulkResponse::parse(&bytes).map_err(|e| RequestError::BadResponse {
            endpoint: base.to_string(),
            message: e.to_string(),
        })
    }

    /// `GET path` (JSON), on the next endpoint.
    pub async fn get_json(&self, path: &str) -> Result<(u16, serde_json::Value), RequestError> {
        self.json_call(reqwest::Method::GET, path, None).await
    }

    /// `PUT path` with a JSON body, on the next endpoint.
    pub async fn put_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(u16, serde_json::Value), RequestError> {
        self.json_call(reqwest::Method::PUT, path, Some(body)).await
    }

    /// `GET /` on one specific endpoint (the startup health check).
    pub async fn info(&self, index: usize) -> Result<serde_json::Value, RequestError> {
        let base = self.endpoints.base(index);
        let (status, body) = self
            .send_json(reqwest::Method::GET, base, "/", None)
            .await?;
        if status == 200 {
            Ok(body)
        } else {
            Err(RequestError::Status {
                endpoint: base.to_string(),
                status,
                body: quote_body(body.to_string().as_bytes()),
            })
        }
    }

    async fn json_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), RequestError> {
        let index = self.endpoints.pick();
        let base = self.endpoints.base(index);
        let result = self.send_json(method, base, path, body).await;
        match &result {
            Err(_) => self.endpoints.mark_failed(index),
            Ok((status, _)) if *status >= 500 => self.endpoints.mark_failed(index),
            Ok(_) => self.endpoints.mark_ok(index),
        }
        result
    }

    async fn send_json(
        &self,
        method: reqwest::Method,
        base: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), RequestError> {
        let mut req = self.request(method, &format!("{base}{path}"));
        if let Some(b) = body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(b).unwrap_or_default());
        }
        let response = req.send().await.map_err(|e| transport_error(base, &e))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| transport_error(base, &e))?;
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| serde_json::Value::String(quote_body(&bytes)));
        Ok((status, value))
    }
}

fn sensitive(value: &str) -> Result<HeaderValue, ClientBuildError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| ClientBuildError::InvalidCredentials)?;
    v.set_sensitive(true);
    Ok(v)
}

fn transport_error(base: &str, e: &reqwest::Error) -> RequestError {
    // reqwest's Display includes the URL (no credentials: they are never in URLs) and the
    // cause chain is where the useful part is ("connection refused").
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_timeout() {
        message.push_str(" (timed out)");
    }
    RequestError::Transport {
        endpoint: base.to_string(),
        message,
        timed_out: e.is_timeout(),
    }
}

/// A response body for a message: one line, bounded.
pub fn quote_body(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_QUOTED_BODY)]);
    let mut s: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if bytes.len() > MAX_QUOTED_BODY {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_skips_set_aside_endpoints() {
        let urls: Vec<reqwest::Url> = ["http://a:9200", "http://b:9200", "http://c:9200"]
            .iter()
            .map(|u| reqwest::Url::parse(u).unwrap())
            .collect();
        let e = Endpoints::new(&urls);
        let picks: Vec<usize> = (0..6).map(|_| e.pick()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        e.mark_failed(1);
        let picks: Vec<usize> = (0..6).map(|_| e.pick()).collect();
        assert!(!picks.contains(&1), "{picks:?}");
        assert!(e.any_available());
        e.mark_failed(0);
        e.mark_failed(2);
        assert!(!e.any_available());
        // All set aside: the one due back first (endpoint 1, failed first) is used.
        assert_eq!(e.pick(), 1);
        e.mark_ok(1);
        assert_eq!(e.pick(), 1);
        assert_eq!(e.base(0), "http://a:9200");
    }

    #[test]
    fn request_errors_have_a_metric_kind_and_outcome() {
        let status = |status| RequestError::Status {
            endpoint: "http://a:9200".into(),
            status,
            body: String::new(),
        };
        let transport = |timed_out| RequestError::Transport {
            endpoint: "http://a:9200".into(),
            message: "x".into(),
            timed_out,
        };
        let cases = [
            (status(429), "throttled", "throttled"),
            (status(403), "credentials", "error"),
            (status(503), "server_error", "error"),
            (status(400), "request_refused", "error"),
            (status(413), "request_refused", "error"),
            (transport(true), "timeout", "timeout"),
            (transport(false), "connection", "error"),
        ];
        for (error, kind, outcome) in cases {
            assert_eq!(error.error_type(), kind, "{error}");
            assert_eq!(error.outcome(), outcome, "{error}");
        }
    }

    #[test]
    fn bulk_responses_without_errors_are_counted_not_decoded() {
        let r = BulkResponse::parse(
            br#"{"took":3,"errors":false,"items":[{"create":{"status":201}},{"index":{"_id":"a","status":200,"result":"created","_shards":{"total":2}}},{"create":{"status":201}}]}"#,
        )
        .unwrap();
        assert!(!r.errors);
        assert_eq!(r.item_count, 3);
        assert!(r.items.is_empty());
        let none = BulkResponse::parse(br#"{"errors":false}"#).unwrap();
        assert_eq!(none.item_count, 0);
        assert!(BulkResponse::parse(br#"{"errors":false,"items":[{"create":"#).is_err());
        assert!(BulkResponse::parse(br#"{"errors":false,"items":{}}"#).is_err());
    }

    #[test]
    fn uniform_successes_are_counted_by_comparison_and_agree_with_the_parser() {
        let item = r#"{"create":{"status":201}}"#;
        for n in [0, 1, 2, 2000] {
            let items = vec![item; n].join(",");
            for body in [
                format!(r#"{{"errors":false,"items":[{items}]}}"#),
                format!(r#"{{"errors":false,"took":17,"items":[{items}]}}"#),
            ] {
                assert_eq!(count_uniform_success(body.as_bytes()), Some(n), "{body}");
                let summary: BulkSummary = serde_json::from_str(&body).unwrap();
                assert_eq!(summary.items.0, n);
                assert_eq!(BulkResponse::parse(body.as_bytes()).unwrap().item_count, n);
            }
        }
        let index =
            r#"{"errors":false,"items":[{"index":{"status":200}},{"index":{"status":200}}]}"#;
        assert_eq!(count_uniform_success(index.as_bytes()), Some(2));
        // Anything else goes to the general parser, which still reads it right.
        for (body, count) in [
            // Mixed statuses, extra members, whitespace, a stray comma.
            (
                r#"{"errors":false,"items":[{"index":{"status":200}},{"index":{"status":201}}]}"#,
                Some(2),
            ),
            (
                r#"{"errors":false,"items":[{"create":{"status":201,"_id":"x"}}]}"#,
                Some(1),
            ),
            (
                r#"{"errors":false, "items":[{"create":{"status":201}}]}"#,
                Some(1),
            ),
            (
                r#"{"errors":false,"items":[{"create":{"status":201}} ]}"#,
                Some(1),
            ),
            (
                r#"{"errors":false,"items":[{"create":{"status":201}},]}"#,
                None,
            ),
            (
                r#"{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201}}"#,
                None,
            ),
            (
                r#"{"errors":false,"items":[{"create":{"status":201}}{"create":{"status":201}}]}"#,
                None,
            ),
            (r#"{"errors":false,"took":,"items":[]}"#, None),
        ] {
            assert_eq!(count_uniform_success(body.as_bytes()), None, "{body}");
            let parsed = BulkResponse::parse(body.as_bytes())
                .ok()
                .map(|r| r.item_count);
            assert_eq!(parsed, count, "{body}");
        }
    }

    #[test]
    fn bulk_responses_parse_with_errors() {
        let r = BulkResponse::parse(
            br#"{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":400,"error":{"type":"document_parsing_exception","reason":"bad","caused_by":{"type":"x","reason":"y"}}}}]}"#,
        )
        .unwrap();
        assert!(r.errors);
        assert_eq!(r.item_count, 2);
        assert_eq!(r.items[0].result().status, 201);
        let e = r.items[1].result();
        assert_eq!(e.error_type(), Some("document_parsing_exception"));
        assert_eq!(
            e.error_summary(),
            "document_parsing_exception: bad (caused by x: y)"
        );
    }
}
