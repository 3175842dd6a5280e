//! Taps: copies of the events leaving a component, for `GET /tap/{component_id}` and
//! `logweir tap`.
//!
//! Every producing component (source or transform) has a [`TapPoint`]. Its outputs check one
//! relaxed atomic flag per batch ([`TapPoint::is_active`]); only when someone is tapping do
//! they call [`TapPoint::offer`], which samples the batch for each subscriber (a token bucket
//! of `rate` events per second, and an optional total `limit`), serialises the sampled
//! events as NDJSON and hands them over with `try_send` on a bounded channel.
//!
//! A tap never slows the pipeline and never holds events: lines that do not fit the
//! subscriber's channel are dropped (counted in the stream's closing log), events are copied
//! as JSON text (their finalizers stay with the pipeline). Subscribers per component are
//! bounded by [`MAX_SUBSCRIBERS`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::event::Event;

/// Most simultaneous taps of one component.
pub const MAX_SUBSCRIBERS: usize = 8;
/// Chunks (one per tapped batch) waiting for a slow tap client before lines are dropped.
pub const SUBSCRIBER_CHANNEL_CHUNKS: usize = 64;

/// Why a tap cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TapError {
    #[error("no source or transform `{0}` (sinks have no output to tap)")]
    UnknownComponent(String),
    #[error("component `{0}` already has {MAX_SUBSCRIBERS} taps")]
    TooManySubscribers(String),
    #[error("`rate` must be at least 1")]
    ZeroRate,
}

/// Every tappable component of a running pipeline; cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Taps {
    points: Arc<Mutex<HashMap<String, Arc<TapPoint>>>>,
}

impl Taps {
    pub fn new() -> Taps {
        Taps::default()
    }

    /// The tap point of `component_id`, created on first use (the topology calls this for
    /// every producing component).
    pub fn point(&self, component_id: &str) -> Arc<TapPoint> {
        let mut points = self.points.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(
            points
                .entry(component_id.to_string())
                .or_insert_with(|| Arc::new(TapPoint::default())),
        )
    }

    /// Starts tapping `component_id`: at most `rate` events per second, at most `limit`
    /// events in all (`None`: until the client goes away or the pipeline ends).
    pub fn subscribe(
        &self,
        component_id: &str,
        rate: u64,
        limit: Option<u64>,
    ) -> Result<mpsc::Receiver<Bytes>, TapError> {
        if rate == 0 {
            return Err(TapError::ZeroRate);
        }
        let point = self
            .points
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(component_id)
            .cloned()
            .ok_or_else(|| TapError::UnknownComponent(component_id.to_string()))?;
        let (tx, rx) = mpsc::channel(SUBSCRIBER_CHANNEL_CHUNKS);
        let mut subscribers = point.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        subscribers.retain(|s| !s.tx.is_closed());
        if subscribers.len() >= MAX_SUBSCRIBERS {
            return Err(TapError::TooManySubscribers(component_id.to_string()));
        }
        subscribers.push(Subscriber {
            tx,
            bucket: TokenBucket::new(rate, Instant::now()),
            remaining: limit,
            dropped_lines: 0,
        });
        point.active.store(true, Ordering::Relaxed);
        Ok(rx)
    }

    /// Forgets `component_id` (a reload removed it): its taps end, new ones are refused.
    pub fn remove(&self, component_id: &str) {
        let point = self
            .points
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(component_id);
        if let Some(point) = point {
            point.active.store(false, Ordering::Relaxed);
            point
                .subscribers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
        }
    }

    /// Ends every tap (the pipeline finished): their streams end.
    pub fn close_all(&self) {
        for point in self
            .points
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            point.active.store(false, Ordering::Relaxed);
            point
                .subscribers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
        }
    }
}

/// The tap of one component; see the module documentation.
#[derive(Debug, Default)]
pub struct TapPoint {
    active: AtomicBool,
    subscribers: Mutex<Vec<Subscriber>>,
}

#[derive(Debug)]
struct Subscriber {
    tx: mpsc::Sender<Bytes>,
    bucket: TokenBucket,
    remaining: Option<u64>,
    dropped_lines: u64,
}

impl TapPoint {
    /// Whether anyone taps this component: the only cost of a tap point when unused.
    #[inline]
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Copies a sample of `events` to every subscriber.
    pub fn offer(&self, events: &[Event]) {
        self.offer_at(events, Instant::now());
    }

    fn offer_at(&self, events: &[Event], now: Instant) {
        let mut subscribers = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        let mut line = Vec::new();
        subscribers.retain_mut(|s| {
            if s.tx.is_closed() {
                return s.end();
            }
            let mut take = s.bucket.take(events.len() as u64, now);
            if let Some(remaining) = s.remaining {
                take = take.min(remaining);
            }
            // Spread the sample over the batch rather than taking its head.
            if let Some(step) = (events.len() as u64).checked_div(take) {
                line.clear();
                let step = step.max(1) as usize;
                for event in events.iter().step_by(step).take(take as usize) {
                    crate::codec::json::write_object(&mut line, &event.fields);
                    line.push(b'\n');
                }
                match s.tx.try_send(Bytes::copy_from_slice(&line)) {
                    Ok(()) => {
                        if let Some(remaining) = &mut s.remaining {
                            *remaining -= take;
                        }
                    }
                    Err(mpsc::error::TrySendError::Full(_)) => s.dropped_lines += take,
                    Err(mpsc::error::TrySendError::Closed(_)) => return s.end(),
                }
            }
            if s.remaining == Some(0) {
                return s.end();
            }
            true
        });
        if subscribers.is_empty() {
            self.active.store(false, Ordering::Relaxed);
        }
    }
}

impl Subscriber {
    /// Logs how the tap went; returns `false` (for `retain`).
    fn end(&self) -> bool {
        if self.dropped_lines > 0 {
            tracing::info!(
                dropped_events = self.dropped_lines,
                "tap ended; events were left out because the client read too slowly"
            );
        }
        false
    }
}

/// `rate` tokens per second, holding at most `rate` (one second of burst).
#[derive(Debug, Clone)]
struct TokenBucket {
    rate: u64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: u64, now: Instant) -> TokenBucket {
        TokenBucket {
            rate,
            tokens: rate as f64,
            last: now,
        }
    }

    /// Takes up to `wanted` whole tokens; returns how many it took.
    fn take(&mut self, wanted: u64, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate as f64).min(self.rate as f64);
        let take = (self.tokens.floor() as u64).min(wanted);
        self.tokens -= take as f64;
        take
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn events(n: usize) -> Vec<Event> {
        (0..n)
            .map(|i| Event::from_json(&serde_json::json!({"i": i}), 0))
            .collect()
    }

    fn lines(rx: &mut mpsc::Receiver<Bytes>) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        while let Ok(chunk) = rx.try_recv() {
            for l in std::str::from_utf8(&chunk).unwrap().lines() {
                out.push(serde_json::from_str(l).unwrap());
            }
        }
        out
    }

    #[test]
    fn inactive_until_subscribed_and_unknown_components_are_refused() {
        let taps = Taps::new();
        let point = taps.point("parse");
        assert!(!point.is_active());
        assert_eq!(
            taps.subscribe("nope", 10, None).unwrap_err(),
            TapError::UnknownComponent("nope".into())
        );
        let _rx = taps.subscribe("parse", 10, None).unwrap();
        assert!(point.is_active());
    }

    #[test]
    fn a_removed_component_ends_its_taps_and_refuses_new_ones() {
        let taps = Taps::new();
        let point = taps.point("parse");
        let mut rx = taps.subscribe("parse", 10, None).unwrap();
        taps.remove("parse");
        assert!(!point.is_active());
        assert!(rx.try_recv().is_err());
        assert!(rx.is_closed(), "the tap's stream ended");
        assert_eq!(
            taps.subscribe("parse", 10, None).unwrap_err(),
            TapError::UnknownComponent("parse".into())
        );
    }

    #[test]
    fn rate_bounds_events_per_second_and_limit_ends_the_tap() {
        let taps = Taps::new();
        let point = taps.point("parse");
        let mut rx = taps.subscribe("parse", 10, Some(25)).unwrap();
        let t0 = Instant::now();
        point.offer_at(&events(100), t0);
        assert_eq!(lines(&mut rx).len(), 10, "one second of burst");
        point.offer_at(&events(100), t0 + Duration::from_millis(500));
        assert_eq!(lines(&mut rx).len(), 5, "half a second of tokens");
        point.offer_at(&events(100), t0 + Duration::from_secs(5));
        let last = lines(&mut rx);
        assert_eq!(last.len(), 10, "limit 25 reached");
        // Sampled across the batch, not its head.
        assert_eq!(last[1]["i"], 10);
        assert!(!point.is_active(), "the tap ended at its limit");
        assert!(rx.try_recv().is_err());
        assert!(rx.is_closed());
    }

    #[test]
    fn a_gone_client_is_removed_on_the_next_batch() {
        let taps = Taps::new();
        let point = taps.point("parse");
        let rx = taps.subscribe("parse", 10, None).unwrap();
        drop(rx);
        point.offer(&events(3));
        assert!(!point.is_active());
    }
}
