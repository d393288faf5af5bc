//! A reader of Neptune's Gremlin load CSV format, for vertex and edge files, plain or gzip.
//!
//! The format (Neptune user guide, "Gremlin load data format"): RFC 4180 CSV in UTF-8 whose
//! header names system columns (`~id`, `~label`, and for edges `~from`, `~to`) and property
//! columns written `name` or `name:Type`, where `Type` is one of `String`, `Int`, `Long`,
//! `Double`, `Float`, `Bool`/`Boolean`, `Date`, `Byte`, `Short` (case-insensitive), optionally
//! followed by `[]` (several values separated by `;`) and a cardinality `(single)` or `(set)`.
//! A colon inside a property name is written `\:`.
//!
//! How values become [`PropertyValue`](crate::PropertyValue)s, whose variants are fewer than the format's types:
//!
//! | column type | value |
//! |---|---|
//! | `String` (or no type) | `String`, kept as is (no trimming) |
//! | `Int`, `Short`, `Byte` | `Int`, checked against the type's range |
//! | `Long` | `Long` |
//! | `Double`, `Float` | `Double` (a `Float` is checked to fit an `f32`) |
//! | `Bool`, `Boolean` | `Bool` from `true`/`false`, any case |
//! | `Date` | `String` in RFC 3339 UTC form (`2019-01-15T00:00:00Z`), after checking it is one of the forms Neptune accepts: `yyyy-MM-dd`, `yyyy-MM-ddTHH:mm`, `yyyy-MM-ddTHH:mm:ss`, `yyyy-MM-ddTHH:mm:ssZ` or RFC 3339 with an offset |
//!
//! * An empty field sets no property, as with Neptune's loader.
//! * A multi-valued column (`Type[]`) of a vertex file yields one `(name, value)` entry per
//!   value, in file order; a sink that stores list or set cardinality keeps all of them, a sink
//!   that stores single cardinality keeps one. Edge files cannot have multi-valued columns
//!   (Neptune rejects them too): the header is refused.
//! * A `~label` holding several labels (`a;b`, allowed by Neptune for vertices) cannot be a
//!   TinkerPop label: the row is reported as a bad line.
//! * A missing or empty `~label` gives TinkerPop's default label, `vertex` or `edge`.
//!
//! Nothing is dropped silently: every row that cannot become an element is returned as a
//! [`BadLine`] naming the file, the line where the row starts (rows may span lines) and why,
//! with its fields, and reading goes on. Only a failure to read the file itself (I/O, a corrupt
//! gzip stream) or an unusable header stops the reader, with a [`CsvError`].

mod header;
mod row;

pub use header::{Cardinality, ColumnType, CsvHeader, ElementKind, PropertyColumn};
pub use row::BadLine;

use crate::model::{Edge, Vertex};
use row::{id_and_label, properties};
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use stream2neptune_common::{Classify, ErrorKind};

/// The two bytes every gzip stream starts with (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A failure that stops reading a file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsvError {
    /// The file could not be opened.
    #[error("cannot open {file}: {source}")]
    Open {
        /// The file.
        file: String,
        /// The I/O error.
        source: io::Error,
    },
    /// Reading failed (an I/O error, or a corrupt or truncated gzip stream).
    #[error("{file}:{line}: cannot read: {source}")]
    Read {
        /// The file.
        file: String,
        /// The line reached when reading failed.
        line: u64,
        /// The I/O error.
        source: io::Error,
    },
    /// The CSV reader refused the stream itself (not one row's content, which is a bad line).
    #[error("{file}:{line}: cannot read: {source}")]
    Parse {
        /// The file.
        file: String,
        /// The line reached when reading failed.
        line: u64,
        /// The CSV reader's error.
        source: csv::Error,
    },
    /// The header is missing or unusable, so no row can be read.
    #[error("{file}:1: bad header: {message}")]
    Header {
        /// The file.
        file: String,
        /// What is wrong, naming the column.
        message: String,
    },
    /// The file holds the other kind of element than the one asked for.
    #[error("{file}: is a {found} file, not a {expected} file")]
    WrongKind {
        /// The file.
        file: String,
        /// The kind asked for.
        expected: ElementKind,
        /// The kind the header describes.
        found: ElementKind,
    },
}

/// Input that cannot be read is [`Permanent`](ErrorKind::Permanent), as is a file that cannot
/// be opened; only an I/O error transient by nature (interrupted, timed out) is worth reading
/// again.
impl Classify for CsvError {
    fn kind(&self) -> ErrorKind {
        match self {
            CsvError::Open { source, .. } | CsvError::Read { source, .. } => match source.kind() {
                io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => ErrorKind::Retriable,
                io::ErrorKind::TimedOut => ErrorKind::Unreachable,
                _ => ErrorKind::Permanent,
            },
            _ => ErrorKind::Permanent,
        }
    }
}

impl CsvError {
    /// Whether reading the same file again may succeed: `self.kind().is_retriable()`.
    pub fn is_retriable(&self) -> bool {
        self.kind().is_retriable()
    }
}

/// One row of a file: an element with the line it starts on, or a bad line.
#[derive(Debug, Clone, PartialEq)]
pub enum CsvRow<T> {
    /// A row that parsed.
    Parsed {
        /// The line where the row starts.
        line: u64,
        /// The element.
        element: T,
    },
    /// A row that did not.
    Bad(BadLine),
}

/// Counts the bytes read from the underlying file (compressed bytes for a gzip file), so
/// progress can be shown against the file size.
struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A streaming reader of one Gremlin CSV file: rows are parsed one at a time, so a file of any
/// size is read in constant memory.
pub struct GremlinCsvReader {
    file: String,
    header: CsvHeader,
    csv: csv::Reader<Box<dyn Read + Send>>,
    record: csv::ByteRecord,
    bytes_read: Arc<AtomicU64>,
    total_bytes: Option<u64>,
    gzip: bool,
    rows_read: u64,
}

impl fmt::Debug for GremlinCsvReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GremlinCsvReader")
            .field("file", &self.file)
            .field("kind", &self.header.kind)
            .field("gzip", &self.gzip)
            .field("rows_read", &self.rows_read)
            .finish()
    }
}

impl GremlinCsvReader {
    /// Opens a file, plain or gzip (told by its first bytes, whatever its name), and reads its
    /// header.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CsvError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| CsvError::Open {
            file: name.clone(),
            source,
        })?;
        let total_bytes = file.metadata().ok().map(|m| m.len());
        let mut reader = Self::from_reader(name, file)?;
        reader.total_bytes = total_bytes;
        Ok(reader)
    }

    /// Reads from any byte source, plain or gzip; `name` is used in messages.
    pub fn from_reader(
        name: impl Into<String>,
        source: impl Read + Send + 'static,
    ) -> Result<Self, CsvError> {
        let file = name.into();
        let bytes_read = Arc::new(AtomicU64::new(0));
        let counted = CountingReader {
            inner: source,
            count: Arc::clone(&bytes_read),
        };
        let mut buffered = BufReader::with_capacity(64 * 1024, counted);
        let gzip = match buffered.fill_buf() {
            Ok(start) => start.starts_with(&GZIP_MAGIC),
            Err(source) => {
                return Err(CsvError::Read {
                    file,
                    line: 1,
                    source,
                })
            }
        };
        let decoded: Box<dyn Read + Send> = if gzip {
            // Multi-member streams (concatenated gzip files) are valid gzip and common.
            Box::new(flate2::bufread::MultiGzDecoder::new(buffered))
        } else {
            Box::new(buffered)
        };
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(decoded);
        let header_record = csv.byte_headers().map_err(|e| csv_failure(&file, 1, e))?;
        if header_record.is_empty() {
            return Err(CsvError::Header {
                file,
                message: "the file is empty".into(),
            });
        }
        let columns: Vec<String> = header_record
            .iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        let header = CsvHeader::parse(columns.iter().map(String::as_str)).map_err(|message| {
            CsvError::Header {
                file: file.clone(),
                message,
            }
        })?;
        Ok(GremlinCsvReader {
            file,
            header,
            csv,
            record: csv::ByteRecord::new(),
            bytes_read,
            total_bytes: None,
            gzip,
            rows_read: 0,
        })
    }

    /// The file name used in messages.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The parsed header.
    pub fn header(&self) -> &CsvHeader {
        &self.header
    }

    /// Whether the content was gzip-compressed.
    pub fn is_gzip(&self) -> bool {
        self.gzip
    }

    /// Bytes read so far from the underlying file (compressed bytes for gzip).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// The file's size, when opened from a path.
    pub fn total_bytes(&self) -> Option<u64> {
        self.total_bytes
    }

    /// Rows read so far (good and bad), the header excluded.
    pub fn rows_read(&self) -> u64 {
        self.rows_read
    }

    /// The next row of a vertex file; `Ok(None)` at the end.
    pub fn next_vertex(&mut self) -> Result<Option<CsvRow<Vertex>>, CsvError> {
        self.expect_kind(ElementKind::Vertex)?;
        self.next_row(|header, fields| {
            let (id, label) = id_and_label(header, fields, "vertex")?;
            let mut vertex = Vertex::new(id, label);
            vertex.properties = properties(header, fields)?;
            Ok(vertex)
        })
    }

    /// The next row of an edge file; `Ok(None)` at the end.
    pub fn next_edge(&mut self) -> Result<Option<CsvRow<Edge>>, CsvError> {
        self.expect_kind(ElementKind::Edge)?;
        self.next_row(|header, fields| {
            let (id, label) = id_and_label(header, fields, "edge")?;
            let endpoint = |column: Option<usize>, name: &str| -> Result<String, String> {
                let value = column.map(|c| fields[c].as_str()).unwrap_or_default();
                if value.is_empty() {
                    Err(format!("{name} is empty"))
                } else {
                    Ok(value.to_owned())
                }
            };
            let from = endpoint(header.from, "~from")?;
            let to = endpoint(header.to, "~to")?;
            let mut edge = Edge::new(id, label, from, to);
            edge.properties = properties(header, fields)?;
            Ok(edge)
        })
    }

    /// Every remaining row of a vertex file.
    pub fn vertices(&mut self) -> impl Iterator<Item = Result<CsvRow<Vertex>, CsvError>> + '_ {
        std::iter::from_fn(move || self.next_vertex().transpose())
    }

    /// Every remaining row of an edge file.
    pub fn edges(&mut self) -> impl Iterator<Item = Result<CsvRow<Edge>, CsvError>> + '_ {
        std::iter::from_fn(move || self.next_edge().transpose())
    }

    fn expect_kind(&self, expected: ElementKind) -> Result<(), CsvError> {
        if self.header.kind == expected {
            Ok(())
        } else {
            Err(CsvError::WrongKind {
                file: self.file.clone(),
                expected,
                found: self.header.kind,
            })
        }
    }

    fn next_row<T>(
        &mut self,
        build: impl FnOnce(&CsvHeader, &[String]) -> Result<T, String>,
    ) -> Result<Option<CsvRow<T>>, CsvError> {
        let line_reached = self.csv.position().line();
        match self.csv.read_byte_record(&mut self.record) {
            Ok(false) => return Ok(None),
            Ok(true) => {}
            Err(e) => return Err(csv_failure(&self.file, line_reached, e)),
        }
        self.rows_read += 1;
        let line = self
            .record
            .position()
            .map(|p| p.line())
            .unwrap_or(line_reached);
        let mut fields = Vec::with_capacity(self.record.len());
        let mut bad_utf8 = None;
        for (i, raw) in self.record.iter().enumerate() {
            match std::str::from_utf8(raw) {
                Ok(s) => fields.push(s.to_owned()),
                Err(_) => {
                    bad_utf8.get_or_insert(i);
                    fields.push(String::from_utf8_lossy(raw).into_owned());
                }
            }
        }
        let refuse = |reason: String, fields: Vec<String>| {
            Ok(Some(CsvRow::Bad(BadLine {
                file: self.file.clone(),
                line,
                reason,
                fields,
            })))
        };
        if let Some(i) = bad_utf8 {
            return refuse(format!("column {}: not valid UTF-8", i + 1), fields);
        }
        if fields.len() != self.header.width {
            return refuse(
                format!(
                    "{} fields where the header has {}",
                    fields.len(),
                    self.header.width
                ),
                fields,
            );
        }
        match build(&self.header, &fields) {
            Ok(element) => Ok(Some(CsvRow::Parsed { line, element })),
            Err(reason) => refuse(reason, fields),
        }
    }
}

fn csv_failure(file: &str, line: u64, error: csv::Error) -> CsvError {
    let line = error.position().map(|p| p.line()).unwrap_or(line);
    let file = file.to_owned();
    if error.is_io_error() {
        if let csv::ErrorKind::Io(source) = error.into_kind() {
            return CsvError::Read { file, line, source };
        }
        unreachable!("an I/O error of the CSV reader holds its I/O error");
    }
    CsvError::Parse {
        file,
        line,
        source: error,
    }
}

#[cfg(test)]
mod tests;
