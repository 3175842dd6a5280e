//! Reading back what the Elasticsearch sink stored: demo `seq` numbers of documents.

use std::collections::HashMap;

/// The demo `seq` of a stored document: the `seq` field once `parse_json` lifted it, or
/// `seq=N` in the plain-text lines the demo source mixes in.
pub fn demo_seq(source: &serde_json::Value) -> Option<u64> {
    if let Some(n) = source.get("seq").and_then(|v| v.as_u64()) {
        return Some(n);
    }
    let msg = source.get("message")?.as_str()?;
    let rest = &msg[msg.find("seq=")? + 4..];
    let end = rest.find(' ').unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Checks that documents hold every seq in `0..count` exactly once; returns a description of
/// what is wrong, if anything.
pub fn check_exactly_once<'a>(
    sources: impl Iterator<Item = &'a serde_json::Value>,
    count: u64,
) -> Result<(), String> {
    let mut seen: HashMap<u64, u32> = HashMap::new();
    let mut without_seq = 0;
    for s in sources {
        match demo_seq(s) {
            Some(n) => *seen.entry(n).or_default() += 1,
            None => without_seq += 1,
        }
    }
    let duplicated: Vec<u64> = seen
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(n, _)| *n)
        .take(10)
        .collect();
    let missing: Vec<u64> = (0..count)
        .filter(|n| !seen.contains_key(n))
        .take(10)
        .collect();
    let extra = seen.keys().filter(|n| **n >= count).count();
    if duplicated.is_empty() && missing.is_empty() && extra == 0 && without_seq == 0 {
        Ok(())
    } else {
        Err(format!(
            "{} distinct seqs; duplicated (first 10): {duplicated:?}; missing (first 10): {missing:?}; out of range: {extra}; without seq: {without_seq}",
            seen.len()
        ))
    }
}
