//! A hand-written JSON writer for [`Value`]s.
//!
//! Every sink encodes every event, so this is on the hot path: it appends straight into a
//! caller's reusable `Vec<u8>`, escapes strings with a scan that tests eight bytes at a time
//! and copies runs of plain bytes at once, and writes timestamps as RFC 3339 without going
//! through `String`.

use crate::event::{Object, Value};

/// Which bytes need escaping in a JSON string: 0 = none, otherwise the escape letter or `u`.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[0x08] = b'b';
    t[0x0c] = b'f';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Appends `s` as a quoted JSON string.
pub fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        // Eight bytes at a time: skip to the first that needs escaping (most text has
        // none for dozens of bytes).
        if let Some(word) = s.get(i..i + 8) {
            let word = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
            let flags = escape_flags(word);
            if flags == 0 {
                i += 8;
                continue;
            }
            i += (flags.trailing_zeros() / 8) as usize;
        }
        let b = s[i];
        let esc = ESCAPE[b as usize];
        if esc != 0 {
            out.extend_from_slice(&s[start..i]);
            if esc == b'u' {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            } else {
                out.push(b'\\');
                out.push(esc);
            }
            start = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

/// The bytes of `word` (little-endian) that [`ESCAPE`] marks — below 0x20, `"` or `\` —
/// flagged by their high bit: none when zero, and the lowest flag is the first such byte
/// (the classic "has a byte less than n" word trick; its flags may be wrong only above the
/// first true one, where borrows run on, and those are not used).
fn escape_flags(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |w: u64, n: u64| w.wrapping_sub(ONES * n) & !w & HIGH;
    let control = below(word, 0x20);
    let quote = below(word ^ (ONES * u64::from(b'"')), 1);
    let backslash = below(word ^ (ONES * u64::from(b'\\')), 1);
    control | quote | backslash
}

/// Appends `value` as JSON.
pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Integer(i) => {
            let mut buf = itoa_buf();
            out.extend_from_slice(format_i64(&mut buf, *i));
        }
        Value::Float(f) => write_float(out, *f),
        Value::Bytes(b) => write_str(out, b),
        Value::Timestamp(t) => {
            out.push(b'"');
            crate::time::write_rfc3339(out, *t);
            out.push(b'"');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(obj) => write_object(out, obj),
    }
}

/// Appends `obj` as a JSON object.
///
/// Fields still in JSON text form (see [`crate::codec::raw_json`]) are written as that text,
/// never decoded and re-encoded.
pub fn write_object(out: &mut Vec<u8>, obj: &Object) {
    out.push(b'{');
    let mut first = true;
    for (k, v) in obj.plain_entries() {
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(out, k.as_bytes());
        out.push(b':');
        write_value(out, v);
    }
    if let Some(raw) = obj.raw() {
        for inner in raw.inner_texts() {
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(inner);
        }
    }
    out.push(b'}');
}

fn itoa_buf() -> [u8; 20] {
    [0u8; 20]
}

fn format_i64(buf: &mut [u8; 20], value: i64) -> &[u8] {
    let negative = value < 0;
    let mut n = value.unsigned_abs();
    let mut pos = buf.len();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if negative {
        // i64::MIN has 19 digits, so there is always room for the sign in 20 bytes.
        pos -= 1;
        buf[pos] = b'-';
    }
    &buf[pos..]
}

/// Shortest round-trip float text, via the standard library's `Display` (which prints the
/// shortest representation that parses back to the same value). Integral floats keep a `.0`
/// so they read back as floats; NaN and infinities, which JSON lacks, become `null`.
fn write_float(out: &mut Vec<u8>, f: f64) {
    use std::io::Write;
    if !f.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    let start = out.len();
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{f}");
    if !out[start..].iter().any(|b| matches!(b, b'.' | b'e' | b'E')) {
        out.extend_from_slice(b".0");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Key;

    fn encode(v: &Value) -> String {
        let mut out = Vec::new();
        write_value(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_strings_like_serde_json() {
        for s in [
            "plain",
            "quote\"back\\slash",
            "ctl\u{1}\u{1f}\n\r\t\u{8}\u{c}",
            "élan 東京 😀",
            "",
        ] {
            assert_eq!(encode(&Value::from(s)), serde_json::to_string(s).unwrap());
        }
    }

    #[test]
    fn escapes_every_ascii_byte_at_every_position_of_a_word() {
        // The word-at-a-time scan must see a byte to escape wherever it sits, also next to
        // multi-byte characters (high bytes) and after another escape.
        for len in [7, 8, 9, 16, 23] {
            for at in 0..len {
                for b in 0u8..0x80 {
                    for filler in ["a", "é", "\u{1}"] {
                        let mut text: Vec<char> = filler.repeat(len).chars().collect();
                        text[at] = char::from(b);
                        let text: String = text.into_iter().collect();
                        let mut out = Vec::new();
                        write_str(&mut out, text.as_bytes());
                        assert_eq!(
                            String::from_utf8(out).unwrap(),
                            serde_json::to_string(&text).unwrap(),
                            "{text:?}"
                        );
                    }
                }
            }
        }
        for b in 0..=u8::MAX {
            let word = u64::from_le_bytes([b'a', b'a', b'a', b, b'a', b'a', b'a', b'a']);
            let flags = escape_flags(word);
            assert_eq!(flags != 0, ESCAPE[b as usize] != 0, "{b}");
            if flags != 0 {
                assert_eq!(flags.trailing_zeros() / 8, 3, "{b}");
            }
        }
    }

    #[test]
    fn encodes_every_kind() {
        let mut o = Object::new();
        o.insert(Key::new("i"), Value::Integer(i64::MIN));
        o.insert(Key::new("f"), Value::Float(2.0));
        o.insert(Key::new("g"), Value::Float(0.1));
        o.insert(Key::new("nan"), Value::Float(f64::NAN));
        o.insert(Key::new("b"), Value::Bool(true));
        o.insert(Key::new("n"), Value::Null);
        o.insert(
            Key::new("a"),
            Value::Array(vec![Value::Integer(1), Value::from("x")]),
        );
        o.insert(Key::new("t"), Value::Timestamp(0));
        assert_eq!(
            encode(&Value::Object(o)),
            r#"{"i":-9223372036854775808,"f":2.0,"g":0.1,"nan":null,"b":true,"n":null,"a":[1,"x"],"t":"1970-01-01T00:00:00.000Z"}"#
        );
    }
}
