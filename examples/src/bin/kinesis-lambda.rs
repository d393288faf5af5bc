//! The writer as an AWS Lambda function (`provided.al2023` runtime, binary named `bootstrap`).
//!
//! Configured by environment variables (see `graph_ingest::lambda::LambdaConfig`),
//! read on every invocation as the original did. One graph connection lives as long as the
//! execution environment. Metrics are CloudWatch embedded metric format lines on standard
//! output, written at the end of every invocation: CloudWatch Logs turns them into the
//! original's metrics, with no API call from the function. Build, deploy and run it locally
//! under the Lambda runtime interface emulator: `deploy/README.md`.

use clap::Parser;
use graph_ingest::lambda::{
    KinesisEvent, KinesisEventResponse, LambdaConfig, LogDeadLetters, WriterEnvironment,
};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use metrics_sink::emf::EmfConfig;
use metrics_sink::EmfSink;
use std::process::ExitCode;
use std::sync::Arc;
use stream2neptune_examples::cli::{self, ClassAs, ExitClass, Failure};

const SETTINGS: &str = "\
Settings (environment variables of the function, read on every invocation):
  neptune_endpoint            writer endpoint host name, or a ws:// or wss:// URL (required)
  cluster_id                  the clusterId dimension of the metrics (required)
  neptune_port                default 8182
  neptune_tls                 default true (wss://)
  neptune_iam_auth            default false: SigV4-sign the connection with the function's role
  neptune_tls_server_name     the name the certificate must be issued for, when the endpoint is
                              not on it (a load balancer passing TLS through to the cluster);
                              default the endpoint's host
  neptune_signing_host        HOST[:PORT] the connection names and, with IAM, signs for: the
                              cluster's endpoint behind a load balancer or a tunnel; without a
                              port, the endpoint's; default the endpoint's host and port
  neptune_ca_file             a PEM file of CA certificates trusted besides the platform's roots,
                              shipped in the package or a layer (e.g. /opt/ca.pem); default none
  batch_write_size            edges per write request, default 100 (1..=10000)
  write_mode                  merge (default: the fast path), conditional (the original's
                              idempotent create: with batch_write_size 100, the original's
                              behaviour) or plain
  conditional_create          the original's switch: true is conditional, false plain;
                              write_mode overrides it
  percent_error               write requests failed on purpose, default 0 (0..=99)
  poison_records              report (default) or dead_letter
  record_format               follows-csv (default): one follows edge per record, the original's
                              from,to,creationDate line; changes: one JSON change per record (an
                              upsert or delete of a vertex or edge with a version; an older
                              change than the graph's is skipped as stale)
  placeholder_label           with record_format=changes, the label of placeholder vertices made
                              for edge endpoints that do not exist yet, default vertex
  wait                        default true: every invocation fails until set to false
  neptune_request_timeout_ms  default 30000
  neptune_connect_timeout_ms  default 10000
  RUST_LOG                    log filter, default info (e.g. RUST_LOG=debug or
                              RUST_LOG=warn,graph_ingest=info); logs go to standard output

Metrics: CloudWatch embedded metric format lines on standard output (namespace
aws-samples/stream-2-neptune, dimension clusterId), one flush per invocation.
Dead letters: log lines with the target dead_letter.

It runs under the Lambda Runtime API (AWS_LAMBDA_RUNTIME_API and the other variables Lambda
sets); locally, under the Lambda runtime interface emulator: see deploy/README.md.

Exit status: 0 for --help and --version; 2 usage; 78 when started outside the Lambda Runtime
API (one line on standard error says which variable is missing); 1 when the runtime client
stops on an error. Each invocation's failure is reported to Lambda, not by the exit status.";

/// The stream-2-neptune writer as an AWS Lambda function on a Kinesis event source mapping:
/// writes each event's follows edges into Neptune (or any Gremlin Server) and answers with a
/// partial batch response naming the first record that is not in the graph.
#[derive(Parser)]
#[command(name = "kinesis-lambda", version, after_help = SETTINGS)]
struct Cli {}

/// The variables the Lambda runtime client needs, which Lambda (or an emulator of its Runtime
/// API) sets; without them it would panic.
fn check_runtime_environment() -> Result<(), String> {
    for name in [
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    ] {
        let value = std::env::var(name).map_err(|_| format!("{name} is not set"))?;
        if name == "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" && value.parse::<i32>().is_err() {
            return Err(format!("{name}={value:?} is not a number"));
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    Cli::parse();
    if let Err(missing) = check_runtime_environment() {
        return cli::exit(
            "kinesis-lambda",
            Err(Failure::new(
                ExitClass::Configuration,
                format!(
                    "not running under the Lambda Runtime API ({missing}): deploy it as the \
                     bootstrap of a provided.al2023 function, or run it under the runtime \
                     interface emulator (deploy/README.md); --help lists its settings"
                ),
            )),
        );
    }
    // Lambda's contract: logs on standard output, where CloudWatch Logs stamps every line.
    cli::init_logging_for_lambda("info");
    cli::exit("kinesis-lambda", run().await)
}

/// Serves invocations until the runtime stops the process; an error here (the Runtime API
/// gone, the metrics sink refused) ends it, which Lambda reports as the function's failure.
async fn run() -> Result<(), Failure> {
    let metrics = EmfSink::stdout(EmfConfig::default())?;
    let environment = Arc::new(WriterEnvironment::gremlin(
        Arc::new(LogDeadLetters),
        Arc::new(metrics),
    ));

    let served = lambda_runtime::run(service_fn(move |event: LambdaEvent<KinesisEvent>| {
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
    .await;
    // The runtime's own failure (its API unreachable): the function cannot serve.
    served.class_as(ExitClass::Unreachable)
}
