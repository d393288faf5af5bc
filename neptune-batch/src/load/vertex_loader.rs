//! Upserting the vertices of a Gremlin CSV file into any [`GraphSink`], in batches, with progress.

use super::csv::{BadLine, CsvError, CsvRow, ElementKind, GremlinCsvReader};
use super::metrics as names;
use crate::error::{check_backoff, ConfigError, SinkError};
use crate::model::Vertex;
use crate::outcome::{ItemFailure, ItemOutcome};
use crate::sink::GraphSink;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};
use stream2neptune_common::{Backoff, Classify, ErrorKind};

/// How [`load_vertices`] batches and retries. Built with [`VertexLoadOptions::builder`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VertexLoadOptions {
    /// Vertices per [`GraphSink::write_vertices`] call. Default 100 (the original system's
    /// `BatchWriteSize`), at most [`MAX_BATCH_SIZE`](Self::MAX_BATCH_SIZE).
    pub batch_size: usize,
    /// Retries of a batch when the sink fails the whole call with a retriable error
    /// (per-item failures are the sink's to retry). Default: the original's 5 retries (at
    /// most [`MAX_BATCH_RETRIES`](Self::MAX_BATCH_RETRIES), and bounded), waits from 500 ms
    /// doubling up to 10 s with full jitter (the original waited about 500 ms plus up to
    /// 205 ms).
    pub retry: Backoff,
}

impl Default for VertexLoadOptions {
    fn default() -> Self {
        Self {
            batch_size: Self::DEFAULT_BATCH_SIZE,
            retry: Backoff::new(Duration::from_millis(500), Duration::from_secs(10))
                .with_max_retries(5),
        }
    }
}

impl VertexLoadOptions {
    /// Vertices per request in the original system (`BatchWriteSize`).
    pub const DEFAULT_BATCH_SIZE: usize = 100;
    /// The largest batch the original system's template allowed (`BatchWriteSize` 1–10000).
    pub const MAX_BATCH_SIZE: usize = 10_000;
    /// A bound on retries per batch, so a misconfiguration cannot retry for hours.
    pub const MAX_BATCH_RETRIES: u32 = 99;

    /// A builder from the defaults; [`build`](VertexLoadOptionsBuilder::build) checks every
    /// field.
    ///
    /// ```
    /// use neptune_batch::load::VertexLoadOptions;
    ///
    /// let options = VertexLoadOptions::builder().batch_size(500).build()?;
    /// assert_eq!(options.batch_size, 500);
    /// assert_eq!(VertexLoadOptions::builder().batch_size(0).build().unwrap_err().field(), "batch_size");
    /// # Ok::<(), neptune_batch::ConfigError>(())
    /// ```
    pub fn builder() -> VertexLoadOptionsBuilder {
        VertexLoadOptionsBuilder {
            options: Self::default(),
        }
    }

    /// Checks every field against its bounds; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.batch_size == 0 || self.batch_size > Self::MAX_BATCH_SIZE {
            return Err(ConfigError::new(
                "batch_size",
                format!(
                    "must be between 1 and {}, got {}",
                    Self::MAX_BATCH_SIZE,
                    self.batch_size
                ),
            ));
        }
        check_backoff("retry", &self.retry, Self::MAX_BATCH_RETRIES)
    }
}

/// Builds [`VertexLoadOptions`] from their defaults (see [`VertexLoadOptions::builder`]);
/// each setter documents its field.
#[derive(Debug, Clone)]
#[must_use]
pub struct VertexLoadOptionsBuilder {
    options: VertexLoadOptions,
}

impl VertexLoadOptionsBuilder {
    /// [`VertexLoadOptions::batch_size`].
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.options.batch_size = batch_size;
        self
    }

    /// [`VertexLoadOptions::retry`].
    pub fn retry(mut self, retry: Backoff) -> Self {
        self.options.retry = retry;
        self
    }

    /// The options, if every field can work.
    pub fn build(self) -> Result<VertexLoadOptions, ConfigError> {
        self.options.validate()?;
        Ok(self.options)
    }
}

/// Where a load stands, handed to the progress callback after every batch.
///
/// A binary can draw a bar from `bytes_read` / `total_bytes` (compressed bytes for a gzip
/// file, so the bar is exact either way) and print the counts beside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadProgress {
    /// Rows read so far (good and bad), the header excluded.
    pub rows_read: u64,
    /// Bytes read so far from the file.
    pub bytes_read: u64,
    /// The file's size, when known.
    pub total_bytes: Option<u64>,
    /// Vertices created.
    pub written: u64,
    /// Vertices that were already there.
    pub already_present: u64,
    /// Vertices the sink refused.
    pub failed: u64,
    /// Rows the reader refused.
    pub bad_lines: u64,
    /// Batches written.
    pub batches: u64,
}

/// A vertex the sink did not write, with the line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedVertex {
    /// The vertex id.
    pub id: String,
    /// The line of the file where its row starts.
    pub line: u64,
    /// Why the sink did not write it.
    pub failure: ItemFailure,
}

/// What a load did, row by row accounted for:
/// `rows_read == written + already_present + failed.len() + bad_lines.len()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VertexLoadSummary {
    /// The file loaded.
    pub file: String,
    /// Whether it was gzip-compressed.
    pub gzip: bool,
    /// Rows read (good and bad), the header excluded.
    pub rows_read: u64,
    /// Vertices created.
    pub written: u64,
    /// Vertices that were already there (a reload, or an id repeated in the file).
    pub already_present: u64,
    /// Vertices the sink refused, with reasons.
    pub failed: Vec<FailedVertex>,
    /// Rows the reader refused, with reasons.
    pub bad_lines: Vec<BadLine>,
    /// Multi-valued (`[]`) columns of the file: each was written as a property with set
    /// cardinality ([`PropertyValue::Set`](crate::PropertyValue::Set)).
    pub multi_valued_columns: Vec<String>,
    /// Batches handed to the sink.
    pub batches: u64,
    /// Requests the sink reported sending.
    pub requests: u64,
    /// Retries the sink reported making inside its calls.
    pub sink_retries: u64,
    /// Batches sent again by the loader after the sink failed a whole call.
    pub batch_retries: u64,
    /// Time taken.
    pub elapsed: Duration,
}

impl VertexLoadSummary {
    /// Every row of the file is in the graph: nothing failed and no row was refused.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && self.bad_lines.is_empty()
    }

    fn progress(&self, bytes_read: u64, total_bytes: Option<u64>) -> LoadProgress {
        LoadProgress {
            rows_read: self.rows_read,
            bytes_read,
            total_bytes,
            written: self.written,
            already_present: self.already_present,
            failed: self.failed.len() as u64,
            bad_lines: self.bad_lines.len() as u64,
            batches: self.batches,
        }
    }
}

/// Why a load stopped. When it stopped part-way, the summary of what was done comes with it,
/// so nothing read is unaccounted for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VertexLoadError {
    /// The options are invalid; nothing was read.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The file could not be opened or its header is unusable; nothing was written.
    #[error(transparent)]
    Open(CsvError),
    /// Reading failed part-way (I/O error, corrupt gzip).
    #[error("{source} (after {} rows)", summary.rows_read)]
    ReadFailed {
        /// What was done before.
        summary: Box<VertexLoadSummary>,
        /// The read failure.
        source: CsvError,
    },
    /// The sink failed a whole call with a non-retriable error, or with a retriable one on
    /// every allowed attempt.
    #[error("the graph sink failed: {source} (after {} rows)", summary.rows_read)]
    SinkFailed {
        /// What was done before; the failing batch is not counted in it.
        summary: Box<VertexLoadSummary>,
        /// The sink's error.
        source: SinkError,
    },
}

/// A load stopped by its options is a usage error, by its file or the sink as they are.
impl Classify for VertexLoadError {
    fn kind(&self) -> ErrorKind {
        match self {
            VertexLoadError::Config(e) => e.kind(),
            VertexLoadError::Open(e) | VertexLoadError::ReadFailed { source: e, .. } => e.kind(),
            VertexLoadError::SinkFailed { source, .. } => source.kind(),
        }
    }
}

impl VertexLoadError {
    /// Whether running the same load again may succeed: `self.kind().is_retriable()`.
    /// Loading is idempotent (an existing vertex is reported as already present), so a retry
    /// after a transient failure is safe.
    pub fn is_retriable(&self) -> bool {
        self.kind().is_retriable()
    }

    /// The summary of the work done before the load stopped, if it got that far.
    pub fn summary(&self) -> Option<&VertexLoadSummary> {
        match self {
            VertexLoadError::ReadFailed { summary, .. }
            | VertexLoadError::SinkFailed { summary, .. } => Some(summary),
            _ => None,
        }
    }
}

/// Reads the vertex file at `path` (plain or gzip) and upserts its vertices into `sink` in
/// batches of `options.batch_size`, calling `progress` after each batch.
///
/// Rows that do not parse are reported in [`VertexLoadSummary::bad_lines`] and the load goes
/// on; vertices the sink refuses are reported in [`VertexLoadSummary::failed`]. Running the
/// same load twice leaves the graph as after the first run.
pub async fn load_vertices(
    path: impl AsRef<Path>,
    sink: &dyn GraphSink,
    options: &VertexLoadOptions,
    progress: impl FnMut(&LoadProgress) + Send,
) -> Result<VertexLoadSummary, VertexLoadError> {
    options.validate()?;
    let path = path.as_ref().to_owned();
    // Opening reads the first block of the file: off the async threads.
    let reader = tokio::task::spawn_blocking(move || GremlinCsvReader::open(path))
        .await
        .map_err(|join| {
            VertexLoadError::Open(CsvError::Open {
                file: String::new(),
                source: io::Error::other(join.to_string()),
            })
        })?
        .map_err(VertexLoadError::Open)?;
    load_vertices_from(reader, sink, options, progress).await
}

/// A batch of parsed rows, handed from the reading thread to the writer.
struct ReadBatch {
    lines: Vec<u64>,
    vertices: Vec<Vertex>,
    bad_lines: Vec<BadLine>,
    rows_read: u64,
    bytes_read: u64,
}

/// As [`load_vertices`], from a reader already opened (e.g. over a network stream with
/// [`GremlinCsvReader::from_reader`]).
///
/// The file is parsed on a blocking thread while the previous batch is being written, so the
/// sink is never kept waiting on the disk or the decompressor.
pub async fn load_vertices_from(
    reader: GremlinCsvReader,
    sink: &dyn GraphSink,
    options: &VertexLoadOptions,
    mut progress: impl FnMut(&LoadProgress) + Send,
) -> Result<VertexLoadSummary, VertexLoadError> {
    options.validate()?;
    crate::metrics::describe();
    let started = Instant::now();
    if reader.header().kind != ElementKind::Vertex {
        return Err(VertexLoadError::Open(CsvError::WrongKind {
            file: reader.file().to_owned(),
            expected: ElementKind::Vertex,
            found: reader.header().kind,
        }));
    }
    let mut summary = VertexLoadSummary {
        file: reader.file().to_owned(),
        gzip: reader.is_gzip(),
        multi_valued_columns: reader.header().multi_valued_columns(),
        ..Default::default()
    };
    let total_bytes = reader.total_bytes();
    // Two batches in the channel: reading stays one batch ahead without buffering the file.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<ReadBatch>(2);
    let batch_size = options.batch_size;
    let read_thread = tokio::task::spawn_blocking(move || read_batches(reader, batch_size, tx));

    while let Some(mut batch) = rx.recv().await {
        metrics::counter!(names::ROWS_READ).increment(batch.rows_read - summary.rows_read);
        metrics::counter!(names::BAD_LINES).increment(batch.bad_lines.len() as u64);
        summary.rows_read = batch.rows_read;
        summary.bad_lines.append(&mut batch.bad_lines);
        if !batch.vertices.is_empty() {
            if let Err(source) = write_batch(sink, options, &batch, &mut summary).await {
                summary.rows_read -= batch.vertices.len() as u64;
                summary.elapsed = started.elapsed();
                return Err(VertexLoadError::SinkFailed {
                    summary: Box::new(summary),
                    source,
                });
            }
        }
        progress(&summary.progress(batch.bytes_read, total_bytes));
    }
    summary.elapsed = started.elapsed();
    let read_result = read_thread.await.unwrap_or_else(|join| {
        Err(CsvError::Read {
            file: summary.file.clone(),
            line: 0,
            source: io::Error::other(join.to_string()),
        })
    });
    match read_result {
        Ok(()) => Ok(summary),
        Err(source) => Err(VertexLoadError::ReadFailed {
            summary: Box::new(summary),
            source,
        }),
    }
}

/// Reads the whole file into batches of `batch_size` vertices. A batch is also sent when it
/// holds `batch_size` bad lines, so progress keeps moving through a file of bad rows. On a
/// read failure, what was read before it is sent first.
fn read_batches(
    mut reader: GremlinCsvReader,
    batch_size: usize,
    tx: tokio::sync::mpsc::Sender<ReadBatch>,
) -> Result<(), CsvError> {
    loop {
        let mut batch = ReadBatch {
            lines: Vec::with_capacity(batch_size),
            vertices: Vec::with_capacity(batch_size),
            bad_lines: Vec::new(),
            rows_read: 0,
            bytes_read: 0,
        };
        let mut outcome = Ok(true);
        while batch.vertices.len() < batch_size && batch.bad_lines.len() < batch_size {
            match reader.next_vertex() {
                Ok(Some(CsvRow::Parsed { line, element })) => {
                    batch.lines.push(line);
                    batch.vertices.push(element);
                }
                Ok(Some(CsvRow::Bad(bad))) => batch.bad_lines.push(bad),
                Ok(None) => {
                    outcome = Ok(false);
                    break;
                }
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        batch.rows_read = reader.rows_read();
        batch.bytes_read = reader.bytes_read();
        let has_rows = !batch.vertices.is_empty() || !batch.bad_lines.is_empty();
        if (has_rows || matches!(outcome, Ok(false))) && tx.blocking_send(batch).is_err() {
            // The writer stopped; it reports why.
            return Ok(());
        }
        match outcome {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// Writes one batch, sending it again after a retriable failure of the whole call. Sending a
/// batch again is safe because writing a vertex that exists reports it as already present.
async fn write_batch(
    sink: &dyn GraphSink,
    options: &VertexLoadOptions,
    batch: &ReadBatch,
    summary: &mut VertexLoadSummary,
) -> Result<(), SinkError> {
    let mut retry = 0;
    let report = loop {
        match sink.write_vertices(&batch.vertices).await {
            Ok(report) => break report,
            Err(e) => {
                let delay = e.is_retriable().then(|| options.retry.next_delay(retry));
                let Some(Some(delay)) = delay else {
                    return Err(e);
                };
                tracing::warn!(error = %e, retry, "vertex batch failed, retrying");
                metrics::counter!(names::BATCH_RETRIES, "reason" => "sink_error").increment(1);
                summary.batch_retries += 1;
                tokio::time::sleep(delay).await;
                retry += 1;
            }
        }
    };
    summary.batches += 1;
    summary.requests += u64::from(report.requests);
    summary.sink_retries += u64::from(report.retries);
    let (mut written, mut present, mut failed) = (0u64, 0u64, 0u64);
    for (i, vertex) in batch.vertices.iter().enumerate() {
        // A sink that answers with fewer outcomes than items breaks its contract; the
        // unanswered vertices are reported as failed rather than assumed written.
        let outcome = report.outcomes.get(i).cloned().unwrap_or_else(|| {
            ItemOutcome::Failed(ItemFailure::Rejected {
                code: "NoOutcome".into(),
                message: "the sink reported no outcome for this vertex".into(),
            })
        });
        match outcome {
            ItemOutcome::Written => written += 1,
            // A create never meets a newer version: either way the vertex is there.
            ItemOutcome::AlreadyPresent | ItemOutcome::Stale => present += 1,
            ItemOutcome::Failed(failure) => {
                failed += 1;
                summary.failed.push(FailedVertex {
                    id: vertex.id.clone(),
                    line: batch.lines[i],
                    failure,
                });
            }
        }
    }
    summary.written += written;
    summary.already_present += present;
    metrics::counter!(names::VERTICES_WRITTEN).increment(written);
    metrics::counter!(names::VERTICES_ALREADY_PRESENT).increment(present);
    metrics::counter!(names::VERTICES_FAILED).increment(failed);
    Ok(())
}
