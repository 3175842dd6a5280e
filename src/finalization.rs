//! End-to-end delivery acknowledgements.
//!
//! A source that can replay (the file source) creates one [`BatchNotifier`] per read batch and
//! attaches an [`EventFinalizer`] to each event. Every copy of an event (fan-out clones it)
//! carries its own finalizer. A component that is done with an event says how:
//! delivered (a sink's destination confirmed it), dropped (a filter discarded it on purpose),
//! rejected (refused for good and dead-lettered) or errored (not delivered). When the last
//! finalizer of a batch is gone, the source's [`BatchStatusReceiver`] resolves to
//! [`BatchStatus::Delivered`] only if no copy of any event errored.
//!
//! The invariant this keeps: **a finalizer dropped without a status counts as an error.**
//! Events lost in an aborted task or a channel torn down at a shutdown deadline therefore
//! never advance a checkpoint; only explicit success does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// How a component finished with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    /// The destination confirmed it.
    Delivered,
    /// Discarded on purpose (filter, sample, throttle); nothing to retry.
    Dropped,
    /// Refused for good by the destination and written to the dead-letter file.
    Rejected,
    /// Not delivered; the source must not consider it done.
    Errored,
}

/// The outcome of a whole batch, as seen by its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchStatus {
    /// Every copy of every event was delivered, dropped on purpose or dead-lettered.
    Delivered,
    /// At least one copy errored or was lost.
    Failed,
}

/// Shared by all finalizers of one batch; reports when the last one is gone.
#[derive(Debug)]
pub struct BatchNotifier {
    failed: AtomicBool,
    sender: Mutex<Option<oneshot::Sender<BatchStatus>>>,
}

impl BatchNotifier {
    /// A notifier and the receiver its source awaits.
    pub fn new() -> (Arc<BatchNotifier>, BatchStatusReceiver) {
        let (tx, rx) = oneshot::channel();
        let notifier = Arc::new(BatchNotifier {
            failed: AtomicBool::new(false),
            sender: Mutex::new(Some(tx)),
        });
        (notifier, BatchStatusReceiver { receiver: rx })
    }
}

impl Drop for BatchNotifier {
    fn drop(&mut self) {
        let status = if self.failed.load(Ordering::Acquire) {
            BatchStatus::Failed
        } else {
            BatchStatus::Delivered
        };
        let sender = match self.sender.get_mut() {
            Ok(slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(tx) = sender {
            // The source may have stopped listening (shutdown); nothing to do then.
            let _ = tx.send(status);
        }
    }
}

/// Resolves when every finalizer of a batch is gone.
#[derive(Debug)]
pub struct BatchStatusReceiver {
    receiver: oneshot::Receiver<BatchStatus>,
}

impl BatchStatusReceiver {
    pub async fn wait(self) -> BatchStatus {
        // The sender lives in the notifier's Drop; if it vanished without sending, that is
        // a failure by the invariant above.
        self.receiver.await.unwrap_or(BatchStatus::Failed)
    }

    /// Non-blocking check: `Some` once the batch is finished.
    pub fn try_status(&mut self) -> Option<BatchStatus> {
        match self.receiver.try_recv() {
            Ok(s) => Some(s),
            Err(oneshot::error::TryRecvError::Empty) => None,
            Err(oneshot::error::TryRecvError::Closed) => Some(BatchStatus::Failed),
        }
    }
}

impl std::future::Future for BatchStatusReceiver {
    type Output = BatchStatus;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<BatchStatus> {
        std::pin::Pin::new(&mut self.receiver)
            .poll(cx)
            .map(|r| r.unwrap_or(BatchStatus::Failed))
    }
}

/// One event copy's handle on its batch notifier.
#[derive(Debug)]
pub struct EventFinalizer {
    notifier: Arc<BatchNotifier>,
    finished: bool,
}

impl EventFinalizer {
    pub fn new(notifier: Arc<BatchNotifier>) -> EventFinalizer {
        EventFinalizer {
            notifier,
            finished: false,
        }
    }

    /// Records how this copy ended and releases it.
    pub fn finish(mut self, status: EventStatus) {
        if status == EventStatus::Errored {
            self.notifier.failed.store(true, Ordering::Release);
        }
        self.finished = true;
    }
}

impl Clone for EventFinalizer {
    /// A copy of an event is a separate obligation: it must be finished on its own.
    fn clone(&self) -> EventFinalizer {
        EventFinalizer::new(Arc::clone(&self.notifier))
    }
}

impl Drop for EventFinalizer {
    fn drop(&mut self) {
        if !self.finished {
            self.notifier.failed.store(true, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn delivered_when_all_copies_succeed() {
        let (notifier, rx) = BatchNotifier::new();
        let a = EventFinalizer::new(Arc::clone(&notifier));
        let b = a.clone();
        drop(notifier);
        a.finish(EventStatus::Delivered);
        b.finish(EventStatus::Dropped);
        assert_eq!(rx.wait().await, BatchStatus::Delivered);
    }

    #[tokio::test]
    async fn failed_when_one_copy_errors() {
        let (notifier, rx) = BatchNotifier::new();
        let a = EventFinalizer::new(Arc::clone(&notifier));
        let b = a.clone();
        drop(notifier);
        a.finish(EventStatus::Delivered);
        b.finish(EventStatus::Errored);
        assert_eq!(rx.wait().await, BatchStatus::Failed);
    }

    #[tokio::test]
    async fn dropping_without_status_is_a_failure() {
        let (notifier, mut rx) = BatchNotifier::new();
        let a = EventFinalizer::new(Arc::clone(&notifier));
        drop(notifier);
        assert_eq!(rx.try_status(), None);
        drop(a);
        assert_eq!(rx.wait().await, BatchStatus::Failed);
    }
}
