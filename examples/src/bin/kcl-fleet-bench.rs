//! Measures a KCL fleet on this machine: a backlog of `follows` edges on a stream, then N
//! MultiLangDaemon workers (`scripts/kcl-fleet.sh`, one `kcl-record-processor` per shard lease)
//! draining it into the Gremlin Server. Prints one row: how long until the first shard was
//! being written, the drain rate, the sink's retried requests (write conflicts between the
//! processors among them) and the time they slept on conflicts, and the peak memory of the
//! daemons and of the processors. Then, on the same data set from a stream of its own with as
//! many shards, the reference: the one-process consumer (`stream-to-graph`) at its defaults.
//!
//! ```sh
//! scripts/gremlin-server.sh start
//! cargo build --release -p stream2neptune-examples --bin kcl-record-processor --bin kcl-fleet-bench
//! target/release/kcl-fleet-bench --workers 3 --shard-count 4 --edges 40000
//! ```
//! The fleet's pieces are `stream2neptune_examples::kcl_fleet` and `process_memory`.

use clap::Parser;
use neptune_batch::transport::GremlinTransport;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use stream2neptune_examples::cli::{self, ClassAs, ExitClass, Failure};
use stream2neptune_examples::connection::ConnectionArgs;
use stream2neptune_examples::kcl_fleet::{
    edges_in_graph, events, put_backlog, FleetFigures, FleetScript,
};
use stream2neptune_examples::process_memory::PeakMemory;
use stream2neptune_examples::reference_run::one_process_reference;
use workload_gen::generator::GeneratorConfig;

/// Measure a fleet of KCL workers (MultiLangDaemon JVMs started by scripts/kcl-fleet.sh, one
/// kcl-record-processor per shard lease) draining a backlog of follows edges into the Gremlin
/// Server: start-up, edges/s, retries, peak memory.
///
/// Logging: RUST_LOG (default `info`), e.g. RUST_LOG=debug; the processors log at `warn` into
/// the daemons' logs. Exit status: 0 measured, 1 failure (the backlog not drained in time
/// among them), 2 usage, 69 a service did not answer, 78 configuration.
#[derive(Debug, Parser)]
#[command(name = "kcl-fleet-bench", version, about, long_about)]
struct Args {
    /// Workers (daemon JVMs).
    #[arg(long, env = "KCL_WORKERS", default_value_t = 3)]
    workers: usize,
    /// Shards of the stream (ShardCount).
    #[arg(long, alias = "shards", env = "SHARD_COUNT", default_value_t = 4)]
    shard_count: i32,
    /// Edges put before the workers start.
    #[arg(long, env = "EDGES", default_value_t = 40_000)]
    edges: u64,
    /// Persons (the power-law data set's vertices).
    #[arg(long, env = "PERSONS", default_value_t = 5_000)]
    persons: u32,
    /// Seed of the data set.
    #[arg(long, env = "SEED", default_value_t = 7)]
    seed: u64,
    /// Gremlin endpoint of the writer (ws:// or wss://).
    #[arg(
        long,
        env = "GREMLIN_URL",
        default_value = "ws://127.0.0.1:8182/gremlin"
    )]
    gremlin_url: String,
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Kinesis endpoint URL (`aws` = AWS itself); unset = an emulator embedded in this
    /// program.
    #[arg(long, env = "KINESIS_ENDPOINT_URL")]
    kinesis_endpoint: Option<String>,
    /// DynamoDB endpoint URL for the leases (`aws` = AWS itself); unset = an emulator
    /// embedded in this program.
    #[arg(long, env = "DYNAMODB_ENDPOINT_URL")]
    dynamodb_endpoint: Option<String>,
    /// The processor binary (default: next to this one).
    #[arg(long, env = "KCL_PROCESSOR")]
    processor: Option<PathBuf>,
    /// Give up after this many seconds.
    #[arg(long, env = "BENCH_TIMEOUT_SECS", default_value_t = 600)]
    timeout_secs: u64,
    /// Keep the fleet's directory (daemon logs, processor events) after the run.
    #[arg(long, env = "KEEP_FLEET_DIR")]
    keep: bool,
    /// Skip the reference run of the one-process consumer.
    #[arg(long, env = "NO_REFERENCE")]
    no_reference: bool,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = Args::parse();
    cli::init_logging("info");
    cli::exit("kcl-fleet-bench", run(args).await)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

async fn run(args: Args) -> Result<(), Failure> {
    let processor = match args.processor.clone() {
        Some(p) => p,
        None => std::env::current_exe()?.with_file_name("kcl-record-processor"),
    };
    if !processor.is_file() {
        return Err(Failure::new(
            ExitClass::Configuration,
            format!("no processor binary at {} (build it with `cargo build --release -p stream2neptune-examples --bin kcl-record-processor`, or give --processor)", processor.display()),
        ));
    }
    let kinesis = match args.kinesis_endpoint.clone() {
        Some(url) => url,
        None => local_services::kinesis()
            .url
            .unwrap_or_else(|| "aws".into()),
    };
    let dynamodb = match args.dynamodb_endpoint.clone() {
        Some(url) => url,
        None => local_services::dynamodb()
            .url
            .unwrap_or_else(|| "aws".into()),
    };
    let client = local_services::kinesis_client(cli::endpoint_url(Some(&kinesis))).await;
    let stream = local_services::unique_name("kcl-bench");
    local_services::create_stream_and_wait(
        &client,
        &stream,
        args.shard_count,
        Duration::from_secs(60),
    )
    .await
    .class_as(ExitClass::Unreachable)?;

    let generator = GeneratorConfig::builder()
        .persons(args.persons)
        .edges(args.edges)
        .seed(args.seed)
        .build()?;
    let connection = args.connection.resolve().await?;
    let backlog = put_backlog(&client, &stream, &args.gremlin_url, &connection, &generator)
        .await
        .class_as(ExitClass::Unreachable)?;
    let (persons, expected) = (backlog.persons, backlog.distinct_edges);
    println!(
        "{} edges ({expected} distinct) on {} shards; starting {} workers",
        args.edges, args.shard_count, args.workers
    );

    let dir = std::env::temp_dir().join(local_services::unique_name("kcl-bench"));
    std::fs::create_dir_all(&dir)?;
    println!("fleet directory {}", dir.display());
    let events_dir = dir.join("events");
    let path = |p: PathBuf| p.display().to_string();
    let env: Vec<(String, String)> = [
        ("KCL_STREAM", stream.clone()),
        (
            "KCL_APPLICATION",
            local_services::unique_name("kcl-bench-app"),
        ),
        ("KINESIS_ENDPOINT_URL", kinesis.clone()),
        ("DYNAMODB_ENDPOINT_URL", dynamodb),
        ("KCL_METRICS_LEVEL", "NONE".into()),
        ("KCL_SHARD_SYNC_MS", "5000".into()),
        ("KCL_FLEET_DIR", path(dir.join("fleet"))),
        ("KCL_PROCESSOR", path(processor)),
        ("GREMLIN_URL", args.gremlin_url.clone()),
        ("KCL_PROCESSOR_EVENTS_DIR", path(events_dir.clone())),
        (
            "KCL_PROCESSOR_DEAD_LETTER_DIR",
            path(dir.join("dead-letters")),
        ),
        ("RUST_LOG", "warn".into()),
    ]
    .into_iter()
    .chain(connection.environment())
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let kinesis_for_reference = kinesis;
    let script = FleetScript::new(&local_services::workspace_root(), env);
    script.run(&["resolve"])?;
    let started_ms = now_ms();
    let started = Instant::now();
    let mut peak = PeakMemory::default();
    let drained = async {
        let mut daemons = Vec::new();
        for w in 1..=args.workers {
            script.run(&["start-worker", &w.to_string()])?;
            let pid = script.run(&["pid", &w.to_string()])?;
            daemons.push(pid.parse::<u32>().class_as(ExitClass::Failure)?);
        }
        let transport =
            GremlinTransport::connect(connection.transport(&args.gremlin_url).build()?).await?;
        let mut last_check = Instant::now() - Duration::from_secs(10);
        loop {
            peak.sample(&daemons, "java");
            if last_check.elapsed() >= Duration::from_secs(1) {
                last_check = Instant::now();
                let in_graph = edges_in_graph(&transport, &persons).await;
                if in_graph >= expected {
                    return Ok(started.elapsed());
                }
                if started.elapsed() > Duration::from_secs(args.timeout_secs) {
                    return Err(Failure::new(
                        ExitClass::Failure,
                        format!("the fleet did not drain the backlog in {} s: {in_graph} of {expected} edges in the graph", args.timeout_secs),
                    ));
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    .await;
    let all = events(&events_dir);
    let stopped = script.run(&["stop"]);
    let done_after = drained?;
    stopped?;

    let f = FleetFigures::from_events(&all);
    let first_write = f.first_write_ms.unwrap_or(started_ms);
    let first_init = f.first_initialize_ms.unwrap_or(started_ms);
    let drain_secs =
        (started_ms + done_after.as_millis() as u64).saturating_sub(first_write) as f64 / 1000.0;
    println!(
        "workers {} (writing: {}), shards {}, processors {}: first lease initialized {:.1} s after start, \
         first write {:.1} s; all {expected} edges in the graph after {:.1} s; drain {:.0} edges/s; \
         sink retries {} (requests), item retries {}; conflict sleep {:.2} s summed over the processors \
         = {:.1} % of the drain's wall time; peak RSS: daemon {:.0} MiB, processor {:.0} MiB, \
         worker (daemon + its processors) {:.0} MiB",
        args.workers,
        f.workers_writing,
        args.shard_count,
        f.processors,
        first_init.saturating_sub(started_ms) as f64 / 1000.0,
        first_write.saturating_sub(started_ms) as f64 / 1000.0,
        done_after.as_secs_f64(),
        expected as f64 / drain_secs.max(0.001),
        f.sink_retries,
        f.item_retries,
        f.conflict_sleep_ms as f64 / 1000.0,
        f.conflict_sleep_ms as f64 / 10.0 / drain_secs.max(0.001),
        peak.leader,
        peak.helper,
        peak.group,
    );
    if !args.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    if !args.no_reference {
        let fleet_rate = expected as f64 / drain_secs.max(0.001);
        let reference = one_process_reference(
            Some(&kinesis_for_reference),
            &args.gremlin_url,
            &connection,
            &generator,
            args.shard_count,
            Duration::from_secs(args.timeout_secs),
        )
        .await
        .map_err(|e| Failure::new(ExitClass::Failure, e.to_string()))?;
        println!(
            "reference, the one-process consumer at its defaults on the same data ({} shards): \
             {:.0} edges/s ({} edges in {:.1} s), sink retries {}, conflict sleep {:.2} s; \
             the fleet drained at {:.2} of it",
            args.shard_count,
            reference.edges_per_second(),
            reference.edges,
            reference.wall.as_secs_f64(),
            reference.sink_retries,
            reference.conflict_sleep_ms as f64 / 1000.0,
            fleet_rate / reference.edges_per_second()
        );
    }
    Ok(())
}
