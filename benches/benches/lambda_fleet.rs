//! The Lambda function as a fleet: one execution environment per shard (the built `bootstrap`
//! behind its own Lambda runtime interface emulator), each fed its shard's records in order in
//! batches of `BatchReadSize`, and retried from the record a partial batch response names, as
//! the event source mapping does with `ParallelizationFactor` 1. Power-law follows from
//! `workload-gen` (super-connectors), the function's default settings (`merge` mode,
//! `batch_write_size` 100, one request at a time; `FLEET_FUNCTION_ENV=write_mode=conditional`
//! is the original's behaviour). Prints per fleet size: edges/s into the graph, the sink's retries
//! (write conflicts between the functions), partial batch responses, invocation p50/p99, and
//! whether the graph holds exactly the edge set put.
//!
//! ```sh
//! scripts/gremlin-server.sh start && scripts/lambda-rie.sh install
//! cargo build --release -p stream2neptune-examples --bin kinesis-lambda
//! cargo bench -p stream2neptune-benches --bench lambda_fleet
//! ```
//!
//! `FLEET_SHARDS` (default `1,2,4`), `FLEET_PERSONS` (5000), `FLEET_EDGES` (20000),
//! `FLEET_BATCH_READ_SIZE` (1000), `KINESIS_LAMBDA_BOOTSTRAP` (default
//! `target/release/kinesis-lambda`), `FLEET_FUNCTION_ENV` (more of the function's settings,
//! `name=value` pairs separated by commas, e.g. `write_mode=merge,batch_write_size=1000`: the
//! settings a deployment would give it, printed in the heading).

use aws_sdk_kinesis::types::Record;
use graph_ingest::lambda::event::{event_document, EventSource};
use metrics_sink::emf::EmfDocument;
use neptune_batch::gremlin::{Bytecode, GValue};
use neptune_batch::{FollowsSchema, GraphSink, GremlinSink, GremlinSinkConfig, Vertex};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use workload_gen::generator::{generate, GeneratorConfig};
use workload_gen::PayloadFormat;

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What one shard's function did.
#[derive(Default)]
struct ShardRun {
    invocations: u64,
    partial: u64,
    durations_ms: Vec<f64>,
}

#[tokio::main]
async fn main() {
    let shard_counts: Vec<i32> = std::env::var("FLEET_SHARDS")
        .unwrap_or_else(|_| "1,2,4".into())
        .split(',')
        .map(|s| s.trim().parse().expect("FLEET_SHARDS: numbers"))
        .collect();
    let persons: u32 = setting("FLEET_PERSONS", 5_000);
    let edges: u64 = setting("FLEET_EDGES", 20_000);
    let batch_read: usize = setting("FLEET_BATCH_READ_SIZE", 1_000);
    let bootstrap = std::env::var("KINESIS_LAMBDA_BOOTSTRAP")
        .map(PathBuf::from)
        .unwrap_or_else(|_| local_services::workspace_root().join("target/release/kinesis-lambda"));
    assert!(
        bootstrap.is_file(),
        "{} is missing: cargo build --release -p stream2neptune-examples --bin kinesis-lambda",
        bootstrap.display()
    );
    let url = local_services::gremlin()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .url;
    let kinesis = local_services::kinesis();
    let client = local_services::kinesis_client(kinesis.url.as_deref()).await;
    let function_env: Vec<(String, String)> = std::env::var("FLEET_FUNCTION_ENV")
        .unwrap_or_default()
        .split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (name, value) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("FLEET_FUNCTION_ENV: {pair:?} is not name=value"));
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect();
    let settings = if function_env.is_empty() {
        "the function's defaults".to_owned()
    } else {
        let given: Vec<String> = function_env
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        format!("the function's defaults and {}", given.join(", "))
    };
    println!(
        "lambda_fleet: {edges} power-law follows among {persons} persons (seed 7), BatchReadSize \
         {batch_read}, {settings}; one function per shard"
    );
    println!("| shards = functions | edges/s into the graph | wall s | sink retries (conflicts) | partial batch responses | invocation p50 / p99 ms | exact edge set |");
    println!("|---|---|---|---|---|---|---|");
    for shards in shard_counts {
        let prefix = local_services::unique_name(&format!("fleet{shards}"));
        let config = GeneratorConfig::builder()
            .persons(persons)
            .edges(edges)
            .seed(7)
            .build()
            .expect("a valid data set");
        let data = generate(&config).expect("generate");
        let ids: Vec<String> = data
            .persons
            .iter()
            .map(|p| format!("{prefix}-{}", p.id))
            .collect();
        let sink_config = GremlinSinkConfig::builder(&url)
            .batch_size(500)
            .build()
            .expect("a valid configuration");
        let sink = GremlinSink::connect(sink_config).await.expect("connect");
        let vertices: Vec<Vertex> = ids.iter().map(|id| Vertex::new(id, "person")).collect();
        assert_eq!(sink.write_vertices(&vertices).await.unwrap().failed(), 0);
        let follows: Vec<(String, Vec<u8>)> = data
            .edges
            .iter()
            .map(|e| {
                let mut e = e.clone();
                e.from = format!("{prefix}-{}", e.from);
                e.to = format!("{prefix}-{}", e.to);
                (e.from.clone(), e.encode(PayloadFormat::Csv))
            })
            .collect();
        let expected: BTreeSet<String> = data
            .edges
            .iter()
            .map(|e| {
                FollowsSchema::edge_id(
                    &format!("{prefix}-{}", e.from),
                    &e.creation_date,
                    &format!("{prefix}-{}", e.to),
                )
            })
            .collect();

        // The stream, and each shard's records in order (what the mapping would read).
        let stream = local_services::unique_name("fleet");
        local_services::create_stream_and_wait(&client, &stream, shards, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for chunk in follows.chunks(500) {
            let out = local_services::put_records(&client, &stream, chunk.iter().cloned())
                .await
                .unwrap();
            assert_eq!(out.failed_record_count(), Some(0));
        }
        let arn = local_services::stream_arn(&client, &stream).await.unwrap();
        let listed = local_services::list_shards(&client, &stream).await.unwrap();
        let mut per_shard: Vec<(String, Vec<Record>)> = Vec::new();
        for shard in &listed {
            let id = shard.shard_id().to_owned();
            let mut iterator = local_services::trim_horizon_iterator(&client, &stream, &id)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let mut records = Vec::new();
            loop {
                let out = client
                    .get_records()
                    .shard_iterator(&iterator)
                    .limit(10_000)
                    .send()
                    .await
                    .unwrap();
                if out.records().is_empty() {
                    break;
                }
                records.extend(out.records().iter().cloned());
                iterator = out.next_shard_iterator.expect("open shard");
            }
            per_shard.push((id, records));
        }
        assert_eq!(
            per_shard.iter().map(|(_, r)| r.len()).sum::<usize>(),
            follows.len()
        );

        let cluster_id = local_services::unique_name("fleet");
        let mut functions = Vec::new();
        for _ in 0..shards {
            let mut env = vec![
                ("neptune_endpoint", url.as_str()),
                ("cluster_id", cluster_id.as_str()),
                ("wait", "false"),
                ("RUST_LOG", "warn"),
            ];
            env.extend(function_env.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            let function = local_services::LambdaFunction::start(&bootstrap, &env)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            functions.push(function);
        }

        let started = Instant::now();
        let mut tasks = Vec::new();
        for (function, (shard_id, records)) in functions.iter().zip(per_shard) {
            let source = EventSource {
                stream_arn: arn.clone(),
                region: "us-east-1".into(),
                shard_id,
                invoke_identity_arn: "arn:aws:iam::000000000000:role/fleet".into(),
            };
            tasks.push(async move {
                let mut run = ShardRun::default();
                let mut next = 0;
                let mut attempts_here = 0;
                while next < records.len() {
                    let batch = &records[next..(next + batch_read).min(records.len())];
                    let event = event_document(&source, batch).to_string();
                    let t = Instant::now();
                    let answer = function
                        .invoke(&event)
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                    run.durations_ms.push(t.elapsed().as_secs_f64() * 1000.0);
                    run.invocations += 1;
                    let answer: serde_json::Value =
                        serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{e}: {answer}"));
                    match answer["batchItemFailures"][0]["itemIdentifier"].as_str() {
                        None => {
                            next += batch.len();
                            attempts_here = 0;
                        }
                        Some(seq) => {
                            // The mapping retries from the named record (no bisection here).
                            run.partial += 1;
                            attempts_here += 1;
                            assert!(attempts_here <= 20, "record {seq} failed 20 times");
                            next += batch
                                .iter()
                                .position(|r| r.sequence_number() == seq)
                                .expect("a record of the batch");
                        }
                    }
                }
                run
            });
        }
        let runs = futures::future::join_all(tasks).await;
        let wall = started.elapsed().as_secs_f64();

        // What the functions printed: the sink's retries, from the EMF lines.
        let mut retries = 0.0;
        for function in &functions {
            for line in function
                .stdout()
                .iter()
                .filter(|l| l.starts_with(r#"{"_aws""#))
            {
                let doc = EmfDocument::parse(line).unwrap_or_else(|e| panic!("{e}"));
                for m in doc
                    .metrics
                    .iter()
                    .filter(|m| m.name == metrics_sink::names::RETRY_COUNT)
                {
                    retries += m.values.iter().sum::<f64>();
                }
            }
        }
        drop(functions);
        let mut durations: Vec<f64> = runs.iter().flat_map(|r| r.durations_ms.clone()).collect();
        durations.sort_by(f64::total_cmp);
        let pct = |p: f64| durations[((durations.len() - 1) as f64 * p).round() as usize];
        let partial: u64 = runs.iter().map(|r| r.partial).sum();

        // The graph holds exactly the edges put.
        let mut found = BTreeSet::new();
        for chunk in ids.chunks(1_000) {
            let t = Bytecode::new()
                .step(
                    "V",
                    [GValue::List(chunk.iter().map(GValue::from).collect())],
                )
                .step("outE", ["follows"])
                .step("id", Vec::<GValue>::new());
            for v in sink.transport().submit(&t).await.unwrap() {
                assert!(
                    found.insert(v.as_str().unwrap().to_owned()),
                    "duplicate edge"
                );
            }
        }
        println!(
            "| {shards} | {:.0} | {wall:.1} | {retries:.0} | {partial} | {:.0} / {:.0} | {} ({} edges) |",
            expected.len() as f64 / wall,
            pct(0.5),
            pct(0.99),
            if found == expected { "yes" } else { "NO" },
            found.len()
        );
    }
}
