//! rsyslog (Debian's rsyslogd, run unprivileged in the foreground) forwards lines it tails
//! with imfile to logweir three ways: TCP octet-counted RFC 5424, TCP newline-framed
//! RFC 3164, and UDP RFC 3164. Every line arrives exactly once on each path, parsed.

mod common;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::net::{free_tcp_port, free_udp_port, summary, Logweir};
use serde_json::Value;

const LINES: usize = 500;

struct Rsyslogd(Child);

impl Drop for Rsyslogd {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn field<'a>(e: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(e, |v, k| &v[k])
}

#[test]
fn rsyslog_forwarded_lines_arrive_once_per_path() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (oc_port, nl_port, udp_port) = (free_tcp_port(), free_tcp_port(), free_udp_port());
    let sink = |name: &str, input: &str| {
        format!(
            "[sinks.{name}]\ntype = \"file\"\ninputs = [\"{input}\"]\npath = \"{}\"\n",
            d.join(format!("{name}.ndjson")).display()
        )
    };
    let config = format!(
        r#"data_dir = "{data}"
[sources.octet]
type = "syslog"
address = "127.0.0.1:{oc_port}"
timezone = "local"
[sources.newline]
type = "syslog"
address = "127.0.0.1:{nl_port}"
timezone = "local"
[sources.udp]
type = "syslog"
mode = "udp"
address = "127.0.0.1:{udp_port}"
timezone = "local"
{s1}{s2}{s3}"#,
        data = d.join("data").display(),
        s1 = sink("out_octet", "octet"),
        s2 = sink("out_newline", "newline"),
        s3 = sink("out_udp", "udp"),
    );
    let logweir = Logweir::start(d, &config, 3);

    std::fs::create_dir_all(d.join("work")).unwrap();
    let input = d.join("input.log");
    std::fs::write(&input, "").unwrap();
    let rsyslog_conf = common::write_file(
        d,
        "rsyslog.conf",
        &format!(
            r#"global(workDirectory="{work}")
module(load="imfile")
input(type="imfile" File="{input}" Tag="filetag:" Facility="local5" Severity="notice")
action(type="omfwd" target="127.0.0.1" port="{oc_port}" protocol="tcp" TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
action(type="omfwd" target="127.0.0.1" port="{nl_port}" protocol="tcp" template="RSYSLOG_ForwardFormat")
action(type="omfwd" target="127.0.0.1" port="{udp_port}" protocol="udp" template="RSYSLOG_TraditionalForwardFormat")
"#,
            work = d.join("work").display(),
            input = input.display(),
        ),
    );
    let rsyslogd = Command::new("rsyslogd")
        .arg("-n")
        .arg("-f")
        .arg(&rsyslog_conf)
        .arg("-i")
        .arg(d.join("rsyslogd.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rsyslogd (scripts/test.sh installs rsyslog)");
    let rsyslogd = Rsyslogd(rsyslogd);

    // imfile picks up lines appended after it started; append in a few bursts.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap();
    for burst in 0..5 {
        let mut chunk = String::new();
        for i in burst * LINES / 5..(burst + 1) * LINES / 5 {
            chunk.push_str(&format!(
                "line {i} with \"quotes\" [brackets] and ünïcode\n"
            ));
        }
        file.write_all(chunk.as_bytes()).unwrap();
        file.flush().unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let outs = ["out_octet", "out_newline", "out_udp"].map(|n| d.join(format!("{n}.ndjson")));
    let complete = common::wait_until(Duration::from_secs(60), || {
        outs.iter().all(|o| common::count_lines(o) >= LINES)
    });
    drop(rsyslogd);
    let logs = logweir.stop();
    assert!(
        complete,
        "arrived: {:?} of {LINES}: {logs}",
        outs.iter()
            .map(|o| common::count_lines(o))
            .collect::<Vec<_>>()
    );

    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    for (path, rfc5424) in [(&outs[0], true), (&outs[1], false), (&outs[2], false)] {
        let events = common::read_ndjson(path);
        assert_eq!(events.len(), LINES, "{}", path.display());
        for (i, e) in events.iter().enumerate() {
            // One connection (or one sender) per path keeps the order.
            assert_eq!(
                e["message"],
                format!("line {i} with \"quotes\" [brackets] and ünïcode"),
                "{}: {e}",
                path.display()
            );
            assert_eq!(field(e, "log.syslog.facility.name"), "local5");
            assert_eq!(field(e, "log.syslog.severity.name"), "notice");
            assert_eq!(field(e, "log.syslog.priority"), 21 * 8 + 5);
            assert_eq!(field(e, "process.name"), "filetag");
            let host = field(e, "host.hostname").as_str().unwrap();
            assert!(
                host == hostname || host.starts_with(&format!("{hostname}.")),
                "{host}"
            );
            assert!(e.get("tags").is_none(), "{e}");
            if rfc5424 {
                assert_eq!(field(e, "log.syslog.version"), 1);
            } else {
                assert!(field(e, "log.syslog.version").is_null());
            }
        }
    }
    for id in ["octet", "newline", "udp"] {
        let s = summary(&logs, "syslog source finished", id);
        assert_eq!(s["events"], LINES, "{id}");
        assert_eq!(s["syslog_parse_failures"], 0, "{id}");
    }
}
