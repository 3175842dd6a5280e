//! `parse_json` on realistic application lines (the demo source's generator), per event and
//! per byte.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logweir::event::{Event, EventBatch};
use logweir::sources::demo::{app_line, Rng};
use logweir::topology::TransformOutput;
use logweir::transforms::{TransformConfig, TransformContext};

fn lines(n: usize) -> Vec<Bytes> {
    let mut rng = Rng::new(3);
    (0..n as u64)
        .map(|seq| {
            let mut out = Vec::new();
            app_line(&mut rng, seq, "2026-11-22T08:00:00.000137000Z", &mut out);
            Bytes::from(out)
        })
        .collect()
}

fn parse_json(c: &mut Criterion) {
    let input = lines(1024);
    let bytes: usize = input.iter().map(|l| l.len()).sum();
    let events: Vec<Event> = input
        .iter()
        .map(|l| Event::from_message(l.clone(), 0))
        .collect();
    let table = toml::de::ValueDeserializer::parse("{}").unwrap();
    let config = TransformConfig::parse("parse_json", table).unwrap();
    let mut transform = config
        .build(
            "bench",
            &TransformContext::new(std::env::temp_dir().join("logweir-bench")),
        )
        .unwrap();
    let mut out = TransformOutput::default();

    let mut group = c.benchmark_group("parse_json");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("batch_of_1024_bytes", |b| {
        b.iter_batched(
            || EventBatch::new(events.clone()),
            |batch| {
                transform.transform(batch, &mut out);
                out.take_default()
            },
            criterion::BatchSize::SmallInput,
        )
    });
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("batch_of_1024_events", |b| {
        b.iter_batched(
            || EventBatch::new(events.clone()),
            |batch| {
                transform.transform(batch, &mut out);
                out.take_default()
            },
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, parse_json);
criterion_main!(benches);
