//! Multiline aggregation: folds the continuation lines of a multi-line message (a stack
//! trace) into the event started by the last line matching `start_pattern`.
//!
//! Owns the per-file aggregation buffer and its bounds. An event ends when a line matches
//! `start_pattern` (it starts the next event), when it reaches `max_lines`, when the next line
//! would take it past `max_bytes` (that line starts the next event; a single line longer than
//! `max_bytes` is cut and flagged `truncated`), or when no line has arrived for `timeout`
//! ([`MultilineAggregator::flush_if_due`]). A line that does not match with nothing pending
//! starts an event anyway. Lines are joined with `\n`. Each event carries the caller's
//! metadata of its first line and the end offset of its last line (what the file source
//! checkpoints). Two buffers are swapped between the pending and the emitted event, so the
//! steady state copies each line once and does not allocate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use regex::bytes::Regex;

use super::partial::char_floor;

#[derive(Debug, Clone)]
pub struct MultilineConfig {
    /// Matches the first line of an event (e.g. `^\d{4}-\d{2}-\d{2}` or `^\S`).
    pub start_pattern: Regex,
    /// Most lines in one event (at least 1).
    pub max_lines: usize,
    /// An event with no new line for this long is emitted.
    pub timeout: Duration,
    /// Most bytes in one event (at least 1).
    pub max_bytes: usize,
}

/// A finished multi-line event; `text` is lent by the aggregator until its next call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultilineEvent<'a, M> {
    /// The lines, joined with `\n`.
    pub text: &'a [u8],
    /// Metadata of the first line.
    pub meta: M,
    /// End offset of the last line.
    pub end_offset: u64,
    /// Number of lines in `text`.
    pub lines: u32,
    /// The first line was longer than `max_bytes` and was cut.
    pub truncated: bool,
}

/// An emitted event's fields but its text (which is in `MultilineAggregator::out`).
struct Finished<M> {
    meta: M,
    end_offset: u64,
    lines: u32,
    truncated: bool,
}

/// Aggregates the lines of one file. `M` is the per-line metadata kept from each event's
/// first line (e.g. its timestamp, stream, start offset).
#[derive(Debug)]
pub struct MultilineAggregator<M> {
    cfg: Arc<MultilineConfig>,
    /// The pending event's text.
    buf: Vec<u8>,
    /// The last emitted event's text.
    out: Vec<u8>,
    /// The pending event's first-line metadata; `Some` iff an event is pending.
    meta: Option<M>,
    lines: u32,
    end_offset: u64,
    truncated: bool,
    deadline: Option<Instant>,
}

impl<M> MultilineAggregator<M> {
    pub fn new(cfg: Arc<MultilineConfig>) -> Self {
        MultilineAggregator {
            cfg,
            buf: Vec::new(),
            out: Vec::new(),
            meta: None,
            lines: 0,
            end_offset: 0,
            truncated: false,
            deadline: None,
        }
    }

    /// Feeds a complete line (without its terminator) with its metadata and the file offset
    /// just past it, read at `now`. Returns the event it finishes: the pending one when this
    /// line starts a new event (or would take it past `max_bytes`), or the event including
    /// this line when that reaches `max_lines` or `max_bytes`.
    pub fn push(
        &mut self,
        line: &[u8],
        meta: M,
        end_offset: u64,
        now: Instant,
    ) -> Option<MultilineEvent<'_, M>> {
        let max_lines = self.cfg.max_lines.max(1);
        let max_bytes = self.cfg.max_bytes.max(1);
        let mut done = None;
        if self.meta.is_some()
            && (self.lines as usize >= max_lines
                || self.buf.len() + 1 + line.len() > max_bytes
                || self.cfg.start_pattern.is_match(line))
        {
            done = self.finish();
        }
        if self.meta.is_none() {
            self.meta = Some(meta);
            let line = if line.len() > max_bytes {
                self.truncated = true;
                &line[..char_floor(line, max_bytes)]
            } else {
                line
            };
            self.buf.extend_from_slice(line);
        } else {
            self.buf.push(b'\n');
            self.buf.extend_from_slice(line);
        }
        self.lines = self.lines.saturating_add(1);
        self.end_offset = end_offset;
        self.deadline = now.checked_add(self.cfg.timeout);
        if done.is_none()
            && (self.lines as usize >= max_lines || self.truncated || self.buf.len() >= max_bytes)
        {
            done = self.finish();
        }
        done.map(|f| self.event(f))
    }

    /// Emits the pending event if no line has arrived for `timeout` before `now`.
    pub fn flush_if_due(&mut self, now: Instant) -> Option<MultilineEvent<'_, M>> {
        match self.deadline {
            Some(deadline) if now >= deadline => self.flush(),
            _ => None,
        }
    }

    /// Emits the pending event, if any (end of file, shutdown).
    pub fn flush(&mut self) -> Option<MultilineEvent<'_, M>> {
        self.finish().map(|f| self.event(f))
    }

    /// An event is pending.
    pub fn has_pending(&self) -> bool {
        self.meta.is_some()
    }

    /// When the pending event times out (to arm the caller's timer).
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Moves the pending event to `out`.
    fn finish(&mut self) -> Option<Finished<M>> {
        let meta = self.meta.take()?;
        std::mem::swap(&mut self.buf, &mut self.out);
        self.buf.clear();
        self.deadline = None;
        Some(Finished {
            meta,
            end_offset: self.end_offset,
            lines: std::mem::take(&mut self.lines),
            truncated: std::mem::take(&mut self.truncated),
        })
    }

    fn event(&self, f: Finished<M>) -> MultilineEvent<'_, M> {
        MultilineEvent {
            text: &self.out,
            meta: f.meta,
            end_offset: f.end_offset,
            lines: f.lines,
            truncated: f.truncated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::cri::parse_cri;
    use super::*;
    use proptest::prelude::*;

    fn config(pattern: &str, max_lines: usize, max_bytes: usize) -> Arc<MultilineConfig> {
        Arc::new(MultilineConfig {
            start_pattern: Regex::new(pattern).unwrap(),
            max_lines,
            timeout: Duration::from_secs(5),
            max_bytes,
        })
    }

    type Out = (String, usize, u64, u32, bool);

    fn own(e: MultilineEvent<'_, usize>) -> Out {
        (
            String::from_utf8(e.text.to_vec()).unwrap(),
            e.meta,
            e.end_offset,
            e.lines,
            e.truncated,
        )
    }

    /// Feeds lines with meta = line index and end offset = 100 * (index + 1); flushes at
    /// the end.
    fn run(cfg: Arc<MultilineConfig>, lines: &[&str]) -> Vec<Out> {
        let mut agg = MultilineAggregator::new(cfg);
        let now = Instant::now();
        let mut out = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            out.extend(
                agg.push(line.as_bytes(), i, 100 * (i as u64 + 1), now)
                    .map(own),
            );
        }
        out.extend(agg.flush().map(own));
        assert!(!agg.has_pending());
        out
    }

    const JAVA: [&str; 9] = [
        "2026-11-24 10:00:00.123 INFO starting",
        "Exception in thread \"main\" java.lang.RuntimeException: boom",
        "\tat com.example.Foo.bar(Foo.java:12)",
        "\tat com.example.Main.main(Main.java:5)",
        "Caused by: java.lang.IllegalStateException: inner",
        "\tat com.example.Foo.baz(Foo.java:30)",
        "\t... 1 more",
        "2026-11-24 10:00:01.000 INFO next",
        "2026-11-24 10:00:02.000 INFO last",
    ];

    #[test]
    fn java_stack_trace() {
        let out = run(
            config(r"^(\d{4}-\d{2}-\d{2} |Exception in thread )", 500, 1 << 20),
            &JAVA,
        );
        let trace = JAVA[1..7].join("\n");
        assert_eq!(
            out,
            vec![
                (JAVA[0].to_owned(), 0, 100, 1, false),
                (trace, 1, 700, 6, false),
                (JAVA[7].to_owned(), 7, 800, 1, false),
                (JAVA[8].to_owned(), 8, 900, 1, false),
            ]
        );
    }

    #[test]
    fn cri_java_stack_trace() {
        // Essence of a containerd Java stack trace: 9 and 8 fraction digits, stderr, F tags.
        let lines: [&[u8]; 5] = [
            b"2020-08-19T21:06:24.337499838Z stderr F hdfsExists: invokeMethod((Lorg/apache/hadoop/fs/Path;)Z) error:",
            b"2020-08-19T21:06:24.33754077Z stderr F org.apache.hadoop.ipc.RemoteException(org.apache.hadoop.security..SecretManager$Invalid): can't be found in cache",
            b"2020-08-19T21:06:24.337544598Z stderr F \tat org.apache.hadoop.ipc.Client.call(Client.java:1475)",
            b"2020-08-19T21:06:24.33757971Z stderr F \tat com.sun.proxy.$Proxy10.getFileInfo(Unknown Source)",
            b"2020-08-19T21:06:25Z stderr F hdfsExists: done",
        ];
        let mut agg = MultilineAggregator::new(config(r"^\S", 100, 1 << 20));
        let now = Instant::now();
        let mut events = Vec::new();
        let mut offset = 0;
        for line in lines {
            offset += line.len() as u64 + 1;
            let cri = parse_cri(line).unwrap();
            if let Some(e) = agg.push(cri.text, cri.timestamp_unix_nanos, offset, now) {
                events.push((e.text.to_vec(), e.meta, e.end_offset, e.lines));
            }
        }
        if let Some(e) = agg.flush() {
            events.push((e.text.to_vec(), e.meta, e.end_offset, e.lines));
        }
        let len = |i: usize| lines[..=i].iter().map(|l| l.len() as u64 + 1).sum::<u64>();
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].1, 1_597_871_184_337_499_838);
        assert_eq!(events[0].2, len(0));
        assert_eq!(
            events[1].0,
            b"org.apache.hadoop.ipc.RemoteException(org.apache.hadoop.security..SecretManager$Invalid): can't be found in cache\n\
              \tat org.apache.hadoop.ipc.Client.call(Client.java:1475)\n\
              \tat com.sun.proxy.$Proxy10.getFileInfo(Unknown Source)"
        );
        assert_eq!(
            events[1].1, 1_597_871_184_337_540_770,
            "first line's timestamp"
        );
        assert_eq!(events[1].2, len(3), "last line's end offset");
        assert_eq!(events[1].3, 3);
        assert_eq!(events[2].0, b"hdfsExists: done");
    }

    #[test]
    fn continuation_without_start_starts_an_event() {
        let out = run(
            config(r"^\S", 10, 1000),
            &["  orphan", "  more", "start", "  cont"],
        );
        assert_eq!(
            out,
            vec![
                ("  orphan\n  more".to_owned(), 0, 200, 2, false),
                ("start\n  cont".to_owned(), 2, 400, 2, false),
            ]
        );
    }

    #[test]
    fn max_lines_cuts() {
        let lines = ["S1", " a", " b", " c", " d", "S2", " e"];
        let out = run(config(r"^S", 3, 1000), &lines);
        assert_eq!(
            out,
            vec![
                ("S1\n a\n b".to_owned(), 0, 300, 3, false),
                (" c\n d".to_owned(), 3, 500, 2, false),
                ("S2\n e".to_owned(), 5, 700, 2, false),
            ]
        );
        // One line per event: every push emits.
        let out = run(config(r"^S", 1, 1000), &["S1", " a", "S2"]);
        assert_eq!(out.iter().map(|o| o.3).collect::<Vec<_>>(), [1, 1, 1]);
        assert_eq!(out[1], (" a".to_owned(), 1, 200, 1, false));
    }

    #[test]
    fn max_bytes_cuts() {
        // "S1\n a\n b" is 8 bytes: " c" would make 11 > 10 and starts the next event.
        let out = run(
            config(r"^S", 100, 10),
            &["S1", " a", " b", " c", "S2 0123456789ABC", " d"],
        );
        assert_eq!(
            out,
            vec![
                ("S1\n a\n b".to_owned(), 0, 300, 3, false),
                (" c".to_owned(), 3, 400, 1, false),
                ("S2 0123456".to_owned(), 4, 500, 1, true),
                (" d".to_owned(), 5, 600, 1, false),
            ]
        );
        // Exactly max_bytes is emitted at once, not truncated.
        let out = run(config(r"^S", 100, 6), &["S1", " ab", " c"]);
        assert_eq!(
            out,
            vec![
                ("S1\n ab".to_owned(), 0, 200, 2, false),
                (" c".to_owned(), 2, 300, 1, false),
            ]
        );
    }

    #[test]
    fn timeout_flush() {
        let mut agg = MultilineAggregator::new(config(r"^S", 100, 1000));
        let t0 = Instant::now();
        assert!(agg.flush_if_due(t0).is_none());
        assert_eq!(agg.deadline(), None);
        assert!(agg.push(b"S1", 0usize, 10, t0).is_none());
        assert!(agg
            .push(b" a", 1, 20, t0 + Duration::from_secs(3))
            .is_none());
        // The timeout counts from the last line.
        assert_eq!(agg.deadline(), Some(t0 + Duration::from_secs(8)));
        assert!(agg.flush_if_due(t0 + Duration::from_secs(7)).is_none());
        let e = agg.flush_if_due(t0 + Duration::from_secs(8)).unwrap();
        assert_eq!(
            (e.text, e.meta, e.end_offset, e.lines),
            (&b"S1\n a"[..], 0, 20, 2)
        );
        assert!(!agg.has_pending());
        assert_eq!(agg.deadline(), None);
        assert!(agg.flush_if_due(t0 + Duration::from_secs(60)).is_none());
        // A continuation arriving after the flush starts a new event.
        assert!(agg
            .push(b" late", 2, 30, t0 + Duration::from_secs(61))
            .is_none());
        let e = agg.flush().unwrap();
        assert_eq!((e.text, e.meta), (&b" late"[..], 2));
        assert!(agg.flush().is_none());
    }

    proptest! {
        /// Without truncation, events partition the input: joined back with `\n` they give the
        /// lines; each has the meta of its first line and the offset of its last.
        #[test]
        fn events_partition_the_lines(
            lines in proptest::collection::vec("[S ]?[a-z]{0,6}", 0..60),
            max_lines in 1usize..6,
            max_bytes in 7usize..40,
        ) {
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            let out = run(config(r"^S", max_lines, max_bytes), &lines);
            let mut next = 0;
            for (text, meta, end, n, truncated) in &out {
                prop_assert!(!truncated);
                prop_assert_eq!(*meta, next);
                let n = *n as usize;
                prop_assert!(n >= 1 && n <= max_lines);
                prop_assert!(text.len() <= max_bytes);
                prop_assert_eq!(text, &lines[next..next + n].join("\n"));
                next += n;
                prop_assert_eq!(*end, 100 * next as u64);
            }
            prop_assert_eq!(next, lines.len());
        }

        #[test]
        fn never_panics(lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..30), 0..30),
                        max_lines in 0usize..5, max_bytes in 0usize..20) {
            let mut agg = MultilineAggregator::new(config(r"^\S", max_lines, max_bytes));
            let now = Instant::now();
            for (i, line) in lines.iter().enumerate() {
                if let Some(e) = agg.push(line, i, i as u64, now) {
                    prop_assert!(e.text.len() <= max_bytes.max(1));
                }
            }
            let _ = agg.flush_if_due(now + Duration::from_secs(10));
        }
    }
}
