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
mod transform_runner;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use channel::{BatchReceiver, BatchSender, ClosedError, EdgeStats, WeakBatchSender};

use crate::buffers::disk::DiskBuffer;
use crate::buffers::{BufferConfig, WhenFull};
use crate::config::{ApiConfig, ComponentKind, PipelineConfig};
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

/// The most instances of one transform running at once (see `transform_runner`): each
/// holds the batch it works on, so this bounds what a transform holds besides its channel.
pub const MAX_TRANSFORM_INSTANCES: usize = 8;

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

/// The consumer list of one output, swappable while the producer runs.
type SharedTargets = Arc<ArcSwap<Vec<BatchSender>>>;

/// One output of a component: the channels of every consumer of it.
///
/// The list of consumers sits behind an [`ArcSwap`] shared with the topology, so a reload can
/// re-wire a running producer: a send works on the list it loaded, and the old list (and with
/// it the senders of detached consumers) is dropped once no send uses it any more.
#[derive(Debug, Clone)]
pub struct Output {
    targets: SharedTargets,
    metrics: OutputMetrics,
    /// The producing component's tap (`GET /tap/{id}`), checked once per batch.
    tap: Option<Arc<TapPoint>>,
    /// Shared with the topology (`RunningComponent::outputs_closed`): set once the producer
    /// will send nothing more, after which a reload never wires consumers to it again.
    closed: Arc<std::sync::Mutex<bool>>,
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
            targets: Arc::new(ArcSwap::from_pointee(targets)),
            metrics: OutputMetrics::default(),
            tap: None,
            closed: Arc::default(),
        }
    }

    /// Lets go of every consumer: the producer sends nothing more. For a source whose input
    /// has ended but whose task still runs (waiting for acknowledgements): its consumers'
    /// channels close now, so they drain and flush at once instead of waiting for that task,
    /// whose acknowledgements may in turn wait for their flush (a sink's batch timeout).
    pub fn close(&self) {
        close_outputs(&self.closed, std::slice::from_ref(&self.targets));
    }

    pub fn has_consumers(&self) -> bool {
        !self.targets.load().is_empty()
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
        // Held until the send completes: a consumer detached meanwhile still gets this batch.
        let targets = self.targets.load_full();
        let Some((last, rest)) = targets.split_last() else {
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

/// Marks a producer's outputs closed and empties their consumer lists, under the lock a
/// reload takes before re-wiring them (so a finished producer is never wired again).
fn close_outputs(closed: &std::sync::Mutex<bool>, outputs: &[SharedTargets]) {
    let mut closed = closed.lock().unwrap_or_else(|e| e.into_inner());
    *closed = true;
    for targets in outputs {
        targets.store(Arc::new(Vec::new()));
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
    /// The configuration of the running instance this one replaces (a reload changed the
    /// source). The new future only runs once that instance has ended, so anything it holds
    /// exclusively (a listening port) must be acquired in the future, not in `build`.
    pub predecessor: Option<crate::sources::SourceConfig>,
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

    /// Emits `events` on the default output, the vector itself when nothing was emitted
    /// before: a transform that changes events where they are passes its input batch on
    /// without moving them into a new vector.
    pub fn push_all(&mut self, events: Vec<Event>) {
        if self.default.is_empty() {
            self.default = events;
        } else {
            self.default.extend(events);
        }
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

/// A component the topology runs, and the handles a reload needs to re-wire it.
struct RunningComponent {
    kind: ComponentKind,
    /// The component's table as configured: equal tables = unchanged component.
    table: toml::Value,
    /// Consumers: their input channel, without keeping it open.
    input: Option<WeakBatchSender>,
    /// Producers: the consumer list of each output (`None` = the default output).
    outputs: Vec<(Option<String>, SharedTargets)>,
    /// Sources: stops this source only.
    stop: Option<CancellationToken>,
    /// Sources: the configuration, handed to the instance that replaces this one.
    source: Option<crate::sources::SourceConfig>,
    /// Sources: whether they were started attaching finalizers (some sink downstream
    /// acknowledges). A reload that changes this rebuilds the source, else its events would
    /// keep being tracked, or not, as the old graph said.
    acknowledged: bool,
    /// Cancelled when the component's task has ended (or was dropped).
    done: CancellationToken,
    /// Set (with the outputs emptied) when the task ends, so the topology's handles on its
    /// outputs do not keep consumer channels open. A reload re-wires an output only under
    /// this lock and only while it is unset.
    outputs_closed: Arc<std::sync::Mutex<bool>>,
}

/// What a reload changed, by component id.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReloadSummary {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

impl ReloadSummary {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// A reload that cannot be applied; the running pipeline is left as it was.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("`data_dir` changed from {old} to {new}: restart logweir to apply it")]
    DataDirChanged { old: String, new: String },
    #[error("`api` changed: restart logweir to apply it")]
    ApiChanged,
    #[error("source `{id}` ({type_name}) changed, but {reason}; restart logweir to apply it")]
    SourceNotReplaceable {
        id: String,
        type_name: String,
        reason: &'static str,
    },
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// A started pipeline.
pub struct Topology {
    components: HashMap<String, RunningComponent>,
    tasks: JoinSet<Result<(), ComponentError>>,
    /// Task id -> (component id, kind), for reports.
    task_names: HashMap<tokio::task::Id, (String, &'static str)>,
    shutdown: CancellationToken,
    edges: Vec<(String, Arc<EdgeStats>)>,
    data_dir: PathBuf,
    api: Option<ApiConfig>,
    /// Readiness, taps and byte measuring, shared with the API; reloads keep them.
    instrumentation: Instrumentation,
    /// How often a replacement still waiting for its predecessor says so.
    predecessor_wait_warning: Duration,
    report: RunReport,
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

/// A component built by a reload (or the start), not spawned yet.
struct Prepared {
    id: String,
    running: RunningComponent,
    future: ComponentFuture,
    /// The task of the instance this one replaces: the new one starts once it has ended, so
    /// a replaced component's in-flight events reach its consumers first (order is kept) and
    /// two instances never share checkpoints, buffers or files.
    after: Option<CancellationToken>,
    /// Sinks: the readiness handle the new instance reports to, registered at commit.
    readiness: Option<ReadinessHandle>,
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
        let mut topology = Topology {
            components: HashMap::new(),
            tasks: JoinSet::new(),
            task_names: HashMap::new(),
            shutdown: CancellationToken::new(),
            edges: Vec::new(),
            data_dir: config.data_dir.clone(),
            api: config.api.clone(),
            instrumentation: instrumentation.clone(),
            predecessor_wait_warning: PREDECESSOR_WAIT_WARNING,
            report: RunReport::default(),
        };
        topology.apply(config)?;
        instrumentation.readiness.set_started();
        Ok(topology)
    }

    /// Applies a new configuration to the running pipeline: only components whose table
    /// changed are rebuilt, unchanged ones keep running with their channels and state (an
    /// unchanged source is not touched, so it keeps its position). Removed consumers are
    /// detached from their producers and drain; removed sources stop. Everything new is
    /// built before anything running is touched, so a failed build changes nothing.
    /// See "Reload" in `DESIGN.md`.
    pub fn reload(&mut self, new: &PipelineConfig) -> Result<ReloadSummary, ReloadError> {
        if new.data_dir != self.data_dir {
            return Err(ReloadError::DataDirChanged {
                old: self.data_dir.display().to_string(),
                new: new.data_dir.display().to_string(),
            });
        }
        if new.api != self.api {
            return Err(ReloadError::ApiChanged);
        }
        for decl in &new.sources {
            let Some(running) = self.components.get(&decl.id) else {
                continue;
            };
            let Some(old) = &running.source else {
                continue;
            };
            if running.table == decl.table {
                continue;
            }
            if let Some(reason) = decl.config.cannot_replace(old) {
                return Err(ReloadError::SourceNotReplaceable {
                    id: decl.id.clone(),
                    type_name: decl.type_name.clone(),
                    reason,
                });
            }
        }
        Ok(self.apply(new)?)
    }

    fn apply(&mut self, config: &PipelineConfig) -> Result<ReloadSummary, BuildError> {
        let declared: Vec<(&str, ComponentKind, &toml::Value)> = config
            .sources
            .iter()
            .map(|d| (d.id.as_str(), ComponentKind::Source, &d.table))
            .chain(
                config
                    .transforms
                    .iter()
                    .map(|d| (d.id.as_str(), ComponentKind::Transform, &d.table)),
            )
            .chain(
                config
                    .sinks
                    .iter()
                    .map(|d| (d.id.as_str(), ComponentKind::Sink, &d.table)),
            )
            .collect();
        // Unchanged components, and a strong sender into each unchanged consumer. A consumer
        // whose channel already closed (its producers all ended) is finishing: rebuilt.
        let mut keep: HashSet<String> = HashSet::new();
        let mut senders: HashMap<String, BatchSender> = HashMap::new();
        for (id, kind, table) in &declared {
            let Some(running) = self.components.get(*id) else {
                continue;
            };
            if running.kind != *kind || &running.table != *table {
                continue;
            }
            if running.source.is_some()
                && running.acknowledged != reaches_acknowledging_sink(config, id)
            {
                continue;
            }
            match &running.input {
                None => {
                    keep.insert(id.to_string());
                }
                Some(weak) => {
                    if let Some(tx) = weak.upgrade() {
                        senders.insert(id.to_string(), tx);
                        keep.insert(id.to_string());
                    }
                }
            }
        }
        let mut summary = ReloadSummary::default();
        for (id, _, _) in &declared {
            if !keep.contains(*id) {
                if self.components.contains_key(*id) {
                    summary.changed.push(id.to_string());
                } else {
                    summary.added.push(id.to_string());
                }
            }
        }
        let declared_ids: HashSet<&str> = declared.iter().map(|(id, _, _)| *id).collect();
        let mut removed: Vec<String> = self
            .components
            .keys()
            .filter(|id| !declared_ids.contains(id.as_str()))
            .cloned()
            .collect();
        removed.sort();
        summary.removed = removed.clone();

        // One new channel per new consumer.
        let default_buffer = BufferConfig::default();
        let mut receivers: HashMap<String, BatchReceiver> = HashMap::new();
        let mut new_edges = Vec::new();
        let consumers = config
            .transforms
            .iter()
            .map(|t| {
                (
                    &t.id,
                    "transform",
                    t.type_name.as_str(),
                    &default_buffer,
                    true,
                )
            })
            .chain(config.sinks.iter().map(|s| {
                (
                    &s.id,
                    "sink",
                    s.type_name.as_str(),
                    s.buffer.as_ref().unwrap_or(&default_buffer),
                    s.acknowledgements.unwrap_or(true),
                )
            }));
        for (id, kind, type_name, buffer, acknowledgements) in consumers {
            if keep.contains(id) {
                continue;
            }
            let labels = internal_metrics::component_labels(id, kind, type_name);
            let drop_when_full = (matches!(buffer, BufferConfig::Memory { .. })
                && buffer.when_full() == WhenFull::DropNewest)
                .then(|| metrics::counter!(internal_metrics::BUFFER_DISCARDED_EVENTS, &labels));
            let channel_metrics = channel::ChannelMetrics {
                buffered: metrics::gauge!(internal_metrics::BUFFER_EVENTS, &labels),
                received: metrics::counter!(internal_metrics::RECEIVED_EVENTS, &labels),
                received_bytes: metrics::counter!(internal_metrics::RECEIVED_BYTES, &labels),
                drop_when_full,
            };
            if let BufferConfig::Disk { max_bytes, .. } = buffer {
                metrics::gauge!(internal_metrics::BUFFER_MAX_BYTE_SIZE, &labels)
                    .set(*max_bytes as f64);
            }
            // A sink's memory buffer holds `max_events` events; a transform's input, and the
            // channel in front of a disk buffer's writer, whole batches.
            let (max_events, (mut tx, rx)) = match buffer {
                BufferConfig::Memory { max_events, .. } if kind == "sink" => (
                    *max_events,
                    channel::channel_with_event_limit(*max_events, channel_metrics),
                ),
                _ => {
                    let capacity_batches = buffer.channel_capacity_batches();
                    (
                        capacity_batches * MAX_BATCH_EVENTS,
                        channel::channel_with_metrics(capacity_batches, channel_metrics),
                    )
                }
            };
            metrics::gauge!(internal_metrics::BUFFER_MAX_EVENTS, &labels).set(max_events as f64);
            if !acknowledgements {
                tx.acknowledge_on_send();
            }
            new_edges.push((id.clone(), Arc::clone(tx.stats())));
            senders.insert(id.clone(), tx);
            receivers.insert(id.clone(), rx);
        }
        // (producer id, port) -> senders of its consumers, in the new graph.
        let mut wiring: HashMap<(String, Option<String>), Vec<BatchSender>> = HashMap::new();
        let consumer_inputs = config
            .transforms
            .iter()
            .map(|t| (&t.id, &t.inputs))
            .chain(config.sinks.iter().map(|s| (&s.id, &s.inputs)));
        for (id, inputs) in consumer_inputs {
            let tx = &senders[id];
            for input in inputs {
                wiring
                    .entry((input.component.clone(), input.port.clone()))
                    .or_default()
                    .push(tx.clone());
            }
        }
        let instrumentation = &self.instrumentation;
        let new_output = |wiring: &mut HashMap<(String, Option<String>), Vec<BatchSender>>,
                          id: &str,
                          port: Option<&str>,
                          kind: &'static str,
                          type_name: &str| {
            let mut labels = internal_metrics::component_labels(id, kind, type_name);
            // The batch size histogram is per component, whatever the port.
            let batch_events = metrics::histogram!(internal_metrics::BATCH_EVENTS, &labels);
            if let Some(p) = port {
                labels.push(("output", p.to_string()));
            }
            Output {
                targets: Arc::new(ArcSwap::from_pointee(
                    wiring
                        .remove(&(id.to_string(), port.map(str::to_string)))
                        .unwrap_or_default(),
                )),
                metrics: OutputMetrics {
                    sent: metrics::counter!(internal_metrics::SENT_EVENTS, &labels),
                    sent_bytes: metrics::counter!(internal_metrics::SENT_BYTES, &labels),
                    batch_events,
                    measure_bytes: instrumentation.measure_bytes,
                },
                tap: Some(instrumentation.taps.point(id)),
                closed: Arc::default(),
            }
        };
        let after = |components: &HashMap<String, RunningComponent>, id: &str| {
            components.get(id).map(|c| c.done.clone())
        };

        // Build everything new before touching what runs.
        let mut prepared: Vec<Prepared> = Vec::new();
        for decl in &config.sinks {
            if keep.contains(&decl.id) {
                continue;
            }
            let input = receivers.remove(&decl.id).expect("a channel per new sink");
            let previous = after(&self.components, &decl.id);
            let readiness = ReadinessHandle::detached(&decl.id);
            let future = self.build_sink(decl, input, readiness.clone(), previous.clone())?;
            prepared.push(Prepared {
                id: decl.id.clone(),
                running: RunningComponent {
                    kind: ComponentKind::Sink,
                    table: decl.table.clone(),
                    input: Some(senders[&decl.id].downgrade()),
                    outputs: Vec::new(),
                    stop: None,
                    source: None,
                    acknowledged: true,
                    done: CancellationToken::new(),
                    outputs_closed: Arc::default(),
                },
                future,
                after: previous,
                readiness: Some(readiness),
            });
        }
        let transform_context = crate::transforms::TransformContext::new(self.data_dir.clone());
        for decl in &config.transforms {
            if keep.contains(&decl.id) {
                continue;
            }
            let instances = if decl.config.runs_concurrently() {
                transform_instances()
            } else {
                1
            };
            let transforms = (0..instances)
                .map(|_| decl.config.build(&decl.id, &transform_context))
                .collect::<Result<Vec<_>, String>>()
                .map_err(|message| BuildError::Component {
                    component_kind: "transform",
                    id: decl.id.clone(),
                    type_name: decl.type_name.clone(),
                    message,
                })?;
            let ports = decl.config.named_outputs();
            let default_output =
                new_output(&mut wiring, &decl.id, None, "transform", &decl.type_name);
            let named: Vec<Output> = ports
                .iter()
                .map(|p| new_output(&mut wiring, &decl.id, Some(p), "transform", &decl.type_name))
                .collect();
            let mut outputs = vec![(None, Arc::clone(&default_output.targets))];
            outputs.extend(
                ports
                    .iter()
                    .zip(&named)
                    .map(|(p, o)| (Some(p.clone()), Arc::clone(&o.targets))),
            );
            let input = receivers
                .remove(&decl.id)
                .expect("a channel per new transform");
            prepared.push(Prepared {
                id: decl.id.clone(),
                running: RunningComponent {
                    kind: ComponentKind::Transform,
                    table: decl.table.clone(),
                    input: Some(senders[&decl.id].downgrade()),
                    outputs,
                    stop: None,
                    source: None,
                    acknowledged: true,
                    done: CancellationToken::new(),
                    outputs_closed: Arc::default(),
                },
                future: Box::pin(transform_runner::run_transform(
                    decl.id.clone(),
                    transforms,
                    input,
                    default_output,
                    named,
                )),
                after: after(&self.components, &decl.id),
                readiness: None,
            });
        }
        for decl in &config.sources {
            if keep.contains(&decl.id) {
                continue;
            }
            let output = new_output(&mut wiring, &decl.id, None, "source", &decl.type_name);
            let targets = Arc::clone(&output.targets);
            let outputs_closed = Arc::clone(&output.closed);
            let stop = self.shutdown.child_token();
            let ctx = SourceContext {
                id: decl.id.clone(),
                acknowledgements: reaches_acknowledging_sink(config, &decl.id),
                output,
                shutdown: stop.clone(),
                data_dir: self.data_dir.clone(),
                predecessor: self.components.get(&decl.id).and_then(|c| c.source.clone()),
            };
            let future = decl
                .config
                .build(ctx)
                .map_err(|message| BuildError::Component {
                    component_kind: "source",
                    id: decl.id.clone(),
                    type_name: decl.type_name.clone(),
                    message,
                })?;
            prepared.push(Prepared {
                id: decl.id.clone(),
                running: RunningComponent {
                    kind: ComponentKind::Source,
                    table: decl.table.clone(),
                    input: None,
                    outputs: vec![(None, targets)],
                    stop: Some(stop),
                    source: Some(decl.config.clone()),
                    acknowledged: reaches_acknowledging_sink(config, &decl.id),
                    done: CancellationToken::new(),
                    outputs_closed,
                },
                future,
                after: after(&self.components, &decl.id),
                readiness: None,
            });
        }

        // Commit. 1: re-wire the outputs of unchanged producers to the new graph; their
        // old consumer lists drop, detaching removed and replaced consumers.
        for (id, running) in &self.components {
            if !keep.contains(id) {
                continue;
            }
            let closed = running
                .outputs_closed
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            for (port, targets) in &running.outputs {
                let new_targets = wiring
                    .remove(&(id.clone(), port.clone()))
                    .unwrap_or_default();
                // A finished producer sends nothing more; giving it senders would only keep
                // its new consumers' channels open forever.
                if !*closed {
                    targets.store(Arc::new(new_targets));
                }
            }
        }
        drop(senders);
        // 2: retire removed and replaced instances. Sources are told to stop; consumers end
        // by themselves once every producer has let go of their channel and it is drained.
        let retired: Vec<String> = self
            .components
            .keys()
            .filter(|id| !keep.contains(*id))
            .cloned()
            .collect();
        for id in retired {
            if let Some(old) = self.components.remove(&id) {
                if let Some(stop) = &old.stop {
                    stop.cancel();
                }
                if summary.removed.contains(&id) {
                    // Replaced sinks are re-registered below; removed ones leave `/ready`,
                    // removed producers leave `/tap`.
                    match old.kind {
                        ComponentKind::Sink => self.instrumentation.readiness.unregister(&id),
                        ComponentKind::Source | ComponentKind::Transform => {
                            self.instrumentation.taps.remove(&id)
                        }
                    }
                }
                tracing::debug!(component_id = %id, "component retired; draining");
            }
        }
        // 3: start the new instances.
        for p in prepared {
            if let Some(readiness) = &p.readiness {
                self.instrumentation.readiness.attach(readiness);
            }
            let kind = p.running.kind.as_str();
            let done = p.running.done.clone();
            let after = p.after;
            let inner = p.future;
            let outputs: Vec<_> = p
                .running
                .outputs
                .iter()
                .map(|(_, t)| Arc::clone(t))
                .collect();
            let outputs_closed = Arc::clone(&p.running.outputs_closed);
            let id = p.id.clone();
            let warn_every = self.predecessor_wait_warning;
            let fut = async move {
                let _done = done.drop_guard();
                if let Some(previous) = after {
                    wait_for_predecessor(&id, kind, &previous, warn_every).await;
                }
                let result = inner.await;
                close_outputs(&outputs_closed, &outputs);
                result
            };
            let handle = self.tasks.spawn(fut);
            self.task_names.insert(handle.id(), (p.id.clone(), kind));
            self.components.insert(p.id, p.running);
        }
        self.edges.retain(|(id, _)| keep.contains(id));
        self.edges.extend(new_edges);
        Ok(summary)
    }

    /// The sink's future; with a disk buffer, the buffer is opened when the future first
    /// runs (after the instance it replaces has closed the same buffer directory).
    fn build_sink(
        &self,
        decl: &crate::config::ComponentDecl<crate::sinks::SinkConfig>,
        input: BatchReceiver,
        readiness: ReadinessHandle,
        previous: Option<CancellationToken>,
    ) -> Result<ComponentFuture, BuildError> {
        let build_error = |message: String| BuildError::Component {
            component_kind: "sink",
            id: decl.id.clone(),
            type_name: decl.type_name.clone(),
            message,
        };
        let Some(BufferConfig::Disk {
            max_bytes,
            when_full,
        }) = decl.buffer.clone()
        else {
            let ctx = SinkContext {
                id: decl.id.clone(),
                input,
                data_dir: self.data_dir.clone(),
                readiness,
            };
            return decl.config.build(ctx).map_err(build_error);
        };
        let dir = self.data_dir.join("buffers").join(&decl.id);
        let start = {
            let id = decl.id.clone();
            let data_dir = self.data_dir.clone();
            let config = decl.config.clone();
            move |input: BatchReceiver| -> Result<ComponentFuture, String> {
                let (buffer, sink_input) = DiskBuffer::start(dir, &id, max_bytes, when_full, input)
                    .map_err(|e| e.to_string())?;
                let ctx = SinkContext {
                    id: id.clone(),
                    input: sink_input,
                    data_dir,
                    readiness,
                };
                let sink = config.build(ctx)?;
                Ok(Box::pin(async move {
                    let result = sink.await;
                    let report = buffer.join().await;
                    tracing::info!(component_id = %id, written = report.written_events, replayed = report.replayed_events, discarded = report.discarded_events, corrupt = report.corrupt_records, "disk buffer closed");
                    result
                }))
            }
        };
        if previous.is_none() {
            return start(input).map_err(build_error);
        }
        // Check the sink's options now (the built future is never run), open the buffer
        // later.
        let (_, probe_input) = channel::channel(1);
        let _never_run = decl
            .config
            .build(SinkContext {
                id: decl.id.clone(),
                input: probe_input,
                data_dir: self.data_dir.clone(),
                readiness: ReadinessHandle::detached(&decl.id),
            })
            .map_err(build_error)?;
        Ok(Box::pin(async move {
            let sink = start(input).map_err(ComponentError::new)?;
            sink.await
        }))
    }

    /// How often a component replaced by a reload, still waiting for the instance it
    /// replaces to drain, logs a warning (default 30 s).
    pub fn set_predecessor_wait_warning(&mut self, every: Duration) {
        self.predecessor_wait_warning = every.max(Duration::from_millis(10));
    }

    /// The token that stops every source.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Channel statistics, by consuming component id.
    pub fn edges(&self) -> &[(String, Arc<EdgeStats>)] {
        &self.edges
    }

    /// Ids of the components of the current configuration.
    pub fn component_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.components.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Waits for one component task to end and records how; `false` once none is left.
    /// Cancel-safe: use it in a `select!` beside reload triggers.
    pub async fn next_finished(&mut self) -> bool {
        match self.tasks.join_next_with_id().await {
            None => false,
            Some(result) => {
                self.record(result, false);
                true
            }
        }
    }

    fn record(
        &mut self,
        result: Result<(tokio::task::Id, Result<(), ComponentError>), tokio::task::JoinError>,
        aborting: bool,
    ) {
        let (task, result) = match result {
            Ok((task, r)) => (task, r),
            Err(e) if e.is_cancelled() => (e.id(), Err(ComponentError::new("aborted"))),
            Err(e) => (e.id(), Err(ComponentError::new(format!("panicked: {e}")))),
        };
        let (id, kind) = self
            .task_names
            .remove(&task)
            .unwrap_or_else(|| ("?".to_string(), "component"));
        match result {
            Ok(()) => {
                tracing::debug!(component_id = %id, component_kind = kind, "component finished")
            }
            Err(e) if aborting && e.message == "aborted" => {}
            Err(e) => {
                tracing::error!(component_id = %id, component_kind = kind, error = %e, "component failed");
                if e.message != "aborted" {
                    self.report.failures.push((id, e.message));
                }
                // A failed component stops the sources, so the rest drains and the run ends.
                self.shutdown.cancel();
            }
        }
    }

    /// Waits until every component has finished: naturally (sources at their end), or after
    /// the shutdown token is cancelled, in which case the in-flight events get
    /// `drain_deadline` to reach the sinks before the rest is aborted.
    pub async fn wait(mut self, drain_deadline: Duration) -> RunReport {
        let shutdown = self.shutdown.clone();
        loop {
            tokio::select! {
                more = self.next_finished() => if !more { return self.report },
                () = shutdown.cancelled() => break,
            }
        }
        let deadline = tokio::time::sleep(drain_deadline);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                more = self.next_finished() => if !more { return self.report },
                () = &mut deadline => break,
            }
        }
        let mut aborted: Vec<String> = self.task_names.values().map(|(id, _)| id.clone()).collect();
        aborted.sort();
        self.report.aborted = aborted;
        self.tasks.abort_all();
        while let Some(result) = self.tasks.join_next_with_id().await {
            self.record(result, true);
        }
        self.report
    }
}

/// How long a replacement waits for its predecessor before saying so (and again after each
/// further such period), unless [`Topology::set_predecessor_wait_warning`] says otherwise.
pub const PREDECESSOR_WAIT_WARNING: Duration = Duration::from_secs(30);

/// Waits until the instance a reload replaced has ended. A predecessor that cannot drain
/// (a sink retrying an unreachable destination) holds the new configuration back: that is
/// logged, never hidden.
async fn wait_for_predecessor(
    id: &str,
    kind: &str,
    previous: &CancellationToken,
    warn_every: Duration,
) {
    let started = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = previous.cancelled() => return,
            () = tokio::time::sleep(warn_every) => {
                tracing::warn!(
                    component_id = %id,
                    component_kind = kind,
                    waited_secs = started.elapsed().as_secs(),
                    "the instance replaced by the reload is still draining (a destination not accepting events?); the new configuration of this component applies once it has, or restart logweir to apply it now"
                );
            }
        }
    }
}

/// How many instances of a transform that keeps no state between events run at once: one
/// per runtime worker thread, at most [`MAX_TRANSFORM_INSTANCES`].
fn transform_instances() -> usize {
    tokio::runtime::Handle::try_current()
        .map_or(1, |h| h.metrics().num_workers())
        .clamp(1, MAX_TRANSFORM_INSTANCES)
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
