//! Fuzz target: the TCP frame decoders must never panic, must not depend on
//! how the stream is chunked, must keep retained memory bounded, and must
//! emit only non-empty frames of at most `max_frame_bytes`.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

#[allow(dead_code)]
#[path = "../../src/sources/syslog/framing.rs"]
mod framing;

use framing::{Frame, LineFrameDecoder, SyslogFrameDecoder};

fn feed<D: Decoder<Item = Frame, Error = std::io::Error>>(
    mut dec: D,
    input: &[u8],
    chunk: usize,
    max: usize,
) -> Vec<Frame> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in input.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(frame) = dec.decode(&mut buf).unwrap() {
            out.push(frame);
        }
        // At most an incomplete octet-count header or a line of max + 1 bytes.
        assert!(buf.len() <= (max + 1).max(10), "retained {}", buf.len());
    }
    while let Some(frame) = dec.decode_eof(&mut buf).unwrap() {
        out.push(frame);
    }
    assert!(buf.is_empty());
    for frame in &out {
        assert!(!frame.bytes.is_empty() && frame.bytes.len() <= max);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&[max, chunk], input)) = data.split_first_chunk::<2>() else {
        return;
    };
    let max = usize::from(max).max(1);
    let chunk = usize::from(chunk).max(1);

    let whole = feed(SyslogFrameDecoder::new(max), input, input.len().max(1), max);
    let chunked = feed(SyslogFrameDecoder::new(max), input, chunk, max);
    assert_eq!(whole, chunked);

    let whole = feed(LineFrameDecoder::new(max), input, input.len().max(1), max);
    let chunked = feed(LineFrameDecoder::new(max), input, chunk, max);
    assert_eq!(whole, chunked);
});
