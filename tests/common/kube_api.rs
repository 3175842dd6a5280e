//! A stand-in Kubernetes API server for the `kubernetes_metadata` tests: HTTPS on
//! `127.0.0.1` with a CA made for the test, bearer-token checks, and the two requests an
//! informer makes, answered with the real shapes:
//!
//! * `GET /api/v1/pods?fieldSelector=spec.nodeName=<node>&limit=…[&continue=…]` and
//!   `GET /api/v1/namespaces?…`: a `PodList` / `NamespaceList`, at most [`PAGE_ITEMS`] items
//!   per page (fewer than asked, as a real server may), with `metadata.resourceVersion` and a
//!   `continue` token;
//! * `…?watch=1&resourceVersion=<v>`: a chunked stream of `{"type":…,"object":…}` lines — the
//!   changes after `v` from the history, then each change as the test makes it. A version
//!   older than the compacted history gets `200` with an `ERROR` event of code 410 (what
//!   kube-apiserver does), or a plain `410` answer if [`KubeApi::answer_gone_with_status`].
//!
//! The test drives it: [`KubeApi::add_pod`], [`KubeApi::delete_pod`], [`KubeApi::add_pod_unseen`]
//! (a change the open watches miss), [`KubeApi::expire_history`] (compacts and ends every
//! watch), [`KubeApi::stop`]; and reads what was asked: [`KubeApi::requests`].

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// Most items in one LIST page, whatever the client's `limit`.
pub const PAGE_ITEMS: usize = 2;

/// One request the server answered.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    /// `list` or `watch`.
    pub kind: &'static str,
    /// `pods` or `namespaces`.
    pub resource: String,
    pub field_selector: Option<String>,
    /// A LIST page after the first (`continue` given).
    pub continued: bool,
    /// The `resourceVersion` asked for.
    pub resource_version: Option<String>,
    pub status: u16,
}

struct Watcher {
    resource: String,
    node: Option<String>,
    events: mpsc::Sender<Bytes>,
}

struct State {
    token: String,
    version: u64,
    /// resource → name key (`uid` for pods, name for namespaces) → object.
    objects: BTreeMap<String, BTreeMap<String, Value>>,
    /// `(version, resource, event type, object)`.
    history: Vec<(u64, String, &'static str, Value)>,
    /// Watches from a version older than this are answered 410.
    compacted: u64,
    gone_as_status: bool,
    watchers: Vec<Watcher>,
    requests: Vec<RequestRecord>,
}

/// The stand-in server; stops when dropped.
pub struct KubeApi {
    /// `https://127.0.0.1:<port>`
    pub endpoint: String,
    pub ca_file: PathBuf,
    pub token_file: PathBuf,
    state: Arc<Mutex<State>>,
    runtime: Option<tokio::runtime::Runtime>,
}

fn node_of(pod: &Value) -> Option<&str> {
    pod.pointer("/spec/nodeName").and_then(Value::as_str)
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

fn line(event_type: &str, object: &Value) -> Bytes {
    let mut text = serde_json::to_vec(&json!({"type": event_type, "object": object})).unwrap();
    text.push(b'\n');
    Bytes::from(text)
}

impl State {
    fn record(&mut self, event_type: &'static str, resource: &str, object: Value, notify: bool) {
        self.version += 1;
        let mut object = object;
        object["metadata"]["resourceVersion"] = json!(self.version.to_string());
        let key = if resource == "pods" {
            object["metadata"]["uid"].as_str().unwrap().to_string()
        } else {
            object["metadata"]["name"].as_str().unwrap().to_string()
        };
        let objects = self.objects.entry(resource.to_string()).or_default();
        if event_type == "DELETED" {
            objects.remove(&key);
        } else {
            objects.insert(key, object.clone());
        }
        self.history.push((
            self.version,
            resource.to_string(),
            event_type,
            object.clone(),
        ));
        if notify {
            let event = line(event_type, &object);
            self.watchers.retain(|w| {
                if w.resource != resource
                    || w.node
                        .as_deref()
                        .is_some_and(|n| node_of(&object) != Some(n))
                {
                    return true;
                }
                w.events.try_send(event.clone()).is_ok()
            });
        }
    }
}

/// Writes `ca.pem` into `dir`; returns the server's certificate chain and key.
fn make_pki(dir: &Path) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "stand-in kubernetes ca");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server_params = CertificateParams::new(vec![
        "127.0.0.1".to_string(),
        "kubernetes.default.svc".to_string(),
    ])
    .unwrap();
    let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    (
        vec![server_cert.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
    )
}

impl KubeApi {
    /// Starts the server; clients must send `Authorization: Bearer <token>` (written to
    /// `dir/token`).
    pub fn start(dir: &Path, token: &str) -> KubeApi {
        let (chain, key) = make_pki(dir);
        let token_file = dir.join("token");
        std::fs::write(&token_file, format!("{token}\n")).unwrap();
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            token: token.to_string(),
            version: 100,
            objects: BTreeMap::new(),
            history: Vec::new(),
            compacted: 0,
            gone_as_status: false,
            watchers: Vec::new(),
            requests: Vec::new(),
        }));
        let shared = Arc::clone(&state);
        runtime.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(handle(&state, req)) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        KubeApi {
            endpoint: format!("https://127.0.0.1:{port}"),
            ca_file: dir.join("ca.pem"),
            token_file,
            state,
            runtime: Some(runtime),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub fn add_pod(&self, pod: Value) {
        self.state().record("ADDED", "pods", pod, true);
    }

    pub fn modify_pod(&self, pod: Value) {
        self.state().record("MODIFIED", "pods", pod, true);
    }

    /// Deletes the pod with `uid` (a `DELETED` event carrying its last state).
    pub fn delete_pod(&self, uid: &str) {
        let mut state = self.state();
        let pod = state.objects["pods"][uid].clone();
        state.record("DELETED", "pods", pod, true);
    }

    /// Deletes a pod without telling the open watches.
    pub fn delete_pod_unseen(&self, uid: &str) {
        let mut state = self.state();
        let pod = state.objects["pods"][uid].clone();
        state.record("DELETED", "pods", pod, false);
    }

    /// Adds a pod without telling the open watches: only a LIST (or a watch from an older
    /// version) shows it.
    pub fn add_pod_unseen(&self, pod: Value) {
        self.state().record("ADDED", "pods", pod, false);
    }

    pub fn add_namespace(&self, namespace: Value) {
        self.state().record("ADDED", "namespaces", namespace, true);
    }

    /// Compacts the history (watching from any version before the current one is refused)
    /// and ends every open watch: a client that missed changes comes back with an older
    /// version and gets 410.
    pub fn expire_history(&self) {
        let mut state = self.state();
        state.compacted = state.version;
        state.watchers.clear();
    }

    /// Answer an expired version with a `410` status instead of an `ERROR` event.
    pub fn answer_gone_with_status(&self, yes: bool) {
        self.state().gone_as_status = yes;
    }

    /// Every request answered so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state().requests.clone()
    }

    /// How many `kind` requests for `resource` were answered with `status` (for lists, the
    /// first pages only: one per LIST).
    pub fn count(&self, kind: &str, resource: &str, status: u16) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.kind == kind && r.resource == resource && r.status == status)
            .filter(|r| !r.continued)
            .count()
    }

    /// How many watches are open.
    pub fn open_watches(&self, resource: &str) -> usize {
        self.state()
            .watchers
            .iter()
            .filter(|w| w.resource == resource && !w.events.is_closed())
            .count()
    }

    /// Stops serving: open connections are cut and new ones refused.
    pub fn stop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        self.stop();
    }
}

type Body = BoxBody<Bytes, Infallible>;

fn json_response(code: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(body).unwrap())).boxed())
        .unwrap()
}

fn handle(state: &Mutex<State>, req: Request<Incoming>) -> Response<Body> {
    let mut state = state.lock().unwrap();
    let url = reqwest::Url::parse(&format!("https://127.0.0.1{}", req.uri())).unwrap();
    let query: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    let resource = match url.path() {
        "/api/v1/pods" => "pods",
        "/api/v1/namespaces" => "namespaces",
        _ => "other",
    };
    let watch = matches!(query.get("watch").map(String::as_str), Some("1" | "true"));
    let field_selector = query.get("fieldSelector").cloned();
    let mut record = RequestRecord {
        kind: if watch { "watch" } else { "list" },
        resource: resource.to_string(),
        field_selector: field_selector.clone(),
        continued: query.contains_key("continue"),
        resource_version: query.get("resourceVersion").cloned(),
        status: 200,
    };
    let response = answer(
        &mut state,
        &req,
        resource,
        watch,
        &query,
        field_selector.as_deref(),
    );
    record.status = response.status().as_u16();
    state.requests.push(record);
    response
}

fn answer(
    state: &mut State,
    req: &Request<Incoming>,
    resource: &str,
    watch: bool,
    query: &BTreeMap<String, String>,
    field_selector: Option<&str>,
) -> Response<Body> {
    let expected = format!("Bearer {}", state.token);
    if req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        != Some(&expected)
    {
        return json_response(
            StatusCode::UNAUTHORIZED,
            &status(401, "Unauthorized", "Unauthorized"),
        );
    }
    if req.method() != hyper::Method::GET || resource == "other" {
        return json_response(
            StatusCode::NOT_FOUND,
            &status(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ),
        );
    }
    let node = match field_selector {
        None => None,
        Some(s) => match s.strip_prefix("spec.nodeName=") {
            Some(n) if resource == "pods" => Some(n.to_string()),
            _ => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    &status(
                        400,
                        "BadRequest",
                        &format!("unsupported field selector {s}"),
                    ),
                )
            }
        },
    };
    let matches = |object: &Value| node.as_deref().is_none_or(|n| node_of(object) == Some(n));
    if !watch {
        let items: Vec<Value> = state
            .objects
            .get(resource)
            .map(|o| o.values().filter(|v| matches(v)).cloned().collect())
            .unwrap_or_default();
        let offset: usize = query
            .get("continue")
            .map(|c| c.parse().unwrap())
            .unwrap_or(0);
        let limit: usize = query
            .get("limit")
            .map(|l| l.parse().unwrap())
            .unwrap_or(usize::MAX);
        let end = (offset + limit.min(PAGE_ITEMS)).min(items.len());
        let mut metadata = json!({"resourceVersion": state.version.to_string()});
        if end < items.len() {
            metadata["continue"] = json!(end.to_string());
        }
        let kind = if resource == "pods" {
            "PodList"
        } else {
            "NamespaceList"
        };
        return json_response(
            StatusCode::OK,
            &json!({"kind": kind, "apiVersion": "v1", "metadata": metadata,
                    "items": items[offset.min(end)..end]}),
        );
    }
    let from: u64 = query
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(state.version);
    let (tx, rx) = mpsc::channel::<Bytes>(1024);
    if from < state.compacted {
        let gone = status(
            410,
            "Expired",
            &format!("too old resource version: {from} ({})", state.compacted),
        );
        if state.gone_as_status {
            return json_response(StatusCode::GONE, &gone);
        }
        tx.try_send(line("ERROR", &gone)).unwrap();
    } else {
        for (version, r, event_type, object) in &state.history {
            if *version > from && r == resource && matches(object) {
                tx.try_send(line(event_type, object)).unwrap();
            }
        }
        state.watchers.push(Watcher {
            resource: resource.to_string(),
            node,
            events: tx,
        });
    }
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((Ok::<_, Infallible>(Frame::data(chunk)), rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(StreamBody::new(body).boxed())
        .unwrap()
}
