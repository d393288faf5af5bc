//! One measurement.

use crate::limits::MAX_DIMENSIONS;
use std::time::SystemTime;
use stream2neptune_common::{Classify, ErrorKind};

/// The unit of a metric, as CloudWatch names them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[allow(missing_docs)]
#[non_exhaustive]
pub enum Unit {
    Seconds,
    Microseconds,
    Milliseconds,
    Bytes,
    Kilobytes,
    Megabytes,
    Bits,
    Percent,
    Count,
    BytesPerSecond,
    CountPerSecond,
    None,
}

impl Unit {
    /// Every unit, in declaration order.
    pub const ALL: [Unit; 12] = [
        Unit::Seconds,
        Unit::Microseconds,
        Unit::Milliseconds,
        Unit::Bytes,
        Unit::Kilobytes,
        Unit::Megabytes,
        Unit::Bits,
        Unit::Percent,
        Unit::Count,
        Unit::BytesPerSecond,
        Unit::CountPerSecond,
        Unit::None,
    ];

    /// The unit with this CloudWatch name (the inverse of [`Unit::as_str`]).
    pub fn from_name(name: &str) -> Option<Unit> {
        Unit::ALL.into_iter().find(|u| u.as_str() == name)
    }

    /// The unit's name in the CloudWatch API (`"Milliseconds"`, `"Count/Second"`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            Unit::Seconds => "Seconds",
            Unit::Microseconds => "Microseconds",
            Unit::Milliseconds => "Milliseconds",
            Unit::Bytes => "Bytes",
            Unit::Kilobytes => "Kilobytes",
            Unit::Megabytes => "Megabytes",
            Unit::Bits => "Bits",
            Unit::Percent => "Percent",
            Unit::Count => "Count",
            Unit::BytesPerSecond => "Bytes/Second",
            Unit::CountPerSecond => "Count/Second",
            Unit::None => "None",
        }
    }
}

/// A name/value pair that qualifies a metric (e.g. `clusterId=my-cluster`, `ShardId=...`).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Dimension {
    /// Dimension name.
    pub name: String,
    /// Dimension value.
    pub value: String,
}

/// One measurement of a named metric.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MetricDatum {
    /// Metric name, e.g. `EdgesSubmitted`.
    pub name: String,
    /// Unit of `value`.
    pub unit: Unit,
    /// The measured value.
    pub value: f64,
    /// Dimensions, kept sorted by name so equal sets compare equal.
    pub dimensions: Vec<Dimension>,
    /// When it was measured.
    pub timestamp: SystemTime,
    /// Whether it should be stored at one-second resolution (CloudWatch `StorageResolution=1`).
    pub high_resolution: bool,
}

impl MetricDatum {
    /// A measurement taken now, without dimensions, at standard resolution.
    pub fn new(name: impl Into<String>, unit: Unit, value: f64) -> Self {
        Self {
            name: name.into(),
            unit,
            value,
            dimensions: Vec::new(),
            timestamp: SystemTime::now(),
            high_resolution: false,
        }
    }

    /// Adds (or replaces) a dimension.
    pub fn dimension(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        let value = value.into();
        match self.dimensions.binary_search_by(|d| d.name.cmp(&name)) {
            Ok(i) => self.dimensions[i].value = value,
            Err(i) => self.dimensions.insert(i, Dimension { name, value }),
        }
        self
    }

    /// Sets the timestamp.
    pub fn at(mut self, timestamp: SystemTime) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// Asks for one-second storage resolution.
    pub fn high_resolution(mut self) -> Self {
        self.high_resolution = true;
        self
    }

    /// Checks the datum against CloudWatch's rules: a name of 1–255 characters, at most 30
    /// dimensions with names of 1–255 and values of 1–1024 characters, and a finite value
    /// within ±2^360.
    pub fn validate(&self) -> Result<(), DatumError> {
        check_name("name", &self.name, 255)?;
        if self.dimensions.len() > MAX_DIMENSIONS {
            return Err(DatumError {
                field: "dimensions",
                reason: format!(
                    "{} dimensions, at most {MAX_DIMENSIONS} allowed",
                    self.dimensions.len()
                ),
            });
        }
        for d in &self.dimensions {
            check_name("dimension name", &d.name, 255)?;
            check_name("dimension value", &d.value, 1024)?;
        }
        if !valid_value(self.value) {
            return Err(DatumError {
                field: "value",
                reason: format!("{} is not a finite number within ±2^360", self.value),
            });
        }
        Ok(())
    }
}

/// Checks a CloudWatch namespace: 1–255 printable ASCII characters, not under `AWS/`.
pub(crate) fn check_namespace(ns: &str) -> Result<(), String> {
    if ns.is_empty() || ns.len() > 255 {
        return Err(format!("{ns:?} must have 1..=255 characters"));
    }
    if !ns.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
        return Err(format!("{ns:?} must be printable ASCII"));
    }
    if ns.starts_with("AWS/") {
        return Err(format!("{ns:?} is reserved for AWS services"));
    }
    Ok(())
}

/// Adds a dimension to a sink's default dimensions, replacing one of the same name.
pub(crate) fn add_dimension(dimensions: &mut Vec<Dimension>, name: String, value: String) {
    match dimensions.iter_mut().find(|d| d.name == name) {
        Some(d) => d.value = value,
        None => dimensions.push(Dimension { name, value }),
    }
}

/// Checks dimensions a sink adds to every datum: at most [`MAX_DIMENSIONS`], each valid.
pub(crate) fn check_default_dimensions(dimensions: &[Dimension]) -> Result<(), String> {
    if dimensions.len() > MAX_DIMENSIONS {
        return Err(format!("{} exceed {MAX_DIMENSIONS}", dimensions.len()));
    }
    for d in dimensions {
        let probe = MetricDatum::new("probe", Unit::None, 0.0).dimension(&d.name, &d.value);
        probe.validate().map_err(|e| e.reason)?;
    }
    Ok(())
}

/// Whether CloudWatch accepts `v` as a value: finite and within ±2^360.
pub(crate) fn valid_value(v: f64) -> bool {
    v.is_finite() && v.abs() <= 2f64.powi(360)
}

pub(crate) fn check_name(field: &'static str, s: &str, max: usize) -> Result<(), DatumError> {
    let len = s.chars().count();
    if len == 0 || len > max {
        return Err(DatumError {
            field,
            reason: format!("{s:?} has {len} characters, 1..={max} allowed"),
        });
    }
    if s.chars().any(|c| c.is_control()) {
        return Err(DatumError {
            field,
            reason: format!("{s:?} contains a control character"),
        });
    }
    Ok(())
}

/// A datum CloudWatch would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid metric datum: {field}: {reason}")]
#[non_exhaustive]
pub struct DatumError {
    /// The offending part.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

impl DatumError {
    /// Always false: the same datum stays invalid (see [`Classify`]).
    pub fn is_retriable(&self) -> bool {
        self.kind().is_retriable()
    }
}

/// The datum is bad in itself: [`ErrorKind::Permanent`].
impl Classify for DatumError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Permanent
    }
}
