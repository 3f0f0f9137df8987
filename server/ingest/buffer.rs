//! What has been counted in memory and not yet written: counters per (deployment, hour),
//! the day's visitor hashes, leads, and when each hostname last reported. Bounded: past
//! `max_entries` new events are refused (and counted as dropped) until a write succeeds.

use std::collections::HashMap;

/// Keys here are deployment ids, hours and salted hashes, none chosen by a visitor: a
/// fast hasher is safe.
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

use chrono::{DateTime, Utc};

pub use crate::domain::Counts;
use crate::domain::SiteId;

#[derive(Debug, Clone)]
pub(super) struct NewLead {
    pub site_id: SiteId,
    pub deployment_id: i64,
    pub email: String,
    pub at: DateTime<Utc>,
}

/// One batch's worth of counting.
#[derive(Debug, Default)]
pub(super) struct Buffer {
    pub counters: Map<(i64, i64), Counts>,
    /// (deployment, day) → visitor hash → hour it was first seen in this batch.
    pub visitors: Map<(i64, i64), Map<i64, i64>>,
    pub leads: Vec<NewLead>,
    /// (deployment, day) → visits [shown, held out].
    pub exposures: Map<(i64, i64), [i64; 2]>,
    /// (deployment, goal, day) → [reached shown, reached held out, value shown, value held
    /// out], values in hundredths.
    pub goals: Map<(i64, i64, i64), [i64; 4]>,
    /// site → hostname entry → latest event time.
    pub seen: Map<SiteId, HashMap<String, DateTime<Utc>>>,
    entries: usize,
}

impl Buffer {
    /// Counters, hashes and leads held; what the memory bound is measured in.
    pub(super) fn entries(&self) -> usize {
        self.entries
    }

    pub(super) fn is_empty(&self) -> bool {
        self.counters.is_empty()
            && self.exposures.is_empty()
            && self.goals.is_empty()
            && self.leads.is_empty()
            && self.seen.is_empty()
    }

    pub(super) fn count(&mut self, deployment_id: i64, hour: i64, f: impl FnOnce(&mut Counts)) {
        let entry = self
            .counters
            .entry((deployment_id, hour))
            .or_insert_with(|| {
                self.entries += 1;
                Counts::default()
            });
        f(entry);
    }

    pub(super) fn exposure(&mut self, deployment_id: i64, day: i64, held_out: bool) {
        let e = self
            .exposures
            .entry((deployment_id, day))
            .or_insert_with(|| {
                self.entries += 1;
                [0; 2]
            });
        e[usize::from(held_out)] += 1;
    }

    pub(super) fn goal(
        &mut self,
        deployment_id: i64,
        goal: i64,
        day: i64,
        held_out: bool,
        value: i64,
    ) {
        let g = self
            .goals
            .entry((deployment_id, goal, day))
            .or_insert_with(|| {
                self.entries += 1;
                [0; 4]
            });
        let arm = usize::from(held_out);
        g[arm] += 1;
        g[2 + arm] = g[2 + arm].saturating_add(value);
    }

    pub(super) fn visitor(&mut self, deployment_id: i64, day: i64, hash: i64, hour: i64) {
        let set = self.visitors.entry((deployment_id, day)).or_default();
        if let std::collections::hash_map::Entry::Vacant(v) = set.entry(hash) {
            v.insert(hour);
            self.entries += 1;
        }
    }

    pub(super) fn lead(&mut self, lead: NewLead) {
        self.leads.push(lead);
        self.entries += 1;
    }

    pub(super) fn seen(&mut self, site_id: SiteId, hostname: &str, at: DateTime<Utc>) {
        let hosts = self.seen.entry(site_id).or_default();
        match hosts.get_mut(hostname) {
            Some(t) => *t = (*t).max(at),
            None => {
                hosts.insert(hostname.to_string(), at);
                self.entries += 1;
            }
        }
    }

    pub(super) fn total(&self) -> Counts {
        let mut t = Counts::default();
        for c in self.counters.values() {
            t.add(c);
        }
        t
    }
}
