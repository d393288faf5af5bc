//! [`EdgeReader`]: reads `follows` edges from Neptune CSV edge files, plain or
//! gzip-compressed, with its configuration and its errors.

use crate::edge::FollowsEdge;
use crate::error::ConfigError;
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use stream2neptune_common::{Classify, ErrorKind};

/// Which columns hold the edge's fields, counted from 1 like the original's documentation
/// (it read columns 3, 4 and 5 of `~id,~label,~from,~to,creationDate`). Set through
/// [`EdgeFileConfigBuilder::columns`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EdgeColumns {
    /// Column of the follower's id.
    pub from: usize,
    /// Column of the followed person's id.
    pub to: usize,
    /// Column of the creation date.
    pub creation_date: usize,
}

impl Default for EdgeColumns {
    fn default() -> Self {
        Self {
            from: 3,
            to: 4,
            creation_date: 5,
        }
    }
}

/// How an edge file is read. Made by [`EdgeFileConfig::builder`] (or [`Default`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EdgeFileConfig {
    /// The columns of the fields.
    pub columns: EdgeColumns,
    /// Whether the first line is a header (skipped).
    pub has_header: bool,
    /// The field delimiter.
    pub delimiter: u8,
}

impl Default for EdgeFileConfig {
    fn default() -> Self {
        Self {
            columns: EdgeColumns::default(),
            has_header: true,
            delimiter: b',',
        }
    }
}

impl EdgeFileConfig {
    /// A builder holding the defaults: columns 3, 4 and 5, a header, commas.
    ///
    /// ```
    /// use workload_gen::reader::EdgeFileConfig;
    ///
    /// // `from;to;date` lines without a header.
    /// let config = EdgeFileConfig::builder()
    ///     .columns(1, 2, 3)
    ///     .has_header(false)
    ///     .delimiter(b';')
    ///     .build()?;
    /// assert_eq!(config.columns.to, 2);
    /// assert_eq!(EdgeFileConfig::builder().columns(0, 1, 2).build().unwrap_err().field, "columns.from");
    /// # Ok::<(), workload_gen::ConfigError>(())
    /// ```
    pub fn builder() -> EdgeFileConfigBuilder {
        EdgeFileConfigBuilder {
            config: Self::default(),
        }
    }

    /// Checks that the columns are numbered from 1 (what [`build`] does; the reader checks
    /// again when it opens a file).
    ///
    /// [`build`]: EdgeFileConfigBuilder::build
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, c) in [
            ("columns.from", self.columns.from),
            ("columns.to", self.columns.to),
            ("columns.creation_date", self.columns.creation_date),
        ] {
            if c == 0 {
                return Err(ConfigError::new(field, "columns are numbered from 1"));
            }
        }
        Ok(())
    }
}

/// Builds an [`EdgeFileConfig`]: each setter replaces one default (see the field of the same
/// name), and [`build`](Self::build) checks the result.
#[derive(Debug, Clone)]
#[must_use]
pub struct EdgeFileConfigBuilder {
    config: EdgeFileConfig,
}

impl EdgeFileConfigBuilder {
    /// Sets [`EdgeFileConfig::columns`]: the columns of the follower, the followed person and
    /// the creation date, counted from 1.
    pub fn columns(mut self, from: usize, to: usize, creation_date: usize) -> Self {
        self.config.columns = EdgeColumns {
            from,
            to,
            creation_date,
        };
        self
    }

    /// Sets [`EdgeFileConfig::has_header`].
    pub fn has_header(mut self, has_header: bool) -> Self {
        self.config.has_header = has_header;
        self
    }

    /// Sets [`EdgeFileConfig::delimiter`].
    pub fn delimiter(mut self, delimiter: u8) -> Self {
        self.config.delimiter = delimiter;
        self
    }

    /// The configuration, if the columns are numbered from 1.
    pub fn build(self) -> Result<EdgeFileConfig, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }
}

/// A problem reading an edge file. Every variant that concerns a line names the file and the
/// line (counted from 1, the header included).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The file cannot be opened.
    #[error("cannot open {file}: {source}")]
    Open {
        /// The file.
        file: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Reading failed (a truncated gzip stream, a disk error); reading stops here.
    #[error("{file}:{line}: read failed: {source}")]
    Io {
        /// The file.
        file: PathBuf,
        /// The line being read.
        line: u64,
        /// The cause.
        source: std::io::Error,
    },
    /// One line is not an edge; reading goes on with the next line.
    #[error("{file}:{line}: bad line: {reason}")]
    BadLine {
        /// The file.
        file: PathBuf,
        /// The line.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
}

impl ReadError {
    /// Always false: reading the same file again gives the same error (see [`Classify`]).
    pub fn is_retriable(&self) -> bool {
        self.kind().is_retriable()
    }

    /// Whether reading can go on after this error (true for a bad line only).
    pub fn is_bad_line(&self) -> bool {
        matches!(self, ReadError::BadLine { .. })
    }
}

/// A bad configuration is [`Usage`](ErrorKind::Usage); a file that cannot be opened, breaks
/// off or holds a line that is not an edge is [`Permanent`](ErrorKind::Permanent): the input
/// is bad in itself.
impl Classify for ReadError {
    fn kind(&self) -> ErrorKind {
        match self {
            ReadError::Config(e) => e.kind(),
            ReadError::Open { .. } | ReadError::Io { .. } | ReadError::BadLine { .. } => {
                ErrorKind::Permanent
            }
        }
    }
}

/// Counts of what a reader has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadStats {
    /// Data lines read (the header excluded).
    pub lines: u64,
    /// Edges produced.
    pub edges: u64,
    /// Lines reported as bad.
    pub bad_lines: u64,
}

/// An iterator over the edges of one file: `Ok(edge)` per good line, `Err(BadLine)` per bad
/// line (reading continues), and at most one final `Err(Io)` after which it ends.
///
/// Streams: only the current line is in memory. Fields are parsed as real CSV (quoted fields,
/// embedded delimiters and quotes) and trimmed of surrounding whitespace.
pub struct EdgeReader {
    file: PathBuf,
    csv: csv::Reader<Box<dyn Read + Send>>,
    record: csv::ByteRecord,
    columns: EdgeColumns,
    has_header: bool,
    stats: ReadStats,
    done: bool,
}

impl std::fmt::Debug for EdgeReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeReader")
            .field("file", &self.file)
            .field("stats", &self.stats)
            .finish()
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

impl EdgeReader {
    /// Opens `path`; a gzip file is recognised by its magic bytes, whatever its name.
    pub fn open(path: impl AsRef<Path>, config: &EdgeFileConfig) -> Result<Self, ReadError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| ReadError::Open {
            file: path.to_path_buf(),
            source,
        })?;
        Self::from_reader(path, file, config)
    }

    /// Reads from any byte source; `name` is used in error messages. Gzip is detected as in
    /// [`EdgeReader::open`].
    pub fn from_reader(
        name: impl Into<PathBuf>,
        reader: impl Read + Send + 'static,
        config: &EdgeFileConfig,
    ) -> Result<Self, ReadError> {
        config.validate()?;
        let name = name.into();
        let mut buffered = BufReader::with_capacity(1 << 16, reader);
        let head = buffered.fill_buf().map_err(|source| ReadError::Open {
            file: name.clone(),
            source,
        })?;
        let source: Box<dyn Read + Send> = if head.starts_with(&GZIP_MAGIC) {
            Box::new(MultiGzDecoder::new(buffered))
        } else {
            Box::new(buffered)
        };
        let csv = csv::ReaderBuilder::new()
            .has_headers(config.has_header)
            .delimiter(config.delimiter)
            .flexible(true)
            .trim(csv::Trim::All)
            .buffer_capacity(1 << 16)
            .from_reader(source);
        Ok(Self {
            file: name,
            csv,
            record: csv::ByteRecord::new(),
            columns: config.columns,
            has_header: config.has_header,
            stats: ReadStats::default(),
            done: false,
        })
    }

    /// What has been read so far.
    pub fn stats(&self) -> ReadStats {
        self.stats
    }

    /// The file's name as given.
    pub fn file(&self) -> &Path {
        &self.file
    }

    fn field(&self, column: usize, name: &str, line: u64) -> Result<String, ReadError> {
        let bad = |reason: String| ReadError::BadLine {
            file: self.file.clone(),
            line,
            reason,
        };
        let raw = self.record.get(column - 1).ok_or_else(|| {
            bad(format!(
                "{} fields, but {name} is in column {column}",
                self.record.len()
            ))
        })?;
        let text = std::str::from_utf8(raw)
            .map_err(|e| bad(format!("column {column} ({name}) is not UTF-8: {e}")))?;
        if text.is_empty() {
            return Err(bad(format!("column {column} ({name}) is empty")));
        }
        Ok(text.to_owned())
    }
}

impl Iterator for EdgeReader {
    type Item = Result<FollowsEdge, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut record = std::mem::take(&mut self.record);
        let read = self.csv.read_byte_record(&mut record);
        self.record = record;
        match read {
            Ok(false) => {
                self.done = true;
                None
            }
            Ok(true) => {
                let line = self.record.position().map(|p| p.line()).unwrap_or(0);
                self.stats.lines += 1;
                let c = self.columns;
                let edge = self.field(c.from, "from", line).and_then(|from| {
                    let to = self.field(c.to, "to", line)?;
                    let date = self.field(c.creation_date, "creationDate", line)?;
                    Ok(FollowsEdge::new(from, to, date))
                });
                match &edge {
                    Ok(_) => self.stats.edges += 1,
                    Err(_) => self.stats.bad_lines += 1,
                }
                Some(edge)
            }
            Err(e) => {
                let next_line = self.stats.lines + 1 + u64::from(self.has_header);
                let line = e.position().map(|p| p.line()).unwrap_or(next_line);
                self.done = true;
                Some(Err(match e.into_kind() {
                    csv::ErrorKind::Io(source) => ReadError::Io {
                        file: self.file.clone(),
                        line,
                        source,
                    },
                    other => {
                        // Not expected with flexible byte records; kept as a bad line so
                        // nothing is silently dropped.
                        self.stats.bad_lines += 1;
                        ReadError::BadLine {
                            file: self.file.clone(),
                            line,
                            reason: format!("{other:?}"),
                        }
                    }
                }))
            }
        }
    }
}
