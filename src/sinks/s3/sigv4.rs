//! AWS Signature Version 4 for the few bucket-level requests object_store does not offer
//! (lifecycle configuration, bucket checks, bucket creation in tests).
//!
//! Hand-written (about a hundred lines over aws-lc-rs, which object_store already builds for
//! its own signing) rather than the `aws-sigv4` crate, which would add the smithy runtime
//! crates to the build for three requests. Credentials come from object_store's provider, so
//! the same chain (static, env, web identity, instance metadata) signs both.

use aws_lc_rs::{digest, hmac};

use crate::time::Civil;

/// Hex of SHA-256 of the empty body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Credentials to sign with. `Debug` hides the secret.
#[derive(Clone)]
pub struct SigningCredentials {
    pub key_id: String,
    pub secret_key: String,
    pub token: Option<String>,
}

impl std::fmt::Debug for SigningCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningCredentials")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 0xf) as usize] as char);
    }
    s
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::sign(&key, data).as_ref().to_vec()
}

/// RFC 3986 encoding as SigV4 wants it (unreserved characters kept).
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A request to sign: everything that goes into the canonical request.
#[derive(Debug)]
pub struct RequestToSign<'a> {
    pub method: &'a str,
    /// `host[:port]` as sent in the `Host` header.
    pub host: &'a str,
    /// The decoded path (`/bucket`); encoded here.
    pub path: &'a str,
    /// Query parameters, decoded.
    pub query: &'a [(&'a str, &'a str)],
    /// Extra headers to sign (lowercase names), such as `content-md5`.
    pub headers: &'a [(&'a str, String)],
    pub payload_sha256: &'a str,
}

/// The headers to add to the request: `authorization`, `x-amz-date`,
/// `x-amz-content-sha256` and, with a session token, `x-amz-security-token`.
pub fn sign(
    request: &RequestToSign<'_>,
    credentials: &SigningCredentials,
    region: &str,
    now_nanos: i64,
) -> Vec<(&'static str, String)> {
    let c = Civil::from_unix_nanos(now_nanos);
    let date = format!("{:04}{:02}{:02}", c.year, c.month, c.day);
    let amz_date = format!("{date}T{:02}{:02}{:02}Z", c.hour, c.minute, c.second);

    let mut headers: Vec<(String, String)> = vec![
        ("host".to_string(), request.host.to_string()),
        (
            "x-amz-content-sha256".to_string(),
            request.payload_sha256.to_string(),
        ),
        ("x-amz-date".to_string(), amz_date.clone()),
    ];
    if let Some(token) = &credentials.token {
        headers.push(("x-amz-security-token".to_string(), token.clone()));
    }
    for (name, value) in request.headers {
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    headers.sort();
    let canonical_headers: String = headers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let signed_headers = headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let mut query: Vec<(String, String)> = request
        .query
        .iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    query.sort();
    let canonical_query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        uri_encode(request.path, true),
        canonical_query,
        canonical_headers,
        signed_headers,
        request.payload_sha256
    );
    let scope = format!("{date}/{region}/s3/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let k_date = hmac_sha256(
        format!("AWS4{}", credentials.secret_key).as_bytes(),
        date.as_bytes(),
    );
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, b"s3");
    let k_signing = hmac_sha256(&k_service, b"aws4_request");
    let signature = hex(&hmac_sha256(&k_signing, string_to_sign.as_bytes()));

    let mut out = vec![
        (
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
                credentials.key_id
            ),
        ),
        ("x-amz-date", amz_date),
        ("x-amz-content-sha256", request.payload_sha256.to_string()),
    ];
    if let Some(token) = &credentials.token {
        out.push(("x-amz-security-token", token.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GET Object example of the AWS SigV4 documentation ("Example: GET Object"),
    /// with its published signature.
    #[test]
    fn matches_the_aws_documentation_example() {
        let creds = SigningCredentials {
            key_id: "AKIAIOSFODNN7EXAMPLE".to_string(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_string(),
            token: None,
        };
        let now = crate::time::parse_rfc3339(b"2013-05-24T00:00:00Z").unwrap();
        let headers = sign(
            &RequestToSign {
                method: "GET",
                host: "examplebucket.s3.amazonaws.com",
                path: "/test.txt",
                query: &[],
                headers: &[("range", "bytes=0-9".to_string())],
                payload_sha256: EMPTY_SHA256,
            },
            &creds,
            "us-east-1",
            now,
        );
        let auth = &headers[0].1;
        assert!(
            auth.contains("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date"),
            "{auth}"
        );
        assert!(
            auth.ends_with(
                "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
            ),
            "{auth}"
        );
        assert!(!format!("{creds:?}").contains("EXAMPLEKEY"));
    }
}
