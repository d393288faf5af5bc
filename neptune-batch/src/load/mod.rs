//! Loading vertices: Neptune's Gremlin CSV format, and Neptune's bulk-loader REST API.

pub mod csv;
