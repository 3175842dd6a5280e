//! Bulk request bodies: events become NDJSON action + document line pairs, written straight
//! into a reusable byte buffer, without an intermediate JSON tree.
//!
//! The encoder owns the choice of each document's target (data stream name or index) and its
//! `_id`. It keeps, per item, the byte range of its two lines in the body, so a retry of some
//! items is a copy of those ranges (never a re-encoding), and a dead-lettered item's document
//! is a slice of the body. After encoding, the event itself is dropped; only its finalizer is
//! kept until Elasticsearch has answered for it.
//!
//! Ids (`id = "auto"`): from the event's [`Origin`] when the source knows where the event came
//! from (stream hash and offset, 16 bytes, base64url: collision-free and the same after a
//! replay), else a 128-bit hash of the encoded document. See `DESIGN.md`.

use std::io::Write;

use super::config::{Compression, IdStrategy, TargetStrategy};
use crate::codec::json::{write_object, write_str};
use crate::event::{Event, Origin};
use crate::finalization::EventFinalizer;

/// Elasticsearch's limit on `_id` length, in bytes.
const MAX_ID_BYTES: usize = 512;
/// Data stream dataset and namespace limit, in bytes.
const MAX_NAME_PART_BYTES: usize = 100;
/// Index name limit, in bytes.
const MAX_INDEX_NAME_BYTES: usize = 255;

/// One document of a bulk request.
#[derive(Debug)]
pub struct BulkItem {
    /// Start of the action line in the body.
    pub start: u32,
    /// Start of the document line.
    pub doc_start: u32,
    /// End of the document line, after its newline.
    pub end: u32,
    /// Whether the `_id` is ours (deterministic), so that a `409` conflict on `create` means
    /// an earlier attempt already stored this very document.
    pub own_id: bool,
    pub finalizer: Option<EventFinalizer>,
}

impl BulkItem {
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// The documents of one bulk request: their NDJSON body and where each item lies in it.
#[derive(Debug, Default)]
pub struct BulkBatch {
    /// The body while it is being encoded.
    pub body: Vec<u8>,
    /// The body once handed to the HTTP client uncompressed ([`BulkBatch::wire_body`]):
    /// shared with the request instead of copied.
    sent: Option<bytes::Bytes>,
    pub items: Vec<BulkItem>,
}

impl BulkBatch {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The whole NDJSON body.
    pub fn text(&self) -> &[u8] {
        self.sent.as_deref().unwrap_or(&self.body)
    }

    /// The whole body as a request body, without copying it (later calls share it too).
    pub fn wire_body(&mut self) -> bytes::Bytes {
        self.sent
            .get_or_insert_with(|| bytes::Bytes::from(std::mem::take(&mut self.body)))
            .clone()
    }

    /// The action line of item `i`, without its newline.
    pub fn action_line(&self, i: usize) -> &[u8] {
        let it = &self.items[i];
        &self.text()[it.start as usize..it.doc_start as usize - 1]
    }

    /// The document of item `i`, without its newline.
    pub fn document(&self, i: usize) -> &[u8] {
        let it = &self.items[i];
        &self.text()[it.doc_start as usize..it.end as usize - 1]
    }

    /// Appends the lines of the items at `indices` to `out` (a retry's body).
    pub fn write_subset(&self, indices: &[usize], out: &mut Vec<u8>) {
        out.clear();
        let text = self.text();
        for &i in indices {
            let it = &self.items[i];
            out.extend_from_slice(&text[it.start as usize..it.end as usize]);
        }
    }

    /// Empties the batch for the next one, keeping its memory (a body of a couple of MiB and
    /// an item list of thousands, which would otherwise grow again from nothing, reallocating
    /// and copying as they go): the body also after [`BulkBatch::wire_body`], once the HTTP
    /// client has let go of it (otherwise the next batch starts a new body).
    pub fn recycle(self) -> BulkBatch {
        let mut body = match self.sent {
            None => self.body,
            Some(sent) => sent.try_into_mut().map(Vec::from).unwrap_or_default(),
        };
        body.clear();
        let mut items = self.items;
        items.clear();
        BulkBatch {
            body,
            sent: None,
            items,
        }
    }
}

/// Compresses a body for the wire.
pub fn compress(body: &[u8], compression: Compression) -> std::io::Result<bytes::Bytes> {
    match compression {
        Compression::None => Ok(bytes::Bytes::copy_from_slice(body)),
        Compression::Gzip => {
            // Log NDJSON compresses about 5-10x; start with a fifth of the input.
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 5 + 64),
                flate2::Compression::fast(),
            );
            enc.write_all(body)?;
            Ok(bytes::Bytes::from(enc.finish()?))
        }
    }
}

/// What the encoder noticed, for the sink's counters.
#[derive(Debug, Default, Clone, Copy)]
pub struct EncodeStats {
    /// Events whose dataset or namespace field was missing (the default name was used).
    pub missing_target_fields: u64,
    /// Events whose `id` template field was missing (the automatic id was used).
    pub missing_id_fields: u64,
}

/// Turns events into bulk items.
#[derive(Debug)]
pub struct BulkEncoder {
    target: TargetStrategy,
    id: IdStrategy,
    action: &'static [u8],
    document: Vec<u8>,
    rendered: String,
    sanitized: String,
    rendered_namespace: String,
    target_name: String,
    /// The rendered (dataset, namespace) that `target_name` and `data_stream_fields` were
    /// made from: consecutive events usually share them, so the names are sanitized and the
    /// ECS fields encoded once per change rather than per event.
    target_made_from: Option<(String, String)>,
    /// `,"data_stream":{…}}`, spliced in before a document's closing brace.
    data_stream_fields: Vec<u8>,
    /// `{"<action>":{"_index":"<target>"`, and the target name it was written for:
    /// consecutive events usually go to one target, so it is escaped once per change.
    action_prefix: Vec<u8>,
    action_prefix_for: String,
    id_text: Vec<u8>,
    /// `id_text` came from the event (a template) and may need escaping; generated ids are
    /// URL-safe base64.
    id_needs_escaping: bool,
    /// The target's templates are plain text (the default data stream, a fixed index): it
    /// was rendered when the encoder was made, nothing to do per event.
    target_fixed: bool,
    pub stats: EncodeStats,
}

impl BulkEncoder {
    pub fn new(target: TargetStrategy, id: IdStrategy) -> BulkEncoder {
        let action: &'static [u8] = match target {
            // Data streams accept only `create`.
            TargetStrategy::DataStream { .. } => b"create",
            // `index` overwrites a document with the same id: a retry replaces, never
            // duplicates.
            TargetStrategy::Index(_) => b"index",
        };
        let fixed = match &target {
            TargetStrategy::DataStream {
                dataset, namespace, ..
            } => dataset.is_literal() && namespace.is_literal(),
            TargetStrategy::Index(template) => template.is_literal(),
        };
        let mut encoder = BulkEncoder {
            target,
            id,
            action,
            document: Vec::with_capacity(1024),
            rendered: String::new(),
            sanitized: String::new(),
            rendered_namespace: String::new(),
            target_name: String::new(),
            target_made_from: None,
            data_stream_fields: Vec::new(),
            action_prefix: Vec::new(),
            action_prefix_for: String::new(),
            id_text: Vec::new(),
            id_needs_escaping: false,
            target_fixed: false,
            stats: EncodeStats::default(),
        };
        if fixed {
            // Plain text reads nothing of the event: rendered once, here.
            encoder.render_target(&Event::default());
            encoder.target_fixed = true;
        }
        encoder
    }

    /// Appends `event` to `batch` and moves its finalizer there.
    pub fn encode(&mut self, event: &mut Event, batch: &mut BulkBatch) {
        // A document whose id is not its hash is written straight into the body after its
        // action line; otherwise it is written first, aside, to hash it.
        let id_from_document = match &self.id {
            IdStrategy::None => false,
            IdStrategy::Auto => event.meta.origin.is_none(),
            IdStrategy::Template(_) => true,
        };
        self.document.clear();
        if id_from_document {
            write_object(&mut self.document, &event.fields);
        }
        self.render_target(event);
        let own_id = self.render_id(event);
        if self.action_prefix.is_empty()
            || (!self.target_fixed && self.action_prefix_for != self.target_name)
        {
            self.action_prefix.clear();
            self.action_prefix.extend_from_slice(b"{\"");
            self.action_prefix.extend_from_slice(self.action);
            self.action_prefix.extend_from_slice(b"\":{\"_index\":");
            write_str(&mut self.action_prefix, self.target_name.as_bytes());
            self.action_prefix_for.clone_from(&self.target_name);
        }
        let out = &mut batch.body;
        let start = out.len();
        out.extend_from_slice(&self.action_prefix);
        if !self.id_text.is_empty() {
            out.extend_from_slice(b",\"_id\":");
            if self.id_needs_escaping {
                write_str(out, &self.id_text);
            } else {
                out.push(b'"');
                out.extend_from_slice(&self.id_text);
                out.push(b'"');
            }
        }
        out.extend_from_slice(b"}}\n");
        let doc_start = out.len();
        if id_from_document {
            out.extend_from_slice(&self.document);
        } else {
            write_object(out, &event.fields);
        }
        if let TargetStrategy::DataStream {
            sync_fields: true, ..
        } = &self.target
        {
            if event.fields.get("data_stream").is_none() {
                // Splice the ECS data_stream fields in before the closing brace.
                out.pop();
                if event.fields.is_empty() {
                    out.extend_from_slice(&self.data_stream_fields[1..]);
                } else {
                    out.extend_from_slice(&self.data_stream_fields);
                }
            }
        }
        out.push(b'\n');
        batch.items.push(BulkItem {
            start: start as u32,
            doc_start: doc_start as u32,
            end: out.len() as u32,
            own_id,
            finalizer: event.meta.finalizer.take(),
        });
    }

    fn render_target(&mut self, event: &Event) {
        if self.target_fixed {
            return;
        }
        match &self.target {
            TargetStrategy::DataStream {
                kind,
                dataset,
                namespace,
                ..
            } => {
                let missing = dataset.render(event, &mut self.rendered).is_some();
                let missing_ns = namespace
                    .render(event, &mut self.rendered_namespace)
                    .is_some();
                if missing || missing_ns {
                    self.stats.missing_target_fields += 1;
                }
                let raw_dataset = if missing { "" } else { &self.rendered };
                let raw_namespace = if missing_ns {
                    ""
                } else {
                    &self.rendered_namespace
                };
                if self
                    .target_made_from
                    .as_ref()
                    .is_some_and(|(d, n)| d == raw_dataset && n == raw_namespace)
                {
                    return;
                }
                self.target_name.clear();
                self.target_name.push_str(kind);
                self.target_name.push('-');
                sanitize_name_part_into(raw_dataset, "generic", &mut self.sanitized);
                self.target_name.push_str(&self.sanitized);
                let dataset_part = self.sanitized.clone();
                self.target_name.push('-');
                sanitize_name_part_into(raw_namespace, "default", &mut self.sanitized);
                self.target_name.push_str(&self.sanitized);
                let fields = &mut self.data_stream_fields;
                fields.clear();
                fields.extend_from_slice(b",\"data_stream\":{\"type\":");
                write_str(fields, kind.as_bytes());
                fields.extend_from_slice(b",\"dataset\":");
                write_str(fields, dataset_part.as_bytes());
                fields.extend_from_slice(b",\"namespace\":");
                write_str(fields, self.sanitized.as_bytes());
                fields.extend_from_slice(b"}}");
                self.target_made_from = Some((raw_dataset.to_string(), raw_namespace.to_string()));
            }
            TargetStrategy::Index(template) => {
                if template.render(event, &mut self.rendered).is_some() {
                    self.stats.missing_target_fields += 1;
                }
                sanitize_index_name_into(&self.rendered, &mut self.target_name);
            }
        }
    }

    /// Fills `id_text` (empty = no `_id`); returns whether the id is deterministic.
    fn render_id(&mut self, event: &Event) -> bool {
        self.id_text.clear();
        self.id_needs_escaping = false;
        match &self.id {
            IdStrategy::None => false,
            IdStrategy::Auto => {
                auto_id(event.meta.origin, &self.document, &mut self.id_text);
                true
            }
            IdStrategy::Template(t) => {
                // The value as it is: ids may hold any character (they are JSON-escaped in
                // the action line), and neutralising `/` as for index names would give
                // `a/b` and `a_b` one id, so the second document would read as already
                // stored.
                let missing = t.render_raw(event, &mut self.rendered).is_some();
                if missing || self.rendered.is_empty() {
                    self.stats.missing_id_fields += 1;
                    auto_id(event.meta.origin, &self.document, &mut self.id_text);
                } else if self.rendered.len() > MAX_ID_BYTES {
                    push_base64url(&hash128(self.rendered.as_bytes()), &mut self.id_text);
                } else {
                    self.id_text.extend_from_slice(self.rendered.as_bytes());
                    self.id_needs_escaping = true;
                }
                true
            }
        }
    }
}

/// The automatic id: the origin's 16 bytes, or a hash of the document.
fn auto_id(origin: Option<Origin>, document: &[u8], out: &mut Vec<u8>) {
    match origin {
        Some(o) => {
            let mut raw = [0u8; 16];
            raw[..8].copy_from_slice(&o.stream.to_be_bytes());
            raw[8..].copy_from_slice(&o.offset.to_be_bytes());
            push_base64url(&raw, out);
        }
        None => push_base64url(&hash128(document), out),
    }
}

/// URL-safe base64 without padding of an id's 16 bytes: 22 characters, written straight
/// into `out` (the general encoder sized, zeroed and re-checked a buffer for every event).
fn push_base64url(raw: &[u8; 16], out: &mut Vec<u8>) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    // The 128 bits read from the top, six at a time (each half with fixed shifts): ten
    // characters from the first 60 bits, one across the halves, ten more, and the last two
    // bits followed by four zero bits.
    let hi = u64::from_be_bytes(raw[..8].try_into().unwrap_or_default());
    let lo = u64::from_be_bytes(raw[8..].try_into().unwrap_or_default());
    let mut text = [0u8; 22];
    for i in 0..10 {
        text[i] = ALPHABET[(hi >> (58 - 6 * i) & 63) as usize];
        text[11 + i] = ALPHABET[(lo >> (56 - 6 * i) & 63) as usize];
    }
    text[10] = ALPHABET[((hi & 15) << 2 | lo >> 62) as usize];
    text[21] = ALPHABET[((lo & 3) << 4) as usize];
    out.extend_from_slice(&text);
}

const K1: u64 = 0x9E37_79B9_7F4A_7C15;
const K2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const K3: u64 = 0x1656_67B1_9E37_79F9;

fn fold(x: u64, k: u64) -> u64 {
    let r = (x as u128).wrapping_mul(k as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

fn avalanche(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^= x >> 33;
    x = x.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    x ^ (x >> 33)
}

/// A fast, stable (never changes between releases) 128-bit non-cryptographic hash: two lanes of
/// folded multiplies over 8-byte words, finished with murmur's avalanche. Stability matters
/// more than speed here: ids hashed by one release must match ids hashed by the next.
pub fn hash128(bytes: &[u8]) -> [u8; 16] {
    let mut a: u64 = K1 ^ bytes.len() as u64;
    let mut b: u64 = K2.rotate_left(17) ^ (bytes.len() as u64).wrapping_mul(K3);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let v = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        a = fold(a ^ v, K1 ^ b.rotate_left(7)).wrapping_add(K3);
        b = fold(b ^ v.rotate_left(29), K2 ^ a.rotate_left(11)).wrapping_add(K1);
    }
    let tail = chunks.remainder();
    let mut last = [0u8; 8];
    last[..tail.len()].copy_from_slice(tail);
    let v = u64::from_le_bytes(last) ^ ((tail.len() as u64) << 56);
    a = fold(a ^ v, K1 ^ b);
    b = fold(b ^ v.rotate_left(29), K2 ^ a);
    let hi = avalanche(a ^ b.rotate_left(32));
    let lo = avalanche(b ^ hi);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&hi.to_be_bytes());
    out[8..].copy_from_slice(&lo.to_be_bytes());
    out
}

fn forbidden_in_index_name(c: char) -> bool {
    matches!(
        c,
        '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ' ' | ',' | '#' | ':'
    ) || c.is_control()
        || c.is_whitespace()
}

/// A data stream type, dataset or namespace following Elasticsearch's rules: lowercase, none
/// of `\ / * ? " < > | , # :`, spaces or `-` (those become `_`), at most 100 bytes; an empty
/// value becomes `fallback`.
pub fn sanitize_name_part(raw: &str, fallback: &str) -> String {
    let mut out = String::new();
    sanitize_name_part_into(raw, fallback, &mut out);
    out
}

fn sanitize_name_part_into(raw: &str, fallback: &str, out: &mut String) {
    out.clear();
    if raw.is_ascii() && raw.len() <= MAX_NAME_PART_BYTES {
        // The usual case, per event: a byte loop (ASCII lowercases to one byte).
        for b in raw.bytes() {
            let c = char::from(b);
            out.push(if c == '-' || forbidden_in_index_name(c) {
                '_'
            } else {
                c.to_ascii_lowercase()
            });
        }
    } else {
        sanitize_chars(raw, out);
    }
    if out.is_empty() || out == "." || out == ".." {
        out.clear();
        out.push_str(fallback);
    }
}

fn sanitize_chars(raw: &str, out: &mut String) {
    for c in raw.chars() {
        let c = if c == '-' || forbidden_in_index_name(c) {
            '_'
        } else {
            c
        };
        for l in c.to_lowercase() {
            if out.len() + l.len_utf8() > MAX_NAME_PART_BYTES {
                break;
            }
            out.push(l);
        }
    }
}

/// An index name following Elasticsearch's rules: lowercase, forbidden characters become `_`,
/// no leading `-`, `_`, `+` or `.`, at most 255 bytes.
pub fn sanitize_index_name_into(raw: &str, out: &mut String) {
    out.clear();
    let trimmed = raw.trim_start_matches(['-', '_', '+', '.']);
    for c in trimmed.chars() {
        let c = if forbidden_in_index_name(c) { '_' } else { c };
        for l in c.to_lowercase() {
            if out.len() + l.len_utf8() > MAX_INDEX_NAME_BYTES {
                break;
            }
            out.push(l);
        }
    }
    if out.is_empty() {
        out.push_str("logweir");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{FieldPath, Value};
    use crate::template::Template;
    use bytes::Bytes;

    #[test]
    fn ids_are_url_safe_base64_without_padding() {
        use base64::Engine;
        let mut state = 0x1234_5678_9abc_def0u64;
        for n in 0..2000 {
            let mut raw = [0u8; 16];
            for b in &mut raw {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                *b = (state >> 56) as u8;
            }
            if n == 0 {
                raw = [0xff; 16];
            }
            let mut ours = b"x".to_vec();
            push_base64url(&raw, &mut ours);
            let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
            assert_eq!(String::from_utf8(ours).unwrap(), format!("x{expected}"));
        }
    }

    fn ds_encoder(id: IdStrategy) -> BulkEncoder {
        BulkEncoder::new(
            TargetStrategy::DataStream {
                kind: "logs".to_string(),
                dataset: Template::parse("{{ kubernetes.namespace }}").unwrap(),
                namespace: Template::parse("default").unwrap(),
                sync_fields: true,
            },
            id,
        )
    }

    fn event(ns: Option<&str>, msg: &str) -> Event {
        let mut e = Event::from_message(
            Bytes::copy_from_slice(msg.as_bytes()),
            1_700_000_000_000_000_000,
        );
        if let Some(ns) = ns {
            e.insert(
                &FieldPath::parse("kubernetes.namespace").unwrap(),
                Value::from(ns),
            );
        }
        e
    }

    fn lines(batch: &BulkBatch) -> Vec<serde_json::Value> {
        assert_eq!(batch.body.last(), Some(&b'\n'));
        batch
            .body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    }

    #[test]
    fn the_ascii_fast_path_sanitizes_like_the_char_path() {
        for raw in [
            "Shop-Cart",
            "a*b\"c d/e\\f<g>h|i?j,k#l:m",
            "UPPER_lower-123",
            ".",
            "..",
            "",
            "kube-system",
            "a.b+c",
        ] {
            let mut fast = String::new();
            sanitize_name_part_into(raw, "fb", &mut fast);
            let mut slow = String::new();
            sanitize_chars(raw, &mut slow);
            if slow.is_empty() || slow == "." || slow == ".." {
                slow = "fb".into();
            }
            assert_eq!(fast, slow, "{raw:?}");
        }
    }

    #[test]
    fn data_stream_items_use_create_with_sanitised_names() {
        let mut enc = ds_encoder(IdStrategy::Auto);
        let mut batch = BulkBatch::default();
        enc.encode(
            &mut event(Some("Kube-System"), "a \"quoted\" line"),
            &mut batch,
        );
        enc.encode(&mut event(None, "no namespace"), &mut batch);
        let l = lines(&batch);
        assert_eq!(l.len(), 4);
        assert_eq!(l[0]["create"]["_index"], "logs-kube_system-default");
        assert_eq!(l[1]["message"], "a \"quoted\" line");
        assert_eq!(l[1]["data_stream"]["dataset"], "kube_system");
        assert_eq!(l[1]["data_stream"]["namespace"], "default");
        assert_eq!(l[1]["@timestamp"], "2023-11-14T22:13:20.000Z");
        assert_eq!(l[2]["create"]["_index"], "logs-generic-default");
        assert_eq!(enc.stats.missing_target_fields, 1);
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(batch.document(1)).unwrap(),
            l[3]
        );
        assert!(batch.action_line(1).starts_with(b"{\"create\""));
        let subset = {
            let mut out = Vec::new();
            batch.write_subset(&[1], &mut out);
            out
        };
        assert!(subset.starts_with(b"{\"create\":{\"_index\":\"logs-generic-default\""));
        assert!(subset.ends_with(b"}\n"));
    }

    #[test]
    fn auto_ids_come_from_origin_else_document_hash() {
        let mut enc = ds_encoder(IdStrategy::Auto);
        let mut batch = BulkBatch::default();
        let mut a = event(Some("shop"), "same");
        a.meta.origin = Some(Origin {
            stream: 7,
            offset: 42,
        });
        let mut b = a.clone();
        enc.encode(&mut a, &mut batch);
        enc.encode(&mut b, &mut batch);
        let mut c = event(Some("shop"), "same");
        let mut d = event(Some("shop"), "same");
        let mut e = event(Some("shop"), "different");
        enc.encode(&mut c, &mut batch);
        enc.encode(&mut d, &mut batch);
        enc.encode(&mut e, &mut batch);
        let l = lines(&batch);
        let id = |i: usize| l[i * 2]["create"]["_id"].as_str().unwrap().to_string();
        assert_eq!(id(0), "AAAAAAAAAAcAAAAAAAAAKg");
        assert_eq!(id(0), id(1));
        assert_eq!(id(2), id(3));
        assert_ne!(id(2), id(4));
        assert_eq!(id(2).len(), 22);
        assert!(batch.items.iter().all(|i| i.own_id));
    }

    #[test]
    fn template_ids_fall_back_when_the_field_is_missing() {
        let mut enc = ds_encoder(IdStrategy::Template(Template::parse("{{ seq }}").unwrap()));
        let mut batch = BulkBatch::default();
        let mut with = event(Some("x"), "m");
        with.fields.insert("seq", Value::Integer(17));
        enc.encode(&mut with, &mut batch);
        enc.encode(&mut event(Some("x"), "m"), &mut batch);
        let l = lines(&batch);
        assert_eq!(l[0]["create"]["_id"], "17");
        assert_eq!(l[2]["create"]["_id"].as_str().unwrap().len(), 22);
        assert_eq!(enc.stats.missing_id_fields, 1);

        // Any character is kept: distinct values, distinct ids.
        let mut batch = BulkBatch::default();
        for id in ["a/b", "a_b", "back\\slash \"quoted\"", ".hidden"] {
            let mut e = event(Some("x"), "m");
            e.fields.insert("seq", Value::from(id));
            enc.encode(&mut e, &mut batch);
        }
        let ids: Vec<_> = lines(&batch)
            .iter()
            .step_by(2)
            .map(|a| a["create"]["_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids, ["a/b", "a_b", "back\\slash \"quoted\"", ".hidden"]);

        let mut none = ds_encoder(IdStrategy::None);
        let mut batch = BulkBatch::default();
        none.encode(&mut event(Some("x"), "m"), &mut batch);
        let l = lines(&batch);
        assert!(l[0]["create"].get("_id").is_none());
        assert!(!batch.items[0].own_id);
    }

    #[test]
    fn a_recycled_batch_is_empty_and_keeps_its_memory() {
        let mut enc = ds_encoder(IdStrategy::Auto);
        let mut batch = BulkBatch::default();
        for i in 0..100 {
            enc.encode(&mut event(None, &format!("line {i}")), &mut batch);
        }
        let (body_cap, items_cap) = (batch.body.capacity(), batch.items.capacity());
        let on_the_wire = batch.wire_body();
        let held = batch.recycle();
        // The request still held the body: only the item list could be kept.
        assert!(held.is_empty() && held.body.is_empty() && held.text().is_empty());
        assert_eq!(held.items.capacity(), items_cap);
        assert!(held.body.capacity() < body_cap);
        assert!(on_the_wire.starts_with(b"{\"create\""));

        let mut batch = held;
        for i in 0..100 {
            enc.encode(&mut event(None, &format!("line {i}")), &mut batch);
        }
        let body_cap = batch.body.capacity();
        drop(batch.wire_body());
        let reused = batch.recycle();
        assert!(reused.is_empty() && reused.body.is_empty());
        assert!(reused.body.capacity() >= body_cap);
        assert_eq!(reused.items.capacity(), items_cap);
    }

    #[test]
    fn fixed_targets_are_rendered_once_and_written_for_every_event() {
        let mut ds = BulkEncoder::new(
            TargetStrategy::DataStream {
                kind: "logs".into(),
                dataset: Template::parse("Web.Front").unwrap(),
                namespace: Template::parse("prod").unwrap(),
                sync_fields: true,
            },
            IdStrategy::Auto,
        );
        let mut index = BulkEncoder::new(
            TargetStrategy::Index(Template::parse("Audit").unwrap()),
            IdStrategy::None,
        );
        let (mut a, mut b) = (BulkBatch::default(), BulkBatch::default());
        for ns in [Some("x"), None, Some("y")] {
            ds.encode(&mut event(ns, "m"), &mut a);
            index.encode(&mut event(ns, "m"), &mut b);
        }
        let (a, b) = (lines(&a), lines(&b));
        for i in 0..3 {
            assert_eq!(a[i * 2]["create"]["_index"], "logs-web.front-prod");
            assert_eq!(a[i * 2 + 1]["data_stream"]["dataset"], "web.front");
            assert_eq!(b[i * 2]["index"]["_index"], "audit");
        }
        assert!(ds.target_fixed && index.target_fixed);
        assert_eq!(ds.stats.missing_target_fields, 0);
    }

    #[test]
    fn index_mode_uses_index_action_and_dated_names() {
        let mut enc = BulkEncoder::new(
            TargetStrategy::Index(Template::parse("_Logs-{{ app }}-%Y.%m.%d").unwrap()),
            IdStrategy::Auto,
        );
        let mut batch = BulkBatch::default();
        let mut e = event(None, "m");
        e.fields.insert("app", Value::from("My App"));
        enc.encode(&mut e, &mut batch);
        let l = lines(&batch);
        assert_eq!(l[0]["index"]["_index"], "logs-my_app-2023.11.14");
        assert!(l[1].get("data_stream").is_none());

        // Targets changing from event to event, and ids from the event that need escaping.
        let mut enc = BulkEncoder::new(
            TargetStrategy::Index(Template::parse("{{ app }}").unwrap()),
            IdStrategy::Template(Template::parse("{{ key }}").unwrap()),
        );
        let mut batch = BulkBatch::default();
        for (app, key) in [("a", "1"), ("b", "say \"hi\""), ("b", "3"), ("a", "4")] {
            let mut e = event(None, "m");
            e.fields.insert("app", Value::from(app));
            e.fields.insert("key", Value::from(key));
            enc.encode(&mut e, &mut batch);
        }
        let l = lines(&batch);
        let actions: Vec<_> = (0..4)
            .map(|i| {
                let a = &l[i * 2]["index"];
                (a["_index"].as_str().unwrap(), a["_id"].as_str().unwrap())
            })
            .collect();
        assert_eq!(
            actions,
            [("a", "1"), ("b", "say \"hi\""), ("b", "3"), ("a", "4")]
        );
    }

    #[test]
    fn name_parts_follow_elasticsearch_rules() {
        assert_eq!(sanitize_name_part("Kube-System", "g"), "kube_system");
        assert_eq!(sanitize_name_part("a b/c*d:e#f", "g"), "a_b_c_d_e_f");
        assert_eq!(sanitize_name_part("", "generic"), "generic");
        assert_eq!(sanitize_name_part("..", "generic"), "generic");
        assert_eq!(sanitize_name_part(&"x".repeat(300), "g").len(), 100);
        assert_eq!(sanitize_name_part("東京", "g"), "東京");
    }

    #[test]
    fn hash_is_stable_and_spreads() {
        // Fixed value: changing the hash would change every automatic id (duplicates after an
        // upgrade), so this must never change.
        let mut id = Vec::new();
        push_base64url(&hash128(b"hello world"), &mut id);
        assert_eq!(id, b"v_mcKBnwWYWfFSycoi_D2w");
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000u32 {
            assert!(seen.insert(hash128(format!("line {i}").as_bytes())));
        }
        assert_ne!(hash128(b""), hash128(b"\0"));
        assert_ne!(hash128(b"abcdefgh"), hash128(b"abcdefgh\0"));
    }
}
