//! The summary of a main-job run: the lines printed at the end and put in the report.

use super::Args;
use crate::metrics_setup::RunMetrics;
use graph_ingest::PipelineStats;
use neptune_batch::WriteMode;
use std::path::Path;
use std::time::Duration;
use workload_gen::driver::DriverSummary;

/// What a run measured.
pub(super) struct RunFigures<'a> {
    pub args: &'a Args,
    pub dataset_edges: u64,
    pub driven: &'a DriverSummary,
    pub stats: &'a PipelineStats,
    pub dead_letter_file: &'a Path,
    pub mode: WriteMode,
    /// Edges/s, edges, failed.
    pub write_only: Option<(f64, usize, usize)>,
    pub metrics: &'a RunMetrics,
    pub published: Option<String>,
    pub dashboard: &'a Path,
    /// The writer's batch size and requests in flight at the end, and their history.
    pub sizing: neptune_batch::sizing::Sizing,
    pub sizing_history: Vec<neptune_batch::sizing::SizingSample>,
    /// Whether the writes queued in a Gremlin Server session.
    pub queued_in_session: bool,
    pub elapsed: Duration,
}

/// The summary as (label, value) lines.
pub(super) fn summary_lines(f: &RunFigures<'_>) -> Vec<(String, String)> {
    let stats = f.stats;
    let totals = stats.snapshot();
    let write = stats.write_latency();
    let e2e = stats.end_to_end_latency();
    let timeline = stats.timeline();
    let consumed_secs = timeline.last().map_or(0.0, |s| s.t).max(1e-3);
    let max_lag = timeline.iter().map(|s| s.lag_ms).fold(0.0, f64::max);
    let line = |k: &str, v: String| (k.to_owned(), v);
    vec![
        line("edges generated", f.dataset_edges.to_string()),
        line("edges put on the stream", f.driven.accepted.to_string()),
        line("edges written", totals.items_written.to_string()),
        line(
            "edges already present",
            totals.items_already_present.to_string(),
        ),
        line(
            "dead letters",
            format!(
                "{} ({} expired; {})",
                totals.dead_letters,
                totals.expired,
                f.dead_letter_file.display()
            ),
        ),
        line(
            "driver rate",
            format!(
                "{:.0} records/s ({:.0} requested)",
                f.driven.achieved_rate, f.driven.target_rate
            ),
        ),
        line(
            "graph throughput",
            format!(
                "{:.0} edges/s over {consumed_secs:.1} s",
                stats.items_done() as f64 / consumed_secs
            ),
        ),
        line(
            "write latency",
            format!(
                "p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} write calls)",
                write.p50, write.p90, write.p99, write.max, write.count
            ),
        ),
        line(
            "put-to-graph latency",
            format!(
                "p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms (from each record's PutRecords call to its acknowledgement)",
                e2e.p50, e2e.p90, e2e.p99, e2e.max
            ),
        ),
        line(
            "lag",
            format!(
                "iterator age max {} ms (the newest record's age when read); MillisBehindLatest max {max_lag:.0} ms (as the service reports it)",
                totals.max_iterator_age_ms
            ),
        ),
        line(
            "holds",
            format!(
                "{} (shards held by transient failures, {:.1} s in all)",
                totals.holds,
                totals.held_ms as f64 / 1000.0
            ),
        ),
        line(
            "retries",
            format!(
                "{} by the sink, {} by the pipeline, {} faults injected",
                totals.sink_retries,
                totals.pipeline_retries,
                totals.injected_faults
            ),
        ),
        line("write mode", f.mode.as_str().into()),
        line(
            "write sizing",
            sizing_line(&f.sizing, &f.sizing_history, f.queued_in_session),
        ),
        line(
            "write-only rate, same run",
            match f.write_only {
                Some((rate, _, failed)) => format!("{rate:.0} edges/s ({failed} failed)"),
                None => "not measured (--compare-write-only)".into(),
            },
        ),
        line("shards", f.args.shard_count.to_string()),
        line("total time", format!("{:.1?}", f.elapsed)),
        line(
            "metrics",
            format!(
                "{} EdgesSubmitted over {} WriteDuration data points; CloudWatch: {}; dashboard body {}",
                f.metrics.memory.sum(metrics_sink::names::EDGES_SUBMITTED),
                f.metrics.memory.values(metrics_sink::names::WRITE_DURATION).len(),
                f.published.clone().unwrap_or_else(|| "not requested (--cloudwatch)".into()),
                f.dashboard.display()
            ),
        ),
    ]
}

/// The writer's batch size and requests in flight: where they ended, whether they adapted, and
/// what they went through.
fn sizing_line(
    end: &neptune_batch::sizing::Sizing,
    history: &[neptune_batch::sizing::SizingSample],
    queued_in_session: bool,
) -> String {
    let how = |adaptive: bool| if adaptive { "adapted" } else { "fixed" };
    let range = |f: fn(&neptune_batch::sizing::SizingSample) -> usize| {
        let lo = history.iter().map(f).min().unwrap_or(0);
        let hi = history.iter().map(f).max().unwrap_or(0);
        format!("{lo}..{hi}")
    };
    format!(
        "batch size {} ({}; {} over the run), requests in flight {} ({}; {}){}, {} decisions",
        end.batch_size,
        how(end.adaptive_batch_size),
        range(|s| s.batch_size),
        end.in_flight,
        how(end.adaptive_in_flight),
        range(|s| s.in_flight),
        if queued_in_session {
            " queued in one Gremlin Server session"
        } else {
            ""
        },
        history.len()
    )
}
