//! `blackhole` sink: counts events and discards them (benchmarks, testing a pipeline's
//! upstream). Optionally consumes at a fixed rate, to play a slow destination.

use std::time::Duration;

use serde::Deserialize;

use crate::finalization::EventStatus;
use crate::topology::{ComponentError, ComponentFuture, SinkContext};

/// Discards events.
#[derive(Debug, Clone, Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlackholeConfig {
    /// Events per second to accept at most; 0 = as fast as they come.
    #[serde(default)]
    pub rate: u64,
}

impl BlackholeConfig {
    pub fn build(&self, ctx: SinkContext) -> Result<ComponentFuture, String> {
        Ok(Box::pin(run(self.rate, ctx)))
    }
}

async fn run(rate: u64, mut ctx: SinkContext) -> Result<(), ComponentError> {
    let mut events: u64 = 0;
    let start = tokio::time::Instant::now();
    // Nothing to reach: ready at start.
    ctx.readiness.mark_healthy();
    while let Some(mut batch) = ctx.input.recv().await {
        // Only counted: reading a field would decode it (events parsed from JSON keep
        // their text until a field is read), which a discarding sink has no reason to pay.
        events += batch.len() as u64;
        batch.finish(EventStatus::Delivered);
        if rate > 0 {
            let due = start + Duration::from_secs_f64(events as f64 / rate as f64);
            tokio::time::sleep_until(due).await;
        }
    }
    tracing::info!(component_id = %ctx.id, events, "blackhole discarded events");
    Ok(())
}
