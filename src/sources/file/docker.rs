//! Docker `json-file` log line decoder.
//!
//! A line is a JSON object `{"log":"text\n","stream":"stdout","time":"<RFC3339Nano>"}`,
//! possibly with other keys (`"attrs":{…}`) and in another key order. Docker splits lines
//! longer than 16 KiB: a `log` value that does not end with `\n` is partial and continues in
//! the next line (joined by `partial.rs`). Owns the decoding of one line only.
//!
//! Hot path: the canonical layout Docker writes is matched with prefix compares and `memchr`,
//! and the `log` text is borrowed from the line when its only escape is the final `\n`; no
//! allocation. Other escapes (`\"` of JSON-in-log applications) are decoded into an owned
//! buffer. Any other layout goes through a small byte-level JSON object parser (any key order,
//! unknown values validated and skipped). Bytes that are not UTF-8 inside strings are passed
//! through unchanged; lone UTF-16 surrogates in `\u` escapes become U+FFFD; raw control
//! characters inside strings are tolerated.

use std::borrow::Cow;

use memchr::{memchr, memchr2};

pub use super::format::{FormatError, Stream};

/// One decoded Docker json-file line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerLine<'a> {
    /// Docker's timestamp, nanoseconds since the Unix epoch (UTC).
    pub timestamp_unix_nanos: i64,
    pub stream: Stream,
    /// The `log` value did not end with `\n`: the text continues in the next line.
    pub partial: bool,
    /// The unescaped `log` value without its trailing `\n`; borrowed from the line when the
    /// value has no other escape.
    pub log: Cow<'a, [u8]>,
}

/// Decodes one Docker json-file line (a trailing `\n` or other whitespace is accepted).
pub fn parse_docker(line: &[u8]) -> Result<DockerLine<'_>, FormatError> {
    match parse_canonical(line) {
        Some(parsed) => Ok(parsed),
        None => parse_general(line),
    }
}

const LOG_PREFIX: &[u8] = br#"{"log":""#;
const STDOUT_TIME: &[u8] = br#","stream":"stdout","time":""#;
const STDERR_TIME: &[u8] = br#","stream":"stderr","time":""#;

/// The layout Docker writes (`log`, `stream`, `time`, no other key, no whitespace). `None`
/// means "not this layout", never "invalid": the general parser decides.
fn parse_canonical(line: &[u8]) -> Option<DockerLine<'_>> {
    if !line.starts_with(LOG_PREFIX) {
        return None;
    }
    let mut p = Parser {
        s: line,
        pos: LOG_PREFIX.len() - 1,
    };
    let log = p.string().ok()?;
    let after = &line[p.pos..];
    let (stream, after) = if let Some(after) = after.strip_prefix(STDOUT_TIME) {
        (Stream::Stdout, after)
    } else {
        (Stream::Stderr, after.strip_prefix(STDERR_TIME)?)
    };
    let q = memchr(b'"', after)?;
    let timestamp_unix_nanos = crate::time::parse_rfc3339(&after[..q])?;
    let tail = after[q + 1..].strip_prefix(b"}")?;
    if !tail.iter().all(|&b| is_ws(b)) {
        return None;
    }
    let (log, partial) = log.decode_log();
    Some(DockerLine {
        timestamp_unix_nanos,
        stream,
        partial,
        log,
    })
}

/// Any key order and extra keys; full validation of the object's syntax.
fn parse_general(line: &[u8]) -> Result<DockerLine<'_>, FormatError> {
    let mut p = Parser { s: line, pos: 0 };
    p.skip_ws();
    match p.peek() {
        None => return Err(FormatError::Empty),
        Some(b'{') => p.pos += 1,
        Some(_) => return Err(p.invalid("expected '{'")),
    }
    let (mut log, mut stream, mut time) = (None, None, None);
    p.skip_ws();
    if p.peek() == Some(b'}') {
        p.pos += 1;
    } else {
        loop {
            p.skip_ws();
            if p.peek() != Some(b'"') {
                return Err(p.invalid_or_truncated("expected a string key"));
            }
            let key = p.string()?;
            p.skip_ws();
            p.expect(b':', "expected ':'")?;
            p.skip_ws();
            let key = key.unescape();
            match &*key {
                b"log" | b"stream" | b"time" => {
                    if p.peek() != Some(b'"') {
                        return Err(p.invalid_or_truncated("expected a string value"));
                    }
                    let value = p.string()?;
                    match &*key {
                        b"log" => log = Some(value),
                        b"stream" => stream = Some(value),
                        _ => time = Some(value),
                    }
                }
                _ => p.skip_value(0)?,
            }
            p.skip_ws();
            match p.peek() {
                Some(b',') => p.pos += 1,
                Some(b'}') => {
                    p.pos += 1;
                    break;
                }
                _ => return Err(p.invalid_or_truncated("expected ',' or '}'")),
            }
        }
    }
    p.skip_ws();
    if p.pos != line.len() {
        return Err(p.invalid("trailing characters after the object"));
    }
    let log = log.ok_or(FormatError::MissingField("log"))?;
    let time = time.ok_or(FormatError::MissingField("time"))?.unescape();
    let timestamp_unix_nanos =
        crate::time::parse_rfc3339(&time).ok_or(FormatError::InvalidTimestamp("Docker"))?;
    let stream = Stream::from_bytes(
        &stream
            .ok_or(FormatError::MissingField("stream"))?
            .unescape(),
    )
    .ok_or(FormatError::InvalidStream)?;
    let (log, partial) = log.decode_log();
    Ok(DockerLine {
        timestamp_unix_nanos,
        stream,
        partial,
        log,
    })
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Nesting limit for skipped values (bounded recursion on hostile input).
const MAX_DEPTH: usize = 64;

/// The raw content of a JSON string (between its quotes), escapes validated but not decoded.
struct RawStr<'a> {
    content: &'a [u8],
    /// Offset in `content` of the first backslash.
    first_escape: Option<usize>,
}

impl<'a> RawStr<'a> {
    /// The `log` value without its trailing `\n`, and whether it had none (partial).
    /// Borrowed when the only escape is that trailing `\n`.
    fn decode_log(&self) -> (Cow<'a, [u8]>, bool) {
        match self.first_escape {
            None => (Cow::Borrowed(self.content), true),
            Some(i) if i + 2 == self.content.len() && self.content[i + 1] == b'n' => {
                (Cow::Borrowed(&self.content[..i]), false)
            }
            Some(_) => {
                let mut text = self.unescape().into_owned();
                let partial = text.last() != Some(&b'\n');
                if !partial {
                    text.pop();
                }
                (Cow::Owned(text), partial)
            }
        }
    }

    fn unescape(&self) -> Cow<'a, [u8]> {
        match self.first_escape {
            None => Cow::Borrowed(self.content),
            Some(i) => {
                let mut out = Vec::with_capacity(self.content.len());
                out.extend_from_slice(&self.content[..i]);
                unescape_into(&self.content[i..], &mut out);
                Cow::Owned(out)
            }
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
    }

    fn invalid(&self, reason: &'static str) -> FormatError {
        FormatError::InvalidJson {
            offset: self.pos,
            reason,
        }
    }

    fn invalid_or_truncated(&self, reason: &'static str) -> FormatError {
        if self.pos >= self.s.len() {
            FormatError::TruncatedJson
        } else {
            self.invalid(reason)
        }
    }

    fn expect(&mut self, b: u8, reason: &'static str) -> Result<(), FormatError> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.invalid_or_truncated(reason))
        }
    }

    /// A string starting at `pos` (which holds `"`); validates escapes.
    fn string(&mut self) -> Result<RawStr<'a>, FormatError> {
        let start = self.pos + 1;
        let mut at = start;
        let mut first_escape = None;
        loop {
            let i = at + memchr2(b'"', b'\\', &self.s[at..]).ok_or(FormatError::TruncatedJson)?;
            if self.s[i] == b'"' {
                self.pos = i + 1;
                return Ok(RawStr {
                    content: &self.s[start..i],
                    first_escape,
                });
            }
            first_escape.get_or_insert(i - start);
            at = match self.s.get(i + 1) {
                None => return Err(FormatError::TruncatedJson),
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i + 2,
                Some(b'u') => {
                    let hex = self.s.get(i + 2..i + 6);
                    match hex {
                        Some(h) if h.iter().all(u8::is_ascii_hexdigit) => i + 6,
                        _ if self.s[i + 2..].iter().all(u8::is_ascii_hexdigit) => {
                            return Err(FormatError::TruncatedJson)
                        }
                        _ => {
                            self.pos = i;
                            return Err(self.invalid("invalid \\u escape"));
                        }
                    }
                }
                Some(_) => {
                    self.pos = i;
                    return Err(self.invalid("invalid escape"));
                }
            };
        }
    }

    /// Validates and skips any JSON value.
    fn skip_value(&mut self, depth: usize) -> Result<(), FormatError> {
        if depth > MAX_DEPTH {
            return Err(self.invalid("nesting too deep"));
        }
        match self.peek() {
            None => Err(FormatError::TruncatedJson),
            Some(b'"') => self.string().map(drop),
            Some(open @ (b'{' | b'[')) => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.pos += 1;
                self.skip_ws();
                if self.peek() == Some(close) {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.skip_ws();
                    if open == b'{' {
                        if self.peek() != Some(b'"') {
                            return Err(self.invalid_or_truncated("expected a string key"));
                        }
                        self.string()?;
                        self.skip_ws();
                        self.expect(b':', "expected ':'")?;
                        self.skip_ws();
                    }
                    self.skip_value(depth + 1)?;
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b) if b == close => {
                            self.pos += 1;
                            return Ok(());
                        }
                        _ => {
                            return Err(
                                self.invalid_or_truncated("expected ',' or a closing bracket")
                            )
                        }
                    }
                }
            }
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.invalid("expected a value")),
        }
    }

    fn literal(&mut self, lit: &'static [u8]) -> Result<(), FormatError> {
        let rest = &self.s[self.pos..];
        if rest.starts_with(lit) {
            self.pos += lit.len();
            Ok(())
        } else if lit.starts_with(rest) {
            Err(FormatError::TruncatedJson)
        } else {
            Err(self.invalid("invalid literal"))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<(), FormatError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.invalid_or_truncated("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.invalid_or_truncated("invalid number"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.invalid_or_truncated("invalid number"));
            }
        }
        Ok(())
    }
}

fn hex4(s: &[u8]) -> Option<u32> {
    let h = s.get(..4)?;
    let mut v = 0u32;
    for &b in h {
        v = v * 16 + (b as char).to_digit(16)?;
    }
    Some(v)
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// Decodes JSON string escapes (already validated by [`Parser::string`]; anything unexpected is
/// copied through rather than panicking). Lone surrogates become U+FFFD.
fn unescape_into(mut s: &[u8], out: &mut Vec<u8>) {
    while let Some(i) = memchr(b'\\', s) {
        out.extend_from_slice(&s[..i]);
        let Some(&esc) = s.get(i + 1) else {
            out.push(b'\\');
            return;
        };
        let mut consumed = 2;
        match esc {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'u' => match hex4(&s[i + 2..]) {
                Some(hi @ 0xD800..=0xDBFF) => {
                    let lo = if s.get(i + 6..i + 8) == Some(b"\\u") {
                        hex4(&s[i + 8..]).filter(|lo| (0xDC00..=0xDFFF).contains(lo))
                    } else {
                        None
                    };
                    match lo {
                        Some(lo) => {
                            let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                            push_char(out, char::from_u32(c).unwrap_or('\u{FFFD}'));
                            consumed = 12;
                        }
                        None => {
                            push_char(out, '\u{FFFD}');
                            consumed = 6;
                        }
                    }
                }
                Some(cp) => {
                    push_char(out, char::from_u32(cp).unwrap_or('\u{FFFD}'));
                    consumed = 6;
                }
                None => {
                    out.extend_from_slice(b"\\u");
                }
            },
            // `"`, `\`, `/` and anything unexpected: the character itself.
            other => out.push(other),
        }
        s = &s[i + consumed..];
    }
    out.extend_from_slice(s);
}

#[cfg(test)]
mod tests {
    use super::super::partial::PartialJoiner;
    use super::*;
    use proptest::prelude::*;

    const T: i64 = 1_554_141_513_598_656_444; // 2019-04-01T17:58:33.598656444Z

    fn log_of(line: &[u8]) -> DockerLine<'_> {
        parse_docker(line).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(line)))
    }

    #[test]
    fn canonical_lines_borrow() {
        let line =
            br#"{"log":"Simple text\n","stream":"stdout","time":"2019-04-01T17:58:33.598656444Z"}"#;
        let l = log_of(line);
        assert_eq!(l.timestamp_unix_nanos, T);
        assert_eq!(l.stream, Stream::Stdout);
        assert!(!l.partial);
        assert!(matches!(l.log, Cow::Borrowed(b"Simple text")));
        assert_eq!(parse_canonical(line), Some(l.clone()));
        assert_eq!(parse_general(line), Ok(l));

        // No trailing "\n": partial (Docker splits lines longer than 16 KiB).
        let l = log_of(
            b"{\"log\":\"hello from uat pod\",\"stream\":\"stderr\",\"time\":\"2019-04-01T17:58:33.598656444Z\"}\n",
        );
        assert!(l.partial);
        assert_eq!(l.stream, Stream::Stderr);
        assert!(matches!(l.log, Cow::Borrowed(b"hello from uat pod")));

        let l = log_of(br#"{"log":"\n","stream":"stdout","time":"2019-04-01T17:58:33Z"}"#);
        assert_eq!(&*l.log, b"");
        assert!(!l.partial);
    }

    #[test]
    fn unescapes() {
        let cases: [(&[u8], &[u8]); 8] = [
            (br#"say \"hi\"\n"#, br#"say "hi""#),
            (br#"back\\slash\n"#, br"back\slash"),
            (br#"two\nlines\n"#, b"two\nlines"),
            (br#"tab\there\n"#, b"tab\there"),
            (br#"caf\u00e9 \u00E9\n"#, "café é".as_bytes()),
            (br#"smile \ud83d\ude00!\n"#, "smile 😀!".as_bytes()),
            (br#"\/\b\f\r"#, b"/\x08\x0c\r"),
            (
                br#"lone \ud83d, \ude00 \ud83d\u0041"#,
                "lone \u{FFFD}, \u{FFFD} \u{FFFD}A".as_bytes(),
            ),
        ];
        for (raw, expected) in cases {
            let mut line = br#"{"log":""#.to_vec();
            line.extend_from_slice(raw);
            line.extend_from_slice(
                br#"","stream":"stdout","time":"2019-04-01T17:58:33.598656444Z"}"#,
            );
            let l = log_of(&line);
            assert_eq!(&*l.log, expected, "{}", String::from_utf8_lossy(raw));
            assert_eq!(l.partial, !raw.ends_with(br"\n"));
            assert!(matches!(l.log, Cow::Owned(_)));
            assert_eq!(parse_canonical(&line), Some(l));
        }
        // Escapes nested three levels deep (fluent-bit's "unescaping" fixture).
        let l = log_of(br#"{"log":"Text with embedded quoted \"text with embedded quoted \\\"text\\\"\"\n","stream":"stdout","time":"2019-04-01T17:58:33.598656444Z"}"#);
        assert_eq!(
            &*l.log,
            br#"Text with embedded quoted "text with embedded quoted \"text\"""#
        );
        // A `\\n` (escaped backslash then `n`) is not a trailing newline.
        let l =
            log_of(br#"{"log":"ends with \\n","stream":"stdout","time":"2019-04-01T17:58:33Z"}"#);
        assert_eq!(&*l.log, br"ends with \n");
        assert!(l.partial);
    }

    #[test]
    fn key_order_and_extra_keys() {
        let lines: [&[u8]; 6] = [
            br#"{"time":"2019-04-01T17:58:33.598656444Z","log":"x\n","stream":"stderr"}"#,
            br#"{"stream":"stderr","log":"x\n","time":"2019-04-01T17:58:33.598656444Z"}"#,
            br#"{"log":"x\n","stream":"stderr","attrs":{"tag":"a","n":[1,-2.5e3,true,null,{}]},"time":"2019-04-01T17:58:33.598656444Z"}"#,
            br#" { "log" : "x\n" , "stream" : "stderr" , "time" : "2019-04-01T17:58:33.598656444Z" } "#,
            br#"{"log":"x\n","stream":"stderr","time":"2019-04-01T18:58:33.598656444+01:00"}"#,
            br#"{"l\u006fg":"x\n","stream":"stderr","time":"2019-04-01T17:58:33.598656444Z","extra":"\"}"}"#,
        ];
        for line in lines {
            let l = log_of(line);
            assert_eq!(
                (l.timestamp_unix_nanos, l.stream, l.partial),
                (T, Stream::Stderr, false)
            );
            assert_eq!(&*l.log, b"x");
            assert!(
                matches!(l.log, Cow::Borrowed(_)),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn joins_partial_lines() {
        // fluent-bit "dockermode_splitted_line": fragments without "\n" are joined with the next.
        let lines: [&[u8]; 6] = [
            br#"{"log":"2020-03-24 Single ","stream":"stdout","time":"2020-03-24T10:00:00.000000001Z"}"#,
            br#"{"log":"li","stream":"stdout","time":"2020-03-24T10:00:00.000000002Z"}"#,
            br#"{"log":"ne\n","stream":"stdout","time":"2020-03-24T10:00:00.000000003Z"}"#,
            br#"{"log":"2020-03-24 Another ","stream":"stdout","time":"2020-03-24T10:00:00.000000004Z"}"#,
            br#"{"log":"single ","stream":"stdout","time":"2020-03-24T10:00:00.000000005Z"}"#,
            br#"{"log":"line\n","stream":"stdout","time":"2020-03-24T10:00:00.000000006Z"}"#,
        ];
        let mut joiner = PartialJoiner::new(16 * 1024);
        let mut out = Vec::new();
        for line in lines {
            let l = log_of(line);
            if let Some(j) = joiner.push(&l.log, l.partial) {
                out.push(String::from_utf8(j.text.into_owned()).unwrap());
            }
        }
        assert_eq!(
            out,
            ["2020-03-24 Single line", "2020-03-24 Another single line"]
        );
        assert!(!joiner.has_pending());
    }

    #[test]
    fn passes_invalid_utf8_through() {
        let l = log_of(b"{\"log\":\"bad \xff\xfe\xc3\\n\",\"stream\":\"stdout\",\"time\":\"2019-04-01T17:58:33Z\"}");
        assert_eq!(&*l.log, b"bad \xff\xfe\xc3");
        let l = log_of(
            b"{\"log\":\"bad \xff\\t\\n\",\"stream\":\"stdout\",\"time\":\"2019-04-01T17:58:33Z\"}",
        );
        assert_eq!(&*l.log, b"bad \xff\t");
    }

    #[test]
    fn rejects_invalid_lines() {
        use FormatError::*;
        let full = br#"{"log":"a\tb\n","stream":"stdout","attrs":{"k":[1,2]},"time":"2019-04-01T17:58:33.598656444Z"}"#;
        // Every strict prefix is a truncated line.
        for n in 0..full.len() {
            let err = parse_docker(&full[..n]).unwrap_err();
            assert!(
                matches!(err, TruncatedJson | Empty),
                "{n}: {err} for {}",
                String::from_utf8_lossy(&full[..n])
            );
        }
        let cases: [(&[u8], FormatError); 14] = [
            (b"", Empty),
            (b"   \n", Empty),
            (
                b"plain text",
                InvalidJson {
                    offset: 0,
                    reason: "expected '{'",
                },
            ),
            (
                b"[1]",
                InvalidJson {
                    offset: 0,
                    reason: "expected '{'",
                },
            ),
            (b"{}", MissingField("log")),
            (br#"{"log":"x\n","stream":"stdout"}"#, MissingField("time")),
            (
                br#"{"log":"x\n","time":"2019-04-01T17:58:33Z"}"#,
                MissingField("stream"),
            ),
            (
                br#"{"stream":"stdout","time":"2019-04-01T17:58:33Z"}"#,
                MissingField("log"),
            ),
            (
                br#"{"log":"x","stream":"stdin","time":"2019-04-01T17:58:33Z"}"#,
                InvalidStream,
            ),
            (
                br#"{"log":"x","stream":"stdout","time":"yesterday"}"#,
                InvalidTimestamp("Docker"),
            ),
            (
                br#"{"log":1,"stream":"stdout","time":"2019-04-01T17:58:33Z"}"#,
                InvalidJson {
                    offset: 7,
                    reason: "expected a string value",
                },
            ),
            (
                br#"{"log":"\x","stream":"stdout","time":"2019-04-01T17:58:33Z"}"#,
                InvalidJson {
                    offset: 8,
                    reason: "invalid escape",
                },
            ),
            (
                br#"{"log":"x"}{"#,
                InvalidJson {
                    offset: 11,
                    reason: "trailing characters after the object",
                },
            ),
            (
                br#"{"log":"x","a":tru,"stream":"stdout"}"#,
                InvalidJson {
                    offset: 15,
                    reason: "invalid literal",
                },
            ),
        ];
        for (line, err) in cases {
            assert_eq!(
                parse_docker(line),
                Err(err),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        for bad in [
            &br#"{"log":"x","a":01,"stream":"stdout","time":"2019-04-01T17:58:33Z"}"#[..],
            br#"{"log":"x","a":1.,"stream":"stdout","time":"2019-04-01T17:58:33Z"}"#,
            br#"{"log":"x","a":[1,],"stream":"stdout","time":"2019-04-01T17:58:33Z"}"#,
            br#"{"log":"x",,"stream":"stdout","time":"2019-04-01T17:58:33Z"}"#,
            br#"{"log":"\u12g4","stream":"stdout","time":"2019-04-01T17:58:33Z"}"#,
            b"{\"log\":\"x\",\"stream\":\"stdout\",\"time\":\"2019-04-01T17:58:33Z\"}\x00",
        ] {
            assert!(
                matches!(parse_docker(bad), Err(InvalidJson { .. })),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = format!(
            r#"{{"log":"x","a":{}{},"stream":"stdout","time":"2019-04-01T17:58:33Z"}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(matches!(
            parse_docker(deep.as_bytes()),
            Err(InvalidJson {
                reason: "nesting too deep",
                ..
            })
        ));
    }

    /// JSON-encodes `s` with every non-ASCII character as `\uXXXX` (surrogate pairs beyond
    /// the BMP), as some writers do.
    fn ascii_json_string(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
                c => {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{u:04x}"));
                    }
                }
            }
        }
        out.push('"');
        out
    }

    fn check_round_trip(encoded_log: &str, s: &str, order: u8) -> Result<(), TestCaseError> {
        let time = r#""time":"2019-04-01T17:58:33.598656444Z""#;
        let log = format!(r#""log":{encoded_log}"#);
        let stream = r#""stream":"stdout""#;
        let line = match order % 4 {
            0 => format!("{{{log},{stream},{time}}}"),
            1 => format!("{{{time},{stream},{log}}}"),
            2 => format!(r#"{{{log},{stream},"attrs":{{"k":"v"}},{time}}}"#),
            _ => format!("{{{stream},{log},{time}}}\n"),
        };
        let l = parse_docker(line.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&*l.log, s.strip_suffix('\n').unwrap_or(s).as_bytes());
        prop_assert_eq!(l.partial, !s.ends_with('\n'));
        prop_assert_eq!(l.timestamp_unix_nanos, T);
        Ok(())
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_docker(&bytes);
        }

        #[test]
        fn never_panics_on_mutated_lines(pos in 0usize..120, byte in any::<u8>(), cut in 0usize..120) {
            let mut line = br#"{"log":"a\"\u00e9\ud83d\ude00\n","stream":"stdout","attrs":{"a":[1,{"b":null}]},"time":"2019-04-01T17:58:33Z"}"#.to_vec();
            let pos = pos % line.len();
            line[pos] = byte;
            line.truncate(line.len() - cut.min(line.len()));
            let _ = parse_docker(&line);
        }

        #[test]
        fn serde_json_strings_round_trip(s in any::<String>(), nl in any::<bool>(), order in 0u8..4) {
            let s = if nl { s + "\n" } else { s };
            check_round_trip(&serde_json::to_string(&s).unwrap(), &s, order)?;
        }

        #[test]
        fn ascii_escaped_strings_round_trip(s in any::<String>(), nl in any::<bool>(), order in 0u8..4) {
            let s = if nl { s + "\n" } else { s };
            check_round_trip(&ascii_json_string(&s), &s, order)?;
        }

        #[test]
        fn fast_path_agrees_with_general(s in any::<String>(), nl in any::<bool>(), err in any::<bool>()) {
            let line = format!(
                r#"{{"log":{},"stream":"{}","time":"2019-04-01T17:58:33.598656444Z"}}"#,
                serde_json::to_string(&(s + if nl { "\n" } else { "" })).unwrap(),
                if err { "stderr" } else { "stdout" },
            );
            let fast = parse_canonical(line.as_bytes());
            prop_assert!(fast.is_some());
            prop_assert_eq!(fast.map(Ok), Some(parse_general(line.as_bytes())));
        }
    }
}
