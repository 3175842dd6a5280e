//! `stdin` source: one event per line of standard input, until end of input.

use serde::Deserialize;
use tokio::io::AsyncReadExt;

use super::lines::{to_utf8, Line, LineSplitter};
use crate::event::{Event, EventBatch};
use crate::topology::{ComponentError, ComponentFuture, SourceContext, MAX_BATCH_EVENTS};

/// Reads standard input line by line.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StdinConfig {
    /// Lines longer than this are cut and tagged `truncated`.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
}

pub(crate) fn default_max_line_bytes() -> usize {
    1024 * 1024
}

const READ_CHUNK: usize = 256 * 1024;

impl StdinConfig {
    pub fn build(&self, ctx: SourceContext) -> Result<ComponentFuture, String> {
        let max_line_bytes = self.max_line_bytes;
        Ok(Box::pin(run(max_line_bytes, ctx)))
    }
}

/// Turns lines into events stamped with the receive time.
pub(crate) fn lines_to_batch(lines: &mut Vec<Line>, now_nanos: i64) -> EventBatch {
    let mut events = Vec::with_capacity(lines.len());
    for line in lines.drain(..) {
        let (text, invalid) = to_utf8(line.bytes);
        let mut event = Event::from_message(text, now_nanos);
        if line.truncated {
            event.add_tag("truncated");
        }
        if invalid {
            event.add_tag("invalid_utf8");
        }
        events.push(event);
    }
    EventBatch::new(events)
}

async fn run(max_line_bytes: usize, ctx: SourceContext) -> Result<(), ComponentError> {
    let mut stdin = tokio::io::stdin();
    let mut splitter = LineSplitter::new(max_line_bytes, 0);
    let mut lines = Vec::new();
    let mut read_lines: u64 = 0;
    loop {
        splitter.buffer_mut().reserve(READ_CHUNK);
        let (n, stopped) = tokio::select! {
            biased;
            () = ctx.shutdown.cancelled() => (0, true),
            r = stdin.read_buf(splitter.buffer_mut()) => {
                (r.map_err(|e| ComponentError::new(format!("reading stdin: {e}")))?, false)
            }
        };
        let mut incomplete = false;
        if n == 0 {
            if let Some(last) = splitter.finish() {
                lines.push(last);
                // Stopped mid-stream, the remainder is a fragment of a line, not a line
                // whose writer simply omitted the final newline.
                incomplete = stopped;
            }
        } else {
            splitter.drain_lines(&mut lines);
        }
        let now = crate::time::now_unix_nanos();
        read_lines += lines.len() as u64;
        while !lines.is_empty() {
            let take = lines.len().min(MAX_BATCH_EVENTS);
            let mut chunk: Vec<Line> = lines.drain(..take).collect();
            let mut batch = lines_to_batch(&mut chunk, now);
            if incomplete && lines.is_empty() {
                if let Some(last) = batch.events.last_mut() {
                    last.add_tag("incomplete_line");
                }
            }
            ctx.output.send(batch).await?;
        }
        if n == 0 {
            tracing::info!(component_id = %ctx.id, lines = read_lines, bytes = splitter.consumed_offset(), "stdin source finished");
            return Ok(());
        }
    }
}
