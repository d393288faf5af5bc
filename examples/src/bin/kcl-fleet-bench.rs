//! Measures a KCL fleet on this machine: a backlog of `follows` edges on a stream, then N
//! MultiLangDaemon workers (`scripts/kcl-fleet.sh`, one `kcl-record-processor` per shard lease)
//! draining it into the Gremlin Server. Prints one row: how long until the first shard was
//! being written, the drain rate, the sink's retried requests (write conflicts between the
//! processors among them), and the peak memory of the daemons and of the processors.
//!
//! ```sh
//! scripts/gremlin-server.sh start
//! cargo build --release -p stream2neptune-examples --bin kcl-record-processor --bin kcl-fleet-bench
//! target/release/kcl-fleet-bench --workers 3 --shards 4 --edges 40000
//! ```
//! The Kinesis and DynamoDB APIs are the emulators embedded in this process (or
//! `KINESIS_ENDPOINT_URL` / `DYNAMODB_ENDPOINT_URL`).

use clap::Parser;
use kinesis_source::{KinesisProducer, ProducerConfig, ProducerRecord, StreamRef};
use neptune_batch::{
    Bytecode, GValue, GraphSink, GremlinSink, GremlinSinkConfig, GremlinTransport, TransportConfig,
    Vertex,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use workload_gen::{generate, GeneratorConfig, PayloadFormat};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(about = "Measure a fleet of KCL workers draining a backlog of follows edges")]
struct Args {
    /// Workers (daemon JVMs).
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Shards of the stream.
    #[arg(long, default_value_t = 4)]
    shards: i32,
    /// Edges put before the workers start.
    #[arg(long, default_value_t = 40_000)]
    edges: u64,
    /// Persons (the power-law data set's vertices).
    #[arg(long, default_value_t = 5_000)]
    persons: u32,
    /// Data set seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Gremlin endpoint of the writer.
    #[arg(
        long,
        env = "GREMLIN_URL",
        default_value = "ws://127.0.0.1:8182/gremlin"
    )]
    gremlin_url: String,
    /// The processor binary (default: next to this one).
    #[arg(long)]
    processor: Option<PathBuf>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
    /// Keep the fleet's directory (daemon logs, processor events) after the run.
    #[arg(long)]
    keep: bool,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Resident memory of a process, in MiB.
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// The processes of a process group (a worker's daemon and its processors), by pid, with their
/// command names.
fn group(pgid: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let comm = stat[stat.find('(').unwrap_or(0) + 1..close].to_owned();
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        if fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid) {
            out.push((pid, comm));
        }
    }
    out
}

fn events(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        out.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
    }
    out
}

async fn edges_in_graph(transport: &GremlinTransport, persons: &[String]) -> u64 {
    let mut total = 0;
    for chunk in persons.chunks(1_000) {
        let ids: Vec<GValue> = chunk.iter().map(|p| GValue::from(p.clone())).collect();
        let count = Bytecode::new()
            .step("V", [GValue::List(ids)])
            .step("outE", ["follows"])
            .step("count", Vec::<GValue>::new());
        if let Ok(v) = transport.submit(&count).await {
            total += v.first().and_then(|g| g.as_i64()).unwrap_or(0) as u64;
        }
    }
    total
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = Args::parse();
    let root = local_services::workspace_root();
    let processor = args.processor.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .expect("this binary's path")
            .with_file_name("kcl-record-processor")
    });
    let kinesis = local_services::kinesis().url.ok_or("a local Kinesis API")?;
    let dynamodb = local_services::dynamodb()
        .url
        .ok_or("a local DynamoDB API")?;
    let client = local_services::kinesis_client(Some(&kinesis)).await;
    let stream = local_services::unique_name("kcl-bench");
    local_services::create_stream_and_wait(&client, &stream, args.shards, Duration::from_secs(60))
        .await?;

    // The data set: persons in the graph, edges on the stream.
    let prefix = format!("{}-", local_services::unique_name("b"));
    let data = generate(&GeneratorConfig {
        persons: args.persons,
        edges: args.edges,
        seed: args.seed,
        ..GeneratorConfig::default()
    })?;
    let persons: Vec<String> = data
        .persons
        .iter()
        .map(|p| format!("{prefix}{}", p.id))
        .collect();
    let mut config = GremlinSinkConfig::new(args.gremlin_url.clone());
    config.batch_size = Some(500);
    GremlinSink::connect(config)
        .await?
        .write_vertices(
            &persons
                .iter()
                .map(|id| Vertex::new(id.clone(), "person"))
                .collect::<Vec<_>>(),
        )
        .await?;
    let producer = KinesisProducer::from_client(
        client.clone(),
        ProducerConfig::new(StreamRef::parse(&stream)),
    )?;
    let mut distinct = BTreeSet::new();
    let records: Vec<ProducerRecord> = data
        .edges
        .iter()
        .map(|e| {
            let edge = workload_gen::FollowsEdge::new(
                format!("{prefix}{}", e.from),
                format!("{prefix}{}", e.to),
                e.creation_date.clone(),
            );
            distinct.insert((
                edge.from.clone(),
                edge.to.clone(),
                edge.creation_date.clone(),
            ));
            ProducerRecord::new(edge.from.clone(), edge.encode(PayloadFormat::Csv))
        })
        .collect();
    for chunk in records.chunks(5_000) {
        for r in producer.put(chunk.to_vec()).await {
            r?;
        }
    }
    let expected = distinct.len() as u64;
    println!(
        "{} edges ({expected} distinct) on {} shards; starting {} workers",
        args.edges, args.shards, args.workers
    );

    let dir = std::env::temp_dir().join(local_services::unique_name("kcl-bench"));
    std::fs::create_dir_all(&dir)?;
    println!("fleet directory {}", dir.display());
    let events_dir = dir.join("events");
    let env: Vec<(&str, String)> = vec![
        ("KCL_STREAM", stream.clone()),
        (
            "KCL_APPLICATION",
            local_services::unique_name("kcl-bench-app"),
        ),
        ("KINESIS_ENDPOINT_URL", kinesis.clone()),
        ("DYNAMODB_ENDPOINT_URL", dynamodb.clone()),
        ("KCL_METRICS_LEVEL", "NONE".into()),
        ("KCL_SHARD_SYNC_MS", "5000".into()),
        ("KCL_FLEET_DIR", dir.join("fleet").display().to_string()),
        ("KCL_PROCESSOR", processor.display().to_string()),
        ("GREMLIN_URL", args.gremlin_url.clone()),
        ("KCL_PROCESSOR_EVENTS_DIR", events_dir.display().to_string()),
        (
            "KCL_PROCESSOR_DEAD_LETTER_DIR",
            dir.join("dead-letters").display().to_string(),
        ),
        ("RUST_LOG", "warn".into()),
    ];
    let script = |args: &[&str]| {
        let out = Command::new(root.join("scripts/kcl-fleet.sh"))
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("run scripts/kcl-fleet.sh");
        assert!(
            out.status.success(),
            "scripts/kcl-fleet.sh {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    script(&["resolve"]);
    let started_ms = now_ms();
    let started = Instant::now();
    let mut daemons = Vec::new();
    for w in 1..=args.workers {
        script(&["start-worker", &w.to_string()]);
        daemons.push(script(&["pid", &w.to_string()]).parse::<u32>()?);
    }

    let transport =
        GremlinTransport::connect(TransportConfig::new(args.gremlin_url.clone())).await?;
    let (mut daemon_peak, mut processor_peak, mut pair_peak) = (0f64, 0f64, 0f64);
    let mut last_check = Instant::now() - Duration::from_secs(10);
    let done_after = loop {
        for pgid in &daemons {
            let mut total = 0.0;
            for (pid, comm) in group(*pgid) {
                let rss = rss_mib(pid).unwrap_or(0.0);
                total += rss;
                if comm == "java" {
                    daemon_peak = daemon_peak.max(rss);
                } else {
                    processor_peak = processor_peak.max(rss);
                }
            }
            pair_peak = pair_peak.max(total);
        }
        if last_check.elapsed() >= Duration::from_secs(1) {
            last_check = Instant::now();
            if edges_in_graph(&transport, &persons).await >= expected {
                break started.elapsed();
            }
        }
        if started.elapsed() > Duration::from_secs(args.timeout_secs) {
            script(&["stop"]);
            return Err("the fleet did not drain the backlog in time".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let all = events(&events_dir);
    script(&["stop"]);

    let first_write = all
        .iter()
        .filter(|e| e["event"] == "batch")
        .filter_map(|e| e["at_ms"].as_u64())
        .min()
        .unwrap_or(started_ms);
    let first_init = all
        .iter()
        .filter(|e| e["event"] == "initialize")
        .filter_map(|e| e["at_ms"].as_u64())
        .min()
        .unwrap_or(started_ms);
    let mut retries: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    let mut workers_used = BTreeSet::new();
    for e in all.iter().filter(|e| e["event"] == "batch") {
        let pid = e["pid"].as_u64().unwrap_or(0);
        let r = retries.entry(pid).or_default();
        r.0 = r.0.max(e["sink_retries"].as_u64().unwrap_or(0));
        r.1 = r.1.max(e["pipeline_retries"].as_u64().unwrap_or(0));
        workers_used.insert(e["worker"].as_str().unwrap_or_default().to_owned());
    }
    let drain_secs =
        (started_ms + done_after.as_millis() as u64).saturating_sub(first_write) as f64 / 1000.0;
    println!(
        "workers {} (writing: {}), shards {}, processors {}: first lease initialized {:.1} s after start, \
         first write {:.1} s; all {expected} edges in the graph after {:.1} s; drain {:.0} edges/s; \
         sink retries {} (requests), item retries {}; peak RSS: daemon {:.0} MiB, processor {:.0} MiB, \
         worker (daemon + its processors) {:.0} MiB",
        args.workers,
        workers_used.len(),
        args.shards,
        retries.len(),
        (first_init - started_ms) as f64 / 1000.0,
        (first_write - started_ms) as f64 / 1000.0,
        done_after.as_secs_f64(),
        expected as f64 / drain_secs.max(0.001),
        retries.values().map(|r| r.0).sum::<u64>(),
        retries.values().map(|r| r.1).sum::<u64>(),
        daemon_peak,
        processor_peak,
        pair_peak,
    );
    if !args.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
