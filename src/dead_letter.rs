//! Dead letters: events a component could not process, kept on disk for later inspection
//! instead of being lost.
//!
//! A [`DeadLetterWriter`] owns one append-only NDJSON file,
//! `<data_dir>/dead_letter/<component_id>.ndjson`. Each line is
//! `{"component_id":…,"reason":…,"@timestamp":…,"event":{…}}`, where `@timestamp` is when the
//! event was dead-lettered. Lines are buffered per batch and written by [`DeadLetterWriter::flush`],
//! which the component calls once per batch.
//!
//! Bounded: the file may grow to `max_bytes`; past that, dead letters are counted and
//! dropped (with a warning), never buffered without limit. The in-memory buffer is written out
//! whenever it passes [`BUFFER_BYTES`]. The file is opened on the first dead letter, so a
//! component that never fails leaves no file behind.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

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

/// Appends dead letters of one component to its NDJSON file.
#[derive(Debug)]
pub struct DeadLetterWriter {
    component_id: String,
    path: PathBuf,
    file: Option<File>,
    buffer: Vec<u8>,
    /// Bytes in the file (at open) plus bytes written or buffered since.
    size: u64,
    max_bytes: u64,
    written: u64,
    dropped: u64,
}

impl DeadLetterWriter {
    /// A writer for `<data_dir>/dead_letter/<component_id>.ndjson` holding at most
    /// `max_bytes`. Nothing is created until the first dead letter.
    pub fn new(data_dir: &Path, component_id: &str, max_bytes: u64) -> DeadLetterWriter {
        DeadLetterWriter {
            component_id: component_id.to_string(),
            path: data_dir
                .join("dead_letter")
                .join(format!("{component_id}.ndjson")),
            file: None,
            buffer: Vec::new(),
            size: 0,
            max_bytes,
            written: 0,
            dropped: 0,
        }
    }

    /// The file dead letters go to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Dead letters accepted so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Dead letters refused because the file reached its size limit (or could not be written).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn open(&mut self) -> Result<(), DeadLetterError> {
        if self.file.is_some() {
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
            path: self.path.clone(),
            source,
        })?;
        self.size = file.metadata().map(|m| m.len()).unwrap_or(0);
        self.file = Some(file);
        Ok(())
    }

    /// Records `event` with `reason`. Returns `Ok(false)` when the size limit refused it
    /// (counted in [`dropped`](Self::dropped)); the event itself is left to the caller.
    pub fn write(&mut self, event: &Event, reason: &str) -> Result<bool, DeadLetterError> {
        if let Err(e) = self.open() {
            self.dropped += 1;
            return Err(e);
        }
        let start = self.buffer.len();
        self.buffer.extend_from_slice(b"{\"component_id\":");
        crate::codec::json::write_str(&mut self.buffer, self.component_id.as_bytes());
        self.buffer.extend_from_slice(b",\"reason\":");
        crate::codec::json::write_str(&mut self.buffer, reason.as_bytes());
        self.buffer.extend_from_slice(b",\"@timestamp\":\"");
        crate::time::write_rfc3339(&mut self.buffer, crate::time::now_unix_nanos());
        self.buffer.extend_from_slice(b"\",\"event\":");
        crate::codec::json::write_object(&mut self.buffer, &event.fields);
        self.buffer.extend_from_slice(b"}\n");
        let line = (self.buffer.len() - start) as u64;
        if self.size + line > self.max_bytes {
            self.buffer.truncate(start);
            self.dropped += 1;
            if self.dropped == 1 || self.dropped.is_power_of_two() {
                tracing::warn!(component_id = %self.component_id, path = %self.path.display(), max_bytes = self.max_bytes, dropped = self.dropped, "dead-letter file is full; dead letters are dropped");
            }
            return Ok(false);
        }
        self.size += line;
        self.written += 1;
        if self.buffer.len() >= BUFFER_BYTES {
            self.flush()?;
        }
        Ok(true)
    }

    /// Writes the buffered lines to the file. Components call it once per batch.
    pub fn flush(&mut self) -> Result<(), DeadLetterError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let result = match self.file.as_mut() {
            Some(file) => file.write_all(&self.buffer),
            None => Ok(()),
        };
        self.buffer.clear();
        result.map_err(|source| DeadLetterError::Write {
            path: self.path.clone(),
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
