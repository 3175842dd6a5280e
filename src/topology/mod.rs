//! The running pipeline: one task per component, joined by bounded batch channels.
//!
//! [`Topology::start`] turns a checked [`PipelineConfig`] into tasks. It creates one bounded
//! channel per consuming component (transform or sink), gives every producing output an
//! [`Output`] holding senders to all its consumers (fan-out clones the batch, fan-in shares
//! the receiver), builds every component through its registry, and spawns it.
//!
//! Shutdown is by draining, never by dropping: sources stop when told (or at their natural
//! end), their senders drop, each transform finishes when its input is closed and empty, and
//! each sink flushes when its input ends. See `DESIGN.md` beside this file.

pub mod channel;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use channel::{BatchReceiver, BatchSender, ClosedError, EdgeStats};

use crate::buffers::disk::DiskBuffer;
use crate::buffers::{BufferConfig, WhenFull};
use crate::config::PipelineConfig;
use crate::event::{Event, EventBatch};
use crate::finalization::EventStatus;
use crate::internal_metrics;
use crate::readiness::{Readiness, ReadinessHandle};
use crate::tap::{TapPoint, Taps};

/// How many batches a channel holds. With sources cutting batches at
/// [`MAX_BATCH_EVENTS`], one edge holds at most `(CAPACITY + senders) * MAX_BATCH_EVENTS`
/// events.
pub const CHANNEL_CAPACITY_BATCHES: usize = 4;

/// The most events a source puts in one batch.
pub const MAX_BATCH_EVENTS: usize = 1024;

/// A component's future: runs until its input ends or it is told to stop.
pub type ComponentFuture = Pin<Box<dyn Future<Output = Result<(), ComponentError>> + Send>>;

/// A component failed while running.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ComponentError {
    pub message: String,
}

impl ComponentError {
    pub fn new(message: impl Into<String>) -> ComponentError {
        ComponentError {
            message: message.into(),
        }
    }
}

impl From<ClosedError> for ComponentError {
    fn from(e: ClosedError) -> ComponentError {
        ComponentError::new(e.to_string())
    }
}

/// A component could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{component_kind} `{id}` ({type_name}): {message}")]
    Component {
        component_kind: &'static str,
        id: String,
        type_name: String,
        message: String,
    },
}

/// One output of a component: the channels of every consumer of it.
#[derive(Debug, Clone)]
pub struct Output {
    targets: Vec<BatchSender>,
    metrics: OutputMetrics,
    /// The producing component's tap (`GET /tap/{id}`), checked once per batch.
    tap: Option<Arc<TapPoint>>,
}

/// The flow metrics of one output.
#[derive(Debug, Clone)]
struct OutputMetrics {
    /// `logweir_component_sent_events_total` of the producing component.
    sent: metrics::Counter,
    /// `logweir_component_sent_bytes_total`; consumers count the same bytes as received.
    sent_bytes: metrics::Counter,
    /// `logweir_component_batch_events`.
    batch_events: metrics::Histogram,
    /// Whether to estimate byte sizes (only when metrics are served).
    measure_bytes: bool,
}

impl Default for OutputMetrics {
    fn default() -> OutputMetrics {
        OutputMetrics {
            sent: metrics::Counter::noop(),
            sent_bytes: metrics::Counter::noop(),
            batch_events: metrics::Histogram::noop(),
            measure_bytes: false,
        }
    }
}

impl Default for Output {
    fn default() -> Output {
        Output::new(Vec::new())
    }
}

impl Output {
    pub fn new(targets: Vec<BatchSender>) -> Output {
        Output {
            targets,
            metrics: OutputMetrics::default(),
            tap: None,
        }
    }

    pub fn has_consumers(&self) -> bool {
        !self.targets.is_empty()
    }

    /// Sends a batch to every consumer (cloning for all but the last). Waits while a
    /// consumer's channel is full. An output nobody reads finishes its events as dropped.
    pub async fn send(&self, mut batch: EventBatch) -> Result<(), ClosedError> {
        if batch.is_empty() {
            return Ok(());
        }
        if let Some(tap) = &self.tap {
            if tap.is_active() {
                tap.offer(&batch.events);
            }
        }
        let Some((last, rest)) = self.targets.split_last() else {
            batch.finish(EventStatus::Dropped);
            return Ok(());
        };
        let metrics = &self.metrics;
        let bytes = if metrics.measure_bytes {
            internal_metrics::batch_bytes(&batch.events)
        } else {
            0
        };
        metrics.sent.increment(batch.len() as u64);
        metrics.sent_bytes.increment(bytes);
        metrics.batch_events.record(batch.len() as f64);
        for target in rest {
            target.send_measured(batch.clone(), bytes).await?;
        }
        last.send_measured(batch, bytes).await
    }
}

/// What a source gets to run.
pub struct SourceContext {
    pub id: String,
    pub output: Output,
    /// Cancelled on SIGINT/SIGTERM: the source stops reading, sends what it holds, returns.
    pub shutdown: CancellationToken,
    pub data_dir: PathBuf,
    /// Whether any sink downstream waits for delivery confirmations. When none does
    /// (`acknowledgements = false` on all of them), a source that can replay attaches no
    /// finalizers and treats what it has sent as done.
    pub acknowledgements: bool,
}

/// What a sink gets to run.
pub struct SinkContext {
    pub id: String,
    pub input: BatchReceiver,
    pub data_dir: PathBuf,
    /// Call `readiness.mark_healthy()` once the destination confirmed a delivery (or a
    /// health check passed): `GET /ready` waits for every sink.
    pub readiness: ReadinessHandle,
}

/// What the topology shares with the API: readiness of sinks, taps of components, and
/// whether byte sizes are measured for the metrics.
#[derive(Debug, Clone, Default)]
pub struct Instrumentation {
    pub readiness: Readiness,
    pub taps: Taps,
    /// Estimate event byte sizes for `logweir_component_*_bytes_total` (one walk over each
    /// batch's fields per hop); on when the API serves metrics.
    pub measure_bytes: bool,
}

/// A synchronous batch transform. Conditions, regexes and field paths are compiled when it is
/// built; `transform` runs per batch and must not block.
pub trait Transform: Send + 'static {
    fn transform(&mut self, batch: EventBatch, output: &mut TransformOutput);
}

/// Where a transform puts its results: the default output and any named outputs (`route`).
#[derive(Debug, Default)]
pub struct TransformOutput {
    default: Vec<Event>,
    named: Vec<Vec<Event>>,
}

impl TransformOutput {
    pub fn with_named_outputs(n: usize) -> TransformOutput {
        TransformOutput {
            default: Vec::new(),
            named: (0..n).map(|_| Vec::new()).collect(),
        }
    }

    /// Emits to the default output.
    pub fn push(&mut self, event: Event) {
        self.default.push(event);
    }

    /// Emits to named output `index` (in the order of the transform's `named_outputs()`).
    pub fn push_named(&mut self, index: usize, event: Event) {
        self.named[index].push(event);
    }

    /// Reserve room for `n` events on the default output.
    pub fn reserve(&mut self, n: usize) {
        self.default.reserve(n);
    }

    pub fn default_events(&self) -> &[Event] {
        &self.default
    }

    pub fn take_default(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.default)
    }

    pub fn take_named(&mut self, index: usize) -> Vec<Event> {
        std::mem::take(&mut self.named[index])
    }
}

struct RunningComponent {
    id: String,
    kind: &'static str,
    handle: JoinHandle<Result<(), ComponentError>>,
}

/// A started pipeline.
pub struct Topology {
    sources: Vec<RunningComponent>,
    transforms: Vec<RunningComponent>,
    sinks: Vec<RunningComponent>,
    shutdown: CancellationToken,
    edges: Vec<(String, Arc<EdgeStats>)>,
}

/// How the pipeline ended.
#[derive(Debug, Default)]
pub struct RunReport {
    /// `(component id, error)` for every component that failed.
    pub failures: Vec<(String, String)>,
    /// Components still running at the drain deadline, which were aborted.
    pub aborted: Vec<String>,
}

impl RunReport {
    pub fn is_success(&self) -> bool {
        self.failures.is_empty() && self.aborted.is_empty()
    }
}

impl Topology {
    /// Builds and spawns every component. Must be called inside a tokio runtime.
    pub fn start(config: &PipelineConfig) -> Result<Topology, BuildError> {
        Topology::start_with(config, &Instrumentation::default())
    }

    /// [`start`](Self::start), reporting readiness and offering taps through
    /// `instrumentation`.
    pub fn start_with(
        config: &PipelineConfig,
        instrumentation: &Instrumentation,
    ) -> Result<Topology, BuildError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| BuildError::Component {
            component_kind: "pipeline",
            id: "data_dir".to_string(),
            type_name: "directory".to_string(),
            message: format!("cannot create data_dir {}: {e}", config.data_dir.display()),
        })?;
        let shutdown = CancellationToken::new();
        // One channel per consumer.
        let mut receivers: HashMap<String, BatchReceiver> = HashMap::new();
        let mut senders: HashMap<String, BatchSender> = HashMap::new();
        let mut edges = Vec::new();
        let default_buffer = BufferConfig::Memory {
            max_events: CHANNEL_CAPACITY_BATCHES * MAX_BATCH_EVENTS,
            when_full: WhenFull::Block,
        };
        let consumers = config
            .transforms
            .iter()
            .map(|t| {
                (
                    &t.id,
                    &t.inputs,
                    "transform",
                    t.type_name.as_str(),
                    &default_buffer,
                    true,
                )
            })
            .chain(config.sinks.iter().map(|s| {
                (
                    &s.id,
                    &s.inputs,
                    "sink",
                    s.type_name.as_str(),
                    s.buffer.as_ref().unwrap_or(&default_buffer),
                    s.acknowledgements.unwrap_or(true),
                )
            }));
        // (producer id, port) -> senders of its consumers
        let mut wiring: HashMap<(String, Option<String>), Vec<BatchSender>> = HashMap::new();
        for (id, inputs, kind, type_name, buffer, acknowledgements) in consumers {
            let labels = internal_metrics::component_labels(id, kind, type_name);
            let drop_when_full = (matches!(buffer, BufferConfig::Memory { .. })
                && buffer.when_full() == WhenFull::DropNewest)
                .then(|| metrics::counter!(internal_metrics::BUFFER_DISCARDED_EVENTS, &labels));
            let capacity_batches = buffer.channel_capacity_batches();
            metrics::gauge!(internal_metrics::BUFFER_MAX_EVENTS, &labels)
                .set((capacity_batches * MAX_BATCH_EVENTS) as f64);
            if let BufferConfig::Disk { max_bytes, .. } = buffer {
                metrics::gauge!(internal_metrics::BUFFER_MAX_BYTE_SIZE, &labels)
                    .set(*max_bytes as f64);
            }
            let (mut tx, rx) = channel::channel_with_metrics(
                capacity_batches,
                channel::ChannelMetrics {
                    buffered: metrics::gauge!(internal_metrics::BUFFER_EVENTS, &labels),
                    received: metrics::counter!(internal_metrics::RECEIVED_EVENTS, &labels),
                    received_bytes: metrics::counter!(internal_metrics::RECEIVED_BYTES, &labels),
                    drop_when_full,
                },
            );
            if !acknowledgements {
                tx.acknowledge_on_send();
            }
            edges.push((id.clone(), Arc::clone(tx.stats())));
            for input in inputs {
                wiring
                    .entry((input.component.clone(), input.port.clone()))
                    .or_default()
                    .push(tx.clone());
            }
            senders.insert(id.clone(), tx);
            receivers.insert(id.clone(), rx);
        }
        // The original senders are only templates; dropping them lets channels close once
        // every producer is done.
        drop(senders);
        let mut output_for = |id: &str, port: Option<&str>, kind: &'static str, type_name: &str| {
            let mut labels = internal_metrics::component_labels(id, kind, type_name);
            // The batch size histogram is per component, whatever the port.
            let batch_events = metrics::histogram!(internal_metrics::BATCH_EVENTS, &labels);
            if let Some(p) = port {
                labels.push(("output", p.to_string()));
            }
            Output {
                targets: wiring
                    .remove(&(id.to_string(), port.map(str::to_string)))
                    .unwrap_or_default(),
                metrics: OutputMetrics {
                    sent: metrics::counter!(internal_metrics::SENT_EVENTS, &labels),
                    sent_bytes: metrics::counter!(internal_metrics::SENT_BYTES, &labels),
                    batch_events,
                    measure_bytes: instrumentation.measure_bytes,
                },
                tap: Some(instrumentation.taps.point(id)),
            }
        };

        let mut sinks = Vec::new();
        for decl in &config.sinks {
            let build_error = |message: String| BuildError::Component {
                component_kind: "sink",
                id: decl.id.clone(),
                type_name: decl.type_name.clone(),
                message,
            };
            let mut input = receivers.remove(&decl.id).expect("a channel per sink");
            let mut disk_buffer = None;
            if let Some(BufferConfig::Disk {
                max_bytes,
                when_full,
            }) = &decl.buffer
            {
                let dir = config.data_dir.join("buffers").join(&decl.id);
                let (buffer, sink_input) =
                    DiskBuffer::start(dir, &decl.id, *max_bytes, *when_full, input)
                        .map_err(|e| build_error(e.to_string()))?;
                input = sink_input;
                disk_buffer = Some(buffer);
            }
            let ctx = SinkContext {
                id: decl.id.clone(),
                input,
                data_dir: config.data_dir.clone(),
                readiness: instrumentation.readiness.register(&decl.id),
            };
            let sink = decl.config.build(ctx).map_err(build_error)?;
            let id = decl.id.clone();
            let fut: ComponentFuture = match disk_buffer {
                None => sink,
                Some(buffer) => Box::pin(async move {
                    let result = sink.await;
                    let report = buffer.join().await;
                    tracing::info!(component_id = %id, written = report.written_events, replayed = report.replayed_events, discarded = report.discarded_events, corrupt = report.corrupt_records, "disk buffer closed");
                    result
                }),
            };
            sinks.push(RunningComponent {
                id: decl.id.clone(),
                kind: "sink",
                handle: tokio::spawn(fut),
            });
        }

        let mut transforms = Vec::new();
        let transform_context = crate::transforms::TransformContext {
            data_dir: config.data_dir.clone(),
        };
        for decl in &config.transforms {
            let transform = decl
                .config
                .build(&decl.id, &transform_context)
                .map_err(|message| BuildError::Component {
                    component_kind: "transform",
                    id: decl.id.clone(),
                    type_name: decl.type_name.clone(),
                    message,
                })?;
            let ports = decl.config.named_outputs();
            let default_output = output_for(&decl.id, None, "transform", &decl.type_name);
            let named: Vec<Output> = ports
                .iter()
                .map(|p| output_for(&decl.id, Some(p), "transform", &decl.type_name))
                .collect();
            let input = receivers.remove(&decl.id).expect("a channel per transform");
            let id = decl.id.clone();
            transforms.push(RunningComponent {
                id: decl.id.clone(),
                kind: "transform",
                handle: tokio::spawn(run_transform(id, transform, input, default_output, named)),
            });
        }

        let mut sources = Vec::new();
        for decl in &config.sources {
            let ctx = SourceContext {
                id: decl.id.clone(),
                acknowledgements: reaches_acknowledging_sink(config, &decl.id),
                output: output_for(&decl.id, None, "source", &decl.type_name),
                shutdown: shutdown.child_token(),
                data_dir: config.data_dir.clone(),
            };
            let fut = decl
                .config
                .build(ctx)
                .map_err(|message| BuildError::Component {
                    component_kind: "source",
                    id: decl.id.clone(),
                    type_name: decl.type_name.clone(),
                    message,
                })?;
            sources.push(RunningComponent {
                id: decl.id.clone(),
                kind: "source",
                handle: tokio::spawn(fut),
            });
        }
        instrumentation.readiness.set_started();
        Ok(Topology {
            sources,
            transforms,
            sinks,
            shutdown,
            edges,
        })
    }

    /// The token that stops every source.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Channel statistics, by consuming component id.
    pub fn edges(&self) -> &[(String, Arc<EdgeStats>)] {
        &self.edges
    }

    /// Waits until every component has finished: naturally (sources at their end), or after
    /// the shutdown token is cancelled, in which case the in-flight events get
    /// `drain_deadline` to reach the sinks before the rest is aborted.
    pub async fn wait(self, drain_deadline: Duration) -> RunReport {
        let Topology {
            sources,
            transforms,
            sinks,
            shutdown,
            ..
        } = self;
        let mut report = RunReport::default();
        let all: Vec<RunningComponent> =
            sources.into_iter().chain(transforms).chain(sinks).collect();
        let failed = CancellationToken::new();
        let mut joins = Vec::new();
        for c in all {
            let failed = failed.clone();
            let abort = c.handle.abort_handle();
            joins.push((
                c.id.clone(),
                abort,
                tokio::spawn(async move {
                    let result = match c.handle.await {
                        Ok(r) => r,
                        Err(e) if e.is_cancelled() => Err(ComponentError::new("aborted")),
                        Err(e) => Err(ComponentError::new(format!("panicked: {e}"))),
                    };
                    if let Err(e) = &result {
                        tracing::error!(component_id = %c.id, component_kind = c.kind, error = %e, "component failed");
                        failed.cancel();
                    }
                    result
                }),
            ));
        }
        // A failed component stops the sources, so the rest drains and the run ends.
        let stop_on_failure = {
            let shutdown = shutdown.clone();
            let failed = failed.clone();
            tokio::spawn(async move {
                failed.cancelled().await;
                shutdown.cancel();
            })
        };
        let deadline = async {
            shutdown.cancelled().await;
            tokio::time::sleep(drain_deadline).await;
        };
        tokio::pin!(deadline);
        let mut deadline_passed = false;
        for (id, abort, mut join) in joins {
            let result = if deadline_passed {
                if !join.is_finished() {
                    abort.abort();
                    report.aborted.push(id.clone());
                }
                join.await
            } else {
                tokio::select! {
                    r = &mut join => r,
                    () = &mut deadline => {
                        deadline_passed = true;
                        abort.abort();
                        report.aborted.push(id.clone());
                        join.await
                    }
                }
            };
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) if e.message == "aborted" => {}
                Ok(Err(e)) => report.failures.push((id, e.message)),
                Err(e) => report.failures.push((id, e.to_string())),
            }
        }
        stop_on_failure.abort();
        report
    }
}

async fn run_transform(
    id: String,
    mut transform: Box<dyn Transform>,
    mut input: BatchReceiver,
    default_output: Output,
    named: Vec<Output>,
) -> Result<(), ComponentError> {
    let mut out = TransformOutput::with_named_outputs(named.len());
    while let Some(batch) = input.recv().await {
        transform.transform(batch, &mut out);
        let events = out.take_default();
        if !events.is_empty() {
            default_output.send(EventBatch::new(events)).await?;
        }
        for (i, port) in named.iter().enumerate() {
            let events = out.take_named(i);
            if !events.is_empty() {
                port.send(EventBatch::new(events)).await?;
            }
        }
    }
    tracing::debug!(component_id = %id, "transform finished");
    Ok(())
}

/// Whether any sink downstream of `source` (through any transforms) acknowledges its
/// deliveries (`acknowledgements`, on unless a sink turns it off).
fn reaches_acknowledging_sink(config: &PipelineConfig, source: &str) -> bool {
    let mut seen: Vec<&str> = vec![source];
    let mut frontier: Vec<&str> = vec![source];
    while let Some(producer) = frontier.pop() {
        let reads_producer =
            |inputs: &[crate::config::InputRef]| inputs.iter().any(|i| i.component == producer);
        if config
            .sinks
            .iter()
            .any(|s| s.acknowledgements != Some(false) && reads_producer(&s.inputs))
        {
            return true;
        }
        for t in &config.transforms {
            if reads_producer(&t.inputs) && !seen.contains(&t.id.as_str()) {
                seen.push(&t.id);
                frontier.push(&t.id);
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_waits_for_acknowledgements_if_any_sink_downstream_gives_them() {
        let config = PipelineConfig::from_str_with_env(
            std::path::Path::new("p.toml"),
            r#"
[sources.both]
type = "stdin"
[sources.quiet]
type = "stdin"
[transforms.f]
type = "filter"
inputs = ["both"]
condition = ".level != \"debug\""
[sinks.acked]
type = "blackhole"
inputs = ["f"]
[sinks.unacked]
type = "blackhole"
inputs = ["both", "quiet"]
acknowledgements = false
"#,
            |_| None,
        )
        .unwrap();
        assert!(reaches_acknowledging_sink(&config, "both"));
        assert!(!reaches_acknowledging_sink(&config, "quiet"));
    }
}
