//! Metrics recorded under the original's names and shown on one live line, the way a local run
//! shows them; the same data points would go to CloudWatch through `CloudWatchSink`.
//!
//! `cargo run -p metrics-sink --example console_metrics`
use metrics_sink::{names, ConsoleSink, MetricDatum, MetricsSink, Unit};
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sink = ConsoleSink::default();
    for i in 0..50u32 {
        let datum = |name, unit, value| {
            MetricDatum::new(name, unit, value)
                .dimension(names::CLUSTER_ID, "example")
                .high_resolution()
        };
        sink.record(datum(names::EDGES_SUBMITTED, Unit::Count, 100.0));
        sink.record(datum(
            names::WRITE_DURATION,
            Unit::Milliseconds,
            8.0 + f64::from(i % 7),
        ));
        sink.record(datum(
            names::RETRY_COUNT,
            Unit::Count,
            f64::from(i % 10 == 0),
        ));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sink.flush().await?;
    println!("{}", sink.take_snapshot());
    Ok(())
}
