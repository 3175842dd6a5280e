//! Reading one file: bytes → lines → container log records → events, with the offset each
//! event lets the checkpoint advance to.
//!
//! Owns the per-file state: the open descriptor and its read position ([`TailedFile`]), the
//! line splitter (bounded by `max_line_bytes`), and the [`Decoder`] with one partial-line
//! joiner and one multiline aggregator per output stream (containerd interleaves the
//! fragments of stdout and stderr in one file).
//!
//! The checkpoint offset of an event is not simply its end: while a line of the *other*
//! stream is half-joined, or a multiline event is pending, the bytes it started in are not
//! delivered yet. Each event therefore carries `min(its end, start of everything still
//! pending)`, made monotonic per file. A restart from any acknowledged offset re-reads every
//! byte not yet delivered (at-least-once), never skips one.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::cri::parse_cri;
use super::docker::parse_docker;
use super::fingerprint::{self, FileIdentity};
use super::format::{Format, Stream};
use super::k8s_path;
use super::multiline::{MultilineAggregator, MultilineConfig};
use super::partial::PartialJoiner;
use crate::codec::raw_json::RawObject;
use crate::event::{Event, Key, Object, Origin, Value};
use crate::sources::lines::{to_utf8, Line, LineSplitter};

/// Bytes asked from the kernel per read call.
const READ_CHUNK: usize = 64 * 1024;

/// Reads at most `len` bytes of `file` onto the end of `buf`, retrying when interrupted.
///
/// The bytes go straight into the buffer's spare capacity: zeroing it first (what a read
/// into a `&mut [u8]` needs) cost 3% of the whole file → Elasticsearch pipeline's CPU, as
/// every read lands in fresh memory (the previous chunks are still shared by events).
fn read_appending(file: &File, buf: &mut BytesMut, len: usize) -> io::Result<usize> {
    buf.reserve(len);
    let spare = &mut buf.spare_capacity_mut()[..len];
    let n = loop {
        match rustix::io::read(file, &mut *spare) {
            Ok((filled, _)) => break filled.len(),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    };
    // SAFETY: read(2) initialised the first `n` bytes of the spare capacity.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

/// What happened to the file source's input, counted.
#[derive(Debug, Default)]
pub struct FileSourceCounters {
    pub lines_truncated: AtomicU64,
    pub invalid_utf8: AtomicU64,
    pub format_errors: AtomicU64,
    /// Last lines without newline (or split container lines without their end) emitted
    /// after the partial-line timeout.
    pub partial_lines_flushed: AtomicU64,
    /// Files found shorter than the read position or with changed first bytes.
    pub files_truncated: AtomicU64,
    /// Of those, the ones whose rotated copy was found and read to its end.
    pub truncated_copies_read: AtomicU64,
    pub files_rotated: AtomicU64,
    pub inode_reused: AtomicU64,
    pub checkpoints_corrupt: AtomicU64,
    pub batches_failed: AtomicU64,
    pub read_errors: AtomicU64,
    pub events: AtomicU64,
    pub bytes: AtomicU64,
}

impl FileSourceCounters {
    pub fn bump(counter: &AtomicU64) -> u64 {
        counter.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// What every file of one source shares.
#[derive(Debug)]
pub struct Shared {
    pub component_id: String,
    pub counters: FileSourceCounters,
    /// `host.name` of every event.
    pub host: Value,
    pub format: Format,
    pub max_line_bytes: usize,
    pub partial_line_timeout: Duration,
    pub multiline: Option<Arc<MultilineConfig>>,
}

/// The size of one tailed file as last observed, shared by the reader (which writes it) and
/// the acknowledgement tracker (which subtracts the acknowledged offset for
/// `logweir_file_source_bytes_behind`).
///
/// It is fed by what the reader learns anyway, never by a syscall of its own per event:
/// the `stat` of discovery and of every rescan, the `fstat` a read at the end of the file
/// already makes, and the read position (a file is at least as long as what was read).
#[derive(Debug, Default)]
pub struct ObservedSize(AtomicU64);

impl ObservedSize {
    pub fn new(size: u64) -> ObservedSize {
        ObservedSize(AtomicU64::new(size))
    }

    /// The file's size, from a `stat`/`fstat`.
    pub fn set(&self, size: u64) {
        self.0.store(size, Ordering::Relaxed);
    }

    /// The file holds at least `offset` bytes (it was read that far).
    pub fn at_least(&self, offset: u64) {
        self.0.fetch_max(offset, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One event ready to send and the checkpoint its delivery allows.
#[derive(Debug)]
pub struct Emitted {
    pub event: Event,
    pub checkpoint: u64,
}

const FLAG_TRUNCATED: u8 = 1;
const FLAG_FORMAT_ERROR: u8 = 2;

/// What is kept of a line until its event is built (the first line's, for joined lines and
/// multiline events).
#[derive(Debug, Clone, Copy)]
struct LineMeta {
    timestamp: i64,
    /// Offset of the line's first byte: the event's origin.
    offset: u64,
    stream: Option<Stream>,
    flags: u8,
}

#[derive(Debug)]
struct StreamState {
    joiner: PartialJoiner,
    /// The first fragment of the line being joined.
    joiner_meta: Option<LineMeta>,
    joiner_end: u64,
    joiner_last: Instant,
    multiline: Option<MultilineAggregator<LineMeta>>,
    /// Start offset of the pending multiline event.
    multiline_start: Option<u64>,
}

/// Turns the lines of one file into events.
#[derive(Debug)]
pub struct Decoder {
    shared: Arc<Shared>,
    /// The file's format once known (`Auto` until the first line).
    format: Format,
    streams: [StreamState; 2],
    stream_hash: u64,
    /// The fields of every event, per stream and for lines without one: `log`
    /// (`{"iostream": …, "file": {"path": …}}`), `kubernetes` and `container` (from the
    /// kubelet's path layout), `host`; in text form, encoded once per file.
    file_fields: [Arc<RawObject>; 3],
    last_checkpoint: u64,
    /// Kinds of bad input already warned about for this file (counters count them all).
    warned: u8,
    path_text: String,
}

fn stream_index(stream: Stream) -> usize {
    match stream {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

/// A slice of `owner` when `part` lies in it (no copy), else a copy.
fn share_or_copy(owner: &Bytes, part: &[u8]) -> Bytes {
    if part.is_empty() {
        return Bytes::new();
    }
    let start = owner.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    if p >= start && p + part.len() <= start + owner.len() {
        owner.slice_ref(part)
    } else {
        Bytes::copy_from_slice(part)
    }
}

fn object_of(entries: impl IntoIterator<Item = (&'static str, Value)>) -> Object {
    let mut o = Object::new();
    for (k, v) in entries {
        o.push_unique(Key::new_static(k), v);
    }
    o
}

fn object(entries: impl IntoIterator<Item = (&'static str, Value)>) -> Value {
    Value::Object(object_of(entries))
}

/// The fields every event of a file carries, as one object in text form: each event
/// takes a reference to it (one per event, not one per field) and sinks copy its text
/// instead of encoding it.
fn encoded_once(fields: Vec<(&'static str, Value)>) -> Arc<RawObject> {
    Arc::new(RawObject::from_object(&object_of(fields)))
}

impl Decoder {
    pub fn new(shared: Arc<Shared>, path: &Path, identity: &FileIdentity, offset: u64) -> Decoder {
        let path_text = path.to_string_lossy().into_owned();
        let meta = k8s_path::from_path(&path_text);
        let kubernetes = meta.map(|m| {
            let mut pod = vec![("name", Value::from(m.pod_name))];
            if let Some(uid) = m.pod_uid {
                pod.push(("uid", Value::from(uid)));
            }
            object([
                ("namespace", Value::from(m.namespace)),
                ("pod", object(pod)),
                (
                    "container",
                    object([("name", Value::from(m.container_name))]),
                ),
            ])
        });
        let container = meta
            .and_then(|m| m.container_id)
            .map(|id| object([("id", Value::from(id))]));
        let host = object([("name", shared.host.clone())]);
        // Per stream (stdout, stderr, none): `log`, then `kubernetes`, `container`, `host`.
        let fields_for = |log: Value| {
            let mut fields = vec![("log", log)];
            fields.extend(kubernetes.clone().map(|k| ("kubernetes", k)));
            fields.extend(container.clone().map(|c| ("container", c)));
            fields.push(("host", host.clone()));
            encoded_once(fields)
        };
        let file = || object([("path", Value::from(path_text.as_str()))]);
        let with_stream =
            |stream: &'static str| object([("iostream", Value::from(stream)), ("file", file())]);
        let file_fields = [
            fields_for(with_stream(Stream::Stdout.as_str())),
            fields_for(with_stream(Stream::Stderr.as_str())),
            fields_for(object([("file", file())])),
        ];
        let now = Instant::now();
        let stream_state = || StreamState {
            joiner: PartialJoiner::new(shared.max_line_bytes),
            joiner_meta: None,
            joiner_end: 0,
            joiner_last: now,
            multiline: shared
                .multiline
                .as_ref()
                .map(|c| MultilineAggregator::new(Arc::clone(c))),
            multiline_start: None,
        };
        Decoder {
            format: shared.format,
            streams: [stream_state(), stream_state()],
            stream_hash: identity.stream_hash(),
            file_fields,
            last_checkpoint: offset,
            warned: 0,
            path_text,
            shared,
        }
    }

    /// The format used for this file (`Auto` until its first line was seen).
    pub fn format(&self) -> Format {
        self.format
    }

    /// Decodes one line into zero or more events appended to `out`.
    pub fn push_line(&mut self, line: Line, now: Instant, now_nanos: i64, out: &mut Vec<Emitted>) {
        let first = out.len();
        if self.format == Format::Auto {
            self.format = self.shared.format.resolve(&line.bytes);
            tracing::debug!(component_id = %self.shared.component_id, path = %self.path_text, format = %self.format, "detected file format");
        }
        let flags = if line.truncated {
            self.note_truncated();
            FLAG_TRUNCATED
        } else {
            0
        };
        let raw_meta = LineMeta {
            timestamp: now_nanos,
            offset: line.offset,
            stream: None,
            flags,
        };
        match self.format {
            Format::Cri => match parse_cri(&line.bytes) {
                Ok(c) => {
                    let meta = LineMeta {
                        timestamp: c.timestamp_unix_nanos,
                        stream: Some(c.stream),
                        ..raw_meta
                    };
                    self.fragment(
                        &line.bytes,
                        c.text,
                        c.partial,
                        meta,
                        line.end_offset,
                        now,
                        out,
                    );
                }
                Err(e) => self.format_error(line.bytes, raw_meta, line.end_offset, &e, out),
            },
            Format::Docker => match parse_docker(&line.bytes) {
                Ok(d) => {
                    let meta = LineMeta {
                        timestamp: d.timestamp_unix_nanos,
                        stream: Some(d.stream),
                        ..raw_meta
                    };
                    self.fragment(
                        &line.bytes,
                        &d.log,
                        d.partial,
                        meta,
                        line.end_offset,
                        now,
                        out,
                    );
                }
                Err(e) => self.format_error(line.bytes, raw_meta, line.end_offset, &e, out),
            },
            Format::Raw | Format::Auto => {
                self.logical(0, line.bytes, raw_meta, line.end_offset, now, out)
            }
        }
        self.assign_checkpoints(first, out);
    }

    /// Emits what timed out: joined lines whose end never came, multiline events with no new
    /// line for their timeout.
    pub fn flush_due(&mut self, now: Instant, out: &mut Vec<Emitted>) {
        let first = out.len();
        let timeout = self.shared.partial_line_timeout;
        for idx in 0..2 {
            let st = &self.streams[idx];
            if st.joiner.has_pending() && now >= st.joiner_last + timeout {
                FileSourceCounters::bump(&self.shared.counters.partial_lines_flushed);
                self.take_joined(idx, now, out);
            }
            let st = &mut self.streams[idx];
            let flushed = st.multiline.as_mut().and_then(|agg| {
                agg.flush_if_due(now).map(|e| {
                    (
                        Bytes::copy_from_slice(e.text),
                        e.meta,
                        e.end_offset,
                        e.truncated,
                    )
                })
            });
            if let Some(event) = flushed {
                st.multiline_start = None;
                self.emit_multiline(event, out);
            }
        }
        self.assign_checkpoints(first, out);
    }

    /// Emits everything pending (end of file with `exit_on_eof`, a released file).
    pub fn flush_all(&mut self, now: Instant, out: &mut Vec<Emitted>) {
        let first = out.len();
        for idx in 0..2 {
            if self.streams[idx].joiner.has_pending() {
                self.take_joined(idx, now, out);
            }
            let st = &mut self.streams[idx];
            let flushed = st.multiline.as_mut().and_then(|agg| {
                agg.flush().map(|e| {
                    (
                        Bytes::copy_from_slice(e.text),
                        e.meta,
                        e.end_offset,
                        e.truncated,
                    )
                })
            });
            st.multiline_start = None;
            if let Some(event) = flushed {
                self.emit_multiline(event, out);
            }
        }
        self.assign_checkpoints(first, out);
    }

    /// Something is held back waiting for more lines.
    pub fn has_pending(&self) -> bool {
        self.streams.iter().any(|s| {
            s.joiner.has_pending() || s.multiline.as_ref().is_some_and(|m| m.has_pending())
        })
    }

    /// When the next timeout falls.
    pub fn next_deadline(&self) -> Option<Instant> {
        let timeout = self.shared.partial_line_timeout;
        self.streams
            .iter()
            .flat_map(|s| {
                let joiner = s.joiner.has_pending().then(|| s.joiner_last + timeout);
                let multiline = s.multiline.as_ref().and_then(|m| m.deadline());
                [joiner, multiline]
            })
            .flatten()
            .min()
    }

    /// Forgets everything pending (the content it came from is gone).
    pub fn reset(&mut self) {
        for s in &mut self.streams {
            s.joiner.reset();
            s.joiner_meta = None;
            if let Some(m) = s.multiline.as_mut() {
                let _ = m.flush();
            }
            s.multiline_start = None;
        }
    }

    fn take_joined(&mut self, idx: usize, now: Instant, out: &mut Vec<Emitted>) {
        let st = &mut self.streams[idx];
        let Some(joined) = st.joiner.take_pending() else {
            return;
        };
        let text = Bytes::copy_from_slice(&joined.text);
        let meta = st.joiner_meta.take();
        let end = st.joiner_end;
        if let Some(meta) = meta {
            self.logical(idx, text, meta, end, now, out);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn fragment(
        &mut self,
        owner: &Bytes,
        text: &[u8],
        partial: bool,
        meta: LineMeta,
        end: u64,
        now: Instant,
        out: &mut Vec<Emitted>,
    ) {
        let idx = meta.stream.map_or(0, stream_index);
        let st = &mut self.streams[idx];
        let had = st.joiner.has_pending();
        let joined = st
            .joiner
            .push(text, partial)
            .map(|j| (share_or_copy(owner, &j.text), j.truncated));
        match joined {
            Some((text, truncated)) => {
                let mut first = if had {
                    st.joiner_meta.unwrap_or(meta)
                } else {
                    meta
                };
                st.joiner_meta = None;
                first.flags |= meta.flags;
                if truncated && first.flags & FLAG_TRUNCATED == 0 {
                    first.flags |= FLAG_TRUNCATED;
                    self.note_truncated();
                }
                self.logical(idx, text, first, end, now, out);
            }
            None if st.joiner.has_pending() => {
                if !had || st.joiner_meta.is_none() {
                    st.joiner_meta = Some(meta);
                }
                st.joiner_end = end;
                st.joiner_last = now;
            }
            None => st.joiner_meta = None,
        }
    }

    /// A complete logical line: into the multiline aggregator, or straight out.
    fn logical(
        &mut self,
        idx: usize,
        text: Bytes,
        meta: LineMeta,
        end: u64,
        now: Instant,
        out: &mut Vec<Emitted>,
    ) {
        let st = &mut self.streams[idx];
        let Some(agg) = st.multiline.as_mut() else {
            self.emit(text, meta, end, out);
            return;
        };
        let had = agg.has_pending();
        let done = agg.push(&text, meta, end, now).map(|e| {
            (
                Bytes::copy_from_slice(e.text),
                e.meta,
                e.end_offset,
                e.truncated,
            )
        });
        if !agg.has_pending() {
            st.multiline_start = None;
        } else if done.is_some() || !had {
            st.multiline_start = Some(meta.offset);
        }
        if let Some(event) = done {
            self.emit_multiline(event, out);
        }
    }

    fn emit_multiline(&mut self, event: (Bytes, LineMeta, u64, bool), out: &mut Vec<Emitted>) {
        let (text, mut meta, end, truncated) = event;
        if truncated && meta.flags & FLAG_TRUNCATED == 0 {
            meta.flags |= FLAG_TRUNCATED;
            self.note_truncated();
        }
        self.emit(text, meta, end, out);
    }

    fn format_error(
        &mut self,
        line: Bytes,
        mut meta: LineMeta,
        end: u64,
        error: &super::format::FormatError,
        out: &mut Vec<Emitted>,
    ) {
        let n = FileSourceCounters::bump(&self.shared.counters.format_errors);
        if self.warned & FLAG_FORMAT_ERROR == 0 {
            self.warned |= FLAG_FORMAT_ERROR;
            tracing::warn!(component_id = %self.shared.component_id, path = %self.path_text, offset = meta.offset, format = %self.format, error = %error, total = n, "line does not match the file's format; kept as raw text and tagged format_error");
        }
        meta.flags |= FLAG_FORMAT_ERROR;
        self.emit(line, meta, end, out);
    }

    fn note_truncated(&mut self) {
        let n = FileSourceCounters::bump(&self.shared.counters.lines_truncated);
        if self.warned & FLAG_TRUNCATED == 0 {
            self.warned |= FLAG_TRUNCATED;
            tracing::warn!(component_id = %self.shared.component_id, path = %self.path_text, max_line_bytes = self.shared.max_line_bytes, total = n, "line longer than max_line_bytes; cut and tagged truncated");
        }
    }

    fn emit(&mut self, text: Bytes, meta: LineMeta, end: u64, out: &mut Vec<Emitted>) {
        let (text, invalid) = to_utf8(text);
        let mut event = Event::from_message(text, meta.timestamp);
        let file_fields = &self.file_fields[meta.stream.map_or(2, stream_index)];
        event.fields.attach_raw(Arc::clone(file_fields));
        if meta.flags & FLAG_TRUNCATED != 0 {
            event.add_tag("truncated");
        }
        if invalid {
            event.add_tag("invalid_utf8");
            let n = FileSourceCounters::bump(&self.shared.counters.invalid_utf8);
            if self.warned & 4 == 0 {
                self.warned |= 4;
                tracing::warn!(component_id = %self.shared.component_id, path = %self.path_text, offset = meta.offset, total = n, "line is not valid UTF-8; invalid bytes replaced and tagged invalid_utf8");
            }
        }
        if meta.flags & FLAG_FORMAT_ERROR != 0 {
            event.add_tag("format_error");
        }
        event.meta.origin = Some(Origin {
            stream: self.stream_hash,
            offset: meta.offset,
        });
        out.push(Emitted {
            event,
            checkpoint: end,
        });
    }

    /// The smallest offset of data held back (a half-joined line, a pending multiline event).
    fn pending_floor(&self) -> Option<u64> {
        self.streams
            .iter()
            .flat_map(|s| [s.joiner_meta.map(|m| m.offset), s.multiline_start])
            .flatten()
            .min()
    }

    fn assign_checkpoints(&mut self, first: usize, out: &mut [Emitted]) {
        let floor = self.pending_floor().unwrap_or(u64::MAX);
        for e in &mut out[first..] {
            let cp = e.checkpoint.min(floor).max(self.last_checkpoint);
            self.last_checkpoint = cp;
            e.checkpoint = cp;
        }
    }
}

/// What one read of a file found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// This many bytes were read.
    Data(usize),
    /// Nothing new.
    Eof,
    /// The file is shorter than the read position, or its first bytes changed: it was
    /// truncated (`copytruncate`) and maybe written again.
    Truncated,
}

/// A file being tailed.
#[derive(Debug)]
pub struct TailedFile {
    pub key: u64,
    /// Where the file was found (where its events say they come from).
    pub path: PathBuf,
    pub identity: FileIdentity,
    file: Option<File>,
    splitter: LineSplitter,
    decoder: Decoder,
    lines: Vec<Line>,
    /// The last read found nothing new.
    pub at_eof: bool,
    pub last_growth: Instant,
    /// When the path stopped leading to this file (renamed away or deleted).
    pub rotated_since: Option<Instant>,
    /// Waiting for a descriptor slot.
    pub queued: bool,
    /// Last known size, for the bytes-behind gauge.
    pub size: Arc<ObservedSize>,
}

impl TailedFile {
    pub fn new(
        key: u64,
        path: PathBuf,
        identity: FileIdentity,
        offset: u64,
        size: u64,
        shared: Arc<Shared>,
    ) -> TailedFile {
        let max_line_bytes = shared.max_line_bytes;
        let decoder = Decoder::new(shared, &path, &identity, offset);
        let now = Instant::now();
        TailedFile {
            key,
            path,
            identity,
            file: None,
            splitter: LineSplitter::new(max_line_bytes, offset),
            decoder,
            lines: Vec::new(),
            at_eof: false,
            last_growth: now,
            rotated_since: None,
            queued: false,
            size: Arc::new(ObservedSize::new(size.max(offset))),
        }
    }

    pub fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// Where the next read starts.
    pub fn read_position(&self) -> u64 {
        self.splitter.consumed_offset() + self.splitter.pending_bytes() as u64
    }

    /// Takes `file` (the file at this identity) and positions it for reading.
    pub fn attach(&mut self, mut file: File) -> io::Result<()> {
        file.seek(SeekFrom::Start(self.read_position()))?;
        self.file = Some(file);
        self.at_eof = false;
        Ok(())
    }

    /// Continues with another file holding the same bytes (the copy a `copytruncate` left).
    pub fn replace(&mut self, file: File, identity: FileIdentity) -> io::Result<()> {
        self.identity = identity;
        self.file = None;
        self.attach(file)
    }

    /// Closes the descriptor (the file waits for a slot to be read again). Only when nothing
    /// is pending, so no state is lost.
    pub fn park(&mut self) {
        self.file = None;
        *self.splitter.buffer_mut() = BytesMut::new();
    }

    /// Bytes or lines are held back waiting for more.
    pub fn has_pending(&self) -> bool {
        self.splitter.pending_bytes() > 0 || self.decoder.has_pending()
    }

    /// Reads up to `budget` bytes, decoding the lines into `out`.
    pub fn read(
        &mut self,
        budget: usize,
        now: Instant,
        out: &mut Vec<Emitted>,
    ) -> io::Result<ReadOutcome> {
        let Some(file) = self.file.as_mut() else {
            return Ok(ReadOutcome::Eof);
        };
        let mut total = 0;
        let now_nanos = crate::time::now_unix_nanos();
        while total < budget {
            let buf = self.splitter.buffer_mut();
            let old_len = buf.len();
            let n = read_appending(file, buf, READ_CHUNK)?;
            if n == 0 {
                break;
            }
            // Verify before using the bytes: if the file was truncated and written again,
            // these bytes are the new content at the old position, not the continuation.
            // One read of at most 256 bytes per chunk of 64 KiB: cheap, and it catches a
            // `copytruncate` whose new content already grew past the read position.
            if !fingerprint::matches(file, self.identity.fingerprint)? {
                self.splitter.buffer_mut().truncate(old_len);
                return Ok(ReadOutcome::Truncated);
            }
            total += n;
            self.splitter.drain_lines(&mut self.lines);
            for line in self.lines.drain(..) {
                self.decoder.push_line(line, now, now_nanos, out);
            }
        }
        if total > 0 {
            self.at_eof = false;
            self.last_growth = now;
            self.size.at_least(self.read_position());
            return Ok(ReadOutcome::Data(total));
        }
        let len = file.metadata()?.len();
        if len < self.read_position() {
            return Ok(ReadOutcome::Truncated);
        }
        self.size.set(len);
        if !self.at_eof {
            self.at_eof = true;
            if self.splitter.pending_bytes() == 0 {
                // Idle files keep no read buffer.
                *self.splitter.buffer_mut() = BytesMut::new();
            }
        }
        Ok(ReadOutcome::Eof)
    }

    /// Emits what timed out, including a last line without newline at the end of a file
    /// that stopped growing.
    pub fn flush_due(&mut self, now: Instant, shared: &Shared, out: &mut Vec<Emitted>) {
        if self.at_eof
            && self.splitter.pending_bytes() > 0
            && now >= self.last_growth + shared.partial_line_timeout
        {
            if let Some(line) = self.splitter.finish() {
                FileSourceCounters::bump(&shared.counters.partial_lines_flushed);
                self.decoder
                    .push_line(line, now, crate::time::now_unix_nanos(), out);
            }
        }
        self.decoder.flush_due(now, out);
    }

    /// Emits everything held (the file is done).
    pub fn flush_all(&mut self, now: Instant, out: &mut Vec<Emitted>) {
        if let Some(line) = self.splitter.finish() {
            self.decoder
                .push_line(line, now, crate::time::now_unix_nanos(), out);
        }
        self.decoder.flush_all(now, out);
    }

    /// Drops what is held (its content is gone).
    pub fn discard_pending(&mut self) {
        let _ = self.splitter.finish();
        self.decoder.reset();
    }

    /// When something held times out.
    pub fn next_deadline(&self, shared: &Shared) -> Option<Instant> {
        let line = (self.splitter.pending_bytes() > 0)
            .then(|| self.last_growth + shared.partial_line_timeout);
        [line, self.decoder.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn format(&self) -> Format {
        self.decoder.format()
    }

    /// Refreshes the observed size from the open descriptor (one `fstat`). For files whose
    /// path no longer leads to them (rotated), which rescans cannot `stat` by path.
    pub fn refresh_size(&self) {
        if let Some(len) = self
            .file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map(|m| m.len())
        {
            self.size.set(len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::FieldPath;
    use crate::sources::file::fingerprint::{FileId, Fingerprint};

    fn shared(format: Format, multiline: Option<&str>) -> Arc<Shared> {
        Arc::new(Shared {
            component_id: "test".into(),
            counters: FileSourceCounters::default(),
            host: Value::from("node-1"),
            format,
            max_line_bytes: 64,
            partial_line_timeout: Duration::from_millis(100),
            multiline: multiline.map(|p| {
                Arc::new(MultilineConfig {
                    start_pattern: regex::bytes::Regex::new(p).unwrap(),
                    max_lines: 10,
                    timeout: Duration::from_millis(100),
                    max_bytes: 64,
                })
            }),
        })
    }

    fn identity() -> FileIdentity {
        FileIdentity {
            id: FileId { dev: 1, ino: 2 },
            fingerprint: Fingerprint { len: 1, hash: 3 },
        }
    }

    fn decode(shared: Arc<Shared>, path: &str, input: &[u8]) -> (Vec<Emitted>, Decoder) {
        let mut d = Decoder::new(shared.clone(), Path::new(path), &identity(), 0);
        let mut s = LineSplitter::new(shared.max_line_bytes, 0);
        s.buffer_mut().extend_from_slice(input);
        let mut lines = Vec::new();
        s.drain_lines(&mut lines);
        let mut out = Vec::new();
        let now = Instant::now();
        for l in lines {
            d.push_line(l, now, 5, &mut out);
        }
        (out, d)
    }

    fn get<'a>(e: &'a Event, path: &str) -> Option<&'a Value> {
        e.get(&FieldPath::parse(path).unwrap())
    }

    fn message(e: &Emitted) -> &str {
        e.event
            .message()
            .map(|m| std::str::from_utf8(m).unwrap())
            .unwrap()
    }

    #[test]
    fn cri_lines_join_per_stream_and_hold_the_checkpoint() {
        let input = b"2026-11-24T10:00:00Z stdout P hel\n\
2026-11-24T10:00:01Z stderr F err line\n\
2026-11-24T10:00:02Z stdout F lo\n";
        let (out, _) = decode(
            shared(Format::Cri, None),
            "/var/log/pods/shop_cart-1_0f9c/cart/0.log",
            input,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(message(&out[0]), "err line");
        assert_eq!(
            get(&out[0].event, "log.iostream").unwrap().as_str(),
            Some("stderr")
        );
        // The stdout line started at 0 and is not complete: the stderr event may not move
        // the checkpoint past it.
        assert_eq!(out[0].checkpoint, 0);
        assert_eq!(message(&out[1]), "hello");
        assert_eq!(out[1].checkpoint, input.len() as u64);
        assert_eq!(
            out[1].event.timestamp(),
            crate::time::parse_rfc3339(b"2026-11-24T10:00:00Z")
        );
        assert_eq!(out[1].event.meta.origin.unwrap().offset, 0);
        let e = &out[1].event;
        assert_eq!(
            get(e, "kubernetes.namespace").unwrap().as_str(),
            Some("shop")
        );
        assert_eq!(
            get(e, "kubernetes.pod.name").unwrap().as_str(),
            Some("cart-1")
        );
        assert_eq!(get(e, "kubernetes.pod.uid").unwrap().as_str(), Some("0f9c"));
        assert_eq!(
            get(e, "kubernetes.container.name").unwrap().as_str(),
            Some("cart")
        );
        assert_eq!(get(e, "host.name").unwrap().as_str(), Some("node-1"));
        assert_eq!(
            get(e, "log.file.path").unwrap().as_str(),
            Some("/var/log/pods/shop_cart-1_0f9c/cart/0.log")
        );
    }

    #[test]
    fn bad_input_is_tagged_not_dropped() {
        let mut input = b"2026-11-24T10:00:00Z stdout F ok\nnot a cri line\n".to_vec();
        input.extend_from_slice(b"2026-11-24T10:00:00Z stdout F bad \xff utf8\n");
        input.extend_from_slice(b"2026-11-24T10:00:00Z stdout F ");
        input.extend_from_slice(&[b'x'; 100]);
        input.push(b'\n');
        let sh = shared(Format::Cri, None);
        let (out, _) = decode(sh.clone(), "/x/a.log", &input);
        assert_eq!(out.len(), 4);
        assert!(out[1].event.has_tag("format_error"));
        assert_eq!(message(&out[1]), "not a cri line");
        assert!(out[2].event.has_tag("invalid_utf8"));
        assert!(out[3].event.has_tag("truncated"));
        assert_eq!(FileSourceCounters::get(&sh.counters.format_errors), 1);
        assert_eq!(FileSourceCounters::get(&sh.counters.lines_truncated), 1);
    }

    #[test]
    fn multiline_checkpoints_at_the_last_line() {
        let input = b"start one\n  cont a\n  cont b\nstart two\n";
        let (out, mut d) = decode(shared(Format::Raw, Some(r"^\S")), "/x/a.log", input);
        assert_eq!(out.len(), 1);
        assert_eq!(message(&out[0]), "start one\n  cont a\n  cont b");
        assert_eq!(out[0].checkpoint, 28);
        assert!(d.has_pending());
        let mut rest = Vec::new();
        d.flush_all(Instant::now(), &mut rest);
        assert_eq!(message(&rest[0]), "start two");
        assert_eq!(rest[0].checkpoint, input.len() as u64);
    }

    #[test]
    fn docker_and_auto_detection() {
        let input = br#"{"log":"part ","stream":"stdout","time":"2026-11-24T10:00:00Z"}
{"log":"one\n","stream":"stdout","time":"2026-11-24T10:00:01Z"}
"#;
        let (out, d) = decode(shared(Format::Auto, None), "/x/a.log", input);
        assert_eq!(d.format(), Format::Docker);
        assert_eq!(out.len(), 1);
        assert_eq!(message(&out[0]), "part one");
    }
}
