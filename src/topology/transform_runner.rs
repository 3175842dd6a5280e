//! Runs one transform component: takes batches from its input channel, transforms them,
//! sends the results to its outputs.
//!
//! A transform that keeps no state between events (a parser, a filter: see
//! [`crate::transforms::TransformConfig::runs_concurrently`]) is built once per runtime
//! worker thread and runs as that many tasks sharing the input. Otherwise the busiest stage
//! of a pipeline (`parse_json`, a third of a file → Elasticsearch pipeline's CPU) would be
//! one task, and only one core could ever work on it however many wait idle.
//!
//! Order is kept: each batch takes a ticket as it is received, and a task sends its results
//! only when every earlier ticket's results have been sent. Batches leave in the order they
//! came in, exactly as with one task.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{Mutex, Notify};

use super::{BatchReceiver, ComponentError, Output, Transform, TransformOutput};
use crate::event::EventBatch;

/// Runs `transforms` (instances of one component) until the input ends and every result
/// was sent. One instance runs in the calling task; more run as tasks of their own.
pub(super) async fn run_transform(
    id: String,
    mut transforms: Vec<Box<dyn Transform>>,
    mut input: BatchReceiver,
    default_output: Output,
    named: Vec<Output>,
) -> Result<(), ComponentError> {
    if transforms.len() <= 1 {
        let Some(mut transform) = transforms.pop() else {
            return Ok(());
        };
        let mut out = TransformOutput::with_named_outputs(named.len());
        while let Some(batch) = input.recv().await {
            transform.transform(batch, &mut out);
            send_results(&mut out, &default_output, &named).await?;
        }
    } else {
        let shared = Arc::new(Shared {
            input: Mutex::new(Ticketed { input, next: 0 }),
            turn: AtomicU64::new(0),
            turn_taken: Notify::new(),
            outputs: (default_output, named),
        });
        let mut tasks = tokio::task::JoinSet::new();
        for transform in transforms {
            tasks.spawn(run_instance(transform, Arc::clone(&shared)));
        }
        // The first failure ends the component: dropping the set aborts the other tasks
        // (one may wait for a turn that never comes).
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(e) => {
                    return Err(ComponentError::new(format!(
                        "transform task ended abnormally: {e}"
                    )))
                }
            }
        }
    }
    tracing::debug!(component_id = %id, "transform finished");
    Ok(())
}

/// What the tasks of one concurrent transform share.
struct Shared {
    input: Mutex<Ticketed>,
    /// The ticket whose results are to be sent next.
    turn: AtomicU64,
    /// Woken when `turn` moves on.
    turn_taken: Notify,
    /// Default output, then the named ones.
    outputs: (Output, Vec<Output>),
}

struct Ticketed {
    input: BatchReceiver,
    /// The ticket of the next batch received.
    next: u64,
}

async fn run_instance(
    mut transform: Box<dyn Transform>,
    shared: Arc<Shared>,
) -> Result<(), ComponentError> {
    let (default_output, named) = &shared.outputs;
    let mut out = TransformOutput::with_named_outputs(named.len());
    loop {
        // The lock is held while waiting for a batch: the other tasks are busy or waiting
        // for the same thing.
        let (batch, ticket) = {
            let mut ticketed = shared.input.lock().await;
            let Some(batch) = ticketed.input.recv().await else {
                return Ok(());
            };
            let ticket = ticketed.next;
            ticketed.next += 1;
            (batch, ticket)
        };
        transform.transform(batch, &mut out);
        wait_for_turn(&shared, ticket).await;
        let sent = send_results(&mut out, default_output, named).await;
        shared.turn.store(ticket + 1, Ordering::Release);
        shared.turn_taken.notify_waiters();
        sent?;
    }
}

async fn wait_for_turn(shared: &Shared, ticket: u64) {
    loop {
        // Registered before the check, so a turn taken in between still wakes us.
        let notified = shared.turn_taken.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if shared.turn.load(Ordering::Acquire) == ticket {
            return;
        }
        notified.await;
    }
}

async fn send_results(
    out: &mut TransformOutput,
    default_output: &Output,
    named: &[Output],
) -> Result<(), ComponentError> {
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::topology::channel;

    /// Passes events on after spinning a while that differs per batch, so concurrent tasks
    /// finish out of order.
    struct Uneven;

    impl Transform for Uneven {
        fn transform(&mut self, batch: EventBatch, output: &mut TransformOutput) {
            let first = batch.events.first().and_then(number).unwrap_or(0);
            // Every third batch takes much longer than the others.
            let spins = if first % 3 == 0 { 200_000 } else { 10 };
            let mut x = 0u64;
            for i in 0..spins {
                x = std::hint::black_box(x.wrapping_add(i));
            }
            for event in batch.events {
                output.push(event);
            }
        }
    }

    fn numbered(n: i64) -> Event {
        Event::from_json(&serde_json::json!({ "n": n }), 0)
    }

    /// The `n` of an event made by [`numbered`].
    fn number(event: &Event) -> Option<i64> {
        match event.fields.get("n") {
            Some(crate::event::Value::Integer(n)) => Some(*n),
            _ => None,
        }
    }

    /// Runs `transforms` as one component between two fresh channels: returns the sender
    /// into its input, the receiver of its default output and the component's task.
    fn start(
        transforms: Vec<Box<dyn Transform>>,
    ) -> (
        channel::BatchSender,
        BatchReceiver,
        tokio::task::JoinHandle<Result<(), ComponentError>>,
    ) {
        let (tx, rx) = channel::channel(4);
        let (out_tx, out_rx) = channel::channel(4);
        let runner = tokio::spawn(run_transform(
            "t".into(),
            transforms,
            rx,
            Output::new(vec![out_tx]),
            Vec::new(),
        ));
        (tx, out_rx, runner)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_instances_keep_the_order_of_batches() {
        let (tx, mut out_rx, runner) = start(
            (0..4)
                .map(|_| Box::new(Uneven) as Box<dyn Transform>)
                .collect(),
        );
        let batches = 200;
        let feeder = tokio::spawn(async move {
            for b in 0..batches {
                let events = (0..3).map(|i| numbered(b * 3 + i)).collect();
                tx.send(EventBatch::new(events)).await.unwrap();
            }
        });
        let mut seen = Vec::new();
        while let Some(batch) = out_rx.recv().await {
            for e in batch.events {
                seen.push(number(&e).expect("every event keeps its number"));
            }
        }
        feeder.await.unwrap();
        runner.await.unwrap().unwrap();
        assert_eq!(seen, (0..batches * 3).collect::<Vec<_>>());
    }

    /// Fails at the batch it is given first, to check that a failure ends the component.
    struct Panics;

    impl Transform for Panics {
        fn transform(&mut self, _batch: EventBatch, _output: &mut TransformOutput) {
            panic!("transform bug");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_instance_ends_the_component_with_an_error() {
        let (tx, _out_rx, runner) = start(vec![Box::new(Panics), Box::new(Panics)]);
        tx.send(EventBatch::new(vec![numbered(1)])).await.unwrap();
        let result = runner.await.unwrap();
        assert!(
            result.is_err(),
            "a panicking instance must fail the component"
        );
        drop(tx);
    }
}
