//! A discarding Elasticsearch endpoint for throughput runs: answers `GET /` like a cluster,
//! reads every request body to its end and answers bulk requests with `{"errors":false}`.
//! Nothing is parsed or stored, so the figure measured is the sender's.
//!
//! ```text
//! es_discard 127.0.0.1:9299 [--latency]
//! ```
//! Prints the bulk requests and bytes received when it gets a `GET /_stats/discard`.
//!
//! `--latency` (for `benches/latency.sh`): each bulk body is kept (gunzipped if sent with
//! `content-encoding: gzip`) and every document line is searched for the write time that
//! `latency_writer` put in its line (`"wt":<unix nanos>` in JSON, `wt=<unix nanos>` in plain
//! text) with a byte search, no JSON parse. The latency of a document is the time the whole
//! request had arrived minus that write time. `GET /_stats/discard` then also reports count,
//! p50, p99 and max (a log-linear histogram, within 1.6%), and so does SIGINT/SIGTERM, on
//! stdout, before exiting.

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

/// Records the latency of every document of a bulk body received at `received_nanos`.
fn record_body(body: &[u8], received_nanos: i64, latencies: &Mutex<Latencies>) {
    let mut latencies = latencies.lock().unwrap_or_else(|e| e.into_inner());
    // Action and document lines alternate; documents are the odd lines.
    for document in body.split(|&b| b == b'\n').skip(1).step_by(2) {
        if document.is_empty() {
            continue;
        }
        match write_time(document) {
            Some(wt) => latencies.record(((received_nanos - wt).max(0) / 1000) as u64),
            None => latencies.unmarked += 1,
        }
    }
}

/// Largest bulk body kept in `--latency` mode (the sink's default batch is 10 MiB).
const MAX_KEPT_BODY: usize = 64 << 20;

fn serve(stream: TcpStream, totals: Arc<Totals>) -> std::io::Result<()> {
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
        let keep = totals.latency.is_some()
            && request_line.contains("_bulk")
            && content_length <= MAX_KEPT_BODY;
        if keep {
            let mut body = vec![0u8; content_length];
            reader.read_exact(&mut body)?;
            let received_nanos = logweir::time::now_unix_nanos();
            if gzip {
                let mut plain = Vec::with_capacity(content_length * 6);
                flate2::read::MultiGzDecoder::new(&body[..]).read_to_end(&mut plain)?;
                body = plain;
            }
            if let Some(latencies) = &totals.latency {
                record_body(&body, received_nanos, latencies);
            }
        } else {
            let mut left = content_length;
            while left > 0 {
                let n = reader.read(&mut sink[..left.min(1 << 20)])?;
                if n == 0 {
                    return Ok(());
                }
                left -= n;
            }
        }
        let body: String = if request_line.starts_with("GET / ") {
            r#"{"name":"discard","cluster_name":"discard","version":{"number":"8.15.0"}}"#.into()
        } else if request_line.starts_with("GET /_stats/discard") {
            stats(&totals)
        } else {
            if request_line.contains("_bulk") {
                totals.requests.fetch_add(1, Ordering::Relaxed);
                totals
                    .bytes
                    .fetch_add(content_length as u64, Ordering::Relaxed);
            }
            r#"{"errors":false,"took":0,"items":[]}"#.into()
        };
        write!(
            writer,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-elastic-product: Elasticsearch\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )?;
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
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--latency" => latency = true,
            _ => address = arg,
        }
    }
    let listener = TcpListener::bind(&address).unwrap_or_else(|e| {
        eprintln!("cannot listen on {address}: {e}");
        std::process::exit(2)
    });
    let totals = Arc::new(Totals {
        latency: latency.then(|| Mutex::new(Latencies::new())),
        ..Totals::default()
    });
    report_on_signal(Arc::clone(&totals));
    for stream in listener.incoming().flatten() {
        let totals = Arc::clone(&totals);
        std::thread::spawn(move || serve(stream, totals));
    }
}
