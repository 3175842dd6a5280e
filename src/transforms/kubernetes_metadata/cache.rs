//! The metadata cache the watcher fills and the transform reads: pods by uid and by
//! namespace + name, and namespace labels.
//!
//! Invariants:
//! - bounded: at most `max_entries` pods (and namespaces). A deleted object stays as a
//!   tombstone for the grace period, so lines read after the deletion still find it; when the
//!   cache is full the oldest tombstones go first, and a live object that finds no room is not
//!   cached (the caller counts it) rather than evicting another live one;
//! - a re-list replaces the live set: objects missing from it became tombstones while the
//!   watch was down, exactly as if their deletion had been seen;
//! - the name index points at the newest pod of that name (a StatefulSet pod recreated under
//!   the same name gets a new uid), and is only removed by the pod it points at.
//!
//! Time is passed in (`now`), so the TTL is tested without sleeping.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::event::Object;

use super::pod::PodMetadata;

/// A live object could not be cached: the cache holds `max_entries` live objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the cache is full ({max_entries} live objects)")]
pub struct CacheFull {
    pub max_entries: usize,
}

#[derive(Debug)]
struct Slot<V> {
    value: V,
    /// When the deletion was seen; `None` while the object exists.
    deleted_at: Option<Instant>,
}

/// Objects by key, with tombstones kept for a grace period and a bound on the count.
#[derive(Debug)]
pub struct TtlMap<V> {
    max_entries: usize,
    grace: Duration,
    slots: HashMap<Box<str>, Slot<V>>,
    /// Deletions in the order they were seen. An entry whose slot has been revived or
    /// replaced since is stale and skipped.
    tombstones: VecDeque<(Instant, Box<str>)>,
    live: usize,
}

impl<V> TtlMap<V> {
    pub fn new(max_entries: usize, grace: Duration) -> TtlMap<V> {
        TtlMap {
            max_entries: max_entries.max(1),
            grace,
            slots: HashMap::new(),
            tombstones: VecDeque::new(),
            live: 0,
        }
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.slots.get(key).map(|s| &s.value)
    }

    /// Objects that exist, then deleted objects still in their grace period.
    pub fn live_len(&self) -> usize {
        self.live
    }

    pub fn deleted_len(&self) -> usize {
        self.slots.len() - self.live
    }

    /// Inserts or replaces a live object. On [`CacheFull`] nothing changed. Returns the
    /// objects evicted to make room (oldest tombstones).
    pub fn upsert(&mut self, key: &str, value: V) -> Result<Vec<(Box<str>, V)>, CacheFull> {
        if let Some(slot) = self.slots.get_mut(key) {
            if slot.deleted_at.take().is_some() {
                self.live += 1;
            }
            slot.value = value;
            return Ok(Vec::new());
        }
        let mut evicted = Vec::new();
        while self.slots.len() >= self.max_entries {
            match self.evict_oldest_tombstone() {
                Some(e) => evicted.push(e),
                None => {
                    return Err(CacheFull {
                        max_entries: self.max_entries,
                    })
                }
            }
        }
        self.slots.insert(
            key.into(),
            Slot {
                value,
                deleted_at: None,
            },
        );
        self.live += 1;
        Ok(evicted)
    }

    /// Marks an object deleted at `now`; it stays readable for the grace period.
    pub fn delete(&mut self, key: &str, now: Instant) {
        if let Some(slot) = self.slots.get_mut(key) {
            if slot.deleted_at.is_none() {
                slot.deleted_at = Some(now);
                self.live -= 1;
                self.tombstones.push_back((now, key.into()));
            }
        }
    }

    /// After a re-list: every live object not in `listed` was deleted while nobody watched.
    pub fn tombstone_missing(&mut self, listed: &[Box<str>], now: Instant) {
        let listed: HashSet<&str> = listed.iter().map(|k| &**k).collect();
        let missing: Vec<Box<str>> = self
            .slots
            .iter()
            .filter(|(k, s)| s.deleted_at.is_none() && !listed.contains(&***k))
            .map(|(k, _)| k.clone())
            .collect();
        for key in missing {
            self.delete(&key, now);
        }
    }

    /// Removes tombstones older than the grace period; returns them.
    pub fn expire(&mut self, now: Instant) -> Vec<(Box<str>, V)> {
        let mut expired = Vec::new();
        while let Some((at, _)) = self.tombstones.front() {
            if now.saturating_duration_since(*at) < self.grace {
                break;
            }
            if let Some((at, key)) = self.tombstones.pop_front() {
                expired.extend(self.remove_if_deleted_at(key, at));
            }
        }
        expired
    }

    fn evict_oldest_tombstone(&mut self) -> Option<(Box<str>, V)> {
        while let Some((at, key)) = self.tombstones.pop_front() {
            if let Some(e) = self.remove_if_deleted_at(key, at) {
                return Some(e);
            }
        }
        None
    }

    /// Removes the slot of a tombstone entry unless the entry is stale (the object was
    /// revived, or deleted again later).
    fn remove_if_deleted_at(&mut self, key: Box<str>, at: Instant) -> Option<(Box<str>, V)> {
        match self.slots.entry(key) {
            Entry::Occupied(slot) if slot.get().deleted_at == Some(at) => {
                let (key, slot) = slot.remove_entry();
                Some((key, slot.value))
            }
            _ => None,
        }
    }
}

/// Pods by uid, with an index by namespace and name.
#[derive(Debug)]
pub struct PodCache {
    by_uid: TtlMap<Arc<PodMetadata>>,
    /// namespace → pod name → uid (two levels so a lookup borrows the event's strings).
    by_name: HashMap<Box<str>, HashMap<Box<str>, Box<str>>>,
}

impl PodCache {
    pub fn new(max_entries: usize, grace: Duration) -> PodCache {
        PodCache {
            by_uid: TtlMap::new(max_entries, grace),
            by_name: HashMap::new(),
        }
    }

    pub fn by_uid(&self, uid: &str) -> Option<&Arc<PodMetadata>> {
        self.by_uid.get(uid)
    }

    pub fn by_name(&self, namespace: &str, name: &str) -> Option<&Arc<PodMetadata>> {
        let uid = self.by_name.get(namespace)?.get(name)?;
        self.by_uid.get(uid)
    }

    pub fn live_len(&self) -> usize {
        self.by_uid.live_len()
    }

    pub fn deleted_len(&self) -> usize {
        self.by_uid.deleted_len()
    }

    pub fn upsert(&mut self, pod: PodMetadata) -> Result<(), CacheFull> {
        let pod = Arc::new(pod);
        let evicted = self.by_uid.upsert(&pod.uid, Arc::clone(&pod))?;
        for (uid, old) in evicted {
            self.unindex(&uid, &old);
        }
        self.by_name
            .entry(pod.namespace.clone())
            .or_default()
            .insert(pod.name.clone(), pod.uid.clone());
        Ok(())
    }

    pub fn delete(&mut self, uid: &str, now: Instant) {
        self.by_uid.delete(uid, now);
    }

    /// After a re-list: every live pod not in `listed` was deleted while nobody watched.
    pub fn tombstone_missing(&mut self, listed: &[Box<str>], now: Instant) {
        self.by_uid.tombstone_missing(listed, now);
    }

    pub fn expire(&mut self, now: Instant) {
        for (uid, old) in self.by_uid.expire(now) {
            self.unindex(&uid, &old);
        }
    }

    /// Removes the name index entry of a pod that left the cache, unless a newer pod of the
    /// same name took it over.
    fn unindex(&mut self, uid: &str, pod: &PodMetadata) {
        if let Some(names) = self.by_name.get_mut(&*pod.namespace) {
            if names.get(&*pod.name).is_some_and(|u| &**u == uid) {
                names.remove(&*pod.name);
            }
            if names.is_empty() {
                self.by_name.remove(&*pod.namespace);
            }
        }
    }
}

/// Everything the transform reads, behind one lock.
#[derive(Debug)]
pub struct MetadataCache {
    pub pods: PodCache,
    /// Namespace name → labels (`namespace_labels = true` only).
    pub namespaces: TtlMap<Object>,
    /// Whether a LIST of pods has completed: until then every lookup is a miss of reason
    /// `not_ready`.
    pub pods_synced: bool,
}

impl MetadataCache {
    pub fn new(max_pods: usize, max_namespaces: usize, grace: Duration) -> MetadataCache {
        MetadataCache {
            pods: PodCache::new(max_pods, grace),
            namespaces: TtlMap::new(max_namespaces, grace),
            pods_synced: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(uid: &str, ns: &str, name: &str) -> PodMetadata {
        PodMetadata {
            uid: uid.into(),
            namespace: ns.into(),
            name: name.into(),
            mirror_uid: None,
            excluded: false,
            excluded_containers: Vec::new(),
            kubernetes: Object::new(),
            images: Vec::new(),
        }
    }

    const GRACE: Duration = Duration::from_secs(60);

    #[test]
    fn deleted_pods_stay_for_the_grace_period_then_go() {
        let t0 = Instant::now();
        let mut c = PodCache::new(10, GRACE);
        c.upsert(pod("u1", "ns", "a")).unwrap();
        c.upsert(pod("u2", "ns", "b")).unwrap();
        c.delete("u1", t0);
        assert_eq!((c.live_len(), c.deleted_len()), (1, 1));
        c.expire(t0 + GRACE - Duration::from_millis(1));
        assert!(c.by_uid("u1").is_some());
        assert!(c.by_name("ns", "a").is_some());
        c.expire(t0 + GRACE);
        assert!(c.by_uid("u1").is_none());
        assert!(c.by_name("ns", "a").is_none());
        assert!(c.by_name("ns", "b").is_some());
        assert_eq!((c.live_len(), c.deleted_len()), (1, 0));
        // Deleting twice, or an unknown pod, changes nothing.
        c.delete("u2", t0);
        c.delete("u2", t0 + GRACE);
        c.delete("nope", t0);
        assert_eq!((c.live_len(), c.deleted_len()), (0, 1));
        c.expire(t0 + GRACE);
        assert_eq!((c.live_len(), c.deleted_len()), (0, 0));
    }

    #[test]
    fn the_bound_evicts_oldest_tombstones_and_never_live_pods() {
        let t0 = Instant::now();
        let mut c = PodCache::new(3, GRACE);
        for i in 0..3 {
            c.upsert(pod(&format!("u{i}"), "ns", &format!("p{i}")))
                .unwrap();
        }
        assert_eq!(
            c.upsert(pod("u3", "ns", "p3")),
            Err(CacheFull { max_entries: 3 })
        );
        assert!(c.by_uid("u3").is_none());
        // Replacing a cached pod needs no room.
        c.upsert(pod("u0", "ns", "p0")).unwrap();
        c.delete("u1", t0);
        c.delete("u0", t0 + Duration::from_secs(1));
        c.upsert(pod("u3", "ns", "p3")).unwrap();
        assert!(c.by_uid("u1").is_none(), "the oldest tombstone went first");
        assert!(c.by_name("ns", "p1").is_none());
        assert!(c.by_uid("u0").is_some());
        c.upsert(pod("u4", "ns", "p4")).unwrap();
        assert!(c.by_uid("u0").is_none());
        assert_eq!(
            c.upsert(pod("u5", "ns", "p5")),
            Err(CacheFull { max_entries: 3 })
        );
        assert_eq!((c.live_len(), c.deleted_len()), (3, 0));
    }

    #[test]
    fn a_recreated_pod_takes_over_the_name_and_keeps_it() {
        let t0 = Instant::now();
        let mut c = PodCache::new(10, GRACE);
        c.upsert(pod("old", "db", "web-0")).unwrap();
        c.delete("old", t0);
        c.upsert(pod("new", "db", "web-0")).unwrap();
        assert_eq!(&*c.by_name("db", "web-0").unwrap().uid, "new");
        // The old pod's lines (by uid) still find it during the grace period.
        assert_eq!(&*c.by_uid("old").unwrap().uid, "old");
        c.expire(t0 + GRACE);
        assert!(c.by_uid("old").is_none());
        assert_eq!(&*c.by_name("db", "web-0").unwrap().uid, "new");
    }

    #[test]
    fn a_relist_tombstones_pods_that_disappeared_and_revives_listed_ones() {
        let t0 = Instant::now();
        let mut c = PodCache::new(10, GRACE);
        c.upsert(pod("a", "ns", "a")).unwrap();
        c.upsert(pod("b", "ns", "b")).unwrap();
        c.delete("b", t0);
        // The re-list shows b (its deletion was a mistake of ours) and not a.
        c.upsert(pod("b", "ns", "b")).unwrap();
        c.tombstone_missing(&["b".into()], t0 + Duration::from_secs(1));
        assert_eq!((c.live_len(), c.deleted_len()), (1, 1));
        // b's stale tombstone entry is due, a's is not: neither pod goes.
        c.expire(t0 + GRACE);
        assert!(c.by_uid("a").is_some());
        assert!(c.by_uid("b").is_some());
        // b's stale tombstone entry must not expire the revived pod.
        c.expire(t0 + GRACE + Duration::from_secs(2));
        assert!(c.by_uid("b").is_some());
        assert!(c.by_uid("a").is_none());
        assert_eq!((c.live_len(), c.deleted_len()), (1, 0));
    }
}
