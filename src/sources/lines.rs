//! Newline framing over a growing read buffer, shared by sources that read byte streams
//! (stdin, files).
//!
//! Lines are zero-copy slices of the read buffer: each read's complete lines are split off
//! as one frozen [`Bytes`] and handed out as sub-slices. A line longer than `max_line_bytes`
//! is cut: its first `max_line_bytes` bytes come out flagged `truncated` and the rest is
//! skipped up to the next newline without being buffered, so memory stays bounded whatever
//! the input.

use bytes::{Bytes, BytesMut};

/// One line without its `\n` (and without a `\r` before it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub bytes: Bytes,
    /// The line was longer than the limit and was cut.
    pub truncated: bool,
    /// Stream offset of the line's first byte.
    pub offset: u64,
    /// Stream offset just past the line's newline (where reading resumes after it).
    pub end_offset: u64,
}

/// Splits a byte stream into lines.
#[derive(Debug)]
pub struct LineSplitter {
    buf: BytesMut,
    max_line_bytes: usize,
    /// Skipping the rest of an over-long line.
    discarding: bool,
    /// Stream offset of `buf[0]`.
    offset: u64,
}

impl LineSplitter {
    pub fn new(max_line_bytes: usize, start_offset: u64) -> LineSplitter {
        LineSplitter {
            buf: BytesMut::new(),
            max_line_bytes: max_line_bytes.max(1),
            discarding: false,
            offset: start_offset,
        }
    }

    /// The buffer to read into (reserve before reading).
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Bytes held that do not yet form a complete line.
    pub fn pending_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Stream offset up to which every byte has been consumed into lines.
    pub fn consumed_offset(&self) -> u64 {
        self.offset
    }

    /// Moves every complete line out of the buffer into `out`.
    pub fn drain_lines(&mut self, out: &mut Vec<Line>) {
        loop {
            if self.discarding {
                match memchr::memchr(b'\n', &self.buf) {
                    Some(nl) => {
                        let _ = self.buf.split_to(nl + 1);
                        self.offset += (nl + 1) as u64;
                        self.discarding = false;
                    }
                    None => {
                        self.offset += self.buf.len() as u64;
                        self.buf.clear();
                        return;
                    }
                }
            }
            let Some(last_nl) = memchr::memrchr(b'\n', &self.buf) else {
                if self.buf.len() >= self.max_line_bytes {
                    let cut = self.buf.split_to(self.max_line_bytes).freeze();
                    let start = self.offset;
                    self.offset += cut.len() as u64;
                    out.push(Line {
                        bytes: cut,
                        truncated: true,
                        offset: start,
                        end_offset: self.offset,
                    });
                    self.discarding = true;
                    continue;
                }
                return;
            };
            let chunk = self.buf.split_to(last_nl + 1).freeze();
            let base = self.offset;
            self.offset += chunk.len() as u64;
            let mut start = 0;
            for nl in memchr::memchr_iter(b'\n', &chunk) {
                let mut end = nl;
                if end > start && chunk[end - 1] == b'\r' {
                    end -= 1;
                }
                let truncated = end - start > self.max_line_bytes;
                let end = if truncated {
                    start + self.max_line_bytes
                } else {
                    end
                };
                out.push(Line {
                    bytes: chunk.slice(start..end),
                    truncated,
                    offset: base + start as u64,
                    end_offset: base + nl as u64 + 1,
                });
                start = nl + 1;
            }
            // Whatever follows the last newline stays for the next read.
            if self.buf.len() >= self.max_line_bytes {
                continue;
            }
            return;
        }
    }

    /// At the end of the stream: the unterminated remainder as a last line.
    pub fn finish(&mut self) -> Option<Line> {
        if self.discarding || self.buf.is_empty() {
            self.offset += self.buf.len() as u64;
            self.buf.clear();
            self.discarding = false;
            return None;
        }
        let mut bytes = self.buf.split().freeze();
        let start = self.offset;
        self.offset += bytes.len() as u64;
        if bytes.last() == Some(&b'\r') {
            bytes.truncate(bytes.len() - 1);
        }
        Some(Line {
            bytes,
            truncated: false,
            offset: start,
            end_offset: self.offset,
        })
    }
}

/// The line as UTF-8 text: borrowed as is when valid, otherwise with invalid sequences
/// replaced by U+FFFD. The flag says whether a replacement happened.
pub fn to_utf8(bytes: Bytes) -> (Bytes, bool) {
    // simdutf8's validation is several times faster than the standard library's on the
    // mostly-ASCII text of logs (callgrind: 6% of a stdin → parse_json run went to
    // `core::str::from_utf8`).
    match simdutf8::basic::from_utf8(&bytes) {
        Ok(_) => (bytes, false),
        Err(_) => (
            Bytes::from(String::from_utf8_lossy(&bytes).into_owned()),
            true,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(splitter: &mut LineSplitter, data: &[u8]) -> Vec<Line> {
        splitter.buffer_mut().extend_from_slice(data);
        let mut out = Vec::new();
        splitter.drain_lines(&mut out);
        out
    }

    #[test]
    fn splits_lines_across_reads_with_offsets() {
        let mut s = LineSplitter::new(100, 10);
        let a = feed(&mut s, b"one\r\ntw");
        assert_eq!(a.len(), 1);
        assert_eq!(&a[0].bytes[..], b"one");
        assert_eq!((a[0].offset, a[0].end_offset), (10, 15));
        let b = feed(&mut s, b"o\n\nthree");
        assert_eq!(b.len(), 2);
        assert_eq!(&b[0].bytes[..], b"two");
        assert_eq!(&b[1].bytes[..], b"");
        assert_eq!(b[0].offset, 15);
        let last = s.finish().unwrap();
        assert_eq!(&last.bytes[..], b"three");
        assert_eq!(last.end_offset, 10 + 15);
    }

    #[test]
    fn cuts_long_lines_and_skips_their_rest_without_buffering() {
        let mut s = LineSplitter::new(4, 0);
        let a = feed(&mut s, b"abcdefgh");
        assert_eq!(a.len(), 1);
        assert!(a[0].truncated);
        assert_eq!(&a[0].bytes[..], b"abcd");
        assert_eq!(s.pending_bytes(), 0);
        let b = feed(&mut s, &vec![b'x'; 10_000]);
        assert!(b.is_empty());
        assert_eq!(s.pending_bytes(), 0);
        let c = feed(&mut s, b"yy\nok\nlonger-line\n");
        assert_eq!(c.len(), 2);
        assert_eq!(&c[0].bytes[..], b"ok");
        assert!(c[1].truncated);
        assert_eq!(&c[1].bytes[..], b"long");
        assert_eq!(s.consumed_offset(), 8 + 10_000 + 3 + 3 + 12);
    }

    #[test]
    fn replaces_invalid_utf8() {
        let (b, bad) = to_utf8(Bytes::from_static(b"ok \xff end"));
        assert!(bad);
        assert_eq!(&b[..], "ok \u{fffd} end".as_bytes());
        let (b, bad) = to_utf8(Bytes::from_static("élan".as_bytes()));
        assert!(!bad);
        assert_eq!(&b[..], "élan".as_bytes());
    }
}
