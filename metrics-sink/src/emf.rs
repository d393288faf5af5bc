//! A [`MetricsSink`] that writes CloudWatch embedded metric format (EMF) documents: one JSON
//! object per line, which CloudWatch Logs turns into metrics without any API call.
//!
//! This is how an AWS Lambda function publishes metrics: what it prints on standard output
//! goes to its log group, and CloudWatch extracts the metrics of every line that carries an
//! `_aws` member. Nothing is sent over the network from the function, so publishing costs no
//! time of the invocation, needs no `cloudwatch:PutMetricData` permission and cannot fail for
//! want of a route to the CloudWatch endpoint. Long-running consumers keep
//! [`CloudWatchSink`](crate::CloudWatchSink), which aggregates and calls the API.
//!
//! # The documents
//!
//! ```json
//! {"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"aws-samples/stream-2-neptune",
//!   "Dimensions":[["clusterId"]],"Metrics":[{"Name":"EdgesSubmitted","Unit":"Count","StorageResolution":1}]}]},
//!  "clusterId":"my-cluster","EdgesSubmitted":[100,100,42]}
//! ```
//!
//! (shown on three lines here; each document is written on one.) Every document follows the
//! specification's rules: an `_aws` metadata object with the timestamp in milliseconds and one
//! metric directive; one dimension set naming every dimension of its metrics (at most 30), whose
//! values are root members; at most [`MAX_METRICS_PER_DOCUMENT`] metric definitions, each with
//! its name, unit and storage resolution (1 or 60 s), whose values are a root member holding a
//! number or an array of at most [`MAX_VALUES_PER_METRIC`] numbers; and at most
//! [`EmfConfig::max_document_bytes`] bytes (256 KiB by default, the size of a log event that
//! every CloudWatch Logs client accepts).
//!
//! Data points are kept as recorded, not aggregated: EMF has no value/count pairs, and
//! CloudWatch computes every statistic, percentiles included, from the values of a line. Points
//! of one dimension set and one period (the second for high-resolution metrics, the minute for
//! the others) share documents; a metric with more than 100 values, or recorded with two units
//! in the same period, continues in further documents.
//!
//! # Why it is written here
//!
//! The crates that write EMF (`metrics_cloudwatch_embedded`, `metrique-writer-format-emf`) each
//! bring their own metric model (a `metrics` recorder with its own aggregation, or
//! struct-per-unit-of-work entries); neither takes this crate's [`MetricDatum`]s with their
//! units, dimensions and timestamps, keeps the original's names and resolution, and checks the
//! specification's limits the way [`CloudWatchSink`](crate::CloudWatchSink) checks the API's.
//! The format itself is small: the document is assembled here with `serde_json` doing the
//! escaping and number formatting.

use crate::datum::{check_default_dimensions, check_namespace, Dimension, MetricDatum, Unit};
use crate::error::MetricsError;
use crate::names;
use crate::sink::{FlushReport, MetricsSink};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::UNIX_EPOCH;

/// Metric definitions one document may hold (the specification's limit per directive).
pub const MAX_METRICS_PER_DOCUMENT: usize = 100;
/// Values one metric may hold in one document (the specification's limit per array).
pub const MAX_VALUES_PER_METRIC: usize = 100;
/// Default size limit of one document: 256 KiB, the log event size every CloudWatch Logs
/// client and the Lambda log pipeline accept.
pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Largest size limit that can be configured: 1 MiB, CloudWatch Logs' largest log event.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
/// Smallest size limit that can be configured: a document holding one metric with 100 values
/// and an ordinary dimension set must fit.
pub const MIN_DOCUMENT_BYTES: usize = 16 * 1024;

/// The root member holding the metadata.
const METADATA: &str = "_aws";
/// The longest number `serde_json` writes for a finite `f64` (`-2.2250738585072014e-308`).
const MAX_NUMBER_LEN: usize = 24;
/// The most digits a millisecond timestamp can have.
const MAX_TIMESTAMP_LEN: usize = 20;

/// How an [`EmfSink`] names and sizes its documents. The defaults are the original's
/// namespace `aws-samples/stream-2-neptune` and one-second (high) resolution.
#[derive(Debug, Clone, PartialEq)]
pub struct EmfConfig {
    /// The CloudWatch namespace of every metric.
    pub namespace: String,
    /// Dimensions added to every datum that does not have them already (e.g. `clusterId`).
    pub default_dimensions: Vec<Dimension>,
    /// Store every metric at one-second resolution (`StorageResolution` 1), as the original
    /// did; else as each datum asks (60 unless it asks for 1).
    pub high_resolution: bool,
    /// Largest document, in bytes of its line (without the new line):
    /// [`MIN_DOCUMENT_BYTES`]..=[`MAX_DOCUMENT_BYTES`], default
    /// [`DEFAULT_MAX_DOCUMENT_BYTES`].
    pub max_document_bytes: usize,
    /// Data points held between flushes; `record` drops (and counts) points beyond this
    /// rather than grow without bound. Default 100 000.
    pub max_pending: usize,
    /// Documents kept after a failed write, to be written by the next flush; the oldest are
    /// dropped (and counted) beyond this. Default 1000.
    pub max_retained_documents: usize,
}

impl Default for EmfConfig {
    fn default() -> Self {
        Self {
            namespace: names::NAMESPACE.to_owned(),
            default_dimensions: Vec::new(),
            high_resolution: true,
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
            max_pending: 100_000,
            max_retained_documents: 1_000,
        }
    }
}

impl EmfConfig {
    /// The original's configuration for one cluster: its namespace, and the `clusterId`
    /// dimension on every datum.
    pub fn for_cluster(cluster_id: impl Into<String>) -> Self {
        Self {
            default_dimensions: vec![Dimension {
                name: names::CLUSTER_ID.to_owned(),
                value: cluster_id.into(),
            }],
            ..Self::default()
        }
    }

    /// Checks the configuration against the format's limits; the error names the field.
    pub fn validate(&self) -> Result<(), MetricsError> {
        let bad = |field, reason: String| Err(MetricsError::Config { field, reason });
        if let Err(reason) = check_namespace(&self.namespace) {
            return bad("namespace", reason);
        }
        if let Err(reason) = check_default_dimensions(&self.default_dimensions) {
            return bad("default_dimensions", reason);
        }
        if let Some(d) = self.default_dimensions.iter().find(|d| d.name == METADATA) {
            return bad(
                "default_dimensions",
                format!("{:?} is the metadata member's name", d.name),
            );
        }
        if !(MIN_DOCUMENT_BYTES..=MAX_DOCUMENT_BYTES).contains(&self.max_document_bytes) {
            return bad(
                "max_document_bytes",
                format!(
                    "{} is outside {MIN_DOCUMENT_BYTES}..={MAX_DOCUMENT_BYTES}",
                    self.max_document_bytes
                ),
            );
        }
        if self.max_pending == 0 {
            return bad("max_pending", "must be at least 1".into());
        }
        if self.max_retained_documents == 0 {
            return bad("max_retained_documents", "must be at least 1".into());
        }
        Ok(())
    }
}

/// One metric of a document: its definition and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct EmfMetric {
    /// The metric's name (also the root member holding its values).
    pub name: String,
    /// Its unit.
    pub unit: Unit,
    /// `StorageResolution` 1 (`true`) or 60.
    pub high_resolution: bool,
    /// Its values, 1..=[`MAX_VALUES_PER_METRIC`].
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
    /// The metrics, 1..=[`MAX_METRICS_PER_DOCUMENT`], names unique.
    pub metrics: Vec<EmfMetric>,
}

/// A line that is not an EMF document this crate can read, or that breaks a rule of the
/// specification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid EMF document: {0}")]
pub struct EmfFormatError(pub String);

impl EmfFormatError {
    /// The same line stays invalid.
    pub fn is_retriable(&self) -> bool {
        false
    }
}

fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// A finite number as JSON: integers below 10^15 without a fraction (`100`, not `100.0`),
/// anything else as `serde_json` writes an `f64` (shortest round-trip form).
fn json_number(v: f64) -> String {
    let v = v + 0.0; // -0.0 becomes 0.0
    if v.fract() == 0.0 && v.abs() < 1e15 {
        (v as i64).to_string()
    } else {
        serde_json::Value::from(v).to_string()
    }
}

/// The definition (`{"Name":…,"Unit":…,"StorageResolution":…}`) and the root member
/// (`"name":values`) of one metric.
fn metric_pieces(
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
fn frame(timestamp: &str, namespace: &str, dimensions: &[Dimension]) -> (String, String) {
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
fn metric_cost(definition: &str, member: &str) -> usize {
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

    /// Reads a document this crate writes (one directive with one dimension set) and checks
    /// it against the specification: the metadata object with a millisecond timestamp; a
    /// namespace of 1–255 characters; at most 30 dimension keys, each a root member holding a
    /// string of 1–1024 characters; 1–100 metric definitions with unique names of 1–255
    /// characters, a CloudWatch unit and a storage resolution of 1 or 60, each a root member
    /// holding a number or an array of 1–100 numbers; no unknown member in the metadata, the
    /// directive or a definition; at most [`MAX_DOCUMENT_BYTES`] bytes. Other root members are
    /// allowed, as the specification allows them.
    pub fn parse(line: &str) -> Result<Self, EmfFormatError> {
        let err = |m: String| Err(EmfFormatError(m));
        if line.len() > MAX_DOCUMENT_BYTES {
            return err(format!(
                "{} bytes, more than a log event's {MAX_DOCUMENT_BYTES}",
                line.len()
            ));
        }
        let root: serde_json::Value =
            serde_json::from_str(line).map_err(|e| EmfFormatError(format!("not JSON: {e}")))?;
        let root = root
            .as_object()
            .ok_or_else(|| EmfFormatError("the root is not an object".into()))?;
        let meta = root
            .get(METADATA)
            .and_then(|m| m.as_object())
            .ok_or_else(|| EmfFormatError(format!("no {METADATA:?} object")))?;
        only_members(meta, METADATA, &["Timestamp", "CloudWatchMetrics"])?;
        let timestamp_ms = meta
            .get("Timestamp")
            .and_then(|t| t.as_u64())
            .ok_or_else(|| EmfFormatError("Timestamp is not a non-negative integer".into()))?;
        let directives = meta
            .get("CloudWatchMetrics")
            .and_then(|d| d.as_array())
            .ok_or_else(|| EmfFormatError("CloudWatchMetrics is not an array".into()))?;
        let [directive] = directives.as_slice() else {
            return err(format!(
                "{} metric directives; this reader takes one",
                directives.len()
            ));
        };
        let directive = directive
            .as_object()
            .ok_or_else(|| EmfFormatError("the directive is not an object".into()))?;
        only_members(
            directive,
            "the directive",
            &["Namespace", "Dimensions", "Metrics"],
        )?;
        let namespace = directive
            .get("Namespace")
            .and_then(|n| n.as_str())
            .ok_or_else(|| EmfFormatError("Namespace is not a string".into()))?;
        let length = namespace.chars().count();
        if !(1..=255).contains(&length) {
            return err(format!("Namespace has {length} characters"));
        }
        let sets = directive
            .get("Dimensions")
            .and_then(|d| d.as_array())
            .ok_or_else(|| EmfFormatError("Dimensions is not an array".into()))?;
        let [set] = sets.as_slice() else {
            return err(format!(
                "{} dimension sets; this reader takes one",
                sets.len()
            ));
        };
        let set = set
            .as_array()
            .ok_or_else(|| EmfFormatError("the dimension set is not an array".into()))?;
        if set.len() > crate::MAX_DIMENSIONS {
            return err(format!("{} dimension keys, more than 30", set.len()));
        }
        let mut dimensions = Vec::with_capacity(set.len());
        for key in set {
            let name = key
                .as_str()
                .ok_or_else(|| EmfFormatError("a dimension key is not a string".into()))?;
            let value = root.get(name).and_then(|v| v.as_str()).ok_or_else(|| {
                EmfFormatError(format!("dimension {name:?} has no string root member"))
            })?;
            let length = value.chars().count();
            let name_length = name.chars().count();
            if name == METADATA
                || !(1..=1024).contains(&length)
                || !(1..=255).contains(&name_length)
            {
                return err(format!(
                    "dimension {name:?} (value of {length} characters) is not allowed"
                ));
            }
            if dimensions.iter().any(|d: &Dimension| d.name == name) {
                return err(format!("dimension {name:?} is named twice"));
            }
            dimensions.push(Dimension {
                name: name.to_owned(),
                value: value.to_owned(),
            });
        }
        let definitions = directive
            .get("Metrics")
            .and_then(|m| m.as_array())
            .ok_or_else(|| EmfFormatError("Metrics is not an array".into()))?;
        if !(1..=MAX_METRICS_PER_DOCUMENT).contains(&definitions.len()) {
            return err(format!(
                "{} metric definitions, outside 1..={MAX_METRICS_PER_DOCUMENT}",
                definitions.len()
            ));
        }
        let mut metrics: Vec<EmfMetric> = Vec::with_capacity(definitions.len());
        for definition in definitions {
            let definition = definition
                .as_object()
                .ok_or_else(|| EmfFormatError("a metric definition is not an object".into()))?;
            only_members(
                definition,
                "a metric definition",
                &["Name", "Unit", "StorageResolution"],
            )?;
            let name = definition
                .get("Name")
                .and_then(|n| n.as_str())
                .ok_or_else(|| EmfFormatError("a metric has no Name".into()))?;
            let length = name.chars().count();
            if !(1..=255).contains(&length) || name == METADATA {
                return err(format!("metric name {name:?} is not allowed"));
            }
            if metrics.iter().any(|m| m.name == name) || dimensions.iter().any(|d| d.name == name) {
                return err(format!("metric {name:?} is named twice"));
            }
            let unit = match definition.get("Unit") {
                None => Unit::None,
                Some(u) => u.as_str().and_then(Unit::from_name).ok_or_else(|| {
                    EmfFormatError(format!("metric {name:?} has an unknown unit {u}"))
                })?,
            };
            let high_resolution = match definition.get("StorageResolution") {
                None => false,
                Some(r) => match r.as_u64() {
                    Some(1) => true,
                    Some(60) => false,
                    _ => return err(format!("metric {name:?}: StorageResolution {r}")),
                },
            };
            let member = root
                .get(name)
                .ok_or_else(|| EmfFormatError(format!("metric {name:?} has no root member")))?;
            let values: Vec<f64> = match member {
                serde_json::Value::Number(n) => vec![n.as_f64().unwrap_or(f64::NAN)],
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|v| v.as_f64().unwrap_or(f64::NAN))
                    .collect(),
                other => return err(format!("metric {name:?} holds {other}")),
            };
            if !(1..=MAX_VALUES_PER_METRIC).contains(&values.len()) {
                return err(format!(
                    "metric {name:?} holds {} values, outside 1..={MAX_VALUES_PER_METRIC}",
                    values.len()
                ));
            }
            if values.iter().any(|v| !crate::datum::valid_value(*v)) {
                return err(format!(
                    "metric {name:?} holds a value that is not a number within ±2^360"
                ));
            }
            metrics.push(EmfMetric {
                name: name.to_owned(),
                unit,
                high_resolution,
                values,
            });
        }
        Ok(EmfDocument {
            timestamp_ms,
            namespace: namespace.to_owned(),
            dimensions,
            metrics,
        })
    }
}

fn only_members(
    object: &serde_json::Map<String, serde_json::Value>,
    what: &str,
    allowed: &[&str],
) -> Result<(), EmfFormatError> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(EmfFormatError(format!(
            "{what} has an unknown member {k:?}"
        ))),
        None => Ok(()),
    }
}

/// Why a datum cannot be written as EMF, beyond CloudWatch's own rules.
fn check_datum(datum: &MetricDatum, config: &EmfConfig) -> Result<(), String> {
    datum.validate().map_err(|e| e.to_string())?;
    if datum.name == METADATA {
        return Err(format!(
            "the metric name {METADATA:?} is the metadata member's"
        ));
    }
    if let Some(d) = datum
        .dimensions
        .iter()
        .find(|d| d.name == METADATA || d.name == datum.name)
    {
        return Err(format!(
            "dimension {:?} would share its root member with the metric or the metadata",
            d.name
        ));
    }
    // The largest document this datum can be in alone: its dimensions and a full array of the
    // longest numbers. A quick bound first (escaping at most doubles a string's bytes), the
    // exact figure only when the bound does not fit.
    let numbers = MAX_VALUES_PER_METRIC * (MAX_NUMBER_LEN + 1) + 1;
    let bound = |s: &str| 2 * s.len() + 2;
    let quick = 200
        + MAX_TIMESTAMP_LEN
        + bound(&config.namespace)
        + datum
            .dimensions
            .iter()
            .map(|d| 2 * bound(&d.name) + bound(&d.value) + 3)
            .sum::<usize>()
        + 2 * bound(&datum.name)
        + numbers;
    if quick <= config.max_document_bytes {
        return Ok(());
    }
    let (head, tail) = frame(
        &"9".repeat(MAX_TIMESTAMP_LEN),
        &config.namespace,
        &datum.dimensions,
    );
    let (definition, empty_member) = metric_pieces(&datum.name, datum.unit, false, &[]);
    let most = head.len() + tail.len() + metric_cost(&definition, &empty_member) + numbers;
    if most > config.max_document_bytes {
        return Err(format!(
            "its dimensions and name need up to {most} bytes, more than a document's {}",
            config.max_document_bytes
        ));
    }
    Ok(())
}

/// Puts checked data points into documents within every limit.
fn pack(data: Vec<MetricDatum>, namespace: &str, max_bytes: usize) -> Vec<EmfDocument> {
    // (dimensions, period start in ms) -> (name, unit, resolution) -> values in recorded order
    type Series = BTreeMap<(String, Unit, bool), Vec<f64>>;
    let mut groups: BTreeMap<(Vec<Dimension>, u64), Series> = BTreeMap::new();
    for d in data {
        let secs = d
            .timestamp
            .duration_since(UNIX_EPOCH)
            .map(|t| t.as_secs())
            .unwrap_or(0);
        let period = if d.high_resolution { 1 } else { 60 };
        let start_ms = (secs - secs % period).saturating_mul(1000);
        groups
            .entry((d.dimensions, start_ms))
            .or_default()
            .entry((d.name, d.unit, d.high_resolution))
            .or_default()
            .push(d.value);
    }
    let mut documents = Vec::new();
    for ((dimensions, timestamp_ms), series) in groups {
        let (head, tail) = frame(&timestamp_ms.to_string(), namespace, &dimensions);
        let empty = head.len() + tail.len();
        // First fit: each chunk of at most 100 values goes into the first document of the group
        // that does not hold its name yet and has room for it.
        let mut bins: Vec<(Vec<EmfMetric>, HashSet<String>, usize)> = Vec::new();
        for ((name, unit, high_resolution), values) in series {
            for chunk in values.chunks(MAX_VALUES_PER_METRIC) {
                let (definition, member) = metric_pieces(&name, unit, high_resolution, chunk);
                let cost = metric_cost(&definition, &member);
                let fits = |(metrics, names, size): &(Vec<EmfMetric>, HashSet<String>, usize)| {
                    metrics.len() < MAX_METRICS_PER_DOCUMENT
                        && !names.contains(&name)
                        && size + cost <= max_bytes
                };
                let bin = match bins.iter().position(fits) {
                    Some(i) => i,
                    None => {
                        // A document's size is its frame, its closing brace and its metrics'
                        // shares less one comma: the frame plus the shares.
                        bins.push((Vec::new(), HashSet::new(), empty));
                        bins.len() - 1
                    }
                };
                let (metrics, names, size) = &mut bins[bin];
                metrics.push(EmfMetric {
                    name: name.clone(),
                    unit,
                    high_resolution,
                    values: chunk.to_vec(),
                });
                names.insert(name.clone());
                *size += cost;
            }
        }
        documents.extend(bins.into_iter().map(|(metrics, _, _)| EmfDocument {
            timestamp_ms,
            namespace: namespace.to_owned(),
            dimensions: dimensions.clone(),
            metrics,
        }));
    }
    documents
}

/// Counts of what an [`EmfSink`] did since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmfStats {
    /// Data points taken by `record`.
    pub recorded: u64,
    /// Data points dropped by `record` because CloudWatch or the format would refuse them.
    pub dropped_invalid: u64,
    /// Data points dropped by `record` because [`EmfConfig::max_pending`] were waiting.
    pub dropped_full: u64,
    /// Documents written.
    pub documents: u64,
    /// Values written (in those documents).
    pub values: u64,
    /// Flushes whose writing failed (their unwritten documents were kept).
    pub failed_writes: u64,
    /// Kept documents dropped because more than [`EmfConfig::max_retained_documents`] waited.
    pub dropped_retained: u64,
    /// Documents waiting for the next flush after a failed write.
    pub retained: u64,
}

impl EmfStats {
    /// Every data point or document dropped, for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_invalid + self.dropped_full + self.dropped_retained
    }
}

#[derive(Default)]
struct Counters {
    recorded: AtomicU64,
    dropped_invalid: AtomicU64,
    dropped_full: AtomicU64,
    documents: AtomicU64,
    values: AtomicU64,
    failed_writes: AtomicU64,
    dropped_retained: AtomicU64,
}

struct Output<W> {
    writer: W,
    /// Lines (with their new line) not yet written, and the values each holds.
    unwritten: VecDeque<(String, u64)>,
}

/// Writes EMF documents, one per line, to any [`Write`]r: standard output in AWS Lambda.
///
/// * `record` checks the datum (CloudWatch's rules and the format's: a metric name or
///   dimension name may not be `_aws`, and a dimension may not carry the metric's own name)
///   and keeps it in memory; it never does I/O.
/// * `flush` (and dropping the sink) packs what was recorded into documents within every limit
///   of the specification and writes each as one line with a single `write_all`, then flushes
///   the writer. Call it at the end of every Lambda invocation: the environment may be frozen
///   right after the answer, and lines still in memory would wait until the next invocation.
/// * A failed write keeps the documents not yet written (up to
///   [`EmfConfig::max_retained_documents`]) for the next flush; a line cut short by the
///   failure is written again whole, so a torn line (which CloudWatch ignores as it is not
///   JSON) may precede it.
///
/// Writes are synchronous, on the flushing task: they are a few kilobytes per invocation to a
/// pipe the Lambda runtime drains.
///
/// ```
/// use metrics_sink::{names, EmfConfig, EmfDocument, EmfSink, MetricDatum, MetricsSink, Unit};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), metrics_sink::MetricsError> {
/// // In a Lambda function: `EmfSink::stdout(EmfConfig::default())?`.
/// let sink = EmfSink::new(Vec::new(), EmfConfig::for_cluster("my-cluster"))?;
/// let now = std::time::SystemTime::now();
/// sink.record(MetricDatum::new(names::EDGES_SUBMITTED, Unit::Count, 100.0).at(now));
/// sink.record(MetricDatum::new(names::WRITE_DURATION, Unit::Milliseconds, 12.5).at(now));
/// let report = sink.flush().await?; // at the end of every invocation
/// assert_eq!((report.requests, report.sent), (1, 2));
///
/// let line = sink.with_writer(|out| String::from_utf8(out.clone()).unwrap());
/// assert!(line.starts_with(r#"{"_aws":{"Timestamp":"#) && line.ends_with("}\n"));
/// let document = EmfDocument::parse(line.trim_end()).unwrap();
/// assert_eq!(document.namespace, names::NAMESPACE);
/// assert_eq!(document.dimensions[0].value, "my-cluster");
/// assert_eq!(document.metrics[1].values, vec![12.5]);
/// # Ok(())
/// # }
/// ```
pub struct EmfSink<W: Write + Send> {
    config: EmfConfig,
    pending: Mutex<Vec<MetricDatum>>,
    output: Mutex<Output<W>>,
    target: String,
    counters: Counters,
}

impl EmfSink<std::io::Stdout> {
    /// A sink writing to standard output, where AWS Lambda collects a function's log lines.
    pub fn stdout(config: EmfConfig) -> Result<Self, MetricsError> {
        Self::with_target(std::io::stdout(), config, "standard output")
    }
}

impl<W: Write + Send> EmfSink<W> {
    /// A sink writing to `writer`, after checking `config`.
    pub fn new(writer: W, config: EmfConfig) -> Result<Self, MetricsError> {
        Self::with_target(writer, config, "the EMF writer")
    }

    fn with_target(writer: W, config: EmfConfig, target: &str) -> Result<Self, MetricsError> {
        config.validate()?;
        Ok(Self {
            config,
            pending: Mutex::new(Vec::new()),
            output: Mutex::new(Output {
                writer,
                unwritten: VecDeque::new(),
            }),
            target: target.to_owned(),
            counters: Counters::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &EmfConfig {
        &self.config
    }

    /// Runs `f` on the writer (e.g. to read back what a `Vec<u8>` received).
    pub fn with_writer<R>(&self, f: impl FnOnce(&mut W) -> R) -> R {
        f(&mut self.lock_output().writer)
    }

    /// Counts since the sink was created.
    pub fn stats(&self) -> EmfStats {
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        EmfStats {
            recorded: l(&c.recorded),
            dropped_invalid: l(&c.dropped_invalid),
            dropped_full: l(&c.dropped_full),
            documents: l(&c.documents),
            values: l(&c.values),
            failed_writes: l(&c.failed_writes),
            dropped_retained: l(&c.dropped_retained),
            retained: self.lock_output().unwritten.len() as u64,
        }
    }

    fn lock_output(&self) -> MutexGuard<'_, Output<W>> {
        self.output.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Packs what was recorded into documents and writes them, synchronously (what
    /// [`MetricsSink::flush`] does).
    pub fn write_pending(&self) -> Result<FlushReport, MetricsError> {
        let data = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let documents = pack(data, &self.config.namespace, self.config.max_document_bytes);
        let mut output = self.lock_output();
        for document in documents {
            let mut line = document.to_json();
            line.push('\n');
            output
                .unwritten
                .push_back((line, document.value_count() as u64));
        }
        while output.unwritten.len() > self.config.max_retained_documents {
            output.unwritten.pop_front();
            self.counters
                .dropped_retained
                .fetch_add(1, Ordering::Relaxed);
        }
        let mut report = FlushReport::default();
        let result = loop {
            let Output { writer, unwritten } = &mut *output;
            let Some((line, values)) = unwritten.front() else {
                break writer.flush();
            };
            if let Err(e) = writer.write_all(line.as_bytes()) {
                break Err(e);
            }
            report.sent += values;
            report.requests += 1;
            unwritten.pop_front();
        };
        self.counters
            .documents
            .fetch_add(report.requests, Ordering::Relaxed);
        self.counters
            .values
            .fetch_add(report.sent, Ordering::Relaxed);
        report.dropped_total = self.stats_dropped();
        match result {
            Ok(()) => Ok(report),
            Err(e) => {
                self.counters.failed_writes.fetch_add(1, Ordering::Relaxed);
                Err(MetricsError::Write {
                    target: self.target.clone(),
                    message: e.to_string(),
                })
            }
        }
    }

    fn stats_dropped(&self) -> u64 {
        let c = &self.counters;
        c.dropped_invalid.load(Ordering::Relaxed)
            + c.dropped_full.load(Ordering::Relaxed)
            + c.dropped_retained.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl<W: Write + Send> MetricsSink for EmfSink<W> {
    fn record(&self, mut datum: MetricDatum) {
        for d in &self.config.default_dimensions {
            if datum.dimensions.iter().all(|x| x.name != d.name) {
                datum = datum.dimension(&d.name, &d.value);
            }
        }
        datum.high_resolution |= self.config.high_resolution;
        if let Err(reason) = check_datum(&datum, &self.config) {
            self.counters
                .dropped_invalid
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(metric = %datum.name, %reason, "metric datum dropped");
            return;
        }
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.len() >= self.config.max_pending {
            self.counters.dropped_full.fetch_add(1, Ordering::Relaxed);
            return;
        }
        pending.push(datum);
        self.counters.recorded.fetch_add(1, Ordering::Relaxed);
    }

    async fn flush(&self) -> Result<FlushReport, MetricsError> {
        self.write_pending()
    }
}

impl<W: Write + Send> Drop for EmfSink<W> {
    fn drop(&mut self) {
        if let Err(e) = self.write_pending() {
            tracing::warn!(error = %e, "metrics left unwritten when the EMF sink was dropped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    const T: u64 = 1_700_000_000;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    fn lines(sink: &EmfSink<Vec<u8>>) -> Vec<String> {
        sink.with_writer(|w| String::from_utf8(w.clone()).unwrap())
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn one_invocations_metrics_become_one_document_in_the_originals_names() {
        let sink = EmfSink::new(Vec::new(), EmfConfig::for_cluster("db-1")).unwrap();
        for (edges, ms) in [(100.0, 12.5), (100.0, 9.0), (42.0, 4.0)] {
            sink.record(
                MetricDatum::new(names::EDGES_SUBMITTED, Unit::Count, edges).at(at(T, 100)),
            );
            sink.record(
                MetricDatum::new(names::WRITE_DURATION, Unit::Milliseconds, ms).at(at(T, 900)),
            );
        }
        let report = sink.write_pending().unwrap();
        assert_eq!((report.requests, report.sent), (1, 6));
        assert_eq!(
            lines(&sink),
            vec![concat!(
                r#"{"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"aws-samples/stream-2-neptune","#,
                r#""Dimensions":[["clusterId"]],"Metrics":[{"Name":"EdgesSubmitted","Unit":"Count","StorageResolution":1},"#,
                r#"{"Name":"WriteDuration","Unit":"Milliseconds","StorageResolution":1}]}]},"clusterId":"db-1","#,
                r#""EdgesSubmitted":[100,100,42],"WriteDuration":[12.5,9,4]}"#
            )]
        );
        // Nothing is written twice.
        assert_eq!(sink.write_pending().unwrap().requests, 0);
        assert_eq!(lines(&sink).len(), 1);
    }

    #[test]
    fn more_than_100_values_or_metrics_continue_in_further_documents() {
        let sink = EmfSink::new(Vec::new(), EmfConfig::default()).unwrap();
        for i in 0..250 {
            sink.record(MetricDatum::new("Latency", Unit::Milliseconds, i as f64).at(at(T, 0)));
        }
        for i in 0..150 {
            sink.record(MetricDatum::new(format!("M{i:03}"), Unit::Count, 1.0).at(at(T, 0)));
        }
        sink.write_pending().unwrap();
        let documents: Vec<EmfDocument> = lines(&sink)
            .iter()
            .map(|l| EmfDocument::parse(l).unwrap())
            .collect();
        assert!(documents.iter().all(|d| d.metrics.len() <= 100));
        let latency: Vec<f64> = documents
            .iter()
            .flat_map(|d| d.metrics.iter().filter(|m| m.name == "Latency"))
            .flat_map(|m| m.values.clone())
            .collect();
        assert_eq!(latency, (0..250).map(|i| i as f64).collect::<Vec<_>>());
        let names: usize = documents.iter().map(|d| d.metrics.len()).sum();
        assert_eq!(names, 3 + 150, "three chunks of Latency and 150 others");
        assert_eq!(documents.len(), 3);
    }

    #[test]
    fn dimension_sets_periods_and_units_are_kept_apart() {
        let sink = EmfSink::new(
            Vec::new(),
            EmfConfig {
                high_resolution: false,
                ..EmfConfig::default()
            },
        )
        .unwrap();
        sink.record(
            MetricDatum::new("A", Unit::Count, 1.0)
                .at(at(T, 0))
                .dimension("shard", "0"),
        );
        sink.record(
            MetricDatum::new("A", Unit::Count, 2.0)
                .at(at(T, 0))
                .dimension("shard", "1"),
        );
        // Standard resolution: same minute, one document; high resolution: its own second.
        sink.record(
            MetricDatum::new("A", Unit::Count, 3.0)
                .at(at(T + 30, 0))
                .dimension("shard", "0"),
        );
        sink.record(
            MetricDatum::new("A", Unit::Count, 4.0)
                .at(at(T + 1, 0))
                .dimension("shard", "0")
                .high_resolution(),
        );
        // The same name in another unit cannot share a document.
        sink.record(
            MetricDatum::new("A", Unit::Seconds, 5.0)
                .at(at(T, 0))
                .dimension("shard", "0"),
        );
        sink.write_pending().unwrap();
        let documents: Vec<EmfDocument> = lines(&sink)
            .iter()
            .map(|l| EmfDocument::parse(l).unwrap())
            .collect();
        let minute = (T - T % 60) * 1000;
        let summary: Vec<(String, u64, Vec<f64>, bool, Unit)> = documents
            .iter()
            .map(|d| {
                let m = &d.metrics[0];
                (
                    d.dimensions[0].value.clone(),
                    d.timestamp_ms,
                    m.values.clone(),
                    m.high_resolution,
                    m.unit,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("0".into(), minute, vec![5.0], false, Unit::Seconds),
                ("0".into(), minute, vec![1.0, 3.0], false, Unit::Count),
                ("0".into(), (T + 1) * 1000, vec![4.0], true, Unit::Count),
                ("1".into(), minute, vec![2.0], false, Unit::Count),
            ]
        );
    }

    #[test]
    fn data_points_the_format_cannot_carry_are_dropped_and_counted() {
        let sink = EmfSink::new(Vec::new(), EmfConfig::default()).unwrap();
        sink.record(MetricDatum::new("_aws", Unit::Count, 1.0));
        sink.record(MetricDatum::new("m", Unit::Count, 1.0).dimension("m", "x"));
        sink.record(MetricDatum::new("m", Unit::Count, 1.0).dimension("_aws", "x"));
        sink.record(MetricDatum::new("m", Unit::Count, f64::NAN));
        // 30 dimensions of 1024 characters fit CloudWatch, and a default document, but not
        // the smallest one.
        let mut huge = MetricDatum::new("m", Unit::Count, 1.0);
        for i in 0..30 {
            huge = huge.dimension(format!("d{i:02}{}", "n".repeat(250)), "v".repeat(1024));
        }
        sink.record(huge.clone());
        sink.record(MetricDatum::new("ok", Unit::Count, 1.0));
        assert_eq!(sink.stats().dropped_invalid, 4);
        assert_eq!(sink.stats().recorded, 2);
        let small = EmfSink::new(
            Vec::new(),
            EmfConfig {
                max_document_bytes: MIN_DOCUMENT_BYTES,
                ..EmfConfig::default()
            },
        )
        .unwrap();
        small.record(huge);
        assert_eq!(small.stats().dropped_invalid, 1);
        sink.write_pending().unwrap();
        let written = lines(&sink);
        assert_eq!(written.len(), 2);
        let line = written.iter().max_by_key(|l| l.len()).unwrap();
        assert!(line.len() > MIN_DOCUMENT_BYTES, "{}", line.len());
        assert_eq!(EmfDocument::parse(line).unwrap().dimensions.len(), 30);
    }

    #[test]
    fn a_full_buffer_drops_and_counts_instead_of_growing() {
        let sink = EmfSink::new(
            Vec::new(),
            EmfConfig {
                max_pending: 3,
                ..EmfConfig::default()
            },
        )
        .unwrap();
        for _ in 0..5 {
            sink.record(MetricDatum::new("m", Unit::Count, 1.0));
        }
        assert_eq!((sink.stats().recorded, sink.stats().dropped_full), (3, 2));
        assert_eq!(sink.write_pending().unwrap().sent, 3);
    }

    /// Fails every write while `fail` is set.
    struct Flaky {
        written: Vec<u8>,
        fail: bool,
    }

    impl Write for Flaky {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.fail {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "pipe closed",
                ));
            }
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_keeps_the_documents_for_the_next_flush() {
        let sink = EmfSink::new(
            Flaky {
                written: Vec::new(),
                fail: true,
            },
            EmfConfig::default(),
        )
        .unwrap();
        sink.record(MetricDatum::new("m", Unit::Count, 7.0).at(at(T, 0)));
        let e = sink.write_pending().unwrap_err();
        assert!(e.is_retriable(), "{e}");
        assert!(e.to_string().contains("pipe closed"), "{e}");
        assert_eq!(sink.stats().retained, 1);
        sink.with_writer(|w| w.fail = false);
        sink.record(MetricDatum::new("m", Unit::Count, 8.0).at(at(T + 1, 0)));
        let report = sink.write_pending().unwrap();
        assert_eq!((report.requests, report.sent), (2, 2));
        let text = sink.with_writer(|w| String::from_utf8(w.written.clone()).unwrap());
        let values: Vec<f64> = text
            .lines()
            .map(|l| EmfDocument::parse(l).unwrap().metrics[0].values[0])
            .collect();
        assert_eq!(values, vec![7.0, 8.0], "oldest first");
        assert_eq!(sink.stats().failed_writes, 1);
    }

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
    }

    #[test]
    fn bad_configurations_are_refused_naming_the_field() {
        for (config, field) in [
            (
                EmfConfig {
                    namespace: "AWS/Lambda".into(),
                    ..EmfConfig::default()
                },
                "namespace",
            ),
            (
                EmfConfig {
                    max_document_bytes: 2 * MAX_DOCUMENT_BYTES,
                    ..EmfConfig::default()
                },
                "max_document_bytes",
            ),
            (EmfConfig::for_cluster(""), "default_dimensions"),
            (
                EmfConfig {
                    max_pending: 0,
                    ..EmfConfig::default()
                },
                "max_pending",
            ),
        ] {
            match config.validate() {
                Err(MetricsError::Config { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert!(EmfConfig::default().validate().is_ok());
    }
}
