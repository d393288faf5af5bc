//! The main job: the whole stream-to-graph system on one machine, end to end, in six steps
//! (services, data set, vertices, stream and consumer, workload, queries and the check that the
//! graph holds every edge), then a summary and an HTML report. The `stream-2-neptune` binary
//! parses the arguments and calls [`run`].
//!
//! `--graph` chooses the engine: the TinkerPop Gremlin Server (default), JanusGraph Server
//! (started with `scripts/janusgraph-server.sh` unless one answers), or Neptune (named by
//! `GREMLIN_URL`, nothing started). The sink finds at connect how the engine names edges
//! (`GremlinSink::edge_identity`); the check and the summary follow it.
//!
//! With `--changes`, a seeded change stream (follows, unfollows, profile edits, account
//! closures) takes the place of the follows workload, on the data set's persons under ids of
//! the run's own; the summary counts each kind, and the run fails (status 65) unless the graph
//! holds exactly the follows the changes leave and none of the closed accounts.

mod args;
mod changes;
mod graph_check;
mod services;
mod steps;
mod summary;

pub use args::{Args, GraphEngine, GraphSource, NEPTUNE_NEEDS_ENDPOINT};
pub use services::Services;

use crate::cli::{ExitClass, Failure};
use indicatif::{MultiProgress, ProgressDrawTarget};
use std::time::Instant;

/// Runs the main job; the services it started are stopped at the end (unless
/// `--keep-services`), whatever happened.
pub async fn run(args: Args, bars: MultiProgress) -> Result<(), Failure> {
    let args = args.resolved();
    let started = Instant::now();
    let say = |m: String| bars.suspend(|| println!("{m}"));
    let source = args.graph_source(std::env::var("GREMLIN_URL").ok().as_deref())?;
    let services = Services::start(args.graph, &source).await?;
    say("[1/6] services:".into());
    for line in services.describe() {
        say(format!("      {line}"));
    }
    let outcome = steps::run_steps(&args, &services, &bars, started).await;
    say("services:".into());
    for line in services.finish(args.keep_services).await {
        say(format!("      {line}"));
    }
    outcome
}

/// Progress bars drawn on standard error when wanted, hidden otherwise.
pub fn progress_bars(wanted: bool) -> MultiProgress {
    if wanted {
        MultiProgress::new()
    } else {
        MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
    }
}

/// The check that ends a run: every record the stream accepted is in the graph or in the
/// dead-letter file.
fn accounted_for(done: u64, dead: u64, accepted: u64) -> Result<(), Failure> {
    if done + dead < accepted {
        return Err(Failure::new(
            ExitClass::Data,
            format!(
                "{} of the {accepted} records put on the stream reached neither the graph nor the dead-letter file",
                accepted - done - dead
            ),
        ));
    }
    Ok(())
}
