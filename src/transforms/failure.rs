//! What parsers do with an event they cannot parse: the shared `on_error` option.
//!
//! [`Failures`] owns the policy (`keep`, `drop`, `dead_letter`), the failure counters
//! (`logweir_component_errors_total{error_type=<tag>}`, and
//! `logweir_component_discarded_events_total{reason=<tag>}` or
//! `logweir_component_dead_lettered_events_total` by policy), the rate-limited warning and,
//! for `dead_letter`, a [`DeadLetterWriter`] on the component's file. The instances of one
//! component running side by side share the file, the count and the warnings' rate limit
//! (through [`TransformContext::shared`]), so the log reads as for one task. Every
//! failure has a counted outcome: the event goes on tagged, or is finished as dropped, or is
//! written to the dead-letter file (and finished as `Rejected` once the batch's dead letters
//! are on disk). A dead letter that cannot be written is not lost: the event goes on tagged.
//!
//! [`ParserTransform`] is every parser's batch loop: under `keep` every event stays, so the
//! batch is parsed where it is and its vector passed on (no new vector, no event moved).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use crate::dead_letter::{DeadLetterFile, DeadLetterWriter, DEFAULT_MAX_BYTES};
use crate::event::{Event, EventBatch};
use crate::finalization::EventStatus;
use crate::internal_logs::RateLimitedLog;
use crate::internal_metrics;
use crate::topology::{Transform, TransformOutput};

use super::TransformContext;

/// What to do with an event a parser could not handle.
#[derive(
    Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Pass the event on unchanged, tagged (`parse_failure` for parsers).
    #[default]
    Keep,
    /// Drop the event (counted, finished as dropped).
    Drop,
    /// Write the event and the reason to `<data_dir>/dead_letter/<component_id>.ndjson`
    /// and do not pass it on.
    DeadLetter,
}

/// The failure count and warning rate limit of one component, whatever its instances (one
/// per component in [`TransformContext::shared`]).
#[derive(Debug, Default)]
pub struct FailureTally {
    count: AtomicU64,
    log: Mutex<RateLimitedLog>,
}

impl FailureTally {
    /// Counts one failure; returns the component's total.
    pub fn record(&self) -> u64 {
        self.count.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Failures so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Whether a warning for `key` may be logged now, with how many were suppressed since
    /// the last one (see [`RateLimitedLog::allow`]).
    pub fn allow(&self, key: &'static str) -> Option<u64> {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .allow(key)
    }
}

/// The failure policy of one transform.
#[derive(Debug)]
pub struct Failures {
    component_id: String,
    on_error: OnError,
    tag: &'static str,
    /// Shared by the component's instances.
    tally: Arc<FailureTally>,
    dead_letter: Option<DeadLetterWriter>,
    /// Dead-lettered events waiting for the batch's flush before they are finished.
    awaiting_flush: Vec<Event>,
    errors: metrics::Counter,
    discarded: metrics::Counter,
    dead_lettered: metrics::Counter,
    dead_letter_errors: metrics::Counter,
}

impl Failures {
    /// The policy of transform `component_id` of type `component_type`; `tag` marks failed
    /// events and names the error type in the metrics.
    pub fn new(
        component_id: &str,
        component_type: &str,
        on_error: OnError,
        tag: &'static str,
        ctx: &TransformContext,
    ) -> Failures {
        let dead_letter = (on_error == OnError::DeadLetter).then(|| {
            let file = ctx.shared.get_or_init(component_id, || {
                DeadLetterFile::new(&ctx.data_dir, component_id, DEFAULT_MAX_BYTES)
            });
            DeadLetterWriter::on_file(DeadLetterFile::clone(&file))
        });
        let kind = "transform";
        Failures {
            component_id: component_id.to_string(),
            on_error,
            tag,
            tally: ctx.shared.get_or_init(component_id, FailureTally::default),
            dead_letter,
            awaiting_flush: Vec::new(),
            errors: internal_metrics::component_errors(component_id, kind, component_type, tag),
            discarded: internal_metrics::discarded_events(component_id, component_type, tag),
            dead_lettered: internal_metrics::dead_lettered_events(
                component_id,
                kind,
                component_type,
            ),
            dead_letter_errors: internal_metrics::component_errors(
                component_id,
                kind,
                component_type,
                "dead_letter_write",
            ),
        }
    }

    /// Failures so far, of every instance of the component.
    pub fn count(&self) -> u64 {
        self.tally.count()
    }

    /// Applies the policy to `event`, which failed because of `reason`.
    pub fn fail(&mut self, mut event: Event, reason: &str, output: &mut TransformOutput) {
        self.count_and_warn(reason);
        match self.on_error {
            OnError::Keep => {
                event.add_tag(self.tag);
                output.push(event);
            }
            OnError::Drop => {
                self.discarded.increment(1);
                event.finish(EventStatus::Dropped);
            }
            OnError::DeadLetter => {
                let Some(writer) = self.dead_letter.as_mut() else {
                    event.add_tag(self.tag);
                    output.push(event);
                    return;
                };
                match writer.write(&event, reason) {
                    Ok(true) => self.awaiting_flush.push(event),
                    Ok(false) => {
                        event.add_tag(self.tag);
                        output.push(event);
                    }
                    Err(e) => {
                        self.dead_letter_errors.increment(1);
                        if let Some(suppressed) = self.tally.allow("dead_letter_write") {
                            tracing::error!(component_id = %self.component_id, error = %e, suppressed, "dead letter not written; the event goes on tagged");
                        }
                        event.add_tag(self.tag);
                        output.push(event);
                    }
                }
            }
        }
    }

    /// Whether failed events stay in the stream (`on_error = "keep"`): then a transform may
    /// handle them where they are, with [`Failures::fail_kept`].
    pub fn keeps_failed(&self) -> bool {
        self.on_error == OnError::Keep
    }

    /// [`Failures::fail`] for `on_error = "keep"`, on the event where it is: counted, logged
    /// (rate-limited) and tagged.
    pub fn fail_kept(&mut self, event: &mut Event, reason: &str) {
        debug_assert!(self.keeps_failed());
        self.count_and_warn(reason);
        event.add_tag(self.tag);
    }

    fn count_and_warn(&self, reason: &str) {
        let count = self.tally.record();
        self.errors.increment(1);
        // One line per window; the count of the lines in between goes in `suppressed`.
        if let Some(suppressed) = self.tally.allow("fail") {
            tracing::warn!(component_id = %self.component_id, reason, tag = self.tag, failures = count, suppressed, on_error = ?self.on_error, "event could not be processed");
        }
    }

    /// Ends a batch: writes its dead letters and finishes their events (delivered when on
    /// disk: `Rejected`, the dead-letter outcome; errored when the write failed).
    pub fn end_batch(&mut self) {
        let Some(writer) = self.dead_letter.as_mut() else {
            return;
        };
        let status = match writer.flush() {
            Ok(()) => {
                self.dead_lettered
                    .increment(self.awaiting_flush.len() as u64);
                EventStatus::Rejected
            }
            Err(e) => {
                self.dead_letter_errors
                    .increment(self.awaiting_flush.len() as u64);
                tracing::error!(component_id = %self.component_id, error = %e, events = self.awaiting_flush.len(), "dead letters lost");
                EventStatus::Errored
            }
        };
        for mut event in self.awaiting_flush.drain(..) {
            event.finish(status);
        }
    }
}

/// One parser's work on one event; [`ParserTransform`] runs it over batches under the
/// parser's [`Failures`] policy.
pub trait EventParser: Send + 'static {
    /// Why an event could not be parsed (written to the log and the dead-letter file).
    type Reason: AsRef<str>;

    fn parse_event(&mut self, event: &mut Event) -> Result<(), Self::Reason>;
}

/// The [`Transform`] of every parser: the parser and its failure policy.
pub struct ParserTransform<P> {
    parser: P,
    failures: Failures,
}

impl<P: EventParser> ParserTransform<P> {
    pub fn boxed(parser: P, failures: Failures) -> Box<dyn Transform> {
        Box::new(ParserTransform { parser, failures })
    }
}

impl<P: EventParser> Transform for ParserTransform<P> {
    /// In place when failed events stay in the stream (`keep`: the batch's vector goes on as
    /// the output), otherwise event by event into `output`, failed ones dropped or
    /// dead-lettered.
    fn transform(&mut self, batch: EventBatch, output: &mut TransformOutput) {
        if self.failures.keeps_failed() {
            let mut events = batch.events;
            for event in events.iter_mut() {
                if let Err(reason) = self.parser.parse_event(event) {
                    self.failures.fail_kept(event, reason.as_ref());
                }
            }
            output.push_all(events);
        } else {
            output.reserve(batch.len());
            for mut event in batch.events {
                match self.parser.parse_event(&mut event) {
                    Ok(()) => output.push(event),
                    Err(reason) => self.failures.fail(event, reason.as_ref(), output),
                }
            }
        }
        self.failures.end_batch();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn instances_of_one_component_share_the_count_and_the_dead_letter_file() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = TransformContext::new(dir.path().to_path_buf());
        let new =
            |id: &str| Failures::new(id, "parse_json", OnError::DeadLetter, "parse_failure", &ctx);
        let (mut a, mut b, mut other) = (new("p"), new("p"), new("q"));
        let mut out = TransformOutput::default();
        let event = || Event::from_message(Bytes::from_static(b"not json"), 0);
        a.fail(event(), "bad", &mut out);
        b.fail(event(), "bad", &mut out);
        b.fail(event(), "bad", &mut out);
        other.fail(event(), "bad", &mut out);
        assert_eq!((a.count(), b.count(), other.count()), (3, 3, 1));
        a.end_batch();
        b.end_batch();
        other.end_batch();
        assert!(out.default_events().is_empty());
        let lines = |id: &str| {
            std::fs::read_to_string(dir.path().join(format!("dead_letter/{id}.ndjson")))
                .unwrap()
                .lines()
                .count()
        };
        assert_eq!((lines("p"), lines("q")), (3, 1));
    }
}
