//! `tcp` source: newline-delimited events over TCP (optionally TLS), as plain text lines or as
//! one JSON object per line.
//!
//! Connection handling (limits, idle timeout, TLS, backpressure, shutdown) is in
//! [`super::net`]; this module owns the configuration and how a line becomes an event.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;

use super::lines::to_utf8;
use super::net::{
    self, ErrorType, EventBuilder, FrameCodec, Peer, SourceCounters, TcpServerSettings, TlsConfig,
};
use super::syslog::framing::{Frame, LineFrameDecoder};
use crate::event::{Event, Key, Object, Value, TIMESTAMP};
use crate::topology::{ComponentError, ComponentFuture, SourceContext};
use crate::transforms::parse_json::{JsonParser, Parsed};

/// How a line becomes an event.
#[derive(
    Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Decoding {
    /// The line is the event's `message`.
    #[default]
    Text,
    /// The line is a JSON object whose fields become the event's fields. A line that is not
    /// a JSON object is kept as `message` and tagged `parse_failure`.
    Json,
}

/// Receives newline-delimited events on a TCP socket.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TcpSourceConfig {
    /// Address to listen on, e.g. `0.0.0.0:9000`.
    pub address: SocketAddr,
    /// `text` (one event per line) or `json` (one JSON object per line).
    #[serde(default)]
    pub decoding: Decoding,
    /// Lines longer than this are cut (tagged `truncated`) and the rest of the line skipped.
    #[serde(default = "default_max_frame_bytes")]
    pub max_frame_bytes: usize,
    /// Connections open at once; further connections are closed right after accept.
    #[serde(default = "default_max_connections")]
    pub max_connections: u64,
    /// A connection that sends nothing for this many seconds is closed.
    #[serde(default = "default_idle_timeout_secs")]
    pub connection_idle_timeout_secs: u64,
    /// Serve TLS: `{ cert_file, key_file, ca_file }` (`ca_file` requires client certificates).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

pub(crate) fn default_max_frame_bytes() -> usize {
    100 * 1024
}

pub(crate) fn default_max_connections() -> u64 {
    1024
}

pub(crate) fn default_idle_timeout_secs() -> u64 {
    300
}

/// The connection settings common to the TCP-based sources.
pub(crate) fn server_settings(
    max_connections: u64,
    idle_timeout_secs: u64,
    tls: Option<&TlsConfig>,
) -> Result<TcpServerSettings, String> {
    let tls = match tls {
        Some(t) => Some((
            t.build_acceptor().map_err(|e| e.to_string())?,
            t.handshake_timeout(),
        )),
        None => None,
    };
    Ok(TcpServerSettings {
        max_connections: max_connections.max(1),
        idle_timeout: Duration::from_secs(idle_timeout_secs.max(1)),
        tls,
    })
}

impl TcpSourceConfig {
    pub fn build(&self, ctx: SourceContext) -> Result<ComponentFuture, String> {
        let settings = server_settings(
            self.max_connections,
            self.connection_idle_timeout_secs,
            self.tls.as_ref(),
        )?;
        let binding = net::Binding::tcp(self.address, ctx.predecessor.as_ref())?;
        let counters = Arc::new(SourceCounters::new(&ctx.id));
        let decoding = self.decoding;
        let max_frame_bytes = self.max_frame_bytes;
        let codec_counters = Arc::clone(&counters);
        let new_codec = move |peer: SocketAddr| {
            LineCodec::new(max_frame_bytes, decoding, peer, Arc::clone(&codec_counters))
        };
        Ok(Box::pin(async move {
            let listener = binding.listen().map_err(ComponentError::new)?;
            let result = net::serve_tcp(
                listener,
                settings,
                new_codec,
                Arc::clone(&counters),
                ctx.output,
                ctx.shutdown,
            )
            .await;
            counters.log_summary("tcp source finished");
            result
        }))
    }
}

/// One connection's line framing.
pub struct LineCodec {
    decoder: LineFrameDecoder,
    decoding: Decoding,
    peer: Peer,
    counters: Arc<SourceCounters>,
}

impl LineCodec {
    pub fn new(
        max_frame_bytes: usize,
        decoding: Decoding,
        peer: SocketAddr,
        counters: Arc<SourceCounters>,
    ) -> LineCodec {
        LineCodec {
            decoder: LineFrameDecoder::new(max_frame_bytes),
            decoding,
            peer: Peer::new(peer),
            counters,
        }
    }
}

impl FrameCodec for LineCodec {
    type Decoder = LineFrameDecoder;
    type Builder = LineEventBuilder;

    fn decoder(&mut self) -> &mut LineFrameDecoder {
        &mut self.decoder
    }

    fn new_builder(&self) -> LineEventBuilder {
        LineEventBuilder {
            decoding: self.decoding,
            json: JsonParser::default(),
            peer: self.peer.clone(),
            counters: Arc::clone(&self.counters),
        }
    }
}

/// Turns lines into events (text or JSON).
pub struct LineEventBuilder {
    decoding: Decoding,
    json: JsonParser,
    peer: Peer,
    counters: Arc<SourceCounters>,
}

impl EventBuilder for LineEventBuilder {
    fn event(&mut self, frame: Frame, receive_nanos: i64) -> Event {
        let (text, invalid_utf8) = to_utf8(frame.bytes);
        let mut event = match self.decoding {
            Decoding::Text => Event::from_message(text, receive_nanos),
            Decoding::Json => match json_event(&mut self.json, &text, receive_nanos) {
                Some(event) => event,
                None => {
                    self.counters.error(
                        ErrorType::JsonParse,
                        1,
                        &format_args!(
                            "line from {}:{} is not a JSON object",
                            String::from_utf8_lossy(&self.peer.ip),
                            self.peer.port
                        ),
                    );
                    let mut event = Event::from_message(text, receive_nanos);
                    event.add_tag("parse_failure");
                    event
                }
            },
        };
        if event.fields.get("source").is_none() {
            event
                .fields
                .push_unique(Key::new_static("source"), self.peer.source_object());
        }
        if frame.truncated {
            self.counters.error(
                ErrorType::Truncated,
                1,
                &"line longer than max_frame_bytes was cut",
            );
            event.add_tag("truncated");
        }
        if invalid_utf8 {
            self.counters
                .error(ErrorType::InvalidUtf8, 1, &"invalid UTF-8 replaced");
            event.add_tag("invalid_utf8");
        }
        event
    }
}

/// The event of one JSON line: the object's fields; `@timestamp` from the object when it is
/// RFC 3339 text, the receive time otherwise. `None` when the line is not a JSON object.
pub fn json_event(parser: &mut JsonParser, line: &Bytes, receive_nanos: i64) -> Option<Event> {
    // An object without `@timestamp` stays JSON text (fields decoded when read, the text
    // written out as it is); the receive time is added beside it.
    let parsed = parser
        .parse_lazy(line.clone(), |keys, _| !keys.contains(&TIMESTAMP))
        .ok()?;
    let fields = match parsed {
        Parsed::Raw(raw) => {
            let mut fields = Object::with_capacity(2);
            fields.push_unique(Key::new_static(TIMESTAMP), Value::Timestamp(receive_nanos));
            fields.attach_raw(raw);
            fields
        }
        // The parsed object is the event as is (no copy into a new one); only `@timestamp`
        // is typed, or added when absent.
        Parsed::Value(Value::Object(mut fields)) => {
            match fields.get_mut(TIMESTAMP) {
                Some(slot) => {
                    let parsed = slot.as_bytes().and_then(|b| crate::time::parse_rfc3339(b));
                    *slot = Value::Timestamp(parsed.unwrap_or(receive_nanos));
                }
                None => fields.push_unique(TIMESTAMP, Value::Timestamp(receive_nanos)),
            }
            fields
        }
        Parsed::Value(_) => return None,
    };
    Some(Event {
        fields,
        meta: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tokio_util::codec::Decoder;

    fn decode_all(codec: &mut LineCodec, input: &[u8]) -> Vec<Event> {
        let mut buf = bytes::BytesMut::from(input);
        let mut out = Vec::new();
        let mut builder = codec.new_builder();
        while let Some(frame) = codec.decoder().decode_eof(&mut buf).unwrap() {
            out.push(builder.event(frame, 7));
        }
        out
    }

    fn codec(decoding: Decoding) -> (LineCodec, Arc<SourceCounters>) {
        let counters = Arc::new(SourceCounters::new("t"));
        let c = LineCodec::new(
            64,
            decoding,
            "127.0.0.1:4000".parse().unwrap(),
            Arc::clone(&counters),
        );
        (c, counters)
    }

    #[test]
    fn json_lines_become_fields_and_invalid_json_is_kept_tagged() {
        let (mut c, counters) = codec(Decoding::Json);
        let input = b"{\"a\":1,\"@timestamp\":\"2026-01-02T03:04:05Z\",\"m\":\"x\"}\n{\"a\":\nnot json at all\n[1,2]\n{\"b\":true}\n{\"broken\": \"unterminated\n";
        let events = decode_all(&mut c, input);
        assert_eq!(events.len(), 6);
        assert_eq!(events[0].fields.get("a"), Some(&Value::Integer(1)));
        assert_eq!(
            events[0].timestamp(),
            crate::time::parse_rfc3339(b"2026-01-02T03:04:05Z")
        );
        assert!(!events[0].has_tag("parse_failure"));
        for (i, text) in [
            (1, "{\"a\":"),
            (2, "not json at all"),
            (3, "[1,2]"),
            (5, "{\"broken\": \"unterminated"),
        ] {
            assert!(events[i].has_tag("parse_failure"), "event {i}");
            assert_eq!(events[i].message().unwrap(), text.as_bytes());
            assert_eq!(events[i].timestamp(), Some(7));
        }
        assert_eq!(events[4].fields.get("b"), Some(&Value::Bool(true)));
        assert_eq!(events[4].timestamp(), Some(7));
        assert_eq!(counters.errors(ErrorType::JsonParse), 4);
        let source = events[4].fields.get("source").unwrap().as_object().unwrap();
        assert_eq!(source.get("port"), Some(&Value::Integer(4000)));
        assert_eq!(source.get("ip").unwrap().as_str(), Some("127.0.0.1"));
    }

    #[test]
    fn json_lines_without_timestamp_stay_text_and_are_written_as_sent() {
        let (mut c, _) = codec(Decoding::Json);
        let line = br#"{"level":"warn","msg":"caf\u00e9 \"q\"","n":[1,{"x":null}]}"#;
        let mut input = line.to_vec();
        input.push(b'\n');
        let events = decode_all(&mut c, &input);
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert!(event.fields.raw().is_some(), "kept as text");
        assert_eq!(event.fields.get("level").unwrap().as_str(), Some("warn"));
        assert_eq!(
            event.fields.get("msg").unwrap().as_str(),
            Some("café \"q\"")
        );
        assert_eq!(event.timestamp(), Some(7));
        let mut out = Vec::new();
        crate::codec::json::write_object(&mut out, &event.fields);
        let text = String::from_utf8(out).unwrap();
        // The object's members are spliced as they came, beside the added fields.
        assert!(
            text.contains(r#""msg":"caf\u00e9 \"q\"","n":[1,{"x":null}]"#),
            "{text}"
        );
        let written: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(written["n"][1]["x"], serde_json::Value::Null);
        assert_eq!(written["source"]["port"], 4000);
        assert!(written["@timestamp"].is_string());
    }

    #[test]
    fn text_lines_are_cut_at_the_limit_and_tagged() {
        let (mut c, counters) = codec(Decoding::Text);
        let mut input = vec![b'x'; 200];
        input.extend_from_slice(b"\nshort\n\xff\n");
        let events = decode_all(&mut c, &input);
        assert_eq!(events.len(), 3);
        assert!(events[0].has_tag("truncated"));
        assert_eq!(events[0].message().unwrap().len(), 64);
        assert_eq!(events[1].message().unwrap(), &b"short"[..]);
        assert!(events[2].has_tag("invalid_utf8"));
        assert_eq!(counters.errors(ErrorType::Truncated), 1);
    }

    proptest! {
        /// Whatever a client sends in `json` mode, every line becomes exactly one event:
        /// parsed when it is a JSON object, otherwise kept verbatim (as UTF-8) and tagged.
        #[test]
        fn json_decoding_never_loses_or_invents_lines(
            lines in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::collection::vec(proptest::num::u8::ANY, 1..80),
                    "\\{\"[a-z]{1,5}\":[0-9a-z\\[\\]{}\",:]{0,20}\\}".prop_map(String::into_bytes),
                ],
                1..20,
            )
        ) {
            let lines: Vec<Vec<u8>> = lines
                .into_iter()
                .map(|l| l.into_iter().filter(|b| *b != b'\n' && *b != b'\r').collect::<Vec<u8>>())
                .filter(|l| !l.is_empty())
                .collect();
            let mut input = Vec::new();
            for l in &lines {
                input.extend_from_slice(l);
                input.push(b'\n');
            }
            let (mut c, counters) = codec(Decoding::Json);
            let events = decode_all(&mut c, &input);
            prop_assert_eq!(events.len(), lines.len());
            let mut failures = 0;
            for (event, line) in events.iter().zip(&lines) {
                let shown = &line[..line.len().min(64)];
                let is_object = matches!(
                    serde_json::from_slice::<serde_json::Value>(shown),
                    Ok(serde_json::Value::Object(_))
                );
                if event.has_tag("parse_failure") {
                    failures += 1;
                    prop_assert_eq!(event.message().unwrap(), &to_utf8(Bytes::copy_from_slice(shown)).0);
                } else {
                    // simd-json and serde_json agree on what is an object.
                    prop_assert!(is_object, "parsed a non-object line {:?}", String::from_utf8_lossy(line));
                    prop_assert_eq!(event.timestamp(), Some(7));
                }
            }
            prop_assert_eq!(counters.errors(ErrorType::JsonParse), failures);
        }
    }
}
