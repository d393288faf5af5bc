//! The reference a fleet bench measures itself against: the one-process consumer
//! (`stream-to-graph` at its defaults) draining the same data set, in the same run, from a
//! stream of its own, into the same graph under ids of its own.

use crate::connection::Connection;
use crate::consumer::{Consumer, ConsumerOptions};
use crate::kcl_fleet::put_backlog;
use std::sync::Arc;
use std::time::{Duration, Instant};
use workload_gen::generator::GeneratorConfig;

/// What the one-process consumer did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReferenceRun {
    /// Distinct edges the data set holds (the graph holds them all at the end).
    pub edges: u64,
    /// From the consumer's start until every record was acknowledged.
    pub wall: Duration,
    /// Sink requests retried.
    pub sink_retries: u64,
    /// Milliseconds the sink slept on write conflicts.
    pub conflict_sleep_ms: u64,
}

impl ReferenceRun {
    /// Distinct edges per second of wall time.
    pub fn edges_per_second(&self) -> f64 {
        self.edges as f64 / self.wall.as_secs_f64().max(0.001)
    }
}

/// Puts `generator`'s data set (persons written first, ids prefixed to be new) on a new
/// stream of `shards` shards at `kinesis_endpoint` (`None`: the embedded emulator), then runs
/// the consumer at its defaults on it, timed from its start until every record is
/// acknowledged, and checks that nothing was dead-lettered and every edge is in the graph.
pub async fn one_process_reference(
    kinesis_endpoint: Option<&str>,
    gremlin_url: &str,
    connection: &Connection,
    generator: &GeneratorConfig,
    shards: i32,
    timeout: Duration,
) -> Result<ReferenceRun, Box<dyn std::error::Error + Send + Sync>> {
    let client = local_services::kinesis_client(crate::cli::endpoint_url(kinesis_endpoint)).await;
    let stream = local_services::unique_name("reference");
    local_services::create_stream_and_wait(&client, &stream, shards, Duration::from_secs(60))
        .await?;
    let backlog = put_backlog(&client, &stream, gremlin_url, connection, generator).await?;
    let records = generator.edges;
    let dir = std::env::temp_dir().join(&stream);
    let mut options = ConsumerOptions::new(&stream, gremlin_url, &dir);
    options.kinesis_endpoint = kinesis_endpoint.map(str::to_owned);
    options.connection = connection.clone();
    let started = Instant::now();
    let consumer = Consumer::start(&options, Arc::new(metrics_sink::DiscardMetrics))
        .await
        .map_err(|f| f.error)?;
    let (stats, control) = (consumer.pipeline.stats(), consumer.control());
    let running = tokio::spawn(consumer.run());
    let drained = loop {
        let now = stats.snapshot();
        if now.acknowledged >= records {
            break Ok(started.elapsed());
        }
        if running.is_finished() {
            break Err(format!(
                "the reference consumer stopped after {} of {records} records",
                now.acknowledged
            ));
        }
        if started.elapsed() > timeout {
            break Err(format!(
                "the reference consumer did not drain {records} records in {} s ({} acknowledged)",
                timeout.as_secs(),
                now.acknowledged
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    control.stop();
    running.await??;
    let wall = drained?;
    let totals = stats.snapshot();
    let _ = std::fs::remove_dir_all(&dir);
    let _ = client.delete_stream().stream_name(&stream).send().await;
    if totals.dead_letters > 0 {
        return Err(format!(
            "the reference consumer dead-lettered {} records",
            totals.dead_letters
        )
        .into());
    }
    let transport = neptune_batch::transport::GremlinTransport::connect(
        connection.transport(gremlin_url).build()?,
    )
    .await?;
    let in_graph = crate::kcl_fleet::edges_in_graph(&transport, &backlog.persons).await;
    if in_graph != backlog.distinct_edges {
        return Err(format!(
            "the reference consumer left {in_graph} edges in the graph, not {}",
            backlog.distinct_edges
        )
        .into());
    }
    Ok(ReferenceRun {
        edges: backlog.distinct_edges,
        wall,
        sink_retries: totals.sink_retries,
        conflict_sleep_ms: totals.conflict_sleep_ms,
    })
}
