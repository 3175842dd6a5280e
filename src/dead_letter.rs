//! Dead letters: events a component could not process, kept on disk for later inspection
//! instead of being lost.
//!
//! A [`DeadLetterWriter`] appends to one NDJSON file, `<data_dir>/dead_letter/<component_id>.ndjson`.
//! Each line is `{"component_id":…,"reason":…,"@timestamp":…,"event":{…}}`, where `@timestamp`
//! is when the event was dead-lettered. Lines are buffered per batch and written by
//! [`DeadLetterWriter::flush`], which the component calls once per batch.
//!
//! Bounded: the file may grow to `max_bytes`; past that, dead letters are counted and
//! dropped (with a warning), never buffered without limit. The in-memory buffer is written out
//! whenever it passes [`BUFFER_BYTES`]. The file is opened on the first dead letter, so a
//! component that never fails leaves no file behind.
//!
//! The instances of one transform running side by side (`topology::transform_runner`) each
//! have a writer with its own buffer, all on one shared [`DeadLetterFile`]: the size limit
//! is accounted once for the file, and each flush writes its buffer whole under the file's
//! lock, so lines from different instances never interleave.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::event::Event;

/// The buffer is written out when it grows past this many bytes, even mid-batch.
pub const BUFFER_BYTES: usize = 256 * 1024;

/// Default size limit of one dead-letter file.
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// Why dead letters could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("cannot open dead-letter file {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write dead-letter file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One dead-letter file and its accounting, shared by the writers of one component.
#[derive(Debug, Clone)]
pub struct DeadLetterFile {
    component_id: Arc<str>,
    path: Arc<Path>,
    state: Arc<Mutex<FileState>>,
}

#[derive(Debug)]
struct FileState {
    file: Option<File>,
    /// Bytes in the file (at open) plus bytes accepted since, written or still buffered.
    size: u64,
    max_bytes: u64,
    written: u64,
    dropped: u64,
}

impl DeadLetterFile {
    /// `<data_dir>/dead_letter/<component_id>.ndjson`, holding at most `max_bytes`. Nothing
    /// is created until the first dead letter.
    pub fn new(data_dir: &Path, component_id: &str, max_bytes: u64) -> DeadLetterFile {
        DeadLetterFile {
            component_id: component_id.into(),
            path: data_dir
                .join("dead_letter")
                .join(format!("{component_id}.ndjson"))
                .into(),
            state: Arc::new(Mutex::new(FileState {
                file: None,
                size: 0,
                max_bytes,
                written: 0,
                dropped: 0,
            })),
        }
    }

    /// The file dead letters go to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The component whose dead letters the file holds.
    pub fn component_id(&self) -> &str {
        &self.component_id
    }

    /// The size limit.
    pub fn max_bytes(&self) -> u64 {
        self.lock().max_bytes
    }

    /// Appends `lines`, `count` complete NDJSON lines rendered by the caller, in one write,
    /// if the file has room for all of them. `Ok(false)` when the size limit refuses them
    /// (counted as dropped, with a warning); nothing is written then.
    pub fn append(&self, lines: &[u8], count: u64) -> Result<bool, DeadLetterError> {
        let mut state = self.lock();
        if !self.reserve(&mut state, lines.len() as u64, count)? {
            return Ok(false);
        }
        let file = state.file.as_mut().expect("opened by reserve");
        file.write_all(lines)
            .map_err(|source| DeadLetterError::Write {
                path: self.path.to_path_buf(),
                source,
            })?;
        Ok(true)
    }

    /// Accounts `count` lines of `bytes` in all against the size limit, opening the file on
    /// first use: `Ok(true)` when they fit (counted as written), `Ok(false)` when the limit
    /// refuses them (counted as dropped, with a warning once, then at each power of two).
    fn reserve(
        &self,
        state: &mut FileState,
        bytes: u64,
        count: u64,
    ) -> Result<bool, DeadLetterError> {
        if let Err(e) = self.open(state) {
            state.dropped += count;
            return Err(e);
        }
        if state.size + bytes > state.max_bytes {
            let before = state.dropped;
            state.dropped += count;
            if before == 0 || before.checked_ilog2() != state.dropped.checked_ilog2() {
                tracing::warn!(component_id = %self.component_id, path = %self.path.display(), max_bytes = state.max_bytes, dropped = state.dropped, "dead-letter file is full; no more dead letters are written to it");
            }
            return Ok(false);
        }
        state.size += bytes;
        state.written += count;
        Ok(true)
    }

    fn lock(&self) -> MutexGuard<'_, FileState> {
        // The state stays consistent whatever a panicking holder was doing: each field is
        // updated in one step.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Opens the file on first use; `size` then counts what it already holds.
    fn open(&self, state: &mut FileState) -> Result<(), DeadLetterError> {
        if state.file.is_some() {
            return Ok(());
        }
        let open = || -> std::io::Result<File> {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
        };
        let file = open().map_err(|source| DeadLetterError::Open {
            path: self.path.to_path_buf(),
            source,
        })?;
        state.size = file.metadata().map(|m| m.len()).unwrap_or(0);
        state.file = Some(file);
        Ok(())
    }
}

/// Appends dead letters of one component to its NDJSON file.
#[derive(Debug)]
pub struct DeadLetterWriter {
    file: DeadLetterFile,
    /// Lines accepted and not yet written.
    buffer: Vec<u8>,
}

impl DeadLetterWriter {
    /// A writer for `<data_dir>/dead_letter/<component_id>.ndjson` holding at most
    /// `max_bytes`, on a file of its own. Nothing is created until the first dead letter.
    pub fn new(data_dir: &Path, component_id: &str, max_bytes: u64) -> DeadLetterWriter {
        DeadLetterWriter::on_file(DeadLetterFile::new(data_dir, component_id, max_bytes))
    }

    /// A writer with its own buffer on `file`, which other writers may share.
    pub fn on_file(file: DeadLetterFile) -> DeadLetterWriter {
        DeadLetterWriter {
            file,
            buffer: Vec::new(),
        }
    }

    /// The file dead letters go to.
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// Dead letters the file accepted so far (from every writer sharing it).
    pub fn written(&self) -> u64 {
        self.file.lock().written
    }

    /// Dead letters refused because the file reached its size limit (or could not be
    /// opened), from every writer sharing it.
    pub fn dropped(&self) -> u64 {
        self.file.lock().dropped
    }

    /// Records `event` with `reason`. Returns `Ok(false)` when the size limit refused it
    /// (counted in [`dropped`](Self::dropped)); the event itself is left to the caller.
    pub fn write(&mut self, event: &Event, reason: &str) -> Result<bool, DeadLetterError> {
        let start = self.buffer.len();
        self.buffer.extend_from_slice(b"{\"component_id\":");
        crate::codec::json::write_str(&mut self.buffer, self.file.component_id().as_bytes());
        self.buffer.extend_from_slice(b",\"reason\":");
        crate::codec::json::write_str(&mut self.buffer, reason.as_bytes());
        self.buffer.extend_from_slice(b",\"@timestamp\":\"");
        crate::time::write_rfc3339(&mut self.buffer, crate::time::now_unix_nanos());
        self.buffer.extend_from_slice(b"\",\"event\":");
        crate::codec::json::write_object(&mut self.buffer, &event.fields);
        self.buffer.extend_from_slice(b"}\n");
        let line = (self.buffer.len() - start) as u64;
        let accepted = {
            let mut state = self.file.lock();
            self.file.reserve(&mut state, line, 1)
        };
        if !matches!(accepted, Ok(true)) {
            self.buffer.truncate(start);
            return accepted;
        }
        if self.buffer.len() >= BUFFER_BYTES {
            self.flush()?;
        }
        Ok(true)
    }

    /// Writes the buffered lines to the file, all at once under the file's lock. Components
    /// call it once per batch.
    pub fn flush(&mut self) -> Result<(), DeadLetterError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let result = match self.file.lock().file.as_mut() {
            Some(file) => file.write_all(&self.buffer),
            None => Ok(()),
        };
        self.buffer.clear();
        result.map_err(|source| DeadLetterError::Write {
            path: self.file.path.to_path_buf(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn writes_one_json_line_per_dead_letter_after_flush() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = DeadLetterWriter::new(dir.path(), "parse", DEFAULT_MAX_BYTES);
        let event = Event::from_message(Bytes::from_static(b"not \"json\""), 0);
        assert!(w.write(&event, "not a JSON object").unwrap());
        assert!(w.write(&event, "again").unwrap());
        let path = dir.path().join("dead_letter/parse.ndjson");
        // Nothing reaches the file before the flush.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        w.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["component_id"], "parse");
        assert_eq!(lines[0]["reason"], "not a JSON object");
        assert_eq!(lines[0]["event"]["message"], "not \"json\"");
        assert_eq!(lines[0]["event"]["@timestamp"], "1970-01-01T00:00:00.000Z");
        assert!(lines[1]["@timestamp"].as_str().unwrap().starts_with("20"));
        assert_eq!(w.written(), 2);
    }

    #[test]
    fn refuses_dead_letters_past_the_size_limit_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = DeadLetterWriter::new(dir.path(), "p", 300);
        let event = Event::from_message(Bytes::from(vec![b'x'; 100]), 0);
        assert!(w.write(&event, "r").unwrap());
        assert!(!w.write(&event, "r").unwrap());
        w.flush().unwrap();
        assert_eq!((w.written(), w.dropped()), (1, 1));
        let size = std::fs::metadata(w.path()).unwrap().len();
        assert!(size <= 300, "{size}");
        // A new writer on the same file counts what is already there.
        let mut again = DeadLetterWriter::new(dir.path(), "p", 300);
        assert!(!again.write(&event, "r").unwrap());
    }

    #[test]
    fn writers_on_one_file_share_its_size_limit() {
        let dir = tempfile::tempdir().unwrap();
        let event = Event::from_message(Bytes::from(vec![b'x'; 100]), 0);
        let line = {
            let mut probe = DeadLetterWriter::new(dir.path(), "probe", DEFAULT_MAX_BYTES);
            probe.write(&event, "r").unwrap();
            probe.flush().unwrap();
            std::fs::metadata(probe.path()).unwrap().len()
        };
        // Room for three lines in all.
        let max = 3 * line + line / 2;
        let shared = DeadLetterFile::new(dir.path(), "p", max);
        let mut a = DeadLetterWriter::on_file(shared.clone());
        let mut b = DeadLetterWriter::on_file(shared);
        let mut other = DeadLetterWriter::new(dir.path(), "q", max);
        assert_eq!(a.path(), b.path());
        assert_ne!(a.path(), other.path());
        assert!(a.write(&event, "r").unwrap());
        assert!(b.write(&event, "r").unwrap());
        assert!(a.write(&event, "r").unwrap());
        // Each writer alone is under the limit; together they reached it.
        assert!(!b.write(&event, "r").unwrap());
        assert!(other.write(&event, "r").unwrap());
        b.flush().unwrap();
        a.flush().unwrap();
        assert_eq!((a.written(), a.dropped()), (3, 1));
        assert_eq!((b.written(), b.dropped()), (3, 1));
        let text = std::fs::read_to_string(a.path()).unwrap();
        assert_eq!(text.lines().count(), 3);
        for l in text.lines() {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["component_id"], "p");
        }
    }

    #[test]
    fn appended_lines_go_in_whole_or_not_at_all_within_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let file = DeadLetterFile::new(dir.path(), "es", 100);
        let two = b"{\"n\":1}\n{\"n\":2}\n";
        assert!(file.append(two, 2).unwrap());
        // 16 + 90 bytes would pass the limit: refused whole.
        let big = [b"{\"x\":\"".as_slice(), &[b'x'; 81], b"\"}\n"].concat();
        assert_eq!(big.len(), 90);
        assert!(!file.append(&big, 1).unwrap());
        assert!(file.append(two, 2).unwrap());
        let text = std::fs::read_to_string(file.path()).unwrap();
        assert_eq!(text, "{\"n\":1}\n{\"n\":2}\n{\"n\":1}\n{\"n\":2}\n");
        let state = file.lock();
        assert_eq!((state.written, state.dropped, state.size), (4, 1, 32));
    }

    #[test]
    fn an_unwritable_directory_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("dead_letter");
        std::fs::write(&blocker, "a file where the directory should be").unwrap();
        let mut w = DeadLetterWriter::new(dir.path(), "p", DEFAULT_MAX_BYTES);
        let event = Event::from_message(Bytes::from_static(b"m"), 0);
        assert!(matches!(
            w.write(&event, "r"),
            Err(DeadLetterError::Open { .. })
        ));
        assert_eq!(w.dropped(), 1);
    }
}
