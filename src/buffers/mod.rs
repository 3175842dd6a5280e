//! Sink buffers: what sits between a sink's input channel and the sink.
//!
//! `buffer = { type = "memory", max_events = 4096 }` (the default) sizes the sink's input
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

/// What a sink's input channel holds without a `buffer` setting, as every transform's:
/// [`crate::topology::CHANNEL_CAPACITY_BATCHES`] whole batches.
fn default_max_events() -> usize {
    crate::topology::CHANNEL_CAPACITY_BATCHES * MAX_BATCH_EVENTS
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

    /// Batches the input channel holds when it is bounded in batches (a transform's input,
    /// the channel in front of a disk buffer's writer); a sink's memory buffer is bounded in
    /// events instead (`topology::channel::channel_with_event_limit`).
    pub fn channel_capacity_batches(&self) -> usize {
        match self {
            BufferConfig::Memory { max_events, .. } => max_events.div_ceil(MAX_BATCH_EVENTS).max(1),
            // The disk buffer's writer drains the channel; a small channel suffices.
            BufferConfig::Disk { .. } => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memory_buffer_without_max_events_is_the_default_buffer() {
        let written: BufferConfig = toml::from_str(r#"type = "memory""#).unwrap();
        assert_eq!(written, BufferConfig::default());
        assert_eq!(
            written.channel_capacity_batches(),
            crate::topology::CHANNEL_CAPACITY_BATCHES
        );
        let sized: BufferConfig = toml::from_str("type = \"memory\"\nmax_events = 10000").unwrap();
        assert_eq!(sized.channel_capacity_batches(), 10);
    }
}
