//! The cost of one batch hop through a bounded channel (send + receive), per event.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use logweir::event::{Event, EventBatch};
use logweir::topology::channel::channel;

fn batch(n: usize) -> EventBatch {
    EventBatch::new(
        (0..n)
            .map(|i| Event::from_message(bytes::Bytes::from(format!("line {i}")), 0))
            .collect(),
    )
}

fn channel_hop(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let mut group = c.benchmark_group("channel_hop");
    for size in [1usize, 128, 1024] {
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, &size| {
            let template = batch(size);
            b.to_async(&rt).iter_batched(
                || template.clone(),
                |batch| async move {
                    let (tx, mut rx) = channel(4);
                    tx.send(batch).await.unwrap();
                    rx.recv().await.unwrap()
                },
                criterion::BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, channel_hop);
criterion_main!(benches);
