//! `stdout` sink: events as NDJSON on standard output.

use std::io::Write;

use serde::Deserialize;

use crate::finalization::EventStatus;
use crate::topology::{ComponentError, ComponentFuture, SinkContext};

/// Writes NDJSON to standard output.
#[derive(Debug, Clone, Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StdoutSinkConfig {}

impl StdoutSinkConfig {
    pub fn build(&self, ctx: SinkContext) -> Result<ComponentFuture, String> {
        Ok(Box::pin(async move {
            tokio::task::spawn_blocking(move || run(ctx))
                .await
                .map_err(|e| ComponentError::new(format!("stdout sink thread: {e}")))?
        }))
    }
}

fn run(mut ctx: SinkContext) -> Result<(), ComponentError> {
    let stdout = std::io::stdout();
    let mut buf = Vec::with_capacity(1 << 16);
    while let Some(mut batch) = ctx.input.blocking_recv() {
        buf.clear();
        for event in &batch.events {
            crate::codec::json::write_object(&mut buf, &event.fields);
            buf.push(b'\n');
        }
        let mut out = stdout.lock();
        match out.write_all(&buf).and_then(|()| out.flush()) {
            Ok(()) => {
                batch.finish(EventStatus::Delivered);
                ctx.readiness.mark_healthy();
            }
            Err(e) => {
                ctx.readiness.mark_unhealthy();
                batch.finish(EventStatus::Errored);
                return Err(ComponentError::new(format!("writing to stdout: {e}")));
            }
        }
    }
    Ok(())
}
