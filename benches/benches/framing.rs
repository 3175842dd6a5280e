//! Line framing: the file and stdin sources' `LineSplitter` over CRI container-log data fed
//! in 64 KiB reads (the file reader's read size), with and without the per-line UTF-8 check
//! the decoder applies (`lines::to_utf8`). Bytes/s of input (lines/s: 16,384 lines per iteration).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logweir::sources::lines::{to_utf8, Line, LineSplitter};
use logweir_benches::{LineFormat, LineGenerator};

/// The file reader's read size (`READ_CHUNK` in `src/sources/file/reader.rs`).
const READ: usize = 64 * 1024;
const LINES: usize = 16_384;

fn split_all(data: &[u8], lines: &mut Vec<Line>, utf8: bool) -> usize {
    let mut splitter = LineSplitter::new(1024 * 1024, 0);
    let mut count = 0;
    for chunk in data.chunks(READ) {
        splitter.buffer_mut().extend_from_slice(chunk);
        splitter.drain_lines(lines);
        count += lines.len();
        if utf8 {
            for line in lines.drain(..) {
                let (text, replaced) = to_utf8(line.bytes);
                std::hint::black_box((text, replaced));
            }
        } else {
            lines.clear();
        }
    }
    count
}

fn bench(c: &mut Criterion) {
    let data = LineGenerator::lines(LineFormat::Cri, 3, LINES);
    let mut lines = Vec::with_capacity(1024);
    assert_eq!(split_all(&data, &mut lines, false), LINES);
    eprintln!("input: {LINES} CRI lines, {} bytes", data.len());

    let mut group = c.benchmark_group("framing");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("cri_64k_reads", |b| {
        b.iter(|| split_all(&data, &mut lines, false))
    });
    group.bench_function("cri_64k_reads_utf8", |b| {
        b.iter(|| split_all(&data, &mut lines, true))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
