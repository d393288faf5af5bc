//! The local CloudWatch API answers the real `aws-sdk-cloudwatch` client: metric data put is read
//! back with its values.

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit, Statistic};
use aws_smithy_types::DateTime;
use std::time::{Duration, SystemTime};

#[tokio::test]
async fn metric_data_is_put_and_read_back() {
    let endpoint = local_services::cloudwatch()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let client = local_services::cloudwatch_client(endpoint.url.as_deref()).await;
    let namespace = local_services::unique_name("stream-2-neptune-test");
    let cluster = Dimension::builder()
        .name("clusterId")
        .value("foundation")
        .build();
    let now = SystemTime::now();
    client
        .put_metric_data()
        .namespace(&namespace)
        .metric_data(
            MetricDatum::builder()
                .metric_name("EdgesSubmitted")
                .unit(StandardUnit::Count)
                .dimensions(cluster.clone())
                .timestamp(DateTime::from(now))
                .storage_resolution(1)
                .set_values(Some(vec![100.0, 100.0, 42.0]))
                .build(),
        )
        .send()
        .await
        .expect("put metric data");

    let listed = client
        .list_metrics()
        .namespace(&namespace)
        .send()
        .await
        .unwrap();
    let names: Vec<_> = listed
        .metrics()
        .iter()
        .filter_map(|m| m.metric_name())
        .collect();
    assert_eq!(names, vec!["EdgesSubmitted"]);

    let stats = client
        .get_metric_statistics()
        .namespace(&namespace)
        .metric_name("EdgesSubmitted")
        .dimensions(cluster)
        .start_time(DateTime::from(now - Duration::from_secs(120)))
        .end_time(DateTime::from(now + Duration::from_secs(120)))
        .period(60)
        .statistics(Statistic::Sum)
        .statistics(Statistic::SampleCount)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .expect("get metric statistics");
    let sum: f64 = stats.datapoints().iter().filter_map(|d| d.sum()).sum();
    let count: f64 = stats
        .datapoints()
        .iter()
        .filter_map(|d| d.sample_count())
        .sum();
    let max = stats
        .datapoints()
        .iter()
        .filter_map(|d| d.maximum())
        .fold(f64::MIN, f64::max);
    assert_eq!(sum, 242.0);
    assert_eq!(count, 3.0);
    assert_eq!(max, 100.0);
}
