//! Gzip of an Elasticsearch bulk body with the sink's own `compress` (flate2, the level the
//! sink uses): a body of 5000 documents (the default `batch.max_events`) encoded from
//! `gen_logs` events after `parse_json`. Throughput in uncompressed body bytes per second;
//! the compression ratio is printed once.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logweir::event::{Event, EventBatch};
use logweir::sinks::elasticsearch::config::{Compression, ElasticsearchConfig};
use logweir::sinks::elasticsearch::encoder::{compress, BulkBatch, BulkEncoder};
use logweir::topology::TransformOutput;
use logweir::transforms::{TransformConfig, TransformContext};
use logweir_benches::{LineFormat, LineGenerator};

const DOCUMENTS: usize = 5000;

fn bulk_body() -> Vec<u8> {
    let data = LineGenerator::lines(LineFormat::Json, 3, DOCUMENTS);
    let raw: Vec<Event> = data
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| Event::from_message(Bytes::copy_from_slice(l), 1_795_000_000_000_000_000))
        .collect();
    let table: toml::Table = toml::from_str("type = \"parse_json\"\ndrop_original = true").unwrap();
    let ctx = TransformContext::new(std::env::temp_dir().join("logweir-bench"));
    let mut parse = TransformConfig::from_toml_table(&table)
        .unwrap()
        .build("bench", &ctx)
        .unwrap();
    let mut out = TransformOutput::default();
    parse.transform(EventBatch::new(raw), &mut out);
    let mut events = out.take_default();
    let config: ElasticsearchConfig = toml::from_str("endpoints = [\"http://es:9200\"]").unwrap();
    let checked = config.validate().unwrap();
    let mut encoder = BulkEncoder::new(checked.target, checked.id);
    let mut batch = BulkBatch::default();
    for e in events.iter_mut() {
        encoder.encode(e, &mut batch);
    }
    assert_eq!(batch.len(), DOCUMENTS);
    batch.body
}

fn bench(c: &mut Criterion) {
    let body = bulk_body();
    let compressed = compress(&body, Compression::Gzip).unwrap();
    eprintln!(
        "bulk body: {} documents, {} bytes, gzip {} bytes ({:.1}x)",
        DOCUMENTS,
        body.len(),
        compressed.len(),
        body.len() as f64 / compressed.len() as f64
    );
    let mut group = c.benchmark_group("gzip");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("bulk_body_5000_documents", |b| {
        b.iter(|| compress(&body, Compression::Gzip).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
