//! `route` transform: sends each event to every named output whose condition it satisfies,
//! and to `_unmatched` when it satisfies none.
//!
//! Consumers read a route as `inputs = ["<id>.<route>"]` (or `"<id>._unmatched"`). An event
//! matching several routes goes to each: copies share their text bytes and each carries its
//! own finalizer. The outputs are the routes in configuration order followed by
//! `_unmatched`; that order is the `push_named` index. Conditions are compiled once; routing
//! an event allocates only the copies for extra matches.

use serde::Deserialize;

use super::ordered_map::OrderedMap;
use crate::condition::Condition;
use crate::event::EventBatch;
use crate::topology::{Transform, TransformOutput};

/// The output that receives events no route matched.
pub const UNMATCHED: &str = "_unmatched";

/// Routes events by condition.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Route name → condition, e.g. `errors = '.level == "error"'`. Each name becomes an
    /// output `<id>.<name>`.
    pub route: OrderedMap<Condition>,
}

impl RouteConfig {
    /// The route names in configuration order, then `_unmatched`.
    pub fn named_outputs(&self) -> Vec<String> {
        self.route
            .iter()
            .map(|(name, _)| name.clone())
            .chain(std::iter::once(UNMATCHED.to_string()))
            .collect()
    }

    pub fn build(&self, _id: &str) -> Result<Box<dyn Transform>, String> {
        if self.route.is_empty() {
            return Err(
                "`route` is empty: add `[transforms.<id>.route]` with `name = '<condition>'`"
                    .to_string(),
            );
        }
        for (name, _) in self.route.iter() {
            if name.is_empty() || name.contains(['.', ' ']) || name == UNMATCHED {
                return Err(format!(
                    "invalid route name `{name}`: names may not be empty, contain dots or spaces, or be `{UNMATCHED}`"
                ));
            }
        }
        Ok(Box::new(Route {
            conditions: self.route.iter().map(|(_, c)| c.clone()).collect(),
            matched: Vec::with_capacity(self.route.len()),
        }))
    }
}

struct Route {
    conditions: Vec<Condition>,
    /// Reused: indices of the routes the current event matched.
    matched: Vec<usize>,
}

impl Transform for Route {
    fn transform(&mut self, batch: EventBatch, output: &mut TransformOutput) {
        let unmatched = self.conditions.len();
        for event in batch.events {
            self.matched.clear();
            for (i, condition) in self.conditions.iter().enumerate() {
                if condition.check(&event) {
                    self.matched.push(i);
                }
            }
            match self.matched.split_last() {
                None => output.push_named(unmatched, event),
                Some((&last, rest)) => {
                    for &i in rest {
                        output.push_named(i, event.clone());
                    }
                    output.push_named(last, event);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{config, json, tracked};
    use super::super::{TransformConfig, TransformContext};
    use crate::event::EventBatch;
    use crate::finalization::{BatchStatus, EventStatus};
    use crate::topology::TransformOutput;

    const SPLIT: &str = r#"
[route]
errors = '.level == "error"'
slow = '.latency_ms > 500'
"#;

    #[test]
    fn outputs_are_routes_in_order_then_unmatched() {
        let c = config("route", SPLIT).unwrap();
        assert_eq!(c.named_outputs(), ["errors", "slow", "_unmatched"]);
    }

    #[test]
    fn events_go_to_every_matching_route_or_to_unmatched() {
        let c: TransformConfig = config("route", SPLIT).unwrap();
        let mut t = c.build("split", &TransformContext::for_tests()).unwrap();
        let mut out = TransformOutput::with_named_outputs(3);
        let (both, mut both_status) = tracked(json(
            serde_json::json!({"level": "error", "latency_ms": 900}),
        ));
        t.transform(
            EventBatch::new(vec![
                json(serde_json::json!({"level": "error", "latency_ms": 5, "n": 1})),
                both,
                json(serde_json::json!({"level": "info", "latency_ms": 501})),
                json(serde_json::json!({"level": "info"})),
            ]),
            &mut out,
        );
        let mut errors = out.take_named(0);
        let mut slow = out.take_named(1);
        let unmatched = out.take_named(2);
        assert_eq!(errors.len(), 2);
        assert_eq!(slow.len(), 2);
        assert_eq!(unmatched.len(), 1);
        assert!(out.take_default().is_empty());
        // The copy and the original are separate obligations: the batch is done only when
        // both are finished.
        errors[1].finish(EventStatus::Delivered);
        assert_eq!(both_status.try_status(), None);
        slow[0].finish(EventStatus::Delivered);
        assert_eq!(both_status.try_status(), Some(BatchStatus::Delivered));
    }

    #[test]
    fn invalid_routes_are_refused() {
        let ctx = TransformContext::for_tests();
        assert!(config("route", "[route]\n\"a.b\" = '.x == 1'")
            .unwrap()
            .build("t", &ctx)
            .is_err());
        assert!(config("route", "[route]\n_unmatched = '.x == 1'")
            .unwrap()
            .build("t", &ctx)
            .is_err());
        assert!(config("route", "[route]")
            .unwrap()
            .build("t", &ctx)
            .is_err());
        let err = config("route", "[route]\nbad = '.x == '").unwrap_err();
        assert!(err.contains("at column"), "{err}");
    }
}
