//! Syslog parsing speed: RFC 5424 and RFC 3164 messages parsed, and parsed into events
//! (what the `syslog` source does per message), in messages per second.

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use logweir::sources::net::{Peer, SourceCounters};
use logweir::sources::syslog::config::Timezone;
use logweir::sources::syslog::event::SyslogEventBuilder;
use logweir::sources::syslog::framing::Frame;
use logweir::sources::syslog::parser::{parse, ParseOptions};

const RFC5424: &[u8] = br#"<165>1 2026-11-24T10:00:00.123456Z web-1.example.com nginx 4242 ACCESS [req@32473 method="GET" status="200" path="/api/v1/items"][timeQuality tzKnown="1"] 10.0.0.7 - - "GET /api/v1/items HTTP/1.1" 200 5123 "-" "curl/8.5.0""#;
const RFC3164: &[u8] = b"<34>Nov 24 10:00:00 web-1 sshd[8812]: Accepted publickey for deploy from 10.0.0.7 port 52311 ssh2: ED25519 SHA256:abcdefghijklmnopqrstuvwxyz0123456789";

fn bench(c: &mut Criterion) {
    let opts = ParseOptions {
        now_unix_nanos: 1_795_000_000_000_000_000,
        default_utc_offset_secs: 0,
    };
    let mut group = c.benchmark_group("syslog_parse");
    for (name, msg) in [("rfc5424", RFC5424), ("rfc3164", RFC3164)] {
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("{name}/parse"), |b| {
            b.iter(|| black_box(parse(black_box(msg), &opts).unwrap()))
        });
        let mut builder = SyslogEventBuilder::new(
            Peer::new("10.0.0.7:514".parse().unwrap()),
            Arc::new(Timezone::Fixed(0)),
            Arc::new(SourceCounters::new("bench")),
        );
        let bytes = Bytes::from_static(msg);
        group.bench_function(format!("{name}/event"), |b| {
            b.iter_batched(
                || Frame {
                    bytes: bytes.clone(),
                    truncated: false,
                },
                |frame| black_box(builder.build(frame, opts.now_unix_nanos)),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
