//! Small helpers: Elasticsearch error bodies, base64, glob matching, dates,
//! URL decoding and deterministic hashing.

use serde_json::{json, Map, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// A response produced by the emulated cluster.
#[derive(Debug, Clone)]
pub(super) struct Reply {
    pub status: u16,
    pub body: ReplyBody,
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub(super) enum ReplyBody {
    Json(Value),
    Empty,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: ReplyBody::Json(body),
            headers: Vec::new(),
        }
    }

    pub fn ok(body: Value) -> Reply {
        Reply::json(200, body)
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: ReplyBody::Empty,
            headers: Vec::new(),
        }
    }

    pub fn acknowledged() -> Reply {
        Reply::ok(json!({"acknowledged": true}))
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// Build an `{"type":..,"reason":..}` cause object with extra fields.
pub(super) fn cause(ty: &str, reason: impl Into<String>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("type".into(), Value::String(ty.to_string()));
    m.insert("reason".into(), Value::String(reason.into()));
    m
}

/// The cause as reported in `root_cause` (without its `caused_by` chain).
fn root_of(c: &Map<String, Value>) -> Map<String, Value> {
    let mut r = c.clone();
    r.remove("caused_by");
    r
}

/// Full REST error body: `{"error":{"root_cause":[..],..},"status":N}`.
pub(super) fn error_body(status: u16, c: Map<String, Value>) -> Value {
    let mut err = Map::new();
    err.insert(
        "root_cause".into(),
        Value::Array(vec![Value::Object(root_of(&c))]),
    );
    for (k, v) in c {
        err.insert(k, v);
    }
    json!({"error": Value::Object(err), "status": status})
}

pub(super) fn error_reply(status: u16, c: Map<String, Value>) -> Reply {
    Reply::json(status, error_body(status, c))
}

pub(super) fn es_error(status: u16, ty: &str, reason: impl Into<String>) -> Reply {
    error_reply(status, cause(ty, reason))
}

pub(super) fn illegal_argument(reason: impl Into<String>) -> Reply {
    es_error(400, "illegal_argument_exception", reason)
}

pub(super) fn validation_failed(errors: &[String]) -> Reply {
    let mut reason = String::from("Validation Failed: ");
    for (i, e) in errors.iter().enumerate() {
        reason.push_str(&format!("{}: {};", i + 1, e));
    }
    es_error(400, "action_request_validation_exception", reason)
}

pub(super) fn index_not_found(name: &str) -> Reply {
    let mut c = cause(
        "index_not_found_exception",
        format!("no such index [{name}]"),
    );
    c.insert("resource.type".into(), json!("index_or_alias"));
    c.insert("resource.id".into(), json!(name));
    c.insert("index_uuid".into(), json!("_na_"));
    c.insert("index".into(), json!(name));
    error_reply(404, c)
}

pub(super) fn resource_not_found(reason: impl Into<String>) -> Reply {
    es_error(404, "resource_not_found_exception", reason)
}

/// `x_content_parse_exception` as produced by ES object parsers.
pub(super) fn parse_error(reason: impl Into<String>) -> Reply {
    es_error(400, "x_content_parse_exception", reason)
}

/// Position prefix (`[line:col]`) for a serde_json error.
pub(super) fn json_error_reason(e: &serde_json::Error) -> String {
    format!("[{}:{}] {}", e.line(), e.column(), e)
}

// ---------------------------------------------------------------- base64

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64_encode_with(input: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

pub(super) fn base64_encode(input: &[u8]) -> String {
    b64_encode_with(input, B64, true)
}

pub(super) fn base64url_encode(input: &[u8]) -> String {
    b64_encode_with(input, B64URL, false)
}

pub(super) fn base64_decode(input: &str) -> Option<Vec<u8>> {
    let input = input.trim_end_matches('=');
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in input.bytes() {
        let v = B64.iter().position(|&x| x == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

// ---------------------------------------------------------------- globs

/// Elasticsearch "simple match": only `*` is a wildcard.
pub(super) fn glob_match(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0usize, 0usize);
    let (mut star, mut mark) = (usize::MAX, 0usize);
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = pi;
            mark = ti;
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if star != usize::MAX {
            pi = star + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

/// Whether two `*` patterns can match a common string.
pub(super) fn globs_intersect(a: &str, b: &str) -> bool {
    let a = a.as_bytes();
    let b = b.as_bytes();
    let (n, m) = (a.len(), b.len());
    // memo[i][j]: 0 unknown, 1 false, 2 true
    let mut memo = vec![0u8; (n + 1) * (m + 1)];
    fn go(a: &[u8], b: &[u8], i: usize, j: usize, memo: &mut [u8]) -> bool {
        let idx = i * (b.len() + 1) + j;
        if memo[idx] != 0 {
            return memo[idx] == 2;
        }
        let r = if i == a.len() && j == b.len() {
            true
        } else if i < a.len() && a[i] == b'*' {
            go(a, b, i + 1, j, memo) || (j < b.len() && go(a, b, i, j + 1, memo))
        } else if j < b.len() && b[j] == b'*' {
            go(a, b, i, j + 1, memo) || (i < a.len() && go(a, b, i + 1, j, memo))
        } else {
            i < a.len() && j < b.len() && a[i] == b[j] && go(a, b, i + 1, j + 1, memo)
        };
        memo[idx] = if r { 2 } else { 1 };
        r
    }
    go(a, b, 0, 0, &mut memo)
}

// ---------------------------------------------------------------- time

pub(super) fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// (year, month, day) for days since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `yyyy.MM.dd` (UTC) as used in data stream backing index names.
pub(super) fn backing_index_date(millis: u64) -> String {
    let (y, m, d) = civil_from_days((millis / 86_400_000) as i64);
    format!("{y:04}.{m:02}.{d:02}")
}

/// ISO-8601 UTC timestamp with millisecond precision.
pub(super) fn iso_millis(millis: u64) -> String {
    let (y, m, d) = civil_from_days((millis / 86_400_000) as i64);
    let ms_of_day = millis % 86_400_000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms_of_day / 3_600_000,
        (ms_of_day / 60_000) % 60,
        (ms_of_day / 1000) % 60,
        ms_of_day % 1000
    )
}

/// Accepts what `strict_date_optional_time||epoch_millis` accepts (approximately).
pub(super) fn is_valid_date(s: &str) -> bool {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return true; // epoch_millis
    }
    is_strict_date_optional_time(s)
}

/// `yyyy-MM-dd` optionally followed by `THH:mm[:ss[.SSS…]][Z|±HH:mm]`.
pub(super) fn is_strict_date_optional_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    if b.len() < 10
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
    {
        return false;
    }
    let month = (b[5] - b'0') * 10 + (b[6] - b'0');
    let day = (b[8] - b'0') * 10 + (b[9] - b'0');
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return false;
    }
    if b.len() == 10 {
        return true;
    }
    if b[10] != b'T' || b.len() < 13 || !digits(11..13) {
        return false;
    }
    let mut i = 13;
    // :mm and :ss, each optional in order
    for _ in 0..2 {
        if b.get(i) == Some(&b':') && digits(i + 1..i + 3) {
            i += 3;
        } else {
            break;
        }
    }
    if matches!(b.get(i), Some(b'.') | Some(b',')) {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start || i - start > 9 {
            return false;
        }
    }
    match b.get(i) {
        None => true,
        Some(b'Z') => i + 1 == b.len(),
        Some(b'+') | Some(b'-') => {
            let rest = &s[i + 1..];
            let rb = rest.as_bytes();
            (rb.len() == 5
                && rb[..2].iter().all(u8::is_ascii_digit)
                && rb[2] == b':'
                && rb[3..].iter().all(u8::is_ascii_digit))
                || (rb.len() == 4 && rb.iter().all(u8::is_ascii_digit))
                || (rb.len() == 2 && rb.iter().all(u8::is_ascii_digit))
        }
        _ => false,
    }
}

// ---------------------------------------------------------------- misc

/// Percent-decoding as done by ES `RestUtils.decodeComponent` (`+` is a space in queries).
pub(super) fn url_decode(s: &str, plus_as_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_as_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// SplitMix64 finaliser: a cheap, well-mixed deterministic hash.
pub(super) fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Deterministic value in `[0, 1)` for the given inputs.
pub(super) fn unit_hash(seed: u64, a: u64, b: u64) -> f64 {
    let h = mix64(seed ^ mix64(a ^ mix64(b.wrapping_add(0x5151))));
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// JSON token name as reported by ES XContent parsers.
pub(super) fn token_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "VALUE_NULL",
        Value::Bool(_) => "VALUE_BOOLEAN",
        Value::Number(_) => "VALUE_NUMBER",
        Value::String(_) => "VALUE_STRING",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
    }
}

/// Look up a dotted path in a document, honouring both nested objects and
/// literal dotted keys (`{"a.b": 1}`), as ES does.
pub(super) fn lookup_path<'a>(doc: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut out = Vec::new();
    lookup_rec(doc, path, &mut out);
    out
}

fn lookup_rec<'a>(v: &'a Value, path: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => {
            for it in items {
                lookup_rec(it, path, out);
            }
        }
        Value::Object(map) => {
            if let Some(x) = map.get(path) {
                flatten_into(x, out);
            }
            for (i, _) in path.match_indices('.') {
                if let Some(child) = map.get(&path[..i]) {
                    lookup_rec(child, &path[i + 1..], out);
                }
            }
        }
        _ => {}
    }
}

fn flatten_into<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => {
            for it in items {
                flatten_into(it, out);
            }
        }
        Value::Null => {}
        other => out.push(other),
    }
}
