//! Command-line pieces the binaries share: logging set up from `RUST_LOG`, errors printed as
//! one human line with an exit code per class, progress only on a terminal, the write mode.

use neptune_batch::gremlin::GValue;
use neptune_batch::WriteMode;
use std::error::Error;
use std::io::IsTerminal;
use std::process::ExitCode;
use stream2neptune_common::{Classify, ErrorKind};

/// The class of a failure, and the process's exit status for it (documented in the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitClass {
    /// Anything not classed below: 1.
    Failure,
    /// The command line is wrong: 2 (as clap answers).
    Usage,
    /// The configuration cannot work (a file that cannot be written, checkpoints of another
    /// stream, an unknown stream, an invalid setting): 78 (`EX_CONFIG`).
    Configuration,
    /// A service did not answer (the Gremlin Server, the Kinesis or CloudWatch API): 69
    /// (`EX_UNAVAILABLE`).
    Unreachable,
    /// The data did not all arrive where it should (records neither in the graph nor in the
    /// dead-letter file, bad input files): 65 (`EX_DATAERR`).
    Data,
}

impl ExitClass {
    /// The class of a failure of this kind: a service that did not answer is `Unreachable`,
    /// settings to change are `Configuration`, bad input is `Data`, and a failure that may
    /// pass if tried again (throttling, a conflict that outlasted its retries) is a plain
    /// `Failure`: the program did not finish, and running it again is the remedy.
    pub fn of(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Unreachable => ExitClass::Unreachable,
            ErrorKind::Usage => ExitClass::Configuration,
            ErrorKind::Permanent => ExitClass::Data,
            _ => ExitClass::Failure,
        }
    }

    /// The exit status.
    pub fn code(self) -> u8 {
        match self {
            ExitClass::Failure => 1,
            ExitClass::Usage => 2,
            ExitClass::Configuration => 78,
            ExitClass::Unreachable => 69,
            ExitClass::Data => 65,
        }
    }
}

/// A failure of a binary: what to print and how to exit.
#[derive(Debug)]
pub struct Failure {
    /// The class.
    pub class: ExitClass,
    /// The error.
    pub error: Box<dyn Error + Send + Sync>,
}

impl Failure {
    /// A failure of a given class.
    pub fn new(class: ExitClass, error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self {
            class,
            error: error.into(),
        }
    }
}

/// The error and its causes on one line, as the binaries print it.
impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&one_line(self.error.as_ref()))
    }
}

/// The class of an error that does not know its kind (another crate's, passed along boxed): the
/// first operating-system error among its causes decides, else `otherwise`.
fn foreign_class(error: &(dyn Error + 'static), otherwise: ExitClass) -> ExitClass {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return ExitClass::of(io.kind_of_failure());
        }
        next = e.source();
    }
    otherwise
}

/// [`Classify::kind`] under a name that does not hide `std::io::Error::kind`.
trait KindOfFailure {
    fn kind_of_failure(&self) -> ErrorKind;
}

impl<E: Classify> KindOfFailure for E {
    fn kind_of_failure(&self) -> ErrorKind {
        self.kind()
    }
}

/// Errors that do not know their kind (a task that panicked, a clock before 1970, another
/// crate's boxed error, a message) become failures of a class the caller names.
pub trait ClassAs<T> {
    /// The failure of class `class` (or, for a boxed error with an operating-system error
    /// among its causes, that error's class).
    fn class_as(self, class: ExitClass) -> Result<T, Failure>;
}

impl<T, E: Into<Box<dyn Error + Send + Sync>>> ClassAs<T> for Result<T, E> {
    fn class_as(self, class: ExitClass) -> Result<T, Failure> {
        self.map_err(|e| {
            let error = e.into();
            Failure {
                class: foreign_class(error.as_ref(), class),
                error,
            }
        })
    }
}

/// Every error of the workspace's libraries (and of the operating system) knows its kind, which
/// decides the class.
impl<E: Classify + Send + Sync + 'static> From<E> for Failure {
    fn from(error: E) -> Self {
        Self {
            class: ExitClass::of(error.kind()),
            error: Box::new(error),
        }
    }
}

/// The error and its causes on one line, each cause once: `a: b: c`.
pub fn one_line(error: &(dyn Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        next = cause.source();
    }
    line.replace('\n', " ")
}

/// Prints a failure as one line on standard error (`NAME: error: ...`) and gives its status.
pub fn exit(name: &str, outcome: Result<(), Failure>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("{name}: error: {}", one_line(f.error.as_ref()));
            ExitCode::from(f.class.code())
        }
    }
}

/// Logs to standard error, filtered by `RUST_LOG` (e.g. `RUST_LOG=debug` or
/// `RUST_LOG=warn,graph_ingest=info`), else by `default`.
pub fn init_logging(default: &str) {
    init_logging_above(default, None);
}

/// Like [`init_logging`], with log lines printed above `bars` instead of through them.
pub fn init_logging_above(default: &str, bars: Option<indicatif::MultiProgress>) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal());
    match bars {
        Some(bars) => builder.with_writer(move || AboveBars(bars.clone())).init(),
        None => builder.with_writer(std::io::stderr).init(),
    }
}

/// Logging for a program whose log collector stamps and keeps each line (Lambda's CloudWatch
/// Logs): on standard output, as Lambda expects, without time stamps or colours, filtered by
/// `RUST_LOG`, else by `default`.
pub fn init_logging_for_lambda(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .without_time()
        .with_target(true)
        .init();
}

/// Waits for Ctrl-C (SIGINT) or, on Unix, SIGTERM: how a service this program serves is asked
/// to stop (by a terminal, a script's `kill`, or a process manager).
pub async fn stop_requested() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

/// Writes to standard error with the progress bars cleared and redrawn around it.
struct AboveBars(indicatif::MultiProgress);

impl std::io::Write for AboveBars {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.suspend(|| std::io::stderr().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Whether progress should be drawn: asked for, and standard error is a terminal.
pub fn progress_wanted(no_progress: bool) -> bool {
    !no_progress && std::io::stderr().is_terminal()
}

/// An AWS endpoint setting as the SDK wants it: `None` (AWS itself) for an unset or empty
/// value or the word `aws`, else the URL.
pub fn endpoint_url(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty() && *v != "aws")
}

/// How edges are written, as a command-line value (`plain`, `conditional`, `merge`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WriteModeArg {
    /// The original's chained `addE`.
    Plain,
    /// The original's `fold().coalesce(unfold(), addE…)` idiom.
    Conditional,
    /// `mergeE` keyed by id.
    Merge,
}

impl WriteModeArg {
    /// The mode to use: the original's `ConditionalCreate` switch, when set, wins.
    pub fn resolve(self, conditional_create: bool) -> WriteMode {
        match (conditional_create, self) {
            (true, _) | (_, WriteModeArg::Conditional) => WriteMode::Conditional,
            (_, WriteModeArg::Plain) => WriteMode::Plain,
            (_, WriteModeArg::Merge) => WriteMode::Merge,
        }
    }
}

/// How the graph is written: the options every binary that writes edges shares (flatten them
/// into its own arguments with `#[command(flatten)]`).
#[derive(Debug, Clone, clap::Args)]
pub struct WriterArgs {
    /// Edges per write request (BatchWriteSize; the original's was 100). Unset: adapted to the
    /// server (from 1000), as requests in flight are.
    #[arg(long, env = "BATCH_WRITE_SIZE")]
    pub batch_write_size: Option<usize>,
    /// Write requests in flight at once, for the whole consumer (writes that share a vertex
    /// never run at once). Unset: adapted to the server (from 4, at most 8).
    #[arg(long, env = "WRITE_CONCURRENCY")]
    pub write_concurrency: Option<usize>,
    /// Use the original's conditional (coalesce) upsert idiom; same as --write-mode conditional.
    #[arg(long, env = "CONDITIONAL_CREATE")]
    pub conditional_create: bool,
    /// How edges are written.
    #[arg(long, value_enum, env = "WRITE_MODE", default_value = "merge")]
    pub write_mode: WriteModeArg,
}

impl WriterArgs {
    /// The write mode asked for (`--conditional-create` wins, as the original's switch).
    pub fn mode(&self) -> WriteMode {
        self.write_mode.resolve(self.conditional_create)
    }

    /// Sets the batch size, requests in flight and mode of `config` from these options.
    pub fn apply(
        &self,
        config: neptune_batch::GremlinSinkConfigBuilder,
    ) -> neptune_batch::GremlinSinkConfigBuilder {
        config
            .batch_size(self.batch_write_size)
            .in_flight(self.write_concurrency)
            .mode(self.mode())
    }
}

/// A query result value as text: strings as they are, integers in decimal, anything else in
/// its debug form; nothing for a missing value.
pub fn value_text(value: &Option<GValue>) -> String {
    value
        .as_ref()
        .map(|g| {
            g.as_str()
                .map(str::to_owned)
                .or_else(|| g.as_i64().map(|n| n.to_string()))
                .unwrap_or_else(|| format!("{g:?}"))
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_library_error_has_its_exit_class_and_prints_on_one_line() {
        let refused = neptune_batch::SinkError::Connect {
            endpoint: "ws://127.0.0.1:1/gremlin".into(),
            source: "Connection refused (os error 111)".into(),
        };
        let f = Failure::from(refused);
        assert_eq!(f.class, ExitClass::Unreachable);
        assert_eq!(
            one_line(f.error.as_ref()),
            "cannot connect to ws://127.0.0.1:1/gremlin: Connection refused (os error 111)"
        );
        let foreign = kinesis_source::SourceError::ForeignCheckpoint {
            store: "cp.json".into(),
            checkpoint_stream: "a".into(),
            stream: "b".into(),
        };
        assert_eq!(Failure::from(foreign).class, ExitClass::Configuration);
        assert_eq!(ExitClass::Configuration.code(), 78);
        let bad_line = workload_gen::reader::ReadError::BadLine {
            file: "follows.csv".into(),
            line: 3,
            reason: "4 columns".into(),
        };
        assert_eq!(Failure::from(bad_line).class, ExitClass::Data);
        let port_taken = std::io::Error::from(std::io::ErrorKind::AddrInUse);
        assert_eq!(Failure::from(port_taken).class, ExitClass::Configuration);
        assert_eq!(ExitClass::of(ErrorKind::Retriable), ExitClass::Failure);
    }

    #[test]
    fn conditional_create_wins_over_the_write_mode() {
        assert_eq!(WriteModeArg::Merge.resolve(true), WriteMode::Conditional);
        assert_eq!(WriteModeArg::Plain.resolve(false), WriteMode::Plain);
        assert_eq!(WriteModeArg::Merge.resolve(false), WriteMode::Merge);
    }
}
