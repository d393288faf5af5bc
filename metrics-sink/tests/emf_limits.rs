//! Any data points become embedded-metric-format documents that follow the specification and
//! stay within its limits, and nothing is lost or invented on the way.

use metrics_sink::emf::{EmfConfig, EmfDocument};
use metrics_sink::limits::{
    DEFAULT_MAX_DOCUMENT_BYTES, MAX_DIMENSIONS, MAX_DOCUMENT_BYTES, MAX_METRICS_PER_DOCUMENT,
    MAX_VALUES_PER_METRIC, MIN_DOCUMENT_BYTES,
};
use metrics_sink::{Dimension, EmfSink, MetricDatum, MetricsSink, Unit};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

const T0: u64 = 1_700_000_000;

/// Strings built from a length and a character: sizes matter, and some characters grow when
/// escaped (`"`, `\`) or encoded (`é`, `🦀`).
fn text(max: usize) -> impl Strategy<Value = String> {
    (
        1..=max,
        prop::sample::select(vec!['a', 'Z', '"', '\\', 'é', '🦀', '/', ' ']),
    )
        .prop_map(|(n, c)| c.to_string().repeat(n))
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-1_000_000i64..1_000_000).prop_map(|v| v as f64),
        -1e12f64..1e12,
        prop::sample::select(vec![
            0.0,
            -0.0,
            1e300,
            -1e-300,
            2f64.powi(360),
            f64::NAN,
            f64::INFINITY,
            1e15,
            -123_456_789_012_345.6,
        ]),
    ]
}

fn datum() -> impl Strategy<Value = MetricDatum> {
    // A few names, so that metrics of one dimension set share documents and collide; some long.
    let name = prop_oneof![
        prop::sample::select(vec![
            "EdgesSubmitted".to_string(),
            "WriteDuration".to_string(),
            "RetryCount".to_string(),
            "_aws".to_string(),
            "clusterId".to_string(),
        ]),
        (0u8..120).prop_map(|i| format!("M{i}")),
        text(255),
    ];
    let dimensions = prop_oneof![
        3 => prop::sample::select(vec![
            vec![],
            vec![("clusterId".to_string(), "db-1".to_string())],
            vec![("clusterId".to_string(), "db-2".to_string()), ("shard".to_string(), "0".to_string())],
        ]),
        1 => proptest::collection::vec((text(250), text(1024)), 0..=MAX_DIMENSIONS),
    ];
    let units = prop::sample::select(Unit::ALL.to_vec());
    (
        name,
        dimensions,
        units,
        any::<bool>(),
        0u64..180_000,
        value(),
    )
        .prop_map(|(name, dimensions, unit, high_resolution, offset_ms, v)| {
            let mut d = MetricDatum::new(name, unit, v)
                .at(UNIX_EPOCH + Duration::from_secs(T0) + Duration::from_millis(offset_ms));
            for (i, (n, value)) in dimensions.into_iter().enumerate() {
                // Unique names within a datum.
                d = d.dimension(
                    format!("{i:02}{}", n.chars().take(253).collect::<String>()),
                    value,
                );
            }
            if high_resolution {
                d = d.high_resolution();
            }
            d
        })
}

/// One value of one series (the dimension set by its number in [`Sets`]): what must come out
/// exactly once for each point taken in.
type Point = (String, String, usize, bool, u64, u64);

/// Dimension sets numbered, so that points do not each carry a copy of theirs.
#[derive(Default)]
struct Sets(BTreeMap<Vec<Dimension>, usize>);

impl Sets {
    fn id(&mut self, dimensions: &[Dimension]) -> usize {
        let next = self.0.len();
        *self.0.entry(dimensions.to_vec()).or_insert(next)
    }
}

fn point(sets: &mut Sets, d: &MetricDatum, value: f64) -> Point {
    let secs = d.timestamp.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let period = if d.high_resolution { 1 } else { 60 };
    (
        d.name.clone(),
        d.unit.as_str().to_owned(),
        sets.id(&d.dimensions),
        d.high_resolution,
        (secs - secs % period) * 1000,
        (value + 0.0).to_bits(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn any_data_points_become_valid_documents_within_every_limit(
        data in proptest::collection::vec(datum(), 1..400),
        // Many values of one metric, to cross the 100-value limit.
        repeated in 0usize..350,
        max_bytes in prop::sample::select(vec![
            MIN_DOCUMENT_BYTES, 64 * 1024, DEFAULT_MAX_DOCUMENT_BYTES, MAX_DOCUMENT_BYTES,
        ]),
    ) {
        let config = EmfConfig::builder()
            .high_resolution(false)
            .max_document_bytes(max_bytes)
            .build()
            .unwrap();
        let sink = EmfSink::new(Vec::new(), config).unwrap();
        let mut sets = Sets::default();
        let mut expected: BTreeMap<Point, usize> = BTreeMap::new();
        let mut all = data.clone();
        all.extend((0..repeated).map(|i| {
            MetricDatum::new("Repeated", Unit::Milliseconds, i as f64 / 8.0)
                .at(UNIX_EPOCH + Duration::from_secs(T0))
                .dimension("clusterId", "db-1")
        }));
        for d in all {
            let before = sink.stats().dropped_invalid;
            sink.record(d.clone());
            if sink.stats().dropped_invalid == before {
                *expected.entry(point(&mut sets, &d, d.value)).or_default() += 1;
            } else {
                // Only what CloudWatch or the format cannot carry is refused.
                let dims_clash = d.dimensions.iter().any(|x| x.name == d.name || x.name == "_aws");
                prop_assert!(
                    d.validate().is_err() || d.name == "_aws" || dims_clash
                        || max_bytes < DEFAULT_MAX_DOCUMENT_BYTES,
                    "refused a datum it could carry: {:?}", d.name
                );
            }
        }
        let report = sink.write_pending().unwrap();
        let text = sink.with_writer(|w| String::from_utf8(w.clone()).unwrap());
        prop_assert!(text.is_empty() || text.ends_with('\n'));
        let mut found: BTreeMap<Point, usize> = BTreeMap::new();
        let mut documents = 0u64;
        for line in text.lines() {
            documents += 1;
            prop_assert!(line.len() <= max_bytes, "{} bytes > {max_bytes}", line.len());
            let doc = EmfDocument::parse(line).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(doc.metrics.len() <= MAX_METRICS_PER_DOCUMENT);
            prop_assert!(doc.dimensions.len() <= MAX_DIMENSIONS);
            prop_assert_eq!(doc.namespace.as_str(), "aws-samples/stream-2-neptune");
            // Writing what was read gives back the same line.
            prop_assert_eq!(doc.to_json(), line);
            let set = sets.id(&doc.dimensions);
            for m in &doc.metrics {
                prop_assert!(!m.values.is_empty() && m.values.len() <= MAX_VALUES_PER_METRIC);
                for v in &m.values {
                    let key = (
                        m.name.clone(),
                        m.unit.as_str().to_owned(),
                        set,
                        m.high_resolution,
                        doc.timestamp_ms,
                        (v + 0.0).to_bits(),
                    );
                    *found.entry(key).or_default() += 1;
                }
            }
        }
        prop_assert_eq!(report.requests, documents);
        prop_assert_eq!(report.sent as usize, expected.values().sum::<usize>());
        prop_assert!(found == expected, "the points written differ from the points taken");
    }
}

#[tokio::test]
async fn the_sink_flushes_through_the_trait_and_on_drop() {
    let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let config = EmfConfig::builder().cluster_id("db-1").build().unwrap();
    let sink = EmfSink::new(Shared(out.clone()), config).unwrap();
    let dyn_sink: &dyn MetricsSink = &sink;
    dyn_sink.record(MetricDatum::new("EdgesSubmitted", Unit::Count, 100.0));
    let report = dyn_sink.flush().await.unwrap();
    assert_eq!((report.requests, report.sent), (1, 1));
    sink.record(MetricDatum::new("EdgesSubmitted", Unit::Count, 5.0));
    drop(sink);
    let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
    let docs: Vec<EmfDocument> = text
        .lines()
        .map(|l| EmfDocument::parse(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 2, "{text}");
    assert_eq!(docs[1].metrics[0].values, vec![5.0]);
    assert_eq!(docs[1].dimensions[0].value, "db-1");
}
