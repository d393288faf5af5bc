//! The steps of a main-job run after the services: data set, vertices, stream and consumer,
//! workload, queries and the graph check, the write-only comparison, the summary.

use super::changes::{self, ChangeRecords, ChangeRun};
use super::graph_check::check_edges;
use super::summary::{summary_lines, ChangeFigures, GraphFigures, RunFigures};
use super::{accounted_for, Args, Services};
use crate::cli::{value_text, ClassAs, ExitClass, Failure};
use crate::consumer::{live_line_of, Consumer, ConsumerOptions};
use crate::metrics_setup::RunMetrics;
use crate::producer::{KinesisRecordSink, PutTimes};
use crate::report::{write_report_of, ReportContent};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use kinesis_source::producer::{KinesisProducer, ProducerConfig};
use kinesis_source::StreamRef;
use neptune_batch::load::{load_vertices, VertexLoadOptions};
use neptune_batch::transport::{GremlinTransport, TransportConfigBuilder};
use neptune_batch::{
    queries, FollowsSchema, GraphSink, GremlinSink, GremlinSinkConfigBuilder, Vertex,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use workload_gen::dataset::{write_dataset, WriteOptions};
use workload_gen::driver::{run_driver, DriverConfig, DriverObserver, DriverProgress};
use workload_gen::generator::GeneratorConfig;
use workload_gen::reader::{EdgeFileConfig, EdgeReader};
use workload_gen::PayloadFormat;

/// Appended to vertex ids for the write-only comparison's copy of the graph.
const WRITE_ONLY_SUFFIX: &str = "~write-only";

struct DriverBar(ProgressBar);

impl DriverObserver for DriverBar {
    fn on_progress(&self, p: &DriverProgress) {
        self.0.set_position(p.accepted);
        self.0.set_message(format!(
            "{:.0}/s of {:.0}/s requested, {} failed, {} retried",
            p.achieved_rate, p.target_rate, p.failed, p.retried
        ));
    }
}

fn bar(bars: &MultiProgress, len: u64, prefix: &str) -> ProgressBar {
    let pb = bars.add(ProgressBar::new(len));
    pb.set_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos:>8}/{len:8} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    pb.set_prefix(prefix.to_owned());
    pb
}

/// Steps 2 to 6, the summary and the report.
pub(super) async fn run_steps(
    args: &Args,
    services: &Services,
    bars: &MultiProgress,
    started: Instant,
) -> Result<(), Failure> {
    let say = |m: String| bars.suspend(|| println!("{m}"));
    let run_id = format!(
        "run-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .class_as(ExitClass::Failure)?
            .as_secs()
    );
    let out = args.out_dir.join(&run_id);
    std::fs::create_dir_all(&out)?;
    let gremlin_url = services.gremlin.url.clone();
    let connection = args.connection.resolve().await?;

    // 2. Data set.
    let gen_bar = bar(bars, args.edges, "generate");
    let generator = GeneratorConfig::builder()
        .persons(args.persons)
        .edges(args.edges)
        .seed(args.seed)
        .build()?;
    let mut change_run = match args.changes {
        true => Some(ChangeRun::new(args, &generator, &run_id)?),
        false => None,
    };
    let dataset = {
        let gen_bar = gen_bar.clone();
        let dir = out.join("data");
        tokio::task::spawn_blocking(move || {
            write_dataset(&generator, &dir, &WriteOptions::default(), |p| {
                gen_bar.set_position(p.edges_written)
            })
        })
        .await
        .class_as(ExitClass::Failure)??
    };
    gen_bar.finish_and_clear();
    say(format!(
        "[2/6] data set: {} persons, {} edges in {:.1?} ({}); top in-degrees {:?}",
        dataset.persons,
        dataset.edges,
        dataset.elapsed,
        dataset.edge_path.display(),
        dataset.top_in_degrees.iter().take(3).collect::<Vec<_>>()
    ));

    // 3. Vertices.
    let mode = args.writer.mode();
    let vertex_sink_config = connection
        .sink(&gremlin_url)
        .batch_size(200)
        .in_flight(2)
        .build()?;
    let vertex_sink = GremlinSink::connect(vertex_sink_config).await?;
    let load_bar = bar(bars, u64::from(args.persons), "vertices");
    if let Some(run) = &change_run {
        let (written, present) = run.load_persons(&vertex_sink, &load_bar).await?;
        load_bar.finish_and_clear();
        say(format!(
            "[3/6] vertices: the data set's persons under this run's ids ({}p0...): {written} written, {present} already present",
            run.prefix
        ));
    } else {
        let loaded = load_vertices(
            &dataset.vertex_path,
            &vertex_sink,
            &VertexLoadOptions::default(),
            |p| load_bar.set_position(p.written + p.already_present + p.failed),
        )
        .await?;
        load_bar.finish_and_clear();
        say(format!(
            "[3/6] vertices: {} written, {} already present, {} failed, {} bad lines",
            loaded.written,
            loaded.already_present,
            loaded.failed.len(),
            loaded.bad_lines.len()
        ));
    }
    let (items, total) = match &change_run {
        Some(_) => ("changes", args.changes_to_generate()),
        None => ("edges", args.edges),
    };

    // 4. Stream and consumer.
    let kinesis_client = local_services::kinesis_client(services.kinesis.url.as_deref()).await;
    let stream = format!(
        "{}-{run_id}",
        if args.changes { "changes" } else { "follows" }
    );
    local_services::create_stream_and_wait(
        &kinesis_client,
        &stream,
        args.shard_count,
        Duration::from_secs(60),
    )
    .await
    .class_as(ExitClass::Unreachable)?;
    let cloudwatch = if args.cloudwatch {
        Some(local_services::cloudwatch().await?.url)
    } else {
        None
    };
    let run_metrics = RunMetrics::new(&args.cluster_id, cloudwatch).await?;
    let dashboard = metrics_sink::dashboard::DashboardConfig::builder(
        args.cluster_id.clone(),
        std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
    )
    .build()?;
    std::fs::write(out.join("dashboard.json"), dashboard.body_json())?;
    let mut options = ConsumerOptions::new(&stream, &gremlin_url, &out);
    options.kinesis_endpoint = services.kinesis.url.clone();
    options.connection = connection.clone();
    options.write_mode = mode;
    options.batch_read_size = args.batch_read_size;
    options.fan_out = args.fan_out.clone();
    options.batch_write_size = args.writer.batch_write_size;
    options.write_concurrency = args.writer.write_concurrency;
    options.parallelization_factor = args.parallelization_factor;
    options.percent_error = args.percent_error;
    options.max_record_age = args.max_record_age_secs.map(Duration::from_secs);
    options.cluster_id = args.cluster_id.clone();
    let put_times = PutTimes::default();
    options.put_times = Some(put_times.clone());
    if change_run.is_some() {
        options.format = changes::record_format();
    }
    let consumer = Consumer::start(&options, run_metrics.sink.clone()).await?;
    let stats = consumer.pipeline.stats();
    let writer = consumer.sink.clone();
    let control = consumer.control();
    control.stop_on_signals();
    let consumer_task = tokio::spawn(consumer.run());
    say(format!(
        "[4/6] stream {stream}: {} shards, read by {}; consumer writing {}in {} mode, {} {items} per request, {} requests in flight",
        args.shard_count,
        match &args.fan_out {
            Some(name) => format!("enhanced fan-out as consumer {name}"),
            None => "polling GetRecords".to_owned(),
        },
        if args.changes {
            "change records (ChangeJson) as mutations "
        } else {
            ""
        },
        mode.as_str(),
        args.writer.batch_write_size
            .map_or("adaptive".into(), |n| n.to_string()),
        args.writer.write_concurrency
            .map_or("adaptive".into(), |n| n.to_string()),
    ));

    // 5. Drive the workload while the consumer writes.
    let drive_bar = bar(bars, total, "put");
    let graph_bar = bar(bars, total, "in graph");
    let ticker = {
        let stats = stats.clone();
        let graph_bar = graph_bar.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let sample = stats.sample();
                graph_bar.set_position(stats.snapshot().acknowledged);
                graph_bar.set_message(format!(
                    "{:.0} {items}/s, write p99 {:.1} ms, iterator age {} ms, held {}",
                    sample.items_per_s,
                    sample.write_p99_ms,
                    sample.iterator_age_ms as u64,
                    sample.held
                ));
            }
        })
    };
    let producer = KinesisProducer::from_client(
        kinesis_client.clone(),
        ProducerConfig::builder(StreamRef::parse(&stream)).build()?,
    )?;
    let driver_config = DriverConfig::builder()
        .period(Duration::from_millis(args.driver_period_ms))
        .batch_size(args.driver_batch_size)
        .payload(match change_run {
            Some(_) => PayloadFormat::Json,
            None => PayloadFormat::Csv,
        })
        .build()?;
    let records = KinesisRecordSink::new(producer).with_put_times(put_times);
    let observer = Arc::new(DriverBar(drive_bar.clone()));
    let driven = match &mut change_run {
        Some(run) => {
            let sink = Arc::new(ChangeRecords(records));
            run_driver(&driver_config, sink, run.carriers(), observer).await?
        }
        None => {
            let edges = EdgeReader::open(&dataset.edge_path, &EdgeFileConfig::default())?;
            run_driver(&driver_config, Arc::new(records), edges, observer).await?
        }
    };
    drive_bar.finish_and_clear();
    say(format!(
        "[5/6] driver: {} put ({} failed, {} retried) at {:.0} records/s ({:.0} requested), {} bad input lines",
        driven.accepted, driven.failed, driven.retried, driven.achieved_rate, driven.target_rate, driven.bad_input
    ));
    // Let the consumer catch up with everything the stream accepted, then stop it.
    let catch_up = Instant::now();
    while stats.snapshot().acknowledged < driven.accepted
        && !control.is_stopping()
        && !consumer_task.is_finished()
    {
        if catch_up.elapsed() > Duration::from_secs(600) {
            say("the consumer did not catch up within 10 minutes; stopping it".into());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    control.stop();
    let consumed = consumer_task.await.class_as(ExitClass::Failure)?;
    ticker.abort();
    graph_bar.finish_and_clear();
    consumed?;
    let last = stats.sample();
    say(format!(
        "      consumer: {}",
        live_line_of(&options.format, &stats, &last)
    ));

    // 6. Queries, on the reader endpoint (here the same server).
    say("[6/6] queries (reader endpoint):".into());
    for line in query_lines(connection.transport(&gremlin_url)).await {
        say(format!("      {line}"));
    }

    let identity = writer.edge_identity().clone();
    let (change_figures, edge_check) = match &change_run {
        Some(run) => {
            let reader = connection.transport(&gremlin_url);
            let check = run.check_graph(reader, &identity).await?;
            say(format!("      graph check: {}", check.line()));
            let generated = run.generated();
            (Some(ChangeFigures { generated, check }), None)
        }
        None => {
            let reader = connection.transport(&gremlin_url);
            let check = check_edges(reader, &identity, &dataset.edge_path).await?;
            say(format!("      graph check: {}", check.line()));
            (None, Some(check))
        }
    };

    let write_only = if args.compare_write_only {
        let rate = write_only(
            args,
            connection.sink(&gremlin_url),
            &vertex_sink,
            &dataset.edge_path,
        )
        .await?;
        say(format!(
            "      write-only: {} edges ({} failed) = {:.0} edges/s",
            rate.1, rate.2, rate.0
        ));
        Some(rate)
    } else {
        None
    };

    // Summary and report.
    let published = run_metrics.close().await;
    let figures = RunFigures {
        args,
        dataset_edges: dataset.edges,
        driven: &driven,
        stats: &stats,
        dead_letter_file: &out.join("dead-letters.jsonl"),
        mode,
        write_only,
        metrics: &run_metrics,
        published,
        dashboard: &out.join("dashboard.json"),
        sizing: writer.sizing(),
        sizing_history: writer.sizing_history(),
        queued_in_session: writer.queues_in_session(),
        elapsed: started.elapsed(),
        changes: change_figures,
        graph: GraphFigures {
            engine: services.engine,
            url: &gremlin_url,
            identity: &identity,
            indexed: writer.edge_id_indexed(),
            edge_check: edge_check.as_ref(),
        },
    };
    let summary = summary_lines(&figures);
    let report = out.join("report.html");
    let tables: Vec<_> = figures
        .changes
        .iter()
        .map(|c| changes::report_table(&c.generated, &stats.snapshot().changes))
        .collect();
    write_report_of(
        &report,
        &ReportContent {
            title: &format!("stream-2-neptune {run_id}"),
            summary: &summary,
            tables: &tables,
            items,
            timeline: &stats.timeline(),
        },
    )?;
    println!("\nSummary");
    for (k, v) in &summary {
        println!("  {k:<30} {v}");
    }
    println!("  {:<30} {}", "report", report.display());
    let _ = kinesis_client
        .delete_stream()
        .stream_name(&stream)
        .send()
        .await;
    let dead_letters = stats.snapshot().dead_letters;
    accounted_for(stats.items_done(), dead_letters, driven.accepted)?;
    if let Some(check) = &edge_check {
        check.verdict(dead_letters + driven.failed)?;
    }
    match &figures.changes {
        Some(c) => c.check.verdict(),
        None => Ok(()),
    }
}

/// The notebook's three queries, one line each. Whole-graph queries, as in the notebook: on a
/// graph far larger than this run's they can take longer than the request timeout, which is
/// reported without losing the summary.
async fn query_lines(reader: TransportConfigBuilder) -> Vec<String> {
    let schema = FollowsSchema::default();
    let run = async {
        let reader = GremlinTransport::connect(reader.build()?).await?;
        let followed = queries::most_followed(&reader, &schema, None, 10).await?;
        let following = queries::most_following(&reader, &schema, None, 10).await?;
        let recommended = match following.first() {
            Some(top) => queries::recommendations(&reader, &schema, &top.id, 10).await?,
            None => Vec::new(),
        };
        Ok::<_, neptune_batch::transport::GremlinError>((followed, following, recommended))
    };
    match run.await {
        Ok((followed, following, recommended)) => {
            let top = |degrees: &[queries::Degree]| {
                degrees
                    .iter()
                    .take(5)
                    .map(|d| format!("{} ({})", d.id, d.degree))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            vec![
                format!("most followed : {}", top(&followed)),
                format!("most following: {}", top(&following)),
                format!(
                    "recommended for {}: {}",
                    following.first().map(|d| d.id.as_str()).unwrap_or("-"),
                    recommended
                        .iter()
                        .take(5)
                        .map(|r| format!(
                            "{} {} #{} ({} paths)",
                            value_text(&r.first_name),
                            value_text(&r.last_name),
                            value_text(&r.id),
                            r.count
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ]
        }
        Err(e) => vec![format!("the queries failed: {e}")],
    }
}

/// Writes the run's edges straight through a sink (same mode, batch size, one request in
/// flight per shard) between copies of the vertices, loaded first and not timed, so the writes
/// meet the same graph the pipeline met. Returns edges/s, edges, failed.
async fn write_only(
    args: &Args,
    sink: GremlinSinkConfigBuilder,
    vertex_sink: &GremlinSink,
    edge_path: &std::path::Path,
) -> Result<(f64, usize, usize), Failure> {
    let config = args.writer.apply(sink).build()?;
    let sink = GremlinSink::connect(config).await?;
    let copy = |id: &str| format!("{id}{WRITE_ONLY_SUFFIX}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .class_as(ExitClass::Failure)?
        .as_millis() as i64;
    let schema = FollowsSchema::default();
    let edges: Vec<_> = EdgeReader::open(edge_path, &EdgeFileConfig::default())?
        .filter_map(Result::ok)
        .map(|e| schema.edge(&copy(&e.from), &copy(&e.to), &e.creation_date, now))
        .collect();
    let endpoints: std::collections::BTreeSet<&str> = edges
        .iter()
        .flat_map(|e| [e.from.as_str(), e.to.as_str()])
        .collect();
    let copies: Vec<Vertex> = endpoints
        .into_iter()
        .map(|id| Vertex::new(id, "person"))
        .collect();
    let loaded = vertex_sink.write_vertices(&copies).await?;
    if loaded.failed() > 0 {
        return Err(Failure::new(
            ExitClass::Failure,
            format!("write-only: {} vertex copies failed", loaded.failed()),
        ));
    }
    let t = Instant::now();
    let report = sink.write_edges(&edges).await?;
    let secs = t.elapsed().as_secs_f64();
    Ok((edges.len() as f64 / secs, edges.len(), report.failed()))
}
