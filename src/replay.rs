//! `logweir replay -c FILE`: runs a pipeline whose sources include an `s3_archive` source,
//! with a progress bar (objects, events, stored bytes) on stderr, and a summary at the end.
//!
//! The pipeline is an ordinary one: replaying an archive into Elasticsearch is the archive
//! source wired to the same transforms and sink as the live pipeline.

use std::sync::atomic::Ordering;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::config::PipelineConfig;
use crate::sources::s3_archive::PROGRESS;
use crate::sources::SourceConfig;

/// Whether the pipeline has something to replay.
pub fn has_archive_source(config: &PipelineConfig) -> bool {
    config
        .sources
        .iter()
        .any(|s| matches!(s.config, SourceConfig::S3Archive(_)))
}

/// Draws the progress bar until the returned handle is stopped.
pub struct ProgressDisplay {
    bar: ProgressBar,
    task: tokio::task::JoinHandle<()>,
}

impl ProgressDisplay {
    pub fn start() -> ProgressDisplay {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}) {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_message("listing objects");
        let shown = bar.clone();
        let task = tokio::spawn(async move {
            loop {
                update(&shown);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        ProgressDisplay { bar, task }
    }

    /// Stops drawing and prints the summary line.
    pub fn finish(self) {
        self.task.abort();
        update(&self.bar);
        self.bar.finish_and_clear();
        eprintln!(
            "replayed {} of {} objects, {} events, {} stored bytes{}",
            PROGRESS.objects_done.load(Ordering::Relaxed),
            PROGRESS.objects_total.load(Ordering::Relaxed),
            PROGRESS.events.load(Ordering::Relaxed),
            PROGRESS.bytes_done.load(Ordering::Relaxed),
            match PROGRESS.invalid_lines.load(Ordering::Relaxed) {
                0 => String::new(),
                n => format!(", {n} lines not JSON"),
            }
        );
    }
}

fn update(bar: &ProgressBar) {
    if PROGRESS.listed.load(Ordering::Acquire) {
        bar.set_length(PROGRESS.bytes_total.load(Ordering::Relaxed));
        bar.set_position(PROGRESS.bytes_done.load(Ordering::Relaxed));
        bar.set_message(format!(
            "objects {}/{}, events {}",
            PROGRESS.objects_done.load(Ordering::Relaxed),
            PROGRESS.objects_total.load(Ordering::Relaxed),
            PROGRESS.events.load(Ordering::Relaxed)
        ));
    } else {
        bar.tick();
    }
}
