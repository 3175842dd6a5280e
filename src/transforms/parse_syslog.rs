//! `parse_syslog` transform: parses an RFC 5424 or RFC 3164 message held in a field (syslog
//! lines in files, syslog relayed through another transport) into the same ECS fields the
//! `syslog` source produces ([`crate::sources::syslog::fields::insert_syslog_fields`]).
//!
//! RFC 3164 timestamps carry no year and no zone: the year is inferred from the event's
//! `@timestamp` (or now), the zone is `timezone` (UTC by default).

use serde::Deserialize;

use super::failure::{EventParser, Failures, OnError, ParserTransform};
use super::TransformContext;
use crate::event::{Event, FieldPath, Value};
use crate::sources::syslog::fields::insert_syslog_fields;
use crate::sources::syslog::parser::{parse, ParseOptions};
use crate::topology::Transform;

/// Parses syslog text in a field.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParseSyslogConfig {
    /// The field holding the syslog message; `message` is then replaced by its MSG part.
    #[serde(default = "default_field")]
    pub field: FieldPath,
    /// Zone of timestamps without an offset (RFC 3164): `UTC` (default), `local`, a fixed
    /// offset such as `+01:00`, or an IANA name such as `Europe/Berlin` (its offset when the
    /// pipeline starts is used).
    #[serde(default)]
    pub timezone: Option<String>,
    /// What happens to text that is not syslog: `keep` (tagged `parse_failure`), `drop` or
    /// `dead_letter`.
    #[serde(default)]
    pub on_error: OnError,
}

fn default_field() -> FieldPath {
    FieldPath::single(crate::event::MESSAGE)
}

impl ParseSyslogConfig {
    pub fn build(&self, id: &str, ctx: &TransformContext) -> Result<Box<dyn Transform>, String> {
        let default_utc_offset_secs = match self.timezone.as_deref() {
            None => 0,
            Some(tz) => {
                let zone = super::convert::parse_timezone(tz)?;
                let now = jiff::Timestamp::now();
                zone.to_offset(now).seconds()
            }
        };
        let parser = ParseSyslog {
            field: self.field.clone(),
            default_utc_offset_secs,
        };
        let failures = Failures::new(id, "parse_syslog", self.on_error, "parse_failure", ctx);
        Ok(ParserTransform::boxed(parser, failures))
    }
}

struct ParseSyslog {
    field: FieldPath,
    default_utc_offset_secs: i32,
}

impl EventParser for ParseSyslog {
    type Reason = String;

    fn parse_event(&mut self, event: &mut Event) -> Result<(), Self::Reason> {
        let text = match event.fields.get_path(&self.field) {
            Some(Value::Bytes(b)) => b.clone(),
            Some(other) => {
                return Err(format!(
                    "field `{}` is {}, not a string",
                    self.field,
                    other.kind_name()
                ))
            }
            None => return Err(format!("field `{}` is missing", self.field)),
        };
        let opts = ParseOptions {
            now_unix_nanos: event
                .timestamp()
                .unwrap_or_else(crate::time::now_unix_nanos),
            default_utc_offset_secs: self.default_utc_offset_secs,
        };
        let msg = parse(&text, &opts).map_err(|e| format!("not syslog: {e}"))?;
        insert_syslog_fields(&msg, event);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{build, config, json, message, run};
    use super::*;

    #[test]
    fn parses_a_field_into_ecs_fields() {
        let mut t = build("parse_syslog", "field = \"raw\"");
        let e = json(serde_json::json!({
            "@timestamp": "2026-11-24T12:00:00Z",
            "raw": "<34>Nov 24 11:59:00 gw su[99]: 'su root' failed"
        }));
        let out = run(t.as_mut(), vec![e]);
        let f = Value::Object(out[0].fields.clone()).to_json();
        assert_eq!(f["log"]["syslog"]["facility"]["name"], "auth");
        assert_eq!(f["log"]["syslog"]["severity"]["name"], "crit");
        assert_eq!(f["host"]["hostname"], "gw");
        assert_eq!(f["process"]["name"], "su");
        assert_eq!(f["process"]["pid"], 99);
        assert_eq!(f["message"], "'su root' failed");
        assert_eq!(f["@timestamp"], "2026-11-24T11:59:00.000Z");
    }

    #[test]
    fn zone_less_times_use_the_configured_offset() {
        let mut t = build("parse_syslog", "timezone = \"+02:00\"");
        let mut e = message("<13>Nov 24 11:59:00 gw app: x");
        e.fields.insert(
            "@timestamp",
            Value::Timestamp(crate::time::parse_rfc3339(b"2026-11-24T12:00:00Z").unwrap()),
        );
        let out = run(t.as_mut(), vec![e]);
        assert_eq!(
            out[0].timestamp(),
            crate::time::parse_rfc3339(b"2026-11-24T09:59:00Z")
        );
        assert!(config("parse_syslog", "timezone = \"Nowhere/City\"")
            .unwrap()
            .build("t", &TransformContext::for_tests())
            .is_err());
    }

    #[test]
    fn non_syslog_text_follows_on_error() {
        let mut t = build("parse_syslog", "");
        let out = run(t.as_mut(), vec![message("no pri here"), message("<999>x")]);
        assert!(out.iter().all(|e| e.has_tag("parse_failure")));
        assert_eq!(out[0].message().map(|b| &b[..]), Some(&b"no pri here"[..]));
        let mut t = build("parse_syslog", "on_error = \"drop\"");
        assert!(run(t.as_mut(), vec![message("")]).is_empty());
    }
}
