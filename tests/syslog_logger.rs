//! util-linux `logger` as the client: RFC 5424 and RFC 3164 over TCP (newline and octet-count
//! framing) and UDP arrive complete, with their fields parsed.

mod common;

use std::process::Command;
use std::time::Duration;

use common::net::{free_tcp_port, free_udp_port, summary, Logweir};
use serde_json::Value;

const LINES_PER_RUN: usize = 200;
/// Lines per `logger` call over UDP (see the test).
const UDP_CHUNK: usize = 40;

fn logger(args: &[&str], lines_file: &std::path::Path) {
    let out = Command::new("logger")
        .args(args)
        .arg("-f")
        .arg(lines_file)
        .output()
        .expect("util-linux logger (scripts/test.sh installs bsdutils)");
    assert!(
        out.status.success(),
        "logger {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn field<'a>(e: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(e, |v, k| &v[k])
}

/// Sends the lines of `file` with util-linux `logger` for one run (transport, format, framing).
fn send_with_logger(
    run: &str,
    args: &[&str],
    file: &std::path::Path,
    tcp_port: &str,
    udp_port: &str,
) {
    let port = if run.starts_with("tcp") {
        tcp_port
    } else {
        udp_port
    };
    let mut all = vec![
        "-n",
        "127.0.0.1",
        "-P",
        port,
        "-t",
        "myapp",
        "--id=4242",
        "-p",
        "local3.warning",
    ];
    if args.contains(&"--rfc5424") {
        all.extend([
            "--msgid",
            "MID7",
            "--sd-id",
            "example@32473",
            "--sd-param",
            "color=\"blue\"",
        ]);
    }
    all.extend(args.iter().copied());
    logger(&all, file);
}

#[test]
fn logger_messages_arrive_with_parsed_fields() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let tcp_port = free_tcp_port();
    let udp_port = free_udp_port();
    let config = format!(
        r#"
data_dir = "{data}"
[sources.syslog_tcp]
type = "syslog"
mode = "tcp"
address = "127.0.0.1:{tcp_port}"
timezone = "local"
[sources.syslog_udp]
type = "syslog"
mode = "udp"
address = "127.0.0.1:{udp_port}"
timezone = "local"
[sinks.out]
type = "file"
inputs = ["syslog_tcp", "syslog_udp"]
path = "{out}"
"#,
        data = dir.path().join("data").display(),
        out = out.display()
    );
    let logweir = Logweir::start(dir.path(), &config, 2);

    // One run per transport × format × framing; each message names its run.
    let runs: [(&str, Vec<&str>); 6] = [
        ("tcp5424", vec!["--tcp", "--rfc5424"]),
        ("tcp5424oc", vec!["--tcp", "--rfc5424", "--octet-count"]),
        ("tcp3164", vec!["--tcp", "--rfc3164"]),
        ("tcp3164oc", vec!["--tcp", "--rfc3164", "--octet-count"]),
        ("udp5424", vec!["--udp", "--rfc5424"]),
        ("udp3164", vec!["--udp", "--rfc3164"]),
    ];
    let tcp = tcp_port.to_string();
    let udp_port_text = udp_port.to_string();
    let mut sent = 0;
    for (run, args) in &runs {
        let udp = run.starts_with("udp");
        // UDP has no backpressure: a burst larger than the socket's receive buffer is lost
        // when the reader is descheduled (a debug build on a loaded CI machine). UDP runs
        // go in chunks, each sent once what came before has arrived, so the test checks
        // parsing and delivery rather than the kernel's buffer size.
        let chunk = if udp { UDP_CHUNK } else { LINES_PER_RUN };
        for first in (0..LINES_PER_RUN).step_by(chunk) {
            if udp {
                common::wait_until(Duration::from_secs(10), || {
                    common::count_lines(&out) >= sent
                });
            }
            let lines: String = (first..(first + chunk).min(LINES_PER_RUN))
                .map(|i| format!("{run} message {i} ünïcode\n"))
                .collect();
            let file = common::write_file(dir.path(), &format!("{run}-{first}.txt"), &lines);
            send_with_logger(run, args, &file, &tcp, &udp_port_text);
            sent += (first + chunk).min(LINES_PER_RUN) - first;
        }
    }
    let expected = runs.len() * LINES_PER_RUN;
    let complete = common::wait_until(Duration::from_secs(30), || {
        common::count_lines(&out) >= expected
    });
    let logs = logweir.stop();
    assert!(
        complete,
        "only {} of {expected} events arrived: {logs}",
        common::count_lines(&out)
    );

    let events = common::read_ndjson(&out);
    assert_eq!(events.len(), expected, "exactly one event per message");
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for (run, _) in &runs {
        let mut seen: Vec<usize> = Vec::new();
        for e in events.iter().filter(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(&format!("{run} message ")))
        }) {
            let msg = e["message"].as_str().unwrap();
            let i: usize = msg.split(' ').nth(2).unwrap().parse().unwrap();
            assert_eq!(msg, format!("{run} message {i} ünïcode"));
            seen.push(i);
            assert_eq!(field(e, "log.syslog.facility.code"), 19, "{e}");
            assert_eq!(field(e, "log.syslog.facility.name"), "local3");
            assert_eq!(field(e, "log.syslog.severity.code"), 4);
            assert_eq!(field(e, "log.syslog.severity.name"), "warning");
            assert_eq!(field(e, "log.syslog.priority"), 19 * 8 + 4);
            assert_eq!(field(e, "process.name"), "myapp");
            assert_eq!(field(e, "process.pid"), 4242, "pid is an integer: {e}");
            assert_eq!(field(e, "source.ip"), "127.0.0.1");
            assert!(field(e, "source.port").as_u64().is_some_and(|p| p > 0));
            assert!(e.get("tags").is_none(), "no failure tags: {e}");
            let host = field(e, "host.hostname").as_str().unwrap();
            assert!(
                host == hostname || host.starts_with(&format!("{hostname}.")),
                "{host} vs {hostname}"
            );
            // The sender's clock and ours agree: the parsed time (with the local zone for
            // RFC 3164) is within a few minutes of now, in the right year.
            let ts = field(e, "@timestamp").as_str().unwrap();
            let t: i64 = ts.parse::<jiff::Timestamp>().unwrap().as_second();
            assert!((t - now).abs() < 600, "@timestamp {ts} is not now");
            if run.contains("5424") {
                assert_eq!(field(e, "log.syslog.version"), 1);
                assert_eq!(field(e, "log.syslog.msgid"), "MID7");
                assert_eq!(
                    field(e, "log.syslog.structured_data.example@32473.color"),
                    "blue"
                );
                assert_eq!(
                    field(e, "log.syslog.structured_data.timeQuality.tzKnown"),
                    "1"
                );
            } else {
                assert!(field(e, "log.syslog.version").is_null());
                assert!(field(e, "log.syslog.structured_data").is_null());
            }
        }
        seen.sort_unstable();
        assert_eq!(
            seen,
            (0..LINES_PER_RUN).collect::<Vec<_>>(),
            "run {run}: every message once"
        );
    }
    let tcp_summary = summary(&logs, "syslog source finished", "syslog_tcp");
    assert_eq!(tcp_summary["events"], 4 * LINES_PER_RUN);
    assert_eq!(tcp_summary["connections_accepted"], 4);
    assert_eq!(tcp_summary["syslog_parse_failures"], 0);
    let udp_summary = summary(&logs, "syslog source finished", "syslog_udp");
    assert_eq!(udp_summary["events"], 2 * LINES_PER_RUN);
}

#[test]
fn non_syslog_text_is_kept_tagged_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let port = free_tcp_port();
    let config = format!(
        "data_dir = \"{}\"\n[sources.s]\ntype = \"syslog\"\naddress = \"127.0.0.1:{port}\"\nmax_frame_bytes = 64\n[sinks.out]\ntype = \"file\"\ninputs = [\"s\"]\npath = \"{}\"\n",
        dir.path().join("data").display(),
        out.display()
    );
    let logweir = Logweir::start(dir.path(), &config, 1);
    {
        use std::io::Write;
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let long = "y".repeat(500);
        write!(
            c,
            "not syslog at all\n<13>1 - h a - - - ok\n<13>{long}\n12 <13>1 - - - \n"
        )
        .unwrap();
    }
    let arrived = common::wait_until(Duration::from_secs(30), || common::count_lines(&out) >= 4);
    let logs = logweir.stop();
    assert!(arrived, "{logs}");
    let events = common::read_ndjson(&out);
    assert_eq!(events.len(), 4);
    assert_eq!(events[0]["message"], "not syslog at all");
    assert_eq!(
        events[0]["tags"],
        serde_json::json!(["syslog_parse_failure"])
    );
    assert_eq!(events[0]["source"]["ip"], "127.0.0.1");
    assert_eq!(events[1]["message"], "ok");
    assert_eq!(events[1]["host"]["hostname"], "h");
    assert_eq!(events[2]["tags"], serde_json::json!(["truncated"]));
    assert_eq!(events[2]["message"].as_str().unwrap().len(), 64 - 4);
    // An octet-counted RFC 5424 header that ends early is not syslog: kept whole.
    assert_eq!(
        events[3]["tags"],
        serde_json::json!(["syslog_parse_failure"])
    );
    let s = summary(&logs, "syslog source finished", "s");
    assert_eq!(s["syslog_parse_failures"], 2);
    assert_eq!(s["truncated"], 1);
}
