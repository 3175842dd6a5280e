//! What a network source counts: connections, refusals, bad input. Each count is kept twice,
//! in an atomic (read by the closing summary log line, which tests and operators rely on) and
//! in a `metrics` counter or gauge (exported when a recorder is installed; free otherwise).
//!
//! Bad input is never logged once per message: [`RateLimitedLog`] warns on the first
//! occurrence of a kind and then only when its count reaches a power of two.

use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{Counter, Gauge};

/// The kinds of trouble a network source counts, as the `error_type` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// A frame longer than `max_frame_bytes` was cut.
    Truncated,
    /// A connection over `max_connections` was closed right after accept.
    ConnectionRefused,
    /// A connection sent nothing for `connection_idle_timeout_secs`.
    IdleTimeout,
    /// A TLS handshake failed or timed out.
    TlsHandshake,
    /// A syslog frame that is not syslog (kept whole, tagged `syslog_parse_failure`).
    SyslogParse,
    /// A `json` line that is not a JSON object (kept as `message`, tagged `parse_failure`).
    JsonParse,
    /// Text that is not UTF-8 (invalid sequences replaced, tagged `invalid_utf8`).
    InvalidUtf8,
    /// `accept` or a read on a socket failed.
    Io,
}

impl ErrorType {
    const ALL: [ErrorType; 8] = [
        ErrorType::Truncated,
        ErrorType::ConnectionRefused,
        ErrorType::IdleTimeout,
        ErrorType::TlsHandshake,
        ErrorType::SyslogParse,
        ErrorType::JsonParse,
        ErrorType::InvalidUtf8,
        ErrorType::Io,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Truncated => "truncated",
            ErrorType::ConnectionRefused => "connection_refused",
            ErrorType::IdleTimeout => "idle_timeout",
            ErrorType::TlsHandshake => "tls_handshake",
            ErrorType::SyslogParse => "syslog_parse_failure",
            ErrorType::JsonParse => "parse_failure",
            ErrorType::InvalidUtf8 => "invalid_utf8",
            ErrorType::Io => "io",
        }
    }
}

/// Counters of one network source, shared by its accept loop and connection tasks.
#[derive(Debug)]
pub struct SourceCounters {
    pub component_id: String,
    errors: [AtomicU64; ErrorType::ALL.len()],
    error_counters: [Counter; ErrorType::ALL.len()],
    logs: [RateLimitedLog; ErrorType::ALL.len()],
    events: AtomicU64,
    events_counter: Counter,
    bytes: AtomicU64,
    bytes_counter: Counter,
    accepted: AtomicU64,
    open: AtomicU64,
    open_gauge: Gauge,
}

impl SourceCounters {
    pub fn new(component_id: &str) -> SourceCounters {
        let id = component_id.to_string();
        SourceCounters {
            component_id: id.clone(),
            errors: Default::default(),
            error_counters: ErrorType::ALL.map(|t| {
                metrics::counter!("logweir_component_errors_total", "component_id" => id.clone(), "error_type" => t.as_str())
            }),
            logs: Default::default(),
            events: AtomicU64::new(0),
            events_counter: metrics::counter!("logweir_component_received_events_total", "component_id" => id.clone()),
            bytes: AtomicU64::new(0),
            bytes_counter: metrics::counter!("logweir_component_received_bytes_total", "component_id" => id.clone()),
            accepted: AtomicU64::new(0),
            open: AtomicU64::new(0),
            open_gauge: metrics::gauge!("logweir_source_open_connections", "component_id" => id),
        }
    }

    /// Counts `n` occurrences of `kind`; warns (rate-limited) with `detail`.
    pub fn error(&self, kind: ErrorType, n: u64, detail: &dyn std::fmt::Display) {
        if n == 0 {
            return;
        }
        let i = kind as usize;
        let total = self.errors[i].fetch_add(n, Ordering::Relaxed) + n;
        self.error_counters[i].increment(n);
        if self.logs[i].should_log(total) {
            tracing::warn!(
                component_id = %self.component_id,
                error_type = kind.as_str(),
                total,
                detail = %detail,
                "network source input problem (logged at 1, 2, 4, 8, … occurrences)"
            );
        }
    }

    pub fn errors(&self, kind: ErrorType) -> u64 {
        self.errors[kind as usize].load(Ordering::Relaxed)
    }

    /// Counts events and payload bytes received (once per batch).
    pub fn received(&self, events: u64, bytes: u64) {
        self.events.fetch_add(events, Ordering::Relaxed);
        self.events_counter.increment(events);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.bytes_counter.increment(bytes);
    }

    pub fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    pub fn open_connections(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Registers an accepted connection if fewer than `max` are open; the guard unregisters
    /// it when dropped.
    pub fn try_open(self: &std::sync::Arc<Self>, max: u64) -> Option<ConnectionGuard> {
        let mut current = self.open.load(Ordering::Relaxed);
        loop {
            if current >= max {
                return None;
            }
            match self.open.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.open_gauge.increment(1.0);
        Some(ConnectionGuard {
            counters: std::sync::Arc::clone(self),
        })
    }

    /// One structured line with every count, for the end of the source.
    pub fn log_summary(&self, message: &'static str) {
        tracing::info!(
            component_id = %self.component_id,
            events = self.events(),
            bytes = self.bytes(),
            connections_accepted = self.accepted(),
            connections_refused = self.errors(ErrorType::ConnectionRefused),
            idle_timeouts = self.errors(ErrorType::IdleTimeout),
            tls_handshake_failures = self.errors(ErrorType::TlsHandshake),
            truncated = self.errors(ErrorType::Truncated),
            syslog_parse_failures = self.errors(ErrorType::SyslogParse),
            json_parse_failures = self.errors(ErrorType::JsonParse),
            invalid_utf8 = self.errors(ErrorType::InvalidUtf8),
            io_errors = self.errors(ErrorType::Io),
            "{message}"
        );
    }
}

/// An open connection slot; released on drop.
#[derive(Debug)]
pub struct ConnectionGuard {
    counters: std::sync::Arc<SourceCounters>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.counters.open.fetch_sub(1, Ordering::AcqRel);
        self.counters.open_gauge.decrement(1.0);
    }
}

/// Decides when a repeated problem deserves a log line: the first time, then at powers of two.
#[derive(Debug, Default)]
pub struct RateLimitedLog {
    last_logged_power: AtomicU64,
}

impl RateLimitedLog {
    /// Whether the `total`-th occurrence (after adding a run of several) should be logged.
    pub fn should_log(&self, total: u64) -> bool {
        // The highest power of two not above `total`; log once per new power reached.
        let power = 64 - u64::from(total.leading_zeros());
        self.last_logged_power.fetch_max(power, Ordering::Relaxed) < power
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_at_powers_of_two_only() {
        let log = RateLimitedLog::default();
        let logged: Vec<u64> = (1..=20).filter(|&n| log.should_log(n)).collect();
        assert_eq!(logged, [1, 2, 4, 8, 16]);
        // A run that jumps over several powers logs once.
        let log = RateLimitedLog::default();
        assert!(log.should_log(100));
        assert!(!log.should_log(101));
        assert!(log.should_log(128));
    }

    #[test]
    fn connection_slots_are_bounded_and_released() {
        let c = std::sync::Arc::new(SourceCounters::new("t"));
        let a = c.try_open(2).unwrap();
        let _b = c.try_open(2).unwrap();
        assert!(c.try_open(2).is_none());
        drop(a);
        assert!(c.try_open(2).is_some());
        assert_eq!(c.accepted(), 3);
    }
}
