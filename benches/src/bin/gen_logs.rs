//! `gen_logs`: a seeded generator of container log lines for benchmarks (the generator itself
//! is `logweir_benches::LineGenerator`, shared with the criterion benches).
//!
//! JSON application lines of about 100–600 bytes (unicode, escapes; ~2% plain text, from
//! `logweir::sources::demo::app_line`), written raw (`json`/`text`: the application's line
//! as is) or wrapped the way a container runtime writes them (`cri`, `docker`).
//!
//!   gen_logs --format cri --lines 1000000 --seed 1 > /tmp/bench.log

use std::io::{BufWriter, Write};

use logweir_benches::{LineFormat, LineGenerator};

fn usage() -> ! {
    eprintln!("usage: gen_logs --format cri|docker|json|text --lines N [--seed S]");
    std::process::exit(2)
}

fn main() {
    let mut format = LineFormat::Cri;
    let mut lines: u64 = 1_000_000;
    let mut seed: u64 = 1;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--format" => format = value.parse().unwrap_or_else(|_| usage()),
            "--lines" => lines = value.parse().unwrap_or_else(|_| usage()),
            "--seed" => seed = value.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let mut generator = LineGenerator::new(format, seed);
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut line = Vec::with_capacity(2048);
    for _ in 0..lines {
        line.clear();
        generator.next_line(&mut line);
        if out.write_all(&line).is_err() {
            return;
        }
    }
    let _ = out.flush();
}
