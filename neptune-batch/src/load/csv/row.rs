//! One row of a Gremlin CSV file into an element's id, label and typed properties.

use super::header::{ColumnType, CsvHeader};
use crate::model::PropertyValue;
use std::fmt;

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

pub(super) fn id_and_label(
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

pub(super) fn properties(
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
            let mut values = Vec::new();
            for part in split_values(field) {
                if !part.is_empty() {
                    values.push(parse_value(column.column_type, &part).map_err(fail)?);
                }
            }
            out.push((column.name.clone(), PropertyValue::Set(values)));
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
pub(super) fn parse_date(text: &str) -> Result<String, String> {
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
