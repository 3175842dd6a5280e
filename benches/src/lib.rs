//! Shared by the bench binaries and the criterion benches: the container log line generator
//! (`gen_logs`' logic), so that every bench runs on the same realistic input.
//!
//! Lines are JSON application lines of about 100–600 bytes (unicode, escapes; ~2% plain
//! text, from `logweir::sources::demo::app_line`), written raw (`json`/`text`: the
//! application's line as is) or wrapped the way a container runtime writes them (`cri`,
//! `docker`). The output for a seed is fixed: benchmark data sets are named by their seed.

use logweir::sources::demo::{app_line, Rng};

/// How generated lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFormat {
    /// `<RFC 3339> <stream> F <payload>` (containerd, CRI-O).
    Cri,
    /// Docker `json-file`: `{"log":"<payload>\n","stream":…,"time":…}`.
    Docker,
    /// The application's line as is.
    Json,
    /// The same content without JSON structure.
    Text,
}

impl std::str::FromStr for LineFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<LineFormat, String> {
        match s {
            "cri" => Ok(LineFormat::Cri),
            "docker" => Ok(LineFormat::Docker),
            "json" => Ok(LineFormat::Json),
            "text" => Ok(LineFormat::Text),
            _ => Err(format!("unknown format {s:?}: cri, docker, json or text")),
        }
    }
}

/// A seeded source of log lines; line `n` is stamped `START_NANOS + n × 1.234567 ms`.
pub struct LineGenerator {
    format: LineFormat,
    rng: Rng,
    seq: u64,
    app: Vec<u8>,
}

const START_NANOS: i64 = 1_795_000_000_000_000_000;

impl LineGenerator {
    pub fn new(format: LineFormat, seed: u64) -> LineGenerator {
        LineGenerator {
            format,
            rng: Rng::new(seed),
            seq: 0,
            app: Vec::with_capacity(1024),
        }
    }

    /// Appends the next line, with its `\n`, to `out`.
    pub fn next_line(&mut self, out: &mut Vec<u8>) {
        let nanos = START_NANOS + self.seq as i64 * 1_234_567;
        let ts = logweir::time::format_rfc3339(nanos);
        let app = &mut self.app;
        app.clear();
        app_line(&mut self.rng, self.seq, &ts, app);
        self.seq += 1;
        if self.format == LineFormat::Text && app.first() == Some(&b'{') {
            let text = String::from_utf8_lossy(app).replace(['{', '}', '"'], "");
            app.clear();
            app.extend_from_slice(text.as_bytes());
        }
        let stream = if self.rng.below(10) == 0 {
            "stderr"
        } else {
            "stdout"
        };
        match self.format {
            LineFormat::Cri => {
                out.extend_from_slice(ts.as_bytes());
                out.push(b' ');
                out.extend_from_slice(stream.as_bytes());
                out.extend_from_slice(b" F ");
                out.extend_from_slice(app);
            }
            LineFormat::Docker => {
                app.push(b'\n');
                out.extend_from_slice(b"{\"log\":");
                logweir::codec::json::write_str(out, app);
                out.extend_from_slice(
                    format!(",\"stream\":\"{stream}\",\"time\":\"{ts}\"}}").as_bytes(),
                );
            }
            LineFormat::Json | LineFormat::Text => out.extend_from_slice(app),
        }
        out.push(b'\n');
    }

    /// `count` lines, each with its `\n`, as one buffer.
    pub fn lines(format: LineFormat, seed: u64, count: usize) -> Vec<u8> {
        let mut generator = LineGenerator::new(format, seed);
        let mut out = Vec::with_capacity(count * 512);
        for _ in 0..count {
            generator.next_line(&mut out);
        }
        out
    }
}
