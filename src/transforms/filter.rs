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
        // Kept events stay in the batch's vector, which goes on as it is.
        let mut events = batch.events;
        let mut dropped = 0;
        events.retain_mut(|event| {
            let keep = self.condition.check(event);
            if !keep {
                event.finish(EventStatus::Dropped);
                dropped += 1;
            }
            keep
        });
        self.discarded.increment(dropped);
        output.push_all(events);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{build, json, tracked};
    use crate::event::{EventBatch, Value};
    use crate::finalization::BatchStatus;
    use crate::topology::TransformOutput;

    #[test]
    fn keeps_matching_events_in_order_and_finishes_the_rest() {
        let mut t = build("filter", r#"condition = '.level != "trace"'"#);
        let mut events = Vec::new();
        let mut statuses = Vec::new();
        for (n, level) in ["info", "trace", "warn", "trace", "error"]
            .iter()
            .enumerate()
        {
            let (event, status) = tracked(json(serde_json::json!({"n": n, "level": level})));
            events.push(event);
            statuses.push(status);
        }
        let vector = events.as_ptr();
        let mut out = TransformOutput::default();
        t.transform(EventBatch::new(events), &mut out);
        let kept = out.take_default();
        assert_eq!(kept.as_ptr(), vector, "the batch's own vector goes on");
        let ns: Vec<_> = kept.iter().map(|e| e.fields.get("n").cloned()).collect();
        assert_eq!(
            ns,
            [0, 2, 4].map(|n| Some(Value::Integer(n))),
            "kept, in their order"
        );
        // Dropped events are done (delivered as far as acknowledgements go); kept ones are
        // still pending.
        for (n, status) in statuses.iter_mut().enumerate() {
            let want = (n % 2 == 1).then_some(BatchStatus::Delivered);
            assert_eq!(status.try_status(), want, "event {n}");
        }
        drop(kept);
    }
}
