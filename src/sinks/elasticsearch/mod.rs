//! `elasticsearch` sink: events into Elasticsearch data streams (or indices) through the bulk
//! API, with deterministic ids, per-item retries, dead letters and managed retention.
//!
//! Files by role:
//! - `config.rs`: what the user writes, and its checks (`Secret` keeps credentials out of
//!   logs);
//! - `encoder.rs`: NDJSON bulk bodies straight from events, targets, ids, gzip;
//! - `sink.rs`: the batching loop, bounded concurrency and backpressure, per-request delivery;
//! - `service.rs`: HTTP (reqwest + rustls/aws-lc-rs), endpoint rotation and health;
//! - `retry.rs`: what is retried and why;
//! - `templates.rs`: ILM policies and index templates for retention;
//! - `dead_letter.rs`: refused documents with their reason;
//! - `DESIGN.md`: the delivery, retry and duplicate invariants.

pub mod config;
pub mod dead_letter;
pub mod encoder;
pub mod retry;
pub mod service;
pub mod sink;
pub mod templates;

use std::sync::Arc;

pub use config::ElasticsearchConfig;

use crate::topology::{ComponentFuture, SinkContext};

impl ElasticsearchConfig {
    pub fn build(&self, ctx: SinkContext) -> Result<ComponentFuture, String> {
        let checked = self.validate()?;
        let client = service::EsClient::new(&checked).map_err(|e| e.to_string())?;
        let stats = Arc::new(sink::SinkStats::default());
        Ok(Box::pin(sink::run(checked, Arc::new(client), ctx, stats)))
    }
}
