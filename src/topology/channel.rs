//! Bounded channels of [`EventBatch`]es between components, with the accounting that proves
//! memory stays bounded.
//!
//! Each consuming component owns one receiver; every upstream output holds a clone of its
//! sender (fan-in). Capacity is counted in batches, or, for a sink's memory buffer
//! (`max_events`), in events: permits of a semaphore, taken by a batch as it goes in and given
//! back as it comes out. A full channel makes `send` wait, which is how a slow sink slows its
//! sources (backpressure). Each edge counts the events currently inside it and the highest
//! count seen, so tests can assert the bound instead of timing.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::MAX_BATCH_EVENTS;
use crate::event::EventBatch;

/// Counters of one channel, readable while the pipeline runs.
#[derive(Debug, Default)]
pub struct EdgeStats {
    pub capacity_batches: usize,
    /// The event bound of a sink's memory buffer (`None`: bounded in batches only).
    pub max_events: Option<usize>,
    /// Events sent into the channel and not yet received (includes batches whose sender is
    /// waiting for room).
    pub in_flight_events: AtomicUsize,
    pub peak_in_flight_events: AtomicUsize,
    /// Sends that found the channel full and had to wait.
    pub blocked_sends: AtomicU64,
    /// Events discarded because the channel was full (`when_full = "drop_newest"`).
    pub discarded_events: AtomicU64,
    pub sent_events: AtomicU64,
}

/// A batch in a channel, with its estimated byte size when the producer measured it (for
/// `logweir_component_received_bytes_total`, so the size is computed once per hop).
#[derive(Debug)]
struct Envelope {
    batch: EventBatch,
    bytes: u64,
    /// The batch's share of an event-bounded channel, given back when it is received.
    _permit: Option<OwnedSemaphorePermit>,
}

/// The event bound of a channel: one permit per event inside it.
#[derive(Debug, Clone)]
struct EventLimit {
    permits: Arc<Semaphore>,
    max_events: usize,
}

impl EventLimit {
    /// The permits a batch of `n` events takes: a batch larger than the whole bound takes
    /// all of it (so it waits for an empty channel instead of forever).
    fn permits_for(&self, n: usize) -> u32 {
        n.min(self.max_events) as u32
    }
}

/// The sending half; cheap to clone.
#[derive(Debug, Clone)]
pub struct BatchSender {
    tx: mpsc::Sender<Envelope>,
    stats: Arc<EdgeStats>,
    /// `logweir_buffer_events` of the consuming component.
    buffered: metrics::Gauge,
    /// `Some` when the consumer's buffer drops new batches instead of waiting
    /// (`when_full = "drop_newest"`): counts them in `logweir_buffer_discarded_events_total`.
    drop_when_full: Option<metrics::Counter>,
    /// The consumer is a sink with `acknowledgements = false`: events are finished as
    /// delivered as they are handed to it, so no source waits for that sink.
    acknowledge_on_send: bool,
    event_limit: Option<EventLimit>,
}

/// A sender that does not keep its channel open (see [`BatchSender::downgrade`]).
#[derive(Debug, Clone)]
pub struct WeakBatchSender {
    tx: mpsc::WeakSender<Envelope>,
    stats: Arc<EdgeStats>,
    buffered: metrics::Gauge,
    drop_when_full: Option<metrics::Counter>,
    acknowledge_on_send: bool,
    event_limit: Option<EventLimit>,
}

impl WeakBatchSender {
    /// A sender again, unless every sender is gone (the consumer is draining or finished).
    pub fn upgrade(&self) -> Option<BatchSender> {
        Some(BatchSender {
            tx: self.tx.upgrade()?,
            stats: Arc::clone(&self.stats),
            buffered: self.buffered.clone(),
            drop_when_full: self.drop_when_full.clone(),
            acknowledge_on_send: self.acknowledge_on_send,
            event_limit: self.event_limit.clone(),
        })
    }
}

/// The receiver's side went away.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the downstream component has stopped")]
pub struct ClosedError;

impl BatchSender {
    pub async fn send(&self, batch: EventBatch) -> Result<(), ClosedError> {
        self.send_measured(batch, 0).await
    }

    /// Finish every event as delivered when it is sent (the consumer is a sink with
    /// `acknowledgements = false`). Applies to the clones made afterwards.
    pub fn acknowledge_on_send(&mut self) {
        self.acknowledge_on_send = true;
    }

    fn release(&self, batch: &mut EventBatch) {
        if self.acknowledge_on_send {
            batch.finish(crate::finalization::EventStatus::Delivered);
        }
    }

    /// [`send`](Self::send) of a batch whose estimated byte size the producer computed.
    pub async fn send_measured(
        &self,
        mut batch: EventBatch,
        bytes: u64,
    ) -> Result<(), ClosedError> {
        self.release(&mut batch);
        let n = batch.len();
        let now = self.stats.in_flight_events.fetch_add(n, Ordering::AcqRel) + n;
        self.stats
            .peak_in_flight_events
            .fetch_max(now, Ordering::AcqRel);
        self.stats
            .sent_events
            .fetch_add(n as u64, Ordering::Relaxed);
        self.buffered.increment(n as f64);
        let permit = match &self.event_limit {
            None => None,
            Some(limit) => {
                let wanted = limit.permits_for(n);
                match Arc::clone(&limit.permits).try_acquire_many_owned(wanted) {
                    Ok(permit) => Some(permit),
                    Err(_) => {
                        if let Some(discarded) = &self.drop_when_full {
                            self.discard(batch, discarded);
                            return Ok(());
                        }
                        self.stats.blocked_sends.fetch_add(1, Ordering::Relaxed);
                        // The semaphore is never closed: it lives as long as the senders.
                        Arc::clone(&limit.permits)
                            .acquire_many_owned(wanted)
                            .await
                            .ok()
                    }
                }
            }
        };
        let envelope = Envelope {
            batch,
            bytes,
            _permit: permit,
        };
        let result = match self.tx.try_send(envelope) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(envelope)) => match &self.drop_when_full {
                Some(discarded) => {
                    self.discard(envelope.batch, discarded);
                    return Ok(());
                }
                None => {
                    self.stats.blocked_sends.fetch_add(1, Ordering::Relaxed);
                    self.tx.send(envelope).await.map_err(|_| ClosedError)
                }
            },
            Err(mpsc::error::TrySendError::Closed(_)) => Err(ClosedError),
        };
        if result.is_err() {
            self.stats.in_flight_events.fetch_sub(n, Ordering::AcqRel);
            self.buffered.decrement(n as f64);
        }
        result
    }

    /// Drops a batch the full channel has no room for (`when_full = "drop_newest"`).
    fn discard(&self, mut batch: EventBatch, discarded: &metrics::Counter) {
        let n = batch.len();
        discarded.increment(n as u64);
        self.stats
            .discarded_events
            .fetch_add(n as u64, Ordering::Relaxed);
        batch.finish(crate::finalization::EventStatus::Dropped);
        // Not in the channel after all.
        self.stats.in_flight_events.fetch_sub(n, Ordering::AcqRel);
        self.buffered.decrement(n as f64);
    }

    pub fn stats(&self) -> &Arc<EdgeStats> {
        &self.stats
    }

    /// A handle that does not keep the channel open: the topology keeps one per consumer
    /// so that a reload can attach new producers while the channel is still open.
    pub fn downgrade(&self) -> WeakBatchSender {
        WeakBatchSender {
            tx: self.tx.downgrade(),
            stats: Arc::clone(&self.stats),
            buffered: self.buffered.clone(),
            drop_when_full: self.drop_when_full.clone(),
            acknowledge_on_send: self.acknowledge_on_send,
            event_limit: self.event_limit.clone(),
        }
    }

    /// Blocking variant for producers on a dedicated thread (the disk buffer's reader).
    pub fn blocking_send(&self, mut batch: EventBatch) -> Result<(), ClosedError> {
        self.release(&mut batch);
        let n = batch.len();
        let now = self.stats.in_flight_events.fetch_add(n, Ordering::AcqRel) + n;
        self.stats
            .peak_in_flight_events
            .fetch_max(now, Ordering::AcqRel);
        self.stats
            .sent_events
            .fetch_add(n as u64, Ordering::Relaxed);
        self.buffered.increment(n as f64);
        // Called off the runtime (a dedicated thread), where waiting for permits may block.
        let permit = self.event_limit.as_ref().and_then(|limit| {
            futures::executor::block_on(
                Arc::clone(&limit.permits).acquire_many_owned(limit.permits_for(n)),
            )
            .ok()
        });
        self.tx
            .blocking_send(Envelope {
                batch,
                bytes: 0,
                _permit: permit,
            })
            .map_err(|_| {
                self.stats.in_flight_events.fetch_sub(n, Ordering::AcqRel);
                self.buffered.decrement(n as f64);
                ClosedError
            })
    }

    /// Sends unless the channel is full; a full channel gives the batch back.
    pub fn try_send(&self, mut batch: EventBatch) -> Result<(), TrySendError> {
        self.release(&mut batch);
        let n = batch.len();
        // Count before handing over, as `send` does: once the batch is in the channel the
        // receiver may already be subtracting it.
        let now = self.stats.in_flight_events.fetch_add(n, Ordering::AcqRel) + n;
        self.buffered.increment(n as f64);
        let undo = || {
            self.stats.in_flight_events.fetch_sub(n, Ordering::AcqRel);
            self.buffered.decrement(n as f64);
        };
        let permit = match &self.event_limit {
            None => None,
            Some(limit) => {
                match Arc::clone(&limit.permits).try_acquire_many_owned(limit.permits_for(n)) {
                    Ok(permit) => Some(permit),
                    Err(_) => {
                        undo();
                        return Err(TrySendError::Full(batch));
                    }
                }
            }
        };
        match self.tx.try_send(Envelope {
            batch,
            bytes: 0,
            _permit: permit,
        }) {
            Ok(()) => {
                self.stats
                    .peak_in_flight_events
                    .fetch_max(now, Ordering::AcqRel);
                self.stats
                    .sent_events
                    .fetch_add(n as u64, Ordering::Relaxed);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(e)) => {
                undo();
                Err(TrySendError::Full(e.batch))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                undo();
                Err(TrySendError::Closed)
            }
        }
    }
}

/// Why `try_send` did not send.
#[derive(Debug)]
pub enum TrySendError {
    Full(EventBatch),
    Closed,
}

/// The receiving half, owned by one component.
#[derive(Debug)]
pub struct BatchReceiver {
    rx: mpsc::Receiver<Envelope>,
    stats: Arc<EdgeStats>,
    buffered: metrics::Gauge,
    /// `logweir_component_received_events_total` of the consuming component.
    received: metrics::Counter,
    /// `logweir_component_received_bytes_total` of the consuming component.
    received_bytes: metrics::Counter,
}

impl BatchReceiver {
    /// The next batch, or `None` once every sender is gone and the channel is empty.
    pub async fn recv(&mut self) -> Option<EventBatch> {
        let envelope = self.rx.recv().await?;
        self.account(&envelope);
        Some(envelope.batch)
    }

    /// Blocking variant for sinks that run on a dedicated thread.
    pub fn blocking_recv(&mut self) -> Option<EventBatch> {
        let envelope = self.rx.blocking_recv()?;
        self.account(&envelope);
        Some(envelope.batch)
    }

    fn account(&self, envelope: &Envelope) {
        let n = envelope.batch.len();
        self.stats.in_flight_events.fetch_sub(n, Ordering::AcqRel);
        self.buffered.decrement(n as f64);
        self.received.increment(n as u64);
        if envelope.bytes > 0 {
            self.received_bytes.increment(envelope.bytes);
        }
    }

    pub fn stats(&self) -> &Arc<EdgeStats> {
        &self.stats
    }
}

/// A bounded channel holding at most `capacity_batches` batches, without metrics.
pub fn channel(capacity_batches: usize) -> (BatchSender, BatchReceiver) {
    channel_with_metrics(capacity_batches, ChannelMetrics::default())
}

/// The metric handles of one channel (all no-ops by default).
#[derive(Debug, Clone)]
pub struct ChannelMetrics {
    /// `logweir_buffer_events` of the consumer.
    pub buffered: metrics::Gauge,
    /// `logweir_component_received_events_total` of the consumer.
    pub received: metrics::Counter,
    /// `logweir_component_received_bytes_total` of the consumer.
    pub received_bytes: metrics::Counter,
    /// `Some` when the consumer's buffer drops new batches instead of waiting.
    pub drop_when_full: Option<metrics::Counter>,
}

impl Default for ChannelMetrics {
    fn default() -> ChannelMetrics {
        ChannelMetrics {
            buffered: metrics::Gauge::noop(),
            received: metrics::Counter::noop(),
            received_bytes: metrics::Counter::noop(),
            drop_when_full: None,
        }
    }
}

/// A bounded channel whose fill level and receptions are reported to `metrics`.
pub fn channel_with_metrics(
    capacity_batches: usize,
    metrics: ChannelMetrics,
) -> (BatchSender, BatchReceiver) {
    build(capacity_batches, None, metrics)
}

/// A channel holding at most `max_events` events (a sink's memory buffer), whatever the
/// size of the batches; a batch larger than that goes in alone.
pub fn channel_with_event_limit(
    max_events: usize,
    metrics: ChannelMetrics,
) -> (BatchSender, BatchReceiver) {
    let max_events = max_events.max(1);
    let limit = EventLimit {
        permits: Arc::new(Semaphore::new(max_events)),
        max_events,
    };
    build(max_events.div_ceil(MAX_BATCH_EVENTS), Some(limit), metrics)
}

/// A channel of `capacity_batches` batches, or bounded by `event_limit` when given.
fn build(
    capacity_batches: usize,
    event_limit: Option<EventLimit>,
    metrics: ChannelMetrics,
) -> (BatchSender, BatchReceiver) {
    let ChannelMetrics {
        buffered,
        received,
        received_bytes,
        drop_when_full,
    } = metrics;
    // An event-bounded queue never fills first: every batch in it holds at least one permit.
    let queue_batches = event_limit
        .as_ref()
        .map_or(capacity_batches, |l| l.max_events);
    let (tx, rx) = mpsc::channel(queue_batches.max(1));
    let stats = Arc::new(EdgeStats {
        capacity_batches,
        max_events: event_limit.as_ref().map(|l| l.max_events),
        ..EdgeStats::default()
    });
    (
        BatchSender {
            tx,
            stats: Arc::clone(&stats),
            buffered: buffered.clone(),
            drop_when_full,
            acknowledge_on_send: false,
            event_limit,
        },
        BatchReceiver {
            rx,
            stats,
            buffered,
            received,
            received_bytes,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    fn batch(n: usize) -> EventBatch {
        EventBatch::new((0..n).map(|_| Event::default()).collect())
    }

    #[tokio::test]
    async fn counts_in_flight_and_blocks_when_full() {
        let (tx, mut rx) = channel(2);
        tx.send(batch(3)).await.unwrap();
        tx.send(batch(3)).await.unwrap();
        assert_eq!(tx.stats().in_flight_events.load(Ordering::Acquire), 6);
        let tx2 = tx.clone();
        let blocked = tokio::spawn(async move { tx2.send(batch(3)).await });
        tokio::task::yield_now().await;
        assert_eq!(rx.recv().await.unwrap().len(), 3);
        blocked.await.unwrap().unwrap();
        assert_eq!(tx.stats().peak_in_flight_events.load(Ordering::Acquire), 9);
        assert_eq!(tx.stats().blocked_sends.load(Ordering::Acquire), 1);
        drop(tx);
        assert_eq!(rx.recv().await.unwrap().len(), 3);
        assert_eq!(rx.recv().await.unwrap().len(), 3);
        assert!(rx.recv().await.is_none());
        assert_eq!(rx.stats().in_flight_events.load(Ordering::Acquire), 0);
    }

    fn limited(max_events: usize, drop_newest: bool) -> (BatchSender, BatchReceiver) {
        channel_with_event_limit(
            max_events,
            ChannelMetrics {
                drop_when_full: drop_newest.then(metrics::Counter::noop),
                ..ChannelMetrics::default()
            },
        )
    }

    #[tokio::test]
    async fn an_event_limit_counts_events_not_batches() {
        let (tx, mut rx) = limited(100, false);
        // Two batches of 40 fit; a third waits until a batch is taken out.
        tx.send(batch(40)).await.unwrap();
        tx.send(batch(40)).await.unwrap();
        let tx2 = tx.clone();
        let blocked = tokio::spawn(async move { tx2.send(batch(40)).await });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!blocked.is_finished());
        assert_eq!(tx.stats().blocked_sends.load(Ordering::Acquire), 1);
        assert_eq!(rx.recv().await.unwrap().len(), 40);
        blocked.await.unwrap().unwrap();
        // A batch larger than the whole limit goes in alone, once the channel is empty.
        let tx3 = tx.clone();
        let big = tokio::spawn(async move { tx3.send(batch(150)).await });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!big.is_finished());
        assert_eq!(rx.recv().await.unwrap().len(), 40);
        assert_eq!(rx.recv().await.unwrap().len(), 40);
        big.await.unwrap().unwrap();
        assert!(matches!(tx.try_send(batch(1)), Err(TrySendError::Full(_))));
        assert_eq!(rx.recv().await.unwrap().len(), 150);
        tx.try_send(batch(100)).unwrap();
        assert_eq!(rx.recv().await.unwrap().len(), 100);
        assert_eq!(rx.stats().in_flight_events.load(Ordering::Acquire), 0);
        assert_eq!(rx.stats().max_events, Some(100));
    }

    #[tokio::test]
    async fn an_event_limit_with_drop_newest_drops_what_does_not_fit() {
        use crate::finalization::{BatchNotifier, BatchStatus, EventFinalizer};
        let (tx, mut rx) = limited(100, true);
        tx.send(batch(70)).await.unwrap();
        let (notifier, status) = BatchNotifier::new();
        let mut extra = batch(40);
        for e in &mut extra.events {
            e.meta.finalizer = Some(EventFinalizer::new(Arc::clone(&notifier)));
        }
        drop(notifier);
        tx.send(extra).await.unwrap();
        tx.send(batch(30)).await.unwrap();
        assert_eq!(status.await, BatchStatus::Delivered);
        assert_eq!(tx.stats().discarded_events.load(Ordering::Acquire), 40);
        assert_eq!(rx.recv().await.unwrap().len(), 70);
        assert_eq!(rx.recv().await.unwrap().len(), 30);
        assert_eq!(rx.stats().in_flight_events.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn acknowledges_on_send_when_asked() {
        use crate::finalization::{BatchNotifier, BatchStatus, EventFinalizer};
        let (mut tx, mut rx) = channel(2);
        tx.acknowledge_on_send();
        let (notifier, status) = BatchNotifier::new();
        let mut sent = batch(3);
        for e in &mut sent.events {
            e.meta.finalizer = Some(EventFinalizer::new(Arc::clone(&notifier)));
        }
        drop(notifier);
        tx.clone().send(sent).await.unwrap();
        // Delivered while the batch still waits in the channel.
        assert_eq!(status.await, BatchStatus::Delivered);
        let received = rx.recv().await.unwrap();
        assert!(received.events.iter().all(|e| e.meta.finalizer.is_none()));
    }
}
