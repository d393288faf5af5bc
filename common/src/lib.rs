//! What the stream-2-neptune libraries share, written once: the retry delay, the kinds of
//! failure, the error of a bad setting, and a lock that survives a panicking holder.
//!
//! * [`Backoff`]: capped exponential backoff with full jitter, bounded or not. Every retry and
//!   hold in `kinesis-source`, `neptune-batch`, `workload-gen`, `metrics-sink` and
//!   `graph-ingest` uses it as it is, with its own defaults.
//! * [`ErrorKind`] and [`Classify`]: retriable, unreachable, permanent or usage. Every public
//!   error of those crates says which, so a retry loop and a program's exit status read one
//!   answer instead of matching types or messages.
//! * [`ConfigError`]: a setting that cannot work, by its path and why. Every configuration
//!   of those crates answers with it, and each re-exports it at its root.
//! * [`lock`]: a `std::sync::Mutex` lock that takes the data after a holder panicked.
//!
//! ```
//! use std::time::Duration;
//! use stream2neptune_common::{Backoff, Classify, ErrorKind};
//!
//! let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1)).with_max_retries(3);
//! let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
//! let mut retry = 0;
//! while refused.kind() == std::io::ErrorKind::ConnectionRefused
//!     && Classify::kind(&refused).is_retriable()
//! {
//!     let Some(delay) = backoff.next_delay(retry) else { break };
//!     assert!(delay <= Duration::from_secs(1));
//!     retry += 1; // tokio::time::sleep(delay).await; then try again
//! }
//! assert_eq!(retry, 3);
//! assert_eq!(Classify::kind(&refused), ErrorKind::Unreachable);
//! ```
#![warn(missing_docs)]

mod backoff;
mod config_error;
mod error_kind;
mod sync;

pub use backoff::{Backoff, BackoffError};
pub use config_error::ConfigError;
pub use error_kind::{Classify, ErrorKind};
pub use sync::lock;
