//! What users write in `[sources.<id>] type = "file"`: the file source's configuration, its
//! defaults and its validation (patterns and regexes are checked while the configuration is
//! parsed, so `logweir validate` reports them with their location).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::format::Format;
use super::multiline::MultilineConfig;
use crate::topology::{ComponentFuture, SourceContext};

/// Tails files, typically Kubernetes container logs under `/var/log/pods`.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// Glob patterns of the files to read (`*` and `?` stay within a directory, `**` spans
    /// directories). Files matching later, while running, are picked up too.
    #[serde(deserialize_with = "patterns")]
    pub include: Vec<String>,
    /// Glob patterns of files never to read, even if included.
    #[serde(default, deserialize_with = "patterns")]
    pub exclude: Vec<String>,
    /// How lines are encoded: `cri` (containerd, CRI-O), `docker` (json-file), `raw` (one
    /// event per line) or `auto` (decided per file from its first line).
    #[serde(default = "default_format", deserialize_with = "format")]
    pub format: Format,
    /// Where to start reading a file that has no checkpoint when the source starts:
    /// `beginning` or `end`. Files appearing while running are always read from their
    /// beginning.
    #[serde(default)]
    pub read_from: ReadFrom,
    /// Longest line (after re-joining split container lines) kept; longer lines are cut and
    /// tagged `truncated`.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// Folds multi-line messages (stack traces) into one event.
    #[serde(default)]
    pub multiline: Option<MultilineSettings>,
    /// Read the matching files to their end, then finish (batch jobs, benchmarks, tests).
    #[serde(default)]
    pub exit_on_eof: bool,
    /// A last line without its newline is emitted after the file has not grown for this
    /// long (and a container line split by the runtime whose end never came, likewise).
    #[serde(default = "default_partial_line_timeout_ms")]
    pub partial_line_timeout_ms: u64,
    /// Most files open at once; further files wait their turn.
    #[serde(default = "default_max_open_files")]
    pub max_open_files: usize,
    /// Most bytes read from one file before moving on to the next (fairness).
    #[serde(default = "default_max_read_bytes")]
    pub max_read_bytes: usize,
    /// How often the patterns are expanded again, as a safety net besides inotify.
    #[serde(default = "default_glob_interval_ms")]
    pub glob_interval_ms: u64,
    /// How long a renamed or deleted file is still read after it stopped growing, for
    /// writers that have not reopened their log yet.
    #[serde(default = "default_rotate_wait_ms")]
    pub rotate_wait_ms: u64,
    /// How often acknowledged offsets are written to the checkpoint file.
    #[serde(default = "default_checkpoint_interval_ms")]
    pub checkpoint_interval_ms: u64,
    /// At shutdown (or end with `exit_on_eof`), how long to wait for the acknowledgements of
    /// events already sent before writing the checkpoints a last time.
    #[serde(default = "default_ack_timeout_ms")]
    pub ack_timeout_ms: u64,
    /// Most batches sent and not yet acknowledged; reading pauses at this bound.
    #[serde(default = "default_max_unacked_batches")]
    pub max_unacked_batches: usize,
}

/// Multiline aggregation settings.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MultilineSettings {
    /// Regex matching the first line of an event; other lines continue the current event.
    #[serde(deserialize_with = "regex_text")]
    pub start_pattern: String,
    /// An event with no new line for this long is emitted.
    #[serde(default = "default_multiline_timeout_ms")]
    pub timeout_ms: u64,
    /// Most lines in one event.
    #[serde(default = "default_multiline_max_lines")]
    pub max_lines: usize,
}

/// Where to start a file without checkpoint at startup.
#[derive(
    Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ReadFrom {
    #[default]
    Beginning,
    End,
}

fn default_format() -> Format {
    Format::Auto
}
fn default_max_line_bytes() -> usize {
    1024 * 1024
}
fn default_partial_line_timeout_ms() -> u64 {
    1000
}
fn default_max_open_files() -> usize {
    1024
}
fn default_max_read_bytes() -> usize {
    256 * 1024
}
fn default_glob_interval_ms() -> u64 {
    1000
}
fn default_rotate_wait_ms() -> u64 {
    5000
}
fn default_checkpoint_interval_ms() -> u64 {
    1000
}
fn default_ack_timeout_ms() -> u64 {
    10_000
}
fn default_max_unacked_batches() -> usize {
    1024
}
fn default_multiline_timeout_ms() -> u64 {
    1000
}
fn default_multiline_max_lines() -> usize {
    500
}

fn patterns<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let patterns = Vec::<String>::deserialize(d)?;
    for p in &patterns {
        super::discovery::check_pattern(p).map_err(serde::de::Error::custom)?;
    }
    Ok(patterns)
}

fn format<'de, D: Deserializer<'de>>(d: D) -> Result<Format, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

fn regex_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    regex::bytes::Regex::new(&s)
        .map_err(|e| serde::de::Error::custom(format!("invalid start_pattern: {e}")))?;
    Ok(s)
}

impl FileSourceConfig {
    /// The multiline aggregation settings, compiled.
    pub(crate) fn multiline_config(&self) -> Result<Option<Arc<MultilineConfig>>, String> {
        let Some(m) = &self.multiline else {
            return Ok(None);
        };
        let start_pattern = regex::bytes::Regex::new(&m.start_pattern)
            .map_err(|e| format!("invalid start_pattern: {e}"))?;
        Ok(Some(Arc::new(MultilineConfig {
            start_pattern,
            max_lines: m.max_lines.max(1),
            timeout: Duration::from_millis(m.timeout_ms),
            max_bytes: self.max_line_bytes.max(1),
        })))
    }

    pub fn build(&self, ctx: SourceContext) -> Result<ComponentFuture, String> {
        if self.include.is_empty() {
            return Err("`include` lists no pattern: nothing to read".to_string());
        }
        super::source::build(self.clone(), ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FileSourceConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn parses_the_documented_example_with_defaults() {
        let c = parse(
            r#"
include = ["/var/log/pods/*/*/*.log"]
exclude = ["/var/log/pods/kube-system_*/**"]
format = "cri"
read_from = "beginning"
max_line_bytes = 1048576
multiline = { start_pattern = '^\S', timeout_ms = 1000, max_lines = 500 }
exit_on_eof = false
"#,
        )
        .unwrap();
        assert_eq!(c.format, Format::Cri);
        assert_eq!(c.read_from, ReadFrom::Beginning);
        assert_eq!(c.max_open_files, 1024);
        assert_eq!(c.multiline.as_ref().unwrap().max_lines, 500);
        assert!(c.multiline_config().unwrap().is_some());
        let c = parse(r#"include = ["/x/*.log"]"#).unwrap();
        assert_eq!(c.format, Format::Auto);
        assert!(c.multiline.is_none());
    }

    #[test]
    fn rejects_bad_values() {
        let e = parse(r#"include = ["/x/[*.log"]"#).unwrap_err();
        assert!(e.to_string().contains("invalid glob pattern"), "{e}");
        let e = parse(
            r#"include = ["/x"]
format = "syslog""#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown log format"), "{e}");
        let e = parse(
            r#"include = ["/x"]
multiline = { start_pattern = '(' }"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("invalid start_pattern"), "{e}");
        let e = parse(
            r#"include = ["/x"]
read_from = "middle""#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("middle"), "{e}");
        assert!(parse(
            r#"include = ["/x"]
unknown = 1"#
        )
        .is_err());
    }
}
