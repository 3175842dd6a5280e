//! Turns one framed syslog message into an [`Event`] with ECS fields.
//!
//! Field layout (every text value a zero-copy slice of the frame unless an escape or invalid
//! UTF-8 forced a copy):
//!
//! ```text
//! @timestamp                         message timestamp; the receive time when absent
//! message                            MSG
//! log.syslog.facility.code / .name   facility
//! log.syslog.severity.code / .name   severity
//! log.syslog.priority                PRI
//! log.syslog.version                 1 for RFC 5424
//! log.syslog.msgid                   MSGID
//! log.syslog.structured_data         {sd_id: {param: value}}
//! host.hostname                      HOSTNAME
//! process.name / process.pid         APP-NAME or TAG / PROCID (an integer when numeric)
//! source.ip / source.port            the peer
//! ```
//!
//! A frame that is not syslog is kept whole as `message`, tagged `syslog_parse_failure`.
//! Every event gets `meta.origin = {stream: hash(peer ip, frame bytes), offset: 0}`, so an
//! identical message from the same host replayed later maps to the same id downstream.

use std::sync::Arc;

use bytes::Bytes;

use super::config::Timezone;
use super::framing::Frame;
use super::parser::{self, ParseOptions, SyslogMessage};
use crate::event::{Event, Key, Object, Origin, Value, MESSAGE, TIMESTAMP};
use crate::sources::lines::to_utf8;
use crate::sources::net::{ErrorType, Peer, SourceCounters};

/// Builds events for one peer (a TCP connection, or the latest UDP sender).
#[derive(Clone)]
pub struct SyslogEventBuilder {
    peer: Peer,
    timezone: Arc<Timezone>,
    /// `(unix second, offset)`: the zone's offset is looked up at most once per second.
    cached_offset: Option<(i64, i32)>,
    counters: Arc<SourceCounters>,
}

impl SyslogEventBuilder {
    pub fn new(peer: Peer, timezone: Arc<Timezone>, counters: Arc<SourceCounters>) -> Self {
        SyslogEventBuilder {
            peer,
            timezone,
            cached_offset: None,
            counters,
        }
    }

    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    pub fn set_peer(&mut self, peer: Peer) {
        self.peer = peer;
    }

    fn utc_offset_at(&mut self, receive_nanos: i64) -> i32 {
        let second = receive_nanos.div_euclid(1_000_000_000);
        match self.cached_offset {
            Some((s, offset)) if s == second => offset,
            _ => {
                let offset = self.timezone.offset_secs_at(second);
                self.cached_offset = Some((second, offset));
                offset
            }
        }
    }

    /// The event of one frame.
    pub fn build(&mut self, frame: Frame, receive_nanos: i64) -> Event {
        let origin = Origin {
            stream: stable_hash(&self.peer.ip, &frame.bytes),
            offset: 0,
        };
        let opts = ParseOptions {
            now_unix_nanos: receive_nanos,
            default_utc_offset_secs: self.utc_offset_at(receive_nanos),
        };
        let mut event = match parser::parse(&frame.bytes, &opts) {
            Ok(message) => self.parsed_event(&frame.bytes, &message, receive_nanos),
            Err(e) => {
                self.counters.error(
                    ErrorType::SyslogParse,
                    1,
                    &format_args!("message is not syslog ({e}); kept whole"),
                );
                let (text, invalid) = to_utf8(frame.bytes.clone());
                let mut event = Event::from_message(text, receive_nanos);
                event
                    .fields
                    .push_unique(Key::new_static("source"), self.peer.source_object());
                event.add_tag("syslog_parse_failure");
                if invalid {
                    self.invalid_utf8(&mut event);
                }
                event
            }
        };
        if frame.truncated {
            self.counters.error(
                ErrorType::Truncated,
                1,
                &"message longer than max_frame_bytes was cut",
            );
            event.add_tag("truncated");
        }
        event.meta.origin = Some(origin);
        event
    }

    fn invalid_utf8(&self, event: &mut Event) {
        self.counters
            .error(ErrorType::InvalidUtf8, 1, &"invalid UTF-8 replaced");
        event.add_tag("invalid_utf8");
    }

    fn parsed_event(&self, frame: &Bytes, msg: &SyslogMessage<'_>, receive_nanos: i64) -> Event {
        let mut fields = Object::with_capacity(8);
        fields.push_unique(
            TIMESTAMP,
            Value::Timestamp(msg.timestamp_unix_nanos.unwrap_or(receive_nanos)),
        );
        let (text, invalid) = to_utf8(sub_bytes(frame, msg.message));
        fields.push_unique(MESSAGE, Value::Bytes(text));

        let mut syslog = Object::with_capacity(6);
        syslog.push_unique(
            "facility",
            code_and_name(msg.facility, parser::facility_name(msg.facility)),
        );
        syslog.push_unique(
            "severity",
            code_and_name(msg.severity, parser::severity_name(msg.severity)),
        );
        syslog.push_unique("priority", Value::Integer(i64::from(msg.priority)));
        if let Some(version) = msg.version {
            syslog.push_unique("version", Value::Integer(i64::from(version)));
        }
        if let Some(msgid) = msg.msg_id {
            syslog.push_unique("msgid", text_value(frame, msgid));
        }
        if !msg.structured_data.is_empty() {
            let mut sd = Object::with_capacity(msg.structured_data.len());
            for element in &msg.structured_data {
                let mut params = Object::with_capacity(element.params.len());
                for (name, value) in &element.params {
                    params.insert(*name, text_value(frame, value));
                }
                match sd.get_mut(element.id) {
                    // A repeated SD-ID adds its params to the first one's.
                    Some(Value::Object(existing)) => existing.merge(params),
                    _ => {
                        sd.insert(element.id, Value::Object(params));
                    }
                }
            }
            syslog.push_unique("structured_data", Value::Object(sd));
        }
        let mut log = Object::with_capacity(1);
        log.push_unique("syslog", Value::Object(syslog));
        fields.push_unique("log", Value::Object(log));

        if let Some(hostname) = msg.hostname {
            let mut host = Object::with_capacity(1);
            host.push_unique("hostname", text_value(frame, hostname));
            fields.push_unique("host", Value::Object(host));
        }
        if msg.app_name.is_some() || msg.proc_id.is_some() {
            let mut process = Object::with_capacity(2);
            if let Some(name) = msg.app_name {
                process.push_unique("name", text_value(frame, name));
            }
            if let Some(pid) = msg.proc_id {
                let pid = match pid.parse::<i64>() {
                    Ok(n) => Value::Integer(n),
                    Err(_) => text_value(frame, pid),
                };
                process.push_unique("pid", pid);
            }
            fields.push_unique("process", Value::Object(process));
        }
        fields.push_unique(Key::new_static("source"), self.peer.source_object());
        let mut event = Event {
            fields,
            meta: Default::default(),
        };
        if invalid {
            self.invalid_utf8(&mut event);
        }
        event
    }
}

impl crate::sources::net::EventBuilder for SyslogEventBuilder {
    fn event(&mut self, frame: Frame, receive_nanos: i64) -> Event {
        self.build(frame, receive_nanos)
    }
}

fn code_and_name(code: u8, name: &'static str) -> Value {
    let mut o = Object::with_capacity(2);
    o.push_unique("code", Value::Integer(i64::from(code)));
    o.push_unique("name", Value::Bytes(Bytes::from_static(name.as_bytes())));
    Value::Object(o)
}

/// `part` as a slice of `frame` when it lies inside it (the parser borrows), a copy otherwise
/// (an unescaped structured-data value).
fn sub_bytes(frame: &Bytes, part: &[u8]) -> Bytes {
    let start = frame.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    if p >= start && p + part.len() <= start + frame.len() {
        frame.slice_ref(part)
    } else {
        Bytes::copy_from_slice(part)
    }
}

fn text_value(frame: &Bytes, s: &str) -> Value {
    Value::Bytes(sub_bytes(frame, s.as_bytes()))
}

/// FNV-1a (64-bit) of the peer IP, a separator and the message: fixed by its definition, so
/// ids stay the same across restarts and versions.
pub fn stable_hash(peer_ip: &[u8], message: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for &b in peer_ip.iter().chain(&[0xff]).chain(message) {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> (SyslogEventBuilder, Arc<SourceCounters>) {
        let counters = Arc::new(SourceCounters::new("t"));
        let b = SyslogEventBuilder::new(
            Peer::new("10.1.2.3:5514".parse().unwrap()),
            Arc::new(Timezone::Fixed(0)),
            Arc::clone(&counters),
        );
        (b, counters)
    }

    fn frame(s: &[u8]) -> Frame {
        Frame {
            bytes: Bytes::copy_from_slice(s),
            truncated: false,
        }
    }

    fn get<'a>(e: &'a Event, path: &str) -> Option<&'a Value> {
        e.get(&crate::event::FieldPath::parse(path).unwrap())
    }

    #[test]
    fn rfc5424_fields() {
        let (mut b, _) = builder();
        let e = b.build(
            frame(br#"<165>1 2026-11-24T10:00:00.5Z web-1 nginx 4242 ID47 [exampleSDID@32473 iut="3" eventSource="App\"x\""][meta seq="1"] hello world"#),
            0,
        );
        assert_eq!(
            e.timestamp(),
            crate::time::parse_rfc3339(b"2026-11-24T10:00:00.5Z")
        );
        assert_eq!(e.message().unwrap(), &b"hello world"[..]);
        assert_eq!(
            get(&e, "log.syslog.facility.code"),
            Some(&Value::Integer(20))
        );
        assert_eq!(
            get(&e, "log.syslog.facility.name").unwrap().as_str(),
            Some("local4")
        );
        assert_eq!(
            get(&e, "log.syslog.severity.code"),
            Some(&Value::Integer(5))
        );
        assert_eq!(
            get(&e, "log.syslog.severity.name").unwrap().as_str(),
            Some("notice")
        );
        assert_eq!(get(&e, "log.syslog.priority"), Some(&Value::Integer(165)));
        assert_eq!(get(&e, "log.syslog.version"), Some(&Value::Integer(1)));
        assert_eq!(get(&e, "log.syslog.msgid").unwrap().as_str(), Some("ID47"));
        assert_eq!(get(&e, "host.hostname").unwrap().as_str(), Some("web-1"));
        assert_eq!(get(&e, "process.name").unwrap().as_str(), Some("nginx"));
        assert_eq!(get(&e, "process.pid"), Some(&Value::Integer(4242)));
        assert_eq!(
            get(
                &e,
                r#"log.syslog.structured_data."exampleSDID@32473".eventSource"#
            )
            .unwrap()
            .as_str(),
            Some("App\"x\"")
        );
        assert_eq!(
            get(&e, "log.syslog.structured_data.meta.seq")
                .unwrap()
                .as_str(),
            Some("1")
        );
        assert_eq!(get(&e, "source.ip").unwrap().as_str(), Some("10.1.2.3"));
        assert_eq!(get(&e, "source.port"), Some(&Value::Integer(5514)));
        assert!(e.fields.get("tags").is_none());
    }

    #[test]
    fn rfc3164_uses_timezone_and_receive_year() {
        let counters = Arc::new(SourceCounters::new("t"));
        let mut b = SyslogEventBuilder::new(
            Peer::new("127.0.0.1:1".parse().unwrap()),
            Arc::new(Timezone::Fixed(3600)),
            counters,
        );
        let now = crate::time::parse_rfc3339(b"2026-03-01T00:00:00Z").unwrap();
        let e = b.build(
            frame(b"<13>Feb  3 04:05:06 myhost sshd[99x]: accepted"),
            now,
        );
        assert_eq!(
            e.timestamp(),
            crate::time::parse_rfc3339(b"2026-02-03T03:05:06Z")
        );
        assert_eq!(get(&e, "process.pid").unwrap().as_str(), Some("99x"));
        assert_eq!(get(&e, "host.hostname").unwrap().as_str(), Some("myhost"));
        assert_eq!(get(&e, "log.syslog.version"), None);
    }

    #[test]
    fn non_syslog_is_kept_whole_tagged_and_counted_with_a_stable_origin() {
        let (mut b, counters) = builder();
        let e = b.build(frame(b"just some text"), 5);
        assert_eq!(e.message().unwrap(), &b"just some text"[..]);
        assert!(e.has_tag("syslog_parse_failure"));
        assert_eq!(e.timestamp(), Some(5));
        assert_eq!(counters.errors(ErrorType::SyslogParse), 1);
        let again = b.build(frame(b"just some text"), 6);
        assert_eq!(e.meta.origin, again.meta.origin);
        let other = b.build(frame(b"just some text!"), 6);
        assert_ne!(e.meta.origin, other.meta.origin);
        let truncated = b.build(
            Frame {
                bytes: Bytes::from_static(b"<13>cut"),
                truncated: true,
            },
            0,
        );
        assert!(truncated.has_tag("truncated"));
        assert_eq!(counters.errors(ErrorType::Truncated), 1);
    }
}
