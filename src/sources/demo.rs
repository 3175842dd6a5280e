//! `demo` source: realistic synthetic container log lines, for the quickstart, examples and
//! benchmarks.
//!
//! Each event looks like what the file source produces from a Kubernetes node: `message` is
//! the application's line (a JSON object with `level`, `seq`, `service`, `msg`, `latency_ms`,
//! `http`; about 2% plain text), with `kubernetes.*`, `container.id`, `log.iostream` beside
//! it. A seeded generator makes runs repeatable; `seq` proves which lines arrived.

use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;

use crate::event::{Event, EventBatch, Key, Object, Origin, Value};
use crate::topology::{ComponentError, ComponentFuture, SourceContext, MAX_BATCH_EVENTS};

/// Generates container log events.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DemoConfig {
    /// How many events to generate before finishing; 0 = until stopped.
    #[serde(default = "default_count")]
    pub count: u64,
    /// Events per second; 0 = as fast as the pipeline takes them.
    #[serde(default)]
    pub rate: u64,
    /// Seed of the generator: the same seed gives the same events.
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_count() -> u64 {
    10_000
}

fn default_seed() -> u64 {
    1
}

impl DemoConfig {
    pub fn build(&self, ctx: SourceContext) -> Result<ComponentFuture, String> {
        Ok(Box::pin(run(self.clone(), ctx)))
    }
}

const WORDS: &[&str] = &[
    "request",
    "served",
    "user",
    "login",
    "timeout",
    "retry",
    "upstream",
    "cache",
    "miss",
    "hit",
    "payment",
    "order",
    "kafka",
    "partition",
    "rebalance",
    "shard",
    "replica",
    "leader",
    "follower",
    "élan",
    "naïve",
    "東京",
    "😀",
    "\"quoted\"",
    "back\\slash",
    "tab\there",
];
const LEVELS: &[(&str, u32)] = &[("debug", 30), ("info", 55), ("warn", 10), ("error", 5)];
const SERVICES: &[&str] = &[
    "checkout", "cart", "auth", "search", "payments", "frontend", "ledger",
];
const NAMESPACES: &[&str] = &["shop", "payments", "kube-system", "monitoring"];
const STATUSES: &[i64] = &[200, 200, 200, 201, 404, 500];

/// xorshift64*: tiny, fast and good enough for synthetic data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Writes one application line (JSON or, 2% of the time, plain text) into `out`.
pub fn app_line(
    rng: &mut Rng,
    seq: u64,
    ts: &str,
    out: &mut Vec<u8>,
) -> (&'static str, &'static str) {
    let words = 4 + rng.below(57) as usize;
    let mut msg = String::new();
    for i in 0..words {
        if i > 0 {
            msg.push(' ');
        }
        let word: &&str = rng.pick(WORDS);
        msg.push_str(word);
    }
    let mut roll = rng.below(100) as u32;
    let mut level = "info";
    for (name, weight) in LEVELS {
        if roll < *weight {
            level = name;
            break;
        }
        roll -= weight;
    }
    let service = *rng.pick(SERVICES);
    if rng.below(100) < 2 {
        out.extend_from_slice(
            format!("{ts} {} seq={seq} {msg}", level.to_ascii_uppercase()).as_bytes(),
        );
        return (level, service);
    }
    let latency = rng.below(900_000) as f64 / 1000.0;
    let status = *rng.pick(STATUSES);
    out.extend_from_slice(b"{\"ts\":\"");
    out.extend_from_slice(ts.as_bytes());
    out.extend_from_slice(b"\",\"level\":\"");
    out.extend_from_slice(level.as_bytes());
    out.extend_from_slice(
        format!("\",\"seq\":{seq},\"service\":\"{service}\",\"msg\":").as_bytes(),
    );
    crate::codec::json::write_str(out, msg.as_bytes());
    out.extend_from_slice(
        format!(",\"latency_ms\":{latency},\"http\":{{\"status\":{status},\"method\":\"GET\"}}}}")
            .as_bytes(),
    );
    (level, service)
}

struct PodIdentity {
    namespace: Value,
    pod: Value,
    container: Value,
    container_id: Value,
}

fn pods() -> Vec<PodIdentity> {
    let mut rng = Rng::new(7);
    let mut out = Vec::new();
    for ns in NAMESPACES {
        for service in SERVICES.iter().take(3) {
            let suffix = format!("{:05x}", rng.below(0xfffff));
            out.push(PodIdentity {
                namespace: Value::from(*ns),
                pod: Value::from(format!("{service}-7d9f8b-{suffix}")),
                container: Value::from(*service),
                container_id: Value::from(format!(
                    "{:016x}{:016x}",
                    rng.next_u64(),
                    rng.next_u64()
                )),
            });
        }
    }
    out
}

async fn run(config: DemoConfig, ctx: SourceContext) -> Result<(), ComponentError> {
    let pods = pods();
    let mut rng = Rng::new(config.seed);
    let mut seq: u64 = 0;
    let start = tokio::time::Instant::now();
    let mut line = Vec::with_capacity(1024);
    let batch_size = if config.rate > 0 {
        // About ten batches per second at low rates, keeping latency low.
        ((config.rate / 10).max(1) as usize).min(MAX_BATCH_EVENTS)
    } else {
        MAX_BATCH_EVENTS
    };
    loop {
        if ctx.shutdown.is_cancelled() || (config.count > 0 && seq >= config.count) {
            return Ok(());
        }
        let remaining = if config.count > 0 {
            (config.count - seq) as usize
        } else {
            usize::MAX
        };
        let n = batch_size.min(remaining);
        let now = crate::time::now_unix_nanos();
        let ts = crate::time::format_rfc3339(now);
        let mut events = Vec::with_capacity(n);
        for _ in 0..n {
            line.clear();
            app_line(&mut rng, seq, &ts, &mut line);
            let pod = rng.pick(&pods);
            let mut event = Event::from_message(Bytes::copy_from_slice(&line), now);
            let mut k8s = Object::with_capacity(3);
            k8s.push_unique("namespace", pod.namespace.clone());
            let mut pod_obj = Object::with_capacity(1);
            pod_obj.push_unique("name", pod.pod.clone());
            k8s.push_unique("pod", Value::Object(pod_obj));
            let mut container = Object::with_capacity(1);
            container.push_unique("name", pod.container.clone());
            k8s.push_unique("container", Value::Object(container));
            event
                .fields
                .push_unique(Key::new_static("kubernetes"), Value::Object(k8s));
            let mut c = Object::with_capacity(1);
            c.push_unique("id", pod.container_id.clone());
            event
                .fields
                .push_unique(Key::new_static("container"), Value::Object(c));
            let stream = if rng.below(10) == 0 {
                "stderr"
            } else {
                "stdout"
            };
            let mut log = Object::with_capacity(1);
            log.push_unique(
                "iostream",
                Value::Bytes(Bytes::from_static(stream.as_bytes())),
            );
            event
                .fields
                .push_unique(Key::new_static("log"), Value::Object(log));
            // The same seed replays the same events: give them a stable identity, so a sink
            // can recognise a replayed event (the Elasticsearch sink's automatic `_id`).
            event.meta.origin = Some(Origin {
                stream: config.seed,
                offset: seq,
            });
            events.push(event);
            seq += 1;
        }
        // Under backpressure this waits; on shutdown the sinks keep draining, so it returns.
        ctx.output.send(EventBatch::new(events)).await?;
        if config.rate > 0 {
            let due = start + Duration::from_secs_f64(seq as f64 / config.rate as f64);
            tokio::select! {
                () = ctx.shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep_until(due) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_lines_are_json_or_text_with_seq() {
        let mut rng = Rng::new(3);
        let mut json = 0;
        for seq in 0..2000 {
            let mut out = Vec::new();
            app_line(&mut rng, seq, "2026-11-24T10:00:00.000Z", &mut out);
            match serde_json::from_slice::<serde_json::Value>(&out) {
                Ok(v) => {
                    assert_eq!(v["seq"], seq);
                    json += 1;
                }
                Err(_) => assert!(String::from_utf8(out)
                    .unwrap()
                    .contains(&format!("seq={seq} "))),
            }
        }
        assert!((1900..2000).contains(&json), "{json}");
    }
}
