//! The document: its model, and how it is written as one line of JSON, with `serde_json`
//! doing the escaping and number formatting. Sizes are predicted from the same pieces the line
//! is made of, so that the sink packs documents up to their limit without writing them twice.

use super::METADATA;
use crate::datum::{Dimension, Unit};
use std::sync::Arc;
use stream2neptune_common::{Classify, ErrorKind};

/// The longest number `serde_json` writes for a finite `f64` (`-2.2250738585072014e-308`).
pub(super) const MAX_NUMBER_LEN: usize = 24;
/// The most digits a millisecond timestamp can have.
pub(super) const MAX_TIMESTAMP_LEN: usize = 20;

/// One metric of a document: its definition and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct EmfMetric {
    /// The metric's name (also the root member holding its values).
    pub name: String,
    /// Its unit.
    pub unit: Unit,
    /// `StorageResolution` 1 (`true`) or 60.
    pub high_resolution: bool,
    /// Its values, 1..=[`MAX_VALUES_PER_METRIC`](crate::limits::MAX_VALUES_PER_METRIC).
    pub values: Vec<f64>,
}

/// One EMF document: one metric directive with one dimension set.
#[derive(Debug, Clone, PartialEq)]
pub struct EmfDocument {
    /// `_aws.Timestamp`, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The directive's namespace.
    pub namespace: String,
    /// The dimensions of every metric of the document, sorted by name (the dimension set, and
    /// the root members holding the values).
    pub dimensions: Vec<Dimension>,
    /// The metrics, 1..=[`MAX_METRICS_PER_DOCUMENT`](crate::limits::MAX_METRICS_PER_DOCUMENT), names
    /// unique.
    pub metrics: Vec<EmfMetric>,
}

/// A line that is not an EMF document this crate can read, or that breaks a rule of the
/// specification.
#[derive(Debug, Clone, thiserror::Error)]
#[error("not a valid EMF document: {reason}")]
#[non_exhaustive]
pub struct EmfFormatError {
    /// The rule the line breaks.
    pub reason: String,
    /// The JSON parser's error, for a line that is not JSON.
    #[source]
    source: Option<Arc<serde_json::Error>>,
}

impl EmfFormatError {
    pub(super) fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            source: None,
        }
    }

    /// A line that is not JSON.
    pub(super) fn not_json(source: serde_json::Error) -> Self {
        Self {
            reason: format!("not JSON: {source}"),
            source: Some(Arc::new(source)),
        }
    }

    /// Always false: the same line stays invalid (see [`Classify`]).
    pub fn is_retriable(&self) -> bool {
        self.kind().is_retriable()
    }
}

/// Two errors are the same when they name the same broken rule.
impl PartialEq for EmfFormatError {
    fn eq(&self, other: &Self) -> bool {
        self.reason == other.reason
    }
}

impl Eq for EmfFormatError {}

/// The line is bad in itself: [`ErrorKind::Permanent`].
impl Classify for EmfFormatError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Permanent
    }
}

pub(super) fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// A finite number as JSON: integers below 10^15 without a fraction (`100`, not `100.0`),
/// anything else as `serde_json` writes an `f64` (shortest round-trip form).
pub(super) fn json_number(v: f64) -> String {
    let v = v + 0.0; // -0.0 becomes 0.0
    if v.fract() == 0.0 && v.abs() < 1e15 {
        (v as i64).to_string()
    } else {
        serde_json::Value::from(v).to_string()
    }
}

/// The definition (`{"Name":…,"Unit":…,"StorageResolution":…}`) and the root member
/// (`"name":values`) of one metric.
pub(super) fn metric_pieces(
    name: &str,
    unit: Unit,
    high_resolution: bool,
    values: &[f64],
) -> (String, String) {
    let key = json_string(name);
    let definition = format!(
        r#"{{"Name":{key},"Unit":"{}","StorageResolution":{}}}"#,
        unit.as_str(),
        if high_resolution { 1 } else { 60 }
    );
    let member = if let [single] = values {
        format!("{key}:{}", json_number(*single))
    } else {
        let numbers: Vec<String> = values.iter().map(|v| json_number(*v)).collect();
        format!("{key}:[{}]", numbers.join(","))
    };
    (definition, member)
}

/// The document up to its first metric definition, and after its last one, without metrics.
pub(super) fn frame(
    timestamp: &str,
    namespace: &str,
    dimensions: &[Dimension],
) -> (String, String) {
    let keys: Vec<String> = dimensions.iter().map(|d| json_string(&d.name)).collect();
    let head = format!(
        r#"{{"{METADATA}":{{"Timestamp":{timestamp},"CloudWatchMetrics":[{{"Namespace":{},"Dimensions":[[{}]],"Metrics":["#,
        json_string(namespace),
        keys.join(",")
    );
    let mut tail = String::from("]}]}");
    for (key, d) in keys.iter().zip(dimensions) {
        tail.push(',');
        tail.push_str(key);
        tail.push(':');
        tail.push_str(&json_string(&d.value));
    }
    (head, tail)
}

/// A metric's share of a document's size: its definition, its member, and the two commas
/// before them (the whole document has one comma fewer than the sum of its metrics' shares).
pub(super) fn metric_cost(definition: &str, member: &str) -> usize {
    definition.len() + member.len() + 2
}

impl EmfDocument {
    /// The document as one line of JSON (no new line).
    pub fn to_json(&self) -> String {
        let (head, tail) = frame(
            &self.timestamp_ms.to_string(),
            &self.namespace,
            &self.dimensions,
        );
        let pieces: Vec<(String, String)> = self
            .metrics
            .iter()
            .map(|m| metric_pieces(&m.name, m.unit, m.high_resolution, &m.values))
            .collect();
        let definitions: Vec<&str> = pieces.iter().map(|(d, _)| d.as_str()).collect();
        let mut out = head;
        out.push_str(&definitions.join(","));
        out.push_str(&tail);
        for (_, member) in &pieces {
            out.push(',');
            out.push_str(member);
        }
        out.push('}');
        out
    }

    /// Number of values in the document.
    pub fn value_count(&self) -> usize {
        self.metrics.iter().map(|m| m.values.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_predicted_size_is_the_written_size() {
        let dims = vec![Dimension {
            name: "clusterId".into(),
            value: "a \"quoted\" é value".into(),
        }];
        let metrics: Vec<EmfMetric> = (0..7)
            .map(|i| EmfMetric {
                name: format!("Metric\\{i}"),
                unit: Unit::ALL[i % Unit::ALL.len()],
                high_resolution: i % 2 == 0,
                values: (0..i * 13 + 1).map(|v| v as f64 * 1.37e-5 - 3.0).collect(),
            })
            .collect();
        let document = EmfDocument {
            timestamp_ms: 1_700_000_000_123,
            namespace: "ns".into(),
            dimensions: dims.clone(),
            metrics: metrics.clone(),
        };
        let (head, tail) = frame("1700000000123", "ns", &dims);
        let predicted = head.len()
            + tail.len()
            + 1
            + metrics
                .iter()
                .map(|m| {
                    let (d, v) = metric_pieces(&m.name, m.unit, m.high_resolution, &m.values);
                    metric_cost(&d, &v)
                })
                .sum::<usize>()
            - 1;
        let json = document.to_json();
        assert_eq!(json.len(), predicted);
        assert_eq!(EmfDocument::parse(&json).unwrap(), document);
    }
}
