//! `file` sink: events as NDJSON into files named by a template
//! (`./out/{{ kubernetes.namespace }}/%Y-%m-%d.ndjson`), optionally gzip-compressed.
//!
//! It runs on its own blocking thread (file I/O must not stall the async workers), keeps a
//! bounded set of open files, and finishes a batch's events as delivered once their bytes
//! are written and flushed to the operating system.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use serde::Deserialize;

use crate::finalization::EventStatus;
use crate::template::Template;
use crate::topology::{ComponentError, ComponentFuture, SinkContext};

/// Compression of the written files.
#[derive(
    Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Plain text.
    #[default]
    None,
    /// Each time a file is opened a gzip member is appended; `zcat` reads them all.
    Gzip,
}

/// Writes NDJSON files.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    /// Path template: `{{ field }}` and strftime specifiers of the event's `@timestamp`.
    pub path: String,
    /// `none` or `gzip`.
    #[serde(default)]
    pub compression: Compression,
    /// Files kept open at once; the least recently written is closed beyond this.
    #[serde(default = "default_max_open_files")]
    pub max_open_files: usize,
}

fn default_max_open_files() -> usize {
    64
}

impl FileSinkConfig {
    pub fn build(&self, ctx: SinkContext) -> Result<ComponentFuture, String> {
        let template = Template::parse(&self.path).map_err(|e| e.to_string())?;
        let sink = FileSink {
            template,
            compression: self.compression,
            max_open_files: self.max_open_files.max(1),
            open: HashMap::new(),
            tick: 0,
            written: HashMap::new(),
        };
        Ok(Box::pin(async move {
            tokio::task::spawn_blocking(move || sink.run(ctx))
                .await
                .map_err(|e| ComponentError::new(format!("file sink thread: {e}")))?
        }))
    }
}

enum Writer {
    Plain(BufWriter<File>),
    Gzip(Box<GzEncoder<BufWriter<File>>>),
}

impl Writer {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Writer::Plain(w) => w.write_all(bytes),
            Writer::Gzip(w) => w.write_all(bytes),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Writer::Plain(w) => w.flush(),
            // A sync flush emits a complete deflate block: everything so far is readable.
            Writer::Gzip(w) => w.flush(),
        }
    }

    fn close(self) -> std::io::Result<()> {
        match self {
            Writer::Plain(mut w) => w.flush(),
            Writer::Gzip(w) => w.finish()?.flush(),
        }
    }
}

struct OpenFile {
    writer: Writer,
    last_used: u64,
    dirty: bool,
}

struct FileSink {
    template: Template,
    compression: Compression,
    max_open_files: usize,
    open: HashMap<String, OpenFile>,
    tick: u64,
    /// Events written per file, for the closing summary.
    written: HashMap<String, u64>,
}

impl FileSink {
    fn run(mut self, mut ctx: SinkContext) -> Result<(), ComponentError> {
        let mut path = String::new();
        let mut line = Vec::with_capacity(4096);
        let mut missing_fields: u64 = 0;
        while let Some(mut batch) = ctx.input.blocking_recv() {
            let result = (|| -> std::io::Result<()> {
                for event in &batch.events {
                    if self.template.render(event, &mut path).is_some() {
                        missing_fields += 1;
                    }
                    line.clear();
                    crate::codec::json::write_object(&mut line, &event.fields);
                    line.push(b'\n');
                    let file = self.file(&path)?;
                    file.writer.write_all(&line)?;
                    file.dirty = true;
                    match self.written.get_mut(path.as_str()) {
                        Some(n) => *n += 1,
                        None => {
                            self.written.insert(path.clone(), 1);
                        }
                    }
                }
                for file in self.open.values_mut().filter(|f| f.dirty) {
                    file.writer.flush()?;
                    file.dirty = false;
                }
                Ok(())
            })();
            match result {
                Ok(()) => {
                    batch.finish(EventStatus::Delivered);
                    ctx.readiness.mark_healthy();
                }
                Err(e) => {
                    ctx.readiness.mark_unhealthy();
                    batch.finish(EventStatus::Errored);
                    return Err(ComponentError::new(format!("writing {path}: {e}")));
                }
            }
        }
        for (p, f) in self.open.drain() {
            f.writer
                .close()
                .map_err(|e| ComponentError::new(format!("closing {p}: {e}")))?;
        }
        if missing_fields > 0 {
            tracing::warn!(component_id = %ctx.id, events = missing_fields, "path template referenced fields some events lack; they were written under `_missing_`");
        }
        let events: u64 = self.written.values().sum();
        let mut files: Vec<&String> = self.written.keys().collect();
        files.sort();
        let shown: Vec<&str> = files.iter().take(5).map(|s| s.as_str()).collect();
        tracing::info!(component_id = %ctx.id, events, files = files.len(), "file sink wrote {}{}", shown.join(", "), if files.len() > shown.len() { ", …" } else { "" });
        Ok(())
    }

    fn file(&mut self, path: &str) -> std::io::Result<&mut OpenFile> {
        self.tick += 1;
        let tick = self.tick;
        if !self.open.contains_key(path) {
            if self.open.len() >= self.max_open_files {
                let oldest = self
                    .open
                    .iter()
                    .min_by_key(|(_, f)| f.last_used)
                    .map(|(p, _)| p.clone());
                if let Some(p) = oldest {
                    if let Some(f) = self.open.remove(&p) {
                        f.writer.close()?;
                    }
                }
            }
            let writer = open(Path::new(path), self.compression)?;
            self.open.insert(
                path.to_string(),
                OpenFile {
                    writer,
                    last_used: tick,
                    dirty: false,
                },
            );
        }
        let file = self.open.get_mut(path).expect("inserted above");
        file.last_used = tick;
        Ok(file)
    }
}

fn open(path: &Path, compression: Compression) -> std::io::Result<Writer> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| {
            std::io::Error::new(e.kind(), format!("{}: {e}", PathBuf::from(path).display()))
        })?;
    let buffered = BufWriter::with_capacity(64 * 1024, file);
    Ok(match compression {
        Compression::None => Writer::Plain(buffered),
        Compression::Gzip => Writer::Gzip(Box::new(GzEncoder::new(
            buffered,
            flate2::Compression::fast(),
        ))),
    })
}
