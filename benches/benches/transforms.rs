//! Throughput of each transform on realistic events, in events per second: one batch of
//! 1024 events per iteration (the topology's batch size), cloned outside the measurement.

use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use logweir::event::{Event, EventBatch};
use logweir::topology::TransformOutput;
use logweir::transforms::{TransformConfig, TransformContext};

const BATCH: usize = 1024;

fn messages(make: impl Fn(usize) -> String) -> Vec<Event> {
    (0..BATCH)
        .map(|i| Event::from_message(Bytes::from(make(i)), 1_764_000_000_000_000_000))
        .collect()
}

fn access_line(i: usize) -> String {
    format!(
        r#"10.0.{}.{} - - [24/Nov/2026:11:00:{:02} +0100] "GET /api/v1/orders/{i}?expand=items HTTP/1.1" {} {} "https://shop.example/cart" "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0""#,
        i % 7,
        i % 250,
        i % 60,
        [200, 200, 200, 404, 500][i % 5],
        512 + i
    )
}

fn json_line(i: usize) -> String {
    format!(
        r#"{{"level":"{}","msg":"order placed","order_id":{i},"latency_ms":{},"trace_id":"4bf92f3577b34da6a3ce929d0e0e{:04x}","user":{{"id":"u-{}","tier":"gold"}}}}"#,
        ["info", "info", "debug", "warn", "error"][i % 5],
        (i * 37) % 900,
        i % 300,
        i % 1000
    )
}

/// Events as `parse_json` leaves them: structured fields at the root.
fn structured() -> Vec<Event> {
    (0..BATCH)
        .map(|i| {
            let json: serde_json::Value = serde_json::from_str(&json_line(i)).unwrap();
            let mut e = Event::from_json(&json, 1_764_000_000_000_000_000);
            e.fields
                .insert("message", logweir::event::Value::from(json_line(i)));
            e
        })
        .collect()
}

fn bench_transform(c: &mut Criterion, name: &str, options: &str, events: Vec<Event>) {
    let mut table: toml::Table = toml::from_str(options).unwrap();
    let type_name = name.split(':').next().unwrap();
    table.insert("type".into(), toml::Value::String(type_name.into()));
    let config = TransformConfig::from_toml_table(&table).unwrap();
    let ports = config.named_outputs().len();
    let ctx = TransformContext::new(std::env::temp_dir().join("logweir-bench"));
    let mut transform = config.build(name, &ctx).unwrap();
    let mut group = c.benchmark_group("transforms");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(name, |b| {
        b.iter_batched(
            || EventBatch::new(events.clone()),
            |batch| {
                let mut out = TransformOutput::with_named_outputs(ports);
                transform.transform(batch, &mut out);
                out
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// `kubernetes_metadata` with a node's worth of pods cached (110, each with the labels,
/// annotations and ReplicaSet owner of a typical Deployment pod) on events as the file source
/// reads them from `/var/log/pods` (namespace, pod name and uid, container name).
fn kubernetes_metadata(c: &mut Criterion) {
    use logweir::transforms::kubernetes_metadata::{pod, KubernetesMetadataConfig};
    const PODS: usize = 110;
    let config: KubernetesMetadataConfig = toml::from_str("").unwrap();
    let cache = config.new_cache();
    for i in 0..PODS {
        let pod: pod::Pod = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": format!("shop-api-7f9c6d8b5-{i:05}"), "namespace": format!("team-{}", i % 12),
                "uid": format!("0b5e2f7a-1c3d-4e5f-8a9b-{i:012}"),
                "labels": {"app": "shop-api", "app.kubernetes.io/name": "shop-api", "app.kubernetes.io/version": "1.4.2",
                           "app.kubernetes.io/part-of": "shop", "pod-template-hash": "7f9c6d8b5", "team": "payments"},
                "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090",
                                "kubectl.kubernetes.io/restartedAt": "2026-11-20T10:00:00Z", "checksum/config": "4f1c0e9a"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": "shop-api-7f9c6d8b5", "controller": true}]
            },
            "spec": {"nodeName": "node-1", "containers": [{"name": "api", "image": "registry.example/shop-api:1.4.2"}, {"name": "envoy", "image": "envoyproxy/envoy:v1.30"}]},
            "status": {"podIP": format!("10.244.1.{}", i % 250)}
        }))
        .unwrap();
        let meta = pod::pod_metadata(pod, &config.metadata_options()).unwrap();
        cache.write().unwrap().pods.upsert(meta).unwrap();
    }
    cache.write().unwrap().pods_synced = true;
    let mut transform = config.build_with_cache("k8s", cache).unwrap();
    let events: Vec<Event> = (0..BATCH)
        .map(|i| {
            let p = (i * 7) % PODS;
            let json = serde_json::json!({
                "message": json_line(i),
                "log": {"iostream": "stdout", "file": {"path": format!("/var/log/pods/team-{}_shop-api-7f9c6d8b5-{p:05}_0b5e2f7a-1c3d-4e5f-8a9b-{p:012}/api/0.log", p % 12)}},
                "kubernetes": {"namespace": format!("team-{}", p % 12), "pod": {"name": format!("shop-api-7f9c6d8b5-{p:05}"), "uid": format!("0b5e2f7a-1c3d-4e5f-8a9b-{p:012}")}, "container": {"name": "api"}},
                "host": {"name": "node-1"}
            });
            Event::from_json(&json, 1_764_000_000_000_000_000)
        })
        .collect();
    let mut group = c.benchmark_group("transforms");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("kubernetes_metadata", |b| {
        b.iter_batched(
            || EventBatch::new(events.clone()),
            |batch| {
                let mut out = TransformOutput::default();
                logweir::topology::Transform::transform(&mut transform, batch, &mut out);
                out
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn transforms(c: &mut Criterion) {
    bench_transform(c, "parse_json", "", messages(json_line));
    bench_transform(
        c,
        "parse_regex",
        r#"patterns = ['^(?P<source__address>\S+) \S+ (?P<user__name>\S+) \[(?P<timestamp>[^\]]+)\] "(?P<http__request__method>[A-Z]+) (?P<url__original>\S+) HTTP/(?P<http__version>[0-9.]+)" (?P<http__response__status_code>\d{3}) (?P<http__response__body__bytes>\d+) "(?P<http__request__referrer>[^"]*)" "(?P<user_agent__original>[^"]*)"']
types = { "http.response.status_code" = "int", "http.response.body.bytes" = "int" }"#,
        messages(access_line),
    );
    bench_transform(
        c,
        "parse_regex:with_timestamp",
        r#"patterns = ['^(?P<source__address>\S+) \S+ (?P<user__name>\S+) \[(?P<timestamp>[^\]]+)\] "(?P<http__request__method>[A-Z]+) (?P<url__original>\S+) HTTP/(?P<http__version>[0-9.]+)" (?P<http__response__status_code>\d{3}) (?P<http__response__body__bytes>\d+) "(?P<http__request__referrer>[^"]*)" "(?P<user_agent__original>[^"]*)"']
types = { "http.response.status_code" = "int", "http.response.body.bytes" = "int", timestamp = "timestamp|%d/%b/%Y:%H:%M:%S %z" }"#,
        messages(access_line),
    );
    bench_transform(
        c,
        "parse_logfmt",
        "",
        messages(|i| {
            format!(
                r#"ts=2026-11-24T10:00:00Z level=info msg="order placed for user {i}" order_id={i} latency_ms={} path=/api/v1/orders"#,
                i % 900
            )
        }),
    );
    bench_transform(
        c,
        "parse_syslog",
        "",
        messages(|i| {
            format!(
                r#"<165>1 2026-11-24T10:00:00.{:03}Z web{} nginx {} ID47 [meta@32473 req="{i}"] GET /api/v1/orders/{i} 200"#,
                i % 1000,
                i % 8,
                1000 + i
            )
        }),
    );
    bench_transform(
        c,
        "parse_timestamp",
        "field = \"t\"\nformats = [\"%d/%b/%Y:%H:%M:%S %z\"]",
        (0..BATCH)
            .map(|i| {
                let json =
                    serde_json::json!({"t": format!("24/Nov/2026:11:00:{:02} +0100", i % 60)});
                Event::from_json(&json, 0)
            })
            .collect(),
    );
    bench_transform(
        c,
        "parse_timestamp:rfc3339",
        "field = \"t\"",
        (0..BATCH)
            .map(|i| {
                let json =
                    serde_json::json!({"t": format!("2026-11-24T10:00:{:02}.123456Z", i % 60)});
                Event::from_json(&json, 0)
            })
            .collect(),
    );
    bench_transform(
        c,
        "add_fields",
        r#"fields = { "service.env" = "prod", "team" = "{{ user.tier }}-team", "copy" = "{{ order_id }}" }"#,
        structured(),
    );
    bench_transform(c, "host", "", structured());
    bench_transform(
        c,
        "remove_fields",
        r#"fields = [".message", ".user.id"]"#,
        structured(),
    );
    bench_transform(
        c,
        "rename_fields",
        r#"fields = { ".msg" = ".event.message", ".level" = ".log.level" }"#,
        structured(),
    );
    bench_transform(
        c,
        "coerce",
        r#"types = { ".order_id" = "string", ".latency_ms" = "float" }"#,
        structured(),
    );
    bench_transform(
        c,
        "filter",
        r#"condition = '.level != "debug"'"#,
        structured(),
    );
    bench_transform(
        c,
        "route",
        "[route]\nerrors = '.level == \"error\"'\nslow = '.latency_ms > 500'",
        structured(),
    );
    bench_transform(c, "sample", "rate = 10", structured());
    bench_transform(
        c,
        "sample:keyed",
        "rate = 10\nkey_field = \".trace_id\"",
        structured(),
    );
    bench_transform(
        c,
        "throttle:keyed",
        "threshold = 1000000\nkey_field = \".user.id\"",
        structured(),
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = transforms, kubernetes_metadata
}
criterion_main!(benches);
