//! A seeded generator of the "super-connector" social graph.
//!
//! Persons are numbered `0..persons`; person `n` has the vertex id `p{n}`. Every person follows
//! a number of others (its out-degree, drawn from a Pareto weight so a few follow very many);
//! whom they follow is drawn from a power law over a shuffled ranking of all persons, so a few
//! "super-connectors" collect a large share of all followers.
//!
//! Everything is drawn from ChaCha8 streams seeded by [`GeneratorConfig::seed`], with integer
//! arithmetic for every choice that reaches the output, so the same seed gives the same data set,
//! byte for byte, on every machine.

mod config;

pub use config::{GeneratorConfig, GeneratorConfigBuilder};

use crate::edge::FollowsEdge;
use crate::error::ConfigError;
use chrono::Datelike;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A person vertex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Vertex id (`~id`), e.g. `p42`.
    pub id: String,
    /// The numeric `id` property.
    pub number: u64,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
}

/// Persons and edges of a generated data set, in memory (for small sets and tests; large sets
/// are streamed to files by [`write_dataset`](crate::dataset::write_dataset)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedData {
    /// The persons.
    pub persons: Vec<Person>,
    /// The edges; no (from, to) pair appears twice and nobody follows themself.
    pub edges: Vec<FollowsEdge>,
}

pub(crate) const FIRST_NAMES: [&str; 16] = [
    "Abdou", "Ada", "Bo", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivan", "Jun", "Kofi",
    "Lena", "Mateo", "Noor", "Olga",
];
// Some names need CSV quoting (a comma, a quote), so every reader of these files is exercised
// on real quoting.
pub(crate) const LAST_NAMES: [&str; 16] = [
    "Ndiaye",
    "Lovelace",
    "Berg",
    "Wei",
    "Cohen",
    "Okafor",
    "Haddad",
    "Petrov",
    "Sato",
    "Ivanova",
    "O'Neil",
    "Mensah",
    "Fischer, Jr.",
    "Garcia",
    "\"Ray\" Rahman",
    "Novak",
];

const PERSON_STREAM: u64 = 1;
const RANK_STREAM: u64 = 2;
const DEGREE_STREAM: u64 = 3;
const EDGE_STREAM: u64 = 4;

fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// The persons of a data set, in id order.
pub fn persons(config: &GeneratorConfig) -> impl Iterator<Item = Person> {
    let mut rng = rng(config.seed, PERSON_STREAM);
    (0..config.persons).map(move |n| Person {
        id: format!("p{n}"),
        number: u64::from(n),
        first_name: FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())].to_owned(),
        last_name: LAST_NAMES[rng.random_range(0..LAST_NAMES.len())].to_owned(),
    })
}

/// One generated edge, in compact form (no allocation per edge).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawEdge {
    /// Position in the data set, `0..edges` (the edge's `~id` is `e{index}`).
    pub index: u64,
    /// Follower's person number.
    pub from: u32,
    /// Followed person's number.
    pub to: u32,
    /// Seconds after the start of the period.
    pub created_offset: u32,
}

/// Streams the edges of a data set; memory stays proportional to the number of persons, never
/// to the number of edges.
///
/// Uniqueness of (from, to) needs no set of all pairs: the edges of one follower are generated
/// together, checked against a bitmap of that follower's targets, and only then mixed with other
/// followers' edges (in windows of [`GeneratorConfig::mix_window`] followers).
pub struct EdgeGenerator {
    persons: u32,
    skew: f64,
    period_seconds: u32,
    /// `rank_to_person[r]` is the person with the r-th most expected followers.
    rank_to_person: Vec<u32>,
    /// Out-degree of each person.
    out_degree: Vec<u32>,
    next_follower: u32,
    mix_window: u32,
    rng: ChaCha8Rng,
    window: Vec<(u32, u32, u32)>,
    window_pos: usize,
    next_index: u64,
    taken: Vec<u64>,
    taken_list: Vec<u32>,
}

impl EdgeGenerator {
    /// A generator for `config`, which must be valid.
    pub fn new(config: &GeneratorConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let n = config.persons;
        let mut rank_to_person: Vec<u32> = (0..n).collect();
        let mut rank_rng = rng(config.seed, RANK_STREAM);
        for i in (1..rank_to_person.len()).rev() {
            let j = rank_rng.random_range(0..=i);
            rank_to_person.swap(i, j);
        }
        let out_degree = out_degrees(config);
        Ok(Self {
            persons: n,
            skew: config.skew,
            period_seconds: config.period_days.saturating_mul(86_400),
            rank_to_person,
            out_degree,
            next_follower: 0,
            mix_window: config.mix_window,
            rng: rng(config.seed, EDGE_STREAM),
            window: Vec::new(),
            window_pos: 0,
            next_index: 0,
            taken: vec![0; (n as usize).div_ceil(64)],
            taken_list: Vec::new(),
        })
    }

    /// Out-degree of every person (index = person number).
    pub fn out_degrees(&self) -> &[u32] {
        &self.out_degree
    }

    fn draw_target(&mut self) -> u32 {
        let u: f64 = self.rng.random();
        // `libm::pow` rather than `f64::powf`: the latter calls the platform's C library, whose
        // last-bit rounding differs between systems; the pure-Rust one is the same everywhere,
        // which keeps the files byte-identical across machines.
        let rank = ((f64::from(self.persons) * libm::pow(u, self.skew)) as u64)
            .min(u64::from(self.persons) - 1) as usize;
        self.rank_to_person[rank]
    }

    fn is_taken(&self, p: u32) -> bool {
        self.taken[(p / 64) as usize] & (1 << (p % 64)) != 0
    }

    fn take(&mut self, p: u32) {
        self.taken[(p / 64) as usize] |= 1 << (p % 64);
        self.taken_list.push(p);
    }

    fn fill_window(&mut self) -> bool {
        self.window.clear();
        self.window_pos = 0;
        let end = self
            .next_follower
            .saturating_add(self.mix_window)
            .min(self.persons);
        for from in self.next_follower..end {
            let k = self.out_degree[from as usize];
            self.take(from); // nobody follows themself
            for _ in 0..k {
                // Rejection sampling keeps the power law; after many rejections (a follower of
                // almost everyone) fall back to the next free person after a random one, which
                // always terminates because the degree was capped at persons - 1.
                let mut to = None;
                for _ in 0..64 {
                    let t = self.draw_target();
                    if !self.is_taken(t) {
                        to = Some(t);
                        break;
                    }
                }
                let to = match to {
                    Some(t) => t,
                    None => {
                        let mut t = self.rng.random_range(0..self.persons);
                        while self.is_taken(t) {
                            t = (t + 1) % self.persons;
                        }
                        t
                    }
                };
                self.take(to);
                let created = self.rng.random_range(0..self.period_seconds);
                self.window.push((from, to, created));
            }
            for p in self.taken_list.drain(..) {
                self.taken[(p / 64) as usize] &= !(1 << (p % 64));
            }
        }
        self.next_follower = end;
        for i in (1..self.window.len()).rev() {
            let j = self.rng.random_range(0..=i);
            self.window.swap(i, j);
        }
        !self.window.is_empty() || self.next_follower < self.persons
    }
}

impl Iterator for EdgeGenerator {
    type Item = RawEdge;

    fn next(&mut self) -> Option<RawEdge> {
        while self.window_pos >= self.window.len() {
            if self.next_follower >= self.persons || !self.fill_window() {
                return None;
            }
        }
        let (from, to, created_offset) = self.window[self.window_pos];
        self.window_pos += 1;
        let index = self.next_index;
        self.next_index += 1;
        Some(RawEdge {
            index,
            from,
            to,
            created_offset,
        })
    }
}

/// Splits `config.edges` among persons in proportion to Pareto weights, capped at
/// `persons - 1`; the sum is exactly `config.edges`.
fn out_degrees(config: &GeneratorConfig) -> Vec<u32> {
    let n = config.persons as usize;
    let cap = u64::from(config.persons - 1);
    let mut rng = rng(config.seed, DEGREE_STREAM);
    // Integer weights (Pareto, scaled and capped) so that the split below is exact integer
    // arithmetic, identical everywhere.
    let weights: Vec<u64> = (0..n)
        .map(|_| {
            let u: f64 = rng.random();
            let w = libm::pow(1.0 - u, -1.0 / config.out_degree_tail);
            (w.min(10_000.0) * 1_000.0) as u64 + 1
        })
        .collect();
    let total: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    let mut degrees = Vec::with_capacity(n);
    let mut cumulative: u128 = 0;
    let mut assigned: u64 = 0;
    for w in &weights {
        cumulative += u128::from(*w);
        let upto = (cumulative * u128::from(config.edges) / total) as u64;
        degrees.push(upto - assigned);
        assigned = upto;
    }
    // Move what exceeds the cap to persons with room, in a fixed order.
    let mut excess: u64 = degrees.iter().map(|&d| d.saturating_sub(cap)).sum();
    for d in degrees.iter_mut() {
        *d = (*d).min(cap);
    }
    let mut i = 0;
    while excess > 0 {
        let room = cap - degrees[i];
        let give = room.min(excess);
        degrees[i] += give;
        excess -= give;
        i += 1;
    }
    degrees.into_iter().map(|d| d as u32).collect()
}

/// Formats creation dates: `YYYY-MM-DDTHH:MM:SSZ`, from a table of the period's days so no
/// date arithmetic (and no allocation) happens per edge.
pub(crate) struct DateFormatter {
    days: Vec<[u8; 11]>,
}

impl DateFormatter {
    pub(crate) fn new(config: &GeneratorConfig) -> Self {
        let days = (0..config.period_days)
            .map(|d| {
                let date = config.start_date + chrono::Days::new(u64::from(d));
                let text = format!("{:04}-{:02}-{:02}T", date.year(), date.month(), date.day());
                let mut out = [0u8; 11];
                out.copy_from_slice(text.as_bytes());
                out
            })
            .collect();
        Self { days }
    }

    /// Writes the date `offset` seconds after the start of the period into `out`.
    pub(crate) fn format(&self, offset: u32, out: &mut [u8; 20]) {
        let day = (offset / 86_400) as usize;
        let secs = offset % 86_400;
        out[..11].copy_from_slice(&self.days[day]);
        let two = |v: u32, o: &mut [u8]| {
            o[0] = b'0' + (v / 10) as u8;
            o[1] = b'0' + (v % 10) as u8;
        };
        two(secs / 3600, &mut out[11..13]);
        out[13] = b':';
        two(secs / 60 % 60, &mut out[14..16]);
        out[16] = b':';
        two(secs % 60, &mut out[17..19]);
        out[19] = b'Z';
    }
}

/// Generates a whole data set in memory. Use it for small sets; [`write_dataset`](crate::dataset::write_dataset) streams
/// large ones to files. Both produce the same persons and edges for the same configuration.
pub fn generate(config: &GeneratorConfig) -> Result<GeneratedData, ConfigError> {
    let dates = DateFormatter::new(config);
    let mut date = [0u8; 20];
    let edges = EdgeGenerator::new(config)?
        .map(|e| {
            dates.format(e.created_offset, &mut date);
            FollowsEdge::new(
                format!("p{}", e.from),
                format!("p{}", e.to),
                std::str::from_utf8(&date).expect("ASCII"),
            )
        })
        .collect();
    Ok(GeneratedData {
        persons: persons(config).collect(),
        edges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(persons: u32, edges: u64, seed: u64) -> GeneratorConfigBuilder {
        GeneratorConfig::builder()
            .persons(persons)
            .edges(edges)
            .seed(seed)
    }

    #[test]
    fn exactly_the_requested_number_of_edges_is_generated() {
        for (p, e) in [(2, 2), (10, 90), (1_000, 20_000), (50, 0)] {
            let data = generate(&small(p, e, 5).build().unwrap()).unwrap();
            assert_eq!(data.edges.len() as u64, e, "{p} persons, {e} edges");
            assert_eq!(data.persons.len() as u32, p);
        }
    }

    #[test]
    fn nobody_follows_themself_and_no_pair_repeats_even_when_the_graph_is_complete() {
        let data = generate(&small(30, 30 * 29, 9).build().unwrap()).unwrap();
        let mut pairs = std::collections::HashSet::new();
        for e in &data.edges {
            assert_ne!(e.from, e.to);
            assert!(
                pairs.insert((e.from.clone(), e.to.clone())),
                "{e:?} repeated"
            );
        }
        assert_eq!(pairs.len(), 30 * 29);
    }

    #[test]
    fn invalid_configurations_name_the_field() {
        let err = small(1, 0, 1).build().unwrap_err();
        assert_eq!(err.field, "persons", "{err}");
        let err = small(3, 7, 1).build().unwrap_err();
        assert_eq!(err.field, "edges", "{err}");
        let err = GeneratorConfig::builder().skew(0.5).build().unwrap_err();
        assert_eq!(err.field, "skew", "{err}");
        assert!(err.to_string().contains("skew: 0.5"), "{err}");
        assert!(!err.is_retriable());
        assert!(GeneratorConfig::default().validate().is_ok());
    }

    #[test]
    fn creation_dates_fall_inside_the_period_and_are_well_formed() {
        let config = small(200, 2_000, 4).period_days(31).build().unwrap();
        let data = generate(&config).unwrap();
        for e in &data.edges {
            let d = &e.creation_date;
            assert!(d.starts_with("2019-01-"), "{d}");
            assert!(
                chrono::DateTime::parse_from_rfc3339(d).is_ok(),
                "{d} is not RFC 3339"
            );
        }
        let first_days: std::collections::HashSet<_> =
            data.edges.iter().map(|e| &e.creation_date[..10]).collect();
        assert!(first_days.len() > 25, "dates are spread over the month");
    }

    #[test]
    fn consecutive_edges_come_from_many_followers() {
        let data = generate(&small(5_000, 50_000, 2).build().unwrap()).unwrap();
        let first_batch: std::collections::HashSet<_> =
            data.edges[..100].iter().map(|e| &e.from).collect();
        assert!(
            first_batch.len() > 30,
            "a batch of 100 edges has only {} followers",
            first_batch.len()
        );
    }
}
