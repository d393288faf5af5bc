//! The main job: generate `follows` edges, put them on a local Kinesis stream, read them back
//! shard by shard, write them into the local Gremlin Server, and print what was written and read.
//!
//! It starts what it needs: the Gremlin Server through `scripts/gremlin-server.sh` (unless one
//! answers already or `GREMLIN_URL` names one) and a Kinesis emulator inside this process (unless
//! `KINESIS_ENDPOINT_URL` names one).

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType, StreamStatus};
use clap::Parser;
use gremlin_client::aio::GremlinClient;
use gremlin_client::{ConnectionOptions, GValue, GraphSON};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use workload_gen::{generate, FollowsEdge, GeneratorConfig, PayloadFormat};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    about = "Generate follows edges, stream them through Kinesis and write them into a Gremlin Server"
)]
struct Args {
    /// Number of persons (vertices).
    #[arg(long, env = "PERSONS", default_value_t = 1_000)]
    persons: usize,
    /// Number of follows edges.
    #[arg(long, env = "EDGES", default_value_t = 5_000)]
    edges: usize,
    /// Shards of the stream.
    #[arg(long = "shard-count", env = "SHARD_COUNT", default_value_t = 2)]
    shard_count: i32,
    /// Records read per GetRecords call.
    #[arg(
        long = "batch-read-size",
        env = "BATCH_READ_SIZE",
        default_value_t = 1_000
    )]
    batch_read_size: i32,
    /// Edges written per Gremlin request.
    #[arg(
        long = "batch-write-size",
        env = "BATCH_WRITE_SIZE",
        default_value_t = 100
    )]
    batch_write_size: usize,
    /// Seed of the generated data set.
    #[arg(long, env = "SEED", default_value_t = 1)]
    seed: u64,
    /// Port of the local Gremlin Server to use or start.
    #[arg(long = "gremlin-port", env = "GREMLIN_PORT", default_value_t = 8182)]
    gremlin_port: u16,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let started = Instant::now();

    // 1. The services.
    let gremlin = match std::env::var("GREMLIN_URL") {
        Ok(_) => local_services::gremlin().await?,
        Err(_) => local_services::ensure_local_gremlin(args.gremlin_port).await?,
    };
    let kinesis = local_services::kinesis();
    println!("gremlin server : {}", gremlin.url);
    println!(
        "kinesis api    : {}",
        kinesis.url.as_deref().unwrap_or("AWS")
    );

    // 2. The data set.
    let data = generate(&GeneratorConfig {
        persons: args.persons,
        edges: args.edges,
        seed: args.seed,
        ..Default::default()
    });
    let run = local_services::unique_name("run");
    println!(
        "generated      : {} persons, {} follows edges (seed {})",
        data.persons.len(),
        data.edges.len(),
        args.seed
    );

    // 3. Put the edges on a stream, partitioned by the from id.
    let client = local_services::kinesis_client(kinesis.url.as_deref()).await;
    let stream = format!("follows-{run}");
    client
        .create_stream()
        .stream_name(&stream)
        .shard_count(args.shard_count)
        .send()
        .await?;
    wait_active(&client, &stream).await?;
    let put_started = Instant::now();
    let mut put = 0usize;
    for chunk in data.edges.chunks(500) {
        let entries = chunk
            .iter()
            .map(|e| {
                PutRecordsRequestEntry::builder()
                    .partition_key(&e.from)
                    .data(Blob::new(e.encode(PayloadFormat::Csv)))
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = client
            .put_records()
            .stream_name(&stream)
            .set_records(Some(entries))
            .send()
            .await?;
        if out.failed_record_count().unwrap_or(0) > 0 {
            return Err(format!(
                "{} records were refused by PutRecords",
                out.failed_record_count().unwrap_or(0)
            )
            .into());
        }
        put += chunk.len();
    }
    println!(
        "put            : {put} records on {} shards in {:.2?}",
        args.shard_count,
        put_started.elapsed()
    );

    // 4. Read every shard back to its tip.
    let read_started = Instant::now();
    let mut read: Vec<FollowsEdge> = Vec::with_capacity(put);
    let mut per_shard: HashMap<String, usize> = HashMap::new();
    let shards = client.list_shards().stream_name(&stream).send().await?;
    for shard in shards.shards() {
        let mut iterator = client
            .get_shard_iterator()
            .stream_name(&stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await?
            .shard_iterator
            .take();
        while let Some(it) = iterator.take() {
            let out = client
                .get_records()
                .shard_iterator(it)
                .limit(args.batch_read_size)
                .send()
                .await?;
            for r in out.records() {
                read.push(FollowsEdge::decode(r.data().as_ref())?);
                *per_shard.entry(shard.shard_id().to_owned()).or_default() += 1;
            }
            if out.records().is_empty() && out.millis_behind_latest() == Some(0) {
                break;
            }
            iterator = out.next_shard_iterator().map(str::to_owned);
        }
    }
    let mut shard_counts: Vec<_> = per_shard.into_iter().collect();
    shard_counts.sort();
    println!(
        "read           : {} records in {:.2?} ({shard_counts:?})",
        read.len(),
        read_started.elapsed()
    );

    // 5. Write persons and edges into the graph, values as bindings.
    let options = ConnectionOptions::builder()
        .host(gremlin.host.clone())
        .port(gremlin.port)
        .ssl(gremlin.tls)
        .serializer(GraphSON::V3)
        .deserializer(GraphSON::V3)
        .pool_size(2)
        .build();
    let graph = GremlinClient::connect(options).await?;
    let write_started = Instant::now();
    let prefix = format!("{run}-");
    for chunk in data.persons.chunks(args.batch_write_size) {
        let rows: Vec<GValue> = chunk
            .iter()
            .map(|p| {
                let mut m: HashMap<String, GValue> = HashMap::new();
                m.insert("id".into(), format!("{prefix}{}", p.id).into());
                m.insert("first".into(), p.first_name.clone().into());
                m.insert("last".into(), p.last_name.clone().into());
                m.insert("num".into(), (p.number as i64).into());
                m.into()
            })
            .collect();
        run_script(
            &graph,
            "rows.each { r -> g.addV('person').property(T.id, r.id).property('firstName', r.first)\
             .property('lastName', r.last).property('id', r.num).iterate() }; rows.size()",
            rows,
        )
        .await?;
    }
    for chunk in read.chunks(args.batch_write_size) {
        let rows: Vec<GValue> = chunk
            .iter()
            .map(|e| {
                let mut m: HashMap<String, GValue> = HashMap::new();
                m.insert(
                    "id".into(),
                    format!("{prefix}{}-{}-{}", e.from, e.creation_date, e.to).into(),
                );
                m.insert("from".into(), format!("{prefix}{}", e.from).into());
                m.insert("to".into(), format!("{prefix}{}", e.to).into());
                m.insert("date".into(), e.creation_date.clone().into());
                m.into()
            })
            .collect();
        run_script(
            &graph,
            "rows.each { r -> g.V(r.from).addE('follows').to(__.V(r.to)).property(T.id, r.id)\
             .property('creationDate', r.date).property('insertDateTime', System.currentTimeMillis()).iterate() }; rows.size()",
            rows,
        )
        .await?;
    }
    let write_elapsed = write_started.elapsed();

    // 6. Read the graph back.
    let counted = run_script(
        &graph,
        "g.V(rows).outE('follows').count()",
        data.persons
            .iter()
            .map(|p| GValue::from(format!("{prefix}{}", p.id)))
            .collect(),
    )
    .await?;
    println!(
        "written        : {} persons and {} edges in {:.2?} ({:.0} edges/s)",
        data.persons.len(),
        read.len(),
        write_elapsed,
        read.len() as f64 / write_elapsed.as_secs_f64()
    );
    println!("graph holds    : {counted} follows edges from this run's persons");
    println!("total time     : {:.2?}", started.elapsed());
    client.delete_stream().stream_name(&stream).send().await?;
    if counted != data.edges.len() as i64 || read.len() != data.edges.len() {
        return Err(format!(
            "expected {} edges, the graph holds {counted}",
            data.edges.len()
        )
        .into());
    }
    Ok(())
}

async fn wait_active(client: &aws_sdk_kinesis::Client, stream: &str) -> Result<(), BoxError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let d = client
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await?;
        if d.stream_description_summary().map(|s| s.stream_status()) == Some(&StreamStatus::Active)
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("stream {stream} did not become ACTIVE in 60 s").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn run_script(
    client: &GremlinClient,
    script: &str,
    rows: Vec<GValue>,
) -> Result<i64, BoxError> {
    use futures::StreamExt;
    let mut results = tokio::time::timeout(
        Duration::from_secs(60),
        client.execute(script, &[("rows", &rows)]),
    )
    .await??;
    let mut last = 0i64;
    while let Some(item) = tokio::time::timeout(Duration::from_secs(60), results.next()).await? {
        if let Ok(v) = item?.take::<i64>() {
            last = v;
        }
    }
    Ok(last)
}
