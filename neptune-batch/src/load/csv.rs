//! A reader of Neptune's Gremlin load CSV format, for vertex and edge files, plain or gzip.
//!
//! The format (Neptune user guide, "Gremlin load data format"): RFC 4180 CSV in UTF-8 whose
//! header names system columns (`~id`, `~label`, and for edges `~from`, `~to`) and property
//! columns written `name` or `name:Type`, where `Type` is one of `String`, `Int`, `Long`,
//! `Double`, `Float`, `Bool`/`Boolean`, `Date`, `Byte`, `Short` (case-insensitive), optionally
//! followed by `[]` (several values separated by `;`) and a cardinality `(single)` or `(set)`.
//! A colon inside a property name is written `\:`.
//!
//! How values become [`PropertyValue`]s, whose variants are fewer than the format's types:
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

use crate::model::{Edge, PropertyValue, Vertex};
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The two bytes every gzip stream starts with (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Whether a file holds vertices or edges, told by its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementKind {
    /// A vertex file: `~id`, optional `~label`, no `~from`/`~to`.
    Vertex,
    /// An edge file: `~id`, `~from`, `~to`, optional `~label`.
    Edge,
}

impl fmt::Display for ElementKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ElementKind::Vertex => "vertex",
            ElementKind::Edge => "edge",
        })
    }
}

/// The type of a property column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// `String`, or a column without a type.
    String,
    /// `Int` (32-bit).
    Int,
    /// `Long` (64-bit).
    Long,
    /// `Double`.
    Double,
    /// `Float` (read as a double, checked to fit 32 bits).
    Float,
    /// `Bool` or `Boolean`.
    Bool,
    /// `Date` (kept as an RFC 3339 UTC string).
    Date,
    /// `Byte` (8-bit, read as an int).
    Byte,
    /// `Short` (16-bit, read as an int).
    Short,
}

impl ColumnType {
    fn parse(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "string" => ColumnType::String,
            "int" => ColumnType::Int,
            "long" => ColumnType::Long,
            "double" => ColumnType::Double,
            "float" => ColumnType::Float,
            "bool" | "boolean" => ColumnType::Bool,
            "date" => ColumnType::Date,
            "byte" => ColumnType::Byte,
            "short" => ColumnType::Short,
            _ => return None,
        })
    }
}

/// The cardinality a property column asks for, `name:Type(single)` or `name:Type(set)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cardinality {
    /// Not given: the loader's default (set for vertices in Neptune).
    #[default]
    Default,
    /// `(single)`: one value, replaced on update.
    Single,
    /// `(set)`: a set of values.
    Set,
}

/// One property column of the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyColumn {
    /// The property name, with `\:` unescaped.
    pub name: String,
    /// The declared type.
    pub column_type: ColumnType,
    /// Declared with `[]`: several values separated by `;`.
    pub multi_valued: bool,
    /// The declared cardinality.
    pub cardinality: Cardinality,
    /// Position of the column in a row.
    pub index: usize,
}

/// The parsed header of a Gremlin CSV file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvHeader {
    /// Vertex or edge file.
    pub kind: ElementKind,
    /// Number of columns every row must have.
    pub width: usize,
    /// The property columns, in file order.
    pub properties: Vec<PropertyColumn>,
    id: usize,
    label: Option<usize>,
    from: Option<usize>,
    to: Option<usize>,
}

impl CsvHeader {
    /// Parses a header row. `Err` holds a message naming the offending column.
    pub fn parse<'a>(columns: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut id = None;
        let mut label = None;
        let mut from = None;
        let mut to = None;
        let mut properties: Vec<PropertyColumn> = Vec::new();
        let mut width = 0;
        for (index, raw) in columns.into_iter().enumerate() {
            width = index + 1;
            // A UTF-8 byte order mark may precede the first column name.
            let column = raw.trim_start_matches('\u{feff}').trim();
            let system = match column {
                "~id" => Some(&mut id),
                "~label" => Some(&mut label),
                "~from" => Some(&mut from),
                "~to" => Some(&mut to),
                _ if column.starts_with('~') => {
                    return Err(format!(
                        "column {}: unknown system column {column:?}",
                        index + 1
                    ))
                }
                "" => return Err(format!("column {}: empty column name", index + 1)),
                _ => None,
            };
            match system {
                Some(slot) if slot.is_some() => {
                    return Err(format!("column {}: {column} appears twice", index + 1))
                }
                Some(slot) => *slot = Some(index),
                None => {
                    let property = parse_property_column(column, index)?;
                    if properties.iter().any(|p| p.name == property.name) {
                        return Err(format!(
                            "column {}: property {:?} appears twice",
                            index + 1,
                            property.name
                        ));
                    }
                    properties.push(property);
                }
            }
        }
        let id = id.ok_or_else(|| "the header has no ~id column".to_owned())?;
        let kind = match (from, to) {
            (None, None) => ElementKind::Vertex,
            (Some(_), Some(_)) => ElementKind::Edge,
            (Some(_), None) => return Err("the header has ~from but no ~to".into()),
            (None, Some(_)) => return Err("the header has ~to but no ~from".into()),
        };
        if kind == ElementKind::Edge {
            if let Some(p) = properties.iter().find(|p| p.multi_valued) {
                return Err(format!(
                    "column {}: edge property {:?} cannot be multi-valued",
                    p.index + 1,
                    p.name
                ));
            }
        }
        Ok(CsvHeader {
            kind,
            width,
            properties,
            id,
            label,
            from,
            to,
        })
    }

    /// Names of the multi-valued (`[]`) property columns.
    pub fn multi_valued_columns(&self) -> Vec<String> {
        self.properties
            .iter()
            .filter(|p| p.multi_valued)
            .map(|p| p.name.clone())
            .collect()
    }
}

/// Splits `name:Type[](cardinality)` at the last colon that is not escaped as `\:`.
fn parse_property_column(column: &str, index: usize) -> Result<PropertyColumn, String> {
    let at = |message: String| format!("column {} ({column:?}): {message}", index + 1);
    let bytes = column.as_bytes();
    let split = (0..bytes.len())
        .rev()
        .find(|&i| bytes[i] == b':' && (i == 0 || bytes[i - 1] != b'\\'));
    let (name, spec) = match split {
        Some(i) => (&column[..i], Some(&column[i + 1..])),
        None => (column, None),
    };
    let name = name.replace("\\:", ":");
    if name.is_empty() {
        return Err(at("empty property name".into()));
    }
    let mut column_type = ColumnType::String;
    let mut multi_valued = false;
    let mut cardinality = Cardinality::Default;
    if let Some(spec) = spec {
        let mut rest = spec.trim();
        if let Some(open) = rest.find('(') {
            let Some(inner) = rest[open + 1..].strip_suffix(')') else {
                return Err(at("unclosed cardinality".into()));
            };
            cardinality = match inner.to_ascii_lowercase().as_str() {
                "single" => Cardinality::Single,
                "set" => Cardinality::Set,
                other => return Err(at(format!("unknown cardinality {other:?}"))),
            };
            rest = &rest[..open];
        }
        if let Some(base) = rest.strip_suffix("[]") {
            multi_valued = true;
            rest = base;
        }
        column_type =
            ColumnType::parse(rest).ok_or_else(|| at(format!("unknown type {rest:?}")))?;
        if multi_valued && cardinality == Cardinality::Single {
            return Err(at(
                "a multi-valued column cannot have single cardinality".into()
            ));
        }
    }
    Ok(PropertyColumn {
        name,
        column_type,
        multi_valued,
        cardinality,
        index,
    })
}

/// A row that could not become an element. It is reported, never dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// The file the row is in.
    pub file: String,
    /// The line where the row starts (1 is the header).
    pub line: u64,
    /// Why the row was refused, naming the column when one is at fault.
    pub reason: String,
    /// The row's fields as read (invalid UTF-8 replaced by U+FFFD), so it can be set aside.
    pub fields: Vec<String>,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.reason)
    }
}

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

impl CsvError {
    /// Whether reading the same file again may succeed: only for I/O errors that are
    /// transient by nature (interrupted, timed out); a bad header or corrupt data stays bad.
    pub fn is_retriable(&self) -> bool {
        match self {
            CsvError::Open { source, .. } | CsvError::Read { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::Interrupted | io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ),
            CsvError::Header { .. } | CsvError::WrongKind { .. } => false,
        }
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
    match error.into_kind() {
        csv::ErrorKind::Io(source) => CsvError::Read {
            file: file.to_owned(),
            line,
            source,
        },
        other => CsvError::Read {
            file: file.to_owned(),
            line,
            source: io::Error::new(io::ErrorKind::InvalidData, format!("{other:?}")),
        },
    }
}

fn id_and_label(
    header: &CsvHeader,
    fields: &[String],
    default_label: &str,
) -> Result<(String, String), String> {
    let id = &fields[header.id];
    if id.is_empty() {
        return Err("~id is empty".into());
    }
    let label = header.label.map(|c| fields[c].as_str()).unwrap_or_default();
    if label.contains(';') {
        return Err(format!(
            "~label {label:?} holds several labels; a TinkerPop element has one"
        ));
    }
    let label = if label.is_empty() {
        default_label
    } else {
        label
    };
    Ok((id.clone(), label.to_owned()))
}

fn properties(
    header: &CsvHeader,
    fields: &[String],
) -> Result<Vec<(String, PropertyValue)>, String> {
    let mut out = Vec::with_capacity(header.properties.len());
    for column in &header.properties {
        let field = &fields[column.index];
        if field.is_empty() {
            continue;
        }
        let fail =
            |message: String| format!("column {} ({}): {message}", column.index + 1, column.name);
        if column.multi_valued {
            for part in split_values(field) {
                if !part.is_empty() {
                    out.push((
                        column.name.clone(),
                        parse_value(column.column_type, &part).map_err(fail)?,
                    ));
                }
            }
        } else {
            out.push((
                column.name.clone(),
                parse_value(column.column_type, field).map_err(fail)?,
            ));
        }
    }
    Ok(out)
}

/// Splits a multi-valued field at every `;` not escaped as `\;`.
fn split_values(field: &str) -> Vec<String> {
    let mut values = vec![String::new()];
    let mut chars = field.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&';') => {
                values.last_mut().expect("never empty").push(';');
                chars.next();
            }
            ';' => values.push(String::new()),
            c => values.last_mut().expect("never empty").push(c),
        }
    }
    values
}

fn parse_value(column_type: ColumnType, text: &str) -> Result<PropertyValue, String> {
    let trimmed = text.trim();
    let integer = |min: i64, max: i64, name: &str| -> Result<PropertyValue, String> {
        let v: i64 = trimmed
            .parse()
            .map_err(|_| format!("{text:?} is not a {name}"))?;
        if v < min || v > max {
            return Err(format!("{v} is out of range for a {name}"));
        }
        Ok(PropertyValue::Int(v as i32))
    };
    Ok(match column_type {
        ColumnType::String => PropertyValue::String(text.to_owned()),
        ColumnType::Byte => integer(i8::MIN.into(), i8::MAX.into(), "Byte")?,
        ColumnType::Short => integer(i16::MIN.into(), i16::MAX.into(), "Short")?,
        ColumnType::Int => integer(i32::MIN.into(), i32::MAX.into(), "Int")?,
        ColumnType::Long => PropertyValue::Long(
            trimmed
                .parse()
                .map_err(|_| format!("{text:?} is not a Long"))?,
        ),
        ColumnType::Double => PropertyValue::Double(
            trimmed
                .parse()
                .map_err(|_| format!("{text:?} is not a Double"))?,
        ),
        ColumnType::Float => {
            let v: f64 = trimmed
                .parse()
                .map_err(|_| format!("{text:?} is not a Float"))?;
            if v.is_finite() && v.abs() > f64::from(f32::MAX) {
                return Err(format!("{v} is out of range for a Float"));
            }
            PropertyValue::Double(v)
        }
        ColumnType::Bool => match trimmed.to_ascii_lowercase().as_str() {
            "true" => PropertyValue::Bool(true),
            "false" => PropertyValue::Bool(false),
            _ => return Err(format!("{text:?} is not a Bool (true or false)")),
        },
        ColumnType::Date => PropertyValue::String(parse_date(trimmed)?),
    })
}

/// Checks a `Date` field against the forms Neptune's loader accepts and returns it in RFC 3339
/// UTC form.
fn parse_date(text: &str) -> Result<String, String> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
    let utc = if let Ok(d) = DateTime::parse_from_rfc3339(text) {
        d.with_timezone(&Utc)
    } else if let Ok(d) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%SZ") {
        d.and_utc()
    } else if let Ok(d) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S") {
        d.and_utc()
    } else if let Ok(d) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M") {
        d.and_utc()
    } else if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
    } else {
        return Err(format!(
            "{text:?} is not a Date (yyyy-MM-dd, yyyy-MM-ddTHH:mm, yyyy-MM-ddTHH:mm:ss or yyyy-MM-ddTHH:mm:ssZ)"
        ));
    };
    Ok(utc.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn reader(text: &str) -> GremlinCsvReader {
        GremlinCsvReader::from_reader("test.csv", io::Cursor::new(text.as_bytes().to_vec()))
            .expect("header parses")
    }

    fn all_vertices(r: &mut GremlinCsvReader) -> Vec<CsvRow<Vertex>> {
        r.vertices()
            .collect::<Result<_, _>>()
            .expect("no read failure")
    }

    #[test]
    fn typed_columns_become_typed_properties() {
        let mut r = reader(
            "~id,~label,name:String,age:Int,big:Long,score:Double,ratio:Float,ok:Bool,b:Byte,s:Short,born:Date,plain\n\
             1,person,Ann,42,9000000000,1.5,0.25,TRUE,-7,300,2019-01-15,x\n",
        );
        let rows = all_vertices(&mut r);
        let CsvRow::Parsed { line, element } = &rows[0] else {
            panic!("row refused: {rows:?}")
        };
        assert_eq!(*line, 2);
        assert_eq!(element.id, "1");
        assert_eq!(element.label, "person");
        assert_eq!(
            element.properties,
            vec![
                ("name".into(), PropertyValue::String("Ann".into())),
                ("age".into(), PropertyValue::Int(42)),
                ("big".into(), PropertyValue::Long(9_000_000_000)),
                ("score".into(), PropertyValue::Double(1.5)),
                ("ratio".into(), PropertyValue::Double(0.25)),
                ("ok".into(), PropertyValue::Bool(true)),
                ("b".into(), PropertyValue::Int(-7)),
                ("s".into(), PropertyValue::Int(300)),
                (
                    "born".into(),
                    PropertyValue::String("2019-01-15T00:00:00Z".into())
                ),
                ("plain".into(), PropertyValue::String("x".into())),
            ]
        );
    }

    #[test]
    fn quoted_fields_keep_commas_quotes_and_newlines_and_lines_count_from_the_row_start() {
        let mut r = reader(
            "~id,~label,bio\n\
             1,person,\"likes a, b and \"\"c\"\"\nand more\"\n\
             2,person,short\n",
        );
        let rows = all_vertices(&mut r);
        assert_eq!(rows.len(), 2);
        let CsvRow::Parsed { element, line } = &rows[0] else {
            panic!()
        };
        assert_eq!(*line, 2);
        assert_eq!(
            element.properties[0].1,
            PropertyValue::String("likes a, b and \"c\"\nand more".into())
        );
        let CsvRow::Parsed { line, .. } = &rows[1] else {
            panic!()
        };
        assert_eq!(*line, 4, "the second row starts after the embedded newline");
    }

    #[test]
    fn bad_rows_are_reported_with_file_line_and_reason_and_reading_goes_on() {
        let mut r = reader(
            "~id,~label,age:Int\n\
             1,person,41\n\
             2,person,forty\n\
             3,person\n\
             ,person,5\n\
             4,a;b,6\n\
             5,person,99999999999\n\
             6,person,7\n",
        );
        let rows = all_vertices(&mut r);
        let bad: Vec<&BadLine> = rows
            .iter()
            .filter_map(|r| match r {
                CsvRow::Bad(b) => Some(b),
                _ => None,
            })
            .collect();
        let good: Vec<&str> = rows
            .iter()
            .filter_map(|r| match r {
                CsvRow::Parsed { element, .. } => Some(element.id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(good, vec!["1", "6"]);
        assert_eq!(
            bad.iter().map(|b| b.line).collect::<Vec<_>>(),
            vec![3, 4, 5, 6, 7]
        );
        assert!(bad.iter().all(|b| b.file == "test.csv"));
        assert!(bad[0].reason.contains("column 3 (age)"), "{}", bad[0]);
        assert!(bad[0].reason.contains("not a Int"), "{}", bad[0]);
        assert!(bad[1].reason.contains("2 fields where the header has 3"));
        assert_eq!(bad[1].fields, vec!["3", "person"]);
        assert!(bad[2].reason.contains("~id is empty"));
        assert!(bad[3].reason.contains("several labels"));
        assert!(bad[4].reason.contains("out of range"));
        assert_eq!(bad[0].to_string(), format!("test.csv:3: {}", bad[0].reason));
        assert_eq!(r.rows_read(), 7);
    }

    #[test]
    fn invalid_utf8_is_a_bad_line_not_a_failure() {
        let mut bytes = b"~id,name\n1,ok\n2,".to_vec();
        bytes.extend_from_slice(&[0xff, 0xfe]);
        bytes.extend_from_slice(b"\n3,fine\n");
        let mut r = GremlinCsvReader::from_reader("bin.csv", io::Cursor::new(bytes)).unwrap();
        let rows = all_vertices(&mut r);
        assert_eq!(rows.len(), 3);
        let CsvRow::Bad(bad) = &rows[1] else {
            panic!("{rows:?}")
        };
        assert_eq!(bad.line, 3);
        assert!(bad.reason.contains("not valid UTF-8"));
    }

    #[test]
    fn empty_fields_set_no_property_and_a_missing_label_defaults_to_vertex() {
        let mut r = reader("~id,name,age:Int\n1,,\n");
        let rows = all_vertices(&mut r);
        let CsvRow::Parsed { element, .. } = &rows[0] else {
            panic!()
        };
        assert_eq!(element.label, "vertex");
        assert!(element.properties.is_empty());
    }

    #[test]
    fn a_multi_valued_column_yields_one_entry_per_value() {
        let mut r = reader("~id,tags:String[](set),n:Int[]\n1,a;b\\;c;;d,1;2\n");
        assert_eq!(r.header().multi_valued_columns(), vec!["tags", "n"]);
        assert_eq!(r.header().properties[0].cardinality, Cardinality::Set);
        let rows = all_vertices(&mut r);
        let CsvRow::Parsed { element, .. } = &rows[0] else {
            panic!("{rows:?}")
        };
        assert_eq!(
            element.properties,
            vec![
                ("tags".into(), PropertyValue::from("a")),
                ("tags".into(), PropertyValue::from("b;c")),
                ("tags".into(), PropertyValue::from("d")),
                ("n".into(), PropertyValue::Int(1)),
                ("n".into(), PropertyValue::Int(2)),
            ]
        );
    }

    #[test]
    fn an_escaped_colon_stays_in_the_property_name() {
        let header = CsvHeader::parse(["~id", "a\\:b:Long", "c\\:d"]).unwrap();
        assert_eq!(header.properties[0].name, "a:b");
        assert_eq!(header.properties[0].column_type, ColumnType::Long);
        assert_eq!(header.properties[1].name, "c:d");
        assert_eq!(header.properties[1].column_type, ColumnType::String);
    }

    #[test]
    fn unusable_headers_are_refused_naming_the_column() {
        let cases: [(&[&str], &str); 7] = [
            (&["~label", "name"], "no ~id"),
            (&["~id", "~id"], "column 2: ~id appears twice"),
            (&["~id", "x:Decimal"], "unknown type"),
            (&["~id", "~weird"], "unknown system column"),
            (&["~id", "~from"], "no ~to"),
            (
                &["~id", "~from", "~to", "w:Int[]"],
                "cannot be multi-valued",
            ),
            (&["~id", "a", "a:Int"], "appears twice"),
        ];
        for (columns, expected) in cases {
            let err = CsvHeader::parse(columns.iter().copied()).unwrap_err();
            assert!(err.contains(expected), "{columns:?}: {err}");
        }
        let err = GremlinCsvReader::from_reader("h.csv", io::Cursor::new(b"name\n1\n".to_vec()))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "h.csv:1: bad header: the header has no ~id column"
        );
        assert!(!err.is_retriable());
    }

    #[test]
    fn dates_in_every_accepted_form_are_normalised_and_others_refused() {
        assert_eq!(parse_date("2019-01-15").unwrap(), "2019-01-15T00:00:00Z");
        assert_eq!(
            parse_date("2019-01-15T10:20").unwrap(),
            "2019-01-15T10:20:00Z"
        );
        assert_eq!(
            parse_date("2019-01-15T10:20:30").unwrap(),
            "2019-01-15T10:20:30Z"
        );
        assert_eq!(
            parse_date("2019-01-15T10:20:30Z").unwrap(),
            "2019-01-15T10:20:30Z"
        );
        assert_eq!(
            parse_date("2019-01-15T10:20:30+02:00").unwrap(),
            "2019-01-15T08:20:30Z"
        );
        assert!(parse_date("15/01/2019").is_err());
        assert!(parse_date("2019-02-30").is_err());
    }

    #[test]
    fn a_gzip_stream_is_recognised_by_its_magic_bytes_not_its_name() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"~id,~label\n1,person\n2,person\n").unwrap();
        let bytes = gz.finish().unwrap();
        let mut r = GremlinCsvReader::from_reader("no-extension", io::Cursor::new(bytes)).unwrap();
        assert!(r.is_gzip());
        assert_eq!(all_vertices(&mut r).len(), 2);

        let mut plain = reader("~id\n1\n");
        assert!(!plain.is_gzip());
        assert_eq!(all_vertices(&mut plain).len(), 1);
    }

    #[test]
    fn a_truncated_gzip_stream_stops_with_a_read_error_naming_the_file() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for i in 0..5000 {
            writeln!(gz, "{i},person,{}", "x".repeat(i % 50)).unwrap();
        }
        let mut bytes = b"".to_vec();
        let body = gz.finish().unwrap();
        // A valid header member followed by a cut-off member.
        let mut head = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        head.write_all(b"~id,~label,pad\n").unwrap();
        bytes.extend(head.finish().unwrap());
        bytes.extend_from_slice(&body[..body.len() / 2]);
        let mut r = GremlinCsvReader::from_reader("cut.csv.gz", io::Cursor::new(bytes)).unwrap();
        let result: Result<Vec<_>, _> = r.vertices().collect();
        let err = result.unwrap_err();
        assert!(matches!(err, CsvError::Read { .. }), "{err:?}");
        assert!(err.to_string().starts_with("cut.csv.gz:"), "{err}");
    }

    #[test]
    fn edge_files_read_as_edges_and_not_as_vertices() {
        let mut r = reader(
            "~id,~from,~to,~label,creationDate\n\
             1-2,1,2,follows,2019-01-15\n\
             1-3,1,,follows,2019-01-16\n",
        );
        assert_eq!(r.header().kind, ElementKind::Edge);
        assert!(matches!(r.next_vertex(), Err(CsvError::WrongKind { .. })));
        let rows: Vec<_> = r.edges().collect::<Result<_, _>>().unwrap();
        let CsvRow::Parsed { element, .. } = &rows[0] else {
            panic!()
        };
        assert_eq!((element.from.as_str(), element.to.as_str()), ("1", "2"));
        assert_eq!(element.label, "follows");
        assert_eq!(
            element.properties,
            vec![("creationDate".into(), PropertyValue::from("2019-01-15"))]
        );
        let CsvRow::Bad(bad) = &rows[1] else { panic!() };
        assert!(bad.reason.contains("~to is empty"));
    }
}
