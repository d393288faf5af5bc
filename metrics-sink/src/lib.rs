//! Named metrics with a unit, dimensions and a timestamp, recorded without blocking the caller.
//!
//! A [`MetricsSink`] takes [`MetricDatum`]s on the hot path (`record` is synchronous, cheap and
//! never waits for the network) and ships them in batches when flushed. The names the original
//! stream-to-Neptune system published, its namespace and its dimension are in [`names`].
//!
//! # Example
//!
//! ```
//! use metrics_sink::{names, MemoryMetrics, MetricDatum, MetricsSink, Unit};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), metrics_sink::MetricsError> {
//! let sink = MemoryMetrics::new();
//! sink.record(
//!     MetricDatum::new(names::EDGES_SUBMITTED, Unit::Count, 100.0)
//!         .dimension(names::CLUSTER_ID, "my-cluster"),
//! );
//! sink.record(MetricDatum::new(names::WRITE_DURATION, Unit::Milliseconds, 42.0));
//! sink.flush().await?;
//! assert_eq!(sink.sum(names::EDGES_SUBMITTED), 100.0);
//! assert_eq!(sink.values(names::WRITE_DURATION), vec![42.0]);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod datum;
mod error;
mod memory;
pub mod names;
mod sink;

pub use datum::{Dimension, MetricDatum, Unit};
pub use error::MetricsError;
pub use memory::MemoryMetrics;
pub use sink::{FlushReport, MetricsSink};
