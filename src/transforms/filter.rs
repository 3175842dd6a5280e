//! `filter` transform: keeps the events for which a condition holds, drops the rest.
//!
//! The condition is compiled when the pipeline is built; evaluating it allocates nothing.
//! Dropped events are finished as [`EventStatus::Dropped`], so acknowledgements treat them as
//! done, and counted in `logweir_component_discarded_events_total{reason="filtered"}`.

use serde::Deserialize;

use crate::condition::Condition;
use crate::event::EventBatch;
use crate::finalization::EventStatus;
use crate::topology::{Transform, TransformOutput};

/// Keeps events matching `condition`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// The condition, e.g. `.level != "debug" && exists(.kubernetes.namespace)`.
    pub condition: Condition,
}

impl FilterConfig {
    pub fn build(&self, id: &str) -> Result<Box<dyn Transform>, String> {
        Ok(Box::new(Filter {
            condition: self.condition.clone(),
            discarded: crate::internal_metrics::discarded_events(id, "filter", "filtered"),
        }))
    }
}

struct Filter {
    condition: Condition,
    discarded: metrics::Counter,
}

impl Transform for Filter {
    fn transform(&mut self, batch: EventBatch, output: &mut TransformOutput) {
        output.reserve(batch.len());
        let mut dropped = 0;
        for mut event in batch.events {
            if self.condition.check(&event) {
                output.push(event);
            } else {
                event.finish(EventStatus::Dropped);
                dropped += 1;
            }
        }
        self.discarded.increment(dropped);
    }
}
