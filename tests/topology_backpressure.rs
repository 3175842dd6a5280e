//! A slow sink throttles a fast source: the channels never hold more than their bound.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use logweir::config::PipelineConfig;
use logweir::topology::{Topology, CHANNEL_CAPACITY_BATCHES, MAX_BATCH_EVENTS};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_sink_bounds_in_flight_events() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
data_dir = "{}"
[sources.fast]
type = "demo"
count = 30000
[transforms.parsed]
type = "parse_json"
inputs = ["fast"]
[sinks.slow]
type = "blackhole"
inputs = ["parsed"]
rate = 30000
"#,
        dir.path().display()
    );
    let config = PipelineConfig::from_str_with_env(Path::new("p.toml"), &text, |_| None).unwrap();
    let topology = Topology::start(&config).unwrap();
    let edges: Vec<_> = topology.edges().to_vec();
    let report = topology.wait(Duration::from_secs(30)).await;
    assert!(report.is_success(), "{report:?}");

    let mut blocked = 0;
    for (id, stats) in &edges {
        // Each edge has one producer: what the channel holds, the batch being sent, and one
        // more batch of accounting slack: a receiver subtracts a batch just after taking it
        // out of the channel, so for that instant the freed room and the taken batch are
        // both counted. A sink's channel holds its buffer's `max_events` events (4,096 by
        // default), a transform's `CHANNEL_CAPACITY_BATCHES` batches.
        let bound = match stats.max_events {
            Some(max_events) => max_events + 2 * MAX_BATCH_EVENTS,
            None => {
                assert_eq!(stats.capacity_batches, CHANNEL_CAPACITY_BATCHES);
                (stats.capacity_batches + 2) * MAX_BATCH_EVENTS
            }
        };
        let peak = stats.peak_in_flight_events.load(Ordering::Acquire);
        assert!(
            peak <= bound,
            "edge into `{id}` held {peak} events, bound {bound}"
        );
        assert_eq!(
            stats.in_flight_events.load(Ordering::Acquire),
            0,
            "edge into `{id}` not drained"
        );
        assert_eq!(
            stats.sent_events.load(Ordering::Acquire),
            30000,
            "edge into `{id}`"
        );
        blocked += stats.blocked_sends.load(Ordering::Acquire);
    }
    // The source produced far faster than 30,000 events/s, so it must have been made to wait.
    assert!(
        blocked > 0,
        "no send ever waited: backpressure did not engage"
    );
}
