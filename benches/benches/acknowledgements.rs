//! The per-event cost of end-to-end acknowledgements as the file source and a sink pay it:
//! one notifier per batch, a finalizer attached to every event, every event finished as
//! delivered, and the batch's status read. Compared with the same batch finished without
//! finalizers (what `acknowledgements = false` leaves), the difference bounds the overhead a
//! whole pipeline can show (BENCHMARKS.md).

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use logweir::event::{Event, EventBatch};
use logweir::finalization::{BatchNotifier, BatchStatus, EventFinalizer, EventStatus};

const EVENTS: usize = 1024;

fn batch() -> EventBatch {
    EventBatch::new(
        (0..EVENTS)
            .map(|i| Event::from_message(bytes::Bytes::from(format!("line {i}")), 0))
            .collect(),
    )
}

fn acknowledgements(c: &mut Criterion) {
    let mut group = c.benchmark_group("acknowledgements");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("attach_finish_1024", |b| {
        b.iter_batched_ref(
            batch,
            |batch| {
                let (notifier, mut status) = BatchNotifier::new();
                for e in &mut batch.events {
                    e.meta.finalizer = Some(EventFinalizer::new(Arc::clone(&notifier)));
                }
                drop(notifier);
                batch.finish(EventStatus::Delivered);
                assert_eq!(status.try_status(), Some(BatchStatus::Delivered));
            },
            BatchSize::SmallInput,
        );
    });
    group.bench_function("finish_without_finalizers_1024", |b| {
        b.iter_batched_ref(
            batch,
            |batch| batch.finish(EventStatus::Delivered),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, acknowledgements);
criterion_main!(benches);
