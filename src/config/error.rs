//! Configuration errors that point at the place in the file: `FILE:LINE:COL: message`.

use std::fmt;
use std::path::{Path, PathBuf};

/// A line and column in a configuration file, both 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub location: Location,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.location.line,
            self.location.column,
            self.message
        )
    }
}

/// Every problem found in a configuration (validation reports them all at once).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl ConfigErrors {
    pub fn single(error: ConfigError) -> ConfigErrors {
        ConfigErrors(vec![error])
    }
}

/// Maps byte offsets of a file's text to lines and columns.
#[derive(Debug, Clone)]
pub struct SourceMap {
    file: PathBuf,
    line_starts: Vec<usize>,
    text: String,
}

impl SourceMap {
    pub fn new(file: &Path, text: String) -> SourceMap {
        let mut line_starts = vec![0];
        line_starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        SourceMap {
            file: file.to_path_buf(),
            line_starts,
            text,
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The line and column (in characters) of a byte offset.
    pub fn location(&self, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        let line_idx = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line_idx];
        let column = self
            .text
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(offset - start)
            + 1;
        Location {
            line: line_idx + 1,
            column,
        }
    }

    pub fn error(&self, offset: usize, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            location: self.location(offset),
            message: message.into(),
        }
    }
}

/// The candidate closest to `input` by edit distance, if it is close enough to be a likely
/// typo.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = edit_distance(input, c);
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    let (d, c) = best?;
    let limit = (input.chars().count().max(c.chars().count()) / 3).max(2);
    (d <= limit).then_some(c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Adds "did you mean" to serde's "unknown field `x`, expected one of `a`, `b`" and
/// "unknown variant `x`, expected `a` or `b`" messages.
pub fn enrich_serde_message(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let Some((value, expected)) = rest.split_once('`') else {
            return message.to_string();
        };
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        return match did_you_mean(value, candidates.iter().copied()) {
            Some(s) => format!(
                "unknown value `{value}`; did you mean `{s}`? (expected one of {})",
                list(&candidates)
            ),
            None => format!(
                "unknown value `{value}`; expected one of {}",
                list(&candidates)
            ),
        };
    }
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_string();
    };
    let Some((field, expected)) = rest.split_once('`') else {
        return message.to_string();
    };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match did_you_mean(field, candidates.iter().copied()) {
        Some(s) => format!(
            "unknown key `{field}`; did you mean `{s}`? (expected one of {})",
            list(&candidates)
        ),
        None => format!(
            "unknown key `{field}`; expected one of {}",
            list(&candidates)
        ),
    }
}

/// `a`, `b`, `c`
pub fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_one_based_and_count_characters() {
        let map = SourceMap::new(Path::new("p.toml"), "a = 1\nbé = 2\n".to_string());
        assert_eq!(map.location(0), Location { line: 1, column: 1 });
        assert_eq!(map.location(6), Location { line: 2, column: 1 });
        // "bé = 2": the byte offset of `=` is 6 + 4 (é is two bytes), its column is 4.
        assert_eq!(map.location(10), Location { line: 2, column: 4 });
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(did_you_mean("pathh", ["path", "compression"]), Some("path"));
        assert_eq!(
            did_you_mean("fiel", ["file", "stdin", "demo"]),
            Some("file")
        );
        assert_eq!(did_you_mean("zzzzzz", ["path", "compression"]), None);
        let m = enrich_serde_message("unknown field `pathh`, expected `path` or `compression`");
        assert!(m.contains("did you mean `path`"), "{m}");
        let m = enrich_serde_message("unknown variant `dsk`, expected `memory` or `disk`");
        assert_eq!(
            m,
            "unknown value `dsk`; did you mean `disk`? (expected one of `memory`, `disk`)"
        );
    }
}
