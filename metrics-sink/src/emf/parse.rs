//! Reading a document back and checking it against the specification's rules, one part of
//! the document at a time.

use super::document::{EmfDocument, EmfFormatError, EmfMetric};
use super::METADATA;
use crate::datum::{valid_value, Dimension, Unit};
use crate::limits::{
    MAX_DIMENSIONS, MAX_DOCUMENT_BYTES, MAX_METRICS_PER_DOCUMENT, MAX_VALUES_PER_METRIC,
};
use serde_json::{Map, Value};

type Object = Map<String, Value>;

/// A rule the line breaks.
fn broken<T>(reason: String) -> Result<T, EmfFormatError> {
    Err(EmfFormatError::new(reason))
}

impl EmfDocument {
    /// Reads a document this crate writes (one directive with one dimension set) and checks
    /// it against the specification: the metadata object with a millisecond timestamp; a
    /// namespace of 1–255 characters; at most 30 dimension keys, each a root member holding a
    /// string of 1–1024 characters; 1–100 metric definitions with unique names of 1–255
    /// characters, a CloudWatch unit and a storage resolution of 1 or 60, each a root member
    /// holding a number or an array of 1–100 numbers; no unknown member in the metadata, the
    /// directive or a definition; at most [`MAX_DOCUMENT_BYTES`] bytes. Other root members are
    /// allowed, as the specification allows them.
    pub fn parse(line: &str) -> Result<Self, EmfFormatError> {
        if line.len() > MAX_DOCUMENT_BYTES {
            return broken(format!(
                "{} bytes, more than a log event's {MAX_DOCUMENT_BYTES}",
                line.len()
            ));
        }
        let root: Value = serde_json::from_str(line).map_err(EmfFormatError::not_json)?;
        let root = root
            .as_object()
            .ok_or_else(|| EmfFormatError::new("the root is not an object"))?;
        let (timestamp_ms, directive) = metadata(root)?;
        let namespace = namespace(directive)?;
        let dimensions = dimensions(root, directive)?;
        let metrics = metrics(root, directive, &dimensions)?;
        Ok(EmfDocument {
            timestamp_ms,
            namespace: namespace.to_owned(),
            dimensions,
            metrics,
        })
    }
}

/// The timestamp and the one metric directive of the metadata object.
fn metadata(root: &Object) -> Result<(u64, &Object), EmfFormatError> {
    let meta = root
        .get(METADATA)
        .and_then(|m| m.as_object())
        .ok_or_else(|| EmfFormatError::new(format!("no {METADATA:?} object")))?;
    only_members(meta, METADATA, &["Timestamp", "CloudWatchMetrics"])?;
    let timestamp_ms = meta
        .get("Timestamp")
        .and_then(|t| t.as_u64())
        .ok_or_else(|| EmfFormatError::new("Timestamp is not a non-negative integer"))?;
    let directives = meta
        .get("CloudWatchMetrics")
        .and_then(|d| d.as_array())
        .ok_or_else(|| EmfFormatError::new("CloudWatchMetrics is not an array"))?;
    let [directive] = directives.as_slice() else {
        return broken(format!(
            "{} metric directives; this reader takes one",
            directives.len()
        ));
    };
    let directive = directive
        .as_object()
        .ok_or_else(|| EmfFormatError::new("the directive is not an object"))?;
    only_members(
        directive,
        "the directive",
        &["Namespace", "Dimensions", "Metrics"],
    )?;
    Ok((timestamp_ms, directive))
}

fn namespace(directive: &Object) -> Result<&str, EmfFormatError> {
    let namespace = directive
        .get("Namespace")
        .and_then(|n| n.as_str())
        .ok_or_else(|| EmfFormatError::new("Namespace is not a string"))?;
    let length = namespace.chars().count();
    if !(1..=255).contains(&length) {
        return broken(format!("Namespace has {length} characters"));
    }
    Ok(namespace)
}

/// The one dimension set, with the values of its root members.
fn dimensions(root: &Object, directive: &Object) -> Result<Vec<Dimension>, EmfFormatError> {
    let sets = directive
        .get("Dimensions")
        .and_then(|d| d.as_array())
        .ok_or_else(|| EmfFormatError::new("Dimensions is not an array"))?;
    let [set] = sets.as_slice() else {
        return broken(format!(
            "{} dimension sets; this reader takes one",
            sets.len()
        ));
    };
    let set = set
        .as_array()
        .ok_or_else(|| EmfFormatError::new("the dimension set is not an array"))?;
    if set.len() > MAX_DIMENSIONS {
        return broken(format!("{} dimension keys, more than 30", set.len()));
    }
    let mut dimensions = Vec::with_capacity(set.len());
    for key in set {
        let name = key
            .as_str()
            .ok_or_else(|| EmfFormatError::new("a dimension key is not a string"))?;
        let value = root.get(name).and_then(|v| v.as_str()).ok_or_else(|| {
            EmfFormatError::new(format!("dimension {name:?} has no string root member"))
        })?;
        let length = value.chars().count();
        let name_length = name.chars().count();
        if name == METADATA || !(1..=1024).contains(&length) || !(1..=255).contains(&name_length) {
            return broken(format!(
                "dimension {name:?} (value of {length} characters) is not allowed"
            ));
        }
        if dimensions.iter().any(|d: &Dimension| d.name == name) {
            return broken(format!("dimension {name:?} is named twice"));
        }
        dimensions.push(Dimension {
            name: name.to_owned(),
            value: value.to_owned(),
        });
    }
    Ok(dimensions)
}

/// The metric definitions, with the values of their root members.
fn metrics(
    root: &Object,
    directive: &Object,
    dimensions: &[Dimension],
) -> Result<Vec<EmfMetric>, EmfFormatError> {
    let definitions = directive
        .get("Metrics")
        .and_then(|m| m.as_array())
        .ok_or_else(|| EmfFormatError::new("Metrics is not an array"))?;
    if !(1..=MAX_METRICS_PER_DOCUMENT).contains(&definitions.len()) {
        return broken(format!(
            "{} metric definitions, outside 1..={MAX_METRICS_PER_DOCUMENT}",
            definitions.len()
        ));
    }
    let mut metrics: Vec<EmfMetric> = Vec::with_capacity(definitions.len());
    for definition in definitions {
        let definition = definition
            .as_object()
            .ok_or_else(|| EmfFormatError::new("a metric definition is not an object"))?;
        let metric = metric(root, definition, |name| {
            metrics.iter().any(|m| m.name == name) || dimensions.iter().any(|d| d.name == name)
        })?;
        metrics.push(metric);
    }
    Ok(metrics)
}

/// One metric: its definition and the values of its root member; `taken` tells the names
/// already used by the document.
fn metric(
    root: &Object,
    definition: &Object,
    taken: impl Fn(&str) -> bool,
) -> Result<EmfMetric, EmfFormatError> {
    only_members(
        definition,
        "a metric definition",
        &["Name", "Unit", "StorageResolution"],
    )?;
    let name = definition
        .get("Name")
        .and_then(|n| n.as_str())
        .ok_or_else(|| EmfFormatError::new("a metric has no Name"))?;
    let length = name.chars().count();
    if !(1..=255).contains(&length) || name == METADATA {
        return broken(format!("metric name {name:?} is not allowed"));
    }
    if taken(name) {
        return broken(format!("metric {name:?} is named twice"));
    }
    let unit = match definition.get("Unit") {
        None => Unit::None,
        Some(u) => u.as_str().and_then(Unit::from_name).ok_or_else(|| {
            EmfFormatError::new(format!("metric {name:?} has an unknown unit {u}"))
        })?,
    };
    let high_resolution = match definition.get("StorageResolution") {
        None => false,
        Some(r) => match r.as_u64() {
            Some(1) => true,
            Some(60) => false,
            _ => return broken(format!("metric {name:?}: StorageResolution {r}")),
        },
    };
    Ok(EmfMetric {
        name: name.to_owned(),
        unit,
        high_resolution,
        values: values(root, name)?,
    })
}

/// The values of metric `name`: a number or an array of numbers, each one CloudWatch takes.
fn values(root: &Object, name: &str) -> Result<Vec<f64>, EmfFormatError> {
    let member = root
        .get(name)
        .ok_or_else(|| EmfFormatError::new(format!("metric {name:?} has no root member")))?;
    let values: Vec<f64> = match member {
        Value::Number(n) => vec![n.as_f64().unwrap_or(f64::NAN)],
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_f64().unwrap_or(f64::NAN))
            .collect(),
        other => return broken(format!("metric {name:?} holds {other}")),
    };
    if !(1..=MAX_VALUES_PER_METRIC).contains(&values.len()) {
        return broken(format!(
            "metric {name:?} holds {} values, outside 1..={MAX_VALUES_PER_METRIC}",
            values.len()
        ));
    }
    if values.iter().any(|v| !valid_value(*v)) {
        return broken(format!(
            "metric {name:?} holds a value that is not a number within ±2^360"
        ));
    }
    Ok(values)
}

fn only_members(object: &Object, what: &str, allowed: &[&str]) -> Result<(), EmfFormatError> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => broken(format!("{what} has an unknown member {k:?}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_refuses_what_the_specification_forbids() {
        let good = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["d"]],"Metrics":[{"Name":"m","Unit":"Count","StorageResolution":60}]}]},"d":"x","m":[1,2]}"#;
        assert!(EmfDocument::parse(good).is_ok());
        for (bad, why) in [
            (good.replace(r#""d":"x","#, ""), "dimension without member"),
            (
                good.replace(r#""m":[1,2]"#, r#""m":"1""#),
                "value not a number",
            ),
            (good.replace("60}", "5}"), "resolution"),
            (good.replace("Count", "Apples"), "unit"),
            (
                good.replace(r#""Timestamp":1"#, r#""Timestamp":-1"#),
                "timestamp",
            ),
            (good.replace(r#""n""#, r#""""#), "empty namespace"),
            (
                good.replace(r#""Unit""#, r#""Colour":1,"Unit""#),
                "unknown member",
            ),
            (
                good.replace("[1,2]", &format!("[{}]", vec!["1"; 101].join(","))),
                "101 values",
            ),
            (good.replace("\"_aws\"", "\"aws\""), "no metadata"),
        ] {
            assert!(EmfDocument::parse(&bad).is_err(), "{why}: {bad}");
        }
        let many: Vec<String> = (0..101).map(|i| format!(r#"{{"Name":"m{i}"}}"#)).collect();
        let members: Vec<String> = (0..101).map(|i| format!(r#""m{i}":1"#)).collect();
        let too_many = format!(
            r#"{{"_aws":{{"Timestamp":1,"CloudWatchMetrics":[{{"Namespace":"n","Dimensions":[[]],"Metrics":[{}]}}]}},{}}}"#,
            many.join(","),
            members.join(",")
        );
        assert!(EmfDocument::parse(&too_many)
            .unwrap_err()
            .to_string()
            .contains("101 metric definitions"));
        let not_json = EmfDocument::parse("{not json").unwrap_err();
        assert!(
            std::error::Error::source(&not_json).is_some(),
            "the parser's error is kept"
        );
        assert_eq!(
            stream2neptune_common::Classify::kind(&not_json),
            stream2neptune_common::ErrorKind::Permanent
        );
    }
}
