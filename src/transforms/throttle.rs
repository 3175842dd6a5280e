//! `throttle` transform: lets at most `threshold` events through per `window_secs`, per key.
//!
//! Windows are fixed: a key's window starts with its first event and resets when
//! `window_secs` have passed. Excess events are finished as `Dropped` and counted. The key
//! map holds at most `max_keys` keys; a new key beyond that evicts the oldest one (its count
//! starts over if it comes back). Time is read once per batch.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::sample::key_bytes;
use crate::event::{EventBatch, FieldPath};
use crate::finalization::EventStatus;
use crate::topology::{Transform, TransformOutput};

/// Rate-limits events.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Most events let through per window (per key).
    pub threshold: u64,
    /// Window length in seconds.
    #[serde(default = "default_window_secs")]
    pub window_secs: u64,
    /// Count separately per value of this field, e.g. `.kubernetes.pod.name`. Events
    /// without it share one budget.
    #[serde(default)]
    pub key_field: Option<FieldPath>,
    /// Most keys tracked at once; the oldest is evicted beyond it.
    #[serde(default = "default_max_keys")]
    pub max_keys: usize,
}

fn default_window_secs() -> u64 {
    1
}

fn default_max_keys() -> usize {
    10_000
}

impl ThrottleConfig {
    pub fn build(&self, id: &str) -> Result<Box<dyn Transform>, String> {
        if self.threshold == 0 {
            return Err(
                "`threshold` must be at least 1 (use `filter` to drop everything)".to_string(),
            );
        }
        if self.window_secs == 0 {
            return Err("`window_secs` must be at least 1".to_string());
        }
        if self.max_keys == 0 {
            return Err("`max_keys` must be at least 1".to_string());
        }
        Ok(Box::new(Throttle {
            id: id.to_string(),
            threshold: self.threshold,
            window: Duration::from_secs(self.window_secs),
            key_field: self.key_field.clone(),
            max_keys: self.max_keys,
            windows: HashMap::new(),
            order: VecDeque::new(),
            key_buffer: Vec::new(),
            dropped: 0,
            evicted: 0,
            discarded: crate::internal_metrics::discarded_events(id, "throttle", "throttled"),
        }))
    }
}

#[derive(Debug)]
struct Window {
    start: Instant,
    count: u64,
}

struct Throttle {
    id: String,
    threshold: u64,
    window: Duration,
    key_field: Option<FieldPath>,
    max_keys: usize,
    windows: HashMap<Vec<u8>, Window>,
    /// Keys in insertion order, for eviction.
    order: VecDeque<Vec<u8>>,
    key_buffer: Vec<u8>,
    dropped: u64,
    evicted: u64,
    /// `logweir_component_discarded_events_total{reason="throttled"}`.
    discarded: metrics::Counter,
}

impl Throttle {
    fn admit(&mut self, key: &[u8], now: Instant) -> bool {
        if let Some(w) = self.windows.get_mut(key) {
            if now.duration_since(w.start) >= self.window {
                w.start = now;
                w.count = 0;
            }
            w.count += 1;
            return w.count <= self.threshold;
        }
        if self.windows.len() >= self.max_keys {
            if let Some(oldest) = self.order.pop_front() {
                self.windows.remove(&oldest);
                self.evicted += 1;
                if self.evicted == 1 || self.evicted.is_power_of_two() {
                    tracing::debug!(component_id = %self.id, evicted = self.evicted, max_keys = self.max_keys, "throttle key map full; oldest keys evicted");
                }
            }
        }
        self.windows.insert(
            key.to_vec(),
            Window {
                start: now,
                count: 1,
            },
        );
        self.order.push_back(key.to_vec());
        true
    }

    fn transform_at(&mut self, batch: EventBatch, output: &mut TransformOutput, now: Instant) {
        output.reserve(batch.len());
        let mut key_buffer = std::mem::take(&mut self.key_buffer);
        let dropped_before = self.dropped;
        for mut event in batch.events {
            let key: &[u8] = match self.key_field.as_ref().and_then(|p| event.get(p)) {
                Some(v) => key_bytes(v, &mut key_buffer),
                None => b"",
            };
            // The key borrows the event or the buffer; `admit` copies it only when it is new.
            let admitted = self.admit(key, now);
            if admitted {
                output.push(event);
            } else {
                event.finish(EventStatus::Dropped);
                self.dropped += 1;
                if self.dropped == 1 || self.dropped.is_power_of_two() {
                    tracing::debug!(component_id = %self.id, dropped = self.dropped, "events throttled so far");
                }
            }
        }
        self.key_buffer = key_buffer;
        self.discarded.increment(self.dropped - dropped_before);
    }
}

impl Transform for Throttle {
    fn transform(&mut self, batch: EventBatch, output: &mut TransformOutput) {
        self.transform_at(batch, output, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{config, json, message, tracked};
    use super::super::TransformContext;
    use super::*;
    use crate::event::Event;
    use crate::finalization::BatchStatus;

    fn throttle(options: &str) -> Throttle {
        let Ok(super::super::TransformConfig::Throttle(c)) = config("throttle", options) else {
            panic!("not a throttle config");
        };
        let ThrottleConfig {
            threshold,
            window_secs,
            key_field,
            max_keys,
        } = c;
        Throttle {
            id: "t".into(),
            threshold,
            window: Duration::from_secs(window_secs),
            key_field,
            max_keys,
            windows: HashMap::new(),
            order: VecDeque::new(),
            key_buffer: Vec::new(),
            dropped: 0,
            evicted: 0,
            discarded: metrics::Counter::noop(),
        }
    }

    fn pass(t: &mut Throttle, events: Vec<Event>, now: Instant) -> Vec<Event> {
        let mut out = TransformOutput::default();
        t.transform_at(EventBatch::new(events), &mut out, now);
        out.take_default()
    }

    #[test]
    fn lets_threshold_events_through_per_window() {
        let mut t = throttle("threshold = 2\nwindow_secs = 10");
        let start = Instant::now();
        let five = || (0..5).map(|i| message(&i.to_string())).collect::<Vec<_>>();
        assert_eq!(pass(&mut t, five(), start).len(), 2);
        assert_eq!(
            pass(&mut t, five(), start + Duration::from_secs(9)).len(),
            0
        );
        assert_eq!(
            pass(&mut t, five(), start + Duration::from_secs(10)).len(),
            2
        );
        assert_eq!(t.dropped, 11);
    }

    #[test]
    fn keys_have_separate_budgets_and_dropped_events_are_finished() {
        let mut t = throttle("threshold = 1\nkey_field = \".pod\"");
        let now = Instant::now();
        let (extra, mut status) = tracked(json(serde_json::json!({"pod": "a", "n": 2})));
        let out = pass(
            &mut t,
            vec![
                json(serde_json::json!({"pod": "a", "n": 1})),
                extra,
                json(serde_json::json!({"pod": "b"})),
                json(serde_json::json!({"pod": 7})),
                json(serde_json::json!({"other": 1})),
                json(serde_json::json!({"other": 2})),
            ],
            now,
        );
        assert_eq!(out.len(), 4);
        assert_eq!(status.try_status(), Some(BatchStatus::Delivered));
    }

    #[test]
    fn the_key_map_is_bounded_and_evicts_the_oldest_key() {
        let mut t = throttle("threshold = 1\nkey_field = \".k\"\nmax_keys = 2");
        let now = Instant::now();
        let ev = |k: &str| json(serde_json::json!({"k": k}));
        assert_eq!(pass(&mut t, vec![ev("a"), ev("b"), ev("a")], now).len(), 2);
        // `c` evicts `a`, the oldest; `a` then starts over and evicts `b`.
        assert_eq!(pass(&mut t, vec![ev("c"), ev("a"), ev("c")], now).len(), 2);
        assert_eq!(t.windows.len(), 2);
        assert_eq!(t.evicted, 2);
    }

    #[test]
    fn zero_limits_are_refused() {
        let ctx = TransformContext::for_tests();
        for options in [
            "threshold = 0",
            "threshold = 1\nwindow_secs = 0",
            "threshold = 1\nmax_keys = 0",
        ] {
            assert!(
                config("throttle", options)
                    .unwrap()
                    .build("t", &ctx)
                    .is_err(),
                "{options}"
            );
        }
    }
}
