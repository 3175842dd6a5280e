//! Per-core ceilings for parse-and-forward, the references the whole-pipeline figures are
//! compared against (issue #11): single-threaded loops over a log file, no pipeline around
//! them.
//!
//! ```text
//! ceiling reencode FILE [--cri]   # to_borrowed_value per line, re-encoded after a bulk action line
//! ceiling splice FILE [--cri]     # fill_tape per line, read `level`, original bytes after the action line
//! ```
//!
//! `--cri` skips each line's CRI prefix (`<time> <stream> <tag> `) before parsing, so the same
//! loop runs over the container-log form of the data. Prints MB/s and lines/s of the file.

use std::io::Write;
use std::time::Instant;

use simd_json::prelude::*;

const ACTION: &[u8] = b"{\"create\":{}}\n";

fn payload(line: &[u8], cri: bool) -> &[u8] {
    if !cri {
        return line;
    }
    let mut rest = line;
    for _ in 0..3 {
        match memchr::memchr(b' ', rest) {
            Some(i) => rest = &rest[i + 1..],
            None => return rest,
        }
    }
    rest
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let path = args.next().unwrap_or_default();
    let cri = args.any(|a| a == "--cri");
    let data = std::fs::read(&path).unwrap_or_else(|e| {
        eprintln!("usage: ceiling reencode|splice FILE [--cri]: {e}");
        std::process::exit(2)
    });
    let start = Instant::now();
    let mut out: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut scratch: Vec<u8> = Vec::new();
    let mut lines = 0u64;
    let mut levels = 0u64;
    let mut written = 0u64;
    let mut buffers = simd_json::Buffers::default();
    let mut tape = simd_json::Tape::null();
    for line in data.split(|b| *b == b'\n') {
        if line.is_empty() {
            continue;
        }
        lines += 1;
        let json = payload(line, cri);
        scratch.clear();
        scratch.extend_from_slice(json);
        match mode.as_str() {
            "reencode" => {
                if let Ok(value) = simd_json::to_borrowed_value(&mut scratch) {
                    out.extend_from_slice(ACTION);
                    value.write(&mut out).ok();
                    out.push(b'\n');
                }
            }
            "splice" => {
                let mut t = std::mem::replace(&mut tape, simd_json::Tape::null()).reset();
                if simd_json::fill_tape(&mut scratch, &mut buffers, &mut t).is_ok() {
                    let value = t.as_value();
                    if let Some(level) = value.get("level") {
                        levels += level.as_str().map_or(0, str::len) as u64;
                    }
                    out.extend_from_slice(ACTION);
                    out.extend_from_slice(json);
                    out.push(b'\n');
                }
                tape = t.reset();
            }
            _ => {
                eprintln!("usage: ceiling reencode|splice FILE [--cri]");
                std::process::exit(2)
            }
        }
        // A bulk request's worth: hand it off (here: drop it) and reuse the buffer.
        if out.len() >= 1 << 20 {
            written += out.len() as u64;
            out.clear();
        }
    }
    written += out.len() as u64;
    let secs = start.elapsed().as_secs_f64();
    let mb = data.len() as f64 / 1e6;
    let mut stdout = std::io::stdout();
    writeln!(
        stdout,
        "{mode}: {lines} lines, {mb:.0} MB in {secs:.2} s: {:.0} MB/s, {:.0} lines/s (bulk bytes {written}, level bytes {levels})",
        mb / secs,
        lines as f64 / secs
    )
    .ok();
}
