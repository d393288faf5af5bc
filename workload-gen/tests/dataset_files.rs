//! The generated files: byte-identical for a seed, heavy-tailed, and read back by the reader.

use std::collections::HashMap;
use workload_gen::dataset::{write_dataset, WriteOptions, EDGE_HEADER, VERTEX_HEADER};
use workload_gen::generator::{generate, GeneratorConfig};
use workload_gen::reader::{EdgeFileConfig, EdgeReader};

fn config(seed: u64) -> GeneratorConfig {
    GeneratorConfig::builder()
        .persons(5_000)
        .edges(100_000)
        .seed(seed)
        .build()
        .unwrap()
}

#[test]
fn the_same_seed_gives_byte_identical_files() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let options = WriteOptions::default();
    let first = write_dataset(&config(42), a.path(), &options, |_| {}).unwrap();
    let second = write_dataset(&config(42), b.path(), &options, |_| {}).unwrap();
    let other = write_dataset(&config(43), c.path(), &options, |_| {}).unwrap();
    let read = |p: &std::path::Path| std::fs::read(p).unwrap();
    assert_eq!(read(&first.edge_path), read(&second.edge_path));
    assert_eq!(read(&first.vertex_path), read(&second.vertex_path));
    assert_ne!(read(&first.edge_path), read(&other.edge_path));
    // The in-memory generator gives the same edges as the files, run after run.
    let edges = generate(&config(42)).unwrap().edges;
    let from_file: Vec<_> = EdgeReader::open(&first.edge_path, &EdgeFileConfig::default())
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    assert_eq!(edges, from_file);
}

#[test]
fn in_degree_is_heavy_tailed_with_super_connectors() {
    let dir = tempfile::tempdir().unwrap();
    let summary = write_dataset(&config(7), dir.path(), &WriteOptions::default(), |_| {}).unwrap();
    let mean = 100_000 / 5_000;
    println!(
        "top in-degrees {:?}, median {}, mean {mean}",
        summary.top_in_degrees, summary.median_in_degree
    );
    let top = summary.top_in_degrees[0].1;
    assert!(
        top > 50 * summary.median_in_degree.max(1),
        "top in-degree {top} vs median {}",
        summary.median_in_degree
    );
    assert!(summary.median_in_degree < mean, "median below the mean");
    // The ten largest hold over 20 times their even share (10 persons x the mean).
    let top_ten: u64 = summary.top_in_degrees.iter().map(|t| t.1).sum();
    assert!(top_ten > 20 * 10 * mean, "top ten hold {top_ten} of 100000");
    // The summary agrees with the file.
    let mut counted: HashMap<String, u64> = HashMap::new();
    for e in EdgeReader::open(&summary.edge_path, &EdgeFileConfig::default()).unwrap() {
        *counted.entry(e.unwrap().to).or_default() += 1;
    }
    for (person, degree) in &summary.top_in_degrees {
        assert_eq!(counted[person], *degree, "{person}");
    }
}

#[test]
fn the_reader_round_trips_the_writer_and_the_headers_are_neptunes() {
    let dir = tempfile::tempdir().unwrap();
    let config = GeneratorConfig::builder()
        .persons(300)
        .edges(3_000)
        .seed(5)
        .build()
        .unwrap();
    let mut progress = Vec::new();
    let summary = write_dataset(
        &config,
        dir.path(),
        &WriteOptions::builder()
            .progress_every(1_000)
            .build()
            .unwrap(),
        |p| progress.push(p.edges_written),
    )
    .unwrap();
    assert_eq!(progress, vec![1_000, 2_000, 3_000, 3_000]);
    let expected = generate(&config).unwrap();

    let mut reader = EdgeReader::open(&summary.edge_path, &EdgeFileConfig::default()).unwrap();
    let read: Vec<_> = reader.by_ref().map(|e| e.unwrap()).collect();
    assert_eq!(read, expected.edges);
    assert_eq!(reader.stats().edges, 3_000);
    assert_eq!(reader.stats().bad_lines, 0);

    let gz = std::fs::read(&summary.edge_path).unwrap();
    assert_eq!(&gz[..2], &[0x1f, 0x8b], "the edge file is gzip");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text).unwrap();
    assert_eq!(text.lines().next().unwrap(), EDGE_HEADER.join(","));
    assert!(text.lines().nth(1).unwrap().starts_with("e0,follows,p"));

    // Vertices: quoted names survive a real CSV parser.
    let mut vertices = csv::Reader::from_path(&summary.vertex_path).unwrap();
    assert_eq!(
        vertices.headers().unwrap().iter().collect::<Vec<_>>(),
        VERTEX_HEADER
    );
    let rows: Vec<csv::StringRecord> = vertices.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 300);
    for (row, person) in rows.iter().zip(&expected.persons) {
        assert_eq!(&row[0], person.id);
        assert_eq!(&row[1], "person");
        assert_eq!(&row[2], person.first_name);
        assert_eq!(&row[3], person.last_name);
        assert_eq!(row[4].parse::<u64>().unwrap(), person.number);
    }
    assert!(
        expected.persons.iter().any(|p| p.last_name.contains(',')),
        "some names need quoting"
    );
    let raw = std::fs::read_to_string(&summary.vertex_path).unwrap();
    assert!(raw.contains("\"Fischer, Jr.\""));
}
