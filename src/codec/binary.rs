//! A compact, type-preserving binary encoding of events, for the disk buffer.
//!
//! JSON would lose the difference between a timestamp and a string; this keeps every
//! [`Value`] kind. Layout (little endian): an event is its origin (`u8` flag, then `u64`
//! stream and `u64` offset when present) followed by its fields as an object. A value is a tag
//! byte and a payload: strings and keys are `u32` length + bytes, containers are `u32` count +
//! items. Decoding checks every length against the remaining input, so corrupt data gives an
//! error, never a panic or a huge allocation.

use bytes::Bytes;

use crate::event::{Event, EventMetadata, Key, Object, Origin, Value};

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const INTEGER: u8 = 3;
const FLOAT: u8 = 4;
const BYTES: u8 = 5;
const TIMESTAMP: u8 = 6;
const ARRAY: u8 = 7;
const OBJECT: u8 = 8;

/// Nesting deeper than this is rejected when decoding (it cannot come from our encoder for
/// real events, and unbounded recursion on corrupt input would overflow the stack).
const MAX_DEPTH: usize = 128;

/// Why bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unexpected end of record")]
    Truncated,
    #[error("unknown value tag {0}")]
    UnknownTag(u8),
    #[error("key is not UTF-8")]
    InvalidKey,
    #[error("nesting deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("{0} trailing bytes after the event")]
    Trailing(usize),
}

/// Appends `event` to `out`.
pub fn encode_event(out: &mut Vec<u8>, event: &Event) {
    match event.meta.origin {
        Some(o) => {
            out.push(1);
            out.extend_from_slice(&o.stream.to_le_bytes());
            out.extend_from_slice(&o.offset.to_le_bytes());
        }
        None => out.push(0),
    }
    encode_object(out, &event.fields);
}

fn encode_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u32).to_le_bytes());
}

fn encode_object(out: &mut Vec<u8>, obj: &Object) {
    encode_len(out, obj.len());
    for (k, v) in obj.iter() {
        encode_len(out, k.len());
        out.extend_from_slice(k.as_bytes());
        encode_value(out, v);
    }
}

fn encode_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(NULL),
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::Integer(i) => {
            out.push(INTEGER);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Float(f) => {
            out.push(FLOAT);
            out.extend_from_slice(&f.to_le_bytes());
        }
        Value::Bytes(b) => {
            out.push(BYTES);
            encode_len(out, b.len());
            out.extend_from_slice(b);
        }
        Value::Timestamp(t) => {
            out.push(TIMESTAMP);
            out.extend_from_slice(&t.to_le_bytes());
        }
        Value::Array(items) => {
            out.push(ARRAY);
            encode_len(out, items.len());
            for item in items {
                encode_value(out, item);
            }
        }
        Value::Object(obj) => {
            out.push(OBJECT);
            encode_object(out, obj);
        }
    }
}

struct Reader<'a> {
    /// The record, so that strings can be zero-copy slices of it.
    record: &'a Bytes,
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let slice = self
            .record
            .get(self.pos..end)
            .ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(
            b.try_into().map_err(|_| DecodeError::Truncated)?,
        ))
    }

    fn len(&mut self) -> Result<usize, DecodeError> {
        let b = self.take(4)?;
        let n = u32::from_le_bytes(b.try_into().map_err(|_| DecodeError::Truncated)?) as usize;
        // Every item takes at least one byte: a count beyond the remaining input is corrupt,
        // and checking here keeps `with_capacity` from allocating on garbage.
        if n > self.record.len() - self.pos {
            return Err(DecodeError::Truncated);
        }
        Ok(n)
    }

    fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let n = self.len()?;
        let start = self.pos;
        self.take(n)?;
        Ok(self.record.slice(start..start + n))
    }

    fn object(&mut self, depth: usize) -> Result<Object, DecodeError> {
        let n = self.len()?;
        let mut obj = Object::with_capacity(n);
        for _ in 0..n {
            let kn = self.len()?;
            let key = std::str::from_utf8(self.take(kn)?).map_err(|_| DecodeError::InvalidKey)?;
            let key = Key::new(key);
            let value = self.value(depth + 1)?;
            obj.push_unique(key, value);
        }
        Ok(obj)
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        Ok(match self.u8()? {
            NULL => Value::Null,
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            INTEGER => Value::Integer(self.u64()? as i64),
            FLOAT => Value::Float(f64::from_bits(self.u64()?)),
            BYTES => Value::Bytes(self.bytes()?),
            TIMESTAMP => Value::Timestamp(self.u64()? as i64),
            ARRAY => {
                let n = self.len()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::Array(items)
            }
            OBJECT => Value::Object(self.object(depth + 1)?),
            tag => return Err(DecodeError::UnknownTag(tag)),
        })
    }
}

/// Decodes one event from a whole record. Strings share the record's memory.
pub fn decode_event(record: &Bytes) -> Result<Event, DecodeError> {
    let mut r = Reader { record, pos: 0 };
    let origin = match r.u8()? {
        0 => None,
        1 => Some(Origin {
            stream: r.u64()?,
            offset: r.u64()?,
        }),
        tag => return Err(DecodeError::UnknownTag(tag)),
    };
    let fields = r.object(0)?;
    if r.pos != record.len() {
        return Err(DecodeError::Trailing(record.len() - r.pos));
    }
    Ok(Event {
        fields,
        meta: EventMetadata {
            finalizer: None,
            origin,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::FieldPath;
    use proptest::prelude::*;

    fn sample() -> Event {
        let mut e = Event::from_message(
            Bytes::from_static("héllo".as_bytes()),
            1_700_000_000_123_456_789,
        );
        e.insert(&FieldPath::parse("a.b").unwrap(), Value::Integer(-5));
        e.insert(&FieldPath::parse("f").unwrap(), Value::Float(0.25));
        e.insert(
            &FieldPath::parse("list").unwrap(),
            Value::Array(vec![
                Value::Null,
                Value::Bool(true),
                Value::Bool(false),
                Value::from("x"),
            ]),
        );
        e.meta.origin = Some(Origin {
            stream: 7,
            offset: 99,
        });
        e
    }

    #[test]
    fn round_trips_every_kind() {
        let e = sample();
        let mut buf = Vec::new();
        encode_event(&mut buf, &e);
        let back = decode_event(&Bytes::from(buf)).unwrap();
        assert_eq!(back.fields, e.fields);
        assert_eq!(back.meta.origin, e.meta.origin);
    }

    #[test]
    fn corrupt_records_are_errors() {
        let mut buf = Vec::new();
        encode_event(&mut buf, &sample());
        for cut in 0..buf.len() {
            assert!(
                decode_event(&Bytes::copy_from_slice(&buf[..cut])).is_err(),
                "cut at {cut}"
            );
        }
        let mut trailing = buf.clone();
        trailing.push(0);
        assert_eq!(
            decode_event(&Bytes::from(trailing)).unwrap_err(),
            DecodeError::Trailing(1)
        );
    }

    proptest! {
        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_event(&Bytes::from(data));
        }
    }
}
