//! Container log line decoding: `parse_cri` and `parse_docker` alone (the line's framing
//! fields and text), then the file source's whole per-line `Decoder` (line → event with the
//! runtime timestamp, stream and the `kubernetes.*` fields of a kubelet path). 1024 lines of
//! `gen_logs` data per iteration; bytes/s of input (lines/s: 1024 lines per iteration).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logweir::event::Value;
use logweir::sources::file::cri::parse_cri;
use logweir::sources::file::docker::parse_docker;
use logweir::sources::file::fingerprint::{FileId, FileIdentity, Fingerprint};
use logweir::sources::file::format::Format;
use logweir::sources::file::reader::{Decoder, Emitted, FileSourceCounters, Shared};
use logweir::sources::lines::Line;
use logweir_benches::{LineFormat, LineGenerator};

const LINES: usize = 1024;
const POD_LOG: &str =
    "/var/log/pods/shop_cart-7d9f5c_0f9c2a44-1b2c-4d5e-8f90-123456789abc/cart/0.log";

/// The generated lines as the splitter hands them out: slices of one buffer, no `\n`.
fn lines(format: LineFormat) -> (usize, Vec<Line>) {
    let data = Bytes::from(LineGenerator::lines(format, 3, LINES));
    let mut out = Vec::with_capacity(LINES);
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', &data) {
        out.push(Line {
            bytes: data.slice(start..nl),
            truncated: false,
            offset: start as u64,
            end_offset: nl as u64 + 1,
        });
        start = nl + 1;
    }
    (data.len(), out)
}

fn decoder(format: Format) -> Decoder {
    let shared = Arc::new(Shared {
        component_id: "bench".into(),
        counters: FileSourceCounters::default(),
        host: Value::from("node-1"),
        format,
        max_line_bytes: 1024 * 1024,
        partial_line_timeout: Duration::from_secs(1),
        multiline: None,
    });
    let identity = FileIdentity {
        id: FileId { dev: 1, ino: 2 },
        fingerprint: Fingerprint { len: 256, hash: 3 },
    };
    Decoder::new(shared, Path::new(POD_LOG), &identity, 0)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("container_decode");
    for (name, format, source_format) in [
        ("cri", LineFormat::Cri, Format::Cri),
        ("docker", LineFormat::Docker, Format::Docker),
    ] {
        let (bytes, lines) = lines(format);
        // Every generated line decodes.
        let decoded = lines
            .iter()
            .filter(|l| match format {
                LineFormat::Cri => parse_cri(&l.bytes).is_ok(),
                _ => parse_docker(&l.bytes).is_ok(),
            })
            .count();
        assert_eq!(decoded, LINES, "{name}");

        eprintln!("input: {LINES} {name} lines, {bytes} bytes");
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(format!("{name}_parse"), |b| match format {
            LineFormat::Cri => b.iter(|| {
                for l in &lines {
                    std::hint::black_box(parse_cri(&l.bytes).ok());
                }
            }),
            _ => b.iter(|| {
                for l in &lines {
                    std::hint::black_box(parse_docker(&l.bytes).ok());
                }
            }),
        });
        let mut decoder = decoder(source_format);
        let mut out: Vec<Emitted> = Vec::with_capacity(LINES);
        let now = Instant::now();
        for l in &lines {
            decoder.push_line(l.clone(), now, 0, &mut out);
        }
        assert_eq!(out.len(), LINES, "{name}: one event per line");
        group.bench_function(format!("{name}_to_events"), |b| {
            b.iter(|| {
                out.clear();
                for l in &lines {
                    decoder.push_line(l.clone(), now, 0, &mut out);
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
