//! The HTTP API (`[api] address = "127.0.0.1:9598"`):
//! - `GET /health`: the process is up (liveness);
//! - `GET /ready`: 200 once every sink has reached its destination, else 503 with a JSON body
//!   naming the sinks not ready yet (readiness; see [`crate::readiness`]);
//! - `GET /metrics`: Prometheus text exposition of every `logweir_*` metric (see
//!   [`crate::internal_metrics`]);
//! - `GET /tap/{component_id}?rate=N&limit=N`: the events leaving a source or transform as
//!   NDJSON, sampled to at most `rate` per second (default 100), ending after `limit` events
//!   if given (see [`crate::tap`]). The response is streamed (chunked).
//!
//! Served with hyper on the pipeline's runtime. The Prometheus recorder is process-global and
//! installed once, before the topology starts, so that every component registers its metric
//! handles against it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::internal_metrics;
use crate::readiness::Readiness;
use crate::tap::{TapError, Taps};

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// Events per second a tap sends when the request gives no `rate`.
pub const DEFAULT_TAP_RATE: u64 = 100;

/// Installs the Prometheus recorder (once per process) and returns its handle.
pub fn install_metrics_recorder() -> PrometheusHandle {
    RECORDER
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(internal_metrics::BATCH_EVENTS.to_string()),
                    internal_metrics::BATCH_EVENTS_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(internal_metrics::SINK_REQUEST_DURATION.to_string()),
                        internal_metrics::REQUEST_DURATION_BUCKETS,
                    )
                })
                .expect("bucket lists are not empty");
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (an embedding program); ours then
            // renders only what it sees, which is still correct output.
            let _ = metrics::set_global_recorder(recorder);
            internal_metrics::describe();
            let started = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            metrics::gauge!(internal_metrics::START_TIME).set(started.floor());
            handle
        })
        .clone()
}

/// What the API serves from.
#[derive(Clone)]
pub struct ApiState {
    pub metrics: PrometheusHandle,
    pub readiness: Readiness,
    pub taps: Taps,
}

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {address}: {source}")]
pub struct ApiError {
    address: SocketAddr,
    source: std::io::Error,
}

/// Binds `address` and serves until `shutdown` is cancelled. Returns the bound address
/// (useful with port 0).
pub async fn serve(
    address: SocketAddr,
    state: ApiState,
    shutdown: CancellationToken,
) -> Result<SocketAddr, ApiError> {
    let listener = TcpListener::bind(address)
        .await
        .map_err(|source| ApiError { address, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| ApiError { address, source })?;
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = shutdown.cancelled() => return,
                a = listener.accept() => a,
            };
            let Ok((stream, _)) = accepted else { continue };
            let state = state.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| respond(req, state.clone()));
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    tracing::info!(address = %local, "api listening");
    Ok(local)
}

type Body = BoxBody<Bytes, Infallible>;

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).boxed());
    *response.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, v);
    }
    response
}

fn json_error(status: StatusCode, message: &str) -> Response<Body> {
    full(
        status,
        "application/json",
        serde_json::json!({ "error": message }).to_string(),
    )
}

async fn respond(req: Request<Incoming>, state: ApiState) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path();
    let known = matches!(path, "/health" | "/ready" | "/metrics") || path.starts_with("/tap/");
    if req.method() != Method::GET {
        return Ok(if known {
            full(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain",
                "method not allowed\n",
            )
        } else {
            not_found()
        });
    }
    Ok(match path {
        "/health" => full(StatusCode::OK, "application/json", "{\"status\":\"ok\"}"),
        "/ready" => {
            let report = state.readiness.report();
            let status = if report.is_ready() {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            full(status, "application/json", report.to_json())
        }
        "/metrics" => {
            let ready = state.readiness.report().is_ready();
            metrics::gauge!(internal_metrics::READY).set(if ready { 1.0 } else { 0.0 });
            full(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                state.metrics.render(),
            )
        }
        _ => match path.strip_prefix("/tap/") {
            Some(id) if !id.is_empty() => tap(id, req.uri().query(), &state.taps),
            _ => not_found(),
        },
    })
}

fn not_found() -> Response<Body> {
    full(
        StatusCode::NOT_FOUND,
        "text/plain",
        "not found: try /health, /ready, /metrics or /tap/{component_id}\n",
    )
}

/// `rate` and `limit` from a query string.
fn tap_params(query: Option<&str>) -> Result<(u64, Option<u64>), String> {
    let mut rate = DEFAULT_TAP_RATE;
    let mut limit = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("`{key}` must be a whole number, not `{value}`"))
        };
        match key {
            "rate" => rate = number()?,
            "limit" => limit = Some(number()?),
            other => return Err(format!("unknown parameter `{other}`: use rate and limit")),
        }
    }
    Ok((rate, limit))
}

fn tap(component_id: &str, query: Option<&str>, taps: &Taps) -> Response<Body> {
    let (rate, limit) = match tap_params(query) {
        Ok(p) => p,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
    };
    match taps.subscribe(component_id, rate, limit) {
        Ok(rx) => {
            tracing::info!(component_id, rate, limit, "tap started");
            let mut response = Response::new(BodyExt::boxed(TapBody { rx }));
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/x-ndjson"),
            );
            response
        }
        Err(e @ TapError::UnknownComponent(_)) => json_error(StatusCode::NOT_FOUND, &e.to_string()),
        Err(e @ TapError::TooManySubscribers(_)) => {
            json_error(StatusCode::TOO_MANY_REQUESTS, &e.to_string())
        }
        Err(e @ TapError::ZeroRate) => json_error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

/// A streamed response body: NDJSON chunks from a tap until the tap ends.
struct TapBody {
    rx: mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for TapBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_parameters_parse_with_defaults_and_reject_unknown_ones() {
        assert_eq!(tap_params(None), Ok((DEFAULT_TAP_RATE, None)));
        assert_eq!(tap_params(Some("rate=5&limit=10")), Ok((5, Some(10))));
        assert!(tap_params(Some("rate=fast")).is_err());
        assert!(tap_params(Some("sample=3")).is_err());
    }
}
