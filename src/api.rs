//! The HTTP API (`[api] address = "127.0.0.1:9598"`): `GET /health` and `GET /metrics`
//! (Prometheus text exposition of every `logweir_*` metric).
//!
//! Served with hyper on the pipeline's runtime. The Prometheus recorder is process-global and
//! installed once, before the topology starts, so that every component registers its metric
//! handles against it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::OnceLock;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder (once per process) and returns its handle.
pub fn install_metrics_recorder() -> PrometheusHandle {
    RECORDER
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (an embedding program); ours then
            // renders only what it sees, which is still correct output.
            let _ = metrics::set_global_recorder(recorder);
            describe_metrics();
            handle
        })
        .clone()
}

fn describe_metrics() {
    metrics::describe_counter!(
        "logweir_component_received_events_total",
        "Events a component took from its input channel."
    );
    metrics::describe_counter!(
        "logweir_component_sent_events_total",
        "Events a component sent to its consumers."
    );
    metrics::describe_gauge!(
        "logweir_buffer_events",
        "Events waiting in a component's input channel."
    );
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
    handle: PrometheusHandle,
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
            let handle = handle.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| respond(req, handle.clone()));
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

async fn respond(
    req: Request<Incoming>,
    handle: PrometheusHandle,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, content_type, body) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/health") => (
            StatusCode::OK,
            "application/json",
            Bytes::from_static(b"{\"status\":\"ok\"}"),
        ),
        (&Method::GET, "/metrics") => (
            StatusCode::OK,
            "text/plain; version=0.0.4",
            Bytes::from(handle.render()),
        ),
        (_, "/health" | "/metrics") => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            Bytes::from_static(b"method not allowed\n"),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            Bytes::from_static(b"not found: try /health or /metrics\n"),
        ),
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, v);
    }
    Ok(response)
}
