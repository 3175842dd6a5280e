//! Live reload of listening sources: a changed `tcp` or `syslog` source on the same address is
//! replaced (the new instance takes the port over once the old one has closed it, instead of
//! failing to bind), and a change to an address another process holds fails the reload
//! cleanly, leaving the running source listening.

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::time::Duration;

use common::net::{free_tcp_port, free_udp_port};
use common::reload::{write_atomically, Running, PATIENCE};
use common::wait_until;

/// A source table (`source`) → add_fields `mark` → file sink.
fn pipeline(dir: &Path, source: &str, version: &str) -> String {
    format!(
        r#"data_dir = "{data}"

[sources.net]
{source}

[transforms.mark]
type = "add_fields"
inputs = ["net"]
fields = {{ config_version = "{version}" }}

[sinks.out]
type = "file"
inputs = ["mark"]
path = "{out}"
"#,
        data = dir.join("data").display(),
        out = dir.join("out.ndjson").display(),
    )
}

/// `(message, config_version)` of every complete output line.
fn output(dir: &Path) -> Vec<(String, String)> {
    common::net::read_complete_ndjson(&dir.join("out.ndjson"))
        .into_iter()
        .map(|v| {
            (
                v["message"].as_str().unwrap_or_default().to_string(),
                v["config_version"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Connects to `port`, retrying while nothing listens (bounded).
fn connect(port: u16) -> TcpStream {
    let mut last = None;
    let connected = wait_until(PATIENCE, || match TcpStream::connect(("127.0.0.1", port)) {
        Ok(s) => {
            last = Some(s);
            true
        }
        Err(_) => false,
    });
    assert!(connected, "nothing listens on {port}");
    last.unwrap()
}

fn send_lines(stream: &mut TcpStream, prefix: &str, range: std::ops::Range<u32>) {
    let text: String = range.map(|i| format!("{prefix} {i}\n")).collect();
    stream.write_all(text.as_bytes()).unwrap();
    stream.flush().unwrap();
}

#[test]
fn a_changed_tcp_source_takes_its_port_over_and_a_taken_port_fails_the_reload() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_tcp_port();
    let config = dir.path().join("pipeline.toml");
    let tcp = |extra: &str| format!("type = \"tcp\"\naddress = \"127.0.0.1:{port}\"\n{extra}");
    write_atomically(&config, &pipeline(dir.path(), &tcp(""), "v1"));
    let run = Running::start(
        &["-c", config.to_str().unwrap(), "--watch"],
        &dir.path().join("stderr.log"),
    );

    let mut before = connect(port);
    send_lines(&mut before, "before", 0..100);
    assert!(
        wait_until(PATIENCE, || output(dir.path()).len() >= 100),
        "{}",
        run.stderr()
    );

    // Same address, another option: the old instance closes its listener and connections,
    // the new one binds the port when it starts.
    write_atomically(
        &config,
        &pipeline(dir.path(), &tcp("max_frame_bytes = 65536"), "v2"),
    );
    assert!(
        wait_until(PATIENCE, || run.stderr().contains("changed=net,mark")),
        "{}",
        run.stderr()
    );
    assert!(!run.stderr().contains("reload failed"), "{}", run.stderr());
    // A connection accepted after the reload belongs to the new instance.
    let mut after = connect(port);
    send_lines(&mut after, "after", 0..100);
    assert!(
        wait_until(PATIENCE, || output(dir.path())
            .iter()
            .filter(|(m, v)| m.starts_with("after ") && v == "v2")
            .count()
            == 100),
        "{:?}\n{}",
        output(dir.path()).last(),
        run.stderr()
    );

    // Moving it to a port another process holds: the reload is refused before anything
    // running is touched.
    let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap().port();
    write_atomically(
        &config,
        &pipeline(
            dir.path(),
            &format!("type = \"tcp\"\naddress = \"127.0.0.1:{taken}\"\n"),
            "v3",
        ),
    );
    assert!(
        wait_until(PATIENCE, || run.stderr().contains("reload failed")),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr()
            .contains(&format!("cannot bind 127.0.0.1:{taken}")),
        "{}",
        run.stderr()
    );
    send_lines(&mut after, "still", 0..50);
    assert!(
        wait_until(PATIENCE, || output(dir.path())
            .iter()
            .filter(|(m, v)| m.starts_with("still ") && v == "v2")
            .count()
            == 50),
        "{}",
        run.stderr()
    );
    drop((before, after, squatter));
    let stderr = run.stop();

    let out = output(dir.path());
    for prefix in ["before", "after", "still"] {
        let seen: Vec<u32> = out
            .iter()
            .filter_map(|(m, _)| m.strip_prefix(prefix)?.trim().parse().ok())
            .collect();
        let n = if prefix == "still" { 50 } else { 100 };
        assert_eq!(seen, (0..n).collect::<Vec<_>>(), "{prefix}: {stderr}");
    }
    assert!(out
        .iter()
        .filter(|(m, _)| m.starts_with("before "))
        .all(|(_, v)| v == "v1"));
}

#[test]
fn a_changed_udp_syslog_source_binds_its_port_again() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let config = dir.path().join("pipeline.toml");
    let syslog = |timezone: &str| {
        format!(
            "type = \"syslog\"\nmode = \"udp\"\naddress = \"127.0.0.1:{port}\"\ntimezone = \"{timezone}\"\n"
        )
    };
    write_atomically(&config, &pipeline(dir.path(), &syslog("UTC"), "v1"));
    let run = Running::start(
        &["-c", config.to_str().unwrap(), "--watch"],
        &dir.path().join("stderr.log"),
    );
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let send = |text: &str| {
        let _ = client.send_to(
            format!("<13>Nov 24 10:00:00 host app: {text}").as_bytes(),
            ("127.0.0.1", port),
        );
    };
    let arrived = |text: &str, version: &str| {
        output(dir.path())
            .iter()
            .any(|(m, v)| m == text && v == version)
    };
    // Datagrams sent before the socket is bound are lost (UDP): send until one arrives.
    assert!(
        wait_until(PATIENCE, || {
            send("first");
            std::thread::sleep(Duration::from_millis(50));
            arrived("first", "v1")
        }),
        "{}",
        run.stderr()
    );
    write_atomically(&config, &pipeline(dir.path(), &syslog("+02:00"), "v2"));
    assert!(
        wait_until(PATIENCE, || run.stderr().contains("changed=net,mark")),
        "{}",
        run.stderr()
    );
    assert!(
        wait_until(PATIENCE, || {
            send("second");
            std::thread::sleep(Duration::from_millis(50));
            arrived("second", "v2")
        }),
        "{}",
        run.stderr()
    );
    let stderr = run.stop();
    assert!(!stderr.contains("cannot bind"), "{stderr}");
}
