//! The running file source: a reader thread that discovers, reads and batches files, and an
//! acknowledgement tracker that turns delivered batches into checkpoints.
//!
//! The reader runs on a blocking thread (file I/O never stalls the async workers). It owns
//! every [`TailedFile`], the descriptor cap (`max_open_files`: files beyond it wait in a
//! queue; idle files give their descriptor up when others wait), round-robin reading with a
//! per-file byte budget, rotation handling and batching. Sending blocks the thread when the
//! pipeline is full: that is the backpressure, reading simply stops.
//!
//! The tracker runs on the async side. For every sent batch it holds the batch's status
//! receiver and, per file, an ordered queue of the checkpoint offsets the batch would allow.
//! A file's checkpoint only moves to the offset of a queue entry once that entry and every
//! one before it came back delivered; a failed batch freezes the file's checkpoint (a
//! restart reads again from there). See `DESIGN.md`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::checkpoint::{self, Checkpoint, Claim, Loaded, Unclaimed};
use super::config::{FileSourceConfig, ReadFrom};
use super::discovery::{ChangeFeed, FsChange, PathPatterns};
use super::fingerprint::{self, FileId, FileIdentity, Fingerprint};
use super::reader::{Emitted, FileSourceCounters, ObservedSize, ReadOutcome, Shared, TailedFile};
use crate::event::{Event, EventBatch, Value};
use crate::finalization::{BatchNotifier, BatchStatus, BatchStatusReceiver, EventFinalizer};
use crate::internal_metrics::FileSourceMetrics;
use crate::topology::{ComponentError, ComponentFuture, Output, SourceContext};

/// Bound of the reader → tracker message channel.
const ACK_CHANNEL_CAPACITY: usize = 1024;
/// After shutdown, how long a blocked send may wait before the reader gives up on it.
const SEND_GIVE_UP: Duration = Duration::from_secs(10);
/// Least time between two rescans asked for by inotify (overflow, new directories).
const MIN_RESCAN_INTERVAL: Duration = Duration::from_millis(100);
/// Longest idle wait of the reader.
const MAX_IDLE_WAIT: Duration = Duration::from_secs(1);
/// How long a batch that is not full waits for more lines before it is sent. A file written
/// line by line wakes the reader once per write; sending each wake's few lines as a batch
/// costs a channel hand-off and an acknowledgement per line and fills the bound of
/// unacknowledged batches long before the sink's batch is full (latency then follows the
/// sink's batch timeout instead of its size).
const BATCH_LINGER: Duration = Duration::from_millis(50);
/// After catching up with every file, how long the reader lets new writes gather once woken.
const READ_COALESCE: Duration = Duration::from_millis(20);
/// Most events in one batch of this source (below [`crate::topology::MAX_BATCH_EVENTS`]).
/// Each batch is a hand-off between threads at every stage: 512 lines (~200 KiB of text)
/// ran the file → Elasticsearch pipeline 7% faster than 256 (fewer stalls between stages;
/// BENCHMARKS.md), at +8 MiB peak memory; 1024 measured 10% more CPU (batches no longer
/// stay in the cache from one stage to the next) and 40% more peak memory.
const BATCH_EVENTS: usize = 512;
/// How often the tracker publishes `files_watched` and `bytes_behind`.
const METRICS_INTERVAL: Duration = Duration::from_secs(1);

pub(super) fn build(
    config: FileSourceConfig,
    ctx: SourceContext,
) -> Result<ComponentFuture, String> {
    let patterns = PathPatterns::new(&config.include, &config.exclude)?;
    let multiline = config.multiline_config()?;
    let shared = Arc::new(Shared {
        component_id: ctx.id.clone(),
        counters: FileSourceCounters::default(),
        host: Value::from(host_name()),
        format: config.format,
        max_line_bytes: config.max_line_bytes.max(1),
        partial_line_timeout: Duration::from_millis(config.partial_line_timeout_ms),
        multiline,
    });
    Ok(Box::pin(run(config, patterns, shared, ctx)))
}

/// The node's name for `host.name`: `NODE_NAME` (set from the downward API in a
/// DaemonSet, where `HOSTNAME` is the pod's name), `HOSTNAME`, then the kernel's.
fn host_name() -> String {
    for var in ["NODE_NAME", "HOSTNAME"] {
        if let Ok(v) = std::env::var(var) {
            if !v.trim().is_empty() {
                return v.trim().to_string();
            }
        }
    }
    for file in ["/proc/sys/kernel/hostname", "/etc/hostname"] {
        if let Ok(v) = std::fs::read_to_string(file) {
            if !v.trim().is_empty() {
                return v.trim().to_string();
            }
        }
    }
    "unknown".to_string()
}

async fn run(
    config: FileSourceConfig,
    patterns: PathPatterns,
    shared: Arc<Shared>,
    ctx: SourceContext,
) -> Result<(), ComponentError> {
    let dir = ctx.data_dir.join(&ctx.id);
    if !ctx.acknowledgements {
        tracing::info!(component_id = %ctx.id, "no sink downstream acknowledges deliveries (acknowledgements = false); checkpoints follow what the pipeline has taken, so a crash can lose events in flight");
    }
    let unclaimed = load_checkpoints(&dir, &shared).await;
    let (ack_tx, ack_rx) = mpsc::channel(ACK_CHANNEL_CAPACITY);
    let semaphore = Arc::new(Semaphore::new(config.max_unacked_batches.max(1)));
    let feed = ChangeFeed::start(&ctx.id, &patterns, !config.exit_on_eof);
    let waker = feed.waker();
    let shutdown = ctx.shutdown.clone();
    let wake_on_shutdown = tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            shutdown.cancelled().await;
            let _ = waker.try_send(FsChange::Wake);
        }
    });
    let checkpoint_interval = Duration::from_millis(config.checkpoint_interval_ms.max(1));
    let ack_timeout = Duration::from_millis(config.ack_timeout_ms);
    let reader = Reader {
        max_open_files: config.max_open_files.max(1),
        max_read_bytes: config.max_read_bytes.max(1),
        glob_interval: Duration::from_millis(config.glob_interval_ms.max(1)),
        rotate_wait: Duration::from_millis(config.rotate_wait_ms),
        config,
        patterns,
        feed,
        shared: Arc::clone(&shared),
        files: HashMap::new(),
        by_id: HashMap::new(),
        by_path: HashMap::new(),
        unstable: HashSet::new(),
        open: Vec::new(),
        waiting: VecDeque::new(),
        unclaimed,
        initial_scan_done: false,
        next_key: 0,
        batch: Vec::with_capacity(BATCH_EVENTS),
        batch_started: None,
        batch_files: Vec::new(),
        scratch: Vec::new(),
        output: Some(ctx.output),
        acknowledgements: ctx.acknowledgements,
        ack_tx,
        semaphore,
        handle: Handle::current(),
        shutdown: shutdown.clone(),
        last_rescan: Instant::now(),
    };
    let tracker = AckTracker {
        dir,
        shared: Arc::clone(&shared),
        files: HashMap::new(),
        batches: HashMap::new(),
        next_batch: 0,
        dirty: false,
        metrics: FileSourceMetrics::new(&ctx.id),
    };
    let reader_task = tokio::task::spawn_blocking(move || reader.run());
    let tracked = tracker.run(ack_rx, checkpoint_interval, ack_timeout).await;
    wake_on_shutdown.abort();
    let read = reader_task
        .await
        .map_err(|e| ComponentError::new(format!("file reader thread: {e}")))?;
    let c = &shared.counters;
    tracing::info!(
        component_id = %ctx.id,
        events = FileSourceCounters::get(&c.events),
        bytes = FileSourceCounters::get(&c.bytes),
        lines_truncated = FileSourceCounters::get(&c.lines_truncated),
        invalid_utf8 = FileSourceCounters::get(&c.invalid_utf8),
        format_errors = FileSourceCounters::get(&c.format_errors),
        partial_lines_flushed = FileSourceCounters::get(&c.partial_lines_flushed),
        files_rotated = FileSourceCounters::get(&c.files_rotated),
        files_truncated = FileSourceCounters::get(&c.files_truncated),
        truncated_copies_read = FileSourceCounters::get(&c.truncated_copies_read),
        inode_reused = FileSourceCounters::get(&c.inode_reused),
        checkpoints_corrupt = FileSourceCounters::get(&c.checkpoints_corrupt),
        batches_failed = FileSourceCounters::get(&c.batches_failed),
        read_errors = FileSourceCounters::get(&c.read_errors),
        "file source finished"
    );
    read?;
    tracked
}

async fn load_checkpoints(dir: &Path, shared: &Shared) -> Unclaimed {
    let d = dir.to_path_buf();
    let loaded = tokio::task::spawn_blocking(move || checkpoint::load(&d)).await;
    let id = &shared.component_id;
    match loaded {
        Ok(Ok(Loaded::Missing)) => {
            tracing::info!(component_id = %id, dir = %dir.display(), "no checkpoints yet");
            Unclaimed::default()
        }
        Ok(Ok(Loaded::Valid(list))) => {
            tracing::info!(component_id = %id, files = list.len(), "checkpoints loaded");
            Unclaimed::new(list)
        }
        Ok(Ok(Loaded::Corrupt { reason, moved_to })) => {
            let n = FileSourceCounters::bump(&shared.counters.checkpoints_corrupt);
            tracing::warn!(
                component_id = %id,
                reason = %reason,
                moved_to = %moved_to.as_deref().map(|p| p.display().to_string()).unwrap_or_default(),
                total = n,
                "checkpoint file is corrupt; starting without checkpoints (files are read according to read_from)"
            );
            Unclaimed::default()
        }
        Ok(Err(e)) => {
            let n = FileSourceCounters::bump(&shared.counters.checkpoints_corrupt);
            tracing::warn!(component_id = %id, error = %e, total = n, "cannot read the checkpoint file; starting without checkpoints");
            Unclaimed::default()
        }
        Err(e) => {
            tracing::warn!(component_id = %id, error = %e, "checkpoint loading failed; starting without checkpoints");
            Unclaimed::default()
        }
    }
}

/// What the reader tells the tracker, in order.
enum AckMsg {
    /// A file is being read from `offset` (its initial checkpoint); `size` is where the
    /// reader publishes its last known size.
    Track {
        key: u64,
        identity: FileIdentity,
        path: PathBuf,
        offset: u64,
        size: Arc<ObservedSize>,
    },
    /// The file's identity changed (reading continues in its rotated copy) or its path did.
    Moved {
        key: u64,
        identity: FileIdentity,
        path: PathBuf,
    },
    /// A batch was sent; per file, the checkpoint its delivery allows.
    Batch {
        receiver: BatchStatusReceiver,
        permit: Option<OwnedSemaphorePermit>,
        files: Vec<(u64, u64)>,
    },
    /// The reader is done with the file. `forget`: the file is gone (rotated away,
    /// deleted), drop its checkpoint once its batches are acknowledged.
    Release { key: u64, forget: bool },
}

struct Reader {
    config: FileSourceConfig,
    max_open_files: usize,
    max_read_bytes: usize,
    glob_interval: Duration,
    rotate_wait: Duration,
    patterns: PathPatterns,
    feed: ChangeFeed,
    shared: Arc<Shared>,
    files: HashMap<u64, TailedFile>,
    by_id: HashMap<FileId, u64>,
    by_path: HashMap<PathBuf, u64>,
    /// Matching files whose first line is not complete yet (no stable fingerprint).
    unstable: HashSet<PathBuf>,
    /// Files holding a descriptor, in reading order.
    open: Vec<u64>,
    /// Files waiting for a descriptor.
    waiting: VecDeque<u64>,
    unclaimed: Unclaimed,
    initial_scan_done: bool,
    next_key: u64,
    batch: Vec<Event>,
    /// When the first event of the batch being built was read.
    batch_started: Option<Instant>,
    /// `(file, checkpoint)` runs of the batch being built.
    batch_files: Vec<(u64, u64)>,
    scratch: Vec<Emitted>,
    output: Option<Output>,
    /// Some sink downstream acknowledges deliveries: events carry finalizers and
    /// checkpoints wait for them. Otherwise a checkpoint follows what the pipeline took.
    acknowledgements: bool,
    ack_tx: mpsc::Sender<AckMsg>,
    semaphore: Arc<Semaphore>,
    handle: Handle,
    shutdown: CancellationToken,
    last_rescan: Instant,
}

impl Reader {
    fn run(mut self) -> Result<(), ComponentError> {
        let result = self.run_loop();
        // Whatever ended the loop, send what is built; the tracker then drains.
        let sent = self.send_batch();
        // Nothing more comes from this source: the pipeline may drain and flush now, while
        // the tracker waits for the last acknowledgements.
        if let Some(output) = self.output.take() {
            output.close();
        }
        result.and(sent)
    }

    fn run_loop(&mut self) -> Result<(), ComponentError> {
        let now = Instant::now();
        self.rescan(now);
        self.initial_scan_done = true;
        let pruned = self.unclaimed.clear();
        if pruned > 0 {
            tracing::info!(component_id = %self.shared.component_id, checkpoints = pruned, "dropped checkpoints of files that no longer exist or no longer match");
        }
        tracing::info!(component_id = %self.shared.component_id, files = self.files.len(), "file source started");
        loop {
            if self.shutdown.is_cancelled() {
                return Ok(());
            }
            let now = Instant::now();
            // With `exit_on_eof` the files are the ones matched at start: a released file
            // must not be found again.
            let mut rescan =
                !self.config.exit_on_eof && now >= self.last_rescan + self.glob_interval;
            while let Some(change) = self.feed.try_next() {
                rescan |= self.on_change(change, now);
            }
            if rescan {
                self.rescan(now);
            }
            self.schedule();
            let read_any = self.read_round()?;
            let now = Instant::now();
            self.flush_timeouts(now)?;
            self.release_rotated(now)?;
            if self
                .batch_started
                .is_some_and(|started| now >= started + BATCH_LINGER)
            {
                self.send_batch()?;
            }
            if self.config.exit_on_eof && self.files.is_empty() {
                tracing::info!(component_id = %self.shared.component_id, "every file read to its end");
                return Ok(());
            }
            if !read_any {
                let wait = self.idle_wait(now);
                if let Some(change) = self.feed.next(wait) {
                    if self.on_change(change, Instant::now()) {
                        self.rescan(Instant::now());
                    }
                    // Caught up, and something changed: a file written line by line wakes
                    // us per write. Letting the writes gather for a moment makes one read
                    // (and one batch) of many lines instead of a read per line.
                    if !self.shutdown.is_cancelled() {
                        std::thread::sleep(READ_COALESCE);
                    }
                }
            }
        }
    }

    /// Handles one inotify change; returns whether a rescan is wanted.
    fn on_change(&mut self, change: FsChange, now: Instant) -> bool {
        match change {
            FsChange::Rescan => now >= self.last_rescan + MIN_RESCAN_INTERVAL,
            FsChange::Wake => false,
            FsChange::Modified(path) => {
                match self.by_path.get(&path).copied() {
                    // An open file is read every round anyway; a parked one wants a slot.
                    Some(key) => self.enqueue_if_parked(key),
                    None if self.unstable.contains(&path) => self.discover(&path, now),
                    None => {}
                }
                false
            }
            FsChange::Renamed { from, to } => {
                self.on_rename(&from, &to, now);
                false
            }
            FsChange::Path(path) => {
                if let Some(key) = self.by_path.get(&path).copied() {
                    self.check_tracked_path(key, now);
                }
                if !self.by_path.contains_key(&path) && self.patterns.matches(&path) {
                    self.discover(&path, now);
                }
                false
            }
        }
    }

    /// A rename seen by inotify. Besides renames of tracked files, this catches files that
    /// were created and rotated away (renamed to a name not matched) before the reader got
    /// to them: they are read under their original name, to their end.
    fn on_rename(&mut self, from: &Path, to: &Path, now: Instant) {
        let Ok(meta) = std::fs::metadata(to) else {
            return;
        };
        let id = FileId::of(&meta);
        if let Some(&key) = self.by_id.get(&id) {
            if self.patterns.matches(to) {
                self.renamed_into_view(key, to);
            } else if self.files.get(&key).is_some_and(|f| f.path == from) {
                self.mark_rotated(key, now);
            }
        } else if self.patterns.matches(from) && !self.patterns.matches(to) {
            self.discover_at(to, from, true, now);
        }
        // What the old name leads to now is checked as usual.
        if let Some(key) = self.by_path.get(from).copied() {
            self.check_tracked_path(key, now);
        }
        if !self.by_path.contains_key(from) && self.patterns.matches(from) {
            self.discover(from, now);
        }
        if !self.by_path.contains_key(to) && self.patterns.matches(to) {
            self.discover(to, now);
        }
    }

    fn enqueue_if_parked(&mut self, key: u64) {
        if let Some(f) = self.files.get_mut(&key) {
            if !f.is_open() && !f.queued {
                f.queued = true;
                self.waiting.push_back(key);
            }
        }
    }

    /// Whether the tracked path still leads to its file; marks it rotated if not.
    fn check_tracked_path(&mut self, key: u64, now: Instant) {
        let Some(f) = self.files.get(&key) else {
            return;
        };
        match std::fs::metadata(&f.path) {
            Ok(meta) if FileId::of(&meta) == f.identity.id => {
                f.size.set(meta.len());
                if !f.is_open() && meta.len() != f.read_position() {
                    self.enqueue_if_parked(key);
                }
            }
            Ok(_) => self.mark_rotated(key, now),
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.mark_rotated(key, now),
            Err(_) => {}
        }
    }

    /// The file's path now leads elsewhere (renamed away, deleted, replaced).
    fn mark_rotated(&mut self, key: u64, now: Instant) {
        let Some(f) = self.files.get_mut(&key) else {
            return;
        };
        if self.by_path.get(&f.path) == Some(&key) {
            self.by_path.remove(&f.path);
        }
        if f.rotated_since.is_some() {
            return;
        }
        f.rotated_since = Some(now);
        FileSourceCounters::bump(&self.shared.counters.files_rotated);
        tracing::info!(component_id = %self.shared.component_id, path = %f.path.display(), offset = f.read_position(), "file renamed or deleted; reading it to its end before releasing it");
        if !f.is_open() {
            // A parked file cannot be followed to its new name: anything written to it
            // after it was parked (at its end) is not read.
            let had_unread = f.queued;
            let path = f.path.clone();
            if had_unread {
                tracing::warn!(component_id = %self.shared.component_id, path = %path.display(), "file rotated while waiting for a descriptor (max_open_files); its unread part is skipped");
            }
            self.release(key, true);
        }
    }

    /// Expands the patterns and reconciles with what is tracked.
    fn rescan(&mut self, now: Instant) {
        self.last_rescan = now;
        self.feed.watch_new_roots(&self.shared.component_id);
        let tracked: Vec<u64> = self.by_path.values().copied().collect();
        for key in tracked {
            self.check_tracked_path(key, now);
        }
        // Rotated files are not reachable by path: their descriptor tells their size.
        for key in &self.open {
            let f = &self.files[key];
            if f.rotated_since.is_some() {
                f.refresh_size();
            }
        }
        let found = self.patterns.scan();
        let found_set: HashSet<&PathBuf> = found.iter().collect();
        self.unstable.retain(|p| found_set.contains(p));
        for path in &found {
            if !self.by_path.contains_key(path) {
                self.discover(path, now);
            }
        }
    }

    /// A matching path not tracked under that name: a new file, a known file under a new
    /// name, or one whose first line is not complete yet.
    fn discover(&mut self, path: &Path, now: Instant) {
        self.discover_at(path, path, false, now);
    }

    /// [`Reader::discover`] of the file at `path`, whose events say they come from `label`
    /// (`rotated`: the file was renamed away from `label` before it was found).
    fn discover_at(&mut self, path: &Path, label: &Path, rotated: bool, now: Instant) {
        let Ok(meta) = std::fs::metadata(path) else {
            self.unstable.remove(path);
            return;
        };
        if !meta.is_file() {
            return;
        }
        let id = FileId::of(&meta);
        let Ok(file) = File::open(path) else {
            return;
        };
        if let Some(&key) = self.by_id.get(&id) {
            let f = &self.files[&key];
            // An open descriptor pins the inode: same inode is the same file. A parked file
            // may have been deleted and its inode reused: check the content.
            let same =
                f.is_open() || fingerprint::matches(&file, f.identity.fingerprint).unwrap_or(false);
            if same {
                self.renamed_into_view(key, path);
                return;
            }
            self.release(key, true);
        }
        // A rotated file will not grow: fingerprint whatever it holds.
        let fingerprint = match fingerprint::compute(&file, self.config.exit_on_eof || rotated) {
            Ok(Some(fp)) => fp,
            Ok(None) => {
                if !rotated {
                    self.unstable.insert(path.to_path_buf());
                }
                return;
            }
            Err(_) => return,
        };
        self.unstable.remove(path);
        let mut identity = FileIdentity { id, fingerprint };
        let size = meta.len();
        let offset = match self.unclaimed.claim(id, &file) {
            Ok(Claim::Resume(cp)) => {
                // The stored fingerprint names the file (events keep their origin).
                identity = cp.identity;
                if cp.offset > size {
                    tracing::warn!(component_id = %self.shared.component_id, path = %path.display(), offset = cp.offset, size, "checkpoint is ahead of the file (truncated while stopped?); reading from the beginning");
                    0
                } else {
                    tracing::debug!(component_id = %self.shared.component_id, path = %path.display(), offset = cp.offset, "resuming from checkpoint");
                    cp.offset
                }
            }
            Ok(Claim::InodeReused) => {
                let n = FileSourceCounters::bump(&self.shared.counters.inode_reused);
                tracing::info!(component_id = %self.shared.component_id, path = %path.display(), total = n, "inode reused by a new file (content differs from the checkpointed file); reading from the beginning");
                0
            }
            Ok(Claim::NotFound) | Err(_) => {
                if !self.initial_scan_done && self.config.read_from == ReadFrom::End {
                    size
                } else {
                    0
                }
            }
        };
        let key = self.next_key;
        self.next_key += 1;
        let mut tailed = TailedFile::new(
            key,
            label.to_path_buf(),
            identity,
            offset,
            size,
            Arc::clone(&self.shared),
        );
        if rotated {
            tailed.rotated_since = Some(now);
            tracing::info!(component_id = %self.shared.component_id, path = %label.display(), rotated_to = %path.display(), "file was rotated before it was read; reading it to its end");
        } else {
            tracing::debug!(component_id = %self.shared.component_id, path = %path.display(), offset, "tailing file");
        }
        self.tell(AckMsg::Track {
            key,
            identity,
            path: path.to_path_buf(),
            offset,
            size: Arc::clone(&tailed.size),
        });
        if self.open.len() < self.max_open_files && tailed.attach(file).is_ok() {
            self.open.push(key);
        } else {
            tailed.queued = true;
            self.waiting.push_back(key);
        }
        self.by_id.insert(id, key);
        if !rotated {
            self.by_path.insert(path.to_path_buf(), key);
        }
        self.files.insert(key, tailed);
    }

    /// A tracked file appeared under a matching name (renamed into view).
    fn renamed_into_view(&mut self, key: u64, path: &Path) {
        let Some(f) = self.files.get_mut(&key) else {
            return;
        };
        if self.by_path.get(&f.path) == Some(&key) {
            self.by_path.remove(&f.path);
        }
        f.path = path.to_path_buf();
        f.rotated_since = None;
        let identity = f.identity;
        self.by_path.insert(path.to_path_buf(), key);
        self.tell(AckMsg::Moved {
            key,
            identity,
            path: path.to_path_buf(),
        });
    }

    /// Gives descriptors to waiting files, taking them from idle ones if needed.
    fn schedule(&mut self) {
        if !self.waiting.is_empty() && self.open.len() >= self.max_open_files {
            let wanted = self.waiting.len();
            let mut parked = 0;
            let mut i = 0;
            while i < self.open.len() && parked < wanted {
                let key = self.open[i];
                let f = self.files.get_mut(&key).expect("open files are tracked");
                if f.at_eof && !f.has_pending() && f.rotated_since.is_none() {
                    f.park();
                    self.open.swap_remove(i);
                    parked += 1;
                } else {
                    i += 1;
                }
            }
        }
        while self.open.len() < self.max_open_files {
            let Some(key) = self.waiting.pop_front() else {
                break;
            };
            let Some(f) = self.files.get_mut(&key) else {
                continue;
            };
            f.queued = false;
            if f.is_open() {
                continue;
            }
            let opened = File::open(&f.path).and_then(|file| {
                let meta = file.metadata()?;
                let same = FileId::of(&meta) == f.identity.id
                    && fingerprint::matches(&file, f.identity.fingerprint)?;
                Ok(same.then_some(file))
            });
            match opened {
                Ok(Some(file)) => match f.attach(file) {
                    Ok(()) => self.open.push(key),
                    Err(_) => self.release(key, false),
                },
                // Replaced or gone while waiting: the new file is discovered on its own.
                Ok(None) | Err(_) => {
                    let path = f.path.clone();
                    self.release(key, true);
                    self.by_path.remove(&path);
                }
            }
        }
    }

    /// Reads every open file once, up to its budget. Returns whether anything was read.
    fn read_round(&mut self) -> Result<bool, ComponentError> {
        let mut any = false;
        let mut i = 0;
        while i < self.open.len() {
            let key = self.open[i];
            i += 1;
            let now = Instant::now();
            let f = self.files.get_mut(&key).expect("open files are tracked");
            let outcome = f.read(self.max_read_bytes, now, &mut self.scratch);
            self.drain_scratch(key)?;
            match outcome {
                Ok(ReadOutcome::Data(n)) => {
                    self.shared
                        .counters
                        .bytes
                        .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                    any = true;
                }
                Ok(ReadOutcome::Eof) => {
                    if self.config.exit_on_eof {
                        let f = self.files.get_mut(&key).expect("tracked");
                        f.flush_all(now, &mut self.scratch);
                        self.drain_scratch(key)?;
                        self.release(key, false);
                        i -= 1;
                    }
                }
                Ok(ReadOutcome::Truncated) => {
                    self.on_truncated(key, now)?;
                    i = i.min(self.open.len());
                }
                Err(e) => {
                    let n = FileSourceCounters::bump(&self.shared.counters.read_errors);
                    let path = self.files[&key].path.clone();
                    tracing::warn!(component_id = %self.shared.component_id, path = %path.display(), error = %e, total = n, "cannot read file; releasing it (it is found again at the next scan)");
                    self.send_batch()?;
                    self.release(key, false);
                    self.by_path.remove(&path);
                    i -= 1;
                }
            }
        }
        Ok(any)
    }

    /// The file at `key` was truncated: follow its content into the rotated copy if there
    /// is one, and read the path's new content from its beginning.
    fn on_truncated(&mut self, key: u64, now: Instant) -> Result<(), ComponentError> {
        let f = self.files.get_mut(&key).expect("tracked");
        let position = f.read_position();
        let path = f.path.clone();
        let old_id = f.identity.id;
        let n = FileSourceCounters::bump(&self.shared.counters.files_truncated);
        let copy = find_copy(&path, f.identity.fingerprint, position, &self.by_id);
        if self.by_id.get(&old_id) == Some(&key) {
            self.by_id.remove(&old_id);
        }
        if self.by_path.get(&path) == Some(&key) {
            self.by_path.remove(&path);
        }
        match copy {
            Some((copy_path, file, copy_id)) => {
                let identity = FileIdentity {
                    id: copy_id,
                    fingerprint: f.identity.fingerprint,
                };
                tracing::info!(component_id = %self.shared.component_id, path = %path.display(), copy = %copy_path.display(), offset = position, total = n, "file truncated (copytruncate); reading the rest of the old content from its copy");
                match f.replace(file, identity) {
                    Ok(()) => {
                        FileSourceCounters::bump(&self.shared.counters.truncated_copies_read);
                        f.rotated_since = Some(now);
                        self.by_id.insert(copy_id, key);
                        self.tell(AckMsg::Moved {
                            key,
                            identity,
                            path: copy_path,
                        });
                    }
                    Err(_) => self.release(key, true),
                }
            }
            None => {
                tracing::warn!(component_id = %self.shared.component_id, path = %path.display(), offset = position, total = n, "file truncated and no copy of its old content found; lines written after the last read may be lost; reading from the beginning");
                f.flush_all(now, &mut self.scratch);
                self.drain_scratch(key)?;
                self.send_batch()?;
                self.release(key, true);
            }
        }
        // The path's new content is a new file.
        self.discover(&path, now);
        Ok(())
    }

    fn flush_timeouts(&mut self, now: Instant) -> Result<(), ComponentError> {
        for i in 0..self.open.len() {
            let key = self.open[i];
            let f = self.files.get_mut(&key).expect("open files are tracked");
            if f.next_deadline(&self.shared).is_some_and(|d| d <= now) {
                f.flush_due(now, &self.shared, &mut self.scratch);
                self.drain_scratch(key)?;
            }
        }
        Ok(())
    }

    /// Releases rotated files read to their end that stayed idle for `rotate_wait`.
    fn release_rotated(&mut self, now: Instant) -> Result<(), ComponentError> {
        let done: Vec<u64> = self
            .open
            .iter()
            .copied()
            .filter(|key| {
                let f = &self.files[key];
                f.at_eof
                    && f.rotated_since
                        .is_some_and(|t| now >= t.max(f.last_growth) + self.rotate_wait)
            })
            .collect();
        for key in done {
            let f = self.files.get_mut(&key).expect("tracked");
            f.flush_all(now, &mut self.scratch);
            self.drain_scratch(key)?;
            tracing::debug!(component_id = %self.shared.component_id, path = %self.files[&key].path.display(), "released rotated file");
            self.send_batch()?;
            self.release(key, true);
        }
        Ok(())
    }

    /// Stops tracking a file (its events already built stay in the batch).
    fn release(&mut self, key: u64, forget: bool) {
        let Some(f) = self.files.remove(&key) else {
            return;
        };
        if self.by_id.get(&f.identity.id) == Some(&key) {
            self.by_id.remove(&f.identity.id);
        }
        if self.by_path.get(&f.path) == Some(&key) {
            self.by_path.remove(&f.path);
        }
        if let Some(i) = self.open.iter().position(|&k| k == key) {
            self.open.remove(i);
        }
        if f.queued {
            self.waiting.retain(|&k| k != key);
        }
        // Events of this file in the unsent batch must be registered before the release.
        if self.batch_files.iter().any(|&(k, _)| k == key) {
            let _ = self.send_batch();
        }
        self.tell(AckMsg::Release { key, forget });
    }

    fn idle_wait(&self, now: Instant) -> Duration {
        let mut next = self.last_rescan + self.glob_interval;
        if let Some(started) = self.batch_started {
            next = next.min(started + BATCH_LINGER);
        }
        for key in &self.open {
            let f = &self.files[key];
            if let Some(d) = f.next_deadline(&self.shared) {
                next = next.min(d);
            }
            if let Some(t) = f.rotated_since {
                next = next.min(t.max(f.last_growth) + self.rotate_wait);
            }
        }
        next.saturating_duration_since(now)
            .clamp(Duration::from_millis(1), MAX_IDLE_WAIT)
    }

    /// Moves decoded events of file `key` into the batch, sending full batches.
    fn drain_scratch(&mut self, key: u64) -> Result<(), ComponentError> {
        if self.scratch.is_empty() {
            return Ok(());
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        for emitted in scratch.drain(..) {
            if self.batch.is_empty() {
                self.batch_started = Some(Instant::now());
            }
            self.batch.push(emitted.event);
            match self.batch_files.last_mut() {
                Some((k, cp)) if *k == key => *cp = emitted.checkpoint,
                _ => self.batch_files.push((key, emitted.checkpoint)),
            }
            if self.batch.len() >= BATCH_EVENTS {
                self.send_batch()?;
            }
        }
        self.scratch = scratch;
        Ok(())
    }

    /// Sends the batch being built with one notifier, registering it with the tracker
    /// first. Blocks while the pipeline is full.
    fn send_batch(&mut self) -> Result<(), ComponentError> {
        self.batch_started = None;
        if self.batch.is_empty() {
            self.batch_files.clear();
            return Ok(());
        }
        let Some(output) = self.output.clone() else {
            return Ok(());
        };
        let mut events = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH_EVENTS));
        let files = std::mem::take(&mut self.batch_files);
        let (notifier, receiver) = BatchNotifier::new();
        if self.acknowledgements {
            for e in &mut events {
                e.meta.finalizer = Some(EventFinalizer::new(Arc::clone(&notifier)));
            }
        }
        // Without finalizers the receiver resolves as delivered at once.
        drop(notifier);
        self.shared
            .counters
            .events
            .fetch_add(events.len() as u64, std::sync::atomic::Ordering::Relaxed);
        let permit = if self.acknowledgements {
            let shutdown = self.shutdown.clone();
            let semaphore = Arc::clone(&self.semaphore);
            self.handle.block_on(async move {
                tokio::select! {
                    p = semaphore.acquire_owned() => p.ok(),
                    () = give_up_after_shutdown(&shutdown) => None,
                }
            })
        } else {
            None
        };
        let batch = AckMsg::Batch {
            receiver,
            permit,
            files,
        };
        // Acknowledged batches are registered before they can be acknowledged; without
        // acknowledgements, a batch counts once the pipeline has taken it.
        let unacknowledged = if self.acknowledgements {
            self.tell(batch);
            None
        } else {
            Some(batch)
        };
        let shutdown = self.shutdown.clone();
        let sent = self.handle.block_on(async move {
            tokio::select! {
                r = output.send(EventBatch::new(events)) => Some(r),
                () = give_up_after_shutdown(&shutdown) => None,
            }
        });
        match sent {
            Some(Ok(())) => {
                if let Some(batch) = unacknowledged {
                    self.tell(batch);
                }
                Ok(())
            }
            Some(Err(e)) => Err(ComponentError::new(format!("sending events: {e}"))),
            None => {
                tracing::warn!(component_id = %self.shared.component_id, "pipeline did not take the last batch after shutdown; its lines are read again after a restart");
                self.output = None;
                Ok(())
            }
        }
    }

    fn tell(&self, msg: AckMsg) {
        // The tracker only stops after this sender is dropped.
        let _ = self.ack_tx.blocking_send(msg);
    }
}

async fn give_up_after_shutdown(shutdown: &CancellationToken) {
    shutdown.cancelled().await;
    tokio::time::sleep(SEND_GIVE_UP).await;
}

/// The copy a `copytruncate` rotation made of the file at `path`: a file beside it, not
/// tracked, starting with the same fingerprint and holding at least `position` bytes. The
/// most recently modified wins.
fn find_copy(
    path: &Path,
    fingerprint: Fingerprint,
    position: u64,
    tracked: &HashMap<FileId, u64>,
) -> Option<(PathBuf, File, FileId)> {
    let dir = path.parent()?;
    let mut best: Option<(std::time::SystemTime, PathBuf, File, FileId)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let candidate = entry.path();
        if candidate == path {
            continue;
        }
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        let id = FileId::of(&meta);
        if !meta.is_file() || meta.len() < position || tracked.contains_key(&id) {
            continue;
        }
        let Ok(file) = File::open(&candidate) else {
            continue;
        };
        if !fingerprint::matches(&file, fingerprint).unwrap_or(false) {
            continue;
        }
        let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
        if best.as_ref().is_none_or(|(m, ..)| modified > *m) {
            best = Some((modified, candidate, file, id));
        }
    }
    best.map(|(_, p, f, id)| (p, f, id))
}

struct TrackedFile {
    identity: FileIdentity,
    path: PathBuf,
    /// Every byte before this offset was delivered.
    acked: u64,
    /// The file's size as the reader last saw it.
    size: Arc<ObservedSize>,
    /// `(batch id, checkpoint)` in send order.
    queue: VecDeque<(u64, u64)>,
    /// A batch failed: the checkpoint stays where it is.
    frozen: bool,
    released: Option<bool>,
}

struct BatchRecord {
    status: Option<BatchStatus>,
    /// Queue entries still referring to this batch.
    refs: usize,
}

struct AckTracker {
    dir: PathBuf,
    shared: Arc<Shared>,
    files: HashMap<u64, TrackedFile>,
    batches: HashMap<u64, BatchRecord>,
    next_batch: u64,
    dirty: bool,
    metrics: FileSourceMetrics,
}

type Resolution = (u64, BatchStatus, Vec<u64>, Option<OwnedSemaphorePermit>);

impl AckTracker {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<AckMsg>,
        checkpoint_interval: Duration,
        ack_timeout: Duration,
    ) -> Result<(), ComponentError> {
        let mut in_flight: FuturesUnordered<
            std::pin::Pin<Box<dyn std::future::Future<Output = Resolution> + Send>>,
        > = FuturesUnordered::new();
        let mut next_save = tokio::time::Instant::now() + checkpoint_interval;
        let mut publish = tokio::time::interval(METRICS_INTERVAL);
        publish.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(msg) => {
                        if let Some(fut) = self.on_message(msg) {
                            in_flight.push(fut);
                        }
                    }
                    None => break,
                },
                Some(resolution) = in_flight.next(), if !in_flight.is_empty() => {
                    self.on_resolution(resolution);
                }
                () = tokio::time::sleep_until(next_save) => {
                    next_save = tokio::time::Instant::now() + checkpoint_interval;
                    self.save().await;
                }
                _ = publish.tick() => self.publish_metrics(),
            }
        }
        // The reader is done and has dropped its output: wait (bounded) for the
        // acknowledgements of what was sent, then write the checkpoints a last time.
        if !in_flight.is_empty() {
            let deadline = tokio::time::sleep(ack_timeout);
            tokio::pin!(deadline);
            while !in_flight.is_empty() {
                tokio::select! {
                    Some(resolution) = in_flight.next() => self.on_resolution(resolution),
                    () = &mut deadline => {
                        tracing::warn!(component_id = %self.shared.component_id, batches = in_flight.len(), "acknowledgements still outstanding at the deadline; checkpoints stay at the last acknowledged offsets");
                        break;
                    }
                }
            }
        }
        self.dirty = true;
        self.save().await;
        self.publish_metrics();
        // The source is done: it watches nothing any more (what is still behind stays
        // visible).
        self.metrics.set_files_watched(0);
        Ok(())
    }

    /// Sets `files_watched` (files the reader tracks) and `bytes_behind`: over those files,
    /// plus released ones whose batches are still out, the observed size minus the
    /// acknowledged offset. One pass over the tracked files, no syscall.
    fn publish_metrics(&self) {
        let mut watched = 0;
        let mut behind = 0u64;
        for f in self.files.values() {
            if f.released.is_none() {
                watched += 1;
            } else if f.queue.is_empty() {
                continue;
            }
            behind = behind.saturating_add(f.size.get().saturating_sub(f.acked));
        }
        self.metrics.set_files_watched(watched);
        self.metrics.set_bytes_behind(behind);
    }

    fn on_message(
        &mut self,
        msg: AckMsg,
    ) -> Option<std::pin::Pin<Box<dyn std::future::Future<Output = Resolution> + Send>>> {
        match msg {
            AckMsg::Track {
                key,
                identity,
                path,
                offset,
                size,
            } => {
                self.files.insert(
                    key,
                    TrackedFile {
                        identity,
                        path,
                        acked: offset,
                        size,
                        queue: VecDeque::new(),
                        frozen: false,
                        released: None,
                    },
                );
                self.dirty = true;
            }
            AckMsg::Moved {
                key,
                identity,
                path,
            } => {
                if let Some(f) = self.files.get_mut(&key) {
                    f.identity = identity;
                    f.path = path;
                    self.dirty = true;
                }
            }
            AckMsg::Release { key, forget } => {
                if let Some(f) = self.files.get_mut(&key) {
                    f.released = Some(forget);
                }
                self.remove_if_done(key);
            }
            AckMsg::Batch {
                receiver,
                permit,
                files,
            } => {
                let id = self.next_batch;
                self.next_batch += 1;
                let mut refs = 0;
                let mut keys = Vec::with_capacity(files.len());
                for (key, cp) in files {
                    if let Some(f) = self.files.get_mut(&key) {
                        if !f.frozen {
                            f.queue.push_back((id, cp));
                            refs += 1;
                            if !keys.contains(&key) {
                                keys.push(key);
                            }
                        }
                    }
                }
                self.batches.insert(id, BatchRecord { status: None, refs });
                return Some(Box::pin(async move {
                    let status = receiver.await;
                    (id, status, keys, permit)
                }));
            }
        }
        None
    }

    fn on_resolution(&mut self, (id, status, keys, permit): Resolution) {
        drop(permit);
        if status == BatchStatus::Failed {
            let n = FileSourceCounters::bump(&self.shared.counters.batches_failed);
            tracing::warn!(component_id = %self.shared.component_id, batch = id, total = n, "a batch was not delivered; the checkpoints of its files stop before it (a restart reads those lines again)");
        }
        match self.batches.get_mut(&id) {
            Some(record) => record.status = Some(status),
            None => return,
        }
        if self.batches[&id].refs == 0 {
            self.batches.remove(&id);
        }
        for key in keys {
            self.advance(key);
        }
    }

    /// Moves the file's checkpoint over every delivered batch at the front of its queue.
    fn advance(&mut self, key: u64) {
        let Some(f) = self.files.get_mut(&key) else {
            return;
        };
        while let Some(&(batch, cp)) = f.queue.front() {
            let status = self.batches.get(&batch).and_then(|b| b.status);
            match status {
                None => break,
                Some(BatchStatus::Delivered) => {
                    if cp > f.acked {
                        f.acked = cp;
                        self.dirty = true;
                    }
                    f.queue.pop_front();
                    release_ref(&mut self.batches, batch);
                }
                Some(BatchStatus::Failed) => {
                    if !f.frozen {
                        tracing::warn!(component_id = %self.shared.component_id, path = %f.path.display(), offset = f.acked, "checkpoint of this file frozen after a failed batch");
                    }
                    f.frozen = true;
                    for (b, _) in f.queue.drain(..) {
                        release_ref(&mut self.batches, b);
                    }
                    break;
                }
            }
        }
        self.remove_if_done(key);
    }

    fn remove_if_done(&mut self, key: u64) {
        let Some(f) = self.files.get(&key) else {
            return;
        };
        // A file released but still on disk (`exit_on_eof`) keeps its checkpoint.
        if f.released == Some(true) && f.queue.is_empty() {
            self.files.remove(&key);
            self.dirty = true;
        }
    }

    async fn save(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let checkpoints: Vec<Checkpoint> = self
            .files
            .values()
            .map(|f| Checkpoint {
                identity: f.identity,
                offset: f.acked,
                path: f.path.clone(),
            })
            .collect();
        let dir = self.dir.clone();
        let result =
            tokio::task::spawn_blocking(move || checkpoint::save(&dir, &checkpoints)).await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                self.dirty = true;
                tracing::warn!(component_id = %self.shared.component_id, error = %e, "cannot write checkpoints; retrying at the next interval");
            }
            Err(e) => {
                self.dirty = true;
                tracing::warn!(component_id = %self.shared.component_id, error = %e, "checkpoint writer failed");
            }
        }
    }
}

fn release_ref(batches: &mut HashMap<u64, BatchRecord>, batch: u64) {
    if let Some(record) = batches.get_mut(&batch) {
        record.refs = record.refs.saturating_sub(1);
        if record.refs == 0 && record.status.is_some() {
            batches.remove(&batch);
        }
    }
}
