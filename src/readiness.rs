//! Readiness of the pipeline's sinks, served at `GET /ready`.
//!
//! Every sink is registered when the topology builds it and gets a [`ReadinessHandle`] in its
//! `SinkContext`. A sink calls [`ReadinessHandle::mark_healthy`] once it has reached its
//! destination: after its first successful delivery, or after a successful health check at
//! start. Readiness is sticky: a sink that delivered once stays ready through later outages
//! (those show in the error and retry metrics and in `healthy`), so a destination outage
//! does not restart or unschedule every agent of a cluster at once.
//!
//! The pipeline is ready when the topology has started and every sink is ready.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The registry of sink readiness; cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    started: AtomicBool,
    sinks: Mutex<Vec<Arc<SinkState>>>,
}

#[derive(Debug)]
struct SinkState {
    id: String,
    /// Reached its destination at least once.
    ready: AtomicBool,
    /// Whether the last attempt succeeded.
    healthy: AtomicBool,
}

/// A sink's handle to report that it reached its destination.
#[derive(Debug, Clone)]
pub struct ReadinessHandle {
    state: Arc<SinkState>,
}

impl ReadinessHandle {
    /// A handle registered nowhere (unit tests of sinks).
    pub fn detached(id: &str) -> ReadinessHandle {
        ReadinessHandle {
            state: Arc::new(SinkState {
                id: id.to_string(),
                ready: AtomicBool::new(false),
                healthy: AtomicBool::new(false),
            }),
        }
    }

    /// The destination confirmed a delivery (or a health check passed). Cheap enough to
    /// call per batch: two relaxed atomic operations.
    pub fn mark_healthy(&self) {
        if !self.state.healthy.load(Ordering::Relaxed) {
            self.state.healthy.store(true, Ordering::Relaxed);
        }
        if !self.state.ready.load(Ordering::Relaxed) {
            self.state.ready.store(true, Ordering::Release);
            tracing::debug!(component_id = %self.state.id, "sink ready");
        }
    }

    /// The last attempt to reach the destination failed. A sink that was ready stays ready.
    pub fn mark_unhealthy(&self) {
        if self.state.healthy.load(Ordering::Relaxed) {
            self.state.healthy.store(false, Ordering::Relaxed);
        }
    }

    pub fn is_ready(&self) -> bool {
        self.state.ready.load(Ordering::Acquire)
    }
}

/// One sink in a [`ReadinessReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkReadiness {
    pub id: String,
    pub ready: bool,
    pub healthy: bool,
}

/// The state `GET /ready` answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadinessReport {
    pub started: bool,
    pub sinks: Vec<SinkReadiness>,
}

impl ReadinessReport {
    pub fn is_ready(&self) -> bool {
        self.started && self.sinks.iter().all(|s| s.ready)
    }

    /// `{"ready":false,"started":true,"not_ready":["es"],"sinks":[{"id":…,"ready":…,"healthy":…}]}`
    pub fn to_json(&self) -> String {
        let not_ready: Vec<&str> = self
            .sinks
            .iter()
            .filter(|s| !s.ready)
            .map(|s| s.id.as_str())
            .collect();
        let sinks: Vec<serde_json::Value> = self
            .sinks
            .iter()
            .map(|s| serde_json::json!({"id": s.id, "ready": s.ready, "healthy": s.healthy}))
            .collect();
        serde_json::json!({
            "ready": self.is_ready(),
            "started": self.started,
            "not_ready": not_ready,
            "sinks": sinks,
        })
        .to_string()
    }
}

impl Readiness {
    pub fn new() -> Readiness {
        Readiness::default()
    }

    /// Registers sink `id` (not ready until its handle is marked healthy).
    pub fn register(&self, id: &str) -> ReadinessHandle {
        let handle = ReadinessHandle::detached(id);
        self.attach(&handle);
        handle
    }

    /// Registers `handle`, replacing any registration of the same sink id: a sink rebuilt by
    /// a reload. The rebuilt sink inherits its predecessor's readiness, which is sticky
    /// across reloads as across outages (a configuration change reaches every agent of a
    /// cluster at once, and must not take them all out of service together).
    pub fn attach(&self, handle: &ReadinessHandle) {
        let mut sinks = self.inner.sinks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(previous) = sinks.iter().find(|s| s.id == handle.state.id) {
            if previous.ready.load(Ordering::Acquire) {
                handle.state.ready.store(true, Ordering::Release);
            }
        }
        sinks.retain(|s| s.id != handle.state.id);
        sinks.push(Arc::clone(&handle.state));
    }

    /// Forgets sink `id` (a reload removed it).
    pub fn unregister(&self, id: &str) {
        self.inner
            .sinks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|s| s.id != id);
    }

    /// Every sink is registered and running.
    pub fn set_started(&self) {
        self.inner.started.store(true, Ordering::Release);
    }

    pub fn report(&self) -> ReadinessReport {
        let sinks = self
            .inner
            .sinks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|s| SinkReadiness {
                id: s.id.clone(),
                ready: s.ready.load(Ordering::Acquire),
                healthy: s.healthy.load(Ordering::Relaxed),
            })
            .collect();
        ReadinessReport {
            started: self.inner.started.load(Ordering::Acquire),
            sinks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_once_started_and_every_sink_delivered_and_it_stays_ready() {
        let readiness = Readiness::new();
        assert!(!readiness.report().is_ready(), "not started");
        let es = readiness.register("es");
        let s3 = readiness.register("s3");
        readiness.set_started();
        let report = readiness.report();
        assert!(!report.is_ready());
        assert!(report.to_json().contains(r#""not_ready":["es","s3"]"#));
        es.mark_healthy();
        assert!(!readiness.report().is_ready());
        s3.mark_healthy();
        assert!(readiness.report().is_ready());
        s3.mark_unhealthy();
        let report = readiness.report();
        assert!(report.is_ready(), "readiness is sticky");
        assert!(!report.sinks[1].healthy);
        assert!(report.to_json().contains(r#""not_ready":[]"#));
    }

    #[test]
    fn a_rebuilt_sink_inherits_readiness_and_a_removed_one_leaves() {
        let readiness = Readiness::new();
        let es = readiness.register("es");
        let s3 = readiness.register("s3");
        readiness.set_started();
        es.mark_healthy();
        // Reload: `es` and `s3` rebuilt; only `es` had delivered.
        let es2 = ReadinessHandle::detached("es");
        readiness.attach(&es2);
        let s3_2 = ReadinessHandle::detached("s3");
        readiness.attach(&s3_2);
        let report = readiness.report();
        assert_eq!(report.sinks.len(), 2);
        assert!(es2.is_ready());
        assert!(!s3_2.is_ready());
        assert!(!report.is_ready());
        readiness.unregister("s3");
        assert!(readiness.report().is_ready());
        // The replaced instance's handle reports nowhere any more.
        s3.mark_healthy();
        assert_eq!(readiness.report().sinks.len(), 1);
    }

    #[test]
    fn a_pipeline_without_sinks_is_ready_once_started() {
        let readiness = Readiness::new();
        readiness.set_started();
        assert!(readiness.report().is_ready());
    }
}
