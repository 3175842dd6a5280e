//! Dead letters of the Elasticsearch sink: documents Elasticsearch refused for good (mapping
//! errors, oversized documents, invalid names), one NDJSON line each in
//! `<data_dir>/dead_letter/<component_id>.ndjson`, with why they were refused.
//!
//! A line is `{"@timestamp":…,"component_id":…,"status":400,"reason":…,"error":{…},
//! "action":{…},"document":{…}}`; `document` is the exact JSON that was sent, so it can be
//! fixed and replayed. Events are finished as rejected only after their line is written and
//! flushed; if the file cannot be written they are finished as errored instead.
//!
//! The file is a [`crate::dead_letter::DeadLetterFile`], bounded like the transforms' (256 MiB
//! by default): a storm of mapping errors cannot fill the disk. Refused documents that no
//! longer fit are finished as errored, counted and logged, like a failed write.

use std::path::Path;

use crate::dead_letter::{DeadLetterFile, DEFAULT_MAX_BYTES};

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
    file: DeadLetterFile,
}

impl DeadLetterWriter {
    /// A writer for `<data_dir>/dead_letter/<component_id>.ndjson` of at most 256 MiB; the
    /// file is created at the first dead letter.
    pub fn new(data_dir: &Path, component_id: &str) -> DeadLetterWriter {
        DeadLetterWriter::with_max_bytes(data_dir, component_id, DEFAULT_MAX_BYTES)
    }

    pub fn with_max_bytes(data_dir: &Path, component_id: &str, max_bytes: u64) -> DeadLetterWriter {
        DeadLetterWriter {
            file: DeadLetterFile::new(data_dir, component_id, max_bytes),
        }
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Renders dead letters into lines (cheap, in memory).
    pub fn render(&self, letters: &[DeadLetter<'_>], out: &mut Vec<u8>) {
        let now = crate::time::now_unix_nanos();
        for l in letters {
            out.extend_from_slice(b"{\"@timestamp\":\"");
            crate::time::write_rfc3339(out, now);
            out.extend_from_slice(b"\",\"component_id\":");
            crate::codec::json::write_str(out, self.file.component_id().as_bytes());
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

    /// Appends `count` rendered lines in one write, off the async workers. An error when the
    /// file cannot be written or has no room left for them (nothing is written then).
    pub async fn append(&self, lines: Vec<u8>, count: usize) -> std::io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || match this.file.append(&lines, count as u64) {
            Ok(true) => Ok(()),
            Ok(false) => Err(std::io::Error::other(format!(
                "the dead-letter file has reached its size limit of {} bytes",
                this.file.max_bytes()
            ))),
            Err(e) => Err(std::io::Error::other(e)),
        })
        .await
        .map_err(std::io::Error::other)?
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
        w.append(lines, 1).await.unwrap();
        let text = std::fs::read_to_string(dir.path().join("dead_letter/es.ndjson")).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(v["status"], 400);
        assert_eq!(v["error"]["type"], "document_parsing_exception");
        assert_eq!(v["document"]["message"], "m");
        assert_eq!(v["action"]["create"]["_id"], "x");
        assert_eq!(v["component_id"], "es");
    }

    #[tokio::test]
    async fn a_full_file_refuses_the_lines_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let w = DeadLetterWriter::with_max_bytes(dir.path(), "es", 500);
        let letter = DeadLetter {
            status: 400,
            reason: "document_parsing_exception: bad",
            error: None,
            action: br#"{"create":{"_index":"logs-a-default","_id":"x"}}"#,
            document: br#"{"message":"m"}"#,
        };
        let mut one = Vec::new();
        w.render(std::slice::from_ref(&letter), &mut one);
        assert!((167..250).contains(&one.len()), "{}", one.len());
        w.append(one.clone(), 1).await.unwrap();
        w.append(one.clone(), 1).await.unwrap();
        let err = w.append(one.clone(), 1).await.unwrap_err();
        assert!(err.to_string().contains("size limit of 500 bytes"), "{err}");
        let text = std::fs::read_to_string(w.path()).unwrap();
        assert_eq!(text.lines().count(), 2);
    }
}
