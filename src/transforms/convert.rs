//! Typed conversions of text fields: the `types` of `parse_regex`, the `coerce` transform and
//! the timestamp parsing of `parse_timestamp`.
//!
//! A [`Conversion`] is parsed from its configuration name once (`"int"`, `"float"`, `"bool"`,
//! `"string"`, `"timestamp"`, `"timestamp|%d/%b/%Y:%H:%M:%S %z"`); converting a value then
//! does no parsing of the configuration. Timestamps are RFC 3339 (the fast path in
//! [`crate::time`]) or strftime formats parsed with jiff; a format without a zone is read in
//! the configured time zone (UTC by default), a format without a year gets the current year
//! (or the previous one when that would put the time more than a day in the future, as for
//! syslog files at new year).

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use jiff::fmt::strtime::BrokenDownTime;
use jiff::tz::{Offset, TimeZone};

use crate::event::Value;

/// A target type.
#[derive(Debug, Clone)]
pub enum Conversion {
    String,
    Int,
    Float,
    Bool,
    Timestamp(TimestampParser),
}

/// Why a value could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot convert {found} to {target}")]
pub struct ConvertError {
    pub target: &'static str,
    /// A short description of what was found (its kind and, for text, its beginning).
    pub found: String,
}

impl Conversion {
    pub fn name(&self) -> &'static str {
        match self {
            Conversion::String => "string",
            Conversion::Int => "int",
            Conversion::Float => "float",
            Conversion::Bool => "bool",
            Conversion::Timestamp(_) => "timestamp",
        }
    }

    fn error(&self, value: &Value) -> ConvertError {
        let found = match value {
            Value::Bytes(b) => {
                let text = String::from_utf8_lossy(&b[..b.len().min(40)]);
                format!("string {text:?}")
            }
            other => other.kind_name().to_string(),
        };
        ConvertError {
            target: self.name(),
            found,
        }
    }

    /// Converts text (a regex capture, a string field).
    pub fn convert_bytes(&self, text: Bytes) -> Result<Value, ConvertError> {
        let parsed = {
            let s = std::str::from_utf8(&text).ok();
            match self {
                Conversion::String => None,
                Conversion::Int => s.and_then(|s| s.parse::<i64>().ok()).map(Value::Integer),
                Conversion::Float => s
                    .and_then(|s| s.parse::<f64>().ok())
                    .filter(|f| f.is_finite())
                    .map(Value::Float),
                Conversion::Bool => s.and_then(parse_bool).map(Value::Bool),
                Conversion::Timestamp(p) => p.parse(&text).map(Value::Timestamp),
            }
        };
        match (self, parsed) {
            (Conversion::String, _) => Ok(Value::Bytes(text)),
            (_, Some(v)) => Ok(v),
            (_, None) => Err(self.error(&Value::Bytes(text))),
        }
    }

    /// Converts any value: text is parsed, numbers convert between each other when no
    /// precision is lost, scalars become text for `string`.
    pub fn convert_value(&self, value: &Value) -> Result<Value, ConvertError> {
        let converted = match (self, value) {
            (_, Value::Bytes(b)) => return self.convert_bytes(b.clone()),
            (Conversion::Int, Value::Integer(_))
            | (Conversion::Float, Value::Float(_))
            | (Conversion::Bool, Value::Bool(_))
            | (Conversion::Timestamp(_), Value::Timestamp(_)) => Some(value.clone()),
            (Conversion::Float, Value::Integer(i)) => Some(Value::Float(*i as f64)),
            (Conversion::Int, Value::Float(f))
                if f.fract() == 0.0 && *f >= i64::MIN as f64 && *f < i64::MAX as f64 =>
            {
                Some(Value::Integer(*f as i64))
            }
            (Conversion::Int, Value::Bool(b)) => Some(Value::Integer(i64::from(*b))),
            (Conversion::Bool, Value::Integer(0)) => Some(Value::Bool(false)),
            (Conversion::Bool, Value::Integer(1)) => Some(Value::Bool(true)),
            (Conversion::String, Value::Integer(i)) => Some(Value::from(i.to_string())),
            (Conversion::String, Value::Float(f)) => Some(Value::from(f.to_string())),
            (Conversion::String, Value::Bool(b)) => Some(Value::from(b.to_string())),
            (Conversion::String, Value::Timestamp(t)) => {
                Some(Value::from(crate::time::format_rfc3339(*t)))
            }
            _ => None,
        };
        converted.ok_or_else(|| self.error(value))
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    const TRUE: [&str; 5] = ["true", "1", "yes", "on", "t"];
    const FALSE: [&str; 5] = ["false", "0", "no", "off", "f"];
    if TRUE.iter().any(|t| t.eq_ignore_ascii_case(s)) {
        Some(true)
    } else if FALSE.iter().any(|t| t.eq_ignore_ascii_case(s)) {
        Some(false)
    } else {
        None
    }
}

impl FromStr for Conversion {
    type Err = String;

    fn from_str(s: &str) -> Result<Conversion, String> {
        if let Some(format) = s.strip_prefix("timestamp|") {
            return Ok(Conversion::Timestamp(TimestampParser::new(
                vec![TimeFormat::parse(format)?],
                TimeZone::UTC,
            )));
        }
        Ok(match s {
            "string" | "bytes" => Conversion::String,
            "int" | "integer" => Conversion::Int,
            "float" => Conversion::Float,
            "bool" | "boolean" => Conversion::Bool,
            "timestamp" => Conversion::Timestamp(TimestampParser::new(
                vec![TimeFormat::Rfc3339],
                TimeZone::UTC,
            )),
            other => {
                return Err(format!(
                    "unknown type `{other}`; expected `string`, `int`, `float`, `bool`, `timestamp` or `timestamp|<strftime format>`"
                ))
            }
        })
    }
}

impl schemars::JsonSchema for Conversion {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Conversion".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A type: `string`, `int`, `float`, `bool`, `timestamp` (RFC 3339) or `timestamp|<strftime format>`.",
            "pattern": "^(string|bytes|int|integer|float|bool|boolean|timestamp(\\|.*%.*)?)$"
        })
    }
}

impl<'de> serde::Deserialize<'de> for Conversion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Conversion, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One accepted timestamp format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFormat {
    /// RFC 3339 / ISO 8601 with an offset, e.g. `2026-11-24T10:00:00.123Z`.
    Rfc3339,
    /// A strftime format for jiff's strptime, e.g. `%d/%b/%Y:%H:%M:%S %z`.
    Strftime(String),
}

impl TimeFormat {
    /// `"rfc3339"` or a strftime format (which must contain a `%` specifier).
    pub fn parse(s: &str) -> Result<TimeFormat, String> {
        if s.eq_ignore_ascii_case("rfc3339") {
            return Ok(TimeFormat::Rfc3339);
        }
        if !s.contains('%') {
            return Err(format!(
                "timestamp format `{s}` has no `%` specifier; use `rfc3339` or a strftime format like `%Y-%m-%d %H:%M:%S`"
            ));
        }
        Ok(TimeFormat::Strftime(s.to_string()))
    }
}

/// Parses timestamps in one of several formats, in a time zone for zone-less formats.
#[derive(Debug, Clone)]
pub struct TimestampParser {
    formats: Vec<TimeFormat>,
    timezone: TimeZone,
}

/// `UTC`, `local`, an IANA name such as `Europe/Berlin`, or a fixed offset such as `+01:00`.
pub fn parse_timezone(s: &str) -> Result<TimeZone, String> {
    if s.eq_ignore_ascii_case("utc") || s == "Z" {
        return Ok(TimeZone::UTC);
    }
    if s.eq_ignore_ascii_case("local") {
        return Ok(TimeZone::system());
    }
    if let Some(rest) = s.strip_prefix(['+', '-']) {
        let negative = s.starts_with('-');
        let digits: String = match rest.len() {
            5 if rest.as_bytes()[2] == b':' => rest.chars().filter(|c| *c != ':').collect(),
            2 | 4 => rest.to_string(),
            _ => String::new(),
        };
        let digits = if digits.bytes().all(|b| b.is_ascii_digit()) {
            digits
        } else {
            String::new()
        };
        let parsed = match digits.len() {
            2 => digits.parse::<i32>().ok().map(|h| h * 3600),
            4 => digits[..2]
                .parse::<i32>()
                .ok()
                .zip(digits[2..].parse::<i32>().ok())
                .filter(|(_, m)| *m < 60)
                .map(|(h, m)| h * 3600 + m * 60),
            _ => None,
        };
        let secs = parsed
            .filter(|s| *s <= 25 * 3600)
            .ok_or_else(|| format!("invalid UTC offset `{s}`; expected e.g. `+01:00`"))?;
        let offset = Offset::from_seconds(if negative { -secs } else { secs })
            .map_err(|e| format!("invalid UTC offset `{s}`: {e}"))?;
        return Ok(TimeZone::fixed(offset));
    }
    TimeZone::get(s).map_err(|e| format!("unknown time zone `{s}`: {e}"))
}

impl TimestampParser {
    pub fn new(formats: Vec<TimeFormat>, timezone: TimeZone) -> TimestampParser {
        TimestampParser { formats, timezone }
    }

    /// Nanoseconds since the epoch, from the first format that parses the whole text.
    pub fn parse(&self, text: &[u8]) -> Option<i64> {
        self.formats.iter().find_map(|f| match f {
            TimeFormat::Rfc3339 => crate::time::parse_rfc3339(text),
            TimeFormat::Strftime(format) => self.parse_strftime(format, text),
        })
    }

    fn parse_strftime(&self, format: &str, text: &[u8]) -> Option<i64> {
        let mut tm = BrokenDownTime::parse(format, text).ok()?;
        let timestamp = if tm.timestamp().is_some() || tm.offset().is_some() {
            tm.to_timestamp().ok()?
        } else if tm.iana_time_zone().is_some() {
            tm.to_zoned().ok()?.timestamp()
        } else if tm.year().is_none() {
            let now = jiff::Timestamp::now();
            let year = now.to_zoned(self.timezone.clone()).year();
            tm.set_year(Some(year)).ok()?;
            let this_year = self.in_zone(&tm)?;
            if this_year.as_second() > now.as_second() + 86_400 {
                tm.set_year(Some(year - 1)).ok()?;
                self.in_zone(&tm)?
            } else {
                this_year
            }
        } else {
            self.in_zone(&tm)?
        };
        i64::try_from(timestamp.as_nanosecond()).ok()
    }

    fn in_zone(&self, tm: &BrokenDownTime) -> Option<jiff::Timestamp> {
        let datetime = tm.to_datetime().ok()?;
        Some(
            self.timezone
                .to_ambiguous_zoned(datetime)
                .compatible()
                .ok()?
                .timestamp(),
        )
    }
}

impl fmt::Display for TimeFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeFormat::Rfc3339 => f.write_str("rfc3339"),
            TimeFormat::Strftime(s) => f.write_str(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(s: &str) -> Conversion {
        s.parse().unwrap()
    }

    fn ts(s: &str) -> i64 {
        crate::time::parse_rfc3339(s.as_bytes()).unwrap()
    }

    #[test]
    fn converts_text_to_each_type_and_reports_failures() {
        let b = |s: &'static str| Bytes::from_static(s.as_bytes());
        assert_eq!(conv("int").convert_bytes(b("-42")), Ok(Value::Integer(-42)));
        assert_eq!(conv("float").convert_bytes(b("0.5")), Ok(Value::Float(0.5)));
        assert_eq!(conv("bool").convert_bytes(b("Yes")), Ok(Value::Bool(true)));
        assert_eq!(conv("bool").convert_bytes(b("off")), Ok(Value::Bool(false)));
        assert_eq!(conv("string").convert_bytes(b("x")), Ok(Value::from("x")));
        assert_eq!(
            conv("timestamp").convert_bytes(b("2026-11-24T10:00:00Z")),
            Ok(Value::Timestamp(ts("2026-11-24T10:00:00Z")))
        );
        assert_eq!(
            conv("timestamp|%d/%b/%Y:%H:%M:%S %z").convert_bytes(b("24/Nov/2026:11:00:00 +0100")),
            Ok(Value::Timestamp(ts("2026-11-24T10:00:00Z")))
        );
        let err = conv("int").convert_bytes(b("12a")).unwrap_err();
        assert_eq!(err.to_string(), "cannot convert string \"12a\" to int");
        assert!(conv("float").convert_bytes(b("NaN")).is_err());
        assert!(conv("bool").convert_bytes(b("maybe")).is_err());
        assert!(conv("timestamp").convert_bytes(b("yesterday")).is_err());
        assert!("number".parse::<Conversion>().is_err());
    }

    #[test]
    fn converts_between_value_kinds_without_losing_precision() {
        assert_eq!(
            conv("float").convert_value(&Value::Integer(3)),
            Ok(Value::Float(3.0))
        );
        assert_eq!(
            conv("int").convert_value(&Value::Float(3.0)),
            Ok(Value::Integer(3))
        );
        assert!(conv("int").convert_value(&Value::Float(3.5)).is_err());
        assert_eq!(
            conv("string").convert_value(&Value::Integer(7)),
            Ok(Value::from("7"))
        );
        assert!(conv("int").convert_value(&Value::Null).is_err());
        assert!(conv("bool").convert_value(&Value::Integer(2)).is_err());
    }

    #[test]
    fn zone_less_formats_use_the_configured_zone() {
        let berlin = TimestampParser::new(
            vec![TimeFormat::parse("%Y-%m-%d %H:%M:%S").unwrap()],
            parse_timezone("Europe/Berlin").unwrap(),
        );
        // November: CET, UTC+1.
        assert_eq!(
            berlin.parse(b"2026-11-24 11:00:00"),
            Some(ts("2026-11-24T10:00:00Z"))
        );
        // July: CEST, UTC+2.
        assert_eq!(
            berlin.parse(b"2026-07-01 12:00:00"),
            Some(ts("2026-07-01T10:00:00Z"))
        );
        let fixed = TimestampParser::new(
            vec![TimeFormat::parse("%Y-%m-%d %H:%M:%S").unwrap()],
            parse_timezone("-05:30").unwrap(),
        );
        assert_eq!(
            fixed.parse(b"2026-11-24 04:30:00"),
            Some(ts("2026-11-24T10:00:00Z"))
        );
        assert!(parse_timezone("Mars/Olympus").is_err());
        assert!(parse_timezone("+1:0").is_err());
        assert!(TimeFormat::parse("yyyy-mm-dd").is_err());
    }

    #[test]
    fn yearless_formats_get_a_year_that_is_not_in_the_future() {
        let p = TimestampParser::new(
            vec![TimeFormat::parse("%b %e %H:%M:%S").unwrap()],
            TimeZone::UTC,
        );
        let now = crate::time::now_unix_nanos();
        for text in ["Jan  1 00:00:00", "Dec 31 23:59:59", "Jun 15 12:00:00"] {
            let t = p.parse(text.as_bytes()).unwrap();
            assert!(t <= now + 86_400_000_000_000, "{text}");
            assert!(t > now - 367 * 86_400_000_000_000, "{text}");
        }
    }
}
