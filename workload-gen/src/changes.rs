//! A seeded change stream on the power-law social graph: follows, unfollows, profile edits and
//! account closures, one JSON change record each, every one with a version from one counter.
//!
//! The records are in the change format (one change per record):
//!
//! ```text
//! {"op":"upsert","edge":{"id":"p1-2019-01-02-p2","label":"follows","from":"p1","to":"p2","properties":{"creationDate":"2019-01-02"}},"version":18}
//! {"op":"delete","edge":{"id":"p1-2019-01-02-p2"},"version":19}
//! {"op":"upsert","vertex":{"id":"p1","label":"person","properties":{"firstName":"Ada","lastName":"Berg","id":1,"edits":1}},"version":20}
//! {"op":"delete","vertex":{"id":"p1"},"version":21}
//! ```
//!
//! The persons exist before the stream starts (the data set's vertex file, loaded first). A
//! closed account is never re-opened, and nothing refers to it afterwards: no follow from or
//! to it, no edit. The partition key of a record is the vertex it is about (an edge's `from`),
//! so all changes of one element go to one shard. The same seed gives the same stream.

use crate::error::ConfigError;
use crate::generator::{persons, GeneratorConfig, LAST_NAMES};
use crate::sink::OutgoingRecord;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::collections::{BTreeSet, HashMap};

/// What a generated change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChangeKind {
    /// A person follows another: an edge upsert.
    Follow,
    /// A person stops following another: an edge delete.
    Unfollow,
    /// A person's profile changes: a vertex upsert with the whole new state.
    ProfileEdit,
    /// An account is closed: a vertex delete (its follows go with it).
    AccountClosure,
}

impl ChangeKind {
    /// The kind's name: `follow`, `unfollow`, `profile_edit`, `account_closure`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Follow => "follow",
            ChangeKind::Unfollow => "unfollow",
            ChangeKind::ProfileEdit => "profile_edit",
            ChangeKind::AccountClosure => "account_closure",
        }
    }
}

/// One change of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedChange {
    /// What it does.
    pub kind: ChangeKind,
    /// Its version.
    pub version: u64,
    /// The record to put: the partition key and the change record.
    pub record: OutgoingRecord,
}

/// How many changes of each kind, in thousandths of the stream; follows are the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeMix {
    /// Unfollows. Default 100 (10 %).
    pub unfollows: u32,
    /// Profile edits. Default 150 (15 %).
    pub edits: u32,
    /// Account closures. Default 10 (1 %).
    pub closures: u32,
}

impl Default for ChangeMix {
    fn default() -> Self {
        Self {
            unfollows: 100,
            edits: 150,
            closures: 10,
        }
    }
}

/// Sizes, mix and seed of a change stream.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ChangeStreamConfig {
    /// The graph the changes are made on (persons, seed, skew, period of the dates).
    pub graph: GeneratorConfig,
    /// Changes in the stream. Default 40 000.
    pub changes: u64,
    /// The share of each kind.
    pub mix: ChangeMix,
    /// The version of the first change; each next one is one more. Default 1.
    pub first_version: u64,
    /// Put before every vertex and edge id (so that runs sharing a graph never meet); the
    /// persons loaded first must carry it too. Default none.
    pub id_prefix: String,
}

impl ChangeStreamConfig {
    /// A stream of `changes` changes on the persons of `graph`, with the default mix.
    pub fn new(graph: GeneratorConfig, changes: u64) -> Self {
        Self {
            graph,
            changes,
            mix: ChangeMix::default(),
            first_version: 1,
            id_prefix: String::new(),
        }
    }

    /// The same stream with `prefix` before every id.
    pub fn with_id_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.id_prefix = prefix.into();
        self
    }

    /// The same stream with another mix.
    pub fn with_mix(mut self, mix: ChangeMix) -> Self {
        self.mix = mix;
        self
    }

    /// Checks that the stream can be generated.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.graph.validate()?;
        let m = self.mix;
        if m.unfollows + m.edits + m.closures > 1000 {
            return Err(ConfigError::new(
                "mix",
                "the shares of unfollows, edits and closures exceed 1000 thousandths",
            ));
        }
        if self
            .first_version
            .checked_add(self.changes)
            .is_none_or(|v| v > i64::MAX as u64)
        {
            return Err(ConfigError::new(
                "first_version",
                "the versions would not fit a graph's 64-bit signed integers",
            ));
        }
        Ok(())
    }
}

/// A person as the stream knows it.
struct Profile {
    first_name: String,
    last_name: String,
    number: u64,
    edits: u64,
    closed: bool,
}

/// The generator: an iterator of changes (see the [module](self) documentation).
pub struct ChangeStream {
    config: ChangeStreamConfig,
    rng: ChaCha8Rng,
    profiles: Vec<Profile>,
    /// Person numbers by popularity, most followed first (a seeded shuffle).
    ranking: Vec<u32>,
    /// The follows that exist now, and where each is in `follows`.
    follows: Vec<(u32, u32, String)>,
    follow_at: HashMap<(u32, u32), usize>,
    next_version: u64,
    emitted: u64,
    counts: HashMap<ChangeKind, u64>,
}

/// How many tries a choice gets (a person to follow not followed yet, a live person) before
/// the change becomes a follow or an edit instead.
const TRIES: usize = 32;

impl ChangeStream {
    /// A generator for `config`.
    pub fn new(config: ChangeStreamConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(config.graph.seed);
        rng.set_stream(7);
        let profiles = persons(&config.graph)
            .map(|p| Profile {
                first_name: p.first_name,
                last_name: p.last_name,
                number: p.number,
                edits: 0,
                closed: false,
            })
            .collect();
        let mut ranking: Vec<u32> = (0..config.graph.persons).collect();
        for i in (1..ranking.len()).rev() {
            ranking.swap(i, rng.random_range(0..=i));
        }
        Ok(Self {
            next_version: config.first_version,
            config,
            rng,
            profiles,
            ranking,
            follows: Vec::new(),
            follow_at: HashMap::new(),
            emitted: 0,
            counts: HashMap::new(),
        })
    }

    /// How many changes of each kind were generated so far.
    pub fn generated(&self, kind: ChangeKind) -> u64 {
        self.counts.get(&kind).copied().unwrap_or(0)
    }

    /// The ids of the follows that exist after the changes generated so far: what the graph
    /// must hold once they are all applied (with the data set's persons loaded first).
    pub fn live_follow_ids(&self) -> BTreeSet<String> {
        self.follows.iter().map(|(_, _, id)| id.clone()).collect()
    }

    /// The ids of the accounts closed so far.
    pub fn closed_accounts(&self) -> BTreeSet<String> {
        self.profiles
            .iter()
            .enumerate()
            .filter(|(_, p)| p.closed)
            .map(|(n, _)| self.person_id(n as u32))
            .collect()
    }

    fn person_id(&self, p: u32) -> String {
        format!("{}p{p}", self.config.id_prefix)
    }

    fn live_person(&mut self) -> Option<u32> {
        let n = self.config.graph.persons;
        (0..TRIES)
            .map(|_| self.rng.random_range(0..n))
            .find(|&p| !self.profiles[p as usize].closed)
    }

    /// A person to follow: the power law over the popularity ranking.
    fn popular_person(&mut self) -> u32 {
        let n = self.config.graph.persons;
        let u: f64 = self.rng.random();
        let rank =
            ((f64::from(n) * libm::pow(u, self.config.graph.skew)) as usize).min(n as usize - 1);
        self.ranking[rank]
    }

    fn follow(&mut self) -> Option<(OutgoingRecord, ChangeKind)> {
        let from = self.live_person()?;
        let mut to = None;
        for _ in 0..TRIES {
            let t = self.popular_person();
            if t != from
                && !self.profiles[t as usize].closed
                && !self.follow_at.contains_key(&(from, t))
            {
                to = Some(t);
                break;
            }
        }
        let to = to?;
        let days = self.rng.random_range(0..self.config.graph.period_days);
        let date = self.config.graph.start_date + chrono::Duration::days(i64::from(days));
        let date = date.format("%Y-%m-%d").to_string();
        let id = format!("{}p{from}-{date}-p{to}", self.config.id_prefix);
        self.follow_at.insert((from, to), self.follows.len());
        self.follows.push((from, to, id.clone()));
        let record = json!({"op": "upsert", "edge": {"id": id, "label": "follows",
            "from": self.person_id(from), "to": self.person_id(to),
            "properties": {"creationDate": date}}});
        Some((
            self.record(self.person_id(from), record),
            ChangeKind::Follow,
        ))
    }

    fn unfollow(&mut self) -> Option<(OutgoingRecord, ChangeKind)> {
        if self.follows.is_empty() {
            return None;
        }
        let at = self.rng.random_range(0..self.follows.len());
        let (from, _, id) = self.remove_follow(at);
        let record = json!({"op": "delete", "edge": {"id": id}});
        Some((
            self.record(self.person_id(from), record),
            ChangeKind::Unfollow,
        ))
    }

    fn edit(&mut self) -> Option<(OutgoingRecord, ChangeKind)> {
        let p = self.live_person()?;
        let last = LAST_NAMES[self.rng.random_range(0..LAST_NAMES.len())].to_owned();
        let id = self.person_id(p);
        let profile = &mut self.profiles[p as usize];
        profile.last_name = last;
        profile.edits += 1;
        let record = json!({"op": "upsert", "vertex": {"id": id, "label": "person",
            "properties": {"firstName": profile.first_name, "lastName": profile.last_name,
                "id": profile.number, "edits": profile.edits}}});
        Some((
            self.record(self.person_id(p), record),
            ChangeKind::ProfileEdit,
        ))
    }

    fn close(&mut self) -> Option<(OutgoingRecord, ChangeKind)> {
        let p = self.live_person()?;
        self.profiles[p as usize].closed = true;
        // Its follows go with it: none is left to unfollow.
        let mut at = 0;
        while at < self.follows.len() {
            let (from, to, _) = self.follows[at];
            if from == p || to == p {
                self.remove_follow(at);
            } else {
                at += 1;
            }
        }
        let record = json!({"op": "delete", "vertex": {"id": self.person_id(p)}});
        Some((
            self.record(self.person_id(p), record),
            ChangeKind::AccountClosure,
        ))
    }

    fn remove_follow(&mut self, at: usize) -> (u32, u32, String) {
        let removed = self.follows.swap_remove(at);
        self.follow_at.remove(&(removed.0, removed.1));
        if let Some(moved) = self.follows.get(at) {
            self.follow_at.insert((moved.0, moved.1), at);
        }
        removed
    }

    fn record(&mut self, partition_key: String, mut change: serde_json::Value) -> OutgoingRecord {
        change["version"] = json!(self.next_version);
        OutgoingRecord {
            partition_key,
            data: change.to_string().into_bytes(),
        }
    }
}

impl Iterator for ChangeStream {
    type Item = GeneratedChange;

    fn next(&mut self) -> Option<GeneratedChange> {
        if self.emitted == self.config.changes {
            return None;
        }
        let m = self.config.mix;
        let draw = self.rng.random_range(0..1000);
        let chosen = if draw < m.closures {
            self.close()
        } else if draw < m.closures + m.unfollows {
            self.unfollow()
        } else if draw < m.closures + m.unfollows + m.edits {
            self.edit()
        } else {
            self.follow()
        };
        // A choice that found nothing to act on (no follow to drop, everyone followed)
        // becomes a follow, else an edit; one of the two always finds a live person while any
        // is left.
        let (record, kind) = chosen.or_else(|| self.follow()).or_else(|| self.edit())?;
        let version = self.next_version;
        self.next_version += 1;
        self.emitted += 1;
        *self.counts.entry(kind).or_default() += 1;
        Some(GeneratedChange {
            kind,
            version,
            record,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(changes: u64) -> ChangeStream {
        let graph = GeneratorConfig::builder()
            .persons(300)
            .edges(1)
            .seed(7)
            .build()
            .unwrap();
        ChangeStream::new(ChangeStreamConfig::new(graph, changes)).unwrap()
    }

    #[test]
    fn the_same_seed_gives_the_same_stream_and_versions_count_up() {
        let a: Vec<_> = stream(2_000).collect();
        let b: Vec<_> = stream(2_000).collect();
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[1].version == w[0].version + 1));
    }

    #[test]
    fn every_kind_appears_and_a_closed_account_is_never_named_again() {
        let mut s = stream(5_000);
        let changes: Vec<_> = s.by_ref().collect();
        for kind in [
            ChangeKind::Follow,
            ChangeKind::Unfollow,
            ChangeKind::ProfileEdit,
            ChangeKind::AccountClosure,
        ] {
            assert!(s.generated(kind) > 0, "{kind:?}");
        }
        let mut closed: BTreeSet<String> = BTreeSet::new();
        for c in &changes {
            let v: serde_json::Value = serde_json::from_slice(&c.record.data).unwrap();
            let named: Vec<String> = ["vertex", "edge"]
                .iter()
                .filter_map(|e| v.get(*e))
                .flat_map(|e| {
                    ["id", "from", "to"]
                        .map(|k| e.get(k).and_then(|x| x.as_str()).map(str::to_owned))
                })
                .flatten()
                .collect();
            for name in &named {
                assert!(
                    !closed.contains(name),
                    "{name} named after its closure: {v}"
                );
            }
            if c.kind == ChangeKind::AccountClosure {
                closed.insert(v["vertex"]["id"].as_str().unwrap().to_owned());
            }
            // Edge ids hold their ends: a closed person's id is in none of them afterwards.
            if let Some(id) = v.get("edge").and_then(|e| e["id"].as_str()) {
                let ends: Vec<&str> = id.split('-').collect();
                assert!(
                    !closed.contains(ends[0]) && !closed.contains(*ends.last().unwrap()),
                    "{id}"
                );
            }
        }
        assert_eq!(closed, s.closed_accounts());
        assert!(s.live_follow_ids().iter().all(|id| {
            let ends: Vec<&str> = id.split('-').collect();
            !closed.contains(ends[0]) && !closed.contains(*ends.last().unwrap())
        }));
    }

    #[test]
    fn a_prefix_goes_before_every_id_and_partition_key() {
        let graph = GeneratorConfig::builder()
            .persons(50)
            .edges(1)
            .seed(3)
            .build()
            .unwrap();
        let config = ChangeStreamConfig::new(graph, 500).with_id_prefix("run7-");
        let mut s = ChangeStream::new(config).unwrap();
        for c in s.by_ref() {
            assert!(c.record.partition_key.starts_with("run7-p"));
            let v: serde_json::Value = serde_json::from_slice(&c.record.data).unwrap();
            let element = v.get("vertex").or_else(|| v.get("edge")).unwrap();
            for k in ["id", "from", "to"] {
                if let Some(id) = element.get(k).and_then(|x| x.as_str()) {
                    assert!(id.starts_with("run7-p"), "{v}");
                }
            }
        }
        assert!(s
            .live_follow_ids()
            .iter()
            .all(|id| id.starts_with("run7-p")));
        assert!(s
            .closed_accounts()
            .iter()
            .all(|id| id.starts_with("run7-p")));
    }
}
