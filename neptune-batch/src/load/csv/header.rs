//! The header of a Gremlin CSV file: system columns, and property columns with their types,
//! multiplicity and cardinality.

use std::fmt;

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
#[non_exhaustive]
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
#[non_exhaustive]
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
    pub(super) id: usize,
    pub(super) label: Option<usize>,
    pub(super) from: Option<usize>,
    pub(super) to: Option<usize>,
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
