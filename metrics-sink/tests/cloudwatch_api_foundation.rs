//! The local CloudWatch API answers the real `aws-sdk-cloudwatch` client: metric data put is read
//! back with its values.

mod common;

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_smithy_types::DateTime;
use common::{client, metric_names, read_back};
use std::time::SystemTime;

#[tokio::test]
async fn metric_data_is_put_and_read_back() {
    let client = client().await;
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
                .dimensions(cluster)
                .timestamp(DateTime::from(now))
                .storage_resolution(1)
                .set_values(Some(vec![100.0, 100.0, 42.0]))
                .build(),
        )
        .send()
        .await
        .expect("put metric data");

    assert_eq!(
        metric_names(&client, &namespace).await,
        vec!["EdgesSubmitted"]
    );

    let stats = read_back(&client, &namespace, "EdgesSubmitted", "foundation", now).await;
    assert_eq!(stats.sum, 242.0);
    assert_eq!(stats.count, 3.0);
    assert_eq!(stats.max, 100.0);
}
