//! Time to generate the default data set (about 2 million `follows` edges among 100 000
//! persons) with its gzip edge file, into a temporary directory. Goal: under 10 s.
//!
//! Run with `cargo bench -p stream2neptune-benches --bench workload_generate`. Prints the time
//! of each run, the file sizes and the top in-degrees; `WORKLOAD_BENCH_RUNS` sets the number of
//! runs (default 3).

use std::time::Instant;
use workload_gen::dataset::{write_dataset, WriteOptions};
use workload_gen::generator::GeneratorConfig;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run once, small.
    let benching = std::env::args().any(|a| a == "--bench");
    let runs: usize = std::env::var("WORKLOAD_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 3 } else { 1 });
    let config = if benching {
        GeneratorConfig::default()
    } else {
        GeneratorConfig::builder()
            .persons(1_000)
            .edges(10_000)
            .build()
            .expect("a valid data set")
    };
    let dir = std::env::temp_dir().join(format!("workload-generate-bench-{}", std::process::id()));
    let mut seconds = Vec::new();
    for run in 1..=runs {
        let started = Instant::now();
        let summary = write_dataset(&config, &dir, &WriteOptions::default(), |_| {})
            .expect("the data set is written");
        let elapsed = started.elapsed().as_secs_f64();
        seconds.push(elapsed);
        let vertex_bytes = std::fs::metadata(&summary.vertex_path)
            .map(|m| m.len())
            .unwrap_or(0);
        println!(
            "workload_generate run {run}: {} persons, {} edges in {elapsed:.2} s \
             ({:.0} edges/s); follows.csv.gz {:.1} MB, persons.csv {:.1} MB",
            summary.persons,
            summary.edges,
            summary.edges as f64 / elapsed,
            summary.edge_file_bytes as f64 / 1e6,
            vertex_bytes as f64 / 1e6,
        );
        if run == 1 {
            println!(
                "  top in-degrees: {:?}; median in-degree {}",
                summary.top_in_degrees, summary.median_in_degree
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    seconds.sort_by(f64::total_cmp);
    println!(
        "workload_generate: best {:.2} s, median {:.2} s over {runs} run(s) (goal: under 10 s)",
        seconds[0],
        seconds[seconds.len() / 2]
    );
}
