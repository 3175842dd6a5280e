//! TCP stream framing for the syslog and plain-TCP sources.
//!
//! This module owns splitting a byte stream into frames (one log message
//! each) as `tokio_util::codec::Decoder`s; it does not interpret the frame
//! contents (see `parser.rs` for that).
//!
//! * [`SyslogFrameDecoder`]: RFC 6587 syslog over TCP. Each frame is
//!   auto-detected as octet counting (`LEN SP MSG`, LEN a decimal number
//!   without leading zero) or non-transparent LF framing; both may be mixed
//!   on one connection.
//! * [`LineFrameDecoder`]: plain LF-delimited lines.
//!
//! Shared semantics: a trailing `\r` before `\n` is stripped and empty lines
//! are skipped. A frame longer than `max_frame_bytes` is cut: its first
//! `max_frame_bytes` bytes are emitted with `truncated = true` and the rest
//! (up to the next LF, or the remaining declared octets) is discarded as it
//! arrives, so retained memory stays around `max_frame_bytes` whatever the
//! peer sends. Frames are zero-copy `Bytes` split off the read buffer.
//! Octet-counted frames are emitted verbatim (no `\r`/`\n` stripping).

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::Decoder;

/// Octet counts with more digits than this are not treated as octet counting.
const MAX_OCTET_COUNT_DIGITS: usize = 10;
/// Octet counts above this are considered framing garbage (the frame is then
/// read as an LF-terminated line) rather than a huge message to skip.
const MAX_OCTET_COUNT: u64 = 1 << 30;

/// One framed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub bytes: Bytes,
    /// The message was longer than `max_frame_bytes` (or, at end of stream,
    /// shorter than its declared octet count) and was cut.
    pub truncated: bool,
}

impl Frame {
    fn new(bytes: BytesMut, truncated: bool) -> Self {
        Frame {
            bytes: bytes.freeze(),
            truncated,
        }
    }
}

/// Outcome of one step of the line framer.
enum LineStep {
    Frame(Frame),
    /// An empty line or the discarded tail of a cut line ended; no frame.
    Skipped,
    NeedMore,
}

/// LF-delimited framing state shared by both decoders.
#[derive(Debug, Clone)]
struct LineFramer {
    max: usize,
    /// Bytes at the front of the buffer already known to contain no LF.
    scanned: usize,
    /// Dropping the tail of a cut line until the next LF.
    discarding: bool,
}

impl LineFramer {
    fn new(max: usize) -> Self {
        LineFramer {
            max,
            scanned: 0,
            discarding: false,
        }
    }

    fn reset(&mut self) {
        self.scanned = 0;
        self.discarding = false;
    }

    fn step(&mut self, buf: &mut BytesMut) -> LineStep {
        if self.discarding {
            return match memchr::memchr(b'\n', buf) {
                Some(nl) => {
                    buf.advance(nl + 1);
                    self.reset();
                    LineStep::Skipped
                }
                None => {
                    buf.clear();
                    LineStep::NeedMore
                }
            };
        }
        let start = self.scanned.min(buf.len());
        let Some(off) = memchr::memchr(b'\n', &buf[start..]) else {
            let len = buf.len();
            // Allow one extra byte for a `\r` that may precede the LF.
            if len > self.max && !(len - 1 == self.max && buf[len - 1] == b'\r') {
                let frame = buf.split_to(self.max);
                buf.clear();
                self.scanned = 0;
                self.discarding = true;
                return LineStep::Frame(Frame::new(frame, true));
            }
            self.scanned = len;
            return LineStep::NeedMore;
        };
        let nl = start + off;
        self.scanned = 0;
        let content_len = if nl > 0 && buf[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        if content_len == 0 {
            buf.advance(nl + 1);
            return LineStep::Skipped;
        }
        if content_len > self.max {
            let frame = buf.split_to(self.max);
            buf.advance(nl + 1 - self.max);
            return LineStep::Frame(Frame::new(frame, true));
        }
        let mut line = buf.split_to(nl + 1);
        line.truncate(content_len);
        LineStep::Frame(Frame::new(line, false))
    }

    /// End of stream: the rest of the buffer (if any) is a final unterminated line.
    fn finish(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        let discarding = self.discarding;
        self.reset();
        if discarding {
            buf.clear();
            return None;
        }
        let mut len = buf.len();
        if buf.last() == Some(&b'\r') {
            len -= 1;
        }
        let frame = (len > 0).then(|| {
            let truncated = len > self.max;
            Frame::new(buf.split_to(len.min(self.max)), truncated)
        });
        buf.clear();
        frame
    }
}

/// Syslog over TCP: per message auto-detect RFC 6587 octet counting
/// (`LEN SP MSG`, LEN = nonzero digits) or newline (LF) delimited; both may
/// be mixed on one connection.
#[derive(Debug, Clone)]
pub struct SyslogFrameDecoder {
    max_frame_bytes: usize,
    mode: Mode,
    line: LineFramer,
    truncated_frames: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// At a frame boundary; framing of the next frame not yet known.
    Idle,
    /// Inside an LF-delimited frame (state in `line`).
    Line,
    /// Reading an octet-counted frame of `remaining` bytes (header consumed).
    Octet { remaining: usize },
    /// Skipping the rest of an oversized octet-counted frame.
    OctetDiscard { remaining: usize },
}

enum OctetHeader {
    Incomplete,
    NotOctetCounted,
    Len { len: usize, header_len: usize },
}

fn scan_octet_header(buf: &[u8]) -> OctetHeader {
    let mut len: u64 = 0;
    for (i, &b) in buf.iter().enumerate() {
        match b {
            b'0'..=b'9' if i < MAX_OCTET_COUNT_DIGITS => len = len * 10 + u64::from(b - b'0'),
            b' ' if i > 0 && len <= MAX_OCTET_COUNT => {
                return match usize::try_from(len) {
                    Ok(len) => OctetHeader::Len {
                        len,
                        header_len: i + 1,
                    },
                    Err(_) => OctetHeader::NotOctetCounted,
                };
            }
            _ => return OctetHeader::NotOctetCounted,
        }
    }
    OctetHeader::Incomplete
}

impl SyslogFrameDecoder {
    /// `max_frame_bytes` is clamped to at least 1.
    pub fn new(max_frame_bytes: usize) -> Self {
        let max_frame_bytes = max_frame_bytes.max(1);
        SyslogFrameDecoder {
            max_frame_bytes,
            mode: Mode::Idle,
            line: LineFramer::new(max_frame_bytes),
            truncated_frames: 0,
        }
    }

    /// Number of frames emitted with `truncated = true` so far.
    pub fn truncated_frames(&self) -> u64 {
        self.truncated_frames
    }

    fn emit(&mut self, frame: Frame) -> Option<Frame> {
        self.truncated_frames += u64::from(frame.truncated);
        Some(frame)
    }
}

impl Decoder for SyslogFrameDecoder {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, Self::Error> {
        loop {
            match self.mode {
                Mode::Idle => match buf.first() {
                    None => return Ok(None),
                    // Blank line between frames (e.g. an LF after an octet-counted frame).
                    Some(b'\n') => buf.advance(1),
                    Some(b'1'..=b'9') => match scan_octet_header(buf) {
                        OctetHeader::Incomplete => return Ok(None),
                        OctetHeader::NotOctetCounted => self.mode = Mode::Line,
                        OctetHeader::Len { len, header_len } => {
                            buf.advance(header_len);
                            self.mode = Mode::Octet { remaining: len };
                        }
                    },
                    Some(_) => self.mode = Mode::Line,
                },
                Mode::Line => match self.line.step(buf) {
                    LineStep::Frame(frame) => {
                        // A cut line stays in line mode until its LF is seen.
                        if !self.line.discarding {
                            self.mode = Mode::Idle;
                        }
                        return Ok(self.emit(frame));
                    }
                    LineStep::Skipped => self.mode = Mode::Idle,
                    LineStep::NeedMore => return Ok(None),
                },
                Mode::Octet { remaining } if remaining <= self.max_frame_bytes => {
                    if buf.len() < remaining {
                        return Ok(None);
                    }
                    self.mode = Mode::Idle;
                    return Ok(self.emit(Frame::new(buf.split_to(remaining), false)));
                }
                Mode::Octet { remaining } => {
                    let max = self.max_frame_bytes;
                    if buf.len() < max {
                        return Ok(None);
                    }
                    self.mode = Mode::OctetDiscard {
                        remaining: remaining - max,
                    };
                    return Ok(self.emit(Frame::new(buf.split_to(max), true)));
                }
                Mode::OctetDiscard { remaining } => {
                    let n = remaining.min(buf.len());
                    buf.advance(n);
                    if n == remaining {
                        self.mode = Mode::Idle;
                    } else {
                        self.mode = Mode::OctetDiscard {
                            remaining: remaining - n,
                        };
                        return Ok(None);
                    }
                }
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, Self::Error> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        let frame = match self.mode {
            // Only an incomplete octet-count header can be left: it is a line.
            Mode::Idle | Mode::Line => self.line.finish(buf),
            // Stream ended before the declared length.
            Mode::Octet { .. } if !buf.is_empty() => {
                Some(Frame::new(buf.split_to(buf.len()), true))
            }
            Mode::Octet { .. } | Mode::OctetDiscard { .. } => None,
        };
        buf.clear();
        self.mode = Mode::Idle;
        self.line.reset();
        Ok(frame.and_then(|f| self.emit(f)))
    }
}

/// Newline-delimited lines for the plain TCP source; strips trailing `\r`.
#[derive(Debug, Clone)]
pub struct LineFrameDecoder {
    line: LineFramer,
    truncated_frames: u64,
}

impl LineFrameDecoder {
    /// `max_frame_bytes` is clamped to at least 1.
    pub fn new(max_frame_bytes: usize) -> Self {
        LineFrameDecoder {
            line: LineFramer::new(max_frame_bytes.max(1)),
            truncated_frames: 0,
        }
    }

    /// Number of frames emitted with `truncated = true` so far.
    pub fn truncated_frames(&self) -> u64 {
        self.truncated_frames
    }

    fn emit(&mut self, frame: Frame) -> Option<Frame> {
        self.truncated_frames += u64::from(frame.truncated);
        Some(frame)
    }
}

impl Decoder for LineFrameDecoder {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, Self::Error> {
        loop {
            match self.line.step(buf) {
                LineStep::Frame(frame) => return Ok(self.emit(frame)),
                LineStep::Skipped => {}
                LineStep::NeedMore => return Ok(None),
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, Self::Error> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        let frame = self.line.finish(buf);
        Ok(frame.and_then(|f| self.emit(f)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in chunks of `chunk` bytes, then signals EOF, like
    /// `FramedRead` does. Checks the buffer is empty afterwards.
    pub(super) fn run<D: Decoder<Item = Frame, Error = std::io::Error>>(
        dec: &mut D,
        input: &[u8],
        chunk: usize,
    ) -> Vec<Frame> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            buf.extend_from_slice(piece);
            while let Some(f) = dec.decode(&mut buf).unwrap() {
                out.push(f);
            }
        }
        while let Some(f) = dec.decode_eof(&mut buf).unwrap() {
            out.push(f);
        }
        assert!(buf.is_empty(), "bytes left after EOF: {buf:?}");
        out
    }

    fn frames(out: &[Frame]) -> Vec<(&[u8], bool)> {
        out.iter().map(|f| (&f.bytes[..], f.truncated)).collect()
    }

    fn syslog(input: &[u8], max: usize, chunk: usize) -> Vec<Frame> {
        run(&mut SyslogFrameDecoder::new(max), input, chunk)
    }

    #[test]
    fn octet_counting() {
        let out = syslog(b"5 hello6 world!11 <13>1 - - x", 1024, 1024);
        assert_eq!(
            frames(&out),
            [
                (&b"hello"[..], false),
                (b"world!", false),
                (b"<13>1 - - x", false)
            ]
        );
    }

    #[test]
    fn octet_counting_is_verbatim() {
        let out = syslog(b"6 a\r\nb\n\n3 \n\n\n", 1024, 1024);
        assert_eq!(
            frames(&out),
            [(&b"a\r\nb\n\n"[..], false), (b"\n\n\n", false)]
        );
    }

    #[test]
    fn newline_and_crlf() {
        let out = syslog(b"<13>a\n<14>b\r\n\n\r\n\n<15>c\r\n", 1024, 1024);
        assert_eq!(
            frames(&out),
            [(&b"<13>a"[..], false), (b"<14>b", false), (b"<15>c", false)]
        );
        // Only the final CR is stripped.
        let out = syslog(b"a\rb\r\r\n", 1024, 1024);
        assert_eq!(frames(&out), [(&b"a\rb\r"[..], false)]);
    }

    #[test]
    fn mixed_framing_on_one_stream() {
        let input = b"<13>line one\n11 <13>octet!!\n<14>line two\r\n9 <15>no LF<16>eof";
        let expected = [
            (&b"<13>line one"[..], false),
            (b"<13>octet!!", false),
            (b"<14>line two", false),
            (b"<15>no LF", false),
            (b"<16>eof", false),
        ];
        for chunk in [1, 2, 3, 7, 1024] {
            assert_eq!(
                frames(&syslog(input, 1024, chunk)),
                expected,
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn byte_by_byte_equals_all_at_once() {
        let input: &[u8] =
            b"3 abc\n<1>x\r\n12345678901 not octet\n0 zero\n10 0123456789 lead\n\n5 hi\r\n";
        for max in [1, 4, 8, 1024] {
            assert_eq!(
                syslog(input, max, 1),
                syslog(input, max, input.len()),
                "max {max}"
            );
        }
    }

    #[test]
    fn digits_not_followed_by_space_are_lines() {
        let out = syslog(b"123abc\n0 zero\n12345678901 x\n", 1024, 1024);
        assert_eq!(
            frames(&out),
            [
                (&b"123abc"[..], false),
                (b"0 zero", false),
                (b"12345678901 x", false)
            ]
        );
    }

    #[test]
    fn absurd_octet_count_is_not_allocated() {
        let mut dec = SyslogFrameDecoder::new(16);
        let mut buf = BytesMut::from(&b"9999999999 abc\n1073741825 x\n"[..]);
        let f = dec.decode(&mut buf).unwrap().unwrap();
        assert_eq!((&f.bytes[..], f.truncated), (&b"9999999999 abc"[..], false));
        let f = dec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(&f.bytes[..], b"1073741825 x");
        assert!(buf.capacity() < 1024);
        // A large but plausible count is skipped, not buffered.
        let mut buf = BytesMut::from(&b"1073741824 abcdefghijklmnopqrstuvwxyz"[..]);
        let f = dec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(
            (&f.bytes[..], f.truncated),
            (&b"abcdefghijklmnop"[..], true)
        );
        assert!(dec.decode(&mut buf).unwrap().is_none());
        assert!(buf.is_empty());
        assert!(buf.capacity() < 1024);
    }

    #[test]
    fn oversized_newline_frame() {
        let out = syslog(b"abcdefghij\nxy\nabcde\nabcdef\r\nabcde\r\n", 5, 1024);
        assert_eq!(
            frames(&out),
            [
                (&b"abcde"[..], true),
                (b"xy", false),
                (b"abcde", false),
                (b"abcde", true),
                (b"abcde", false),
            ]
        );
        for chunk in [1, 2, 3, 6] {
            let again = syslog(b"abcdefghij\nxy\nabcde\nabcdef\r\nabcde\r\n", 5, chunk);
            assert_eq!(again, out, "chunk {chunk}");
        }
    }

    #[test]
    fn oversized_octet_frame() {
        let input = b"10 abcdefghij3 xyz5 abcde";
        for chunk in [1, 4, 1024] {
            let mut dec = SyslogFrameDecoder::new(5);
            let out = run(&mut dec, input, chunk);
            assert_eq!(
                frames(&out),
                [(&b"abcde"[..], true), (b"xyz", false), (b"abcde", false)]
            );
            assert_eq!(dec.truncated_frames(), 1);
        }
    }

    fn assert_bounded_stream(
        mut dec: impl Decoder<Item = Frame, Error = std::io::Error>,
        header: &[u8],
    ) {
        const MAX: usize = 4096;
        const CHUNK: usize = 64 * 1024;
        let mut buf = BytesMut::new();
        buf.extend_from_slice(header);
        let junk = vec![b'x'; CHUNK];
        let mut out = Vec::new();
        for _ in 0..(10 * 1024 * 1024 / CHUNK) {
            buf.extend_from_slice(&junk);
            while let Some(f) = dec.decode(&mut buf).unwrap() {
                out.push(f);
            }
            assert!(buf.len() <= MAX + 1, "retained {}", buf.len());
            assert!(
                buf.capacity() <= MAX + 2 * CHUNK,
                "capacity {}",
                buf.capacity()
            );
        }
        buf.extend_from_slice(b"\n<13>next\n");
        while let Some(f) = dec.decode(&mut buf).unwrap() {
            out.push(f);
        }
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].bytes.len(), MAX);
        assert!(out[0].truncated);
        assert_eq!(
            (&out[1].bytes[..], out[1].truncated),
            (&b"<13>next"[..], false)
        );
    }

    #[test]
    fn ten_mib_without_newline_stays_bounded() {
        assert_bounded_stream(SyslogFrameDecoder::new(4096), b"<13>");
        assert_bounded_stream(LineFrameDecoder::new(4096), b"");
    }

    #[test]
    fn ten_mib_octet_counted_stays_bounded() {
        // Declares exactly the 10 MiB that follow, then a normal line.
        let header = format!("{} ", 10 * 1024 * 1024);
        assert_bounded_stream(SyslogFrameDecoder::new(4096), header.as_bytes());
    }

    #[test]
    fn decode_eof_behaviour() {
        // Unterminated final line, with and without CR.
        let out = syslog(b"<13>a\n<13>tail", 1024, 1024);
        assert_eq!(frames(&out), [(&b"<13>a"[..], false), (b"<13>tail", false)]);
        assert_eq!(
            frames(&syslog(b"tail\r", 1024, 1024)),
            [(&b"tail"[..], false)]
        );
        assert!(syslog(b"\r", 1024, 1024).is_empty());
        assert!(syslog(b"", 1024, 1024).is_empty());
        // Incomplete octet-count header: a line.
        assert_eq!(frames(&syslog(b"123", 1024, 1024)), [(&b"123"[..], false)]);
        // Octet frame shorter than declared: emitted, flagged truncated.
        let mut dec = SyslogFrameDecoder::new(1024);
        let out = run(&mut dec, b"10 abc", 1024);
        assert_eq!(frames(&out), [(&b"abc"[..], true)]);
        assert_eq!(dec.truncated_frames(), 1);
        // Header only / discarding at EOF: nothing.
        assert!(syslog(b"10 ", 1024, 1024).is_empty());
        assert_eq!(
            frames(&syslog(b"abcdefgh", 4, 1024)),
            [(&b"abcd"[..], true)]
        );
        assert_eq!(frames(&syslog(b"abcd\r", 4, 1)), [(&b"abcd"[..], false)]);
        // decode_eof resets state for reuse.
        let mut dec = SyslogFrameDecoder::new(4);
        run(&mut dec, b"10 ab", 1024);
        assert_eq!(frames(&run(&mut dec, b"x\n", 1024)), [(&b"x"[..], false)]);
    }

    #[test]
    fn frames_are_zero_copy() {
        let mut buf = BytesMut::with_capacity(64);
        buf.extend_from_slice(b"<13>line\n5 octet");
        let base = buf.as_ptr() as usize;
        let mut dec = SyslogFrameDecoder::new(1024);
        let a = dec.decode(&mut buf).unwrap().unwrap();
        let b = dec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(a.bytes.as_ptr() as usize, base);
        assert_eq!(b.bytes.as_ptr() as usize, base + 11);
    }

    #[test]
    fn line_decoder() {
        let mut dec = LineFrameDecoder::new(4);
        let out = run(&mut dec, b"5 abc\r\n\n\r\nab\nabcdefg\nxyz", 1);
        assert_eq!(
            frames(&out),
            [
                (&b"5 ab"[..], true),
                (b"ab", false),
                (b"abcd", true),
                (b"xyz", false)
            ]
        );
        assert_eq!(dec.truncated_frames(), 2);
        let out = run(&mut LineFrameDecoder::new(1024), b"a\r\nb\nc", 1024);
        assert_eq!(
            frames(&out),
            [(&b"a"[..], false), (b"b", false), (b"c", false)]
        );
        // max 0 is clamped to 1.
        let out = run(&mut LineFrameDecoder::new(0), b"ab\n", 1024);
        assert_eq!(frames(&out), [(&b"a"[..], true)]);
    }

    #[tokio::test]
    async fn works_over_async_reader() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut client, mut server) = tokio::io::duplex(7);
        let writer = tokio::spawn(async move {
            client
                .write_all(b"<13>one\n7 <13>two<13>three\r\n")
                .await
                .unwrap();
        });
        let mut dec = SyslogFrameDecoder::new(1024);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        loop {
            let n = server.read_buf(&mut buf).await.unwrap();
            if n == 0 {
                while let Some(f) = dec.decode_eof(&mut buf).unwrap() {
                    out.push(f);
                }
                break;
            }
            while let Some(f) = dec.decode(&mut buf).unwrap() {
                out.push(f);
            }
        }
        writer.await.unwrap();
        assert_eq!(
            frames(&out),
            [
                (&b"<13>one"[..], false),
                (b"<13>two", false),
                (b"<13>three", false)
            ]
        );
    }
}

#[cfg(test)]
mod proptests {
    use super::tests::run as feed;
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn octet_counting_roundtrips(
            msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..300), 0..20),
            chunk in 1usize..64,
        ) {
            let mut input = Vec::new();
            for m in &msgs {
                input.extend_from_slice(format!("{} ", m.len()).as_bytes());
                input.extend_from_slice(m);
            }
            let out = feed(&mut SyslogFrameDecoder::new(1024), &input, chunk);
            let got: Vec<_> = out.iter().map(|f| f.bytes.to_vec()).collect();
            prop_assert_eq!(got, msgs);
            prop_assert!(out.iter().all(|f| !f.truncated));
        }

        #[test]
        fn mixed_framing_roundtrips_with_truncation(
            msgs in proptest::collection::vec(
                (any::<bool>(), "<[0-9]{1,3}>[^\n]{0,40}"), 0..20),
            max in 1usize..48,
            chunk in 1usize..64,
        ) {
            let mut input = Vec::new();
            let mut expected = Vec::new();
            for (octet, m) in &msgs {
                let m = m.as_bytes();
                if *octet {
                    input.extend_from_slice(format!("{} ", m.len()).as_bytes());
                    input.extend_from_slice(m);
                } else {
                    input.extend_from_slice(m);
                    input.extend_from_slice(b"\r\n");
                }
                expected.push((m[..m.len().min(max)].to_vec(), m.len() > max));
            }
            let mut dec = SyslogFrameDecoder::new(max);
            let out = feed(&mut dec, &input, chunk);
            let got: Vec<_> = out.iter().map(|f| (f.bytes.to_vec(), f.truncated)).collect();
            prop_assert_eq!(&got, &expected);
            let truncated = expected.iter().filter(|(_, t)| *t).count() as u64;
            prop_assert_eq!(dec.truncated_frames(), truncated);
        }

        #[test]
        fn never_panics_and_chunking_is_irrelevant(
            input in proptest::collection::vec(
                prop_oneof![any::<u8>(), prop::sample::select(b"0123456789 \r\n<".to_vec())],
                0..600),
            max in 1usize..64,
            chunk in 1usize..32,
        ) {
            let whole = feed(&mut SyslogFrameDecoder::new(max), &input, input.len());
            let chunked = feed(&mut SyslogFrameDecoder::new(max), &input, chunk);
            prop_assert_eq!(&whole, &chunked);
            prop_assert!(whole.iter().all(|f| !f.bytes.is_empty() && f.bytes.len() <= max));
            let whole = feed(&mut LineFrameDecoder::new(max), &input, input.len());
            let chunked = feed(&mut LineFrameDecoder::new(max), &input, chunk);
            prop_assert_eq!(&whole, &chunked);
            prop_assert!(whole.iter().all(|f| !f.bytes.is_empty() && f.bytes.len() <= max));
        }
    }
}
