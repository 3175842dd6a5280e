//! The ECS fields of a parsed syslog message: the one mapping from [`SyslogMessage`] to event
//! fields, shared by the `syslog` source and the `parse_syslog` transform so both produce the
//! same events.
//!
//! Fields: `log.syslog.facility.code`/`.name`, `log.syslog.severity.code`/`.name`,
//! `log.syslog.priority`, `log.syslog.version` (RFC 5424), `host.hostname`, `process.name`,
//! `process.pid` (an integer; a non-numeric PROCID goes to `log.syslog.procid`),
//! `log.syslog.msgid`, `log.syslog.structured_data` (`{sd_id: {param: value}}`), `message`
//! (the MSG part) and `@timestamp` (when the message has one; otherwise the event keeps its
//! own). A MSG that is not UTF-8 is converted lossily and the event is tagged `invalid_utf8`.

use bytes::Bytes;

use super::parser::{facility_name, severity_name, SyslogMessage};
use crate::event::{Event, FieldPath, Key, Object, Value, MESSAGE, TIMESTAMP};

fn text(s: &str) -> Value {
    Value::Bytes(Bytes::copy_from_slice(s.as_bytes()))
}

fn static_text(s: &'static str) -> Value {
    Value::Bytes(Bytes::from_static(s.as_bytes()))
}

/// Sets a field under an object of the root, creating the objects on the way.
fn set(root: &mut Object, path: &[&str], value: Value) {
    let path = FieldPath::parse(&path.join(".")).unwrap_or_else(|_| FieldPath::single(path[0]));
    root.insert_path(&path, value);
}

/// Inserts the ECS fields of `msg` into `event`, replacing `message` with the MSG part.
pub fn insert_syslog_fields(msg: &SyslogMessage<'_>, event: &mut Event) {
    let fields = &mut event.fields;
    let mut syslog = Object::with_capacity(8);
    let mut facility = Object::with_capacity(2);
    facility.push_unique("code", Value::Integer(i64::from(msg.facility)));
    facility.push_unique("name", static_text(facility_name(msg.facility)));
    syslog.push_unique("facility", Value::Object(facility));
    let mut severity = Object::with_capacity(2);
    severity.push_unique("code", Value::Integer(i64::from(msg.severity)));
    severity.push_unique("name", static_text(severity_name(msg.severity)));
    syslog.push_unique("severity", Value::Object(severity));
    syslog.push_unique("priority", Value::Integer(i64::from(msg.priority)));
    if let Some(version) = msg.version {
        syslog.push_unique("version", Value::Integer(i64::from(version)));
    }
    if let Some(msgid) = msg.msg_id {
        syslog.push_unique("msgid", text(msgid));
    }
    let mut pid = None;
    if let Some(proc_id) = msg.proc_id {
        match proc_id.parse::<i64>() {
            Ok(n) => pid = Some(n),
            Err(_) => syslog.push_unique("procid", text(proc_id)),
        }
    }
    if !msg.structured_data.is_empty() {
        let mut sd = Object::with_capacity(msg.structured_data.len());
        for element in &msg.structured_data {
            let mut params = Object::with_capacity(element.params.len());
            for (name, value) in &element.params {
                params.insert(Key::new(name), text(value));
            }
            sd.insert(Key::new(element.id), Value::Object(params));
        }
        syslog.push_unique("structured_data", Value::Object(sd));
    }
    match fields.get_mut("log").and_then(Value::as_object_mut) {
        Some(log) => {
            log.insert("syslog", Value::Object(syslog));
        }
        None => {
            let mut log = Object::with_capacity(1);
            log.push_unique("syslog", Value::Object(syslog));
            fields.insert("log", Value::Object(log));
        }
    }
    if let Some(hostname) = msg.hostname {
        set(fields, &["host", "hostname"], text(hostname));
    }
    if let Some(app) = msg.app_name {
        set(fields, &["process", "name"], text(app));
    }
    if let Some(pid) = pid {
        set(fields, &["process", "pid"], Value::Integer(pid));
    }
    if let Some(ts) = msg.timestamp_unix_nanos {
        fields.insert(TIMESTAMP, Value::Timestamp(ts));
    }
    let message = match std::str::from_utf8(msg.message) {
        Ok(s) => text(s),
        Err(_) => {
            let lossy = String::from_utf8_lossy(msg.message).into_owned();
            event.add_tag("invalid_utf8");
            Value::from(lossy)
        }
    };
    event.fields.insert(MESSAGE, message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::syslog::parser::{parse, ParseOptions};

    fn fields_of(line: &str) -> serde_json::Value {
        let msg = parse(line.as_bytes(), &ParseOptions::default()).unwrap();
        let mut event = Event::from_message(Bytes::copy_from_slice(line.as_bytes()), 7);
        insert_syslog_fields(&msg, &mut event);
        Value::Object(event.fields).to_json()
    }

    #[test]
    fn rfc5424_message_maps_to_ecs_fields() {
        let f = fields_of(
            r#"<165>1 2026-11-24T10:00:00.5Z web1 nginx 4242 ID47 [exampleSDID@32473 iut="3" eventSource="App"] hello world"#,
        );
        assert_eq!(f["log"]["syslog"]["facility"]["code"], 20);
        assert_eq!(f["log"]["syslog"]["facility"]["name"], "local4");
        assert_eq!(f["log"]["syslog"]["severity"]["code"], 5);
        assert_eq!(f["log"]["syslog"]["severity"]["name"], "notice");
        assert_eq!(f["log"]["syslog"]["priority"], 165);
        assert_eq!(f["log"]["syslog"]["version"], 1);
        assert_eq!(f["log"]["syslog"]["msgid"], "ID47");
        assert_eq!(
            f["log"]["syslog"]["structured_data"]["exampleSDID@32473"]["eventSource"],
            "App"
        );
        assert_eq!(f["host"]["hostname"], "web1");
        assert_eq!(f["process"]["name"], "nginx");
        assert_eq!(f["process"]["pid"], 4242);
        assert_eq!(f["message"], "hello world");
        assert_eq!(f["@timestamp"], "2026-11-24T10:00:00.500Z");
    }

    #[test]
    fn rfc3164_message_without_pid_keeps_the_event_time() {
        let f = fields_of("<13>Nov 24 11:59:00 myhost sshd: Accepted publickey");
        assert_eq!(f["log"]["syslog"]["severity"]["name"], "notice");
        assert_eq!(f["host"]["hostname"], "myhost");
        assert_eq!(f["process"]["name"], "sshd");
        assert_eq!(f["message"], "Accepted publickey");
        assert!(f["process"]["pid"].is_null());
        let f = fields_of("<13>just text");
        assert_eq!(f["message"], "just text");
        assert_eq!(f["@timestamp"], "1970-01-01T00:00:00.000000007Z");
    }

    #[test]
    fn non_numeric_procid_and_invalid_utf8() {
        let line = b"<14>1 - host app worker-3 - - caf\xe9";
        let msg = parse(line, &ParseOptions::default()).unwrap();
        let mut event = Event::from_message(Bytes::from_static(b"x"), 0);
        insert_syslog_fields(&msg, &mut event);
        let f = Value::Object(event.fields.clone()).to_json();
        assert_eq!(f["log"]["syslog"]["procid"], "worker-3");
        assert!(f["process"]["pid"].is_null());
        assert_eq!(f["message"], "caf\u{fffd}");
        assert!(event.has_tag("invalid_utf8"));
    }
}
