//! A fleet of KCL workers on this machine, as `kcl-fleet-bench` drives and measures it: the
//! backlog it drains, the fleet script (`scripts/kcl-fleet.sh`) run with the fleet's environment, the processors'
//! lifecycle events read back, the figures drawn from them, and the edges counted in the graph.

use kinesis_source::producer::{KinesisProducer, ProducerConfig, ProducerRecord};
use kinesis_source::StreamRef;
use neptune_batch::gremlin::{Bytecode, GValue};
use neptune_batch::transport::GremlinTransport;
use neptune_batch::{GraphSink, GremlinSink, Vertex};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use workload_gen::generator::{generate, GeneratorConfig};
use workload_gen::{FollowsEdge, PayloadFormat};

/// `scripts/kcl-fleet.sh` failed.
#[derive(Debug, thiserror::Error)]
#[error("scripts/kcl-fleet.sh {command}: {reason}")]
pub struct FleetScriptError {
    /// The arguments given.
    pub command: String,
    /// What went wrong: the script's own words when it said any.
    pub reason: String,
}

/// The script says what it lacks (Java, Maven, a setting); running it again as it is will not
/// mend that.
impl stream2neptune_common::Classify for FleetScriptError {
    fn kind(&self) -> stream2neptune_common::ErrorKind {
        stream2neptune_common::ErrorKind::Usage
    }
}

/// The fleet script with the environment every call gets.
#[derive(Debug, Clone)]
pub struct FleetScript {
    script: PathBuf,
    env: Vec<(String, String)>,
}

impl FleetScript {
    /// The script of the workspace at `root`, run with `env` added to this process's
    /// environment.
    pub fn new(root: &Path, env: Vec<(String, String)>) -> Self {
        Self {
            script: root.join("scripts/kcl-fleet.sh"),
            env,
        }
    }

    /// Runs the script with `args`; its standard output, trimmed.
    pub fn run(&self, args: &[&str]) -> Result<String, FleetScriptError> {
        let error = |reason: String| FleetScriptError {
            command: args.join(" "),
            reason,
        };
        let out = Command::new(&self.script)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .map_err(|e| error(format!("cannot run it: {e}")))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let said = stderr.lines().rev().find(|l| !l.trim().is_empty());
            return Err(error(format!(
                "{}{}",
                out.status,
                said.map(|l| format!(": {}", l.trim())).unwrap_or_default()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

/// A backlog waiting for the fleet: see [`put_backlog`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backlog {
    /// The persons' ids, as written into the graph.
    pub persons: Vec<String>,
    /// Distinct edges put on the stream: the edges the graph holds once the fleet drained it.
    pub distinct_edges: u64,
}

/// Generates the power-law data set of `generator`, writes its persons into the graph at
/// `gremlin_url`, reached through `connection` (ids prefixed to be new), and puts its edges on `stream`, before any worker
/// starts.
pub async fn put_backlog(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    gremlin_url: &str,
    connection: &crate::connection::Connection,
    generator: &GeneratorConfig,
) -> Result<Backlog, Box<dyn std::error::Error + Send + Sync>> {
    let prefix = format!("{}-", local_services::unique_name("b"));
    let data = generate(generator)?;
    let persons: Vec<String> = data
        .persons
        .iter()
        .map(|p| format!("{prefix}{}", p.id))
        .collect();
    let config = connection.sink(gremlin_url).batch_size(500).build()?;
    let vertices: Vec<Vertex> = persons
        .iter()
        .map(|id| Vertex::new(id.clone(), "person"))
        .collect();
    GremlinSink::connect(config)
        .await?
        .write_vertices(&vertices)
        .await?;
    let producer = KinesisProducer::from_client(
        client.clone(),
        ProducerConfig::builder(StreamRef::parse(stream)).build()?,
    )?;
    let mut distinct = BTreeSet::new();
    let records: Vec<ProducerRecord> = data
        .edges
        .iter()
        .map(|e| {
            let edge = FollowsEdge::new(
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
    Ok(Backlog {
        persons,
        distinct_edges: distinct.len() as u64,
    })
}

/// Every lifecycle event the processors appended in `dir` (one JSON object a line).
pub fn events(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        out.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
    }
    out
}

/// What the processors' events say about a run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FleetFigures {
    /// When the first lease was initialized (ms since the epoch), if one was.
    pub first_initialize_ms: Option<u64>,
    /// When the first batch was written, if one was.
    pub first_write_ms: Option<u64>,
    /// Processes that wrote batches.
    pub processors: usize,
    /// Workers whose processors wrote batches.
    pub workers_writing: usize,
    /// Requests the processors' sinks retried (write conflicts among them).
    pub sink_retries: u64,
    /// Items the processors' pipelines retried.
    pub item_retries: u64,
    /// Milliseconds the processors' sinks slept on write conflicts, summed over processors.
    pub conflict_sleep_ms: u64,
}

impl FleetFigures {
    /// The figures of `events` (see [`events`]).
    pub fn from_events(events: &[Value]) -> Self {
        let first = |kind: &str| {
            events
                .iter()
                .filter(|e| e["event"] == kind)
                .filter_map(|e| e["at_ms"].as_u64())
                .min()
        };
        // Each processor reports running totals: its last (largest) counts.
        let mut retries: BTreeMap<u64, (u64, u64, u64)> = BTreeMap::new();
        let mut workers = BTreeSet::new();
        for e in events.iter().filter(|e| e["event"] == "batch") {
            let r = retries.entry(e["pid"].as_u64().unwrap_or(0)).or_default();
            r.0 = r.0.max(e["sink_retries"].as_u64().unwrap_or(0));
            r.1 = r.1.max(e["pipeline_retries"].as_u64().unwrap_or(0));
            r.2 = r.2.max(e["conflict_sleep_ms"].as_u64().unwrap_or(0));
            workers.insert(e["worker"].as_str().unwrap_or_default().to_owned());
        }
        Self {
            first_initialize_ms: first("initialize"),
            first_write_ms: first("batch"),
            processors: retries.len(),
            workers_writing: workers.len(),
            sink_retries: retries.values().map(|r| r.0).sum(),
            item_retries: retries.values().map(|r| r.1).sum(),
            conflict_sleep_ms: retries.values().map(|r| r.2).sum(),
        }
    }
}

/// The `follows` edges out of `persons` in the graph, counted 1 000 persons a request; a
/// request that fails counts nothing (the caller asks again later).
pub async fn edges_in_graph(transport: &GremlinTransport, persons: &[String]) -> u64 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn figures_take_each_processors_last_totals_and_the_first_times() {
        let events = vec![
            json!({"at_ms": 1_000, "event": "initialize", "pid": 1, "worker": "w1"}),
            json!({"at_ms": 1_500, "event": "batch", "pid": 1, "worker": "w1",
                   "sink_retries": 2, "pipeline_retries": 0, "conflict_sleep_ms": 30}),
            json!({"at_ms": 1_900, "event": "batch", "pid": 1, "worker": "w1",
                   "sink_retries": 5, "pipeline_retries": 1, "conflict_sleep_ms": 70}),
            json!({"at_ms": 1_200, "event": "batch", "pid": 2, "worker": "w2",
                   "sink_retries": 1, "pipeline_retries": 0, "conflict_sleep_ms": 10}),
        ];
        let f = FleetFigures::from_events(&events);
        assert_eq!(f.first_initialize_ms, Some(1_000));
        assert_eq!(f.first_write_ms, Some(1_200));
        assert_eq!((f.processors, f.workers_writing), (2, 2));
        assert_eq!((f.sink_retries, f.item_retries), (6, 1));
        assert_eq!(f.conflict_sleep_ms, 80);
    }

    #[cfg(unix)]
    #[test]
    fn a_failing_script_says_its_last_words() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("scripts")).unwrap();
        let path = dir.path().join("scripts/kcl-fleet.sh");
        std::fs::write(
            &path,
            "#!/bin/sh\necho \"kcl-fleet: Java 11+ is required\" >&2\nexit 3\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = FleetScript::new(dir.path(), vec![])
            .run(&["resolve"])
            .unwrap_err();
        assert_eq!(e.command, "resolve");
        assert!(
            e.reason.ends_with(": kcl-fleet: Java 11+ is required"),
            "{e}"
        );
    }
}
