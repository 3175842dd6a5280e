//! Hostile clients against the `tcp` source: 10 MiB lines without a newline from many
//! connections, a flood of 2,000 connections over `max_connections`, random bytes and a
//! byte-per-100ms slowloris, all at once. Meanwhile a well-behaved client's lines all
//! arrive, the refusals are counted exactly, and logweir's peak memory stays bounded.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::net::{free_tcp_port, summary, Logweir};

const MAX_CONNECTIONS: usize = 500;
const FLOOD: usize = 2_000;
const BIG_SENDERS: usize = 32;
const BIG_BYTES: usize = 10 * 1024 * 1024;
const MAX_FRAME_BYTES: usize = 256 * 1024;
const GOOD_LINES: usize = 20_000;
/// 32 unbounded 10 MiB buffers alone would be 320 MiB.
const RSS_BOUND_KIB: u64 = 200 * 1024;

fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port)).unwrap()
}

/// xorshift64*: reproducible random bytes without a dependency.
fn random_bytes(n: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        out.extend_from_slice(&seed.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Whether the server closed this connection (EOF or reset) rather than holding it open.
fn closed_by_server(s: &TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1];
    let closed = match (&*s).read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    s.set_nonblocking(false).unwrap();
    closed
}

#[test]
fn hostile_clients_do_not_hurt_a_good_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = free_tcp_port();
    let idle_port = free_tcp_port();
    let out = d.join("out.ndjson");
    let config = format!(
        r#"data_dir = "{data}"
[sources.lines]
type = "tcp"
address = "127.0.0.1:{port}"
decoding = "json"
max_frame_bytes = {MAX_FRAME_BYTES}
max_connections = {MAX_CONNECTIONS}
connection_idle_timeout_secs = 600
[sources.idle]
type = "tcp"
address = "127.0.0.1:{idle_port}"
connection_idle_timeout_secs = 1
[sinks.out]
type = "file"
inputs = ["lines", "idle"]
path = "{out}"
"#,
        data = d.join("data").display(),
        out = out.display()
    );
    let logweir = Logweir::start(d, &config, 2);

    // The clients that will be served connect first, so exactly MAX_CONNECTIONS - specials
    // slots are left for the flood.
    let mut good = connect(port);
    let slow = connect(port);
    let random = connect(port);
    let big: Vec<TcpStream> = (0..BIG_SENDERS).map(|_| connect(port)).collect();
    let specials = 3 + BIG_SENDERS;

    // The flood: connections that stay open and send nothing.
    let flood: Vec<TcpStream> = (0..FLOOD).map(|_| connect(port)).collect();
    let expected_refused = specials + FLOOD - MAX_CONNECTIONS;
    let mut refused_seen = 0;
    let all_refused = common::wait_until(Duration::from_secs(60), || {
        refused_seen = flood.iter().filter(|s| closed_by_server(s)).count();
        refused_seen >= expected_refused
    });
    assert!(
        all_refused,
        "{refused_seen} of {expected_refused} flood connections were refused"
    );

    // Slowloris: one byte every 100 ms until told to stop.
    let stop_slow = Arc::new(AtomicBool::new(false));
    let slow_lines = Arc::new(AtomicU64::new(0));
    let slow_thread = {
        let stop = Arc::clone(&stop_slow);
        let lines = Arc::clone(&slow_lines);
        let mut slow = slow;
        std::thread::spawn(move || {
            let mut seq = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let line = format!("{{\"client\":\"slow\",\"seq\":{seq}}}\n");
                for b in line.as_bytes() {
                    if slow.write_all(&[*b]).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                seq += 1;
                lines.store(seq, Ordering::Relaxed);
            }
        })
    };
    // 10 MiB lines with no newline, from every big sender at once.
    let big_threads: Vec<_> = big
        .into_iter()
        .map(|mut s| {
            std::thread::spawn(move || {
                let chunk = vec![b'x'; 1024 * 1024];
                for _ in 0..BIG_BYTES / chunk.len() {
                    s.write_all(&chunk).unwrap();
                }
                s
            })
        })
        .collect();
    let random_thread = {
        let mut random = random;
        std::thread::spawn(move || {
            random
                .write_all(&random_bytes(4 * 1024 * 1024, 0x9e37_79b9_7f4a_7c15))
                .unwrap();
            random
        })
    };
    // An idle connection on the second source is closed by the idle timeout.
    let idle = connect(idle_port);

    // The well-behaved client.
    let mut batch = String::new();
    for seq in 0..GOOD_LINES {
        batch.push_str(&format!(
            "{{\"client\":\"good\",\"seq\":{seq},\"pad\":\"{}\"}}\n",
            "p".repeat(seq % 50)
        ));
        if batch.len() > 64 * 1024 {
            good.write_all(batch.as_bytes()).unwrap();
            batch.clear();
        }
    }
    good.write_all(batch.as_bytes()).unwrap();
    good.flush().unwrap();

    let big_streams: Vec<TcpStream> = big_threads.into_iter().map(|t| t.join().unwrap()).collect();
    let random = random_thread.join().unwrap();
    let count_good = || {
        common::net::read_complete_ndjson(&out)
            .iter()
            .filter(|e| e["client"] == "good")
            .count()
    };
    let good_arrived = common::wait_until(Duration::from_secs(60), || count_good() >= GOOD_LINES);
    // The slowloris was still trickling while the good client's lines went through.
    assert!(!slow_thread.is_finished());
    idle.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let idle_closed = match (&idle).read(&mut [0u8; 1]) {
        Ok(0) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        Ok(_) => false,
    };
    let peak_rss_kib = logweir.peak_rss_kib();
    stop_slow.store(true, Ordering::Relaxed);
    slow_thread.join().unwrap();
    let slow_completed = slow_lines.load(Ordering::Relaxed) as usize;
    // Each big sender's 10 MiB line came out cut to MAX_FRAME_BYTES.
    let truncated_arrived = common::wait_until(Duration::from_secs(60), || {
        common::net::read_complete_ndjson(&out)
            .iter()
            .filter(|e| {
                e["tags"]
                    .as_array()
                    .is_some_and(|t| t.contains(&"truncated".into()))
            })
            .count()
            >= BIG_SENDERS
    });
    drop((good, random, big_streams, flood));
    let logs = logweir.stop();
    assert!(
        good_arrived,
        "good client: {} of {GOOD_LINES}: {logs}",
        count_good()
    );
    assert!(truncated_arrived, "{logs}");
    assert!(idle_closed, "the idle connection was closed");

    let events = common::read_ndjson(&out);
    let mut good_seqs: Vec<u64> = events
        .iter()
        .filter(|e| e["client"] == "good")
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    good_seqs.sort_unstable();
    assert_eq!(
        good_seqs,
        (0..GOOD_LINES as u64).collect::<Vec<_>>(),
        "every good line exactly once"
    );
    let slow_seqs = events.iter().filter(|e| e["client"] == "slow").count();
    assert!(
        slow_seqs >= slow_completed,
        "slowloris lines completed: {slow_completed}, arrived: {slow_seqs}"
    );
    let truncated: Vec<_> = events
        .iter()
        .filter(|e| {
            e["tags"]
                .as_array()
                .is_some_and(|t| t.contains(&"truncated".into()))
        })
        .collect();
    assert_eq!(
        truncated.len(),
        BIG_SENDERS,
        "one cut event per 10 MiB line"
    );
    for e in &truncated {
        assert_eq!(e["message"].as_str().unwrap().len(), MAX_FRAME_BYTES);
        assert!(e["tags"]
            .as_array()
            .unwrap()
            .contains(&"parse_failure".into()));
    }
    // Random bytes: every line kept, none a JSON object.
    let random_events = events.iter().filter(|e| {
        e.get("client").is_none()
            && !e["tags"]
                .as_array()
                .is_some_and(|t| t.contains(&"truncated".into()))
    });
    assert!(
        random_events.clone().count() > 1000,
        "random bytes made lines"
    );
    assert!(random_events.clone().all(|e| e["tags"]
        .as_array()
        .unwrap()
        .contains(&"parse_failure".into())));

    let s = summary(&logs, "tcp source finished", "lines");
    assert_eq!(s["connections_refused"], expected_refused as u64, "{s}");
    assert_eq!(s["connections_accepted"], MAX_CONNECTIONS as u64, "{s}");
    assert_eq!(s["truncated"], BIG_SENDERS as u64);
    let idle_summary = summary(&logs, "tcp source finished", "idle");
    assert_eq!(idle_summary["idle_timeouts"], 1);
    assert!(
        peak_rss_kib < RSS_BOUND_KIB,
        "logweir peak RSS {peak_rss_kib} KiB exceeds {RSS_BOUND_KIB} KiB"
    );
    eprintln!("logweir peak RSS under attack: {} MiB", peak_rss_kib / 1024);
}
