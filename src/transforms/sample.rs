//! `sample` transform: keeps one event in `rate`.
//!
//! Without `key_field` a counter decides (the 1st, `rate+1`th, … events are kept), so the
//! outcome is deterministic. With `key_field` a stable hash (FNV-1a) of the key's value
//! decides, so all lines of one request (one trace id) are kept or dropped together; events
//! without the key fall back to the counter. Dropped events are finished as `Dropped` and
//! counted.

use serde::Deserialize;

use crate::event::{Event, EventBatch, FieldPath, Value};
use crate::finalization::EventStatus;
use crate::topology::{Transform, TransformOutput};

/// Samples events.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SampleConfig {
    /// Keep one event in `rate` (at least 1; 1 keeps everything).
    pub rate: u64,
    /// Decide by the hash of this field's value instead of a counter, e.g. `.trace_id`.
    #[serde(default)]
    pub key_field: Option<FieldPath>,
}

impl SampleConfig {
    pub fn build(&self, id: &str) -> Result<Box<dyn Transform>, String> {
        if self.rate == 0 {
            return Err("`rate` must be at least 1".to_string());
        }
        Ok(Box::new(Sample {
            id: id.to_string(),
            rate: self.rate,
            key_field: self.key_field.clone(),
            counter: 0,
            dropped: 0,
            key_buffer: Vec::new(),
            discarded: crate::internal_metrics::discarded_events(id, "sample", "sampled"),
        }))
    }
}

struct Sample {
    id: String,
    rate: u64,
    key_field: Option<FieldPath>,
    counter: u64,
    dropped: u64,
    /// Reused: the encoded key of the current event.
    key_buffer: Vec<u8>,
    /// `logweir_component_discarded_events_total{reason="sampled"}`.
    discarded: metrics::Counter,
}

/// FNV-1a, 64 bits: stable across runs and machines (unlike `std`'s randomised hasher).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Writes the bytes that identify `value` as a key: text as is, anything else as JSON.
pub fn key_bytes<'a>(value: &'a Value, buffer: &'a mut Vec<u8>) -> &'a [u8] {
    match value {
        Value::Bytes(b) => b,
        other => {
            buffer.clear();
            crate::codec::json::write_value(buffer, other);
            buffer
        }
    }
}

impl Sample {
    fn keep(&mut self, event: &Event) -> bool {
        if let Some(key) = self.key_field.as_ref().and_then(|p| event.get(p)) {
            return fnv1a(key_bytes(key, &mut self.key_buffer)).is_multiple_of(self.rate);
        }
        let keep = self.counter.is_multiple_of(self.rate);
        self.counter = self.counter.wrapping_add(1);
        keep
    }
}

impl Transform for Sample {
    fn transform(&mut self, batch: EventBatch, output: &mut TransformOutput) {
        output.reserve(batch.len() / self.rate as usize + 1);
        let dropped_before = self.dropped;
        for mut event in batch.events {
            if self.keep(&event) {
                output.push(event);
            } else {
                event.finish(EventStatus::Dropped);
                self.dropped += 1;
                if self.dropped.is_power_of_two() {
                    tracing::debug!(component_id = %self.id, dropped = self.dropped, "events sampled out so far");
                }
            }
        }
        self.discarded.increment(self.dropped - dropped_before);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{build, config, json, message, run, tracked};
    use super::*;
    use crate::finalization::BatchStatus;

    #[test]
    fn unkeyed_sampling_keeps_every_nth_event() {
        let mut t = build("sample", "rate = 3");
        let events: Vec<Event> = (0..10).map(|i| message(&i.to_string())).collect();
        let out = run(t.as_mut(), events);
        let kept: Vec<_> = out.iter().map(|e| e.message().unwrap().clone()).collect();
        assert_eq!(kept, ["0", "3", "6", "9"]);
        // The counter carries across batches.
        let out = run(
            t.as_mut(),
            vec![message("10"), message("11"), message("12")],
        );
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0].message().unwrap()[..], b"12");
    }

    #[test]
    fn keyed_sampling_keeps_or_drops_a_key_together() {
        let mut t = build("sample", "rate = 4\nkey_field = \".trace_id\"");
        let mut events = Vec::new();
        for trace in 0..200 {
            for line in 0..3 {
                events.push(json(
                    serde_json::json!({"trace_id": format!("t{trace}"), "line": line}),
                ));
            }
        }
        let out = run(t.as_mut(), events);
        let mut per_trace = std::collections::HashMap::<String, usize>::new();
        for e in &out {
            *per_trace
                .entry(
                    e.fields
                        .get("trace_id")
                        .unwrap()
                        .as_str()
                        .unwrap()
                        .to_string(),
                )
                .or_default() += 1;
        }
        assert!(per_trace.values().all(|n| *n == 3), "a trace was split");
        // Roughly a quarter of 200 traces (hash-decided): far from none and from all.
        assert!((20..=80).contains(&per_trace.len()), "{}", per_trace.len());
        // The same key decides the same way in a new instance (stable hash).
        let mut again = build("sample", "rate = 4\nkey_field = \".trace_id\"");
        let kept_trace = per_trace.keys().next().unwrap().clone();
        let out = run(
            again.as_mut(),
            vec![json(serde_json::json!({"trace_id": kept_trace}))],
        );
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn dropped_events_are_finished_and_rate_zero_is_refused() {
        let mut t = build("sample", "rate = 2");
        let (first, _) = tracked(message("a"));
        let (second, mut status) = tracked(message("b"));
        assert_eq!(run(t.as_mut(), vec![first, second]).len(), 1);
        assert_eq!(status.try_status(), Some(BatchStatus::Delivered));
        assert!(config("sample", "rate = 0")
            .unwrap()
            .build("t", &super::super::TransformContext::for_tests())
            .is_err());
    }
}
