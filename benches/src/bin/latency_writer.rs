//! `latency_writer`: appends container log lines at a steady rate for a bounded time, each
//! stamped with the moment it was handed to `write(2)`, for the end-to-end latency harness
//! (`benches/latency.sh`, issue #11: "p99 latency from a line written to the bulk request
//! carrying it under 1 s at 10,000 lines/s").
//!
//! ```text
//! latency_writer --path /tmp/x/pods/<ns>_<pod>_<uid>/<container>/0.log [--rate 10000] [--seconds 30] [--seed 1]
//! ```
//!
//! Lines are CRI lines (`<RFC 3339 now> <stream> F <payload>`) whose payloads come from the
//! demo generator (`logweir::sources::demo::app_line`: JSON of about 100–600 bytes with
//! unicode and escapes, ~2% plain text). Each JSON payload starts with `"wt":<unix nanos>`,
//! each plain-text payload ends with ` wt=<unix nanos>`; `es_discard --latency` looks for
//! either in the documents it receives. One `write(2)` per line, as container runtimes do;
//! the lines due by the clock are written, then the writer sleeps until the next is due, so
//! the rate holds on average even when a sleep overshoots. Prints the lines written and how
//! far behind schedule the writer ever fell.

use std::fs::OpenOptions;
use std::io::Write;
use std::time::{Duration, Instant};

use logweir::sources::demo::{app_line, Rng};

fn usage() -> ! {
    eprintln!("usage: latency_writer --path FILE [--rate LINES_PER_S] [--seconds S] [--seed S]");
    std::process::exit(2)
}

fn main() {
    let mut path = None;
    let mut rate: u64 = 10_000;
    let mut seconds: u64 = 30;
    let mut seed: u64 = 1;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--path" => path = Some(value),
            "--rate" => rate = value.parse().unwrap_or_else(|_| usage()),
            "--seconds" => seconds = value.parse().unwrap_or_else(|_| usage()),
            "--seed" => seed = value.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let Some(path) = path else { usage() };
    if rate == 0 {
        usage()
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| {
            eprintln!("cannot open {path}: {e}");
            std::process::exit(2)
        });

    let total = rate * seconds;
    let mut rng = Rng::new(seed);
    let mut app = Vec::with_capacity(1024);
    let mut line = Vec::with_capacity(2048);
    let mut written: u64 = 0;
    let mut bytes: u64 = 0;
    let mut worst_lag = Duration::ZERO;
    let start = Instant::now();
    while written < total {
        let now = Instant::now();
        // Lines due by now: the schedule is `start + n / rate`, not "sleep 1/rate per line",
        // so oversleeping is caught up instead of lowering the rate.
        let due = ((now - start).as_nanos() * rate as u128 / 1_000_000_000) as u64 + 1;
        let due = due.min(total);
        if due > written + 1 {
            let scheduled = start + Duration::from_nanos(written * 1_000_000_000 / rate);
            worst_lag = worst_lag.max(now - scheduled);
        }
        while written < due {
            let wt = logweir::time::now_unix_nanos();
            let ts = logweir::time::format_rfc3339(wt);
            app.clear();
            app_line(&mut rng, written, &ts, &mut app);
            line.clear();
            line.extend_from_slice(ts.as_bytes());
            line.extend_from_slice(if rng.below(10) == 0 {
                b" stderr F "
            } else {
                b" stdout F "
            });
            if app.first() == Some(&b'{') {
                line.extend_from_slice(format!("{{\"wt\":{wt},").as_bytes());
                line.extend_from_slice(&app[1..]);
            } else {
                line.extend_from_slice(&app);
                line.extend_from_slice(format!(" wt={wt}").as_bytes());
            }
            line.push(b'\n');
            if let Err(e) = file.write_all(&line) {
                eprintln!("write to {path} failed: {e}");
                std::process::exit(1)
            }
            bytes += line.len() as u64;
            written += 1;
        }
        let next = start + Duration::from_nanos(written * 1_000_000_000 / rate);
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "written {written} lines ({bytes} bytes) in {elapsed:.2} s: {:.0} lines/s; worst lag behind schedule {:.1} ms",
        written as f64 / elapsed,
        worst_lag.as_secs_f64() * 1000.0
    );
}
