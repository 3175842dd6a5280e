//! Re-joins lines that the container runtime split: CRI `P` fragments up to the closing `F`,
//! Docker `log` values without a trailing `\n` up to the one that has it.
//!
//! Owns the per-file (per stream, if the runtime interleaves the stdout and stderr fragments of
//! one file) join buffer and its bound: a logical line longer than `max_bytes` is emitted as
//! soon as the bound is crossed, cut to `max_bytes` (at a UTF-8 character boundary when the
//! cut falls inside one) and flagged `truncated`; the rest of that line is discarded up to its
//! final fragment, so memory stays bounded by `max_bytes`. Unsplit lines are passed through
//! borrowed, so the common case neither copies nor allocates.

use std::borrow::Cow;

/// Capacity kept by the join buffer between lines; a larger buffer (a very long line) is
/// shrunk back so idle files do not hold on to it.
const KEEP_CAPACITY: usize = 64 * 1024;

/// A complete logical line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined<'a> {
    /// Borrowed from the fragment passed to `push` when the line was not split (or cut at
    /// `max_bytes` from one fragment), otherwise from the joiner's buffer (valid until the
    /// next call on the joiner; `into_owned()` to keep it).
    pub text: Cow<'a, [u8]>,
    /// The line was longer than `max_bytes`: `text` is its first `max_bytes` (or slightly fewer,
    /// to end on a character boundary) and the rest of it is discarded.
    pub truncated: bool,
    /// Number of fragments `text` was built from.
    pub fragments: u32,
}

/// Joins partial fragments into lines; one per file (see the module documentation).
#[derive(Debug)]
pub struct PartialJoiner {
    buf: Vec<u8>,
    max_bytes: usize,
    /// Fragments accumulated in `buf` for the current line (0: no line in progress).
    fragments: u32,
    /// A truncated line was emitted and its remaining fragments are being dropped.
    discarding: bool,
    /// `buf` was lent out by the last call and must be cleared by the next one.
    lent: bool,
}

impl PartialJoiner {
    /// `max_bytes`: the longest logical line kept (at least 1).
    pub fn new(max_bytes: usize) -> Self {
        PartialJoiner {
            buf: Vec::new(),
            max_bytes: max_bytes.max(1),
            fragments: 0,
            discarding: false,
            lent: false,
        }
    }

    /// Feeds one decoded fragment (`partial`: the line continues in the next fragment).
    /// Returns the complete line when this fragment ends it, or the truncated line when it
    /// crosses `max_bytes`; `None` while a line is accumulating or being discarded.
    pub fn push<'a>(&'a mut self, text: &'a [u8], partial: bool) -> Option<Joined<'a>> {
        self.reclaim();
        if self.discarding {
            self.discarding = partial;
            return None;
        }
        if self.fragments == 0 {
            if text.len() > self.max_bytes {
                self.discarding = partial;
                let cut = char_floor(text, self.max_bytes);
                return Some(Joined {
                    text: Cow::Borrowed(&text[..cut]),
                    truncated: true,
                    fragments: 1,
                });
            }
            if !partial {
                return Some(Joined {
                    text: Cow::Borrowed(text),
                    truncated: false,
                    fragments: 1,
                });
            }
        }
        self.fragments = self.fragments.saturating_add(1);
        let room = self.max_bytes - self.buf.len();
        if text.len() > room {
            let cut = char_floor(text, room);
            self.buf.extend_from_slice(&text[..cut]);
            self.discarding = partial;
            return Some(self.lend(true));
        }
        self.buf.extend_from_slice(text);
        if partial {
            None
        } else {
            Some(self.lend(false))
        }
    }

    /// Ends the line in progress and returns what was accumulated (at a flush timeout, at
    /// end of file or shutdown). Also ends the discarding of a truncated line: the next
    /// fragment starts a new line.
    pub fn take_pending(&mut self) -> Option<Joined<'_>> {
        self.reclaim();
        self.discarding = false;
        if self.fragments == 0 {
            return None;
        }
        Some(self.lend(false))
    }

    /// A line is in progress (some fragments are accumulated and not yet emitted).
    pub fn has_pending(&self) -> bool {
        self.fragments > 0
    }

    /// Drops any line in progress (file truncated or replaced).
    pub fn reset(&mut self) {
        self.lent = true;
        self.reclaim();
        self.fragments = 0;
        self.discarding = false;
    }

    fn lend(&mut self, truncated: bool) -> Joined<'_> {
        let fragments = std::mem::take(&mut self.fragments);
        self.lent = true;
        Joined {
            text: Cow::Borrowed(&self.buf),
            truncated,
            fragments,
        }
    }

    fn reclaim(&mut self) {
        if self.lent {
            self.lent = false;
            self.buf.clear();
            if self.buf.capacity() > KEEP_CAPACITY {
                self.buf.shrink_to(KEEP_CAPACITY);
            }
        }
    }
}

/// `at` (< `text.len()`), moved back to the start of the UTF-8 character it falls in, if it
/// falls inside one; unchanged for bytes that are not UTF-8. Shared with `multiline.rs`.
pub(super) fn char_floor(text: &[u8], at: usize) -> usize {
    let is_continuation = |b: u8| b & 0xC0 == 0x80;
    let mut cut = at;
    while cut > 0 && at - cut < 3 && text.get(cut).copied().is_some_and(is_continuation) {
        cut -= 1;
    }
    match text.get(cut) {
        Some(&lead) if cut < at && lead >= 0xC0 => cut,
        _ => at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn push(j: &mut PartialJoiner, text: &str, partial: bool) -> Option<(String, bool, u32)> {
        j.push(text.as_bytes(), partial).map(|l| {
            (
                String::from_utf8(l.text.into_owned()).unwrap(),
                l.truncated,
                l.fragments,
            )
        })
    }

    fn line(text: &str, truncated: bool, fragments: u32) -> Option<(String, bool, u32)> {
        Some((text.to_owned(), truncated, fragments))
    }

    #[test]
    fn passes_unsplit_lines_borrowed() {
        let mut j = PartialJoiner::new(100);
        let text = b"whole line".to_vec();
        let out = j.push(&text, false).unwrap();
        assert!(matches!(out.text, Cow::Borrowed(t) if t.as_ptr() == text.as_ptr()));
        assert_eq!((out.truncated, out.fragments), (false, 1));
        assert!(!j.has_pending());
        assert!(j.take_pending().is_none());
        assert_eq!(push(&mut j, "", false), line("", false, 1));
    }

    #[test]
    fn joins_fragments() {
        let mut j = PartialJoiner::new(100);
        assert_eq!(push(&mut j, "2020-03-24 Single ", true), None);
        assert!(j.has_pending());
        assert_eq!(push(&mut j, "li", true), None);
        assert_eq!(
            push(&mut j, "ne", false),
            line("2020-03-24 Single line", false, 3)
        );
        assert!(!j.has_pending());
        assert_eq!(push(&mut j, "next", false), line("next", false, 1));
        // Empty fragments count but add nothing.
        assert_eq!(push(&mut j, "a", true), None);
        assert_eq!(push(&mut j, "", true), None);
        assert_eq!(push(&mut j, "", false), line("a", false, 3));
    }

    #[test]
    fn flushes_pending() {
        let mut j = PartialJoiner::new(100);
        assert_eq!(push(&mut j, "no end ", true), None);
        assert_eq!(push(&mut j, "yet", true), None);
        let out = j.take_pending().unwrap();
        assert_eq!(
            (&*out.text, out.truncated, out.fragments),
            (&b"no end yet"[..], false, 2)
        );
        assert!(!j.has_pending());
        assert!(j.take_pending().is_none());
        assert_eq!(push(&mut j, "fresh", false), line("fresh", false, 1));
    }

    #[test]
    fn truncates_and_discards_the_rest() {
        let mut j = PartialJoiner::new(10);
        assert_eq!(push(&mut j, "0123", true), None);
        assert_eq!(push(&mut j, "456", true), None);
        // Crossing the bound emits at once.
        assert_eq!(push(&mut j, "789abc", true), line("0123456789", true, 3));
        assert!(!j.has_pending());
        assert_eq!(push(&mut j, "def", true), None);
        assert_eq!(push(&mut j, "end", false), None);
        assert_eq!(push(&mut j, "after", false), line("after", false, 1));
        // Exactly max_bytes is not truncated.
        assert_eq!(push(&mut j, "01234", true), None);
        assert_eq!(push(&mut j, "56789", false), line("0123456789", false, 2));
        // The closing fragment crosses the bound: nothing left to discard.
        assert_eq!(push(&mut j, "01234", true), None);
        assert_eq!(push(&mut j, "56789X", false), line("0123456789", true, 2));
        assert_eq!(push(&mut j, "ok", false), line("ok", false, 1));
        // A single fragment longer than the bound, unsplit or first of several.
        assert_eq!(
            push(&mut j, "0123456789ABC", false),
            line("0123456789", true, 1)
        );
        assert_eq!(push(&mut j, "ok", false), line("ok", false, 1));
        assert_eq!(
            push(&mut j, "0123456789ABC", true),
            line("0123456789", true, 1)
        );
        assert_eq!(push(&mut j, "dropped", false), None);
        assert_eq!(push(&mut j, "ok", false), line("ok", false, 1));
        // A flush during discarding ends the line.
        assert_eq!(
            push(&mut j, "0123456789ABC", true),
            line("0123456789", true, 1)
        );
        assert!(j.take_pending().is_none());
        assert_eq!(push(&mut j, "new", false), line("new", false, 1));
    }

    #[test]
    fn truncates_at_char_boundaries() {
        let mut j = PartialJoiner::new(6);
        // "é" is 2 bytes, "😀" 4: the cut at 6 falls inside the emoji.
        assert_eq!(push(&mut j, "ab", true), None);
        assert_eq!(push(&mut j, "é😀", false), line("abé", true, 2));
        assert_eq!(push(&mut j, "abcd😀", false), line("abcd", true, 1));
        assert_eq!(push(&mut j, "abcdef😀", false), line("abcdef", true, 1));
        // Not UTF-8: cut at the byte bound.
        let out = j.push(b"abcde\x80\x80\x80\x80", false).unwrap();
        assert_eq!(&*out.text, b"abcde\x80");
    }

    #[test]
    fn reset_drops_the_line() {
        let mut j = PartialJoiner::new(10);
        assert_eq!(push(&mut j, "abc", true), None);
        j.reset();
        assert!(!j.has_pending());
        assert_eq!(push(&mut j, "x", false), line("x", false, 1));
    }

    #[test]
    fn shrinks_after_long_lines() {
        let mut j = PartialJoiner::new(1 << 20);
        let big = vec![b'x'; 200_000];
        assert!(j.push(&big, true).is_none());
        assert_eq!(j.push(b"", false).unwrap().text.len(), 200_000);
        assert!(j.push(b"a", true).is_none());
        assert!(j.buf.capacity() <= KEEP_CAPACITY);
    }

    proptest! {
        /// Emitted text is bounded and, for lines within the bound, is the concatenation of
        /// the fragments.
        #[test]
        fn joins_within_bounds(
            max in 1usize..40,
            frags in proptest::collection::vec(
                (proptest::collection::vec(any::<u8>(), 0..20), any::<bool>()), 0..40),
        ) {
            let mut j = PartialJoiner::new(max);
            let mut current: Vec<u8> = Vec::new();
            let mut discarding = false;
            for (text, partial) in &frags {
                let was_discarding = discarding;
                current.extend_from_slice(text);
                let out = j.push(text, *partial).map(|l| (l.text.into_owned(), l.truncated));
                if was_discarding {
                    prop_assert!(out.is_none());
                    discarding = *partial;
                    current.clear();
                    continue;
                }
                match out {
                    Some((text, true)) => {
                        prop_assert!(current.len() > max);
                        prop_assert!(text.len() <= max && text.len() + 3 >= max.min(current.len()));
                        prop_assert_eq!(&text[..], &current[..text.len()]);
                        discarding = *partial;
                        current.clear();
                    }
                    Some((text, false)) => {
                        prop_assert!(!*partial);
                        prop_assert_eq!(&text, &current);
                        current.clear();
                    }
                    None => prop_assert!(*partial && current.len() <= max),
                }
                prop_assert!(j.buf.len() <= max);
            }
        }
    }
}
