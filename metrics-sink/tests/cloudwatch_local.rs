//! Metrics sent by the CloudWatch sink through the local CloudWatch API are read back with the
//! right values.

mod common;

use common::{client, metric_names, read_back};
use metrics_sink::aggregate::Aggregation;
use metrics_sink::{names, CloudWatchConfig, CloudWatchSink, MetricDatum, MetricsSink, Unit};
use std::time::SystemTime;

#[tokio::test]
async fn values_sent_through_the_sink_are_read_back_from_cloudwatch() {
    let client = client().await;
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

    let mut listed = metric_names(&client, &namespace).await;
    listed.sort_unstable();
    listed.dedup();
    assert_eq!(listed, vec![names::EDGES_SUBMITTED, names::WRITE_DURATION]);

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
    let client = client().await;
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
