//! Dead letters of the Elasticsearch sink: documents Elasticsearch refused for good (mapping
//! errors, oversized documents, invalid names), one NDJSON line each in
//! `<data_dir>/dead_letter/<component_id>.ndjson`, with why they were refused.
//!
//! A line is `{"@timestamp":…,"component_id":…,"status":400,"reason":…,"error":{…},
//! "action":{…},"document":{…}}`; `document` is the exact JSON that was sent, so it can be
//! fixed and replayed. Events are finished as rejected only after their line is written and
//! flushed; if the file cannot be written they are finished as errored instead.
//!
//! (A minimal writer owned by this sink; the shared `src/dead_letter.rs` may replace it.)

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// One refused document.
#[derive(Debug)]
pub struct DeadLetter<'a> {
    /// The item status Elasticsearch returned (or 413 for a request too large to send).
    pub status: u16,
    /// A one-line human explanation (`error.type: error.reason`).
    pub reason: &'a str,
    /// Elasticsearch's `error` object, when it gave one.
    pub error: Option<&'a serde_json::Value>,
    /// The bulk action line (target and id), as sent.
    pub action: &'a [u8],
    /// The document, as sent.
    pub document: &'a [u8],
}

/// Appends dead letters to one file; cheap to clone (shared by the sink's request tasks).
#[derive(Debug, Clone)]
pub struct DeadLetterWriter {
    component_id: Arc<str>,
    path: Arc<PathBuf>,
    file: Arc<Mutex<Option<File>>>,
}

impl DeadLetterWriter {
    /// A writer for `<data_dir>/dead_letter/<component_id>.ndjson`; the file is created at the
    /// first dead letter.
    pub fn new(data_dir: &Path, component_id: &str) -> DeadLetterWriter {
        DeadLetterWriter {
            component_id: Arc::from(component_id),
            path: Arc::new(
                data_dir
                    .join("dead_letter")
                    .join(format!("{component_id}.ndjson")),
            ),
            file: Arc::new(Mutex::new(None)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renders dead letters into lines (cheap, in memory).
    pub fn render(&self, letters: &[DeadLetter<'_>], out: &mut Vec<u8>) {
        let now = crate::time::now_unix_nanos();
        for l in letters {
            out.extend_from_slice(b"{\"@timestamp\":\"");
            crate::time::write_rfc3339(out, now);
            out.extend_from_slice(b"\",\"component_id\":");
            crate::codec::json::write_str(out, self.component_id.as_bytes());
            out.extend_from_slice(format!(",\"status\":{},\"reason\":", l.status).as_bytes());
            crate::codec::json::write_str(out, l.reason.as_bytes());
            if let Some(e) = l.error {
                out.extend_from_slice(b",\"error\":");
                // Serialising a serde_json::Value into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, e);
            }
            // Both slices are JSON we produced ourselves.
            out.extend_from_slice(b",\"action\":");
            out.extend_from_slice(l.action);
            out.extend_from_slice(b",\"document\":");
            out.extend_from_slice(l.document);
            out.extend_from_slice(b"}\n");
        }
    }

    /// Appends rendered lines and flushes them, off the async workers.
    pub async fn append(&self, lines: Vec<u8>) -> std::io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.append_blocking(&lines))
            .await
            .map_err(std::io::Error::other)?
    }

    fn append_blocking(&self, lines: &[u8]) -> std::io::Result<()> {
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            *guard = Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&*self.path)?,
            );
        }
        let file = guard.as_mut().expect("opened above");
        file.write_all(lines)?;
        file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_reason_and_document_as_ndjson() {
        let dir = tempfile::tempdir().unwrap();
        let w = DeadLetterWriter::new(dir.path(), "es");
        let err = serde_json::json!({"type": "document_parsing_exception", "reason": "bad"});
        let mut lines = Vec::new();
        w.render(
            &[DeadLetter {
                status: 400,
                reason: "document_parsing_exception: bad",
                error: Some(&err),
                action: br#"{"create":{"_index":"logs-a-default","_id":"x"}}"#,
                document: br#"{"message":"m"}"#,
            }],
            &mut lines,
        );
        w.append(lines).await.unwrap();
        let text = std::fs::read_to_string(dir.path().join("dead_letter/es.ndjson")).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(v["status"], 400);
        assert_eq!(v["error"]["type"], "document_parsing_exception");
        assert_eq!(v["document"]["message"], "m");
        assert_eq!(v["action"]["create"]["_id"], "x");
        assert_eq!(v["component_id"], "es");
    }
}
