//! `parse_timestamp` transform: parses a text field into a timestamp (by default into
//! `@timestamp`), trying RFC 3339 and strftime formats in order, reading zone-less formats in
//! the configured time zone. Formats and the zone are resolved once at build. An event
//! without the field passes unchanged.

use serde::Deserialize;

use super::convert::{parse_timezone, TimeFormat, TimestampParser};
use super::failure::{EventParser, Failures, OnError, ParserTransform};
use super::TransformContext;
use crate::event::{Event, FieldPath, Value};
use crate::topology::Transform;

/// Parses a timestamp field.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParseTimestampConfig {
    /// The field holding the time text, e.g. `.time`.
    pub field: FieldPath,
    /// Formats tried in order: `rfc3339` or strftime formats such as
    /// `%d/%b/%Y:%H:%M:%S %z` or `%Y-%m-%d %H:%M:%S%.f`. A format without a year gets the
    /// current one.
    #[serde(default = "default_formats")]
    pub formats: Vec<String>,
    /// Zone of formats without an offset: `UTC` (default), `local`, an IANA name such as
    /// `Europe/Berlin`, or a fixed offset such as `+01:00`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Where the timestamp goes.
    #[serde(default = "default_target")]
    pub target: FieldPath,
    /// Remove `field` after a successful parse (unless it is the target).
    #[serde(default)]
    pub drop_original: bool,
    /// What happens to text no format parses: `keep` (tagged `timestamp_parse_failure`),
    /// `drop` or `dead_letter`.
    #[serde(default)]
    pub on_error: OnError,
}

fn default_formats() -> Vec<String> {
    vec!["rfc3339".to_string()]
}

fn default_target() -> FieldPath {
    FieldPath::single(crate::event::TIMESTAMP)
}

impl ParseTimestampConfig {
    pub fn build(&self, id: &str, ctx: &TransformContext) -> Result<Box<dyn Transform>, String> {
        if self.formats.is_empty() {
            return Err("`formats` is empty".to_string());
        }
        let formats = self
            .formats
            .iter()
            .map(|f| TimeFormat::parse(f))
            .collect::<Result<Vec<_>, _>>()?;
        let zone = match &self.timezone {
            Some(tz) => parse_timezone(tz)?,
            None => jiff::tz::TimeZone::UTC,
        };
        let parser = ParseTimestamp {
            config: self.clone(),
            parser: TimestampParser::new(formats, zone),
        };
        let failures = Failures::new(
            id,
            "parse_timestamp",
            self.on_error,
            "timestamp_parse_failure",
            ctx,
        );
        Ok(ParserTransform::boxed(parser, failures))
    }
}

struct ParseTimestamp {
    config: ParseTimestampConfig,
    parser: TimestampParser,
}

impl EventParser for ParseTimestamp {
    type Reason = String;

    /// A missing field is not a failure: there is nothing to parse (an upstream parser that
    /// did not match has already tagged the event).
    fn parse_event(&mut self, event: &mut Event) -> Result<(), Self::Reason> {
        let nanos = match event.fields.get_path(&self.config.field) {
            None => return Ok(()),
            Some(Value::Bytes(b)) => self.parser.parse(b).ok_or_else(|| {
                format!(
                    "`{}` matches none of the formats {:?}",
                    String::from_utf8_lossy(&b[..b.len().min(64)]),
                    self.config.formats
                )
            })?,
            Some(Value::Timestamp(t)) => *t,
            Some(other) => {
                return Err(format!(
                    "field `{}` is {}, not a string",
                    self.config.field,
                    other.kind_name()
                ))
            }
        };
        if self.config.drop_original && self.config.field != self.config.target {
            event.fields.remove_path(&self.config.field);
        }
        event
            .fields
            .insert_path(&self.config.target, Value::Timestamp(nanos));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{build, config, json, run};
    use super::*;

    fn ts(s: &str) -> i64 {
        crate::time::parse_rfc3339(s.as_bytes()).unwrap()
    }

    #[test]
    fn tries_formats_in_order_in_the_configured_zone() {
        let mut t = build(
            "parse_timestamp",
            r#"field = ".time"
formats = ["rfc3339", "%Y-%m-%d %H:%M:%S%.f", "%d/%b/%Y:%H:%M:%S %z"]
timezone = "Europe/Berlin"
drop_original = true"#,
        );
        let out = run(
            t.as_mut(),
            vec![
                json(serde_json::json!({"time": "2026-11-24T10:00:00Z"})),
                json(serde_json::json!({"time": "2026-11-24 11:00:00.250"})),
                json(serde_json::json!({"time": "24/Nov/2026:05:00:00 -0500"})),
            ],
        );
        assert_eq!(out[0].timestamp(), Some(ts("2026-11-24T10:00:00Z")));
        assert_eq!(out[1].timestamp(), Some(ts("2026-11-24T10:00:00.25Z")));
        assert_eq!(out[2].timestamp(), Some(ts("2026-11-24T10:00:00Z")));
        assert!(out.iter().all(|e| e.fields.get("time").is_none()));
    }

    #[test]
    fn custom_target_keeps_the_event_time() {
        let mut t = build(
            "parse_timestamp",
            "field = \"t\"\ntarget = \"event.created\"\ntimezone = \"+01:00\"\nformats = [\"%Y-%m-%d %H:%M\"]",
        );
        let out = run(
            t.as_mut(),
            vec![json(serde_json::json!({"t": "2026-11-24 11:00"}))],
        );
        assert_eq!(out[0].timestamp(), Some(0));
        assert_eq!(
            out[0].get(&FieldPath::parse("event.created").unwrap()),
            Some(&Value::Timestamp(ts("2026-11-24T10:00:00Z")))
        );
        assert!(out[0].fields.get("t").is_some());
    }

    #[test]
    fn unparseable_and_non_text_fields_follow_on_error_missing_ones_pass() {
        let mut t = build("parse_timestamp", "field = \"t\"");
        let out = run(
            t.as_mut(),
            vec![
                json(serde_json::json!({"t": "last tuesday"})),
                json(serde_json::json!({"t": 12})),
                json(serde_json::json!({"x": 1})),
            ],
        );
        assert_eq!(out.len(), 3);
        assert!(out[..2]
            .iter()
            .all(|e| e.has_tag("timestamp_parse_failure")));
        assert!(!out[2].has_tag("timestamp_parse_failure"));
        assert!(out.iter().all(|e| e.timestamp() == Some(0)));
        let mut t = build("parse_timestamp", "field = \"t\"\non_error = \"drop\"");
        assert!(run(t.as_mut(), vec![json(serde_json::json!({"t": "x"}))]).is_empty());
    }

    #[test]
    fn bad_formats_and_zones_are_refused_at_build() {
        let ctx = TransformContext::for_tests();
        for options in [
            "field = \"t\"\nformats = []",
            "field = \"t\"\nformats = [\"dd.mm.yyyy\"]",
            "field = \"t\"\ntimezone = \"Atlantis/Capital\"",
        ] {
            assert!(
                config("parse_timestamp", options)
                    .unwrap()
                    .build("t", &ctx)
                    .is_err(),
                "{options}"
            );
        }
    }
}
