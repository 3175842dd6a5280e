//! What the user writes for a `syslog` source, and the time zone used for timestamps that
//! carry none (RFC 3164, RFC 5424 without an offset).

use std::net::SocketAddr;

use serde::Deserialize;

use crate::sources::net::TlsConfig;
use crate::sources::tcp::{default_idle_timeout_secs, default_max_connections};

/// Transport of a syslog source.
#[derive(
    Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SyslogMode {
    /// RFC 6587: octet counting or newline framing, detected per message.
    #[default]
    Tcp,
    /// One message per datagram.
    Udp,
}

/// Receives syslog (RFC 5424 and RFC 3164) over TCP, TLS or UDP.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyslogSourceConfig {
    /// `tcp` or `udp`.
    #[serde(default)]
    pub mode: SyslogMode,
    /// Address to listen on, e.g. `0.0.0.0:5514`.
    pub address: SocketAddr,
    /// Messages longer than this are cut (tagged `truncated`); for UDP, the largest datagram
    /// read whole.
    #[serde(default = "default_max_frame_bytes")]
    pub max_frame_bytes: usize,
    /// TCP connections open at once; further connections are closed right after accept.
    #[serde(default = "default_max_connections")]
    pub max_connections: u64,
    /// A TCP connection that sends nothing for this many seconds is closed.
    #[serde(default = "default_idle_timeout_secs")]
    pub connection_idle_timeout_secs: u64,
    /// Serve TLS (TCP only): `{ cert_file, key_file, ca_file }`; `ca_file` requires client
    /// certificates signed by that CA.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Zone of timestamps without a UTC offset (all of RFC 3164): `UTC` (default), `local`
    /// (this machine's zone), a fixed offset like `+02:00`, or an IANA name like
    /// `Europe/Paris`. A named zone's offset is taken at the receive time.
    #[serde(default)]
    pub timezone: Timezone,
}

fn default_max_frame_bytes() -> usize {
    100 * 1024
}

/// A time zone for timestamps that carry none.
#[derive(Debug, Clone, PartialEq)]
pub enum Timezone {
    /// A fixed offset from UTC, in seconds.
    Fixed(i32),
    /// A zone with rules (DST): the offset at the receive time is used.
    Zone(jiff::tz::TimeZone),
}

impl Default for Timezone {
    fn default() -> Self {
        Timezone::Fixed(0)
    }
}

impl Timezone {
    /// Parses `UTC`, `local`, `±hh:mm` / `±hhmm` / `±hh`, or an IANA zone name.
    pub fn parse(s: &str) -> Result<Timezone, String> {
        if s.eq_ignore_ascii_case("utc") || s == "Z" {
            return Ok(Timezone::Fixed(0));
        }
        if s.eq_ignore_ascii_case("local") {
            return Ok(Timezone::Zone(jiff::tz::TimeZone::system()));
        }
        if let Some(offset) = parse_offset(s) {
            return Ok(Timezone::Fixed(offset));
        }
        jiff::tz::TimeZone::get(s)
            .map(Timezone::Zone)
            .map_err(|e| format!("unknown timezone `{s}`: {e}"))
    }

    /// The offset from UTC in seconds at `unix_second`.
    pub fn offset_secs_at(&self, unix_second: i64) -> i32 {
        match self {
            Timezone::Fixed(o) => *o,
            Timezone::Zone(tz) => jiff::Timestamp::from_second(unix_second)
                .map(|t| tz.to_offset(t).seconds())
                .unwrap_or(0),
        }
    }
}

fn parse_offset(s: &str) -> Option<i32> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || rest.matches(':').count() > 1 {
        return None;
    }
    let (h, m) = match digits.len() {
        2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    (h <= 23 && m <= 59).then_some(sign * (h * 3600 + m * 60))
}

impl serde::Serialize for Timezone {
    /// The text [`Timezone::parse`] reads back: `UTC`, `±hh:mm`, or the zone's IANA name
    /// (`local` for a system zone without one).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Timezone::Fixed(0) => serializer.serialize_str("UTC"),
            Timezone::Fixed(o) => {
                let sign = if *o < 0 { '-' } else { '+' };
                let a = o.unsigned_abs();
                serializer.collect_str(&format_args!("{sign}{:02}:{:02}", a / 3600, a % 3600 / 60))
            }
            Timezone::Zone(tz) => serializer.serialize_str(tz.iana_name().unwrap_or("local")),
        }
    }
}

impl schemars::JsonSchema for Timezone {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timezone".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string" })
    }
}

impl<'de> Deserialize<'de> for Timezone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Timezone, D::Error> {
        let s = String::deserialize(d)?;
        Timezone::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timezones_parse() {
        assert_eq!(Timezone::parse("UTC").unwrap(), Timezone::Fixed(0));
        assert_eq!(Timezone::parse("+02:00").unwrap(), Timezone::Fixed(7200));
        assert_eq!(Timezone::parse("-0530").unwrap(), Timezone::Fixed(-19800));
        assert_eq!(Timezone::parse("+01").unwrap(), Timezone::Fixed(3600));
        assert!(Timezone::parse("+25:00").is_err());
        assert!(Timezone::parse("Not/AZone").is_err());
        for text in ["UTC", "+02:00", "-05:30", "Europe/Paris"] {
            let written = serde_json::to_value(Timezone::parse(text).unwrap()).unwrap();
            assert_eq!(written, text, "serialized as it is written");
        }
        let paris = Timezone::parse("Europe/Paris").unwrap();
        // 2026-01-15 (winter, +01:00) and 2026-07-15 (summer, +02:00).
        assert_eq!(paris.offset_secs_at(1_768_435_200), 3600);
        assert_eq!(paris.offset_secs_at(1_784_073_600), 7200);
    }

    #[test]
    fn config_rejects_unknown_keys_and_reads_tls() {
        let c: SyslogSourceConfig = toml::from_str(
            "mode = \"udp\"\naddress = \"127.0.0.1:5514\"\ntimezone = \"+01:00\"\ntls = { cert_file = \"c\", key_file = \"k\" }\n",
        )
        .unwrap();
        assert_eq!(c.mode, SyslogMode::Udp);
        assert_eq!(c.max_frame_bytes, 102_400);
        assert_eq!(c.timezone, Timezone::Fixed(3600));
        assert!(c.tls.unwrap().ca_file.is_none());
        assert!(
            toml::from_str::<SyslogSourceConfig>("address = \"127.0.0.1:1\"\nport = 3\n").is_err()
        );
    }
}
