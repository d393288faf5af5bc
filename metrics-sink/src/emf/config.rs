//! How an [`EmfSink`](super::EmfSink) names and sizes its documents.

use super::METADATA;
use crate::datum::Dimension;
use crate::limits::{DEFAULT_MAX_DOCUMENT_BYTES, MAX_DOCUMENT_BYTES, MIN_DOCUMENT_BYTES};
use crate::names;
use crate::naming::{check_naming, naming_setters};
use crate::ConfigError;

/// How an [`EmfSink`](super::EmfSink) names and sizes its documents. The defaults are the
/// original's namespace `aws-samples/stream-2-neptune` and one-second (high) resolution. Made
/// by [`EmfConfig::builder`] (or [`Default`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EmfConfig {
    /// The CloudWatch namespace of every metric.
    pub namespace: String,
    /// Dimensions added to every datum that does not have them already (e.g. `clusterId`).
    pub default_dimensions: Vec<Dimension>,
    /// Store every metric at one-second resolution (`StorageResolution` 1), as the original
    /// did; else as each datum asks (60 unless it asks for 1).
    pub high_resolution: bool,
    /// Largest document, in bytes of its line (without the new line):
    /// [`MIN_DOCUMENT_BYTES`]..=[`MAX_DOCUMENT_BYTES`], default
    /// [`DEFAULT_MAX_DOCUMENT_BYTES`].
    pub max_document_bytes: usize,
    /// Data points held between flushes; `record` drops (and counts) points beyond this
    /// rather than grow without bound. Default 100 000.
    pub max_pending: usize,
    /// Documents kept after a failed write, to be written by the next flush; the oldest are
    /// dropped (and counted) beyond this. Default 1000.
    pub max_retained_documents: usize,
}

impl Default for EmfConfig {
    fn default() -> Self {
        Self {
            namespace: names::NAMESPACE.to_owned(),
            default_dimensions: Vec::new(),
            high_resolution: true,
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
            max_pending: 100_000,
            max_retained_documents: 1_000,
        }
    }
}

impl EmfConfig {
    /// A builder holding the defaults.
    ///
    /// ```
    /// use metrics_sink::emf::EmfConfig;
    /// use metrics_sink::limits::MIN_DOCUMENT_BYTES;
    ///
    /// let config = EmfConfig::builder()
    ///     .cluster_id("my-cluster")
    ///     .max_document_bytes(MIN_DOCUMENT_BYTES)
    ///     .build()?;
    /// assert_eq!(config.default_dimensions[0].name, "clusterId");
    /// # Ok::<(), metrics_sink::ConfigError>(())
    /// ```
    pub fn builder() -> EmfConfigBuilder {
        EmfConfigBuilder {
            config: Self::default(),
        }
    }

    /// Checks the configuration against the format's limits (what [`build`] does; the sink
    /// checks again when it is made); the error names the field.
    ///
    /// [`build`]: EmfConfigBuilder::build
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_naming(&self.namespace, &self.default_dimensions)?;
        if let Some(d) = self.default_dimensions.iter().find(|d| d.name == METADATA) {
            return Err(ConfigError::new(
                "default_dimensions",
                format!("{:?} is the metadata member's name", d.name),
            ));
        }
        if !(MIN_DOCUMENT_BYTES..=MAX_DOCUMENT_BYTES).contains(&self.max_document_bytes) {
            return Err(ConfigError::new(
                "max_document_bytes",
                format!(
                    "{} is outside {MIN_DOCUMENT_BYTES}..={MAX_DOCUMENT_BYTES}",
                    self.max_document_bytes
                ),
            ));
        }
        if self.max_pending == 0 {
            return Err(ConfigError::new("max_pending", "must be at least 1"));
        }
        if self.max_retained_documents == 0 {
            return Err(ConfigError::new(
                "max_retained_documents",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// Builds an [`EmfConfig`]: each setter replaces one default (see the field of the same
/// name), and [`build`](Self::build) checks the result.
#[derive(Debug, Clone)]
#[must_use]
pub struct EmfConfigBuilder {
    config: EmfConfig,
}

impl EmfConfigBuilder {
    naming_setters!(EmfConfig);

    /// Sets [`EmfConfig::max_document_bytes`].
    pub fn max_document_bytes(mut self, bytes: usize) -> Self {
        self.config.max_document_bytes = bytes;
        self
    }

    /// Sets [`EmfConfig::max_pending`].
    pub fn max_pending(mut self, points: usize) -> Self {
        self.config.max_pending = points;
        self
    }

    /// Sets [`EmfConfig::max_retained_documents`].
    pub fn max_retained_documents(mut self, documents: usize) -> Self {
        self.config.max_retained_documents = documents;
        self
    }

    /// The configuration, if it is within the format's limits; else the first field that is
    /// not.
    pub fn build(self) -> Result<EmfConfig, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_configurations_are_refused_naming_the_field() {
        let field = |b: EmfConfigBuilder| b.build().unwrap_err().field;
        assert_eq!(
            field(EmfConfig::builder().namespace("AWS/Lambda")),
            "namespace"
        );
        assert_eq!(
            field(EmfConfig::builder().max_document_bytes(2 * MAX_DOCUMENT_BYTES)),
            "max_document_bytes"
        );
        assert_eq!(
            field(EmfConfig::builder().cluster_id("")),
            "default_dimensions"
        );
        assert_eq!(
            field(EmfConfig::builder().default_dimension(METADATA, "x")),
            "default_dimensions"
        );
        assert_eq!(field(EmfConfig::builder().max_pending(0)), "max_pending");
        assert!(EmfConfig::builder().build().is_ok());
    }
}
