//! What the tests against the local CloudWatch API share: its client, and the metrics read back
//! from it.
#![allow(dead_code)]

use aws_sdk_cloudwatch::types::{Dimension, Statistic};
use aws_smithy_types::DateTime;
use metrics_sink::names;
use std::time::{Duration, SystemTime};

/// A client of the local CloudWatch API (or `CLOUDWATCH_ENDPOINT_URL`); panics, saying how to
/// start one, if none answers.
pub async fn client() -> aws_sdk_cloudwatch::Client {
    let endpoint = local_services::cloudwatch()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    local_services::cloudwatch_client(endpoint.url.as_deref()).await
}

/// The names of the metrics `ListMetrics` lists in `namespace`, in its order.
pub async fn metric_names(client: &aws_sdk_cloudwatch::Client, namespace: &str) -> Vec<String> {
    let listed = client
        .list_metrics()
        .namespace(namespace)
        .send()
        .await
        .unwrap();
    listed
        .metrics()
        .iter()
        .filter_map(|m| m.metric_name())
        .map(str::to_owned)
        .collect()
}

/// A metric's statistics over all its data points.
pub struct Stats {
    pub sum: f64,
    pub count: f64,
    pub max: f64,
    pub min: f64,
}

/// The statistics of `metric` in `namespace` with the `clusterId` dimension `cluster`, over
/// the ten minutes around `around`.
pub async fn read_back(
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
