//! Elasticsearch bulk encoding: parsed container-log events into NDJSON action + document
//! lines (data stream target rendered per event, automatic ids), with and without gzip.
//! Throughput is reported per event and per byte of (uncompressed) bulk body. Also the
//! reading of a bulk response of 2,000 successful items: the usual body (compared item by
//! item) and the same items with one space more, which takes the general parser. And the
//! JSON string writer every sink uses (`codec::json::write_str`) on log messages (text with
//! an escape every few dozen bytes) and on whole JSON lines kept as strings (a quote every
//! few bytes).

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logweir::codec::json::write_str;
use logweir::event::{Event, EventBatch, FieldPath, Origin, Value};
use logweir::sinks::elasticsearch::config::{Compression, ElasticsearchConfig};
use logweir::sinks::elasticsearch::encoder::{compress, BulkBatch, BulkEncoder};
use logweir::sinks::elasticsearch::service::BulkResponse;
use logweir::sources::demo::{app_line, Rng};
use logweir::topology::TransformOutput;
use logweir::transforms::{TransformConfig, TransformContext};

/// 1024 events as the demo source + `parse_json` produce them.
fn events() -> Vec<Event> {
    let mut rng = Rng::new(3);
    let namespaces = ["shop", "payments", "kube-system", "monitoring"];
    let raw: Vec<Event> = (0..1024u64)
        .map(|seq| {
            let mut line = Vec::new();
            app_line(&mut rng, seq, "2026-11-22T08:00:00.000Z", &mut line);
            let mut e = Event::from_message(Bytes::from(line), 1_795_000_000_000_000_000);
            e.insert(
                &FieldPath::parse("kubernetes.namespace").unwrap(),
                Value::from(namespaces[seq as usize % 4]),
            );
            e.insert(
                &FieldPath::parse("kubernetes.pod.name").unwrap(),
                Value::from(format!("checkout-7d9f8b-{seq:05x}")),
            );
            e.insert(
                &FieldPath::parse("log.iostream").unwrap(),
                Value::from("stdout"),
            );
            e.meta.origin = Some(Origin {
                stream: 42,
                offset: seq * 200,
            });
            e
        })
        .collect();
    let table = toml::de::ValueDeserializer::parse("{}").unwrap();
    let mut parse = TransformConfig::parse("parse_json", table)
        .unwrap()
        .build(
            "bench",
            &TransformContext::new(std::env::temp_dir().join("logweir-bench")),
        )
        .unwrap();
    let mut out = TransformOutput::default();
    parse.transform(EventBatch::new(raw), &mut out);
    out.take_default()
}

fn encoder(id: &str) -> BulkEncoder {
    let config: ElasticsearchConfig = toml::from_str(&format!(
        "endpoints = [\"http://es:9200\"]\ndata_stream = {{ dataset = \"{{{{ kubernetes.namespace }}}}\" }}\nid = \"{id}\""
    ))
    .unwrap();
    let checked = config.validate().unwrap();
    BulkEncoder::new(checked.target, checked.id)
}

fn encode_all(enc: &mut BulkEncoder, events: &mut [Event], batch: &mut BulkBatch) {
    batch.body.clear();
    batch.items.clear();
    for e in events.iter_mut() {
        enc.encode(e, batch);
    }
}

fn bench(c: &mut Criterion) {
    let mut events = events();
    let mut batch = BulkBatch::default();
    let mut enc = encoder("auto");
    encode_all(&mut enc, &mut events, &mut batch);
    let body_bytes = batch.body.len() as u64;

    let mut group = c.benchmark_group("elasticsearch_encode");
    group.throughput(Throughput::Elements(events.len() as u64));
    for id in ["auto", "none"] {
        let mut enc = encoder(id);
        group.bench_function(format!("events_1024_id_{id}"), |b| {
            b.iter(|| encode_all(&mut enc, &mut events, &mut batch))
        });
    }
    group.throughput(Throughput::Bytes(body_bytes));
    group.bench_function("bytes_1024_events", |b| {
        b.iter(|| encode_all(&mut enc, &mut events, &mut batch))
    });
    group.bench_function("bytes_1024_events_gzip", |b| {
        b.iter(|| {
            encode_all(&mut enc, &mut events, &mut batch);
            compress(&batch.body, Compression::Gzip).unwrap()
        })
    });
    group.finish();

    let items = vec![r#"{"create":{"status":201}}"#; 2000].join(",");
    let uniform = format!(r#"{{"errors":false,"items":[{items}]}}"#);
    let general = format!(r#"{{"errors":false, "items":[{items}]}}"#);
    let mut group = c.benchmark_group("elasticsearch_bulk_response");
    group.throughput(Throughput::Elements(2000));
    for (name, body) in [
        ("uniform_2000_items", &uniform),
        ("general_2000_items", &general),
    ] {
        assert_eq!(
            BulkResponse::parse(body.as_bytes()).unwrap().item_count,
            2000
        );
        group.bench_function(name, |b| {
            b.iter(|| BulkResponse::parse(body.as_bytes()).unwrap().item_count)
        });
    }
    group.finish();
}

fn bench_write_str(c: &mut Criterion) {
    let mut rng = Rng::new(5);
    let lines: Vec<Vec<u8>> = (0..1024u64)
        .map(|seq| {
            let mut line = Vec::new();
            app_line(&mut rng, seq, "2026-11-22T08:00:00.000Z", &mut line);
            line
        })
        .collect();
    let messages: Vec<Vec<u8>> = lines
        .iter()
        .map(|l| match serde_json::from_slice::<serde_json::Value>(l) {
            Ok(v) => v["msg"].as_str().unwrap_or_default().as_bytes().to_vec(),
            Err(_) => l.clone(),
        })
        .collect();
    let mut out = Vec::with_capacity(1 << 20);
    let mut group = c.benchmark_group("json_write_str");
    for (name, texts) in [("messages_1024", &messages), ("json_lines_1024", &lines)] {
        group.throughput(Throughput::Bytes(
            texts.iter().map(|t| t.len() as u64).sum(),
        ));
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                for t in texts.iter() {
                    write_str(&mut out, t);
                }
                out.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench, bench_write_str);
criterion_main!(benches);
