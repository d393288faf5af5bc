//! A seeded social network: persons, `follows` edges with a heavy-tailed in-degree (a few
//! super-connectors followed by thousands), and the records a stream would carry.
//!
//! `cargo run -p workload-gen --example social_graph`
use std::collections::HashMap;
use workload_gen::generator::{generate, GeneratorConfig};
use workload_gen::PayloadFormat;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = GeneratorConfig::builder()
        .persons(5_000)
        .edges(50_000)
        .seed(7)
        .build()?;
    let data = generate(&config)?;
    let mut in_degree: HashMap<&str, u64> = HashMap::new();
    for e in &data.edges {
        *in_degree.entry(&e.to).or_default() += 1;
    }
    let mut degrees: Vec<u64> = in_degree.values().copied().collect();
    degrees.sort_unstable_by(|a, b| b.cmp(a));
    println!(
        "{} persons, {} edges; top in-degrees {:?}; median {}",
        data.persons.len(),
        data.edges.len(),
        &degrees[..5],
        degrees[degrees.len() / 2]
    );
    let first = &data.edges[0];
    println!(
        "first record: key {} payload {}",
        first.from,
        String::from_utf8_lossy(&first.encode(PayloadFormat::Csv))
    );
    Ok(())
}
