//! Timestamps as `i64` nanoseconds since the Unix epoch (UTC), with hand-written RFC 3339
//! parsing and formatting.
//!
//! These run once or twice per event (the runtime's timestamp of every container line, the
//! `@timestamp` of every encoded event), so they avoid the general-purpose machinery of a date
//! library: no allocation, no time-zone database. Conversions between days and civil dates use
//! Howard Hinnant's `days_from_civil` / `civil_from_days` algorithms.

const NANOS_PER_SEC: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// Nanoseconds since the epoch, now.
pub fn now_unix_nanos() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.as_nanos() as i64
}

/// Days since 1970-01-01 for a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date `(year, month, day)` for days since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The broken-down UTC time of a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub nanos: u32,
}

impl Civil {
    pub fn from_unix_nanos(nanos: i64) -> Civil {
        let secs = nanos.div_euclid(NANOS_PER_SEC);
        let sub = nanos.rem_euclid(NANOS_PER_SEC) as u32;
        let days = secs.div_euclid(SECS_PER_DAY);
        let sod = secs.rem_euclid(SECS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: (sod / 3600) as u32,
            minute: ((sod % 3600) / 60) as u32,
            second: (sod % 60) as u32,
            nanos: sub,
        }
    }

    /// Day of the year, 1-based.
    pub fn day_of_year(&self) -> u32 {
        (days_from_civil(self.year, self.month, self.day) - days_from_civil(self.year, 1, 1) + 1)
            as u32
    }
}

thread_local! {
    /// The `YYYY-MM-DDTHH:MM:SS` text of the last second formatted on this thread: log
    /// timestamps come in runs within the same second, and the calendar arithmetic is most
    /// of the formatting's cost.
    static LAST_SECOND: std::cell::Cell<(i64, [u8; 19])> = const { std::cell::Cell::new((i64::MIN, [0; 19])) };

    /// The `YYYY-MM-DDTHH:MM:SS` text of the last timestamp parsed on this thread and its
    /// seconds (local to the text's zone): container runtimes stamp every line, and lines
    /// come in runs within the same second.
    static LAST_PARSED: std::cell::Cell<([u8; 19], i64)> = const { std::cell::Cell::new(([0; 19], 0)) };
}

/// Appends `YYYY-MM-DDTHH:MM:SS.mmmZ` (or more fraction digits when the value has them:
/// microseconds or nanoseconds are kept, trailing zero groups dropped).
pub fn write_rfc3339(out: &mut Vec<u8>, nanos: i64) {
    let secs = nanos.div_euclid(NANOS_PER_SEC);
    let sub = nanos.rem_euclid(NANOS_PER_SEC) as u32;
    let (cached_secs, cached) = LAST_SECOND.get();
    let date_time = if cached_secs == secs {
        cached
    } else {
        // i64 nanoseconds span the years 1677 to 2262: always four digits.
        let c = Civil::from_unix_nanos(nanos);
        let mut t = *b"0000-00-00T00:00:00";
        let y = c.year as u32;
        for (at, v) in [
            (0, y / 100),
            (2, y % 100),
            (5, c.month),
            (8, c.day),
            (11, c.hour),
            (14, c.minute),
            (17, c.second),
        ] {
            t[at] = b'0' + (v / 10) as u8;
            t[at + 1] = b'0' + (v % 10) as u8;
        }
        LAST_SECOND.set((secs, t));
        t
    };
    let mut text = [0u8; 30];
    text[..19].copy_from_slice(&date_time);
    let len = 19 + write_fraction(&mut text[19..], sub);
    text[len] = b'Z';
    out.extend_from_slice(&text[..=len]);
}

/// Writes `.` and the fraction digits (3, 6 or 9: trailing zero groups dropped) at the start
/// of `buf`; returns how many bytes it wrote.
fn write_fraction(buf: &mut [u8], sub: u32) -> usize {
    let (digits, mut value) = if sub.is_multiple_of(1_000_000) {
        (3, sub / 1_000_000)
    } else if sub.is_multiple_of(1_000) {
        (6, sub / 1_000)
    } else {
        (9, sub)
    };
    buf[0] = b'.';
    for i in (1..=digits).rev() {
        buf[i] = b'0' + (value % 10) as u8;
        value /= 10;
    }
    digits + 1
}

/// Formats a timestamp as an RFC 3339 string (see [`write_rfc3339`]).
pub fn format_rfc3339(nanos: i64) -> String {
    let mut out = Vec::with_capacity(30);
    write_rfc3339(&mut out, nanos);
    // write_rfc3339 writes ASCII only.
    String::from_utf8(out).unwrap_or_default()
}

fn digits(s: &[u8], at: usize, n: usize) -> Option<u32> {
    let part = s.get(at..at + n)?;
    let mut v = 0u32;
    for &b in part {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (b - b'0') as u32;
    }
    Some(v)
}

/// Parses an RFC 3339 timestamp (`2026-11-24T10:00:00Z`, `…T10:00:00.123456789+01:00`; the
/// fraction may have 0 to 9 digits, more are truncated; `t`, `z` and a space separator are
/// accepted). Returns nanoseconds since the epoch, UTC.
pub fn parse_rfc3339(s: &[u8]) -> Option<i64> {
    let prefix: [u8; 19] = s.get(..19)?.try_into().ok()?;
    let (cached_prefix, cached_secs) = LAST_PARSED.get();
    let local_secs = if cached_prefix == prefix {
        cached_secs
    } else {
        let secs = date_time_secs(s)?;
        LAST_PARSED.set((prefix, secs));
        secs
    };
    let mut i = 19;
    let mut frac: u32 = 0;
    if s.get(i) == Some(&b'.') || s.get(i) == Some(&b',') {
        i += 1;
        let start = i;
        let mut n = 0;
        // Container runtimes write nine digits: eight of them read as one word.
        if let Some(high) = s.get(i..i + 8).and_then(eight_digits) {
            frac = high;
            n = 8;
            i += 8;
        }
        while let Some(&b) = s.get(i) {
            if !b.is_ascii_digit() {
                break;
            }
            if n < 9 {
                frac = frac * 10 + (b - b'0') as u32;
                n += 1;
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in n..9 {
            frac *= 10;
        }
    }
    let offset_secs: i64 = match s.get(i) {
        Some(b'Z' | b'z') => {
            i += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(s, i + 1, 2)? as i64;
            let (om, len) = if s.get(i + 3) == Some(&b':') {
                (digits(s, i + 4, 2)? as i64, 6)
            } else {
                (digits(s, i + 3, 2)? as i64, 5)
            };
            i += len;
            let off = oh * 3600 + om * 60;
            if sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    if i != s.len() {
        return None;
    }
    let secs = local_secs - offset_secs;
    // Years outside 1677..2262 do not fit in i64 nanoseconds: not a timestamp we can hold.
    secs.checked_mul(NANOS_PER_SEC)?.checked_add(frac as i64)
}

/// The value of eight ASCII digits, `None` when any byte is not a digit. A word at a time
/// (the well-known SWAR digit check and multiply-shift conversion) instead of eight rounds of
/// a loop: every CRI and Docker line's timestamp has a nine-digit fraction.
fn eight_digits(text: &[u8]) -> Option<u32> {
    let word = u64::from_le_bytes(text.try_into().ok()?);
    const HIGH_NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    // '0'..='9' are 0x30..=0x39: high nibble 3, and adding 6 keeps it 3.
    let digits =
        (word & HIGH_NIBBLES) | ((word.wrapping_add(0x0606_0606_0606_0606) & HIGH_NIBBLES) >> 4);
    if digits != 0x3333_3333_3333_3333 {
        return None;
    }
    let v = word - 0x3030_3030_3030_3030;
    // Pairs of digits, then pairs of pairs, each step combining neighbours (first digit in
    // the lowest byte).
    let v = v.wrapping_mul(10) + (v >> 8);
    const LOW: u64 = 0x0000_00FF_0000_00FF;
    let v = ((v & LOW).wrapping_mul(100 + (1_000_000 << 32))
        + ((v >> 16) & LOW).wrapping_mul(1 + (10_000 << 32)))
        >> 32;
    Some(v as u32)
}

/// The seconds since the epoch of `YYYY-MM-DDTHH:MM:SS`, the first 19 bytes of `s`, read
/// as UTC.
fn date_time_secs(s: &[u8]) -> Option<i64> {
    let year = digits(s, 0, 4)? as i64;
    if s.get(4) != Some(&b'-') || s.get(7) != Some(&b'-') {
        return None;
    }
    let month = digits(s, 5, 2)?;
    let day = digits(s, 8, 2)?;
    if !matches!(s.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let hour = digits(s, 11, 2)?;
    if s.get(13) != Some(&b':') || s.get(16) != Some(&b':') {
        return None;
    }
    let minute = digits(s, 14, 2)?;
    let second = digits(s, 17, 2)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // 60 is a leap second: accepted and folded into the next second, as most parsers do.
    if second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * SECS_PER_DAY + hour as i64 * 3600 + minute as i64 * 60 + second as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_with_the_last_date_time_cached_matches_fresh_parsing() {
        let texts = [
            "2026-11-22T08:00:00.000137000Z",
            "2026-11-22T08:00:00.5+01:00",
            "2026-11-22T08:00:00-0230",
            "2026-11-22T08:00:00",
            "2026-11-22T08:00:00Zjunk",
            "2026-11-22T08:00:00.Z",
            "2026-11-22 08:00:00z",
            "2026-11-22T08:00:01Z",
            "2026-13-22T08:00:01Z",
            "2026-11-22T08:00:01.999999999999Z",
            "2026-11-22T08:00:60Z",
            "9999-12-31T23:59:59Z",
            "2026-11-22T08:00:0",
            "",
        ];
        // Each text on a fresh thread (nothing cached) against all of them in a row, twice.
        let fresh: Vec<Option<i64>> = texts
            .iter()
            .map(|t| {
                let t = t.as_bytes().to_vec();
                std::thread::spawn(move || parse_rfc3339(&t))
                    .join()
                    .unwrap()
            })
            .collect();
        for _ in 0..2 {
            let in_a_row: Vec<Option<i64>> =
                texts.iter().map(|t| parse_rfc3339(t.as_bytes())).collect();
            assert_eq!(in_a_row, fresh);
        }
        assert_eq!(fresh[0], Some(1_795_334_400_000_137_000));
        assert_eq!(fresh[1], Some(1_795_330_800_500_000_000));
        assert_eq!(fresh[3], None);
        assert_eq!(fresh[8], None);
    }

    #[test]
    fn parses_and_formats_round_trip() {
        let cases = [
            (
                "2026-11-22T08:00:00.000137000Z",
                "2026-11-22T08:00:00.000137Z",
            ),
            ("2026-11-22T08:00:00Z", "2026-11-22T08:00:00.000Z"),
            ("2026-11-22T08:00:00.5+01:00", "2026-11-22T07:00:00.500Z"),
            (
                "1969-12-31T23:59:59.999999999Z",
                "1969-12-31T23:59:59.999999999Z",
            ),
            (
                "2024-02-29T12:30:45.12345678-0230",
                "2024-02-29T15:00:45.123456780Z",
            ),
        ];
        for (input, expected) in cases {
            let nanos = parse_rfc3339(input.as_bytes()).unwrap();
            assert_eq!(format_rfc3339(nanos), expected, "{input}");
        }
    }

    #[test]
    fn a_cached_second_formats_like_a_fresh_one() {
        let fresh = |n: i64| {
            LAST_SECOND.set((i64::MIN, [0; 19]));
            format_rfc3339(n)
        };
        let base = parse_rfc3339(b"2026-11-22T08:00:59.999Z").unwrap();
        let mut values = vec![0, -1, -1_000_000_001, i64::MIN, i64::MAX, i64::MIN / 2];
        for step in [1, 999, 1_000, 137_000, 1_000_000, 333_333_333, 999_999_999] {
            values.extend((0..5).map(|k| base + k * step));
        }
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(base + (x % 5_000_000_000) as i64);
        }
        let expected: Vec<String> = values.iter().map(|&n| fresh(n)).collect();
        // Formatted in sequence, with the cache carried from one value to the next.
        for (n, want) in values.iter().zip(&expected) {
            assert_eq!(&format_rfc3339(*n), want, "{n}");
            // (The parser's arithmetic does not reach the very ends of the i64 range.)
            if n.checked_abs().is_some_and(|a| a < i64::MAX / 2) {
                assert_eq!(parse_rfc3339(want.as_bytes()), Some(*n), "{want}");
            }
        }
        assert_eq!(fresh(i64::MIN), "1677-09-21T00:12:43.145224192Z");
        assert_eq!(fresh(i64::MAX), "2262-04-11T23:47:16.854775807Z");
    }

    #[test]
    fn eight_digits_read_as_a_word_match_the_loop() {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        for k in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut text = format!("{:08}", x % 100_000_000).into_bytes();
            if k % 2 == 1 {
                // One byte off: a neighbour of the digits, or anything.
                let at = (x >> 40) as usize % 8;
                text[at] =
                    [b'/', b':', b' ', b'a', 0x80, 0xff, b'0' + 0x80][(x >> 50) as usize % 7];
            }
            let want = std::str::from_utf8(&text)
                .ok()
                .filter(|t| t.bytes().all(|b| b.is_ascii_digit()))
                .map(|t| t.parse::<u32>().unwrap());
            assert_eq!(eight_digits(&text), want, "{text:?}");
        }
        assert_eq!(eight_digits(b"99999999"), Some(99_999_999));
        assert_eq!(eight_digits(b"00000001"), Some(1));
        assert_eq!(eight_digits(b"1234567"), None);
    }

    #[test]
    fn rejects_malformed_timestamps() {
        for bad in [
            "",
            "2026-11-22",
            "2026-11-22T08:00:00",
            "2026-13-22T08:00:00Z",
            "2026-11-22T08:00:00.Z",
            "2026-11-22T08:00:00Zjunk",
            "2026-11-22X08:00:00Z",
            "9999-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn civil_conversion_matches_known_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for days in [-800_000, -1, 0, 59, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        let c = Civil::from_unix_nanos(parse_rfc3339(b"2026-12-31T00:00:00Z").unwrap());
        assert_eq!(c.day_of_year(), 365);
    }
}
