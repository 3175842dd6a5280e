//! Bytes of an object: events as NDJSON lines, compressed while the batch fills.
//!
//! Each open batch owns one [`ObjectEncoder`]: a streaming gzip or zstd compressor writing
//! into a `BytesMut`. The sink takes full multipart parts off the front of that buffer
//! ([`ObjectEncoder::take_front`]) as soon as they fill, so an object's memory is
//! its compressor state plus less than one part, whatever the object's final size.

use std::io::Write;

use bytes::{BufMut, Bytes, BytesMut};
use serde::Deserialize;

/// Compression of archived objects.
#[derive(
    Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "S3Compression")]
pub enum Compression {
    /// Plain NDJSON.
    None,
    /// gzip (`Content-Encoding: gzip`), the default: every tool reads it.
    #[default]
    Gzip,
    /// zstd (`Content-Encoding: zstd`): smaller and faster than gzip.
    Zstd,
}

impl Compression {
    /// The object's `Content-Encoding`, if any.
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some("gzip"),
            Compression::Zstd => Some("zstd"),
        }
    }
}

/// Level used for gzip: level 6 costs about three times the CPU of level 1 for ~10% smaller
/// logs; archives are written once and rarely read, but the pipeline must keep up.
const GZIP_LEVEL: u32 = 4;
const ZSTD_LEVEL: i32 = 3;

enum Inner {
    Plain(bytes::buf::Writer<BytesMut>),
    Gzip(flate2::write::GzEncoder<bytes::buf::Writer<BytesMut>>),
    Zstd(zstd::stream::write::Encoder<'static, bytes::buf::Writer<BytesMut>>),
}

/// A streaming NDJSON compressor for one object.
pub struct ObjectEncoder {
    inner: Inner,
    /// Bytes already taken off the front of the output (uploaded parts).
    taken: u64,
    /// Uncompressed bytes written.
    raw_bytes: u64,
}

impl std::fmt::Debug for ObjectEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectEncoder")
            .field("taken", &self.taken)
            .field("raw_bytes", &self.raw_bytes)
            .finish()
    }
}

impl ObjectEncoder {
    pub fn new(compression: Compression) -> std::io::Result<ObjectEncoder> {
        let out = BytesMut::with_capacity(64 * 1024).writer();
        let inner = match compression {
            Compression::None => Inner::Plain(out),
            Compression::Gzip => Inner::Gzip(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::new(GZIP_LEVEL),
            )),
            Compression::Zstd => Inner::Zstd(zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)?),
        };
        Ok(ObjectEncoder {
            inner,
            taken: 0,
            raw_bytes: 0,
        })
    }

    /// Appends raw NDJSON bytes (whole lines).
    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.raw_bytes += bytes.len() as u64;
        match &mut self.inner {
            Inner::Plain(w) => w.write_all(bytes),
            Inner::Gzip(w) => w.write_all(bytes),
            Inner::Zstd(w) => w.write_all(bytes),
        }
    }

    fn output(&mut self) -> &mut BytesMut {
        match &mut self.inner {
            Inner::Plain(w) => w.get_mut(),
            Inner::Gzip(w) => w.get_mut().get_mut(),
            Inner::Zstd(w) => w.get_mut().get_mut(),
        }
    }

    /// Compressed bytes produced so far, including those already taken.
    pub fn compressed_bytes(&mut self) -> u64 {
        self.taken + self.output().len() as u64
    }

    /// Compressed bytes waiting in the buffer.
    pub fn buffered_bytes(&mut self) -> usize {
        self.output().len()
    }

    /// Compressed bytes already taken off the front (uploaded as parts).
    pub fn taken_bytes(&self) -> u64 {
        self.taken
    }

    pub fn raw_bytes(&self) -> u64 {
        self.raw_bytes
    }

    /// Takes exactly `n` compressed bytes off the front, if that many are buffered.
    ///
    /// The part is copied into an allocation of its own (about a millisecond for 8 MiB):
    /// `split_to` would be zero-copy, but each part would then pin the buffer's whole grown
    /// allocation until uploaded, and the encoder would allocate a fresh buffer per part;
    /// copying lets the buffer be reused and keeps parts in flight at their real size.
    pub fn take_front(&mut self, n: usize) -> Option<Bytes> {
        let out = self.output();
        if out.len() < n {
            return None;
        }
        let part = Bytes::copy_from_slice(&out[..n]);
        bytes::Buf::advance(out, n);
        self.taken += n as u64;
        Some(part)
    }

    /// Ends the stream and returns the compressed bytes not yet taken.
    pub fn finish(self) -> std::io::Result<Bytes> {
        let out = match self.inner {
            Inner::Plain(w) => w.into_inner(),
            Inner::Gzip(w) => w.finish()?.into_inner(),
            Inner::Zstd(w) => w.finish()?.into_inner(),
        };
        Ok(out.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn roundtrip(compression: Compression) {
        let mut enc = ObjectEncoder::new(compression).unwrap();
        let mut expected = Vec::new();
        let mut parts = Vec::new();
        for i in 0..50_000 {
            let line = format!("{{\"seq\":{i},\"msg\":\"hello {}\"}}\n", i * 7919 % 10007);
            expected.extend_from_slice(line.as_bytes());
            enc.write(line.as_bytes()).unwrap();
            if let Some(p) = enc.take_front(4096) {
                parts.push(p);
            }
        }
        let total_before = enc.compressed_bytes();
        parts.push(enc.finish().unwrap());
        let all: Vec<u8> = parts.concat();
        assert!(all.len() as u64 >= total_before);
        let mut decoded = Vec::new();
        match compression {
            Compression::None => decoded = all,
            Compression::Gzip => {
                flate2::read::GzDecoder::new(&all[..])
                    .read_to_end(&mut decoded)
                    .unwrap();
            }
            Compression::Zstd => decoded = zstd::decode_all(&all[..]).unwrap(),
        }
        assert_eq!(decoded, expected);
    }

    #[test]
    fn parts_taken_while_writing_reassemble_to_the_input() {
        roundtrip(Compression::None);
        roundtrip(Compression::Gzip);
        roundtrip(Compression::Zstd);
    }
}
