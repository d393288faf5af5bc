//! [`EmfSink`]: what a flush writes, packed into documents within every limit of the
//! specification, and what it counts.

use super::document::{
    frame, metric_cost, metric_pieces, EmfDocument, EmfMetric, MAX_NUMBER_LEN, MAX_TIMESTAMP_LEN,
};
use super::{EmfConfig, METADATA};
use crate::datum::{Dimension, MetricDatum, Unit};
use crate::error::MetricsError;
use crate::limits::{MAX_METRICS_PER_DOCUMENT, MAX_VALUES_PER_METRIC};
use crate::sink::{FlushReport, MetricsSink};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;
use stream2neptune_common::lock;

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
/// use metrics_sink::emf::{EmfConfig, EmfDocument};
/// use metrics_sink::{names, EmfSink, MetricDatum, MetricsSink, Unit};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), metrics_sink::MetricsError> {
/// // In a Lambda function: `EmfSink::stdout(EmfConfig::default())?`.
/// let sink = EmfSink::new(Vec::new(), EmfConfig::builder().cluster_id("my-cluster").build()?)?;
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
        f(&mut lock(&self.output).writer)
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
            retained: lock(&self.output).unwritten.len() as u64,
        }
    }

    /// Packs what was recorded into documents and writes them, synchronously (what
    /// [`MetricsSink::flush`] does).
    pub fn write_pending(&self) -> Result<FlushReport, MetricsError> {
        let data = std::mem::take(&mut *lock(&self.pending));
        let documents = pack(data, &self.config.namespace, self.config.max_document_bytes);
        let mut output = lock(&self.output);
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
                    source: e,
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
        let mut pending = lock(&self.pending);
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
    use crate::limits::MIN_DOCUMENT_BYTES;
    use crate::names;
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
        let config = EmfConfig::builder().cluster_id("db-1").build().unwrap();
        let sink = EmfSink::new(Vec::new(), config).unwrap();
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
            EmfConfig::builder().high_resolution(false).build().unwrap(),
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
            EmfConfig::builder()
                .max_document_bytes(MIN_DOCUMENT_BYTES)
                .build()
                .unwrap(),
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
            EmfConfig::builder().max_pending(3).build().unwrap(),
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
}
