//! Pipeline unit tests: the `[[tests]]` tables of a pipeline file and `logweir test`.
//!
//! A test feeds events into the input of a transform (`insert_at`), runs them through the
//! pipeline's transforms only (no sources, no sinks, nothing leaves the process), captures
//! what every transform output emits, and checks chosen outputs (`extract_from`) against
//! conditions, an expected count and/or expected events (field-by-field, only the fields
//! written in the test are compared). Every test builds the transforms afresh, so stateful
//! transforms (`sample`, `throttle`) start clean. Failures carry a readable diff of the
//! expected and actual JSON.
//!
//! ```toml
//! [[tests]]
//! name = "debug lines are dropped"
//! [[tests.inputs]]
//! insert_at = "parsed"
//! events = [ { message = '{"level":"debug"}' }, { message = '{"level":"info"}' } ]
//! [[tests.outputs]]
//! extract_from = "no_debug"
//! conditions = ['.level == "info"']
//! count = 1
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt::Write;
use std::path::PathBuf;

use bytes::Bytes;
use serde::Deserialize;
use toml::Spanned;

use crate::condition::Condition;
use crate::config::{Location, PipelineConfig};
use crate::event::{Event, EventBatch};
use crate::topology::{Transform, TransformOutput};
use crate::transforms::TransformContext;

/// One `[[tests]]` table.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineTestConfig {
    /// What the test proves, shown in the report.
    pub name: String,
    /// Events to feed, in order.
    pub inputs: Vec<TestInputConfig>,
    /// Outputs to check.
    #[serde(default)]
    pub outputs: Vec<TestOutputConfig>,
    /// Transform outputs (`id` or `id.route`) that must emit nothing.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub no_outputs_from: Vec<Spanned<String>>,
}

/// One `[[tests.inputs]]` table: events fed into the input of a transform.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestInputConfig {
    /// The transform whose input receives the events.
    #[schemars(with = "String")]
    pub insert_at: Spanned<String>,
    /// Events as tables of fields (`@timestamp` in RFC 3339 is typed; absent = now).
    #[serde(default)]
    pub events: Vec<serde_json::Value>,
    /// Shorthand for one event whose `message` is this text.
    #[serde(default)]
    pub value: Option<String>,
    /// Shorthand for one event per text, each in `message`.
    #[serde(default)]
    pub values: Vec<String>,
}

/// One `[[tests.outputs]]` table: what a transform output must have emitted.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestOutputConfig {
    /// The transform output to check: `id`, or `id.route` for a route.
    #[schemars(with = "String")]
    pub extract_from: Spanned<String>,
    /// Conditions every emitted event must satisfy.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// How many events must be emitted.
    #[serde(default)]
    pub count: Option<usize>,
    /// The expected events, in order: each emitted event must have these fields with these
    /// values (other fields are not compared), and there must be as many events.
    #[serde(default)]
    pub events: Vec<serde_json::Value>,
}

/// A test and where it is declared.
#[derive(Debug, Clone)]
pub struct PipelineTest {
    pub config: PipelineTestConfig,
    pub location: Location,
}

/// A transform output named in a test.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OutputRef {
    pub component: String,
    pub port: Option<String>,
}

impl OutputRef {
    pub fn parse(s: &str) -> OutputRef {
        match s.split_once('.') {
            Some((c, p)) => OutputRef {
                component: c.to_string(),
                port: Some(p.to_string()),
            },
            None => OutputRef {
                component: s.to_string(),
                port: None,
            },
        }
    }
}

impl std::fmt::Display for OutputRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.port {
            Some(p) => write!(f, "{}.{p}", self.component),
            None => f.write_str(&self.component),
        }
    }
}

/// The outcome of one test.
#[derive(Debug, Clone)]
pub struct TestOutcome {
    pub name: String,
    pub location: Location,
    /// Empty when the test passed; otherwise one readable block per failed check.
    pub failures: Vec<String>,
}

impl TestOutcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs every test of `config`. Fails only when a transform cannot be built.
pub fn run_all(config: &PipelineConfig) -> Result<Vec<TestOutcome>, String> {
    let scratch = std::env::temp_dir().join(format!("logweir-test-{}", std::process::id()));
    let result = config
        .tests
        .iter()
        .map(|t| run_one(config, t, scratch.clone()))
        .collect();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

struct BuiltTransform {
    transform: Box<dyn Transform>,
    ports: Vec<String>,
}

fn run_one(
    config: &PipelineConfig,
    test: &PipelineTest,
    data_dir: PathBuf,
) -> Result<TestOutcome, String> {
    let ctx = TransformContext::new(data_dir);
    let mut built: HashMap<&str, BuiltTransform> = HashMap::new();
    // (producer, port) -> transforms reading it
    let mut consumers: HashMap<OutputRef, Vec<&str>> = HashMap::new();
    for decl in &config.transforms {
        let transform = decl
            .config
            .build(&decl.id, &ctx)
            .map_err(|e| format!("transform `{}` ({}): {e}", decl.id, decl.type_name))?;
        built.insert(
            &decl.id,
            BuiltTransform {
                transform,
                ports: decl.config.named_outputs(),
            },
        );
        for input in &decl.inputs {
            consumers
                .entry(OutputRef {
                    component: input.component.clone(),
                    port: input.port.clone(),
                })
                .or_default()
                .push(&decl.id);
        }
    }
    let now = crate::time::now_unix_nanos();
    let mut captured: HashMap<OutputRef, Vec<Event>> = HashMap::new();
    for input in &test.config.inputs {
        let mut events: Vec<Event> = input
            .events
            .iter()
            .map(|v| Event::from_json(v, now))
            .collect();
        let texts = input.value.iter().chain(input.values.iter());
        events.extend(texts.map(|t| Event::from_message(Bytes::from(t.clone()), now)));
        let mut queue: VecDeque<(&str, Vec<Event>)> = VecDeque::new();
        queue.push_back((input.insert_at.get_ref().as_str(), events));
        // The graph is acyclic (checked at load), so this ends.
        while let Some((id, events)) = queue.pop_front() {
            let Some(t) = built.get_mut(id) else { continue };
            let mut out = TransformOutput::with_named_outputs(t.ports.len());
            t.transform.transform(EventBatch::new(events), &mut out);
            let mut emitted = vec![(None, out.take_default())];
            for (i, port) in t.ports.iter().enumerate() {
                emitted.push((Some(port.clone()), out.take_named(i)));
            }
            for (port, events) in emitted {
                let key = OutputRef {
                    component: id.to_string(),
                    port,
                };
                if events.is_empty() {
                    continue;
                }
                for next in consumers.get(&key).into_iter().flatten() {
                    queue.push_back((next, events.clone()));
                }
                captured.entry(key).or_default().extend(events);
            }
        }
    }
    let mut failures = Vec::new();
    for output in &test.config.outputs {
        let key = OutputRef::parse(output.extract_from.get_ref());
        let actual = captured.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        check_output(&key, output, actual, &mut failures);
    }
    for name in &test.config.no_outputs_from {
        let key = OutputRef::parse(name.get_ref());
        if let Some(events) = captured.get(&key).filter(|e| !e.is_empty()) {
            let mut msg = format!(
                "`{key}` should emit nothing but emitted {} event{}:",
                events.len(),
                plural(events.len())
            );
            for e in events {
                let _ = write!(msg, "\n    {}", e.to_json_string());
            }
            failures.push(msg);
        }
    }
    Ok(TestOutcome {
        name: test.config.name.clone(),
        location: test.location,
        failures,
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn check_output(
    key: &OutputRef,
    output: &TestOutputConfig,
    actual: &[Event],
    failures: &mut Vec<String>,
) {
    let expected_count = output
        .count
        .or((!output.events.is_empty()).then_some(output.events.len()));
    if let Some(n) = expected_count {
        if actual.len() != n {
            let mut msg = format!(
                "`{key}`: expected {n} event{}, got {}",
                plural(n),
                actual.len()
            );
            for e in actual {
                let _ = write!(msg, "\n    {}", e.to_json_string());
            }
            failures.push(msg);
        }
    }
    if !output.conditions.is_empty() && actual.is_empty() && expected_count != Some(0) {
        failures.push(format!(
            "`{key}`: emitted no events to check the conditions against"
        ));
    }
    for (i, event) in actual.iter().enumerate() {
        for condition in &output.conditions {
            if !condition.check(event) {
                failures.push(format!(
                    "`{key}`: event {i} does not satisfy `{condition}`:\n    {}",
                    event.to_json_string()
                ));
            }
        }
    }
    for (i, (expected, event)) in output.events.iter().zip(actual).enumerate() {
        let actual_json = crate::event::Value::Object(event.fields.clone()).to_json();
        if !contains(expected, &actual_json) {
            let projected = project(expected, &actual_json);
            let mut msg = format!("`{key}`: event {i} differs (- expected, + actual):\n");
            msg.push_str(&diff(
                &pretty(expected),
                &pretty(&projected.unwrap_or(serde_json::Value::Null)),
            ));
            let _ = write!(msg, "    whole event: {}", event.to_json_string());
            failures.push(msg);
        }
    }
}

/// Whether `actual` has every field of `expected` with an equal value (numbers compare by
/// value, objects recursively; arrays and scalars must be equal).
pub fn contains(expected: &serde_json::Value, actual: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (expected, actual) {
        (J::Object(e), J::Object(a)) => e
            .iter()
            .all(|(k, ev)| a.get(k).is_some_and(|av| contains(ev, av))),
        (J::Number(e), J::Number(a)) => e.as_f64() == a.as_f64(),
        (J::Array(e), J::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(e, a)| contains(e, a))
        }
        (e, a) => e == a,
    }
}

/// `actual` limited to the fields `expected` names (what the diff shows).
fn project(expected: &serde_json::Value, actual: &serde_json::Value) -> Option<serde_json::Value> {
    use serde_json::Value as J;
    match (expected, actual) {
        (J::Object(e), J::Object(a)) => {
            let mut out = serde_json::Map::new();
            for (k, ev) in e {
                if let Some(v) = a.get(k).and_then(|av| project(ev, av)) {
                    out.insert(k.clone(), v);
                }
            }
            Some(J::Object(out))
        }
        (_, a) => Some(a.clone()),
    }
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// A line diff (longest common subsequence) of two small texts, `-` for lines only in
/// `expected`, `+` for lines only in `actual`, indented.
pub fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    // Expected events are written by hand: small. Bound the table anyway.
    if a.len() * b.len() > 1_000_000 {
        return format!("    - {expected}\n    + {actual}\n");
    }
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            let _ = writeln!(out, "      {}", a[i]);
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            let _ = writeln!(out, "    - {}", a[i]);
            i += 1;
        } else {
            let _ = writeln!(out, "    + {}", b[j]);
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containment_compares_only_expected_fields() {
        let actual = json!({"a": 1, "b": {"c": "x", "d": 2}, "e": [1, 2]});
        assert!(contains(&json!({"a": 1.0, "b": {"c": "x"}}), &actual));
        assert!(contains(&json!({"e": [1, 2]}), &actual));
        assert!(!contains(&json!({"e": [1]}), &actual));
        assert!(!contains(&json!({"b": {"c": "y"}}), &actual));
        assert!(!contains(&json!({"z": null}), &actual));
    }

    #[test]
    fn diff_marks_changed_lines() {
        let d = diff(
            "{\n  \"a\": 1,\n  \"b\": 2\n}",
            "{\n  \"a\": 1,\n  \"b\": 3\n}",
        );
        assert!(d.contains("    -   \"b\": 2"), "{d}");
        assert!(d.contains("    +   \"b\": 3"), "{d}");
        assert!(d.contains("        \"a\": 1,"), "{d}");
    }
}
