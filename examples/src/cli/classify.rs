//! The class of an error, read from the typed errors of the workspace's libraries: what a
//! binary's exit status says about it.

use super::ExitClass;
use std::error::Error;
use std::io::ErrorKind;

/// The class of an error. The error and then each of its causes is looked at in turn; the
/// first one of a type known here decides. Operating-system errors of the network (refused,
/// reset, timed out, unreachable) mean a service did not answer; a port in use or a permission
/// refused is configuration. Anything else is a plain failure.
pub fn classify(error: &(dyn Error + 'static)) -> ExitClass {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(class) = typed(e) {
            return class;
        }
        next = e.source();
    }
    ExitClass::Failure
}

/// The class of one error of a type known here, without looking at its causes.
fn typed(error: &(dyn Error + 'static)) -> Option<ExitClass> {
    use ExitClass::{Configuration, Data, Failure, Unreachable};
    macro_rules! is {
        ($t:ty, $f:expr) => {
            if let Some(e) = error.downcast_ref::<$t>() {
                return Some($f(e));
            }
        };
    }
    is!(kinesis_source::SourceError, source);
    is!(kinesis_source::ApiError, api);
    is!(kinesis_source::PutFailure, put);
    is!(kinesis_source::ConfigError, |_| Configuration);
    is!(neptune_batch::SinkError, sink);
    is!(neptune_batch::GremlinError, gremlin);
    is!(graph_ingest::PipelineError, pipeline);
    is!(graph_ingest::DeadLetterError, |_| Configuration);
    is!(graph_ingest::ConfigError, |_| Configuration);
    is!(neptune_batch::load::VertexLoadError, vertex_load);
    is!(neptune_batch::load::LoadConfigError, |_| Configuration);
    is!(neptune_batch::load::csv::CsvError, |_| Data);
    is!(neptune_batch::load::bulk_loader::BulkLoadError, bulk_load);
    is!(
        workload_gen::ReadError,
        |e: &workload_gen::ReadError| match e {
            workload_gen::ReadError::Config { .. } => Configuration,
            _ => Data,
        }
    );
    is!(workload_gen::DecodeError, |_| Data);
    is!(workload_gen::ConfigError, |_| Configuration);
    is!(workload_gen::DriverConfigError, |_| Configuration);
    // The generator's configuration, or a data-set file that cannot be written.
    is!(workload_gen::DatasetError, |_| Configuration);
    is!(
        workload_gen::RecordSinkError,
        |e: &workload_gen::RecordSinkError| {
            if e.is_retriable() {
                Unreachable
            } else {
                Failure
            }
        }
    );
    is!(metrics_sink::MetricsError, metrics);
    is!(
        local_services::ServiceError,
        |e: &local_services::ServiceError| {
            if e.is_retriable() {
                Unreachable
            } else {
                Configuration
            }
        }
    );
    error.downcast_ref::<std::io::Error>().and_then(io)
}

fn source(e: &kinesis_source::SourceError) -> ExitClass {
    use kinesis_source::SourceError;
    match e {
        SourceError::ForeignCheckpoint { .. } | SourceError::Config(_) => ExitClass::Configuration,
        SourceError::Checkpoint { retriable, .. } => {
            if *retriable {
                ExitClass::Failure
            } else {
                ExitClass::Configuration
            }
        }
        SourceError::Service { message, .. } if message.contains("ResourceNotFound") => {
            ExitClass::Configuration
        }
        SourceError::Service {
            retriable: true, ..
        } => ExitClass::Unreachable,
        _ => ExitClass::Failure,
    }
}

fn api(e: &kinesis_source::ApiError) -> ExitClass {
    use kinesis_source::ApiErrorKind;
    match e.kind {
        // An unknown stream, or a call the service refuses whatever the moment (a bad
        // argument, access denied): the settings must change.
        ApiErrorKind::NotFound | ApiErrorKind::Fatal => ExitClass::Configuration,
        ApiErrorKind::Transient | ApiErrorKind::Throttled | ApiErrorKind::ExpiredIterator => {
            ExitClass::Unreachable
        }
        _ => ExitClass::Failure,
    }
}

fn put(e: &kinesis_source::PutFailure) -> ExitClass {
    use kinesis_source::PutFailure;
    match e {
        PutFailure::TooLarge { .. } | PutFailure::InvalidPartitionKey { .. } => ExitClass::Data,
        PutFailure::CallFailed { error, .. } => api(error),
        PutFailure::Rejected { .. } if e.is_retriable() => ExitClass::Unreachable,
        _ => ExitClass::Failure,
    }
}

fn sink(e: &neptune_batch::SinkError) -> ExitClass {
    use neptune_batch::SinkError;
    match e {
        SinkError::Connect { .. } => ExitClass::Unreachable,
        SinkError::Config(_) => ExitClass::Configuration,
        _ => ExitClass::Failure,
    }
}

fn gremlin(e: &neptune_batch::GremlinError) -> ExitClass {
    use neptune_batch::transport::ErrorClass;
    use neptune_batch::GremlinError;
    match e {
        GremlinError::InvalidConfig { .. } | GremlinError::Signing(_) => ExitClass::Configuration,
        GremlinError::Connect { .. }
        | GremlinError::ConnectionLost(_)
        | GremlinError::Timeout(_) => ExitClass::Unreachable,
        GremlinError::Server { class, .. } => match class {
            ErrorClass::Unauthorized => ExitClass::Configuration,
            ErrorClass::Throttled => ExitClass::Unreachable,
            _ => ExitClass::Failure,
        },
        GremlinError::Protocol(_) => ExitClass::Failure,
    }
}

fn pipeline(e: &graph_ingest::PipelineError) -> ExitClass {
    use graph_ingest::PipelineError;
    match e {
        PipelineError::Source(e) => source(e),
        PipelineError::Sink(e) => sink(e),
        PipelineError::Config(_) | PipelineError::DeadLetter(_) => ExitClass::Configuration,
        _ => ExitClass::Failure,
    }
}

fn vertex_load(e: &neptune_batch::load::VertexLoadError) -> ExitClass {
    use neptune_batch::load::VertexLoadError;
    match e {
        VertexLoadError::Config(_) => ExitClass::Configuration,
        // A file that cannot be opened, has no usable header or breaks part-way.
        VertexLoadError::Open(_) | VertexLoadError::ReadFailed { .. } => ExitClass::Data,
        VertexLoadError::SinkFailed { source, .. } => sink(source),
        _ => ExitClass::Failure,
    }
}

fn bulk_load(e: &neptune_batch::load::bulk_loader::BulkLoadError) -> ExitClass {
    use neptune_batch::load::bulk_loader::BulkLoadError;
    match e {
        BulkLoadError::Config { .. } | BulkLoadError::Signing(_) => ExitClass::Configuration,
        BulkLoadError::Timeout { .. }
        | BulkLoadError::Connect { .. }
        | BulkLoadError::RetriesExhausted { .. } => ExitClass::Unreachable,
        BulkLoadError::Http { status, .. } if *status == 429 || *status >= 500 => {
            ExitClass::Unreachable
        }
        // The loader refused the request: a wrong source, role, region or format.
        BulkLoadError::Http { .. } => ExitClass::Configuration,
        // Neptune ran the load and it failed on the files' contents.
        BulkLoadError::LoadFailed { .. } => ExitClass::Data,
        _ => ExitClass::Failure,
    }
}

fn metrics(e: &metrics_sink::MetricsError) -> ExitClass {
    use metrics_sink::MetricsError;
    match e {
        MetricsError::Config { .. } | MetricsError::RecorderInstalled => ExitClass::Configuration,
        MetricsError::Service {
            retriable: true, ..
        } => ExitClass::Unreachable,
        _ => ExitClass::Failure,
    }
}

/// Only the kinds that say something about a service or a setting; anything else (a missing
/// file among them: input or setting?) is left to the caller's context.
fn io(e: &std::io::Error) -> Option<ExitClass> {
    match e.kind() {
        ErrorKind::ConnectionRefused
        | ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::NotConnected
        | ErrorKind::TimedOut
        | ErrorKind::HostUnreachable
        | ErrorKind::NetworkUnreachable => Some(ExitClass::Unreachable),
        ErrorKind::AddrInUse | ErrorKind::AddrNotAvailable | ErrorKind::PermissionDenied => {
            Some(ExitClass::Configuration)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error that only wraps another, as the SDKs' layers do.
    #[derive(Debug, thiserror::Error)]
    #[error("outer layer")]
    struct Layer(#[source] Box<dyn Error + Send + Sync>);

    #[test]
    fn each_library_error_has_its_class() {
        let missing = std::io::Error::new(ErrorKind::NotFound, "gone");
        let file =
            neptune_batch::load::VertexLoadError::Open(neptune_batch::load::csv::CsvError::Open {
                file: "persons.csv".into(),
                source: missing,
            });
        assert_eq!(classify(&file), ExitClass::Data);
        let unknown_stream = kinesis_source::ApiError::new(
            "DescribeStreamSummary",
            kinesis_source::ApiErrorKind::NotFound,
            "ResourceNotFoundException: no such stream",
        );
        assert_eq!(classify(&unknown_stream), ExitClass::Configuration);
        let refused = kinesis_source::ApiError::new(
            "DescribeStreamSummary",
            kinesis_source::ApiErrorKind::Transient,
            "cannot reach the Kinesis endpoint: Connection refused",
        );
        assert_eq!(classify(&refused), ExitClass::Unreachable);
        let bad_line = workload_gen::ReadError::BadLine {
            file: "follows.csv".into(),
            line: 3,
            reason: "4 columns".into(),
        };
        assert_eq!(classify(&bad_line), ExitClass::Data);
        let malformed = neptune_batch::GremlinError::Server {
            status: 499,
            class: neptune_batch::transport::ErrorClass::Malformed,
            exception: None,
            message: "bad".into(),
        };
        assert_eq!(classify(&malformed), ExitClass::Failure);
    }

    #[test]
    fn the_first_known_cause_decides() {
        let refused = Layer(Box::new(std::io::Error::from(ErrorKind::ConnectionRefused)));
        assert_eq!(classify(&Layer(Box::new(refused))), ExitClass::Unreachable);
        let port_taken = Layer(Box::new(std::io::Error::from(ErrorKind::AddrInUse)));
        assert_eq!(classify(&port_taken), ExitClass::Configuration);
        let unknown = Layer(Box::new(std::io::Error::from(ErrorKind::NotFound)));
        assert_eq!(classify(&unknown), ExitClass::Failure);
    }
}
