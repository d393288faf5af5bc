//! Writes a generated data set as Neptune Gremlin bulk-load CSV files, and edge files of any
//! edges in the same format ([`EdgeFileWriter`]).

mod edge_writer;

pub use edge_writer::EdgeFileWriter;

use crate::error::ConfigError;
use crate::generator::{persons, DateFormatter, EdgeGenerator, GeneratorConfig, RawEdge};
use flate2::write::GzEncoder;
use flate2::Compression;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use stream2neptune_common::{Classify, ErrorKind};

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

/// How the files are written. Made by [`WriteOptions::builder`] (or [`Default`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteOptions {
    /// gzip level of the edge file, 0 (store) to 9 (smallest). The default 1 is the fastest
    /// that still compresses well.
    pub gzip_level: u32,
    /// Report progress every this many edges: default 100 000.
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

impl WriteOptions {
    /// A builder holding the defaults.
    ///
    /// ```
    /// use workload_gen::dataset::WriteOptions;
    ///
    /// let options = WriteOptions::builder().gzip_level(9).build()?;
    /// assert_eq!(options.gzip_level, 9);
    /// assert_eq!(WriteOptions::builder().gzip_level(10).build().unwrap_err().field, "gzip_level");
    /// # Ok::<(), workload_gen::ConfigError>(())
    /// ```
    pub fn builder() -> WriteOptionsBuilder {
        WriteOptionsBuilder {
            options: Self::default(),
        }
    }

    /// Checks the gzip level (0 to 9) and the progress step (at least 1).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.gzip_level > 9 {
            return Err(ConfigError::new(
                "gzip_level",
                format!("{} is outside 0..=9", self.gzip_level),
            ));
        }
        if self.progress_every == 0 {
            return Err(ConfigError::new("progress_every", "must be at least 1"));
        }
        Ok(())
    }
}

/// Builds [`WriteOptions`]; [`build`](Self::build) checks them.
#[derive(Debug, Clone)]
#[must_use]
pub struct WriteOptionsBuilder {
    options: WriteOptions,
}

impl WriteOptionsBuilder {
    /// Sets [`WriteOptions::gzip_level`].
    pub fn gzip_level(mut self, level: u32) -> Self {
        self.options.gzip_level = level;
        self
    }

    /// Sets [`WriteOptions::progress_every`].
    pub fn progress_every(mut self, edges: u64) -> Self {
        self.options.progress_every = edges;
        self
    }

    /// The options, if the gzip level and the progress step are valid.
    pub fn build(self) -> Result<WriteOptions, ConfigError> {
        self.options.validate()?;
        Ok(self.options)
    }
}

/// Where a data set was written, and its shape.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
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
#[non_exhaustive]
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
    #[error(transparent)]
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

/// A bad configuration and a file that cannot be written are both settings to change:
/// [`ErrorKind::Usage`].
impl Classify for DatasetError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Usage
    }
}

/// Turns an I/O error on `path` into a [`DatasetError`].
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DatasetError {
    let path = path.to_path_buf();
    move |source| DatasetError::Io { path, source }
}

/// Turns a CSV error on `path` into a [`DatasetError`] (writing CSV fails only on I/O).
fn csv_err(path: &Path) -> impl FnOnce(csv::Error) -> DatasetError {
    let path = path.to_path_buf();
    move |e| DatasetError::Io {
        path,
        source: e.into(),
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
    let edges = EdgeGenerator::new(config)?;
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let vertex_path = dir.join(VERTEX_FILE);
    let edge_path = dir.join(EDGE_FILE);
    let person_count = write_vertices(config, &vertex_path)?;
    let written = write_edges(config, edges, &edge_path, options, &mut progress)?;
    let (top_in_degrees, median_in_degree) = rank(&written.in_degree);
    Ok(DatasetSummary {
        vertex_path,
        edge_path,
        persons: person_count,
        edges: written.edges,
        edge_file_bytes: written.bytes,
        top_in_degrees,
        median_in_degree,
        elapsed: started.elapsed(),
    })
}

/// Writes the vertex file; the number of persons. Small, so written plainly through the csv
/// writer (which quotes names as needed).
fn write_vertices(config: &GeneratorConfig, path: &Path) -> Result<u64, DatasetError> {
    let mut vertices = csv::WriterBuilder::new()
        .buffer_capacity(1 << 16)
        .from_writer(File::create(path).map_err(io(path))?);
    vertices
        .write_record(VERTEX_HEADER)
        .map_err(csv_err(path))?;
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
            .map_err(csv_err(path))?;
        person_count += 1;
    }
    vertices
        .into_inner()
        .map_err(|e| DatasetError::Io {
            path: path.to_path_buf(),
            source: e.into_error(),
        })?
        .sync_all()
        .map_err(io(path))?;
    Ok(person_count)
}

/// What the edge file holds.
struct EdgesWritten {
    edges: u64,
    /// Size of the compressed file.
    bytes: u64,
    /// Followers of each person, by person number.
    in_degree: Vec<u64>,
}

/// Writes the edge file: the hot loop. Fields are formatted into stack buffers (no allocation
/// per edge); the csv writer quotes if ever needed; gzip at a fast level behind a large
/// buffer.
fn write_edges(
    config: &GeneratorConfig,
    edges: impl Iterator<Item = RawEdge>,
    path: &Path,
    options: &WriteOptions,
    progress: &mut impl FnMut(WriteProgress),
) -> Result<EdgesWritten, DatasetError> {
    let file = File::create(path).map_err(io(path))?;
    let gz = GzEncoder::new(
        BufWriter::with_capacity(1 << 20, file),
        Compression::new(options.gzip_level.min(9)),
    );
    let mut out = csv::WriterBuilder::new()
        .buffer_capacity(1 << 18)
        .from_writer(gz);
    out.write_record(EDGE_HEADER).map_err(csv_err(path))?;
    let dates = DateFormatter::new(config);
    let mut in_degree = vec![0u64; config.persons as usize];
    let (mut id_buf, mut from_buf, mut to_buf) = ([0u8; 24], [0u8; 24], [0u8; 24]);
    let mut date = [0u8; 20];
    let mut written = 0u64;
    let every = options.progress_every.max(1);
    for e in edges {
        dates.format(e.created_offset, &mut date);
        out.write_record([
            prefixed(b'e', e.index, &mut id_buf),
            b"follows".as_slice(),
            prefixed(b'p', u64::from(e.from), &mut from_buf),
            prefixed(b'p', u64::from(e.to), &mut to_buf),
            date.as_slice(),
        ])
        .map_err(csv_err(path))?;
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
        path: path.to_path_buf(),
        source: e.into_error(),
    })?;
    let mut buffered = gz.finish().map_err(io(path))?;
    buffered.flush().map_err(io(path))?;
    let file = buffered.into_inner().map_err(|e| DatasetError::Io {
        path: path.to_path_buf(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io(path))?;
    let bytes = file.metadata().map_err(io(path))?.len();
    progress(WriteProgress {
        edges_written: written,
        edges_total: config.edges,
    });
    Ok(EdgesWritten {
        edges: written,
        bytes,
        in_degree,
    })
}

/// The ten largest in-degrees, largest first, with the person's vertex id; and the median.
fn rank(in_degree: &[u64]) -> (Vec<(String, u64)>, u64) {
    let mut ranked: Vec<(u64, u32)> = in_degree
        .iter()
        .enumerate()
        .map(|(p, &d)| (d, p as u32))
        .collect();
    ranked.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let median = ranked[ranked.len() / 2].0;
    let top = ranked
        .iter()
        .take(10)
        .map(|&(d, p)| (format!("p{p}"), d))
        .collect();
    (top, median)
}

/// `prefix` followed by the decimal digits of `n`, in `buf`.
fn prefixed(prefix: u8, n: u64, buf: &mut [u8; 24]) -> &[u8] {
    let mut digits = itoa::Buffer::new();
    let d = digits.format(n).as_bytes();
    buf[0] = prefix;
    buf[1..=d.len()].copy_from_slice(d);
    &buf[..=d.len()]
}
