//! `s3` sink: archives events as compressed NDJSON objects in S3 or an S3-compatible store.
//!
//! - `config.rs`: what the user writes; connection settings shared with `s3_archive`.
//! - `key.rs`: the key template and the per-object `{{ uuid }}`.
//! - `encoder.rs`: NDJSON lines compressed while a batch fills (gzip, zstd, none).
//! - `sink.rs`: the batching loop (group by key, close on size / time / shutdown).
//! - `service.rs`: uploads (single PUT or multipart with parts streamed as they fill).
//! - `request_metrics.rs`: every HTTP request to the store timed and counted (latency by
//!   outcome, in flight, retries, errors by kind).
//! - `retry.rs`: what is retried, exponential backoff with jitter.
//! - `lifecycle.rs` + `sigv4.rs`: bucket lifecycle rules and the startup bucket check,
//!   signed by hand.
//!
//! Delivery: an event is acknowledged only once the object holding it is confirmed by the
//! store. `DESIGN.md` explains the multipart failure handling.

pub mod config;
pub mod encoder;
pub mod key;
pub mod lifecycle;
pub mod request_metrics;
pub mod retry;
pub mod service;
pub mod sigv4;
pub mod sink;

use std::time::Duration;

pub use config::S3SinkConfig;

use crate::topology::{ComponentError, ComponentFuture, SinkContext};

impl S3SinkConfig {
    pub fn build(&self, ctx: SinkContext) -> Result<ComponentFuture, String> {
        self.validate()?;
        let key = key::KeyTemplate::parse(&self.key)?;
        let connection = self.connection();
        let sink_metrics = crate::internal_metrics::SinkMetrics::new(&ctx.id, "s3");
        let store = connection.build_store_with(Some(request_metrics::InstrumentedConnector {
            metrics: request_metrics::RequestMetrics::new(sink_metrics.clone()),
        }))?;
        let bucket_client = lifecycle::BucketClient::new(&connection, &store)?;
        let service = service::UploadService::new(
            &ctx.id,
            store,
            self.compression,
            self.storage_class.as_deref(),
            self.retry.clone(),
        );
        let settings = sink::SinkSettings {
            key,
            compression: self.compression,
            max_bytes: self.batch.max_bytes,
            timeout: Duration::from_secs(self.batch.timeout_secs.max(1)),
            part_bytes: self.multipart_part_bytes as usize,
            max_open_batches: self.max_open_batches,
            max_concurrent_uploads: self.max_concurrent_uploads,
        };
        let healthcheck = self.healthcheck;
        let lifecycle_rules = self
            .manage_lifecycle
            .then(|| lifecycle::desired_rules(&self.lifecycle));
        let bucket = self.bucket.clone();
        Ok(Box::pin(async move {
            let id = ctx.id.clone();
            if healthcheck {
                match bucket_client.check_bucket().await {
                    Ok(()) => {}
                    Err(e @ lifecycle::BucketError::Network(_)) => {
                        tracing::warn!(component_id = %id, bucket = %bucket, error = %e, "s3 bucket check failed; uploads will retry");
                    }
                    Err(e) if e.is_auth() => {
                        return Err(ComponentError::new(format!(
                            "bucket `{bucket}`: the S3 endpoint rejected the credentials (check access_key_id / secret_access_key or the AWS credential chain): {e}"
                        )));
                    }
                    Err(lifecycle::BucketError::Status { status: 404, .. }) => {
                        return Err(ComponentError::new(format!(
                            "bucket `{bucket}` does not exist (create it, or set `healthcheck = false` for stores that create buckets on first write)"
                        )));
                    }
                    Err(e) => {
                        return Err(ComponentError::new(format!("bucket `{bucket}`: {e}")));
                    }
                }
            }
            if let Some(rules) = lifecycle_rules {
                if let Err(e) = lifecycle::apply(&id, &bucket_client, &rules).await {
                    if e.is_auth() {
                        return Err(ComponentError::new(format!(
                            "bucket `{bucket}`: cannot manage the lifecycle configuration: {e}"
                        )));
                    }
                    tracing::warn!(component_id = %id, bucket = %bucket, error = %e, "could not apply the bucket lifecycle configuration; archiving continues");
                }
            }
            sink::S3Sink::new(&id, settings, service, &sink_metrics)
                .run(ctx)
                .await
        }))
    }
}
