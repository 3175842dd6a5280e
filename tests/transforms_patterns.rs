//! Every ready-made pattern in `pipelines/patterns/` parses hand-made lines of its log
//! format into the documented fields: each file is loaded as a user would (its transforms
//! chained in file order), and its `multiline` table, when it has one, joins stack traces.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use logweir::event::{Event, EventBatch, FieldPath, Value};
use logweir::sources::file::multiline::{MultilineAggregator, MultilineConfig};
use logweir::topology::TransformOutput;
use logweir::transforms::{TransformConfig, TransformContext};
use serde_json::{json, Value as Json};

fn patterns_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/patterns")
}

fn load(name: &str) -> toml::Table {
    let text = std::fs::read_to_string(patterns_dir().join(name)).unwrap();
    toml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Runs `lines` (as `message`s) through every transform of the pattern file, in order.
fn run(name: &str, lines: &[&str]) -> Vec<Json> {
    let table = load(name);
    let transforms = table["transforms"]
        .as_table()
        .expect("a [transforms] table");
    let ctx = TransformContext::new(std::env::temp_dir().join("logweir-pattern-tests"));
    let mut events: Vec<Event> = lines
        .iter()
        .map(|l| Event::from_message(Bytes::copy_from_slice(l.as_bytes()), 0))
        .collect();
    for (id, t) in transforms {
        let config = TransformConfig::from_toml_table(t.as_table().unwrap())
            .unwrap_or_else(|e| panic!("{name}: transform {id}: {e}"));
        let mut transform = config
            .build(id, &ctx)
            .unwrap_or_else(|e| panic!("{name}: transform {id}: {e}"));
        let mut out = TransformOutput::default();
        transform.transform(EventBatch::new(events), &mut out);
        events = out.take_default();
    }
    events
        .into_iter()
        .map(|e| Value::Object(e.fields).to_json())
        .collect()
}

fn ts(s: &str) -> String {
    let nanos = logweir::time::parse_rfc3339(s.as_bytes()).unwrap();
    logweir::time::format_rfc3339(nanos)
}

/// Asserts that `event` holds every field of `expected` (nested objects compared field by
/// field) and no parse failure tag.
fn assert_fields(event: &Json, expected: Json) {
    assert!(
        logweir::pipeline_tests::contains(&expected, event),
        "expected fields {expected:#}\n in event {event:#}"
    );
    assert!(event.get("tags").is_none(), "{event:#}");
}

fn assert_failed(event: &Json) {
    assert_eq!(event["tags"], json!(["parse_failure"]), "{event:#}");
}

#[test]
fn every_pattern_file_is_covered_by_a_test() {
    let mut names: Vec<String> = std::fs::read_dir(patterns_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "apache_access.toml",
            "apache_error.toml",
            "java_stacktrace.toml",
            "linux_syslog.toml",
            "nginx_access.toml",
            "nginx_error.toml",
            "python_traceback.toml",
            "sshd.toml",
        ]
    );
}

#[test]
fn nginx_and_apache_combined_access_lines() {
    for file in ["nginx_access.toml", "apache_access.toml"] {
        let out = run(
            file,
            &[
                r#"203.0.113.9 - alice [24/Nov/2026:11:00:00 +0100] "GET /cart?id=7 HTTP/1.1" 200 5120 "https://shop.example/" "Mozilla/5.0 (X11; Linux x86_64)""#,
                r#"198.51.100.2 - - [24/Nov/2026:10:00:01 +0000] "POST /api/pay HTTP/2.0" 502 - "-" "curl/8.5.0""#,
                r#"192.0.2.1 - - [24/Nov/2026:10:00:02 +0000] "\x16\x03\x01" 400 157"#,
                "this is not an access log line",
            ],
        );
        assert_fields(
            &out[0],
            json!({
                "@timestamp": ts("2026-11-24T10:00:00Z"),
                "source": {"address": "203.0.113.9"},
                "user": {"name": "alice"},
                "http": {"request": {"method": "GET", "referrer": "https://shop.example/"},
                         "version": "1.1",
                         "response": {"status_code": 200, "body": {"bytes": 5120}}},
                "url": {"original": "/cart?id=7"},
                "user_agent": {"original": "Mozilla/5.0 (X11; Linux x86_64)"},
            }),
        );
        assert!(out[0].get("timestamp").is_none(), "{file}");
        assert_fields(
            &out[1],
            json!({"http": {"request": {"method": "POST"}, "response": {"status_code": 502}}}),
        );
        assert!(out[1]["http"]["response"].get("body").is_none(), "{file}");
        // A garbage request line (a TLS handshake on the HTTP port) is kept whole.
        assert_fields(
            &out[2],
            json!({"http": {"request": {"line": "\\x16\\x03\\x01"}, "response": {"status_code": 400}}}),
        );
        assert_failed(&out[3]);
    }
}

#[test]
fn nginx_error_lines() {
    let out = run(
        "nginx_error.toml",
        &[
            r#"2026/11/24 10:00:00 [error] 1234#0: *5 open() "/srv/www/favicon.ico" failed (2: No such file or directory), client: 203.0.113.9, server: shop.example, request: "GET /favicon.ico HTTP/1.1", host: "shop.example""#,
            "2026/11/24 10:00:03 [notice] 1#1: signal process started",
        ],
    );
    assert_fields(
        &out[0],
        json!({
            "@timestamp": ts("2026-11-24T10:00:00Z"),
            "log": {"level": "error"},
            "process": {"pid": 1234, "thread": {"id": 0}},
            "nginx": {"connection_id": 5, "server": "shop.example"},
            "message": r#"open() "/srv/www/favicon.ico" failed (2: No such file or directory)"#,
            "client": {"address": "203.0.113.9"},
            "http": {"request": {"line": "GET /favicon.ico HTTP/1.1"}},
            "url": {"domain": "shop.example"},
        }),
    );
    assert_fields(
        &out[1],
        json!({"log": {"level": "notice"}, "message": "signal process started"}),
    );
}

#[test]
fn apache_error_lines() {
    let out = run(
        "apache_error.toml",
        &[
            "[Tue Nov 24 10:00:00.123456 2026] [core:error] [pid 1234:tid 5678] [client 203.0.113.9:51234] AH00126: Invalid URI in request GET /x HTTP/1.1",
            "[Tue Nov 24 10:00:01.000000 2026] [mpm_event:notice] [pid 1:tid 2] AH00489: Apache/2.4.62 configured -- resuming normal operations",
            "apache is unhappy",
        ],
    );
    assert_fields(
        &out[0],
        json!({
            "@timestamp": ts("2026-11-24T10:00:00.123456Z"),
            "apache": {"module": "core"},
            "log": {"level": "error"},
            "process": {"pid": 1234, "thread": {"id": 5678}},
            "client": {"address": "203.0.113.9:51234"},
            "error": {"code": "AH00126"},
            "message": "Invalid URI in request GET /x HTTP/1.1",
        }),
    );
    assert_fields(
        &out[1],
        json!({"apache": {"module": "mpm_event"}, "log": {"level": "notice"}}),
    );
    assert_failed(&out[2]);
}

#[test]
fn openssh_authentication_lines() {
    let out = run(
        "sshd.toml",
        &[
            "Accepted publickey for alice from 10.0.0.5 port 51234 ssh2: ED25519 SHA256:abcdef",
            "Failed password for invalid user bob from 10.0.0.6 port 2222 ssh2",
            "Invalid user bob from 10.0.0.6 port 2222",
            "Disconnected from user alice 10.0.0.5 port 51234",
            "Connection closed by authenticating user root 10.0.0.7 port 4444 [preauth]",
            "Server listening on 0.0.0.0 port 22.",
        ],
    );
    assert_fields(
        &out[0],
        json!({"event": {"action": "Accepted"}, "ssh": {"method": "publickey", "key": "ED25519 SHA256:abcdef"},
               "user": {"name": "alice"}, "source": {"ip": "10.0.0.5", "port": 51234}}),
    );
    assert_fields(
        &out[1],
        json!({"event": {"action": "Failed"}, "ssh": {"method": "password", "invalid_user": "invalid user"},
               "user": {"name": "bob"}, "source": {"ip": "10.0.0.6", "port": 2222}}),
    );
    assert_fields(
        &out[2],
        json!({"event": {"action": "Invalid user"}, "user": {"name": "bob"}, "source": {"port": 2222}}),
    );
    assert_fields(
        &out[3],
        json!({"event": {"action": "Disconnected from"}, "user": {"name": "alice"}}),
    );
    assert_fields(
        &out[4],
        json!({"event": {"action": "Connection closed by"}, "user": {"name": "root"}, "source": {"ip": "10.0.0.7"}}),
    );
    assert_failed(&out[5]);
}

#[test]
fn linux_syslog_file_lines_traditional_and_rfc3339() {
    let out = run(
        "linux_syslog.toml",
        &[
            "Nov  4 10:00:00 web1 sshd[812]: Accepted publickey for alice",
            "2026-11-24T10:00:00.123456+01:00 web1 CRON[99]: (root) CMD (run-parts /etc/cron.hourly)",
            "Nov 24 10:00:00 web1 kernel: [12345.678] eth0: link up",
            "random text",
        ],
    );
    assert_fields(
        &out[0],
        json!({"host": {"hostname": "web1"}, "process": {"name": "sshd", "pid": 812},
               "message": "Accepted publickey for alice"}),
    );
    // The traditional format has no year: the time is on 4 November of this year or last.
    let t = out[0]["@timestamp"].as_str().unwrap();
    assert!(t.contains("-11-04T10:00:00"), "{t}");
    assert_fields(
        &out[1],
        json!({"@timestamp": ts("2026-11-24T09:00:00.123456Z"), "process": {"name": "CRON", "pid": 99},
               "message": "(root) CMD (run-parts /etc/cron.hourly)"}),
    );
    assert_fields(
        &out[2],
        json!({"process": {"name": "kernel"}, "message": "[12345.678] eth0: link up"}),
    );
    assert!(out[2]["process"].get("pid").is_none());
    assert_failed(&out[3]);
}

/// Joins `lines` with the file's `multiline` table, as the file source does.
fn join_multiline(name: &str, lines: &[&str]) -> Vec<String> {
    let table = load(name);
    let m = table["multiline"].as_table().expect("a [multiline] table");
    let config = MultilineConfig {
        start_pattern: regex::bytes::Regex::new(m["start_pattern"].as_str().unwrap()).unwrap(),
        max_lines: m["max_lines"].as_integer().unwrap() as usize,
        max_bytes: m["max_bytes"].as_integer().unwrap() as usize,
        timeout: Duration::from_millis(m["timeout_ms"].as_integer().unwrap() as u64),
    };
    let mut agg: MultilineAggregator<()> = MultilineAggregator::new(Arc::new(config));
    let now = Instant::now();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(e) = agg.push(line.as_bytes(), (), i as u64, now) {
            out.push(String::from_utf8(e.text.to_vec()).unwrap());
        }
    }
    if let Some(e) = agg.flush() {
        out.push(String::from_utf8(e.text.to_vec()).unwrap());
    }
    out
}

#[test]
fn java_stack_traces_are_joined_and_split_into_fields() {
    let joined = join_multiline(
        "java_stacktrace.toml",
        &[
            "2026-11-24 10:00:00.123 [http-nio-8080-exec-1] ERROR com.example.shop.Payments - payment failed",
            "java.lang.IllegalStateException: card declined",
            "\tat com.example.shop.Payments.pay(Payments.java:42)",
            "\tat com.example.shop.Api.post(Api.java:17)",
            "Caused by: java.io.IOException: gateway timeout",
            "\t... 2 more",
            "2026-11-24 10:00:01.000 [main] INFO  com.example.shop.App - started in 2.1 s",
        ],
    );
    assert_eq!(joined.len(), 2, "{joined:#?}");
    assert_eq!(joined[0].lines().count(), 6);
    let refs: Vec<&str> = joined.iter().map(String::as_str).collect();
    let out = run("java_stacktrace.toml", &refs);
    assert_fields(
        &out[0],
        json!({
            "@timestamp": ts("2026-11-24T10:00:00.123Z"),
            "process": {"thread": {"name": "http-nio-8080-exec-1"}},
            "log": {"level": "ERROR", "logger": "com.example.shop.Payments"},
            "message": "payment failed",
            "error": {"type": "java.lang.IllegalStateException"},
        }),
    );
    let trace = out[0]["error"]["stack_trace"].as_str().unwrap();
    assert!(trace.starts_with("java.lang.IllegalStateException: card declined\n\tat "));
    assert!(trace.ends_with("\t... 2 more"));
    assert_fields(
        &out[1],
        json!({"log": {"level": "INFO"}, "message": "started in 2.1 s"}),
    );
    assert!(out[1].get("error").is_none());
}

#[test]
fn python_tracebacks_are_joined_and_split_into_fields() {
    let joined = join_multiline(
        "python_traceback.toml",
        &[
            "2026-11-24 10:00:00,123 ERROR shop.payments: payment failed",
            "Traceback (most recent call last):",
            "  File \"/app/shop/payments.py\", line 10, in pay",
            "    charge(card)",
            "ValueError: card declined",
            "2026-11-24 10:00:00,500 INFO shop.app: retrying",
        ],
    );
    assert_eq!(joined.len(), 2, "{joined:#?}");
    let refs: Vec<&str> = joined.iter().map(String::as_str).collect();
    let out = run("python_traceback.toml", &refs);
    assert_fields(
        &out[0],
        json!({
            "@timestamp": ts("2026-11-24T10:00:00.123Z"),
            "log": {"level": "ERROR", "logger": "shop.payments"},
            "message": "payment failed",
            "error": {"type": "ValueError"},
        }),
    );
    let trace = out[0]["error"]["stack_trace"].as_str().unwrap();
    assert!(
        trace.starts_with("Traceback (most recent call last):\n"),
        "{trace}"
    );
    assert!(trace.ends_with("ValueError: card declined"), "{trace}");
    assert_fields(&out[1], json!({"message": "retrying"}));
    assert!(out[1].get("error").is_none());
}

#[test]
fn parse_syslog_then_sshd_pattern_on_a_relayed_line() {
    // The sshd pattern works on the MSG part that parse_syslog leaves in `message`.
    let syslog = TransformConfig::from_toml_table(
        &toml::from_str::<toml::Table>("type = \"parse_syslog\"").unwrap(),
    )
    .unwrap();
    let ctx = TransformContext::new(std::env::temp_dir());
    let mut t = syslog.build("s", &ctx).unwrap();
    let mut out = TransformOutput::default();
    t.transform(
        EventBatch::new(vec![Event::from_message(
            Bytes::from_static(b"<38>1 2026-11-24T10:00:00Z gw sshd 812 - - Invalid user eve from 10.9.9.9 port 22"),
            0,
        )]),
        &mut out,
    );
    let events = out.take_default();
    let message = events[0]
        .get(&FieldPath::parse("message").unwrap())
        .and_then(Value::as_str)
        .unwrap()
        .to_string();
    let parsed = run("sshd.toml", &[&message]);
    assert_fields(
        &parsed[0],
        json!({"user": {"name": "eve"}, "source": {"ip": "10.9.9.9"}}),
    );
}
