//! Bucket-level requests object_store does not offer: the bucket's lifecycle configuration
//! (GET, compare, PUT only when different), the startup bucket check, and bucket creation
//! (used by tests and tooling).
//!
//! Lifecycle is applied once at startup when `manage_lifecycle = true`. A store that refuses
//! transition rules (SeaweedFS and other S3-compatible stores without storage tiers answer
//! 501 NotImplemented or a 400) gets a warning and the expiration rules alone; it is not an
//! error, the sink still archives.

use std::sync::Arc;

use base64_engine::encode_base64;
use bytes::Bytes;
use object_store::aws::{AmazonS3, AwsCredentialProvider};
use serde::Deserialize;

use super::config::{LifecycleRuleConfig, S3Connection};
use super::sigv4::{self, RequestToSign, SigningCredentials};

/// A lifecycle rule in the form compared with the bucket's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule {
    pub id: String,
    pub prefix: String,
    pub enabled: bool,
    /// `(days, storage class)`, sorted.
    pub transitions: Vec<(u32, String)>,
    pub expire_days: Option<u32>,
}

impl Rule {
    /// The part that matters for comparison (stores may rewrite ids).
    fn essence(&self) -> (&str, bool, &[(u32, String)], Option<u32>) {
        (
            &self.prefix,
            self.enabled,
            &self.transitions,
            self.expire_days,
        )
    }
}

/// The rules of the config, in the compared form.
pub fn desired_rules(config: &[LifecycleRuleConfig]) -> Vec<Rule> {
    config
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut transitions: Vec<(u32, String)> = r
                .transitions
                .iter()
                .map(|t| (t.days, t.storage_class.clone()))
                .collect();
            transitions.sort();
            Rule {
                id: r.id.clone().unwrap_or_else(|| format!("logweir-{i}")),
                prefix: r.prefix.clone(),
                enabled: true,
                transitions,
                expire_days: r.expire_days,
            }
        })
        .collect()
}

/// Whether two rule sets mean the same (order and ids aside).
pub fn same_rules(a: &[Rule], b: &[Rule]) -> bool {
    let mut a: Vec<_> = a.iter().map(Rule::essence).collect();
    let mut b: Vec<_> = b.iter().map(Rule::essence).collect();
    a.sort();
    b.sort();
    a == b
}

/// The rules with transitions removed (rules left empty disappear).
pub fn expiration_only(rules: &[Rule]) -> Vec<Rule> {
    rules
        .iter()
        .filter(|r| r.expire_days.is_some())
        .map(|r| Rule {
            transitions: Vec::new(),
            ..r.clone()
        })
        .collect()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The `PutBucketLifecycleConfiguration` body.
pub fn to_xml(rules: &[Rule]) -> String {
    let mut x = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#,
    );
    for r in rules {
        x.push_str("<Rule><ID>");
        x.push_str(&xml_escape(&r.id));
        x.push_str("</ID><Filter><Prefix>");
        x.push_str(&xml_escape(&r.prefix));
        x.push_str("</Prefix></Filter><Status>");
        x.push_str(if r.enabled { "Enabled" } else { "Disabled" });
        x.push_str("</Status>");
        for (days, class) in &r.transitions {
            x.push_str(&format!(
                "<Transition><Days>{days}</Days><StorageClass>{}</StorageClass></Transition>",
                xml_escape(class)
            ));
        }
        if let Some(days) = r.expire_days {
            x.push_str(&format!("<Expiration><Days>{days}</Days></Expiration>"));
        }
        x.push_str("</Rule>");
    }
    x.push_str("</LifecycleConfiguration>");
    x
}

#[derive(Debug, Deserialize)]
struct LifecycleXml {
    #[serde(rename = "Rule", default)]
    rules: Vec<RuleXml>,
}

#[derive(Debug, Deserialize)]
struct RuleXml {
    #[serde(rename = "ID", default)]
    id: Option<String>,
    #[serde(rename = "Prefix", default)]
    prefix: Option<String>,
    #[serde(rename = "Filter", default)]
    filter: Option<FilterXml>,
    #[serde(rename = "Status", default)]
    status: Option<String>,
    #[serde(rename = "Transition", default)]
    transitions: Vec<TransitionXml>,
    #[serde(rename = "Expiration", default)]
    expiration: Option<ExpirationXml>,
}

#[derive(Debug, Deserialize)]
struct FilterXml {
    #[serde(rename = "Prefix", default)]
    prefix: Option<String>,
    #[serde(rename = "And", default)]
    and: Option<AndXml>,
}

#[derive(Debug, Deserialize)]
struct AndXml {
    #[serde(rename = "Prefix", default)]
    prefix: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TransitionXml {
    #[serde(rename = "Days", default)]
    days: Option<u32>,
    #[serde(rename = "StorageClass", default)]
    storage_class: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ExpirationXml {
    #[serde(rename = "Days", default)]
    days: Option<u32>,
}

/// Parses a `GetBucketLifecycleConfiguration` answer.
pub fn from_xml(xml: &str) -> Result<Vec<Rule>, String> {
    let parsed: LifecycleXml =
        quick_xml::de::from_str(xml).map_err(|e| format!("unreadable lifecycle XML: {e}"))?;
    Ok(parsed
        .rules
        .into_iter()
        .map(|r| {
            let prefix = r
                .filter
                .as_ref()
                .and_then(|f| {
                    f.prefix
                        .clone()
                        .or_else(|| f.and.as_ref().and_then(|a| a.prefix.clone()))
                })
                .or(r.prefix)
                .unwrap_or_default();
            let mut transitions: Vec<(u32, String)> = r
                .transitions
                .into_iter()
                .filter_map(|t| Some((t.days?, t.storage_class.unwrap_or_default())))
                .collect();
            transitions.sort();
            Rule {
                id: r.id.unwrap_or_default(),
                prefix,
                enabled: r.status.as_deref() == Some("Enabled"),
                transitions,
                expire_days: r.expiration.and_then(|e| e.days),
            }
        })
        .collect())
}

/// A failed bucket request. Never contains credentials: the message is built from the
/// status and the store's error code/message.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BucketError {
    #[error("cannot reach the S3 endpoint: {0}")]
    Network(String),
    #[error(
        "the S3 endpoint answered HTTP {status}{}",
        status_detail(code, message)
    )]
    Status {
        status: u16,
        code: String,
        message: String,
    },
    #[error("{0}")]
    Other(String),
}

fn status_detail(code: &str, message: &str) -> String {
    match (code.is_empty(), message.is_empty()) {
        (true, _) => String::new(),
        (false, true) => format!(" {code}"),
        (false, false) => format!(" {code}: {message}"),
    }
}

impl BucketError {
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            BucketError::Status {
                status: 401 | 403,
                ..
            }
        )
    }
}

fn error_field(body: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    body.find(&open)
        .and_then(|s| {
            let rest = &body[s + open.len()..];
            rest.find(&close).map(|e| rest[..e].to_string())
        })
        .unwrap_or_default()
}

/// Signed requests against one bucket.
#[derive(Debug, Clone)]
pub struct BucketClient {
    http: reqwest::Client,
    /// `scheme://host[:port]`.
    origin: String,
    host: String,
    /// `/bucket` (path style) or `` (virtual-hosted AWS).
    bucket_path: String,
    region: String,
    credentials: AwsCredentialProvider,
}

impl BucketClient {
    pub fn new(connection: &S3Connection, store: &AmazonS3) -> Result<BucketClient, String> {
        let (origin, bucket_path) = match &connection.endpoint {
            Some(endpoint) => (
                endpoint.trim_end_matches('/').to_string(),
                format!("/{}", connection.bucket),
            ),
            None => (
                format!(
                    "https://{}.s3.{}.amazonaws.com",
                    connection.bucket, connection.region
                ),
                String::new(),
            ),
        };
        let host = origin
            .split_once("://")
            .map(|(_, h)| h.split('/').next().unwrap_or(h).to_string())
            .ok_or_else(|| format!("invalid endpoint `{origin}`"))?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(BucketClient {
            http,
            origin,
            host,
            bucket_path,
            region: connection.region.clone(),
            credentials: Arc::clone(store.credentials()),
        })
    }

    async fn credentials(&self) -> Result<SigningCredentials, BucketError> {
        let c = self
            .credentials
            .get_credential()
            .await
            .map_err(|e| BucketError::Other(format!("cannot obtain AWS credentials: {e}")))?;
        Ok(SigningCredentials {
            key_id: c.key_id.clone(),
            secret_key: c.secret_key.clone(),
            token: c.token.clone(),
        })
    }

    /// Sends a signed request to the bucket; returns the status and body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        query: &[(&str, &str)],
        body: Bytes,
    ) -> Result<(u16, String), BucketError> {
        let credentials = self.credentials().await?;
        let path = if self.bucket_path.is_empty() {
            "/".to_string()
        } else {
            self.bucket_path.clone()
        };
        let payload_sha256 = if body.is_empty() {
            sigv4::EMPTY_SHA256.to_string()
        } else {
            sigv4::sha256_hex(&body)
        };
        let mut extra = Vec::new();
        if !body.is_empty() {
            use md5::Digest;
            let md5 = md5::Md5::digest(&body);
            extra.push(("content-md5", encode_base64(md5.as_slice())));
        }
        let signed = sigv4::sign(
            &RequestToSign {
                method: method.as_str(),
                host: &self.host,
                path: &path,
                query,
                headers: &extra,
                payload_sha256: &payload_sha256,
            },
            &credentials,
            &self.region,
            crate::time::now_unix_nanos(),
        );
        let mut url = format!("{}{}", self.origin, sigv4::uri_encode(&path, true));
        if !query.is_empty() {
            url.push('?');
            let q: Vec<String> = query
                .iter()
                .map(|(k, v)| {
                    if v.is_empty() {
                        sigv4::uri_encode(k, false)
                    } else {
                        format!(
                            "{}={}",
                            sigv4::uri_encode(k, false),
                            sigv4::uri_encode(v, false)
                        )
                    }
                })
                .collect();
            url.push_str(&q.join("&"));
        }
        let mut request = self.http.request(method, &url);
        for (name, value) in signed.iter() {
            request = request.header(*name, value);
        }
        for (name, value) in &extra {
            request = request.header(*name, value);
        }
        let response = request
            .body(body)
            .send()
            .await
            // reqwest errors name the URL (bucket path, no credentials).
            .map_err(|e| BucketError::Network(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| BucketError::Network(e.to_string()))?;
        Ok((status, text))
    }

    fn status_error(status: u16, body: &str) -> BucketError {
        BucketError::Status {
            status,
            code: error_field(body, "Code"),
            message: error_field(body, "Message"),
        }
    }

    /// HeadBucket: checks the bucket exists and the credentials are accepted.
    pub async fn check_bucket(&self) -> Result<(), BucketError> {
        let (status, body) = self.send(reqwest::Method::HEAD, &[], Bytes::new()).await?;
        match status {
            200..=299 => Ok(()),
            _ => Err(Self::status_error(status, &body)),
        }
    }

    /// CreateBucket (already existing and owned is fine).
    pub async fn create_bucket(&self) -> Result<(), BucketError> {
        let (status, body) = self.send(reqwest::Method::PUT, &[], Bytes::new()).await?;
        match status {
            200..=299 => Ok(()),
            409 if body.contains("BucketAlreadyOwnedByYou")
                || body.contains("BucketAlreadyExists") =>
            {
                Ok(())
            }
            _ => Err(Self::status_error(status, &body)),
        }
    }

    /// The bucket's lifecycle rules (empty when it has none).
    pub async fn get_lifecycle(&self) -> Result<Vec<Rule>, BucketError> {
        let (status, body) = self
            .send(reqwest::Method::GET, &[("lifecycle", "")], Bytes::new())
            .await?;
        match status {
            200..=299 => from_xml(&body).map_err(BucketError::Other),
            404 => Ok(Vec::new()),
            _ => Err(Self::status_error(status, &body)),
        }
    }

    /// Replaces the bucket's lifecycle rules (an empty set deletes the configuration).
    pub async fn put_lifecycle(&self, rules: &[Rule]) -> Result<(), BucketError> {
        let (status, body) = if rules.is_empty() {
            self.send(reqwest::Method::DELETE, &[("lifecycle", "")], Bytes::new())
                .await?
        } else {
            self.send(
                reqwest::Method::PUT,
                &[("lifecycle", "")],
                Bytes::from(to_xml(rules)),
            )
            .await?
        };
        match status {
            200..=299 => Ok(()),
            _ => Err(Self::status_error(status, &body)),
        }
    }
}

/// What applying the lifecycle did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleOutcome {
    AlreadyCurrent,
    Updated,
    /// The store refused transitions; only expiration rules were applied (or were current).
    ExpirationOnly,
}

fn rejects_transitions(e: &BucketError) -> bool {
    match e {
        BucketError::Status { status, code, .. } => {
            *status == 501
                || matches!(
                    code.as_str(),
                    "NotImplemented"
                        | "InvalidStorageClass"
                        | "InvalidRequest"
                        | "MalformedXML"
                        | "InvalidArgument"
                )
        }
        _ => false,
    }
}

/// Makes the bucket's lifecycle configuration equal `desired` (GET, compare, PUT when
/// different), falling back to expiration rules alone when transitions are refused.
pub async fn apply(
    component_id: &str,
    client: &BucketClient,
    desired: &[Rule],
) -> Result<LifecycleOutcome, BucketError> {
    let current = client.get_lifecycle().await?;
    if same_rules(&current, desired) {
        tracing::info!(
            component_id,
            rules = desired.len(),
            "bucket lifecycle already as configured"
        );
        return Ok(LifecycleOutcome::AlreadyCurrent);
    }
    match client.put_lifecycle(desired).await {
        Ok(()) => {
            tracing::info!(
                component_id,
                rules = desired.len(),
                "bucket lifecycle updated"
            );
            Ok(LifecycleOutcome::Updated)
        }
        Err(e) if rejects_transitions(&e) && desired.iter().any(|r| !r.transitions.is_empty()) => {
            tracing::warn!(component_id, error = %e, "the store refused lifecycle transitions; applying the expiration rules alone");
            let fallback = expiration_only(desired);
            if same_rules(&current, &fallback) {
                tracing::info!(
                    component_id,
                    rules = fallback.len(),
                    transitions_refused = true,
                    "bucket lifecycle already as configured"
                );
            } else {
                client.put_lifecycle(&fallback).await?;
                tracing::info!(
                    component_id,
                    rules = fallback.len(),
                    transitions_refused = true,
                    "bucket lifecycle updated"
                );
            }
            Ok(LifecycleOutcome::ExpirationOnly)
        }
        Err(e) => Err(e),
    }
}

mod base64_engine {
    /// Standard base64 with padding (for `Content-MD5`).
    pub fn encode_base64(bytes: &[u8]) -> String {
        const TABLE: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            out.push(TABLE[(n >> 18) as usize & 63] as char);
            out.push(TABLE[(n >> 12) as usize & 63] as char);
            out.push(if chunk.len() > 1 {
                TABLE[(n >> 6) as usize & 63] as char
            } else {
                '='
            });
            out.push(if chunk.len() > 2 {
                TABLE[n as usize & 63] as char
            } else {
                '='
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::s3::config::TransitionConfig;

    #[test]
    fn xml_roundtrips_and_compares_ignoring_order_and_ids() {
        let rules = desired_rules(&[
            LifecycleRuleConfig {
                id: None,
                prefix: String::new(),
                transitions: vec![
                    TransitionConfig {
                        days: 90,
                        storage_class: "GLACIER".into(),
                    },
                    TransitionConfig {
                        days: 30,
                        storage_class: "STANDARD_IA".into(),
                    },
                ],
                expire_days: Some(365),
            },
            LifecycleRuleConfig {
                id: None,
                prefix: "kube-system/".into(),
                transitions: vec![],
                expire_days: Some(30),
            },
        ]);
        let back = from_xml(&to_xml(&rules)).unwrap();
        assert_eq!(back, rules);
        let mut reordered = back.clone();
        reordered.reverse();
        reordered[0].id = "other".into();
        assert!(same_rules(&reordered, &rules));
        assert!(!same_rules(&expiration_only(&rules), &rules));
        assert_eq!(expiration_only(&rules).len(), 2);
        // AWS's legacy rule-level Prefix form.
        let legacy = from_xml("<LifecycleConfiguration><Rule><ID>x</ID><Prefix>a/</Prefix><Status>Enabled</Status><Expiration><Days>3</Days></Expiration></Rule></LifecycleConfiguration>").unwrap();
        assert_eq!(legacy[0].prefix, "a/");
        assert_eq!(legacy[0].expire_days, Some(3));
        // SeaweedFS's answer, with an empty prefix.
        let seaweed = from_xml("<?xml version=\"1.0\" encoding=\"UTF-8\"?><LifecycleConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Rule><ID>logweir-0</ID><Filter><Prefix></Prefix></Filter><Status>Enabled</Status><Expiration><Days>365</Days></Expiration></Rule><Rule><ID>logweir-1</ID><Filter><Prefix>kube-system/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>30</Days></Expiration></Rule></LifecycleConfiguration>\n").unwrap();
        assert_eq!(seaweed, expiration_only(&rules), "{seaweed:?}");
    }

    #[test]
    fn base64_matches_known_values() {
        assert_eq!(encode_base64(b""), "");
        assert_eq!(encode_base64(b"f"), "Zg==");
        assert_eq!(encode_base64(b"fo"), "Zm8=");
        assert_eq!(encode_base64(b"foobar"), "Zm9vYmFy");
    }
}
