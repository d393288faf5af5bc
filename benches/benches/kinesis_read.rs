//! Records per second through the Kinesis `RecordSource` and the producer, against the
//! embedded Kinesis emulator, with the emulator's own ceiling printed beside them.
//!
//! Figures (each the median of 3 runs):
//! * put: `KinesisProducer::put` against bare `PutRecords` calls of 500 with the same
//!   concurrency (the emulator's write ceiling for this shape);
//! * read: `KinesisSource` (paced at 5 GetRecords calls/s per shard, as the service requires)
//!   against a bare `GetRecords` loop with the same pacing, and an unpaced bare loop (the
//!   emulator's read ceiling); and `KinesisSource` through enhanced fan-out
//!   (`SubscribeToShard`, served by `local-services` in front of the emulator: an event as soon
//!   as records are there).
//!
//! Run: `cargo bench -p stream2neptune-benches --bench kinesis_read`. `KINESIS_BENCH_RECORDS`
//! changes the stream size (default 200 000).

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use kinesis_source::limits::MIN_GET_RECORDS_INTERVAL;
use kinesis_source::producer::{KinesisProducer, ProducerConfig, ProducerRecord};
use kinesis_source::{
    KinesisSource, KinesisSourceConfig, MemoryCheckpointStore, RecordSource, StartPosition,
    StreamRef,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SHARDS: i32 = 4;
const RUNS: usize = 3;
const IN_FLIGHT: usize = 4;

fn payload(i: usize) -> (String, Vec<u8>) {
    let from = i % 10_007;
    (
        format!("{from}"),
        format!("{from},{},2019-01-15", (i * 7919) % 100_003).into_bytes(),
    )
}

async fn create_stream(client: &aws_sdk_kinesis::Client) -> String {
    let name = local_services::unique_name("bench");
    local_services::create_stream_and_wait(client, &name, SHARDS, Duration::from_secs(30))
        .await
        .expect("create the stream and wait until it is ACTIVE");
    name
}

async fn put_with_producer(client: &aws_sdk_kinesis::Client, stream: &str, n: usize) -> f64 {
    let config = ProducerConfig::builder(StreamRef::parse(stream))
        .max_in_flight_calls(IN_FLIGHT)
        .build()
        .unwrap();
    let producer = KinesisProducer::from_client(client.clone(), config).unwrap();
    let records: Vec<_> = (0..n)
        .map(|i| {
            let (k, d) = payload(i);
            ProducerRecord::new(k, d)
        })
        .collect();
    let start = Instant::now();
    let outcomes = producer.put(records).await;
    let secs = start.elapsed().as_secs_f64();
    assert!(outcomes.iter().all(Result::is_ok), "every record put");
    n as f64 / secs
}

async fn put_bare(client: &aws_sdk_kinesis::Client, stream: &str, n: usize) -> f64 {
    let chunks: Vec<Vec<PutRecordsRequestEntry>> = (0..n)
        .collect::<Vec<_>>()
        .chunks(500)
        .map(|c| {
            c.iter()
                .map(|&i| {
                    let (k, d) = payload(i);
                    PutRecordsRequestEntry::builder()
                        .partition_key(k)
                        .data(Blob::new(d))
                        .build()
                        .unwrap()
                })
                .collect()
        })
        .collect();
    let queue = Arc::new(std::sync::Mutex::new(chunks));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..IN_FLIGHT {
        let (client, stream, queue) = (client.clone(), stream.to_owned(), queue.clone());
        tasks.spawn(async move {
            loop {
                let Some(chunk) = queue.lock().unwrap().pop() else {
                    return;
                };
                let out = client
                    .put_records()
                    .stream_name(&stream)
                    .set_records(Some(chunk))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(out.failed_record_count(), Some(0));
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

async fn read_bare(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    n: usize,
    pace: Option<Duration>,
) -> f64 {
    let shards = local_services::list_shards(client, stream).await.unwrap();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for s in &shards {
        let (client, stream, shard) = (client.clone(), stream.to_owned(), s.shard_id().to_owned());
        tasks.spawn(async move {
            let first = local_services::trim_horizon_iterator(&client, &stream, &shard)
                .await
                .unwrap();
            let mut it = Some(first);
            let mut count = 0usize;
            let mut next_call = tokio::time::Instant::now();
            while let Some(i) = it.take() {
                if let Some(p) = pace {
                    tokio::time::sleep_until(next_call).await;
                    next_call = tokio::time::Instant::now() + p;
                }
                let out = client
                    .get_records()
                    .shard_iterator(i)
                    .limit(10_000)
                    .send()
                    .await
                    .unwrap();
                if out.records().is_empty() {
                    break;
                }
                count += out.records().len();
                it = out.next_shard_iterator().map(str::to_owned);
            }
            count
        });
    }
    let mut total = 0;
    while let Some(r) = tasks.join_next().await {
        total += r.unwrap();
    }
    assert_eq!(total, n, "the bare loop read every record");
    n as f64 / start.elapsed().as_secs_f64()
}

async fn read_source(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    n: usize,
    fan_out: Option<&str>,
) -> f64 {
    let config = KinesisSourceConfig::builder(StreamRef::parse(stream))
        .fan_out(fan_out.map(str::to_owned))
        .start_position(StartPosition::TrimHorizon)
        .batch_read_size(10_000)
        .max_unacked_records_per_shard(40_000)
        .build()
        .unwrap();
    let start = Instant::now();
    let mut source = KinesisSource::from_client(
        client.clone(),
        config,
        Arc::new(MemoryCheckpointStore::default()),
    )
    .await
    .unwrap();
    let mut got = 0;
    while got < n {
        let batch = source.next_batch().await.unwrap().expect("a batch");
        got += batch.records.len();
        batch.ack_all();
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    source.shutdown().await.unwrap();
    assert_eq!(got, n);
    rate
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// `part` as a percentage of `whole`.
fn percent(part: f64, whole: f64) -> f64 {
    100.0 * part / whole
}

fn main() {
    let n: usize = std::env::var("KINESIS_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let emulator = local_services::EmbeddedKinesis::start(Default::default(), 0).unwrap();
        let client = local_services::kinesis_client(Some(emulator.url())).await;
        println!(
            "kinesis_read: {n} records of ~25 bytes, {SHARDS} shards, embedded emulator, {RUNS} runs each (median)"
        );

        let (mut producer, mut bare_put) = (Vec::new(), Vec::new());
        let mut streams = Vec::new();
        for _ in 0..RUNS {
            let s = create_stream(&client).await;
            producer.push(put_with_producer(&client, &s, n).await);
            streams.push(s);
            let s2 = create_stream(&client).await;
            bare_put.push(put_bare(&client, &s2, n).await);
        }
        let (producer, bare_put) = (median(producer), median(bare_put));
        println!(
            "put   KinesisProducer ({IN_FLIGHT} calls in flight)      {producer:>10.0} records/s"
        );
        println!(
            "put   bare PutRecords x500 ({IN_FLIGHT} in flight, ceiling) {bare_put:>10.0} records/s"
        );
        println!(
            "put   ratio KinesisProducer / bare PutRecords           {:>10.1} %",
            percent(producer, bare_put)
        );

        let stream = &streams[0];
        let (mut source, mut paced, mut unpaced) = (Vec::new(), Vec::new(), Vec::new());
        let mut fan_out = Vec::new();
        for run in 0..RUNS {
            source.push(read_source(&client, stream, n, None).await);
            let consumer = format!("bench-{run}");
            fan_out.push(read_source(&client, stream, n, Some(&consumer)).await);
            paced.push(read_bare(&client, stream, n, Some(MIN_GET_RECORDS_INTERVAL)).await);
            unpaced.push(read_bare(&client, stream, n, None).await);
        }
        let (source, fan_out) = (median(source), median(fan_out));
        let (paced, unpaced) = (median(paced), median(unpaced));
        println!("read  KinesisSource (10000/call, 5 calls/s/shard)     {source:>10.0} records/s");
        println!("read  KinesisSource through enhanced fan-out          {fan_out:>10.0} records/s");
        println!("read  bare GetRecords loop, same pacing               {paced:>10.0} records/s");
        println!("read  bare GetRecords loop, unpaced (ceiling)         {unpaced:>10.0} records/s");
        println!(
            "read  ratio KinesisSource / bare loop, same pacing    {:>10.1} %",
            percent(source, paced)
        );
        println!(
            "read  ratio KinesisSource / unpaced ceiling           {:>10.1} %",
            percent(source, unpaced)
        );
    });
}
