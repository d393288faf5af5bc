//! The main job's command line, named after the original's parameters; every flag can also come
//! from the environment variable shown in `--help`.

use crate::cli::{ExitClass, Failure, WriterArgs};
use clap::Parser;
use std::path::PathBuf;

/// Run the whole follows-edges pipeline locally: start the services, generate the data set,
/// load the vertices, stream the edges, write them into the graph, query it, report.
///
/// With --changes, a stream of changes (follows, unfollows, profile edits, account closures)
/// goes through the stream and the consumer instead of the follows, and the graph is checked
/// against what the changes must leave.
///
/// The graph is the TinkerPop Gremlin Server (the default), JanusGraph Server or Amazon
/// Neptune, as --graph says. Services it starts (the Gremlin Server or JanusGraph Server through Maven
/// and Java unless one answers on its port or GREMLIN_URL names one; a Kinesis API inside the
/// process unless KINESIS_ENDPOINT_URL names one) are stopped at the end unless
/// --keep-services is given. With --graph neptune it starts no graph: GREMLIN_URL must name
/// the cluster's endpoint.
///
/// Logging: RUST_LOG (default `info`), e.g. RUST_LOG=debug. Exit status: 0 done, 1 failure,
/// 2 usage, 65 records neither in the graph nor in the dead-letter file, 69 a service did not
/// answer, 78 configuration; with --changes, 65 also when the graph is not what the changes
/// must leave.
#[derive(Debug, Parser)]
#[command(name = "stream-2-neptune", version, about, long_about)]
pub struct Args {
    /// Persons (vertices) in the generated data set.
    #[arg(long, env = "PERSONS", default_value_t = 5_000)]
    pub persons: u32,
    /// Follows edges in the generated data set.
    #[arg(long, env = "EDGES", default_value_t = 40_000)]
    pub edges: u64,
    /// The original's size: 100 000 persons and 2 000 000 edges.
    #[arg(long, env = "FULL")]
    pub full: bool,
    /// Seed of the data set.
    #[arg(long, env = "SEED", default_value_t = 1)]
    pub seed: u64,
    /// Shards of the stream (ShardCount).
    #[arg(long, env = "SHARD_COUNT", default_value_t = 2)]
    pub shard_count: i32,
    /// Records per GetRecords call (BatchReadSize).
    #[arg(long, env = "BATCH_READ_SIZE", default_value_t = 1000)]
    pub batch_read_size: usize,
    /// Read through enhanced fan-out (SubscribeToShard) as the consumer of this name instead
    /// of polling GetRecords.
    #[arg(long, env = "FAN_OUT_CONSUMER")]
    pub fan_out: Option<String>,
    /// How the graph is written (batch size, requests in flight, mode).
    #[command(flatten)]
    pub writer: WriterArgs,
    /// Batches of one shard processed at once, by partition key (ParallelizationFactor, 1-10).
    #[arg(long, env = "PARALLELIZATION_FACTOR", default_value_t = 1)]
    pub parallelization_factor: usize,
    /// Milliseconds between driver batches (DriverPeriod).
    #[arg(long = "driver-period", env = "DRIVER_PERIOD", default_value_t = 100)]
    pub driver_period_ms: u64,
    /// Edges per driver batch (DriverBatchSize).
    #[arg(long, env = "DRIVER_BATCH_SIZE", default_value_t = 100)]
    pub driver_batch_size: usize,
    /// Percentage of write calls failed on purpose (PercentError); they are written again.
    #[arg(long, env = "PERCENT_ERROR", default_value_t = 0)]
    pub percent_error: u8,
    /// Records older than this whose write keeps failing for a transient reason become dead
    /// letters (MaximumRecordAgeInSeconds); unset = held as long as it takes.
    #[arg(long, env = "MAX_RECORD_AGE_SECS")]
    pub max_record_age_secs: Option<u64>,
    /// The clusterId metric dimension.
    #[arg(long, env = "CLUSTER_ID", default_value = "local")]
    pub cluster_id: String,
    /// Where the data set, checkpoints, dead letters and the report go.
    #[arg(long, env = "OUT_DIR", default_value = "out")]
    pub out_dir: PathBuf,
    /// Also publish metrics to CloudWatch (CLOUDWATCH_ENDPOINT_URL, else the local API on
    /// 127.0.0.1:4566 started by `scripts/cloudwatch-local.sh start`).
    #[arg(long, env = "CLOUDWATCH")]
    pub cloudwatch: bool,
    /// After the run, write the same edges straight through the sink between copies of the
    /// vertices, to compare the pipeline's rate with the write-only rate of the graph writer
    /// in the same run, on the same starting graph. Adds the copies and their edges.
    #[arg(long, env = "COMPARE_WRITE_ONLY", conflicts_with = "changes")]
    pub compare_write_only: bool,
    /// Instead of the follows workload, put a seeded change stream on the stream (follows,
    /// unfollows, profile edits, account closures, one JSON change record each, on the data
    /// set's persons under ids of this run's own) and check at the end that the graph holds
    /// exactly the follows left and none of the closed accounts.
    #[arg(long, env = "CHANGES")]
    pub changes: bool,
    /// Changes in the change stream of --changes; default: --edges, so that a run of the same
    /// size is comparable.
    #[arg(long, env = "CHANGE_COUNT", requires = "changes")]
    pub change_count: Option<u64>,
    /// How the Gremlin endpoint of GREMLIN_URL is reached (TLS name, signing host, CA file,
    /// IAM).
    #[command(flatten)]
    pub connection: crate::connection::ConnectionArgs,
    /// The graph to write to: gremlin-server (TinkerGraph), janusgraph or neptune; each
    /// value's meaning is listed below.
    #[arg(long, env = "GRAPH", value_enum, default_value_t = GraphEngine::GremlinServer)]
    pub graph: GraphEngine,
    /// Port of the local Gremlin Server to use or start (--graph gremlin-server).
    #[arg(long, env = "GREMLIN_PORT", default_value_t = 8182)]
    pub gremlin_port: u16,
    /// Port of the local JanusGraph Server to use or start (--graph janusgraph).
    #[arg(long, env = "JANUSGRAPH_PORT", default_value_t = local_services::JANUSGRAPH_DEFAULT_PORT)]
    pub janusgraph_port: u16,
    /// Leave the services this run started running, and say how to stop them.
    #[arg(long, env = "KEEP_SERVICES")]
    pub keep_services: bool,
    /// No progress bars (none are drawn anyway when standard error is not a terminal).
    #[arg(long, env = "NO_PROGRESS")]
    pub no_progress: bool,
}

/// The graph engine a run writes to (`--graph`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphEngine {
    /// The TinkerPop Gremlin Server with TinkerGraph: GREMLIN_URL, else the local one on
    /// --gremlin-port, started with scripts/gremlin-server.sh unless one answers there.
    GremlinServer,
    /// JanusGraph Server (edge ids kept in a property): GREMLIN_URL, else the local one on
    /// --janusgraph-port, started with scripts/janusgraph-server.sh unless one answers there.
    #[value(name = "janusgraph")]
    JanusGraph,
    /// Amazon Neptune, or any endpoint already running: GREMLIN_URL names it (required);
    /// nothing is started or stopped.
    Neptune,
}

impl GraphEngine {
    /// The name `--graph` takes.
    pub fn name(self) -> &'static str {
        match self {
            GraphEngine::GremlinServer => "gremlin-server",
            GraphEngine::JanusGraph => "janusgraph",
            GraphEngine::Neptune => "neptune",
        }
    }
}

/// Where a run finds its graph, from `--graph` and `GREMLIN_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphSource {
    /// The endpoint `GREMLIN_URL` names: used as it is, nothing started.
    Named,
    /// The local Gremlin Server on this port, started unless one answers there.
    LocalGremlin(u16),
    /// The local JanusGraph Server on this port, started unless one answers there.
    LocalJanusGraph(u16),
}

/// The message of `--graph neptune` without an endpoint.
pub const NEPTUNE_NEEDS_ENDPOINT: &str = "--graph neptune starts nothing and needs an endpoint: \
     set GREMLIN_URL=wss://CLUSTER-ENDPOINT:8182/gremlin";

impl Args {
    /// Where the graph is, given the value of `GREMLIN_URL`: a usage error for `--graph neptune`
    /// without one.
    pub fn graph_source(&self, gremlin_url: Option<&str>) -> Result<GraphSource, Failure> {
        if gremlin_url.is_some_and(|url| !url.trim().is_empty()) {
            return Ok(GraphSource::Named);
        }
        match self.graph {
            GraphEngine::GremlinServer => Ok(GraphSource::LocalGremlin(self.gremlin_port)),
            GraphEngine::JanusGraph => Ok(GraphSource::LocalJanusGraph(self.janusgraph_port)),
            GraphEngine::Neptune => Err(Failure::new(ExitClass::Usage, NEPTUNE_NEEDS_ENDPOINT)),
        }
    }

    /// The arguments with `--full` applied.
    pub fn resolved(mut self) -> Self {
        if self.full {
            self.persons = 100_000;
            self.edges = 2_000_000;
        }
        self
    }

    /// Changes in the change stream of `--changes`.
    pub fn changes_to_generate(&self) -> u64 {
        self.change_count.unwrap_or(self.edges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("stream-2-neptune").chain(args.iter().copied()))
    }

    #[test]
    fn graph_takes_the_three_engines_and_defaults_to_the_gremlin_server() {
        // GRAPH in the environment of the test run would change the default.
        if std::env::var_os("GRAPH").is_none() {
            assert_eq!(parse(&[]).unwrap().graph, GraphEngine::GremlinServer);
        }
        for engine in [
            GraphEngine::GremlinServer,
            GraphEngine::JanusGraph,
            GraphEngine::Neptune,
        ] {
            assert_eq!(parse(&["--graph", engine.name()]).unwrap().graph, engine);
        }
        let wrong = parse(&["--graph", "janus-graph"]).unwrap_err();
        assert_eq!(wrong.kind(), clap::error::ErrorKind::InvalidValue);
    }

    #[test]
    fn each_engine_finds_its_graph_where_it_should() {
        let args = |graph: &str| {
            parse(&[
                "--graph",
                graph,
                "--gremlin-port",
                "8192",
                "--janusgraph-port",
                "8193",
            ])
            .unwrap()
        };
        assert_eq!(
            args("gremlin-server").graph_source(None).unwrap(),
            GraphSource::LocalGremlin(8192)
        );
        assert_eq!(
            args("janusgraph").graph_source(None).unwrap(),
            GraphSource::LocalJanusGraph(8193)
        );
        for graph in ["gremlin-server", "janusgraph", "neptune"] {
            assert_eq!(
                args(graph)
                    .graph_source(Some("wss://db.example:8182/gremlin"))
                    .unwrap(),
                GraphSource::Named
            );
        }
    }

    #[test]
    fn neptune_without_an_endpoint_is_a_one_line_usage_error() {
        let args = parse(&["--graph", "neptune"]).unwrap();
        for url in [None, Some(""), Some("  ")] {
            let failure = args.graph_source(url).unwrap_err();
            assert_eq!(failure.class, ExitClass::Usage);
            let text = failure.to_string();
            assert!(!text.contains('\n'), "{text}");
            assert!(text.contains("GREMLIN_URL"), "{text}");
        }
    }
}
