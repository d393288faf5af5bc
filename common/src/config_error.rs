//! The error of a setting that cannot work, shared by every configuration of the libraries.

use crate::{Classify, ErrorKind};
use std::borrow::Cow;

/// A setting that cannot work: which one, by its path from the settings checked
/// (`batch_read_size`, or `writer.pool_size` for a field of a field), and why.
///
/// Every `build()` and `validate()` of the workspace's libraries answers with this one type,
/// so a program handles a bad setting of any of them the same way; each library re-exports it
/// at its root. It is always [`ErrorKind::Usage`]: a setting stays wrong until someone
/// changes it.
///
/// ```
/// use stream2neptune_common::{Classify, ConfigError, ErrorKind};
///
/// let error = ConfigError::new("pool_size", "must be between 1 and 64").within("writer");
/// assert_eq!(error.field(), "writer.pool_size");
/// assert_eq!(error.field, "writer.pool_size");
/// assert_eq!(error.reason(), "must be between 1 and 64");
/// assert_eq!(
///     error.to_string(),
///     "invalid configuration: writer.pool_size: must be between 1 and 64"
/// );
/// assert_eq!(error.kind(), ErrorKind::Usage);
/// assert!(!error.is_retriable());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {field}: {reason}")]
#[non_exhaustive]
pub struct ConfigError {
    /// The path of the offending setting, e.g. `limits.max_values`.
    pub field: Cow<'static, str>,
    /// Why it cannot work.
    pub reason: String,
}

impl ConfigError {
    /// `field` (its path from the settings checked) cannot work, because of `reason`.
    ///
    /// The name is copied: callers pass paths they hold only for the call, not only names
    /// fixed in the code.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: Cow::Owned(field.into()),
            reason: reason.into(),
        }
    }

    /// The path of the offending setting, e.g. `adaptive.max_in_flight`.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// Why it cannot work.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The same error for settings nested in `parent` (`pool_size` becomes
    /// `writer.pool_size`).
    #[must_use]
    pub fn within(mut self, parent: &str) -> Self {
        self.field = Cow::Owned(format!("{parent}.{}", self.field));
        self
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_twice_names_the_whole_path() {
        let e = ConfigError::new("max_in_flight", "must be positive")
            .within("adaptive")
            .within("sink");
        assert_eq!(e.field(), "sink.adaptive.max_in_flight");
        assert_eq!(e.reason(), "must be positive");
        assert_eq!(
            e,
            ConfigError::new("sink.adaptive.max_in_flight", "must be positive")
        );
    }
}
