//! What is retried and how long to wait.
//!
//! Two levels: object_store retries each HTTP request a few times quickly (throttling 503
//! SlowDown / 429, other 5xx, connection errors, timeouts). When a request still fails, the
//! sink retries the whole operation (one PUT, one part, the completion) with exponential
//! backoff and full jitter, until it succeeds, the configured attempts run out, or the error
//! is one that waiting cannot fix ([`FailureKind::Fatal`]: rejected credentials, a missing
//! bucket) or that lost the multipart upload ([`FailureKind::UploadLost`]).

use std::future::Future;
use std::time::Duration;

use super::config::RetryConfig;

/// How an upload failure should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Throttling, 5xx, network: wait and try again.
    Retryable,
    /// The multipart upload id is gone (`NoSuchUpload`): its parts cannot be completed.
    UploadLost,
    /// Credentials rejected, bucket missing, request refused: retrying cannot help.
    Fatal,
}

/// An upload that did not succeed. The message never contains credentials: object_store's
/// errors carry the request path and the store's error response, not the signing key.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct UploadError {
    pub kind: FailureKind,
    pub message: String,
}

/// Classifies an object_store error.
pub fn classify(error: &object_store::Error) -> FailureKind {
    use object_store::Error as E;
    let text = error.to_string();
    match error {
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => FailureKind::Fatal,
        E::NotFound { .. } if text.contains("NoSuchUpload") => FailureKind::UploadLost,
        E::NotFound { .. } => FailureKind::Fatal,
        E::Generic { .. } | E::JoinError { .. } => {
            if text.contains("NoSuchUpload") {
                FailureKind::UploadLost
            } else if text.contains("RequestTimeout") || text.contains("ExpiredToken") {
                // 400s that a new attempt (with fresh credentials) fixes.
                FailureKind::Retryable
            } else if [
                "AccessDenied",
                "InvalidAccessKeyId",
                "SignatureDoesNotMatch",
                "NoSuchBucket",
                "400 Bad Request",
                // A request that could not even be built (bad URL, bad header value).
                "builder error",
            ]
            .iter()
            .any(|needle| text.contains(needle))
            {
                FailureKind::Fatal
            } else {
                FailureKind::Retryable
            }
        }
        _ => FailureKind::Fatal,
    }
}

/// A human hint for fatal errors.
pub fn explain(error: &object_store::Error) -> &'static str {
    use object_store::Error as E;
    let text = error.to_string();
    match error {
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
            "the S3 endpoint rejected the credentials (check access_key_id / secret_access_key or the AWS credential chain, and the bucket policy)"
        }
        _ if text.contains("SignatureDoesNotMatch") || text.contains("InvalidAccessKeyId") => {
            "the S3 endpoint rejected the credentials (check access_key_id / secret_access_key or the AWS credential chain)"
        }
        E::NotFound { .. } if !text.contains("NoSuchUpload") => {
            "the bucket does not exist or is not visible with these credentials"
        }
        _ => "",
    }
}

/// Exponential backoff with full jitter: attempt n waits a random time in
/// `[cap/2, cap]` where `cap = min(max, initial * 2^n)`.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(config: &RetryConfig) -> Backoff {
        Backoff {
            initial: config.initial_backoff(),
            max: config.max_backoff(),
            attempt: 0,
        }
    }

    pub fn next_delay(&mut self) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(20));
        self.attempt += 1;
        let cap = self.initial.saturating_mul(factor).min(self.max);
        let half = cap / 2;
        let jitter = rand::random::<f64>();
        half + half.mul_f64(jitter)
    }
}

/// Runs `operation` until it succeeds, retrying [`FailureKind::Retryable`] failures with
/// backoff. `what` names the operation in logs (a key, never a credential).
pub async fn retry<T, F, Fut>(
    component_id: &str,
    what: &str,
    config: &RetryConfig,
    mut operation: F,
) -> Result<T, UploadError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, object_store::Error>>,
{
    let mut backoff = Backoff::new(config);
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let error = match operation().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let kind = classify(&error);
        let hint = explain(&error);
        let message = if hint.is_empty() {
            format!("{what}: {error}")
        } else {
            format!("{what}: {hint}: {error}")
        };
        if kind != FailureKind::Retryable
            || (config.max_attempts > 0 && attempt >= config.max_attempts)
        {
            return Err(UploadError { kind, message });
        }
        let delay = backoff.next_delay();
        tracing::warn!(component_id = %component_id, attempt, retry_in_ms = delay.as_millis() as u64, error = %message, "s3 upload failed; retrying");
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let config = RetryConfig {
            initial_backoff_ms: 100,
            max_backoff_secs: 1,
            ..RetryConfig::default()
        };
        let mut b = Backoff::new(&config);
        let d0 = b.next_delay();
        assert!(d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100));
        let d1 = b.next_delay();
        assert!(d1 >= Duration::from_millis(100) && d1 <= Duration::from_millis(200));
        for _ in 0..40 {
            assert!(b.next_delay() <= Duration::from_secs(1));
        }
    }

    #[test]
    fn classifies_errors() {
        let denied = object_store::Error::PermissionDenied {
            path: "k".into(),
            source: "403".into(),
        };
        assert_eq!(classify(&denied), FailureKind::Fatal);
        let slow = object_store::Error::Generic {
            store: "S3",
            source: "503 Service Unavailable: SlowDown".into(),
        };
        assert_eq!(classify(&slow), FailureKind::Retryable);
        let lost = object_store::Error::NotFound {
            path: "k".into(),
            source: "NoSuchUpload".into(),
        };
        assert_eq!(classify(&lost), FailureKind::UploadLost);
    }
}
