//! Syslog message parser for RFC 5424 and RFC 3164 (BSD syslog), including the
//! common real-device deviations from RFC 3164.
//!
//! This module owns the byte-level grammar of a single syslog message: PRI,
//! header fields, timestamps (including RFC 3164 year inference), structured
//! data and the MSG part. It knows nothing about transports or events: the
//! caller hands it one already-framed message (see `framing.rs`) and gets back
//! a [`SyslogMessage`] that borrows from the input.
//!
//! Design notes:
//! * Hand-written over bytes, no regex; the only allocations are the
//!   structured-data vectors (when SD is present) and an owned `String` for a
//!   param value that actually contains escapes.
//! * It never panics on any input (fuzzed, property-tested). All arithmetic on
//!   timestamps is checked.
//! * RFC 5424 is parsed strictly (a malformed header is an error) except that
//!   field lengths are not enforced and any UTF-8 (not only PRINTUSASCII) is
//!   accepted in header fields. RFC 3164 is parsed leniently: everything that
//!   does not look like a header is kept as MSG.
//! * Timestamps are returned as Unix nanoseconds (`i64`), computed with a
//!   proleptic Gregorian calendar; dates outside 1677..=2262 are reported as
//!   [`SyslogParseError::TimestampOutOfRange`].

use std::borrow::Cow;

const NANOS_PER_SEC: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;
/// How far in the future (relative to the receive time) an RFC 3164 timestamp
/// without a year may be before the previous year is assumed.
const YEAR_INFERENCE_FUTURE_SLACK_NANOS: i64 = SECS_PER_DAY * NANOS_PER_SEC;
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Which grammar a message was parsed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyslogFormat {
    Rfc5424,
    Rfc3164,
}

/// Per-message context needed to interpret incomplete timestamps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Receive time; used to infer the year of RFC 3164 timestamps.
    pub now_unix_nanos: i64,
    /// Zone for timestamps that carry no UTC offset; 0 = UTC.
    pub default_utc_offset_secs: i32,
}

/// One RFC 5424 SD-ELEMENT. Param values are unescaped (`\"`, `\\`, `\]`);
/// they borrow from the input unless an escape had to be removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdElement<'a> {
    pub id: &'a str,
    pub params: Vec<(&'a str, Cow<'a, str>)>,
}

impl SdElement<'_> {
    /// Value of the first param called `name`, if any.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_ref())
    }
}

/// A parsed syslog message borrowing from the input buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogMessage<'a> {
    pub format: SyslogFormat,
    /// 0..=191
    pub priority: u8,
    pub facility: u8,
    pub severity: u8,
    /// `Some(1)` for RFC 5424, `None` for RFC 3164.
    pub version: Option<u8>,
    /// `None` when NILVALUE or absent.
    pub timestamp_unix_nanos: Option<i64>,
    pub hostname: Option<&'a str>,
    /// APP-NAME (5424) or TAG (3164).
    pub app_name: Option<&'a str>,
    /// PROCID (5424) or the `[pid]` of the TAG (3164).
    pub proc_id: Option<&'a str>,
    pub msg_id: Option<&'a str>,
    pub structured_data: Vec<SdElement<'a>>,
    /// MSG with a leading UTF-8 BOM removed and trailing `\r`, `\n`, NULs trimmed.
    pub message: &'a [u8],
}

/// Why a message could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SyslogParseError {
    #[error("empty message")]
    Empty,
    #[error("missing PRI (message must start with '<')")]
    MissingPri,
    #[error("malformed PRI (expected '<' 1-3 digits '>')")]
    InvalidPri,
    #[error("PRI out of range (must be 0..=191)")]
    PriOutOfRange,
    #[error("missing or unterminated RFC 5424 header field {0}")]
    MissingField(&'static str),
    #[error("RFC 5424 header field {0} is not valid UTF-8")]
    InvalidUtf8(&'static str),
    #[error("invalid timestamp")]
    InvalidTimestamp,
    #[error("timestamp out of representable range")]
    TimestampOutOfRange,
    #[error("malformed structured data: {0}")]
    InvalidStructuredData(&'static str),
}

type Result<T> = std::result::Result<T, SyslogParseError>;

/// Parses one syslog message, auto-detecting RFC 5424 (`<PRI>1 `) vs RFC 3164.
///
/// Leading ASCII whitespace and NULs before the PRI are ignored.
pub fn parse<'a>(input: &'a [u8], opts: &ParseOptions) -> Result<SyslogMessage<'a>> {
    let start = input
        .iter()
        .position(|&b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0))
        .ok_or(SyslogParseError::Empty)?;
    let (priority, rest) = parse_pri(&input[start..])?;
    match rest {
        [b'1', b' ', body @ ..] => parse_5424(priority, body, opts),
        _ => parse_3164(priority, rest, opts),
    }
}

/// Facility keyword for a facility code (`priority >> 3`); `"unknown"` above 23.
pub fn facility_name(code: u8) -> &'static str {
    const NAMES: [&str; 24] = [
        "kern",
        "user",
        "mail",
        "daemon",
        "auth",
        "syslog",
        "lpr",
        "news",
        "uucp",
        "cron",
        "authpriv",
        "ftp",
        "ntp",
        "security",
        "console",
        "solaris-cron",
        "local0",
        "local1",
        "local2",
        "local3",
        "local4",
        "local5",
        "local6",
        "local7",
    ];
    NAMES.get(usize::from(code)).copied().unwrap_or("unknown")
}

/// Severity keyword for a severity code (`priority & 7`); `"unknown"` above 7.
pub fn severity_name(code: u8) -> &'static str {
    const NAMES: [&str; 8] = [
        "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
    ];
    NAMES.get(usize::from(code)).copied().unwrap_or("unknown")
}

// ---------------------------------------------------------------------------
// PRI

fn parse_pri(input: &[u8]) -> Result<(u8, &[u8])> {
    if input.first() != Some(&b'<') {
        return Err(SyslogParseError::MissingPri);
    }
    let mut value: u16 = 0;
    let mut i = 1;
    while let Some(&b) = input.get(i) {
        if !b.is_ascii_digit() {
            break;
        }
        if i > 3 {
            return Err(SyslogParseError::InvalidPri);
        }
        value = value * 10 + u16::from(b - b'0');
        i += 1;
    }
    if i == 1 || input.get(i) != Some(&b'>') {
        return Err(SyslogParseError::InvalidPri);
    }
    let priority = u8::try_from(value)
        .ok()
        .filter(|&p| p <= 191)
        .ok_or(SyslogParseError::PriOutOfRange)?;
    Ok((priority, &input[i + 1..]))
}

fn base_message(format: SyslogFormat, priority: u8) -> SyslogMessage<'static> {
    SyslogMessage {
        format,
        priority,
        facility: priority >> 3,
        severity: priority & 7,
        version: None,
        timestamp_unix_nanos: None,
        hostname: None,
        app_name: None,
        proc_id: None,
        msg_id: None,
        structured_data: Vec::new(),
        message: &[],
    }
}

/// Strips a leading UTF-8 BOM and trailing `\r`, `\n` and NUL bytes.
fn clean_msg(msg: &[u8]) -> &[u8] {
    let msg = msg.strip_prefix(UTF8_BOM).unwrap_or(msg);
    let end = msg
        .iter()
        .rposition(|&b| !matches!(b, b'\r' | b'\n' | 0))
        .map_or(0, |p| p + 1);
    &msg[..end]
}

// ---------------------------------------------------------------------------
// RFC 5424

fn parse_5424<'a>(priority: u8, body: &'a [u8], opts: &ParseOptions) -> Result<SyslogMessage<'a>> {
    let mut msg = base_message(SyslogFormat::Rfc5424, priority);
    msg.version = Some(1);
    let mut rest = body;

    let ts = next_field(&mut rest, "TIMESTAMP")?;
    if ts != b"-" {
        let (nanos, used) = parse_iso_timestamp(ts, opts.default_utc_offset_secs, false)?
            .ok_or(SyslogParseError::InvalidTimestamp)?;
        if used != ts.len() {
            return Err(SyslogParseError::InvalidTimestamp);
        }
        msg.timestamp_unix_nanos = Some(nanos);
    }
    msg.hostname = nil_or_str(next_field(&mut rest, "HOSTNAME")?, "HOSTNAME")?;
    msg.app_name = nil_or_str(next_field(&mut rest, "APP-NAME")?, "APP-NAME")?;
    msg.proc_id = nil_or_str(next_field(&mut rest, "PROCID")?, "PROCID")?;
    msg.msg_id = nil_or_str(next_field(&mut rest, "MSGID")?, "MSGID")?;

    let (sd, after) = parse_structured_data(rest)?;
    msg.structured_data = sd;
    msg.message = match after {
        [] => &[],
        [b' ', m @ ..] => clean_msg(m),
        tail if tail.iter().all(|&b| matches!(b, b'\r' | b'\n' | 0)) => &[],
        _ => {
            return Err(SyslogParseError::InvalidStructuredData(
                "expected SP or end after structured data",
            ))
        }
    };
    Ok(msg)
}

/// Takes a non-empty SP-terminated header field off the front of `rest`.
fn next_field<'a>(rest: &mut &'a [u8], name: &'static str) -> Result<&'a [u8]> {
    let s: &'a [u8] = rest;
    match memchr::memchr(b' ', s) {
        Some(sp) if sp > 0 => {
            *rest = &s[sp + 1..];
            Ok(&s[..sp])
        }
        _ => Err(SyslogParseError::MissingField(name)),
    }
}

fn nil_or_str<'a>(field: &'a [u8], name: &'static str) -> Result<Option<&'a str>> {
    if field == b"-" {
        return Ok(None);
    }
    std::str::from_utf8(field)
        .map(Some)
        .map_err(|_| SyslogParseError::InvalidUtf8(name))
}

/// SD-NAME characters: PRINTUSASCII except `=`, SP, `]`, `"`.
fn is_sd_name_char(b: u8) -> bool {
    matches!(b, 33..=126) && !matches!(b, b'=' | b']' | b'"')
}

fn take_sd_name<'a>(s: &'a [u8], i: &mut usize) -> Option<&'a str> {
    let start = *i;
    while s.get(*i).is_some_and(|&b| is_sd_name_char(b)) {
        *i += 1;
    }
    if *i == start {
        return None;
    }
    // Only ASCII was accepted, so this cannot fail.
    std::str::from_utf8(&s[start..*i]).ok()
}

type SdResult<'a> = Result<(Vec<SdElement<'a>>, &'a [u8])>;

fn parse_structured_data(s: &[u8]) -> SdResult<'_> {
    use SyslogParseError::InvalidStructuredData as Bad;
    match s.first() {
        Some(b'-') => return Ok((Vec::new(), &s[1..])),
        Some(b'[') => {}
        _ => return Err(Bad("expected '-' or '['")),
    }
    let mut elements = Vec::new();
    let mut i = 0;
    while s.get(i) == Some(&b'[') {
        i += 1;
        let id = take_sd_name(s, &mut i).ok_or(Bad("empty or invalid SD-ID"))?;
        let mut params = Vec::new();
        loop {
            match s.get(i) {
                Some(b']') => {
                    i += 1;
                    break;
                }
                Some(b' ') => {
                    // Tolerate repeated spaces and a space before ']'.
                    while s.get(i) == Some(&b' ') {
                        i += 1;
                    }
                    if s.get(i) == Some(&b']') {
                        continue;
                    }
                    let name = take_sd_name(s, &mut i).ok_or(Bad("empty or invalid PARAM-NAME"))?;
                    if s.get(i) != Some(&b'=') {
                        return Err(Bad("expected '=' after PARAM-NAME"));
                    }
                    if s.get(i + 1) != Some(&b'"') {
                        return Err(Bad("expected '\"' before PARAM-VALUE"));
                    }
                    i += 2;
                    let value = take_param_value(s, &mut i)?;
                    params.push((name, value));
                }
                None => return Err(Bad("unterminated SD-ELEMENT")),
                Some(_) => return Err(Bad("expected SP or ']' in SD-ELEMENT")),
            }
        }
        elements.push(SdElement { id, params });
    }
    Ok((elements, &s[i..]))
}

/// Reads a PARAM-VALUE starting just after its opening quote; leaves `i` just
/// after the closing quote.
fn take_param_value<'a>(s: &'a [u8], i: &mut usize) -> Result<Cow<'a, str>> {
    use SyslogParseError::InvalidStructuredData as Bad;
    let start = *i;
    let mut pos = start;
    let mut escaped = false;
    let end = loop {
        let tail = s.get(pos..).unwrap_or_default();
        let off = memchr::memchr2(b'"', b'\\', tail).ok_or(Bad("unterminated PARAM-VALUE"))?;
        pos += off;
        if s[pos] == b'"' {
            break pos;
        }
        // Backslash: whatever follows cannot terminate the value.
        escaped = true;
        pos += 2;
    };
    *i = end + 1;
    let raw =
        std::str::from_utf8(&s[start..end]).map_err(|_| Bad("PARAM-VALUE is not valid UTF-8"))?;
    Ok(if escaped {
        Cow::Owned(unescape_param_value(raw))
    } else {
        Cow::Borrowed(raw)
    })
}

/// RFC 5424 6.3.3: `\"`, `\\` and `\]` are escapes; any other backslash is literal.
fn unescape_param_value(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.clone().next() {
                Some(n @ ('"' | '\\' | ']')) => {
                    out.push(n);
                    chars.next();
                }
                _ => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// RFC 3164

fn parse_3164<'a>(priority: u8, rest: &'a [u8], opts: &ParseOptions) -> Result<SyslogMessage<'a>> {
    let mut msg = base_message(SyslogFormat::Rfc3164, priority);
    let mut body = rest;
    let mut have_ts = false;
    if let Some(bsd) = parse_bsd_shape(rest) {
        msg.timestamp_unix_nanos = Some(resolve_bsd(&bsd, opts)?);
        body = &rest[bsd.len..];
        have_ts = true;
    } else if let Some((nanos, used)) =
        parse_iso_timestamp(rest, opts.default_utc_offset_secs, true)?
    {
        if matches!(rest.get(used), None | Some(b' ')) {
            msg.timestamp_unix_nanos = Some(nanos);
            body = &rest[used..];
            have_ts = true;
        }
    }
    if have_ts {
        let skip = body.iter().take_while(|&&b| b == b' ').count();
        body = &body[skip..];
        let (host, after) = take_3164_hostname(body);
        msg.hostname = host;
        body = after;
    }
    let (tag, pid, after) = take_3164_tag(body);
    msg.app_name = tag;
    msg.proc_id = pid;
    msg.message = clean_msg(after);
    Ok(msg)
}

/// The token after the timestamp is the hostname unless it looks like a tag
/// (ends with `:` or contains `[`) or is the last token of the message.
fn take_3164_hostname(s: &[u8]) -> (Option<&str>, &[u8]) {
    let Some(sp) = memchr::memchr(b' ', s) else {
        return (None, s);
    };
    let token = &s[..sp];
    if token.is_empty() || token.ends_with(b":") || memchr::memchr(b'[', token).is_some() {
        return (None, s);
    }
    match std::str::from_utf8(token) {
        Ok(host) => (Some(host), &s[sp + 1..]),
        Err(_) => (None, s),
    }
}

/// Recognises `tag: msg`, `tag[pid]: msg`, `tag[pid]:msg` and `tag[pid] msg`.
/// Anything else leaves the whole input as the message.
fn take_3164_tag(s: &[u8]) -> (Option<&str>, Option<&str>, &[u8]) {
    let none = (None, None, s);
    let token_end = memchr::memchr(b' ', s).unwrap_or(s.len());
    let token = &s[..token_end];
    // Where the message starts if the token is a tag: after the token and one SP.
    let after_token = s.get(token_end + 1..).unwrap_or_default();
    let (core, msg) = if let Some(core) = token.strip_suffix(b":") {
        (core, after_token)
    } else if let Some(p) = memchr::memmem::find(token, b"]:") {
        (&token[..p + 1], &s[p + 2..])
    } else if token.ends_with(b"]") {
        (token, after_token)
    } else {
        return none;
    };
    let (name, pid) = match memchr::memchr(b'[', core) {
        Some(lb) if core.ends_with(b"]") => (&core[..lb], Some(&core[lb + 1..core.len() - 1])),
        Some(_) => return none,
        None if core.contains(&b']') => return none,
        None => (core, None),
    };
    if name.is_empty() {
        return none;
    }
    let Ok(name) = std::str::from_utf8(name) else {
        return none;
    };
    let pid = match pid {
        Some([]) | None => None,
        Some(p) => match std::str::from_utf8(p) {
            Ok(p) => Some(p),
            Err(_) => return none,
        },
    };
    (Some(name), pid, msg)
}

/// Syntactic pieces of a BSD timestamp `Mmm dd [yyyy ]hh:mm:ss[.fff]`.
struct BsdTimestamp {
    month: u8,
    day: u8,
    year: Option<i64>,
    hour: u8,
    minute: u8,
    second: u8,
    nanos: u32,
    /// Bytes consumed.
    len: usize,
}

fn month_from_abbrev(s: &[u8]) -> Option<u8> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    let key = [s.first()? | 0x20, s.get(1)? | 0x20, s.get(2)? | 0x20];
    MONTHS.iter().position(|m| **m == key).map(|p| p as u8 + 1)
}

fn digit(s: &[u8], i: usize) -> Option<u8> {
    s.get(i).filter(|b| b.is_ascii_digit()).map(|b| b - b'0')
}

fn two_digits(s: &[u8], i: usize) -> Option<u8> {
    Some(digit(s, i)? * 10 + digit(s, i + 1)?)
}

fn four_digits(s: &[u8], i: usize) -> Option<i64> {
    Some(i64::from(two_digits(s, i)?) * 100 + i64::from(two_digits(s, i + 2)?))
}

/// Parses `.digits` at `i` (if present); returns nanoseconds and advances `i`.
/// Digits beyond nanosecond precision are ignored.
fn fraction(s: &[u8], i: &mut usize) -> u32 {
    if s.get(*i) != Some(&b'.') || digit(s, *i + 1).is_none() {
        return 0;
    }
    *i += 1;
    let mut nanos = 0u32;
    let mut n = 0;
    while let Some(d) = digit(s, *i) {
        if n < 9 {
            nanos = nanos * 10 + u32::from(d);
            n += 1;
        }
        *i += 1;
    }
    while n < 9 {
        nanos *= 10;
        n += 1;
    }
    nanos
}

/// Recognises the shape of a BSD timestamp followed by SP or end of input.
/// Range checks happen later, in [`resolve_bsd`].
fn parse_bsd_shape(s: &[u8]) -> Option<BsdTimestamp> {
    let month = month_from_abbrev(s)?;
    if s.get(3) != Some(&b' ') {
        return None;
    }
    let (day, mut i) = match (s.get(4), digit(s, 5)) {
        (Some(b' '), Some(d)) => (d, 6),
        (Some(b'0'..=b'9'), Some(d)) => (digit(s, 4)? * 10 + d, 6),
        (Some(b'0'..=b'9'), None) => (digit(s, 4)?, 5),
        _ => return None,
    };
    if s.get(i) != Some(&b' ') {
        return None;
    }
    i += 1;
    let year = match four_digits(s, i) {
        Some(y) if s.get(i + 4) == Some(&b' ') => {
            i += 5;
            Some(y)
        }
        _ => None,
    };
    let hour = two_digits(s, i)?;
    let minute = two_digits(s, i + 3)?;
    let second = two_digits(s, i + 6)?;
    if s.get(i + 2) != Some(&b':') || s.get(i + 5) != Some(&b':') {
        return None;
    }
    i += 8;
    let nanos = fraction(s, &mut i);
    if !matches!(s.get(i), None | Some(b' ')) {
        return None;
    }
    Some(BsdTimestamp {
        month,
        day,
        year,
        hour,
        minute,
        second,
        nanos,
        len: i,
    })
}

/// Turns a BSD timestamp into Unix nanos, inferring the year when absent: the
/// latest of receive-year+1, receive-year, receive-year-1 that is not more
/// than a day in the future (so December logs received in January land in
/// the previous year, and a sender slightly ahead at New Year lands in the
/// next one).
fn resolve_bsd(ts: &BsdTimestamp, opts: &ParseOptions) -> Result<i64> {
    let offset = opts.default_utc_offset_secs;
    let to_nanos = |year: i64| {
        civil_to_unix_nanos(
            year, ts.month, ts.day, ts.hour, ts.minute, ts.second, ts.nanos, offset,
        )
    };
    if let Some(year) = ts.year {
        return to_nanos(year);
    }
    let now = opts.now_unix_nanos;
    let local_now_secs = now.div_euclid(NANOS_PER_SEC) + i64::from(offset);
    let year = year_from_days(local_now_secs.div_euclid(SECS_PER_DAY));
    let limit = now.saturating_add(YEAR_INFERENCE_FUTURE_SLACK_NANOS);
    let mut last_err = SyslogParseError::InvalidTimestamp;
    for candidate in [year + 1, year, year - 1] {
        match to_nanos(candidate) {
            Ok(nanos) if nanos <= limit => return Ok(nanos),
            Ok(_) => {}
            Err(e) => last_err = e,
        }
    }
    Err(last_err)
}

// ---------------------------------------------------------------------------
// RFC 3339 / ISO 8601 timestamps

/// Parses `YYYY-MM-DDThh:mm:ss[.frac][Z|±hh:mm|±hhmm]` at the start of `s`
/// (`t`/`z` accepted; with `allow_space_sep` also a space instead of `T`).
/// Returns `Ok(None)` when `s` does not start with that shape, an error when
/// it does but is out of range, and otherwise `(unix_nanos, bytes_consumed)`.
/// A missing offset means `default_offset_secs`.
fn parse_iso_timestamp(
    s: &[u8],
    default_offset_secs: i32,
    allow_space_sep: bool,
) -> Result<Option<(i64, usize)>> {
    let shape = (|| {
        let year = four_digits(s, 0)?;
        let month = two_digits(s, 5)?;
        let day = two_digits(s, 8)?;
        let hour = two_digits(s, 11)?;
        let minute = two_digits(s, 14)?;
        let second = two_digits(s, 17)?;
        let sep_ok = match s[10] {
            b'T' | b't' => true,
            b' ' => allow_space_sep,
            _ => false,
        };
        (s[4] == b'-' && s[7] == b'-' && sep_ok && s[13] == b':' && s[16] == b':')
            .then_some((year, month, day, hour, minute, second))
    })();
    let Some((year, month, day, hour, minute, second)) = shape else {
        return Ok(None);
    };
    let mut i = 19;
    let nanos = fraction(s, &mut i);
    let offset = match s.get(i) {
        Some(b'Z' | b'z') => {
            i += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let oh = two_digits(s, i + 1).ok_or(SyslogParseError::InvalidTimestamp)?;
            let (om, len) = if s.get(i + 3) == Some(&b':') {
                (two_digits(s, i + 4), 6)
            } else {
                (two_digits(s, i + 3), 5)
            };
            let om = om.ok_or(SyslogParseError::InvalidTimestamp)?;
            if oh > 23 || om > 59 {
                return Err(SyslogParseError::InvalidTimestamp);
            }
            i += len;
            let secs = i32::from(oh) * 3600 + i32::from(om) * 60;
            if sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => default_offset_secs,
    };
    let nanos = civil_to_unix_nanos(year, month, day, hour, minute, second, nanos, offset)?;
    Ok(Some((nanos, i)))
}

// ---------------------------------------------------------------------------
// Calendar arithmetic

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let m = i64::from(month);
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Calendar year containing the given day number (days since 1970-01-01).
fn year_from_days(days: i64) -> i64 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let y = yoe + era * 400;
    if mp >= 10 {
        y + 1
    } else {
        y
    }
}

/// Validates the fields and converts to Unix nanoseconds. A leap second
/// (`:60`) is folded into second 59.
#[allow(clippy::too_many_arguments)]
fn civil_to_unix_nanos(
    year: i64,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    nanos: u32,
    offset_secs: i32,
) -> Result<i64> {
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(SyslogParseError::InvalidTimestamp);
    }
    // |year| <= 9999 here, so the seconds computation cannot overflow i64.
    let secs = days_from_civil(year, month, day) * SECS_PER_DAY
        + i64::from(hour) * 3600
        + i64::from(minute) * 60
        + i64::from(second.min(59))
        - i64::from(offset_secs);
    secs.checked_mul(NANOS_PER_SEC)
        .and_then(|n| n.checked_add(i64::from(nanos)))
        .ok_or(SyslogParseError::TimestampOutOfRange)
}

// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_2026_06: i64 = 1_780_000_000 * NANOS_PER_SEC; // 2026-05-28T20:26:40Z

    fn opts() -> ParseOptions {
        ParseOptions {
            now_unix_nanos: NOW_2026_06,
            default_utc_offset_secs: 0,
        }
    }

    fn ts(s: &str) -> i64 {
        let t: jiff::Timestamp = s.parse().unwrap();
        i64::try_from(t.as_nanosecond()).unwrap()
    }

    fn p(input: &str) -> SyslogMessage<'_> {
        parse(input.as_bytes(), &opts()).unwrap_or_else(|e| panic!("{input:?}: {e}"))
    }

    fn err(input: &[u8]) -> SyslogParseError {
        parse(input, &opts()).expect_err("expected a parse error")
    }

    // --- RFC 5424 section 6.5 examples ---

    #[test]
    fn rfc5424_example_1() {
        let input = b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \
            \xEF\xBB\xBF'su root' failed for lonvick on /dev/pts/8";
        let m = parse(input, &opts()).unwrap();
        assert_eq!(m.format, SyslogFormat::Rfc5424);
        assert_eq!((m.priority, m.facility, m.severity), (34, 4, 2));
        assert_eq!(m.version, Some(1));
        assert_eq!(m.timestamp_unix_nanos, Some(ts("2003-10-11T22:14:15.003Z")));
        assert_eq!(m.hostname, Some("mymachine.example.com"));
        assert_eq!(m.app_name, Some("su"));
        assert_eq!(m.proc_id, None);
        assert_eq!(m.msg_id, Some("ID47"));
        assert!(m.structured_data.is_empty());
        assert_eq!(m.message, b"'su root' failed for lonvick on /dev/pts/8");
    }

    #[test]
    fn rfc5424_example_2() {
        let m = p(
            "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - \
                   %% It's time to make the do-nuts.",
        );
        assert_eq!((m.facility, m.severity), (20, 5));
        assert_eq!(
            m.timestamp_unix_nanos,
            Some(ts("2003-08-24T05:14:15.000003-07:00"))
        );
        assert_eq!(m.hostname, Some("192.0.2.1"));
        assert_eq!(m.app_name, Some("myproc"));
        assert_eq!(m.proc_id, Some("8710"));
        assert_eq!(m.msg_id, None);
        assert_eq!(m.message, b"%% It's time to make the do-nuts.");
    }

    #[test]
    fn rfc5424_example_3() {
        let input = b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 \
            [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] \
            \xEF\xBB\xBFAn application event log entry...";
        let m = parse(input, &opts()).unwrap();
        assert_eq!(m.app_name, Some("evntslog"));
        assert_eq!(m.structured_data.len(), 1);
        let sd = &m.structured_data[0];
        assert_eq!(sd.id, "exampleSDID@32473");
        assert_eq!(
            sd.params,
            vec![
                ("iut", Cow::Borrowed("3")),
                ("eventSource", Cow::Borrowed("Application")),
                ("eventID", Cow::Borrowed("1011")),
            ]
        );
        assert_eq!(sd.param("eventID"), Some("1011"));
        assert_eq!(sd.param("nope"), None);
        assert_eq!(m.message, b"An application event log entry...");
    }

    #[test]
    fn rfc5424_example_4_multiple_sd_no_msg() {
        let m = p(
            "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 \
                   [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]\
                   [examplePriority@32473 class=\"high\"]",
        );
        assert_eq!(m.structured_data.len(), 2);
        assert_eq!(m.structured_data[1].id, "examplePriority@32473");
        assert_eq!(m.structured_data[1].param("class"), Some("high"));
        assert!(m.message.is_empty());
    }

    #[test]
    fn rfc5424_sd_escapes() {
        let m = p(
            r#"<13>1 - - - - - [id a="x\"y" b="back\\slash" c="br\]acket" d="keep\n" e="" f="ü\\"] msg"#,
        );
        let sd = &m.structured_data[0];
        assert_eq!(sd.param("a"), Some("x\"y"));
        assert_eq!(sd.param("b"), Some("back\\slash"));
        assert_eq!(sd.param("c"), Some("br]acket"));
        assert_eq!(sd.param("d"), Some("keep\\n"));
        assert_eq!(sd.param("e"), Some(""));
        assert_eq!(sd.param("f"), Some("ü\\"));
        assert!(matches!(sd.params[0].1, Cow::Owned(_)));
        assert!(matches!(sd.params[4].1, Cow::Borrowed(_)));
        assert_eq!(m.message, b"msg");
    }

    #[test]
    fn rfc5424_sd_element_without_params_and_unescaped_bracket() {
        let m = p(r#"<13>1 - - - - - [a][b x="]"] m"#);
        assert_eq!(m.structured_data[0].id, "a");
        assert!(m.structured_data[0].params.is_empty());
        assert_eq!(m.structured_data[1].param("x"), Some("]"));
    }

    #[test]
    fn rfc5424_sd_lenient_spaces() {
        let m = p(r#"<13>1 - - - - - [a  x="1"  y="2" ] m"#);
        assert_eq!(m.structured_data[0].params.len(), 2);
        assert_eq!(m.message, b"m");
    }

    #[test]
    fn rfc5424_all_nil() {
        let m = p("<0>1 - - - - - -");
        assert_eq!((m.priority, m.facility, m.severity), (0, 0, 0));
        assert_eq!(m.timestamp_unix_nanos, None);
        assert_eq!(m.hostname, None);
        assert_eq!(m.app_name, None);
        assert_eq!(m.proc_id, None);
        assert_eq!(m.msg_id, None);
        assert!(m.structured_data.is_empty());
        assert!(m.message.is_empty());
    }

    #[test]
    fn rfc5424_msg_trimming_and_bom() {
        let m = parse(b"<13>1 - h a p m - \xEF\xBB\xBFhello\r\n\0", &opts()).unwrap();
        assert_eq!(m.message, b"hello");
        let m = parse(b"<13>1 - h a p m - keep  inner \n lines\n", &opts()).unwrap();
        assert_eq!(m.message, b"keep  inner \n lines");
        let m = parse(b"<13>1 - h a p m -\n", &opts()).unwrap();
        assert!(m.message.is_empty());
        // MSG is raw bytes: invalid UTF-8 is fine there.
        let m = parse(b"<13>1 - h a p m - \xff\xfe", &opts()).unwrap();
        assert_eq!(m.message, b"\xff\xfe");
    }

    #[test]
    fn rfc5424_timestamps() {
        let cases = [
            "1985-04-12T23:20:50.52Z",
            "1985-04-12T19:20:50.52-04:00",
            "2003-10-11T22:14:15.003Z",
            "2003-08-24T05:14:15.000003-07:00",
            "2026-11-24T10:00:00.123456789+05:30",
            "1969-12-31T23:59:59.5Z",
            "2024-02-29T00:00:00Z",
            "2026-01-01T00:00:00+14:00",
        ];
        for c in cases {
            let input = format!("<13>1 {c} h a p m -");
            assert_eq!(p(&input).timestamp_unix_nanos, Some(ts(c)), "{c}");
        }
        // More than 9 fractional digits: extra precision ignored.
        let m = p("<13>1 2026-01-01T00:00:00.1234567891234Z h a p m -");
        assert_eq!(
            m.timestamp_unix_nanos,
            Some(ts("2026-01-01T00:00:00.123456789Z"))
        );
        // Leap second folded into :59.
        let m = p("<13>1 2016-12-31T23:59:60Z h a p m -");
        assert_eq!(m.timestamp_unix_nanos, Some(ts("2016-12-31T23:59:59Z")));
        // +hhmm and missing offset (default offset applies).
        let m = p("<13>1 2026-01-01T00:00:00+0100 h a p m -");
        assert_eq!(m.timestamp_unix_nanos, Some(ts("2025-12-31T23:00:00Z")));
        let o = ParseOptions {
            default_utc_offset_secs: 3600,
            ..opts()
        };
        let m = parse(b"<13>1 2026-01-01T00:00:00 h a p m -", &o).unwrap();
        assert_eq!(m.timestamp_unix_nanos, Some(ts("2025-12-31T23:00:00Z")));
    }

    #[test]
    fn rfc5424_errors() {
        use SyslogParseError::*;
        let cases: &[(&[u8], SyslogParseError)] = &[
            (b"<13>1 ", MissingField("TIMESTAMP")),
            (b"<13>1 2026-01-01T00:00:00Z", MissingField("TIMESTAMP")),
            (b"<13>1 - host", MissingField("HOSTNAME")),
            (b"<13>1 -  app p m -", MissingField("HOSTNAME")),
            (b"<13>1 - h a p m", MissingField("MSGID")),
            (
                b"<13>1 - h a p m ",
                InvalidStructuredData("expected '-' or '['"),
            ),
            (b"<13>1 yesterday h a p m -", InvalidTimestamp),
            (b"<13>1 2023-02-29T00:00:00Z h a p m -", InvalidTimestamp),
            (b"<13>1 2023-13-01T00:00:00Z h a p m -", InvalidTimestamp),
            (b"<13>1 2023-01-01T24:00:00Z h a p m -", InvalidTimestamp),
            (
                b"<13>1 2023-01-01T00:00:00+25:00 h a p m -",
                InvalidTimestamp,
            ),
            (b"<13>1 2023-01-01T00:00:00+1 h a p m -", InvalidTimestamp),
            (
                b"<13>1 2023-01-01T00:00:00Zjunk h a p m -",
                InvalidTimestamp,
            ),
            (b"<13>1 9999-12-31T23:59:59Z h a p m -", TimestampOutOfRange),
            (b"<13>1 0000-01-01T00:00:00Z h a p m -", TimestampOutOfRange),
            (b"<13>1 - h\xff a p m -", InvalidUtf8("HOSTNAME")),
            (
                b"<13>1 - h a p m -x",
                InvalidStructuredData("expected SP or end after structured data"),
            ),
            (
                b"<13>1 - h a p m [",
                InvalidStructuredData("empty or invalid SD-ID"),
            ),
            (
                b"<13>1 - h a p m [id",
                InvalidStructuredData("unterminated SD-ELEMENT"),
            ),
            (
                b"<13>1 - h a p m [id x]",
                InvalidStructuredData("expected '=' after PARAM-NAME"),
            ),
            (
                b"<13>1 - h a p m [id x=1]",
                InvalidStructuredData("expected '\"' before PARAM-VALUE"),
            ),
            (
                b"<13>1 - h a p m [id x=\"1]",
                InvalidStructuredData("unterminated PARAM-VALUE"),
            ),
            (
                b"<13>1 - h a p m [id x=\"1\\",
                InvalidStructuredData("unterminated PARAM-VALUE"),
            ),
            (
                b"<13>1 - h a p m [id x=\"\xff\"]",
                InvalidStructuredData("PARAM-VALUE is not valid UTF-8"),
            ),
            (
                b"<13>1 - h a p m [id x=\"1\"x]",
                InvalidStructuredData("expected SP or ']' in SD-ELEMENT"),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(err(input), *expected, "{}", String::from_utf8_lossy(input));
        }
    }

    // --- PRI and garbage ---

    #[test]
    fn pri_errors() {
        use SyslogParseError::*;
        assert_eq!(err(b""), Empty);
        assert_eq!(err(b" \r\n\0"), Empty);
        assert_eq!(err(b"<"), InvalidPri);
        assert_eq!(err(b"<>"), InvalidPri);
        assert_eq!(err(b"<13"), InvalidPri);
        assert_eq!(err(b"<1a>"), InvalidPri);
        assert_eq!(err(b"<1000>"), InvalidPri);
        assert_eq!(err(b"<99999999999999999999>"), InvalidPri);
        assert_eq!(err(b"<999>"), PriOutOfRange);
        assert_eq!(err(b"<192>x"), PriOutOfRange);
        assert_eq!(err(b"hello world"), MissingPri);
        assert_eq!(err(b"Nov 24 10:00:00 host app: msg"), MissingPri);
        assert_eq!(
            MissingPri.to_string(),
            "missing PRI (message must start with '<')"
        );
        assert_eq!(
            PriOutOfRange.to_string(),
            "PRI out of range (must be 0..=191)"
        );
    }

    #[test]
    fn pri_edges() {
        assert_eq!(p("<191>x").priority, 191);
        assert_eq!(p("<0>x").priority, 0);
        assert_eq!(p("<013>x").priority, 13);
        let m = p("\r\n <13>x");
        assert_eq!(m.priority, 13);
        assert_eq!(m.message, b"x");
        let m = p("<13>");
        assert_eq!(m.format, SyslogFormat::Rfc3164);
        assert!(m.message.is_empty());
    }

    #[test]
    fn garbage_never_panics() {
        // Cheap deterministic xorshift fuzzing, biased towards syslog-ish bytes.
        const ALPHABET: &[u8] = b"<>0123456789 -:[]=\"\\TZ+.NovDec\r\n\xEF\xBB\xBF\xff";
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let prefixes: [&[u8]; 5] = [b"", b"<13>", b"<13>1 ", b"<13>Nov 24 ", b"<13>2026-"];
        for _ in 0..20_000 {
            let len = (next() % 64) as usize;
            let mut buf = prefixes[(next() % 5) as usize].to_vec();
            for _ in 0..len {
                let r = next();
                buf.push(if r % 3 == 0 {
                    r as u8
                } else {
                    ALPHABET[(r >> 8) as usize % ALPHABET.len()]
                });
            }
            let _ = parse(&buf, &opts());
        }
    }

    // --- RFC 3164 ---

    #[test]
    fn rfc3164_classic() {
        let m = p("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8");
        assert_eq!(m.format, SyslogFormat::Rfc3164);
        assert_eq!((m.facility, m.severity), (4, 2));
        assert_eq!(m.version, None);
        assert_eq!(m.timestamp_unix_nanos, Some(ts("2025-10-11T22:14:15Z")));
        assert_eq!(m.hostname, Some("mymachine"));
        assert_eq!(m.app_name, Some("su"));
        assert_eq!(m.proc_id, None);
        assert_eq!(m.msg_id, None);
        assert_eq!(m.message, b"'su root' failed for lonvick on /dev/pts/8");
    }

    #[test]
    fn rfc3164_tag_with_pid() {
        let m = p("<38>Feb  5 17:32:18 web-1 sshd[2431]: Accepted publickey for root\n");
        assert_eq!(m.timestamp_unix_nanos, Some(ts("2026-02-05T17:32:18Z")));
        assert_eq!(m.hostname, Some("web-1"));
        assert_eq!(m.app_name, Some("sshd"));
        assert_eq!(m.proc_id, Some("2431"));
        assert_eq!(m.message, b"Accepted publickey for root");
    }

    #[test]
    fn rfc3164_day_padding_variants() {
        let padded = p("<13>Nov  4 10:00:00 host app: msg");
        let unpadded = p("<13>Nov 4 10:00:00 host app: msg");
        let zero = p("<13>Nov 04 10:00:00 host app: msg");
        let expected = Some(ts("2025-11-04T10:00:00Z"));
        for m in [&padded, &unpadded, &zero] {
            assert_eq!(m.timestamp_unix_nanos, expected);
            assert_eq!(m.hostname, Some("host"));
            assert_eq!(m.app_name, Some("app"));
            assert_eq!(m.message, b"msg");
        }
        // Month names are case-insensitive.
        assert_eq!(
            p("<13>NOV 4 10:00:00 host app: msg").timestamp_unix_nanos,
            expected
        );
    }

    #[test]
    fn rfc3164_missing_hostname() {
        let m = p("<13>Nov 24 10:00:00 sshd[12]: msg");
        assert_eq!(m.hostname, None);
        assert_eq!(m.app_name, Some("sshd"));
        assert_eq!(m.proc_id, Some("12"));
        assert_eq!(m.message, b"msg");
        let m = p("<13>Nov 24 10:00:00 kernel: oops");
        assert_eq!(m.hostname, None);
        assert_eq!(m.app_name, Some("kernel"));
        assert_eq!(m.message, b"oops");
    }

    #[test]
    fn rfc3164_tag_variants() {
        let m = p("<13>Nov 24 10:00:00 host app[7]:no space");
        assert_eq!((m.app_name, m.proc_id), (Some("app"), Some("7")));
        assert_eq!(m.message, b"no space");
        let m = p("<13>Nov 24 10:00:00 host app[7] no colon");
        assert_eq!((m.app_name, m.proc_id), (Some("app"), Some("7")));
        assert_eq!(m.message, b"no colon");
        let m = p("<13>Nov 24 10:00:00 host app[]: empty pid");
        assert_eq!((m.app_name, m.proc_id), (Some("app"), None));
        let m = p("<13>Nov 24 10:00:00 host just some text");
        assert_eq!((m.hostname, m.app_name), (Some("host"), None));
        assert_eq!(m.message, b"just some text");
        let m = p("<13>Nov 24 10:00:00 host : colon only");
        assert_eq!(m.app_name, None);
        assert_eq!(m.message, b": colon only");
        let m = p("<13>Nov 24 10:00:00 host app:  two spaces");
        assert_eq!(m.message, b" two spaces");
        let m = p("<13>Nov 24 10:00:00 host app:");
        assert_eq!(m.app_name, Some("app"));
        assert!(m.message.is_empty());
        let m = p("<13>Nov 24 10:00:00 host a[b c: x");
        assert_eq!(m.app_name, None);
        assert_eq!(m.message, b"a[b c: x");
        // A lone token after the timestamp is the message, not a host.
        let m = p("<13>Nov 24 10:00:00 lonely");
        assert_eq!((m.hostname, m.app_name), (None, None));
        assert_eq!(m.message, b"lonely");
        // Non-UTF-8 header tokens fall back into the message.
        let m = parse(b"<13>Nov 24 10:00:00 h\xffst app: x", &opts()).unwrap();
        assert_eq!(m.hostname, None);
        assert_eq!(m.message, b"h\xffst app: x");
    }

    #[test]
    fn rfc3164_iso_timestamp() {
        let m = p("<34>2026-11-24T10:00:00.123+01:00 host app: msg");
        assert_eq!(m.format, SyslogFormat::Rfc3164);
        assert_eq!(m.timestamp_unix_nanos, Some(ts("2026-11-24T09:00:00.123Z")));
        assert_eq!(m.hostname, Some("host"));
        assert_eq!(m.app_name, Some("app"));
        assert_eq!(m.message, b"msg");
        // Without offset: default zone applies; space separator accepted.
        let o = ParseOptions {
            default_utc_offset_secs: -5 * 3600,
            ..opts()
        };
        let m = parse(b"<34>2026-11-24 10:00:00 host app: msg", &o).unwrap();
        assert_eq!(m.timestamp_unix_nanos, Some(ts("2026-11-24T15:00:00Z")));
        assert_eq!(m.hostname, Some("host"));
        // Shaped like ISO but invalid.
        assert_eq!(
            err(b"<34>2026-13-24T10:00:00Z host app: msg"),
            SyslogParseError::InvalidTimestamp
        );
    }

    #[test]
    fn rfc3164_explicit_year_and_fraction() {
        let m = p("<13>Nov 24 2019 10:00:00 host app: msg");
        assert_eq!(m.timestamp_unix_nanos, Some(ts("2019-11-24T10:00:00Z")));
        assert_eq!(m.hostname, Some("host"));
        let m = p("<13>Nov 24 10:00:00.250 host app: msg");
        assert_eq!(m.timestamp_unix_nanos, Some(ts("2025-11-24T10:00:00.25Z")));
    }

    #[test]
    fn rfc3164_missing_timestamp() {
        let m = p("<13>hello");
        assert_eq!(m.timestamp_unix_nanos, None);
        assert_eq!((m.hostname, m.app_name), (None, None));
        assert_eq!(m.message, b"hello");
        let m = p("<13>sshd[12]: msg");
        assert_eq!(m.timestamp_unix_nanos, None);
        assert_eq!((m.app_name, m.proc_id), (Some("sshd"), Some("12")));
        assert_eq!(m.message, b"msg");
        // Looks like a month but is not a timestamp.
        let m = p("<13>Mar is a month");
        assert_eq!(m.timestamp_unix_nanos, None);
        assert_eq!(m.message, b"Mar is a month");
        // Version other than 1 is not RFC 5424.
        let m = p("<13>2 - - - - - -");
        assert_eq!(m.format, SyslogFormat::Rfc3164);
    }

    #[test]
    fn rfc3164_invalid_bsd_dates() {
        assert_eq!(
            err(b"<13>Nov 31 10:00:00 h a: m"),
            SyslogParseError::InvalidTimestamp
        );
        assert_eq!(
            err(b"<13>Nov 30 25:00:00 h a: m"),
            SyslogParseError::InvalidTimestamp
        );
        assert_eq!(
            err(b"<13>Nov  0 10:00:00 h a: m"),
            SyslogParseError::InvalidTimestamp
        );
    }

    #[test]
    fn rfc3164_year_inference_new_year() {
        let at = |now: &str| ParseOptions {
            now_unix_nanos: ts(now),
            default_utc_offset_secs: 0,
        };
        // December log received in January -> previous year.
        let m = parse(b"<13>Dec 31 23:59:58 h a: m", &at("2026-01-01T00:00:05Z")).unwrap();
        assert_eq!(m.timestamp_unix_nanos, Some(ts("2025-12-31T23:59:58Z")));
        // Same-day log -> current year.
        let m = parse(b"<13>Jan  1 00:00:01 h a: m", &at("2026-01-01T00:00:05Z")).unwrap();
        assert_eq!(m.timestamp_unix_nanos, Some(ts("2026-01-01T00:00:01Z")));
        // Sender clock slightly ahead over New Year -> next year.
        let m = parse(b"<13>Jan  1 00:00:30 h a: m", &at("2025-12-31T23:59:50Z")).unwrap();
        assert_eq!(m.timestamp_unix_nanos, Some(ts("2026-01-01T00:00:30Z")));
        // Less than a day ahead stays in the current year.
        let m = parse(b"<13>Jun 10 12:00:00 h a: m", &at("2026-06-10T00:00:00Z")).unwrap();
        assert_eq!(m.timestamp_unix_nanos, Some(ts("2026-06-10T12:00:00Z")));
        // More than a day ahead -> previous year.
        let m = parse(b"<13>Jun 12 12:00:00 h a: m", &at("2026-06-10T00:00:00Z")).unwrap();
        assert_eq!(m.timestamp_unix_nanos, Some(ts("2025-06-12T12:00:00Z")));
        // Feb 29 received in a leap year's March and the year after.
        let m = parse(b"<13>Feb 29 12:00:00 h a: m", &at("2024-03-10T00:00:00Z")).unwrap();
        assert_eq!(m.timestamp_unix_nanos, Some(ts("2024-02-29T12:00:00Z")));
        let m = parse(b"<13>Feb 29 12:00:00 h a: m", &at("2025-01-10T00:00:00Z")).unwrap();
        assert_eq!(m.timestamp_unix_nanos, Some(ts("2024-02-29T12:00:00Z")));
        // The receive year is taken in the default zone.
        let o = ParseOptions {
            now_unix_nanos: ts("2025-12-31T23:30:00Z"),
            default_utc_offset_secs: 3600,
        };
        let m = parse(b"<13>Jan  1 00:20:00 h a: m", &o).unwrap();
        assert_eq!(m.timestamp_unix_nanos, Some(ts("2025-12-31T23:20:00Z")));
    }

    #[test]
    fn facility_and_severity_names() {
        let fac: Vec<_> = (0..24).map(facility_name).collect();
        assert_eq!(
            fac,
            [
                "kern",
                "user",
                "mail",
                "daemon",
                "auth",
                "syslog",
                "lpr",
                "news",
                "uucp",
                "cron",
                "authpriv",
                "ftp",
                "ntp",
                "security",
                "console",
                "solaris-cron",
                "local0",
                "local1",
                "local2",
                "local3",
                "local4",
                "local5",
                "local6",
                "local7"
            ]
        );
        assert_eq!(facility_name(24), "unknown");
        let sev: Vec<_> = (0..8).map(severity_name).collect();
        assert_eq!(
            sev,
            ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"]
        );
        assert_eq!(severity_name(8), "unknown");
    }

    #[test]
    fn calendar_helpers_match_jiff() {
        for days in (-800_000i64..800_000).step_by(997) {
            let secs = days * SECS_PER_DAY;
            let t = jiff::Timestamp::from_second(secs).unwrap();
            let d = t.to_zoned(jiff::tz::TimeZone::UTC).date();
            assert_eq!(year_from_days(days), i64::from(d.year()), "{days}");
            let month = u8::try_from(d.month()).unwrap();
            let day = u8::try_from(d.day()).unwrap();
            assert_eq!(days_from_civil(i64::from(d.year()), month, day), days);
        }
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    fn opts(now: i64, offset: i32) -> ParseOptions {
        ParseOptions {
            now_unix_nanos: now,
            default_utc_offset_secs: offset,
        }
    }

    fn header_token() -> impl Strategy<Value = String> {
        "[!-~]{1,20}".prop_filter("not nil", |s| s != "-")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn never_panics_on_arbitrary_bytes(
            input in proptest::collection::vec(any::<u8>(), 0..512),
            now in any::<i64>(),
            offset in -86_399i32..86_400,
        ) {
            let _ = parse(&input, &opts(now, offset));
        }

        #[test]
        fn never_panics_on_syslogish_input(
            prefix in prop::sample::select(vec![
                "<13>", "<13>1 ", "<13>1 - - - - - [", "<13>Nov 24 ", "<13>2026-11-24T",
                "<191>1 2026-11-24T10:00:00", "<13>Dec 31 23:59:59 ",
            ]),
            tail in "[<>0-9 \\-:\\[\\]=\"\\\\TZ+.a-zA-Z\r\n]{0,80}",
            now in any::<i64>(),
        ) {
            let input = format!("{prefix}{tail}");
            let _ = parse(input.as_bytes(), &opts(now, 0));
        }

        #[test]
        fn rfc5424_roundtrip(
            pri in 0u8..=191,
            ts_secs in 0i64..7_000_000_000,
            ts_nanos in 0u32..1_000_000_000,
            offset_min in -23i32 * 60..=23 * 60,
            host in header_token(),
            app in header_token(),
            procid in header_token(),
            msgid in header_token(),
            sd in proptest::collection::vec(
                ("[a-zA-Z0-9@.]{1,16}", proptest::collection::vec(
                    ("[a-zA-Z0-9._]{1,12}", "[ -~ü]{0,12}"), 0..4)),
                0..3),
            msg in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let offset = jiff::tz::Offset::from_seconds(offset_min * 60).unwrap();
            let t = jiff::Timestamp::new(ts_secs, ts_nanos as i32).unwrap();
            let rendered = t.display_with_offset(offset).to_string();
            let mut input = format!("<{pri}>1 {rendered} {host} {app} {procid} {msgid} ").into_bytes();
            if sd.is_empty() {
                input.push(b'-');
            }
            for (id, params) in &sd {
                input.extend_from_slice(format!("[{id}").as_bytes());
                for (name, value) in params {
                    let escaped = value
                        .replace('\\', "\\\\")
                        .replace('"', "\\\"")
                        .replace(']', "\\]");
                    input.extend_from_slice(format!(" {name}=\"{escaped}\"").as_bytes());
                }
                input.push(b']');
            }
            input.push(b' ');
            input.extend_from_slice(&msg);

            let m = parse(&input, &opts(0, 0)).unwrap();
            prop_assert_eq!(m.format, SyslogFormat::Rfc5424);
            prop_assert_eq!(m.priority, pri);
            prop_assert_eq!(m.timestamp_unix_nanos, Some(t.as_nanosecond() as i64));
            prop_assert_eq!(m.hostname, Some(host.as_str()));
            prop_assert_eq!(m.app_name, Some(app.as_str()));
            prop_assert_eq!(m.proc_id, Some(procid.as_str()));
            prop_assert_eq!(m.msg_id, Some(msgid.as_str()));
            prop_assert_eq!(m.structured_data.len(), sd.len());
            for (got, (id, params)) in m.structured_data.iter().zip(&sd) {
                prop_assert_eq!(got.id, id.as_str());
                let got_params: Vec<_> = got.params.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
                prop_assert_eq!(&got_params, params);
            }
            prop_assert_eq!(m.message, clean_msg(&msg));
        }

        #[test]
        fn rfc3164_year_inference_window(
            now_secs in 0i64..7_000_000_000,
            month in 1u8..=12,
            day in 1u8..=28,
            hour in 0u8..24,
            minute in 0u8..60,
            second in 0u8..60,
            offset in -12 * 3600i32..=14 * 3600,
        ) {
            const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
            let input = format!(
                "<13>{} {day:>2} {hour:02}:{minute:02}:{second:02} host app: m",
                MONTHS[usize::from(month - 1)]
            );
            let now = now_secs * NANOS_PER_SEC;
            let m = parse(input.as_bytes(), &opts(now, offset)).unwrap();
            let t = m.timestamp_unix_nanos.unwrap();
            // Not more than a day ahead, and within roughly a year behind.
            prop_assert!(t <= now + YEAR_INFERENCE_FUTURE_SLACK_NANOS);
            prop_assert!(t > now - 367 * SECS_PER_DAY * NANOS_PER_SEC);
            // Fields round-trip through jiff in the given zone.
            let zone = jiff::tz::TimeZone::fixed(jiff::tz::Offset::from_seconds(offset).unwrap());
            let dt = jiff::Timestamp::from_nanosecond(i128::from(t)).unwrap().to_zoned(zone).datetime();
            prop_assert_eq!(
                (dt.month() as u8, dt.day() as u8, dt.hour() as u8, dt.minute() as u8, dt.second() as u8),
                (month, day, hour, minute, second)
            );
        }
    }
}
