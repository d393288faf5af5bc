//! The one configuration error of the crate's configurations.

use stream2neptune_common::{Classify, ErrorKind};

/// A value of [`GeneratorConfig`](crate::generator::GeneratorConfig),
/// [`DriverConfig`](crate::driver::DriverConfig),
/// [`EdgeFileConfig`](crate::reader::EdgeFileConfig) or
/// [`WriteOptions`](crate::dataset::WriteOptions) outside its limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {field}: {reason}")]
#[non_exhaustive]
pub struct ConfigError {
    /// The field (`columns.from` for a field of a field).
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }

    /// Always false: a configuration stays invalid until it is changed (see [`Classify`]).
    pub fn is_retriable(&self) -> bool {
        self.kind().is_retriable()
    }
}

/// Settings to change: [`ErrorKind::Usage`].
impl Classify for ConfigError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Usage
    }
}
