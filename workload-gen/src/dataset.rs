//! Writes a generated data set as Neptune Gremlin bulk-load CSV files.

use crate::generator::{persons, ConfigError, DateFormatter, EdgeGenerator, GeneratorConfig};
use flate2::write::GzEncoder;
use flate2::Compression;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// File name of the vertex file in the output directory.
pub const VERTEX_FILE: &str = "persons.csv";
/// File name of the gzip-compressed edge file in the output directory (the original's name).
pub const EDGE_FILE: &str = "follows.csv.gz";
/// Header of the vertex file (Neptune Gremlin load format).
pub const VERTEX_HEADER: [&str; 5] = [
    "~id",
    "~label",
    "firstName:String",
    "lastName:String",
    "id:Long",
];
/// Header of the edge file (Neptune Gremlin load format).
pub const EDGE_HEADER: [&str; 5] = ["~id", "~label", "~from", "~to", "creationDate"];

/// How the files are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOptions {
    /// gzip level of the edge file, 0 (store) to 9 (smallest). The default 1 is the fastest
    /// that still compresses well.
    pub gzip_level: u32,
    /// Report progress every this many edges.
    pub progress_every: u64,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            gzip_level: 1,
            progress_every: 100_000,
        }
    }
}

/// Where a data set was written, and its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetSummary {
    /// The vertex file.
    pub vertex_path: PathBuf,
    /// The edge file.
    pub edge_path: PathBuf,
    /// Persons written.
    pub persons: u64,
    /// Edges written.
    pub edges: u64,
    /// Size of the compressed edge file.
    pub edge_file_bytes: u64,
    /// The ten largest in-degrees, largest first, with the person's vertex id.
    pub top_in_degrees: Vec<(String, u64)>,
    /// The median in-degree over all persons.
    pub median_in_degree: u64,
    /// Time taken.
    pub elapsed: Duration,
}

/// Progress of [`write_dataset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteProgress {
    /// Edges written so far.
    pub edges_written: u64,
    /// Edges to write in all.
    pub edges_total: u64,
}

/// Why a data set could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// The configuration is invalid.
    #[error("invalid generator configuration: {0}")]
    Config(#[from] ConfigError),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl DatasetError {
    /// Whether writing again may succeed (a full disk may be freed; a bad configuration stays
    /// bad).
    pub fn is_retriable(&self) -> bool {
        matches!(self, DatasetError::Io { .. })
    }
}

/// Generates the data set of `config` into `dir` (created if missing): [`VERTEX_FILE`] and
/// [`EDGE_FILE`]. Streams: memory stays proportional to the number of persons. `progress` is
/// called every [`WriteOptions::progress_every`] edges and once at the end.
pub fn write_dataset(
    config: &GeneratorConfig,
    dir: &Path,
    options: &WriteOptions,
    mut progress: impl FnMut(WriteProgress),
) -> Result<DatasetSummary, DatasetError> {
    let started = Instant::now();
    let mut edges = EdgeGenerator::new(config)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DatasetError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let vertex_path = dir.join(VERTEX_FILE);
    let edge_path = dir.join(EDGE_FILE);

    // Vertices: small, written plainly through the csv writer (which quotes names as needed).
    let mut vertices = csv::WriterBuilder::new()
        .buffer_capacity(1 << 16)
        .from_writer(File::create(&vertex_path).map_err(io(&vertex_path))?);
    let csv_err = |path: &Path| {
        let path = path.to_path_buf();
        move |e: csv::Error| DatasetError::Io {
            path,
            source: e.into(),
        }
    };
    vertices
        .write_record(VERTEX_HEADER)
        .map_err(csv_err(&vertex_path))?;
    let mut number = itoa::Buffer::new();
    let mut person_count = 0u64;
    for p in persons(config) {
        let n = number.format(p.number).to_owned();
        vertices
            .write_record([
                p.id.as_str(),
                "person",
                p.first_name.as_str(),
                p.last_name.as_str(),
                n.as_str(),
            ])
            .map_err(csv_err(&vertex_path))?;
        person_count += 1;
    }
    vertices
        .into_inner()
        .map_err(|e| DatasetError::Io {
            path: vertex_path.clone(),
            source: e.into_error(),
        })?
        .sync_all()
        .map_err(io(&vertex_path))?;

    // Edges: the hot loop. Fields are formatted into stack buffers (no allocation per edge);
    // the csv writer quotes if ever needed; gzip at a fast level behind a large buffer.
    let file = File::create(&edge_path).map_err(io(&edge_path))?;
    let gz = GzEncoder::new(
        BufWriter::with_capacity(1 << 20, file),
        Compression::new(options.gzip_level.min(9)),
    );
    let mut out = csv::WriterBuilder::new()
        .buffer_capacity(1 << 18)
        .from_writer(gz);
    out.write_record(EDGE_HEADER).map_err(csv_err(&edge_path))?;
    let dates = DateFormatter::new(config);
    let mut in_degree = vec![0u64; config.persons as usize];
    let (mut id_buf, mut from_buf, mut to_buf) = ([0u8; 24], [0u8; 24], [0u8; 24]);
    let mut date = [0u8; 20];
    let mut written = 0u64;
    let every = options.progress_every.max(1);
    for e in &mut edges {
        dates.format(e.created_offset, &mut date);
        out.write_record([
            prefixed(b'e', e.index, &mut id_buf),
            b"follows".as_slice(),
            prefixed(b'p', u64::from(e.from), &mut from_buf),
            prefixed(b'p', u64::from(e.to), &mut to_buf),
            date.as_slice(),
        ])
        .map_err(csv_err(&edge_path))?;
        in_degree[e.to as usize] += 1;
        written += 1;
        if written.is_multiple_of(every) {
            progress(WriteProgress {
                edges_written: written,
                edges_total: config.edges,
            });
        }
    }
    let gz = out.into_inner().map_err(|e| DatasetError::Io {
        path: edge_path.clone(),
        source: e.into_error(),
    })?;
    let mut buffered = gz.finish().map_err(io(&edge_path))?;
    buffered.flush().map_err(io(&edge_path))?;
    let file = buffered.into_inner().map_err(|e| DatasetError::Io {
        path: edge_path.clone(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io(&edge_path))?;
    let edge_file_bytes = file.metadata().map_err(io(&edge_path))?.len();
    progress(WriteProgress {
        edges_written: written,
        edges_total: config.edges,
    });

    let mut ranked: Vec<(u64, u32)> = in_degree
        .iter()
        .enumerate()
        .map(|(p, &d)| (d, p as u32))
        .collect();
    ranked.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let median_in_degree = ranked[ranked.len() / 2].0;
    let top_in_degrees = ranked
        .iter()
        .take(10)
        .map(|&(d, p)| (format!("p{p}"), d))
        .collect();
    Ok(DatasetSummary {
        vertex_path,
        edge_path,
        persons: person_count,
        edges: written,
        edge_file_bytes,
        top_in_degrees,
        median_in_degree,
        elapsed: started.elapsed(),
    })
}

/// `prefix` followed by the decimal digits of `n`, in `buf`.
fn prefixed(prefix: u8, n: u64, buf: &mut [u8; 24]) -> &[u8] {
    let mut digits = itoa::Buffer::new();
    let d = digits.format(n).as_bytes();
    buf[0] = prefix;
    buf[1..=d.len()].copy_from_slice(d);
    &buf[..=d.len()]
}
