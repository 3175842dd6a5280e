//! File identity: what makes "the same file" across renames, restarts and inode reuse.
//!
//! A tailed file is identified by its device and inode ([`FileId`], stable while the file
//! exists, whatever its name) plus a [`Fingerprint`] of its first bytes, which tells a file
//! apart from a later one that got the same inode after the first was deleted, and tells the
//! content a `copytruncate` rotation left behind from the content written after it.
//!
//! The fingerprint covers the file's first line (up to and including its `\n`), or its first
//! [`FINGERPRINT_MAX_BYTES`] bytes when the first line is longer. Those bytes never change
//! once written, so the fingerprint is stable; a file whose first line is not complete yet
//! has no stable fingerprint and is not read until it has (see `DESIGN.md`). A stored
//! fingerprint records how many bytes it covers, so checking one against a file is "hash the
//! file's first `len` bytes and compare". The hash is FNV-1a 64, fixed forever because it is
//! persisted in checkpoints and feeds the events' deterministic origin.

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};

/// The most bytes a fingerprint covers.
pub const FINGERPRINT_MAX_BYTES: usize = 256;

/// Device and inode of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    pub fn of(meta: &Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// A hash of a file's first `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    pub len: u32,
    pub hash: u64,
}

/// A file's full identity: where it lives on disk and what it starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileIdentity {
    pub id: FileId,
    pub fingerprint: Fingerprint,
}

impl FileIdentity {
    /// A stable 64-bit name of this identity: `Origin::stream` of the file's events.
    pub fn stream_hash(&self) -> u64 {
        let mut bytes = [0u8; 28];
        bytes[..8].copy_from_slice(&self.id.dev.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.id.ino.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.fingerprint.hash.to_le_bytes());
        bytes[24..].copy_from_slice(&self.fingerprint.len.to_le_bytes());
        fnv1a64(&bytes)
    }
}

/// FNV-1a, 64 bits.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Reads up to `buf.len()` bytes from the start of the file (short only at end of file).
fn read_head(file: &File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The file's stable fingerprint, or `None` while its first line is shorter than
/// [`FINGERPRINT_MAX_BYTES`] and not yet complete. With `accept_incomplete`, whatever the
/// file holds (if anything) is fingerprinted instead: used when a file will be read to its end
/// once and never again (`exit_on_eof`).
pub fn compute(file: &File, accept_incomplete: bool) -> io::Result<Option<Fingerprint>> {
    let mut buf = [0u8; FINGERPRINT_MAX_BYTES];
    let n = read_head(file, &mut buf)?;
    let len = match memchr::memchr(b'\n', &buf[..n]) {
        Some(nl) => nl + 1,
        None if n == FINGERPRINT_MAX_BYTES => n,
        None if accept_incomplete && n > 0 => n,
        None => return Ok(None),
    };
    Ok(Some(Fingerprint {
        len: len as u32,
        hash: fnv1a64(&buf[..len]),
    }))
}

/// Whether the file's first `fingerprint.len` bytes hash to `fingerprint.hash`.
pub fn matches(file: &File, fingerprint: Fingerprint) -> io::Result<bool> {
    let len = (fingerprint.len as usize).min(FINGERPRINT_MAX_BYTES);
    let mut buf = [0u8; FINGERPRINT_MAX_BYTES];
    let n = read_head(file, &mut buf[..len])?;
    Ok(n == len && fnv1a64(&buf[..len]) == fingerprint.hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn fingerprint_covers_the_first_line_once_complete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut w = std::fs::File::create(&path).unwrap();
        let r = File::open(&path).unwrap();
        assert_eq!(compute(&r, false).unwrap(), None);
        w.write_all(b"first line wit").unwrap();
        assert_eq!(compute(&r, false).unwrap(), None);
        let incomplete = compute(&r, true).unwrap().unwrap();
        assert_eq!(incomplete.len, 14);
        w.write_all(b"hout end\nsecond\n").unwrap();
        let fp = compute(&r, false).unwrap().unwrap();
        assert_eq!(fp.len, 23);
        assert_eq!(fp.hash, fnv1a64(b"first line without end\n"));
        w.write_all(b"more\n").unwrap();
        assert_eq!(compute(&r, false).unwrap(), Some(fp));
        assert!(matches(&r, fp).unwrap());
        // An incomplete fingerprint still verifies as a prefix.
        assert!(matches(&r, incomplete).unwrap());
    }

    #[test]
    fn long_first_lines_are_cut_and_different_content_differs() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, vec![b'x'; 1000]).unwrap();
        let fa = compute(&File::open(&a).unwrap(), false).unwrap().unwrap();
        assert_eq!(fa.len as usize, FINGERPRINT_MAX_BYTES);
        let b = dir.path().join("b");
        std::fs::write(&b, b"other\n").unwrap();
        let fb = File::open(&b).unwrap();
        assert!(!matches(&fb, fa).unwrap());
        let id = FileIdentity {
            id: FileId { dev: 1, ino: 2 },
            fingerprint: fa,
        };
        let id2 = FileIdentity {
            id: FileId { dev: 1, ino: 3 },
            fingerprint: fa,
        };
        assert_ne!(id.stream_hash(), id2.stream_hash());
        assert_eq!(id.stream_hash(), id.stream_hash());
    }

    #[test]
    fn fnv_is_the_reference_function() {
        // Reference values of FNV-1a 64: persisted hashes must never change.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
