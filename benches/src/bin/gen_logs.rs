//! `gen_logs`: a seeded generator of container log lines for benchmarks.
//!
//! JSON application lines of about 100–600 bytes (unicode, escapes; ~2% plain text, from
//! `logweir::sources::demo::app_line`), written raw (`json`/`text`: the application's line
//! as is) or wrapped the way a container runtime writes them (`cri`, `docker`).
//!
//!   gen_logs --format cri --lines 1000000 --seed 1 > /tmp/bench.log

use std::io::{BufWriter, Write};

use logweir::sources::demo::{app_line, Rng};

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Cri,
    Docker,
    Json,
    Text,
}

fn usage() -> ! {
    eprintln!("usage: gen_logs --format cri|docker|json|text --lines N [--seed S]");
    std::process::exit(2)
}

fn main() {
    let mut format = Format::Cri;
    let mut lines: u64 = 1_000_000;
    let mut seed: u64 = 1;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--format" => {
                format = match value.as_str() {
                    "cri" => Format::Cri,
                    "docker" => Format::Docker,
                    "json" => Format::Json,
                    "text" => Format::Text,
                    _ => usage(),
                }
            }
            "--lines" => lines = value.parse().unwrap_or_else(|_| usage()),
            "--seed" => seed = value.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let mut rng = Rng::new(seed);
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    let start: i64 = 1_795_000_000_000_000_000;
    let mut app = Vec::with_capacity(1024);
    let mut line = Vec::with_capacity(2048);
    for seq in 0..lines {
        let nanos = start + seq as i64 * 1_234_567;
        let ts = logweir::time::format_rfc3339(nanos);
        app.clear();
        app_line(&mut rng, seq, &ts, &mut app);
        if format == Format::Text && app.first() == Some(&b'{') {
            // Text: the same content without JSON structure.
            let text = String::from_utf8_lossy(&app).replace(['{', '}', '"'], "");
            app.clear();
            app.extend_from_slice(text.as_bytes());
        }
        line.clear();
        let stream = if rng.below(10) == 0 {
            "stderr"
        } else {
            "stdout"
        };
        match format {
            Format::Cri => {
                line.extend_from_slice(ts.as_bytes());
                line.push(b' ');
                line.extend_from_slice(stream.as_bytes());
                line.extend_from_slice(b" F ");
                line.extend_from_slice(&app);
            }
            Format::Docker => {
                app.push(b'\n');
                line.extend_from_slice(b"{\"log\":");
                logweir::codec::json::write_str(&mut line, &app);
                line.extend_from_slice(
                    format!(",\"stream\":\"{stream}\",\"time\":\"{ts}\"}}").as_bytes(),
                );
            }
            Format::Json | Format::Text => line.extend_from_slice(&app),
        }
        line.push(b'\n');
        if out.write_all(&line).is_err() {
            return;
        }
    }
    let _ = out.flush();
}
