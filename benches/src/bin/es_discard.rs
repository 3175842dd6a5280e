//! A discarding Elasticsearch endpoint for throughput runs: answers `GET /` like a cluster,
//! reads every request body to its end and answers bulk requests with `{"errors":false}` and
//! one `201` item per document (the sink checks the count: documents are counted as body
//! newlines / 2, gunzipping bodies sent with `content-encoding: gzip`). Nothing is parsed
//! or stored, so the figure measured is the sender's.
//!
//! ```text
//! es_discard 127.0.0.1:9299 [--latency [--log-requests]]
//! ```
//! Prints the bulk requests and bytes received when it gets a `GET /_stats/discard`.
//!
//! `--latency` (for `benches/latency.sh`): each bulk body is kept (gunzipped if sent with
//! `content-encoding: gzip`) and every document line is searched for the write time that
//! `latency_writer` put in its line (`"wt":<unix nanos>` in JSON, `wt=<unix nanos>` in plain
//! text) with a byte search, no JSON parse. The latency of a document is the time the whole
//! request had arrived minus that write time. `GET /_stats/discard` then also reports count,
//! p50, p99 and max (a log-linear histogram, within 1.6%), and so does SIGINT/SIGTERM, on
//! stdout, before exiting. `--log-requests` adds one stderr line per bulk request: its
//! arrival, its documents and the latency of its newest and oldest document.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Totals {
    requests: AtomicU64,
    bytes: AtomicU64,
    /// `Some` in `--latency` mode.
    latency: Option<Mutex<Latencies>>,
    /// `--log-requests`: one stderr line per bulk request in `--latency` mode.
    log_requests: bool,
}

/// Latencies in microseconds, log-linear buckets: exact below 128 µs, then 64 buckets per
/// power of two (at most 1/64 relative error), so memory is fixed whatever the run's length.
struct Latencies {
    buckets: Vec<u64>,
    count: u64,
    /// Documents without a write time (not from `latency_writer`).
    unmarked: u64,
    max_micros: u64,
}

const SUB_BUCKETS: u64 = 64;

impl Latencies {
    fn new() -> Latencies {
        Latencies {
            buckets: vec![0; (128 + 57 * SUB_BUCKETS) as usize],
            count: 0,
            unmarked: 0,
            max_micros: 0,
        }
    }

    fn bucket(micros: u64) -> usize {
        if micros < 128 {
            return micros as usize;
        }
        let exponent = 63 - micros.leading_zeros() as u64; // >= 7
        let mantissa = micros >> (exponent - 6); // in [64, 128)
        (128 + (exponent - 7) * SUB_BUCKETS + (mantissa - SUB_BUCKETS)) as usize
    }

    /// The upper bound of a bucket (a percentile is never reported lower than it was).
    fn bucket_upper(index: usize) -> u64 {
        let index = index as u64;
        if index < 128 {
            return index;
        }
        let exponent = (index - 128) / SUB_BUCKETS + 7;
        let mantissa = (index - 128) % SUB_BUCKETS + SUB_BUCKETS;
        ((mantissa + 1) << (exponent - 6)) - 1
    }

    fn record(&mut self, micros: u64) {
        self.buckets[Self::bucket(micros)] += 1;
        self.count += 1;
        self.max_micros = self.max_micros.max(micros);
    }

    fn percentile(&self, p: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((p / 100.0) * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Self::bucket_upper(i).min(self.max_micros);
            }
        }
        self.max_micros
    }

    fn json(&self) -> String {
        let ms = |micros: u64| micros as f64 / 1000.0;
        format!(
            r#"{{"count":{},"unmarked":{},"p50_ms":{:.1},"p90_ms":{:.1},"p99_ms":{:.1},"p999_ms":{:.1},"max_ms":{:.1}}}"#,
            self.count,
            self.unmarked,
            ms(self.percentile(50.0)),
            ms(self.percentile(90.0)),
            ms(self.percentile(99.0)),
            ms(self.percentile(99.9)),
            ms(self.max_micros)
        )
    }
}

/// The write time in a document line: `"wt":<digits>` (JSON payload) or `wt=<digits>`
/// (plain-text payload, inside the message string).
fn write_time(document: &[u8]) -> Option<i64> {
    let digits_at = memchr::memmem::find(document, b"\"wt\":")
        .map(|i| i + 5)
        .or_else(|| memchr::memmem::find(document, b"wt=").map(|i| i + 3))?;
    let digits = &document[digits_at..];
    let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&digits[..len]).ok()?.parse().ok()
}

/// Records the latency of every document of a bulk body received at `received_nanos`;
/// returns the documents with a write time and their lowest and highest latency (µs).
fn record_body(body: &[u8], received_nanos: i64, latencies: &Mutex<Latencies>) -> (u64, u64, u64) {
    let mut latencies = latencies.lock().unwrap_or_else(|e| e.into_inner());
    let (mut marked, mut lowest, mut highest) = (0, u64::MAX, 0);
    // Action and document lines alternate; documents are the odd lines.
    for document in body.split(|&b| b == b'\n').skip(1).step_by(2) {
        if document.is_empty() {
            continue;
        }
        match write_time(document) {
            Some(wt) => {
                let micros = ((received_nanos - wt).max(0) / 1000) as u64;
                latencies.record(micros);
                marked += 1;
                lowest = lowest.min(micros);
                highest = highest.max(micros);
            }
            None => latencies.unmarked += 1,
        }
    }
    (marked, lowest, highest)
}

/// Largest bulk body kept in `--latency` mode (the sink's default batch is 10 MiB).
const MAX_KEPT_BODY: usize = 64 << 20;

fn serve(stream: TcpStream, totals: Arc<Totals>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::with_capacity(1 << 20, stream);
    let mut line = String::new();
    let mut sink = vec![0u8; 1 << 20];
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let request_line = line.trim_end().to_string();
        let mut content_length = 0usize;
        let mut gzip = false;
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.trim().parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("content-encoding") {
                    gzip = value.trim().eq_ignore_ascii_case("gzip");
                }
            }
        }
        let bulk = request_line.contains("_bulk");
        let keep = bulk && totals.latency.is_some() && content_length <= MAX_KEPT_BODY;
        // Newlines of the (uncompressed) body: two per document (action + source line).
        let newlines = if keep {
            let mut body = vec![0u8; content_length];
            reader.read_exact(&mut body)?;
            let received_nanos = logweir::time::now_unix_nanos();
            if gzip {
                let mut plain = Vec::with_capacity(content_length * 6);
                flate2::read::MultiGzDecoder::new(&body[..]).read_to_end(&mut plain)?;
                body = plain;
            }
            if let Some(latencies) = &totals.latency {
                let (documents, lowest, highest) = record_body(&body, received_nanos, latencies);
                if totals.log_requests {
                    // Where a request's latency comes from: how old its oldest and newest
                    // documents are, and how far apart requests arrive.
                    eprintln!(
                        "bulk at_ms={} documents={documents} newest_ms={:.1} oldest_ms={:.1}",
                        received_nanos / 1_000_000,
                        lowest as f64 / 1000.0,
                        highest as f64 / 1000.0
                    );
                }
            }
            memchr::memchr_iter(b'\n', &body).count()
        } else {
            let mut limited = (&mut reader).take(content_length as u64);
            let newlines = if gzip && bulk {
                count_newlines(
                    &mut flate2::read::MultiGzDecoder::new(&mut limited),
                    &mut sink,
                )?
            } else {
                count_newlines(&mut limited, &mut sink)?
            };
            // Whatever a decoder left unread is still the body.
            std::io::copy(&mut limited, &mut std::io::sink())?;
            newlines
        };
        let body: String = if request_line.starts_with("GET / ") {
            r#"{"name":"discard","cluster_name":"discard","version":{"number":"8.15.0"}}"#.into()
        } else if request_line.starts_with("GET /_stats/discard") {
            stats(&totals)
        } else if bulk {
            totals.requests.fetch_add(1, Ordering::Relaxed);
            totals
                .bytes
                .fetch_add(content_length as u64, Ordering::Relaxed);
            // The sink checks that there is one item per document it sent.
            let documents = newlines.div_ceil(2);
            let mut body = String::with_capacity(40 + documents * 26);
            body.push_str(r#"{"errors":false,"took":0,"items":["#);
            for i in 0..documents {
                if i > 0 {
                    body.push(',');
                }
                body.push_str(r#"{"create":{"status":201}}"#);
            }
            body.push_str("]}");
            body
        } else {
            r#"{"acknowledged":true}"#.into()
        };
        // One write per response: `write!` on the socket would send each piece on its own,
        // and Nagle's algorithm against the client's delayed ACK then stalls a response.
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-elastic-product: Elasticsearch\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        writer.write_all(response.as_bytes())?;
    }
}

/// Reads `input` to its end, counting newlines.
fn count_newlines(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut newlines = 0;
    loop {
        match input.read(buf)? {
            0 => return Ok(newlines),
            n => newlines += memchr::memchr_iter(b'\n', &buf[..n]).count(),
        }
    }
}

fn stats(totals: &Totals) -> String {
    let latency = match &totals.latency {
        Some(l) => format!(
            r#","latency":{}"#,
            l.lock().unwrap_or_else(|e| e.into_inner()).json()
        ),
        None => String::new(),
    };
    format!(
        r#"{{"requests":{},"bytes":{}{latency}}}"#,
        totals.requests.load(Ordering::Relaxed),
        totals.bytes.load(Ordering::Relaxed)
    )
}

/// Prints the totals on SIGINT/SIGTERM and exits.
fn report_on_signal(totals: Arc<Totals>) {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("signal runtime");
        runtime.block_on(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        });
        println!("{}", stats(&totals));
        std::process::exit(0)
    });
}

fn main() {
    let mut address = "127.0.0.1:9299".to_string();
    let mut latency = false;
    let mut log_requests = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--latency" => latency = true,
            "--log-requests" => log_requests = true,
            _ => address = arg,
        }
    }
    let listener = TcpListener::bind(&address).unwrap_or_else(|e| {
        eprintln!("cannot listen on {address}: {e}");
        std::process::exit(2)
    });
    let totals = Arc::new(Totals {
        latency: latency.then(|| Mutex::new(Latencies::new())),
        log_requests,
        ..Totals::default()
    });
    report_on_signal(Arc::clone(&totals));
    for stream in listener.incoming().flatten() {
        let totals = Arc::clone(&totals);
        std::thread::spawn(move || serve(stream, totals));
    }
}
