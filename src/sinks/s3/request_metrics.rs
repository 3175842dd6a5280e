//! Metrics of every HTTP request the `s3` sink sends to the store.
//!
//! [`InstrumentedConnector`] is the object_store [`HttpConnector`] of the sink's store: it
//! wraps the usual reqwest client and, per request, counts it in flight, times it until the
//! response headers arrive (`logweir_sink_request_duration_seconds{outcome}`; an upload's
//! body is sent before that, so its transfer is included), counts failures by kind
//! (`logweir_component_errors_total{error_type}`) and counts a retry
//! (`logweir_sink_retries_total`) when a request is sent again after a failure.
//!
//! Why the HTTP level and not the sink's upload calls: object_store retries a failed request
//! a few times itself (`retry.request_retries`) before the sink sees anything, so timing the
//! upload calls would hide the very throttling and errors an operator needs to see.
//!
//! What is counted: requests signed for the `s3` service only. The same connector serves
//! the credential providers (instance metadata, STS), whose requests are not requests to the
//! destination.
//!
//! How a retry is recognised: an S3 request's method and URI name one operation (every
//! object key carries a fresh UUID; a part carries its number and upload id; completing and
//! aborting carry the upload id), so the same method and URI after a failure of it is that
//! operation tried again — by object_store's quick retries or by the sink's backoff. The
//! last [`REMEMBERED_FAILURES`] failed requests are remembered (bounded memory); one per
//! failure at most is counted.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use hyper::{Method, Uri};
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse, HttpService,
    ReqwestConnector,
};
use object_store::ClientOptions;

use crate::internal_metrics::SinkMetrics;

/// Failed requests remembered for retry detection (more than uploads can be in flight).
pub const REMEMBERED_FAILURES: usize = 256;

/// The kinds a failed request is counted under, created once.
#[derive(Debug, Clone)]
struct ErrorCounters {
    /// No answer within `retry.request_timeout_secs`.
    timeout: metrics::Counter,
    /// Connecting or sending failed.
    connection: metrics::Counter,
    /// 429 or 503 (S3's `SlowDown`).
    throttled: metrics::Counter,
    /// 401/403: credentials rejected or not allowed.
    credentials: metrics::Counter,
    /// 404: bucket gone, or a multipart upload the store no longer knows.
    not_found: metrics::Counter,
    /// Other 5xx.
    server_error: metrics::Counter,
    /// Other 4xx.
    request_refused: metrics::Counter,
    /// The response could not be read.
    bad_response: metrics::Counter,
}

impl ErrorCounters {
    fn new(sink: &SinkMetrics) -> ErrorCounters {
        ErrorCounters {
            timeout: sink.error("timeout"),
            connection: sink.error("connection"),
            throttled: sink.error("throttled"),
            credentials: sink.error("credentials"),
            not_found: sink.error("not_found"),
            server_error: sink.error("server_error"),
            request_refused: sink.error("request_refused"),
            bad_response: sink.error("bad_response"),
        }
    }
}

/// What one request came to, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestResult {
    Status(u16),
    Failed(HttpErrorKind),
}

impl RequestResult {
    fn is_failure(self) -> bool {
        !matches!(self, RequestResult::Status(200..=399))
    }

    /// The `outcome` label of the request's duration.
    pub fn outcome(self) -> &'static str {
        match self {
            RequestResult::Status(200..=399) => "success",
            RequestResult::Status(429 | 503) => "throttled",
            RequestResult::Failed(HttpErrorKind::Timeout) => "timeout",
            _ => "error",
        }
    }

    /// The `error_type` a failure is counted under (`None` for a success).
    pub fn error_type(self) -> Option<&'static str> {
        Some(match self {
            RequestResult::Status(200..=399) => return None,
            RequestResult::Status(429 | 503) => "throttled",
            RequestResult::Status(401 | 403) => "credentials",
            RequestResult::Status(404) => "not_found",
            RequestResult::Status(500..) => "server_error",
            RequestResult::Status(_) => "request_refused",
            RequestResult::Failed(HttpErrorKind::Timeout) => "timeout",
            RequestResult::Failed(HttpErrorKind::Decode) => "bad_response",
            RequestResult::Failed(_) => "connection",
        })
    }
}

/// The sink's request metrics and the memory of failed requests.
#[derive(Debug, Clone)]
pub struct RequestMetrics {
    sink: SinkMetrics,
    errors: ErrorCounters,
    failed: Arc<Mutex<VecDeque<(Method, Uri)>>>,
}

impl RequestMetrics {
    pub fn new(sink: SinkMetrics) -> RequestMetrics {
        RequestMetrics {
            errors: ErrorCounters::new(&sink),
            sink,
            failed: Arc::new(Mutex::new(VecDeque::with_capacity(REMEMBERED_FAILURES))),
        }
    }

    /// Counts a retry when this request failed before (and forgets that failure).
    fn note_sending(&self, method: &Method, uri: &Uri) {
        let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        if failed.is_empty() {
            return;
        }
        if let Some(i) = failed.iter().position(|(m, u)| m == method && u == uri) {
            failed.remove(i);
            drop(failed);
            self.sink.retry();
        }
    }

    fn note_result(&self, method: Method, uri: Uri, result: RequestResult) {
        let Some(kind) = result.error_type() else {
            return;
        };
        let errors = &self.errors;
        let counter = match kind {
            "throttled" => &errors.throttled,
            "credentials" => &errors.credentials,
            "not_found" => &errors.not_found,
            "server_error" => &errors.server_error,
            "request_refused" => &errors.request_refused,
            "timeout" => &errors.timeout,
            "bad_response" => &errors.bad_response,
            _ => &errors.connection,
        };
        counter.increment(1);
        debug_assert!(result.is_failure());
        let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        if failed.len() == REMEMBERED_FAILURES {
            failed.pop_front();
        }
        failed.push_back((method, uri));
    }

    /// Sends `request` through `inner`, measured.
    pub async fn measure<F, Fut>(&self, request: HttpRequest, inner: F) -> Fut::Output
    where
        F: FnOnce(HttpRequest) -> Fut,
        Fut: std::future::Future<Output = Result<HttpResponse, HttpError>>,
    {
        if !is_s3_request(&request) {
            return inner(request).await;
        }
        let method = request.method().clone();
        let uri = request.uri().clone();
        self.note_sending(&method, &uri);
        let timer = self.sink.start_request();
        let response = inner(request).await;
        let result = match &response {
            Ok(r) => RequestResult::Status(r.status().as_u16()),
            Err(e) => RequestResult::Failed(e.kind()),
        };
        timer.finish(result.outcome());
        self.note_result(method, uri, result);
        response
    }
}

/// Whether the request is signed for S3 (SigV4 credential scope `…/s3/aws4_request`).
fn is_s3_request(request: &HttpRequest) -> bool {
    request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("/s3/aws4_request"))
}

/// The object_store connector of the sink: reqwest, measured.
#[derive(Debug, Clone)]
pub struct InstrumentedConnector {
    pub metrics: RequestMetrics,
}

impl HttpConnector for InstrumentedConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(InstrumentedService {
            inner,
            metrics: self.metrics.clone(),
        }))
    }
}

#[derive(Debug)]
struct InstrumentedService {
    inner: HttpClient,
    metrics: RequestMetrics,
}

#[async_trait::async_trait]
impl HttpService for InstrumentedService {
    async fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        self.metrics
            .measure(request, |r| self.inner.execute(r))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, uri: &str, service: &str) -> HttpRequest {
        hyper::Request::builder()
            .method(method)
            .uri(uri)
            .header(
                "authorization",
                format!("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00"),
            )
            .body(object_store::client::HttpRequestBody::from(Vec::new()))
            .unwrap()
    }

    fn answer(status: u16) -> Result<HttpResponse, HttpError> {
        Ok(hyper::Response::builder()
            .status(status)
            .body(object_store::client::HttpResponseBody::from(Vec::new()))
            .unwrap())
    }

    /// Sends requests through `measure` with scripted answers and renders the metrics.
    fn run(script: Vec<(HttpRequest, Result<HttpResponse, HttpError>)>) -> String {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            let metrics = RequestMetrics::new(SinkMetrics::new("archive", "s3"));
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            for (request, answer) in script {
                let _ = runtime.block_on(metrics.measure(request, |_| async move { answer }));
            }
        });
        handle.render()
    }

    fn value(text: &str, sample: &str) -> f64 {
        text.lines()
            .find(|l| l.starts_with(sample) && l[sample.len()..].starts_with([' ', '{']))
            .or_else(|| text.lines().find(|l| l.starts_with(sample)))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{sample} in\n{text}"))
    }

    #[test]
    fn the_same_operation_after_a_failure_is_a_retry() {
        let part = "http://store:8333/bucket/k-1.ndjson.gz?partNumber=2&uploadId=u1";
        let other = "http://store:8333/bucket/k-2.ndjson.gz";
        let timeout = || {
            Err(HttpError::new(
                HttpErrorKind::Timeout,
                std::io::Error::other("timed out"),
            ))
        };
        let text = run(vec![
            (request("PUT", part, "s3"), answer(503)),
            (request("PUT", other, "s3"), answer(200)),
            (request("PUT", part, "s3"), timeout()),
            (request("PUT", part, "s3"), answer(200)),
            // Another object failing once, and a credential fetch (not an S3 request).
            (request("PUT", other, "s3"), answer(500)),
            (request("POST", "http://sts:443/", "sts"), answer(500)),
        ]);
        let labels = r#"{component_id="archive",component_kind="sink",component_type="s3""#;
        let count = |outcome: &str| {
            value(
                &text,
                &format!(
                    "logweir_sink_request_duration_seconds_count{labels},outcome=\"{outcome}\"}}"
                ),
            )
        };
        assert_eq!(count("success"), 2.0);
        assert_eq!(count("throttled"), 1.0);
        assert_eq!(count("timeout"), 1.0);
        assert_eq!(count("error"), 1.0);
        // The part was sent again twice after failing; `other` failed last, not retried yet.
        assert_eq!(value(&text, "logweir_sink_retries_total"), 2.0);
        assert_eq!(value(&text, "logweir_sink_in_flight_requests"), 0.0);
        let errors = |kind: &str| {
            value(
                &text,
                &format!("logweir_component_errors_total{labels},error_type=\"{kind}\"}}"),
            )
        };
        assert_eq!(errors("throttled"), 1.0);
        assert_eq!(errors("timeout"), 1.0);
        assert_eq!(errors("server_error"), 1.0);
        assert_eq!(errors("connection"), 0.0);
    }

    #[test]
    fn results_have_an_outcome_and_an_error_kind() {
        use RequestResult::{Failed, Status};
        let cases = [
            (Status(200), "success", None),
            (Status(204), "success", None),
            (Status(503), "throttled", Some("throttled")),
            (Status(429), "throttled", Some("throttled")),
            (Status(500), "error", Some("server_error")),
            (Status(403), "error", Some("credentials")),
            (Status(404), "error", Some("not_found")),
            (Status(400), "error", Some("request_refused")),
            (Failed(HttpErrorKind::Timeout), "timeout", Some("timeout")),
            (Failed(HttpErrorKind::Connect), "error", Some("connection")),
            (Failed(HttpErrorKind::Decode), "error", Some("bad_response")),
        ];
        for (result, outcome, kind) in cases {
            assert_eq!(result.outcome(), outcome, "{result:?}");
            assert_eq!(result.error_type(), kind, "{result:?}");
            assert_eq!(result.is_failure(), kind.is_some(), "{result:?}");
        }
    }
}
