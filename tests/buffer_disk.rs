//! The disk buffer: replay after a restart, torn segments and acknowledgement files, and a full
//! buffer under `block` and `drop_newest`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use logweir::buffers::disk::DiskBuffer;
use logweir::buffers::WhenFull;
use logweir::event::{Event, EventBatch, Value};
use logweir::finalization::{BatchNotifier, BatchStatus, EventFinalizer, EventStatus};
use logweir::topology::channel::channel;

/// A batch of events with `seq` from `start`, all tied to one notifier.
fn batch(
    start: u64,
    n: u64,
    payload: usize,
) -> (EventBatch, logweir::finalization::BatchStatusReceiver) {
    let (notifier, rx) = BatchNotifier::new();
    let events = (start..start + n)
        .map(|seq| {
            let mut e =
                Event::from_message(Bytes::from("x".repeat(payload)), 1_700_000_000_000_000_000);
            e.fields.insert("seq", Value::Integer(seq as i64));
            e.meta.finalizer = Some(EventFinalizer::new(Arc::clone(&notifier)));
            e
        })
        .collect();
    (EventBatch::new(events), rx)
}

fn seqs(batch: &EventBatch) -> Vec<i64> {
    batch
        .events
        .iter()
        .map(|e| match e.fields.get("seq") {
            Some(Value::Integer(i)) => *i,
            other => panic!("no seq: {other:?}"),
        })
        .collect()
}

/// Runs a buffer over `dir`: sends `batches`, lets the sink deliver the first `deliver` events
/// it reads (the rest are read and then dropped unfinished, i.e. not delivered), and returns
/// the seqs the sink saw and the upstream statuses.
async fn run_once(
    dir: &Path,
    batches: Vec<(u64, u64)>,
    deliver: usize,
) -> (Vec<i64>, Vec<BatchStatus>) {
    let (tx, rx) = channel(2);
    let (buffer, mut sink_rx) =
        DiskBuffer::start(dir.to_path_buf(), "out", 64 << 20, WhenFull::Block, rx).unwrap();
    let mut upstream = Vec::new();
    let producer = tokio::spawn(async move {
        for (start, n) in batches {
            let (b, status) = batch(start, n, 100);
            tx.send(b).await.unwrap();
            upstream.push(status);
        }
        let mut statuses = Vec::new();
        for s in upstream {
            statuses.push(s.wait().await);
        }
        statuses
    });
    let mut seen = Vec::new();
    while let Some(mut b) = sink_rx.recv().await {
        seen.extend(seqs(&b));
        if seen.len() <= deliver {
            b.finish(EventStatus::Delivered);
        }
    }
    let statuses = producer.await.unwrap();
    buffer.join().await;
    (seen, statuses)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undelivered_events_are_replayed_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (seen, statuses) =
        run_once(dir.path(), vec![(0, 1000), (1000, 1000), (2000, 500)], 1000).await;
    assert_eq!(seen.len(), 2500);
    // Upstream sees its events delivered as soon as they are on disk.
    assert!(statuses.iter().all(|s| *s == BatchStatus::Delivered));

    // The sink confirmed only the first 1000: a restart replays exactly the rest, in order.
    let (replayed, _) = run_once(dir.path(), vec![], usize::MAX).await;
    assert_eq!(replayed, (1000..2500).collect::<Vec<i64>>());

    // Everything is confirmed now: nothing is replayed again.
    let (again, _) = run_once(dir.path(), vec![(2500, 10)], usize::MAX).await;
    assert_eq!(again, (2500..2510).collect::<Vec<i64>>());
}

fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut s: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    s.sort();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_segment_tail_is_skipped_and_the_rest_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let (seen, _) = run_once(dir.path(), vec![(0, 100), (100, 100)], 0).await;
    assert_eq!(seen.len(), 200);
    // Tear the last record in half, as a crash during a write would.
    let seg = segments(dir.path()).pop().unwrap();
    let len = std::fs::metadata(&seg).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    file.set_len(len - 50).unwrap();
    drop(file);
    let (replayed, _) = run_once(dir.path(), vec![(200, 5)], usize::MAX).await;
    assert_eq!(replayed, (0..199).chain(200..205).collect::<Vec<i64>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_record_and_a_corrupt_ack_file_do_not_stop_the_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _) = run_once(dir.path(), vec![(0, 10)], 10).await;
    // Garbage in the acknowledgement file: the buffer starts and replays what it has.
    std::fs::write(dir.path().join("ack.json"), b"{not json").unwrap();
    let (replayed, _) = run_once(dir.path(), vec![(10, 10)], 0).await;
    assert!(
        replayed.ends_with(&(10..20).collect::<Vec<i64>>()),
        "{replayed:?}"
    );
    // Flip a payload byte in the first segment: its CRC no longer matches.
    let seg = segments(dir.path()).remove(0);
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[20] ^= 0xff;
    std::fs::write(&seg, bytes).unwrap();
    let (after, _) = run_once(dir.path(), vec![(20, 3)], usize::MAX).await;
    assert!(after.ends_with(&[20, 21, 22]), "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_blocks_then_drains() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = channel(1);
    // 1 MiB holds about 1,000 events of 1 KiB.
    let (buffer, mut sink_rx) = DiskBuffer::start(
        dir.path().to_path_buf(),
        "out",
        1 << 20,
        WhenFull::Block,
        rx,
    )
    .unwrap();
    let stats = Arc::clone(tx.stats());
    let producer = tokio::spawn(async move {
        for i in 0..10u64 {
            tx.send(batch(i * 500, 500, 1000).0).await.unwrap();
        }
    });
    // The sink does not read for a while: the writer fills the buffer and then waits.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !producer.is_finished(),
        "5 MB went into a 1 MiB buffer without waiting"
    );
    let dir_bytes: u64 = segments(dir.path())
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(dir_bytes <= 2 << 20, "buffer grew to {dir_bytes} bytes");
    let mut seen = Vec::new();
    while let Some(mut b) = sink_rx.recv().await {
        seen.extend(seqs(&b));
        b.finish(EventStatus::Delivered);
    }
    producer.await.unwrap();
    buffer.join().await;
    assert_eq!(seen, (0..5000).collect::<Vec<i64>>());
    assert!(
        stats
            .blocked_sends
            .load(std::sync::atomic::Ordering::Acquire)
            > 0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_drops_newest_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = channel(1);
    let (buffer, mut sink_rx) = DiskBuffer::start(
        dir.path().to_path_buf(),
        "out",
        1 << 20,
        WhenFull::DropNewest,
        rx,
    )
    .unwrap();
    let mut statuses = Vec::new();
    for i in 0..10u64 {
        let (b, s) = batch(i * 500, 500, 1000);
        tx.send(b).await.unwrap();
        statuses.push(s);
    }
    drop(tx);
    // Nothing read yet: the first batches fit, the later ones were discarded.
    let mut outcomes = Vec::new();
    for s in statuses {
        outcomes.push(s.wait().await);
    }
    assert!(
        outcomes.iter().all(|s| *s == BatchStatus::Delivered),
        "dropped-on-purpose counts as done"
    );
    let mut seen = Vec::new();
    while let Some(mut b) = sink_rx.recv().await {
        seen.extend(seqs(&b));
        b.finish(EventStatus::Delivered);
    }
    let report = buffer.join().await;
    assert!(report.discarded_events > 0);
    assert_eq!(seen.len() as u64 + report.discarded_events, 5000);
    assert_eq!(
        seen,
        (0..seen.len() as i64).collect::<Vec<i64>>(),
        "the oldest events are kept"
    );
}
