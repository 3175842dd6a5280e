//! What parsers do with an event they cannot parse: the shared `on_error` option.
//!
//! [`Failures`] owns the policy (`keep`, `drop`, `dead_letter`), the failure counters
//! (`logweir_component_errors_total{error_type=<tag>}`, and
//! `logweir_component_discarded_events_total{reason=<tag>}` or
//! `logweir_component_dead_lettered_events_total` by policy), the rate-limited warning and,
//! for `dead_letter`, the component's [`DeadLetterWriter`]. Every
//! failure has a counted outcome: the event goes on tagged, or is finished as dropped, or is
//! written to the dead-letter file (and finished as `Rejected` once the batch's dead letters
//! are on disk). A dead letter that cannot be written is not lost: the event goes on tagged.

use serde::Deserialize;

use crate::dead_letter::{DeadLetterWriter, DEFAULT_MAX_BYTES};
use crate::event::Event;
use crate::finalization::EventStatus;
use crate::internal_logs::RateLimitedLog;
use crate::internal_metrics;
use crate::topology::TransformOutput;

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

/// The failure policy of one transform.
#[derive(Debug)]
pub struct Failures {
    component_id: String,
    on_error: OnError,
    tag: &'static str,
    count: u64,
    dead_letter: Option<DeadLetterWriter>,
    /// Dead-lettered events waiting for the batch's flush before they are finished.
    awaiting_flush: Vec<Event>,
    log: RateLimitedLog,
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
            ctx.dead_letter_files
                .writer(&ctx.data_dir, component_id, DEFAULT_MAX_BYTES)
        });
        let kind = "transform";
        Failures {
            component_id: component_id.to_string(),
            on_error,
            tag,
            count: 0,
            dead_letter,
            awaiting_flush: Vec::new(),
            log: RateLimitedLog::default(),
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

    /// Failures so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Applies the policy to `event`, which failed because of `reason`.
    pub fn fail(&mut self, mut event: Event, reason: &str, output: &mut TransformOutput) {
        self.count += 1;
        self.errors.increment(1);
        // One line per window; the count of the lines in between goes in `suppressed`.
        if let Some(suppressed) = self.log.allow("fail") {
            tracing::warn!(component_id = %self.component_id, reason, tag = self.tag, failures = self.count, suppressed, on_error = ?self.on_error, "event could not be processed");
        }
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
                        if let Some(suppressed) = self.log.allow("dead_letter_write") {
                            tracing::error!(component_id = %self.component_id, error = %e, suppressed, "dead letter not written; the event goes on tagged");
                        }
                        event.add_tag(self.tag);
                        output.push(event);
                    }
                }
            }
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
