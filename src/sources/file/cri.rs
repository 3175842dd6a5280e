//! CRI log line decoder (containerd, CRI-O; the kubelet's `/var/log/pods` files).
//!
//! A line is `<RFC3339Nano timestamp> <stdout|stderr> <tag> <text>`. The tag is `F` (full:
//! the text ends a line) or `P` (partial: the runtime split a long line and the text continues
//! in the next `P`/`F` line of the same stream); only its first character is read, so future
//! tags such as `F:x` are accepted. The text is everything after the tag's separating space,
//! unmodified, and may be empty. Owns only the decoding of one line: joining `P` fragments is
//! `partial.rs`'s job. No allocation; errors never panic on arbitrary bytes.

use memchr::memchr;

pub use super::format::{FormatError, Stream};

/// One decoded CRI line, borrowing its text from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CriLine<'a> {
    /// The runtime's timestamp, nanoseconds since the Unix epoch (UTC).
    pub timestamp_unix_nanos: i64,
    pub stream: Stream,
    /// Tag `P`: the text continues in the next line of this stream.
    pub partial: bool,
    /// The log text, without the line terminator.
    pub text: &'a [u8],
}

/// Decodes one CRI line. `line` should not include its `\n` terminator; one trailing `\n` is
/// tolerated and removed (CRI text never contains a newline).
pub fn parse_cri(line: &[u8]) -> Result<CriLine<'_>, FormatError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    if line.is_empty() {
        return Err(FormatError::Empty);
    }
    let ts_end = memchr(b' ', line);
    let timestamp_unix_nanos = crate::time::parse_rfc3339(&line[..ts_end.unwrap_or(line.len())])
        .ok_or(FormatError::InvalidTimestamp("CRI"))?;
    let rest = match ts_end {
        Some(i) => &line[i + 1..],
        None => return Err(FormatError::MissingField("stream")),
    };
    // Both stream names are 6 bytes long.
    let stream = rest
        .get(..6)
        .and_then(Stream::from_bytes)
        .ok_or(if rest.is_empty() {
            FormatError::MissingField("stream")
        } else {
            FormatError::InvalidStream
        })?;
    let tag_and_text = match rest.get(6) {
        Some(b' ') => &rest[7..],
        Some(_) => return Err(FormatError::InvalidStream),
        None => return Err(FormatError::MissingField("tag")),
    };
    let (tag, text) = match memchr(b' ', tag_and_text) {
        Some(i) => (&tag_and_text[..i], &tag_and_text[i + 1..]),
        None => (tag_and_text, &b""[..]),
    };
    let partial = match tag.first() {
        Some(b'P') => true,
        Some(b'F') => false,
        Some(_) => return Err(FormatError::InvalidTag),
        None if tag_and_text.is_empty() => return Err(FormatError::MissingField("tag")),
        None => return Err(FormatError::InvalidTag),
    };
    Ok(CriLine {
        timestamp_unix_nanos,
        stream,
        partial,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::super::partial::PartialJoiner;
    use super::*;
    use crate::time::parse_rfc3339;

    fn ts(s: &str) -> i64 {
        parse_rfc3339(s.as_bytes()).unwrap()
    }

    #[test]
    fn parses_fraction_digit_variants() {
        // containerd's RFC3339Nano drops trailing zeros: 9, 8, 6 or no fraction digits.
        let cases: [(&[u8], i64, &[u8]); 5] = [
            (
                b"2020-08-19T21:06:24.337499838Z stderr F hdfsExists: invokeMethod error:",
                1_597_871_184_337_499_838,
                b"hdfsExists: invokeMethod error:",
            ),
            (
                b"2020-08-19T21:06:24.33754077Z stderr F org.apache.hadoop.ipc.RemoteException",
                1_597_871_184_337_540_770,
                b"org.apache.hadoop.ipc.RemoteException",
            ),
            (
                b"2020-08-19T21:06:24.337544Z stdout F \tat org.apache.Client.call(Client.java:1475)",
                1_597_871_184_337_544_000,
                b"\tat org.apache.Client.call(Client.java:1475)",
            ),
            (
                b"2020-08-19T21:06:24Z stdout F no fraction",
                1_597_871_184_000_000_000,
                b"no fraction",
            ),
            (
                b"2020-08-19T21:06:24.5Z stdout F  leading space kept",
                1_597_871_184_500_000_000,
                b" leading space kept",
            ),
        ];
        for (line, nanos, text) in cases {
            let l = parse_cri(line).unwrap();
            assert_eq!(l.timestamp_unix_nanos, nanos);
            assert_eq!(l.text, text);
            assert!(!l.partial);
        }
        assert_eq!(
            parse_cri(cases[0].0).unwrap().stream,
            Stream::Stderr,
            "stream"
        );
        assert_eq!(parse_cri(cases[2].0).unwrap().stream, Stream::Stdout);
    }

    #[test]
    fn parses_offsets() {
        let l = parse_cri(b"2026-11-24T11:00:00.123456789+01:00 stdout F hi").unwrap();
        assert_eq!(l.timestamp_unix_nanos, ts("2026-11-24T10:00:00.123456789Z"));
        let l = parse_cri(b"2026-11-24T08:30:00-01:30 stderr F hi").unwrap();
        assert_eq!(l.timestamp_unix_nanos, ts("2026-11-24T10:00:00Z"));
    }

    #[test]
    fn tags_text_and_terminators() {
        let l = parse_cri(b"2026-11-24T10:00:00.1Z stdout P first half ").unwrap();
        assert!(l.partial);
        assert_eq!(l.text, b"first half ");
        // Future tags carry more than P/F: only the first character counts.
        let l = parse_cri(b"2026-11-24T10:00:00Z stdout F:x text").unwrap();
        assert!(!l.partial);
        assert_eq!(l.text, b"text");
        // Empty text, with or without the separating space, and one trailing newline.
        for line in [
            &b"2026-11-24T10:00:00Z stdout F "[..],
            b"2026-11-24T10:00:00Z stdout F",
            b"2026-11-24T10:00:00Z stdout F\n",
            b"2026-11-24T10:00:00Z stdout F \n",
        ] {
            assert_eq!(parse_cri(line).unwrap().text, b"", "{line:?}");
        }
        // Non-UTF-8 text is passed through.
        let l = parse_cri(b"2026-11-24T10:00:00Z stderr F \xff\xfe bytes\r").unwrap();
        assert_eq!(l.text, b"\xff\xfe bytes\r");
    }

    #[test]
    fn joins_partial_lines() {
        let lines: [&[u8]; 5] = [
            b"2026-11-24T10:00:00.000000001Z stdout P aaa",
            b"2026-11-24T10:00:00.000000002Z stdout P bbb",
            b"2026-11-24T10:00:00.000000003Z stdout F ccc",
            b"2026-11-24T10:00:00.000000004Z stdout F single",
            b"2026-11-24T10:00:00.000000005Z stdout P tail",
        ];
        let mut joiner = PartialJoiner::new(1024);
        let mut out = Vec::new();
        for line in lines {
            let l = parse_cri(line).unwrap();
            if let Some(j) = joiner.push(l.text, l.partial) {
                out.push((j.text.into_owned(), j.fragments));
            }
        }
        assert_eq!(
            out,
            vec![(b"aaabbbccc".to_vec(), 3), (b"single".to_vec(), 1)]
        );
        assert!(joiner.has_pending());
        assert_eq!(&*joiner.take_pending().unwrap().text, b"tail");
    }

    #[test]
    fn rejects_malformed_lines() {
        use FormatError::*;
        let cases: [(&[u8], FormatError); 13] = [
            (b"", Empty),
            (b"\n", Empty),
            (b"2026-11-24T10:00:00Z", MissingField("stream")),
            (b"2026-11-24T10:00:00Z ", MissingField("stream")),
            (b"2026-11-24T10:00:00Z stdout", MissingField("tag")),
            (b"2026-11-24T10:00:00Z stdout ", MissingField("tag")),
            (b"2026-11-24T10:00:00Z stdout  text", InvalidTag),
            (b"2026-11-24T10:00:00Z stdout X text", InvalidTag),
            (b"2026-11-24T10:00:00Z stdin F text", InvalidStream),
            (b"2026-11-24T10:00:00Z stdoutF text", InvalidStream),
            (
                b"2026-11-24 10:00:00Z stdout F text",
                InvalidTimestamp("CRI"),
            ),
            (
                b"2026-13-24T10:00:00Z stdout F text",
                InvalidTimestamp("CRI"),
            ),
            (b"\xff\xfe\x00garbage \x80 F", InvalidTimestamp("CRI")),
        ];
        for (line, err) in cases {
            assert_eq!(
                parse_cri(line),
                Err(err),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
        // Docker lines are not CRI lines.
        assert!(
            parse_cri(br#"{"log":"x\n","stream":"stdout","time":"2026-11-24T10:00:00Z"}"#).is_err()
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse_cri(&bytes);
        }

        #[test]
        fn never_panics_near_valid(tail in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
                                   cut in 0usize..40) {
            let mut line = b"2026-11-24T10:00:00.123Z stdout F "[..cut.min(34)].to_vec();
            line.extend_from_slice(&tail);
            let _ = parse_cri(&line);
        }

        #[test]
        fn round_trips_text(text in proptest::collection::vec(proptest::num::u8::ANY, 0..100),
                            partial in proptest::bool::ANY) {
            proptest::prop_assume!(!text.contains(&b'\n'));
            let mut line = b"2026-11-24T10:00:00.123456789Z stderr ".to_vec();
            line.push(if partial { b'P' } else { b'F' });
            line.push(b' ');
            line.extend_from_slice(&text);
            let l = parse_cri(&line).unwrap();
            proptest::prop_assert_eq!(l.text, &text[..]);
            proptest::prop_assert_eq!(l.partial, partial);
            proptest::prop_assert_eq!(l.stream, Stream::Stderr);
        }
    }
}
