//! The connection to the Kubernetes API: where it is, which CA signs its certificate, and the
//! service-account bearer token; plus the two requests the watcher makes (a paginated LIST and
//! a WATCH read as a stream of JSON lines).
//!
//! The token is read from its file when first needed and again at most once a minute
//! (projected service-account tokens are rotated by the kubelet). It goes into the
//! `Authorization` header only, marked sensitive; no error or log line carries it: errors
//! name the endpoint and what failed, never the request headers.
//!
//! Every answer is read with a size bound (a page of a LIST, one WATCH line), so a broken or
//! hostile server cannot make the agent buffer without limit.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use reqwest::header::{HeaderValue, ACCEPT};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// Where the kubelet mounts a pod's service-account credentials.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// How long a token read from its file is used before the file is read again.
const TOKEN_REFRESH: Duration = Duration::from_secs(60);
/// Items asked for per LIST page.
const LIST_PAGE_ITEMS: u32 = 500;
/// Largest LIST page read (500 pods of 100 KiB each would be 50 MiB).
const MAX_LIST_PAGE_BYTES: usize = 64 << 20;
/// Largest WATCH line (one object; etcd refuses objects over 1.5 MiB).
pub const MAX_WATCH_LINE_BYTES: usize = 8 << 20;
/// Most of an error answer quoted in a message.
const MAX_QUOTED_BYTES: usize = 512;
/// Time allowed for one LIST page.
const LIST_TIMEOUT: Duration = Duration::from_secs(60);
/// Extra time given to a WATCH beyond the `timeoutSeconds` the server was asked for.
const WATCH_TIMEOUT_SLACK: Duration = Duration::from_secs(30);

/// A request to the API failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("cannot reach the Kubernetes API at {endpoint}: {message}")]
    Unreachable { endpoint: String, message: String },
    #[error("the Kubernetes API answered {status} to the {what} request: {message}")]
    Status {
        status: u16,
        what: &'static str,
        message: String,
    },
    /// The resource version asked for is no longer in the API server's history (410 Gone):
    /// the watcher must LIST again.
    #[error("the resource version expired (410 Gone)")]
    Gone,
    #[error("cannot decode the Kubernetes API's answer to the {what} request: {message}")]
    Decode { what: &'static str, message: String },
    #[error("the Kubernetes API's answer to the {what} request exceeds {limit} bytes")]
    TooLarge { what: &'static str, limit: usize },
    #[error("cannot read the service account token file {path}: {message}")]
    Token { path: String, message: String },
}

impl ApiError {
    /// The `error_type` label of `logweir_component_errors_total`.
    pub fn error_type(&self) -> &'static str {
        match self {
            ApiError::Unreachable { .. } => "kubernetes_api_unreachable",
            ApiError::Status { .. } | ApiError::Gone => "kubernetes_api_status",
            ApiError::Decode { .. } | ApiError::TooLarge { .. } => "kubernetes_api_decode",
            ApiError::Token { .. } => "kubernetes_api_token",
        }
    }
}

/// The client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("no Kubernetes API endpoint: set `endpoint`, or run in a pod (KUBERNETES_SERVICE_HOST is not set)")]
    NoEndpoint,
    #[error("invalid endpoint `{endpoint}`: {message}")]
    InvalidEndpoint { endpoint: String, message: String },
    #[error("cannot read the CA file {path}: {message}")]
    CaFile { path: String, message: String },
    #[error("cannot read the token file {path}: {message}")]
    TokenFile { path: String, message: String },
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

/// Resolved connection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub endpoint: Url,
    pub ca_file: Option<PathBuf>,
    pub token_file: Option<PathBuf>,
}

/// Parses an endpoint URL (`http` or `https`, no query).
pub fn parse_endpoint(endpoint: &str) -> Result<Url, ConnectionError> {
    let invalid = |message: String| ConnectionError::InvalidEndpoint {
        endpoint: endpoint.to_string(),
        message,
    };
    let url = Url::parse(endpoint).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https".into()));
    }
    if url.host_str().is_none() || url.query().is_some() || !url.username().is_empty() {
        return Err(invalid("expected scheme://host[:port][/path]".into()));
    }
    Ok(url)
}

impl Connection {
    /// Settings from the configuration, completed the way in-cluster clients do: the API at
    /// `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`, the token and CA from the
    /// service-account directory when those files exist. `env` reads environment variables.
    pub fn resolve(
        endpoint: Option<&str>,
        token_file: Option<&Path>,
        ca_file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Connection, ConnectionError> {
        let endpoint = match endpoint {
            Some(e) => parse_endpoint(e)?,
            None => {
                let host = env("KUBERNETES_SERVICE_HOST")
                    .filter(|h| !h.is_empty())
                    .ok_or(ConnectionError::NoEndpoint)?;
                let port = env("KUBERNETES_SERVICE_PORT")
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "443".into());
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host
                };
                parse_endpoint(&format!("https://{host}:{port}"))?
            }
        };
        let default = |name: &str| {
            let path = Path::new(SERVICE_ACCOUNT_DIR).join(name);
            path.exists().then_some(path)
        };
        let token_file = match token_file {
            Some(p) => Some(p.to_path_buf()),
            None => default("token"),
        };
        let ca_file = match ca_file {
            Some(p) => Some(p.to_path_buf()),
            None if endpoint.scheme() == "https" => default("ca.crt"),
            None => None,
        };
        Ok(Connection {
            endpoint,
            ca_file,
            token_file,
        })
    }
}

/// The bearer token, re-read from its file now and then.
struct TokenFile {
    path: PathBuf,
    /// The token and when it was read.
    current: Mutex<Option<(HeaderValue, Instant)>>,
}

impl std::fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl TokenFile {
    fn read(path: &Path) -> Result<HeaderValue, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        let token = text.trim();
        if token.is_empty() {
            return Err("the file is empty".into());
        }
        // Checked without echoing the value: a token is printable ASCII.
        let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| "the token holds characters not allowed in a header".to_string())?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// The token to send: the cached one while fresh, else the file's content. When the file
    /// cannot be read again, the last good token keeps being used.
    fn header(&self) -> Result<HeaderValue, ApiError> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((value, read_at)) = &*current {
            if read_at.elapsed() < TOKEN_REFRESH {
                return Ok(value.clone());
            }
        }
        match Self::read(&self.path) {
            Ok(value) => {
                *current = Some((value.clone(), Instant::now()));
                Ok(value)
            }
            Err(message) => match &*current {
                Some((value, _)) => Ok(value.clone()),
                None => Err(ApiError::Token {
                    path: self.path.display().to_string(),
                    message,
                }),
            },
        }
    }
}

/// An HTTP client for the API.
#[derive(Debug)]
pub struct ApiClient {
    http: reqwest::Client,
    /// The endpoint without a trailing `/`; request paths are appended.
    base: String,
    token: Option<TokenFile>,
}

/// A LIST page or a WATCH event's resource version.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListMeta {
    #[serde(default)]
    resource_version: String,
    #[serde(default, rename = "continue")]
    continue_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct ListPage<T> {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(default = "Vec::new")]
    items: Vec<T>,
}

/// A `Status` object, as in error answers and WATCH `ERROR` events.
#[derive(Debug, Default, Deserialize)]
pub struct Status {
    #[serde(default)]
    pub code: u16,
    #[serde(default)]
    pub message: String,
}

impl ApiClient {
    pub fn new(connection: &Connection) -> Result<ApiClient, ConnectionError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(2)
            .user_agent(concat!("logweir/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &connection.ca_file {
            let ca_error = |message: String| ConnectionError::CaFile {
                path: ca.display().to_string(),
                message,
            };
            let pem = std::fs::read(ca).map_err(|e| ca_error(e.to_string()))?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ca_error(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca_error("no PEM certificate in the file".into()));
            }
            builder = builder.tls_certs_only(certs);
        }
        let http = builder
            .build()
            .map_err(|e| ConnectionError::Http(e.to_string()))?;
        let token = match &connection.token_file {
            Some(path) => {
                // Read now so that a wrong path fails at start; re-read later as it rotates.
                let value =
                    TokenFile::read(path).map_err(|message| ConnectionError::TokenFile {
                        path: path.display().to_string(),
                        message,
                    })?;
                Some(TokenFile {
                    path: path.clone(),
                    current: Mutex::new(Some((value, Instant::now()))),
                })
            }
            None => None,
        };
        Ok(ApiClient {
            http,
            base: connection
                .endpoint
                .as_str()
                .trim_end_matches('/')
                .to_string(),
            token,
        })
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, ApiError> {
        let mut url =
            Url::parse(&format!("{}{path}", self.base)).map_err(|e| ApiError::Decode {
                what: "url",
                message: e.to_string(),
            })?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    async fn get(
        &self,
        what: &'static str,
        url: Url,
        timeout: Duration,
    ) -> Result<reqwest::Response, ApiError> {
        let mut request = self
            .http
            .get(url)
            .timeout(timeout)
            .header(ACCEPT, "application/json");
        if let Some(token) = &self.token {
            request = request.header(reqwest::header::AUTHORIZATION, token.header()?);
        }
        let mut response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        if status == StatusCode::GONE {
            return Err(ApiError::Gone);
        }
        if !status.is_success() {
            let body = read_limited(&mut response, MAX_QUOTED_BYTES, what, true, &self.base)
                .await
                .unwrap_or_default();
            let message = serde_json::from_slice::<Status>(&body)
                .ok()
                .filter(|s| !s.message.is_empty())
                .map(|s| s.message)
                .unwrap_or_else(|| quote(&body));
            return Err(ApiError::Status {
                status: status.as_u16(),
                what,
                message,
            });
        }
        Ok(response)
    }

    fn unreachable(&self, e: &reqwest::Error) -> ApiError {
        ApiError::Unreachable {
            endpoint: self.base.clone(),
            message: chain(e),
        }
    }

    /// Lists every object at `path` (all pages). Returns the items and the list's resource
    /// version, from which a WATCH continues.
    ///
    /// `from_cache` asks for `resourceVersion=0`: the API server answers from its watch cache
    /// instead of a quorum read of etcd (what informers do for their first LIST, so that
    /// thousands of node agents starting together do not each read every pod from etcd); a
    /// slightly old answer is fine since the WATCH continues from its version. Without it
    /// the read is consistent (after a `410`, when the cache may be behind).
    pub async fn list<T: DeserializeOwned>(
        &self,
        path: &str,
        field_selector: Option<&str>,
        from_cache: bool,
    ) -> Result<(Vec<T>, String), ApiError> {
        let mut items = Vec::new();
        let mut continue_token: Option<String> = None;
        let limit = LIST_PAGE_ITEMS.to_string();
        loop {
            let mut query = vec![("limit", limit.as_str())];
            if from_cache && continue_token.is_none() {
                query.push(("resourceVersion", "0"));
            }
            if let Some(s) = field_selector {
                query.push(("fieldSelector", s));
            }
            if let Some(c) = &continue_token {
                query.push(("continue", c.as_str()));
            }
            let url = self.url(path, &query)?;
            let mut response = self.get("list", url, LIST_TIMEOUT).await?;
            let body = read_limited(
                &mut response,
                MAX_LIST_PAGE_BYTES,
                "list",
                false,
                &self.base,
            )
            .await?;
            let page: ListPage<T> =
                serde_json::from_slice(&body).map_err(|e| ApiError::Decode {
                    what: "list",
                    message: e.to_string(),
                })?;
            items.extend(page.items);
            match page.metadata.continue_token.filter(|c| !c.is_empty()) {
                Some(c) => continue_token = Some(c),
                None => return Ok((items, page.metadata.resource_version)),
            }
        }
    }

    /// Starts a WATCH at `path` from `resource_version`, ended by the server after
    /// `timeout_secs`.
    pub async fn watch(
        &self,
        path: &str,
        field_selector: Option<&str>,
        resource_version: &str,
        timeout_secs: u64,
    ) -> Result<WatchStream, ApiError> {
        let timeout = timeout_secs.to_string();
        let mut query = vec![
            ("watch", "1"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", timeout.as_str()),
        ];
        if let Some(s) = field_selector {
            query.push(("fieldSelector", s));
        }
        let url = self.url(path, &query)?;
        let response = self
            .get(
                "watch",
                url,
                Duration::from_secs(timeout_secs) + WATCH_TIMEOUT_SLACK,
            )
            .await?;
        Ok(WatchStream {
            response,
            buffer: BytesMut::new(),
            endpoint: self.base.clone(),
        })
    }
}

/// Reads a body up to `limit` bytes: past it, an error, or (`truncate`) the first `limit`.
async fn read_limited(
    response: &mut reqwest::Response,
    limit: usize,
    what: &'static str,
    truncate: bool,
    endpoint: &str,
) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    loop {
        let chunk = response.chunk().await.map_err(|e| ApiError::Unreachable {
            endpoint: endpoint.to_string(),
            message: chain(&e),
        })?;
        let Some(chunk) = chunk else {
            return Ok(body);
        };
        if body.len() + chunk.len() > limit {
            if truncate {
                body.extend_from_slice(&chunk[..limit - body.len()]);
                return Ok(body);
            }
            return Err(ApiError::TooLarge { what, limit });
        }
        body.extend_from_slice(&chunk);
    }
}

/// An error answer for a message: one line, bounded.
fn quote(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_QUOTED_BYTES)])
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// One line of a WATCH stream: `{"type": "ADDED", "object": {...}}`.
#[derive(Debug, Deserialize)]
pub struct WatchLine {
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default)]
    pub object: serde_json::Value,
}

/// The body of a WATCH, split into lines.
#[derive(Debug)]
pub struct WatchStream {
    response: reqwest::Response,
    buffer: BytesMut,
    endpoint: String,
}

impl WatchStream {
    /// The next event; `None` when the server ended the watch.
    pub async fn next(&mut self) -> Result<Option<WatchLine>, ApiError> {
        loop {
            if let Some(line) = take_line(&mut self.buffer) {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return serde_json::from_slice(&line)
                    .map(Some)
                    .map_err(|e| ApiError::Decode {
                        what: "watch",
                        message: e.to_string(),
                    });
            }
            if self.buffer.len() > MAX_WATCH_LINE_BYTES {
                return Err(ApiError::TooLarge {
                    what: "watch",
                    limit: MAX_WATCH_LINE_BYTES,
                });
            }
            let chunk = self
                .response
                .chunk()
                .await
                .map_err(|e| ApiError::Unreachable {
                    endpoint: self.endpoint.clone(),
                    message: chain(&e),
                })?;
            match chunk {
                Some(chunk) => self.buffer.extend_from_slice(&chunk),
                // A last line without a newline still counts.
                None if !self.buffer.iter().all(u8::is_ascii_whitespace) => {
                    self.buffer.extend_from_slice(b"\n");
                }
                None => return Ok(None),
            }
        }
    }
}

/// An error with its causes ("connection refused", a TLS failure): reqwest's own message
/// names the URL (never credentials: they are only in headers).
fn chain(e: &reqwest::Error) -> String {
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
    message
}

/// Splits the first `\n`-terminated line off `buffer` (without the newline).
fn take_line(buffer: &mut BytesMut) -> Option<Bytes> {
    let end = memchr::memchr(b'\n', buffer)?;
    let line = buffer.split_to(end).freeze();
    buffer.advance(1);
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_cluster_settings_come_from_the_environment() {
        let env = |k: &str| match k {
            "KUBERNETES_SERVICE_HOST" => Some("10.96.0.1".to_string()),
            "KUBERNETES_SERVICE_PORT" => Some("6443".to_string()),
            _ => None,
        };
        let c = Connection::resolve(None, Some(Path::new("/t")), None, env).unwrap();
        assert_eq!(c.endpoint.as_str(), "https://10.96.0.1:6443/");
        assert_eq!(c.token_file.as_deref(), Some(Path::new("/t")));
        let v6 = |k: &str| (k == "KUBERNETES_SERVICE_HOST").then(|| "fd00::1".to_string());
        let c = Connection::resolve(None, None, None, v6).unwrap();
        assert_eq!(c.endpoint.as_str(), "https://[fd00::1]/");
        assert!(matches!(
            Connection::resolve(None, None, None, |_| None),
            Err(ConnectionError::NoEndpoint)
        ));
        // An explicit endpoint wins; plain HTTP gets no default CA.
        let c = Connection::resolve(Some("http://127.0.0.1:8001"), None, None, env).unwrap();
        assert_eq!(c.endpoint.as_str(), "http://127.0.0.1:8001/");
        assert_eq!(c.ca_file, None);
        for bad in ["ftp://x", "not a url", "https://u:p@host", "https://h/?a=b"] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_keep_a_path_prefix_and_encode_the_selector() {
        let c = ApiClient::new(&Connection {
            endpoint: parse_endpoint("https://rancher.example/k8s/clusters/c-1/").unwrap(),
            ca_file: None,
            token_file: None,
        })
        .unwrap();
        let url = c
            .url("/api/v1/pods", &[("fieldSelector", "spec.nodeName=node-1")])
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://rancher.example/k8s/clusters/c-1/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1"
        );
    }

    #[test]
    fn lines_are_split_across_chunks() {
        let mut b = BytesMut::from(&b"{\"a\":1}\n{\"b\""[..]);
        assert_eq!(take_line(&mut b).unwrap(), &b"{\"a\":1}"[..]);
        assert!(take_line(&mut b).is_none());
        b.extend_from_slice(b":2}\n");
        assert_eq!(take_line(&mut b).unwrap(), &b"{\"b\":2}"[..]);
        assert!(b.is_empty());
    }

    #[test]
    fn token_file_is_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cr3t-token-value\n").unwrap();
        let value = TokenFile::read(&path).unwrap();
        assert!(value.is_sensitive());
        assert_eq!(value.to_str().unwrap(), "Bearer s3cr3t-token-value");
        let client = ApiClient::new(&Connection {
            endpoint: parse_endpoint("https://127.0.0.1:1").unwrap(),
            ca_file: None,
            token_file: Some(path.clone()),
        })
        .unwrap();
        assert!(!format!("{client:?}").contains("s3cr3t"));
        // A token rotated in the file is used once the cached one is old; a file that
        // disappeared keeps the last good token.
        let token = client.token.as_ref().unwrap();
        std::fs::write(&path, "rotated").unwrap();
        *token.current.lock().unwrap() = Some((
            value,
            Instant::now() - TOKEN_REFRESH - Duration::from_secs(1),
        ));
        assert_eq!(token.header().unwrap().to_str().unwrap(), "Bearer rotated");
        std::fs::remove_file(&path).unwrap();
        *token.current.lock().unwrap() = Some((
            HeaderValue::from_static("Bearer rotated"),
            Instant::now() - TOKEN_REFRESH,
        ));
        assert_eq!(token.header().unwrap().to_str().unwrap(), "Bearer rotated");
        // A missing or empty file fails at start with the path, not the content.
        let missing = ApiClient::new(&Connection {
            endpoint: parse_endpoint("https://127.0.0.1:1").unwrap(),
            ca_file: None,
            token_file: Some(path.clone()),
        })
        .unwrap_err();
        assert!(missing.to_string().contains("token"), "{missing}");
        std::fs::write(&path, "  \n").unwrap();
        assert!(TokenFile::read(&path).is_err());
    }
}
