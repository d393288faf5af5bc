//! A seeded generator of the "super-connector" social graph.

use crate::edge::FollowsEdge;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Sizes and seed of a generated data set.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    /// Number of persons.
    pub persons: usize,
    /// Number of `follows` edges.
    pub edges: usize,
    /// The seed: the same seed gives the same data set on every machine.
    pub seed: u64,
    /// Exponent of the in-degree power law (larger is more skewed).
    pub skew: f64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            persons: 10_000,
            edges: 100_000,
            seed: 1,
            skew: 2.5,
        }
    }
}

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

/// Persons and edges of a generated data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedData {
    /// The persons.
    pub persons: Vec<Person>,
    /// The edges, without duplicates of (from, to, creationDate).
    pub edges: Vec<FollowsEdge>,
}

const FIRST: [&str; 16] = [
    "Abdou", "Ada", "Bo", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivan", "Jun", "Kofi",
    "Lena", "Mateo", "Noor", "Olga",
];
const LAST: [&str; 16] = [
    "Ndiaye", "Lovelace", "Berg", "Wei", "Cohen", "Okafor", "Haddad", "Petrov", "Sato", "Ivanova",
    "Kim", "Mensah", "Fischer", "Garcia", "Rahman", "Novak",
];

/// Generates persons and `follows` edges. The followed person is drawn from a power law over
/// person ranks, so in-degree is heavy-tailed; the follower is uniform; creation dates are spread
/// over 2019 (ISO-8601 dates). Self-follows and repeated (from, to) pairs are skipped.
pub fn generate(config: &GeneratorConfig) -> GeneratedData {
    let persons_n = config.persons.max(2);
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let persons: Vec<Person> = (0..persons_n)
        .map(|i| Person {
            id: format!("p{i}"),
            number: i as u64,
            first_name: FIRST[rng.random_range(0..FIRST.len())].to_owned(),
            last_name: LAST[rng.random_range(0..LAST.len())].to_owned(),
        })
        .collect();
    let mut seen = std::collections::HashSet::with_capacity(config.edges);
    let mut edges = Vec::with_capacity(config.edges);
    let max_pairs = persons_n * (persons_n - 1);
    let target = config.edges.min(max_pairs);
    while edges.len() < target {
        let from = rng.random_range(0..persons_n);
        // Inverse-transform sample of a bounded Pareto-like rank: u^skew concentrates near 0.
        let u: f64 = rng.random();
        let to = ((persons_n as f64) * u.powf(config.skew)) as usize % persons_n;
        if from == to || !seen.insert((from, to)) {
            continue;
        }
        let day = rng.random_range(0..365u32);
        let (month, dom) = month_day(day);
        edges.push(FollowsEdge::new(
            persons[from].id.clone(),
            persons[to].id.clone(),
            format!("2019-{month:02}-{dom:02}"),
        ));
    }
    GeneratedData { persons, edges }
}

fn month_day(day_of_year: u32) -> (u32, u32) {
    const DAYS: [u32; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut d = day_of_year;
    for (m, len) in DAYS.iter().enumerate() {
        if d < *len {
            return (m as u32 + 1, d + 1);
        }
        d -= len;
    }
    (12, 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_degree_is_heavy_tailed() {
        let data = generate(&GeneratorConfig {
            persons: 1_000,
            edges: 20_000,
            seed: 3,
            ..Default::default()
        });
        let mut indeg = vec![0usize; 1_000];
        for e in &data.edges {
            indeg[e.to[1..].parse::<usize>().unwrap()] += 1;
        }
        indeg.sort_unstable_by(|a, b| b.cmp(a));
        let mean = 20_000 / 1_000;
        assert!(
            indeg[0] > 10 * mean,
            "top in-degree {} is not a super-connector",
            indeg[0]
        );
        assert!(
            indeg[500] < mean,
            "median in-degree {} should be below the mean",
            indeg[500]
        );
    }

    #[test]
    fn no_self_follows_and_no_repeated_pairs() {
        let data = generate(&GeneratorConfig {
            persons: 50,
            edges: 500,
            seed: 9,
            ..Default::default()
        });
        let mut pairs = std::collections::HashSet::new();
        for e in &data.edges {
            assert_ne!(e.from, e.to);
            assert!(pairs.insert((e.from.clone(), e.to.clone())));
        }
    }
}
