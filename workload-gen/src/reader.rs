//! Reads `follows` edges from Neptune CSV edge files, plain or gzip-compressed.

use crate::edge::FollowsEdge;
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Which columns hold the edge's fields, counted from 1 like the original's documentation
/// (it read columns 3, 4 and 5 of `~id,~label,~from,~to,creationDate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// How an edge file is read.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Checks that the columns are numbered from 1.
    pub fn validate(&self) -> Result<(), ReadError> {
        for (field, c) in [
            ("columns.from", self.columns.from),
            ("columns.to", self.columns.to),
            ("columns.creation_date", self.columns.creation_date),
        ] {
            if c == 0 {
                return Err(ReadError::Config {
                    field,
                    reason: "columns are numbered from 1".into(),
                });
            }
        }
        Ok(())
    }
}

/// A problem reading an edge file. Every variant that concerns a line names the file and the
/// line (counted from 1, the header included).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The configuration is invalid.
    #[error("invalid edge file configuration: {field}: {reason}")]
    Config {
        /// The field of [`EdgeFileConfig`].
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
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
    /// Reading the same file again gives the same error.
    pub fn is_retriable(&self) -> bool {
        false
    }

    /// Whether reading can go on after this error (true for a bad line only).
    pub fn is_bad_line(&self) -> bool {
        matches!(self, ReadError::BadLine { .. })
    }
}

/// Counts of what a reader has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
