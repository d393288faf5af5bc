//! End to end, in one process: edges put on a 2-shard stream of the local Kinesis API come out of
//! the consumer into the real Gremlin Server, exactly the set that was put; hostile records end
//! in the dead-letter file with their reason and never stop a shard.

mod common;

use graph_ingest::dead_letter::JsonLinesDeadLetters;
use graph_ingest::PipelineStats;
use std::sync::Arc;
use std::time::Duration;
use stream2neptune_examples::consumer::{stop_when_idle, Consumer, ConsumerOptions};

fn options(stream: &str, url: &str, dir: &std::path::Path) -> ConsumerOptions {
    let mut options = ConsumerOptions::new(stream, url, dir);
    options.kinesis_endpoint = local_services::kinesis().url;
    options.cluster_id = "e2e".into();
    options
}

async fn consume(options: &ConsumerOptions) -> PipelineStats {
    let consumer = Consumer::start(options, Arc::new(metrics_sink::MemoryMetrics::new()))
        .await
        .expect("consumer");
    let stats = consumer.pipeline.stats();
    stop_when_idle(
        stats.clone(),
        consumer.source.stats_reader(),
        Duration::from_secs(3),
        consumer.control(),
    );
    tokio::time::timeout(Duration::from_secs(900), consumer.run())
        .await
        .expect("the consumer finishes")
        .expect("the consumer succeeds");
    stats
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_edges_put_are_exactly_the_edges_in_the_graph() {
    let url = common::gremlin_url().await;
    let client = local_services::kinesis_client(local_services::kinesis().url.as_deref()).await;
    let stream = common::stream(&client, "e2e-exact", 2).await;
    let prefix = format!("{}-", local_services::unique_name("x"));
    let (persons, edges) = common::data(&prefix, 5_000, 100_000, 11);
    common::create_persons(&url, &persons).await;
    common::put_edges(&client, &stream, &edges).await;
    // A few records twice, as a producer retry would: the graph must still hold each edge once.
    common::put_edges(&client, &stream, &edges[..500]).await;

    let dir = tempfile::tempdir().unwrap();
    let stats = consume(&options(&stream, &url, dir.path())).await;
    assert_eq!(stats.snapshot().records_read, 100_500);
    assert_eq!(stats.snapshot().dead_letters, 0);
    assert_eq!(stats.snapshot().items_written, 100_000);
    assert_eq!(stats.snapshot().items_already_present, 500);
    let in_graph = common::edge_ids(&url, &persons).await;
    let expected = common::expected_ids(&edges);
    assert_eq!(in_graph.len(), expected.len());
    assert!(
        in_graph == expected,
        "the graph's edge set differs from the set put"
    );
    let w = stats.write_latency();
    println!(
        "100k edges: write p50 {:.1} ms p99 {:.1} ms over {} requests in {:.1?}",
        w.p50,
        w.p99,
        w.count,
        stats.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_through_enhanced_fan_out_the_edges_put_are_exactly_the_edges_in_the_graph() {
    let url = common::gremlin_url().await;
    let client = local_services::kinesis_client(local_services::kinesis().url.as_deref()).await;
    let stream = common::stream(&client, "e2e-fan-out", 2).await;
    let prefix = format!("{}-", local_services::unique_name("f"));
    let (persons, edges) = common::data(&prefix, 2_000, 20_000, 13);
    common::create_persons(&url, &persons).await;
    common::put_edges(&client, &stream, &edges).await;

    let dir = tempfile::tempdir().unwrap();
    let mut options = options(&stream, &url, dir.path());
    options.fan_out = Some("e2e-graph-writer".into());
    let stats = consume(&options).await;
    assert_eq!(stats.snapshot().records_read, 20_000);
    assert_eq!(stats.snapshot().items_written, 20_000);
    assert_eq!(stats.snapshot().dead_letters, 0);
    let in_graph = common::edge_ids(&url, &persons).await;
    assert!(
        in_graph == common::expected_ids(&edges),
        "the graph's edge set differs from the set put"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_records_become_dead_letters_and_the_graph_holds_exactly_the_good_edges() {
    let url = common::gremlin_url().await;
    let client = local_services::kinesis_client(local_services::kinesis().url.as_deref()).await;
    let stream = common::stream(&client, "e2e-hostile", 2).await;
    let prefix = format!("{}-", local_services::unique_name("h"));
    let (mut persons, mut edges) = common::data(&prefix, 500, 5_000, 12);
    // Persons whose ids are Gremlin-injection strings and odd text: they must be written as data.
    let odd = [
        format!("{prefix}'); g.V().drop(); ('"),
        format!("{prefix}quote\"back\\slash"),
        format!("{prefix}new\nline"),
        format!("{prefix}ünïcødé-人-🙂"),
    ];
    persons.extend(odd.iter().cloned());
    edges.push(workload_gen::FollowsEdge::new(
        odd[0].clone(),
        odd[1].clone(),
        "2019-02-03",
    ));
    edges.push(workload_gen::FollowsEdge::new(
        odd[3].clone(),
        odd[0].clone(),
        "2019-02-04",
    ));
    common::create_persons(&url, &persons).await;
    // The new-line id cannot travel in the CSV payload (a line break ends nothing in it, but the
    // JSON payload carries it); send those edges as JSON.
    let json_edge = workload_gen::FollowsEdge::new(odd[2].clone(), odd[3].clone(), "2019-02-05");

    let mut records: Vec<(String, Vec<u8>)> = edges
        .iter()
        .map(|e| (e.from.clone(), e.encode(workload_gen::PayloadFormat::Csv)))
        .collect();
    records.push((
        json_edge.from.clone(),
        json_edge.encode(workload_gen::PayloadFormat::Json),
    ));
    edges.push(json_edge);
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        ("invalid utf-8", vec![0xff, 0xfe, b',', 0xc3, b',', b'x']),
        ("too few columns", b"p1,p2".to_vec()),
        ("too many columns", b"p1,p2,2019-01-01,extra".to_vec()),
        (
            "empty field",
            format!("{prefix}p1,,2019-01-01").into_bytes(),
        ),
        ("one megabyte", {
            let mut v = format!("{prefix}p1,{prefix}p2,").into_bytes();
            v.resize(1_000_000, b'9');
            v
        }),
        (
            "injection to a missing vertex",
            format!("{prefix}p1,'); g.V().drop(); (',2019-01-01").into_bytes(),
        ),
        (
            "missing from vertex",
            format!("{prefix}nobody,{prefix}p1,2019-01-01").into_bytes(),
        ),
        (
            "missing to vertex",
            format!("{prefix}p1,{prefix}nobody,2019-01-01").into_bytes(),
        ),
        ("not json", b"{\"from\": 1".to_vec()),
    ];
    // Interleave the hostile records among the good ones.
    let step = records.len() / (hostile.len() + 1);
    for (i, (_, bytes)) in hostile.iter().enumerate() {
        records.insert((i + 1) * step, (format!("{prefix}p{i}"), bytes.clone()));
    }
    common::put_raw(&client, &stream, records).await;

    let dir = tempfile::tempdir().unwrap();
    let opts = options(&stream, &url, dir.path());
    let stats = consume(&opts).await;
    let letters = JsonLinesDeadLetters::read_all(&opts.dead_letter_file).unwrap();
    assert_eq!(
        letters.len(),
        hostile.len(),
        "one dead letter per hostile record: {letters:#?}"
    );
    for (what, bytes) in &hostile {
        let found = letters.iter().any(|l| l.data() == *bytes);
        assert!(
            found,
            "the {what} record is in the dead-letter file with its original bytes"
        );
    }
    for l in &letters {
        assert!(!l.reason.is_empty(), "every dead letter has a reason");
    }
    println!("dead-letter reasons:");
    for l in &letters {
        let reason = &l.reason;
        println!("  {}", &reason[..reason.len().min(140)]);
    }
    assert_eq!(stats.snapshot().dead_letters, hostile.len() as u64);
    let in_graph = common::edge_ids(&url, &persons).await;
    assert!(
        in_graph == common::expected_ids(&edges),
        "the graph holds exactly the good edges"
    );
    // The injection strings were data: every person is still there.
    let transport = neptune_batch::transport::GremlinTransport::connect(
        neptune_batch::transport::TransportConfig::new(url.as_str()),
    )
    .await
    .unwrap();
    let count = transport
        .submit(
            &neptune_batch::gremlin::Bytecode::new()
                .step(
                    "V",
                    [neptune_batch::gremlin::GValue::List(
                        persons.iter().map(|p| p.clone().into()).collect(),
                    )],
                )
                .step("count", Vec::<neptune_batch::gremlin::GValue>::new()),
        )
        .await
        .unwrap();
    assert_eq!(count[0].as_i64(), Some(persons.len() as i64));
}
