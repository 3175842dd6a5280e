//! Container log file formats: the [`Format`] of a tailed file (CRI, Docker json-file, raw
//! text, or auto-detected from the first line), the output [`Stream`] a container line was
//! written to, and the [`FormatError`] returned by the line decoders.
//!
//! Owns format auto-detection ([`detect`]): decoding itself lives in `cri.rs` and `docker.rs`.

use std::fmt;
use std::str::FromStr;

use super::cri::parse_cri;
use super::docker::parse_docker;

/// How the lines of a file are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// CRI (containerd, CRI-O): `<RFC3339Nano> <stdout|stderr> <P|F> <text>`.
    Cri,
    /// Docker `json-file`: `{"log":"…\n","stream":"stdout","time":"…"}`.
    Docker,
    /// Plain text, one event per line.
    Raw,
    /// Decided per file from its first line with [`detect`] (never returned by it).
    #[default]
    Auto,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Cri => "cri",
            Format::Docker => "docker",
            Format::Raw => "raw",
            Format::Auto => "auto",
        }
    }

    /// `self`, or the format detected from `first_line` when `self` is [`Format::Auto`].
    pub fn resolve(self, first_line: &[u8]) -> Format {
        match self {
            Format::Auto => detect(first_line),
            other => other,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Format {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The names [`Format::from_str`] accepts (lower case; case does not matter when parsing).
const FORMAT_NAMES: &[&str] = &[
    "auto",
    "cri",
    "containerd",
    "crio",
    "cri-o",
    "docker",
    "json-file",
    "raw",
    "text",
];

impl schemars::JsonSchema for Format {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Format".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "enum": FORMAT_NAMES,
        })
    }
}

impl FromStr for Format {
    type Err = FormatError;

    /// Accepts `cri` (alias `containerd`, `crio`), `docker` (alias `json-file`), `raw`
    /// (alias `text`) and `auto`, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        for (names, format) in [
            (&["cri", "containerd", "crio", "cri-o"][..], Format::Cri),
            (&["docker", "json-file"][..], Format::Docker),
            (&["raw", "text"][..], Format::Raw),
            (&["auto"][..], Format::Auto),
        ] {
            if names.iter().any(|n| n.eq_ignore_ascii_case(s)) {
                return Ok(format);
            }
        }
        Err(FormatError::UnknownFormat(s.to_owned()))
    }
}

/// Detects the format of a file from its first line (with or without its trailing `\n`):
/// [`Format::Docker`] when it is a valid Docker json-file line, [`Format::Cri`] when it is a
/// valid CRI line, [`Format::Raw`] otherwise (including an empty line).
pub fn detect(first_line: &[u8]) -> Format {
    if first_line.first() == Some(&b'{') {
        if parse_docker(first_line).is_ok() {
            return Format::Docker;
        }
    } else if parse_cri(first_line).is_ok() {
        return Format::Cri;
    }
    Format::Raw
}

/// The output stream of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    /// `stdout` or `stderr` (exact, lower case, as written by the runtimes).
    pub fn from_bytes(name: &[u8]) -> Option<Stream> {
        match name {
            b"stdout" => Some(Stream::Stdout),
            b"stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a container log line could not be decoded. Messages never include the line itself
/// (the caller has it), so building an error does not allocate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("empty line")]
    Empty,
    #[error("missing {0} field")]
    MissingField(&'static str),
    #[error("invalid {0} timestamp: not RFC 3339")]
    InvalidTimestamp(&'static str),
    #[error("invalid stream: expected \"stdout\" or \"stderr\"")]
    InvalidStream,
    #[error("invalid CRI tag: expected 'P' (partial) or 'F' (full)")]
    InvalidTag,
    #[error("invalid JSON at byte {offset}: {reason}")]
    InvalidJson { offset: usize, reason: &'static str },
    #[error("truncated JSON: unexpected end of line")]
    TruncatedJson,
    #[error("unknown log format {0:?}: expected cri, docker, raw or auto")]
    UnknownFormat(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats() {
        let docker =
            br#"{"log":"hello\n","stream":"stdout","time":"2019-04-01T17:58:33.598656444Z"}"#;
        assert_eq!(detect(docker), Format::Docker);
        let mut with_nl = docker.to_vec();
        with_nl.push(b'\n');
        assert_eq!(detect(&with_nl), Format::Docker);
        assert_eq!(
            detect(b"2020-08-19T21:06:24.337499838Z stderr F hdfsExists: error:"),
            Format::Cri
        );
        assert_eq!(detect(b"2020-08-19T21:06:24Z stdout P \n"), Format::Cri);
        for raw in [
            &b""[..],
            b"\n",
            b"plain text line",
            br#"{"level":"info","msg":"app json"}"#,
            br#"{"log":"no time field\n"}"#,
            b"2020-08-19 21:06:24 INFO something",
            b"{\xff\xfe",
        ] {
            assert_eq!(
                detect(raw),
                Format::Raw,
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn resolves_and_names_formats() {
        assert_eq!(
            Format::Raw.resolve(b"2020-08-19T21:06:24Z stdout F x"),
            Format::Raw
        );
        assert_eq!(
            Format::Auto.resolve(b"2020-08-19T21:06:24Z stdout F x"),
            Format::Cri
        );
        for f in [Format::Cri, Format::Docker, Format::Raw, Format::Auto] {
            assert_eq!(f.as_str().parse::<Format>(), Ok(f));
            assert_eq!(f.to_string(), f.as_str());
        }
        assert_eq!("JSON-File".parse::<Format>(), Ok(Format::Docker));
        assert!(matches!(
            "syslog".parse::<Format>(),
            Err(FormatError::UnknownFormat(_))
        ));
        assert_eq!(Stream::Stderr.as_str(), "stderr");
        assert_eq!(Stream::from_bytes(b"stdout"), Some(Stream::Stdout));
        assert_eq!(Stream::from_bytes(b"STDOUT"), None);
    }

    #[test]
    fn error_messages_are_clear() {
        let e = FormatError::InvalidJson {
            offset: 7,
            reason: "expected ':'",
        };
        assert_eq!(e.to_string(), "invalid JSON at byte 7: expected ':'");
        assert_eq!(
            FormatError::InvalidTimestamp("CRI").to_string(),
            "invalid CRI timestamp: not RFC 3339"
        );
    }
}
