//! The disk buffer: append-only, checksummed segment files between a sink's input and the
//! sink, replayed after a restart. See `DESIGN.md` beside this file for the invariants.
//!
//! Three workers share one [`Shared`] state:
//! - the **writer** (a blocking thread) takes batches from the sink's input channel, appends
//!   them as records to the current segment, `fsync`s, and only then finishes the events as
//!   delivered: from here on the buffer owns them;
//! - the **reader** (a blocking thread) reads committed records back incrementally (never a
//!   whole segment in memory), decodes them into batches with fresh finalizers, and sends them
//!   to the sink;
//! - the **acker** (a task) awaits those batches' outcomes in order, moves the acknowledged
//!   position forward, persists it, and deletes segments that are wholly acknowledged, which
//!   frees space for a writer waiting under `when_full = "block"`.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::WhenFull;
use crate::codec::binary;
use crate::event::EventBatch;
use crate::finalization::{
    BatchNotifier, BatchStatus, BatchStatusReceiver, EventFinalizer, EventStatus,
};
use crate::topology::{BatchReceiver, BatchSender, MAX_BATCH_EVENTS};

/// A segment is closed and a new one started past this size (or a quarter of the buffer's
/// size when that is smaller, so that deleting wholly acknowledged segments keeps the files
/// on disk within about 1.25 × `max_bytes`).
const MAX_SEGMENT_BYTES: u64 = 8 * 1024 * 1024;
/// Record header: payload length and CRC-32 of the payload, both `u32` little endian.
const HEADER_BYTES: usize = 8;
/// A record longer than this is corrupt (no event encodes that large).
const MAX_RECORD_BYTES: usize = 256 * 1024 * 1024;
const ACK_FILE: &str = "ack.json";

/// The disk buffer could not start.
#[derive(Debug, thiserror::Error)]
#[error("disk buffer {dir}: {source}")]
pub struct DiskBufferError {
    dir: PathBuf,
    source: std::io::Error,
}

/// A position in the buffer: the next record to deliver.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Position {
    segment: u64,
    offset: u64,
}

#[derive(Debug)]
struct State {
    /// Segment id -> committed (fsynced) length.
    segments: BTreeMap<u64, u64>,
    /// Bytes of records written and not yet acknowledged by the sink: what `max_bytes`
    /// bounds.
    unacked_bytes: u64,
    writer_done: bool,
    /// The reader stopped (sink gone): the writer must not wait for space any more.
    reader_done: bool,
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    id: String,
    max_bytes: u64,
    segment_bytes: u64,
    state: Mutex<State>,
    data_ready: Condvar,
    space_freed: Condvar,
    discarded: metrics::Counter,
    corrupt: metrics::Counter,
    byte_size: metrics::Gauge,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a worker panicked; the state itself is still consistent
        // (every update is a single assignment), so keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

/// Counters of a finished buffer, for tests and the closing log line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DiskBufferReport {
    pub written_events: u64,
    pub discarded_events: u64,
    pub corrupt_records: u64,
    pub replayed_events: u64,
}

/// A running disk buffer.
pub struct DiskBuffer {
    workers: Vec<tokio::task::JoinHandle<WorkerReport>>,
}

#[derive(Debug, Default)]
struct WorkerReport {
    written: u64,
    discarded: u64,
    corrupt: u64,
    read: u64,
}

impl DiskBuffer {
    /// Opens (or creates) the buffer in `dir`, takes over `input`, and returns the receiver
    /// the sink reads from.
    pub fn start(
        dir: PathBuf,
        id: &str,
        max_bytes: u64,
        when_full: WhenFull,
        input: BatchReceiver,
    ) -> Result<(DiskBuffer, BatchReceiver), DiskBufferError> {
        let err = |source| DiskBufferError {
            dir: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(err)?;
        let ack = read_ack(&dir, id);
        let mut segments = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).map_err(err)? {
            let entry = entry.map_err(err)?;
            let name = entry.file_name();
            let Some(seg) = name.to_str().and_then(|n| n.strip_suffix(".seg")) else {
                continue;
            };
            let Ok(seg_id) = seg.parse::<u64>() else {
                continue;
            };
            if seg_id < ack.segment {
                // Wholly acknowledged before the last stop.
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            let len = entry.metadata().map_err(err)?.len();
            segments.insert(seg_id, len);
        }
        let first_write_segment = segments.keys().next_back().map_or(ack.segment, |l| l + 1);
        let start = match segments.keys().next() {
            Some(&first) if first > ack.segment => Position {
                segment: first,
                offset: 0,
            },
            _ => ack,
        };
        let replay_bytes: u64 = segments
            .iter()
            .map(|(s, len)| {
                if *s == start.segment {
                    len.saturating_sub(start.offset)
                } else {
                    *len
                }
            })
            .sum();
        if replay_bytes > 0 {
            tracing::info!(component_id = %id, bytes = replay_bytes, segments = segments.len(), "disk buffer replays events stored before the restart");
        }
        let labels = [("component_id", id.to_string())];
        let shared = Arc::new(Shared {
            dir: dir.clone(),
            id: id.to_string(),
            max_bytes: max_bytes.max(1024 * 1024),
            segment_bytes: (max_bytes / 4).clamp(256 * 1024, MAX_SEGMENT_BYTES),
            state: Mutex::new(State {
                segments,
                unacked_bytes: replay_bytes,
                writer_done: false,
                reader_done: false,
            }),
            data_ready: Condvar::new(),
            space_freed: Condvar::new(),
            discarded: metrics::counter!("logweir_buffer_discarded_events_total", &labels),
            corrupt: metrics::counter!("logweir_buffer_corrupt_records_total", &labels),
            byte_size: metrics::gauge!("logweir_buffer_byte_size", &labels),
        });
        shared.byte_size.set(replay_bytes as f64);
        let (sink_tx, sink_rx) = crate::topology::channel::channel(2);
        let (ack_tx, ack_rx) = mpsc::channel(64);
        let writer = {
            let shared = Arc::clone(&shared);
            tokio::task::spawn_blocking(move || {
                write_loop(&shared, input, first_write_segment, when_full)
            })
        };
        let reader = {
            let shared = Arc::clone(&shared);
            tokio::task::spawn_blocking(move || read_loop(&shared, start, sink_tx, ack_tx))
        };
        let acker = tokio::spawn(ack_loop(Arc::clone(&shared), ack_rx));
        Ok((
            DiskBuffer {
                workers: vec![writer, reader, acker],
            },
            sink_rx,
        ))
    }

    /// Waits for the writer, reader and acker to finish (after the sink has finished).
    pub async fn join(self) -> DiskBufferReport {
        let mut report = DiskBufferReport::default();
        for w in self.workers {
            if let Ok(r) = w.await {
                report.written_events += r.written;
                report.discarded_events += r.discarded;
                report.corrupt_records += r.corrupt;
                report.replayed_events += r.read;
            }
        }
        report
    }
}

fn read_ack(dir: &Path, id: &str) -> Position {
    let path = dir.join(ACK_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(component_id = %id, path = %path.display(), error = %e, "disk buffer acknowledgement file is corrupt; replaying every stored segment");
            Position::default()
        }),
        Err(_) => Position::default(),
    }
}

fn write_ack(dir: &Path, pos: Position) -> std::io::Result<()> {
    let tmp = dir.join("ack.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&pos).unwrap_or_default())?;
    // Not fsynced: losing the newest acknowledgement only replays (at-least-once), while
    // segment data itself is always fsynced before it is acknowledged upstream.
    std::fs::rename(&tmp, dir.join(ACK_FILE))
}

fn write_loop(
    shared: &Shared,
    mut input: BatchReceiver,
    first_segment: u64,
    when_full: WhenFull,
) -> WorkerReport {
    let mut report = WorkerReport::default();
    let mut segment_id = first_segment;
    let mut file: Option<File> = None;
    let mut segment_len: u64 = 0;
    let mut buf = Vec::with_capacity(1 << 20);
    let mut record = Vec::with_capacity(4096);
    while let Some(mut batch) = input.blocking_recv() {
        buf.clear();
        for event in &batch.events {
            record.clear();
            binary::encode_event(&mut record, event);
            buf.extend_from_slice(&(record.len() as u32).to_le_bytes());
            buf.extend_from_slice(&crc32fast::hash(&record).to_le_bytes());
            buf.extend_from_slice(&record);
        }
        let need = buf.len() as u64;
        // Room check: a batch bigger than the whole buffer still goes into an empty one.
        {
            let mut state = shared.lock();
            let mut drop_batch = false;
            while state.unacked_bytes > 0
                && state.unacked_bytes + need > shared.max_bytes
                && !state.reader_done
            {
                if when_full == WhenFull::DropNewest {
                    drop_batch = true;
                    break;
                }
                state = shared
                    .space_freed
                    .wait_timeout(state, Duration::from_millis(100))
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
            if drop_batch {
                drop(state);
                report.discarded += batch.len() as u64;
                shared.discarded.increment(batch.len() as u64);
                batch.finish(EventStatus::Dropped);
                continue;
            }
        }
        if file.is_none() || segment_len + need > shared.segment_bytes && segment_len > 0 {
            if file.is_some() {
                segment_id += 1;
            }
            match OpenOptions::new()
                .create(true)
                .append(true)
                .open(segment_path(&shared.dir, segment_id))
            {
                Ok(f) => {
                    file = Some(f);
                    segment_len = 0;
                    shared.lock().segments.insert(segment_id, 0);
                }
                Err(e) => {
                    tracing::error!(component_id = %shared.id, error = %e, "cannot create a disk buffer segment");
                    batch.finish(EventStatus::Errored);
                    break;
                }
            }
        }
        let Some(f) = file.as_mut() else { break };
        if let Err(e) = f.write_all(&buf).and_then(|()| f.sync_data()) {
            tracing::error!(component_id = %shared.id, error = %e, "cannot write to the disk buffer");
            batch.finish(EventStatus::Errored);
            break;
        }
        segment_len += need;
        {
            let mut state = shared.lock();
            state.segments.insert(segment_id, segment_len);
            state.unacked_bytes += need;
            shared.byte_size.set(state.unacked_bytes as f64);
        }
        shared.data_ready.notify_all();
        report.written += batch.len() as u64;
        // Durable on disk: the buffer owns these events now.
        batch.finish(EventStatus::Delivered);
    }
    shared.lock().writer_done = true;
    shared.data_ready.notify_all();
    report
}

/// Reads one record at the reader's position; `Ok(None)` means a corrupt record.
fn read_record(
    reader: &mut BufReader<File>,
    available: u64,
) -> std::io::Result<Option<(Bytes, u64)>> {
    if available < HEADER_BYTES as u64 {
        return Ok(None);
    }
    let mut header = [0u8; HEADER_BYTES];
    reader.read_exact(&mut header)?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len > MAX_RECORD_BYTES || (HEADER_BYTES + len) as u64 > available {
        return Ok(None);
    }
    let mut payload = vec![0u8; len];
    reader.read_exact(&mut payload)?;
    if crc32fast::hash(&payload) != crc {
        return Ok(None);
    }
    Ok(Some((Bytes::from(payload), (HEADER_BYTES + len) as u64)))
}

struct PendingAck {
    end: Position,
    /// Bytes of the batch's records (and of corrupt records skipped before them).
    bytes: u64,
    receiver: BatchStatusReceiver,
}

fn read_loop(
    shared: &Shared,
    start: Position,
    sink: BatchSender,
    acks: mpsc::Sender<PendingAck>,
) -> WorkerReport {
    let mut report = WorkerReport::default();
    let mut pos = start;
    let mut reader: Option<BufReader<File>> = None;
    loop {
        // Where can we read up to?
        let committed = {
            let mut state = shared.lock();
            loop {
                let committed = state.segments.get(&pos.segment).copied();
                match committed {
                    Some(c) if c > pos.offset => break Some(c),
                    _ => {}
                }
                if let Some((&next, _)) = state.segments.range(pos.segment + 1..).next() {
                    pos = Position {
                        segment: next,
                        offset: 0,
                    };
                    reader = None;
                    continue;
                }
                if state.writer_done {
                    break None;
                }
                state = shared
                    .data_ready
                    .wait_timeout(state, Duration::from_millis(100))
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
        };
        let Some(committed) = committed else { break };
        if reader.is_none() {
            let opened = File::open(segment_path(&shared.dir, pos.segment)).and_then(|mut f| {
                f.seek(SeekFrom::Start(pos.offset))?;
                Ok(BufReader::with_capacity(256 * 1024, f))
            });
            match opened {
                Ok(r) => reader = Some(r),
                Err(e) => {
                    tracing::error!(component_id = %shared.id, segment = pos.segment, error = %e, "cannot open a disk buffer segment; skipping it");
                    report.corrupt += 1;
                    shared.corrupt.increment(1);
                    pos.offset = committed;
                    continue;
                }
            }
        }
        let Some(r) = reader.as_mut() else { continue };
        let (notifier, receiver) = BatchNotifier::new();
        let mut events = Vec::new();
        let batch_start = pos.offset;
        let batch_segment = pos.segment;
        while events.len() < MAX_BATCH_EVENTS && pos.offset < committed {
            match read_record(r, committed - pos.offset) {
                Ok(Some((payload, used))) => match binary::decode_event(&payload) {
                    Ok(mut event) => {
                        event.meta.finalizer = Some(EventFinalizer::new(Arc::clone(&notifier)));
                        events.push(event);
                        pos.offset += used;
                    }
                    Err(e) => {
                        tracing::warn!(component_id = %shared.id, segment = pos.segment, offset = pos.offset, error = %e, "undecodable record in the disk buffer; skipped");
                        report.corrupt += 1;
                        shared.corrupt.increment(1);
                        pos.offset += used;
                    }
                },
                Ok(None) | Err(_) => {
                    // A torn or corrupt record: nothing after it in this segment can be
                    // trusted to be framed correctly, so skip to the segment's end.
                    tracing::warn!(component_id = %shared.id, segment = pos.segment, offset = pos.offset, "corrupt record in the disk buffer; skipping the rest of the segment");
                    report.corrupt += 1;
                    shared.corrupt.increment(1);
                    pos.offset = committed;
                    reader = None;
                    break;
                }
            }
        }
        drop(notifier);
        let bytes = if pos.segment == batch_segment {
            pos.offset - batch_start
        } else {
            0
        };
        if events.is_empty() {
            // Only corrupt records: release their space at once.
            if bytes > 0 {
                release(shared, bytes);
            }
            continue;
        }
        report.read += events.len() as u64;
        if acks
            .blocking_send(PendingAck {
                end: pos,
                bytes,
                receiver,
            })
            .is_err()
        {
            break;
        }
        if sink.blocking_send(EventBatch::new(events)).is_err() {
            break;
        }
    }
    shared.lock().reader_done = true;
    shared.space_freed.notify_all();
    report
}

/// Gives `bytes` of the buffer's budget back and wakes a writer waiting for room.
fn release(shared: &Shared, bytes: u64) {
    let mut state = shared.lock();
    state.unacked_bytes = state.unacked_bytes.saturating_sub(bytes);
    shared.byte_size.set(state.unacked_bytes as f64);
    drop(state);
    shared.space_freed.notify_all();
}

async fn ack_loop(shared: Arc<Shared>, mut pending: mpsc::Receiver<PendingAck>) -> WorkerReport {
    let mut failed = false;
    while let Some(p) = pending.recv().await {
        match p.receiver.await {
            BatchStatus::Delivered if !failed => {
                let acked = p.end;
                {
                    let mut state = shared.lock();
                    let done: Vec<u64> = state
                        .segments
                        .range(..acked.segment)
                        .map(|(s, _)| *s)
                        .collect();
                    for s in done {
                        state.segments.remove(&s);
                        let _ = std::fs::remove_file(segment_path(&shared.dir, s));
                    }
                }
                release(&shared, p.bytes);
                if let Err(e) = write_ack(&shared.dir, acked) {
                    tracing::warn!(component_id = %shared.id, error = %e, "cannot persist the disk buffer position; events may be replayed after a restart");
                }
            }
            BatchStatus::Delivered => {}
            BatchStatus::Failed => {
                if !failed {
                    tracing::warn!(component_id = %shared.id, "the sink did not deliver a batch from the disk buffer; it stays buffered and is replayed after a restart");
                }
                failed = true;
            }
        }
    }
    WorkerReport::default()
}
