//! Sink buffers: what sits between a sink's input channel and the sink.
//!
//! `buffer = { type = "memory", max_events = 10000 }` (the default) sizes the sink's input
//! channel. `buffer = { type = "disk", max_bytes = …, when_full = "block" }` puts a
//! [`disk::DiskBuffer`] in front of the sink: events are written to checksummed segment files,
//! acknowledged upstream once on disk, read back incrementally for the sink, and replayed
//! after a restart. `when_full` says what happens when the buffer is full: `block` (the
//! default: backpressure) or `drop_newest` (discard new events and count them).

pub mod disk;

use serde::Deserialize;

use crate::topology::MAX_BATCH_EVENTS;

/// What to do with new events when a buffer is full.
#[derive(
    Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Wait: the pipeline slows down to the sink's pace (backpressure).
    #[default]
    Block,
    /// Discard the new events (counted in `logweir_buffer_discarded_events_total`).
    DropNewest,
}

/// A sink's buffer.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum BufferConfig {
    /// In memory, bounded by a number of events.
    Memory {
        /// Events the buffer holds at most.
        #[serde(default = "default_max_events")]
        max_events: usize,
        /// What happens to new events when the buffer is full.
        #[serde(default)]
        when_full: WhenFull,
    },
    /// On disk under `data_dir/buffers/<sink id>/`, bounded by bytes.
    Disk {
        /// Bytes of segment files the buffer holds at most (at least 1 MiB).
        max_bytes: u64,
        /// What happens to new events when the buffer is full.
        #[serde(default)]
        when_full: WhenFull,
    },
}

fn default_max_events() -> usize {
    10_000
}

impl Default for BufferConfig {
    fn default() -> BufferConfig {
        BufferConfig::Memory {
            max_events: default_max_events(),
            when_full: WhenFull::Block,
        }
    }
}

impl BufferConfig {
    pub fn when_full(&self) -> WhenFull {
        match self {
            BufferConfig::Memory { when_full, .. } | BufferConfig::Disk { when_full, .. } => {
                *when_full
            }
        }
    }

    /// Batches the sink's input channel holds.
    pub fn channel_capacity_batches(&self) -> usize {
        match self {
            BufferConfig::Memory { max_events, .. } => max_events.div_ceil(MAX_BATCH_EVENTS).max(1),
            // The disk buffer's writer drains the channel; a small channel suffices.
            BufferConfig::Disk { .. } => 2,
        }
    }
}
