//! Live configuration reload for `logweir run`: what triggers it (SIGHUP always, file changes
//! with `--watch`) and what happens when it fires (load and check the files, then
//! [`Topology::reload`]). An invalid configuration never touches the running pipeline: the
//! errors are logged with `FILE:LINE:COL` and `logweir_config_reload_failures_total` rises.
//! Successful reloads that changed something count in `logweir_config_reloads_total`.
//!
//! The watcher watches the *directories* holding the configuration, not the files: a
//! Kubernetes ConfigMap volume updates by swapping the `..data` symlink to a new timestamped
//! directory, which changes no watched file (`config.toml -> ..data/config.toml` stays the
//! same link). Events on a configuration file's name, on any `*.toml` of a `--config-dir`, or
//! on a `..`-prefixed entry (the ConfigMap machinery) count; bursts are debounced.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::cli::ConfigArgs;
use crate::config::PipelineConfig;
use crate::topology::Topology;

/// Quiet time after the last file event before reloading: editors and the ConfigMap swap
/// write in several steps.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// Sends a reload request for every SIGHUP, until the task is aborted.
pub async fn forward_hangups(requests: mpsc::Sender<&'static str>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot install the SIGHUP handler: reload with --watch only");
            return;
        };
        while hangup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the configuration");
            // A full channel means a reload is already pending; it will read the same files.
            let _ = requests.try_send("SIGHUP");
        }
    }
    #[cfg(not(unix))]
    {
        let _ = requests;
        std::future::pending::<()>().await;
    }
}

/// A running watch; dropping it stops watching.
pub struct ConfigWatch {
    _watcher: notify::RecommendedWatcher,
    debounce: tokio::task::JoinHandle<()>,
}

impl Drop for ConfigWatch {
    fn drop(&mut self) {
        self.debounce.abort();
    }
}

/// Which file events concern the configuration.
#[derive(Debug, Clone)]
struct Interest {
    /// (directory, file name) of each `--config` file.
    files: Vec<(PathBuf, std::ffi::OsString)>,
    /// Each `--config-dir`.
    dirs: Vec<PathBuf>,
}

impl Interest {
    fn concerns(&self, path: &Path) -> bool {
        let Some(name) = path.file_name() else {
            return false;
        };
        // Kubernetes' atomic writer: `..data`, `..data_tmp`, `..2026_01_01_…`.
        if name.to_string_lossy().starts_with("..") {
            return true;
        }
        let parent = path.parent().unwrap_or(Path::new(""));
        self.files
            .iter()
            .any(|(dir, file)| file == name && same_dir(dir, parent))
            || (path.extension().is_some_and(|e| e == "toml")
                && self.dirs.iter().any(|d| same_dir(d, parent)))
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    a == b
        || match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
}

fn parent_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Watches the directories of `files` and `dirs`; a debounced burst of relevant events sends
/// one request into `requests`.
pub fn watch(
    files: &[PathBuf],
    dirs: &[PathBuf],
    requests: mpsc::Sender<&'static str>,
) -> Result<ConfigWatch, notify::Error> {
    let interest = Interest {
        files: files
            .iter()
            .filter_map(|f| Some((parent_dir(f), f.file_name()?.to_os_string())))
            .collect(),
        dirs: dirs.to_vec(),
    };
    // Bounded: one pending event is enough to start a debounce window.
    let (events_tx, mut events_rx) = mpsc::channel::<()>(1);
    let filter = interest.clone();
    let mut watcher =
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(event) => {
                if event.kind.is_access() {
                    return;
                }
                if event.paths.iter().any(|p| filter.concerns(p)) {
                    let _ = events_tx.try_send(());
                }
            }
            Err(e) => tracing::warn!(error = %e, "configuration watch error"),
        })?;
    let mut watched: Vec<PathBuf> = interest.files.iter().map(|(d, _)| d.clone()).collect();
    watched.extend(interest.dirs.iter().cloned());
    watched.sort();
    watched.dedup();
    for dir in &watched {
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
        tracing::info!(directory = %dir.display(), "watching the configuration for changes");
    }
    let debounce = tokio::spawn(async move {
        while events_rx.recv().await.is_some() {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(DEBOUNCE) => break,
                    more = events_rx.recv() => if more.is_none() { return },
                }
            }
            let _ = requests.try_send("file change");
        }
    });
    Ok(ConfigWatch {
        _watcher: watcher,
        debounce,
    })
}

/// Loads the configuration again and applies it; returns the new configuration when it was
/// applied. Failures are logged and counted, and leave the pipeline as it was.
pub fn reload(
    topology: &mut Topology,
    args: &ConfigArgs,
    trigger: &'static str,
) -> Option<PipelineConfig> {
    let config = match PipelineConfig::load_all(&args.config, &args.config_dir) {
        Ok(c) => c,
        Err(errors) => {
            metrics::counter!(crate::internal_metrics::CONFIG_RELOAD_FAILURES).increment(1);
            for e in &errors.0 {
                tracing::error!(trigger, error = %e, "configuration reload failed: the running pipeline continues unchanged");
            }
            return None;
        }
    };
    match topology.reload(&config) {
        Ok(summary) if summary.is_empty() => {
            tracing::info!(trigger, "configuration unchanged");
            Some(config)
        }
        Ok(summary) => {
            metrics::counter!(crate::internal_metrics::CONFIG_RELOADS).increment(1);
            for w in crate::config::lint::lint(&config) {
                tracing::warn!("{w}");
            }
            tracing::info!(
                trigger,
                added = %summary.added.join(","),
                changed = %summary.changed.join(","),
                removed = %summary.removed.join(","),
                "configuration reloaded"
            );
            Some(config)
        }
        Err(e) => {
            metrics::counter!(crate::internal_metrics::CONFIG_RELOAD_FAILURES).increment(1);
            tracing::error!(trigger, error = %e, "configuration reload failed: the running pipeline continues unchanged");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_on_config_names_and_configmap_entries_concern_the_watch() {
        let interest = Interest {
            files: vec![(PathBuf::from("/etc/lw"), "config.toml".into())],
            dirs: vec![PathBuf::from("/etc/lw.d")],
        };
        assert!(interest.concerns(Path::new("/etc/lw/config.toml")));
        assert!(interest.concerns(Path::new("/etc/lw/..data")));
        assert!(interest.concerns(Path::new("/etc/lw/..data_tmp")));
        assert!(interest.concerns(Path::new("/etc/lw.d/extra.toml")));
        assert!(!interest.concerns(Path::new("/etc/lw/other.toml")));
        assert!(!interest.concerns(Path::new("/etc/lw/out.ndjson")));
        assert!(!interest.concerns(Path::new("/etc/lw.d/notes.txt")));
    }
}
