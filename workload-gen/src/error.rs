//! The configuration error, shared with the workspace's other libraries: named here for the
//! crate's modules, which import it from `crate::error`.

pub(crate) use stream2neptune_common::ConfigError;
