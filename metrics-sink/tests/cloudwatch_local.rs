//! Metrics sent by the CloudWatch sink through the local CloudWatch API are read back with the
//! right values.

use aws_sdk_cloudwatch::types::{Dimension, Statistic};
use aws_smithy_types::DateTime;
use metrics_sink::aggregate::Aggregation;
use metrics_sink::{names, CloudWatchConfig, CloudWatchSink, MetricDatum, MetricsSink, Unit};
use std::time::{Duration, SystemTime};

struct Stats {
    sum: f64,
    count: f64,
    max: f64,
    min: f64,
}

async fn read_back(
    client: &aws_sdk_cloudwatch::Client,
    namespace: &str,
    metric: &str,
    cluster: &str,
    around: SystemTime,
) -> Stats {
    let out = client
        .get_metric_statistics()
        .namespace(namespace)
        .metric_name(metric)
        .dimensions(
            Dimension::builder()
                .name(names::CLUSTER_ID)
                .value(cluster)
                .build(),
        )
        .start_time(DateTime::from(around - Duration::from_secs(300)))
        .end_time(DateTime::from(around + Duration::from_secs(300)))
        .period(60)
        .statistics(Statistic::Sum)
        .statistics(Statistic::SampleCount)
        .statistics(Statistic::Maximum)
        .statistics(Statistic::Minimum)
        .send()
        .await
        .expect("GetMetricStatistics");
    let points = out.datapoints();
    Stats {
        sum: points.iter().filter_map(|d| d.sum()).sum(),
        count: points.iter().filter_map(|d| d.sample_count()).sum(),
        max: points
            .iter()
            .filter_map(|d| d.maximum())
            .fold(f64::MIN, f64::max),
        min: points
            .iter()
            .filter_map(|d| d.minimum())
            .fold(f64::MAX, f64::min),
    }
}

#[tokio::test]
async fn values_sent_through_the_sink_are_read_back_from_cloudwatch() {
    let endpoint = local_services::cloudwatch()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let client = local_services::cloudwatch_client(endpoint.url.as_deref()).await;
    let namespace = local_services::unique_name("stream-2-neptune-sink");
    let config = CloudWatchConfig::builder()
        .cluster_id("local-cluster")
        .namespace(namespace.clone())
        .build()
        .unwrap();
    let sink = CloudWatchSink::start(client.clone(), config).unwrap();
    let now = SystemTime::now();
    for v in [100.0, 100.0, 42.0] {
        sink.record(MetricDatum::new(names::EDGES_SUBMITTED, Unit::Count, v).at(now));
    }
    // 200 distinct latencies in one second: more than the 150 values one datum may carry.
    for i in 1..=200 {
        sink.record(
            MetricDatum::new(names::WRITE_DURATION, Unit::Milliseconds, f64::from(i)).at(now),
        );
    }
    let report = sink
        .close()
        .await
        .expect("flush to the local CloudWatch API");
    assert_eq!(report.requests, 1);
    assert_eq!(
        report.sent, 3,
        "one EdgesSubmitted datum, two WriteDuration datums"
    );
    assert_eq!(sink.stats().dropped_total(), 0);

    let listed = client
        .list_metrics()
        .namespace(&namespace)
        .send()
        .await
        .unwrap();
    let mut metric_names: Vec<_> = listed
        .metrics()
        .iter()
        .filter_map(|m| m.metric_name())
        .collect();
    metric_names.sort_unstable();
    metric_names.dedup();
    assert_eq!(
        metric_names,
        vec![names::EDGES_SUBMITTED, names::WRITE_DURATION]
    );

    let edges = read_back(
        &client,
        &namespace,
        names::EDGES_SUBMITTED,
        "local-cluster",
        now,
    )
    .await;
    assert_eq!(
        (edges.sum, edges.count, edges.max, edges.min),
        (242.0, 3.0, 100.0, 42.0)
    );
    let writes = read_back(
        &client,
        &namespace,
        names::WRITE_DURATION,
        "local-cluster",
        now,
    )
    .await;
    assert_eq!(
        (writes.sum, writes.count, writes.max, writes.min),
        (20_100.0, 200.0, 200.0, 1.0)
    );
}

#[tokio::test]
async fn statistic_sets_sent_through_the_sink_are_read_back_from_cloudwatch() {
    let endpoint = local_services::cloudwatch()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let client = local_services::cloudwatch_client(endpoint.url.as_deref()).await;
    let namespace = local_services::unique_name("stream-2-neptune-stats");
    let config = CloudWatchConfig::builder()
        .cluster_id("stats-cluster")
        .namespace(namespace.clone())
        .aggregation(Aggregation::StatisticSet)
        .high_resolution(false)
        .build()
        .unwrap();
    let sink = CloudWatchSink::start(client.clone(), config).unwrap();
    let now = SystemTime::now();
    for v in [3.0, 9.0, 6.0, 6.0] {
        sink.record(MetricDatum::new(names::RETRY_COUNT, Unit::Count, v).at(now));
    }
    sink.flush()
        .await
        .expect("flush to the local CloudWatch API");
    let retries = read_back(
        &client,
        &namespace,
        names::RETRY_COUNT,
        "stats-cluster",
        now,
    )
    .await;
    assert_eq!(
        (retries.sum, retries.count, retries.max, retries.min),
        (24.0, 4.0, 9.0, 3.0)
    );
}
