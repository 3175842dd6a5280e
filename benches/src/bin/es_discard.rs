//! A discarding Elasticsearch endpoint for throughput runs: answers `GET /` like a cluster,
//! reads every request body to its end and answers bulk requests with `{"errors":false}`.
//! Nothing is parsed or stored, so the figure measured is the sender's.
//!
//! ```text
//! es_discard 127.0.0.1:9299
//! ```
//! Prints the bulk requests and bytes received when it gets a `GET /_stats/discard`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Default)]
struct Totals {
    requests: AtomicU64,
    bytes: AtomicU64,
}

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
                }
            }
        }
        let mut left = content_length;
        while left > 0 {
            let n = reader.read(&mut sink[..left.min(1 << 20)])?;
            if n == 0 {
                return Ok(());
            }
            left -= n;
        }
        let body: String = if request_line.starts_with("GET / ") {
            r#"{"name":"discard","cluster_name":"discard","version":{"number":"8.15.0"}}"#.into()
        } else if request_line.starts_with("GET /_stats/discard") {
            format!(
                r#"{{"requests":{},"bytes":{}}}"#,
                totals.requests.load(Ordering::Relaxed),
                totals.bytes.load(Ordering::Relaxed)
            )
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

fn main() {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9299".into());
    let listener = TcpListener::bind(&address).unwrap_or_else(|e| {
        eprintln!("cannot listen on {address}: {e}");
        std::process::exit(2)
    });
    let totals = Arc::new(Totals::default());
    for stream in listener.incoming().flatten() {
        let totals = Arc::clone(&totals);
        std::thread::spawn(move || serve(stream, totals));
    }
}
