//! logweir: a high-throughput log pipeline.
//!
//! Sources ([`sources`]) read events, transforms ([`transforms`]) parse, enrich, filter and
//! route them, sinks ([`sinks`]) deliver them. A pipeline is one TOML file ([`config`]);
//! [`topology`] runs it as one task per component joined by bounded channels of
//! [`event::EventBatch`]es.

pub mod api;
pub mod api_client;
pub mod buffers;
pub mod cli;
pub mod codec;
pub mod condition;
pub mod config;
pub mod dead_letter;
pub mod event;
pub mod finalization;
pub mod graph;
pub mod internal_logs;
pub mod internal_metrics;
pub mod pipeline_tests;
pub mod readiness;
pub mod reload;
pub mod replay;
pub mod sinks;
pub mod sources;
pub mod tap;
pub mod template;
pub mod time;
pub mod top;
pub mod topology;
pub mod transforms;
