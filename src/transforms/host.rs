//! `host` transform: adds this machine's name and addresses (`host.name`, `host.ip`).
//!
//! Both are read once, when the transform is built: the name from the kernel
//! (`/proc/sys/kernel/hostname`, then `/etc/hostname`, then `$HOSTNAME`), the addresses from
//! the network interfaces, loopback excluded, sorted and without duplicates.

use serde::Deserialize;

use crate::event::{Event, EventBatch, FieldPath, Value};
use crate::topology::{Transform, TransformOutput};

/// Adds host fields.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Where the host name goes.
    #[serde(default = "default_name_field")]
    pub name_field: FieldPath,
    /// Where the array of non-loopback IP addresses goes.
    #[serde(default = "default_ip_field")]
    pub ip_field: FieldPath,
    /// Replace values already there (default `false`: an upstream value wins).
    #[serde(default)]
    pub overwrite: bool,
}

fn default_name_field() -> FieldPath {
    FieldPath::parse("host.name").expect("valid path")
}

fn default_ip_field() -> FieldPath {
    FieldPath::parse("host.ip").expect("valid path")
}

/// This machine's host name.
pub fn hostname() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
}

/// This machine's non-loopback IP addresses, sorted, without duplicates.
pub fn non_loopback_ips() -> std::io::Result<Vec<String>> {
    let mut ips: Vec<std::net::IpAddr> = if_addrs::get_if_addrs()?
        .into_iter()
        .filter(|i| !i.is_loopback())
        .map(|i| i.ip())
        .collect();
    ips.sort();
    ips.dedup();
    Ok(ips.into_iter().map(|ip| ip.to_string()).collect())
}

impl HostConfig {
    pub fn build(&self, id: &str) -> Result<Box<dyn Transform>, String> {
        let name = hostname();
        if name.is_none() {
            tracing::warn!(component_id = %id, "cannot determine the host name; only host.ip is added");
        }
        let ips = non_loopback_ips().map_err(|e| format!("cannot list network interfaces: {e}"))?;
        Ok(Box::new(Host {
            name_field: self.name_field.clone(),
            ip_field: self.ip_field.clone(),
            name: name.map(Value::from),
            ips: Value::Array(ips.into_iter().map(Value::from).collect()),
            overwrite: self.overwrite,
        }))
    }
}

struct Host {
    name_field: FieldPath,
    ip_field: FieldPath,
    name: Option<Value>,
    ips: Value,
    overwrite: bool,
}

impl Host {
    fn apply(&self, event: &mut Event) {
        if let Some(name) = &self.name {
            if self.overwrite || event.get(&self.name_field).is_none() {
                event.insert(&self.name_field, name.clone());
            }
        }
        if self.overwrite || event.get(&self.ip_field).is_none() {
            event.insert(&self.ip_field, self.ips.clone());
        }
    }
}

impl Transform for Host {
    fn transform(&mut self, batch: EventBatch, output: &mut TransformOutput) {
        // Every event stays: changed where it is, and the batch's vector goes on as it is.
        let mut events = batch.events;
        for event in events.iter_mut() {
            self.apply(event);
        }
        output.push_all(events);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{build, json, run};
    use super::*;

    #[test]
    fn adds_this_machines_name_and_addresses() {
        let mut t = build("host", "");
        let out = run(t.as_mut(), vec![json(serde_json::json!({}))]);
        let f = Value::Object(out[0].fields.clone()).to_json();
        let expected_name = hostname().unwrap();
        assert_eq!(f["host"]["name"], expected_name.as_str());
        let ips: Vec<String> = f["host"]["ip"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(ips, non_loopback_ips().unwrap());
        for ip in &ips {
            let addr: std::net::IpAddr = ip.parse().unwrap();
            assert!(!addr.is_loopback(), "{ip}");
        }
    }

    #[test]
    fn keeps_upstream_values_unless_overwrite() {
        let upstream =
            || json(serde_json::json!({"host": {"name": "sender", "ip": ["192.0.2.1"]}}));
        let mut keep = build("host", "");
        let out = run(keep.as_mut(), vec![upstream()]);
        let f = Value::Object(out[0].fields.clone()).to_json();
        assert_eq!(f["host"]["name"], "sender");
        assert_eq!(f["host"]["ip"], serde_json::json!(["192.0.2.1"]));
        let mut over = build("host", "overwrite = true\nname_field = \"agent.host\"");
        let out = run(over.as_mut(), vec![upstream()]);
        let f = Value::Object(out[0].fields.clone()).to_json();
        assert_eq!(f["host"]["name"], "sender");
        assert_eq!(f["agent"]["host"], hostname().unwrap().as_str());
        assert_ne!(f["host"]["ip"], serde_json::json!(["192.0.2.1"]));
    }
}
