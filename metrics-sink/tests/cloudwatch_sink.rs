//! The CloudWatch sink's behaviour around failures, limits and shutdown, through a stand-in for
//! the service that can fail on command.

use async_trait::async_trait;
use metrics_sink::aggregate::{Aggregate, AggregatedDatum, Aggregation};
use metrics_sink::cloudwatch::PutMetricData;
use metrics_sink::{
    CloudWatchConfig, CloudWatchConfigBuilder, CloudWatchSink, MetricDatum, MetricsError,
    MetricsSink, Unit,
};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use stream2neptune_common::Backoff;

/// Answers from a script (then success), and keeps what it accepted.
#[derive(Clone, Default)]
struct ScriptedService {
    script: Arc<Mutex<VecDeque<MetricsError>>>,
    accepted: Arc<Mutex<Vec<Vec<AggregatedDatum>>>>,
    calls: Arc<Mutex<u64>>,
}

impl ScriptedService {
    fn failing(errors: impl IntoIterator<Item = MetricsError>) -> Self {
        let s = Self::default();
        s.script.lock().unwrap().extend(errors);
        s
    }

    /// The accepted data of metric `name`, over every accepted request.
    fn accepted(&self, name: &str) -> Vec<AggregatedDatum> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .filter(|d| d.key.name == name)
            .cloned()
            .collect()
    }

    fn accepted_values(&self, name: &str) -> f64 {
        self.accepted(name)
            .iter()
            .map(|d| match &d.aggregate {
                Aggregate::Values(v) => v.iter().map(|(x, c)| x * c).sum::<f64>(),
                Aggregate::Statistics { sum, .. } => *sum,
                other => panic!("an aggregate this test does not know: {other:?}"),
            })
            .sum()
    }

    fn accepted_count(&self, name: &str) -> f64 {
        self.accepted(name)
            .iter()
            .map(AggregatedDatum::sample_count)
            .sum()
    }
}

#[async_trait]
impl PutMetricData for ScriptedService {
    async fn put_metric_data(
        &self,
        _namespace: &str,
        data: &[AggregatedDatum],
    ) -> Result<(), MetricsError> {
        *self.calls.lock().unwrap() += 1;
        if let Some(e) = self.script.lock().unwrap().pop_front() {
            return Err(e);
        }
        self.accepted.lock().unwrap().push(data.to_vec());
        Ok(())
    }
}

fn throttled() -> MetricsError {
    MetricsError::service("PutMetricData", "Throttling: Rate exceeded", true)
}

fn builder() -> CloudWatchConfigBuilder {
    CloudWatchConfig::builder()
        .cluster_id("test-cluster")
        .retry(
            Backoff::new(Duration::from_millis(10), Duration::from_millis(50)).with_max_retries(2),
        )
}

fn config() -> CloudWatchConfig {
    builder().build().unwrap()
}

fn point(name: &str, v: f64) -> MetricDatum {
    MetricDatum::new(name, Unit::Count, v)
}

#[tokio::test(start_paused = true)]
async fn throttling_is_retried_and_every_retry_is_counted() {
    let service = ScriptedService::failing([throttled(), throttled()]);
    let sink = CloudWatchSink::start(service.clone(), config()).unwrap();
    sink.record(point("EdgesSubmitted", 100.0));
    let report = sink.flush().await.unwrap();
    assert_eq!((report.sent, report.requests), (1, 1));
    assert_eq!(sink.stats().retries, 2);
    assert_eq!(*service.calls.lock().unwrap(), 3);
    assert_eq!(service.accepted_values("EdgesSubmitted"), 100.0);
}

#[tokio::test(start_paused = true)]
async fn a_failed_flush_keeps_its_data_and_the_next_flush_sends_it() {
    // Three failures exhaust one request's two retries.
    let service = ScriptedService::failing([throttled(), throttled(), throttled()]);
    let sink = CloudWatchSink::start(service.clone(), config()).unwrap();
    for v in [100.0, 100.0, 42.0] {
        sink.record(point("EdgesSubmitted", v));
    }
    let err = sink.flush().await.unwrap_err();
    assert!(err.is_retriable(), "{err}");
    let stats = sink.stats();
    assert_eq!((stats.failed_requests, stats.retained), (1, 1));
    assert_eq!(service.accepted_count("EdgesSubmitted"), 0.0);

    sink.record(point("EdgesSubmitted", 8.0));
    let report = sink.flush().await.unwrap();
    assert_eq!(report.dropped_total, 0);
    assert_eq!(service.accepted_values("EdgesSubmitted"), 250.0);
    assert_eq!(service.accepted_count("EdgesSubmitted"), 4.0);
    assert_eq!(sink.stats().retained, 0);
}

#[tokio::test(start_paused = true)]
async fn retained_data_is_bounded_and_what_is_dropped_is_counted() {
    let failures = std::iter::repeat_with(throttled).take(3);
    let service = ScriptedService::failing(failures);
    let sink =
        CloudWatchSink::start(service.clone(), builder().max_retained(2).build().unwrap()).unwrap();
    for name in ["a", "b", "c", "d", "e"] {
        sink.record(point(name, 1.0));
    }
    assert!(sink.flush().await.is_err());
    let stats = sink.stats();
    assert_eq!((stats.retained, stats.dropped_retained), (2, 3));
    let report = sink.flush().await.unwrap();
    assert_eq!(report.sent, 2);
    assert_eq!(report.dropped_total, 3);
    // The newest are kept.
    assert_eq!(
        service.accepted_count("d") + service.accepted_count("e"),
        2.0
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_request_is_not_retried_and_its_loss_is_counted() {
    let service = ScriptedService::failing([MetricsError::service(
        "PutMetricData",
        "InvalidParameterValue",
        false,
    )]);
    let sink = CloudWatchSink::start(service.clone(), config()).unwrap();
    sink.record(point("m", 1.0));
    let err = sink.flush().await.unwrap_err();
    assert!(!err.is_retriable());
    let stats = sink.stats();
    assert_eq!(
        (stats.retries, stats.dropped_rejected, stats.retained),
        (0, 1, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn record_never_waits_and_counts_what_a_full_buffer_drops() {
    let service = ScriptedService::default();
    let sink = CloudWatchSink::start(
        service.clone(),
        builder().buffer_capacity(10).build().unwrap(),
    )
    .unwrap();
    // The background task cannot run between these calls (one thread, no await): the buffer
    // fills and `record` drops instead of blocking.
    for i in 0..1_000 {
        sink.record(point("m", f64::from(i)));
    }
    let stats = sink.stats();
    assert_eq!((stats.recorded, stats.dropped_buffer_full), (10, 990));
    let report = sink.flush().await.unwrap();
    assert_eq!(report.dropped_total, 990);
    assert_eq!(service.accepted_count("m"), 10.0);
}

#[tokio::test(start_paused = true)]
async fn invalid_data_points_are_dropped_at_record_and_counted() {
    let sink = CloudWatchSink::start(ScriptedService::default(), config()).unwrap();
    sink.record(point("m", f64::NAN));
    sink.record(point("", 1.0));
    let mut many = point("m", 1.0);
    for i in 0..40 {
        many = many.dimension(format!("d{i}"), "x");
    }
    sink.record(many);
    assert_eq!(sink.stats().dropped_invalid, 3);
}

#[tokio::test(start_paused = true)]
async fn data_is_flushed_on_the_interval_and_on_close() {
    let service = ScriptedService::default();
    let sink = CloudWatchSink::start(
        service.clone(),
        builder()
            .flush_interval(Duration::from_secs(5))
            .build()
            .unwrap(),
    )
    .unwrap();
    sink.record(point("m", 1.0));
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(service.accepted_count("m"), 1.0, "flushed by the interval");
    sink.record(point("m", 2.0));
    let report = sink.close().await.unwrap();
    assert_eq!(report.sent, 1);
    assert_eq!(service.accepted_count("m"), 2.0);
    assert!(matches!(sink.flush().await, Err(MetricsError::Closed)));
    sink.record(point("m", 3.0));
    assert_eq!(sink.stats().dropped_after_close, 1);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_sink_flushes_what_it_holds() {
    let service = ScriptedService::default();
    let sink = CloudWatchSink::start(service.clone(), config()).unwrap();
    sink.record(point("m", 3.0));
    drop(sink);
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(service.accepted_values("m"), 3.0);
}

#[tokio::test(start_paused = true)]
async fn defaults_add_the_cluster_dimension_and_high_resolution() {
    let service = ScriptedService::default();
    let sink = CloudWatchSink::start(service.clone(), config()).unwrap();
    let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_700);
    sink.record(point("m", 1.0).at(t));
    sink.record(point("m", 1.0).at(t).dimension("clusterId", "other"));
    sink.flush().await.unwrap();
    let accepted = service.accepted.lock().unwrap();
    let data: Vec<_> = accepted.iter().flatten().collect();
    assert_eq!(data.len(), 2);
    let clusters: Vec<_> = data
        .iter()
        .map(|d| d.key.dimensions[0].value.as_str())
        .collect();
    assert_eq!(clusters, vec!["other", "test-cluster"]);
    assert!(data
        .iter()
        .all(|d| d.key.high_resolution && d.key.period_start == 1_700_000_000));
}

#[tokio::test(start_paused = true)]
async fn statistic_sets_summarise_a_period() {
    let service = ScriptedService::default();
    let sink = CloudWatchSink::start(
        service.clone(),
        builder()
            .aggregation(Aggregation::StatisticSet)
            .build()
            .unwrap(),
    )
    .unwrap();
    let t = SystemTime::now();
    for v in [4.0, 1.0, 10.0] {
        sink.record(MetricDatum::new("WriteDuration", Unit::Milliseconds, v).at(t));
    }
    sink.flush().await.unwrap();
    let accepted = service.accepted.lock().unwrap();
    assert_eq!(
        accepted[0][0].aggregate,
        Aggregate::Statistics {
            min: 1.0,
            max: 10.0,
            sum: 15.0,
            count: 3.0
        }
    );
}
