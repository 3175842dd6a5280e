//! What is retried and why.
//!
//! Whole requests:
//! - connection errors, timeouts, `429` (cluster pushing back), `502`/`503`/`504` (node or
//!   proxy down, no master), `500` (transient node failure), `408`: retried with exponential
//!   backoff and jitter. The endpoint that failed (except for 429, which is the cluster's
//!   verdict, not the node's) is set aside so other nodes take the traffic.
//! - `401`/`403`: retried too, slowly and with an error log: the events are fine, the
//!   credentials or privileges are not, and those can be fixed on the cluster side without
//!   losing anything. Backpressure holds the data meanwhile.
//! - `413` (body larger than `http.max_content_length`): the request is split in halves; a
//!   single document that is still too large is dead-lettered.
//! - any other `4xx`: the request itself is wrong for this cluster and would fail again; its
//!   documents are dead-lettered with the response as reason.
//!
//! Items of a `200` bulk response:
//! - `2xx`: delivered.
//! - `409` `version_conflict_engine_exception` on `create` with an id we chose
//!   deterministically: an earlier attempt (a retry after a lost response, a replay after a
//!   crash) already stored this document: delivered, counted as a duplicate avoided.
//! - `429` and `5xx`: retried (only those items).
//! - anything else (`400` mapping and parsing errors, `404`, `409` without our id, `413`):
//!   refused for good: dead-lettered.
//!
//! Retries are unlimited by default (`max_retries` unset): nothing is dropped because the
//! cluster was away for a while; the sink stops pulling events instead (bounded memory).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What to do after a whole request failed with an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestVerdict {
    /// Try again later; `set_aside_endpoint` when the node itself looks unhealthy.
    Retry { set_aside_endpoint: bool },
    /// Split the request (or dead-letter a lone document).
    TooLarge,
    /// Dead-letter the request's documents.
    Reject,
}

/// The verdict for a non-2xx status of a whole bulk request.
pub fn request_verdict(status: u16) -> RequestVerdict {
    match status {
        429 => RequestVerdict::Retry {
            set_aside_endpoint: false,
        },
        401 | 403 | 408 => RequestVerdict::Retry {
            set_aside_endpoint: false,
        },
        500 | 502 | 503 | 504 => RequestVerdict::Retry {
            set_aside_endpoint: true,
        },
        413 => RequestVerdict::TooLarge,
        s if s >= 500 => RequestVerdict::Retry {
            set_aside_endpoint: true,
        },
        _ => RequestVerdict::Reject,
    }
}

/// What happened to one item of a bulk response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemVerdict {
    Delivered,
    /// Already stored by an earlier attempt.
    AlreadyStored,
    Retry,
    Reject,
}

/// The verdict for one bulk item.
pub fn item_verdict(status: u16, error_type: Option<&str>, own_id: bool) -> ItemVerdict {
    match status {
        200..=299 => ItemVerdict::Delivered,
        409 if own_id && error_type == Some("version_conflict_engine_exception") => {
            ItemVerdict::AlreadyStored
        }
        429 | 500..=599 => ItemVerdict::Retry,
        _ => ItemVerdict::Reject,
    }
}

/// Exponential backoff with "equal jitter": the delay for attempt `n` is uniformly drawn from
/// `[d/2, d]` with `d = min(initial × 2ⁿ, max)`, so concurrent requests spread out while never
/// hammering a recovering cluster.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        // Distinct per backoff even when created in the same nanosecond.
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let seed = crate::time::now_unix_nanos() as u64
            ^ SEQUENCE
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Backoff {
            initial,
            max,
            attempt: 0,
            rng: seed | 1,
        }
    }

    /// Attempts made so far.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The next delay (and counts the attempt).
    pub fn next_delay(&mut self) -> Duration {
        let exp = self.attempt.min(30);
        self.attempt = self.attempt.saturating_add(1);
        let full = self
            .initial
            .saturating_mul(1u32 << exp.min(20))
            .min(self.max);
        let half = full / 2;
        let span = (full - half).as_nanos() as u64;
        // xorshift64
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let jitter = if span == 0 { 0 } else { self.rng % (span + 1) };
        half + Duration::from_nanos(jitter)
    }

    /// Back to the first delay (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_requests_and_items() {
        assert_eq!(
            request_verdict(503),
            RequestVerdict::Retry {
                set_aside_endpoint: true
            }
        );
        assert_eq!(
            request_verdict(429),
            RequestVerdict::Retry {
                set_aside_endpoint: false
            }
        );
        assert_eq!(request_verdict(413), RequestVerdict::TooLarge);
        assert_eq!(request_verdict(400), RequestVerdict::Reject);
        assert_eq!(item_verdict(201, None, true), ItemVerdict::Delivered);
        assert_eq!(
            item_verdict(409, Some("version_conflict_engine_exception"), true),
            ItemVerdict::AlreadyStored
        );
        assert_eq!(
            item_verdict(409, Some("version_conflict_engine_exception"), false),
            ItemVerdict::Reject
        );
        assert_eq!(item_verdict(429, None, true), ItemVerdict::Retry);
        assert_eq!(item_verdict(503, None, true), ItemVerdict::Retry);
        assert_eq!(
            item_verdict(400, Some("document_parsing_exception"), true),
            ItemVerdict::Reject
        );
    }

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        let second = b.next_delay();
        assert!(second >= Duration::from_millis(100) && second <= Duration::from_millis(200));
        for _ in 0..40 {
            assert!(b.next_delay() <= Duration::from_secs(5));
        }
        // Capped delays keep at least half the cap.
        assert!(b.next_delay() >= Duration::from_millis(2500));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
