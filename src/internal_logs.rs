//! Rate limiting of logweir's own repeated warnings.
//!
//! A component that meets the same problem on every event (a parser fed text of another
//! format) must not write one log line per event. A [`RateLimitedLog`] lets the first
//! occurrence of each key through, then at most one per window, and tells the caller how
//! many similar lines it suppressed meanwhile, to log as a `suppressed` field:
//!
//! ```
//! # use logweir::internal_logs::RateLimitedLog;
//! # use std::time::Duration;
//! let mut log = RateLimitedLog::new(Duration::from_secs(10));
//! # let component_id = "parse";
//! if let Some(suppressed) = log.allow("parse_failure") {
//!     tracing::warn!(component_id, suppressed, "event could not be parsed");
//! }
//! ```
//!
//! One limiter per component instance (no global lock, no shared map): keys are the
//! `&'static str` names of the component's call sites, so the key set is bounded by the code.

use std::time::{Duration, Instant};

/// The default window: one line per key every ten seconds.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(10);

/// Lets one log line per key and window through; see the module documentation.
#[derive(Debug, Clone)]
pub struct RateLimitedLog {
    window: Duration,
    keys: Vec<KeyState>,
}

#[derive(Debug, Clone)]
struct KeyState {
    key: &'static str,
    /// When the last line of this key was let through.
    last_emitted: Instant,
    suppressed: u64,
}

impl Default for RateLimitedLog {
    fn default() -> RateLimitedLog {
        RateLimitedLog::new(DEFAULT_WINDOW)
    }
}

impl RateLimitedLog {
    pub fn new(window: Duration) -> RateLimitedLog {
        RateLimitedLog {
            window,
            keys: Vec::new(),
        }
    }

    /// Whether a line of `key` may be logged now: `Some(n)` with the number of lines of
    /// that key suppressed since the last one let through, or `None` (counted as
    /// suppressed).
    pub fn allow(&mut self, key: &'static str) -> Option<u64> {
        self.allow_at(key, Instant::now())
    }

    /// [`allow`](Self::allow) at a given time (tests).
    pub fn allow_at(&mut self, key: &'static str, now: Instant) -> Option<u64> {
        let Some(state) = self.keys.iter_mut().find(|s| s.key == key) else {
            self.keys.push(KeyState {
                key,
                last_emitted: now,
                suppressed: 0,
            });
            return Some(0);
        };
        if now.saturating_duration_since(state.last_emitted) >= self.window {
            state.last_emitted = now;
            Some(std::mem::take(&mut state.suppressed))
        } else {
            state.suppressed += 1;
            None
        }
    }

    /// Lines suppressed since the last one let through, per key (for a closing summary).
    pub fn pending(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.keys
            .iter()
            .filter(|s| s.suppressed > 0)
            .map(|s| (s.key, s.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_passes_then_one_per_window_with_the_suppressed_count() {
        let mut log = RateLimitedLog::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(log.allow_at("a", t0), Some(0));
        for i in 1..=5 {
            assert_eq!(log.allow_at("a", t0 + Duration::from_secs(i)), None);
        }
        // Another key has its own budget.
        assert_eq!(log.allow_at("b", t0 + Duration::from_secs(1)), Some(0));
        assert_eq!(log.pending().collect::<Vec<_>>(), [("a", 5)]);
        assert_eq!(log.allow_at("a", t0 + Duration::from_secs(10)), Some(5));
        assert_eq!(log.allow_at("a", t0 + Duration::from_secs(11)), None);
        assert_eq!(log.allow_at("a", t0 + Duration::from_secs(25)), Some(1));
        assert_eq!(log.pending().count(), 0);
    }
}
