//! The writer as an AWS Lambda function (`provided.al2023` runtime, binary named `bootstrap`).
//!
//! Configured by environment variables (see `graph_ingest::lambda::LambdaConfig`),
//! read on every invocation as the original did. One graph connection and one CloudWatch
//! metrics sink live as long as the execution environment. Build and deploy: `deploy/README.md`.

use graph_ingest::lambda::{
    KinesisEvent, KinesisEventResponse, LambdaConfig, LogDeadLetters, WriterEnvironment,
};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use metrics_sink::{CloudWatchConfig, CloudWatchSink};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // CloudWatch Logs stamps every line itself; colours would show as escape codes.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .without_time()
        .with_target(true)
        .init();

    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let metrics = CloudWatchSink::start(
        aws_sdk_cloudwatch::Client::new(&aws),
        CloudWatchConfig::default(),
    )?;
    let environment = Arc::new(WriterEnvironment::gremlin(
        Arc::new(LogDeadLetters),
        Arc::new(metrics),
    ));

    lambda_runtime::run(service_fn(move |event: LambdaEvent<KinesisEvent>| {
        let environment = environment.clone();
        async move {
            let config = LambdaConfig::from_env().map_err(|e| Diagnostic {
                error_type: "InvalidConfiguration".into(),
                error_message: e.to_string(),
            })?;
            let invocation = environment.invoke(&config, &event.payload).await?;
            Ok::<KinesisEventResponse, Diagnostic>(invocation.response)
        }
    }))
    .await
}
