//! [`PutMetricData`] for the AWS SDK's CloudWatch client (feature `cloudwatch`).

use super::PutMetricData;
use crate::aggregate::{Aggregate, AggregatedDatum};
use crate::error::MetricsError;
use async_trait::async_trait;
use aws_sdk_cloudwatch::error::{ProvideErrorMetadata, SdkError};

#[async_trait]
impl PutMetricData for aws_sdk_cloudwatch::Client {
    async fn put_metric_data(
        &self,
        namespace: &str,
        data: &[AggregatedDatum],
    ) -> Result<(), MetricsError> {
        // The SDK's own retries are turned off: the sink retries with its own bounded policy
        // and counts every retry.
        let no_retries = aws_sdk_cloudwatch::config::Builder::default()
            .retry_config(aws_sdk_cloudwatch::config::retry::RetryConfig::disabled());
        self.put_metric_data()
            .namespace(namespace)
            .set_metric_data(Some(data.iter().map(to_sdk).collect()))
            .customize()
            .config_override(no_retries)
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }
}

/// Converts one aggregated datum to the SDK's type.
pub fn to_sdk(d: &AggregatedDatum) -> aws_sdk_cloudwatch::types::MetricDatum {
    use aws_sdk_cloudwatch::types::{Dimension as SdkDimension, StandardUnit, StatisticSet};
    let b = aws_sdk_cloudwatch::types::MetricDatum::builder()
        .metric_name(&d.key.name)
        .unit(StandardUnit::from(d.key.unit.as_str()))
        .timestamp(aws_smithy_types::DateTime::from(d.timestamp()))
        .storage_resolution(if d.key.high_resolution { 1 } else { 60 })
        .set_dimensions(Some(
            d.key
                .dimensions
                .iter()
                .map(|x| {
                    SdkDimension::builder()
                        .name(&x.name)
                        .value(&x.value)
                        .build()
                })
                .collect(),
        ));
    match &d.aggregate {
        Aggregate::Values(v) => b
            .set_values(Some(v.iter().map(|x| x.0).collect()))
            .set_counts(Some(v.iter().map(|x| x.1).collect())),
        Aggregate::Statistics {
            min,
            max,
            sum,
            count,
        } => b.statistic_values(
            StatisticSet::builder()
                .minimum(*min)
                .maximum(*max)
                .sum(*sum)
                .sample_count(*count)
                .build(),
        ),
    }
    .build()
}

/// Throttling, 5xx, timeouts and connection failures are retriable; anything else (an invalid
/// parameter, missing permission) is not.
fn classify(
    err: SdkError<
        aws_sdk_cloudwatch::operation::put_metric_data::PutMetricDataError,
        aws_sdk_cloudwatch::config::http::HttpResponse,
    >,
) -> MetricsError {
    let message = aws_sdk_cloudwatch::error::DisplayErrorContext(&err).to_string();
    let retriable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or_default();
            retriable_code(code) || retriable_status(se.raw().status().as_u16())
        }
        _ => false,
    };
    MetricsError::service("PutMetricData", message, retriable).with_source(err)
}

fn retriable_code(code: &str) -> bool {
    code.contains("Throttl")
        || matches!(
            code,
            "RequestLimitExceeded"
                | "ServiceUnavailable"
                | "InternalServiceFault"
                | "InternalFailure"
        )
}

fn retriable_status(status: u16) -> bool {
    status == 429 || status >= 500
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_429_and_5xx_are_retriable_and_bad_parameters_are_not() {
        assert!(retriable_status(503) && retriable_status(429) && !retriable_status(400));
        assert!(retriable_code("Throttling") && retriable_code("ThrottlingException"));
        assert!(retriable_code("InternalServiceFault"));
        assert!(!retriable_code("InvalidParameterValue") && !retriable_code("AccessDenied"));
    }
}
