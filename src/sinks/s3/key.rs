//! Object keys: the `key` template rendered per event, with `{{ uuid }}` filled per object.
//!
//! `{{ uuid }}` is not an event field: it is replaced by a marker before the template is
//! parsed, so rendering an event gives the *group key* (the key with the uuid left out).
//! Events with the same group key go into the same object; when an object is opened the
//! marker is replaced by a fresh random UUID, so two objects never share a key.

use crate::event::Event;
use crate::template::Template;

/// Stands in for `{{ uuid }}` in rendered group keys. Field values cannot produce it (the
/// template replaces control characters in values), and templates containing it are rejected.
const UUID_MARKER: char = '\u{1}';

/// The parsed `key` template.
#[derive(Debug, Clone)]
pub struct KeyTemplate {
    template: Template,
}

impl KeyTemplate {
    pub fn parse(source: &str) -> Result<KeyTemplate, String> {
        if source.contains(UUID_MARKER) {
            return Err("`key` must not contain control characters".to_string());
        }
        let uuid = regex::Regex::new(r"\{\{\s*uuid\s*\}\}").expect("valid regex");
        if !uuid.is_match(source) {
            return Err(
                "`key` must contain `{{ uuid }}` so that objects never overwrite each other"
                    .to_string(),
            );
        }
        let replaced = uuid.replace_all(source, UUID_MARKER.to_string().as_str());
        let replaced = replaced.trim_start_matches('/');
        let template = Template::parse(replaced).map_err(|e| e.to_string())?;
        Ok(KeyTemplate { template })
    }

    /// Renders the group key of `event` into `out`; returns whether a field was missing.
    pub fn render_group(&self, event: &Event, out: &mut String) -> bool {
        self.template.render(event, out).is_some()
    }

    /// A fresh object key for a group.
    pub fn object_key(group: &str) -> String {
        let id = new_uuid();
        group.replace(UUID_MARKER, &id)
    }

    /// The group key as users see it (`{{ uuid }}` shown literally), for logs.
    pub fn display_group(group: &str) -> String {
        group.replace(UUID_MARKER, "{{ uuid }}")
    }
}

/// A random (version 4) UUID in its usual text form.
pub fn new_uuid() -> String {
    let mut v: u128 = rand::random();
    v = (v & !(0xf << 76)) | (0x4 << 76);
    v = (v & !(0x3 << 62)) | (0x2 << 62);
    let hex = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{FieldPath, Value};
    use bytes::Bytes;

    #[test]
    fn groups_without_the_uuid_and_fills_it_per_object() {
        let t = KeyTemplate::parse("{{ kubernetes.namespace }}/%Y/%m/%d/%H/{{uuid}}.ndjson.gz")
            .unwrap();
        let ts = crate::time::parse_rfc3339(b"2026-02-03T04:05:06Z").unwrap();
        let mut e = Event::from_message(Bytes::from_static(b"m"), ts);
        e.insert(
            &FieldPath::parse("kubernetes.namespace").unwrap(),
            Value::from("shop"),
        );
        let mut group = String::new();
        assert!(!t.render_group(&e, &mut group));
        assert_eq!(
            KeyTemplate::display_group(&group),
            "shop/2026/02/03/04/{{ uuid }}.ndjson.gz"
        );
        let a = KeyTemplate::object_key(&group);
        let b = KeyTemplate::object_key(&group);
        assert_ne!(a, b);
        assert!(a.starts_with("shop/2026/02/03/04/") && a.ends_with(".ndjson.gz"));
        let id = &a["shop/2026/02/03/04/".len()..a.len() - ".ndjson.gz".len()];
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
    }

    #[test]
    fn requires_a_uuid() {
        assert!(KeyTemplate::parse("logs/%Y.ndjson")
            .unwrap_err()
            .contains("uuid"));
    }
}
