//! Checkpoints: how far each file has been read *and acknowledged*, persisted in
//! `<data_dir>/<component_id>/checkpoints.json`.
//!
//! Owns the file format and its durability: a save writes a temporary file, fsyncs it,
//! renames it over the old one and fsyncs the directory, so a crash leaves either the old or
//! the new checkpoints, never a mix. A file that does not parse (damaged disk, manual edit)
//! is reported by [`load`] as [`Loaded::Corrupt`] and moved aside for inspection; the source
//! then starts as if it had no checkpoints instead of failing.
//!
//! Entries are keyed by file identity (device, inode, fingerprint), never by path: a renamed
//! file keeps its checkpoint and a new file that got a deleted file's inode does not inherit
//! it. Which offsets may be stored is decided by the acknowledgement tracking in `source.rs`.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::fingerprint::{FileId, FileIdentity, Fingerprint};

/// The name of the checkpoint file inside the component's data directory.
pub const CHECKPOINT_FILE: &str = "checkpoints.json";
const VERSION: u32 = 1;

/// One file's checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredCheckpoint {
    pub dev: u64,
    pub inode: u64,
    /// How many bytes the fingerprint covers.
    pub fingerprint_len: u32,
    /// FNV-1a 64 of those bytes, 16 hex digits.
    pub fingerprint: String,
    /// Every byte before this offset was delivered.
    pub offset: u64,
    /// The file's last known path (informational: identity is what matches).
    pub path: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointDocument {
    version: u32,
    checkpoints: Vec<StoredCheckpoint>,
}

/// A checkpoint in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub identity: FileIdentity,
    pub offset: u64,
    pub path: PathBuf,
}

impl Checkpoint {
    fn to_stored(&self) -> StoredCheckpoint {
        StoredCheckpoint {
            dev: self.identity.id.dev,
            inode: self.identity.id.ino,
            fingerprint_len: self.identity.fingerprint.len,
            fingerprint: format!("{:016x}", self.identity.fingerprint.hash),
            offset: self.offset,
            path: self.path.clone(),
        }
    }

    fn from_stored(s: StoredCheckpoint) -> Result<Checkpoint, String> {
        let hash = u64::from_str_radix(&s.fingerprint, 16)
            .map_err(|_| format!("invalid fingerprint {:?}", s.fingerprint))?;
        if s.fingerprint_len == 0 {
            return Err("fingerprint covers no bytes".to_string());
        }
        Ok(Checkpoint {
            identity: FileIdentity {
                id: FileId {
                    dev: s.dev,
                    ino: s.inode,
                },
                fingerprint: Fingerprint {
                    len: s.fingerprint_len,
                    hash,
                },
            },
            offset: s.offset,
            path: s.path,
        })
    }
}

/// Why checkpoints could not be saved or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The outcome of reading the checkpoint file.
#[derive(Debug)]
pub enum Loaded {
    /// No checkpoint file: a first start.
    Missing,
    Valid(Vec<Checkpoint>),
    /// The file exists but is damaged; it was moved to `moved_to` (if that worked).
    Corrupt {
        reason: String,
        moved_to: Option<PathBuf>,
    },
}

/// Reads the checkpoints in `dir`.
pub fn load(dir: &Path) -> Result<Loaded, CheckpointError> {
    let path = dir.join(CHECKPOINT_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Loaded::Missing),
        Err(source) => {
            return Err(CheckpointError::Io {
                action: "reading",
                path,
                source,
            })
        }
    };
    let parsed = serde_json::from_slice::<CheckpointDocument>(&bytes)
        .map_err(|e| e.to_string())
        .and_then(|doc| {
            if doc.version != VERSION {
                return Err(format!("unsupported version {}", doc.version));
            }
            doc.checkpoints
                .into_iter()
                .map(Checkpoint::from_stored)
                .collect::<Result<Vec<_>, _>>()
        });
    match parsed {
        Ok(checkpoints) => Ok(Loaded::Valid(checkpoints)),
        Err(reason) => {
            let aside = dir.join(format!(
                "{CHECKPOINT_FILE}.corrupt-{}",
                crate::time::now_unix_nanos()
            ));
            let moved_to = std::fs::rename(&path, &aside).ok().map(|()| aside);
            Ok(Loaded::Corrupt { reason, moved_to })
        }
    }
}

/// Writes `checkpoints` to `dir` atomically and durably.
pub fn save<'a>(
    dir: &Path,
    checkpoints: impl IntoIterator<Item = &'a Checkpoint>,
) -> Result<(), CheckpointError> {
    let io_err = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| CheckpointError::Io {
            action,
            path,
            source,
        }
    };
    std::fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
    let mut stored: Vec<StoredCheckpoint> =
        checkpoints.into_iter().map(Checkpoint::to_stored).collect();
    // A stable order keeps the file diffable and the writes reproducible.
    stored.sort_by(|a, b| (a.dev, a.inode, &a.fingerprint).cmp(&(b.dev, b.inode, &b.fingerprint)));
    let doc = CheckpointDocument {
        version: VERSION,
        checkpoints: stored,
    };
    let mut bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    bytes.push(b'\n');
    let tmp = dir.join(format!("{CHECKPOINT_FILE}.tmp"));
    let target = dir.join(CHECKPOINT_FILE);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io_err("creating", &tmp))?;
        f.write_all(&bytes).map_err(io_err("writing", &tmp))?;
        f.sync_all().map_err(io_err("syncing", &tmp))?;
    }
    std::fs::rename(&tmp, &target).map_err(io_err("renaming to", &target))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing directory", dir))?;
    Ok(())
}

/// Loaded checkpoints not yet claimed by a discovered file, by device and inode.
#[derive(Debug, Default)]
pub struct Unclaimed {
    by_id: HashMap<FileId, Vec<Checkpoint>>,
}

/// What the checkpoints say about a file just found.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// A checkpoint of this very file (its fingerprint verified): resume there.
    Resume(Checkpoint),
    /// Checkpoints exist for this device and inode but none matches the content: the inode
    /// was reused by a new file.
    InodeReused,
    NotFound,
}

impl Unclaimed {
    pub fn new(checkpoints: Vec<Checkpoint>) -> Unclaimed {
        let mut by_id: HashMap<FileId, Vec<Checkpoint>> = HashMap::new();
        for c in checkpoints {
            by_id.entry(c.identity.id).or_default().push(c);
        }
        Unclaimed { by_id }
    }

    pub fn len(&self) -> usize {
        self.by_id.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Takes the checkpoint of the open file `file` (device and inode `id`), verifying the
    /// stored fingerprint against the file's first bytes.
    pub fn claim(&mut self, id: FileId, file: &File) -> io::Result<Claim> {
        let Some(candidates) = self.by_id.get_mut(&id) else {
            return Ok(Claim::NotFound);
        };
        for i in 0..candidates.len() {
            if super::fingerprint::matches(file, candidates[i].identity.fingerprint)? {
                let c = candidates.swap_remove(i);
                if candidates.is_empty() {
                    self.by_id.remove(&id);
                }
                return Ok(Claim::Resume(c));
            }
        }
        self.by_id.remove(&id);
        Ok(Claim::InodeReused)
    }

    /// Forgets every unclaimed checkpoint (files gone while logweir was stopped).
    pub fn clear(&mut self) -> usize {
        let n = self.len();
        self.by_id.clear();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(ino: u64, offset: u64, content_first_line: &[u8]) -> Checkpoint {
        Checkpoint {
            identity: FileIdentity {
                id: FileId { dev: 7, ino },
                fingerprint: Fingerprint {
                    len: content_first_line.len() as u32,
                    hash: super::super::fingerprint::fnv1a64(content_first_line),
                },
            },
            offset,
            path: PathBuf::from(format!("/var/log/{ino}.log")),
        }
    }

    #[test]
    fn saves_and_loads_atomically() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(load(dir.path()).unwrap(), Loaded::Missing));
        let cps = vec![checkpoint(2, 100, b"b\n"), checkpoint(1, 5, b"a\n")];
        save(dir.path(), &cps).unwrap();
        assert!(!dir.path().join("checkpoints.json.tmp").exists());
        match load(dir.path()).unwrap() {
            Loaded::Valid(mut loaded) => {
                loaded.sort_by_key(|c| c.identity.id.ino);
                let mut want = cps.clone();
                want.sort_by_key(|c| c.identity.id.ino);
                assert_eq!(loaded, want);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn torn_files_are_reported_and_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), &[checkpoint(1, 5, b"a\n")]).unwrap();
        let path = dir.path().join(CHECKPOINT_FILE);
        let full = std::fs::read(&path).unwrap();
        std::fs::write(&path, &full[..full.len() / 2]).unwrap();
        match load(dir.path()).unwrap() {
            Loaded::Corrupt { reason, moved_to } => {
                assert!(!reason.is_empty());
                let moved = moved_to.unwrap();
                assert_eq!(std::fs::read(moved).unwrap(), &full[..full.len() / 2]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(load(dir.path()).unwrap(), Loaded::Missing));
        std::fs::write(&path, b"{\"version\":1,\"checkpoints\":[{\"dev\":1}]}").unwrap();
        assert!(matches!(load(dir.path()).unwrap(), Loaded::Corrupt { .. }));
    }

    #[test]
    fn claims_verify_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.log");
        std::fs::write(&path, b"a\nmore\n").unwrap();
        let file = File::open(&path).unwrap();
        let mut unclaimed =
            Unclaimed::new(vec![checkpoint(1, 5, b"a\n"), checkpoint(2, 9, b"x\n")]);
        let id1 = FileId { dev: 7, ino: 1 };
        match unclaimed.claim(id1, &file).unwrap() {
            Claim::Resume(c) => assert_eq!(c.offset, 5),
            other => panic!("{other:?}"),
        }
        assert_eq!(unclaimed.claim(id1, &file).unwrap(), Claim::NotFound);
        let id2 = FileId { dev: 7, ino: 2 };
        assert_eq!(unclaimed.claim(id2, &file).unwrap(), Claim::InodeReused);
        assert!(unclaimed.is_empty());
    }
}
