//! Rotation while a writer appends: every line is delivered exactly once, whether the log is
//! rotated by rename + create (kubelet, logrotate `create`) or by copy + truncate (logrotate
//! `copytruncate`).

mod common;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::tail;

const LINES: u64 = 200_000;
const ROTATE_EVERY: u64 = 25_000;

#[derive(Clone, Copy)]
enum Rotation {
    RenameCreate,
    CopyTruncate,
}

fn open_append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

/// Appends `LINES` numbered lines to `path` in small writes, rotating it every
/// `ROTATE_EVERY` lines.
///
/// Rename rotations go at full speed: even a file created and renamed away before the
/// source looked at it is followed through the rename. A `copytruncate` leaves no trace of a
/// generation the source never saw (its content lives on only in a copy whose first line the
/// source does not know), so before truncating, the writer waits until the source has
/// delivered the first line of the current generation — as real rotations, minutes apart,
/// always allow. The truncation still races with reading the rest of the generation.
fn write_with_rotations(path: &Path, rotation: Rotation, out: &Path) -> u32 {
    let mut file = open_append(path);
    let mut rotations = 0;
    let mut chunk = Vec::new();
    for seq in 0..LINES {
        writeln!(chunk, "seq={seq} {}", "p".repeat((seq % 50) as usize)).unwrap();
        if seq % 100 == 99 {
            file.write_all(&chunk).unwrap();
            chunk.clear();
        }
        if seq % 2000 == 1999 {
            // Let the reader keep up now and then, so rotations happen while it tails.
            std::thread::sleep(Duration::from_millis(2));
        }
        if seq % ROTATE_EVERY == ROTATE_EVERY - 1 && seq + 1 < LINES {
            file.write_all(&chunk).unwrap();
            chunk.clear();
            rotations += 1;
            let rotated = path.with_extension(format!("log.{rotations}"));
            match rotation {
                Rotation::RenameCreate => {
                    std::fs::rename(path, &rotated).unwrap();
                    file = open_append(path);
                }
                Rotation::CopyTruncate => {
                    let generation_start = (seq + 1 - ROTATE_EVERY) as usize;
                    assert!(
                        common::wait_until(Duration::from_secs(60), || {
                            common::count_lines(out) > generation_start
                        }),
                        "the source never read line {generation_start}"
                    );
                    std::fs::copy(path, &rotated).unwrap();
                    file.set_len(0).unwrap();
                }
            }
        }
    }
    file.write_all(&chunk).unwrap();
    rotations
}

fn every_line_exactly_once(rotation: Rotation) -> String {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let out = dir.path().join("out.ndjson");
    let config = tail::pipeline(
        dir.path(),
        "p.toml",
        &format!("{}/*.log", logs.display()),
        "format = \"raw\"\nrotate_wait_ms = 1000\nglob_interval_ms = 500",
        &out,
    );
    let log = dir.path().join("logweir.log");
    let mut child = tail::start(&config, &log);
    let app = logs.join("app.log");
    let written = out.clone();
    let writer = std::thread::spawn(move || write_with_rotations(&app, rotation, &written));
    let rotations = writer.join().unwrap();
    assert_eq!(rotations, 7);
    let complete = common::wait_until(Duration::from_secs(120), || {
        common::count_lines(&out) >= LINES as usize
    });
    // Give late duplicates (if any) time to show up before judging.
    std::thread::sleep(Duration::from_millis(1500));
    let status = tail::stop(&mut child);
    let logs_text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{logs_text}");
    assert!(
        complete,
        "only {} of {LINES} lines arrived; logs:\n{logs_text}",
        common::count_lines(&out)
    );
    tail::assert_exactly_once(&tail::seqs(&out), LINES);
    logs_text
}

#[test]
fn rename_and_create_rotation_delivers_every_line_exactly_once() {
    let logs = every_line_exactly_once(Rotation::RenameCreate);
    assert!(logs.contains("file renamed or deleted"), "{logs}");
}

#[test]
fn copytruncate_rotation_delivers_every_line_exactly_once() {
    let logs = every_line_exactly_once(Rotation::CopyTruncate);
    assert!(logs.contains("copytruncate"), "{logs}");
}
