//! What the CloudWatch and the embedded-metric-format configurations share: the namespace and
//! the dimensions added to every datum, checked alike and set by the same builder methods.

use crate::datum::{check_default_dimensions, check_namespace, Dimension};
use crate::ConfigError;

/// Checks a namespace and default dimensions against CloudWatch's rules; the error names the
/// field (`namespace` or `default_dimensions`).
pub(crate) fn check_naming(
    namespace: &str,
    default_dimensions: &[Dimension],
) -> Result<(), ConfigError> {
    check_namespace(namespace).map_err(|r| ConfigError::new("namespace", r))?;
    check_default_dimensions(default_dimensions)
        .map_err(|r| ConfigError::new("default_dimensions", r))
}

/// The builder methods of the naming fields, for a builder holding its configuration in
/// `self.config` with the fields `namespace`, `default_dimensions` and `high_resolution`.
/// `$config` is the configuration's type, which the methods' documentation links to.
macro_rules! naming_setters {
    ($config:ident) => {
        #[doc = concat!("Sets [`", stringify!($config), "::namespace`].")]
        pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
            self.config.namespace = namespace.into();
            self
        }

        /// Adds (or replaces) a dimension of
        #[doc = concat!("[`", stringify!($config), "::default_dimensions`].")]
        pub fn default_dimension(
            mut self,
            name: impl Into<String>,
            value: impl Into<String>,
        ) -> Self {
            $crate::datum::add_dimension(
                &mut self.config.default_dimensions,
                name.into(),
                value.into(),
            );
            self
        }

        /// Adds the original's `clusterId` dimension to every datum.
        pub fn cluster_id(self, cluster_id: impl Into<String>) -> Self {
            self.default_dimension($crate::names::CLUSTER_ID, cluster_id)
        }

        #[doc = concat!("Sets [`", stringify!($config), "::high_resolution`].")]
        pub fn high_resolution(mut self, high_resolution: bool) -> Self {
            self.config.high_resolution = high_resolution;
            self
        }
    };
}

pub(crate) use naming_setters;
