//! Condition evaluation (`filter`, `route`) on the events the pipeline really checks: `gen_logs`
//! JSON lines after `parse_json` (`drop_original = true`, as in the throughput pipeline), so
//! fields may still be JSON text decoded on first read. Each iteration checks fresh clones
//! of the 1024 events (cloned outside the measurement), as a filter sees each event once.
//! `transforms.rs`'s `filter`/`route` figures are on fully built objects and include the
//! transform around the check.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use logweir::condition::Condition;
use logweir::event::{Event, EventBatch};
use logweir::topology::TransformOutput;
use logweir::transforms::{TransformConfig, TransformContext};
use logweir_benches::{LineFormat, LineGenerator};

const EVENTS: usize = 1024;

/// `gen_logs --format json` lines through `parse_json`, one event per line.
fn parsed_events() -> Vec<Event> {
    let data = LineGenerator::lines(LineFormat::Json, 3, EVENTS);
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
    out.take_default()
}

fn bench(c: &mut Criterion) {
    let events = parsed_events();
    assert_eq!(events.len(), EVENTS);
    let conditions = [
        ("level_ne", r#".level != "trace""#),
        (
            "level_or_status",
            r#".level == "error" || .http.status >= 500"#,
        ),
        (
            "service_and_latency",
            r#".service == "checkout" && .latency_ms > 500.0"#,
        ),
        ("level_in", r#".level in ["warn", "error"]"#),
        ("msg_contains", r#"contains(.msg, "timeout")"#),
        ("msg_regex", r#".msg =~ 'time(out)? .*(refused|upstream)'"#),
        ("exists", "exists(.http.status) && !exists(.error)"),
    ];
    let mut group = c.benchmark_group("condition");
    group.throughput(Throughput::Elements(EVENTS as u64));
    for (name, source) in conditions {
        let condition = Condition::compile(source).unwrap();
        let matched = events.iter().filter(|e| condition.check(e)).count();
        // A condition that is always true or always false measures a shortcut.
        assert!(
            0 < matched && matched < EVENTS || name == "level_ne",
            "{name}: {matched}"
        );
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                || events.clone(),
                |events| events.iter().filter(|e| condition.check(e)).count(),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
