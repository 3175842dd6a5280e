//! Finding the files to tail: `include`/`exclude` glob patterns, a periodic rescan, and
//! inotify (through `notify`) for low latency.
//!
//! Owns the pattern semantics and the change feed. The `glob` crate expands patterns: it walks
//! only the directories a pattern can match (`/var/log/pods/*/*/*.log` reads
//! `/var/log/pods`, then each pod directory, then each container directory — never a whole
//! tree), has no dependencies, and its `Pattern` gives the same semantics for testing a single
//! path from an inotify event. `*` and `?` never cross a `/`; `**` matches any number of
//! directories.
//!
//! Inotify events are turned into [`FsChange`]s on a bounded channel. The channel is also the
//! reader's wake-up call: when it is full, or the kernel queue overflowed, or a directory
//! appeared (files created in it before the new watch was set are not reported), a
//! [`FsChange::Rescan`] is requested instead, so nothing is ever missed, only found by the
//! rescan. The rescan also runs every `glob_interval_ms` whatever happens: it is the safety
//! net for file systems without inotify and for exhausted inotify limits.

use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use glob::{MatchOptions, Pattern};
use notify::{EventKind, RecursiveMode, Watcher as _};

const MATCH_OPTIONS: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

/// Bound of the change channel; beyond it a rescan replaces the individual changes.
const CHANGE_CHANNEL_CAPACITY: usize = 4096;

/// Validates one glob pattern (used when the configuration is parsed).
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    Pattern::new(pattern)
        .map(|_| ())
        .map_err(|e| format!("invalid glob pattern `{pattern}`: {e}"))
}

/// The compiled `include` and `exclude` patterns.
#[derive(Debug, Clone)]
pub struct PathPatterns {
    include: Vec<(String, Pattern)>,
    exclude: Vec<Pattern>,
}

impl PathPatterns {
    pub fn new(include: &[String], exclude: &[String]) -> Result<PathPatterns, String> {
        let compile =
            |p: &String| Pattern::new(p).map_err(|e| format!("invalid glob pattern `{p}`: {e}"));
        Ok(PathPatterns {
            include: include
                .iter()
                .map(|p| compile(p).map(|c| (p.clone(), c)))
                .collect::<Result<_, _>>()?,
            exclude: exclude.iter().map(compile).collect::<Result<_, _>>()?,
        })
    }

    /// Whether `path` is matched by an include pattern and by no exclude pattern.
    pub fn matches(&self, path: &Path) -> bool {
        self.include
            .iter()
            .any(|(_, p)| p.matches_path_with(path, MATCH_OPTIONS))
            && !self.is_excluded(path)
    }

    fn is_excluded(&self, path: &Path) -> bool {
        self.exclude
            .iter()
            .any(|p| p.matches_path_with(path, MATCH_OPTIONS))
    }

    /// Every regular file matched now, sorted and without duplicates.
    pub fn scan(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for (text, _) in &self.include {
            let Ok(paths) = glob::glob_with(text, MATCH_OPTIONS) else {
                continue;
            };
            // Unreadable directories are skipped (and retried at the next scan).
            for path in paths.flatten() {
                if !self.is_excluded(&path) && path.is_file() {
                    found.push(path);
                }
            }
        }
        found.sort();
        found.dedup();
        found
    }

    /// The directories to watch: each include pattern's literal prefix, recursively when the
    /// pattern has wildcards in more than its last component.
    pub fn watch_roots(&self) -> Vec<(PathBuf, RecursiveMode)> {
        let mut roots: Vec<(PathBuf, RecursiveMode)> = Vec::new();
        for (text, _) in &self.include {
            let mut root = PathBuf::new();
            let mut rest = 0;
            for component in Path::new(text).components() {
                let literal = match component {
                    Component::Normal(s) => !s.to_string_lossy().contains(['*', '?', '[', ']']),
                    _ => true,
                };
                if rest == 0 && literal {
                    root.push(component);
                } else {
                    rest += 1;
                }
            }
            if root.as_os_str().is_empty() {
                root.push(".");
            }
            // `dir/file.log` (no wildcard): watch `dir` for the file's creation.
            if rest == 0 {
                root.pop();
                rest = 1;
            }
            let mode = if rest > 1 {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            match roots.iter_mut().find(|(r, _)| *r == root) {
                Some(existing) if mode == RecursiveMode::Recursive => existing.1 = mode,
                Some(_) => {}
                None => roots.push((root, mode)),
            }
        }
        roots
    }
}

/// A change seen by inotify, or a request to rescan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsChange {
    /// This path was created, renamed (from or to) or removed.
    Path(PathBuf),
    /// This path was written to.
    Modified(PathBuf),
    /// A file was renamed (both names known).
    Renamed { from: PathBuf, to: PathBuf },
    /// Changes may have been missed: rescan the patterns.
    Rescan,
    /// Nothing changed; the reader should look at its state (shutdown, a timer).
    Wake,
}

/// The inotify watcher and the receiving end of its changes.
pub struct ChangeFeed {
    watcher: Option<notify::RecommendedWatcher>,
    watched: Vec<PathBuf>,
    roots: Vec<(PathBuf, RecursiveMode)>,
    receiver: Receiver<FsChange>,
    sender: SyncSender<FsChange>,
    overflowed: Arc<AtomicBool>,
}

impl ChangeFeed {
    /// Starts watching the roots of `patterns` that exist. A failure to watch is logged and
    /// leaves the periodic rescan in charge.
    /// With `watch` false, no inotify watch is set (a source that reads its files once).
    pub fn start(component_id: &str, patterns: &PathPatterns, watch: bool) -> ChangeFeed {
        let (sender, receiver) = std::sync::mpsc::sync_channel(CHANGE_CHANNEL_CAPACITY);
        let overflowed = Arc::new(AtomicBool::new(false));
        let watcher = if !watch {
            Err(None)
        } else {
            let sender = sender.clone();
            let overflowed = Arc::clone(&overflowed);
            notify::recommended_watcher(move |result: notify::Result<notify::Event>| {
                let event = match result {
                    Ok(e) => e,
                    Err(_) => {
                        request_rescan(&sender, &overflowed);
                        return;
                    }
                };
                if event.need_rescan() {
                    request_rescan(&sender, &overflowed);
                    return;
                }
                let directory_created = matches!(
                    event.kind,
                    EventKind::Create(notify::event::CreateKind::Folder)
                );
                if matches!(event.kind, EventKind::Access(_)) {
                    return;
                }
                if let (
                    EventKind::Modify(notify::event::ModifyKind::Name(
                        notify::event::RenameMode::Both,
                    )),
                    [from, to],
                ) = (&event.kind, &event.paths[..])
                {
                    let change = FsChange::Renamed {
                        from: from.clone(),
                        to: to.clone(),
                    };
                    if sender.try_send(change).is_err() {
                        overflowed.store(true, Ordering::Release);
                    }
                    return;
                }
                let modified = matches!(
                    event.kind,
                    EventKind::Modify(notify::event::ModifyKind::Data(_))
                        | EventKind::Modify(notify::event::ModifyKind::Any)
                );
                for path in event.paths {
                    let change = if modified {
                        FsChange::Modified(path)
                    } else {
                        FsChange::Path(path)
                    };
                    match sender.try_send(change) {
                        Ok(()) => {}
                        Err(TrySendError::Full(_)) => overflowed.store(true, Ordering::Release),
                        Err(TrySendError::Disconnected(_)) => return,
                    }
                }
                if directory_created {
                    request_rescan(&sender, &overflowed);
                }
            })
            .map_err(Some)
        };
        let watcher = match watcher {
            Ok(w) => Some(w),
            Err(None) => None,
            Err(Some(e)) => {
                tracing::warn!(component_id = %component_id, error = %e, "cannot start inotify; relying on the periodic rescan");
                None
            }
        };
        let mut feed = ChangeFeed {
            watcher,
            watched: Vec::new(),
            roots: patterns.watch_roots(),
            receiver,
            sender,
            overflowed,
        };
        feed.watch_new_roots(component_id);
        feed
    }

    /// Adds watches for roots that did not exist before (called at each rescan).
    pub fn watch_new_roots(&mut self, component_id: &str) {
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        for (root, mode) in &self.roots {
            if self.watched.contains(root) || !root.is_dir() {
                continue;
            }
            match watcher.watch(root, *mode) {
                Ok(()) => {
                    tracing::debug!(component_id = %component_id, path = %root.display(), "watching directory");
                    self.watched.push(root.clone());
                }
                Err(e) => {
                    tracing::warn!(component_id = %component_id, path = %root.display(), error = %e, "cannot watch directory; relying on the periodic rescan");
                }
            }
        }
    }

    /// A handle that can wake the reader (shutdown).
    pub fn waker(&self) -> SyncSender<FsChange> {
        self.sender.clone()
    }

    /// Waits up to `timeout` for the next change.
    pub fn next(&self, timeout: Duration) -> Option<FsChange> {
        if self.overflowed.swap(false, Ordering::AcqRel) {
            return Some(FsChange::Rescan);
        }
        self.receiver.recv_timeout(timeout).ok()
    }

    /// The next change if one is waiting.
    pub fn try_next(&self) -> Option<FsChange> {
        if self.overflowed.swap(false, Ordering::AcqRel) {
            return Some(FsChange::Rescan);
        }
        self.receiver.try_recv().ok()
    }
}

fn request_rescan(sender: &SyncSender<FsChange>, overflowed: &AtomicBool) {
    if sender.try_send(FsChange::Rescan).is_err() {
        overflowed.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(include: &[&str], exclude: &[&str]) -> PathPatterns {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        PathPatterns::new(&s(include), &s(exclude)).unwrap()
    }

    #[test]
    fn include_and_exclude_semantics() {
        let p = patterns(
            &["/var/log/pods/*/*/*.log"],
            &["/var/log/pods/kube-system_*/**"],
        );
        assert!(p.matches(Path::new("/var/log/pods/shop_cart-1_uid/cart/0.log")));
        assert!(!p.matches(Path::new("/var/log/pods/kube-system_dns_uid/dns/0.log")));
        assert!(!p.matches(Path::new("/var/log/pods/shop_cart-1_uid/cart/0.log.2026")));
        // `*` does not cross directories.
        assert!(!p.matches(Path::new("/var/log/pods/a/b/c/0.log")));
        assert!(check_pattern("/var/[log").is_err());
    }

    #[test]
    fn watch_roots_are_literal_prefixes() {
        let p = patterns(
            &[
                "/var/log/pods/*/*/*.log",
                "/var/log/containers/*.log",
                "/tmp/x/app.log",
            ],
            &[],
        );
        assert_eq!(
            p.watch_roots(),
            vec![
                (PathBuf::from("/var/log/pods"), RecursiveMode::Recursive),
                (
                    PathBuf::from("/var/log/containers"),
                    RecursiveMode::NonRecursive
                ),
                (PathBuf::from("/tmp/x"), RecursiveMode::NonRecursive),
            ]
        );
    }

    #[test]
    fn scans_regular_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        std::fs::create_dir_all(base.join("ns_pod_uid/c")).unwrap();
        std::fs::create_dir_all(base.join("kube-system_p_u/c")).unwrap();
        std::fs::create_dir_all(base.join("ns_pod_uid/d/dir.log")).unwrap();
        std::fs::write(base.join("ns_pod_uid/c/0.log"), b"x\n").unwrap();
        std::fs::write(base.join("kube-system_p_u/c/0.log"), b"x\n").unwrap();
        let p = patterns(
            &[&format!("{}/*/*/*.log", base.display())],
            &[&format!("{}/kube-system_*/**", base.display())],
        );
        assert_eq!(p.scan(), vec![base.join("ns_pod_uid/c/0.log")]);
    }

    #[test]
    fn reports_created_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = patterns(&[&format!("{}/*.log", dir.path().display())], &[]);
        let feed = ChangeFeed::start("test", &p, true);
        let path = dir.path().join("new.log");
        std::fs::write(&path, b"x\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut seen = false;
        while std::time::Instant::now() < deadline && !seen {
            if let Some(FsChange::Path(p) | FsChange::Modified(p)) =
                feed.next(Duration::from_millis(100))
            {
                seen = p == path;
            }
        }
        assert!(seen);
    }
}
