//! Uploads: one object with a single PUT, or a multipart upload whose parts go up as they
//! fill. Each request is retried per `retry.rs`; a multipart upload that cannot be completed
//! is aborted so that no half object stays behind.
//!
//! Every object carries `Content-Type: application/x-ndjson`, `Content-Encoding` of its
//! compression (so downloads decompress transparently) and the configured storage class.

use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::AmazonS3;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{
    Attribute, AttributeValue, Attributes, ObjectStore, PutMultipartOptions, PutOptions, PutPayload,
};

use super::config::RetryConfig;
use super::encoder::Compression;
use super::retry::{retry, FailureKind, UploadError};

pub const CONTENT_TYPE: &str = "application/x-ndjson";

/// Everything an upload needs; cheap to clone into tasks.
#[derive(Debug, Clone)]
pub struct UploadService {
    pub component_id: Arc<str>,
    pub store: Arc<AmazonS3>,
    attributes: Attributes,
    retry: RetryConfig,
}

impl UploadService {
    pub fn new(
        component_id: &str,
        store: Arc<AmazonS3>,
        compression: Compression,
        storage_class: Option<&str>,
        retry: RetryConfig,
    ) -> UploadService {
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, AttributeValue::from(CONTENT_TYPE));
        if let Some(encoding) = compression.content_encoding() {
            attributes.insert(Attribute::ContentEncoding, AttributeValue::from(encoding));
        }
        if let Some(class) = storage_class {
            attributes.insert(
                Attribute::StorageClass,
                AttributeValue::from(class.to_string()),
            );
        }
        UploadService {
            component_id: component_id.into(),
            store,
            attributes,
            retry,
        }
    }

    /// Uploads a whole object with one PUT (retried until it succeeds or fails for good).
    pub async fn put_object(&self, key: &str, body: Bytes) -> Result<(), UploadError> {
        let path = Path::from(key);
        let payload = PutPayload::from_bytes(body);
        let what = format!("uploading s3 object `{key}`");
        retry(&self.component_id, &what, &self.retry, || {
            let opts = PutOptions {
                attributes: self.attributes.clone(),
                ..PutOptions::default()
            };
            let payload = payload.clone();
            let path = path.clone();
            async move { self.store.put_opts(&path, payload, opts).await }
        })
        .await
        .map(|_| ())
    }

    /// Starts a multipart upload (CreateMultipartUpload).
    pub async fn create_multipart(&self, key: &str) -> Result<MultipartUpload, UploadError> {
        let path = Path::from(key);
        let what = format!("starting multipart upload of s3 object `{key}`");
        let id = retry(&self.component_id, &what, &self.retry, || {
            let opts = PutMultipartOptions {
                attributes: self.attributes.clone(),
                ..PutMultipartOptions::default()
            };
            let path = path.clone();
            async move { self.store.create_multipart_opts(&path, opts).await }
        })
        .await?;
        Ok(MultipartUpload {
            service: self.clone(),
            key: key.to_string(),
            path,
            id,
        })
    }
}

/// One started multipart upload. Parts are uploaded with explicit part numbers, so a failed
/// part is retried under the same number.
#[derive(Debug, Clone)]
pub struct MultipartUpload {
    service: UploadService,
    pub key: String,
    path: Path,
    id: String,
}

impl MultipartUpload {
    /// Uploads part `index` (0-based).
    pub async fn put_part(&self, index: usize, body: Bytes) -> Result<PartId, UploadError> {
        let payload = PutPayload::from_bytes(body);
        let what = format!("uploading part {} of s3 object `{}`", index + 1, self.key);
        let s = &self.service;
        retry(&s.component_id, &what, &s.retry, || {
            let payload = payload.clone();
            async move { s.store.put_part(&self.path, &self.id, index, payload).await }
        })
        .await
    }

    /// CompleteMultipartUpload with the parts in order.
    pub async fn complete(&self, parts: Vec<PartId>) -> Result<(), UploadError> {
        let what = format!("completing multipart upload of s3 object `{}`", self.key);
        let s = &self.service;
        retry(&s.component_id, &what, &s.retry, || {
            let parts = parts.clone();
            async move {
                s.store
                    .complete_multipart(&self.path, &self.id, parts)
                    .await
            }
        })
        .await
        .map(|_| ())
    }

    /// AbortMultipartUpload, so the store drops the parts. Best effort, a few attempts: an
    /// upload that cannot be aborted is left to the bucket's abort-incomplete rule.
    pub async fn abort(&self) {
        let s = &self.service;
        let mut config = s.retry.clone();
        config.max_attempts = 3;
        let what = format!("aborting multipart upload of s3 object `{}`", self.key);
        let result = retry(&s.component_id, &what, &config, || async move {
            s.store.abort_multipart(&self.path, &self.id).await
        })
        .await;
        match result {
            Ok(()) => {
                tracing::info!(component_id = %s.component_id, key = %self.key, "aborted multipart upload")
            }
            Err(e) if e.kind == FailureKind::UploadLost => {}
            Err(e) => {
                tracing::warn!(component_id = %s.component_id, key = %self.key, error = %e, "could not abort multipart upload")
            }
        }
    }
}
