//! Checkpoints across restarts: a `kill -9` loses nothing and replays only what was past the
//! last checkpoint; a clean shutdown replays nothing; a new file that reuses a checkpointed
//! inode is read from its beginning; a torn checkpoint file is reported, not fatal.

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::tail;

/// Every line has this many bytes, so a line's offset is `seq * LINE`.
const LINE: u64 = 64;

fn line(seq: u64) -> String {
    let mut s = format!("seq={seq:08} ");
    while (s.len() as u64) < LINE - 1 {
        s.push('x');
    }
    s.push('\n');
    s
}

/// Appends lines `from..to` to `path`, 1,000 at a time with a pause between writes, so the
/// source tails a growing file.
fn append_slowly(path: PathBuf, from: u64, to: u64) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        let mut seq = from;
        while seq < to {
            let end = (seq + 1000).min(to);
            let chunk: String = (seq..end).map(line).collect();
            f.write_all(chunk.as_bytes()).unwrap();
            seq = end;
            std::thread::sleep(Duration::from_millis(5));
        }
    })
}

struct Setup {
    dir: tempfile::TempDir,
    app: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("logs")).unwrap();
        let app = dir.path().join("logs/app.log");
        Setup { dir, app }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A pipeline writing `out`; all of them share the data directory (checkpoints).
    fn config(&self, name: &str, options: &str, out: &Path) -> PathBuf {
        tail::pipeline(
            self.dir.path(),
            name,
            &format!("{}/logs/*.log", self.dir.path().display()),
            &format!("format = \"raw\"\ncheckpoint_interval_ms = 100\n{options}"),
            out,
        )
    }

    fn checkpoint(&self) -> Option<u64> {
        tail::checkpoint_offsets(self.dir.path())
            .get(self.app.to_str().unwrap())
            .copied()
    }
}

#[test]
fn kill_9_then_restart_loses_nothing_and_replays_only_lines_past_the_checkpoint() {
    const TOTAL: u64 = 300_000;
    let s = Setup::new();
    let (out1, out2) = (s.path("out1.ndjson"), s.path("out2.ndjson"));
    let writer = append_slowly(s.app.clone(), 0, TOTAL);
    let mut first = tail::start(&s.config("p1.toml", "", &out1), &s.path("log1"));
    assert!(
        common::wait_until(Duration::from_secs(60), || {
            common::count_lines(&out1) >= 30_000 && s.checkpoint().is_some_and(|c| c > 0)
        }),
        "no progress before the kill"
    );
    tail::kill9(&mut first);
    let checkpoint = s.checkpoint().unwrap();
    assert_eq!(checkpoint % LINE, 0, "checkpoints fall on line boundaries");
    let resume_seq = checkpoint / LINE;
    let seqs1 = tail::seqs(&out1);
    assert!(
        seqs1.len() as u64 >= resume_seq,
        "checkpoint past delivered lines"
    );

    let mut second = tail::start(&s.config("p2.toml", "", &out2), &s.path("log2"));
    writer.join().unwrap();
    let expected2 = (TOTAL - resume_seq) as usize;
    let done = common::wait_until(Duration::from_secs(120), || {
        common::count_lines(&out2) >= expected2
    });
    assert!(tail::stop(&mut second).success());
    assert!(
        done,
        "{} of {expected2} lines after the restart",
        common::count_lines(&out2)
    );

    // Before the kill: no duplicates. After: exactly the lines from the checkpoint on.
    assert_eq!(seqs1.iter().collect::<HashSet<_>>().len(), seqs1.len());
    let seqs2 = tail::seqs(&out2);
    let want2: Vec<u64> = (resume_seq..TOTAL).collect();
    let mut sorted2 = seqs2.clone();
    sorted2.sort_unstable();
    assert_eq!(
        sorted2, want2,
        "the restart resumes exactly at the checkpoint"
    );
    // No gaps overall; the only duplicates are lines delivered past the checkpoint before
    // the kill (in flight when it happened).
    let mut all = seqs1.clone();
    all.extend(&seqs2);
    let unique: HashSet<u64> = all.iter().copied().collect();
    assert_eq!(unique.len() as u64, TOTAL, "lines missing");
    let duplicated: HashSet<u64> = seqs1.iter().copied().filter(|&q| q >= resume_seq).collect();
    assert_eq!(all.len() - unique.len(), duplicated.len());
    assert!(
        (duplicated.len() as u64) < TOTAL / 2,
        "{} duplicates: the checkpoint lagged far behind delivery",
        duplicated.len()
    );
}

#[test]
fn clean_shutdown_then_restart_replays_nothing() {
    const TOTAL: u64 = 200_000;
    let s = Setup::new();
    let (out1, out2) = (s.path("out1.ndjson"), s.path("out2.ndjson"));
    let writer = append_slowly(s.app.clone(), 0, TOTAL);
    let mut first = tail::start(&s.config("p1.toml", "", &out1), &s.path("log1"));
    assert!(common::wait_until(Duration::from_secs(60), || {
        common::count_lines(&out1) >= 20_000
    }));
    assert!(tail::stop(&mut first).success());
    let delivered = common::count_lines(&out1) as u64;
    assert!(delivered < TOTAL, "the writer was still writing");
    let mut second = tail::start(&s.config("p2.toml", "", &out2), &s.path("log2"));
    writer.join().unwrap();
    let done = common::wait_until(Duration::from_secs(120), || {
        (common::count_lines(&out1) + common::count_lines(&out2)) as u64 >= TOTAL
    });
    // Duplicates, if any, would arrive right away; give them a moment.
    std::thread::sleep(Duration::from_millis(500));
    assert!(tail::stop(&mut second).success());
    assert!(done);
    let mut all = tail::seqs(&out1);
    all.extend(tail::seqs(&out2));
    tail::assert_exactly_once(&all, TOTAL);
}

#[test]
fn a_new_file_reusing_a_checkpointed_inode_is_read_from_its_beginning() {
    let s = Setup::new();
    let (out1, out2) = (s.path("out1.ndjson"), s.path("out2.ndjson"));
    let old: String = (0..100).map(line).collect();
    std::fs::write(&s.app, &old).unwrap();
    let (status, _) = tail::run_to_end(
        &s.config("p1.toml", "exit_on_eof = true", &out1),
        &s.path("log1"),
    );
    assert!(status.success());
    assert_eq!(tail::seqs(&out1).len(), 100);
    assert_eq!(s.checkpoint(), Some(100 * LINE));

    // Replace the file: same path, same size, different content.
    use std::os::unix::fs::MetadataExt;
    let old_inode = std::fs::metadata(&s.app).unwrap().ino();
    std::fs::remove_file(&s.app).unwrap();
    let new: String = (1000..1200).map(line).collect();
    std::fs::write(&s.app, &new).unwrap();
    let new_inode = std::fs::metadata(&s.app).unwrap().ino();
    if new_inode != old_inode {
        // The file system did not hand the inode out again (tmpfs never does): make the
        // checkpoint name the new inode, which is what a reuse looks like to the source.
        let cp = tail::checkpoint_file(s.dir.path());
        let text = std::fs::read_to_string(&cp).unwrap();
        let from = format!("\"inode\": {old_inode}");
        assert!(text.contains(&from), "{text}");
        std::fs::write(&cp, text.replace(&from, &format!("\"inode\": {new_inode}"))).unwrap();
    }
    let (status, logs) = tail::run_to_end(
        &s.config("p2.toml", "exit_on_eof = true", &out2),
        &s.path("log2"),
    );
    assert!(status.success(), "{logs}");
    assert!(logs.contains("inode reused"), "{logs}");
    let seqs2 = tail::seqs(&out2);
    assert_eq!(
        seqs2,
        (1000..1200).collect::<Vec<_>>(),
        "read from the beginning"
    );
}

#[test]
fn a_torn_checkpoint_file_is_reported_and_the_source_starts_anyway() {
    let s = Setup::new();
    let (out1, out2) = (s.path("out1.ndjson"), s.path("out2.ndjson"));
    std::fs::write(&s.app, (0..500).map(line).collect::<String>()).unwrap();
    let (status, _) = tail::run_to_end(
        &s.config("p1.toml", "exit_on_eof = true", &out1),
        &s.path("log1"),
    );
    assert!(status.success());
    let cp = tail::checkpoint_file(s.dir.path());
    let full = std::fs::read(&cp).unwrap();
    std::fs::write(&cp, &full[..full.len() / 2]).unwrap();

    let (status, logs) = tail::run_to_end(
        &s.config("p2.toml", "exit_on_eof = true", &out2),
        &s.path("log2"),
    );
    assert!(status.success(), "{logs}");
    assert!(logs.contains("checkpoint file is corrupt"), "{logs}");
    assert!(logs.contains("\"checkpoints_corrupt\":1"), "{logs}");
    // read_from = beginning (the default): everything again.
    assert_eq!(tail::seqs(&out2), (0..500).collect::<Vec<_>>());
    // The damaged file is kept for inspection and a valid one replaced it.
    let kept = std::fs::read_dir(s.dir.path().join("data/tail"))
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().contains("corrupt"));
    assert!(kept);
    assert_eq!(s.checkpoint(), Some(500 * LINE));
}
