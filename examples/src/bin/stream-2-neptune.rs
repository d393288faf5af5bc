//! The main job: the whole stream-to-graph system on one machine, end to end: services, data
//! set, vertices, stream and consumer, workload, queries, summary and report (see
//! `stream2neptune_examples::main_job`). Small defaults finish in about a minute; `--full` uses
//! the original's size (about 2 million edges among 100 000 persons).

use clap::Parser;
use std::process::ExitCode;
use stream2neptune_examples::{cli, main_job};

#[tokio::main]
async fn main() -> ExitCode {
    let args = main_job::Args::parse();
    let bars = main_job::progress_bars(cli::progress_wanted(args.no_progress));
    cli::init_logging_above("info", Some(bars.clone()));
    cli::exit("stream-2-neptune", main_job::run(args, bars).await)
}
